/* What the files of the HTTP engine share (and only they: handlers use req.h): the engine and
 * request structs and the engine's internal parts. */
#ifndef FF_SERVER_HTTP_HTTPD_IMPL_H
#define FF_SERVER_HTTP_HTTPD_IMPL_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdint.h>

#include "server/http/httpd.h"
#include "server/http/ratelimit.h"

typedef struct ff_front ff_front;
typedef struct ff_pump_hub ff_pump_hub;

#define FF_HTTP_MAX_SMALL_BODY (64 * 1024) /* bodies of requests other than uploads */

struct ff_httpd {
    ff_httpd_deps d;
    const ff_server_config *cfg;   /* = d.cfg */
    struct MHD_Daemon *mhd;        /* everything but uploads on a fresh connection */
    struct MHD_Daemon *mhd_upload; /* connections that open with a PUT; NULL when turned off */
    ff_front *front;               /* accepts and hands connections to the two daemons */
    ff_ratelimit *rl;
    char **origins; /* allowed CORS origins */
    size_t norigins;
    int any_origin;
    ff_pump_hub *pumps;
    atomic_int inflight;
    atomic_int stopping;
};

/* One request; reference-counted because a streamed body may outlive the request's completion. */
struct ff_req {
    ff_httpd *h;
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
    /* the body's taker (ff_req_take_body) */
    ff_body_fn body_data;
    void (*body_end)(ff_req *r, void *ctx);
    void *body_ctx;
    /* offload.c's job while the request waits for store work (the connection is suspended) */
    struct ff_offload_job *offload;
};

/* dispatch.c: runs the route table on a request whose header is in. */
enum MHD_Result ff_httpd_dispatch(ff_req *r);

/* cors.c */
int ff_cors_init(ff_httpd *h, ff_err *err);
void ff_cors_free(ff_httpd *h);
void ff_cors_headers(ff_req *r, struct MHD_Response *resp);
enum MHD_Result ff_cors_preflight(ff_req *r);

/* pump.c: the registry of streamed bodies, so that shutdown can end them all before the daemons
 * stop (libmicrohttpd refuses to stop with a connection still suspended). */
int ff_pump_hub_start(ff_httpd *h, ff_err *err);
void ff_pump_hub_stop(ff_httpd *h); /* ends every pump; call before stopping the daemons */
void ff_pump_hub_free(ff_httpd *h); /* after the daemons stopped */

/* offload.c: the handler's second half runs for an offloaded request (ff_offload_finish), or
 * the request ended before it could (ff_offload_end). */
enum MHD_Result ff_offload_finish(ff_req *r);
void ff_offload_end(ff_req *r);

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
void ff_front_stats(ff_front *f, ff_front_counts *out);

#endif
