/* The backend table behind ff_store: what a backend fills (fs, s3, or a test's store that fails on
 * purpose); the store module calls it. Front ends use store.h, never this. */
#ifndef FF_STORE_BACKEND_H
#define FF_STORE_BACKEND_H

#include <pthread.h>

#include "store/store.h"

typedef struct ff_store_ops {
    ff_store_writer *(*writer_open)(ff_store *s, const char *key, ff_err *err);
    int (*writer_write)(ff_store_writer *w, const void *buf, size_t len, ff_err *err);
    /* Makes the object appear and frees the writer; st (never NULL) gets what ff_store_writer_commit_stat
     * promises. */
    int (*writer_commit)(ff_store_writer *w, ff_store_stat *st, ff_err *err);
    void (*writer_abort)(ff_store_writer *w);
    /* Sets aside room for size bytes; 1 when there is no room (may be NULL: nothing to do). */
    int (*writer_reserve)(ff_store_writer *w, uint64_t size, ff_err *err);
    /* Opens key at offset for len bytes; the backend clamps the range to the object's size
     * (ff_store_clamp), sets base.store and base.left and fills st. 0, 1 absent, -1 error. */
    int (*reader_open)(ff_store *s, const char *key, uint64_t offset, uint64_t len,
                       ff_store_stat *st, ff_store_reader **out, ff_err *err);
    /* Up to cap bytes (cap <= base.left, never 0); *got 0 means the backend ran dry early. */
    int (*reader_read)(ff_store_reader *r, void *buf, size_t cap, size_t *got, ff_err *err);
    void (*reader_close)(ff_store_reader *r);
    int (*get)(ff_store *s, const char *key, size_t max, char **buf, size_t *len, ff_err *err);
    int (*stat)(ff_store *s, const char *key, ff_store_stat *st, ff_err *err);
    int (*list)(ff_store *s, const char *prefix, ff_store_list_fn fn, void *ctx, ff_err *err);
    int (*del)(ff_store *s, const char *key, ff_err *err);
    char *(*local_path)(ff_store *s, const char *key);
    int (*remove_empty_folders)(ff_store *s, const char *prefix, ff_err *err); /* may be NULL */
    int (*sweep_temporaries)(ff_store *s, const char *prefix, ff_err *err);    /* may be NULL */
    int (*ping)(ff_store *s, const char *prefix, ff_err *err);
    void (*close)(ff_store *s);
} ff_store_ops;

struct ff_store {
    const ff_store_ops *ops;
    int remote;                 /* a failure without a recorded fault is REMOTE, else LOCAL */
    pthread_mutex_t health_lock;
    ff_store_health health;
};

/* Every backend calls this on its new store (and ff_store_base_free when closing it). */
void ff_store_base_init(ff_store *s, const ff_store_ops *ops, int remote);
void ff_store_base_free(ff_store *s);

/* Records the outcome of one exchange with the store for ff_store_health: reached (any answer
 * but a transient failure) or not, with the reason. */
void ff_store_note(ff_store *s, int reached, const char *reason);

/* Every writer starts with this. */
struct ff_store_writer {
    ff_store *store;
    uint64_t bytes;
};

/* Every reader starts with this. */
struct ff_store_reader {
    ff_store *store;
    uint64_t left; /* bytes still to deliver */
};

/* The part of an object of size bytes that a read of len bytes at offset covers. */
static inline uint64_t ff_store_clamp(uint64_t size, uint64_t offset, uint64_t len)
{
    if (offset >= size)
        return 0;
    return len < size - offset ? len : size - offset;
}

#endif
