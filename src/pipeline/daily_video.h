/* The nightly SDO movie: the eleven 1024-pixel daily movies of one day (AIA 94 ... 1700, HMI
 * continuum and magnetogram) fetched from the SDO site and joined, in that order and without
 * re-encoding, into the store key daily_videos/YYYYMMDD_stitched.mp4. */
#ifndef FF_PIPELINE_DAILY_VIDEO_H
#define FF_PIPELINE_DAILY_VIDEO_H

#include <stdint.h>
#include <time.h>

#include "remote/remote.h"
#include "store/store.h"


typedef struct ff_daily_video_report {
    char date[9];           /* YYYYMMDD */
    char key[64];           /* daily_videos/YYYYMMDD_stitched.mp4 */
    int already_built;      /* 1: the key existed and force was 0; nothing was fetched */
    int channels_used;
    char used[160];         /* "0094 0131 ..." */
    char missing[1024];     /* "0335: HTTP 404; HMIB: timed out ..." */
    uint64_t bytes;
    double duration_s;
    int64_t packets;
    double seconds;         /* wall time */
} ff_daily_video_report;

/* The day the nightly job builds: two days before now, UTC, as YYYYMMDD. */
void ff_daily_video_date(time_t now, char date[9]);

/* 1 when date is YYYYMMDD of a real calendar day. */
int ff_daily_video_date_valid(const char *date);

/* Builds the movie for date (YYYYMMDD) unless its key exists and force is 0. Missing channels
 * (HTTP 404 or any other failure) are skipped and named in rep->missing; the parts are fetched
 * concurrently into a temporary folder, joined with ff_mp4_concat and stored atomically.
 * Returns 0 when the movie exists afterwards (built or already there), -1 with a reason when no
 * channel could be fetched or the store failed. */
int ff_daily_video_build(ff_remote *r, ff_store *store, const char *date, int force,
                         ff_daily_video_report *rep, ff_err *err);

/* For GET /api/daily-video/latest: the newest daily_videos/YYYYMMDD_stitched.mp4 as a JSON
 * object {"date": "YYYY-MM-DD", "key": "...", "url_path": "/daily_videos/...", "bytes": N}
 * (malloc'd into *json). Returns 0, 1 when there is none yet, -1 on a store error. */
int ff_daily_video_latest(ff_store *store, char **json, ff_err *err);

#endif
