/* Reading what a header says about its observation: which observatory and instrument took it,
 * what it measures, Helioviewer's source id for that, when it was taken (UTC) and for how long.
 * The instrument table is written once, below; everything else is tolerant matching of the
 * spellings real headers use (TELESCOP 'SDO/AIA', INSTRUME 'AIA_3', OBSRVTRY 'STEREO_A', ...). */
#include "core/fits/obsmeta.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Helioviewer's getDataSources ids (Helioviewer-Project/api, docs appendix "Data Sources").
 * instrument and detector are named as ff_obsmeta names them: for STEREO the SECCHI telescope
 * (EUVI, COR1, COR2) is the instrument. A row whose detector equals its instrument needs no
 * DETECTOR keyword to match; LASCO rows need C2 or C3. */
typedef struct hv_source {
    int id;
    const char *observatory, *instrument, *detector, *measurement;
} hv_source;

static const hv_source hv_sources[] = {
    {0, "SOHO", "EIT", "EIT", "171"},
    {1, "SOHO", "EIT", "EIT", "195"},
    {2, "SOHO", "EIT", "EIT", "284"},
    {3, "SOHO", "EIT", "EIT", "304"},
    {4, "SOHO", "LASCO", "C2", "white-light"},
    {5, "SOHO", "LASCO", "C3", "white-light"},
    {6, "SOHO", "MDI", "MDI", "magnetogram"},
    {7, "SOHO", "MDI", "MDI", "continuum"},
    {8, "SDO", "AIA", "AIA", "94"},
    {9, "SDO", "AIA", "AIA", "131"},
    {10, "SDO", "AIA", "AIA", "171"},
    {11, "SDO", "AIA", "AIA", "193"},
    {12, "SDO", "AIA", "AIA", "211"},
    {13, "SDO", "AIA", "AIA", "304"},
    {14, "SDO", "AIA", "AIA", "335"},
    {15, "SDO", "AIA", "AIA", "1600"},
    {16, "SDO", "AIA", "AIA", "1700"},
    {17, "SDO", "AIA", "AIA", "4500"},
    {18, "SDO", "HMI", "HMI", "continuum"},
    {19, "SDO", "HMI", "HMI", "magnetogram"},
    {20, "STEREO_A", "EUVI", "EUVI", "171"},
    {21, "STEREO_A", "EUVI", "EUVI", "195"},
    {22, "STEREO_A", "EUVI", "EUVI", "284"},
    {23, "STEREO_A", "EUVI", "EUVI", "304"},
    {24, "STEREO_B", "EUVI", "EUVI", "171"},
    {25, "STEREO_B", "EUVI", "EUVI", "195"},
    {26, "STEREO_B", "EUVI", "EUVI", "284"},
    {27, "STEREO_B", "EUVI", "EUVI", "304"},
    {28, "STEREO_A", "COR1", "COR1", "white-light"},
    {29, "STEREO_A", "COR2", "COR2", "white-light"},
    {30, "STEREO_B", "COR1", "COR1", "white-light"},
    {31, "STEREO_B", "COR2", "COR2", "white-light"},
    {32, "PROBA2", "SWAP", "SWAP", "174"},
    {2000, "GOES", "SUVI", "SUVI", "94"},
    {2001, "GOES", "SUVI", "SUVI", "131"},
    {2002, "GOES", "SUVI", "SUVI", "171"},
    {2003, "GOES", "SUVI", "SUVI", "195"},
    {2004, "GOES", "SUVI", "SUVI", "284"},
    {2005, "GOES", "SUVI", "SUVI", "304"},
};

#define WORD_MAX 72 /* a card's value is at most 68 characters unless CONTINUEd; longer is cut */

/* Upper-case copy of s without surrounding blanks, cut to fit. */
static void upper_trim(const char *s, char *out, size_t outsz)
{
    if (!s)
        s = "";
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strnlen(s, outsz - 1);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    out[n] = '\0';
}

/* Copies src into dst, cut to fit (dstsz > 0). */
static void copy_field(char *dst, size_t dstsz, const char *src)
{
    size_t n = strnlen(src ? src : "", dstsz - 1);
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Observatory from a TELESCOP or OBSRVTRY value, in ff_obsmeta's spelling ("SDO", "STEREO_A",
 * "GOES-16"), or "" when it is none we know. A bare "STEREO" gives "STEREO". */
static void canon_observatory(const char *raw, char *out, size_t outsz)
{
    char u[WORD_MAX];
    upper_trim(raw, u, sizeof u);
    char *slash = strchr(u, '/'); /* "SDO/AIA": observatory before the slash */
    if (slash)
        *slash = '\0';
    const char *rest;
    out[0] = '\0';
    if (strcmp(u, "SDO") == 0 || strcmp(u, "SOHO") == 0) {
        copy_field(out, outsz, u);
    } else if (starts_with(u, "STEREO")) {
        rest = u + 6;
        while (*rest == ' ' || *rest == '_' || *rest == '-')
            rest++;
        if (*rest == 'A' && (rest[1] == '\0' || strcmp(rest, "AHEAD") == 0))
            copy_field(out, outsz, "STEREO_A");
        else if (*rest == 'B' && (rest[1] == '\0' || strcmp(rest, "BEHIND") == 0))
            copy_field(out, outsz, "STEREO_B");
        else if (*rest == '\0')
            copy_field(out, outsz, "STEREO");
    } else if (starts_with(u, "PROBA")) {
        rest = u + 5;
        while (*rest == ' ' || *rest == '_' || *rest == '-')
            rest++;
        if (strcmp(rest, "2") == 0)
            copy_field(out, outsz, "PROBA2");
    } else if (starts_with(u, "GOES")) {
        rest = u + 4;
        while (*rest == ' ' || *rest == '_' || *rest == '-')
            rest++;
        int n = 0;
        while (n < 3 && isdigit((unsigned char)rest[n]))
            n++;
        char goes[8] = "GOES";
        if (n > 0 && rest[n] == '\0') {
            goes[4] = '-';
            memcpy(goes + 5, rest, (size_t)n + 1);
        }
        copy_field(out, outsz, goes);
    }
}

/* The instrument named by any of these values, in ff_obsmeta's spelling, or NULL. */
static const char *canon_instrument(const char *telescop, const char *instrume,
                                    const char *detector, const char *content)
{
    static const char *const names[] = {"AIA",  "HMI",  "EIT",  "MDI", "LASCO",
                                        "SWAP", "SUVI", "EUVI", "COR1", "COR2"};
    char tokens[3][WORD_MAX];
    upper_trim(instrume, tokens[0], WORD_MAX);
    upper_trim(detector, tokens[1], WORD_MAX);
    upper_trim(telescop, tokens[2], WORD_MAX);
    const char *slash = strchr(tokens[2], '/'); /* "SDO/AIA": instrument after the slash */
    memmove(tokens[2], slash ? slash + 1 : "", strlen(slash ? slash + 1 : "") + 1);
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (starts_with(tokens[t], names[i]))
                return names[i];
        if (strstr(tokens[t], "SOLAR ULTRAVIOLET IMAGER"))
            return "SUVI";
    }
    char c[WORD_MAX];
    upper_trim(content, c, sizeof c); /* MDI magnetograms carry no INSTRUME at all */
    if (strstr(c, "MDI"))
        return "MDI";
    if (strstr(c, "HMI"))
        return "HMI";
    return NULL;
}

static const char *observatory_of(const char *instrument)
{
    if (!strcmp(instrument, "AIA") || !strcmp(instrument, "HMI"))
        return "SDO";
    if (!strcmp(instrument, "EIT") || !strcmp(instrument, "MDI") || !strcmp(instrument, "LASCO"))
        return "SOHO";
    if (!strcmp(instrument, "SWAP"))
        return "PROBA2";
    if (!strcmp(instrument, "SUVI"))
        return "GOES";
    if (!strcmp(instrument, "EUVI") || !strcmp(instrument, "COR1") || !strcmp(instrument, "COR2"))
        return "STEREO";
    return "";
}

/* What a magnetograph image holds, from CONTENT, else from BUNIT. */
static const char *magnetograph_measurement(const char *content, const char *bunit)
{
    char c[WORD_MAX], b[WORD_MAX];
    upper_trim(content, c, sizeof c);
    upper_trim(bunit, b, sizeof b);
    if (strstr(c, "SYNOPTIC"))
        return "synoptic";
    if (strstr(c, "MAGNETOGRAM"))
        return "magnetogram";
    if (strstr(c, "CONTINUUM"))
        return "continuum";
    if (strstr(c, "DOPPLERGRAM"))
        return "dopplergram";
    if (!strcmp(b, "GAUSS") || !strcmp(b, "G") || starts_with(b, "MX/CM"))
        return "magnetogram";
    if (!strcmp(b, "M/S") || !strcmp(b, "CM/S"))
        return "dopplergram";
    if (!strcmp(b, "DN/S") || strstr(b, "INTENSITY"))
        return "continuum";
    return "";
}

static int measurement_matches(const char *row, const char *m)
{
    char u[WORD_MAX];
    upper_trim(m, u, sizeof u);
    for (char *p = u; *p; p++)
        if (*p == ' ' || *p == '_')
            *p = '-';
    if (strcasecmp(row, u) == 0)
        return 1;
    return strcmp(row, "white-light") == 0 && u[0] == '\0';
}

int ff_obsmeta_source_id(const char *observatory, const char *instrument, const char *detector,
                         const char *measurement)
{
    char obs[WORD_MAX], det[WORD_MAX];
    canon_observatory(observatory, obs, sizeof obs);
    if (starts_with(obs, "GOES")) /* Helioviewer files every GOES satellite under "GOES" */
        obs[4] = '\0';
    const char *inst = canon_instrument(observatory, instrument, detector, "");
    if (!inst || !obs[0])
        return -1;
    upper_trim(detector, det, sizeof det);
    for (size_t i = 0; i < sizeof hv_sources / sizeof hv_sources[0]; i++) {
        const hv_source *s = &hv_sources[i];
        if (strcmp(s->observatory, obs) != 0 || strcmp(s->instrument, inst) != 0)
            continue;
        if (strcmp(s->detector, s->instrument) != 0 && strcmp(s->detector, det) != 0)
            continue;
        if (measurement_matches(s->measurement, measurement))
            return s->id;
    }
    return -1;
}

static void header_string(const ff_header *h, const char *key, char *out, size_t outsz)
{
    if (ff_header_get_string(h, key, out, outsz) != 0)
        out[0] = '\0';
}

static void identify(const ff_header *h, ff_obsmeta *m)
{
    char tel[WORD_MAX], ins[WORD_MAX], det[WORD_MAX], obsv[WORD_MAX], content[WORD_MAX],
        bunit[WORD_MAX];
    header_string(h, "TELESCOP", tel, sizeof tel);
    header_string(h, "INSTRUME", ins, sizeof ins);
    header_string(h, "DETECTOR", det, sizeof det);
    header_string(h, "OBSRVTRY", obsv, sizeof obsv);
    header_string(h, "CONTENT", content, sizeof content);
    header_string(h, "BUNIT", bunit, sizeof bunit);

    const char *inst = canon_instrument(tel, ins, det, content);
    char obs[WORD_MAX], alt[WORD_MAX];
    canon_observatory(tel, obs, sizeof obs);
    canon_observatory(obsv, alt, sizeof alt);
    /* TELESCOP 'STEREO' with OBSRVTRY 'STEREO_A': the more specific one wins. */
    if (!obs[0] || (!strcmp(obs, "STEREO") && alt[0]))
        copy_field(obs, sizeof obs, alt);
    if (!obs[0] && inst)
        copy_field(obs, sizeof obs, observatory_of(inst));

    if (!inst) { /* unknown: keep what the header says, no source id */
        copy_field(m->observatory, sizeof m->observatory, obs[0] ? obs : tel[0] ? tel : obsv);
        copy_field(m->instrument, sizeof m->instrument, ins);
        copy_field(m->detector, sizeof m->detector, det);
        return;
    }
    copy_field(m->observatory, sizeof m->observatory, obs);
    copy_field(m->instrument, sizeof m->instrument, inst);
    if (!strcmp(inst, "LASCO")) {
        char d[WORD_MAX];
        upper_trim(det, d, sizeof d);
        copy_field(m->detector, sizeof m->detector,
                   !strcmp(d, "C1") || !strcmp(d, "C2") || !strcmp(d, "C3") ? d : "");
    } else {
        copy_field(m->detector, sizeof m->detector, inst);
    }

    if (!strcmp(inst, "HMI") || !strcmp(inst, "MDI"))
        copy_field(m->measurement, sizeof m->measurement,
                   magnetograph_measurement(content, bunit));
    else if (!strcmp(inst, "LASCO") || !strcmp(inst, "COR1") || !strcmp(inst, "COR2"))
        copy_field(m->measurement, sizeof m->measurement, "white-light");
    else if (m->wavelength > 0)
        snprintf(m->measurement, sizeof m->measurement, "%d", m->wavelength);
    m->source_id = ff_obsmeta_source_id(m->observatory, m->instrument, m->detector,
                                        m->measurement);
}

static ff_timescale timesys_scale(const ff_header *h)
{
    char u[WORD_MAX], raw[WORD_MAX];
    header_string(h, "TIMESYS", raw, sizeof raw);
    upper_trim(raw, u, sizeof u);
    if (starts_with(u, "TAI"))
        return FF_TS_TAI;
    if (starts_with(u, "TT") || starts_with(u, "TDT"))
        return FF_TS_TT;
    return FF_TS_UTC; /* UTC, 'UTC (TBR)', absent, or a scale we do not convert */
}

/* A string-valued card's text, NULL when absent or blank; *bad = 1 when present but not a
 * string. */
static const char *time_text(const ff_header *h, const char *key, int *bad)
{
    const ff_card *c = ff_header_find(h, key);
    *bad = 0;
    if (!c)
        return NULL;
    if (c->kind != FF_CARD_STRING) {
        *bad = c->kind != FF_CARD_UNDEFINED;
        return NULL;
    }
    for (const char *p = c->text; *p; p++)
        if (!isspace((unsigned char)*p))
            return c->text;
    return NULL;
}

/* Observation time in its own scale: T_OBS, else DATE-OBS (with TIME-OBS when DATE-OBS holds a
 * date only), else DATE_OBS. The first key that parses wins; when none does, the reason is
 * the most preferred key's. */
static int observation_time(const ff_header *h, ff_time *t, ff_err *reason)
{
    static const char *const keys[] = {"T_OBS", "DATE-OBS", "DATE_OBS"};
    ff_timescale def = timesys_scale(h);
    int bad, tried = 0;
    ff_err e;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = time_text(h, keys[i], &bad);
        if (!v && !bad)
            continue;
        if (!v) {
            if (!tried++)
                ff_err_set(reason, "%s is not a string, so it cannot be read as a time", keys[i]);
            continue;
        }
        int rc, bad_t;
        const char *tobs = i > 0 ? time_text(h, "TIME-OBS", &bad_t) : NULL;
        if (tobs && !strchr(v, ':')) {
            rc = ff_time_parse_date_time(v, tobs, def, t, &e);
            if (rc != 0)
                ff_err_prefix(&e, "%s + TIME-OBS", keys[i]);
        } else {
            rc = ff_time_parse(v, def, t, &e);
            if (rc != 0)
                ff_err_prefix(&e, "%s", keys[i]);
        }
        if (rc == 0)
            return 0;
        if (!tried++)
            *reason = e;
    }
    if (!tried)
        ff_err_set(reason, "the header has no observation time (none of T_OBS, DATE-OBS, "
                           "DATE_OBS)");
    return -1;
}

void ff_obsmeta_from_header(const ff_header *h, ff_obsmeta *meta)
{
    memset(meta, 0, sizeof *meta);
    meta->source_id = -1;
    meta->exptime = NAN;
    double v;
    if (ff_header_get_double(h, "EXPTIME", &v) == 0)
        meta->exptime = v;
    if (ff_header_get_double(h, "WAVELNTH", &v) == 0 && isfinite(v) && fabs(v) < 2e9)
        meta->wavelength = (int)lround(v);
    identify(h, meta);

    ff_time t;
    ff_err e;
    if (observation_time(h, &t, &e) != 0 || ff_time_to_utc(&t, &meta->time, &e) != 0) {
        copy_field(meta->time_reason, sizeof meta->time_reason, e.msg);
        return;
    }
    meta->has_time = 1;
    ff_time_format_iso(&meta->time, meta->time_iso, sizeof meta->time_iso);
}
