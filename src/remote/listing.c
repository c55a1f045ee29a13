/* Reading JSOC's directory index pages. They are Apache-style HTML listings, but nothing here
 * depends on one markup: every href value is scanned, reduced to a file name and kept only when
 * it parses as an image name of the wanted kind. Everything is bounded. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "remote/remote.h"
#include "base/hex.h"

int ff_html_next_href(const char **p, const char *end, char *out, size_t outsize)
{
    const char *s = *p;
    while (s && s + 4 <= end) {
        const char *hit = NULL;
        for (const char *q = s; q + 4 <= end; q++) {
            if ((q[0] | 0x20) == 'h' && (q[1] | 0x20) == 'r' && (q[2] | 0x20) == 'e' &&
                (q[3] | 0x20) == 'f') {
                hit = q;
                break;
            }
        }
        if (!hit)
            break;
        s = hit + 4;
        /* An attribute name starts after whitespace (or a quote ending the previous value). */
        if (hit > *p && !isspace((unsigned char)hit[-1]) && hit[-1] != '"' && hit[-1] != '\'')
            continue;
        const char *q = s;
        while (q < end && isspace((unsigned char)*q))
            q++;
        if (q >= end || *q != '=')
            continue;
        q++;
        while (q < end && isspace((unsigned char)*q))
            q++;
        if (q >= end)
            break;
        const char *v, *ve;
        if (*q == '"' || *q == '\'') {
            char quote = *q++;
            v = q;
            ve = memchr(q, quote, (size_t)(end - q));
            if (!ve)
                break;
            s = ve + 1;
        } else {
            v = q;
            ve = q;
            while (ve < end && !isspace((unsigned char)*ve) && *ve != '>')
                ve++;
            s = ve;
        }
        size_t n = (size_t)(ve - v);
        if (n == 0 || n >= outsize || memchr(v, '\0', n))
            continue; /* a NUL would cut the value short: a shorter name than the page gives */
        memcpy(out, v, n);
        out[n] = '\0';
        *p = s;
        return 1;
    }
    *p = end;
    return 0;
}

/* href -> last path segment, decoded; 0 when it is a plausible file name. */
static int href_to_name(const char *href, char *name, size_t size)
{
    size_t n = strcspn(href, "?#");
    if (n > 0 && href[n - 1] == '/')
        return -1; /* a directory */
    const char *seg = href;
    for (size_t i = 0; i < n; i++)
        if (href[i] == '/')
            seg = href + i + 1;
    size_t out = 0;
    for (const char *c = seg; c < href + n; c++) {
        int ch = (unsigned char)*c;
        if (ch == '%' && c + 2 < href + n && ff_hex_digit(c[1]) >= 0 && ff_hex_digit(c[2]) >= 0) {
            ch = ff_hex_digit(c[1]) * 16 + ff_hex_digit(c[2]);
            c += 2;
        }
        if (ch < 0x21 || ch == 0x7f || ch == '/' || ch == '\\')
            return -1;
        if (out + 1 >= size)
            return -1;
        name[out++] = (char)ch;
    }
    name[out] = '\0';
    return out ? 0 : -1;
}

static int digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

static int to_unix(int y, int mo, int d, int h, int mi, int s, double frac, double *t)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || s > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = s};
    time_t tt = timegm(&tm);
    if (tt == (time_t)-1)
        return -1;
    *t = (double)tt + frac;
    return 0;
}

int ff_jsoc_parse_name(const char *name, ff_jsoc_kind kind, int wavelength, double *t)
{
    size_t len = strnlen(name, FF_JSOC_NAME_MAX);
    int y, mo, d, h, mi, s;
    if (kind == FF_JSOC_AIA) {
        /* YYYY_MM_DD__HH_MM_SS_F+__SDO_AIA_AIA_{wl}.jp2 */
        if (len < 24 || digits(name, 4, &y) || name[4] != '_' || digits(name + 5, 2, &mo) ||
            name[7] != '_' || digits(name + 8, 2, &d) || strncmp(name + 10, "__", 2) ||
            digits(name + 12, 2, &h) || name[14] != '_' || digits(name + 15, 2, &mi) ||
            name[17] != '_' || digits(name + 18, 2, &s) || name[20] != '_')
            return -1;
        const char *f = name + 21;
        size_t nf = 0;
        double frac = 0, scale = 0.1;
        while (nf < 9 && f[nf] >= '0' && f[nf] <= '9') {
            frac += (f[nf] - '0') * scale;
            scale /= 10;
            nf++;
        }
        if (nf == 0)
            return -1;
        char tail[64];
        snprintf(tail, sizeof tail, "__SDO_AIA_AIA_%d.jp2", wavelength);
        if (strcasecmp(f + nf, tail) != 0)
            return -1;
        return to_unix(y, mo, d, h, mi, s, frac, t);
    }
    /* YYYYMMDD_HHMMSS_{Ic|M}_4k.jpg */
    const char *tail = kind == FF_JSOC_HMI_IC ? "_Ic_4k.jpg" : "_M_4k.jpg";
    if (len != 15 + strlen(tail) || digits(name, 4, &y) || digits(name + 4, 2, &mo) ||
        digits(name + 6, 2, &d) || name[8] != '_' || digits(name + 9, 2, &h) ||
        digits(name + 11, 2, &mi) || digits(name + 13, 2, &s) || strcmp(name + 15, tail) != 0)
        return -1;
    return to_unix(y, mo, d, h, mi, s, 0, t);
}

int ff_jsoc_pick_closest(const char *html, size_t len, ff_jsoc_kind kind, int wavelength,
                         double target, size_t max_links, char name[FF_JSOC_NAME_MAX],
                         double *offset_s, size_t *ncandidates)
{
    const char *p = html, *end = html + len;
    char href[1024], cand[FF_JSOC_NAME_MAX];
    double best = INFINITY;
    size_t links = 0;
    *ncandidates = 0;
    name[0] = '\0';
    while (links < max_links && ff_html_next_href(&p, end, href, sizeof href)) {
        links++;
        double t;
        if (href_to_name(href, cand, sizeof cand) != 0 ||
            ff_jsoc_parse_name(cand, kind, wavelength, &t) != 0)
            continue;
        if (!strcmp(cand, name))
            continue; /* the best file linked twice in a row (icon and text) */
        (*ncandidates)++;
        double off = t - target;
        if (fabs(off) < fabs(best) || (fabs(off) == fabs(best) && off < best)) {
            best = off;
            memcpy(name, cand, strlen(cand) + 1);
        }
    }
    if (!name[0])
        return 1;
    *offset_s = best;
    return 0;
}
