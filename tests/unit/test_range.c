/* HTTP pieces of static serving: Range parsing (RFC 9110 section 14), HTTP dates in their three
 * forms (the RFC's own example instant), ETag lists, media types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "server/http/protocol.h"
#include "base/mediatype.h"

static void range(const char *h, uint64_t size, int want, uint64_t start, uint64_t len)
{
    ff_range r = {99, 99};
    int got = ff_http_parse_range(h, size, &r);
    if (got != want)
        fail_msg("'%s' on %llu bytes: got %d, want %d", h ? h : "(null)", (unsigned long long)size, got, want);
    if (want == 0) {
        assert_int_equal(r.start, start);
        assert_int_equal(r.len, len);
    }
}

static void test_ranges(void **state)
{
    (void)state;
    range("bytes=0-499", 10000, 0, 0, 500);
    range("bytes=500-999", 10000, 0, 500, 500);
    range("bytes=-500", 10000, 0, 9500, 500);
    range("bytes=9500-", 10000, 0, 9500, 500);
    range("bytes=0-0", 10000, 0, 0, 1);
    range("bytes=0-99999", 10000, 0, 0, 10000);  /* end past the object: clipped */
    range("bytes=-20000", 10000, 0, 0, 10000);   /* suffix longer than the object */
    range("BYTES = 1-2", 10000, 1, 0, 0);
    range("bytes= 1-2 ", 10000, 0, 1, 2);
    range("bytes=10000-", 10000, 2, 0, 0);       /* starts at the end */
    range("bytes=20000-30000", 10000, 2, 0, 0);
    range("bytes=-0", 10000, 2, 0, 0);
    range("bytes=0-", 0, 2, 0, 0);               /* empty object */
    range(NULL, 10, 1, 0, 0);
    range("items=0-1", 10, 1, 0, 0);
    range("bytes=0-1,5-6", 10, 1, 0, 0);         /* several ranges: whole object */
    range("bytes=5-3", 10, 1, 0, 0);
    range("bytes=a-b", 10, 1, 0, 0);
    range("bytes=-", 10, 1, 0, 0);
    range("bytes=1-2x", 10, 1, 0, 0);
    /* A start past 2^63 (or 2^64) is past any object: 416, as S3 answers, not the whole 200. */
    range("bytes=99999999999999999999-", 10, 2, 0, 0);
    range("bytes=18446744073709551615-", 10, 2, 0, 0);
    range("bytes=9223372036854775808-", 10, 2, 0, 0);
    range("bytes=99999999999999999999999999999999-5", 10, 1, 0, 0); /* end before start: ignored */
    /* An end or suffix that large is the whole object. */
    range("bytes=0-99999999999999999999", 10, 0, 0, 10);
    range("bytes=-99999999999999999999", 10, 0, 0, 10);
}

static void test_dates(void **state)
{
    (void)state;
    /* RFC 9110's example instant, 784111777 seconds after the epoch, in all three forms */
    assert_int_equal(ff_http_parse_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(ff_http_parse_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    assert_int_equal(ff_http_parse_date("Sun Nov  6 08:49:37 1994"), 784111777);
    assert_int_equal(ff_http_parse_date("Sun, 06 Nov 1994 08:49:37 GMT junk"), -1);
    assert_int_equal(ff_http_parse_date("Sun, 06 Foo 1994 08:49:37 GMT"), -1);
    assert_int_equal(ff_http_parse_date("Sun, 06 Nov 1994 25:49:37 GMT"), -1);
    assert_int_equal(ff_http_parse_date(""), -1);
    assert_int_equal(ff_http_parse_date(NULL), -1);
    char buf[40];
    ff_http_format_date(784111777, buf, sizeof buf);
    assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    ff_http_format_date(0, buf, sizeof buf);
    assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    for (time_t t = 0; t < 4000000000; t += 86399 * 37) {
        ff_http_format_date(t, buf, sizeof buf);
        assert_int_equal(ff_http_parse_date(buf), t);
    }
}

static void test_etags(void **state)
{
    (void)state;
    const char *e = "\"5f-abc\"";
    assert_true(ff_http_etag_match("\"5f-abc\"", e));
    assert_true(ff_http_etag_match("W/\"5f-abc\"", e));
    assert_true(ff_http_etag_match("\"x\", \"5f-abc\"", e));
    assert_true(ff_http_etag_match("\"x\",W/\"5f-abc\" ", e));
    assert_true(ff_http_etag_match("*", e));
    assert_false(ff_http_etag_match("\"5f-ab\"", e));
    assert_false(ff_http_etag_match("\"5f-abcd\"", e));
    assert_false(ff_http_etag_match("", e));
    assert_false(ff_http_etag_match("\"unterminated", e));
    assert_false(ff_http_etag_match(NULL, e));
}

static void test_types(void **state)
{
    (void)state;
    assert_string_equal(ff_media_type("temp/s/processed/images/sdo/x_sdo.png"), "image/png");
    assert_string_equal(ff_media_type("temp/s/processed/header/x_header.json"), "application/json");
    assert_string_equal(ff_media_type("temp/s/logs/x_log_1.txt"), "text/plain; charset=utf-8");
    assert_string_equal(ff_media_type("daily_videos/20240101_stitched.mp4"), "video/mp4");
    assert_string_equal(ff_media_type("temp/s/fits/X.FITS"), "application/fits");
    assert_string_equal(ff_media_type("temp/s.d/noext"), "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_etags),
        cmocka_unit_test(test_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
