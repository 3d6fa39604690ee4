/*
 * Unit tests for builder/snapshot/overlay.c (overlayfs and copy snapshots, diffs, commits) and for
 * layer_extract's overlay_whiteouts.
 *
 * Everything runs in a forked child that first enters a private mount namespace (unshare
 * CLONE_NEWNS, "/" made MS_REC|MS_PRIVATE), so no mount can reach the host's table; the parent
 * checks afterwards that the host's /proc/self/mountinfo names nothing of ours. Mount tests are
 * skipped when the namespace or overlayfs is unavailable; the copy snapshotter always runs (the
 * scenario needs root for chown and mknod).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/extract.h"
#include "layer/writer.h"
#include "snapshot/overlay.h"
#include "util/buf.h"

/* Set before the tests run (in the child); read-only afterwards. */
static char root[64];
static bool can_mount; /* private mount namespace and overlayfs work */
static bool is_root;

#define MTIME 1700000000

/* ---- helpers --------------------------------------------------------------------------------- */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static char *
pathf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&s, fmt, ap) > 0);
    va_end(ap);
    return s;
}

static void
write_file(const char *dir, const char *rel, const char *content, mode_t mode)
{
    char *p = pathf("%s/%s", dir, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    free(p);
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    struct sw_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assert_int_equal(sw_buf_append(&b, chunk, n), 0);
    fclose(f);
    return sw_buf_detach(&b);
}

static int
mem_write(void *ctx, const void *buf, size_t n, struct sw_error **err)
{
    (void)err;
    return sw_buf_append(ctx, buf, n) < 0 ? -SW_ENOMEM : 0;
}

static struct layer_writer *
new_writer(struct sw_buf *out)
{
    struct layer_writer_opts o = layer_writer_opts_default();
    o.compression = LAYER_COMPRESSION_NONE;
    static const char *const keep[] = {"user.*", "trusted.*", NULL};
    o.xattrs = keep;
    struct layer_sink sink = {.write = mem_write, .ctx = out};
    struct layer_writer *w = NULL;
    struct sw_error *err = NULL;
    assert_int_equal(layer_writer_new(&w, &o, &sink, &err), 0);
    return w;
}

static void
finish(struct layer_writer *w)
{
    struct layer_result res;
    struct sw_error *err = NULL;
    int r = layer_writer_finish(w, &res, &err);
    if (r < 0)
        fail_msg("finish: %s", err->msg);
    layer_writer_free(w);
}

static void
add(struct layer_writer *w, const char *path, enum layer_entry_type t, const char *content,
    uint32_t mode)
{
    struct layer_entry e = {
        .path = path,
        .type = t,
        .mode = mode,
        .mtime_sec = MTIME,
    };
    if (t == LAYER_ENTRY_REG && content) {
        e.size = strlen(content);
        e.source = (struct layer_source){.kind = LAYER_SOURCE_BUF, .data = content};
    }
    struct sw_error *err = NULL;
    if (layer_writer_add(w, &e, &err) < 0)
        fail_msg("add %s: %s", path, err->msg);
}

#define DIR_(w, p) add(w, p, LAYER_ENTRY_DIR, NULL, 0755)
#define FILE_(w, p, c) add(w, p, LAYER_ENTRY_REG, c, 0644)

static void
extract_buf(const struct sw_buf *tar, const char *dest, const struct layer_extract_opts *o,
            struct layer_extract_result *res)
{
    int fd = memfd_create("layer", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, tar->data, tar->len), (ssize_t)tar->len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    struct sw_error *err = NULL;
    int r = layer_extract(fd, LAYER_MEDIA_TYPE_TAR, dest, o, res, &err);
    if (r < 0)
        fail_msg("extract into %s: %s", dest, err->msg);
    close(fd);
}

/* The entries of a tar, one line each: "path type[>link]", in tar order. */
static char *
tar_listing(const struct sw_buf *tar)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, tar->data, tar->len), ARCHIVE_OK);
    struct archive_entry *ae;
    struct sw_buf b = {0};
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        const char *hl = archive_entry_hardlink(ae);
        char t = '?';
        switch (archive_entry_filetype(ae)) {
        case AE_IFREG:
            t = 'f';
            break;
        case AE_IFDIR:
            t = 'd';
            break;
        case AE_IFLNK:
            t = 'l';
            break;
        case AE_IFCHR:
            t = 'c';
            break;
        case AE_IFBLK:
            t = 'b';
            break;
        case AE_IFIFO:
            t = 'p';
            break;
        }
        if (hl)
            t = 'h';
        sw_buf_printf(&b, "%s %c", archive_entry_pathname(ae), t);
        if (hl)
            sw_buf_printf(&b, ">%s", hl);
        else if (t == 'l')
            sw_buf_printf(&b, ">%s", archive_entry_symlink(ae));
        sw_buf_putc(&b, '\n');
    }
    archive_read_free(a);
    return sw_buf_detach(&b);
}

static int
cmp_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* A line per entry below dir: type, mode, owner, size, content, link, device, mtime (seconds),
 * link count of files and user.* xattrs (not the overlay's). */
static void
manifest_at(struct sw_buf *b, const char *base, const char *rel)
{
    char *dir = rel[0] ? pathf("%s/%s", base, rel) : pathf("%s", base);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, cmp_name);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") && strcmp(name, "..")) {
            char *r = rel[0] ? pathf("%s/%s", rel, name) : pathf("%s", name);
            char *p = pathf("%s/%s", base, r);
            struct stat st;
            assert_int_equal(lstat(p, &st), 0);
            char t = S_ISDIR(st.st_mode)    ? 'd'
                     : S_ISLNK(st.st_mode)  ? 'l'
                     : S_ISCHR(st.st_mode)  ? 'c'
                     : S_ISBLK(st.st_mode)  ? 'b'
                     : S_ISFIFO(st.st_mode) ? 'p'
                                            : 'f';
            sw_buf_printf(b, "%s %c %04o %u:%u", r, t, st.st_mode & 07777, st.st_uid, st.st_gid);
            if (t == 'f') {
                char *c = slurp(p);
                sw_buf_printf(b, " nlink=%lu '%s'", (unsigned long)st.st_nlink, c);
                free(c);
            } else if (t == 'l') {
                char target[512];
                ssize_t l = readlink(p, target, sizeof target - 1);
                assert_true(l >= 0);
                target[l] = '\0';
                sw_buf_printf(b, " ->%s", target);
            } else if (t == 'c' || t == 'b') {
                sw_buf_printf(b, " %u,%u", major(st.st_rdev), minor(st.st_rdev));
            }
            if (t != 'l')
                sw_buf_printf(b, " m=%lld", (long long)st.st_mtim.tv_sec);
            char list[1024];
            ssize_t ll = llistxattr(p, list, sizeof list);
            for (ssize_t k = 0; ll > 0 && k < ll; k += (ssize_t)strlen(list + k) + 1) {
                const char *x = list + k;
                if (strncmp(x, "user.", 5) || !strncmp(x, "user.overlay.", 13))
                    continue;
                char v[256];
                ssize_t vl = lgetxattr(p, x, v, sizeof v - 1);
                v[vl < 0 ? 0 : vl] = '\0';
                sw_buf_printf(b, " %s=%s", x, v);
            }
            sw_buf_putc(b, '\n');
            if (t == 'd')
                manifest_at(b, base, r);
            free(p);
            free(r);
        }
        free(names[i]);
    }
    free(names);
    free(dir);
}

static char *
manifest(const char *dir)
{
    struct sw_buf b = {0};
    manifest_at(&b, dir, "");
    return sw_buf_detach(&b);
}

static bool
mounted_at(const char *path)
{
    char *mi = slurp("/proc/self/mountinfo");
    char *needle = pathf(" %s ", path);
    bool found = mi && strstr(mi, needle);
    free(needle);
    free(mi);
    return found;
}

static bool
is_whiteout_dev(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

static bool
has_xattr(const char *path, const char *name, const char *value)
{
    char v[16];
    ssize_t n = lgetxattr(path, name, v, sizeof v);
    if (n < 0)
        return false;
    return !value || ((size_t)n == strlen(value) && !memcmp(v, value, (size_t)n));
}

/* ---- the scenario ---------------------------------------------------------------------------- */

static struct sw_buf tar_l1, tar_l2;

static void
build_lower_tars(void)
{
    if (tar_l1.len)
        return;
    struct layer_writer *w = new_writer(&tar_l1);
    DIR_(w, "etc");
    FILE_(w, "etc/keep.conf", "keep");
    FILE_(w, "etc/mod.conf", "old");
    FILE_(w, "etc/del.conf", "bye");
    FILE_(w, "gone", "gone");
    DIR_(w, "olddir");
    FILE_(w, "olddir/a", "a");
    DIR_(w, "olddir/sub");
    FILE_(w, "olddir/sub/b", "b");
    DIR_(w, "repl");
    FILE_(w, "repl/x", "x");
    DIR_(w, "opq");
    FILE_(w, "opq/lower1", "1");
    FILE_(w, "opq/lower2", "2");
    FILE_(w, "perm.txt", "p");
    FILE_(w, "own.txt", "o");
    FILE_(w, "hl-src", "data");
    DIR_(w, "var");
    FILE_(w, "var/old", "old");
    finish(w);

    w = new_writer(&tar_l2);
    DIR_(w, "etc");
    FILE_(w, "etc/mod.conf", "mid");
    struct sw_error *err = NULL;
    assert_int_equal(layer_writer_add_whiteout(w, "gone", &err), 0);
    DIR_(w, "var");
    assert_int_equal(layer_writer_add_opaque(w, "var", &err), 0);
    FILE_(w, "var/new", "new");
    finish(w);
}

/* The two lower layers as per-layer snapshot directories with overlay whiteouts. */
static void
make_lowers(const char *tag, bool userxattr, char *dirs[2])
{
    build_lower_tars();
    struct layer_extract_opts xo = {.overlay_whiteouts = true, .overlay_userxattr = userxattr};
    dirs[0] = pathf("%s/%s-l1", root, tag);
    dirs[1] = pathf("%s/%s-l2", root, tag);
    for (int i = 0; i < 2; i++) {
        sh("rm -rf '%s' && mkdir -p '%s'", dirs[i], dirs[i]);
        struct layer_extract_result res;
        extract_buf(i ? &tar_l2 : &tar_l1, dirs[i], &xo, &res);
        if (i) {
            assert_int_equal(res.whiteouts, 1);
            assert_int_equal(res.opaque_dirs, 1);
        }
    }
}

static void
free_lowers(char *dirs[2])
{
    free(dirs[0]);
    free(dirs[1]);
}

/* The merged view of the two lowers before any change. */
static void
check_lowers_merged(const char *mp)
{
    char *p = pathf("%s/gone", mp);
    struct stat st;
    assert_int_equal(lstat(p, &st), -1);
    free(p);
    p = pathf("%s/var/old", mp);
    assert_int_equal(lstat(p, &st), -1);
    free(p);
    p = pathf("%s/var/new", mp);
    assert_int_equal(lstat(p, &st), 0);
    free(p);
    p = pathf("%s/etc/mod.conf", mp);
    char *c = slurp(p);
    assert_string_equal(c, "mid");
    free(c);
    free(p);
}

/* What RUN does in the scenario. */
static void
do_changes(const char *mp)
{
    write_file(mp, "new.txt", "new", 0640);
    char *p = pathf("%s/new.txt", mp);
    assert_int_equal(lsetxattr(p, "user.test", "v", 1, 0), 0);
    free(p);
    write_file(mp, "etc/mod.conf", "new content", 0644);
    sh("rm '%s/etc/del.conf' && rm -rf '%s/olddir' '%s/repl' '%s/opq'", mp, mp, mp, mp);
    write_file(mp, "repl", "file now", 0644);
    sh("mkdir '%s/opq' && chmod 0755 '%s/opq'", mp, mp);
    write_file(mp, "opq/new", "n", 0644);
    sh("chmod 0600 '%s/perm.txt' && chown 1000:1000 '%s/own.txt'", mp, mp);
    sh("ln -s etc/keep.conf '%s/link.sym' && ln '%s/hl-src' '%s/hl-dst'", mp, mp, mp);
    sh("mkfifo -m 0644 '%s/fifo' && mknod -m 0600 '%s/dev' c 1 3", mp, mp);
    sh("mkdir -p '%s/newdir/sub' && chmod 0755 '%s/newdir' '%s/newdir/sub'", mp, mp, mp);
    write_file(mp, "newdir/sub/f", "f", 0644);
}

static const char expected_entries[] = ".wh.olddir f\n"
                                       "dev c\n"
                                       "etc/ d\n"
                                       "etc/.wh.del.conf f\n"
                                       "etc/mod.conf f\n"
                                       "fifo p\n"
                                       "hl-dst f\n"
                                       "hl-src h>hl-dst\n"
                                       "link.sym l>etc/keep.conf\n"
                                       "new.txt f\n"
                                       "newdir/ d\n"
                                       "newdir/sub/ d\n"
                                       "newdir/sub/f f\n"
                                       "opq/ d\n"
                                       "opq/.wh..wh..opq f\n"
                                       "opq/new f\n"
                                       "own.txt f\n"
                                       "perm.txt f\n"
                                       "repl f\n";

struct outcome {
    char *entries;        /* tar_listing of the diff */
    char *merged;         /* manifest of the container's view after the changes */
    struct sw_buf diff;   /* the layer */
    struct snap_mount *m; /* unmounted, diffed, not freed */
};

static void
outcome_free(struct outcome *o)
{
    free(o->entries);
    free(o->merged);
    sw_buf_free(&o->diff);
    snap_free(o->m);
}

/* Mount over the two lowers, run the changes, unmount, diff. */
static void
run_scenario(const char *tag, const struct snap_mount_opts *mo, struct outcome *out)
{
    memset(out, 0, sizeof *out);
    char *lowers[2];
    make_lowers(tag, mo && mo->userxattr, lowers);
    char *work = pathf("%s/work", root);
    sh("mkdir -p '%s'", work);
    struct sw_error *err = NULL;
    int r = snap_mount(&out->m, lowers, 2, work, mo, &err);
    if (r < 0)
        fail_msg("snap_mount: %s", err->msg);
    const char *mp = snap_merged_path(out->m);
    bool overlay = snap_mount_kind(out->m) == SNAP_OVERLAY;
    assert_int_equal(mounted_at(mp), overlay);
    check_lowers_merged(mp);
    do_changes(mp);
    out->merged = manifest(mp);
    assert_int_equal(snap_unmount(out->m, &err), 0);
    assert_int_equal(snap_unmount(out->m, &err), 0); /* idempotent */
    assert_false(mounted_at(mp));
    if (overlay)
        assert_non_null(snap_upper_path(out->m));
    struct layer_writer *w = new_writer(&out->diff);
    if (snap_diff(out->m, w, NULL, &err) < 0)
        fail_msg("snap_diff: %s", err->msg);
    finish(w);
    out->entries = tar_listing(&out->diff);
    free(work);
    free_lowers(lowers);
}

/* The lower layers and the diff, extracted (applying whiteouts) onto one directory, look like the
 * container's view. */
static void
check_flat(const char *tag, const struct outcome *o)
{
    char *flat = pathf("%s/%s-flat", root, tag);
    sh("rm -rf '%s' && mkdir -p '%s'", flat, flat);
    extract_buf(&tar_l1, flat, NULL, NULL);
    extract_buf(&tar_l2, flat, NULL, NULL);
    extract_buf(&o->diff, flat, NULL, NULL);
    char *got = manifest(flat);
    assert_string_equal(got, o->merged);
    free(got);
    free(flat);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void
test_extract_overlay_whiteouts(void **state)
{
    (void)state;
    char *lowers[2];
    struct stat st;
    if (!is_root)
        goto rootless;
    make_lowers("xw", false, lowers);
    char *p = pathf("%s/gone", lowers[1]);
    assert_true(is_whiteout_dev(p));
    free(p);
    p = pathf("%s/var", lowers[1]);
    assert_true(has_xattr(p, "trusted.overlay.opaque", "y"));
    free(p);
    p = pathf("%s/.wh.gone", lowers[1]);
    assert_int_equal(lstat(p, &st), -1); /* no OCI markers */
    free(p);
    p = pathf("%s/var/.wh..wh..opq", lowers[1]);
    assert_int_equal(lstat(p, &st), -1);
    free(p);
    /* directory mtimes survive the markers written at the end */
    p = pathf("%s/var", lowers[1]);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mtim.tv_sec, MTIME);
    free(p);
    free_lowers(lowers);

rootless:
    /* the rootless format (also what an unprivileged extraction writes) */
    make_lowers("xu", true, lowers);
    p = pathf("%s/gone", lowers[1]);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode) && st.st_size == 0);
    assert_true(has_xattr(p, "user.overlay.whiteout", ""));
    free(p);
    assert_true(has_xattr(lowers[1], "user.overlay.opaque", "x"));
    p = pathf("%s/var", lowers[1]);
    assert_true(has_xattr(p, "user.overlay.opaque", "y"));
    assert_false(has_xattr(p, "trusted.overlay.opaque", NULL));
    free(p);
    free_lowers(lowers);
}

static void
test_extract_overlay_edge_cases(void **state)
{
    (void)state;
    if (!is_root)
        skip();
    struct sw_buf tar = {0};
    struct layer_writer *w = new_writer(&tar);
    struct sw_error *err = NULL;
    /* a whiteout of a directory this layer puts back: the directory becomes opaque */
    assert_int_equal(layer_writer_add_whiteout(w, "d", &err), 0);
    DIR_(w, "d");
    FILE_(w, "d/in", "in");
    /* a whiteout of a file this layer puts back: the file wins */
    assert_int_equal(layer_writer_add_whiteout(w, "f", &err), 0);
    FILE_(w, "f", "f");
    /* whiteouts in an opaque directory are pointless: dropped */
    DIR_(w, "o");
    assert_int_equal(layer_writer_add_opaque(w, "o", &err), 0);
    assert_int_equal(layer_writer_add_whiteout(w, "o/x", &err), 0);
    /* a whiteout whose directory has no entry, and an opaque marker without a directory entry */
    assert_int_equal(layer_writer_add_whiteout(w, "p/q/r", &err), 0);
    assert_int_equal(layer_writer_add_opaque(w, "s", &err), 0);
    /* an entry carrying overlay xattrs must not steer the overlay */
    struct layer_xattr xa[] = {{"trusted.overlay.redirect", "/etc", 4},
                               {"user.overlay.opaque", "y", 1},
                               {"user.keep", "k", 1}};
    struct layer_entry e = {.path = "x",
                            .type = LAYER_ENTRY_DIR,
                            .mode = 0755,
                            .mtime_sec = MTIME,
                            .xattrs = xa,
                            .nxattrs = 3};
    assert_int_equal(layer_writer_add(w, &e, &err), 0);
    finish(w);

    char *dir = pathf("%s/edge", root);
    sh("rm -rf '%s' && mkdir -p '%s'", dir, dir);
    struct layer_extract_opts xo = {.overlay_whiteouts = true};
    struct layer_extract_result res;
    extract_buf(&tar, dir, &xo, &res);
    assert_int_equal(res.whiteouts, 4);
    assert_int_equal(res.opaque_dirs, 2);
    assert_int_equal(res.xattrs_skipped, 2);
    char *p = pathf("%s/d", dir);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_true(has_xattr(p, "trusted.overlay.opaque", "y"));
    free(p);
    p = pathf("%s/f", dir);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode) && st.st_size == 1);
    free(p);
    p = pathf("%s/o/x", dir);
    assert_int_equal(lstat(p, &st), -1);
    free(p);
    p = pathf("%s/p/q/r", dir);
    assert_true(is_whiteout_dev(p));
    free(p);
    p = pathf("%s/s", dir);
    assert_true(has_xattr(p, "trusted.overlay.opaque", "y"));
    free(p);
    p = pathf("%s/x", dir);
    assert_true(has_xattr(p, "user.keep", "k"));
    assert_false(has_xattr(p, "user.overlay.opaque", NULL));
    assert_false(has_xattr(p, "trusted.overlay.redirect", NULL));
    free(p);
    free(dir);
    sw_buf_free(&tar);
}

static void
test_overlay_diff(void **state)
{
    (void)state;
    if (!can_mount)
        skip();
    struct outcome o;
    run_scenario("ovl", NULL, &o);
    assert_string_equal(o.entries, expected_entries);
    check_flat("ovl", &o);
    /* the upper holds overlayfs' own markers */
    char *p = pathf("%s/olddir", snap_upper_path(o.m));
    assert_true(is_whiteout_dev(p));
    free(p);
    outcome_free(&o);
}

static void
test_overlay_diff_legacy_mount(void **state)
{
    (void)state;
    if (!can_mount)
        skip();
    struct snap_mount_opts mo = {.legacy_mount = true};
    struct outcome o;
    run_scenario("leg", &mo, &o);
    assert_string_equal(o.entries, expected_entries);
    outcome_free(&o);
}

static void
test_copy_diff(void **state)
{
    (void)state;
    if (!is_root)
        skip();
    struct snap_mount_opts mo = {.force_copy = true};
    struct outcome o;
    run_scenario("cp", &mo, &o);
    assert_null(snap_upper_path(o.m));
    /* the same changes as overlayfs finds */
    assert_string_equal(o.entries, expected_entries);
    check_flat("cp", &o);
    outcome_free(&o);
}

static void
test_userxattr(void **state)
{
    (void)state;
    if (!can_mount)
        skip();
    /* overlay mounted with userxattr over user.overlay.* lowers (xattr whiteouts) */
    struct snap_mount_opts mo = {.userxattr = true};
    struct outcome o;
    run_scenario("ux", &mo, &o);
    assert_string_equal(o.entries, expected_entries);
    check_flat("ux", &o);
    char *p = pathf("%s/opq", snap_upper_path(o.m));
    assert_true(has_xattr(p, "user.overlay.opaque", "y"));
    free(p);
    outcome_free(&o);
    /* and the copy snapshotter reads that format too */
    mo.force_copy = true;
    run_scenario("uxc", &mo, &o);
    assert_string_equal(o.entries, expected_entries);
    outcome_free(&o);
}

/* Commit, then stack the committed directory on the lowers again. */
static void
commit_and_remount(const char *tag, const struct snap_mount_opts *mo)
{
    struct outcome o;
    run_scenario(tag, mo, &o);
    char *snaps = pathf("%s/snapshots", root);
    char *dest = pathf("%s/%s", snaps, tag);
    sh("mkdir -p '%s' && rm -rf '%s'", snaps, dest);
    struct sw_error *err = NULL;
    if (snap_commit(o.m, dest, &err) < 0)
        fail_msg("snap_commit: %s", err->msg);
    assert_null(snap_upper_path(o.m));
    assert_int_equal(snap_commit(o.m, dest, &err), -SW_EINVAL);
    sw_error_free(err);
    err = NULL;
    /* overlay-native whiteouts in the new layer directory */
    char *p = pathf("%s/olddir", dest);
    assert_true(is_whiteout_dev(p) || has_xattr(p, "user.overlay.whiteout", NULL));
    free(p);
    p = pathf("%s/opq", dest);
    assert_true(has_xattr(p, "trusted.overlay.opaque", "y") ||
                has_xattr(p, "user.overlay.opaque", "y"));
    free(p);

    char *lowers[3];
    make_lowers(tag, mo && mo->userxattr, lowers);
    lowers[2] = dest;
    char *work = pathf("%s/work", root);
    /* both snapshotters see the deletions and changes through the committed layer */
    for (int k = 0; k < 2; k++) {
        if (k == 0 && !can_mount)
            continue;
        struct snap_mount_opts m2 = {.force_copy = k == 1, .userxattr = mo && mo->userxattr};
        struct snap_mount *m = NULL;
        if (snap_mount(&m, lowers, 3, work, &m2, &err) < 0)
            fail_msg("snap_mount over the commit: %s", err->msg);
        char *got = manifest(snap_merged_path(m));
        assert_string_equal(got, o.merged);
        free(got);
        snap_free(m);
    }

    /* another build committing the same snapshot: ours is dropped, theirs kept */
    struct snap_mount *m = NULL;
    assert_int_equal(snap_mount(&m, lowers, 3, work, mo, &err), 0);
    write_file(snap_merged_path(m), "late", "late", 0644);
    assert_int_equal(snap_commit(m, dest, &err), 0);
    snap_free(m);
    p = pathf("%s/late", dest);
    struct stat st;
    assert_int_equal(lstat(p, &st), -1);
    free(p);

    /* nothing of the mounts is left in the work directory */
    struct dirent **names;
    int n = scandir(work, &names, NULL, NULL);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);

    free(lowers[0]);
    free(lowers[1]);
    free(work);
    free(dest);
    free(snaps);
    outcome_free(&o);
}

static void
test_overlay_commit(void **state)
{
    (void)state;
    if (!can_mount)
        skip();
    commit_and_remount("ovc", NULL);
}

static void
test_copy_commit(void **state)
{
    (void)state;
    if (!is_root)
        skip();
    struct snap_mount_opts mo = {.force_copy = true};
    commit_and_remount("cpc", &mo);
}

/* Mount-point stubs the executor made are dropped from the diff and the commit. */
static void
drops(bool copy)
{
    char *work = pathf("%s/work", root);
    char *lowers[2];
    make_lowers(copy ? "dc" : "do", false, lowers);
    struct snap_mount_opts mo = {.force_copy = copy};
    struct snap_mount *m = NULL;
    struct sw_error *err = NULL;
    assert_int_equal(snap_mount(&m, lowers, 2, work, &mo, &err), 0);
    const char *mp = snap_merged_path(m);
    sh("mkdir -p '%s/run/secrets' '%s/stub' '%s/keepme' '%s/etc/ssl'", mp, mp, mp, mp);
    sh("touch '%s/run/secrets/tok' '%s/etc/ssl/cert'", mp, mp);
    write_file(mp, "keepme/f", "f", 0644);
    write_file(mp, "real", "x", 0644);
    assert_int_equal(snap_unmount(m, &err), 0);
    const char *const drop[] = {"/run", "run/secrets/", "run/secrets/tok",
                                "stub", "keepme",       "etc/ssl/cert"};
    struct snap_diff_opts dopts = {.drop_if_empty = drop, .ndrop = 6};
    struct sw_buf diff = {0};
    struct layer_writer *w = new_writer(&diff);
    if (snap_diff(m, w, &dopts, &err) < 0)
        fail_msg("snap_diff: %s", err->msg);
    finish(w);
    char *entries = tar_listing(&diff);
    assert_string_equal(entries, "etc/ d\n"
                                 "etc/ssl/ d\n"
                                 "keepme/ d\n"
                                 "keepme/f f\n"
                                 "real f\n");
    char *dest = pathf("%s/snapshots/drop-%d", root, copy);
    sh("mkdir -p '%s/snapshots'", root);
    assert_int_equal(snap_commit(m, dest, &err), 0);
    snap_free(m);
    char *got = manifest(dest);
    assert_null(strstr(got, "run"));
    assert_null(strstr(got, "stub"));
    assert_null(strstr(got, "cert"));
    assert_non_null(strstr(got, "keepme/f"));
    free(got);
    sh("rm -rf '%s'", dest);
    free(dest);
    free(entries);
    sw_buf_free(&diff);
    free_lowers(lowers);
    free(work);
}

static void
test_drops(void **state)
{
    (void)state;
    if (!is_root)
        skip();
    drops(true);
    if (can_mount)
        drops(false);
}

/* No layers at all (scratch). */
static void
test_empty_stack(void **state)
{
    (void)state;
    char *work = pathf("%s/work", root);
    sh("mkdir -p '%s'", work);
    for (int k = 0; k < 2; k++) {
        if (k == 0 && !can_mount)
            continue;
        struct snap_mount_opts mo = {.force_copy = k == 1};
        struct snap_mount *m = NULL;
        struct sw_error *err = NULL;
        assert_int_equal(snap_mount(&m, NULL, 0, work, &mo, &err), 0);
        char *empty = manifest(snap_merged_path(m));
        assert_string_equal(empty, "");
        free(empty);
        sh("mkdir '%s/bin' && chmod 0755 '%s/bin'", snap_merged_path(m), snap_merged_path(m));
        write_file(snap_merged_path(m), "bin/sh", "#!", 0755);
        struct sw_buf diff = {0};
        struct layer_writer *w = new_writer(&diff);
        assert_int_equal(snap_diff(m, w, NULL, &err), 0);
        finish(w);
        char *entries = tar_listing(&diff);
        assert_string_equal(entries, "bin/ d\nbin/sh f\n");
        free(entries);
        sw_buf_free(&diff);
        char *mp = strdup(snap_merged_path(m));
        snap_free(m); /* still mounted: snap_free unmounts */
        assert_false(mounted_at(mp));
        free(mp);
    }
    free(work);
}

/* More layers than a page of mount options can name. */
static void
test_many_layers(void **state)
{
    (void)state;
    if (!can_mount)
        skip();
    enum { N = 150 };
    char *base = pathf("%s/a-rather-long-directory-name-for-layers-to-make-the-option-string-"
                       "overflow-one-page-of-memory",
                       root);
    char *dirs[N];
    for (int i = 0; i < N; i++) {
        dirs[i] = pathf("%s/layer-%03d-with-some-more-padding-in-its-name", base, i);
        sh("mkdir -p '%s'", dirs[i]);
        char name[16], content[16];
        snprintf(name, sizeof name, "f%03d", i);
        snprintf(content, sizeof content, "%d", i);
        write_file(dirs[i], name, content, 0644);
        write_file(dirs[i], "top", content, 0644);
    }
    char *work = pathf("%s/work", root);
    for (int legacy = 0; legacy < 2; legacy++) {
        struct snap_mount_opts mo = {.legacy_mount = legacy};
        struct snap_mount *m = NULL;
        struct sw_error *err = NULL;
        if (snap_mount(&m, dirs, N, work, &mo, &err) < 0)
            fail_msg("snap_mount (legacy %d): %s", legacy, err->msg);
        /* fsconfig names each layer in full; mount(2) had to use descriptors */
        char *mi = slurp("/proc/self/mountinfo");
        char *line = strstr(mi, snap_merged_path(m));
        assert_non_null(line);
        assert_int_equal(strstr(line, "lowerdir=/proc/self/fd/") != NULL, legacy);
        assert_int_equal(strstr(line, "layer-149-with") != NULL, !legacy);
        free(mi);
        char *p = pathf("%s/top", snap_merged_path(m));
        char *c = slurp(p);
        assert_string_equal(c, "149");
        free(c);
        free(p);
        p = pathf("%s/f000", snap_merged_path(m));
        c = slurp(p);
        assert_string_equal(c, "0");
        free(c);
        free(p);
        snap_free(m);
    }
    /* more than overlayfs can stack */
    char *many[501];
    for (int i = 0; i < 501; i++)
        many[i] = dirs[i % N];
    struct snap_mount *m = NULL;
    struct sw_error *err = NULL;
    assert_int_equal(snap_mount(&m, many, 501, work, NULL, &err), -SW_EINVAL);
    sw_error_free(err);
    for (int i = 0; i < N; i++)
        free(dirs[i]);
    sh("rm -rf '%s'", base);
    free(base);
    free(work);
}

static void
test_mount_errors(void **state)
{
    (void)state;
    if (!can_mount)
        skip();
    char *work = pathf("%s/work", root);
    char *missing = pathf("%s/does-not-exist", root);
    char *lowers[1] = {missing};
    struct snap_mount *m = NULL;
    struct sw_error *err = NULL;
    assert_int_equal(snap_mount(&m, lowers, 1, work, NULL, &err), -SW_EIO);
    assert_non_null(strstr(err->msg, "mounting overlayfs"));
    sw_error_free(err);
    err = NULL;
    assert_int_equal(snap_mount(&m, lowers, 1, "/nonexistent/work", NULL, &err), -SW_EIO);
    sw_error_free(err);
    free(missing);
    free(work);
}

/* ---- the harness ----------------------------------------------------------------------------- */

static int
group_teardown(void **state)
{
    (void)state;
    /* no overlay of ours is left, even inside our namespace */
    char *mi = slurp("/proc/self/mountinfo");
    assert_non_null(mi);
    assert_null(strstr(mi, root));
    free(mi);
    sw_buf_free(&tar_l1);
    sw_buf_free(&tar_l2);
    return 0;
}

/* Can we mount an overlay here (namespace, privileges, kernel)? */
static bool
probe_overlay(void)
{
    char *work = pathf("%s/work", root);
    mkdir(work, 0755);
    struct snap_mount *m = NULL;
    struct sw_error *err = NULL;
    bool ok = snap_mount(&m, NULL, 0, work, NULL, &err) == 0;
    if (!ok)
        fprintf(stderr, "overlayfs unavailable, mount tests skipped: %s\n", err->msg);
    sw_error_free(err);
    snap_free(m);
    free(work);
    return ok;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract_overlay_whiteouts),
        cmocka_unit_test(test_extract_overlay_edge_cases),
        cmocka_unit_test(test_overlay_diff),
        cmocka_unit_test(test_overlay_diff_legacy_mount),
        cmocka_unit_test(test_copy_diff),
        cmocka_unit_test(test_userxattr),
        cmocka_unit_test(test_overlay_commit),
        cmocka_unit_test(test_copy_commit),
        cmocka_unit_test(test_drops),
        cmocka_unit_test(test_empty_stack),
        cmocka_unit_test(test_many_layers),
        cmocka_unit_test(test_mount_errors),
    };
    strcpy(root, "/tmp/sw-ovl-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        is_root = geteuid() == 0;
        can_mount = is_root && unshare(CLONE_NEWNS) == 0 &&
                    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 && probe_overlay();
        int rc = cmocka_run_group_tests(tests, NULL, group_teardown);
        exit(rc);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    /* the host's mount table never saw our mounts */
    char *after = slurp("/proc/self/mountinfo");
    if (!after || strstr(after, root)) {
        fprintf(stderr, "a mount under %s leaked into the host's mount table\n", root);
        rc = 1;
    }
    free(after);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
