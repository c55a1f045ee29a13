/* `fitsflow serve`: its command line. The service itself is src/server/ (ff_server_run): the
 * whole of it in one process, HTTP API and static outputs, the durable queue with its workers,
 * and the nightly clean. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/settings.h"
#include "cli/commands.h"
#include "server/server.h"

static const char usage[] =
    "usage: fitsflow serve [--listen HOST:PORT] [--data-dir DIR] [--public-url URL] [--workers N]\n"
    "                      [--offline]\n"
    "\n"
    "Runs FitsFlow as a web service: presigned uploads, processing in the background, outputs\n"
    "served over HTTP. Every setting also has a FITSFLOW_* environment variable (docs/serve.md).\n"
    "\n"
    "options:\n"
    "  -l, --listen HOST:PORT  address to listen on (FITSFLOW_LISTEN, default 127.0.0.1:8080;\n"
    "                          port 0 picks a free port)\n"
    "  -d, --data-dir DIR      uploads, outputs, queue and secret (FITSFLOW_DATA_DIR,\n"
    "                          default ./fitsflow-data); with FITSFLOW_STORE=s3 uploads and\n"
    "                          outputs go to the FITSFLOW_S3_BUCKET bucket instead\n"
    "      --public-url URL    base of the upload URLs handed out (FITSFLOW_PUBLIC_URL,\n"
    "                          default http://HOST:PORT)\n"
    "  -w, --workers N         sessions processed at once (FITSFLOW_WORKERS, default 2)\n"
    "      --offline           do not contact Helioviewer, JSOC or HEK (FITSFLOW_OFFLINE=1)\n"
    "  -h, --help              show this help\n";

static int parse_args(int argc, char **argv, ff_server_config *cfg, ff_settings *settings)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},   {"data-dir", required_argument, NULL, 'd'},
        {"public-url", required_argument, NULL, 'P'}, {"workers", required_argument, NULL, 'w'},
        {"offline", no_argument, NULL, 'O'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ff_err err = {0};
    ff_setting_value v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "l:d:w:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (ff_server_config_set_listen(cfg, optarg, &err) != 0) {
                fprintf(stderr, "fitsflow serve: %s\n", err.msg);
                return 2;
            }
            break;
        case 'd':
            if (strlen(optarg) >= sizeof cfg->data_dir) {
                fprintf(stderr, "fitsflow serve: --data-dir is too long\n");
                return 2;
            }
            strcpy(cfg->data_dir, optarg);
            break;
        case 'P':
            if (strlen(optarg) >= sizeof cfg->public_url) {
                fprintf(stderr, "fitsflow serve: --public-url is too long\n");
                return 2;
            }
            strcpy(cfg->public_url, optarg);
            break;
        case 'w':
            if (ff_setting_parse(FF_SET_WORKERS, "--workers", optarg, &v, &err) != 0) {
                fprintf(stderr, "fitsflow serve: %s\n", err.msg);
                return 2;
            }
            cfg->workers = (unsigned)v.u;
            break;
        case 'O':
            ff_setting_parse(FF_SET_OFFLINE, NULL, "1", &v, NULL);
            ff_settings_set(settings, FF_SET_OFFLINE, &v);
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
        fprintf(stderr, "fitsflow serve: unexpected argument '%s'\n\n%s", argv[optind], usage);
        return 2;
    }
    return -1;
}

int ff_cmd_serve(int argc, char **argv)
{
    ff_settings settings;
    ff_server_options o = {.settings = &settings};
    ff_err err = {0};
    if (ff_settings_load(&settings, FF_USE_SERVE, &err) != 0 ||
        ff_server_config_from_settings(&o.cfg, &settings, &err) != 0) {
        fprintf(stderr, "fitsflow serve: %s\n", err.msg);
        return 2;
    }
    ff_log_set_level((ff_log_level)ff_settings_choice(&settings, FF_SET_LOG_LEVEL));
    int rc = parse_args(argc, argv, &o.cfg, &settings);
    if (rc >= 0)
        return rc;
    if (ff_pipeline_config_from_settings(&o.pipeline, &settings, &err) != 0 ||
        ff_lease_config_from_settings(&o.leases, &settings, &err) != 0) {
        fprintf(stderr, "fitsflow serve: %s\n", err.msg);
        return 2;
    }
    o.pipeline.session_limit_bytes = o.cfg.session_limit_bytes;
    return ff_server_run(&o);
}
