/* Routing a request by the server's route table (req.h's ff_route): which row, and what comes
 * before its handler, in this order: the per-client rate limit (429), the header size (431),
 * nothing here (404), a method the route does not take (405), the CORS preflight, a session id
 * that is not one (400). */
#include "server/http/httpd_impl.h"

#include <string.h>

#include "base/clock.h"
#include "pipeline/session.h"

#define CAPTURE_MAX 80 /* a {sid} segment longer than this matches no route (404) */

/* 1 when path matches pattern; the {sid} segment, when there is one, goes to cap. */
static int match(const char *pat, const char *path, char cap[CAPTURE_MAX])
{
    for (;;) {
        if (!strcmp(pat, "*"))
            return 1;
        if (!strcmp(pat, "/?"))
            return !*path || !strcmp(path, "/");
        if (!strncmp(pat, "{sid}", 5)) {
            size_t n = strcspn(path, "/");
            if (n >= CAPTURE_MAX)
                return 0;
            memcpy(cap, path, n);
            cap[n] = '\0';
            pat += 5;
            path += n;
            continue;
        }
        if (!*pat || *pat != *path)
            return !*pat && !*path;
        pat++;
        path++;
    }
}

typedef struct routed {
    const ff_route *row;  /* the first row of the matching pattern; NULL: none */
    const ff_route *take; /* the row of that pattern taking the method; NULL: none */
    int has_sid;
    char sid[CAPTURE_MAX];
} routed;

static routed find_route(const ff_httpd *h, int method, const char *path)
{
    routed rt = {0};
    const ff_route *rows = h->d.routes;
    size_t n = h->d.nroutes, i;
    for (i = 0; i < n && !match(rows[i].pattern, path, rt.sid); i++)
        ;
    if (i == n)
        return rt;
    rt.row = &rows[i];
    rt.has_sid = strstr(rt.row->pattern, "{sid}") != NULL;
    for (; i < n && !strcmp(rows[i].pattern, rt.row->pattern); i++)
        if (rows[i].handler && (rows[i].methods & (unsigned)method) && !rt.take)
            rt.take = &rows[i];
    return rt;
}

/* The methods of every row with this pattern (for 405's Allow and the preflight). */
static int methods_of(const ff_httpd *h, const ff_route *first)
{
    int allow = 0;
    for (const ff_route *r = first; r < h->d.routes + h->d.nroutes && !strcmp(r->pattern, first->pattern); r++)
        if (r->handler)
            allow |= (int)r->methods;
    return allow;
}

typedef struct hdr_sum {
    size_t bytes;
} hdr_sum;

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    hdr_sum *s = cls;
    s->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* The limits every request meets before its route: MHD_YES to go on, else what was sent. */
static int over_limits(ff_req *r, const routed *rt, enum MHD_Result *sent)
{
    ff_httpd *h = r->h;
    unsigned retry = 1;
    if (h->rl && !(rt->row && (rt->row->flags & FF_ROUTE_UNLIMITED)) &&
        ff_ratelimit_take(h->rl, r->client, ff_clock_now(), &retry)) {
        r->route = "limited";
        *sent = ff_req_send_error_retry(r, 429, retry, "too many requests from your address; "
                                        "retry in %u s", retry);
        return 1;
    }
    hdr_sum hs = {strlen(r->path) + 16};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header_size, &hs);
    if (hs.bytes > h->cfg->max_header_bytes) {
        *sent = ff_req_send_error(r, 431, "request headers are %zu bytes, more than the %u allowed",
                                  hs.bytes, h->cfg->max_header_bytes);
        return 1;
    }
    return 0;
}

enum MHD_Result ff_httpd_dispatch(ff_req *r)
{
    routed rt = find_route(r->h, r->method, r->path);
    r->route = rt.take ? rt.take->label : rt.row ? rt.row->label : "other";
    r->allow = rt.row && methods_of(r->h, rt.row) ? methods_of(r->h, rt.row) | FF_M_OPTIONS : 0;
    enum MHD_Result sent;
    if (over_limits(r, &rt, &sent))
        return sent;
    if (!r->allow)
        return ff_req_send_error(r, 404, "nothing at %s",
                                 r->method == FF_M_GET || r->method == FF_M_HEAD
                                     ? "this path" : "this path for any method");
    if (!r->method || !(r->allow & r->method))
        return ff_req_send_error(r, 405, "method %s is not allowed here", r->method_name);
    if (r->method == FF_M_OPTIONS)
        return ff_cors_preflight(r);
    if (rt.has_sid && !ff_session_id_valid(rt.sid))
        return ff_req_send_error(r, 400, "session id must be 8 to 64 characters of a-z, 0-9 and '-'");
    return rt.take->handler(r, r->h->d.app, rt.has_sid ? rt.sid : r->path + 1);
}
