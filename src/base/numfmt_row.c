/* A row of float32 values as CSV text, eight values at a time in AVX-512 lanes, or four in
 * AVX2's, where the CPU has them. Written by hand because no library formats shortest round-trip
 * floats in vector lanes, and a float image's CSV was a third of its CPU time (16.7 M values, one
 * ff_fmt_float32 call each). The lanes run numfmt.c's float32 Schubfach step and the two common
 * layouts, "725.0125" and "0.00725"; any other value (integers, nine digits, scientific, zero,
 * infinities, subnormals) goes through ff_fmt_float32. The output equals ff_fmt_float32's byte
 * for byte: when written, all 2^32 float32 values were formatted each way (scalar, AVX2, AVX-512)
 * and compared; test_numfmt and fuzz_numfmt keep comparing them on samples. */
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
T512 static void lanes8(const float *v, const uint64_t *g32, uint64_t *lo_out, uint64_t *hi_out,
                        uint64_t *len_out)
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

/* The same in AVX2's four 64-bit lanes, for CPUs without AVX-512. AVX2 has no unsigned 64-bit
 * compare, no 64-bit arithmetic shift and no leading-zero count: compares flip the sign bit,
 * the small signed products are shifted with a bias, and the digit counts come from compares. */
#define T256 __attribute__((target("avx2")))

T256 static inline __m256i gt_u64(__m256i a, __m256i b) /* a > b, unsigned: all ones or zero */
{
    const __m256i sign = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    return _mm256_cmpgt_epi64(_mm256_xor_si256(a, sign), _mm256_xor_si256(b, sign));
}

T256 static inline __m256i le_u64(__m256i a, __m256i b)
{
    return _mm256_xor_si256(gt_u64(a, b), _mm256_set1_epi64x(-1));
}

T256 static inline __m256i sel(__m256i mask, __m256i yes, __m256i no)
{
    return _mm256_blendv_epi8(no, yes, mask);
}

T256 static inline __m256i round_to_odd32_avx2(__m256i g, __m256i cp)
{
    const __m256i pl = _mm256_mul_epu32(g, cp);
    const __m256i ph = _mm256_mul_epu32(_mm256_srli_epi64(g, 32), cp);
    const __m256i mid = _mm256_add_epi64(ph, _mm256_srli_epi64(pl, 32));
    const __m256i y1 = _mm256_srli_epi64(mid, 32);
    const __m256i y0 = _mm256_or_si256(_mm256_slli_epi64(mid, 32),
                                       _mm256_and_si256(pl, _mm256_set1_epi64x(0xffffffff)));
    return _mm256_or_si256(y1, _mm256_and_si256(gt_u64(y0, cp), _mm256_set1_epi64x(1)));
}

T256 static void lanes4(const float *v, const uint64_t *g32, uint64_t *lo_out, uint64_t *hi_out,
                        uint64_t *len_out)
{
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi64x(1);
    const __m256i bits = _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)v));
    const __m256i abits = _mm256_and_si256(bits, _mm256_set1_epi64x(0x7fffffff));
    const __m256i nan = _mm256_cmpgt_epi64(abits, _mm256_set1_epi64x(0x7f800000)); /* < 2^31: signed */
    const __m256i pos = _mm256_andnot_si256(
        _mm256_or_si256(_mm256_cmpgt_epi64(_mm256_set1_epi64x(0x38d1b718), abits),
                        _mm256_cmpgt_epi64(abits, _mm256_set1_epi64x(0x5a0e1bc9))),
        _mm256_set1_epi64x(-1));
    __m256i len = sel(nan, zero, _mm256_set1_epi64x(LEN_SCALAR));
    if (_mm256_testz_si256(pos, pos)) {
        _mm256_storeu_si256((__m256i *)len_out, len);
        return;
    }

    const __m256i frac = _mm256_and_si256(bits, _mm256_set1_epi64x(0x7fffff));
    const __m256i c = _mm256_or_si256(frac, _mm256_set1_epi64x(0x800000));
    const __m256i q = _mm256_sub_epi64(_mm256_and_si256(_mm256_srli_epi64(bits, 23), _mm256_set1_epi64x(0xff)),
                                       _mm256_set1_epi64x(150));
    const __m256i closer_below = _mm256_cmpeq_epi64(frac, zero);
    /* floor((q * 1262611 [- 524031]) / 2^22): the products are below 2^28 in size, so a bias of
     * 2^30 makes them positive and a logical shift floors them */
    __m256i qk = _mm256_mul_epi32(q, _mm256_set1_epi64x(1262611));
    qk = _mm256_sub_epi64(qk, _mm256_and_si256(closer_below, _mm256_set1_epi64x(524031)));
    const __m256i k = _mm256_sub_epi64(_mm256_srli_epi64(_mm256_add_epi64(qk, _mm256_set1_epi64x(1 << 30)), 22),
                                       _mm256_set1_epi64x(1 << 8));
    const __m256i negk = _mm256_sub_epi64(zero, k);
    const __m256i l2 = _mm256_sub_epi64(
        _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(negk, _mm256_set1_epi64x(1741647)),
                                           _mm256_set1_epi64x(1 << 30)), 19),
        _mm256_set1_epi64x(1 << 11));
    const __m256i h = _mm256_add_epi64(_mm256_add_epi64(q, l2), one);
    const __m256i g = _mm256_mask_i64gather_epi64(zero, (const long long *)g32, negk, pos, 8);
    const __m256i cb = _mm256_slli_epi64(c, 2);
    const __m256i cbl = _mm256_add_epi64(_mm256_sub_epi64(cb, _mm256_set1_epi64x(2)), _mm256_and_si256(closer_below, one));
    const __m256i cbr = _mm256_add_epi64(cb, _mm256_set1_epi64x(2));
    const __m256i vbl = round_to_odd32_avx2(g, _mm256_sllv_epi64(cbl, h));
    const __m256i vb = round_to_odd32_avx2(g, _mm256_sllv_epi64(cb, h));
    const __m256i vbr = round_to_odd32_avx2(g, _mm256_sllv_epi64(cbr, h));
    const __m256i odd = _mm256_and_si256(c, one);
    const __m256i lower = _mm256_add_epi64(vbl, odd), upper = _mm256_sub_epi64(vbr, odd);
    const __m256i s = _mm256_srli_epi64(vb, 2);
    const __m256i sp = _mm256_srli_epi64(_mm256_mul_epu32(s, _mm256_set1_epi64x(0xCCCCCCCD)), 35);
    const __m256i sp40 = _mm256_add_epi64(_mm256_slli_epi64(sp, 5), _mm256_slli_epi64(sp, 3));
    const __m256i up_in = le_u64(lower, sp40);
    const __m256i wp_in = le_u64(_mm256_add_epi64(sp40, _mm256_set1_epi64x(40)), upper);
    const __m256i coarse = _mm256_and_si256(gt_u64(s, _mm256_set1_epi64x(9)), _mm256_xor_si256(up_in, wp_in));
    const __m256i s4 = _mm256_slli_epi64(s, 2);
    const __m256i u_in = le_u64(lower, s4);
    const __m256i w_in = le_u64(_mm256_add_epi64(s4, _mm256_set1_epi64x(4)), upper);
    const __m256i single = _mm256_xor_si256(u_in, w_in);
    const __m256i mid = _mm256_add_epi64(s4, _mm256_set1_epi64x(2));
    const __m256i up = _mm256_or_si256(
        gt_u64(vb, mid), _mm256_and_si256(_mm256_cmpeq_epi64(vb, mid), _mm256_cmpeq_epi64(_mm256_and_si256(s, one), one)));
    const __m256i inc = sel(single, w_in, up);
    const __m256i fine = _mm256_sub_epi64(s, inc); /* inc is all ones (-1) or zero */
    const __m256i sd = sel(coarse, _mm256_sub_epi64(sp, wp_in), fine);
    const __m256i kd = _mm256_sub_epi64(k, coarse);

    const __m256i ok = _mm256_and_si256(pos, gt_u64(_mm256_set1_epi64x(100000000), sd));
    const __m256i a = _mm256_srli_epi64(_mm256_mul_epu32(sd, _mm256_set1_epi64x(3518437209u)), 45);
    const __m256i b = _mm256_sub_epi64(sd, _mm256_mul_epu32(a, _mm256_set1_epi64x(10000)));
    const __m256i w = _mm256_or_si256(a, _mm256_slli_epi64(b, 32));
    const __m256i w100 = _mm256_srli_epi32(_mm256_mullo_epi32(w, _mm256_set1_epi32(10486)), 20);
    const __m256i w2 = _mm256_or_si256(
        w100, _mm256_slli_epi32(_mm256_sub_epi32(w, _mm256_mullo_epi32(w100, _mm256_set1_epi32(100))), 16));
    const __m256i w10 = _mm256_srli_epi16(_mm256_mullo_epi16(w2, _mm256_set1_epi16(103)), 10);
    const __m256i x = _mm256_or_si256(
        w10, _mm256_slli_epi16(_mm256_sub_epi16(w2, _mm256_mullo_epi16(w10, _mm256_set1_epi16(10))), 8));
    const __m256i ascii = _mm256_or_si256(x, _mm256_set1_epi64x(0x3030303030303030));
    /* lead: 8 minus sd's digit count; trail: the zero bytes at x's top */
    __m256i lead = _mm256_set1_epi64x(7), trail = zero;
    static const long long P10[7] = {10, 100, 1000, 10000, 100000, 1000000, 10000000};
    for (int t = 0; t < 7; t++) {
        lead = _mm256_add_epi64(lead, _mm256_cmpgt_epi64(sd, _mm256_set1_epi64x(P10[t] - 1)));
        trail = _mm256_sub_epi64(trail, gt_u64(_mm256_set1_epi64x((long long)(1ull << (56 - 8 * t))), x));
    }
    const __m256i eight = _mm256_set1_epi64x(8);
    const __m256i n = _mm256_sub_epi64(_mm256_sub_epi64(eight, lead), trail);
    const __m256i ip = _mm256_add_epi64(_mm256_sub_epi64(eight, lead), kd);
    const __m256i fraction = _mm256_cmpgt_epi64(zero, _mm256_add_epi64(kd, trail));
    const __m256i point = _mm256_and_si256(_mm256_and_si256(ok, fraction), _mm256_cmpgt_epi64(ip, zero));
    const __m256i small = _mm256_and_si256(
        _mm256_andnot_si256(_mm256_cmpgt_epi64(ip, zero), ok), _mm256_cmpgt_epi64(ip, _mm256_set1_epi64x(-4)));
    const __m256i d = _mm256_srlv_epi64(ascii, _mm256_slli_epi64(lead, 3));

    const __m256i sh = _mm256_slli_epi64(ip, 3);
    const __m256i high = _mm256_srlv_epi64(d, sh);
    const __m256i lo_p = _mm256_or_si256(
        _mm256_or_si256(_mm256_and_si256(d, _mm256_sub_epi64(_mm256_sllv_epi64(one, sh), one)),
                        _mm256_sllv_epi64(_mm256_set1_epi64x('.'), sh)),
        _mm256_sllv_epi64(high, _mm256_add_epi64(sh, eight)));
    const __m256i hi_p = _mm256_srlv_epi64(high, _mm256_sub_epi64(_mm256_set1_epi64x(56), sh));
    const __m256i m8 = _mm256_slli_epi64(_mm256_sub_epi64(_mm256_set1_epi64x(2), ip), 3);
    const __m256i prefix = _mm256_and_si256(_mm256_set1_epi64x(0x3030302E30),
                                            _mm256_sub_epi64(_mm256_sllv_epi64(one, m8), one));
    const __m256i lo_z = _mm256_or_si256(prefix, _mm256_sllv_epi64(d, m8));
    const __m256i hi_z = _mm256_srlv_epi64(d, _mm256_sub_epi64(_mm256_set1_epi64x(64), m8));

    __m256i lo = sel(point, lo_p, lo_z);
    __m256i hi = sel(point, hi_p, hi_z);
    len = sel(point, _mm256_add_epi64(n, one), len);
    len = sel(small, _mm256_add_epi64(n, _mm256_srli_epi64(m8, 3)), len);
    const __m256i neg = _mm256_and_si256(_mm256_or_si256(point, small),
                                         _mm256_cmpeq_epi64(_mm256_srli_epi64(bits, 31), one));
    hi = sel(neg, _mm256_or_si256(_mm256_slli_epi64(hi, 8), _mm256_srli_epi64(lo, 56)), hi);
    lo = sel(neg, _mm256_or_si256(_mm256_slli_epi64(lo, 8), _mm256_set1_epi64x('-')), lo);
    len = _mm256_sub_epi64(len, neg);
    _mm256_storeu_si256((__m256i *)lo_out, lo);
    _mm256_storeu_si256((__m256i *)hi_out, hi);
    _mm256_storeu_si256((__m256i *)len_out, len);
}

/* The lanes' texts in order, with commas; values the lanes leave go through ff_fmt_float32. */
static inline char *put_lanes(char *p, const float *v, int nl, const uint64_t *lo, const uint64_t *hi,
                              const uint64_t *len)
{
    for (int j = 0; j < nl; j++) {
        if (len[j] != LEN_SCALAR) {
            memcpy(p, &lo[j], 8); /* 16 bytes stored, at most 15 kept: within the value's room */
            memcpy(p + 8, &hi[j], 8);
            p += len[j];
            *p++ = ',';
        } else {
            p = put_scalar(p, v[j]);
        }
    }
    return p;
}

typedef void lanes_fn(const float *v, const uint64_t *g32, uint64_t *lo, uint64_t *hi, uint64_t *len);

/* A row through lanes of the given width (4 or 8), the last values one by one. */
static size_t row_lanes(const float *v, size_t n, char *out, int width, lanes_fn *lanes)
{
    const uint64_t *g32 = ff_numfmt_g32();
    char *p = out;
    size_t i = 0;
    for (; i + (size_t)width <= n; i += (size_t)width) {
        uint64_t lo[8], hi[8], len[8];
        lanes(v + i, g32, lo, hi, len);
        p = put_lanes(p, v + i, width, lo, hi, len);
    }
    for (; i < n; i++)
        p = put_scalar(p, v[i]);
    return n ? (size_t)(p - out) - 1 : 0;
}

static size_t row_avx2(const float *v, size_t n, char *out)
{
    return row_lanes(v, n, out, 4, lanes4);
}

static size_t row_avx512(const float *v, size_t n, char *out)
{
    return row_lanes(v, n, out, 8, lanes8);
}

/* The widest lanes the CPU has: 2 (AVX-512), 1 (AVX2) or 0. */
static int cpu_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512cd"))
        return 2;
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}
#else
static int cpu_level(void) { return 0; }
static size_t row_avx512(const float *v, size_t n, char *out) { return row_scalar(v, n, out); }
static size_t row_avx2(const float *v, size_t n, char *out) { return row_scalar(v, n, out); }
#endif

int ff_numfmt_row_level(void)
{
    static int level = -1; /* first callers may all ask: they store the same answer */
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        l = cpu_level();
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}

size_t ff_fmt_float32_row_at(const float *v, size_t n, char *out, int level)
{
    if (level > ff_numfmt_row_level())
        level = ff_numfmt_row_level();
    return level >= 2 ? row_avx512(v, n, out) : level == 1 ? row_avx2(v, n, out) : row_scalar(v, n, out);
}

size_t ff_fmt_float32_row(const float *v, size_t n, char *out)
{
    return ff_fmt_float32_row_at(v, n, out, 2);
}
