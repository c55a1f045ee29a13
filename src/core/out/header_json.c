/* header/{base}_header.json: typed header values and card comments as JSON (see writers.h).
 * Written by hand rather than through jansson so that floats keep Python's shortest repr and
 * integers beyond int64 stay exact integers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/out/header_value.h"
#include "base/numfmt.h"
#include "core/out/writers.h"

static int is_commentary_key(const char *k)
{
    return k[0] == '\0' || strcmp(k, "COMMENT") == 0 || strcmp(k, "HISTORY") == 0;
}

static void put_json_string(ff_bufw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    ff_bufw_put(w, "\"", 1);
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            continue;
        ff_bufw_put(w, run, (size_t)((const char *)p - run));
        char esc[6] = {'\\', (char)*p, 0, 0, 0, 0};
        if (*p == '"' || *p == '\\') {
            ff_bufw_put(w, esc, 2);
        } else { /* control bytes, and bytes >= 0x7f read as Latin-1 */
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            ff_bufw_put(w, esc, 6);
        }
        run = (const char *)p + 1;
    }
    ff_bufw_puts(w, run);
    ff_bufw_put(w, "\"", 1);
}

static void put_value(ff_bufw *w, const ff_card *c)
{
    char buf[FF_HVAL_MAX];
    switch (c->kind) {
    case FF_CARD_UNDEFINED:
        ff_bufw_puts(w, "null");
        return;
    case FF_CARD_BOOL:
        ff_bufw_puts(w, c->bval ? "true" : "false");
        return;
    case FF_CARD_INT:
        ff_fmt_int64(c->ival, buf);
        ff_bufw_puts(w, buf);
        return;
    case FF_CARD_FLOAT:
        if (ff_header_big_int_text(c, buf)) {
            ff_bufw_puts(w, buf);
        } else if (isfinite(c->fval)) {
            ff_fmt_double(c->fval, buf);
            ff_bufw_puts(w, buf);
        } else {
            ff_bufw_puts(w, "null"); /* strict JSON has no inf; only "1E400"-like cards get here */
        }
        return;
    case FF_CARD_COMPLEX:
        put_json_string(w, ff_header_complex_text(c, buf) ? buf : c->text);
        return;
    case FF_CARD_STRING:
    case FF_CARD_COMMENTARY:
        put_json_string(w, c->text);
        return;
    }
}

static uint32_t hash_key(const char *k)
{
    uint32_t h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h;
}

/* Marks first[i] = 1 for the first card of each keyword (a small open-addressing set). */
static int mark_first(const ff_header *h, unsigned char *first, ff_err *err)
{
    size_t cap = 16;
    while (cap < 2 * h->ncards)
        cap *= 2;
    size_t *slot = malloc(cap * sizeof *slot);
    if (!slot)
        return ff_err_set(err, "out of memory indexing %zu header cards", h->ncards);
    for (size_t i = 0; i < cap; i++)
        slot[i] = SIZE_MAX;
    for (size_t i = 0; i < h->ncards; i++) {
        const char *k = h->cards[i].key;
        size_t s = hash_key(k) & (cap - 1);
        while (slot[s] != SIZE_MAX && strcmp(h->cards[slot[s]].key, k) != 0)
            s = (s + 1) & (cap - 1);
        first[i] = slot[s] == SIZE_MAX;
        if (first[i])
            slot[s] = i;
    }
    free(slot);
    return 0;
}

int ff_write_header_json(const ff_header *h, ff_sink *out, ff_err *err)
{
    unsigned char *first = malloc(h->ncards ? h->ncards : 1);
    if (!first)
        return ff_err_set(err, "out of memory writing the header JSON");
    if (mark_first(h, first, err) != 0) {
        free(first);
        return -1;
    }
    ff_bufw w;
    if (ff_bufw_init(&w, out, 1 << 16, err) != 0) {
        free(first);
        return -1;
    }
    ff_bufw_puts(&w, "{\n  \"header\": {");
    int any = 0;
    for (size_t i = 0; i < h->ncards; i++) {
        if (!first[i])
            continue;
        const ff_card *c = &h->cards[i];
        ff_bufw_puts(&w, any ? ",\n    " : "\n    ");
        any = 1;
        put_json_string(&w, c->key);
        ff_bufw_puts(&w, ": ");
        if (!is_commentary_key(c->key)) {
            put_value(&w, c);
            continue;
        }
        ff_bufw_puts(&w, "[");
        int n = 0;
        for (size_t j = i; j < h->ncards; j++) {
            if (strcmp(h->cards[j].key, c->key) != 0)
                continue;
            ff_bufw_puts(&w, n++ ? ",\n      " : "\n      ");
            put_json_string(&w, h->cards[j].text);
        }
        ff_bufw_puts(&w, "\n    ]");
    }
    ff_bufw_puts(&w, any ? "\n  },\n  \"comments\": {" : "},\n  \"comments\": {");
    any = 0;
    for (size_t i = 0; i < h->ncards; i++) {
        const ff_card *c = &h->cards[i];
        if (!first[i] || is_commentary_key(c->key) || !c->comment[0])
            continue;
        ff_bufw_puts(&w, any ? ",\n    " : "\n    ");
        any = 1;
        put_json_string(&w, c->key);
        ff_bufw_puts(&w, ": ");
        put_json_string(&w, c->comment);
    }
    ff_bufw_puts(&w, any ? "\n  }\n}\n" : "}\n}\n");
    int rc = ff_bufw_flush(&w, err);
    ff_bufw_free(&w);
    free(first);
    if (rc != 0)
        ff_err_prefix(err, "writing the header JSON");
    return rc;
}
