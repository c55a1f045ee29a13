/* The request handle's accessors and every way to answer now (req.h): one sender that adds CORS
 * and the common headers, and one error answer ({"error": message}) for every refusal, the rate
 * limit's 429 and the store's 5xx included. */
#include "server/http/httpd_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

void ff_req_ref(ff_req *r)
{
    atomic_fetch_add(&r->refs, 1);
}

void ff_req_unref(ff_req *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        free(r->path);
        free(r);
    }
}

int ff_req_method(const ff_req *r)
{
    return r->method;
}

const char *ff_req_path(const ff_req *r)
{
    return r->path;
}

const char *ff_req_header(ff_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *ff_req_arg(ff_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

double ff_req_arrival(const ff_req *r)
{
    return r->t0;
}

uint64_t ff_req_bytes_in(const ff_req *r)
{
    return r->bytes_in;
}

void ff_req_count_out(ff_req *r, uint64_t n)
{
    atomic_fetch_add(&r->bytes_out, n);
}

void ff_req_close_after(ff_req *r, int linger)
{
    r->close = 1;
    if (linger)
        r->early = 1;
}

void ff_req_suspend(ff_req *r)
{
    MHD_suspend_connection(r->conn);
}

void ff_req_resume(ff_req *r)
{
    MHD_resume_connection(r->conn);
}

void ff_req_server_counts(ff_req *r, ff_front_counts *out)
{
    ff_front_stats(r->h->front, out);
}

void ff_req_take_body(ff_req *r, ff_body_fn on_data, void (*on_end)(ff_req *r, void *ctx), void *ctx)
{
    r->body_data = on_data;
    r->body_end = on_end;
    r->body_ctx = ctx;
}

int ff_req_accepts_gzip(ff_req *r)
{
    const char *ae = ff_req_header(r, "Accept-Encoding");
    while (ae && *ae) {
        ae += strspn(ae, " \t,");
        size_t n = strcspn(ae, ",");
        size_t t = strcspn(ae, " \t;,");
        if ((t == 4 && !strncasecmp(ae, "gzip", 4)) || (t == 1 && ae[0] == '*')) {
            char item[64];
            snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), ae);
            const char *q = strstr(item, "q=");
            return !q || strtod(q + 2, NULL) > 0;
        }
        ae += n;
    }
    return 0;
}

enum MHD_Result ff_req_send(ff_req *r, unsigned status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    ff_cors_headers(r, resp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (status == 405 && r->allow) {
        char allow[64] = "";
        static const char *names[] = {"GET", "HEAD", "PUT", "POST", "OPTIONS"};
        for (int i = 0; i < 5; i++)
            if (r->allow & (1 << i)) {
                if (allow[0])
                    strcat(allow, ", ");
                strcat(allow, names[i]);
            }
        MHD_add_response_header(resp, "Allow", allow);
    }
    if (r->close)
        MHD_add_response_header(resp, "Connection", "close");
    r->status = (int)status;
    enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result ff_req_send_text(ff_req *r, unsigned status, const char *content_type,
                                 const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    atomic_store(&r->bytes_out, len);
    return ff_req_send(r, status, resp);
}

/* A JSON body (stolen) as a no-store response, or NULL. */
static struct MHD_Response *json_response(ff_req *r, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return NULL;
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    atomic_store(&r->bytes_out, len);
    return resp;
}

enum MHD_Result ff_req_send_json(ff_req *r, unsigned status, json_t *body)
{
    return ff_req_send(r, status, json_response(r, body));
}

enum MHD_Result ff_req_send_error_retry(ff_req *r, unsigned status, unsigned retry_after,
                                        const char *fmt, ...)
{
    char msg[FF_ERR_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct MHD_Response *resp = json_response(r, json_pack("{s:s}", "error", msg));
    if (resp && retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    return ff_req_send(r, status, resp);
}

unsigned ff_http_store_status(ff_store_fault f)
{
    switch (f) {
    case FF_STORE_FAULT_TIMEOUT:
        return 504;
    case FF_STORE_FAULT_UNAVAILABLE:
        return 503;
    case FF_STORE_FAULT_REMOTE:
        return 502;
    case FF_STORE_FAULT_FULL:
        return 507;
    default:
        return 500;
    }
}

enum MHD_Result ff_req_send_store_error(ff_req *r, const char *what, ff_store_fault f,
                                        const ff_err *err)
{
    unsigned status = ff_http_store_status(f);
    char msg[FF_ERR_MAX + 256];
    snprintf(msg, sizeof msg, "%s: %s%s", what, err ? err->msg : "the store failed",
             ff_store_fault_transient(f) ? " (try again shortly)" : "");
    ff_log(status >= 500 && status != 507 ? FF_LOG_WARN : FF_LOG_INFO, NULL, NULL, "%s (%s)", msg,
           ff_store_fault_name(f));
    unsigned retry = ff_store_fault_transient(f) ? r->h->cfg->store_timeout_ms / 1000 + 1 : 0;
    return ff_req_send_error_retry(r, status, retry, "%s", msg);
}
