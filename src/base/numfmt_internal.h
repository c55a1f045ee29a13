/* Shared by numfmt.c and numfmt_row.c, not part of the public API in numfmt.h. */
#ifndef FF_BASE_NUMFMT_INTERNAL_H
#define FF_BASE_NUMFMT_INTERNAL_H

#include <stdint.h>

/* float32's Schubfach multipliers: entry e (FF_NUMFMT_G32_LO <= e <= FF_NUMFMT_G32_HI) is the
 * upper 64 bits of g(e) (a 128-bit overestimate of 10^e) plus one, what numfmt.c's float32 path
 * multiplies by for decimal exponent k = -e. The returned pointer is to entry 0 (negative
 * indices are valid down to FF_NUMFMT_G32_LO). The range covers every k a float32 gives. */
#define FF_NUMFMT_G32_LO (-32)
#define FF_NUMFMT_G32_HI 47
const uint64_t *ff_numfmt_g32(void);

/* ff_fmt_float32_row with lanes no wider than level (0 none, 1 AVX2, 2 AVX-512) nor than the
 * CPU has; ff_numfmt_row_level() is what the CPU has. Tests compare the levels. */
size_t ff_fmt_float32_row_at(const float *v, size_t n, char *out, int level);
int ff_numfmt_row_level(void);

#endif
