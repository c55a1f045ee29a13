/* One zlib stream (RFC 1950) together with the MD5 of the uncompressed input, produced by several
 * threads. With three or more threads it is made the way pigz does it: the input is cut into
 * chunks; each chunk is raw-deflated by zlib (primed with the previous 32 KiB as dictionary) and
 * ends on a byte boundary with Z_SYNC_FLUSH, the last with Z_FINISH; the pieces follow one zlib
 * header and end with the Adler-32 of the whole input. With one or two threads libdeflate writes
 * the stream in one go (faster per core than zlib; the MD5 runs on the second thread). Either way
 * any single inflate (zlib.decompressobj) reads it. */
#ifndef FF_CORE_ZLIB_PAR_H
#define FF_CORE_ZLIB_PAR_H

#include <stddef.h>

#include "core/err.h"
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

/* Compresses len bytes of src at level (0..9) using up to nthreads threads (<= 1: the caller's
 * thread only). The bytes depend on the engine (libdeflate for nthreads <= 2, chunked zlib
 * above), not on the exact thread count within one engine. Returns 0, or -1 with err filled
 * (out of memory, thread creation failure, zlib failure); out is then left empty. */
int ff_zpar_compress(const void *src, size_t len, int level, int nthreads, ff_zpar *out,
                     ff_err *err);

/* Writes every piece to the sink in order. */
int ff_zpar_write(const ff_zpar *z, ff_sink *out, ff_err *err);

void ff_zpar_free(ff_zpar *z);

/* MD5 of len bytes (for blocks stored without compression). Returns 0 or -1 with err filled. */
int ff_md5(const void *src, size_t len, unsigned char md5[16], ff_err *err);

#endif
