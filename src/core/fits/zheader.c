/* A compressed image's header as astropy shows it. CFITSIO's conversion gives a primary-style
 * header with SIMPLE, EXTEND and its own COMMENT cards; the image header is rebuilt here from the
 * table's cards instead. */
#include "core/fits/fits_impl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CFITSIO 4.2's fits_convert_hdr2str fails when a keyword such as BSCALE sits before ZIMAGE in the
 * table header (astropy writes unsigned images that way). Then the image header is rebuilt here
 * the way CFITSIO and astropy do: Z-keywords renamed to their image names, table and compression
 * keywords dropped, the other cards kept in order. */
static int keep_table_card(const char *key)
{
    static const char *drop[] = {"XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT",
                                 "GCOUNT", "TFIELDS", "THEAP", "ZIMAGE", "ZCMPTYPE", "ZQUANTIZ",
                                 "ZMASKCMP", "ZSIMPLE", "ZTENSION", "ZEXTEND",
                                 "ZFF_FITS_BLOCKED", "ZPCOUNT", "ZGCOUNT", "ZBITPIX", "ZNAXIS", "ZBLANK",
                                 "CHECKSUM", "DATASUM", "END"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strcmp(key, drop[i]) == 0)
            return 0;
    static const char *prefix[] = {"TTYPE", "TFORM", "TUNIT", "TDIM", "TSCAL", "TZERO", "TNULL",
                                   "TDISP", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL"};
    for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++) {
        size_t n = strlen(prefix[i]);
        if (strncmp(key, prefix[i], n) == 0 && key[n] >= '0' && key[n] <= '9')
            return 0;
    }
    return 1;
}

static void card_key(const char *card, char key[9])
{
    memcpy(key, card, 8);
    key[8] = '\0';
    for (int k = 7; k >= 0 && key[k] == ' '; k--)
        key[k] = '\0';
}

static void put_card(char *dst, const char *src, const char *newkey)
{
    memcpy(dst, src, 80);
    if (newkey) {
        memset(dst, ' ', 8);
        memcpy(dst, newkey, strlen(newkey));
    }
}

/* Writes "KEY     = value / comment" where the comment is taken from the table card from (when it
 * has one) or is fallback. value is the 20-character value field. */
static void value_card(char *dst, const char *key, const char *value, const char *from,
                       const char *fallback)
{
    char comment[81] = "";
    if (from) {
        const char *slash = memchr(from + 10, '/', 70);
        if (slash) {
            size_t off = (size_t)(slash - from) + 1;
            while (off < 80 && from[off] == ' ')
                off++;
            size_t len = 80 - off;
            while (len && from[off + len - 1] == ' ')
                len--;
            memcpy(comment, from + off, len);
            comment[len] = '\0';
        }
    } else {
        snprintf(comment, sizeof comment, "%s", fallback);
    }
    char card[160];
    int len = snprintf(card, sizeof card, "%-8s= %s%s%s", key, value, comment[0] ? " / " : "", comment);
    if (len < 80)
        memset(card + len, ' ', (size_t)(80 - len));
    memcpy(dst, card, 80);
}

int ff_fits_compressed_header(fitsfile *fp, ff_header *out, ff_err *err)
{
    char *raw = NULL;
    int n = 0, st = 0;
    if (fits_hdr2str(fp, 0, NULL, 0, &raw, &n, &st)) {
        char t[FLEN_STATUS];
        ff_fits_cfitsio_text(st, t, sizeof t);
        return ff_err_set(err, "the compressed image's header could not be read (CFITSIO: %s)", t);
    }
    char *cards = malloc(((size_t)n + 8) * 80);
    if (!cards) {
        fits_free_memory(raw, &st);
        return ff_err_set(err, "out of memory for a %d-card header", n);
    }
    size_t m = 0;
    const char *first[] = {"ZBITPIX", "ZNAXIS", "ZNAXIS1", "ZNAXIS2", "ZNAXIS3"};
    const char *names[] = {"BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3"};
    char key[9];
    int simple = 0;
    for (int i = 0; i < n; i++) {
        card_key(raw + 80 * i, key);
        if (strcmp(key, "ZSIMPLE") == 0)
            simple = 1;
    }
    /* astropy keeps the table's own cards for XTENSION, PCOUNT and GCOUNT (their comments
     * included) and gives them the image's values. */
    const char *tab_xt = NULL, *tab_pc = NULL, *tab_gc = NULL;
    for (int i = 0; i < n; i++) {
        card_key(raw + 80 * i, key);
        if (!strcmp(key, "XTENSION"))
            tab_xt = raw + 80 * i;
        else if (!strcmp(key, "PCOUNT"))
            tab_pc = raw + 80 * i;
        else if (!strcmp(key, "GCOUNT"))
            tab_gc = raw + 80 * i;
    }
    if (simple)
        put_card(cards + 80 * m++, "SIMPLE  =                    T / conforms to FITS standard"
                                   "                      ", NULL);
    else
        value_card(cards + 80 * m++, "XTENSION", "'IMAGE   '          ", tab_xt, "Image extension");
    for (size_t f = 0; f < sizeof first / sizeof first[0]; f++)
        for (int i = 0; i < n; i++) {
            card_key(raw + 80 * i, key);
            if (strcmp(key, first[f]) == 0) {
                put_card(cards + 80 * m++, raw + 80 * i, names[f]);
                break;
            }
        }
    if (!simple) {
        value_card(cards + 80 * m++, "PCOUNT", "                   0", tab_pc, "number of parameters");
        value_card(cards + 80 * m++, "GCOUNT", "                   1", tab_gc, "number of groups");
    }
    for (int i = 0; i < n && m < (size_t)n + 8; i++) {
        const char *c = raw + 80 * i;
        card_key(c, key);
        if (strcmp(key, "EXTNAME") == 0 && strstr(c, "'COMPRESSED_IMAGE'"))
            continue;
        if (strcmp(key, "ZHECKSUM") == 0)
            put_card(cards + 80 * m++, c, "CHECKSUM");
        else if (strcmp(key, "ZDATASUM") == 0)
            put_card(cards + 80 * m++, c, "DATASUM");
        else if (keep_table_card(key))
            put_card(cards + 80 * m++, c, NULL);
    }
    fits_free_memory(raw, &st);
    int rc = ff_header_parse(cards, m, out, err);
    free(cards);
    return rc;
}

