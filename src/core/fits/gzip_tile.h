/* Decoding GZIP_1 and GZIP_2 tiles ourselves, for the common case of images tiled by whole rows
 * (fpack's and JSOC's files): libdeflate inflates each tile (2-3x zlib's speed), the GZIP_2 byte
 * planes are put back together, and quantised floats are restored (quantize.h), on as many
 * threads as the reader runs. The values are those CFITSIO's reader gives.
 *
 * The decoder never refuses a tile: whatever libdeflate does not inflate cleanly to exactly the
 * expected size is handed back (FF_GZIP_DEFER), and the caller then judges the tile with zlib
 * as before (ff_tile_check_gzip) and lets CFITSIO decode it, so that refusals and their messages
 * stay zlib's and CFITSIO's. */
#ifndef FF_CORE_GZIP_TILE_H
#define FF_CORE_GZIP_TILE_H

#include <fitsio.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/fits/quantize.h"

#define FF_GZIP_DEFER 1
#define FF_GZIP_MAX_TILE_PIX ((size_t)1 << 22) /* larger tiles stay with CFITSIO */

typedef struct ff_gzip_tile {
    const unsigned char *c; /* the tile's gzip stream, inside the file's buffer */
    size_t len;
    size_t npix;            /* pixels of the tile (edge tiles clipped) */
    int lossless;           /* from GZIP_COMPRESSED_DATA: the floats themselves, not shuffled */
    double scale, zero;     /* ZSCALE, ZZERO of a quantised tile */
    int32_t blank;          /* ZBLANK of the tile, when nulls */
} ff_gzip_tile;

typedef struct ff_gzip_image {
    int zbitpix;            /* 8, 16, 32 (integers), -32, -64 (floats) */
    int shuffled;           /* GZIP_2 */
    int quantized;          /* float tiles hold integers scaled by ZSCALE/ZZERO columns */
    int nulls;              /* ZBLANK integers (and, in lossless tiles, NaN and infinities)
                               become NaN: see ff_quant_nulls */
    ff_quant quant;
    ff_gzip_tile *tiles;    /* one per tile, in table order; the caller fills c, len, npix and
                               lossless */
    long long ntiles;
} ff_gzip_image;

/* Decides whether the image at fp (a GZIP_1 or GZIP_2 compressed image with ntiles tiles, its
 * quantisation q already read and checked) is one this decoder reproduces, and if so allocates
 * g->tiles and fills the per-tile ZSCALE, ZZERO and ZBLANK. Returns 1 (use the decoder; free with
 * ff_gzip_image_free), 0 (leave the image to CFITSIO) or -1 with err (out of memory). */
int ff_gzip_plan(fitsfile *fp, int zbitpix, int shuffled, long long ntiles, const ff_quant *q,
                 ff_gzip_image *g, ff_err *err);

void ff_gzip_image_free(ff_gzip_image *g);

/* Per-thread state: a libdeflate decompressor and room for one tile of up to max_npix pixels
 * (at most FF_GZIP_MAX_TILE_PIX; NULL when larger or out of memory). */
typedef struct ff_gzip_decoder ff_gzip_decoder;
ff_gzip_decoder *ff_gzip_decoder_new(size_t max_npix);
void ff_gzip_decoder_free(ff_gzip_decoder *d);

/* Decodes tile t of g into out: npix values of the image's raw type (uint8, int16, int32, float
 * or double for ZBITPIX 8, 16, 32, -32, -64), native byte order. Returns 0, or FF_GZIP_DEFER when
 * the tile must go to zlib and CFITSIO instead (damaged, an unusual width, a header CRC). */
int ff_gzip_decode_tile(ff_gzip_decoder *d, const ff_gzip_image *g, long long t, void *out);

#endif
