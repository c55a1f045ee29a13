/* The header pre-scan (prescan.h): CFITSIO's card rules mirrored on raw bytes, so that every value
 * CFITSIO will act on is judged before it parses the file. The rules (read in CFITSIO 4.2's
 * fitscore.c, ffgknm and ffpsvc, and tried on the library itself):
 *   - a keyword's name runs to the first blank, '=' or NUL (HIERARCH names: to the '='); CFITSIO
 *     finds keywords whatever their case, HIERARCH ones included, so "ZTILE2 X= 7" and
 *     "HIERARCH ztile2 = 7" are both ZTILE2 to it;
 *   - the value field starts after "= " in columns 9-10, else after the first '=' anywhere
 *     (COMMENT, HISTORY, CONTINUE, END and blank names have none); a value is a quoted string,
 *     a parenthesised complex number, or a token ending at a blank or '/';
 *   - a header ends at the first card whose name is END in capitals ("END", "END=", "END  x";
 *     not "end" or "END/"). */
#include "core/fits/prescan.h"

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
    char text[81];  /* the card as CFITSIO holds it: a C string, ended at a NUL byte (CFITSIO also
                       drops trailing blanks; blank_from stands in for that) */
    size_t len;     /* strlen(text) */
    char name[76];  /* CFITSIO's keyword name, upper case */
    int has_value;  /* a value field exists */
    size_t valpos;  /* where the value field starts in text */
    int quoted;     /* the value is a quoted string */
    char value[84]; /* the value as CFITSIO parses it (quotes kept), "" when undefined */
} card;

/* whether text from i on is blank: CFITSIO, which removes trailing blanks, sees nothing there */
static int blank_from(const card *c, size_t i)
{
    return i >= c->len || strspn(c->text + i, " ") == c->len - i;
}

/* ffgknm's name, upper-cased (CFITSIO compares names case-blind). */
static void card_name(card *c)
{
    const char *t = c->text;
    char *name = c->name;
    size_t n = 0;
    if (t[0] == 'H' && strncmp(t, "HIERARCH ", 9) == 0) {
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
        n = strcspn(t, " =");
        if (n > 74)
            n = 74;
        memcpy(name, t, n);
    }
    name[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (name[i] >= 'a' && name[i] <= 'z')
            name[i] = (char)(name[i] - 'a' + 'A');
}

/* Where ffpsvc finds the value field, if anywhere. */
static void value_field(card *c)
{
    const char *t = c->text;
    c->has_value = 0;
    if (t[0] == 'H' && strncmp(t, "HIERARCH ", 9) == 0) {
        const char *eq = strchr(t, '=');
        if (!eq)
            return;
        c->valpos = (size_t)(eq - t) + 1;
    } else if (c->len < 9 || blank_from(c, 8) ||
               ((t[0] == 'C' || t[0] == 'H' || t[0] == 'E' || t[0] == ' ') &&
                (!strncmp(t, "COMMENT ", 8) || !strncmp(t, "HISTORY ", 8) ||
                 !strncmp(t, "END     ", 8) || !strncmp(t, "CONTINUE", 8) ||
                 !strncmp(t, "        ", 8)))) {
        return;
    } else if (t[8] == '=' && t[9] == ' ') {
        c->valpos = 10;
    } else {
        const char *eq = strchr(t, '=');
        if (!eq)
            return;
        c->valpos = (size_t)(eq - t) + 1;
    }
    c->has_value = 1;
}

/* ffpsvc's value: a quoted string (quotes kept, '' read as '), a parenthesised complex number, or
 * a token ending at a blank or '/'; "" when undefined. */
static void card_value(card *c)
{
    const char *t = c->text;
    size_t len = c->len, pos = c->valpos + strspn(t + c->valpos, " "), j = 0;
    c->quoted = 0;
    c->value[0] = '\0';
    if (pos >= len || t[pos] == '/')
        return;
    if (t[pos] == '\'') {
        c->quoted = 1;
        c->value[j++] = '\'';
        int closed = 0;
        for (pos++; pos < len; pos++) {
            if (t[pos] == '\'') {
                if (pos + 1 < len && t[pos + 1] == '\'') {
                    c->value[j++] = '\'';
                    pos++;
                    continue;
                }
                closed = 1;
                break;
            }
            c->value[j++] = t[pos];
        }
        if (!closed) {
            while (j > 1 && c->value[j - 1] == ' ') /* CFITSIO's copy ends at the last non-blank */
                j--;
            if (j > 69)
                j = 69;
        }
        c->value[j++] = '\'';
    } else if (t[pos] == '(') {
        const char *close = strchr(t + pos, ')');
        if (!close)
            return; /* CFITSIO: an error, no value */
        j = (size_t)(close - (t + pos)) + 1;
        memcpy(c->value, t + pos, j);
    } else {
        j = strcspn(t + pos, " /");
        memcpy(c->value, t + pos, j);
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

/* What a keyword is to the checks. */
enum { K_OTHER, K_NAXIS, K_NAXISN, K_BITPIX, K_PCOUNT, K_GCOUNT, K_ZIMAGE, K_ZCMPTYPE, K_ZNAXIS,
       K_ZNAXISN, K_ZTILEN, K_ZVAL1, K_ZVAL2 };
#define F_WATCHED 1 /* a duplicate is refused */
#define F_NUM_Z 2   /* must hold a number in a compressed image's header */
#define F_NUM_ANY 4 /* must not hold long text, in any header */

/* Sorts a keyword (by its first letter: most cards need one comparison). Watched keywords are
 * those CFITSIO reads with a search that starts from the card it read last: with two copies the
 * tile layout or table size it uses can differ from the one fits.c checked. F_NUM_Z: the
 * tile-compression keywords CFITSIO reads as numbers; a value that is not a number, 27 characters
 * or longer, overflows CFITSIO 4.2's message buffer in its string-to-number conversion (strncat in
 * ffc2j; a fortified build aborts), so any non-number is refused there. F_NUM_ANY: read as numbers
 * in any header CFITSIO moves to, with the same overflow. */
static int classify(const char *nm, long *idx, int *flags)
{
    *flags = 0;
    *idx = 0;
    switch (nm[0]) {
    case 'Z': {
        static const char *const exact[] = {"ZBITPIX", "ZPCOUNT", "ZGCOUNT", "ZTHEAP", "ZDITHER0",
                                            "ZBLANK", "ZSCALE", "ZZERO"};
        *flags = F_WATCHED;
        if (!strcmp(nm, "ZIMAGE"))
            return K_ZIMAGE;
        if (!strcmp(nm, "ZCMPTYPE"))
            return K_ZCMPTYPE;
        *flags |= F_NUM_Z;
        if (!strcmp(nm, "ZNAXIS"))
            return K_ZNAXIS;
        if ((*idx = indexed(nm, "ZNAXIS")) != 0)
            return K_ZNAXISN;
        if ((*idx = indexed(nm, "ZTILE")) != 0)
            return K_ZTILEN;
        if ((*idx = indexed(nm, "ZVAL")) != 0)
            return *idx == 1 ? K_ZVAL1 : *idx == 2 ? K_ZVAL2 : K_OTHER;
        for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
            if (!strcmp(nm, exact[i]))
                return K_OTHER;
        *flags = F_WATCHED;
        return K_OTHER;
    }
    case 'N':
        if (!strcmp(nm, "NAXIS")) {
            *flags = F_WATCHED;
            return K_NAXIS;
        }
        if ((*idx = indexed(nm, "NAXIS")) != 0) {
            *flags = F_WATCHED;
            return K_NAXISN;
        }
        return K_OTHER;
    case 'P':
        if (!strcmp(nm, "PCOUNT")) {
            *flags = F_WATCHED;
            return K_PCOUNT;
        }
        return K_OTHER;
    case 'G':
        if (!strcmp(nm, "GCOUNT")) {
            *flags = F_WATCHED;
            return K_GCOUNT;
        }
        return K_OTHER;
    case 'B':
        if (!strcmp(nm, "BITPIX"))
            return K_BITPIX;
        if (!strcmp(nm, "BLANK"))
            *flags = F_NUM_ANY;
        return K_OTHER;
    case 'T':
        if (!strcmp(nm, "TFIELDS") || indexed(nm, "TFORM") || indexed(nm, "TTYPE"))
            *flags = F_WATCHED;
        else if (!strcmp(nm, "THEAP"))
            *flags = F_WATCHED | F_NUM_ANY;
        else if (indexed(nm, "TBCOL"))
            *flags = F_NUM_ANY;
        return K_OTHER;
    case 'S':
        if (!strcmp(nm, "SIMPLE"))
            *flags = F_WATCHED;
        return K_OTHER;
    case 'X':
        if (!strcmp(nm, "XTENSION"))
            *flags = F_WATCHED;
        return K_OTHER;
    default:
        return K_OTHER;
    }
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

/* The watched keywords of the open header: on the stack for ordinary headers, grown on the heap
 * up to MAX_WATCHED for long ones. */
typedef struct watchlist {
    seen *v;
    size_t cap;
    seen local[128];
} watchlist;

static int watch_add(watchlist *wl, size_t n, seen x)
{
    if (n == wl->cap) {
        size_t cap = wl->cap * 4 > MAX_WATCHED ? MAX_WATCHED : wl->cap * 4;
        seen *v = wl->v == wl->local ? malloc(cap * sizeof *v) : realloc(wl->v, cap * sizeof *v);
        if (!v)
            return -1;
        if (wl->v == wl->local)
            memcpy(v, wl->local, sizeof wl->local);
        wl->v = v;
        wl->cap = cap;
    }
    wl->v[n] = x;
    return 0;
}

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
    memcpy(c->text, raw, 80);
    c->text[80] = '\0';
    c->len = strlen(c->text);
    card_name(c);
    value_field(c);
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

/* An unquoted value too long for CFITSIO: -1 with err. */
static int long_unquoted(const card *cp, ff_err *err)
{
    const card c = *cp;
    const char *nm = c.name;
    if (c.has_value) {
        /* CFITSIO 4.2 copies an unquoted TTYPEn value of 70 characters into a 70-byte field
         * (strcpy in ffgtbp; a fortified build aborts). No number or logical is that long, so an
         * unquoted value of LONG_UNQUOTED characters or more (to a '/', blanks trimmed) is refused
         * in every card. */
        size_t p = c.valpos + strspn(c.text + c.valpos, " ");
        if (p < c.len && c.text[p] != '\'') {
            size_t end = p + strcspn(c.text + p, "/"), far = p + LONG_UNQUOTED - 1;
            /* long only if something other than a blank lies that far on */
            if (end > far && strspn(c.text + far, " ") < end - far) {
                while (end > p && c.text[end - 1] == ' ')
                    end--;
                if (end - p >= LONG_UNQUOTED) {
                    char shown[24];
                    printable(nm, shown, sizeof shown);
                    return ff_err_set(err, "the header card %s holds %zu characters of unquoted text "
                                           "(a string value needs quotes)", shown, end - p);
                }
            }
        }
    }
    return 0;
}

/* What the header keeps of a watched card whose value was read. */
static void keep_value(header *h, const card *cp, int kind, long i, int is_number, double d)
{
    const card c = *cp;
    const char *nm = c.name;
    switch (kind) {
    case K_NAXIS:
        set_num(&h->naxis, &c);
        snprintf(h->naxis_text, sizeof h->naxis_text, "%s", c.value);
        break;
    case K_NAXISN:
        if (i <= 3)
            set_num(&h->naxes[i], &c);
        break;
    case K_BITPIX:
        if (h->bitpix.state == 0)
            set_num(&h->bitpix, &c); /* CFITSIO takes the card in its place, the first */
        break;
    case K_PCOUNT:
        set_num(&h->pcount, &c);
        break;
    case K_GCOUNT:
        set_num(&h->gcount, &c);
        break;
    case K_ZIMAGE:
        h->zimage |= strchr(c.value, 'T') || strchr(c.value, 't');
        break;
    case K_ZCMPTYPE: {
        h->rice = strstr(c.value, "RICE_") != NULL;
        size_t a = c.quoted ? 1 : 0, b = strlen(c.value) - (c.quoted ? 1 : 0), n = 0;
        while (a < b && n + 1 < sizeof h->zcmptype)
            h->zcmptype[n++] = c.value[a++];
        while (n > 0 && h->zcmptype[n - 1] == ' ')
            n--;
        h->zcmptype[n] = '\0';
        break;
    }
    case K_ZNAXIS:
        set_num(&h->znaxis, &c);
        break;
    case K_ZNAXISN:
        if (i <= 3)
            set_num(&h->znaxes[i], &c);
        break;
    case K_ZTILEN:
        /* CFITSIO divides by every ZTILEn it uses: each must be a positive number */
        if ((!is_number || d < 1) && !h->bad_tile[0])
            snprintf(h->bad_tile, sizeof h->bad_tile, "%s", nm);
        if (i <= 3)
            set_num(&h->ztile[i], &c);
        break;
    case K_ZVAL1:
        set_num(&h->zval1, &c);
        break;
    case K_ZVAL2:
        set_num(&h->zval2, &c);
        break;
    default:
        break;
    }
}

/* One card of an open header: refusals that need no other card, and what the header keeps. */
static int judge_card(const unsigned char *raw, size_t off, header *h, watchlist *wl, ff_err *err)
{
    card c;
    read_card(raw, &c);
    const char *nm = c.name;
    if (long_unquoted(&c, err) != 0)
        return -1;
    long i;
    int flags;
    int kind = classify(nm, &i, &flags);
    if (flags & F_WATCHED) {
        if (h->nwatched == MAX_WATCHED)
            return ff_err_set(err, "the header of HDU %d holds more than %d structural keywords",
                              h->index, MAX_WATCHED);
        if (watch_add(wl, h->nwatched, (seen){name_hash(nm), off}) != 0)
            return ff_err_set(err, "out of memory scanning the headers");
        h->nwatched++;
    }
    if (!c.has_value || (kind == K_OTHER && !(flags & (F_NUM_Z | F_NUM_ANY))))
        return 0;
    card_value(&c);
    double d = 0;
    int is_number = !c.quoted && strict_number(c.value, &d);
    if ((flags & F_NUM_Z) && !is_number && !h->string_key[0])
        snprintf(h->string_key, sizeof h->string_key, "%s", nm);
    if ((flags & F_NUM_ANY) && !is_number && !h->string_any[0] &&
        strlen(c.value) - (c.quoted ? 2 : 0) >= LONG_VALUE)
        snprintf(h->string_any, sizeof h->string_any, "%s", nm);
    keep_value(h, &c, kind, i, is_number, d);
    return 0;
}

/* CFITSIO truncates a number read as an integer */
static long long trunc_ll(double v)
{
    return v >= 9.2e18 ? LLONG_MAX : v <= -9.2e18 ? LLONG_MIN : (long long)v;
}

/* Two cards of one structural keyword: CFITSIO might read either. */
static int no_duplicates(const unsigned char *buf, header *h, watchlist *wl, ff_err *err)
{
    seen *w = wl->v;
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
    return 0;
}

/* NAXIS: a number, 0 to 3. */
static int judge_naxis(const header *h, ff_err *err)
{
    int k = h->index;
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
    return 0;
}

static int judge_data_size(const header *h, ff_err *err)
{
    int k = h->index;
    /* The data unit CFITSIO skips to find the next header must be a size it can add. */
    double bp = h->bitpix.v;
    if (h->naxis.state == 1 && h->bitpix.state == 1 &&
        (bp == 8 || bp == 16 || bp == 32 || bp == 64 || bp == -32 || bp == -64)) {
        int naxis = (int)h->naxis.v, ok = 1;
        uint64_t size = (uint64_t)fabs(bp) / 8, prod = 1;
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
    return 0;
}

/* A compressed image's numbers CFITSIO divides by or allocates from. */
static int judge_compressed(const header *h, ff_err *err)
{
    int k = h->index;
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
    return 0;
}

/* What the pre-scan tells its caller of the HDU. */
static void keep_hdu(const header *h, ff_prescan *out)
{
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

static int judge_header(const unsigned char *buf, header *h, watchlist *wl, ff_prescan *out,
                        ff_err *err)
{
    if (no_duplicates(buf, h, wl, err) != 0 || judge_naxis(h, err) != 0 ||
        judge_data_size(h, err) != 0 || (h->zimage && judge_compressed(h, err) != 0))
        return -1;
    if (out)
        keep_hdu(h, out);
    return 0;
}

int ff_fits_prescan(const unsigned char *buf, size_t size, ff_prescan *out, ff_err *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (size < 9 || memcmp(buf, "SIMPLE  =", 9) != 0)
        return ff_err_set(err, "not a FITS file (it does not start with a SIMPLE card)");
    watchlist wl;
    wl.v = wl.local;
    wl.cap = sizeof wl.local / sizeof *wl.local;
    header h;
    int in_header = 0, nheaders = 0, primary_ended = 0, rc = 0;
    for (size_t off = 0; off + 80 <= size; off += 80) {
        const unsigned char *c = buf + off;
        if (!in_header) {
            /* a data unit: its bytes are not cards; a header can start only at a block */
            if (off % BLOCK != 0) {
                off += BLOCK - off % BLOCK - 80;
                continue;
            }
            /* CFITSIO takes a block for an extension header when its first keyword's name is
             * XTENSION ("XTENSION = 'IMAGE'" and "XTENSION='IMAGE'" too); any case counts here */
            char first[8];
            for (int k = 0; k < 8; k++)
                first[k] = (char)toupper(c[k]);
            int xtension = memcmp(first, "XTENSION", 8) == 0 && (c[8] == ' ' || c[8] == '=' || c[8] == 0);
            if (!((off == 0 && memcmp(c, "SIMPLE  =", 9) == 0) || xtension))
                continue;
            memset(&h, 0, sizeof h);
            h.index = nheaders++;
            h.offset = off;
            h.primary = off == 0;
            in_header = 1;
        }
        if (memcmp(c, "END", 3) == 0 && (c[3] == ' ' || c[3] == '=' || c[3] == '\0')) {
            in_header = 0;
            primary_ended |= h.primary;
            if ((rc = judge_header(buf, &h, &wl, out, err)) != 0)
                break;
            continue;
        }
        if ((rc = judge_card(c, off, &h, &wl, err)) != 0)
            break;
    }
    if (rc == 0 && !primary_ended)
        rc = ff_err_set(err, "the primary header has no END card (the file is cut short or is not "
                             "FITS)");
    else if (rc == 0 && in_header)
        rc = judge_header(buf, &h, &wl, out, err); /* runs to the end of the file */
    if (wl.v != wl.local)
        free(wl.v);
    return rc;
}
