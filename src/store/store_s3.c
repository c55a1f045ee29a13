/* The s3 backend: objects in an S3 bucket (or any S3-compatible server). A writer buffers up to
 * one part in memory; an object that fits is one PUT (atomic by S3's nature), a larger one
 * becomes a multipart upload whose parts go out as they fill and which appears only on
 * CompleteMultipartUpload (abort sends AbortMultipartUpload, so nothing appears). */
#include "store/s3_http.h"
#include "base/mediatype.h"
#include "store/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIST_BODY_MAX (8u << 20)
#define SMALL_BODY_MAX (1u << 20)
#define MAX_PARTS 10000

typedef struct s3_store {
    ff_store base;
    ff_s3_target t;
    ff_s3_http *http;
} s3_store;

typedef struct s3_writer {
    ff_store_writer base;
    char *key;
    char *buf;
    size_t len, cap;
    char *upload_id;        /* NULL until the object needs more than one part */
    char (*etags)[72];
    size_t nparts, etag_cap;
} s3_writer;

/* Content-Type and server-side encryption headers for a new object. */
static size_t put_headers(const s3_store *s, const char *key, ff_sigv4_pair h[2])
{
    size_t n = 0;
    h[n++] = (ff_sigv4_pair){"content-type", ff_media_type(key)};
    if (s->t.sse[0])
        h[n++] = (ff_sigv4_pair){"x-amz-server-side-encryption", s->t.sse};
    return n;
}

static ff_store_writer *s3_writer_open(ff_store *bs, const char *key, ff_err *err)
{
    s3_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->key = strdup(key))) {
        free(w);
        ff_err_set(err, "out of memory");
        return NULL;
    }
    w->base.store = bs;
    return &w->base;
}

static void writer_free(s3_writer *w)
{
    free(w->key);
    free(w->buf);
    free(w->upload_id);
    free(w->etags);
    free(w);
}

static int start_multipart(s3_store *s, s3_writer *w, ff_err *err)
{
    ff_sigv4_pair h[2];
    size_t nh = put_headers(s, w->key, h);
    ff_sigv4_pair q[] = {{"uploads", ""}};
    ff_s3_call c = {.method = "POST", .key = w->key, .query = q, .n_query = 1, .headers = h,
                    .n_headers = nh, .max_response = SMALL_BODY_MAX};
    ff_s3_resp r;
    if (ff_s3_http_call(s->http, &s->t, &c, &r, err) != 0)
        return -1;
    int rc = 0;
    if (r.status != 200) {
        rc = ff_s3_fail(err, "multipart start of", w->key, &r);
    } else {
        w->upload_id = ff_s3_xml_upload_id(r.body, r.body_len, err);
        if (!w->upload_id) {
            ff_store_fault_set(FF_STORE_FAULT_REMOTE);
            rc = ff_err_prefix(err, "'%.200s'", w->key);
        }
    }
    ff_s3_resp_free(&r);
    return rc;
}

/* Sends the buffer as the next part. */
static int send_part(s3_store *s, s3_writer *w, ff_err *err)
{
    if (!w->upload_id && start_multipart(s, w, err) != 0)
        return -1;
    if (w->nparts == MAX_PARTS)
        return ff_err_set(err, "object '%.200s' needs more than %d parts", w->key, MAX_PARTS);
    if (w->nparts == w->etag_cap) {
        size_t cap = w->etag_cap ? w->etag_cap * 2 : 16;
        void *p = realloc(w->etags, cap * sizeof *w->etags);
        if (!p)
            return ff_err_set(err, "out of memory");
        w->etags = p;
        w->etag_cap = cap;
    }
    char num[16];
    snprintf(num, sizeof num, "%zu", w->nparts + 1);
    ff_sigv4_pair q[] = {{"partNumber", num}, {"uploadId", w->upload_id}};
    ff_s3_call c = {.method = "PUT", .key = w->key, .query = q, .n_query = 2, .body = w->buf,
                    .body_len = w->len, .max_response = SMALL_BODY_MAX};
    ff_s3_resp r;
    if (ff_s3_http_call(s->http, &s->t, &c, &r, err) != 0)
        return -1;
    int rc = 0;
    if (r.status != 200)
        rc = ff_s3_fail(err, "part upload of", w->key, &r);
    else if (!r.etag[0])
        rc = (ff_store_fault_set(FF_STORE_FAULT_UNAVAILABLE),
              ff_err_set(err, "S3 gave no ETag for part %s of '%.200s'", num, w->key));
    else
        memcpy(w->etags[w->nparts++], r.etag, sizeof r.etag);
    ff_s3_resp_free(&r);
    if (rc == 0)
        w->len = 0;
    return rc;
}

static int s3_writer_write(ff_store_writer *bw, const void *buf, size_t len, ff_err *err)
{
    s3_writer *w = (s3_writer *)bw;
    s3_store *s = (s3_store *)bw->store;
    const char *p = buf;
    size_t part = s->t.part_size;
    while (len) {
        /* A full buffer goes out only once more data follows: an object of exactly one part
         * stays a single PUT. */
        if (w->len == part && send_part(s, w, err) != 0)
            return -1;
        if (w->len == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 64 * 1024;
            if (cap > part)
                cap = part;
            char *nb = realloc(w->buf, cap);
            if (!nb)
                return ff_err_set(err, "out of memory buffering '%.200s'", w->key);
            w->buf = nb;
            w->cap = cap;
        }
        size_t n = w->cap - w->len;
        if (n > len)
            n = len;
        memcpy(w->buf + w->len, p, n);
        w->len += n;
        p += n;
        len -= n;
    }
    return 0;
}

static void abort_multipart(s3_store *s, s3_writer *w)
{
    if (!w->upload_id)
        return;
    ff_sigv4_pair q[] = {{"uploadId", w->upload_id}};
    ff_s3_call c = {.method = "DELETE", .key = w->key, .query = q, .n_query = 1};
    ff_s3_resp r;
    ff_err ignored;
    if (ff_s3_http_call(s->http, &s->t, &c, &r, &ignored) == 0)
        ff_s3_resp_free(&r);
}

static void s3_writer_abort(ff_store_writer *bw)
{
    s3_writer *w = (s3_writer *)bw;
    abort_multipart((s3_store *)bw->store, w);
    writer_free(w);
}

static int complete_multipart(s3_store *s, s3_writer *w, char etag[72], ff_err *err)
{
    ff_strbuf xml = {0};
    ff_strbuf_adds(&xml, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < w->nparts; i++)
        ff_strbuf_addf(&xml, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                       w->etags[i]);
    ff_strbuf_adds(&xml, "</CompleteMultipartUpload>");
    if (xml.oom) {
        free(xml.p);
        return ff_err_set(err, "out of memory");
    }
    ff_sigv4_pair q[] = {{"uploadId", w->upload_id}};
    ff_sigv4_pair h[] = {{"content-type", "application/xml"}};
    ff_s3_call c = {.method = "POST", .key = w->key, .query = q, .n_query = 1, .headers = h,
                    .n_headers = 1, .body = xml.p, .body_len = xml.len,
                    .max_response = SMALL_BODY_MAX};
    ff_s3_resp r;
    int rc = ff_s3_http_call(s->http, &s->t, &c, &r, err);
    free(xml.p);
    if (rc != 0)
        return -1;
    /* S3 can answer 200 and still report an error in the body. */
    if (r.status != 200) {
        rc = ff_s3_fail(err, "multipart completion of", w->key, &r);
    } else if (ff_s3_xml_complete(r.body, r.body_len, etag, 72, err) != 0) {
        /* An <Error> in a 200 is S3's InternalError or SlowDown after the parts were taken. */
        char code[64];
        ff_s3_xml_error(r.body, r.body_len, code, sizeof code, NULL, 0);
        ff_store_fault_set(code[0] && (!strcmp(code, "InternalError") || !strcmp(code, "SlowDown") ||
                                       !strcmp(code, "ServiceUnavailable"))
                               ? FF_STORE_FAULT_UNAVAILABLE : FF_STORE_FAULT_REMOTE);
        rc = ff_err_prefix(err, "'%.200s'", w->key);
    }
    ff_s3_resp_free(&r);
    return rc;
}

static int s3_writer_commit(ff_store_writer *bw, ff_store_stat *st, ff_err *err)
{
    s3_writer *w = (s3_writer *)bw;
    s3_store *s = (s3_store *)bw->store;
    int rc;
    st->size = bw->bytes;
    st->mtime = 0;
    st->etag[0] = '\0';
    if (!w->upload_id) {
        ff_sigv4_pair h[2];
        size_t nh = put_headers(s, w->key, h);
        ff_s3_call c = {.method = "PUT", .key = w->key, .headers = h, .n_headers = nh,
                        .body = w->buf ? w->buf : "", .body_len = w->len,
                        .max_response = SMALL_BODY_MAX};
        ff_s3_resp r;
        rc = ff_s3_http_call(s->http, &s->t, &c, &r, err);
        if (rc == 0) {
            if (r.status != 200)
                rc = ff_s3_fail(err, "PUT", w->key, &r);
            else
                memcpy(st->etag, r.etag, sizeof st->etag);
            st->mtime = r.last_modified;
            ff_s3_resp_free(&r);
        }
        writer_free(w);
        return rc;
    }
    rc = w->len ? send_part(s, w, err) : 0;
    if (rc == 0)
        rc = complete_multipart(s, w, st->etag, err);
    if (rc != 0)
        abort_multipart(s, w);
    writer_free(w);
    return rc;
}

/* 1 when a 404 answer means the key is absent (not a missing bucket). */
static int absent(const ff_s3_resp *r)
{
    char code[64];
    if (r->status != 404)
        return 0;
    ff_s3_xml_error(r->body, r->body ? r->body_len : 0, code, sizeof code, NULL, 0);
    return strcmp(code, "NoSuchBucket") != 0;
}

static int s3_get(ff_store *bs, const char *key, size_t max, char **buf, size_t *len, ff_err *err)
{
    s3_store *s = (s3_store *)bs;
    ff_s3_call c = {.method = "GET", .key = key, .max_response = max};
    ff_s3_resp r;
    if (ff_s3_http_call(s->http, &s->t, &c, &r, err) != 0) {
        if (ff_store_last_fault() == FF_STORE_FAULT_REMOTE && strstr(err->msg, "larger than")) {
            ff_store_fault_set(FF_STORE_FAULT_LOCAL); /* our bound, not the store's failure */
            ff_err_set(err, "object '%s' is more than the %zu bytes allowed", key, max);
        }
        return -1;
    }
    int rc = 0;
    if (r.status == 200) {
        if (!r.body && !(r.body = malloc(1))) {
            rc = ff_err_set(err, "out of memory");
        } else {
            r.body[r.body_len] = '\0';
            *buf = r.body;
            *len = r.body_len;
            r.body = NULL;
        }
    } else if (absent(&r)) {
        ff_err_set(err, "no object at '%s'", key);
        rc = 1;
    } else {
        rc = ff_s3_fail(err, "GET", key, &r);
    }
    ff_s3_resp_free(&r);
    return rc;
}

static int s3_stat(ff_store *bs, const char *key, ff_store_stat *st, ff_err *err)
{
    s3_store *s = (s3_store *)bs;
    ff_s3_call c = {.method = "HEAD", .key = key};
    ff_s3_resp r;
    if (ff_s3_http_call(s->http, &s->t, &c, &r, err) != 0)
        return -1;
    int rc = 0;
    if (r.status == 200) {
        memset(st, 0, sizeof *st);
        st->size = r.have_length ? r.content_length : 0;
        st->mtime = r.last_modified;
        memcpy(st->etag, r.etag, sizeof st->etag);
    } else if (r.status == 404) {
        /* HEAD has no body to tell a missing bucket from a missing key. */
        ff_err_set(err, "no object at '%s'", key);
        rc = 1;
    } else {
        rc = ff_s3_fail(err, "HEAD", key, &r);
    }
    ff_s3_resp_free(&r);
    return rc;
}

typedef struct list_fwd {
    ff_store_list_fn fn;
    void *ctx;
    int stopped; /* fn's nonzero value */
} list_fwd;

/* One <Contents>: keys the store could not have written (folder markers, invalid keys) are
 * passed over. */
static int list_item(const ff_s3_list_item *it, void *ctx)
{
    list_fwd *f = ctx;
    size_t n = strlen(it->key);
    if (!n || it->key[n - 1] == '/' || ff_store_key_valid(it->key, NULL) != 0)
        return 0;
    ff_store_stat st;
    memset(&st, 0, sizeof st);
    st.size = it->size;
    st.mtime = it->mtime;
    memcpy(st.etag, it->etag, sizeof st.etag);
    f->stopped = f->fn(it->key, &st, f->ctx);
    return f->stopped;
}

static int s3_list(ff_store *bs, const char *prefix, ff_store_list_fn fn, void *ctx, ff_err *err)
{
    s3_store *s = (s3_store *)bs;
    char *token = NULL;
    int rc = 0;
    for (long pages = 0;; pages++) {
        ff_sigv4_pair q[3] = {{"list-type", "2"}, {"prefix", prefix}, {"continuation-token", token}};
        ff_s3_call c = {.method = "GET", .query = q, .n_query = token ? 3 : 2,
                        .max_response = LIST_BODY_MAX};
        ff_s3_resp r;
        if (ff_s3_http_call(s->http, &s->t, &c, &r, err) != 0) {
            rc = -1;
            break;
        }
        if (r.status != 200 || !r.body) {
            rc = ff_s3_fail(err, "listing of", prefix, &r);
            ff_s3_resp_free(&r);
            break;
        }
        list_fwd f = {fn, ctx, 0};
        ff_s3_list_page page;
        rc = ff_s3_xml_list(r.body, r.body_len, list_item, &f, &page, err);
        if (rc && f.stopped) {
            rc = f.stopped; /* the caller's own stop */
        } else if (rc) {
            ff_store_fault_set(FF_STORE_FAULT_REMOTE);
            ff_err_prefix(err, "listing of '%.200s'", prefix);
        }
        free(token);
        token = NULL;
        if (rc == 0 && page.truncated) {
            token = page.next_token;
            page.next_token = NULL;
            if (!token || !*token) {
                ff_store_fault_set(FF_STORE_FAULT_REMOTE);
                rc = ff_err_set(err, "S3 listing of '%.200s' is truncated without a continuation token", prefix);
            }
        }
        free(page.next_token);
        ff_s3_resp_free(&r);
        if (rc || !token)
            break;
        if (pages > 1000000) {
            rc = ff_err_set(err, "S3 listing of '%.200s' does not end", prefix);
            break;
        }
    }
    free(token);
    return rc;
}

static int s3_del(ff_store *bs, const char *key, ff_err *err)
{
    s3_store *s = (s3_store *)bs;
    ff_s3_call c = {.method = "DELETE", .key = key};
    ff_s3_resp r;
    if (ff_s3_http_call(s->http, &s->t, &c, &r, err) != 0)
        return -1;
    int rc = 0;
    if (r.status != 204 && r.status != 200 && !absent(&r))
        rc = ff_s3_fail(err, "DELETE", key, &r);
    ff_s3_resp_free(&r);
    return rc;
}

static int s3_reader_open(ff_store *bs, const char *key, uint64_t offset, uint64_t len,
                          ff_store_stat *st, ff_store_reader **out, ff_err *err)
{
    s3_store *s = (s3_store *)bs;
    return ff_s3_reader_open(bs, s->http, &s->t, key, offset, len, st, out, err);
}

/* A listing of at most one key: needs only the permission every instance has (s3:ListBucket). */
static int s3_ping(ff_store *bs, const char *prefix, ff_err *err)
{
    s3_store *s = (s3_store *)bs;
    ff_sigv4_pair q[] = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", prefix}};
    ff_s3_call c = {.method = "GET", .query = q, .n_query = 3, .max_response = SMALL_BODY_MAX};
    ff_s3_resp r;
    if (ff_s3_http_call(s->http, &s->t, &c, &r, err) != 0)
        return -1;
    int rc = r.status == 200 ? 0 : ff_s3_fail(err, "listing of", prefix, &r);
    ff_s3_resp_free(&r);
    return rc;
}

static void s3_close(ff_store *bs)
{
    s3_store *s = (s3_store *)bs;
    ff_s3_http_free(s->http);
    ff_store_base_free(bs);
    free(s);
}

static const ff_store_ops s3_ops = {
    .writer_open = s3_writer_open,
    .writer_write = s3_writer_write,
    .writer_commit = s3_writer_commit,
    .writer_abort = s3_writer_abort,
    .reader_open = s3_reader_open,
    .reader_read = ff_s3_reader_read,
    .reader_close = ff_s3_reader_close,
    .get = s3_get,
    .stat = s3_stat,
    .list = s3_list,
    .del = s3_del,
    .local_path = NULL,
    .ping = s3_ping,
    .close = s3_close,
};

ff_store *ff_store_open_s3(const ff_s3_config *cfg, ff_err *err)
{
    s3_store *s = calloc(1, sizeof *s);
    if (!s) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    ff_store_base_init(&s->base, &s3_ops, 1);
    if (ff_s3_target_init(&s->t, cfg, err) != 0 || !(s->http = ff_s3_http_new(err))) {
        ff_store_base_free(&s->base);
        free(s);
        return NULL;
    }
    return &s->base;
}

const ff_s3_target *ff_s3_store_target(ff_store *bs)
{
    return bs && bs->ops == &s3_ops ? &((s3_store *)bs)->t : NULL;
}
