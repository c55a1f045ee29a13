/* Harness: whole GZIP_1/GZIP_2 tile-compressed images, FitsFlow's own decoder (gzip_tile.c,
 * quantize.c) against CFITSIO's. CFITSIO's own writer makes a real file from the input (so that
 * quantisation, dithering, ZBLANK and lossless GZIP_COMPRESSED_DATA tiles are what it writes),
 * some of its bytes may then be damaged, and ff_fits_read reads it three times: CFITSIO alone
 * (ff_fits_opts.cfitsio_only), and the own decoder on 1 and on 3 threads. All three must agree:
 * the same refusal message, or the same bytes.
 *
 * Input: byte 0 the kind (bits 0-2: uint8, int16, int32, quantised float32, quantised float64,
 * lossless float32, lossless float64, int16; bit 3: GZIP_2; bits 4-5: NO_DITHER, SUBTRACTIVE_DITHER_1,
 * _2, _1; bit 6: tiles of 3 rows; bit 7: damage the file), byte 1 the width - 1 (mod 64), byte 2
 * the height - 1 (mod 32), byte 3 the quantisation level (bits 0-4) and whether the first pixel's
 * value marks undefined pixels (bit 7, fits_write_imgnull), bytes 4-5 the dither seed, then the
 * pixels' bytes (repeated to fill the image); when damaging, the last 12 bytes are 4 (position,
 * xor) triples applied to the file past its first two blocks. */
#include <fitsio.h>
#include <math.h>

#include "core/fits/fits.h"
#include "fuzz_util.h"

static const int bitpix_of[8] = {8, 16, 32, -32, -64, -32, -64, 16};

static int cfitsio_type(int bitpix)
{
    switch (bitpix) {
    case 8: return TBYTE;
    case 16: return TSHORT;
    case 32: return TINT;
    case -32: return TFLOAT;
    default: return TDOUBLE;
    }
}

/* Writes the compressed file into memory; returns its size (0 when CFITSIO would not write it). */
static size_t write_image(const uint8_t *data, size_t size, void **mem)
{
    int kind = data[0] & 7, bitpix = bitpix_of[kind], lossless = kind == 5 || kind == 6;
    static const int methods[4] = {NO_DITHER, SUBTRACTIVE_DITHER_1, SUBTRACTIVE_DITHER_2,
                                   SUBTRACTIVE_DITHER_1};
    long nx = data[1] % 64 + 1, ny = data[2] % 32 + 1, n = nx * ny;
    size_t es = (size_t)(bitpix < 0 ? -bitpix : bitpix) / 8;
    const uint8_t *px = data + 6;
    size_t npx = size - 6 - ((data[0] & 0x80) ? 12 : 0);
    unsigned char *img = malloc((size_t)n * es);
    if (!img)
        return 0;
    for (size_t i = 0; i < (size_t)n * es; i++)
        img[i] = npx ? px[i % npx] : (unsigned char)i;
    size_t msize = 0;
    fitsfile *fp = NULL;
    int st = 0;
    long tile[2] = {nx, (data[0] & 0x40) ? 3 : 1}, naxes[2] = {nx, ny};
    fits_create_memfile(&fp, mem, &msize, 0, realloc, &st);
    fits_create_img(fp, 8, 0, NULL, &st);
    fits_set_compression_type(fp, (data[0] & 8) ? GZIP_2 : GZIP_1, &st);
    fits_set_tile_dim(fp, 2, tile, &st);
    if (bitpix < 0) {
        fits_set_quantize_level(fp, lossless ? 0.0f : (float)((data[3] & 31) + 1), &st);
        fits_set_quantize_method(fp, methods[(data[0] >> 4) & 3], &st);
        fits_set_dither_seed(fp, (data[4] << 8 | data[5]) % 10000 + 1, &st);
    }
    fits_create_img(fp, bitpix, 2, naxes, &st);
    if (data[3] & 0x80)
        fits_write_imgnull(fp, cfitsio_type(bitpix), 1, n, img, img, &st);
    else
        fits_write_img(fp, cfitsio_type(bitpix), 1, n, img, &st);
    int wst = st;
    st = 0;
    fits_close_file(fp, &st);
    fits_clear_errmsg();
    free(img);
    if (wst || st || msize < 2 * 2880)
        return 0;
    return msize;
}

static void read_with(const char *path, int nthreads, int cfitsio_only, int *rc, ff_fits *f, ff_err *err)
{
    ff_fits_opts o = {.max_pixels = 1u << 20, .nthreads = nthreads, .cfitsio_only = cfitsio_only};
    memset(err, 0, sizeof *err);
    *rc = ff_fits_read(path, &o, f, err);
    if (*rc != 0)
        fuzz_check_reason(err->msg);
}

static void same(int rca, const ff_fits *a, const ff_err *ea, int rcb, const ff_fits *b,
                 const ff_err *eb)
{
    if (rca != rcb) {
        fprintf(stderr, "CFITSIO %s, the own decoder %s: %s\n", rca ? "refuses" : "reads",
                rcb ? "refuses" : "reads", rca ? ea->msg : eb->msg);
        abort();
    }
    if (rca != 0) {
        if (strcmp(ea->msg, eb->msg) != 0) {
            fprintf(stderr, "refused for different reasons:\n  %s\n  %s\n", ea->msg, eb->msg);
            abort();
        }
        return;
    }
    if (a->image.dtype != b->image.dtype || a->image.nelem != b->image.nelem ||
        memcmp(a->image.data, b->image.data, a->image.nelem * ff_dtype_size(a->image.dtype)) != 0) {
        fprintf(stderr, "CFITSIO and the own decoder read different values\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        fits_init_cfitsio();
        ready = 1;
    }
    if (size < 6 + ((size && (data[0] & 0x80)) ? 12 : 0) || size > 65536)
        return 0;
    void *mem = NULL;
    size_t msize = write_image(data, size, &mem);
    if (!msize) {
        free(mem);
        return 0;
    }
    unsigned char *file = mem;
    if (data[0] & 0x80) {
        const uint8_t *d = data + size - 12;
        for (int k = 0; k < 4; k++) {
            size_t pos = 5760 + ((size_t)d[3 * k] << 8 | d[3 * k + 1]) % (msize - 5760);
            file[pos] ^= d[3 * k + 2];
        }
    }
    const char *path = fuzz_write_file(file, msize);
    free(mem);
    if (!path)
        return 0;
    ff_fits ref, one, three;
    ff_err eref, eone, ethree;
    int rref, rone, rthree;
    read_with(path, 1, 1, &rref, &ref, &eref);
    read_with(path, 1, 0, &rone, &one, &eone);
    read_with(path, 3, 0, &rthree, &three, &ethree);
    same(rref, &ref, &eref, rone, &one, &eone);
    same(rref, &ref, &eref, rthree, &three, &ethree);
    if (rref == 0)
        ff_fits_free(&ref);
    if (rone == 0)
        ff_fits_free(&one);
    if (rthree == 0)
        ff_fits_free(&three);
    return 0;
}
