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

#include "server/queue.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_is_idempotent_and_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerun_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_puts_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
