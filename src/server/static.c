/* GET and HEAD of stored objects under temp/ and daily_videos/, the way CloudFront served them:
 * media type by name, ETag and Last-Modified validators, conditional requests (304), single byte
 * ranges (206, 416), no directory listings, a JSON 404. Bodies go out with sendfile from the
 * fs backend's file. */
#include "server/http_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
}

enum MHD_Result ff_static_serve(ff_req *r, const char *key)
{
    ff_http *h = r->h;
    ff_err err = {{0}};
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
        return ff_http_send_error(r, 500, "this store cannot serve files directly");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
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

    /* Conditional requests: If-None-Match wins over If-Modified-Since. */
    const char *inm = ff_req_header(r, "If-None-Match");
    const char *ims = ff_req_header(r, "If-Modified-Since");
    int not_modified = 0;
    if (inm) {
        not_modified = ff_http_etag_match(inm, etag);
    } else if (ims) {
        time_t since = ff_http_parse_date(ims);
        not_modified = since >= 0 && st.st_mtim.tv_sec <= since;
    }
    if (not_modified) {
        close(fd);
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        validators(resp, etag, lastmod, key);
        return ff_http_send(r, 304, resp);
    }

    ff_range range = {0, size};
    int rk = 1;
    const char *rh = ff_req_header(r, "Range");
    const char *ifr = ff_req_header(r, "If-Range");
    if (rh && (!ifr || !strcmp(ifr, etag) || !strcmp(ifr, lastmod)))
        rk = ff_http_parse_range(rh, size, &range);
    if (rk == 2) {
        close(fd);
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
    if (rk != 0) {
        range.start = 0;
        range.len = size;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(range.len, fd, range.start);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ff_http_content_type(key));
    validators(resp, etag, lastmod, key);
    if (rk == 0) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range.start,
                 range.start + range.len - 1, size);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    if (r->method != FF_M_HEAD)
        atomic_store(&r->bytes_out, range.len);
    return ff_http_send(r, rk == 0 ? 206 : 200, resp);
}
