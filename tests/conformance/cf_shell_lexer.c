/*
 * tests/conformance/cf_shell_lexer.c: the shell-lexer data sets (BuildKit
 * frontend/dockerfile/shell) against builder/dockerfile/expand.c. Formats: corpus README section 2.
 *
 * Every record is evaluated. envVarTest's `W` lines (Windows only: env keys are case-insensitive
 * there) run with a case-insensitive environment, as BuildKit on Windows would.
 * pattern-helpers.jsonl maps onto real functions: convertShellPatternToRegex onto df_glob_compile
 * (the compiled tokens are rendered in Go regexp syntax here and compared with the expected
 * regexp), reversePattern onto df_glob_reverse and reverseString onto df_utf8_reverse, which
 * ${V%p} and ${V%%p} use.
 */
#include "cf.h"

#include "dockerfile/expand.h"
#include "util/buf.h"
#include "util/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------------------------- */

/* Go strings.TrimSpace for the ASCII spaces the data files use; returns the new start. */
static char *
trim_space(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Does the sorted list equal the JSON array of strings? */
static bool
names_equal(struct sw_strv *got, json_t *want)
{
    if (!json_is_array(want) || json_array_size(want) != got->n)
        return false;
    if (got->n)
        qsort(got->v, got->n, sizeof *got->v, cmp_str);
    for (size_t i = 0; i < got->n; i++) {
        const char *w = json_string_value(json_array_get(want, i));
        if (!w || strcmp(w, got->v[i]) != 0)
            return false;
    }
    return true;
}

static char *
join_names(const struct sw_strv *sv)
{
    struct sw_buf b = {0};
    sw_buf_putc(&b, '[');
    for (size_t i = 0; i < sv->n; i++)
        sw_buf_printf(&b, "%s%s", i ? " " : "", sv->v[i]);
    sw_buf_putc(&b, ']');
    return sw_buf_detach(&b);
}

/* Report a ProcessWord result against "expected" (the string "error" means: must fail). */
static void
check_word(struct cf_ctx *c, const char *id, const char *input, const char *expected, int r,
           const char *got, const struct sw_error *err)
{
    bool want_error = strcmp(expected, "error") == 0;
    if (want_error) {
        cf_result(c, id, r < 0, "%s: expected an error, got \"%s\"", input, got ? got : "");
    } else if (r < 0) {
        cf_result(c, id, false, "%s: unexpected error: %s", input, err ? err->msg : "?");
    } else {
        char *q = cf_quote(got, strlen(got)), *w = cf_quote(expected, strlen(expected));
        cf_result(c, id, strcmp(got, expected) == 0, "%s: got %s, want %s", input, q, w);
        free(q);
        free(w);
    }
}

/* ---- envVarTest ------------------------------------------------------------------------------ */

static void
env_var_line(struct cf_ctx *c, const char *id, char *line, struct df_env *env)
{
    char *f[3];
    size_t nf = 0;
    for (char *p = line; nf < 3; nf++) {
        f[nf] = p;
        char *bar = strchr(p, '|');
        if (!bar) {
            nf++;
            break;
        }
        *bar = '\0';
        p = bar + 1;
    }
    if (nf != 3 || strchr(f[2], '|')) {
        cf_result(c, id, false, "malformed line: expected exactly 3 fields");
        return;
    }
    const char *platform = trim_space(f[0]), *input = trim_space(f[1]);
    const char *expected = trim_space(f[2]);
    if (strcmp(platform, "A") && strcmp(platform, "U") && strcmp(platform, "W")) {
        cf_result(c, id, false, "unknown platform '%s'", platform);
        return;
    }
    env->case_insensitive = strcmp(platform, "W") == 0;
    struct df_expand_opts opts = {.escape = '\\'};
    struct sw_error *err = NULL;
    char *got = NULL;
    int r = df_expand_word(&got, input, env, &opts, NULL, NULL, &err);
    check_word(c, id, input, expected, r, got, err);
    free(got);
    sw_error_free(err);
}

static void
run_env_var_test(struct cf_ctx *c)
{
    cf_begin(c, "shell-lexer/envVarTest");
    char *data = cf_read(c, "shell-lexer/envVarTest", NULL);
    if (data) {
        struct df_env env = {0};
        df_env_set(&env, "PWD", "/home");
        df_env_set(&env, "SHELL", "bash");
        df_env_set(&env, "KOREAN", "한국어");
        df_env_set(&env, "NULL", "");
        unsigned lineno = 0;
        for (char *line = data, *nl; line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            lineno++;
            if (line[0] == '#')
                continue;
            char *t = trim_space(line);
            if (!*t)
                continue;
            char id[64];
            snprintf(id, sizeof id, "envVarTest:%u", lineno);
            env_var_line(c, id, t, &env);
        }
        df_env_free(&env);
        free(data);
    }
    cf_end(c);
}

/* ---- wordsTest ------------------------------------------------------------------------------- */

static void
words_line(struct cf_ctx *c, const char *id, char *line, struct df_env *env)
{
    char *bar = strchr(line, '|');
    if (!bar || strchr(bar + 1, '|')) {
        cf_result(c, id, false, "malformed line: expected exactly one '|'");
        return;
    }
    *bar = '\0';
    const char *input = trim_space(line);
    char *expected = bar + 1;
    while (*expected == ' ')
        expected++;

    struct sw_strv got = {0};
    struct sw_error *err = NULL;
    struct df_expand_opts opts = {.escape = '\\'};
    if (df_expand_words(&got, input, env, &opts, &err) < 0) {
        sw_strv_free(&got);
        sw_strv_push(&got, "error");
    }
    struct sw_buf joined = {0};
    for (size_t i = 0; i < got.n; i++) {
        if (i)
            sw_buf_putc(&joined, ',');
        sw_buf_puts(&joined, got.v[i]);
    }
    /* the expected list is the right side split on ','; no word contains ',' */
    bool ok = strcmp(sw_buf_cstr(&joined), expected) == 0;
    for (size_t i = 0; ok && i < got.n; i++)
        ok = strchr(got.v[i], ',') == NULL;
    char *q = cf_quote(sw_buf_cstr(&joined), joined.len);
    cf_result(c, id, ok, "%s: got %s, want \"%s\"%s%s", input, q, expected, err ? " error: " : "",
              err ? err->msg : "");
    free(q);
    sw_buf_free(&joined);
    sw_strv_free(&got);
    sw_error_free(err);
}

static void
run_words_test(struct cf_ctx *c)
{
    cf_begin(c, "shell-lexer/wordsTest");
    char *data = cf_read(c, "shell-lexer/wordsTest", NULL);
    if (data) {
        struct df_env env = {0};
        unsigned lineno = 0;
        for (char *line = data, *nl; line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            lineno++;
            if (line[0] == '#' || !*line)
                continue;
            if (strncmp(line, "ENV ", 4) == 0) {
                const char *kv = line + 3;
                while (*kv == ' ')
                    kv++;
                sw_strv_push(&env.kv, kv); /* appended as is: later entries win */
                continue;
            }
            char id[64];
            snprintf(id, sizeof id, "wordsTest:%u", lineno);
            words_line(c, id, line, &env);
        }
        df_env_free(&env);
        free(data);
    }
    cf_end(c);
}

/* ---- JSONL: ProcessWordWithMatches-style records --------------------------------------------- */

static bool
env_from_object(struct df_env *env, json_t *obj)
{
    if (!json_is_object(obj))
        return false;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (!json_is_string(v) || df_env_set(env, k, json_string_value(v)) < 0)
            return false;
    }
    return true;
}

/* Records with input, env and one of expect (+ matched/unmatched), expect_error,
 * expect_error_contains. */
static void
word_record(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    (void)payload;
    const char *input = json_string_value(json_object_get(rec, "input"));
    const char *expect = json_string_value(json_object_get(rec, "expect"));
    const char *contains = json_string_value(json_object_get(rec, "expect_error_contains"));
    bool want_error = json_is_true(json_object_get(rec, "expect_error")) || contains;
    struct df_env env = {0};
    if (!input || (!expect && !want_error) || !env_from_object(&env, json_object_get(rec, "env"))) {
        cf_result(c, id, false, "record without input, env or expectation");
        df_env_free(&env);
        return;
    }
    struct sw_strv matched = {0}, unmatched = {0};
    struct sw_error *err = NULL;
    char *got = NULL;
    struct df_expand_opts opts = {.escape = '\\'};
    int r = df_expand_word(&got, input, &env, &opts, &matched, &unmatched, &err);
    if (want_error) {
        bool ok = r < 0 && (!contains || strstr(err->msg, contains));
        cf_result(c, id, ok, "%s: expected an error%s%s, got %s", input,
                  contains ? " containing " : "", contains ? contains : "", r < 0 ? err->msg : got);
    } else if (r < 0) {
        cf_result(c, id, false, "%s: unexpected error: %s", input, err->msg);
    } else {
        json_t *wm = json_object_get(rec, "matched"), *wu = json_object_get(rec, "unmatched");
        bool ok = strcmp(got, expect) == 0 && (!wm || names_equal(&matched, wm)) &&
                  (!wu || names_equal(&unmatched, wu));
        char *m = join_names(&matched), *u = join_names(&unmatched);
        cf_result(c, id, ok, "%s: got \"%s\" matched %s unmatched %s, want \"%s\"", input, got, m,
                  u, expect);
        free(m);
        free(u);
    }
    free(got);
    sw_error_free(err);
    sw_strv_free(&matched);
    sw_strv_free(&unmatched);
    df_env_free(&env);
}

/* ---- env-list-lookup ------------------------------------------------------------------------- */

static bool
list_has_key(json_t *list, const char *key)
{
    size_t i, klen = strlen(key);
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *s = json_string_value(e);
        if (s && strncmp(s, key, klen) == 0 && (s[klen] == '\0' || s[klen] == '='))
            return true;
    }
    return false;
}

static void
env_list_record(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    (void)payload;
    json_t *list = json_object_get(rec, "env_list");
    const char *key = json_string_value(json_object_get(rec, "lookup"));
    const char *expect = json_string_value(json_object_get(rec, "expect"));
    if (!json_is_array(list) || !key || !expect) {
        cf_result(c, id, false, "record without env_list, lookup or expect");
        return;
    }
    struct df_env env = {0};
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) sw_strv_push(&env.kv, json_string_value(e));
    const char *got = df_env_get(&env, key, strlen(key));
    bool want_set = list_has_key(list, key);
    bool ok = strcmp(got ? got : "", expect) == 0 && (got != NULL) == want_set;
    cf_result(c, id, ok, "lookup %s: got %s%s%s, want \"%s\" (%s)", key, got ? "\"" : "",
              got ? got : "unset", got ? "\"" : "", expect, want_set ? "set" : "unset");
    df_env_free(&env);
}

/* ---- pattern-helpers ------------------------------------------------------------------------- */

/* Render compiled glob tokens as the Go regexp BuildKit would build. */
static char *
glob_to_regexp(const struct df_glob *g, bool greedy, bool anchored)
{
    struct sw_buf b = {0};
    if (anchored)
        sw_buf_putc(&b, '^');
    for (size_t i = 0; i < g->n; i++) {
        const struct df_glob_tok *t = &g->tok[i];
        if (t->op == DF_GLOB_STAR)
            sw_buf_puts(&b, greedy ? ".*" : ".*?");
        else if (t->op == DF_GLOB_ANY)
            sw_buf_putc(&b, '.');
        else {
            if (t->len == 1 && strchr("*?\\[]{}.+()|^$", t->ch[0]))
                sw_buf_putc(&b, '\\');
            sw_buf_append(&b, t->ch, t->len);
        }
    }
    return sw_buf_detach(&b);
}

static void
regexp_record(struct cf_ctx *c, const char *id, const char *func, const char *input, json_t *rec)
{
    bool greedy = strstr(func, "greedy=true") != NULL;
    bool anchored = strstr(func, "anchored=true") != NULL;
    const char *want = json_string_value(json_object_get(rec, "expect_regexp"));
    bool want_error = json_is_true(json_object_get(rec, "expect_error"));
    struct df_glob g;
    struct sw_error *err = NULL;
    int r = df_glob_compile(&g, input, strlen(input), &err);
    if (want_error || !want) {
        cf_result(c, id, want_error && r < 0, "%s: expected a compile error", input);
    } else if (r < 0) {
        cf_result(c, id, false, "%s: unexpected error: %s", input, err->msg);
    } else {
        char *got = glob_to_regexp(&g, greedy, anchored);
        cf_result(c, id, strcmp(got, want) == 0, "%s: got %s, want %s", input, got, want);
        free(got);
    }
    if (r >= 0)
        df_glob_free(&g);
    sw_error_free(err);
}

static void
pattern_record(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    (void)payload;
    const char *func = json_string_value(json_object_get(rec, "func"));
    const char *input = json_string_value(json_object_get(rec, "input"));
    const char *expect = json_string_value(json_object_get(rec, "expect"));
    if (!func || !input) {
        cf_result(c, id, false, "record without func or input");
        return;
    }
    if (strncmp(func, "convertShellPatternToRegex(", 27) == 0) {
        regexp_record(c, id, func, input, rec);
        return;
    }
    char *got = NULL;
    if (strcmp(func, "reversePattern") == 0)
        got = df_glob_reverse(input);
    else if (strcmp(func, "reverseString") == 0)
        got = df_utf8_reverse(input);
    if (!got || !expect)
        cf_result(c, id, false, "%s: unknown helper or no expectation", func);
    else
        cf_result(c, id, strcmp(got, expect) == 0, "%s(%s): got %s, want %s", func, input, got,
                  expect);
    free(got);
}

/* ---- the module ------------------------------------------------------------------------------ */

static void
run_jsonl(struct cf_ctx *c, const char *set, const char *file,
          void (*fn)(struct cf_ctx *, const char *, json_t *, void *))
{
    cf_begin(c, set);
    cf_jsonl(c, file, fn, NULL);
    cf_end(c);
}

void
cf_run_shell_lexer(struct cf_ctx *c)
{
    run_env_var_test(c);
    run_words_test(c);
    run_jsonl(c, "shell-lexer/process-word-with-matches",
              "shell-lexer/process-word-with-matches.jsonl", word_record);
    run_jsonl(c, "shell-lexer/mandatory-vars", "shell-lexer/mandatory-vars.jsonl", word_record);
    run_jsonl(c, "shell-lexer/platform-release-name", "shell-lexer/platform-release-name.jsonl",
              word_record);
    run_jsonl(c, "shell-lexer/env-list-lookup", "shell-lexer/env-list-lookup.jsonl",
              env_list_record);
    run_jsonl(c, "shell-lexer/pattern-helpers", "shell-lexer/pattern-helpers.jsonl",
              pattern_record);
}
