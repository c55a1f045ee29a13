/* Worker threads: claim a session from the queue, run the session pipeline on it, mark it done
 * (or put it back when asked to stop, or schedule a retry when the store failed in a way that
 * may pass). Idle workers sleep on a condition variable that a push wakes, with a one-second
 * poll as a safety net (another process may push too; retries come due). The queue also hears
 * which file each session is processing, so that one that crashed the server twice is not
 * tried a third time. */
#include "server/jobs/workers.h"
#include "base/clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "pipeline/lease.h"
#include "pipeline/session.h"

struct ff_workers {
    int n;
    pthread_t *threads;
    struct worker_arg {
        struct ff_workers *w;
        int index;
    } *args;
    int started;
    ff_queue *q;
    ff_store *store;
    ff_pipeline_config cfg;
    ff_metrics *metrics;
    ff_job_retry retry;
    atomic_int stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned long wakes;
    ff_workers_log_fn log_fn;
    void *log_ctx;
    ff_leases *leases;      /* NULL: the only instance on its store (fs) */
};

/* What the session hooks of one worker see: the workers, and the lease its session runs under. */
typedef struct wctx {
    ff_workers *w;
    ff_lease *lease;
} wctx;

static void hook_log(void *ctx, const char *sid, const char *name, const char *text)
{
    ff_workers *w = ((wctx *)ctx)->w;
    pthread_mutex_lock(&w->lock);
    ff_workers_log_fn fn = w->log_fn;
    void *fctx = w->log_ctx;
    pthread_mutex_unlock(&w->lock);
    if (fn)
        fn(fctx, sid, name, text);
}

static void hook_step_time(void *ctx, int step, double seconds)
{
    ff_workers *w = ((wctx *)ctx)->w;
    ff_metrics_step(w->metrics, step, seconds);
}

static void hook_file(void *ctx, const ff_file_result *r)
{
    ff_workers *w = ((wctx *)ctx)->w;
    ff_metrics_file(w->metrics, ff_file_status_name(r->status));
}

/* Shutdown, or the session's lease lost (another instance may take the session over): stop
 * between files. */
static int hook_should_stop(void *ctx)
{
    wctx *c = ctx;
    return atomic_load(&c->w->stop) || (c->lease && !ff_lease_valid(c->lease));
}

static int hook_file_crashes(void *ctx, const char *sid, const char *name, const ff_store_stat *st)
{
    ff_workers *w = ((wctx *)ctx)->w;
    ff_err err = {0};
    int n = ff_queue_file_crashes(w->q, sid, name, st->size, (int64_t)st->mtime, &err);
    if (n < 0)
        ff_log(FF_LOG_ERROR, sid, name, "%s", err.msg);
    return n < 0 ? 0 : n;
}

static void hook_file_begin(void *ctx, const char *sid, const char *name, const ff_store_stat *st)
{
    ff_workers *w = ((wctx *)ctx)->w;
    ff_err err = {0};
    if (ff_queue_file_begin(w->q, sid, name, st->size, (int64_t)st->mtime, &err) != 0)
        ff_log(FF_LOG_ERROR, sid, name, "%s", err.msg);
}

static void hook_file_end(void *ctx, const char *sid, const char *name)
{
    ff_workers *w = ((wctx *)ctx)->w;
    ff_err err = {0};
    if (ff_queue_file_end(w->q, sid, name, &err) != 0)
        ff_log(FF_LOG_ERROR, sid, name, "%s", err.msg);
}

/* The wait before the retry that follows `failures` failed attempts: backoff doubled per
 * failure, capped, then a random point in [d/2, d] so that sessions failing together (the store
 * went away) do not all come back at once. */
static int64_t retry_delay_ms(const ff_job_retry *r, int failures, unsigned *seed)
{
    int64_t d = r->backoff_ms;
    for (int i = 0; i < failures && d < r->backoff_max_ms; i++)
        d *= 2;
    if (d > r->backoff_max_ms)
        d = r->backoff_max_ms;
    return d / 2 + (int64_t)(rand_r(seed) % (unsigned)(d - d / 2 + 1));
}

/* Sleeps until woken, stopped, or a second has passed. */
static void idle_wait(ff_workers *w)
{
    pthread_mutex_lock(&w->lock);
    unsigned long seen = w->wakes;
    struct timespec ts = ff_clock_after(CLOCK_MONOTONIC, 1.0);
    while (!atomic_load(&w->stop) && w->wakes == seen)
        if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&w->lock);
}

/* A wait of about ms, taken at random in [3/4, 5/4] of it, so that instances waiting for the
 * same lease do not look at the same moment. */
static int64_t jitter_ms(int64_t ms, unsigned *seed)
{
    return ms * 3 / 4 + (int64_t)(rand_r(seed) % (unsigned)(ms / 2 + 1));
}

/* Takes the session's lease when the store is shared with other instances. 0: go on (*lease set,
 * or no leases); 1: the job was put off or retried (the caller moves on). */
static int take_lease(ff_workers *w, const ff_queue_job *job, int final, unsigned *seed,
                      ff_lease **lease)
{
    *lease = NULL;
    if (!w->leases)
        return 0;
    char name[FF_LEASE_NAME_MAX + sizeof job->sid];
    snprintf(name, sizeof name, "sessions/%s", job->sid);
    ff_err err = {0}, qerr = {0};
    int rc = ff_lease_acquire(w->leases, name, lease, &err);
    if (rc == 0) {
        ff_log(FF_LOG_INFO, job->sid, NULL, "lease taken (job %lld)", (long long)job->id);
        return 0;
    }
    if (rc == 1) {
        /* Not a failure: the session runs elsewhere now; look again soon, as often as needed. */
        int64_t delay = jitter_ms(ff_leases_wait_ms(w->leases), seed);
        ff_log(FF_LOG_INFO, job->sid, NULL, "job %lld waits: %s; looking again in %.1f s",
               (long long)job->id, err.msg, (double)delay / 1000);
        if (ff_queue_defer(w->q, job->id, delay, err.msg, &qerr) != 0)
            ff_log(FF_LOG_ERROR, job->sid, NULL, "%s", qerr.msg);
        return 1;
    }
    /* The store failed: an attempt lost, as when processing fails for that reason. Without the
     * lease nothing may be processed, so the last attempt ends the job. */
    if (!final) {
        int64_t delay = retry_delay_ms(&w->retry, job->failures, seed);
        ff_log(FF_LOG_WARN, job->sid, NULL, "job %lld: attempt %d of %d failed: %s; next attempt "
               "in %.1f s", (long long)job->id, job->failures + 1, (int)w->retry.attempts, err.msg,
               (double)delay / 1000);
        if (ff_queue_retry(w->q, job->id, delay, err.msg, &qerr) != 0)
            ff_log(FF_LOG_ERROR, job->sid, NULL, "%s", qerr.msg);
    } else {
        ff_log(FF_LOG_ERROR, job->sid, NULL, "job %lld failed on its last attempt: %s; trigger the "
               "session again once the store answers", (long long)job->id, err.msg);
        ff_metrics_job(w->metrics, 0);
        if (ff_queue_done(w->q, job->id, &qerr) != 0)
            ff_log(FF_LOG_ERROR, job->sid, NULL, "%s", qerr.msg);
    }
    return 1;
}

/* The next job for worker `index`: 0 with *job (and *careful: after a crash with several files
 * in progress, one file at a time on one worker until the suspects have been processed alone, so
 * that a second crash names its file); 1 when there is none now (the worker waited). */
static int next_job(ff_workers *w, int index, ff_queue_job *job, int *careful)
{
    ff_err err = {0};
    *careful = ff_queue_needs_care(w->q);
    if (*careful && index > 0) {
        idle_wait(w);
        return 1;
    }
    int rc = ff_queue_claim_job(w->q, job, &err);
    if (rc < 0)
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err.msg);
    if (rc != 0)
        idle_wait(w);
    return rc != 0;
}

/* A job whose runs keep bringing the server down while no file is processed: even finishing it
 * without processing anything did (3 times: dropped), or it is given up (2 times: every file not
 * finished fails, the session is finished). 1 when the job was dropped. */
static int crashed_too_often(ff_workers *w, const ff_queue_job *job, ff_session_opts *opts,
                             char *give_up, size_t cap)
{
    if (job->crashes >= 3) {
        ff_err err = {0};
        ff_log(FF_LOG_ERROR, job->sid, NULL, "job %lld dropped: it was cut short %d times while no "
               "file was being processed", (long long)job->id, job->crashes);
        ff_metrics_job(w->metrics, 0);
        if (ff_queue_done(w->q, job->id, &err) != 0)
            ff_log(FF_LOG_ERROR, job->sid, NULL, "%s", err.msg);
        return 1;
    }
    if (job->crashes >= 2) {
        snprintf(give_up, cap, "processing of this session was cut short %d times while no file "
                 "was being processed (the server stopped: a crash, or no memory left); it is not "
                 "tried again", job->crashes);
        opts->give_up = give_up;
        opts->final = 1;
    }
    return 0;
}

/* What the run's outcome means for the job: retried later (a transient failure, not the last
 * attempt), put off (the lease was lost), back to pending (shutdown), or done. */
static void settle_job(ff_workers *w, const ff_queue_job *job, int rc, int lost,
                       const ff_session_opts *opts, const ff_err *run_err, unsigned *seed)
{
    const char *sid = job->sid;
    long long id = (long long)job->id;
    ff_err err = {0};
    if (rc < 0 && run_err->kind == FF_ERR_TRANSIENT && !opts->final) {
        int64_t delay = retry_delay_ms(&w->retry, job->failures, seed);
        ff_log(FF_LOG_WARN, sid, NULL, "job %lld: attempt %d of %d failed: %s; next attempt in "
               "%.1f s", id, job->failures + 1, (int)w->retry.attempts, run_err->msg,
               (double)delay / 1000);
        if (ff_queue_retry(w->q, job->id, delay, run_err->msg, &err) != 0)
            ff_log(FF_LOG_ERROR, sid, NULL, "%s", err.msg);
    } else if (rc == 1 && lost && !atomic_load(&w->stop)) {
        /* The lease could not be renewed (the store away, or this process paused): another
         * instance may be processing the session now. Look again later; files finished are not
         * redone. */
        int64_t delay = jitter_ms(ff_leases_wait_ms(w->leases), seed);
        ff_log(FF_LOG_WARN, sid, NULL, "job %lld stopped: the session's lease was lost; looking "
               "again in %.1f s", id, (double)delay / 1000);
        if (ff_queue_defer(w->q, job->id, delay, "the session's lease was lost", &err) != 0)
            ff_log(FF_LOG_ERROR, sid, NULL, "%s", err.msg);
    } else if (rc == 1) {
        if (ff_queue_release(w->q, job->id, &err) != 0)
            ff_log(FF_LOG_ERROR, sid, NULL, "%s", err.msg);
        ff_log(FF_LOG_INFO, sid, NULL, "job %lld interrupted by shutdown; it resumes at the next "
               "start", id);
    } else {
        if (rc < 0)
            ff_log(FF_LOG_ERROR, sid, NULL, "job %lld failed%s: %s", id,
                   opts->final && job->failures ? " on its last attempt" : "", run_err->msg);
        else
            ff_log(FF_LOG_INFO, sid, NULL, "job %lld done", id);
        ff_metrics_job(w->metrics, rc == 0);
        if (ff_queue_done(w->q, job->id, &err) != 0)
            ff_log(FF_LOG_ERROR, sid, NULL, "%s", err.msg);
    }
}

static void *worker(void *arg)
{
    ff_workers *w = ((struct worker_arg *)arg)->w;
    int index = ((struct worker_arg *)arg)->index;
    wctx c = {.w = w};
    ff_session_hooks hooks = {.on_log = hook_log, .on_step_time = hook_step_time,
                              .should_stop = hook_should_stop, .ctx = &c, .on_file = hook_file,
                              .file_crashes = hook_file_crashes, .file_begin = hook_file_begin,
                              .file_end = hook_file_end};
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&hooks;
    while (!atomic_load(&w->stop)) {
        ff_queue_job job;
        int careful;
        if (next_job(w, index, &job, &careful) != 0)
            continue;
        ff_session_opts opts = {.final = job.failures + 1 >= w->retry.attempts, .max_crashes = 2};
        char give_up[300];
        if (crashed_too_often(w, &job, &opts, give_up, sizeof give_up) ||
            take_lease(w, &job, opts.final, &seed, &c.lease) != 0)
            continue;
        ff_log(FF_LOG_INFO, job.sid, NULL, "job %lld started (attempt %d of %d)", (long long)job.id,
               job.failures + 1, (int)w->retry.attempts);
        if (careful)
            ff_log(FF_LOG_INFO, job.sid, NULL, "one file at a time: a crash happened while several "
                   "files were in progress");
        int files = careful ? 1 : w->cfg.files_at_once > 0 ? w->cfg.files_at_once : 1;
        ff_err err = {0};
        int rc = ff_session_process_opts(&w->cfg, w->store, job.sid, files, &hooks, &opts, &err);
        int lost = c.lease && !ff_lease_valid(c.lease);
        if (c.lease) {
            ff_lease_release(c.lease);
            c.lease = NULL;
            ff_log(FF_LOG_INFO, job.sid, NULL, "lease released (job %lld)", (long long)job.id);
        }
        settle_job(w, &job, rc, lost, &opts, &err, &seed);
    }
    return NULL;
}

/* A session whose lease was abandoned (its holder died or was stopped for good): queued here, so
 * that it is finished even when no trigger reached this instance. */
static void on_orphan(void *ctx, const char *name)
{
    ff_workers *w = ctx;
    const char *sid = name + strlen("sessions/");
    ff_err err = {0};
    if (strncmp(name, "sessions/", 9) != 0 || !ff_session_id_valid(sid) ||
        ff_queue_is_active(w->q, sid))
        return;
    if (ff_queue_push(w->q, sid, &err) != 0) {
        ff_log(FF_LOG_ERROR, sid, NULL, "cannot queue an abandoned session: %s", err.msg);
        return;
    }
    ff_log(FF_LOG_INFO, sid, NULL, "session queued here: its lease was not renewed for %.0f s "
           "(the instance processing it stopped)", ff_leases_config(w->leases)->seconds);
    ff_workers_wake(w);
}

ff_workers *ff_workers_start(int n, ff_queue *q, ff_store *store, const ff_pipeline_config *cfg,
                             const ff_job_retry *retry, ff_metrics *metrics, ff_err *err)
{
    return ff_workers_start_leased(n, q, store, cfg, retry, metrics, NULL, err);
}

ff_workers *ff_workers_start_leased(int n, ff_queue *q, ff_store *store,
                                    const ff_pipeline_config *cfg, const ff_job_retry *retry,
                                    ff_metrics *metrics, ff_leases *leases, ff_err *err)
{
    if (n < 1 || n > 256) {
        ff_err_set(err, "the number of workers must be from 1 to 256, not %d", n);
        return NULL;
    }
    ff_workers *w = calloc(1, sizeof *w);
    if (!w || !(w->threads = calloc((size_t)n, sizeof *w->threads)) ||
        !(w->args = calloc((size_t)n, sizeof *w->args))) {
        if (w)
            free(w->threads);
        free(w);
        ff_err_set(err, "out of memory");
        return NULL;
    }
    w->n = n;
    w->q = q;
    w->store = store;
    w->cfg = *cfg;
    /* Each session may use every core (the sessions running at once share them): a session
     * running alone is not held to a fraction of the machine. */
    w->cfg.threads = cfg->threads > 0 ? cfg->threads : 1;
    w->metrics = metrics;
    w->leases = leases;
    if (retry) {
        w->retry = *retry;
    } else {
        ff_server_config defaults;
        ff_server_config_defaults(&defaults);
        w->retry = defaults.retry;
    }
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
    if (leases)
        ff_leases_watch(leases, "sessions/", on_orphan, w);
    for (; w->started < n; w->started++) {
        w->args[w->started] = (struct worker_arg){w, w->started};
        int rc = pthread_create(&w->threads[w->started], NULL, worker, &w->args[w->started]);
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
    if (w->leases)
        ff_leases_watch(w->leases, NULL, NULL, NULL);
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->started; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w->args);
    free(w);
}
