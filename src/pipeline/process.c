/* One FITS file through every step: read, header (text, JSON), data (NPY, CSV, renders), the
 * remote steps, ASDF. Each step reports exactly once, in order, so the log protocol holds. */
#include "pipeline/pipeline.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/asdf.h"
#include "core/fits.h"
#include "core/render.h"
#include "core/writers.h"
#include "pipeline/output.h"

void ff_pipeline_config_defaults(ff_pipeline_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_pixels = FF_FITS_DEFAULT_MAX_PIXELS;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = n > 0 ? (int)n : 1;
    cfg->asdf_compress = 1;
    cfg->creator = cfg->institution = cfg->award = cfg->description = "";
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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

typedef int (*writer_fn)(const void *what, ff_sink *sink, int threads, ff_err *err);

static int w_header_json(const void *what, ff_sink *sink, int threads, ff_err *err)
{
    (void)threads;
    return ff_write_header_json(what, sink, err);
}
static int w_npy(const void *what, ff_sink *sink, int threads, ff_err *err)
{
    (void)threads;
    return ff_write_npy(what, sink, err);
}
static int w_csv(const void *what, ff_sink *sink, int threads, ff_err *err)
{
    return ff_write_csv(what, sink, threads, err);
}

/* Writes one output through fn; the output is recorded in r on success. */
static int write_output(ff_store *store, const char *prefix, ff_file_result *r, const char *relpath,
                        const char *media_type, writer_fn fn, const void *what, int threads,
                        ff_err *err)
{
    ff_out *o = ff_out_open(store, prefix, relpath, media_type, err);
    if (!o)
        return -1;
    if (fn(what, ff_out_sink(o), threads, err) != 0) {
        ff_out_abort(o);
        return -1;
    }
    return ff_out_commit(o, r, err);
}

static void delete_outputs(ff_store *store, const char *prefix, ff_file_result *r)
{
    char key[FF_STORE_KEY_MAX + 1];
    for (size_t i = 0; i < r->noutputs; i++) {
        snprintf(key, sizeof key, "%s%s", prefix ? prefix : "", r->outputs[i].path);
        ff_store_delete(store, key, NULL);
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

int ff_pipeline_process_file(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                             const char *path, const char *name, ff_step_fn on_step, void *ctx,
                             ff_file_result *r)
{
    double t0 = now_seconds();
    ff_file_result_init(r, name);
    step_ctx sc = {.fn = on_step, .ctx = ctx, .r = r};
    ff_err err = {{0}};
    char rel[600];
    int threads = cfg->threads > 0 ? cfg->threads : 1;

    ff_membuf header_text = {0};
    ff_membuf hek = {0};
    ff_sink header_sink = ff_membuf_sink(&header_text);
    ff_fits fits;
    ff_fits_opts fo = {.max_pixels = cfg->max_pixels, .nthreads = threads};
    if (ff_fits_read(path, &fo, &fits, &err) != 0) {
        r->status = FF_FILE_SKIPPED;
        snprintf(r->reason, sizeof r->reason, "%s", err.msg);
        report(&sc, FF_STEP_HEADER, 0, "Skipping: %s \xe2\x80\x94 %s", r->base, r->reason);
        r->seconds = now_seconds() - t0;
        return 1;
    }
    r->hdu = fits.hdu;
    snprintf(r->compression, sizeof r->compression, "%s", fits.compression);
    snprintf(r->dtype, sizeof r->dtype, "%s", ff_dtype_name(fits.image.dtype));
    r->ndim = fits.image.ndim;
    memcpy(r->shape, fits.image.shape, sizeof r->shape);
    ff_obsmeta_from_header(&fits.header, &r->meta);
    if (!r->meta.has_time)
        ff_file_result_note(r, "no observation time: %s", r->meta.time_reason);

    /* Step 2: header. The text is kept: the ASDF bundle carries it too. */
    if (ff_write_header_txt(&fits.header, &header_sink, &err) != 0 ||
        ff_sink_write(&header_sink, "", 1, &err) != 0)
        goto failed_header;
    snprintf(rel, sizeof rel, "header/%s_header.txt", r->base);
    if (ff_out_put(store, prefix, rel, "text/plain; charset=utf-8", header_text.data,
                   header_text.len - 1, r, &err) != 0)
        goto failed_header;
    snprintf(rel, sizeof rel, "header/%s_header.json", r->base);
    if (write_output(store, prefix, r, rel, "application/json", w_header_json, &fits.header, 1,
                     &err) != 0)
        goto failed_header;
    {
        char what[160];
        describe_meta(r, what, sizeof what);
        report(&sc, FF_STEP_HEADER, 1, "Header: %s, %zu cards (%s, %s)", r->base,
               fits.header.ncards, what, r->meta.has_time ? r->meta.time_iso : "time unknown");
    }

    /* Step 3: data. */
    snprintf(rel, sizeof rel, "data/%s_data.npy", r->base);
    if (write_output(store, prefix, r, rel, "application/octet-stream", w_npy, &fits.image, 1,
                     &err) != 0)
        goto failed_data;
    if (fits.image.ndim <= 2) {
        snprintf(rel, sizeof rel, "data/%s_data.csv", r->base);
        if (write_output(store, prefix, r, rel, "text/csv", w_csv, &fits.image, threads, &err) != 0)
            goto failed_data;
    } else {
        ff_file_result_note(r, "CSV skipped: the image is a %zu-plane cube; the NPY holds it",
                            fits.image.shape[0]);
    }
    {
        /* Local renders: gray and colour PNGs drawn from the data. */
        char gray_rel[600], color_rel[600], scaling[512] = "";
        snprintf(gray_rel, sizeof gray_rel, "images/local/%s_gray.png", r->base);
        snprintf(color_rel, sizeof color_rel, "images/local/%s_color.png", r->base);
        ff_render_params rp = {.instrument = r->meta.instrument,
                               .measurement = r->meta.measurement,
                               .wavelength = r->meta.wavelength,
                               .exptime = r->meta.exptime,
                               .crota2 = 0,
                               .png_max = cfg->png_max,
                               .time_iso = r->meta.time_iso,
                               .nthreads = threads};
        double crota2;
        if (ff_header_get_double(&fits.header, "CROTA2", &crota2) == 0)
            rp.crota2 = crota2;
        int64_t blank;
        if (!ff_dtype_is_float(fits.image.dtype) &&
            ff_header_get_int(&fits.header, "BLANK", &blank) == 0) {
            rp.has_blank = 1;
            rp.blank = blank;
        }
        ff_out *go = ff_out_open(store, prefix, gray_rel, "image/png", &err);
        ff_out *co = go ? ff_out_open(store, prefix, color_rel, "image/png", &err) : NULL;
        if (!go || !co) {
            ff_out_abort(go);
            goto failed_data;
        }
        if (ff_render_pngs(&fits.image, &rp, ff_out_sink(go), ff_out_sink(co), scaling,
                           sizeof scaling, &err) != 0) {
            ff_out_abort(go);
            ff_out_abort(co);
            goto failed_data;
        }
        if (ff_out_commit(go, r, &err) != 0) {
            ff_out_abort(co);
            goto failed_data;
        }
        if (ff_out_commit(co, r, &err) != 0)
            goto failed_data;
        snprintf(r->scaling, sizeof r->scaling, "%s", scaling);

        char shape[64];
        ff_image_shape_str(&fits.image, shape, sizeof shape);
        report(&sc, FF_STEP_DATA, 1, "Data: %s %s %s written (NPY%s, gray and colour PNG; %s)",
               r->base, shape, r->dtype, fits.image.ndim <= 2 ? ", CSV" : "; CSV skipped for a cube",
               scaling);
    }

    /* Steps 4-6: the remote services. */
    report(&sc, FF_STEP_HELIOVIEWER, 0, "Helioviewer image: %s — not configured in this build",
           r->base);
    report(&sc, FF_STEP_JSOC, 0, "JSOC image: %s — not configured in this build", r->base);
    report(&sc, FF_STEP_HEK, 0, "HEK events: %s — not configured in this build", r->base);

    /* Step 7: ASDF, last: it names every other output. */
    {
        char created[32], csv_rel[600], npy_rel[600], asdf_rel[600];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
        ff_asdf_meta meta = {.creator = cfg->creator, .institution = cfg->institution,
                             .award = cfg->award, .description = cfg->description,
                             .pipeline_name = "FitsFlow", .pipeline_version = FF_VERSION,
                             .created_iso = created};
        const char *images[8];
        size_t nimages = 0;
        for (size_t i = 0; i < r->noutputs && nimages < 8; i++)
            if (strncmp(r->outputs[i].path, "images/", 7) == 0)
                images[nimages++] = r->outputs[i].path;
        snprintf(csv_rel, sizeof csv_rel, "data/%s_data.csv", r->base);
        snprintf(npy_rel, sizeof npy_rel, "data/%s_data.npy", r->base);
        ff_asdf_input in = {.meta = &meta, .source_name = r->input, .header = &fits.header,
                            .header_text = (const char *)header_text.data, .obs = &r->meta,
                            .image = &fits.image,
                            .csv_path = fits.image.ndim <= 2 ? csv_rel : NULL,
                            .npy_path = npy_rel, .image_paths = images, .n_image_paths = nimages,
                            .hek_json = hek.len ? (const char *)hek.data : NULL,
                            .hek_json_len = hek.len, .compress = cfg->asdf_compress,
                            .nthreads = threads};
        snprintf(asdf_rel, sizeof asdf_rel, "asdf/%s.asdf", r->base);
        ff_out *o = ff_out_open(store, prefix, asdf_rel, "application/asdf", &err);
        if (!o)
            goto failed_asdf;
        if (ff_asdf_write(&in, ff_out_sink(o), &err) != 0) {
            ff_out_abort(o);
            goto failed_asdf;
        }
        if (ff_out_commit(o, r, &err) != 0)
            goto failed_asdf;
        report(&sc, FF_STEP_ASDF, 1, "ASDF: %s written (%s block)", asdf_rel,
               cfg->asdf_compress ? "zlib" : "raw");
    }

    r->status = FF_FILE_PROCESSED;
    ff_membuf_free(&header_text);
    ff_membuf_free(&hek);
    ff_fits_free(&fits);
    r->seconds = now_seconds() - t0;
    return 0;

    int failed_step;
failed_header:
    failed_step = FF_STEP_HEADER;
    report(&sc, FF_STEP_HEADER, 0, "Header failed: %s — %s", r->base, err.msg);
    goto failed;
failed_data:
    failed_step = FF_STEP_DATA;
    report(&sc, FF_STEP_DATA, 0, "Data failed: %s — %s", r->base, err.msg);
    goto failed;
failed_asdf:
    failed_step = FF_STEP_ASDF;
    report(&sc, FF_STEP_ASDF, 0, "ASDF failed: %s — %s", r->base, err.msg);
failed:
    /* Every step still reports once, so a client waiting for the last log is not left hanging. */
    for (int step = failed_step + 1; step <= FF_STEP_ASDF; step++)
        report(&sc, step, 0, "Not run: %s — an earlier step failed (%s)", r->base, err.msg);
    r->status = FF_FILE_FAILED;
    snprintf(r->reason, sizeof r->reason, "%s", err.msg);
    delete_outputs(store, prefix, r);
    ff_membuf_free(&header_text);
    ff_membuf_free(&hek);
    ff_fits_free(&fits);
    r->seconds = now_seconds() - t0;
    return -1;
}
