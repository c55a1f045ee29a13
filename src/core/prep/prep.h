/* Level 1.5 of full-disk SDO AIA and HMI images: the registration that sunpy 4.1's
 * GenericMap.rotate(recenter=True, scale=..., order=3) followed by aiapy's crop back to the input
 * shape performs (aiapy.calibrate.register), exposure normalisation of AIA, and the ML-size array:
 * the level-1.5 image on a 4096x4096 grid at 0.6"/px with the Sun at its centre, binned to N x N.
 *
 * The input WCS is read with WCSLIB, so PCi_j, CDi_j and CROTA2 headers all give the same matrix.
 * A file that is not a full-disk SDO image, or whose WCS or data cannot be registered, is not an
 * error: ff_prep_run returns FF_PREP_SKIP with a one-line reason, and nothing is allocated.
 * Interpolation is the cubic B-spline of scipy.ndimage.affine_transform(order=3, mode='constant')
 * with its spline prefilter (mirror boundary), including sunpy's padding, NaN and clipping rules;
 * work runs on all cores in bands of rows. */
#ifndef FF_CORE_PREP_PREP_H
#define FF_CORE_PREP_PREP_H

#include <stddef.h>

#include "base/err.h"
#include "core/fits/header.h"
#include "core/fits/image.h"
#include "core/out/sink.h"

/* Return values of ff_prep_check and ff_prep_run (failures return -1 with err filled). */
#define FF_PREP_OK 0
#define FF_PREP_SKIP 1

#define FF_PREP_MIN_SIDE 64      /* smallest image side registered */
#define FF_PREP_MAX_SIDE 4096    /* largest: SDO's detectors */
#define FF_PREP_GRID 4096        /* the ML grid: 4096x4096 at 0.6"/px */
#define FF_PREP_ML_DEFAULT 512
#define FF_PREP_REASON_MAX FF_ERR_MAX

typedef enum ff_prep_inst { FF_PREP_AIA = 1, FF_PREP_HMI = 2 } ff_prep_inst;

/* Working memory a caller may keep between registrations (one per thread that calls
 * ff_prep_run): the spline coefficients of a 4096x4096 image take 134 MiB and its result 64 MiB,
 * and fresh pages cost the kernel about half as long as the registration itself. Without one,
 * each call allocates and frees its own. Zero-initialise it before first use. */
typedef struct ff_prep_scratch {
    void *buf;      /* coefficients */
    size_t size;
    void *out;      /* a result image handed back by ff_prep_release, reused by the next run */
    size_t out_size;
} ff_prep_scratch;

/* Frees what the scratch holds (it can be used again afterwards). */
void ff_prep_scratch_free(ff_prep_scratch *s);

typedef struct ff_prep_opts {
    int nthreads;    /* <= 0: every online core */
    int missing_min; /* 0: output pixels outside the input are NaN; 1: the image minimum
                        (aiapy's default) */
    ff_prep_scratch *scratch; /* NULL, or memory kept between calls (not shared by threads) */
} ff_prep_opts;

/* What the header says, as WCSLIB read it, and the registration it implies. Angles in arcsec. */
typedef struct ff_prep_geom {
    ff_prep_inst inst;
    size_t n;               /* input side (the image is n x n) */
    double crpix[2];        /* 1-based reference pixel */
    double crval[2];        /* reference coordinate, arcsec */
    double cdelt[2];        /* plate scale, arcsec/px (sunpy's Map.scale) */
    double rot[2][2];       /* sunpy's Map.rotation_matrix: world = cdelt * rot * (pixel - crpix) */
    double roll_deg;        /* the rotation that rot describes, degrees counter-clockwise */
    double rsun_arcsec;     /* solar radius seen from the observer */
    double target;          /* output plate scale: 0.6, or the nearest multiple of 0.6 for a binned
                               (not 4096x4096) image, as aiapy chooses */
    double scale;           /* cdelt[0] / target, sunpy's rotate(scale=) */
    double exptime;         /* EXPTIME in seconds, or NaN when missing or not a number */
} ff_prep_geom;

/* A level-1.5 image. */
typedef struct ff_prep {
    ff_prep_geom geom;
    ff_image image;         /* float32, 2-D (h, w); owned */
    double crpix[2];        /* 1-based, of the reference coordinate (crval) in the output */
    double crval[2];        /* arcsec (unchanged from the input) */
    double cdelt;           /* arcsec/px, both axes (= geom.target) */
    double rsun_px;         /* R_SUN: solar radius in output pixels */
    int normalised;         /* 1: divided by EXPTIME (AIA, EXPTIME within 1e-6 .. 1e5 s) */
    char norm_reason[160];  /* why not normalised, when normalised == 0 */
} ff_prep;

/* Decides whether header + image are a full-disk SDO AIA or HMI image that can be registered,
 * and fills geom. Returns FF_PREP_OK, or FF_PREP_SKIP with reason (one sentence) filled; never
 * fails otherwise. Checks: SDO AIA/HMI (TELESCOP, INSTRUME; not an HMI synoptic chart), 2-D,
 * square, 64..4096 pixels a side, a primary helioprojective WCS (HPLN/HPLT) that WCSLIB accepts,
 * numeric CRPIX, CDELT (or CD), CRVAL, PC/CD/CROTA cards, those forms agreeing when several are
 * given, square pixels, a pure rotation, CRPIX on the image, a plate scale within [0.5, 1.5] of
 * the target, and the whole solar disk inside the image. Data are checked by ff_prep_run. */
int ff_prep_check(const ff_header *h, const ff_image *img, ff_prep_geom *geom, ff_err *reason);

/* Registers img to level 1.5 and normalises AIA by exposure. Returns FF_PREP_OK with out filled
 * (free with ff_prep_free), FF_PREP_SKIP with err holding the reason (also: data with infinities
 * or no finite pixel), or -1 on failure (memory). */
int ff_prep_run(const ff_header *h, const ff_image *img, const ff_prep_opts *opts, ff_prep *out,
                ff_err *err);

void ff_prep_free(ff_prep *p);

/* As ff_prep_free, but the image's memory goes to s (when s is not NULL) for the next
 * ff_prep_run that uses s. */
void ff_prep_release(ff_prep *p, ff_prep_scratch *s);

/* 1 when n is a valid ML size: 1 <= n <= 4096 and 4096 % n == 0. */
int ff_prep_ml_size_ok(long n);

/* The ML array: the level-1.5 image on the 4096x4096 grid at 0.6"/px (a pixel of k*0.6" covers
 * k x k grid cells; the image is centred at offset (4096 - n*k) // 2, the rest NaN), averaged over
 * size x size blocks ignoring NaN (NaN when a block has no finite value). out becomes a float32
 * (size, size) image. Returns 0, or -1 with err (invalid size, memory). */
int ff_prep_ml(const ff_prep *p, int size, int nthreads, ff_image *out, ff_err *err);

/* The level-1.5 header as card images: the input header src without structural, compression,
 * checksum and old linear-WCS cards, with CRPIX, CRVAL, CDELT, CUNIT, PC = identity, R_SUN,
 * LVL_NUM = 1.5, BITPIX -32 and (when normalised) EXPTIME = 1 and BUNIT 'DN/s', and HISTORY
 * cards naming FitsFlow and what was done. No value is NaN. Returns 0 or -1 with err. */
int ff_prep_header(const ff_prep *p, const ff_header *src, ff_header *out, ff_err *err);

/* The level-1.5 image as a FITS file (primary HDU, BITPIX -32, that header) written with CFITSIO
 * to sink. Returns 0 or -1 with err. */
int ff_prep_write_fits(const ff_prep *p, const ff_header *src, ff_sink *out, ff_err *err);

#endif
