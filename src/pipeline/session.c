/* The session runner: a session's uploads through the pipeline with the original log protocol,
 * and a per-file state object (temp/{sid}/state/{base}.json: the upload it was made from, the
 * steps' outcomes, and the file result once finished) that makes a rerun resume instead of redo
 * and lets the manifest cover files finished in earlier runs. */
#include "pipeline/session.h"
#include "pipeline/keys.h"
#include "base/strbuf.h"
#include "base/endings.h"
#include "base/clock.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "pipeline/batch.h"
#include "pipeline/budget.h"
#include "pipeline/result_json.h"

#define STATE_MAX (1u << 20)

int ff_session_id_valid(const char *sid)
{
    if (!sid)
        return 0;
    size_t n = strlen(sid);
    if (n < FF_SESSION_ID_MIN || n > FF_SESSION_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((sid[i] >= 'a' && sid[i] <= 'z') || (sid[i] >= '0' && sid[i] <= '9') || sid[i] == '-'))
            return 0;
    return 1;
}

int ff_upload_name_valid(const char *name, ff_err *err)
{
    static const char *const reserved[] = {"summary", "skipped", "download_summary"};
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return ff_err_set(err, "the file name is empty"), 0;
    if (n > 200)
        return ff_err_set(err, "the file name is longer than 200 characters"), 0;
    if (name[0] == '.')
        return ff_err_set(err, "the file name starts with a dot"), 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return ff_err_set(err, "the file name may only hold letters, digits, '.', '_' and "
                                   "'-'"), 0;
    }
    size_t e = ff_fits_ending_len(name);
    if (!e)
        return ff_err_set(err, "the file name must end in " FF_FITS_ENDINGS_TEXT), 0;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (n - e == strlen(reserved[i]) && strncmp(name, reserved[i], n - e) == 0)
            return ff_err_set(err, "'%s' is a name the session's own logs use; rename the file",
                              reserved[i]), 0;
    return 1;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct upload {
    char name[256];
    char base[256];
    ff_store_stat st;
    char skip[512];         /* set: not processed (bad or duplicate name) */
    char fail[512];         /* set: failed without being processed (store, crashes, given up) */
    ff_err_kind fail_kind;
    int valid_name;
    int ignored;            /* bad or duplicate name: no logs, listed as skipped */
    int done;               /* finished in an earlier run: prev holds its result */
    ff_file_result prev;
    /* This run: */
    int oks[FF_STEP_LAST + 1];             /* step -> 1 ok, 0 failed, -1 not reported yet */
    double t_last;
    int begun;              /* hooks->file_begin was called */
    char *tmp_path;         /* a local copy for stores without local paths */
    char *path;
} upload;

typedef struct upload_list {
    upload *v;
    size_t n, cap;
    int oom;
} upload_list;

typedef struct run {
    const ff_session_hooks *hooks;
    ff_session_opts opts;
    ff_store *store;
    const char *sid;
    char root[128], logs[160], state[160], fits[160], processed[160];
    upload_list ups;
    size_t *todo;           /* batch index -> upload index */
    size_t ntodo;
    ff_batch_input *inputs;
    ff_file_result *results;
    size_t session_limit;
    const ff_pipeline_config *cfg; /* the batch's (its budget attached), for the stacks */
    pthread_mutex_t lock;   /* serialises hooks and the first-error record */
    int failed;
    ff_err err;
    size_t transient;       /* files that failed for a transient reason in this run */
    ff_err transient_err;   /* the first of them */
} run;

static void record_error(run *r, const ff_err *e)
{
    pthread_mutex_lock(&r->lock);
    if (!r->failed) {
        r->failed = 1;
        r->err = *e;
    }
    pthread_mutex_unlock(&r->lock);
}

/* Writes logs/{name} and tells hooks->on_log. */
static void put_log(run *r, const char *name, const char *text)
{
    char key[FF_STORE_KEY_MAX + 1];
    ff_err e = {0};
    snprintf(key, sizeof key, "%s%s", r->logs, name);
    if (ff_store_put(r->store, key, text, strlen(text), &e) != 0) {
        ff_err_prefix(&e, "writing log %s", name);
        ff_log(FF_LOG_ERROR, r->sid, NULL, "%s", e.msg);
        record_error(r, &e);
        return;
    }
    if (r->hooks && r->hooks->on_log) {
        pthread_mutex_lock(&r->lock);
        r->hooks->on_log(r->hooks->ctx, r->sid, name, text);
        pthread_mutex_unlock(&r->lock);
    }
}

static void delete_log(run *r, const char *name)
{
    char key[FF_STORE_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s%s", r->logs, name);
    ff_err e = {0};
    if (ff_store_delete(r->store, key, &e) != 0)
        record_error(r, &e);
}

/* state/{base}.json: {"upload": {name, bytes, mtime}, "steps": {"1": true, ...}, "result": {...}} */
static void put_state(run *r, const upload *u, const ff_file_result *result)
{
    json_t *root = json_object();
    json_t *up = json_object();
    json_object_set_new(up, "name", json_string(u->name));
    json_object_set_new(up, "bytes", json_integer((json_int_t)u->st.size));
    json_object_set_new(up, "mtime", json_integer((json_int_t)u->st.mtime));
    json_object_set_new(root, "upload", up);
    json_t *steps = json_object();
    for (int s = 1; s <= FF_STEP_LAST; s++)
        if (u->oks[s] >= 0) {
            char k[4];
            snprintf(k, sizeof k, "%d", s);
            json_object_set_new(steps, k, json_boolean(u->oks[s]));
        }
    json_object_set_new(root, "steps", steps);
    if (result)
        json_object_set_new(root, "result", ff_file_result_to_json(result));
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    ff_err e = {0};
    if (!text) {
        ff_err_set(&e, "out of memory writing the state of %s", u->name);
        record_error(r, &e);
        return;
    }
    char key[FF_STORE_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s%s.json", r->state, u->base);
    if (ff_store_put(r->store, key, text, strlen(text), &e) != 0) {
        ff_err_prefix(&e, "writing the state of %s", u->name);
        record_error(r, &e);
    }
    free(text);
}

static int collect_uploads(const char *key, const ff_store_stat *st, void *ctx)
{
    run *r = ctx;
    const char *name = key + strlen(r->fits);
    if (strchr(name, '/')) /* only direct children are uploads */
        return 0;
    upload_list *l = &r->ups;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        upload *p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return (l->oom = 1), -1;
        l->v = p;
        l->cap = cap;
    }
    upload *u = &l->v[l->n];
    memset(u, 0, sizeof *u);
    if (strlen(name) >= sizeof u->name) {
        /* Too long to be valid anyway; keep a recognisable prefix. */
        snprintf(u->name, sizeof u->name, "%.200s...", name);
        snprintf(u->skip, sizeof u->skip, "the file name is longer than 200 characters");
    } else {
        snprintf(u->name, sizeof u->name, "%s", name);
        ff_err e = {0};
        if (ff_upload_name_valid(name, &e))
            u->valid_name = 1;
        else
            snprintf(u->skip, sizeof u->skip, "%.480s", e.msg);
    }
    ff_base_name(u->name, u->base, sizeof u->base);
    u->st = *st;
    for (int s = 0; s <= FF_STEP_LAST; s++)
        u->oks[s] = -1;
    l->n++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const upload *)a)->name, ((const upload *)b)->name);
}

/* Whether u was completely processed, from this very upload, by an earlier run: its state
 * records the same upload (size and time) and a result that is not a failure, and (unless
 * skipped) _log_7 exists and is not older than the upload. Fills u->prev then. A failed file is
 * done again on the next run: its failure may have passed (a full disk, an I/O error), while a
 * skip comes from the file itself and would only repeat. */
static int finished_before(run *r, upload *u)
{
    char key[FF_STORE_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s%s.json", r->state, u->base);
    char *text = NULL;
    size_t len = 0;
    ff_err e = {0};
    if (ff_store_get(r->store, key, STATE_MAX, &text, &len, &e) != 0)
        return 0;
    json_t *root = json_loadb(text, len, 0, NULL);
    free(text);
    int done = 0;
    const json_t *up = json_object_get(root, "upload");
    const json_t *res = json_object_get(root, "result");
    if (json_is_object(up) && json_is_object(res) &&
        json_integer_value(json_object_get(up, "bytes")) == (json_int_t)u->st.size &&
        json_integer_value(json_object_get(up, "mtime")) == (json_int_t)u->st.mtime &&
        ff_file_result_from_json(res, &u->prev, &e) == 0) {
        done = u->prev.status != FF_FILE_FAILED;
        if (done && u->prev.status != FF_FILE_SKIPPED) {
            ff_store_stat ls;
            snprintf(key, sizeof key, "%s%s_log_7.txt", r->logs, u->base);
            done = ff_store_stat_key(r->store, key, &ls, &e) == 0 && ls.mtime >= u->st.mtime;
        }
        if (!done)
            ff_file_result_free(&u->prev);
    }
    json_decref(root);
    return done;
}

/* ----- batch hooks ------------------------------------------------------------------------ */

static void on_start(void *ctx, size_t index)
{
    run *r = ctx;
    upload *u = &r->ups.v[r->todo[index]];
    char name[300], text[300];
    u->t_last = ff_clock_now();
    for (int s = 0; s <= FF_STEP_LAST; s++)
        u->oks[s] = -1;
    u->oks[1] = 1;
    /* A redo starts clean: no stale step logs a client could take for this run's. */
    for (int s = FF_STEP_HEADER; s <= FF_STEP_LAST; s++) {
        ff_key_log_name(name, sizeof name, u->base, s);
        delete_log(r, name);
    }
    put_state(r, u, NULL);
    snprintf(name, sizeof name, "%s_log_1.txt", u->base);
    snprintf(text, sizeof text, "Processing: %s", u->base);
    put_log(r, name, text);
    if (r->inputs[index].skip_reason || r->inputs[index].fail_reason)
        return;
    ff_log(FF_LOG_INFO, r->sid, u->name, "processing");
    if (r->hooks && r->hooks->file_begin) {
        r->hooks->file_begin(r->hooks->ctx, r->sid, u->name, &u->st);
        u->begun = 1;
    }
    if (r->inputs[index].path)
        return;
    if (u->st.size > r->session_limit) { /* not through the API, which holds uploads to the limit */
        snprintf(u->skip, sizeof u->skip, "the upload is %llu bytes, more than the session limit "
                 "of %zu bytes", (unsigned long long)u->st.size, r->session_limit);
        r->inputs[index].skip_reason = u->skip;
        return;
    }
    /* No local path (object store without files): fetch a copy within the session limit. */
    char key[FF_STORE_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s%s", r->fits, u->name);
    ff_err e = {0};
    char path[4096];
    if (ff_store_get_to_tmpfile(r->store, key, r->session_limit, path, sizeof path, &e) == 0) {
        if ((u->tmp_path = strdup(path))) {
            r->inputs[index].path = u->tmp_path;
        } else {
            unlink(path);
            ff_err_set(&e, "out of memory");
        }
    }
    if (!r->inputs[index].path) {
        /* The store failed us, not the file: failed (and retried), never skipped. */
        snprintf(u->fail, sizeof u->fail, "cannot read the upload: %.480s", e.msg);
        u->fail_kind = e.kind;
        r->inputs[index].fail_reason = u->fail;
        r->inputs[index].fail_kind = e.kind;
    }
}

static void on_step(void *ctx, const ff_file_result *res, int step, int ok, const char *message)
{
    run *r = ctx;
    if (step < FF_STEP_HEADER || step > FF_STEP_LAST)
        return;
    size_t index = (size_t)(res - r->results);
    upload *u = &r->ups.v[r->todo[index]];
    char name[300];
    ff_key_log_name(name, sizeof name, u->base, step);
    put_log(r, name, message);
    u->oks[step] = ok ? 1 : 0;
    if (step < FF_STEP_LAST && res->status != FF_FILE_SKIPPED)
        put_state(r, u, NULL);
    double t = ff_clock_now();
    if (r->hooks && r->hooks->on_step_time) {
        pthread_mutex_lock(&r->lock);
        r->hooks->on_step_time(r->hooks->ctx, step, t - u->t_last);
        pthread_mutex_unlock(&r->lock);
    }
    u->t_last = t;
}

static void on_done(void *ctx, size_t index, const ff_file_result *res)
{
    run *r = ctx;
    upload *u = &r->ups.v[r->todo[index]];
    put_state(r, u, res);
    if (u->begun && r->hooks && r->hooks->file_end)
        r->hooks->file_end(r->hooks->ctx, r->sid, u->name);
    u->begun = 0;
    if (res->status == FF_FILE_FAILED && res->error_kind == FF_ERR_TRANSIENT && !r->transient++) {
        ff_err_set(&r->transient_err, "%s: %s", u->name, res->reason);
        ff_err_set_kind(&r->transient_err, FF_ERR_TRANSIENT);
    }
    if (u->tmp_path) {
        unlink(u->tmp_path);
        free(u->tmp_path);
        u->tmp_path = NULL;
    }
    ff_log(res->status == FF_FILE_PROCESSED ? FF_LOG_INFO : FF_LOG_WARN, r->sid, u->name, "%s%s%s",
           ff_file_status_name(res->status), res->reason[0] ? ": " : "", res->reason);
    if (r->hooks && r->hooks->on_file) {
        pthread_mutex_lock(&r->lock);
        r->hooks->on_file(r->hooks->ctx, res);
        pthread_mutex_unlock(&r->lock);
    }
}

static int should_stop(void *ctx)
{
    run *r = ctx;
    if (!r->hooks || !r->hooks->should_stop)
        return 0;
    pthread_mutex_lock(&r->lock);
    int stop = r->hooks->should_stop(r->hooks->ctx);
    pthread_mutex_unlock(&r->lock);
    return stop;
}

/* ----- the run ---------------------------------------------------------------------------- */

const char *ff_session_summary_text(const size_t counts[3], char *buf, size_t size)
{
    size_t n = counts[FF_FILE_PROCESSED] + counts[FF_FILE_SKIPPED] + counts[FF_FILE_FAILED];
    size_t off = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int w_ = off < size ? snprintf(buf + off, size - off, __VA_ARGS__) : 0;                    \
        off += w_ > 0 ? (size_t)w_ : 0;                                                            \
    } while (0)
    if (counts[FF_FILE_PROCESSED] == n)
        ADD("ALL FILES PROCESSED SUCCESSFULLY\n");
    else /* still holds the words the original client waits for, so it stops polling */
        ADD("NOT ALL FILES PROCESSED SUCCESSFULLY: %zu of %zu failed, %zu skipped\n",
            counts[FF_FILE_FAILED], n, counts[FF_FILE_SKIPPED]);
    ADD("%zu files: %zu processed, %zu skipped, %zu failed\n", n, counts[FF_FILE_PROCESSED],
        counts[FF_FILE_SKIPPED], counts[FF_FILE_FAILED]);
    if (counts[FF_FILE_FAILED])
        ADD("%zu failed: each file's logs say why; start the session again to retry them\n",
            counts[FF_FILE_FAILED]);
    if (counts[FF_FILE_SKIPPED])
        ADD("%zu skipped: skipped_log_1.txt says why\n", counts[FF_FILE_SKIPPED]);
#undef ADD
    return buf;
}

/* Every upload's result, in upload order, as ff_pipeline_write_manifest takes them: this run's,
 * earlier runs' (from their states), or made here for ignored uploads (in made, freed by the
 * caller). The structs are copies; their outputs are shared. */
static void flatten_results(run *r, ff_file_result *made, ff_file_result *flat)
{
    size_t k = 0;
    for (size_t i = 0; i < r->ups.n; i++) {
        upload *u = &r->ups.v[i];
        if (u->done) {
            flat[i] = u->prev;
        } else if (u->ignored) {
            ff_file_result_init(&made[i], u->name);
            made[i].status = FF_FILE_SKIPPED;
            snprintf(made[i].reason, sizeof made[i].reason, "%s", u->skip);
            flat[i] = made[i];
        } else {
            flat[i] = r->results[k++];
        }
    }
}

/* skipped_log_1.txt: "Skipped S of N FITS files:" and a line per skipped file (or no such log when
 * none was). counts[FF_FILE_*] are filled. -1 when out of memory. */
static int write_skipped_log(run *r, const ff_file_result *flat, size_t n, size_t counts[3])
{
    ff_strbuf lines = {0};
    for (size_t i = 0; i < n; i++) {
        counts[flat[i].status]++;
        if (flat[i].status == FF_FILE_SKIPPED)
            ff_strbuf_addf(&lines, "%s: %s\n", flat[i].input, flat[i].reason);
    }
    if (lines.oom) {
        free(lines.p);
        return -1;
    }
    if (!counts[FF_FILE_SKIPPED]) {
        delete_log(r, "skipped_log_1.txt");
        return 0;
    }
    ff_strbuf text = {0};
    ff_strbuf_addf(&text, "Skipped %zu of %zu FITS files:\n%s", counts[FF_FILE_SKIPPED], n, lines.p);
    free(lines.p);
    if (text.oom) {
        free(text.p);
        return -1;
    }
    put_log(r, "skipped_log_1.txt", text.p);
    free(text.p);
    return 0;
}

/* The manifest, skipped_log_1.txt and the summary over every upload, from this run's results and
 * earlier runs' states. */
static int finish(run *r, ff_err *err)
{
    size_t n = r->ups.n, counts[3] = {0, 0, 0};
    ff_file_result *made = calloc(n ? n : 1, sizeof *made);
    ff_file_result *flat = calloc(n ? n : 1, sizeof *flat);
    int rc = made && flat ? 0 : ff_err_set(err, "out of memory");
    ff_session_stacks *stacks = rc == 0 ? calloc(1, sizeof *stacks) : NULL;
    if (rc == 0) {
        flatten_results(r, made, flat);
        /* The stacks after the last file. Their failure (the store, the output budget) costs
         * the session its stacks only: the manifest says why. */
        ff_err se = {0};
        if (stacks && r->cfg &&
            ff_pipeline_write_stacks(r->cfg, r->store, r->processed, flat, n, stacks, &se) != 0) {
            ff_log(FF_LOG_WARN, r->sid, NULL, "session stacks not written: %s", se.msg);
            snprintf(stacks->note, sizeof stacks->note, "the stacks could not be written: %.450s",
                     se.msg);
        }
        rc = ff_pipeline_write_manifest(r->store, r->processed, r->sid, flat, n, stacks, err);
    }
    free(stacks);
    if (rc == 0 && write_skipped_log(r, flat, n, counts) != 0)
        rc = ff_err_set(err, "out of memory");
    if (rc == 0 && !r->failed) {
        char summary[800];
        put_log(r, "summary_log_2.txt", ff_session_summary_text(counts, summary, sizeof summary));
    }
    for (size_t i = 0; made && i < n; i++)
        if (r->ups.v[i].ignored)
            ff_file_result_free(&made[i]);
    free(flat);
    free(made);
    return rc;
}

static int first_upload(const char *key, const ff_store_stat *st, void *ctx)
{
    (void)st;
    return strchr(key + *(size_t *)ctx, '/') ? 0 : 1;
}

int ff_session_has_uploads(ff_store *store, const char *sid, ff_err *err)
{
    if (!ff_session_id_valid(sid))
        return ff_err_set(err, "'%.80s' is not a session id (8 to 64 of a-z, 0-9 and '-')",
                          sid ? sid : "");
    char prefix[128];
    ff_key_upload(prefix, sizeof prefix, sid, "");
    size_t plen = strlen(prefix);
    int rc = ff_store_list(store, prefix, first_upload, &plen, err);
    return rc < 0 ? -1 : rc == 1;
}

int ff_session_process(const ff_pipeline_config *cfg, ff_store *store, const char *sid, int jobs,
                       const ff_session_hooks *hooks, ff_err *err)
{
    return ff_session_process_opts(cfg, store, sid, jobs, hooks, NULL, err);
}

/* The run of session sid over store, its keys made, nothing listed yet; NULL when out of memory. */
static run *run_new(const ff_pipeline_config *cfg, ff_store *store, const char *sid,
                    const ff_session_hooks *hooks, const ff_session_opts *opts)
{
    run *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->hooks = hooks;
    if (opts)
        r->opts = *opts;
    else
        r->opts.final = 1;
    if (r->opts.max_crashes <= 0)
        r->opts.max_crashes = 2;
    r->store = store;
    r->sid = sid;
    r->session_limit = (size_t)cfg->session_limit_bytes;
    pthread_mutex_init(&r->lock, NULL);
    ff_key_session(r->root, sizeof r->root, sid);
    ff_key_log(r->logs, sizeof r->logs, sid, "");
    ff_key_state(r->state, sizeof r->state, sid, NULL);
    ff_key_upload(r->fits, sizeof r->fits, sid, "");
    ff_key_processed(r->processed, sizeof r->processed, sid, "");
    return r;
}

/* Which uploads are files of this run: a name that is not an upload's is ignored, and of two
 * with one base the first (by name) wins; a file finished in an earlier run is done. Counts the
 * valid names and the files to process. */
static void plan_uploads(run *r, size_t *nvalid, size_t *ntodo)
{
    qsort(r->ups.v, r->ups.n, sizeof *r->ups.v, by_name);
    for (size_t i = 0; i < r->ups.n; i++) {
        upload *u = &r->ups.v[i];
        if (!u->valid_name) {
            u->ignored = 1;
            continue;
        }
        (*nvalid)++;
        /* x.fits and x.fts would share every output and log name: the first one wins. */
        for (size_t j = 0; j < i && !u->ignored; j++)
            if (r->ups.v[j].valid_name && !strcmp(r->ups.v[j].base, u->base)) {
                snprintf(u->skip, sizeof u->skip, "another upload of this session, %.200s, has the "
                         "same name before its ending; outputs would collide", r->ups.v[j].name);
                u->ignored = 1;
            }
        if (u->ignored)
            continue;
        u->done = finished_before(r, u);
        if (!u->done)
            (*ntodo)++;
    }
}

/* One input of the batch for upload i: its local path when the store has one (else it is fetched
 * as it starts), or the reason it fails at once (given up, or cut short too often). */
static void prepare_input(run *r, size_t i, ff_batch_input *in)
{
    upload *u = &r->ups.v[i];
    const ff_session_hooks *hooks = r->hooks;
    in->name = u->name;
    char key[FF_STORE_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s%s", r->fits, u->name);
    u->path = ff_store_local_path(r->store, key);
    in->path = u->path; /* NULL: fetched in on_start */
    if (r->opts.give_up) {
        snprintf(u->fail, sizeof u->fail, "%.500s", r->opts.give_up);
    } else if (hooks && hooks->file_crashes) {
        int crashes = hooks->file_crashes(hooks->ctx, r->sid, u->name, &u->st);
        if (crashes >= r->opts.max_crashes)
            snprintf(u->fail, sizeof u->fail, "processing this file was cut short %d times "
                     "(the server stopped while it ran: a crash, or no memory left); it is not "
                     "tried again. Upload it again to retry", crashes);
    }
    if (u->fail[0]) {
        in->fail_reason = u->fail;
        ff_log(FF_LOG_WARN, r->sid, u->name, "not processed: %s", u->fail);
    }
}

/* The batch's arrays for the ntodo files; -1 when out of memory. */
static int prepare_inputs(run *r, size_t ntodo)
{
    r->todo = calloc(ntodo ? ntodo : 1, sizeof *r->todo);
    r->inputs = calloc(ntodo ? ntodo : 1, sizeof *r->inputs);
    r->results = calloc(ntodo ? ntodo : 1, sizeof *r->results);
    if (!r->todo || !r->inputs || !r->results)
        return -1;
    for (size_t i = 0; i < r->ups.n; i++) {
        upload *u = &r->ups.v[i];
        if (u->ignored || u->done)
            continue;
        r->todo[r->ntodo] = i;
        prepare_input(r, i, &r->inputs[r->ntodo++]);
    }
    return 0;
}

/* The session's budgets, counting the files finished in earlier runs too; NULL (and 0) when the
 * config sets none, -1 when out of memory. */
static int make_budget(const ff_pipeline_config *cfg, const run *r, ff_session_budget **out)
{
    *out = NULL;
    if (!cfg->session_max_pixels && !cfg->session_max_output_bytes)
        return 0;
    ff_session_budget *budget = ff_session_budget_new(cfg->session_max_pixels, cfg->session_max_output_bytes);
    if (!budget)
        return -1;
    for (size_t i = 0; i < r->ups.n; i++) {
        const ff_file_result *p = &r->ups.v[i].prev;
        if (!r->ups.v[i].done)
            continue;
        uint64_t px = p->ndim ? 1 : 0, bytes = 0;
        for (int d = 0; d < p->ndim && d < 3; d++)
            px *= p->shape[d];
        for (size_t o = 0; o < p->noutputs; o++)
            bytes += p->outputs[o].bytes;
        ff_session_budget_used(budget, px, bytes);
    }
    *out = budget;
    return 0;
}

/* What the batch's end means: 1 stopped early; -1 (transient) when a file failed for a reason
 * that may pass and this is not the last attempt (no summary: the next attempt redoes those
 * files and writes it); else the session is finished (finish). */
static int run_outcome(run *r, int stopped, ff_err *err)
{
    int rc;
    if (stopped) {
        ff_log(FF_LOG_INFO, r->sid, NULL, "session stopped early; it resumes on the next run");
        rc = 1;
    } else if (!r->opts.final && (r->transient || (r->failed && r->err.kind == FF_ERR_TRANSIENT))) {
        *err = r->failed && r->err.kind == FF_ERR_TRANSIENT ? r->err : r->transient_err;
        if (r->transient)
            ff_err_prefix(err, "%zu file(s) failed for a reason that may pass", r->transient);
        ff_err_set_kind(err, FF_ERR_TRANSIENT);
        r->failed = 0;
        rc = -1;
    } else {
        rc = finish(r, err);
    }
    if (rc >= 0 && r->failed) {
        *err = r->err;
        rc = -1;
    }
    return rc;
}

static void run_free(run *r)
{
    for (size_t i = 0; i < r->ups.n; i++) {
        upload *u = &r->ups.v[i];
        if (u->done)
            ff_file_result_free(&u->prev);
        if (u->tmp_path) {
            unlink(u->tmp_path);
            free(u->tmp_path);
        }
        free(u->path);
    }
    if (r->results)
        for (size_t i = 0; i < r->ntodo; i++)
            ff_file_result_free(&r->results[i]);
    free(r->ups.v);
    free(r->todo);
    free(r->inputs);
    free(r->results);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Lists the uploads, plans the files, writes the download summary, runs the batch. */
static int run_session(run *r, const ff_pipeline_config *cfg, int jobs, ff_err *err)
{
    size_t nvalid = 0, ntodo = 0;
    if (ff_store_list(r->store, r->fits, collect_uploads, r, err) < 0 || r->ups.oom)
        return r->ups.oom ? ff_err_set(err, "out of memory listing the uploads") : -1;
    if (r->ups.n == 0) {
        /* Nothing to process, so nothing to say: no logs, no manifest, no summary. */
        ff_log(FF_LOG_INFO, r->sid, NULL, "session has no uploads; nothing to do");
        return 0;
    }
    plan_uploads(r, &nvalid, &ntodo);
    if (prepare_inputs(r, ntodo) != 0)
        return ff_err_set(err, "out of memory");
    ff_log(FF_LOG_INFO, r->sid, NULL, "session: %zu uploads, %zu to process", nvalid, ntodo);
    if (ntodo) /* the session is not done any more: a client must not read an old summary as this run's */
        delete_log(r, "summary_log_2.txt");
    char text[64];
    snprintf(text, sizeof text, "Downloaded %zu FITS files", nvalid);
    put_log(r, "download_summary_log_1.txt", text);
    ff_pipeline_config run_cfg = *cfg;
    ff_session_budget *budget;
    if (make_budget(cfg, r, &budget) != 0)
        return ff_err_set(err, "out of memory");
    if (budget)
        run_cfg.budget = budget;
    ff_batch_hooks bh = {.on_step = on_step, .on_done = on_done, .on_start = on_start,
                         .should_stop = should_stop, .ctx = r};
    int stopped = ff_pipeline_run_batch_hooks(&run_cfg, r->store, r->processed, r->inputs, ntodo,
                                              jobs, &bh, r->results) == 1;
    r->cfg = &run_cfg;
    int rc = run_outcome(r, stopped, err);
    ff_session_budget_free(budget);
    return rc;
}

int ff_session_process_opts(const ff_pipeline_config *cfg, ff_store *store, const char *sid,
                            int jobs, const ff_session_hooks *hooks, const ff_session_opts *opts,
                            ff_err *err)
{
    if (!ff_session_id_valid(sid))
        return ff_err_set(err, "'%.80s' is not a session id (8 to 64 of a-z, 0-9 and '-')",
                          sid ? sid : "");
    run *r = run_new(cfg, store, sid, hooks, opts);
    if (!r)
        return ff_err_set(err, "out of memory");
    int rc = run_session(r, cfg, jobs, err);
    run_free(r);
    return rc;
}
