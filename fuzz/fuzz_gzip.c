/* Harness: GZIP_1/GZIP_2 tiles against CFITSIO's inflater (uncompress2mem_from_mem, the call its
 * tile decoder makes). Input: byte 0 the allowed pixel widths (bits 0-3: 1, 2, 4, 8 bytes), bytes
 * 1-2 the tile's pixel count, the rest the tile. When ff_tile_check_gzip accepts a tile, CFITSIO
 * must inflate it without error to exactly a whole number of pixels of an allowed width, reading
 * only the tile (just before a PROT_NONE page). */
#include <fitsio.h>
#include <fitsio2.h>

#include "core/fits/tilecheck.h"
#include "fuzz_util.h"

#define MAX_TILE (1 << 18)

static fuzz_guard in_g;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        fuzz_guard_init(&in_g, MAX_TILE);
        fits_init_cfitsio(); /* its lock must be the recursive one fits.c gets */
        ready = 1;
    }
    if (size < 4 || size - 3 > MAX_TILE)
        return 0;
    unsigned widths = data[0] & 0xF;
    if (!widths)
        widths = 0xF;
    size_t npix = ((size_t)data[1] << 8 | data[2]) + 1, clen = size - 3;
    ff_err err = {0};
    if (ff_tile_check_gzip(data + 3, clen, npix, widths, &err) != 0) {
        fuzz_check_reason(err.msg);
        return 0;
    }
    unsigned char *tile = fuzz_guard_tail(&in_g, clen);
    memcpy(tile, data + 3, clen);
    size_t cap = npix * 4, got = 0;
    char *out = malloc(cap);
    int st = 0;
    if (!out)
        return 0;
    uncompress2mem_from_mem((char *)tile, clen, &out, &cap, realloc, &got, &st);
    fits_clear_errmsg();
    int whole = 0;
    for (unsigned i = 0; i < 4; i++)
        whole |= (widths & (1u << i)) && got == npix << i;
    free(out);
    if (st != 0 || !whole) {
        fprintf(stderr, "ff_tile_check_gzip accepted a tile CFITSIO inflates to %zu bytes (status %d) "
                        "for %zu pixels\n", got, st, npix);
        abort();
    }
    return 0;
}
