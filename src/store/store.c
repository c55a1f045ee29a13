/* The backend-independent half of the object store: key validation, dispatch, and what every
 * call leaves behind: the kind of its failure (per thread), the thread's deadline, and the
 * store's reachability as calls found it. */
#include "store/backend.h"
#include "base/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local ff_store_fault last_fault;
static _Thread_local double deadline;
static _Thread_local double stall;

ff_store_fault ff_store_last_fault(void)
{
    return last_fault;
}

void ff_store_fault_set(ff_store_fault f)
{
    last_fault = f;
}

int ff_store_fault_transient(ff_store_fault f)
{
    return f == FF_STORE_FAULT_UNAVAILABLE || f == FF_STORE_FAULT_TIMEOUT;
}

const char *ff_store_fault_name(ff_store_fault f)
{
    switch (f) {
    case FF_STORE_FAULT_NONE:
        return "none";
    case FF_STORE_FAULT_LOCAL:
        return "local";
    case FF_STORE_FAULT_REMOTE:
        return "refused";
    case FF_STORE_FAULT_UNAVAILABLE:
        return "unavailable";
    case FF_STORE_FAULT_TIMEOUT:
        return "timeout";
    case FF_STORE_FAULT_FULL:
        return "full";
    }
    return "unknown";
}

void ff_store_set_deadline(double t)
{
    deadline = t > 0 ? t : 0;
}

void ff_store_set_stall(double seconds)
{
    stall = seconds > 0 ? seconds : 0;
}

double ff_store_get_stall(void)
{
    return stall;
}

double ff_store_get_deadline(void)
{
    return deadline;
}

void ff_store_base_init(ff_store *s, const ff_store_ops *ops, int remote)
{
    s->ops = ops;
    s->remote = remote;
    pthread_mutex_init(&s->health_lock, NULL);
    memset(&s->health, 0, sizeof s->health);
    s->health.remote = remote;
    s->health.reachable = 1;
}

void ff_store_base_free(ff_store *s)
{
    pthread_mutex_destroy(&s->health_lock);
}

void ff_store_note(ff_store *s, int reached, const char *reason)
{
    double now = ff_clock_now();
    pthread_mutex_lock(&s->health_lock);
    s->health.reachable = reached;
    if (reached) {
        s->health.last_ok = now;
    } else {
        s->health.last_fail = now;
        snprintf(s->health.reason, sizeof s->health.reason, "%.*s", (int)sizeof s->health.reason - 1,
                 reason ? reason : "");
    }
    pthread_mutex_unlock(&s->health_lock);
}

void ff_store_health_get(ff_store *s, ff_store_health *out)
{
    pthread_mutex_lock(&s->health_lock);
    *out = s->health;
    pthread_mutex_unlock(&s->health_lock);
}

/* Called at the start of every call. */
static void begin(void)
{
    last_fault = FF_STORE_FAULT_NONE;
}

/* The kind of err (base/err.h) that a fault means, for callers that only hold the error: a
 * fault that passes with time is transient, a refusal by the remote store permanent; the others
 * keep what the backend said. The one place where store faults become error kinds. */
static void mark_kind(ff_err *err, ff_store_fault f)
{
    if (ff_store_fault_transient(f))
        ff_err_set_kind(err, FF_ERR_TRANSIENT);
    else if (f == FF_STORE_FAULT_REMOTE)
        ff_err_set_kind(err, FF_ERR_PERMANENT);
}

/* Called with every call's result: names an unnamed failure, gives err its kind and notes
 * reachability. */
static int finish(ff_store *s, int rc, ff_err *err)
{
    if (rc < 0 && last_fault == FF_STORE_FAULT_NONE)
        last_fault = s->remote ? FF_STORE_FAULT_REMOTE : FF_STORE_FAULT_LOCAL;
    if (rc >= 0)
        last_fault = FF_STORE_FAULT_NONE;
    else
        mark_kind(err, last_fault);
    if (s->remote) {
        int reached = rc >= 0 || !ff_store_fault_transient(last_fault);
        ff_store_note(s, reached, reached ? NULL : err ? err->msg : "the store did not answer");
    }
    return rc;
}

int ff_store_ping(ff_store *s, const char *prefix, ff_err *err)
{
    begin();
    return finish(s, s->ops->ping ? s->ops->ping(s, prefix, err) : 0, err);
}

int ff_store_key_valid(const char *key, ff_err *err)
{
    if (!key || !*key)
        return ff_err_set(err, "empty key");
    size_t n = strlen(key);
    if (n > FF_STORE_KEY_MAX)
        return ff_err_set(err, "key longer than %d bytes", FF_STORE_KEY_MAX);
    /* control characters first: the messages below quote the key, which must stay one line */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 32 || c == 127)
            return ff_err_set(err, "key contains a control character");
        if (c == '\\')
            return ff_err_set(err, "key contains a backslash");
    }
    if (key[0] == '/')
        return ff_err_set(err, "absolute key '%.64s' not allowed", key);
    /* Every segment must be a real name: not empty, not "." or "..". */
    const char *seg = key;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0 && slash)
            return ff_err_set(err, "key '%.64s' has an empty path segment", key);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return ff_err_set(err, "key '%.64s' contains '.' or '..'", key);
        if (!slash)
            break;
        seg = slash + 1;
    }
    return 0;
}

void ff_store_close(ff_store *s)
{
    if (s)
        s->ops->close(s);
}

ff_store_writer *ff_store_writer_open(ff_store *s, const char *key, ff_err *err)
{
    begin();
    if (ff_store_key_valid(key, err) != 0) {
        last_fault = FF_STORE_FAULT_LOCAL;
        return NULL;
    }
    size_t n = strlen(key);
    if (key[n - 1] == '/') {
        ff_err_set(err, "key '%.64s' names a folder, not an object", key);
        last_fault = FF_STORE_FAULT_LOCAL;
        return NULL;
    }
    ff_store_writer *w = s->ops->writer_open(s, key, err);
    finish(s, w ? 0 : -1, err);
    return w;
}

int ff_store_writer_write(ff_store_writer *w, const void *buf, size_t len, ff_err *err)
{
    begin();
    if (!len)
        return 0;
    if (finish(w->store, w->store->ops->writer_write(w, buf, len, err), err) != 0)
        return -1;
    w->bytes += len;
    return 0;
}

int ff_store_writer_reserve(ff_store_writer *w, uint64_t size, ff_err *err)
{
    begin();
    if (!w->store->ops->writer_reserve || size == 0)
        return 0;
    int rc = w->store->ops->writer_reserve(w, size, err);
    if (rc == 1)
        last_fault = FF_STORE_FAULT_FULL;
    return rc == 1 ? 1 : finish(w->store, rc, err);
}

uint64_t ff_store_writer_bytes(const ff_store_writer *w)
{
    return w->bytes;
}

int ff_store_writer_commit_stat(ff_store_writer *w, ff_store_stat *st, ff_err *err)
{
    begin();
    ff_store *s = w->store;
    ff_store_stat tmp;
    memset(&tmp, 0, sizeof tmp);
    int rc = s->ops->writer_commit(w, st ? st : &tmp, err);
    return finish(s, rc, err);
}

int ff_store_writer_commit(ff_store_writer *w, ff_err *err)
{
    return ff_store_writer_commit_stat(w, NULL, err);
}

void ff_store_writer_abort(ff_store_writer *w)
{
    ff_store_fault f = last_fault; /* the failure that led here is the one to report */
    if (w)
        w->store->ops->writer_abort(w);
    last_fault = f;
}

int ff_store_put(ff_store *s, const char *key, const void *buf, size_t len, ff_err *err)
{
    ff_store_writer *w = ff_store_writer_open(s, key, err);
    if (!w)
        return -1;
    if (ff_store_writer_write(w, buf, len, err) != 0) {
        ff_store_writer_abort(w);
        return -1;
    }
    return ff_store_writer_commit(w, err);
}

/* A key refused before any request: the caller's mistake, never the store's. */
static int bad_key(const char *key, ff_err *err)
{
    if (ff_store_key_valid(key, err) != 0) {
        last_fault = FF_STORE_FAULT_LOCAL;
        return -1;
    }
    return 0;
}

int ff_store_get(ff_store *s, const char *key, size_t max, char **buf, size_t *len, ff_err *err)
{
    begin();
    if (bad_key(key, err))
        return -1;
    return finish(s, s->ops->get(s, key, max, buf, len, err), err);
}

int ff_store_reader_open(ff_store *s, const char *key, uint64_t offset, uint64_t len,
                         ff_store_stat *st, ff_store_reader **out, ff_err *err)
{
    begin();
    *out = NULL;
    if (bad_key(key, err))
        return -1;
    if (!s->ops->reader_open) {
        last_fault = FF_STORE_FAULT_LOCAL;
        return ff_err_set(err, "this store cannot stream objects");
    }
    ff_store_stat tmp;
    return finish(s, s->ops->reader_open(s, key, offset, len, st ? st : &tmp, out, err), err);
}

int ff_store_reader_read(ff_store_reader *r, void *buf, size_t cap, size_t *got, ff_err *err)
{
    begin();
    *got = 0;
    if (!r->left || !cap)
        return 0;
    if (cap > r->left)
        cap = (size_t)r->left;
    if (finish(r->store, r->store->ops->reader_read(r, buf, cap, got, err), err) != 0)
        return -1;
    if (*got == 0) {
        /* The store sent fewer bytes than it announced: a connection cut short, or a
         * replacement of the object while it was read. */
        last_fault = r->store->remote ? FF_STORE_FAULT_UNAVAILABLE : FF_STORE_FAULT_LOCAL;
        ff_err_set(err, "the object ended %llu bytes early (changed or cut short while being "
                   "read); try again", (unsigned long long)r->left);
        mark_kind(err, last_fault);
        return -1;
    }
    r->left -= *got;
    return 0;
}

uint64_t ff_store_reader_left(const ff_store_reader *r)
{
    return r->left;
}

void ff_store_reader_close(ff_store_reader *r)
{
    if (r)
        r->store->ops->reader_close(r);
}

int ff_store_stat_key(ff_store *s, const char *key, ff_store_stat *st, ff_err *err)
{
    begin();
    if (bad_key(key, err))
        return -1;
    return finish(s, s->ops->stat(s, key, st, err), err);
}

int ff_store_list(ff_store *s, const char *prefix, ff_store_list_fn fn, void *ctx, ff_err *err)
{
    begin();
    if (prefix && *prefix && bad_key(prefix, err))
        return -1;
    int rc = s->ops->list(s, prefix ? prefix : "", fn, ctx, err);
    /* A nonzero value of fn's stops the walk: not the store's failure. */
    if (rc != 0 && last_fault == FF_STORE_FAULT_NONE)
        return rc;
    return finish(s, rc, err);
}

int ff_store_delete(ff_store *s, const char *key, ff_err *err)
{
    begin();
    if (bad_key(key, err))
        return -1;
    return finish(s, s->ops->del(s, key, err), err);
}

int ff_store_remove_empty_folders(ff_store *s, const char *prefix, ff_err *err)
{
    begin();
    if (bad_key(prefix, err))
        return -1;
    return s->ops->remove_empty_folders ? s->ops->remove_empty_folders(s, prefix, err) : 0;
}

char *ff_store_local_path(ff_store *s, const char *key)
{
    if (ff_store_key_valid(key, NULL) != 0 || !s->ops->local_path)
        return NULL;
    return s->ops->local_path(s, key);
}

int ff_store_sweep_temporaries(ff_store *s, const char *prefix, ff_err *err)
{
    begin();
    if (bad_key(prefix, err))
        return -1;
    return s->ops->sweep_temporaries ? s->ops->sweep_temporaries(s, prefix, err) : 0;
}
