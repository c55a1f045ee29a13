/* Request framing (RFC 9112 sections 2.2, 5, 6): the front door's scan of a connection's first
 * bytes for a whole request header (ff_http_head_scan) and the rules both it and the request
 * handler apply to the fields (ff_http_framing_field / ff_http_framing_verdict). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "server/http/protocol.h"

/* Scans s; checks the result, and for FF_HEAD_DONE the header's length (want_end; 0 = all of s) or for
 * FF_HEAD_BAD the status. */
static void scan(const char *s, int want, size_t want_end, unsigned want_status)
{
    size_t end = 12345;
    unsigned status = 999;
    const char *why = NULL;
    int got = ff_http_head_scan(s, strlen(s), &end, &status, &why);
    if (got != want)
        fail_msg("'%s': got %d, want %d (%s)", s, got, want, why ? why : "");
    if (want == FF_HEAD_DONE) {
        assert_int_equal(end, want_end ? want_end : strlen(s));
        assert_int_equal(status, 0);
    }
    if (want == FF_HEAD_BAD) {
        assert_int_equal(status, want_status);
        assert_non_null(why);
        assert_null(strchr(why, '"')); /* put into a JSON string as it is */
    }
}

static void test_whole_headers(void **state)
{
    (void)state;
    const char *g = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    scan(g, FF_HEAD_DONE, 0, 0);
    char more[200];
    snprintf(more, sizeof more, "%sbody or the next request", g);
    scan(more, FF_HEAD_DONE, strlen(g), 0);
    scan("GET / HTTP/1.1\nHost: x\n\n", FF_HEAD_DONE, 0, 0);  /* bare LF line ends */
    scan("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", FF_HEAD_DONE, 0, 0); /* an empty line first */
    scan("GET / HTTP/1.0\r\n\r\n", FF_HEAD_DONE, 0, 0);       /* 1.0 needs no Host */
    scan("PUT /k HTTP/1.1\r\nhost: x\r\ncontent-length: 0012\r\n\r\n", FF_HEAD_DONE, 0, 0);
    scan("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  Chunked \r\n\r\n", FF_HEAD_DONE, 0, 0);
    scan("GET / HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n\r\n", FF_HEAD_DONE, 0, 0);
}

static void test_not_yet(void **state)
{
    (void)state;
    scan("", FF_HEAD_MORE, 0, 0);
    scan("G", FF_HEAD_MORE, 0, 0);
    scan("GET / HTTP/1.1\r\n", FF_HEAD_MORE, 0, 0);
    scan("GET / HTTP/1.1\r\nHost: x\r\n", FF_HEAD_MORE, 0, 0);
    scan("GET / HTTP/1.1\r\nHost: x\r\n\r", FF_HEAD_MORE, 0, 0);
    scan("GET / HTTP/1.1\r\nContent-Length: 5", FF_HEAD_MORE, 0, 0); /* the line is not over */
    scan("\r\n\r\n", FF_HEAD_MORE, 0, 0);
}

static void test_refused(void **state)
{
    (void)state;
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 5\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\n Content-Length: 5\r\n\r\n", FF_HEAD_BAD, 0, 400); /* folded */
    scan("PUT / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,5\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("GET / HTTP/1.1\r\n\r\n", FF_HEAD_BAD, 0, 400);                       /* no Host */
    scan("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("GET / HTTP/1.0\r\nHost: x\r\nHost: y\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", FF_HEAD_BAD, 0, 400);
    scan("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", FF_HEAD_BAD, 0, 501);
    scan("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", FF_HEAD_BAD, 0, 501);
    scan("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         FF_HEAD_BAD, 0, 501);
    scan("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", FF_HEAD_BAD, 0, 400);
}

/* The handler's side: fields as libmicrohttpd passes them (values trimmed, names as sent). */
static void test_fields(void **state)
{
    (void)state;
    const char *why = NULL;
    ff_http_framing f = {.http11 = 1};
    ff_http_framing_field(&f, "Host", 4, "x", 1);
    ff_http_framing_field(&f, "Content-Length", 14, "42", 2);
    assert_int_equal(ff_http_framing_verdict(&f, &why), 0);
    assert_int_equal(f.length, 42);
    ff_http_framing g = {.http11 = 1};
    ff_http_framing_field(&g, "Host", 4, "x", 1);
    ff_http_framing_field(&g, "Content-Length ", 15, "42", 2);
    assert_int_equal(ff_http_framing_verdict(&g, &why), 400);
    ff_http_framing h = {.http11 = 0};
    assert_int_equal(ff_http_framing_verdict(&h, &why), 0); /* HTTP/1.0 without Host */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_headers),
        cmocka_unit_test(test_not_yet),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
