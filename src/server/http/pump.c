/* Response bodies made by a producer thread (an object pulled from S3, a ZIP being built): the
 * producer writes into a bounded ring; libmicrohttpd's content reader drains it. When the ring is
 * empty the connection is suspended (it holds no HTTP thread while the producer waits on the
 * network or compresses) and the producer resumes it as soon as it has written more. Every pump is
 * registered with the server so that shutdown can end them all before the daemon stops (MHD
 * refuses to stop with a connection still suspended). */
#include "server/http/httpd_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct ff_pump_hub {
    pthread_mutex_t lock;   /* taken before any pump's lock */
    ff_pump *head;
    int stopping;
};

struct ff_pump {
    ff_pump *prev, *next;   /* in the hub, under the hub's lock */
    ff_httpd *h;
    ff_req *r;
    pthread_mutex_t lock;
    pthread_cond_t can_write;
    char *ring;
    size_t cap, head, len;  /* bytes waiting start at head */
    int done, failed, cancelled, suspended;
    pthread_t thread;
    ff_pump_fn fn;
    void *ctx;
    void (*ctx_free)(void *ctx);
};

int ff_pump_hub_start(ff_httpd *h, ff_err *err)
{
    ff_pump_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return ff_err_set(err, "out of memory");
    pthread_mutex_init(&hub->lock, NULL);
    h->pumps = hub;
    return 0;
}

void ff_pump_hub_stop(ff_httpd *h)
{
    ff_pump_hub *hub = h ? h->pumps : NULL;
    if (!hub)
        return;
    pthread_mutex_lock(&hub->lock);
    hub->stopping = 1;
    for (ff_pump *p = hub->head; p; p = p->next) {
        pthread_mutex_lock(&p->lock);
        p->cancelled = 1;
        pthread_cond_broadcast(&p->can_write);
        if (p->suspended) {
            p->suspended = 0;
            MHD_resume_connection(p->r->conn);
        }
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&hub->lock);
}

void ff_pump_hub_free(ff_httpd *h)
{
    if (!h || !h->pumps)
        return;
    pthread_mutex_destroy(&h->pumps->lock);
    free(h->pumps);
    h->pumps = NULL;
}

/* Wakes the connection when it waits for data. Under p->lock. */
static void wake(ff_pump *p)
{
    if (p->suspended) {
        p->suspended = 0;
        MHD_resume_connection(p->r->conn);
    }
}

int ff_pump_write(ff_pump *p, const void *buf, size_t n)
{
    const char *src = buf;
    pthread_mutex_lock(&p->lock);
    while (n) {
        while (p->len == p->cap && !p->cancelled)
            pthread_cond_wait(&p->can_write, &p->lock);
        if (p->cancelled) {
            pthread_mutex_unlock(&p->lock);
            return -1;
        }
        size_t tail = (p->head + p->len) % p->cap;
        size_t room = p->cap - p->len;
        size_t run = p->cap - tail < room ? p->cap - tail : room;
        if (run > n)
            run = n;
        memcpy(p->ring + tail, src, run);
        p->len += run;
        src += run;
        n -= run;
        wake(p);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int ff_pump_cancelled(ff_pump *p)
{
    pthread_mutex_lock(&p->lock);
    int c = p->cancelled;
    pthread_mutex_unlock(&p->lock);
    return c;
}

static void *producer(void *arg)
{
    ff_pump *p = arg;
    int rc = p->fn(p, p->ctx);
    pthread_mutex_lock(&p->lock);
    p->done = 1;
    p->failed = rc != 0;
    wake(p);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Copies what waits in the ring. Under p->lock. */
static size_t take(ff_pump *p, char *out, size_t max)
{
    size_t n = 0;
    while (n < max && p->len) {
        size_t run = p->cap - p->head < p->len ? p->cap - p->head : p->len;
        if (run > max - n)
            run = max - n;
        memcpy(out + n, p->ring + p->head, run);
        p->head = (p->head + run) % p->cap;
        p->len -= run;
        n += run;
    }
    pthread_cond_signal(&p->can_write);
    return n;
}

/* A body that failed must not look finished to any client: chunked clients miss the final chunk,
 * but an HTTP/1.0 client (or a proxy speaking it) reads to the close. Closing with a reset (no
 * lingering) makes the end an error for them too. */
static void reset_on_close(ff_pump *p)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(p->r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        struct linger lg = {1, 0};
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
}

static ssize_t pump_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    ff_pump *p = cls;
    ff_pump_hub *hub = p->h->pumps;
    /* The suspend decision is taken under the hub's lock too, so that shutdown (which walks the
     * hub) never misses a connection that is about to be suspended. */
    pthread_mutex_lock(&hub->lock);
    pthread_mutex_lock(&p->lock);
    ssize_t rc;
    if (p->len) {
        size_t n = take(p, out, max);
        atomic_fetch_add(&p->r->bytes_out, n);
        rc = (ssize_t)n;
    } else if (p->done && !p->failed) {
        rc = MHD_CONTENT_READER_END_OF_STREAM;
    } else if (p->done || p->cancelled || hub->stopping) {
        if (p->done && p->failed)
            reset_on_close(p);
        rc = MHD_CONTENT_READER_END_WITH_ERROR;
    } else {
        p->suspended = 1;
        MHD_suspend_connection(p->r->conn);
        rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

static void pump_free(void *cls)
{
    ff_pump *p = cls;
    ff_pump_hub *hub = p->h->pumps;
    pthread_mutex_lock(&p->lock);
    p->cancelled = 1;
    pthread_cond_broadcast(&p->can_write);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_mutex_lock(&hub->lock);
    if (p->prev)
        p->prev->next = p->next;
    else
        hub->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    pthread_mutex_unlock(&hub->lock);
    if (p->ctx_free)
        p->ctx_free(p->ctx);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->can_write);
    free(p->ring);
    ff_req_unref(p->r);
    free(p);
}

struct MHD_Response *ff_pump_response(ff_req *r, uint64_t size, size_t ring, ff_pump_fn fn,
                                      void *ctx, void (*ctx_free)(void *ctx))
{
    ff_pump_hub *hub = r->h->pumps;
    ff_pump *p = calloc(1, sizeof *p);
    if (!p || !(p->ring = malloc(ring))) {
        free(p);
        if (ctx_free)
            ctx_free(ctx);
        return NULL;
    }
    p->h = r->h;
    p->r = r;
    p->cap = ring;
    p->fn = fn;
    p->ctx = ctx;
    p->ctx_free = ctx_free;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->can_write, NULL);
    pthread_mutex_lock(&hub->lock);
    int stopping = hub->stopping;
    pthread_mutex_unlock(&hub->lock);
    if (stopping || pthread_create(&p->thread, NULL, producer, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->can_write);
        free(p->ring);
        free(p);
        if (ctx_free)
            ctx_free(ctx);
        return NULL;
    }
    ff_req_ref(r);
    pthread_mutex_lock(&hub->lock);
    p->next = hub->head;
    if (hub->head)
        hub->head->prev = p;
    hub->head = p;
    pthread_mutex_unlock(&hub->lock);
    struct MHD_Response *resp = MHD_create_response_from_callback(size, 64 * 1024, pump_read, p, pump_free);
    if (!resp)
        pump_free(p);
    return resp;
}
