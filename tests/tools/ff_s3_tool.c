/* Test-only driver for the s3 e2e tests: every call of the store interface, on the store that
 * the environment names (ff_store_open_configured), so Python can check the results with botocore.
 *
 *   ff_s3_tool put KEY FILE [CHUNK]     streamed writer, CHUNK bytes per write (default 1 MiB)
 *   ff_s3_tool put-abort KEY FILE       writes all of FILE, then aborts
 *   ff_s3_tool get KEY MAX              object to stdout
 *   ff_s3_tool stat KEY                 "size mtime etag"
 *   ff_s3_tool list PREFIX [STOP]       "key size mtime etag" lines; STOP: stop after that many
 *   ff_s3_tool delete KEY
 *   ff_s3_tool presign KEY TYPE EXPIRES EPOCH
 * Exit: 0 done, 1 absent, 2 error (reason on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "base/settings.h"

typedef struct lister {
    long n, stop;
} lister;

static int on_key(const char *key, const ff_store_stat *st, void *ctx)
{
    lister *l = ctx;
    printf("%s %llu %lld %s\n", key, (unsigned long long)st->size, (long long)st->mtime, st->etag);
    l->n++;
    return l->stop && l->n >= l->stop ? 7 : 0;
}

static int put(ff_store *s, const char *key, const char *file, size_t chunk, int abort_it,
               ff_err *err)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return ff_err_set(err, "cannot open %s", file);
    char *buf = malloc(chunk);
    ff_store_writer *w = buf ? ff_store_writer_open(s, key, err) : NULL;
    if (!w) {
        free(buf);
        fclose(f);
        return -1;
    }
    size_t n;
    while ((n = fread(buf, 1, chunk, f)) > 0) {
        if (ff_store_writer_write(w, buf, n, err) != 0) {
            ff_store_writer_abort(w);
            free(buf);
            fclose(f);
            return -1;
        }
    }
    free(buf);
    fclose(f);
    if (abort_it) {
        ff_store_writer_abort(w);
        return 0;
    }
    return ff_store_writer_commit(w, err);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ff_s3_tool put|put-abort|get|stat|list|delete|presign ...\n");
        return 2;
    }
    ff_err err = {0};
    char fsdir[512];
    snprintf(fsdir, sizeof fsdir, "%s/ff_s3_tool_fs", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ff_settings settings;
    ff_store *s = ff_settings_load(&settings, FF_USE_ALL, &err) == 0
                      ? ff_store_open_configured(&settings, fsdir, &err)
                      : NULL;
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    const char *cmd = argv[1];
    int rc;
    if (!strcmp(cmd, "put") && argc >= 4) {
        rc = put(s, argv[2], argv[3], argc > 4 ? strtoul(argv[4], NULL, 10) : 1u << 20, 0, &err);
    } else if (!strcmp(cmd, "put-abort") && argc >= 4) {
        rc = put(s, argv[2], argv[3], 1u << 20, 1, &err);
    } else if (!strcmp(cmd, "get") && argc >= 4) {
        char *buf;
        size_t len;
        rc = ff_store_get(s, argv[2], strtoul(argv[3], NULL, 10), &buf, &len, &err);
        if (rc == 0) {
            fwrite(buf, 1, len, stdout);
            free(buf);
        }
    } else if (!strcmp(cmd, "stat")) {
        ff_store_stat st;
        rc = ff_store_stat_key(s, argv[2], &st, &err);
        if (rc == 0)
            printf("%llu %lld %s\n", (unsigned long long)st.size, (long long)st.mtime, st.etag);
    } else if (!strcmp(cmd, "list")) {
        lister l = {0, argc > 3 ? atol(argv[3]) : 0};
        rc = ff_store_list(s, argv[2], on_key, &l, &err);
        if (rc == 7)
            rc = 0;
    } else if (!strcmp(cmd, "delete")) {
        rc = ff_store_delete(s, argv[2], &err);
    } else if (!strcmp(cmd, "presign") && argc >= 6) {
        char *url = ff_store_presign_put(s, argv[2], argv[3], atoi(argv[4]),
                                         (time_t)strtoll(argv[5], NULL, 10), &err);
        rc = url ? 0 : -1;
        if (url)
            printf("%s\n", url);
        free(url);
    } else {
        fprintf(stderr, "ff_s3_tool: bad command\n");
        rc = -1;
    }
    ff_store_close(s);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    return rc == 0 ? 0 : rc == 1 ? 1 : 2;
}
