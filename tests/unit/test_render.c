/* Renders: PNGs decode with libspng at the expected size and are not blank; edge cases (all
 * missing, constant, 1x1, huge range, bad exposure, no wavelength, BLANK, cubes); north-up
 * turns checked by where marked pixels land; downsampling size and area averages; percentiles
 * against a full sort. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <spng.h>

#include "core/out/colormap.h"
#include "core/out/png.h"
#include "core/out/render.h"

typedef struct decoded {
    uint32_t w, h;
    uint8_t color_type;
    uint8_t *px;      /* G8 for gray, RGBA8 for palette images */
    int ntext;
    char keys[16][80];
    char texts[16][1024];
} decoded;

static void decode(const ff_membuf *mb, decoded *d)
{
    memset(d, 0, sizeof *d);
    spng_ctx *ctx = spng_ctx_new(0);
    assert_non_null(ctx);
    assert_int_equal(spng_set_png_buffer(ctx, mb->data, mb->len), 0);
    struct spng_ihdr ihdr;
    assert_int_equal(spng_get_ihdr(ctx, &ihdr), 0);
    assert_int_equal(ihdr.bit_depth, 8);
    d->w = ihdr.width;
    d->h = ihdr.height;
    d->color_type = ihdr.color_type;
    int fmt = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE ? SPNG_FMT_G8 : SPNG_FMT_RGBA8;
    size_t len;
    assert_int_equal(spng_decoded_image_size(ctx, fmt, &len), 0);
    d->px = malloc(len);
    assert_non_null(d->px);
    assert_int_equal(spng_decode_image(ctx, d->px, len, fmt, SPNG_DECODE_TRNS), 0);
    uint32_t n = 0;
    if (spng_get_text(ctx, NULL, &n) == 0 && n > 0) {
        assert_true(n <= 16);
        struct spng_text t[16];
        assert_int_equal(spng_get_text(ctx, t, &n), 0);
        for (uint32_t i = 0; i < n; i++) {
            snprintf(d->keys[i], sizeof d->keys[i], "%.79s", t[i].keyword);
            snprintf(d->texts[i], sizeof d->texts[i], "%.1023s", t[i].text);
        }
        d->ntext = (int)n;
    }
    spng_ctx_free(ctx);
}

static const char *text_of(const decoded *d, const char *key)
{
    for (int i = 0; i < d->ntext; i++)
        if (strcmp(d->keys[i], key) == 0)
            return d->texts[i];
    return NULL;
}

static ff_render_params params(const char *inst, const char *meas, int wl)
{
    return (ff_render_params){.instrument = inst, .measurement = meas, .wavelength = wl,
                              .exptime = NAN, .time_iso = "2011-02-15T00:00:01.340Z"};
}

static ff_image image_f64(size_t h, size_t w)
{
    ff_image img = {.dtype = FF_F64, .ndim = 2, .shape = {h, w}, .nelem = h * w};
    img.data = calloc(h * w, sizeof(double));
    assert_non_null(img.data);
    return img;
}

/* Renders both PNGs and decodes them. */
static void render_both(const ff_image *img, const ff_render_params *p, decoded *g, decoded *c,
                        char *scaling, size_t ssize)
{
    ff_membuf gm = {0}, cm = {0};
    ff_sink gs = ff_membuf_sink(&gm), cs = ff_membuf_sink(&cm);
    ff_err err = {0};
    int rc = ff_render_pngs(img, p, &gs, &cs, scaling, ssize, &err);
    if (rc != 0)
        fail_msg("render failed: %s", err.msg);
    decode(&gm, g);
    decode(&cm, c);
    ff_membuf_free(&gm);
    ff_membuf_free(&cm);
}

static int distinct_levels(const uint8_t *px, size_t n, size_t stride)
{
    int seen[256] = {0}, k = 0;
    for (size_t i = 0; i < n; i++)
        if (!seen[px[i * stride]]++)
            k++;
    return k;
}

/* A 512x512 synthetic EUV disk: limb-brightened disk, a few bright spots, NaN far off-disk. */
static ff_image synthetic_disk(size_t n)
{
    ff_image img = image_f64(n, n);
    double *v = img.data, c = (n - 1) / 2.0, R = 0.4 * n;
    for (size_t y = 0; y < n; y++)
        for (size_t x = 0; x < n; x++) {
            double r = hypot(x - c, y - c), val;
            if (r < R)
                val = 200 + 300 * pow(r / R, 4);
            else
                val = 500 * exp(-(r - R) / (0.05 * n));
            val += 3000 * exp(-(pow(x - 0.3 * n, 2) + pow(y - 0.6 * n, 2)) / (0.001 * n * n));
            val += ((x * 7919 + y * 104729) % 97) * 0.5; /* texture */
            v[y * n + x] = r > 0.49 * n * 1.41 ? NAN : val;
        }
    return img;
}

/* The gray PNG made from the colour PNG's compressed data refuses what is not an 8-bit indexed
 * PNG, and turns one into a gray PNG with the same pixels. */
static void test_gray_from_indexed(void **state)
{
    (void)state;
    ff_err err;
    ff_membuf out = {0};
    ff_sink sink = ff_membuf_sink(&out);
    static const uint8_t junk[] = "not a png at all";
    assert_int_equal(ff_png_gray_from_indexed(junk, sizeof junk, "Colour Table", "gray", &sink, &err), -1);
    uint8_t px[6] = {1, 2, 3, 4, 5, 255};
    ff_membuf g = {0}, c = {0};
    ff_sink gs = ff_membuf_sink(&g), cs = ff_membuf_sink(&c);
    assert_int_equal(ff_png_write8(px, 3, 2, NULL, NULL, 0, &gs, &err), 0);
    assert_int_equal(ff_png_gray_from_indexed(g.data, g.len, "Colour Table", "gray", &sink, &err), -1);
    ff_png_palette pal = {.n = 256};
    for (unsigned i = 0; i < 256; i++)
        pal.rgb[i][0] = pal.rgb[i][1] = pal.rgb[i][2] = (uint8_t)(255 - i);
    assert_int_equal(ff_png_write8(px, 3, 2, &pal, NULL, 0, &cs, &err), 0);
    out.len = 0;
    assert_int_equal(ff_png_gray_from_indexed(c.data, c.len, "Colour Table", "gray", &sink, &err), 0);
    /* Truncated input is refused, not read past. */
    ff_membuf t = {0};
    ff_sink ts = ff_membuf_sink(&t);
    assert_int_equal(ff_png_gray_from_indexed(c.data, c.len - 5, "Colour Table", "gray", &ts, &err), -1);
    ff_membuf_free(&t);
    ff_membuf_free(&g);
    ff_membuf_free(&c);
    ff_membuf_free(&out);
}

/* ff_png_write8's own writer (png.c) read back by libspng: gray and indexed with tRNS, sizes
 * from 1x1 to rows wider than one IDAT piece and images of many pieces, text chunks. */
static void test_png_write8_roundtrip(void **state)
{
    (void)state;
    static const uint32_t sizes[][2] = {{1, 1}, {3, 2}, {17, 5}, {4096, 70}, {300000, 2},
                                        {1000, 1000}, {33, 9000}};
    ff_png_palette pal = {.n = 256, .ntrans = 1};
    for (unsigned i = 0; i < 256; i++) {
        pal.rgb[i][0] = (uint8_t)i;
        pal.rgb[i][1] = (uint8_t)(255 - i);
        pal.rgb[i][2] = (uint8_t)(i * 7);
    }
    ff_png_text text[2] = {{"Scaling", "log, line\nbreak and \x01 control"}, {"Software", "FitsFlow"}};
    uint64_t x = 99;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint32_t w = sizes[k][0], h = sizes[k][1];
        size_t n = (size_t)w * h;
        uint8_t *px = malloc(n);
        assert_non_null(px);
        for (size_t i = 0; i < n; i++) { /* noise, with flat stretches (runs) */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            px[i] = (i / 97) % 3 == 0 ? 0 : (uint8_t)(x % 256);
        }
        for (int indexed = 0; indexed < 2; indexed++) {
            ff_membuf mb = {0};
            ff_sink sink = ff_membuf_sink(&mb);
            ff_err err = {0};
            assert_int_equal(ff_png_write8(px, w, h, indexed ? &pal : NULL, text, 2, &sink, &err), 0);
            decoded d;
            decode(&mb, &d);
            assert_int_equal(d.w, w);
            assert_int_equal(d.h, h);
            assert_int_equal(d.color_type, indexed ? SPNG_COLOR_TYPE_INDEXED : SPNG_COLOR_TYPE_GRAYSCALE);
            for (size_t i = 0; i < n; i++) {
                if (!indexed) {
                    assert_int_equal(d.px[i], px[i]);
                    continue;
                }
                const uint8_t *q = d.px + 4 * i;
                assert_int_equal(q[0], pal.rgb[px[i]][0]);
                assert_int_equal(q[1], pal.rgb[px[i]][1]);
                assert_int_equal(q[2], pal.rgb[px[i]][2]);
                assert_int_equal(q[3], px[i] == 0 ? 0 : 255);
            }
            assert_string_equal(text_of(&d, "Scaling"), "log, line\nbreak and ? control");
            assert_string_equal(text_of(&d, "Software"), "FitsFlow");
            free(d.px);
            ff_membuf_free(&mb);
        }
        free(px);
    }
}

static void test_disk_pngs(void **state)
{
    (void)state;
    ff_image img = synthetic_disk(512);
    ((double *)img.data)[0] = NAN; /* at least the corner is missing */
    ff_render_params p = params("AIA", "171", 171);
    p.exptime = 2.0;
    decoded g, c;
    char scaling[512];
    render_both(&img, &p, &g, &c, scaling, sizeof scaling);
    assert_int_equal(g.w, 512);
    assert_int_equal(g.h, 512);
    assert_int_equal(g.color_type, SPNG_COLOR_TYPE_GRAYSCALE);
    assert_int_equal(c.w, 512);
    assert_int_equal(c.h, 512);
    assert_int_equal(c.color_type, SPNG_COLOR_TYPE_INDEXED);
    assert_true(distinct_levels(g.px, 512 * 512, 1) > 100);
    /* Missing (the FITS corner (0,0) is the PNG's bottom-left) is black and transparent. */
    size_t bl = (size_t)511 * 512;
    assert_int_equal(g.px[bl], 0);
    assert_int_equal(c.px[bl * 4 + 3], 0);
    /* On the disk: opaque, and gold (R > G > B) for AIA 171. */
    size_t mid = (size_t)256 * 512 + 256;
    assert_int_equal(c.px[mid * 4 + 3], 255);
    assert_true(c.px[mid * 4] > c.px[mid * 4 + 1] && c.px[mid * 4 + 1] >= c.px[mid * 4 + 2]);
    assert_non_null(strstr(scaling, "AIA 171"));
    assert_non_null(strstr(scaling, "exposure-normalised"));
    assert_non_null(strstr(scaling, "asinh"));
    const char *keys[] = {"Instrument", "Wavelength", "Observation Time", "Scaling"};
    for (int i = 0; i < 4; i++) {
        assert_non_null(text_of(&g, keys[i]));
        assert_non_null(text_of(&c, keys[i]));
    }
    assert_string_equal(text_of(&g, "Wavelength"), "171");
    assert_string_equal(text_of(&c, "Observation Time"), "2011-02-15T00:00:01.340Z");
    assert_string_equal(text_of(&c, "Scaling"), scaling);
    free(g.px);
    free(c.px);
    ff_image_free(&img);
}

static void test_all_nan(void **state)
{
    (void)state;
    ff_image img = image_f64(7, 5);
    for (size_t i = 0; i < img.nelem; i++)
        ((double *)img.data)[i] = NAN;
    ff_render_params p = params("AIA", "193", 193);
    decoded g, c;
    char scaling[512];
    render_both(&img, &p, &g, &c, scaling, sizeof scaling);
    assert_int_equal(g.w, 5);
    assert_int_equal(g.h, 7);
    for (size_t i = 0; i < 35; i++) {
        assert_int_equal(g.px[i], 0);
        assert_int_equal(c.px[i * 4 + 3], 0);
    }
    assert_non_null(strstr(scaling, "all missing"));
    free(g.px);
    free(c.px);
    ff_image_free(&img);
}

static void test_constant_and_1x1(void **state)
{
    (void)state;
    ff_image img = image_f64(20, 30);
    for (size_t i = 0; i < img.nelem; i++)
        ((double *)img.data)[i] = 42.5;
    ff_render_params p = params("", "", 0);
    decoded g, c;
    char scaling[512];
    render_both(&img, &p, &g, &c, scaling, sizeof scaling);
    for (size_t i = 0; i < 600; i++)
        assert_int_equal(g.px[i], 128);
    assert_non_null(strstr(scaling, "constant"));
    free(g.px);
    free(c.px);
    ff_image_free(&img);

    img = image_f64(1, 1);
    ((double *)img.data)[0] = -3;
    p = params("AIA", "171", 171);
    p.png_max = 1;
    render_both(&img, &p, &g, &c, scaling, sizeof scaling);
    assert_int_equal(g.w, 1);
    assert_int_equal(g.h, 1);
    assert_int_equal(g.px[0], 128);
    assert_int_equal(c.px[3], 255);
    free(g.px);
    free(c.px);
    ff_image_free(&img);
}

static void test_huge_range_and_infinities(void **state)
{
    (void)state;
    ff_image img = image_f64(64, 64);
    double *v = img.data;
    for (size_t i = 0; i < img.nelem; i++)
        v[i] = (i % 2 ? 1 : -1) * pow(10.0, -300.0 + 600.0 * (double)i / (double)img.nelem);
    v[5] = INFINITY;
    v[6] = -INFINITY;
    v[7] = DBL_MAX;
    v[8] = -DBL_MAX;
    v[9] = 5e-324; /* denormal */
    const char *insts[] = {"AIA", "HMI", "LASCO"};
    for (int k = 0; k < 3; k++) {
        ff_render_params p = params(insts[k], "", 0);
        p.exptime = 1e-310;
        p.png_max = 30;
        decoded g, c;
        char scaling[512];
        render_both(&img, &p, &g, &c, scaling, sizeof scaling);
        assert_int_equal(g.w, 30);
        assert_true(distinct_levels(g.px, 30 * 30, 1) > 2);
        free(g.px);
        free(c.px);
    }
    /* Full resolution: the infinities are missing. */
    ff_render_params p = params("HMI", "continuum", 6173);
    decoded g, c;
    char scaling[512];
    render_both(&img, &p, &g, &c, scaling, sizeof scaling);
    assert_int_equal(g.px[63 * 64 + 5], 0);
    assert_int_equal(g.px[63 * 64 + 6], 0);
    assert_int_not_equal(g.px[63 * 64 + 7], 0);
    assert_non_null(strstr(scaling, "2 of 4096 pixels missing"));
    free(g.px);
    free(c.px);
    ff_image_free(&img);
}

static void test_exposure_and_wavelength(void **state)
{
    (void)state;
    ff_image img = synthetic_disk(64);
    double exps[] = {0.0, -1.0, NAN, INFINITY};
    for (int k = 0; k < 4; k++) {
        ff_render_params p = params("AIA", "171", 171);
        p.exptime = exps[k];
        decoded g, c;
        char scaling[512];
        render_both(&img, &p, &g, &c, scaling, sizeof scaling);
        assert_non_null(strstr(scaling, "not exposure-normalised"));
        assert_true(distinct_levels(g.px, 64 * 64, 1) > 20);
        free(g.px);
        free(c.px);
    }
    /* No wavelength: a render with the default table, and the text says so. */
    ff_render_params p = params("AIA", "", 0);
    p.exptime = 3;
    decoded g, c;
    char scaling[512];
    render_both(&img, &p, &g, &c, scaling, sizeof scaling);
    assert_non_null(strstr(scaling, "wavelength unknown"));
    assert_string_equal(text_of(&c, "Wavelength"), "unknown");
    assert_string_equal(text_of(&c, "Colour Table"), "heat");
    free(g.px);
    free(c.px);
    /* Wavelength only in the measurement. */
    p = params("AIA", "304", 0);
    render_both(&img, &p, &g, &c, scaling, sizeof scaling);
    assert_string_equal(text_of(&c, "Colour Table"), "sdoaia304");
    free(g.px);
    free(c.px);
    ff_image_free(&img);
}

static void test_blank_integer_types(void **state)
{
    (void)state;
    const ff_dtype types[] = {FF_U8, FF_I8, FF_I16, FF_U16, FF_I32, FF_U32, FF_I64, FF_U64, FF_F32};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t es = ff_dtype_size(types[t]);
        ff_image img = {.dtype = types[t], .ndim = 2, .shape = {10, 10}, .nelem = 100};
        img.data = calloc(100, es);
        assert_non_null(img.data);
        for (size_t i = 0; i < 100; i++) {
            int64_t v = i == 55 ? 7 : (int64_t)(i % 50) + 10;
            if (types[t] == FF_F32)
                ((float *)img.data)[i] = (float)v;
            else
                memcpy((char *)img.data + i * es, &v, es); /* little-endian low bytes */
        }
        ff_render_params p = params("HMI", "magnetogram", 6173);
        p.has_blank = 1;
        p.blank = 7;
        decoded g, c;
        char scaling[512];
        render_both(&img, &p, &g, &c, scaling, sizeof scaling);
        /* element 55 = FITS row 5, col 5 = PNG row 4 */
        if (types[t] == FF_F32) /* BLANK does not apply to float data */
            assert_int_not_equal(g.px[4 * 10 + 5], 0);
        else
            assert_int_equal(g.px[4 * 10 + 5], 0);
        /* magnetogram: linear about 0 over +-1500 G: value 10..59 G just above mid-gray */
        assert_true(g.px[0] >= 128 && g.px[0] <= 140);
        assert_non_null(strstr(scaling, "1500"));
        free(g.px);
        free(c.px);
        ff_image_free(&img);
    }
}

static void test_magnetogram_symmetric(void **state)
{
    (void)state;
    ff_image img = image_f64(1, 5);
    double *v = img.data;
    v[0] = -3000;
    v[1] = -1500;
    v[2] = 0;
    v[3] = 600;
    v[4] = 1500;
    ff_render_params p = params("HMI", "magnetogram", 6173);
    decoded g, c;
    render_both(&img, &p, &g, &c, NULL, 0);
    assert_int_equal(g.px[0], 1);
    assert_int_equal(g.px[1], 1);
    assert_int_equal(g.px[2], 128);
    assert_int_equal(g.px[3], 179); /* 1 + round(254 * 0.7) */
    assert_int_equal(g.px[4], 255);
    /* gray colour table for magnetograms */
    assert_int_equal(c.px[2 * 4], c.px[2 * 4 + 1]);
    assert_int_equal(c.px[2 * 4 + 1], c.px[2 * 4 + 2]);
    free(g.px);
    free(c.px);
    ff_image_free(&img);
}

static void test_cube_and_1d(void **state)
{
    (void)state;
    ff_image img = {.dtype = FF_F32, .ndim = 3, .shape = {3, 4, 6}, .nelem = 72};
    img.data = calloc(72, sizeof(float));
    for (size_t i = 0; i < 72; i++)
        ((float *)img.data)[i] = (float)(i < 24 ? i : 1000 - i);
    ff_render_params p = params("", "", 0);
    decoded g, c;
    char scaling[512];
    render_both(&img, &p, &g, &c, scaling, sizeof scaling);
    assert_int_equal(g.w, 6);
    assert_int_equal(g.h, 4);
    assert_non_null(strstr(scaling, "first of 3 planes"));
    assert_true(g.px[0] > g.px[3 * 6]); /* plane 0 grows upward */
    free(g.px);
    free(c.px);
    ff_image_free(&img);

    img = (ff_image){.dtype = FF_I16, .ndim = 1, .shape = {9}, .nelem = 9};
    img.data = calloc(9, sizeof(int16_t));
    for (int i = 0; i < 9; i++)
        ((int16_t *)img.data)[i] = (int16_t)(i * i);
    render_both(&img, &p, &g, &c, scaling, sizeof scaling);
    assert_int_equal(g.w, 9);
    assert_int_equal(g.h, 1);
    assert_true(g.px[8] > g.px[0]);
    free(g.px);
    free(c.px);
    ff_image_free(&img);
}

/* Rotation: the image seen with row 0 at the bottom, turned counter-clockwise by the multiple of
 * 90 degrees nearest CROTA2. Markers: A at bottom-left, B at bottom-right, C at top-right. */
/* Levels computed on several threads (sample, percentiles, mapping) equal those of one thread,
 * for float and integer images, every quarter turn, NaN and BLANK pixels, with and without
 * downsampling. */
static void test_threads_same_levels(void **state)
{
    (void)state;
    ff_image f = synthetic_disk(700);
    ff_image h = {.dtype = FF_I16, .ndim = 2, .shape = {600, 520}, .nelem = 600 * 520};
    h.data = malloc(h.nelem * sizeof(int16_t));
    assert_non_null(h.data);
    for (size_t i = 0; i < h.nelem; i++)
        ((int16_t *)h.data)[i] = (int16_t)((i * 7919) % 4000 - 300);
    ff_image fl = {.dtype = FF_F32, .ndim = 2, .shape = {640, 512}, .nelem = 640 * 512};
    fl.data = malloc(fl.nelem * sizeof(float));
    assert_non_null(fl.data);
    for (size_t i = 0; i < fl.nelem; i++)
        ((float *)fl.data)[i] = i % 977 == 0 ? NAN : (float)((i * 104729) % 30011) * 0.1f - 1500.0f;
    const ff_image *imgs[3] = {&f, &h, &fl};
    const char *inst[3] = {"AIA", "HMI", "HMI"}, *meas[3] = {"171", "continuum", "magnetogram"};
    for (int i = 0; i < 3; i++)
        for (int turn = 0; turn < 4; turn++)
            for (unsigned pm = 0; pm <= 300; pm += 300) {
                ff_render_params p = params(inst[i], meas[i], 0);
                p.crota2 = 90.0 * turn;
                p.png_max = pm;
                p.has_blank = i == 1;
                p.blank = 1000;
                uint8_t *a, *b;
                uint32_t wa, ha, wb, hb;
                char sa[512], sb[512];
                ff_err err;
                p.nthreads = 1;
                assert_int_equal(ff_render_levels(imgs[i], &p, &a, &wa, &ha, sa, sizeof sa, &err), 0);
                p.nthreads = 3;
                assert_int_equal(ff_render_levels(imgs[i], &p, &b, &wb, &hb, sb, sizeof sb, &err), 0);
                assert_int_equal(wa, wb);
                assert_int_equal(ha, hb);
                assert_memory_equal(a, b, (size_t)wa * ha);
                assert_string_equal(sa, sb);
                free(a);
                free(b);
            }
    free(f.data);
    free(h.data);
    free(fl.data);
}

static void test_rotation(void **state)
{
    (void)state;
    const size_t W = 6, H = 4;
    ff_image img = image_f64(H, W);
    double *v = img.data;
    for (size_t i = 0; i < W * H; i++)
        v[i] = 50;
    v[0 * W + 0] = 0;           /* A: bottom-left, darkest */
    v[0 * W + (W - 1)] = 100;   /* B: bottom-right, brightest */
    v[(H - 1) * W + (W - 1)] = NAN; /* C: top-right, missing */
    /* Where A, B, C must appear in the PNG (row, col; rows top first) for 0, 90, 180, 270. */
    struct {
        double crota2;
        size_t w, h;
        size_t a[2], b[2], c[2];
    } cases[] = {
        {0, W, H, {H - 1, 0}, {H - 1, W - 1}, {0, W - 1}},
        {0.4, W, H, {H - 1, 0}, {H - 1, W - 1}, {0, W - 1}},
        {359.7, W, H, {H - 1, 0}, {H - 1, W - 1}, {0, W - 1}},
        /* 90 ccw: bottom-left -> bottom-right, bottom-right -> top-right, top-right -> top-left */
        {90, H, W, {W - 1, H - 1}, {0, H - 1}, {0, 0}},
        {-270, H, W, {W - 1, H - 1}, {0, H - 1}, {0, 0}},
        {100, H, W, {W - 1, H - 1}, {0, H - 1}, {0, 0}},
        /* 180: bottom-left -> top-right, bottom-right -> top-left, top-right -> bottom-left */
        {179.93, W, H, {0, W - 1}, {0, 0}, {H - 1, 0}},
        {-180, W, H, {0, W - 1}, {0, 0}, {H - 1, 0}},
        /* 270 ccw: bottom-left -> top-left, bottom-right -> bottom-left, top-right -> bottom-right */
        {270, H, W, {0, 0}, {W - 1, 0}, {W - 1, H - 1}},
        {-90, H, W, {0, 0}, {W - 1, 0}, {W - 1, H - 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ff_render_params p = params("", "", 0);
        p.crota2 = cases[k].crota2;
        uint8_t *px;
        uint32_t w, h;
        char scaling[512];
        ff_err err;
        assert_int_equal(ff_render_levels(&img, &p, &px, &w, &h, scaling, sizeof scaling, &err), 0);
        assert_int_equal(w, cases[k].w);
        assert_int_equal(h, cases[k].h);
        for (size_t i = 0; i < h; i++)
            for (size_t j = 0; j < w; j++) {
                uint8_t want = 128;
                if (i == cases[k].a[0] && j == cases[k].a[1])
                    want = 1;
                if (i == cases[k].b[0] && j == cases[k].b[1])
                    want = 255;
                if (i == cases[k].c[0] && j == cases[k].c[1])
                    want = 0;
                if (px[i * w + j] != want)
                    fail_msg("CROTA2 %g: pixel (%zu,%zu) is %d, want %d", cases[k].crota2, i, j,
                             px[i * w + j], want);
            }
        if (fabs(fmod(cases[k].crota2, 360)) > 1 && fabs(fmod(cases[k].crota2, 360)) < 359)
            assert_non_null(strstr(scaling, "solar north up"));
        if (cases[k].crota2 == 100)
            assert_non_null(strstr(scaling, "not corrected"));
        free(px);
    }
    ff_image_free(&img);
}

static void test_downsample(void **state)
{
    (void)state;
    /* Size: the long side becomes png_max, the other keeps the aspect ratio. */
    ff_image img = image_f64(200, 300);
    for (size_t i = 0; i < img.nelem; i++)
        ((double *)img.data)[i] = (double)(i % 300);
    ff_render_params p = params("", "", 0);
    p.png_max = 100;
    uint8_t *px;
    uint32_t w, h;
    ff_err err;
    char scaling[512];
    assert_int_equal(ff_render_levels(&img, &p, &px, &w, &h, scaling, sizeof scaling, &err), 0);
    assert_int_equal(w, 100);
    assert_int_equal(h, 67);
    assert_non_null(strstr(scaling, "area-averaged from 300x200 to 100x67"));
    for (uint32_t j = 1; j < w; j++)
        assert_true(px[j] >= px[j - 1]); /* a ramp stays a ramp */
    free(px);
    p.png_max = 300; /* not larger than the image: unchanged */
    assert_int_equal(ff_render_levels(&img, &p, &px, &w, &h, scaling, sizeof scaling, &err), 0);
    assert_int_equal(w, 300);
    assert_int_equal(h, 200);
    free(px);
    ff_image_free(&img);

    /* Averages: 4x4 -> 2x2 blocks; missing pixels are left out of the average. */
    img = image_f64(4, 4);
    double *v = img.data;
    double vals[16] = {
        NAN, 10, 0, 0, /* row 0 (bottom) */
        10, 10, 20, 20,
        0, 0, 20, 20,
        0, 0, 20, 20, /* row 3 (top) */
    };
    memcpy(v, vals, sizeof vals);
    p.png_max = 2;
    assert_int_equal(ff_render_levels(&img, &p, &px, &w, &h, scaling, sizeof scaling, &err), 0);
    assert_int_equal(w, 2);
    assert_int_equal(h, 2);
    /* bottom-left block mean 10, bottom-right 10, top-left 0, top-right 20 */
    assert_int_equal(px[2], px[3]);
    assert_true(px[2] > 120 && px[2] < 136);
    assert_int_equal(px[0], 1);
    assert_int_equal(px[1], 255);
    free(px);

    /* A fractional factor (6 -> 4): cells straddle two outputs. */
    ff_image_free(&img);
    img = image_f64(6, 6);
    for (size_t i = 0; i < 36; i++)
        ((double *)img.data)[i] = (i % 6) < 3 ? 0 : 100;
    p.png_max = 4;
    assert_int_equal(ff_render_levels(&img, &p, &px, &w, &h, scaling, sizeof scaling, &err), 0);
    assert_int_equal(w, 4);
    assert_int_equal(h, 4);
    for (int r = 0; r < 4; r++) {
        assert_int_equal(px[r * 4 + 0], 1);
        assert_int_equal(px[r * 4 + 1], 1);
        assert_int_equal(px[r * 4 + 2], 255);
        assert_int_equal(px[r * 4 + 3], 255);
    }
    free(px);
    ff_image_free(&img);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double numpy_percentile(const double *sorted, size_t n, double p)
{
    double pos = p / 100.0 * (double)(n - 1);
    size_t k = (size_t)floor(pos);
    double f = pos - (double)k;
    return k + 1 < n ? sorted[k] + f * (sorted[k + 1] - sorted[k]) : sorted[k];
}

static void test_percentiles(void **state)
{
    (void)state;
    size_t sizes[] = {1, 2, 3, 10, 1001, 100000};
    uint64_t s = 12345;
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        size_t n = sizes[t];
        double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            a[i] = (t % 2) ? (double)((s >> 33) % 7) : (double)(s >> 11) / 9007199254740992.0;
        }
        memcpy(b, a, n * sizeof *a);
        qsort(b, n, sizeof *b, cmp_double);
        double pairs[][2] = {{0.5, 99.9}, {0, 100}, {1, 99}, {50, 50}, {25, 75}};
        for (size_t q = 0; q < 5; q++) {
            double lo, hi;
            double *c = malloc(n * sizeof *c);
            memcpy(c, a, n * sizeof *a);
            assert_int_equal(ff_percentiles(c, n, pairs[q][0], pairs[q][1], &lo, &hi), 0);
            assert_float_equal(lo, numpy_percentile(b, n, pairs[q][0]), 1e-12);
            assert_float_equal(hi, numpy_percentile(b, n, pairs[q][1]), 1e-12);
            free(c);
        }
        free(a);
        free(b);
    }
    double x;
    assert_int_equal(ff_percentiles(&x, 0, 1, 99, &x, &x), -1);
}

static void test_colormaps(void **state)
{
    (void)state;
    ff_colormap cm;
    assert_int_equal(ff_colormap_aia(999, &cm), -1);
    assert_int_equal(ff_colormap_by_name("sdoaia12", &cm), -1);
    assert_int_equal(ff_colormap_by_name("nope", &cm), -1);
    int wls[] = {94, 131, 171, 193, 211, 304, 335, 1600, 1700, 4500};
    for (int i = 0; i < 10; i++) {
        assert_int_equal(ff_colormap_aia(wls[i], &cm), 0);
        /* every AIA table runs from black to a bright end */
        assert_int_equal(cm.rgb[0][0] + cm.rgb[0][1] + cm.rgb[0][2], 0);
        assert_true(cm.rgb[255][0] + cm.rgb[255][1] + cm.rgb[255][2] >= 255);
    }
    ff_colormap_for("EIT", "195", 195, &cm);
    assert_string_equal(cm.name, "sdoaia193");
    ff_colormap_for("HMI", "magnetogram", 6173, &cm);
    assert_string_equal(cm.name, "gray");
    ff_colormap_for("HMI", "continuum", 6173, &cm);
    assert_string_equal(cm.name, "heat");
}

static int failing_write(void *ctx, const void *buf, size_t len, ff_err *err)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return ff_err_set(err, "disk full");
}

static void test_errors(void **state)
{
    (void)state;
    ff_image img = synthetic_disk(32);
    ff_render_params p = params("AIA", "171", 171);
    ff_sink bad = {.write = failing_write};
    ff_membuf mb = {0};
    ff_sink good = ff_membuf_sink(&mb);
    ff_err err = {0};
    p.nthreads = 2;
    assert_int_equal(ff_render_pngs(&img, &p, &good, &bad, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "disk full"));
    assert_non_null(strstr(err.msg, "colour"));
    ff_membuf_free(&mb);
    /* Only one of the two images. */
    assert_int_equal(ff_render_pngs(&img, &p, &good, NULL, NULL, 0, &err), 0);
    assert_true(mb.len > 0);
    ff_membuf_free(&mb);

    ff_image empty = {.dtype = FF_F64, .ndim = 2, .shape = {0, 5}, .nelem = 0, .data = img.data};
    assert_int_equal(ff_render_pngs(&empty, &p, &good, NULL, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "no pixels"));
    ff_image four = {.dtype = FF_F64, .ndim = 4, .shape = {1, 1, 1}, .nelem = 1, .data = img.data};
    assert_int_equal(ff_render_pngs(&four, &p, &good, NULL, NULL, 0, &err), -1);
    assert_int_equal(ff_render_pngs(NULL, &p, &good, NULL, NULL, 0, &err), -1);
    ff_membuf_free(&mb);

    /* PNG writer refusals */
    uint8_t px[4] = {0};
    ff_png_text badkey = {"", "x"};
    assert_int_equal(ff_png_write8(px, 2, 2, NULL, &badkey, 1, &good, &err), -1);
    assert_int_equal(ff_png_write8(px, 0, 2, NULL, NULL, 0, &good, &err), -1);
    ff_membuf_free(&mb);
    ff_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_pngs),
        cmocka_unit_test(test_all_nan),
        cmocka_unit_test(test_constant_and_1x1),
        cmocka_unit_test(test_huge_range_and_infinities),
        cmocka_unit_test(test_exposure_and_wavelength),
        cmocka_unit_test(test_blank_integer_types),
        cmocka_unit_test(test_magnetogram_symmetric),
        cmocka_unit_test(test_cube_and_1d),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_threads_same_levels),
        cmocka_unit_test(test_downsample),
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_colormaps),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_gray_from_indexed),
        cmocka_unit_test(test_png_write8_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
