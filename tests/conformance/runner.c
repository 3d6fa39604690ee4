/*
 * tests/conformance/runner.c: runs the frontend's conformance data sets from
 * $SLIPWAY_CONFORMANCE_DIR and prints "NAME: N passed, N failed" per data set plus a total.
 * Exit status: 0 only when nothing failed. Usage: conformance [-v] [-d DIVERGENCES] [SET-PREFIX...]
 */
#include "cf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
    const char *name;
    void (*run)(struct cf_ctx *);
} modules[] = {
    {"buildkit-parser", cf_run_parser},
    {"shell-lexer", cf_run_shell_lexer},
    {"buildkit-instructions", cf_run_instructions},
    {"buildkit-dockerfile2llb", cf_run_dockerfile2llb},
    {"dockerignore", cf_run_dockerignore},
    {"moby-classic-builder", cf_run_moby},
};

void
cf_begin(struct cf_ctx *c, const char *set)
{
    c->set = set;
    c->passed = c->failed = c->diverged = 0;
}

void
cf_end(struct cf_ctx *c)
{
    if (c->diverged)
        printf("%s: %d passed, %d failed, %d diverged\n", c->set, c->passed, c->failed,
               c->diverged);
    else
        printf("%s: %d passed, %d failed\n", c->set, c->passed, c->failed);
    c->total_passed += c->passed;
    c->total_failed += c->failed;
    c->total_diverged += c->diverged;
    c->set = NULL;
}

static const struct cf_div *
find_div(const struct cf_ctx *c, const char *record)
{
    for (size_t i = 0; i < c->ndivs; i++)
        if (strcmp(c->divs[i].set, c->set) == 0 && strcmp(c->divs[i].record, record) == 0)
            return &c->divs[i];
    return NULL;
}

void
cf_result(struct cf_ctx *c, const char *record, bool ok, const char *why, ...)
{
    const struct cf_div *d = find_div(c, record);
    if (ok && !d) {
        c->passed++;
        return;
    }
    if (ok && d) {
        c->failed++;
        printf("  FAIL %s %s: listed in divergences.txt but passes (stale divergence)\n", c->set,
               record);
        return;
    }
    if (d) {
        c->diverged++;
        if (c->verbose)
            printf("  DIVERGED %s %s: %s\n", c->set, record, d->reason);
        return;
    }
    c->failed++;
    printf("  FAIL %s %s: ", c->set, record);
    va_list ap;
    va_start(ap, why);
    vprintf(why ? why : "failed", ap);
    va_end(ap);
    printf("\n");
}

char *
cf_path(const struct cf_ctx *c, const char *rel)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", c->root, rel) < 0)
        abort();
    return p;
}

char *
cf_read(struct cf_ctx *c, const char *rel, size_t *len)
{
    char *path = cf_path(c, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("  FAIL %s: cannot read %s: %s\n", c->set ? c->set : "", path, strerror(errno));
        c->failed++;
        c->io_errors++;
        free(path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    free(path);
    if (!buf)
        abort();
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void
cf_jsonl(struct cf_ctx *c, const char *rel,
         void (*fn)(struct cf_ctx *c, const char *id, json_t *rec, void *payload), void *payload)
{
    size_t len;
    char *data = cf_read(c, rel, &len);
    if (!data)
        return;
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    char *p = data;
    unsigned lineno = 0;
    while (p < data + len) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(data + len - p);
        lineno++;
        char id[256];
        snprintf(id, sizeof id, "%s:%u", base, lineno);
        if (n > 0) {
            json_error_t je;
            json_t *rec = json_loadb(p, n, JSON_ALLOW_NUL, &je);
            if (!rec)
                cf_result(c, id, false, "bad JSON in corpus: %s", je.text);
            else
                fn(c, id, rec, payload);
            json_decref(rec);
        }
        p += n + 1;
    }
    free(data);
}

void
cf_tsv(struct cf_ctx *c, const char *rel,
       void (*fn)(struct cf_ctx *c, const char *id, char **fields, size_t nfields, void *payload),
       void *payload)
{
    size_t len;
    char *data = cf_read(c, rel, &len);
    if (!data)
        return;
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    char *p = data;
    unsigned lineno = 0;
    while (p < data + len) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        if (nl)
            *nl = '\0';
        lineno++;
        if (strncmp(p, "# ", 2) != 0 && *p) {
            char *fields[32];
            size_t nf = 0;
            char *s = p;
            for (;;) {
                char *t = strchr(s, '\t');
                if (nf < 32)
                    fields[nf++] = s;
                if (!t)
                    break;
                *t = '\0';
                s = t + 1;
            }
            char id[256];
            snprintf(id, sizeof id, "%s:%u", base, lineno);
            fn(c, id, fields, nf, payload);
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    free(data);
}

bool
cf_strv_equals_json(char *const *v, const size_t *lens, size_t n, json_t *arr)
{
    if (!arr || json_is_null(arr))
        return n == 0;
    if (!json_is_array(arr) || json_array_size(arr) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        size_t l = lens ? lens[i] : strlen(v[i]);
        if (!json_is_string(s) || json_string_length(s) != l ||
            memcmp(json_string_value(s), v[i], l) != 0)
            return false;
    }
    return true;
}

void
cf_strv_from_json(struct sw_strv *out, json_t *arr)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (sw_strv_push(out, json_string_value(json_array_get(arr, i))) < 0)
            abort();
}

char *
cf_quote(const char *s, size_t len)
{
    size_t cap = len * 4 + 3;
    char *o = malloc(cap), *q = o;
    if (!o)
        abort();
    *q++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            *q++ = '\\';
            *q++ = (char)ch;
        } else if (ch == '\n') {
            *q++ = '\\';
            *q++ = 'n';
        } else if (ch == '\t') {
            *q++ = '\\';
            *q++ = 't';
        } else if (ch < 0x20 || ch == 0x7f) {
            q += sprintf(q, "\\x%02x", ch);
        } else {
            *q++ = (char)ch;
        }
    }
    *q++ = '"';
    *q = '\0';
    return o;
}

static int
load_divergences(struct cf_ctx *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conformance: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        char *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2 || !t2[1]) {
            fprintf(stderr, "%s:%u: error: expected SET<TAB>RECORD<TAB>REASON\n", path, lineno);
            rc = -1;
            continue;
        }
        *t1 = *t2 = '\0';
        c->divs = realloc(c->divs, (c->ndivs + 1) * sizeof *c->divs);
        c->divs[c->ndivs++] = (struct cf_div){strdup(line), strdup(t1 + 1), strdup(t2 + 1)};
    }
    free(line);
    fclose(f);
    return rc;
}

int
main(int argc, char **argv)
{
    struct cf_ctx c = {0};
    const char *divpath = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-v") == 0)
            c.verbose = true;
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            divpath = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-v] [-d DIVERGENCES] [SET-PREFIX...]\n", argv[0]);
            return 2;
        }
    }
    c.root = getenv("SLIPWAY_CONFORMANCE_DIR");
    if (!c.root || !*c.root) {
        fprintf(stderr, "conformance: SLIPWAY_CONFORMANCE_DIR is not set\n");
        return 2;
    }
    struct stat st;
    char *readme = cf_path(&c, "README.md");
    if (stat(c.root, &st) != 0 || !S_ISDIR(st.st_mode) || stat(readme, &st) != 0) {
        fprintf(stderr, "conformance: SLIPWAY_CONFORMANCE_DIR=%s is not a readable corpus\n",
                c.root);
        free(readme);
        return 2;
    }
    free(readme);
    if (divpath && load_divergences(&c, divpath) < 0)
        return 2;

    for (size_t m = 0; m < sizeof modules / sizeof modules[0]; m++) {
        bool selected = i == argc;
        for (int a = i; a < argc; a++)
            if (strncmp(modules[m].name, argv[a], strlen(argv[a])) == 0)
                selected = true;
        if (selected)
            modules[m].run(&c);
    }
    printf("total: %d passed, %d failed", c.total_passed, c.total_failed);
    if (c.total_diverged)
        printf(", %d diverged", c.total_diverged);
    printf("\n");
    for (size_t d = 0; d < c.ndivs; d++) {
        free(c.divs[d].set);
        free(c.divs[d].record);
        free(c.divs[d].reason);
    }
    free(c.divs);
    return c.total_failed || c.io_errors ? 1 : 0;
}
