/*
 * builder/cli/cli.h: the slipway command line.
 *
 * Owns: subcommand dispatch (main.c) and one file per subcommand (cmd_<name>.c). The CLI is a thin
 * client of the engine: it parses flags, calls the library, prints results, and turns errors into
 * "FILE:LINE:COL: error: MESSAGE" on stderr and an exit status (cli_exit_status).
 */
#ifndef SLIPWAY_CLI_H
#define SLIPWAY_CLI_H

#include <stddef.h>
#include <stdint.h>

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
int cli_cmd_cache(int argc, char **argv); /* cmd_cache.c: `cache ls`, `cache prune` */

/*
 * Helpers of cmd_cache.c (exported for tests/cli/test_cache.c). The parsers return 0, or
 * -SW_EINVAL with a message that names `flag` and the value ("--keep-storage \"10XB\": not a
 * size ...").
 *
 * cli_parse_size: docker's sizes (go-units RAMInBytes): a decimal number, an optional space and
 * an optional unit k, m, g, t or p (any case, powers of 1024), optionally followed by i, then an
 * optional b: "0", "1024", "500MB", "10GB", "1.5GiB", "64k". The fraction is rounded down to a
 * byte; more than 2^64-1 bytes is an error.
 *
 * cli_parse_duration: Go's time.ParseDuration: a sequence of decimal numbers, each with an
 * optional fraction and a unit (ns, us or the micro sign and s, ms, s, m, h): "24h", "30m",
 * "1h30m", "1.5h", "0". A sign is accepted but a negative duration is an error, as is one over
 * about 292 years.
 */
int cli_parse_size(uint64_t *out, const char *flag, const char *s, struct sw_error **err);
int cli_parse_duration(int64_t *out_ns, const char *flag, const char *s, struct sw_error **err);
/* docker's human forms: "12.3MB" (powers of 1000, 4 significant digits); "2 minutes ago",
 * "About an hour ago" (units.HumanDuration) for an age in seconds. */
void cli_format_size(char *buf, size_t n, uint64_t bytes);
void cli_format_ago(char *buf, size_t n, int64_t seconds);

#endif
