/* The storage key layout (pipeline/keys.h): the exact keys the original client depends on, the
 * folders, a key too long for its buffer (nothing cut), splitting upload keys, classifying. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/keys.h"

#define SID "abcdef12-3456"

static void test_makers(void **state)
{
    (void)state;
    char k[256];
    assert_int_equal(ff_key_session(k, sizeof k, SID), 0);
    assert_string_equal(k, "temp/" SID "/");
    assert_int_equal(ff_key_upload(k, sizeof k, SID, "a.fits"), 0);
    assert_string_equal(k, "temp/" SID "/fits/a.fits");
    assert_int_equal(ff_key_upload(k, sizeof k, SID, ""), 0);
    assert_string_equal(k, "temp/" SID "/fits/");
    assert_int_equal(ff_key_processed(k, sizeof k, SID, "data/a_data.npy"), 0);
    assert_string_equal(k, "temp/" SID "/processed/data/a_data.npy");
    assert_int_equal(ff_key_log(k, sizeof k, SID, "summary_log_2.txt"), 0);
    assert_string_equal(k, "temp/" SID "/logs/summary_log_2.txt");
    assert_int_equal(ff_key_state(k, sizeof k, SID, "a"), 0);
    assert_string_equal(k, "temp/" SID "/state/a.json");
    assert_int_equal(ff_key_state(k, sizeof k, SID, NULL), 0);
    assert_string_equal(k, "temp/" SID "/state/");
    assert_int_equal(ff_key_daily_video(k, sizeof k, "20240101"), 0);
    assert_string_equal(k, "daily_videos/20240101_stitched.mp4");
    assert_int_equal(ff_key_log_name(k, sizeof k, "a", 7), 0);
    assert_string_equal(k, "a_log_7.txt");
    char small[12];
    assert_int_equal(ff_key_upload(small, sizeof small, SID, "a.fits"), -1);
    assert_string_equal(small, "");
}

static void test_split(void **state)
{
    (void)state;
    char sid[80];
    const char *name = NULL;
    ff_err err = {0};
    assert_int_equal(ff_key_split_upload("temp/" SID "/fits/a.fits", sid, sizeof sid, &name, &err), 0);
    assert_string_equal(sid, SID);
    assert_string_equal(name, "a.fits");
    const char *bad[] = {"temp/" SID "/processed/a.fits", "temp/" SID "/fits/x/a.fits", "temp/UPPER123/fits/a.fits",
                         "daily_videos/a.fits", "temp/" SID "/fits/../a.fits", "temp/short/fits/a.fits"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ff_key_split_upload(bad[i], sid, sizeof sid, &name, &err), -1);
}

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(ff_key_classify("temp/" SID "/processed/manifest.json"), FF_KEY_OUTPUT);
    assert_int_equal(ff_key_classify("temp/" SID "/state/a.json"), FF_KEY_STATE);
    assert_int_equal(ff_key_classify("temp/" SID "/fits/a.fits"), FF_KEY_OTHER);
    assert_int_equal(ff_key_classify("temp/" SID "/logs/a_log_1.txt"), FF_KEY_OTHER);
    assert_int_equal(ff_key_classify("daily_videos/20240101_stitched.mp4"), FF_KEY_DAILY_VIDEO);
    assert_int_equal(ff_key_classify("web/index.html"), FF_KEY_OTHER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_makers),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
