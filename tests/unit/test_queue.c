/* The durable job queue: idempotent pushes, reruns, crash recovery across close/reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "server/jobs/queue.h"

/* Makes every waiting retry due, as time passing would. */
static void make_retries_due(const char *path)
{
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "UPDATE jobs SET not_before = 0", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
}

static char dir[256], db[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ff-queue-test-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof db, "%s/queue.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static void expect_counts(ff_queue *q, int pending, int running)
{
    int p = -1, r = -1;
    assert_int_equal(ff_queue_counts(q, &p, &r), 0);
    assert_int_equal(p, pending);
    assert_int_equal(r, running);
}

static void test_push_is_idempotent_and_fifo(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_queue *q = ff_queue_open(db, &err);
    assert_non_null(q);
    assert_int_equal(ff_queue_push(q, "session-aaaa", &err), 0);
    assert_int_equal(ff_queue_push(q, "session-bbbb", &err), 0);
    assert_int_equal(ff_queue_push(q, "session-aaaa", &err), 0);
    assert_int_equal(ff_queue_push(q, "session-aaaa", &err), 0);
    expect_counts(q, 2, 0);
    assert_true(ff_queue_is_active(q, "session-aaaa"));
    assert_false(ff_queue_is_active(q, "session-cccc"));

    char sid[80];
    int64_t id1, id2, id3;
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id1, &err), 0);
    assert_string_equal(sid, "session-aaaa");
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id2, &err), 0);
    assert_string_equal(sid, "session-bbbb");
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id3, &err), 1);
    expect_counts(q, 0, 2);
    assert_int_equal(ff_queue_done(q, id1, &err), 0);
    assert_int_equal(ff_queue_done(q, id2, &err), 0);
    expect_counts(q, 0, 0);
    assert_false(ff_queue_is_active(q, "session-aaaa"));
    assert_int_equal(ff_queue_push(q, "", &err), -1);
    assert_true(strlen(err.msg) > 0);
    ff_queue_close(q);
}

static void test_rerun_while_running(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_queue *q = ff_queue_open(db, &err);
    assert_non_null(q);
    char sid[80];
    int64_t id, id2;
    assert_int_equal(ff_queue_push(q, "session-rerun", &err), 0);
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id, &err), 0);
    /* New uploads arrive while it runs: not a second job, but one more run afterwards. */
    assert_int_equal(ff_queue_push(q, "session-rerun", &err), 0);
    assert_int_equal(ff_queue_push(q, "session-rerun", &err), 0);
    expect_counts(q, 0, 1);
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id2, &err), 1);
    assert_int_equal(ff_queue_done(q, id, &err), 0);
    expect_counts(q, 1, 0);
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id2, &err), 0);
    assert_string_equal(sid, "session-rerun");
    assert_int_equal(ff_queue_done(q, id2, &err), 0);
    /* Only once more: the rerun flag was consumed. */
    expect_counts(q, 0, 0);
    ff_queue_close(q);
}

static void test_release_puts_back(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_queue *q = ff_queue_open(db, &err);
    assert_non_null(q);
    char sid[80];
    int64_t id;
    assert_int_equal(ff_queue_push(q, "session-rel1", &err), 0);
    assert_int_equal(ff_queue_push(q, "session-rel2", &err), 0);
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id, &err), 0);
    assert_string_equal(sid, "session-rel1");
    assert_int_equal(ff_queue_release(q, id, &err), 0);
    expect_counts(q, 2, 0);
    /* A released job keeps its place at the front. */
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id, &err), 0);
    assert_string_equal(sid, "session-rel1");
    assert_int_equal(ff_queue_done(q, id, &err), 0);
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id, &err), 0);
    assert_string_equal(sid, "session-rel2");
    assert_int_equal(ff_queue_done(q, id, &err), 0);
    ff_queue_close(q);
}

static void test_survives_crash(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_queue *q = ff_queue_open(db, &err);
    assert_non_null(q);
    char sid[80];
    int64_t id;
    assert_int_equal(ff_queue_push(q, "session-crash", &err), 0);
    assert_int_equal(ff_queue_push(q, "session-later", &err), 0);
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id, &err), 0);
    assert_string_equal(sid, "session-crash");
    /* "Crash": close without done or release. */
    ff_queue_close(q);

    q = ff_queue_open(db, &err);
    assert_non_null(q);
    expect_counts(q, 1, 1);
    /* Another process (fitsflow clean) sees the running job as active. */
    ff_queue *other = ff_queue_open(db, &err);
    assert_non_null(other);
    assert_true(ff_queue_is_active(other, "session-crash"));
    ff_queue_close(other);

    assert_int_equal(ff_queue_recover(q, &err), 1);
    expect_counts(q, 2, 0);
    assert_int_equal(ff_queue_recover(q, &err), 0);
    int64_t id2;
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id2, &err), 0);
    assert_string_equal(sid, "session-crash");
    assert_int_equal(id2, id);
    assert_int_equal(ff_queue_done(q, id2, &err), 0);
    assert_int_equal(ff_queue_claim(q, sid, sizeof sid, &id2, &err), 0);
    assert_string_equal(sid, "session-later");
    assert_int_equal(ff_queue_done(q, id2, &err), 0);
    expect_counts(q, 0, 0);
    ff_queue_close(q);
}

static void test_open_errors(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_queue *q = ff_queue_open("/nonexistent-dir-ff/queue.db", &err);
    assert_null(q);
    assert_non_null(strstr(err.msg, "/nonexistent-dir-ff/queue.db"));
    /* A file that is not a database. */
    char junk[320];
    snprintf(junk, sizeof junk, "%s/junk.db", dir);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database file at all\n", f);
    fclose(f);
    err.msg[0] = '\0';
    q = ff_queue_open(junk, &err);
    assert_null(q);
    assert_true(strlen(err.msg) > 0);
}

/* A transient failure puts the job back with a time before which it is not claimed, counting
 * the failure; pushes do not bring it forward; a rerun starts the counts again. */
/* A job put off (its session's lease held by another instance) waits like a retry but counts no
 * failed attempt, however often. */
static void test_defer_counts_no_failure(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_queue *q = ff_queue_open(db, &err);
    assert_non_null(q);
    ff_queue_job job;
    assert_int_equal(ff_queue_push(q, "session-defer", &err), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
        assert_int_equal(job.failures, 0);
        assert_int_equal(job.attempts, i + 1);
        assert_int_equal(ff_queue_defer(q, job.id, 0, "lease held elsewhere", &err), 0);
    }
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(ff_queue_defer(q, job.id, 3600 * 1000, "lease held elsewhere", &err), 0);
    expect_counts(q, 1, 0);
    assert_true(ff_queue_is_active(q, "session-defer"));
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 1); /* not before its time */
    ff_queue_close(q);
    make_retries_due(db);
    q = ff_queue_open(db, &err);
    assert_non_null(q);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(job.failures, 0);
    assert_int_equal(ff_queue_done(q, job.id, &err), 0);
    expect_counts(q, 0, 0);
    ff_queue_close(q);
}

static void test_retry_waits(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_queue *q = ff_queue_open(db, &err);
    assert_non_null(q);
    ff_queue_job job;
    assert_int_equal(ff_queue_push(q, "session-retry", &err), 0);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(job.attempts, 1);
    assert_int_equal(job.failures, 0);
    assert_int_equal(ff_queue_retry(q, job.id, 3600 * 1000, "S3 unreachable", &err), 0);
    expect_counts(q, 1, 0);
    assert_true(ff_queue_is_active(q, "session-retry")); /* the clean spares it */
    assert_int_equal(ff_queue_push(q, "session-retry", &err), 0);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 1); /* not before an hour */
    /* Another session is not held up behind it. */
    assert_int_equal(ff_queue_push(q, "session-other", &err), 0);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_string_equal(job.sid, "session-other");
    assert_int_equal(ff_queue_done(q, job.id, &err), 0);

    /* Due now: claimed with its count of failures. */
    ff_queue_close(q);
    make_retries_due(db);
    q = ff_queue_open(db, &err);
    assert_non_null(q);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_string_equal(job.sid, "session-retry");
    assert_int_equal(job.failures, 1);
    assert_int_equal(job.attempts, 2);
    assert_int_equal(ff_queue_retry(q, job.id, 0, "again", &err), 0);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(job.failures, 2);
    /* A trigger while it runs: once more afterwards, as a new job. */
    assert_int_equal(ff_queue_push(q, "session-retry", &err), 0);
    assert_int_equal(ff_queue_done(q, job.id, &err), 0);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(job.failures, 0);
    assert_int_equal(ff_queue_done(q, job.id, &err), 0);
    expect_counts(q, 0, 0);
    ff_queue_close(q);
}

/* Crashes: a job cut short while a file was in progress blames the file, not the job; one cut
 * short between files counts against the job. A file's count survives the job (a new trigger)
 * and restarts when the upload is replaced. */
static void test_crashes_are_remembered(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_queue *q = ff_queue_open(db, &err);
    assert_non_null(q);
    ff_queue_job job;
    const char *S = "session-poison";
    assert_int_equal(ff_queue_push(q, S, &err), 0);
    for (int round = 1; round <= 2; round++) {
        assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
        assert_int_equal(job.crashes, 0);
        assert_int_equal(ff_queue_file_crashes(q, S, "bad.fits", 100, 7, &err), round - 1);
        assert_int_equal(ff_queue_file_begin(q, S, "good.fits", 50, 7, &err), 0);
        assert_int_equal(ff_queue_file_end(q, S, "good.fits", &err), 0);
        assert_int_equal(ff_queue_file_begin(q, S, "bad.fits", 100, 7, &err), 0);
        ff_queue_close(q); /* the crash */
        q = ff_queue_open(db, &err);
        assert_non_null(q);
        assert_int_equal(ff_queue_recover(q, &err), 1);
    }
    assert_int_equal(ff_queue_file_crashes(q, S, "bad.fits", 100, 7, &err), 2);
    assert_int_equal(ff_queue_file_crashes(q, S, "good.fits", 50, 7, &err), 0);
    assert_int_equal(ff_queue_file_crashes(q, S, "bad.fits", 101, 7, &err), 0); /* replaced */
    /* The third run fails the file without beginning it, and finishes. */
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(job.crashes, 0);
    assert_int_equal(ff_queue_done(q, job.id, &err), 0);
    /* Triggered again later: still known. */
    ff_queue_close(q);
    q = ff_queue_open(db, &err);
    assert_int_equal(ff_queue_recover(q, &err), 0);
    assert_int_equal(ff_queue_file_crashes(q, S, "bad.fits", 100, 7, &err), 2);
    /* A new upload under the name starts from zero, and a clean run forgets it. */
    assert_int_equal(ff_queue_file_begin(q, S, "bad.fits", 101, 8, &err), 0);
    assert_int_equal(ff_queue_file_crashes(q, S, "bad.fits", 101, 8, &err), 0);
    assert_int_equal(ff_queue_file_end(q, S, "bad.fits", &err), 0);
    assert_int_equal(ff_queue_file_crashes(q, S, "bad.fits", 101, 8, &err), 0);

    /* Two files in progress at a crash: both only suspected, and until each was processed
     * alone the workers are asked to take one file at a time. The innocent one ends; the
     * guilty one crashes again alone: twice. */
    assert_false(ff_queue_needs_care(q));
    assert_int_equal(ff_queue_push(q, "session-pair", &err), 0);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(ff_queue_file_begin(q, "session-pair", "a.fits", 1, 1, &err), 0);
    assert_int_equal(ff_queue_file_begin(q, "session-pair", "b.fits", 1, 1, &err), 0);
    ff_queue_close(q);
    q = ff_queue_open(db, &err);
    assert_int_equal(ff_queue_recover(q, &err), 1);
    assert_true(ff_queue_needs_care(q));
    assert_int_equal(ff_queue_file_crashes(q, "session-pair", "a.fits", 1, 1, &err), 0);
    assert_int_equal(ff_queue_file_crashes(q, "session-pair", "b.fits", 1, 1, &err), 0);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(ff_queue_file_begin(q, "session-pair", "a.fits", 1, 1, &err), 0);
    assert_int_equal(ff_queue_file_end(q, "session-pair", "a.fits", &err), 0);
    assert_true(ff_queue_needs_care(q)); /* b still unknown */
    assert_int_equal(ff_queue_file_begin(q, "session-pair", "b.fits", 1, 1, &err), 0);
    ff_queue_close(q);
    q = ff_queue_open(db, &err);
    assert_int_equal(ff_queue_recover(q, &err), 1);
    assert_false(ff_queue_needs_care(q));
    assert_int_equal(ff_queue_file_crashes(q, "session-pair", "a.fits", 1, 1, &err), 0);
    assert_int_equal(ff_queue_file_crashes(q, "session-pair", "b.fits", 1, 1, &err), 2);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(ff_queue_done(q, job.id, &err), 0);

    /* Cut short between files: the job's own count. */
    assert_int_equal(ff_queue_push(q, "session-between", &err), 0);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    ff_queue_close(q);
    q = ff_queue_open(db, &err);
    assert_int_equal(ff_queue_recover(q, &err), 1);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_string_equal(job.sid, "session-between");
    assert_int_equal(job.crashes, 1);
    /* A graceful stop is not a crash. */
    assert_int_equal(ff_queue_release(q, job.id, &err), 0);
    assert_int_equal(ff_queue_recover(q, &err), 0);
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_int_equal(job.crashes, 1);
    assert_int_equal(ff_queue_done(q, job.id, &err), 0);
    ff_queue_close(q);
}

/* A queue.db written before retries and crash counts existed opens, gains the columns, and its
 * jobs are taken up. */
static void test_old_schema_is_upgraded(void **state)
{
    (void)state;
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw,
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, sid TEXT NOT NULL UNIQUE, "
        "state TEXT NOT NULL CHECK (state IN ('pending', 'running')), rerun INTEGER NOT NULL "
        "DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, queued_at INTEGER NOT NULL, started_at "
        "INTEGER); INSERT INTO jobs (sid, state, queued_at) VALUES ('session-old', 'running', 1);",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    ff_err err = {0};
    ff_queue *q = ff_queue_open(db, &err);
    if (!q)
        fail_msg("%s", err.msg);
    assert_int_equal(ff_queue_recover(q, &err), 1);
    ff_queue_job job;
    assert_int_equal(ff_queue_claim_job(q, &job, &err), 0);
    assert_string_equal(job.sid, "session-old");
    assert_int_equal(job.crashes, 1);
    assert_int_equal(ff_queue_retry(q, job.id, 0, "x", &err), 0);
    ff_queue_close(q);
    q = ff_queue_open(db, &err); /* a second open finds the columns there */
    assert_non_null(q);
    ff_queue_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_is_idempotent_and_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerun_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_puts_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_counts_no_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crashes_are_remembered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_schema_is_upgraded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
