/* Harness: PLIO_1 line lists against CFITSIO's decoder (pl_l2pi). Input: bytes 0-1 the tile's
 * pixel count (1-65536), then the list as it lies in the file (big-endian 16-bit words). When
 * ff_tile_check_plio accepts a list, pl_l2pi must decode it reading only the list (it sits just
 * before a PROT_NONE page), writing only the tile (so does the output), and writing every pixel:
 * the output is filled with two different patterns before two decodes, and they must agree.
 * FF_FUZZ_UNCHECKED=1 hands every list to CFITSIO, accepted or not: that shows its overread. */
#include <fitsio.h>
#include <fitsio2.h>

#include "core/fits/tilecheck.h"
#include "fuzz_util.h"

#define MAX_WORDS (1 << 16)
#define MAX_PIX (1 << 16)

static fuzz_guard in_g, out_g;
static int unchecked = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (unchecked < 0) {
        fuzz_guard_init(&in_g, MAX_WORDS * sizeof(short));
        fits_init_cfitsio(); /* its lock must be the recursive one fits.c gets */
        fuzz_guard_init(&out_g, MAX_PIX * sizeof(int));
        const char *u = getenv("FF_FUZZ_UNCHECKED");
        unchecked = u && *u == '1';
    }
    if (size < 2 || (size - 2) / 2 > MAX_WORDS)
        return 0;
    int npix = ((int)data[0] << 8 | data[1]) + 1;
    size_t nwords = (size - 2) / 2;
    ff_err err = {0};
    int ok = ff_tile_check_plio(data + 2, nwords, &err) == 0;
    if (!ok)
        fuzz_check_reason(err.msg);
    if ((!ok && !unchecked) || nwords == 0)
        return 0;
    short *w = (short *)fuzz_guard_tail(&in_g, nwords * sizeof(short));
    for (size_t i = 0; i < nwords; i++)
        w[i] = (short)((uint16_t)data[2 + 2 * i] << 8 | data[3 + 2 * i]);
    int *out = (int *)fuzz_guard_tail(&out_g, (size_t)npix * sizeof(int));
    static int first[MAX_PIX];
    memset(out, 0x5a, (size_t)npix * sizeof(int));
    int n1 = pl_l2pi(w, 1, out, npix);
    memcpy(first, out, (size_t)npix * sizeof(int));
    memset(out, 0xa5, (size_t)npix * sizeof(int));
    int n2 = pl_l2pi(w, 1, out, npix);
    if (ok && (n1 != npix || n2 != npix || memcmp(first, out, (size_t)npix * sizeof(int)) != 0)) {
        fprintf(stderr, "ff_tile_check_plio accepted a list that pl_l2pi does not decode in full "
                        "(returned %d, %d of %d pixels)\n", n1, n2, npix);
        abort();
    }
    return 0;
}
