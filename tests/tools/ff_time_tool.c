/* Test-only driver for tests/e2e/test_obstime_astropy.py: converts observation times to UTC with
 * ff_time_parse + ff_time_to_utc, one per line, so that Python can compare them with astropy.time.
 *
 *   ff_time_tool < LINES
 *     each line "SCALE VALUE" (SCALE: UTC, TAI or TT, the default for a value without a marker)
 *     prints "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn ISO_MS" (the UTC fields to the nanosecond, then
 *     ff_time_format_iso's millisecond text) or "ERROR message".
 */
#include <stdio.h>
#include <string.h>

#include "core/fits/obstime.h"

int main(void)
{
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *value = strchr(line, ' ');
        if (!value) {
            printf("ERROR no value\n");
            continue;
        }
        *value++ = '\0';
        ff_timescale scale = !strcmp(line, "TAI") ? FF_TS_TAI : !strcmp(line, "TT") ? FF_TS_TT : FF_TS_UTC;
        ff_time t, u;
        ff_err err = {0};
        if (ff_time_parse(value, scale, &t, &err) != 0 || ff_time_to_utc(&t, &u, &err) != 0) {
            printf("ERROR %s\n", err.msg);
            continue;
        }
        char iso[40];
        ff_time_format_iso(&u, iso, sizeof iso);
        printf("%04d-%02d-%02dT%02d:%02d:%02d.%09lld %s\n", u.year, u.month, u.day, u.hour, u.minute,
               u.second, (long long)u.nanos, iso);
    }
    return 0;
}
