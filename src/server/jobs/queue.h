/* The durable job queue of `fitsflow serve`: SQLite in WAL mode in the data folder. A job is one
 * session to process. Jobs survive kill -9: at the next start, jobs that were running go back to
 * pending and are taken up again (the session runner makes that exactly-once in effect).
 *
 * It also remembers what a crash would otherwise forget: which upload was being processed when
 * the process died (ff_queue_file_begin/end), so that a file that brought the server down twice
 * is not tried a third time, and how often a job failed for a transient reason (a job waiting
 * for its retry stays pending with a time before which it is not claimed). */
#ifndef FF_SERVER_JOBS_QUEUE_H
#define FF_SERVER_JOBS_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct ff_queue ff_queue;

ff_queue *ff_queue_open(const char *db_path, ff_err *err);
void ff_queue_close(ff_queue *q);

/* Queues sid. Idempotent: a pending job for sid is not duplicated (nor is a retry it waits for
 * brought forward); when sid is running, it is marked to run once more after it finishes (new
 * uploads arrived). */
int ff_queue_push(ff_queue *q, const char *sid, ff_err *err);

typedef struct ff_queue_job {
    int64_t id;
    char sid[128];
    int attempts;  /* times this job was claimed, this time included */
    int failures;  /* earlier attempts that failed for a transient reason (ff_queue_retry) */
    int crashes;   /* earlier runs cut short (crash, kill -9) while no file was in progress */
} ff_queue_job;

/* Takes the oldest pending job that is not waiting for a retry: 0 with *job filled, 1 when none
 * is ready, -1 on error. */
int ff_queue_claim_job(ff_queue *q, ff_queue_job *job, ff_err *err);

/* ff_queue_claim_job for callers that only need the session and the id. */
int ff_queue_claim(ff_queue *q, char *sid, size_t sidsize, int64_t *id, ff_err *err);

/* The job finished (rerun requested while running puts it back to pending, as a new job). */
int ff_queue_done(ff_queue *q, int64_t id, ff_err *err);

/* The job did not finish (shutdown): back to pending, taken up again later. */
int ff_queue_release(ff_queue *q, int64_t id, ff_err *err);

/* The job failed for a transient reason: back to pending, not claimed before delay_ms from
 * now, one more failure counted, reason kept (for the operator: sqlite3 queue.db). */
int ff_queue_retry(ff_queue *q, int64_t id, int64_t delay_ms, const char *reason, ff_err *err);

/* The job could not run yet for a reason that is not a failure (its session's lease is held by
 * another instance): back to pending, not claimed before delay_ms from now, no failure counted,
 * reason kept. */
int ff_queue_defer(ff_queue *q, int64_t id, int64_t delay_ms, const char *reason, ff_err *err);

/* At start: every running job back to pending; a job cut short while no file was in progress
 * counts a crash, and so does every file that was in progress. Returns how many jobs, or -1. */
int ff_queue_recover(ff_queue *q, ff_err *err);

/* Times processing of upload name of sid (this very upload: size and mtime) was cut short by
 * a crash and the file is to blame: it was the only file in progress, or it was the only one
 * once and among several once. 0 when never, also when the upload was replaced since; -1 when
 * the queue cannot be read. */
int ff_queue_file_crashes(ff_queue *q, const char *sid, const char *name, uint64_t size,
                          int64_t mtime, ff_err *err);

/* The file is being processed now / is finished (either way). Durable before it returns, so
 * that a crash in between is blamed on this file at the next start. */
int ff_queue_file_begin(ff_queue *q, const char *sid, const char *name, uint64_t size,
                        int64_t mtime, ff_err *err);
int ff_queue_file_end(ff_queue *q, const char *sid, const char *name, ff_err *err);

/* 1 when a crash happened while several files were in progress and one of them, whose session
 * still has a job, has not been processed alone since: until then the workers process one file
 * at a time, so that the next crash, if any, names its file. Also 1 when the queue cannot be
 * read. */
int ff_queue_needs_care(ff_queue *q);

int ff_queue_counts(ff_queue *q, int *pending, int *running);

/* 1 when sid has a pending or running job (also when the queue cannot be read, so that callers
 * protecting busy sessions err on the safe side). */
int ff_queue_is_active(ff_queue *q, const char *sid);

#endif
