/* The header pre-scan (prescan.h): CFITSIO's card rules mirrored on raw bytes, so that every value
 * CFITSIO will act on is judged before it parses the file. The rules (read in CFITSIO 4.2's
 * fitscore.c, ffgknm and ffpsvc, and tried on the library itself):
 *   - a keyword's name runs to the first blank, '=' or NUL (HIERARCH names: to the '='); CFITSIO
 *     finds keywords whatever their case, HIERARCH ones included, so "ZTILE2 X= 7" and
 *     "HIERARCH ztile2 = 7" are both ZTILE2 to it;
 *   - the value field starts after "= " in columns 9-10, else after the first '=' anywhere
 *     (COMMENT, HISTORY, CONTINUE, END and blank names have none); a value is a quoted string,
 *     a parenthesised complex number, or a token ending at a blank or '/';
 *   - END is any card whose name is END; the scan only ends a header at "END     ", so that it
 *     never stops before CFITSIO does (it may judge more, never less). */
#include "core/prescan.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 2880
#define LONG_UNQUOTED 60   /* see the card rule in judge_card */
#define LONG_VALUE 20
#define MAX_WATCHED 8192   /* structural keywords in one header */
#define MAX_DATA ((uint64_t)1 << 62)

typedef struct card {
    char text[81];  /* the card as CFITSIO holds it: a C string, ended at a NUL byte */
    char name[76];  /* CFITSIO's keyword name, upper case */
    int has_value;  /* a value field exists */
    int quoted;     /* the value is a quoted string */
    char value[84]; /* the value as CFITSIO parses it (quotes kept), "" when undefined */
    size_t valpos;  /* where the value field starts in text */
} card;

/* ffgknm's name, upper-cased (CFITSIO compares names case-blind). */
static void card_name(const char *t, char *name)
{
    size_t n = 0;
    if (strncmp(t, "HIERARCH ", 9) == 0) {
        const char *eq = strchr(t, '=');
        if (!eq) {
            strcpy(name, "HIERARCH");
            return;
        }
        const char *p = t + 9;
        while (*p == ' ')
            p++;
        while (p < eq && n < 75)
            name[n++] = *p++;
        while (n > 0 && name[n - 1] == ' ')
            n--;
    } else {
        while (n < 74 && t[n] && t[n] != ' ' && t[n] != '=') {
            name[n] = t[n];
            n++;
        }
    }
    name[n] = '\0';
    for (size_t i = 0; i < n; i++)
        name[i] = (char)toupper((unsigned char)name[i]);
}

/* ffpsvc's value field. */
static void card_value(card *c)
{
    const char *t = c->text;
    size_t len = strlen(t), pos;
    c->has_value = c->quoted = 0;
    c->value[0] = '\0';
    if (strncmp(t, "HIERARCH ", 9) == 0) {
        const char *eq = strchr(t, '=');
        if (!eq)
            return;
        pos = (size_t)(eq - t) + 1;
    } else if (len < 9 || !strncmp(t, "COMMENT ", 8) || !strncmp(t, "HISTORY ", 8) ||
               !strncmp(t, "END     ", 8) || !strncmp(t, "CONTINUE", 8) ||
               !strncmp(t, "        ", 8)) {
        return;
    } else if (t[8] == '=' && t[9] == ' ') {
        pos = 10;
    } else {
        const char *eq = strchr(t, '=');
        if (!eq)
            return;
        pos = (size_t)(eq - t) + 1;
    }
    c->has_value = 1;
    c->valpos = pos;
    while (pos < len && t[pos] == ' ')
        pos++;
    if (pos >= len || t[pos] == '/')
        return; /* undefined value */
    size_t j = 0;
    if (t[pos] == '\'') {
        c->quoted = 1;
        c->value[j++] = '\'';
        for (pos++; pos < len; pos++) {
            if (t[pos] == '\'') {
                if (pos + 1 < len && t[pos + 1] == '\'') {
                    c->value[j++] = '\'';
                    pos++;
                    continue;
                }
                break;
            }
            c->value[j++] = t[pos];
        }
        if (j > 70)
            j = 70;
        c->value[j++] = '\'';
    } else if (t[pos] == '(') {
        const char *close = strchr(t + pos, ')');
        if (!close)
            return; /* CFITSIO: an error, no value */
        while (t + pos <= close)
            c->value[j++] = t[pos++];
    } else {
        while (pos < len && t[pos] != ' ' && t[pos] != '/')
            c->value[j++] = t[pos++];
    }
    c->value[j] = '\0';
}

/* A number as CFITSIO reads one where it wants a number: digits, sign, '.', and an exponent
 * written E or D (it refuses a lower-case one). */
static int strict_number(const char *v, double *out)
{
    char buf[84];
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof buf)
        return 0;
    int digits = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (ch >= '0' && ch <= '9')
            digits = 1;
        else if (ch != '+' && ch != '-' && ch != '.' && ch != 'E' && ch != 'D')
            return 0;
        buf[i] = ch == 'D' ? 'E' : ch;
    }
    buf[n] = '\0';
    if (!digits)
        return 0;
    char *end;
    double d = strtod(buf, &end);
    if (*end != '\0' || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

/* A number as any of CFITSIO's conversions might take it: also inside quotes, blanks trimmed. */
static int loose_number(const card *c, double *out)
{
    if (!c->quoted)
        return strict_number(c->value, out);
    char in[84];
    size_t n = strlen(c->value);
    if (n < 2)
        return 0;
    size_t a = 1, b = n - 1;
    while (a < b && c->value[a] == ' ')
        a++;
    while (b > a && c->value[b - 1] == ' ')
        b--;
    memcpy(in, c->value + a, b - a);
    in[b - a] = '\0';
    return strict_number(in, out);
}

/* name is prefix followed by an index 1-999... and nothing else; returns the index or 0 */
static long indexed(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0 || name[n] < '1' || name[n] > '9')
        return 0;
    long v = 0;
    for (const char *p = name + n; *p; p++) {
        if (*p < '0' || *p > '9' || v > 99999)
            return 0;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* Keywords whose duplicates are refused: CFITSIO reads each with a search that starts from the
 * card it read last, so with two copies the tile layout or table size it uses can differ from
 * the one fits.c checked. */
static int watched(const char *name)
{
    return name[0] == 'Z' || !strcmp(name, "SIMPLE") || !strcmp(name, "XTENSION") ||
           !strcmp(name, "NAXIS") || indexed(name, "NAXIS") || !strcmp(name, "PCOUNT") ||
           !strcmp(name, "GCOUNT") || !strcmp(name, "TFIELDS") || !strcmp(name, "THEAP") ||
           indexed(name, "TFORM") || indexed(name, "TTYPE");
}

/* The tile-compression keywords CFITSIO reads as numbers. A value that is not a number, 27
 * characters or longer, overflows CFITSIO 4.2's message buffer in its string-to-number
 * conversion (strncat in ffc2j; a fortified build aborts), so any non-number is refused there. */
static int numeric_z(const char *name)
{
    static const char *const exact[] = {"ZBITPIX", "ZNAXIS", "ZPCOUNT", "ZGCOUNT", "ZTHEAP",
                                        "ZDITHER0", "ZBLANK", "ZSCALE", "ZZERO"};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (!strcmp(name, exact[i]))
            return 1;
    return indexed(name, "ZNAXIS") || indexed(name, "ZTILE") || indexed(name, "ZVAL");
}

/* Read as numbers in any header CFITSIO moves to: the same overflow from 27 characters on. */
static int numeric_any(const char *name)
{
    return !strcmp(name, "THEAP") || !strcmp(name, "BLANK") || indexed(name, "TBCOL");
}

static void printable(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (; in[j] && j + 1 < n; j++)
        out[j] = in[j] > 0x20 && in[j] < 0x7f ? in[j] : '?';
    out[j] = '\0';
}

typedef struct seen {
    uint64_t hash;
    size_t off; /* the card's offset in the file */
} seen;

typedef struct num {
    int state;  /* 0 absent, 1 a number, 2 something else */
    double v;
} num;

typedef struct header {
    int index;
    size_t offset;
    int primary;
    size_t nwatched;
    char string_key[76]; /* a numeric Z keyword holding something else */
    char string_any[76]; /* THEAP, BLANK or TBCOLn holding long text */
    char bad_tile[76];   /* a ZTILEn that is not a positive number */
    char naxis_text[84];
    int zimage, rice;
    num naxis, naxes[4], bitpix, pcount, gcount, znaxis, znaxes[4], ztile[4], zval1, zval2;
    char zcmptype[24];
} header;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int by_hash(const void *a, const void *b)
{
    const seen *x = a, *y = b;
    return x->hash < y->hash ? -1 : x->hash > y->hash ? 1 : x->off < y->off ? -1 : 1;
}

static void read_card(const unsigned char *raw, card *c)
{
    /* CFITSIO keeps a card as a C string with its trailing blanks removed ("ZTILE2=7" is then
     * too short to hold a value) */
    memcpy(c->text, raw, 80);
    c->text[80] = '\0';
    for (size_t n = strlen(c->text); n > 0 && c->text[n - 1] == ' '; n--)
        c->text[n - 1] = '\0';
    card_name(c->text, c->name);
    card_value(c);
}

static void set_num(num *n, const card *c)
{
    double d;
    if (loose_number(c, &d)) {
        n->state = 1;
        n->v = d;
    } else {
        n->state = 2;
    }
}

/* One card of an open header: refusals that need no other card, and what the header keeps. */
static int judge_card(const unsigned char *raw, size_t off, header *h, seen *w, ff_err *err)
{
    card c;
    read_card(raw, &c);
    const char *nm = c.name;
    if (c.has_value && !c.quoted) {
        /* CFITSIO 4.2 copies an unquoted TTYPEn value of 70 characters into a 70-byte field
         * (strcpy in ffgtbp; a fortified build aborts). No number or logical is that long, so an
         * unquoted value of LONG_UNQUOTED characters or more is refused in every card. */
        size_t k = c.valpos, n = 0, last = 0;
        while (k < 80 && c.text[k] == ' ')
            k++;
        for (; k < 80 && c.text[k] && c.text[k] != '/'; k++) {
            n++;
            if (c.text[k] != ' ')
                last = n;
        }
        if (last >= LONG_UNQUOTED) {
            char shown[24];
            printable(nm, shown, sizeof shown);
            return ff_err_set(err, "the header card %s holds %zu characters of unquoted text (a "
                                   "string value needs quotes)", shown, last);
        }
    }
    if (watched(nm)) {
        if (h->nwatched == MAX_WATCHED)
            return ff_err_set(err, "the header of HDU %d holds more than %d structural keywords",
                              h->index, MAX_WATCHED);
        w[h->nwatched++] = (seen){name_hash(nm), off};
    }
    if (!c.has_value)
        return 0;
    double d;
    int is_number = !c.quoted && strict_number(c.value, &d);
    if (numeric_z(nm) && !is_number && !h->string_key[0])
        snprintf(h->string_key, sizeof h->string_key, "%s", nm);
    if (numeric_any(nm) && !is_number && !h->string_any[0] &&
        strlen(c.value) - (c.quoted ? 2 : 0) >= LONG_VALUE)
        snprintf(h->string_any, sizeof h->string_any, "%s", nm);
    long i;
    if (!strcmp(nm, "NAXIS")) {
        set_num(&h->naxis, &c);
        snprintf(h->naxis_text, sizeof h->naxis_text, "%s", c.value);
    } else if ((i = indexed(nm, "NAXIS")) != 0 && i <= 3) {
        set_num(&h->naxes[i], &c);
    } else if (!strcmp(nm, "BITPIX")) {
        if (h->bitpix.state == 0)
            set_num(&h->bitpix, &c); /* CFITSIO takes the card in its place, the first */
    } else if (!strcmp(nm, "PCOUNT")) {
        set_num(&h->pcount, &c);
    } else if (!strcmp(nm, "GCOUNT")) {
        set_num(&h->gcount, &c);
    } else if (!strcmp(nm, "ZIMAGE")) {
        h->zimage |= strchr(c.value, 'T') || strchr(c.value, 't');
    } else if (!strcmp(nm, "ZCMPTYPE")) {
        h->rice = strstr(c.value, "RICE_") != NULL;
        size_t a = c.quoted ? 1 : 0, b = strlen(c.value) - (c.quoted ? 1 : 0), n = 0;
        while (a < b && n + 1 < sizeof h->zcmptype)
            h->zcmptype[n++] = c.value[a++];
        while (n > 0 && h->zcmptype[n - 1] == ' ')
            n--;
        h->zcmptype[n] = '\0';
    } else if (!strcmp(nm, "ZNAXIS")) {
        set_num(&h->znaxis, &c);
    } else if ((i = indexed(nm, "ZNAXIS")) != 0 && i <= 3) {
        set_num(&h->znaxes[i], &c);
    } else if ((i = indexed(nm, "ZTILE")) != 0) {
        /* CFITSIO divides by every ZTILEn it uses: each must be a positive number */
        if ((!is_number || d < 1) && !h->bad_tile[0])
            snprintf(h->bad_tile, sizeof h->bad_tile, "%s", nm);
        if (i <= 3)
            set_num(&h->ztile[i], &c);
    } else if (!strcmp(nm, "ZVAL1")) {
        set_num(&h->zval1, &c);
    } else if (!strcmp(nm, "ZVAL2")) {
        set_num(&h->zval2, &c);
    }
    return 0;
}

/* CFITSIO truncates a number read as an integer */
static long long trunc_ll(double v)
{
    return v >= 9.2e18 ? LLONG_MAX : v <= -9.2e18 ? LLONG_MIN : (long long)v;
}

static int judge_header(const unsigned char *buf, header *h, seen *w, ff_prescan *out, ff_err *err)
{
    int k = h->index;
    if (h->nwatched > 1) {
        qsort(w, h->nwatched, sizeof *w, by_hash);
        for (size_t i = 1; i < h->nwatched; i++) {
            if (w[i].hash != w[i - 1].hash)
                continue;
            card a, b;
            read_card(buf + w[i - 1].off, &a);
            read_card(buf + w[i].off, &b);
            if (strcmp(a.name, b.name) == 0) {
                char shown[24];
                printable(a.name, shown, sizeof shown);
                return ff_err_set(err, "the header of HDU %d has two %s cards (CFITSIO might read "
                                       "either)", k, shown);
            }
        }
    }
    if (h->string_any[0])
        return ff_err_set(err, "a header's %s holds long text where a number belongs", h->string_any);
    if (h->naxis.state == 2) {
        char shown[24];
        printable(h->naxis_text, shown, sizeof shown);
        return ff_err_set(err, "the header of HDU %d has NAXIS = %s, not a number", k, shown);
    }
    if (h->naxis.state == 1) {
        double n = h->naxis.v;
        /* CFITSIO crashes opening a header with NAXIS >= 104; this reader takes 1 to 3 axes */
        if (n < 0 || n >= 1000)
            return ff_err_set(err, "the header of HDU %d has NAXIS = %.17g; it must be 0 to 3", k, n);
        if (n > 3)
            return ff_err_set(err, "HDU %d has %lld axes (NAXIS = %lld) in its header; only 1 to 3 "
                                   "are supported", k, trunc_ll(n), trunc_ll(n));
    }
    /* The data unit CFITSIO skips to find the next header must be a size it can add. */
    if (h->naxis.state == 1 && h->bitpix.state == 1) {
        int naxis = (int)h->naxis.v, ok = 1;
        uint64_t size = (uint64_t)fabs(h->bitpix.v) / 8, prod = 1;
        int over = 0;
        for (int i = 1; i <= naxis; i++) {
            if (h->naxes[i].state != 1 || h->naxes[i].v < 0)
                ok = 0;
            else if (h->naxes[i].v >= 1) /* a zero NAXIS1 (random groups) is not counted */
                over |= h->naxes[i].v >= 1.8e19 ||
                        __builtin_mul_overflow(prod, (uint64_t)h->naxes[i].v, &prod);
        }
        double pc = h->pcount.state == 1 ? h->pcount.v : 0, gc = h->gcount.state == 1 ? h->gcount.v : 1;
        if (ok && pc >= 0 && gc >= 0 && size > 0) {
            over |= pc >= 1.8e19 || gc >= 1.8e19 ||
                    __builtin_add_overflow(prod, (uint64_t)pc, &prod) ||
                    __builtin_mul_overflow(prod, (uint64_t)gc, &prod) ||
                    __builtin_mul_overflow(prod, size, &prod) || prod > MAX_DATA;
            if (over)
                return ff_err_set(err, "the image or table in HDU %d is too large to address (its "
                                       "header describes more than 2^62 bytes of data)", k);
        }
    }
    if (h->zimage) {
        if (h->string_key[0])
            return ff_err_set(err, "the compressed image's %s holds text where a number belongs",
                              h->string_key);
        if (h->bad_tile[0])
            return ff_err_set(err, "the compressed image's %s is not a positive number", h->bad_tile);
        if (h->znaxis.state != 1)
            return ff_err_set(err, "the compressed image in HDU %d has no ZNAXIS number", k);
        double zn = h->znaxis.v;
        if (zn < 1 || zn > 3)
            return ff_err_set(err, "the compressed image in HDU %d has ZNAXIS = %.17g; only 1 to 3 "
                                   "axes are supported", k, zn);
        for (int i = 1; i <= (int)zn; i++) {
            if (h->znaxes[i].state != 1)
                return ff_err_set(err, "the compressed image in HDU %d has no ZNAXIS%d number", k, i);
            if (h->znaxes[i].v < 1)
                return ff_err_set(err, "the compressed image's ZNAXIS%d is %.17g; axes must be "
                                       "positive", i, h->znaxes[i].v);
        }
        if (h->rice && h->zval1.state == 1) {
            double bs = h->zval1.v;
            if (bs < 16 && h->zval2.state == 1 && h->zval2.v > 8)
                bs = h->zval2.v; /* CFITSIO swaps values written the other way round */
            if (trunc_ll(bs) <= 0)
                return ff_err_set(err, "the RICE_1 block size (ZVAL1) is %lld; it must be positive",
                                  trunc_ll(bs));
        }
    }
    if (out) {
        if (out->nhdus < FF_PRESCAN_KEEP) {
            ff_prescan_hdu *o = &out->hdu[out->nhdus];
            memset(o, 0, sizeof *o);
            o->offset = h->offset;
            o->naxis = h->naxis.state == 1 ? (int)h->naxis.v : -1;
            o->zimage = h->zimage;
            o->znaxis = h->zimage ? (int)h->znaxis.v : -1;
            for (int i = 0; i < 3; i++) {
                o->naxes[i] = h->naxes[i + 1].state == 1 ? trunc_ll(h->naxes[i + 1].v) : -1;
                o->znaxes[i] = h->znaxes[i + 1].state == 1 ? trunc_ll(h->znaxes[i + 1].v) : -1;
                o->ztile[i] = h->ztile[i + 1].state == 1 ? trunc_ll(h->ztile[i + 1].v)
                              : i == 0                   ? o->znaxes[0]
                                                         : 1;
            }
            memcpy(o->zcmptype, h->zcmptype, sizeof o->zcmptype);
        }
        out->nhdus++;
    }
    return 0;
}

int ff_fits_prescan(const unsigned char *buf, size_t size, ff_prescan *out, ff_err *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (size < 9 || memcmp(buf, "SIMPLE  =", 9) != 0)
        return ff_err_set(err, "not a FITS file (it does not start with a SIMPLE card)");
    seen *w = malloc(MAX_WATCHED * sizeof *w);
    if (!w)
        return ff_err_set(err, "out of memory scanning the headers");
    header h;
    int in_header = 0, nheaders = 0, primary_ended = 0, rc = 0;
    for (size_t off = 0; off + 80 <= size; off += 80) {
        const unsigned char *c = buf + off;
        if (!in_header) {
            char first[9];
            for (int k = 0; k < 9; k++)
                first[k] = (char)toupper(c[k]);
            if (!((off == 0 && memcmp(c, "SIMPLE  =", 9) == 0) ||
                  (off % BLOCK == 0 && memcmp(first, "XTENSION=", 9) == 0)))
                continue; /* a data unit: its bytes are not cards */
            memset(&h, 0, sizeof h);
            h.index = nheaders++;
            h.offset = off;
            h.primary = off == 0;
            in_header = 1;
        }
        if (memcmp(c, "END     ", 8) == 0) {
            in_header = 0;
            primary_ended |= h.primary;
            if ((rc = judge_header(buf, &h, w, out, err)) != 0)
                break;
            continue;
        }
        if ((rc = judge_card(c, off, &h, w, err)) != 0)
            break;
    }
    if (rc == 0 && !primary_ended)
        rc = ff_err_set(err, "the primary header has no END card (the file is cut short or is not "
                             "FITS)");
    else if (rc == 0 && in_header)
        rc = judge_header(buf, &h, w, out, err); /* runs to the end of the file */
    free(w);
    return rc;
}
