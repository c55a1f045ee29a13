/* Store work off the HTTP threads. A handler whose answer needs the store (a session's status,
 * an object in S3, the ZIP's listing, the daily movie) suspends its connection and hands the work
 * to a small pool of store threads; the store deadline (FITSFLOW_STORE_TIMEOUT_MS from the
 * request's arrival) bounds every store call the work makes. When the work is done the
 * connection is resumed and the handler's second half sends the answer on the HTTP thread. So a
 * slow or unreachable S3 costs the requests that need it a 503/504 after the deadline, while the
 * HTTP threads keep answering /healthz, the page and presigns. Work that waited in the queue past
 * its deadline is not started: the client gets 503 with Retry-After at once. */
#include "server/http/httpd_impl.h"
#include "server/http/offload.h"
#include "base/clock.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define MAX_QUEUED 4096

enum { J_QUEUED, J_RUNNING, J_DONE };

typedef struct ff_offload_job {
    struct ff_offload_job *next;
    ff_req *r;                     /* NULL for a background task */
    void (*work)(void *ctx);
    enum MHD_Result (*done)(ff_req *r, void *ctx);
    void *ctx;
    void (*ctx_free)(void *ctx);
    double deadline;
    int ran;
} job;

struct ff_offload {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *head, *tail;
    size_t queued;
    int stopping;
    pthread_t *threads;
    size_t nthreads;
    double timeout;                /* seconds */
};

static void finish_job(ff_offload *o, job *j)
{
    if (j->r) {
        /* The answer is sent when the handler runs again (ff_offload_finish). */
        MHD_resume_connection(j->r->conn);
        return;
    }
    if (j->ctx_free)
        j->ctx_free(j->ctx);
    free(j);
    (void)o;
}

static void *worker(void *arg)
{
    ff_offload *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->head && !o->stopping)
            pthread_cond_wait(&o->cond, &o->lock);
        job *j = o->head;
        if (!j)
            break; /* stopping and nothing left */
        o->head = j->next;
        if (!o->head)
            o->tail = NULL;
        o->queued--;
        int late = ff_clock_now() >= j->deadline || o->stopping;
        pthread_mutex_unlock(&o->lock);
        if (!late) {
            ff_store_set_deadline(j->deadline);
            ff_store_set_stall(o->timeout);
            j->work(j->ctx);
            ff_store_set_deadline(0);
            ff_store_set_stall(0);
            j->ran = 1;
        }
        finish_job(o, j);
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

ff_offload *ff_offload_new(unsigned threads, double timeout_s, ff_err *err)
{
    ff_offload *o = calloc(1, sizeof *o);
    if (!o) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->cond, NULL);
    o->timeout = timeout_s;
    size_t n = threads ? threads : 1;
    o->threads = calloc(n, sizeof *o->threads);
    if (!o->threads) {
        ff_offload_free(o);
        ff_err_set(err, "out of memory");
        return NULL;
    }
    for (; o->nthreads < n; o->nthreads++)
        if (pthread_create(&o->threads[o->nthreads], NULL, worker, o) != 0)
            break;
    if (!o->nthreads) {
        ff_offload_free(o);
        ff_err_set(err, "cannot start the store threads");
        return NULL;
    }
    return o;
}

void ff_offload_stop(ff_offload *o)
{
    if (!o || !o->threads)
        return;
    pthread_mutex_lock(&o->lock);
    o->stopping = 1;
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->lock);
    /* Queued requests are answered 503 by the workers (late); running work ends by its deadline. */
    for (size_t i = 0; i < o->nthreads; i++)
        pthread_join(o->threads[i], NULL);
    free(o->threads);
    o->threads = NULL;
    o->nthreads = 0;
}

void ff_offload_free(ff_offload *o)
{
    if (!o)
        return;
    ff_offload_stop(o);
    free(o->threads);
    pthread_mutex_destroy(&o->lock);
    pthread_cond_destroy(&o->cond);
    free(o);
}

double ff_offload_timeout(const ff_offload *o)
{
    return o->timeout;
}

/* Queues j; 0, or -1 when the queue is full or the server stops. */
static int push(ff_offload *o, job *j)
{
    pthread_mutex_lock(&o->lock);
    if (o->stopping || o->queued >= MAX_QUEUED || !o->nthreads) {
        pthread_mutex_unlock(&o->lock);
        return -1;
    }
    j->next = NULL;
    if (o->tail)
        o->tail->next = j;
    else
        o->head = j;
    o->tail = j;
    o->queued++;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
    return 0;
}

/* 503 with Retry-After: the store (or the queue in front of it) is too slow right now. */
static enum MHD_Result send_busy(ff_req *r, const char *why)
{
    return ff_req_send_error_retry(r, 503, r->h->cfg->store_timeout_ms / 1000 + 1, "%s", why);
}

enum MHD_Result ff_req_offload(ff_req *r, void (*work)(void *ctx),
                               enum MHD_Result (*done)(ff_req *r, void *ctx), void *ctx,
                               void (*ctx_free)(void *ctx))
{
    ff_offload *o = r->h->d.offload;
    job *j = o ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        if (ctx_free)
            ctx_free(ctx);
        return send_busy(r, "the server is busy; try again");
    }
    j->r = r;
    j->work = work;
    j->done = done;
    j->ctx = ctx;
    j->ctx_free = ctx_free;
    /* The deadline counts from the request's arrival (both clocks are CLOCK_MONOTONIC). */
    j->deadline = r->t0 + o->timeout;
    ff_req_ref(r);
    r->offload = j;
    MHD_suspend_connection(r->conn);
    if (push(o, j) != 0) {
        MHD_resume_connection(r->conn);
        j->ran = 0; /* answered 503 by ff_offload_finish */
    }
    return MHD_YES;
}

enum MHD_Result ff_offload_finish(ff_req *r)
{
    job *j = r->offload;
    assert(j && j->r == r);
    r->offload = NULL;
    enum MHD_Result res = j->ran ? j->done(r, j->ctx)
                                 : send_busy(r, "the store did not answer in time; try again");
    if (j->ctx_free)
        j->ctx_free(j->ctx);
    free(j);
    ff_req_unref(r);
    return res;
}

void ff_offload_end(ff_req *r)
{
    /* The request ended after its work was done but before the handler ran again (the client
     * went away): only the job is left to free. */
    job *j = r->offload;
    if (!j)
        return;
    r->offload = NULL;
    if (j->ctx_free)
        j->ctx_free(j->ctx);
    free(j);
    ff_req_unref(r);
}

int ff_offload_task(ff_offload *o, void (*fn)(void *ctx), void *ctx, void (*ctx_free)(void *ctx))
{
    job *j = o ? calloc(1, sizeof *j) : NULL;
    if (!j)
        return -1;
    j->work = fn;
    j->ctx = ctx;
    j->ctx_free = ctx_free;
    j->deadline = ff_clock_now() + o->timeout;
    if (push(o, j) != 0) {
        free(j);
        return -1;
    }
    return 0;
}
