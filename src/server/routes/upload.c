/* PUT to a presigned URL: checks the signature, the name and the session's limits (bytes and
 * files), then streams the body into an atomic store writer (never whole in memory). Concurrent
 * uploads to one session reserve their Content-Length and name before streaming, so together
 * they cannot pass the limits; an upload that is cut short or fails stores nothing. */
#include "server/routes/routes.h"
#include "pipeline/keys.h"
#include "base/clock.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"
#include "base/number.h"
#include "pipeline/session.h"

/* What the server knows of one session's uploads: the objects under temp/S/fits/ as one paged
 * listing found them (refreshed when older than USAGE_TTL_S, so that uploads through another
 * instance count too), updated by every upload this process completes, plus the uploads in
 * flight. An upload is checked against this instead of listing the session again: n uploads cost
 * n PUTs and a listing every USAGE_TTL_S, not n listings of a growing session. */
#define USAGE_TTL_S 30.0
#define USAGE_IDLE_S 300.0 /* entries with nothing in flight unused this long are dropped */
#define USAGE_MAX 4096     /* sessions remembered at once */

typedef struct named_size {
    char *name;
    uint64_t size;
} named_size;

typedef struct usage {
    struct usage *next;
    char sid[FF_SESSION_ID_MAX + 1];
    pthread_mutex_t lock;       /* held while listing: one listing per session at a time */
    int refs;                   /* under the table's lock */
    double loaded_at;           /* ff_clock_now() of the listing; 0 = none yet */
    double last_used;
    named_size *stored;         /* sorted by name */
    size_t nstored, capstored;
    uint64_t stored_bytes;
    named_size *flight;         /* uploads streaming now (a name may be there twice) */
    size_t nflight, capflight;
} usage;

struct ff_upload_table {
    pthread_mutex_t lock;
    usage *head;
    size_t n;
};

typedef struct ff_upload {
    ff_app *a;
    unsigned reject;          /* nonzero: the body is drained and then this status is sent */
    char reject_msg[FF_ERR_MAX + 256];
    char key[FF_STORE_KEY_MAX + 1];
    char sid[FF_SESSION_ID_MAX + 1];
    const char *name;         /* in key */
    uint64_t expected;
    ff_store_writer *w;
    int failed;
    ff_store_fault fault;     /* of the failed write */
    ff_err err;
    double started;
    int done;
    int reserved;             /* counted in its session's usage */
} ff_upload;

ff_upload_table *ff_upload_table_new(void)
{
    ff_upload_table *t = calloc(1, sizeof *t);
    if (t)
        pthread_mutex_init(&t->lock, NULL);
    return t;
}

static void usage_free(usage *u)
{
    for (size_t i = 0; i < u->nstored; i++)
        free(u->stored[i].name);
    for (size_t i = 0; i < u->nflight; i++)
        free(u->flight[i].name);
    free(u->stored);
    free(u->flight);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

void ff_upload_table_free(ff_upload_table *t)
{
    if (!t)
        return;
    while (t->head) {
        usage *n = t->head->next;
        usage_free(t->head);
        t->head = n;
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* The usage entry of sid, held (refs) until usage_put; NULL when out of memory, or when there is
 * none and create is 0. */
static usage *usage_get(ff_upload_table *t, const char *sid, int create)
{
    double now = ff_clock_now();
    pthread_mutex_lock(&t->lock);
    usage *u = t->head, **pp;
    while (u && strcmp(u->sid, sid))
        u = u->next;
    if (!u && !create) {
        pthread_mutex_unlock(&t->lock);
        return NULL;
    }
    if (!u) {
        /* Make room first: forget idle sessions, the longest unused first when still too many. */
        for (pp = &t->head; *pp;) {
            usage *e = *pp;
            if (!e->refs && !e->nflight && (now - e->last_used > USAGE_IDLE_S || t->n >= USAGE_MAX)) {
                *pp = e->next;
                t->n--;
                usage_free(e);
            } else {
                pp = &e->next;
            }
        }
        u = calloc(1, sizeof *u);
        if (!u) {
            pthread_mutex_unlock(&t->lock);
            return NULL;
        }
        snprintf(u->sid, sizeof u->sid, "%s", sid);
        pthread_mutex_init(&u->lock, NULL);
        u->next = t->head;
        t->head = u;
        t->n++;
    }
    u->refs++;
    u->last_used = now;
    pthread_mutex_unlock(&t->lock);
    return u;
}

static void usage_put(ff_upload_table *t, usage *u)
{
    pthread_mutex_lock(&t->lock);
    u->refs--;
    u->last_used = ff_clock_now();
    pthread_mutex_unlock(&t->lock);
}

static int cmp_named_size(const void *a, const void *b)
{
    return strcmp(((const named_size *)a)->name, ((const named_size *)b)->name);
}

static named_size *stored_find(usage *u, const char *name)
{
    named_size key = {(char *)name, 0};
    return u->nstored ? bsearch(&key, u->stored, u->nstored, sizeof *u->stored, cmp_named_size) : NULL;
}

static int in_flight(const usage *u, const char *name)
{
    for (size_t i = 0; i < u->nflight; i++)
        if (!strcmp(u->flight[i].name, name))
            return 1;
    return 0;
}

/* 1 when flight[i]'s name is also at an earlier index (count each name once). */
static int in_flight_before(const usage *u, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (!strcmp(u->flight[j].name, u->flight[i].name))
            return 1;
    return 0;
}

/* Grows an array of named sizes to hold one more. */
static int grow(named_size **v, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    named_size *nv = realloc(*v, c * sizeof *nv);
    if (!nv)
        return -1;
    *v = nv;
    *cap = c;
    return 0;
}

typedef struct load_ctx {
    usage *u;
    size_t prefix_len;
    int oom;
} load_ctx;

static int on_stored(const char *key, const ff_store_stat *st, void *ctx)
{
    load_ctx *l = ctx;
    usage *u = l->u;
    const char *name = key + l->prefix_len;
    if (!*name || strchr(name, '/'))
        return 0;
    if (grow(&u->stored, u->nstored, &u->capstored) != 0 ||
        !(u->stored[u->nstored].name = strdup(name))) {
        l->oom = 1;
        return -1;
    }
    u->stored[u->nstored++].size = st->size;
    u->stored_bytes += st->size;
    return 0;
}

/* Lists temp/S/fits/ into u (under u->lock). 0, or -1 with err (the fault recorded). */
static int usage_load(usage *u, ff_store *store, ff_err *err)
{
    for (size_t i = 0; i < u->nstored; i++)
        free(u->stored[i].name);
    u->nstored = 0;
    u->stored_bytes = 0;
    u->loaded_at = 0;
    char prefix[128];
    ff_key_upload(prefix, sizeof prefix, u->sid, "");
    load_ctx l = {u, strlen(prefix), 0};
    int rc = ff_store_list(store, prefix, on_stored, &l, err);
    if (l.oom) {
        ff_store_fault_set(FF_STORE_FAULT_LOCAL);
        rc = ff_err_set(err, "out of memory");
    }
    if (rc != 0) {
        for (size_t i = 0; i < u->nstored; i++)
            free(u->stored[i].name);
        u->nstored = 0;
        u->stored_bytes = 0;
        return -1;
    }
    if (u->nstored > 1)
        qsort(u->stored, u->nstored, sizeof *u->stored, cmp_named_size);
    u->loaded_at = ff_clock_now();
    return 0;
}

/* What a refused reservation says. */
enum { RES_OK = 0, RES_BYTES = 1, RES_FILES = 2 };

/* Reserves len bytes and the name for an upload to sid: RES_OK, RES_BYTES (over the size limit;
 * *used filled), RES_FILES (over the number of files; *used = files), or -1 with err. */
static int reserve(ff_app *a, const char *sid, const char *name, uint64_t len, uint64_t *used,
                   ff_err *err)
{
    usage *u = usage_get(a->uploads, sid, 1);
    if (!u) {
        ff_store_fault_set(FF_STORE_FAULT_LOCAL);
        return ff_err_set(err, "out of memory");
    }
    pthread_mutex_lock(&u->lock);
    /* One reservation at a time per session: two uploads cannot both see room for themselves. */
    if ((!u->loaded_at || ff_clock_now() - u->loaded_at > USAGE_TTL_S) &&
        usage_load(u, a->store, err) != 0) {
        pthread_mutex_unlock(&u->lock);
        usage_put(a->uploads, u);
        return -1;
    }
    const named_size *old = stored_find(u, name);
    uint64_t pending = 0;
    for (size_t i = 0; i < u->nflight; i++)
        pending += u->flight[i].size;
    /* A new upload of an existing name replaces it: its old size does not count. */
    uint64_t stored = u->stored_bytes - (old ? old->size : 0);
    int rc = RES_OK;
    size_t files = u->nstored;
    for (size_t i = 0; i < u->nflight; i++)
        if (!stored_find(u, u->flight[i].name) && !in_flight_before(u, i))
            files++;
    if (!old && !in_flight(u, name) && files + 1 > a->cfg->session_max_files) {
        *used = files;
        rc = RES_FILES;
    } else if (stored + pending + len > a->cfg->session_limit_bytes) {
        *used = stored + pending;
        rc = RES_BYTES;
    } else if (grow(&u->flight, u->nflight, &u->capflight) != 0 ||
               !(u->flight[u->nflight].name = strdup(name))) {
        ff_store_fault_set(FF_STORE_FAULT_LOCAL);
        rc = ff_err_set(err, "out of memory");
    } else {
        u->flight[u->nflight++].size = len;
    }
    pthread_mutex_unlock(&u->lock);
    usage_put(a->uploads, u);
    return rc;
}

/* An upload ended: its reservation goes; when it was stored (stored_size), the name now holds
 * that size. */
static void release(ff_app *a, const char *sid, const char *name, uint64_t len, int stored,
                    uint64_t stored_size)
{
    usage *u = usage_get(a->uploads, sid, 0);
    if (!u)
        return;
    pthread_mutex_lock(&u->lock);
    for (size_t i = 0; i < u->nflight; i++)
        if (!strcmp(u->flight[i].name, name) && u->flight[i].size == len) {
            free(u->flight[i].name);
            u->flight[i] = u->flight[--u->nflight];
            break;
        }
    if (stored && u->loaded_at) {
        named_size *old = stored_find(u, name);
        if (old) {
            u->stored_bytes -= old->size;
            old->size = stored_size;
            u->stored_bytes += stored_size;
        } else if (grow(&u->stored, u->nstored, &u->capstored) == 0 &&
                   (u->stored[u->nstored].name = strdup(name))) {
            u->stored[u->nstored++].size = stored_size;
            u->stored_bytes += stored_size;
            qsort(u->stored, u->nstored, sizeof *u->stored, cmp_named_size);
        } else {
            u->loaded_at = 0; /* could not note it: list again next time */
        }
    }
    pthread_mutex_unlock(&u->lock);
    usage_put(a->uploads, u);
}

int ff_upload_presign_check(ff_app *a, const char *sid, const char *name, ff_err *err)
{
    /* Only what is known already: a presign never waits on the store. */
    usage *u = usage_get(a->uploads, sid, 0);
    if (!u)
        return 0;
    int rc = 0;
    if (pthread_mutex_trylock(&u->lock) == 0) {
        size_t files = u->nstored;
        for (size_t i = 0; i < u->nflight; i++)
            if (!stored_find(u, u->flight[i].name) && !in_flight_before(u, i))
                files++;
        if (u->loaded_at && !stored_find(u, name) && !in_flight(u, name) &&
            files >= a->cfg->session_max_files)
            rc = ff_err_set(err, "session %s already has %zu files, the most a session may hold "
                            "(FITSFLOW_SESSION_MAX_FILES)", sid, files);
        pthread_mutex_unlock(&u->lock);
    }
    usage_put(a->uploads, u);
    return rc;
}

/* Refuses an upload. A client that sent no Expect: 100-continue is already sending its body: a
 * body of moderate size is read and dropped first, so that the connection can be kept alive. A
 * larger one (or one the client waits to send) is answered at once and the connection closed;
 * the front door then lingers, reading and dropping the rest of the body for a while, so that the
 * client reads the answer instead of a reset (lingering close, as nginx does). */
static enum MHD_Result upload_data(ff_req *r, void *ctx, const char *data, size_t *size);
static void upload_end(ff_req *r, void *ctx);

static enum MHD_Result reject(ff_req *r, ff_app *a, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result reject(ff_req *r, ff_app *a, unsigned status, const char *fmt, ...)
{
    char msg[sizeof(((ff_upload *)0)->reject_msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *expect = ff_req_header(r, "Expect");
    const char *cl = ff_req_header(r, "Content-Length");
    uint64_t len = 0;
    int drain = !(expect && !strcasecmp(expect, "100-continue")) && cl && !ff_req_header(r, "Transfer-Encoding") &&
                ff_parse_u64(cl, 0, UINT64_MAX / 2, &len) == 0 && len > 0 && len <= FF_HTTP_DRAIN_MAX;
    if (!drain) {
        if (ff_req_header(r, "Transfer-Encoding") || (cl && (ff_parse_u64(cl, 0, UINT64_MAX / 2, &len) != 0 || len))) {
            ff_req_close_after(r, 1); /* a body may follow: close, and linger */
        }
        return ff_req_send_error(r, status, "%s", msg);
    }
    ff_upload *u = calloc(1, sizeof *u);
    if (!u)
        return MHD_NO;
    u->a = a;
    u->reject = status;
    memcpy(u->reject_msg, msg, sizeof msg);
    ff_req_take_body(r, upload_data, upload_end, u);
    return MHD_YES;
}

/* Store calls of an upload run on the HTTP thread (the body streams through them): each is
 * bounded by FITSFLOW_STORE_TIMEOUT_MS (a part sent to S3: without progress for that long). */
static void store_deadline(const ff_app *a)
{
    ff_store_set_deadline(ff_clock_now() + ff_offload_timeout(a->offload));
}

enum MHD_Result ff_upload_put(ff_req *r, void *app, const char *key)
{
    ff_app *a = app;
    ff_err err = {0};
    char sid[FF_SESSION_ID_MAX + 1];
    const char *name = NULL;
    if (ff_key_split_upload(key, sid, sizeof sid, &name, &err) != 0)
        return reject(r, a, 400, "bad upload path: %s", err.msg);
    if (!ff_upload_name_valid(name, &err))
        return reject(r, a, 400, "%s", err.msg);
    const char *ctype = ff_req_header(r, "Content-Type");
    ff_presign_result pr = ff_presign_verify(a->secret, "PUT", key, ff_req_arg(r, FF_PRESIGN_EXPIRES_ARG),
                                             ff_req_arg(r, FF_PRESIGN_SIGNATURE_ARG), ctype ? ctype : "",
                                             (int64_t)time(NULL), &err);
    if (pr != FF_PRESIGN_OK)
        return reject(r, a, 403, "%s", err.msg);
    const char *cl = ff_req_header(r, "Content-Length");
    const char *te = ff_req_header(r, "Transfer-Encoding");
    if (te || !cl)
        return reject(r, a, 411, "an upload needs a Content-Length header (no chunked bodies)");
    uint64_t len = 0;
    if (ff_parse_u64(cl, 0, UINT64_MAX / 2, &len) != 0)
        return reject(r, a, 400, "Content-Length '%.32s' is not a number", cl);
    uint64_t limit = a->cfg->session_limit_bytes, used = 0;
    if (len > limit)
        return reject(r, a, 413, "this file is %" PRIu64 " bytes, more than a session may hold "
                                          "(%" PRIu64 " bytes)", len, limit);
    store_deadline(a);
    int rc = reserve(a, sid, name, len, &used, &err);
    ff_store_set_deadline(0);
    if (rc < 0) {
        ff_store_fault f = ff_store_last_fault();
        ff_log(FF_LOG_WARN, sid, name, "cannot check the session's size: %s", err.msg);
        return reject(r, a, ff_http_store_status(f), "cannot check the session's size: %s%s", err.msg,
                      ff_store_fault_transient(f) ? " (try again shortly)" : "");
    }
    if (rc == RES_FILES)
        return reject(r, a, 413, "session %s already has %" PRIu64 " files, the most a session may "
                              "hold (FITSFLOW_SESSION_MAX_FILES)", sid, used);
    if (rc == RES_BYTES)
        return reject(r, a, 413, "this file (%" PRIu64 " bytes) would take session %s past its "
                                          "limit of %" PRIu64 " bytes (%" PRIu64 " already uploaded or uploading)",
                                  len, sid, limit, used);
    ff_upload *u = calloc(1, sizeof *u);
    if (!u) {
        release(a, sid, name, len, 0, 0);
        return MHD_NO;
    }
    u->a = a;
    snprintf(u->key, sizeof u->key, "%s", key);
    snprintf(u->sid, sizeof u->sid, "%s", sid);
    u->name = u->key + (name - key);
    u->reserved = 1;
    u->expected = len;
    u->started = ff_clock_now();
    store_deadline(a);
    u->w = ff_store_writer_open(a->store, key, &err);
    ff_store_set_deadline(0);
    if (!u->w) {
        ff_store_fault f = ff_store_last_fault();
        release(a, sid, name, len, 0, 0);
        free(u);
        ff_log(FF_LOG_ERROR, sid, name, "cannot store an upload: %s", err.msg);
        return reject(r, a, ff_http_store_status(f), "cannot store the upload: %s", err.msg);
    }
    /* The room is set aside before the body is read: a full disk is a 507 at once. */
    int room = ff_store_writer_reserve(u->w, len, &err);
    if (room != 0) {
        ff_store_writer_abort(u->w);
        release(a, sid, name, len, 0, 0);
        free(u);
        ff_log(room > 0 ? FF_LOG_WARN : FF_LOG_ERROR, sid, name, "cannot store an upload: %s", err.msg);
        return reject(r, a, room > 0 ? 507 : 500, "the server could not store the file: %s", err.msg);
    }
    ff_req_take_body(r, upload_data, upload_end, u);
    return MHD_YES; /* the body follows (MHD answers Expect: 100-continue now) */
}

static enum MHD_Result upload_data(ff_req *r, void *ctx, const char *data, size_t *size)
{
    ff_upload *u = ctx;
    ff_app *a = u->a;
    if (u->reject) {
        if (*size) {
            *size = 0;
            return MHD_YES;
        }
        if (u->done)
            return MHD_YES;
        u->done = 1;
        return ff_req_send_error(r, u->reject, "%s", u->reject_msg);
    }
    if (*size) {
        if (!u->failed) {
            store_deadline(a);
            if (ff_store_writer_write(u->w, data, *size, &u->err) != 0) {
                u->failed = 1;
                u->fault = ff_store_last_fault();
            }
            ff_store_set_deadline(0);
        }
        *size = 0;
        /* Slow clients are dropped: after 10 s, the average rate must stay above the minimum. */
        double el = ff_clock_now() - u->started;
        if (a->cfg->min_upload_rate && el > 10 && (double)ff_req_bytes_in(r) / el < a->cfg->min_upload_rate) {
            ff_log(FF_LOG_WARN, u->sid, NULL, "dropping an upload slower than %u bytes/s", a->cfg->min_upload_rate);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (u->done)
        return MHD_YES;
    /* The whole body is in. */
    u->done = 1;
    ff_store_writer *w = u->w;
    u->w = NULL;
    if (u->failed) {
        ff_store_writer_abort(w);
        ff_log(FF_LOG_ERROR, u->sid, u->key, "upload failed: %s", u->err.msg);
        return ff_req_send_store_error(r, "the server could not store the file", u->fault, &u->err);
    }
    ff_store_stat st;
    memset(&st, 0, sizeof st);
    store_deadline(a);
    int crc = ff_store_writer_commit_stat(w, &st, &u->err);
    ff_store_fault f = ff_store_last_fault();
    ff_store_set_deadline(0);
    if (crc != 0) {
        ff_log(FF_LOG_ERROR, u->sid, u->key, "upload failed: %s", u->err.msg);
        return ff_req_send_store_error(r, "the server could not store the file", f, &u->err);
    }
    /* Counted as stored now (its reservation goes when the request ends). */
    release(a, u->sid, u->name, u->expected, 1, ff_req_bytes_in(r));
    u->reserved = 0;
    ff_session_cache_touch(a->sessions, u->sid);
    json_t *body = json_pack("{s:s,s:I}", "key", u->key, "bytes", (json_int_t)ff_req_bytes_in(r));
    struct MHD_Response *resp = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text)
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    ff_req_count_out(r, strlen(text));
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (st.etag[0]) /* what the store said at the commit: no second request to ask */
        MHD_add_response_header(resp, "ETag", st.etag);
    return ff_req_send(r, 200, resp);
}

static void upload_end(ff_req *r, void *ctx)
{
    (void)r;
    ff_upload *u = ctx;
    ff_app *a = u->a;
    if (u->w) {
        /* Cut short: nothing is stored (an S3 multipart upload is aborted: bounded too). */
        store_deadline(a);
        ff_store_writer_abort(u->w);
        ff_store_set_deadline(0);
    }
    if (u->reserved)
        release(a, u->sid, u->name, u->expected, 0, 0);
    free(u);
}
