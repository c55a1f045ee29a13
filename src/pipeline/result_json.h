/* A file result as JSON and back: the manifest's per-file object is made here, and a session's
 * per-file state objects store the same object so a resumed run can rebuild the manifest. */
#ifndef FF_PIPELINE_RESULT_JSON_H
#define FF_PIPELINE_RESULT_JSON_H

#include <jansson.h>

#include "base/err.h"
#include "pipeline/result.h"

/* The manifest's object for r: input, base, status, reason, (hdu, compression, metadata, shape,
 * dtype when read), notes, outputs [{path, bytes, sha256, media_type}], seconds. New reference,
 * NULL when out of memory. */
json_t *ff_file_result_to_json(const ff_file_result *r);

/* Fills r (initialised here; free with ff_file_result_free) from such an object. Untrusted input:
 * every field is type-checked and bounded; -1 with a reason when it does not fit. */
int ff_file_result_from_json(const json_t *j, ff_file_result *r, ff_err *err);

#endif
