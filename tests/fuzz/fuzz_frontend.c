/*
 * Fuzz target for the Dockerfile frontend: parser (on through instructions, the stage resolver
 * and the outline), word expansion and .dockerignore.
 * The first input byte picks the target; the rest is the data. Built with libFuzzer under clang
 * (-DSW_BUILD_FUZZERS=ON) or, everywhere else, linked with replay.c to run the seed corpus as a
 * ctest test.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/expand.h"
#include "dockerfile/ignore.h"
#include "dockerfile/outline.h"
#include "dockerfile/parser.h"
#include "dockerfile/stages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_parser(const char *s, size_t n)
{
    struct df_ast *ast = NULL;
    struct sw_error *err = NULL;
    if (df_parse(&ast, s, n, "Dockerfile", &err) == 0) {
        char *dump = df_ast_dump(ast);
        free(dump);
        /* and on through the instruction layer and the stage resolver */
        const char *args[] = {"A=x y", "http_proxy=p"};
        struct df_build_opts o = {.build_args = (char *const *)args,
                                  .nbuild_args = 2,
                                  .target_platform = "linux/arm/v7",
                                  .build_platform = "linux/amd64"};
        struct df_build *b = NULL;
        if (df_build_resolve(&b, ast, &o, &err) == 0) {
            json_decref(df_outline_json(b));
            struct sw_buf text = {0};
            df_outline_text(&text, b);
            sw_buf_free(&text);
        }
        df_build_free(b);
    }
    if (err) {
        char *msg = sw_error_format(err);
        free(msg);
    }
    df_ast_free(ast);
    sw_error_free(err);
}

static void
fuzz_expand(const char *s, size_t n, char escape)
{
    char *word = strndup(s, n);
    if (!word)
        return;
    struct df_env env = {0};
    df_env_set(&env, "A", "a b");
    df_env_set(&env, "EMPTY", "");
    df_env_set(&env, "PATH", "/usr/bin:/bin");
    struct df_expand_opts opts = {.escape = escape};
    char *out = NULL;
    struct sw_error *err = NULL;
    struct sw_strv matched = {0}, unmatched = {0}, words = {0};
    df_expand_word(&out, word, &env, &opts, &matched, &unmatched, &err);
    free(out);
    sw_error_freep(&err);
    df_expand_words(&words, word, &env, &opts, &err);
    sw_error_freep(&err);
    opts.raw_quotes = opts.raw_escapes = opts.skip_unset = true;
    sw_strv_free(&words);
    df_expand_words(&words, word, &env, &opts, &err);
    sw_error_freep(&err);
    sw_strv_free(&words);
    sw_strv_free(&matched);
    sw_strv_free(&unmatched);
    df_env_free(&env);
    free(word);
}

static void
fuzz_ignore(const char *s, size_t n)
{
    /* the data is an ignore file; its last line doubles as the path to match */
    struct sw_strv patterns = {0};
    struct sw_error *err = NULL;
    if (df_ignore_read(&patterns, s, n, &err) == 0) {
        struct df_pm *pm = NULL;
        if (df_pm_new(&pm, (const char *const *)patterns.v, patterns.n, &err) == 0) {
            const char *path = patterns.n ? patterns.v[patterns.n - 1] : "a/b/c";
            (void)df_pm_matches_or_parent_matches(pm, path);
            (void)df_pm_matches_or_parent_matches(pm, "a/b/c.go");
            df_pm_free(pm);
        }
    }
    for (size_t i = 0; i < patterns.n; i++) {
        bool m;
        struct sw_error *e2 = NULL;
        df_filepath_match(&m, patterns.v[i], "abc/def", &e2);
        sw_error_free(e2);
    }
    sw_error_free(err);
    sw_strv_free(&patterns);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0:
        fuzz_parser(s, n);
        break;
    case 1:
        fuzz_expand(s, n, '\\');
        break;
    case 2:
        fuzz_expand(s, n, '`');
        break;
    default:
        fuzz_ignore(s, n);
        break;
    }
    return 0;
}
