/* The program's own log: one JSON object per line on stderr with time, level, message and, when
 * known, session and file. Thread-safe; each line is written with a single write. */
#ifndef FF_BASE_LOG_H
#define FF_BASE_LOG_H

typedef enum ff_log_level { FF_LOG_DEBUG, FF_LOG_INFO, FF_LOG_WARN, FF_LOG_ERROR } ff_log_level;

/* Lines below this level are dropped (default FF_LOG_INFO; FITSFLOW_LOG_LEVEL=debug|info|warn|error
 * is read by the front ends and set here). */
void ff_log_set_level(ff_log_level level);
/* 1 when lines of this level are written (for callers that format their own lines). */
int ff_log_enabled(ff_log_level level);
int ff_log_parse_level(const char *s, ff_log_level *out);

/* session and file may be NULL. */
void ff_log(ff_log_level level, const char *session, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
