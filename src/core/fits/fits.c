/* Reads one image from a FITS file so that dtype and values equal astropy.io.fits's hdul[k].data.
 *
 * The file is mapped (or, when gzip-compressed, inflated once) into memory and every CFITSIO
 * handle is a memfile over that one buffer: CFITSIO shares one FITSfile between handles opened by
 * name, so per-thread handles must be memfiles to be independent. CFITSIO only decodes raw values
 * (scaling disabled); the BSCALE/BZERO/BLANK arithmetic is done here the way astropy 5.2 does it
 * (hdu/image.py and hdu/compressed.py), including its float32 arithmetic for 8/16-bit data.
 * CFITSIO does not survive every hostile file: before it opens one, every header is judged on its
 * raw bytes (prescan.h), and before it decodes a tile, every tile is checked (tilecheck.h). */
#include "core/fits/fits_impl.h"
#include "core/fits/prescan.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* CFITSIO fills its driver table lazily on the first open; two threads opening their first file
 * at once race on it. Fill it once, before any open. */
static pthread_once_t cfitsio_once = PTHREAD_ONCE_INIT;
static void cfitsio_init(void)
{
    fits_init_cfitsio();
}

/* Everything ff_fits_read checks before it decodes a pixel: the header pre-scan, CFITSIO's open,
 * the HDU choice, the pixel limit, the data size and the tile table with every tile. On success
 * h is open on the chosen HDU, *p and *hdu describe it, *npix is its pixel count and tl holds its
 * RICE_1 tiles when read_band decodes them itself. */
static int open_checked(const ff_fits_src *s, const ff_fits_opts *opts, ff_fits_handle *h, ff_fits_probe *p, int *hdu,
                        uint64_t *npix, ff_fits_tiles *tl, ff_err *err)
{
    uint64_t max_pixels = opts && opts->max_pixels ? opts->max_pixels : FF_FITS_DEFAULT_MAX_PIXELS;
    if (ff_fits_prescan(s->buf, s->size, NULL, err) != 0)
        return -1;
    int st = 0;
    if (ff_fits_handle_open(h, s, &st)) {
        char t[FLEN_STATUS];
        ff_fits_cfitsio_text(st, t, sizeof t);
        return ff_err_set(err, "the primary header is not valid FITS (CFITSIO: %s)", t);
    }
    if (ff_fits_choose_hdu(h->fp, hdu, p, err) != 0)
        return -1;
    *npix = 1;
    for (int i = 0; i < p->naxis; i++) {
        if ((uint64_t)p->naxes[i] > max_pixels || *npix * (uint64_t)p->naxes[i] > max_pixels) {
            uint64_t shown = 1;
            int over = 0;
            for (int k = 0; k < p->naxis; k++)
                over |= __builtin_mul_overflow(shown, (uint64_t)p->naxes[k], &shown);
            if (over)
                return ff_err_set(err, "the image in HDU %d is too large to address (axes multiply "
                                       "past 2^64 pixels)", *hdu);
            return ff_err_set(err, "the image in HDU %d has %llu pixels, more than the limit of %llu",
                              *hdu, (unsigned long long)shown, (unsigned long long)max_pixels);
        }
        *npix *= (uint64_t)p->naxes[i];
    }
    if (ff_fits_check_size(h->fp, s, p, err) != 0)
        return -1;
    if (p->compressed &&
        ff_fits_check_tiles(h->fp, s, p, max_pixels, opts ? opts->nthreads : 1,
                            opts && opts->cfitsio_only ? NULL : tl, err) != 0)
        return -1;
    return 0;
}

int ff_fits_check_mem(const void *buf, size_t size, const ff_fits_opts *opts, ff_err *err)
{
    pthread_once(&cfitsio_once, cfitsio_init);
    if (size == 0)
        return ff_err_set(err, "file is empty");
    ff_fits_src s = {.size = size, .cap = ff_fits_round_block(size)};
    s.buf = malloc(s.cap);
    if (!s.buf)
        return ff_err_set(err, "out of memory reading a %zu-byte file", size);
    memcpy(s.buf, buf, size);
    memset(s.buf + size, 0, s.cap - size);
    ff_fits_handle h = {0};
    ff_fits_probe p;
    int hdu = -1;
    uint64_t npix = 0;
    ff_fits_tiles tl = {0};
    int rc = open_checked(&s, opts, &h, &p, &hdu, &npix, &tl, err);
    ff_fits_tiles_free(&tl);
    ff_fits_handle_close(&h);
    ff_fits_src_free(&s);
    fits_clear_errmsg();
    return rc;
}

/* The chosen HDU's header into out->header: a compressed image's rebuilt as astropy shows it
 * (CFITSIO's conversion gives a primary-style header with SIMPLE, EXTEND and its own COMMENT
 * cards), an image's as CFITSIO converts it. */
static int read_header(fitsfile *fp, const ff_fits_probe *p, int hdu, ff_fits *out, ff_err *err)
{
    if (p->compressed)
        return ff_fits_compressed_header(fp, &out->header, err);
    char *hdr = NULL;
    int nkeys = 0, st = 0, s2 = 0;
    if (fits_convert_hdr2str(fp, 0, NULL, 0, &hdr, &nkeys, &st)) {
        char t[FLEN_STATUS];
        ff_fits_cfitsio_text(st, t, sizeof t);
        if (hdr) /* CFITSIO may fail after allocating the string */
            fits_free_memory(hdr, &s2);
        return ff_err_set(err, "the header of HDU %d could not be read (CFITSIO: %s)", hdu, t);
    }
    int rc = nkeys < 0 ? -1 : ff_header_parse(hdr, (size_t)nkeys, &out->header, err);
    fits_free_memory(hdr, &s2);
    return rc;
}

/* What the image is: its HDU, compression and dtype (after astropy's scaling) and shape. */
static void describe(fitsfile *fp, const ff_fits_probe *p, int hdu, uint64_t npix,
                     const ff_fits_scaling *sc, ff_fits *out)
{
    out->hdu = hdu;
    out->compressed = p->compressed;
    out->bitpix = p->bitpix;
    if (p->compressed) {
        char ztype[FLEN_VALUE] = "";
        int st = 0;
        if (fits_read_key(fp, TSTRING, "ZCMPTYPE", ztype, NULL, &st) == 0 &&
            strlen(ztype) < sizeof out->compression)
            memcpy(out->compression, ztype, strlen(ztype) + 1);
        fits_clear_errmsg();
    }
    out->image.dtype = sc->out;
    out->image.ndim = p->naxis;
    out->image.nelem = (size_t)npix;
    for (int i = 0; i < p->naxis; i++)
        out->image.shape[p->naxis - 1 - i] = (size_t)p->naxes[i];
}

int ff_fits_read(const char *path, const ff_fits_opts *opts, ff_fits *out, ff_err *err)
{
    pthread_once(&cfitsio_once, cfitsio_init);
    memset(out, 0, sizeof *out);
    uint64_t max_pixels = opts && opts->max_pixels ? opts->max_pixels : FF_FITS_DEFAULT_MAX_PIXELS;
    ff_fits_src s;
    if (ff_fits_src_load(path, max_pixels, &s, err) != 0)
        return -1;
    ff_fits_handle h = {0};
    ff_fits_tiles tl = {0};
    ff_fits_probe p;
    ff_fits_scaling sc;
    int hdu = -1, rc = -1;
    uint64_t npix = 0;
    if (open_checked(&s, opts, &h, &p, &hdu, &npix, &tl, err) == 0 &&
        read_header(h.fp, &p, hdu, out, err) == 0) {
        if (p.compressed)
            ff_fits_plan_compressed(&sc, h.fp, p.bitpix);
        else
            ff_fits_plan_image(&sc, p.bitpix, &out->header);
        describe(h.fp, &p, hdu, npix, &sc, out);
        rc = ff_fits_read_data(h.fp, &s, hdu, &p, &sc, &tl, opts ? opts->nthreads : 1,
                               &out->image, &out->own_tiles, err);
    }
    ff_fits_tiles_free(&tl);
    ff_fits_handle_close(&h);
    ff_fits_src_free(&s);
    fits_clear_errmsg();
    if (rc != 0)
        ff_fits_free(out);
    return rc;
}

void ff_fits_free(ff_fits *f)
{
    if (!f)
        return;
    ff_header_free(&f->header);
    ff_image_free(&f->image);
    memset(f, 0, sizeof *f);
}

