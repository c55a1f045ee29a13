/* A session's state for readers (GET /api/sessions/{sid} and its event stream), read back from
 * the store so that any front end and any process sees the same answer, whoever is processing
 * the session. Built incrementally (session_view.h): listings of the session's uploads, logs and
 * per-file state objects tell what exists and what changed (etags); only those objects are read,
 * and only the files they belong to get their part of the JSON rebuilt. */
#include "pipeline/session_view.h"
#include "pipeline/keys.h"
#include "base/clock.h"

#include <jansson.h>
#include <pthread.h>
#include <zlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/result_json.h"
#include "pipeline/session.h"

#define LOG_MAX (64u << 10)
#define STATE_MAX (1u << 20)
#define MANIFEST_MAX (16u << 20)
#define FETCH_THREADS 8
#define GZIP_FROM (64u << 10) /* status JSON from this size on is also kept gzipped */

/* ---- small helpers ---- */

/* A JSON string of text; bytes that are not valid UTF-8 become '?' rather than failing. */
static json_t *safe_string(const char *text, size_t len)
{
    json_t *j = json_stringn(text, len);
    if (j)
        return j;
    char *copy = malloc(len + 1);
    if (!copy)
        return json_null();
    for (size_t i = 0; i < len; i++)
        copy[i] = (unsigned char)text[i] >= 0x80 || text[i] == '\0' ? '?' : text[i];
    copy[len] = '\0';
    j = json_stringn(copy, len);
    free(copy);
    return j ? j : json_null();
}

/* Appends the compact JSON of j (any value) and releases j. */
static void add_json(ff_strbuf *b, json_t *j)
{
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!t) {
        b->oom = 1;
        return;
    }
    ff_strbuf_adds(b, t);
    free(t);
}

/* ---- the view's parts ---- */

typedef struct upload_e {
    char *name;
    uint64_t size;
} upload_e;

typedef struct log_e {
    char *name;          /* under logs/ */
    char etag[72];
    time_t mtime;
    char *text;          /* NULL: absent now, or not readable */
    size_t text_len;
    char *event;         /* its Server-Sent Event(s); under the view's lock */
    int present, in_order, fetched;
} log_e;

typedef struct state_e {
    char *base;
    char etag[72];
    char *text;
    int present, fetched;
} state_e;

typedef struct frag_e {
    char *base;
    char *input;
    char *json;
    int used;            /* in the last build */
} frag_e;

/* A growable array of pointers kept sorted by the name each element starts with. */
typedef struct parr {
    void **v;
    size_t n, cap;
} parr;

static int parr_push(parr *a, void *p)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        void **nv = realloc(a->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = p;
    return 0;
}

/* Each element type begins with its char *name. */
static int cmp_named(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

static void *parr_find(const parr *a, const char *name)
{
    if (!a->n)
        return NULL;
    const char *key = name;
    const char *const *pk = &key;
    void **hit = bsearch(&pk, a->v, a->n, sizeof *a->v, cmp_named);
    return hit ? *hit : NULL;
}

static void parr_sort(parr *a)
{
    if (a->n > 1)
        qsort(a->v, a->n, sizeof *a->v, cmp_named);
}

struct ff_session_view {
    char sid[FF_SESSION_ID_MAX + 1];
    char root[128];                /* temp/{sid}/ */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refreshing;
    int last_rc;
    ff_err last_err;
    ff_store_fault last_fault;
    double refreshed_at;
    ff_session_blob *blob;         /* under lock */
    log_e **order;                 /* logs in the order first seen; under lock */
    size_t norder, caporder;
    size_t bytes;
    /* Only the refresh that is running touches these. */
    parr uploads;                  /* upload_e, by name */
    parr logs;                     /* log_e, by name */
    parr states;                   /* state_e, by base */
    parr frags;                    /* frag_e, by base */
    char manifest_etag[72];
    char *manifest_json;           /* compact, or NULL */
    int manifest_present;
    int had_manifest;              /* at the last build */
};

void ff_session_blob_ref(ff_session_blob *b)
{
    if (b)
        __atomic_add_fetch(&b->refs, 1, __ATOMIC_ACQ_REL);
}

void ff_session_blob_unref(ff_session_blob *b)
{
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(b->json);
        free(b->gz);
        free(b);
    }
}

/* The gzip form of b's JSON (level 1: made on every change of a large session). */
static void blob_gzip(ff_session_blob *b)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return;
    size_t cap = deflateBound(&z, (uLong)b->len);
    char *out = malloc(cap);
    if (out) {
        z.next_in = (Bytef *)b->json;
        z.avail_in = (uInt)b->len;
        z.next_out = (Bytef *)out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out < b->len) {
            b->gz = out;
            b->gz_len = z.total_out;
            out = NULL;
        }
        free(out);
    }
    deflateEnd(&z);
}

/* A blob holding one reference, with its etag (and gzip form when large). */
static ff_session_blob *blob_new(char *json, size_t len, int empty)
{
    ff_session_blob *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->json = json;
    b->len = len;
    b->empty = empty;
    b->refs = 1;
    uLong c = crc32(0, Z_NULL, 0), a = adler32(0, Z_NULL, 0);
    for (size_t off = 0; off < len;) {
        uInt n = len - off > (1u << 30) ? (1u << 30) : (uInt)(len - off);
        c = crc32(c, (const Bytef *)json + off, n);
        a = adler32(a, (const Bytef *)json + off, n);
        off += n;
    }
    snprintf(b->etag, sizeof b->etag, "\"s%zx-%08lx%08lx\"", len, (unsigned long)c, (unsigned long)a);
    if (len >= GZIP_FROM && len < (1u << 31))
        blob_gzip(b);
    return b;
}

ff_session_view *ff_session_view_new(const char *sid)
{
    ff_session_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    snprintf(v->sid, sizeof v->sid, "%s", sid);
    ff_key_session(v->root, sizeof v->root, v->sid);
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->cond, NULL);
    return v;
}

const char *ff_session_view_sid(const ff_session_view *v)
{
    return v->sid;
}

void ff_session_view_free(ff_session_view *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->uploads.n; i++) {
        upload_e *u = v->uploads.v[i];
        free(u->name);
        free(u);
    }
    for (size_t i = 0; i < v->logs.n; i++) {
        log_e *l = v->logs.v[i];
        free(l->name);
        free(l->text);
        free(l->event);
        free(l);
    }
    for (size_t i = 0; i < v->states.n; i++) {
        state_e *s = v->states.v[i];
        free(s->base);
        free(s->text);
        free(s);
    }
    for (size_t i = 0; i < v->frags.n; i++) {
        frag_e *f = v->frags.v[i];
        free(f->base);
        free(f->input);
        free(f->json);
        free(f);
    }
    free(v->uploads.v);
    free(v->logs.v);
    free(v->states.v);
    free(v->frags.v);
    free(v->order);
    free(v->manifest_json);
    ff_session_blob_unref(v->blob);
    pthread_mutex_destroy(&v->lock);
    pthread_cond_destroy(&v->cond);
    free(v);
}

double ff_session_view_refreshed_at(ff_session_view *v)
{
    pthread_mutex_lock(&v->lock);
    double t = v->refreshed_at;
    pthread_mutex_unlock(&v->lock);
    return t;
}

size_t ff_session_view_bytes(ff_session_view *v)
{
    pthread_mutex_lock(&v->lock);
    size_t n = v->bytes;
    pthread_mutex_unlock(&v->lock);
    return n;
}

ff_session_blob *ff_session_view_status(ff_session_view *v)
{
    pthread_mutex_lock(&v->lock);
    ff_session_blob *b = v->blob;
    ff_session_blob_ref(b);
    pthread_mutex_unlock(&v->lock);
    return b;
}

/* ---- listing ---- */

typedef struct listed {
    char *name;     /* relative to the listed prefix */
    char etag[72];
    time_t mtime;
    uint64_t size;
} listed;

typedef struct listing {
    size_t prefix_len;
    parr items;
    int oom;
} listing;

static int on_listed(const char *key, const ff_store_stat *st, void *ctx)
{
    listing *l = ctx;
    const char *rel = key + l->prefix_len;
    if (!*rel || strchr(rel, '/') || rel[0] == '.')
        return 0;
    listed *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(rel)) || parr_push(&l->items, e) != 0) {
        if (e)
            free(e->name);
        free(e);
        l->oom = 1;
        return -1;
    }
    memcpy(e->etag, st->etag, sizeof e->etag);
    e->mtime = st->mtime;
    e->size = st->size;
    return 0;
}

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->items.n; i++) {
        listed *e = l->items.v[i];
        free(e->name);
        free(e);
    }
    free(l->items.v);
}

/* Lists root+sub (one paged walk) into l, sorted by name. */
static int list_sub(ff_session_view *v, ff_store *store, const char *sub, listing *l, ff_err *err)
{
    char prefix[192];
    snprintf(prefix, sizeof prefix, "%s%s", v->root, sub);
    const char *slash = strrchr(prefix, '/');
    l->prefix_len = (size_t)(slash - prefix) + 1;
    int rc = ff_store_list(store, prefix, on_listed, l, err);
    if (l->oom) {
        ff_store_fault_set(FF_STORE_FAULT_LOCAL);
        return ff_err_set(err, "out of memory listing the session");
    }
    if (rc != 0)
        return -1;
    parr_sort(&l->items);
    return 0;
}

/* ---- fetching what changed, on several threads ---- */

typedef struct fetch_item {
    char key[FF_STORE_KEY_MAX + 1];
    size_t max;
    char *text;
    size_t len;
    int rc;               /* 0 read, 1 absent, -1 failed */
    ff_store_fault fault;
    char msg[FF_ERR_MAX];
} fetch_item;

typedef struct fetch_run {
    ff_store *store;
    fetch_item *items;
    size_t n;
    atomic_size_t next;
    atomic_int failed;    /* a transient failure: the others need not go on */
    double deadline;
} fetch_run;

static void *fetch_loop(void *arg)
{
    fetch_run *f = arg;
    ff_store_set_deadline(f->deadline);
    for (;;) {
        size_t i = atomic_fetch_add(&f->next, 1);
        if (i >= f->n || atomic_load(&f->failed))
            break;
        fetch_item *it = &f->items[i];
        ff_err err = {0};
        it->rc = ff_store_get(f->store, it->key, it->max, &it->text, &it->len, &err);
        if (it->rc < 0) {
            it->fault = ff_store_last_fault();
            snprintf(it->msg, sizeof it->msg, "%s", err.msg);
            if (ff_store_fault_transient(it->fault))
                atomic_store(&f->failed, 1);
        }
    }
    return NULL;
}

/* Reads every item; 0, or -1 with err when one failed for a reason that may pass (the store
 * unreachable or slow). Other failures leave that item unread (rc -1), as if absent. */
static int fetch_all(ff_store *store, fetch_item *items, size_t n, ff_err *err)
{
    fetch_run f = {.store = store, .items = items, .n = n, .deadline = ff_store_get_deadline()};
    atomic_init(&f.next, 0);
    atomic_init(&f.failed, 0);
    pthread_t th[FETCH_THREADS];
    size_t nth = 0;
    size_t want = n / 8;
    if (want > FETCH_THREADS)
        want = FETCH_THREADS;
    while (nth < want && pthread_create(&th[nth], NULL, fetch_loop, &f) == 0)
        nth++;
    fetch_loop(&f);
    for (size_t i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < n; i++)
        if (items[i].rc < 0 && ff_store_fault_transient(items[i].fault)) {
            ff_store_fault_set(items[i].fault);
            return ff_err_set(err, "%s", items[i].msg);
        }
    return 0;
}

/* ---- building the JSON ---- */

/* "x_log_3.txt" -> base "x" and step 3; 0 when the name is not a file's step log. */
static int log_step(const char *name, char *base, size_t cap)
{
    const char *p = strstr(name, "_log_");
    if (!p)
        return 0;
    const char *q;
    while ((q = strstr(p + 1, "_log_")))
        p = q;
    int step = p[5] - '0';
    if (step < 1 || step > FF_STEP_ASDF || strcmp(p + 6, ".txt") != 0)
        return 0;
    size_t n = (size_t)(p - name);
    if (n == 0 || n >= cap)
        return 0;
    memcpy(base, name, n);
    base[n] = '\0';
    return step;
}

static const log_e *find_log(const ff_session_view *v, const char *name)
{
    const log_e *l = parr_find(&v->logs, name);
    return l && l->present && l->text ? l : NULL;
}

static char *build_file(const ff_session_view *v, const char *name, const char *base)
{
    char key[FF_STORE_KEY_MAX + 1];
    json_t *f = json_object();
    if (!f)
        return NULL;
    json_object_set_new(f, "base", json_string(base));
    json_object_set_new(f, "input", json_string(name));

    /* The state object holds each step's outcome and, once finished, the result. */
    const state_e *se = parr_find(&v->states, base);
    json_t *state = se && se->present && se->text ? json_loads(se->text, 0, NULL) : NULL;
    const json_t *oks = json_object_get(state, "steps");
    const json_t *result = json_object_get(state, "result");

    json_t *steps = json_object();
    for (int s = 1; s <= FF_STEP_ASDF; s++) {
        char lname[300];
        ff_key_log_name(lname, sizeof lname, base, s);
        const log_e *l = find_log(v, lname);
        if (!l)
            continue;
        char k[4];
        snprintf(k, sizeof k, "%d", s);
        const json_t *ok = json_object_get(oks, k);
        json_t *step = json_object();
        json_object_set_new(step, "ok", json_is_boolean(ok) ? json_boolean(json_is_true(ok))
                                                            : (s == 1 ? json_true() : json_null()));
        json_object_set_new(step, "message", safe_string(l->text, l->text_len));
        json_object_set_new(steps, k, step);
    }
    json_object_set_new(f, "steps", steps);
    const json_t *status = json_object_get(result, "status");
    json_object_set_new(f, "status", json_is_string(status) ? json_copy((json_t *)status)
                        : json_object_size(steps) ? json_string("processing") : json_string("pending"));
    const json_t *reason = json_object_get(result, "reason");
    json_object_set_new(f, "reason", json_is_string(reason) ? json_copy((json_t *)reason) : json_null());
    json_t *outs = json_array();
    const json_t *ro = json_object_get(result, "outputs");
    for (size_t i = 0; json_is_array(ro) && i < json_array_size(ro); i++) {
        const json_t *o = json_array_get(ro, i);
        const json_t *path = json_object_get(o, "path");
        if (!json_is_object(o) || !json_is_string(path))
            continue;
        json_t *oc = json_deep_copy(o);
        /* Where to fetch it: the store key (also the URL path under the static route). */
        ff_key_processed(key, sizeof key, v->sid, json_string_value(path));
        json_object_set_new(oc, "key", json_string(key));
        json_array_append_new(outs, oc);
    }
    json_object_set_new(f, "outputs", outs);
    json_decref(state);
    char *text = json_dumps(f, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(f);
    return text;
}

/* A sorted array of names (bases) touched by this refresh. */
static int touched(const parr *t, const char *base)
{
    return parr_find(t, base) != NULL;
}

static int touch(parr *t, const char *base)
{
    char **e = malloc(sizeof *e);
    if (!e || !(*e = strdup(base))) {
        free(e);
        return -1;
    }
    return parr_push(t, e);
}

static void text_field(ff_strbuf *b, const char *name, const log_e *l)
{
    ff_strbuf_addf(b, ",\"%s\":", name);
    add_json(b, l ? safe_string(l->text, l->text_len) : json_null());
}

typedef struct file_pick {
    char base[256];
    size_t index; /* in uploads, sorted by name */
} file_pick;

static int cmp_pick(const void *a, const void *b)
{
    const file_pick *x = a, *y = b;
    int c = strcmp(x->base, y->base);
    return c ? c : x->index < y->index ? -1 : x->index > y->index;
}

/* The status JSON from the view's parts; files whose base is in t get their part rebuilt. */
static ff_session_blob *build_status(ff_session_view *v, const parr *t, size_t *bytes)
{
    ff_strbuf b = {0};
    size_t nlogs = 0;
    for (size_t i = 0; i < v->logs.n; i++)
        nlogs += ((log_e *)v->logs.v[i])->present;
    size_t nstates = 0;
    for (size_t i = 0; i < v->states.n; i++)
        nstates += ((state_e *)v->states.v[i])->present;
    if (!v->uploads.n && !nlogs && !nstates && !v->manifest_present) {
        char *empty = strdup("");
        ff_session_blob *blob = empty ? blob_new(empty, 0, 1) : NULL;
        if (!blob)
            free(empty);
        return blob;
    }
    const log_e *summary = find_log(v, "summary_log_2.txt");
    const char *state = summary ? "done" : nlogs ? "processing" : v->uploads.n ? "uploaded" : "empty";
    ff_strbuf_adds(&b, "{\"session_id\":");
    add_json(&b, json_string(v->sid));
    ff_strbuf_addf(&b, ",\"state\":\"%s\",\"uploads\":[", state);
    for (size_t i = 0; i < v->uploads.n; i++) {
        const upload_e *u = v->uploads.v[i];
        json_t *name = json_string(u->name);
        if (!name) /* not UTF-8: not an upload the API could have made; leave it out */
            continue;
        if (b.len && b.p[b.len - 1] == '}')
            ff_strbuf_add(&b, ",", 1);
        ff_strbuf_adds(&b, "{\"name\":");
        add_json(&b, name);
        ff_strbuf_addf(&b, ",\"bytes\":%llu}", (unsigned long long)u->size);
    }
    ff_strbuf_adds(&b, "],\"files\":[");
    for (size_t i = 0; i < v->frags.n; i++)
        ((frag_e *)v->frags.v[i])->used = 0;
    /* As the runner does: of two uploads with one base name, the first (by name) is the file. */
    size_t nu = v->uploads.n;
    file_pick *picks = calloc(nu ? nu : 1, sizeof *picks);
    unsigned char *keep_upload = calloc(nu ? nu : 1, 1);
    parr added = {0};
    if (!picks || !keep_upload)
        b.oom = 1;
    size_t np = 0;
    for (size_t i = 0; !b.oom && i < nu; i++) {
        const upload_e *u = v->uploads.v[i];
        if (!ff_upload_name_valid(u->name, NULL))
            continue;
        ff_base_name(u->name, picks[np].base, sizeof picks[np].base);
        picks[np++].index = i;
    }
    if (np > 1)
        qsort(picks, np, sizeof *picks, cmp_pick);
    for (size_t i = 0; i < np; i++)
        if (i == 0 || strcmp(picks[i].base, picks[i - 1].base))
            keep_upload[picks[i].index] = 1;
    int first = 1;
    char base[256];
    *bytes = 0;
    for (size_t i = 0; !b.oom && i < nu; i++) {
        if (!keep_upload[i])
            continue;
        const upload_e *u = v->uploads.v[i];
        ff_base_name(u->name, base, sizeof base);
        frag_e *f = parr_find(&v->frags, base);
        if (!f || strcmp(f->input, u->name) || !f->json || touched(t, base)) {
            char *json = build_file(v, u->name, base);
            if (!json) {
                b.oom = 1;
                break;
            }
            if (!f) {
                /* Joins the sorted parts after this loop: one sort, not one per file. */
                f = calloc(1, sizeof *f);
                if (!f || !(f->base = strdup(base)) || parr_push(&added, f) != 0) {
                    if (f)
                        free(f->base);
                    free(f);
                    free(json);
                    b.oom = 1;
                    break;
                }
            }
            free(f->input);
            f->input = strdup(u->name);
            free(f->json);
            f->json = json;
            if (!f->input)
                b.oom = 1;
        }
        f->used = 1;
        if (!first)
            ff_strbuf_add(&b, ",", 1);
        first = 0;
        ff_strbuf_adds(&b, f->json);
        *bytes += strlen(f->json) + 2 * sizeof(void *);
    }
    free(picks);
    free(keep_upload);
    for (size_t i = 0; i < added.n; i++)
        if (parr_push(&v->frags, added.v[i]) != 0) {
            frag_e *f = added.v[i];
            free(f->base);
            free(f->input);
            free(f->json);
            free(f);
            b.oom = 1;
        }
    free(added.v);
    parr_sort(&v->frags);
    /* Parts of files that are gone. */
    size_t keep = 0;
    for (size_t i = 0; i < v->frags.n; i++) {
        frag_e *f = v->frags.v[i];
        if (f->used) {
            v->frags.v[keep++] = f;
        } else {
            free(f->base);
            free(f->input);
            free(f->json);
            free(f);
        }
    }
    v->frags.n = keep;
    ff_strbuf_add(&b, "]", 1);
    text_field(&b, "download_summary", find_log(v, "download_summary_log_1.txt"));
    text_field(&b, "skipped", find_log(v, "skipped_log_1.txt"));
    text_field(&b, "summary", summary);
    ff_strbuf_adds(&b, ",\"manifest\":");
    ff_strbuf_adds(&b, v->manifest_present && v->manifest_json ? v->manifest_json : "null");
    ff_strbuf_add(&b, "}", 1);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *bytes += b.len;
    ff_session_blob *blob = blob_new(b.p, b.len, 0);
    if (!blob)
        free(b.p);
    return blob;
}

/* ---- the events ---- */

static int cmp_order(const void *a, const void *b)
{
    const log_e *x = *(log_e *const *)a, *y = *(log_e *const *)b;
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    /* Ties in time (one-second resolution): the download summary first, the final summary last. */
    int rx = !strcmp(x->name, "download_summary_log_1.txt") ? 0 : !strcmp(x->name, "summary_log_2.txt") ? 2 : 1;
    int ry = !strcmp(y->name, "download_summary_log_1.txt") ? 0 : !strcmp(y->name, "summary_log_2.txt") ? 2 : 1;
    if (rx != ry)
        return rx - ry;
    return strcmp(x->name, y->name);
}

/* The event text of a log (and the "done" event after the summary). */
static char *make_event(const ff_session_view *v, const log_e *l)
{
    ff_strbuf b = {0};
    ff_strbuf_adds(&b, "event: log\ndata: ");
    json_t *d = json_object();
    json_object_set_new(d, "name", json_string(l->name));
    json_object_set_new(d, "text", safe_string(l->text, l->text_len));
    add_json(&b, d);
    ff_strbuf_adds(&b, "\n\n");
    if (!strcmp(l->name, "summary_log_2.txt")) {
        ff_strbuf_adds(&b, "event: done\ndata: ");
        d = json_object();
        json_object_set_new(d, "session_id", json_string(v->sid));
        json_object_set_new(d, "summary", safe_string(l->text, l->text_len));
        add_json(&b, d);
        ff_strbuf_adds(&b, "\n\n");
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

int ff_session_view_events(ff_session_view *v, size_t *pos, ff_strbuf *out, size_t max, int *done)
{
    pthread_mutex_lock(&v->lock);
    while (*pos < v->norder && !*done && out->len < max) {
        const log_e *l = v->order[*pos];
        (*pos)++;
        if (!l->event)
            continue;
        ff_strbuf_adds(out, l->event);
        if (!strcmp(l->name, "summary_log_2.txt"))
            *done = 1;
    }
    pthread_mutex_unlock(&v->lock);
    return out->oom ? -1 : 0;
}

/* ---- the refresh ---- */

static void free_touched(parr *t)
{
    for (size_t i = 0; i < t->n; i++) {
        char **e = t->v[i];
        free(*e);
        free(e);
    }
    free(t->v);
}

static int do_refresh(ff_session_view *v, ff_store *store, ff_err *err)
{
    listing lu = {0}, ll = {0}, ls = {0}, lm = {0};
    fetch_item *items = NULL;
    parr t = {0};
    parr added = {0}, added_states = {0}; /* new entries join the sorted arrays at the end: one sort */
    log_e **fresh = NULL;
    size_t nfresh = 0;
    int rc = -1;
    if (list_sub(v, store, "fits/", &lu, err) || list_sub(v, store, "logs/", &ll, err) ||
        list_sub(v, store, "state/", &ls, err) ||
        list_sub(v, store, "processed/manifest.json", &lm, err))
        goto out;

    /* What to read: logs and states that are new or changed, and the manifest. */
    size_t nitems = 0, cap = ll.items.n + ls.items.n + 1;
    items = calloc(cap, sizeof *items);
    if (!items) {
        ff_store_fault_set(FF_STORE_FAULT_LOCAL);
        ff_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ll.items.n; i++) {
        const listed *e = ll.items.v[i];
        const log_e *l = parr_find(&v->logs, e->name);
        if (l && l->present && l->fetched && !strcmp(l->etag, e->etag) && e->etag[0])
            continue;
        ff_key_log(items[nitems].key, sizeof items[nitems].key, v->sid, e->name);
        items[nitems++].max = LOG_MAX;
    }
    size_t first_state = nitems;
    for (size_t i = 0; i < ls.items.n; i++) {
        const listed *e = ls.items.v[i];
        size_t n = strlen(e->name);
        if (n <= 5 || strcmp(e->name + n - 5, ".json"))
            continue;
        char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(n - 5), e->name);
        const state_e *s = parr_find(&v->states, base);
        if (s && s->present && s->fetched && !strcmp(s->etag, e->etag) && e->etag[0])
            continue;
        ff_key_state(items[nitems].key, sizeof items[nitems].key, v->sid, base);
        items[nitems++].max = STATE_MAX;
    }
    size_t manifest_item = SIZE_MAX;
    const listed *me = NULL;
    for (size_t i = 0; i < lm.items.n; i++)
        if (!strcmp(((listed *)lm.items.v[i])->name, "manifest.json"))
            me = lm.items.v[i];
    if (me && (!v->manifest_present || strcmp(v->manifest_etag, me->etag) || !me->etag[0])) {
        manifest_item = nitems;
        ff_key_processed(items[nitems].key, sizeof items[nitems].key, v->sid, "manifest.json");
        items[nitems++].max = MANIFEST_MAX;
    }
    if (nitems && fetch_all(store, items, nitems, err) != 0)
        goto out;

    /* Merge: uploads are replaced whole; logs and states entry by entry. */
    int changed = v->uploads.n != lu.items.n || !v->blob;
    for (size_t i = 0; !changed && i < lu.items.n; i++) {
        const listed *e = lu.items.v[i];
        const upload_e *u = v->uploads.v[i];
        changed = strcmp(u->name, e->name) || u->size != e->size;
    }
    for (size_t i = 0; i < v->uploads.n; i++) {
        upload_e *u = v->uploads.v[i];
        free(u->name);
        free(u);
    }
    v->uploads.n = 0;
    for (size_t i = 0; i < lu.items.n; i++) {
        listed *e = lu.items.v[i];
        upload_e *u = malloc(sizeof *u);
        if (!u || parr_push(&v->uploads, u) != 0) {
            free(u);
            goto oom;
        }
        u->name = e->name;
        u->size = e->size;
        e->name = NULL;
    }

    size_t k = 0;
    for (size_t i = 0; i < v->logs.n; i++)
        ((log_e *)v->logs.v[i])->present = 0;
    for (size_t i = 0; i < ll.items.n; i++) {
        listed *e = ll.items.v[i];
        log_e *l = parr_find(&v->logs, e->name);
        int is_new = !l;
        if (is_new) {
            l = calloc(1, sizeof *l);
            if (!l || !(l->name = strdup(e->name)) || parr_push(&added, l) != 0) {
                if (l)
                    free(l->name);
                free(l);
                goto oom;
            }
        }
        l->present = 1;
        int changed = is_new;
        if (k < first_state && !strcmp(items[k].key + strlen(v->root) + 5, e->name)) {
            fetch_item *it = &items[k++];
            free(l->text);
            l->text = it->rc == 0 ? it->text : NULL;
            l->text_len = it->rc == 0 ? it->len : 0;
            it->text = NULL;
            l->fetched = 1;
            memcpy(l->etag, e->etag, sizeof l->etag);
            l->mtime = e->mtime;
            changed = 1;
        }
        if (changed) {
            char base[256];
            if (log_step(e->name, base, sizeof base) && touch(&t, base) != 0)
                goto oom;
            if (l->text && !l->in_order) {
                log_e **nf = realloc(fresh, (nfresh + 1) * sizeof *nf);
                if (!nf)
                    goto oom;
                fresh = nf;
                fresh[nfresh++] = l;
            }
        }
    }
    for (size_t i = 0; i < added.n; i++)
        if (parr_push(&v->logs, added.v[i]) != 0) {
            memmove(added.v, added.v + i, (added.n - i) * sizeof *added.v);
            added.n -= i;
            parr_sort(&v->logs);
            goto oom;
        }
    added.n = 0;
    parr_sort(&v->logs);
    for (size_t i = 0; i < v->logs.n; i++) {
        log_e *l = v->logs.v[i];
        if (!l->present && l->text) {
            char base[256];
            if (log_step(l->name, base, sizeof base) && touch(&t, base) != 0)
                goto oom;
            free(l->text);
            l->text = NULL;
            l->text_len = 0;
            l->fetched = 0;
        }
    }

    for (size_t i = 0; i < v->states.n; i++)
        ((state_e *)v->states.v[i])->present = 0;
    k = first_state;
    for (size_t i = 0; i < ls.items.n; i++) {
        listed *e = ls.items.v[i];
        size_t n = strlen(e->name);
        if (n <= 5 || strcmp(e->name + n - 5, ".json"))
            continue;
        char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(n - 5), e->name);
        state_e *s = parr_find(&v->states, base);
        if (!s) {
            s = calloc(1, sizeof *s);
            if (!s || !(s->base = strdup(base)) || parr_push(&added_states, s) != 0) {
                if (s)
                    free(s->base);
                free(s);
                goto oom;
            }
        }
        s->present = 1;
        if (k < nitems && k != manifest_item &&
            !strcmp(items[k].key + strlen(v->root) + 6, e->name)) {
            fetch_item *it = &items[k++];
            free(s->text);
            s->text = it->rc == 0 ? it->text : NULL;
            it->text = NULL;
            s->fetched = 1;
            memcpy(s->etag, e->etag, sizeof s->etag);
            if (touch(&t, base) != 0)
                goto oom;
        }
    }
    for (size_t i = 0; i < added_states.n; i++)
        if (parr_push(&v->states, added_states.v[i]) != 0) {
            memmove(added_states.v, added_states.v + i, (added_states.n - i) * sizeof *added_states.v);
            added_states.n -= i;
            parr_sort(&v->states);
            goto oom;
        }
    added_states.n = 0;
    parr_sort(&v->states);
    for (size_t i = 0; i < v->states.n; i++) {
        state_e *s = v->states.v[i];
        if (!s->present && s->text) {
            if (touch(&t, s->base) != 0)
                goto oom;
            free(s->text);
            s->text = NULL;
            s->fetched = 0;
        }
    }

    if (manifest_item != SIZE_MAX) {
        fetch_item *it = &items[manifest_item];
        free(v->manifest_json);
        v->manifest_json = NULL;
        json_t *m = it->rc == 0 ? json_loads(it->text, 0, NULL) : NULL;
        if (m)
            v->manifest_json = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(m);
        memcpy(v->manifest_etag, me->etag, sizeof v->manifest_etag);
        v->manifest_present = 1;
    } else if (!me) {
        v->manifest_present = 0;
    }
    parr_sort(&t);
    if (!changed && !t.n && manifest_item == SIZE_MAX && (me != NULL) == v->had_manifest) {
        rc = 0; /* nothing new: the last answer stands */
        goto out;
    }
    v->had_manifest = me != NULL;

    size_t bytes = 0;
    ff_session_blob *blob = build_status(v, &t, &bytes);
    if (!blob)
        goto oom;
    for (size_t i = 0; i < v->logs.n; i++) {
        const log_e *l = v->logs.v[i];
        bytes += sizeof *l + strlen(l->name) + l->text_len * 2 + 64;
    }
    for (size_t i = 0; i < v->states.n; i++) {
        const state_e *s = v->states.v[i];
        bytes += sizeof *s + (s->text ? strlen(s->text) : 0);
    }
    bytes += v->manifest_json ? strlen(v->manifest_json) : 0;

    /* New logs join the event order, ordered among themselves by time. */
    if (nfresh > 1)
        qsort(fresh, nfresh, sizeof *fresh, cmp_order);
    char **events = nfresh ? calloc(nfresh, sizeof *events) : NULL;
    if (nfresh && !events) {
        ff_session_blob_unref(blob);
        goto oom;
    }
    for (size_t i = 0; i < nfresh; i++)
        events[i] = make_event(v, fresh[i]);
    /* Events of logs already in the order but rewritten since (a rerun): a later stream sends
     * what the log says now. */
    pthread_mutex_lock(&v->lock);
    int ok = 1;
    if (v->norder + nfresh > v->caporder) {
        size_t capo = (v->norder + nfresh) * 2;
        log_e **no = realloc(v->order, capo * sizeof *no);
        if (no) {
            v->order = no;
            v->caporder = capo;
        } else {
            ok = 0;
        }
    }
    if (ok) {
        for (size_t i = 0; i < nfresh; i++) {
            free(fresh[i]->event);
            fresh[i]->event = events[i];
            events[i] = NULL;
            fresh[i]->in_order = 1;
            v->order[v->norder++] = fresh[i];
        }
        for (size_t i = 0; i < v->logs.n; i++) {
            log_e *l = v->logs.v[i];
            if (l->in_order && l->text && !l->event)
                l->event = make_event(v, l);
        }
        ff_session_blob_unref(v->blob);
        v->blob = blob;
        v->bytes = bytes;
    }
    pthread_mutex_unlock(&v->lock);
    for (size_t i = 0; i < nfresh; i++)
        free(events[i]);
    free(events);
    if (!ok) {
        ff_session_blob_unref(blob);
        goto oom;
    }
    rc = 0;
    goto out;
oom:
    ff_store_fault_set(FF_STORE_FAULT_LOCAL);
    ff_err_set(err, "out of memory reading the session");
out:
    if (items)
        for (size_t i = 0; i < cap; i++)
            free(items[i].text);
    free(items);
    free(fresh);
    free_touched(&t);
    for (size_t i = 0; i < added.n; i++) { /* entries not merged (out of memory) */
        log_e *l = added.v[i];
        free(l->name);
        free(l->text);
        free(l);
    }
    free(added.v);
    for (size_t i = 0; i < added_states.n; i++) {
        state_e *st = added_states.v[i];
        free(st->base);
        free(st->text);
        free(st);
    }
    free(added_states.v);
    listing_free(&lu);
    listing_free(&ll);
    listing_free(&ls);
    listing_free(&lm);
    return rc;
}

int ff_session_view_refresh(ff_session_view *v, ff_store *store, ff_err *err)
{
    pthread_mutex_lock(&v->lock);
    if (v->refreshing) {
        /* One is running: its result is as fresh as the caller needs. */
        while (v->refreshing)
            pthread_cond_wait(&v->cond, &v->lock);
        int rc = v->last_rc;
        if (rc != 0) {
            if (err)
                *err = v->last_err;
            ff_store_fault_set(v->last_fault);
        }
        pthread_mutex_unlock(&v->lock);
        return rc;
    }
    v->refreshing = 1;
    pthread_mutex_unlock(&v->lock);
    ff_err e = {0};
    int rc = do_refresh(v, store, &e);
    ff_store_fault f = ff_store_last_fault();
    pthread_mutex_lock(&v->lock);
    v->refreshing = 0;
    v->last_rc = rc;
    v->last_err = e;
    v->last_fault = rc ? f : FF_STORE_FAULT_NONE;
    if (rc == 0)
        v->refreshed_at = ff_clock_now();
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->lock);
    if (rc != 0 && err)
        *err = e;
    ff_store_fault_set(rc ? f : FF_STORE_FAULT_NONE);
    return rc;
}

int ff_session_status_json(ff_store *store, const char *sid, char **json, ff_err *err)
{
    *json = NULL;
    if (!ff_session_id_valid(sid))
        return ff_err_set(err, "'%.80s' is not a session id (8 to 64 of a-z, 0-9 and '-')",
                          sid ? sid : "");
    ff_session_view *v = ff_session_view_new(sid);
    if (!v)
        return ff_err_set(err, "out of memory");
    int rc = ff_session_view_refresh(v, store, err);
    ff_session_blob *b = rc == 0 ? ff_session_view_status(v) : NULL;
    ff_session_view_free(v);
    if (rc != 0)
        return -1;
    if (!b)
        return ff_err_set(err, "out of memory");
    if (b->empty) {
        ff_session_blob_unref(b);
        ff_err_set(err, "no session '%s'", sid);
        return 1;
    }
    *json = b->json;
    b->json = NULL;
    ff_session_blob_unref(b);
    return 0;
}
