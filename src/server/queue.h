/* The durable job queue of `fitsflow serve`: SQLite in WAL mode in the data folder. A job is one
 * session to process. Jobs survive kill -9: at the next start, jobs that were running go back to
 * pending and are taken up again (the session runner makes that exactly-once in effect). */
#ifndef FF_SERVER_QUEUE_H
#define FF_SERVER_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct ff_queue ff_queue;

ff_queue *ff_queue_open(const char *db_path, ff_err *err);
void ff_queue_close(ff_queue *q);

/* Queues sid. Idempotent: a pending job for sid is not duplicated; when sid is running, it is
 * marked to run once more after it finishes (new uploads arrived). */
int ff_queue_push(ff_queue *q, const char *sid, ff_err *err);

/* Takes the oldest pending job: returns 0 with sid and id filled, 1 when none is pending. */
int ff_queue_claim(ff_queue *q, char *sid, size_t sidsize, int64_t *id, ff_err *err);

/* The job finished (rerun requested while running puts it back to pending). */
int ff_queue_done(ff_queue *q, int64_t id, ff_err *err);

/* The job did not finish (shutdown): back to pending, taken up again later. */
int ff_queue_release(ff_queue *q, int64_t id, ff_err *err);

/* At start: every running job back to pending. Returns how many, or -1. */
int ff_queue_recover(ff_queue *q, ff_err *err);

int ff_queue_counts(ff_queue *q, int *pending, int *running);

/* 1 when sid has a pending or running job (also when the queue cannot be read, so that callers
 * protecting busy sessions err on the safe side). */
int ff_queue_is_active(ff_queue *q, const char *sid);

#endif
