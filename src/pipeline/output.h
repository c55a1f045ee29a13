/* Writing one output object of a file: an atomic store put that hashes (sha256) and counts while
 * it writes, and on commit records the output in the file's result. */
#ifndef FF_PIPELINE_OUTPUT_H
#define FF_PIPELINE_OUTPUT_H

#include "core/out/sink.h"
#include "pipeline/result.h"
#include "store/store.h"

typedef struct ff_out ff_out;

/* Opens key prefix + relpath. relpath is what the manifest records. */
ff_out *ff_out_open(ff_store *store, const char *prefix, const char *relpath, const char *media_type,
                    ff_err *err);
ff_sink *ff_out_sink(ff_out *o);
/* Counts every byte written against a session's output budget (pipeline/budget.h): a write
 * that would pass it fails with the reason; an aborted output gives its bytes back. */
struct ff_session_budget;
void ff_out_set_budget(ff_out *o, struct ff_session_budget *b);
/* Commits the object and appends it to r (when r is not NULL). Frees o either way. */
int ff_out_commit(ff_out *o, ff_file_result *r, ff_err *err);
void ff_out_abort(ff_out *o);
/* Commits and copies the output's record to *rec instead of appending it to a result (for outputs
 * written on worker threads; the caller adds the records in a fixed order). Frees o. */
int ff_out_commit_rec(ff_out *o, ff_output *rec, ff_err *err);

/* Convenience: writes a whole buffer as one output. */
int ff_out_put(ff_store *store, const char *prefix, const char *relpath, const char *media_type,
               const void *buf, size_t len, ff_file_result *r, ff_err *err);

#endif
