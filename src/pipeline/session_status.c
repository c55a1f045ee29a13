/* A session's state as JSON for GET /api/sessions/{sid}: everything is read back from the store
 * (uploads, logs, per-file state objects, manifest), so any front end and any process sees the
 * same answer, whoever is processing the session. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/result_json.h"
#include "pipeline/session.h"

#define LOG_MAX (64u << 10)
#define STATE_MAX (1u << 20)
#define MANIFEST_MAX (16u << 20)

/* A JSON string of text; bytes that are not valid UTF-8 become '?' rather than failing. */
static json_t *safe_string(const char *text)
{
    json_t *j = json_string(text);
    if (j)
        return j;
    char *copy = strdup(text);
    if (!copy)
        return json_null();
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
}

typedef struct listing {
    size_t prefix_len;
    long objects;
    int nlogs;
    json_t *uploads; /* [{name, bytes}] */
    int oom;
} listing;

static int collect(const char *key, const ff_store_stat *st, void *ctx)
{
    listing *l = ctx;
    const char *rel = key + l->prefix_len;
    l->objects++;
    if (!strncmp(rel, "fits/", 5) && !strchr(rel + 5, '/')) {
        json_t *name = json_string(rel + 5);
        if (!name) /* not UTF-8: not an upload the API could have made; leave it out */
            return 0;
        json_t *u = json_object();
        if (!u || json_object_set_new(u, "name", name) != 0 ||
            json_object_set_new(u, "bytes", json_integer((json_int_t)st->size)) != 0 ||
            json_array_append_new(l->uploads, u) != 0)
            return (l->oom = 1), -1;
    } else if (!strncmp(rel, "logs/", 5)) {
        l->nlogs++;
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
}

/* The text of an object, or NULL when absent (or unreadable). */
static char *get_text(ff_store *store, const char *key, size_t max)
{
    char *buf = NULL;
    size_t len = 0;
    ff_err e;
    if (ff_store_get(store, key, max, &buf, &len, &e) != 0)
        return NULL;
    return buf;
}

static json_t *text_or_null(ff_store *store, const char *key)
{
    char *t = get_text(store, key, LOG_MAX);
    json_t *j = t ? safe_string(t) : json_null();
    free(t);
    return j;
}

static json_t *file_json(ff_store *store, const char *root, const char *name)
{
    char base[256], key[FF_STORE_KEY_MAX + 1];
    ff_base_name(name, base, sizeof base);
    json_t *f = json_object();
    json_object_set_new(f, "base", json_string(base));
    json_object_set_new(f, "input", json_string(name));

    /* The state object holds each step's outcome and, once finished, the result. */
    snprintf(key, sizeof key, "%sstate/%s.json", root, base);
    char *st = get_text(store, key, STATE_MAX);
    json_t *state = st ? json_loads(st, 0, NULL) : NULL;
    free(st);
    const json_t *oks = json_object_get(state, "steps");
    const json_t *result = json_object_get(state, "result");

    json_t *steps = json_object();
    for (int s = 1; s <= FF_STEP_ASDF; s++) {
        snprintf(key, sizeof key, "%slogs/%s_log_%d.txt", root, base, s);
        char *text = get_text(store, key, LOG_MAX);
        if (!text)
            continue;
        char k[4];
        snprintf(k, sizeof k, "%d", s);
        const json_t *ok = json_object_get(oks, k);
        json_t *step = json_object();
        json_object_set_new(step, "ok", json_is_boolean(ok) ? json_boolean(json_is_true(ok))
                                                            : (s == 1 ? json_true() : json_null()));
        json_object_set_new(step, "message", safe_string(text));
        json_object_set_new(steps, k, step);
        free(text);
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
        snprintf(key, sizeof key, "%sprocessed/%s", root, json_string_value(path));
        json_object_set_new(oc, "key", json_string(key));
        json_array_append_new(outs, oc);
    }
    json_object_set_new(f, "outputs", outs);
    json_decref(state);
    return f;
}

int ff_session_status_json(ff_store *store, const char *sid, char **json, ff_err *err)
{
    *json = NULL;
    if (!ff_session_id_valid(sid))
        return ff_err_set(err, "'%.80s' is not a session id (8 to 64 of a-z, 0-9 and '-')",
                          sid ? sid : "");
    char root[128], key[FF_STORE_KEY_MAX + 1];
    snprintf(root, sizeof root, "temp/%s/", sid);
    listing l = {.prefix_len = strlen(root), .uploads = json_array()};
    if (!l.uploads)
        return ff_err_set(err, "out of memory");
    int rc = ff_store_list(store, root, collect, &l, err);
    if (l.oom) {
        json_decref(l.uploads);
        return ff_err_set(err, "out of memory");
    }
    if (rc < 0) {
        json_decref(l.uploads);
        return -1;
    }
    if (l.objects == 0) {
        json_decref(l.uploads);
        ff_err_set(err, "no session '%s'", sid);
        return 1;
    }
    /* Sort uploads by name (listing order is not defined). */
    size_t n = json_array_size(l.uploads);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        json_decref(l.uploads);
        return ff_err_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(l.uploads, i);
    qsort(v, n, sizeof *v, by_name);
    json_t *uploads = json_array();
    json_t *files = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append(uploads, v[i]);
        const char *name = json_string_value(json_object_get(v[i], "name"));
        if (ff_upload_name_valid(name, NULL))
            json_array_append_new(files, file_json(store, root, name));
    }
    free(v);
    json_decref(l.uploads);

    json_t *out = json_object();
    json_object_set_new(out, "session_id", json_string(sid));
    snprintf(key, sizeof key, "%slogs/summary_log_2.txt", root);
    json_t *summary = text_or_null(store, key);
    const char *state = !json_is_null(summary) ? "done" : l.nlogs ? "processing" : n ? "uploaded"
                                                                                     : "empty";
    json_object_set_new(out, "state", json_string(state));
    json_object_set_new(out, "uploads", uploads);
    json_object_set_new(out, "files", files);
    snprintf(key, sizeof key, "%slogs/download_summary_log_1.txt", root);
    json_object_set_new(out, "download_summary", text_or_null(store, key));
    snprintf(key, sizeof key, "%slogs/skipped_log_1.txt", root);
    json_object_set_new(out, "skipped", text_or_null(store, key));
    json_object_set_new(out, "summary", summary);
    snprintf(key, sizeof key, "%sprocessed/manifest.json", root);
    char *mt = get_text(store, key, MANIFEST_MAX);
    json_t *manifest = mt ? json_loads(mt, 0, NULL) : NULL;
    free(mt);
    json_object_set_new(out, "manifest", manifest ? manifest : json_null());
    *json = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(out);
    if (!*json)
        return ff_err_set(err, "out of memory");
    return 0;
}
