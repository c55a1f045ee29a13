/* Which files level 1.5 registers, and their geometry (ff_prep_check in prep.h). The WCS is read
 * with WCSLIB (wcspih on the header's card images, then wcsset), so PCi_j, CDi_j and CROTA2
 * headers give one matrix; this file only adds the checks WCSLIB cannot know about (a full-disk
 * SDO image, cards that are present but not numbers, forms that contradict each other) and the
 * choices aiapy's register makes (target plate scale, scale factor). */
#include "core/prep/prep.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wcslib/wcs.h>
#include <wcslib/wcserr.h>
#include <wcslib/wcshdr.h>
#include <wcslib/wcsunits.h>

#define ARCSEC_PER_RAD (180.0 * 3600.0 / M_PI)
#define RSUN_REF_DEFAULT 695700000.0 /* m, sunpy's constant when RSUN_REF is absent */
#define ROT_TOL 1e-6                 /* orthonormality and agreement of matrices */

/* WCSLIB's parser may keep state in globals (older builds): one reader at a time. */
static pthread_mutex_t wcs_lock = PTHREAD_MUTEX_INITIALIZER;

static int skip(ff_err *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int skip(ff_err *reason, const char *fmt, ...)
{
    if (reason) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason->msg, sizeof reason->msg, fmt, ap);
        va_end(ap);
    }
    return FF_PREP_SKIP;
}

/* A card's value text for a message: printable, at most 24 characters. */
static void value_text(const ff_card *c, char *buf, size_t size)
{
    size_t j = 0;
    for (const char *s = c->text; *s && j + 1 < size && j < 24; s++)
        buf[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    buf[j] = '\0';
}

static int has(const ff_header *h, const char *key)
{
    return ff_header_find(h, key) != NULL;
}

/* Every WCS number that is present must be a finite number: WCSLIB rejects a card such as
 * "CDELT1 = NaN" and would silently use its default instead. */
static int check_numbers(const ff_header *h, ff_err *reason)
{
    static const char *keys[] = {"CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CDELT1", "CDELT2",
                                 "CROTA1", "CROTA2", "PC1_1",  "PC1_2",  "PC2_1",  "PC2_2",
                                 "CD1_1",  "CD1_2",  "CD2_1",  "CD2_2"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const ff_card *c = ff_header_find(h, keys[i]);
        double v;
        if (c && (ff_header_get_double(h, keys[i], &v) != 0 || !isfinite(v))) {
            char t[32];
            value_text(c, t, sizeof t);
            return skip(reason, "%s is not a finite number ('%s')", keys[i], t);
        }
    }
    if (!has(h, "CRPIX1") || !has(h, "CRPIX2"))
        return skip(reason, "CRPIX1/CRPIX2 missing: the header has no reference pixel");
    if (!has(h, "CDELT1") && !has(h, "CDELT2") && !has(h, "CD1_1") && !has(h, "CD2_2"))
        return skip(reason, "no plate scale: neither CDELT1/CDELT2 nor CDi_j in the header");
    return FF_PREP_OK;
}

static int starts_with(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int contains_nocase(const char *s, const char *p)
{
    size_t n = strlen(p);
    for (; *s; s++)
        if (strncasecmp(s, p, n) == 0)
            return 1;
    return 0;
}

static int check_instrument(const ff_header *h, ff_prep_inst *inst, ff_err *reason)
{
    char tel[72] = "", ins[72] = "", content[72] = "";
    ff_header_get_string(h, "TELESCOP", tel, sizeof tel);
    ff_header_get_string(h, "INSTRUME", ins, sizeof ins);
    ff_header_get_string(h, "CONTENT", content, sizeof content);
    for (char *p = tel; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            *p = '?';
    for (char *p = ins; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            *p = '?';
    /* What sunpy's AIAMap and HMIMap accept, on an SDO telescope. */
    if (starts_with(tel, "SDO") && starts_with(ins, "AIA"))
        *inst = FF_PREP_AIA;
    else if (starts_with(tel, "SDO") && starts_with(ins, "HMI")) {
        if (contains_nocase(content, "synoptic"))
            return skip(reason, "an HMI synoptic chart, not a full-disk image");
        *inst = FF_PREP_HMI;
    } else
        return skip(reason, "not an SDO AIA or HMI image (TELESCOP '%.24s', INSTRUME '%.24s')",
                    tel, ins);
    return FF_PREP_OK;
}

static int check_shape(const ff_image *img, size_t *n, ff_err *reason)
{
    if (img->ndim == 3)
        return skip(reason, "a 3-D cube (%zu x %zu x %zu): level 1.5 needs one 2-D image",
                    img->shape[0], img->shape[1], img->shape[2]);
    if (img->ndim != 2)
        return skip(reason, "a %d-D array: level 1.5 needs a 2-D image", img->ndim);
    if (img->shape[0] != img->shape[1])
        return skip(reason, "the image is %zu x %zu, not square", img->shape[1], img->shape[0]);
    if (img->shape[0] < FF_PREP_MIN_SIDE || img->shape[0] > FF_PREP_MAX_SIDE)
        return skip(reason, "the image is %zu x %zu: full-disk SDO images are %d to %d pixels a side",
                    img->shape[0], img->shape[0], FF_PREP_MIN_SIDE, FF_PREP_MAX_SIDE);
    *n = img->shape[0];
    return FF_PREP_OK;
}

/* The WCS numbers as WCSLIB read them from the header (before wcsset converts units), and the
 * matrix wcsset builds from whichever of PCi_j, CDi_j, CROTAi the header uses. */
typedef struct lin2 {
    double crpix[2], crval[2], cdelt[2], pc[2][2], cd[2][2], crota2;
    int altlin;       /* WCSLIB's flags: 1 PCi_j, 2 CDi_j, 4 CROTA2 present */
    double unit[2];   /* header unit -> arcsec */
    double eff[2][2]; /* wcsset's PC (unitless) for the PC and CROTA forms */
} lin2;

static void clean_text(char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s >= 0x7f)
            *s = '?';
}

/* STEMn[a] with n one to three digits and an optional alternate letter. */
static int axis_key(const char *k, const char *stem)
{
    size_t l = strlen(stem), d = 0;
    if (strncmp(k, stem, l) != 0)
        return 0;
    k += l;
    while (k[d] >= '0' && k[d] <= '9')
        d++;
    if (d < 1 || d > 3)
        return 0;
    k += d;
    return !*k || (k[0] >= 'A' && k[0] <= 'Z' && !k[1]);
}

/* STEMi_j[a] (PCi_j, CDi_j, PVi_m, PSi_m). */
static int pair_key(const char *k, const char *stem)
{
    size_t l = strlen(stem), d = 0;
    if (strncmp(k, stem, l) != 0)
        return 0;
    k += l;
    while (k[d] >= '0' && k[d] <= '9')
        d++;
    if (d < 1 || d > 2 || k[d] != '_')
        return 0;
    k += d + 1;
    d = 0;
    while (k[d] >= '0' && k[d] <= '9')
        d++;
    if (d < 1 || d > 2)
        return 0;
    k += d;
    return !*k || (k[0] >= 'A' && k[0] <= 'Z' && !k[1]);
}

/* The keywords of a world coordinate system (primary and alternates): the only cards wcspih
 * is shown. */
static int wcs_key(const char *k)
{
    static const char *axis[] = {"CTYPE", "CUNIT", "CRPIX", "CRVAL", "CDELT", "CROTA", "CNAME"};
    static const char *pair[] = {"PC", "CD", "PV", "PS"};
    for (size_t i = 0; i < sizeof axis / sizeof axis[0]; i++)
        if (axis_key(k, axis[i]))
            return 1;
    for (size_t i = 0; i < sizeof pair / sizeof pair[0]; i++)
        if (pair_key(k, pair[i]))
            return 1;
    static const char *plain[] = {"WCSAXES", "LONPOLE", "LATPOLE", "WCSNAME"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        size_t l = strlen(plain[i]);
        if (strncmp(k, plain[i], l) == 0 &&
            (!k[l] || (k[l] >= 'A' && k[l] <= 'Z' && !k[l + 1])))
            return 1;
    }
    return 0;
}

/* A value that opens a string must close it on the same card: WCSLIB 7.12's wcspih reads an
 * unterminated string (a card such as CUNIT1 = ''' ) past the card and overflows a buffer. */
static int well_formed(const char *raw)
{
    size_t len = strnlen(raw, 80), i = 10;
    if (len < 10 || raw[8] != '=')
        return 0;
    while (i < len && raw[i] == ' ')
        i++;
    if (i >= len || raw[i] != '\'')
        return 1;
    for (i++; i < len; i++)
        if (raw[i] == '\'') {
            if (i + 1 < len && raw[i + 1] == '\'')
                i++;
            else
                return 1;
        }
    return 0;
}

/* The WCS cards as card images for wcspih, after NAXIS cards stating the image's real shape
 * (whatever the header claims), any byte outside printable ASCII blanked, END last. NULL when out
 * of memory; *ncards counts END. */
static char *wcs_cards(const ff_header *h, size_t n, size_t *ncards)
{
    size_t nc = 0;
    char *text = malloc((h->ncards + 4) * 80 + 1);
    if (!text)
        return NULL;
    char own[3][81];
    snprintf(own[0], sizeof own[0], "%-8s= %20d", "NAXIS", 2);
    snprintf(own[1], sizeof own[1], "%-8s= %20zu", "NAXIS1", n);
    snprintf(own[2], sizeof own[2], "%-8s= %20zu", "NAXIS2", n);
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(own[i]);
        memcpy(text + nc * 80, own[i], len);
        memset(text + nc * 80 + len, ' ', 80 - len);
        nc++;
    }
    for (size_t i = 0; i < h->ncards; i++) {
        if (!wcs_key(h->cards[i].key) || !well_formed(h->cards[i].raw))
            continue;
        char *card = text + nc * 80;
        size_t len = strnlen(h->cards[i].raw, 80);
        memcpy(card, h->cards[i].raw, len);
        memset(card + len, ' ', 80 - len);
        for (size_t j = 0; j < 80; j++)
            if ((unsigned char)card[j] < 0x20 || (unsigned char)card[j] > 0x7e)
                card[j] = ' ';
        nc++;
    }
    memcpy(text + nc * 80, "END", 3);
    memset(text + nc * 80 + 3, ' ', 77);
    text[(nc + 1) * 80] = '\0';
    *ncards = nc + 1;
    return text;
}

/* The primary WCS's linear part into L, checked to be a 2-axis HPLN/HPLT pair that wcsset takes. */
static int take_linear(struct wcsprm *w, lin2 *L, ff_err *reason)
{
    if (w->naxis != 2)
        return skip(reason, "the WCS has %d axes: level 1.5 needs a 2-axis helioprojective WCS",
                    w->naxis);
    for (int i = 0; i < 2; i++) {
        L->crpix[i] = w->crpix[i];
        L->crval[i] = w->crval[i];
        L->cdelt[i] = w->cdelt[i];
        for (int j = 0; j < 2; j++) {
            L->pc[i][j] = w->pc[i * 2 + j];
            L->cd[i][j] = w->cd[i * 2 + j];
        }
    }
    L->crota2 = w->crota[1];
    L->altlin = w->altlin;
    char ctype[2][72];
    for (int i = 0; i < 2; i++) {
        memcpy(ctype[i], w->ctype[i], 72);
        ctype[i][71] = '\0';
        clean_text(ctype[i]);
    }
    if (!starts_with(ctype[0], "HPLN") || !starts_with(ctype[1], "HPLT"))
        return skip(reason, "CTYPE1/CTYPE2 are '%.16s'/'%.16s': level 1.5 needs helioprojective "
                    "HPLN/HPLT axes in that order", ctype[0], ctype[1]);
    return FF_PREP_OK;
}

/* After wcsset: the effective PC matrix, and each axis' unit in arcsec (level 1.5 works in
 * arcsec; celestial axes default to degrees). cunit: the header's CUNITi, read before wcsset. */
static int take_units(struct wcsprm *w, char cunit[2][72], lin2 *L, ff_err *reason)
{
    if (w->lng != 0 || w->lat != 1)
        return skip(reason, "the WCS is not a longitude/latitude pair on axes 1 and 2");
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            L->eff[i][j] = w->pc[i * 2 + j];
    for (int i = 0; i < 2; i++) {
        if (!cunit[i][0]) {
            L->unit[i] = 3600.0;
            continue;
        }
        double scale = 0, offset = 0, power = 0;
        struct wcserr *e = NULL;
        char u[72];
        memcpy(u, cunit[i], 72);
        wcsutrne(0, u, &e);
        wcserr_clear(&e);
        int bad = wcsunitse(u, "arcsec", &scale, &offset, &power, &e) != 0 || offset != 0 ||
                  power != 1 || !(scale > 0) || !isfinite(scale);
        wcserr_clear(&e);
        if (bad) {
            clean_text(u);
            return skip(reason, "CUNIT%d '%.16s' is not an angle", i + 1, u);
        }
        L->unit[i] = scale;
    }
    return FF_PREP_OK;
}

/* The primary WCS of wcspih's nwcs, checked and set (wcsset) into L. Under wcs_lock. */
static int use_primary(struct wcsprm *wcs, int nwcs, lin2 *L, ff_err *reason)
{
    struct wcsprm *w = NULL;
    for (int i = 0; i < nwcs; i++)
        if (wcs[i].alt[0] == ' ' || wcs[i].alt[0] == '\0')
            w = &wcs[i];
    if (!w)
        return skip(reason, "the header has no primary world coordinate system");
    int rc = take_linear(w, L, reason);
    if (rc != FF_PREP_OK)
        return rc;
    char cunit[2][72];
    for (int i = 0; i < 2; i++) {
        memcpy(cunit[i], w->cunit[i], 72);
        cunit[i][71] = '\0';
    }
    int st = wcsset(w);
    if (st != 0)
        /* Detailed messages stay off (wcserr_enable is global, its messages allocated and not
         * always freed); the status text says enough. */
        return skip(reason, "WCSLIB rejected the WCS: %s",
                    st > 0 && st <= WCSERR_UNSET ? wcs_errmsg[st] : "wcsset failed");
    return take_units(w, cunit, L, reason);
}

static int read_wcs(const ff_header *h, size_t n, lin2 *L, ff_err *reason)
{
    size_t nc = 0;
    char *text = wcs_cards(h, n, &nc);
    if (!text)
        return skip(reason, "out of memory reading the WCS");
    int rc, nreject = 0, nwcs = 0;
    struct wcsprm *wcs = NULL;
    pthread_mutex_lock(&wcs_lock);
    int st = wcspih(text, (int)nc, WCSHDR_all, 0, &nreject, &nwcs, &wcs);
    if (st != 0)
        rc = skip(reason, "WCSLIB could not read the header (wcspih status %d)", st);
    else
        rc = use_primary(wcs, nwcs, L, reason);
    wcsvfree(&nwcs, &wcs);
    pthread_mutex_unlock(&wcs_lock);
    free(text);
    return rc;
}

static double max_diff(const double a[2][2], const double b[2][2])
{
    double m = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            m = fmax(m, fabs(a[i][j] - b[i][j]));
    return m;
}

/* The linear map in arcsec: world offset = M * (pixel - crpix), from one form. */
static void form_pc(const lin2 *L, double M[2][2])
{
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            M[i][j] = L->cdelt[i] * L->unit[i] * L->pc[i][j];
}

static void form_cd(const lin2 *L, double M[2][2])
{
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            M[i][j] = L->cd[i][j] * L->unit[i];
}

static void form_crota(const lin2 *L, double M[2][2])
{
    double r = L->crota2 * M_PI / 180.0, lam = L->cdelt[1] / L->cdelt[0];
    double R[2][2] = {{cos(r), -lam * sin(r)}, {sin(r) / lam, cos(r)}};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            M[i][j] = L->cdelt[i] * L->unit[i] * R[i][j];
}

static const char *form_name(int bit)
{
    return bit == 1 ? "PCi_j" : bit == 2 ? "CDi_j" : "CROTA2";
}

/* When a header carries more than one form of the matrix, they must say the same. */
static int check_forms(const lin2 *L, ff_err *reason)
{
    int bits[3], nb = 0;
    for (int b = 1; b <= 4; b <<= 1)
        if (L->altlin & b)
            bits[nb++] = b;
    if (nb < 2)
        return FF_PREP_OK;
    double M[3][2][2];
    for (int k = 0; k < nb; k++) {
        if (bits[k] == 1)
            form_pc(L, M[k]);
        else if (bits[k] == 2)
            form_cd(L, M[k]);
        else
            form_crota(L, M[k]);
    }
    double ref = fmax(hypot(M[0][0][0], M[0][0][1]), hypot(M[0][1][0], M[0][1][1]));
    for (int k = 1; k < nb; k++)
        if (!(max_diff(M[0], M[k]) <= ROT_TOL * ref))
            return skip(reason, "contradictory WCS: %s and %s describe different pixel-to-sky "
                        "matrices", form_name(bits[0]), form_name(bits[k]));
    return FF_PREP_OK;
}

/* sunpy's Map.scale and Map.rotation_matrix for this header. */
static int scale_and_rotation(const ff_header *h, const lin2 *L, ff_prep_geom *g, ff_err *reason)
{
    int cd_form = (L->altlin & 2) && !(L->altlin & 1);
    if (cd_form) {
        double M[2][2];
        form_cd(L, M);
        for (int i = 0; i < 2; i++) {
            g->cdelt[i] = hypot(M[i][0], M[i][1]);
            if (!(g->cdelt[i] > 0) || !isfinite(g->cdelt[i]))
                return skip(reason, "the CDi_j matrix has a zero row");
            for (int j = 0; j < 2; j++)
                g->rot[i][j] = M[i][j] / g->cdelt[i];
        }
        for (int i = 0; i < 2; i++) {
            char key[8];
            double v;
            snprintf(key, sizeof key, "CDELT%d", i + 1);
            if (ff_header_get_double(h, key, &v) == 0 &&
                !(fabs(v * L->unit[i] - g->cdelt[i]) <= ROT_TOL * g->cdelt[i]))
                return skip(reason, "contradictory WCS: %s and the CDi_j matrix give different "
                            "plate scales", key);
        }
    } else {
        for (int i = 0; i < 2; i++) {
            g->cdelt[i] = L->cdelt[i] * L->unit[i];
            for (int j = 0; j < 2; j++)
                g->rot[i][j] = L->eff[i][j];
        }
    }
    for (int i = 0; i < 2; i++) {
        if (!isfinite(g->cdelt[i]) || g->cdelt[i] == 0)
            return skip(reason, "CDELT%d is zero or not finite", i + 1);
        if (g->cdelt[i] < 0)
            return skip(reason, "CDELT%d is negative (a flipped axis): not an SDO level-1 image",
                        i + 1);
    }
    if (!(fabs(g->cdelt[0] - g->cdelt[1]) <= ROT_TOL * g->cdelt[0]))
        return skip(reason, "pixels are not square (%.9g x %.9g arcsec)", g->cdelt[0], g->cdelt[1]);
    const double (*R)[2] = (const double (*)[2])g->rot;
    double e00 = R[0][0] * R[0][0] + R[0][1] * R[0][1] - 1;
    double e11 = R[1][0] * R[1][0] + R[1][1] * R[1][1] - 1;
    double e01 = R[0][0] * R[1][0] + R[0][1] * R[1][1];
    double det = R[0][0] * R[1][1] - R[0][1] * R[1][0];
    if (!(fabs(e00) <= ROT_TOL && fabs(e11) <= ROT_TOL && fabs(e01) <= ROT_TOL && det > 0))
        return skip(reason, "the WCS matrix is not a pure rotation (skew, flip or scale in PCi_j)");
    g->roll_deg = atan2(R[1][0], R[0][0]) * 180.0 / M_PI;
    return FF_PREP_OK;
}

static int solar_radius(const ff_header *h, double *rsun, ff_err *reason)
{
    double v, ref = RSUN_REF_DEFAULT, d;
    if (ff_header_get_double(h, "RSUN_OBS", &v) == 0 && isfinite(v) && v > 0) {
        *rsun = v;
        return FF_PREP_OK;
    }
    if (ff_header_get_double(h, "RSUN_REF", &v) == 0 && isfinite(v) && v > 0)
        ref = v;
    if (ff_header_get_double(h, "DSUN_OBS", &d) == 0 && isfinite(d) && d > ref) {
        *rsun = asin(ref / d) * ARCSEC_PER_RAD;
        return FF_PREP_OK;
    }
    return skip(reason, "no solar radius: RSUN_OBS or DSUN_OBS is missing or not positive");
}

int ff_prep_check(const ff_header *h, const ff_image *img, ff_prep_geom *g, ff_err *reason)
{
    memset(g, 0, sizeof *g);
    int rc;
    if ((rc = check_instrument(h, &g->inst, reason)) != FF_PREP_OK ||
        (rc = check_shape(img, &g->n, reason)) != FF_PREP_OK ||
        (rc = check_numbers(h, reason)) != FF_PREP_OK)
        return rc;
    lin2 L;
    memset(&L, 0, sizeof L);
    if ((rc = read_wcs(h, g->n, &L, reason)) != FF_PREP_OK)
        return rc;
    if (!has(h, "CROTA2"))
        L.altlin &= ~4; /* a lone CROTA1 is ignored by WCSLIB and sunpy alike */
    if ((rc = check_forms(&L, reason)) != FF_PREP_OK ||
        (rc = scale_and_rotation(h, &L, g, reason)) != FF_PREP_OK)
        return rc;
    const double n = (double)g->n;
    for (int i = 0; i < 2; i++) {
        g->crpix[i] = L.crpix[i];
        g->crval[i] = L.crval[i] * L.unit[i];
        if (!isfinite(g->crval[i]) || fabs(g->crval[i]) > 3600.0)
            return skip(reason, "CRVAL%d = %.6g arcsec: the reference point is not near the Sun",
                        i + 1, g->crval[i]);
        if (!(g->crpix[i] >= 0.5 && g->crpix[i] <= n + 0.5))
            return skip(reason, "CRPIX%d = %.6g is off the %zu-pixel image", i + 1, g->crpix[i], g->n);
    }

    /* aiapy's target: 0.6"/px, or the nearest multiple of it for an image already binned. */
    double k = nearbyint(g->cdelt[0] / 0.6);
    if (k != 1.0 && g->n != 4096)
        g->target = k * 0.6;
    else
        g->target = 0.6;
    if (!(g->target > 0))
        return skip(reason, "plate scale %.6g arcsec/px is finer than any level-1.5 grid",
                    g->cdelt[0]);
    g->scale = g->cdelt[0] / g->target;
    if (!(g->scale >= 0.5 && g->scale <= 1.5))
        return skip(reason, "plate scale %.6g arcsec/px of a %zu-pixel image is too far from "
                    "%.6g arcsec/px", g->cdelt[0], g->n, g->target);

    if ((rc = solar_radius(h, &g->rsun_arcsec, reason)) != FF_PREP_OK)
        return rc;
    /* The Sun's centre (helioprojective 0,0) in 0-based pixels, and the disk's radius. The
     * linear WCS suffices: the TAN projection departs from it by (CRVAL in radians)^2. */
    double M[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            M[i][j] = g->cdelt[i] * g->rot[i][j];
    double det = M[0][0] * M[1][1] - M[0][1] * M[1][0];
    double wx = -g->crval[0], wy = -g->crval[1];
    double cx = g->crpix[0] - 1 + (M[1][1] * wx - M[0][1] * wy) / det;
    double cy = g->crpix[1] - 1 + (-M[1][0] * wx + M[0][0] * wy) / det;
    double r = g->rsun_arcsec / g->cdelt[0];
    if (!(r >= 0.1 * n))
        return skip(reason, "the solar disk is %.3g pixels across on a %zu-pixel image: not a "
                    "full-disk image", 2 * r, g->n);
    if (!(cx - r > 0 && cx + r < n - 1 && cy - r > 0 && cy + r < n - 1))
        return skip(reason, "the solar disk (centre %.1f, %.1f, radius %.1f px) is not wholly "
                    "inside the image: not a full-disk image", cx + 1, cy + 1, r);

    double e;
    g->exptime = (ff_header_get_double(h, "EXPTIME", &e) == 0 && isfinite(e)) ? e : NAN;
    return FF_PREP_OK;
}
