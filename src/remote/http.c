/* HTTP for the remote services through libcurl: one share per session (connections, DNS and TLS
 * sessions reused by every request and thread), connect and total timeouts, a size cap per
 * answer, and retries with exponential backoff and jitter after timeouts and 5xx answers only. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/clock.h"
#include "remote/remote_impl.h"
#include "base/cabundle.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
    (void)h;
    (void)access;
    ff_remote *r = ctx;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&r->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
    (void)h;
    ff_remote *r = ctx;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&r->share_locks[data]);
}

ff_remote *ff_remote_open(const ff_remote_config *cfg, ff_err *err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        ff_err_set(err, "libcurl could not start: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    ff_remote *r = calloc(1, sizeof *r);
    if (!r) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    snprintf(r->user_agent, sizeof r->user_agent, "FitsFlow/%s", FF_VERSION);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&r->share_locks[i], NULL);
    pthread_mutex_init(&r->cache_lock, NULL);
    pthread_mutex_init(&r->seed_lock, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->seed = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    if (cfg->reuse_connections) {
        r->share = curl_share_init();
        if (!r->share) {
            ff_remote_close(r);
            ff_err_set(err, "libcurl could not create a connection share");
            return NULL;
        }
        curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    return r;
}

void ff_remote_close(ff_remote *r)
{
    if (!r)
        return;
    if (r->share)
        curl_share_cleanup(r->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&r->share_locks[i]);
    for (int i = 0; i < FF_LISTING_CACHE; i++)
        free(r->cache[i].html);
    pthread_mutex_destroy(&r->cache_lock);
    pthread_mutex_destroy(&r->seed_lock);
    free(r);
}

const ff_remote_config *ff_remote_get_config(const ff_remote *r)
{
    return &r->cfg;
}

static uint64_t next_random(uint64_t *s)
{
    /* splitmix64: good enough to spread retries; not for secrets. */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

long ff_remote_backoff_ms(int base_ms, int max_ms, int attempt, uint64_t *seed)
{
    if (base_ms <= 0)
        return 0;
    if (max_ms < base_ms)
        max_ms = base_ms;
    long d = base_ms;
    for (int i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    long half = d / 2;
    return half + (long)(next_random(seed) % (uint64_t)(d - half + 1));
}

typedef struct body_ctx {
    FILE *file;
    unsigned char *buf;
    size_t len, cap;
    uint64_t max;
    int too_big, oom, write_failed;
} body_ctx;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    body_ctx *b = ctx;
    size_t n = size * nmemb;
    if ((uint64_t)b->len + n > b->max) {
        b->too_big = 1;
        return 0;
    }
    if (b->file) {
        if (fwrite(data, 1, n, b->file) != n) {
            b->write_failed = 1;
            return 0;
        }
        b->len += n;
        return n;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1)
            cap *= 2;
        unsigned char *p = realloc(b->buf, cap);
        if (!p) {
            b->oom = 1;
            return 0;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

static void host_of(const char *url, char *host, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    if (n >= size)
        n = size - 1;
    memcpy(host, p, n);
    host[n] = '\0';
}

void ff_http_response_free(ff_http_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

/* One attempt's options on a reset handle. */
static void set_options(ff_remote *r, CURL *h, const char *url, uint64_t max_bytes, body_ctx *b,
                        char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, r->user_agent);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(r->cfg.connect_timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(r->cfg.timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    /* The system's CA bundle wherever it lives (Debian, Amazon Linux, SSL_CERT_FILE): a libcurl
     * built elsewhere, as in the Lambda zip, only knows its build system's path. */
    const char *ca = ff_ca_bundle();
    if (ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    if (r->share)
        curl_easy_setopt(h, CURLOPT_SHARE, r->share);
    else
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
}

/* Why a finished attempt failed (err), and 1 when trying again may help (a timeout, HTTP 5xx). */
static int attempt_failed(ff_remote *r, const char *host, CURLcode cc, long status, const body_ctx *b,
                          const char *errbuf, uint64_t max_bytes, int attempt, ff_err *err)
{
    if (b->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        ff_err_set(err, "%s: answer larger than the %llu-byte limit (FITSFLOW_HTTP_MAX_BYTES)", host,
                   (unsigned long long)max_bytes);
    else if (b->oom)
        ff_err_set(err, "%s: out of memory receiving the answer", host);
    else if (b->write_failed)
        ff_err_set(err, "%s: cannot write the download: %s", host, strerror(errno));
    else if (cc == CURLE_PARTIAL_FILE)
        ff_err_set(err, "%s: answer cut short after %zu bytes", host, b->len);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        ff_err_set(err, "%s: timed out after %g s (attempt %d)", host, r->cfg.timeout_s, attempt + 1);
    else if (cc != CURLE_OK)
        ff_err_set(err, "%s: %s", host, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    else
        ff_err_set(err, "%s answered HTTP %ld", host, status);
    int cause_known = b->too_big || cc == CURLE_FILESIZE_EXCEEDED || b->oom || b->write_failed;
    return !cause_known && (cc == CURLE_OPERATION_TIMEDOUT ||
                            (cc == CURLE_OK && status >= 500 && status <= 599));
}

/* Waits before the retry that follows `attempt`, with the session's backoff and jitter. */
static void backoff(ff_remote *r, const char *url, int attempt, const ff_err *err)
{
    pthread_mutex_lock(&r->seed_lock);
    long ms = ff_remote_backoff_ms(r->cfg.backoff_ms, r->cfg.backoff_max_ms, attempt, &r->seed);
    pthread_mutex_unlock(&r->seed_lock);
    ff_log(FF_LOG_INFO, NULL, NULL, "retrying %s in %ld ms: %s", url, ms, err ? err->msg : "");
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int ff_remote_http_get(ff_remote *r, const char *url, uint64_t max_bytes, FILE *to_file,
                       ff_http_response *resp, ff_err *err)
{
    memset(resp, 0, sizeof *resp);
    if (r->cfg.offline)
        return ff_err_set(err, "offline (FITSFLOW_OFFLINE=1): %s not requested", url);
    if (!max_bytes)
        max_bytes = r->cfg.max_bytes;
    char host[128];
    host_of(url, host, sizeof host);
    CURL *h = curl_easy_init();
    if (!h)
        return ff_err_set(err, "libcurl could not create a request");
    char errbuf[CURL_ERROR_SIZE];
    int rc = -1;
    for (int attempt = 0;; attempt++) {
        body_ctx b = {.file = to_file, .max = max_bytes};
        if (to_file) {
            rewind(to_file);
            if (ftruncate(fileno(to_file), 0) != 0) {
                ff_err_set(err, "cannot reuse the download file: %s", strerror(errno));
                break;
            }
        }
        curl_easy_reset(h);
        errbuf[0] = '\0';
        set_options(r, h, url, max_bytes, &b, errbuf);
        CURLcode cc = curl_easy_perform(h);
        resp->attempts = attempt + 1;
        resp->status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        char *ct = NULL;
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(resp->content_type, sizeof resp->content_type, "%s", ct ? ct : "");
        resp->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        if (cc == CURLE_OK && resp->status >= 200 && resp->status < 300) {
            resp->body = b.buf;
            resp->len = b.len;
            if (!resp->body && !to_file && !(resp->body = calloc(1, 1))) {
                ff_err_set(err, "out of memory");
                break;
            }
            rc = 0;
            break;
        }
        free(b.buf);
        resp->len = b.len;
        int retry = attempt_failed(r, host, cc, resp->status, &b, errbuf, max_bytes, attempt, err);
        if (!retry || attempt >= r->cfg.retries) {
            if (attempt > 0)
                ff_err_prefix(err, "after %d attempts", attempt + 1);
            break;
        }
        backoff(r, url, attempt, err);
    }
    curl_easy_cleanup(h);
    return rc;
}

int ff_remote_get_listing(ff_remote *r, const char *url, char **html, size_t *len, int *requests,
                          ff_err *err)
{
    double now = ff_clock_now();
    int cache = r->cfg.reuse_connections;
    pthread_mutex_lock(&r->cache_lock);
    for (int i = 0; i < FF_LISTING_CACHE; i++) {
        listing_entry *e = &r->cache[i];
        if (cache && e->html && now - e->fetched_at < FF_LISTING_TTL_S && !strcmp(e->url, url)) {
            char *copy = malloc(e->len + 1);
            if (copy) {
                memcpy(copy, e->html, e->len + 1);
                *html = copy;
                *len = e->len;
            }
            pthread_mutex_unlock(&r->cache_lock);
            return copy ? 0 : ff_err_set(err, "out of memory");
        }
    }
    pthread_mutex_unlock(&r->cache_lock);
    ff_http_response resp;
    int rc = ff_remote_http_get(r, url, 0, NULL, &resp, err);
    *requests += resp.attempts;
    if (rc != 0) {
        ff_http_response_free(&resp);
        return -1;
    }
    *html = (char *)resp.body;
    *len = resp.len;
    if (cache && strlen(url) < sizeof r->cache[0].url) {
        char *copy = malloc(resp.len + 1);
        if (copy) {
            memcpy(copy, resp.body, resp.len + 1);
            pthread_mutex_lock(&r->cache_lock);
            listing_entry *e = &r->cache[r->cache_next++ % FF_LISTING_CACHE];
            free(e->html);
            snprintf(e->url, sizeof e->url, "%s", url);
            e->html = copy;
            e->len = resp.len;
            e->fetched_at = now;
            pthread_mutex_unlock(&r->cache_lock);
        }
    }
    return 0;
}

int ff_remote_result_msg(ff_remote_result *res, int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    /* The message is a step's log line: a service's text quoted in it (an error string, JSON
     * that did not parse) must not break it, so control characters become spaces. */
    for (char *c = res->message; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    res->ok = ok;
    return ok ? 0 : -1;
}

void ff_remote_iso(double t, char buf[32])
{
    time_t s = (time_t)(t + 0.5);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ff_remote_obs_time(const ff_obsmeta *meta, double *t)
{
    if (!meta->has_time)
        return -1;
    *t = (double)ff_time_unix(&meta->time) + meta->time.nanos / 1e9;
    return 0;
}

void ff_remote_result_free(ff_remote_result *res)
{
    free(res->data);
    res->data = NULL;
    res->len = 0;
}
