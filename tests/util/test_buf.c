#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"

static void
test_buf_append_and_detach(void **state)
{
    (void)state;
    struct sw_buf b = {0};
    assert_string_equal(sw_buf_cstr(&b), "");
    assert_int_equal(sw_buf_puts(&b, "abc"), 0);
    assert_int_equal(sw_buf_printf(&b, "-%d-", 42), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(sw_buf_putc(&b, 'x'), 0);
    assert_int_equal(b.len, 7 + 1000);
    assert_memory_equal(b.data, "abc-42-x", 8);
    char *s = sw_buf_detach(&b);
    assert_int_equal(strlen(s), 1007);
    assert_null(b.data);
    free(s);
}

static void
test_strv(void **state)
{
    (void)state;
    struct sw_strv v = {0};
    assert_int_equal(sw_strv_push(&v, "a"), 0);
    assert_int_equal(sw_strv_pushn(&v, "bcd", 2), 0);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.v[1], "bc");
    assert_null(v.v[2]);
    sw_strv_free(&v);
    assert_int_equal(v.n, 0);
}

static void
test_error_first_wins_and_format(void **state)
{
    (void)state;
    struct sw_error *err = NULL;
    struct sw_span at = {.file = "Dockerfile", .line = 3, .col = 5};
    assert_int_equal(sw_error_set(&err, SW_EPARSE, 0, &at, "bad %s", "thing"), -SW_EPARSE);
    assert_int_equal(sw_error_set(&err, SW_EIO, 0, NULL, "second"), -SW_EIO);
    assert_string_equal(err->msg, "bad thing");
    sw_error_wrap(&err, "while %s", "parsing");
    char *s = sw_error_format(err);
    assert_string_equal(s, "Dockerfile:3:5: error: while parsing: bad thing");
    free(s);
    sw_error_free(err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_and_detach),
        cmocka_unit_test(test_strv),
        cmocka_unit_test(test_error_first_wins_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
