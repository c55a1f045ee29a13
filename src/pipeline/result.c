/* Bookkeeping for ff_file_result. */
#include "pipeline/result.h"
#include "base/endings.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ff_file_result_init(ff_file_result *r, const char *input_name)
{
    memset(r, 0, sizeof *r);
    const char *slash = strrchr(input_name, '/');
    snprintf(r->input, sizeof r->input, "%s", slash ? slash + 1 : input_name);
    ff_base_name(r->input, r->base, sizeof r->base);
    r->hdu = -1;
    r->meta.source_id = -1;
    r->prep.exptime = NAN;
}

int ff_file_result_add_output(ff_file_result *r, const ff_output *o)
{
    if (r->noutputs == r->cap_outputs) {
        size_t cap = r->cap_outputs ? r->cap_outputs * 2 : 16;
        ff_output *p = realloc(r->outputs, cap * sizeof *p);
        if (!p)
            return -1;
        r->outputs = p;
        r->cap_outputs = cap;
    }
    r->outputs[r->noutputs++] = *o;
    return 0;
}

void ff_file_result_note(ff_file_result *r, const char *fmt, ...)
{
    if (r->nnotes >= FF_MAX_NOTES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes[r->nnotes++], sizeof r->notes[0], fmt, ap);
    va_end(ap);
}

void ff_file_result_free(ff_file_result *r)
{
    free(r->outputs);
    r->outputs = NULL;
    r->noutputs = r->cap_outputs = 0;
}

const char *ff_file_status_name(ff_file_status s)
{
    switch (s) {
    case FF_FILE_PROCESSED: return "processed";
    case FF_FILE_SKIPPED: return "skipped";
    case FF_FILE_FAILED: return "failed";
    }
    return "unknown";
}

void ff_base_name(const char *name, char *base, size_t basesize)
{
    size_t n = strlen(name) - ff_fits_base_ending_len(name);
    if (n >= basesize)
        n = basesize - 1;
    memcpy(base, name, n);
    base[n] = '\0';
}
