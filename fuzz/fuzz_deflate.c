/* Harness 8: the fast deflate encoder (src/core/out/deflate_fast.c) against zlib's inflate. Input:
 * byte 0 picks the run period (0-8, or a far one), byte 1 how many times the rest is repeated
 * (bits 0-1: 1-4, so runs and long inputs are reached) and in how many pieces the stream is made
 * (bits 2-3: 1-4, ff_deflate_stream_piece, cut at even offsets), the rest is the data. zlib must
 * inflate both streams to exactly the data, the whole one within ff_deflate_fast_bound. */
#include <zlib.h>

#include "core/out/deflate_fast.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const unsigned periods[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 4, 8, 255, 4096, 32768};
    unsigned period = periods[data[0] & 15];
    size_t reps = 1 + (data[1] & 3), n = size - 2, len = n * reps;
    unsigned char *src = malloc(len ? len : 1);
    if (!src)
        return 0;
    for (size_t r = 0; r < reps; r++)
        if (n)
            memcpy(src + r * n, data + 2, n);
    size_t cap = ff_deflate_fast_bound(len);
    unsigned char *z = malloc(cap), *back = malloc(len + 1);
    if (!z || !back)
        abort();
    ff_err err = {0};
    size_t zn = ff_deflate_fast(len ? src : NULL, len, period, z, cap, &err);
    if (zn == 0 || zn > cap) {
        fprintf(stderr, "ff_deflate_fast failed: %s\n", err.msg);
        abort();
    }
    uLongf blen = (uLongf)len + 1;
    int rc = uncompress(back, &blen, z, (uLong)zn);
    if (rc != Z_OK || blen != len || (len && memcmp(back, src, len) != 0)) {
        fprintf(stderr, "inflate gave %d, %lu of %zu bytes\n", rc, (unsigned long)blen, len);
        abort();
    }
    /* the same data in pieces */
    size_t npieces = 1 + ((data[1] >> 2) & 3), total = 0;
    for (size_t k = 0; k < npieces; k++)
        total += ff_deflate_piece_bound(len * (k + 1) / npieces - len * k / npieces);
    unsigned char *zp = malloc(total);
    ff_deflate_stream *ds = ff_deflate_stream_new(period, &err);
    if (!zp || !ds)
        abort();
    size_t zpn = 0;
    for (size_t k = 0; k < npieces; k++) {
        size_t from = len * k / npieces, to = len * (k + 1) / npieces;
        size_t got = ff_deflate_stream_piece(ds, to > from ? src + from : NULL, to - from,
                                             k + 1 == npieces, zp + zpn,
                                             ff_deflate_piece_bound(to - from), &err);
        if (got == 0) {
            fprintf(stderr, "ff_deflate_stream_piece failed: %s\n", err.msg);
            abort();
        }
        zpn += got;
    }
    ff_deflate_stream_free(ds);
    blen = (uLongf)len + 1;
    rc = uncompress(back, &blen, zp, (uLong)zpn);
    if (rc != Z_OK || blen != len || (len && memcmp(back, src, len) != 0)) {
        fprintf(stderr, "pieces: inflate gave %d, %lu of %zu bytes\n", rc, (unsigned long)blen, len);
        abort();
    }
    free(zp);
    free(back);
    free(z);
    free(src);
    return 0;
}
