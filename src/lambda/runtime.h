/* The AWS Lambda Runtime API (custom runtime, version 2018-06-01): fetch the next invocation,
 * post its response or error, report an init error; and the loop that drives a handler with it.
 * The X-Ray trace id of each invocation is exported as _X_AMZN_TRACE_ID while it runs. */
#ifndef FF_LAMBDA_RUNTIME_H
#define FF_LAMBDA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define FF_LAMBDA_EVENT_MAX (6u << 20) /* the largest synchronous payload Lambda accepts */

typedef struct ff_lambda_invocation {
    char request_id[128];     /* Lambda-Runtime-Aws-Request-Id */
    int64_t deadline_ms;      /* Lambda-Runtime-Deadline-Ms (Unix ms); 0 when not given */
    char function_arn[256];   /* Lambda-Runtime-Invoked-Function-Arn */
    char trace_id[512];       /* Lambda-Runtime-Trace-Id, "" when absent */
    char *event;              /* the event JSON, NUL-terminated, owned */
    size_t event_len;
} ff_lambda_invocation;

/* Milliseconds left before inv's deadline (INT64_MAX when it has none). */
int64_t ff_lambda_remaining_ms(const ff_lambda_invocation *inv);

typedef struct ff_lambda_runtime ff_lambda_runtime;

/* api is AWS_LAMBDA_RUNTIME_API ("host:port"). */
ff_lambda_runtime *ff_lambda_runtime_open(const char *api, ff_err *err);
void ff_lambda_runtime_close(ff_lambda_runtime *rt);

/* Blocks until the next invocation (long poll, no time limit). */
int ff_lambda_next(ff_lambda_runtime *rt, ff_lambda_invocation *inv, ff_err *err);
void ff_lambda_invocation_free(ff_lambda_invocation *inv);

/* Posts the handler's JSON result for request_id. */
int ff_lambda_respond(ff_lambda_runtime *rt, const char *request_id, const char *body, size_t len,
                      ff_err *err);

/* Posts {"errorMessage", "errorType", "stackTrace": []} for request_id, or, with request_id
 * NULL, to init/error (the function could not start). */
int ff_lambda_report_error(ff_lambda_runtime *rt, const char *request_id, const char *type,
                           const char *message, ff_err *err);

/* A handler: fills *response (malloc'd JSON) and returns 0, or returns -1 with err filled and
 * *error_type (a static string such as "InvalidEvent") set. */
typedef int (*ff_lambda_handler_fn)(void *ctx, const ff_lambda_invocation *inv, char **response,
                                    const char **error_type, ff_err *err);

/* Runs invocations through fn until max_invocations have been handled (0 = forever) or the
 * Runtime API fails. Returns 0 after max_invocations, -1 (err filled) on a Runtime API failure. */
int ff_lambda_loop(ff_lambda_runtime *rt, ff_lambda_handler_fn fn, void *ctx, long max_invocations,
                   ff_err *err);

#endif
