/* Workers over a real queue and fs store: a pushed session gets processed (real SDO files), the
 * metrics count it, and a stop in the middle of a session puts the job back so that the next
 * start finishes it without redoing the file already done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/jobs/workers.h"

#define AIA "/usr/lib/python3/dist-packages/sunpy/data/test/aia_171_level1.fits"

static char root[256];
static ff_store *store;
static ff_queue *queue;

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/ff-workers-test-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    ff_err err;
    store = ff_store_open_fs(root, 0, &err);
    char db[300];
    snprintf(db, sizeof db, "%s/queue.db", root);
    queue = ff_queue_open(db, &err);
    return store && queue ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ff_queue_close(queue);
    ff_store_close(store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static void upload(const char *sid, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/temp/%s/fits' && cp " AIA " '%s/temp/%s/fits/%s'", root,
             sid, root, sid, name);
    assert_int_equal(system(cmd), 0);
}

static int exists(const char *key)
{
    ff_store_stat st;
    ff_err err;
    return ff_store_stat_key(store, key, &st, &err) == 0;
}

static ff_pipeline_config config(void)
{
    ff_pipeline_config cfg;
    ff_pipeline_config_defaults(&cfg);
    cfg.offline = 1;
    cfg.threads = 2;
    cfg.png_max = 128;
    return cfg;
}

static double metric(const char *text, const char *series)
{
    const char *p = strstr(text, series);
    return p ? strtod(p + strlen(series) + 1, NULL) : -1;
}

static void wait_idle(void)
{
    int p = 1, r = 1;
    for (int i = 0; i < 3000 && (p || r); i++) {
        usleep(10000);
        assert_int_equal(ff_queue_counts(queue, &p, &r), 0);
    }
    assert_int_equal(p + r, 0);
}

static void test_processes_pushed_sessions(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_pipeline_config cfg = config();
    ff_metrics *m = ff_metrics_new();
    upload("workersession1", "a.fits");
    upload("workersession1", "b.fits");
    upload("workersession2", "c.fits");
    ff_workers *w = ff_workers_start(2, queue, store, &cfg, NULL, m, &err);
    assert_non_null(w);
    assert_null(ff_workers_start(0, queue, store, &cfg, NULL, m, &err));
    assert_int_equal(ff_queue_push(queue, "workersession1", &err), 0);
    assert_int_equal(ff_queue_push(queue, "workersession2", &err), 0);
    assert_int_equal(ff_queue_push(queue, "Not-A-Session", &err), 0); /* fails, must not stall */
    ff_workers_wake(w);
    wait_idle();
    assert_false(ff_workers_session_busy(w, "workersession1"));
    ff_workers_stop(w);
    assert_true(exists("temp/workersession1/logs/summary_log_2.txt"));
    assert_true(exists("temp/workersession2/logs/summary_log_2.txt"));
    assert_true(exists("temp/workersession1/processed/manifest.json"));
    char *t = ff_metrics_render(m, 0, 0);
    assert_non_null(t);
    assert_true(metric(t, "fitsflow_jobs_total{result=\"ok\"}") == 2);
    assert_true(metric(t, "fitsflow_jobs_total{result=\"failed\"}") == 1);
    assert_true(metric(t, "fitsflow_files_total{status=\"processed\"}") == 3);
    assert_true(metric(t, "fitsflow_step_seconds_count{step=\"asdf\"}") == 3);
    free(t);
    ff_metrics_free(m);
}

/* Stops the workers from inside the first file's last log: the listener tells the test thread,
 * which calls ff_workers_stop while the listener still holds the worker. */
typedef struct stopper {
    sem_t first_done;
    atomic_int logs_for_a, calls;
    atomic_int block;
} stopper;

static void listener(void *ctx, const char *sid, const char *name, const char *text)
{
    (void)sid;
    (void)text;
    stopper *s = ctx;
    atomic_fetch_add(&s->calls, 1);
    if (!strncmp(name, "a_log_", 6))
        atomic_fetch_add(&s->logs_for_a, 1);
    if (!strcmp(name, "a_log_7.txt") && atomic_load(&s->block)) {
        sem_post(&s->first_done);
        usleep(300000);
    }
}

static void test_stop_releases_and_resumes(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_pipeline_config cfg = config();
    cfg.files_at_once = 1; /* one file at a time, so that "stopped after a.fits" is exact */
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "%c.fits", 'a' + i);
        upload("stopsession", name);
    }
    stopper s;
    sem_init(&s.first_done, 0, 0);
    atomic_init(&s.logs_for_a, 0);
    atomic_init(&s.calls, 0);
    atomic_init(&s.block, 1);
    ff_workers *w = ff_workers_start(1, queue, store, &cfg, NULL, NULL, &err);
    assert_non_null(w);
    ff_workers_on_log(w, listener, &s);
    assert_int_equal(ff_queue_push(queue, "stopsession", &err), 0);
    ff_workers_wake(w);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30;
    assert_int_equal(sem_timedwait(&s.first_done, &ts), 0);
    assert_true(ff_workers_session_busy(w, "stopsession"));
    ff_workers_stop(w);

    /* Back to pending, only a.fits done, no summary. */
    int p, r;
    assert_int_equal(ff_queue_counts(queue, &p, &r), 0);
    assert_int_equal(p, 1);
    assert_int_equal(r, 0);
    assert_true(exists("temp/stopsession/logs/a_log_7.txt"));
    assert_false(exists("temp/stopsession/logs/b_log_1.txt"));
    assert_false(exists("temp/stopsession/logs/summary_log_2.txt"));

    /* Next start: finishes the session, a.fits untouched. */
    atomic_store(&s.logs_for_a, 0);
    atomic_store(&s.block, 0);
    w = ff_workers_start(1, queue, store, &cfg, NULL, NULL, &err);
    assert_non_null(w);
    ff_workers_on_log(w, listener, &s);
    ff_workers_wake(w);
    wait_idle();
    ff_workers_stop(w);
    assert_true(exists("temp/stopsession/logs/d_log_7.txt"));
    assert_true(exists("temp/stopsession/logs/summary_log_2.txt"));
    assert_int_equal(atomic_load(&s.logs_for_a), 0);
    sem_destroy(&s.first_done);
}

static void test_recovers_jobs_left_running(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_pipeline_config cfg = config();
    upload("crashsession", "a.fits");
    /* A previous process claimed the job and died. */
    char sid[80];
    int64_t id;
    assert_int_equal(ff_queue_push(queue, "crashsession", &err), 0);
    assert_int_equal(ff_queue_claim(queue, sid, sizeof sid, &id, &err), 0);
    ff_workers *w = ff_workers_start(1, queue, store, &cfg, NULL, NULL, &err);
    assert_non_null(w);
    wait_idle();
    ff_workers_stop(w);
    assert_true(exists("temp/crashsession/logs/summary_log_2.txt"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_processes_pushed_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_releases_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovers_jobs_left_running, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
