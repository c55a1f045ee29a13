/* Counters for GET /metrics (Prometheus text format): requests by route and status, bytes in and
 * out, jobs, step durations, queue depth. Lock-free updates (atomics); safe from any thread. */
#ifndef FF_SERVER_METRICS_H
#define FF_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ff_metrics ff_metrics;

ff_metrics *ff_metrics_new(void);
void ff_metrics_free(ff_metrics *m);

/* route: a fixed label such as "trigger", "upload", "static", "api", "other". */
void ff_metrics_request(ff_metrics *m, const char *route, int status);
void ff_metrics_bytes(ff_metrics *m, uint64_t in, uint64_t out);
void ff_metrics_job(ff_metrics *m, int ok);         /* a session finished (ok) or failed */
void ff_metrics_step(ff_metrics *m, int step, double seconds); /* steps 2..7 */
void ff_metrics_file(ff_metrics *m, const char *status);      /* processed / skipped / failed */

/* Renders everything, with the queue depth given by the caller. malloc'd text. */
char *ff_metrics_render(ff_metrics *m, int queue_pending, int queue_running);

#endif
