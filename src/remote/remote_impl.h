/* What the remote module's files share and nobody else sees: the session struct and helpers. */
#ifndef FF_REMOTE_IMPL_H
#define FF_REMOTE_IMPL_H

#include <curl/curl.h>
#include <pthread.h>

#include "remote/remote.h"

#define FF_LISTING_CACHE 8
#define FF_LISTING_TTL_S 300.0

typedef struct listing_entry {
    char url[FF_REMOTE_URL_MAX + 64];
    char *html;        /* owned */
    size_t len;
    double fetched_at; /* monotonic seconds */
} listing_entry;

struct ff_remote {
    ff_remote_config cfg;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    char user_agent[64];
    pthread_mutex_t cache_lock;
    listing_entry cache[FF_LISTING_CACHE];
    unsigned cache_next;
    pthread_mutex_t seed_lock;
    uint64_t seed;
};

/* Gets a directory listing through the session's short-lived cache (a session of files from
 * one day asks for the same listing many times). *html is a malloc'd copy. */
int ff_remote_get_listing(ff_remote *r, const char *url, char **html, size_t *len, int *requests,
                          ff_err *err);

/* Sets res->message (printf-style; control characters become spaces: it is one log line) and
 * returns -1 when !ok, 0 when ok. */
int ff_remote_result_msg(ff_remote_result *res, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "2013-06-24T17:31:31Z" for seconds since 1970 (rounded to the second). */
void ff_remote_iso(double t, char buf[32]);

/* The observation time as seconds since 1970 (UTC) or -1 with a reason in res. */
int ff_remote_obs_time(const ff_obsmeta *meta, double *t);

#include "remote/answers.h"

#endif
