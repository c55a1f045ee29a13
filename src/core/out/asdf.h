/* The ASDF bundle: one file per FITS image that carries its header (as text and typed), what we
 * know of the observation, the image itself as a binary block, the paths of the other outputs and
 * the HEK events, in a form Python's asdf package opens and validates (ASDF Standard 1.5.0).
 *
 * Tree written (all under the !core/asdf-1.1.0 root):
 *   asdf_library  !core/software-1.0.0 {name: FitsFlow, version, homepage, author}
 *   meta          creator, institution, award, description, pipeline {name, version}, created
 *   fits          source_name, header_text (literal block), header {KEY: typed value; COMMENT,
 *                 HISTORY and the blank keyword as lists; first card wins}, comments {KEY: text}
 *   observation   observatory, instrument, detector, measurement, wavelength, source_id, exptime
 *                 (null when unknown), time (ISO UTC string or null), time_reason
 *   data          image (!core/ndarray-1.0.0, source 0, host byte order), dtype, shape, csv (path
 *                 or null), npy
 *   images        list of PNG paths
 *   hek           the HEK JSON as YAML (object -> mapping, array -> list), or {} when absent or
 *                 unreadable; then hek_note says why
 *   prep          (when given) level 1.5: status ("registered" or "skipped"), reason (null or why
 *                 not registered); when registered also normalised, normalise_reason, exptime,
 *                 ml (!core/ndarray-1.0.0, source 1, a raw block), ml_npy and lev15_fits (paths),
 *                 header and comments of the level-1.5 image (as under fits)
 * Strings are always quoted (so "T", "1e5", "null" stay strings); floats always carry a '.' or are
 * .nan/.inf/-.inf (so YAML 1.1 reads them as floats); bytes that are not valid UTF-8 become U+FFFD.
 * The block's MD5 is that of the uncompressed bytes: python-asdf 2.14 computes and checks it so. */
#ifndef FF_CORE_OUT_ASDF_H
#define FF_CORE_OUT_ASDF_H

#include <stddef.h>

#include "base/err.h"
#include "core/fits/header.h"
#include "core/fits/image.h"
#include "core/fits/obsmeta.h"
#include "core/out/sink.h"

typedef struct ff_asdf_meta {
    const char *creator, *institution, *award, *description; /* from configuration; may be "" */
    const char *pipeline_name, *pipeline_version;            /* "FitsFlow", FF_VERSION */
    const char *created_iso;                                 /* UTC timestamp */
} ff_asdf_meta;

/* The level-1.5 node. ml NULL: not registered (only status and reason are written). */
typedef struct ff_asdf_prep {
    const char *status;               /* "registered" or "skipped" */
    const char *reason;               /* why skipped, or NULL */
    int normalised;
    const char *normalise_reason;     /* why not normalised, or NULL */
    double exptime;                   /* NaN when unknown */
    const ff_image *ml;               /* float32 (N, N) */
    const ff_header *header;          /* the level-1.5 header */
    const char *ml_path, *lev15_path; /* relative paths */
} ff_asdf_prep;

typedef struct ff_asdf_input {
    const ff_asdf_meta *meta;
    const char *source_name;          /* the uploaded file name */
    const ff_header *header;          /* src/core/fits/header.h */
    const char *header_text;          /* the header as "KEY = value" lines */
    const ff_obsmeta *obs;            /* src/core/fits/obsmeta.h */
    const ff_image *image;            /* src/core/fits/image.h */
    const char *csv_path, *npy_path;  /* relative paths; csv_path may be NULL (cube) */
    const char *const *image_paths; size_t n_image_paths;   /* relative PNG paths */
    const char *hek_json; size_t hek_json_len;   /* HEK events JSON text, or NULL when absent */
    int compress;                     /* 1: zlib-compressed block (default); 0: raw block */
    int nthreads;                     /* >1: compress in parallel */
    const ff_asdf_prep *prep;         /* NULL: no prep node */
} ff_asdf_input;

/* Writes the whole ASDF file to out. Required: image (ndim 1..3, nelem matching shape; an empty
 * array is allowed). Any of meta, header, header_text, obs, the paths and hek_json may be NULL
 * (written as empty strings, empty mappings or null). Invalid HEK JSON is not an error: hek is
 * written empty and hek_note says why. Returns 0, or -1 with err filled (bad image description,
 * out of memory, sink failure). Compression uses zlib level 1. */
int ff_asdf_write(const ff_asdf_input *in, ff_sink *out, ff_err *err);

#endif
