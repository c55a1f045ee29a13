/* Harness: the header pre-scan (src/core/fits/prescan.c), what every upload meets first, against
 * CFITSIO. Input: a FITS file's bytes. A refusal must be one line. When the pre-scan passes a file,
 * CFITSIO opens it from memory and moves to each of its first HDUs as fits.c would (no pixel is
 * read): that must not crash, and where CFITSIO sees an image the pre-scan must have judged that
 * very header and read the same NAXIS, axes, ZNAXIS, ZNAXISn and ZTILEn from it; else the checks
 * judged values other than the ones CFITSIO acts on. */
#include <fitsio.h>

#include "core/fits/prescan.h"
#include "fuzz_util.h"

#define BLOCK 2880

static void compare(fitsfile *fp, const ff_prescan *ps, long long head)
{
    const ff_prescan_hdu *h = NULL;
    size_t kept = ps->nhdus < FF_PRESCAN_KEEP ? ps->nhdus : FF_PRESCAN_KEEP;
    for (size_t j = 0; j < kept; j++)
        if ((long long)ps->hdu[j].offset == head)
            h = &ps->hdu[j];
    if (!h) {
        if (ps->nhdus <= FF_PRESCAN_KEEP) {
            fprintf(stderr, "CFITSIO read a header at byte %lld that the pre-scan never judged\n", head);
            abort();
        }
        return;
    }
    int st = 0, type = 0, bitpix = 0, naxis = 0;
    long long ax[3] = {0};
    fits_get_hdu_type(fp, &type, &st);
    int comp = fits_is_compressed_image(fp, &st);
    fits_get_img_paramll(fp, 3, &bitpix, &naxis, ax, &st);
    if (st) {
        fits_clear_errmsg();
        return;
    }
    if (comp && naxis == 0)
        return; /* CFITSIO could not read the compression keywords (no ZCMPTYPE, ...): no image */
    if (comp) {
        if (!h->zimage || naxis != h->znaxis) {
            fprintf(stderr, "compressed HDU at %lld: CFITSIO ZNAXIS %d, pre-scan %d (zimage %d)\n", head,
                    naxis, h->znaxis, h->zimage);
            abort();
        }
        for (int i = 0; i < naxis && i < 3; i++) {
            char key[16];
            snprintf(key, sizeof key, "ZTILE%d", i + 1);
            long long t = 0;
            int s2 = 0;
            if (fits_read_key(fp, TLONGLONG, key, &t, NULL, &s2) != 0)
                t = i == 0 ? ax[0] : 1;
            if (ax[i] != h->znaxes[i] || t != h->ztile[i]) {
                fprintf(stderr, "compressed HDU at %lld axis %d: CFITSIO %lld tile %lld, pre-scan %lld "
                                "tile %lld\n", head, i + 1, ax[i], t, h->znaxes[i], h->ztile[i]);
                abort();
            }
        }
    } else if (type == IMAGE_HDU && h->naxis >= 0) {
        int same = naxis == h->naxis;
        for (int i = 0; same && i < naxis && i < 3; i++)
            same = ax[i] == h->naxes[i] || h->naxes[i] < 0;
        if (!same) {
            fprintf(stderr, "image HDU at %lld: CFITSIO NAXIS %d, pre-scan %d\n", head, naxis, h->naxis);
            abort();
        }
    }
    fits_clear_errmsg();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ff_prescan ps;
    ff_err err = {0};
    if (ff_fits_prescan(data, size, &ps, &err) != 0) {
        fuzz_check_reason(err.msg);
        return 0;
    }
    /* as fits.c hands it to CFITSIO: whole 2880-byte records, zero padded */
    size_t cap = (size + BLOCK - 1) / BLOCK * BLOCK;
    unsigned char *buf = calloc(1, cap);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    fitsfile *fp = NULL;
    int st = 0;
    void *b = buf;
    size_t sz = cap;
    if (fits_open_memfile(&fp, "fuzz.fits", READONLY, &b, &sz, 0, NULL, &st) == 0) {
        for (int k = 1; k <= FF_PRESCAN_KEEP; k++) {
            st = 0;
            if (fits_movabs_hdu(fp, k, NULL, &st) != 0)
                break;
            long long head = 0, start = 0, end = 0;
            if (fits_get_hduaddrll(fp, &head, &start, &end, &st) != 0)
                break;
            compare(fp, &ps, head);
        }
        st = 0;
        fits_close_file(fp, &st);
    }
    fits_clear_errmsg();
    free(buf);
    return 0;
}
