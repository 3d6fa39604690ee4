/*
 * The store's commands: images, inspect, tag, rmi, prune.
 */
#include "cli.h"
#include "cli_common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "image/manifest.h"
#include "util/cleanup.h"

/* Common option parsing: --root DIR and --help; the rest are positional. */
static int
parse_common(int argc, char **argv, const char *usage, const char **root, int *first,
             bool *extra_flag, const char *extra_name)
{
    static struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {"quiet", no_argument, NULL, 'q'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "hqf", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            *root = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        case 'q':
        case 'f':
            if (extra_flag && extra_name &&
                ((c == 'q' && !strcmp(extra_name, "quiet")) ||
                 (c == 'f' && !strcmp(extra_name, "force")))) {
                *extra_flag = true;
                break;
            }
            /* fallthrough */
        default:
            fputs(usage, stderr);
            return -1;
        }
    }
    *first = optind;
    return 0;
}

static int
finish(int r, struct sw_error *err)
{
    return r < 0 ? cli_report(err) : CLI_EXIT_OK;
}

static uint64_t
image_size(struct store *st, const struct sw_digest *manifest)
{
    void *data = NULL;
    size_t len = 0;
    uint64_t total = 0;
    if (store_blob_read(st, manifest, 4u << 20, &data, &len, NULL) < 0)
        return 0;
    struct img_manifest m;
    if (img_manifest_parse(&m, data, len, NULL) == 0) {
        total = (uint64_t)m.config.size;
        for (size_t i = 0; i < m.nlayers; i++)
            total += (uint64_t)m.layers[i].size;
        img_manifest_clear(&m);
    }
    free(data);
    return total;
}

static void
human_size(char *buf, size_t n, uint64_t bytes)
{
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(buf, n, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

int
cli_cmd_images(int argc, char **argv)
{
    static const char usage[] = "Usage: slipway images [--root DIR] [-q]\n\n"
                                "List the images in the store: name, manifest digest, size.\n";
    const char *root = NULL;
    int first;
    bool quiet = false;
    int pr = parse_common(argc, argv, usage, &root, &first, &quiet, "quiet");
    if (pr != 0)
        return pr > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    struct sw_error *err = NULL;
    struct store *st = NULL;
    struct store_tag_list l = {0};
    int r = cli_store_open(&st, root, &err);
    if (r == 0)
        r = store_tag_list(st, &l, &err);
    if (r == 0 && !quiet)
        printf("%-48s %-19s %s\n", "NAME", "DIGEST", "SIZE");
    for (size_t i = 0; r == 0 && i < l.n; i++) {
        if (quiet) {
            printf("%s\n", l.tags[i].name);
            continue;
        }
        char size[32];
        human_size(size, sizeof size, image_size(st, &l.tags[i].desc.digest));
        printf("%-48s %.19s %s\n", l.tags[i].name, sw_digest_hex(&l.tags[i].desc.digest), size);
    }
    store_tag_list_free(&l);
    store_close(st);
    return finish(r, err);
}

static int
lookup(struct store *st, const char *name, struct store_desc *d, struct sw_error **err)
{
    sw_autofree char *fam = NULL, *full = NULL;
    int r = cli_image_name(&fam, &full, name, err);
    if (r < 0)
        return r;
    struct sw_error *e = NULL;
    r = store_tag_get(st, fam, d, &e);
    if (r == -SW_ENOTFOUND) {
        sw_error_free(e);
        return store_tag_get(st, name, d, err);
    }
    if (r < 0 && err && !*err)
        *err = e;
    else
        sw_error_free(e);
    return r;
}

int
cli_cmd_inspect(int argc, char **argv)
{
    static const char usage[] =
        "Usage: slipway inspect [--root DIR] NAME...\n\n"
        "Print each image's manifest descriptor, manifest and config as JSON.\n";
    const char *root = NULL;
    int first;
    int pr = parse_common(argc, argv, usage, &root, &first, NULL, NULL);
    if (pr != 0 || first >= argc) {
        if (pr == 0)
            fputs(usage, stderr);
        return pr > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    struct sw_error *err = NULL;
    struct store *st = NULL;
    int r = cli_store_open(&st, root, &err);
    json_t *all = json_array();
    for (int i = first; r == 0 && i < argc; i++) {
        struct store_desc d = {0};
        json_t *manifest = NULL, *config = NULL;
        r = lookup(st, argv[i], &d, &err);
        if (r == 0)
            r = store_json_read(st, &d.digest, 4u << 20, &manifest, &err);
        if (r == 0) {
            struct sw_digest cd;
            const char *cds =
                json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"));
            r = cds ? sw_digest_parse(&cd, cds, &err)
                    : sw_error_set(&err, SW_EINVAL, 0, NULL, "%s is not an image manifest",
                                   d.digest.str);
            if (r == 0)
                r = store_json_read(st, &cd, 4u << 20, &config, &err);
        }
        if (r == 0)
            json_array_append_new(
                all, json_pack("{s:s, s:s, s:s, s:I, s:o, s:o}", "Name", argv[i], "Digest",
                               d.digest.str, "MediaType", d.media_type ? d.media_type : "", "Size",
                               (json_int_t)d.size, "Manifest", manifest, "Config", config));
        else {
            json_decref(manifest);
            json_decref(config);
        }
        store_desc_clear(&d);
    }
    if (r == 0) {
        char *s = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
    }
    json_decref(all);
    store_close(st);
    return finish(r, err);
}

int
cli_cmd_tag(int argc, char **argv)
{
    static const char usage[] = "Usage: slipway tag [--root DIR] SOURCE TARGET\n\n"
                                "Give the image SOURCE the name TARGET too.\n";
    const char *root = NULL;
    int first;
    int pr = parse_common(argc, argv, usage, &root, &first, NULL, NULL);
    if (pr != 0 || argc - first != 2) {
        if (pr == 0)
            fputs(usage, stderr);
        return pr > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    struct sw_error *err = NULL;
    struct store *st = NULL;
    struct store_desc d = {0};
    sw_autofree char *fam = NULL, *full = NULL;
    int r = cli_store_open(&st, root, &err);
    if (r == 0)
        r = lookup(st, argv[first], &d, &err);
    if (r == 0)
        r = cli_image_name(&fam, &full, argv[first + 1], &err);
    if (r == 0) {
        /* the new tag gets the descriptor without the old name annotations */
        struct store_desc copy = d;
        copy.annotations = NULL;
        copy.nannotations = 0;
        r = store_tag_set(st, fam, full, &copy, &err);
    }
    store_desc_clear(&d);
    store_close(st);
    return finish(r, err);
}

int
cli_cmd_rmi(int argc, char **argv)
{
    static const char usage[] =
        "Usage: slipway rmi [--root DIR] NAME...\n\n"
        "Remove image names from the store; `slipway prune` then frees unreferenced blobs.\n";
    const char *root = NULL;
    int first;
    int pr = parse_common(argc, argv, usage, &root, &first, NULL, NULL);
    if (pr != 0 || first >= argc) {
        if (pr == 0)
            fputs(usage, stderr);
        return pr > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    struct sw_error *err = NULL;
    struct store *st = NULL;
    int r = cli_store_open(&st, root, &err);
    for (int i = first; r == 0 && i < argc; i++) {
        sw_autofree char *fam = NULL, *full = NULL;
        r = cli_image_name(&fam, &full, argv[i], &err);
        if (r == 0)
            r = store_tag_remove(st, fam, &err);
        if (r == 0)
            printf("Untagged: %s\n", fam);
    }
    store_close(st);
    return finish(r, err);
}

int
cli_cmd_prune(int argc, char **argv)
{
    static const char usage[] =
        "Usage: slipway prune [--root DIR]\n\n"
        "Remove blobs no image name references, and stale temporary files. Fails while a build\n"
        "is running on the same store.\n";
    const char *root = NULL;
    int first;
    int pr = parse_common(argc, argv, usage, &root, &first, NULL, NULL);
    if (pr != 0 || first < argc) {
        if (pr == 0)
            fputs(usage, stderr);
        return pr > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    struct sw_error *err = NULL;
    struct store *st = NULL;
    size_t count = 0;
    uint64_t bytes = 0;
    /* a rootless build's leftovers may belong to ids of its user namespace: sweep from there */
    char *user_root = NULL;
    int r = cli_enter_rootless(&root, &user_root, &err);
    if (r == 0)
        r = cli_store_open(&st, root, &err);
    if (r == 0)
        r = store_gc(st, &count, &bytes, &err);
    if (r == 0) {
        char size[32];
        human_size(size, sizeof size, bytes);
        printf("Removed %zu files, %s\n", count, size);
    }
    store_close(st);
    free(user_root);
    return finish(r, err);
}
