/* Filling ff_err messages. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ff_err_set(ff_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->kind = FF_ERR_OTHER;
    return -1;
}

int ff_err_set_kind(ff_err *err, ff_err_kind kind)
{
    if (err)
        err->kind = kind;
    return -1;
}

int ff_err_append(ff_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    size_t n = strnlen(err->msg, sizeof err->msg - 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - n, fmt, ap);
    va_end(ap);
    return -1;
}

int ff_err_prefix(ff_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[FF_ERR_MAX], old[FF_ERR_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t pl = strnlen(prefix, sizeof prefix - 1);
    if (pl > sizeof err->msg - 3)
        pl = sizeof err->msg - 3;
    memcpy(err->msg, prefix, pl);
    memcpy(err->msg + pl, ": ", 2);
    size_t room = sizeof err->msg - pl - 3;
    size_t ol = strnlen(old, room);
    memcpy(err->msg + pl + 2, old, ol);
    err->msg[pl + 2 + ol] = '\0';
    return -1;
}
