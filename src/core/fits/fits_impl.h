/* What the files of the FITS reader share (fits.c's entry points and their parts: source.c, the
 * file in memory; hdu.c, CFITSIO handles and the HDU choice; zheader.c, a compressed image's
 * header; tiles.c, the tile checks; scaling.c, astropy's arithmetic; bands.c, reading on several
 * threads). Not for use outside src/core/fits/. */
#ifndef FF_CORE_FITS_FITS_IMPL_H
#define FF_CORE_FITS_FITS_IMPL_H

#include <fitsio.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fits/fits.h"
#include "core/fits/gzip_tile.h"

#define FF_FITS_BLOCK 2880
#define FF_FITS_MAX_THREADS 16 /* threads one read (or one tile check) uses at most */

/* ---- source.c: the file in memory ---- */

typedef struct ff_fits_src {
    unsigned char *buf; /* at least `cap` bytes, zero padding after `size` */
    size_t size;        /* bytes of FITS content (the file, or the inflated gzip stream) */
    size_t cap;         /* size rounded up to whole 2880-byte blocks */
    int mapped;         /* buf is an mmap of length cap */
} ff_fits_src;

size_t ff_fits_round_block(size_t n);
/* Maps the file (or inflates it once, when gzip-compressed, to at most max_pixels * 8 bytes and
 * some slack). */
int ff_fits_src_load(const char *path, uint64_t max_pixels, ff_fits_src *s, ff_err *err);
void ff_fits_src_free(ff_fits_src *s);

/* ---- hdu.c: CFITSIO handles over the buffer, the HDU's description ---- */

typedef struct ff_fits_handle {
    fitsfile *fp;
    void *buf;   /* CFITSIO keeps pointers to these two, so they live with the handle */
    size_t size;
} ff_fits_handle;

int ff_fits_handle_open(ff_fits_handle *h, const ff_fits_src *s, int *status);
void ff_fits_handle_close(ff_fits_handle *h);
/* CFITSIO's words for status (its message stack cleared). */
void ff_fits_cfitsio_text(int status, char *buf, size_t n);

typedef struct ff_fits_probe {
    int kind;      /* hdu.c's */
    int compressed;
    int bitpix;
    int naxis;
    long long naxes[FF_MAX_NDIM];
    int zero_axis; /* 1-based number of the first zero-length axis */
} ff_fits_probe;

/* Moves fp to the chosen HDU and fills *chosen and *p; on failure explains why no HDU fits. */
int ff_fits_choose_hdu(fitsfile *fp, int *chosen, ff_fits_probe *p, ff_err *err);
/* Data bytes the chosen HDU needs, against what the file holds after its header. */
int ff_fits_check_size(fitsfile *fp, const ff_fits_src *s, const ff_fits_probe *p, ff_err *err);

/* ---- zheader.c ---- */

/* A compressed image's header as astropy shows it (an image header, not its table's). */
int ff_fits_compressed_header(fitsfile *fp, ff_header *out, ff_err *err);

/* ---- tiles.c ---- */

typedef struct ff_fits_tile {
    const unsigned char *c;
    size_t len, nwords, npix;
    int present;
    const unsigned char *alt; /* the tile's GZIP_COMPRESSED_DATA stream when COMPRESSED_DATA is empty */
    size_t alt_len;
} ff_fits_tile;

/* The tiles of an image this reader decodes itself (whole-row tiles: RICE_1 integers, or GZIP_1
 * and GZIP_2 as gzip_tile.h takes them). Free with ff_fits_tiles_free. */
typedef struct ff_fits_tiles {
    int usable;
    ff_fits_tile *tiles;
    long long total;
    size_t tile_pix;      /* pixels in a full tile; tile t starts at element t * tile_pix */
    int bytepix, blocksize;
    int gzip;             /* GZIP tiles, decoded from gz */
    ff_gzip_image gz;
    unsigned widths, alt_widths; /* what ff_tile_check_gzip allows when a band goes to CFITSIO */
} ff_fits_tiles;

void ff_fits_tiles_free(ff_fits_tiles *tl);

/* Checks every tile of a compressed image before CFITSIO decodes one (see tiles.c); keep (may
 * be NULL) gets the tiles when bands.c decodes them itself. */
int ff_fits_check_tiles(fitsfile *fp, const ff_fits_src *s, const ff_fits_probe *p,
                        uint64_t max_pixels, int nthreads, ff_fits_tiles *keep, ff_err *err);

/* ---- scaling.c: astropy's arithmetic on the raw values ---- */

typedef struct ff_fits_scaling {
    ff_dtype raw;     /* dtype CFITSIO delivers */
    ff_dtype out;     /* dtype astropy returns */
    int do_scale;     /* apply multiply/add */
    int flip_sign;    /* unsigned convention: flip the top bit (equals adding BZERO with wrap) */
    int int8_shift;   /* BITPIX 8, BZERO -128: uint8 -> int8 minus 128 */
    double bscale, bzero;
    int mul, add;     /* bscale != 1, bzero != 0 */
    int f32_mul, f32_add; /* float32 arithmetic uses the scalar rounded to float32 */
    int blank_on;     /* NaN where the raw (or converted) value equals blank */
    int64_t blank;
    int blank_on_converted; /* compressed: compare after the dtype conversion, before scaling */
    int nan_blanks;   /* compressed floats: CFITSIO gives NaN for ZBLANK (ff_quant_nulls) */
} ff_fits_scaling;

/* ImageHDU._get_scaled_image_data's plan, and CompImageHDU.data's (keywords from the table). */
void ff_fits_plan_image(ff_fits_scaling *sc, int bitpix, const ff_header *h);
void ff_fits_plan_compressed(ff_fits_scaling *sc, fitsfile *fp, int zbitpix);
/* Converts n values in place (raw values at the start of buf). */
void ff_fits_convert(void *buf, size_t n, const ff_fits_scaling *sc);
void ff_fits_convert_unsigned_blank(void *buf, size_t n, const ff_fits_scaling *sc);
int ff_fits_cfitsio_type(ff_dtype t);

/* ---- bands.c ---- */

/* Reads the image into img (nelem set; data allocated here) on up to nthreads threads; *own: 1
 * when every tile was decoded by our own decoders. */
int ff_fits_read_data(fitsfile *fp, const ff_fits_src *s, int hdu, const ff_fits_probe *p,
                      const ff_fits_scaling *sc, const ff_fits_tiles *tl, int nthreads,
                      ff_image *img, int *own, ff_err *err);

#endif
