/* The cubic B-spline prefilter and weights behind level 1.5 (prep_spline.h). Written from the
 * recursive-filter method of Unser, Aldroubi and Eden (IEEE PAMI 13:277, 1991): a gain, then a
 * causal and an anti-causal first-order pass with pole z = sqrt(3) - 2; the mirror boundary sets
 * the first value of each pass. scipy 1.10 computes the same sums in the same order, so results
 * agree with scipy.ndimage to the last bits. */
#include "core/prep/prep_spline.h"
#include "core/prep/prep_simd.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Terms of the causal start below this weight are lost in a double's rounding. */
#define TAIL 1e-22

static double gain(void)
{
    const double z = FF_SPLINE_POLE;
    return (1.0 - z) * (1.0 - 1.0 / z);
}

void ff_spline_prefilter(double *c, size_t n)
{
    if (n <= 1)
        return;
    const double z = FF_SPLINE_POLE, g = gain();
    for (size_t i = 0; i < n; i++)
        c[i] *= g;
    /* Causal start: the sum over the mirrored signal, sum_i z^i (c[i] + z^(n-1) c[n-1-i]),
     * divided by 1 - z^(2n-2). Beyond TAIL the terms no longer change c[0]. */
    const double zn1 = pow(z, (double)(n - 1));
    double s = c[0] + zn1 * c[n - 1], zi = z;
    for (size_t i = 1; i + 1 < n && fabs(zi) > TAIL; i++) {
        s += zi * (c[i] + zn1 * c[n - 1 - i]);
        zi *= z;
    }
    c[0] = s / (1.0 - zn1 * zn1);
    for (size_t i = 1; i < n; i++)
        c[i] += z * c[i - 1];
    /* Anti-causal start from the mirror condition at the last sample. */
    c[n - 1] = (z * c[n - 2] + c[n - 1]) * z / (z * z - 1.0);
    for (size_t i = n - 1; i-- > 0;)
        c[i] = z * (c[i + 1] - c[i]);
}

/* The filters of whole images below keep their values as float32 between passes (half the
 * memory of doubles, and half the traffic) and compute in double. Every line goes through the
 * same operations, whether in a vector lane or alone (line_f32), so that how an image is split
 * into bands and blocks never changes a result. */
static void line_f32(float *c, size_t n, size_t stride)
{
    const double z = FF_SPLINE_POLE, g = gain();
    const double zn1 = pow(z, (double)(n - 1)), den = 1.0 - zn1 * zn1, k = z / (z * z - 1.0);
    float *last = c + (n - 1) * stride;
    double acc = (double)c[0] + zn1 * (double)*last, zi = z;
    for (size_t i = 1; i + 1 < n && fabs(zi) > TAIL; i++) {
        acc += zi * ((double)c[i * stride] + zn1 * (double)c[(n - 1 - i) * stride]);
        zi *= z;
    }
    acc = (g * acc) / den;
    c[0] = (float)acc;
    for (size_t i = 1; i < n; i++) {
        acc = g * (double)c[i * stride] + z * acc;
        c[i * stride] = (float)acc;
    }
    acc = (z * (double)last[-(ptrdiff_t)stride] + (double)*last) * k;
    *last = (float)acc;
    for (size_t i = n - 1; i-- > 0;) {
        acc = z * (acc - (double)c[i * stride]);
        c[i * stride] = (float)acc;
    }
}

/* Four lines per vector, up to LINES_MAXV vectors (128 lines) side by side. The gain is applied
 * as the forward pass reads each value (one sweep fewer than the scalar form; the same numbers
 * up to the last bit). */
typedef ff_v4d v4d;
typedef ff_v4f v4f;
#define LINES_MAXV 32

/* Four floats in as doubles (through the kernel's `widen`: prep_simd.h), and back; no alignment
 * assumed. */
#define LD(v, p) widen((p), &(v))
#define ST(p, v)                                                                                   \
    do {                                                                                           \
        const v4f f_ = __builtin_convertvector((v), v4f);                                          \
        memcpy((p), &f_, sizeof f_);                                                               \
    } while (0)

static inline __attribute__((always_inline)) void lines_vec_body(float *c, size_t n,
                                                                  size_t stride, size_t nv,
                                                                  ff_widen4_fn widen)
{
    const double z = FF_SPLINE_POLE, g = gain();
    const double zn1 = pow(z, (double)(n - 1)), den = 1.0 - zn1 * zn1, k = z / (z * z - 1.0);
    v4d acc[LINES_MAXV], x, y;
    float *last = c + (n - 1) * stride;
    for (size_t v = 0; v < nv; v++) {
        LD(x, c + 4 * v);
        LD(y, last + 4 * v);
        acc[v] = x + zn1 * y;
    }
    double zi = z;
    for (size_t i = 1; i + 1 < n && fabs(zi) > TAIL; i++) {
        const float *a = c + i * stride, *b = c + (n - 1 - i) * stride;
        for (size_t v = 0; v < nv; v++) {
            LD(x, a + 4 * v);
            LD(y, b + 4 * v);
            acc[v] += zi * (x + zn1 * y);
        }
        zi *= z;
    }
    for (size_t v = 0; v < nv; v++) {
        acc[v] = (g * acc[v]) / den;
        ST(c + 4 * v, acc[v]);
    }
    for (size_t i = 1; i < n; i++) {
        float *r = c + i * stride;
        for (size_t v = 0; v < nv; v++) {
            LD(x, r + 4 * v);
            acc[v] = g * x + z * acc[v];
            ST(r + 4 * v, acc[v]);
        }
    }
    const float *prev = last - stride;
    for (size_t v = 0; v < nv; v++) {
        LD(x, prev + 4 * v);
        LD(y, last + 4 * v);
        acc[v] = (z * x + y) * k;
        ST(last + 4 * v, acc[v]);
    }
    for (size_t i = n - 1; i-- > 0;) {
        float *r = c + i * stride;
        for (size_t v = 0; v < nv; v++) {
            LD(x, r + 4 * v);
            acc[v] = z * (acc[v] - x);
            ST(r + 4 * v, acc[v]);
        }
    }
}

#ifdef FF_PREP_X86_CLONES
#define FF_HAVE_AVX2_CLONE 1
__attribute__((target("avx2"))) static void lines_vec_avx2(float *c, size_t n, size_t stride,
                                                             size_t nv)
{
    lines_vec_body(c, n, stride, nv, ff_widen4_avx2);
}
#endif

static void lines_vec_base(float *c, size_t n, size_t stride, size_t nv)
{
    lines_vec_body(c, n, stride, nv, ff_widen4_generic);
}

void ff_spline_prefilter_lines(float *c, size_t n, size_t stride, size_t count)
{
    if (n <= 1 || count == 0)
        return;
    size_t done = 0;
#ifdef FF_HAVE_AVX2_CLONE
    const int avx2 = __builtin_cpu_supports("avx2");
#else
    const int avx2 = 0;
#endif
    while (count - done >= 4) {
        size_t nv = (count - done) / 4;
        if (nv > LINES_MAXV)
            nv = LINES_MAXV;
#ifdef FF_HAVE_AVX2_CLONE
        if (avx2)
            lines_vec_avx2(c + done, n, stride, nv);
        else
#endif
            lines_vec_base(c + done, n, stride, nv);
        done += 4 * nv;
    }
    (void)avx2;
    for (; done < count; done++)
        line_f32(c + done, n, stride);
}

/* Four rows at once, one per lane: blocks of four columns are loaded row by row and transposed
 * (and back), so the recursion runs down the lanes. */
static inline __attribute__((always_inline)) void transpose4(v4d *a, v4d *b, v4d *c, v4d *d)
{
    const v4d t0 = __builtin_shufflevector(*a, *b, 0, 4, 2, 6);
    const v4d t1 = __builtin_shufflevector(*a, *b, 1, 5, 3, 7);
    const v4d t2 = __builtin_shufflevector(*c, *d, 0, 4, 2, 6);
    const v4d t3 = __builtin_shufflevector(*c, *d, 1, 5, 3, 7);
    *a = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
    *b = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
    *c = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
    *d = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}

static inline __attribute__((always_inline)) void rows4_body(float *c, size_t n, size_t stride,
                                                              ff_widen4_fn widen)
{
    const double z = FF_SPLINE_POLE, g = gain();
    const double zn1 = pow(z, (double)(n - 1)), den = 1.0 - zn1 * zn1, k = z / (z * z - 1.0);
    float *r0 = c, *r1 = c + stride, *r2 = c + 2 * stride, *r3 = c + 3 * stride;
#define GATHER(i) ((v4d){r0[i], r1[i], r2[i], r3[i]})
#define SCATTER(i, v)                                                                              \
    (r0[i] = (float)(v)[0], r1[i] = (float)(v)[1], r2[i] = (float)(v)[2], r3[i] = (float)(v)[3])
    v4d acc = GATHER(0) + zn1 * GATHER(n - 1);
    double zi = z;
    for (size_t i = 1; i + 1 < n && fabs(zi) > TAIL; i++) {
        acc += zi * (GATHER(i) + zn1 * GATHER(n - 1 - i));
        zi *= z;
    }
    acc = (g * acc) / den;
    SCATTER(0, acc);
    size_t i = 1;
    for (; i < n && (i & 3); i++) {
        acc = g * GATHER(i) + z * acc;
        SCATTER(i, acc);
    }
    for (; i + 4 <= n; i += 4) {
        v4d a, b, cc, d;
        LD(a, r0 + i);
        LD(b, r1 + i);
        LD(cc, r2 + i);
        LD(d, r3 + i);
        transpose4(&a, &b, &cc, &d);
        acc = g * a + z * acc;
        a = acc;
        acc = g * b + z * acc;
        b = acc;
        acc = g * cc + z * acc;
        cc = acc;
        acc = g * d + z * acc;
        d = acc;
        transpose4(&a, &b, &cc, &d);
        ST(r0 + i, a);
        ST(r1 + i, b);
        ST(r2 + i, cc);
        ST(r3 + i, d);
    }
    for (; i < n; i++) {
        acc = g * GATHER(i) + z * acc;
        SCATTER(i, acc);
    }
    acc = (z * GATHER(n - 2) + GATHER(n - 1)) * k;
    SCATTER(n - 1, acc);
    /* Backward over i = n-2 .. 0: single lanes until i + 1 is a multiple of 4, then blocks
     * [i-3, i]. */
    size_t m = n - 1; /* elements left: indices 0 .. m-1 */
    for (; m > 0 && (m & 3); m--) {
        acc = z * (acc - GATHER(m - 1));
        SCATTER(m - 1, acc);
    }
    for (; m >= 4; m -= 4) {
        const size_t b0 = m - 4;
        v4d a, b, cc, d;
        LD(a, r0 + b0);
        LD(b, r1 + b0);
        LD(cc, r2 + b0);
        LD(d, r3 + b0);
        transpose4(&a, &b, &cc, &d);
        acc = z * (acc - d);
        d = acc;
        acc = z * (acc - cc);
        cc = acc;
        acc = z * (acc - b);
        b = acc;
        acc = z * (acc - a);
        a = acc;
        transpose4(&a, &b, &cc, &d);
        ST(r0 + b0, a);
        ST(r1 + b0, b);
        ST(r2 + b0, cc);
        ST(r3 + b0, d);
    }
#undef GATHER
#undef SCATTER
}

#ifdef FF_HAVE_AVX2_CLONE
__attribute__((target("avx2"))) static void rows4_avx2(float *c, size_t n, size_t stride)
{
    rows4_body(c, n, stride, ff_widen4_avx2);
}
#endif

static void rows4_base(float *c, size_t n, size_t stride)
{
    rows4_body(c, n, stride, ff_widen4_generic);
}

void ff_spline_prefilter_rows(float *c, size_t n, size_t stride, size_t count)
{
    if (n <= 1 || count == 0)
        return;
#ifdef FF_HAVE_AVX2_CLONE
    const int avx2 = __builtin_cpu_supports("avx2");
#endif
    size_t r = 0;
    for (; r + 4 <= count; r += 4) {
#ifdef FF_HAVE_AVX2_CLONE
        if (avx2)
            rows4_avx2(c + r * stride, n, stride);
        else
#endif
            rows4_base(c + r * stride, n, stride);
    }
    for (; r < count; r++)
        line_f32(c + r * stride, n, 1);
}

void ff_spline_weights(double x, double w[4])
{
    const double t = x - floor(x); /* 0 <= t < 1: distance past the knot floor(x) */
    const double u = 1.0 - t;
    w[1] = (t * t * (t - 2.0) * 3.0 + 4.0) / 6.0;
    w[2] = (u * u * (u - 2.0) * 3.0 + 4.0) / 6.0;
    w[0] = u * u * u / 6.0;
    w[3] = 1.0 - w[0] - w[1] - w[2];
}

long ff_spline_mirror(long i, long len)
{
    if (len <= 1)
        return 0;
    const long p = 2 * len - 2;
    if (i < 0) {
        i = -i;
    }
    i %= p;
    if (i >= len)
        i = p - i;
    return i;
}
