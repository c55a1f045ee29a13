/* JSOC listing parsing: href scanning over several markups and hostile input, image-name parsing,
 * and the choice of the image closest in time. Expected times come from timegm(), not from the
 * code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remote/remote.h"

static double utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (double)timegm(&tm);
}

static int all_hrefs(const char *html, char out[][256], int max)
{
    const char *p = html, *end = html + strlen(html);
    int n = 0;
    char buf[256];
    while (n < max && ff_html_next_href(&p, end, buf, sizeof buf))
        strcpy(out[n++], buf);
    return n;
}

static void test_href_markups(void **state)
{
    (void)state;
    char h[8][256];
    /* Apache */
    int n = all_hrefs("<tr><td><a href=\"?C=N;O=D\">Name</a></td></tr><tr><td><a href=\"a.jp2\">a.jp2</a>", h, 8);
    assert_int_equal(n, 2);
    assert_string_equal(h[0], "?C=N;O=D");
    assert_string_equal(h[1], "a.jp2");
    /* nginx: single quotes, absolute paths */
    n = all_hrefs("<pre><a href='../'>../</a>\r\n<a href='/data/x/b.jpg'>b.jpg</a></pre>", h, 8);
    assert_int_equal(n, 2);
    assert_string_equal(h[1], "/data/x/b.jpg");
    /* upper case, spaces around '=', unquoted, other attributes first */
    n = all_hrefs("<A CLASS=x HREF = c.jp2>c</A><a\nhref=d.jp2\n>d</a><A TITLE='t' HREF=\"e.jp2\">", h, 8);
    assert_int_equal(n, 3);
    assert_string_equal(h[0], "c.jp2");
    assert_string_equal(h[1], "d.jp2");
    assert_string_equal(h[2], "e.jp2");
    /* not attributes: data-href, the word href in text, href without '=' */
    n = all_hrefs("<a data-href=\"no.jp2\">href is a word</a> href <a href=\"yes.jp2\">", h, 8);
    assert_int_equal(n, 1);
    assert_string_equal(h[0], "yes.jp2");
}

static void test_href_hostile(void **state)
{
    (void)state;
    char h[4][256];
    /* unterminated quote, '=' at the very end, empty values */
    assert_int_equal(all_hrefs("<a href=\"never-closed.jp2>", h, 4), 0);
    assert_int_equal(all_hrefs("<a href=", h, 4), 0);
    assert_int_equal(all_hrefs("<a href=\"\"><a href=''>", h, 4), 0);
    assert_int_equal(all_hrefs("href", h, 4), 0);
    /* a value longer than the output buffer is skipped, the next one found */
    size_t big = 5000;
    char *s = malloc(big + 100);
    assert_non_null(s);
    strcpy(s, "<a href=\"");
    memset(s + 9, 'x', big);
    strcpy(s + 9 + big, "\"><a href=\"ok.jp2\">");
    assert_int_equal(all_hrefs(s, h, 4), 1);
    assert_string_equal(h[0], "ok.jp2");
    free(s);
    /* random bytes (with NULs, since the length is explicit) never crash or overrun */
    uint64_t x = 88172645463325252ull;
    unsigned char buf[4096];
    char out[64];
    for (int round = 0; round < 300; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            static const char alphabet[] = "hrefHREF=\"' <>a/\0x.jp2";
            buf[i] = (unsigned char)alphabet[x % (sizeof alphabet - 1)];
        }
        const char *p = (const char *)buf, *end = p + (round % 64 == 0 ? 0 : sizeof buf);
        int guard = 0;
        while (ff_html_next_href(&p, end, out, sizeof out)) {
            assert_true(p <= end);
            assert_true(strlen(out) < sizeof out);
            assert_true(++guard < 5000);
        }
        char name[FF_JSOC_NAME_MAX];
        double off;
        size_t nc;
        ff_jsoc_pick_closest((const char *)buf, sizeof buf, FF_JSOC_AIA, 193, 0, 100000, name, &off, &nc);
    }
}

static void test_parse_names(void **state)
{
    (void)state;
    double t;
    assert_int_equal(ff_jsoc_parse_name("2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2", FF_JSOC_AIA, 193, &t), 0);
    assert_true(fabs(t - (utc(2013, 6, 24, 17, 31, 30) + 0.84)) < 1e-6);
    assert_int_equal(ff_jsoc_parse_name("2013_05_13__16_54_06_137__SDO_AIA_AIA_94.jp2", FF_JSOC_AIA, 94, &t), 0);
    assert_true(fabs(t - (utc(2013, 5, 13, 16, 54, 6) + 0.137)) < 1e-6);
    /* wrong wavelength, other instrument, wrong kind, bad fields */
    assert_int_equal(ff_jsoc_parse_name("2013_06_24__17_31_30_84__SDO_AIA_AIA_1930.jp2", FF_JSOC_AIA, 193, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2", FF_JSOC_AIA, 171, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("2013_05_13__16_54_06_137__SOHO_LASCO_C3_white-light.jp2", FF_JSOC_AIA, 193, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("2013_13_24__17_31_30_84__SDO_AIA_AIA_193.jp2", FF_JSOC_AIA, 193, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("2013_02_30__17_31_30_84__SDO_AIA_AIA_193.jp2", FF_JSOC_AIA, 193, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("2013_06_24__17_31_30___SDO_AIA_AIA_193.jp2", FF_JSOC_AIA, 193, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2.tmp", FF_JSOC_AIA, 193, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("", FF_JSOC_AIA, 193, &t), -1);
    /* HMI */
    assert_int_equal(ff_jsoc_parse_name("20130624_173000_Ic_4k.jpg", FF_JSOC_HMI_IC, 0, &t), 0);
    assert_true(t == utc(2013, 6, 24, 17, 30, 0));
    assert_int_equal(ff_jsoc_parse_name("20130624_173000_M_4k.jpg", FF_JSOC_HMI_M, 0, &t), 0);
    assert_int_equal(ff_jsoc_parse_name("20130624_173000_M_4k.jpg", FF_JSOC_HMI_IC, 0, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("20130624_173000_Ic_1k.jpg", FF_JSOC_HMI_IC, 0, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("20130624_246000_Ic_4k.jpg", FF_JSOC_HMI_IC, 0, &t), -1);
    assert_int_equal(ff_jsoc_parse_name("2013062_1730000_Ic_4k.jpg", FF_JSOC_HMI_IC, 0, &t), -1);
}

static void test_pick_closest(void **state)
{
    (void)state;
    const char *html =
        "<a href=\"?C=M;O=A\">Last modified</a><a href=\"../\">Parent</a><a href=\"sub/\">sub/</a>"
        "<a href=\"2013_06_24__17_30_00_10__SDO_AIA_AIA_193.jp2\">x</a>"
        "<a href='/data/aia/images/2013/06/24/193/2013_06_24__17_31_00_00__SDO_AIA_AIA_193.jp2'>y</a>"
        "<A HREF=2013_06_24__17_32_00_00__SDO_AIA_AIA_193.jp2>z</A>"
        "<a href=\"2013%5F06_24__17_31_20_00__SDO_AIA_AIA_171.jp2\">other wavelength</a>"
        "<a href=\"2013_06_24__17_31_40_00__SDO_AIA_AIA_193.jp2?download=1\">q</a>";
    char name[FF_JSOC_NAME_MAX];
    double off;
    size_t nc;
    double target = utc(2013, 6, 24, 17, 31, 15);
    assert_int_equal(ff_jsoc_pick_closest(html, strlen(html), FF_JSOC_AIA, 193, target, 1000, name, &off, &nc), 0);
    assert_string_equal(name, "2013_06_24__17_31_00_00__SDO_AIA_AIA_193.jp2");
    assert_true(fabs(off - -15.0) < 1e-6);
    assert_int_equal(nc, 4);
    /* 17:31:50 is 10 s from the 17:31:40 one (whose href had a query string) */
    target = utc(2013, 6, 24, 17, 31, 50);
    assert_int_equal(ff_jsoc_pick_closest(html, strlen(html), FF_JSOC_AIA, 193, target, 1000, name, &off, &nc), 0);
    assert_string_equal(name, "2013_06_24__17_31_40_00__SDO_AIA_AIA_193.jp2");
    /* %-escaped name of another wavelength */
    assert_int_equal(ff_jsoc_pick_closest(html, strlen(html), FF_JSOC_AIA, 171, target, 1000, name, &off, &nc), 0);
    assert_string_equal(name, "2013_06_24__17_31_20_00__SDO_AIA_AIA_171.jp2");
    /* a tie goes to the earlier image */
    const char *tie = "<a href=\"20130624_170000_Ic_4k.jpg\"></a><a href=\"20130624_171500_Ic_4k.jpg\"></a>"
                      "<a href=\"20130624_170730_M_4k.jpg\"></a>";
    target = utc(2013, 6, 24, 17, 7, 30);
    assert_int_equal(ff_jsoc_pick_closest(tie, strlen(tie), FF_JSOC_HMI_IC, 0, target, 1000, name, &off, &nc), 0);
    assert_string_equal(name, "20130624_170000_Ic_4k.jpg");
    assert_int_equal(nc, 2);
    assert_int_equal(ff_jsoc_pick_closest(tie, strlen(tie), FF_JSOC_HMI_M, 0, target, 1000, name, &off, &nc), 0);
    assert_true(off == 0);
    /* nothing of that kind, an empty page */
    assert_int_equal(ff_jsoc_pick_closest(tie, strlen(tie), FF_JSOC_AIA, 193, target, 1000, name, &off, &nc), 1);
    assert_int_equal(nc, 0);
    assert_int_equal(ff_jsoc_pick_closest("", 0, FF_JSOC_AIA, 193, target, 1000, name, &off, &nc), 1);
    /* the link bound: only the first two hrefs are examined */
    assert_int_equal(ff_jsoc_pick_closest(tie, strlen(tie), FF_JSOC_HMI_M, 0, target, 2, name, &off, &nc), 1);
}

static void test_large_listing(void **state)
{
    (void)state;
    /* A day at 12 s cadence: 7200 entries in Apache markup; the closest is found exactly. */
    size_t cap = 7200 * 200 + 100, n = 0;
    char *html = malloc(cap);
    assert_non_null(html);
    double day = utc(2020, 2, 29, 0, 0, 0);
    for (int i = 0; i < 7200; i++) {
        time_t t = (time_t)day + i * 12;
        struct tm tm;
        gmtime_r(&t, &tm);
        char nm[80];
        strftime(nm, sizeof nm, "%Y_%m_%d__%H_%M_%S", &tm);
        n += (size_t)snprintf(html + n, cap - n, "<tr><td><a href=\"%s_35__SDO_AIA_AIA_304.jp2\">%s_35__SDO_AIA_AIA_304.jp2</a></td></tr>\n",
                              nm, nm);
    }
    char name[FF_JSOC_NAME_MAX];
    double off;
    size_t nc;
    double target = day + 12 * 3000 + 5.0; /* nearest: entry 3000 at +0.35 s */
    assert_int_equal(ff_jsoc_pick_closest(html, n, FF_JSOC_AIA, 304, target, 200000, name, &off, &nc), 0);
    assert_string_equal(name, "2020_02_29__10_00_00_35__SDO_AIA_AIA_304.jp2");
    assert_true(fabs(off - (0.35 - 5.0)) < 1e-6);
    assert_int_equal(nc, 7200);
    free(html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_href_markups), cmocka_unit_test(test_href_hostile),
        cmocka_unit_test(test_parse_names),  cmocka_unit_test(test_pick_closest),
        cmocka_unit_test(test_large_listing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
