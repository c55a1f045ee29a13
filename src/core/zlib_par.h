/* One zlib stream (RFC 1950) of an array's bytes together with the MD5 of those bytes, the two
 * computed at once on two threads: what an ASDF zlib block needs. The stream comes from the fast
 * encoder of deflate_fast.h (Huffman coding plus runs at the element size), which any single
 * inflate (zlib.decompressobj) reads. */
#ifndef FF_CORE_ZLIB_PAR_H
#define FF_CORE_ZLIB_PAR_H

#include <stddef.h>

#include "base/err.h"
#include "core/sink.h"

typedef struct ff_zpiece {
    unsigned char *data; /* owned */
    size_t len;
} ff_zpiece;

/* A finished stream, held as pieces in order: write them one after the other. */
typedef struct ff_zpar {
    ff_zpiece *pieces;   /* owned; npieces entries */
    size_t npieces;
    size_t total;        /* sum of piece lengths: the stream's size in bytes */
    unsigned char md5[16]; /* MD5 of the uncompressed input */
} ff_zpar;

/* Compresses len bytes of src, with runs looked for at `period` bytes (the element size; 0: none),
 * and hashes them; the MD5 runs on a second thread when nthreads >= 2. The bytes written do not
 * depend on nthreads. Returns 0, or -1 with err filled (out of memory, a period beyond 32768);
 * out is then left empty. */
int ff_zpar_compress(const void *src, size_t len, unsigned period, int nthreads, ff_zpar *out,
                     ff_err *err);

/* Writes every piece to the sink in order. */
int ff_zpar_write(const ff_zpar *z, ff_sink *out, ff_err *err);

void ff_zpar_free(ff_zpar *z);

/* MD5 of len bytes (for blocks stored without compression). Returns 0 or -1 with err filled. */
int ff_md5(const void *src, size_t len, unsigned char md5[16], ff_err *err);

#endif
