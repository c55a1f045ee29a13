/* FITSFLOW_* settings of the server: defaults and strict parsing of the environment. */
#include "server/config.h"
#include "server/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unistd.h>

#include "pipeline/pipeline.h"

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
    memset(c, 0, sizeof *c);
    strcpy(c->listen_host, "127.0.0.1");
    c->port = 8080;
    strcpy(c->data_dir, "fitsflow-data");
    c->session_limit_bytes = 170ull * 1024 * 1024;
    c->presign_ttl = 300;
    c->workers = 2;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->http_threads = n > 0 && n < 64 ? (unsigned)n : 2;
    c->rate_limit = 50;
    c->rate_burst = 200;
    c->max_connections = 1024;
    c->max_connections_per_ip = 128;
    c->upload_connections = 32;
    c->upload_buffer_kb = 1024;
    c->request_timeout = 30;
    c->header_timeout = 10;
    c->max_header_bytes = 16384;
    c->min_upload_rate = 1024;
    c->shutdown_timeout = 10;
    strcpy(c->clean_cron, "0 4 * * *");
    c->retention_hours = 24;
    c->session_max_files = 2000;
    c->store_timeout_ms = 5000;
    c->store_threads = 8;
    default_web_dir(c->web_dir, sizeof c->web_dir);
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

static int env_uint(const char *name, uint64_t min, uint64_t max, unsigned *out, ff_err *err)
{
    const char *v = getenv(name);
    uint64_t u;
    if (!v || !*v)
        return 0;
    if (ff_parse_u64(v, min, max, &u) != 0)
        return ff_err_set(err, "%s must be a whole number from %llu to %llu, not '%s'", name,
                          (unsigned long long)min, (unsigned long long)max, v);
    *out = (unsigned)u;
    return 0;
}

static int env_str(const char *name, char *dst, size_t cap, ff_err *err)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    if (strlen(v) >= cap)
        return ff_err_set(err, "%s is longer than %zu bytes", name, cap - 1);
    strcpy(dst, v);
    return 0;
}

int ff_server_config_from_env(ff_server_config *c, ff_err *err)
{
    const char *v;
    unsigned u;
    if ((v = getenv("FITSFLOW_LISTEN")) && *v && ff_server_config_set_listen(c, v, err) != 0)
        return ff_err_prefix(err, "FITSFLOW_LISTEN");
    if (env_str("FITSFLOW_DATA_DIR", c->data_dir, sizeof c->data_dir, err) ||
        env_str("FITSFLOW_PUBLIC_URL", c->public_url, sizeof c->public_url, err) ||
        env_str("FITSFLOW_CORS_ORIGINS", c->cors_origins, sizeof c->cors_origins, err) ||
        env_str("FITSFLOW_CLEAN_CRON", c->clean_cron, sizeof c->clean_cron, err) ||
        env_str("FITSFLOW_WEB_DIR", c->web_dir, sizeof c->web_dir, err))
        return -1;
    if ((v = getenv("FITSFLOW_SECRET")) && *v) {
        if (strlen(v) < 16)
            return ff_err_set(err, "FITSFLOW_SECRET must be at least 16 characters (use e.g. `openssl rand -hex 32`)");
        c->secret = v;
    }
    u = 0;
    if (env_uint("FITSFLOW_SESSION_LIMIT_MB", 1, 1u << 20, &u, err))
        return -1;
    if (u)
        c->session_limit_bytes = (uint64_t)u * 1024 * 1024;
    u = 0;
    if (env_uint("FITSFLOW_RATE_LIMIT", 0, 1000000, &u, err))
        return -1;
    if ((v = getenv("FITSFLOW_RATE_LIMIT")) && *v)
        c->rate_limit = u;
    if (env_uint("FITSFLOW_PRESIGN_TTL", 1, 7 * 24 * 3600, &c->presign_ttl, err) ||
        env_uint("FITSFLOW_WORKERS", 1, 64, &c->workers, err) ||
        env_uint("FITSFLOW_HTTP_THREADS", 1, 256, &c->http_threads, err) ||
        env_uint("FITSFLOW_RATE_BURST", 1, 1000000, &c->rate_burst, err) ||
        env_uint("FITSFLOW_MAX_CONNECTIONS", 1, 100000, &c->max_connections, err) ||
        env_uint("FITSFLOW_MAX_CONNECTIONS_PER_IP", 0, 100000, &c->max_connections_per_ip, err) ||
        env_uint("FITSFLOW_UPLOAD_CONNECTIONS", 0, 100000, &c->upload_connections, err) ||
        env_uint("FITSFLOW_UPLOAD_BUFFER_KB", 32, 65536, &c->upload_buffer_kb, err) ||
        env_uint("FITSFLOW_REQUEST_TIMEOUT", 1, 3600, &c->request_timeout, err) ||
        env_uint("FITSFLOW_HEADER_TIMEOUT", 1, 3600, &c->header_timeout, err) ||
        env_uint("FITSFLOW_MAX_HEADER_BYTES", 1024, 1 << 20, &c->max_header_bytes, err) ||
        env_uint("FITSFLOW_MIN_UPLOAD_RATE", 0, 1u << 30, &c->min_upload_rate, err) ||
        env_uint("FITSFLOW_SHUTDOWN_TIMEOUT", 0, 3600, &c->shutdown_timeout, err) ||
        env_uint("FITSFLOW_RETENTION_HOURS", 1, 24 * 365, &c->retention_hours, err) ||
        env_uint("FITSFLOW_SESSION_MAX_FILES", 1, 1000000, &c->session_max_files, err) ||
        env_uint("FITSFLOW_STORE_TIMEOUT_MS", 100, 600000, &c->store_timeout_ms, err) ||
        env_uint("FITSFLOW_STORE_THREADS", 1, 256, &c->store_threads, err))
        return -1;
    /* checked here so that a bad expression is a configuration error (exit 2), not a failed start */
    ff_cron cron;
    if (c->clean_cron[0] && ff_cron_parse(c->clean_cron, &cron, err) != 0)
        return ff_err_prefix(err, "FITSFLOW_CLEAN_CRON");
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
