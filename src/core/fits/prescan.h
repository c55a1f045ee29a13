/* The header pre-scan: every header of a FITS file judged on its raw bytes before CFITSIO opens
 * the file, for the values CFITSIO acts on without checking them well enough to survive them.
 *
 * CFITSIO 4.2 crashes while opening a file whose NAXIS is 104 or more (free of a bad pointer in
 * fits_open_memfile), divides by a zero ZTILEn or RICE block size when it merely moves to a
 * tile-compressed HDU, overflows fixed buffers with long text where it reads a number or a
 * column name, and takes whichever copy of a duplicated keyword its onward search meets first,
 * so that the tile layout it decodes need not be the one fits.c checked. Cards are read the way
 * CFITSIO reads them (its keyword-name and value-field rules, keywords in any case, HIERARCH
 * names, '=' anywhere when not in column 9), and a header is everything from SIMPLE, or from an
 * XTENSION card (its "=" anywhere) at a 2880-byte boundary, to its END card. */
#ifndef FF_CORE_FITS_PRESCAN_H
#define FF_CORE_FITS_PRESCAN_H

#include <stddef.h>

#include "base/err.h"

#define FF_PRESCAN_KEEP 16 /* headers whose values are kept in ff_prescan (all are judged) */

/* What the scan read from one header (values CFITSIO would read; -1 where absent or not a
 * number). ztile holds the tile sides with CFITSIO's defaults applied (ZNAXIS1, then 1). */
typedef struct ff_prescan_hdu {
    size_t offset; /* byte offset of its first card */
    int naxis;
    long long naxes[3];
    int zimage;    /* ZIMAGE = T */
    int znaxis;
    long long znaxes[3];
    long long ztile[3];
    char zcmptype[24];
} ff_prescan_hdu;

typedef struct ff_prescan {
    size_t nhdus; /* headers judged */
    ff_prescan_hdu hdu[FF_PRESCAN_KEEP];
} ff_prescan;

/* Judges every header in the size bytes at buf (a whole FITS file in memory). Returns 0 when
 * CFITSIO may open it, or -1 with err naming the first problem in one line, e.g. "HDU 0 has 104
 * axes (NAXIS = 104) in its header; only 1 to 3 are supported". out may be NULL. */
int ff_fits_prescan(const unsigned char *buf, size_t size, ff_prescan *out, ff_err *err);

#endif
