/* The backend table behind ff_store: each backend (fs, s3) fills one. Private to src/store/. */
#ifndef FF_STORE_IMPL_H
#define FF_STORE_IMPL_H

#include "store/store.h"

typedef struct ff_store_ops {
    ff_store_writer *(*writer_open)(ff_store *s, const char *key, ff_err *err);
    int (*writer_write)(ff_store_writer *w, const void *buf, size_t len, ff_err *err);
    int (*writer_commit)(ff_store_writer *w, ff_err *err);
    void (*writer_abort)(ff_store_writer *w);
    int (*get)(ff_store *s, const char *key, size_t max, char **buf, size_t *len, ff_err *err);
    int (*stat)(ff_store *s, const char *key, ff_store_stat *st, ff_err *err);
    int (*list)(ff_store *s, const char *prefix, ff_store_list_fn fn, void *ctx, ff_err *err);
    int (*del)(ff_store *s, const char *key, ff_err *err);
    char *(*local_path)(ff_store *s, const char *key);
    int (*remove_empty_folders)(ff_store *s, const char *prefix, ff_err *err); /* may be NULL */
    int (*sweep_temporaries)(ff_store *s, const char *prefix, ff_err *err);    /* may be NULL */
    void (*close)(ff_store *s);
} ff_store_ops;

struct ff_store {
    const ff_store_ops *ops;
};

/* Every writer starts with this. */
struct ff_store_writer {
    ff_store *store;
    uint64_t bytes;
};

#endif
