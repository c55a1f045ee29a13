/* Harness: GZIP_1/GZIP_2 tiles against CFITSIO's inflater (uncompress2mem_from_mem, the call its
 * tile decoder makes). Input: byte 0 the allowed pixel widths (bits 0-3: 1, 2, 4, 8 bytes), the
 * integer type our decoder is asked for (bits 4-5: 8, 16 or 32 bits) and the shuffle (bit 6:
 * GZIP_2), bytes 1-2 the tile's pixel count, the rest the tile. When ff_tile_check_gzip accepts a
 * tile, CFITSIO must inflate it without error to exactly a whole number of pixels of an allowed
 * width, reading only the tile (just before a PROT_NONE page).
 * Our own decoder (ff_gzip_decode_tile, libdeflate) is run on the same guarded bytes: whatever it
 * decodes, zlib must accept too and give the same values; and whatever zlib inflates to exactly
 * the decoder's width, the decoder must decode rather than hand back (except a gzip header with a
 * CRC, which it leaves to zlib on purpose). */
#include <fitsio.h>
#include <fitsio2.h>

#include "core/fits/gzip_tile.h"
#include "core/fits/tilecheck.h"
#include "fuzz_util.h"

#define MAX_TILE (1 << 18)

static fuzz_guard in_g;
static int ready;

/* CFITSIO's inflated bytes as our decoder delivers them: native values, planes joined. */
static void expect_values(const unsigned char *in, size_t n, int w, int shuffled, unsigned char *out)
{
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < w; k++) {
            unsigned char byte = shuffled ? in[(size_t)k * n + i] : in[i * (size_t)w + (size_t)k];
            out[i * (size_t)w + (size_t)(w - 1 - k)] = byte; /* little-endian host */
        }
}

static void own_decoder(const unsigned char *tile, size_t clen, size_t npix, int zbitpix,
                        int shuffled, int zlib_ok, const unsigned char *zout, size_t zgot)
{
    int w = zbitpix / 8;
    ff_gzip_tile t = {.c = tile, .len = clen, .npix = npix};
    ff_gzip_image g = {.zbitpix = zbitpix, .shuffled = shuffled, .tiles = &t, .ntiles = 1};
    ff_gzip_decoder *d = ff_gzip_decoder_new(npix);
    unsigned char *ours = malloc(npix * 4), *want = malloc(npix * 4);
    if (!d || !ours || !want)
        abort();
    int rc = ff_gzip_decode_tile(d, &g, 0, ours);
    int exact = zlib_ok && zgot == npix * (size_t)w;
    if (rc == 0) {
        if (!exact) {
            fprintf(stderr, "ff_gzip_decode_tile decoded a tile zlib %s\n",
                    zlib_ok ? "inflates to another size" : "refuses");
            abort();
        }
        expect_values(zout, npix, w, shuffled, want);
        if (memcmp(ours, want, npix * (size_t)w) != 0) {
            fprintf(stderr, "ff_gzip_decode_tile and zlib give different values\n");
            abort();
        }
    } else if (exact && !(clen >= 4 && (tile[3] & 0x02))) {
        fprintf(stderr, "ff_gzip_decode_tile handed back a tile zlib inflates to exactly its size\n");
        abort();
    }
    free(ours);
    free(want);
    ff_gzip_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        fuzz_guard_init(&in_g, MAX_TILE);
        fits_init_cfitsio(); /* its lock must be the recursive one fits.c gets */
        ready = 1;
    }
    if (size < 4 || size - 3 > MAX_TILE)
        return 0;
    static const int zbitpix_of[4] = {8, 16, 32, 16};
    int zbitpix = zbitpix_of[(data[0] >> 4) & 3], shuffled = (data[0] >> 6) & 1;
    /* the decoder's width is always allowed, so that zlib's verdict on it is known */
    unsigned widths = (data[0] & 0xF) | (zbitpix == 8 ? 1u : zbitpix == 16 ? 2u : 4u);
    size_t npix = ((size_t)data[1] << 8 | data[2]) + 1, clen = size - 3;
    unsigned char *tile = fuzz_guard_tail(&in_g, clen);
    memcpy(tile, data + 3, clen);
    ff_err err = {0};
    int ok = ff_tile_check_gzip(tile, clen, npix, widths, &err) == 0;
    size_t cap = npix * 4, got = 0;
    char *out = malloc(cap);
    if (!out)
        return 0;
    if (!ok) {
        fuzz_check_reason(err.msg);
    } else {
        int st = 0;
        uncompress2mem_from_mem((char *)tile, clen, &out, &cap, realloc, &got, &st);
        fits_clear_errmsg();
        int whole = 0;
        for (unsigned i = 0; i < 4; i++)
            whole |= (widths & (1u << i)) && got == npix << i;
        if (st != 0 || !whole) {
            fprintf(stderr, "ff_tile_check_gzip accepted a tile CFITSIO inflates to %zu bytes (status "
                            "%d) for %zu pixels\n", got, st, npix);
            abort();
        }
    }
    own_decoder(tile, clen, npix, zbitpix, shuffled, ok, (unsigned char *)out, got);
    free(out);
    return 0;
}
