/* 8-bit PNG output: gray, palette (PLTE + tRNS) or RGB images with tEXt chunks, streamed to an
 * ff_sink. ff_png_write goes through libspng (the remote images in src/remote/); ff_png_write8,
 * for the renders, writes the chunks itself and compresses with deflate_fast.c (png.c says
 * why). Compression settings are chosen for speed. */
#ifndef FF_CORE_OUT_PNG_H
#define FF_CORE_OUT_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/out/sink.h"

/* One tEXt chunk. key: 1..79 printable Latin-1 characters; text: any string (characters outside
 * printable ASCII and newline are written as '?'). */
typedef struct ff_png_text {
    const char *key;
    const char *text;
} ff_png_text;

/* A palette: n entries (1..256) of rgb; alpha[i] for the first ntrans entries (0 = no tRNS). */
typedef struct ff_png_palette {
    unsigned n;
    uint8_t rgb[256][3];
    unsigned ntrans;
    uint8_t alpha[256];
} ff_png_palette;

/* Compression settings. ff_png_write8 uses the defaults below (png.c says why). */
typedef struct ff_png_options {
    int level;       /* zlib level 0..9 */
    int strategy;    /* zlib strategy: 0 default, 1 filtered, 2 Huffman only, 3 RLE */
    int filters;     /* libspng SPNG_FILTER_CHOICE_* bits (8 none, 16 sub, 32 up, 64 avg, 128 paeth) */
    int mem_level;   /* zlib memLevel 1..9; 0 = libspng's default */
} ff_png_options;

extern const ff_png_options ff_png_default_options;

/* An 8-bit image, rows top first, row stride = width * channels: gray (channels 1, pal NULL),
 * indexed (channels 1 with pal: every pixel value must be < pal->n) or RGB (channels 3). */
typedef struct ff_png_image {
    const uint8_t *pixels;
    uint32_t width, height;
    int channels;
    const ff_png_palette *pal;
} ff_png_image;

/* Writes img with the text chunks (at most 64) and these compression settings (NULL: the
 * defaults). Returns 0, or -1 with err. */
int ff_png_write(const ff_png_image *img, const ff_png_text *text, size_t ntext,
                 const ff_png_options *opt, ff_sink *out, ff_err *err);

/* Writes a width x height 8-bit image, rows top first, row stride = width. pal NULL: grayscale;
 * else colour type 3 with pal (every pixel value must be < pal->n). Every row UP-filtered, runs
 * coded as Z_RLE would. Returns 0, or -1 with err. */
int ff_png_write8(const uint8_t *pixels, uint32_t width, uint32_t height, const ff_png_palette *pal,
                  const ff_png_text *text, size_t ntext, ff_sink *out, ff_err *err);

/* Writes the gray image of an 8-bit indexed PNG whose indices are gray levels (as the renders
 * are: both PNGs come from one level buffer): the same compressed pixel data, with IHDR's colour
 * type set to gray, PLTE and tRNS dropped, and the tEXt chunk named table_key given the text
 * table_value. One deflate pass serves both images. Returns 0, or -1 with err when png is not
 * such a PNG. */
int ff_png_gray_from_indexed(const uint8_t *png, size_t len, const char *table_key,
                             const char *table_value, ff_sink *out, ff_err *err);

#endif
