/* Parsing FITS header cards into typed values, following astropy.io.fits.Card's rules, so that
 * every output that shows the header agrees with what a scientist sees in astropy. */
#include "core/fits/header.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CARDS 100000

/* Arena for the strings behind text/comment: every card adds at most 80 + 80 bytes plus NULs. */
typedef struct arena {
    char *base;
    size_t len, cap;
} arena;

static char *arena_add(arena *a, const char *s, size_t n)
{
    if (n + 1 > a->cap - a->len)
        return NULL; /* cannot happen: capacity is computed from the card count */
    char *p = a->base + a->len;
    memcpy(p, s, n);
    p[n] = '\0';
    a->len += n + 1;
    return p;
}

static size_t rtrim_len(const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\0'))
        n--;
    return n;
}

static int is_commentary_key(const char *key)
{
    return key[0] == '\0' || strcmp(key, "COMMENT") == 0 || strcmp(key, "HISTORY") == 0;
}

/* Reads a quoted string starting at s[0] == '\''. Returns bytes consumed; the value (with ''
 * unescaped) goes to out (at most 80 bytes). */
static size_t parse_quoted(const char *s, size_t n, char *out, size_t *outlen)
{
    size_t i = 1, o = 0;
    while (i < n) {
        if (s[i] == '\'') {
            if (i + 1 < n && s[i + 1] == '\'') {
                out[o++] = '\'';
                i += 2;
                continue;
            }
            i++;
            break;
        }
        out[o++] = s[i++];
    }
    *outlen = o;
    return i;
}

static void comment_after(const char *s, size_t n, const char **c, size_t *clen)
{
    const char *slash = memchr(s, '/', n);
    if (!slash) {
        *c = "";
        *clen = 0;
        return;
    }
    size_t off = (size_t)(slash - s) + 1;
    while (off < n && s[off] == ' ')
        off++;
    *c = s + off;
    *clen = rtrim_len(s + off, n - off);
}

static void classify_number(ff_card *card, const char *v, size_t vlen)
{
    char tmp[81];
    memcpy(tmp, v, vlen);
    tmp[vlen] = '\0';
    if (vlen == 1 && (tmp[0] == 'T' || tmp[0] == 'F')) {
        card->kind = FF_CARD_BOOL;
        card->bval = tmp[0] == 'T';
        return;
    }
    if (tmp[0] == '(') {
        card->kind = FF_CARD_COMPLEX;
        return;
    }
    size_t i = 0;
    if (tmp[i] == '+' || tmp[i] == '-')
        i++;
    size_t digits = 0;
    while (isdigit((unsigned char)tmp[i + digits]))
        digits++;
    if (digits && i + digits == vlen) {
        errno = 0;
        long long iv = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            card->kind = FF_CARD_INT;
            card->ival = iv;
            card->fval = (double)iv;
            return;
        }
        card->kind = FF_CARD_FLOAT; /* larger than int64: keep it as a float */
        card->fval = strtod(tmp, NULL);
        return;
    }
    for (size_t k = 0; k < vlen; k++)
        if (tmp[k] == 'D' || tmp[k] == 'd')
            tmp[k] = 'E';
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end != tmp && *end == '\0' && (isdigit((unsigned char)tmp[i]) || tmp[i] == '.')) {
        card->kind = FF_CARD_FLOAT;
        card->fval = d;
        return;
    }
    card->kind = FF_CARD_STRING; /* not a valid FITS number: keep the text as it stands */
}

/* The card's key (a HIERARCH key's long name too) and where its value field starts; val NULL
 * for a commentary card (no "= " after the key). */
static void card_key_value(ff_card *card, const char **val, size_t *vlen)
{
    const char *c = card->raw;
    *val = NULL;
    *vlen = 0;
    if (strncmp(c, "HIERARCH ", 9) == 0 && memchr(c, '=', 80)) {
        const char *eq = memchr(c, '=', 80);
        size_t off = 9;
        while (off < (size_t)(eq - c) && c[off] == ' ')
            off++;
        size_t klen = rtrim_len(c + off, (size_t)(eq - c) - off);
        memcpy(card->key, c + off, klen);
        *val = eq + 1;
        *vlen = 80 - (size_t)(*val - c);
        return;
    }
    memcpy(card->key, c, rtrim_len(c, 8));
    if (!is_commentary_key(card->key) && c[8] == '=' && c[9] == ' ') {
        *val = c + 10;
        *vlen = 70;
    }
}

/* A long string's CONTINUE cards from card j on, appended to sbuf (slen) and their comments to
 * cbuf (clen), as astropy does: each piece loses its trailing blanks and then one trailing '&';
 * comments join with spaces. */
static void join_continues(const char *cards, size_t ncards, size_t j, char *sbuf, size_t scap,
                           size_t *slen, char *cbuf, size_t ccap, size_t *clen)
{
    while (j < ncards && memcmp(cards + 80 * j, "CONTINUE", 8) == 0 && *slen < scap - 81 &&
           *clen < ccap - 82) {
        const char *cc = cards + 80 * j, *cm;
        size_t q = 8, cmlen;
        while (q < 80 && cc[q] == ' ')
            q++;
        if (q >= 80 || cc[q] != '\'')
            break;
        char piece[81];
        size_t plen;
        size_t pused = parse_quoted(cc + q, 80 - q, piece, &plen);
        plen = rtrim_len(piece, plen);
        int cont = plen && piece[plen - 1] == '&';
        if (cont)
            plen--;
        memcpy(sbuf + *slen, piece, plen);
        *slen += plen;
        comment_after(cc + q + pused, 80 - q - pused, &cm, &cmlen);
        if (cmlen) {
            if (*clen)
                cbuf[(*clen)++] = ' ';
            memcpy(cbuf + *clen, cm, cmlen);
            *clen += cmlen;
        }
        j++;
        if (!cont)
            break;
    }
}

/* A string value (val at its opening quote), long strings joined with their CONTINUE cards
 * (cards[i] is this card). */
static void string_card(ff_card *card, arena *a, const char *val, size_t vlen, const char *cards,
                        size_t ncards, size_t i)
{
    char sbuf[81 * 64], cbuf[81 * 64];
    size_t slen, clen, cmlen;
    const char *cm;
    size_t used = parse_quoted(val, vlen, sbuf, &slen);
    comment_after(val + used, vlen - used, &cm, &cmlen);
    memcpy(cbuf, cm, cmlen);
    clen = cmlen;
    int more = i + 1 < ncards && memcmp(cards + 80 * (i + 1), "CONTINUE", 8) == 0;
    if (more && rtrim_len(sbuf, slen) && sbuf[rtrim_len(sbuf, slen) - 1] == '&') {
        slen = rtrim_len(sbuf, slen) - 1;
        join_continues(cards, ncards, i + 1, sbuf, sizeof sbuf, &slen, cbuf, sizeof cbuf, &clen);
    }
    card->kind = FF_CARD_STRING;
    card->text = arena_add(a, sbuf, rtrim_len(sbuf, slen));
    if (!card->text) /* joined strings exceeded the arena estimate: keep it short */
        card->text = "";
    card->comment = arena_add(a, cbuf, clen);
    if (!card->comment)
        card->comment = "";
}

/* A value that is not a string: a number, a logical, or nothing (undefined). */
static void plain_card(ff_card *card, arena *a, const char *val, size_t vlen)
{
    const char *cm;
    size_t cmlen;
    const char *slash = memchr(val, '/', vlen);
    size_t tlen = rtrim_len(val, slash ? (size_t)(slash - val) : vlen);
    comment_after(val, vlen, &cm, &cmlen);
    if (tlen == 0) {
        card->kind = FF_CARD_UNDEFINED;
        card->text = arena_add(a, "", 0);
    } else {
        classify_number(card, val, tlen);
        card->text = arena_add(a, val, tlen);
    }
    card->comment = arena_add(a, cm, cmlen);
}

int ff_header_parse(const char *cards, size_t ncards, ff_header *out, ff_err *err)
{
    memset(out, 0, sizeof *out);
    if (ncards > MAX_CARDS)
        return ff_err_set(err, "header has %zu cards, more than the %d allowed", ncards, MAX_CARDS);
    out->cards = calloc(ncards ? ncards : 1, sizeof *out->cards);
    arena a = {.cap = (ncards + 1) * 2 * 82};
    a.base = malloc(a.cap);
    if (!out->cards || !a.base) {
        free(out->cards);
        free(a.base);
        out->cards = NULL;
        return ff_err_set(err, "out of memory parsing a header of %zu cards", ncards);
    }
    out->strings = a.base;
    for (size_t i = 0; i < ncards; i++) {
        const char *c = cards + 80 * i;
        if (memcmp(c, "END", 3) == 0 && rtrim_len(c, 80) == 3)
            break;
        ff_card *card = &out->cards[out->ncards];
        memset(card, 0, sizeof *card);
        memcpy(card->raw, c, 80);
        card->raw[80] = '\0';
        for (int k = 0; k < 80; k++)
            if ((unsigned char)card->raw[k] < 32 || (unsigned char)card->raw[k] > 126)
                card->raw[k] = ' ';
        const char *val;
        size_t vlen;
        card_key_value(card, &val, &vlen);
        if (strcmp(card->key, "CONTINUE") == 0 && out->ncards > 0)
            continue; /* consumed together with the string it continues */
        if (!val) {
            card->kind = FF_CARD_COMMENTARY;
            card->text = arena_add(&a, card->raw + 8, rtrim_len(card->raw + 8, 72));
            card->comment = arena_add(&a, "", 0);
        } else {
            size_t p = 0;
            while (p < vlen && val[p] == ' ')
                p++;
            if (p < vlen && val[p] == '\'')
                string_card(card, &a, val + p, vlen - p, cards, ncards, i);
            else
                plain_card(card, &a, val + p, vlen - p);
        }
        out->ncards++;
    }
    return 0;
}

const ff_card *ff_header_find(const ff_header *h, const char *key)
{
    for (size_t i = 0; i < h->ncards; i++)
        if (strcmp(h->cards[i].key, key) == 0)
            return &h->cards[i];
    return NULL;
}

int ff_header_get_double(const ff_header *h, const char *key, double *out)
{
    const ff_card *c = ff_header_find(h, key);
    if (!c || (c->kind != FF_CARD_INT && c->kind != FF_CARD_FLOAT))
        return -1;
    *out = c->kind == FF_CARD_INT ? (double)c->ival : c->fval;
    return 0;
}

int ff_header_get_int(const ff_header *h, const char *key, int64_t *out)
{
    const ff_card *c = ff_header_find(h, key);
    if (!c)
        return -1;
    if (c->kind == FF_CARD_INT) {
        *out = c->ival;
        return 0;
    }
    /* range first: converting a double outside int64 (or NaN) is undefined behaviour */
    if (c->kind == FF_CARD_FLOAT && c->fval >= -9223372036854775808.0 &&
        c->fval < 9223372036854775808.0 && c->fval == (double)(int64_t)c->fval) {
        *out = (int64_t)c->fval;
        return 0;
    }
    return -1;
}

int ff_header_get_string(const ff_header *h, const char *key, char *out, size_t outsize)
{
    const ff_card *c = ff_header_find(h, key);
    if (!c || c->kind == FF_CARD_UNDEFINED || c->kind == FF_CARD_COMMENTARY || !outsize)
        return -1;
    size_t n = rtrim_len(c->text, strlen(c->text));
    if (n >= outsize)
        n = outsize - 1;
    memcpy(out, c->text, n);
    out[n] = '\0';
    return 0;
}

void ff_header_free(ff_header *h)
{
    if (!h)
        return;
    free(h->cards);
    free(h->strings);
    h->cards = NULL;
    h->strings = NULL;
    h->ncards = 0;
}
