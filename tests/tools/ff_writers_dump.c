/* Test-only driver for tests/e2e/test_writers_interop.py: builds an ff_image from a raw
 * little-endian file and writes it through the core writers, and writes header text/JSON from a
 * file of 80-character cards, so that numpy, pandas and astropy can check what we write.
 *
 *   ff_writers_dump array RAW DTYPE SHAPE NPY_OUT CSV_OUT [NTHREADS] [BENCH]
 *       DTYPE is a numpy name (int16, float32, ...); SHAPE is "4096x4096" or "7";
 *       "-" skips an output. BENCH prints the seconds each writer took to stderr.
 *   ff_writers_dump header CARDS TXT_OUT JSON_OUT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fits/header.h"
#include "core/fits/image.h"
#include "core/out/writers.h"

static int fail(const char *what, const ff_err *err)
{
    fprintf(stderr, "ff_writers_dump: %s: %s\n", what, err ? err->msg : "");
    return 1;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Writes through fn into a file, or into memory when bench is set (to time the formatting). */
static int write_out(const char *path, int bench, const char *name,
                     int (*fn)(void *, ff_sink *, ff_err *), void *arg)
{
    ff_err err = {0};
    if (strcmp(path, "-") == 0)
        return 0;
    double t0 = now();
    FILE *f = fopen(path, "wb");
    if (!f)
        return fail(path, NULL);
    ff_sink s = ff_file_sink(f);
    int rc = fn(arg, &s, &err);
    if (fclose(f) != 0 && rc == 0)
        return fail(path, NULL);
    if (rc != 0)
        return fail(name, &err);
    if (bench)
        fprintf(stderr, "%s %.3f s (to a file)\n", name, now() - t0);
    return 0;
}

typedef struct { const ff_image *img; int nthreads; } csv_arg;

/* A sink that only counts (and touches) the bytes, so that a benchmark times the formatting. */
static int count_write(void *ctx, const void *buf, size_t len, ff_err *err)
{
    (void)err;
    *(size_t *)ctx += len + (len ? ((const unsigned char *)buf)[len - 1] * 0u : 0u);
    return 0;
}

static int do_csv(void *a, ff_sink *s, ff_err *e)
{
    csv_arg *c = a;
    return ff_write_csv(c->img, s, c->nthreads, e);
}
static int do_npy(void *a, ff_sink *s, ff_err *e) { return ff_write_npy(a, s, e); }
static int do_txt(void *a, ff_sink *s, ff_err *e) { return ff_write_header_txt(a, s, e); }
static int do_json(void *a, ff_sink *s, ff_err *e) { return ff_write_header_json(a, s, e); }

static int array_mode(int argc, char **argv)
{
    static const char *names[] = {"uint8", "int8", "int16", "uint16", "int32",
                                  "uint32", "int64", "uint64", "float32", "float64"};
    ff_image img = {0};
    int found = 0;
    for (int t = 0; t < 10; t++)
        if (strcmp(argv[3], names[t]) == 0) {
            img.dtype = (ff_dtype)t;
            found = 1;
        }
    if (!found)
        return fail("unknown dtype", NULL);
    char *shape = argv[4];
    img.nelem = 1;
    for (char *tok = strtok(shape, "x"); tok; tok = strtok(NULL, "x")) {
        if (img.ndim == FF_MAX_NDIM)
            return fail("too many dimensions", NULL);
        img.shape[img.ndim++] = strtoull(tok, NULL, 10);
        img.nelem *= img.shape[img.ndim - 1];
    }
    size_t len;
    img.data = read_all(argv[2], &len);
    if (!img.data || len != img.nelem * ff_dtype_size(img.dtype))
        return fail("raw file missing or of the wrong size", NULL);
    int nthreads = argc > 7 ? atoi(argv[7]) : 1;
    int bench = argc > 8;
    csv_arg ca = {&img, nthreads};

    if (bench) { /* formatting alone, into a counting sink, best of three */
        for (int pass = 0; pass < 2; pass++) {
            double best = 1e9;
            size_t outlen = 0;
            for (int rep = 0; rep < 3; rep++) {
                size_t count = 0;
                ff_sink s = {.write = count_write, .ctx = &count};
                ff_err err;
                double t0 = now();
                int rc = pass ? ff_write_npy(&img, &s, &err) : ff_write_csv(&img, &s, nthreads, &err);
                double dt = now() - t0;
                outlen = count;
                if (rc != 0)
                    return fail("bench", &err);
                if (dt < best)
                    best = dt;
            }
            fprintf(stderr, "%s %s threads=%d: %.3f s formatting (%zu bytes)\n",
                    pass ? "npy" : "csv", argv[3], nthreads, best, outlen);
        }
    }
    int rc = write_out(argv[5], bench, "npy", do_npy, &img) ||
             write_out(argv[6], bench, "csv", do_csv, &ca);
    ff_image_free(&img);
    return rc;
}

static int header_mode(char **argv)
{
    size_t len;
    char *cards = read_all(argv[2], &len);
    if (!cards)
        return fail("cannot read the cards file", NULL);
    ff_header h;
    ff_err err;
    if (ff_header_parse(cards, len / 80, &h, &err) != 0)
        return fail("parse", &err);
    int rc = write_out(argv[3], 0, "txt", do_txt, &h) || write_out(argv[4], 0, "json", do_json, &h);
    ff_header_free(&h);
    free(cards);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 7 && strcmp(argv[1], "array") == 0)
        return array_mode(argc, argv);
    if (argc == 5 && strcmp(argv[1], "header") == 0)
        return header_mode(argv);
    fprintf(stderr, "usage: ff_writers_dump array RAW DTYPE SHAPE NPY CSV [NTHREADS] [BENCH]\n"
                    "       ff_writers_dump header CARDS TXT JSON\n");
    return 2;
}
