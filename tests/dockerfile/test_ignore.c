/*
 * tests/dockerfile/test_ignore.c: unit tests for builder/dockerfile/ignore.c (.dockerignore
 * reading, moby/patternmatcher matching, Go filepath.Match and filepath.Clean).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dockerfile/ignore.h"

/* ---- helpers -----------------------------------------------------------------------------------
 */

static struct df_pm *
pm_of(const char *const *patterns, size_t n)
{
    struct df_pm *pm = NULL;
    struct sw_error *err = NULL;
    int rc = df_pm_new(&pm, patterns, n, &err);
    if (rc != 0)
        fail_msg("df_pm_new failed: %s", err && err->msg ? err->msg : "?");
    return pm;
}

#define PM(...)                                                                                    \
    pm_of((const char *const[]){__VA_ARGS__},                                                      \
          sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static bool
match(const struct df_pm *pm, const char *path)
{
    bool m = true;
    struct sw_error *err = NULL;
    if (df_pm_match(pm, path, &m, &err) != 0)
        fail_msg("df_pm_match(%s) failed: %s", path, err && err->msg ? err->msg : "?");
    return m;
}

/* One pattern, one path: df_pm_match. */
static bool
match1(const char *pattern, const char *path)
{
    struct df_pm *pm = PM(pattern);
    bool m = match(pm, path);
    df_pm_free(pm);
    return m;
}

static void
read_ignore(const char *data, size_t len, struct sw_strv *out)
{
    struct sw_error *err = NULL;
    if (df_ignore_read(out, data, len, &err) != 0)
        fail_msg("df_ignore_read failed: %s", err && err->msg ? err->msg : "?");
}

static void
assert_strv(const struct sw_strv *sv, const char *const *want, size_t n)
{
    assert_int_equal(sv->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(sv->v[i], want[i]);
}

#define ASSERT_STRV(sv, ...)                                                                       \
    assert_strv((sv), (const char *const[]){__VA_ARGS__},                                          \
                sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* ---- the ignore-file reader -------------------------------------------------------------------
 */

static void
test_read_basic(void **state)
{
    (void)state;
    const char data[] = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
                        "! /inverted/abs/path\n!\n! \n";
    struct sw_strv sv = {0};
    read_ignore(data, sizeof data - 1, &sv);
    ASSERT_STRV(&sv, "test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!");
    sw_strv_free(&sv);
}

static void
test_read_comments_only_in_column_one(void **state)
{
    (void)state;
    const char data[] = "#c1\n # not a comment\n\t#also kept\n#\n";
    struct sw_strv sv = {0};
    read_ignore(data, sizeof data - 1, &sv);
    ASSERT_STRV(&sv, "# not a comment", "#also kept");
    sw_strv_free(&sv);
}

static void
test_read_bom_crlf_and_trimming(void **state)
{
    (void)state;
    /* BOM only on the first line; CRLF; Unicode spaces (NBSP, ideographic space) trimmed */
    const char data[] = "\xEF\xBB\xBF#comment after BOM\r\n  a/b/  \r\n"
                        "\xEF\xBB\xBF"
                        "c\r\n\xC2\xA0"
                        "d\xE3\x80\x80\nlast";
    struct sw_strv sv = {0};
    read_ignore(data, sizeof data - 1, &sv);
    ASSERT_STRV(&sv, "a/b",
                "\xEF\xBB\xBF"
                "c",
                "d", "last");
    sw_strv_free(&sv);
}

static void
test_read_cleans_paths(void **state)
{
    (void)state;
    const char data[] = "./a/../b//c/.\n//abs\n/\n!./x/\n! ../up\n**/\nfoo/**/\n";
    struct sw_strv sv = {0};
    read_ignore(data, sizeof data - 1, &sv);
    ASSERT_STRV(&sv, "b/c", "abs", "/", "!x", "!../up", "**", "foo/**");
    sw_strv_free(&sv);
}

static void
test_read_empty_and_appends(void **state)
{
    (void)state;
    struct sw_strv sv = {0};
    read_ignore(NULL, 0, &sv);
    assert_int_equal(sv.n, 0);
    read_ignore("\n\n  \n", 5, &sv);
    assert_int_equal(sv.n, 0);
    assert_int_equal(sw_strv_push(&sv, "first"), 0);
    read_ignore("second", 6, &sv);
    ASSERT_STRV(&sv, "first", "second");
    sw_strv_free(&sv);
}

static void
test_read_errors(void **state)
{
    (void)state;
    struct sw_strv sv = {0};
    struct sw_error *err = NULL;
    /* bufio.Scanner refuses a line of 65536 bytes or more */
    size_t n = 65536;
    char *big = malloc(n + 3);
    assert_non_null(big);
    memset(big, 'a', n);
    memcpy(big + n, "\nb", 2);
    assert_int_equal(df_ignore_read(&sv, big, n + 2, &err), -SW_EINVAL);
    assert_non_null(err);
    assert_non_null(strstr(err->msg, "line 1"));
    assert_int_equal(sv.n, 0);
    sw_error_free(err);
    err = NULL;
    /* 65535 bytes is fine */
    big[n - 1] = '\n';
    read_ignore(big, n + 2, &sv);
    assert_int_equal(sv.n, 2);
    sw_strv_free(&sv);
    free(big);
    /* a NUL byte outside a comment */
    const char nul[] = "#x\0y\na\0b\n";
    assert_int_equal(df_ignore_read(&sv, nul, sizeof nul - 1, &err), -SW_EINVAL);
    assert_non_null(strstr(err->msg, "line 2"));
    assert_int_equal(sv.n, 0);
    sw_error_free(err);
}

/* ---- filepath.Clean and filepath.Match ----------------------------------------------------------
 */

static void
test_clean(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"", "."},           {".", "."},
        {"a/", "a"},         {"a//b", "a/b"},
        {"./a", "a"},        {"a/./b/.", "a/b"},
        {"a/../b", "b"},     {"../a", "../a"},
        {"a/../..", ".."},   {"/..", "/"},
        {"/../a/", "/a"},    {"//", "/"},
        {"**/", "**"},       {"a/b/../../..", ".."},
        {"!docs/", "!docs"}, {"abc/../../x", "../x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = df_ignore_clean(cases[i][0]);
        assert_non_null(c);
        assert_string_equal(c, cases[i][1]);
        free(c);
    }
}

static void
test_filepath_match(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *name;
        int want; /* 1 match, 0 no match, -1 ErrBadPattern */
    } cases[] = {
        {"abc", "abc", 1},
        {"*", "abc", 1},
        {"*c", "abc", 1},
        {"a*", "ab/c", 0},
        {"a*/b", "abc/b", 1},
        {"a*/b", "a/c/b", 0},
        {"a*b*c*d*e*/f", "axbxcxdxexxx/f", 1},
        {"a*b?c*x", "abxbbxdbxebxczzy", 0},
        {"ab[b-d]", "abc", 1},
        {"ab[^c]", "abc", 0},
        {"ab[^e-g]", "abc", 1},
        {"a\\*b", "a*b", 1},
        {"a\\*b", "ab", 0},
        {"a?b",
         "a\xE2\x98\xBA"
         "b",
         1},
        {"a???b",
         "a\xE2\x98\xBA"
         "b",
         0},
        {"[a-\xCE\xB6]*", "\xCE\xB1", 1},
        {"a?b", "a/b", 0},
        {"[\\]a]", "]", 1},
        {"[x\\-]", "-", 1},
        {"[]a]", "]", -1},
        {"[-]", "-", -1},
        {"[x-]", "x", -1},
        {"\\", "a", -1},
        {"[a-b-c]", "a", -1},
        {"[", "a", -1},
        {"[^bc", "a", -1},
        {"a[", "ab", -1},
        {"*x", "xxx", 1},
        /* a malformed class after a mismatch is still reported */
        {"x*[", "abc", -1},
        {"b[", "abc", -1},
        {"[*]", "*", 1},
        {"[\xFF]", "a", -1},
        {"a\xFF", "a\xFF", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool m = false;
        struct sw_error *err = NULL;
        int rc = df_filepath_match(&m, cases[i].pattern, cases[i].name, &err);
        int got = rc < 0 ? -1 : m;
        if (got != cases[i].want)
            fail_msg("Match(%s, %s) = %d, want %d", cases[i].pattern, cases[i].name, got,
                     cases[i].want);
        if (rc < 0) {
            assert_int_equal(err->code, SW_EINVAL);
            assert_non_null(strstr(err->msg, "syntax error in pattern"));
        }
        sw_error_free(err);
    }
}

/* ---- building a matcher -------------------------------------------------------------------------
 */

static void
test_new_patterns(void **state)
{
    (void)state;
    struct df_pm *pm = PM("  docs/ ", "", "\t", "!./src/../keep.md  ", "**/", "/abs");
    assert_int_equal(df_pm_count(pm), 4);
    assert_true(df_pm_has_exclusions(pm));
    bool excl = true;
    assert_string_equal(df_pm_pattern(pm, 0, &excl), "docs");
    assert_false(excl);
    /* cleaned before the '!' is split off, as upstream: "!." is an ordinary element */
    assert_string_equal(df_pm_pattern(pm, 1, &excl), "./keep.md");
    assert_true(excl);
    assert_string_equal(df_pm_pattern(pm, 2, NULL), "**");
    assert_string_equal(df_pm_pattern(pm, 3, NULL), "/abs");
    df_pm_free(pm);

    pm = PM("a", "b");
    assert_false(df_pm_has_exclusions(pm));
    df_pm_free(pm);

    assert_int_equal(df_pm_new(&pm, NULL, 0, NULL), 0);
    assert_int_equal(df_pm_count(pm), 0);
    assert_false(match(pm, "anything"));
    df_pm_free(pm);
}

static void
test_new_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {"!", " ! ", "[", "a\\", "[]a]", "x/[a-b-c]", "!a[", "[^"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct df_pm *pm = (struct df_pm *)&pm; /* must be reset to NULL */
        struct sw_error *err = NULL;
        const char *const pats[] = {"ok", bad[i]};
        assert_int_equal(df_pm_new(&pm, pats, 2, &err), -SW_EINVAL);
        assert_null(pm);
        assert_non_null(err);
        if (strchr(bad[i], '[') || strchr(bad[i], '\\'))
            assert_non_null(strstr(err->msg, "syntax error in pattern"));
        else
            assert_non_null(strstr(err->msg, "illegal exclusion pattern"));
        sw_error_free(err);
    }
}

static void
test_pattern_types(void **state)
{
    (void)state;
    static const struct {
        const char *pattern;
        enum df_pm_type type;
        const char *re;
    } cases[] = {
        {"abc.def", DF_PM_EXACT, NULL},
        {"a(b)c/def", DF_PM_EXACT, NULL},
        {"dir/**", DF_PM_PREFIX, NULL},
        {"**", DF_PM_SUFFIX, NULL},
        {"**/dir", DF_PM_SUFFIX, NULL},
        {"**file", DF_PM_SUFFIX, NULL},
        {"*", DF_PM_REGEXP, "^[^/]*$"},
        {"**/**", DF_PM_REGEXP, "^(.*/)?.*$"},
        {"**/**/*.txt", DF_PM_REGEXP, "^(.*/)?(.*/)?[^/]*\\.txt$"},
        {"a[b-d]e", DF_PM_REGEXP, "^a[b-d]e$"},
        {"a\\*b", DF_PM_REGEXP, "^a\\*b$"},
        {"a+b?", DF_PM_REGEXP, "^a\\+b[^/]$"},
        {"[Local-Only]", DF_PM_BAD, "^[Local-Only]$"},
        {"x\\pL", DF_PM_BAD, "^x\\pL$"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct df_pm *pm = PM(cases[i].pattern);
        assert_int_equal(df_pm_pattern_type(pm, 0), cases[i].type);
        const char *re = df_pm_pattern_regexp(pm, 0);
        if (cases[i].re)
            assert_string_equal(re, cases[i].re);
        else
            assert_null(re);
        df_pm_free(pm);
    }
}

/* ---- matching ----------------------------------------------------------------------------------
 */

static void
test_double_star(void **state)
{
    (void)state;
    assert_true(match1("**", "file"));
    assert_true(match1("**", "dir/file/"));
    assert_true(match1("**/", "/"));
    assert_true(match1("dir/**", "dir/dir2/file"));
    assert_false(match1("abc/**", "abc"));
    assert_true(match1("abc/**", "abc/def/ghi"));
    assert_true(match1("**/dir", "dir"));
    assert_true(match1("**/dir", "a/b/dir/file")); /* through the parent a/b/dir */
    assert_true(match1("**/foo/bar", "dir/dir2/foo/bar"));
    assert_true(match1("**/*.txt", "file.txt"));
    assert_true(match1("a**/*.txt", "a/dir/dir/file.txt"));
    assert_false(match1("**/**/*.txt2", "dir/dir/file.txt"));
    assert_true(match1("**file", "dirfile")); /* a suffix match, as upstream */
    assert_true(match1("**/.foo", ".foo"));
    assert_false(match1("**/.foo", "bar.foo"));
    /* (.*\/)? does not cross a newline (Go's `.`) */
    assert_true(match1("x/**/y", "x/a/b/y"));
    assert_false(match1("x/**/y", "x/a\nb/y"));
}

static void
test_single_star_and_classes(void **state)
{
    (void)state;
    assert_true(match1("*.go", "main.go"));
    assert_true(match1("*.go", "main.go/inner")); /* the parent matches */
    assert_false(match1("*.go", "src/main.go"));
    assert_true(match1("a/*.txt", "a/file.txt"));
    assert_false(match1("a/*.txt", "a/dir/file.txt"));
    assert_true(match1("abc?def", "abcZdef"));
    assert_false(match1("abc?def", "abc/def"));
    assert_true(match1("a[^b-d]e", "aze"));
    assert_false(match1("a[b-d]e", "aae"));
    assert_true(match1(".*", ".hidden"));
    assert_false(match1(".*", "visible"));
    assert_false(match1("abc.def", "abcZdef"));
    assert_true(match1("a.|)$(}+{bc", "a.|)$(}+{bc"));
    assert_true(match1("a\\*b", "a*b"));
    assert_false(match1("a\\*b", "aXb"));
    assert_true(match1("a\\\\", "a\\"));
    assert_true(match1("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"));
}

static void
test_go_regexp_quirks(void **state)
{
    (void)state;
    /* escapes and classes mean what Go's regexp makes of them */
    assert_true(match1("a\\d*", "a5"));
    assert_false(match1("a\\d*", "ad"));
    assert_true(match1("[[:digit:]]x", "7x"));
    assert_false(match1("[[:digit:]]x", "ax"));
    assert_true(match1("v\\x41*", "vA"));
    assert_true(match1("a\\Q.*\\E", "a\\.[^/]*")); /* \Q quotes the translated text */
    assert_false(match1("a\\Q.*\\E", "a.*"));
    assert_false(match1("a^b*", "a^b"));      /* ^ anchors */
    assert_true(match1("a^b", "a^b"));        /* ...but an exact pattern has no regexp */
    assert_true(match1("[^a]b*", "/b"));      /* a negated class crosses '/' */
    assert_true(match1("?", "\xE2\x98\xBA")); /* one rune */
    assert_false(match1("??", "\xE2\x98\xBA"));
}

static void
test_exceptions(void **state)
{
    (void)state;
    struct df_pm *pm = PM("docs", "!docs/README.md");
    assert_true(match(pm, "docs"));
    assert_true(match(pm, "docs/other.md"));
    assert_false(match(pm, "docs/README.md"));
    assert_false(match(pm, "src"));
    df_pm_free(pm);

    /* an exception before the pattern does nothing */
    pm = PM("!fileutils.go", "*.go");
    assert_true(match(pm, "fileutils.go"));
    df_pm_free(pm);

    /* re-exclusion after an exception */
    pm = PM("**", "!util/docker/web", "util/docker/web/foo");
    assert_true(match(pm, "util/docker"));
    assert_false(match(pm, "util/docker/web"));
    assert_false(match(pm, "util/docker/web/bar"));
    assert_true(match(pm, "util/docker/web/foo"));
    assert_true(match(pm, "util/docker/web/foo/deeper"));
    df_pm_free(pm);

    pm = PM("*", "!keep*", "keep.tmp");
    assert_true(match(pm, "a"));
    assert_false(match(pm, "keep.txt"));
    assert_true(match(pm, "keep.tmp"));
    df_pm_free(pm);
}

static void
test_slashes(void **state)
{
    (void)state;
    /* a trailing slash is cleaned away: "docs/" also matches a file called docs */
    assert_true(match1("docs/", "docs"));
    assert_true(match1("docs/", "docs/x"));
    /* a leading slash stays in New (the reader strips it) */
    assert_false(match1("/docs", "docs"));
    assert_true(match1("/docs", "/docs"));
    struct sw_strv sv = {0};
    read_ignore("/docs\n", 6, &sv);
    struct df_pm *pm = pm_of((const char *const *)sv.v, sv.n);
    assert_true(match(pm, "docs/a"));
    df_pm_free(pm);
    sw_strv_free(&sv);
    /* paths are matched as given */
    assert_true(match1("dir/**", "dir/file/"));
    assert_false(match1("a/b", "./a/b"));
    assert_true(match1("a", "a/b//c")); /* the parent directory is cleaned */
}

static void
test_bad_regexp_fails_when_evaluated(void **state)
{
    (void)state;
    struct df_pm *pm = PM("[Local-Only]/");
    for (int round = 0; round < 2; round++) {
        bool m = true;
        struct sw_error *err = NULL;
        assert_int_equal(df_pm_match(pm, "x", &m, &err), -SW_EINVAL);
        assert_false(m);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, "[Local-Only]"));
        assert_non_null(strstr(err->msg, "syntax error in pattern"));
        sw_error_free(err);
        err = NULL;
        assert_int_equal(df_pm_match_walk(pm, "x", NULL, NULL, &m, &err), -SW_EINVAL);
        sw_error_free(err);
    }
    assert_false(df_pm_matches_or_parent_matches(pm, "x"));
    df_pm_free(pm);

    /* a bad exception that is never evaluated does not fail */
    pm = PM("a", "!b[z-a]");
    assert_false(match(pm, "c"));
    bool m;
    struct sw_error *err = NULL;
    assert_int_equal(df_pm_match(pm, "a", &m, &err), -SW_EINVAL);
    sw_error_free(err);
    df_pm_free(pm);
}

static void
test_exact_and_deprecated(void **state)
{
    (void)state;
    struct df_pm *pm = PM("**/dir");
    bool m = true;
    assert_int_equal(df_pm_matches_exact(pm, "dir/file", &m, NULL), 0);
    assert_false(m);
    assert_true(match(pm, "dir/file"));
    df_pm_free(pm);

    pm = PM("**/dir2/*");
    assert_int_equal(df_pm_matches_exact(pm, "dir/dir2/file/", &m, NULL), 0);
    assert_false(m);
    assert_int_equal(df_pm_match_parent_result(pm, "dir/dir2/file/", true, &m, NULL), 0);
    assert_true(m);
    df_pm_free(pm);

    /* the deprecated Matches only tries the parent at the pattern's depth */
    pm = PM("a");
    assert_int_equal(df_pm_match_one_parent(pm, "a/b/c", &m, NULL), 0);
    assert_true(m);
    df_pm_free(pm);
    pm = PM("b");
    assert_int_equal(df_pm_match_one_parent(pm, "a/b/c", &m, NULL), 0);
    assert_false(m);
    assert_true(match(pm, "b/c"));
    df_pm_free(pm);

    const char *const pats[] = {"a*"};
    assert_int_equal(df_pm_legacy_matches(&m, "ab/c", pats, 1, NULL), 0);
    assert_true(m);
    assert_int_equal(df_pm_legacy_matches(&m, "./", pats, 1, NULL), 0);
    assert_false(m);
    const char *const bad[] = {"["};
    struct sw_error *err = NULL;
    assert_int_equal(df_pm_legacy_matches(&m, "x", bad, 1, &err), -SW_EINVAL);
    sw_error_free(err);
}

/* ---- walking a tree
 * ------------------------------------------------------------------------------ */

/* A tree in walk order: depth, name. */
static const struct {
    int depth;
    const char *path;
} tree[] = {
    {0, "README.md"},
    {0, "docs"},
    {1, "docs/a.md"},
    {1, "docs/keep"},
    {2, "docs/keep/x.md"},
    {2, "docs/keep/y.txt"},
    {0, "node_modules"},
    {1, "node_modules/pkg"},
    {2, "node_modules/pkg/index.js"},
    {0, "src"},
    {1, "src/main.c"},
    {1, "src/main.o"},
    {1, "src/build"},
    {2, "src/build/out.o"},
    {2, "src/build/keep.o"},
};

static void
walk_and_compare(const char *const *patterns, size_t np)
{
    struct df_pm *pm = pm_of(patterns, np);
    size_t n = df_pm_count(pm);
    bool *states[3];
    for (int d = 0; d < 3; d++)
        states[d] = calloc(n + 1, sizeof(bool));
    for (size_t i = 0; i < sizeof tree / sizeof tree[0]; i++) {
        int d = tree[i].depth;
        bool walked = false;
        assert_int_equal(
            df_pm_match_walk(pm, tree[i].path, d ? states[d - 1] : NULL, states[d], &walked, NULL),
            0);
        if (walked != match(pm, tree[i].path))
            fail_msg("%s: walk and df_pm_match disagree", tree[i].path);
    }
    for (int d = 0; d < 3; d++)
        free(states[d]);
    df_pm_free(pm);
}

static void
test_walk_agrees(void **state)
{
    (void)state;
    static const char *const sets[][4] = {
        {"docs", "!docs/keep", "docs/keep/*.txt", NULL},
        {"**/*.o", "!**/keep.o", NULL, NULL},
        {"*", "!src", "src/build", NULL},
        {"node_modules", "**/*.md", "!README.md", NULL},
        {"**", "!docs/keep/x.md", NULL, NULL},
    };
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        size_t np = 0;
        while (np < 4 && sets[s][np])
            np++;
        walk_and_compare(sets[s], np);
    }
}

static void
test_walk_state(void **state)
{
    (void)state;
    struct df_pm *pm = PM("docs", "!docs/keep", "docs/keep/*.txt");
    bool st0[3], st1[3], m;
    assert_int_equal(df_pm_match_walk(pm, "docs", NULL, st0, &m, NULL), 0);
    assert_true(m);
    assert_true(st0[0]);
    assert_false(st0[1]);
    assert_int_equal(df_pm_match_walk(pm, "docs/keep", st0, st1, &m, NULL), 0);
    assert_false(m);
    assert_true(st1[0] && st1[1]);
    /* the same array may be passed in and out */
    assert_int_equal(df_pm_match_walk(pm, "docs/keep/a.txt", st1, st1, &m, NULL), 0);
    assert_true(m);
    assert_true(st1[2]);
    df_pm_free(pm);
}

static bool
skippable(struct df_pm *pm, const char *dir)
{
    size_t n = df_pm_count(pm);
    bool *st = calloc(n + 1, sizeof(bool));
    bool m;
    assert_int_equal(df_pm_match_walk(pm, dir, NULL, st, &m, NULL), 0);
    bool skip = df_pm_can_skip_dir(pm, dir, st);
    free(st);
    return skip;
}

static void
test_can_skip_dir(void **state)
{
    (void)state;
    struct df_pm *pm = PM("node_modules", "*.o");
    assert_true(skippable(pm, "node_modules"));
    assert_false(skippable(pm, "src")); /* not matched */
    df_pm_free(pm);

    pm = PM("*", "!keep/x", "!*/docs/*.md");
    assert_false(skippable(pm, "keep"));  /* keep/x may be re-included */
    assert_false(skippable(pm, "other")); /* other/docs/a.md may be */
    df_pm_free(pm);

    pm = PM("*", "!keep/x", "!src/*.c");
    assert_true(skippable(pm, "other"));
    assert_false(skippable(pm, "src"));
    assert_true(skippable(pm, "sr"));
    df_pm_free(pm);

    pm = PM("build", "!build");
    assert_false(skippable(pm, "build")); /* not matched at all */
    df_pm_free(pm);

    /* an exception the directory already matched changes nothing below it */
    pm = PM("*", "!dir", "dir");
    assert_true(skippable(pm, "dir"));
    df_pm_free(pm);

    pm = PM("out", "!out/keep/**");
    assert_false(skippable(pm, "out")); /* a prefix under out/ */
    df_pm_free(pm);
    pm = PM("out", "!**.keep");
    assert_int_equal(df_pm_pattern_type(pm, 1), DF_PM_SUFFIX);
    assert_false(skippable(pm, "out")); /* a suffix can match anywhere */
    df_pm_free(pm);
    pm = PM("out", "!out", "!x[z-a]", "out");
    assert_false(skippable(pm, "out")); /* a bad pattern must get its chance to fail */
    df_pm_free(pm);
    pm = PM("out", "!other/**", "!x/[a-c]*");
    assert_true(skippable(pm, "out"));
    df_pm_free(pm);

    assert_false(df_pm_can_skip_dir(NULL, "x", NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_basic),
        cmocka_unit_test(test_read_comments_only_in_column_one),
        cmocka_unit_test(test_read_bom_crlf_and_trimming),
        cmocka_unit_test(test_read_cleans_paths),
        cmocka_unit_test(test_read_empty_and_appends),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_filepath_match),
        cmocka_unit_test(test_new_patterns),
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_pattern_types),
        cmocka_unit_test(test_double_star),
        cmocka_unit_test(test_single_star_and_classes),
        cmocka_unit_test(test_go_regexp_quirks),
        cmocka_unit_test(test_exceptions),
        cmocka_unit_test(test_slashes),
        cmocka_unit_test(test_bad_regexp_fails_when_evaluated),
        cmocka_unit_test(test_exact_and_deprecated),
        cmocka_unit_test(test_walk_agrees),
        cmocka_unit_test(test_walk_state),
        cmocka_unit_test(test_can_skip_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
