/* Housekeeping: deleting temporary sessions older than the retention (the original's nightly
 * "Clean" Lambda). temp/.keep is kept; a session still being processed is never touched. */
#ifndef FF_PIPELINE_CLEAN_H
#define FF_PIPELINE_CLEAN_H

#include <time.h>

#include "store/store.h"

typedef struct ff_clean_report {
    int sessions_deleted;
    int sessions_kept;      /* younger than the retention */
    int sessions_busy;      /* skipped because they are being processed */
    long objects_deleted;
} ff_clean_report;

/* A session's age is now minus the newest object's modification time under temp/{sid}/.
 * busy(ctx, sid) returning nonzero protects a session (may be NULL). */
int ff_clean_sessions(ff_store *store, time_t now, int retention_hours,
                      int (*busy)(void *ctx, const char *sid), void *ctx, ff_clean_report *rep,
                      ff_err *err);

#endif
