/* The scheduler thread: sleeps until the next job is due (at most 30 s at a time, so that a
 * changed wall clock is noticed), runs due jobs one after another, and wakes at once on stop or
 * on a run-now request. Fire times missed while the process was down are not caught up; start-up
 * jobs (the daily movie a new install lacks) run first, on this thread, after readiness. */
#include "server/jobs/scheduler.h"
#include "base/clock.h"
#include "pipeline/daily_video.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "pipeline/clean.h"
#include "pipeline/lease.h"
#include "server/jobs/queue.h"

#define MAX_JOBS 16
#define MAX_SLEEP_SECONDS 30

typedef struct sched_job {
    char name[32];
    ff_cron cron;
    ff_sched_fn fn;
    void *ctx;
    time_t next;     /* 0 when it never fires */
    int run_now;
    long runs;
} sched_job;

struct ff_scheduler {
    sched_job jobs[MAX_JOBS];
    int n;
    pthread_t thread;
    int started;
    atomic_int stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

ff_scheduler *ff_scheduler_new(ff_err *err)
{
    ff_scheduler *s = calloc(1, sizeof *s);
    if (!s) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->stop, 0);
    return s;
}

static void schedule(sched_job *j, time_t after)
{
    time_t t;
    j->next = ff_cron_next(&j->cron, after, &t) == 0 ? t : 0;
}

int ff_scheduler_add(ff_scheduler *s, const char *name, const char *expr, ff_sched_fn fn, void *ctx,
                     ff_err *err)
{
    if (s->started)
        return ff_err_set(err, "scheduler: jobs must be added before it starts");
    if (s->n >= MAX_JOBS)
        return ff_err_set(err, "scheduler: more than %d jobs", MAX_JOBS);
    if (!name || !*name || strlen(name) >= sizeof s->jobs[0].name)
        return ff_err_set(err, "scheduler: a job needs a name of 1 to %zu characters",
                          sizeof s->jobs[0].name - 1);
    sched_job *j = &s->jobs[s->n];
    memset(j, 0, sizeof *j);
    if (ff_cron_parse(expr, &j->cron, err) != 0)
        return ff_err_prefix(err, "job '%s'", name);
    snprintf(j->name, sizeof j->name, "%s", name);
    j->fn = fn;
    j->ctx = ctx;
    schedule(j, time(NULL));
    if (!j->next)
        ff_log(FF_LOG_WARN, NULL, NULL, "scheduled job %s: '%s' never fires", name, expr);
    s->n++;
    return 0;
}

int ff_scheduler_add_at_start(ff_scheduler *s, const char *name, ff_sched_fn fn, void *ctx,
                              ff_err *err)
{
    if (s->started)
        return ff_err_set(err, "scheduler: jobs must be added before it starts");
    if (s->n >= MAX_JOBS)
        return ff_err_set(err, "scheduler: more than %d jobs", MAX_JOBS);
    if (!name || !*name || strlen(name) >= sizeof s->jobs[0].name)
        return ff_err_set(err, "scheduler: a job needs a name of 1 to %zu characters",
                          sizeof s->jobs[0].name - 1);
    sched_job *j = &s->jobs[s->n++];
    memset(j, 0, sizeof *j); /* an empty cron: schedule() finds no fire time, next stays 0 */
    snprintf(j->name, sizeof j->name, "%s", name);
    j->fn = fn;
    j->ctx = ctx;
    j->run_now = 1;
    return 0;
}

static void *run(void *arg)
{
    ff_scheduler *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!atomic_load(&s->stop)) {
        time_t now = time(NULL);
        sched_job *due = NULL;
        time_t soonest = 0;
        for (int i = 0; i < s->n && !due; i++) {
            sched_job *j = &s->jobs[i];
            if (j->run_now || (j->next && now >= j->next))
                due = j;
            else if (j->next && (!soonest || j->next < soonest))
                soonest = j->next;
        }
        if (due) {
            time_t when = due->run_now ? now : due->next;
            due->run_now = 0;
            pthread_mutex_unlock(&s->lock);
            ff_log(FF_LOG_INFO, NULL, NULL, "scheduled job %s started", due->name);
            due->fn(due->ctx, s, when);
            ff_log(FF_LOG_INFO, NULL, NULL, "scheduled job %s finished", due->name);
            pthread_mutex_lock(&s->lock);
            due->runs++;
            time_t after = time(NULL);
            schedule(due, after > when ? after : when);
            continue;
        }
        time_t wait = soonest ? soonest - now : MAX_SLEEP_SECONDS;
        if (wait > MAX_SLEEP_SECONDS)
            wait = MAX_SLEEP_SECONDS;
        if (wait < 1)
            wait = 1;
        struct timespec ts = ff_clock_after(CLOCK_MONOTONIC, (double)wait);
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int ff_scheduler_start(ff_scheduler *s, ff_err *err)
{
    if (s->started)
        return 0;
    int rc = pthread_create(&s->thread, NULL, run, s);
    if (rc != 0)
        return ff_err_set(err, "cannot start the scheduler thread: %s", strerror(rc));
    s->started = 1;
    return 0;
}

static sched_job *find(ff_scheduler *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->jobs[i].name, name))
            return &s->jobs[i];
    return NULL;
}

int ff_scheduler_run_now(ff_scheduler *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    sched_job *j = find(s, name);
    if (j) {
        j->run_now = 1;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    return j ? 0 : -1;
}

int ff_scheduler_stopping(ff_scheduler *s)
{
    return atomic_load(&s->stop);
}

long ff_scheduler_runs(ff_scheduler *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    sched_job *j = find(s, name);
    long runs = j ? j->runs : -1;
    pthread_mutex_unlock(&s->lock);
    return runs;
}

void ff_scheduler_stop(ff_scheduler *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stop, 1);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->started)
        pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int clean_busy(void *ctx, const char *sid)
{
    const ff_clean_job *job = ctx;
    return job->queue && ff_queue_is_active(job->queue, sid);
}

/* The movie of the day the nightly job builds; at_start only says so when it is already there. */
static void build_daily_video(ff_clean_job *job, int at_start)
{
    char date[9];
    ff_daily_video_date(time(NULL), date);
    ff_daily_video_report vrep;
    memset(&vrep, 0, sizeof vrep);
    ff_err err = {0};
    if (at_start)
        ff_log(FF_LOG_INFO, NULL, NULL, "daily video %s: at start-up, built now unless it is already there",
               date);
    ff_lease *lease = NULL;
    if (job->leases) {
        /* Instances sharing the store would each fetch the same parts: one builds it. */
        char name[FF_LEASE_NAME_MAX + 1];
        snprintf(name, sizeof name, "daily_videos/%s", date);
        int lrc = ff_lease_acquire(job->leases, name, &lease, &err);
        if (lrc != 0) {
            ff_log(lrc > 0 ? FF_LOG_INFO : FF_LOG_WARN, NULL, NULL, "daily video %s: not built "
                   "here: %s", date, err.msg);
            return;
        }
    }
    if (ff_daily_video_build(job->remote, job->store, date, 0, &vrep, &err) != 0)
        ff_log(FF_LOG_WARN, NULL, NULL, "daily video %s: %s", date, err.msg);
    else if (vrep.already_built)
        ff_log(FF_LOG_INFO, NULL, NULL, "daily video %s: daily_videos/%s_stitched.mp4 was already there",
               date, date);
    else
        ff_log(FF_LOG_INFO, NULL, NULL, "daily video %s: daily_videos/%s_stitched.mp4 built (%d channels)",
               date, date, vrep.channels_used);
    ff_lease_release(lease);
}

void ff_clean_job_run(void *ctx, ff_scheduler *s, time_t when)
{
    (void)s;
    (void)when;
    ff_clean_job *job = ctx;
    ff_clean_report rep;
    ff_err err = {0};
    /* Age is measured from now, not from the fire time: a late run must not delete more. */
    ff_clean_opts o = {.now = time(NULL), .retention_hours = job->retention_hours,
                       .busy = clean_busy, .ctx = job, .leases = job->leases};
    if (ff_clean_sessions_opts(job->store, &o, &rep, &err) != 0)
        ff_log(FF_LOG_ERROR, NULL, NULL, "clean: %s", err.msg);
    else
        ff_log(FF_LOG_INFO, NULL, NULL,
               "clean: deleted %d sessions (%ld objects), kept %d younger and %d busy",
               rep.sessions_deleted, rep.objects_deleted, rep.sessions_kept, rep.sessions_busy);
    if (job->remote)
        build_daily_video(job, 0);
}

void ff_daily_video_start_job(void *ctx, ff_scheduler *s, time_t when)
{
    (void)s;
    (void)when;
    ff_clean_job *job = ctx;
    if (job->remote)
        build_daily_video(job, 1);
}
