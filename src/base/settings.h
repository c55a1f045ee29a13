/* Every FITSFLOW_* environment variable, in one table (settings.c): its type, range, default,
 * which commands read it, and one line of help. This is the only code that reads a FITSFLOW_*
 * variable. A front end loads the variables of its command once at start (ff_settings_load),
 * which checks each against its row and refuses a bad value with one message per type; then it
 * hands the loaded settings to the config builders of the layers (ff_server_config_from_settings,
 * ff_pipeline_config_from_settings, ff_remote_config_from_settings, ff_store_open_configured),
 * so that no library code calls getenv. A command-line flag that sets the same thing is parsed
 * by the same row (ff_setting_parse), so flag and variable have one range.
 *
 * Not here: variables FitsFlow does not own, which keep their platform's meaning and are read
 * where they are used: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
 * AWS_DEFAULT_REGION (store/sigv4.c, store/s3_target.c, lambda/invoke.c), AWS_LAMBDA_RUNTIME_API,
 * _HANDLER, _X_AMZN_TRACE_ID (the Lambda runtime), SSL_CERT_FILE (base/cabundle.c) and TMPDIR.
 * The README lists them apart from the FITSFLOW_* tables.
 *
 * A test (tests/e2e/test_settings_documented.py) holds the README's tables to this one both ways. */
#ifndef FF_BASE_SETTINGS_H
#define FF_BASE_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum ff_setting_id {
    /* fitsflow serve */
    FF_SET_LISTEN,
    FF_SET_DATA_DIR,
    FF_SET_PUBLIC_URL,
    FF_SET_SECRET,
    FF_SET_PRESIGN_TTL,
    FF_SET_SESSION_LIMIT_MB,
    FF_SET_SESSION_MAX_FILES,
    FF_SET_STORE_TIMEOUT_MS,
    FF_SET_STORE_THREADS,
    FF_SET_CORS_ORIGINS,
    FF_SET_WORKERS,
    FF_SET_HTTP_THREADS,
    FF_SET_RATE_LIMIT,
    FF_SET_RATE_BURST,
    FF_SET_MAX_CONNECTIONS,
    FF_SET_MAX_CONNECTIONS_PER_IP,
    FF_SET_REQUEST_TIMEOUT,
    FF_SET_HEADER_TIMEOUT,
    FF_SET_UPLOAD_CONNECTIONS,
    FF_SET_UPLOAD_BUFFER_KB,
    FF_SET_MAX_HEADER_BYTES,
    FF_SET_MIN_UPLOAD_RATE,
    FF_SET_SHUTDOWN_TIMEOUT,
    FF_SET_CLEAN_CRON,
    FF_SET_RETENTION_HOURS,
    FF_SET_WEB_DIR,
    FF_SET_JOB_ATTEMPTS,
    FF_SET_JOB_BACKOFF_MS,
    FF_SET_JOB_BACKOFF_MAX_MS,
    FF_SET_LEASE_SECONDS,
    FF_SET_LEASE_SETTLE_MS,
    /* processing (every command that processes files) */
    FF_SET_MAX_PIXELS,
    FF_SET_PNG_MAX,
    FF_SET_FILES_AT_ONCE,
    FF_SET_OFFLINE,
    FF_SET_SDO_ONLY,
    FF_SET_OUTPUTS,
    FF_SET_ML_SIZE,
    FF_SET_ASDF_COMPRESS,
    FF_SET_ASDF_CREATOR,
    FF_SET_ASDF_INSTITUTION,
    FF_SET_ASDF_AWARD,
    FF_SET_ASDF_DESCRIPTION,
    FF_SET_SESSION_MAX_PIXELS,
    FF_SET_SESSION_MAX_OUTPUT_MB,
    FF_SET_MEMORY_MB,
    FF_SET_LOG_LEVEL,
    FF_SET_FSYNC,
    /* the remote services */
    FF_SET_HELIOVIEWER_URL,
    FF_SET_JSOC_URL,
    FF_SET_SDO_URL,
    FF_SET_HTTP_TIMEOUT,
    FF_SET_HTTP_CONNECT_TIMEOUT,
    FF_SET_HTTP_RETRIES,
    FF_SET_HTTP_BACKOFF_MS,
    FF_SET_HTTP_MAX_BYTES,
    FF_SET_DAILY_VIDEO_MAX_BYTES,
    FF_SET_HEK_WINDOW_MINUTES,
    FF_SET_REMOTE_MAX_OFFSET_MINUTES,
    /* the object store */
    FF_SET_STORE,
    FF_SET_S3_BUCKET,
    FF_SET_S3_REGION,
    FF_SET_S3_ENDPOINT,
    FF_SET_S3_PATH_STYLE,
    FF_SET_S3_SSE,
    /* AWS Lambda */
    FF_SET_MAIN_FUNCTION,
    FF_SET_JOBS,
    FF_SET_DEADLINE_MARGIN,
    FF_SET_LAMBDA_ENDPOINT,
    FF_SET_COUNT
} ff_setting_id;

typedef enum ff_setting_type {
    FF_SETTING_UINT,    /* a whole number in [min, max] */
    FF_SETTING_SECONDS, /* a decimal number of seconds in [min, max] */
    FF_SETTING_FLAG,    /* 1 or 0 (also true/false, yes/no, on/off) */
    FF_SETTING_CHOICE,  /* one of choices ("a|b|c"), in any case; its index */
    FF_SETTING_TEXT,    /* min to max bytes */
    FF_SETTING_URL,     /* an http:// or https:// base URL of at most max bytes, no query,
                           fragment or blanks; trailing slashes dropped */
} ff_setting_type;

/* The commands that read a setting (bits of ff_setting.used_by). */
enum {
    FF_USE_SERVE = 1u << 0,
    FF_USE_PROCESS = 1u << 1,
    FF_USE_LAMBDA = 1u << 2,
    FF_USE_CLEAN = 1u << 3,
    FF_USE_DAILY_VIDEO = 1u << 4,
    FF_USE_ALL = 0x1fu,
};

typedef struct ff_setting {
    const char *name;    /* "FITSFLOW_..." */
    ff_setting_type type;
    double min, max;     /* UINT, SECONDS: the range; TEXT, URL: the length in bytes */
    const char *choices; /* CHOICE: "debug|info|warn|error" */
    const char *dflt;    /* the default, written as the variable would be; NULL: none, or
                            worked out where it is used (the help says how) */
    unsigned used_by;    /* FF_USE_* */
    const char *hint;    /* appended to the error message, or NULL */
    const char *help;    /* one line, for people */
} ff_setting;

/* The table, indexed by ff_setting_id. */
const ff_setting *ff_setting_row(ff_setting_id id);

/* One setting's value: parsed from the environment, or its default. */
typedef struct ff_setting_value {
    int given;        /* 1: from the environment (or a flag); 0: the default */
    int present;      /* 0: unset and without a default */
    uint64_t u;       /* UINT, FLAG, CHOICE */
    double d;         /* SECONDS */
    const char *s;    /* TEXT, URL (not NUL-terminated at len for a URL: use ff_settings_copy) */
    size_t len;
} ff_setting_value;

typedef struct ff_settings {
    unsigned loaded;  /* the FF_USE_* bits loaded */
    ff_setting_value v[FF_SET_COUNT];
} ff_settings;

/* Reads the variables of the commands in `use` (FF_USE_* bits) from the environment; an unset or
 * empty one takes its default. The others hold their defaults too, but reading them is a bug
 * (asserted in debug builds). Returns 0, or -1 with the first bad variable's message ("NAME must
 * be a whole number from 1 to 64, not 'x'"). String values point into the environment. */
int ff_settings_load(ff_settings *s, unsigned use, ff_err *err);

/* Every setting at its default, as if the environment set none (for code and tests that build
 * a configuration without the environment). */
void ff_settings_defaults(ff_settings *s);

/* Parses text as setting id: the same range and messages, the message naming `what` (the
 * variable's name when NULL, else e.g. "--workers"). 0, or -1 with err. */
int ff_setting_parse(ff_setting_id id, const char *what, const char *text, ff_setting_value *out,
                     ff_err *err);

/* Puts a flag's value in place of what the environment said. */
void ff_settings_set(ff_settings *s, ff_setting_id id, const ff_setting_value *v);

/* A setting's value by type (the row's type is asserted). */
uint64_t ff_settings_uint(const ff_settings *s, ff_setting_id id);
double ff_settings_seconds(const ff_settings *s, ff_setting_id id);
int ff_settings_flag(const ff_settings *s, ff_setting_id id);
int ff_settings_choice(const ff_settings *s, ff_setting_id id);
/* TEXT: the string, or NULL when unset without a default. */
const char *ff_settings_text(const ff_settings *s, ff_setting_id id);
/* TEXT, URL: copies the value into dst (cap bytes, more than the row's max); "" when unset. */
void ff_settings_copy(const ff_settings *s, ff_setting_id id, char *dst, size_t cap);
/* A UINT row's default, for code that holds no loaded settings. */
uint64_t ff_setting_default_uint(ff_setting_id id);
/* 1 when the environment (or a flag) set it. */
int ff_settings_given(const ff_settings *s, ff_setting_id id);

#endif
