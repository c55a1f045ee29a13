/* Shared by the level-1.5 files (prep_*.c), not part of the public API in prep.h. */
#ifndef FF_CORE_PREP_PREP_INTERNAL_H
#define FF_CORE_PREP_PREP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/fits/image.h"

/* Threads to use: requested, or every online core when requested <= 0; at most
 * FF_PREP_MAX_THREADS. */
int ff_prep_nthreads(int requested);

#define FF_PREP_MAX_THREADS 64

/* Runs fn(ctx, b, lo, hi) for bands b = 0.. of [0, total) split into at most nthreads contiguous
 * bands, one thread each (the caller's thread takes band 0; a band whose thread cannot start runs
 * on the caller's thread too). Returns when every band is done. */
void ff_prep_parallel(int nthreads, size_t total,
                      void (*fn)(void *ctx, int band, size_t lo, size_t hi), void *ctx);

/* numpy.nanmedian of a 2-D image's values together with `extra` copies of extra_value (the
 * padding sunpy adds when it is a number); `finite` is the count of non-NaN values (there are no
 * infinities). The mean of the two middle values for an even count, in float32 arithmetic for a
 * float32 image as numpy does. Returns 0, or -1 (memory, or nothing to take the median of). */
int ff_prep_nanmedian(const ff_image *img, size_t finite, int nthreads, uint64_t extra,
                      double extra_value, double *out);

#endif
