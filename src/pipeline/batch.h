/* Running the pipeline over several files at once (the CLI's -j, a server session's files). */
#ifndef FF_PIPELINE_BATCH_H
#define FF_PIPELINE_BATCH_H

#include "pipeline/pipeline.h"

typedef struct ff_batch_input {
    const char *path;        /* where to read the FITS file */
    const char *name;        /* its upload name (decides the output base name) */
    const char *skip_reason; /* non-NULL: do not read it, report it skipped with this reason */
    const char *fail_reason; /* non-NULL: do not read it, report it failed with this reason (every
                                step logs once: "Failed: ..." then "Not run: ...") */
    ff_err_kind fail_kind;   /* with fail_reason: the result's error_kind */
} ff_batch_input;

/* Called once per finished file, serialised (never two at once). */
typedef void (*ff_file_done_fn)(void *ctx, size_t index, const ff_file_result *r);

/* Processes every input with up to jobs files at a time; results[i] belongs to inputs[i]
 * (caller frees each with ff_file_result_free). on_step may be called from several threads at
 * once (for different files). Returns 0. */
int ff_pipeline_run_batch(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                          const ff_batch_input *inputs, size_t n, int jobs, ff_step_fn on_step,
                          ff_file_done_fn on_done, void *ctx, ff_file_result *results);

/* Callbacks for ff_pipeline_run_batch_hooks; any may be NULL; all get ctx. */
typedef struct ff_batch_hooks {
    ff_step_fn on_step;                          /* as above (concurrent for different files) */
    ff_file_done_fn on_done;                     /* as above (serialised) */
    /* Just before inputs[index] starts (concurrent for different inputs). It may still fill in
     * that input's path, skip_reason or fail_reason (e.g. after fetching the file): they are read
     * after. */
    void (*on_start)(void *ctx, size_t index);
    int (*should_stop)(void *ctx);               /* polled before each input; nonzero: start no more */
    void *ctx;
} ff_batch_hooks;

/* ff_pipeline_run_batch with start and stop hooks. An input that never started (should_stop)
 * keeps a zeroed result (input ""; freeing it is harmless). Returns 0 when every input ran, 1
 * when should_stop left some unstarted. */
int ff_pipeline_run_batch_hooks(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                                const ff_batch_input *inputs, size_t n, int jobs,
                                const ff_batch_hooks *hooks, ff_file_result *results);

#endif
