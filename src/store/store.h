/* The object store: one interface over a local directory (fs) or S3. Keys are '/'-separated
 * relative names such as "temp/S/processed/data/x_data.npy"; they are validated (no "..", no
 * absolute paths, no backslash, no NUL or control characters, at most FF_STORE_KEY_MAX bytes).
 * Every put is atomic: a reader sees the whole object or nothing. */
#ifndef FF_STORE_STORE_H
#define FF_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/err.h"
#include "core/sink.h"

#define FF_STORE_KEY_MAX 1024

typedef struct ff_store ff_store;
typedef struct ff_store_writer ff_store_writer;

typedef struct ff_store_stat {
    uint64_t size;
    time_t mtime;
    char etag[72];     /* quoted strong validator, e.g. "\"5f3a-64b0c1\"" */
} ff_store_stat;

/* Opens the fs backend rooted at dir (created when missing). */
ff_store *ff_store_open_fs(const char *dir, ff_err *err);
void ff_store_close(ff_store *s);

/* Returns 0 when key is acceptable, else -1 with a reason. */
int ff_store_key_valid(const char *key, ff_err *err);

/* Streaming atomic put: open, write any number of times (or use the sink), then commit (the object
 * appears) or abort (nothing appears, any earlier object at that key is untouched). commit and
 * abort free the writer. */
ff_store_writer *ff_store_writer_open(ff_store *s, const char *key, ff_err *err);
int ff_store_writer_write(ff_store_writer *w, const void *buf, size_t len, ff_err *err);
ff_sink ff_store_writer_sink(ff_store_writer *w);
uint64_t ff_store_writer_bytes(const ff_store_writer *w);
int ff_store_writer_commit(ff_store_writer *w, ff_err *err);
void ff_store_writer_abort(ff_store_writer *w);

/* Whole-object put of a buffer (atomic). */
int ff_store_put(ff_store *s, const char *key, const void *buf, size_t len, ff_err *err);

/* Reads a whole object of at most max bytes into a malloc'd buffer (NUL-terminated for
 * convenience; *len excludes the NUL). Returns 1 when the key does not exist (err filled). */
int ff_store_get(ff_store *s, const char *key, size_t max, char **buf, size_t *len, ff_err *err);

/* 0 and *st filled; 1 when absent; -1 on error. */
int ff_store_stat_key(ff_store *s, const char *key, ff_store_stat *st, ff_err *err);

/* Calls fn for every key under prefix (prefix "temp/S/" lists that session), in no set order.
 * fn returning nonzero stops the walk with that value. */
typedef int (*ff_store_list_fn)(const char *key, const ff_store_stat *st, void *ctx);
int ff_store_list(ff_store *s, const char *prefix, ff_store_list_fn fn, void *ctx, ff_err *err);

/* Deletes one key (absent is not an error). */
int ff_store_delete(ff_store *s, const char *key, ff_err *err);

/* Removes the folders left empty under prefix (a folder prefix such as "temp/S/"), that folder
 * itself included, for backends that have folders (fs; a no-op elsewhere). Stray temporaries of
 * puts interrupted more than an hour ago are removed with them. Returns 0, or -1 on error. */
int ff_store_remove_empty_folders(ff_store *s, const char *prefix, ff_err *err);

/* A local filesystem path for reading key, when the backend has one (fs), else NULL.
 * Returned string is malloc'd. */
char *ff_store_local_path(ff_store *s, const char *key);

#endif
