/* Cubic B-spline pieces of level 1.5 (prep.h), kept apart so that unit tests reach them:
 * the prefilter that turns samples into spline coefficients (scipy.ndimage.spline_filter1d,
 * order 3, mirror boundary: what affine_transform(mode='constant') uses), the interpolation
 * weights, and the mirror index rule used beyond the array's ends. */
#ifndef FF_CORE_PREP_PREP_SPLINE_H
#define FF_CORE_PREP_PREP_SPLINE_H

#include <stddef.h>

/* The pole of the cubic B-spline prefilter, sqrt(3) - 2. */
#define FF_SPLINE_POLE (-0.267949192431122706472553658494127633)

/* In place: samples c[0..n) become the cubic B-spline coefficients whose spline passes through
 * them, the signal being mirrored about its first and last samples (c[-i] = c[i],
 * c[n-1+i] = c[n-1-i]). n <= 1 leaves c unchanged. */
void ff_spline_prefilter(double *c, size_t n);

/* The same filter on `count` interleaved lines at once, stored as float32 and computed in
 * double (float32 between the passes: about 1e-7 of the values' range beside the double
 * filter): element i of line j is c[i * stride + j], for j in [0, count). Used for columns, a
 * whole row of them per step. Each line's result is the same however many are filtered at once
 * (and the same as ff_spline_prefilter_rows gives it). */
void ff_spline_prefilter_lines(float *c, size_t n, size_t stride, size_t count);

/* The same on `count` contiguous float32 lines of n values, line r starting at c + r * stride,
 * four side by side (their dependency chains interleave). */
void ff_spline_prefilter_rows(float *c, size_t n, size_t stride, size_t count);

/* Weights of the four coefficients floor(x)-1 .. floor(x)+2 for the spline value at x; they sum
 * to 1. */
void ff_spline_weights(double x, double w[4]);

/* The mirror rule for an index outside [0, len): reflected about 0 and len-1 (period 2*len-2),
 * as scipy maps spline coefficients beyond an edge. len must be >= 1. */
long ff_spline_mirror(long i, long len);

#endif
