/* Rendering a solar image as two 8-bit PNGs (gray, and colour through the instrument's colour
 * table): per-instrument scaling, missing pixels, solar north up, optional area-averaged
 * downsampling. Everything comes in through the parameters; render reads no headers and no files. */
#ifndef FF_CORE_OUT_RENDER_H
#define FF_CORE_OUT_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/fits/image.h"
#include "core/out/sink.h"

typedef struct ff_render_params {
    const char *instrument;   /* "AIA", "HMI", "EIT", ... or "" (from ff_obsmeta) */
    const char *measurement;  /* "171", "magnetogram", "continuum", ... or "" */
    int wavelength;           /* 0 when unknown */
    double exptime;           /* seconds; NaN when unknown */
    double crota2;            /* degrees; 0 when absent */
    int has_blank; int64_t blank;  /* integer BLANK value (pixels equal to it are missing) */
    unsigned png_max;         /* 0 = full resolution; else long side at most png_max (area average) */
    const char *time_iso;     /* for a tEXt chunk; may be "" */
    int nthreads;             /* threads for the percentile sample, the percentiles and the
                                 levels (the PNGs' shared deflate is one stream) */
} ff_render_params;

/* Writes the gray and the colour PNG; scaling receives a one-line description of the stretch used
 * (e.g. "AIA 171: exposure-normalised, asinh stretch between the 0.5 and 99.9 percentiles ...").
 * For a cube, the first plane is rendered (scaling says so); a 1-D array is one row.
 *
 * Scaling: AIA (and the EUV imagers EIT, EUVI, SWAP, SUVI) an asinh stretch (a = 0.01, as sunpy
 * uses for AIA) between the 0.5 and 99.9 percentiles, AIA described in DN/s when EXPTIME > 0;
 * magnetograms linear over -1500..+1500 G; HMI continuum and other HMI data linear between the 0.5
 * and 99.9 percentiles; anything else linear between the 1 and 99 percentiles. Percentiles come
 * from a regular subsample of about a million pixels. A constant image is mid-gray.
 * Missing pixels (NaN, +-Inf, and for integer data BLANK) are 0 (black) in the gray image and
 * palette index 0 (transparent) in the colour image; valid pixels use levels 1..255.
 * Orientation: the first PNG row is the top of the image (FITS row 0 is the bottom), and the
 * image is turned by the multiple of 90 degrees nearest to CROTA2 so that solar north is up; any
 * remainder (at most 45 degrees) is left as it is and, when over 1 degree, mentioned in scaling.
 * p->png_max > 0 and a long side longer than it: area-averaged (box filter with fractional
 * weights, missing pixels excluded) so that the long side is png_max.
 * gray or color may be NULL to skip that image. scaling may be NULL. Returns 0 or -1 with err. */
int ff_render_pngs(const ff_image *img, const ff_render_params *p, ff_sink *gray, ff_sink *color,
                   char *scaling, size_t scaling_size, ff_err *err);

/* The 8-bit levels both PNGs are made of: *pix (malloc'd, caller frees) holds *width x *height
 * bytes, rows top first, oriented and downsampled as above; 0 = missing, 1..255 = black..white.
 * scaling as above. Returns 0 or -1 with err. */
int ff_render_levels(const ff_image *img, const ff_render_params *p, uint8_t **pix,
                     uint32_t *width, uint32_t *height, char *scaling, size_t scaling_size,
                     ff_err *err);

/* Percentiles as numpy.percentile computes them (linear interpolation between order statistics)
 * of n finite values: *lo at percentile plo, *hi at phi (0 <= plo <= phi <= 100). Reorders vals
 * (selection, not a full sort). Returns 0, or -1 when n == 0. */
int ff_percentiles(double *vals, size_t n, double plo, double phi, double *lo, double *hi);

#endif
