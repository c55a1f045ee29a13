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

/* The same stream made piece by piece, so that a large input need not be held whole (the PNG
 * writer filters and compresses a few rows at a time): the first piece starts with the zlib
 * header; a piece that is not the last ends with an empty stored block (on a byte boundary, as
 * zlib's sync flush), and the last ends the stream with the Adler-32 of every piece. Runs do not
 * reach back into an earlier piece. */
typedef struct ff_deflate_stream ff_deflate_stream;

/* NULL with err (bad period, out of memory). */
ff_deflate_stream *ff_deflate_stream_new(unsigned period, ff_err *err);

/* The most bytes one piece of len bytes can take. */
size_t ff_deflate_piece_bound(size_t len);

/* Compresses the next piece into dst (cap >= ff_deflate_piece_bound(len)); last: the final one.
 * Returns the bytes written, or 0 with err. No piece may follow the last. */
size_t ff_deflate_stream_piece(ff_deflate_stream *z, const void *src, size_t len, int last,
                               unsigned char *dst, size_t cap, ff_err *err);

void ff_deflate_stream_free(ff_deflate_stream *z);

#endif
