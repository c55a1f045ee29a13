/* Processing several files with a fixed number of worker threads; each file may use all the
 * cores for its own work (they are shared between the files running at once). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/batch.h"

typedef struct batch {
    const ff_pipeline_config *cfg;
    ff_pipeline_config file_cfg;
    ff_store *store;
    const char *prefix;
    const ff_batch_input *inputs;
    size_t n;
    ff_step_fn on_step;
    ff_file_done_fn on_done;
    void (*on_start)(void *ctx, size_t index);
    int (*should_stop)(void *ctx);
    void *ctx;
    ff_file_result *results;
    size_t next;
    int stopped;
    pthread_mutex_t lock;
} batch;

static void *worker(void *arg)
{
    batch *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        if (b->next < b->n && !b->stopped && b->should_stop && b->should_stop(b->ctx))
            b->stopped = 1;
        size_t i = b->next < b->n && !b->stopped ? b->next++ : b->n;
        pthread_mutex_unlock(&b->lock);
        if (i >= b->n)
            return NULL;
        if (b->on_start)
            b->on_start(b->ctx, i);
        if (b->inputs[i].skip_reason) {
            ff_file_result *r = &b->results[i];
            ff_file_result_init(r, b->inputs[i].name);
            r->status = FF_FILE_SKIPPED;
            snprintf(r->reason, sizeof r->reason, "%s", b->inputs[i].skip_reason);
            if (b->on_step) {
                char msg[1024];
                snprintf(msg, sizeof msg, "Skipping: %s \xe2\x80\x94 %s", r->base, r->reason);
                b->on_step(b->ctx, r, FF_STEP_HEADER, 0, msg);
            }
        } else if (b->inputs[i].fail_reason) {
            ff_file_result *r = &b->results[i];
            ff_file_result_init(r, b->inputs[i].name);
            r->status = FF_FILE_FAILED;
            r->error_kind = b->inputs[i].fail_kind;
            snprintf(r->reason, sizeof r->reason, "%s", b->inputs[i].fail_reason);
            /* Not "Skipping:": the original client then waits for steps 3 to 7 (and 8), so each logs. */
            for (int step = FF_STEP_HEADER; b->on_step && step <= FF_STEP_LAST; step++) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s: %s \xe2\x80\x94 %s",
                         step == FF_STEP_HEADER ? "Failed" : "Not run", r->base, r->reason);
                b->on_step(b->ctx, r, step, 0, msg);
            }
        } else {
            ff_pipeline_process_file(&b->file_cfg, b->store, b->prefix, b->inputs[i].path,
                                     b->inputs[i].name, b->on_step, b->ctx, &b->results[i]);
        }
        if (b->on_done) {
            pthread_mutex_lock(&b->lock);
            b->on_done(b->ctx, i, &b->results[i]);
            pthread_mutex_unlock(&b->lock);
        }
    }
}

int ff_pipeline_run_batch(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                          const ff_batch_input *inputs, size_t n, int jobs, ff_step_fn on_step,
                          ff_file_done_fn on_done, void *ctx, ff_file_result *results)
{
    ff_batch_hooks h = {.on_step = on_step, .on_done = on_done, .ctx = ctx};
    ff_pipeline_run_batch_hooks(cfg, store, prefix, inputs, n, jobs, &h, results);
    return 0;
}

int ff_pipeline_run_batch_hooks(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                                const ff_batch_input *inputs, size_t n, int jobs,
                                const ff_batch_hooks *hooks, ff_file_result *results)
{
    batch b = {.cfg = cfg, .file_cfg = *cfg, .store = store, .prefix = prefix, .inputs = inputs,
               .n = n, .on_step = hooks->on_step, .on_done = hooks->on_done,
               .on_start = hooks->on_start, .should_stop = hooks->should_stop, .ctx = hooks->ctx,
               .results = results};
    memset(results, 0, n * sizeof *results);
    if (n == 0)
        return 0;
    if (jobs < 1)
        jobs = 1;
    if ((size_t)jobs > n)
        jobs = (int)n;
    /* Every file may use every core: files running at once share them through the scheduler,
     * and the file that runs last (often the largest) is not left on a fraction of them. */
    b.file_cfg.threads = cfg->threads > 0 ? cfg->threads : 1;
    pthread_mutex_init(&b.lock, NULL);
    pthread_t *th = calloc((size_t)jobs, sizeof *th);
    int started = 0;
    if (th)
        for (; started < jobs - 1; started++)
            if (pthread_create(&th[started], NULL, worker, &b) != 0)
                break;
    worker(&b); /* the calling thread works too */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    pthread_mutex_destroy(&b.lock);
    return b.stopped ? 1 : 0;
}
