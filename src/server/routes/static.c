/* GET and HEAD of stored objects under temp/ and daily_videos/, the way CloudFront served them:
 * media type by name, ETag and Last-Modified validators, conditional requests (304), single byte
 * ranges (206, 416), no directory listings, a JSON 404. Bodies go out with sendfile from the
 * fs backend's file; from a store without files (s3) they stream through the store's ranged
 * reader, with the store's own validators. */
#include "server/routes/routes.h"
#include "server/http/protocol.h"
#include "pipeline/keys.h"
#include "base/mediatype.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define OBJECT_CHUNK (64 * 1024)
#define OBJECT_RING (256 * 1024)

/* Same form as the fs backend's ff_store_stat etag, computed from the open file so that the
 * validator always describes the bytes being sent. */
static void etag_of(const struct stat *st, char *out, size_t cap)
{
    snprintf(out, cap, "\"%llx-%llx-%lx\"", (unsigned long long)st->st_size,
             (unsigned long long)st->st_mtim.tv_sec, (unsigned long)st->st_mtim.tv_nsec);
}

static void validators(struct MHD_Response *resp, const char *etag, const char *lastmod, const char *key)
{
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Last-Modified", lastmod);
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    /* Session outputs change while processing runs: revalidate. Daily movies never change. */
    ff_key_kind kind = ff_key_classify(key);
    MHD_add_response_header(resp, "Cache-Control",
                            kind == FF_KEY_DAILY_VIDEO ? "public, max-age=86400" : "no-cache");
    if (kind == FF_KEY_OUTPUT) /* outputs are data, never pages */
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

static enum MHD_Result serve_file(ff_req *r, const char *path, const char *key);
static enum MHD_Result serve_object(ff_req *r, ff_store *store, const char *key);

enum MHD_Result ff_static_object(ff_req *r, void *app, const char *key)
{
    ff_app *a = app;
    ff_err err = {0};
    size_t kl = strlen(key);
    if (ff_store_key_valid(key, &err) != 0)
        return ff_req_send_error(r, 400, "bad object path: %s", err.msg);
    if (kl == 0 || key[kl - 1] == '/')
        return ff_req_send_error(r, 404, "no object at /%s (folders are not listed)", key);
    /* Hidden names are the store's own (temporaries, markers): never served. Nor is a session's
     * per-file state (temp/S/state/): it is how processing resumes, not an output. */
    for (const char *p = key; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (*p == '.')
            return ff_req_send_error(r, 404, "no object at /%s", key);
    }
    if (ff_key_classify(key) == FF_KEY_STATE)
        return ff_req_send_error(r, 404, "no object at /%s", key);
    char *path = ff_store_local_path(a->store, key);
    if (!path)
        return serve_object(r, a->store, key);
    enum MHD_Result rc = serve_file(r, path, key);
    free(path);
    return rc;
}

enum MHD_Result ff_static_web(ff_req *r, void *app, const char *rel)
{
    ff_app *a = app;
    ff_err err = {0};
    if (!a->cfg->web_dir[0])
        return ff_req_send_error(r, 404, "the browser client is not installed (set FITSFLOW_WEB_DIR)");
    if (!*rel)
        rel = "index.html";
    if (ff_store_key_valid(rel, &err) != 0 || rel[strlen(rel) - 1] == '/')
        return ff_req_send_error(r, 404, "nothing at /%s", rel);
    for (const char *p = rel; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (*p == '.')
            return ff_req_send_error(r, 404, "nothing at /%s", rel);
    }
    char path[2300];
    snprintf(path, sizeof path, "%s/%s", a->cfg->web_dir, rel);
    return serve_file(r, path, rel);
}

/* The request headers that decide what an answer holds, copied so that they can be judged off
 * the HTTP thread. */
typedef struct conds {
    char *if_match, *if_unmodified_since, *if_none_match, *if_modified_since, *range, *if_range;
} conds;

static char *dup_header(ff_req *r, const char *name)
{
    const char *v = ff_req_header(r, name);
    return v ? strdup(v) : NULL;
}

/* Copies the headers; 0, or -1 when out of memory (conds_free still needed). */
static int conds_from(ff_req *r, conds *c)
{
    static const char *const names[] = {"If-Match", "If-Unmodified-Since", "If-None-Match",
                                         "If-Modified-Since", "Range", "If-Range"};
    char **slots[] = {&c->if_match, &c->if_unmodified_since, &c->if_none_match,
                      &c->if_modified_since, &c->range, &c->if_range};
    int rc = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        *slots[i] = dup_header(r, names[i]);
        if (!*slots[i] && ff_req_header(r, names[i]))
            rc = -1;
    }
    return rc;
}

static void conds_free(conds *c)
{
    free(c->if_match);
    free(c->if_unmodified_since);
    free(c->if_none_match);
    free(c->if_modified_since);
    free(c->range);
    free(c->if_range);
}

/* 1 when an If-Match list holds etag by strong comparison ("*" holds any). */
static int strong_match(const char *list, const char *etag)
{
    if (!strncmp(etag, "W/", 2))
        return 0;
    size_t el = strlen(etag);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        if (!*p)
            break;
        if (*p == '*')
            return 1;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == el && !memcmp(p, etag, el))
            return 1;
        p += n;
    }
    return 0;
}

/* What the request asks of an object with these validators: 412, 304, 416, or (after the
 * conditional and range headers) the bytes *range, partial when *partial. The order is RFC 9110's
 * (section 13.2.2), as S3 answers: If-Match (else If-Unmodified-Since) first, then If-None-Match
 * (else If-Modified-Since), then Range with If-Range. */
enum want { WANT_PRECONDITION_FAILED, WANT_NOT_MODIFIED, WANT_UNSATISFIABLE, WANT_BODY };

static enum want evaluate(const conds *c, const char *etag, const char *lastmod, time_t mtime,
                          uint64_t size, ff_range *range, int *partial)
{
    if (c->if_match) {
        if (!strong_match(c->if_match, etag))
            return WANT_PRECONDITION_FAILED;
    } else if (c->if_unmodified_since) {
        time_t since = ff_http_parse_date(c->if_unmodified_since);
        if (since >= 0 && mtime > since)
            return WANT_PRECONDITION_FAILED;
    }
    int not_modified = 0;
    if (c->if_none_match) {
        not_modified = ff_http_etag_match(c->if_none_match, etag);
    } else if (c->if_modified_since) {
        time_t since = ff_http_parse_date(c->if_modified_since);
        not_modified = since >= 0 && mtime <= since;
    }
    if (not_modified)
        return WANT_NOT_MODIFIED;
    *range = (ff_range){0, size};
    int rk = 1;
    if (c->range && (!c->if_range || !strcmp(c->if_range, etag) || !strcmp(c->if_range, lastmod)))
        rk = ff_http_parse_range(c->range, size, range);
    if (rk == 2)
        return WANT_UNSATISFIABLE;
    if (rk != 0) {
        range->start = 0;
        range->len = size;
    }
    *partial = rk == 0;
    return WANT_BODY;
}

static enum MHD_Result send_precondition_failed(ff_req *r, const char *etag, const char *lastmod,
                                                const char *key);
static enum MHD_Result send_unsatisfiable(ff_req *r, const char *etag, const char *lastmod,
                                          const char *key, uint64_t size);

static enum MHD_Result send_not_modified(ff_req *r, const char *etag, const char *lastmod, const char *key)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    validators(resp, etag, lastmod, key);
    return ff_req_send(r, 304, resp);
}

static enum MHD_Result send_precondition_failed(ff_req *r, const char *etag, const char *lastmod,
                                                const char *key)
{
    const char *body = "{\"error\":\"precondition failed: the object does not match If-Match or "
                       "If-Unmodified-Since\"}";
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                                MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    ff_req_count_out(r, strlen(body));
    MHD_add_response_header(resp, "Content-Type", "application/json");
    validators(resp, etag, lastmod, key);
    return ff_req_send(r, 412, resp);
}

/* The answer evaluate() chose, when it is not the body. */
static enum MHD_Result send_no_body(ff_req *r, enum want w, const char *etag, const char *lastmod,
                                    const char *key, uint64_t size)
{
    if (w == WANT_PRECONDITION_FAILED)
        return send_precondition_failed(r, etag, lastmod, key);
    if (w == WANT_NOT_MODIFIED)
        return send_not_modified(r, etag, lastmod, key);
    return send_unsatisfiable(r, etag, lastmod, key, size);
}

static enum MHD_Result send_unsatisfiable(ff_req *r, const char *etag, const char *lastmod,
                                          const char *key, uint64_t size)
{
    char cr[64];
    snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
    char *body = NULL;
    if (asprintf(&body, "{\"error\":\"range not satisfiable: the object is %" PRIu64 " bytes\"}", size) < 0)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Range", cr);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    validators(resp, etag, lastmod, key);
    return ff_req_send(r, 416, resp);
}

/* Headers of a 200 or 206 body, then sends it. */
static enum MHD_Result send_body(ff_req *r, struct MHD_Response *resp, const char *etag,
                                 const char *lastmod, const char *key, const ff_range *range,
                                 int partial, uint64_t size)
{
    MHD_add_response_header(resp, "Content-Type", ff_media_type(key));
    validators(resp, etag, lastmod, key);
    if (partial) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range->start,
                 range->start + range->len - 1, size);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    return ff_req_send(r, partial ? 206 : 200, resp);
}

/* Sends the regular file at path (named key, for its media type and caching). */
static enum MHD_Result serve_file(ff_req *r, const char *path, const char *key)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return ff_req_send_error(r, 404, "no object at /%s", key);
    }
    char etag[80], lastmod[40];
    etag_of(&st, etag, sizeof etag);
    ff_http_format_date(st.st_mtim.tv_sec, lastmod, sizeof lastmod);
    uint64_t size = (uint64_t)st.st_size;
    ff_range range;
    int partial = 0;
    conds c = {0};
    if (conds_from(r, &c) != 0) {
        conds_free(&c);
        close(fd);
        return MHD_NO;
    }
    enum want w = evaluate(&c, etag, lastmod, st.st_mtim.tv_sec, size, &range, &partial);
    conds_free(&c);
    if (w != WANT_BODY) {
        close(fd);
        return send_no_body(r, w, etag, lastmod, key, size);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(range.len, fd, range.start);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    if (ff_req_method(r) != FF_M_HEAD)
        ff_req_count_out(r, range.len);
    return send_body(r, resp, etag, lastmod, key, &range, partial, size);
}

/* The body of an object from a store without files: pulled from the store's reader on the
 * pump's thread. */
typedef struct object_body {
    ff_store_reader *rd;
    char key[FF_STORE_KEY_MAX + 1];
} object_body;

static int send_object_bytes(ff_pump *p, void *ctx)
{
    object_body *b = ctx;
    char *buf = malloc(OBJECT_CHUNK);
    ff_err err = {0};
    int rc = buf ? 0 : ff_err_set(&err, "out of memory");
    size_t got;
    while (rc == 0 && (rc = ff_store_reader_read(b->rd, buf, OBJECT_CHUNK, &got, &err)) == 0 && got)
        if (ff_pump_write(p, buf, got) != 0)
            break; /* the client went away */
    if (rc != 0)
        ff_log(FF_LOG_ERROR, NULL, b->key, "sending an object broke off: %s", err.msg);
    free(buf);
    return rc;
}

static void object_body_free(void *ctx)
{
    object_body *b = ctx;
    ff_store_reader_close(b->rd);
    free(b);
}

/* A body-less response that still says how long the body would be (HEAD). */
static ssize_t no_body(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)cls;
    (void)pos;
    (void)out;
    (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* GET or HEAD of key from a store that has no local files, on a store thread (offload.c): the
 * validators come from the store (its etag); the bytes from one ranged read whose object must
 * still carry that etag. */
typedef struct object_job {
    char key[FF_STORE_KEY_MAX + 1];
    ff_store *store;
    int head;
    conds c;
    /* the outcome */
    int rc;                 /* 0 found, 1 absent, -1 failed, 2 kept changing */
    enum want w;
    ff_store_stat st;
    char lastmod[40];
    ff_range range;
    int partial;
    ff_store_reader *rd;    /* for a body */
    ff_err err;
    ff_store_fault fault;
} object_job;

static void object_work(void *ctx)
{
    object_job *j = ctx;
    ff_store *store = j->store;
    /* A plain GET needs one request to the store (the read gives the validators); conditions,
     * ranges and HEAD need the object's description first. */
    int describe = j->head || j->c.range || j->c.if_none_match || j->c.if_modified_since ||
                   j->c.if_match || j->c.if_unmodified_since;
    j->rc = 2;
    for (int attempt = 0; attempt < 3; attempt++) {
        ff_store_stat rst;
        int rc;
        if (describe)
            rc = ff_store_stat_key(store, j->key, &j->st, &j->err);
        else
            rc = ff_store_reader_open(store, j->key, 0, FF_STORE_TO_END, &j->st, &j->rd, &j->err);
        if (rc != 0) {
            j->rc = rc;
            j->fault = rc < 0 ? ff_store_last_fault() : FF_STORE_FAULT_NONE;
            return;
        }
        ff_http_format_date(j->st.mtime, j->lastmod, sizeof j->lastmod);
        j->w = evaluate(&j->c, j->st.etag, j->lastmod, j->st.mtime, j->st.size, &j->range, &j->partial);
        if (j->w != WANT_BODY || j->head) {
            ff_store_reader_close(j->rd);
            j->rd = NULL;
            j->rc = 0;
            return;
        }
        if (!j->rd) {
            uint64_t len = j->range.start + j->range.len == j->st.size ? FF_STORE_TO_END : j->range.len;
            rc = ff_store_reader_open(store, j->key, j->range.start, len, &rst, &j->rd, &j->err);
            if (rc == 1)
                continue; /* deleted meanwhile: look again (a rerun may be replacing it) */
            if (rc != 0) {
                j->rc = -1;
                j->fault = ff_store_last_fault();
                return;
            }
            /* Replaced between the two requests: the validators would not describe the bytes. */
            if (strcmp(rst.etag, j->st.etag) || rst.size != j->st.size ||
                ff_store_reader_left(j->rd) != j->range.len) {
                ff_store_reader_close(j->rd);
                j->rd = NULL;
                continue;
            }
        }
        j->rc = 0;
        return;
    }
}

static void object_job_free(void *ctx)
{
    object_job *j = ctx;
    ff_store_reader_close(j->rd);
    conds_free(&j->c);
    free(j);
}

static enum MHD_Result object_done(ff_req *r, void *ctx)
{
    object_job *j = ctx;
    if (j->rc == 1)
        return ff_req_send_error(r, 404, "no object at /%s", j->key);
    if (j->rc == 2)
        return ff_req_send_error(r, 503, "/%s keeps changing while it is read; try again", j->key);
    if (j->rc != 0) {
        ff_log(FF_LOG_ERROR, NULL, j->key, "cannot read an object from the store: %s", j->err.msg);
        return ff_req_send_store_error(r, "cannot read the object from the store", j->fault, &j->err);
    }
    if (j->w != WANT_BODY)
        return send_no_body(r, j->w, j->st.etag, j->lastmod, j->key, j->st.size);
    if (j->head) {
        struct MHD_Response *resp = MHD_create_response_from_callback(j->range.len, 1024, no_body, NULL, NULL);
        if (!resp)
            return MHD_NO;
        return send_body(r, resp, j->st.etag, j->lastmod, j->key, &j->range, j->partial, j->st.size);
    }
    object_body *b = calloc(1, sizeof *b);
    if (!b)
        return MHD_NO;
    b->rd = j->rd;
    j->rd = NULL;
    snprintf(b->key, sizeof b->key, "%s", j->key);
    struct MHD_Response *resp = ff_pump_response(r, j->range.len, OBJECT_RING, send_object_bytes, b,
                                                 object_body_free);
    if (!resp)
        return ff_req_send_error(r, 503, "the server is stopping or out of memory; try again");
    return send_body(r, resp, j->st.etag, j->lastmod, j->key, &j->range, j->partial, j->st.size);
}

static enum MHD_Result serve_object(ff_req *r, ff_store *store, const char *key)
{
    object_job *j = calloc(1, sizeof *j);
    if (!j)
        return MHD_NO;
    snprintf(j->key, sizeof j->key, "%s", key);
    j->store = store;
    j->head = ff_req_method(r) == FF_M_HEAD;
    if (conds_from(r, &j->c) != 0) {
        object_job_free(j);
        return MHD_NO;
    }
    return ff_req_offload(r, object_work, object_done, j, object_job_free);
}
