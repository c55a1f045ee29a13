/* Decoding RICE_1 tiles ourselves, bounds-checked, for the common case of integer images tiled by
 * whole rows (JSOC's AIA and HMI files): one pass over the compressed bits instead of a safety
 * walk followed by CFITSIO's own decoder. The values are those CFITSIO's fits_rdecomp gives. */
#ifndef FF_CORE_FITS_RICE_H
#define FF_CORE_FITS_RICE_H

#include <stddef.h>

#include "base/err.h"

/* Decodes the tile at c (clen bytes) into npix values of bytepix bytes (1, 2 or 4; native byte
 * order, the bit patterns of uint8/int16/int32) at out. blocksize is the RICE block size (> 0).
 * Returns 0, or -1 with err when the stream ends early or is malformed. */
int ff_rice_decode(const unsigned char *c, size_t clen, void *out, size_t npix, int bytepix,
                   int blocksize, ff_err *err);

#endif
