/* GET /healthz, and the store's reachability for it, known without making /healthz wait on the
 * store: every store call records whether it reached the store (ff_store_health), and a thread
 * here pings it (the cheapest listing) every PROBE_S seconds, every FAST_PROBE_S while it is
 * unreachable, each ping bounded by FITSFLOW_STORE_TIMEOUT_MS. /healthz only reads what was
 * recorded. */
#include "server/routes/routes.h"
#include "base/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "pipeline/keys.h"

#define PROBE_S 5.0
#define FAST_PROBE_S 1.0

struct ff_store_probe {
    ff_store *store;
    double timeout;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping, started;
};

static void *probe_main(void *arg)
{
    ff_store_probe *p = arg;
    ff_store *store = p->store;
    int was_reachable = 1;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        ff_store_health hs;
        ff_store_health_get(store, &hs);
        double now = ff_clock_now();
        double last = hs.last_ok > hs.last_fail ? hs.last_ok : hs.last_fail;
        double every = hs.reachable ? PROBE_S : FAST_PROBE_S;
        if (last <= 0 || now - last >= every) {
            /* Nothing recent from other calls: ask the store ourselves. */
            pthread_mutex_unlock(&p->lock);
            ff_err err = {0};
            ff_store_set_deadline(ff_clock_now() + p->timeout);
            int rc = ff_store_ping(store, FF_KEY_TEMP, &err); /* what every instance may list */
            ff_store_set_deadline(0);
            if (rc != 0 && !ff_store_fault_transient(ff_store_last_fault()))
                ff_log(FF_LOG_WARN, NULL, NULL, "the store answers but refuses a listing: %s", err.msg);
            pthread_mutex_lock(&p->lock);
        }
        ff_store_health_get(store, &hs);
        if (hs.reachable != was_reachable)
            ff_log(hs.reachable ? FF_LOG_INFO : FF_LOG_WARN, NULL, NULL, "the store is %s%s%s",
                   hs.reachable ? "reachable again" : "unreachable", hs.reachable ? "" : ": ",
                   hs.reachable ? "" : hs.reason);
        was_reachable = hs.reachable;
        struct timespec ts = ff_clock_after(CLOCK_REALTIME, 0.5);
        if (!p->stopping)
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

ff_store_probe *ff_store_probe_start(ff_store *store, double timeout_s, ff_err *err)
{
    ff_store_probe *p = calloc(1, sizeof *p);
    if (!p) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    p->store = store;
    p->timeout = timeout_s;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pthread_create(&p->thread, NULL, probe_main, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        free(p);
        ff_err_set(err, "cannot start the store probe");
        return NULL;
    }
    p->started = 1;
    return p;
}

void ff_store_probe_stop(ff_store_probe *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (p->started)
        pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

int ff_store_probe_json(ff_store *store, json_t *out)
{
    ff_store_health hs;
    ff_store_health_get(store, &hs);
    double now = ff_clock_now();
    double last = hs.last_ok > hs.last_fail ? hs.last_ok : hs.last_fail;
    json_t *s = json_object();
    json_object_set_new(s, "kind", json_string(hs.remote ? "s3" : "fs"));
    json_object_set_new(s, "reachable", json_boolean(hs.reachable));
    json_object_set_new(s, "checked_ms_ago", last > 0 ? json_integer((json_int_t)((now - last) * 1000))
                                                      : json_null());
    if (!hs.reachable) {
        json_object_set_new(s, "error", json_string(hs.reason));
        if (hs.last_ok > 0)
            json_object_set_new(s, "reached_ms_ago", json_integer((json_int_t)((now - hs.last_ok) * 1000)));
    }
    json_object_set_new(out, "store", s);
    return hs.reachable;
}

/* Never waits on the store: its reachability is what the last calls and the probe found. An
 * unreachable store makes the status "degraded", still with 200: the page, presigns and
 * everything else that needs no store keep working. */
enum MHD_Result ff_api_healthz(ff_req *r, void *app, const char *arg)
{
    (void)arg;
    ff_app *a = app;
    int pending = 0, running = 0;
    if (ff_queue_counts(a->queue, &pending, &running) != 0)
        return ff_req_send_error(r, 503, "the job queue cannot be read");
    json_t *j = json_pack("{s:s,s:i,s:i}", "status", "ok", "queue_pending", pending, "queue_running",
                          running);
    if (j && !ff_store_probe_json(a->store, j))
        json_object_set_new(j, "status", json_string("degraded"));
    return ff_req_send_json(r, 200, j);
}
