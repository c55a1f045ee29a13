/* Reading the image, in bands of whole rows (whole tiles) on several threads when CFITSIO is
 * reentrant: one memfile handle per thread; RICE_1 and GZIP tiles that tiles.c found fit are
 * decoded by our own decoders (rice.h, gzip_tile.h) instead of CFITSIO. */
#include "base/hugepage.h"
#include "core/fits/fits_impl.h"
#include "core/fits/rice.h"
#include "core/fits/tilecheck.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MIN_PIXELS_PER_THREAD (1u << 18)

typedef struct band {
    const ff_fits_src *s;
    int hdu;
    int compressed;
    const ff_fits_scaling *sc;
    int unsigned_blank;
    size_t first, count;   /* element range */
    unsigned char *out;    /* output base of the whole image */
    fitsfile *fp;          /* already open handle (band 0), or NULL to open one */
    const ff_fits_tiles *tl;   /* usable: decode the band's tiles here, without CFITSIO */
    int status;
    int own_err;           /* err says what failed (else status is CFITSIO's) */
    int deferred;          /* tl was usable but the band went to CFITSIO */
    ff_err err;
} band;

/* The band's RICE_1 tiles decoded by ff_rice_decode: 0, or -1 with b->err. */
static int rice_band(band *b, unsigned char *dst, long long t0, long long t1)
{
    const ff_fits_tiles *tl = b->tl;
    size_t rsize = ff_dtype_size(b->sc->raw);
    for (long long t = t0; t < t1; t++) {
        const ff_fits_tile *r = &tl->tiles[t];
        size_t off = (size_t)t * tl->tile_pix - b->first;
        if (ff_rice_decode(r->c, r->len, dst + off * rsize, r->npix, tl->bytepix, tl->blocksize,
                           &b->err) != 0)
            return ff_err_prefix(&b->err, "tile %lld of %lld", t + 1, tl->total);
    }
    return 0;
}

/* The band's GZIP tiles decoded by gzip_tile.c: 0; or, when it defers a tile, the band's tiles
 * judged by zlib as tiles.c judges those CFITSIO decodes: -1 with b->err for the first bad one,
 * else FF_GZIP_DEFER (the band goes to CFITSIO). */
static int gzip_band(band *b, unsigned char *dst, long long t0, long long t1)
{
    const ff_fits_tiles *tl = b->tl;
    size_t rsize = ff_dtype_size(b->sc->raw);
    ff_gzip_decoder *d = ff_gzip_decoder_new(tl->tile_pix);
    int rc = d ? 0 : FF_GZIP_DEFER;
    for (long long t = t0; t < t1 && rc == 0; t++)
        rc = ff_gzip_decode_tile(d, &tl->gz, t, dst + ((size_t)t * tl->tile_pix - b->first) * rsize);
    ff_gzip_decoder_free(d);
    if (rc == 0)
        return 0;
    for (long long t = t0; t < t1; t++) {
        const ff_gzip_tile *g = &tl->gz.tiles[t];
        if (ff_tile_check_gzip(g->c, g->len, g->npix, g->lossless ? tl->alt_widths : tl->widths,
                               &b->err) != 0)
            return ff_err_prefix(&b->err, "tile %lld of %lld", t + 1, tl->total);
    }
    return FF_GZIP_DEFER;
}

static void *read_band(void *arg)
{
    band *b = arg;
    if (b->tl && b->tl->usable) {
        const ff_fits_tiles *tl = b->tl;
        unsigned char *dst = b->out + b->first * ff_dtype_size(b->sc->out);
        /* Raw values go to the start of the band's output, as CFITSIO would put them. */
        long long t0 = (long long)(b->first / tl->tile_pix);
        long long t1 = (long long)((b->first + b->count + tl->tile_pix - 1) / tl->tile_pix);
        if (t1 > tl->total)
            t1 = tl->total;
        int rc = tl->gzip ? gzip_band(b, dst, t0, t1) : rice_band(b, dst, t0, t1);
        if (rc < 0) {
            b->own_err = 1;
            b->status = DATA_DECOMPRESSION_ERR;
            return NULL;
        }
        if (rc == 0) {
            if (b->unsigned_blank)
                ff_fits_convert_unsigned_blank(dst, b->count, b->sc);
            else
                ff_fits_convert(dst, b->count, b->sc);
            b->status = 0;
            return NULL;
        }
        b->deferred = 1;
    }
    ff_fits_handle h = {0};
    fitsfile *fp = b->fp;
    int st = 0;
    if (!fp) {
        if (ff_fits_handle_open(&h, b->s, &st) == 0)
            fits_movabs_hdu(h.fp, b->hdu + 1, NULL, &st);
        fp = h.fp;
    }
    if (st == 0) {
        double z1 = 1.0, z0 = 0.0;
        if (b->compressed) {
            /* astropy hands CFITSIO ZSCALE/ZZERO keywords (not columns) as the tile ff_fits_scaling */
            int s2 = 0, col = 0;
            if (fits_get_colnum(fp, CASEINSEN, "ZSCALE", &col, &s2) != 0) {
                s2 = 0;
                if (fits_read_key(fp, TDOUBLE, "ZSCALE", &z1, NULL, &s2))
                    z1 = 1.0;
            }
            s2 = 0;
            if (fits_get_colnum(fp, CASEINSEN, "ZZERO", &col, &s2) != 0) {
                s2 = 0;
                if (fits_read_key(fp, TDOUBLE, "ZZERO", &z0, NULL, &s2))
                    z0 = 0.0;
            }
        }
        fits_set_bscale(fp, z1, z0, &st);
    }
    size_t osize = ff_dtype_size(b->sc->out);
    void *dst = b->out + b->first * osize;
    if (st == 0 && b->count) {
        /* NaN for undefined pixels of quantised floats (ff_quant_nulls); else no null check */
        float fnan = NAN;
        double dnan = NAN;
        void *nulval = !b->sc->nan_blanks ? NULL
                       : b->sc->raw == FF_F32 ? (void *)&fnan
                                              : (void *)&dnan;
        int anynul = 0;
        fits_read_img(fp, ff_fits_cfitsio_type(b->sc->raw), (LONGLONG)b->first + 1,
                      (LONGLONG)b->count, nulval, dst, &anynul, &st);
    }
    if (st == 0) {
        if (b->unsigned_blank)
            ff_fits_convert_unsigned_blank(dst, b->count, b->sc);
        else
            ff_fits_convert(dst, b->count, b->sc);
    }
    b->status = st;
    if (h.fp)
        ff_fits_handle_close(&h);
    return NULL;
}

static long long tile_rows(fitsfile *fp, const ff_fits_probe *p)
{
    if (!p->compressed)
        return 1;
    int st = 0;
    long long t2 = 1, t3 = 1;
    fits_read_key(fp, TLONGLONG, "ZTILE2", &t2, NULL, &st);
    st = 0;
    fits_read_key(fp, TLONGLONG, "ZTILE3", &t3, NULL, &st);
    fits_clear_errmsg();
    if (p->naxis == 2)
        return t2 > 0 ? t2 : 1;
    if (p->naxis == 3 && t3 == 1)
        return (t2 > 0 && p->naxes[1] % t2 == 0) ? t2 : p->naxes[1];
    return 0; /* no useful band split */
}

int ff_fits_read_data(fitsfile *fp, const ff_fits_src *s, int hdu, const ff_fits_probe *p, const ff_fits_scaling *sc,
                     const ff_fits_tiles *tl, int nthreads, ff_image *img, int *own, ff_err *err)
{
    size_t osize = ff_dtype_size(sc->out);
    img->data = malloc(img->nelem * osize);
    if (!img->data)
        return ff_err_set(err, "out of memory for a %zu-pixel image", img->nelem);
    ff_hugepage_advise(img->data, img->nelem * osize);
    int unsigned_blank = sc->blank_on_converted && !sc->do_scale;

    size_t rowlen = p->naxis >= 1 && p->naxes[0] > 0 ? (size_t)p->naxes[0] : 0;
    if (rowlen == 0 || img->nelem % rowlen != 0) { /* choose_hdu takes only axes > 0 */
        free(img->data);
        img->data = NULL;
        return ff_err_set(err, "the image's first axis is empty");
    }
    size_t nrows = img->nelem / rowlen;
    long long unit = p->naxis >= 2 ? tile_rows(fp, p) : 0;
    if (nthreads > FF_FITS_MAX_THREADS)
        nthreads = FF_FITS_MAX_THREADS;
    if (unit <= 0 || !fits_is_reentrant())
        nthreads = 1;
    if (nthreads > 1 && img->nelem / (size_t)nthreads < MIN_PIXELS_PER_THREAD)
        nthreads = img->nelem >= 2 * MIN_PIXELS_PER_THREAD ? (int)(img->nelem / MIN_PIXELS_PER_THREAD) : 1;
    size_t units = unit > 0 ? (nrows + (size_t)unit - 1) / (size_t)unit : 1;
    if (nthreads > (int)units)
        nthreads = (int)units;
    if (nthreads < 1)
        nthreads = 1;

    band b[FF_FITS_MAX_THREADS];
    pthread_t tid[FF_FITS_MAX_THREADS];
    int started[FF_FITS_MAX_THREADS] = {0};
    size_t row = 0;
    for (int t = 0; t < nthreads; t++) {
        size_t u_end = units * (size_t)(t + 1) / (size_t)nthreads;
        size_t row_end = nthreads == 1 ? nrows : u_end * (size_t)unit;
        if (row_end > nrows || t == nthreads - 1)
            row_end = nrows;
        b[t] = (band){.s = s, .hdu = hdu, .compressed = p->compressed, .sc = sc,
                      .unsigned_blank = unsigned_blank, .first = row * rowlen,
                      .count = (row_end - row) * rowlen, .out = img->data, .fp = t == 0 ? fp : NULL,
                      .tl = tl};
        row = row_end;
    }
    for (int t = 1; t < nthreads; t++)
        started[t] = pthread_create(&tid[t], NULL, read_band, &b[t]) == 0;
    read_band(&b[0]);
    for (int t = 1; t < nthreads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            read_band(&b[t]); /* no thread available: do it here */
    }
    for (int t = 0; t < nthreads; t++) {
        if (b[t].status) {
            char txt[FLEN_STATUS];
            ff_fits_cfitsio_text(b[t].status, txt, sizeof txt);
            free(img->data);
            img->data = NULL;
            if (b[t].own_err)
                return ff_err_set(err, "the compressed image data are damaged: %s", b[t].err.msg);
            if (p->compressed)
                return ff_err_set(err, "the compressed image data are damaged and could not be "
                                       "decoded (CFITSIO: %s)", txt);
            return ff_err_set(err, "the image data could not be read (CFITSIO: %s)", txt);
        }
    }
    *own = tl->usable;
    for (int t = 0; t < nthreads; t++)
        *own &= !b[t].deferred;
    return 0;
}

