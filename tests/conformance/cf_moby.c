/*
 * Conformance: moby-classic-builder/build-args.jsonl (README section 8): how build args merge
 * with global and stage ARGs, and which unused ones are warned about. Each record becomes a
 * Dockerfile that is resolved by the stage resolver.
 * git-context-urls.jsonl and add-url-filename.jsonl belong to the git and HTTP sources and are
 * run by their modules when those land.
 */
#include "cf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/parser.h"
#include "dockerfile/stages.h"
#include "util/buf.h"

static void
args_lines(struct sw_buf *df, json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *pair = json_array_get(list, i);
        json_t *v = json_array_get(pair, 1);
        if (json_is_string(v))
            sw_buf_printf(df, "ARG %s=%s\n", json_string_value(json_array_get(pair, 0)),
                          json_string_value(v));
        else
            sw_buf_printf(df, "ARG %s\n", json_string_value(json_array_get(pair, 0)));
    }
}

/* Compare a "k=v" list with the expected object exactly (same keys, same values). */
static bool
kv_equals(const struct sw_strv *got, json_t *want, struct sw_buf *why)
{
    size_t n = 0;
    for (size_t i = 0; i < got->n; i++) {
        const char *eq = strchr(got->v[i], '=');
        char *k = strndup(got->v[i], (size_t)(eq - got->v[i]));
        json_t *w = json_object_get(want, k);
        if (!w || strcmp(json_string_value(w), eq + 1))
            sw_buf_printf(why, " unexpected %s;", got->v[i]);
        else
            n++;
        free(k);
    }
    if (n != json_object_size(want))
        sw_buf_printf(why, " %zu of %zu expected entries;", n, json_object_size(want));
    return why->len == 0;
}

static void
build_args_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    const char *func = json_string_value(json_object_get(rec, "func"));
    struct sw_buf df = {0}, why = {0};
    args_lines(&df, json_object_get(rec, "meta_args"));
    sw_buf_puts(&df, "FROM scratch\n");
    args_lines(&df, json_object_get(rec, "stage_args"));
    struct sw_strv cli = {0};
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(rec, "cli_build_args"), k, v)
    {
        char *kv = NULL;
        if (asprintf(&kv, "%s=%s", k, json_string_value(v)) >= 0)
            sw_strv_push_owned(&cli, kv);
    }
    struct df_ast *ast = NULL;
    struct df_build *b = NULL;
    struct sw_error *err = NULL;
    struct df_build_opts o = {.build_args = cli.v, .nbuild_args = cli.n};
    if (df_parse(&ast, df.data, df.len, "Dockerfile", &err) < 0 ||
        df_build_resolve(&b, ast, &o, &err) < 0) {
        cf_result(c, id, false, "resolve failed: %s", err->msg);
        goto out;
    }
    struct sw_strv got = {0};
    if (!strcmp(func, "GetAllAllowed")) {
        for (size_t i = 0; i < b->stages[0].args.n; i++)
            sw_strv_push(&got, b->stages[0].args.v[i]);
    } else if (!strcmp(func, "GetAllMeta")) {
        for (size_t i = 0; i < b->nmeta; i++) {
            if (!b->meta[i].span.file || !b->meta[i].value)
                continue; /* the automatic platform ARGs, and ARGs without a value */
            char *kv = NULL;
            if (asprintf(&kv, "%s=%s", b->meta[i].key, b->meta[i].value) >= 0)
                sw_strv_push_owned(&got, kv);
        }
    }
    if (!strcmp(func, "WarnOnUnusedBuildArgs")) {
        struct sw_buf all = {0};
        for (size_t i = 0; i < b->nwarnings; i++)
            if (!strcmp(b->warnings[i].rule, "UnusedBuildArg"))
                sw_buf_printf(&all, "%s\n", b->warnings[i].msg);
        json_t *m;
        size_t i;
        json_array_foreach(json_object_get(rec, "expect_warning_mentions"), i,
                           m) if (!strstr(sw_buf_cstr(&all), json_string_value(m)))
            sw_buf_printf(&why, " no warning about %s;", json_string_value(m));
        json_array_foreach(json_object_get(rec, "expect_warning_not_mentions"), i, m)
        {
            /* match whole names: "[A B]" list items */
            const char *text = sw_buf_cstr(&all);
            const char *name = json_string_value(m);
            size_t nl = strlen(name);
            for (const char *p = strstr(text, name); p; p = strstr(p + 1, name))
                if ((p[-1] == '[' || p[-1] == ' ') && (p[nl] == ']' || p[nl] == ' '))
                    sw_buf_printf(&why, " warned about %s;", name);
        }
        cf_result(c, id, why.len == 0, "%s", sw_buf_cstr(&why));
        sw_buf_free(&all);
    } else {
        for (size_t i = 0; i < b->proxy_args.n; i++)
            sw_strv_push(&got, b->proxy_args.v[i]);
        cf_result(c, id, kv_equals(&got, json_object_get(rec, "expect"), &why), "%s",
                  sw_buf_cstr(&why));
    }
    sw_strv_free(&got);
out:
    df_build_free(b);
    df_ast_free(ast);
    sw_error_free(err);
    sw_strv_free(&cli);
    sw_buf_free(&df);
    sw_buf_free(&why);
}

void
cf_run_moby(struct cf_ctx *c)
{
    cf_begin(c, "moby-classic-builder/build-args");
    cf_jsonl(c, "moby-classic-builder/build-args.jsonl", build_args_rec, NULL);
    cf_end(c);
}
