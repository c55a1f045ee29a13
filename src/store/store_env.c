/* Choosing the store from the environment (FITSFLOW_STORE and the FITSFLOW_S3_* settings), so
 * that every front end (serve, lambda, clean) opens the same backend the same way. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

ff_store *ff_store_open_from_env(const char *fs_dir, ff_err *err)
{
    const char *kind = env("FITSFLOW_STORE");
    if (!kind || !strcmp(kind, "fs"))
        return ff_store_open_fs(fs_dir, err);
    if (strcmp(kind, "s3")) {
        ff_err_set(err, "FITSFLOW_STORE is '%.32s'; use fs or s3", kind);
        return NULL;
    }
    ff_s3_config cfg = {0};
    cfg.bucket = env("FITSFLOW_S3_BUCKET");
    if (!cfg.bucket) {
        ff_err_set(err, "FITSFLOW_STORE=s3 needs FITSFLOW_S3_BUCKET (the bucket's name)");
        return NULL;
    }
    cfg.region = env("FITSFLOW_S3_REGION");
    cfg.endpoint = env("FITSFLOW_S3_ENDPOINT");
    const char *ps = env("FITSFLOW_S3_PATH_STYLE");
    if (ps) {
        if (!strcmp(ps, "1") || !strcmp(ps, "true"))
            cfg.path_style = 1;
        else if (strcmp(ps, "0") && strcmp(ps, "false")) {
            ff_err_set(err, "FITSFLOW_S3_PATH_STYLE is '%.32s'; use 0 or 1", ps);
            return NULL;
        }
    }
    const char *sse = env("FITSFLOW_S3_SSE");
    if (sse)
        cfg.sse = strcmp(sse, "none") ? sse : "";
    ff_store *s = ff_store_open_s3(&cfg, err);
    if (!s)
        ff_err_prefix(err, "FITSFLOW_STORE=s3");
    return s;
}
