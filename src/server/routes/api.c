/* The JSON API: the original Trigger endpoint (presign or start processing), sessions, their
 * status, the limits a client needs, the newest daily movie and metrics. */
#include "server/routes/routes.h"
#include "server/http/protocol.h"
#include "pipeline/keys.h"
#include "base/endings.h"
#include "base/hex.h"
#include "pipeline/daily_video.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "base/log.h"
#include "pipeline/session.h"
#include "pipeline/session_view.h"

static int needs_json_escape(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            return 1;
    return 0;
}

/* A trigger looks for the session's uploads on a store thread (ff_req_offload), never on the HTTP
 * thread: a slow store delays this answer only. */
typedef struct trigger_job {
    ff_app *a;
    char sid[FF_SESSION_ID_MAX + 1];
    int has; /* ff_session_has_uploads: 1, 0, or -1 with err */
    ff_err err;
} trigger_job;

static void trigger_work(void *ctx)
{
    trigger_job *j = ctx;
    j->has = ff_session_has_uploads(j->a->store, j->sid, &j->err);
}

/* A session without uploads has nothing to process: say so, and store nothing. When the store
 * cannot answer (S3 away or past its deadline), the job is queued anyway: it waits for the store
 * and retries (FITSFLOW_JOB_ATTEMPTS), and it stores nothing if there is nothing after all. */
static enum MHD_Result trigger_done(ff_req *r, void *ctx)
{
    trigger_job *j = ctx;
    ff_app *a = j->a;
    const char *sid = j->sid;
    ff_err err = {0};
    if (j->has == 0)
        return ff_req_send_error(r, 404, "session %s has no uploads: upload its files first "
                                  "(GET /FitsFlow-2-Trigger?session_id=S&filename=F gives an upload "
                                  "URL), then trigger it", sid);
    if (j->has < 0)
        ff_log(FF_LOG_WARN, sid, NULL, "cannot look for the session's uploads (%s); queued anyway",
               j->err.msg);
    if (ff_queue_push(a->queue, sid, &err) != 0) {
        ff_log(FF_LOG_ERROR, sid, NULL, "cannot queue the session: %s", err.msg);
        return ff_req_send_error(r, 503, "cannot queue the session: %s", err.msg);
    }
    if (a->workers)
        ff_workers_wake(a->workers);
    ff_log(FF_LOG_INFO, sid, NULL, "session queued for processing");
    return ff_req_send_json(r, 200, json_pack("{s:s,s:s}", "status", "Processing Started!", "session_id", sid));
}

enum MHD_Result ff_api_trigger(ff_req *r, void *app, const char *arg)
{
    (void)arg;
    ff_app *a = app;
    ff_err err = {0};
    const char *sid = ff_req_arg(r, "session_id");
    if (!sid || !*sid)
        return ff_req_send_error(r, 400, "session_id required");
    if (!ff_session_id_valid(sid))
        return ff_req_send_error(r, 400, "session_id must be 8 to 64 characters of a-z, 0-9 and '-'");
    const char *name = ff_req_arg(r, "filename");
    if (name) {
        if (!ff_upload_name_valid(name, &err))
            return ff_req_send_error(r, 400, "%s", err.msg);
        const char *ct = ff_req_arg(r, "contentType");
        if (!ct)
            ct = "";
        if (!ff_http_content_type_ok(ct))
            return ff_req_send_error(r, 400, "contentType must be printable ASCII of at most 200 bytes");
        if (ff_upload_presign_check(a, sid, name, &err) != 0)
            return ff_req_send_error(r, 413, "%s", err.msg);
        char key[FF_STORE_KEY_MAX + 1], url[FF_STORE_KEY_MAX + 1024];
        ff_key_upload(key, sizeof key, sid, name);
        int64_t expires = (int64_t)time(NULL) + a->cfg->presign_ttl;
        if (ff_presign_url(a->secret, a->cfg->public_url, "PUT", key, expires, ct, url, sizeof url) != 0)
            return ff_req_send_error(r, 500, "upload URL too long");
        /* Hot path (one call per file a browser uploads): the JSON is written directly when
         * nothing in it needs escaping, which is always so unless FITSFLOW_PUBLIC_URL has quotes,
         * backslashes or non-ASCII; jansson otherwise. */
        if (!needs_json_escape(url)) {
            char body[sizeof url + sizeof key + 32];
            int n = snprintf(body, sizeof body, "{\"url\":\"%s\",\"key\":\"%s\"}", url, key);
            if (n > 0 && (size_t)n < sizeof body)
                return ff_req_send_text(r, 200, "application/json", body, (size_t)n);
        }
        return ff_req_send_json(r, 200, json_pack("{s:s,s:s}", "url", url, "key", key));
    }
    trigger_job *j = calloc(1, sizeof *j);
    if (!j)
        return ff_req_send_error(r, 503, "out of memory; try again");
    j->a = a;
    snprintf(j->sid, sizeof j->sid, "%s", sid);
    return ff_req_offload(r, trigger_work, trigger_done, j, free);
}

enum MHD_Result ff_api_new_session(ff_req *r, void *app, const char *arg)
{
    (void)arg;
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return ff_req_send_error(r, 503, "no random bytes available for a session id; try again");
    char sid[33];
    ff_hex_encode(raw, sizeof raw, sid);
    const ff_server_config *c = ((ff_app *)app)->cfg;
    return ff_req_send_json(r, 201, json_pack("{s:s,s:I,s:I}", "session_id", sid, "limit_bytes",
                                               (json_int_t)c->session_limit_bytes, "presign_ttl",
                                               (json_int_t)c->presign_ttl));
}

/* GET /api/sessions/S: the session's view (session_cache.c) answers from memory while it is
 * fresh; otherwise a store thread refreshes it (a few listings and the objects that changed) and
 * the answer follows. Never a store call on the HTTP thread. */
#define STATUS_MIN_AGE 0.2 /* seconds: written to since, but refreshed this recently: as it is */
#define STATUS_MAX_AGE 1.0 /* seconds: older than this, look again (writes by other processes) */

typedef struct status_job {
    ff_app *a;
    ff_session_view *v;
    char sid[FF_SESSION_ID_MAX + 1];
    int rc;
    ff_err err;
    ff_store_fault fault;
} status_job;

static void blob_free(void *cls)
{
    ff_session_blob_unref(cls);
}

/* Sends the blob (takes the reference): 304 when the client holds these bytes already, gzip when
 * it takes it. Cache-Control no-cache (not no-store): a browser polling the status revalidates
 * with If-None-Match and gets an empty 304 while nothing changed. */
static enum MHD_Result send_status_blob(ff_req *r, ff_session_blob *b, const char *sid)
{
    if (b->empty) {
        ff_session_blob_unref(b);
        return ff_req_send_error(r, 404, "session %s has no uploads or outputs", sid);
    }
    const char *inm = ff_req_header(r, "If-None-Match");
    struct MHD_Response *resp;
    unsigned status = 200;
    int gz = 0;
    if (inm && ff_http_etag_match(inm, b->etag)) {
        status = 304;
        resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    } else {
        gz = b->gz && ff_req_accepts_gzip(r);
        size_t len = gz ? b->gz_len : b->len;
        ff_session_blob_ref(b);
        resp = MHD_create_response_from_buffer_with_free_callback_cls(len, gz ? b->gz : b->json,
                                                                      blob_free, b);
        if (!resp)
            ff_session_blob_unref(b);
        else
            ff_req_count_out(r, len);
    }
    if (!resp) {
        ff_session_blob_unref(b);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "ETag", b->etag);
    if (status == 200) {
        MHD_add_response_header(resp, "Content-Type", "application/json");
        if (gz)
            MHD_add_response_header(resp, "Content-Encoding", "gzip");
    }
    if (b->gz)
        MHD_add_response_header(resp, "Vary", "Accept-Encoding");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    ff_session_blob_unref(b);
    return ff_req_send(r, status, resp);
}

static void status_work(void *ctx)
{
    status_job *j = ctx;
    j->rc = ff_session_view_refresh(j->v, j->a->store, &j->err);
    j->fault = j->rc ? ff_store_last_fault() : FF_STORE_FAULT_NONE;
}

static enum MHD_Result status_done(ff_req *r, void *ctx)
{
    status_job *j = ctx;
    if (j->rc != 0)
        return ff_req_send_store_error(r, "cannot read the session", j->fault, &j->err);
    ff_session_blob *b = ff_session_view_status(j->v);
    if (!b)
        return ff_req_send_error(r, 500, "out of memory");
    return send_status_blob(r, b, j->sid);
}

static void status_free(void *ctx)
{
    status_job *j = ctx;
    ff_session_cache_release(j->a->sessions, j->v);
    free(j);
}

enum MHD_Result ff_api_session_status(ff_req *r, void *app, const char *sid)
{
    assert(ff_session_id_valid(sid)); /* the route's {sid}: the engine checked it */
    ff_app *a = app;
    ff_session_view *v = ff_session_cache_get(a->sessions, sid);
    if (!v)
        return ff_req_send_error(r, 503, "out of memory; try again");
    if (!ff_session_cache_claim(a->sessions, v, STATUS_MIN_AGE, STATUS_MAX_AGE)) {
        ff_session_blob *b = ff_session_view_status(v);
        if (b) {
            ff_session_cache_release(a->sessions, v);
            return send_status_blob(r, b, sid);
        }
    }
    status_job *j = calloc(1, sizeof *j);
    if (!j) {
        ff_session_cache_release(a->sessions, v);
        return ff_req_send_error(r, 503, "out of memory; try again");
    }
    j->a = a;
    j->v = v;
    snprintf(j->sid, sizeof j->sid, "%s", sid);
    return ff_req_offload(r, status_work, status_done, j, status_free);
}

enum MHD_Result ff_api_config(ff_req *r, void *app, const char *arg)
{
    (void)arg;
    const ff_server_config *c = ((ff_app *)app)->cfg;
    json_t *ext = json_array();
    for (size_t i = 0; i < ff_fits_endings_count; i++)
        json_array_append_new(ext, json_string(ff_fits_endings[i]));
    return ff_req_send_json(r, 200, json_pack("{s:I,s:I,s:o,s:i,s:s,s:s}", "session_limit_bytes",
                                               (json_int_t)c->session_limit_bytes, "presign_ttl",
                                               (json_int_t)c->presign_ttl, "accepted_extensions", ext,
                                               "max_name_bytes", 200, "public_url", c->public_url,
                                               "version", FF_VERSION));
}

enum MHD_Result ff_api_metrics(ff_req *r, void *app, const char *arg)
{
    (void)arg;
    ff_app *a = app;
    if (!a->metrics)
        return ff_req_send_error(r, 503, "metrics are not enabled");
    int pending = 0, running = 0;
    ff_queue_counts(a->queue, &pending, &running);
    char *base = ff_metrics_render(a->metrics, pending, running);
    ff_front_counts fc;
    ff_req_server_counts(r, &fc);
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
        return ff_req_send_error(r, 500, "out of memory");
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    ff_req_count_out(r, strlen(text));
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return ff_req_send(r, 200, resp);
}

typedef struct latest_job {
    ff_store *store;
    const char *public_url;
    char *text;
    int rc;
    ff_err err;
    ff_store_fault fault;
} latest_job;

static void latest_work(void *ctx)
{
    latest_job *j = ctx;
    j->rc = ff_daily_video_latest(j->store, &j->text, &j->err);
    j->fault = j->rc < 0 ? ff_store_last_fault() : FF_STORE_FAULT_NONE;
}

static void latest_free(void *ctx)
{
    latest_job *j = ctx;
    free(j->text);
    free(j);
}

static enum MHD_Result latest_done(ff_req *r, void *ctx)
{
    latest_job *job = ctx;
    if (job->rc == 1)
        return ff_req_send_error(r, 404, "no daily movie has been built yet");
    if (job->rc != 0)
        return ff_req_send_store_error(r, "cannot look for the daily movie", job->fault, &job->err);
    char *text = job->text;
    job->text = NULL;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    free(text);
    if (!j)
        return ff_req_send_error(r, 500, "cannot describe the daily movie");
    const char *path = json_string_value(json_object_get(j, "url_path"));
    if (path) {
        char url[1200];
        snprintf(url, sizeof url, "%s%s", job->public_url, path);
        json_object_set_new(j, "url", json_string(url));
    }
    return ff_req_send_json(r, 200, j);
}

enum MHD_Result ff_api_daily_video_latest(ff_req *r, void *app, const char *arg)
{
    (void)arg;
    ff_app *a = app;
    latest_job *j = calloc(1, sizeof *j);
    if (!j)
        return ff_req_send_error(r, 503, "out of memory; try again");
    j->store = a->store;
    j->public_url = a->cfg->public_url;
    return ff_req_offload(r, latest_work, latest_done, j, latest_free);
}
