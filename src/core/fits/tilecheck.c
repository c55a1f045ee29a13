/* Walks a RICE_1 tile's bit stream exactly as CFITSIO's decoder reads it, with every byte read
 * bounds-checked, so that corrupted tiles are refused before CFITSIO overreads them (tilecheck.h).
 *
 * Stream layout: the first pixel's value in bytepix bytes (big-endian), then per block of
 * `blocksize` pixels an FS code of fsbits bits (code - 1 = FS; -1: every difference is zero;
 * fsmax: each pixel written directly in 8*bytepix bits; otherwise each difference Rice-coded as a
 * unary count of zero bits, a one bit and FS low bits). The bit buffer is 32 bits wide and wraps
 * as the decoder's unsigned int does, so the walk follows the same path on any input. */
#include "core/fits/tilecheck.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
    char allowed[32] = "";
    unsigned left = widths_mask & 0xF;
    for (unsigned i = 0; i < 4; i++) {
        if (!(left & (1u << i)))
            continue;
        if (out == npix << i)
            return 0;
        left &= ~(1u << i);
        size_t len = strlen(allowed);
        snprintf(allowed + len, sizeof allowed - len, "%s%u", !len ? "" : left ? ", " : " or ", 1u << i);
    }
    return ff_err_set(err, "its gzip data inflate to %zu bytes, which is not a whole number of "
                           "pixels of the image's type for its %zu pixels (%s bytes each)", out,
                      npix, allowed);
}

/* ---- HCOMPRESS_1 ---------------------------------------------------------------------------
 * The stream (R. White's H-compress as CFITSIO's fits_hdecompress reads it): magic 0xDD 0x99, nx,
 * ny and scale (32-bit big-endian; ny varies fastest), the sum of all pixels (64-bit), the bit-plane
 * counts of three quadrant groups (one byte each), then a bit stream: for each of the four
 * quadrants of the coefficient array and each bit plane from the top, a 4-bit code, 0 for a plane
 * written directly (4 pixels per 4-bit value) or 15 for a quadtree (fixed Huffman codes of 2x2
 * blocks, expanded level by level, a code read for each non-zero block); then a 4-bit 0, and,
 * starting on a fresh byte, one sign bit for each non-zero coefficient. The decoder never looks at
 * the stream's length; this walk reads it the same way with every byte checked, keeping only
 * which coefficients are non-zero (that decides how many sign bits follow). */

typedef struct hbits {
    const unsigned char *c;
    size_t len, pos;
    uint32_t buf; /* the decoder's bit buffer and its count of unread bits */
    int bits;
    int over;     /* a byte past the end was wanted */
} hbits;

static uint32_t hb_byte(hbits *b)
{
    if (b->pos >= b->len) {
        b->over = 1;
        return 0;
    }
    return b->c[b->pos++];
}

static int hb_bit(hbits *b)
{
    if (b->bits == 0) {
        b->buf = hb_byte(b);
        b->bits = 8;
    }
    b->bits--;
    return (int)(b->buf >> b->bits) & 1;
}

static int hb_nbits(hbits *b, int n) /* n <= 8 */
{
    if (b->bits < n) {
        b->buf = (b->buf << 8) | hb_byte(b);
        b->bits += 8;
    }
    b->bits -= n;
    return (int)(b->buf >> b->bits) & ((1 << n) - 1);
}

/* n 4-bit values, as the decoder's input_nnybble reads them (whole bytes at the current bit
 * offset, first backing up one byte when a whole one is buffered) */
static void hb_nybbles(hbits *b, size_t n, unsigned char *out)
{
    if (n == 1) {
        out[0] = (unsigned char)hb_nbits(b, 4);
        return;
    }
    if (b->bits == 8) {
        b->pos--;
        b->bits = 0;
    }
    int s1 = b->bits + 4, s2 = b->bits;
    size_t k = 0;
    for (size_t i = 0; i < n / 2 && !b->over; i++) {
        b->buf = (b->buf << 8) | hb_byte(b);
        out[k++] = (unsigned char)((b->buf >> s1) & 15);
        out[k++] = (unsigned char)((b->buf >> s2) & 15);
    }
    if (n % 2 && !b->over)
        out[n - 1] = (unsigned char)hb_nbits(b, 4);
}

static unsigned char hb_huffman(hbits *b)
{
    int c = hb_nbits(b, 3);
    if (c < 4)
        return (unsigned char)(1 << c);
    c = hb_bit(b) | c << 1;
    switch (c) {
    case 8: return 3;
    case 9: return 5;
    case 10: return 10;
    case 11: return 12;
    case 12: return 15;
    default: break;
    }
    c = hb_bit(b) | c << 1;
    switch (c) {
    case 26: return 6;
    case 27: return 7;
    case 28: return 9;
    case 29: return 11;
    case 30: return 13;
    default: break;
    }
    c = hb_bit(b) | c << 1;
    return c == 62 ? 0 : 14;
}

/* Marks the pixels whose bit the 4-bit values of a ((nx+1)/2 x (ny+1)/2, row-major) set in the
 * nx x ny block at map (row stride n): bit 3 is (i, j), bit 2 (i, j+1), bit 1 (i+1, j), bit 0
 * (i+1, j+1), edges clipped. */
static void hb_insert(const unsigned char *a, int nx, int ny, unsigned char *map, size_t n)
{
    size_t k = 0;
    for (int i = 0; i < nx; i += 2)
        for (int j = 0; j < ny; j += 2, k++) {
            unsigned v = a[k];
            unsigned char *p = map + (size_t)i * n + (size_t)j;
            p[0] |= (v >> 3) & 1;
            if (j + 1 < ny)
                p[1] |= (v >> 2) & 1;
            if (i + 1 < nx) {
                p[n] |= (v >> 1) & 1;
                if (j + 1 < ny)
                    p[n + 1] |= v & 1;
            }
        }
}

/* One quadtree expansion in place: the (nx+1)/2 x (ny+1)/2 values at a become nx x ny bits
 * (the same bit layout), then each non-zero one is replaced by the next Huffman code. Returns
 * whether any value is non-zero. */
static int hb_expand(hbits *b, unsigned char *a, int nx, int ny)
{
    int nx2 = (nx + 1) / 2, ny2 = (ny + 1) / 2;
    for (int i = nx2 - 1; i >= 0; i--) /* backwards: the source and target overlap */
        for (int j = ny2 - 1; j >= 0; j--)
            a[(size_t)(2 * i) * (size_t)ny + (size_t)(2 * j)] = a[(size_t)i * (size_t)ny2 + (size_t)j];
    for (int i = 0; i < nx; i += 2)
        for (int j = 0; j < ny; j += 2) {
            unsigned char *p = a + (size_t)i * (size_t)ny + (size_t)j;
            unsigned v = p[0];
            p[0] = (v >> 3) & 1;
            if (j + 1 < ny)
                p[1] = (v >> 2) & 1;
            if (i + 1 < nx) {
                p[ny] = (v >> 1) & 1;
                if (j + 1 < ny)
                    p[ny + 1] = v & 1;
            }
        }
    int any = 0;
    for (size_t i = (size_t)nx * (size_t)ny; i-- > 0 && !b->over;)
        if (a[i]) {
            a[i] = hb_huffman(b);
            any |= a[i] != 0;
        }
    return any;
}

/* One quadrant of nqx x nqy coefficients at map (row stride n), nplanes bit planes. */
static int hb_quadrant(hbits *b, unsigned char *map, size_t n, int nqx, int nqy, int nplanes,
                       unsigned char *scratch, const char **what)
{
    int nqmax = nqx > nqy ? nqx : nqy, log2n = 0;
    while ((1 << log2n) < nqmax)
        log2n++;
    size_t ncodes = (size_t)((nqx + 1) / 2) * (size_t)((nqy + 1) / 2);
    for (int bit = nplanes - 1; bit >= 0; bit--) {
        int code = hb_nbits(b, 4);
        if (b->over)
            return -1;
        if (code == 0) {
            hb_nybbles(b, ncodes, scratch);
            if (b->over)
                return -1;
            hb_insert(scratch, nqx, nqy, map, n);
        } else if (code != 15) {
            *what = "a bit plane's code is neither 0 nor 15";
            return -1;
        } else if (nqx <= 0 || nqy <= 0) {
            /* CFITSIO would store the first code in a scratch array of 0 bytes */
            *what = "an empty quadrant has a quadtree-coded bit plane";
            return -1;
        } else {
            scratch[0] = hb_huffman(b);
            int any = scratch[0] != 0, nx = 1, ny = 1, nfx = nqx, nfy = nqy, c = 1 << log2n;
            for (int k = 1; k < log2n && any && !b->over; k++) {
                c >>= 1;
                nx <<= 1;
                ny <<= 1;
                if (nfx <= c)
                    nx--;
                else
                    nfx -= c;
                if (nfy <= c)
                    ny--;
                else
                    nfy -= c;
                any = hb_expand(b, scratch, nx, ny);
            }
            if (b->over)
                return -1;
            if (any) /* an all-zero level expands to zeros and reads nothing more */
                hb_insert(scratch, nqx, nqy, map, n);
        }
    }
    return 0;
}

int ff_tile_check_hcompress(const unsigned char *c, size_t clen, size_t npix, ff_err *err)
{
    if (clen < 25 || c[0] != 0xDD || c[1] != 0x99)
        return ff_err_set(err, "its HCOMPRESS_1 header is missing or damaged");
    int32_t nx = (int32_t)((uint32_t)c[2] << 24 | (uint32_t)c[3] << 16 | (uint32_t)c[4] << 8 | c[5]);
    int32_t ny = (int32_t)((uint32_t)c[6] << 24 | (uint32_t)c[7] << 16 | (uint32_t)c[8] << 8 | c[9]);
    /* CFITSIO 4.2 decodes nx * ny pixels into the tile's buffer, whatever its size */
    if (nx <= 0 || ny <= 0 || (uint64_t)nx * (uint64_t)ny != (uint64_t)npix)
        return ff_err_set(err, "its HCOMPRESS_1 header says %d x %d pixels, but the tile has %zu",
                          nx, ny, npix);
    const unsigned char *planes = c + 22;
    for (int q = 0; q < 3; q++)
        if (planes[q] > 64)
            return ff_err_set(err, "its HCOMPRESS_1 header claims %d bit planes", planes[q]);
    int nx2 = (nx + 1) / 2, ny2 = (ny + 1) / 2;
    unsigned char *map = calloc(npix, 1);
    unsigned char *scratch = malloc((size_t)((nx2 + 1) / 2) * (size_t)((ny2 + 1) / 2) + 1);
    if (!map || !scratch) {
        free(map);
        free(scratch);
        return ff_err_set(err, "out of memory checking an HCOMPRESS_1 tile of %zu pixels", npix);
    }
    hbits b = {c, clen, 25, 0, 0, 0};
    const char *what = NULL;
    size_t n = (size_t)ny;
    int rc = hb_quadrant(&b, map, n, nx2, ny2, planes[0], scratch, &what);
    if (rc == 0)
        rc = hb_quadrant(&b, map + ny2, n, nx2, ny / 2, planes[1], scratch, &what);
    if (rc == 0)
        rc = hb_quadrant(&b, map + (size_t)nx2 * n, n, nx / 2, ny2, planes[1], scratch, &what);
    if (rc == 0)
        rc = hb_quadrant(&b, map + (size_t)nx2 * n + (size_t)ny2, n, nx / 2, ny / 2, planes[2],
                         scratch, &what);
    if (rc == 0 && hb_nbits(&b, 4) != 0 && !b.over) {
        what = "its bit planes do not end with a 0 code";
        rc = -1;
    }
    size_t nonzero = 0;
    for (size_t i = 0; i < npix; i++)
        nonzero += map[i];
    free(map);
    free(scratch);
    if (rc == 0 && !b.over && nonzero > 0) {
        /* the sign bits start on a fresh byte */
        size_t need = (nonzero + 7) / 8;
        if (need > clen - b.pos)
            b.over = 1;
    }
    if (b.over)
        return ff_err_set(err, "its HCOMPRESS_1 stream runs past the tile's %zu bytes", clen);
    if (rc != 0)
        return ff_err_set(err, "its HCOMPRESS_1 stream is damaged (%s)", what);
    return 0;
}

static int16_t be16(const unsigned char *c, size_t i)
{
    return (int16_t)((uint16_t)c[2 * i] << 8 | c[2 * i + 1]);
}

int ff_tile_check_plio(const unsigned char *c, size_t nwords, ff_err *err)
{
    /* Header: word 2 > 0 gives the list length (instructions start at word 3); otherwise the
     * length is word 4 * 2^15 + word 3 and instructions start at word 1 (0-based). */
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
    /* An empty list makes the decoder return without writing a pixel: CFITSIO would hand on
     * whatever its tile buffer held before. */
    if (len <= 0)
        return ff_err_set(err, "its PLIO_1 line list is empty (length %lld)", len);
    if (first < 0)
        return ff_err_set(err, "its PLIO_1 line list starts before its own beginning");
    if ((unsigned long long)len > nwords)
        return ff_err_set(err, "its PLIO_1 line list claims %lld words but the tile holds %zu", len,
                          nwords);
    for (long long i = first; i < len; i++) {
        /* C division, as the decoder's: words -4095..-1 are opcode 0, other negatives none */
        int op = be16(c, (size_t)i) / 4096;
        if (op == 1) { /* "set high value": its upper bits are in the next word */
            if ((unsigned long long)(i + 1) >= nwords)
                return ff_err_set(err, "its PLIO_1 line list ends inside an instruction");
            i++;
        }
    }
    return 0;
}
