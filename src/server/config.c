/* The server's settings (base/settings.h's serve rows) as an ff_server_config. */
#include "server/config.h"
#include "server/jobs/cron.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/number.h"
#include "base/settings.h"

/* The browser client: the source tree's web/ when this binary was built from one that still
 * exists, else web/ next to the folder holding the binary (an installed layout). */
static void default_web_dir(char *out, size_t cap)
{
    struct stat st;
#ifdef FF_WEB_DIR
    if (stat(FF_WEB_DIR "/index.html", &st) == 0) {
        snprintf(out, cap, "%s", FF_WEB_DIR);
        return;
    }
#endif
    char exe[900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, cap, "%s/../web", exe);
            if (stat(out, &st) == 0)
                return;
        }
    }
    out[0] = '\0';
}

void ff_server_config_defaults(ff_server_config *c)
{
    ff_settings s;
    ff_settings_defaults(&s);
    ff_server_config_from_settings(c, &s, NULL);
}

static unsigned u(const ff_settings *s, ff_setting_id id)
{
    return (unsigned)ff_settings_uint(s, id);
}

/* The limits and timeouts of the HTTP side and the job side. */
static void numbers_from_settings(ff_server_config *c, const ff_settings *s)
{
    c->session_limit_bytes = ff_settings_uint(s, FF_SET_SESSION_LIMIT_MB) << 20;
    c->presign_ttl = u(s, FF_SET_PRESIGN_TTL);
    c->workers = u(s, FF_SET_WORKERS);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->http_threads = ff_settings_given(s, FF_SET_HTTP_THREADS) ? u(s, FF_SET_HTTP_THREADS)
                      : n > 0 && n < 64                          ? (unsigned)n
                                                                 : 2;
    c->rate_limit = u(s, FF_SET_RATE_LIMIT);
    c->rate_burst = u(s, FF_SET_RATE_BURST);
    c->max_connections = u(s, FF_SET_MAX_CONNECTIONS);
    c->max_connections_per_ip = u(s, FF_SET_MAX_CONNECTIONS_PER_IP);
    c->upload_connections = u(s, FF_SET_UPLOAD_CONNECTIONS);
    c->upload_buffer_kb = u(s, FF_SET_UPLOAD_BUFFER_KB);
    c->request_timeout = u(s, FF_SET_REQUEST_TIMEOUT);
    c->header_timeout = u(s, FF_SET_HEADER_TIMEOUT);
    c->max_header_bytes = u(s, FF_SET_MAX_HEADER_BYTES);
    c->min_upload_rate = u(s, FF_SET_MIN_UPLOAD_RATE);
    c->shutdown_timeout = u(s, FF_SET_SHUTDOWN_TIMEOUT);
    c->retention_hours = u(s, FF_SET_RETENTION_HOURS);
    c->session_max_files = u(s, FF_SET_SESSION_MAX_FILES);
    c->store_timeout_ms = u(s, FF_SET_STORE_TIMEOUT_MS);
    c->store_threads = u(s, FF_SET_STORE_THREADS);
    c->retry.attempts = (int64_t)ff_settings_uint(s, FF_SET_JOB_ATTEMPTS);
    c->retry.backoff_ms = (int64_t)ff_settings_uint(s, FF_SET_JOB_BACKOFF_MS);
    c->retry.backoff_max_ms = (int64_t)ff_settings_uint(s, FF_SET_JOB_BACKOFF_MAX_MS);
    if (c->retry.backoff_max_ms < c->retry.backoff_ms)
        c->retry.backoff_max_ms = c->retry.backoff_ms;
}

int ff_server_config_from_settings(ff_server_config *c, const ff_settings *s, ff_err *err)
{
    memset(c, 0, sizeof *c);
    numbers_from_settings(c, s);
    if (ff_server_config_set_listen(c, ff_settings_text(s, FF_SET_LISTEN), err) != 0)
        return ff_err_prefix(err, "FITSFLOW_LISTEN");
    ff_settings_copy(s, FF_SET_DATA_DIR, c->data_dir, sizeof c->data_dir);
    ff_settings_copy(s, FF_SET_PUBLIC_URL, c->public_url, sizeof c->public_url);
    ff_settings_copy(s, FF_SET_CORS_ORIGINS, c->cors_origins, sizeof c->cors_origins);
    ff_settings_copy(s, FF_SET_CLEAN_CRON, c->clean_cron, sizeof c->clean_cron);
    c->secret = ff_settings_text(s, FF_SET_SECRET);
    if (ff_settings_given(s, FF_SET_WEB_DIR))
        ff_settings_copy(s, FF_SET_WEB_DIR, c->web_dir, sizeof c->web_dir);
    else
        default_web_dir(c->web_dir, sizeof c->web_dir);
    /* checked here so that a bad expression is a configuration error (exit 2), not a failed start */
    ff_cron cron;
    if (ff_cron_parse(c->clean_cron, &cron, err) != 0)
        return ff_err_prefix(err, "FITSFLOW_CLEAN_CRON");
    return 0;
}

int ff_server_config_set_listen(ff_server_config *c, const char *s, ff_err *err)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return ff_err_set(err, "listen address '%s' needs a port, e.g. 127.0.0.1:8080", s);
    size_t hl = (size_t)(colon - s);
    const char *host = s;
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        host++;
        hl -= 2;
    }
    if (hl >= sizeof c->listen_host)
        return ff_err_set(err, "listen host in '%s' is too long", s);
    uint64_t port;
    if (ff_parse_u64(colon + 1, 0, 65535, &port) != 0)
        return ff_err_set(err, "listen port in '%s' must be a number from 0 to 65535", s);
    if (hl == 0) {
        strcpy(c->listen_host, "0.0.0.0");
    } else {
        memcpy(c->listen_host, host, hl);
        c->listen_host[hl] = '\0';
    }
    c->port = (unsigned)port;
    return 0;
}

void ff_server_config_finish(ff_server_config *c, unsigned bound_port)
{
    if (bound_port)
        c->port = bound_port;
    if (c->public_url[0]) {
        size_t n = strlen(c->public_url);
        while (n && c->public_url[n - 1] == '/')
            c->public_url[--n] = '\0';
        return;
    }
    const char *host = c->listen_host;
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
        host = "127.0.0.1";
    if (strchr(host, ':'))
        snprintf(c->public_url, sizeof c->public_url, "http://[%s]:%u", host, c->port);
    else
        snprintf(c->public_url, sizeof c->public_url, "http://%s:%u", host, c->port);
}
