/* fitsflow lambda: the process a Lambda custom runtime starts (deploy/aws/package.sh's bootstrap
 * execs it). Reads the handler from _HANDLER (or --handler), opens the store once per cold start
 * and serves invocations from the Runtime API at AWS_LAMBDA_RUNTIME_API until it is stopped. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "base/log.h"
#include "base/settings.h"
#include "lambda/lambda.h"

static const char usage[] =
    "usage: fitsflow lambda [--handler NAME] [--max-invocations N]\n"
    "\n"
    "Runs as an AWS Lambda custom runtime (provided.al2023): takes invocations from the Runtime\n"
    "API at AWS_LAMBDA_RUNTIME_API and hands them to one handler: trigger, main, asdf or clean\n"
    "(default: the function's handler setting, _HANDLER). See docs/aws.md for the settings.\n"
    "\n"
    "options:\n"
    "  --handler NAME          the handler, instead of _HANDLER\n"
    "  --max-invocations N     stop after N invocations (for tests; default: never)\n"
    "  -h, --help              show this help\n";

int ff_cmd_lambda(int argc, char **argv)
{
    const char *handler = getenv("_HANDLER");
    long max = 0;
    static const struct option opts[] = {
        {"handler", required_argument, NULL, 'H'},
        {"max-invocations", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            handler = optarg;
            break;
        case 'n': {
            char *end;
            max = strtol(optarg, &end, 10);
            if (*end || max < 1) {
                fprintf(stderr, "fitsflow lambda: --max-invocations must be a positive number\n");
                return 2;
            }
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    ff_err err = {0};
    ff_settings settings;
    int loaded = ff_settings_load(&settings, FF_USE_LAMBDA, &err) == 0;
    if (loaded)
        ff_log_set_level((ff_log_level)ff_settings_choice(&settings, FF_SET_LOG_LEVEL));

    ff_lambda_runtime *rt = ff_lambda_runtime_open(getenv("AWS_LAMBDA_RUNTIME_API"), &err);
    if (!rt) {
        fprintf(stderr, "fitsflow lambda: %s\n", err.msg);
        return 1;
    }
    ff_lambda_handler_fn fn = ff_lambda_handler_find(handler);
    ff_lambda_ctx ctx;
    int rc = 1;
    if (!loaded) {
        /* err says which setting */
    } else if (!fn) {
        snprintf(err.msg, sizeof err.msg,
                 "unknown handler '%.100s'; set the function's handler to trigger, main, asdf or clean",
                 handler ? handler : "");
    } else if (ff_lambda_ctx_init(&ctx, &settings, &err) == 0) {
        ff_log(FF_LOG_INFO, NULL, NULL, "lambda runtime ready: handler %s", handler);
        ff_err lerr = {0};
        if (ff_lambda_loop(rt, fn, &ctx, max, &lerr) == 0)
            rc = 0;
        else
            ff_log(FF_LOG_ERROR, NULL, NULL, "%s", lerr.msg);
        ff_lambda_ctx_free(&ctx);
        ff_lambda_runtime_close(rt);
        return rc;
    }
    /* Could not start: tell Lambda (init error), which fails the invocation with this message. */
    ff_log(FF_LOG_ERROR, NULL, NULL, "cannot start: %s", err.msg);
    ff_err perr;
    if (ff_lambda_report_error(rt, NULL, "Runtime.InitError", err.msg, &perr) != 0)
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", perr.msg);
    ff_lambda_runtime_close(rt);
    return 1;
}
