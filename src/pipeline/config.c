/* The processing settings (base/settings.h's processing rows) as a pipeline config, shared by
 * every front end; the outputs list; the SDO-only test. */
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pipeline/pipeline.h"
#include "base/settings.h"
#include "pipeline/budget.h"
#include "core/fits/header.h"
#include "core/prep/prep.h"

void ff_pipeline_config_defaults(ff_pipeline_config *cfg)
{
    ff_settings s;
    ff_settings_defaults(&s);
    ff_pipeline_config_from_settings(cfg, &s, NULL);
}

int ff_pipeline_config_from_settings(ff_pipeline_config *cfg, const ff_settings *s, ff_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = n > 0 ? (int)n : 1;
    cfg->max_pixels = ff_settings_uint(s, FF_SET_MAX_PIXELS);
    cfg->png_max = (unsigned)ff_settings_uint(s, FF_SET_PNG_MAX);
    cfg->files_at_once = (int)ff_settings_uint(s, FF_SET_FILES_AT_ONCE);
    cfg->offline = ff_settings_flag(s, FF_SET_OFFLINE);
    cfg->sdo_only = ff_settings_flag(s, FF_SET_SDO_ONLY);
    cfg->asdf_compress = ff_settings_flag(s, FF_SET_ASDF_COMPRESS);
    cfg->creator = ff_settings_text(s, FF_SET_ASDF_CREATOR);
    cfg->institution = ff_settings_text(s, FF_SET_ASDF_INSTITUTION);
    cfg->award = ff_settings_text(s, FF_SET_ASDF_AWARD);
    cfg->description = ff_settings_text(s, FF_SET_ASDF_DESCRIPTION);
    cfg->session_max_pixels = ff_settings_uint(s, FF_SET_SESSION_MAX_PIXELS);
    cfg->session_max_output_bytes = ff_settings_uint(s, FF_SET_SESSION_MAX_OUTPUT_MB) << 20;
    cfg->memory_bytes = ff_settings_given(s, FF_SET_MEMORY_MB)
                            ? ff_settings_uint(s, FF_SET_MEMORY_MB) << 20
                            : ff_membudget_default_total();
    cfg->session_limit_bytes = ff_setting_default_uint(FF_SET_SESSION_LIMIT_MB) << 20;
    if (ff_pipeline_parse_outputs(ff_settings_text(s, FF_SET_OUTPUTS), &cfg->outputs, err) != 0)
        return ff_err_prefix(err, "FITSFLOW_OUTPUTS");
    uint64_t ml = ff_settings_uint(s, FF_SET_ML_SIZE);
    if (ff_pipeline_check_ml_size(ml, "FITSFLOW_ML_SIZE", err) != 0)
        return -1;
    cfg->ml_size = (int)ml;
    return 0;
}

int ff_pipeline_check_ml_size(uint64_t n, const char *what, ff_err *err)
{
    if (n <= FF_PREP_GRID && ff_prep_ml_size_ok((long)n))
        return 0;
    return ff_err_set(err, "%s must be a size from 1 to %d that divides %d (such as 512, 256 or "
                      "1024), not %llu", what, FF_PREP_GRID, FF_PREP_GRID, (unsigned long long)n);
}

int ff_pipeline_parse_outputs(const char *list, unsigned *out, ff_err *err)
{
    static const struct {
        const char *name;
        unsigned bits;
    } names[] = {{"header", 0},          {"npy", FF_OUTPUT_NPY},   {"csv", FF_OUTPUT_CSV},
                 {"png", FF_OUTPUT_PNG}, {"asdf", FF_OUTPUT_ASDF}, {"prep", FF_OUTPUT_PREP},
                 {"all", FF_OUTPUTS_ALL}};
    unsigned bits = 0;
    const char *p = list;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == len && strncasecmp(p, names[i].name, len) == 0)
                break;
        if (i == sizeof names / sizeof names[0])
            return ff_err_set(err, "unknown output '%.*s' (choose from header, npy, csv, png, asdf, prep, all)",
                              (int)(len > 32 ? 32 : len), p);
        bits |= names[i].bits;
        p = comma ? comma + 1 : NULL;
    }
    *out = bits;
    return 0;
}

int ff_pipeline_skip_not_sdo(const ff_pipeline_config *cfg, const struct ff_header *h)
{
    if (!cfg->sdo_only)
        return 0;
    char tel[72];
    if (ff_header_get_string(h, "TELESCOP", tel, sizeof tel) != 0)
        return 1;
    for (const char *p = tel; *p; p++)
        if (strncasecmp(p, "SDO", 3) == 0)
            return 0;
    return 1;
}
