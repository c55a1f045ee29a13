/* Errors are values: a function that can fail returns 0 on success or -1 on failure and, on
 * failure, fills an ff_err with one sentence a person can act on (no trailing newline). */
#ifndef FF_CORE_ERR_H
#define FF_CORE_ERR_H

#define FF_ERR_MAX 512

typedef struct ff_err {
    char msg[FF_ERR_MAX];
} ff_err;

/* Sets the message (printf-style). err may be NULL. Always returns -1 so callers can
 * `return ff_err_set(err, ...);`. */
int ff_err_set(ff_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message: "prefix: old message". Returns -1. */
int ff_err_prefix(ff_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
