/* Decoding JPEG 2000 (a JP2 file or a raw J2K codestream) with OpenJPEG into an 8-bit raster:
 * one component -> gray, three or more -> RGB (the first three; alpha dropped). Components of
 * more than 8 bits are scaled down (value >> (precision - 8)); signed ones are offset first. */
#ifndef FF_CORE_MEDIA_JP2_H
#define FF_CORE_MEDIA_JP2_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/media/raster8.h"

/* 1 when buf starts like a JP2 file or a J2K codestream. */
int ff_jp2_sniff(const void *buf, size_t len);

/* Decodes buf (len bytes) into out (pixels malloc'd; free with ff_raster8_free). Images with
 * more than max_pixels pixels (0: 2^28) are refused before decoding. Returns 0, or -1 with a
 * reason (not JPEG 2000, truncated, unsupported subsampling, too large, ...). Thread-safe. */
int ff_jp2_decode(const void *buf, size_t len, uint64_t max_pixels, ff_raster8 *out, ff_err *err);

#endif
