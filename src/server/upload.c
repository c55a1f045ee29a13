/* PUT to a presigned URL: checks the signature, the name and the session's size limit, then
 * streams the body into an atomic store writer (never whole in memory). Concurrent uploads to one
 * session reserve their Content-Length before streaming, so together they cannot pass the limit;
 * an upload that is cut short or fails stores nothing. */
#include "server/http_internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "pipeline/session.h"

typedef struct reservation {
    struct reservation *next;
    char sid[FF_SESSION_ID_MAX + 1];
    uint64_t bytes;
    int uploads;
} reservation;

struct ff_upload_table {
    pthread_mutex_t lock;
    reservation *head;
};

typedef struct ff_upload {
    unsigned reject;          /* nonzero: the body is drained and then this status is sent */
    char reject_msg[FF_ERR_MAX + 256];
    char key[FF_STORE_KEY_MAX + 1];
    char sid[FF_SESSION_ID_MAX + 1];
    uint64_t expected;
    ff_store_writer *w;
    int failed;
    ff_err err;
    double started;
    int done;
} ff_upload;

ff_upload_table *ff_upload_table_new(void)
{
    ff_upload_table *t = calloc(1, sizeof *t);
    if (t)
        pthread_mutex_init(&t->lock, NULL);
    return t;
}

void ff_upload_table_free(ff_upload_table *t)
{
    if (!t)
        return;
    while (t->head) {
        reservation *n = t->head->next;
        free(t->head);
        t->head = n;
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

typedef struct used_ctx {
    const char *skip;
    uint64_t bytes;
} used_ctx;

static int add_size(const char *key, const ff_store_stat *st, void *ctx)
{
    used_ctx *u = ctx;
    if (strcmp(key, u->skip) != 0)
        u->bytes += st->size;
    return 0;
}

/* Reserves len bytes for sid: 0 done, 1 over the limit (*used filled), -1 error. */
static int reserve(ff_http *h, const char *sid, const char *key, uint64_t len, uint64_t *used, ff_err *err)
{
    ff_upload_table *t = h->uploads;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "temp/%s/fits/", sid);
    used_ctx u = {key, 0};
    pthread_mutex_lock(&t->lock);
    /* The listing runs under the lock so that two uploads cannot both see room for themselves. */
    if (ff_store_list(h->d.store, prefix, add_size, &u, err) != 0) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    reservation *r = t->head;
    while (r && strcmp(r->sid, sid))
        r = r->next;
    uint64_t pending = r ? r->bytes : 0;
    *used = u.bytes + pending;
    if (u.bytes + pending + len > h->cfg->session_limit_bytes) {
        pthread_mutex_unlock(&t->lock);
        return 1;
    }
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) {
            pthread_mutex_unlock(&t->lock);
            return ff_err_set(err, "out of memory");
        }
        snprintf(r->sid, sizeof r->sid, "%s", sid);
        r->next = t->head;
        t->head = r;
    }
    r->bytes += len;
    r->uploads++;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static void release(ff_http *h, const char *sid, uint64_t len)
{
    ff_upload_table *t = h->uploads;
    pthread_mutex_lock(&t->lock);
    for (reservation **pp = &t->head; *pp; pp = &(*pp)->next) {
        reservation *r = *pp;
        if (strcmp(r->sid, sid))
            continue;
        r->bytes -= len < r->bytes ? len : r->bytes;
        if (--r->uploads <= 0) {
            *pp = r->next;
            free(r);
        }
        break;
    }
    pthread_mutex_unlock(&t->lock);
}

int ff_upload_split_key(const char *key, char *sid, size_t sidcap, const char **name, ff_err *err)
{
    if (ff_store_key_valid(key, err) != 0)
        return -1;
    if (strncmp(key, "temp/", 5) != 0)
        return ff_err_set(err, "uploads go to temp/{session}/fits/{file}");
    const char *s = key + 5;
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sidcap || strncmp(slash, "/fits/", 6) != 0 ||
        strchr(slash + 6, '/'))
        return ff_err_set(err, "uploads go to temp/{session}/fits/{file}");
    memcpy(sid, s, (size_t)(slash - s));
    sid[slash - s] = '\0';
    if (!ff_session_id_valid(sid))
        return ff_err_set(err, "session id must be 8 to 64 characters of a-z, 0-9 and '-'");
    *name = slash + 6;
    return 0;
}

/* Refuses an upload. A client that sent no Expect: 100-continue is already sending its body: a
 * body of moderate size is read and dropped first, so that the connection can be kept alive. A
 * larger one (or one the client waits to send) is answered at once and the connection closed;
 * the front door then lingers, reading and dropping the rest of the body for a while, so that the
 * client reads the answer instead of a reset (lingering close, as nginx does). */
static enum MHD_Result reject(ff_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result reject(ff_req *r, unsigned status, const char *fmt, ...)
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
            r->early = 1; /* a body may follow: close, and linger */
            r->close = 1;
        }
        return ff_http_send_error(r, status, "%s", msg);
    }
    ff_upload *u = calloc(1, sizeof *u);
    if (!u)
        return MHD_NO;
    u->reject = status;
    memcpy(u->reject_msg, msg, sizeof msg);
    r->upload = u;
    return MHD_YES;
}

enum MHD_Result ff_upload_begin(ff_req *r, const char *key)
{
    ff_http *h = r->h;
    ff_err err = {{0}};
    char sid[FF_SESSION_ID_MAX + 1];
    const char *name = NULL;
    if (ff_upload_split_key(key, sid, sizeof sid, &name, &err) != 0)
        return reject(r, 400, "bad upload path: %s", err.msg);
    if (!ff_upload_name_valid(name, &err))
        return reject(r, 400, "%s", err.msg);
    const char *ctype = ff_req_header(r, "Content-Type");
    ff_presign_result pr = ff_presign_verify(h->d.secret, "PUT", key, ff_req_arg(r, FF_PRESIGN_EXPIRES_ARG),
                                             ff_req_arg(r, FF_PRESIGN_SIGNATURE_ARG), ctype ? ctype : "",
                                             (int64_t)time(NULL), &err);
    if (pr != FF_PRESIGN_OK)
        return reject(r, 403, "%s", err.msg);
    const char *cl = ff_req_header(r, "Content-Length");
    const char *te = ff_req_header(r, "Transfer-Encoding");
    if (te || !cl)
        return reject(r, 411, "an upload needs a Content-Length header (no chunked bodies)");
    uint64_t len = 0;
    if (ff_parse_u64(cl, 0, UINT64_MAX / 2, &len) != 0)
        return reject(r, 400, "Content-Length '%.32s' is not a number", cl);
    uint64_t limit = h->cfg->session_limit_bytes, used = 0;
    if (len > limit)
        return reject(r, 413, "this file is %" PRIu64 " bytes, more than a session may hold "
                                          "(%" PRIu64 " bytes)", len, limit);
    int rc = reserve(h, sid, key, len, &used, &err);
    if (rc < 0)
        return reject(r, 500, "cannot check the session's size: %s", err.msg);
    if (rc > 0)
        return reject(r, 413, "this file (%" PRIu64 " bytes) would take session %s past its "
                                          "limit of %" PRIu64 " bytes (%" PRIu64 " already uploaded or uploading)",
                                  len, sid, limit, used);
    ff_upload *u = calloc(1, sizeof *u);
    if (!u) {
        release(h, sid, len);
        return MHD_NO;
    }
    snprintf(u->key, sizeof u->key, "%s", key);
    snprintf(u->sid, sizeof u->sid, "%s", sid);
    u->expected = len;
    u->started = ff_http_now();
    u->w = ff_store_writer_open(h->d.store, key, &err);
    if (!u->w) {
        release(h, sid, len);
        free(u);
        ff_log(FF_LOG_ERROR, sid, name, "cannot store an upload: %s", err.msg);
        return reject(r, 500, "cannot store the upload: %s", err.msg);
    }
    /* The room is set aside before the body is read: a full disk is a 507 at once. */
    int room = ff_store_writer_reserve(u->w, len, &err);
    if (room != 0) {
        ff_store_writer_abort(u->w);
        release(h, sid, len);
        free(u);
        ff_log(room > 0 ? FF_LOG_WARN : FF_LOG_ERROR, sid, name, "cannot store an upload: %s", err.msg);
        return reject(r, room > 0 ? 507 : 500, "the server could not store the file: %s", err.msg);
    }
    r->upload = u;
    return MHD_YES; /* the body follows (MHD answers Expect: 100-continue now) */
}

enum MHD_Result ff_upload_data(ff_req *r, const char *data, size_t *size)
{
    ff_upload *u = r->upload;
    ff_http *h = r->h;
    if (u->reject) {
        r->bytes_in += *size;
        if (*size) {
            *size = 0;
            return MHD_YES;
        }
        if (u->done)
            return MHD_YES;
        u->done = 1;
        return ff_http_send_error(r, u->reject, "%s", u->reject_msg);
    }
    if (*size) {
        r->bytes_in += *size;
        if (!u->failed && ff_store_writer_write(u->w, data, *size, &u->err) != 0)
            u->failed = 1;
        *size = 0;
        /* Slow clients are dropped: after 10 s, the average rate must stay above the minimum. */
        double el = ff_http_now() - u->started;
        if (h->cfg->min_upload_rate && el > 10 && (double)r->bytes_in / el < h->cfg->min_upload_rate) {
            ff_log(FF_LOG_WARN, u->sid, NULL, "dropping an upload slower than %u bytes/s", h->cfg->min_upload_rate);
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
        return ff_http_send_error(r, 507, "the server could not store the file: %s", u->err.msg);
    }
    if (ff_store_writer_commit(w, &u->err) != 0) {
        ff_log(FF_LOG_ERROR, u->sid, u->key, "upload failed: %s", u->err.msg);
        return ff_http_send_error(r, 507, "the server could not store the file: %s", u->err.msg);
    }
    ff_store_stat st;
    ff_err err;
    json_t *body = json_pack("{s:s,s:I}", "key", u->key, "bytes", (json_int_t)r->bytes_in);
    struct MHD_Response *resp = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text)
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    atomic_store(&r->bytes_out, strlen(text));
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (ff_store_stat_key(h->d.store, u->key, &st, &err) == 0)
        MHD_add_response_header(resp, "ETag", st.etag);
    return ff_http_send(r, 200, resp);
}

void ff_upload_end(ff_req *r)
{
    ff_upload *u = r->upload;
    if (!u)
        return;
    if (u->w)
        ff_store_writer_abort(u->w); /* cut short: nothing is stored */
    if (!u->reject)
        release(r->h, u->sid, u->expected);
    free(u);
    r->upload = NULL;
}
