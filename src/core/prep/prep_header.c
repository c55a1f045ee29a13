/* The level-1.5 header and FITS file (ff_prep_header, ff_prep_write_fits in prep.h), written with
 * CFITSIO so that astropy and sunpy read them as any other FITS: the input's cards minus what no
 * longer holds (structure, compression, checksums, the old linear WCS), the new WCS, R_SUN,
 * LVL_NUM, the normalisation, and HISTORY saying what FitsFlow did. */
#include "core/prep/prep.h"

#include <ctype.h>
#include <fitsio.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FF_VERSION
#define FF_VERSION "dev"
#endif

static int is_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* KEYn, optionally followed by one alternate-WCS letter; *alt says whether it was there. */
static int indexed(const char *key, const char *stem, int *alt)
{
    size_t l = strlen(stem), n = strlen(key);
    if (strncmp(key, stem, l) != 0 || n <= l)
        return 0;
    *alt = isupper((unsigned char)key[n - 1]) != 0;
    return is_digits(key + l, n - l - (size_t)*alt);
}

/* PCi_j / CDi_j (optionally with an alternate letter), or the old PCiiijjj / CDiiijjj form. */
static int matrix_key(const char *key)
{
    if (strncmp(key, "PC", 2) != 0 && strncmp(key, "CD", 2) != 0)
        return 0;
    const char *s = key + 2, *u = strchr(s, '_');
    size_t n = strlen(s);
    if (n && isupper((unsigned char)s[n - 1]))
        n--;
    if (!u)
        return n == 6 && is_digits(s, 6);
    return is_digits(s, (size_t)(u - s)) && is_digits(u + 1, n - (size_t)(u - s) - 1);
}

/* Input cards that do not carry over to the level-1.5 file. */
static int dropped(const char *key, int normalised)
{
    static const char *exact[] = {
        "SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "BLANK",
        "BSCALE", "BZERO", "CHECKSUM", "DATASUM", "END", "CONTINUE", "LONGSTRN", "TFIELDS",
        "ZIMAGE", "ZSIMPLE", "ZTENSION", "ZBITPIX", "ZNAXIS", "ZCMPTYPE", "ZMASKCMP", "ZQUANTIZ",
        "ZDITHER0", "ZEXTEND", "ZBLOCKED", "ZPCOUNT", "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "ZBLANK",
        "ZSCALE", "ZZERO", "LVL_NUM", "R_SUN", "WCSAXES",
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(key, exact[i]) == 0)
            return 1;
    if (normalised && (strcmp(key, "EXPTIME") == 0 || strcmp(key, "BUNIT") == 0))
        return 1;
    int alt = 0;
    if (indexed(key, "NAXIS", &alt) && !alt)
        return 1;
    if (indexed(key, "ZNAXIS", &alt) || indexed(key, "ZTILE", &alt) || indexed(key, "ZNAME", &alt) ||
        indexed(key, "ZVAL", &alt))
        return 1;
    static const char *lin[] = {"CRPIX", "CRVAL", "CDELT", "CUNIT", "CROTA"};
    for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++)
        if (indexed(key, lin[i], &alt))
            return 1;
    /* An alternate description's axis types no longer match anything. */
    if (indexed(key, "CTYPE", &alt) && alt)
        return 1;
    return matrix_key(key);
}

static void history(fitsfile *f, int *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void history(fitsfile *f, int *status, const char *fmt, ...)
{
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fits_write_history(f, line, status);
}

static int finite_all(const ff_prep *p)
{
    const double v[] = {p->crpix[0], p->crpix[1], p->crval[0], p->crval[1], p->cdelt,
                        p->rsun_px, p->geom.rsun_arcsec, p->geom.roll_deg, p->geom.scale};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!isfinite(v[i]))
            return 0;
    return p->cdelt > 0;
}

/* Writes every key of the level-1.5 header into f's current (image) HDU. */
static int write_keys(fitsfile *f, const ff_prep *p, const ff_header *src, ff_err *err)
{
    int status = 0;
    for (size_t i = 0; i < src->ncards; i++) {
        const ff_card *c = &src->cards[i];
        if (dropped(c->key, p->normalised))
            continue;
        /* CFITSIO writes the two standard COMMENT cards itself. */
        if (strcmp(c->key, "COMMENT") == 0 &&
            (strncmp(c->text, "FITS (Flexible Image Transport System) format is", 48) == 0 ||
             strncmp(c->text, "and Astrophysics', volume 376, page 359;", 40) == 0))
            continue;
        int st = 0;
        if (c->kind == FF_CARD_STRING && strlen(c->text) > 68) {
            char key[72];
            snprintf(key, sizeof key, "%s", c->key);
            fits_write_key_longstr(f, key, (char *)c->text, (char *)c->comment, &st);
        } else {
            char raw[81];
            memcpy(raw, c->raw, sizeof raw);
            raw[80] = '\0';
            fits_write_record(f, raw, &st);
        }
        /* A card CFITSIO will not write (illegal characters) is left out, not fatal. */
        (void)st;
    }
    double one = 1.0, zero = 0.0;
    fits_write_key_dbl(f, "CRPIX1", p->crpix[0], -15, "[pix] reference pixel (level 1.5)", &status);
    fits_write_key_dbl(f, "CRPIX2", p->crpix[1], -15, "[pix] reference pixel (level 1.5)", &status);
    fits_write_key_dbl(f, "CRVAL1", p->crval[0], -15, "[arcsec] reference coordinate", &status);
    fits_write_key_dbl(f, "CRVAL2", p->crval[1], -15, "[arcsec] reference coordinate", &status);
    fits_write_key_dbl(f, "CDELT1", p->cdelt, -15, "[arcsec/pix] plate scale", &status);
    fits_write_key_dbl(f, "CDELT2", p->cdelt, -15, "[arcsec/pix] plate scale", &status);
    fits_write_key_str(f, "CUNIT1", "arcsec", "units of CRVAL1, CDELT1", &status);
    fits_write_key_str(f, "CUNIT2", "arcsec", "units of CRVAL2, CDELT2", &status);
    fits_write_key_dbl(f, "PC1_1", one, -15, "solar north up", &status);
    fits_write_key_dbl(f, "PC1_2", zero, -15, "", &status);
    fits_write_key_dbl(f, "PC2_1", zero, -15, "", &status);
    fits_write_key_dbl(f, "PC2_2", one, -15, "", &status);
    fits_write_key_dbl(f, "R_SUN", p->rsun_px, -15, "[pix] solar radius", &status);
    if (!ff_header_find(src, "RSUN_OBS"))
        fits_write_key_dbl(f, "RSUN_OBS", p->geom.rsun_arcsec, -15, "[arcsec] solar radius",
                           &status);
    fits_write_key_dbl(f, "LVL_NUM", 1.5, -15, "level 1.5 (registered)", &status);
    if (p->normalised) {
        fits_write_key_dbl(f, "EXPTIME", one, -15, "[s] exposure normalised", &status);
        fits_write_key_str(f, "BUNIT", "DN/s", "exposure normalised", &status);
    }
    /* One card each (a HISTORY text holds 72 characters). */
    history(f, &status, "FitsFlow %.12s level 1.5 (sunpy 4.1 Map.rotate + aiapy register):",
            FF_VERSION);
    history(f, &status, "rotated %.6f deg about CRPIX %.3f %.3f, north up;", p->geom.roll_deg,
            p->geom.crpix[0], p->geom.crpix[1]);
    history(f, &status, "scaled by %.9f to %.6g arcsec/pix; CRPIX to image centre;",
            p->geom.scale, p->cdelt);
    history(f, &status, "cubic B-spline with prefilter (order 3); cropped to %zux%zu",
            p->image.shape[1], p->image.shape[0]);
    if (p->normalised)
        history(f, &status, "exposure normalised: divided by EXPTIME %.9g s", p->geom.exptime);
    else
        history(f, &status, "not exposure normalised: %.46s", p->norm_reason);
    if (status) {
        char m[FLEN_STATUS];
        fits_get_errstatus(status, m);
        return ff_err_set(err, "level-1.5 header: CFITSIO: %s", m);
    }
    return 0;
}

static int check_prep(const ff_prep *p, ff_err *err)
{
    if (p->image.dtype != FF_F32 || p->image.ndim != 2 || !p->image.data)
        return ff_err_set(err, "level-1.5 header: not a level-1.5 image");
    if (!finite_all(p))
        return ff_err_set(err, "level-1.5 header: a value is not finite");
    return 0;
}

/* The level-1.5 header's cards as CFITSIO wrote them (text: ncards cards of 80 characters, END
 * the last; free with fits_free_memory). CFITSIO builds the header in a memory file; NAXIS is
 * set to 0 before that file closes, since closing would otherwise grow it by the whole data unit
 * and clear it (64 MiB for a 4096x4096 image, a memset that cost more than the header). */
static int header_cards(const ff_prep *p, const ff_header *src, char **text, int *ncards,
                        ff_err *err)
{
    *text = NULL;
    *ncards = 0;
    if (check_prep(p, err) != 0)
        return -1;
    int status = 0;
    fitsfile *f = NULL;
    void *buf = NULL;
    size_t size = 0;
    fits_create_memfile(&f, &buf, &size, 2880 * 16, realloc, &status);
    long naxes[2] = {(long)p->image.shape[1], (long)p->image.shape[0]};
    fits_create_img(f, FLOAT_IMG, 2, naxes, &status);
    int rc = 0;
    if (status) {
        char m[FLEN_STATUS];
        fits_get_errstatus(status, m);
        rc = ff_err_set(err, "level 1.5: CFITSIO: %s", m);
    }
    if (rc == 0)
        rc = write_keys(f, p, src, err);
    if (rc == 0) {
        fits_hdr2str(f, 0, NULL, 0, text, ncards, &status);
        if (status || !*text || *ncards < 0) {
            rc = ff_err_set(err, "level-1.5 header: CFITSIO could not list the header");
            if (*text)
                fits_free_memory(*text, &status);
            *text = NULL;
        }
    }
    if (f) {
        int zero = 0, s2 = 0;
        fits_update_key(f, TINT, "NAXIS", &zero, NULL, &s2); /* no data unit: see above */
        s2 = 0;
        fits_close_file(f, &s2);
    }
    free(buf);
    return rc;
}

int ff_prep_header(const ff_prep *p, const ff_header *src, ff_header *out, ff_err *err)
{
    memset(out, 0, sizeof *out);
    char *text;
    int nkeys, status = 0;
    if (header_cards(p, src, &text, &nkeys, err) != 0)
        return -1;
    int rc = ff_header_parse(text, (size_t)nkeys, out, err);
    fits_free_memory(text, &status);
    return rc;
}

/* The FITS file: CFITSIO's header cards, END and blanks to a whole 2880-byte block, then the data
 * unit. The data are written here, not by fits_write_img into a memory file: that held a second
 * copy of the image and cleared it first; here the pixels go big-endian through a small buffer
 * straight to the sink. The data unit is what the FITS standard fixes: IEEE float32, big-endian,
 * zero-padded to a whole block. */
int ff_prep_write_fits(const ff_prep *p, const ff_header *src, ff_sink *out, ff_err *err)
{
    char *text;
    int nkeys, status = 0;
    if (header_cards(p, src, &text, &nkeys, err) != 0)
        return -1;
    enum { BLOCK = 2880, CARD = 80, CHUNK = 1 << 18 };
    /* CFITSIO lists the END card as the last; one is added should it ever not */
    size_t ncards = (size_t)nkeys;
    int has_end = ncards > 0 && strncmp(text + (ncards - 1) * CARD, "END     ", 8) == 0;
    size_t hbytes = (ncards + !has_end) * CARD;
    hbytes = (hbytes + BLOCK - 1) / BLOCK * BLOCK;
    char *head = malloc(hbytes);
    uint32_t *chunk = malloc(CHUNK * sizeof *chunk);
    int rc = head && chunk ? 0 : ff_err_set(err, "level-1.5 FITS: out of memory");
    if (rc == 0) {
        memset(head, ' ', hbytes);
        memcpy(head, text, ncards * CARD);
        if (!has_end)
            memcpy(head + ncards * CARD, "END", 3);
        rc = ff_sink_write(out, head, hbytes, err);
    }
    fits_free_memory(text, &status);
    const float *px = p->image.data;
    for (size_t i = 0; rc == 0 && i < p->image.nelem; i += CHUNK) {
        size_t n = p->image.nelem - i < CHUNK ? p->image.nelem - i : CHUNK;
        memcpy(chunk, px + i, n * sizeof *chunk);
        for (size_t k = 0; k < n; k++)
            chunk[k] = __builtin_bswap32(chunk[k]);
        rc = ff_sink_write(out, chunk, n * sizeof *chunk, err);
    }
    size_t dbytes = p->image.nelem * sizeof(float), pad = (BLOCK - dbytes % BLOCK) % BLOCK;
    if (rc == 0 && pad) {
        memset(chunk, 0, pad);
        rc = ff_sink_write(out, chunk, pad, err);
    }
    free(head);
    free(chunk);
    return rc;
}
