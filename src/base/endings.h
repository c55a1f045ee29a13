/* The endings of FITS file names. One list of the endings an upload may have: the server and
 * Lambda check names against it, GET /api/config hands it to the browser client, and outputs are
 * named after the name without it. */
#ifndef FF_BASE_ENDINGS_H
#define FF_BASE_ENDINGS_H

#include <stddef.h>

/* ".fits", ".fit", ".fts", ".fits.gz" (compared in any case), and how many there are. */
extern const char *const ff_fits_endings[];
extern const size_t ff_fits_endings_count;

/* The endings as a phrase for messages: ".fits, .fit, .fts or .fits.gz". */
#define FF_FITS_ENDINGS_TEXT ".fits, .fit, .fts or .fits.gz"

/* The length of name's accepted ending (the longest that fits), or 0 when it has none. The name
 * must be longer than its ending: ".fits" alone has none. */
size_t ff_fits_ending_len(const char *name);

/* The length of the ending an output's {base} leaves out: the accepted endings, and also
 * ".fit.gz" and ".fts.gz" (`fitsflow process` reads any gzip-compressed FITS file, whatever its
 * name). 0 when there is none. */
size_t ff_fits_base_ending_len(const char *name);

#endif
