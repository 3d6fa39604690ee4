/* slipway: subcommand dispatch. */
#include "cli.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"build", cli_cmd_build, "Build an image from a Dockerfile"},
    {"cache", cli_cmd_cache, "List and prune the build cache (ls, prune)"},
    {"images", cli_cmd_images, "List the images in the store"},
    {"inspect", cli_cmd_inspect, "Show an image's manifest and config"},
    {"load", cli_cmd_load, "Load images from an OCI layout or a docker-archive"},
    {"outline", cli_cmd_outline, "Print the parsed and expanded build of a Dockerfile"},
    {"prune", cli_cmd_prune, "Remove unreferenced blobs from the store"},
    {"rmi", cli_cmd_rmi, "Remove image names from the store"},
    {"save", cli_cmd_save, "Write an image to a docker-archive or an OCI layout"},
    {"tag", cli_cmd_tag, "Give an image another name"},
    {"verify", cli_cmd_verify, "Check the store's blobs and references"},
};

static void
usage(FILE *out)
{
    fprintf(out, "Usage: slipway [--version] COMMAND [OPTIONS]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'slipway COMMAND --help' for a command's options.\n");
}

int
cli_report(struct sw_error *err)
{
    char *msg = sw_error_format(err);
    fprintf(stderr, "%s\n", msg ? msg : "error: out of memory");
    free(msg);
    sw_error_free(err);
    return CLI_EXIT_FAIL;
}

int
main(int argc, char **argv)
{
    /* slipway uses OpenSSL for SHA-256 only: skip the default initialization, which reads
     * openssl.cnf and registers every cipher and digest (a third of a no-op rebuild's CPU) */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                            OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
                        NULL);
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("slipway %s\n", SLIPWAY_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "slipway: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
