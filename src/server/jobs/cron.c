/* 5-field cron expressions in UTC: parsing into bit sets and finding the next fire time. */
#include "server/jobs/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct field_spec {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value min + i, or NULL */
    int question_ok;          /* "?" accepted (day fields) */
} field_spec;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static const field_spec specs[5] = {
    {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},
    {"day of month", 1, 31, NULL, 1},
    {"month", 1, 12, month_names, 0},
    {"day of week", 0, 7, wday_names, 1},
};

/* One value: a number or (where the field has them) a three-letter name. */
static int parse_value(const field_spec *f, const char *s, size_t n, int *out, ff_err *err)
{
    if (n == 0)
        return ff_err_set(err, "%s: a value is missing", f->name);
    if (isdigit((unsigned char)s[0])) {
        long v = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)s[i]))
                return ff_err_set(err, "%s: '%.*s' is not a number", f->name, (int)n, s);
            v = v * 10 + (s[i] - '0');
            if (v > 1000)
                break;
        }
        if (v < f->min || v > f->max)
            return ff_err_set(err, "%s: %.*s is outside %d-%d", f->name, (int)n, s, f->min, f->max);
        *out = (int)v;
        return 0;
    }
    if (f->names && n == 3) {
        for (int i = 0; i <= f->max - f->min; i++)
            if (strncasecmp(s, f->names[i], 3) == 0) {
                *out = f->min + i;
                return 0;
            }
    }
    return ff_err_set(err, "%s: '%.*s' is not a valid value", f->name, (int)n, s);
}

/* One comma-separated element: "*", "?", "a", "a-b", each optionally "/step". */
static int parse_element(const field_spec *f, const char *s, size_t n, uint64_t *bits, int *star,
                         ff_err *err)
{
    const char *slash = memchr(s, '/', n);
    size_t base_len = slash ? (size_t)(slash - s) : n;
    int lo, hi, step = 1;
    if (slash) {
        const char *st = slash + 1;
        size_t sn = n - base_len - 1;
        if (sn == 0 || sn > 3)
            return ff_err_set(err, "%s: step in '%.*s' must be a number from 1 to %d", f->name,
                              (int)n, s, f->max);
        int v = 0;
        for (size_t i = 0; i < sn; i++) {
            if (!isdigit((unsigned char)st[i]))
                return ff_err_set(err, "%s: step in '%.*s' must be a number from 1 to %d",
                                  f->name, (int)n, s, f->max);
            v = v * 10 + (st[i] - '0');
        }
        if (v < 1 || v > f->max)
            return ff_err_set(err, "%s: step in '%.*s' must be a number from 1 to %d", f->name,
                              (int)n, s, f->max);
        step = v;
    }
    if (base_len == 1 && (s[0] == '*' || (s[0] == '?' && f->question_ok))) {
        lo = f->min;
        hi = f->max;
        *star = 1;
        if (f->max == 7) /* weekday: 7 is Sunday again; "*" means 0-6 */
            hi = 6;
    } else if (base_len == 1 && s[0] == '?') {
        return ff_err_set(err, "%s: '?' is only allowed in the day fields", f->name);
    } else {
        const char *dash = memchr(s, '-', base_len);
        if (dash) {
            if (parse_value(f, s, (size_t)(dash - s), &lo, err) != 0 ||
                parse_value(f, dash + 1, base_len - (size_t)(dash - s) - 1, &hi, err) != 0)
                return -1;
            if (lo > hi)
                return ff_err_set(err, "%s: range '%.*s' runs backwards", f->name, (int)base_len, s);
        } else {
            if (parse_value(f, s, base_len, &lo, err) != 0)
                return -1;
            hi = slash ? f->max : lo; /* "a/n": from a to the end */
        }
    }
    for (int v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << (f->max == 7 && v == 7 ? 0 : v);
    return 0;
}

static int parse_field(const field_spec *f, const char *s, size_t n, uint64_t *bits, int *star,
                       ff_err *err)
{
    *bits = 0;
    *star = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        if (j == i)
            return ff_err_set(err, "%s: empty element in '%.*s'", f->name, (int)n, s);
        if (parse_element(f, s + i, j - i, bits, star, err) != 0)
            return -1;
        i = j + 1;
    }
    return 0;
}

int ff_cron_parse(const char *expr, ff_cron *out, ff_err *err)
{
    static const struct { const char *name, *expr; } macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    if (!expr)
        return ff_err_set(err, "no cron expression given");
    while (isspace((unsigned char)*expr))
        expr++;
    if (*expr == '@') {
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
            size_t n = strlen(macros[i].name);
            if (strncasecmp(expr, macros[i].name, n) == 0) {
                const char *rest = expr + n;
                while (isspace((unsigned char)*rest))
                    rest++;
                if (!*rest)
                    return ff_cron_parse(macros[i].expr, out, err);
            }
        }
        return ff_err_set(err, "unknown cron shorthand '%.32s' (use @hourly, @daily, @weekly, "
                               "@monthly or @yearly)", expr);
    }
    const char *start[6];
    size_t len[6];
    int nf = 0;
    const char *p = expr;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *b = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (nf < 6) {
            start[nf] = b;
            len[nf] = (size_t)(p - b);
        }
        nf++;
    }
    if (nf != 5)
        return ff_err_set(err, "cron expression '%.64s' has %d fields; it needs 5: minute hour "
                               "day-of-month month day-of-week (UTC)", expr, nf);
    ff_cron c;
    memset(&c, 0, sizeof c);
    uint64_t bits[5];
    int star[5];
    for (int i = 0; i < 5; i++)
        if (parse_field(&specs[i], start[i], len[i], &bits[i], &star[i], err) != 0)
            return ff_err_prefix(err, "cron expression '%.64s'", expr);
    c.minutes = bits[0];
    c.hours = (uint32_t)bits[1];
    c.mdays = (uint32_t)bits[2];
    c.months = (uint16_t)bits[3];
    c.wdays = (uint8_t)bits[4];
    c.mday_any = star[2];
    c.wday_any = star[4];
    *out = c;
    return 0;
}

static int day_matches(const ff_cron *c, const struct tm *tm)
{
    int md = (c->mdays >> tm->tm_mday) & 1;
    int wd = (c->wdays >> tm->tm_wday) & 1;
    /* Vixie cron: if either day field starts with '*', both must match; else either may. */
    if (c->mday_any || c->wday_any)
        return md && wd;
    return md || wd;
}

int ff_cron_next(const ff_cron *c, time_t after, time_t *next)
{
    if (!c->minutes || !c->hours || !c->mdays || !c->months || !c->wdays)
        return -1;
    time_t t = after - (((after % 60) + 60) % 60) + 60; /* next whole minute */
    const time_t limit = after + (time_t)8 * 366 * 86400;
    struct tm tm;
    while (t <= limit) {
        if (!gmtime_r(&t, &tm))
            return -1;
        if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!((c->hours >> tm.tm_hour) & 1)) {
            tm.tm_hour++;
            tm.tm_min = tm.tm_sec = 0;
        } else if (!((c->minutes >> tm.tm_min) & 1)) {
            tm.tm_min++;
            tm.tm_sec = 0;
        } else {
            *next = t;
            return 0;
        }
        t = timegm(&tm); /* normalises the overflowed field */
        if (t == (time_t)-1)
            return -1;
    }
    return -1;
}
