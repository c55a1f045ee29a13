/* Memory and FILE sinks, and the buffered writer used by the text writers. */
#include "core/out/sink.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int membuf_write(void *ctx, const void *buf, size_t len, ff_err *err)
{
    ff_membuf *mb = ctx;
    if (mb->max && (len > mb->max || mb->len > mb->max - len))
        return ff_err_set(err, "output larger than the %zu-byte limit", mb->max);
    if (mb->len + len > mb->cap) {
        size_t cap = mb->cap ? mb->cap : 4096;
        while (cap < mb->len + len) {
            if (cap > ((size_t)-1) / 2)
                return ff_err_set(err, "out of memory");
            cap *= 2;
        }
        unsigned char *p = realloc(mb->data, cap);
        if (!p)
            return ff_err_set(err, "out of memory growing a %zu-byte buffer", cap);
        mb->data = p;
        mb->cap = cap;
    }
    memcpy(mb->data + mb->len, buf, len);
    mb->len += len;
    return 0;
}

ff_sink ff_membuf_sink(ff_membuf *mb)
{
    return (ff_sink){.write = membuf_write, .ctx = mb};
}

void ff_membuf_free(ff_membuf *mb)
{
    free(mb->data);
    mb->data = NULL;
    mb->len = mb->cap = 0;
}

static int file_write(void *ctx, const void *buf, size_t len, ff_err *err)
{
    if (fwrite(buf, 1, len, (FILE *)ctx) != len)
        return ff_err_set(err, "write failed");
    return 0;
}

ff_sink ff_file_sink(FILE *f)
{
    return (ff_sink){.write = file_write, .ctx = f};
}

int ff_bufw_init(ff_bufw *w, ff_sink *sink, size_t cap, ff_err *err)
{
    memset(w, 0, sizeof *w);
    w->sink = sink;
    w->cap = cap ? cap : 1 << 16;
    w->buf = malloc(w->cap);
    if (!w->buf)
        return ff_err_set(err, "out of memory allocating a %zu-byte write buffer", w->cap);
    return 0;
}

static int bufw_drain(ff_bufw *w)
{
    if (w->failed)
        return -1;
    if (w->len && w->sink->write(w->sink->ctx, w->buf, w->len, &w->err) != 0) {
        w->failed = 1;
        return -1;
    }
    w->len = 0;
    return 0;
}

int ff_bufw_put(ff_bufw *w, const void *data, size_t len)
{
    if (w->failed)
        return -1;
    if (len > w->cap - w->len) {
        if (bufw_drain(w) != 0)
            return -1;
        if (len >= w->cap) {
            if (w->sink->write(w->sink->ctx, data, len, &w->err) != 0) {
                w->failed = 1;
                return -1;
            }
            return 0;
        }
    }
    memcpy(w->buf + w->len, data, len);
    w->len += len;
    return 0;
}

int ff_bufw_puts(ff_bufw *w, const char *s)
{
    return ff_bufw_put(w, s, strlen(s));
}

char *ff_bufw_reserve(ff_bufw *w, size_t n)
{
    if (w->failed || n > w->cap)
        return NULL;
    if (n > w->cap - w->len && bufw_drain(w) != 0)
        return NULL;
    return w->buf + w->len;
}

void ff_bufw_commit(ff_bufw *w, size_t used)
{
    w->len += used;
}

int ff_bufw_flush(ff_bufw *w, ff_err *err)
{
    if (bufw_drain(w) != 0) {
        if (err)
            *err = w->err;
        return -1;
    }
    return 0;
}

void ff_bufw_free(ff_bufw *w)
{
    free(w->buf);
    w->buf = NULL;
}
