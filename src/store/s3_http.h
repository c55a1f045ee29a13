/* One signed HTTP exchange with S3 over libcurl (shared connection cache, retries with backoff on
 * 5xx and network errors), and the small XML readers S3's answers need. Private to src/store/. */
#ifndef FF_STORE_S3_HTTP_H
#define FF_STORE_S3_HTTP_H

#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "store/s3_target.h"
#include "store/s3_xml.h"
#include "store/backend.h"

typedef struct ff_s3_http ff_s3_http;

ff_s3_http *ff_s3_http_new(ff_err *err);
void ff_s3_http_free(ff_s3_http *h);

typedef struct ff_s3_call {
    const char *method;             /* GET PUT POST HEAD DELETE */
    const char *key;                /* NULL: the bucket itself */
    const ff_sigv4_pair *query;     /* unencoded parameters */
    size_t n_query;
    const ff_sigv4_pair *headers;   /* extra headers, signed */
    size_t n_headers;
    const void *body;
    size_t body_len;
    size_t max_response;            /* bytes of response body kept; more fails the call */
} ff_s3_call;

typedef struct ff_s3_resp {
    long status;
    char *body;                     /* malloc'd, NUL-terminated; may be NULL */
    size_t body_len;
    char etag[72];
    uint64_t content_length;
    int have_length;
    time_t last_modified;
} ff_s3_resp;

/* Performs the call; 0 with resp filled for any HTTP status (the caller judges it), -1 when no
 * answer came after the retries (err filled). Free resp->body with ff_s3_resp_free. */
int ff_s3_http_call(ff_s3_http *h, const ff_s3_target *t, const ff_s3_call *c, ff_s3_resp *resp,
                    ff_err *err);
void ff_s3_resp_free(ff_s3_resp *r);

/* Prepares curl (an easy handle) for call c without performing it: the signed request's URL and
 * headers (*hl, to free with curl_slist_free_all after the transfer), the shared connection
 * cache, timeouts and the CA bundle. The caller sets the callbacks and the method. c->body is
 * only hashed here. Returns 0, or -1 with err. */
int ff_s3_http_setup(ff_s3_http *h, const ff_s3_target *t, const ff_s3_call *c, CURL *curl,
                     struct curl_slist **hl, ff_err *err);

/* When line is the header "name: value" (any case), its value without surrounding blanks and
 * line ending (*vlen bytes, not NUL-terminated); else NULL. */
const char *ff_s3_header_value(const char *line, size_t len, const char *name, size_t *vlen);

/* The s3 backend's streaming reader (s3_read.c): the ff_store_ops reader entries, with the
 * store's connection cache and target. */
int ff_s3_reader_open(ff_store *s, ff_s3_http *h, const ff_s3_target *t, const char *key,
                      uint64_t offset, uint64_t len, ff_store_stat *st, ff_store_reader **out,
                      ff_err *err);
int ff_s3_reader_read(ff_store_reader *r, void *buf, size_t cap, size_t *got, ff_err *err);
void ff_s3_reader_close(ff_store_reader *r);

/* Fills err from an S3 error answer ("S3 PUT 'key' failed: HTTP 403 AccessDenied: message") and
 * records the fault (UNAVAILABLE for 5xx and 429, else REMOTE). Returns -1. */
int ff_s3_fail(ff_err *err, const char *what, const char *key, const ff_s3_resp *r);
/* 1 for answers worth another try later: 5xx, 429. */
int ff_s3_status_transient(long status);

/* Sets curl's timeouts for one exchange from the thread's store deadline (ff_store_set_deadline):
 * the whole exchange within what is left, except that an exchange sending a large body (body_len
 * over 1 MiB) is only stopped when nothing moves for that long. Without a deadline: 10 s to
 * connect, 60 s without progress. Returns 0, or -1 with err (fault TIMEOUT) when the deadline has
 * passed already. */
int ff_s3_http_timeouts(CURL *curl, size_t body_len, ff_err *err);
/* Records the fault of a failed transfer (curl's code) and fills err. Returns -1. */
int ff_s3_curl_fail(ff_err *err, const ff_s3_target *t, CURLcode cc);

#endif
