/* Observation-time parsing and TAI/TT -> UTC conversion. Expected UTC values were computed with
 * astropy.time 5.2 (Time(s, scale='tai').utc.isot); the calendar arithmetic is checked against
 * glibc's timegm/gmtime_r. tests/e2e/test_obstime_astropy.py compares thousands of conversions
 * with astropy.time at test time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/fits/obstime.h"

/* Parses s, converts to UTC and returns the ISO text (static buffer). */
static const char *utc_iso(const char *s, ff_timescale def)
{
    static char buf[40];
    ff_time t, u;
    ff_err err = {0};
    if (ff_time_parse(s, def, &t, &err) != 0) {
        print_error("parse of '%s' failed: %s\n", s, err.msg);
        return "parse failed";
    }
    if (ff_time_to_utc(&t, &u, &err) != 0) {
        print_error("to_utc of '%s' failed: %s\n", s, err.msg);
        return "to_utc failed";
    }
    assert_int_equal(u.scale, FF_TS_UTC);
    ff_time_format_iso(&u, buf, sizeof buf);
    return buf;
}

static void expect_utc(const char *s, ff_timescale def, const char *want)
{
    const char *got = utc_iso(s, def);
    if (strcmp(got, want) != 0)
        fail_msg("'%s': got %s, want %s", s, got, want);
}

/* Parsing s must fail with a message containing want. */
static void expect_bad(const char *s, const char *want)
{
    ff_time t;
    ff_err err = {0};
    assert_int_equal(ff_time_parse(s, FF_TS_UTC, &t, &err), -1);
    if (!strstr(err.msg, want))
        fail_msg("'%s': message '%s' lacks '%s'", s ? s : "(null)", err.msg, want);
}

static void test_iso_forms(void **state)
{
    (void)state;
    expect_utc("2011-06-07T06:33:02.88", FF_TS_UTC, "2011-06-07T06:33:02.880Z");
    expect_utc("2011-06-07 06:33:02.88", FF_TS_UTC, "2011-06-07T06:33:02.880Z");
    expect_utc("2011-02-15T00:00:01.34Z", FF_TS_UTC, "2011-02-15T00:00:01.340Z");
    expect_utc("2011-02-15T00:00:01.34z", FF_TS_UTC, "2011-02-15T00:00:01.340Z");
    expect_utc("  2011-06-07T06:33:02  ", FF_TS_UTC, "2011-06-07T06:33:02.000Z");
    expect_utc("2011-06-07T06:33", FF_TS_UTC, "2011-06-07T06:33:00.000Z");
    expect_utc("2011-06-07", FF_TS_UTC, "2011-06-07T00:00:00.000Z");
    expect_utc("2002/05/21T00:18:06.516", FF_TS_UTC, "2002-05-21T00:18:06.516Z");
    expect_utc("11/12/96", FF_TS_UTC, "1996-12-11T00:00:00.000Z");
    expect_utc("11-DEC-96", FF_TS_UTC, "1996-12-11T00:00:00.000Z");
    expect_utc("2000-02-29T12:00:00", FF_TS_UTC, "2000-02-29T12:00:00.000Z");
    expect_utc("2012-02-29T12:00:00", FF_TS_UTC, "2012-02-29T12:00:00.000Z");
}

static void test_fractions_and_rounding(void **state)
{
    (void)state;
    ff_time t;
    ff_err err;
    assert_int_equal(ff_time_parse("2011-06-07T06:33:02.1234567891234", FF_TS_UTC, &t, &err), 0);
    assert_int_equal(t.nanos, 123456789);
    assert_int_equal(ff_time_parse("2011-06-07T06:33:02.5", FF_TS_UTC, &t, &err), 0);
    assert_int_equal(t.nanos, 500000000);
    assert_int_equal(ff_time_parse("2011-06-07T06:33:02.", FF_TS_UTC, &t, &err), 0);
    assert_int_equal(t.nanos, 0);
    /* astropy rounds to the millisecond, carrying into the leap second and across days. */
    expect_utc("2011-06-07T06:33:02.1234567891234", FF_TS_UTC, "2011-06-07T06:33:02.123Z");
    expect_utc("2011-06-07T06:33:02.0005", FF_TS_UTC, "2011-06-07T06:33:02.001Z");
    expect_utc("2011-06-07T06:33:02.9996", FF_TS_UTC, "2011-06-07T06:33:03.000Z");
    expect_utc("2011-12-31T23:59:59.9996", FF_TS_UTC, "2012-01-01T00:00:00.000Z");
    expect_utc("2016-12-31T23:59:59.9996", FF_TS_UTC, "2016-12-31T23:59:60.000Z");
    expect_utc("2016-12-31T23:59:60.9996", FF_TS_UTC, "2017-01-01T00:00:00.000Z");
}

static void test_jsoc_and_scales(void **state)
{
    (void)state;
    ff_time t;
    ff_err err;
    assert_int_equal(ff_time_parse("2014.03.01_00:01:25_TAI", FF_TS_UTC, &t, &err), 0);
    assert_int_equal(t.scale, FF_TS_TAI);
    assert_int_equal(t.year, 2014);
    assert_int_equal(t.month, 3);
    assert_int_equal(t.day, 1);
    assert_int_equal(t.minute, 1);
    assert_int_equal(t.second, 25);
    /* astropy: Time('2014-03-01T00:01:25', scale='tai').utc */
    expect_utc("2014.03.01_00:01:25_TAI", FF_TS_UTC, "2014-03-01T00:00:50.000Z");
    expect_utc("2014.03.01_00:01:25.84_TAI", FF_TS_UTC, "2014-03-01T00:00:50.840Z");
    expect_utc("2010.10.15_23:01:00.000_TAI", FF_TS_UTC, "2010-10-15T23:00:26.000Z");
    expect_utc("2010.10.15_19:15:30.000_tai", FF_TS_UTC, "2010-10-15T19:14:56.000Z");
    expect_utc("2014-03-01T00:01:25 TAI", FF_TS_UTC, "2014-03-01T00:00:50.000Z");
    expect_utc("2014-03-01T00:01:25TAI", FF_TS_UTC, "2014-03-01T00:00:50.000Z");
    expect_utc("2014.03.01_00:01:25_UTC", FF_TS_TAI, "2014-03-01T00:01:25.000Z");
    /* TIMESYS as default scale; an explicit marker wins. */
    expect_utc("2014-03-01T00:01:25", FF_TS_TAI, "2014-03-01T00:00:50.000Z");
    expect_utc("2014-03-01T00:01:25Z", FF_TS_TAI, "2014-03-01T00:01:25.000Z");
    expect_utc("2014-03-01T00:01:25", FF_TS_UTC, "2014-03-01T00:01:25.000Z");
    /* TT = TAI + 32.184 s; astropy: Time('2020-06-01T12:00:00', scale='tt').utc */
    expect_utc("2020-06-01T12:00:00", FF_TS_TT, "2020-06-01T11:58:50.816Z");
    expect_utc("2020-06-01T12:00:00_TT", FF_TS_UTC, "2020-06-01T11:58:50.816Z");
    expect_utc("2017-01-01T00:01:09.184 TT", FF_TS_UTC, "2017-01-01T00:00:00.000Z");
    expect_utc("2017-01-01T00:01:08.684_TT", FF_TS_UTC, "2016-12-31T23:59:60.500Z");
}

static void test_tai_across_leap_seconds(void **state)
{
    (void)state;
    /* All from astropy.time (ERFA): TAI -> UTC around the leap seconds. */
    expect_utc("2017-01-01T00:00:35_TAI", FF_TS_UTC, "2016-12-31T23:59:59.000Z");
    expect_utc("2017-01-01T00:00:35.999_TAI", FF_TS_UTC, "2016-12-31T23:59:59.999Z");
    expect_utc("2017-01-01T00:00:36_TAI", FF_TS_UTC, "2016-12-31T23:59:60.000Z");
    expect_utc("2017-01-01T00:00:36.5_TAI", FF_TS_UTC, "2016-12-31T23:59:60.500Z");
    expect_utc("2017-01-01T00:00:37_TAI", FF_TS_UTC, "2017-01-01T00:00:00.000Z");
    expect_utc("2015-07-01T00:00:35.25_TAI", FF_TS_UTC, "2015-06-30T23:59:60.250Z");
    expect_utc("2015-07-01T00:00:36_TAI", FF_TS_UTC, "2015-07-01T00:00:00.000Z");
    expect_utc("2012-07-01T00:00:34.75_TAI", FF_TS_UTC, "2012-06-30T23:59:60.750Z");
    expect_utc("2009-01-01T00:00:33.5_TAI", FF_TS_UTC, "2008-12-31T23:59:60.500Z");
    expect_utc("1999-01-01T00:00:31.9_TAI", FF_TS_UTC, "1998-12-31T23:59:60.900Z");
    expect_utc("1972-07-01T00:00:10.5_TAI", FF_TS_UTC, "1972-06-30T23:59:60.500Z");
    expect_utc("1972-01-01T00:00:10_TAI", FF_TS_UTC, "1972-01-01T00:00:00.000Z");
    expect_utc("2030-01-01T00:00:00_TAI", FF_TS_UTC, "2029-12-31T23:59:23.000Z");
    /* Before 1972, UTC's rubber seconds; before 1960, UTC = TAI (astropy, ERFA). */
    expect_utc("1970-01-01T00:00:10_TAI", FF_TS_UTC, "1970-01-01T00:00:02.000Z");
    expect_utc("1965-06-01T12:00:00_TAI", FF_TS_UTC, "1965-06-01T11:59:56.164Z");
    expect_utc("1950-01-01T00:00:00_TAI", FF_TS_UTC, "1950-01-01T00:00:00.000Z");

    /* A UTC leap second itself parses and passes through unchanged. */
    expect_utc("2016-12-31T23:59:60.5", FF_TS_UTC, "2016-12-31T23:59:60.500Z");
    expect_utc("2015-06-30T23:59:60Z", FF_TS_UTC, "2015-06-30T23:59:60.000Z");
}

/* Whole TAI seconds at a spread of instants 1972..2038: UTC is TAI minus a whole number of
 * seconds from 10 to 37 that never decreases, the fraction is kept, and the calendar of the UTC
 * label is glibc's (gmtime_r) for that many seconds earlier, or the leap second 23:59:60. */
static void test_offsets_whole_and_growing(void **state)
{
    (void)state;
    int64_t last = 10;
    for (int64_t tai = 63072010; tai < 2145916800; tai += 7919 * 3607) {
        time_t tt = (time_t)tai;
        struct tm a;
        gmtime_r(&tt, &a);
        ff_time t = {a.tm_year + 1900, a.tm_mon + 1, a.tm_mday, a.tm_hour, a.tm_min,
                     a.tm_sec,        123000000,    FF_TS_TAI};
        assert_int_equal(ff_time_unix(&t), tai);
        ff_time r;
        ff_err err;
        assert_int_equal(ff_time_to_utc(&t, &r, &err), 0);
        assert_int_equal(r.nanos, 123000000);
        int64_t off = tai - ff_time_unix(&r);
        assert_true(off >= 10 && off <= 37);
        assert_true(off >= last);
        last = off;
        if (r.second == 60)
            continue;
        time_t ut = (time_t)(tai - off);
        struct tm b;
        gmtime_r(&ut, &b);
        assert_int_equal(r.year, b.tm_year + 1900);
        assert_int_equal(r.month, b.tm_mon + 1);
        assert_int_equal(r.day, b.tm_mday);
        assert_int_equal(r.hour, b.tm_hour);
        assert_int_equal(r.minute, b.tm_min);
        assert_int_equal(r.second, b.tm_sec);
    }
    assert_int_equal(last, 37);
}

static void test_unix_seconds(void **state)
{
    (void)state;
    ff_time t = {2016, 12, 31, 23, 59, 60, 0, FF_TS_UTC};
    struct tm tm = {.tm_year = 117, .tm_mon = 0, .tm_mday = 1};
    assert_int_equal(ff_time_unix(&t), (int64_t)timegm(&tm)); /* 60 counts as 59 + 1 */
    ff_time e = {1970, 1, 1, 0, 0, 0, 0, FF_TS_UTC};
    assert_int_equal(ff_time_unix(&e), 0);
    ff_time old = {1900, 3, 1, 0, 0, 0, 0, FF_TS_UTC};
    struct tm tm2 = {.tm_year = 0, .tm_mon = 2, .tm_mday = 1};
    assert_int_equal(ff_time_unix(&old), (int64_t)timegm(&tm2));
}

static void test_date_plus_time(void **state)
{
    (void)state;
    ff_time t, u;
    ff_err err;
    char iso[40];
    /* LASCO C3 (sunpy test header): DATE-OBS '2002/05/21', TIME-OBS '00:18:06.516' */
    assert_int_equal(ff_time_parse_date_time("2002/05/21", "00:18:06.516", FF_TS_UTC, &t, &err), 0);
    ff_time_format_iso(&t, iso, sizeof iso);
    assert_string_equal(iso, "2002-05-21T00:18:06.516Z");
    /* Old FITS DD/MM/YY means 19YY. */
    assert_int_equal(ff_time_parse_date_time("07/06/11", "06:33:02.88", FF_TS_UTC, &t, &err), 0);
    ff_time_format_iso(&t, iso, sizeof iso);
    assert_string_equal(iso, "1911-06-07T06:33:02.880Z");
    assert_int_equal(ff_time_parse_date_time("2011-06-07", "06:33:02.88", FF_TS_UTC, &t, &err), 0);
    ff_time_format_iso(&t, iso, sizeof iso);
    assert_string_equal(iso, "2011-06-07T06:33:02.880Z");
    /* EIT (sunpy test header): DATE-OBS '11-DEC-96', TIME-OBS '19:00:14' */
    assert_int_equal(ff_time_parse_date_time("11-DEC-96", "19:00:14", FF_TS_UTC, &t, &err), 0);
    ff_time_format_iso(&t, iso, sizeof iso);
    assert_string_equal(iso, "1996-12-11T19:00:14.000Z");
    /* Scale from the time part or the default. */
    assert_int_equal(ff_time_parse_date_time("2014-03-01", "00:01:25_TAI", FF_TS_UTC, &t, &err), 0);
    assert_int_equal(t.scale, FF_TS_TAI);
    assert_int_equal(ff_time_to_utc(&t, &u, &err), 0);
    ff_time_format_iso(&u, iso, sizeof iso);
    assert_string_equal(iso, "2014-03-01T00:00:50.000Z");
    assert_int_equal(ff_time_parse_date_time("2011-06-07", "", FF_TS_UTC, &t, &err), 0);
    assert_int_equal(t.hour, 0);

    assert_int_equal(ff_time_parse_date_time("2011-06-07T01:00:00", "06:33:02", FF_TS_UTC, &t,
                                             &err), -1);
    assert_non_null(strstr(err.msg, "already carries a time"));
    assert_int_equal(ff_time_parse_date_time("", "06:33:02", FF_TS_UTC, &t, &err), -1);
    assert_non_null(strstr(err.msg, "date is empty"));
    assert_int_equal(ff_time_parse_date_time("2011-06-07", "25:00:00", FF_TS_UTC, &t, &err), -1);
    assert_non_null(strstr(err.msg, "hour 25 out of range"));
    assert_int_equal(ff_time_parse_date_time(NULL, NULL, FF_TS_UTC, &t, &err), -1);
}

static void test_invalid(void **state)
{
    (void)state;
    ff_time t;
    ff_err err;
    assert_int_equal(ff_time_parse("2011-13-45", FF_TS_UTC, &t, &err), -1);
    assert_string_equal(err.msg,
                        "cannot parse observation time '2011-13-45': month 13 out of range");
    expect_bad("2011-00-10", "month 0 out of range");
    expect_bad("2011-01-32", "day 32 out of range: 2011-01 has 31 days");
    expect_bad("2011-04-31", "day 31 out of range: 2011-04 has 30 days");
    expect_bad("2011-02-29", "day 29 out of range: 2011-02 has 28 days");
    expect_bad("1900-02-29", "day 29 out of range: 1900-02 has 28 days");
    expect_bad("2011-06-00", "day 0 out of range");
    expect_bad("2011-06-07T25:00:00", "hour 25 out of range");
    expect_bad("2011-06-07T24:00:00", "hour 24 out of range");
    expect_bad("2011-06-07T12:60:00", "minute 60 out of range");
    expect_bad("2011-06-07T12:00:61", "second 61 out of range");
    expect_bad("2011-06-07T23:59:60", "only valid at 23:59:60 UTC on a leap-second day");
    expect_bad("2016-12-31T23:58:60", "only valid at 23:59:60 UTC on a leap-second day");
    expect_bad("2016-12-31T23:59:60_TAI", "second 60 exists only in UTC");
    expect_bad("0000-01-01", "year 0 out of range");
    expect_bad("garbage", "expected a date");
    expect_bad("hello world", "expected a date");
    expect_bad("20110607", "at most 4 digits");
    expect_bad("2011-06-07X", "unexpected character 'X' after the date");
    expect_bad("2011-06-07Tfoo", "expected a time HH:MM:SS");
    expect_bad("2011-06-07T06:33:02.88 later", "unexpected text");
    expect_bad("2011-06-07T06:33:02.8.8", "unexpected text '.8'");
    expect_bad("2011-06-07T6:3", "minutes of 2 digits");
    expect_bad("2011-6", "expected a month");
    expect_bad("2011:06:07", "expected '-' after the year");
    expect_bad("07/06", "expected DD/MM/YY");
    expect_bad("07/06/2", "2- or 4-digit year");
    expect_bad("07-XYZ-96", "English month abbreviation");
    expect_bad("-4712.01.01_11:59:28_TAI", "expected a date");
    expect_bad("", "the value is empty");
    expect_bad("    ", "the value is empty");
    expect_bad("Z", "no date before the time-scale marker");
    expect_bad("_TAI", "no date before the time-scale marker");
    expect_bad(NULL, "the value is empty");
    expect_bad("2011-06-07T06:33:02\x01", "unexpected text");

    char longs[300];
    memset(longs, '1', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    memcpy(longs, "2011-06-07T06:33:02.", 20);
    assert_int_equal(ff_time_parse(longs, FF_TS_UTC, &t, &err), -1);
    assert_non_null(strstr(err.msg, "longer than 80 characters"));
    assert_true(strlen(err.msg) < 200); /* the value is quoted cut short */

    /* 80 characters of fraction are still fine. */
    char ok[81];
    memset(ok, '5', 80);
    ok[80] = '\0';
    memcpy(ok, "2011-06-07T06:33:02.", 20);
    assert_int_equal(ff_time_parse(ok, FF_TS_UTC, &t, &err), 0);
    assert_int_equal(t.nanos, 555555555);
}

static void test_to_utc_rejects_bad_fields(void **state)
{
    (void)state;
    ff_time r;
    ff_err err;
    ff_time bad = {2011, 13, 1, 0, 0, 0, 0, FF_TS_TAI};
    assert_int_equal(ff_time_to_utc(&bad, &r, &err), -1);
    ff_time early = {1, 1, 1, 0, 0, 5, 0, FF_TS_TT}; /* astropy: 0000-12-31T23:59:32.816 */
    assert_int_equal(ff_time_to_utc(&early, &r, &err), -1);
    assert_non_null(strstr(err.msg, "outside years"));
    early.scale = FF_TS_TAI; /* before 1960: UTC = TAI */
    assert_int_equal(ff_time_to_utc(&early, &r, &err), 0);
    assert_int_equal(r.year, 1);
    assert_int_equal(r.second, 5);
    ff_time late = {9999, 12, 31, 23, 59, 59, 0, FF_TS_TAI};
    assert_int_equal(ff_time_to_utc(&late, &r, &err), 0);
    assert_int_equal(r.second, 22);
    char small[8];
    ff_time_format_iso(&late, small, sizeof small); /* cut short, still terminated */
    assert_int_equal(strlen(small), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso_forms),
        cmocka_unit_test(test_fractions_and_rounding),
        cmocka_unit_test(test_jsoc_and_scales),
        cmocka_unit_test(test_tai_across_leap_seconds),
        cmocka_unit_test(test_offsets_whole_and_growing),
        cmocka_unit_test(test_unix_seconds),
        cmocka_unit_test(test_date_plus_time),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_to_utc_rejects_bad_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
