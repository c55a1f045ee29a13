/* The FITSFLOW_* settings table and its one parser per type (settings.h). */
#include "base/settings.h"
#include "base/number.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S FF_USE_SERVE
#define P FF_USE_PROCESS
#define L FF_USE_LAMBDA
#define C FF_USE_CLEAN
#define V FF_USE_DAILY_VIDEO
#define PROCESSING (S | P | L)           /* every command that processes files */
#define REMOTE (S | P | L | V)           /* every command that may reach the remote services */
#define STORE (S | L)                    /* commands that open the store FITSFLOW_STORE names */

#define UINT(lo, hi) FF_SETTING_UINT, (lo), (hi), NULL
#define SECONDS(lo, hi) FF_SETTING_SECONDS, (lo), (hi), NULL
#define FLAG FF_SETTING_FLAG, 0, 1, NULL
#define CHOICE(list) FF_SETTING_CHOICE, 0, 0, (list)
#define TEXT(lo, hi) FF_SETTING_TEXT, (lo), (hi), NULL
#define URL(hi) FF_SETTING_URL, 8, (hi), NULL

static const ff_setting table[FF_SET_COUNT] = {
    [FF_SET_LISTEN] = {"FITSFLOW_LISTEN", TEXT(1, 300), "127.0.0.1:8080", S, NULL,
                       "address and port to listen on; [::1]:8080 for IPv6, port 0 for any free port"},
    [FF_SET_DATA_DIR] = {"FITSFLOW_DATA_DIR", TEXT(1, 1023), "fitsflow-data", S | L | C | V, NULL,
                         "uploads, outputs, the queue database and the secret (Lambda: /tmp/fitsflow-data)"},
    [FF_SET_PUBLIC_URL] = {"FITSFLOW_PUBLIC_URL", TEXT(1, 511), NULL, S, NULL,
                           "base of the upload URLs handed out and the default CORS origin (http://LISTEN)"},
    [FF_SET_SECRET] = {"FITSFLOW_SECRET", TEXT(16, 4096), NULL, S, "use e.g. `openssl rand -hex 32`",
                       "key of the upload URL signatures; unset: 32 random bytes kept in DATA_DIR/secret"},
    [FF_SET_PRESIGN_TTL] = {"FITSFLOW_PRESIGN_TTL", UINT(1, 7 * 24 * 3600), "300", S | L, NULL,
                            "seconds an upload URL stays valid"},
    [FF_SET_SESSION_LIMIT_MB] = {"FITSFLOW_SESSION_LIMIT_MB", UINT(1, 1 << 20), "170", S | L, NULL,
                                 "upload bytes per session, in MiB"},
    [FF_SET_SESSION_MAX_FILES] = {"FITSFLOW_SESSION_MAX_FILES", UINT(1, 1000000), "2000", S, NULL,
                                  "uploads per session"},
    [FF_SET_STORE_TIMEOUT_MS] = {"FITSFLOW_STORE_TIMEOUT_MS", UINT(100, 600000), "5000", S, NULL,
                                 "a request's store calls end within this many ms of its arrival"},
    [FF_SET_STORE_THREADS] = {"FITSFLOW_STORE_THREADS", UINT(1, 256), "8", S, NULL,
                              "threads doing store work for requests"},
    [FF_SET_CORS_ORIGINS] = {"FITSFLOW_CORS_ORIGINS", TEXT(1, 2047), NULL, S, NULL,
                             "comma-separated allowed origins, * for any (own origin and localhost:5500)"},
    [FF_SET_WORKERS] = {"FITSFLOW_WORKERS", UINT(1, 64), "2", S, NULL, "sessions processed at once"},
    [FF_SET_HTTP_THREADS] = {"FITSFLOW_HTTP_THREADS", UINT(1, 256), NULL, S, NULL,
                             "HTTP threads (the number of cores)"},
    [FF_SET_RATE_LIMIT] = {"FITSFLOW_RATE_LIMIT", UINT(0, 1000000), "50", S, NULL,
                           "requests per second per client; 0 turns the limit off"},
    [FF_SET_RATE_BURST] = {"FITSFLOW_RATE_BURST", UINT(1, 1000000), "200", S, NULL,
                           "requests a client may make at once"},
    [FF_SET_MAX_CONNECTIONS] = {"FITSFLOW_MAX_CONNECTIONS", UINT(1, 100000), "1024", S, NULL,
                                "open connections in total"},
    [FF_SET_MAX_CONNECTIONS_PER_IP] = {"FITSFLOW_MAX_CONNECTIONS_PER_IP", UINT(0, 100000), "128", S,
                                       NULL, "open connections per address; 0 = no per-address limit"},
    [FF_SET_REQUEST_TIMEOUT] = {"FITSFLOW_REQUEST_TIMEOUT", UINT(1, 3600), "30", S, NULL,
                                "seconds of silence before a connection is closed"},
    [FF_SET_HEADER_TIMEOUT] = {"FITSFLOW_HEADER_TIMEOUT", UINT(1, 3600), "10", S, NULL,
                               "seconds for a whole request header"},
    [FF_SET_UPLOAD_CONNECTIONS] = {"FITSFLOW_UPLOAD_CONNECTIONS", UINT(0, 100000), "32", S, NULL,
                                   "connections opening with a PUT served with the large read buffer"},
    [FF_SET_UPLOAD_BUFFER_KB] = {"FITSFLOW_UPLOAD_BUFFER_KB", UINT(32, 65536), "1024", S, NULL,
                                 "that read buffer, in KiB"},
    [FF_SET_MAX_HEADER_BYTES] = {"FITSFLOW_MAX_HEADER_BYTES", UINT(1024, 1 << 20), "16384", S, NULL,
                                 "request line and headers, in bytes"},
    [FF_SET_MIN_UPLOAD_RATE] = {"FITSFLOW_MIN_UPLOAD_RATE", UINT(0, 1u << 30), "1024", S, NULL,
                                "bytes/s an upload must average after 10 s; 0 = no minimum"},
    [FF_SET_SHUTDOWN_TIMEOUT] = {"FITSFLOW_SHUTDOWN_TIMEOUT", UINT(0, 3600), "10", S, NULL,
                                 "seconds requests in flight get at shutdown"},
    [FF_SET_CLEAN_CRON] = {"FITSFLOW_CLEAN_CRON", TEXT(1, 127), "0 4 * * *", S, NULL,
                           "when the nightly clean runs (5-field cron, UTC)"},
    [FF_SET_RETENTION_HOURS] = {"FITSFLOW_RETENTION_HOURS", UINT(1, 24 * 365), "24", S | L | C, NULL,
                                "hours after which the clean deletes a session"},
    [FF_SET_WEB_DIR] = {"FITSFLOW_WEB_DIR", TEXT(1, 1023), NULL, S, NULL,
                        "the browser client served at / (the source tree's web/, else web/ beside the binary)"},
    [FF_SET_JOB_ATTEMPTS] = {"FITSFLOW_JOB_ATTEMPTS", UINT(1, 100), "8", S, NULL,
                             "attempts a session gets when the store fails in a way that may pass"},
    [FF_SET_JOB_BACKOFF_MS] = {"FITSFLOW_JOB_BACKOFF_MS", UINT(1, 86400000), "30000", S, NULL,
                               "wait before the first retry, in ms; doubles for each further one"},
    [FF_SET_JOB_BACKOFF_MAX_MS] = {"FITSFLOW_JOB_BACKOFF_MAX_MS", UINT(1, 86400000), "600000", S, NULL,
                                   "longest wait between attempts, in ms"},
    [FF_SET_LEASE_SECONDS] = {"FITSFLOW_LEASE_SECONDS", UINT(2, 86400), "60", S, NULL,
                              "with FITSFLOW_STORE=s3: a lease not renewed for this long is abandoned"},
    [FF_SET_LEASE_SETTLE_MS] = {"FITSFLOW_LEASE_SETTLE_MS", UINT(10, 60000), "1000", S, NULL,
                                "the wait before a lease just written is read back (a quarter of the lease at most)"},

    [FF_SET_MAX_PIXELS] = {"FITSFLOW_MAX_PIXELS", UINT(1, (double)(1ull << 40)), "268435456", PROCESSING,
                           NULL, "largest image accepted, in pixels"},
    [FF_SET_PNG_MAX] = {"FITSFLOW_PNG_MAX", UINT(0, 1 << 20), "0", PROCESSING, NULL,
                        "long side of the PNG renders; 0 = full size"},
    [FF_SET_FILES_AT_ONCE] = {"FITSFLOW_FILES_AT_ONCE", UINT(1, 64), "2", PROCESSING, NULL,
                              "files of one server session processed at once"},
    [FF_SET_OFFLINE] = {"FITSFLOW_OFFLINE", FLAG, "0", REMOTE | C, NULL,
                        "1: never contact Helioviewer, JSOC, HEK or the SDO movie site"},
    [FF_SET_SDO_ONLY] = {"FITSFLOW_SDO_ONLY", FLAG, "0", PROCESSING, NULL,
                         "1: skip files whose TELESCOP does not name SDO, as the original did"},
    [FF_SET_OUTPUTS] = {"FITSFLOW_OUTPUTS", TEXT(1, 200), "all", PROCESSING, NULL,
                        "outputs to write: npy,csv,png,asdf,prep or all (the header always)"},
    [FF_SET_ML_SIZE] = {"FITSFLOW_ML_SIZE", UINT(1, 4096), "512", PROCESSING,
                        "it must divide 4096: 4096, 2048, 1024, 512, 256, 128, 64, ... 1",
                        "side N of the level-1.5 ML arrays (N x N); 4096 % N must be 0"},
    [FF_SET_ASDF_COMPRESS] = {"FITSFLOW_ASDF_COMPRESS", FLAG, "1", PROCESSING, NULL,
                              "1: zlib-compress the ASDF data block"},
    [FF_SET_ASDF_CREATOR] = {"FITSFLOW_ASDF_CREATOR", TEXT(0, 1 << 20), "", PROCESSING, NULL,
                             "the ASDF bundle's meta.creator"},
    [FF_SET_ASDF_INSTITUTION] = {"FITSFLOW_ASDF_INSTITUTION", TEXT(0, 1 << 20), "", PROCESSING, NULL,
                                 "the ASDF bundle's meta.institution"},
    [FF_SET_ASDF_AWARD] = {"FITSFLOW_ASDF_AWARD", TEXT(0, 1 << 20), "", PROCESSING, NULL,
                           "the ASDF bundle's meta.award"},
    [FF_SET_ASDF_DESCRIPTION] = {"FITSFLOW_ASDF_DESCRIPTION", TEXT(0, 1 << 20), "", PROCESSING, NULL,
                                 "the ASDF bundle's meta.description"},
    [FF_SET_SESSION_MAX_PIXELS] = {"FITSFLOW_SESSION_MAX_PIXELS", UINT(0, (double)(1ull << 50)),
                                   "1073741824", PROCESSING, NULL,
                                   "pixels a session may decode in all; 0 = no limit (process: none unless set)"},
    [FF_SET_SESSION_MAX_OUTPUT_MB] = {"FITSFLOW_SESSION_MAX_OUTPUT_MB", UINT(0, 1 << 30), "16384",
                                      PROCESSING, NULL,
                                      "MiB of outputs a session may store in all; 0 = no limit"},
    [FF_SET_MEMORY_MB] = {"FITSFLOW_MEMORY_MB", UINT(0, 1 << 30), NULL, PROCESSING, NULL,
                          "MiB of memory for the files processed at once (half the machine's); 0 = no limit"},
    [FF_SET_LOG_LEVEL] = {"FITSFLOW_LOG_LEVEL", CHOICE("debug|info|warn|error"), "info", FF_USE_ALL,
                          NULL, "the least level of the JSON-lines log on stderr"},
    [FF_SET_FSYNC] = {"FITSFLOW_FSYNC", FLAG, "0", FF_USE_ALL, NULL,
                      "1: flush every stored object to disk before it appears"},

    [FF_SET_HELIOVIEWER_URL] = {"FITSFLOW_HELIOVIEWER_URL", URL(511), "https://api.helioviewer.org",
                                REMOTE, NULL, "Helioviewer API base (also for HEK events)"},
    [FF_SET_JSOC_URL] = {"FITSFLOW_JSOC_URL", URL(511), "https://jsoc1.stanford.edu", REMOTE, NULL,
                         "JSOC base"},
    [FF_SET_SDO_URL] = {"FITSFLOW_SDO_URL", URL(511), "https://sdo.gsfc.nasa.gov", REMOTE, NULL,
                        "SDO daily-movie site"},
    [FF_SET_HTTP_TIMEOUT] = {"FITSFLOW_HTTP_TIMEOUT", SECONDS(0.1, 3600), "30", REMOTE, NULL,
                             "seconds per attempt, whole request"},
    [FF_SET_HTTP_CONNECT_TIMEOUT] = {"FITSFLOW_HTTP_CONNECT_TIMEOUT", SECONDS(0.1, 600), "10", REMOTE,
                                     NULL, "seconds to connect"},
    [FF_SET_HTTP_RETRIES] = {"FITSFLOW_HTTP_RETRIES", UINT(0, 10), "2", REMOTE, NULL,
                             "extra attempts, after timeouts and 5xx only"},
    [FF_SET_HTTP_BACKOFF_MS] = {"FITSFLOW_HTTP_BACKOFF_MS", UINT(0, 60000), "500", REMOTE, NULL,
                                "first retry delay in ms; doubles, capped at 8 s"},
    [FF_SET_HTTP_MAX_BYTES] = {"FITSFLOW_HTTP_MAX_BYTES", UINT(1024, (double)(1ull << 34)), "67108864",
                               REMOTE, NULL, "largest answer accepted (after decompression)"},
    [FF_SET_DAILY_VIDEO_MAX_BYTES] = {"FITSFLOW_DAILY_VIDEO_MAX_BYTES", UINT(1024, (double)(1ull << 36)),
                                      "1073741824", REMOTE, NULL, "largest movie part accepted"},
    [FF_SET_HEK_WINDOW_MINUTES] = {"FITSFLOW_HEK_WINDOW_MINUTES", UINT(1, 7 * 24 * 60), "15", REMOTE,
                                   NULL, "HEK events from the observation time to this much later"},
    [FF_SET_REMOTE_MAX_OFFSET_MINUTES] = {"FITSFLOW_REMOTE_MAX_OFFSET_MINUTES", UINT(1, 7 * 24 * 60),
                                          "60", REMOTE, NULL,
                                          "farthest acceptable image from the observation time"},

    [FF_SET_STORE] = {"FITSFLOW_STORE", CHOICE("fs|s3"), "fs", STORE, NULL,
                      "fs keeps objects in the data folder, s3 in FITSFLOW_S3_BUCKET"},
    [FF_SET_S3_BUCKET] = {"FITSFLOW_S3_BUCKET", TEXT(1, 255), NULL, STORE, NULL,
                          "the bucket (required with FITSFLOW_STORE=s3)"},
    [FF_SET_S3_REGION] = {"FITSFLOW_S3_REGION", TEXT(1, 63), NULL, STORE, NULL,
                          "region requests are signed for (AWS_REGION, AWS_DEFAULT_REGION, us-east-1)"},
    [FF_SET_S3_ENDPOINT] = {"FITSFLOW_S3_ENDPOINT", TEXT(1, 255), NULL, STORE, NULL,
                            "http[s]://host[:port] of the S3 API (AWS when unset)"},
    [FF_SET_S3_PATH_STYLE] = {"FITSFLOW_S3_PATH_STYLE", FLAG, "0", STORE, NULL,
                              "1: ENDPOINT/BUCKET/KEY; 0: BUCKET.HOST/KEY"},
    [FF_SET_S3_SSE] = {"FITSFLOW_S3_SSE", TEXT(1, 31), "AES256", STORE, NULL,
                       "server-side encryption on every put: AES256, aws:kms or none"},

    [FF_SET_MAIN_FUNCTION] = {"FITSFLOW_MAIN_FUNCTION", TEXT(1, 255), NULL, L, NULL,
                              "name or ARN of the Main function the Trigger invokes"},
    [FF_SET_JOBS] = {"FITSFLOW_JOBS", UINT(1, 64), "1", L, NULL,
                     "files of one session the Main function processes at once"},
    [FF_SET_DEADLINE_MARGIN] = {"FITSFLOW_DEADLINE_MARGIN", UINT(0, 900), "60", L, NULL,
                                "seconds before the invocation's deadline at which Main stops"},
    [FF_SET_LAMBDA_ENDPOINT] = {"FITSFLOW_LAMBDA_ENDPOINT", URL(255), NULL, L, NULL,
                                "the Lambda Invoke API (https://lambda.REGION.amazonaws.com)"},
};

#undef S
#undef P
#undef L
#undef C
#undef V

const ff_setting *ff_setting_row(ff_setting_id id)
{
    assert(id >= 0 && id < FF_SET_COUNT);
    return &table[id];
}

/* ----- one parser per type ---------------------------------------------------------------- */

static int parse_uint(const ff_setting *row, const char *what, const char *t, ff_setting_value *out,
                      ff_err *err)
{
    if (ff_parse_u64(t, (uint64_t)row->min, (uint64_t)row->max, &out->u) != 0)
        return ff_err_set(err, "%s must be a whole number from %.0f to %.0f, not '%.40s'", what,
                          row->min, row->max, t);
    return 0;
}

static int parse_seconds(const ff_setting *row, const char *what, const char *t,
                         ff_setting_value *out, ff_err *err)
{
    char *end;
    errno = 0;
    double d = strtod(t, &end);
    if (!*t || errno || *end || !isfinite(d) || d < row->min || d > row->max)
        return ff_err_set(err, "%s must be a number of seconds from %g to %g, not '%.40s'", what,
                          row->min, row->max, t);
    out->d = d;
    return 0;
}

static int parse_flag(const char *what, const char *t, ff_setting_value *out, ff_err *err)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(t, yes[i]) || !strcasecmp(t, no[i])) {
            out->u = !strcasecmp(t, yes[i]);
            return 0;
        }
    }
    return ff_err_set(err, "%s must be 1 or 0, not '%.40s'", what, t);
}

static int parse_choice(const ff_setting *row, const char *what, const char *t,
                        ff_setting_value *out, ff_err *err)
{
    size_t tl = strlen(t), index = 0;
    for (const char *c = row->choices; *c; index++) {
        size_t n = strcspn(c, "|");
        if (n == tl && !strncasecmp(c, t, n)) {
            out->u = index;
            return 0;
        }
        c += n + (c[n] == '|');
    }
    char list[128] = "";
    size_t o = 0, count = index;
    index = 0;
    for (const char *c = row->choices; *c && o < sizeof list; index++) {
        size_t n = strcspn(c, "|");
        const char *sep = index == 0 ? "" : index + 1 == count ? " or " : ", ";
        int w = snprintf(list + o, sizeof list - o, "%s%.*s", sep, (int)n, c);
        o += w > 0 ? (size_t)w : 0;
        c += n + (c[n] == '|');
    }
    return ff_err_set(err, "%s must be %s, not '%.40s'", what, list, t);
}

static int parse_text(const ff_setting *row, const char *what, const char *t, ff_setting_value *out,
                      ff_err *err)
{
    size_t n = strlen(t);
    if ((double)n > row->max)
        return ff_err_set(err, "%s is longer than %.0f bytes", what, row->max);
    if ((double)n < row->min)
        return ff_err_set(err, "%s must be at least %.0f characters long", what, row->min);
    out->s = t;
    out->len = n;
    return 0;
}

static int parse_url(const ff_setting *row, const char *what, const char *t, ff_setting_value *out,
                     ff_err *err)
{
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == '/')
        n--;
    if (n == 0 || (double)n > row->max || (strncasecmp(t, "http://", 7) && strncasecmp(t, "https://", 8)))
        return ff_err_set(err, "%s must be an http:// or https:// URL of at most %.0f bytes, not '%.100s'",
                          what, row->max, t);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= ' ' || t[i] == '?' || t[i] == '#')
            return ff_err_set(err, "%s must be a base URL without spaces, query or fragment, not '%.100s'",
                              what, t);
    out->s = t;
    out->len = n;
    return 0;
}

int ff_setting_parse(ff_setting_id id, const char *what, const char *text, ff_setting_value *out,
                     ff_err *err)
{
    const ff_setting *row = ff_setting_row(id);
    ff_setting_value v = {.given = 1, .present = 1};
    if (!what)
        what = row->name;
    int rc;
    switch (row->type) {
    case FF_SETTING_UINT:
        rc = parse_uint(row, what, text, &v, err);
        break;
    case FF_SETTING_SECONDS:
        rc = parse_seconds(row, what, text, &v, err);
        break;
    case FF_SETTING_FLAG:
        rc = parse_flag(what, text, &v, err);
        break;
    case FF_SETTING_CHOICE:
        rc = parse_choice(row, what, text, &v, err);
        break;
    case FF_SETTING_URL:
        rc = parse_url(row, what, text, &v, err);
        break;
    default:
        rc = parse_text(row, what, text, &v, err);
        break;
    }
    if (rc != 0)
        return row->hint ? ff_err_append(err, " (%s)", row->hint) : -1;
    *out = v;
    return 0;
}

/* ----- loading and reading ---------------------------------------------------------------- */

int ff_settings_load(ff_settings *s, unsigned use, ff_err *err)
{
    memset(s, 0, sizeof *s);
    s->loaded = use;
    for (int id = 0; id < FF_SET_COUNT; id++) {
        const ff_setting *row = &table[id];
        const char *env = (row->used_by & use) ? getenv(row->name) : NULL;
        ff_setting_value *v = &s->v[id];
        if (env && *env) {
            if (ff_setting_parse((ff_setting_id)id, NULL, env, v, err) != 0)
                return -1;
        } else if (row->dflt) {
            int rc = ff_setting_parse((ff_setting_id)id, NULL, row->dflt, v, NULL);
            assert(rc == 0 && "a default that its own row refuses");
            (void)rc;
            v->given = 0;
        }
    }
    return 0;
}

void ff_settings_defaults(ff_settings *s)
{
    ff_settings_load(s, 0, NULL);
    s->loaded = FF_USE_ALL;
}

void ff_settings_set(ff_settings *s, ff_setting_id id, const ff_setting_value *v)
{
    s->v[id] = *v;
}

/* The value of id, after checking (in debug builds) that the caller loaded it and reads it as
 * the type it is. */
static const ff_setting_value *get(const ff_settings *s, ff_setting_id id, ff_setting_type type)
{
    const ff_setting *row = ff_setting_row(id);
    assert((row->used_by & s->loaded) && "a setting its command did not load");
    assert((row->type == type || (type == FF_SETTING_TEXT && row->type == FF_SETTING_URL)) &&
           "a setting read as another type");
    (void)row;
    (void)type;
    return &s->v[id];
}

uint64_t ff_settings_uint(const ff_settings *s, ff_setting_id id)
{
    return get(s, id, FF_SETTING_UINT)->u;
}

double ff_settings_seconds(const ff_settings *s, ff_setting_id id)
{
    return get(s, id, FF_SETTING_SECONDS)->d;
}

int ff_settings_flag(const ff_settings *s, ff_setting_id id)
{
    return (int)get(s, id, FF_SETTING_FLAG)->u;
}

int ff_settings_choice(const ff_settings *s, ff_setting_id id)
{
    return (int)get(s, id, FF_SETTING_CHOICE)->u;
}

const char *ff_settings_text(const ff_settings *s, ff_setting_id id)
{
    const ff_setting_value *v = get(s, id, FF_SETTING_TEXT);
    assert(ff_setting_row(id)->type == FF_SETTING_TEXT && "a URL read as text: use ff_settings_copy");
    return v->present ? v->s : NULL;
}

void ff_settings_copy(const ff_settings *s, ff_setting_id id, char *dst, size_t cap)
{
    const ff_setting_value *v = get(s, id, FF_SETTING_TEXT);
    size_t n = v->present ? v->len : 0;
    assert(n < cap && "a buffer smaller than the setting's longest value");
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, n ? v->s : "", n);
    dst[n] = '\0';
}

uint64_t ff_setting_default_uint(ff_setting_id id)
{
    const ff_setting *row = ff_setting_row(id);
    ff_setting_value v = {0};
    assert(row->type == FF_SETTING_UINT && row->dflt);
    if (row->dflt && ff_setting_parse(id, NULL, row->dflt, &v, NULL) != 0)
        assert(!"a default that its own row refuses");
    return v.u;
}

int ff_settings_given(const ff_settings *s, ff_setting_id id)
{
    const ff_setting *row = ff_setting_row(id);
    assert((row->used_by & s->loaded) && "a setting its command did not load");
    (void)row;
    return s->v[id].given;
}
