/* What every invocation of one Lambda process shares (lambda.h): the settings, the store and the
 * remote session, opened once per cold start; and the handler a _HANDLER value names. */
#include "lambda/lambda.h"

#include <string.h>

#include "base/settings.h"
#include "remote/remote.h"

int ff_lambda_ctx_init(ff_lambda_ctx *c, const ff_settings *s, ff_err *err)
{
    memset(c, 0, sizeof *c);
    if (ff_pipeline_config_from_settings(&c->pipeline, s, err) != 0)
        return -1;
    c->pipeline.session_limit_bytes = ff_settings_uint(s, FF_SET_SESSION_LIMIT_MB) << 20;
    c->presign_ttl = (int)ff_settings_uint(s, FF_SET_PRESIGN_TTL);
    c->retention_hours = (int)ff_settings_uint(s, FF_SET_RETENTION_HOURS);
    c->jobs = (int)ff_settings_uint(s, FF_SET_JOBS);
    c->deadline_margin_s = (int)ff_settings_uint(s, FF_SET_DEADLINE_MARGIN);
    c->main_function = ff_settings_text(s, FF_SET_MAIN_FUNCTION);
    ff_settings_copy(s, FF_SET_LAMBDA_ENDPOINT, c->lambda_endpoint, sizeof c->lambda_endpoint);
    /* Lambda's only writable folder is /tmp: the default data folder is there. */
    const char *dir = ff_settings_given(s, FF_SET_DATA_DIR) ? ff_settings_text(s, FF_SET_DATA_DIR)
                                                            : "/tmp/fitsflow-data";
    /* Offline too: the daily movie then says it was not fetched. */
    c->remote = ff_remote_open_configured(s, err);
    if (!c->remote)
        return -1;
    c->pipeline.remote = c->remote;
    c->store = ff_store_open_configured(s, dir, err);
    if (!c->store) {
        ff_remote_close(c->remote);
        c->remote = NULL;
        return -1;
    }
    return 0;
}

void ff_lambda_ctx_free(ff_lambda_ctx *c)
{
    ff_store_close(c->store);
    c->store = NULL;
    ff_remote_close(c->remote);
    c->remote = NULL;
}

ff_lambda_handler_fn ff_lambda_handler_find(const char *name)
{
    if (!name)
        return NULL;
    const char *dot = strrchr(name, '.');
    if (dot)
        name = dot + 1;
    if (!strcmp(name, "trigger"))
        return ff_lambda_trigger;
    if (!strcmp(name, "main"))
        return ff_lambda_main;
    if (!strcmp(name, "asdf"))
        return ff_lambda_asdf;
    if (!strcmp(name, "clean"))
        return ff_lambda_clean;
    return NULL;
}
