/* Vector types and the float32 -> double widening shared by the level-1.5 kernels (prep_spline.c,
 * prep_register.c), which compile each kernel twice: for AVX2 and for any x86-64 (or any CPU).
 * GCC 12 splits __builtin_convertvector(v4f -> v4d) into halves (five instructions where AVX has
 * one), so a kernel takes its widening as a parameter: ff_widen4_avx2 in the AVX2 build,
 * ff_widen4_generic otherwise. Both are inlined; nothing is called through the pointer. */
#ifndef FF_CORE_PREP_PREP_SIMD_H
#define FF_CORE_PREP_PREP_SIMD_H

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FF_PREP_X86_CLONES 1
#endif

typedef double ff_v4d __attribute__((vector_size(32)));
typedef float ff_v4f __attribute__((vector_size(16)));

/* *out = the four floats at p, as doubles (p needs no alignment). */
typedef void (*ff_widen4_fn)(const float *p, ff_v4d *out);

static inline __attribute__((always_inline)) void ff_widen4_generic(const float *p, ff_v4d *out)
{
    ff_v4f f;
    memcpy(&f, p, sizeof f);
    *out = __builtin_convertvector(f, ff_v4d);
}

#ifdef FF_PREP_X86_CLONES
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
ff_widen4_avx2(const float *p, ff_v4d *out)
{
    *out = (ff_v4d)_mm256_cvtps_pd(_mm_loadu_ps(p));
}
#endif

#endif
