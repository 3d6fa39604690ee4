/* Unit tests for cache/checksum.c: content checksums, their per-entry lists, diffs and text form.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/support.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../../cache/checksum.h"

#define SETTLE_US 150000 /* longer than the stat cache's racy window */

/* ---- fixture: a context directory with a few files, and their ck_file list --------------------
 */

#define NF 5

struct fx {
    char *dir;
    char *src[NF]; /* host paths, indexed like files[] (NULL for non-regular entries) */
    struct ck_file files[NF];
    struct statcache *sc;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char tmpl[] = "/tmp/sw-checksum-test-XXXXXX";
    if (!f || !mkdtemp(tmpl))
        return -1;
    f->dir = strdup(tmpl);
    static const char *names[] = {"app/main.c", "app/util.c", "README"};
    static const char *contents[] = {"int main(void) { return 0; }\n", "/* util */\n", "hello\n"};
    char *appdir = NULL;
    if (asprintf(&appdir, "%s/app", f->dir) < 0 || mkdir(appdir, 0755) < 0)
        return -1;
    free(appdir);
    for (int i = 0; i < 3; i++) {
        if (asprintf(&f->src[i], "%s/%s", f->dir, names[i]) < 0)
            return -1;
        ts_write_str(f->src[i], contents[i]);
        f->files[i] = (struct ck_file){
            .path = names[i], .mode = S_IFREG | 0644, .uid = 0, .gid = 0, .source = f->src[i]};
    }
    f->files[3] = (struct ck_file){.path = "app", .mode = S_IFDIR | 0755};
    f->files[4] = (struct ck_file){.path = "app/link", .mode = S_IFLNK | 0777, .link = "main.c"};
    usleep(SETTLE_US);
    struct sw_error *err = NULL;
    if (statcache_open(&f->sc, NULL, &err) < 0)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    statcache_close(f->sc);
    ts_rmtree(f->dir);
    for (int i = 0; i < NF; i++)
        free(f->src[i]);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ----------------------------------------------------------------------------------
 */

static struct sw_digest
ck(const struct ck_file *files, size_t n, const struct ck_opts *o, struct statcache *sc,
   struct ck_list *list)
{
    struct sw_digest d = {{0}};
    struct sw_error *err = NULL;
    int r = ck_checksum(&d, list, files, n, o, sc, &err);
    if (r)
        fail_msg("ck_checksum: %s", err->msg);
    assert_true(sw_digest_valid(d.str));
    return d;
}

/* Collects what ck_diff reports as "path:flags" lines. */
struct diffs {
    char text[2048];
    int calls;
    int stop_after; /* 0: never */
};

static int
collect(const char *path, unsigned changes, const struct ck_entry *o, const struct ck_entry *n,
        void *payload)
{
    struct diffs *d = payload;
    assert_true((changes & CK_ADDED) ? o == NULL && n != NULL : o != NULL);
    assert_true((changes & CK_REMOVED) ? n == NULL : n != NULL);
    size_t len = strlen(d->text);
    snprintf(d->text + len, sizeof d->text - len, "%s:", path);
    for (unsigned bit = 1; bit <= CK_XATTRS; bit <<= 1) {
        if (changes & bit) {
            len = strlen(d->text);
            snprintf(d->text + len, sizeof d->text - len, " %s", ck_change_name(bit));
        }
    }
    len = strlen(d->text);
    snprintf(d->text + len, sizeof d->text - len, "\n");
    d->calls++;
    return d->stop_after && d->calls >= d->stop_after ? 42 : 0;
}

/* Checksum before/after a change to the fixture (done by `change`) and check the diff. */
static void
expect_change(struct fx *f, void (*change)(struct fx *), const char *want_diff)
{
    struct ck_list a = {0}, b = {0};
    struct sw_digest da = ck(f->files, NF, NULL, f->sc, &a);
    change(f);
    struct sw_digest db = ck(f->files, NF, NULL, f->sc, &b);
    assert_string_not_equal(da.str, db.str);
    struct diffs d = {{0}, 0, 0};
    struct sw_error *err = NULL;
    assert_int_equal(ck_diff(&a, &b, collect, &d, &err), 0);
    assert_string_equal(d.text, want_diff);
    ck_list_free(&a);
    ck_list_free(&b);
}

/* ---- tests ------------------------------------------------------------------------------------
 */

/* The encoding is the one docs/cache.md documents: rebuild it by hand and compare. */
static void
test_documented_encoding(void **state)
{
    (void)state;
    struct ck_file files[] = {
        {.path = "b", .mode = S_IFLNK | 0777, .uid = 1, .gid = 2, .link = "a"},
        {.path = "a", .mode = S_IFREG | 0640, .uid = 1000, .gid = 100, .data = "hi", .data_len = 2},
        {.path = "d", .mode = S_IFDIR | 02755},
    };
    struct ck_list l = {0};
    struct sw_digest got = ck(files, 3, NULL, NULL, &l);

    struct sw_error *err = NULL;
    struct sw_digest hi;
    assert_int_equal(sw_digest_bytes(&hi, "hi", 2, &err), 0);
    char rec_a[256], rec_b[128], rec_d[128], all[1024];
    snprintf(rec_a, sizeof rec_a,
             "path 1:a\ntype f\nmode 0640\nuid 1000\ngid 100\ncontent %s\nend\n", hi.str);
    snprintf(rec_b, sizeof rec_b, "path 1:b\ntype l\nmode 0777\nuid 1\ngid 2\nlink 1:a\nend\n");
    snprintf(rec_d, sizeof rec_d, "path 1:d\ntype d\nmode 2755\nuid 0\ngid 0\nend\n");
    snprintf(all, sizeof all, "slipway checksum 1 perms=exact xattrs=off\n%s%s%s", rec_a, rec_b,
             rec_d);
    struct sw_digest want, want_a;
    assert_int_equal(sw_digest_bytes(&want, all, strlen(all), &err), 0);
    assert_string_equal(got.str, want.str);

    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].path, "a");
    assert_string_equal(l.v[1].path, "b");
    assert_string_equal(l.v[2].path, "d");
    assert_int_equal(sw_digest_bytes(&want_a, rec_a, strlen(rec_a), &err), 0);
    assert_string_equal(l.v[0].digest.str, want_a.str);
    char text_a[128];
    snprintf(text_a, sizeof text_a, "mode 0640 uid 1000 gid 100 %s", hi.str);
    assert_string_equal(l.v[0].text, text_a);
    assert_string_equal(l.v[1].text, "symlink mode 0777 uid 1 gid 2 -> a");
    assert_string_equal(l.v[2].text, "dir mode 2755 uid 0 gid 0");
    ck_list_free(&l);

    /* the options are part of the checksum */
    struct ck_opts norm = {.normalize_perms = true};
    struct sw_digest other = ck(files, 3, &norm, NULL, NULL);
    assert_string_not_equal(got.str, other.str);
}

/* Input order does not matter; a repeated path takes the last entry given. */
static void
test_order_and_duplicates(void **state)
{
    struct fx *f = *state;
    struct sw_digest d1 = ck(f->files, NF, NULL, f->sc, NULL);
    struct ck_file rev[NF];
    for (int i = 0; i < NF; i++)
        rev[i] = f->files[NF - 1 - i];
    struct sw_digest d2 = ck(rev, NF, NULL, f->sc, NULL);
    assert_string_equal(d1.str, d2.str);

    struct ck_file dup[NF + 1];
    memcpy(dup, f->files, sizeof f->files);
    dup[NF] = dup[2];
    dup[2] = (struct ck_file){.path = "README", .mode = S_IFREG | 0600, .data = "x", .data_len = 1};
    struct sw_digest d3 = ck(dup, NF + 1, NULL, f->sc, NULL); /* the later README wins */
    assert_string_equal(d1.str, d3.str);
    dup[NF] = dup[2];
    struct sw_digest d4 = ck(dup, NF + 1, NULL, f->sc, NULL);
    assert_string_not_equal(d1.str, d4.str);
}

/* Inline data and a file with the same bytes give the same checksum. */
static void
test_inline_data(void **state)
{
    struct fx *f = *state;
    struct sw_digest d1 = ck(f->files, NF, NULL, f->sc, NULL);
    struct ck_file v[NF];
    memcpy(v, f->files, sizeof v);
    v[2].source = NULL;
    v[2].data = "hello\n";
    v[2].data_len = 6;
    struct sw_digest d2 = ck(v, NF, NULL, f->sc, NULL);
    assert_string_equal(d1.str, d2.str);
    v[2].data_len = 5;
    struct sw_digest d3 = ck(v, NF, NULL, f->sc, NULL);
    assert_string_not_equal(d1.str, d3.str);
}

/* touch changes mtime (and atime, ctime) only: the checksum stays; the file is re-read. */
static void
test_touch_keeps_checksum(void **state)
{
    struct fx *f = *state;
    struct ck_list a = {0}, b = {0};
    struct sw_digest d1 = ck(f->files, NF, NULL, f->sc, &a);
    uint64_t reads = statcache_reads(f->sc);
    assert_int_equal(reads, 3);
    struct sw_digest d1b = ck(f->files, NF, NULL, f->sc, NULL);
    assert_string_equal(d1.str, d1b.str);
    assert_int_equal(statcache_reads(f->sc), 3); /* unchanged: not read again */

    struct timespec later[2] = {{.tv_sec = 2000000000}, {.tv_sec = 2000000000}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(utimensat(AT_FDCWD, f->src[i], later, 0), 0);
    struct sw_digest d2 = ck(f->files, NF, NULL, f->sc, &b);
    assert_string_equal(d1.str, d2.str);
    assert_true(statcache_reads(f->sc) > 3); /* metadata changed: read, same bytes */

    struct diffs d = {{0}, 0, 0};
    assert_int_equal(ck_diff(&a, &b, collect, &d, NULL), 0);
    assert_int_equal(d.calls, 0);
    ck_list_free(&a);
    ck_list_free(&b);
}

static void
change_content(struct fx *f)
{
    ts_write_str(f->src[1], "/* util, changed */\n");
}

static void
change_content_same_size_and_mtime(struct fx *f)
{
    struct stat st;
    assert_int_equal(lstat(f->src[1], &st), 0);
    ts_write_str(f->src[1], "/* UTIL */\n");
    struct timespec t[2] = {st.st_atim, st.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, f->src[1], t, 0), 0);
}

static void
change_mode(struct fx *f)
{
    f->files[0].mode = S_IFREG | 0755;
}

static void
change_owner(struct fx *f)
{
    f->files[2].gid = 1000;
}

static void
change_link(struct fx *f)
{
    f->files[4].link = "util.c";
}

static void
change_type(struct fx *f)
{
    f->files[4] = (struct ck_file){.path = "app/link", .mode = S_IFREG | 0777, .data = "main.c"};
}

static void
add_file(struct fx *f)
{
    f->files[3] = (struct ck_file){.path = "app/new", .mode = S_IFREG | 0644, .data = ""};
}

static void
several(struct fx *f)
{
    f->files[0].mode = S_IFREG | 0600;
    f->files[0].uid = 5;
    change_content(f);
}

static void
test_changes_are_named(void **state)
{
    struct fx *f = *state;
    struct ck_file saved[NF];
    memcpy(saved, f->files, sizeof saved);
    struct {
        void (*fn)(struct fx *);
        const char *want;
    } cases[] = {
        {change_content, "app/util.c: content changed\n"},
        {change_content_same_size_and_mtime, "app/util.c: content changed\n"},
        {change_mode, "app/main.c: mode changed\n"},
        {change_owner, "README: owner changed\n"},
        {change_link, "app/link: link changed\n"},
        {change_type, "app/link: type changed\n"},
        {add_file, "app: removed\napp/new: added\n"},
        {several, "app/main.c: mode changed owner changed\napp/util.c: content changed\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memcpy(f->files, saved, sizeof saved);
        ts_write_str(f->src[1], "/* util */\n");
        usleep(SETTLE_US); /* so the stat cache trusts what it hashes before the change */
        expect_change(f, cases[i].fn, cases[i].want);
    }
}

/* Fewer files: "removed"; a callback's non-zero return stops the diff and is returned. */
static void
test_removed_and_stop(void **state)
{
    struct fx *f = *state;
    struct ck_list a = {0}, b = {0};
    ck(f->files, NF, NULL, f->sc, &a);
    ck(f->files, 2, NULL, f->sc, &b); /* app/main.c and app/util.c only */
    struct diffs d = {{0}, 0, 0};
    assert_int_equal(ck_diff(&a, &b, collect, &d, NULL), 0);
    assert_string_equal(d.text, "README: removed\napp: removed\napp/link: removed\n");
    struct diffs s = {{0}, 0, 2};
    assert_int_equal(ck_diff(&a, &b, collect, &s, NULL), 42);
    assert_int_equal(s.calls, 2);

    /* an unsorted list is refused */
    struct ck_entry tmp = a.v[0];
    a.v[0] = a.v[1];
    a.v[1] = tmp;
    struct sw_error *err = NULL;
    assert_int_equal(ck_diff(&a, &b, collect, &d, &err), -SW_EINVAL);
    sw_error_free(err);
    ck_list_free(&a);
    ck_list_free(&b);
}

static void
test_normalize_perms(void **state)
{
    (void)state;
    struct ck_opts exact = {0}, norm = {.normalize_perms = true};
    struct ck_file a = {.path = "f", .mode = S_IFREG | 0644, .data = "x", .data_len = 1};
    struct ck_file b = a;
    b.mode = S_IFREG | 0664;
    struct sw_digest ea = ck(&a, 1, &exact, NULL, NULL), eb = ck(&b, 1, &exact, NULL, NULL);
    assert_string_not_equal(ea.str, eb.str);
    struct ck_list l = {0};
    struct sw_digest na = ck(&a, 1, &norm, NULL, NULL), nb = ck(&b, 1, &norm, NULL, &l);
    assert_string_equal(na.str, nb.str);
    assert_int_equal(l.v[0].mode, S_IFREG | 0644);
    ck_list_free(&l);

    /* 0755/0775/0700 are one; 0644 and 0755 stay apart; setuid is kept */
    mode_t same[] = {0755, 0775, 0700, 0751};
    b.mode = S_IFREG | 0755;
    struct sw_digest n755 = ck(&b, 1, &norm, NULL, NULL);
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        b.mode = S_IFREG | same[i];
        struct sw_digest d = ck(&b, 1, &norm, NULL, NULL);
        assert_string_equal(d.str, n755.str);
    }
    assert_string_not_equal(n755.str, na.str);
    b.mode = S_IFREG | 04755;
    struct sw_digest suid = ck(&b, 1, &norm, NULL, NULL);
    assert_string_not_equal(suid.str, n755.str);
}

static void
test_xattrs(void **state)
{
    struct fx *f = *state;
    if (lsetxattr(f->src[0], "user.slipway.test", "one", 3, 0) < 0) {
        if (errno == ENOTSUP || errno == EPERM)
            skip();
        fail_msg("lsetxattr: %s", strerror(errno));
    }
    struct ck_opts off = {0}, on = {.with_xattrs = true};
    struct ck_list a = {0}, b = {0};
    struct sw_digest off1 = ck(f->files, NF, &off, f->sc, NULL);
    struct sw_digest on1 = ck(f->files, NF, &on, f->sc, &a);
    assert_string_equal(a.v[3].path, "app/main.c");
    assert_non_null(strstr(a.v[3].text, " xattrs sha256:"));
    assert_int_equal(lsetxattr(f->src[0], "user.slipway.test", "two", 3, 0), 0);
    struct sw_digest off2 = ck(f->files, NF, &off, f->sc, NULL);
    struct sw_digest on2 = ck(f->files, NF, &on, f->sc, &b);
    assert_string_equal(off1.str, off2.str);
    assert_string_not_equal(on1.str, on2.str);
    struct diffs d = {{0}, 0, 0};
    assert_int_equal(ck_diff(&a, &b, collect, &d, NULL), 0);
    assert_string_equal(d.text, "app/main.c: xattrs changed\n");
    ck_list_free(&b);

    /* the order xattrs were set in does not matter */
    assert_int_equal(lremovexattr(f->src[0], "user.slipway.test"), 0);
    assert_int_equal(lsetxattr(f->src[0], "user.b", "2", 1, 0), 0);
    assert_int_equal(lsetxattr(f->src[0], "user.a", "1", 1, 0), 0);
    assert_int_equal(lsetxattr(f->src[1], "user.a", "1", 1, 0), 0);
    assert_int_equal(lsetxattr(f->src[1], "user.b", "2", 1, 0), 0);
    struct ck_list c = {0};
    ck(f->files, NF, &on, f->sc, &c);
    assert_string_equal(c.v[3].xattrs.str, c.v[4].xattrs.str); /* app/main.c, app/util.c */
    assert_true(c.v[3].xattrs.str[0] != '\0');
    assert_true(c.v[0].xattrs.str[0] == '\0'); /* README has none */
    ck_list_free(&a);
    ck_list_free(&c);
}

static void
test_invalid_input(void **state)
{
    (void)state;
    const char *bad[] = {"", "/abs", "a//b", "a/", "./a", "a/./b", "a/..", "../a", "."};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct ck_file f = {.path = bad[i], .mode = S_IFDIR | 0755};
        struct sw_digest d;
        struct sw_error *err = NULL;
        assert_int_equal(ck_checksum(&d, NULL, &f, 1, NULL, NULL, &err), -SW_EINVAL);
        assert_non_null(strstr(err->msg, "not relative and clean"));
        sw_error_free(err);
    }
    struct ck_file nolink = {.path = "l", .mode = S_IFLNK | 0777};
    struct ck_file notype = {.path = "x", .mode = 0644};
    struct ck_file missing = {.path = "m", .mode = S_IFREG | 0644, .source = "/nonexistent/zz"};
    struct sw_digest d;
    struct sw_error *err = NULL;
    assert_int_equal(ck_checksum(&d, NULL, &nolink, 1, NULL, NULL, &err), -SW_EINVAL);
    assert_non_null(strstr(err->msg, "symlink without a target"));
    sw_error_free(err);
    err = NULL;
    assert_int_equal(ck_checksum(&d, NULL, &notype, 1, NULL, NULL, &err), -SW_EINVAL);
    sw_error_free(err);
    err = NULL;
    assert_int_equal(ck_checksum(&d, NULL, &missing, 1, NULL, NULL, &err), -SW_ENOTFOUND);
    assert_non_null(strstr(err->msg, "/nonexistent/zz"));
    sw_error_free(err);

    /* an empty set has a checksum too */
    struct sw_digest e1 = ck(NULL, 0, NULL, NULL, NULL);
    struct ck_file one = {.path = "a", .mode = S_IFDIR | 0755};
    struct sw_digest e2 = ck(&one, 1, NULL, NULL, NULL);
    assert_string_not_equal(e1.str, e2.str);
}

static void
lists_equal(const struct ck_list *a, const struct ck_list *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct ck_entry *x = &a->v[i], *y = &b->v[i];
        assert_string_equal(x->path, y->path);
        assert_int_equal(x->mode, y->mode);
        assert_int_equal(x->uid, y->uid);
        assert_int_equal(x->gid, y->gid);
        assert_true((x->link == NULL) == (y->link == NULL));
        if (x->link)
            assert_string_equal(x->link, y->link);
        assert_string_equal(x->content.str, y->content.str);
        assert_string_equal(x->xattrs.str, y->xattrs.str);
        assert_string_equal(x->digest.str, y->digest.str);
        assert_string_equal(x->text, y->text);
    }
}

static void
test_text_round_trip(void **state)
{
    struct fx *f = *state;
    struct ck_file v[NF + 4];
    memcpy(v, f->files, sizeof f->files);
    v[NF] = (struct ck_file){.path = "odd name/with space\nnewline%percent\xc3\xa9",
                             .mode = S_IFLNK | 0777,
                             .uid = 4294967295u,
                             .link = "-> @weird target-"};
    v[NF + 1] = (struct ck_file){.path = "dev/null", .mode = S_IFCHR | 0666};
    v[NF + 2] = (struct ck_file){.path = "fifo", .mode = S_IFIFO | 0600, .gid = 7};
    v[NF + 3] = (struct ck_file){.path = "-", .mode = S_IFLNK | 0777, .link = "-"};
    struct ck_list l = {0}, back = {0};
    ck(v, NF + 4, NULL, f->sc, &l);

    struct sw_buf text = {0};
    struct sw_error *err = NULL;
    assert_int_equal(ck_list_format(&l, &text, &err), 0);
    assert_non_null(strstr(text.data, "slipway-checksums 1\n"));
    assert_non_null(strstr(text.data, "odd%20name/with%20space%0Anewline%25percent%C3%A9"));
    int r = ck_list_parse(&back, text.data, text.len, &err);
    if (r)
        fail_msg("ck_list_parse: %s\n%s", err->msg, text.data);
    lists_equal(&l, &back);

    struct sw_buf again = {0};
    assert_int_equal(ck_list_format(&back, &again, &err), 0);
    assert_int_equal(again.len, text.len);
    assert_memory_equal(again.data, text.data, text.len);
    struct diffs d = {{0}, 0, 0};
    assert_int_equal(ck_diff(&l, &back, collect, &d, NULL), 0);
    assert_int_equal(d.calls, 0);

    /* an empty list */
    struct ck_list empty = {0}, eback = {0};
    struct sw_buf et = {0};
    assert_int_equal(ck_list_format(&empty, &et, &err), 0);
    assert_string_equal(et.data, "slipway-checksums 1\n");
    assert_int_equal(ck_list_parse(&eback, et.data, et.len, &err), 0);
    assert_int_equal(eback.n, 0);
    ck_list_free(&eback);
    sw_buf_free(&et);

    ck_list_free(&l);
    ck_list_free(&back);
    sw_buf_free(&text);
    sw_buf_free(&again);
}

/* The example in docs/cache.md parses, and formats back to the same bytes. */
static void
test_text_doc_example(void **state)
{
    (void)state;
    static const char doc[] =
        "slipway-checksums 1\n"
        "d 0755 0 0 - - - app\n"
        "l 0777 0 0 - - @main.c app/link\n"
        "f 0644 0 0 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 - - "
        "app/main%20file.c\n";
    struct ck_list l = {0};
    struct sw_error *err = NULL;
    assert_int_equal(ck_list_parse(&l, doc, strlen(doc), &err), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[2].path, "app/main file.c");
    assert_string_equal(l.v[1].link, "main.c");
    assert_string_equal(l.v[2].text,
                        "mode 0644 uid 0 gid 0 "
                        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    struct sw_buf out = {0};
    assert_int_equal(ck_list_format(&l, &out, &err), 0);
    assert_string_equal(out.data, doc);
    sw_buf_free(&out);

    /* the same entries from ck_checksum give the same list */
    struct ck_file files[] = {
        {.path = "app/main file.c", .mode = S_IFREG | 0644, .data = "hello", .data_len = 5},
        {.path = "app/link", .mode = S_IFLNK | 0777, .link = "main.c"},
        {.path = "app", .mode = S_IFDIR | 0755},
    };
    struct ck_list c = {0};
    ck(files, 3, NULL, NULL, &c);
    lists_equal(&l, &c);
    ck_list_free(&c);
    ck_list_free(&l);
}

static void
test_text_rejects_garbage(void **state)
{
    (void)state;
    static const char H[] = "slipway-checksums 1\n";
    static const char D[] = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    char good[256];
    snprintf(good, sizeof good, "%sf 0644 0 0 %s - - a\nd 0755 0 0 - - - b\n", H, D);
    struct ck_list l = {0};
    struct sw_error *err = NULL;
    assert_int_equal(ck_list_parse(&l, good, strlen(good), &err), 0);
    assert_int_equal(l.n, 2);
    ck_list_free(&l);

    /* <D> stands for a valid digest's hex, <d> for one digit less */
    const char *bodies[] = {
        "f 0644 0 0 <D> - - a",                       /* no final newline */
        "f 0644 0 0 <D> - - b\nd 0755 0 0 - - - a\n", /* unsorted */
        "d 0755 0 0 - - - a\nd 0755 0 0 - - - a\n",   /* repeated */
        "x 0644 0 0 <D> - - a\n",                     /* type */
        "f 644 0 0 <D> - - a\n",                      /* mode */
        "f 0844 0 0 <D> - - a\n",                     /* mode */
        "f 0644 -1 0 <D> - - a\n",                    /* uid */
        "f 0644 01 0 <D> - - a\n",                    /* uid */
        "f 0644 0 4294967296 <D> - - a\n",            /* gid */
        "f 0644 0 0 - - - a\n",                       /* a file without content */
        "d 0755 0 0 <D> - - a\n",                     /* a dir with content */
        "f 0644 0 0 <d> - - a\n",                     /* short digest */
        "f 0644 0 0 <D> <d>A - a\n",                  /* upper-case is not a digest */
        "l 0777 0 0 - - - a\n",                       /* a symlink without target */
        "d 0755 0 0 - - @x a\n",                      /* a target on a dir */
        "f 0644 0 0 <D> - - a%0\n",                   /* truncated escape */
        "f 0644 0 0 <D> - - a%00b\n",                 /* NUL */
        "f 0644 0 0 <D> - - ../a\n",                  /* unclean */
        "f 0644 0 0 <D> - - /a\n",                    /* absolute */
        "f 0644 0 0 <D> - -  a\n",                    /* empty field */
        "f 0644 0 0 <D> - - a extra\n",               /* too many fields */
        "f 0644 0 0 <D> - - a\xff\n",                 /* unescaped byte */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        char text[512];
        size_t o = strlen(H);
        memcpy(text, H, o);
        for (const char *c = bodies[i]; *c;) {
            if (strncmp(c, "<D>", 3) == 0 || strncmp(c, "<d>", 3) == 0) {
                size_t n = c[1] == 'D' ? 64 : 63;
                memcpy(text + o, D, n);
                o += n;
                c += 3;
            } else {
                text[o++] = *c++;
            }
        }
        text[o] = '\0';
        err = NULL;
        l = (struct ck_list){0};
        int r = ck_list_parse(&l, text, strlen(text), &err);
        if (r != -SW_EPARSE)
            fail_msg("case %zu accepted: %s", i, bodies[i]);
        assert_non_null(strstr(err->msg, "checksum list: line"));
        assert_null(l.v);
        sw_error_free(err);
    }
    err = NULL;
    assert_int_equal(ck_list_parse(&l, "slipway-checksums 2\n", 20, &err), -SW_EPARSE);
    sw_error_free(err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_encoding),
        cmocka_unit_test_setup_teardown(test_order_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_keeps_checksum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_are_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_and_stop, setup, teardown),
        cmocka_unit_test(test_normalize_perms),
        cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test_setup_teardown(test_text_round_trip, setup, teardown),
        cmocka_unit_test(test_text_doc_example),
        cmocka_unit_test(test_text_rejects_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
