/* A fast deflate encoder for array data: one zlib stream (RFC 1950/1951) that any inflate reads.
 * It looks for one kind of match only, a run repeating the previous `period` bytes (an image's
 * element size: flat areas such as NaN or zero backgrounds), and Huffman-codes everything else
 * with a dynamic table per block, falling back to stored blocks where coding would not help.
 * On noisy detector data it is several times faster than zlib level 1 or libdeflate level 1,
 * which spend their time looking for LZ77 matches such data does not have, and its output is
 * about a tenth larger than theirs. */
#ifndef FF_CORE_OUT_DEFLATE_FAST_H
#define FF_CORE_OUT_DEFLATE_FAST_H

#include <stddef.h>

#include "base/err.h"

/* The most bytes ff_deflate_fast can write for len input bytes. */
size_t ff_deflate_fast_bound(size_t len);

/* Compresses len bytes of src into dst (at least ff_deflate_fast_bound(len) bytes) as one zlib
 * stream; period is the distance runs repeat at (1 to 32768; 0: no runs, Huffman only). Returns
 * the stream's length, or 0 with err filled (bad period, out of memory). */
size_t ff_deflate_fast(const void *src, size_t len, unsigned period, unsigned char *dst,
                       size_t cap, ff_err *err);

#endif
