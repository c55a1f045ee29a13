/* The libmicrohttpd daemon: request lifecycle, routing, limits, JSON errors and the request log.
 * Threading: front.c accepts connections and hands each to one of two daemons (uploads, the rest),
 * each a pool of epoll threads (FITSFLOW_HTTP_THREADS); static files go
 * out with sendfile; event streams suspend their connection while idle, so they hold no thread;
 * bodies made elsewhere (objects read from S3, the ZIP) come from a producer thread (pump.c) and
 * suspend their connection while it has nothing new. */
#include "server/http_internal.h"
#include "base/clock.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/log.h"
#include "pipeline/session.h"

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

const char *ff_req_header(ff_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *ff_req_arg(ff_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

enum MHD_Result ff_http_send(ff_req *r, unsigned status, struct MHD_Response *resp)
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

enum MHD_Result ff_http_send_text(ff_req *r, unsigned status, const char *content_type,
                                  const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    atomic_store(&r->bytes_out, len);
    return ff_http_send(r, status, resp);
}

enum MHD_Result ff_http_send_json(ff_req *r, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    text[len] = '\0';
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    atomic_store(&r->bytes_out, len);
    return ff_http_send(r, status, resp);
}

enum MHD_Result ff_http_send_error(ff_req *r, unsigned status, const char *fmt, ...)
{
    char msg[FF_ERR_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ff_http_send_json(r, status, json_pack("{s:s}", "error", msg));
}

static int method_bit(const char *m)
{
    static const char *names[] = {"GET", "HEAD", "PUT", "POST", "OPTIONS"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(m, names[i]))
            return 1 << i;
    return 0;
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

/* Splits "/api/sessions/S[/rest]": copies S to sid and returns rest ("" when none), or NULL. */
static const char *session_path(const char *p, char *sid, size_t cap)
{
    const char *s = p + strlen("/api/sessions/");
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n >= cap)
        return NULL;
    memcpy(sid, s, n);
    sid[n] = '\0';
    return slash ? slash : "";
}

static enum MHD_Result dispatch(ff_req *r)
{
    ff_http *h = r->h;
    const char *p = r->path;
    char sid[80];
    const char *rest = NULL;

    /* Which route, and which methods it takes. */
    int allow = 0;
    enum { R_NONE, R_TRIGGER, R_SESSIONS, R_STATUS, R_EVENTS, R_ZIP, R_CONFIG, R_HEALTH, R_METRICS,
           R_OBJECT, R_INDEX, R_WEB, R_DAILY } route = R_NONE;
    r->route = "other";
    if (!strcmp(p, "/FitsFlow-2-Trigger")) {
        route = R_TRIGGER, allow = FF_M_GET, r->route = "trigger";
    } else if (!strcmp(p, "/api/sessions") || !strcmp(p, "/api/sessions/")) {
        route = R_SESSIONS, allow = FF_M_POST, r->route = "api";
    } else if (!strncmp(p, "/api/sessions/", 14)) {
        r->route = "api";
        rest = session_path(p, sid, sizeof sid);
        if (rest && !*rest)
            route = R_STATUS, allow = FF_M_GET;
        else if (rest && !strcmp(rest, "/events"))
            route = R_EVENTS, allow = FF_M_GET, r->route = "events";
        else if (rest && !strcmp(rest, "/archive.zip"))
            route = R_ZIP, allow = FF_M_GET, r->route = "archive";
    } else if (!strcmp(p, "/api/daily-video/latest")) {
        route = R_DAILY, allow = FF_M_GET, r->route = "api";
    } else if (!strcmp(p, "/api/config")) {
        route = R_CONFIG, allow = FF_M_GET, r->route = "api";
    } else if (!strcmp(p, "/healthz")) {
        route = R_HEALTH, allow = FF_M_GET | FF_M_HEAD, r->route = "health";
    } else if (!strcmp(p, "/metrics")) {
        route = R_METRICS, allow = FF_M_GET, r->route = "metrics";
    } else if (!strncmp(p, "/temp/", 6)) {
        route = R_OBJECT, allow = FF_M_GET | FF_M_HEAD | FF_M_PUT;
        r->route = r->method == FF_M_PUT ? "upload" : "static";
    } else if (!strncmp(p, "/daily_videos/", 14)) {
        route = R_OBJECT, allow = FF_M_GET | FF_M_HEAD, r->route = "static";
    } else if (!strcmp(p, "/api") || !strcmp(p, "/api/")) {
        route = R_INDEX, allow = FF_M_GET | FF_M_HEAD, r->route = "api";
    } else if (p[0] == '/' && strncmp(p, "/api/", 5) != 0) {
        route = R_WEB, allow = FF_M_GET | FF_M_HEAD, r->route = "web";
    }
    r->allow = allow ? allow | FF_M_OPTIONS : 0;

    /* Limits first: rate (not for health checks), then header size. */
    if (h->rl && route != R_HEALTH) {
        unsigned retry = 1;
        if (ff_ratelimit_take(h->rl, r->client, ff_clock_now(), &retry)) {
            struct MHD_Response *resp;
            char *body = NULL;
            if (asprintf(&body, "{\"error\":\"too many requests from your address; retry in %u s\"}", retry) < 0)
                return MHD_NO;
            resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
            if (!resp) {
                free(body);
                return MHD_NO;
            }
            char ra[16];
            snprintf(ra, sizeof ra, "%u", retry);
            MHD_add_response_header(resp, "Retry-After", ra);
            MHD_add_response_header(resp, "Content-Type", "application/json");
            r->route = "limited";
            return ff_http_send(r, 429, resp);
        }
    }
    hdr_sum hs = {strlen(r->path) + 16};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header_size, &hs);
    if (hs.bytes > h->cfg->max_header_bytes)
        return ff_http_send_error(r, 431, "request headers are %zu bytes, more than the %u allowed",
                                  hs.bytes, h->cfg->max_header_bytes);

    if (route == R_NONE)
        return ff_http_send_error(r, 404, "nothing at %s", r->method == FF_M_GET || r->method == FF_M_HEAD ? "this path" : "this path for any method");
    if (!r->method || !(r->allow & r->method))
        return ff_http_send_error(r, 405, "method %s is not allowed here", r->method_name);
    if (r->method == FF_M_OPTIONS)
        return ff_cors_preflight(r);

    if (rest && !ff_session_id_valid(sid))
        return ff_http_send_error(r, 400, "session id must be 8 to 64 characters of a-z, 0-9 and '-'");
    switch (route) {
    case R_TRIGGER:
        return ff_api_trigger(r);
    case R_SESSIONS:
        return ff_api_new_session(r);
    case R_STATUS:
        return ff_api_session_status(r, sid);
    case R_EVENTS:
        return ff_sse_events(r, sid);
    case R_ZIP:
        return ff_archive_zip(r, sid);
    case R_CONFIG:
        return ff_api_config(r);
    case R_HEALTH:
        return ff_api_healthz(r);
    case R_METRICS:
        return ff_api_metrics(r);
    case R_INDEX:
        return ff_api_index(r);
    case R_DAILY:
        return ff_api_daily_video_latest(r);
    case R_WEB:
        return ff_static_serve_web(r, p + 1);
    case R_OBJECT:
        if (r->method == FF_M_PUT)
            return ff_upload_begin(r, p + 1);
        return ff_static_serve(r, p + 1);
    default:
        return ff_http_send_error(r, 404, "nothing at this path");
    }
}

static enum MHD_Result framing_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    ff_http_framing_field(cls, key, strlen(key), value ? value : "", value ? strlen(value) : 0);
    return MHD_YES;
}

/* Answers at once and closes: the body, if any, is not read (the connection lingers instead). */
static enum MHD_Result refuse_early(ff_req *r, unsigned status, const char *why)
{
    r->dispatched = 1;
    r->close = 1;
    r->early = 1;
    ff_front_request_in(r->h->front, r->conn);
    return ff_http_send_error(r, status, "%s", why);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    ff_http *h = cls;
    ff_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        atomic_init(&r->refs, 1);
        r->h = h;
        r->conn = conn;
        r->t0 = ff_clock_now();
        r->status = 0;
        r->route = "other";
        snprintf(r->method_name, sizeof r->method_name, "%s", method);
        r->method = method_bit(method);
        r->path = strdup(url ? url : "/");
        if (!r->path) {
            free(r);
            return MHD_NO;
        }
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        ff_ratelimit_client_key(ci ? ci->client_addr : NULL, r->client, sizeof r->client);
        atomic_fetch_add(&h->inflight, 1);
        *con_cls = r;
        /* Framing as RFC 9112 wants it, before a byte of the body is read: libmicrohttpd 0.9.75
         * takes the first of two Content-Lengths, ignores "Content-Length :", prefers chunked
         * to a Content-Length and waits for an unknown coding to end (the front door checks a
         * connection's first request on its raw bytes; this checks every request). */
        ff_http_framing fr = {0};
        fr.http11 = version && !strcmp(version, MHD_HTTP_VERSION_1_1);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_field, &fr);
        const char *why = NULL;
        unsigned bad = ff_http_framing_verdict(&fr, &why);
        if (bad)
            return refuse_early(r, bad, why);
        /* An upload is judged before its body is read (so that 403 and 413 cost no transfer and
         * Expect: 100-continue is honoured); everything else is answered once the request is in,
         * because answering earlier makes libmicrohttpd close the connection (no keep-alive),
         * unless its declared body is too large anyway. */
        if (r->method == FF_M_PUT) {
            r->dispatched = 1;
            ff_front_request_in(h->front, conn);
            return dispatch(r);
        }
        if (fr.content_lengths && fr.length > FF_HTTP_MAX_SMALL_BODY)
            return refuse_early(r, 413, "request body larger than 65536 bytes");
        return MHD_YES;
    }
    if (r->offload)
        return ff_offload_finish(r);
    if (r->upload)
        return ff_upload_data(r, upload_data, upload_data_size);
    if (*upload_data_size) {
        /* Only uploads have bodies worth reading; others are read and dropped, and answered with
         * 413 past a small limit (once the body is in, so that the client reads the answer). */
        r->bytes_in += *upload_data_size;
        *upload_data_size = 0;
        if (r->bytes_in > FF_HTTP_DRAIN_MAX)
            return MHD_NO;
        return MHD_YES;
    }
    if (!r->dispatched) {
        r->dispatched = 1;
        ff_front_request_in(h->front, conn);
        if (r->bytes_in > FF_HTTP_MAX_SMALL_BODY)
            return ff_http_send_error(r, 413, "request body larger than %d bytes", FF_HTTP_MAX_SMALL_BODY);
        return dispatch(r);
    }
    return MHD_YES;
}

static void json_str(char *dst, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
}

static void access_log(const ff_req *r, int status, uint64_t out, double ms, int completed)
{
    /* The date part changes once a second: formatted once a second per thread, not per line. */
    static _Thread_local time_t last_sec = -1;
    static _Thread_local char sec_text[32];
    char path[512], line[1024], method[40];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != last_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        if (!strftime(sec_text, sizeof sec_text, "%Y-%m-%dT%H:%M:%S", &tm))
            sec_text[0] = '\0';
        last_sec = tv.tv_sec;
    }
    json_str(path, sizeof path, r->path);
    json_str(method, sizeof method, r->method_name);
    int len = snprintf(line, sizeof line,
                       "{\"time\":\"%s.%03ldZ\",\"level\":\"info\",\"message\":\"request\",\"method\":\"%s\","
                       "\"path\":\"%s\",\"status\":%d,\"bytes\":%llu,\"bytes_in\":%llu,\"ms\":%.1f,"
                       "\"client\":\"%s\"%s}\n",
                       sec_text, (long)(tv.tv_usec / 1000), method, path, status, (unsigned long long)out,
                       (unsigned long long)r->bytes_in, ms, r->client, completed ? "" : ",\"aborted\":true");
    if (len > 0 && (size_t)len < sizeof line) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)len);
        (void)w;
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    ff_http *h = cls;
    ff_req *r = *con_cls;
    ff_front_request_done(h->front, conn, r && r->early);
    if (!r)
        return;
    *con_cls = NULL;
    if (r->upload)
        ff_upload_end(r);
    if (r->offload)
        ff_offload_end(r);
    double ms = (ff_clock_now() - r->t0) * 1000.0;
    int status = r->status;
    if (code != MHD_REQUEST_TERMINATED_COMPLETED_OK && status < 400)
        status = status ? status : 499; /* cut short before an answer */
    uint64_t out = atomic_load(&r->bytes_out);
    if (h->d.metrics) {
        ff_metrics_request(h->d.metrics, r->route, status);
        ff_metrics_bytes(h->d.metrics, r->bytes_in, out);
    }
    /* One JSON line per request on stderr: the access log, at level info. */
    if (ff_log_enabled(FF_LOG_INFO))
        access_log(r, status, out, ms, code == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    atomic_fetch_sub(&h->inflight, 1);
    ff_req_unref(r);
}

/* Percent-decoding of paths and arguments (ff_http_unescape). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return ff_http_unescape(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    ff_log(FF_LOG_DEBUG, NULL, NULL, "libmicrohttpd: %s", msg);
}

/* The listening socket, made here rather than by MHD so that the bound port is known before the
 * first request (public_url and the default CORS origin name it). */
static int listen_socket(const ff_server_config *cfg, unsigned *port, ff_err *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    socklen_t sl;
    const char *host = !strcmp(cfg->listen_host, "localhost") ? "127.0.0.1" : cfg->listen_host;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->port);
        sl = sizeof *in4;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->port);
        sl = sizeof *in6;
    } else {
        return ff_err_set(err, "listen host '%s' is not an IPv4 or IPv6 address", cfg->listen_host);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return ff_err_set(err, "cannot make a socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return ff_err_set(err, "cannot listen on %s:%u: %s", cfg->listen_host, cfg->port, strerror(e));
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? in6->sin6_port : in4->sin_port);
    return fd;
}

/* One libmicrohttpd daemon without a listening socket of its own: front.c hands it connections.
 * pool = the connection's memory pool, which holds the request headers and the read buffer for
 * bodies (a little under half of it). libmicrohttpd zeroes the whole pool before every request
 * on a kept-alive connection (bench/serve, 2 cores: a 256 KiB pool cost each presign ~15 us and
 * each 1 MiB GET ~40 us more CPU), so the main daemon's pool is just large enough for our header
 * limit; the upload daemon's is large, because reading a 100 MB body 32 KiB at a time costs an
 * epoll_wait and a recv per piece (a 1 MiB read buffer: 0.5x -> 0.8x of dd's speed). */
static struct MHD_Daemon *start_daemon(ff_http *h, int upload, size_t pool)
{
    const ff_server_config *cfg = h->cfg;
    /* Not MHD_USE_TURBO: it skips shutdown() before close, and refused requests then reach the
     * client as a reset instead of our JSON answer; its gain on 1 MB files was within the noise. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    /* front.c keeps the connection limits across both daemons and hands a daemon at most twice
     * FITSFLOW_MAX_CONNECTIONS at once (those admitted, and as many shut down on their way out).
     * libmicrohttpd's own limit must never be reached: 0.9.75 splits it over the worker threads,
     * and a worker at its share deadlocks on its own mutex (new_connection_process_). Each
     * worker's share is therefore more than the front ever hands out, and there is no per-address
     * limit here. */
    unsigned int limit = ((unsigned int)cfg->max_connections * 2 + 64) * (unsigned int)cfg->http_threads;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->http_threads,
        MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->request_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, ff_front_notify, ff_front_notify_cls(h->front, upload),
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, h,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_END);
}

ff_http *ff_http_start(const ff_http_deps *deps, ff_err *err)
{
    ff_http *h = calloc(1, sizeof *h);
    if (!h) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    h->d = *deps;
    h->cfgv = *deps->cfg;
    h->cfg = &h->cfgv;
    int fd = listen_socket(h->cfg, &h->port, err);
    if (fd < 0) {
        free(h);
        return NULL;
    }
    ff_server_config_finish(&h->cfgv, h->port);
    const ff_server_config *cfg = h->cfg;
    if (cfg->rate_limit > 0) {
        h->rl = ff_ratelimit_new(cfg->rate_limit, cfg->rate_burst, 65536);
        if (!h->rl) {
            ff_err_set(err, "out of memory");
            goto fail;
        }
    }
    if (ff_cors_init(h, err) != 0)
        goto fail;
    h->uploads = ff_upload_table_new();
    if (!h->uploads) {
        ff_err_set(err, "out of memory");
        goto fail;
    }
    h->sessions = ff_session_cache_new();
    if (!h->sessions) {
        ff_err_set(err, "out of memory");
        goto fail;
    }
    if (ff_offload_start(h, err) != 0 || ff_store_probe_start(h, err) != 0 ||
        ff_sse_start(h, err) != 0 || ff_pump_hub_start(h, err) != 0)
        goto fail;

    h->front = ff_front_new(cfg, err);
    if (!h->front)
        goto fail;
    h->mhd = start_daemon(h, 0, (size_t)cfg->max_header_bytes * 2 + 32 * 1024);
    if (h->mhd && cfg->upload_connections)
        h->mhd_upload = start_daemon(
            h, 1, (size_t)cfg->max_header_bytes * 2 + (size_t)cfg->upload_buffer_kb * 1024 * 2);
    if (!h->mhd || (cfg->upload_connections && !h->mhd_upload)) {
        ff_err_set(err, "cannot start the HTTP server on %s:%u", cfg->listen_host, h->port);
        goto fail;
    }
    if (ff_front_start(h->front, fd, h->mhd, h->mhd_upload, err) != 0)
        goto fail;
    return h;
fail:
    close(fd);
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    if (h->mhd_upload)
        MHD_stop_daemon(h->mhd_upload);
    ff_front_free(h->front);
    ff_sse_free(h);
    ff_store_probe_stop(h);
    ff_offload_free(h);
    ff_pump_hub_free(h);
    ff_session_cache_free(h->sessions);
    ff_upload_table_free(h->uploads);
    ff_cors_free(h);
    ff_ratelimit_free(h->rl);
    free(h);
    return NULL;
}

const char *ff_http_public_url(const ff_http *h)
{
    return h->cfg->public_url;
}

unsigned ff_http_port(const ff_http *h)
{
    return h->port;
}

void ff_http_stop(ff_http *h, unsigned timeout_s)
{
    if (!h)
        return;
    atomic_store(&h->stopping, 1);
    ff_front_stop(h->front);
    ff_sse_stop(h);
    double until = ff_clock_now() + timeout_s;
    while (atomic_load(&h->inflight) > 0 && ff_clock_now() < until)
        usleep(20 * 1000);
    ff_store_probe_stop(h);
    ff_offload_stop(h); /* queued store work is answered 503; running work ends by its deadline */
    ff_pump_hub_stop(h);
    MHD_stop_daemon(h->mhd);
    if (h->mhd_upload)
        MHD_stop_daemon(h->mhd_upload);
    ff_front_free(h->front);
    ff_sse_free(h);
    ff_offload_free(h);
    ff_pump_hub_free(h);
    ff_session_cache_free(h->sessions);
    ff_upload_table_free(h->uploads);
    ff_cors_free(h);
    ff_ratelimit_free(h->rl);
    free(h);
}
