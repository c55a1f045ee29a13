/* CORS as the original API Gateway and S3 bucket were configured: a list of allowed origins
 * (FITSFLOW_CORS_ORIGINS, "*" = any), the methods each route takes, preflights answered, and the
 * validators and lengths a client needs exposed. */
#include "server/http/httpd_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALLOW_HEADERS "Content-Type, Range, If-None-Match, If-Modified-Since, If-Range, " \
                      "Cache-Control, Last-Event-ID, x-amz-server-side-encryption"
#define EXPOSE_HEADERS "ETag, Content-Length, Content-Range, Content-Type, Last-Modified, " \
                       "Accept-Ranges, Retry-After"

static int add_origin(ff_httpd *h, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '/'))
        n--;
    if (!n)
        return 0;
    if (n == 1 && *s == '*') {
        h->any_origin = 1;
        return 0;
    }
    char **o = realloc(h->origins, (h->norigins + 1) * sizeof *o);
    if (!o)
        return -1;
    h->origins = o;
    o[h->norigins] = strndup(s, n);
    if (!o[h->norigins])
        return -1;
    h->norigins++;
    return 0;
}

int ff_cors_init(ff_httpd *h, ff_err *err)
{
    const char *list = h->cfg->cors_origins;
    char own[600];
    int rc = 0;
    if (!list[0]) {
        /* The server's own origin plus the usual local development servers. */
        snprintf(own, sizeof own, "%s", h->cfg->public_url);
        rc |= add_origin(h, own, strlen(own));
        rc |= add_origin(h, "http://localhost:5500", 21);
        rc |= add_origin(h, "http://127.0.0.1:5500", 21);
    } else {
        for (const char *p = list; *p;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            rc |= add_origin(h, p, n);
            p += n + (comma ? 1 : 0);
        }
    }
    if (rc)
        return ff_err_set(err, "out of memory");
    return 0;
}

void ff_cors_free(ff_httpd *h)
{
    for (size_t i = 0; i < h->norigins; i++)
        free(h->origins[i]);
    free(h->origins);
    h->origins = NULL;
    h->norigins = 0;
}

static int origin_allowed(ff_httpd *h, const char *origin)
{
    if (!origin || !*origin)
        return 0;
    if (h->any_origin)
        return 1;
    for (size_t i = 0; i < h->norigins; i++)
        if (!strcmp(h->origins[i], origin))
            return 1;
    return 0;
}

void ff_cors_headers(ff_req *r, struct MHD_Response *resp)
{
    const char *origin = ff_req_header(r, "Origin");
    MHD_add_response_header(resp, "Vary", "Origin");
    if (!origin_allowed(r->h, origin))
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
}

static void methods_text(int allow, char *out, size_t cap)
{
    static const char *names[] = {"GET", "HEAD", "PUT", "POST", "OPTIONS"};
    out[0] = '\0';
    for (int i = 0; i < 5; i++)
        if (allow & (1 << i)) {
            if (out[0])
                strncat(out, ", ", cap - strlen(out) - 1);
            strncat(out, names[i], cap - strlen(out) - 1);
        }
}

enum MHD_Result ff_cors_preflight(ff_req *r)
{
    const char *origin = ff_req_header(r, "Origin");
    const char *want = ff_req_header(r, "Access-Control-Request-Method");
    if (!origin || !want)
        return ff_req_send_error(r, 400, "an OPTIONS request must be a CORS preflight, with Origin and "
                                          "Access-Control-Request-Method headers");
    if (!origin_allowed(r->h, origin))
        return ff_req_send_error(r, 403, "origin %.200s is not allowed; the server's FITSFLOW_CORS_ORIGINS "
                                          "lists the allowed ones", origin);
    static const char *names[] = {"GET", "HEAD", "PUT", "POST"};
    int bit = 0;
    for (int i = 0; i < 4; i++)
        if (!strcmp(want, names[i]))
            bit = 1 << i;
    if (!bit || !(r->allow & bit))
        return ff_req_send_error(r, 403, "method %.16s is not allowed on this path", want);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    char methods[64];
    methods_text(r->allow, methods, sizeof methods);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", methods);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", ALLOW_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    return ff_req_send(r, 204, resp);
}
