/* See glue.h. The __has_include tests are temporary: once the session runner (queue branch) and
 * the daily video (remote branch) are merged they are always true and can be removed. */
#include "lambda/glue.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

#if __has_include("pipeline/session.c")
#define HAVE_SESSION 1
#include "pipeline/session.h"
#endif
#if __has_include("pipeline/clean.c")
#define HAVE_CLEAN 1
#include "pipeline/clean.h"
#endif
#if __has_include("pipeline/daily_video.h")
#define HAVE_DAILY_VIDEO 1
#include "pipeline/daily_video.h"
#include "remote/remote.h"
#endif

#ifdef HAVE_SESSION
int ff_lambda_sid_valid(const char *sid)
{
    return ff_session_id_valid(sid);
}

int ff_lambda_upload_name_valid(const char *name, ff_err *err)
{
    return ff_upload_name_valid(name, err);
}

static int should_stop(void *ctx)
{
    ff_lambda_ctx *c = ctx;
    return c->current &&
           ff_lambda_remaining_ms(c->current) < (int64_t)c->deadline_margin_s * 1000;
}

int ff_lambda_run_session(ff_lambda_ctx *c, const char *sid, ff_err *err)
{
    ff_session_hooks hooks = {.should_stop = should_stop, .ctx = c};
    return ff_session_process(&c->pipeline, c->store, sid, c->jobs, &hooks, err);
}
#else
/* The rules of session.h, until its implementation is merged. */
int ff_lambda_sid_valid(const char *sid)
{
    size_t n = strlen(sid);
    if (n < 8 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)sid[i]) || isdigit((unsigned char)sid[i]) || sid[i] == '-'))
            return 0;
    return 1;
}

int ff_lambda_upload_name_valid(const char *name, ff_err *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || name[0] == '.') {
        ff_err_set(err, "file name must be 1 to 200 characters and not start with '.'");
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)name[i]) || name[i] == '.' || name[i] == '_' || name[i] == '-')) {
            ff_err_set(err, "file name may hold only letters, digits, '.', '_' and '-'");
            return 0;
        }
    static const char *const ends[] = {".fits", ".fit", ".fts", ".fits.gz"};
    for (size_t i = 0; i < 4; i++) {
        size_t el = strlen(ends[i]);
        if (n > el && !strcasecmp(name + n - el, ends[i]))
            return 1;
    }
    ff_err_set(err, "file name must end in .fits, .fit, .fts or .fits.gz");
    return 0;
}

int ff_lambda_run_session(ff_lambda_ctx *c, const char *sid, ff_err *err)
{
    (void)c;
    (void)sid;
    return ff_err_set(err, "session processing is not in this build yet (it needs the session "
                           "runner, ff_session_process)");
}
#endif

#ifdef HAVE_CLEAN
int ff_lambda_run_clean(ff_lambda_ctx *c, time_t now, json_t *report, ff_err *err)
{
    ff_clean_report rep = {0};
    if (ff_clean_sessions(c->store, now, c->retention_hours, NULL, NULL, &rep, err) != 0)
        return -1;
    json_object_set_new(report, "sessions_deleted", json_integer(rep.sessions_deleted));
    json_object_set_new(report, "sessions_kept", json_integer(rep.sessions_kept));
    json_object_set_new(report, "sessions_busy", json_integer(rep.sessions_busy));
    json_object_set_new(report, "objects_deleted", json_integer(rep.objects_deleted));
    return 0;
}
#else
int ff_lambda_run_clean(ff_lambda_ctx *c, time_t now, json_t *report, ff_err *err)
{
    (void)c;
    (void)now;
    (void)report;
    return ff_err_set(err, "cleaning is not in this build yet (it needs ff_clean_sessions)");
}
#endif

#ifdef HAVE_DAILY_VIDEO
int ff_lambda_run_daily_video(ff_lambda_ctx *c, time_t now, json_t *report, ff_err *err)
{
    ff_remote_config rcfg;
    ff_remote_config_defaults(&rcfg);
    if (ff_remote_config_from_env(&rcfg, err) != 0)
        return -1;
    ff_remote *r = ff_remote_open(&rcfg, err);
    if (!r)
        return -1;
    char date[9];
    ff_daily_video_date(now, date);
    ff_daily_video_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = ff_daily_video_build(r, c->store, date, 0, &rep, err);
    ff_remote_close(r);
    if (rc != 0)
        return -1;
    json_object_set_new(report, "date", json_string(rep.date));
    json_object_set_new(report, "key", json_string(rep.key));
    json_object_set_new(report, "already_built", json_boolean(rep.already_built));
    json_object_set_new(report, "channels_used", json_integer(rep.channels_used));
    json_object_set_new(report, "missing", json_string(rep.missing));
    json_object_set_new(report, "bytes", json_integer((json_int_t)rep.bytes));
    return 0;
}
#else
int ff_lambda_run_daily_video(ff_lambda_ctx *c, time_t now, json_t *report, ff_err *err)
{
    (void)c;
    (void)now;
    (void)report;
    return ff_err_set(err, "the daily movie is not in this build yet (it needs ff_daily_video_build)");
}
#endif
