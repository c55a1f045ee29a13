/* One FITS file through every step: read, header (text, JSON), data (NPY, CSV, renders), the
 * remote steps, ASDF. Once the image is in memory the outputs are independent, so they run as
 * tasks on the file's threads (the remote fetches on a thread of their own, since they mostly
 * wait); the steps are still reported exactly once each, in order, so the log protocol holds.
 * Level 1.5 (registration, the ML array) is one of those tasks, always taken first: the ASDF
 * bundle carries its array. It is reported last, as step 8. */
#include "pipeline/pipeline.h"
#include "base/clock.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/out/asdf.h"
#include "core/fits/fits.h"
#include "base/log.h"
#include "core/fits/fits_scan.h"
#include "core/out/render.h"
#include "core/out/writers.h"
#include "core/prep/prep.h"
#include "pipeline/budget.h"
#include "pipeline/output.h"
#include "remote/remote.h"

typedef struct step_ctx {
    ff_step_fn fn;
    void *ctx;
    ff_file_result *r;
} step_ctx;

static void report(step_ctx *s, int step, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(step_ctx *s, int step, int ok, const char *fmt, ...)
{
    if (!s->fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->fn(s->ctx, s->r, step, ok, msg);
}

/* Opens an output that counts against the session's output budget, when there is one. */
static ff_out *out_open(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                        const char *rel, const char *media, ff_err *err)
{
    ff_out *o = ff_out_open(store, prefix, rel, media, err);
    if (o && cfg->budget)
        ff_out_set_budget(o, cfg->budget);
    return o;
}

/* ---- the tasks of one file -------------------------------------------------------------- */

enum task_kind { T_NPY, T_CSV, T_GRAY, T_COLOR, T_ASDF, T_PREP, T_COUNT };

typedef struct task {
    int enabled;
    char rel[600];
    const char *media;
    int taken, done, rc;
    ff_err err;
    ff_output rec;
} task;

/* What the remote steps (4 Helioviewer, 5 JSOC, 6 HEK) came back with. */
typedef struct remote_step {
    int ok;
    char message[600];
    int has_output;
    ff_output rec;
} remote_step;

typedef struct file_job {
    const ff_pipeline_config *cfg;
    ff_store *store;
    const char *prefix;
    ff_fits *fits;
    ff_file_result *r;
    const char *header_text;
    ff_render_params rp;
    char scaling[512];
    task tasks[T_COUNT];
    int inner_threads; /* threads a task may use itself */
    /* remote */
    remote_step remote[3];
    ff_membuf hek;
    int remote_done;
    /* level 1.5 (the T_PREP task): its outcome, its outputs as committed (the lev15 FITS, the
     * ML array), and for the ASDF bundle the ML array and the level-1.5 header */
    ff_prep_result prep;
    int prep_ready;  /* the ASDF bundle's part of level 1.5 is settled (j->ml, j->lev15) */
    int prep_usable; /* ... and may go in: registered, skipped with a reason, not failed */
    ff_output prep_recs[2];
    int prep_nrecs, prep_recs_added;
    ff_image ml;
    ff_header lev15;
    int have_lev15;
    pthread_mutex_t lock;
    pthread_cond_t remote_cond;
} file_job;

/* The colour task also writes the gray PNG when both are asked for: the renderer then deflates
 * once for the two (they share their pixel data). */
static int run_render(file_job *j, task *t, int color)
{
    task *g = &j->tasks[T_GRAY];
    int both = color && g->enabled;
    ff_out *o = out_open(j->cfg, j->store, j->prefix, t->rel, t->media, &t->err);
    if (!o)
        return -1;
    ff_out *go = both ? out_open(j->cfg, j->store, j->prefix, g->rel, g->media, &t->err) : NULL;
    if (both && !go) {
        ff_out_abort(o);
        return -1;
    }
    char scaling[512] = "";
    ff_render_params rp = j->rp;
    rp.nthreads = j->inner_threads; /* as CSV: no core idles when the render is the last task */
    ff_sink *gray_sink = both ? ff_out_sink(go) : color ? NULL : ff_out_sink(o);
    if (ff_render_pngs(&j->fits->image, &rp, gray_sink, color ? ff_out_sink(o) : NULL, scaling,
                       sizeof scaling, &t->err) != 0) {
        ff_out_abort(o);
        ff_out_abort(go);
        return -1;
    }
    pthread_mutex_lock(&j->lock);
    snprintf(j->scaling, sizeof j->scaling, "%s", scaling);
    pthread_mutex_unlock(&j->lock);
    if (both) {
        int grc = ff_out_commit_rec(go, &g->rec, &g->err);
        pthread_mutex_lock(&j->lock);
        g->rc = grc;
        g->done = 1;
        pthread_mutex_unlock(&j->lock);
        if (grc != 0) {
            ff_out_abort(o);
            t->err = g->err;
            return -1;
        }
    }
    return ff_out_commit_rec(o, &t->rec, &t->err);
}

/* What the ASDF bundle needs of level 1.5 is settled (usable or not): it may start. */
static void prep_settled(file_job *j, int usable)
{
    pthread_mutex_lock(&j->lock);
    if (!j->prep_ready) {
        j->prep_ready = 1;
        j->prep_usable = usable;
        pthread_cond_broadcast(&j->remote_cond);
    }
    pthread_mutex_unlock(&j->lock);
}

/* Level 1.5: registration, exposure normalisation, the ML array; prep/{base}_lev15.fits and
 * prep/{base}_ml.npy. A file that is not a full-disk SDO image is not registered: that is the
 * step's outcome (j->prep), not a failure. -1 with t->err only when something failed (memory,
 * the store). The ML array and the level-1.5 header are made first, so that the ASDF bundle
 * can be written while the level-1.5 FITS file is. */
static int run_prep(file_job *j, task *t)
{
    ff_prep_result *pr = &j->prep;
    const ff_header *h = &j->fits->header;
    ff_prep_geom geom;
    ff_err why = {0};
    ff_prep p;
    int rc = ff_prep_check(h, &j->fits->image, &geom, &why);
    if (rc == FF_PREP_OK) {
        ff_prep_opts po = {.nthreads = j->inner_threads};
        rc = ff_prep_run(h, &j->fits->image, &po, &p, &why);
        if (rc < 0) {
            t->err = why;
            prep_settled(j, 0);
            return -1;
        }
    }
    if (rc == FF_PREP_SKIP) {
        pr->state = FF_PREP_SKIPPED;
        snprintf(pr->reason, sizeof pr->reason, "%.255s", why.msg);
        prep_settled(j, 1);
        return 0;
    }
    pr->state = FF_PREP_REGISTERED;
    pr->normalised = p.normalised;
    snprintf(pr->norm_reason, sizeof pr->norm_reason, "%s", p.normalised ? "" : p.norm_reason);
    pr->exptime = p.geom.exptime;
    pr->ml_size = j->cfg->ml_size > 0 ? j->cfg->ml_size : FF_PREP_ML_DEFAULT;
    pr->lev15_shape[0] = p.image.shape[0];
    pr->lev15_shape[1] = p.image.shape[1];
    pr->cdelt = p.cdelt;
    if (ff_prep_ml(&p, pr->ml_size, j->inner_threads, &j->ml, &t->err) != 0)
        goto fail;
    if (j->tasks[T_ASDF].enabled) {
        if (ff_prep_header(&p, h, &j->lev15, &t->err) != 0)
            goto fail;
        j->have_lev15 = 1;
    }
    prep_settled(j, 1);
    char rel[600];
    snprintf(rel, sizeof rel, "prep/%s_lev15.fits", j->r->base);
    ff_out *o = out_open(j->cfg, j->store, j->prefix, rel, "application/fits", &t->err);
    if (!o)
        goto fail;
    if (ff_prep_write_fits(&p, h, ff_out_sink(o), &t->err) != 0) {
        ff_out_abort(o);
        goto fail;
    }
    if (ff_out_commit_rec(o, &j->prep_recs[0], &t->err) != 0)
        goto fail;
    j->prep_nrecs = 1;
    snprintf(rel, sizeof rel, "prep/%s_ml.npy", j->r->base);
    if (!(o = out_open(j->cfg, j->store, j->prefix, rel, "application/octet-stream", &t->err)))
        goto fail;
    if (ff_write_npy(&j->ml, ff_out_sink(o), &t->err) != 0) {
        ff_out_abort(o);
        goto fail;
    }
    if (ff_out_commit_rec(o, &j->prep_recs[1], &t->err) != 0)
        goto fail;
    j->prep_nrecs = 2;
    ff_prep_free(&p);
    return 0;
fail:
    prep_settled(j, 0); /* no effect when already settled: the file fails anyway */
    ff_prep_free(&p);
    return -1;
}

/* The level-1.5 outputs committed so far join the result (once): to be listed, or deleted. */
static void add_prep_outputs(file_job *j)
{
    if (j->prep_recs_added)
        return;
    j->prep_recs_added = 1;
    for (int k = 0; k < j->prep_nrecs; k++)
        ff_file_result_add_output(j->r, &j->prep_recs[k]);
}

static int run_asdf(file_job *j, task *t)
{
    /* The bundle embeds the HEK events and names the remote images, and carries the level-1.5
     * array: task_worker takes it only once they are there (task_ready). */
    pthread_mutex_lock(&j->lock);
    assert(j->remote_done && (!j->tasks[T_PREP].enabled || j->prep_ready));
    int prep_usable = j->prep_usable;
    pthread_mutex_unlock(&j->lock);

    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const ff_pipeline_config *cfg = j->cfg;
    ff_asdf_meta meta = {.creator = cfg->creator, .institution = cfg->institution,
                         .award = cfg->award, .description = cfg->description,
                         .pipeline_name = "FitsFlow", .pipeline_version = FF_VERSION,
                         .created_iso = created};
    const char *images[8];
    size_t nimages = 0;
    if (j->tasks[T_GRAY].enabled)
        images[nimages++] = j->tasks[T_GRAY].rel;
    if (j->tasks[T_COLOR].enabled)
        images[nimages++] = j->tasks[T_COLOR].rel;
    for (int k = 0; k < 2; k++) /* Helioviewer and JSOC images */
        if (j->remote[k].has_output)
            images[nimages++] = j->remote[k].rec.path;
    ff_asdf_input in = {.meta = &meta, .source_name = j->r->input, .header = &j->fits->header,
                        .header_text = j->header_text, .obs = &j->r->meta,
                        .image = &j->fits->image,
                        .csv_path = j->tasks[T_CSV].enabled ? j->tasks[T_CSV].rel : NULL,
                        .npy_path = j->tasks[T_NPY].enabled ? j->tasks[T_NPY].rel : NULL,
                        .image_paths = images, .n_image_paths = nimages,
                        .hek_json = j->hek.len ? (const char *)j->hek.data : NULL,
                        .hek_json_len = j->hek.len, .compress = cfg->asdf_compress,
                        .nthreads = j->inner_threads};
    /* Level 1.5 (settled before: see task_ready), unless it failed (the file fails). */
    char ml_rel[600], lev15_rel[600];
    snprintf(ml_rel, sizeof ml_rel, "prep/%s_ml.npy", j->r->base);
    snprintf(lev15_rel, sizeof lev15_rel, "prep/%s_lev15.fits", j->r->base);
    const ff_prep_result *pr = &j->prep;
    ff_asdf_prep ap = {.status = pr->state == FF_PREP_REGISTERED ? "registered" : "skipped",
                       .reason = pr->reason, .normalised = pr->normalised,
                       .normalise_reason = pr->norm_reason, .exptime = pr->exptime,
                       .ml = pr->state == FF_PREP_REGISTERED && j->have_lev15 ? &j->ml : NULL,
                       .header = &j->lev15, .ml_path = ml_rel, .lev15_path = lev15_rel};
    if (j->tasks[T_PREP].enabled && prep_usable && pr->state != FF_PREP_NOT_RUN)
        in.prep = &ap;
    ff_out *o = out_open(j->cfg, j->store, j->prefix, t->rel, t->media, &t->err);
    if (!o)
        return -1;
    if (ff_asdf_write(&in, ff_out_sink(o), &t->err) != 0) {
        ff_out_abort(o);
        return -1;
    }
    return ff_out_commit_rec(o, &t->rec, &t->err);
}

static int run_task(file_job *j, int kind)
{
    task *t = &j->tasks[kind];
    ff_out *o;
    switch (kind) {
    case T_NPY:
    case T_CSV:
        o = out_open(j->cfg, j->store, j->prefix, t->rel, t->media, &t->err);
        if (!o)
            return -1;
        if ((kind == T_NPY ? ff_write_npy(&j->fits->image, ff_out_sink(o), &t->err)
                           : ff_write_csv(&j->fits->image, ff_out_sink(o), j->inner_threads,
                                          &t->err)) != 0) {
            ff_out_abort(o);
            return -1;
        }
        return ff_out_commit_rec(o, &t->rec, &t->err);
    case T_GRAY:
        return run_render(j, t, 0);
    case T_COLOR:
        return run_render(j, t, 1);
    case T_ASDF:
        return run_asdf(j, t);
    case T_PREP:
        return run_prep(j, t);
    }
    return -1;
}

/* Workers take tasks in this order, skipping one that cannot start yet: the ASDF bundle waits
 * for the remote steps (HEK's events, the remote images' names) and for level 1.5's ML array
 * (task_ready). A worker that finds only tasks that cannot start waits for them; with one thread
 * this never hangs, since level 1.5 comes first and the remote steps run on their own thread.
 * Longest first finishes soonest on two cores, except that a task splitting its work across
 * threads is best last, filling the cores as the others end: the CSV of a float image (the
 * longest task: shortest round-trip digits for every value) goes last, that of an integer image
 * (short) third. On 4096x4096 files this gained a few percent (medians of 9: HMI float32 0.46 s
 * against 0.48 s with the integer order, AIA int16 0.30 s against 0.35 s with the float order),
 * about as much as one run differs from the next on the 2-core machine measured. */
static const int order_int[] = {T_PREP, T_ASDF, T_CSV, T_COLOR, T_GRAY, T_NPY};
static const int order_float[] = {T_PREP, T_ASDF, T_NPY, T_COLOR, T_CSV, T_GRAY};
_Static_assert(sizeof order_int / sizeof *order_int == T_COUNT &&
                   sizeof order_float / sizeof *order_float == T_COUNT,
               "each order lists every task");

/* Enabled, and not the gray PNG when the colour task writes it too. */
static int task_wanted(const file_job *j, int k)
{
    return j->tasks[k].enabled && !(k == T_GRAY && j->tasks[T_COLOR].enabled);
}

static int task_ready(const file_job *j, int k)
{
    return k != T_ASDF || (j->remote_done && (!j->tasks[T_PREP].enabled || j->prep_ready));
}

static void *task_worker(void *arg)
{
    file_job *j = arg;
    const int *order = ff_dtype_is_float(j->fits->image.dtype) ? order_float : order_int;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int kind = -1;
        for (;;) {
            int pending = 0;
            for (size_t i = 0; i < T_COUNT && kind < 0; i++) {
                int k = order[i];
                if (!task_wanted(j, k) || j->tasks[k].taken)
                    continue;
                if (task_ready(j, k))
                    kind = k;
                else
                    pending = 1;
            }
            if (kind >= 0 || !pending)
                break;
            pthread_cond_wait(&j->remote_cond, &j->lock);
        }
        if (kind >= 0)
            j->tasks[kind].taken = 1;
        pthread_mutex_unlock(&j->lock);
        if (kind < 0)
            return NULL;
        int rc = run_task(j, kind);
        pthread_mutex_lock(&j->lock);
        j->tasks[kind].rc = rc;
        j->tasks[kind].done = 1;
        pthread_cond_broadcast(&j->remote_cond);
        pthread_mutex_unlock(&j->lock);
    }
}

/* Stores one remote step's bytes (when it succeeded) and words its log line. */
static void finish_remote_step(file_job *j, remote_step *st, const char *name, const char *rel,
                               const char *media, const ff_remote_result *res)
{
    ff_err err = {0};
    st->ok = 0;
    if (!res->ok) {
        snprintf(st->message, sizeof st->message, "%s: %.200s \xe2\x80\x94 %.300s", name, j->r->base,
                 res->message);
        return;
    }
    ff_out *o = out_open(j->cfg, j->store, j->prefix, rel, media, &err);
    if (!o || ff_sink_write(ff_out_sink(o), res->data, res->len, &err) != 0) {
        ff_out_abort(o);
    } else if (ff_out_commit_rec(o, &st->rec, &err) == 0) {
        st->ok = st->has_output = 1;
        snprintf(st->message, sizeof st->message, "%s: %.220s written (%.300s)", name, rel, res->message);
        return;
    }
    snprintf(st->message, sizeof st->message, "%s: %.150s \xe2\x80\x94 cannot store %.150s: %.200s", name,
             j->r->base, rel, err.msg);
}

/* The remote steps: Helioviewer, JSOC and HEK fetched at once (ff_remote_fetch_for_file); the
 * outcome of each is one log line, and no local output depends on them. */
static void *remote_worker(void *arg)
{
    file_job *j = arg;
    static const char *names[3] = {"Helioviewer image", "JSOC image", "HEK events"};
    const char *why = NULL;
    ff_remote *remote = j->cfg->remote;
    if (j->cfg->offline) {
        why = "skipped: offline (FITSFLOW_OFFLINE=1 or --offline)";
    } else if (!remote) {
        assert(!"online, but the front end opened no remote session");
        why = "no remote session was opened for this run";
    }
    if (why) {
        for (int k = 0; k < 3; k++)
            snprintf(j->remote[k].message, sizeof j->remote[k].message, "%s: %.200s \xe2\x80\x94 %.300s",
                     names[k], j->r->base, why);
    } else {
        ff_remote_outputs out;
        char rel[600];
        ff_remote_fetch_for_file(remote, &j->r->meta, &out);
        snprintf(rel, sizeof rel, "images/sdo/%s_sdo.png", j->r->base);
        finish_remote_step(j, &j->remote[0], names[0], rel, "image/png", &out.helioviewer);
        snprintf(rel, sizeof rel, "images/jsoc/%s_jsoc.png", j->r->base);
        finish_remote_step(j, &j->remote[1], names[1], rel, "image/png", &out.jsoc);
        snprintf(rel, sizeof rel, "hek/%s_hek.json", j->r->base);
        finish_remote_step(j, &j->remote[2], names[2], rel, "application/json", &out.hek);
        if (out.hek.ok) {
            /* Handed to the ASDF bundle; on failure it just says the events are absent. */
            ff_sink hs = ff_membuf_sink(&j->hek);
            ff_err err = {0};
            if (ff_sink_write(&hs, out.hek.data, out.hek.len, &err) != 0)
                ff_membuf_free(&j->hek);
        }
        ff_remote_outputs_free(&out);
    }
    pthread_mutex_lock(&j->lock);
    j->remote_done = 1;
    pthread_cond_broadcast(&j->remote_cond);
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

static void delete_outputs(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                           ff_file_result *r)
{
    char key[FF_STORE_KEY_MAX + 1];
    for (size_t i = 0; i < r->noutputs; i++) {
        snprintf(key, sizeof key, "%s%s", prefix ? prefix : "", r->outputs[i].path);
        if (ff_store_delete(store, key, NULL) == 0 && cfg->budget)
            ff_session_budget_unwrite(cfg->budget, r->outputs[i].bytes);
    }
    r->noutputs = 0;
}

static void describe_meta(const ff_file_result *r, char *buf, size_t n)
{
    const ff_obsmeta *m = &r->meta;
    snprintf(buf, n, "%s%s%s%s%s", m->observatory[0] ? m->observatory : "unknown observatory",
             m->instrument[0] ? " " : "", m->instrument, m->measurement[0] ? " " : "",
             m->measurement);
}

static void setup_tasks(file_job *j)
{
    const char *b = j->r->base;
    unsigned want = j->cfg->outputs;
    task *t = j->tasks;
    t[T_NPY].enabled = !!(want & FF_OUTPUT_NPY);
    snprintf(t[T_NPY].rel, sizeof t[T_NPY].rel, "data/%s_data.npy", b);
    t[T_NPY].media = "application/octet-stream";
    t[T_CSV].enabled = (want & FF_OUTPUT_CSV) && j->fits->image.ndim <= 2;
    snprintf(t[T_CSV].rel, sizeof t[T_CSV].rel, "data/%s_data.csv", b);
    t[T_CSV].media = "text/csv";
    t[T_GRAY].enabled = t[T_COLOR].enabled = !!(want & FF_OUTPUT_PNG);
    snprintf(t[T_GRAY].rel, sizeof t[T_GRAY].rel, "images/local/%s_gray.png", b);
    snprintf(t[T_COLOR].rel, sizeof t[T_COLOR].rel, "images/local/%s_color.png", b);
    t[T_GRAY].media = t[T_COLOR].media = "image/png";
    t[T_ASDF].enabled = !!(want & FF_OUTPUT_ASDF);
    snprintf(t[T_ASDF].rel, sizeof t[T_ASDF].rel, "asdf/%s.asdf", b);
    t[T_ASDF].media = "application/asdf";
    t[T_PREP].enabled = !!(want & FF_OUTPUT_PREP);
    snprintf(t[T_PREP].rel, sizeof t[T_PREP].rel, "prep/%s", b);

    ff_render_params *rp = &j->rp;
    rp->instrument = j->r->meta.instrument;
    rp->measurement = j->r->meta.measurement;
    rp->wavelength = j->r->meta.wavelength;
    rp->exptime = j->r->meta.exptime;
    rp->png_max = j->cfg->png_max;
    rp->time_iso = j->r->meta.time_iso;
    double crota2;
    if (ff_header_get_double(&j->fits->header, "CROTA2", &crota2) == 0)
        rp->crota2 = crota2;
    int64_t blank;
    if (!ff_dtype_is_float(j->fits->image.dtype) &&
        ff_header_get_int(&j->fits->header, "BLANK", &blank) == 0) {
        rp->has_blank = 1;
        rp->blank = blank;
    }
}

/* Runs every enabled task on nthreads threads (the caller's among them) and the remote steps on
 * one more; returns when all are done. */
static void run_tasks(file_job *j, int nthreads)
{
    pthread_t remote_th, th[8];
    int remote_started = pthread_create(&remote_th, NULL, remote_worker, j) == 0;
    if (!remote_started)
        remote_worker(j);
    int n = nthreads < 1 ? 1 : nthreads > 8 ? 8 : nthreads;
    int started = 0;
    for (; started < n - 1; started++)
        if (pthread_create(&th[started], NULL, task_worker, j) != 0)
            break;
    task_worker(j);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (remote_started)
        pthread_join(remote_th, NULL);
}

/* Called as each file starts. `fitsflow` carries only this empty, weak definition; the test
 * program fitsflow-crashtest links a strong one (tests/hooks/crash_on.c) that crashes on a
 * named file, to test what a crash does to the queue. Nothing in a release build reads it. */
__attribute__((weak)) void ff_pipeline_test_file_hook(const char *name)
{
    (void)name;
}

/* Reads the image; 1 when the file is skipped (unreadable, or not SDO's with FITSFLOW_SDO_ONLY:
 * reported as such), 0 when fits holds it and r its description. */
static int read_input(const ff_pipeline_config *cfg, const char *path, uint64_t max_pixels,
                      int threads, step_ctx *sc, ff_fits *fits)
{
    ff_file_result *r = sc->r;
    ff_err err = {0};
    ff_fits_opts fo = {.max_pixels = max_pixels, .nthreads = threads};
    if (ff_fits_read(path, &fo, fits, &err) != 0) {
        r->status = FF_FILE_SKIPPED;
        snprintf(r->reason, sizeof r->reason, "%s", err.msg);
        report(sc, FF_STEP_HEADER, 0, "Skipping: %s \xe2\x80\x94 %s", r->base, r->reason);
        return 1;
    }
    r->hdu = fits->hdu;
    snprintf(r->compression, sizeof r->compression, "%s", fits->compression);
    snprintf(r->dtype, sizeof r->dtype, "%s", ff_dtype_name(fits->image.dtype));
    r->ndim = fits->image.ndim;
    memcpy(r->shape, fits->image.shape, sizeof r->shape);
    ff_obsmeta_from_header(&fits->header, &r->meta);
    if (ff_pipeline_skip_not_sdo(cfg, &fits->header)) { /* FITSFLOW_SDO_ONLY: as the original */
        ff_fits_free(fits);
        r->status = FF_FILE_SKIPPED;
        snprintf(r->reason, sizeof r->reason, "%s", FF_PIPELINE_NOT_SDO);
        report(sc, FF_STEP_HEADER, 0, "Skipping: %s \xe2\x80\x94 %s", r->base, r->reason);
        return 1;
    }
    if (!r->meta.has_time)
        ff_file_result_note(r, "no observation time: %s", r->meta.time_reason);
    return 0;
}

/* Step 2: the header as text and JSON. The text is kept in *text: the ASDF bundle carries it. */
static int write_header(file_job *j, step_ctx *sc, ff_membuf *text, ff_err *err)
{
    const ff_pipeline_config *cfg = j->cfg;
    ff_file_result *r = j->r;
    char rel[600];
    ff_sink header_sink = ff_membuf_sink(text);
    if (ff_write_header_txt(&j->fits->header, &header_sink, err) != 0 ||
        ff_sink_write(&header_sink, "", 1, err) != 0)
        return -1;
    j->header_text = (const char *)text->data;
    snprintf(rel, sizeof rel, "header/%s_header.txt", r->base);
    ff_out *to = out_open(cfg, j->store, j->prefix, rel, "text/plain; charset=utf-8", err);
    if (to && ff_sink_write(ff_out_sink(to), text->data, text->len - 1, err) != 0) {
        ff_out_abort(to);
        to = NULL;
    }
    if (!to || ff_out_commit(to, r, err) != 0)
        return -1;
    snprintf(rel, sizeof rel, "header/%s_header.json", r->base);
    ff_out *jo = out_open(cfg, j->store, j->prefix, rel, "application/json", err);
    if (!jo)
        return -1;
    if (ff_write_header_json(&j->fits->header, ff_out_sink(jo), err) != 0) {
        ff_out_abort(jo);
        return -1;
    }
    if (ff_out_commit(jo, r, err) != 0)
        return -1;
    char what[160];
    describe_meta(r, what, sizeof what);
    report(sc, FF_STEP_HEADER, 1, "Header: %s, %zu cards (%s, %s)", r->base, j->fits->header.ncards,
           what, r->meta.has_time ? r->meta.time_iso : "time unknown");
    return 0;
}

/* Steps 3 to 7 run together (the outputs on the file's threads, the remote steps beside them);
 * their outcomes are reported in order afterwards. */
static void run_outputs(file_job *j, int threads)
{
    setup_tasks(j);
    /* Tasks that can split their own work (CSV formatting, ASDF checksum beside compression) may
     * use every thread too: a short task next to them then costs no idle core. */
    j->inner_threads = threads;
    int enabled = 0;
    for (int k = 0; k < T_COUNT; k++)
        enabled += task_wanted(j, k);
    run_tasks(j, threads < enabled ? threads : enabled);
    if (j->fits->image.ndim > 2 && (j->cfg->outputs & FF_OUTPUT_CSV))
        ff_file_result_note(j->r, "CSV skipped: the image is a %zu-plane cube; the NPY holds it",
                            j->fits->image.shape[0]);
    j->r->prep = j->prep;
    if (j->prep.state == FF_PREP_SKIPPED)
        ff_file_result_note(j->r, "Level 1.5 not made: %.200s", j->prep.reason);
    snprintf(j->r->scaling, sizeof j->r->scaling, "%s", j->scaling);
}

/* Step 3: data (NPY, CSV, renders): their outputs join the result; -1 with err for the first
 * that failed (the ASDF bundle's output joins too then, to be deleted with the others). */
static int collect_data(file_job *j, step_ctx *sc, ff_err *err)
{
    ff_file_result *r = j->r;
    int failed = 0;
    for (int k = T_NPY; k <= T_COLOR; k++) {
        task *t = &j->tasks[k];
        if (!t->enabled)
            continue;
        if (t->rc != 0) {
            if (!failed)
                *err = t->err;
            failed = 1;
        } else if (ff_file_result_add_output(r, &t->rec) != 0 && !failed) {
            ff_err_set(err, "out of memory");
            failed = 1;
        }
    }
    if (failed) {
        if (j->tasks[T_ASDF].enabled && j->tasks[T_ASDF].rc == 0)
            ff_file_result_add_output(r, &j->tasks[T_ASDF].rec);
        return -1;
    }
    char shape[64], parts[200] = "";
    ff_image_shape_str(&j->fits->image, shape, sizeof shape);
    size_t off = 0;
    static const char *names[] = {"NPY", "CSV", "gray PNG", "colour PNG"};
    for (int k = T_NPY; k <= T_COLOR; k++)
        if (j->tasks[k].enabled && off < sizeof parts)
            off += (size_t)snprintf(parts + off, sizeof parts - off, "%s%s", off ? ", " : "", names[k]);
    if (j->fits->image.ndim > 2 && (j->cfg->outputs & FF_OUTPUT_CSV) && off < sizeof parts)
        snprintf(parts + off, sizeof parts - off, "; CSV skipped for a cube");
    report(sc, FF_STEP_DATA, 1, "Data: %s %s %s written (%s)%s%s", r->base, shape, r->dtype,
           parts[0] ? parts : "no data outputs asked for", j->scaling[0] ? "; " : "", j->scaling);
    return 0;
}

/* Steps 4 to 6 (the remote services), then step 7 (ASDF): -1 with err when the bundle failed. */
static int collect_remote_and_asdf(file_job *j, step_ctx *sc, ff_err *err)
{
    ff_file_result *r = j->r;
    for (int k = 0; k < 3; k++) {
        if (j->remote[k].has_output)
            ff_file_result_add_output(r, &j->remote[k].rec);
        report(sc, FF_STEP_HELIOVIEWER + k, j->remote[k].ok, "%s", j->remote[k].message);
    }
    task *asdf = &j->tasks[T_ASDF];
    if (!asdf->enabled) {
        report(sc, FF_STEP_ASDF, 1, "ASDF: %s \xe2\x80\x94 not asked for", r->base);
        return 0;
    }
    if (asdf->rc != 0) {
        *err = asdf->err;
        return -1;
    }
    ff_file_result_add_output(r, &asdf->rec);
    report(sc, FF_STEP_ASDF, 1, "ASDF: %s written (%s block)", asdf->rel,
           j->cfg->asdf_compress ? "zlib" : "raw");
    return 0;
}

/* Step 8, level 1.5: -1 with err when it failed (not when the file is not one to register). */
static int collect_prep(file_job *j, step_ctx *sc, ff_err *err)
{
    ff_file_result *r = j->r;
    task *t = &j->tasks[T_PREP];
    if (!t->enabled) {
        report(sc, FF_STEP_PREP, 1, "Level 1.5: %s \xe2\x80\x94 not asked for", r->base);
        return 0;
    }
    if (t->rc != 0) {
        *err = t->err;
        return -1;
    }
    add_prep_outputs(j);
    const ff_prep_result *p = &j->prep;
    if (p->state == FF_PREP_SKIPPED) {
        report(sc, FF_STEP_PREP, 1, "Level 1.5: %s \xe2\x80\x94 not registered: %s", r->base,
               p->reason);
        return 0;
    }
    report(sc, FF_STEP_PREP, 1, "Level 1.5: prep/%s_lev15.fits (%zux%zu, %.4g\"/px) and "
           "prep/%s_ml.npy (%dx%d) written; %s%s", r->base, p->lev15_shape[1], p->lev15_shape[0],
           p->cdelt, r->base, p->ml_size, p->ml_size,
           p->normalised ? "normalised by exposure" : "not normalised: ",
           p->normalised ? "" : p->norm_reason);
    return 0;
}

/* Step failed_step failed with err: it and every later step report (so that a client waiting for
 * the last log is not left hanging), and every output already stored is deleted. */
static void fail_file(file_job *j, step_ctx *sc, int failed_step, const ff_err *err)
{
    ff_file_result *r = j->r;
    static const char *names[] = {"", "", "Header", "Data", "Helioviewer image", "JSOC image",
                                  "HEK events", "ASDF", "Level 1.5"};
    report(sc, failed_step, 0, "%s failed: %s \xe2\x80\x94 %s", names[failed_step], r->base, err->msg);
    for (int step = failed_step + 1; step <= FF_STEP_LAST; step++)
        report(sc, step, 0, "Not run: %s \xe2\x80\x94 an earlier step failed (%s)", r->base, err->msg);
    /* Remote outputs already stored go too. */
    for (int k = 0; k < 3; k++)
        if (j->remote[k].has_output && failed_step <= FF_STEP_DATA)
            ff_file_result_add_output(r, &j->remote[k].rec);
    add_prep_outputs(j); /* level 1.5's too */
    memset(&r->prep, 0, sizeof r->prep); /* its outputs go with the others */
    r->prep.exptime = NAN;
    r->status = FF_FILE_FAILED;
    r->error_kind = err->kind;
    snprintf(r->reason, sizeof r->reason, "%s", err->msg);
    delete_outputs(j->cfg, j->store, j->prefix, r);
}

/* The file once its budgets allow it: read it, write every output. max_pixels bounds the image
 * (the scan's finding, so that the memory set aside for it holds). */
static int process_admitted(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                            const char *path, const char *name, ff_step_fn on_step, void *ctx,
                            ff_file_result *r, uint64_t max_pixels, double t0)
{
    ff_file_result_init(r, name);
    step_ctx sc = {.fn = on_step, .ctx = ctx, .r = r};
    int threads = cfg->threads > 0 ? cfg->threads : 1;
    ff_fits fits;
    if (read_input(cfg, path, max_pixels, threads, &sc, &fits) != 0) {
        r->seconds = ff_clock_now() - t0;
        return 1;
    }
    file_job j = {.cfg = cfg, .store = store, .prefix = prefix, .fits = &fits, .r = r};
    pthread_mutex_init(&j.lock, NULL);
    pthread_cond_init(&j.remote_cond, NULL);
    ff_membuf header_text = {0};
    ff_err err = {0};
    int failed_step = 0;
    if (write_header(&j, &sc, &header_text, &err) != 0) {
        failed_step = FF_STEP_HEADER;
    } else {
        run_outputs(&j, threads);
        if (collect_data(&j, &sc, &err) != 0)
            failed_step = FF_STEP_DATA;
        else if (collect_remote_and_asdf(&j, &sc, &err) != 0)
            failed_step = FF_STEP_ASDF;
        else if (collect_prep(&j, &sc, &err) != 0)
            failed_step = FF_STEP_PREP;
    }
    if (failed_step)
        fail_file(&j, &sc, failed_step, &err);
    else
        r->status = FF_FILE_PROCESSED;
    ff_membuf_free(&header_text);
    ff_membuf_free(&j.hek);
    ff_image_free(&j.ml);
    ff_header_free(&j.lev15);
    pthread_cond_destroy(&j.remote_cond);
    pthread_mutex_destroy(&j.lock);
    ff_fits_free(&fits);
    r->seconds = ff_clock_now() - t0;
    return r->status == FF_FILE_PROCESSED ? 0 : -1;
}

#define INFLATE_SLACK ((uint64_t)256 << 20) /* as ff_fits_read allows beyond the pixel limit */

typedef struct admission {
    const ff_pipeline_config *cfg;
    ff_membudget *mem;
    uint64_t max_pixels;
} admission;

/* The cost of what the scan found. ff_fits_read never allocates an image of more than
 * max_pixels (it refuses it, cheaply and with its own words), so a larger one costs that. */
static void cost_of(const admission *a, const ff_fits_scan *found, ff_file_cost *c)
{
    ff_fits_scan s = *found;
    if (s.pixels > a->max_pixels) {
        s.pixels = a->max_pixels;
        if (s.width > s.pixels)
            s.width = s.pixels;
        s.height = s.width ? s.pixels / s.width : 0;
    }
    ff_file_cost_estimate(&s, a->cfg, c);
}

/* Whether what the scan found so far already costs more than a budget allows: 0 when it fits,
 * else -1 with the reason. */
static int over_budget(const admission *a, const ff_fits_scan *s, ff_err *err)
{
    ff_file_cost c;
    cost_of(a, s, &c);
    if (a->cfg->budget && ff_session_budget_check(a->cfg->budget, &c, err) != 0)
        return -1;
    uint64_t total = a->mem ? ff_membudget_total(a->mem) : 0;
    if (total && c.memory_bytes > total)
        return ff_membudget_acquire(a->mem, c.memory_bytes, err); /* says why, takes nothing */
    return 0;
}

static int scan_stop(void *ctx, const ff_fits_scan *so_far)
{
    return over_budget(ctx, so_far, NULL) != 0;
}

int ff_pipeline_process_file(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                             const char *path, const char *name, ff_step_fn on_step, void *ctx,
                             ff_file_result *r)
{
    ff_pipeline_test_file_hook(name);
    double t0 = ff_clock_now();
    ff_membudget *mem = cfg->memory ? cfg->memory : ff_membudget_default(cfg->memory_bytes);
    uint64_t max_pixels = cfg->max_pixels ? cfg->max_pixels : FF_FITS_DEFAULT_MAX_PIXELS;
    uint64_t file_cap = max_pixels > (UINT64_MAX - INFLATE_SLACK) / 8 ? UINT64_MAX
                                                                      : max_pixels * 8 + INFLATE_SLACK;
    uint64_t cap = file_cap;
    if (cfg->budget && ff_session_budget_inflate_cap(cfg->budget) < cap)
        cap = ff_session_budget_inflate_cap(cfg->budget);

    /* What it will cost, from its headers alone, before anything is allocated for it. A file
     * the scan cannot open is left to ff_fits_read, which says why. */
    ff_fits_scan scan;
    ff_file_cost cost = {0};
    ff_err err = {0};
    char why[sizeof r->reason] = "";
    int reserved = 0, held = 0;
    admission adm = {cfg, mem, max_pixels};
    if (ff_fits_scan_file_until(path, cap, scan_stop, &adm, &scan, &err) == 0) {
        cost_of(&adm, &scan, &cost);
        if (scan.stopped) {
            /* Its headers alone cost more than is allowed: the data were not even inflated. */
            if (over_budget(&adm, &scan, &err) == 0)
                ff_err_set(&err, "the session's budgets had no room for it when its headers "
                           "were read");
            snprintf(why, sizeof why, "%.500s", err.msg);
        } else if (scan.over_cap) {
            snprintf(why, sizeof why, "its gzip content inflates to more than %llu bytes, %s",
                     (unsigned long long)cap,
                     cap < file_cap ? "over what is left of the session's pixel budget "
                                      "(FITSFLOW_SESSION_MAX_PIXELS, 8 bytes a pixel)"
                                    : "over the size limit (FITSFLOW_MAX_PIXELS x 8 bytes + 256 MiB)");
        } else if (cfg->budget && ff_session_budget_reserve(cfg->budget, &cost, &err) != 0) {
            snprintf(why, sizeof why, "%.500s", err.msg);
        } else {
            reserved = cfg->budget != NULL;
            double tw = ff_clock_now();
            int got = mem ? ff_membudget_acquire(mem, cost.memory_bytes, &err) : 0;
            if (got < 0)
                snprintf(why, sizeof why, "%.500s", err.msg);
            held = mem && got >= 0;
            if (got == 1)
                ff_log(FF_LOG_INFO, NULL, name, "waited %.2f s for %.0f MiB of the memory budget",
                       ff_clock_now() - tw, (double)cost.memory_bytes / 1048576.0);
        }
        /* No image can hold more pixels than the scan found, or than the content has bytes
         * unless it is tile-compressed (then the scan found it). */
        uint64_t bound = scan.pixels > scan.content_bytes / 8 ? scan.pixels : scan.content_bytes / 8;
        if (bound < max_pixels)
            max_pixels = bound ? bound : 1;
    }
    int rc;
    if (why[0]) {
        ff_file_result_init(r, name);
        r->status = FF_FILE_SKIPPED;
        snprintf(r->reason, sizeof r->reason, "%s", why);
        step_ctx sc = {.fn = on_step, .ctx = ctx, .r = r};
        report(&sc, FF_STEP_HEADER, 0, "Skipping: %s \xe2\x80\x94 %s", r->base, r->reason);
        r->seconds = ff_clock_now() - t0;
        rc = 1;
    } else {
        rc = process_admitted(cfg, store, prefix, path, name, on_step, ctx, r, max_pixels, t0);
    }
    if (held)
        ff_membudget_release(mem, cost.memory_bytes);
    if (reserved) {
        uint64_t stored = 0;
        for (size_t i = 0; r->status == FF_FILE_PROCESSED && i < r->noutputs; i++)
            stored += r->outputs[i].bytes;
        ff_session_budget_finish(cfg->budget, &cost, cost.pixels, stored);
    }
    return rc;
}
