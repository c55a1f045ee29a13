/* Shortest round-trip number formatting (Python repr / numpy str style), fast enough to write
 * 16.7 M values as CSV in well under a second.
 *
 * Floats use the Schubfach method (R. Giulietti, "The Schubfach way to render doubles", 2020):
 * the decimal exponent k is estimated from the binary one, v and the two ends of its rounding
 * interval are scaled by a 128-bit approximation of 10^-k with round-to-odd, and the shortest
 * decimal inside the interval is picked from the 10^(k+1) and 10^k grids. float32 goes through
 * the same code with its own 24-bit significand and interval. The 128-bit powers of ten are
 * computed once, exactly, with a small bignum (no table copied from anywhere). */
#include "base/numfmt.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "base/numfmt_internal.h"

typedef unsigned __int128 u128;

/* ---- integers ---------------------------------------------------------------------------- */

static const char DIGITS2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static inline int count_digits(uint64_t v)
{
    int n = 1;
    for (;;) {
        if (v < 10) return n;
        if (v < 100) return n + 1;
        if (v < 1000) return n + 2;
        if (v < 10000) return n + 3;
        v /= 10000;
        n += 4;
    }
}

/* Writes the decimal digits of v (no NUL) and returns their count. */
static inline size_t put_u64(uint64_t v, char *out)
{
    int n = count_digits(v);
    char *p = out + n;
    if (v <= UINT32_MAX) { /* 32-bit division is the cheaper one */
        uint32_t w = (uint32_t)v;
        while (w >= 100) {
            unsigned r = w % 100;
            w /= 100;
            p -= 2;
            memcpy(p, DIGITS2 + 2 * r, 2);
        }
        if (w >= 10) {
            p -= 2;
            memcpy(p, DIGITS2 + 2 * w, 2);
        } else {
            *--p = (char)('0' + w);
        }
        return (size_t)n;
    }
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, DIGITS2 + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, DIGITS2 + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return (size_t)n;
}

size_t ff_fmt_uint64(uint64_t v, char *buf)
{
    size_t n = put_u64(v, buf);
    buf[n] = '\0';
    return n;
}

size_t ff_fmt_int64(int64_t v, char *buf)
{
    size_t n = 0;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        buf[n++] = '-';
        u = 0 - u;
    }
    n += put_u64(u, buf + n);
    buf[n] = '\0';
    return n;
}

/* ---- powers of ten ----------------------------------------------------------------------- */

#define POW10_MIN (-292)
#define POW10_MAX 326

typedef struct { uint64_t hi, lo; } u64x2;

static u64x2 g_pow10[POW10_MAX - POW10_MIN + 1];
static uint64_t g_g32[FF_NUMFMT_G32_HI - FF_NUMFMT_G32_LO + 1]; /* see numfmt_internal.h */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* floor(log2(10^e)) and floor(log10(2^e)), floor(log10(3/4 * 2^e)) by fixed-point logs, valid
 * well beyond the exponent ranges used here. Division-free floors of negative values rely on
 * arithmetic right shifts (what GCC and Clang do). */
static int floor_log2_pow10(int e) { return (e * 1741647) >> 19; }
static int floor_log10_pow2(int e) { return (e * 1262611) >> 22; }
static int floor_log10_3q_pow2(int e) { return (e * 1262611 - 524031) >> 22; }

/* A little-endian bignum of 32-bit limbs, big enough for 2^1216 and 10^326. */
#define BN_LIMBS 40
typedef struct { uint32_t w[BN_LIMBS]; int n; } bignum;

static void bn_mul_small(bignum *b, uint32_t m)
{
    uint64_t carry = 0;
    for (int i = 0; i < b->n; i++) {
        uint64_t t = (uint64_t)b->w[i] * m + carry;
        b->w[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry)
        b->w[b->n++] = (uint32_t)carry;
}

static void bn_div_small(bignum *b, uint32_t d)
{
    uint64_t rem = 0;
    for (int i = b->n - 1; i >= 0; i--) {
        uint64_t cur = (rem << 32) | b->w[i];
        b->w[i] = (uint32_t)(cur / d);
        rem = cur % d;
    }
    while (b->n > 0 && b->w[b->n - 1] == 0)
        b->n--;
}

/* Bit i of b. */
static unsigned bn_bit(const bignum *b, int i)
{
    if (i < 0 || i / 32 >= b->n)
        return 0;
    return (b->w[i / 32] >> (i % 32)) & 1u;
}

/* floor(b / 2^shift) + 1, where the quotient has exactly 128 bits (shift may be negative). */
static u64x2 bn_top128_plus1(const bignum *b, int shift)
{
    u128 g = 0;
    for (int i = 127; i >= 0; i--)
        g = (g << 1) | bn_bit(b, i + shift);
    g += 1;
    return (u64x2){(uint64_t)(g >> 64), (uint64_t)g};
}

/* g(e) = floor(10^e * 2^(127 - floor_log2_pow10(e))) + 1, a 128-bit overestimate of 10^e. */
static void init_pow10(void)
{
    bignum b = {.w = {1}, .n = 1};
    for (int e = 0; e <= POW10_MAX; e++) {
        int beta = floor_log2_pow10(e);
        g_pow10[e - POW10_MIN] = bn_top128_plus1(&b, beta - 127);
        bn_mul_small(&b, 10);
    }
    /* Negative powers: floor(2^M / 10^j) by repeated exact division (floors compose). */
    enum { M = 1216 };
    memset(&b, 0, sizeof b);
    b.w[M / 32] = 1u << (M % 32);
    b.n = M / 32 + 1;
    for (int j = 1; j <= -POW10_MIN; j++) {
        bn_div_small(&b, 10);
        int beta = floor_log2_pow10(-j);
        /* 10^-j * 2^(127-beta) = (2^M / 10^j) / 2^(M - 127 + beta) */
        g_pow10[-j - POW10_MIN] = bn_top128_plus1(&b, M - 127 + beta);
    }
    for (int e = FF_NUMFMT_G32_LO; e <= FF_NUMFMT_G32_HI; e++)
        g_g32[e - FF_NUMFMT_G32_LO] = g_pow10[e - POW10_MIN].hi + 1;
}

const uint64_t *ff_numfmt_g32(void)
{
    pthread_once(&g_once, init_pow10);
    return g_g32 - FF_NUMFMT_G32_LO;
}

/* ---- Schubfach core ---------------------------------------------------------------------- */

/* Upper part of g * cp / 2^128 with a sticky bit (round to odd). */
static inline uint64_t round_to_odd(u64x2 g, uint64_t cp)
{
    u128 x = (u128)g.lo * cp;
    u128 y = (u128)g.hi * cp + (x >> 64);
    uint64_t y1 = (uint64_t)(y >> 64), y0 = (uint64_t)y;
    return y1 | (y0 > 1);
}

/* The same for float32, from the upper 64 bits of g (plus one, an overestimate as the 128-bit g
 * is): cp has at most 30 bits, so the product is at most about cp above the exact one, and the
 * fraction is taken as zero below that. One multiplication instead of two. When written, every
 * one of the 2^32 float32 values was formatted both ways and compared (identical); tests and
 * fuzz_numfmt keep checking round trip and shortness on samples. */
static inline uint64_t round_to_odd32(uint64_t g, uint64_t cp)
{
    u128 y = (u128)g * cp;
    uint64_t y1 = (uint64_t)(y >> 64), y0 = (uint64_t)y;
    return y1 | (y0 > cp);
}

/* Shortest decimal s * 10^k in the rounding interval of c * 2^q (closest, ties to even digit).
 * even: c is even (the interval ends are then included); closer_below: the lower neighbour is
 * half as far (c is a power of two at the bottom of its binade). f32: c has at most 24 bits. */
static inline __attribute__((always_inline)) void schubfach(uint64_t c, int q, int closer_below,
                                                            int f32, uint64_t *out_s, int *out_k)
{
    int even = (c & 1) == 0;
    uint64_t cbl = 4 * c - 2 + (uint64_t)closer_below;
    uint64_t cb = 4 * c;
    uint64_t cbr = 4 * c + 2;
    int k = closer_below ? floor_log10_3q_pow2(q) : floor_log10_pow2(q);
    int h = q + floor_log2_pow10(-k) + 1;
    u64x2 g = g_pow10[-k - POW10_MIN];
    uint64_t vbl, vb, vbr;
    if (f32) {
        assert(-k >= FF_NUMFMT_G32_LO && -k <= FF_NUMFMT_G32_HI); /* the vector path's table */
        vbl = round_to_odd32(g.hi + 1, cbl << h);
        vb = round_to_odd32(g.hi + 1, cb << h);
        vbr = round_to_odd32(g.hi + 1, cbr << h);
    } else {
        vbl = round_to_odd(g, cbl << h);
        vb = round_to_odd(g, cb << h);
        vbr = round_to_odd(g, cbr << h);
    }
    uint64_t lower = vbl + !even;
    uint64_t upper = vbr - !even;
    uint64_t s = vb / 4;
    /* The three outcomes are computed and one is selected, without branches (which outcome
     * applies is close to random from one value to the next). */
    uint64_t sp = s / 10;
    int up_in = lower <= 40 * sp;
    int wp_in = 40 * sp + 40 <= upper;
    int coarse = (s >= 10) & (up_in != wp_in); /* one digit fewer: the 10^(k+1) grid */
    int u_in = lower <= 4 * s;
    int w_in = 4 * s + 4 <= upper;
    int single = u_in != w_in;                  /* one end of the 10^k grid is inside */
    uint64_t mid = 4 * s + 2;
    int up = (vb > mid) | ((vb == mid) & (int)(s & 1));
    uint64_t fine = s + (uint64_t)(single ? w_in : up);
    *out_s = coarse ? sp + (uint64_t)wp_in : fine;
    *out_k = k + coarse;
}

/* ---- layout ------------------------------------------------------------------------------ */

/* Lays out digits s * 10^k (s > 0) in positional or scientific form as Python and numpy do.
 * Digits are written in place (short byte loops, no library calls: this runs per CSV value). */
static inline __attribute__((always_inline)) size_t layout(char *buf, size_t pos, uint64_t s, int k,
                                                           int sci)
{
    while (s % 10 == 0) {
        s /= 10;
        k++;
    }
    char *p = buf + pos;
    if (sci) {
        int n = (int)put_u64(s, p + 1); /* d.ddd: write the digits one to the right, */
        int e = k + n - 1;
        p[0] = p[1];                    /* then pull the first one in front of the point */
        if (n > 1) {
            p[1] = '.';
            p += n + 1;
        } else {
            p += 1;
        }
        *p++ = 'e';
        *p++ = e < 0 ? '-' : '+';
        unsigned ae = (unsigned)(e < 0 ? -e : e);
        if (ae >= 100) {
            *p++ = (char)('0' + ae / 100);
            ae %= 100;
        }
        p[0] = DIGITS2[2 * ae];
        p[1] = DIGITS2[2 * ae + 1];
        p += 2;
    } else if (k >= 0) {
        p += put_u64(s, p);
        for (int i = 0; i < k; i++)
            *p++ = '0';
        *p++ = '.';
        *p++ = '0';
    } else {
        int n = count_digits(s);
        int ip = n + k; /* digits before the point */
        if (ip > 0 && ip <= 14 && n - ip <= 16) {
            /* the digits once, then two fixed-size copies around the point: no byte loops (the
             * caller's FF_NUMFMT_MAX bytes hold the over-long copies) */
            char tmp[32] = {0};
            put_u64(s, tmp);
            memcpy(p, tmp, 16);
            p[ip] = '.';
            memcpy(p + ip + 1, tmp + ip, 16);
            p += n + 1;
        } else if (ip > 0) {
            put_u64(s, p + 1);
            for (int i = 0; i < ip; i++)
                p[i] = p[i + 1];
            p[ip] = '.';
            p += n + 1;
        } else {
            *p++ = '0';
            *p++ = '.';
            for (int i = 0; i < -ip; i++)
                *p++ = '0';
            p += put_u64(s, p);
        }
    }
    *p = '\0';
    return (size_t)(p - buf);
}

/* ---- float32: the same layout in 32-bit arithmetic (at most 9 digits) --------------------- */

static const uint32_t POW10_32[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                       100000000, 1000000000};

/* Decimal digits of v (1 <= v < 10^9), without branches: log10 from the bit length. */
static inline int digits32(uint32_t v)
{
    int t = ((32 - __builtin_clz(v)) * 1233) >> 12;
    return t + 1 - (v < POW10_32[t]);
}

static inline uint64_t pair(uint32_t v) /* the two digit characters of v < 100 */
{
    uint16_t t;
    memcpy(&t, DIGITS2 + 2 * v, 2);
    return t;
}

/* The eight digits of v < 10^8 (leading zeros included) as characters in a register, the first
 * in the lowest byte: no branches, and nothing stored to be read back (a load that spans several
 * smaller stores waits for them). */
static inline uint64_t digits8(uint32_t v)
{
    uint32_t a = v / 10000, b = v - a * 10000;
    uint32_t a1 = a / 100, a2 = a - a1 * 100, b1 = b / 100, b2 = b - b1 * 100;
    return pair(a1) | pair(a2) << 16 | pair(b1) << 32 | pair(b2) << 48;
}

/* The n digits of s with a point after the first ip of them (1 <= ip < n <= 8) at p, as two
 * 8-byte stores; returns n + 1. */
static inline size_t point8(char *p, uint32_t s, int n, int ip)
{
    uint64_t w = digits8(s) >> (8 * (8 - n)); /* the significant digits */
    int sh = 8 * ip;
    uint64_t high = w >> sh;
    uint64_t lo = (w & ((UINT64_C(1) << sh) - 1)) | (uint64_t)'.' << sh | (high << sh) << 8;
    uint64_t hi = high >> (56 - sh); /* what the point pushed past the first 8 bytes */
    memcpy(p, &lo, 8);
    memcpy(p + 8, &hi, 8);
    return (size_t)n + 1;
}

static inline __attribute__((always_inline)) size_t layout32(char *buf, size_t pos, uint32_t s,
                                                             int k, int sci)
{
    if (s < 100000000u && !sci) {
        /* The common case (725.0125) with no loop and no table: s's eight digit characters in a
         * register (leading zeros included); the '0' bytes before the first significant digit
         * (lead) and after the last (trail) are counted at the two ends of the word's mask of
         * nonzero digits. */
        const uint64_t w = digits8(s), x = w ^ UINT64_C(0x3030303030303030);
        const int lead = __builtin_ctzll(x) >> 3, trail = __builtin_clzll(x) >> 3;
        const int n = 8 - lead - trail, ip = 8 - lead + k; /* digits kept; before the point */
        if (k + trail < 0 && ip > 0) { /* a fraction is left, and a digit before the point */
            const uint64_t d = w >> (8 * lead); /* the digits from byte 0, trail '0's after */
            const int sh = 8 * ip;              /* ip < n <= 8: sh <= 56 */
            const uint64_t high = d >> sh;
            const uint64_t lo = (d & ((UINT64_C(1) << sh) - 1)) | (uint64_t)'.' << sh | (high << sh) << 8;
            const uint64_t hi = high >> (56 - sh); /* what the point pushed past the first 8 */
            char *p = buf + pos;
            memcpy(p, &lo, 8); /* 16 bytes stored: the caller's FF_NUMFMT_MAX holds them */
            memcpy(p + 8, &hi, 8);
            p += n + 1;
            *p = '\0';
            return (size_t)(p - buf);
        }
    }
    while (s % 10 == 0) {
        s /= 10;
        k++;
    }
    if (s >= 1000000000)
        return layout(buf, pos, s, k, sci);
    int n = digits32(s), ip = n + k;
    char *p = buf + pos;
    if (!sci && k < 0 && ip > 0 && n <= 8) { /* nine digits, eight once a zero is stripped */
        p += point8(p, s, n, ip);
        *p = '\0';
        return (size_t)(p - buf);
    }
    return layout(buf, pos, s, k, sci);
}

/* nan (numpy and Python print no sign for it), inf, -inf. */
static size_t special(char *buf, int is_nan, int neg)
{
    const char *t = is_nan ? "nan" : neg ? "-inf" : "inf";
    size_t n = strlen(t);
    memcpy(buf, t, n + 1);
    return n;
}

size_t ff_fmt_double(double v, char *buf)
{
    pthread_once(&g_once, init_pow10);
    uint64_t bits;
    memcpy(&bits, &v, 8);
    int neg = (int)(bits >> 63);
    unsigned be = (unsigned)(bits >> 52) & 0x7ff;
    uint64_t frac = bits & ((UINT64_C(1) << 52) - 1);
    size_t pos = 0;
    if (be == 0x7ff)
        return special(buf, frac != 0, neg);
    if (neg)
        buf[pos++] = '-';
    if (be == 0 && frac == 0) {
        memcpy(buf + pos, "0.0", 4);
        return pos + 3;
    }
    uint64_t c;
    int q;
    if (be) {
        c = frac | (UINT64_C(1) << 52);
        q = (int)be - 1075;
    } else {
        c = frac;
        q = -1074;
    }
    uint64_t s;
    int k;
    schubfach(c, q, frac == 0 && be > 1, 0, &s, &k);
    /* Python repr: positional when the decimal exponent is in [-4, 16). For doubles this is the
     * same as numpy's value test 1e-4 <= |v| < 1e16. */
    double a = fabs(v);
    int sci = !(a >= 1e-4 && a < 1e16);
    return layout(buf, pos, s, k, sci);
}

size_t ff_fmt_float32(float v, char *buf)
{
    pthread_once(&g_once, init_pow10);
    uint32_t bits;
    memcpy(&bits, &v, 4);
    int neg = (int)(bits >> 31);
    unsigned be = (bits >> 23) & 0xff;
    uint32_t frac = bits & ((1u << 23) - 1);
    size_t pos = 0;
    if (be == 0xff)
        return special(buf, frac != 0, neg);
    if (neg)
        buf[pos++] = '-';
    if (be == 0 && frac == 0) {
        memcpy(buf + pos, "0.0", 4);
        return pos + 3;
    }
    uint64_t c;
    int q;
    if (be) {
        c = frac | (1u << 23);
        q = (int)be - 150;
    } else {
        c = frac;
        q = -149;
    }
    uint64_t s;
    int k;
    schubfach(c, q, frac == 0 && be > 1, 1, &s, &k);
    /* numpy decides by the value itself (compared in higher precision), not by the digits:
     * np.float32(0.0001) is 9.99999974e-05 and prints as "1e-04". */
    uint32_t abits = bits & 0x7fffffffu; /* the same test on the bits: 1.00000005e-4 .. 9.9999992e15 */
    int sci = !(abits >= 0x38d1b718u && abits <= 0x5a0e1bc9u);
    if (s <= UINT32_MAX)
        return layout32(buf, pos, (uint32_t)s, k, sci);
    return layout(buf, pos, s, k, sci);
}
