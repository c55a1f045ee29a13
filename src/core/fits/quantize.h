/* Floating-point images stored as quantised integers in tile-compressed FITS (FITS 4.0, section
 * 10.2): each tile holds integers i with a scale ZSCALE and offset ZZERO of its own, and the value
 * is i * ZSCALE + ZZERO, or with subtractive dithering (i - r + 0.5) * ZSCALE + ZZERO where r
 * comes from the standard's sequence of 10000 pseudo-random numbers, started for each tile at a
 * point set by ZDITHER0 and the tile's number. Integers equal to ZBLANK stand for undefined
 * pixels. This module reads and checks those keywords (a bad ZQUANTIZ or ZDITHER0 is refused)
 * and turns a tile's integers into the floats CFITSIO gives for them. */
#ifndef FF_CORE_QUANTIZE_H
#define FF_CORE_QUANTIZE_H

#include <fitsio.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum ff_quant_method {
    FF_QUANT_PLAIN = 0,  /* no dithering: ZQUANTIZ = 'NO_DITHER', or no ZQUANTIZ (before 2009) */
    FF_QUANT_DITHER1,    /* 'SUBTRACTIVE_DITHER_1' */
    FF_QUANT_DITHER2,    /* 'SUBTRACTIVE_DITHER_2': like 1, and -2147483646 stands for 0.0 */
    FF_QUANT_LOSSLESS,   /* 'NONE': the tiles hold the floats themselves */
} ff_quant_method;

typedef struct ff_quant {
    ff_quant_method method;
    int dither0;         /* ZDITHER0, 1..10000; 1 when absent */
    int has_blank;       /* a ZBLANK column, a ZBLANK keyword or a BLANK keyword exists */
    int blank_column;    /* ... and it is a column (one value per tile) */
    int32_t blank;       /* the keyword's value when not a column */
    int scale_column, zero_column;   /* ZSCALE / ZZERO are columns (one value per tile) */
    int scale_keyword, zero_keyword; /* ... or keywords (one value for all tiles) */
} ff_quant;

/* Reads ZQUANTIZ, ZDITHER0 and ZBLANK/BLANK of the compressed image at fp (its current HDU) as
 * CFITSIO does. For a floating-point image (zbitpix < 0), a ZQUANTIZ that names no method, and a
 * ZDITHER0 outside 1..10000 when the method dithers, are refused (CFITSIO would read the
 * sequence at a negative index). Returns 0, or -1 with err. */
int ff_quant_read(fitsfile *fp, int zbitpix, ff_quant *q, ff_err *err);

/* Whether undefined pixels come back as NaN: a floating-point image stored as quantised integers
 * (a ZSCALE column or keyword, ZQUANTIZ not 'NONE') with a ZBLANK. The reader then asks CFITSIO
 * for NaN there, as funpack does and as the standard means; astropy 5.2 (Debian 12) does not ask,
 * and returns the blank integer scaled like any other. Other images are read without it. */
int ff_quant_nulls(const ff_quant *q, int zbitpix);

/* The floats of n quantised integers of tile `tile` (0-based), as CFITSIO's reader returns them
 * when it is given NaN for undefined pixels: nulls != 0 turns values equal to blank into NaN.
 * scale and zero are the tile's ZSCALE and ZZERO. */
void ff_quant_to_f32(const int32_t *in, size_t n, const ff_quant *q, long long tile, double scale,
                     double zero, int nulls, int32_t blank, float *out);
void ff_quant_to_f64(const int32_t *in, size_t n, const ff_quant *q, long long tile, double scale,
                     double zero, int nulls, int32_t blank, double *out);

/* Losslessly stored floats as CFITSIO returns them with NaN for undefined pixels (nulls != 0):
 * NaN and infinities become NaN, zeros and subnormals +0.0 (CFITSIO's "underflow"); otherwise
 * copied. in and out may be the same array. */
void ff_quant_lossless_f32(const float *in, size_t n, int nulls, float *out);
void ff_quant_lossless_f64(const double *in, size_t n, int nulls, double *out);

/* Element i of the standard's random sequence (0 <= i < 10000), for tests. */
float ff_quant_random(int i);

#endif
