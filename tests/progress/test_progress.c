/* Unit tests for builder/progress/progress.c: the JSON event protocol and plain lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "progress/progress.h"

static void
test_json_events(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct progress *p = NULL;
    assert_int_equal(progress_new(&p, PROGRESS_JSON, f, NULL), 0);
    struct sw_span span = {.file = "Dockerfile", .line = 3, .col = 1, .end_line = 4};
    progress_build_start(p, "Dockerfile", "final", 2);
    progress_step_start(p, 7, "[final 1/2] COPY a /b", &span);
    progress_step_log(p, 7, "stdout", "hello\n", 6);
    progress_step_end(p, 7, PROGRESS_DONE, NULL);
    progress_warning(p, "UnusedBuildArg", "not consumed: [X]", NULL);
    struct sw_error *err = NULL;
    sw_error_set(&err, SW_EINVAL, 0, &span, "boom");
    progress_step_end(p, 8, PROGRESS_ERROR, "boom");
    progress_error(p, err);
    sw_error_free(err);
    const char *tags[] = {"app:latest"};
    progress_build_end(p, true, "sha256:abc", tags, 1);
    progress_free(p);
    fclose(f);

    const char *want[] = {"build.start", "step.start", "step.log", "step.end",
                          "warning",     "step.end",   "error",    "build.end"};
    char *line = buf;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t je;
        json_t *ev = json_loads(line, 0, &je);
        assert_non_null(ev);
        assert_int_equal(json_integer_value(json_object_get(ev, "v")), 1);
        assert_string_equal(json_string_value(json_object_get(ev, "type")), want[i]);
        assert_non_null(json_object_get(ev, "time"));
        if (i == 1) {
            json_t *s = json_object_get(ev, "span");
            assert_int_equal(json_integer_value(json_object_get(s, "line")), 3);
            assert_int_equal(json_integer_value(json_object_get(ev, "id")), 7);
        }
        if (i == 2)
            assert_string_equal(json_string_value(json_object_get(ev, "data")), "hello\n");
        if (i == 3)
            assert_string_equal(json_string_value(json_object_get(ev, "status")), "done");
        if (i == 5)
            assert_string_equal(json_string_value(json_object_get(ev, "error")), "boom");
        if (i == 6)
            assert_string_equal(json_string_value(json_object_get(ev, "formatted")),
                                "Dockerfile:3:1: error: boom");
        if (i == 7) {
            assert_string_equal(json_string_value(json_object_get(ev, "status")), "success");
            assert_string_equal(json_string_value(json_object_get(ev, "image")), "sha256:abc");
        }
        json_decref(ev);
        line = nl + 1;
    }
    assert_string_equal(line, "");
    free(buf);
}

static void
test_plain_lines_and_modes(void **state)
{
    (void)state;
    enum progress_mode m;
    assert_int_equal(progress_mode_parse(&m, "plain", NULL, NULL), 0);
    assert_int_equal(m, PROGRESS_PLAIN);
    assert_int_equal(progress_mode_parse(&m, "auto", NULL, NULL), 0);
    assert_int_equal(m, PROGRESS_PLAIN); /* no terminal */
    struct sw_error *err = NULL;
    assert_int_equal(progress_mode_parse(&m, "fancy", NULL, &err), -SW_EINVAL);
    sw_error_free(err);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct progress *p = NULL;
    assert_int_equal(progress_new(&p, PROGRESS_PLAIN, f, NULL), 0);
    progress_step_start(p, 2, "[1/1] COPY a /b", NULL);
    progress_step_end(p, 2, PROGRESS_CACHED, NULL);
    progress_step_start(p, 3, "[1/1] COPY c /d", NULL);
    progress_step_end(p, 3, PROGRESS_ERROR, "no such file");
    progress_free(p);
    fclose(f);
    assert_non_null(strstr(buf, "#2 [1/1] COPY a /b\n#2 CACHED\n"));
    assert_non_null(strstr(buf, "#3 ERROR: no such file\n"));
    free(buf);
}

static void
test_tty_view(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct progress *p = NULL;
    assert_int_equal(progress_new(&p, PROGRESS_TTY, f, NULL), 0);
    progress_step_start(p, 1, "[a 2/2] COPY x /y", NULL);
    struct timespec ts = {0, 450 * 1000000L};
    nanosleep(&ts, NULL); /* the ticker redraws the running step meanwhile */
    progress_step_end(p, 1, PROGRESS_DONE, NULL);
    progress_step_start(p, 2, "[a 3/3] COPY z /w", NULL);
    progress_step_end(p, 2, PROGRESS_ERROR, "no such file");
    progress_free(p);
    fclose(f);
    assert_non_null(strstr(buf, " => [a 2/2] COPY x /y 0.")); /* the running line, redrawn */
    assert_non_null(strstr(buf, " => ERROR [a 3/3] COPY z /w: no such file"));
    assert_non_null(strstr(buf, "\x1b[1A\x1b[2K")); /* live lines are erased and redrawn */
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_events),
        cmocka_unit_test(test_plain_lines_and_modes),
        cmocka_unit_test(test_tty_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
