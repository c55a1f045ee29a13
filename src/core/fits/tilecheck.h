/* Checks of tile-compressed image data, run before CFITSIO decodes a tile, for the corruptions
 * CFITSIO does not survive.
 *
 * RICE_1: a bounds-checked pass over the tile (HCOMPRESS_1 and PLIO_1 below).
 * CFITSIO's Rice decoder (fits_rdecomp and its byte/short variants) checks for the end of its
 * input only after each block of pixels, and a run of zero bits makes it read on without limit,
 * so corrupted (not truncated) tile bytes make it read past its buffer (a crash under ASan, and
 * in release builds too when the run reaches unmapped memory). This pass walks the same bit
 * stream the same way, touching only the bytes given, and says whether the decoder would stay
 * inside them. It does not compute pixel values. */
#ifndef FF_CORE_FITS_TILECHECK_H
#define FF_CORE_FITS_TILECHECK_H

#include <stddef.h>

#include "base/err.h"

/* Checks that decoding npix pixels from the clen bytes at c reads no byte beyond them.
 * bytepix is the tile's BYTEPIX (1 and 2 select the byte and short decoders; any other value the
 * 4-byte one, as CFITSIO does); blocksize is BLOCKSIZE (pixels per coding block, > 0).
 * Returns 0 when the stream stays in bounds, or -1 with err saying what is wrong. */
int ff_tile_check_rice(const unsigned char *c, size_t clen, size_t npix, int bytepix, int blocksize,
                       ff_err *err);

/* GZIP_1/GZIP_2: CFITSIO frees nothing when a tile inflates to a size it does not expect (a leak
 * per damaged tile). Inflates the gzip stream at c (clen bytes) without keeping the output and
 * checks that it ends cleanly with a size of npix times one of the allowed byte widths (bit i of
 * widths_mask set: 2^i bytes per pixel). Returns 0, or -1 with err. */
int ff_tile_check_gzip(const unsigned char *c, size_t clen, size_t npix, unsigned widths_mask,
                       ff_err *err);

/* HCOMPRESS_1: CFITSIO's decoder (fits_hdecompress) takes no input length: it reads as far as the
 * codes say, decodes nx * ny pixels (written in the stream itself) into the tile's buffer, and
 * leaks its scratch memory on some damaged streams. Walks the whole stream the way the decoder
 * reads it, every byte checked: nx * ny must be the tile's pixel count, every bit-plane code must
 * be one the decoder accepts, the planes must end with the 0 code, and the sign bits must fit.
 * Returns 0 when CFITSIO's decoder would read only these clen bytes and succeed, or -1 with err. */
int ff_tile_check_hcompress(const unsigned char *c, size_t clen, size_t npix, ff_err *err);

/* PLIO_1: CFITSIO's line-list decoder (pl_l2pi) takes the list length and first instruction from
 * the list's own header words and reads that far without looking at the tile's size; what it
 * writes is bounded by the pixel count. Checks, on the big-endian 16-bit words at c (nwords of
 * them), that the header words exist, that the list is not empty (the decoder would then write
 * nothing), that the instructions start inside the list, and that every word the decoder reads
 * (including the second word of opcode 1, "set high value") lies inside the tile.
 * Returns 0, or -1 with err. */
int ff_tile_check_plio(const unsigned char *c, size_t nwords, ff_err *err);

#endif
