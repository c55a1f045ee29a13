/* What `fitsflow serve` answers over HTTP: the route table (routes.c, the only list of routes:
 * the engine dispatches on it and GET /api lists it) and the services its handlers share (the
 * store, the queue, the presign secret, what the server knows of uploads in flight, the session
 * views kept warm, the event-stream hub, the store's reachability). Processing is not done here:
 * a trigger pushes the session on the queue and wakes the workers. */
#ifndef FF_SERVER_ROUTES_APP_H
#define FF_SERVER_ROUTES_APP_H

#include "base/err.h"
#include "server/config.h"
#include "server/http/offload.h"
#include "server/http/req.h"
#include "server/jobs/queue.h"
#include "server/jobs/workers.h"
#include "server/metrics.h"
#include "server/routes/presign.h"
#include "store/store.h"

typedef struct ff_upload_table ff_upload_table;
typedef struct ff_sse_hub ff_sse_hub;
typedef struct ff_session_cache ff_session_cache;
typedef struct ff_store_probe ff_store_probe;

/* Handed to every handler as its `app`. The first group comes from the server and must outlive
 * the app; workers and metrics may be NULL (then triggers only queue, and /metrics answers 503). */
typedef struct ff_app {
    const ff_server_config *cfg; /* complete: public_url set */
    ff_store *store;
    ff_queue *queue;
    ff_workers *workers;
    ff_metrics *metrics;
    const ff_presign_secret *secret;
    ff_offload *offload;
    /* made by ff_app_new */
    ff_upload_table *uploads;
    ff_session_cache *sessions;
    ff_sse_hub *sse;
    ff_store_probe *probe;
} ff_app;

extern const ff_route ff_routes[];
extern const size_t ff_routes_count;

/* Makes the shared services (threads of the event-stream hub and the store probe included) on
 * top of deps' first group. NULL with err. */
ff_app *ff_app_new(const ff_app *deps, ff_err *err);
/* Ends every event stream: before the engine drains its requests. */
void ff_app_stop_streams(ff_app *a);
/* Stops the store probe: before the store threads stop. */
void ff_app_stop_probe(ff_app *a);
/* After the engine stopped; NULL is allowed. */
void ff_app_free(ff_app *a);

/* New logs of session sid were stored here: its status and event streams look again now instead
 * of at their next poll. Any thread; matches ff_workers_log_fn with the app as ctx. */
void ff_app_logs_changed(void *app, const char *sid, const char *name, const char *text);

#endif
