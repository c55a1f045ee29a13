/* The HTTP engine of `fitsflow serve` (libmicrohttpd): the front door (connection limits, header
 * deadline, lingering close), two daemons (uploads, the rest), request framing, the route table's
 * dispatch (rate limit, header size, 404/405, CORS preflight, session ids), the request log and
 * the metrics of every request. It knows no route: the server gives it a table (routes/) and the
 * services its handlers share. Stopping is in steps, so that the server can end what holds
 * connections (event streams, store work) in between. */
#ifndef FF_SERVER_HTTP_HTTPD_H
#define FF_SERVER_HTTP_HTTPD_H

#include "base/err.h"
#include "server/config.h"
#include "server/http/offload.h"
#include "server/http/req.h"
#include "server/metrics.h"

typedef struct ff_httpd ff_httpd;

/* Binds cfg->listen_host:cfg->port (port 0: any free port) and listens: the socket, with the
 * bound port in *port, or -1 with err. Made here rather than by the daemons so that the bound
 * port is known before the first request (the public URL and the default CORS origin name it). */
int ff_httpd_listen(const ff_server_config *cfg, unsigned *port, ff_err *err);

typedef struct ff_httpd_deps {
    const ff_server_config *cfg; /* complete (public_url set); must outlive the engine */
    const ff_route *routes;      /* the route table, and its length */
    size_t nroutes;
    void *app;                   /* handed to every handler */
    ff_offload *offload;         /* store work of requests (ff_req_offload) */
    ff_metrics *metrics;         /* may be NULL */
} ff_httpd_deps;

/* Serves on listen_fd (taken, also on failure) with threads of its own. NULL with err. */
ff_httpd *ff_httpd_start(const ff_httpd_deps *deps, int listen_fd, ff_err *err);

/* Stopping, in this order: close stops accepting (the listening socket, connections waiting for
 * a first header, lingering ones); drain waits up to timeout_s for requests in flight; free ends
 * streamed bodies, stops the daemons and frees h. */
void ff_httpd_close(ff_httpd *h);
void ff_httpd_drain(ff_httpd *h, unsigned timeout_s);
void ff_httpd_free(ff_httpd *h);

#endif
