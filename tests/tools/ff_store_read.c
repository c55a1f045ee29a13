/* Test-only driver of the streaming reader on the store the environment names
 * (ff_store_open_configured), for the e2e tests that check it against botocore:
 *
 *   ff_store_read KEY OFFSET LEN|- CHUNK [PAUSE_US]
 *
 * writes the bytes to stdout, CHUNK per read (sleeping PAUSE_US between reads, a slow consumer),
 * and to stderr "stat SIZE MTIME ETAG" after the open and "maxrss KIB" (peak resident memory) at the end.
 * Exit: 0 done, 1 absent, 2 error (reason on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "base/settings.h"

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: ff_store_read KEY OFFSET LEN|- CHUNK [PAUSE_US]\n");
        return 2;
    }
    ff_err err = {0};
    char fsdir[512];
    snprintf(fsdir, sizeof fsdir, "%s/ff_store_read_fs", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ff_settings settings;
    ff_store *s = ff_settings_load(&settings, FF_USE_ALL, &err) == 0
                      ? ff_store_open_configured(&settings, fsdir, &err)
                      : NULL;
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    uint64_t off = strtoull(argv[2], NULL, 10);
    uint64_t len = strcmp(argv[3], "-") ? strtoull(argv[3], NULL, 10) : FF_STORE_TO_END;
    size_t chunk = strtoul(argv[4], NULL, 10);
    unsigned pause_us = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 0;
    char *buf = malloc(chunk ? chunk : 1);
    ff_store_stat st;
    ff_store_reader *r = NULL;
    int rc = buf ? ff_store_reader_open(s, argv[1], off, len, &st, &r, &err) : -1;
    if (rc == 0) {
        fprintf(stderr, "stat %llu %lld %s\n", (unsigned long long)st.size, (long long)st.mtime, st.etag);
        size_t got;
        while ((rc = ff_store_reader_read(r, buf, chunk, &got, &err)) == 0 && got) {
            if (fwrite(buf, 1, got, stdout) != got) {
                rc = ff_err_set(&err, "cannot write to stdout");
                break;
            }
            if (pause_us)
                usleep(pause_us);
        }
        if (rc == 0 && ff_store_reader_left(r) != 0)
            rc = ff_err_set(&err, "reader stopped with bytes left");
        ff_store_reader_close(r);
    }
    free(buf);
    ff_store_close(s);
    fflush(stdout);
    /* Peak RSS of this program (VmHWM: unlike ru_maxrss it does not carry the parent's peak
     * over exec). */
    long hwm = -1;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            hwm = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    fprintf(stderr, "maxrss %ld\n", hwm);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    return rc == 0 ? 0 : rc == 1 ? 1 : 2;
}
