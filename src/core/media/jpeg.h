/* Decoding JPEG with libjpeg-turbo (TurboJPEG API) into an 8-bit raster: a grayscale JPEG stays
 * gray, anything else becomes RGB (or gray when asked). */
#ifndef FF_CORE_MEDIA_JPEG_H
#define FF_CORE_MEDIA_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/media/raster8.h"

/* 1 when buf starts with a JPEG SOI marker. */
int ff_jpeg_sniff(const void *buf, size_t len);

/* Decodes buf into out (free with ff_raster8_free). want_gray = 1 always yields one channel.
 * Images with more than max_pixels pixels (0: 2^28) are refused before decoding. Returns 0, or
 * -1 with a reason (libjpeg-turbo's message for corrupt or truncated data). Thread-safe. */
int ff_jpeg_decode(const void *buf, size_t len, int want_gray, uint64_t max_pixels,
                   ff_raster8 *out, ff_err *err);

#endif
