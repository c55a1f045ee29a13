/* An ASDF block's contents: one zlib stream (RFC 1950) of an array's bytes and the MD5 of those
 * bytes (the MD5 on a second thread while the stream is made). The stream comes from the fast
 * encoder of deflate_fast.h (Huffman coding plus runs at the element size), which any single
 * inflate (zlib.decompressobj) reads. */
#ifndef FF_CORE_OUT_ASDF_BLOCK_H
#define FF_CORE_OUT_ASDF_BLOCK_H

#include <stddef.h>

#include "base/err.h"
#include "core/out/sink.h"

typedef struct ff_asdf_piece {
    unsigned char *data; /* owned */
    size_t len;
} ff_asdf_piece;

/* A finished stream, held as pieces in order: write them one after the other. */
typedef struct ff_asdf_block {
    ff_asdf_piece *pieces;   /* owned; npieces entries */
    size_t npieces;
    size_t total;        /* sum of piece lengths: the stream's size in bytes */
    unsigned char md5[16]; /* MD5 of the uncompressed input */
} ff_asdf_block;

/* Compresses len bytes of src, with runs looked for at `period` bytes (the element size; 0: none),
 * and hashes them; the MD5 runs on a second thread when nthreads >= 2. The bytes written do not
 * depend on nthreads. Returns 0, or -1 with err filled (out of memory, a period beyond 32768);
 * out is then left empty. */
int ff_asdf_block_compress(const void *src, size_t len, unsigned period, int nthreads, ff_asdf_block *out,
                     ff_err *err);

/* Writes every piece to the sink in order. */
int ff_asdf_block_write(const ff_asdf_block *z, ff_sink *out, ff_err *err);

void ff_asdf_block_free(ff_asdf_block *z);

/* MD5 of len bytes (for blocks stored without compression). Returns 0 or -1 with err filled. */
int ff_md5(const void *src, size_t len, unsigned char md5[16], ff_err *err);

#endif
