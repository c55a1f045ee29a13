/* Unit tests of the fast deflate encoder: every stream it writes is inflated back by zlib itself
 * and compared byte for byte, over inputs chosen to reach each of its paths: empty and tiny
 * inputs, runs at every period (flat areas, NaN backgrounds), noise that Huffman coding cannot
 * shrink (stored blocks), skewed counts that force the 15-bit length limit, runs of every length
 * between literals, sizes across block boundaries, and streams made of pieces. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/out/deflate_fast.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Compresses, inflates with zlib, compares; returns the compressed size. */
static size_t round_trip(const unsigned char *src, size_t len, unsigned period)
{
    size_t cap = ff_deflate_fast_bound(len);
    unsigned char *z = malloc(cap);
    assert_non_null(z);
    ff_err err = {0};
    size_t n = ff_deflate_fast(src, len, period, z, cap, &err);
    assert_true(n > 0);
    assert_true(n <= cap);
    unsigned char *back = malloc(len + 1);
    assert_non_null(back);
    uLongf blen = (uLongf)len + 1;
    int zr = uncompress(back, &blen, z, (uLong)n);
    assert_int_equal(zr, Z_OK);
    assert_int_equal(blen, len);
    if (len)
        assert_memory_equal(back, src, len);
    free(back);
    free(z);
    return n;
}

static void test_empty_and_tiny(void **state)
{
    (void)state;
    unsigned char b[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    for (unsigned period = 0; period <= 8; period++)
        for (size_t len = 0; len <= sizeof b; len++)
            round_trip(len ? b : NULL, len, period);
}

static void test_runs_every_period(void **state)
{
    (void)state;
    size_t len = 3 * 1024 * 1024 + 17;
    unsigned char *b = malloc(len);
    assert_non_null(b);
    for (unsigned period = 1; period <= 8; period *= 2) {
        /* flat background with noisy patches, like a disk on a NaN sky */
        for (size_t i = 0; i < len; i++)
            b[i] = (unsigned char)(i % period);
        for (size_t i = len / 4; i < len / 2; i++)
            b[i] = (unsigned char)next_rand();
        size_t n = round_trip(b, len, period);
        /* three quarters are runs: far smaller than the input */
        assert_true(n < len / 2);
    }
    /* runs at a period other than the one asked for are literals: still exact */
    round_trip(b, len, 3);
    round_trip(b, len, 32768);
    free(b);
}

static void test_float_nan_background(void **state)
{
    (void)state;
    size_t n = 700 * 700;
    float *f = malloc(n * sizeof *f);
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        size_t x = i % 700, y = i / 700;
        double r = hypot((double)x - 350, (double)y - 350);
        f[i] = r > 300 ? NAN : (float)(next_rand() % 5000) * 0.37f;
    }
    size_t z = round_trip((const unsigned char *)f, n * sizeof *f, 4);
    assert_true(z < n * sizeof *f);
    free(f);
}

static void test_incompressible(void **state)
{
    (void)state;
    size_t len = 1024 * 1024 + 3;
    unsigned char *b = malloc(len);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)next_rand();
    size_t n = round_trip(b, len, 2);
    /* stored blocks: barely above the input */
    assert_true(n <= len + len / 1000 + 64);
    free(b);
}

static void test_skewed_counts(void **state)
{
    (void)state;
    /* Fibonacci-like counts give an optimal tree far deeper than 15 bits. */
    size_t fib[26] = {1, 1};
    for (int i = 2; i < 26; i++)
        fib[i] = fib[i - 1] + fib[i - 2];
    size_t len = 0;
    for (int i = 0; i < 26; i++)
        len += fib[i];
    unsigned char *b = malloc(len);
    assert_non_null(b);
    size_t at = 0;
    for (int i = 0; i < 26; i++)
        for (size_t k = 0; k < fib[i]; k++)
            b[at++] = (unsigned char)(i * 9 + 1);
    /* shuffle so no runs form */
    for (size_t i = len - 1; i > 0; i--) {
        size_t j = next_rand() % (i + 1);
        unsigned char t = b[i];
        b[i] = b[j];
        b[j] = t;
    }
    round_trip(b, len, 0);
    round_trip(b, len, 1);
    free(b);
}

static void test_mixed_runs(void **state)
{
    (void)state;
    /* runs of every length (1 to 600) between short literal stretches, at several periods:
     * runs found mid-window, extended backwards, split at 258, ending near the input's end */
    size_t len = 3 * 1024 * 1024 + 5;
    unsigned char *b = malloc(len);
    assert_non_null(b);
    for (unsigned period = 1; period <= 8; period *= 2) {
        size_t i = 0;
        while (i < len) {
            size_t lits = next_rand() % 6, run = 1 + next_rand() % 600;
            for (size_t k = 0; k < lits && i < len; k++)
                b[i++] = (unsigned char)next_rand();
            for (size_t k = 0; k < run && i < len; k++, i++)
                b[i] = i >= period ? b[i - period] : 0;
        }
        size_t n = round_trip(b, len, period);
        assert_true(n < len / 4);
    }
    free(b);
}

static void test_sizes_across_blocks(void **state)
{
    (void)state;
    size_t sizes[] = {65534, 65535, 65536, 65537, 262143, 262144, 262145, 262144 + 258, 524288 + 1};
    size_t max = 524288 + 1;
    int16_t *v = malloc(max);
    assert_non_null(v);
    for (size_t i = 0; i < max / 2; i++)
        v[i] = (int16_t)(1000 + (int)(next_rand() % 64)); /* AIA-like: high byte nearly constant */
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = round_trip((const unsigned char *)v, sizes[k], 2);
        assert_true(n < sizes[k]);
    }
    free(v);
}

/* One stream made of pieces (ff_deflate_stream_piece), cut at the given offsets: zlib inflates
 * it to the whole input, and reads it as a valid stream through every piece boundary. */
static void pieces_round_trip(const unsigned char *src, size_t len, unsigned period,
                              const size_t *cuts, size_t ncuts)
{
    ff_err err = {0};
    ff_deflate_stream *z = ff_deflate_stream_new(period, &err);
    assert_non_null(z);
    size_t total = 0, from = 0;
    for (size_t k = 0; k <= ncuts; k++)
        total += ff_deflate_piece_bound((k < ncuts ? cuts[k] : len) - (k ? cuts[k - 1] : 0));
    unsigned char *out = malloc(total), *back = malloc(len + 1);
    assert_non_null(out);
    assert_non_null(back);
    size_t n = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : len;
        size_t cap = ff_deflate_piece_bound(to - from);
        size_t got = ff_deflate_stream_piece(z, to > from ? src + from : NULL, to - from, k == ncuts,
                                             out + n, cap, &err);
        assert_true(got > 0 && got <= cap);
        n += got;
        from = to;
    }
    ff_deflate_stream_free(z);
    uLongf blen = (uLongf)len + 1;
    assert_int_equal(uncompress(back, &blen, out, (uLong)n), Z_OK);
    assert_int_equal(blen, len);
    if (len)
        assert_memory_equal(back, src, len);
    free(back);
    free(out);
}

static void test_pieces(void **state)
{
    (void)state;
    size_t len = 700000;
    unsigned char *b = malloc(len);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++) /* noise with flat stretches that straddle the cuts */
        b[i] = (i / 5000) % 2 ? 0 : (unsigned char)next_rand();
    const size_t none[1] = {0}, one[] = {1}, many[] = {0, 0, 4999, 5003, 262144, 262145, 600000, 700000};
    pieces_round_trip(b, len, 1, none, 0);
    pieces_round_trip(b, len, 1, one, 1);
    pieces_round_trip(b, len, 1, many, sizeof many / sizeof *many);
    pieces_round_trip(b, len, 4, many, sizeof many / sizeof *many);
    pieces_round_trip(NULL, 0, 1, none, 0);
    const size_t zeros[] = {0, 0};
    pieces_round_trip(NULL, 0, 0, zeros, 2);
    free(b);
}

static void test_refusals(void **state)
{
    (void)state;
    unsigned char in[4] = {1, 2, 3, 4}, out[64];
    ff_err err = {0};
    assert_int_equal(ff_deflate_fast(in, 4, 40000, out, sizeof out, &err), 0);
    assert_non_null(strstr(err.msg, "32768"));
    assert_int_equal(ff_deflate_fast(in, 4, 1, out, 3, &err), 0);
    assert_non_null(strstr(err.msg, "too small"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_tiny),       cmocka_unit_test(test_runs_every_period),
        cmocka_unit_test(test_float_nan_background), cmocka_unit_test(test_incompressible),
        cmocka_unit_test(test_skewed_counts),        cmocka_unit_test(test_mixed_runs),
        cmocka_unit_test(test_sizes_across_blocks),  cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
