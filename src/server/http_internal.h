/* What the files of the HTTP front share: the server and request structs, response helpers and
 * the handlers of each route. Not a public interface. */
#ifndef FF_SERVER_HTTP_INTERNAL_H
#define FF_SERVER_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "server/http.h"
#include "server/ratelimit.h"

typedef struct ff_upload_table ff_upload_table;
typedef struct ff_sse_hub ff_sse_hub;
typedef struct ff_pump_hub ff_pump_hub;
typedef struct ff_pump ff_pump;
typedef struct ff_front ff_front;
typedef struct ff_offload ff_offload;
typedef struct ff_session_cache ff_session_cache;

#define FF_HTTP_MAX_SMALL_BODY (64 * 1024) /* bodies of requests other than uploads */
#define FF_HTTP_DRAIN_MAX (8u << 20) /* bodies read and dropped to answer a refusal cleanly */

/* Methods as bits, for route tables and Allow headers. */
enum {
    FF_M_GET = 1,
    FF_M_HEAD = 2,
    FF_M_PUT = 4,
    FF_M_POST = 8,
    FF_M_OPTIONS = 16,
};

struct ff_http {
    ff_http_deps d;
    ff_server_config cfgv;      /* a copy, completed with the bound port */
    const ff_server_config *cfg; /* = &cfgv */
    struct MHD_Daemon *mhd;        /* everything but uploads on a fresh connection */
    struct MHD_Daemon *mhd_upload; /* connections that open with a PUT; NULL when turned off */
    ff_front *front;               /* accepts and hands connections to the two daemons */
    ff_ratelimit *rl;
    char **origins; /* allowed CORS origins */
    size_t norigins;
    int any_origin;
    ff_upload_table *uploads;
    ff_sse_hub *sse;
    ff_pump_hub *pumps;
    ff_offload *offload;           /* store work for requests (offload.c) */
    ff_session_cache *sessions;    /* session views kept warm (session_cache.c) */
    struct ff_store_probe *probe;  /* the store's reachability for /healthz (health.c) */
    atomic_int inflight;
    atomic_int stopping;
    unsigned port;
};

/* One request; reference-counted because a streamed body may outlive the request's completion. */
typedef struct ff_req {
    ff_http *h;
    struct MHD_Connection *conn;
    atomic_int refs;
    int method;            /* FF_M_* (0 = unknown) */
    char method_name[16];
    char *path;            /* decoded path, as given */
    const char *route;     /* metrics label */
    int status;
    int allow;             /* allowed methods of the matched route */
    int dispatched;        /* the route handler has run */
    int close;             /* answer with Connection: close */
    int early;             /* answered before the body was read: the connection lingers */
    _Atomic uint64_t bytes_out;
    uint64_t bytes_in;
    double t0;
    char client[64];
    /* upload.c's state while a PUT body streams in */
    struct ff_upload *upload;
    /* offload.c's job while the request waits for store work (the connection is suspended) */
    struct ff_offload_job *offload;
} ff_req;

void ff_req_ref(ff_req *r);
void ff_req_unref(ff_req *r);

/* Header or GET argument (NULL when absent). */
const char *ff_req_header(ff_req *r, const char *name);
const char *ff_req_arg(ff_req *r, const char *name);

/* Queue resp with status: adds CORS and common headers, destroys resp. */
enum MHD_Result ff_http_send(ff_req *r, unsigned status, struct MHD_Response *resp);
/* body is stolen (decref'd). */
enum MHD_Result ff_http_send_json(ff_req *r, unsigned status, json_t *body);
/* {"error": message}. */
enum MHD_Result ff_http_send_error(ff_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum MHD_Result ff_http_send_text(ff_req *r, unsigned status, const char *content_type,
                                  const char *body, size_t len);

/* cors.c */
int ff_cors_init(ff_http *h, ff_err *err);
void ff_cors_free(ff_http *h);
void ff_cors_headers(ff_req *r, struct MHD_Response *resp);
enum MHD_Result ff_cors_preflight(ff_req *r);

/* Route handlers (http_api.c, upload.c, static.c, sse.c, archive.c). sid is validated. */
enum MHD_Result ff_api_trigger(ff_req *r);
enum MHD_Result ff_api_new_session(ff_req *r);
enum MHD_Result ff_api_session_status(ff_req *r, const char *sid);
enum MHD_Result ff_api_config(ff_req *r);
/* GET /api/daily-video/latest: the newest stitched movie, or 404 when there is none yet. */
enum MHD_Result ff_api_daily_video_latest(ff_req *r);
enum MHD_Result ff_api_healthz(ff_req *r);
enum MHD_Result ff_api_metrics(ff_req *r);
enum MHD_Result ff_api_index(ff_req *r);

/* upload.c: begin is called on the first call of a PUT; data on every later one. */
ff_upload_table *ff_upload_table_new(void);
void ff_upload_table_free(ff_upload_table *t);
enum MHD_Result ff_upload_begin(ff_req *r, const char *key);
enum MHD_Result ff_upload_data(ff_req *r, const char *data, size_t *size);
void ff_upload_end(ff_req *r); /* request over (completed or cut short) */
/* For a presign: -1 with a reason when this server already knows that session sid holds
 * FITSFLOW_SESSION_MAX_FILES files and name is not one of them; 0 otherwise (also when it does
 * not know: the PUT checks). Never calls the store. */
int ff_upload_presign_check(ff_http *h, const char *sid, const char *name, ff_err *err);

/* static.c */
enum MHD_Result ff_static_serve(ff_req *r, const char *key);
/* GET/HEAD of the browser client: rel is the path under the web folder ("" = index.html). */
enum MHD_Result ff_static_serve_web(ff_req *r, const char *rel);

/* sse.c */
int ff_sse_start(ff_http *h, ff_err *err);
void ff_sse_stop(ff_http *h); /* ends every stream; call before stopping the daemon */
void ff_sse_free(ff_http *h); /* after the daemon stopped */
enum MHD_Result ff_sse_events(ff_req *r, const char *sid);

/* pump.c: a response body written by a producer thread into a bounded ring (ring bytes) while
 * it is sent; the connection is suspended while the ring is empty. fn runs on the new thread and
 * returns 0 when the body is complete, -1 when it failed (the connection is then cut, as a client
 * must not take a short body for a whole one). ctx_free(ctx) runs once the thread has ended, also
 * when this returns NULL. size is the body's length, or MHD_SIZE_UNKNOWN. */
typedef int (*ff_pump_fn)(ff_pump *p, void *ctx);
struct MHD_Response *ff_pump_response(ff_req *r, uint64_t size, size_t ring, ff_pump_fn fn,
                                      void *ctx, void (*ctx_free)(void *ctx));
/* Called by fn: blocks while the ring is full; -1 once the client is gone or the server stops. */
int ff_pump_write(ff_pump *p, const void *buf, size_t n);
int ff_pump_cancelled(ff_pump *p);
int ff_pump_hub_start(ff_http *h, ff_err *err);
void ff_pump_hub_stop(ff_http *h); /* ends every pump; call before stopping the daemon */
void ff_pump_hub_free(ff_http *h); /* after the daemon stopped */

/* front.c: accepts connections and hands each, once its first request header is in, to the main
 * daemon or, when that request is a PUT, to the upload daemon (at most cfg->upload_connections at
 * once). It keeps the connection limits (FITSFLOW_MAX_CONNECTIONS, FITSFLOW_MAX_CONNECTIONS_PER_IP)
 * across both daemons, the header deadline (FITSFLOW_HEADER_TIMEOUT) and lingering close; the
 * daemons must be started with ff_front_notify and ff_front_notify_cls(f, is_upload_daemon). */
ff_front *ff_front_new(const ff_server_config *cfg, ff_err *err);
void *ff_front_notify_cls(ff_front *f, int upload);
void ff_front_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
/* The request on conn is in (its header, and a small body): no longer waiting for a header. */
void ff_front_request_in(ff_front *f, struct MHD_Connection *conn);
/* The request on conn has ended: the next header's deadline starts now. linger: it was answered
 * before its body was read, so the connection lingers when it closes. */
void ff_front_request_done(ff_front *f, struct MHD_Connection *conn, int linger);
/* Takes listen_fd on success (closed by ff_front_stop); upload_d may be NULL. */
int ff_front_start(ff_front *f, int listen_fd, struct MHD_Daemon *main_d,
                   struct MHD_Daemon *upload_d, ff_err *err);
/* Stops accepting: closes the listening socket, connections still waiting for their first header,
 * and lingering ones. */
void ff_front_stop(ff_front *f);
void ff_front_free(ff_front *f); /* after both daemons stopped */
typedef struct ff_front_counts {
    size_t open;           /* connections now, waiting and lingering ones included */
    size_t uploads_open;   /* of which served by the upload daemon */
    unsigned long refused; /* connections closed at once since the start (limits, no room) */
    unsigned long header_timeouts; /* closed because a request header did not come in time */
    unsigned long evicted; /* closed to make room while waiting for a header (or lingering) */
    unsigned long bad_requests; /* first requests refused for their framing before a daemon saw them */
} ff_front_counts;
void ff_front_stats(ff_front *f, ff_front_counts *out);

/* archive.c */
enum MHD_Result ff_archive_zip(ff_req *r, const char *sid);

/* offload.c: store work off the HTTP threads (see the file). */
int ff_offload_start(ff_http *h, ff_err *err);
void ff_offload_stop(ff_http *h); /* before the daemons stop: queued requests get 503 */
void ff_offload_free(ff_http *h);
double ff_offload_timeout(const ff_http *h); /* FITSFLOW_STORE_TIMEOUT_MS in seconds */
/* Suspends r's connection and runs work(ctx) on a store thread under the store deadline (the
 * request's arrival + FITSFLOW_STORE_TIMEOUT_MS); then done(r, ctx) sends the answer on the HTTP
 * thread. When the work cannot start in time (queue full, deadline passed in the queue, server
 * stopping) done is not called and the client gets 503 with Retry-After. ctx_free(ctx) runs once
 * in every case. Call from a route handler only, and return what it returns. */
enum MHD_Result ff_offload_request(ff_req *r, void (*work)(void *ctx),
                                   enum MHD_Result (*done)(ff_req *r, void *ctx), void *ctx,
                                   void (*ctx_free)(void *ctx));
/* http.c: the handler runs again for an offloaded request (ff_offload_finish), or the request
 * ended before it could (ff_offload_end). */
enum MHD_Result ff_offload_finish(ff_req *r);
void ff_offload_end(ff_req *r);
/* A background task on a store thread (its store deadline: now + the timeout); ctx_free(ctx)
 * runs after it, or instead of it when the server stops first. 0 queued; -1 not (queue full,
 * stopping): the caller still owns ctx. */
int ff_offload_task(ff_http *h, void (*fn)(void *ctx), void *ctx, void (*ctx_free)(void *ctx));
/* The answer for a failed store call, by the fault the work recorded: 504 (timeout) and 503
 * (unreachable, 5xx) with Retry-After, 502 (the store refused), 507 (full), 500 (local). */
enum MHD_Result ff_http_send_store_error(ff_req *r, const char *what, ff_store_fault f,
                                         const ff_err *err);

/* session_cache.c: shared, incrementally refreshed session views (pipeline/session_view.h). */
ff_session_cache *ff_session_cache_new(void);
void ff_session_cache_free(ff_session_cache *c);
/* The view of sid (made when missing), held until ff_session_cache_release. NULL: no memory. */
struct ff_session_view *ff_session_cache_get(ff_session_cache *c, const char *sid);
void ff_session_cache_release(ff_session_cache *c, struct ff_session_view *v);
/* This process wrote to session sid (a log, an upload): its next reader refreshes. */
void ff_session_cache_touch(ff_session_cache *c, const char *sid);
/* 1 when the caller should refresh v now: never refreshed, older than max_age seconds, or
 * written to since and at least min_age old. Claims the write (the next caller sees none). */
int ff_session_cache_claim(ff_session_cache *c, struct ff_session_view *v, double min_age,
                           double max_age);
/* Marks a background refresh of v as queued (start 1: 1 when it was not already) or over. */
int ff_session_cache_background(ff_session_cache *c, struct ff_session_view *v, int start);

/* health.c: the store's reachability, probed in the background for /healthz. */
int ff_store_probe_start(ff_http *h, ff_err *err);
void ff_store_probe_stop(ff_http *h);
/* Adds {"store": {...}} to a health answer, without any store call. Returns 1 when the store is
 * reachable (or never failed), 0 when its last exchange failed. */
int ff_store_probe_json(ff_http *h, json_t *out);

/* Pure helpers (http_util.c), unit-tested. */
typedef struct ff_range {
    uint64_t start, len;
} ff_range;
/* Parses a Range header against an object of size bytes: 0 = serve this single range;
 * 1 = ignore the header (absent, not "bytes", several ranges, or malformed: serve it all);
 * 2 = not satisfiable (416). */
int ff_http_parse_range(const char *header, uint64_t size, ff_range *out);
/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), also the two obsolete forms; -1 when invalid. */
time_t ff_http_parse_date(const char *s);
void ff_http_format_date(time_t t, char *out, size_t cap); /* IMF-fixdate, cap >= 32 */
/* 1 when an If-None-Match list matches etag (weak comparison, or "*"). */
int ff_http_etag_match(const char *if_none_match, const char *etag);
/* Percent-decodes s in place (the daemon's unescape callback for paths and arguments) and returns
 * the new length. A malformed escape is kept as it is; decoded control characters (%00 included)
 * become 0x01 so they cannot cut a string short: validation then rejects them. */
size_t ff_http_unescape(char *s);
/* 1 when a Content-Type for a presigned upload is acceptable: printable ASCII, at most 200 bytes. */
int ff_http_content_type_ok(const char *t);

/* Request framing as RFC 9112 wants it (nginx's rules): the fields of one request header are fed
 * to ff_http_framing_field (name and value as sent, value with or without its surrounding blanks),
 * then ff_http_framing_verdict says 0 (acceptable) or the status to answer, and closes with: 400
 * for a field name with whitespace or no name, a folded line, more than one Content-Length, a
 * Content-Length that is not 1 to 18 digits, Content-Length with Transfer-Encoding, Transfer-
 * Encoding on HTTP/1.0, an HTTP/1.1 request without exactly one Host (HTTP/1.0: more than one);
 * 501 for a Transfer-Encoding other than a single "chunked". why: a sentence for the client. */
typedef struct ff_http_framing {
    unsigned content_lengths, transfer_encodings, hosts;
    int bad_line;   /* a malformed field line */
    int bad_length; /* a Content-Length that is not a decimal number */
    int chunked;    /* the Transfer-Encoding is exactly "chunked" */
    int http11;     /* set by the caller: the request is HTTP/1.1 */
    uint64_t length; /* the Content-Length, when there is one good one */
} ff_http_framing;
void ff_http_framing_field(ff_http_framing *f, const char *name, size_t name_len, const char *value,
                           size_t value_len);
unsigned ff_http_framing_verdict(const ff_http_framing *f, const char **why);
/* Looks at the first bytes of a connection (buf[0, n)) for a whole request header: FF_HEAD_MORE
 * when its end (an empty line) is not there yet; FF_HEAD_DONE with *end = the header's length in
 * bytes; FF_HEAD_BAD with *status (400 or 501) and *why when its framing is refused (the rules of
 * ff_http_framing_verdict, on the bytes as sent). Lines end in CR LF or LF. */
enum { FF_HEAD_MORE = 0, FF_HEAD_DONE = 1, FF_HEAD_BAD = 2 };
int ff_http_head_scan(const char *buf, size_t n, size_t *end, unsigned *status, const char **why);

#endif
