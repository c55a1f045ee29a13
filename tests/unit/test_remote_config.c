/* Remote settings and helpers: the backoff schedule (growth, ceiling, jitter spread), FITSFLOW_*
 * parsing with actionable errors, URL escaping, the SDO movie URL and the daily movie's date. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/daily_video.h"
#include "remote/remote.h"
#include "base/settings.h"

static void test_backoff_schedule(void **state)
{
    (void)state;
    uint64_t seed = 12345;
    for (int attempt = 0; attempt < 8; attempt++) {
        long d = 500L << attempt;
        if (d > 8000)
            d = 8000;
        long lo = 1L << 30, hi = 0;
        double sum = 0;
        const int n = 4000;
        for (int i = 0; i < n; i++) {
            long v = ff_remote_backoff_ms(500, 8000, attempt, &seed);
            assert_true(v >= d / 2 && v <= d);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
        }
        /* jitter spreads over the whole [d/2, d] range, centred on 3d/4 */
        assert_true(lo <= d / 2 + d / 50);
        assert_true(hi >= d - d / 50);
        double mean = sum / n;
        assert_true(mean > 0.72 * d && mean < 0.78 * d);
    }
    /* no overflow for absurd attempts, zero base means no wait */
    assert_true(ff_remote_backoff_ms(500, 8000, 1000, &seed) <= 8000);
    assert_int_equal(ff_remote_backoff_ms(0, 8000, 3, &seed), 0);
    /* different seeds give different delays (the point of jitter) */
    uint64_t a = 1, b = 2;
    int differ = 0;
    for (int i = 0; i < 10; i++)
        differ += ff_remote_backoff_ms(1000, 8000, 2, &a) != ff_remote_backoff_ms(1000, 8000, 2, &b);
    assert_true(differ >= 8);
}

static void clear_env(void)
{
    const char *names[] = {"FITSFLOW_HELIOVIEWER_URL", "FITSFLOW_JSOC_URL", "FITSFLOW_SDO_URL",
                           "FITSFLOW_HTTP_TIMEOUT", "FITSFLOW_HTTP_CONNECT_TIMEOUT", "FITSFLOW_HTTP_RETRIES",
                           "FITSFLOW_HTTP_MAX_BYTES", "FITSFLOW_HEK_WINDOW_MINUTES", "FITSFLOW_OFFLINE",
                           "FITSFLOW_HTTP_BACKOFF_MS", "FITSFLOW_DAILY_VIDEO_MAX_BYTES",
                           "FITSFLOW_REMOTE_MAX_OFFSET_MINUTES"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unsetenv(names[i]);
}

/* The remote settings as the environment gives them (base/settings.h). */
static int from_env(ff_remote_config *c, ff_err *err)
{
    ff_settings s;
    if (ff_settings_load(&s, FF_USE_PROCESS, err) != 0)
        return -1;
    ff_remote_config_from_settings(c, &s);
    return 0;
}

static void test_config_env(void **state)
{
    (void)state;
    clear_env();
    ff_remote_config c;
    ff_err err = {0};
    ff_remote_config_defaults(&c);
    assert_int_equal(from_env(&c, &err), 0);
    assert_string_equal(c.helioviewer_url, "https://api.helioviewer.org");
    assert_string_equal(c.jsoc_url, "https://jsoc1.stanford.edu");
    assert_string_equal(c.sdo_url, "https://sdo.gsfc.nasa.gov");
    assert_int_equal(c.hek_window_minutes, 15);
    assert_int_equal(c.offline, 0);

    setenv("FITSFLOW_HELIOVIEWER_URL", "http://127.0.0.1:9/hv///", 1);
    setenv("FITSFLOW_HTTP_TIMEOUT", "2.5", 1);
    setenv("FITSFLOW_HTTP_RETRIES", "0", 1);
    setenv("FITSFLOW_HTTP_MAX_BYTES", "1048576", 1);
    setenv("FITSFLOW_HEK_WINDOW_MINUTES", "60", 1);
    setenv("FITSFLOW_OFFLINE", "yes", 1);
    assert_int_equal(from_env(&c, &err), 0);
    assert_string_equal(c.helioviewer_url, "http://127.0.0.1:9/hv");
    assert_true(c.timeout_s == 2.5);
    assert_int_equal(c.retries, 0);
    assert_int_equal(c.max_bytes, 1048576);
    assert_int_equal(c.hek_window_minutes, 60);
    assert_int_equal(c.offline, 1);

    struct { const char *name, *value; } bad[] = {
        {"FITSFLOW_HTTP_TIMEOUT", "soon"},       {"FITSFLOW_HTTP_TIMEOUT", "0"},
        {"FITSFLOW_HTTP_RETRIES", "-1"},         {"FITSFLOW_HTTP_RETRIES", "99"},
        {"FITSFLOW_HTTP_MAX_BYTES", "1e6"},      {"FITSFLOW_HEK_WINDOW_MINUTES", "0"},
        {"FITSFLOW_OFFLINE", "maybe"},           {"FITSFLOW_JSOC_URL", "ftp://x"},
        {"FITSFLOW_SDO_URL", "http://a b"},      {"FITSFLOW_HELIOVIEWER_URL", "https://x/?q=1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        clear_env();
        setenv(bad[i].name, bad[i].value, 1);
        ff_remote_config_defaults(&c);
        err.msg[0] = '\0';
        assert_int_equal(from_env(&c, &err), -1);
        assert_non_null(strstr(err.msg, bad[i].name)); /* the message names the variable */
    }
    clear_env();
}

static void test_url_escape(void **state)
{
    (void)state;
    char buf[64] = "x?d=";
    assert_int_equal(ff_url_append_escaped(buf, sizeof buf, "2013-06-24T17:31:31Z a/b&c"), 0);
    assert_string_equal(buf, "x?d=2013-06-24T17%3A31%3A31Z%20a%2Fb%26c");
    char small[8] = "";
    assert_int_equal(ff_url_append_escaped(small, sizeof small, "::::"), -1);
}

static void test_sdo_url_and_dates(void **state)
{
    (void)state;
    clear_env();
    ff_remote_config c;
    ff_remote_config_defaults(&c);
    ff_err err = {0};
    ff_remote *r = ff_remote_open(&c, &err);
    assert_non_null(r);
    char url[512];
    assert_int_equal(ff_remote_sdo_movie_url(r, "20240229", "HMIIC", url, sizeof url, &err), 0);
    assert_string_equal(url, "https://sdo.gsfc.nasa.gov/assets/img/dailymov/2024/02/29/20240229_1024_HMIIC.mp4");
    assert_int_equal(ff_remote_sdo_movie_url(r, "2024-02-29", "0094", url, sizeof url, &err), -1);
    ff_remote_close(r);
    assert_int_equal(FF_SDO_NCHANNELS, 11);
    assert_string_equal(ff_sdo_channels[0], "0094");
    assert_string_equal(ff_sdo_channels[10], "HMIB");

    char d[9];
    struct tm tm = {.tm_year = 124, .tm_mon = 2, .tm_mday = 2, .tm_hour = 1};
    ff_daily_video_date(timegm(&tm), d);
    assert_string_equal(d, "20240229");
    tm = (struct tm){.tm_year = 125, .tm_mon = 0, .tm_mday = 1, .tm_hour = 4};
    ff_daily_video_date(timegm(&tm), d);
    assert_string_equal(d, "20241230");
    assert_true(ff_daily_video_date_valid("20240229"));
    assert_false(ff_daily_video_date_valid("20230229"));
    assert_false(ff_daily_video_date_valid("20241301"));
    assert_false(ff_daily_video_date_valid("2024011"));
    assert_false(ff_daily_video_date_valid("2024-1-1"));
    assert_false(ff_daily_video_date_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule), cmocka_unit_test(test_config_env),
        cmocka_unit_test(test_url_escape), cmocka_unit_test(test_sdo_url_and_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
