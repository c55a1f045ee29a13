/* Harness: the header walk the budgets rely on (core/fits_scan.c), over plain and gzip-compressed
 * bytes. The first byte picks gzip (odd: the rest is compressed here first) and the cap; the walk
 * must never crash, read out of bounds or leak, and what it reports must hang together. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/fits/fits_scan.h"
#include "fuzz_util.h"

static void check(const ff_fits_scan *s, uint64_t cap)
{
    if (s->pixels) {
        if (s->naxis < 1 || s->naxis > 3 || !s->width || s->width * s->height != s->pixels)
            abort();
        if (s->elem_bytes != 1 && s->elem_bytes != 2 && s->elem_bytes != 4 && s->elem_bytes != 8)
            abort();
    }
    if (s->gzip && s->content_bytes > cap)
        abort();
    if (s->hdus > 1000)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint64_t cap = data[0] & 2 ? 4096 * 8 : (uint64_t)64 << 20;
    ff_fits_scan s;
    ff_err err = {0};
    if (data[0] & 1) {
        uLong bound = compressBound((uLong)size);
        unsigned char *gz = malloc(bound + 32);
        if (!gz)
            return 0;
        z_stream z;
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(gz);
            return 0;
        }
        z.next_in = (unsigned char *)data + 1;
        z.avail_in = (uInt)(size - 1);
        z.next_out = gz;
        z.avail_out = (uInt)(bound + 32);
        deflate(&z, Z_FINISH);
        size_t n = z.total_out;
        deflateEnd(&z);
        if (ff_fits_scan_buffer(gz, n, cap, &s, &err) == 0)
            check(&s, cap);
        free(gz);
    } else if (ff_fits_scan_buffer(data + 1, size - 1, cap, &s, &err) == 0) {
        check(&s, cap);
    }
    return 0;
}
