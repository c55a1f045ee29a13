/* `fitsflow process`: FITS files in, the output layout of DESIGN.md under a folder out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/commands.h"
#include "base/log.h"
#include "base/number.h"
#include "base/settings.h"
#include "pipeline/batch.h"
#include "pipeline/budget.h"
#include "remote/remote.h"

static const char usage[] =
    "usage: fitsflow process [-o OUTDIR] [-j JOBS] [--offline] [--png-max N] [--max-pixels N]\n"
    "                        [--outputs LIST] [--ml-size N] [-q] FILE...\n"
    "\n"
    "Reads each FITS file and writes, under OUTDIR (default ./fitsflow-out):\n"
    "  header/{base}_header.txt, header/{base}_header.json, data/{base}_data.npy,\n"
    "  data/{base}_data.csv, images/local/{base}_gray.png, images/local/{base}_color.png,\n"
    "  asdf/{base}.asdf, for full-disk SDO AIA/HMI images prep/{base}_lev15.fits and\n"
    "  prep/{base}_ml.npy (level 1.5), then session/stack.npy, session/stack_index.csv and\n"
    "  session/channels.npz over every registered file, and manifest.json describing every\n"
    "  input and output.\n"
    "\n"
    "options:\n"
    "  -o, --output DIR     output folder (default ./fitsflow-out)\n"
    "  -j, --jobs N         files processed at once (default: number of cores)\n"
    "      --offline        do not contact Helioviewer, JSOC or HEK (FITSFLOW_OFFLINE=1)\n"
    "      --png-max N      downsample PNG renders so the long side is at most N pixels\n"
    "      --max-pixels N   refuse images with more pixels (default 268435456)\n"
    "      --outputs LIST   only these outputs: npy,csv,png,asdf,prep (default all; the header\n"
    "                       and manifest are always written)\n"
    "      --ml-size N      side of the level-1.5 ML arrays, dividing 4096 (default 512;\n"
    "                       FITSFLOW_ML_SIZE)\n"
    "  -q, --quiet          no per-file lines on stdout\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 every file processed; 1 a file was skipped or failed (reason on stderr and\n"
    "in manifest.json); 2 usage error.\n";

typedef struct cli_ctx {
    size_t done, total;
    int progress;
    int quiet;
} cli_ctx;

static void on_done(void *ctx, size_t index, const ff_file_result *r)
{
    (void)index;
    cli_ctx *c = ctx;
    c->done++;
    if (c->progress)
        fprintf(stderr, "\r\033[K");
    if (r->status == FF_FILE_PROCESSED) {
        if (!c->quiet) {
            const ff_obsmeta *m = &r->meta;
            printf("processed %s: %s%s%s%s%s, %s, %zu outputs, %.2f s\n", r->input,
                   m->observatory[0] ? m->observatory : "unknown observatory",
                   m->instrument[0] ? " " : "", m->instrument, m->measurement[0] ? " " : "",
                   m->measurement, m->has_time ? m->time_iso : "time unknown", r->noutputs,
                   r->seconds);
        }
    } else {
        fprintf(stderr, "fitsflow: %s: %s\n", r->input, r->reason);
        if (!c->quiet)
            printf("%s %s: %s\n", ff_file_status_name(r->status), r->input, r->reason);
    }
    fflush(stdout);
    if (c->progress && c->done < c->total)
        fprintf(stderr, "[%zu/%zu files]", c->done, c->total);
}

/* What the command line asks for, on top of the settings. */
typedef struct run_opts {
    ff_pipeline_config cfg;
    const char *outdir;
    int jobs;
    int quiet;
} run_opts;

/* Parses the options into o: -1 to go on (the files are argv[optind..]), else the exit status. */
static int parse_args(int argc, char **argv, run_opts *o)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"jobs", required_argument, NULL, 'j'},
        {"offline", no_argument, NULL, 'O'},      {"png-max", required_argument, NULL, 'P'},
        {"max-pixels", required_argument, NULL, 'M'}, {"quiet", no_argument, NULL, 'q'},
        {"outputs", required_argument, NULL, 'U'}, {"ml-size", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    ff_err err = {0};
    ff_setting_value v;
    uint64_t u;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:j:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            o->outdir = optarg;
            break;
        case 'j':
            if (ff_parse_u64(optarg, 1, 256, &u) != 0) {
                fprintf(stderr, "fitsflow process: -j takes a number of jobs from 1 to 256, not '%s'\n", optarg);
                return 2;
            }
            o->jobs = (int)u;
            break;
        case 'O':
            o->cfg.offline = 1;
            break;
        case 'P': /* a size to downsample to: unlike FITSFLOW_PNG_MAX, 0 (full size) makes no sense */
            if (ff_parse_u64(optarg, 1, 1 << 20, &u) != 0) {
                fprintf(stderr, "fitsflow process: --png-max takes a size in pixels, not '%s'\n", optarg);
                return 2;
            }
            o->cfg.png_max = (unsigned)u;
            break;
        case 'M':
            if (ff_setting_parse(FF_SET_MAX_PIXELS, "--max-pixels", optarg, &v, &err) != 0) {
                fprintf(stderr, "fitsflow process: %s\n", err.msg);
                return 2;
            }
            o->cfg.max_pixels = v.u;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'U':
            if (ff_pipeline_parse_outputs(optarg, &o->cfg.outputs, &err) != 0) {
                fprintf(stderr, "fitsflow process: --outputs: %s\n", err.msg);
                return 2;
            }
            break;
        case 'S':
            if (ff_setting_parse(FF_SET_ML_SIZE, "--ml-size", optarg, &v, &err) != 0 ||
                ff_pipeline_check_ml_size(v.u, "--ml-size", &err) != 0) {
                fprintf(stderr, "fitsflow process: %s\n", err.msg);
                return 2;
            }
            o->cfg.ml_size = (int)v.u;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "fitsflow process: no FITS files given\n\n%s", usage);
        return 2;
    }
    return -1;
}

/* The batch's inputs: each path with its name; a name with nothing before its ending, or the same
 * base as an earlier input's (outputs would collide), is skipped with the reason. */
static void name_inputs(char **paths, size_t n, ff_batch_input *inputs, char (*bases)[256])
{
    for (size_t i = 0; i < n; i++) {
        const char *path = paths[i];
        const char *slash = strrchr(path, '/');
        inputs[i].path = path;
        inputs[i].name = slash ? slash + 1 : path;
        ff_base_name(inputs[i].name, bases[i], sizeof bases[i]);
        if (!*bases[i])
            inputs[i].skip_reason = "the file name has nothing before its FITS ending";
        for (size_t j = 0; j < i && !inputs[i].skip_reason; j++)
            if (!strcmp(bases[i], bases[j]))
                inputs[i].skip_reason = "another input of this run has the same name; outputs would collide";
    }
}

/* Processes the n files into store (their results in results) and writes the manifest: the exit
 * status (1 when a file was not processed or the manifest could not be written). */
static int run_batch(run_opts *o, ff_store *store, char **paths, size_t n, ff_file_result *results)
{
    ff_batch_input *inputs = calloc(n, sizeof *inputs);
    char(*bases)[256] = calloc(n, sizeof *bases);
    ff_session_budget *budget = NULL;
    if (!inputs || !bases || ((o->cfg.session_max_pixels || o->cfg.session_max_output_bytes) &&
                              !(budget = ff_session_budget_new(o->cfg.session_max_pixels,
                                                               o->cfg.session_max_output_bytes)))) {
        fprintf(stderr, "fitsflow process: out of memory\n");
        free(inputs);
        free(bases);
        return 1;
    }
    o->cfg.budget = budget;
    name_inputs(paths, n, inputs, bases);
    cli_ctx c = {.total = n, .quiet = o->quiet, .progress = isatty(STDERR_FILENO) && !o->quiet};
    if (c.progress)
        fprintf(stderr, "[0/%zu files]", n);
    ff_pipeline_run_batch(&o->cfg, store, "", inputs, n, o->jobs, NULL, on_done, &c, results);
    int status = 0;
    for (size_t i = 0; i < n; i++)
        if (results[i].status != FF_FILE_PROCESSED)
            status = 1;
    ff_err err = {0};
    ff_session_stacks *stacks = calloc(1, sizeof *stacks);
    if (!stacks) {
        fprintf(stderr, "fitsflow process: out of memory\n");
        status = 1;
    } else if (ff_pipeline_write_stacks(&o->cfg, store, "", results, n, stacks, &err) != 0) {
        fprintf(stderr, "fitsflow process: cannot write the session stacks: %s\n", err.msg);
        snprintf(stacks->note, sizeof stacks->note, "the stacks could not be written: %.450s", err.msg);
        status = 1;
    } else if (stacks->noutputs && !o->quiet) {
        printf("stacked %zu registered file(s) in %zu channel(s): session/stack.npy, "
               "session/stack_index.csv, session/channels.npz\n", stacks->slices, stacks->nchannels);
    }
    ff_session_budget_free(budget);
    free(inputs);
    free(bases);
    int mrc = ff_pipeline_write_manifest(store, "", NULL, results, n, stacks, &err);
    free(stacks);
    if (mrc != 0) {
        fprintf(stderr, "fitsflow process: cannot write manifest.json: %s\n", err.msg);
        status = 1;
    }
    return status;
}

int ff_cmd_process(int argc, char **argv)
{
    ff_settings settings;
    run_opts o = {.outdir = "fitsflow-out"};
    ff_err err = {0};
    if (ff_settings_load(&settings, FF_USE_PROCESS, &err) != 0 ||
        ff_pipeline_config_from_settings(&o.cfg, &settings, &err) != 0) {
        fprintf(stderr, "fitsflow process: %s\n", err.msg);
        return 2;
    }
    ff_log_set_level((ff_log_level)ff_settings_choice(&settings, FF_SET_LOG_LEVEL));
    /* A run is not a session of uploads: its pixel and output budgets apply only when set. */
    if (!ff_settings_given(&settings, FF_SET_SESSION_MAX_PIXELS))
        o.cfg.session_max_pixels = 0;
    if (!ff_settings_given(&settings, FF_SET_SESSION_MAX_OUTPUT_MB))
        o.cfg.session_max_output_bytes = 0;
    o.jobs = o.cfg.threads;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    size_t n = (size_t)(argc - optind);
    ff_store *store = ff_store_open_fs(o.outdir, ff_settings_flag(&settings, FF_SET_FSYNC), &err);
    if (!store) {
        fprintf(stderr, "fitsflow process: cannot use output folder '%s': %s\n", o.outdir, err.msg);
        return 1;
    }
    ff_remote *remote = NULL;
    if (!o.cfg.offline && !(remote = ff_remote_open_configured(&settings, &err))) {
        fprintf(stderr, "fitsflow process: remote services: %s\n", err.msg);
        ff_store_close(store);
        return 1;
    }
    o.cfg.remote = remote;
    ff_file_result *results = calloc(n, sizeof *results);
    int status = 1;
    if (!results)
        fprintf(stderr, "fitsflow process: out of memory\n");
    else
        status = run_batch(&o, store, argv + optind, n, results);
    if (results && !o.quiet)
        printf("outputs in %s/ (manifest.json lists them)\n", o.outdir);
    for (size_t i = 0; results && i < n; i++)
        ff_file_result_free(&results[i]);
    free(results);
    ff_remote_close(remote);
    ff_store_close(store);
    return status;
}
