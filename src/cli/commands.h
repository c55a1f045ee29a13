/* The subcommands of the fitsflow binary. Each takes argc/argv after the command name and
 * returns the process exit status (0 success, 1 failure, 2 usage error). */
#ifndef FF_CLI_COMMANDS_H
#define FF_CLI_COMMANDS_H

int ff_cmd_process(int argc, char **argv);
int ff_cmd_serve(int argc, char **argv);
int ff_cmd_clean(int argc, char **argv);

#endif
