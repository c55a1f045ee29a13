/* The Runtime API client over libcurl: plain HTTP to the local endpoint Lambda provides. */
#include "lambda/runtime.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/log.h"

struct ff_lambda_runtime {
    CURL *curl;
    char base[300]; /* http://host:port/2018-06-01/runtime */
};

int64_t ff_lambda_remaining_ms(const ff_lambda_invocation *inv)
{
    if (!inv->deadline_ms)
        return INT64_MAX;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return inv->deadline_ms - ((int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000);
}

ff_lambda_runtime *ff_lambda_runtime_open(const char *api, ff_err *err)
{
    if (!api || !*api || strlen(api) > 200 || strpbrk(api, "/ \t\r\n?#@")) {
        ff_err_set(err, "AWS_LAMBDA_RUNTIME_API must be host:port, not '%.64s'", api ? api : "");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ff_err_set(err, "libcurl could not be initialised");
        return NULL;
    }
    ff_lambda_runtime *rt = calloc(1, sizeof *rt);
    if (!rt || !(rt->curl = curl_easy_init())) {
        free(rt);
        ff_err_set(err, "out of memory");
        return NULL;
    }
    snprintf(rt->base, sizeof rt->base, "http://%s/2018-06-01/runtime", api);
    return rt;
}

void ff_lambda_runtime_close(ff_lambda_runtime *rt)
{
    if (!rt)
        return;
    curl_easy_cleanup(rt->curl);
    free(rt);
}

void ff_lambda_invocation_free(ff_lambda_invocation *inv)
{
    free(inv->event);
    inv->event = NULL;
}

typedef struct next_ctx {
    ff_lambda_invocation *inv;
    size_t cap;
    int too_big;
} next_ctx;

static size_t body_cb(char *data, size_t size, size_t n, void *p)
{
    next_ctx *c = p;
    size_t len = size * n;
    ff_lambda_invocation *inv = c->inv;
    if (inv->event_len + len > FF_LAMBDA_EVENT_MAX) {
        c->too_big = 1;
        return 0;
    }
    if (inv->event_len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < inv->event_len + len + 1)
            cap *= 2;
        char *e = realloc(inv->event, cap);
        if (!e)
            return 0;
        inv->event = e;
        c->cap = cap;
    }
    memcpy(inv->event + inv->event_len, data, len);
    inv->event_len += len;
    inv->event[inv->event_len] = '\0';
    return len;
}

static void copy_header(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) || line[nl] != ':')
        return;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vl = (size_t)(end - v);
    if (vl >= outsz)
        return; /* too long to be real: leave it empty */
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t header_cb(char *line, size_t size, size_t n, void *p)
{
    next_ctx *c = p;
    size_t len = size * n;
    char deadline[32] = "";
    copy_header(line, len, "Lambda-Runtime-Aws-Request-Id", c->inv->request_id, sizeof c->inv->request_id);
    copy_header(line, len, "Lambda-Runtime-Invoked-Function-Arn", c->inv->function_arn,
                sizeof c->inv->function_arn);
    copy_header(line, len, "Lambda-Runtime-Trace-Id", c->inv->trace_id, sizeof c->inv->trace_id);
    copy_header(line, len, "Lambda-Runtime-Deadline-Ms", deadline, sizeof deadline);
    if (deadline[0]) {
        char *endp;
        long long ms = strtoll(deadline, &endp, 10);
        if (*endp == '\0' && ms > 0)
            c->inv->deadline_ms = ms;
    }
    return len;
}

static size_t discard_cb(char *data, size_t size, size_t n, void *p)
{
    (void)data;
    (void)p;
    return size * n;
}

int ff_lambda_next(ff_lambda_runtime *rt, ff_lambda_invocation *inv, ff_err *err)
{
    memset(inv, 0, sizeof *inv);
    next_ctx c = {.inv = inv};
    char url[400];
    snprintf(url, sizeof url, "%s/invocation/next", rt->base);
    CURL *h = rt->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 0L); /* a long poll: it may wait for hours */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK || status != 200) {
        ff_lambda_invocation_free(inv);
        if (c.too_big)
            return ff_err_set(err, "invocation event larger than %u bytes", FF_LAMBDA_EVENT_MAX);
        return ff_err_set(err, "Runtime API next invocation failed: %s (HTTP %ld)",
                          cc != CURLE_OK ? curl_easy_strerror(cc) : "bad status", status);
    }
    if (!inv->request_id[0]) {
        ff_lambda_invocation_free(inv);
        return ff_err_set(err, "Runtime API gave an invocation without Lambda-Runtime-Aws-Request-Id");
    }
    if (!inv->event && !(inv->event = calloc(1, 1)))
        return ff_err_set(err, "out of memory");
    return 0;
}

/* POSTs body to base + path; 202 is the documented answer. */
static int post(ff_lambda_runtime *rt, const char *path, const char *body, size_t len,
                const char *error_type, ff_err *err)
{
    char url[700];
    snprintf(url, sizeof url, "%s%s", rt->base, path);
    CURL *h = rt->curl;
    curl_easy_reset(h);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    char line[160];
    if (hl && error_type) {
        snprintf(line, sizeof line, "Lambda-Runtime-Function-Error-Type: %.100s", error_type);
        struct curl_slist *t = curl_slist_append(hl, line);
        if (t)
            hl = t;
    }
    struct curl_slist *t = hl ? curl_slist_append(hl, "Expect:") : NULL;
    if (t)
        hl = t;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    if (cc != CURLE_OK)
        return ff_err_set(err, "Runtime API %s failed: %s", path, curl_easy_strerror(cc));
    if (status / 100 != 2)
        return ff_err_set(err, "Runtime API %s answered HTTP %ld", path, status);
    return 0;
}

/* request ids are opaque but go into a URL path: refuse anything that is not a plain token. */
static int id_ok(const char *id)
{
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return *id != '\0';
}

int ff_lambda_respond(ff_lambda_runtime *rt, const char *request_id, const char *body, size_t len,
                      ff_err *err)
{
    if (!id_ok(request_id))
        return ff_err_set(err, "unusable request id '%.64s'", request_id);
    char path[200];
    snprintf(path, sizeof path, "/invocation/%s/response", request_id);
    return post(rt, path, body, len, NULL, err);
}

int ff_lambda_report_error(ff_lambda_runtime *rt, const char *request_id, const char *type,
                           const char *message, ff_err *err)
{
    char path[200];
    if (request_id) {
        if (!id_ok(request_id))
            return ff_err_set(err, "unusable request id '%.64s'", request_id);
        snprintf(path, sizeof path, "/invocation/%s/error", request_id);
    } else {
        snprintf(path, sizeof path, "/init/error");
    }
    json_t *j = json_pack("{s:s, s:s, s:[]}", "errorMessage", message ? message : "",
                          "errorType", type ? type : "Error", "stackTrace");
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body)
        return ff_err_set(err, "out of memory");
    int rc = post(rt, path, body, strlen(body), type ? type : "Error", err);
    free(body);
    return rc;
}

int ff_lambda_loop(ff_lambda_runtime *rt, ff_lambda_handler_fn fn, void *ctx, long max_invocations,
                   ff_err *err)
{
    for (long n = 0; max_invocations == 0 || n < max_invocations; n++) {
        ff_lambda_invocation inv;
        if (ff_lambda_next(rt, &inv, err) != 0)
            return -1;
        if (inv.trace_id[0])
            setenv("_X_AMZN_TRACE_ID", inv.trace_id, 1);
        else
            unsetenv("_X_AMZN_TRACE_ID");
        char *response = NULL;
        const char *etype = "Error";
        ff_err herr = {0};
        int rc = fn(ctx, &inv, &response, &etype, &herr);
        int prc;
        if (rc == 0) {
            const char *body = response ? response : "null";
            prc = ff_lambda_respond(rt, inv.request_id, body, strlen(body), err);
        } else {
            ff_log(FF_LOG_ERROR, NULL, NULL, "invocation %s failed: %s", inv.request_id, herr.msg);
            prc = ff_lambda_report_error(rt, inv.request_id, etype, herr.msg, err);
        }
        free(response);
        ff_lambda_invocation_free(&inv);
        if (prc != 0)
            return -1;
    }
    return 0;
}
