/* Store work off the HTTP threads: a small pool of store threads, each piece of work under a
 * store deadline (FITSFLOW_STORE_TIMEOUT_MS). Requests use it through ff_req_offload (req.h);
 * background tasks (event streams' refreshes) through ff_offload_task. */
#ifndef FF_SERVER_HTTP_OFFLOAD_H
#define FF_SERVER_HTTP_OFFLOAD_H

#include "base/err.h"

typedef struct ff_offload ff_offload;

/* threads store threads (at least 1); timeout_s: a request's store calls end this long after its
 * arrival, a background task's this long after it was queued. NULL with err. */
ff_offload *ff_offload_new(unsigned threads, double timeout_s, ff_err *err);
/* Stops the threads: queued requests are answered 503, running work ends by its deadline. */
void ff_offload_stop(ff_offload *o);
void ff_offload_free(ff_offload *o); /* stops it first; NULL is allowed */
double ff_offload_timeout(const ff_offload *o);

/* A background task on a store thread (its store deadline: now + the timeout); ctx_free(ctx)
 * runs after it, or instead of it when the server stops first. 0 queued; -1 not (queue full,
 * stopping): the caller still owns ctx. */
int ff_offload_task(ff_offload *o, void (*fn)(void *ctx), void *ctx, void (*ctx_free)(void *ctx));

#endif
