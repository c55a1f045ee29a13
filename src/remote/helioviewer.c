/* Helioviewer: getClosestImage gives the id of the image nearest the observation time for the
 * file's data source; downloadImage gives that image (scale 2.0), kept when it is a PNG and
 * re-encoded as PNG when it is a JPEG or JPEG 2000. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/remote_impl.h"
#include "base/clock.h"

/* The image's id as digits, from a number or a string of digits. */
static int image_id(json_t *v, char *id, size_t size)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(id, size, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n == 0 || n >= size || strspn(s, "0123456789") != n)
        return -1;
    memcpy(id, s, n + 1);
    return 0;
}

int ff_helioviewer_closest_answer(const unsigned char *body, size_t len, const char *content_type,
                                  double t, const char *iso, int source_id, int max_offset_minutes,
                                  char id[32], char date[40], ff_remote_result *res)
{
    int rc = -1;
    json_error_t je;
    json_t *root = json_loadb((const char *)body, len, 0, &je);
    date[0] = '\0';
    if (!json_is_object(root)) {
        ff_remote_result_msg(res, 0, "getClosestImage answered %s that is not a JSON object",
                             content_type[0] ? content_type : "data without a content type");
        goto out;
    }
    json_t *jerr = json_object_get(root, "error");
    if (json_is_string(jerr)) {
        ff_remote_result_msg(res, 0, "Helioviewer: %.300s", json_string_value(jerr));
        goto out;
    }
    if (image_id(json_object_get(root, "id"), id, 32) != 0) {
        ff_remote_result_msg(res, 0, "no image near %s for source %d (no id in the answer)", iso,
                             source_id);
        goto out;
    }
    json_t *jd = json_object_get(root, "date");
    if (json_is_string(jd)) {
        snprintf(date, 40, "%s", json_string_value(jd));
        ff_time it;
        if (ff_time_parse(date, FF_TS_UTC, &it, NULL) == 0) {
            double off = (double)ff_time_unix(&it) + it.nanos / 1e9 - t;
            if (fabs(off) > max_offset_minutes * 60.0) {
                ff_remote_result_msg(res, 0, "no image within %d minutes of %s (the closest is %s)",
                                     max_offset_minutes, iso, date);
                goto out;
            }
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int ff_remote_helioviewer(ff_remote *r, const ff_obsmeta *meta, ff_remote_result *res)
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
    if (meta->source_id < 0) {
        rc = ff_remote_result_msg(res, 0, "Helioviewer has no data source for %s %s %s",
                                  meta->observatory[0] ? meta->observatory : "this observatory",
                                  meta->instrument, meta->measurement);
        goto out;
    }
    if (ff_remote_obs_time(meta, &t) != 0) {
        rc = ff_remote_result_msg(res, 0, "no observation time in the header: %s", meta->time_reason);
        goto out;
    }
    char iso[32], url[FF_REMOTE_URL_MAX + 256];
    ff_remote_iso(t, iso);
    snprintf(url, sizeof url, "%s/v2/getClosestImage/?date=", r->cfg.helioviewer_url);
    if (ff_url_append_escaped(url, sizeof url, iso) != 0) {
        rc = ff_remote_result_msg(res, 0, "the Helioviewer URL is too long");
        goto out;
    }
    snprintf(url + strlen(url), sizeof url - strlen(url), "&sourceId=%d", meta->source_id);
    int r1 = ff_remote_http_get(r, url, 0, NULL, &resp, &err);
    res->requests += resp.attempts;
    if (r1 != 0) {
        rc = ff_remote_result_msg(res, 0, "getClosestImage failed: %s", err.msg);
        goto out;
    }
    char id[32], date[40];
    if (ff_helioviewer_closest_answer(resp.body, resp.len, resp.content_type, t, iso, meta->source_id,
                                      r->cfg.max_offset_minutes, id, date, res) != 0)
        goto out;
    ff_http_response_free(&resp);
    snprintf(url, sizeof url, "%s/v2/downloadImage/?id=%s&scale=2.0", r->cfg.helioviewer_url, id);
    int r2 = ff_remote_http_get(r, url, 0, NULL, &resp, &err);
    res->requests += resp.attempts;
    if (r2 != 0) {
        rc = ff_remote_result_msg(res, 0, "downloadImage %s failed: %s", id, err.msg);
        goto out;
    }
    const char *what = "";
    if (ff_remote_to_png(resp.body, resp.len, 0, (uint64_t)1 << 28, &res->data, &res->len, &what,
                         &err) != 0) {
        rc = ff_remote_result_msg(res, 0, "downloadImage %s answered %s: %s", id,
                                  resp.content_type[0] ? resp.content_type : "no content type", err.msg);
        goto out;
    }
    rc = ff_remote_result_msg(res, 1, "image %s of %s%s", id, date[0] ? date : iso,
                              strcmp(what, "PNG") ? (strcmp(what, "JPEG") ? " (re-encoded from JPEG 2000)"
                                                                           : " (re-encoded from JPEG)")
                                                  : "");
out:
    ff_http_response_free(&resp);
    res->seconds = ff_clock_now() - t0;
    return rc;
}
