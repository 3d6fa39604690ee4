/* Unit tests for builder/copy/copy.c: COPY/ADD sources, destinations and metadata. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy/copy.h"

static char root[64], ctxdir[96], lowerdir[96];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static int
setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/sw-copy-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(ctxdir, sizeof ctxdir, "%s/ctx", root);
    snprintf(lowerdir, sizeof lowerdir, "%s/lower", root);
    sh("cd %s && mkdir -p ctx/dir/sub ctx/x/y ctx/x/z lower/etc lower/real", root);
    sh("cd %s/ctx && echo a > a.txt && echo b > b.txt && echo c > dir/c && echo d > dir/sub/d && "
       "echo y > x/y/a.txt && echo z > x/y/b.txt && echo q > x/z/q.txt && "
       "ln -s /etc/hostname outside && ln -s dir dirlink && ln a.txt hard.txt && "
       "echo secret > ignored.txt && chmod 0600 b.txt && mkdir -p ../arc/top && "
       "echo in > ../arc/top/in.txt && tar -C ../arc --owner=123 --group=456 -czf arc.tgz top && "
       "tar -C ../arc -cJf arc.txz top && tar -C ../arc -cjf arc.tbz2 top && "
       "tar -C ../arc --zstd -cf arc.tzst top && echo notatar > fake.tar.gz",
       root);
    sh("cd %s/lower && ln -s /real link && echo 'app:x:1000:1000::/home/app:/bin/sh' > etc/passwd",
       root);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sh("rm -rf %s", root);
    return 0;
}

struct env {
    struct view *src, *dst;
    struct df_pm *ignore;
};

static struct env
env_new(bool with_lower)
{
    struct env e = {0};
    char *c[] = {ctxdir}, *l[] = {lowerdir};
    assert_int_equal(view_open(&e.src, c, 1, NULL), 0);
    assert_int_equal(view_open(&e.dst, l, with_lower ? 1 : 0, NULL), 0);
    const char *pats[] = {"ignored.txt"};
    assert_int_equal(df_pm_new(&e.ignore, pats, 1, NULL), 0);
    return e;
}

static void
env_free(struct env *e)
{
    view_free(e->src);
    view_free(e->dst);
    df_pm_free(e->ignore);
}

/* Run a COPY: srcs is a NULL-terminated list. */
static int
run(struct env *e, struct copy_list *out, const char *const *srcs, const char *dest,
    const char *chmod, bool parents, const char *exclude, struct sw_error **err)
{
    struct plan_copy c = {.dest = (char *)dest, .chmod = (char *)chmod, .parents = parents};
    for (size_t i = 0; srcs[i]; i++)
        sw_strv_push(&c.srcs, srcs[i]);
    if (exclude)
        sw_strv_push(&c.excludes, exclude);
    struct copy_source s = {
        .view = e->src, .ignore = e->ignore, .is_context = true, .name = "build context"};
    struct copy_target t = {
        .view = e->dst, .workdir = "/work", .uid = 1000, .gid = 1000, .epoch = 42};
    int r = copy_plan(out, &c, &s, &t, err);
    sw_strv_free(&c.srcs);
    sw_strv_free(&c.excludes);
    return r;
}

static const struct copy_item *
find(const struct copy_list *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].path, path))
            return &l->v[i];
    return NULL;
}

static void
test_file_into_dir_and_rename(void **state)
{
    (void)state;
    struct env e = env_new(false);
    struct copy_list l;
    const char *s1[] = {"a.txt", NULL};
    assert_int_equal(run(&e, &l, s1, "/out/", NULL, false, NULL, NULL), 0);
    assert_int_equal(l.n, 2); /* out/ and out/a.txt */
    const struct copy_item *d = find(&l, "out"), *f = find(&l, "out/a.txt");
    assert_non_null(d);
    assert_true(S_ISDIR(d->mode));
    assert_int_equal(d->mtime.tv_sec, 42);
    assert_non_null(f);
    assert_int_equal(f->uid, 1000);
    assert_int_equal(f->size, 2);
    assert_non_null(strstr(f->source, "/ctx/a.txt"));
    copy_list_free(&l);
    /* a relative destination is relative to the workdir; no slash: the file's new name */
    assert_int_equal(run(&e, &l, s1, "renamed", "u+x,go-r", false, NULL, NULL), 0);
    f = find(&l, "work/renamed");
    assert_non_null(f);
    assert_int_equal(f->mode & 07777, 0700); /* 0644 + u+x - go r */
    assert_non_null(find(&l, "work"));
    copy_list_free(&l);
    env_free(&e);
}

static void
test_directories_globs_and_errors(void **state)
{
    (void)state;
    struct env e = env_new(false);
    struct copy_list l;
    const char *dir[] = {"dir", NULL};
    assert_int_equal(run(&e, &l, dir, "/d", "755", false, NULL, NULL), 0);
    assert_non_null(find(&l, "d")); /* the contents of dir go to /d */
    assert_non_null(find(&l, "d/c"));
    assert_int_equal(find(&l, "d/sub/d")->mode & 07777, 0755);
    assert_null(find(&l, "d/dir"));
    copy_list_free(&l);

    const char *glob[] = {"*.txt", NULL};
    assert_int_equal(run(&e, &l, glob, "/g/", NULL, false, NULL, NULL), 0);
    assert_non_null(find(&l, "g/a.txt"));
    assert_non_null(find(&l, "g/hard.txt"));
    assert_null(find(&l, "g/ignored.txt")); /* .dockerignore */
    /* hardlinks keep their identity for the layer writer */
    assert_int_equal(find(&l, "g/a.txt")->ino, find(&l, "g/hard.txt")->ino);
    copy_list_free(&l);

    const char *miss[] = {"*.nothing", NULL};
    assert_int_equal(run(&e, &l, miss, "/m/", NULL, false, NULL, NULL), 0);
    assert_int_equal(l.n, 1); /* just the destination directory */
    copy_list_free(&l);

    struct sw_error *err = NULL;
    assert_int_equal(run(&e, &l, glob, "/notadir", NULL, false, NULL, &err), -SW_EINVAL);
    assert_non_null(strstr(err->msg, "must be a directory and end with a /"));
    sw_error_freep(&err);
    const char *missing[] = {"nope", NULL};
    assert_int_equal(run(&e, &l, missing, "/x", NULL, false, NULL, &err), -SW_ENOTFOUND);
    assert_non_null(strstr(err->msg, "\"nope\" not found"));
    sw_error_freep(&err);
    const char *ign[] = {"ignored.txt", NULL};
    assert_int_equal(run(&e, &l, ign, "/x", NULL, false, NULL, &err), -SW_ENOTFOUND);
    assert_non_null(strstr(err->msg, ".dockerignore"));
    sw_error_freep(&err);
    const char *esc[] = {"../etc/passwd", NULL};
    assert_int_equal(run(&e, &l, esc, "/x", NULL, false, NULL, &err), -SW_EINVAL);
    assert_non_null(strstr(err->msg, "outside the build context"));
    sw_error_freep(&err);
    /* a symlink to an absolute path is resolved inside the context, never on the host */
    const char *out[] = {"outside", NULL};
    assert_int_equal(run(&e, &l, out, "/x", NULL, false, NULL, &err), -SW_ENOTFOUND);
    sw_error_freep(&err);
    env_free(&e);
}

static void
test_exclude_and_parents(void **state)
{
    (void)state;
    struct env e = env_new(false);
    struct copy_list l;
    const char *all[] = {".", NULL};
    assert_int_equal(run(&e, &l, all, "/t", NULL, false, "*.txt", NULL), 0);
    assert_null(find(&l, "t/a.txt"));
    assert_non_null(find(&l, "t/dir/c"));
    assert_non_null(find(&l, "t/x/y/a.txt")); /* *.txt matches one level only */
    assert_non_null(find(&l, "t/dirlink"));   /* symlinks inside a tree are copied as links */
    assert_true(S_ISLNK(find(&l, "t/dirlink")->mode));
    assert_string_equal(find(&l, "t/dirlink")->link, "dir");
    copy_list_free(&l);

    const char *p1[] = {"./x/y/a.txt", "./x/z/q.txt", NULL};
    assert_int_equal(run(&e, &l, p1, "/p/", NULL, true, NULL, NULL), 0);
    assert_non_null(find(&l, "p/x/y/a.txt"));
    assert_non_null(find(&l, "p/x/z/q.txt"));
    copy_list_free(&l);
    const char *p2[] = {"./x/./y/*", NULL};
    assert_int_equal(run(&e, &l, p2, "/pf/", NULL, true, NULL, NULL), 0);
    assert_non_null(find(&l, "pf/y/a.txt"));
    assert_non_null(find(&l, "pf/y/b.txt"));
    copy_list_free(&l);
    const char *p3[] = {"./x/./y/", NULL};
    assert_int_equal(run(&e, &l, p3, "/pd/", NULL, true, NULL, NULL), 0);
    assert_non_null(find(&l, "pd/y/a.txt"));
    copy_list_free(&l);
    env_free(&e);
}

static void
test_dest_through_symlink_and_inline(void **state)
{
    (void)state;
    struct env e = env_new(true);
    struct copy_list l;
    const char *s1[] = {"a.txt", NULL};
    /* /link -> /real exists in the target: the copy goes into /real */
    assert_int_equal(run(&e, &l, s1, "/link", NULL, false, NULL, NULL), 0);
    assert_string_equal(l.dest, "/real");
    assert_non_null(find(&l, "real/a.txt"));
    assert_null(find(&l, "real")); /* it exists already */
    copy_list_free(&l);

    struct plan_copy c = {.dest = "/etc/motd"};
    struct plan_inline in = {.name = "EOF", .data = "hello\n"};
    c.inlines = &in;
    c.ninlines = 1;
    struct copy_source s = {.view = e.src, .name = "build context"};
    struct copy_target t = {.view = e.dst, .epoch = 7};
    assert_int_equal(copy_plan(&l, &c, &s, &t, NULL), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].path, "etc/motd");
    assert_string_equal(l.v[0].data, "hello\n");
    assert_int_equal(l.v[0].mode & 07777, 0644);
    assert_int_equal(l.v[0].mtime.tv_sec, 7);
    copy_list_free(&l);
    env_free(&e);
}

static void
test_add_archives(void **state)
{
    (void)state;
    struct env e = env_new(false);
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/tmp", root);
    const char *srcs[] = {"arc.tgz", "arc.txz", "arc.tbz2", "arc.tzst", "fake.tar.gz", NULL};
    struct plan_copy c = {.dest = "/x/", .add = true, .unpack = true};
    for (size_t i = 0; srcs[i]; i++)
        sw_strv_push(&c.srcs, srcs[i]);
    struct copy_source s = {
        .view = e.src, .ignore = e.ignore, .is_context = true, .name = "build context"};
    struct copy_target t = {.view = e.dst, .tmpdir = tmp};
    struct copy_list l;
    struct sw_error *err = NULL;
    int r = copy_plan(&l, &c, &s, &t, &err);
    if (r)
        fail_msg("copy_plan: %s", err->msg);
    const struct copy_item *in = find(&l, "x/top/in.txt");
    assert_non_null(in);            /* unpacked, gzip and xz alike */
    assert_int_equal(in->uid, 123); /* the archive's owner is kept without --chown */
    assert_int_equal(in->gid, 456);
    assert_non_null(find(&l, "x/fake.tar.gz")); /* not an archive: copied as a file */
    assert_null(find(&l, "x/arc.tgz"));
    copy_list_free(&l);
    /* COPY never unpacks */
    c.add = false;
    assert_int_equal(copy_plan(&l, &c, &s, &t, NULL), 0);
    assert_non_null(find(&l, "x/arc.tgz"));
    assert_null(find(&l, "x/top/in.txt"));
    copy_list_free(&l);
    sw_strv_free(&c.srcs);
    env_free(&e);
}

static void
test_chmod_apply(void **state)
{
    (void)state;
    assert_int_equal(copy_chmod_apply("755", S_IFREG | 0600), S_IFREG | 0755);
    assert_int_equal(copy_chmod_apply("u+x", S_IFREG | 0644), S_IFREG | 0744);
    assert_int_equal(copy_chmod_apply("go-rwx", S_IFREG | 0777), S_IFREG | 0700);
    assert_int_equal(copy_chmod_apply("a=r", S_IFREG | 0777), S_IFREG | 0444);
    assert_int_equal(copy_chmod_apply("a+X", S_IFDIR | 0600), S_IFDIR | 0711);
    assert_int_equal(copy_chmod_apply("a+X", S_IFREG | 0600), S_IFREG | 0600);
    assert_int_equal(copy_chmod_apply("u+s,+t", S_IFREG | 0755), S_IFREG | 05755 | 01000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_into_dir_and_rename),
        cmocka_unit_test(test_directories_globs_and_errors),
        cmocka_unit_test(test_exclude_and_parents),
        cmocka_unit_test(test_dest_through_symlink_and_inline),
        cmocka_unit_test(test_add_archives),
        cmocka_unit_test(test_chmod_apply),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
