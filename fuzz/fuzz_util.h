/* Shared bits of the libFuzzer harnesses: a per-process scratch file that inputs are written to
 * (the FITS reader takes a path), a NUL-terminated copy of an input, and buffers that end at a
 * PROT_NONE page (CFITSIO is not instrumented: a read or write past such a buffer faults at once
 * instead of going unseen). */
#ifndef FF_FUZZ_UTIL_H
#define FF_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* A buffer of cap bytes (rounded up to whole pages) followed by a PROT_NONE page. */
typedef struct fuzz_guard {
    unsigned char *base;
    size_t cap;
} fuzz_guard;

__attribute__((unused)) static void fuzz_guard_init(fuzz_guard *g, size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    g->cap = (cap + page - 1) / page * page;
    unsigned char *r = mmap(NULL, g->cap + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    if (r == MAP_FAILED || mprotect(r + g->cap, page, PROT_NONE) != 0)
        abort();
    g->base = r;
}

/* The last n bytes before the guard page (n <= cap). */
__attribute__((unused)) static unsigned char *fuzz_guard_tail(fuzz_guard *g, size_t n)
{
    if (n > g->cap)
        abort();
    return g->base + g->cap - n;
}

/* A refusal must say something, in one line. */
__attribute__((unused)) static void fuzz_check_reason(const char *msg)
{
    if (!msg[0] || strchr(msg, '\n'))
        abort();
}

#endif
