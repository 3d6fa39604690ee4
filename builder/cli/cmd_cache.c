/*
 * The build cache's commands: `slipway cache ls` and `slipway cache prune` (docs/cli.md, and
 * "Controls" in docs/cache.md). The work is in the store (store_cache_usage, store_cache_prune in
 * cache/store_gc.c); this file parses flags, asks before pruning and prints.
 */
#include "cli.h"
#include "cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../cache/record.h"
#include "util/cleanup.h"

/* ---- parsing and formatting -------------------------------------------------------------------
 */

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* NULL when s is a size (*out), else why not. */
static const char *
parse_size(uint64_t *out, const char *s)
{
    const char *p = s;
    uint64_t whole = 0, fnum = 0, fden = 1;
    bool digits = false, overflow = false;
    for (; is_digit(*p); p++, digits = true) {
        unsigned d = (unsigned)(*p - '0');
        if (whole > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            whole = whole * 10 + d;
    }
    if (*p == '.') {
        p++;
        bool fdigits = false;
        for (; is_digit(*p); p++, fdigits = true)
            if (fden < 1000000000u) { /* 9 decimals: finer than a byte at any unit */
                fnum = fnum * 10 + (unsigned)(*p - '0');
                fden *= 10;
            }
        if (!fdigits)
            digits = false;
    }
    if (*p == ' ')
        p++;
    unsigned shift = 0;
    switch (*p) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    case 'p':
    case 'P':
        shift = 50;
        break;
    default:
        break;
    }
    if (shift) {
        p++;
        if (*p == 'i' || *p == 'I')
            p++;
    }
    if (*p == 'b' || *p == 'B')
        p++;
    if (!digits || *p)
        return "not a size (bytes, or a number and a unit: 500MB, 10GB, 1.5GiB; k, m, g, t and "
               "p are powers of 1024)";
    uint64_t mult = (uint64_t)1 << shift;
    uint64_t v = 0;
    if (overflow || __builtin_mul_overflow(whole, mult, &v) ||
        __builtin_add_overflow(v, (uint64_t)((long double)fnum * (long double)mult / fden), &v))
        return "too large";
    *out = v;
    return NULL;
}

int
cli_parse_size(uint64_t *out, const char *flag, const char *s, struct sw_error **err)
{
    const char *why = parse_size(out, s);
    return why ? sw_error_set(err, SW_EINVAL, 0, NULL, "%s \"%s\": %s", flag, s, why) : 0;
}

/* Go's time.ParseDuration units. */
static const struct {
    const char *name;
    uint64_t ns;
} duration_units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
    {"ms", 1000000},
    {"s", 1000000000},
    {"m", (uint64_t)60 * 1000000000},
    {"h", (uint64_t)3600 * 1000000000},
};

/* NULL when s is a duration (*out_ns), else why not. */
static const char *
parse_duration(int64_t *out_ns, const char *s)
{
    const char *p = s;
    uint64_t total = 0;
    bool bad = !*p, negative = false;
    if (*p == '+' || *p == '-') {
        negative = *p == '-';
        p++;
        bad = !*p;
    }
    if (!strcmp(p, "0")) {
        *out_ns = 0;
        return NULL;
    }
    while (!bad && *p) {
        uint64_t whole = 0, fnum = 0, fden = 1;
        bool pre = false, post = false;
        for (; is_digit(*p); p++, pre = true) {
            unsigned d = (unsigned)(*p - '0');
            if (whole > ((uint64_t)INT64_MAX - d) / 10)
                goto too_large;
            whole = whole * 10 + d;
        }
        if (*p == '.') {
            for (p++; is_digit(*p); p++, post = true)
                if (fden < 1000000000000000000u) {
                    fnum = fnum * 10 + (unsigned)(*p - '0');
                    fden *= 10;
                }
        }
        if (!pre && !post) {
            bad = true;
            break;
        }
        size_t ulen = 0;
        while (p[ulen] && p[ulen] != '.' && !is_digit(p[ulen]))
            ulen++;
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++)
            if (strlen(duration_units[i].name) == ulen && !strncmp(p, duration_units[i].name, ulen))
                unit = duration_units[i].ns;
        if (!unit) {
            bad = true;
            break;
        }
        p += ulen;
        uint64_t v;
        if (__builtin_mul_overflow(whole, unit, &v) ||
            __builtin_add_overflow(v, (uint64_t)((long double)fnum * (long double)unit / fden),
                                   &v) ||
            __builtin_add_overflow(total, v, &total) || total > (uint64_t)INT64_MAX)
            goto too_large;
    }
    if (bad)
        return "not a duration (Go's syntax: 24h, 30m, 1h30m, 90s; units ns, us, ms, s, m, h)";
    if (negative && total)
        return "a duration cannot be negative";
    *out_ns = (int64_t)total;
    return NULL;
too_large:
    return "too large";
}

int
cli_parse_duration(int64_t *out_ns, const char *flag, const char *s, struct sw_error **err)
{
    const char *why = parse_duration(out_ns, s);
    return why ? sw_error_set(err, SW_EINVAL, 0, NULL, "%s \"%s\": %s", flag, s, why) : 0;
}

void
cli_format_size(char *buf, size_t n, uint64_t bytes)
{
    /* docker's units.HumanSize: powers of 1000, 4 significant digits ("12.3MB", "4.268GB") */
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1000 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1000;
        u++;
    }
    snprintf(buf, n, "%.4g%s", v, units[u]);
}

void
cli_format_ago(char *buf, size_t n, int64_t seconds)
{
    /* docker's units.HumanDuration, then " ago" */
    int64_t d = seconds, minutes = d / 60, hours = (d + 1800) / 3600;
    if (d < 1)
        snprintf(buf, n, "Less than a second ago");
    else if (d == 1)
        snprintf(buf, n, "1 second ago");
    else if (d < 60)
        snprintf(buf, n, "%" PRId64 " seconds ago", d);
    else if (minutes == 1)
        snprintf(buf, n, "About a minute ago");
    else if (minutes < 60)
        snprintf(buf, n, "%" PRId64 " minutes ago", minutes);
    else if (hours == 1)
        snprintf(buf, n, "About an hour ago");
    else if (hours < 48)
        snprintf(buf, n, "%" PRId64 " hours ago", hours);
    else if (hours < 24 * 7 * 2)
        snprintf(buf, n, "%" PRId64 " days ago", hours / 24);
    else if (hours < 24 * 30 * 2)
        snprintf(buf, n, "%" PRId64 " weeks ago", hours / 24 / 7);
    else if (hours < 24 * 365 * 2)
        snprintf(buf, n, "%" PRId64 " months ago", hours / 24 / 30);
    else
        snprintf(buf, n, "%" PRId64 " years ago", d / 3600 / 24 / 365);
}

/* RFC 3339, UTC, whole seconds. */
static void
format_time(char *buf, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "1970-01-01T00:00:00Z");
}

/* Print s on one line: control characters (a heredoc's newlines) become spaces. */
static void
put_line_safe(const char *s)
{
    for (; s && *s; s++)
        putchar((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

/* ---- shared -----------------------------------------------------------------------------------
 */

/* Usage errors: "slipway cache SUB: MESSAGE", exit status 2. */
static int
usage_error(const char *sub, struct sw_error *err)
{
    fprintf(stderr, "slipway cache %s: %s\n", sub, err && err->msg ? err->msg : "bad arguments");
    sw_error_free(err);
    return CLI_EXIT_USAGE;
}

/* ---- cache ls ---------------------------------------------------------------------------------
 */

struct ls_rec {
    struct sw_digest key, layer, diff_id;
    char *kind, *description, *location, *media_type;
    uint64_t size;
    int64_t created, used;
};

struct ls_recs {
    struct ls_rec *v;
    size_t n, cap;
};

static void
ls_recs_free(struct ls_recs *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].kind);
        free(l->v[i].description);
        free(l->v[i].location);
        free(l->v[i].media_type);
    }
    free(l->v);
}

static char *
dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = true;
    return d;
}

static int
collect(const struct cache_record *r, void *ctx)
{
    struct ls_recs *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct ls_rec *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -SW_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    bool oom = false;
    l->v[l->n++] = (struct ls_rec){.key = r->key,
                                   .layer = r->layer_digest,
                                   .diff_id = r->diff_id,
                                   .kind = dup_or_null(r->kind ? r->kind : "", &oom),
                                   .description = dup_or_null(r->description, &oom),
                                   .location = dup_or_null(r->location, &oom),
                                   .media_type = dup_or_null(r->layer_media_type, &oom),
                                   .size = r->layer_size,
                                   .created = r->created,
                                   .used = r->used};
    return oom ? -SW_ENOMEM : 0;
}

static int
cmp_rec(const void *a, const void *b)
{
    const struct ls_rec *x = a, *y = b;
    if (x->used != y->used)
        return x->used > y->used ? -1 : 1;
    return strcmp(x->key.str, y->key.str);
}

static void
print_table(const struct ls_recs *recs, const struct store_cache_mount_list *mounts,
            const struct store_cache_usage *u, int64_t now)
{
    char size[32], ago[64];
    printf("%-12s  %-7s  %-9s  %-22s  %s\n", "ID", "KIND", "SIZE", "LAST USED", "DESCRIPTION");
    for (size_t i = 0; i < recs->n; i++) {
        const struct ls_rec *r = &recs->v[i];
        cli_format_size(size, sizeof size, r->size);
        cli_format_ago(ago, sizeof ago, now - r->used);
        printf("%-12.12s  %-7s  %-9s  %-22s  ", sw_digest_hex(&r->key), r->kind, size, ago);
        put_line_safe(r->description ? r->description : "");
        if (r->location) {
            printf(r->description ? " (" : "(");
            put_line_safe(r->location);
            putchar(')');
        }
        putchar('\n');
    }
    if (mounts->n) {
        printf("\n%-24s  %-9s  %-9s  %s\n", "CACHE MOUNT", "INSTANCES", "SIZE", "LAST USED");
        for (size_t i = 0; i < mounts->n; i++) {
            const struct store_cache_mount *m = &mounts->v[i];
            cli_format_size(size, sizeof size, m->size);
            cli_format_ago(ago, sizeof ago, now - m->used);
            if (m->id) {
                put_line_safe(m->id);
                printf("%*s", strlen(m->id) < 24 ? (int)(24 - strlen(m->id)) : 0, "");
            } else {
                printf("(id unknown) %-11.11s", m->name);
            }
            printf("  %-9zu  %-9s  %s\n", m->ninstances, size, ago);
        }
    }
    char layers[32], msize[32], own[32];
    cli_format_size(layers, sizeof layers, u->layer_bytes);
    cli_format_size(msize, sizeof msize, u->mount_bytes);
    cli_format_size(own, sizeof own, u->own_bytes);
    printf("\nTotal: %zu record%s (%s in layers), %zu cache mount%s (%s); reclaimable: %s\n",
           u->nrecords, u->nrecords == 1 ? "" : "s", layers, u->nmounts, u->nmounts == 1 ? "" : "s",
           msize, own);
}

static int
print_json(const struct ls_recs *recs, const struct store_cache_mount_list *mounts,
           const struct store_cache_usage *u, struct sw_error **err)
{
    json_auto_t *jr = json_array();
    json_auto_t *jm = json_array();
    if (!jr || !jm)
        return sw_error_oom(err);
    char created[32], used[32];
    for (size_t i = 0; i < recs->n; i++) {
        const struct ls_rec *r = &recs->v[i];
        format_time(created, sizeof created, r->created);
        format_time(used, sizeof used, r->used);
        json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:{s:s, s:s?, s:I}, s:s, s:s, s:s}", "key",
                              r->key.str, "kind", r->kind, "description", r->description,
                              "location", r->location, "layer", "digest", r->layer.str,
                              "media_type", r->media_type, "size", (json_int_t)r->size, "diff_id",
                              r->diff_id.str, "created", created, "last_used", used);
        if (!o || json_array_append_new(jr, o) < 0)
            return sw_error_oom(err);
    }
    for (size_t i = 0; i < mounts->n; i++) {
        const struct store_cache_mount *m = &mounts->v[i];
        format_time(used, sizeof used, m->used);
        json_t *o =
            json_pack("{s:s?, s:s, s:I, s:I, s:s}", "id", m->id, "name", m->name, "instances",
                      (json_int_t)m->ninstances, "size", (json_int_t)m->size, "last_used", used);
        if (!o || json_array_append_new(jm, o) < 0)
            return sw_error_oom(err);
    }
    json_auto_t *doc =
        json_pack("{s:O, s:O, s:{s:I, s:I, s:I, s:I, s:I}}", "records", jr, "mounts", jm, "total",
                  "records", (json_int_t)u->nrecords, "layer_bytes", (json_int_t)u->layer_bytes,
                  "mounts", (json_int_t)u->nmounts, "mount_bytes", (json_int_t)u->mount_bytes,
                  "reclaimable_bytes", (json_int_t)u->own_bytes);
    char *s = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (!s)
        return sw_error_oom(err);
    printf("%s\n", s);
    free(s);
    return 0;
}

static int
cache_ls(int argc, char **argv)
{
    static const char usage[] =
        "Usage: slipway cache ls [--root DIR] [--format table|json]\n\n"
        "List the build cache: one line per cache record (most recently used first), the cache\n"
        "mounts of RUN --mount=type=cache, and a total.\n";
    static struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},
        {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *root = NULL, *format = "table";
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            root = optarg;
            break;
        case 'F':
            format = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        default:
            fputs(usage, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    struct sw_error *err = NULL;
    if (strcmp(format, "table") && strcmp(format, "json")) {
        sw_error_set(&err, SW_EINVAL, 0, NULL, "--format \"%s\": must be table or json", format);
        return usage_error("ls", err);
    }
    sw_autofree char *user_root = NULL;
    struct store *st = NULL;
    struct store_lock *lock = NULL;
    struct ls_recs recs = {0};
    struct store_cache_mount_list mounts = {0};
    struct store_cache_usage u = {0};
    /* without root: the user's store, from the user's namespace (files of its other ids are
     * measured too) */
    int r = cli_enter_rootless(&root, &user_root, &err);
    if (r == 0)
        r = cli_store_open(&st, root, &err);
    /* the build lock (shared): no gc changes the cache while it is listed; builds may run */
    if (r == 0)
        r = store_build_lock(st, &lock, &err);
    if (r == 0) {
        r = cache_record_each(st, collect, &recs, &err);
        if (r == -SW_ENOMEM)
            sw_error_oom(&err);
    }
    if (r == 0)
        r = store_cache_usage(st, &u, &mounts, &err);
    store_build_unlock(lock);
    if (r == 0) {
        if (recs.n > 1)
            qsort(recs.v, recs.n, sizeof *recs.v, cmp_rec);
        if (!strcmp(format, "json"))
            r = print_json(&recs, &mounts, &u, &err);
        else
            print_table(&recs, &mounts, &u, (int64_t)time(NULL));
    }
    ls_recs_free(&recs);
    store_cache_mount_list_free(&mounts);
    store_close(st);
    return r < 0 ? cli_report(err) : CLI_EXIT_OK;
}

/* ---- cache prune ------------------------------------------------------------------------------
 */

struct prune_print {
    size_t shown;
};

static void
print_removed(const struct store_cache_item *it, void *ctx)
{
    struct prune_print *p = ctx;
    if (!p->shown++)
        printf("Deleted build cache objects:\n");
    if (it->mount) {
        printf("%-12.12s  %-7s  ", it->name, it->kind);
        put_line_safe(it->id ? it->id : "(id unknown)");
    } else {
        printf("%-12.12s  %-7s  ", it->name + 7, it->kind);
        put_line_safe(it->description ? it->description : "");
    }
    putchar('\n');
}

/* Ask on standard error, read the answer from standard input: true for y or yes. */
static bool
confirm(const char *what)
{
    fprintf(stderr, "WARNING! This will remove %s.\nAre you sure you want to continue? [y/N] ",
            what);
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return !strcmp(line, "y") || !strcmp(line, "Y") || !strcmp(line, "yes") ||
           !strcmp(line, "Yes") || !strcmp(line, "YES");
}

/* --filter KEY=VALUE: until=DURATION (or docker's older name, unused-for). */
static int
parse_filter(struct store_cache_prune_opts *o, const char *arg, struct sw_error **err)
{
    const char *eq = strchr(arg, '=');
    size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);
    bool until =
        (klen == 5 && !strncmp(arg, "until", 5)) || (klen == 10 && !strncmp(arg, "unused-for", 10));
    if (!until)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "--filter \"%s\": unsupported filter (slipway supports "
                            "until=DURATION)",
                            arg);
    if (!eq || !eq[1])
        return sw_error_set(err, SW_EINVAL, 0, NULL, "--filter \"%s\": expected until=DURATION",
                            arg);
    if (o->has_until)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "--filter \"%s\": until is given twice", arg);
    int64_t ns = 0;
    const char *why = parse_duration(&ns, eq + 1);
    if (why)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "--filter \"%s\": %s", arg, why);
    o->has_until = true;
    o->until = ns / 1000000000 + (ns % 1000000000 != 0); /* whole seconds, rounded up */
    return 0;
}

static int
cache_prune(int argc, char **argv)
{
    static const char usage[] =
        "Usage: slipway cache prune [--root DIR] [--filter until=DURATION] [--keep-storage SIZE]\n"
        "                           [-a|--all] [-f|--force]\n\n"
        "Remove build cache: cache records and cache mounts, then the layer blobs and snapshots\n"
        "only they kept. Without options, all of it.\n\n"
        "  --filter until=DURATION  only what was not used within DURATION (24h, 30m, 1h30m)\n"
        "  --keep-storage SIZE      least recently used first, until the cache holds at most\n"
        "                           SIZE (500MB, 10GB; powers of 1024)\n"
        "  -a, --all                accepted for docker compatibility: all build cache is\n"
        "                           considered anyway\n"
        "  -f, --force              do not ask for confirmation\n\n"
        "Fails, removing nothing, while a build is running on the same store.\n";
    static struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},
        {"filter", required_argument, NULL, 'F'},
        {"keep-storage", required_argument, NULL, 'k'},
        {"all", no_argument, NULL, 'a'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *root = NULL, *keep = NULL, *until_arg = NULL;
    bool force = false;
    struct store_cache_prune_opts o = {0};
    struct sw_error *err = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "haf", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            root = optarg;
            break;
        case 'F':
            if (parse_filter(&o, optarg, &err) < 0)
                return usage_error("prune", err);
            until_arg = strchr(optarg, '=') + 1;
            break;
        case 'k':
            keep = optarg;
            if (cli_parse_size(&o.keep_storage, "--keep-storage", optarg, &err) < 0)
                return usage_error("prune", err);
            o.has_keep_storage = true;
            break;
        case 'a':
            break; /* the default already considers all build cache */
        case 'f':
            force = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        default:
            fputs(usage, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    if (!force) {
        char what[512];
        snprintf(what, sizeof what, "%s%s%s%s",
                 o.has_until ? "the build cache not used for " : "all build cache",
                 o.has_until ? until_arg : "",
                 keep ? ", least recently used first, until it holds at most " : "",
                 keep ? keep : "");
        if (!confirm(what)) {
            fprintf(stderr,
                    "slipway: cache prune canceled, nothing was removed (-f does not ask)\n");
            return CLI_EXIT_FAIL;
        }
    }
    sw_autofree char *user_root = NULL;
    struct store *st = NULL;
    struct prune_print pp = {0};
    struct store_cache_prune_result res = {0};
    o.removed = print_removed;
    o.ctx = &pp;
    /* without root: the user's store, from the user's namespace, where files of its other ids
     * can be removed */
    int r = cli_enter_rootless(&root, &user_root, &err);
    if (r == 0)
        r = cli_store_open(&st, root, &err);
    if (r == 0)
        r = store_cache_prune(st, &o, &res, &err);
    store_close(st);
    if (r < 0)
        return cli_report(err);
    if (res.mounts_busy)
        fprintf(stderr, "slipway: kept %zu cache mount%s in use by a running process\n",
                res.mounts_busy, res.mounts_busy == 1 ? "" : "s");
    char size[32];
    cli_format_size(size, sizeof size, res.reclaimed);
    printf("%sTotal reclaimed space: %s\n", pp.shown ? "\n" : "", size);
    return CLI_EXIT_OK;
}

/* ---- dispatch ---------------------------------------------------------------------------------
 */

int
cli_cmd_cache(int argc, char **argv)
{
    static const char usage[] = "Usage: slipway cache COMMAND [OPTIONS]\n\n"
                                "Commands:\n"
                                "  ls      List the build cache: records, cache mounts, a total\n"
                                "  prune   Remove build cache\n\n"
                                "Run 'slipway cache COMMAND --help' for a command's options.\n";
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
        return cache_ls(argc - 1, argv + 1);
    if (!strcmp(sub, "prune"))
        return cache_prune(argc - 1, argv + 1);
    fprintf(stderr, "slipway cache: unknown command '%s'\n", sub);
    fputs(usage, stderr);
    return CLI_EXIT_USAGE;
}
