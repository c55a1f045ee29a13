/* CFITSIO handles over the file in memory, and which HDU holds the image: the first image HDU
 * (HDU 1 first, as JSOC puts AIA behind an empty primary), each HDU probed for what it is; then
 * the data it needs, against what the file holds. */
#include "core/fits/fits_impl.h"
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define MAX_HDUS 1000 /* HDUs searched for an image */

int ff_fits_handle_open(ff_fits_handle *h, const ff_fits_src *s, int *status)
{
    h->fp = NULL;
    h->buf = s->buf;
    h->size = s->cap;
    return fits_open_memfile(&h->fp, "fitsflow.fits", READONLY, &h->buf, &h->size, 0, NULL, status);
}

void ff_fits_handle_close(ff_fits_handle *h)
{
    int st = 0;
    if (h->fp)
        fits_close_file(h->fp, &st);
    h->fp = NULL;
}

void ff_fits_cfitsio_text(int status, char *buf, size_t n)
{
    char t[FLEN_STATUS] = "";
    fits_get_errstatus(status, t);
    snprintf(buf, n, "%s", t);
    fits_clear_errmsg();
}

typedef enum probe_kind {
    P_IMAGE,
    P_EMPTY,       /* image HDU with NAXIS = 0 */
    P_TABLE,
    P_GROUPS,
    P_TOO_MANY,
    P_ZERO_AXIS,
    P_BAD,         /* CFITSIO could not read its parameters */
} probe_kind;

static void probe_hdu(fitsfile *fp, int hdu, ff_fits_probe *p)
{
    memset(p, 0, sizeof *p);
    int st = 0, type = 0;
    fits_get_hdu_type(fp, &type, &st);
    p->compressed = fits_is_compressed_image(fp, &st);
    if (st) {
        fits_clear_errmsg();
        p->kind = P_BAD;
        return;
    }
    if (type != IMAGE_HDU && !p->compressed) {
        p->kind = P_TABLE;
        return;
    }
    long long ax[FF_MAX_NDIM] = {0};
    fits_get_img_paramll(fp, FF_MAX_NDIM, &p->bitpix, &p->naxis, ax, &st);
    if (st) {
        fits_clear_errmsg();
        p->kind = P_BAD;
        return;
    }
    if (p->naxis < 0) {
        p->kind = P_BAD; /* e.g. ZNAXIS = -1, which CFITSIO lets through */
        return;
    }
    if (p->naxis == 0) {
        p->kind = P_EMPTY;
        return;
    }
    if (p->bitpix != 8 && p->bitpix != 16 && p->bitpix != 32 && p->bitpix != 64 &&
        p->bitpix != -32 && p->bitpix != -64) {
        p->kind = P_BAD; /* e.g. ZBITPIX = 12, which CFITSIO lets through */
        return;
    }
    if (hdu == 0 && ax[0] == 0) {
        int groups = 0;
        if (fits_read_key(fp, TLOGICAL, "GROUPS", &groups, NULL, &st) == 0 && groups) {
            p->kind = P_GROUPS;
            return;
        }
        st = 0;
        fits_clear_errmsg();
    }
    if (p->naxis > FF_MAX_NDIM) {
        p->kind = P_TOO_MANY;
        return;
    }
    for (int i = 0; i < p->naxis; i++) {
        p->naxes[i] = ax[i];
        if (ax[i] <= 0 && !p->zero_axis)
            p->zero_axis = i + 1;
    }
    p->kind = p->zero_axis ? P_ZERO_AXIS : P_IMAGE;
}

/* Moves fp to the chosen HDU and fills *chosen and *p; on failure explains why no HDU fits. */
int ff_fits_choose_hdu(fitsfile *fp, int *chosen, ff_fits_probe *p, ff_err *err)
{
    ff_fits_probe first_bad = {.kind = P_EMPTY};
    int first_bad_hdu = -1, saw_table = 0;
    char damaged[FLEN_STATUS + 64] = "";
    int order[MAX_HDUS];
    int n = 0;
    order[n++] = 1;
    order[n++] = 0;
    for (int k = 2; k < MAX_HDUS; k++)
        order[n++] = k;
    for (int i = 0; i < n; i++) {
        int k = order[i], st = 0;
        if (fits_movabs_hdu(fp, k + 1, NULL, &st)) {
            if (st != END_OF_FILE && !damaged[0] && k >= 1) {
                char t[FLEN_STATUS];
                ff_fits_cfitsio_text(st, t, sizeof t);
                snprintf(damaged, sizeof damaged, "HDU %d could not be read (%s)", k, t);
            }
            fits_clear_errmsg();
            if (k >= 2)
                break;
            continue;
        }
        probe_hdu(fp, k, p);
        if (p->kind == P_IMAGE) {
            *chosen = k;
            return 0;
        }
        if (p->kind == P_TABLE)
            saw_table = 1;
        if (first_bad_hdu < 0 && p->kind != P_TABLE && p->kind != P_EMPTY) {
            first_bad = *p;
            first_bad_hdu = k;
        }
    }
    switch (first_bad.kind) {
    case P_GROUPS:
        return ff_err_set(err, "the file holds random-groups data, not an image");
    case P_TOO_MANY:
        return ff_err_set(err, "the image in HDU %d has %d axes; only 1 to 3 are supported",
                          first_bad_hdu, first_bad.naxis);
    case P_ZERO_AXIS:
        return ff_err_set(err, "the image in HDU %d has a zero-length axis (NAXIS%d = 0)",
                          first_bad_hdu, first_bad.zero_axis);
    case P_BAD:
        return ff_err_set(err, "the image parameters of HDU %d could not be read", first_bad_hdu);
    default:
        break;
    }
    if (damaged[0])
        return ff_err_set(err, "no image found: %s", damaged);
    if (saw_table)
        return ff_err_set(err, "no image HDU (table-only file)");
    return ff_err_set(err, "no image HDU (the file holds only an empty primary header)");
}

/* Data bytes the chosen HDU needs, against what the file holds after its header. */
int ff_fits_check_size(fitsfile *fp, const ff_fits_src *s, const ff_fits_probe *p, ff_err *err)
{
    int st = 0;
    long long head = 0, data = 0, end = 0;
    if (fits_get_hduaddrll(fp, &head, &data, &end, &st)) {
        fits_clear_errmsg();
        return ff_err_set(err, "could not locate the image data in the file");
    }
    unsigned long long need;
    if (p->compressed) {
        long long rowlen = 0, rows = 0, pcount = 0;
        fits_read_key(fp, TLONGLONG, "NAXIS1", &rowlen, NULL, &st);
        fits_read_key(fp, TLONGLONG, "NAXIS2", &rows, NULL, &st);
        fits_read_key(fp, TLONGLONG, "PCOUNT", &pcount, NULL, &st);
        if (st || rowlen < 0 || rows < 0 || pcount < 0 || (rows && rowlen > LLONG_MAX / rows) ||
            rowlen * rows > LLONG_MAX - pcount) {
            fits_clear_errmsg();
            return ff_err_set(err, "the compressed image's table header is invalid");
        }
        need = (unsigned long long)(rowlen * rows + pcount);
    } else {
        /* axes were checked against the pixel limit before this, so no overflow */
        need = (unsigned long long)(p->bitpix < 0 ? -p->bitpix : p->bitpix) / 8;
        for (int i = 0; i < p->naxis; i++)
            need *= (unsigned long long)p->naxes[i];
    }
    unsigned long long have = (unsigned long long)data < s->size ? s->size - (unsigned long long)data : 0;
    if (need > have)
        return ff_err_set(err, "file is truncated: header says %llu data bytes but only %llu follow",
                          need, have);
    /* CFITSIO sizes the data unit from the header alone (|BITPIX|/8 * GCOUNT * (PCOUNT + pixels))
     * and, when that runs past the end of a memfile, enlarges the file size it believes in; its
     * memory driver then copies whole 2880-byte records from beyond the buffer we gave it (a
     * malformed XTENSION value turns a compressed image's table into an "image" whose PCOUNT
     * heap is counted as pixel data). The data unit must lie inside the buffer. */
    if (data < 0 || end < data || (unsigned long long)end > s->cap)
        return ff_err_set(err, "file is truncated or its header is damaged: HDU data end at byte "
                               "%lld but the file has %zu bytes", end, s->size);
    return 0;
}

