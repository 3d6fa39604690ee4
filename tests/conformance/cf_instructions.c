/*
 * Conformance: buildkit-instructions/ (README section 3): instruction errors, misc records,
 * doc comments, COPY/RUN heredocs, RUN --device, handleJSONArgs and the BFlags parser.
 */
#include "cf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/instructions.h"
#include "dockerfile/parser.h"

/* ---- helpers --------------------------------------------------------------------------------- */

/* Parse a Dockerfile text; NULL (and a counted failure) when it does not parse. */
static struct df_ast *
parse_text(struct cf_ctx *c, const char *id, const char *text)
{
    struct df_ast *ast = NULL;
    struct sw_error *err = NULL;
    if (df_parse(&ast, text, strlen(text), "Dockerfile", &err) < 0) {
        cf_result(c, id, false, "parse failed: %s", err && err->msg ? err->msg : "?");
        sw_error_free(err);
        return NULL;
    }
    return ast;
}

/* The first instruction of a Dockerfile text, parsed; *errp gets the instruction error. */
static struct df_instr *
first_instr(struct df_ast *ast, struct sw_error **errp)
{
    struct df_instr *in = NULL;
    if (ast->nnodes == 0 || df_instr_from_node(&in, &ast->nodes[0], errp) < 0)
        return NULL;
    return in;
}

/* A node built by hand from ["keyword", args...]. */
static void
node_from_json(struct df_node *n, json_t *arr)
{
    memset(n, 0, sizeof *n);
    n->keyword = strdup(json_string_value(json_array_get(arr, 0)));
    for (size_t i = 1; i < json_array_size(arr); i++)
        sw_strv_push(&n->args, json_string_value(json_array_get(arr, i)));
}

static bool
error_matches(const struct sw_error *err, json_t *rec)
{
    const char *want = json_string_value(json_object_get(rec, "expect_error"));
    const char *match = json_string_value(json_object_get(rec, "match"));
    if (!err || !err->msg || !want)
        return false;
    if (match && !strcmp(match, "exact"))
        return !strcmp(err->msg, want);
    return strstr(err->msg, want) != NULL;
}

/* ---- instruction-errors ---------------------------------------------------------------------- */

static void
errors_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct sw_error *err = NULL;
    struct df_instr *in = NULL;
    json_t *node = json_object_get(rec, "node");
    if (node) {
        struct df_node n;
        node_from_json(&n, node);
        df_instr_from_node(&in, &n, &err);
        df_node_clear(&n);
    } else {
        struct df_ast *ast =
            parse_text(c, id, json_string_value(json_object_get(rec, "dockerfile")));
        if (!ast)
            return;
        in = first_instr(ast, &err);
        bool spanned = !err || (err->span.line == ast->nodes[0].span.line && err->span.file);
        df_ast_free(ast);
        if (!spanned) {
            cf_result(c, id, false, "error without the instruction's span: %s", err->msg);
            sw_error_free(err);
            df_instr_free(in);
            return;
        }
    }
    cf_result(c, id, !in && error_matches(err, rec), "want error \"%s\", got \"%s\"",
              json_string_value(json_object_get(rec, "expect_error")),
              err && err->msg ? err->msg : "(success)");
    df_instr_free(in);
    sw_error_free(err);
}

/* ---- instruction-misc ------------------------------------------------------------------------ */

static void
misc_health_node(struct cf_ctx *c, const char *id, json_t *rec)
{
    struct df_node n;
    struct df_instr *in = NULL;
    struct sw_error *err = NULL;
    node_from_json(&n, json_object_get(rec, "node"));
    n.json = json_is_true(json_object_get(json_object_get(rec, "attributes"), "json"));
    int r = df_instr_from_node(&in, &n, &err);
    json_t *want = json_object_get(json_object_get(rec, "expect"), "Health.Test");
    cf_result(c, id,
              r == 0 && in->kind == DF_HEALTHCHECK &&
                  cf_strv_equals_json(in->u.health.test.v, NULL, in->u.health.test.n, want),
              "Health.Test differs (%s)", err ? err->msg : "parsed");
    df_instr_free(in);
    df_node_clear(&n);
    sw_error_free(err);
}

static void
misc_interval(struct cf_ctx *c, const char *id, json_t *rec)
{
    int64_t ns = -1;
    struct sw_error *err = NULL;
    int r = df_parse_opt_interval(&ns, json_string_value(json_object_get(rec, "flag")),
                                  json_string_value(json_object_get(rec, "value")), &err);
    const char *want = json_string_value(json_object_get(rec, "expect_error_contains"));
    if (want)
        cf_result(c, id, r < 0 && strstr(err->msg, want), "want error containing \"%s\", got %s",
                  want, err ? err->msg : "success");
    else
        cf_result(c, id, r == 0, "want success, got %s", err ? err->msg : "?");
    sw_error_free(err);
}

static void
misc_flags_used(struct cf_ctx *c, const char *id, json_t *rec)
{
    struct df_ast *ast = parse_text(c, id, json_string_value(json_object_get(rec, "dockerfile")));
    if (!ast)
        return;
    struct sw_error *err = NULL;
    struct df_instr *in = first_instr(ast, &err);
    json_t *exp = json_object_get(rec, "expect");
    bool ok = in && !strcmp(json_string_value(json_object_get(exp, "type")), "RunCommand") &&
              in->kind == DF_RUN &&
              cf_strv_equals_json(in->flags_used.v, NULL, in->flags_used.n,
                                  json_object_get(exp, "FlagsUsed"));
    cf_result(c, id, ok, "FlagsUsed differs (%s)", err ? err->msg : "parsed");
    df_instr_free(in);
    df_ast_free(ast);
    sw_error_free(err);
}

static void
misc_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    if (json_object_get(rec, "node"))
        misc_health_node(c, id, rec);
    else if (json_object_get(rec, "func"))
        misc_interval(c, id, rec);
    else
        misc_flags_used(c, id, rec);
}

/* ---- doc-comments ---------------------------------------------------------------------------- */

struct doc_model {
    struct df_instr **meta; /* ARGs before the first FROM */
    size_t nmeta;
    struct df_instr **stages; /* FROMs */
    size_t nstages;
    struct df_instr ***cmds; /* per stage */
    size_t *ncmds;
    struct df_instr **all;
    size_t nall;
};

static void
doc_model_free(struct doc_model *m)
{
    for (size_t i = 0; i < m->nall; i++)
        df_instr_free(m->all[i]);
    for (size_t i = 0; i < m->nstages; i++)
        free(m->cmds[i]);
    free(m->all);
    free(m->meta);
    free(m->stages);
    free(m->cmds);
    free(m->ncmds);
}

static bool
doc_model_build(struct doc_model *m, struct df_ast *ast)
{
    memset(m, 0, sizeof *m);
    m->all = calloc(ast->nnodes, sizeof *m->all);
    m->meta = calloc(ast->nnodes, sizeof *m->meta);
    m->stages = calloc(ast->nnodes, sizeof *m->stages);
    m->cmds = calloc(ast->nnodes, sizeof *m->cmds);
    m->ncmds = calloc(ast->nnodes, sizeof *m->ncmds);
    for (size_t i = 0; i < ast->nnodes; i++) {
        struct df_instr *in = NULL;
        struct sw_error *err = NULL;
        if (df_instr_from_node(&in, &ast->nodes[i], &err) < 0) {
            sw_error_free(err);
            return false;
        }
        m->all[m->nall++] = in;
        if (in->kind == DF_FROM) {
            m->cmds[m->nstages] = calloc(ast->nnodes, sizeof **m->cmds);
            m->stages[m->nstages++] = in;
        } else if (m->nstages == 0 && in->kind == DF_ARG) {
            m->meta[m->nmeta++] = in;
        } else if (m->nstages > 0) {
            size_t s = m->nstages - 1;
            m->cmds[s][m->ncmds[s]++] = in;
        }
    }
    return true;
}

static const struct df_arg_pair *
doc_arg(struct df_instr *in, size_t k)
{
    return in && in->kind == DF_ARG && k < in->u.arg.n ? &in->u.arg.v[k] : NULL;
}

/* One "path": expected-value pair of the record. */
static bool
doc_check(const struct doc_model *m, const char *key, json_t *want)
{
    size_t i, j, k;
    char field[32];
    if (sscanf(key, "stages[%zu].DocComment", &i) == 1 && strstr(key, "Commands") == NULL)
        return i < m->nstages && !strcmp(m->stages[i]->u.from.doc, json_string_value(want));
    if (sscanf(key, "metaArgs[%zu].Args[%zu].%31s", &i, &k, field) == 3) {
        const struct df_arg_pair *a = i < m->nmeta ? doc_arg(m->meta[i], k) : NULL;
        const char *got = !a ? NULL : !strcmp(field, "Key") ? a->key : a->doc;
        return got && !strcmp(got, json_string_value(want));
    }
    if (sscanf(key, "stages[%zu].Commands[%zu].Args[%zu]", &i, &j, &k) == 3) {
        const struct df_arg_pair *a =
            i < m->nstages && j < m->ncmds[i] ? doc_arg(m->cmds[i][j], k) : NULL;
        return a && !strcmp(a->key, json_string_value(json_object_get(want, "Key"))) &&
               !strcmp(a->doc, json_string_value(json_object_get(want, "DocComment")));
    }
    return false;
}

static void
doc_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct df_ast *ast = parse_text(c, id, json_string_value(json_object_get(rec, "dockerfile")));
    if (!ast)
        return;
    struct doc_model m;
    bool ok = doc_model_build(&m, ast);
    const char *bad = NULL;
    const char *key;
    json_t *want;
    json_object_foreach(json_object_get(rec, "expect"), key, want)
    {
        if (ok && !doc_check(&m, key, want)) {
            ok = false;
            bad = key;
        }
    }
    cf_result(c, id, ok, "doc comment %s differs", bad ? bad : "(instructions did not parse)");
    doc_model_free(&m);
    df_ast_free(ast);
}

/* ---- copy-heredoc, run-heredoc --------------------------------------------------------------- */

static bool
contents_eq(const struct df_copy *cp, json_t *want)
{
    if (json_is_null(want))
        return cp->ncontents == 0;
    if (json_array_size(want) != cp->ncontents)
        return false;
    for (size_t i = 0; i < cp->ncontents; i++) {
        json_t *w = json_array_get(want, i);
        if (strcmp(cp->contents[i].path, json_string_value(json_object_get(w, "Path"))) ||
            strcmp(cp->contents[i].data, json_string_value(json_object_get(w, "Data"))) ||
            cp->contents[i].expand != json_is_true(json_object_get(w, "Expand")))
            return false;
    }
    return true;
}

static void
copy_heredoc_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct df_ast *ast = parse_text(c, id, json_string_value(json_object_get(rec, "dockerfile")));
    if (!ast)
        return;
    struct sw_error *err = NULL;
    struct df_instr *in = first_instr(ast, &err);
    json_t *exp = json_object_get(rec, "expect");
    bool ok = in && in->kind == DF_COPY &&
              !strcmp(in->u.copy.dest, json_string_value(json_object_get(exp, "DestPath"))) &&
              cf_strv_equals_json(in->u.copy.src_paths.v, NULL, in->u.copy.src_paths.n,
                                  json_object_get(exp, "SourcePaths")) &&
              contents_eq(&in->u.copy, json_object_get(exp, "SourceContents"));
    cf_result(c, id, ok, "COPY sources differ (%s)", err ? err->msg : "parsed");
    df_instr_free(in);
    df_ast_free(ast);
    sw_error_free(err);
}

static bool
files_eq(const struct df_run *run, json_t *want)
{
    if (json_is_null(want))
        return run->nfiles == 0;
    if (json_array_size(want) != run->nfiles)
        return false;
    for (size_t i = 0; i < run->nfiles; i++) {
        json_t *w = json_array_get(want, i);
        if (strcmp(run->files[i].name, json_string_value(json_object_get(w, "Name"))) ||
            strcmp(run->files[i].data, json_string_value(json_object_get(w, "Data"))) ||
            run->files[i].chomp != json_is_true(json_object_get(w, "Chomp")))
            return false;
    }
    return true;
}

static void
run_heredoc_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct df_ast *ast = parse_text(c, id, json_string_value(json_object_get(rec, "dockerfile")));
    if (!ast)
        return;
    struct sw_error *err = NULL;
    struct df_instr *in = first_instr(ast, &err);
    json_t *exp = json_object_get(rec, "expect");
    bool ok = in && in->kind == DF_RUN &&
              in->u.run.prepend_shell == json_is_true(json_object_get(exp, "PrependShell")) &&
              cf_strv_equals_json(in->u.run.cmdline.v, NULL, in->u.run.cmdline.n,
                                  json_object_get(exp, "CmdLine")) &&
              files_eq(&in->u.run, json_object_get(exp, "Files"));
    cf_result(c, id, ok, "RUN differs (%s)", err ? err->msg : "parsed");
    df_instr_free(in);
    df_ast_free(ast);
    sw_error_free(err);
}

/* ---- run-device, handle-json-args ------------------------------------------------------------ */

static void
device_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct df_device d = {0};
    struct sw_error *err = NULL;
    int r = df_device_parse(&d, json_string_value(json_object_get(rec, "input")), &err);
    const char *want_err = json_string_value(json_object_get(rec, "expect_error"));
    json_t *exp = json_object_get(rec, "expect");
    if (want_err)
        cf_result(c, id, r < 0 && strstr(err->msg, want_err), "want error \"%s\", got %s", want_err,
                  err ? err->msg : "success");
    else
        cf_result(c, id,
                  r == 0 && d.name &&
                      !strcmp(d.name, json_string_value(json_object_get(exp, "Name"))) &&
                      d.required == json_is_true(json_object_get(exp, "Required")),
                  "device differs: name=%s required=%d (%s)", d.name ? d.name : "(null)",
                  d.required, err ? err->msg : "ok");
    df_device_clear(&d);
    sw_error_free(err);
}

static void
json_args_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct sw_strv args = {0}, out = {0};
    cf_strv_from_json(&args, json_object_get(rec, "args"));
    int r = df_handle_json_args(&out, args.v, args.n, json_is_true(json_object_get(rec, "json")));
    cf_result(c, id,
              r == 0 && cf_strv_equals_json(out.v, NULL, out.n, json_object_get(rec, "expect")),
              "handleJSONArgs differs");
    sw_strv_free(&args);
    sw_strv_free(&out);
}

/* ---- bflags ---------------------------------------------------------------------------------- */

static int
bflags_define(struct df_bflags *bf, json_t *defs)
{
    for (size_t i = 0; i < json_array_size(defs); i++) {
        json_t *d = json_array_get(defs, i);
        const char *name = json_string_value(json_array_get(d, 0));
        const char *type = json_string_value(json_array_get(d, 1));
        json_t *def = json_array_get(d, 2);
        enum df_flag_type t = !strcmp(type, "bool")      ? DF_FLAG_BOOL
                              : !strcmp(type, "strings") ? DF_FLAG_STRINGS
                                                         : DF_FLAG_STRING;
        const char *dv =
            json_is_boolean(def) ? (json_is_true(def) ? "true" : "false") : json_string_value(def);
        struct sw_error *err = NULL;
        int r = df_bflags_add(bf, name, t, dv, &err);
        sw_error_free(err);
        if (r < 0)
            return r;
    }
    return 0;
}

static bool
bflags_values_ok(const struct df_bflags *bf, json_t *values)
{
    const char *key;
    json_t *v;
    json_object_foreach(values, key, v)
    {
        const struct df_flag *f = df_bflags_get(bf, key);
        if (!f || !f->value || strcmp(f->value, json_string_value(v)))
            return false;
    }
    return true;
}

/* Go's Used() has no order: compare as sets. */
static bool
bflags_used_ok(const struct df_bflags *bf, json_t *used)
{
    if (!used)
        return true;
    if (json_array_size(used) != bf->used.n)
        return false;
    for (size_t i = 0; i < json_array_size(used); i++) {
        const struct df_flag *f = df_bflags_get(bf, json_string_value(json_array_get(used, i)));
        if (!f || !f->used)
            return false;
    }
    return true;
}

static void
bflags_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct df_bflags bf = {0};
    struct sw_strv args = {0};
    struct sw_error *err = NULL;
    cf_strv_from_json(&args, json_object_get(rec, "args"));
    int r = bflags_define(&bf, json_object_get(rec, "defs"));
    if (r == 0)
        r = df_bflags_parse(&bf, args.v, args.n, &err);
    if (json_is_true(json_object_get(rec, "expect_error")))
        cf_result(c, id, r < 0, "want an error, parse succeeded");
    else
        cf_result(c, id,
                  r == 0 && bflags_values_ok(&bf, json_object_get(rec, "expect_values")) &&
                      bflags_used_ok(&bf, json_object_get(rec, "expect_used")),
                  "flags differ (%s)", err ? err->msg : "parsed");
    df_bflags_free(&bf);
    sw_strv_free(&args);
    sw_error_free(err);
}

/* ---- the data sets --------------------------------------------------------------------------- */

void
cf_run_instructions(struct cf_ctx *c)
{
    static const struct {
        const char *name;
        void (*fn)(struct cf_ctx *, const char *, json_t *, void *);
    } sets[] = {
        {"instruction-errors", errors_rec},  {"instruction-misc", misc_rec},
        {"doc-comments", doc_rec},           {"copy-heredoc", copy_heredoc_rec},
        {"run-heredoc", run_heredoc_rec},    {"run-device", device_rec},
        {"handle-json-args", json_args_rec}, {"bflags", bflags_rec},
    };
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        char set[128], rel[160];
        snprintf(set, sizeof set, "buildkit-instructions/%s", sets[i].name);
        snprintf(rel, sizeof rel, "%s.jsonl", set);
        cf_begin(c, set);
        cf_jsonl(c, rel, sets[i].fn, NULL);
        cf_end(c);
    }
}
