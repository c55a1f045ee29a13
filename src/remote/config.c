/* The remote services' settings: defaults and the FITSFLOW_* environment variables. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "remote/remote.h"

void ff_remote_config_defaults(ff_remote_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->helioviewer_url, sizeof cfg->helioviewer_url, "https://api.helioviewer.org");
    snprintf(cfg->jsoc_url, sizeof cfg->jsoc_url, "https://jsoc1.stanford.edu");
    snprintf(cfg->sdo_url, sizeof cfg->sdo_url, "https://sdo.gsfc.nasa.gov");
    cfg->timeout_s = 30;
    cfg->connect_timeout_s = 10;
    cfg->retries = 2;
    cfg->max_bytes = (uint64_t)64 << 20;
    cfg->video_max_bytes = (uint64_t)1 << 30;
    cfg->backoff_ms = 500;
    cfg->backoff_max_ms = 8000;
    cfg->hek_window_minutes = 15;
    cfg->max_offset_minutes = 60;
    cfg->reuse_connections = 1;
}

static int env_seconds(const char *name, double min, double max, double *out, ff_err *err)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !isfinite(d) || d < min || d > max)
        return ff_err_set(err, "%s must be a number of seconds from %g to %g, not '%s'", name, min,
                          max, v);
    *out = d;
    return 0;
}

static int env_uint(const char *name, unsigned long long min, unsigned long long max,
                    unsigned long long *out, ff_err *err)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 1;
    const char *p = v;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            break;
    errno = 0;
    unsigned long long u = strtoull(v, NULL, 10);
    if (*p || errno || u < min || u > max)
        return ff_err_set(err, "%s must be a whole number from %llu to %llu, not '%s'", name, min,
                          max, v);
    *out = u;
    return 0;
}

static int env_url(const char *name, char *dst, size_t size, ff_err *err)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    if (n == 0 || n >= size || (strncasecmp(v, "http://", 7) && strncasecmp(v, "https://", 8)))
        return ff_err_set(err, "%s must be an http:// or https:// URL of at most %zu bytes, not '%s'",
                          name, size - 1, v);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= ' ' || v[i] == '?' || v[i] == '#')
            return ff_err_set(err, "%s must be a base URL without spaces, query or fragment, not '%s'",
                              name, v);
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

int ff_remote_config_from_env(ff_remote_config *cfg, ff_err *err)
{
    unsigned long long u;
    int rc;
    if (env_url("FITSFLOW_HELIOVIEWER_URL", cfg->helioviewer_url, sizeof cfg->helioviewer_url, err) ||
        env_url("FITSFLOW_JSOC_URL", cfg->jsoc_url, sizeof cfg->jsoc_url, err) ||
        env_url("FITSFLOW_SDO_URL", cfg->sdo_url, sizeof cfg->sdo_url, err))
        return -1;
    if (env_seconds("FITSFLOW_HTTP_TIMEOUT", 0.1, 3600, &cfg->timeout_s, err) ||
        env_seconds("FITSFLOW_HTTP_CONNECT_TIMEOUT", 0.1, 600, &cfg->connect_timeout_s, err))
        return -1;
    if ((rc = env_uint("FITSFLOW_HTTP_RETRIES", 0, 10, &u, err)) < 0)
        return -1;
    if (rc == 0)
        cfg->retries = (int)u;
    if ((rc = env_uint("FITSFLOW_HTTP_MAX_BYTES", 1024, (unsigned long long)1 << 34, &u, err)) < 0)
        return -1;
    if (rc == 0)
        cfg->max_bytes = u;
    if ((rc = env_uint("FITSFLOW_DAILY_VIDEO_MAX_BYTES", 1024, (unsigned long long)1 << 36, &u, err)) < 0)
        return -1;
    if (rc == 0)
        cfg->video_max_bytes = u;
    if ((rc = env_uint("FITSFLOW_HTTP_BACKOFF_MS", 0, 60000, &u, err)) < 0)
        return -1;
    if (rc == 0)
        cfg->backoff_ms = (int)u;
    if ((rc = env_uint("FITSFLOW_HEK_WINDOW_MINUTES", 1, 7 * 24 * 60, &u, err)) < 0)
        return -1;
    if (rc == 0)
        cfg->hek_window_minutes = (int)u;
    if ((rc = env_uint("FITSFLOW_REMOTE_MAX_OFFSET_MINUTES", 1, 7 * 24 * 60, &u, err)) < 0)
        return -1;
    if (rc == 0)
        cfg->max_offset_minutes = (int)u;
    const char *v = getenv("FITSFLOW_OFFLINE");
    if (v && *v) {
        if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
            cfg->offline = 1;
        else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
            cfg->offline = 0;
        else
            return ff_err_set(err, "FITSFLOW_OFFLINE must be 1 or 0, not '%s'", v);
    }
    if (cfg->backoff_max_ms < cfg->backoff_ms)
        cfg->backoff_max_ms = cfg->backoff_ms;
    return 0;
}
