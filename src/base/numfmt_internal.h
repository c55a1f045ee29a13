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

#endif
