/* Shared bits of the libFuzzer harnesses: a per-process scratch file that inputs are written to
 * (the FITS reader takes a path), and a NUL-terminated copy of an input. */
#ifndef FF_FUZZ_UTIL_H
#define FF_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_path[256];
static void fuzz_remove_file(void);

/* Writes data to this process's scratch file; returns its path, or NULL. */
__attribute__((unused)) static const char *fuzz_write_file(const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(fuzz_path, sizeof fuzz_path, "%s/ff-fuzz-%ld.fits", dir && *dir ? dir : "/tmp",
                 (long)getpid());
        atexit(fuzz_remove_file);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f)
        return NULL;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return NULL;
    }
    if (fclose(f) != 0)
        return NULL;
    return fuzz_path;
}

__attribute__((unused)) static void fuzz_remove_file(void)
{
    if (fuzz_path[0])
        unlink(fuzz_path);
}

__attribute__((unused)) static char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
