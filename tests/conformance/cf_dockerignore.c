/*
 * tests/conformance/cf_dockerignore.c: the dockerignore data sets (moby/patternmatcher and its
 * ignorefile reader) against builder/dockerfile/ignore.c. Formats: corpus README section 5.
 *
 * - patternmatcher-matches.tsv: every row through the four APIs upstream checks, which must all
 *   give the expected result: df_pm_match (MatchesOrParentMatches), df_pm_match_parent_result
 *   walking the parents first (MatchesUsingParentResult), df_pm_match_walk walking the parents
 *   with per-pattern state (MatchesUsingParentResults) and df_pm_match_walk without parent state.
 *   `unix` rows run too (this is Unix).
 * - patternmatcher-multi.jsonl: df_pm_match and df_pm_match_walk with and without parent state,
 *   as upstream.
 * - filepath-match.tsv: df_pm_legacy_matches (the package-level Matches), as upstream; in addition
 *   df_filepath_match must fail exactly on the ErrBadPattern rows (Go's filepath.Match reports
 *   a malformed pattern whatever the name).
 * - pattern-compile.tsv: the match type, and for regexp patterns the regexp text for a '/'
 *   separator (ignore.c builds upstream's regexp text and runs it, so the text is meaningful
 *   here). The '\' separator column is Windows-only and not checked.
 * - patternmatcher-misc.jsonl: Matches / New / New+MatchesOrParentMatches records.
 * - ignorefile/: df_ignore_read on the sample file, and on no data at all (upstream's nil reader).
 */
#include "cf.h"

#include "dockerfile/ignore.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static const char *
errmsg(const struct sw_error *err)
{
    return err && err->msg ? err->msg : "?";
}

static bool
parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0)
        *out = false;
    else
        return false;
    return true;
}

/* filepath.Dir of a slash path: Clean of everything up to the last '/'. */
static char *
go_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) + 1 : 0;
    char *head = strndup(path, n);
    char *dir = head ? df_ignore_clean(head) : NULL;
    free(head);
    if (!dir)
        abort();
    return dir;
}

/* The parent directories upstream's tests walk: the leading element runs of Dir(path) ("a",
 * "a/b" for "a/b/c"), or none when Dir(path) is ".". */
static void
parent_prefixes(const char *path, struct sw_strv *out)
{
    char *dir = go_dir(path);
    if (strcmp(dir, ".") != 0) {
        size_t n = strlen(dir);
        for (size_t i = 0; i <= n; i++)
            if ((i == n || dir[i] == '/') && sw_strv_pushn(out, dir, i) < 0)
                abort();
    }
    free(dir);
}

/* MatchesUsingParentResult, walking the parents first (upstream's test procedure). */
static int
walk_parent_result(const struct df_pm *pm, const char *path, bool *matched, struct sw_error **err)
{
    struct sw_strv parents = {0};
    parent_prefixes(path, &parents);
    bool m = false;
    int rc = 0;
    for (size_t i = 0; i < parents.n && rc == 0; i++)
        rc = df_pm_match_parent_result(pm, parents.v[i], m, &m, err);
    sw_strv_free(&parents);
    if (rc < 0)
        return rc;
    return df_pm_match_parent_result(pm, path, m, matched, err);
}

/* MatchesUsingParentResults, walking the parents with per-pattern state. */
static int
walk_parent_results(const struct df_pm *pm, const char *path, bool *matched, struct sw_error **err)
{
    struct sw_strv parents = {0};
    parent_prefixes(path, &parents);
    size_t n = df_pm_count(pm);
    bool *state = calloc(n + 1, sizeof *state);
    if (!state)
        abort();
    bool have_state = false, m;
    int rc = 0;
    for (size_t i = 0; i < parents.n && rc == 0; i++) {
        rc = df_pm_match_walk(pm, parents.v[i], have_state ? state : NULL, state, &m, err);
        have_state = true;
    }
    if (rc == 0)
        rc = df_pm_match_walk(pm, path, have_state ? state : NULL, NULL, matched, err);
    free(state);
    sw_strv_free(&parents);
    return rc;
}

static int
walk_no_context(const struct df_pm *pm, const char *path, bool *matched, struct sw_error **err)
{
    return df_pm_match_walk(pm, path, NULL, NULL, matched, err);
}

struct api {
    const char *name;
    int (*fn)(const struct df_pm *, const char *, bool *, struct sw_error **);
};

static const struct api all_apis[] = {
    {"MatchesOrParentMatches", df_pm_match},
    {"MatchesUsingParentResults", walk_parent_results},
    {"MatchesUsingParentResultsNoContext", walk_no_context},
    {"MatchesUsingParentResult", walk_parent_result},
};

/* Run `napis` APIs on path; NULL when all give `expected`, else a description (caller frees). */
static char *
check_apis(const struct df_pm *pm, const char *path, bool expected, size_t napis)
{
    struct sw_buf why = {0};
    for (size_t a = 0; a < napis; a++) {
        struct sw_error *err = NULL;
        bool m = false;
        if (all_apis[a].fn(pm, path, &m, &err) < 0)
            sw_buf_printf(&why, "%s%s failed: %s", why.len ? "; " : "", all_apis[a].name,
                          errmsg(err));
        else if (m != expected)
            sw_buf_printf(&why, "%s%s gave %s", why.len ? "; " : "", all_apis[a].name,
                          m ? "true" : "false");
        sw_error_free(err);
    }
    return why.len ? sw_buf_detach(&why) : NULL;
}

/* Build a matcher from a JSON array of strings (NULL + reported failure on a bad record). */
static struct sw_strv
json_strings(json_t *arr, bool *ok)
{
    struct sw_strv sv = {0};
    *ok = json_is_array(arr);
    for (size_t i = 0; *ok && i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s)
            *ok = false;
        else if (sw_strv_push(&sv, s) < 0)
            abort();
    }
    return sv;
}

/* ---- patternmatcher-matches.tsv -------------------------------------------------------------- */

static void
matches_row(struct cf_ctx *c, const char *id, char **f, size_t nf, void *payload)
{
    (void)payload;
    bool expected;
    if (nf < 4 || !parse_bool(f[2], &expected)) {
        cf_result(c, id, false, "malformed row");
        return;
    }
    const char *pattern = f[0], *path = f[1];
    struct df_pm *pm = NULL;
    struct sw_error *err = NULL;
    if (df_pm_new(&pm, &pattern, 1, &err) < 0) {
        cf_result(c, id, false, "pattern %s: %s", pattern, errmsg(err));
        sw_error_free(err);
        return;
    }
    char *why = check_apis(pm, path, expected, 4);
    cf_result(c, id, !why, "pattern %s path %s expected %s: %s", pattern, path, f[2],
              why ? why : "");
    free(why);
    df_pm_free(pm);
}

/* ---- patternmatcher-multi.jsonl -------------------------------------------------------------- */

static void
multi_record(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    (void)payload;
    bool ok;
    struct sw_strv pats = json_strings(json_object_get(rec, "patterns"), &ok);
    const char *path = json_string_value(json_object_get(rec, "path"));
    json_t *exp = json_object_get(rec, "expected");
    if (!ok || !path || !json_is_boolean(exp)) {
        cf_result(c, id, false, "malformed record");
        sw_strv_free(&pats);
        return;
    }
    struct df_pm *pm = NULL;
    struct sw_error *err = NULL;
    if (df_pm_new(&pm, (const char *const *)pats.v, pats.n, &err) < 0) {
        cf_result(c, id, false, "df_pm_new: %s", errmsg(err));
    } else {
        char *why = check_apis(pm, path, json_is_true(exp), 3);
        cf_result(c, id, !why, "path %s: %s", path, why ? why : "");
        free(why);
    }
    sw_error_free(err);
    df_pm_free(pm);
    sw_strv_free(&pats);
}

/* ---- filepath-match.tsv ---------------------------------------------------------------------- */

static void
filepath_row(struct cf_ctx *c, const char *id, char **f, size_t nf, void *payload)
{
    (void)payload;
    bool expected;
    if (nf < 4 || !parse_bool(f[2], &expected) ||
        (strcmp(f[3], "nil") != 0 && strcmp(f[3], "ErrBadPattern") != 0)) {
        cf_result(c, id, false, "malformed row");
        return;
    }
    const char *pattern = f[0], *path = f[1];
    bool want_err = strcmp(f[3], "ErrBadPattern") == 0;
    struct sw_error *err = NULL;
    bool m = false;
    int rc = df_pm_legacy_matches(&m, path, &pattern, 1, &err);
    sw_error_free(err);
    err = NULL;
    bool fm;
    int frc = df_filepath_match(&fm, pattern, path, &err);
    sw_error_free(err);
    bool ok = (rc < 0) == want_err && m == expected && (frc < 0) == want_err;
    cf_result(c, id, ok, "Matches(%s, [%s]) = %s, %s; want %s, %s; filepath.Match error: %s", path,
              pattern, m ? "true" : "false", rc < 0 ? "error" : "nil", f[2], f[3],
              frc < 0 ? "yes" : "no");
}

/* ---- pattern-compile.tsv --------------------------------------------------------------------- */

static const char *
type_name(enum df_pm_type t)
{
    switch (t) {
    case DF_PM_EXACT:
        return "exactMatch";
    case DF_PM_PREFIX:
        return "prefixMatch";
    case DF_PM_SUFFIX:
        return "suffixMatch";
    case DF_PM_REGEXP:
        return "regexpMatch";
    default:
        return "unknownMatch";
    }
}

static void
compile_row(struct cf_ctx *c, const char *id, char **f, size_t nf, void *payload)
{
    (void)payload;
    if (nf < 3) {
        cf_result(c, id, false, "malformed row");
        return;
    }
    const char *pattern = f[0];
    struct df_pm *pm = NULL;
    struct sw_error *err = NULL;
    if (df_pm_new(&pm, &pattern, 1, &err) < 0 || df_pm_count(pm) != 1) {
        cf_result(c, id, false, "pattern %s: %s", pattern, errmsg(err));
        sw_error_free(err);
        df_pm_free(pm);
        return;
    }
    const char *type = type_name(df_pm_pattern_type(pm, 0));
    const char *re = df_pm_pattern_regexp(pm, 0);
    bool ok = strcmp(type, f[1]) == 0 && strcmp(re ? re : "", f[2]) == 0;
    cf_result(c, id, ok, "pattern %s: got %s %s, want %s %s", pattern, type, re ? re : "\"\"", f[1],
              f[2]);
    df_pm_free(pm);
}

/* ---- patternmatcher-misc.jsonl --------------------------------------------------------------- */

static void
misc_matches(struct cf_ctx *c, const char *id, json_t *rec, struct sw_strv *pats)
{
    const char *path = json_string_value(json_object_get(rec, "path"));
    json_t *exp = json_object_get(rec, "expected");
    bool want_err = json_is_true(json_object_get(rec, "expect_error"));
    if (!path || (!want_err && !json_is_boolean(exp))) {
        cf_result(c, id, false, "malformed record");
        return;
    }
    struct sw_error *err = NULL;
    bool m = false;
    int rc = df_pm_legacy_matches(&m, path, (const char *const *)pats->v, pats->n, &err);
    bool ok = (rc < 0) == want_err && (!json_is_boolean(exp) || m == json_is_true(exp));
    cf_result(c, id, ok, "Matches(%s) = %s (%s)", path, m ? "true" : "false",
              rc < 0 ? errmsg(err) : "no error");
    sw_error_free(err);
}

static void
misc_new(struct cf_ctx *c, const char *id, json_t *rec, struct sw_strv *pats)
{
    json_t *count = json_object_get(rec, "expect_pattern_count");
    json_t *excl = json_object_get(rec, "expect_exclusions");
    bool want_err = json_is_true(json_object_get(rec, "expect_error"));
    struct df_pm *pm = NULL;
    struct sw_error *err = NULL;
    int rc = df_pm_new(&pm, (const char *const *)pats->v, pats->n, &err);
    bool ok = (rc < 0) == want_err;
    if (ok && rc == 0 && json_is_integer(count))
        ok = df_pm_count(pm) == (size_t)json_integer_value(count);
    if (ok && rc == 0 && json_is_boolean(excl))
        ok = df_pm_has_exclusions(pm) == json_is_true(excl);
    cf_result(c, id, ok, "New: %s, %zu patterns, exclusions %s", rc < 0 ? errmsg(err) : "ok",
              df_pm_count(pm), df_pm_has_exclusions(pm) ? "true" : "false");
    sw_error_free(err);
    df_pm_free(pm);
}

/* New succeeds; every match call then fails (twice, through each API). */
static void
misc_new_then_match(struct cf_ctx *c, const char *id, json_t *rec, struct sw_strv *pats)
{
    const char *path = json_string_value(json_object_get(rec, "path"));
    bool new_ok = json_is_true(json_object_get(rec, "expect_new_ok"));
    bool want_err = json_object_get(rec, "expect_error") != NULL;
    struct df_pm *pm = NULL;
    struct sw_error *err = NULL;
    int rc = df_pm_new(&pm, (const char *const *)pats->v, pats->n, &err);
    if (!path || rc < 0 || !new_ok) {
        bool ok = path && rc < 0 && !new_ok;
        cf_result(c, id, ok, "New: %s", rc < 0 ? errmsg(err) : "ok");
        sw_error_free(err);
        df_pm_free(pm);
        return;
    }
    int failures = 0;
    for (int round = 0; round < 2; round++) {
        for (size_t a = 0; a < 3; a++) {
            bool m = true;
            struct sw_error *e = NULL;
            failures += all_apis[a].fn(pm, path, &m, &e) < 0 && e && !m;
            sw_error_free(e);
        }
    }
    cf_result(c, id, want_err ? failures == 6 : failures == 0,
              "%d of 6 match calls failed with an error", failures);
    df_pm_free(pm);
}

static void
misc_record(struct cf_ctx *c, const char *id, json_t *rec, void *payload)
{
    (void)payload;
    const char *func = json_string_value(json_object_get(rec, "func"));
    bool ok;
    struct sw_strv pats = json_strings(json_object_get(rec, "patterns"), &ok);
    if (!func || !ok)
        cf_result(c, id, false, "malformed record");
    else if (strcmp(func, "Matches") == 0)
        misc_matches(c, id, rec, &pats);
    else if (strcmp(func, "New") == 0)
        misc_new(c, id, rec, &pats);
    else if (strcmp(func, "New+MatchesOrParentMatches") == 0)
        misc_new_then_match(c, id, rec, &pats);
    else
        cf_result(c, id, false, "unknown func %s", func);
    sw_strv_free(&pats);
}

/* ---- ignorefile/ ----------------------------------------------------------------------------- */

static bool
strv_equals_json(const struct sw_strv *sv, json_t *want)
{
    if (!json_is_array(want) || json_array_size(want) != sv->n)
        return false;
    for (size_t i = 0; i < sv->n; i++) {
        const char *w = json_string_value(json_array_get(want, i));
        if (!w || strcmp(w, sv->v[i]) != 0)
            return false;
    }
    return true;
}

static char *
join(const struct sw_strv *sv)
{
    struct sw_buf b = {0};
    sw_buf_putc(&b, '[');
    for (size_t i = 0; i < sv->n; i++) {
        char *q = cf_quote(sv->v[i], strlen(sv->v[i]));
        sw_buf_printf(&b, "%s%s", i ? "," : "", q);
        free(q);
    }
    sw_buf_putc(&b, ']');
    return sw_buf_detach(&b);
}

static void
run_ignorefile(struct cf_ctx *c)
{
    size_t len;
    char *exp_text = cf_read(c, "dockerignore/ignorefile/expected.json", NULL);
    if (!exp_text)
        return;
    json_error_t je;
    json_t *exp = json_loads(exp_text, 0, &je);
    free(exp_text);
    const char *input = json_string_value(json_object_get(exp, "input_file"));
    if (!exp || !input) {
        cf_result(c, "expected.json", false, "malformed expected.json");
        json_decref(exp);
        return;
    }
    char rel[512];
    snprintf(rel, sizeof rel, "dockerignore/ignorefile/%s", input);
    char *data = cf_read(c, rel, &len);
    if (data) {
        struct sw_strv got = {0};
        struct sw_error *err = NULL;
        int rc = df_ignore_read(&got, data, len, &err);
        bool ok = rc == 0 && strv_equals_json(&got, json_object_get(exp, "expected_patterns"));
        char *j = join(&got);
        cf_result(c, input, ok, "got %s (%s)", j, rc < 0 ? errmsg(err) : "no error");
        free(j);
        sw_error_free(err);
        sw_strv_free(&got);
        free(data);
    }
    if (json_object_get(exp, "nil_reader")) {
        struct sw_strv got = {0};
        struct sw_error *err = NULL;
        int rc = df_ignore_read(&got, NULL, 0, &err);
        cf_result(c, "nil_reader", rc == 0 && got.n == 0, "got %zu patterns, rc %d", got.n, rc);
        sw_error_free(err);
        sw_strv_free(&got);
    }
    json_decref(exp);
}

/* ---- entry ----------------------------------------------------------------------------------- */

void
cf_run_dockerignore(struct cf_ctx *c)
{
    cf_begin(c, "dockerignore/patternmatcher-matches");
    cf_tsv(c, "dockerignore/patternmatcher-matches.tsv", matches_row, NULL);
    cf_end(c);

    cf_begin(c, "dockerignore/patternmatcher-multi");
    cf_jsonl(c, "dockerignore/patternmatcher-multi.jsonl", multi_record, NULL);
    cf_end(c);

    cf_begin(c, "dockerignore/filepath-match");
    cf_tsv(c, "dockerignore/filepath-match.tsv", filepath_row, NULL);
    cf_end(c);

    cf_begin(c, "dockerignore/pattern-compile");
    cf_tsv(c, "dockerignore/pattern-compile.tsv", compile_row, NULL);
    cf_end(c);

    cf_begin(c, "dockerignore/patternmatcher-misc");
    cf_jsonl(c, "dockerignore/patternmatcher-misc.jsonl", misc_record, NULL);
    cf_end(c);

    cf_begin(c, "dockerignore/ignorefile");
    run_ignorefile(c);
    cf_end(c);
}
