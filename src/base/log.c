/* JSON-lines logging on stderr. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int min_level = FF_LOG_INFO;

void ff_log_set_level(ff_log_level level)
{
    min_level = (int)level;
}

int ff_log_enabled(ff_log_level level)
{
    return (int)level >= min_level;
}

/* Appends s as JSON string content (without quotes). */
static size_t json_escape(char *dst, size_t cap, const char *s)
{
    size_t o = 0;
    for (; s && *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c == '\n') {
            dst[o++] = '\\';
            dst[o++] = 'n';
        } else if (c < 0x20) {
            o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
    return o;
}

void ff_log(ff_log_level level, const char *session, const char *file, const char *fmt, ...)
{
    if ((int)level < min_level)
        return;
    static const char *names[] = {"debug", "info", "warn", "error"};
    char msg[2048], esc[4096], line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    json_escape(esc, sizeof esc, msg);
    int len = snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"message\":\"%s\"", ts,
                       names[level], esc);
    if (session && len > 0 && (size_t)len < sizeof line) {
        json_escape(esc, sizeof esc, session);
        len += snprintf(line + len, sizeof line - (size_t)len, ",\"session\":\"%s\"", esc);
    }
    if (file && len > 0 && (size_t)len < sizeof line) {
        json_escape(esc, sizeof esc, file);
        len += snprintf(line + len, sizeof line - (size_t)len, ",\"file\":\"%s\"", esc);
    }
    if (len > 0 && (size_t)len < sizeof line - 2) {
        line[len++] = '}';
        line[len++] = '\n';
        ssize_t w = write(STDERR_FILENO, line, (size_t)len);
        (void)w;
    }
}
