/* Observation times: parsing the forms FITS headers use (ISO 8601 with or without T, trailing Z,
 * old DD/MM/YY dates, DATE-OBS + TIME-OBS, JSOC's 2014.03.01_00:01:25_TAI), and converting TAI
 * and TT to UTC with ERFA, as astropy.time does. Times are kept as calendar fields plus a scale,
 * so that a leap second itself (23:59:60) can still be printed. */
#ifndef FF_CORE_FITS_OBSTIME_H
#define FF_CORE_FITS_OBSTIME_H

#include <stdint.h>

#include "base/err.h"

typedef enum ff_timescale { FF_TS_UTC, FF_TS_TAI, FF_TS_TT } ff_timescale;

typedef struct ff_time {
    int year, month, day, hour, minute; /* calendar fields in the time's own scale */
    int second;                         /* 0..60 (60 only for a UTC leap second) */
    int64_t nanos;                      /* 0..999999999 */
    ff_timescale scale;
} ff_time;

/* Parses one date-time string (at most 80 characters): a date YYYY-MM-DD, YYYY.MM.DD, YYYY/MM/DD,
 * DD/MM/YY (19YY) or DD-MON-YY, then optionally 'T', ' ' or '_' and HH:MM[:SS[.fraction]] (a
 * date alone is midnight). Recognises a trailing "Z" (UTC), "_TAI"/" TAI", "_UTC", "_TT".
 * Without a scale marker the time is taken as UTC, unless default_scale says otherwise (pass the
 * TIMESYS keyword's scale). Returns -1 with a reason such as
 * "cannot parse observation time '2011-13-45': month 13 out of range". */
int ff_time_parse(const char *s, ff_timescale default_scale, ff_time *out, ff_err *err);

/* Combines a date-only DATE-OBS ("2011-06-07" or "07/06/11") with a TIME-OBS ("06:33:02.88"). */
int ff_time_parse_date_time(const char *date, const char *time, ff_timescale default_scale,
                            ff_time *out, ff_err *err);

/* Converts to UTC with ERFA (eraTttai, eraTaiutc, eraD2dtf: TT = TAI + 32.184 s, TAI - UTC from
 * ERFA's leap-second table), exactly as astropy.time does: before 1972 UTC's rubber seconds
 * (TAI - UTC from 1.42 s in 1961 to 10 s), before 1960 UTC = TAI. A UTC time is returned
 * unchanged; the result is rounded to the nanosecond. Returns -1 only for invalid fields or a
 * result outside years 1..9999. */
int ff_time_to_utc(const ff_time *in, ff_time *out, ff_err *err);

/* Seconds since 1970-01-01T00:00:00 in the time's own calendar (leap second 60 counts as 59+1). */
int64_t ff_time_unix(const ff_time *t);

/* ISO 8601 with milliseconds (rounded, as astropy does) and a Z: "2011-06-07T06:33:02.880Z".
 * The Z is written whatever t's scale: convert with ff_time_to_utc first. buf needs 32 bytes. */
void ff_time_format_iso(const ff_time *t, char *buf, unsigned bufsize);

#endif
