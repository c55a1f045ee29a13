/* Budgets a user cannot get around by compressing: what a file will cost (pixels, bytes of
 * outputs, memory) is estimated from its headers before it is read (core/fits_scan.h), and a
 * file that does not fit is skipped with the reason before any work is done.
 *
 * - A session's budget: pixels decoded and bytes of outputs stored, over all its files (those
 *   finished in earlier runs included). Output writes are also counted as they happen, so
 *   outputs the estimate does not cover (remote images, unusual headers) cannot pass it either.
 * - A memory budget shared by every file being processed in the process: a file waits until
 *   its estimate fits beside the files running, and is skipped only when it could never fit. */
#ifndef FF_PIPELINE_BUDGET_H
#define FF_PIPELINE_BUDGET_H

#include <stdint.h>

#include "base/err.h"
#include "core/fits/fits_scan.h"

struct ff_pipeline_config;

/* What one file will cost, about (upper bounds for what the local outputs are concerned). */
typedef struct ff_file_cost {
    uint64_t pixels;        /* charged to the session: the image's pixels, at least the inflated
                               bytes of a gzip file / 8 */
    uint64_t output_bytes;  /* header, NPY, CSV, PNG renders, ASDF as asked for */
    uint64_t memory_bytes;  /* peak memory while it is read and its outputs written */
} ff_file_cost;

void ff_file_cost_estimate(const ff_fits_scan *scan, const struct ff_pipeline_config *cfg,
                           ff_file_cost *cost);

/* ---- a session's budget -------------------------------------------------------------- */

typedef struct ff_session_budget ff_session_budget;

/* max_pixels / max_output_bytes 0: that one is not limited. NULL when out of memory. */
ff_session_budget *ff_session_budget_new(uint64_t max_pixels, uint64_t max_output_bytes);
void ff_session_budget_free(ff_session_budget *b);

/* What files finished before (an earlier run of the session) already used. */
void ff_session_budget_used(ff_session_budget *b, uint64_t pixels, uint64_t output_bytes);

/* Inflated bytes a gzip file may have before it passes what is left of the pixel budget (for
 * ff_fits_scan_file's cap); UINT64_MAX when pixels are not limited. */
uint64_t ff_session_budget_inflate_cap(ff_session_budget *b);

/* 0 when c fits beside what is used and set aside, else -1 with the reason (nothing is set
 * aside). */
int ff_session_budget_check(ff_session_budget *b, const ff_file_cost *c, ff_err *err);

/* Sets c aside for a file about to be processed: 0, or -1 with the reason (naming the
 * variable to raise) when it would pass either budget beside what is used and set aside. */
int ff_session_budget_reserve(ff_session_budget *b, const ff_file_cost *c, ff_err *err);

/* The file is finished: its reservation goes, and what it really used stays (pixels: the cost
 * reserved, once it was read; output_bytes: its outputs as stored, 0 when they were deleted). */
void ff_session_budget_finish(ff_session_budget *b, const ff_file_cost *c, uint64_t pixels,
                              uint64_t output_bytes);

/* Output bytes as they are written (every output of the session, while it is written):
 * -1 with the reason when len would take the stored outputs past the budget. unwrite gives
 * bytes back (an output aborted or deleted). */
int ff_session_budget_write(ff_session_budget *b, uint64_t len, ff_err *err);
void ff_session_budget_unwrite(ff_session_budget *b, uint64_t len);

/* ---- memory shared by the files being processed ---------------------------------------- */

typedef struct ff_membudget ff_membudget;

/* total 0: not limited. NULL when out of memory. */
ff_membudget *ff_membudget_new(uint64_t total);
void ff_membudget_free(ff_membudget *m);
uint64_t ff_membudget_total(const ff_membudget *m);

/* The process-wide budget used when a front end sets none, made by the first call with total
 * bytes (FITSFLOW_MEMORY_MB: ff_pipeline_config's memory_bytes); later calls get the same one.
 * Never freed. NULL when out of memory. */
ff_membudget *ff_membudget_default(uint64_t total);

/* The default total: half of the machine's memory, in bytes. */
uint64_t ff_membudget_default_total(void);

/* Takes bytes, waiting (first come, first served) while the files running hold too much for
 * them to fit beside. 0 when taken at once, 1 when taken after waiting; -1 with the reason at
 * once when bytes is more than the whole budget (it could never fit). */
int ff_membudget_acquire(ff_membudget *m, uint64_t bytes, ff_err *err);
void ff_membudget_release(ff_membudget *m, uint64_t bytes);

/* Bytes held now (for tests and metrics). */
uint64_t ff_membudget_in_use(ff_membudget *m);

#endif
