/*
 * Unit tests for builder/image/{config,manifest,ref}.h: config/manifest/index round trips and
 * canonical bytes, Docker media type mapping, unknown-field preservation, validation errors,
 * image references, history texts, Go durations and RFC 3339 times.
 *
 * `test_image --write-samples DIR` writes config/manifest/index/descriptor JSON produced by the
 * image model into DIR (named <kind>-<name>.json) and exits; tests/tools/oci_validate.py checks
 * them against the OCI schemas (ctest `image_schema`, label conformance).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dockerfile/instructions.h"
#include "image/config.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "util/buf.h"
#include "util/digest.h"

/* ---- helpers --------------------------------------------------------------------------------- */

/* "sha256:" + 64 x c */
static struct sw_digest
dg(char c)
{
    struct sw_digest d;
    memcpy(d.str, "sha256:", 7);
    memset(d.str + 7, c, 64);
    d.str[SW_DIGEST_STR_LEN] = '\0';
    return d;
}

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* Fail on r < 0 with the error's message (passed by address, read after the call ran). */
static void
ok(int r, struct sw_error **errp, const char *what)
{
    if (r < 0)
        fail_msg("%s: unexpected error: %s", what, *errp && (*errp)->msg ? (*errp)->msg : "(none)");
}

/* Assert an error with exactly this message, free it and reset *errp. The error goes by address
 * so that the call under test has run before it is read (argument order is unspecified). */
static void
expect_err(int r, struct sw_error **errp, const char *msg)
{
    assert_int_equal(r, -SW_EINVAL);
    assert_non_null(*errp);
    assert_string_equal((*errp)->msg, msg);
    sw_error_freep(errp);
}

/* Assert an error whose message contains sub, free it and reset *errp. */
static void
expect_err_sub(int r, struct sw_error **errp, const char *sub)
{
    assert_int_equal(r, -SW_EINVAL);
    assert_non_null(*errp);
    if (!strstr((*errp)->msg, sub))
        fail_msg("error \"%s\" does not contain \"%s\"", (*errp)->msg, sub);
    sw_error_freep(errp);
}

static char *
config_json(const struct img_config *c)
{
    char *s = NULL;
    size_t n = 0;
    struct sw_error *err = NULL;
    ok(img_config_to_json(&s, &n, c, &err), &err, "img_config_to_json");
    assert_int_equal(n, strlen(s));
    return s;
}

static struct img_config *
config_parse(const char *s)
{
    struct img_config *c = NULL;
    struct sw_error *err = NULL;
    ok(img_config_parse(&c, s, strlen(s), &err), &err, "img_config_parse");
    return c;
}

static struct img_config *
linux_amd64(void)
{
    struct img_platform p;
    struct img_config *c = NULL;
    struct sw_error *err = NULL;
    ok(img_platform_parse(&p, "linux/amd64", &err), &err, "platform");
    ok(img_config_new(&c, &p, &err), &err, "img_config_new");
    ok(img_config_set_created(c, 1700000000, 0, &err), &err, "created");
    return c;
}

/* ---- config: canonical output and round trips ------------------------------------------------ */

static const char sample_config[] =
    "{\"architecture\":\"amd64\",\"config\":{\"Cmd\":[\"sh\"],\"Env\":[\"PATH=/usr/bin\","
    "\"A=b\"],\"ExposedPorts\":{\"8080/tcp\":{}},\"Labels\":{\"k\":\"v\"},\"WorkingDir\":"
    "\"/app\"},\"created\":\"2023-11-14T22:13:20Z\",\"history\":[{\"comment\":"
    "\"buildkit.dockerfile.v0\",\"created\":\"2023-11-14T22:13:20Z\",\"created_by\":\"COPY x / "
    "# buildkit\"},{\"comment\":\"buildkit.dockerfile.v0\",\"created_by\":\"ENV A=b\","
    "\"empty_layer\":true}],\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"" DA "\"],\"type\":"
    "\"layers\"}}";

static struct img_config *
build_sample(void)
{
    struct img_config *c = linux_amd64();
    struct sw_error *err = NULL;
    struct sw_digest a = dg('a');
    const char *cmd[] = {"sh"};
    ok(img_config_env_set(c, "PATH", "/usr/bin", &err), &err, "env");
    ok(img_config_add_layer(c, &a, c->created, "COPY x / # buildkit", IMG_HISTORY_COMMENT, &err),
       &err, "layer");
    ok(img_config_env_set(c, "A", "b", &err), &err, "env");
    ok(img_config_add_history(c, NULL, "ENV A=b", IMG_HISTORY_COMMENT, true, &err), &err, "hist");
    ok(img_config_label_set(c, "k", "v", &err), &err, "label");
    ok(img_config_expose(c, "8080/tcp", &err), &err, "expose");
    ok(img_config_expose(c, "8080/tcp", &err), &err, "expose again");
    ok(img_config_set_cmd(c, cmd, 1, &err), &err, "cmd");
    c->working_dir = strdup("/app");
    return c;
}

static void
test_config_canonical(void **state)
{
    (void)state;
    struct img_config *c = build_sample();
    char *s = config_json(c);
    assert_string_equal(s, sample_config);
    assert_int_equal(img_config_layer_history_count(c), c->ndiff_ids);

    /* same input -> same bytes -> same digest, through parse and clone */
    struct img_config *p = config_parse(s), *cl = NULL;
    struct sw_error *err = NULL;
    ok(img_config_clone(&cl, p, &err), &err, "clone");
    char *s2 = config_json(p), *s3 = config_json(cl);
    assert_string_equal(s, s2);
    assert_string_equal(s, s3);
    struct sw_digest d1, d2;
    ok(sw_digest_bytes(&d1, s, strlen(s), &err), &err, "digest");
    ok(sw_digest_bytes(&d2, s3, strlen(s3), &err), &err, "digest");
    assert_string_equal(d1.str, d2.str);

    /* key order of the input does not matter */
    const char *shuffled =
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\"]},\"os\":\"linux\","
        "\"history\":[{\"created_by\":\"COPY x / # buildkit\",\"created\":"
        "\"2023-11-14T22:13:20Z\",\"comment\":\"buildkit.dockerfile.v0\"},{\"empty_layer\":true,"
        "\"created_by\":\"ENV A=b\",\"comment\":\"buildkit.dockerfile.v0\"}],\"created\":"
        "\"2023-11-14T22:13:20Z\",\"config\":{\"WorkingDir\":\"/app\",\"Labels\":{\"k\":\"v\"},"
        "\"ExposedPorts\":{\"8080/tcp\":{}},\"Env\":[\"PATH=/usr/bin\",\"A=b\"],\"Cmd\":[\"sh\"]},"
        "\"architecture\":\"amd64\"}";
    struct img_config *q = config_parse(shuffled);
    char *s4 = config_json(q);
    assert_string_equal(s, s4);

    /* the clone is independent */
    ok(img_config_env_set(cl, "A", "changed", &err), &err, "env");
    assert_string_equal(img_config_env_get(p, "A"), "b");
    assert_string_equal(img_config_env_get(cl, "A"), "changed");

    free(s);
    free(s2);
    free(s3);
    free(s4);
    img_config_free(c);
    img_config_free(p);
    img_config_free(cl);
    img_config_free(q);
}

static void
test_config_omitempty(void **state)
{
    (void)state;
    struct img_config *c = linux_amd64();
    struct sw_error *err = NULL;
    char *s = config_json(c);
    /* scratch: config and rootfs always there, nothing else */
    assert_string_equal(s, "{\"architecture\":\"amd64\",\"config\":{},\"created\":"
                           "\"2023-11-14T22:13:20Z\",\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[],"
                           "\"type\":\"layers\"}}");
    free(s);

    /* empty Cmd / Entrypoint are omitted like Go's omitempty, but the model keeps "set" */
    const char *none[] = {NULL};
    ok(img_config_set_cmd(c, none, 0, &err), &err, "cmd");
    ok(img_config_set_entrypoint(c, none, 0, &err), &err, "entrypoint");
    assert_non_null(c->cmd);
    assert_int_equal(c->cmd->n, 0);
    s = config_json(c);
    assert_null(strstr(s, "Cmd"));
    assert_null(strstr(s, "Entrypoint"));
    assert_null(strstr(s, "Volumes"));
    free(s);
    ok(img_config_set_cmd(c, NULL, 0, &err), &err, "cmd");
    assert_null(c->cmd);

    /* every field set */
    struct img_health h = {.interval = 30000000000LL, .retries = 3};
    sw_strv_push(&h.test, "CMD-SHELL");
    sw_strv_push(&h.test, "curl -f http://localhost/");
    ok(img_config_set_healthcheck(c, &h, &err), &err, "health");
    sw_strv_free(&h.test);
    ok(img_config_add_volume(c, "/data", &err), &err, "vol");
    c->user = strdup("app");
    c->stop_signal = strdup("SIGINT");
    c->author = strdup("me");
    c->variant = strdup("v2");
    sw_strv_push(&c->onbuild, "RUN make");
    sw_strv_push(&c->shell, "/bin/bash");
    sw_strv_push(&c->shell, "-c");
    const char *ep[] = {"/entry", "--x"};
    ok(img_config_set_entrypoint(c, ep, 2, &err), &err, "entrypoint");
    s = config_json(c);
    assert_string_equal(
        s, "{\"architecture\":\"amd64\",\"author\":\"me\",\"config\":{\"Entrypoint\":[\"/entry\","
           "\"--x\"],\"Healthcheck\":{\"Interval\":30000000000,\"Retries\":3,\"Test\":["
           "\"CMD-SHELL\",\"curl -f http://localhost/\"]},\"OnBuild\":[\"RUN make\"],\"Shell\":["
           "\"/bin/bash\",\"-c\"],\"StopSignal\":\"SIGINT\",\"User\":\"app\",\"Volumes\":{"
           "\"/data\":{}}},\"created\":\"2023-11-14T22:13:20Z\",\"os\":\"linux\",\"rootfs\":{"
           "\"diff_ids\":[],\"type\":\"layers\"},\"variant\":\"v2\"}");
    /* and it parses back to the same bytes */
    struct img_config *p = config_parse(s);
    char *s2 = config_json(p);
    assert_string_equal(s, s2);
    assert_int_equal(p->healthcheck->interval, 30000000000LL);
    free(s);
    free(s2);
    img_config_free(p);
    img_config_free(c);
}

static const char docker_config[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2016-10-10T23:04:00.821781828Z\","
    "\"docker_version\":\"1.12.1\",\"container_config\":{\"Cmd\":[\"x\"]},"
    "\"config\":{\"Hostname\":\"09713501c176\",\"User\":\"\",\"Env\":[\"PATH=/bin\"],\"Cmd\":null,"
    "\"Entrypoint\":[],\"Volumes\":null,\"OnBuild\":[],\"Labels\":{},\"ArgsEscaped\":true,"
    "\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"],\"Interval\":1000000000,\"Future\":1}},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"],\"x\":2},"
    "\"history\":[{\"created\":\"2016-09-23T16:29:57.276868291Z\",\"created_by\":\"/bin/sh -c "
    "#(nop) ADD file:d6 in / \",\"x-extra\":true},{\"created\":\"2016-09-23T16:29:57Z\","
    "\"created_by\":\"/bin/sh -c #(nop)  CMD [\\\"sh\\\"]\",\"empty_layer\":true}]}";

static void
test_config_docker_unknown_fields(void **state)
{
    (void)state;
    struct img_config *c = config_parse(docker_config);
    assert_string_equal(c->created, "2016-10-10T23:04:00.821781828Z");
    assert_null(c->cmd);            /* null: absent */
    assert_non_null(c->entrypoint); /* []: present, empty */
    assert_int_equal(c->entrypoint->n, 0);
    assert_null(c->user); /* "" reads as a Go zero value, written as omitted */
    assert_int_equal(c->ndiff_ids, 1);
    assert_int_equal(c->nhistory, 2);
    assert_true(c->history[1].empty_layer);
    assert_int_equal(c->healthcheck->interval, 1000000000);

    struct sw_error *err = NULL;
    struct sw_digest d2 = dg('2');
    ok(img_config_add_layer(c, &d2, "2024-01-01T00:00:00Z", "RUN x # buildkit", IMG_HISTORY_COMMENT,
                            &err),
       &err, "layer");
    char *s = config_json(c);
    assert_string_equal(
        s, "{\"architecture\":\"amd64\",\"config\":{\"Env\":[\"PATH=/bin\"],\"Healthcheck\":{"
           "\"Future\":1,\"Interval\":1000000000,\"Test\":[\"CMD\",\"true\"]},\"Hostname\":"
           "\"09713501c176\"},\"container_config\":{\"Cmd\":[\"x\"]},\"created\":"
           "\"2016-10-10T23:04:00.821781828Z\",\"docker_version\":\"1.12.1\",\"history\":[{"
           "\"created\":\"2016-09-23T16:29:57.276868291Z\",\"created_by\":\"/bin/sh -c #(nop) "
           "ADD file:d6 in / \",\"x-extra\":true},{\"created\":\"2016-09-23T16:29:57Z\","
           "\"created_by\":\"/bin/sh -c #(nop)  CMD [\\\"sh\\\"]\",\"empty_layer\":true},{"
           "\"comment\":\"buildkit.dockerfile.v0\",\"created\":\"2024-01-01T00:00:00Z\","
           "\"created_by\":\"RUN x # buildkit\"}],\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"" D1
           "\",\"" D2 "\"],\"type\":\"layers\",\"x\":2}}");
    free(s);

    /* a clone keeps them, drop_unknown removes them */
    struct img_config *cl = NULL;
    ok(img_config_clone(&cl, c, &err), &err, "clone");
    img_config_drop_unknown(cl);
    s = config_json(cl);
    assert_null(strstr(s, "docker_version"));
    assert_null(strstr(s, "Hostname"));
    assert_null(strstr(s, "x-extra"));
    assert_null(strstr(s, "Future"));
    assert_null(strstr(s, "\"x\""));
    free(s);
    s = config_json(c);
    assert_non_null(strstr(s, "docker_version"));
    free(s);
    img_config_free(cl);
    img_config_free(c);
}

static void
test_config_env(void **state)
{
    (void)state;
    struct img_config *c = linux_amd64();
    struct sw_error *err = NULL;
    /* BuildKit addEnv: the first matching key is replaced, a bare "key" matches */
    sw_strv_push(&c->env, "key1=val1");
    sw_strv_push(&c->env, "key1=val2");
    sw_strv_push(&c->env, "key3");
    ok(img_config_env_set(c, "key1", "value1", &err), &err, "env");
    ok(img_config_env_set(c, "key3", "val3", &err), &err, "env");
    ok(img_config_env_set(c, "KEY1", "upper", &err), &err, "env"); /* case-sensitive on linux */
    assert_int_equal(c->env.n, 4);
    assert_string_equal(c->env.v[0], "key1=value1");
    assert_string_equal(c->env.v[1], "key1=val2");
    assert_string_equal(c->env.v[2], "key3=val3");
    assert_string_equal(c->env.v[3], "KEY1=upper");
    assert_string_equal(img_config_env_get(c, "key1"), "value1");
    assert_null(img_config_env_get(c, "nope"));
    /* values may contain '=' */
    ok(img_config_env_set(c, "E", "a=b", &err), &err, "env");
    assert_string_equal(img_config_env_get(c, "E"), "a=b");
    expect_err(img_config_env_set(c, "", "x", &err), &err,
               "image config: invalid environment variable name \"\"");
    expect_err(img_config_env_set(c, "A=B", "x", &err), &err,
               "image config: invalid environment variable name \"A=B\"");
    img_config_free(c);

    /* Windows: case-insensitive keys, the first spelling stays */
    struct img_platform p;
    ok(img_platform_parse(&p, "windows/amd64", &err), &err, "platform");
    ok(img_config_new(&c, &p, &err), &err, "new");
    ok(img_config_env_set(c, "Path", "C:\\Windows", &err), &err, "env");
    ok(img_config_env_set(c, "PATH", "C:\\bin", &err), &err, "env");
    assert_int_equal(c->env.n, 1);
    assert_string_equal(c->env.v[0], "Path=C:\\bin");
    assert_string_equal(img_config_env_get(c, "path"), "C:\\bin");
    img_config_free(c);
}

static void
test_config_windows(void **state)
{
    (void)state;
    struct img_config *c = NULL;
    struct sw_error *err = NULL;
    const char *in =
        "{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":"
        "\"10.0.20348.2113\",\"os.features\":[\"win32k\"],\"config\":{\"Env\":["
        "\"Path=C:\\\\Windows\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"]}}";
    ok(img_config_parse(&c, in, strlen(in), &err), &err, "parse");
    assert_string_equal(c->os_version, "10.0.20348.2113");
    assert_int_equal(c->os_features.n, 1);
    /* no created in the base: output needs one */
    char *s = NULL;
    expect_err(img_config_to_json(&s, NULL, c, &err), &err,
               "image config: created: not set (img_config_set_created)");
    ok(img_config_set_created(c, 0, 0, &err), &err, "created");
    s = config_json(c);
    assert_string_equal(s,
                        "{\"architecture\":\"amd64\",\"config\":{\"Env\":[\"Path=C:\\\\Windows\"]"
                        "},\"created\":\"1970-01-01T00:00:00Z\",\"os\":\"windows\","
                        "\"os.features\":[\"win32k\"],\"os.version\":\"10.0.20348.2113\","
                        "\"rootfs\":{\"diff_ids\":[\"" D1 "\"],\"type\":\"layers\"}}");
    free(s);
    img_config_free(c);
}

static void
config_err(const char *json, const char *msg)
{
    struct img_config *c = NULL;
    struct sw_error *err = NULL;
    int r = img_config_parse(&c, json, strlen(json), &err);
    assert_null(c);
    expect_err(r, &err, msg);
}

#define RF "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}"

static void
test_config_errors(void **state)
{
    (void)state;
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\","
               "\"FOO\"]}," RF "}",
               "image config: config.Env[1]: \"FOO\" is not KEY=value");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"=x\"]}," RF "}",
               "image config: config.Env[0]: \"=x\" is not KEY=value");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\"}",
               "image config: rootfs: required field is missing");
    config_err("{\"os\":\"linux\"," RF "}",
               "image config: architecture: required field is missing");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
               "\"diff_ids\":[\"sha256:abc\"]}}",
               "image config: rootfs.diff_ids[0]: not a sha256 digest (sha256: + 64 lower-case "
               "hex digits)");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"tar\","
               "\"diff_ids\":[]}}",
               "image config: rootfs.type: \"tar\" is not supported (want \"layers\")");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"yesterday\"," RF "}",
               "image config: created: \"yesterday\" is not an RFC 3339 time");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":0}," RF "}",
               "image config: config.User: expected a string, got an integer");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":\"sh\"}," RF "}",
               "image config: config.Cmd: expected an array of strings, got a string");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"a\",1]}," RF
               "}",
               "image config: config.Cmd[1]: expected a string, got an integer");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"a\":1}}," RF
               "}",
               "image config: config.Labels.a: expected a string, got an integer");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Healthcheck\":{"
               "\"Interval\":1.5}}," RF "}",
               "image config: config.Healthcheck.Interval: expected an integer, got a number");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\"," RF ",\"history\":[{\"created\":"
               "\"2020-13-01T00:00:00Z\"}]}",
               "image config: history[0].created: \"2020-13-01T00:00:00Z\" is not an RFC 3339 "
               "time");
    config_err("{\"architecture\":\"amd64\",\"os\":\"linux\"," RF ",\"history\":[{"
               "\"empty_layer\":\"yes\"}]}",
               "image config: history[0].empty_layer: expected a boolean");
    config_err("[]", "image config: expected a JSON object, got an array");
    config_err("{\"a\":1,\"a\":2}",
               "image config: invalid JSON at line 1 column 10: duplicate object key near '\"a\"'");

    /* output-side checks */
    struct img_config *c = linux_amd64();
    struct sw_error *err = NULL;
    char *s = NULL;
    sw_strv_push(&c->env, "NOEQUALS");
    expect_err(img_config_to_json(&s, NULL, c, &err), &err,
               "image config: config.Env[0]: \"NOEQUALS\" is not KEY=value");
    img_config_free(c);
    c = linux_amd64();
    expect_err(img_config_add_history(c, "2020-01-01", "x", NULL, true, &err), &err,
               "image config: history created \"2020-01-01\" is not an RFC 3339 time");
    expect_err(img_config_add_volume(c, "", &err), &err,
               "VOLUME specified can not be an empty string");
    img_config_free(c);
}

/* ---- times and durations --------------------------------------------------------------------- */

static void
test_times(void **state)
{
    (void)state;
    char buf[IMG_TIME_MAX];
    struct sw_error *err = NULL;
    const struct {
        int64_t sec;
        int32_t nsec;
        const char *want;
    } cases[] = {
        {0, 0, "1970-01-01T00:00:00Z"},
        {1700000000, 500000000, "2023-11-14T22:13:20.5Z"},
        {1700000000, 123, "2023-11-14T22:13:20.000000123Z"},
        {951782400, 120000000, "2000-02-29T00:00:00.12Z"},
        {253402300799LL, 999999999, "9999-12-31T23:59:59.999999999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ok(img_time_format(buf, sizeof buf, cases[i].sec, cases[i].nsec, &err), &err, "time");
        assert_string_equal(buf, cases[i].want);
        assert_true(img_time_valid(buf));
    }
    expect_err_sub(img_time_format(buf, sizeof buf, 253402300800LL, 0, &err), &err,
                   "outside the years 0..9999");
    expect_err(img_time_format(buf, sizeof buf, 0, -1, &err), &err, "invalid nanoseconds -1");

    const char *valid[] = {"2016-10-10T23:04:00.821781828Z", "2020-02-29T00:00:00Z",
                           "2020-01-01T00:00:00+01:00", "2020-01-01T00:00:00.5-07:30"};
    const char *invalid[] = {"2019-02-29T00:00:00Z",     "2020-01-01 00:00:00Z",
                             "2020-01-01T24:00:00Z",     "2020-01-01T00:00:60Z",
                             "2020-01-01T00:00:00",      "2020-01-01T00:00:00.Z",
                             "2020-01-01T00:00:00+0100", "2020-1-01T00:00:00Z",
                             "2020-01-01T00:00:00Zx",    ""};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        assert_true(img_time_valid(valid[i]));
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        if (img_time_valid(invalid[i]))
            fail_msg("accepted %s", invalid[i]);
}

static void
test_go_duration(void **state)
{
    (void)state;
    const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {999, "999ns"},
        {1500, "1.5\xc2\xb5s"},
        {100000000, "100ms"},
        {1500000000, "1.5s"},
        {90000000000LL, "1m30s"},
        {3600000000000LL, "1h0m0s"},
        {7384005000000LL, "2h3m4.005s"},
        {-1000000000, "-1s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sw_buf b = {0}, d = {0};
        assert_int_equal(img_go_duration(&b, cases[i].ns), 0);
        assert_string_equal(sw_buf_cstr(&b), cases[i].want);
        /* the frontend's formatter agrees */
        assert_int_equal(df_format_duration(&d, cases[i].ns), 0);
        assert_string_equal(sw_buf_cstr(&d), cases[i].want);
        sw_buf_free(&b);
        sw_buf_free(&d);
    }
}

/* ---- history texts --------------------------------------------------------------------------- */

static void
hist_is(const struct img_hist_step *s, const char *want)
{
    char *out = NULL;
    struct sw_error *err = NULL;
    ok(img_history_created_by(&out, s, &err), &err, want);
    assert_string_equal(out, want);
    free(out);
}

static void
test_history_texts(void **state)
{
    (void)state;
    const char *k2[] = {"A", "C"}, *v2[] = {"b", "d e"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_ENV, .keys = k2, .values = v2, .npairs = 2},
            "ENV A=b C=d e");
    const char *lk[] = {"org.opencontainers.image.title"}, *lv[] = {"x y"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_LABEL, .keys = lk, .values = lv, .npairs = 1},
            "LABEL org.opencontainers.image.title=x y");
    const char *ak[] = {"A", "B", "C"}, *av[] = {"1", NULL, ""};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_ARG, .keys = ak, .values = av, .npairs = 3},
            "ARG A=1 B C=");
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_USER, .value = "app:app"}, "USER app:app");
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_WORKDIR, .value = "/x"}, "WORKDIR /x");
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_STOPSIGNAL, .value = "SIGTERM"},
            "STOPSIGNAL SIGTERM");
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_MAINTAINER, .value = "me <me@x>"},
            "MAINTAINER me <me@x>");
    const char *cmd1[] = {"a"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_CMD, .words = cmd1, .nwords = 1},
            "CMD [\"a\"]");
    const char *cmd2[] = {"/bin/sh", "-c", "echo \"hi\"\tthere\n\\ \xe2\x99\xa5"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_CMD, .words = cmd2, .nwords = 3},
            "CMD [\"/bin/sh\" \"-c\" \"echo \\\"hi\\\"\\tthere\\n\\\\ \xe2\x99\xa5\"]");
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_ENTRYPOINT}, "ENTRYPOINT []");
    const char *ep[] = {"/entry.sh", "a b"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_ENTRYPOINT, .words = ep, .nwords = 2},
            "ENTRYPOINT [\"/entry.sh\" \"a b\"]");
    const char *sh[] = {"/bin/bash", "-o", "pipefail", "-c"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_SHELL, .words = sh, .nwords = 4},
            "SHELL [/bin/bash -o pipefail -c]");
    const char *vol[] = {"/a", "/b c"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_VOLUME, .words = vol, .nwords = 2},
            "VOLUME [/a /b c]");
    const char *ports[] = {"8080/tcp", "53/udp", "8080/tcp"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_EXPOSE, .words = ports, .nwords = 2},
            "EXPOSE [8080/tcp 53/udp]");
    hist_is(
        &(struct img_hist_step){
            .kind = IMG_HIST_EXPOSE, .words = ports, .nwords = 1, .expose_legacy_map = true},
        "EXPOSE map[8080/tcp:{}]");
    hist_is(
        &(struct img_hist_step){
            .kind = IMG_HIST_EXPOSE, .words = ports, .nwords = 3, .expose_legacy_map = true},
        "EXPOSE map[53/udp:{} 8080/tcp:{}]");

    /* buildkit-dockerfile2llb/healthcheck-history.jsonl */
    struct img_health h = {.interval = 1000000000,
                           .timeout = 10000000000LL,
                           .start_period = 3000000000LL,
                           .start_interval = 100000000,
                           .retries = 5};
    sw_strv_push(&h.test, "bin");
    sw_strv_push(&h.test, "-c");
    sw_strv_push(&h.test, "exit 0");
    const char *want_h = "HEALTHCHECK {Test:[bin -c exit 0] Interval:1s Timeout:10s "
                         "StartPeriod:3s StartInterval:100ms Retries:5}";
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_HEALTHCHECK, .health = &h}, want_h);
    /* ... and the frontend's text for the same instruction agrees */
    struct df_health dh = {.interval = h.interval,
                           .timeout = h.timeout,
                           .start_period = h.start_period,
                           .start_interval = h.start_interval,
                           .retries = 5};
    dh.test = h.test;
    char *dtext = df_health_history(&dh);
    assert_string_equal(dtext, want_h);
    free(dtext);
    sw_strv_free(&h.test);
    struct img_health none = {0};
    sw_strv_push(&none.test, "NONE");
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_HEALTHCHECK, .health = &none},
            "HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s "
            "Retries:0}");
    sw_strv_free(&none.test);

    const char *run[] = {"/bin/sh", "-c", "make all"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_RUN, .words = run, .nwords = 3},
            "RUN /bin/sh -c make all # buildkit");
    const char *rk[] = {"A", "B", "A"}, *rv[] = {"1", NULL, "2"};
    hist_is(
        &(struct img_hist_step){
            .kind = IMG_HIST_RUN, .words = run, .nwords = 3, .keys = rk, .values = rv, .npairs = 3},
        "RUN |2 A=2 B= /bin/sh -c make all # buildkit");
    const char *srcs[] = {"a", "b"}, *docs[] = {"EOF"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_COPY,
                                    .words = srcs,
                                    .nwords = 2,
                                    .value = "/dst/",
                                    .chown = "1000:1000",
                                    .chmod = "755",
                                    .heredocs = docs,
                                    .nheredocs = 1},
            "COPY --chown=1000:1000 --chmod=755 a b <<EOF /dst/ # buildkit");
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_COPY,
                                    .words = srcs,
                                    .nwords = 1,
                                    .value = "/y",
                                    .parents = true,
                                    .chown = ""},
            "COPY --parents a /y # buildkit");
    const char *url[] = {"https://example.com/f.tgz"};
    hist_is(&(struct img_hist_step){.kind = IMG_HIST_ADD, .words = url, .nwords = 1, .value = "/"},
            "ADD https://example.com/f.tgz / # buildkit");

    char *out = NULL;
    struct sw_error *err = NULL;
    expect_err(
        img_history_created_by(&out, &(struct img_hist_step){.kind = IMG_HIST_HEALTHCHECK}, &err),
        &err, "history: HEALTHCHECK without a config");
}

/* ---- manifests and indexes ------------------------------------------------------------------- */

static const char sample_manifest[] =
    "{\"annotations\":{\"org.opencontainers.image.created\":\"2023-11-14T22:13:20Z\"},\"config\":"
    "{\"digest\":\"" D1 "\",\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":"
    "123},\"layers\":[{\"annotations\":{\"org.opencontainers.image.title\":\"l1\"},\"digest\":\"" D2
    "\",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":456}],"
    "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"schemaVersion\":2}";

static struct img_manifest
build_manifest(void)
{
    struct img_manifest m;
    struct img_descriptor cfg, layer;
    struct sw_error *err = NULL;
    struct sw_digest d1 = dg('1'), d2 = dg('2');
    ok(img_descriptor_init(&cfg, IMG_MT_OCI_CONFIG, &d1, 123, &err), &err, "desc");
    ok(img_manifest_init(&m, &cfg, &err), &err, "manifest");
    ok(img_descriptor_init(&layer, IMG_MT_OCI_LAYER_GZIP, &d2, 456, &err), &err, "desc");
    img_strmap_set(&layer.annotations, "org.opencontainers.image.title", "l1");
    ok(img_manifest_add_layer(&m, &layer, &err), &err, "layer");
    img_strmap_set(&m.annotations, "org.opencontainers.image.created", "2023-11-14T22:13:20Z");
    img_descriptor_clear(&cfg);
    img_descriptor_clear(&layer);
    return m;
}

static char *
manifest_json(const struct img_manifest *m)
{
    char *s = NULL;
    struct sw_error *err = NULL;
    ok(img_manifest_to_json(&s, NULL, m, &err), &err, "manifest json");
    return s;
}

static char *
index_json(const struct img_index *ix)
{
    char *s = NULL;
    struct sw_error *err = NULL;
    ok(img_index_to_json(&s, NULL, ix, &err), &err, "index json");
    return s;
}

static void
test_manifest_roundtrip(void **state)
{
    (void)state;
    struct img_manifest m = build_manifest();
    char *s = manifest_json(&m);
    assert_string_equal(s, sample_manifest);
    assert_int_equal(img_doc_kind_detect(s, strlen(s)), IMG_DOC_MANIFEST);

    struct img_manifest p;
    struct sw_error *err = NULL;
    ok(img_manifest_parse(&p, s, strlen(s), &err), &err, "parse");
    assert_false(p.from_docker);
    assert_int_equal(p.nlayers, 1);
    assert_int_equal(p.layers[0].size, 456);
    assert_string_equal(p.config.digest.str, D1);
    char *s2 = manifest_json(&p);
    assert_string_equal(s, s2);

    /* an artifact-style manifest with a subject and an empty layer list */
    img_manifest_clear(&p);
    const char *art = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1"
                      "+json\",\"artifactType\":\"application/vnd.example+json\",\"config\":{"
                      "\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"" D3 "\","
                      "\"size\":2,\"data\":\"e30=\"},\"layers\":[],\"subject\":{\"mediaType\":"
                      "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\","
                      "\"size\":7}}";
    ok(img_manifest_parse(&p, art, strlen(art), &err), &err, "artifact");
    assert_non_null(p.subject);
    assert_string_equal(p.artifact_type, "application/vnd.example+json");
    assert_string_equal(p.config.data, "e30=");
    free(s2);
    s2 = manifest_json(&p);
    assert_string_equal(
        s2, "{\"artifactType\":\"application/vnd.example+json\",\"config\":{\"data\":\"e30=\","
            "\"digest\":\"" D3 "\",\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"size\":2},"
            "\"layers\":[],\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"schemaVersion\":2,\"subject\":{\"digest\":\"" D1 "\",\"mediaType\":"
            "\"application/vnd.oci.image.manifest.v1+json\",\"size\":7}}");
    free(s);
    free(s2);
    img_manifest_clear(&p);
    img_manifest_clear(&m);
}

static const char docker_manifest[] =
    "{\n   \"schemaVersion\": 2,\n   \"mediaType\": "
    "\"application/vnd.docker.distribution.manifest.v2+json\",\n   \"config\": {\n      "
    "\"mediaType\": \"application/vnd.docker.container.image.v1+json\",\n      \"size\": 123,\n   "
    "   \"digest\": \"" D1 "\"\n   },\n   \"layers\": [\n      {\n         \"mediaType\": "
    "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\n         \"size\": 456,\n         "
    "\"digest\": \"" D2 "\"\n      },\n      {\n         \"mediaType\": "
    "\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\n         \"size\": 9,\n     "
    "    \"digest\": \"" D3 "\",\n         \"urls\": [\"https://mcr.microsoft.com/v2/x/blobs/" D3
    "\"]\n      }\n   ]\n}";

static void
test_manifest_docker(void **state)
{
    (void)state;
    struct img_manifest m;
    struct sw_error *err = NULL;
    assert_int_equal(img_doc_kind_detect(docker_manifest, strlen(docker_manifest)),
                     IMG_DOC_MANIFEST);
    ok(img_manifest_parse(&m, docker_manifest, strlen(docker_manifest), &err), &err, "parse");
    assert_true(m.from_docker);
    assert_string_equal(m.media_type, IMG_MT_OCI_MANIFEST);
    assert_string_equal(m.config.media_type, IMG_MT_OCI_CONFIG);
    assert_string_equal(m.layers[0].media_type, IMG_MT_OCI_LAYER_GZIP);
    assert_string_equal(m.layers[1].media_type, IMG_MT_OCI_LAYER_ND_GZIP);
    assert_int_equal(m.layers[1].urls.n, 1); /* foreign-layer urls survive */
    char *s = manifest_json(&m);
    assert_string_equal(
        s, "{\"config\":{\"digest\":\"" D1 "\",\"mediaType\":"
           "\"application/vnd.oci.image.config.v1+json\",\"size\":123},\"layers\":[{\"digest\":"
           "\"" D2 "\",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":456}"
           ",{\"digest\":\"" D3 "\",\"mediaType\":"
           "\"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\",\"size\":9,\"urls\":["
           "\"https://mcr.microsoft.com/v2/x/blobs/" D3 "\"]}],\"mediaType\":"
           "\"application/vnd.oci.image.manifest.v1+json\",\"schemaVersion\":2}");
    free(s);
    img_manifest_clear(&m);

    /* the mapping table */
    const char *pairs[][2] = {
        {IMG_MT_DOCKER_MANIFEST, IMG_MT_OCI_MANIFEST},
        {IMG_MT_DOCKER_LIST, IMG_MT_OCI_INDEX},
        {IMG_MT_DOCKER_CONFIG, IMG_MT_OCI_CONFIG},
        {IMG_MT_DOCKER_LAYER_GZIP, IMG_MT_OCI_LAYER_GZIP},
        {IMG_MT_DOCKER_LAYER, IMG_MT_OCI_LAYER},
        {IMG_MT_DOCKER_FOREIGN_GZIP, IMG_MT_OCI_LAYER_ND_GZIP},
        {IMG_MT_OCI_LAYER_ZSTD, IMG_MT_OCI_LAYER_ZSTD},
        {"application/octet-stream", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        assert_string_equal(img_media_type_to_oci(pairs[i][0]), pairs[i][1]);
    assert_true(img_media_type_is_docker(IMG_MT_DOCKER_CONFIG));
    assert_false(img_media_type_is_docker(IMG_MT_OCI_CONFIG));
}

static void
test_index_roundtrip(void **state)
{
    (void)state;
    struct img_index ix;
    struct img_descriptor e;
    struct img_platform p;
    struct sw_error *err = NULL;
    struct sw_digest d3 = dg('3'), d1 = dg('1');
    ok(img_index_init(&ix, &err), &err, "index");
    ok(img_descriptor_init(&e, IMG_MT_OCI_MANIFEST, &d3, 789, &err), &err, "desc");
    ok(img_platform_parse(&p, "linux/arm64/v8", &err), &err, "platform");
    e.platform = malloc(sizeof *e.platform);
    ok(img_desc_platform_from(e.platform, &p, &err), &err, "platform");
    ok(img_index_add(&ix, &e, &err), &err, "add");
    img_descriptor_clear(&e);
    ok(img_descriptor_init(&e, IMG_MT_OCI_MANIFEST, &d1, 10, &err), &err, "desc");
    e.platform = calloc(1, sizeof *e.platform);
    e.platform->architecture = strdup("amd64");
    e.platform->os = strdup("windows");
    e.platform->os_version = strdup("10.0.20348.2113");
    sw_strv_push(&e.platform->os_features, "win32k");
    ok(img_index_add(&ix, &e, &err), &err, "add");
    img_descriptor_clear(&e);
    char *s = index_json(&ix);
    assert_string_equal(
        s, "{\"manifests\":[{\"digest\":\"" D3 "\",\"mediaType\":"
           "\"application/vnd.oci.image.manifest.v1+json\",\"platform\":{\"architecture\":"
           "\"arm64\",\"os\":\"linux\"},\"size\":789},{\"digest\":\"" D1 "\",\"mediaType\":"
           "\"application/vnd.oci.image.manifest.v1+json\",\"platform\":{\"architecture\":"
           "\"amd64\",\"os\":\"windows\",\"os.features\":[\"win32k\"],\"os.version\":"
           "\"10.0.20348.2113\"},\"size\":10}],\"mediaType\":"
           "\"application/vnd.oci.image.index.v1+json\",\"schemaVersion\":2}");
    assert_int_equal(img_doc_kind_detect(s, strlen(s)), IMG_DOC_INDEX);
    struct img_index q;
    ok(img_index_parse(&q, s, strlen(s), &err), &err, "parse");
    assert_int_equal(q.nmanifests, 2);
    assert_string_equal(q.manifests[1].platform->os_version, "10.0.20348.2113");
    char *s2 = index_json(&q);
    assert_string_equal(s, s2);
    free(s);
    free(s2);
    img_index_clear(&q);
    img_index_clear(&ix);

    /* a Docker manifest list maps to an OCI index */
    const char *list =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list."
        "v2+json\",\"manifests\":[{\"mediaType\":\"application/vnd.docker.distribution.manifest."
        "v2+json\",\"size\":2094,\"digest\":\"" D2 "\",\"platform\":{\"architecture\":\"arm\","
        "\"os\":\"linux\",\"variant\":\"v7\"}}]}";
    assert_int_equal(img_doc_kind_detect(list, strlen(list)), IMG_DOC_INDEX);
    ok(img_index_parse(&q, list, strlen(list), &err), &err, "list");
    assert_true(q.from_docker);
    s = index_json(&q);
    assert_string_equal(s, "{\"manifests\":[{\"digest\":\"" D2 "\",\"mediaType\":"
                           "\"application/vnd.oci.image.manifest.v1+json\",\"platform\":{"
                           "\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"},"
                           "\"size\":2094}],\"mediaType\":"
                           "\"application/vnd.oci.image.index.v1+json\",\"schemaVersion\":2}");
    free(s);
    img_index_clear(&q);
}

static void
manifest_err(const char *json, const char *msg)
{
    struct img_manifest m;
    struct sw_error *err = NULL;
    int r = img_manifest_parse(&m, json, strlen(json), &err);
    assert_null(m.layers);
    assert_null(m.media_type);
    expect_err(r, &err, msg);
}

static void
index_err(const char *json, const char *msg)
{
    struct img_index ix;
    struct sw_error *err = NULL;
    int r = img_index_parse(&ix, json, strlen(json), &err);
    assert_null(ix.manifests);
    expect_err(r, &err, msg);
}

#define CFG                                                                                        \
    "\"config\":{\"mediaType\":\"application/"                                                     \
    "vnd.oci.image.config.v1+json\",\"size\":1,\"digest\":\"" D1 "\"}"
#define SV "\"schemaVersion\":2,"

static void
test_manifest_errors(void **state)
{
    (void)state;
    manifest_err("{" SV CFG ",\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1."
                 "tar\",\"size\":1,\"digest\":\"" D1 "\"},{\"mediaType\":\"application/vnd.oci."
                 "image.layer.v1.tar\",\"size\":1,\"digest\":\"sha256:5B0BCABD1ED22E9FB1310CF6C2D"
                 "EC7CDEF19F0AD69EFA1F392E94A4333501270\"}]}",
                 "image manifest: layers[1].digest: \"sha256:5B0BCABD1ED22E9FB1310CF6C2DEC7CDEF19F"
                 "0AD69EFA1F392E94A4333501270\" is not a sha256 digest (sha256: + 64 lower-case "
                 "hex digits)");
    manifest_err("{" SV "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                 "\"size\":-1,\"digest\":\"" D1 "\"},\"layers\":[]}",
                 "image manifest: config.size: must not be negative (-1)");
    manifest_err("{" SV "\"layers\":[]}", "image manifest: config: required field is missing");
    manifest_err("{" SV CFG "}", "image manifest: layers: required field is missing");
    manifest_err("{" SV CFG ",\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1."
                 "tar\",\"size\":\"1\",\"digest\":\"" D1 "\"}]}",
                 "image manifest: layers[0].size: expected an integer, got a string");
    manifest_err("{" SV CFG ",\"layers\":[{\"size\":1,\"digest\":\"" D1 "\"}]}",
                 "image manifest: layers[0].mediaType: required field is missing");
    manifest_err("{" SV CFG ",\"layers\":[{\"mediaType\":\"tar\",\"size\":1,\"digest\":\"" D1
                 "\"}]}",
                 "image manifest: layers[0].mediaType: \"tar\" is not a valid media type "
                 "(type/subtype)");
    manifest_err("{" SV CFG ",\"layers\":[7]}", "image manifest: layers[0]: expected an object");
    manifest_err("{\"schemaVersion\":1," CFG ",\"layers\":[]}",
                 "image manifest: schemaVersion: 1 is not supported (want 2)");
    manifest_err("{" CFG ",\"layers\":[]}",
                 "image manifest: schemaVersion: required field is missing");
    manifest_err("{" SV "\"mediaType\":\"application/vnd.oci.image.index.v1+json\"," CFG
                 ",\"layers\":[]}",
                 "image manifest: mediaType: \"application/vnd.oci.image.index.v1+json\" is an "
                 "image index, not an image manifest");
    manifest_err("{" SV "\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+"
                 "prettyjws\"}",
                 "image manifest: mediaType: Docker schema 1 manifests "
                 "(application/vnd.docker.distribution.manifest.v1+prettyjws) are not supported");
    manifest_err("{" SV CFG ",\"layers\":[],\"manifests\":[]}",
                 "image manifest: manifests: not allowed in an image manifest (ambiguous "
                 "document)");
    manifest_err("{" SV "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                 "\"size\":1,\"digest\":\"" D1 "\",\"data\":\"e30\"},\"layers\":[]}",
                 "image manifest: config.data: not valid padded base64");
    manifest_err("{" SV "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                 "\"size\":1,\"digest\":\"" D1 "\",\"platform\":{\"os\":\"linux\"}},"
                 "\"layers\":[]}",
                 "image manifest: config.platform.architecture: required field is missing");
    manifest_err("not json", "image manifest: invalid JSON at line 1 column 3: '[' or '{' "
                             "expected near 'not'");

    index_err("{" SV "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\""
              ",\"size\":1,\"digest\":\"sha512:abc\"}]}",
              "image index: manifests[0].digest: \"sha512:abc\" is not a sha256 digest (sha256: + "
              "64 lower-case hex digits)");
    index_err("{\"schemaVersion\":2}", "image index: manifests: required field is missing");
    index_err("{" SV "\"manifests\":[]," CFG "}",
              "image index: config: not allowed in an image index (ambiguous document)");
    index_err("{" SV "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
              "\"manifests\":[]}",
              "image index: mediaType: \"application/vnd.docker.distribution.manifest.v2+json\" "
              "is an image manifest, not an image index");
    index_err("{" SV "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\""
              ",\"size\":1,\"digest\":\"" D1 "\",\"platform\":{\"architecture\":\"\",\"os\":"
              "\"linux\"}}]}",
              "image index: manifests[0].platform.architecture: must not be empty");

    /* descriptors on their own */
    struct img_descriptor d;
    struct sw_error *err = NULL;
    const char *dj = "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":7682,"
                     "\"digest\":\"" D1 "\",\"urls\":[\"https://example.com/foo\"],"
                     "\"annotations\":{\"b\":\"2\",\"a\":\"1\"}}";
    ok(img_descriptor_parse(&d, dj, strlen(dj), &err), &err, "descriptor");
    char *s = NULL;
    ok(img_descriptor_to_json(&s, NULL, &d, &err), &err, "descriptor json");
    assert_string_equal(s, "{\"annotations\":{\"a\":\"1\",\"b\":\"2\"},\"digest\":\"" D1 "\","
                           "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                           "\"size\":7682,\"urls\":[\"https://example.com/foo\"]}");
    free(s);
    img_descriptor_clear(&d);
    const char *neg = "{\"mediaType\":\"a/b\",\"size\":-7682,\"digest\":\"" D1 "\"}";
    expect_err(img_descriptor_parse(&d, neg, strlen(neg), &err), &err,
               "descriptor: size: must not be negative (-7682)");
    struct sw_digest bad = dg('G');
    expect_err_sub(img_descriptor_init(&d, IMG_MT_OCI_LAYER, &bad, 1, &err), &err,
                   "descriptor: invalid digest");
    /* writing checks the structs too */
    struct img_manifest m = build_manifest();
    m.layers[0].size = -5;
    expect_err(img_manifest_to_json(&s, NULL, &m, &err), &err,
               "image manifest: layers[0].size: must not be negative (-5)");
    img_manifest_clear(&m);
}

/* ---- references ------------------------------------------------------------------------------ */

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define T128                                                                                       \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"  \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct ref_case {
    const char *in;
    const char *full;     /* NULL: must fail */
    const char *familiar; /* or the error substring when full is NULL */
};

static const struct ref_case ref_cases[] = {
    {"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
    {"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"},
    {"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/library/alpine:3", "docker.io/library/alpine:3", "alpine:3"},
    {"localhost:5000/team/app:v1", "localhost:5000/team/app:v1", "localhost:5000/team/app:v1"},
    {"ghcr.io/o/r@sha256:" HEX64, "ghcr.io/o/r@sha256:" HEX64, "ghcr.io/o/r@sha256:" HEX64},
    {"name:tag@sha256:" HEX64, "docker.io/library/name:tag@sha256:" HEX64,
     "name:tag@sha256:" HEX64},
    {"busybox@sha256:" HEX64, "docker.io/library/busybox@sha256:" HEX64, "busybox@sha256:" HEX64},
    {"team/app", "docker.io/team/app:latest", "team/app:latest"},
    {"a/b/c/d:1", "docker.io/a/b/c/d:1", "a/b/c/d:1"},
    {"localhost/app", "localhost/app:latest", "localhost/app:latest"},
    {"localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"}, /* tag 5000 */
    {"[::1]:5000/app:x", "[::1]:5000/app:x", "[::1]:5000/app:x"},
    {"192.168.1.10:5000/a_b/c__d/e-f/g.h---i:TAG_1.x-y",
     "192.168.1.10:5000/a_b/c__d/e-f/g.h---i:TAG_1.x-y",
     "192.168.1.10:5000/a_b/c__d/e-f/g.h---i:TAG_1.x-y"},
    {"Foo/bar", "Foo/bar:latest", "Foo/bar:latest"}, /* upper case: a registry host */
    {"registry-1.docker.io/library/x", "registry-1.docker.io/library/x:latest",
     "registry-1.docker.io/library/x:latest"},
    {"example.com/x:_t", "example.com/x:_t", "example.com/x:_t"},
    {"busybox:" T128, "docker.io/library/busybox:" T128, "busybox:" T128},
    /* invalid */
    {"Busybox", NULL,
     "invalid reference format: repository name (library/Busybox) must be "
     "lowercase"},
    {"docker.io/Library/x", NULL, "repository name (Library/x) must be lowercase"},
    {"", NULL, "invalid reference format: empty reference"},
    {"busybox:", NULL, "invalid reference format: empty tag in \"busybox:\""},
    {"busybox:-x", NULL, "invalid reference format: invalid tag \"-x\" in \"busybox:-x\""},
    {"busybox:a+b", NULL, "invalid tag \"a+b\""},
    {"busybox:a" T128, NULL, "tag in \"busybox:a" T128 "\" is 129 characters long (at most 128)"},
    {"busybox@sha256:abc", NULL, "invalid reference format: invalid digest \"sha256:abc\""},
    {"busybox@sha256:" HEX64 "00", NULL, "invalid digest"},
    {"busybox@sha512:" HEX64 HEX64, NULL, "unsupported digest algorithm \"sha512\""},
    {"busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", NULL,
     "(want sha256: and 64 lower-case hex digits)"},
    {"busybox@", NULL, "invalid digest \"\""},
    {"a//b", NULL, "repository name component \"\" in \"a//b\""},
    {"a-/b", NULL, "repository name component \"a-\""},
    {"_x", NULL, "repository name component \"_x\""},
    {"a___b", NULL, "repository name component \"a___b\""},
    {"foo bar", NULL, "repository name component \"foo bar\""},
    {"exa_mple.com/x", NULL, "invalid registry host \"exa_mple.com\""},
    {"-bad.com/x", NULL, "invalid registry host \"-bad.com\""},
    {"localhost:/x", NULL, "invalid registry host \"localhost:\""},
    {"[zz]:5000/x", NULL, "invalid registry host \"[zz]:5000\""},
    {HEX64, NULL, "cannot specify 64-byte hexadecimal strings"},
    {":tag", NULL, "repository name must have at least one component"},
    {"a/b:c/d", NULL, "repository name component \"b:c\""},
    {"x\ny", NULL, "repository name component \"x\\ny\""},
};

static void
test_refs(void **state)
{
    (void)state;
    size_t n = sizeof ref_cases / sizeof ref_cases[0];
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++) {
        const struct ref_case *c = &ref_cases[i];
        struct img_ref *r = NULL;
        struct sw_error *err = NULL;
        int rc = img_ref_parse(&r, c->in, &err);
        if (!c->full) {
            if (rc == 0)
                fail_msg("%s: accepted", c->in);
            assert_null(r);
            expect_err_sub(rc, &err, c->familiar);
            continue;
        }
        if (rc < 0)
            fail_msg("%s: %s", c->in, err->msg);
        char *full = img_ref_string_full(r), *fam = img_ref_string_familiar(r);
        if (strcmp(full, c->full) || strcmp(fam, c->familiar))
            fail_msg("%s: got %s / %s", c->in, full, fam);
        /* the full form parses back to itself */
        struct img_ref *again = NULL;
        ok(img_ref_parse(&again, full, &err), &err, full);
        char *full2 = img_ref_string_full(again);
        assert_string_equal(full, full2);
        free(full2);
        img_ref_free(again);
        free(full);
        free(fam);
        img_ref_free(r);
    }

    /* the parts */
    struct img_ref *r = NULL;
    struct sw_error *err = NULL;
    ok(img_ref_parse(&r, "busybox", &err), &err, "busybox");
    assert_string_equal(r->domain, "docker.io");
    assert_string_equal(r->path, "library/busybox");
    assert_string_equal(r->tag, "latest");
    assert_true(r->tag_defaulted);
    assert_false(r->has_digest);
    char *name = img_ref_string_name(r);
    assert_string_equal(name, "docker.io/library/busybox");
    free(name);
    img_ref_free(r);
    ok(img_ref_parse(&r, "ghcr.io/o/r@sha256:" HEX64, &err), &err, "digest");
    assert_null(r->tag);
    assert_false(r->tag_defaulted);
    assert_true(r->has_digest);
    assert_string_equal(r->digest.str, "sha256:" HEX64);
    img_ref_free(r);

    /* 255 characters of name are fine, 256 are not */
    char longname[300];
    memset(longname, 'a', sizeof longname);
    memcpy(longname, "example.com/", 12);
    longname[255] = '\0';
    ok(img_ref_parse(&r, longname, &err), &err, "255");
    img_ref_free(r);
    longname[255] = 'a';
    longname[256] = '\0';
    expect_err_sub(img_ref_parse(&r, longname, &err), &err,
                   "repository name must not be more than 255 characters");
}

/* ---- conformance vectors (when $SLIPWAY_CONFORMANCE_DIR is set) ------------------------------ */

static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct sw_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sw_buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return sw_buf_detach(&b);
}

static char *
vector(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/oci-schemas/image-spec/vectors/%s", dir, name);
    char *s = read_file(path, len);
    if (!s)
        fail_msg("cannot read %s: %s", path, strerror(errno));
    return s;
}

static void
test_vectors(void **state)
{
    (void)state;
    const char *dir = getenv("SLIPWAY_CONFORMANCE_DIR");
    if (!dir || !*dir)
        skip();
    struct sw_error *err = NULL;
    size_t n1, n2;
    /* Docker originals and their OCI conversions give the same model and bytes */
    char *a = vector(dir, "manifest/TestBackwardsCompatibilityManifest-01-good.json", &n1);
    char *b =
        vector(dir, "manifest/TestBackwardsCompatibilityManifest-01-good.converted.json", &n2);
    struct img_manifest ma, mb;
    ok(img_manifest_parse(&ma, a, n1, &err), &err, "docker manifest");
    ok(img_manifest_parse(&mb, b, n2, &err), &err, "converted manifest");
    assert_true(ma.from_docker);
    assert_false(mb.from_docker);
    char *sa = manifest_json(&ma), *sb = manifest_json(&mb);
    assert_string_equal(sa, sb);
    /* the stored bytes are what the registry served: their digest is the manifest digest */
    struct sw_digest d;
    ok(sw_digest_bytes(&d, a, n1, &err), &err, "digest");
    assert_string_equal(d.str, "sha256:888206c77cd2811ec47e752ba291e5b7734e3ef137dfd222daadaca39a"
                               "9f17bc");
    free(a);
    free(b);
    free(sa);
    free(sb);
    img_manifest_clear(&ma);
    img_manifest_clear(&mb);

    a = vector(dir, "index/TestBackwardsCompatibilityImageIndex-01-good.json", &n1);
    b = vector(dir, "index/TestBackwardsCompatibilityImageIndex-01-good.converted.json", &n2);
    struct img_index ia, ib;
    ok(img_index_parse(&ia, a, n1, &err), &err, "docker list");
    ok(img_index_parse(&ib, b, n2, &err), &err, "converted list");
    sa = index_json(&ia);
    sb = index_json(&ib);
    assert_string_equal(sa, sb);
    free(a);
    free(b);
    free(sa);
    free(sb);
    img_index_clear(&ia);
    img_index_clear(&ib);

    const char *configs[] = {"config/TestBackwardsCompatibilityConfig-01-good.json",
                             "config/TestBackwardsCompatibilityConfig-02-good.json",
                             "config/TestConfig-08-good.json", "config/TestConfig-09-good.json"};
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        a = vector(dir, configs[i], &n1);
        struct img_config *c = NULL;
        ok(img_config_parse(&c, a, n1, &err), &err, configs[i]);
        if (!c->created)
            ok(img_config_set_created(c, 0, 0, &err), &err, "created");
        char *s = config_json(c);
        /* and a second pass is stable */
        struct img_config *c2 = config_parse(s);
        char *s2 = config_json(c2);
        assert_string_equal(s, s2);
        free(s);
        free(s2);
        free(a);
        img_config_free(c);
        img_config_free(c2);
    }
    /* the bad Env vector is refused by the parser too */
    a = vector(dir, "config/TestConfig-10-bad.json", &n1);
    struct img_config *c = NULL;
    expect_err(img_config_parse(&c, a, n1, &err), &err,
               "image config: config.Env[0]: \"foo\" is not KEY=value");
    free(a);
}

/* ---- --write-samples ------------------------------------------------------------------------- */

static int
write_sample(const char *dir, const char *name, const char *json)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(json, f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "test_image: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int
write_samples(const char *dir)
{
    int bad = 0;
    struct sw_error *err = NULL;
    char *s;

    struct img_config *c = build_sample();
    struct img_health h = {.interval = 30000000000LL, .timeout = 5000000000LL, .retries = 3};
    sw_strv_push(&h.test, "CMD-SHELL");
    sw_strv_push(&h.test, "true");
    img_config_set_healthcheck(c, &h, &err);
    sw_strv_free(&h.test);
    img_config_add_volume(c, "/data", &err);
    c->stop_signal = strdup("SIGTERM");
    c->user = strdup("1000:1000");
    sw_strv_push(&c->onbuild, "RUN echo onbuild");
    sw_strv_push(&c->shell, "/bin/sh");
    sw_strv_push(&c->shell, "-c");
    bad |= write_sample(dir, "config-linux", s = config_json(c));
    free(s);
    img_config_free(c);

    c = config_parse(docker_config);
    bad |= write_sample(dir, "config-from-docker", s = config_json(c));
    free(s);
    img_config_free(c);

    struct img_platform p;
    img_platform_parse(&p, "windows/amd64", &err);
    img_config_new(&c, &p, &err);
    img_config_set_created(c, 1700000000, 123456789, &err);
    c->os_version = strdup("10.0.20348.2113");
    sw_strv_push(&c->os_features, "win32k");
    img_config_env_set(c, "Path", "C:\\Windows\\system32;C:\\Windows", &err);
    struct sw_digest d = dg('b');
    img_config_add_layer(c, &d, c->created, "COPY app.exe C:/app/ # buildkit", IMG_HISTORY_COMMENT,
                         &err);
    bad |= write_sample(dir, "config-windows", s = config_json(c));
    free(s);
    img_config_free(c);

    struct img_manifest m = build_manifest();
    bad |= write_sample(dir, "manifest-oci", s = manifest_json(&m));
    free(s);
    img_manifest_clear(&m);
    img_manifest_parse(&m, docker_manifest, strlen(docker_manifest), &err);
    bad |= write_sample(dir, "manifest-from-docker", s = manifest_json(&m));
    free(s);
    img_manifest_clear(&m);

    struct img_index ix;
    struct img_descriptor e;
    img_index_init(&ix, &err);
    const char *plats[] = {"linux/amd64", "linux/arm/v7", "linux/arm64"};
    for (size_t i = 0; i < 3; i++) {
        struct sw_digest di = dg((char)('4' + i));
        img_descriptor_init(&e, IMG_MT_OCI_MANIFEST, &di, 500 + (int64_t)i, &err);
        img_platform_parse(&p, plats[i], &err);
        e.platform = malloc(sizeof *e.platform);
        img_desc_platform_from(e.platform, &p, &err);
        img_index_add(&ix, &e, &err);
        img_descriptor_clear(&e);
    }
    img_strmap_set(&ix.annotations, "org.opencontainers.image.ref.name", "v1");
    bad |= write_sample(dir, "index-multi", s = index_json(&ix));
    free(s);
    ok(img_descriptor_to_json(&s, NULL, &ix.manifests[1], &err), &err, "descriptor");
    bad |= write_sample(dir, "descriptor-entry", s);
    free(s);
    img_index_clear(&ix);

    if (err) {
        fprintf(stderr, "test_image: %s\n", err->msg);
        sw_error_free(err);
        return 1;
    }
    return bad;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-samples"))
        return write_samples(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_canonical),
        cmocka_unit_test(test_config_omitempty),
        cmocka_unit_test(test_config_docker_unknown_fields),
        cmocka_unit_test(test_config_env),
        cmocka_unit_test(test_config_windows),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_go_duration),
        cmocka_unit_test(test_history_texts),
        cmocka_unit_test(test_manifest_roundtrip),
        cmocka_unit_test(test_manifest_docker),
        cmocka_unit_test(test_index_roundtrip),
        cmocka_unit_test(test_manifest_errors),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
