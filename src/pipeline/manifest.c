/* manifest.json: for every input its status, reason, metadata and outputs (path, bytes, sha256,
 * media type), plus the program's version and the creation time. */
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline.h"

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *file_json(const ff_file_result *r)
{
    json_t *f = json_object();
    json_object_set_new(f, "input", json_string(r->input));
    json_object_set_new(f, "base", json_string(r->base));
    json_object_set_new(f, "status", json_string(ff_file_status_name(r->status)));
    json_object_set_new(f, "reason", str_or_null(r->reason));
    if (r->hdu >= 0) {
        json_object_set_new(f, "hdu", json_integer(r->hdu));
        json_object_set_new(f, "compression", str_or_null(r->compression));
        const ff_obsmeta *m = &r->meta;
        json_object_set_new(f, "observatory", str_or_null(m->observatory));
        json_object_set_new(f, "instrument", str_or_null(m->instrument));
        json_object_set_new(f, "detector", str_or_null(m->detector));
        json_object_set_new(f, "measurement", str_or_null(m->measurement));
        json_object_set_new(f, "wavelength", m->wavelength ? json_integer(m->wavelength) : json_null());
        json_object_set_new(f, "observation_time", m->has_time ? json_string(m->time_iso) : json_null());
        json_object_set_new(f, "source_id", m->source_id >= 0 ? json_integer(m->source_id) : json_null());
        json_t *shape = json_array();
        for (int d = 0; d < r->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)r->shape[d]));
        json_object_set_new(f, "shape", shape);
        json_object_set_new(f, "dtype", json_string(r->dtype));
        json_object_set_new(f, "render_scaling", str_or_null(r->scaling));
    }
    json_t *notes = json_array();
    for (int i = 0; i < r->nnotes; i++)
        json_array_append_new(notes, json_string(r->notes[i]));
    json_object_set_new(f, "notes", notes);
    json_t *outs = json_array();
    for (size_t i = 0; i < r->noutputs; i++) {
        const ff_output *o = &r->outputs[i];
        json_t *oj = json_object();
        json_object_set_new(oj, "path", json_string(o->path));
        json_object_set_new(oj, "bytes", json_integer((json_int_t)o->bytes));
        json_object_set_new(oj, "sha256", json_string(o->sha256));
        json_object_set_new(oj, "media_type", json_string(o->media_type));
        json_array_append_new(outs, oj);
    }
    json_object_set_new(f, "outputs", outs);
    json_object_set_new(f, "seconds", json_real(r->seconds));
    return f;
}

int ff_pipeline_write_manifest(ff_store *store, const char *prefix, const char *session_id,
                               const ff_file_result *results, size_t n, ff_err *err)
{
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);

    json_t *root = json_object();
    json_object_set_new(root, "generator", json_string("FitsFlow"));
    json_object_set_new(root, "version", json_string(FF_VERSION));
    json_object_set_new(root, "created", json_string(created));
    json_object_set_new(root, "session_id", str_or_null(session_id));
    size_t counts[3] = {0, 0, 0};
    json_t *files = json_array();
    for (size_t i = 0; i < n; i++) {
        counts[results[i].status]++;
        json_array_append_new(files, file_json(&results[i]));
    }
    json_t *summary = json_object();
    json_object_set_new(summary, "processed", json_integer((json_int_t)counts[FF_FILE_PROCESSED]));
    json_object_set_new(summary, "skipped", json_integer((json_int_t)counts[FF_FILE_SKIPPED]));
    json_object_set_new(summary, "failed", json_integer((json_int_t)counts[FF_FILE_FAILED]));
    json_object_set_new(root, "summary", summary);
    json_object_set_new(root, "files", files);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return ff_err_set(err, "out of memory writing the manifest");
    char key[FF_STORE_KEY_MAX + 1];
    snprintf(key, sizeof key, "%smanifest.json", prefix ? prefix : "");
    size_t len = strlen(text);
    text[len] = '\0';
    int rc = ff_store_put(store, key, text, len, err);
    free(text);
    return rc;
}
