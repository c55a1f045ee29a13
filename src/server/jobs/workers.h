/* The worker threads of `fitsflow serve`: each takes a session from the queue and runs the
 * session pipeline on it. Stopping is graceful: a running session stops between files and its
 * job goes back to the queue, so no object is left half-written and nothing is lost. */
#ifndef FF_SERVER_JOBS_WORKERS_H
#define FF_SERVER_JOBS_WORKERS_H

#include "pipeline/pipeline.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/jobs/queue.h"
#include "store/store.h"

typedef struct ff_workers ff_workers;

/* Starts n threads (1 to 256), after putting jobs a previous process left running back to
 * pending (ff_queue_recover). cfg is copied; its threads are shared out between the n workers.
 * retry: how sessions failing for a transient reason are retried (NULL: the settings' defaults).
 * metrics may be NULL. */
ff_workers *ff_workers_start(int n, ff_queue *q, ff_store *store, const ff_pipeline_config *cfg,
                             const ff_job_retry *retry, ff_metrics *metrics, ff_err *err);

/* ff_workers_start for an instance that shares its store with others: each session is processed
 * under its lease (pipeline/lease.h, "sessions/{sid}"); a job whose lease is held elsewhere waits
 * (put off, no failure counted) and looks again every ff_leases_wait_ms until the lease is free;
 * a lease lost while processing stops the session between files and puts the job off the same
 * way; sessions whose leases are abandoned (their holder died) are queued here. leases must
 * outlive the workers. */
struct ff_leases;
ff_workers *ff_workers_start_leased(int n, ff_queue *q, ff_store *store,
                                    const ff_pipeline_config *cfg, const ff_job_retry *retry,
                                    ff_metrics *metrics, struct ff_leases *leases, ff_err *err);

/* Receives every progress log as it is stored (for server-sent events): sid, the log's file name
 * ("x_log_3.txt") and its text. Called from worker threads, one call at a time per session.
 * fn NULL removes the listener. May be called at any time. */
typedef void (*ff_workers_log_fn)(void *ctx, const char *sid, const char *name, const char *text);
void ff_workers_on_log(ff_workers *w, ff_workers_log_fn fn, void *ctx);

/* Wakes idle workers after a push (they also poll every second). */
void ff_workers_wake(ff_workers *w);

/* 1 when sid is being processed right now or queued. */
int ff_workers_session_busy(ff_workers *w, const char *sid);

/* Asks running sessions to stop between files, waits for the threads, frees w. */
void ff_workers_stop(ff_workers *w);

#endif
