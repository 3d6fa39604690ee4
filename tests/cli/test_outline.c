/* End-to-end tests of `slipway outline`: runs the real binary and reads its output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

struct run {
    int status;
    char *out, *err;
};

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Run slipway with a shell-quoted argument string; stdin from `input` when not NULL. */
static struct run
run(const char *args, const char *input)
{
    char dir[] = "/tmp/sw-outline-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in[128], out[128], err[128], cmd[4096];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    FILE *f = fopen(in, "w");
    fputs(input ? input : "", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd %s && %s %s <%s >%s 2>%s", SLIPWAY_SOURCE_DIR, SLIPWAY_BIN, args,
             in, out, err);
    int st = system(cmd);
    struct run r = {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err)};
    unlink(in);
    unlink(out);
    unlink(err);
    rmdir(dir);
    return r;
}

static void
run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static void
test_sample_json(void **state)
{
    (void)state;
    struct run r = run("outline -f samples/hello/Dockerfile --build-arg GREETING=hi "
                       "--platform linux/arm64 --format json",
                       NULL);
    assert_int_equal(r.status, 0);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "file")), "samples/hello/Dockerfile");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "platforms"), "target")),
        "linux/arm64");
    json_t *stages = json_object_get(j, "stages");
    assert_int_equal(json_array_size(stages), 2);
    json_t *build = json_array_get(stages, 0);
    assert_string_equal(json_string_value(json_object_get(build, "name")), "build");
    /* the heredoc body is expanded with the build arg */
    json_t *copy = json_array_get(json_object_get(build, "instructions"), 2);
    assert_string_equal(json_string_value(json_object_get(copy, "kind")), "COPY");
    json_t *span = json_object_get(copy, "span");
    assert_int_equal(json_integer_value(json_object_get(span, "line")), 9);
    assert_int_equal(json_integer_value(json_object_get(span, "end_line")), 11);
    json_t *content = json_array_get(json_object_get(json_object_get(copy, "args"), "contents"), 0);
    assert_string_equal(json_string_value(json_object_get(content, "data")), "hi, world\n");
    json_t *final = json_array_get(stages, 1);
    assert_true(json_is_true(json_object_get(final, "needed")));
    assert_int_equal(json_integer_value(json_array_get(json_object_get(final, "depends_on"), 0)),
                     0);
    json_t *labels = json_object_get(final, "labels");
    assert_string_equal(
        json_string_value(json_object_get(labels, "org.opencontainers.image.title")), "hello");
    json_t *base = json_object_get(final, "base");
    assert_string_equal(json_string_value(json_object_get(base, "image")),
                        "slipway-samples/busybox:latest");
    json_decref(j);
    run_free(&r);
}

static void
test_errors_name_file_line_col(void **state)
{
    (void)state;
    struct run r = run("outline -f -", "FROM scratch\n\n  COPY --bogus a b\n");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "<stdin>:3:3: error: unknown flag: --bogus\n");
    assert_string_equal(r.out, "");
    run_free(&r);

    r = run("outline -f -", "FROM scratch\nRUN <<EOF\necho\n");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "<stdin>:2:1: error: unterminated heredoc\n");
    run_free(&r);

    r = run("outline -f /nonexistent/Dockerfile", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot read /nonexistent/Dockerfile"));
    run_free(&r);
}

static void
test_usage(void **state)
{
    (void)state;
    struct run r = run("outline --help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--build-arg"));
    run_free(&r);
    r = run("outline --no-such-flag", NULL);
    assert_int_equal(r.status, 2);
    run_free(&r);
    r = run("no-such-command", NULL);
    assert_int_equal(r.status, 2);
    run_free(&r);
}

static void
test_text_shows_warnings(void **state)
{
    (void)state;
    struct run r = run("outline -f - --build-arg NOPE=1", "FROM scratch\nENV a b\n");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "<stdin>:2:1: warning:"));
    assert_non_null(strstr(r.out, "LegacyKeyValueFormat"));
    assert_non_null(strstr(r.out, "[NOPE]"));
    run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_json),
        cmocka_unit_test(test_errors_name_file_line_col),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_text_shows_warnings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
