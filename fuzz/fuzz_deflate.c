/* Harness 8: the fast deflate encoder (src/core/out/deflate_fast.c) against zlib's inflate. Input:
 * byte 0 picks the run period (0-8, or a far one), byte 1 how many times the rest is repeated
 * (1-4, so runs and long inputs are reached), the rest is the data. zlib must inflate the stream
 * to exactly the data, within ff_deflate_fast_bound. */
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
    free(back);
    free(z);
    free(src);
    return 0;
}
