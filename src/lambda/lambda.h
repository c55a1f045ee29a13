/* The AWS Lambda front end: the four functions of the original FitsFlow, chosen by the function's
 * handler setting (_HANDLER), each turning its event into pipeline calls over the store.
 *
 *   trigger  API Gateway HTTP API (payload 2.0) GET with ?session_id=S&filename=F&contentType=T:
 *            {"url": presigned PUT URL, "key": "temp/S/fits/F"}; with only ?session_id=S: invokes
 *            the main function asynchronously with {"session_id": S} and answers
 *            {"status": "Processing Started!", "session_id": S}.
 *   main     {"session_id": S}: processes the session (ff_session_process). Stops between files
 *            when the invocation's deadline is near and fails, so that Lambda's retry of the
 *            asynchronous event resumes it (the session runner is resumable).
 *   asdf     {"session_id": S, "file": F}: runs the per-file pipeline (ending in the ASDF bundle)
 *            for one upload of the session, as the original's separate ASDF function did.
 *   clean    the EventBridge scheduled event: deletes sessions older than the retention, then
 *            builds the daily movie of two days ago.
 *
 * Settings: the rows of base/settings.h used by FF_USE_LAMBDA (the store's, with FITSFLOW_DATA_DIR
 * defaulting to /tmp/fitsflow-data; FITSFLOW_PRESIGN_TTL, FITSFLOW_MAIN_FUNCTION,
 * FITSFLOW_LAMBDA_ENDPOINT, FITSFLOW_RETENTION_HOURS, FITSFLOW_JOBS, FITSFLOW_DEADLINE_MARGIN, the
 * pipeline's and the remote services'), loaded once by cmd_lambda. */
#ifndef FF_LAMBDA_LAMBDA_H
#define FF_LAMBDA_LAMBDA_H

#include "lambda/runtime.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

struct ff_settings;
struct ff_remote;

typedef struct ff_lambda_ctx {
    ff_store *store;
    struct ff_remote *remote;
    ff_pipeline_config pipeline;
    int presign_ttl;
    int retention_hours;
    int jobs;
    int deadline_margin_s;
    const char *main_function;
    char lambda_endpoint[256]; /* "" = https://lambda.REGION.amazonaws.com */
    const ff_lambda_invocation *current; /* set while an invocation runs */
} ff_lambda_ctx;

/* Takes the settings, opens the remote session and the store. -1 with a reason. */
int ff_lambda_ctx_init(ff_lambda_ctx *c, const struct ff_settings *s, ff_err *err);
void ff_lambda_ctx_free(ff_lambda_ctx *c);

/* The handler for a _HANDLER value ("trigger", or "anything.trigger"), or NULL. */
ff_lambda_handler_fn ff_lambda_handler_find(const char *name);

int ff_lambda_trigger(void *ctx, const ff_lambda_invocation *inv, char **response,
                      const char **error_type, ff_err *err);
int ff_lambda_main(void *ctx, const ff_lambda_invocation *inv, char **response,
                   const char **error_type, ff_err *err);
int ff_lambda_asdf(void *ctx, const ff_lambda_invocation *inv, char **response,
                   const char **error_type, ff_err *err);
int ff_lambda_clean(void *ctx, const ff_lambda_invocation *inv, char **response,
                    const char **error_type, ff_err *err);

/* Invokes function (name or ARN) with payload (JSON) as an asynchronous event through the
 * Lambda Invoke API at endpoint ("" = https://lambda.REGION.amazonaws.com), signed with the
 * environment's credentials for AWS_REGION. */
int ff_lambda_invoke_async(const char *endpoint, const char *function, const char *payload,
                           ff_err *err);

#endif
