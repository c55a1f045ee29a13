/* Numbers as text the way Python writes them, so that our CSV, header text and JSON read back
 * exactly and look like what the original (Python) FitsFlow wrote:
 * the shortest decimal that round-trips, in Python repr style ("1.0", "0.1", "1e-05", "1e+16",
 * "nan", "inf", "-inf"). */
#ifndef FF_BASE_NUMFMT_H
#define FF_BASE_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

#define FF_NUMFMT_MAX 32

/* Each writes at most FF_NUMFMT_MAX bytes including the NUL and returns the length. The bytes
 * after the NUL, up to FF_NUMFMT_MAX, may be overwritten too (the float formatters store whole
 * words), so buf must always have FF_NUMFMT_MAX bytes of room. */
size_t ff_fmt_double(double v, char *buf);     /* Python repr(float(v)) */
size_t ff_fmt_float32(float v, char *buf);     /* numpy str(np.float32(v)): shortest for float32 */
size_t ff_fmt_int64(int64_t v, char *buf);
size_t ff_fmt_uint64(uint64_t v, char *buf);

/* v[0..n) as one CSV row: each value as ff_fmt_float32 writes it, a NaN as an empty field,
 * separated by ','; no newline and no NUL. Returns the length. out must have room for
 * n * FF_NUMFMT_ROW_VALUE + FF_NUMFMT_MAX bytes (whole words are stored past the values). */
#define FF_NUMFMT_ROW_VALUE 20 /* "-9999999000000000.0" and its comma */
size_t ff_fmt_float32_row(const float *v, size_t n, char *out);

#endif
