/* Harness: every check fits.c makes before it decodes a pixel, on a whole file in memory
 * (ff_fits_check_mem): the header pre-scan, CFITSIO's open and HDU choice, the data size, the
 * tile-compressed table (descriptors, tile counts, ZTILEn, the other tile columns) and the check
 * of every tile (RICE_1 walk, GZIP inflate, HCOMPRESS_1 walk, PLIO_1 list). The same path as
 * fuzz_fits_core without the pixel decoding and the writers, so it runs many times faster. A
 * refusal must be one line. */
#include "core/fits/fits.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a small pixel limit: a few bytes of RICE "all zero" blocks can stand for a million pixels,
     * and walking them would make this harness as slow as the whole read; the limit's own check
     * is exercised the more often */
    ff_fits_opts opts = {.max_pixels = (uint64_t)1 << 16, .nthreads = 1};
    ff_err err = {0};
    if (ff_fits_check_mem(data, size, &opts, &err) != 0)
        fuzz_check_reason(err.msg);
    return 0;
}
