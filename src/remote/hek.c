/* HEK events around the observation, through Helioviewer's events API (sources=HEK), from the
 * observation time to FITSFLOW_HEK_WINDOW_MINUTES later. The JSON is kept byte for byte; it is
 * only parsed to check it and to count the events for the log line. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/remote_impl.h"
#include "base/clock.h"

/* Events in the default "tree" shape ([{name, pin, groups: [{data: [...]}]}]), a flat array, or
 * a {"label": [...]} map. */
static size_t count_events(json_t *root)
{
    size_t n = 0, i, j;
    json_t *v, *g;
    const char *k;
    if (json_is_array(root)) {
        json_array_foreach(root, i, v) {
            json_t *groups = json_object_get(v, "groups");
            if (json_is_array(groups)) {
                json_array_foreach(groups, j, g) {
                    json_t *data = json_object_get(g, "data");
                    if (json_is_array(data))
                        n += json_array_size(data);
                }
            } else {
                n++;
            }
        }
    } else if (json_is_object(root)) {
        json_object_foreach(root, k, v) {
            if (json_is_array(v))
                n += json_array_size(v);
        }
    }
    return n;
}

int ff_hek_events_answer(const unsigned char *body, size_t len, const char *content_type,
                         size_t *nevents, ff_remote_result *res)
{
    int rc = -1;
    json_error_t je;
    json_t *root = json_loadb((const char *)body, len, 0, &je);
    if (!json_is_array(root) && !json_is_object(root)) {
        ff_remote_result_msg(res, 0, "events answered %s that is not JSON (%s at byte %d)",
                             content_type[0] ? content_type : "data without a content type",
                             je.text, je.position);
        goto out;
    }
    json_t *jerr = json_is_object(root) ? json_object_get(root, "error") : NULL;
    if (json_is_string(jerr)) {
        ff_remote_result_msg(res, 0, "Helioviewer: %.300s", json_string_value(jerr));
        goto out;
    }
    *nevents = count_events(root);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int ff_remote_hek(ff_remote *r, const ff_obsmeta *meta, ff_remote_result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = ff_clock_now(), t;
    int rc = -1;
    ff_http_response resp = {0};
    ff_err err = {0};
    if (r->cfg.offline) {
        rc = ff_remote_result_msg(res, 0, "skipped: offline (FITSFLOW_OFFLINE=1 or --offline)");
        goto out;
    }
    if (ff_remote_obs_time(meta, &t) != 0) {
        rc = ff_remote_result_msg(res, 0, "no observation time in the header: %s", meta->time_reason);
        goto out;
    }
    char start[32], end[32], url[FF_REMOTE_URL_MAX + 256];
    ff_remote_iso(t, start);
    ff_remote_iso(t + r->cfg.hek_window_minutes * 60.0, end);
    snprintf(url, sizeof url, "%s/v2/events/?startTime=", r->cfg.helioviewer_url);
    int bad = ff_url_append_escaped(url, sizeof url, start);
    if (!bad && strlen(url) + 9 < sizeof url)
        strcat(url, "&endTime=");
    else
        bad = 1;
    if (!bad)
        bad = ff_url_append_escaped(url, sizeof url, end);
    if (!bad && strlen(url) + 12 < sizeof url)
        strcat(url, "&sources=HEK");
    else
        bad = 1;
    if (bad) {
        rc = ff_remote_result_msg(res, 0, "the Helioviewer URL is too long");
        goto out;
    }
    int r1 = ff_remote_http_get(r, url, 0, NULL, &resp, &err);
    res->requests += resp.attempts;
    if (r1 != 0) {
        rc = ff_remote_result_msg(res, 0, "events failed: %s", err.msg);
        goto out;
    }
    size_t n = 0;
    if (ff_hek_events_answer(resp.body, resp.len, resp.content_type, &n, res) != 0)
        goto out;
    res->data = resp.body;
    res->len = resp.len;
    resp.body = NULL;
    rc = ff_remote_result_msg(res, 1, "%zu event%s from %s to %s", n, n == 1 ? "" : "s", start, end);
out:
    ff_http_response_free(&resp);
    res->seconds = ff_clock_now() - t0;
    return rc;
}
