/* The HTTP front of `fitsflow serve` (libmicrohttpd): routes, JSON errors, CORS, rate limits,
 * presigned uploads, static serving of outputs, SSE and ZIP streams. Processing is not done here:
 * a trigger pushes the session on the queue and wakes the workers. */
#ifndef FF_SERVER_HTTP_H
#define FF_SERVER_HTTP_H

#include "base/err.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/presign.h"
#include "server/jobs/queue.h"
#include "server/jobs/workers.h"
#include "store/store.h"

typedef struct ff_http ff_http;

/* What the HTTP side uses; all must outlive the server. workers and metrics may be NULL (then
 * triggers only queue, and /metrics answers 503). */
typedef struct ff_http_deps {
    const ff_server_config *cfg;
    ff_store *store;
    ff_queue *queue;
    ff_workers *workers;
    ff_metrics *metrics;
    const ff_presign_secret *secret;
} ff_http_deps;

/* Binds cfg->listen_host:cfg->port and starts serving (threads of its own). When the port is 0
 * any free port is used: ff_http_port says which, and an empty public_url is completed with it
 * (ff_http_public_url). The server keeps its own copy of *cfg. */
ff_http *ff_http_start(const ff_http_deps *deps, ff_err *err);
unsigned ff_http_port(const ff_http *h);
const char *ff_http_public_url(const ff_http *h);

/* Wakes the event streams now (new logs arrived) instead of at their next 250 ms poll. Any
 * thread; matches ff_workers_log_fn when given h as ctx. */
void ff_http_logs_changed(void *h, const char *sid, const char *name, const char *text);

/* Graceful stop: stop accepting connections, end event streams, give requests in flight up to
 * timeout_s seconds to finish (an upload cut short stores nothing), then close everything and
 * free h. */
void ff_http_stop(ff_http *h, unsigned timeout_s);

#endif
