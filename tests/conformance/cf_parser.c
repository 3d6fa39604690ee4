/*
 * Conformance: buildkit-parser/ (README section 1): AST dumps, negative files, line spans,
 * parseWords, the JSON-array detector, name/value triples, directives, warnings, the 64 KiB
 * line limit and heredocs.
 */
#include "cf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/parser.h"

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the sub-directories of rel. */
static size_t
list_dirs(struct cf_ctx *c, const char *rel, char ***out)
{
    char *path = cf_path(c, rel);
    DIR *d = opendir(path);
    free(path);
    *out = NULL;
    if (!d) {
        cf_result(c, rel, false, "cannot open directory");
        return 0;
    }
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        *out = realloc(*out, (n + 1) * sizeof **out);
        (*out)[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(*out, n, sizeof **out, cmp_str);
    return n;
}

static void
free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- testfiles ------------------------------------------------------------------------------ */

static void
run_testfiles(struct cf_ctx *c)
{
    cf_begin(c, "buildkit-parser/testfiles");
    char **cases;
    size_t n = list_dirs(c, "buildkit-parser/testfiles", &cases);
    for (size_t i = 0; i < n; i++) {
        char rel[512];
        size_t dlen, rlen;
        snprintf(rel, sizeof rel, "buildkit-parser/testfiles/%s/Dockerfile", cases[i]);
        char *df = cf_read(c, rel, &dlen);
        snprintf(rel, sizeof rel, "buildkit-parser/testfiles/%s/result", cases[i]);
        char *want = cf_read(c, rel, &rlen);
        if (df && want) {
            struct df_ast *ast = NULL;
            struct sw_error *err = NULL;
            if (df_parse(&ast, df, dlen, "Dockerfile", &err) < 0) {
                cf_result(c, cases[i], false, "parse failed: %s", err->msg);
            } else {
                char *got = df_ast_dump(ast);
                bool ok = got && strcmp(got, want) == 0;
                cf_result(c, cases[i], ok, "dump differs:\n--- got\n%s--- want\n%s", got, want);
                free(got);
            }
            df_ast_free(ast);
            sw_error_free(err);
        }
        free(df);
        free(want);
    }
    free_list(cases, n);
    cf_end(c);

    cf_begin(c, "buildkit-parser/testfiles-negative");
    n = list_dirs(c, "buildkit-parser/testfiles-negative", &cases);
    for (size_t i = 0; i < n; i++) {
        char rel[512];
        size_t dlen;
        snprintf(rel, sizeof rel, "buildkit-parser/testfiles-negative/%s/Dockerfile", cases[i]);
        char *df = cf_read(c, rel, &dlen);
        if (df) {
            struct df_ast *ast = NULL;
            struct sw_error *err = NULL;
            int r = df_parse(&ast, df, dlen, "Dockerfile", &err);
            cf_result(c, cases[i], r < 0 && err && err->span.file, "parse must fail with a span");
            df_ast_free(ast);
            sw_error_free(err);
        }
        free(df);
    }
    free_list(cases, n);
    cf_end(c);
}

/* ---- line spans, warnings, long lines ----------------------------------------------------------
 */

static json_t *
load_json(struct cf_ctx *c, const char *rel)
{
    size_t len;
    char *text = cf_read(c, rel, &len);
    if (!text)
        return NULL;
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    if (!j)
        cf_result(c, rel, false, "bad JSON in corpus");
    return j;
}

static void
run_spans_and_limits(struct cf_ctx *c)
{
    cf_begin(c, "buildkit-parser/testfile-line");
    json_t *exp = load_json(c, "buildkit-parser/testfile-line/expected.json");
    size_t len;
    char *df = cf_read(c, "buildkit-parser/testfile-line/Dockerfile", &len);
    if (exp && df) {
        struct df_ast *ast = NULL;
        struct sw_error *err = NULL;
        if (df_parse(&ast, df, len, "Dockerfile", &err) < 0) {
            cf_result(c, "ast", false, "parse failed: %s", err->msg);
        } else {
            cf_result(c, "ast-span",
                      ast->start_line ==
                              json_integer_value(json_object_get(exp, "ast_start_line")) &&
                          ast->end_line == json_integer_value(json_object_get(exp, "ast_end_line")),
                      "AST spans %u-%u", ast->start_line, ast->end_line);
            json_t *lines = json_object_get(exp, "child_lines");
            bool ok = ast->nnodes == json_array_size(lines);
            for (size_t i = 0; ok && i < ast->nnodes; i++) {
                json_t *pair = json_array_get(lines, i);
                ok = ast->nodes[i].span.line == json_integer_value(json_array_get(pair, 0)) &&
                     ast->nodes[i].span.end_line == json_integer_value(json_array_get(pair, 1));
            }
            cf_result(c, "child-spans", ok, "child spans differ");
        }
        df_ast_free(ast);
        sw_error_free(err);
    }
    free(df);
    json_decref(exp);
    cf_end(c);

    cf_begin(c, "buildkit-parser/empty-continuation-warnings");
    exp = load_json(c, "buildkit-parser/empty-continuation-warnings/expected.json");
    df = cf_read(c, "buildkit-parser/empty-continuation-warnings/Dockerfile", &len);
    if (exp && df) {
        struct df_ast *ast = NULL;
        struct sw_error *err = NULL;
        if (df_parse(&ast, df, len, "Dockerfile", &err) < 0) {
            cf_result(c, "parse", false, "parse failed: %s", err->msg);
        } else {
            size_t want = (size_t)json_integer_value(json_object_get(exp, "warning_count"));
            cf_result(c, "count", ast->nwarnings == want, "%zu warnings, want %zu", ast->nwarnings,
                      want);
            json_t *subs = json_object_get(exp, "warnings_short_contain");
            for (size_t i = 0; i < json_array_size(subs) && i < ast->nwarnings; i++) {
                json_t *list = json_array_get(subs, i);
                for (size_t k = 0; k < json_array_size(list); k++) {
                    const char *want_sub = json_string_value(json_array_get(list, k));
                    char id[64];
                    snprintf(id, sizeof id, "warning%zu-%zu", i, k);
                    cf_result(c, id, strstr(ast->warnings[i].msg, want_sub) != NULL,
                              "%s does not contain %s", ast->warnings[i].msg, want_sub);
                }
            }
            const char *detail =
                json_string_value(json_object_get(exp, "warning0_detail0_contains"));
            cf_result(c, "detail",
                      detail && ast->nwarnings && strstr(ast->warnings[0].detail, detail),
                      "warning detail");
        }
        df_ast_free(ast);
        sw_error_free(err);
    }
    free(df);
    json_decref(exp);
    cf_end(c);

    cf_begin(c, "buildkit-parser/scanner-error");
    exp = load_json(c, "buildkit-parser/scanner-error/expected.json");
    if (exp) {
        /* the recipe: "\n\t\tFROM image\n\t\tLABEL test=" + 'a' * 65536 + "\n" */
        size_t n = 65536;
        const char *head = "\n\t\tFROM image\n\t\tLABEL test=";
        char *text = malloc(strlen(head) + n + 2);
        strcpy(text, head);
        memset(text + strlen(head), 'a', n);
        strcpy(text + strlen(head) + n, "\n");
        struct df_ast *ast = NULL;
        struct sw_error *err = NULL;
        int r = df_parse(&ast, text, strlen(text), "Dockerfile", &err);
        const char *want = json_string_value(json_object_get(exp, "expect_error"));
        cf_result(c, "long-line", r < 0 && want && strstr(err->msg, want) && err->span.line == 3,
                  "got %s", r < 0 ? err->msg : "success");
        df_ast_free(ast);
        sw_error_free(err);
        free(text);
    }
    json_decref(exp);
    cf_end(c);
}

/* ---- JSONL vectors ----------------------------------------------------------------------------
 */

static void
parse_words_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct sw_strv words = {0};
    df_parse_words(&words, json_string_value(json_object_get(rec, "input")), '\\');
    cf_result(c, id, cf_strv_equals_json(words.v, NULL, words.n, json_object_get(rec, "expect")),
              "parseWords differs (%zu words)", words.n);
    sw_strv_free(&words);
}

static void
json_array_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    json_t *in = json_object_get(rec, "input");
    json_t *exp = json_object_get(rec, "expect");
    struct sw_strv v = {0};
    size_t *lens = NULL;
    struct sw_error *err = NULL;
    int r = df_parse_json_array(&v, &lens, json_string_value(in), json_string_length(in), &err);
    if (json_is_string(exp))
        cf_result(c, id, r < 0 && strstr(err->msg, "strings only"), "want not-string-array error");
    else
        cf_result(c, id, r == 1 && cf_strv_equals_json(v.v, lens, v.n, exp),
                  "JSON array differs (r=%d)", r);
    sw_strv_free(&v);
    free(lens);
    sw_error_free(err);
}

static void
name_val_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    char *text = NULL;
    if (asprintf(&text, "%s %s\n", json_string_value(json_object_get(rec, "key")),
                 json_string_value(json_object_get(rec, "input"))) < 0)
        abort();
    struct df_ast *ast = NULL;
    struct sw_error *err = NULL;
    int r = df_parse(&ast, text, strlen(text), "Dockerfile", &err);
    json_t *want_err = json_object_get(rec, "expect_error");
    if (want_err)
        cf_result(c, id, r < 0 && strstr(err->msg, json_string_value(want_err)), "want error %s",
                  json_string_value(want_err));
    else
        cf_result(c, id,
                  r == 0 && cf_strv_equals_json(ast->nodes[0].args.v, NULL, ast->nodes[0].args.n,
                                                json_object_get(rec, "expect_nodes")),
                  "nodes differ");
    df_ast_free(ast);
    sw_error_free(err);
    free(text);
}

static char *
record_input(json_t *rec, size_t *len)
{
    const char *in = json_string_value(json_object_get(rec, "input"));
    const char *hex = json_string_value(json_object_get(rec, "input_hex_prefix"));
    size_t hl = hex ? strlen(hex) / 2 : 0, il = strlen(in);
    char *buf = malloc(hl + il + 1);
    for (size_t i = 0; i < hl; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        buf[i] = (char)v;
    }
    memcpy(buf + hl, in, il + 1);
    *len = hl + il;
    return buf;
}

static void
directive_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    const char *func = json_string_value(json_object_get(rec, "func"));
    json_t *exp = json_object_get(rec, "expect");
    size_t len;
    char *input = record_input(rec, &len);
    if (!strcmp(func, "DirectiveParser.ParseAll")) {
        struct df_directive *d = NULL;
        size_t n = 0;
        struct sw_error *err = NULL;
        int r = df_directives_scan(&d, &n, input, len, &err);
        json_t *want = json_object_get(exp, "directives");
        bool ok = r == 0 && json_array_size(want) == n;
        for (size_t i = 0; ok && i < n; i++) {
            json_t *w = json_array_get(want, i);
            ok = !strcmp(d[i].name, json_string_value(json_object_get(w, "name"))) &&
                 !strcmp(d[i].value, json_string_value(json_object_get(w, "value")));
        }
        cf_result(c, id, ok, "directives differ (r=%d, n=%zu)", r, n);
        df_directives_free(d, n);
        sw_error_free(err);
    } else {
        const char *key = !strcmp(func, "DetectSyntax")
                              ? "syntax"
                              : json_string_value(json_object_get(rec, "key"));
        char *ref = NULL, *cmdline = NULL;
        uint32_t line = 0;
        int found = df_parse_directive(&ref, &cmdline, &line, key, input, len);
        bool ok = found == json_is_true(json_object_get(exp, "ok"));
        json_t *v;
        if (ok && found && (v = json_object_get(exp, "ref")))
            ok = !strcmp(ref, json_string_value(v));
        if (ok && found && (v = json_object_get(exp, "cmdline")))
            ok = !strcmp(cmdline, json_string_value(v));
        if (ok && found && (v = json_object_get(exp, "line")))
            ok = line == json_integer_value(v);
        cf_result(c, id, ok, "found=%d ref=%s cmdline=%s line=%u", found, ref ? ref : "",
                  cmdline ? cmdline : "", line);
        free(ref);
        free(cmdline);
    }
    free(input);
}

/* ---- heredocs ---------------------------------------------------------------------------------
 */

static bool
heredocs_equal(const struct df_node *n, json_t *want)
{
    if (json_is_null(want))
        return n->nheredocs == 0;
    if (json_array_size(want) != n->nheredocs)
        return false;
    for (size_t i = 0; i < n->nheredocs; i++) {
        json_t *w = json_array_get(want, i);
        const struct df_heredoc *h = &n->heredocs[i];
        if (strcmp(h->name, json_string_value(json_object_get(w, "Name"))) ||
            h->fd != json_integer_value(json_object_get(w, "FileDescriptor")) ||
            h->expand != json_is_true(json_object_get(w, "Expand")) ||
            h->chomp != json_is_true(json_object_get(w, "Chomp")) ||
            strcmp(h->content, json_string_value(json_object_get(w, "Content"))))
            return false;
    }
    return true;
}

struct heredoc_file {
    struct df_ast *ast;
};

static void
heredoc_child_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct heredoc_file *hf = payload;
    if (!hf->ast) {
        cf_result(c, id, false, "Dockerfile did not parse");
        return;
    }
    size_t idx = (size_t)json_integer_value(json_object_get(rec, "child_index"));
    cf_result(c, id,
              idx < hf->ast->nnodes &&
                  heredocs_equal(&hf->ast->nodes[idx], json_object_get(rec, "heredocs")),
              "heredocs of child %zu differ", idx);
}

static void
run_heredoc_file(struct cf_ctx *c, const char *dir)
{
    char rel[256];
    snprintf(rel, sizeof rel, "buildkit-parser/heredoc/%s/Dockerfile", dir);
    size_t len;
    char *df = cf_read(c, rel, &len);
    struct heredoc_file hf = {0};
    struct sw_error *err = NULL;
    if (df && df_parse(&hf.ast, df, len, "Dockerfile", &err) < 0)
        cf_result(c, dir, false, "parse failed: %s", err->msg);
    snprintf(rel, sizeof rel, "buildkit-parser/heredoc/%s/expected.jsonl", dir);
    cf_jsonl(c, rel, heredoc_child_rec, &hf);
    df_ast_free(hf.ast);
    sw_error_free(err);
    free(df);
}

static void
heredoc_word_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    const char *exp = json_string_value(json_object_get(rec, "expect"));
    struct df_heredoc h = {0};
    struct sw_error *err = NULL;
    int r = df_heredoc_parse_word(&h, json_string_value(json_object_get(rec, "input")), &err);
    if (!strcmp(exp, "not-heredoc"))
        cf_result(c, id, r == 0, "want not-heredoc, r=%d", r);
    else if (!strcmp(exp, "error"))
        cf_result(c, id, r < 0, "want error, r=%d", r);
    else
        cf_result(c, id, r == 1 && !strcmp(h.name, "EOF"), "want name EOF, r=%d", r);
    df_heredoc_clear(&h);
    sw_error_free(err);
}

static void
heredoc_line_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    /* Stricter than upstream: the full list of names must match. */
    const char *line = json_string_value(json_object_get(rec, "line"));
    json_t *want = json_object_get(rec, "heredoc_names");
    struct sw_buf text = {0};
    sw_buf_printf(&text, "%s\n", line);
    size_t nwant = json_is_array(want) ? json_array_size(want) : 0;
    for (size_t i = 0; i < nwant; i++)
        sw_buf_printf(&text, "%s\n", json_string_value(json_array_get(want, i)));
    struct df_ast *ast = NULL;
    struct sw_error *err = NULL;
    int r = df_parse(&ast, text.data, text.len, "Dockerfile", &err);
    bool ok = r == 0 && ast->nodes[0].nheredocs == nwant;
    for (size_t i = 0; ok && i < nwant; i++)
        ok = !strcmp(ast->nodes[0].heredocs[i].name, json_string_value(json_array_get(want, i)));
    cf_result(c, id, ok, "heredoc names differ (r=%d, found %zu)", r,
              r == 0 ? ast->nodes[0].nheredocs : 0);
    df_ast_free(ast);
    sw_error_free(err);
    sw_buf_free(&text);
}

static void
chomp_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    char *got = df_heredoc_chomp(json_string_value(json_object_get(rec, "input")));
    cf_result(c, id, got && !strcmp(got, json_string_value(json_object_get(rec, "expect"))),
              "chomp differs");
    free(got);
}

void
cf_run_parser(struct cf_ctx *c)
{
    run_testfiles(c);
    run_spans_and_limits(c);
    cf_begin(c, "buildkit-parser/parse-words");
    cf_jsonl(c, "buildkit-parser/parse-words.jsonl", parse_words_rec, NULL);
    cf_end(c);
    cf_begin(c, "buildkit-parser/json-arrays");
    cf_jsonl(c, "buildkit-parser/json-arrays.jsonl", json_array_rec, NULL);
    cf_end(c);
    cf_begin(c, "buildkit-parser/name-val");
    cf_jsonl(c, "buildkit-parser/name-val.jsonl", name_val_rec, NULL);
    cf_end(c);
    cf_begin(c, "buildkit-parser/directives");
    cf_jsonl(c, "buildkit-parser/directives.jsonl", directive_rec, NULL);
    cf_end(c);
    cf_begin(c, "buildkit-parser/heredoc");
    run_heredoc_file(c, "extracts-heredoc");
    run_heredoc_file(c, "json-no-heredoc");
    cf_jsonl(c, "buildkit-parser/heredoc/parse-heredoc-word.jsonl", heredoc_word_rec, NULL);
    cf_jsonl(c, "buildkit-parser/heredoc/heredocs-from-line.jsonl", heredoc_line_rec, NULL);
    cf_jsonl(c, "buildkit-parser/heredoc/chomp.jsonl", chomp_rec, NULL);
    cf_end(c);
}
