/* Processing FITS files into FitsFlow's outputs: the one place that knows which outputs exist,
 * where they go (relative paths under a prefix of the store) and in which order the steps run.
 * Front ends (CLI, server, Lambda) call this; they never write outputs themselves. */
#ifndef FF_PIPELINE_PIPELINE_H
#define FF_PIPELINE_PIPELINE_H

#include <stdint.h>

#include "pipeline/result.h"
#include "store/store.h"

struct ff_settings;

/* The numbered steps of the log protocol (DESIGN.md): _log_2 .. _log_8. Steps are reported in
 * number order; the level-1.5 step came later than the original's seven, so it is number 8 and
 * is logged after ASDF's _log_7 (a client that knows only 2..7 never sees a gap). */
enum {
    FF_STEP_HEADER = 2,
    FF_STEP_DATA = 3,
    FF_STEP_HELIOVIEWER = 4,
    FF_STEP_JSOC = 5,
    FF_STEP_HEK = 6,
    FF_STEP_ASDF = 7,
    FF_STEP_PREP = 8,
    FF_STEP_LAST = FF_STEP_PREP,
};

/* Outputs a run may ask for (the header is always written). */
enum {
    FF_OUTPUT_NPY = 1u << 0,
    FF_OUTPUT_CSV = 1u << 1,
    FF_OUTPUT_PNG = 1u << 2,
    FF_OUTPUT_ASDF = 1u << 3,
    FF_OUTPUT_PREP = 1u << 4, /* level 1.5 (prep/{base}_lev15.fits, prep/{base}_ml.npy) and the
                                 session stacks */
    FF_OUTPUTS_ALL = 0x1fu,
};

/* Parses a comma-separated list of "npy", "csv", "png", "asdf", "prep", "all" (and "header", always on)
 * into FF_OUTPUT_* bits; -1 with a reason for an unknown name. */
int ff_pipeline_parse_outputs(const char *list, unsigned *out, ff_err *err);

typedef struct ff_pipeline_config {
    uint64_t max_pixels;     /* refuse larger images (default 2^28) */
    int threads;             /* threads one file may use (default: number of cores) */
    unsigned png_max;        /* 0 = full-resolution PNGs */
    int offline;             /* 1: skip Helioviewer, JSOC and HEK */
    struct ff_remote *remote; /* session for steps 4-6 (remote/remote.h), shared by the files of a
                                 batch; the front end opens it (NULL only when offline) */
    int asdf_compress;       /* 1: zlib block (default) */
    unsigned outputs;        /* FF_OUTPUT_* bits (default FF_OUTPUTS_ALL) */
    int ml_size;             /* side of the ML arrays (FITSFLOW_ML_SIZE, --ml-size; default 512;
                                4096 % ml_size == 0) */
    int files_at_once;       /* files of one server session processed at once (default 2: the
                                remote steps of one file wait on the network while another
                                computes) */
    const char *creator, *institution, *award, *description; /* ASDF meta */
    int sdo_only;            /* 1: skip files whose TELESCOP does not name SDO, as the original
                                did (FITSFLOW_SDO_ONLY; default 0) */
    /* Budgets (pipeline/budget.h). A session of the server gets one of session_max_pixels
     * pixels and session_max_output_bytes bytes of outputs (0: not limited; defaults 2^30 and
     * 16 GiB); `budget` is set by whoever runs files under one (the session runner; NULL: none).
     * Files being processed share `memory` (NULL: the process-wide one of memory_bytes). */
    uint64_t session_max_pixels;
    uint64_t session_max_output_bytes;
    struct ff_session_budget *budget;
    struct ff_membudget *memory;
    uint64_t memory_bytes;   /* the size of the process-wide `memory` budget made when memory is
                                NULL (FITSFLOW_MEMORY_MB; default half the machine's memory) */
    uint64_t session_limit_bytes; /* upload bytes a session may hold (FITSFLOW_SESSION_LIMIT_MB):
                                     larger uploads are not read */
} ff_pipeline_config;

/* Every field from the settings (base/settings.h: the processing rows, loaded by the front end);
 * threads = the number of cores, session_limit_bytes its default, no remote session, no budgets
 * attached. -1 with the variable named when FITSFLOW_OUTPUTS names an unknown output. */
int ff_pipeline_config_from_settings(ff_pipeline_config *cfg, const struct ff_settings *s,
                                     ff_err *err);
/* 0 when n is a valid ML size (1..4096, dividing 4096), else -1 with a message naming `what`
 * (the variable or flag). */
int ff_pipeline_check_ml_size(uint64_t n, const char *what, ff_err *err);
/* The same from the settings' defaults (no environment). */
void ff_pipeline_config_defaults(ff_pipeline_config *cfg);

/* The reason a file is skipped with sdo_only: the original's words, so that its log reads
 * "Skipping: {base} — Not an SDO FITS file." */
#define FF_PIPELINE_NOT_SDO "Not an SDO FITS file."

/* With cfg->sdo_only: 1 when the file must be skipped, i.e. its TELESCOP does not contain "SDO"
 * (any case; a missing TELESCOP too), the original's test. 0 otherwise. */
struct ff_header;
int ff_pipeline_skip_not_sdo(const ff_pipeline_config *cfg, const struct ff_header *h);

/* Called after each step of a file, in order, exactly once per step: step is FF_STEP_*, ok says
 * whether it succeeded, message is the one-line log text. A file that cannot be read (or, with
 * sdo_only, is not SDO's) gets only step FF_STEP_HEADER with ok = 0 and
 * "Skipping: {base} — reason". */
typedef void (*ff_step_fn)(void *ctx, const ff_file_result *r, int step, int ok, const char *message);

/* Processes the FITS file at path (uploaded as name) into store keys prefix + relative output
 * paths, filling r (initialised here). Returns 0 when processed, 1 when skipped (unreadable
 * input, or not SDO's with sdo_only: nothing was written), -1 when failed (outputs already
 * written are deleted again). */
int ff_pipeline_process_file(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                             const char *path, const char *name, ff_step_fn on_step, void *ctx,
                             ff_file_result *r);

/* A hook for tests, called with the input's name as each file starts; empty (and weak) in
 * every build of fitsflow, see process.c. */
void ff_pipeline_test_file_hook(const char *name);

/* The session stacks made after the last file of a session (or of a `fitsflow process` run). */
#define FF_STACK_MAX_CHANNELS 64
#define FF_STACK_CHANNEL_NAME 64
typedef struct ff_session_stacks {
    ff_output outputs[3];    /* session/stack.npy, session/stack_index.csv, session/channels.npz */
    size_t noutputs;         /* 0: no stacks (no registered file, or prep not asked for) */
    size_t slices;           /* K: registered files stacked */
    int ml_size;             /* N */
    size_t nchannels;
    struct {
        char name[FF_STACK_CHANNEL_NAME]; /* "aia_171", "hmi_magnetogram", ... */
        size_t count;
    } channels[FF_STACK_MAX_CHANNELS];
    char note[512];          /* what was left out, or why the stacks are missing; "" */
} ff_session_stacks;

/* Writes prefix + session/stack.npy (float32 (K, N, N), the registered files in observation-time
 * order), session/stack_index.csv and session/channels.npz from the prep/{base}_ml.npy outputs
 * of results (as stored: one slice read at a time), each counted against cfg->budget. With no
 * registered file it writes none and deletes those of an earlier run. 0 with out filled, or -1
 * with err (the store, the budget, memory); out->noutputs then says what was written. */
int ff_pipeline_write_stacks(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                             const ff_file_result *results, size_t n, ff_session_stacks *out,
                             ff_err *err);

/* Writes prefix + "manifest.json" for these results (and the session stacks, when not NULL:
 * "session_outputs" and "stacks"). */
int ff_pipeline_write_manifest(ff_store *store, const char *prefix, const char *session_id,
                               const ff_file_result *results, size_t n,
                               const ff_session_stacks *stacks, ff_err *err);

#endif
