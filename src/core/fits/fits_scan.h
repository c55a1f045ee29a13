/* What a FITS file will cost before it is read: the largest image it holds and how many bytes its
 * content is, found by walking the HDU headers with constant memory (a gzip-compressed file is
 * inflated through a small window and its data discarded). The budgets of the pipeline are
 * checked against this before ff_fits_read allocates anything, so that a small gzip file of
 * zeros cannot make the process inflate gigabytes just to find out that it is too large. */
#ifndef FF_CORE_FITS_FITS_SCAN_H
#define FF_CORE_FITS_FITS_SCAN_H

#include <stdint.h>

#include "base/err.h"

typedef struct ff_fits_scan {
    int gzip;               /* the file is gzip-compressed */
    uint64_t file_bytes;    /* size of the file */
    uint64_t content_bytes; /* bytes of FITS content: the file, or the inflated stream (at most
                               the cap given, see over_cap) */
    int over_cap;           /* the inflated stream is longer than the cap */
    int complete;           /* every HDU was walked to the end of the content (else the walk
                               stopped at something malformed: ff_fits_read will say what) */
    int hdus;               /* HDUs seen */
    uint64_t max_cards;     /* cards of the longest header */
    /* The image that costs most (pixels times bytes per element) of those ff_fits_read could
     * choose: image HDUs and tile-compressed images with 1 to 3 axes, none of them empty.
     * pixels is 0 when there is none. */
    uint64_t pixels;
    int naxis;
    uint64_t width;         /* NAXIS1 (ZNAXIS1): values per CSV row */
    uint64_t height;        /* the other axes multiplied */
    int elem_bytes;         /* bytes per pixel in memory, as astropy gives the data (BSCALE and
                               BZERO make integers float32 or float64; the unsigned conventions
                               keep the size) */
    int is_float;           /* that dtype is floating point */
    int is_signed;
    int stopped;            /* the caller's stop function ended the walk early (what is filled
                               in is then a lower bound of what the file holds) */
} ff_fits_scan;

/* Called after each header, before its data are read past (inflated, for gzip): *so_far holds
 * what was found up to there, content_bytes counting that data. Nonzero stops the walk: the file
 * already costs more than the caller would allow, so inflating the rest is wasted work. */
typedef int (*ff_fits_scan_stop_fn)(void *ctx, const ff_fits_scan *so_far);

/* Walks path. cap bounds the inflated bytes of a gzip file (the walk stops there and sets
 * over_cap); at most 1000 HDUs are walked, as ff_fits_read looks at. Returns 0 with *out filled
 * (also for a file that is not FITS: complete is 0 and pixels 0 then), -1 only when the file
 * cannot be opened or read (err filled). */
int ff_fits_scan_file(const char *path, uint64_t cap, ff_fits_scan *out, ff_err *err);

/* ff_fits_scan_file with a stop function (may be NULL). */
int ff_fits_scan_file_until(const char *path, uint64_t cap, ff_fits_scan_stop_fn stop, void *ctx,
                            ff_fits_scan *out, ff_err *err);

/* The same over a buffer (the fuzzer's entry). */
int ff_fits_scan_buffer(const void *buf, uint64_t len, uint64_t cap, ff_fits_scan *out, ff_err *err);

#endif
