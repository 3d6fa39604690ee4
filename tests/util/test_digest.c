/* Unit tests for builder/util/digest.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "util/digest.h"

static void
test_known_vectors(void **state)
{
    (void)state;
    struct sw_digest d;
    assert_int_equal(sw_digest_bytes(&d, "", 0, NULL), 0);
    assert_string_equal(d.str,
                        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(sw_digest_bytes(&d, "abc", 3, NULL), 0);
    assert_string_equal(d.str,
                        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(sw_digest_hex(&d),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
test_streaming_equals_one_shot(void **state)
{
    (void)state;
    char buf[10000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)(i * 7);
    struct sw_digest a, b;
    assert_int_equal(sw_digest_bytes(&a, buf, sizeof buf, NULL), 0);
    struct sw_hasher *h = NULL;
    assert_int_equal(sw_hasher_new(&h, NULL), 0);
    for (size_t off = 0; off < sizeof buf; off += 333) {
        size_t n = sizeof buf - off < 333 ? sizeof buf - off : 333;
        assert_int_equal(sw_hasher_update(h, buf + off, n, NULL), 0);
    }
    assert_int_equal(sw_hasher_final(h, &b, NULL), 0);
    assert_string_equal(a.str, b.str);
    /* reset gives a fresh hash */
    assert_int_equal(sw_hasher_reset(h, NULL), 0);
    assert_int_equal(sw_hasher_final(h, &b, NULL), 0);
    assert_string_equal(b.str,
                        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sw_hasher_free(h);
}

static void
test_validation(void **state)
{
    (void)state;
    const char *good = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_true(sw_digest_valid(good));
    assert_false(
        sw_digest_valid("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    assert_false(sw_digest_valid("sha256:e3b0"));
    assert_false(
        sw_digest_valid("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_false(sw_digest_valid(NULL));
    struct sw_digest d;
    struct sw_error *err = NULL;
    assert_int_equal(sw_digest_parse(&d, "sha256:xyz", &err), -SW_EINVAL);
    assert_non_null(strstr(err->msg, "sha256:xyz"));
    sw_error_free(err);
    assert_int_equal(sw_digest_parse(&d, good, NULL), 0);
    assert_string_equal(d.str, good);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_streaming_equals_one_shot),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
