/* Small HTTP pieces without I/O: Range, HTTP dates, ETag lists, media types by file name,
 * percent-decoding and the Content-Type check of upload URLs. */
#include "server/http_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Reads a number; one too large for 64 bits reads as UINT64_MAX (a range starting there is past
 * any object: 416, as S3 answers, not a whole 200). Returns the end, or NULL without digits. */
static const char *read_u64(const char *p, uint64_t *v)
{
    const char *s = p;
    uint64_t x = 0;
    while (*p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
        p++;
    }
    if (p == s)
        return NULL;
    *v = x;
    return p;
}

int ff_http_parse_range(const char *h, uint64_t size, ff_range *out)
{
    if (!h)
        return 1;
    h = skip_ws(h);
    if (strncasecmp(h, "bytes=", 6) != 0)
        return 1;
    const char *p = skip_ws(h + 6);
    if (strchr(p, ','))
        return 1; /* several ranges: allowed to answer with the whole object */
    uint64_t a = 0, b = 0;
    if (*p == '-') {
        /* suffix: the last b bytes */
        p = read_u64(p + 1, &b);
        if (!p || *skip_ws(p))
            return 1;
        if (b == 0 || size == 0)
            return 2;
        if (b > size)
            b = size;
        out->start = size - b;
        out->len = b;
        return 0;
    }
    p = read_u64(p, &a);
    if (!p || *p != '-')
        return 1;
    p++;
    int open_end = (*skip_ws(p) == '\0');
    if (!open_end) {
        p = read_u64(p, &b);
        if (!p || *skip_ws(p) || b < a)
            return 1;
    }
    if (a >= size)
        return 2;
    if (open_end || b >= size)
        b = size - 1;
    out->start = a;
    out->len = b - a + 1;
    return 0;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

void ff_http_format_date(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int month_index(const char *m)
{
    for (int i = 0; i < 12; i++)
        if (!strncmp(m, months[i], 3))
            return i;
    return -1;
}

time_t ff_http_parse_date(const char *s)
{
    if (!s)
        return -1;
    struct tm tm = {0};
    char mon[4] = {0}, wd[16] = {0};
    int d, y, H, M, S, n = 0;
    s = skip_ws(s);
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &H, &M, &S, &n) == 7 && n) {
    } else if (n = 0, sscanf(s, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &H, &M, &S, &n) == 7 && n) {
        y += y < 70 ? 2000 : 1900; /* RFC 850 */
    } else if (n = 0, sscanf(s, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &H, &M, &S, &y, &n) == 7 && n) {
        /* asctime */
    } else {
        return -1;
    }
    if (*skip_ws(s + n))
        return -1;
    int mi = month_index(mon);
    if (mi < 0 || d < 1 || d > 31 || H > 23 || M > 59 || S > 60 || y < 1970 || y > 9999)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mi;
    tm.tm_mday = d;
    tm.tm_hour = H;
    tm.tm_min = M;
    tm.tm_sec = S;
    return timegm(&tm);
}

int ff_http_etag_match(const char *inm, const char *etag)
{
    if (!inm || !etag)
        return 0;
    const char *e = etag;
    if (!strncmp(e, "W/", 2))
        e += 2;
    size_t el = strlen(e);
    const char *p = inm;
    for (;;) {
        p = skip_ws(p);
        while (*p == ',')
            p = skip_ws(p + 1);
        if (!*p)
            return 0;
        if (*p == '*')
            return 1;
        if (!strncmp(p, "W/", 2))
            p += 2;
        const char *q = p;
        if (*q == '"') {
            q = strchr(q + 1, '"');
            if (!q)
                return 0;
            q++;
        } else {
            while (*q && *q != ',' && *q != ' ')
                q++;
        }
        if ((size_t)(q - p) == el && !memcmp(p, e, el))
            return 1;
        p = q;
    }
}

const char *ff_http_content_type(const char *key)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".txt", "text/plain; charset=utf-8"},
        {".json", "application/json"},
        {".csv", "text/csv; charset=utf-8"},
        {".npy", "application/octet-stream"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".asdf", "application/asdf"},
        {".fits", "application/fits"},
        {".fit", "application/fits"},
        {".fts", "application/fits"},
        {".gz", "application/gzip"},
        {".mp4", "video/mp4"},
        {".zip", "application/zip"},
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".mjs", "text/javascript; charset=utf-8"},
    };
    const char *slash = strrchr(key, '/');
    const char *dot = strrchr(slash ? slash : key, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot, types[i].ext))
                return types[i].type;
    return "application/octet-stream";
}

static int hexdigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 32);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t ff_http_unescape(char *s)
{
    char *w = s;
    for (const char *p = s; *p; p++) {
        int hi, lo;
        if (*p == '%' && p[1] && p[2] && (hi = hexdigit(p[1])) >= 0 && (lo = hexdigit(p[2])) >= 0) {
            unsigned char c8 = (unsigned char)(hi << 4 | lo);
            *w++ = (char)(c8 < 0x20 || c8 == 0x7f ? 0x01 : c8);
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

int ff_http_content_type_ok(const char *t)
{
    if (strlen(t) > 200)
        return 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            return 0;
    return 1;
}
