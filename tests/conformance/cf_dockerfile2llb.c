/*
 * Conformance: buildkit-dockerfile2llb/ (README section 4): EXPOSE port specs, the env helpers
 * (addEnv, parseKeyValue, toEnvMap, proxy build args, SOURCE_DATE_EPOCH) and the HEALTHCHECK
 * history text.
 *
 * convert.jsonl (whole-Dockerfile conversion) runs through the parser and the stage resolver.
 */
#include "cf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/instructions.h"
#include "dockerfile/stages.h"

/* ---- expose-ports ---------------------------------------------------------------------------- */

static void
expose_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    struct sw_strv specs = {0}, out = {0};
    struct sw_error *err = NULL;
    const char *func = json_string_value(json_object_get(rec, "func"));
    int r;
    if (!strcmp(func, "parsePort")) {
        r = df_parse_port_spec(&out, json_string_value(json_object_get(rec, "spec")), &err);
    } else {
        cf_strv_from_json(&specs, json_object_get(rec, "specs"));
        r = df_parse_port_specs(&out, specs.v, specs.n, &err);
    }
    json_t *want_err = json_object_get(rec, "expect_error");
    if (json_is_string(want_err)) {
        const char *w = json_string_value(want_err);
        const char *match = json_string_value(json_object_get(rec, "match"));
        bool exact = match && !strcmp(match, "exact");
        cf_result(c, id, r < 0 && (exact ? !strcmp(err->msg, w) : strstr(err->msg, w) != NULL),
                  "want error \"%s\", got \"%s\"", w, err ? err->msg : "success");
    } else if (want_err) {
        cf_result(c, id, r < 0, "want an error, got %zu ports", out.n);
    } else {
        cf_result(c, id,
                  r == 0 && cf_strv_equals_json(out.v, NULL, out.n, json_object_get(rec, "expect")),
                  "ports differ (%s)", err ? err->msg : "parsed");
    }
    sw_strv_free(&specs);
    sw_strv_free(&out);
    sw_error_free(err);
}

/* ---- env-helpers ----------------------------------------------------------------------------- */

static void
add_env_rec(struct cf_ctx *c, const char *id, json_t *rec)
{
    struct sw_strv env = {0};
    cf_strv_from_json(&env, json_object_get(rec, "env"));
    int r = df_env_list_add(&env, json_string_value(json_object_get(rec, "k")),
                            json_string_value(json_object_get(rec, "v")));
    cf_result(c, id,
              r == 0 && cf_strv_equals_json(env.v, NULL, env.n, json_object_get(rec, "expect")),
              "addEnv differs");
    sw_strv_free(&env);
}

static void
parse_kv_rec(struct cf_ctx *c, const char *id, json_t *rec)
{
    char *k = NULL, *v = NULL;
    json_t *exp = json_object_get(rec, "expect");
    int r = df_parse_key_value(&k, &v, json_string_value(json_object_get(rec, "input")));
    cf_result(c, id,
              r == 0 && !strcmp(k, json_string_value(json_array_get(exp, 0))) &&
                  !strcmp(v, json_string_value(json_array_get(exp, 1))),
              "parseKeyValue differs: %s / %s", k ? k : "", v ? v : "");
    free(k);
    free(v);
}

static bool
map_eq_json(const struct sw_strv *m, json_t *obj)
{
    if (json_object_size(obj) != m->n)
        return false;
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        bool found = false;
        size_t kl = strlen(key);
        for (size_t i = 0; i < m->n && !found; i++)
            found = !strncmp(m->v[i], key, kl) && m->v[i][kl] == '=' &&
                    !strcmp(m->v[i] + kl + 1, json_string_value(val));
        if (!found)
            return false;
    }
    return true;
}

static void
to_env_map_rec(struct cf_ctx *c, const char *id, json_t *rec)
{
    json_t *jargs = json_object_get(rec, "args");
    size_t n = json_array_size(jargs);
    struct df_arg_pair *args = calloc(n ? n : 1, sizeof *args);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(jargs, i);
        args[i].key = (char *)json_string_value(json_array_get(p, 0));
        args[i].value = (char *)json_string_value(json_array_get(p, 1)); /* NULL for null */
    }
    struct sw_strv env = {0}, out = {0};
    cf_strv_from_json(&env, json_object_get(rec, "env"));
    int r = df_env_to_map(&out, args, n, env.v, env.n);
    cf_result(c, id, r == 0 && map_eq_json(&out, json_object_get(rec, "expect")),
              "toEnvMap differs (%zu entries)", out.n);
    free(args);
    sw_strv_free(&env);
    sw_strv_free(&out);
}

static bool
proxy_field_ok(const char *got, json_t *exp, const char *name)
{
    const char *want = json_string_value(json_object_get(exp, name));
    return want ? got && !strcmp(got, want) : got == NULL;
}

static void
proxy_rec(struct cf_ctx *c, const char *id, json_t *rec)
{
    struct sw_strv args = {0};
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(rec, "build_args"), key, val)
    {
        char *kv = NULL;
        if (asprintf(&kv, "%s=%s", key, json_string_value(val)) >= 0)
            sw_strv_push_owned(&args, kv);
    }
    struct df_proxy_env p;
    int r = df_proxy_env_from_build_args(&p, args.v, args.n);
    json_t *exp = json_object_get(rec, "expect");
    bool ok;
    if (json_is_null(exp))
        ok = r == 0;
    else
        ok = r == 1 && proxy_field_ok(p.http_proxy, exp, "HTTPProxy") &&
             proxy_field_ok(p.https_proxy, exp, "HTTPSProxy") &&
             proxy_field_ok(p.ftp_proxy, exp, "FTPProxy") &&
             proxy_field_ok(p.no_proxy, exp, "NoProxy") &&
             proxy_field_ok(p.all_proxy, exp, "AllProxy");
    cf_result(c, id, ok, "proxy env differs (r=%d)", r);
    df_proxy_env_clear(&p);
    sw_strv_free(&args);
}

static void
sde_rec(struct cf_ctx *c, const char *id, json_t *rec)
{
    enum df_sde_kind kind;
    int64_t epoch = 0;
    struct sw_error *err = NULL;
    int r = df_source_date_epoch(&kind, &epoch, NULL,
                                 json_string_value(json_object_get(rec, "input")), NULL, 0, &err);
    const char *want_err = json_string_value(json_object_get(rec, "expect_error_contains"));
    json_t *exp = json_object_get(rec, "expect");
    if (want_err)
        cf_result(c, id, r < 0 && strstr(err->msg, want_err), "want error containing \"%s\"",
                  want_err);
    else if (json_is_null(exp))
        cf_result(c, id, r == 0 && kind != DF_SDE_TIME, "want no timestamp (r=%d)", r);
    else
        cf_result(c, id,
                  r == 0 && kind == DF_SDE_TIME &&
                      epoch == strtoll(json_string_value(exp), NULL, 10),
                  "want timestamp %s, got %lld", json_string_value(exp), (long long)epoch);
    sw_error_free(err);
}

static void
env_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    const char *func = json_string_value(json_object_get(rec, "func"));
    if (!strcmp(func, "addEnv"))
        add_env_rec(c, id, rec);
    else if (!strcmp(func, "parseKeyValue"))
        parse_kv_rec(c, id, rec);
    else if (!strncmp(func, "toEnvMap", 8))
        to_env_map_rec(c, id, rec);
    else if (!strcmp(func, "proxyEnvFromBuildArgs"))
        proxy_rec(c, id, rec);
    else if (!strcmp(func, "resolveSourceDateEpochValue"))
        sde_rec(c, id, rec);
    else
        cf_result(c, id, false, "unknown func %s", func);
}

/* ---- healthcheck-history --------------------------------------------------------------------- */

static void
history_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    json_t *h = json_object_get(rec, "health");
    struct df_health hc = {0};
    struct sw_error *err = NULL;
    cf_strv_from_json(&hc.test, json_object_get(h, "Test"));
    int r = 0;
    const char *names[] = {"Interval", "Timeout", "StartPeriod", "StartInterval"};
    int64_t *slots[] = {&hc.interval, &hc.timeout, &hc.start_period, &hc.start_interval};
    for (size_t i = 0; r == 0 && i < 4; i++)
        r = df_parse_duration(slots[i], json_string_value(json_object_get(h, names[i])), &err);
    hc.retries = (int)json_integer_value(json_object_get(h, "Retries"));
    char *got = r == 0 ? df_health_history(&hc) : NULL;
    const char *want = json_string_value(json_object_get(rec, "expect_history_created_by"));
    cf_result(c, id, got && !strcmp(got, want), "got \"%s\"", got ? got : err->msg);
    free(got);
    sw_strv_free(&hc.test);
    sw_error_free(err);
}

/* convert.jsonl: a whole Dockerfile through the parser and the stage resolver. */
static void
convert_rec(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    (void)payload;
    const char *text = json_string_value(json_object_get(rec, "dockerfile"));
    const char *target = json_string_value(json_object_get(rec, "target"));
    json_t *want_err = json_object_get(rec, "expect_error");
    struct df_ast *ast = NULL;
    struct df_build *b = NULL;
    struct sw_error *err = NULL;
    struct df_build_opts o = {.target = target};
    int r = df_parse(&ast, text, strlen(text), "Dockerfile", &err);
    if (r == 0)
        r = df_build_resolve(&b, ast, &o, &err);
    if (want_err) {
        bool ok = r < 0 && err && err->span.file;
        if (ok && json_is_string(want_err))
            ok = !strcmp(json_string_value(json_object_get(rec, "match")), "exact")
                     ? !strcmp(err->msg, json_string_value(want_err))
                     : strstr(err->msg, json_string_value(want_err)) != NULL;
        cf_result(c, id, ok, "want an error, got %s", r < 0 ? err->msg : "success");
    } else if (r < 0) {
        cf_result(c, id, false, "conversion failed: %s", err->msg);
    } else {
        /* expect_image_config: "Labels.k": v of the target stage */
        bool ok = true;
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(rec, "expect_image_config"), key, v)
        {
            const struct df_stage *t = &b->stages[b->target];
            const char *label = strncmp(key, "Labels.", 7) == 0 ? key + 7 : NULL;
            const char *got = NULL;
            for (size_t i = 0; label && i < t->labels.n; i++) {
                size_t kl = strlen(label);
                if (!strncmp(t->labels.v[i], label, kl) && t->labels.v[i][kl] == '=')
                    got = t->labels.v[i] + kl + 1;
            }
            ok = ok && got && !strcmp(got, json_string_value(v));
        }
        cf_result(c, id, ok, "image config differs");
    }
    df_build_free(b);
    df_ast_free(ast);
    sw_error_free(err);
}

void
cf_run_dockerfile2llb(struct cf_ctx *c)
{
    cf_begin(c, "buildkit-dockerfile2llb/expose-ports");
    cf_jsonl(c, "buildkit-dockerfile2llb/expose-ports.jsonl", expose_rec, NULL);
    cf_end(c);
    cf_begin(c, "buildkit-dockerfile2llb/env-helpers");
    cf_jsonl(c, "buildkit-dockerfile2llb/env-helpers.jsonl", env_rec, NULL);
    cf_end(c);
    cf_begin(c, "buildkit-dockerfile2llb/healthcheck-history");
    cf_jsonl(c, "buildkit-dockerfile2llb/healthcheck-history.jsonl", history_rec, NULL);
    cf_end(c);
    cf_begin(c, "buildkit-dockerfile2llb/convert");
    cf_jsonl(c, "buildkit-dockerfile2llb/convert.jsonl", convert_rec, NULL);
    cf_end(c);
}
