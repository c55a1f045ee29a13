/* The leap-second table (TAI - UTC since 1972), kept apart from the time code so that the one
 * list a future leap second changes is easy to find. Checked against ERFA's table (astropy). */
#ifndef FF_CORE_LEAPSECONDS_H
#define FF_CORE_LEAPSECONDS_H

#include <stddef.h>

typedef struct ff_leap {
    int year, month;   /* TAI - UTC takes this value from 00:00:00 UTC on the 1st of this month */
    int tai_minus_utc; /* seconds */
} ff_leap;

/* Entries in increasing date order; the first is 1972-01-01 (10 s). */
extern const ff_leap ff_leap_table[];
extern const size_t ff_leap_count;

#endif
