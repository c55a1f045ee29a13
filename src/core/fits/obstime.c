/* Observation times as FITS headers write them, parsed into calendar fields and converted from
 * TAI/TT to UTC with ERFA (Debian's liberfa, the library astropy.time uses, with its leap-second
 * table). Calendar arithmetic is proleptic Gregorian on seconds since 1970 counted without leap
 * seconds, so a leap second is carried as second == 60. */
#include "core/fits/obstime.h"

#include <ctype.h>
#include <erfa.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TIME_MAX_CHARS 80 /* longer values are refused before any parsing */
#define YEAR_MIN 1
#define YEAR_MAX 9999

static int is_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return len[m - 1] + (m == 2 && is_leap_year(y));
}

/* Days from 0001-01-01 to January 1st of year y (y >= 1). */
static int64_t days_before_year(int64_t y)
{
    y -= 1;
    return 365 * y + y / 4 - y / 100 + y / 400;
}

/* Days since 1970-01-01 of a valid calendar date. */
static int64_t days_since_epoch(int y, int m, int d)
{
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t n = days_before_year(y) - days_before_year(1970);
    if (m >= 1 && m <= 12)
        n += before[m - 1] + (m > 2 && is_leap_year(y));
    return n + d - 1;
}

static void civil_from_days(int64_t days, int *y, int *m, int *d)
{
    int64_t total = days + days_before_year(1970); /* days since 0001-01-01 */
    int64_t year = total * 400 / 146097 + 1;       /* 146097 days per 400 years; close guess */
    while (year > 1 && days_before_year(year) > total)
        year--;
    while (days_before_year(year + 1) <= total)
        year++;
    int doy = (int)(total - days_before_year(year));
    int month = 1;
    while (month < 12 && doy >= days_in_month((int)year, month)) {
        doy -= days_in_month((int)year, month);
        month++;
    }
    *y = (int)year;
    *m = month;
    *d = doy + 1;
}

/* 1 when the UTC day y-m-d ends in a leap second (23:59:60): ERFA's TAI - UTC steps up by a
 * second at the next midnight. The drift of the 1960s' UTC (a rate, not a step) is taken out as
 * eraDtf2d does, and its steps of a fraction of a second do not count. */
static int ends_in_leap_second(int y, int m, int d)
{
    if (d != days_in_month(y, m))
        return 0;
    int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
    double dat0, dat12, dat24;
    if (eraDat(y, m, d, 0.0, &dat0) < 0 || eraDat(y, m, d, 0.5, &dat12) < 0 ||
        eraDat(ny, nm, 1, 0.0, &dat24) < 0)
        return 0;
    return dat24 - (2.0 * dat12 - dat0) > 0.5;
}

int64_t ff_time_unix(const ff_time *t)
{
    int m = t->month >= 1 && t->month <= 12 ? t->month : 1;
    int y = t->year >= YEAR_MIN && t->year <= YEAR_MAX ? t->year : 1970;
    return days_since_epoch(y, m, t->day) * 86400 + (int64_t)t->hour * 3600 +
           (int64_t)t->minute * 60 + t->second;
}

/* Fills the calendar fields of t from seconds since 1970 (second is 0..59). */
static void fields_from_unix(int64_t s, ff_time *t)
{
    int64_t days = s / 86400, rem = s % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &t->year, &t->month, &t->day);
    t->hour = (int)(rem / 3600);
    t->minute = (int)(rem / 60 % 60);
    t->second = (int)(rem % 60);
}

/* Why a set of fields is not a valid time in its scale, or NULL when it is. */
static const char *check_fields(const ff_time *t, char *why, size_t whysz)
{
    if (t->year < YEAR_MIN || t->year > YEAR_MAX)
        snprintf(why, whysz, "year %d out of range (%d..%d)", t->year, YEAR_MIN, YEAR_MAX);
    else if (t->month < 1 || t->month > 12)
        snprintf(why, whysz, "month %d out of range", t->month);
    else if (t->day < 1 || t->day > days_in_month(t->year, t->month))
        snprintf(why, whysz, "day %d out of range: %04d-%02d has %d days", t->day, t->year,
                 t->month, days_in_month(t->year, t->month));
    else if (t->hour < 0 || t->hour > 23)
        snprintf(why, whysz, "hour %d out of range", t->hour);
    else if (t->minute < 0 || t->minute > 59)
        snprintf(why, whysz, "minute %d out of range", t->minute);
    else if (t->second < 0 || t->second > 60)
        snprintf(why, whysz, "second %d out of range", t->second);
    else if (t->second == 60 && t->scale != FF_TS_UTC)
        snprintf(why, whysz, "second 60 exists only in UTC (a leap second)");
    else if (t->second == 60 && !(t->hour == 23 && t->minute == 59 &&
                                   ends_in_leap_second(t->year, t->month, t->day)))
        snprintf(why, whysz, "second 60 is only valid at 23:59:60 UTC on a leap-second day");
    else if (t->nanos < 0 || t->nanos > 999999999)
        snprintf(why, whysz, "fraction of a second out of range");
    else
        return NULL;
    return why;
}

/* Reads a run of decimal digits. Fails when there are none or more than maxd; *ndig gets the
 * count. Only maxd digits are ever accumulated, so the value cannot overflow. */
static int read_num(const char **p, int maxd, int *val, int *ndig)
{
    const char *s = *p;
    int n = 0, v = 0;
    while (isdigit((unsigned char)s[n])) {
        if (n < maxd)
            v = v * 10 + (s[n] - '0');
        n++;
    }
    *ndig = n;
    if (n == 0 || n > maxd)
        return -1;
    *val = v;
    *p = s + n;
    return 0;
}

static int month_from_name(const char *s)
{
    static const char names[12][4] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                      "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
    for (int i = 0; i < 12; i++)
        if (strncasecmp(s, names[i], 3) == 0)
            return i + 1;
    return 0;
}

/* Strips a time-scale marker from the end of b (length *len); sets *scale when there is one. */
static void strip_scale(char *b, size_t *len, ff_timescale *scale)
{
    static const struct {
        const char *name;
        ff_timescale scale;
    } markers[] = {{"TAI", FF_TS_TAI}, {"UTC", FF_TS_UTC}, {"TDT", FF_TS_TT},
                   {"TT", FF_TS_TT},   {"UT", FF_TS_UTC}};
    size_t n = *len;
    if (n > 0 && (b[n - 1] == 'Z' || b[n - 1] == 'z')) {
        b[--n] = '\0';
        *scale = FF_TS_UTC;
        *len = n;
        return;
    }
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        size_t k = strlen(markers[i].name);
        if (n <= k || strcasecmp(b + n - k, markers[i].name) != 0)
            continue;
        char before = b[n - k - 1];
        if (before != '_' && before != ' ' && !isdigit((unsigned char)before))
            continue;
        n -= k;
        while (n > 0 && (b[n - 1] == '_' || b[n - 1] == ' '))
            n--;
        b[n] = '\0';
        *scale = markers[i].scale;
        *len = n;
        return;
    }
}

/* Parses the date part: YYYY-MM-DD, YYYY.MM.DD (JSOC), YYYY/MM/DD, DD/MM/YY (FITS before 2000:
 * 19YY), DD/MM/YYYY or DD-MON-YY(YY). Range checks come later. */
static int parse_date(const char **pp, ff_time *t, char *why, size_t whysz)
{
    const char *p = *pp;
    int a, na, b, nb, c, nc;
    if (read_num(&p, 4, &a, &na) != 0 && na > 4) {
        snprintf(why, whysz, "the date does not start with a year of at most 4 digits");
        return -1;
    }
    if (na == 4) {
        char sep = *p;
        if (sep != '-' && sep != '.' && sep != '/') {
            snprintf(why, whysz, "expected '-' after the year");
            return -1;
        }
        p++;
        if (read_num(&p, 2, &b, &nb) != 0 || *p != sep) {
            snprintf(why, whysz, "expected a month of 1 or 2 digits followed by '%c'", sep);
            return -1;
        }
        p++;
        if (read_num(&p, 2, &c, &nc) != 0) {
            snprintf(why, whysz, "expected a day of 1 or 2 digits");
            return -1;
        }
        t->year = a, t->month = b, t->day = c;
    } else if (na == 1 || na == 2) {
        if (p[0] == '/') {
            p++;
            if (read_num(&p, 2, &b, &nb) != 0 || *p != '/') {
                snprintf(why, whysz, "expected DD/MM/YY");
                return -1;
            }
            p++;
            if (read_num(&p, 4, &c, &nc) != 0 || (nc != 2 && nc != 4)) {
                snprintf(why, whysz, "expected a 2- or 4-digit year after DD/MM/");
                return -1;
            }
            t->year = nc == 2 ? 1900 + c : c, t->month = b, t->day = a;
        } else if (p[0] == '-' && isalpha((unsigned char)p[1])) {
            int m = month_from_name(p + 1);
            if (!m || p[4] != '-') {
                snprintf(why, whysz, "expected DD-MON-YY with an English month abbreviation");
                return -1;
            }
            p += 5;
            if (read_num(&p, 4, &c, &nc) != 0 || (nc != 2 && nc != 4)) {
                snprintf(why, whysz, "expected a 2- or 4-digit year after DD-MON-");
                return -1;
            }
            /* This form is not in the FITS standard; SOHO used it in the 1990s. */
            t->year = nc == 4 ? c : (c >= 50 ? 1900 + c : 2000 + c), t->month = m, t->day = a;
        } else {
            snprintf(why, whysz, "expected a date such as 2011-06-07 or 07/06/11");
            return -1;
        }
    } else {
        snprintf(why, whysz, "expected a date such as 2011-06-07");
        return -1;
    }
    *pp = p;
    return 0;
}

/* Parses the time part HH:MM[:SS[.fff...]] up to the end of the string. */
static int parse_clock(const char *p, ff_time *t, char *why, size_t whysz)
{
    int h, m, s = 0, n;
    if (read_num(&p, 2, &h, &n) != 0 || *p != ':') {
        snprintf(why, whysz, "expected a time HH:MM:SS after the date");
        return -1;
    }
    p++;
    if (read_num(&p, 2, &m, &n) != 0 || n != 2) {
        snprintf(why, whysz, "expected minutes of 2 digits");
        return -1;
    }
    int64_t nanos = 0;
    if (*p == ':') {
        p++;
        if (read_num(&p, 2, &s, &n) != 0 || n != 2) {
            snprintf(why, whysz, "expected seconds of 2 digits");
            return -1;
        }
        if (*p == '.') {
            p++;
            int digits = 0;
            while (isdigit((unsigned char)*p)) {
                if (digits < 9) /* further digits are below a nanosecond: dropped */
                    nanos = nanos * 10 + (*p - '0');
                digits++;
                p++;
            }
            for (int i = digits; i < 9; i++)
                nanos *= 10;
        }
    }
    if (*p != '\0') {
        char q[17];
        size_t i;
        for (i = 0; i < 16 && p[i]; i++)
            q[i] = isprint((unsigned char)p[i]) ? p[i] : '?';
        q[i] = '\0';
        snprintf(why, whysz, "unexpected text '%s' after the time", q);
        return -1;
    }
    t->hour = h, t->minute = m, t->second = s, t->nanos = nanos;
    return 0;
}

/* Copies s into b without surrounding blanks; -1 when s is longer than limit (b holds limit + 1). */
static int trimmed_copy(const char *s, size_t limit, char *b, size_t *len)
{
    size_t n = strnlen(s, limit + 1);
    if (n > limit)
        return -1;
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    memcpy(b, s, n);
    b[n] = '\0';
    *len = n;
    return 0;
}

/* Parses s (at most limit <= 2 * TIME_MAX_CHARS + 1 characters). */
static int parse_core(const char *s, size_t limit, ff_timescale default_scale, ff_time *out,
                      char *why, size_t whysz)
{
    char b[2 * TIME_MAX_CHARS + 2];
    size_t len;
    if (limit > sizeof b - 1)
        limit = sizeof b - 1;
    if (trimmed_copy(s, limit, b, &len) != 0) {
        snprintf(why, whysz, "longer than %zu characters", limit);
        return -1;
    }
    if (len == 0) {
        snprintf(why, whysz, "the value is empty");
        return -1;
    }
    ff_time t = {.scale = default_scale};
    strip_scale(b, &len, &t.scale);
    if (len == 0) {
        snprintf(why, whysz, "there is no date before the time-scale marker");
        return -1;
    }
    const char *p = b;
    if (parse_date(&p, &t, why, whysz) != 0)
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ' || *p == '_') {
        if (parse_clock(p + 1, &t, why, whysz) != 0)
            return -1;
    } else if (*p != '\0') {
        snprintf(why, whysz, "unexpected character '%c' after the date",
                 isprint((unsigned char)*p) ? *p : '?');
        return -1;
    }
    if (check_fields(&t, why, whysz))
        return -1;
    *out = t;
    return 0;
}

/* The value as it may be quoted in a message: printable, at most 40 characters. */
static void quotable(const char *s, char *q, size_t qsz)
{
    size_t n = strnlen(s, 41), i;
    for (i = 0; i < n && i < 40 && i + 4 < qsz; i++)
        q[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
    if (n > 40 && i + 4 <= qsz)
        memcpy(q + i, "...", 3), i += 3;
    q[i] = '\0';
}

int ff_time_parse(const char *s, ff_timescale default_scale, ff_time *out, ff_err *err)
{
    char why[160], q[48];
    if (!s)
        s = "";
    if (parse_core(s, TIME_MAX_CHARS, default_scale, out, why, sizeof why) == 0)
        return 0;
    quotable(s, q, sizeof q);
    return ff_err_set(err, "cannot parse observation time '%s': %s", q, why);
}

int ff_time_parse_date_time(const char *date, const char *time, ff_timescale default_scale,
                            ff_time *out, ff_err *err)
{
    char d[TIME_MAX_CHARS + 1], t[TIME_MAX_CHARS + 1], why[160], qd[48], qt[48];
    size_t dn, tn;
    if (!date)
        date = "";
    if (!time)
        time = "";
    quotable(date, qd, sizeof qd);
    quotable(time, qt, sizeof qt);
    if (trimmed_copy(date, TIME_MAX_CHARS, d, &dn) != 0 ||
        trimmed_copy(time, TIME_MAX_CHARS, t, &tn) != 0)
        return ff_err_set(err, "cannot parse observation time '%s' '%s': longer than %d characters",
                          qd, qt, TIME_MAX_CHARS);
    if (strchr(d, ':'))
        return ff_err_set(err, "cannot parse observation time '%s' '%s': the date already "
                               "carries a time", qd, qt);
    if (dn == 0)
        return ff_err_set(err, "cannot parse observation time '%s' '%s': the date is empty", qd,
                          qt);
    char joined[2 * TIME_MAX_CHARS + 2];
    if (tn)
        snprintf(joined, sizeof joined, "%sT%s", d, t);
    else
        snprintf(joined, sizeof joined, "%s", d);
    if (parse_core(joined, sizeof joined - 1, default_scale, out, why, sizeof why) != 0)
        return ff_err_set(err, "cannot parse observation time '%s' '%s': %s", qd, qt, why);
    return 0;
}

int ff_time_to_utc(const ff_time *in, ff_time *out, ff_err *err)
{
    char why[160];
    if (check_fields(in, why, sizeof why))
        return ff_err_set(err, "cannot convert time to UTC: %s", why);
    if (in->scale == FF_TS_UTC) {
        *out = *in;
        return 0;
    }
    /* Two-part Julian dates (day, fraction) keep a nanosecond exact through ERFA: the fraction's
     * rounding error is about 1e-11 s. Status 1 ("dubious year": before UTC began in 1960, or
     * years past the table) still gives ERFA's answer, as astropy does; only -1 is an error. */
    double d1, d2, t1, t2, u1, u2;
    double sec = in->second + (double)in->nanos / 1e9;
    int y, m, d, hmsf[4];
    if (eraDtf2d(in->scale == FF_TS_TT ? "TT" : "TAI", in->year, in->month, in->day, in->hour,
                 in->minute, sec, &d1, &d2) < 0)
        return ff_err_set(err, "cannot convert time to UTC: ERFA refused the date");
    if (in->scale == FF_TS_TT)
        eraTttai(d1, d2, &t1, &t2);
    else
        t1 = d1, t2 = d2;
    if (eraTaiutc(t1, t2, &u1, &u2) < 0 || eraD2dtf("UTC", 9, u1, u2, &y, &m, &d, hmsf) < 0)
        return ff_err_set(err, "cannot convert time to UTC: the result is outside years %d..%d",
                          YEAR_MIN, YEAR_MAX);
    ff_time r = {y, m, d, hmsf[0], hmsf[1], hmsf[2], hmsf[3], FF_TS_UTC};
    if (check_fields(&r, why, sizeof why))
        return ff_err_set(err, "cannot convert time to UTC: the result is outside years %d..%d",
                          YEAR_MIN, YEAR_MAX);
    *out = r;
    return 0;
}

/* Adds one second to a calendar label, stepping into 23:59:60 on UTC leap-second days. */
static void add_one_second(ff_time *t)
{
    if (t->scale == FF_TS_UTC && t->second == 59 && t->minute == 59 && t->hour == 23 &&
        ends_in_leap_second(t->year, t->month, t->day)) {
        t->second = 60;
        return;
    }
    int sec = t->second > 59 ? 59 : t->second;
    int64_t u = ff_time_unix(t) - t->second + sec + 1;
    fields_from_unix(u, t);
}

void ff_time_format_iso(const ff_time *t, char *buf, unsigned bufsize)
{
    if (!buf || bufsize == 0)
        return;
    ff_time v = *t;
    int64_t ns = v.nanos < 0 ? 0 : v.nanos > 999999999 ? 999999999 : v.nanos;
    int64_t ms = (ns + 500000) / 1000000; /* rounded to the nearest millisecond, as astropy */
    if (ms >= 1000) {
        ms -= 1000;
        if (v.year >= YEAR_MIN && v.year <= YEAR_MAX && v.month >= 1 && v.month <= 12)
            add_one_second(&v);
    }
    snprintf(buf, bufsize, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", v.year, v.month, v.day, v.hour,
             v.minute, v.second, (int)ms);
}
