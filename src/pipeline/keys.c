/* The storage key layout (keys.h). */
#include "pipeline/keys.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/session.h"
#include "store/store.h"

static int make(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int make(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

int ff_key_session(char *out, size_t cap, const char *sid)
{
    assert(ff_session_id_valid(sid));
    return make(out, cap, FF_KEY_TEMP "%s/", sid);
}

int ff_key_upload(char *out, size_t cap, const char *sid, const char *name)
{
    assert(ff_session_id_valid(sid));
    return make(out, cap, FF_KEY_TEMP "%s/fits/%s", sid, name);
}

int ff_key_processed(char *out, size_t cap, const char *sid, const char *rel)
{
    assert(ff_session_id_valid(sid));
    return make(out, cap, FF_KEY_TEMP "%s/processed/%s", sid, rel);
}

int ff_key_log(char *out, size_t cap, const char *sid, const char *name)
{
    assert(ff_session_id_valid(sid));
    return make(out, cap, FF_KEY_TEMP "%s/logs/%s", sid, name);
}

int ff_key_state(char *out, size_t cap, const char *sid, const char *base)
{
    assert(ff_session_id_valid(sid));
    if (!base)
        return make(out, cap, FF_KEY_TEMP "%s/state/", sid);
    return make(out, cap, FF_KEY_TEMP "%s/state/%s.json", sid, base);
}

int ff_key_daily_video(char *out, size_t cap, const char *date)
{
    return make(out, cap, FF_KEY_DAILY_VIDEOS "%s_stitched.mp4", date);
}

int ff_key_log_name(char *out, size_t cap, const char *base, int step)
{
    return make(out, cap, "%s_log_%d.txt", base, step);
}

int ff_key_split_upload(const char *key, char *sid, size_t sidcap, const char **name, ff_err *err)
{
    if (ff_store_key_valid(key, err) != 0)
        return -1;
    if (strncmp(key, FF_KEY_TEMP, strlen(FF_KEY_TEMP)) != 0)
        return ff_err_set(err, "uploads go to temp/{session}/fits/{file}");
    const char *s = key + strlen(FF_KEY_TEMP);
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sidcap || strncmp(slash, "/fits/", 6) != 0 ||
        strchr(slash + 6, '/'))
        return ff_err_set(err, "uploads go to temp/{session}/fits/{file}");
    memcpy(sid, s, (size_t)(slash - s));
    sid[slash - s] = '\0';
    if (!ff_session_id_valid(sid))
        return ff_err_set(err, "session id must be 8 to 64 characters of a-z, 0-9 and '-'");
    *name = slash + 6;
    return 0;
}

ff_key_kind ff_key_classify(const char *key)
{
    if (!strncmp(key, FF_KEY_DAILY_VIDEOS, strlen(FF_KEY_DAILY_VIDEOS)))
        return FF_KEY_DAILY_VIDEO;
    if (strncmp(key, FF_KEY_TEMP, strlen(FF_KEY_TEMP)) != 0)
        return FF_KEY_OTHER;
    const char *slash = strchr(key + strlen(FF_KEY_TEMP), '/');
    if (slash && !strncmp(slash, "/state/", 7))
        return FF_KEY_STATE;
    if (slash && !strncmp(slash, "/processed/", 11))
        return FF_KEY_OUTPUT;
    return FF_KEY_OTHER;
}
