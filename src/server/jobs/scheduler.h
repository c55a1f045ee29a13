/* The nightly jobs of `fitsflow serve` (the original's EventBridge rule): one thread that runs
 * each registered job when its cron expression (cron.h, UTC) next fires (clean now, the daily movie later). Stopping is prompt: the thread sleeps on a
 * condition variable, and a running job can poll ff_scheduler_stopping. */
#ifndef FF_SERVER_JOBS_SCHEDULER_H
#define FF_SERVER_JOBS_SCHEDULER_H

#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "server/jobs/cron.h"
#include "server/jobs/queue.h"
#include "store/store.h"

typedef struct ff_scheduler ff_scheduler;

/* A job: runs on the scheduler's thread; when is the fire time it was started for. */
typedef void (*ff_sched_fn)(void *ctx, ff_scheduler *s, time_t when);

ff_scheduler *ff_scheduler_new(ff_err *err);

/* Registers a job under a short name (for logs and ff_scheduler_run_now). Before start only. */
int ff_scheduler_add(ff_scheduler *s, const char *name, const char *expr, ff_sched_fn fn, void *ctx,
                     ff_err *err);

/* Registers a job that runs once, as soon as the thread starts, and never again (no schedule):
 * start-up work that must not delay readiness. Before start only. */
int ff_scheduler_add_at_start(ff_scheduler *s, const char *name, ff_sched_fn fn, void *ctx,
                              ff_err *err);

/* Starts the thread. */
int ff_scheduler_start(ff_scheduler *s, ff_err *err);

/* Asks the thread to run job `name` as soon as it can (an admin trigger, tests). -1 if unknown. */
int ff_scheduler_run_now(ff_scheduler *s, const char *name);

/* Nonzero once ff_scheduler_stop was called: long jobs poll it and return early. */
int ff_scheduler_stopping(ff_scheduler *s);

/* How many times job `name` has run to completion (-1 if unknown). */
long ff_scheduler_runs(ff_scheduler *s, const char *name);

/* Stops the thread (waits for a running job to return) and frees s. s may be NULL. */
void ff_scheduler_stop(ff_scheduler *s);

/* The nightly clean as a ready-made job: register ff_clean_job_run with a pointer to one of these
 * (it must outlive the scheduler). Sessions the queue has pending or running are spared. */
/* The nightly job (the original's "Clean" Lambda): delete old sessions, then build the stitched
 * SDO movie of two days ago when remote is set (offline servers skip it). */
struct ff_remote;
typedef struct ff_clean_job {
    ff_store *store;
    ff_queue *queue;     /* may be NULL */
    int retention_hours;
    struct ff_remote *remote; /* NULL: no daily movie */
    struct ff_leases *leases; /* non-NULL when other instances share the store: the clean takes
                                 each session's lease before deleting it, and one instance builds
                                 the movie (lease "daily_videos/{date}") while others skip it */
} ff_clean_job;
void ff_clean_job_run(void *ctx, ff_scheduler *s, time_t when);

/* The daily movie on a new install (register with ff_scheduler_add_at_start, ctx as above): when
 * remote is set and the movie of the day the nightly job would build (two days ago, UTC) is not
 * in the store, build it now; otherwise only log that it is there. */
void ff_daily_video_start_job(void *ctx, ff_scheduler *s, time_t when);

#endif
