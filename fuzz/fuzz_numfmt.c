/* Harness 3: numbers as text. Every 8-byte (double), 4-byte (float32) and integer value formatted
 * by numfmt must parse back to exactly the same value, fit FF_NUMFMT_MAX, and (for doubles and
 * floats) use the fewest significant digits that round-trip, as Python's repr does. A row of
 * float32 values formatted at once must equal the values formatted one by one. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "base/numfmt.h"
#include "base/numfmt_internal.h"
#include "fuzz_util.h"

/* significant digits of a formatted number: mantissa digits without leading/trailing zeros */
static int sig_digits(const char *s)
{
    char d[64];
    int n = 0;
    for (const char *p = s; *p && *p != 'e' && *p != 'E'; p++)
        if (*p >= '0' && *p <= '9' && n < 63)
            d[n++] = *p;
    int a = 0, b = n;
    while (a < b && d[a] == '0')
        a++;
    while (b > a && d[b - 1] == '0')
        b--;
    return b - a;
}

/* Fewest significant digits p such that some p-digit decimal reads back as v. The nearest p-digit
 * decimal (printf's rounding) is tried with its two neighbours in the last digit: at a power of two
 * the rounding interval is lopsided and a neighbour may read back when the nearest does not. */
static int shortest(double v, int maxp, int is_float)
{
    char buf[64], alt[64];
    for (int p = 1; p <= maxp; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        for (int delta = 0; delta <= 2; delta++) {
            int d = delta == 2 ? -1 : delta;
            char *e = strchr(buf, 'e');
            char mant[40] = "";
            long long m = 0;
            int neg = buf[0] == '-';
            for (char *q = buf + neg; q < e; q++)
                if (*q >= '0' && *q <= '9')
                    m = m * 10 + (*q - '0');
            m += d;
            if (m <= 0)
                continue;
            snprintf(mant, sizeof mant, "%lld", m);
            snprintf(alt, sizeof alt, "%s0.%se%d", neg ? "-" : "", mant, atoi(e + 1) + 1);
            if (is_float ? strtof(alt, NULL) == (float)v : strtod(alt, NULL) == v)
                return p;
        }
    }
    return maxp;
}

static int min_digits_double(double v)
{
    return shortest(v, 17, 0);
}

static int min_digits_float(float v)
{
    return shortest((double)v, 9, 1);
}

static void check_double(double v)
{
    char buf[FF_NUMFMT_MAX + 8];
    memset(buf, 'x', sizeof buf);
    size_t n = ff_fmt_double(v, buf);
    if (n >= FF_NUMFMT_MAX || buf[n] != '\0' || strlen(buf) != n)
        abort();
    if (isnan(v)) {
        if (strcmp(buf, "nan") != 0)
            abort();
        return;
    }
    if (isinf(v)) {
        if (strcmp(buf, v > 0 ? "inf" : "-inf") != 0)
            abort();
        return;
    }
    char *end;
    double back = strtod(buf, &end);
    if (*end || memcmp(&back, &v, sizeof v) != 0) {
        fprintf(stderr, "double %a formatted as '%s' reads back as %a\n", v, buf, back);
        abort();
    }
    if (v != 0 && sig_digits(buf) != min_digits_double(v)) {
        fprintf(stderr, "double %a formatted as '%s': not the shortest (%d digits suffice)\n", v,
                buf, min_digits_double(v));
        abort();
    }
}

static void check_float(float v)
{
    char buf[FF_NUMFMT_MAX + 8];
    size_t n = ff_fmt_float32(v, buf);
    if (n >= FF_NUMFMT_MAX || strlen(buf) != n)
        abort();
    if (isnan(v) || isinf(v))
        return;
    char *end;
    float back = strtof(buf, &end);
    if (*end || memcmp(&back, &v, sizeof v) != 0) {
        fprintf(stderr, "float %a formatted as '%s' reads back as %a\n", (double)v, buf, (double)back);
        abort();
    }
    if (v != 0 && sig_digits(buf) != min_digits_float(v)) {
        fprintf(stderr, "float %a formatted as '%s': not the shortest (%d digits suffice)\n",
                (double)v, buf, min_digits_float(v));
        abort();
    }
}

static void check_ints(uint64_t u)
{
    char buf[FF_NUMFMT_MAX + 8];
    size_t n = ff_fmt_uint64(u, buf);
    errno = 0;
    if (n >= FF_NUMFMT_MAX || strtoull(buf, NULL, 10) != u || errno)
        abort();
    int64_t s = (int64_t)u;
    n = ff_fmt_int64(s, buf);
    errno = 0;
    if (n >= FF_NUMFMT_MAX || strtoll(buf, NULL, 10) != s || errno)
        abort();
}

/* The input's 4-byte values as one CSV row (ff_fmt_float32_row, four or eight at a time in vector
 * lanes, each width the CPU has) against ff_fmt_float32 joined: the same bytes, nothing past the
 * room. */
static void check_row(const uint8_t *data, size_t size)
{
    size_t n = size / 4 > 64 ? 64 : size / 4;
    float v[64];
    memcpy(v, data, n * 4);
    char want[64 * FF_NUMFMT_ROW_VALUE + FF_NUMFMT_MAX], got[64 * FF_NUMFMT_ROW_VALUE + FF_NUMFMT_MAX + 16];
    char *p = want;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        if (!isnan(v[i]))
            p += ff_fmt_float32(v[i], p);
    }
    for (int level = 0; level <= ff_numfmt_row_level(); level++) {
        memset(got, '#', sizeof got);
        size_t len = ff_fmt_float32_row_at(v, n, got, level);
        if (len != (size_t)(p - want) || memcmp(got, want, len) != 0) {
            fprintf(stderr, "float32 row (lanes of level %d) '%.*s' differs from '%.*s'\n", level,
                    (int)len, got, (int)(p - want), want);
            abort();
        }
        for (size_t i = n * FF_NUMFMT_ROW_VALUE + FF_NUMFMT_MAX; i < sizeof got; i++)
            if (got[i] != '#')
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_row(data, size);
    for (size_t i = 0; i + 8 <= size; i += 8) {
        double d;
        uint64_t u;
        memcpy(&d, data + i, 8);
        memcpy(&u, data + i, 8);
        check_double(d);
        check_ints(u);
        float f;
        memcpy(&f, data + i, 4);
        check_float(f);
        memcpy(&f, data + i + 4, 4);
        check_float(f);
    }
    /* a decimal string in the input: format its value (tests values near decimal boundaries) */
    if (size && size < 64) {
        char *s = fuzz_cstr(data, size);
        double d = strtod(s, NULL);
        check_double(d);
        check_float(strtof(s, NULL));
        check_double(nextafter(d, INFINITY));
        free(s);
    }
    return 0;
}
