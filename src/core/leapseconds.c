/* TAI - UTC from 1972 on (IERS Bulletin C). Each row is the first UTC day with the new offset; the
 * leap second itself is 23:59:60 on the day before. No leap second has been announced after
 * 2017-01-01; when one is, add a row here and nothing else. */
#include "core/leapseconds.h"

const ff_leap ff_leap_table[] = {
    {1972, 1, 10}, {1972, 7, 11}, {1973, 1, 12}, {1974, 1, 13}, {1975, 1, 14},
    {1976, 1, 15}, {1977, 1, 16}, {1978, 1, 17}, {1979, 1, 18}, {1980, 1, 19},
    {1981, 7, 20}, {1982, 7, 21}, {1983, 7, 22}, {1985, 7, 23}, {1988, 1, 24},
    {1990, 1, 25}, {1991, 1, 26}, {1992, 7, 27}, {1993, 7, 28}, {1994, 7, 29},
    {1996, 1, 30}, {1997, 7, 31}, {1999, 1, 32}, {2006, 1, 33}, {2009, 1, 34},
    {2012, 7, 35}, {2015, 7, 36}, {2017, 1, 37},
};

const size_t ff_leap_count = sizeof ff_leap_table / sizeof ff_leap_table[0];
