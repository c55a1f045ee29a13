/* `fitsflow clean`: deletes temporary sessions older than the retention from the data folder, the
 * way the nightly job of `fitsflow serve` does, sparing sessions the server's queue says are
 * pending or running. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/commands.h"
#include "base/log.h"
#include "base/settings.h"
#include "pipeline/clean.h"
#include "pipeline/pipeline.h"
#include "server/jobs/queue.h"

static const char usage[] =
    "usage: fitsflow clean [--data-dir DIR] [--retention-hours N] [--dry-run]\n"
    "\n"
    "Deletes every session under DIR/temp/ whose newest object is older than the retention,\n"
    "keeping temp/.keep and any session the server's queue (DIR/queue.db) has pending or running.\n"
    "\n"
    "options:\n"
    "  --data-dir DIR         the data folder (FITSFLOW_DATA_DIR, default ./fitsflow-data)\n"
    "  --retention-hours N    keep sessions younger than N hours (FITSFLOW_RETENTION_HOURS,\n"
    "                         default 24; 0 deletes every idle session)\n"
    "  -n, --dry-run          only say what would be deleted\n"
    "  -q, --quiet            no per-session lines\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 done; 1 a storage or queue error; 2 usage error.\n";

typedef struct clean_ctx {
    ff_queue *queue;
    int dry_run, quiet;
    time_t now;
} clean_ctx;

static int busy(void *ctx, const char *sid)
{
    clean_ctx *c = ctx;
    return c->queue && ff_queue_is_active(c->queue, sid);
}

static void on_session(void *ctx, const char *sid, ff_clean_action action, time_t newest,
                       long objects)
{
    clean_ctx *c = ctx;
    if (c->quiet)
        return;
    double hours = (double)(c->now - newest) / 3600.0;
    switch (action) {
    case FF_CLEAN_DELETED:
        printf("%s %s: %ld objects, newest %.1f h old\n", c->dry_run ? "would delete" : "deleted",
               sid, objects, hours);
        break;
    case FF_CLEAN_KEPT:
        printf("kept %s: newest object %.1f h old\n", sid, hours);
        break;
    case FF_CLEAN_BUSY:
        printf("kept %s: queued or being processed\n", sid);
        break;
    }
}

int ff_cmd_clean(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'}, {"retention-hours", required_argument, NULL, 'r'},
        {"dry-run", no_argument, NULL, 'n'},        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    ff_settings settings;
    ff_err err = {0};
    if (ff_settings_load(&settings, FF_USE_CLEAN, &err) != 0) {
        fprintf(stderr, "fitsflow clean: %s\n", err.msg);
        return 2;
    }
    ff_log_set_level((ff_log_level)ff_settings_choice(&settings, FF_SET_LOG_LEVEL));
    const char *dir = ff_settings_text(&settings, FF_SET_DATA_DIR);
    uint64_t hours = ff_settings_uint(&settings, FF_SET_RETENTION_HOURS);
    ff_setting_value v;
    clean_ctx c = {.now = time(NULL)};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "nqh", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            dir = optarg;
            break;
        case 'r': /* 0 here (never in the variable): delete every idle session now */
            if (strcmp(optarg, "0") &&
                ff_setting_parse(FF_SET_RETENTION_HOURS, "--retention-hours", optarg, &v, &err) != 0) {
                fprintf(stderr, "fitsflow clean: %s\n", err.msg);
                return 2;
            }
            hours = strcmp(optarg, "0") ? v.u : 0;
            break;
        case 'n':
            c.dry_run = 1;
            break;
        case 'q':
            c.quiet = 1;
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
        fprintf(stderr, "fitsflow clean: unexpected argument '%s'\n\n%s", argv[optind], usage);
        return 2;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "fitsflow clean: data folder '%s' does not exist\n", dir);
        return 1;
    }
    char db[4096];
    snprintf(db, sizeof db, "%s/queue.db", dir);
    if (stat(db, &st) == 0) {
        c.queue = ff_queue_open(db, &err);
        if (!c.queue) {
            /* Without the queue we cannot tell busy sessions apart: refuse rather than guess. */
            fprintf(stderr, "fitsflow clean: %s\n", err.msg);
            return 1;
        }
    }
    ff_store *store = ff_store_open_fs(dir, ff_settings_flag(&settings, FF_SET_FSYNC), &err);
    if (!store) {
        fprintf(stderr, "fitsflow clean: cannot use data folder '%s': %s\n", dir, err.msg);
        ff_queue_close(c.queue);
        return 1;
    }
    ff_clean_report rep;
    int rc = ff_clean_sessions_ex(store, c.now, (int)hours, c.dry_run, busy, on_session, &c, &rep,
                                  &err);
    if (rc != 0)
        fprintf(stderr, "fitsflow clean: %s\n", err.msg);
    printf("%s %d session%s (%ld objects); kept %d younger than %llu h and %d busy\n",
           c.dry_run ? "would delete" : "deleted", rep.sessions_deleted,
           rep.sessions_deleted == 1 ? "" : "s", rep.objects_deleted, rep.sessions_kept,
           (unsigned long long)hours, rep.sessions_busy);
    ff_store_close(store);
    ff_queue_close(c.queue);
    return rc == 0 ? 0 : 1;
}
