/* Settings of `fitsflow serve` in one struct, filled from the loaded settings (base/settings.h,
 * where the names, ranges and defaults are); cmd_serve then lets command-line flags override it. */
#ifndef FF_SERVER_CONFIG_H
#define FF_SERVER_CONFIG_H

#include <stdint.h>

#include "base/err.h"

struct ff_settings;

/* Retries of a session whose processing failed for a transient reason (the store unreachable,
 * a timeout, HTTP 5xx): at most `attempts` attempts in all, the n-th retry after
 * backoff_ms * 2^(n-1), capped at backoff_max_ms, taken at random in [d/2, d]. */
typedef struct ff_job_retry {
    int64_t attempts;       /* FITSFLOW_JOB_ATTEMPTS (8) */
    int64_t backoff_ms;     /* FITSFLOW_JOB_BACKOFF_MS (30000) */
    int64_t backoff_max_ms; /* FITSFLOW_JOB_BACKOFF_MAX_MS (600000) */
} ff_job_retry;

typedef struct ff_server_config {
    char listen_host[128];        /* FITSFLOW_LISTEN host part (127.0.0.1) */
    unsigned port;                /* FITSFLOW_LISTEN port (8080); 0 = any free port */
    char data_dir[1024];          /* FITSFLOW_DATA_DIR (./fitsflow-data) */
    char public_url[512];         /* FITSFLOW_PUBLIC_URL (http://LISTEN); no trailing slash */
    char cors_origins[2048];      /* FITSFLOW_CORS_ORIGINS, comma-separated; "" = the default set */
    const char *secret;           /* FITSFLOW_SECRET; NULL = generated once in the data dir */
    uint64_t session_limit_bytes; /* FITSFLOW_SESSION_LIMIT_MB (170) in bytes */
    unsigned presign_ttl;         /* FITSFLOW_PRESIGN_TTL seconds (300) */
    unsigned workers;             /* FITSFLOW_WORKERS sessions processed at once (2) */
    unsigned http_threads;        /* FITSFLOW_HTTP_THREADS (number of cores) */
    double rate_limit;            /* FITSFLOW_RATE_LIMIT requests/s per client (50); 0 = off */
    unsigned rate_burst;          /* FITSFLOW_RATE_BURST (200) */
    unsigned max_connections;     /* FITSFLOW_MAX_CONNECTIONS (1024) */
    unsigned max_connections_per_ip; /* FITSFLOW_MAX_CONNECTIONS_PER_IP (128) */
    unsigned upload_connections;  /* FITSFLOW_UPLOAD_CONNECTIONS (32): uploads at once with the
                                     large read buffer; 0 = none */
    unsigned upload_buffer_kb;    /* FITSFLOW_UPLOAD_BUFFER_KB (1024): their read buffer */
    unsigned request_timeout;     /* FITSFLOW_REQUEST_TIMEOUT idle seconds before a drop (30) */
    unsigned header_timeout;      /* FITSFLOW_HEADER_TIMEOUT seconds for a whole request header,
                                     from accept or from the previous request's end (10) */
    unsigned max_header_bytes;    /* FITSFLOW_MAX_HEADER_BYTES (16384) */
    unsigned min_upload_rate;     /* FITSFLOW_MIN_UPLOAD_RATE bytes/s after 10 s of upload (1024) */
    unsigned shutdown_timeout;    /* FITSFLOW_SHUTDOWN_TIMEOUT seconds in-flight requests get (10) */
    char clean_cron[128];         /* FITSFLOW_CLEAN_CRON ("0 4 * * *", UTC) */
    unsigned retention_hours;     /* FITSFLOW_RETENTION_HOURS (24) */
    unsigned session_max_files;   /* FITSFLOW_SESSION_MAX_FILES uploads per session (2000) */
    unsigned store_timeout_ms;    /* FITSFLOW_STORE_TIMEOUT_MS: a request's store calls end within
                                     this long of its arrival (5000) */
    unsigned store_threads;       /* FITSFLOW_STORE_THREADS doing store work for requests (8) */
    char web_dir[1024];           /* FITSFLOW_WEB_DIR: the browser client served at / (the source
                                     tree's web/, else web/ beside the binary's folder) */
    ff_job_retry retry;           /* FITSFLOW_JOB_* */
} ff_server_config;

/* From loaded settings: -1 naming the variable when FITSFLOW_LISTEN or FITSFLOW_CLEAN_CRON does
 * not parse. The defaults: the same from the settings' defaults. */
int ff_server_config_from_settings(ff_server_config *c, const struct ff_settings *s, ff_err *err);
void ff_server_config_defaults(ff_server_config *c);

/* Parses "host:port", "[v6]:port" or ":port" into c->listen_host / c->port. */
int ff_server_config_set_listen(ff_server_config *c, const char *s, ff_err *err);

/* Fills public_url from the listen address when it is empty (port = the bound port). */
void ff_server_config_finish(ff_server_config *c, unsigned bound_port);

#endif
