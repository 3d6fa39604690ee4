/*
 * builder/snapshot/overlay.c: overlayfs and copy-based snapshots for RUN steps (see overlay.h and
 * docs/snapshots.md).
 *
 * A mount owns one directory under work_root, made with mkdtemp:
 *   snap-XXXXXX/upper   the overlay upperdir (overlay)
 *   snap-XXXXXX/work    the overlay workdir (overlay)
 *   snap-XXXXXX/empty   the lowerdir of an empty stack (overlay, n == 0)
 *   snap-XXXXXX/merged  the mount point (overlay) or the merged copy (copy)
 *   snap-XXXXXX/commit  the copy snapshotter's new layer directory, renamed by snap_commit
 *
 * Everything works on path strings inside these directories and the lower layers, which only we
 * write; symlinks are never followed (lstat, l*xattr, O_NOFOLLOW, AT_SYMLINK_NOFOLLOW). The
 * container must have exited before snap_diff.
 */
#include "snapshot/overlay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/userns.h"

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OVL_TRUSTED "trusted.overlay."
#define OVL_USER "user.overlay."
#define OVL_MAX_LAYERS 500 /* the kernel's OVL_MAX_STACK */

/* ---- the snapshot format ----------------------------------------------------------------------
 */

enum snap_format
snap_format_current(void)
{
    if (geteuid() != 0)
        return SNAP_FORMAT_MARKERS;
    return sw_in_user_namespace() ? SNAP_FORMAT_OVERLAY_USER : SNAP_FORMAT_OVERLAY;
}

const char *
snap_format_name(enum snap_format f)
{
    switch (f) {
    case SNAP_FORMAT_OVERLAY_USER:
        return "overlay-user";
    case SNAP_FORMAT_MARKERS:
        return "markers";
    case SNAP_FORMAT_OVERLAY:
        break;
    }
    return "overlay";
}

/* ---- small helpers --------------------------------------------------------------------------- */

static int
sys_err(struct sw_error **err, const char *what, const char *path)
{
    int e = errno;
    return sw_error_set(err, SW_EIO, e, NULL, "%s %s: %s", what, path, strerror(e));
}

static char *
path_join(const char *a, const char *b)
{
    char *s = NULL;
    if (!*a)
        return strdup(b);
    if (!*b)
        return strdup(a);
    if (asprintf(&s, "%s/%s", a, b) < 0)
        return NULL;
    return s;
}

/* The names in a directory, without "." and "..", in strcmp order. */
static int
list_names(const char *dir, struct sw_strv *names, struct sw_error **err)
{
    sw_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = fd < 0 ? -SW_EIO : sw_dir_names(names, fd, true);
    if (r == -SW_ENOMEM)
        return sw_error_oom(err);
    return r < 0 ? sys_err(err, "cannot list", dir) : 0;
}

static bool
is_ovl_xattr(const char *name)
{
    return !strncmp(name, OVL_TRUSTED, strlen(OVL_TRUSTED)) ||
           !strncmp(name, OVL_USER, strlen(OVL_USER));
}

/* The value of xattr `name` (no symlink following) is exactly `want`. */
static bool
xattr_is(const char *path, const char *name, const char *want)
{
    char v[8];
    ssize_t n = lgetxattr(path, name, v, sizeof v);
    return n >= 0 && (size_t)n == strlen(want) && !memcmp(v, want, (size_t)n);
}

static bool
xattr_exists(const char *path, const char *name)
{
    return lgetxattr(path, name, NULL, 0) >= 0;
}

/* Which overlay xattrs count as markers: a lower layer may hold either kind; an upperdir only
 * those of the mount's own namespace (the other one is an ordinary xattr the container set). */
enum ovl_ns { OVL_NS_ANY = 0, OVL_NS_TRUSTED, OVL_NS_USER };

/* Directory marked opaque by overlayfs. */
static bool
ovl_opaque(const char *path, enum ovl_ns ns)
{
    return (ns != OVL_NS_USER && xattr_is(path, OVL_TRUSTED "opaque", "y")) ||
           (ns != OVL_NS_TRUSTED && xattr_is(path, OVL_USER "opaque", "y"));
}

/* A whiteout as overlayfs stores it: a 0/0 character device, or an empty regular file with the
 * overlay.whiteout xattr (kernel >= 6.7 "xattr whiteouts"). */
static bool
ovl_whiteout(const char *path, const struct stat *st, enum ovl_ns ns)
{
    if (S_ISCHR(st->st_mode))
        return st->st_rdev == makedev(0, 0);
    if (S_ISREG(st->st_mode) && st->st_size == 0)
        return (ns != OVL_NS_USER && xattr_exists(path, OVL_TRUSTED "whiteout")) ||
               (ns != OVL_NS_TRUSTED && xattr_exists(path, OVL_USER "whiteout"));
    return false;
}

struct xattrs {
    struct layer_xattr *v;
    size_t n;
    char *names; /* the llistxattr buffer */
    char **vals; /* owned values */
};

static void
xattrs_free(struct xattrs *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->vals[i]);
    free(x->vals);
    free(x->v);
    free(x->names);
    memset(x, 0, sizeof *x);
}

/* The xattrs of `path` (not following a symlink), without the overlay's own. */
static int
read_xattrs(const char *path, struct xattrs *out, struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    ssize_t len;
    for (;;) {
        len = llistxattr(path, NULL, 0);
        if (len < 0 && (errno == ENOTSUP || errno == EPERM))
            return 0;
        if (len < 0)
            return sys_err(err, "cannot list xattrs of", path);
        if (len == 0)
            return 0;
        free(out->names);
        if (!(out->names = malloc((size_t)len)))
            return sw_error_oom(err);
        ssize_t got = llistxattr(path, out->names, (size_t)len);
        if (got >= 0) {
            len = got;
            break;
        }
        if (errno != ERANGE) {
            xattrs_free(out);
            return sys_err(err, "cannot list xattrs of", path);
        }
    }
    size_t cap = 0;
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(out->names + i) + 1)
        cap++;
    out->v = calloc(cap, sizeof *out->v);
    out->vals = calloc(cap, sizeof *out->vals);
    if (!out->v || !out->vals) {
        xattrs_free(out);
        return sw_error_oom(err);
    }
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(out->names + i) + 1) {
        const char *name = out->names + i;
        if (is_ovl_xattr(name))
            continue;
        ssize_t vl = lgetxattr(path, name, NULL, 0);
        char *val = NULL;
        while (vl >= 0) {
            free(val);
            if (!(val = malloc(vl ? (size_t)vl : 1))) {
                xattrs_free(out);
                return sw_error_oom(err);
            }
            ssize_t g = lgetxattr(path, name, val, (size_t)vl);
            if (g >= 0) {
                vl = g;
                break;
            }
            vl = errno == ERANGE ? lgetxattr(path, name, NULL, 0) : -1;
        }
        if (vl < 0) { /* vanished or not readable (ENODATA, EPERM): not part of the entry */
            free(val);
            continue;
        }
        out->vals[out->n] = val;
        out->v[out->n] = (struct layer_xattr){.name = name, .value = val, .len = (size_t)vl};
        out->n++;
    }
    return 0;
}

/* Add the entry at host path `host` (already lstat'ed) as layer path `rel`. */
static int
add_host_entry(struct layer_writer *w, const char *rel, const char *host, const struct stat *st,
               struct sw_error **err)
{
    struct layer_entry e = {
        .path = rel,
        .type = layer_entry_type_from_mode(st->st_mode),
        .mode = st->st_mode & 07777,
        .uid = st->st_uid,
        .gid = st->st_gid,
        .mtime_sec = st->st_mtim.tv_sec,
        .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
    };
    char target[PATH_MAX];
    if (e.type == LAYER_ENTRY_SOCKET)
        return 0;
    if (e.type == LAYER_ENTRY_REG) {
        e.size = (uint64_t)st->st_size;
        e.source = (struct layer_source){
            .kind = st->st_size ? LAYER_SOURCE_PATH : LAYER_SOURCE_NONE, .path = host};
        if (st->st_nlink > 1) {
            e.src_dev = st->st_dev;
            e.src_ino = st->st_ino;
        }
    } else if (e.type == LAYER_ENTRY_SYMLINK) {
        ssize_t n = readlink(host, target, sizeof target - 1);
        if (n < 0)
            return sys_err(err, "cannot read symlink", host);
        target[n] = '\0';
        e.link_target = target;
    } else if (e.type == LAYER_ENTRY_CHAR || e.type == LAYER_ENTRY_BLOCK) {
        e.rdev_major = major(st->st_rdev);
        e.rdev_minor = minor(st->st_rdev);
    }
    struct xattrs xa;
    int r = read_xattrs(host, &xa, err);
    if (r < 0)
        return r;
    e.xattrs = xa.v;
    e.nxattrs = xa.n;
    r = layer_writer_add(w, &e, err);
    xattrs_free(&xa);
    return r;
}

/* ---- tree operations used by the copy snapshotter and commits -------------------------------- */

static int
rm_path(const char *path, struct sw_error **err)
{
    return sw_rmtree(path, err);
}

/* Copy the xattrs of src to dst (both not followed), except the overlay's own. Refusals by the
 * file system or our privileges are ignored, like the extractor's. */
static int
copy_xattrs(const char *src, const char *dst, struct sw_error **err)
{
    struct xattrs xa;
    int r = read_xattrs(src, &xa, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < xa.n; i++) {
        if (lsetxattr(dst, xa.v[i].name, xa.v[i].value, xa.v[i].len, 0) == 0)
            continue;
        if (errno == ENOSPC || errno == EDQUOT || errno == EIO) {
            r = sys_err(err, "cannot set xattrs on", dst);
            break;
        }
    }
    xattrs_free(&xa);
    return r;
}

/* Owner, xattrs (after the owner, which drops capabilities), mode (after the owner, which clears
 * setuid bits) and mtime of st onto dst. Owners are skipped when we may not set them. */
static int
apply_meta(const char *src, const char *dst, const struct stat *st, struct sw_error **err)
{
    if (lchown(dst, st->st_uid, st->st_gid) < 0 && errno != EPERM && errno != EINVAL)
        return sys_err(err, "cannot change owner of", dst);
    int r = S_ISLNK(st->st_mode) ? 0 : copy_xattrs(src, dst, err);
    if (r < 0)
        return r;
    if (!S_ISLNK(st->st_mode) && chmod(dst, st->st_mode & 07777) < 0)
        return sys_err(err, "cannot chmod", dst);
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (utimensat(AT_FDCWD, dst, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return sys_err(err, "cannot set times of", dst);
    return 0;
}

/* Hardlinks seen while copying one tree: source identity -> the first copy's path. */
struct linkmap {
    struct link {
        dev_t dev;
        ino_t ino;
        char *path;
    } * v;
    size_t n, cap;
};

static void
linkmap_free(struct linkmap *lm)
{
    for (size_t i = 0; i < lm->n; i++)
        free(lm->v[i].path);
    free(lm->v);
    memset(lm, 0, sizeof *lm);
}

static const char *
linkmap_find(const struct linkmap *lm, const struct stat *st)
{
    for (size_t i = 0; i < lm->n; i++)
        if (lm->v[i].dev == st->st_dev && lm->v[i].ino == st->st_ino)
            return lm->v[i].path;
    return NULL;
}

static int
linkmap_add(struct linkmap *lm, const struct stat *st, const char *path)
{
    if (lm->n == lm->cap) {
        size_t cap = lm->cap ? lm->cap * 2 : 16;
        struct link *v = realloc(lm->v, cap * sizeof *v);
        if (!v)
            return -SW_ENOMEM;
        lm->v = v;
        lm->cap = cap;
    }
    char *p = strdup(path);
    if (!p)
        return -SW_ENOMEM;
    lm->v[lm->n++] = (struct link){.dev = st->st_dev, .ino = st->st_ino, .path = p};
    return 0;
}

/* Copy one non-directory (dst must not exist). Sockets are skipped; devices are skipped when we
 * may not create them (not root). */
static int
copy_node(const char *src, const char *dst, const struct stat *st, struct linkmap *lm,
          struct sw_error **err)
{
    if (S_ISREG(st->st_mode) && st->st_nlink > 1 && lm) {
        const char *first = linkmap_find(lm, st);
        if (first && link(first, dst) == 0)
            return 0;
        if (!first && linkmap_add(lm, st, dst) < 0)
            return sw_error_oom(err);
    }
    int r = 0;
    if (S_ISREG(st->st_mode)) {
        r = sw_copy_file(src, dst, 0600, err);
    } else if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(src, target, sizeof target - 1);
        if (n < 0)
            return sys_err(err, "cannot read symlink", src);
        target[n] = '\0';
        if (symlink(target, dst) < 0)
            return sys_err(err, "cannot create symlink", dst);
    } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) || S_ISFIFO(st->st_mode)) {
        if (mknod(dst, (st->st_mode & S_IFMT) | 0600, S_ISFIFO(st->st_mode) ? 0 : st->st_rdev) <
            0) {
            if (errno == EPERM && !S_ISFIFO(st->st_mode))
                return 0;
            return sys_err(err, "cannot create node", dst);
        }
    } else {
        return 0; /* sockets */
    }
    return r < 0 ? r : apply_meta(src, dst, st, err);
}

/* ---- merging lower layers (copy snapshotter) ------------------------------------------------- */

struct dirmeta {
    char *src, *dst;
    struct stat st;
};

struct merge {
    struct linkmap links; /* per layer */
    struct dirmeta *dirs; /* directory metadata, applied children first at the end of a layer */
    size_t ndirs, capdirs;
};

static int
defer_dir(struct merge *mg, const char *src, const char *dst, const struct stat *st,
          struct sw_error **err)
{
    if (mg->ndirs == mg->capdirs) {
        size_t cap = mg->capdirs ? mg->capdirs * 2 : 64;
        struct dirmeta *v = realloc(mg->dirs, cap * sizeof *v);
        if (!v)
            return sw_error_oom(err);
        mg->dirs = v;
        mg->capdirs = cap;
    }
    struct dirmeta *d = &mg->dirs[mg->ndirs];
    d->src = strdup(src);
    d->dst = strdup(dst);
    d->st = *st;
    if (!d->src || !d->dst) {
        free(d->src);
        free(d->dst);
        return sw_error_oom(err);
    }
    mg->ndirs++;
    return 0;
}

static int
flush_dirs(struct merge *mg, struct sw_error **err)
{
    int r = 0;
    /* recorded parents first: children first is the reverse order */
    for (size_t i = mg->ndirs; i-- > 0;) {
        if (r == 0)
            r = apply_meta(mg->dirs[i].src, mg->dirs[i].dst, &mg->dirs[i].st, err);
        free(mg->dirs[i].src);
        free(mg->dirs[i].dst);
    }
    mg->ndirs = 0;
    return r;
}

/* Apply lower directory `src` onto merged directory `dst` (both exist): opaque first, then
 * whiteouts (both the OCI markers a view reads and overlayfs' own), then entries. */
static int
merge_dir(struct merge *mg, const char *src, const char *dst, struct sw_error **err)
{
    struct sw_strv names = {0};
    int r = list_names(src, &names, err);
    bool opaque = ovl_opaque(src, OVL_NS_ANY) || sw_strv_contains(&names, WH_OPAQUE);
    if (r == 0 && opaque) {
        struct sw_strv old = {0};
        r = list_names(dst, &old, err);
        for (size_t i = 0; r == 0 && i < old.n; i++) {
            sw_autofree char *p = path_join(dst, old.v[i]);
            r = p ? rm_path(p, err) : sw_error_oom(err);
        }
        sw_strv_free(&old);
    }
    /* pass 1: whiteouts */
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        const char *name = names.v[i];
        const char *victim = NULL;
        if (!strncmp(name, WH_META_PREFIX, strlen(WH_META_PREFIX)))
            continue;
        sw_autofree char *sp = path_join(src, name);
        if (!sp) {
            r = sw_error_oom(err);
            break;
        }
        struct stat st;
        if (!strncmp(name, WH_PREFIX, strlen(WH_PREFIX))) {
            victim = name + strlen(WH_PREFIX);
            if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
                continue; /* not a name: nothing to remove */
        } else if (lstat(sp, &st) == 0 && ovl_whiteout(sp, &st, OVL_NS_ANY))
            victim = name;
        if (!victim)
            continue;
        sw_autofree char *dp = path_join(dst, victim);
        r = dp ? rm_path(dp, err) : sw_error_oom(err);
    }
    /* pass 2: entries */
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        const char *name = names.v[i];
        if (!strncmp(name, WH_PREFIX, strlen(WH_PREFIX)))
            continue;
        sw_autofree char *sp = path_join(src, name);
        sw_autofree char *dp = path_join(dst, name);
        if (!sp || !dp) {
            r = sw_error_oom(err);
            break;
        }
        struct stat st, dst_st;
        if (lstat(sp, &st) < 0) {
            r = sys_err(err, "cannot stat", sp);
            break;
        }
        if (ovl_whiteout(sp, &st, OVL_NS_ANY))
            continue;
        bool exists = lstat(dp, &dst_st) == 0;
        if (S_ISDIR(st.st_mode)) {
            if (exists && !S_ISDIR(dst_st.st_mode) && (r = rm_path(dp, err)) < 0)
                break;
            if ((!exists || !S_ISDIR(dst_st.st_mode)) && mkdir(dp, 0700) < 0) {
                r = sys_err(err, "cannot create directory", dp);
                break;
            }
            if ((r = defer_dir(mg, sp, dp, &st, err)) == 0)
                r = merge_dir(mg, sp, dp, err);
            continue;
        }
        if (exists && (r = rm_path(dp, err)) < 0)
            break;
        r = copy_node(sp, dp, &st, &mg->links, err);
    }
    sw_strv_free(&names);
    return r;
}

/* ---- the record of a copy -------------------------------------------------------------------- */

struct rec {
    char *path;  /* relative, no leading '/' */
    mode_t mode; /* type and permissions */
    uid_t uid;
    gid_t gid;
    off_t size;
    dev_t rdev;
    ino_t ino;
    struct timespec mtime, ctime, btime;
    bool has_btime;
    char *link;    /* symlink target */
    bool seen;     /* found again by the diff */
    bool kept_dir; /* still the same directory (so whiteouts below it are meaningful) */
};

struct recs {
    struct rec *v;
    size_t n, cap;
};

static void
recs_free(struct recs *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].path);
        free(rs->v[i].link);
    }
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

static int
stat_rec(const char *host, struct rec *r, struct sw_error **err)
{
    struct statx sx;
    if (statx(AT_FDCWD, host, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0)
        return sys_err(err, "cannot stat", host);
    r->mode = sx.stx_mode;
    r->uid = sx.stx_uid;
    r->gid = sx.stx_gid;
    r->size = (off_t)sx.stx_size;
    r->rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
    r->ino = sx.stx_ino;
    r->mtime = (struct timespec){sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec};
    r->ctime = (struct timespec){sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec};
    r->has_btime = sx.stx_mask & STATX_BTIME;
    if (r->has_btime)
        r->btime = (struct timespec){sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec};
    r->link = NULL;
    if (S_ISLNK(r->mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(host, target, sizeof target - 1);
        if (n < 0)
            return sys_err(err, "cannot read symlink", host);
        if (!(r->link = strndup(target, (size_t)n)))
            return sw_error_oom(err);
    }
    return 0;
}

static int
record_tree(struct recs *rs, const char *base, const char *rel, struct sw_error **err)
{
    sw_autofree char *dir = path_join(base, rel);
    if (!dir)
        return sw_error_oom(err);
    struct sw_strv names = {0};
    int r = list_names(dir, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        if (rs->n == rs->cap) {
            size_t cap = rs->cap ? rs->cap * 2 : 256;
            struct rec *v = realloc(rs->v, cap * sizeof *v);
            if (!v) {
                r = sw_error_oom(err);
                break;
            }
            rs->v = v;
            rs->cap = cap;
        }
        struct rec *e = &rs->v[rs->n];
        memset(e, 0, sizeof *e);
        e->path = path_join(rel, names.v[i]);
        sw_autofree char *host = path_join(base, e->path ? e->path : "");
        if (!e->path || !host) {
            free(e->path);
            r = sw_error_oom(err);
            break;
        }
        if ((r = stat_rec(host, e, err)) < 0) {
            free(e->path);
            break;
        }
        rs->n++;
        if (S_ISDIR(e->mode))
            r = record_tree(rs, base, rs->v[rs->n - 1].path, err);
    }
    sw_strv_free(&names);
    return r;
}

static int
cmp_rec(const void *a, const void *b)
{
    return strcmp(((const struct rec *)a)->path, ((const struct rec *)b)->path);
}

static struct rec *
recs_find(struct recs *rs, const char *path)
{
    struct rec key = {.path = (char *)path};
    return rs->n ? bsearch(&key, rs->v, rs->n, sizeof *rs->v, cmp_rec) : NULL;
}

static bool
ts_eq(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool
same_identity(const struct rec *a, const struct rec *b)
{
    return a->ino == b->ino && a->has_btime == b->has_btime &&
           (!a->has_btime || ts_eq(a->btime, b->btime));
}

/* Wait until the clock the kernel stamps ctimes with has moved past `t` (and past now), so that
 * any change made after we return gets a ctime later than every recorded one. */
static void
wait_past(struct timespec t)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (now.tv_sec > t.tv_sec || (now.tv_sec == t.tv_sec && now.tv_nsec > t.tv_nsec))
        t = now;
    for (;;) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
        clock_gettime(CLOCK_REALTIME_COARSE, &now);
        if (now.tv_sec > t.tv_sec || (now.tv_sec == t.tv_sec && now.tv_nsec > t.tv_nsec))
            return;
    }
}

/* ---- the mount ------------------------------------------------------------------------------- */

enum change_kind { CH_ENTRY = 0, CH_OPAQUE, CH_WHITEOUT };

struct change {
    char *path;
    enum change_kind kind;
};

struct changes {
    struct change *v;
    size_t n, cap;
};

static void
changes_free(struct changes *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        free(cs->v[i].path);
    free(cs->v);
    memset(cs, 0, sizeof *cs);
}

struct snap_mount {
    enum snap_kind kind;
    char *dir;    /* everything we own */
    char *merged; /* the container's root */
    char *upper, *work, *empty;
    bool userxattr;
    bool mounted;
    bool done;              /* committed: only snap_free is left */
    struct recs recs;       /* copy: the record */
    bool diffed;            /* snap_diff ran: drops and changes below are valid */
    struct sw_strv dropped; /* paths snap_diff left out (top-most ones) */
    struct changes changes; /* copy: what snap_diff found, sorted */
};

enum snap_kind
snap_mount_kind(const struct snap_mount *m)
{
    return m->kind;
}

const char *
snap_merged_path(const struct snap_mount *m)
{
    return m->merged;
}

const char *
snap_upper_path(const struct snap_mount *m)
{
    return m->kind == SNAP_OVERLAY && !m->done ? m->upper : NULL;
}

/* The last error message the kernel logged on an fsopen context ("e overlay: ..."). */
static void
read_fs_log(int fs, char *msg, size_t cap)
{
    char buf[512];
    for (;;) {
        ssize_t n = read(fs, buf, sizeof buf - 1);
        if (n <= 0)
            return;
        buf[n] = '\0';
        if (n > 2 && buf[1] == ' ')
            snprintf(msg, cap, "%s", buf + 2);
    }
}

static const char *const ovl_options[][2] = {
    {"index", "off"},    /* no origin checks: layers move between mounts */
    {"metacopy", "off"}, /* an upper file must hold its data: the diff reads it */
    /* a renamed lower directory is copied, not redirected; and no layer can redirect a lookup
     * ("off" means "follow" on kernels built with redirect_always_follow, which userxattr
     * refuses) */
    {"redirect_dir", "nofollow"},
    {"xino", "off"},
};

/* Mount with the new API, each lower layer its own "lowerdir+" (top first). Returns 0 or an
 * errno; msg gets the kernel's message. */
static int
mount_fsconfig(struct snap_mount *m, char *const *lowers, size_t n, char *msg, size_t cap)
{
    int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return errno;
    int e = 0;
    if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "slipway", 0) < 0)
        e = errno;
    for (size_t i = n; !e && i-- > 0;)
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0)
            e = errno;
    if (!e && fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", m->upper, 0) < 0)
        e = errno;
    if (!e && fsconfig(fs, FSCONFIG_SET_STRING, "workdir", m->work, 0) < 0)
        e = errno;
    for (size_t i = 0; !e && i < sizeof ovl_options / sizeof ovl_options[0]; i++)
        if (fsconfig(fs, FSCONFIG_SET_STRING, ovl_options[i][0], ovl_options[i][1], 0) < 0)
            e = errno;
    if (!e && m->userxattr && fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
        e = errno;
    if (!e && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        e = errno;
    int mnt = -1;
    if (!e && (mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0)) < 0)
        e = errno;
    if (!e && move_mount(mnt, "", AT_FDCWD, m->merged, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        e = errno;
    if (e)
        read_fs_log(fs, msg, cap);
    if (mnt >= 0)
        close(mnt);
    close(fs);
    return e;
}

/* Characters the mount(2) option string would need escaped. */
static bool
needs_escape(const char *p)
{
    return strpbrk(p, ":,\\=") != NULL;
}

static int
put_dir(struct sw_buf *b, const char *path, bool by_fd, int *fds, size_t *nfds)
{
    if (!by_fd)
        return sw_buf_puts(b, path);
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -SW_EIO;
    fds[(*nfds)++] = fd;
    return sw_buf_printf(b, "/proc/self/fd/%d", fd);
}

/* mount(2) with one option string (kernels before 6.8). The string must fit in a page: when the
 * plain paths do not (or need escaping), every directory is named /proc/self/fd/N through an
 * O_PATH descriptor held across the call. Returns 0 or an errno (ENAMETOOLONG: even the short
 * names do not fit). */
static int
mount_legacy(struct snap_mount *m, char *const *lowers, size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t limit = page > 0 ? (size_t)page - 1 : 4095;
    bool by_fd = needs_escape(m->upper) || needs_escape(m->work);
    for (size_t i = 0; i < n; i++)
        by_fd = by_fd || needs_escape(lowers[i]);
    int e = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct sw_buf b = {0};
        int *fds = calloc(n + 2, sizeof *fds);
        size_t nfds = 0;
        int r = fds ? sw_buf_puts(&b, "lowerdir=") : -SW_ENOMEM;
        for (size_t i = n; r == 0 && i-- > 0;) {
            r = put_dir(&b, lowers[i], by_fd, fds, &nfds);
            if (r == 0 && i)
                r = sw_buf_putc(&b, ':');
        }
        if (r == 0)
            r = sw_buf_puts(&b, ",upperdir=");
        if (r == 0)
            r = put_dir(&b, m->upper, by_fd, fds, &nfds);
        if (r == 0)
            r = sw_buf_puts(&b, ",workdir=");
        if (r == 0)
            r = put_dir(&b, m->work, by_fd, fds, &nfds);
        for (size_t i = 0; r == 0 && i < sizeof ovl_options / sizeof ovl_options[0]; i++)
            r = sw_buf_printf(&b, ",%s=%s", ovl_options[i][0], ovl_options[i][1]);
        if (r == 0 && m->userxattr)
            r = sw_buf_puts(&b, ",userxattr");
        bool retry = false;
        if (r == -SW_EIO)
            e = errno;
        else if (r < 0)
            e = ENOMEM;
        else if (b.len > limit && !by_fd)
            retry = true;
        else if (b.len > limit)
            e = ENAMETOOLONG;
        else if (mount("slipway", m->merged, "overlay", 0, b.data) < 0)
            e = errno;
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        free(fds);
        sw_buf_free(&b);
        if (!retry)
            break;
        by_fd = true;
    }
    return e;
}

static int
mount_overlay(struct snap_mount *m, char *const *lowers, size_t n, bool legacy,
              struct sw_error **err)
{
    char *only[1] = {m->empty};
    if (n == 0) {
        lowers = only;
        n = 1;
    }
    if (n > OVL_MAX_LAYERS)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "overlayfs stacks at most %d layers, this snapshot has %zu",
                            OVL_MAX_LAYERS, n);
    char msg[512] = "";
    int e = legacy ? ENOSYS : mount_fsconfig(m, lowers, n, msg, sizeof msg);
    if (e == ENOSYS || e == EINVAL || e == EOPNOTSUPP) {
        /* no new mount API, or no "lowerdir+" (before 6.8): the classic option string */
        int e2 = mount_legacy(m, lowers, n);
        if (e2 == 0)
            return 0;
        if (e2 == ENAMETOOLONG)
            return sw_error_set(err, SW_EUNSUPPORTED, e2, NULL,
                                "mounting overlayfs on %s: %zu layers do not fit in a mount "
                                "option string on this kernel (fsconfig lowerdir+ needs 6.8)",
                                m->merged, n);
        if (e == ENOSYS || !*msg)
            e = e2;
    }
    if (e == 0)
        return 0;
    return sw_error_set(err, SW_EIO, e, NULL, "mounting overlayfs on %s: %s%s%s", m->merged,
                        strerror(e), *msg ? ": " : "", msg);
}

static int
make_dir(char **out, const char *base, const char *name, struct sw_error **err)
{
    if (!(*out = path_join(base, name)))
        return sw_error_oom(err);
    if (mkdir(*out, 0755) < 0 || chmod(*out, 0755) < 0)
        return sys_err(err, "cannot create", *out);
    return 0;
}

int
snap_mount(struct snap_mount **out, char *const *lowerdirs, size_t n, const char *work_root,
           const struct snap_mount_opts *o, struct sw_error **err)
{
    struct snap_mount_opts opts = o ? *o : (struct snap_mount_opts){0};
    struct snap_mount *m = calloc(1, sizeof *m);
    if (!m)
        return sw_error_oom(err);
    m->kind = opts.force_copy ? SNAP_COPY : SNAP_OVERLAY;
    m->userxattr = opts.userxattr || sw_in_user_namespace();
    int r = 0;
    if (asprintf(&m->dir, "%s/snap-XXXXXX", work_root) < 0) {
        m->dir = NULL;
        r = sw_error_oom(err);
    } else if (!mkdtemp(m->dir)) {
        r = sys_err(err, "cannot create a snapshot directory in", work_root);
        free(m->dir);
        m->dir = NULL;
    }
    if (r == 0)
        r = make_dir(&m->merged, m->dir, "merged", err);
    if (r == 0 && m->kind == SNAP_OVERLAY) {
        if ((r = make_dir(&m->upper, m->dir, "upper", err)) == 0 &&
            (r = make_dir(&m->work, m->dir, "work", err)) == 0 &&
            (r = make_dir(&m->empty, m->dir, "empty", err)) == 0)
            r = mount_overlay(m, lowerdirs, n, opts.legacy_mount, err);
        m->mounted = r == 0;
    } else if (r == 0) {
        struct merge mg = {0};
        for (size_t i = 0; r == 0 && i < n; i++) {
            r = merge_dir(&mg, lowerdirs[i], m->merged, err);
            int r2 = flush_dirs(&mg, err);
            if (r == 0)
                r = r2;
            linkmap_free(&mg.links);
            if (r < 0)
                sw_error_wrap(err, "copying layer %s", lowerdirs[i]);
        }
        free(mg.dirs);
        if (r == 0)
            r = record_tree(&m->recs, m->merged, "", err);
        if (r == 0) {
            if (m->recs.n > 1)
                qsort(m->recs.v, m->recs.n, sizeof *m->recs.v, cmp_rec);
            struct timespec latest = {0, 0};
            for (size_t i = 0; i < m->recs.n; i++) {
                struct timespec c = m->recs.v[i].ctime;
                if (c.tv_sec > latest.tv_sec ||
                    (c.tv_sec == latest.tv_sec && c.tv_nsec > latest.tv_nsec))
                    latest = c;
            }
            wait_past(latest);
        }
    }
    if (r < 0) {
        snap_free(m);
        return r;
    }
    *out = m;
    return 0;
}

int
snap_unmount(struct snap_mount *m, struct sw_error **err)
{
    if (!m->mounted)
        return 0;
    if (umount2(m->merged, UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
        return sys_err(err, "cannot unmount", m->merged);
    m->mounted = false;
    return 0;
}

/* ---- drops ----------------------------------------------------------------------------------- */

static bool
listed(const struct snap_diff_opts *o, const char *rel)
{
    for (size_t i = 0; o && i < o->ndrop; i++) {
        const char *p = o->drop_if_empty[i];
        while (*p == '/')
            p++;
        size_t l = strlen(p);
        while (l && p[l - 1] == '/')
            l--;
        if (l && strlen(rel) == l && !memcmp(rel, p, l))
            return true;
    }
    return false;
}

/* Is `rel` (at host path `host`) a listed mount-point stub: an empty file, or a directory whose
 * children are all such stubs? */
static bool
droppable(const struct snap_diff_opts *o, const char *host, const char *rel, const struct stat *st)
{
    if (!listed(o, rel))
        return false;
    if (S_ISREG(st->st_mode))
        return st->st_size == 0;
    if (!S_ISDIR(st->st_mode))
        return false;
    struct sw_strv names = {0};
    bool ok = list_names(host, &names, NULL) == 0;
    for (size_t i = 0; ok && i < names.n; i++) {
        char *ch = path_join(host, names.v[i]);
        char *cr = path_join(rel, names.v[i]);
        struct stat cst;
        ok = ch && cr && lstat(ch, &cst) == 0 && droppable(o, ch, cr, &cst);
        free(ch);
        free(cr);
    }
    sw_strv_free(&names);
    return ok;
}

/* ---- the overlay diff ------------------------------------------------------------------------ */

static int
diff_upper(struct snap_mount *m, struct layer_writer *w, const struct snap_diff_opts *o,
           const char *rel, struct sw_error **err)
{
    sw_autofree char *dir = path_join(m->upper, rel);
    if (!dir)
        return sw_error_oom(err);
    struct sw_strv names = {0};
    int r = list_names(dir, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        sw_autofree char *p = path_join(rel, names.v[i]);
        sw_autofree char *host = path_join(m->upper, p ? p : "");
        if (!p || !host) {
            r = sw_error_oom(err);
            break;
        }
        struct stat st;
        if (lstat(host, &st) < 0) {
            r = sys_err(err, "cannot stat", host);
            break;
        }
        if (droppable(o, host, p, &st)) {
            r = sw_strv_push(&m->dropped, p) < 0 ? sw_error_oom(err) : 0;
            continue;
        }
        enum ovl_ns ns = m->userxattr ? OVL_NS_USER : OVL_NS_TRUSTED;
        if (ovl_whiteout(host, &st, ns)) {
            r = layer_writer_add_whiteout(w, p, err);
            continue;
        }
        r = add_host_entry(w, p, host, &st, err);
        if (r == 0 && S_ISDIR(st.st_mode)) {
            if (ovl_opaque(host, ns))
                r = layer_writer_add_opaque(w, p, err);
            if (r == 0)
                r = diff_upper(m, w, o, p, err);
        }
    }
    sw_strv_free(&names);
    return r;
}

/* ---- the copy diff --------------------------------------------------------------------------- */

static int
change_add(struct changes *cs, const char *path, enum change_kind kind, struct sw_error **err)
{
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 64;
        struct change *v = realloc(cs->v, cap * sizeof *v);
        if (!v)
            return sw_error_oom(err);
        cs->v = v;
        cs->cap = cap;
    }
    char *p = strdup(path);
    if (!p)
        return sw_error_oom(err);
    cs->v[cs->n++] = (struct change){.path = p, .kind = kind};
    return 0;
}

/* A change at `path`, with its ancestor directories as entries. */
static int
change_at(struct changes *cs, const char *path, enum change_kind kind, struct sw_error **err)
{
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        sw_autofree char *anc = strndup(path, (size_t)(s - path));
        if (!anc)
            return sw_error_oom(err);
        int r = change_add(cs, anc, CH_ENTRY, err);
        if (r < 0)
            return r;
    }
    return change_add(cs, path, kind, err);
}

static int
cmp_change(const void *a, const void *b)
{
    const struct change *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (int)x->kind - (int)y->kind;
}

/* Walk the merged copy below `rel`; `all`: everything here is new (under a new directory). */
static int
diff_copy_walk(struct snap_mount *m, const struct snap_diff_opts *o, const char *rel, bool all,
               struct sw_error **err)
{
    sw_autofree char *dir = path_join(m->merged, rel);
    if (!dir)
        return sw_error_oom(err);
    struct sw_strv names = {0};
    int r = list_names(dir, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        sw_autofree char *p = path_join(rel, names.v[i]);
        sw_autofree char *host = path_join(m->merged, p ? p : "");
        if (!p || !host) {
            r = sw_error_oom(err);
            break;
        }
        struct rec cur;
        memset(&cur, 0, sizeof cur);
        if ((r = stat_rec(host, &cur, err)) < 0)
            break;
        struct stat st = {.st_mode = cur.mode, .st_size = cur.size};
        if (droppable(o, host, p, &st)) {
            free(cur.link);
            r = sw_strv_push(&m->dropped, p) < 0 ? sw_error_oom(err) : 0;
            continue;
        }
        struct rec *old = all ? NULL : recs_find(&m->recs, p);
        if (old)
            old->seen = true;
        bool is_dir = S_ISDIR(cur.mode);
        bool same_type = old && (old->mode & S_IFMT) == (cur.mode & S_IFMT);
        if (is_dir) {
            bool kept = same_type && same_identity(old, &cur);
            bool changed = !kept || old->mode != cur.mode || old->uid != cur.uid ||
                           old->gid != cur.gid || !ts_eq(old->mtime, cur.mtime) ||
                           !ts_eq(old->ctime, cur.ctime);
            if (kept)
                old->kept_dir = true;
            if (changed)
                r = change_at(&m->changes, p, CH_ENTRY, err);
            /* a directory over something that was there: the lower one is hidden */
            if (r == 0 && !kept && old)
                r = change_add(&m->changes, p, CH_OPAQUE, err);
            if (r == 0)
                r = diff_copy_walk(m, o, p, all || !kept, err);
        } else {
            bool changed = !same_type || !same_identity(old, &cur) || old->mode != cur.mode ||
                           old->uid != cur.uid || old->gid != cur.gid || old->size != cur.size ||
                           old->rdev != cur.rdev || !ts_eq(old->mtime, cur.mtime) ||
                           !ts_eq(old->ctime, cur.ctime) ||
                           (old->link && cur.link && strcmp(old->link, cur.link));
            if (changed)
                r = change_at(&m->changes, p, CH_ENTRY, err);
        }
        free(cur.link);
    }
    sw_strv_free(&names);
    return r;
}

/* The changes of a copy snapshot, sorted and unique, in m->changes. */
static int
diff_copy(struct snap_mount *m, const struct snap_diff_opts *o, struct sw_error **err)
{
    changes_free(&m->changes);
    for (size_t i = 0; i < m->recs.n; i++)
        m->recs.v[i].seen = m->recs.v[i].kept_dir = false;
    int r = diff_copy_walk(m, o, "", false, err);
    /* Deletions: a recorded path that is gone, below a directory that is still the same one
     * (a replaced or deleted directory already hides everything below it). */
    for (size_t i = 0; r == 0 && i < m->recs.n; i++) {
        const struct rec *e = &m->recs.v[i];
        if (e->seen)
            continue;
        const char *slash = strrchr(e->path, '/');
        if (slash) {
            sw_autofree char *parent = strndup(e->path, (size_t)(slash - e->path));
            if (!parent)
                return sw_error_oom(err);
            struct rec *pr = recs_find(&m->recs, parent);
            if (!pr || !pr->kept_dir)
                continue;
        }
        r = change_at(&m->changes, e->path, CH_WHITEOUT, err);
    }
    if (r < 0)
        return r;
    if (m->changes.n > 1)
        qsort(m->changes.v, m->changes.n, sizeof *m->changes.v, cmp_change);
    size_t k = 0;
    for (size_t i = 0; i < m->changes.n; i++) {
        if (k && !cmp_change(&m->changes.v[k - 1], &m->changes.v[i])) {
            free(m->changes.v[i].path);
            continue;
        }
        m->changes.v[k++] = m->changes.v[i];
    }
    m->changes.n = k;
    return 0;
}

int
snap_diff(struct snap_mount *m, struct layer_writer *w, const struct snap_diff_opts *o,
          struct sw_error **err)
{
    if (m->done)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "snapshot %s is already committed", m->dir);
    sw_strv_free(&m->dropped);
    m->diffed = false;
    int r;
    if (m->kind == SNAP_OVERLAY) {
        r = diff_upper(m, w, o, "", err);
    } else {
        r = diff_copy(m, o, err);
        for (size_t i = 0; r == 0 && i < m->changes.n; i++) {
            const struct change *c = &m->changes.v[i];
            if (c->kind == CH_WHITEOUT) {
                r = layer_writer_add_whiteout(w, c->path, err);
            } else if (c->kind == CH_OPAQUE) {
                r = layer_writer_add_opaque(w, c->path, err);
            } else {
                sw_autofree char *host = path_join(m->merged, c->path);
                struct stat st;
                if (!host)
                    r = sw_error_oom(err);
                else if (lstat(host, &st) < 0)
                    r = sys_err(err, "cannot stat", host);
                else
                    r = add_host_entry(w, c->path, host, &st, err);
            }
        }
    }
    m->diffed = r == 0;
    return r;
}

/* ---- commit ---------------------------------------------------------------------------------- */

/* Write a whiteout for `path` the way a lowerdir holds it. */
static int
write_whiteout(const char *host, bool userxattr, struct sw_error **err)
{
    if (!userxattr) {
        if (mknod(host, S_IFCHR, makedev(0, 0)) < 0)
            return sys_err(err, "cannot create whiteout", host);
        return 0;
    }
    /* mode 0644 once the xattr is set: user.* xattrs need write permission to set and read
     * permission to read (overlayfs reads them with the mounter's credentials) */
    int fd = open(host, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return sys_err(err, "cannot create whiteout", host);
    int r = 0;
    if (fsetxattr(fd, OVL_USER "whiteout", "", 0, 0) < 0 || fchmod(fd, 0644) < 0)
        r = sys_err(err, "cannot mark whiteout", host);
    close(fd);
    sw_autofree char *parent = strdup(host);
    if (r == 0 && parent) {
        *strrchr(parent, '/') = '\0';
        if (!xattr_is(parent, OVL_USER "opaque", "y") &&
            lsetxattr(parent, OVL_USER "opaque", "x", 1, 0) < 0)
            r = sys_err(err, "cannot mark", parent);
    }
    return r;
}

/* The copy snapshotter's changes as a new layer directory (overlay whiteouts) at `dst`. */
static int
build_layer_dir(struct snap_mount *m, const char *dst, struct sw_error **err)
{
    struct merge mg = {0};
    int r = 0;
    for (size_t i = 0; r == 0 && i < m->changes.n; i++) {
        const struct change *c = &m->changes.v[i];
        sw_autofree char *to = path_join(dst, c->path);
        sw_autofree char *from = path_join(m->merged, c->path);
        if (!to || !from) {
            r = sw_error_oom(err);
            break;
        }
        if (c->kind == CH_WHITEOUT) {
            r = write_whiteout(to, m->userxattr, err);
        } else if (c->kind == CH_OPAQUE) {
            const char *key = m->userxattr ? OVL_USER "opaque" : OVL_TRUSTED "opaque";
            if (lsetxattr(to, key, "y", 1, 0) < 0)
                r = sys_err(err, "cannot mark opaque", to);
        } else {
            struct stat st;
            if (lstat(from, &st) < 0) {
                r = sys_err(err, "cannot stat", from);
            } else if (S_ISDIR(st.st_mode)) {
                if (mkdir(to, 0700) < 0 && errno != EEXIST)
                    r = sys_err(err, "cannot create directory", to);
                else
                    r = defer_dir(&mg, from, to, &st, err);
            } else {
                r = copy_node(from, to, &st, &mg.links, err);
            }
        }
    }
    int r2 = flush_dirs(&mg, err);
    linkmap_free(&mg.links);
    free(mg.dirs);
    return r < 0 ? r : r2;
}

int
snap_commit(struct snap_mount *m, const char *dest_dir, struct sw_error **err)
{
    if (m->done)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "snapshot %s is already committed", m->dir);
    int r = snap_unmount(m, err);
    if (r < 0)
        return r;
    const char *src = m->upper;
    sw_autofree char *built = NULL;
    if (m->kind == SNAP_OVERLAY) {
        for (size_t i = 0; m->diffed && r == 0 && i < m->dropped.n; i++) {
            sw_autofree char *p = path_join(m->upper, m->dropped.v[i]);
            r = p ? rm_path(p, err) : sw_error_oom(err);
        }
    } else {
        if (!m->diffed)
            r = diff_copy(m, NULL, err);
        if (r == 0)
            r = make_dir(&built, m->dir, "commit", err);
        if (r == 0)
            r = build_layer_dir(m, built, err);
        src = built;
    }
    if (r < 0)
        return r;
    if (rename(src, dest_dir) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY)
            return sw_error_set(err, SW_EIO, errno, NULL, "cannot move the snapshot to %s: %s%s",
                                dest_dir, strerror(errno),
                                errno == EXDEV ? " (work_root is on another file system)" : "");
        /* another build committed the same snapshot first: keep theirs */
    }
    m->done = true;
    return sw_rmtree(m->dir, err);
}

void
snap_free(struct snap_mount *m)
{
    if (!m)
        return;
    if (m->mounted && umount2(m->merged, UMOUNT_NOFOLLOW) < 0)
        (void)umount2(m->merged, MNT_DETACH | UMOUNT_NOFOLLOW);
    if (m->dir) {
        struct sw_error *e = NULL;
        (void)sw_rmtree(m->dir, &e);
        sw_error_free(e);
    }
    recs_free(&m->recs);
    changes_free(&m->changes);
    sw_strv_free(&m->dropped);
    free(m->dir);
    free(m->merged);
    free(m->upper);
    free(m->work);
    free(m->empty);
    free(m);
}
