/* Worker threads: claim a session from the queue, run the session pipeline on it, mark it done
 * (or put it back when asked to stop). Idle workers sleep on a condition variable that a push
 * wakes, with a one-second poll as a safety net (another process may push too). */
#include "server/workers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "pipeline/session.h"

struct ff_workers {
    int n;
    pthread_t *threads;
    int started;
    ff_queue *q;
    ff_store *store;
    ff_pipeline_config cfg;
    ff_metrics *metrics;
    atomic_int stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned long wakes;
    ff_workers_log_fn log_fn;
    void *log_ctx;
};

static void hook_log(void *ctx, const char *sid, const char *name, const char *text)
{
    ff_workers *w = ctx;
    pthread_mutex_lock(&w->lock);
    ff_workers_log_fn fn = w->log_fn;
    void *fctx = w->log_ctx;
    pthread_mutex_unlock(&w->lock);
    if (fn)
        fn(fctx, sid, name, text);
}

static void hook_step_time(void *ctx, int step, double seconds)
{
    ff_workers *w = ctx;
    ff_metrics_step(w->metrics, step, seconds);
}

static void hook_file(void *ctx, const ff_file_result *r)
{
    ff_workers *w = ctx;
    ff_metrics_file(w->metrics, ff_file_status_name(r->status));
}

static int hook_should_stop(void *ctx)
{
    ff_workers *w = ctx;
    return atomic_load(&w->stop);
}

/* Sleeps until woken, stopped, or a second has passed. */
static void idle_wait(ff_workers *w)
{
    pthread_mutex_lock(&w->lock);
    unsigned long seen = w->wakes;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 1;
    while (!atomic_load(&w->stop) && w->wakes == seen)
        if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&w->lock);
}

static void *worker(void *arg)
{
    ff_workers *w = arg;
    ff_session_hooks hooks = {.on_log = hook_log, .on_step_time = hook_step_time,
                              .should_stop = hook_should_stop, .ctx = w, .on_file = hook_file};
    while (!atomic_load(&w->stop)) {
        char sid[FF_SESSION_ID_MAX + 64];
        int64_t id;
        ff_err err = {0};
        int rc = ff_queue_claim(w->q, sid, sizeof sid, &id, &err);
        if (rc == 1) {
            idle_wait(w);
            continue;
        }
        if (rc < 0) {
            ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err.msg);
            idle_wait(w);
            continue;
        }
        ff_log(FF_LOG_INFO, sid, NULL, "job %lld started", (long long)id);
        rc = ff_session_process(&w->cfg, w->store, sid,
                                w->cfg.files_at_once > 0 ? w->cfg.files_at_once : 1, &hooks, &err);
        if (rc == 1) {
            if (ff_queue_release(w->q, id, &err) != 0)
                ff_log(FF_LOG_ERROR, sid, NULL, "%s", err.msg);
            ff_log(FF_LOG_INFO, sid, NULL, "job %lld interrupted by shutdown; it resumes at the "
                                           "next start", (long long)id);
            continue;
        }
        if (rc < 0)
            ff_log(FF_LOG_ERROR, sid, NULL, "job %lld failed: %s", (long long)id, err.msg);
        else
            ff_log(FF_LOG_INFO, sid, NULL, "job %lld done", (long long)id);
        ff_metrics_job(w->metrics, rc == 0);
        if (ff_queue_done(w->q, id, &err) != 0)
            ff_log(FF_LOG_ERROR, sid, NULL, "%s", err.msg);
    }
    return NULL;
}

ff_workers *ff_workers_start(int n, ff_queue *q, ff_store *store, const ff_pipeline_config *cfg,
                             ff_metrics *metrics, ff_err *err)
{
    if (n < 1 || n > 256) {
        ff_err_set(err, "the number of workers must be from 1 to 256, not %d", n);
        return NULL;
    }
    ff_workers *w = calloc(1, sizeof *w);
    if (!w || !(w->threads = calloc((size_t)n, sizeof *w->threads))) {
        free(w);
        ff_err_set(err, "out of memory");
        return NULL;
    }
    w->n = n;
    w->q = q;
    w->store = store;
    w->cfg = *cfg;
    /* The cores are shared between the sessions running at once. */
    w->cfg.threads = cfg->threads / n > 0 ? cfg->threads / n : 1;
    w->metrics = metrics;
    atomic_init(&w->stop, 0);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);

    int recovered = ff_queue_recover(q, err);
    if (recovered < 0) {
        ff_workers_stop(w);
        return NULL;
    }
    if (recovered > 0)
        ff_log(FF_LOG_INFO, NULL, NULL, "%d interrupted job(s) queued again", recovered);
    for (; w->started < n; w->started++) {
        int rc = pthread_create(&w->threads[w->started], NULL, worker, w);
        if (rc != 0) {
            ff_err_set(err, "cannot start worker thread %d: %s", w->started + 1, strerror(rc));
            ff_workers_stop(w);
            return NULL;
        }
    }
    return w;
}

void ff_workers_on_log(ff_workers *w, ff_workers_log_fn fn, void *ctx)
{
    pthread_mutex_lock(&w->lock);
    w->log_fn = fn;
    w->log_ctx = ctx;
    pthread_mutex_unlock(&w->lock);
}

void ff_workers_wake(ff_workers *w)
{
    pthread_mutex_lock(&w->lock);
    w->wakes++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int ff_workers_session_busy(ff_workers *w, const char *sid)
{
    return ff_queue_is_active(w->q, sid);
}

void ff_workers_stop(ff_workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->started; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
}
