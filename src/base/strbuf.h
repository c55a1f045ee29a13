/* A growable NUL-terminated string, for text whose length is not known ahead (signed requests,
 * event streams, status JSON). After an allocation failure oom is set and every later append does
 * nothing, so a caller checks once at the end. Free p with free(). */
#ifndef FF_BASE_STRBUF_H
#define FF_BASE_STRBUF_H

#include <stddef.h>

typedef struct ff_strbuf {
    char *p;
    size_t len, cap;
    int oom;
} ff_strbuf;

void ff_strbuf_add(ff_strbuf *b, const char *s, size_t n);
void ff_strbuf_adds(ff_strbuf *b, const char *s);
void ff_strbuf_addf(ff_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
