/* Opening the store the settings name (FITSFLOW_STORE and the FITSFLOW_S3_* settings), so that
 * every front end (serve, lambda, the test tools) opens the same backend the same way. */
#include "store/store.h"

#include <string.h>

#include "base/settings.h"

ff_store *ff_store_open_configured(const ff_settings *s, const char *fs_dir, ff_err *err)
{
    if (ff_settings_choice(s, FF_SET_STORE) == 0) /* fs */
        return ff_store_open_fs(fs_dir, ff_settings_flag(s, FF_SET_FSYNC), err);
    ff_s3_config cfg = {0};
    cfg.bucket = ff_settings_text(s, FF_SET_S3_BUCKET);
    if (!cfg.bucket) {
        ff_err_set(err, "FITSFLOW_STORE=s3 needs FITSFLOW_S3_BUCKET (the bucket's name)");
        return NULL;
    }
    cfg.region = ff_settings_text(s, FF_SET_S3_REGION);
    cfg.endpoint = ff_settings_text(s, FF_SET_S3_ENDPOINT);
    cfg.path_style = ff_settings_flag(s, FF_SET_S3_PATH_STYLE);
    const char *sse = ff_settings_text(s, FF_SET_S3_SSE);
    cfg.sse = strcmp(sse, "none") ? sse : "";
    ff_store *st = ff_store_open_s3(&cfg, err);
    if (!st)
        ff_err_prefix(err, "FITSFLOW_STORE=s3");
    return st;
}
