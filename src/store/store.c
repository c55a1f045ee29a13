/* The backend-independent half of the object store: key validation and dispatch. */
#include "store/store_impl.h"

#include <stdlib.h>
#include <string.h>

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
    if (ff_store_key_valid(key, err) != 0)
        return NULL;
    size_t n = strlen(key);
    if (key[n - 1] == '/') {
        ff_err_set(err, "key '%.64s' names a folder, not an object", key);
        return NULL;
    }
    return s->ops->writer_open(s, key, err);
}

int ff_store_writer_write(ff_store_writer *w, const void *buf, size_t len, ff_err *err)
{
    if (!len)
        return 0;
    if (w->store->ops->writer_write(w, buf, len, err) != 0)
        return -1;
    w->bytes += len;
    return 0;
}

int ff_store_writer_reserve(ff_store_writer *w, uint64_t size, ff_err *err)
{
    if (!w->store->ops->writer_reserve || size == 0)
        return 0;
    return w->store->ops->writer_reserve(w, size, err);
}

static int writer_sink_write(void *ctx, const void *buf, size_t len, ff_err *err)
{
    return ff_store_writer_write(ctx, buf, len, err);
}

ff_sink ff_store_writer_sink(ff_store_writer *w)
{
    return (ff_sink){.write = writer_sink_write, .ctx = w};
}

uint64_t ff_store_writer_bytes(const ff_store_writer *w)
{
    return w->bytes;
}

int ff_store_writer_commit(ff_store_writer *w, ff_err *err)
{
    return w->store->ops->writer_commit(w, err);
}

void ff_store_writer_abort(ff_store_writer *w)
{
    if (w)
        w->store->ops->writer_abort(w);
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

int ff_store_get(ff_store *s, const char *key, size_t max, char **buf, size_t *len, ff_err *err)
{
    if (ff_store_key_valid(key, err) != 0)
        return -1;
    return s->ops->get(s, key, max, buf, len, err);
}

int ff_store_reader_open(ff_store *s, const char *key, uint64_t offset, uint64_t len,
                         ff_store_stat *st, ff_store_reader **out, ff_err *err)
{
    *out = NULL;
    if (ff_store_key_valid(key, err) != 0)
        return -1;
    if (!s->ops->reader_open)
        return ff_err_set(err, "this store cannot stream objects");
    ff_store_stat tmp;
    return s->ops->reader_open(s, key, offset, len, st ? st : &tmp, out, err);
}

int ff_store_reader_read(ff_store_reader *r, void *buf, size_t cap, size_t *got, ff_err *err)
{
    *got = 0;
    if (!r->left || !cap)
        return 0;
    if (cap > r->left)
        cap = (size_t)r->left;
    if (r->store->ops->reader_read(r, buf, cap, got, err) != 0)
        return -1;
    if (*got == 0)
        return ff_err_set(err, "the object ended %llu bytes early (changed or cut short while "
                          "being read); try again", (unsigned long long)r->left);
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
    if (ff_store_key_valid(key, err) != 0)
        return -1;
    return s->ops->stat(s, key, st, err);
}

int ff_store_list(ff_store *s, const char *prefix, ff_store_list_fn fn, void *ctx, ff_err *err)
{
    if (prefix && *prefix && ff_store_key_valid(prefix, err) != 0)
        return -1;
    return s->ops->list(s, prefix ? prefix : "", fn, ctx, err);
}

int ff_store_delete(ff_store *s, const char *key, ff_err *err)
{
    if (ff_store_key_valid(key, err) != 0)
        return -1;
    return s->ops->del(s, key, err);
}

int ff_store_remove_empty_folders(ff_store *s, const char *prefix, ff_err *err)
{
    if (ff_store_key_valid(prefix, err) != 0)
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
    if (ff_store_key_valid(prefix, err) != 0)
        return -1;
    return s->ops->sweep_temporaries ? s->ops->sweep_temporaries(s, prefix, err) : 0;
}
