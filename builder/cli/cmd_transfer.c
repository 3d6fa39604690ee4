/*
 * Moving images in and out of the store: save, load, verify.
 */
#include "cli.h"
#include "cli_common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/export.h"
#include "util/cleanup.h"

static const char save_usage[] =
    "Usage: slipway save [--root DIR] [-o FILE] [--format docker|oci] NAME...\n"
    "\n"
    "Write an image to a tar: a docker-archive that `docker load` accepts (the default), or an\n"
    "OCI layout (--format oci; a FILE not ending in .tar is written as a directory). Every NAME\n"
    "must name the same image; they are all recorded in the archive.\n";

int
cli_cmd_save(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'F'},
        {"root", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *format = "docker", *root = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'F':
            format = optarg;
            break;
        case 'r':
            root = optarg;
            break;
        case 'h':
            fputs(save_usage, stdout);
            return CLI_EXIT_OK;
        default:
            fputs(save_usage, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc || !out || (strcmp(format, "docker") && strcmp(format, "oci"))) {
        fputs(!out ? "slipway save: -o FILE is required\n" : save_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    struct sw_error *err = NULL;
    struct store *st = NULL;
    struct store_desc d = {0};
    struct sw_strv names = {0};
    int r = cli_store_open(&st, root, &err);
    for (int i = optind; r == 0 && i < argc; i++) {
        sw_autofree char *fam = NULL, *full = NULL;
        struct store_desc di = {0};
        r = cli_image_name(&fam, &full, argv[i], &err);
        if (r == 0)
            r = store_tag_get(st, fam, &di, &err);
        if (r == 0 && i > optind && strcmp(di.digest.str, d.digest.str))
            r = sw_error_set(&err, SW_EINVAL, 0, NULL,
                             "%s is another image than %s: save one image at a time", argv[i],
                             argv[optind]);
        if (r == 0 && sw_strv_push(&names, fam) < 0)
            r = sw_error_oom(&err);
        if (i == optind)
            d = di;
        else
            store_desc_clear(&di);
    }
    struct export_image img = {.store = st,
                               .names = (const char *const *)names.v,
                               .nnames = names.n,
                               .source_date_epoch = -1};
    if (r == 0)
        r = img_descriptor_init(&img.manifest, d.media_type, &d.digest, (int64_t)d.size, &err);
    if (r == 0) {
        size_t n = strlen(out);
        r = !strcmp(format, "oci")
                ? export_oci(&img, out, n > 4 && !strcmp(out + n - 4, ".tar"), &err)
                : export_docker_archive(&img, out, &err);
    }
    img_descriptor_clear(&img.manifest);
    store_desc_clear(&d);
    sw_strv_free(&names);
    store_close(st);
    return r < 0 ? cli_report(err) : CLI_EXIT_OK;
}

static const char load_usage[] =
    "Usage: slipway load [--root DIR] -i PATH\n"
    "\n"
    "Load images into the store from an OCI layout (a directory or a tar) or a docker-archive\n"
    "tar (`docker save`). Every blob is verified against its digest; names come from the\n"
    "archive.\n";

int
cli_cmd_load(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"root", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *in = NULL, *root = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            in = optarg;
            break;
        case 'r':
            root = optarg;
            break;
        case 'h':
            fputs(load_usage, stdout);
            return CLI_EXIT_OK;
        default:
            fputs(load_usage, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (!in && optind < argc)
        in = argv[optind++];
    if (!in || optind < argc) {
        fputs(load_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    struct sw_error *err = NULL;
    struct store *st = NULL;
    struct sw_strv names = {0};
    int r = cli_store_open(&st, root, &err);
    if (r == 0)
        r = export_import(st, in, &names, &err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        printf("Loaded image: %s\n", names.v[i]);
    sw_strv_free(&names);
    store_close(st);
    return r < 0 ? cli_report(err) : CLI_EXIT_OK;
}

int
cli_cmd_verify(int argc, char **argv)
{
    static const char usage[] =
        "Usage: slipway verify [--root DIR]\n\n"
        "Check the store: every blob matches its digest and everything index.json refers to\n"
        "is there.\n";
    static const struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *root = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'r')
            root = optarg;
        else if (c == 'h') {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        } else {
            fputs(usage, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    struct sw_error *err = NULL;
    struct store *st = NULL;
    int r = cli_store_open(&st, root, &err);
    if (r == 0)
        r = store_verify(st, NULL, &err);
    if (r == 0)
        printf("%s: ok\n", store_root(st));
    store_close(st);
    return r < 0 ? cli_report(err) : CLI_EXIT_OK;
}
