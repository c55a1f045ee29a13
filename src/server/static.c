/* GET and HEAD of stored objects under temp/ and daily_videos/, the way CloudFront served them:
 * media type by name, ETag and Last-Modified validators, conditional requests (304), single byte
 * ranges (206, 416), no directory listings, a JSON 404. Bodies go out with sendfile from the
 * fs backend's file; from a store without files (s3) they stream through the store's ranged
 * reader, with the store's own validators. */
#include "server/http_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

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
    MHD_add_response_header(resp, "Cache-Control",
                            !strncmp(key, "daily_videos/", 13) ? "public, max-age=86400" : "no-cache");
    if (!strncmp(key, "temp/", 5) && strstr(key, "/processed/")) /* outputs are data, never pages */
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

static enum MHD_Result serve_file(ff_req *r, const char *path, const char *key);
static enum MHD_Result serve_object(ff_req *r, const char *key);

enum MHD_Result ff_static_serve(ff_req *r, const char *key)
{
    ff_http *h = r->h;
    ff_err err = {0};
    size_t kl = strlen(key);
    if (ff_store_key_valid(key, &err) != 0)
        return ff_http_send_error(r, 400, "bad object path: %s", err.msg);
    if (kl == 0 || key[kl - 1] == '/')
        return ff_http_send_error(r, 404, "no object at /%s (folders are not listed)", key);
    /* Hidden names are the store's own (temporaries, markers): never served. */
    for (const char *p = key; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (*p == '.')
            return ff_http_send_error(r, 404, "no object at /%s", key);
    }
    char *path = ff_store_local_path(h->d.store, key);
    if (!path)
        return serve_object(r, key);
    enum MHD_Result rc = serve_file(r, path, key);
    free(path);
    return rc;
}

enum MHD_Result ff_static_serve_web(ff_req *r, const char *rel)
{
    ff_http *h = r->h;
    ff_err err = {0};
    if (!h->cfg->web_dir[0])
        return ff_http_send_error(r, 404, "the browser client is not installed (set FITSFLOW_WEB_DIR)");
    if (!*rel)
        rel = "index.html";
    if (ff_store_key_valid(rel, &err) != 0 || rel[strlen(rel) - 1] == '/')
        return ff_http_send_error(r, 404, "nothing at /%s", rel);
    for (const char *p = rel; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (*p == '.')
            return ff_http_send_error(r, 404, "nothing at /%s", rel);
    }
    char path[2300];
    snprintf(path, sizeof path, "%s/%s", h->cfg->web_dir, rel);
    return serve_file(r, path, rel);
}

/* What the request asks of an object with these validators: 304, 416, or (after the
 * conditional and range headers) the bytes *range, partial when *partial. */
enum want { WANT_NOT_MODIFIED, WANT_UNSATISFIABLE, WANT_BODY };

static enum want evaluate(ff_req *r, const char *etag, const char *lastmod, time_t mtime,
                          uint64_t size, ff_range *range, int *partial)
{
    /* Conditional requests: If-None-Match wins over If-Modified-Since. */
    const char *inm = ff_req_header(r, "If-None-Match");
    const char *ims = ff_req_header(r, "If-Modified-Since");
    int not_modified = 0;
    if (inm) {
        not_modified = ff_http_etag_match(inm, etag);
    } else if (ims) {
        time_t since = ff_http_parse_date(ims);
        not_modified = since >= 0 && mtime <= since;
    }
    if (not_modified)
        return WANT_NOT_MODIFIED;
    *range = (ff_range){0, size};
    int rk = 1;
    const char *rh = ff_req_header(r, "Range");
    const char *ifr = ff_req_header(r, "If-Range");
    if (rh && (!ifr || !strcmp(ifr, etag) || !strcmp(ifr, lastmod)))
        rk = ff_http_parse_range(rh, size, range);
    if (rk == 2)
        return WANT_UNSATISFIABLE;
    if (rk != 0) {
        range->start = 0;
        range->len = size;
    }
    *partial = rk == 0;
    return WANT_BODY;
}

static enum MHD_Result send_not_modified(ff_req *r, const char *etag, const char *lastmod, const char *key)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    validators(resp, etag, lastmod, key);
    return ff_http_send(r, 304, resp);
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
    return ff_http_send(r, 416, resp);
}

/* Headers of a 200 or 206 body, then sends it. */
static enum MHD_Result send_body(ff_req *r, struct MHD_Response *resp, const char *etag,
                                 const char *lastmod, const char *key, const ff_range *range,
                                 int partial, uint64_t size)
{
    MHD_add_response_header(resp, "Content-Type", ff_http_content_type(key));
    validators(resp, etag, lastmod, key);
    if (partial) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range->start,
                 range->start + range->len - 1, size);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    return ff_http_send(r, partial ? 206 : 200, resp);
}

/* Sends the regular file at path (named key, for its media type and caching). */
static enum MHD_Result serve_file(ff_req *r, const char *path, const char *key)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return ff_http_send_error(r, 404, "no object at /%s", key);
    }
    char etag[80], lastmod[40];
    etag_of(&st, etag, sizeof etag);
    ff_http_format_date(st.st_mtim.tv_sec, lastmod, sizeof lastmod);
    uint64_t size = (uint64_t)st.st_size;
    ff_range range;
    int partial = 0;
    enum want w = evaluate(r, etag, lastmod, st.st_mtim.tv_sec, size, &range, &partial);
    if (w != WANT_BODY) {
        close(fd);
        return w == WANT_NOT_MODIFIED ? send_not_modified(r, etag, lastmod, key)
                                      : send_unsatisfiable(r, etag, lastmod, key, size);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(range.len, fd, range.start);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    if (r->method != FF_M_HEAD)
        atomic_store(&r->bytes_out, range.len);
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

/* GET or HEAD of key from a store that has no local files. Validators come from the store (its
 * etag); the bytes from one ranged read whose object must still carry that etag. */
static enum MHD_Result serve_object(ff_req *r, const char *key)
{
    ff_store *store = r->h->d.store;
    ff_err err = {0};
    /* A plain GET needs one request to the store (the read gives the validators); conditions,
     * ranges and HEAD need the object's description first. */
    int describe = r->method == FF_M_HEAD || ff_req_header(r, "Range") ||
                   ff_req_header(r, "If-None-Match") || ff_req_header(r, "If-Modified-Since");
    for (int attempt = 0; attempt < 3; attempt++) {
        ff_store_stat st, rst;
        ff_store_reader *rd = NULL;
        int rc;
        if (describe) {
            rc = ff_store_stat_key(store, key, &st, &err);
        } else {
            rc = ff_store_reader_open(store, key, 0, FF_STORE_TO_END, &st, &rd, &err);
        }
        if (rc == 1)
            return ff_http_send_error(r, 404, "no object at /%s", key);
        if (rc != 0) {
            ff_log(FF_LOG_ERROR, NULL, key, "cannot read an object from the store: %s", err.msg);
            return ff_http_send_error(r, 502, "cannot read the object from the store: %s", err.msg);
        }
        char lastmod[40];
        ff_http_format_date(st.mtime, lastmod, sizeof lastmod);
        ff_range range;
        int partial = 0;
        enum want w = evaluate(r, st.etag, lastmod, st.mtime, st.size, &range, &partial);
        if (w != WANT_BODY) {
            ff_store_reader_close(rd);
            return w == WANT_NOT_MODIFIED ? send_not_modified(r, st.etag, lastmod, key)
                                          : send_unsatisfiable(r, st.etag, lastmod, key, st.size);
        }
        if (r->method == FF_M_HEAD) {
            struct MHD_Response *resp = MHD_create_response_from_callback(range.len, 1024, no_body, NULL, NULL);
            if (!resp)
                return MHD_NO;
            return send_body(r, resp, st.etag, lastmod, key, &range, partial, st.size);
        }
        if (!rd) {
            uint64_t len = range.start + range.len == st.size ? FF_STORE_TO_END : range.len;
            rc = ff_store_reader_open(store, key, range.start, len, &rst, &rd, &err);
            if (rc == 1)
                continue; /* deleted meanwhile: look again (a rerun may be replacing it) */
            if (rc != 0) {
                ff_log(FF_LOG_ERROR, NULL, key, "cannot read an object from the store: %s", err.msg);
                return ff_http_send_error(r, 502, "cannot read the object from the store: %s", err.msg);
            }
            /* Replaced between the two requests: the validators would not describe the bytes. */
            if (strcmp(rst.etag, st.etag) || rst.size != st.size ||
                ff_store_reader_left(rd) != range.len) {
                ff_store_reader_close(rd);
                continue;
            }
        }
        object_body *b = calloc(1, sizeof *b);
        if (!b) {
            ff_store_reader_close(rd);
            return MHD_NO;
        }
        b->rd = rd;
        snprintf(b->key, sizeof b->key, "%s", key);
        struct MHD_Response *resp = ff_pump_response(r, range.len, OBJECT_RING, send_object_bytes, b,
                                                     object_body_free);
        if (!resp)
            return MHD_NO;
        return send_body(r, resp, st.etag, lastmod, key, &range, partial, st.size);
    }
    return ff_http_send_error(r, 503, "/%s keeps changing while it is read; try again", key);
}
