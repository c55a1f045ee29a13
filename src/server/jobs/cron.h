/* 5-field cron expressions, evaluated in UTC: when the scheduler's jobs run (FITSFLOW_CLEAN_CRON). */
#ifndef FF_SERVER_JOBS_CRON_H
#define FF_SERVER_JOBS_CRON_H

#include <stdint.h>
#include <time.h>

#include "base/err.h"

/* A parsed expression: "minute hour day-of-month month day-of-week", each field "*", a number,
 * a range "a-b", a step "*\/n" or "a-b/n" or "a/n" (a to the end), or a comma list of those.
 * Months may be JAN..DEC and weekdays SUN..SAT (any case); weekday 7 is Sunday too; "?" means "*"
 * in the two day fields. As in Vixie cron, when both day fields are restricted a day matches if
 * either does. */
typedef struct ff_cron {
    uint64_t minutes;  /* bit m: minute m (0-59) */
    uint32_t hours;    /* bit h (0-23) */
    uint32_t mdays;    /* bit d (1-31) */
    uint16_t months;   /* bit m (1-12) */
    uint8_t wdays;     /* bit w (0-6, 0 = Sunday) */
    int mday_any, wday_any; /* the field was "*" or "?" */
} ff_cron;

/* Parses expr; -1 with a reason naming the field ("hour: 25 is outside 0-23") on error. */
int ff_cron_parse(const char *expr, ff_cron *out, ff_err *err);

/* The first time strictly after `after` (whole minutes, UTC) when c fires. Returns 0, or -1 when
 * it never fires within the next 8 years (e.g. "0 0 30 2 *"). */
int ff_cron_next(const ff_cron *c, time_t after, time_t *next);

#endif
