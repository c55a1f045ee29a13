/* JSOC: the AIA JPEG 2000 (per wavelength) or HMI JPEG (continuum, magnetogram) closest in time,
 * found in the day's directory listing and written as a grayscale PNG. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "remote/remote_impl.h"
#include "base/clock.h"

#define MAX_LINKS 200000

int ff_remote_jsoc(ff_remote *r, const ff_obsmeta *meta, ff_remote_result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = ff_clock_now(), t;
    int rc = -1;
    char *html = NULL;
    size_t hlen = 0;
    ff_http_response resp = {0};
    ff_err err = {0};
    if (r->cfg.offline) {
        rc = ff_remote_result_msg(res, 0, "skipped: offline (FITSFLOW_OFFLINE=1 or --offline)");
        goto out;
    }
    ff_jsoc_kind kind;
    const char *label;
    if (!strcasecmp(meta->observatory, "SDO") && !strcasecmp(meta->instrument, "AIA") &&
        meta->wavelength > 0 && meta->wavelength < 100000) {
        kind = FF_JSOC_AIA;
        label = "AIA JPEG 2000";
    } else if (!strcasecmp(meta->observatory, "SDO") && !strcasecmp(meta->instrument, "HMI") &&
               !strcasecmp(meta->measurement, "continuum")) {
        kind = FF_JSOC_HMI_IC;
        label = "HMI continuum JPEG";
    } else if (!strcasecmp(meta->observatory, "SDO") && !strcasecmp(meta->instrument, "HMI") &&
               !strcasecmp(meta->measurement, "magnetogram")) {
        kind = FF_JSOC_HMI_M;
        label = "HMI magnetogram JPEG";
    } else {
        rc = ff_remote_result_msg(res, 0, "JSOC has images for SDO AIA and HMI continuum/magnetogram only "
                                  "(this is %s %s %s)",
                                  meta->observatory[0] ? meta->observatory : "unknown",
                                  meta->instrument[0] ? meta->instrument : "instrument", meta->measurement);
        goto out;
    }
    if (ff_remote_obs_time(meta, &t) != 0) {
        rc = ff_remote_result_msg(res, 0, "no observation time in the header: %s", meta->time_reason);
        goto out;
    }
    time_t ts = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&ts, &tm);
    char dir[FF_REMOTE_URL_MAX + 64];
    if (kind == FF_JSOC_AIA)
        snprintf(dir, sizeof dir, "%s/data/aia/images/%04d/%02d/%02d/%d/", r->cfg.jsoc_url,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, meta->wavelength);
    else
        snprintf(dir, sizeof dir, "%s/data/hmi/images/%04d/%02d/%02d/", r->cfg.jsoc_url,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    if (ff_remote_get_listing(r, dir, &html, &hlen, &res->requests, &err) != 0) {
        rc = ff_remote_result_msg(res, 0, "listing %s failed: %s", dir, err.msg);
        goto out;
    }
    char name[FF_JSOC_NAME_MAX], iso[32];
    double off = 0;
    size_t ncand = 0;
    ff_remote_iso(t, iso);
    if (ff_jsoc_pick_closest(html, hlen, kind, meta->wavelength, t, MAX_LINKS, name, &off, &ncand) != 0) {
        rc = ff_remote_result_msg(res, 0, "no %s image near %s: the listing %s names none", label, iso, dir);
        goto out;
    }
    if (fabs(off) > r->cfg.max_offset_minutes * 60.0) {
        rc = ff_remote_result_msg(res, 0, "no %s image within %d minutes of %s (the closest is %s)", label,
                                  r->cfg.max_offset_minutes, iso, name);
        goto out;
    }
    char url[sizeof dir + FF_JSOC_NAME_MAX];
    snprintf(url, sizeof url, "%s%s", dir, name);
    int r2 = ff_remote_http_get(r, url, 0, NULL, &resp, &err);
    res->requests += resp.attempts;
    if (r2 != 0) {
        rc = ff_remote_result_msg(res, 0, "%s failed: %s", name, err.msg);
        goto out;
    }
    const char *what = "";
    if (ff_remote_to_png(resp.body, resp.len, 1, (uint64_t)1 << 28, &res->data, &res->len, &what, &err) != 0) {
        rc = ff_remote_result_msg(res, 0, "%s (%s): %s", name,
                                  resp.content_type[0] ? resp.content_type : "no content type", err.msg);
        goto out;
    }
    rc = ff_remote_result_msg(res, 1, "%s (%+.0f s from the observation; the closest of %zu listed)", name, off, ncand);
out:
    free(html);
    ff_http_response_free(&resp);
    res->seconds = ff_clock_now() - t0;
    return rc;
}
