/* The fitsflow command: dispatches to subcommands, the way git does. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const char usage[] =
    "usage: fitsflow <command> [options]\n"
    "\n"
    "Turns solar FITS files into machine-learning-ready outputs.\n"
    "\n"
    "commands:\n"
    "  process    process FITS files into a folder of outputs (fitsflow process --help)\n"
    "  serve      run the web service: uploads, processing, outputs (fitsflow serve --help)\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("fitsflow %s\n", FF_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "process"))
        return ff_cmd_process(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve"))
        return ff_cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "clean"))
        return ff_cmd_clean(argc - 1, argv + 1);
    fprintf(stderr, "fitsflow: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
