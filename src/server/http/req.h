/* What a route handler sees of the HTTP engine: a request handle with accessors, the ways to
 * answer it (every answer goes through ff_req_send, which adds CORS and the common headers; every
 * error through ff_req_send_error), and the ways to answer later (store work on a store thread, a
 * body made by a producer thread, a suspended event stream). Handlers never see the engine's
 * structs (httpd_impl.h): they are listed in a route table (ff_route) that the engine dispatches
 * on, and get the server's shared services as their `app` argument. */
#ifndef FF_SERVER_HTTP_REQ_H
#define FF_SERVER_HTTP_REQ_H

#include <microhttpd.h>
#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

typedef struct ff_req ff_req;

/* A refused request's body up to this size is read and dropped (so that the connection can be
 * kept); a larger one is answered at once and the connection closed (ff_req_close_after). */
#define FF_HTTP_DRAIN_MAX (8u << 20)

/* Methods as bits, for route tables and Allow headers. */
enum {
    FF_M_GET = 1,
    FF_M_HEAD = 2,
    FF_M_PUT = 4,
    FF_M_POST = 8,
    FF_M_OPTIONS = 16,
};

/* ---- the route table ------------------------------------------------------------------ */

/* A handler: app is what the server gave the engine (routes/app.h); arg is the path's capture:
 * the {sid} of the pattern (a valid session id: the engine answers 400 for any other), else the
 * path without its leading '/'. Returns what libmicrohttpd expects (MHD_NO drops the
 * connection). */
typedef enum MHD_Result (*ff_route_fn)(ff_req *r, void *app, const char *arg);

enum {
    FF_ROUTE_UNLIMITED = 1, /* not counted by the per-client rate limit (health checks) */
};

/* One row of a route table. The engine takes the first row whose pattern matches the path, and
 * among the rows with that same pattern the one that takes the method (405 when none does, with
 * Allow naming theirs). Patterns: literal segments; "{sid}" for one segment (a session id);
 * a final "*" for any rest; a final "/?" for an optional trailing slash. */
typedef struct ff_route {
    const char *pattern;
    unsigned methods;      /* FF_M_* (OPTIONS, the CORS preflight, is always allowed) */
    ff_route_fn handler;   /* NULL: nothing here (404) */
    const char *label;     /* the requests metric's route label */
    unsigned flags;        /* FF_ROUTE_* */
    const char *doc;       /* the line GET /api lists; NULL: not listed */
} ff_route;

/* ---- the request ---------------------------------------------------------------------- */

int ff_req_method(const ff_req *r);           /* FF_M_* (0 = another method) */
const char *ff_req_path(const ff_req *r);     /* decoded, as given */
/* Header or GET argument (NULL when absent). */
const char *ff_req_header(ff_req *r, const char *name);
const char *ff_req_arg(ff_req *r, const char *name);
double ff_req_arrival(const ff_req *r);       /* ff_clock_now() when it came in */
uint64_t ff_req_bytes_in(const ff_req *r);    /* body bytes read so far */
/* Body bytes of an answer the engine cannot count itself (buffers are counted by the senders
 * below; streamed bodies count what they hand over). */
void ff_req_count_out(ff_req *r, uint64_t n);
/* Answer with Connection: close; linger 1: the answer goes out before the body was read, so the
 * front door reads and drops the rest for a while before closing (the client sees the answer,
 * not a reset). */
void ff_req_close_after(ff_req *r, int linger);

/* ---- answering now -------------------------------------------------------------------- */

/* Queues resp with status: adds CORS and the common headers (Allow on 405, Connection: close
 * when asked), destroys resp. */
enum MHD_Result ff_req_send(ff_req *r, unsigned status, struct MHD_Response *resp);
/* body is stolen (decref'd). Cache-Control: no-store. */
enum MHD_Result ff_req_send_json(ff_req *r, unsigned status, json_t *body);
enum MHD_Result ff_req_send_text(ff_req *r, unsigned status, const char *content_type,
                                 const char *body, size_t len);
/* The one error answer: {"error": message}, no-store; retry_after > 0 adds Retry-After. */
enum MHD_Result ff_req_send_error_retry(ff_req *r, unsigned status, unsigned retry_after,
                                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define ff_req_send_error(r, status, ...) ff_req_send_error_retry((r), (status), 0, __VA_ARGS__)
/* The status for a store fault: 504 (timeout), 503 (unreachable), 502 (the store refused), 507
 * (our storage is full), 500 (local). */
unsigned ff_http_store_status(ff_store_fault f);
/* The answer for a failed store call, by the fault the work recorded: ff_http_store_status, with
 * Retry-After when the fault may pass. */
enum MHD_Result ff_req_send_store_error(ff_req *r, const char *what, ff_store_fault f,
                                        const ff_err *err);
/* 1 when an Accept-Encoding header accepts gzip: a "gzip" (or "*") token without q=0. */
int ff_req_accepts_gzip(ff_req *r);

/* ---- answering later ------------------------------------------------------------------ */

/* Takes the request's body (uploads): on_data(r, ctx, data, size) for each piece (set *size to 0
 * once taken; the engine has counted it), then once with *size == 0 when the body is in;
 * on_end(r, ctx) when the request is over, answered or cut short. Call from a PUT's handler. */
typedef enum MHD_Result (*ff_body_fn)(ff_req *r, void *ctx, const char *data, size_t *size);
void ff_req_take_body(ff_req *r, ff_body_fn on_data, void (*on_end)(ff_req *r, void *ctx),
                      void *ctx);

/* Suspends r's connection and runs work(ctx) on a store thread under the store deadline (the
 * request's arrival + FITSFLOW_STORE_TIMEOUT_MS); then done(r, ctx) sends the answer on the HTTP
 * thread. When the work cannot start in time (queue full, deadline passed in the queue, server
 * stopping) done is not called and the client gets 503 with Retry-After. ctx_free(ctx) runs once
 * in every case. Call from a handler, and return what it returns. */
enum MHD_Result ff_req_offload(ff_req *r, void (*work)(void *ctx),
                               enum MHD_Result (*done)(ff_req *r, void *ctx), void *ctx,
                               void (*ctx_free)(void *ctx));

/* A response body written by a producer thread into a bounded ring (ring bytes) while it is sent;
 * the connection is suspended while the ring is empty. fn runs on the new thread and returns 0
 * when the body is complete, -1 when it failed (the connection is then cut, as a client must not
 * take a short body for a whole one). ctx_free(ctx) runs once the thread has ended, also when
 * this returns NULL. size is the body's length, or MHD_SIZE_UNKNOWN. */
typedef struct ff_pump ff_pump;
typedef int (*ff_pump_fn)(ff_pump *p, void *ctx);
struct MHD_Response *ff_pump_response(ff_req *r, uint64_t size, size_t ring, ff_pump_fn fn,
                                      void *ctx, void (*ctx_free)(void *ctx));
/* Called by fn: blocks while the ring is full; -1 once the client is gone or the server stops. */
int ff_pump_write(ff_pump *p, const void *buf, size_t n);
int ff_pump_cancelled(ff_pump *p);

/* A streamed answer that waits for events (SSE) without holding a thread: its content reader
 * suspends the request when it has nothing to send, and whoever has news resumes it. A reference
 * keeps r alive past its completion (the reader's free callback drops it). */
void ff_req_suspend(ff_req *r);
void ff_req_resume(ff_req *r);
void ff_req_ref(ff_req *r);
void ff_req_unref(ff_req *r);

/* The connection counts of the server r came to (for /metrics). */
typedef struct ff_front_counts {
    size_t open;           /* connections now, waiting and lingering ones included */
    size_t uploads_open;   /* of which served by the upload daemon */
    unsigned long refused; /* connections closed at once since the start (limits, no room) */
    unsigned long header_timeouts; /* closed because a request header did not come in time */
    unsigned long evicted; /* closed to make room while waiting for a header (or lingering) */
    unsigned long bad_requests; /* first requests refused for their framing before a daemon saw them */
} ff_front_counts;
void ff_req_server_counts(ff_req *r, ff_front_counts *out);

#endif
