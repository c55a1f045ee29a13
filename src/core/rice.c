/* RICE_1 decoding (the tile format of the FITS tiled-image convention): a first value, then
 * blocks of differences each starting with a code selecting "all zero", "raw" or a Rice split
 * of fs low bits. Every read is checked against the tile's end. */
#include "core/rice.h"

#include <stdint.h>

typedef struct bits {
    const unsigned char *c;
    size_t len, pos;
} bits;

static inline int next(bits *w, uint32_t *v)
{
    if (w->pos >= w->len)
        return -1;
    *v = w->c[w->pos++];
    return 0;
}

static inline int nbits_of(uint32_t v) /* position of the highest set bit + 1; v > 0 */
{
    return 32 - __builtin_clz(v);
}

static inline void store(void *out, size_t i, int bytepix, uint32_t v)
{
    if (bytepix == 2)
        ((uint16_t *)out)[i] = (uint16_t)v;
    else if (bytepix == 4)
        ((uint32_t *)out)[i] = v;
    else
        ((uint8_t *)out)[i] = (uint8_t)v;
}

int ff_rice_decode(const unsigned char *c, size_t clen, void *out, size_t npix, int bytepix,
                   int blocksize, ff_err *err)
{
    int fsbits, fsmax, bbits;
    uint32_t mask;
    if (bytepix == 1)
        fsbits = 3, fsmax = 6, bbits = 8, mask = 0xffu;
    else if (bytepix == 2)
        fsbits = 4, fsmax = 14, bbits = 16, mask = 0xffffu;
    else if (bytepix == 4)
        fsbits = 5, fsmax = 25, bbits = 32, mask = 0xffffffffu;
    else
        return ff_err_set(err, "RICE_1 tiles of %d bytes per pixel are not supported", bytepix);
    if (blocksize <= 0)
        return ff_err_set(err, "the RICE_1 block size is %d; it must be positive", blocksize);
    if (npix == 0)
        return 0;
    if (clen < (size_t)bytepix + 1)
        return ff_err_set(err, "it holds %zu bytes, too few for a RICE_1 tile's first pixel", clen);
    bits w = {c, clen, 0};
    uint32_t lastpix = 0, v = 0;
    for (int k = 0; k < bytepix; k++) {
        next(&w, &v);
        lastpix = (lastpix << 8) | v;
    }
    uint32_t b = 0;
    next(&w, &b);
    int nbits = 8;
    size_t i = 0;
    while (i < npix) {
        nbits -= fsbits;
        while (nbits < 0) {
            if (next(&w, &v))
                goto overrun;
            b = (b << 8) | v;
            nbits += 8;
        }
        int fs = (int)(b >> nbits) - 1;
        b &= (1u << nbits) - 1;
        size_t imax = npix - i > (size_t)blocksize ? i + (size_t)blocksize : npix;
        if (fs < 0) {
            for (; i < imax; i++)
                store(out, i, bytepix, lastpix);
        } else if (fs == fsmax) {
            for (; i < imax; i++) {
                /* bbits raw bits: the nbits still buffered, then whole bytes, then a part */
                int k = bbits - nbits;
                uint64_t diff = (uint64_t)b << k;
                for (k -= 8; k >= 0; k -= 8) {
                    if (next(&w, &v))
                        goto overrun;
                    diff |= (uint64_t)v << k;
                }
                if (nbits > 0) {
                    if (next(&w, &v))
                        goto overrun;
                    diff |= v >> (-k);
                    b = v & ((1u << nbits) - 1);
                } else {
                    b = 0;
                }
                uint32_t d = (uint32_t)diff & mask;
                d = (d & 1) == 0 ? d >> 1 : ~(d >> 1);
                lastpix = (d + lastpix) & mask;
                store(out, i, bytepix, lastpix);
            }
        } else {
            for (; i < imax; i++) {
                while (b == 0) {
                    if (next(&w, &b))
                        goto overrun;
                    nbits += 8;
                }
                int nzero = nbits - nbits_of(b);
                nbits -= nzero + 1;
                b ^= 1u << nbits;
                nbits -= fs;
                while (nbits < 0) {
                    if (next(&w, &v))
                        goto overrun;
                    b = (b << 8) | v;
                    nbits += 8;
                }
                uint32_t d = ((uint32_t)nzero << fs) | (b >> nbits);
                b &= (1u << nbits) - 1;
                d &= mask;
                d = (d & 1) == 0 ? d >> 1 : ~(d >> 1);
                lastpix = (d + lastpix) & mask;
                store(out, i, bytepix, lastpix);
            }
        }
    }
    return 0;
overrun:
    return ff_err_set(err, "its RICE_1 bit stream runs past the tile's %zu bytes (at pixel %zu of %zu)",
                      clen, i, npix);
}
