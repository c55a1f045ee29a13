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

typedef enum ff_clean_action { FF_CLEAN_DELETED, FF_CLEAN_KEPT, FF_CLEAN_BUSY } ff_clean_action;

/* Called once per session with what was done (or, in a dry run, would be done), the newest
 * object's time and the number of objects. */
typedef void (*ff_clean_session_fn)(void *ctx, const char *sid, ff_clean_action action,
                                    time_t newest, long objects);

/* ff_clean_sessions with two additions: dry_run nonzero deletes nothing (the report counts what
 * would go), and on_session (may be NULL) hears about each session. busy and on_session share
 * ctx. Returns 0, or -1 on a storage error (sessions already handled stay handled). */
int ff_clean_sessions_ex(ff_store *store, time_t now, int retention_hours, int dry_run,
                         int (*busy)(void *ctx, const char *sid), ff_clean_session_fn on_session,
                         void *ctx, ff_clean_report *rep, ff_err *err);

/* Everything a clean can be told. leases (non-NULL when the store is shared with other
 * instances): each old session's lease ("sessions/{sid}") is taken before it is deleted and given
 * up after, so that no instance processes a session while it is deleted, and two cleans at once
 * delete each session once; a session whose lease is held elsewhere is counted busy. */
struct ff_leases;
typedef struct ff_clean_opts {
    time_t now;
    int retention_hours;
    int dry_run;
    int (*busy)(void *ctx, const char *sid);
    ff_clean_session_fn on_session;
    void *ctx;
    struct ff_leases *leases;
} ff_clean_opts;
int ff_clean_sessions_opts(ff_store *store, const ff_clean_opts *o, ff_clean_report *rep,
                           ff_err *err);

#endif
