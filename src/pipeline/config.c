/* FITSFLOW_* environment variables that shape processing, shared by every front end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipeline/pipeline.h"
#include "core/header.h"

int ff_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int ff_parse_bool(const char *s, int *out)
{
    if (!s)
        return -1;
    if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") ||
        !*s) {
        *out = 0;
        return 0;
    }
    return -1;
}

int ff_pipeline_config_from_env(ff_pipeline_config *cfg, ff_err *err)
{
    const char *v;
    uint64_t u;
    if ((v = getenv("FITSFLOW_MAX_PIXELS")) && *v) {
        if (ff_parse_u64(v, 1, (uint64_t)1 << 40, &u) != 0)
            return ff_err_set(err, "FITSFLOW_MAX_PIXELS must be a whole number from 1 to 2^40, not '%s'", v);
        cfg->max_pixels = u;
    }
    if ((v = getenv("FITSFLOW_PNG_MAX")) && *v) {
        if (ff_parse_u64(v, 0, 1 << 20, &u) != 0)
            return ff_err_set(err, "FITSFLOW_PNG_MAX must be a whole number of pixels (0 = full size), not '%s'", v);
        cfg->png_max = (unsigned)u;
    }
    if ((v = getenv("FITSFLOW_FILES_AT_ONCE")) && *v) {
        if (ff_parse_u64(v, 1, 64, &u) != 0)
            return ff_err_set(err, "FITSFLOW_FILES_AT_ONCE must be a whole number from 1 to 64, not '%s'", v);
        cfg->files_at_once = (int)u;
    }
    if ((v = getenv("FITSFLOW_OFFLINE")) && ff_parse_bool(v, &cfg->offline) != 0)
        return ff_err_set(err, "FITSFLOW_OFFLINE must be 1 or 0, not '%s'", v);
    if ((v = getenv("FITSFLOW_SDO_ONLY")) && ff_parse_bool(v, &cfg->sdo_only) != 0)
        return ff_err_set(err, "FITSFLOW_SDO_ONLY must be 1 or 0, not '%s'", v);
    if ((v = getenv("FITSFLOW_ASDF_COMPRESS")) && ff_parse_bool(v, &cfg->asdf_compress) != 0)
        return ff_err_set(err, "FITSFLOW_ASDF_COMPRESS must be 1 or 0, not '%s'", v);
    if ((v = getenv("FITSFLOW_OUTPUTS")) && *v && ff_pipeline_parse_outputs(v, &cfg->outputs, err) != 0)
        return ff_err_prefix(err, "FITSFLOW_OUTPUTS");
    if ((v = getenv("FITSFLOW_SESSION_MAX_PIXELS")) && *v) {
        if (ff_parse_u64(v, 0, (uint64_t)1 << 50, &u) != 0)
            return ff_err_set(err, "FITSFLOW_SESSION_MAX_PIXELS must be a whole number of pixels "
                              "(0 = no limit), not '%.40s'", v);
        cfg->session_max_pixels = u;
    }
    if ((v = getenv("FITSFLOW_SESSION_MAX_OUTPUT_MB")) && *v) {
        if (ff_parse_u64(v, 0, (uint64_t)1 << 30, &u) != 0)
            return ff_err_set(err, "FITSFLOW_SESSION_MAX_OUTPUT_MB must be a whole number of MiB "
                              "(0 = no limit), not '%.40s'", v);
        cfg->session_max_output_bytes = u << 20;
    }
    if ((v = getenv("FITSFLOW_MEMORY_MB")) && *v && ff_parse_u64(v, 0, (uint64_t)1 << 30, &u) != 0)
        return ff_err_set(err, "FITSFLOW_MEMORY_MB must be a whole number of MiB (0 = no limit), "
                          "not '%.40s'", v);
    if ((v = getenv("FITSFLOW_ASDF_CREATOR")))
        cfg->creator = v;
    if ((v = getenv("FITSFLOW_ASDF_INSTITUTION")))
        cfg->institution = v;
    if ((v = getenv("FITSFLOW_ASDF_AWARD")))
        cfg->award = v;
    if ((v = getenv("FITSFLOW_ASDF_DESCRIPTION")))
        cfg->description = v;
    return 0;
}

int ff_pipeline_parse_outputs(const char *list, unsigned *out, ff_err *err)
{
    static const struct {
        const char *name;
        unsigned bits;
    } names[] = {{"header", 0},          {"npy", FF_OUTPUT_NPY},   {"csv", FF_OUTPUT_CSV},
                 {"png", FF_OUTPUT_PNG}, {"asdf", FF_OUTPUT_ASDF}, {"all", FF_OUTPUTS_ALL}};
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
            return ff_err_set(err, "unknown output '%.*s' (choose from header, npy, csv, png, asdf, all)",
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
