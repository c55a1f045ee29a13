/* RICE_1 decoding (the tile format of the FITS tiled-image convention): a first value, then
 * blocks of differences each starting with a code selecting "all zero", "raw" or a Rice split
 * of fs low bits. Every read is checked against the tile's end. */
#include "core/fits/rice.h"

#include <stdint.h>

static inline int nbits_of(uint32_t v) /* position of the highest set bit + 1; v > 0 */
{
    return 32 - __builtin_clz(v);
}

/* One decoder per pixel width (T is the output type): the per-pixel store then needs no branch. */
#define RICE_DECODER(NAME, T, FSBITS, FSMAX, BBITS, MASK)                                         \
    static int NAME(const unsigned char *c, size_t clen, T *out, size_t npix, int bytepix,        \
                    int blocksize, ff_err *err)                                                    \
    {                                                                                              \
        const unsigned char *p = c + bytepix, *end = c + clen;                                     \
        uint32_t lastpix = 0;                                                                      \
        for (int k = 0; k < bytepix; k++)                                                          \
            lastpix = (lastpix << 8) | c[k];                                                       \
        uint32_t b = *p++;                                                                         \
        int nbits = 8;                                                                             \
        size_t i = 0;                                                                              \
        while (i < npix) {                                                                         \
            nbits -= FSBITS;                                                                       \
            while (nbits < 0) {                                                                    \
                if (p >= end)                                                                      \
                    goto overrun;                                                                  \
                b = (b << 8) | *p++;                                                               \
                nbits += 8;                                                                        \
            }                                                                                      \
            int fs = (int)(b >> nbits) - 1;                                                        \
            b &= (1u << nbits) - 1;                                                                \
            size_t imax = npix - i > (size_t)blocksize ? i + (size_t)blocksize : npix;             \
            if (fs < 0) {                                                                          \
                for (; i < imax; i++)                                                              \
                    out[i] = (T)lastpix;                                                           \
            } else if (fs == FSMAX) {                                                              \
                for (; i < imax; i++) {                                                            \
                    int k = BBITS - nbits;                                                         \
                    uint64_t diff = (uint64_t)b << k;                                              \
                    for (k -= 8; k >= 0; k -= 8) {                                                 \
                        if (p >= end)                                                              \
                            goto overrun;                                                          \
                        diff |= (uint64_t)*p++ << k;                                               \
                    }                                                                              \
                    if (nbits > 0) {                                                               \
                        if (p >= end)                                                              \
                            goto overrun;                                                          \
                        uint32_t v = *p++;                                                         \
                        diff |= v >> (-k);                                                         \
                        b = v & ((1u << nbits) - 1);                                               \
                    } else {                                                                       \
                        b = 0;                                                                     \
                    }                                                                              \
                    uint32_t d = (uint32_t)diff & (MASK);                                          \
                    d = (d & 1) == 0 ? d >> 1 : ~(d >> 1);                                         \
                    lastpix = (d + lastpix) & (MASK);                                              \
                    out[i] = (T)lastpix;                                                           \
                }                                                                                  \
            } else {                                                                               \
                for (; i < imax; i++) {                                                            \
                    while (b == 0) {                                                               \
                        if (p >= end)                                                              \
                            goto overrun;                                                          \
                        b = *p++;                                                                  \
                        nbits += 8;                                                                \
                    }                                                                              \
                    int nzero = nbits - nbits_of(b);                                               \
                    nbits -= nzero + 1;                                                            \
                    b ^= 1u << nbits;                                                              \
                    nbits -= fs;                                                                   \
                    while (nbits < 0) {                                                            \
                        if (p >= end)                                                              \
                            goto overrun;                                                          \
                        b = (b << 8) | *p++;                                                       \
                        nbits += 8;                                                                \
                    }                                                                              \
                    /* the sign fold works on all 32 bits, as CFITSIO's does (a damaged stream  \
                     * can give a difference wider than the pixel) */                              \
                    uint32_t d = ((uint32_t)nzero << fs) | (b >> nbits);                           \
                    b &= (1u << nbits) - 1;                                                        \
                    d = (d & 1) == 0 ? d >> 1 : ~(d >> 1);                                         \
                    lastpix = (d + lastpix) & (MASK);                                              \
                    out[i] = (T)lastpix;                                                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        return 0;                                                                                  \
    overrun:                                                                                       \
        return ff_err_set(err, "its RICE_1 bit stream runs past the tile's %zu bytes (at pixel "   \
                               "%zu of %zu)", clen, i, npix);                                      \
    }

RICE_DECODER(decode8, uint8_t, 3, 6, 8, 0xffu)
RICE_DECODER(decode16, uint16_t, 4, 14, 16, 0xffffu)
RICE_DECODER(decode32, uint32_t, 5, 25, 32, 0xffffffffu)

int ff_rice_decode(const unsigned char *c, size_t clen, void *out, size_t npix, int bytepix,
                   int blocksize, ff_err *err)
{
    if (bytepix != 1 && bytepix != 2 && bytepix != 4)
        return ff_err_set(err, "RICE_1 tiles of %d bytes per pixel are not supported", bytepix);
    if (blocksize <= 0)
        return ff_err_set(err, "the RICE_1 block size is %d; it must be positive", blocksize);
    if (npix == 0)
        return 0;
    if (clen < (size_t)bytepix + 1)
        return ff_err_set(err, "it holds %zu bytes, too few for a RICE_1 tile's first pixel", clen);
    if (bytepix == 2)
        return decode16(c, clen, out, npix, bytepix, blocksize, err);
    if (bytepix == 4)
        return decode32(c, clen, out, npix, bytepix, blocksize, err);
    return decode8(c, clen, out, npix, bytepix, blocksize, err);
}
