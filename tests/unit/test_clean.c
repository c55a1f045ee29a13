/* The clean job on a real fs store with aged objects (utimes): only old, idle sessions go, their
 * folders with them; temp/.keep stays; busy, young and just-touched sessions stay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "pipeline/clean.h"

static char root[256];
static ff_store *store;
static time_t now;

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/ff-clean-test-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    ff_err err;
    store = ff_store_open_fs(root, 0, &err);
    now = time(NULL);
    return store ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ff_store_close(store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static void put_aged(const char *key, double hours_old)
{
    ff_err err = {0};
    assert_int_equal(ff_store_put(store, key, "x", 1, &err), 0);
    char path[1500];
    snprintf(path, sizeof path, "%s/%s", root, key);
    time_t t = now - (time_t)(hours_old * 3600);
    struct timeval tv[2] = {{.tv_sec = t}, {.tv_sec = t}};
    assert_int_equal(utimes(path, tv), 0);
}

static int exists(const char *rel)
{
    char path[1500];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    struct stat st;
    return stat(path, &st) == 0;
}

static void make_sessions(void)
{
    put_aged("temp/.keep", 500);
    put_aged("temp/oldsession1/fits/a.fits", 30);
    put_aged("temp/oldsession1/logs/a_log_1.txt", 26);
    put_aged("temp/oldsession1/processed/data/a_data.npy", 25);
    put_aged("temp/busysession/fits/b.fits", 72);
    put_aged("temp/youngsession/fits/c.fits", 2);
    put_aged("temp/mixedsession/fits/d.fits", 100);
    put_aged("temp/mixedsession/logs/d_log_7.txt", 23); /* newest decides: 23 h, kept */
    put_aged("temp/racesession/fits/e.fits", 40);
    put_aged("daily_videos/20240101_stitched.mp4", 1000); /* outside temp/: never touched */
    /* A put interrupted long ago left a stray temporary in an old session. */
    char path[1500];
    snprintf(path, sizeof path, "%s/temp/oldsession1/processed/data/.ff-tmp-abc123", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    time_t t = now - 7200;
    struct timeval tv[2] = {{.tv_sec = t}, {.tv_sec = t}};
    assert_int_equal(utimes(path, tv), 0);
}

typedef struct seen {
    int busy_calls;
    int race_touched;
    char log[1024];
} seen;

static int busy_fn(void *ctx, const char *sid)
{
    seen *s = ctx;
    s->busy_calls++;
    /* Only old sessions are asked about. */
    assert_true(strcmp(sid, "youngsession") != 0 && strcmp(sid, "mixedsession") != 0);
    if (!strcmp(sid, "racesession") && s->race_touched >= 0) {
        /* An upload arrives between the listing and the delete. */
        ff_err err;
        assert_int_equal(ff_store_put(store, "temp/racesession/fits/new.fits", "y", 1, &err), 0);
        s->race_touched = 1;
    }
    return !strcmp(sid, "busysession");
}

static void on_session(void *ctx, const char *sid, ff_clean_action a, time_t newest, long objects)
{
    (void)newest;
    seen *s = ctx;
    char line[128];
    snprintf(line, sizeof line, "%s:%c%ld ", sid, "DKB"[a], objects);
    strncat(s->log, line, sizeof s->log - strlen(s->log) - 1);
}

static void test_clean_old_sessions(void **state)
{
    (void)state;
    make_sessions();
    ff_clean_report rep;
    ff_err err = {0};
    seen s = {0};
    assert_int_equal(ff_clean_sessions_ex(store, now, 24, 0, busy_fn, on_session, &s, &rep, &err), 0);
    assert_int_equal(rep.sessions_deleted, 1);
    assert_int_equal(rep.objects_deleted, 3);
    assert_int_equal(rep.sessions_busy, 1);
    assert_int_equal(rep.sessions_kept, 3); /* young, mixed, race */
    assert_int_equal(s.busy_calls, 3);
    assert_non_null(strstr(s.log, "oldsession1:D3 "));
    assert_non_null(strstr(s.log, "busysession:B1 "));
    assert_non_null(strstr(s.log, "racesession:K"));

    assert_false(exists("temp/oldsession1"));
    assert_true(exists("temp/.keep"));
    assert_true(exists("temp"));
    assert_true(exists("temp/busysession/fits/b.fits"));
    assert_true(exists("temp/youngsession/fits/c.fits"));
    assert_true(exists("temp/mixedsession/fits/d.fits"));
    assert_true(exists("temp/racesession/fits/e.fits"));
    assert_true(exists("temp/racesession/fits/new.fits"));
    assert_true(exists("daily_videos/20240101_stitched.mp4"));

    /* Again with no busy callback and retention 0: everything in temp/ goes except .keep. */
    assert_int_equal(ff_clean_sessions(store, now + 10, 0, NULL, NULL, &rep, &err), 0);
    assert_int_equal(rep.sessions_deleted, 4);
    assert_int_equal(rep.sessions_kept, 0);
    assert_false(exists("temp/busysession"));
    assert_false(exists("temp/racesession"));
    assert_true(exists("temp/.keep"));
    assert_true(exists("daily_videos/20240101_stitched.mp4"));
    /* Nothing left: a clean no-op. */
    assert_int_equal(ff_clean_sessions(store, now + 10, 0, NULL, NULL, &rep, &err), 0);
    assert_int_equal(rep.sessions_deleted + rep.sessions_kept + rep.sessions_busy, 0);
}

static void test_dry_run_deletes_nothing(void **state)
{
    (void)state;
    make_sessions();
    ff_clean_report rep;
    ff_err err = {0};
    seen s = {.race_touched = -1};
    assert_int_equal(ff_clean_sessions_ex(store, now, 24, 1, busy_fn, on_session, &s, &rep, &err), 0);
    assert_int_equal(rep.sessions_deleted, 2); /* old + race (not touched in this run) */
    assert_int_equal(rep.objects_deleted, 4);
    assert_int_equal(rep.sessions_busy, 1);
    assert_int_equal(rep.sessions_kept, 2);
    assert_true(exists("temp/oldsession1/fits/a.fits"));
    assert_true(exists("temp/racesession/fits/e.fits"));

    assert_int_equal(ff_clean_sessions(store, now, -1, NULL, NULL, &rep, &err), -1);
    assert_non_null(strstr(err.msg, "retention"));
}

static void test_empty_store(void **state)
{
    (void)state;
    ff_clean_report rep;
    ff_err err = {0};
    assert_int_equal(ff_clean_sessions(store, now, 24, NULL, NULL, &rep, &err), 0);
    assert_int_equal(rep.sessions_deleted + rep.sessions_kept + rep.sessions_busy, 0);
    assert_int_equal(ff_store_remove_empty_folders(store, "", &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_old_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_deletes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
