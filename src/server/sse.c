/* GET /api/sessions/S/events: Server-Sent Events as a session's steps finish, so that no client
 * has to poll. Each log object that appears under temp/S/logs/ is sent once as an event "log"
 * ({"name", "text"}); after summary_log_2.txt a final event "done" ends the stream. Logs already
 * there when the client connects come first, so a late client catches up.
 * An idle stream suspends its connection (no thread is held); one hub thread resumes the
 * suspended streams every 250 ms and each then looks for new logs. On a store without local
 * files (s3) a look is a LIST request, so a stream looks only when this process wrote a log
 * (the workers tell the hub) or every 2 s for logs written elsewhere. */
#include "server/http_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/session.h"

#define POLL_MS 250
#define KEEPALIVE_S 15.0
#define MAX_STREAM_S 3600.0
#define MAX_LOG_BYTES (64 * 1024)
#define MAX_SEEN 100000
#define REMOTE_POLL_S 2.0

typedef struct sse_stream sse_stream;

struct ff_sse_hub {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    int started, stopping;
    sse_stream *suspended;
    atomic_ulong gen; /* counts logs written by this process */
};

struct sse_stream {
    sse_stream *next;
    ff_http *h;
    ff_req *r;
    char sid[FF_SESSION_ID_MAX + 1];
    char **seen; /* sorted names already sent */
    size_t nseen, capseen;
    char *buf;
    size_t len, off, cap;
    int finished;
    double last_send, started;
    int remote;           /* the store has no local files: looking costs a request */
    int looked;
    unsigned long gen_seen;
    double last_look;
};

static void *hub_main(void *arg)
{
    ff_sse_hub *hub = arg;
    pthread_mutex_lock(&hub->lock);
    while (!hub->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&hub->cond, &hub->lock, &ts);
        sse_stream *list = hub->suspended;
        hub->suspended = NULL;
        /* Resumed under the lock: a stream cannot be freed while it is suspended, and it suspends
         * itself only while holding this lock, so every entry here is really suspended. Once
         * resumed, another thread may end and free it: read its successor first. */
        for (sse_stream *s = list, *next; s; s = next) {
            next = s->next;
            MHD_resume_connection(s->r->conn);
        }
    }
    pthread_mutex_unlock(&hub->lock);
    return NULL;
}

int ff_sse_start(ff_http *h, ff_err *err)
{
    ff_sse_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return ff_err_set(err, "out of memory");
    pthread_mutex_init(&hub->lock, NULL);
    pthread_cond_init(&hub->cond, NULL);
    if (pthread_create(&hub->thread, NULL, hub_main, hub) != 0) {
        free(hub);
        return ff_err_set(err, "cannot start the event-stream thread");
    }
    hub->started = 1;
    h->sse = hub;
    return 0;
}

void ff_http_logs_changed(void *ctx, const char *sid, const char *name, const char *text)
{
    (void)sid;
    (void)name;
    (void)text;
    ff_http *h = ctx;
    if (!h || !h->sse)
        return;
    atomic_fetch_add(&h->sse->gen, 1);
    pthread_mutex_lock(&h->sse->lock);
    pthread_cond_signal(&h->sse->cond);
    pthread_mutex_unlock(&h->sse->lock);
}

void ff_sse_stop(ff_http *h)
{
    ff_sse_hub *hub = h ? h->sse : NULL;
    if (!hub || !hub->started)
        return;
    pthread_mutex_lock(&hub->lock);
    hub->stopping = 1;
    sse_stream *list = hub->suspended;
    hub->suspended = NULL;
    for (sse_stream *s = list, *next; s; s = next) {
        next = s->next; /* s may be freed once resumed */
        MHD_resume_connection(s->r->conn);
    }
    pthread_cond_broadcast(&hub->cond);
    pthread_mutex_unlock(&hub->lock);
    pthread_join(hub->thread, NULL);
    hub->started = 0;
}

void ff_sse_free(ff_http *h)
{
    if (!h || !h->sse)
        return;
    ff_sse_stop(h);
    pthread_mutex_destroy(&h->sse->lock);
    pthread_cond_destroy(&h->sse->cond);
    free(h->sse);
    h->sse = NULL;
}

static int append(sse_stream *s, const char *text, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return -1;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    return 0;
}

static int append_event(sse_stream *s, const char *event, json_t *data)
{
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (!text)
        return -1;
    char head[64];
    int hn = snprintf(head, sizeof head, "event: %s\ndata: ", event);
    int rc = append(s, head, (size_t)hn) | append(s, text, strlen(text)) | append(s, "\n\n", 2);
    free(text);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int was_seen(sse_stream *s, const char *name)
{
    return s->nseen && bsearch(&name, s->seen, s->nseen, sizeof *s->seen, cmp_str) != NULL;
}

typedef struct found {
    char *name;
    time_t mtime;
    int rank;
} found;

typedef struct scan {
    sse_stream *s;
    found *items;
    size_t n, cap;
    size_t prefix_len;
} scan;

static int on_key(const char *key, const ff_store_stat *st, void *ctx)
{
    scan *sc = ctx;
    const char *name = key + sc->prefix_len;
    if (strchr(name, '/') || name[0] == '.' || was_seen(sc->s, name))
        return 0;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 16;
        found *f = realloc(sc->items, cap * sizeof *f);
        if (!f)
            return -1;
        sc->items = f;
        sc->cap = cap;
    }
    found *f = &sc->items[sc->n];
    f->name = strdup(name);
    if (!f->name)
        return -1;
    f->mtime = st->mtime;
    /* Ties in time (one-second resolution): the download summary first, the final summary last. */
    f->rank = !strcmp(name, "download_summary_log_1.txt") ? 0 : !strcmp(name, "summary_log_2.txt") ? 2 : 1;
    sc->n++;
    return 0;
}

static int cmp_found(const void *a, const void *b)
{
    const found *x = a, *y = b;
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    return strcmp(x->name, y->name);
}

/* Appends an event for every new log; marks the stream finished after the summary. */
static void poll_logs(sse_stream *s)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "temp/%s/logs/", s->sid);
    scan sc = {s, NULL, 0, 0, strlen(prefix)};
    ff_err err;
    ff_store_list(s->h->d.store, prefix, on_key, &sc, &err);
    if (sc.n)
        qsort(sc.items, sc.n, sizeof *sc.items, cmp_found);
    for (size_t i = 0; i < sc.n; i++) {
        found *f = &sc.items[i];
        char key[256], *text = NULL;
        size_t tl = 0;
        snprintf(key, sizeof key, "%s%s", prefix, f->name);
        if (s->finished || s->nseen >= MAX_SEEN ||
            ff_store_get(s->h->d.store, key, MAX_LOG_BYTES, &text, &tl, &err) != 0) {
            free(f->name);
            continue;
        }
        append_event(s, "log", json_pack("{s:s,s:s%}", "name", f->name, "text", text, tl));
        int summary = !strcmp(f->name, "summary_log_2.txt");
        if (s->nseen == s->capseen) {
            size_t cap = s->capseen ? s->capseen * 2 : 32;
            char **n = realloc(s->seen, cap * sizeof *n);
            if (n) {
                s->seen = n;
                s->capseen = cap;
            }
        }
        if (s->nseen < s->capseen) {
            s->seen[s->nseen++] = f->name;
            qsort(s->seen, s->nseen, sizeof *s->seen, cmp_str);
        } else {
            free(f->name);
        }
        if (summary) {
            append_event(s, "done", json_pack("{s:s,s:s%}", "session_id", s->sid, "summary", text, tl));
            s->finished = 1;
        }
        free(text);
    }
    free(sc.items);
}

static ssize_t take(sse_stream *s, char *out, size_t max)
{
    size_t n = s->len - s->off;
    if (n > max)
        n = max;
    memcpy(out, s->buf + s->off, n);
    s->off += n;
    if (s->off == s->len)
        s->off = s->len = 0;
    s->last_send = ff_http_now();
    atomic_fetch_add(&s->r->bytes_out, n);
    return (ssize_t)n;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    sse_stream *s = cls;
    if (s->len > s->off)
        return take(s, out, max);
    if (s->finished)
        return MHD_CONTENT_READER_END_OF_STREAM;
    double now = ff_http_now();
    if (now - s->started > MAX_STREAM_S)
        return MHD_CONTENT_READER_END_OF_STREAM;
    unsigned long gen = atomic_load(&s->h->sse->gen);
    if (!s->remote || !s->looked || gen != s->gen_seen || now - s->last_look >= REMOTE_POLL_S) {
        s->looked = 1;
        s->gen_seen = gen;
        s->last_look = now;
        poll_logs(s);
    }
    if (s->len == 0 && now - s->last_send >= KEEPALIVE_S)
        append(s, ": keepalive\n\n", 13);
    if (s->len > s->off)
        return take(s, out, max);
    ff_sse_hub *hub = s->h->sse;
    pthread_mutex_lock(&hub->lock);
    if (hub->stopping) {
        pthread_mutex_unlock(&hub->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    MHD_suspend_connection(s->r->conn);
    s->next = hub->suspended;
    hub->suspended = s;
    pthread_mutex_unlock(&hub->lock);
    return 0;
}

static void sse_free(void *cls)
{
    sse_stream *s = cls;
    for (size_t i = 0; i < s->nseen; i++)
        free(s->seen[i]);
    free(s->seen);
    free(s->buf);
    ff_req_unref(s->r);
    free(s);
}

enum MHD_Result ff_sse_events(ff_req *r, const char *sid)
{
    sse_stream *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    s->h = r->h;
    s->r = r;
    snprintf(s->sid, sizeof s->sid, "%s", sid);
    s->started = s->last_send = ff_http_now();
    char *local = ff_store_local_path(r->h->d.store, "temp");
    s->remote = !local;
    free(local);
    char hello[160];
    int n = snprintf(hello, sizeof hello, ": events of session %s\nretry: 2000\n\n", sid);
    if (append(s, hello, (size_t)n) != 0) {
        free(s);
        return MHD_NO;
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_free);
    if (!resp) {
        free(s->buf);
        free(s);
        return MHD_NO;
    }
    ff_req_ref(r);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return ff_http_send(r, 200, resp);
}
