/* An output byte stream. Core writers (CSV, NPY, header, PNG, ASDF, ...) produce bytes into an
 * ff_sink and know nothing of where they go; the pipeline points sinks at the object store
 * (atomically, hashing as it writes) and tests point them at memory or a FILE. */
#ifndef FF_CORE_OUT_SINK_H
#define FF_CORE_OUT_SINK_H

#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

typedef struct ff_sink {
    /* Writes all len bytes or fails (returns -1 and fills err). */
    int (*write)(void *ctx, const void *buf, size_t len, ff_err *err);
    void *ctx;
} ff_sink;

static inline int ff_sink_write(ff_sink *s, const void *buf, size_t len, ff_err *err)
{
    return len ? s->write(s->ctx, buf, len, err) : 0;
}

/* A growable in-memory sink. data is owned by the membuf; free with ff_membuf_free. */
typedef struct ff_membuf {
    unsigned char *data;
    size_t len, cap;
    size_t max; /* 0 = unbounded; writing past max fails */
} ff_membuf;

ff_sink ff_membuf_sink(ff_membuf *mb);
void ff_membuf_free(ff_membuf *mb);

/* A sink over an open FILE (not closed by the sink). */
ff_sink ff_file_sink(FILE *f);

/* Buffered writer in front of a sink, for writers that emit many small pieces.
 * ff_bufw_init allocates cap bytes; ff_bufw_flush pushes what is buffered; ff_bufw_free releases
 * the buffer (without flushing). After any failure, every later call fails with the same error. */
typedef struct ff_bufw {
    ff_sink *sink;
    char *buf;
    size_t len, cap;
    int failed;
    ff_err err;
} ff_bufw;

int ff_bufw_init(ff_bufw *w, ff_sink *sink, size_t cap, ff_err *err);
int ff_bufw_put(ff_bufw *w, const void *data, size_t len);
int ff_bufw_puts(ff_bufw *w, const char *s);
/* Returns a pointer to at least n free bytes in the buffer (flushing first if needed), or NULL
 * after a failure or when n > cap. Commit what was used with ff_bufw_commit. */
char *ff_bufw_reserve(ff_bufw *w, size_t n);
void ff_bufw_commit(ff_bufw *w, size_t used);
int ff_bufw_flush(ff_bufw *w, ff_err *err);
void ff_bufw_free(ff_bufw *w);

#endif
