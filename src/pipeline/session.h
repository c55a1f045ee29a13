/* A session's processing over the object store, with the original FitsFlow's log protocol
 * (DESIGN.md, "Log protocol"): uploads under temp/{sid}/fits/, outputs under
 * temp/{sid}/processed/, logs under temp/{sid}/logs/, manifest and summary at the end.
 * Resumable: running it again after a crash does not redo a file whose outputs are complete
 * (its _log_7 exists) and redoes a half-processed one from its start. */
#ifndef FF_PIPELINE_SESSION_H
#define FF_PIPELINE_SESSION_H

#include "pipeline/pipeline.h"

#define FF_SESSION_ID_MIN 8
#define FF_SESSION_ID_MAX 64

/* 1 when sid is 8 to 64 characters of [a-z0-9-], else 0. */
int ff_session_id_valid(const char *sid);

/* Upload names accepted: .fits, .fit, .fts, .fits.gz (any case), at most 200 bytes of
 * [A-Za-z0-9._-] (no leading dot), and not "summary", "skipped" or "download_summary" before the
 * ending (their logs would collide with the session's own). Returns 1 when acceptable, else 0
 * with a reason in err. */
int ff_upload_name_valid(const char *name, ff_err *err);

typedef struct ff_session_hooks {
    /* Called after each log object is stored: name is the log's file name
     * ("x_log_3.txt"), text its content. May be NULL. */
    void (*on_log)(void *ctx, const char *sid, const char *name, const char *text);
    /* Called with (step, seconds) after each pipeline step of each file (for metrics). May be NULL. */
    void (*on_step_time)(void *ctx, int step, double seconds);
    /* Polled between files: nonzero asks the session to stop early (graceful shutdown). */
    int (*should_stop)(void *ctx);
    void *ctx;
    /* Called once per file processed in this run, when it is finished (for metrics). May be NULL. */
    void (*on_file)(void *ctx, const ff_file_result *r);
} ff_session_hooks;

/* Processes every upload of session sid. Returns 0 when the session is complete (summary
 * written), 1 when it stopped early because should_stop asked (run it again later to finish),
 * -1 on a storage error (err filled). jobs = files at once. */
int ff_session_process(const ff_pipeline_config *cfg, ff_store *store, const char *sid, int jobs,
                       const ff_session_hooks *hooks, ff_err *err);

/* The session's state as JSON (malloc'd string): {"session_id", "state": "empty" | "uploaded" |
 * "processing" | "done", "uploads": [{name, bytes}], "files": [{"base", "steps": {"1": {"ok",
 * "message"}, ...}, "outputs": [...] }], "summary": text or null, "manifest": the manifest
 * object or null}. Returns 0, or 1 when the session has no objects at all, or -1. */
int ff_session_status_json(ff_store *store, const char *sid, char **json, ff_err *err);

#endif
