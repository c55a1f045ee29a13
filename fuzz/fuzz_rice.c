/* Harness 4: RICE_1 tiles against CFITSIO's own decoder. Input: byte 0 picks BYTEPIX (1, 2, 4)
 * and BLOCKSIZE (16 or 32), bytes 1-2 the tile's pixel count, the rest is the tile. The tile is
 * placed so that its last byte is the last one before a PROT_NONE page: any read past it by
 * CFITSIO faults at once. When ff_tile_check_rice accepts a tile, CFITSIO must decode it without
 * reading past the end and without reporting an error, and our own decoder (ff_rice_decode, which
 * fits.c uses for whole-row integer tiles) must give the same values; when the check refuses a
 * tile, ff_rice_decode must refuse it too.
 * FF_FUZZ_RICE_UNCHECKED=1 hands every tile to CFITSIO, accepted or not: that mode finds
 * CFITSIO's overread itself (it crashes within seconds), which is why fits.c runs the check. */
#include <fitsio.h>
#include <sys/mman.h>

#include "core/fits/rice.h"
#include "core/fits/tilecheck.h"
#include "fuzz_util.h"

/* CFITSIO exports these (ricecomp.c) without declaring them in fitsio.h */
int fits_rdecomp(unsigned char *c, int clen, unsigned int array[], int nx, int nblock);
int fits_rdecomp_short(unsigned char *c, int clen, unsigned short array[], int nx, int nblock);
int fits_rdecomp_byte(unsigned char *c, int clen, unsigned char array[], int nx, int nblock);

#define MAX_TILE (1 << 18)
static unsigned char *region; /* MAX_TILE readable bytes, then a PROT_NONE page */
static size_t page;
static int unchecked = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!region) {
        page = (size_t)sysconf(_SC_PAGESIZE);
        unsigned char *r = mmap(NULL, MAX_TILE + page, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (r == MAP_FAILED || mprotect(r + MAX_TILE, page, PROT_NONE) != 0)
            abort();
        region = r;
        fits_init_cfitsio(); /* its lock must be the recursive one fits.c gets */
        const char *u = getenv("FF_FUZZ_RICE_UNCHECKED");
        unchecked = u && *u == '1';
    }
    if (size < 3 || size - 3 > MAX_TILE)
        return 0;
    static const int bytepix_of[4] = {1, 2, 4, 4};
    int bytepix = bytepix_of[data[0] & 3];
    int blocksize = (data[0] & 4) ? 16 : 32;
    size_t npix = (((size_t)data[1] << 8) | data[2]) % 4096 + 1;
    size_t clen = size - 3;
    unsigned char *tile = region + MAX_TILE - clen;
    memcpy(tile, data + 3, clen);

    ff_err err = {0};
    int ok = ff_tile_check_rice(tile, clen, npix, bytepix, blocksize, &err) == 0;
    if (!ok && !err.msg[0])
        abort();
    if (!ok && !unchecked)
        return 0;
    if (clen == 0)
        return 0; /* CFITSIO never decodes an empty tile: it uses another column or fails */
    void *out = malloc(npix * 4), *ours = malloc(npix * 4);
    if (!out || !ours) {
        free(out);
        free(ours);
        return 0;
    }
    ff_err err2 = {0};
    int ours_ok = ff_rice_decode(tile, clen, ours, npix, bytepix, blocksize, &err2) == 0;
    if (ours_ok != ok) {
        fprintf(stderr, "ff_rice_decode %s a tile ff_tile_check_rice %s\n", ours_ok ? "decodes" : "refuses",
                ok ? "accepts" : "refuses");
        abort();
    }
    int rc;
    if (bytepix == 1)
        rc = fits_rdecomp_byte(tile, (int)clen, out, (int)npix, blocksize);
    else if (bytepix == 2)
        rc = fits_rdecomp_short(tile, (int)clen, out, (int)npix, blocksize);
    else
        rc = fits_rdecomp(tile, (int)clen, out, (int)npix, blocksize);
    if (ok && rc == 0 && memcmp(out, ours, npix * (size_t)bytepix) != 0) {
        fprintf(stderr, "ff_rice_decode and CFITSIO decode a tile to different values\n");
        abort();
    }
    free(out);
    free(ours);
    if (ok && rc != 0) {
        fprintf(stderr, "ff_tile_check_rice accepted a tile CFITSIO refuses\n");
        abort();
    }
    return 0;
}
