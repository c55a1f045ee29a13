/* Test and benchmark driver for level 1.5 (core/prep.h), until the pipeline calls it:
 *   ff_prep_tool [--ml-size N] [--missing nan|min] [--threads T] [--repeat R] [--cold]
 *                IN.fits [LEV15.fits [ML.npy [HEADER.txt]]]
 * Reads IN with the core FITS reader, registers it, writes the level-1.5 FITS, the ML array and
 * the level-1.5 header as text when those paths are given, and prints one JSON line: the result
 * (or the reason it was skipped) and wall times in seconds (registration: each of R runs; they
 * reuse one ff_prep_scratch, as a worker processing file after file would, unless --cold).
 * Exit status: 0 registered, 3 skipped (not a full-disk SDO image or bad WCS/data), 1 error. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fits/fits.h"
#include "core/prep/prep.h"
#include "core/out/writers.h"

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static int write_file(const char *path, int (*fn)(void *, ff_sink *, ff_err *), void *arg,
                      ff_err *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return ff_err_set(err, "cannot create %s", path);
    ff_sink s = ff_file_sink(f);
    int rc = fn(arg, &s, err);
    if (fclose(f) != 0 && rc == 0)
        rc = ff_err_set(err, "cannot write %s", path);
    return rc;
}

typedef struct fits_arg {
    const ff_prep *p;
    const ff_header *h;
} fits_arg;

static int do_fits(void *a, ff_sink *s, ff_err *err)
{
    fits_arg *f = a;
    return ff_prep_write_fits(f->p, f->h, s, err);
}

static int do_npy(void *a, ff_sink *s, ff_err *err)
{
    return ff_write_npy(a, s, err);
}

static int do_txt(void *a, ff_sink *s, ff_err *err)
{
    return ff_write_header_txt(a, s, err);
}

static int usage(void)
{
    fprintf(stderr, "usage: ff_prep_tool [--ml-size N] [--missing nan|min] [--threads T] "
                    "[--repeat R] [--cold] IN.fits [LEV15.fits [ML.npy [HEADER.txt]]]\n");
    return 2;
}

static int fail(const char *what, const ff_err *err)
{
    json_t *o = json_pack("{s:s, s:s}", "status", "error", "error", err->msg);
    char *t = json_dumps(o, JSON_COMPACT);
    printf("%s\n", t);
    fprintf(stderr, "ff_prep_tool: %s: %s\n", what, err->msg);
    free(t);
    json_decref(o);
    return 1;
}

int main(int argc, char **argv)
{
    int ml = FF_PREP_ML_DEFAULT, repeat = 1;
    ff_prep_opts opts = {0, 0, NULL};
    ff_prep_scratch scratch = {NULL, 0, NULL, 0};
    int cold = 0, i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--cold") == 0) {
            cold = 1;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--ml-size") == 0)
            ml = atoi(argv[++i]);
        else if (strcmp(argv[i], "--missing") == 0) {
            const char *m = argv[++i];
            if (strcmp(m, "nan") == 0)
                opts.missing_min = 0;
            else if (strcmp(m, "min") == 0)
                opts.missing_min = 1;
            else
                return usage();
        } else if (strcmp(argv[i], "--threads") == 0)
            opts.nthreads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[++i]);
        else
            return usage();
    }
    if (!cold)
        opts.scratch = &scratch;
    if (i >= argc || repeat < 1)
        return usage();
    if (!ff_prep_ml_size_ok(ml)) {
        fprintf(stderr, "ff_prep_tool: --ml-size %d does not divide %d\n", ml, FF_PREP_GRID);
        return 2;
    }
    const char *in = argv[i], *lev15 = i + 1 < argc ? argv[i + 1] : NULL;
    const char *mlpath = i + 2 < argc ? argv[i + 2] : NULL, *txt = i + 3 < argc ? argv[i + 3] : NULL;

    ff_err err = {0};
    ff_fits fits;
    double t0 = now();
    ff_fits_opts fo = {.nthreads = 2};
    if (ff_fits_read(in, &fo, &fits, &err) != 0)
        return fail("read", &err);
    double t_read = now() - t0;

    json_t *times = json_array(), *cpu = json_array();
    ff_prep p;
    int rc = FF_PREP_OK;
    for (int r = 0; r < repeat; r++) {
        if (r > 0)
            ff_prep_release(&p, opts.scratch);
        t0 = now();
        double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        rc = ff_prep_run(&fits.header, &fits.image, &opts, &p, &err);
        json_array_append_new(times, json_real(now() - t0));
        json_array_append_new(cpu, json_real(clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0));
        if (rc != FF_PREP_OK)
            break;
    }
    if (rc == FF_PREP_SKIP) {
        json_t *o = json_pack("{s:s, s:s, s:f}", "status", "skip", "reason", err.msg, "read_s",
                              t_read);
        char *t = json_dumps(o, JSON_COMPACT);
        printf("%s\n", t);
        free(t);
        json_decref(o);
        json_decref(times);
        json_decref(cpu);
        ff_fits_free(&fits);
        ff_prep_scratch_free(&scratch);
        return 3;
    }
    if (rc != FF_PREP_OK) {
        json_decref(times);
        json_decref(cpu);
        ff_fits_free(&fits);
        ff_prep_scratch_free(&scratch);
        return fail("register", &err);
    }

    ff_prep_scratch_free(&scratch);
    t0 = now();
    ff_image mlimg;
    if (ff_prep_ml(&p, ml, opts.nthreads, &mlimg, &err) != 0)
        return fail("ml", &err);
    double t_ml = now() - t0;

    t0 = now();
    fits_arg fa = {&p, &fits.header};
    if (lev15 && write_file(lev15, do_fits, &fa, &err) != 0)
        return fail("write level 1.5", &err);
    if (mlpath && write_file(mlpath, do_npy, &mlimg, &err) != 0)
        return fail("write ML array", &err);
    if (txt) {
        ff_header h15;
        if (ff_prep_header(&p, &fits.header, &h15, &err) != 0)
            return fail("header", &err);
        int w = write_file(txt, do_txt, &h15, &err);
        ff_header_free(&h15);
        if (w != 0)
            return fail("write header", &err);
    }
    double t_write = now() - t0;

    json_t *o = json_pack(
        "{s:s, s:[i,i], s:[f,f], s:[f,f], s:f, s:f, s:f, s:f, s:o, s:b, s:s, s:s, s:f, s:o, s:o, "
        "s:f, s:f}",
        "status", "ok", "shape", (int)p.image.shape[0], (int)p.image.shape[1], "crpix", p.crpix[0],
        p.crpix[1], "crval", p.crval[0], p.crval[1], "cdelt", p.cdelt, "rsun_px", p.rsun_px,
        "scale", p.geom.scale, "roll_deg", p.geom.roll_deg, "exptime", isfinite(p.geom.exptime) ? json_real(p.geom.exptime) : json_null(),
        "normalised", p.normalised, "norm_reason", p.norm_reason, "instrument",
        p.geom.inst == FF_PREP_AIA ? "AIA" : "HMI", "read_s", t_read, "register_s", times, "register_cpu_s", cpu, "ml_s",
        t_ml, "write_s", t_write);
    char *t = json_dumps(o, JSON_COMPACT);
    printf("%s\n", t);
    free(t);
    json_decref(o);
    ff_image_free(&mlimg);
    ff_prep_free(&p);
    ff_fits_free(&fits);
    ff_prep_scratch_free(&scratch);
    return 0;
}
