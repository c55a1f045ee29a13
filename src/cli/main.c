/* The fitsflow command: dispatches to subcommands, the way git does. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("fitsflow %s\n", FF_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: fitsflow <command> [options]\n");
    return 2;
}
