/* ff_file_result <-> the manifest's per-file JSON object. */
#include "pipeline/result_json.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUTPUTS 256

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* "prep": null (not run), {"status": "skipped", "reason"}, or {"status": "registered",
 * "normalised", "normalise_reason", "exposure_time", "ml_size", "lev15_shape", "lev15_scale",
 * "lev15", "ml"} (the last two: the outputs' paths). */
static json_t *prep_to_json(const ff_file_result *r)
{
    const ff_prep_result *p = &r->prep;
    if (p->state == FF_PREP_NOT_RUN)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(p->state == FF_PREP_REGISTERED ? "registered"
                                                                              : "skipped"));
    json_object_set_new(o, "reason", str_or_null(p->reason));
    if (p->state == FF_PREP_REGISTERED) {
        char rel[600];
        json_object_set_new(o, "normalised", json_boolean(p->normalised));
        json_object_set_new(o, "normalise_reason", str_or_null(p->normalised ? "" : p->norm_reason));
        json_object_set_new(o, "exposure_time", isfinite(p->exptime) ? json_real(p->exptime)
                                                                      : json_null());
        json_object_set_new(o, "ml_size", json_integer(p->ml_size));
        json_t *shape = json_array();
        json_array_append_new(shape, json_integer((json_int_t)p->lev15_shape[0]));
        json_array_append_new(shape, json_integer((json_int_t)p->lev15_shape[1]));
        json_object_set_new(o, "lev15_shape", shape);
        json_object_set_new(o, "lev15_scale", json_real(p->cdelt));
        snprintf(rel, sizeof rel, "prep/%s_lev15.fits", r->base);
        json_object_set_new(o, "lev15", json_string(rel));
        snprintf(rel, sizeof rel, "prep/%s_ml.npy", r->base);
        json_object_set_new(o, "ml", json_string(rel));
    }
    return o;
}

json_t *ff_file_result_to_json(const ff_file_result *r)
{
    json_t *f = json_object();
    if (!f)
        return NULL;
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
    json_object_set_new(f, "prep", prep_to_json(r));
    json_object_set_new(f, "seconds", json_real(r->seconds));
    return f;
}

/* ff_output.media_type must outlive the result: known types map to literals, others are interned
 * in a small table (bounded; overflow falls back to a generic type). */
static const char *media_type_static(const char *t)
{
    static const char *const known[] = {"text/plain; charset=utf-8", "application/json",
                                        "application/octet-stream", "text/csv", "image/png",
                                        "image/jpeg", "application/asdf", "video/mp4",
                                        "application/fits", "application/zip"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(t, known[i]))
            return known[i];
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char interned[16][96];
    static int n;
    const char *found = "application/octet-stream";
    if (strlen(t) >= sizeof interned[0])
        return found;
    pthread_mutex_lock(&lock);
    int i;
    for (i = 0; i < n; i++)
        if (!strcmp(interned[i], t))
            break;
    if (i < n) {
        found = interned[i];
    } else if (n < 16) {
        snprintf(interned[n], sizeof interned[n], "%s", t);
        found = interned[n++];
    }
    pthread_mutex_unlock(&lock);
    return found;
}

/* Copies a string member (absent or null gives ""); -1 when present with another type or too long. */
static int get_str(const json_t *o, const char *key, char *dst, size_t cap, ff_err *err)
{
    const json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return ff_err_set(err, "'%s' is not a string", key);
    if (json_string_length(v) >= cap)
        return ff_err_set(err, "'%s' is longer than %zu bytes", key, cap - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_int(const json_t *o, const char *key, json_int_t min, json_int_t max,
                   json_int_t dflt, json_int_t *out, ff_err *err)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return ff_err_set(err, "'%s' is not a whole number from %lld to %lld", key,
                          (long long)min, (long long)max);
    *out = json_integer_value(v);
    return 0;
}

static int prep_from_json(const json_t *o, ff_prep_result *p, ff_err *err)
{
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return ff_err_set(err, "not an object");
    char status[16];
    if (get_str(o, "status", status, sizeof status, err) != 0 ||
        get_str(o, "reason", p->reason, sizeof p->reason, err) != 0)
        return -1;
    if (!strcmp(status, "skipped")) {
        p->state = FF_PREP_SKIPPED;
        return 0;
    }
    if (strcmp(status, "registered") != 0)
        return ff_err_set(err, "unknown status '%s'", status);
    p->state = FF_PREP_REGISTERED;
    json_int_t v;
    if (get_str(o, "normalise_reason", p->norm_reason, sizeof p->norm_reason, err) != 0 ||
        get_int(o, "ml_size", 1, 4096, 512, &v, err) != 0)
        return -1;
    p->ml_size = (int)v;
    p->normalised = json_is_true(json_object_get(o, "normalised"));
    const json_t *e = json_object_get(o, "exposure_time");
    p->exptime = json_is_number(e) ? json_number_value(e) : NAN;
    const json_t *sc = json_object_get(o, "lev15_scale");
    p->cdelt = json_is_number(sc) ? json_number_value(sc) : 0;
    const json_t *shape = json_object_get(o, "lev15_shape");
    for (size_t d = 0; d < 2 && json_is_array(shape); d++) {
        const json_t *s = json_array_get(shape, d);
        if (json_is_integer(s) && json_integer_value(s) >= 0 && json_integer_value(s) <= 1000000)
            p->lev15_shape[d] = (size_t)json_integer_value(s);
    }
    return 0;
}

static int parse(const json_t *j, ff_file_result *r, ff_err *err)
{
    if (!json_is_object(j))
        return ff_err_set(err, "a file entry is not an object");
    char input[sizeof r->input];
    if (get_str(j, "input", input, sizeof input, err) != 0)
        return -1;
    if (!*input)
        return ff_err_set(err, "a file entry has no input name");
    ff_file_result_init(r, input);
    if (get_str(j, "base", r->base, sizeof r->base, err) != 0)
        return -1;
    char status[16];
    if (get_str(j, "status", status, sizeof status, err) != 0)
        return -1;
    if (!strcmp(status, "processed"))
        r->status = FF_FILE_PROCESSED;
    else if (!strcmp(status, "skipped"))
        r->status = FF_FILE_SKIPPED;
    else if (!strcmp(status, "failed"))
        r->status = FF_FILE_FAILED;
    else
        return ff_err_set(err, "unknown status '%s'", status);
    if (get_str(j, "reason", r->reason, sizeof r->reason, err) != 0)
        return -1;
    json_int_t v;
    if (get_int(j, "hdu", 0, 100000, -1, &v, err) != 0)
        return -1;
    r->hdu = (int)v;
    ff_obsmeta *m = &r->meta;
    if (get_str(j, "compression", r->compression, sizeof r->compression, err) != 0 ||
        get_str(j, "observatory", m->observatory, sizeof m->observatory, err) != 0 ||
        get_str(j, "instrument", m->instrument, sizeof m->instrument, err) != 0 ||
        get_str(j, "detector", m->detector, sizeof m->detector, err) != 0 ||
        get_str(j, "measurement", m->measurement, sizeof m->measurement, err) != 0 ||
        get_str(j, "observation_time", m->time_iso, sizeof m->time_iso, err) != 0 ||
        get_str(j, "dtype", r->dtype, sizeof r->dtype, err) != 0 ||
        get_str(j, "render_scaling", r->scaling, sizeof r->scaling, err) != 0)
        return -1;
    m->has_time = m->time_iso[0] != '\0';
    if (get_int(j, "wavelength", -1000000000, 1000000000, 0, &v, err) != 0)
        return -1;
    m->wavelength = (int)v;
    if (get_int(j, "source_id", 0, 1000000000, -1, &v, err) != 0)
        return -1;
    m->source_id = (int)v;
    const json_t *shape = json_object_get(j, "shape");
    if (shape && !json_is_null(shape)) {
        if (!json_is_array(shape) || json_array_size(shape) > 3)
            return ff_err_set(err, "'shape' is not a list of at most 3 sizes");
        for (size_t d = 0; d < json_array_size(shape); d++) {
            const json_t *s = json_array_get(shape, d);
            if (!json_is_integer(s) || json_integer_value(s) < 0)
                return ff_err_set(err, "'shape' holds something other than a size");
            r->shape[d] = (size_t)json_integer_value(s);
        }
        r->ndim = (int)json_array_size(shape);
    }
    const json_t *notes = json_object_get(j, "notes");
    if (notes && !json_is_null(notes)) {
        if (!json_is_array(notes))
            return ff_err_set(err, "'notes' is not a list");
        for (size_t i = 0; i < json_array_size(notes) && r->nnotes < FF_MAX_NOTES; i++) {
            const json_t *n = json_array_get(notes, i);
            if (!json_is_string(n))
                return ff_err_set(err, "'notes' holds something other than text");
            snprintf(r->notes[r->nnotes++], sizeof r->notes[0], "%s", json_string_value(n));
        }
    }
    const json_t *outs = json_object_get(j, "outputs");
    if (outs && !json_is_null(outs)) {
        if (!json_is_array(outs) || json_array_size(outs) > MAX_OUTPUTS)
            return ff_err_set(err, "'outputs' is not a list of at most %d outputs", MAX_OUTPUTS);
        for (size_t i = 0; i < json_array_size(outs); i++) {
            const json_t *oj = json_array_get(outs, i);
            if (!json_is_object(oj))
                return ff_err_set(err, "an output is not an object");
            ff_output o;
            memset(&o, 0, sizeof o);
            char media[128];
            if (get_str(oj, "path", o.path, sizeof o.path, err) != 0 ||
                get_str(oj, "sha256", o.sha256, sizeof o.sha256, err) != 0 ||
                get_str(oj, "media_type", media, sizeof media, err) != 0 ||
                get_int(oj, "bytes", 0, INT64_MAX, 0, &v, err) != 0)
                return ff_err_prefix(err, "output %zu", i);
            if (!*o.path)
                return ff_err_set(err, "output %zu has no path", i);
            o.bytes = (uint64_t)v;
            o.media_type = media_type_static(media[0] ? media : "application/octet-stream");
            if (ff_file_result_add_output(r, &o) != 0)
                return ff_err_set(err, "out of memory");
        }
    }
    if (prep_from_json(json_object_get(j, "prep"), &r->prep, err) != 0)
        return ff_err_prefix(err, "prep");
    const json_t *secs = json_object_get(j, "seconds");
    if (secs && json_is_number(secs))
        r->seconds = json_number_value(secs);
    return 0;
}

int ff_file_result_from_json(const json_t *j, ff_file_result *r, ff_err *err)
{
    ff_file_result_init(r, "");
    if (parse(j, r, err) != 0) {
        ff_file_result_free(r);
        return -1;
    }
    return 0;
}
