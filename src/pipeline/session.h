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
    /* The crash guard of a front end that can crash while a file is processed (serve); each may
     * be NULL. file_crashes: how many times processing of this upload (name, size and time in
     * st) was cut short before; file_begin and file_end bracket its processing in this run. */
    int (*file_crashes)(void *ctx, const char *sid, const char *name, const ff_store_stat *st);
    void (*file_begin)(void *ctx, const char *sid, const char *name, const ff_store_stat *st);
    void (*file_end)(void *ctx, const char *sid, const char *name);
} ff_session_hooks;

/* How a run treats what it cannot finish. */
typedef struct ff_session_opts {
    /* 1: this is the last attempt: a file that failed for a transient store reason stays failed
     * and the session is finished (summary written). 0: such failures leave the session
     * unfinished (no summary) and the run returns -1 with err->kind FF_ERR_TRANSIENT, for the
     * caller to run it again later; files that did finish are not redone then. */
    int final;
    /* Non-NULL: process nothing; every upload not finished before fails with this reason, and
     * the session is finished. For a session that cannot be processed at all. */
    const char *give_up;
    /* A file whose processing was cut short this many times (hooks->file_crashes) fails without
     * being tried again. 0: 2. */
    int max_crashes;
} ff_session_opts;

/* Processes every upload of session sid. Returns 0 when the session is complete (summary
 * written) or has no uploads at all (then nothing is stored), 1 when it stopped early because
 * should_stop asked (run it again later to finish), -1 on a storage error or, when not final, a
 * transient failure (err filled; err->kind says which). jobs = files at once. opts NULL: final,
 * nothing given up. */
int ff_session_process_opts(const ff_pipeline_config *cfg, ff_store *store, const char *sid,
                            int jobs, const ff_session_hooks *hooks, const ff_session_opts *opts,
                            ff_err *err);
int ff_session_process(const ff_pipeline_config *cfg, ff_store *store, const char *sid, int jobs,
                       const ff_session_hooks *hooks, ff_err *err);

/* The text of summary_log_2.txt for counts[FF_FILE_*] files (into buf, returned). Its first line
 * is "ALL FILES PROCESSED SUCCESSFULLY" when every file was processed, else "NOT ALL FILES
 * PROCESSED SUCCESSFULLY: F of N failed, S skipped" (which still contains the words the original
 * client polls for, so that it stops); then the counts, and a line each for failed and skipped
 * files saying where to look. */
const char *ff_session_summary_text(const size_t counts[3], char *buf, size_t size);

/* 1 when the session has at least one upload (an object directly under temp/{sid}/fits/), 0 when
 * it has none, -1 when the store cannot say (err filled). */
int ff_session_has_uploads(ff_store *store, const char *sid, ff_err *err);

/* The session's state as JSON (malloc'd string): {"session_id", "state": "empty" | "uploaded" |
 * "processing" | "done", "uploads": [{name, bytes}], "files": [{"base", "steps": {"1": {"ok",
 * "message"}, ...}, "outputs": [...] }], "summary": text or null, "manifest": the manifest
 * object or null}. Returns 0, or 1 when the session has no objects at all, or -1. */
int ff_session_status_json(ff_store *store, const char *sid, char **json, ff_err *err);

#endif
