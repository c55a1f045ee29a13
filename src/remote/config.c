/* The remote services' settings (base/settings.h's remote rows) as an ff_remote_config. */
#include <string.h>

#include "base/settings.h"
#include "remote/remote.h"

void ff_remote_config_defaults(ff_remote_config *cfg)
{
    ff_settings s;
    ff_settings_defaults(&s);
    ff_remote_config_from_settings(cfg, &s);
}

void ff_remote_config_from_settings(ff_remote_config *cfg, const ff_settings *s)
{
    memset(cfg, 0, sizeof *cfg);
    ff_settings_copy(s, FF_SET_HELIOVIEWER_URL, cfg->helioviewer_url, sizeof cfg->helioviewer_url);
    ff_settings_copy(s, FF_SET_JSOC_URL, cfg->jsoc_url, sizeof cfg->jsoc_url);
    ff_settings_copy(s, FF_SET_SDO_URL, cfg->sdo_url, sizeof cfg->sdo_url);
    cfg->timeout_s = ff_settings_seconds(s, FF_SET_HTTP_TIMEOUT);
    cfg->connect_timeout_s = ff_settings_seconds(s, FF_SET_HTTP_CONNECT_TIMEOUT);
    cfg->retries = (int)ff_settings_uint(s, FF_SET_HTTP_RETRIES);
    cfg->max_bytes = ff_settings_uint(s, FF_SET_HTTP_MAX_BYTES);
    cfg->video_max_bytes = ff_settings_uint(s, FF_SET_DAILY_VIDEO_MAX_BYTES);
    cfg->backoff_ms = (int)ff_settings_uint(s, FF_SET_HTTP_BACKOFF_MS);
    cfg->backoff_max_ms = 8000;
    if (cfg->backoff_max_ms < cfg->backoff_ms)
        cfg->backoff_max_ms = cfg->backoff_ms;
    cfg->hek_window_minutes = (int)ff_settings_uint(s, FF_SET_HEK_WINDOW_MINUTES);
    cfg->max_offset_minutes = (int)ff_settings_uint(s, FF_SET_REMOTE_MAX_OFFSET_MINUTES);
    cfg->offline = ff_settings_flag(s, FF_SET_OFFLINE);
    cfg->reuse_connections = 1;
}

ff_remote *ff_remote_open_configured(const ff_settings *s, ff_err *err)
{
    ff_remote_config cfg;
    ff_remote_config_from_settings(&cfg, s);
    return ff_remote_open(&cfg, err);
}
