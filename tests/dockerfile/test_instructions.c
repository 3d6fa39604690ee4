/*
 * Unit tests for builder/dockerfile/instructions.h: instruction parsing and validation, flags,
 * RUN --mount/--device/--network/--security, HEALTHCHECK durations, EXPOSE ports, heredocs for
 * COPY and RUN, expansion, and the env helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/instructions.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static struct df_ast *
parse(const char *text)
{
    struct df_ast *ast = NULL;
    struct sw_error *err = NULL;
    if (df_parse(&ast, text, strlen(text), "Dockerfile", &err) < 0)
        fail_msg("parse of %s failed: %s", text, err->msg);
    return ast;
}

/* The last instruction of text, parsed; fails the test on an error. */
static struct df_instr *
instr(const char *text)
{
    struct df_ast *ast = parse(text);
    struct df_instr *in = NULL;
    struct sw_error *err = NULL;
    if (df_instr_from_node(&in, &ast->nodes[ast->nnodes - 1], &err) < 0)
        fail_msg("%s: unexpected error: %s", text, err->msg);
    df_ast_free(ast);
    return in;
}

/* The error of the last instruction of text; checks the message and the span. */
static void
expect_err_at(const char *text, const char *msg, uint32_t line, uint32_t col)
{
    struct df_ast *ast = parse(text);
    struct df_instr *in = NULL;
    struct sw_error *err = NULL;
    int r = df_instr_from_node(&in, &ast->nodes[ast->nnodes - 1], &err);
    if (r == 0)
        fail_msg("%s: want error \"%s\", got success", text, msg);
    assert_int_equal(r, -SW_EINVAL);
    assert_string_equal(err->msg, msg);
    assert_non_null(err->span.file);
    assert_string_equal(err->span.file, "Dockerfile");
    assert_int_equal(err->span.line, line);
    assert_int_equal(err->span.col, col);
    sw_error_free(err);
    df_ast_free(ast);
}

static void
expect_err(const char *text, const char *msg)
{
    struct df_ast *ast = parse(text);
    struct df_node *n = &ast->nodes[ast->nnodes - 1];
    uint32_t line = n->span.line, col = n->span.col;
    df_ast_free(ast);
    expect_err_at(text, msg, line, col);
}

static void
env_from(struct df_env *env, const char *const *kv)
{
    memset(env, 0, sizeof *env);
    for (size_t i = 0; kv && kv[i]; i++) {
        const char *eq = strchr(kv[i], '=');
        char *k = strndup(kv[i], (size_t)(eq - kv[i]));
        assert_int_equal(df_env_set(env, k, eq + 1), 0);
        free(k);
    }
}

/* The last instruction of text, expanded with the "k=v" environment kv (NULL-terminated). */
static struct df_instr *
expanded(const char *text, const char *const *kv)
{
    struct df_instr *in = instr(text);
    struct df_env env;
    struct df_expand_opts opts = {.escape = '\\'};
    struct sw_error *err = NULL;
    env_from(&env, kv);
    if (df_instr_expand(in, &env, &opts, &err) < 0)
        fail_msg("%s: expansion failed: %s", text, err->msg);
    df_env_free(&env);
    return in;
}

static void
expect_expand_err(const char *text, const char *const *kv, const char *msg, uint32_t line)
{
    struct df_instr *in = instr(text);
    struct df_env env;
    struct sw_error *err = NULL;
    env_from(&env, kv);
    int r = df_instr_expand(in, &env, NULL, &err);
    if (r == 0)
        fail_msg("%s: want expansion error \"%s\"", text, msg);
    assert_string_equal(err->msg, msg);
    assert_int_equal(err->span.line, line);
    sw_error_free(err);
    df_env_free(&env);
    df_instr_free(in);
}

static void
assert_strv(const struct sw_strv *v, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    if (v->n != n)
        fail_msg("want %zu strings, got %zu", n, v->n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(v->v[i], want[i]);
}

#define STRV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- kinds, unknown instructions ------------------------------------------------------------- */

static void
test_kinds(void **state)
{
    assert_string_equal(df_kind_name(DF_HEALTHCHECK), "HEALTHCHECK");
    assert_int_equal(df_kind_from_keyword("run"), DF_RUN);
    assert_int_equal(df_kind_from_keyword("StopSignal"), DF_STOPSIGNAL);
    assert_int_equal(df_kind_from_keyword("foo"), -1);
    struct df_instr *in = instr("  run  echo hi  ");
    assert_int_equal(in->kind, DF_RUN);
    assert_string_equal(in->keyword, "run");
    assert_string_equal(in->code, "run  echo hi");
    assert_int_equal(in->span.line, 1);
    assert_int_equal(in->span.col, 3);
    df_instr_free(in);
}

static void
test_unknown_instruction(void **state)
{
    expect_err_at("FROM a\n  XYZZY bar\n", "unknown instruction: XYZZY", 2, 3);
    expect_err("xyzzy bar", "unknown instruction: xyzzy");
    expect_err("RUNN ls", "unknown instruction: RUNN (did you mean RUN?)");
    expect_err("copi a b", "unknown instruction: copi (did you mean copy?)");
}

/* ---- argument counts ------------------------------------------------------------------------- */

static void
test_exactly_one(void **state)
{
    expect_err_at("FROM a\nMAINTAINER\n", "MAINTAINER requires exactly one argument", 2, 1);
    expect_err("WORKDIR", "WORKDIR requires exactly one argument");
    expect_err("USER", "USER requires exactly one argument");
    expect_err("STOPSIGNAL", "STOPSIGNAL requires exactly one argument");
    /* a hand-built node with two arguments */
    struct df_node n = {0};
    struct df_instr *in = NULL;
    struct sw_error *err = NULL;
    n.keyword = strdup("user");
    sw_strv_push(&n.args, "a");
    sw_strv_push(&n.args, "b");
    assert_int_equal(df_instr_from_node(&in, &n, &err), -SW_EINVAL);
    assert_string_equal(err->msg, "USER requires exactly one argument");
    sw_error_free(err);
    df_node_clear(&n);
}

static void
test_at_least_one(void **state)
{
    expect_err("ENV", "ENV requires at least one argument");
    expect_err("LABEL", "LABEL requires at least one argument");
    expect_err("ONBUILD", "ONBUILD requires at least one argument");
    expect_err("HEALTHCHECK", "HEALTHCHECK requires at least one argument");
    expect_err("EXPOSE", "EXPOSE requires at least one argument");
    expect_err("VOLUME", "VOLUME requires at least one argument");
    expect_err("ARG", "ARG requires at least one argument");
    expect_err("SHELL []", "SHELL requires at least one argument");
    expect_err("COPY a", "COPY requires at least two arguments, but only one was provided. "
                         "Destination could not be determined");
    expect_err("ADD a", "ADD requires at least two arguments, but only one was provided. "
                        "Destination could not be determined");
    expect_err("FROM", "FROM requires either one or three arguments");
    expect_err("FROM a b", "FROM requires either one or three arguments");
    expect_err("FROM a AS b c", "FROM requires either one or three arguments");
    expect_err("FROM a FOR b", "FROM requires either one or three arguments");
}

static void
test_kvps_node_errors(void **state)
{
    const char *cases[][5] = {
        {"env", "", "v", "=", "ENV names can not be blank"},
        {"label", "", "v", "=", "LABEL names can not be blank"},
        {"env", "a", "b", "c", "Bad input to ENV, too many arguments"},
    };
    for (size_t i = 0; i < 3; i++) {
        struct df_node n = {0};
        struct df_instr *in = NULL;
        struct sw_error *err = NULL;
        n.keyword = strdup(cases[i][0]);
        for (size_t k = 1; k < 4; k++)
            sw_strv_push(&n.args, cases[i][k]);
        if (i == 2)
            sw_strv_push(&n.args, "");
        assert_int_equal(df_instr_from_node(&in, &n, &err), -SW_EINVAL);
        assert_string_equal(err->msg, cases[i][4]);
        sw_error_free(err);
        df_node_clear(&n);
    }
}

/* ---- flags ----------------------------------------------------------------------------------- */

static void
test_flags_rejected(void **state)
{
    static const char *const texts[] = {
        "CMD --bogus ls",        "ENTRYPOINT --bogus ls",  "SHELL --bogus [\"sh\"]",
        "ENV --bogus a=b",       "LABEL --bogus a=b",      "WORKDIR --bogus /x",
        "USER --bogus me",       "VOLUME --bogus /v",      "EXPOSE --bogus 80",
        "MAINTAINER --bogus me", "ONBUILD --bogus RUN ls", "HEALTHCHECK --bogus CMD ls",
        "RUN --bogus ls",        "FROM --bogus img",       "COPY --bogus a b",
        "ADD --bogus a b",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        expect_err(texts[i], "unknown flag: --bogus");
    /* flags of the other instruction */
    expect_err("COPY --checksum=sha256:x a b", "unknown flag: --checksum");
    expect_err("COPY --unpack a b", "unknown flag: --unpack");
    expect_err("ADD --from=x a b", "unknown flag: --from");
    expect_err("ADD --parents a b", "unknown flag: --parents");
    expect_err("COPY --form=x a b", "unknown flag: --form (did you mean from?)");
    expect_err("RUN --mounts=type=bind ls", "unknown flag: --mounts (did you mean mount?)");
}

static void
test_flags_not_validated(void **state)
{
    /* ARG, STOPSIGNAL and HEALTHCHECK NONE never parse their flags */
    struct df_instr *in = instr("ARG --bogus x");
    assert_int_equal(in->kind, DF_ARG);
    assert_string_equal(in->u.arg.v[0].key, "x");
    df_instr_free(in);
    in = instr("STOPSIGNAL --bogus SIGKILL");
    assert_string_equal(in->u.signal, "SIGKILL");
    df_instr_free(in);
    in = instr("HEALTHCHECK --bogus NONE");
    assert_strv(&in->u.health.test, STRV("NONE"));
    df_instr_free(in);
}

static void
test_flag_values(void **state)
{
    expect_err("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe");
    expect_err("COPY --link= a b", "missing a value on flag: --link");
    expect_err("COPY --from a b", "missing a value on flag: --from");
    expect_err("COPY --from=a --from=b a b", "duplicate flag specified: --from");
    expect_err("COPY --link --link a b", "duplicate flag specified: --link");
    expect_err("RUN --mount ls", "missing a value on flag: --mount");
    struct df_instr *in = instr("COPY --link=TRUE --exclude=*.go --exclude=tmp/ -- --x b");
    assert_true(in->u.copy.link);
    assert_strv(&in->u.copy.excludes, STRV("*.go", "tmp/"));
    assert_strv(&in->u.copy.src_paths, STRV("--x"));
    assert_strv(&in->flags_used, STRV("link", "exclude"));
    df_instr_free(in);
    in = instr("COPY --link=False a b");
    assert_false(in->u.copy.link);
    df_instr_free(in);
}

static void
test_bflags_direct(void **state)
{
    struct df_bflags bf = {0};
    struct sw_error *err = NULL;
    assert_int_equal(df_bflags_add(&bf, "s", DF_FLAG_STRING, "def", &err), 0);
    assert_int_equal(df_bflags_add(&bf, "b", DF_FLAG_BOOL, "true", &err), 0);
    assert_int_equal(df_bflags_add(&bf, "l", DF_FLAG_STRINGS, NULL, &err), 0);
    assert_int_equal(df_bflags_add(&bf, "s", DF_FLAG_BOOL, NULL, &err), -SW_EINTERNAL);
    sw_error_freep(&err);
    assert_string_equal(df_bflags_get(&bf, "s")->value, "def");
    assert_string_equal(df_bflags_get(&bf, "b")->value, "true");
    char *args[] = {"--l=1", "--s=", "--b=false", "--l=2", "--", "--unknown"};
    assert_int_equal(df_bflags_parse(&bf, args, 6, &err), 0);
    assert_string_equal(df_bflags_get(&bf, "s")->value, "");
    assert_string_equal(df_bflags_get(&bf, "b")->value, "false");
    assert_strv(&df_bflags_get(&bf, "l")->values, STRV("1", "2"));
    assert_strv(&bf.used, STRV("l", "s", "b"));
    assert_null(df_bflags_get(&bf, "unknown"));
    char *bad[] = {"-x"};
    assert_int_equal(df_bflags_parse(&bf, bad, 1, &err), -SW_EINVAL);
    assert_string_equal(err->msg, "arg should start with -- : -x");
    sw_error_freep(&err);
    char *dup[] = {"--s=again"};
    assert_int_equal(df_bflags_parse(&bf, dup, 1, &err), -SW_EINVAL);
    assert_string_equal(err->msg, "duplicate flag specified: --s");
    sw_error_freep(&err);
    df_bflags_free(&bf);
}

/* ---- FROM, ARG, ENV, LABEL, doc comments ----------------------------------------------------- */

static void
test_from(void **state)
{
    struct df_instr *in = instr("FROM --platform=$BUILDPLATFORM golang:1.22 As Build-1.x");
    assert_int_equal(in->kind, DF_FROM);
    assert_string_equal(in->u.from.base, "golang:1.22");
    assert_string_equal(in->u.from.name, "build-1.x");
    assert_string_equal(in->u.from.platform, "$BUILDPLATFORM");
    df_instr_free(in);
    in = instr("FROM scratch");
    assert_null(in->u.from.name);
    assert_null(in->u.from.platform);
    assert_string_equal(in->u.from.doc, "");
    df_instr_free(in);
    expect_err("FROM a AS 1st", "invalid name for build stage: \"1st\", name can't start with a "
                                "number or contain symbols");
    expect_err("FROM a AS b$c", "invalid name for build stage: \"b$c\", name can't start with a "
                                "number or contain symbols");
    expect_err("FROM --platform a", "missing a value on flag: --platform");
}

static void
test_from_expand(void **state)
{
    struct df_instr *in =
        expanded("FROM --platform=$P ${IMG}:${TAG:-1} AS x", STRV("IMG=alpine", "P=linux/arm64"));
    assert_string_equal(in->u.from.base, "alpine:1");
    assert_string_equal(in->u.from.platform, "linux/arm64");
    assert_string_equal(in->u.from.name, "x");
    df_instr_free(in);
    expect_expand_err("FROM a\nFROM ${BLANK} AS foo", NULL,
                      "base name (${BLANK}) should not be blank", 2);
}

static void
test_arg(void **state)
{
    struct df_instr *in = instr("ARG a b=1 c=\"x y\" d=");
    struct df_args *a = &in->u.arg;
    assert_int_equal(a->n, 4);
    assert_string_equal(a->v[0].key, "a");
    assert_null(a->v[0].value);
    assert_string_equal(a->v[1].value, "1");
    assert_string_equal(a->v[2].value, "\"x y\"");
    assert_string_equal(a->v[3].value, "");
    df_instr_free(in);
    in = expanded("ARG c=\"x $V\" ${K}=1", STRV("V=y", "K=kk"));
    assert_string_equal(in->u.arg.v[0].value, "x y");
    assert_string_equal(in->u.arg.v[1].key, "kk");
    df_instr_free(in);
    expect_err("ARG =x", "ARG names can not be blank");
}

static void
test_doc_comments(void **state)
{
    struct df_instr *in = instr("# foo sets foo\n# bar\nARG foo=1 bar");
    assert_string_equal(in->u.arg.v[0].doc, "sets foo");
    assert_string_equal(in->u.arg.v[1].doc, "");
    df_instr_free(in);
    in = instr("# base defines the first stage\nFROM busybox AS base");
    assert_string_equal(in->u.from.doc, "defines the first stage");
    df_instr_free(in);
}

static void
test_env_label(void **state)
{
    struct df_instr *in = instr("ENV A=1 B=\"two words\"");
    assert_int_equal(in->kind, DF_ENV);
    assert_int_equal(in->u.kvps.n, 2);
    assert_string_equal(in->u.kvps.v[1].key, "B");
    assert_string_equal(in->u.kvps.v[1].value, "\"two words\"");
    assert_false(in->u.kvps.legacy);
    df_instr_free(in);
    in = instr("ENV PATH /usr/bin:$PATH");
    assert_true(in->u.kvps.legacy);
    assert_true(in->u.kvps.v[0].no_delim);
    assert_string_equal(in->u.kvps.v[0].value, "/usr/bin:$PATH");
    df_instr_free(in);
    in = expanded("LABEL \"a b\"=\"c $D\" ${K}=v", STRV("D=d", "K=key"));
    assert_int_equal(in->kind, DF_LABEL);
    assert_string_equal(in->u.kvps.v[0].key, "a b");
    assert_string_equal(in->u.kvps.v[0].value, "c d");
    assert_string_equal(in->u.kvps.v[1].key, "key");
    df_instr_free(in);
    expect_expand_err("ENV A=${X:?required}", NULL,
                      "failed to process \"${X:?required}\": X: required", 1);
}

/* ---- RUN, CMD, ENTRYPOINT, SHELL, heredocs --------------------------------------------------- */

static void
test_run_forms(void **state)
{
    struct df_instr *in = instr("RUN echo $HOME \"x\"");
    assert_true(in->u.run.prepend_shell);
    assert_strv(&in->u.run.cmdline, STRV("echo $HOME \"x\""));
    assert_int_equal(in->u.run.network, DF_NETWORK_DEFAULT);
    assert_int_equal(in->u.run.security, DF_SECURITY_SANDBOX);
    df_instr_free(in);
    in = expanded("RUN [\"echo\", \"$HOME\"]", STRV("HOME=/root"));
    assert_false(in->u.run.prepend_shell);
    assert_strv(&in->u.run.cmdline, STRV("echo", "$HOME"));
    assert_int_equal(in->u.run.nmounts, 0);
    df_instr_free(in);
    in = instr("RUN");
    assert_int_equal(in->u.run.cmdline.n, 0);
    df_instr_free(in);
}

static void
test_run_heredoc(void **state)
{
    struct df_instr *in = instr("RUN <<EOF\nls /\nwhoami\nEOF\n");
    assert_strv(&in->u.run.cmdline, STRV("<<EOF"));
    assert_int_equal(in->u.run.nfiles, 1);
    assert_string_equal(in->u.run.files[0].name, "EOF");
    assert_string_equal(in->u.run.files[0].data, "ls /\nwhoami\n");
    assert_false(in->u.run.files[0].chomp);
    df_instr_free(in);
    in = instr("RUN <<-A 3<<'B' cat\n\tone\nA\n\ttwo $X\nB\n");
    assert_strv(&in->u.run.cmdline, STRV("<<-A 3<<'B' cat"));
    assert_int_equal(in->u.run.nfiles, 2);
    assert_string_equal(in->u.run.files[0].data, "\tone\n");
    assert_true(in->u.run.files[0].chomp);
    assert_string_equal(in->u.run.files[1].name, "B");
    assert_string_equal(in->u.run.files[1].data, "\ttwo $X\n");
    df_instr_free(in);
    in = instr("RUN [\"<<EOF\"]");
    assert_int_equal(in->u.run.nfiles, 0);
    assert_false(in->u.run.prepend_shell);
    df_instr_free(in);
}

static void
test_cmd_entrypoint_shell(void **state)
{
    struct df_instr *in = instr("CMD echo  hi");
    assert_int_equal(in->kind, DF_CMD);
    assert_strv(&in->u.cmd.cmdline, STRV("echo  hi"));
    assert_true(in->u.cmd.prepend_shell);
    df_instr_free(in);
    in = instr("CMD []");
    assert_int_equal(in->u.cmd.cmdline.n, 0);
    assert_false(in->u.cmd.is_nil);
    df_instr_free(in);
    in = instr("ENTRYPOINT []");
    assert_true(in->u.cmd.is_nil);
    df_instr_free(in);
    in = instr("ENTRYPOINT [\"/bin/app\", \"--x\"]");
    assert_strv(&in->u.cmd.cmdline, STRV("/bin/app", "--x"));
    assert_false(in->u.cmd.prepend_shell);
    df_instr_free(in);
    in = instr("SHELL [\"powershell\", \"-command\"]");
    assert_strv(&in->u.shell, STRV("powershell", "-command"));
    df_instr_free(in);
    expect_err("SHELL powershell -command", "SHELL requires the arguments to be in JSON form");
}

static void
test_not_expanded(void **state)
{
    struct df_instr *in = expanded("CMD echo $X", STRV("X=1"));
    assert_strv(&in->u.cmd.cmdline, STRV("echo $X"));
    df_instr_free(in);
    in = expanded("MAINTAINER $X", STRV("X=1"));
    assert_string_equal(in->u.maintainer, "$X");
    df_instr_free(in);
    in = expanded("HEALTHCHECK CMD echo $X", STRV("X=1"));
    assert_strv(&in->u.health.test, STRV("CMD-SHELL", "echo $X"));
    df_instr_free(in);
    /* expansion runs once */
    in = expanded("WORKDIR /x", NULL);
    struct sw_error *err = NULL;
    assert_int_equal(df_instr_expand(in, NULL, NULL, &err), -SW_EINTERNAL);
    sw_error_free(err);
    df_instr_free(in);
}

/* ---- RUN --mount ----------------------------------------------------------------------------- */

static struct df_mount
mount_ok(const char *csv)
{
    struct df_mount m;
    struct sw_error *err = NULL;
    if (df_mount_parse(&m, csv, NULL, NULL, &err) < 0)
        fail_msg("%s: %s", csv, err->msg);
    if (df_run_mounts_finish(&m, 1, &err) < 0)
        fail_msg("%s: %s", csv, err->msg);
    return m;
}

static void
mount_err(const char *csv, const char *msg)
{
    struct df_mount m;
    struct sw_error *err = NULL;
    int r = df_mount_parse(&m, csv, NULL, NULL, &err);
    if (r == 0) {
        r = df_run_mounts_finish(&m, 1, &err);
        df_mount_clear(&m);
    }
    if (r == 0)
        fail_msg("%s: want error \"%s\"", csv, msg);
    assert_string_equal(err->msg, msg);
    sw_error_free(err);
}

static void
test_mount_bind(void **state)
{
    struct df_mount m = mount_ok("target=/src");
    assert_int_equal(m.type, DF_MOUNT_BIND);
    assert_string_equal(m.target, "/src");
    assert_true(m.readonly);
    assert_null(m.from);
    assert_null(m.source);
    df_mount_clear(&m);
    m = mount_ok("TYPE=Bind,Source=sub,dst=/src,from=build,rw");
    assert_string_equal(m.source, "sub");
    assert_string_equal(m.from, "build");
    assert_false(m.readonly);
    df_mount_clear(&m);
    m = mount_ok("destination=/a,readwrite=true");
    assert_false(m.readonly);
    df_mount_clear(&m);
    m = mount_ok("type=bind,target=/a,ro=false,ro");
    assert_true(m.readonly);
    df_mount_clear(&m);
    m = mount_ok("\"target=/a,b\",\"src=q\"\"x\"");
    assert_string_equal(m.target, "/a,b");
    assert_string_equal(m.source, "q\"x");
    df_mount_clear(&m);
}

static void
test_mount_cache_tmpfs(void **state)
{
    struct df_mount m = mount_ok("type=cache,target=/root/.cache");
    assert_int_equal(m.type, DF_MOUNT_CACHE);
    assert_false(m.readonly);
    assert_string_equal(m.id, "/root/.cache");
    assert_false(m.id_set);
    assert_int_equal(m.sharing, DF_SHARING_SHARED);
    assert_false(m.has_mode);
    assert_int_equal(m.mode, 0755);
    df_mount_clear(&m);
    m = mount_ok("type=cache,target=/c,id=go,sharing=LOCKED,mode=0700,uid=1000,gid=100,ro");
    assert_string_equal(m.id, "go");
    assert_true(m.id_set);
    assert_int_equal(m.sharing, DF_SHARING_LOCKED);
    assert_true(m.has_mode && m.has_uid && m.has_gid);
    assert_int_equal(m.mode, 0700);
    assert_int_equal(m.uid, 1000);
    assert_int_equal(m.gid, 100);
    assert_true(m.readonly);
    df_mount_clear(&m);
    m = mount_ok("type=tmpfs,target=/t,size=64m");
    assert_int_equal(m.type, DF_MOUNT_TMPFS);
    assert_false(m.readonly);
    assert_int_equal(m.size, 64 * 1024 * 1024);
    df_mount_clear(&m);
    m = mount_ok("type=tmpfs,target=/t,size=1.5 KiB");
    assert_int_equal(m.size, 1536);
    df_mount_clear(&m);
    m = mount_ok("type=tmpfs,target=/t,size=100");
    assert_int_equal(m.size, 100);
    df_mount_clear(&m);
}

static void
test_mount_secret_ssh(void **state)
{
    struct df_mount m = mount_ok("type=secret,id=token");
    assert_int_equal(m.type, DF_MOUNT_SECRET);
    assert_string_equal(m.target, "/run/secrets/token");
    assert_false(m.target_set);
    assert_int_equal(m.mode, 0400);
    assert_true(m.readonly);
    assert_false(m.required);
    df_mount_clear(&m);
    m = mount_ok("type=secret,target=/etc/creds/aws,required");
    assert_string_equal(m.id, "aws");
    assert_true(m.required);
    df_mount_clear(&m);
    m = mount_ok("type=secret,source=npmrc,env=NPM_TOKEN,required=false,mode=0440,uid=1");
    assert_string_equal(m.id, "npmrc");
    assert_null(m.target);
    assert_string_equal(m.env, "NPM_TOKEN");
    assert_int_equal(m.mode, 0440);
    assert_int_equal(m.uid, 1);
    df_mount_clear(&m);

    struct df_mount two[2];
    struct sw_error *err = NULL;
    assert_int_equal(df_mount_parse(&two[0], "type=ssh", NULL, NULL, &err), 0);
    assert_int_equal(df_mount_parse(&two[1], "type=ssh,id=gh,required=true", NULL, NULL, &err), 0);
    assert_int_equal(df_run_mounts_finish(two, 2, &err), 0);
    assert_string_equal(two[0].id, "default");
    assert_string_equal(two[0].target, "/run/buildkit/ssh_agent.0");
    assert_string_equal(two[1].target, "/run/buildkit/ssh_agent.1");
    assert_int_equal(two[1].mode, 0600);
    assert_true(two[1].required);
    df_mount_clear(&two[0]);
    df_mount_clear(&two[1]);
}

static void
test_mount_errors(void **state)
{
    mount_err("type=foo", "unsupported mount type \"foo\"");
    mount_err("type=bnd", "unsupported mount type \"bnd\" (did you mean bind?)");
    mount_err("type=cache,sharing=all", "unsupported sharing value \"all\"");
    mount_err("type=bind,target=/a,sharing=shared", "invalid cache sharing set for bind mount");
    mount_err("target=/a,mode=0700", "mode not allowed for \"bind\" type mounts");
    mount_err("type=tmpfs,target=/a,uid=1", "uid not allowed for \"tmpfs\" type mounts");
    mount_err("type=bind,target=/a,gid=1", "gid not allowed for \"bind\" type mounts");
    mount_err("type=cache,target=/a,mode=0800", "invalid value 0800 for mode");
    mount_err("type=cache,target=/a,uid=-1", "invalid value -1 for uid");
    mount_err("type=cache,target=/a,gid=4294967296", "invalid value 4294967296 for gid");
    mount_err("type=bind,target=/a,size=1m", "unexpected key 'size' for mount type 'bind'");
    mount_err("type=tmpfs,target=/a,size=lots", "invalid value for size: lots");
    mount_err("type=tmpfs,target=/a,size=1q", "invalid value for size: 1q");
    mount_err("type=bind,required", "unexpected key 'required' for mount type 'bind'");
    mount_err("required,type=secret,id=x", "unexpected key 'required' for mount type 'bind'");
    mount_err("type=cache,required=true", "unexpected key 'required' for mount type 'cache'");
    mount_err("type=secret,id=x,required=maybe", "invalid value for required: maybe");
    mount_err("target=/a,ro=maybe", "invalid value for ro: maybe");
    mount_err("target=/a,exec", "invalid field 'exec' must be a key=value pair");
    mount_err("target=/a,zzzzzz=1", "unexpected key 'zzzzzz' in 'zzzzzz=1'");
    mount_err("target=/a,z=1", "unexpected key 'z' in 'z=1' (did you mean id?)");
    mount_err("target=/a,soruce=x", "unexpected key 'soruce' in 'soruce=x' (did you mean source?)");
    mount_err("type=secret", "invalid secret mount. one of source, target required");
    mount_err("type=secret,id=a,source=b", "both source and id can't be set");
    mount_err("type=secret,id=a,from=b", "secret mount should not have a from");
    mount_err("type=secret,id=a,sharing=locked", "secret mount should not define sharing");
    mount_err("type=ssh,source=key", "ssh does not support source");
    mount_err("target=/a\"b", "failed to parse csv mounts: parse error on line 1, column 10: "
                              "bare \" in non-quoted-field");
    mount_err("\"target=/a", "failed to parse csv mounts: parse error on line 1, column 11: "
                             "extraneous or missing \" in quoted-field");
}

static void
test_mount_in_run(void **state)
{
    expect_err_at("FROM a\nRUN --mount=from=$STAGE,target=/x ls",
                  "'from' doesn't support variable expansion, define alias stage instead", 2, 1);
    struct df_instr *in = instr("RUN --mount=from=a$,target=/x ls");
    df_instr_free(in);
    in = expanded("RUN --mount=type=$T,target=$D,id=c-$D --mount=type=secret,id=s go build",
                  STRV("T=cache", "D=/go"));
    assert_strv(&in->flags_used, STRV("mount"));
    assert_strv(&in->u.run.mount_specs, STRV("type=$T,target=$D,id=c-$D", "type=secret,id=s"));
    assert_true(in->u.run.mounts_parsed);
    assert_int_equal(in->u.run.nmounts, 2);
    assert_int_equal(in->u.run.mounts[0].type, DF_MOUNT_CACHE);
    assert_string_equal(in->u.run.mounts[0].target, "/go");
    assert_string_equal(in->u.run.mounts[0].id, "c-/go");
    assert_string_equal(in->u.run.mounts[1].target, "/run/secrets/s");
    df_instr_free(in);
    expect_expand_err("FROM a\n\nRUN --mount=type=$T ls", STRV("T=nfs"),
                      "unsupported mount type \"nfs\"", 3);
}

static void
test_run_network_security_device(void **state)
{
    struct df_instr *in = instr("RUN --network=none --security=insecure --device=gpu,required ls");
    assert_int_equal(in->u.run.network, DF_NETWORK_NONE);
    assert_int_equal(in->u.run.security, DF_SECURITY_INSECURE);
    assert_int_equal(in->u.run.ndevices, 1);
    assert_string_equal(in->u.run.devices[0].name, "gpu");
    assert_true(in->u.run.devices[0].required);
    df_instr_free(in);
    in = instr("RUN --network=host ls");
    assert_int_equal(in->u.run.network, DF_NETWORK_HOST);
    df_instr_free(in);
    expect_err("RUN --network=bridge ls", "invalid network mode \"bridge\"");
    expect_err("RUN --security=root ls", "security \"root\" is not valid");
    expect_err("RUN --device=a,b ls", "invalid field 'b' must be a key=value pair");
    expect_err("RUN --device=a,required=x ls", "invalid value for required: x");
    expect_err("RUN --device=a,nme=b ls", "unexpected key 'nme' in 'nme=b' (did you mean name?)");
}

/* ---- COPY, ADD ------------------------------------------------------------------------------- */

static void
test_copy_flags(void **state)
{
    struct df_instr *in =
        instr("COPY --from=build --chown=app:app --chmod=0644 --link --parents a/./b c /dst/");
    struct df_copy *c = &in->u.copy;
    assert_int_equal(in->kind, DF_COPY);
    assert_string_equal(c->from, "build");
    assert_string_equal(c->chown, "app:app");
    assert_string_equal(c->chmod, "0644");
    assert_true(c->link);
    assert_true(c->parents);
    assert_strv(&c->src_paths, STRV("a/./b", "c"));
    assert_string_equal(c->dest, "/dst/");
    assert_null(c->checksum);
    assert_int_equal(c->keep_git_dir, -1);
    df_instr_free(in);
    in = instr("ADD --checksum=sha256:abc --keep-git-dir --unpack=false --chown=1 "
               "[\"https://x/y.tgz\", \"/z\"]");
    c = &in->u.copy;
    assert_int_equal(in->kind, DF_ADD);
    assert_true(in->json);
    assert_string_equal(c->checksum, "sha256:abc");
    assert_int_equal(c->keep_git_dir, 1);
    assert_int_equal(c->unpack, 0);
    assert_null(c->from);
    assert_false(c->parents);
    assert_strv(&c->src_paths, STRV("https://x/y.tgz"));
    df_instr_free(in);
    in = instr("COPY --from= a b");
    assert_null(in->u.copy.from);
    df_instr_free(in);
}

static void
test_copy_heredoc(void **state)
{
    struct df_instr *in = instr("COPY <<EOF1 <<-EOF2 foo.txt /bar\nfirst\nEOF1\n\tsecond\nEOF2\n");
    struct df_copy *c = &in->u.copy;
    assert_strv(&c->src_paths, STRV("foo.txt"));
    assert_int_equal(c->ncontents, 2);
    assert_string_equal(c->contents[0].path, "EOF1");
    assert_string_equal(c->contents[0].data, "first\n");
    assert_true(c->contents[0].expand);
    assert_string_equal(c->contents[1].path, "EOF2");
    assert_string_equal(c->contents[1].data, "second\n");
    df_instr_free(in);
    in = instr("ADD <<'EOF' /bar\n$X\nEOF\n");
    assert_false(in->u.copy.contents[0].expand);
    df_instr_free(in);
    expect_err_at("FROM a\nCOPY /foo <<EOF\nEOF\n", "COPY cannot accept a heredoc as a destination",
                  2, 1);
    expect_err("ADD a <<EOF\nEOF\n", "ADD cannot accept a heredoc as a destination");
}

static void
test_copy_expand(void **state)
{
    const char *const *env = STRV("U=app", "M=755", "D=/dst", "S=src", "X=1", "C=sha256:0");
    struct df_instr *in = expanded("COPY --chown=$U:$U --chmod=$M --from=b ${S}/* \"$D\"\n", env);
    struct df_copy *c = &in->u.copy;
    assert_string_equal(c->chown, "app:app");
    assert_string_equal(c->chmod, "755");
    assert_string_equal(c->from, "b");
    assert_strv(&c->src_paths, STRV("src/*"));
    assert_string_equal(c->dest, "/dst");
    df_instr_free(in);
    in = expanded("COPY <<EOF <<'RAW' /d\n\"$X\" \\$X\nEOF\n$X\nRAW\n", env);
    assert_string_equal(in->u.copy.contents[0].data, "\"1\" $X\n");
    assert_string_equal(in->u.copy.contents[1].data, "$X\n");
    df_instr_free(in);
    in = expanded("ADD --checksum=$C --chmod=u+x,g-w http://h/f /d", env);
    assert_string_equal(in->u.copy.checksum, "sha256:0");
    assert_string_equal(in->u.copy.chmod, "u+x,g-w");
    df_instr_free(in);
    expect_expand_err("COPY http://h/f /d", NULL, "source can't be a URL for COPY", 1);
    expect_expand_err("COPY $URL /d", STRV("URL=https://h/f"), "source can't be a URL for COPY", 1);
    expect_expand_err("COPY --from=$STAGE a /d", STRV("STAGE=x"),
                      "variable expansion is not supported for --from, define a new stage with "
                      "FROM using ARG from global scope as a workaround",
                      1);
    expect_expand_err("COPY --chmod=999 a /d", NULL,
                      "invalid chmod parameter: '999'. it should be octal string and between 0 "
                      "and 07777",
                      1);
    expect_expand_err("FROM x\nCOPY --chown=${U:?nouser} a /d", NULL,
                      "failed to process \"${U:?nouser}\": U: nouser", 2);
}

static void
test_chmod_url(void **state)
{
    struct sw_error *err = NULL;
    const char *good[] = {"0", "755", "07777", "u+x", "a=rwx,g-w", "u=g", "+x", "go-rwxst"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (df_chmod_validate(good[i], &err) < 0)
            fail_msg("%s: %s", good[i], err->msg);
    const char *bad[] = {"", "10000", "8", "u", "u+q", "x+r", "u+x,", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (df_chmod_validate(bad[i], &err) == 0)
            fail_msg("%s: want error", bad[i]);
        sw_error_freep(&err);
    }
    assert_int_equal(df_chmod_octal("0644"), 0644);
    assert_int_equal(df_chmod_octal("u+x"), -1);
    assert_true(df_is_url("https://example.com/x"));
    assert_true(df_is_url("http://h"));
    assert_false(df_is_url("git@github.com:x/y"));
    assert_false(df_is_url("httpx://h"));
}

/* ---- WORKDIR, USER, STOPSIGNAL, VOLUME, MAINTAINER, ONBUILD ---------------------------------- */

static void
test_single_value_instructions(void **state)
{
    const char *const *env = STRV("D=/app", "U=me", "S=SIGTERM");
    struct df_instr *in = expanded("WORKDIR ${D}/src", env);
    assert_string_equal(in->u.path, "/app/src");
    df_instr_free(in);
    in = expanded("USER $U:\"staff\"", env);
    assert_string_equal(in->u.user, "me:staff");
    df_instr_free(in);
    in = expanded("STOPSIGNAL $S", env);
    assert_string_equal(in->u.signal, "SIGTERM");
    df_instr_free(in);
    in = instr("MAINTAINER Jane Doe <jane@example.com>");
    assert_string_equal(in->u.maintainer, "Jane Doe <jane@example.com>");
    df_instr_free(in);
}

static void
test_volume(void **state)
{
    struct df_instr *in = expanded("VOLUME /a $B", STRV("B=/b"));
    assert_strv(&in->u.volumes, STRV("/a", "/b"));
    df_instr_free(in);
    in = instr("VOLUME [\"/data\", \" /logs \"]");
    assert_strv(&in->u.volumes, STRV("/data", "/logs"));
    df_instr_free(in);
    expect_err("VOLUME [\"/a\", \" \"]", "VOLUME specified can not be an empty string");
    expect_expand_err("VOLUME $EMPTY", NULL, "VOLUME specified can not be an empty string", 1);
}

static void
test_onbuild(void **state)
{
    struct df_instr *in = instr("onbuild  RUN echo hi");
    assert_int_equal(in->kind, DF_ONBUILD);
    assert_string_equal(in->u.onbuild.trigger, "RUN");
    assert_string_equal(in->u.onbuild.expression, "RUN echo hi");
    assert_strv(&in->args, STRV("run", "echo hi"));
    df_instr_free(in);
    in = instr("ONBUILD COPY <<EOF /x\nhello\nEOF\n");
    assert_string_equal(in->u.onbuild.trigger, "COPY");
    assert_string_equal(in->u.onbuild.expression, "COPY <<EOF /x\nhello\nEOF");
    df_instr_free(in);
    expect_err("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    expect_err_at("FROM a\n ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger", 2,
                  2);
    expect_err("ONBUILD maintainer me", "MAINTAINER isn't allowed as an ONBUILD trigger");
}

/* ---- HEALTHCHECK and durations --------------------------------------------------------------- */

static void
test_healthcheck(void **state)
{
    struct df_instr *in = instr("HEALTHCHECK --interval=1m30s --timeout=100ms --start-period=0 "
                                "--start-interval=1ms --retries=3 CMD curl -f http://x/ || exit 1");
    struct df_health *h = &in->u.health;
    assert_strv(&h->test, STRV("CMD-SHELL", "curl -f http://x/ || exit 1"));
    assert_int_equal(h->interval, INT64_C(90000000000));
    assert_int_equal(h->timeout, 100000000);
    assert_int_equal(h->start_period, 0);
    assert_int_equal(h->start_interval, 1000000);
    assert_int_equal(h->retries, 3);
    char *hist = df_health_history(h);
    assert_string_equal(hist, "HEALTHCHECK {Test:[CMD-SHELL curl -f http://x/ || exit 1] "
                              "Interval:1m30s Timeout:100ms StartPeriod:0s StartInterval:1ms "
                              "Retries:3}");
    free(hist);
    df_instr_free(in);
    in = instr("healthcheck cmd [\"/bin/check\", \"-q\"]");
    assert_strv(&in->u.health.test, STRV("CMD", "/bin/check", "-q"));
    df_instr_free(in);
    in = instr("HEALTHCHECK none");
    assert_strv(&in->u.health.test, STRV("NONE"));
    hist = df_health_history(&in->u.health);
    assert_string_equal(hist, "HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s "
                              "StartInterval:0s Retries:0}");
    free(hist);
    df_instr_free(in);
}

static void
test_healthcheck_errors(void **state)
{
    expect_err("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments");
    expect_err("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD");
    expect_err("HEALTHCHECK CMD []", "Missing command after HEALTHCHECK CMD");
    expect_err("HEALTHCHECK BOGUS x", "Unknown type \"BOGUS\" in HEALTHCHECK (try CMD)");
    expect_err("HEALTHCHECK --interval=50ns CMD x",
               "Interval \"interval\" cannot be less than 1ms");
    expect_err("HEALTHCHECK --timeout=-1s CMD x", "Interval \"timeout\" cannot be less than 1ms");
    expect_err("HEALTHCHECK --start-period=abc CMD x", "time: invalid duration \"abc\"");
    expect_err("HEALTHCHECK --start-interval=5 CMD x", "time: missing unit in duration \"5\"");
    expect_err("HEALTHCHECK --interval=5y CMD x", "time: unknown unit \"y\" in duration \"5y\"");
    expect_err("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)");
    expect_err("HEALTHCHECK --retries=x CMD x", "strconv.ParseInt: parsing \"x\": invalid syntax");
    expect_err("HEALTHCHECK --retries=3000000000 CMD x",
               "strconv.ParseInt: parsing \"3000000000\": value out of range");
    expect_err("HEALTHCHECK --retries CMD x", "missing a value on flag: --retries");
}

static void
check_duration(const char *s, int64_t want)
{
    int64_t got = -12345;
    struct sw_error *err = NULL;
    if (df_parse_duration(&got, s, &err) < 0)
        fail_msg("%s: %s", s, err->msg);
    if (got != want)
        fail_msg("%s: got %lld, want %lld", s, (long long)got, (long long)want);
}

static void
check_format(int64_t ns, const char *want)
{
    struct sw_buf b = {0};
    assert_int_equal(df_format_duration(&b, ns), 0);
    assert_string_equal(sw_buf_cstr(&b), want);
    sw_buf_free(&b);
}

static void
test_durations(void **state)
{
    check_duration("0", 0);
    check_duration("1h2m3.5s", INT64_C(3723500000000));
    check_duration("1.5h", INT64_C(5400000000000));
    check_duration("-1s", -1000000000);
    check_duration("+5m", INT64_C(300000000000));
    check_duration(".5s", 500000000);
    check_duration("1.s", 1000000000);
    check_duration("3\xc2\xb5s", 3000);
    check_duration("3\xce\xbcs", 3000);
    check_duration("7us8ns", 7008);
    check_duration("2562047h47m16.854775807s", INT64_MAX);
    struct sw_error *err = NULL;
    int64_t d;
    const char *bad[] = {"", "-", "1", ".s", "s", "1x", "1h-2m", "2562047h47m16.854775808s"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (df_parse_duration(&d, bad[i], &err) == 0)
            fail_msg("\"%s\": want error", bad[i]);
        sw_error_freep(&err);
    }
    check_format(0, "0s");
    check_format(1, "1ns");
    check_format(1500, "1.5\xc2\xb5s");
    check_format(1500000, "1.5ms");
    check_format(1000000000, "1s");
    check_format(INT64_C(90000000000), "1m30s");
    check_format(INT64_C(3600000000000), "1h0m0s");
    check_format(INT64_C(3723500000000), "1h2m3.5s");
    check_format(-1000000000, "-1s");
    check_format(INT64_MIN, "-2562047h47m16.854775808s");
    int64_t ns;
    assert_int_equal(df_parse_opt_interval(&ns, "interval", "", &err), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(df_parse_opt_interval(&ns, "interval", "0ms", &err), 0);
    assert_int_equal(df_parse_opt_interval(&ns, "interval", "999us", &err), -SW_EINVAL);
    assert_string_equal(err->msg, "Interval \"interval\" cannot be less than 1ms");
    sw_error_freep(&err);
}

/* ---- EXPOSE ---------------------------------------------------------------------------------- */

static void
ports_err(const char *spec, const char *msg)
{
    struct sw_strv out = {0};
    struct sw_error *err = NULL;
    if (df_parse_port_spec(&out, spec, &err) == 0)
        fail_msg("%s: want error", spec);
    assert_string_equal(err->msg, msg);
    sw_error_free(err);
    sw_strv_free(&out);
}

static void
ports_ok(const char *spec, const char *const *want)
{
    struct sw_strv out = {0};
    struct sw_error *err = NULL;
    if (df_parse_port_spec(&out, spec, &err) < 0)
        fail_msg("%s: %s", spec, err->msg);
    assert_strv(&out, want);
    sw_strv_free(&out);
}

static void
test_expose_ports(void **state)
{
    ports_ok("80", STRV("80/tcp"));
    ports_ok("53/UDP", STRV("53/udp"));
    ports_ok("8000-8002/sctp", STRV("8000/sctp", "8001/sctp", "8002/sctp"));
    ports_ok("127.0.0.1:8080:80", STRV("80/tcp"));
    ports_ok("[::1]:80:80", STRV("80/tcp"));
    ports_ok("::::80", STRV("80/tcp"));
    ports_ok("1000-1001:2000", STRV("2000/tcp"));
    ports_ok("65535", STRV("65535/tcp"));
    ports_err("", "invalid port: \"\": no port specified");
    ports_err("80:/udp", "invalid port: \"80:/udp\": no port specified");
    ports_err("80/icmp", "invalid proto: icmp");
    ports_err("abc", "invalid containerPort: abc");
    ports_err("65536", "invalid containerPort: 65536");
    ports_err("1-2-3", "invalid containerPort: 1-2-3");
    ports_err("90-80", "invalid containerPort: 90-80");
    ports_err("x:80", "invalid hostPort: x");
    ports_err("localhost:80:80", "invalid IP address: localhost");
    ports_err("300.1.1.1:80:80", "invalid IP address: 300.1.1.1");
    ports_err("[::1:80:80", "invalid IP address: [::1");
    ports_err("1000-1001:2000-2002",
              "invalid ranges specified for container and host Ports: 2000-2002 and 1000-1001");
}

static void
test_expose_instruction(void **state)
{
    struct df_instr *in = instr("EXPOSE 9000 $P 80/udp");
    assert_strv(&in->u.expose.ports, STRV("$P", "80/udp", "9000"));
    df_instr_free(in);
    in = expanded("EXPOSE 9000 $P 80/udp", STRV("P=8080 8081/udp"));
    assert_strv(&in->u.expose.ports, STRV("8080", "8081/udp", "80/udp", "9000"));
    assert_strv(&in->u.expose.exposed, STRV("8080/tcp", "8081/udp", "80/udp", "9000/tcp"));
    df_instr_free(in);
    expect_expand_err("FROM a\nEXPOSE $P", STRV("P=80/foo"), "invalid proto: foo", 2);
}

/* ---- env helpers ----------------------------------------------------------------------------- */

static void
test_env_helpers(void **state)
{
    struct sw_strv env = {0};
    sw_strv_push(&env, "A=1");
    sw_strv_push(&env, "B");
    sw_strv_push(&env, "AB=2");
    assert_int_equal(df_env_list_add(&env, "B", "x"), 0);
    assert_int_equal(df_env_list_add(&env, "A", "y"), 0);
    assert_int_equal(df_env_list_add(&env, "C", ""), 0);
    assert_strv(&env, STRV("A=y", "B=x", "AB=2", "C="));

    struct df_arg_pair args[] = {{.key = "A", .value = "arg"},
                                 {.key = "N", .value = NULL},
                                 {.key = "D", .value = "d1"},
                                 {.key = "D", .value = "d2"}};
    char *envv[] = {"A=1", "E", "A=2"};
    struct sw_strv map = {0};
    assert_int_equal(df_env_to_map(&map, args, 4, envv, 3), 0);
    assert_strv(&map, STRV("A=2", "E=", "D=d1"));
    sw_strv_free(&map);
    sw_strv_free(&env);

    char *k, *v;
    assert_int_equal(df_parse_key_value(&k, &v, "a=b=c"), 0);
    assert_string_equal(k, "a");
    assert_string_equal(v, "b=c");
    free(k);
    free(v);
}

static void
test_proxy_and_epoch(void **state)
{
    char *args[] = {"HTTPS_PROXY=up", "https_proxy=low", "Https_Proxy=mixed",
                    "no_proxy=n",     "FTP_PROXY=f",     "OTHER=x"};
    struct df_proxy_env p;
    assert_int_equal(df_proxy_env_from_build_args(&p, args, 6), 1);
    assert_string_equal(p.https_proxy, "low");
    assert_string_equal(p.no_proxy, "n");
    assert_string_equal(p.ftp_proxy, "f");
    assert_null(p.http_proxy);
    assert_null(p.all_proxy);
    df_proxy_env_clear(&p);
    assert_int_equal(df_proxy_env_from_build_args(&p, args + 5, 1), 0);
    df_proxy_env_clear(&p);

    enum df_sde_kind kind;
    int64_t epoch = 0;
    size_t stage = 99;
    struct sw_error *err = NULL;
    char *stages[] = {"base", "Src"};
    assert_int_equal(df_source_date_epoch(&kind, &epoch, &stage, "1700000501", stages, 2, &err), 0);
    assert_int_equal(kind, DF_SDE_TIME);
    assert_int_equal(epoch, 1700000501);
    assert_int_equal(df_source_date_epoch(&kind, &epoch, &stage, "", stages, 2, &err), 0);
    assert_int_equal(kind, DF_SDE_UNSET);
    assert_int_equal(df_source_date_epoch(&kind, &epoch, &stage, "context", stages, 2, &err), 0);
    assert_int_equal(kind, DF_SDE_CONTEXT);
    assert_int_equal(df_source_date_epoch(&kind, &epoch, &stage, "SRC", stages, 2, &err), 0);
    assert_int_equal(kind, DF_SDE_STAGE);
    assert_int_equal(stage, 1);
    assert_int_equal(df_source_date_epoch(&kind, &epoch, &stage, "soon", stages, 2, &err),
                     -SW_EINVAL);
    assert_string_equal(err->msg, "invalid SOURCE_DATE_EPOCH: soon");
    sw_error_free(err);
}

static void
test_handle_json_args_and_csv(void **state)
{
    struct sw_strv out = {0};
    char *args[] = {"a", "b c"};
    assert_int_equal(df_handle_json_args(&out, args, 2, false), 0);
    assert_strv(&out, STRV("a b c"));
    sw_strv_free(&out);
    assert_int_equal(df_handle_json_args(&out, args, 2, true), 0);
    assert_strv(&out, STRV("a", "b c"));
    sw_strv_free(&out);
    struct sw_error *err = NULL;
    assert_int_equal(df_csv_fields(&out, "a,,\"b,c\",", &err), 0);
    assert_strv(&out, STRV("a", "", "b,c", ""));
    sw_strv_free(&out);
    struct df_device d;
    assert_int_equal(df_device_parse(&d, "name=x,required=true", &err), 0);
    assert_string_equal(d.name, "x");
    assert_true(d.required);
    df_device_clear(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_unknown_instruction),
        cmocka_unit_test(test_exactly_one),
        cmocka_unit_test(test_at_least_one),
        cmocka_unit_test(test_kvps_node_errors),
        cmocka_unit_test(test_flags_rejected),
        cmocka_unit_test(test_flags_not_validated),
        cmocka_unit_test(test_flag_values),
        cmocka_unit_test(test_bflags_direct),
        cmocka_unit_test(test_from),
        cmocka_unit_test(test_from_expand),
        cmocka_unit_test(test_arg),
        cmocka_unit_test(test_doc_comments),
        cmocka_unit_test(test_env_label),
        cmocka_unit_test(test_run_forms),
        cmocka_unit_test(test_run_heredoc),
        cmocka_unit_test(test_cmd_entrypoint_shell),
        cmocka_unit_test(test_not_expanded),
        cmocka_unit_test(test_mount_bind),
        cmocka_unit_test(test_mount_cache_tmpfs),
        cmocka_unit_test(test_mount_secret_ssh),
        cmocka_unit_test(test_mount_errors),
        cmocka_unit_test(test_mount_in_run),
        cmocka_unit_test(test_run_network_security_device),
        cmocka_unit_test(test_copy_flags),
        cmocka_unit_test(test_copy_heredoc),
        cmocka_unit_test(test_copy_expand),
        cmocka_unit_test(test_chmod_url),
        cmocka_unit_test(test_single_value_instructions),
        cmocka_unit_test(test_volume),
        cmocka_unit_test(test_onbuild),
        cmocka_unit_test(test_healthcheck),
        cmocka_unit_test(test_healthcheck_errors),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_expose_ports),
        cmocka_unit_test(test_expose_instruction),
        cmocka_unit_test(test_env_helpers),
        cmocka_unit_test(test_proxy_and_epoch),
        cmocka_unit_test(test_handle_json_args_and_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
