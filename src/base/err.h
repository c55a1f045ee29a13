/* Errors are values: a function that can fail returns 0 on success or -1 on failure and, on
 * failure, fills an ff_err with one sentence a person can act on (no trailing newline). */
#ifndef FF_BASE_ERR_H
#define FF_BASE_ERR_H

#define FF_ERR_MAX 512

/* What kind of failure it was, for callers that decide whether to try again. Only the object
 * store classifies its failures today; everything else stays FF_ERR_OTHER. */
typedef enum ff_err_kind {
    FF_ERR_OTHER = 0,  /* not classified: bad input, a bug, out of memory, a local error */
    FF_ERR_TRANSIENT,  /* may pass when tried again later: unreachable, timeout, HTTP 5xx or 429 */
    FF_ERR_PERMANENT,  /* the store refused and would refuse again: HTTP 4xx (access, bucket) */
} ff_err_kind;

typedef struct ff_err {
    char msg[FF_ERR_MAX];
    ff_err_kind kind;
} ff_err;

/* Sets the message (printf-style) and resets the kind to FF_ERR_OTHER. err may be NULL. Always
 * returns -1 so callers can `return ff_err_set(err, ...);`. */
int ff_err_set(ff_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the kind of the failure err describes (ff_err_prefix keeps it). err may be NULL. Returns
 * -1. */
int ff_err_set_kind(ff_err *err, ff_err_kind kind);

/* Appends to an existing message (printf-style), keeping the kind. Returns -1. */
int ff_err_append(ff_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message: "prefix: old message". Returns -1. */
int ff_err_prefix(ff_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
