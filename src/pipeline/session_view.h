/* A session as readers see it (GET /api/sessions/S, its event stream), kept up to date
 * incrementally: a refresh lists the session's uploads, logs and per-file state (paged listings,
 * never a request for an object that may not exist), fetches only the objects that are new or
 * changed since the last refresh (by etag), and rebuilds only the parts of the status JSON those
 * objects touch. So a poller of a session of thousands of files costs a few listings, not
 * thousands of reads, and the JSON is not rebuilt from scratch. A view is shared between threads. */
#ifndef FF_PIPELINE_SESSION_VIEW_H
#define FF_PIPELINE_SESSION_VIEW_H

#include <stddef.h>

#include "base/err.h"
#include "base/clock.h"
#include "base/strbuf.h"
#include "store/store.h"

typedef struct ff_session_view ff_session_view;

/* A status JSON, immutable and reference-counted (several answers may send the same bytes), with
 * a strong validator of its bytes and, when it is large, its gzip form made once. */
typedef struct ff_session_blob {
    char *json;
    size_t len;
    int empty;        /* the session had no uploads, logs, state or manifest */
    char etag[48];    /* quoted; the same bytes give the same etag in any process */
    char *gz;         /* gzip of json, or NULL (small, or it would not shrink) */
    size_t gz_len;
    int refs;         /* private */
} ff_session_blob;
void ff_session_blob_ref(ff_session_blob *b);
void ff_session_blob_unref(ff_session_blob *b);

/* A new, empty view of session sid (validated by the caller). NULL when out of memory. */
ff_session_view *ff_session_view_new(const char *sid);
void ff_session_view_free(ff_session_view *v);
const char *ff_session_view_sid(const ff_session_view *v);

/* Brings the view up to date with the store. One refresh runs at a time per view; a caller that
 * finds one running waits for it and takes its result. Store calls honour the calling thread's
 * store deadline; the fetches of many changed objects run on up to 8 threads at once (each with
 * the same deadline). Returns 0, or -1 with err (ff_store_last_fault() says why); the view then
 * keeps what it had. */
int ff_session_view_refresh(ff_session_view *v, ff_store *store, ff_err *err);

/* Seconds (ff_clock_now()) of the last successful refresh; 0 = never. */
double ff_session_view_refreshed_at(ff_session_view *v);
/* Bytes the view holds (texts, JSON), for a cache that bounds its memory. */
size_t ff_session_view_bytes(ff_session_view *v);

/* The status JSON of the last refresh (a reference the caller releases), or NULL before the first
 * successful refresh. Same shape as ff_session_status_json. */
ff_session_blob *ff_session_view_status(ff_session_view *v);

/* The session's logs as Server-Sent Events, in the order they were first seen (logs found in one
 * refresh ordered by time, the download summary first and the final summary last): appends to
 * out the events from position *pos on, until out holds max bytes or more, and moves *pos past
 * them. After summary_log_2.txt comes a "done" event; *done is then set and nothing more is
 * appended. Returns 0, or -1 when out of memory. */
int ff_session_view_events(ff_session_view *v, size_t *pos, ff_strbuf *out, size_t max, int *done);

#endif
