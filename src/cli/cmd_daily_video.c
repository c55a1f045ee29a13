/* `fitsflow daily-video`: builds the stitched SDO movie of one day (by default two days ago,
 * UTC) into the data folder's daily_videos/, as the nightly job does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "base/log.h"
#include "base/settings.h"
#include "pipeline/daily_video.h"

static const char usage[] =
    "usage: fitsflow daily-video [--date YYYYMMDD] [--force] [--data-dir DIR] [--offline]\n"
    "\n"
    "Fetches the SDO daily movies (AIA 94, 131, 171, 193, 211, 304, 335, 1600, 1700, HMI continuum\n"
    "and magnetogram; 1024 pixels) of one day from FITSFLOW_SDO_URL, joins them in that order\n"
    "without re-encoding and stores DIR/daily_videos/YYYYMMDD_stitched.mp4. Missing channels are\n"
    "left out. A day already built is not built again unless --force is given.\n"
    "\n"
    "options:\n"
    "      --date YYYYMMDD  the day (default: two days before today, UTC)\n"
    "  -f, --force          rebuild even when the movie exists\n"
    "  -d, --data-dir DIR   the data folder (FITSFLOW_DATA_DIR, default ./fitsflow-data)\n"
    "      --offline        contact nothing (FITSFLOW_OFFLINE=1): fails unless already built\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 the movie exists (built now or before); 1 it could not be built; 2 usage error.\n";

int ff_cmd_daily_video(int argc, char **argv)
{
    static const struct option opts[] = {
        {"date", required_argument, NULL, 'D'}, {"force", no_argument, NULL, 'f'},
        {"data-dir", required_argument, NULL, 'd'}, {"offline", no_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    ff_err err = {0};
    ff_settings settings;
    if (ff_settings_load(&settings, FF_USE_DAILY_VIDEO, &err) != 0) {
        fprintf(stderr, "fitsflow daily-video: %s\n", err.msg);
        return 2;
    }
    ff_log_set_level((ff_log_level)ff_settings_choice(&settings, FF_SET_LOG_LEVEL));
    ff_remote_config rcfg;
    ff_remote_config_from_settings(&rcfg, &settings);
    const char *date = NULL, *data_dir = ff_settings_text(&settings, FF_SET_DATA_DIR);
    int force = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "fd:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'D':
            date = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'O':
            rcfg.offline = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fitsflow daily-video: unexpected argument '%s'\n\n%s", argv[optind], usage);
        return 2;
    }
    char today_minus_2[9];
    if (!date) {
        ff_daily_video_date(time(NULL), today_minus_2);
        date = today_minus_2;
    }
    if (!ff_daily_video_date_valid(date)) {
        fprintf(stderr, "fitsflow daily-video: --date must be a real day written YYYYMMDD (2010 or later), not '%s'\n",
                date);
        return 2;
    }
    ff_store *store = ff_store_open_fs(data_dir, ff_settings_flag(&settings, FF_SET_FSYNC), &err);
    if (!store) {
        fprintf(stderr, "fitsflow daily-video: %s\n", err.msg);
        return 1;
    }
    ff_remote *r = ff_remote_open(&rcfg, &err);
    if (!r) {
        ff_store_close(store);
        fprintf(stderr, "fitsflow daily-video: %s\n", err.msg);
        return 1;
    }
    ff_daily_video_report rep;
    int rc = ff_daily_video_build(r, store, date, force, &rep, &err);
    if (rc != 0) {
        fprintf(stderr, "fitsflow daily-video: %s\n", err.msg);
    } else if (rep.already_built) {
        printf("already built %s (%llu bytes); use --force to rebuild\n", rep.key,
               (unsigned long long)rep.bytes);
    } else {
        printf("built %s: %d channels (%s), %.1f s of video, %lld packets, %llu bytes in %.1f s\n", rep.key,
               rep.channels_used, rep.used, rep.duration_s, (long long)rep.packets,
               (unsigned long long)rep.bytes, rep.seconds);
        if (rep.missing[0])
            printf("left out: %s\n", rep.missing);
    }
    ff_remote_close(r);
    ff_store_close(store);
    return rc == 0 ? 0 : 1;
}
