/* Walks a RICE_1 tile's bit stream exactly as CFITSIO's decoder reads it, with every byte read
 * bounds-checked, so that corrupted tiles are refused before CFITSIO overreads them (tilecheck.h).
 *
 * Stream layout: the first pixel's value in bytepix bytes (big-endian), then per block of
 * `blocksize` pixels an FS code of fsbits bits (code - 1 = FS; -1: every difference is zero;
 * fsmax: each pixel written directly in 8*bytepix bits; otherwise each difference Rice-coded as a
 * unary count of zero bits, a one bit and FS low bits). The bit buffer is 32 bits wide and wraps
 * as the decoder's unsigned int does, so the walk follows the same path on any input. */
#include "core/tilecheck.h"

#include <stdint.h>
#include <string.h>
#include <zlib.h>

typedef struct walk {
    const unsigned char *c;
    size_t len, pos;
} walk;

/* the next byte, or -1 past the end */
static inline int next_byte(walk *w)
{
    return w->pos < w->len ? w->c[w->pos++] : -1;
}

/* number of significant bits of a byte value (0 for 0) */
static inline int bit_length(uint32_t b)
{
    return b ? 32 - __builtin_clz(b) : 0;
}

int ff_tile_check_rice(const unsigned char *c, size_t clen, size_t npix, int bytepix, int blocksize,
                       ff_err *err)
{
    int fsbits, fsmax, bbits;
    if (bytepix == 1) {
        fsbits = 3, fsmax = 6, bbits = 8;
    } else if (bytepix == 2) {
        fsbits = 4, fsmax = 14, bbits = 16;
    } else {
        bytepix = 4;
        fsbits = 5, fsmax = 25, bbits = 32;
    }
    if (blocksize <= 0)
        return ff_err_set(err, "the RICE_1 block size is %d; it must be positive", blocksize);
    if (npix == 0)
        return 0;
    /* the first value, then the first byte of the bit stream */
    if (clen < (size_t)bytepix + 1)
        return ff_err_set(err, "it holds %zu bytes, too few for a RICE_1 tile's first pixel", clen);
    walk w = {c, clen, (size_t)bytepix};
    uint32_t b = (uint32_t)next_byte(&w);
    int nbits = 8;
    const char *what = NULL;
    size_t i = 0;
    while (i < npix) {
        nbits -= fsbits;
        while (nbits < 0) {
            int v = next_byte(&w);
            if (v < 0) {
                what = "a block header";
                goto overrun;
            }
            b = (b << 8) | (uint32_t)v;
            nbits += 8;
        }
        int fs = (int)(b >> nbits) - 1;
        b &= (1u << nbits) - 1;
        size_t imax = npix - i > (size_t)blocksize ? i + (size_t)blocksize : npix;
        if (fs < 0) {
            i = imax;
        } else if (fs == fsmax) {
            /* each pixel takes bbits bits: whole bytes after the nbits still buffered, and the
             * buffered count is the same after every pixel */
            size_t per = (size_t)(bbits - nbits + 7) / 8;
            size_t need = (imax - i) * per;
            if (need > w.len - w.pos) {
                what = "directly coded pixels";
                goto overrun;
            }
            w.pos += need;
            b = nbits > 0 ? (uint32_t)w.c[w.pos - 1] & ((1u << nbits) - 1) : 0;
            i = imax;
        } else {
            for (; i < imax; i++) {
                while (b == 0) {
                    int v = next_byte(&w);
                    if (v < 0) {
                        what = "a run of zero bits";
                        goto overrun;
                    }
                    nbits += 8;
                    b = (uint32_t)v;
                }
                int nzero = nbits - bit_length(b);
                nbits -= nzero + 1;
                b ^= 1u << nbits;
                nbits -= fs;
                while (nbits < 0) {
                    int v = next_byte(&w);
                    if (v < 0) {
                        what = "a coded difference";
                        goto overrun;
                    }
                    b = (b << 8) | (uint32_t)v;
                    nbits += 8;
                }
                b &= (1u << nbits) - 1;
            }
        }
    }
    return 0;
overrun:
    return ff_err_set(err, "its RICE_1 bit stream runs past the tile's %zu bytes (in %s, at pixel %zu "
                           "of %zu)", clen, what, i, npix);
}

int ff_tile_check_gzip(const unsigned char *c, size_t clen, size_t npix, unsigned widths_mask,
                       ff_err *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK) /* gzip wrapper only, as CFITSIO reads tiles */
        return ff_err_set(err, "could not start gzip decompression of a tile");
    unsigned char scratch[16384];
    size_t out = 0, limit = npix * 8;
    int rc = Z_OK;
    z.next_in = (unsigned char *)c;
    z.avail_in = clen > UINT32_MAX ? UINT32_MAX : (uInt)clen;
    while (rc == Z_OK) {
        z.next_out = scratch;
        z.avail_out = sizeof scratch;
        rc = inflate(&z, Z_NO_FLUSH);
        out += sizeof scratch - z.avail_out;
        if (out > limit)
            break;
        if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0))
            break;
    }
    inflateEnd(&z);
    if (out > limit)
        return ff_err_set(err, "its gzip data inflate to more than %zu bytes, 8 per pixel", limit);
    if (rc != Z_STREAM_END)
        return ff_err_set(err, "its gzip data are corrupt or cut short");
    for (unsigned i = 0; i < 4; i++)
        if ((widths_mask & (1u << i)) && out == npix << i)
            return 0;
    return ff_err_set(err, "its gzip data inflate to %zu bytes, which is not a whole number of "
                           "pixels of the image's type for its %zu pixels", out, npix);
}

int ff_tile_check_hcompress(const unsigned char *c, size_t clen, size_t npix, ff_err *err)
{
    /* magic 0xDD 0x99, nx, ny, scale (32-bit big-endian), sum (64-bit), 3 bit-plane counts */
    if (clen < 25 || c[0] != 0xDD || c[1] != 0x99)
        return ff_err_set(err, "its HCOMPRESS_1 header is missing or damaged");
    int32_t nx = (int32_t)((uint32_t)c[2] << 24 | (uint32_t)c[3] << 16 | (uint32_t)c[4] << 8 | c[5]);
    int32_t ny = (int32_t)((uint32_t)c[6] << 24 | (uint32_t)c[7] << 16 | (uint32_t)c[8] << 8 | c[9]);
    if (nx <= 0 || ny <= 0 || (uint64_t)nx * (uint64_t)ny != (uint64_t)npix)
        return ff_err_set(err, "its HCOMPRESS_1 header says %d x %d pixels, but the tile has %zu",
                          nx, ny, npix);
    return 0;
}

static int16_t be16(const unsigned char *c, size_t i)
{
    return (int16_t)((uint16_t)c[2 * i] << 8 | c[2 * i + 1]);
}

int ff_tile_check_plio(const unsigned char *c, size_t nwords, ff_err *err)
{
    /* Header: word 2 > 0 gives the list length (instructions start at word 3); otherwise the
     * length is word 4 * 2^15 + word 3 and instructions start at word 1 + 1 (0-based). */
    if (nwords < 3)
        return ff_err_set(err, "its PLIO_1 line list has %zu words, too few for a header", nwords);
    long long len, first; /* first: 0-based index of the first instruction */
    if (be16(c, 2) > 0) {
        len = be16(c, 2);
        first = 3;
    } else {
        if (nwords < 5)
            return ff_err_set(err, "its PLIO_1 line list has %zu words, too few for a header", nwords);
        len = (long long)be16(c, 4) * 32768 + be16(c, 3);
        first = (long long)be16(c, 1);
    }
    if (len <= 0)
        return 0; /* the decoder returns at once */
    if (first < 0)
        return ff_err_set(err, "its PLIO_1 line list starts before its own beginning");
    if ((unsigned long long)len > nwords)
        return ff_err_set(err, "its PLIO_1 line list claims %lld words but the tile holds %zu", len,
                          nwords);
    for (long long i = first; i < len; i++) {
        int op = be16(c, (size_t)i) / 4096;
        if (op == 4 || op == 5) { /* the value's high bits are in the next word */
            if ((unsigned long long)(i + 1) >= nwords)
                return ff_err_set(err, "its PLIO_1 line list ends inside an instruction");
            i++;
        }
    }
    return 0;
}
