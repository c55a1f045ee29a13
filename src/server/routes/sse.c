/* GET /api/sessions/S/events: Server-Sent Events as a session's steps finish, so that no client
 * has to poll. Each log object under temp/S/logs/ is sent once as an event "log" ({"name",
 * "text"}); after summary_log_2.txt a final event "done" ends the stream. Logs already there when
 * the client connects come first, so a late client catches up.
 * The events come from the session's shared view (session_cache.c, pipeline/session_view.h): every
 * stream of a session reads the same list, which store threads refresh in the background (when
 * this process wrote a log of the session, at most every 250 ms; else every 2 s for writes
 * elsewhere). An HTTP thread only copies finished event text: it never calls the store. An idle
 * stream suspends its connection (no thread is held); one hub thread resumes the suspended
 * streams every 250 ms, and at once when a refresh found something. */
#include "server/routes/routes.h"
#include "base/clock.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/session.h"
#include "pipeline/session_view.h"

#define POLL_MS 250
#define KEEPALIVE_S 15.0
#define MAX_STREAM_S 3600.0
#define REFRESH_MIN_S 0.25  /* written by this process: look again after this long */
#define REFRESH_MAX_S 2.0   /* otherwise: every this long (writes by other processes) */
#define CHUNK_BYTES (256u << 10) /* event text taken from the view at once */

typedef struct sse_stream sse_stream;

struct ff_sse_hub {
    ff_app *a;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    int started, stopping;
    int woken;            /* a refresh finished: resume the streams now */
    sse_stream *suspended;
};

struct sse_stream {
    sse_stream *next;
    ff_app *a;
    ff_req *r;
    char sid[FF_SESSION_ID_MAX + 1];
    ff_session_view *view;
    size_t pos;           /* events of the view sent so far */
    ff_strbuf buf;
    size_t off;
    int done;             /* the "done" event is in buf */
    double last_send, started;
};

typedef struct refresh_task {
    ff_app *a;
    ff_session_view *view;
} refresh_task;

static void refresh_run(void *ctx)
{
    refresh_task *t = ctx;
    ff_err err = {0};
    ff_session_view_refresh(t->view, t->a->store, &err); /* a failure: the next tick tries again */
}

static void refresh_free(void *ctx)
{
    refresh_task *t = ctx;
    ff_session_cache_background(t->a->sessions, t->view, 0);
    ff_session_cache_release(t->a->sessions, t->view);
    ff_sse_hub *hub = t->a->sse;
    if (hub) {
        pthread_mutex_lock(&hub->lock);
        hub->woken = 1;
        pthread_cond_signal(&hub->cond);
        pthread_mutex_unlock(&hub->lock);
    }
    free(t);
}

/* Queues a refresh of v on a store thread when it is due and none is queued. */
static void kick(ff_app *a, ff_session_view *v)
{
    if (!ff_session_cache_background(a->sessions, v, 1))
        return;
    if (!ff_session_cache_claim(a->sessions, v, REFRESH_MIN_S, REFRESH_MAX_S)) {
        ff_session_cache_background(a->sessions, v, 0);
        return;
    }
    refresh_task *t = calloc(1, sizeof *t);
    ff_session_view *ref = t ? ff_session_cache_get(a->sessions, ff_session_view_sid(v)) : NULL;
    if (!ref) {
        free(t);
        ff_session_cache_background(a->sessions, v, 0);
        return;
    }
    t->a = a;
    t->view = ref;
    if (ff_offload_task(a->offload, refresh_run, t, refresh_free) != 0)
        refresh_free(t);
}

static void *hub_main(void *arg)
{
    ff_sse_hub *hub = arg;
    ff_app *a = hub->a;
    pthread_mutex_lock(&hub->lock);
    while (!hub->stopping) {
        if (!hub->woken) {
            struct timespec ts = ff_clock_after(CLOCK_REALTIME, POLL_MS / 1000.0);
            pthread_cond_timedwait(&hub->cond, &hub->lock, &ts);
        }
        hub->woken = 0;
        if (hub->stopping)
            break;
        sse_stream *list = hub->suspended;
        hub->suspended = NULL;
        /* Refreshes first, without the lock (a refresh that cannot be queued takes it): the
         * streams taken off the list stay suspended until resumed below, so none can be freed
         * meanwhile. Then every stream is resumed to take what is new; once resumed, another
         * thread may end and free it: read its successor first. */
        pthread_mutex_unlock(&hub->lock);
        for (sse_stream *s = list; s; s = s->next)
            kick(a, s->view);
        pthread_mutex_lock(&hub->lock);
        for (sse_stream *s = list, *next; s; s = next) {
            next = s->next;
            ff_req_resume(s->r);
        }
    }
    pthread_mutex_unlock(&hub->lock);
    return NULL;
}

ff_sse_hub *ff_sse_hub_start(ff_app *a, ff_err *err)
{
    ff_sse_hub *hub = calloc(1, sizeof *hub);
    if (!hub) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    hub->a = a;
    pthread_mutex_init(&hub->lock, NULL);
    pthread_cond_init(&hub->cond, NULL);
    if (pthread_create(&hub->thread, NULL, hub_main, hub) != 0) {
        pthread_mutex_destroy(&hub->lock);
        pthread_cond_destroy(&hub->cond);
        free(hub);
        ff_err_set(err, "cannot start the event-stream thread");
        return NULL;
    }
    hub->started = 1;
    return hub;
}

void ff_sse_hub_wake(ff_sse_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->lock);
    pthread_cond_signal(&hub->cond);
    pthread_mutex_unlock(&hub->lock);
}

void ff_sse_hub_stop(ff_sse_hub *hub)
{
    if (!hub || !hub->started)
        return;
    pthread_mutex_lock(&hub->lock);
    hub->stopping = 1;
    sse_stream *list = hub->suspended;
    hub->suspended = NULL;
    for (sse_stream *s = list, *next; s; s = next) {
        next = s->next; /* s may be freed once resumed */
        ff_req_resume(s->r);
    }
    pthread_cond_broadcast(&hub->cond);
    pthread_mutex_unlock(&hub->lock);
    pthread_join(hub->thread, NULL);
    hub->started = 0;
}

void ff_sse_hub_free(ff_sse_hub *hub)
{
    if (!hub)
        return;
    ff_sse_hub_stop(hub);
    pthread_mutex_destroy(&hub->lock);
    pthread_cond_destroy(&hub->cond);
    free(hub);
}

static ssize_t take(sse_stream *s, char *out, size_t max)
{
    size_t n = s->buf.len - s->off;
    if (n > max)
        n = max;
    memcpy(out, s->buf.p + s->off, n);
    s->off += n;
    if (s->off == s->buf.len)
        s->off = s->buf.len = 0;
    s->last_send = ff_clock_now();
    ff_req_count_out(s->r, n);
    return (ssize_t)n;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    sse_stream *s = cls;
    if (s->buf.len > s->off)
        return take(s, out, max);
    if (s->done)
        return MHD_CONTENT_READER_END_OF_STREAM;
    double now = ff_clock_now();
    if (now - s->started > MAX_STREAM_S)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (ff_session_view_events(s->view, &s->pos, &s->buf, CHUNK_BYTES, &s->done) != 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->buf.len == 0 && now - s->last_send >= KEEPALIVE_S)
        ff_strbuf_adds(&s->buf, ": keepalive\n\n");
    if (s->buf.oom)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->buf.len > s->off)
        return take(s, out, max);
    ff_sse_hub *hub = s->a->sse;
    pthread_mutex_lock(&hub->lock);
    if (hub->stopping) {
        pthread_mutex_unlock(&hub->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    ff_req_suspend(s->r);
    s->next = hub->suspended;
    hub->suspended = s;
    pthread_mutex_unlock(&hub->lock);
    return 0;
}

static void sse_free(void *cls)
{
    sse_stream *s = cls;
    ff_session_cache_release(s->a->sessions, s->view);
    free(s->buf.p);
    ff_req_unref(s->r);
    free(s);
}

enum MHD_Result ff_sse_events(ff_req *r, void *app, const char *sid)
{
    assert(ff_session_id_valid(sid)); /* the route's {sid}: the engine checked it */
    ff_app *a = app;
    sse_stream *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    s->a = a;
    s->r = r;
    snprintf(s->sid, sizeof s->sid, "%s", sid);
    s->started = s->last_send = ff_clock_now();
    s->view = ff_session_cache_get(a->sessions, sid);
    if (!s->view) {
        free(s);
        return ff_req_send_error(r, 503, "out of memory; try again");
    }
    ff_strbuf_addf(&s->buf, ": events of session %s\nretry: 2000\n\n", sid);
    if (s->buf.oom) {
        ff_session_cache_release(a->sessions, s->view);
        free(s->buf.p);
        free(s);
        return MHD_NO;
    }
    kick(a, s->view); /* a late client's catch-up starts now, not at the next tick */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_free);
    if (!resp) {
        ff_session_cache_release(a->sessions, s->view);
        free(s->buf.p);
        free(s);
        return MHD_NO;
    }
    ff_req_ref(r);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return ff_req_send(r, 200, resp);
}
