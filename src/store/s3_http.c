/* Signed S3 requests over libcurl. Each call uses its own easy handle (the store is used from
 * several threads at once); a locked share keeps connections and DNS answers between calls. */
#include "store/s3_http.h"
#include "base/clock.h"
#include "base/cabundle.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#define RETRIES 4
#define ERROR_BODY_MAX (64u << 10)

struct ff_s3_http {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init_once(void)
{
    curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a, void *ctx)
{
    (void)h;
    (void)a;
    pthread_mutex_lock(&((ff_s3_http *)ctx)->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
    (void)h;
    pthread_mutex_unlock(&((ff_s3_http *)ctx)->locks[data]);
}

ff_s3_http *ff_s3_http_new(ff_err *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (!curl_ok) {
        ff_err_set(err, "libcurl could not be initialised");
        return NULL;
    }
    ff_s3_http *h = calloc(1, sizeof *h);
    if (!h || !(h->share = curl_share_init())) {
        free(h);
        ff_err_set(err, "out of memory");
        return NULL;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->locks[i], NULL);
    curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return h;
}

void ff_s3_http_free(ff_s3_http *h)
{
    if (!h)
        return;
    curl_share_cleanup(h->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->locks[i]);
    free(h);
}

void ff_s3_resp_free(ff_s3_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

typedef struct xfer {
    const char *body;
    size_t body_len, sent;
    ff_s3_resp *resp;
    CURL *curl;
    size_t cap, max;
    int too_big;
} xfer;

static size_t read_cb(char *buf, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    size_t want = size * n, left = x->body_len - x->sent;
    if (want > left)
        want = left;
    memcpy(buf, x->body + x->sent, want);
    x->sent += want;
    return want;
}

static int seek_cb(void *ctx, curl_off_t off, int origin)
{
    xfer *x = ctx;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->sent = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *data, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    size_t len = size * n;
    ff_s3_resp *r = x->resp;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    size_t max = status >= 200 && status < 300 ? x->max : ERROR_BODY_MAX;
    if (r->body_len + len > max) {
        x->too_big = 1;
        return 0;
    }
    if (r->body_len + len + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *p = realloc(r->body, cap);
        if (!p)
            return 0;
        r->body = p;
        x->cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return len;
}

const char *ff_s3_header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

static size_t header_cb(char *line, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    size_t len = size * n, vl;
    const char *v;
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
        /* A new response (after a redirect or 100 Continue): forget what the last one said. */
        x->resp->etag[0] = '\0';
        x->resp->have_length = 0;
        x->resp->last_modified = 0;
    } else if ((v = ff_s3_header_value(line, len, "ETag", &vl))) {
        if (vl < sizeof x->resp->etag) {
            memcpy(x->resp->etag, v, vl);
            x->resp->etag[vl] = '\0';
        }
    } else if ((v = ff_s3_header_value(line, len, "Content-Length", &vl))) {
        char tmp[32];
        if (vl && vl < sizeof tmp) {
            memcpy(tmp, v, vl);
            tmp[vl] = '\0';
            char *endp;
            unsigned long long cl = strtoull(tmp, &endp, 10);
            if (*endp == '\0') {
                x->resp->content_length = cl;
                x->resp->have_length = 1;
            }
        }
    } else if ((v = ff_s3_header_value(line, len, "Last-Modified", &vl))) {
        char tmp[64];
        if (vl < sizeof tmp) {
            memcpy(tmp, v, vl);
            tmp[vl] = '\0';
            time_t t = curl_getdate(tmp, NULL);
            if (t > 0)
                x->resp->last_modified = t;
        }
    }
    return len;
}

int ff_s3_http_setup(ff_s3_http *h, const ff_s3_target *t, const ff_s3_call *c, CURL *curl,
                     struct curl_slist **hlp, ff_err *err)
{
    int rc = -1;
    struct curl_slist *hl = NULL;
    ff_strbuf path = {0}, query = {0}, url = {0}, auth = {0}, line = {0};
    *hlp = NULL;
    ff_s3_target_path(t, c->key, &path);
    if (ff_sigv4_canonical_query(&query, c->query, c->n_query) != 0 || path.oom) {
        ff_err_set(err, "out of memory");
        goto out;
    }
    char amz_date[17], payload_hash[65];
    ff_sigv4_amz_date(time(NULL), amz_date);
    ff_sigv4_sha256_hex(c->body ? c->body : "", c->body ? c->body_len : 0, payload_hash);

    ff_sigv4_pair hs[40];
    size_t nh = 0;
    if (c->n_headers > 32) {
        ff_err_set(err, "too many headers");
        goto out;
    }
    hs[nh++] = (ff_sigv4_pair){"host", t->sign_host};
    hs[nh++] = (ff_sigv4_pair){"x-amz-content-sha256", payload_hash};
    hs[nh++] = (ff_sigv4_pair){"x-amz-date", amz_date};
    if (t->creds.session_token[0])
        hs[nh++] = (ff_sigv4_pair){"x-amz-security-token", t->creds.session_token};
    for (size_t i = 0; i < c->n_headers; i++)
        hs[nh++] = c->headers[i];
    ff_sigv4_req sr = {
        .method = c->method, .path = path.p, .query = query.p, .headers = hs, .n_headers = nh,
        .payload_hash = payload_hash, .amz_date = amz_date, .region = t->region, .service = "s3",
    };
    if (ff_sigv4_authorization(&t->creds, &sr, &auth, err) != 0)
        goto out;
    for (size_t i = 0; i < nh; i++) {
        line.len = 0;
        ff_strbuf_addf(&line, "%s: %s", hs[i].name, hs[i].value);
        struct curl_slist *tmp;
        if (line.oom || !(tmp = curl_slist_append(hl, line.p))) {
            ff_err_set(err, "out of memory");
            goto out;
        }
        hl = tmp;
    }
    line.len = 0;
    ff_strbuf_addf(&line, "Authorization: %s", auth.p);
    struct curl_slist *tmp;
    if (line.oom || !(tmp = curl_slist_append(hl, line.p)) || !(hl = tmp) ||
        !(tmp = curl_slist_append(hl, "Expect:")) || !(hl = tmp) ||
        !(tmp = curl_slist_append(hl, "Accept:")) || !(hl = tmp)) {
        ff_err_set(err, "out of memory");
        goto out;
    }
    ff_strbuf_addf(&url, "%s://%s%s%s%s", t->scheme, t->url_host, path.p, query.len ? "?" : "",
                   query.p ? query.p : "");
    if (url.oom) {
        ff_err_set(err, "out of memory");
        goto out;
    }
    /* CURLOPT_URL copies the string. */
    if (curl_easy_setopt(curl, CURLOPT_URL, url.p) != CURLE_OK) {
        ff_err_set(err, "out of memory");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_SHARE, h->share);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    double dl = ff_store_get_deadline();
    if (dl > 0) {
        double left = dl - ff_clock_now();
        long ms = left > 0.001 ? (long)(left * 1000) + 1 : 1;
        if (ms < 10000)
            curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ms);
    }
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    const char *ca = ff_ca_bundle();
    if (ca && !strcmp(t->scheme, "https"))
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    *hlp = hl;
    hl = NULL;
    rc = 0;
out:
    curl_slist_free_all(hl);
    free(path.p);
    free(query.p);
    free(url.p);
    free(auth.p);
    free(line.p);
    return rc;
}

int ff_s3_http_timeouts(CURL *curl, size_t body_len, ff_err *err)
{
    double dl = ff_store_get_deadline();
    if (dl <= 0)
        return 0;
    double left = dl - ff_clock_now();
    if (left <= 0.001) {
        ff_store_fault_set(FF_STORE_FAULT_TIMEOUT);
        return ff_err_set(err, "the store did not answer in time (deadline passed)");
    }
    long ms = (long)(left * 1000) + 1;
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ms);
    if (body_len > (1u << 20)) {
        long s = ms / 1000 > 0 ? ms / 1000 : 1;
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, s);
    } else {
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, ms);
    }
    return 0;
}

int ff_s3_curl_fail(ff_err *err, const ff_s3_target *t, CURLcode cc)
{
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        ff_store_fault_set(FF_STORE_FAULT_TIMEOUT);
        return ff_err_set(err, "S3 at %s://%s did not answer in time: %s", t->scheme, t->url_host,
                          curl_easy_strerror(cc));
    }
    ff_store_fault_set(FF_STORE_FAULT_UNAVAILABLE);
    return ff_err_set(err, "cannot reach S3 at %s://%s: %s", t->scheme, t->url_host,
                      curl_easy_strerror(cc));
}

static int one_try(ff_s3_http *h, const ff_s3_target *t, const ff_s3_call *c, ff_s3_resp *resp,
                   int *retry, ff_err *err)
{
    *retry = 0;
    int rc = -1;
    memset(resp, 0, sizeof *resp);
    CURL *curl = curl_easy_init();
    struct curl_slist *hl = NULL;
    if (!curl) {
        ff_err_set(err, "out of memory");
        goto out;
    }
    if (ff_s3_http_setup(h, t, c, curl, &hl, err) != 0 ||
        ff_s3_http_timeouts(curl, c->body ? c->body_len : 0, err) != 0)
        goto out;

    xfer x = {.body = c->body, .body_len = c->body ? c->body_len : 0, .resp = resp,
              .curl = curl, .max = c->max_response};
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
    if (!strcmp(c->method, "HEAD")) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(c->method, "PUT") || !strcmp(c->method, "POST")) {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(curl, CURLOPT_READDATA, &x);
        curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, seek_cb);
        curl_easy_setopt(curl, CURLOPT_SEEKDATA, &x);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x.body_len);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c->method);
    } else if (strcmp(c->method, "GET")) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c->method);
    }
    CURLcode cc = curl_easy_perform(curl);
    if (x.too_big) {
        ff_store_fault_set(FF_STORE_FAULT_REMOTE);
        ff_err_set(err, "S3 answer for '%.200s' is larger than the %zu bytes allowed",
                   c->key ? c->key : t->bucket, x.max);
        goto out;
    }
    if (cc != CURLE_OK) {
        *retry = 1;
        ff_s3_curl_fail(err, t, cc);
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (ff_s3_status_transient(resp->status))
        *retry = 1;
    rc = 0;
out:
    if (rc != 0)
        ff_s3_resp_free(resp);
    if (curl)
        curl_easy_cleanup(curl);
    curl_slist_free_all(hl);
    return rc;
}

int ff_s3_http_call(ff_s3_http *h, const ff_s3_target *t, const ff_s3_call *c, ff_s3_resp *resp,
                    ff_err *err)
{
    unsigned delay_ms = 100;
    for (int attempt = 1;; attempt++) {
        int retry;
        int rc = one_try(h, t, c, resp, &retry, err);
        if (!retry || attempt == RETRIES) {
            if (rc == 0 && retry)
                return 0; /* the last 5xx answer: the caller reports it */
            return rc;
        }
        /* backoff with jitter: 100, 200, 400 ms (+ up to half again) */
        unsigned jitter = (unsigned)(((uintptr_t)&attempt >> 4) ^ (unsigned)time(NULL)) % (delay_ms / 2 + 1);
        double dl = ff_store_get_deadline();
        if (dl > 0 && ff_clock_now() + (delay_ms + jitter) / 1000.0 + 0.05 >= dl)
            return rc; /* no time left for another try: the last answer (or failure) stands */
        if (rc == 0)
            ff_s3_resp_free(resp);
        usleep((useconds_t)(delay_ms + jitter) * 1000);
        delay_ms *= 2;
    }
}

int ff_s3_fail(ff_err *err, const char *what, const char *key, const ff_s3_resp *r)
{
    char code[128], msg[256];
    ff_s3_xml_error(r->body, r->body ? r->body_len : 0, code, sizeof code, msg, sizeof msg);
    ff_store_fault_set(ff_s3_status_transient(r->status) ? FF_STORE_FAULT_UNAVAILABLE
                                                          : FF_STORE_FAULT_REMOTE);
    return ff_err_set(err, "S3 %s '%.200s' failed: HTTP %ld%s%.64s%s%.200s", what, key ? key : "",
                      r->status, code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
}

int ff_s3_status_transient(long status)
{
    return status >= 500 || status == 429;
}
