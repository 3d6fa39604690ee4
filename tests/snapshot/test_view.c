/* Unit tests for builder/snapshot/view.c: union lookups, whiteouts, opaque dirs, scoped links. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "snapshot/view.h"

static char root[64];

static void
put(const char *layer, const char *rel, const char *content)
{
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/%s/%s", root, layer, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void
link_(const char *layer, const char *rel, const char *target)
{
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/%s/%s", root, layer, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(symlink(target, path), 0);
}

static struct view *
open_view(size_t n)
{
    static const char *names[] = {"l0", "l1", "l2"};
    char *dirs[3];
    for (size_t i = 0; i < n; i++)
        assert_true(asprintf(&dirs[i], "%s/%s", root, names[i]) > 0);
    struct view *v = NULL;
    assert_int_equal(view_open(&v, dirs, n, NULL), 0);
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    return v;
}

static int
setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/sw-view-XXXXXX");
    assert_non_null(mkdtemp(root));
    /* l0: the base */
    put("l0", "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    put("l0", "etc/group", "root:x:0:\n");
    put("l0", "usr/bin/tool", "v0");
    put("l0", "data/a", "a0");
    put("l0", "data/b", "b0");
    put("l0", "gone/x", "x");
    link_("l0", "bin", "usr/bin");
    link_("l0", "escape", "../../../../etc");
    link_("l0", "loop", "loop");
    /* l1: changes */
    put("l1", "usr/bin/tool", "v1");
    put("l1", "data/.wh.a", "");
    put("l1", "data/c", "c1");
    put("l1", "gone/.wh..wh..opq", "");
    put("l1", "gone/y", "y1");
    /* l2: a whiteout of a whole dir and a symlink chain */
    put("l2", ".wh.etc", "");
    link_("l2", "abs", "/usr/bin/tool");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd);
}

static void
test_clean_path(void **state)
{
    (void)state;
    const char *cases[][2] = {{"", "/"},           {"/", "/"},        {"a/b", "/a/b"},
                              {"/a/./b/", "/a/b"}, {"../../x", "/x"}, {"/a/b/../c", "/a/c"},
                              {"a/..", "/"},       {"//a//b", "/a/b"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = view_clean_path(cases[i][0]);
        assert_string_equal(c, cases[i][1]);
        free(c);
    }
}

static void
test_upper_wins_and_whiteouts(void **state)
{
    (void)state;
    struct view *v = open_view(2);
    char *data;
    size_t len;
    assert_int_equal(view_read_file(v, "/usr/bin/tool", 100, &data, &len, NULL), 0);
    assert_string_equal(data, "v1");
    free(data);
    /* the symlink /bin -> usr/bin is followed in an intermediate position */
    assert_int_equal(view_read_file(v, "/bin/tool", 100, &data, &len, NULL), 0);
    assert_string_equal(data, "v1");
    free(data);
    struct view_entry e;
    struct sw_error *err = NULL;
    assert_int_equal(view_resolve(v, "/data/a", false, &e, &err), -SW_ENOTFOUND);
    sw_error_freep(&err);
    struct sw_strv names = {0};
    assert_int_equal(view_readdir(v, "/data", &names, NULL), 0);
    assert_int_equal(names.n, 2);
    assert_string_equal(names.v[0], "b");
    assert_string_equal(names.v[1], "c");
    sw_strv_free(&names);
    /* the opaque directory hides l0's gone/x */
    assert_int_equal(view_resolve(v, "/gone/x", false, &e, &err), -SW_ENOTFOUND);
    sw_error_freep(&err);
    assert_int_equal(view_readdir(v, "/gone", &names, NULL), 0);
    assert_int_equal(names.n, 1);
    assert_string_equal(names.v[0], "y");
    sw_strv_free(&names);
    assert_int_equal(view_readdir(v, "/", &names, NULL), 0);
    assert_int_equal(names.n, 7); /* bin data escape etc gone loop usr; no markers */
    sw_strv_free(&names);
    view_free(v);
}

static void
test_whole_dir_whiteout(void **state)
{
    (void)state;
    struct view *v = open_view(3);
    struct view_entry e;
    struct sw_error *err = NULL;
    assert_int_equal(view_resolve(v, "/etc/passwd", true, &e, &err), -SW_ENOTFOUND);
    sw_error_freep(&err);
    /* an absolute symlink target restarts at the view's root */
    assert_int_equal(view_resolve(v, "/abs", true, &e, NULL), 0);
    assert_string_equal(e.path, "/usr/bin/tool");
    assert_int_equal(e.layer, 1);
    view_entry_clear(&e);
    assert_int_equal(view_resolve(v, "/abs", false, &e, NULL), 0);
    assert_true(S_ISLNK(e.st.st_mode));
    view_entry_clear(&e);
    view_free(v);
}

static void
test_links_stay_inside(void **state)
{
    (void)state;
    struct view *v = open_view(1);
    struct view_entry e;
    /* ../../../../etc from the root is /etc of the view, never the host's */
    assert_int_equal(view_resolve(v, "/escape/passwd", true, &e, NULL), 0);
    assert_string_equal(e.path, "/etc/passwd");
    assert_non_null(strstr(e.host_path, root));
    view_entry_clear(&e);
    struct sw_error *err = NULL;
    assert_int_equal(view_resolve(v, "/loop", true, &e, &err), -SW_EINVAL);
    assert_non_null(strstr(err->msg, "symbolic links"));
    sw_error_free(err);
    view_free(v);
}

static void
test_empty_view(void **state)
{
    (void)state;
    struct view *v = NULL;
    assert_int_equal(view_open(&v, NULL, 0, NULL), 0);
    struct view_entry e;
    assert_int_equal(view_resolve(v, "/", true, &e, NULL), 0);
    assert_true(S_ISDIR(e.st.st_mode));
    view_entry_clear(&e);
    struct sw_error *err = NULL;
    assert_int_equal(view_resolve(v, "/x", true, &e, &err), -SW_ENOTFOUND);
    sw_error_free(err);
    view_free(v);
}

/* Mark `rel` of layer `layer` with xattr `name` = value. */
static void
mark(const char *layer, const char *rel, const char *name, const char *value)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", root, layer, rel);
    assert_int_equal(lsetxattr(path, name, value, strlen(value), 0), 0);
}

/* The overlayfs forms of rootless snapshots (user.overlay.*: xattr whiteouts in a directory
 * marked "x", opaque "y") and the 0/0 devices overlayfs writes itself. */
static void
test_overlay_forms(void **state)
{
    (void)state;
    put("u0", "d/a", "a");
    put("u0", "d/b", "b");
    put("u0", "opq/old", "old");
    put("u0", "dev-gone", "x");
    put("u0", "e/decoy", "d0");
    /* u1: d/a deleted by an xattr whiteout, opq replaced, dev-gone deleted by a 0/0 device */
    put("u1", "d/a", "");
    mark("u1", "d/a", "user.overlay.whiteout", "");
    mark("u1", "d", "user.overlay.opaque", "x");
    put("u1", "opq/new", "new");
    mark("u1", "opq", "user.overlay.opaque", "y");
    char path[512];
    snprintf(path, sizeof path, "%s/u1/dev-gone", root);
    assert_int_equal(mknod(path, S_IFCHR | 0600, makedev(0, 0)), 0);
    /* an empty file with the whiteout xattr in a directory not marked "x" is just a file */
    put("u1", "e/decoy", "");
    mark("u1", "e/decoy", "user.overlay.whiteout", "");
    char *dirs[2];
    assert_true(asprintf(&dirs[0], "%s/u0", root) > 0);
    assert_true(asprintf(&dirs[1], "%s/u1", root) > 0);
    struct view *v = NULL;
    assert_int_equal(view_open(&v, dirs, 2, NULL), 0);
    free(dirs[0]);
    free(dirs[1]);
    struct view_entry e;
    struct sw_error *err = NULL;
    assert_int_equal(view_resolve(v, "/d/a", false, &e, &err), -SW_ENOTFOUND);
    sw_error_freep(&err);
    assert_int_equal(view_resolve(v, "/dev-gone", false, &e, &err), -SW_ENOTFOUND);
    sw_error_freep(&err);
    assert_int_equal(view_resolve(v, "/opq/old", false, &e, &err), -SW_ENOTFOUND);
    sw_error_freep(&err);
    assert_int_equal(view_resolve(v, "/e/decoy", false, &e, NULL), 0);
    assert_int_equal(e.layer, 1);
    assert_int_equal(e.st.st_size, 0);
    view_entry_clear(&e);
    struct sw_strv names = {0};
    assert_int_equal(view_readdir(v, "/d", &names, NULL), 0);
    assert_int_equal(names.n, 1);
    assert_string_equal(names.v[0], "b");
    sw_strv_free(&names);
    assert_int_equal(view_readdir(v, "/opq", &names, NULL), 0);
    assert_int_equal(names.n, 1);
    assert_string_equal(names.v[0], "new");
    sw_strv_free(&names);
    assert_int_equal(view_readdir(v, "/", &names, NULL), 0);
    assert_int_equal(names.n, 3); /* d e opq */
    sw_strv_free(&names);
    view_free(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_path),         cmocka_unit_test(test_upper_wins_and_whiteouts),
        cmocka_unit_test(test_whole_dir_whiteout), cmocka_unit_test(test_links_stay_inside),
        cmocka_unit_test(test_empty_view),         cmocka_unit_test(test_overlay_forms),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
