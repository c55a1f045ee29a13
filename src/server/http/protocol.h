/* The pieces of HTTP/1.1 that need no connection: byte ranges, HTTP dates, ETag lists,
 * percent-decoding, the Content-Type check of upload URLs and request framing as RFC 9112 wants
 * it. Pure functions, unit-tested and fuzzed (fuzz/fuzz_http.c). */
#ifndef FF_SERVER_HTTP_PROTOCOL_H
#define FF_SERVER_HTTP_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct ff_range {
    uint64_t start, len;
} ff_range;
/* Parses a Range header against an object of size bytes: 0 = serve this single range;
 * 1 = ignore the header (absent, not "bytes", several ranges, or malformed: serve it all);
 * 2 = not satisfiable (416). */
int ff_http_parse_range(const char *header, uint64_t size, ff_range *out);
/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), also the two obsolete forms; -1 when invalid. */
time_t ff_http_parse_date(const char *s);
void ff_http_format_date(time_t t, char *out, size_t cap); /* IMF-fixdate, cap >= 32 */
/* 1 when an If-None-Match list matches etag (weak comparison, or "*"). */
int ff_http_etag_match(const char *if_none_match, const char *etag);
/* Percent-decodes s in place (the daemon's unescape callback for paths and arguments) and returns
 * the new length. A malformed escape is kept as it is; decoded control characters (%00 included)
 * become 0x01 so they cannot cut a string short: validation then rejects them. */
size_t ff_http_unescape(char *s);
/* 1 when a Content-Type for a presigned upload is acceptable: printable ASCII, at most 200 bytes. */
int ff_http_content_type_ok(const char *t);

/* Request framing as RFC 9112 wants it (nginx's rules): the fields of one request header are fed
 * to ff_http_framing_field (name and value as sent, value with or without its surrounding blanks),
 * then ff_http_framing_verdict says 0 (acceptable) or the status to answer, and closes with: 400
 * for a field name with whitespace or no name, a folded line, more than one Content-Length, a
 * Content-Length that is not 1 to 18 digits, Content-Length with Transfer-Encoding, Transfer-
 * Encoding on HTTP/1.0, an HTTP/1.1 request without exactly one Host (HTTP/1.0: more than one);
 * 501 for a Transfer-Encoding other than a single "chunked". why: a sentence for the client. */
typedef struct ff_http_framing {
    unsigned content_lengths, transfer_encodings, hosts;
    int bad_line;   /* a malformed field line */
    int bad_length; /* a Content-Length that is not a decimal number */
    int chunked;    /* the Transfer-Encoding is exactly "chunked" */
    int http11;     /* set by the caller: the request is HTTP/1.1 */
    uint64_t length; /* the Content-Length, when there is one good one */
} ff_http_framing;
void ff_http_framing_field(ff_http_framing *f, const char *name, size_t name_len, const char *value,
                           size_t value_len);
unsigned ff_http_framing_verdict(const ff_http_framing *f, const char **why);
/* Looks at the first bytes of a connection (buf[0, n)) for a whole request header: FF_HEAD_MORE
 * when its end (an empty line) is not there yet; FF_HEAD_DONE with *end = the header's length in
 * bytes; FF_HEAD_BAD with *status (400 or 501) and *why when its framing is refused (the rules of
 * ff_http_framing_verdict, on the bytes as sent). Lines end in CR LF or LF. */
enum { FF_HEAD_MORE = 0, FF_HEAD_DONE = 1, FF_HEAD_BAD = 2 };
int ff_http_head_scan(const char *buf, size_t n, size_t *end, unsigned *status, const char **why);

#endif
