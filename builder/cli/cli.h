/*
 * builder/cli/cli.h: the slipway command line.
 *
 * Owns: subcommand dispatch (main.c) and one file per subcommand (cmd_<name>.c). The CLI is a thin
 * client of the engine: it parses flags, calls the library, prints results, and turns errors into
 * "FILE:LINE:COL: error: MESSAGE" on stderr and an exit status (cli_exit_status).
 */
#ifndef SLIPWAY_CLI_H
#define SLIPWAY_CLI_H

#include "util/error.h"

/* Exit statuses. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,  /* the input or the build failed */
    CLI_EXIT_USAGE = 2, /* bad command line */
};

/* Print err as "slipway: FILE:LINE:COL: error: MSG" (or without location) and free it. */
int cli_report(struct sw_error *err);

int cli_cmd_outline(int argc, char **argv);
int cli_cmd_build(int argc, char **argv);
int cli_cmd_images(int argc, char **argv);
int cli_cmd_inspect(int argc, char **argv);
int cli_cmd_tag(int argc, char **argv);
int cli_cmd_rmi(int argc, char **argv);
int cli_cmd_prune(int argc, char **argv);
int cli_cmd_save(int argc, char **argv);
int cli_cmd_load(int argc, char **argv);
int cli_cmd_verify(int argc, char **argv);

#endif
