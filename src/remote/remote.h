/* The outside world: Helioviewer (a colour image near the observation time), JSOC (the AIA
 * JPEG2000 or HMI JPEG closest in time, as a grayscale PNG), HEK events (through Helioviewer's
 * events API) and the SDO daily movies. One ff_remote is a session: it holds the settings, a
 * libcurl share (connections, DNS and TLS sessions reused across requests and threads) and a
 * small cache of JSOC directory listings. It is safe to use from several threads at once.
 * No local output ever depends on these services: every failure is a value with a reason. */
#ifndef FF_REMOTE_REMOTE_H
#define FF_REMOTE_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/urlenc.h"
#include "base/err.h"
#include "core/fits/obsmeta.h"

#define FF_REMOTE_URL_MAX 512

typedef struct ff_remote_config {
    char helioviewer_url[FF_REMOTE_URL_MAX]; /* FITSFLOW_HELIOVIEWER_URL, https://api.helioviewer.org */
    char jsoc_url[FF_REMOTE_URL_MAX];        /* FITSFLOW_JSOC_URL, https://jsoc1.stanford.edu */
    char sdo_url[FF_REMOTE_URL_MAX];         /* FITSFLOW_SDO_URL, https://sdo.gsfc.nasa.gov */
    double timeout_s;          /* FITSFLOW_HTTP_TIMEOUT: whole request, per attempt (30) */
    double connect_timeout_s;  /* FITSFLOW_HTTP_CONNECT_TIMEOUT (10) */
    int retries;               /* FITSFLOW_HTTP_RETRIES: extra attempts after a timeout or 5xx (2) */
    uint64_t max_bytes;        /* FITSFLOW_HTTP_MAX_BYTES: cap per API/image answer (64 MiB) */
    uint64_t video_max_bytes;  /* FITSFLOW_DAILY_VIDEO_MAX_BYTES: cap per movie part (1 GiB) */
    int backoff_ms;            /* FITSFLOW_HTTP_BACKOFF_MS: first retry's delay before jitter (500) */
    int backoff_max_ms;        /* ceiling of one delay (8000) */
    int hek_window_minutes;    /* FITSFLOW_HEK_WINDOW_MINUTES: events from t to t + this (15) */
    int max_offset_minutes;    /* FITSFLOW_REMOTE_MAX_OFFSET_MINUTES: farthest acceptable image (60) */
    int offline;               /* FITSFLOW_OFFLINE: contact nothing */
    int sequential;            /* 1: the three fetches one after another (benchmark baseline) */
    int reuse_connections;     /* 0: a fresh connection per request and no listing cache
                                  (the original's way; the benchmark's baseline) */
} ff_remote_config;

/* The settings above from loaded settings (base/settings.h), or from their defaults. */
struct ff_settings;
void ff_remote_config_from_settings(ff_remote_config *cfg, const struct ff_settings *s);
void ff_remote_config_defaults(ff_remote_config *cfg);

typedef struct ff_remote ff_remote;

/* Opens a session (copies cfg). Returns NULL with err on failure (libcurl not usable). */
ff_remote *ff_remote_open(const ff_remote_config *cfg, ff_err *err);
void ff_remote_close(ff_remote *r);
const ff_remote_config *ff_remote_get_config(const ff_remote *r);
/* ff_remote_open with ff_remote_config_from_settings(s). */
ff_remote *ff_remote_open_configured(const struct ff_settings *s, ff_err *err);

/* The result of one remote step. */
typedef struct ff_remote_result {
    int ok;                 /* 1: data holds the output */
    unsigned char *data;    /* PNG (images) or JSON (HEK), malloc'd, owned; NULL when !ok */
    size_t len;
    char message[512];      /* one line: what was fetched, or why not (status, timeout, ...) */
    double seconds;         /* wall time of this step */
    int requests;           /* HTTP requests made, retries included */
} ff_remote_result;

typedef struct ff_remote_outputs {
    ff_remote_result helioviewer; /* images/sdo/{base}_sdo.png */
    ff_remote_result jsoc;        /* images/jsoc/{base}_jsoc.png */
    ff_remote_result hek;         /* hek/{base}_hek.json */
} ff_remote_outputs;

/* Runs the Helioviewer, JSOC and HEK steps for one observation, concurrently (unless
 * cfg.sequential), and fills out (initialised here; free with ff_remote_outputs_free). A step
 * that cannot run (offline, no time, unknown instrument) fails with the reason in its message.
 * Returns the number of steps that succeeded (0..3); never fails as a whole. */
int ff_remote_fetch_for_file(ff_remote *r, const ff_obsmeta *meta, ff_remote_outputs *out);
void ff_remote_outputs_free(ff_remote_outputs *out);

/* The three steps on their own (each fills res, initialised here; returns res->ok ? 0 : -1). */
int ff_remote_helioviewer(ff_remote *r, const ff_obsmeta *meta, ff_remote_result *res);
int ff_remote_jsoc(ff_remote *r, const ff_obsmeta *meta, ff_remote_result *res);
int ff_remote_hek(ff_remote *r, const ff_obsmeta *meta, ff_remote_result *res);
void ff_remote_result_free(ff_remote_result *res);

/* ---- HTTP (used by the steps above and by the daily movie) ---- */

typedef struct ff_http_response {
    long status;              /* last HTTP status, 0 when no answer came */
    char content_type[128];   /* as sent, "" when none */
    unsigned char *body;      /* malloc'd, NUL-terminated (len excludes it); NULL when to_file */
    size_t len;               /* bytes received (also when written to a file) */
    int attempts;
    int timed_out;            /* the last attempt timed out */
} ff_http_response;

/* GET url. The body goes to memory, or to to_file when not NULL (truncated and rewritten on a
 * retry), at most max_bytes (0 = the session's max_bytes). Retries with exponential backoff
 * and jitter after a timeout or a 5xx, never after anything else. Returns 0 for a complete 2xx
 * answer; else -1 with a reason ("HTTP 503 from host after 3 attempts", "timed out after 30 s",
 * "answer larger than the 67108864-byte limit (FITSFLOW_HTTP_MAX_BYTES)", "answer cut short")
 * and resp->status set when one came. Free resp with ff_http_response_free. */
int ff_remote_http_get(ff_remote *r, const char *url, uint64_t max_bytes, FILE *to_file,
                       ff_http_response *resp, ff_err *err);
void ff_http_response_free(ff_http_response *resp);

/* Delay in milliseconds before retry number attempt (0 = first retry): base * 2^attempt capped
 * at max_ms, then "equal jitter": uniformly in [d/2, d]. *seed is the caller's PRNG state. */
long ff_remote_backoff_ms(int base_ms, int max_ms, int attempt, uint64_t *seed);

/* ff_url_append_escaped (query values) is base/urlenc.h's, included above. */

/* ---- JSOC directory listings (pure functions, unit-tested) ---- */

#define FF_JSOC_NAME_MAX 256

typedef enum ff_jsoc_kind { FF_JSOC_AIA, FF_JSOC_HMI_IC, FF_JSOC_HMI_M } ff_jsoc_kind;

/* Finds the next href value in [*p, end) of an HTML page, whatever the markup (any case, quoted
 * with " or ', or unquoted, spaces around '='); copies it to out (at most outsize - 1 bytes; a
 * longer value, or one holding a NUL byte, is skipped) and advances *p. Returns 1 when found, 0 at the end. */
int ff_html_next_href(const char **p, const char *end, char *out, size_t outsize);

/* Parses an image name into seconds since 1970 (UTC). AIA: "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"
 * (the digits after the seconds are a decimal fraction) with that wavelength; HMI:
 * "20130624_000000_Ic_4k.jpg" / "..._M_4k.jpg". Returns 0, or -1 when name is not such a file. */
int ff_jsoc_parse_name(const char *name, ff_jsoc_kind kind, int wavelength, double *t);

/* Scans a listing page for the file of that kind closest in time to target (ties: the earlier).
 * href values are reduced to their last path segment (query and fragment removed, %XX decoded).
 * At most max_links hrefs are examined. Returns 0 with name and *offset_s (image minus target,
 * seconds), 1 when no file of that kind is listed, and counts candidates in *ncandidates. */
int ff_jsoc_pick_closest(const char *html, size_t len, ff_jsoc_kind kind, int wavelength,
                         double target, size_t max_links, char name[FF_JSOC_NAME_MAX],
                         double *offset_s, size_t *ncandidates);

/* ---- SDO daily movies ---- */

#define FF_SDO_NCHANNELS 11
/* "0094", "0131", "0171", "0193", "0211", "0304", "0335", "1600", "1700", "HMIIC", "HMIB" */
extern const char *const ff_sdo_channels[FF_SDO_NCHANNELS];

/* {SDO}/assets/img/dailymov/YYYY/MM/DD/YYYYMMDD_1024_{channel}.mp4 for date "YYYYMMDD". */
int ff_remote_sdo_movie_url(const ff_remote *r, const char *date, const char *channel, char *url,
                            size_t size, ff_err *err);

#endif
