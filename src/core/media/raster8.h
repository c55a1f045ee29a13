/* An 8-bit raster as the image decoders (JPEG 2000, JPEG) return it: rows top first, channels
 * interleaved (1 = gray, 3 = RGB), no padding between rows. */
#ifndef FF_CORE_MEDIA_RASTER8_H
#define FF_CORE_MEDIA_RASTER8_H

#include <stdint.h>
#include <stdlib.h>

typedef struct ff_raster8 {
    uint8_t *pixels;   /* malloc'd, width * height * channels bytes */
    uint32_t width, height;
    int channels;      /* 1 or 3 */
} ff_raster8;

static inline void ff_raster8_free(ff_raster8 *r)
{
    free(r->pixels);
    r->pixels = NULL;
    r->width = r->height = 0;
}

#endif
