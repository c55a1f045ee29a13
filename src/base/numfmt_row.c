/* A row of float32 values as CSV text, eight values at a time in AVX-512 lanes where the CPU has
 * them. Written by hand because no library formats shortest round-trip floats in vector lanes,
 * and a float image's CSV was a third of its CPU time (16.7 M values, one ff_fmt_float32 call
 * each). The lanes run numfmt.c's float32 Schubfach step and the two common layouts, "725.0125"
 * and "0.00725"; any other value (integers, nine digits, scientific, zero, infinities,
 * subnormals) goes through ff_fmt_float32. The output equals ff_fmt_float32's byte for byte:
 * when written, all 2^32 float32 values were formatted both ways and compared; test_numfmt and
 * fuzz_numfmt keep comparing the two on samples. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/numfmt.h"
#include "base/numfmt_internal.h"

/* One value and its comma; ff_fmt_float32 may store FF_NUMFMT_MAX bytes at its position. */
static char *put_scalar(char *p, float v)
{
    if (!isnan(v))
        p += ff_fmt_float32(v, p);
    *p++ = ',';
    return p;
}

static size_t row_scalar(const float *v, size_t n, char *out)
{
    char *p = out;
    for (size_t i = 0; i < n; i++)
        p = put_scalar(p, v[i]);
    return n ? (size_t)(p - out) - 1 : 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512cd")))

#define LEN_NAN 0        /* an empty field */
#define LEN_SCALAR 255   /* the lane's value goes through ff_fmt_float32 */

/* Upper 64 bits of g * cp (cp < 2^32), ORed with 1 when the lower 64 exceed cp: numfmt.c's
 * round_to_odd32 from two 32x32-bit products. */
T512 static inline __m512i round_to_odd32(__m512i g, __m512i cp)
{
    const __m512i pl = _mm512_mul_epu32(g, cp);
    const __m512i ph = _mm512_mul_epu32(_mm512_srli_epi64(g, 32), cp);
    const __m512i mid = _mm512_add_epi64(ph, _mm512_srli_epi64(pl, 32));
    const __m512i y1 = _mm512_srli_epi64(mid, 32);
    const __m512i y0 = _mm512_or_si512(_mm512_slli_epi64(mid, 32),
                                       _mm512_and_si512(pl, _mm512_set1_epi64(0xffffffff)));
    return _mm512_mask_or_epi64(y1, _mm512_cmpgt_epu64_mask(y0, cp), y1, _mm512_set1_epi64(1));
}

/* Eight values: their text (up to 16 bytes: lo, then hi) and length, or LEN_NAN / LEN_SCALAR. */
T512 static void lanes8(const float *v, const uint64_t *g32, uint64_t lo_out[8], uint64_t hi_out[8],
                        uint64_t len_out[8])
{
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1);
    const __m512i bits = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)v));
    const __m512i abits = _mm512_and_si512(bits, _mm512_set1_epi64(0x7fffffff));
    const __mmask8 nan = _mm512_cmpgt_epu64_mask(abits, _mm512_set1_epi64(0x7f800000));
    /* positional and normal: numfmt.c's 1.00000005e-4 .. 9.9999992e15 test */
    const __mmask8 pos = _mm512_cmpge_epu64_mask(abits, _mm512_set1_epi64(0x38d1b718)) &
                         _mm512_cmple_epu64_mask(abits, _mm512_set1_epi64(0x5a0e1bc9));
    __m512i len = _mm512_mask_blend_epi64(nan, _mm512_set1_epi64(LEN_SCALAR), zero);
    if (!pos) {
        _mm512_storeu_si512(len_out, len);
        return;
    }

    /* Schubfach (numfmt.c's schubfach with f32 set), lane by lane */
    const __m512i frac = _mm512_and_si512(bits, _mm512_set1_epi64(0x7fffff));
    const __m512i c = _mm512_or_si512(frac, _mm512_set1_epi64(0x800000));
    const __m512i q = _mm512_sub_epi64(_mm512_and_si512(_mm512_srli_epi64(bits, 23), _mm512_set1_epi64(0xff)),
                                       _mm512_set1_epi64(150));
    const __mmask8 closer_below = _mm512_cmpeq_epi64_mask(frac, zero); /* the exponent is > 1 here */
    __m512i qk = _mm512_mul_epi32(q, _mm512_set1_epi64(1262611));
    qk = _mm512_mask_sub_epi64(qk, closer_below, qk, _mm512_set1_epi64(524031));
    const __m512i k = _mm512_srai_epi64(qk, 22);
    const __m512i negk = _mm512_sub_epi64(zero, k);
    const __m512i h = _mm512_add_epi64(
        _mm512_add_epi64(q, _mm512_srai_epi64(_mm512_mul_epi32(negk, _mm512_set1_epi64(1741647)), 19)), one);
    const __m512i g = _mm512_mask_i64gather_epi64(zero, pos, negk, (const void *)g32, 8);
    const __m512i cb = _mm512_slli_epi64(c, 2);
    const __m512i cbl = _mm512_mask_add_epi64(_mm512_sub_epi64(cb, _mm512_set1_epi64(2)), closer_below,
                                              _mm512_sub_epi64(cb, _mm512_set1_epi64(2)), one);
    const __m512i cbr = _mm512_add_epi64(cb, _mm512_set1_epi64(2));
    const __m512i vbl = round_to_odd32(g, _mm512_sllv_epi64(cbl, h));
    const __m512i vb = round_to_odd32(g, _mm512_sllv_epi64(cb, h));
    const __m512i vbr = round_to_odd32(g, _mm512_sllv_epi64(cbr, h));
    const __m512i odd = _mm512_and_si512(c, one);
    const __m512i lower = _mm512_add_epi64(vbl, odd), upper = _mm512_sub_epi64(vbr, odd);
    const __m512i s = _mm512_srli_epi64(vb, 2); /* below 2.3e8: 32-bit division by 10 is exact */
    const __m512i sp = _mm512_srli_epi64(_mm512_mul_epu32(s, _mm512_set1_epi64(0xCCCCCCCD)), 35);
    const __m512i sp40 = _mm512_add_epi64(_mm512_slli_epi64(sp, 5), _mm512_slli_epi64(sp, 3));
    const __mmask8 up_in = _mm512_cmple_epu64_mask(lower, sp40);
    const __mmask8 wp_in = _mm512_cmple_epu64_mask(_mm512_add_epi64(sp40, _mm512_set1_epi64(40)), upper);
    const __mmask8 coarse = _mm512_cmpge_epu64_mask(s, _mm512_set1_epi64(10)) & (up_in ^ wp_in);
    const __m512i s4 = _mm512_slli_epi64(s, 2);
    const __mmask8 u_in = _mm512_cmple_epu64_mask(lower, s4);
    const __mmask8 w_in = _mm512_cmple_epu64_mask(_mm512_add_epi64(s4, _mm512_set1_epi64(4)), upper);
    const __mmask8 single = u_in ^ w_in;
    const __m512i mid = _mm512_add_epi64(s4, _mm512_set1_epi64(2));
    const __mmask8 up = _mm512_cmpgt_epu64_mask(vb, mid) |
                        (_mm512_cmpeq_epu64_mask(vb, mid) & _mm512_test_epi64_mask(s, one));
    const __mmask8 inc = (single & w_in) | (~single & up);
    const __m512i fine = _mm512_mask_add_epi64(s, inc, s, one);
    const __m512i sd = _mm512_mask_mov_epi64(fine, coarse, _mm512_mask_add_epi64(sp, wp_in, sp, one));
    const __m512i kd = _mm512_mask_add_epi64(k, coarse, k, one);

    /* The eight digits of sd < 10^8 (leading zeros included), the first in the lowest byte, as
     * numfmt.c's digits8: 4-digit halves, then 2-digit quarters, then digits, by multiplications */
    const __mmask8 ok = pos & _mm512_cmplt_epu64_mask(sd, _mm512_set1_epi64(100000000));
    const __m512i a = _mm512_srli_epi64(_mm512_mul_epu32(sd, _mm512_set1_epi64(3518437209u)), 45);
    const __m512i b = _mm512_sub_epi64(sd, _mm512_mul_epu32(a, _mm512_set1_epi64(10000)));
    const __m512i w = _mm512_or_si512(a, _mm512_slli_epi64(b, 32));
    const __m512i w100 = _mm512_srli_epi32(_mm512_mullo_epi32(w, _mm512_set1_epi32(10486)), 20);
    const __m512i w2 = _mm512_or_si512(
        w100, _mm512_slli_epi32(_mm512_sub_epi32(w, _mm512_mullo_epi32(w100, _mm512_set1_epi32(100))), 16));
    const __m512i w10 = _mm512_srli_epi16(_mm512_mullo_epi16(w2, _mm512_set1_epi16(103)), 10);
    const __m512i x = _mm512_or_si512(
        w10, _mm512_slli_epi16(_mm512_sub_epi16(w2, _mm512_mullo_epi16(w10, _mm512_set1_epi16(10))), 8));
    const __m512i ascii = _mm512_or_si512(x, _mm512_set1_epi64(0x3030303030303030));
    /* '0' digits before the first significant one (lead) and after the last (trail) */
    const __m512i trail = _mm512_srli_epi64(_mm512_lzcnt_epi64(x), 3);
    const __m512i lowbit = _mm512_and_si512(x, _mm512_sub_epi64(zero, x));
    const __m512i lead =
        _mm512_srli_epi64(_mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(lowbit)), 3);
    const __m512i eight = _mm512_set1_epi64(8);
    const __m512i n = _mm512_sub_epi64(_mm512_sub_epi64(eight, lead), trail); /* digits kept */
    const __m512i ip = _mm512_add_epi64(_mm512_sub_epi64(eight, lead), kd);  /* before the point */
    const __mmask8 fraction = _mm512_cmplt_epi64_mask(_mm512_add_epi64(kd, trail), zero);
    const __mmask8 point = ok & fraction & _mm512_cmpgt_epi64_mask(ip, zero);          /* 725.0125 */
    const __mmask8 small = ok & _mm512_cmple_epi64_mask(ip, zero) &
                           _mm512_cmpge_epi64_mask(ip, _mm512_set1_epi64(-3));         /* 0.00725 */
    const __m512i d = _mm512_srlv_epi64(ascii, _mm512_slli_epi64(lead, 3)); /* from byte 0 */

    /* 725.0125: the first ip digits, '.', the rest (numfmt.c's layout32) */
    const __m512i sh = _mm512_slli_epi64(ip, 3);
    const __m512i high = _mm512_srlv_epi64(d, sh);
    const __m512i lo_p = _mm512_or_si512(
        _mm512_or_si512(_mm512_and_si512(d, _mm512_sub_epi64(_mm512_sllv_epi64(one, sh), one)),
                        _mm512_sllv_epi64(_mm512_set1_epi64('.'), sh)),
        _mm512_sllv_epi64(high, _mm512_add_epi64(sh, eight)));
    const __m512i hi_p = _mm512_srlv_epi64(high, _mm512_sub_epi64(_mm512_set1_epi64(56), sh));
    /* 0.00725: "0." and -ip zeros (m = 2 - ip bytes), then the digits */
    const __m512i m8 = _mm512_slli_epi64(_mm512_sub_epi64(_mm512_set1_epi64(2), ip), 3);
    const __m512i prefix = _mm512_and_si512(_mm512_set1_epi64(0x3030302E30), /* "0.000" */
                                            _mm512_sub_epi64(_mm512_sllv_epi64(one, m8), one));
    const __m512i lo_z = _mm512_or_si512(prefix, _mm512_sllv_epi64(d, m8));
    const __m512i hi_z = _mm512_srlv_epi64(d, _mm512_sub_epi64(_mm512_set1_epi64(64), m8));

    __m512i lo = _mm512_mask_blend_epi64(point, lo_z, lo_p);
    __m512i hi = _mm512_mask_blend_epi64(point, hi_z, hi_p);
    len = _mm512_mask_mov_epi64(len, point, _mm512_add_epi64(n, one));
    len = _mm512_mask_mov_epi64(len, small, _mm512_add_epi64(n, _mm512_srli_epi64(m8, 3)));
    /* a minus sign in front: the 16 bytes move up by one */
    const __mmask8 neg = (point | small) & _mm512_test_epi64_mask(bits, _mm512_set1_epi64(0x80000000));
    hi = _mm512_mask_mov_epi64(hi, neg, _mm512_or_si512(_mm512_slli_epi64(hi, 8), _mm512_srli_epi64(lo, 56)));
    lo = _mm512_mask_mov_epi64(lo, neg, _mm512_or_si512(_mm512_slli_epi64(lo, 8), _mm512_set1_epi64('-')));
    len = _mm512_mask_add_epi64(len, neg, len, one);
    _mm512_storeu_si512(lo_out, lo);
    _mm512_storeu_si512(hi_out, hi);
    _mm512_storeu_si512(len_out, len);
}

T512 static size_t row_avx512(const float *v, size_t n, char *out)
{
    const uint64_t *g32 = ff_numfmt_g32();
    char *p = out;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t lo[8], hi[8], len[8];
        lanes8(v + i, g32, lo, hi, len);
        for (int j = 0; j < 8; j++) {
            if (len[j] != LEN_SCALAR) {
                memcpy(p, &lo[j], 8); /* 16 bytes stored, at most 15 kept: within the value's room */
                memcpy(p + 8, &hi[j], 8);
                p += len[j];
                *p++ = ',';
            } else {
                p = put_scalar(p, v[i + (size_t)j]);
            }
        }
    }
    for (; i < n; i++)
        p = put_scalar(p, v[i]);
    return n ? (size_t)(p - out) - 1 : 0;
}

static int have_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd");
}
#else
static int have_avx512(void) { return 0; }
static size_t row_avx512(const float *v, size_t n, char *out) { return row_scalar(v, n, out); }
#endif

size_t ff_fmt_float32_row(const float *v, size_t n, char *out)
{
    static int use = -1; /* whether the CPU has the lanes; first callers may all ask */
    int u = __atomic_load_n(&use, __ATOMIC_RELAXED);
    if (u < 0) {
        u = have_avx512();
        __atomic_store_n(&use, u, __ATOMIC_RELAXED);
    }
    return u ? row_avx512(v, n, out) : row_scalar(v, n, out);
}
