/* Cron parsing and next-fire times (expected times worked out by hand from the calendar, and a
 * minute-by-minute scan as a second opinion), and the scheduler thread's run-now and prompt stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/jobs/scheduler.h"

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
                    .tm_sec = s};
    return timegm(&tm);
}

static void test_parse_fields(void **state)
{
    (void)state;
    ff_cron c;
    ff_err err = {0};
    assert_int_equal(ff_cron_parse("*/15 0-6/2 1,15 JAN-MAR mon-fri", &c, &err), 0);
    assert_true(c.minutes == ((1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45)));
    assert_int_equal(c.hours, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 6));
    assert_int_equal(c.mdays, (1u << 1) | (1u << 15));
    assert_int_equal(c.months, (1u << 1) | (1u << 2) | (1u << 3));
    assert_int_equal(c.wdays, 0x3e);
    assert_false(c.mday_any);
    assert_false(c.wday_any);

    assert_int_equal(ff_cron_parse("  0 4 * * ?  ", &c, &err), 0);
    assert_true(c.minutes == 1);
    assert_int_equal(c.hours, 1u << 4);
    assert_int_equal(c.mdays, 0xfffffffeu);
    assert_int_equal(c.months, 0x1ffe);
    assert_int_equal(c.wdays, 0x7f);
    assert_true(c.mday_any && c.wday_any);

    /* "a/n" runs from a to the end; 7 is Sunday; 5-7 wraps onto Sunday. */
    assert_int_equal(ff_cron_parse("50/5 * * * 5-7", &c, &err), 0);
    assert_true(c.minutes == ((1ull << 50) | (1ull << 55)));
    assert_int_equal(c.wdays, (1u << 5) | (1u << 6) | 1u);
    assert_int_equal(ff_cron_parse("@daily", &c, &err), 0);
    assert_true(c.minutes == 1 && c.hours == 1);
    assert_int_equal(ff_cron_parse("0 0 * * 7", &c, &err), 0);
    assert_int_equal(c.wdays, 1);
}

static void test_invalid(void **state)
{
    (void)state;
    static const struct { const char *expr, *needle; } bad[] = {
        {"", "needs 5"},
        {"* * * *", "has 4 fields"},
        {"* * * * * *", "has 6 fields"},
        {"60 * * * *", "minute: 60 is outside 0-59"},
        {"* 24 * * *", "hour: 24 is outside 0-23"},
        {"* * 0 * *", "day of month: 0 is outside 1-31"},
        {"* * * 13 *", "month: 13 is outside 1-12"},
        {"* * * * 8", "day of week: 8 is outside 0-7"},
        {"5-1 * * * *", "runs backwards"},
        {"*/0 * * * *", "step"},
        {"*/ * * * *", "step"},
        {"a * * * *", "minute: 'a' is not a valid value"},
        {"1,,2 * * * *", "empty element"},
        {"1, * * * *", "empty element"},
        {"? * * * *", "only allowed in the day fields"},
        {"* * * FOO *", "month: 'FOO'"},
        {"99999999999999999999 * * * *", "minute:"},
        {"@sometimes", "unknown cron shorthand"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ff_cron c;
        ff_err err = {0};
        assert_int_equal(ff_cron_parse(bad[i].expr, &c, &err), -1);
        if (!strstr(err.msg, bad[i].needle))
            fail_msg("'%s': error '%s' does not mention '%s'", bad[i].expr, err.msg, bad[i].needle);
    }
    ff_err err = {0};
    ff_cron c;
    assert_int_equal(ff_cron_parse(NULL, &c, &err), -1);
}

static void expect_next(const char *expr, time_t after, time_t want)
{
    ff_cron c;
    ff_err err = {0};
    if (ff_cron_parse(expr, &c, &err) != 0)
        fail_msg("'%s': %s", expr, err.msg);
    time_t got = 0;
    assert_int_equal(ff_cron_next(&c, after, &got), 0);
    if (got != want) {
        char a[40], b[40];
        struct tm tm;
        strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&got, &tm));
        strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&want, &tm));
        fail_msg("'%s': next fire %s, expected %s", expr, a, b);
    }
}

static void test_next_fire(void **state)
{
    (void)state;
    /* The nightly clean at 04:00 UTC, across a leap day. */
    expect_next("0 4 * * *", utc(2024, 2, 28, 5, 0, 0), utc(2024, 2, 29, 4, 0, 0));
    expect_next("0 4 * * *", utc(2024, 2, 29, 3, 59, 59), utc(2024, 2, 29, 4, 0, 0));
    expect_next("0 4 * * *", utc(2024, 2, 29, 4, 0, 0), utc(2024, 3, 1, 4, 0, 0)); /* strictly after */
    expect_next("30 12 29 2 *", utc(2023, 3, 1, 0, 0, 0), utc(2024, 2, 29, 12, 30, 0));
    expect_next("0 0 1 1 *", utc(2024, 12, 31, 23, 59, 30), utc(2025, 1, 1, 0, 0, 0));
    expect_next("*/15 * * * *", utc(2024, 5, 5, 10, 44, 59), utc(2024, 5, 5, 10, 45, 0));
    expect_next("*/15 * * * *", utc(2024, 5, 5, 23, 45, 0), utc(2024, 5, 6, 0, 0, 0));
    /* 2024-06-05 is a Wednesday; the next Monday is the 10th. */
    expect_next("0 9 * * MON", utc(2024, 6, 5, 0, 0, 0), utc(2024, 6, 10, 9, 0, 0));
    /* Both day fields restricted: the 13th OR a Friday. 2024-09-01 is a Sunday, so Friday the
     * 6th comes first (the 13th is also a Friday: AND would wrongly give the 13th). */
    expect_next("0 0 13 * 5", utc(2024, 9, 1, 0, 0, 0), utc(2024, 9, 6, 0, 0, 0));
    /* "*" in a day field: the other one alone decides; */
    expect_next("0 0 */2 * *", utc(2024, 1, 31, 12, 0, 0), utc(2024, 2, 1, 0, 0, 0));
    expect_next("0 0 * * 7", utc(2024, 9, 1, 0, 0, 0), utc(2024, 9, 8, 0, 0, 0));
    /* Last minute of the year, hours and minute lists. */
    expect_next("59 23 31 12 *", utc(2024, 1, 1, 0, 0, 0), utc(2024, 12, 31, 23, 59, 0));
    expect_next("5,10 1-2 * * *", utc(2024, 7, 1, 1, 10, 0), utc(2024, 7, 1, 2, 5, 0));
    expect_next("0 12 1 * *", utc(2024, 1, 31, 12, 0, 0), utc(2024, 2, 1, 12, 0, 0));
    /* Negative (pre-1970) start still works minute-aligned. */
    expect_next("0 0 * * *", utc(1969, 12, 31, 12, 0, 30), utc(1970, 1, 1, 0, 0, 0));

    ff_cron c;
    ff_err err = {0};
    time_t t;
    assert_int_equal(ff_cron_parse("0 0 30 2 *", &c, &err), 0);
    assert_int_equal(ff_cron_next(&c, utc(2024, 1, 1, 0, 0, 0), &t), -1);
}

/* A second opinion: scan minute by minute with plain field tests. */
static int oracle_matches(const ff_cron *c, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    int md = (c->mdays >> tm.tm_mday) & 1, wd = (c->wdays >> tm.tm_wday) & 1;
    int day = (c->mday_any || c->wday_any) ? (md && wd) : (md || wd);
    return ((c->minutes >> tm.tm_min) & 1) && ((c->hours >> tm.tm_hour) & 1) && day &&
           ((c->months >> (tm.tm_mon + 1)) & 1);
}

static void test_against_scan(void **state)
{
    (void)state;
    static const char *exprs[] = {"0 4 * * *", "*/7 */5 * * *", "15 3 1-7 * 1", "0 0 13 * FRI",
                                  "30 6 */10 2,8 *", "0 22 * * 1-5", "1 2 3 4 *", "45 23 28-31 * *"};
    time_t starts[] = {utc(2023, 12, 30, 23, 58, 17), utc(2024, 2, 27, 1, 0, 0),
                       utc(2025, 6, 15, 12, 34, 56)};
    for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++) {
        ff_cron c;
        ff_err err = {0};
        assert_int_equal(ff_cron_parse(exprs[e], &c, &err), 0);
        for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
            time_t after = starts[s];
            for (int k = 0; k < 3; k++) {
                time_t want = after - after % 60 + 60;
                while (!oracle_matches(&c, want))
                    want += 60;
                time_t got;
                assert_int_equal(ff_cron_next(&c, after, &got), 0);
                if (got != want)
                    fail_msg("'%s' after %lld: got %lld, scan says %lld", exprs[e],
                             (long long)after, (long long)got, (long long)want);
                after = got;
            }
        }
    }
}

typedef struct counter {
    atomic_int runs;
    atomic_int saw_stop;
} counter;

static void count_job(void *ctx, ff_scheduler *s, time_t when)
{
    (void)s;
    (void)when;
    atomic_fetch_add(&((counter *)ctx)->runs, 1);
}

static void long_job(void *ctx, ff_scheduler *s, time_t when)
{
    (void)when;
    counter *c = ctx;
    atomic_fetch_add(&c->runs, 1);
    for (int i = 0; i < 3000 && !ff_scheduler_stopping(s); i++)
        usleep(10000);
    atomic_store(&c->saw_stop, ff_scheduler_stopping(s));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_scheduler_thread(void **state)
{
    (void)state;
    ff_err err = {0};
    counter a = {0}, b = {0};
    ff_scheduler *s = ff_scheduler_new(&err);
    assert_non_null(s);
    assert_int_equal(ff_scheduler_add(s, "clean", "0 4 * * *", count_job, &a, &err), 0);
    assert_int_equal(ff_scheduler_add(s, "movie", "0 0 1 1 *", long_job, &b, &err), 0);
    assert_int_equal(ff_scheduler_add(s, "bad", "0 4 * *", count_job, &a, &err), -1);
    assert_non_null(strstr(err.msg, "job 'bad'"));
    assert_int_equal(ff_scheduler_start(s, &err), 0);
    assert_int_equal(ff_scheduler_add(s, "late", "* * * * *", count_job, &a, &err), -1);
    assert_int_equal(ff_scheduler_run_now(s, "nope"), -1);

    assert_int_equal(ff_scheduler_run_now(s, "clean"), 0);
    for (int i = 0; i < 200 && ff_scheduler_runs(s, "clean") < 1; i++)
        usleep(10000);
    assert_int_equal(ff_scheduler_runs(s, "clean"), 1);
    assert_int_equal(atomic_load(&a.runs), 1);

    /* A long job is running: stop must still be prompt because the job polls stopping. */
    assert_int_equal(ff_scheduler_run_now(s, "movie"), 0);
    for (int i = 0; i < 200 && atomic_load(&b.runs) < 1; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&b.runs), 1);
    double t0 = now_s();
    ff_scheduler_stop(s);
    double took = now_s() - t0;
    assert_true(took < 1.0);
    assert_int_equal(atomic_load(&b.saw_stop), 1);
    assert_int_equal(atomic_load(&a.runs), 1); /* not fired by the clock in the meantime */

    /* Idle scheduler (sleeping until 04:00) stops promptly too; a never-started one frees. */
    s = ff_scheduler_new(&err);
    assert_int_equal(ff_scheduler_add(s, "clean", "0 4 * * *", count_job, &a, &err), 0);
    assert_int_equal(ff_scheduler_start(s, &err), 0);
    usleep(50000);
    t0 = now_s();
    ff_scheduler_stop(s);
    assert_true(now_s() - t0 < 1.0);
    ff_scheduler_stop(ff_scheduler_new(&err));
    ff_scheduler_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields),     cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_next_fire),        cmocka_unit_test(test_against_scan),
        cmocka_unit_test(test_scheduler_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
