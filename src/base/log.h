/* The program's own log: one JSON object per line on stderr with time, level, message and, when
 * known, session and file. Thread-safe; each line is written with a single write. */
#ifndef FF_BASE_LOG_H
#define FF_BASE_LOG_H

/* In the order of FITSFLOW_LOG_LEVEL's choices (base/settings.c), whose index a front end sets. */
typedef enum ff_log_level { FF_LOG_DEBUG, FF_LOG_INFO, FF_LOG_WARN, FF_LOG_ERROR } ff_log_level;

/* Lines below this level are dropped (default FF_LOG_INFO). */
void ff_log_set_level(ff_log_level level);
/* 1 when lines of this level are written (for callers that format their own lines). */
int ff_log_enabled(ff_log_level level);

/* session and file may be NULL. */
void ff_log(ff_log_level level, const char *session, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
