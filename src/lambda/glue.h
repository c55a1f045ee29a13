/* The pipeline calls the Lambda handlers make, in one place. While this branch was written the
 * session runner, the clean job and the daily video were still on other branches; glue.c calls
 * them when their sources are in the tree and otherwise fails with a clear error. Private to
 * src/lambda/. */
#ifndef FF_LAMBDA_GLUE_H
#define FF_LAMBDA_GLUE_H

#include <time.h>

#include <jansson.h>

#include "lambda/lambda.h"

int ff_lambda_sid_valid(const char *sid);
int ff_lambda_upload_name_valid(const char *name, ff_err *err);

/* 0 when the session is done, 1 when it stopped before the deadline, -1 on error. */
int ff_lambda_run_session(ff_lambda_ctx *c, const char *sid, ff_err *err);

/* Adds {"sessions_deleted", "sessions_kept", "sessions_busy", "objects_deleted"} to report. */
int ff_lambda_run_clean(ff_lambda_ctx *c, time_t now, json_t *report, ff_err *err);

/* Adds {"date", "key", "already_built", "channels_used", "missing", "bytes"} to report. */
int ff_lambda_run_daily_video(ff_lambda_ctx *c, time_t now, json_t *report, ff_err *err);

#endif
