/* The storage key layout (DESIGN.md, "Storage keys"): every key of a session and of the nightly
 * movie is made here, and nowhere else; front ends (server, Lambda) ask for keys instead of
 * spelling them. The original browser client depends on these exact keys.
 *
 *   temp/{sid}/fits/{name}            uploads
 *   temp/{sid}/processed/{rel}        outputs ({rel} as in the manifest)
 *   temp/{sid}/logs/{name}            the log protocol's objects
 *   temp/{sid}/state/{base}.json      per-file state for resuming; never served
 *   daily_videos/{YYYYMMDD}_stitched.mp4
 *   temp/.leases/{name}              leases of instances sharing a bucket (pipeline/lease.h);
 *                                    hidden: never served, never a session
 *
 * Each maker writes into out (cap bytes) and returns 0, or -1 when the key would not fit (out
 * then holds "", never a cut key). An empty last part ("") gives the folder, ending in '/'. The
 * session id is not checked here: callers check it first (asserted in debug builds). */
#ifndef FF_PIPELINE_KEYS_H
#define FF_PIPELINE_KEYS_H

#include <stddef.h>

#include "base/err.h"

#define FF_KEY_TEMP "temp/"                  /* every session is a folder under it */
#define FF_KEY_DAILY_VIDEOS "daily_videos/"  /* the nightly movies */
#define FF_KEY_LEASES "temp/.leases/"        /* the leases */

int ff_key_session(char *out, size_t cap, const char *sid);                       /* temp/{sid}/ */
int ff_key_upload(char *out, size_t cap, const char *sid, const char *name);
int ff_key_processed(char *out, size_t cap, const char *sid, const char *rel);
int ff_key_log(char *out, size_t cap, const char *sid, const char *name);
/* base NULL: the state folder. */
int ff_key_state(char *out, size_t cap, const char *sid, const char *base);
int ff_key_daily_video(char *out, size_t cap, const char *date);

/* The name of a file's log of a step ("{base}_log_{step}.txt"), as the log protocol has it. */
int ff_key_log_name(char *out, size_t cap, const char *base, int step);

/* Splits an upload key, which must be exactly temp/{sid}/fits/{name} with a valid store key and
 * session id: 0 with sid copied (sidcap bytes) and *name pointing into key, or -1 with err. The
 * name itself is not checked here (ff_upload_name_valid). */
int ff_key_split_upload(const char *key, char *sid, size_t sidcap, const char **name, ff_err *err);

/* What a key under temp/ or daily_videos/ is, for serving it. */
typedef enum ff_key_kind {
    FF_KEY_OTHER,       /* anything else (uploads, logs, keys outside the layout) */
    FF_KEY_OUTPUT,      /* under temp/{sid}/processed/: data, never pages */
    FF_KEY_STATE,       /* under temp/{sid}/state/: how processing resumes, never served */
    FF_KEY_DAILY_VIDEO, /* under daily_videos/: never changes once made */
} ff_key_kind;
ff_key_kind ff_key_classify(const char *key);

#endif
