/* What processing one input produced: its status, metadata and every output with its size and
 * sha256. The manifest and the front ends' reports are made from these. */
#ifndef FF_PIPELINE_RESULT_H
#define FF_PIPELINE_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/fits/obsmeta.h"

typedef enum ff_file_status { FF_FILE_PROCESSED, FF_FILE_SKIPPED, FF_FILE_FAILED } ff_file_status;

typedef struct ff_output {
    char path[512];          /* relative to the processed folder, e.g. "data/x_data.npy" */
    uint64_t bytes;
    char sha256[65];
    const char *media_type;  /* static string */
} ff_output;

#define FF_MAX_NOTES 8

/* The level-1.5 step's outcome for one file (the manifest's "prep" object). */
typedef enum ff_prep_state {
    FF_PREP_NOT_RUN = 0,     /* not asked for (--outputs without prep), or the file was not read */
    FF_PREP_REGISTERED = 1,  /* prep/{base}_lev15.fits and prep/{base}_ml.npy written */
    FF_PREP_SKIPPED = 2,     /* not a full-disk SDO image that can be registered: reason says why */
} ff_prep_state;

typedef struct ff_prep_result {
    ff_prep_state state;
    char reason[256];        /* skipped: why (one sentence) */
    int normalised;          /* registered: divided by EXPTIME */
    char norm_reason[160];   /* registered and not normalised: why */
    double exptime;          /* EXPTIME in seconds (NaN when missing) */
    int ml_size;             /* side of the ML array */
    size_t lev15_shape[2];   /* (height, width) of the level-1.5 image */
    double cdelt;            /* its plate scale, arcsec per pixel */
} ff_prep_result;

typedef struct ff_file_result {
    char input[256];         /* the input's file name (no folders) */
    char base[256];          /* input name without its .fits / .fit / .fts (.gz) ending */
    ff_file_status status;
    char reason[512];        /* why it was skipped or failed; "" when processed */
    ff_err_kind error_kind;  /* failed: FF_ERR_TRANSIENT when the store failed in a way that may
                                pass (the file is worth trying again later); not in the manifest */
    int hdu;                 /* chosen HDU (astropy numbering), -1 before reading */
    char compression[24];
    char scaling[512];       /* how the PNG renders were stretched */
    char dtype[16];          /* numpy name */
    int ndim;
    size_t shape[3];
    ff_obsmeta meta;
    ff_output *outputs;      /* owned */
    size_t noutputs, cap_outputs;
    char notes[FF_MAX_NOTES][256]; /* things a user should know: "CSV skipped: ..." */
    int nnotes;
    ff_prep_result prep;
    double seconds;          /* wall time spent on this file */
} ff_file_result;

void ff_file_result_init(ff_file_result *r, const char *input_name);
int ff_file_result_add_output(ff_file_result *r, const ff_output *o);
void ff_file_result_note(ff_file_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ff_file_result_free(ff_file_result *r);

const char *ff_file_status_name(ff_file_status s);

/* The base name of an upload: name without .fits/.fit/.fts and an optional .gz (any case). */
void ff_base_name(const char *name, char *base, size_t basesize);

#endif
