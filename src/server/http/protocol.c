/* Small HTTP pieces without I/O: Range, HTTP dates, ETag lists,
 * percent-decoding and the Content-Type check of upload URLs. */
#include "server/http/protocol.h"
#include "base/hex.h"

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

size_t ff_http_unescape(char *s)
{
    char *w = s;
    for (const char *p = s; *p; p++) {
        int hi, lo;
        if (*p == '%' && p[1] && p[2] && (hi = ff_hex_digit(p[1])) >= 0 && (lo = ff_hex_digit(p[2])) >= 0) {
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

/* Request framing (RFC 9112 sections 2.2, 3.2, 5, 6.1-6.3). */

static int ieq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

void ff_http_framing_field(ff_http_framing *f, const char *name, size_t name_len, const char *value,
                           size_t value_len)
{
    if (!name_len)
        f->bad_line = 1;
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c == 0x7f || c == ':')
            f->bad_line = 1; /* whitespace before the colon, or a control character */
    }
    while (value_len && (*value == ' ' || *value == '\t'))
        value++, value_len--;
    while (value_len && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
        value_len--;
    if (ieq(name, name_len, "Content-Length")) {
        f->content_lengths++;
        uint64_t v = 0;
        if (value_len < 1 || value_len > 18)
            f->bad_length = 1;
        for (size_t i = 0; i < value_len && !f->bad_length; i++) {
            if (value[i] < '0' || value[i] > '9')
                f->bad_length = 1;
            else
                v = v * 10 + (uint64_t)(value[i] - '0');
        }
        f->length = v;
    } else if (ieq(name, name_len, "Transfer-Encoding")) {
        f->transfer_encodings++;
        f->chunked = ieq(value, value_len, "chunked");
    } else if (ieq(name, name_len, "Host")) {
        f->hosts++;
    }
}

unsigned ff_http_framing_verdict(const ff_http_framing *f, const char **why)
{
    unsigned st = 400;
    if (f->bad_line)
        *why = "a header line is malformed (a field name with whitespace or nothing before ':', or a "
               "folded line)";
    else if (f->content_lengths > 1)
        *why = "more than one Content-Length header";
    else if (f->bad_length)
        *why = "Content-Length must be a decimal number of at most 18 digits";
    else if (f->transfer_encodings && f->content_lengths)
        *why = "a request may not have both Content-Length and Transfer-Encoding";
    else if (f->transfer_encodings && !f->http11)
        *why = "Transfer-Encoding needs HTTP/1.1";
    else if (f->transfer_encodings && (f->transfer_encodings > 1 || !f->chunked))
        st = 501, *why = "the only Transfer-Encoding accepted is chunked";
    else if (f->http11 ? f->hosts != 1 : f->hosts > 1)
        *why = "an HTTP/1.1 request needs exactly one Host header";
    else
        st = 0;
    return st;
}

/* The next line of buf[*pos, n): its start and length without CR LF or LF; 0 when no LF yet. */
static int next_line(const char *buf, size_t n, size_t *pos, const char **line, size_t *len)
{
    const char *s = buf + *pos;
    const char *lf = memchr(s, '\n', n - *pos);
    if (!lf)
        return 0;
    *line = s;
    *len = (size_t)(lf - s);
    if (*len && s[*len - 1] == '\r')
        (*len)--;
    *pos = (size_t)(lf - buf) + 1;
    return 1;
}

int ff_http_head_scan(const char *buf, size_t n, size_t *end, unsigned *status, const char **why)
{
    ff_http_framing f = {0};
    size_t pos = 0;
    const char *line;
    size_t len;
    *status = 0;
    /* Empty lines before the request line are ignored (RFC 9112 section 2.2); a few at most. */
    for (int skipped = 0;; skipped++) {
        if (!next_line(buf, n, &pos, &line, &len))
            return FF_HEAD_MORE;
        if (len)
            break;
        if (skipped == 4) {
            *status = 400, *why = "empty lines instead of a request";
            return FF_HEAD_BAD;
        }
    }
    /* The request line: method SP target SP version. Only the version matters here (Host rules);
     * the daemon parses the rest. */
    const char *sp = NULL;
    for (size_t i = len; i > 0; i--)
        if (line[i - 1] == ' ') {
            sp = line + i;
            break;
        }
    f.http11 = sp && ieq(sp, len - (size_t)(sp - line), "HTTP/1.1");
    for (;;) {
        if (!next_line(buf, n, &pos, &line, &len))
            return FF_HEAD_MORE;
        if (!len)
            break;
        if (line[0] == ' ' || line[0] == '\t') {
            f.bad_line = 1; /* obs-fold */
            continue;
        }
        const char *colon = memchr(line, ':', len);
        if (!colon) {
            f.bad_line = 1;
            continue;
        }
        ff_http_framing_field(&f, line, (size_t)(colon - line), colon + 1, len - (size_t)(colon - line) - 1);
    }
    *end = pos;
    *status = ff_http_framing_verdict(&f, why);
    return *status ? FF_HEAD_BAD : FF_HEAD_DONE;
}
