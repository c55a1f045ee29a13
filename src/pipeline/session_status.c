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

/* Moves every element of added into a, then sorts a; -1 when out of memory (those not moved stay
 * in added, for the caller to free). */
static int parr_merge(parr *a, parr *added)
{
    size_t i = 0;
    while (i < added->n && parr_push(a, added->v[i]) == 0)
        i++;
    if (i < added->n) /* added->v may be NULL when empty */
        memmove(added->v, added->v + i, (added->n - i) * sizeof *added->v);
    added->n -= i;
    parr_sort(a);
    return added->n ? -1 : 0;
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
    const char *name;     /* as listed (under logs/, state/ or processed/) */
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
    if (step < 1 || step > FF_STEP_LAST || strcmp(p + 6, ".txt") != 0)
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
    for (int s = 1; s <= FF_STEP_LAST; s++) {
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

/* The "uploads" array: every upload with a UTF-8 name (one the API could have made). */
static void add_uploads(ff_strbuf *b, const ff_session_view *v)
{
    ff_strbuf_adds(b, "\"uploads\":[");
    for (size_t i = 0; i < v->uploads.n; i++) {
        const upload_e *u = v->uploads.v[i];
        json_t *name = json_string(u->name);
        if (!name)
            continue;
        if (b->len && b->p[b->len - 1] == '}')
            ff_strbuf_add(b, ",", 1);
        ff_strbuf_adds(b, "{\"name\":");
        add_json(b, name);
        ff_strbuf_addf(b, ",\"bytes\":%llu}", (unsigned long long)u->size);
    }
    ff_strbuf_add(b, "]", 1);
}

/* As the runner does: of two uploads with one base name, the first (by name) is the file.
 * keep[i] = 1 for the uploads that are files. -1 when out of memory. */
static int pick_files(const ff_session_view *v, unsigned char *keep)
{
    size_t nu = v->uploads.n, np = 0;
    file_pick *picks = calloc(nu ? nu : 1, sizeof *picks);
    if (!picks)
        return -1;
    for (size_t i = 0; i < nu; i++) {
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
            keep[picks[i].index] = 1;
    free(picks);
    return 0;
}

/* The part of the JSON of upload u (base), rebuilt when it is new, its input changed or its
 * base was touched; new parts go to added. NULL when out of memory. */
static frag_e *file_part(ff_session_view *v, const parr *t, const upload_e *u, const char *base,
                         parr *added)
{
    frag_e *f = parr_find(&v->frags, base);
    if (f && !strcmp(f->input, u->name) && f->json && !touched(t, base))
        return f;
    char *json = build_file(v, u->name, base);
    if (!json)
        return NULL;
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f || !(f->base = strdup(base)) || parr_push(added, f) != 0) {
            if (f)
                free(f->base);
            free(f);
            free(json);
            return NULL;
        }
    }
    free(f->input);
    free(f->json);
    f->json = json;
    f->input = strdup(u->name);
    return f->input ? f : NULL;
}

static void frag_free(frag_e *f)
{
    free(f->base);
    free(f->input);
    free(f->json);
    free(f);
}

/* The "files" array, from the parts kept per file; parts of files that are gone are dropped.
 * *bytes counts what the parts hold. */
static void add_files(ff_strbuf *b, ff_session_view *v, const parr *t, size_t *bytes)
{
    size_t nu = v->uploads.n;
    unsigned char *keep = calloc(nu ? nu : 1, 1);
    parr added = {0}; /* new parts join the sorted ones after the loop: one sort */
    if (!keep || pick_files(v, keep) != 0)
        b->oom = 1;
    for (size_t i = 0; i < v->frags.n; i++)
        ((frag_e *)v->frags.v[i])->used = 0;
    ff_strbuf_adds(b, "\"files\":[");
    int first = 1;
    char base[256];
    for (size_t i = 0; !b->oom && i < nu; i++) {
        if (!keep[i])
            continue;
        const upload_e *u = v->uploads.v[i];
        ff_base_name(u->name, base, sizeof base);
        frag_e *f = file_part(v, t, u, base, &added);
        if (!f) {
            b->oom = 1;
            break;
        }
        f->used = 1;
        if (!first)
            ff_strbuf_add(b, ",", 1);
        first = 0;
        ff_strbuf_adds(b, f->json);
        *bytes += strlen(f->json) + 2 * sizeof(void *);
    }
    ff_strbuf_add(b, "]", 1);
    free(keep);
    if (parr_merge(&v->frags, &added) != 0) {
        for (size_t i = 0; i < added.n; i++)
            frag_free(added.v[i]);
        b->oom = 1;
    }
    free(added.v);
    size_t kept = 0;
    for (size_t i = 0; i < v->frags.n; i++) {
        frag_e *f = v->frags.v[i];
        if (f->used)
            v->frags.v[kept++] = f;
        else
            frag_free(f);
    }
    v->frags.n = kept;
}

/* The status JSON from the view's parts; files whose base is in t get their part rebuilt. */
static ff_session_blob *build_status(ff_session_view *v, const parr *t, size_t *bytes)
{
    size_t nlogs = 0, nstates = 0;
    for (size_t i = 0; i < v->logs.n; i++)
        nlogs += ((log_e *)v->logs.v[i])->present;
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
    ff_strbuf b = {0};
    ff_strbuf_adds(&b, "{\"session_id\":");
    add_json(&b, json_string(v->sid));
    ff_strbuf_addf(&b, ",\"state\":\"%s\",", state);
    add_uploads(&b, v);
    ff_strbuf_add(&b, ",", 1);
    *bytes = 0;
    add_files(&b, v, t, bytes);
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

/* One refresh's working state: the listings, what to read, and what changed. */
typedef struct refresh {
    ff_session_view *v;
    listing lu, ll, ls, lm;   /* uploads, logs, states, the manifest */
    fetch_item *items;        /* logs first, then states, then the manifest */
    size_t nitems, cap, first_state, manifest_item;
    const listed *manifest;   /* as listed; NULL: none */
    int uploads_changed;
    parr touched;             /* bases whose part of the JSON is rebuilt */
    parr added_logs, added_states; /* new entries join the sorted arrays at the end: one sort */
    log_e **fresh;            /* logs new to the event order */
    size_t nfresh;
} refresh;

/* "x.json" under state/ -> base "x"; 0 when the name is not a state object's. */
static int state_base(const char *name, char *base, size_t cap)
{
    size_t n = strlen(name);
    if (n <= 5 || strcmp(name + n - 5, ".json"))
        return 0;
    snprintf(base, cap, "%.*s", (int)(n - 5), name);
    return 1;
}

static fetch_item *plan(refresh *f, const listed *e, size_t max)
{
    fetch_item *it = &f->items[f->nitems++];
    it->name = e->name;
    it->max = max;
    return it;
}

/* What to read: logs and states that are new or changed (by etag), and a changed manifest. */
static int plan_reads(refresh *f, ff_err *err)
{
    ff_session_view *v = f->v;
    f->cap = f->ll.items.n + f->ls.items.n + 1;
    f->manifest_item = SIZE_MAX;
    f->items = calloc(f->cap, sizeof *f->items);
    if (!f->items) {
        ff_store_fault_set(FF_STORE_FAULT_LOCAL);
        return ff_err_set(err, "out of memory");
    }
    for (size_t i = 0; i < f->ll.items.n; i++) {
        const listed *e = f->ll.items.v[i];
        const log_e *l = parr_find(&v->logs, e->name);
        if (!(l && l->present && l->fetched && !strcmp(l->etag, e->etag) && e->etag[0]))
            ff_key_log(plan(f, e, LOG_MAX)->key, FF_STORE_KEY_MAX + 1, v->sid, e->name);
    }
    f->first_state = f->nitems;
    for (size_t i = 0; i < f->ls.items.n; i++) {
        const listed *e = f->ls.items.v[i];
        char base[256];
        if (!state_base(e->name, base, sizeof base))
            continue;
        const state_e *s = parr_find(&v->states, base);
        if (!(s && s->present && s->fetched && !strcmp(s->etag, e->etag) && e->etag[0]))
            ff_key_state(plan(f, e, STATE_MAX)->key, FF_STORE_KEY_MAX + 1, v->sid, base);
    }
    for (size_t i = 0; i < f->lm.items.n; i++)
        if (!strcmp(((listed *)f->lm.items.v[i])->name, "manifest.json"))
            f->manifest = f->lm.items.v[i];
    const listed *me = f->manifest;
    if (me && (!v->manifest_present || strcmp(v->manifest_etag, me->etag) || !me->etag[0])) {
        f->manifest_item = f->nitems;
        ff_key_processed(plan(f, me, MANIFEST_MAX)->key, FF_STORE_KEY_MAX + 1, v->sid, "manifest.json");
    }
    return 0;
}

/* Uploads are replaced whole (they are all in the listing). */
static int merge_uploads(refresh *f)
{
    ff_session_view *v = f->v;
    f->uploads_changed = v->uploads.n != f->lu.items.n || !v->blob;
    for (size_t i = 0; !f->uploads_changed && i < f->lu.items.n; i++) {
        const listed *e = f->lu.items.v[i];
        const upload_e *u = v->uploads.v[i];
        f->uploads_changed = strcmp(u->name, e->name) || u->size != e->size;
    }
    for (size_t i = 0; i < v->uploads.n; i++) {
        upload_e *u = v->uploads.v[i];
        free(u->name);
        free(u);
    }
    v->uploads.n = 0;
    for (size_t i = 0; i < f->lu.items.n; i++) {
        listed *e = f->lu.items.v[i];
        upload_e *u = malloc(sizeof *u);
        if (!u || parr_push(&v->uploads, u) != 0) {
            free(u);
            return -1;
        }
        u->name = e->name;
        u->size = e->size;
        e->name = NULL;
    }
    return 0;
}

/* One listed log: found or made, its text taken when it was read; a changed one touches its
 * file and, with text, joins the event order. */
static int merge_log(refresh *f, listed *e, size_t *k)
{
    log_e *l = parr_find(&f->v->logs, e->name);
    int changed = !l;
    if (!l) {
        l = calloc(1, sizeof *l);
        if (!l || !(l->name = strdup(e->name)) || parr_push(&f->added_logs, l) != 0) {
            if (l)
                free(l->name);
            free(l);
            return -1;
        }
    }
    l->present = 1;
    if (*k < f->first_state && !strcmp(f->items[*k].name, e->name)) {
        fetch_item *it = &f->items[(*k)++];
        free(l->text);
        l->text = it->rc == 0 ? it->text : NULL;
        l->text_len = it->rc == 0 ? it->len : 0;
        it->text = NULL;
        l->fetched = 1;
        memcpy(l->etag, e->etag, sizeof l->etag);
        l->mtime = e->mtime;
        changed = 1;
    }
    if (!changed)
        return 0;
    char base[256];
    if (log_step(e->name, base, sizeof base) && touch(&f->touched, base) != 0)
        return -1;
    if (l->text && !l->in_order) {
        log_e **nf = realloc(f->fresh, (f->nfresh + 1) * sizeof *nf);
        if (!nf)
            return -1;
        f->fresh = nf;
        f->fresh[f->nfresh++] = l;
    }
    return 0;
}

/* Logs entry by entry; a log that is gone touches its file and drops its text. */
static int merge_logs(refresh *f)
{
    ff_session_view *v = f->v;
    size_t k = 0;
    for (size_t i = 0; i < v->logs.n; i++)
        ((log_e *)v->logs.v[i])->present = 0;
    for (size_t i = 0; i < f->ll.items.n; i++)
        if (merge_log(f, f->ll.items.v[i], &k) != 0)
            return -1;
    if (parr_merge(&v->logs, &f->added_logs) != 0)
        return -1;
    for (size_t i = 0; i < v->logs.n; i++) {
        log_e *l = v->logs.v[i];
        char base[256];
        if (l->present || !l->text)
            continue;
        if (log_step(l->name, base, sizeof base) && touch(&f->touched, base) != 0)
            return -1;
        free(l->text);
        l->text = NULL;
        l->text_len = 0;
        l->fetched = 0;
    }
    return 0;
}

/* One listed state object, as merge_log does for logs. */
static int merge_state(refresh *f, listed *e, size_t *k)
{
    char base[256];
    if (!state_base(e->name, base, sizeof base))
        return 0;
    state_e *s = parr_find(&f->v->states, base);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || !(s->base = strdup(base)) || parr_push(&f->added_states, s) != 0) {
            if (s)
                free(s->base);
            free(s);
            return -1;
        }
    }
    s->present = 1;
    if (*k < f->nitems && *k != f->manifest_item && !strcmp(f->items[*k].name, e->name)) {
        fetch_item *it = &f->items[(*k)++];
        free(s->text);
        s->text = it->rc == 0 ? it->text : NULL;
        it->text = NULL;
        s->fetched = 1;
        memcpy(s->etag, e->etag, sizeof s->etag);
        if (touch(&f->touched, base) != 0)
            return -1;
    }
    return 0;
}

static int merge_states(refresh *f)
{
    ff_session_view *v = f->v;
    size_t k = f->first_state;
    for (size_t i = 0; i < v->states.n; i++)
        ((state_e *)v->states.v[i])->present = 0;
    for (size_t i = 0; i < f->ls.items.n; i++)
        if (merge_state(f, f->ls.items.v[i], &k) != 0)
            return -1;
    if (parr_merge(&v->states, &f->added_states) != 0)
        return -1;
    for (size_t i = 0; i < v->states.n; i++) {
        state_e *s = v->states.v[i];
        if (s->present || !s->text)
            continue;
        if (touch(&f->touched, s->base) != 0)
            return -1;
        free(s->text);
        s->text = NULL;
        s->fetched = 0;
    }
    return 0;
}

static void merge_manifest(refresh *f)
{
    ff_session_view *v = f->v;
    if (f->manifest_item != SIZE_MAX) {
        fetch_item *it = &f->items[f->manifest_item];
        free(v->manifest_json);
        v->manifest_json = NULL;
        json_t *m = it->rc == 0 ? json_loads(it->text, 0, NULL) : NULL;
        if (m)
            v->manifest_json = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(m);
        memcpy(v->manifest_etag, f->manifest->etag, sizeof v->manifest_etag);
        v->manifest_present = 1;
    } else if (!f->manifest) {
        v->manifest_present = 0;
    }
}

/* What the view holds, roughly, for the cache's budget (blob bytes come with the blob). */
static size_t parts_bytes(const ff_session_view *v)
{
    size_t bytes = 0;
    for (size_t i = 0; i < v->logs.n; i++) {
        const log_e *l = v->logs.v[i];
        bytes += sizeof *l + strlen(l->name) + l->text_len * 2 + 64;
    }
    for (size_t i = 0; i < v->states.n; i++) {
        const state_e *s = v->states.v[i];
        bytes += sizeof *s + (s->text ? strlen(s->text) : 0);
    }
    return bytes + (v->manifest_json ? strlen(v->manifest_json) : 0);
}

/* Under the view's lock: the new logs join the event order (events made outside the lock), logs
 * already in it but rewritten since (a rerun) get their event again, and the new answer replaces
 * the old. -1 when out of memory (nothing changed). */
static int publish(refresh *f, ff_session_blob *blob, size_t bytes)
{
    ff_session_view *v = f->v;
    if (f->nfresh > 1) /* ordered among themselves by time */
        qsort(f->fresh, f->nfresh, sizeof *f->fresh, cmp_order);
    char **events = f->nfresh ? calloc(f->nfresh, sizeof *events) : NULL;
    if (f->nfresh && !events)
        return -1;
    for (size_t i = 0; i < f->nfresh; i++)
        events[i] = make_event(v, f->fresh[i]);
    pthread_mutex_lock(&v->lock);
    int ok = 1;
    if (v->norder + f->nfresh > v->caporder) {
        size_t capo = (v->norder + f->nfresh) * 2;
        log_e **no = realloc(v->order, capo * sizeof *no);
        ok = no != NULL;
        if (no) {
            v->order = no;
            v->caporder = capo;
        }
    }
    for (size_t i = 0; ok && i < f->nfresh; i++) {
        free(f->fresh[i]->event);
        f->fresh[i]->event = events[i];
        events[i] = NULL;
        f->fresh[i]->in_order = 1;
        v->order[v->norder++] = f->fresh[i];
    }
    for (size_t i = 0; ok && i < v->logs.n; i++) {
        log_e *l = v->logs.v[i];
        if (l->in_order && l->text && !l->event)
            l->event = make_event(v, l);
    }
    if (ok) {
        ff_session_blob_unref(v->blob);
        v->blob = blob;
        v->bytes = bytes;
    }
    pthread_mutex_unlock(&v->lock);
    for (size_t i = 0; i < f->nfresh; i++)
        free(events[i]);
    free(events);
    return ok ? 0 : -1;
}

static void refresh_free(refresh *f)
{
    if (f->items)
        for (size_t i = 0; i < f->cap; i++)
            free(f->items[i].text);
    free(f->items);
    free(f->fresh);
    free_touched(&f->touched);
    for (size_t i = 0; i < f->added_logs.n; i++) { /* entries not merged (out of memory) */
        log_e *l = f->added_logs.v[i];
        free(l->name);
        free(l->text);
        free(l);
    }
    free(f->added_logs.v);
    for (size_t i = 0; i < f->added_states.n; i++) {
        state_e *st = f->added_states.v[i];
        free(st->base);
        free(st->text);
        free(st);
    }
    free(f->added_states.v);
    listing_free(&f->lu);
    listing_free(&f->ll);
    listing_free(&f->ls);
    listing_free(&f->lm);
}

/* Lists the session, reads what changed, merges it into the view and, when anything did,
 * rebuilds the answer (only the files touched) and the event order. */
static int do_refresh(ff_session_view *v, ff_store *store, ff_err *err)
{
    refresh f = {.v = v};
    int rc = -1;
    if (list_sub(v, store, "fits/", &f.lu, err) || list_sub(v, store, "logs/", &f.ll, err) ||
        list_sub(v, store, "state/", &f.ls, err) ||
        list_sub(v, store, "processed/manifest.json", &f.lm, err) || plan_reads(&f, err) != 0 ||
        (f.nitems && fetch_all(store, f.items, f.nitems, err) != 0))
        goto out;
    if (merge_uploads(&f) != 0 || merge_logs(&f) != 0 || merge_states(&f) != 0)
        goto oom;
    merge_manifest(&f);
    parr_sort(&f.touched);
    if (!f.uploads_changed && !f.touched.n && f.manifest_item == SIZE_MAX &&
        (f.manifest != NULL) == v->had_manifest) {
        rc = 0; /* nothing new: the last answer stands */
        goto out;
    }
    v->had_manifest = f.manifest != NULL;
    size_t bytes = 0;
    ff_session_blob *blob = build_status(v, &f.touched, &bytes);
    if (!blob)
        goto oom;
    if (publish(&f, blob, bytes + parts_bytes(v)) != 0) {
        ff_session_blob_unref(blob);
        goto oom;
    }
    rc = 0;
    goto out;
oom:
    ff_store_fault_set(FF_STORE_FAULT_LOCAL);
    ff_err_set(err, "out of memory reading the session");
out:
    refresh_free(&f);
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
