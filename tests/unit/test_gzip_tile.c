/* Unit tests of the GZIP tile decoder (core/gzip_tile.h) and the quantised-float arithmetic
 * (core/quantize.h): byte order and GZIP_2's byte planes for every width, lossless floats with and
 * without undefined-pixel handling, the standard's random sequence and its per-tile start, the
 * dithering formula, ZBLANK and SUBTRACTIVE_DITHER_2's zeros, and the tiles the decoder must hand
 * back to zlib and CFITSIO (damaged, cut short, another size, a header CRC). Whole files against
 * CFITSIO are in tests/e2e/test_gzip_tiles.py and fuzz/fuzz_gzip_image.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/fits/gzip_tile.h"
#include "core/fits/quantize.h"

/* The gzip stream of n bytes (with a header CRC when hcrc). */
static unsigned char *gzip_of(const void *data, size_t n, int hcrc, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    gz_header h;
    memset(&h, 0, sizeof h);
    h.hcrc = hcrc;
    assert_int_equal(deflateSetHeader(&z, &h), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* n big-endian values of w bytes from v (as uint64), planes first when shuffled */
static void put_be(unsigned char *dst, const uint64_t *v, size_t n, int w, int shuffled)
{
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < w; k++) {
            unsigned char b = (unsigned char)(v[i] >> (8 * (w - 1 - k)));
            if (shuffled)
                dst[(size_t)k * n + i] = b;
            else
                dst[i * (size_t)w + (size_t)k] = b;
        }
}

static int decode(const ff_gzip_image *g, void *out)
{
    ff_gzip_decoder *d = ff_gzip_decoder_new(g->tiles[0].npix);
    assert_non_null(d);
    int rc = ff_gzip_decode_tile(d, g, 0, out);
    ff_gzip_decoder_free(d);
    return rc;
}

static void test_integers_every_width(void **state)
{
    (void)state;
    enum { N = 300 };
    uint64_t v[N];
    for (size_t i = 0; i < N; i++)
        v[i] = (uint64_t)(i * 2654435761u) ^ (i << 20);
    static const int zbitpix[3] = {8, 16, 32};
    for (int k = 0; k < 3; k++)
        for (int shuffled = 0; shuffled < 2; shuffled++) {
            int w = zbitpix[k] / 8;
            unsigned char raw[N * 4];
            put_be(raw, v, N, w, shuffled);
            size_t len;
            unsigned char *c = gzip_of(raw, N * (size_t)w, 0, &len);
            ff_gzip_tile t = {.c = c, .len = len, .npix = N};
            ff_gzip_image g = {.zbitpix = zbitpix[k], .shuffled = shuffled, .tiles = &t, .ntiles = 1};
            unsigned char out[N * 4];
            assert_int_equal(decode(&g, out), 0);
            for (size_t i = 0; i < N; i++) {
                uint64_t want = v[i] & (w == 4 ? 0xffffffffu : w == 2 ? 0xffffu : 0xffu);
                uint64_t got = w == 1 ? out[i] : w == 2 ? ((uint16_t *)out)[i] : ((uint32_t *)out)[i];
                assert_true(got == want);
            }
            free(c);
        }
}

static void test_lossless_floats(void **state)
{
    (void)state;
    float f[8] = {1.5f, NAN, INFINITY, -INFINITY, -0.0f, 1e-42f, -3.25e9f, 0.0f};
    uint64_t bits[8];
    for (int i = 0; i < 8; i++) {
        uint32_t b;
        memcpy(&b, &f[i], 4);
        bits[i] = b;
    }
    unsigned char raw[32];
    put_be(raw, bits, 8, 4, 1);
    size_t len;
    unsigned char *c = gzip_of(raw, 32, 0, &len);
    ff_gzip_tile t = {.c = c, .len = len, .npix = 8};
    ff_gzip_image g = {.zbitpix = -32, .shuffled = 1, .tiles = &t, .ntiles = 1};
    float out[8];
    assert_int_equal(decode(&g, out), 0);
    assert_memory_equal(out, f, sizeof f); /* copied bit for bit, -0.0 and subnormals kept */
    /* a lossless tile of a quantised image with ZBLANK (nulls): CFITSIO's null check, unshuffled */
    put_be(raw, bits, 8, 4, 0);
    free(c);
    c = gzip_of(raw, 32, 0, &len);
    t = (ff_gzip_tile){.c = c, .len = len, .npix = 8, .lossless = 1};
    g.quantized = g.nulls = 1;
    assert_int_equal(decode(&g, out), 0);
    assert_true(out[0] == 1.5f && isnan(out[1]) && isnan(out[2]) && isnan(out[3]));
    assert_true(out[4] == 0.0f && !signbit(out[4]) && out[5] == 0.0f && out[6] == -3.25e9f);
    free(c);
}

static void test_random_sequence(void **state)
{
    (void)state;
    /* the standard: seed_1 = 16807, and the 10000th seed is 1043618065 */
    assert_true(ff_quant_random(0) == (float)(16807.0 / 2147483647.0));
    assert_true(ff_quant_random(9999) == (float)(1043618065.0 / 2147483647.0));
    for (int i = 0; i < 10000; i++)
        assert_true(ff_quant_random(i) > 0.0f && ff_quant_random(i) < 1.0f);
}

/* The dithered value of pixel i of tile t, walking the sequence independently of quantize.c. */
static float dithered(int32_t v, long long t, int dither0, size_t i, double scale, double zero)
{
    int iseed = (int)((t + dither0 - 1) % 10000);
    int next = (int)(ff_quant_random(iseed) * 500);
    for (size_t k = 0; k < i; k++)
        if (++next == 10000) {
            iseed = (iseed + 1) % 10000;
            next = (int)(ff_quant_random(iseed) * 500);
        }
    return (float)(((double)v - ff_quant_random(next) + 0.5) * scale + zero);
}

static void test_dithering(void **state)
{
    (void)state;
    enum { N = 25000 }; /* more than 10000: the sequence moves to its next start */
    int32_t *in = malloc(N * sizeof *in);
    float *out = malloc(N * sizeof *out);
    for (int i = 0; i < N; i++)
        in[i] = (i * 37) % 2001 - 1000;
    in[5] = -2147483647;  /* ZBLANK */
    in[6] = -2147483646;  /* SUBTRACTIVE_DITHER_2's zero */
    ff_quant q = {.method = FF_QUANT_DITHER1, .dither0 = 9999};
    ff_quant_to_f32(in, N, &q, 7, 0.25, 100.0, 0, 0, out);
    for (int i = 0; i < N; i += (i < 20 ? 1 : 997))
        assert_true(out[i] == dithered(in[i], 7, 9999, (size_t)i, 0.25, 100.0));
    assert_true(out[N - 1] == dithered(in[N - 1], 7, 9999, N - 1, 0.25, 100.0));
    /* nulls: the blank integer becomes NaN; dither 2 keeps zeros */
    q.method = FF_QUANT_DITHER2;
    ff_quant_to_f32(in, 10, &q, 0, 0.25, 100.0, 1, -2147483647, out);
    assert_true(isnan(out[5]) && out[6] == 0.0f && out[0] == dithered(in[0], 0, 9999, 0, 0.25, 100.0));
    /* without nulls the blank is scaled like any value (what CFITSIO gives with no ZBLANK) */
    ff_quant_to_f32(in, 10, &q, 0, 0.25, 100.0, 0, -2147483647, out);
    assert_false(isnan(out[5]));
    /* no dithering: value * scale + zero, in doubles */
    q.method = FF_QUANT_PLAIN;
    double dout[10];
    ff_quant_to_f64(in, 10, &q, 3, 0.1, -5.0, 1, -2147483647, dout);
    assert_true(dout[0] == (double)in[0] * 0.1 + -5.0 && isnan(dout[5]));
    free(in);
    free(out);
}

static void test_quantised_tile(void **state)
{
    (void)state;
    enum { N = 64 };
    uint64_t v[N];
    int32_t ints[N];
    for (int i = 0; i < N; i++) {
        ints[i] = i * 1000 - 30000;
        v[i] = (uint32_t)ints[i];
    }
    unsigned char raw[N * 4];
    put_be(raw, v, N, 4, 1);
    size_t len;
    unsigned char *c = gzip_of(raw, sizeof raw, 0, &len);
    ff_gzip_tile t[3] = {{0}, {0}, {.c = c, .len = len, .npix = N, .scale = 0.5, .zero = 3.0}};
    ff_gzip_image g = {.zbitpix = -32, .shuffled = 1, .quantized = 1, .tiles = t, .ntiles = 3,
                       .quant = {.method = FF_QUANT_DITHER1, .dither0 = 42}};
    ff_gzip_decoder *d = ff_gzip_decoder_new(N);
    float out[N];
    assert_int_equal(ff_gzip_decode_tile(d, &g, 2, out), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == dithered(ints[i], 2, 42, (size_t)i, 0.5, 3.0));
    ff_gzip_decoder_free(d);
    free(c);
}

static void test_handed_back(void **state)
{
    (void)state;
    unsigned char raw[400];
    for (int i = 0; i < 400; i++)
        raw[i] = (unsigned char)(i * 7);
    size_t len;
    unsigned char *c = gzip_of(raw, 200, 0, &len);
    ff_gzip_tile t = {.c = c, .len = len, .npix = 100};
    ff_gzip_image g = {.zbitpix = 16, .tiles = &t, .ntiles = 1};
    int16_t out[200];
    assert_int_equal(decode(&g, out), 0);
    t.npix = 50; /* 4 bytes per pixel: CFITSIO converts those */
    assert_int_equal(decode(&g, out), FF_GZIP_DEFER);
    t.npix = 150; /* too few bytes */
    assert_int_equal(decode(&g, out), FF_GZIP_DEFER);
    t.npix = 100;
    t.len = len - 5; /* cut short */
    assert_int_equal(decode(&g, out), FF_GZIP_DEFER);
    t.len = len;
    c[len / 2] ^= 0x55; /* damaged */
    assert_int_equal(decode(&g, out), FF_GZIP_DEFER);
    free(c);
    c = gzip_of(raw, 200, 1, &len); /* a header CRC: zlib checks it, libdeflate would not */
    t = (ff_gzip_tile){.c = c, .len = len, .npix = 100};
    assert_int_equal(decode(&g, out), FF_GZIP_DEFER);
    free(c);
    assert_null(ff_gzip_decoder_new(FF_GZIP_MAX_TILE_PIX + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers_every_width),
        cmocka_unit_test(test_lossless_floats),
        cmocka_unit_test(test_random_sequence),
        cmocka_unit_test(test_dithering),
        cmocka_unit_test(test_quantised_tile),
        cmocka_unit_test(test_handed_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
