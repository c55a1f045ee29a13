/* The services the route handlers share (app.h): made on top of what the server gives, stopped
 * in the order the engine needs. */
#include "server/routes/routes.h"

#include <stdlib.h>

ff_app *ff_app_new(const ff_app *deps, ff_err *err)
{
    ff_app *a = malloc(sizeof *a);
    if (!a) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    *a = *deps;
    a->uploads = ff_upload_table_new();
    a->sessions = ff_session_cache_new();
    a->sse = NULL;
    a->probe = NULL;
    if (!a->uploads || !a->sessions) {
        ff_err_set(err, "out of memory");
        goto fail;
    }
    if (!(a->probe = ff_store_probe_start(a->store, ff_offload_timeout(a->offload), err)) ||
        !(a->sse = ff_sse_hub_start(a, err)))
        goto fail;
    return a;
fail:
    ff_app_stop_probe(a);
    ff_app_free(a);
    return NULL;
}

void ff_app_stop_streams(ff_app *a)
{
    if (a)
        ff_sse_hub_stop(a->sse);
}

void ff_app_stop_probe(ff_app *a)
{
    if (a) {
        ff_store_probe_stop(a->probe);
        a->probe = NULL;
    }
}

void ff_app_free(ff_app *a)
{
    if (!a)
        return;
    ff_sse_hub_free(a->sse);
    ff_store_probe_stop(a->probe);
    ff_session_cache_free(a->sessions);
    ff_upload_table_free(a->uploads);
    free(a);
}

void ff_app_logs_changed(void *app, const char *sid, const char *name, const char *text)
{
    (void)name;
    (void)text;
    ff_app *a = app;
    if (!a)
        return;
    ff_session_cache_touch(a->sessions, sid);
    ff_sse_hub_wake(a->sse);
}
