/* Harness: HCOMPRESS_1 tiles against CFITSIO's decoder (fits_hdecompress, which takes no input
 * length). Input: the tile; its pixel count is the nx * ny it declares (up to 2^16, else the input
 * is skipped), and its size's parity picks the 32- or 64-bit decoder. When
 * ff_tile_check_hcompress accepts a tile, CFITSIO must decode it without error, reading only the
 * tile (it sits just before a PROT_NONE page) and writing only nx * ny values (so does the output);
 * LeakSanitizer sees CFITSIO's allocations, so a leak on an accepted tile fails too.
 * FF_FUZZ_UNCHECKED=1 hands every tile to CFITSIO: that shows its overread. CFITSIO is
 * initialised first, as fits.c does: its decoder holds CFITSIO's lock while it reports an error,
 * which self-deadlocks unless fits_init_cfitsio made that lock recursive. */
#include <fitsio.h>

#include "core/fits/tilecheck.h"
#include "fuzz_util.h"

#define MAX_TILE (1 << 18)
#define MAX_PIX (1 << 16)

static fuzz_guard in_g, out_g;
static int unchecked = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (unchecked < 0) {
        fuzz_guard_init(&in_g, MAX_TILE);
        fits_init_cfitsio(); /* its lock must be the recursive one fits.c gets */
        fuzz_guard_init(&out_g, MAX_PIX * sizeof(long long));
        const char *u = getenv("FF_FUZZ_UNCHECKED");
        unchecked = u && *u == '1';
    }
    if (size < 10 || size > MAX_TILE)
        return 0;
    int32_t nx = (int32_t)((uint32_t)data[2] << 24 | (uint32_t)data[3] << 16 | (uint32_t)data[4] << 8 | data[5]);
    int32_t ny = (int32_t)((uint32_t)data[6] << 24 | (uint32_t)data[7] << 16 | (uint32_t)data[8] << 8 | data[9]);
    if (nx <= 0 || ny <= 0 || (int64_t)nx * ny > MAX_PIX)
        return 0;
    size_t npix = (size_t)nx * (size_t)ny;
    ff_err err = {0};
    int ok = ff_tile_check_hcompress(data, size, npix, &err) == 0;
    if (!ok)
        fuzz_check_reason(err.msg);
    if (!ok && !unchecked)
        return 0;
    unsigned char *tile = fuzz_guard_tail(&in_g, size);
    memcpy(tile, data, size);
    int onx = 0, ony = 0, scale = 0, st = 0;
    if (size % 2)
        fits_hdecompress64(tile, 0, (LONGLONG *)fuzz_guard_tail(&out_g, npix * sizeof(LONGLONG)), &onx,
                           &ony, &scale, &st);
    else
        fits_hdecompress(tile, 0, (int *)fuzz_guard_tail(&out_g, npix * sizeof(int)), &onx, &ony, &scale,
                         &st);
    fits_clear_errmsg();
    if (ok && st != 0) {
        fprintf(stderr, "ff_tile_check_hcompress accepted a tile CFITSIO refuses (status %d)\n", st);
        abort();
    }
    return 0;
}
