/* The s3 backend: objects in an S3 bucket (or any S3-compatible server). A writer buffers up to
 * one part in memory; an object that fits is one PUT (atomic by S3's nature), a larger one
 * becomes a multipart upload whose parts go out as they fill and which appears only on
 * CompleteMultipartUpload (abort sends AbortMultipartUpload, so nothing appears). */
#include "store/s3_http.h"
#include "store/store_impl.h"

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

/* What browsers and CloudFront should be told an object is, from its key's ending. */
static const char *content_type_for(const char *key)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".csv", "text/csv; charset=utf-8"},
        {".mp4", "video/mp4"},
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".fits", "application/fits"},
        {".fit", "application/fits"},
        {".fts", "application/fits"},
        {".zip", "application/zip"},
        {".gz", "application/gzip"},
    };
    size_t kl = strlen(key);
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        size_t el = strlen(types[i].ext);
        if (kl > el && !strcasecmp(key + kl - el, types[i].ext))
            return types[i].type;
    }
    return "application/octet-stream";
}

/* Content-Type and server-side encryption headers for a new object. */
static size_t put_headers(const s3_store *s, const char *key, ff_sigv4_pair h[2])
{
    size_t n = 0;
    h[n++] = (ff_sigv4_pair){"content-type", content_type_for(key)};
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
        size_t p = 0;
        w->upload_id = r.body ? ff_s3_xml_text(r.body, r.body_len, &p, "UploadId") : NULL;
        if (!w->upload_id || !*w->upload_id)
            rc = ff_err_set(err, "S3 gave no upload id for '%.200s'", w->key),
            ff_err_set_kind(err, FF_ERR_TRANSIENT);
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
        rc = ff_err_set(err, "S3 gave no ETag for part %s of '%.200s'", num, w->key),
        ff_err_set_kind(err, FF_ERR_TRANSIENT);
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

static int complete_multipart(s3_store *s, s3_writer *w, ff_err *err)
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
    if (r.status != 200 || (r.body && strstr(r.body, "<Error>")))
        rc = ff_s3_fail(err, "multipart completion of", w->key, &r);
    ff_s3_resp_free(&r);
    return rc;
}

static int s3_writer_commit(ff_store_writer *bw, ff_err *err)
{
    s3_writer *w = (s3_writer *)bw;
    s3_store *s = (s3_store *)bw->store;
    int rc;
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
            ff_s3_resp_free(&r);
        }
        writer_free(w);
        return rc;
    }
    rc = w->len ? send_part(s, w, err) : 0;
    if (rc == 0)
        rc = complete_multipart(s, w, err);
    if (rc != 0)
        abort_multipart(s, w);
    writer_free(w);
    return rc;
}

/* 1 when a 404 answer means the key is absent (not a missing bucket). */
static int absent(const ff_s3_resp *r)
{
    return r->status == 404 && !(r->body && strstr(r->body, "NoSuchBucket"));
}

static int s3_get(ff_store *bs, const char *key, size_t max, char **buf, size_t *len, ff_err *err)
{
    s3_store *s = (s3_store *)bs;
    ff_s3_call c = {.method = "GET", .key = key, .max_response = max};
    ff_s3_resp r;
    if (ff_s3_http_call(s->http, &s->t, &c, &r, err) != 0) {
        if (strstr(err->msg, "larger than"))
            ff_err_set(err, "object '%s' is more than the %zu bytes allowed", key, max);
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

/* Calls fn for each <Contents> of one ListObjectsV2 page. */
static int list_page(const char *xml, size_t n, ff_store_list_fn fn, void *ctx, ff_err *err)
{
    size_t pos = 0;
    for (;;) {
        const char *open = strstr(xml + pos, "<Contents>");
        if (!open)
            return 0;
        const char *close = strstr(open, "</Contents>");
        if (!close)
            return ff_err_set(err, "S3 listing is cut short"), ff_err_set_kind(err, FF_ERR_TRANSIENT);
        size_t a = (size_t)(open - xml), b = (size_t)(close - xml);
        pos = b + strlen("</Contents>");
        if (pos > n)
            return ff_err_set(err, "S3 listing is cut short"), ff_err_set_kind(err, FF_ERR_TRANSIENT);
        size_t p = a;
        char *key = ff_s3_xml_text(xml, b, &p, "Key");
        p = a;
        char *lm = ff_s3_xml_text(xml, b, &p, "LastModified");
        p = a;
        char *etag = ff_s3_xml_text(xml, b, &p, "ETag");
        p = a;
        char *size = ff_s3_xml_text(xml, b, &p, "Size");
        int rc = 0;
        if (!key || !size) {
            rc = ff_err_set(err, "S3 listing entry without a key or size");
            ff_err_set_kind(err, FF_ERR_TRANSIENT);
        } else if (key[0] && key[strlen(key) - 1] != '/' && ff_store_key_valid(key, NULL) == 0) {
            ff_store_stat st = {0};
            st.size = strtoull(size, NULL, 10);
            time_t t = ff_s3_parse_iso(lm);
            st.mtime = t > 0 ? t : 0;
            snprintf(st.etag, sizeof st.etag, "%s", etag ? etag : "");
            rc = fn(key, &st, ctx);
        }
        free(key);
        free(lm);
        free(etag);
        free(size);
        if (rc)
            return rc;
    }
}

static int s3_list(ff_store *bs, const char *prefix, ff_store_list_fn fn, void *ctx, ff_err *err)
{
    s3_store *s = (s3_store *)bs;
    char *token = NULL;
    int rc = 0;
    for (int page = 0;; page++) {
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
        rc = list_page(r.body, r.body_len, fn, ctx, err);
        size_t p = 0;
        char *trunc = ff_s3_xml_text(r.body, r.body_len, &p, "IsTruncated");
        free(token);
        token = NULL;
        if (rc == 0 && trunc && !strcmp(trunc, "true")) {
            p = 0;
            token = ff_s3_xml_text(r.body, r.body_len, &p, "NextContinuationToken");
            if (!token || !*token)
                rc = ff_err_set(err, "S3 listing of '%.200s' is truncated without a continuation token", prefix);
        }
        free(trunc);
        ff_s3_resp_free(&r);
        if (rc || !token)
            break;
        if (page > 1000000) {
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

static void s3_close(ff_store *bs)
{
    s3_store *s = (s3_store *)bs;
    ff_s3_http_free(s->http);
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
    .close = s3_close,
};

ff_store *ff_store_open_s3(const ff_s3_config *cfg, ff_err *err)
{
    s3_store *s = calloc(1, sizeof *s);
    if (!s) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    s->base.ops = &s3_ops;
    if (ff_s3_target_init(&s->t, cfg, err) != 0 || !(s->http = ff_s3_http_new(err))) {
        free(s);
        return NULL;
    }
    return &s->base;
}

const ff_s3_target *ff_s3_store_target(ff_store *bs)
{
    return bs && bs->ops == &s3_ops ? &((s3_store *)bs)->t : NULL;
}
