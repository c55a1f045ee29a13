/* The text and array outputs of one FITS image: header text and JSON, NPY and CSV.
 * Each writes to an ff_sink and returns 0, or -1 with err filled. */
#ifndef FF_CORE_OUT_WRITERS_H
#define FF_CORE_OUT_WRITERS_H

#include "base/err.h"
#include "core/fits/header.h"
#include "core/fits/image.h"
#include "core/out/sink.h"

/* "KEY = value" per card as the original wrote it (Python: f"{key} = {value}" over
 * header.items()): strings unquoted, True/False, Python float repr; COMMENT/HISTORY one line each. */
int ff_write_header_txt(const ff_header *h, ff_sink *out, ff_err *err);

/* A JSON object {"header": {...}, "comments": {...}}: "header" maps each keyword, in header order,
 * to its typed value (true/false, integer, float, string; null when undefined; the first card wins
 * for a repeated keyword, as astropy's header[key]); "COMMENT", "HISTORY" and "" (blank keyword)
 * map to arrays of their texts. "comments" maps each keyword that has a card comment to it.
 * Integers beyond int64 stay exact JSON integers (astropy gives Python ints); complex values are
 * strings as Python prints them ("(1.5-2j)"); a float that overflowed (inf) is null, since strict
 * JSON has no infinity. */
int ff_write_header_json(const ff_header *h, ff_sink *out, ff_err *err);

/* NumPy .npy (format 1.0, or 2.0 when the header needs it), little-endian, C order. */
int ff_write_npy(const ff_image *img, ff_sink *out, ff_err *err);
/* Only the header of an NPY file of that dtype and shape (the caller writes the data after it,
 * little-endian, C order): for arrays written in pieces. */
int ff_write_npy_header(ff_dtype dtype, int ndim, const size_t *shape, ff_sink *out, ff_err *err);

/* CSV as pandas.DataFrame(data).to_csv(index=False) writes it: a first line of column numbers,
 * one line per row, NaN as an empty field ("" when there is one column, as Python's csv module
 * writes it), floats in shortest round-trip form (numpy's str for float32). 1-D and 2-D
 * images only (a 3-D image is refused with a reason). nthreads > 1 formats rows in parallel. */
int ff_write_csv(const ff_image *img, ff_sink *out, int nthreads, ff_err *err);

#endif
