/* The libmicrohttpd daemons: the request lifecycle (framing checked before a body byte is read,
 * bodies read or dropped, the route table run once the request is in: dispatch.c), the request
 * log, the listening socket, starting and stopping. Threading: front.c accepts connections and hands each to one of two daemons (uploads, the rest),
 * each a pool of epoll threads (FITSFLOW_HTTP_THREADS); static files go
 * out with sendfile; event streams suspend their connection while idle, so they hold no thread;
 * bodies made elsewhere (objects read from S3, the ZIP) come from a producer thread (pump.c) and
 * suspend their connection while it has nothing new. */
#include "server/http/httpd_impl.h"
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
#include "server/http/protocol.h"

static int method_bit(const char *m)
{
    static const char *names[] = {"GET", "HEAD", "PUT", "POST", "OPTIONS"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(m, names[i]))
            return 1 << i;
    return 0;
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
    return ff_req_send_error(r, status, "%s", why);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    ff_httpd *h = cls;
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
            return ff_httpd_dispatch(r);
        }
        if (fr.content_lengths && fr.length > FF_HTTP_MAX_SMALL_BODY)
            return refuse_early(r, 413, "request body larger than 65536 bytes");
        return MHD_YES;
    }
    if (r->offload)
        return ff_offload_finish(r);
    if (r->body_data) {
        r->bytes_in += *upload_data_size;
        return r->body_data(r, r->body_ctx, upload_data, upload_data_size);
    }
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
            return ff_req_send_error(r, 413, "request body larger than %d bytes", FF_HTTP_MAX_SMALL_BODY);
        return ff_httpd_dispatch(r);
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
    ff_httpd *h = cls;
    ff_req *r = *con_cls;
    ff_front_request_done(h->front, conn, r && r->early);
    if (!r)
        return;
    *con_cls = NULL;
    if (r->body_end)
        r->body_end(r, r->body_ctx);
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

int ff_httpd_listen(const ff_server_config *cfg, unsigned *port, ff_err *err)
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
static struct MHD_Daemon *start_daemon(ff_httpd *h, int upload, size_t pool)
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

ff_httpd *ff_httpd_start(const ff_httpd_deps *deps, int fd, ff_err *err)
{
    ff_httpd *h = calloc(1, sizeof *h);
    if (!h) {
        close(fd);
        ff_err_set(err, "out of memory");
        return NULL;
    }
    h->d = *deps;
    h->cfg = deps->cfg;
    const ff_server_config *cfg = h->cfg;
    if (cfg->rate_limit > 0 && !(h->rl = ff_ratelimit_new(cfg->rate_limit, cfg->rate_burst, 65536))) {
        ff_err_set(err, "out of memory");
        goto fail;
    }
    if (ff_cors_init(h, err) != 0 || ff_pump_hub_start(h, err) != 0 ||
        !(h->front = ff_front_new(cfg, err)))
        goto fail;
    h->mhd = start_daemon(h, 0, (size_t)cfg->max_header_bytes * 2 + 32 * 1024);
    if (h->mhd && cfg->upload_connections)
        h->mhd_upload = start_daemon(
            h, 1, (size_t)cfg->max_header_bytes * 2 + (size_t)cfg->upload_buffer_kb * 1024 * 2);
    if (!h->mhd || (cfg->upload_connections && !h->mhd_upload)) {
        ff_err_set(err, "cannot start the HTTP server on %s:%u", cfg->listen_host, cfg->port);
        goto fail;
    }
    if (ff_front_start(h->front, fd, h->mhd, h->mhd_upload, err) != 0)
        goto fail;
    return h;
fail:
    close(fd);
    ff_httpd_free(h);
    return NULL;
}

void ff_httpd_close(ff_httpd *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, 1);
    ff_front_stop(h->front);
}

void ff_httpd_drain(ff_httpd *h, unsigned timeout_s)
{
    double until = ff_clock_now() + timeout_s;
    while (h && atomic_load(&h->inflight) > 0 && ff_clock_now() < until)
        usleep(20 * 1000);
}

void ff_httpd_free(ff_httpd *h)
{
    if (!h)
        return;
    ff_pump_hub_stop(h);
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    if (h->mhd_upload)
        MHD_stop_daemon(h->mhd_upload);
    ff_front_free(h->front);
    ff_pump_hub_free(h);
    ff_cors_free(h);
    ff_ratelimit_free(h->rl);
    free(h);
}
