/* Level 1.5 (core/prep.h): the cubic B-spline pieces against values scipy.ndimage computes, the
 * registration on small synthetic images whose answer is known exactly (identity, 90 and 180
 * degree turns sample the spline at its knots), the WCS forms agreeing, every bad input the
 * issue lists being refused with a reason, the exposure rule, the level-1.5 header and FITS, the
 * ML binning, and hostile headers that must never crash or put NaN into a header. The equality
 * with sunpy itself is tests/e2e/test_prep_sunpy.py. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fits/fits.h"
#include "core/prep/prep.h"
#include "core/prep/prep_spline.h"

/* |a - b| <= tol (this cmocka has no floating-point assertions); NaN never passes. */
#define assert_near(a, b, tol)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b), t_ = (tol);                                                     \
        if (!(fabs(a_ - b_) <= t_))                                                                \
            fail_msg("%s = %.17g, expected %.17g (tolerance %g)", #a, a_, b_, t_);                 \
    } while (0)

/* ---- spline pieces ---- */

/* scipy.ndimage.spline_filter1d([1, 2, 0, 5, 3, -1, 4], order=3, mode='mirror') (scipy 1.10). */
static void test_prefilter_known(void **state)
{
    (void)state;
    double c[] = {1, 2, 0, 5, 3, -1, 4};
    const double want[] = {-0.39358974358974347, 3.7871794871794875, -2.7551282051282056,
                           7.2333333333333343,   3.821794871794872,  -4.5205128205128204,
                           8.2602564102564102};
    ff_spline_prefilter(c, 7);
    for (int i = 0; i < 7; i++)
        assert_near(c[i], want[i], 1e-14);
    /* Two samples: spline_filter1d([3, -2]) = [8, -7]; one sample stays as it is. */
    double two[] = {3, -2}, one[] = {5};
    ff_spline_prefilter(two, 2);
    assert_near(two[0], 8, 1e-14);
    assert_near(two[1], -7, 1e-14);
    ff_spline_prefilter(one, 1);
    assert_near(one[0], 5, 0);
}

/* A 1-D spline value the way affine_transform takes it: weights times mirrored coefficients. */
static double eval1(const double *c, long n, double x)
{
    double w[4];
    ff_spline_weights(x, w);
    long s = (long)floor(x) - 1;
    double v = 0;
    for (int a = 0; a < 4; a++)
        v += w[a] * c[ff_spline_mirror(s + a, n)];
    return v;
}

/* scipy.ndimage.map_coordinates(a, [[x]], order=3, mode='constant') for the same a. */
static void test_interpolation_known(void **state)
{
    (void)state;
    double c[] = {1, 2, 0, 5, 3, -1, 4};
    ff_spline_prefilter(c, 7);
    assert_near(eval1(c, 7, 2.25), 0.86941105769230831, 1e-13);
    assert_near(eval1(c, 7, 0.6), 1.8180307692307693, 1e-13);
    assert_near(eval1(c, 7, 5.9), 3.8799730769230778, 1e-13);
    /* At the knots the spline passes through the samples. */
    const double a[] = {1, 2, 0, 5, 3, -1, 4};
    for (int i = 0; i < 7; i++)
        assert_near(eval1(c, 7, i), a[i], 1e-13);
}

/* 2-D: scipy.ndimage.spline_filter(arange(12).reshape(3, 4) ** 1.5, 3, mode='mirror') and
 * map_coordinates at (row 1.3, column 2.7). */
static void test_prefilter_2d_known(void **state)
{
    (void)state;
    float b[12]; /* the image filters store float32 and compute in double */
    for (int i = 0; i < 12; i++)
        b[i] = (float)pow(i, 1.5);
    const double want[] = {-2.0304496117242556, -2.968538028074351,  -2.177437600972028,
                           0.62930740412874631, 2.4844104387041366,  9.0900536256374505,
                           11.319453708733437,  18.641781840527667,  28.789902346651282,
                           37.21413454603745,   40.271520144205255,  49.799949141746325};
    /* Columns first, then rows, as scipy's axis order; the row-block and column-block forms
     * must agree with the single-line one. */
    ff_spline_prefilter_lines(b, 3, 4, 4);
    ff_spline_prefilter_rows(b, 4, 4, 3);
    for (int i = 0; i < 12; i++)
        assert_near(b[i], want[i], 1e-6 * (1 + fabs(want[i])));
    double wy[4], wx[4], v = 0;
    ff_spline_weights(1.3, wy);
    ff_spline_weights(2.7, wx);
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++)
            v += wy[r] * wx[q] * b[ff_spline_mirror(r, 3) * 4 + ff_spline_mirror(1 + q, 4)];
    assert_near(v, 25.239415789606451, 1e-6 * 25.24);
}

static void forms_agree(int N, int L)
{
    double *a = malloc(sizeof(double) * (size_t)(N * L));
    float *b = malloc(sizeof(float) * (size_t)(N * L)), *t = malloc(sizeof(float) * (size_t)(N * L));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(t);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N * L; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        a[i] = (double)(x % 20001) / 100.0 - 100.0;
    }
    for (int i = 0; i < N * L; i++)
        b[i] = (float)a[i];
    for (int r = 0; r < L; r++)
        for (int i = 0; i < N; i++)
            t[i * L + r] = (float)a[r * N + i];
    /* L lines of N one by one, all at once side by side, and interleaved (transposed) */
    for (int r = 0; r < L; r++)
        ff_spline_prefilter(a + r * N, (size_t)N);
    ff_spline_prefilter_rows(b, (size_t)N, (size_t)N, (size_t)L);
    ff_spline_prefilter_lines(t, (size_t)N, (size_t)L, (size_t)L);
    /* float32 between the passes: within 5e-7 of the data's range (200) of the double filter,
     * and the two float forms (vector lanes, single lines) bit for bit alike */
    for (int r = 0; r < L; r++)
        for (int i = 0; i < N; i++) {
            assert_near(a[r * N + i], b[r * N + i], 200 * 5e-7);
            assert_memory_equal(&b[r * N + i], &t[i * L + r], sizeof(float));
        }
    free(a);
    free(b);
    free(t);
}

/* Counts of lines that take the scalar form (11), the vector form (12, 36: several vectors) and
 * both (13). */
static void test_prefilter_forms_agree(void **state)
{
    (void)state;
    forms_agree(300, 11);
    forms_agree(300, 12);
    forms_agree(97, 36);
    forms_agree(2, 13);
    forms_agree(1, 8);
}

static void test_weights_and_mirror(void **state)
{
    (void)state;
    double w[4];
    ff_spline_weights(3.0, w);
    assert_near(w[0], 1.0 / 6, 1e-15);
    assert_near(w[1], 4.0 / 6, 1e-15);
    assert_near(w[2], 1.0 / 6, 1e-15);
    assert_near(w[3], 0, 1e-15);
    ff_spline_weights(-1.5, w);
    assert_near(w[0], 1.0 / 48, 1e-15);
    assert_near(w[1], 23.0 / 48, 1e-15);
    assert_near(w[2], 23.0 / 48, 1e-15);
    assert_near(w[3], 1.0 / 48, 1e-15);
    for (double x = 0; x < 1; x += 0.0625) {
        ff_spline_weights(x, w);
        assert_near(w[0] + w[1] + w[2] + w[3], 1, 1e-15);
    }
    assert_int_equal(ff_spline_mirror(-1, 5), 1);
    assert_int_equal(ff_spline_mirror(-3, 5), 3);
    assert_int_equal(ff_spline_mirror(5, 5), 3);
    assert_int_equal(ff_spline_mirror(6, 5), 2);
    assert_int_equal(ff_spline_mirror(8, 5), 0);
    assert_int_equal(ff_spline_mirror(9, 5), 1);
    assert_int_equal(ff_spline_mirror(2, 5), 2);
    assert_int_equal(ff_spline_mirror(-7, 1), 0);
}

/* ---- synthetic SDO images ---- */

#define MAXCARDS 64
typedef struct hdr {
    char key[MAXCARDS][16];
    char val[MAXCARDS][72];
    int n;
} hdr;

static void hset(hdr *h, const char *key, const char *val)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->key[i], key) == 0) {
            snprintf(h->val[i], sizeof h->val[i], "%s", val);
            return;
        }
    assert_true(h->n < MAXCARDS);
    snprintf(h->key[h->n], sizeof h->key[0], "%s", key);
    snprintf(h->val[h->n], sizeof h->val[0], "%s", val);
    h->n++;
}

static void hsetf(hdr *h, const char *key, double v)
{
    char b[40];
    snprintf(b, sizeof b, "%.17g", v);
    if (!strpbrk(b, ".eEn"))
        strcat(b, ".0");
    hset(h, key, b);
}

static void hdel(hdr *h, const char *key)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->key[i], key) == 0) {
            memmove(&h->key[i], &h->key[i + 1], sizeof h->key[0] * (size_t)(h->n - i - 1));
            memmove(&h->val[i], &h->val[i + 1], sizeof h->val[0] * (size_t)(h->n - i - 1));
            h->n--;
            return;
        }
}

static void hbuild(const hdr *h, ff_header *out)
{
    char *buf = malloc((size_t)h->n * 80 + 1);
    assert_non_null(buf);
    for (int i = 0; i < h->n; i++) {
        char card[96];
        snprintf(card, sizeof card, "%-8s= %20s", h->key[i], h->val[i]);
        memset(buf + i * 80, ' ', 80);
        memcpy(buf + i * 80, card, strlen(card) < 80 ? strlen(card) : 80);
    }
    ff_err err;
    assert_int_equal(ff_header_parse(buf, (size_t)h->n, out, &err), 0);
    free(buf);
}

/* A 128x128 AIA image binned 32x: CDELT 19.2"/px is exactly 32 * 0.6, so the target scale is
 * 19.2 and the scale factor 1; the Sun (970" = 50.5 px) is centred at CRPIX 64.5. */
static void aia_hdr(hdr *h, int n)
{
    memset(h, 0, sizeof *h);
    hset(h, "SIMPLE", "T");
    hset(h, "BITPIX", "-32");
    hset(h, "NAXIS", "2");
    char b[32];
    snprintf(b, sizeof b, "%d", n);
    hset(h, "NAXIS1", b);
    hset(h, "NAXIS2", b);
    hset(h, "TELESCOP", "'SDO/AIA '");
    hset(h, "INSTRUME", "'AIA_3   '");
    hset(h, "WAVELNTH", "171");
    hset(h, "CTYPE1", "'HPLN-TAN'");
    hset(h, "CTYPE2", "'HPLT-TAN'");
    hset(h, "CUNIT1", "'arcsec'");
    hset(h, "CUNIT2", "'arcsec'");
    hsetf(h, "CDELT1", 19.2 * 128 / n);
    hsetf(h, "CDELT2", 19.2 * 128 / n);
    hsetf(h, "CRPIX1", (n + 1) / 2.0);
    hsetf(h, "CRPIX2", (n + 1) / 2.0);
    hset(h, "CRVAL1", "0.0");
    hset(h, "CRVAL2", "0.0");
    hset(h, "CROTA2", "0.0");
    hset(h, "RSUN_OBS", "970.0");
    hset(h, "EXPTIME", "2.0");
    hset(h, "LVL_NUM", "1.0");
}

static ff_image make_image(int n, uint64_t seed)
{
    ff_image img = {FF_F32, 2, {(size_t)n, (size_t)n, 0}, (size_t)n * (size_t)n, NULL};
    float *d = malloc(sizeof(float) * img.nelem);
    assert_non_null(d);
    uint64_t x = seed | 1;
    for (size_t i = 0; i < img.nelem; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        d[i] = (float)(x % 100000) / 10.0f + 5.0f;
    }
    img.data = d;
    return img;
}

static int run(const hdr *h, const ff_image *img, int nthreads, ff_prep *out, ff_err *err)
{
    ff_header fh;
    hbuild(h, &fh);
    ff_prep_opts o = {nthreads, 0, NULL};
    int rc = ff_prep_run(&fh, img, &o, out, err);
    ff_header_free(&fh);
    return rc;
}

static void test_identity(void **state)
{
    (void)state;
    hdr h;
    aia_hdr(&h, 128);
    ff_image img = make_image(128, 7);
    ff_prep p;
    ff_err err = {0};
    assert_int_equal(run(&h, &img, 2, &p, &err), FF_PREP_OK);
    assert_int_equal(p.image.shape[0], 128);
    assert_int_equal(p.image.shape[1], 128);
    assert_near(p.geom.scale, 1.0, 0);
    assert_near(p.cdelt, 19.2, 1e-12);
    assert_near(p.crpix[0], 64.5, 0);
    assert_near(p.crpix[1], 64.5, 0);
    assert_true(p.normalised);
    const float *in = img.data, *out = p.image.data;
    /* float32 coefficients: within 5e-7 of the range (make_image: 5 .. 10005, halved) */
    for (size_t i = 0; i < img.nelem; i++)
        assert_near(out[i], in[i] / 2.0f, 5000 * 5e-7);
    ff_prep_free(&p);
    ff_image_free(&img);
}

static void test_turns(void **state)
{
    (void)state;
    hdr h;
    aia_hdr(&h, 128);
    ff_image img = make_image(128, 11);
    const float *in = img.data;
    ff_prep p;
    ff_err err = {0};
    /* CROTA2 = 180: out[y][x] = in[127 - y][127 - x]. */
    hset(&h, "CROTA2", "180.0");
    assert_int_equal(run(&h, &img, 2, &p, &err), FF_PREP_OK);
    const float *o = p.image.data;
    for (int y = 0; y < 128; y++)
        for (int x = 0; x < 128; x++) {
            float want = in[(127 - y) * 128 + (127 - x)] / 2.0f;
            assert_near(o[y * 128 + x], want, 5000 * 5e-7);
        }
    ff_prep_free(&p);
    /* CROTA2 = 90: out[y][x] = in[127 - x][y]. */
    hset(&h, "CROTA2", "90.0");
    assert_int_equal(run(&h, &img, 3, &p, &err), FF_PREP_OK);
    o = p.image.data;
    for (int y = 0; y < 128; y++)
        for (int x = 0; x < 128; x++) {
            float want = in[(127 - x) * 128 + y] / 2.0f;
            assert_near(o[y * 128 + x], want, 5000 * 5e-7);
        }
    assert_near(p.geom.roll_deg, 90, 1e-12);
    ff_prep_free(&p);
    ff_image_free(&img);
}

/* CROTA2, PCi_j and CDi_j describing one roll give one result; neither form means no roll. */
static void test_forms_agree(void **state)
{
    (void)state;
    const double deg = 23.0, r = deg * M_PI / 180, cd = 19.2;
    ff_image img = make_image(128, 5);
    hdr h;
    ff_prep a, b, c, d, e;
    ff_err err = {0};
    aia_hdr(&h, 128);
    hsetf(&h, "CROTA2", deg);
    assert_int_equal(run(&h, &img, 2, &a, &err), FF_PREP_OK);
    hdel(&h, "CROTA2");
    hsetf(&h, "PC1_1", cos(r));
    hsetf(&h, "PC1_2", -sin(r));
    hsetf(&h, "PC2_1", sin(r));
    hsetf(&h, "PC2_2", cos(r));
    assert_int_equal(run(&h, &img, 2, &b, &err), FF_PREP_OK);
    hdel(&h, "PC1_1");
    hdel(&h, "PC1_2");
    hdel(&h, "PC2_1");
    hdel(&h, "PC2_2");
    hdel(&h, "CDELT1");
    hdel(&h, "CDELT2");
    hsetf(&h, "CD1_1", cd * cos(r));
    hsetf(&h, "CD1_2", -cd * sin(r));
    hsetf(&h, "CD2_1", cd * sin(r));
    hsetf(&h, "CD2_2", cd * cos(r));
    assert_int_equal(run(&h, &img, 2, &c, &err), FF_PREP_OK);
    /* CROTA2 next to an agreeing PC matrix is fine too. */
    aia_hdr(&h, 128);
    hsetf(&h, "CROTA2", deg);
    hsetf(&h, "PC1_1", cos(r));
    hsetf(&h, "PC1_2", -sin(r));
    hsetf(&h, "PC2_1", sin(r));
    hsetf(&h, "PC2_2", cos(r));
    assert_int_equal(run(&h, &img, 1, &d, &err), FF_PREP_OK);
    const float *fa = a.image.data, *fb = b.image.data, *fc = c.image.data, *fd = d.image.data;
    assert_int_equal(a.image.nelem, b.image.nelem);
    assert_int_equal(a.image.nelem, c.image.nelem);
    size_t finite = 0;
    for (size_t i = 0; i < a.image.nelem; i++) {
        assert_int_equal(isnan(fa[i]), isnan(fb[i]));
        assert_int_equal(isnan(fa[i]), isnan(fc[i]));
        assert_int_equal(isnan(fa[i]), isnan(fd[i]));
        if (!isnan(fa[i])) {
            finite++;
            assert_near(fa[i], fb[i], 1e-4f * fabsf(fa[i]) + 1e-3f);
            assert_near(fa[i], fc[i], 1e-4f * fabsf(fa[i]) + 1e-3f);
            assert_near(fa[i], fd[i], 1e-4f * fabsf(fa[i]) + 1e-3f);
        }
    }
    assert_true(finite > a.image.nelem / 2);
    /* Neither CROTA2 nor PC nor CD: no roll, as sunpy assumes. */
    aia_hdr(&h, 128);
    hdel(&h, "CROTA2");
    assert_int_equal(run(&h, &img, 2, &e, &err), FF_PREP_OK);
    assert_near(e.geom.roll_deg, 0, 0);
    ff_prep_free(&a);
    ff_prep_free(&b);
    ff_prep_free(&c);
    ff_prep_free(&d);
    ff_prep_free(&e);
    ff_image_free(&img);
}

static void test_threads_do_not_change_results(void **state)
{
    (void)state;
    hdr h;
    aia_hdr(&h, 256);
    hset(&h, "CROTA2", "37.5");
    ff_image img = make_image(256, 3);
    ff_prep a, b;
    ff_err err = {0};
    assert_int_equal(run(&h, &img, 1, &a, &err), FF_PREP_OK);
    assert_int_equal(run(&h, &img, 5, &b, &err), FF_PREP_OK);
    assert_int_equal(a.image.nelem, b.image.nelem);
    assert_memory_equal(a.image.data, b.image.data, a.image.nelem * sizeof(float));
    ff_prep_free(&a);
    ff_prep_free(&b);
    ff_image_free(&img);
}

/* A scratch kept between calls of different sizes changes nothing. */
static void test_scratch_reuse(void **state)
{
    (void)state;
    ff_prep_scratch sc = {NULL, 0, NULL, 0};
    const int sides[] = {128, 256, 128, 256};
    for (int k = 0; k < 4; k++) {
        hdr h;
        aia_hdr(&h, sides[k]);
        hset(&h, "CROTA2", k % 2 ? "33.0" : "1.5");
        ff_image img = make_image(sides[k], 20 + (uint64_t)k);
        ff_header fh;
        hbuild(&h, &fh);
        ff_prep a, b;
        ff_err err = {0};
        ff_prep_opts with = {2, 0, &sc}, without = {2, 0, NULL};
        assert_int_equal(ff_prep_run(&fh, &img, &with, &a, &err), FF_PREP_OK);
        assert_int_equal(ff_prep_run(&fh, &img, &without, &b, &err), FF_PREP_OK);
        assert_int_equal(a.image.nelem, b.image.nelem);
        assert_memory_equal(a.image.data, b.image.data, a.image.nelem * sizeof(float));
        assert_non_null(sc.buf);
        ff_prep_release(&a, &sc); /* its image serves the next run */
        assert_null(a.image.data);
        assert_non_null(sc.out);
        ff_prep_free(&b);
        ff_header_free(&fh);
        ff_image_free(&img);
    }
    ff_prep_scratch_free(&sc);
    assert_null(sc.buf);
}

/* ---- bad input: a reason, never a crash ---- */

static void expect_skip(const hdr *h, const ff_image *img, const char *words)
{
    ff_prep p;
    ff_err err = {0};
    int rc = run(h, img, 2, &p, &err);
    if (rc != FF_PREP_SKIP)
        fail_msg("expected a skip mentioning '%s', got %d (%s)", words, rc, err.msg);
    if (!strstr(err.msg, words))
        fail_msg("reason '%s' does not mention '%s'", err.msg, words);
    assert_null(strchr(err.msg, '\n'));
    assert_null(p.image.data);
}

static void test_bad_wcs(void **state)
{
    (void)state;
    ff_image img = make_image(128, 9);
    hdr h;
    const double r = 10 * M_PI / 180;
    aia_hdr(&h, 128);
    hsetf(&h, "PC1_1", cos(r));
    hsetf(&h, "PC1_2", -sin(r));
    hsetf(&h, "PC2_1", sin(r));
    hsetf(&h, "PC2_2", cos(r));
    hset(&h, "CROTA2", "0.0");
    expect_skip(&h, &img, "contradictory");

    aia_hdr(&h, 128);
    hset(&h, "CDELT1", "'NaN'");
    expect_skip(&h, &img, "CDELT1 is not a finite number");
    aia_hdr(&h, 128);
    hset(&h, "CDELT2", "NaN");
    expect_skip(&h, &img, "CDELT2");
    aia_hdr(&h, 128);
    hset(&h, "CROTA2", "'nan'");
    expect_skip(&h, &img, "CROTA2 is not a finite number");
    aia_hdr(&h, 128);
    hset(&h, "CDELT1", "0.0");
    hset(&h, "CDELT2", "0.0");
    expect_skip(&h, &img, "");
    aia_hdr(&h, 128);
    hset(&h, "CDELT1", "-19.2");
    expect_skip(&h, &img, "negative");
    aia_hdr(&h, 128);
    hset(&h, "CDELT2", "20.0");
    expect_skip(&h, &img, "not square");
    aia_hdr(&h, 128);
    hset(&h, "CRPIX1", "1000000.0");
    expect_skip(&h, &img, "off the");
    aia_hdr(&h, 128);
    hset(&h, "CRPIX2", "-4.0");
    expect_skip(&h, &img, "off the");
    aia_hdr(&h, 128);
    hdel(&h, "CRPIX1");
    expect_skip(&h, &img, "CRPIX1/CRPIX2 missing");
    aia_hdr(&h, 128);
    hdel(&h, "CDELT1");
    hdel(&h, "CDELT2");
    expect_skip(&h, &img, "no plate scale");
    aia_hdr(&h, 128);
    hset(&h, "CTYPE1", "'RA---TAN'");
    hset(&h, "CTYPE2", "'DEC--TAN'");
    expect_skip(&h, &img, "HPLN/HPLT");
    aia_hdr(&h, 128);
    hset(&h, "PC1_1", "1.0");
    hset(&h, "PC1_2", "0.3");
    hset(&h, "PC2_1", "0.0");
    hset(&h, "PC2_2", "1.0");
    hdel(&h, "CROTA2");
    expect_skip(&h, &img, "not a pure rotation");
    aia_hdr(&h, 128);
    hset(&h, "CUNIT1", "'furlong'");
    expect_skip(&h, &img, "");
    aia_hdr(&h, 128);
    hset(&h, "CRPIX1", "20.0");
    expect_skip(&h, &img, "not wholly inside");
    aia_hdr(&h, 128);
    hdel(&h, "RSUN_OBS");
    expect_skip(&h, &img, "no solar radius");
    aia_hdr(&h, 128);
    hset(&h, "RSUN_OBS", "50.0");
    expect_skip(&h, &img, "not a full-disk");
    aia_hdr(&h, 128);
    hset(&h, "CRVAL1", "1e300");
    expect_skip(&h, &img, "CRVAL1");
    aia_hdr(&h, 128);
    hset(&h, "CDELT1", "1e300");
    hset(&h, "CDELT2", "1e300");
    expect_skip(&h, &img, "");
    aia_hdr(&h, 128);
    hset(&h, "CDELT1", "1e-300");
    hset(&h, "CDELT2", "1e-300");
    expect_skip(&h, &img, "");
    aia_hdr(&h, 128);
    hset(&h, "WCSAXES", "3");
    expect_skip(&h, &img, "3 axes");
    ff_image_free(&img);
}

static void test_bad_images(void **state)
{
    (void)state;
    hdr h;
    aia_hdr(&h, 128);
    ff_image img = make_image(128, 1);
    /* not SDO; HMI synoptic */
    hset(&h, "TELESCOP", "'SOHO    '");
    hset(&h, "INSTRUME", "'EIT     '");
    expect_skip(&h, &img, "not an SDO AIA or HMI image");
    aia_hdr(&h, 128);
    hset(&h, "TELESCOP", "'SDO/HMI '");
    hset(&h, "INSTRUME", "'HMI_FRONT2'");
    hset(&h, "CONTENT", "'Carrington Synoptic Chart Of Br Field'");
    expect_skip(&h, &img, "synoptic");
    /* non-square, 3-D, 1-D, too small */
    aia_hdr(&h, 128);
    ff_image rect = img;
    rect.shape[0] = 100;
    rect.nelem = 100 * 128;
    expect_skip(&h, &rect, "not square");
    ff_image cube = img;
    cube.ndim = 3;
    cube.shape[0] = 2;
    cube.shape[1] = 64;
    cube.shape[2] = 128;
    expect_skip(&h, &cube, "3-D");
    ff_image line = img;
    line.ndim = 1;
    line.shape[0] = img.nelem;
    expect_skip(&h, &line, "1-D");
    ff_image tiny = img;
    tiny.shape[0] = tiny.shape[1] = 32;
    tiny.nelem = 32 * 32;
    aia_hdr(&h, 32);
    expect_skip(&h, &tiny, "pixels a side");
    /* all NaN; an infinity */
    aia_hdr(&h, 128);
    float *d = img.data;
    for (size_t i = 0; i < img.nelem; i++)
        d[i] = NAN;
    expect_skip(&h, &img, "no finite pixel");
    d[5] = INFINITY;
    expect_skip(&h, &img, "infinite");
    ff_image_free(&img);
    /* float64 data: finite, but one value beyond what the float32 coefficients hold */
    ff_image wide = {FF_F64, 2, {128, 128, 0}, 128 * 128, malloc(sizeof(double) * 128 * 128)};
    assert_non_null(wide.data);
    double *w = wide.data;
    for (size_t i = 0; i < wide.nelem; i++)
        w[i] = 100.0 + (double)(i % 7);
    w[77] = 1e39;
    expect_skip(&h, &wide, "beyond float32");
    ff_image_free(&wide);
}

static void test_exposure(void **state)
{
    (void)state;
    hdr h;
    ff_image img = make_image(128, 2);
    ff_prep p;
    ff_err err = {0};
    const char *cases[][2] = {{"0.0", "not positive"}, {"-1.5", "not positive"},
                              {"'fast'", "missing or not a number"}, {"1e-300", "implausible"},
                              {"1e300", "implausible"}};
    for (int i = 0; i < 5; i++) {
        aia_hdr(&h, 128);
        hset(&h, "EXPTIME", cases[i][0]);
        assert_int_equal(run(&h, &img, 2, &p, &err), FF_PREP_OK);
        assert_false(p.normalised);
        assert_non_null(strstr(p.norm_reason, cases[i][1]));
        assert_near(((float *)p.image.data)[500], ((float *)img.data)[500], 1e-3f);
        ff_prep_free(&p);
    }
    aia_hdr(&h, 128);
    hdel(&h, "EXPTIME");
    assert_int_equal(run(&h, &img, 2, &p, &err), FF_PREP_OK);
    assert_false(p.normalised);
    ff_prep_free(&p);
    aia_hdr(&h, 128);
    hset(&h, "TELESCOP", "'SDO/HMI '");
    hset(&h, "INSTRUME", "'HMI_FRONT2'");
    assert_int_equal(run(&h, &img, 2, &p, &err), FF_PREP_OK);
    assert_int_equal(p.geom.inst, FF_PREP_HMI);
    assert_false(p.normalised);
    assert_non_null(strstr(p.norm_reason, "HMI"));
    ff_prep_free(&p);
    ff_image_free(&img);
}

/* ---- level-1.5 header and FITS ---- */

static const ff_card *card(const ff_header *h, const char *key)
{
    const ff_card *c = ff_header_find(h, key);
    if (!c)
        fail_msg("no %s card", key);
    return c;
}

static void check_no_nan(const ff_header *h)
{
    for (size_t i = 0; i < h->ncards; i++)
        if (h->cards[i].kind == FF_CARD_FLOAT || h->cards[i].kind == FF_CARD_INT)
            assert_true(isfinite(h->cards[i].fval));
}

static void test_header(void **state)
{
    (void)state;
    hdr h;
    aia_hdr(&h, 128);
    hset(&h, "CROTA2", "12.0");
    hset(&h, "BLANK", "-32768");
    hset(&h, "BUNIT", "'DN'");
    hset(&h, "CHECKSUM", "'abc'");
    ff_image img = make_image(128, 4);
    ff_header src, out;
    hbuild(&h, &src);
    ff_prep p;
    ff_err err = {0};
    ff_prep_opts o = {2, 0, NULL};
    assert_int_equal(ff_prep_run(&src, &img, &o, &p, &err), FF_PREP_OK);
    assert_int_equal(ff_prep_header(&p, &src, &out, &err), 0);
    double v;
    assert_int_equal(ff_header_get_double(&out, "BITPIX", &v), 0);
    assert_near(v, -32, 0);
    assert_int_equal(ff_header_get_double(&out, "CRPIX1", &v), 0);
    assert_near(v, p.crpix[0], 1e-12);
    assert_int_equal(ff_header_get_double(&out, "CDELT2", &v), 0);
    assert_near(v, 19.2, 1e-12);
    assert_int_equal(ff_header_get_double(&out, "PC1_1", &v), 0);
    assert_near(v, 1, 0);
    assert_int_equal(ff_header_get_double(&out, "PC1_2", &v), 0);
    assert_near(v, 0, 0);
    assert_int_equal(ff_header_get_double(&out, "LVL_NUM", &v), 0);
    assert_near(v, 1.5, 0);
    assert_int_equal(ff_header_get_double(&out, "R_SUN", &v), 0);
    assert_near(v, 970.0 / 19.2, 1e-9);
    assert_int_equal(ff_header_get_double(&out, "EXPTIME", &v), 0);
    assert_near(v, 1, 0);
    char s[72];
    assert_int_equal(ff_header_get_string(&out, "BUNIT", s, sizeof s), 0);
    assert_string_equal(s, "DN/s");
    assert_null(ff_header_find(&out, "CROTA2"));
    assert_null(ff_header_find(&out, "BLANK"));
    assert_null(ff_header_find(&out, "CHECKSUM"));
    assert_string_equal(card(&out, "TELESCOP")->text, "SDO/AIA");
    int fitsflow = 0, n_lvl = 0;
    for (size_t i = 0; i < out.ncards; i++) {
        if (strcmp(out.cards[i].key, "HISTORY") == 0 && strstr(out.cards[i].text, "FitsFlow"))
            fitsflow = 1;
        n_lvl += strcmp(out.cards[i].key, "LVL_NUM") == 0;
    }
    assert_true(fitsflow);
    assert_int_equal(n_lvl, 1);
    check_no_nan(&out);
    ff_header_free(&out);

    /* The FITS file: whole 2880-byte blocks, read back by the core reader as float32. */
    char path[] = "/tmp/ff_prep_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    ff_sink sink = ff_file_sink(f);
    assert_int_equal(ff_prep_write_fits(&p, &src, &sink, &err), 0);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(size % 2880, 0);
    ff_fits back;
    assert_int_equal(ff_fits_read(path, NULL, &back, &err), 0);
    unlink(path);
    assert_int_equal(back.bitpix, -32);
    assert_int_equal(back.image.dtype, FF_F32);
    assert_int_equal(back.image.nelem, p.image.nelem);
    const float *a = p.image.data, *b = back.image.data;
    for (size_t i = 0; i < p.image.nelem; i++)
        assert_true((isnan(a[i]) && isnan(b[i])) || a[i] == b[i]);
    assert_int_equal(ff_header_get_double(&back.header, "LVL_NUM", &v), 0);
    assert_near(v, 1.5, 0);
    ff_fits_free(&back);
    ff_prep_free(&p);
    ff_header_free(&src);
    ff_image_free(&img);
}

/* ---- ML size ---- */

static void test_ml(void **state)
{
    (void)state;
    assert_true(ff_prep_ml_size_ok(512));
    assert_true(ff_prep_ml_size_ok(4096));
    assert_true(ff_prep_ml_size_ok(1));
    assert_false(ff_prep_ml_size_ok(500));
    assert_false(ff_prep_ml_size_ok(0));
    assert_false(ff_prep_ml_size_ok(-512));
    assert_false(ff_prep_ml_size_ok(8192));

    /* A 128-pixel image at 19.2"/px covers the whole grid (32 cells a pixel): a block mean of
     * 4 x 4 image pixels per output pixel at size 32. */
    hdr h;
    aia_hdr(&h, 128);
    ff_image img = make_image(128, 6);
    ff_prep p;
    ff_err err = {0};
    assert_int_equal(run(&h, &img, 2, &p, &err), FF_PREP_OK);
    ((float *)p.image.data)[0] = NAN;
    ff_image ml;
    assert_int_equal(ff_prep_ml(&p, 32, 2, &ml, &err), 0);
    assert_int_equal(ml.shape[0], 32);
    assert_int_equal(ml.dtype, FF_F32);
    const float *s = p.image.data, *m = ml.data;
    for (int by = 0; by < 32; by++)
        for (int bx = 0; bx < 32; bx++) {
            double sum = 0;
            int cnt = 0;
            for (int y = by * 4; y < by * 4 + 4; y++)
                for (int x = bx * 4; x < bx * 4 + 4; x++)
                    if (!isnan(s[y * 128 + x])) {
                        sum += s[y * 128 + x];
                        cnt++;
                    }
            assert_near(m[by * 32 + bx], (float)(sum / cnt), 1e-5f * (float)(sum / cnt));
        }
    ff_image_free(&ml);
    assert_int_equal(ff_prep_ml(&p, 300, 2, &ml, &err), -1);
    assert_non_null(strstr(err.msg, "does not divide"));

    /* A smaller image sits in the middle of the grid, NaN around it. */
    ff_prep q = p;
    q.cdelt = 0.6;
    q.image.shape[0] = q.image.shape[1] = 64; /* first 64x64 of the data: 64 cells */
    assert_int_equal(ff_prep_ml(&q, 4096, 1, &ml, &err), 0);
    m = ml.data;
    assert_true(isnan(m[0]));
    assert_true(isnan(m[2015 * 4096 + 2015]));
    assert_near(m[2016 * 4096 + 2017], s[1], 0);
    assert_true(isnan(m[2080 * 4096 + 2080]));
    ff_image_free(&ml);
    ff_prep_free(&p);
    ff_image_free(&img);
}

/* ---- hostile headers: random cards around a valid image ---- */

static void test_hostile_headers(void **state)
{
    (void)state;
    static const char *keys[] = {"CRPIX1", "CRPIX2", "CDELT1", "CDELT2", "CRVAL1", "CRVAL2",
                                 "CROTA2", "CROTA1", "PC1_1", "PC1_2", "PC2_1", "PC2_2",
                                 "CD1_1", "CD1_2", "CD2_1", "CD2_2", "CTYPE1", "CTYPE2",
                                 "CUNIT1", "CUNIT2", "WCSAXES", "NAXIS", "RSUN_OBS", "DSUN_OBS",
                                 "RSUN_REF", "EXPTIME", "TELESCOP", "INSTRUME", "PC3_3", "CRPIX9",
                                 "LONPOLE", "PV2_1", "CDELT1A", "CTYPE1A", "CONTENT"};
    static const char *vals[] = {"0.0", "-0.0", "1e308", "-1e308", "1e-308", "NaN", "'nan'",
                                 "'inf'", "64.5", "19.2", "-19.2", "180.0", "90", "1", "-1",
                                 "'HPLN-TAN'", "'HPLT-TAN'", "'RA---TAN'", "'arcsec'", "'deg'",
                                 "'SDO/AIA'", "'AIA_3'", "'SDO/HMI'", "'HMI_FRONT2'", "T", "F",
                                 "''", "'''", "(1.0, 2.0)", "1.7976931348623157e308", "99",
                                 "-2147483648", "'\x01\x7f'", "4.9e-324", "3", "970.0",
                                 "'HPLN-AZP'", "'HPLT-SIN'", "'mas'", "'rad'"};
    ff_image img = make_image(64, 12);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int ok = 0, skipped = 0;
    ff_prep_scratch scratch = {NULL, 0, NULL, 0};
    for (int iter = 0; iter < 1000; iter++) {
        hdr h;
        aia_hdr(&h, 64);
        int changes = 1 + (int)(x % 4);
        for (int c = 0; c < changes; c++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const char *k = keys[x % (sizeof keys / sizeof keys[0])];
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            if (x % 7 == 0)
                hdel(&h, k);
            else
                hset(&h, k, vals[(x >> 8) % (sizeof vals / sizeof vals[0])]);
        }
        ff_header fh;
        hbuild(&h, &fh);
        ff_prep p;
        ff_err err = {0};
        ff_prep_opts o = {2, (int)(x & 1), (x & 2) ? &scratch : NULL};
        int rc = ff_prep_run(&fh, &img, &o, &p, &err);
        assert_true(rc == FF_PREP_OK || rc == FF_PREP_SKIP);
        if (rc == FF_PREP_OK) {
            ok++;
            ff_header out;
            assert_int_equal(ff_prep_header(&p, &fh, &out, &err), 0);
            check_no_nan(&out);
            ff_header_free(&out);
            ff_image ml;
            assert_int_equal(ff_prep_ml(&p, 64, 2, &ml, &err), 0);
            ff_image_free(&ml);
            ff_prep_release(&p, o.scratch);
        } else {
            skipped++;
            assert_true(strlen(err.msg) > 0);
            assert_null(strchr(err.msg, '\n'));
        }
        ff_header_free(&fh);
    }
    assert_true(ok > 0);
    assert_true(skipped > 0);
    ff_prep_scratch_free(&scratch);
    ff_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefilter_known),
        cmocka_unit_test(test_interpolation_known),
        cmocka_unit_test(test_prefilter_2d_known),
        cmocka_unit_test(test_prefilter_forms_agree),
        cmocka_unit_test(test_weights_and_mirror),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_turns),
        cmocka_unit_test(test_forms_agree),
        cmocka_unit_test(test_threads_do_not_change_results),
        cmocka_unit_test(test_scratch_reuse),
        cmocka_unit_test(test_bad_wcs),
        cmocka_unit_test(test_bad_images),
        cmocka_unit_test(test_exposure),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_ml),
        cmocka_unit_test(test_hostile_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
