/* The four Lambda handlers (see lambda.h): events in, pipeline calls, JSON results out. */
#include "lambda/glue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/log.h"
#include "pipeline/pipeline.h"
#include "pipeline/session.h"

#define FITS_MAX ((size_t)2 << 30)

static int env_int(const char *name, int dflt, int min, int max, int *out, ff_err *err)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = dflt;
        return 0;
    }
    uint64_t x;
    if (ff_parse_u64(v, (uint64_t)min, (uint64_t)max, &x) != 0)
        return ff_err_set(err, "%s is '%.32s'; use a whole number from %d to %d", name, v, min, max);
    *out = (int)x;
    return 0;
}

int ff_lambda_ctx_init(ff_lambda_ctx *c, ff_err *err)
{
    memset(c, 0, sizeof *c);
    ff_pipeline_config_defaults(&c->pipeline);
    if (ff_pipeline_config_from_env(&c->pipeline, err) != 0 ||
        env_int("FITSFLOW_PRESIGN_TTL", 300, 1, 604800, &c->presign_ttl, err) != 0 ||
        env_int("FITSFLOW_RETENTION_HOURS", 24, 1, 24 * 365, &c->retention_hours, err) != 0 ||
        env_int("FITSFLOW_JOBS", 1, 1, 64, &c->jobs, err) != 0 ||
        env_int("FITSFLOW_DEADLINE_MARGIN", 60, 0, 900, &c->deadline_margin_s, err) != 0)
        return -1;
    c->main_function = getenv("FITSFLOW_MAIN_FUNCTION");
    const char *dir = getenv("FITSFLOW_DATA_DIR");
    c->store = ff_store_open_from_env(dir && *dir ? dir : "/tmp/fitsflow-data", err);
    return c->store ? 0 : -1;
}

void ff_lambda_ctx_free(ff_lambda_ctx *c)
{
    ff_store_close(c->store);
    c->store = NULL;
}

ff_lambda_handler_fn ff_lambda_handler_find(const char *name)
{
    if (!name)
        return NULL;
    const char *dot = strrchr(name, '.');
    if (dot)
        name = dot + 1;
    if (!strcmp(name, "trigger"))
        return ff_lambda_trigger;
    if (!strcmp(name, "main"))
        return ff_lambda_main;
    if (!strcmp(name, "asdf"))
        return ff_lambda_asdf;
    if (!strcmp(name, "clean"))
        return ff_lambda_clean;
    return NULL;
}

static json_t *parse_event(const ff_lambda_invocation *inv, const char **etype, ff_err *err)
{
    json_error_t je;
    json_t *ev = json_loadb(inv->event, inv->event_len, 0, &je);
    if (!ev || !json_is_object(ev)) {
        json_decref(ev);
        *etype = "InvalidEvent";
        ff_err_set(err, "the event is not a JSON object%s%.200s", ev ? "" : ": ", ev ? "" : je.text);
        return NULL;
    }
    return ev;
}

static const char *get_str(const json_t *obj, const char *name)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Dumps j (stolen) into *out; -1 when out of memory. */
static int dump(json_t *j, char **out, ff_err *err)
{
    *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return *out ? 0 : ff_err_set(err, "out of memory");
}

/* An API Gateway HTTP API (payload 2.0) response carrying body (stolen) as JSON. */
static int http_response(int status, json_t *body, char **out, ff_err *err)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return ff_err_set(err, "out of memory");
    json_t *r = json_pack("{s:i, s:{s:s, s:s}, s:s, s:b}", "statusCode", status, "headers",
                          "Content-Type", "application/json", "Cache-Control", "no-store",
                          "body", text, "isBase64Encoded", 0);
    free(text);
    return dump(r, out, err);
}

static int http_error(int status, const char *msg, char **out, ff_err *err)
{
    return http_response(status, json_pack("{s:s}", "error", msg), out, err);
}

static int content_type_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 127)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 32 || (unsigned char)t[i] > 126)
            return 0;
    return 1;
}

int ff_lambda_trigger(void *ctx, const ff_lambda_invocation *inv, char **response,
                      const char **error_type, ff_err *err)
{
    ff_lambda_ctx *c = ctx;
    json_t *ev = parse_event(inv, error_type, err);
    if (!ev)
        return -1;
    const json_t *qs = json_object_get(ev, "queryStringParameters");
    const char *method = get_str(json_object_get(json_object_get(ev, "requestContext"), "http"), "method");
    const char *sid = get_str(qs, "session_id");
    const char *filename = get_str(qs, "filename");
    const char *ctype = get_str(qs, "contentType");
    int rc;
    ff_err why = {0};
    if (method && strcmp(method, "GET") && strcmp(method, "POST")) {
        rc = http_error(405, "use GET", response, err);
    } else if (!sid || !ff_lambda_sid_valid(sid)) {
        rc = http_error(400, "session_id must be 8 to 64 characters of a-z, 0-9 and '-'", response, err);
    } else if (filename) {
        if (!ff_lambda_upload_name_valid(filename, &why)) {
            rc = http_error(400, why.msg, response, err);
        } else if (ctype && !content_type_ok(ctype)) {
            rc = http_error(400, "contentType must be 1 to 127 printable characters", response, err);
        } else {
            char key[FF_STORE_KEY_MAX + 1];
            snprintf(key, sizeof key, "temp/%s/fits/%s", sid, filename);
            char *url = ff_store_presign_put(c->store, key, ctype ? ctype : "application/octet-stream",
                                             c->presign_ttl, time(NULL), &why);
            if (!url) {
                ff_log(FF_LOG_ERROR, sid, filename, "presign failed: %s", why.msg);
                rc = http_error(500, "cannot make an upload URL", response, err);
            } else {
                rc = http_response(200, json_pack("{s:s, s:s}", "url", url, "key", key), response, err);
                free(url);
            }
        }
    } else if (ff_session_has_uploads(c->store, sid, &why) == 0) {
        /* Nothing to process: say so, and start nothing (as serve does). When the store cannot
         * answer, Main is started anyway and finds out itself. */
        rc = http_error(404, "the session has no uploads: upload its files first, then trigger it",
                        response, err);
    } else {
        json_t *payload = json_pack("{s:s}", "session_id", sid);
        char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
        json_decref(payload);
        if (!text) {
            rc = ff_err_set(err, "out of memory");
        } else if (ff_lambda_invoke_async(c->main_function, text, &why) != 0) {
            ff_log(FF_LOG_ERROR, sid, NULL, "cannot start processing: %s", why.msg);
            rc = http_error(502, "cannot start processing; try again", response, err);
        } else {
            ff_log(FF_LOG_INFO, sid, NULL, "processing started");
            rc = http_response(200, json_pack("{s:s, s:s}", "status", "Processing Started!",
                                              "session_id", sid), response, err);
        }
        free(text);
    }
    json_decref(ev);
    return rc;
}

int ff_lambda_main(void *ctx, const ff_lambda_invocation *inv, char **response,
                   const char **error_type, ff_err *err)
{
    ff_lambda_ctx *c = ctx;
    json_t *ev = parse_event(inv, error_type, err);
    if (!ev)
        return -1;
    const char *sid = get_str(ev, "session_id");
    int rc;
    if (!sid || !ff_lambda_sid_valid(sid)) {
        *error_type = "InvalidEvent";
        rc = ff_err_set(err, "the event needs \"session_id\": 8 to 64 characters of a-z, 0-9 and '-'");
    } else {
        c->current = inv;
        rc = ff_lambda_run_session(c, sid, err);
        c->current = NULL;
        if (rc == 0) {
            rc = dump(json_pack("{s:s, s:s}", "session_id", sid, "status", "done"), response, err);
        } else if (rc == 1) {
            *error_type = "DeadlineNear";
            rc = ff_err_set(err, "session %s stopped before the time limit; the retry resumes it", sid);
        } else {
            *error_type = "SessionFailed";
        }
    }
    json_decref(ev);
    return rc;
}

/* Copies a store object into a new temporary file; its path goes to path (PATH_MAX). */
static int fetch_to_tmp(ff_store *s, const char *key, char *path, size_t pathsz, ff_err *err)
{
    char *buf;
    size_t len;
    int rc = ff_store_get(s, key, FITS_MAX, &buf, &len, err);
    if (rc != 0)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(path, pathsz, "%s/ff-asdf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        free(buf);
        return ff_err_set(err, "cannot create a temporary file in %s", tmp && *tmp ? tmp : "/tmp");
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, buf + off, len - off);
        if (n <= 0) {
            close(fd);
            unlink(path);
            free(buf);
            return ff_err_set(err, "cannot write the temporary copy of '%s'", key);
        }
        off += (size_t)n;
    }
    close(fd);
    free(buf);
    return 0;
}

int ff_lambda_asdf(void *ctx, const ff_lambda_invocation *inv, char **response,
                   const char **error_type, ff_err *err)
{
    ff_lambda_ctx *c = ctx;
    json_t *ev = parse_event(inv, error_type, err);
    if (!ev)
        return -1;
    const char *sid = get_str(ev, "session_id");
    const char *file = get_str(ev, "file");
    ff_err why = {0};
    int rc = -1;
    if (!sid || !ff_lambda_sid_valid(sid) || !file || !ff_lambda_upload_name_valid(file, &why)) {
        *error_type = "InvalidEvent";
        ff_err_set(err, "the event needs \"session_id\" and \"file\" (an upload's name)%s%s",
                   why.msg[0] ? ": " : "", why.msg);
        goto out;
    }
    char key[FF_STORE_KEY_MAX + 1], prefix[FF_STORE_KEY_MAX + 1], path[4096];
    snprintf(key, sizeof key, "temp/%s/fits/%s", sid, file);
    snprintf(prefix, sizeof prefix, "temp/%s/processed/", sid);
    if (fetch_to_tmp(c->store, key, path, sizeof path, err) != 0) {
        *error_type = "InputUnavailable";
        goto out;
    }
    ff_file_result r;
    int prc = ff_pipeline_process_file(&c->pipeline, c->store, prefix, path, file, NULL, NULL, &r);
    unlink(path);
    if (prc < 0) {
        *error_type = "ProcessingFailed";
        ff_err_set(err, "processing %s failed: %s", file, r.reason);
    } else {
        rc = dump(json_pack("{s:s, s:s, s:s, s:s, s:I}", "session_id", sid, "file", file, "status",
                            ff_file_status_name(r.status), "reason", r.reason, "outputs",
                            (json_int_t)r.noutputs),
                  response, err);
    }
    ff_file_result_free(&r);
out:
    json_decref(ev);
    return rc;
}

int ff_lambda_clean(void *ctx, const ff_lambda_invocation *inv, char **response,
                    const char **error_type, ff_err *err)
{
    ff_lambda_ctx *c = ctx;
    json_t *ev = parse_event(inv, error_type, err);
    if (!ev)
        return -1;
    json_decref(ev);
    time_t now = time(NULL);
    json_t *clean = json_object(), *video = json_object();
    int rc = -1;
    if (!clean || !video) {
        ff_err_set(err, "out of memory");
        goto out;
    }
    if (ff_lambda_run_clean(c, now, clean, err) != 0) {
        *error_type = "CleanFailed";
        goto out;
    }
    ff_log(FF_LOG_INFO, NULL, NULL, "clean done");
    ff_err verr = {0};
    if (ff_lambda_run_daily_video(c, now, video, &verr) != 0) {
        *error_type = "DailyVideoFailed";
        json_int_t deleted = json_integer_value(json_object_get(clean, "sessions_deleted"));
        ff_err_set(err, "clean done (%lld sessions deleted); the daily movie failed: %s",
                   (long long)deleted, verr.msg);
        goto out;
    }
    rc = dump(json_pack("{s:O, s:O}", "clean", clean, "daily_video", video), response, err);
out:
    json_decref(clean);
    json_decref(video);
    return rc;
}
