/* Unit tests for builder/dockerfile/parser.c: lines, directives, forms, flags, heredocs, spans. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/parser.h"

static struct df_ast *
parse_ok(const char *src)
{
    struct df_ast *ast = NULL;
    struct sw_error *err = NULL;
    int r = df_parse(&ast, src, strlen(src), "Dockerfile", &err);
    if (r != 0)
        fail_msg("parse failed: %s", err ? err->msg : "?");
    return ast;
}

static struct sw_error *
parse_err(const char *src)
{
    struct df_ast *ast = NULL;
    struct sw_error *err = NULL;
    int r = df_parse(&ast, src, strlen(src), "Dockerfile", &err);
    assert_true(r < 0);
    assert_null(ast);
    assert_non_null(err);
    return err;
}

static void
assert_dump(const char *src, const char *want)
{
    struct df_ast *ast = parse_ok(src);
    char *got = df_ast_dump(ast);
    assert_string_equal(got, want);
    free(got);
    df_ast_free(ast);
}

static void
test_forms_and_keywords(void **state)
{
    (void)state;
    assert_dump("from busybox AS b\nRuN echo  hi\nCMD [\"a\", \"b\"]\nCMD []\n",
                "(from \"busybox\" \"AS\" \"b\")\n(run \"echo  hi\")\n(cmd \"a\" \"b\")\n(cmd)\n");
    /* bad JSON falls back to shell form verbatim */
    assert_dump("FROM x\nCMD [\"a\", 'b']\n", "(from \"x\")\n(cmd \"[\\\"a\\\", 'b']\")\n");
    /* ENV/LABEL triples, legacy and k=v */
    assert_dump("FROM x\nENV a b c\nLABEL k=\"v w\" k2=v2\n",
                "(from \"x\")\n(env \"a\" \"b c\" \"\")\n"
                "(label \"k\" \"\\\"v w\\\"\" \"=\" \"k2\" \"v2\" \"=\")\n");
    /* unknown instructions parse with one empty argument */
    assert_dump("FROM x\nBOGUS whatever\n", "(from \"x\")\n(bogus \"\")\n");
    assert_dump("FROM x\nONBUILD RUN echo hi\n", "(from \"x\")\n(onbuild (run \"echo hi\"))\n");
    assert_dump("FROM x\nHEALTHCHECK --interval=5s CMD [\"a\"]\n",
                "(from \"x\")\n(healthcheck [\"--interval=5s\"] \"CMD\" \"a\")\n");
}

static void
test_non_string_json_is_an_error_with_span(void **state)
{
    (void)state;
    struct sw_error *err = parse_err("FROM x\n\n  CMD [\"a\", 1]\n");
    assert_non_null(strstr(err->msg, "strings only"));
    assert_int_equal(err->span.line, 3);
    assert_int_equal(err->span.col, 3);
    assert_string_equal(err->span.file, "Dockerfile");
    sw_error_free(err);
}

static void
test_flags(void **state)
{
    (void)state;
    struct df_ast *ast = parse_ok("FROM x\nCOPY --from=\"a b\" --chown=1\\:2 -- --notaflag /d\n");
    const struct df_node *n = &ast->nodes[1];
    assert_int_equal(n->flags.n, 2);
    assert_string_equal(n->flags.v[0], "--from=a b");
    assert_string_equal(n->flags.v[1], "--chown=1:2");
    assert_int_equal(n->args.n, 2);
    assert_string_equal(n->args.v[0], "--notaflag");
    df_ast_free(ast);
}

static void
test_continuations_comments_crlf_bom(void **state)
{
    (void)state;
    assert_dump("\xEF\xBB\xBF"
                "FROM x\r\nRUN a \\\r\n# comment inside\r\n  b \\\r\n\r\n  c\r\n",
                "(from \"x\")\n(run \"a   b   c\")\n");
    struct df_ast *ast = parse_ok("FROM x\nRUN a \\\n\n b\n");
    assert_int_equal(ast->nwarnings, 1);
    assert_string_equal(ast->warnings[0].rule, "NoEmptyContinuation");
    assert_non_null(strstr(ast->warnings[0].msg, "RUN a  b"));
    assert_int_equal(ast->nodes[1].span.line, 2);
    assert_int_equal(ast->nodes[1].span.end_line, 4);
    df_ast_free(ast);
    /* an escaped escape is not a continuation; a continuation at EOF ends the instruction */
    assert_dump("FROM x\nRUN a \\\\\nRUN b \\",
                "(from \"x\")\n(run \"a \\\\\\\\\")\n(run \"b\")\n");
    /* comments are only whole lines: trailing # stays */
    assert_dump("FROM x\nRUN a # not a comment\n", "(from \"x\")\n(run \"a # not a comment\")\n");
}

static void
test_directives(void **state)
{
    (void)state;
    struct df_ast *ast =
        parse_ok("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n  b\n");
    assert_int_equal(ast->escape, '`');
    assert_int_equal(ast->ndirectives, 2);
    assert_string_equal(ast->directives[0].name, "syntax");
    assert_string_equal(ast->directives[0].value, "docker/dockerfile:1");
    char *dump = df_ast_dump(ast);
    assert_string_equal(dump, "(from \"x\")\n(run \"a   b\")\n");
    free(dump);
    df_ast_free(ast);

    /* a directive after the block is an ordinary comment */
    ast = parse_ok("FROM x\n# escape=`\nRUN a \\\n b\n");
    assert_int_equal(ast->escape, '\\');
    assert_int_equal(ast->ndirectives, 0);
    df_ast_free(ast);

    struct sw_error *err = parse_err("# escape=`\n# ESCAPE=\\\nFROM x\n");
    assert_string_equal(err->msg, "only one escape parser directive can be used");
    assert_int_equal(err->span.line, 2);
    sw_error_free(err);
    err = parse_err("# escape=x\nFROM x\n");
    assert_non_null(strstr(err->msg, "invalid escape token 'x'"));
    sw_error_free(err);

    char *ref, *cmdline;
    uint32_t line;
    const char *src = "#!/bin/sh\n# check=skip=all;error=true\nFROM x\n";
    assert_int_equal(df_parse_directive(&ref, &cmdline, &line, "check", src, strlen(src)), 1);
    assert_string_equal(ref, "skip=all;error=true");
    assert_int_equal(line, 2);
    free(ref);
    free(cmdline);
}

static void
test_heredocs(void **state)
{
    (void)state;
    struct df_ast *ast = parse_ok("FROM x\n"
                                  "COPY <<A 3<<-'B' /dst/\n"
                                  "a $X\n"
                                  "A\n"
                                  "\tb\n"
                                  "\tB\n"
                                  "RUN [\"<<C\"]\n");
    const struct df_node *n = &ast->nodes[1];
    assert_int_equal(n->nheredocs, 2);
    assert_string_equal(n->heredocs[0].name, "A");
    assert_true(n->heredocs[0].expand);
    assert_string_equal(n->heredocs[0].content, "a $X\n");
    assert_string_equal(n->heredocs[1].name, "B");
    assert_int_equal(n->heredocs[1].fd, 3);
    assert_true(n->heredocs[1].chomp);
    assert_false(n->heredocs[1].expand);
    assert_string_equal(n->heredocs[1].content, "\tb\n"); /* chomping is the consumer's job */
    assert_int_equal(n->span.end_line, 6);
    assert_int_equal(ast->nodes[2].nheredocs, 0); /* JSON form never has heredocs */
    df_ast_free(ast);

    ast = parse_ok("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\n");
    assert_int_equal(ast->nnodes, 2);
    assert_int_equal(ast->nodes[1].nheredocs, 1);
    assert_string_equal(ast->nodes[1].heredocs[0].content, "echo hi\n");
    df_ast_free(ast);

    /* USER cannot take a heredoc: the body lines are instructions */
    ast = parse_ok("FROM x\nUSER <<X\nX\n");
    assert_int_equal(ast->nnodes, 3);
    assert_string_equal(ast->nodes[2].keyword, "x");
    df_ast_free(ast);

    struct sw_error *err = parse_err("FROM x\nRUN <<EOF\necho\n");
    assert_string_equal(err->msg, "unterminated heredoc");
    assert_int_equal(err->span.line, 2);
    assert_int_equal(err->span.end_line, 3);
    sw_error_free(err);

    char *ch = df_heredoc_chomp("\t\ta\n\tb\nc\t\n");
    assert_string_equal(ch, "a\nb\nc\t\n");
    free(ch);
}

static void
test_empty_and_long(void **state)
{
    (void)state;
    struct sw_error *err = parse_err("# just a comment\n\n");
    assert_string_equal(err->msg, "file with no instructions");
    sw_error_free(err);
    size_t n = DF_MAX_LINE + 1;
    char *big = malloc(n + 16);
    memcpy(big, "FROM x\nRUN ", 11);
    memset(big + 11, 'a', n - 4);
    big[11 + n - 4] = '\0';
    err = parse_err(big);
    assert_non_null(strstr(err->msg, "max allowed size of 65535"));
    assert_int_equal(err->span.line, 2);
    sw_error_free(err);
    free(big);
}

static void
test_comments_are_kept_for_docs(void **state)
{
    (void)state;
    struct df_ast *ast = parse_ok("# foo sets foo\nARG foo=1\n#\n# unrelated\nFROM x\n");
    assert_int_equal(ast->nodes[0].comments.n, 1);
    assert_string_equal(ast->nodes[0].comments.v[0], "foo sets foo");
    assert_int_equal(ast->nodes[1].comments.n, 1);
    assert_string_equal(ast->nodes[1].comments.v[0], "unrelated");
    df_ast_free(ast);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms_and_keywords),
        cmocka_unit_test(test_non_string_json_is_an_error_with_span),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_continuations_comments_crlf_bom),
        cmocka_unit_test(test_directives),
        cmocka_unit_test(test_heredocs),
        cmocka_unit_test(test_empty_and_long),
        cmocka_unit_test(test_comments_are_kept_for_docs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
