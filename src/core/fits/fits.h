/* Reading one image from a FITS file with CFITSIO, exactly as astropy.io.fits gives it.
 *
 * HDU choice (as the original FitsFlow): HDU 1 (the first extension) when it exists and holds an
 * image, else the primary HDU when it holds one, else the first HDU that does. "Holds an image"
 * means an image HDU (tile-compressed images count) with NAXIS 1..3 and every axis > 0.
 * Values and dtype follow astropy: BSCALE/BZERO (unsigned conventions give uint16/32/64 and int8),
 * other scaling gives float32 (BITPIX 8, 16) or float64 (BITPIX 32, 64), BLANK becomes NaN when
 * the data are scaled to floats. Plain, gzip-compressed (.gz) and tile-compressed (RICE_1,
 * GZIP_1, GZIP_2, HCOMPRESS_1, PLIO_1) files are read. */
#ifndef FF_CORE_FITS_FITS_H
#define FF_CORE_FITS_FITS_H

#include <stdint.h>

#include "base/err.h"
#include "core/fits/header.h"
#include "core/fits/image.h"

#define FF_FITS_DEFAULT_MAX_PIXELS ((uint64_t)1 << 28)

typedef struct ff_fits_opts {
    uint64_t max_pixels; /* refuse larger images before allocating; 0 = default 2^28 */
    int nthreads;        /* threads for decompression/conversion; <= 1 reads on the caller's thread */
    int cfitsio_only;    /* decode every tile with CFITSIO, none with our own decoders (tests and
                            fuzzing compare the two) */
} ff_fits_opts;

typedef struct ff_fits {
    int hdu;                /* chosen HDU, 0-based as astropy numbers them (0 = primary) */
    int compressed;         /* 1 when the HDU is a tile-compressed image */
    char compression[24];   /* "RICE_1", "GZIP_1", ... or "" */
    int own_tiles;          /* the tiles were decoded by FitsFlow's own decoders (RICE_1 and
                               GZIP_1/2 whole-row tiles), not CFITSIO */
    int bitpix;             /* BITPIX of the image (ZBITPIX for compressed ones) */
    ff_header header;       /* that HDU's header as astropy shows it (image header for
                               compressed HDUs) */
    ff_image image;         /* the data, as astropy's hdul[hdu].data */
} ff_fits;

/* Reads path. On failure fills err with one sentence naming the problem (not the file: the
 * caller adds it), e.g. "not a FITS file", "file is truncated: header says 33554432 data bytes
 * but only 1024 follow", "no image HDU (table-only file)". Nothing is left allocated. */
int ff_fits_read(const char *path, const ff_fits_opts *opts, ff_fits *out, ff_err *err);

void ff_fits_free(ff_fits *f);

/* Runs every check ff_fits_read makes before it decodes a pixel (the header pre-scan, the HDU
 * choice, the pixel limit, the data size, the tile table and every tile) on a FITS file already
 * in memory (not gzip-compressed), decoding nothing: 0 when ff_fits_read would go on to read the
 * pixels, else -1 with err as ff_fits_read gives it. The checks are what a hostile upload meets
 * first; fuzz/fuzz_tiles.c runs them far faster than a whole read. */
int ff_fits_check_mem(const void *buf, size_t size, const ff_fits_opts *opts, ff_err *err);

#endif
