/* Running the pipeline over several files at once (the CLI's -j, a server session's files). */
#ifndef FF_PIPELINE_BATCH_H
#define FF_PIPELINE_BATCH_H

#include "pipeline/pipeline.h"

typedef struct ff_batch_input {
    const char *path;        /* where to read the FITS file */
    const char *name;        /* its upload name (decides the output base name) */
    const char *skip_reason; /* non-NULL: do not read it, report it skipped with this reason */
} ff_batch_input;

/* Called once per finished file, serialised (never two at once). */
typedef void (*ff_file_done_fn)(void *ctx, size_t index, const ff_file_result *r);

/* Processes every input with up to jobs files at a time; results[i] belongs to inputs[i]
 * (caller frees each with ff_file_result_free). on_step may be called from several threads at
 * once (for different files). Returns 0. */
int ff_pipeline_run_batch(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                          const ff_batch_input *inputs, size_t n, int jobs, ff_step_fn on_step,
                          ff_file_done_fn on_done, void *ctx, ff_file_result *results);

#endif
