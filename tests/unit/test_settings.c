/* The settings table (base/settings.c): every row filled and its default accepted by its own
 * parser; one parser per type with one message; the environment read only for the commands
 * loaded; flags parsed by the same rows. (The README is held to the table by
 * tests/e2e/test_settings_documented.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/settings.h"

static void test_rows(void **state)
{
    (void)state;
    for (int id = 0; id < FF_SET_COUNT; id++) {
        const ff_setting *r = ff_setting_row((ff_setting_id)id);
        assert_non_null(r->name);
        assert_int_equal(strncmp(r->name, "FITSFLOW_", 9), 0);
        assert_non_null(r->help);
        assert_true(r->used_by != 0);
        assert_true(r->min <= r->max || r->type == FF_SETTING_CHOICE);
        for (int other = 0; other < id; other++)
            assert_string_not_equal(r->name, ff_setting_row((ff_setting_id)other)->name);
        if (r->dflt) {
            ff_setting_value v;
            ff_err err = {0};
            if (ff_setting_parse((ff_setting_id)id, NULL, r->dflt, &v, &err) != 0)
                fail_msg("%s: its default '%s' is refused: %s", r->name, r->dflt, err.msg);
        }
    }
}

static void expect_refused(ff_setting_id id, const char *text, const char *message)
{
    ff_setting_value v;
    ff_err err = {0};
    assert_int_equal(ff_setting_parse(id, NULL, text, &v, &err), -1);
    if (strcmp(err.msg, message) != 0)
        fail_msg("'%s': '%s', want '%s'", text, err.msg, message);
}

static void test_types(void **state)
{
    (void)state;
    ff_setting_value v;
    ff_err err = {0};
    assert_int_equal(ff_setting_parse(FF_SET_WORKERS, NULL, "64", &v, &err), 0);
    assert_int_equal(v.u, 64);
    assert_int_equal(v.given, 1);
    const char *uint_msg = "FITSFLOW_WORKERS must be a whole number from 1 to 64, not '%s'";
    const char *bad_uint[] = {"0", "65", "-1", "+3", " 3", "3 ", "3x", "0x10", "", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad_uint / sizeof *bad_uint; i++) {
        char want[200];
        snprintf(want, sizeof want, uint_msg, bad_uint[i]);
        expect_refused(FF_SET_WORKERS, bad_uint[i], want);
    }
    assert_int_equal(ff_setting_parse(FF_SET_HTTP_TIMEOUT, NULL, "2.5", &v, &err), 0);
    assert_true(v.d == 2.5);
    expect_refused(FF_SET_HTTP_TIMEOUT, "soon",
                   "FITSFLOW_HTTP_TIMEOUT must be a number of seconds from 0.1 to 3600, not 'soon'");
    expect_refused(FF_SET_HTTP_TIMEOUT, "nan",
                   "FITSFLOW_HTTP_TIMEOUT must be a number of seconds from 0.1 to 3600, not 'nan'");
    const char *yes[] = {"1", "true", "YES", "on"}, *no[] = {"0", "false", "No", "OFF"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ff_setting_parse(FF_SET_OFFLINE, NULL, yes[i], &v, &err), 0);
        assert_int_equal(v.u, 1);
        assert_int_equal(ff_setting_parse(FF_SET_OFFLINE, NULL, no[i], &v, &err), 0);
        assert_int_equal(v.u, 0);
    }
    expect_refused(FF_SET_SDO_ONLY, "maybe", "FITSFLOW_SDO_ONLY must be 1 or 0, not 'maybe'");
    assert_int_equal(ff_setting_parse(FF_SET_LOG_LEVEL, NULL, "WARN", &v, &err), 0);
    assert_int_equal(v.u, 2);
    expect_refused(FF_SET_LOG_LEVEL, "loud",
                   "FITSFLOW_LOG_LEVEL must be debug, info, warn or error, not 'loud'");
    expect_refused(FF_SET_STORE, "gcs", "FITSFLOW_STORE must be fs or s3, not 'gcs'");
    expect_refused(FF_SET_SECRET, "short",
                   "FITSFLOW_SECRET must be at least 16 characters long (use e.g. `openssl rand -hex 32`)");
    assert_int_equal(ff_setting_parse(FF_SET_JSOC_URL, NULL, "http://127.0.0.1:9/j///", &v, &err), 0);
    assert_int_equal(v.len, strlen("http://127.0.0.1:9/j"));
    expect_refused(FF_SET_JSOC_URL, "ftp://x",
                   "FITSFLOW_JSOC_URL must be an http:// or https:// URL of at most 511 bytes, not 'ftp://x'");
    expect_refused(FF_SET_JSOC_URL, "http://a b",
                   "FITSFLOW_JSOC_URL must be a base URL without spaces, query or fragment, not 'http://a b'");
}

static void test_flag_names_itself(void **state)
{
    (void)state;
    ff_setting_value v;
    ff_err err = {0};
    assert_int_equal(ff_setting_parse(FF_SET_WORKERS, "--workers", "0", &v, &err), -1);
    assert_string_equal(err.msg, "--workers must be a whole number from 1 to 64, not '0'");
}

static void test_load(void **state)
{
    (void)state;
    ff_settings s;
    ff_err err = {0};
    unsetenv("FITSFLOW_WORKERS");
    unsetenv("FITSFLOW_JOBS");
    setenv("FITSFLOW_WORKERS", "", 1); /* empty: unset */
    assert_int_equal(ff_settings_load(&s, FF_USE_SERVE, &err), 0);
    assert_int_equal(ff_settings_uint(&s, FF_SET_WORKERS), 2);
    assert_int_equal(ff_settings_given(&s, FF_SET_WORKERS), 0);
    setenv("FITSFLOW_WORKERS", "7", 1);
    assert_int_equal(ff_settings_load(&s, FF_USE_SERVE, &err), 0);
    assert_int_equal(ff_settings_uint(&s, FF_SET_WORKERS), 7);
    assert_int_equal(ff_settings_given(&s, FF_SET_WORKERS), 1);
    /* A variable of another command is not read, so it cannot fail this one. */
    setenv("FITSFLOW_JOBS", "lots", 1);
    assert_int_equal(ff_settings_load(&s, FF_USE_SERVE, &err), 0);
    assert_int_equal(ff_settings_load(&s, FF_USE_LAMBDA, &err), -1);
    assert_string_equal(err.msg, "FITSFLOW_JOBS must be a whole number from 1 to 64, not 'lots'");
    unsetenv("FITSFLOW_JOBS");
    unsetenv("FITSFLOW_WORKERS");
    /* No default: not present. */
    unsetenv("FITSFLOW_S3_BUCKET");
    assert_int_equal(ff_settings_load(&s, FF_USE_SERVE, &err), 0);
    assert_null(ff_settings_text(&s, FF_SET_S3_BUCKET));
    char buf[300] = "x";
    ff_settings_copy(&s, FF_SET_S3_BUCKET, buf, sizeof buf);
    assert_string_equal(buf, "");
    ff_settings_copy(&s, FF_SET_HELIOVIEWER_URL, buf, sizeof buf);
    assert_string_equal(buf, "https://api.helioviewer.org");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_flag_names_itself),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
