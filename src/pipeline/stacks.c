/* The session stacks (session/stack.npy, session/stack_index.csv, session/channels.npz): every
 * registered file's ML array, in observation-time order, as one array, an index of its slices
 * and one array per channel. They are made from the prep/{base}_ml.npy outputs already stored,
 * not from memory, so that a session resumed over several runs stacks all its files; one slice
 * is held at a time. The NPZ (a ZIP of .npy members, as numpy.savez writes) is written with
 * libarchive, stored without compression. */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"
#include "base/strbuf.h"
#include "core/fits/obstime.h"
#include "core/out/writers.h"
#include "core/prep/prep.h"
#include "pipeline/budget.h"
#include "pipeline/output.h"
#include "pipeline/pipeline.h"

#define NPY_HEAD_MAX 4096 /* what a stored ML array's NPY header may take */

typedef struct slice {
    const ff_file_result *r;
    double t;  /* seconds since 1970-01-01 UTC; NaN when unknown */
    int channel; /* index into the channel list, -1 when the NPZ has no room for it */
} slice;

typedef struct stacker {
    const ff_pipeline_config *cfg;
    ff_store *store;
    const char *prefix;
    int n;             /* ML side */
    slice *s;
    size_t k;
    char *buf;         /* the slice being copied */
    ff_session_stacks *out;
} stacker;

static double obs_seconds(const ff_file_result *r)
{
    ff_time t, utc;
    if (!r->meta.has_time || !r->meta.time_iso[0] ||
        ff_time_parse(r->meta.time_iso, FF_TS_UTC, &t, NULL) != 0 ||
        ff_time_to_utc(&t, &utc, NULL) != 0)
        return NAN;
    return (double)ff_time_unix(&utc) + (double)utc.nanos * 1e-9;
}

/* Earliest first; files without a time last; ties by base name. */
static int by_time(const void *a, const void *b)
{
    const slice *x = a, *y = b;
    int xn = isnan(x->t), yn = isnan(y->t);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return strcmp(x->r->base, y->r->base);
}

/* "aia_171", "hmi_magnetogram": instrument and measurement (or wavelength), lower case, with
 * anything but a-z, 0-9 turned into '_' (a valid name for np.load's keys and ZIP members). */
static void channel_name(const ff_file_result *r, char *out, size_t cap)
{
    char raw[96];
    const ff_obsmeta *m = &r->meta;
    if (m->measurement[0])
        snprintf(raw, sizeof raw, "%s_%s", m->instrument[0] ? m->instrument : "unknown", m->measurement);
    else if (m->wavelength)
        snprintf(raw, sizeof raw, "%s_%d", m->instrument[0] ? m->instrument : "unknown", m->wavelength);
    else
        snprintf(raw, sizeof raw, "%s", m->instrument[0] ? m->instrument : "unknown");
    size_t i = 0;
    for (const char *p = raw; *p && i + 1 < cap; p++)
        out[i++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    out[i] = '\0';
}

static const ff_output *find_output(const ff_file_result *r, const char *rel)
{
    for (size_t i = 0; i < r->noutputs; i++)
        if (!strcmp(r->outputs[i].path, rel))
            return &r->outputs[i];
    return NULL;
}

/* Reads prep/{base}_ml.npy of slice i into st->buf (n*n float32, little-endian): 0, or -1 with
 * err when it cannot be read or is not the float32 (n, n) array FitsFlow wrote. */
static int read_slice(stacker *st, size_t i, ff_err *err)
{
    const ff_file_result *r = st->s[i].r;
    char key[FF_STORE_KEY_MAX + 1], want[96];
    snprintf(key, sizeof key, "%sprep/%s_ml.npy", st->prefix ? st->prefix : "", r->base);
    size_t data = (size_t)st->n * (size_t)st->n * 4, len = 0;
    char *b = NULL;
    if (ff_store_get(st->store, key, NPY_HEAD_MAX + data, &b, &len, err) != 0)
        return ff_err_prefix(err, "reading prep/%s_ml.npy", r->base);
    int ok = len >= 10 && !memcmp(b, "\x93NUMPY\x01\x00", 8);
    size_t hl = ok ? (size_t)(unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8 : 0;
    snprintf(want, sizeof want, "'shape': (%d, %d)", st->n, st->n);
    if (ok) {
        char head[NPY_HEAD_MAX];
        size_t hn = hl < sizeof head - 1 ? hl : sizeof head - 1;
        ok = 10 + hl <= len && len - 10 - hl == data;
        if (ok) {
            memcpy(head, b + 10, hn);
            head[hn] = '\0';
            ok = strstr(head, "'descr': '<f4'") && strstr(head, "'fortran_order': False") &&
                 strstr(head, want);
        }
    }
    if (ok)
        memcpy(st->buf, b + 10 + hl, data);
    free(b);
    if (!ok)
        return ff_err_set(err, "prep/%s_ml.npy is not a float32 %dx%d array", r->base, st->n, st->n);
    return 0;
}

static ff_out *open_output(stacker *st, const char *rel, const char *media, ff_err *err)
{
    ff_out *o = ff_out_open(st->store, st->prefix, rel, media, err);
    if (o && st->cfg->budget)
        ff_out_set_budget(o, st->cfg->budget);
    return o;
}

static int commit(stacker *st, ff_out *o, ff_err *err)
{
    ff_session_stacks *s = st->out;
    if (ff_out_commit_rec(o, &s->outputs[s->noutputs], err) != 0)
        return -1;
    s->noutputs++;
    return 0;
}

static int write_stack(stacker *st, ff_err *err)
{
    ff_out *o = open_output(st, "session/stack.npy", "application/octet-stream", err);
    if (!o)
        return -1;
    size_t shape[3] = {st->k, (size_t)st->n, (size_t)st->n};
    size_t data = (size_t)st->n * (size_t)st->n * 4;
    int rc = ff_write_npy_header(FF_F32, 3, shape, ff_out_sink(o), err);
    for (size_t i = 0; rc == 0 && i < st->k; i++)
        if ((rc = read_slice(st, i, err)) == 0)
            rc = ff_sink_write(ff_out_sink(o), st->buf, data, err);
    if (rc != 0) {
        ff_out_abort(o);
        return -1;
    }
    return commit(st, o, err);
}

static void csv_field(ff_strbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        ff_strbuf_addf(b, "%s", s);
        return;
    }
    ff_strbuf_addf(b, "\"");
    for (const char *p = s; *p; p++)
        ff_strbuf_addf(b, *p == '"' ? "\"\"" : "%c", *p);
    ff_strbuf_addf(b, "\"");
}

static int write_index(stacker *st, ff_err *err)
{
    ff_strbuf b = {0};
    ff_strbuf_addf(&b, "index,file,observation_time,observatory,instrument,measurement,wavelength,"
                       "exposure_time,normalised\n");
    for (size_t i = 0; i < st->k; i++) {
        const ff_file_result *r = st->s[i].r;
        const ff_obsmeta *m = &r->meta;
        ff_strbuf_addf(&b, "%zu,", i);
        csv_field(&b, r->input);
        ff_strbuf_addf(&b, ",");
        csv_field(&b, m->has_time ? m->time_iso : "");
        ff_strbuf_addf(&b, ",");
        csv_field(&b, m->observatory);
        ff_strbuf_addf(&b, ",");
        csv_field(&b, m->instrument);
        ff_strbuf_addf(&b, ",");
        csv_field(&b, m->measurement);
        ff_strbuf_addf(&b, ",");
        if (m->wavelength)
            ff_strbuf_addf(&b, "%d", m->wavelength);
        ff_strbuf_addf(&b, ",");
        if (isfinite(r->prep.exptime)) {
            char num[FF_NUMFMT_MAX + 1];
            ff_fmt_double(r->prep.exptime, num);
            ff_strbuf_addf(&b, "%s", num);
        }
        ff_strbuf_addf(&b, ",%s\n", r->prep.normalised ? "true" : "false");
    }
    if (b.oom) {
        free(b.p);
        return ff_err_set(err, "out of memory writing the stack index");
    }
    ff_out *o = open_output(st, "session/stack_index.csv", "text/csv", err);
    int rc = o ? ff_sink_write(ff_out_sink(o), b.p, b.len, err) : -1;
    free(b.p);
    if (rc != 0) {
        ff_out_abort(o);
        return -1;
    }
    return commit(st, o, err);
}

/* ---- channels.npz ---- */

typedef struct npz_ctx {
    ff_sink *sink;
    ff_err err;
    int failed;
} npz_ctx;

static la_ssize_t npz_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
    npz_ctx *z = ctx;
    if (ff_sink_write(z->sink, buf, len, &z->err) != 0) {
        z->failed = 1;
        archive_set_error(a, -1, "%s", z->err.msg);
        return -1;
    }
    return (la_ssize_t)len;
}

/* Collects what ff_write_npy_header writes, to know a member's size before its entry. */
static int membuf_header(ff_dtype dt, int ndim, const size_t *shape, ff_membuf *m, ff_err *err)
{
    ff_sink s = ff_membuf_sink(m);
    return ff_write_npy_header(dt, ndim, shape, &s, err);
}

static int npz_member_start(struct archive *a, const char *name, size_t bytes, ff_err *err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return ff_err_set(err, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)bytes);
    archive_entry_set_mtime(e, 315532800, 0); /* 1980-01-01: ZIP's earliest; no build time */
    int rc = archive_write_header(a, e);
    archive_entry_free(e);
    if (rc != ARCHIVE_OK)
        return ff_err_set(err, "channels.npz: %s", archive_error_string(a) ? archive_error_string(a) : "libarchive failed");
    return 0;
}

static int npz_data(struct archive *a, const void *buf, size_t len, ff_err *err)
{
    if (len && archive_write_data(a, buf, len) != (la_ssize_t)len)
        return ff_err_set(err, "channels.npz: %s", archive_error_string(a) ? archive_error_string(a) : "libarchive failed");
    return 0;
}

/* Members {ch}.npy (T, n, n) float32 and {ch}_time.npy (T,) float64. */
static int npz_channel(stacker *st, struct archive *a, int ch, ff_err *err)
{
    ff_session_stacks *s = st->out;
    size_t t = s->channels[ch].count, data = (size_t)st->n * (size_t)st->n * 4;
    char name[FF_STACK_CHANNEL_NAME + 16];
    ff_membuf h = {0};
    size_t shape[3] = {t, (size_t)st->n, (size_t)st->n};
    if (membuf_header(FF_F32, 3, shape, &h, err) != 0)
        return -1;
    snprintf(name, sizeof name, "%s.npy", s->channels[ch].name);
    int rc = npz_member_start(a, name, h.len + t * data, err);
    if (rc == 0)
        rc = npz_data(a, h.data, h.len, err);
    ff_membuf_free(&h);
    for (size_t i = 0; rc == 0 && i < st->k; i++)
        if (st->s[i].channel == ch && (rc = read_slice(st, i, err)) == 0)
            rc = npz_data(a, st->buf, data, err);
    if (rc != 0)
        return -1;
    double *times = malloc(t * sizeof *times);
    if (!times)
        return ff_err_set(err, "out of memory");
    size_t j = 0;
    for (size_t i = 0; i < st->k; i++)
        if (st->s[i].channel == ch)
            times[j++] = st->s[i].t;
    ff_membuf th = {0};
    if (membuf_header(FF_F64, 1, &t, &th, err) != 0) {
        free(times);
        return -1;
    }
    snprintf(name, sizeof name, "%s_time.npy", s->channels[ch].name);
    rc = npz_member_start(a, name, th.len + t * sizeof *times, err);
    if (rc == 0)
        rc = npz_data(a, th.data, th.len, err);
    if (rc == 0)
        rc = npz_data(a, times, t * sizeof *times, err);
    ff_membuf_free(&th);
    free(times);
    return rc;
}

static int write_npz(stacker *st, ff_err *err)
{
    ff_out *o = open_output(st, "session/channels.npz", "application/zip", err);
    if (!o)
        return -1;
    npz_ctx z = {.sink = ff_out_sink(o)};
    struct archive *a = archive_write_new();
    int rc = -1;
    if (!a) {
        ff_err_set(err, "out of memory");
    } else if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
               archive_write_set_options(a, "zip:compression=store") != ARCHIVE_OK ||
               archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
               archive_write_open2(a, &z, NULL, npz_write, NULL, NULL) != ARCHIVE_OK) {
        ff_err_set(err, "channels.npz: libarchive: %s",
                   archive_error_string(a) ? archive_error_string(a) : "cannot start a ZIP");
    } else {
        rc = 0;
        for (size_t ch = 0; rc == 0 && ch < st->out->nchannels; ch++)
            rc = npz_channel(st, a, (int)ch, err);
        if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
            rc = ff_err_set(err, "channels.npz: %s", archive_error_string(a) ? archive_error_string(a)
                                                                           : "libarchive failed");
    }
    if (rc != 0 && z.failed)
        *err = z.err; /* the store's or the budget's words */
    if (a) {
        if (rc != 0)
            archive_write_fail(a); /* no central directory written after a failure */
        archive_write_free(a);
    }
    if (rc != 0) {
        ff_out_abort(o);
        return -1;
    }
    return commit(st, o, err);
}

/* Picks the slices: processed, registered files whose ML array is stored at the size asked for
 * (a resumed session may hold arrays made at another size: left out, and said so). */
static size_t pick(stacker *st, const ff_file_result *results, size_t n)
{
    size_t k = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        const ff_file_result *r = &results[i];
        char rel[600];
        snprintf(rel, sizeof rel, "prep/%s_ml.npy", r->base);
        if (r->status != FF_FILE_PROCESSED || r->prep.state != FF_PREP_REGISTERED ||
            !find_output(r, rel))
            continue;
        if (r->prep.ml_size != st->n) {
            other++;
            continue;
        }
        st->s[k].r = r;
        st->s[k].t = obs_seconds(r);
        k++;
    }
    if (other)
        snprintf(st->out->note, sizeof st->out->note, "%zu registered file(s) left out: their ML "
                 "arrays were made at another size than %d (process them again to include them)",
                 other, st->n);
    return k;
}

static void assign_channels(stacker *st)
{
    ff_session_stacks *s = st->out;
    size_t dropped = 0;
    for (size_t i = 0; i < st->k; i++) {
        char name[FF_STACK_CHANNEL_NAME];
        channel_name(st->s[i].r, name, sizeof name);
        size_t c;
        for (c = 0; c < s->nchannels; c++)
            if (!strcmp(s->channels[c].name, name))
                break;
        if (c == s->nchannels) {
            if (c == FF_STACK_MAX_CHANNELS) {
                st->s[i].channel = -1;
                dropped++;
                continue;
            }
            snprintf(s->channels[c].name, sizeof s->channels[c].name, "%s", name);
            s->nchannels++;
        }
        st->s[i].channel = (int)c;
        s->channels[c].count++;
    }
    if (dropped && !s->note[0])
        snprintf(s->note, sizeof s->note, "%zu slice(s) of channels beyond the first %d are in "
                 "stack.npy but not in channels.npz", dropped, FF_STACK_MAX_CHANNELS);
}

/* Deletes stacks of an earlier run (best effort: a run with no registered file leaves none). */
static void delete_stale(stacker *st)
{
    static const char *const rels[] = {"session/stack.npy", "session/stack_index.csv",
                                       "session/channels.npz"};
    char key[FF_STORE_KEY_MAX + 1];
    for (size_t i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s%s", st->prefix ? st->prefix : "", rels[i]);
        ff_store_delete(st->store, key, NULL);
    }
}

int ff_pipeline_write_stacks(const ff_pipeline_config *cfg, ff_store *store, const char *prefix,
                             const ff_file_result *results, size_t n, ff_session_stacks *out,
                             ff_err *err)
{
    memset(out, 0, sizeof *out);
    out->ml_size = cfg->ml_size > 0 ? cfg->ml_size : FF_PREP_ML_DEFAULT;
    stacker st = {.cfg = cfg, .store = store, .prefix = prefix, .n = out->ml_size, .out = out};
    if (!(cfg->outputs & FF_OUTPUT_PREP))
        return 0;
    st.s = calloc(n ? n : 1, sizeof *st.s);
    if (!st.s)
        return ff_err_set(err, "out of memory");
    st.k = pick(&st, results, n);
    out->slices = st.k;
    if (st.k == 0) {
        free(st.s);
        delete_stale(&st);
        return 0;
    }
    qsort(st.s, st.k, sizeof *st.s, by_time);
    assign_channels(&st);
    int rc = -1;
    if (!(st.buf = malloc((size_t)st.n * (size_t)st.n * 4)))
        ff_err_set(err, "out of memory");
    else if (write_stack(&st, err) == 0 && write_index(&st, err) == 0 && write_npz(&st, err) == 0)
        rc = 0;
    free(st.buf);
    free(st.s);
    return rc;
}
