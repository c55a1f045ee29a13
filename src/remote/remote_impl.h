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

/* Sets res->message (printf-style) and returns -1 when !ok, 0 when ok. */
int ff_remote_result_msg(ff_remote_result *res, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "2013-06-24T17:31:31Z" for seconds since 1970 (rounded to the second). */
void ff_remote_iso(double t, char buf[32]);

/* The observation time as seconds since 1970 (UTC) or -1 with a reason in res. */
int ff_remote_obs_time(const ff_obsmeta *meta, double *t);

/* Image bytes (PNG, JPEG or JPEG 2000) -> PNG: a valid PNG is kept as it is, the others are
 * decoded and re-encoded. gray_out = 1 converts colour to gray. Fills *png (malloc'd). */
int ff_remote_to_png(const unsigned char *buf, size_t len, int gray_out, uint64_t max_pixels,
                     unsigned char **png, size_t *png_len, const char **what, ff_err *err);


/* 0 when buf is a complete PNG that decodes (header, every chunk's CRC, the image data). */
int ff_remote_png_check(const unsigned char *buf, size_t len, uint64_t max_pixels,
                        unsigned *width, unsigned *height, ff_err *err);

/* getClosestImage's answer (helioviewer.c): 0 with the image's id (digits) and its date ("" when
 * absent), or -1 with the reason in res (not JSON, an error, no id, too far from t, the observation
 * time in seconds since 1970, written iso). */
int ff_helioviewer_closest_answer(const unsigned char *body, size_t len, const char *content_type,
                                  double t, const char *iso, int source_id, int max_offset_minutes,
                                  char id[32], char date[40], ff_remote_result *res);

/* The events API's answer (hek.c): 0 when it is a JSON array or object without an "error", with
 * the number of events counted in *nevents; else -1 with the reason in res. */
int ff_hek_events_answer(const unsigned char *body, size_t len, const char *content_type,
                         size_t *nevents, ff_remote_result *res);

#endif
