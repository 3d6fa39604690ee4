/* Unit tests for builder/dockerfile/stages.c: ARG scoping, build args, stages, targets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/stages.h"

struct fixture {
    struct df_ast *ast;
    struct df_build *b;
};

static struct fixture
resolve_ok(const char *src, const char *const *args, size_t nargs, const char *target)
{
    struct fixture f = {0};
    struct sw_error *err = NULL;
    if (df_parse(&f.ast, src, strlen(src), "Dockerfile", &err) < 0)
        fail_msg("parse: %s", err->msg);
    struct df_build_opts o = {.build_args = (char *const *)args,
                              .nbuild_args = nargs,
                              .target = target,
                              .target_platform = "linux/arm64/v8",
                              .build_platform = "linux/amd64"};
    if (df_build_resolve(&f.b, f.ast, &o, &err) < 0)
        fail_msg("resolve: %s", err->msg);
    return f;
}

static struct sw_error *
resolve_err(const char *src, const char *target)
{
    struct df_ast *ast = NULL;
    struct df_build *b = NULL;
    struct sw_error *err = NULL;
    if (df_parse(&ast, src, strlen(src), "Dockerfile", &err) < 0)
        return err;
    struct df_build_opts o = {.target = target};
    assert_true(df_build_resolve(&b, ast, &o, &err) < 0);
    assert_null(b);
    df_ast_free(ast);
    assert_non_null(err);
    return err;
}

static void
fixture_free(struct fixture *f)
{
    df_build_free(f->b);
    df_ast_free(f->ast);
}

static const char *
kv(const struct sw_strv *v, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < v->n; i++)
        if (!strncmp(v->v[i], key, kl) && v->v[i][kl] == '=')
            return v->v[i] + kl + 1;
    return NULL;
}

static void
test_arg_scope_and_precedence(void **state)
{
    (void)state;
    const char *df = "ARG G=global\n"
                     "ARG OVER=meta\n"
                     "ARG BASE=img\n"
                     "FROM ${BASE}:${G} AS one\n"
                     "ENV E1=$G\n"      /* global ARG not in scope in the stage */
                     "ARG G\n"          /* imports the global default */
                     "ARG OVER=stage\n" /* --build-arg wins */
                     "ARG LOCAL=l-$G\n" /* default expanded in the stage scope */
                     "ENV E2=$G LOCAL=env\n"
                     "WORKDIR /w/$LOCAL\n" /* ENV beats the ARG of the same name */
                     "FROM one\n"
                     "RUN echo $G\n"
                     "WORKDIR $LOCAL\n";
    const char *args[] = {"OVER=cli", "UNUSED=x"};
    struct fixture f = resolve_ok(df, args, 2, NULL);
    struct df_build *b = f.b;
    assert_int_equal(b->nstages, 2);
    const struct df_stage *one = &b->stages[0];
    assert_string_equal(one->from->u.from.base, "img:global");
    assert_string_equal(kv(&one->env, "E1"), "");
    assert_string_equal(kv(&one->env, "E2"), "global");
    assert_string_equal(kv(&one->args, "OVER"), "cli");
    assert_string_equal(kv(&one->args, "LOCAL"), "l-global");
    assert_int_equal(one->instrs[5]->kind, DF_WORKDIR);
    assert_string_equal(one->instrs[5]->u.path, "/w/env");
    /* the second stage inherits ENV and ARGs of its stage base */
    const struct df_stage *two = &b->stages[1];
    assert_int_equal(two->base.kind, DF_REF_STAGE);
    assert_int_equal(two->base.stage, 0);
    assert_string_equal(two->instrs[1]->u.path, "env");
    assert_string_equal(kv(&two->args, "G"), "global");
    /* the unused build arg is warned about, the used one is not */
    bool warned = false;
    for (size_t i = 0; i < b->nwarnings; i++)
        if (!strcmp(b->warnings[i].rule, "UnusedBuildArg")) {
            warned = true;
            assert_non_null(strstr(b->warnings[i].msg, "UNUSED"));
            assert_null(strstr(b->warnings[i].msg, "OVER"));
        }
    assert_true(warned);
    fixture_free(&f);
}

static void
test_platform_args(void **state)
{
    (void)state;
    const char *df = "FROM --platform=$BUILDPLATFORM busybox AS b\n"
                     "ARG TARGETARCH\nARG TARGETVARIANT\nARG BUILDOS\n"
                     "ENV T=$TARGETARCH V=$TARGETVARIANT B=$BUILDOS\n"
                     "FROM img-${TARGETARCH}\n";
    struct fixture f = resolve_ok(df, NULL, 0, "B");
    const struct df_stage *st = &f.b->stages[0];
    assert_true(st->platform_set);
    assert_string_equal(st->platform.arch, "amd64");
    assert_string_equal(kv(&st->env, "T"), "arm64");
    assert_string_equal(kv(&st->env, "V"), ""); /* arm64/v8 normalizes to no variant */
    assert_string_equal(kv(&st->env, "B"), "linux");
    assert_string_equal(f.b->stages[1].from->u.from.base, "img-arm64");
    assert_int_equal(f.b->target, 0);
    assert_false(f.b->stages[1].needed);
    fixture_free(&f);
}

static void
test_references_and_needed(void **state)
{
    (void)state;
    const char *df = "FROM scratch AS base\n"
                     "FROM busybox AS tools\n"
                     "FROM scratch AS unused\n"
                     "RUN echo ${X:?never expanded}\n"
                     "FROM Base\n" /* FROM does not lower-case: an image */
                     "COPY --from=TOOLS /a /a\n"
                     "COPY --from=0 /b /b\n"
                     "RUN --mount=type=cache,target=/c,from=unused true\n";
    struct fixture f = resolve_ok(df, NULL, 0, NULL);
    const struct df_stage *last = &f.b->stages[3];
    assert_int_equal(last->base.kind, DF_REF_IMAGE);
    assert_string_equal(last->base.image, "Base");
    assert_int_equal(last->ndeps, 3);
    assert_true(f.b->stages[0].needed && f.b->stages[1].needed && f.b->stages[2].needed);
    assert_int_equal(f.b->stages[1].base.kind, DF_REF_IMAGE);
    assert_int_equal(f.b->stages[0].base.kind, DF_REF_SCRATCH);
    assert_int_equal(df_build_find_stage(f.b, "TooLs"), 1);
    assert_int_equal(df_build_find_stage(f.b, "3"), 3);
    assert_int_equal(df_build_find_stage(f.b, "4"), -1);
    fixture_free(&f);

    /* a stage that is not needed is not expanded, so its bad variable does not fail */
    f = resolve_ok("FROM scratch AS bad\nENV A=${X:?unset}\nFROM scratch\n", NULL, 0, NULL);
    assert_false(f.b->stages[0].needed);
    assert_false(f.b->stages[0].instrs[0]->expanded);
    fixture_free(&f);
}

static void
test_onbuild_triggers(void **state)
{
    (void)state;
    const char *df = "FROM scratch AS parent\n"
                     "ENV P=1\n"
                     "ONBUILD ENV FROM_TRIGGER=$P\n"
                     "ONBUILD LABEL l=x\n"
                     "FROM parent AS child\n"
                     "ENV C=2\n"
                     "FROM child\n";
    struct fixture f = resolve_ok(df, NULL, 0, NULL);
    const struct df_stage *child = &f.b->stages[1];
    assert_int_equal(child->ninstrs, 3);
    assert_true(child->from_onbuild[0] && child->from_onbuild[1] && !child->from_onbuild[2]);
    assert_int_equal(child->instrs[0]->span.line, 3); /* the ONBUILD line of the parent */
    assert_string_equal(kv(&child->env, "FROM_TRIGGER"), "1");
    assert_string_equal(kv(&child->labels, "l"), "x");
    /* triggers are not inherited further */
    assert_int_equal(f.b->stages[2].ninstrs, 0);
    fixture_free(&f);
}

static void
test_errors(void **state)
{
    (void)state;
    struct sw_error *err = resolve_err("ARG A\nENV X=1\nFROM scratch\n", NULL);
    assert_string_equal(err->msg, "no build stage in current context");
    assert_int_equal(err->span.line, 2);
    sw_error_free(err);

    err = resolve_err("ARG EMPTY\nFROM ${EMPTY} AS x\n", NULL);
    assert_non_null(strstr(err->msg, "should not be blank"));
    assert_int_equal(err->span.line, 2);
    sw_error_free(err);

    err = resolve_err("FROM a AS s0\nCOPY --from=s2 f /\nFROM a AS s1\nCOPY --from=s0 f /\n"
                      "FROM a AS s2\nCOPY --from=s1 f /\n",
                      NULL);
    assert_string_equal(err->msg, "circular dependency detected on stage: s0");
    assert_int_equal(err->span.line, 2);
    sw_error_free(err);

    err = resolve_err("FROM a AS s0\n", "nosuch");
    assert_string_equal(err->msg, "target stage \"nosuch\" could not be found");
    sw_error_free(err);

    err = resolve_err("FROM scratch\nCOPY http://example.com/x /\n", NULL);
    assert_string_equal(err->msg, "source can't be a URL for COPY");
    assert_int_equal(err->span.line, 2);
    sw_error_free(err);
}

static void
test_proxy_args(void **state)
{
    (void)state;
    const char *args[] = {"http_proxy=http://p:3128", "NO_PROXY=localhost"};
    struct fixture f = resolve_ok("FROM scratch\n", args, 2, NULL);
    assert_int_equal(f.b->proxy_args.n, 2);
    assert_string_equal(kv(&f.b->proxy_args, "http_proxy"), "http://p:3128");
    for (size_t i = 0; i < f.b->nwarnings; i++)
        assert_string_not_equal(f.b->warnings[i].rule, "UnusedBuildArg");
    fixture_free(&f);
}

static int
fake_image(void *ctx, const char *ref, const struct img_platform *platform, struct sw_strv *env,
           struct sw_strv *onbuild, struct sw_error **err)
{
    (void)platform;
    int *calls = ctx;
    (*calls)++;
    if (!strcmp(ref, "missing"))
        return sw_error_set(err, SW_ENOTFOUND, 0, NULL, "image \"missing\" not found");
    sw_strv_push(env, "GOPATH=/go");
    sw_strv_push(env, "PATH=/usr/bin");
    sw_strv_push(onbuild, "ENV TRIGGERED=$GOPATH");
    return 0;
}

static void
test_base_image_env_and_triggers(void **state)
{
    (void)state;
    const char *df = "FROM golang\nWORKDIR $GOPATH/src\nENV PATH=/x:$PATH\n";
    struct df_ast *ast = NULL;
    struct df_build *b = NULL;
    int calls = 0;
    assert_int_equal(df_parse(&ast, df, strlen(df), "Dockerfile", NULL), 0);
    struct df_build_opts o = {.image_config = fake_image, .image_ctx = &calls};
    assert_int_equal(df_build_resolve(&b, ast, &o, NULL), 0);
    assert_int_equal(calls, 1);
    const struct df_stage *st = &b->stages[0];
    assert_int_equal(st->ninstrs, 3);
    assert_true(st->from_onbuild[0]);
    assert_int_equal(st->instrs[0]->span.line, 1); /* the FROM line */
    assert_string_equal(kv(&st->env, "TRIGGERED"), "/go");
    assert_string_equal(st->instrs[1]->u.path, "/go/src");
    assert_string_equal(kv(&st->env, "PATH"), "/x:/usr/bin");
    df_build_free(b);
    df_ast_free(ast);

    df = "FROM missing\n";
    assert_int_equal(df_parse(&ast, df, strlen(df), "Dockerfile", NULL), 0);
    struct sw_error *err = NULL;
    assert_true(df_build_resolve(&b, ast, &o, &err) < 0);
    assert_int_equal(err->span.line, 1);
    sw_error_free(err);
    df_ast_free(ast);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arg_scope_and_precedence),
        cmocka_unit_test(test_platform_args),
        cmocka_unit_test(test_references_and_needed),
        cmocka_unit_test(test_onbuild_triggers),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_proxy_args),
        cmocka_unit_test(test_base_image_env_and_triggers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
