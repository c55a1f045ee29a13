/* The JSON API: the original Trigger endpoint (presign or start processing), sessions, their
 * status, the limits a client needs, health and metrics. */
#include "server/http_internal.h"
#include "pipeline/daily_video.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "core/log.h"
#include "pipeline/session.h"

static int needs_json_escape(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            return 1;
    return 0;
}

enum MHD_Result ff_api_trigger(ff_req *r)
{
    ff_http *h = r->h;
    ff_err err = {{0}};
    const char *sid = ff_req_arg(r, "session_id");
    if (!sid || !*sid)
        return ff_http_send_error(r, 400, "session_id required");
    if (!ff_session_id_valid(sid))
        return ff_http_send_error(r, 400, "session_id must be 8 to 64 characters of a-z, 0-9 and '-'");
    const char *name = ff_req_arg(r, "filename");
    if (name) {
        if (!ff_upload_name_valid(name, &err))
            return ff_http_send_error(r, 400, "%s", err.msg);
        const char *ct = ff_req_arg(r, "contentType");
        if (!ct)
            ct = "";
        if (!ff_http_content_type_ok(ct))
            return ff_http_send_error(r, 400, "contentType must be printable ASCII of at most 200 bytes");
        char key[FF_STORE_KEY_MAX + 1], url[FF_STORE_KEY_MAX + 1024];
        snprintf(key, sizeof key, "temp/%s/fits/%s", sid, name);
        int64_t expires = (int64_t)time(NULL) + h->cfg->presign_ttl;
        if (ff_presign_url(h->d.secret, h->cfg->public_url, "PUT", key, expires, ct, url, sizeof url) != 0)
            return ff_http_send_error(r, 500, "upload URL too long");
        /* Hot path (one call per file a browser uploads): the JSON is written directly when
         * nothing in it needs escaping, which is always so unless FITSFLOW_PUBLIC_URL has quotes,
         * backslashes or non-ASCII; jansson otherwise. */
        if (!needs_json_escape(url)) {
            char body[sizeof url + sizeof key + 32];
            int n = snprintf(body, sizeof body, "{\"url\":\"%s\",\"key\":\"%s\"}", url, key);
            if (n > 0 && (size_t)n < sizeof body)
                return ff_http_send_text(r, 200, "application/json", body, (size_t)n);
        }
        return ff_http_send_json(r, 200, json_pack("{s:s,s:s}", "url", url, "key", key));
    }
    if (ff_queue_push(h->d.queue, sid, &err) != 0) {
        ff_log(FF_LOG_ERROR, sid, NULL, "cannot queue the session: %s", err.msg);
        return ff_http_send_error(r, 503, "cannot queue the session: %s", err.msg);
    }
    if (h->d.workers)
        ff_workers_wake(h->d.workers);
    ff_log(FF_LOG_INFO, sid, NULL, "session queued for processing");
    return ff_http_send_json(r, 200, json_pack("{s:s,s:s}", "status", "Processing Started!", "session_id", sid));
}

enum MHD_Result ff_api_new_session(ff_req *r)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return ff_http_send_error(r, 503, "no random bytes available for a session id; try again");
    char sid[33];
    for (int i = 0; i < 16; i++)
        snprintf(sid + 2 * i, 3, "%02x", raw[i]);
    const ff_server_config *c = r->h->cfg;
    return ff_http_send_json(r, 201, json_pack("{s:s,s:I,s:I}", "session_id", sid, "limit_bytes",
                                               (json_int_t)c->session_limit_bytes, "presign_ttl",
                                               (json_int_t)c->presign_ttl));
}

enum MHD_Result ff_api_session_status(ff_req *r, const char *sid)
{
    ff_err err = {{0}};
    char *json = NULL;
    int rc = ff_session_status_json(r->h->d.store, sid, &json, &err);
    if (rc < 0)
        return ff_http_send_error(r, 500, "cannot read the session: %s", err.msg);
    if (rc == 1) {
        free(json);
        return ff_http_send_error(r, 404, "session %s has no uploads or outputs", sid);
    }
    enum MHD_Result res;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(json);
        return MHD_NO;
    }
    atomic_store(&r->bytes_out, strlen(json));
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    res = ff_http_send(r, 200, resp);
    return res;
}

enum MHD_Result ff_api_config(ff_req *r)
{
    const ff_server_config *c = r->h->cfg;
    json_t *ext = json_pack("[s,s,s,s]", ".fits", ".fit", ".fts", ".fits.gz");
    return ff_http_send_json(r, 200, json_pack("{s:I,s:I,s:o,s:i,s:s,s:s}", "session_limit_bytes",
                                               (json_int_t)c->session_limit_bytes, "presign_ttl",
                                               (json_int_t)c->presign_ttl, "accepted_extensions", ext,
                                               "max_name_bytes", 200, "public_url", c->public_url,
                                               "version", FF_VERSION));
}

enum MHD_Result ff_api_healthz(ff_req *r)
{
    int pending = 0, running = 0;
    if (ff_queue_counts(r->h->d.queue, &pending, &running) != 0)
        return ff_http_send_error(r, 503, "the job queue cannot be read");
    return ff_http_send_json(r, 200, json_pack("{s:s,s:i,s:i}", "status", "ok", "queue_pending", pending,
                                               "queue_running", running));
}

enum MHD_Result ff_api_metrics(ff_req *r)
{
    if (!r->h->d.metrics)
        return ff_http_send_error(r, 503, "metrics are not enabled");
    int pending = 0, running = 0;
    ff_queue_counts(r->h->d.queue, &pending, &running);
    char *base = ff_metrics_render(r->h->d.metrics, pending, running);
    ff_front_counts fc;
    ff_front_stats(r->h->front, &fc);
    char *text = NULL;
    if (!base || asprintf(&text,
                          "%s# HELP fitsflow_connections_open Client connections open now.\n"
                          "# TYPE fitsflow_connections_open gauge\n"
                          "fitsflow_connections_open %zu\n"
                          "# HELP fitsflow_upload_connections_open Of those, served with the large upload read buffer.\n"
                          "# TYPE fitsflow_upload_connections_open gauge\n"
                          "fitsflow_upload_connections_open %zu\n"
                          "# HELP fitsflow_connections_refused_total Connections closed at accept (connection limits).\n"
                          "# TYPE fitsflow_connections_refused_total counter\n"
                          "fitsflow_connections_refused_total %lu\n"
                          "# HELP fitsflow_connections_header_timeouts_total Connections closed because a request header did not come within FITSFLOW_HEADER_TIMEOUT.\n"
                          "# TYPE fitsflow_connections_header_timeouts_total counter\n"
                          "fitsflow_connections_header_timeouts_total %lu\n"
                          "# HELP fitsflow_connections_evicted_total Connections waiting for a header (or lingering) closed to make room for a new one.\n"
                          "# TYPE fitsflow_connections_evicted_total counter\n"
                          "fitsflow_connections_evicted_total %lu\n"
                          "# HELP fitsflow_requests_refused_framing_total First requests of a connection refused for their framing (400, 501) before they were read.\n"
                          "# TYPE fitsflow_requests_refused_framing_total counter\n"
                          "fitsflow_requests_refused_framing_total %lu\n",
                          base, fc.open, fc.uploads_open, fc.refused, fc.header_timeouts, fc.evicted,
                          fc.bad_requests) < 0)
        text = NULL;
    free(base);
    if (!text)
        return ff_http_send_error(r, 500, "out of memory");
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    atomic_store(&r->bytes_out, strlen(text));
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return ff_http_send(r, 200, resp);
}

enum MHD_Result ff_api_index(ff_req *r)
{
    json_t *routes = json_pack("[s,s,s,s,s,s,s,s,s,s,s]",
                               "GET /FitsFlow-2-Trigger?session_id=S&filename=F&contentType=T",
                               "GET /FitsFlow-2-Trigger?session_id=S", "POST /api/sessions",
                               "GET /api/sessions/S", "GET /api/sessions/S/events",
                               "GET /api/sessions/S/archive.zip", "GET /api/config", "GET /healthz",
                               "GET /metrics", "GET|HEAD /temp/... and /daily_videos/...",
                               "GET /api/daily-video/latest");
    return ff_http_send_json(r, 200, json_pack("{s:s,s:s,s:o}", "service", "FitsFlow", "version", FF_VERSION,
                                               "routes", routes));
}

enum MHD_Result ff_api_daily_video_latest(ff_req *r)
{
    char *text = NULL;
    ff_err err = {{0}};
    int rc = ff_daily_video_latest(r->h->d.store, &text, &err);
    if (rc == 1)
        return ff_http_send_error(r, 404, "no daily movie has been built yet");
    if (rc != 0)
        return ff_http_send_error(r, 500, "cannot look for the daily movie: %s", err.msg);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    free(text);
    if (!j)
        return ff_http_send_error(r, 500, "cannot describe the daily movie");
    const char *path = json_string_value(json_object_get(j, "url_path"));
    if (path) {
        char url[1200];
        snprintf(url, sizeof url, "%s%s", ff_http_public_url(r->h), path);
        json_object_set_new(j, "url", json_string(url));
    }
    return ff_http_send_json(r, 200, j);
}
