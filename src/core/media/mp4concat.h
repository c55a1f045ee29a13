/* Concatenating MP4 files without re-encoding (libavformat remux, stream copy): packets are
 * copied as they are and their timestamps shifted so that each part starts where the previous
 * one ended. Used for the nightly multi-wavelength SDO movie. */
#ifndef FF_CORE_MEDIA_MP4CONCAT_H
#define FF_CORE_MEDIA_MP4CONCAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define FF_MP4CONCAT_MAX_PARTS 64

typedef struct ff_mp4concat_stats {
    size_t parts_used;                  /* parts whose packets are in the output */
    int skipped[FF_MP4CONCAT_MAX_PARTS]; /* 1: part i was left out (reason logged) */
    char reasons[512];                  /* "part 3: ...; part 5: ..." for the skipped ones */
    int64_t packets;                    /* packets written */
    double duration_s;                  /* sum of the parts' durations */
} ff_mp4concat_stats;

/* Writes out_path (an MP4) from the inputs in order. The first readable part decides the
 * streams; a later part that cannot be opened, or whose streams differ (codec, size, pixel or
 * sample format, codec extradata), is skipped and named in stats->reasons. Returns 0 when at
 * least one part was written; -1 with a reason otherwise (nothing usable, cannot write).
 * n <= FF_MP4CONCAT_MAX_PARTS. Does not print (libav's own logging is left as configured). */
int ff_mp4_concat(const char *const *inputs, size_t n, const char *out_path,
                  ff_mp4concat_stats *stats, ff_err *err);

#endif
