/*
 * slipway outline: parse a Dockerfile, resolve its stages for the given build args, target and
 * platform, and print the result (text, or the JSON documented in docs/outline.md).
 */
#include "cli.h"
#include "cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/outline.h"
#include "dockerfile/parser.h"
#include "dockerfile/stages.h"
#include "util/buf.h"
#include "util/cleanup.h"

static const char usage_text[] =
    "Usage: slipway outline [OPTIONS] [PATH]\n"
    "\n"
    "Print the parsed and expanded build of a Dockerfile: its global ARGs, its stages and, for\n"
    "each instruction, its source span and resolved arguments. PATH is the build context\n"
    "(default .); the Dockerfile is PATH/Dockerfile unless -f says otherwise.\n"
    "\n"
    "Options:\n"
    "  -f, --file FILE          the Dockerfile ('-' reads standard input)\n"
    "      --build-arg K=V      set a build-time variable (K alone takes the value of K from\n"
    "                           the environment, as docker build does); repeatable\n"
    "      --target STAGE       resolve the build of this stage\n"
    "      --platform P         target platform, os/arch[/variant] (default: this machine)\n"
    "      --format text|json   output format (default text)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Errors are printed as FILE:LINE:COL: error: MESSAGE and exit with status 1.\n";

struct outline_opts {
    const char *file;
    const char *context;
    const char *target;
    const char *platform;
    bool json;
    struct sw_strv build_args;
};

/* K=V as given; a bare K takes its value from the environment or is dropped (docker build). */

static int
parse_args(struct outline_opts *o, int argc, char **argv)
{
    enum { OPT_BUILD_ARG = 256, OPT_TARGET, OPT_PLATFORM, OPT_FORMAT };
    static const struct option longopts[] = {
        {"file", required_argument, NULL, 'f'},
        {"build-arg", required_argument, NULL, OPT_BUILD_ARG},
        {"target", required_argument, NULL, OPT_TARGET},
        {"platform", required_argument, NULL, OPT_PLATFORM},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o->file = optarg;
            break;
        case OPT_BUILD_ARG:
            if (cli_push_build_arg(&o->build_args, optarg) < 0)
                return -1;
            break;
        case OPT_TARGET:
            o->target = optarg;
            break;
        case OPT_PLATFORM:
            o->platform = optarg;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
                fprintf(stderr, "slipway outline: --format must be text or json, not '%s'\n",
                        optarg);
                return -1;
            }
            o->json = !strcmp(optarg, "json");
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        default:
            fputs(usage_text, stderr);
            return -1;
        }
    }
    if (optind < argc)
        o->context = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "slipway outline: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

int
cli_cmd_outline(int argc, char **argv)
{
    struct outline_opts o = {0};
    int pr = parse_args(&o, argc, argv);
    if (pr != 0) {
        sw_strv_free(&o.build_args);
        return pr > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    sw_autofree char *default_file = NULL;
    if (!o.file) {
        if (asprintf(&default_file, "%s/Dockerfile", o.context ? o.context : ".") < 0)
            default_file = NULL;
        o.file = default_file;
    }
    struct sw_error *err = NULL;
    sw_autofree char *src = NULL;
    size_t len = 0;
    struct df_ast *ast = NULL;
    struct df_build *build = NULL;
    int status = CLI_EXIT_FAIL;
    const char *name = strcmp(o.file, "-") ? o.file : "<stdin>";
    if (cli_read_file(&src, &len, o.file, &err) < 0 || df_parse(&ast, src, len, name, &err) < 0)
        goto out;
    struct df_build_opts bo = {.build_args = o.build_args.v,
                               .nbuild_args = o.build_args.n,
                               .target = o.target,
                               .target_platform = o.platform};
    if (df_build_resolve(&build, ast, &bo, &err) < 0)
        goto out;
    if (o.json) {
        json_t *j = df_outline_json(build);
        char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
        status = s ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    } else {
        struct sw_buf text = {0};
        if (df_outline_text(&text, build) == 0) {
            fputs(sw_buf_cstr(&text), stdout);
            status = CLI_EXIT_OK;
        }
        sw_buf_free(&text);
    }
out:
    if (err) {
        if (!err->span.file) {
            struct sw_span at = {.file = name};
            sw_error_set_span(err, &at);
        }
        status = cli_report(err);
    }
    df_build_free(build);
    df_ast_free(ast);
    sw_strv_free(&o.build_args);
    return status;
}
