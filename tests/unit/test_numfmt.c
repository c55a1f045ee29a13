/* numfmt: Python/numpy reprs computed with /usr/bin/python3 (repr(float), str(np.float32)),
 * and randomized round-trip and shortness checks against the C library's exact conversions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/numfmt.h"
#include "base/numfmt_internal.h"

static const struct { double v; const char *repr; } DOUBLES[] = {
    {0.1, "0.1"}, {1e-05, "1e-05"}, {1e+16, "1e+16"},
    {1.2345678901234568e+17, "1.2345678901234568e+17"}, {5e-324, "5e-324"}, {-0.0, "-0.0"},
    {0.0, "0.0"}, {1.0, "1.0"}, {100.0, "100.0"}, {1e+22, "1e+22"}, {1e+23, "1e+23"},
    {2.2250738585072014e-308, "2.2250738585072014e-308"},
    {1.7976931348623157e+308, "1.7976931348623157e+308"},
    {0.6666666666666666, "0.6666666666666666"}, {0.0001, "0.0001"},
    {9.999999999999999e-05, "9.999999999999999e-05"}, {12345678.9, "12345678.9"},
    {-1.5, "-1.5"}, {1e-07, "1e-07"}, {9007199254740992.0, "9007199254740992.0"}, {0.3, "0.3"},
    {1000000000000000.0, "1000000000000000.0"}, {9999999999999998.0, "9999999999999998.0"},
    {1.5e-323, "1.5e-323"},
};

static const struct { uint32_t bits; const char *str; } FLOATS[] = {
    {0x3dcccccdu, "0.1"}, {0x4b800000u, "16777216.0"}, {0x7f7fffffu, "3.4028235e+38"},
    {0x00000001u, "1e-45"}, {0x00800000u, "1.1754944e-38"}, {0x3e99999au, "0.3"},
    {0x3f2aaaabu, "0.6666667"}, {0x5a0e1bcau, "1e+16"}, {0x58635fa9u, "1000000000000000.0"},
    {0x38d1b717u, "1e-04"}, {0x47f1205au, "123456.7"}, {0x0020aac8u, "3e-39"},
    {0xc0200000u, "-2.5"}, {0x3f800000u, "1.0"}, {0x38d1bc76u, "0.00010001"},
    {0x5a0e1bc9u, "9999999000000000.0"}, {0x38d1b719u, "0.00010000001"}, {0x80000000u, "-0.0"},
    {0x7f800000u, "inf"}, {0xff800000u, "-inf"}, {0x7fc00000u, "nan"}, {0xffc00000u, "nan"},
};

static void test_known_doubles(void **state)
{
    (void)state;
    char buf[FF_NUMFMT_MAX];
    for (size_t i = 0; i < sizeof DOUBLES / sizeof DOUBLES[0]; i++) {
        size_t n = ff_fmt_double(DOUBLES[i].v, buf);
        assert_string_equal(buf, DOUBLES[i].repr);
        assert_int_equal(n, strlen(DOUBLES[i].repr));
    }
    assert_int_equal(ff_fmt_double(NAN, buf), 3);
    assert_string_equal(buf, "nan");
    ff_fmt_double(-NAN, buf);
    assert_string_equal(buf, "nan");
    ff_fmt_double(INFINITY, buf);
    assert_string_equal(buf, "inf");
    ff_fmt_double(-INFINITY, buf);
    assert_string_equal(buf, "-inf");
}

static void test_known_floats(void **state)
{
    (void)state;
    char buf[FF_NUMFMT_MAX];
    for (size_t i = 0; i < sizeof FLOATS / sizeof FLOATS[0]; i++) {
        float f;
        memcpy(&f, &FLOATS[i].bits, 4);
        size_t n = ff_fmt_float32(f, buf);
        assert_string_equal(buf, FLOATS[i].str);
        assert_int_equal(n, strlen(FLOATS[i].str));
    }
}

static void test_integers(void **state)
{
    (void)state;
    char buf[FF_NUMFMT_MAX];
    assert_int_equal(ff_fmt_int64(0, buf), 1);
    assert_string_equal(buf, "0");
    ff_fmt_int64(INT64_MIN, buf);
    assert_string_equal(buf, "-9223372036854775808");
    ff_fmt_int64(INT64_MAX, buf);
    assert_string_equal(buf, "9223372036854775807");
    ff_fmt_uint64(UINT64_MAX, buf);
    assert_string_equal(buf, "18446744073709551615");
    ff_fmt_int64(-7, buf);
    assert_string_equal(buf, "-7");
    /* every power of ten and its neighbours against printf */
    char ref[32];
    uint64_t p = 1;
    for (int k = 0; k < 20; k++, p *= 10) {
        for (int d = -1; d <= 1; d++) {
            uint64_t v = p + (uint64_t)(int64_t)d;
            ff_fmt_uint64(v, buf);
            snprintf(ref, sizeof ref, "%llu", (unsigned long long)v);
            assert_string_equal(buf, ref);
            ff_fmt_int64(-(int64_t)(v >> 1), buf);
            snprintf(ref, sizeof ref, "%lld", -(long long)(v >> 1));
            assert_string_equal(buf, ref);
        }
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Significant digits in a formatted number (trailing zeros of the digit string dropped). */
static int sig_digits(const char *s)
{
    char d[40];
    int n = 0, lead = 1;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9' || (lead && *s == '0'))
            continue;
        lead = 0;
        d[n++] = *s;
    }
    while (n > 1 && d[n - 1] == '0')
        n--;
    return n ? n : 1;
}

/* Fewest significant digits %.*e needs to round-trip (glibc converts exactly). */
static int oracle_digits(double v, int is_float)
{
    char b[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(b, sizeof b, "%.*e", p - 1, v);
        if (is_float ? strtof(b, NULL) == (float)v : strtod(b, NULL) == v)
            return p;
    }
    return 99;
}

static void check_double(double v)
{
    char buf[FF_NUMFMT_MAX], g17[40];
    size_t n = ff_fmt_double(v, buf);
    assert_true(n < FF_NUMFMT_MAX);
    double back = strtod(buf, NULL);
    if (memcmp(&back, &v, 8) != 0)
        fail_msg("%.17g formatted as %s does not read back", v, buf);
    snprintf(g17, sizeof g17, "%.17g", v);
    assert_true(sig_digits(buf) <= sig_digits(g17));
    if (sig_digits(buf) > oracle_digits(v, 0))
        fail_msg("%.17g formatted as %s is not the shortest", v, buf);
}

static void check_float(float v)
{
    char buf[FF_NUMFMT_MAX];
    size_t n = ff_fmt_float32(v, buf);
    assert_true(n < FF_NUMFMT_MAX);
    float back = strtof(buf, NULL);
    if (memcmp(&back, &v, 4) != 0)
        fail_msg("%.9g formatted as %s does not read back", (double)v, buf);
    if (sig_digits(buf) > oracle_digits(v, 1))
        fail_msg("%.9g formatted as %s is not the shortest", (double)v, buf);
}

static void test_random_doubles(void **state)
{
    (void)state;
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = rnd();
        if (i % 3 == 0) /* subnormals and tiny exponents */
            bits &= 0x803fffffffffffffull;
        if (i % 5 == 0) /* few significant bits: short decimals, exact integers */
            bits &= ~((1ull << (rnd() % 52)) - 1);
        double v;
        memcpy(&v, &bits, 8);
        if (isfinite(v))
            check_double(v);
    }
    /* every power of two (the interval is lopsided there) and its neighbours */
    for (int e = 0; e < 2047; e++) {
        uint64_t bits = (uint64_t)e << 52;
        for (int d = -1; d <= 1; d++) {
            double v;
            uint64_t b = bits + (uint64_t)(int64_t)d;
            memcpy(&v, &b, 8);
            if (isfinite(v) && (e || d >= 0))
                check_double(v);
        }
    }
    /* decimal numbers people write: k * 10^e */
    for (int e = -320; e <= 300; e++)
        for (int k = 1; k < 100; k += 7)
            check_double(k * pow(10, e));
}

static void test_random_floats(void **state)
{
    (void)state;
    for (int i = 0; i < 100000; i++) {
        uint32_t bits = (uint32_t)rnd();
        if (i % 3 == 0)
            bits &= 0x80ffffffu;
        float v;
        memcpy(&v, &bits, 4);
        if (isfinite(v))
            check_float(v);
    }
    for (uint32_t e = 0; e < 255; e++)
        for (int d = -1; d <= 1; d++) {
            uint32_t b = (e << 23) + (uint32_t)d;
            float v;
            memcpy(&v, &b, 4);
            if (isfinite(v) && (e || d >= 0))
                check_float(v);
        }
    for (int e = -45; e <= 38; e++)
        for (int k = 1; k < 100; k += 3)
            check_float((float)(k * pow(10, e)));
}

/* ff_fmt_float32_row against ff_fmt_float32 joined with commas, with every width of lanes the CPU
 * has (none, AVX2's four, AVX-512's eight): the same bytes, for rows of every length up to 40
 * (the lanes take four or eight values, the rest go one by one), values of
 * every form (NaN, zero, integers, nine digits, scientific, subnormal, the two vector layouts),
 * and nothing written past the room the header promises. */
static void check_row(const float *v, size_t n)
{
    char want[40 * FF_NUMFMT_ROW_VALUE + FF_NUMFMT_MAX], got[40 * FF_NUMFMT_ROW_VALUE + FF_NUMFMT_MAX + 16];
    char *p = want;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        if (!isnan(v[i]))
            p += ff_fmt_float32(v[i], p);
    }
    size_t room = n * FF_NUMFMT_ROW_VALUE + FF_NUMFMT_MAX;
    for (int level = 0; level <= ff_numfmt_row_level(); level++) {
        memset(got, '#', sizeof got);
        size_t len = ff_fmt_float32_row_at(v, n, got, level);
        assert_int_equal(len, (size_t)(p - want));
        if (memcmp(got, want, len) != 0)
            fail_msg("row of %zu with lanes of level %d differs: '%.*s' against '%.*s'", n, level,
                     (int)len, got, (int)len, want);
        for (size_t i = room; i < sizeof got; i++)
            assert_int_equal(got[i], '#');
    }
    char plain[sizeof got];
    assert_int_equal(ff_fmt_float32_row(v, n, plain), (size_t)(p - want));
    assert_memory_equal(plain, want, (size_t)(p - want));
}

static float as_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void test_float32_rows(void **state)
{
    (void)state;
    static const uint32_t FORMS[] = {
        0x7fc00000u, 0xffc00000u, 0x7f800000u, 0xff800000u, 0x00000000u, 0x80000000u,
        0x00000001u, 0x807fffffu, 0x38d1b717u, 0x38d1b718u, 0x5a0e1bc9u, 0x5a0e1bcau,
        0x4b800000u, 0xc7f1205au, 0x3f800000u, 0xbf800000u, 0x3dcccccdu, 0x38d1bc76u,
        0x7f7fffffu, 0x4cbebc20u, 0x4e6e6b28u, 0xd9a3d70au,
    };
    float v[40];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)round % 41;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rnd();
            switch (r % 5) {
            case 0: v[i] = as_float(FORMS[(r >> 8) % (sizeof FORMS / sizeof FORMS[0])]); break;
            case 1: v[i] = as_float((uint32_t)(r >> 16)); break;              /* any bits */
            case 2: v[i] = (float)((double)(int64_t)(r >> 20) * 1e-10); break; /* magnetogram-like */
            case 3: v[i] = (float)((int)(r >> 40) % 2000000) / 1000.0f; break;
            default: v[i] = (float)((int)(r >> 40) % 100000) * 1e-7f; break;  /* 0.00725 */
            }
        }
        check_row(v, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_doubles), cmocka_unit_test(test_known_floats),
        cmocka_unit_test(test_integers),      cmocka_unit_test(test_random_doubles),
        cmocka_unit_test(test_random_floats), cmocka_unit_test(test_float32_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
