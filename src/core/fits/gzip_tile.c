/* GZIP_1/GZIP_2 tiles decoded with libdeflate (gzip_tile.h).
 *
 * A tile is a gzip stream of big-endian values: the image's integers (1, 2 or 4 bytes), the
 * quantised integers of a float image (4 bytes), or the floats themselves (4 or 8 bytes). GZIP_2
 * stores the bytes shuffled: first byte of every value, then the second bytes, and so on, which
 * is undone while swapping to native order. A quantised image may keep tiles that could not be
 * quantised as plain floats in GZIP_COMPRESSED_DATA; CFITSIO reads those unshuffled. */
#include "core/fits/gzip_tile.h"

#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>

struct ff_gzip_decoder {
    struct libdeflate_decompressor *d;
    unsigned char *buf; /* inflated bytes of one tile */
    int32_t *ints;      /* its quantised integers */
    size_t max_npix;
};

/* ---- the plan --------------------------------------------------------------------------- */

static int read_column(fitsfile *fp, const char *name, int type, long long n, void *out)
{
    int st = 0, col = 0, anynul = 0;
    if (fits_get_colnum(fp, CASEINSEN, (char *)name, &col, &st) != 0)
        return -1;
    fits_read_col(fp, type, col, 1, 1, (LONGLONG)n, NULL, out, &anynul, &st);
    return st == 0 ? 0 : -1;
}

/* ZSCALE, ZZERO (and ZBLANK when a column) of every tile; 0, or -1 when a column cannot be read
 * as numbers (CFITSIO then reports it). */
static int read_tile_params(fitsfile *fp, ff_gzip_image *g, long long n)
{
    double *v = malloc((size_t)n * sizeof *v);
    int32_t *b = g->quant.blank_column ? malloc((size_t)n * sizeof *b) : NULL;
    int rc = -1;
    if (!v || (g->quant.blank_column && !b))
        goto done;
    if (read_column(fp, "ZSCALE", TDOUBLE, n, v) != 0)
        goto done;
    for (long long t = 0; t < n; t++)
        g->tiles[t].scale = v[t];
    if (read_column(fp, "ZZERO", TDOUBLE, n, v) != 0)
        goto done;
    for (long long t = 0; t < n; t++)
        g->tiles[t].zero = v[t];
    if (b && read_column(fp, "ZBLANK", TINT, n, b) != 0)
        goto done;
    for (long long t = 0; t < n; t++)
        g->tiles[t].blank = b ? b[t] : g->quant.blank;
    rc = 0;
done:
    free(v);
    free(b);
    return rc;
}

int ff_gzip_plan(fitsfile *fp, int zbitpix, int shuffled, long long ntiles, const ff_quant *q,
                 ff_gzip_image *g, ff_err *err)
{
    memset(g, 0, sizeof *g);
    if (ntiles <= 0 || (zbitpix != 8 && zbitpix != 16 && zbitpix != 32 && zbitpix != -32 &&
                        zbitpix != -64))
        return 0;
    int scaled = q->scale_column || q->zero_column || q->scale_keyword || q->zero_keyword;
    int quantized = 0;
    if (zbitpix > 0) {
        if (scaled || q->blank_column)
            return 0; /* integers read through ZSCALE/ZZERO or per-tile blanks: CFITSIO's */
    } else if (q->scale_column && q->zero_column && q->method != FF_QUANT_LOSSLESS) {
        quantized = 1;
    } else if (scaled) {
        return 0; /* constant ZSCALE keywords, or scaled lossless floats */
    }
    g->zbitpix = zbitpix;
    g->shuffled = shuffled;
    g->quantized = quantized;
    g->quant = *q;
    g->nulls = ff_quant_nulls(q, zbitpix);
    g->ntiles = ntiles;
    g->tiles = calloc((size_t)ntiles, sizeof *g->tiles);
    if (!g->tiles)
        return ff_err_set(err, "out of memory for %lld tiles", ntiles);
    if (quantized && read_tile_params(fp, g, ntiles) != 0) {
        fits_clear_errmsg();
        ff_gzip_image_free(g);
        return 0;
    }
    return 1;
}

void ff_gzip_image_free(ff_gzip_image *g)
{
    if (g) {
        free(g->tiles);
        g->tiles = NULL;
    }
}

/* ---- decoding --------------------------------------------------------------------------- */

ff_gzip_decoder *ff_gzip_decoder_new(size_t max_npix)
{
    if (max_npix > FF_GZIP_MAX_TILE_PIX)
        return NULL;
    ff_gzip_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->max_npix = max_npix;
    d->d = libdeflate_alloc_decompressor();
    d->buf = malloc(max_npix * 8 + 1);
    d->ints = malloc(max_npix * sizeof *d->ints + 1);
    if (!d->d || !d->buf || !d->ints) {
        ff_gzip_decoder_free(d);
        return NULL;
    }
    return d;
}

void ff_gzip_decoder_free(ff_gzip_decoder *d)
{
    if (!d)
        return;
    if (d->d)
        libdeflate_free_decompressor(d->d);
    free(d->buf);
    free(d->ints);
    free(d);
}

/* n big-endian values of w bytes at s (byte planes when shuffled) to native order at out. */
/* Sixteen 4-byte values from GZIP_2's byte planes (most significant first) into native words:
 * two rounds of byte, then 16-bit, interleaving (SSE2's unpack instructions, or any CPU's
 * equivalent) in place of a shift-and-or per value. */
typedef uint8_t v16b __attribute__((vector_size(16)));
typedef uint16_t v8h __attribute__((vector_size(16)));

static inline void unshuffle16(const unsigned char *b3, const unsigned char *b2,
                               const unsigned char *b1, const unsigned char *b0, uint32_t *o)
{
    v16b a, b, c, d; /* a: bits 24-31 ... d: bits 0-7 */
    memcpy(&a, b3, 16);
    memcpy(&b, b2, 16);
    memcpy(&c, b1, 16);
    memcpy(&d, b0, 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const v8h lo0 = (v8h)__builtin_shufflevector(d, c, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const v8h lo1 = (v8h)__builtin_shufflevector(d, c, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const v8h hi0 = (v8h)__builtin_shufflevector(b, a, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const v8h hi1 = (v8h)__builtin_shufflevector(b, a, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const v8h w0 = __builtin_shufflevector(lo0, hi0, 0, 8, 1, 9, 2, 10, 3, 11);
    const v8h w1 = __builtin_shufflevector(lo0, hi0, 4, 12, 5, 13, 6, 14, 7, 15);
    const v8h w2 = __builtin_shufflevector(lo1, hi1, 0, 8, 1, 9, 2, 10, 3, 11);
    const v8h w3 = __builtin_shufflevector(lo1, hi1, 4, 12, 5, 13, 6, 14, 7, 15);
    memcpy(o, &w0, 16);
    memcpy(o + 4, &w1, 16);
    memcpy(o + 8, &w2, 16);
    memcpy(o + 12, &w3, 16);
#else
    for (int i = 0; i < 16; i++)
        o[i] = (uint32_t)a[i] << 24 | (uint32_t)b[i] << 16 | (uint32_t)c[i] << 8 | d[i];
#endif
}

static void to_native(const unsigned char *s, size_t n, int w, int shuffled, void *out)
{
    if (w == 1) {
        memcpy(out, s, n);
    } else if (w == 2) {
        uint16_t *o = out;
        if (shuffled)
            for (size_t i = 0; i < n; i++)
                o[i] = (uint16_t)(s[i] << 8 | s[n + i]);
        else
            for (size_t i = 0; i < n; i++)
                o[i] = (uint16_t)(s[2 * i] << 8 | s[2 * i + 1]);
    } else if (w == 4) {
        uint32_t *o = out;
        if (shuffled) {
            const unsigned char *p1 = s + n, *p2 = s + 2 * n, *p3 = s + 3 * n;
            size_t i = 0;
            for (; i + 16 <= n; i += 16)
                unshuffle16(s + i, p1 + i, p2 + i, p3 + i, o + i);
            for (; i < n; i++)
                o[i] = (uint32_t)s[i] << 24 | (uint32_t)p1[i] << 16 | (uint32_t)p2[i] << 8 | p3[i];
        } else {
            for (size_t i = 0; i < n; i++) {
                uint32_t v;
                memcpy(&v, s + 4 * i, 4);
                o[i] = __builtin_bswap32(v);
            }
        }
    } else {
        uint64_t *o = out;
        for (size_t i = 0; i < n; i++) {
            uint64_t v = 0;
            for (int k = 0; k < 8; k++)
                v = v << 8 | (shuffled ? s[(size_t)k * n + i] : s[8 * i + (size_t)k]);
            o[i] = v;
        }
    }
}

int ff_gzip_decode_tile(ff_gzip_decoder *d, const ff_gzip_image *g, long long t, void *out)
{
    const ff_gzip_tile *tl = &g->tiles[t];
    size_t n = tl->npix;
    int fw = (g->zbitpix < 0 ? -g->zbitpix : g->zbitpix) / 8;
    int q = g->quantized && !tl->lossless;
    int w = q ? 4 : fw;
    if (n > d->max_npix || !tl->c)
        return FF_GZIP_DEFER;
    /* zlib checks a gzip header's CRC (FLG.FHCRC); libdeflate skips it */
    if (tl->len >= 4 && (tl->c[3] & 0x02))
        return FF_GZIP_DEFER;
    size_t used = 0, got = 0;
    enum libdeflate_result r = libdeflate_gzip_decompress_ex(d->d, tl->c, tl->len, d->buf,
                                                             n * (size_t)w, &used, &got);
    if (r != LIBDEFLATE_SUCCESS || got != n * (size_t)w)
        return FF_GZIP_DEFER;
    int shuffled = g->shuffled && !tl->lossless;
    if (q) {
        to_native(d->buf, n, 4, shuffled, d->ints);
        if (g->zbitpix == -32)
            ff_quant_to_f32(d->ints, n, &g->quant, t, tl->scale, tl->zero, g->nulls, tl->blank, out);
        else
            ff_quant_to_f64(d->ints, n, &g->quant, t, tl->scale, tl->zero, g->nulls, tl->blank, out);
        return 0;
    }
    to_native(d->buf, n, w, shuffled, out);
    if (g->zbitpix == -32)
        ff_quant_lossless_f32(out, n, g->nulls, out);
    else if (g->zbitpix == -64)
        ff_quant_lossless_f64(out, n, g->nulls, out);
    return 0;
}
