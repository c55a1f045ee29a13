/* The fitsflow command: dispatches to subcommands, the way git does. One table lists them, for
 * the dispatch and for the usage text alike. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"process", ff_cmd_process, "process FITS files into a folder of outputs"},
    {"serve", ff_cmd_serve, "run the web service: uploads, processing, outputs"},
    {"clean", ff_cmd_clean, "delete sessions older than the retention"},
    {"daily-video", ff_cmd_daily_video, "build the stitched SDO movie of a day"},
    {"lambda", ff_cmd_lambda, "run as an AWS Lambda function"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fputs("usage: fitsflow <command> [options]\n"
          "\n"
          "Turns solar FITS files into machine-learning-ready outputs.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-12s %s (fitsflow %s --help)\n", commands[i].name, commands[i].what,
                commands[i].name);
    fputs("\n"
          "options:\n"
          "  -h, --help     show this help\n"
          "  --version      show the version\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("fitsflow %s\n", FF_VERSION);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "fitsflow: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
