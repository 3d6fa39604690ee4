/* Unit tests for builder/snapshot/users.c: user[:group] through a view's passwd and group. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/users.h"

static char root[64];

static int
setup(void **state)
{
    strcpy(root, "/tmp/sw-users-XXXXXX");
    assert_non_null(mkdtemp(root));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/etc", root);
    assert_int_equal(system(cmd), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/etc/passwd", root);
    FILE *f = fopen(path, "w");
    fputs("root:x:0:0:root:/root:/bin/sh\n# a comment\napp:x:1000:1001:App:/home/app:/bin/sh\n"
          "broken:x:notanumber:1\n",
          f);
    fclose(f);
    snprintf(path, sizeof path, "%s/etc/group", root);
    f = fopen(path, "w");
    fputs("root:x:0:\nstaff:x:50:app,other\napp:x:1001:\nwheel:x:10:root,app\n", f);
    fclose(f);
    char *dirs[] = {root};
    struct view *v = NULL;
    assert_int_equal(view_open(&v, dirs, 1, NULL), 0);
    *state = v;
    return 0;
}

static int
teardown(void **state)
{
    view_free(*state);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd);
}

static void
test_names_and_numbers(void **state)
{
    struct view *v = *state;
    struct users_ids ids;
    assert_int_equal(users_resolve(&ids, v, "", NULL), 0);
    assert_int_equal(ids.uid, 0);
    assert_int_equal(ids.gid, 0);
    users_ids_clear(&ids);
    assert_int_equal(users_resolve(&ids, v, "app", NULL), 0);
    assert_int_equal(ids.uid, 1000);
    assert_int_equal(ids.gid, 1001);
    assert_string_equal(ids.home, "/home/app");
    assert_int_equal(ids.ngroups, 2); /* staff and wheel */
    assert_int_equal(ids.groups[0], 50);
    assert_int_equal(ids.groups[1], 10);
    users_ids_clear(&ids);
    assert_int_equal(users_resolve(&ids, v, "app:staff", NULL), 0);
    assert_int_equal(ids.gid, 50);
    assert_int_equal(ids.ngroups, 0); /* an explicit group drops supplementary groups */
    users_ids_clear(&ids);
    assert_int_equal(users_resolve(&ids, v, "1000", NULL), 0);
    assert_int_equal(ids.gid, 1001); /* a numeric user with a passwd entry takes its group */
    users_ids_clear(&ids);
    assert_int_equal(users_resolve(&ids, v, "4242", NULL), 0);
    assert_int_equal(ids.gid, 4242); /* unknown numeric user: gid = uid */
    users_ids_clear(&ids);
    assert_int_equal(users_resolve(&ids, v, "4242:7", NULL), 0);
    assert_int_equal(ids.uid, 4242);
    assert_int_equal(ids.gid, 7);
    users_ids_clear(&ids);
}

static void
test_missing(void **state)
{
    struct view *v = *state;
    struct users_ids ids;
    struct sw_error *err = NULL;
    assert_int_equal(users_resolve(&ids, v, "nobody", &err), -SW_EINVAL);
    assert_string_equal(err->msg, "unable to find user nobody: no matching entries in passwd file");
    sw_error_freep(&err);
    assert_int_equal(users_resolve(&ids, v, "app:nogroup", &err), -SW_EINVAL);
    assert_string_equal(err->msg,
                        "unable to find group nogroup: no matching entries in group file");
    sw_error_freep(&err);
    /* scratch: no passwd at all */
    struct view *empty = NULL;
    assert_int_equal(view_open(&empty, NULL, 0, NULL), 0);
    assert_int_equal(users_resolve(&ids, empty, "app", &err), -SW_EINVAL);
    sw_error_freep(&err);
    assert_int_equal(users_resolve(&ids, empty, "1:2", NULL), 0);
    assert_int_equal(ids.uid, 1);
    assert_int_equal(ids.gid, 2);
    view_free(empty);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_numbers),
        cmocka_unit_test(test_missing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
