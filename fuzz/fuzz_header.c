/* Harness 2: header cards and what is read from them. The input is taken as 80-character card
 * images (the last one blank-padded) -> ff_header_parse -> lookups, obsmeta (instrument, time),
 * header text and JSON; each card's value and the input's first line also go through
 * ff_time_parse / ff_time_parse_date_time / ff_time_to_utc / ff_time_format_iso directly. */
#include "core/fits/header.h"
#include "core/fits/obsmeta.h"
#include "core/fits/obstime.h"
#include "core/out/sink.h"
#include "core/out/writers.h"
#include "fuzz_util.h"

static void check_time(const ff_time *t)
{
    if (t->month < 1 || t->month > 12 || t->day < 1 || t->day > 31 || t->hour < 0 ||
        t->hour > 23 || t->minute < 0 || t->minute > 59 || t->second < 0 || t->second > 60 ||
        t->nanos < 0 || t->nanos > 999999999)
        abort(); /* a parse that succeeds must give valid fields */
    ff_time u;
    ff_err err;
    char iso[40];
    if (ff_time_to_utc(t, &u, &err) == 0) {
        ff_time_format_iso(&u, iso, sizeof iso);
        if (strlen(iso) >= 32)
            abort();
    }
    ff_time_format_iso(t, iso, sizeof iso);
    (void)ff_time_unix(t);
}

static void parse_time(const char *s, size_t n)
{
    char buf[128];
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    ff_time t;
    ff_err err;
    for (int scale = FF_TS_UTC; scale <= FF_TS_TT; scale++) {
        if (ff_time_parse(buf, (ff_timescale)scale, &t, &err) == 0)
            check_time(&t);
        else if (!err.msg[0])
            abort();
    }
    /* split at the first blank into date and time, as DATE-OBS + TIME-OBS */
    char *sp = strchr(buf, ' ');
    if (sp) {
        *sp = '\0';
        if (ff_time_parse_date_time(buf, sp + 1, FF_TS_UTC, &t, &err) == 0)
            check_time(&t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 80 * 4000)
        return 0;
    size_t ncards = (size + 79) / 80;
    char *cards = malloc(ncards * 80 + 1);
    if (!cards)
        return 0;
    memset(cards, ' ', ncards * 80);
    if (size)
        memcpy(cards, data, size);
    cards[ncards * 80] = '\0';

    const char *nl = memchr(data, '\n', size);
    parse_time((const char *)data, nl ? (size_t)(nl - (const char *)data) : size);

    ff_header h;
    ff_err err = {0};
    if (ff_header_parse(cards, ncards, &h, &err) != 0) {
        free(cards);
        return 0;
    }
    for (size_t i = 0; i < h.ncards; i++) {
        const ff_card *c = &h.cards[i];
        if (!c->text || !c->comment)
            abort();
        (void)strlen(c->text);
        (void)strlen(c->comment);
        if (strlen(c->key) >= sizeof c->key)
            abort();
        if (c->kind == FF_CARD_STRING && i < 64)
            parse_time(c->text, strlen(c->text));
        double d;
        int64_t v;
        char s[72];
        ff_header_get_double(&h, c->key, &d);
        ff_header_get_int(&h, c->key, &v);
        ff_header_get_string(&h, c->key, s, sizeof s);
        ff_header_get_string(&h, c->key, s, 1);
    }
    ff_obsmeta meta;
    ff_obsmeta_from_header(&h, &meta);
    if (meta.has_time)
        check_time(&meta.time);
    if (memchr(meta.time_iso, '\0', sizeof meta.time_iso) == NULL ||
        memchr(meta.time_reason, '\0', sizeof meta.time_reason) == NULL)
        abort();

    ff_membuf txt = {.max = (size_t)64 << 20}, json = {.max = (size_t)64 << 20};
    ff_sink st = ff_membuf_sink(&txt), sj = ff_membuf_sink(&json);
    ff_write_header_txt(&h, &st, &err);
    ff_write_header_json(&h, &sj, &err);
    ff_membuf_free(&txt);
    ff_membuf_free(&json);
    ff_header_free(&h);
    free(cards);
    return 0;
}
