/*
 * builder/layer/extract.c: applying a layer tar onto a directory (see extract.h for the rules).
 *
 * libarchive only parses the stream; every file-system change is made here with *at() calls
 * relative to descriptors inside the destination, never through archive_write_disk (which works
 * relative to the process working directory).
 */
#include "layer/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define OPAQUE_NAME ".wh..wh..opq"
#define MAX_SYMLINK_HOPS 40
#define OVL_TRUSTED_PREFIX "trusted.overlay."
#define OVL_USER_PREFIX "user.overlay."

/* ---- a set of strings (open addressing) ------------------------------------------------------ */

struct strset {
    char **slots;
    size_t cap, n;
};

static uint64_t
str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool
strset_has(const struct strset *set, const char *s, size_t n)
{
    if (!set->cap)
        return false;
    for (size_t i = str_hash(s, n) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        const char *slot = set->slots[i];
        if (!slot)
            return false;
        if (!strncmp(slot, s, n) && slot[n] == '\0')
            return true;
    }
}

static void
strset_put(char **slots, size_t cap, char *s)
{
    size_t i = str_hash(s, strlen(s)) & (cap - 1);
    while (slots[i])
        i = (i + 1) & (cap - 1);
    slots[i] = s;
}

static int
strset_add(struct strset *set, const char *s, size_t n)
{
    if (strset_has(set, s, n))
        return 0;
    if ((set->n + 1) * 10 > set->cap * 7) {
        size_t cap = set->cap ? set->cap * 2 : 256;
        char **slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -SW_ENOMEM;
        for (size_t i = 0; i < set->cap; i++)
            if (set->slots[i])
                strset_put(slots, cap, set->slots[i]);
        free(set->slots);
        set->slots = slots;
        set->cap = cap;
    }
    char *copy = strndup(s, n);
    if (!copy)
        return -SW_ENOMEM;
    strset_put(set->slots, set->cap, copy);
    set->n++;
    return 0;
}

static void
strset_free(struct strset *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->slots[i]);
    free(set->slots);
    memset(set, 0, sizeof *set);
}

/* ---- extraction state ------------------------------------------------------------------------ */

struct dirattr {
    char *path; /* cleaned, "" = the destination itself */
    mode_t mode;
    struct timespec mtime;
    bool has_mtime;
    bool restore; /* not an entry: a mode we widened to write into it, to put back */
    size_t seq;
};

struct xctx {
    int rootfd;
    struct layer_extract_opts o;
    struct layer_extract_result *res;
    bool root;
    struct strset written;   /* paths this layer created */
    struct strset ancestors; /* directories with something this layer created below them */
    struct dirattr *dirs;    /* directory modes and mtimes, applied at the end */
    size_t ndirs, capdirs;
    const char *entry; /* the entry being applied, for messages */
    /* overlay_whiteouts: markers collected while reading, written at the end */
    bool ovl, ovl_user;
    struct strset ovl_opaque; /* directories this layer marks opaque ("" = the root) */
    struct sw_strv ovl_wh;    /* paths this layer whites out */
};

static int
sys_fail(struct xctx *x, struct sw_error **err, const char *what, const char *name)
{
    int e = errno;
    return sw_error_set(err, SW_EIO, e, NULL, "layer entry '%s': %s '%s': %s", x->entry, what, name,
                        strerror(e));
}

/*
 * Clean an entry path: drop leading '/', empty and "." components. ".." is an error (it could
 * only be meant to leave the root). "" is the root.
 */
static int
clean_entry_path(struct xctx *x, const char *in, char **out, struct sw_error **err)
{
    struct sw_buf b = {0};
    const char *p = in;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            sw_buf_free(&b);
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "layer entry '%s': path contains '..' and could leave the root",
                                x->entry);
        }
        if (n && !(n == 1 && p[0] == '.')) {
            if ((b.len && sw_buf_putc(&b, '/') < 0) || sw_buf_append(&b, p, n) < 0) {
                sw_buf_free(&b);
                return sw_error_oom(err);
            }
        }
        p += n;
        while (*p == '/')
            p++;
    }
    char *s = sw_buf_detach(&b);
    if (!s)
        return sw_error_oom(err);
    *out = s;
    return 0;
}

/* Record that this layer created `path` (and so has something below each of its parents). */
static int
mark_written(struct xctx *x, const char *path, struct sw_error **err)
{
    if (!*path)
        return 0;
    if (strset_add(&x->written, path, strlen(path)) < 0)
        return sw_error_oom(err);
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/'))
        if (strset_add(&x->ancestors, path, (size_t)(s - path)) < 0)
            return sw_error_oom(err);
    return 0;
}

/* ---- resolving paths inside the root --------------------------------------------------------- */

struct fdstack {
    int *v;
    size_t n, cap;
};

static void
fdstack_clear(struct fdstack *s)
{
    while (s->n)
        close(s->v[--s->n]);
}

static int
fdstack_push(struct fdstack *s, int fd)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        int *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            close(fd);
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = fd;
    return 0;
}

/*
 * Open directory `path` (cleaned, relative to the root) with chroot semantics: symlinks among
 * its components are followed, but an absolute target restarts at the root and ".." stops at
 * the root. With `create`, missing directories are made (0755). On success *out is a new
 * descriptor. Errors other than ENOENT/ENOTDIR (returned as -SW_ENOTFOUND with `errno` set
 * when `quiet`) are reported.
 */
static int
open_dir_in_root(struct xctx *x, const char *path, bool create, bool quiet, int *out,
                 struct sw_error **err)
{
    struct sw_buf todo = {0};
    struct fdstack st = {0};
    int hops = 0, r = 0;
    if (sw_buf_puts(&todo, path) < 0)
        return sw_error_oom(err);
    size_t pos = 0;
    while (pos < todo.len) {
        const char *c = todo.data + pos;
        const char *slash = memchr(c, '/', todo.len - pos);
        size_t n = slash ? (size_t)(slash - c) : todo.len - pos;
        size_t next = pos + n + (slash ? 1 : 0);
        if (n == 0 || (n == 1 && c[0] == '.')) {
            pos = next;
            continue;
        }
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (st.n)
                close(st.v[--st.n]);
            pos = next;
            continue;
        }
        char name[NAME_MAX + 1];
        if (n > NAME_MAX) {
            errno = ENAMETOOLONG;
            r = sys_fail(x, err, "cannot open directory", c);
            break;
        }
        memcpy(name, c, n);
        name[n] = '\0';
        int cur = st.n ? st.v[st.n - 1] : x->rootfd;
        int fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, name, 0755) < 0 && errno != EEXIST) {
                r = sys_fail(x, err, "cannot create directory", name);
                break;
            }
            fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd >= 0) {
            if (fdstack_push(&st, fd) < 0) {
                r = sw_error_oom(err);
                break;
            }
            pos = next;
            continue;
        }
        int e = errno;
        struct stat sb;
        if ((e == ELOOP || e == ENOTDIR) && fstatat(cur, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(sb.st_mode)) {
            if (++hops > MAX_SYMLINK_HOPS) {
                errno = ELOOP;
                r = sys_fail(x, err, "too many symlinks resolving", path);
                break;
            }
            char target[PATH_MAX];
            ssize_t tl = readlinkat(cur, name, target, sizeof target - 1);
            if (tl < 0) {
                r = sys_fail(x, err, "cannot read symlink", name);
                break;
            }
            target[tl] = '\0';
            /* Replace the component by the target and go on from there. */
            struct sw_buf nt = {0};
            if (sw_buf_append(&nt, target, (size_t)tl) < 0 || sw_buf_putc(&nt, '/') < 0 ||
                sw_buf_append(&nt, todo.data + next, todo.len - next) < 0) {
                sw_buf_free(&nt);
                r = sw_error_oom(err);
                break;
            }
            sw_buf_free(&todo);
            todo = nt;
            pos = 0;
            if (target[0] == '/')
                fdstack_clear(&st);
            continue;
        }
        errno = e;
        if (quiet && (e == ENOENT || e == ENOTDIR || e == ELOOP)) {
            r = -SW_ENOTFOUND;
            break;
        }
        r = sys_fail(x, err, e == ENOTDIR || e == ELOOP ? "not a directory" : "cannot open", name);
        break;
    }
    if (r == 0) {
        if (st.n) {
            *out = st.v[--st.n];
        } else {
            *out = fcntl(x->rootfd, F_DUPFD_CLOEXEC, 0);
            if (*out < 0)
                r = sys_fail(x, err, "cannot duplicate", "root");
        }
    }
    int saved = errno;
    fdstack_clear(&st);
    free(st.v);
    sw_buf_free(&todo);
    errno = saved;
    return r;
}

static int ensure_writable(struct xctx *x, int dfd, const char *dir, struct sw_error **err);

/* Split a cleaned non-empty path into its parent directory (opened inside the root) and its
 * last component (pointing into path). With `writable`, make sure we may change the parent. */
static int
open_parent(struct xctx *x, const char *path, bool create, bool quiet, bool writable, int *pfd,
            const char **name, struct sw_error **err)
{
    const char *slash = strrchr(path, '/');
    *name = slash ? slash + 1 : path;
    sw_autofree char *parent = strndup(path, slash ? (size_t)(slash - path) : 0);
    if (!parent)
        return sw_error_oom(err);
    int r = open_dir_in_root(x, parent, create, quiet, pfd, err);
    if (r == 0 && writable && (r = ensure_writable(x, *pfd, parent, err)) < 0) {
        close(*pfd);
        *pfd = -1;
    }
    return r;
}

/* ---- removing -------------------------------------------------------------------------------- */

static int
list_dir(struct xctx *x, int dfd, struct sw_strv *names, struct sw_error **err)
{
    int r = sw_dir_names(names, dfd, false);
    if (r == -SW_ENOMEM)
        return sw_error_oom(err);
    return r < 0 ? sys_fail(x, err, "cannot list", "directory") : 0;
}

/* rm -rf name (relative to dfd), never following symlinks. */
static int
remove_all_at(struct xctx *x, int dfd, const char *name, struct sw_error **err)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : sys_fail(x, err, "cannot stat", name);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
            return sys_fail(x, err, "cannot remove", name);
        return 0;
    }
    sw_autoclose int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES && fchmodat(dfd, name, (st.st_mode & 07777) | 0700, 0) == 0)
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return sys_fail(x, err, "cannot open", name);
    if (!x->root && (st.st_mode & 0700) != 0700)
        (void)fchmod(fd, (st.st_mode & 07777) | 0700); /* so that we may empty it */
    struct sw_strv names = {0};
    int r = list_dir(x, fd, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        r = remove_all_at(x, fd, names.v[i], err);
    sw_strv_free(&names);
    if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = sys_fail(x, err, "cannot remove", name);
    return r;
}

/*
 * Remove what lower layers left at `path` (name relative to dfd): everything, unless this
 * layer created the path or something below it, in which case only the lower-layer parts below
 * it go.
 */
static int
remove_lower_at(struct xctx *x, int dfd, const char *name, struct sw_buf *path,
                struct sw_error **err)
{
    bool mine = strset_has(&x->written, path->data, path->len);
    bool above_mine = strset_has(&x->ancestors, path->data, path->len);
    if (!mine && !above_mine)
        return remove_all_at(x, dfd, name, err);
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0; /* this layer's own non-directory: it stays */
    struct sw_strv names = {0};
    int r = list_dir(x, fd, &names, err);
    size_t len = path->len;
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        path->len = len;
        if ((path->len && sw_buf_putc(path, '/') < 0) || sw_buf_puts(path, names.v[i]) < 0) {
            r = sw_error_oom(err);
            break;
        }
        r = remove_lower_at(x, fd, names.v[i], path, err);
    }
    path->len = len;
    if (path->data)
        path->data[len] = '\0';
    sw_strv_free(&names);
    close(fd);
    return r;
}

/* A whiteout: remove lower-layer `path` (cleaned, non-empty). */
static int
apply_whiteout(struct xctx *x, const char *path, struct sw_error **err)
{
    int pfd = -1;
    const char *name;
    int r = open_parent(x, path, false, true, true, &pfd, &name, err);
    if (r == -SW_ENOTFOUND)
        return 0; /* nothing below to remove */
    if (r < 0)
        return r;
    struct sw_buf p = {0};
    if (sw_buf_puts(&p, path) < 0)
        r = sw_error_oom(err);
    else
        r = remove_lower_at(x, pfd, name, &p, err);
    sw_buf_free(&p);
    close(pfd);
    return r;
}

/* An opaque directory: remove every lower-layer child of `dir` ("" = the root). */
static int
apply_opaque(struct xctx *x, const char *dir, struct sw_error **err)
{
    int dfd = -1;
    int r = open_dir_in_root(x, dir, false, true, &dfd, err);
    if (r == -SW_ENOTFOUND)
        return 0;
    if (r == 0 && (r = ensure_writable(x, dfd, dir, err)) < 0)
        close(dfd);
    if (r < 0)
        return r;
    struct sw_strv names = {0};
    struct sw_buf p = {0};
    r = list_dir(x, dfd, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        p.len = 0;
        if ((*dir && (sw_buf_puts(&p, dir) < 0 || sw_buf_putc(&p, '/') < 0)) ||
            sw_buf_puts(&p, names.v[i]) < 0) {
            r = sw_error_oom(err);
            break;
        }
        r = remove_lower_at(x, dfd, names.v[i], &p, err);
    }
    sw_buf_free(&p);
    sw_strv_free(&names);
    close(dfd);
    return r;
}

/* ---- metadata -------------------------------------------------------------------------------- */

static void
entry_times(struct archive_entry *ae, struct timespec ts[2], bool *has_mtime)
{
    *has_mtime = archive_entry_mtime_is_set(ae);
    ts[1].tv_sec = archive_entry_mtime(ae);
    ts[1].tv_nsec = archive_entry_mtime_nsec(ae);
    if (!*has_mtime)
        ts[1].tv_nsec = UTIME_OMIT;
    if (archive_entry_atime_is_set(ae)) {
        ts[0].tv_sec = archive_entry_atime(ae);
        ts[0].tv_nsec = archive_entry_atime_nsec(ae);
    } else {
        ts[0] = ts[1];
    }
}

/* chown, when we may; counts what was skipped. fd >= 0, or dfd/name for a symlink or node. */
static int
apply_owner(struct xctx *x, struct archive_entry *ae, int fd, int dfd, const char *name,
            struct sw_error **err)
{
    if (x->o.no_chown || !x->root) {
        x->res->owners_skipped++;
        return 0;
    }
    uid_t uid = (uid_t)archive_entry_uid(ae);
    gid_t gid = (gid_t)archive_entry_gid(ae);
    int r = fd >= 0 ? fchown(fd, uid, gid) : fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
    if (r < 0) {
        if (errno == EPERM || errno == EINVAL) { /* e.g. ids not mapped in a user namespace */
            x->res->owners_skipped++;
            return 0;
        }
        return sys_fail(x, err, "cannot change owner of", name);
    }
    return 0;
}

static int
apply_xattrs(struct xctx *x, struct archive_entry *ae, int fd, const char *name,
             struct sw_error **err)
{
    int n = archive_entry_xattr_reset(ae);
    if (n <= 0)
        return 0;
    if (x->o.no_xattrs || fd < 0) {
        x->res->xattrs_skipped += (uint64_t)n;
        return 0;
    }
    const char *xname;
    const void *value;
    size_t size;
    while (archive_entry_xattr_next(ae, &xname, &value, &size) == ARCHIVE_OK) {
        if (x->ovl && (!strncmp(xname, OVL_TRUSTED_PREFIX, strlen(OVL_TRUSTED_PREFIX)) ||
                       !strncmp(xname, OVL_USER_PREFIX, strlen(OVL_USER_PREFIX)))) {
            x->res->xattrs_skipped++; /* the overlay's own: a layer must not steer it */
            continue;
        }
        if (fsetxattr(fd, xname, value, size, 0) == 0)
            continue;
        if (errno == ENOSPC || errno == EDQUOT || errno == EIO)
            return sys_fail(x, err, "cannot set xattrs on", name);
        x->res->xattrs_skipped++; /* unsupported here, or not permitted */
    }
    return 0;
}

static int
push_dir(struct xctx *x, const char *path, mode_t mode, const struct timespec *mtime, bool restore,
         struct sw_error **err)
{
    if (x->ndirs == x->capdirs) {
        size_t cap = x->capdirs ? x->capdirs * 2 : 64;
        struct dirattr *v = realloc(x->dirs, cap * sizeof *v);
        if (!v)
            return sw_error_oom(err);
        x->dirs = v;
        x->capdirs = cap;
    }
    struct dirattr *d = &x->dirs[x->ndirs];
    memset(d, 0, sizeof *d);
    if (!(d->path = strdup(path)))
        return sw_error_oom(err);
    d->mode = mode & 07777;
    d->restore = restore;
    d->has_mtime = mtime != NULL;
    if (mtime)
        d->mtime = *mtime;
    d->seq = x->ndirs++;
    return 0;
}

static int
defer_dir(struct xctx *x, const char *path, struct archive_entry *ae, struct sw_error **err)
{
    struct timespec ts[2];
    bool has_mtime;
    entry_times(ae, ts, &has_mtime);
    return push_dir(x, path, archive_entry_perm(ae), has_mtime ? &ts[1] : NULL, false, err);
}

/*
 * Without privileges, a lower layer's read-only directory (0555, 0500) cannot take new entries
 * or lose old ones. Widen it to u+rwx while this layer is applied and put the mode back at the
 * end. `dir` is the cleaned path of directory fd dfd.
 */
static int
ensure_writable(struct xctx *x, int dfd, const char *dir, struct sw_error **err)
{
    struct stat st;
    if (x->root || fstat(dfd, &st) < 0 || (st.st_mode & 0300) == 0300 || st.st_uid != geteuid())
        return 0;
    if (fchmod(dfd, (st.st_mode & 07777) | 0700) < 0)
        return 0; /* the operation itself will report the failure */
    return push_dir(x, dir, st.st_mode, NULL, true, err);
}

/* Children before parents; for one path, restore records before the entry that sets it. */
static int
cmp_dir_desc(const void *a, const void *b)
{
    const struct dirattr *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c)
        return -c;
    if (x->restore != y->restore)
        return x->restore ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Directory modes and mtimes, children before parents (so that creating or changing children
 * neither bumps a parent's mtime afterwards nor hits a parent's read-only mode). */
static int
apply_dirs(struct xctx *x, struct sw_error **err)
{
    if (x->ndirs > 1)
        qsort(x->dirs, x->ndirs, sizeof *x->dirs, cmp_dir_desc);
    for (size_t i = 0; i < x->ndirs; i++) {
        const struct dirattr *d = &x->dirs[i];
        x->entry = d->path;
        int fd = -1;
        int r;
        if (!*d->path) {
            r = open_dir_in_root(x, "", false, false, &fd, err);
        } else {
            int pfd = -1;
            const char *name;
            r = open_parent(x, d->path, false, true, false, &pfd, &name, err);
            if (r == -SW_ENOTFOUND)
                continue; /* replaced or removed later in this layer */
            if (r < 0)
                return r;
            fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            close(pfd);
            if (fd < 0)
                continue; /* no longer a directory */
        }
        if (r < 0)
            return r;
        struct timespec ts[2] = {d->mtime, d->mtime};
        if (fchmod(fd, d->mode) < 0 || (d->has_mtime && futimens(fd, ts) < 0)) {
            r = sys_fail(x, err, "cannot set mode or times of", *d->path ? d->path : ".");
            close(fd);
            return r;
        }
        close(fd);
    }
    return 0;
}

/* ---- entries --------------------------------------------------------------------------------- */

static int
write_file_data(struct xctx *x, struct archive *a, int fd, const char *name, struct sw_error **err)
{
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return sw_error_set(err, SW_EIO, archive_errno(a), NULL,
                                "layer entry '%s': reading its data: %s", x->entry,
                                archive_error_string(a));
        const char *p = buf;
        while (size) {
            ssize_t n = pwrite(fd, p, size, (off_t)off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return sys_fail(x, err, "cannot write", name);
            p += n;
            size -= (size_t)n;
            off += n;
        }
    }
}

static int
make_file(struct xctx *x, struct archive *a, struct archive_entry *ae, int pfd, const char *name,
          struct sw_error **err)
{
    sw_autoclose int fd =
        openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return sys_fail(x, err, "cannot create", name);
    int r = write_file_data(x, a, fd, name, err);
    if (r < 0)
        return r;
    if (archive_entry_size_is_set(ae) && ftruncate(fd, archive_entry_size(ae)) < 0)
        return sys_fail(x, err, "cannot size", name);
    if ((r = apply_owner(x, ae, fd, -1, name, err)) < 0)
        return r;
    if (fchmod(fd, archive_entry_perm(ae) & 07777) < 0)
        return sys_fail(x, err, "cannot chmod", name);
    if ((r = apply_xattrs(x, ae, fd, name, err)) < 0) /* after chown, which drops capabilities */
        return r;
    struct timespec ts[2];
    bool has_mtime;
    entry_times(ae, ts, &has_mtime);
    if (has_mtime && futimens(fd, ts) < 0)
        return sys_fail(x, err, "cannot set times of", name);
    return 0;
}

static int
make_dir(struct xctx *x, struct archive_entry *ae, const char *path, int pfd, const char *name,
         bool exists, struct sw_error **err)
{
    if (!exists && mkdirat(pfd, name, 0700) < 0)
        return sys_fail(x, err, "cannot create directory", name);
    sw_autoclose int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return sys_fail(x, err, "cannot open directory", name);
    int r = apply_owner(x, ae, fd, -1, name, err);
    if (r == 0)
        r = apply_xattrs(x, ae, fd, name, err);
    if (r == 0)
        r = defer_dir(x, path, ae, err);
    return r;
}

static int
make_symlink(struct xctx *x, struct archive_entry *ae, int pfd, const char *name,
             struct sw_error **err)
{
    const char *target = archive_entry_symlink(ae);
    if (!target || !*target)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer entry '%s': symlink without a target",
                            x->entry);
    if (symlinkat(target, pfd, name) < 0)
        return sys_fail(x, err, "cannot create symlink", name);
    int r = apply_owner(x, ae, -1, pfd, name, err);
    if (r < 0)
        return r;
    if (archive_entry_xattr_count(ae))
        x->res->xattrs_skipped += (uint64_t)archive_entry_xattr_count(ae);
    struct timespec ts[2];
    bool has_mtime;
    entry_times(ae, ts, &has_mtime);
    if (has_mtime && utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return sys_fail(x, err, "cannot set times of", name);
    return 0;
}

static int
make_hardlink(struct xctx *x, const char *target_raw, int pfd, const char *name,
              struct sw_error **err)
{
    sw_autofree char *target = NULL;
    int r = clean_entry_path(x, target_raw, &target, err);
    if (r < 0)
        return sw_error_wrap(err, "hardlink target '%s'", target_raw);
    if (!*target)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer entry '%s': hardlink to the layer root",
                            x->entry);
    int tfd = -1;
    const char *tname;
    r = open_parent(x, target, false, true, false, &tfd, &tname, err);
    if (r == -SW_ENOTFOUND || (r == 0 && linkat(tfd, tname, pfd, name, 0) < 0)) {
        int e = r == 0 ? errno : ENOENT;
        if (tfd >= 0)
            close(tfd);
        return sw_error_set(err, e == ENOENT || e == EPERM ? SW_EINVAL : SW_EIO, e, NULL,
                            "layer entry '%s': cannot hardlink to '%s' inside the root: %s",
                            x->entry, target_raw, strerror(e));
    }
    if (tfd >= 0)
        close(tfd);
    return r;
}

static int
make_node(struct xctx *x, struct archive_entry *ae, int pfd, const char *name, mode_t type,
          struct sw_error **err)
{
    dev_t dev =
        type == S_IFIFO ? 0 : makedev(archive_entry_rdevmajor(ae), archive_entry_rdevminor(ae));
    mode_t perm = archive_entry_perm(ae) & 07777;
    if (mknodat(pfd, name, type | (perm & 0777), dev) < 0) {
        if (type != S_IFIFO && errno == EPERM) {
            x->res->devices_skipped++;
            return 0;
        }
        return sys_fail(x, err, "cannot create node", name);
    }
    int r = apply_owner(x, ae, -1, pfd, name, err);
    if (r < 0)
        return r;
    /* The node was just made here, so fchmodat cannot be led astray by a symlink. */
    if (fchmodat(pfd, name, perm, 0) < 0)
        return sys_fail(x, err, "cannot chmod", name);
    if (archive_entry_xattr_count(ae))
        x->res->xattrs_skipped += (uint64_t)archive_entry_xattr_count(ae);
    struct timespec ts[2];
    bool has_mtime;
    entry_times(ae, ts, &has_mtime);
    if (has_mtime && utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return sys_fail(x, err, "cannot set times of", name);
    return 0;
}

/* Root entry ("./"): only a directory makes sense; its attributes apply to the destination. */
static int
apply_root_entry(struct xctx *x, struct archive_entry *ae, struct sw_error **err)
{
    if (archive_entry_hardlink(ae) || archive_entry_filetype(ae) != AE_IFDIR)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "layer entry '%s': the layer root must be a directory", x->entry);
    int r = apply_owner(x, ae, x->rootfd, -1, ".", err);
    if (r == 0)
        r = apply_xattrs(x, ae, x->rootfd, ".", err);
    if (r == 0)
        r = defer_dir(x, "", ae, err);
    return r;
}

static int
apply_entry(struct xctx *x, struct archive *a, struct archive_entry *ae, struct sw_error **err)
{
    sw_autofree char *path = NULL;
    int r = clean_entry_path(x, x->entry, &path, err);
    if (r < 0)
        return r;
    if (!*path)
        return apply_root_entry(x, ae, err);

    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX))) {
        sw_autofree char *dir = strndup(path, slash ? (size_t)(slash - path) : 0);
        if (!dir)
            return sw_error_oom(err);
        if (!strcmp(base, OPAQUE_NAME)) {
            x->res->opaque_dirs++;
            if (x->ovl)
                return strset_add(&x->ovl_opaque, dir, strlen(dir)) < 0 ? sw_error_oom(err) : 0;
            if (!x->o.keep_whiteouts)
                return apply_opaque(x, dir, err);
        } else if (!strncmp(base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX))) {
            return 0; /* other aufs metadata (.wh..wh.plnk, ...): nothing to apply */
        } else {
            const char *victim = base + strlen(WHITEOUT_PREFIX);
            if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
                return sw_error_set(err, SW_EINVAL, 0, NULL,
                                    "layer entry '%s': whiteout of an invalid name", x->entry);
            x->res->whiteouts++;
            if (x->ovl || !x->o.keep_whiteouts) {
                sw_autofree char *target = NULL;
                if (asprintf(&target, "%s%s%s", dir, *dir ? "/" : "", victim) < 0)
                    return sw_error_oom(err);
                if (x->ovl)
                    return sw_strv_push(&x->ovl_wh, target) < 0 ? sw_error_oom(err) : 0;
                return apply_whiteout(x, target, err);
            }
        }
        /* keep_whiteouts: the marker is written as the (empty) file it is */
    }

    const char *hardlink = archive_entry_hardlink(ae);
    mode_t type = hardlink ? 0 : archive_entry_filetype(ae);
    switch (type) {
    case 0:
    case AE_IFREG:
    case AE_IFDIR:
    case AE_IFLNK:
    case AE_IFIFO:
        break;
    case AE_IFCHR:
    case AE_IFBLK:
        if (!x->root || x->o.no_devices) {
            x->res->devices_skipped++;
            return 0; /* and whatever lower layers had there stays */
        }
        break;
    default:
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                            "layer entry '%s': unsupported entry type 0%o", x->entry,
                            (unsigned)type);
    }

    int pfd = -1;
    const char *name;
    if ((r = open_parent(x, path, true, false, true, &pfd, &name, err)) < 0)
        return r;
    struct stat st;
    bool exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists && errno != ENOENT) {
        r = sys_fail(x, err, "cannot stat", name);
    } else if (exists && !(type == AE_IFDIR && S_ISDIR(st.st_mode))) {
        /* Changeset over an existing path: replace it (a directory only by a directory). */
        r = remove_all_at(x, pfd, name, err);
        exists = false;
    }
    if (r == 0) {
        switch (type) {
        case 0:
            r = make_hardlink(x, hardlink, pfd, name, err);
            break;
        case AE_IFREG:
            r = make_file(x, a, ae, pfd, name, err);
            break;
        case AE_IFDIR:
            r = make_dir(x, ae, path, pfd, name, exists, err);
            break;
        case AE_IFLNK:
            r = make_symlink(x, ae, pfd, name, err);
            break;
        default:
            r = make_node(x, ae, pfd, name, type, err);
            break;
        }
    }
    close(pfd);
    if (r == 0)
        r = mark_written(x, path, err);
    return r;
}

/* ---- overlayfs lowerdir markers -------------------------------------------------------------- */

static int
ovl_set_opaque(struct xctx *x, int fd, const char *value, const char *name, struct sw_error **err)
{
    const char *key = x->ovl_user ? OVL_USER_PREFIX "opaque" : OVL_TRUSTED_PREFIX "opaque";
    if (fsetxattr(fd, key, value, 1, 0) < 0)
        return sys_fail(x, err, "cannot mark opaque", name);
    return 0;
}

/* Is a strict ancestor of `path` (other than the root) a directory this layer marks opaque? */
static bool
ovl_under_opaque(struct xctx *x, const char *path)
{
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/'))
        if (strset_has(&x->ovl_opaque, path, (size_t)(s - path)))
            return true;
    return false;
}

/* One whiteout for `path`, which this layer did not create: a 0/0 character device, or an
 * xattr whiteout (an empty file with user.overlay.whiteout in a directory marked "x"). */
static int
ovl_write_whiteout(struct xctx *x, const char *path, struct sw_error **err)
{
    int pfd = -1;
    const char *name;
    int r = open_parent(x, path, true, false, true, &pfd, &name, err);
    if (r < 0)
        return r;
    /* Only an extraction onto a non-empty directory can leave something here. */
    r = remove_all_at(x, pfd, name, err);
    if (r == 0 && !x->ovl_user) {
        if (mknodat(pfd, name, S_IFCHR, makedev(0, 0)) < 0)
            r = sys_fail(x, err, "cannot create whiteout", name);
    } else if (r == 0) {
        /* mode 0644 once the xattr is set: user.* xattrs need write permission to set and read
         * permission to read (overlayfs reads them with the mounter's credentials) */
        int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            r = sys_fail(x, err, "cannot create whiteout", name);
        } else {
            if (fsetxattr(fd, OVL_USER_PREFIX "whiteout", "", 0, 0) < 0 || fchmod(fd, 0644) < 0)
                r = sys_fail(x, err, "cannot mark whiteout", name);
            close(fd);
        }
        char cur[2];
        ssize_t n = fgetxattr(pfd, OVL_USER_PREFIX "opaque", cur, sizeof cur);
        if (r == 0 && !(n == 1 && cur[0] == 'y'))
            r = ovl_set_opaque(x, pfd, "x", ".", err);
    }
    close(pfd);
    return r;
}

/* overlay_whiteouts: write the collected markers now that every entry is in place. */
static int
write_overlay_markers(struct xctx *x, struct sw_error **err)
{
    int r = 0;
    /* A whiteout of a path this layer created: a directory replaces the lower one (opaque), a
     * non-directory hides it by itself. */
    for (size_t i = 0; r == 0 && i < x->ovl_wh.n; i++) {
        const char *p = x->ovl_wh.v[i];
        if (!strset_has(&x->written, p, strlen(p)))
            continue;
        x->entry = p;
        int pfd = -1;
        const char *name;
        r = open_parent(x, p, false, false, false, &pfd, &name, err);
        if (r < 0)
            break;
        struct stat st;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
            strset_add(&x->ovl_opaque, p, strlen(p)) < 0)
            r = sw_error_oom(err);
        close(pfd);
    }
    /* Opaque directories (created when the layer has no entry for them, like keep_whiteouts). */
    for (size_t i = 0; r == 0 && i < x->ovl_opaque.cap; i++) {
        const char *d = x->ovl_opaque.slots[i];
        if (!d)
            continue;
        x->entry = *d ? d : ".";
        int fd = -1;
        if ((r = open_dir_in_root(x, d, true, false, &fd, err)) < 0)
            break;
        r = ovl_set_opaque(x, fd, "y", x->entry, err);
        close(fd);
    }
    for (size_t i = 0; r == 0 && i < x->ovl_wh.n; i++) {
        const char *p = x->ovl_wh.v[i];
        if (strset_has(&x->written, p, strlen(p)) || ovl_under_opaque(x, p))
            continue;
        x->entry = p;
        r = ovl_write_whiteout(x, p, err);
    }
    return r;
}

/* ---- the archive ----------------------------------------------------------------------------- */

enum decomp { DECOMP_AUTO, DECOMP_NONE, DECOMP_GZIP, DECOMP_ZSTD };

static int
decomp_for(const char *mt, enum decomp *out, struct sw_error **err)
{
    static const struct {
        const char *mt;
        enum decomp d;
    } known[] = {
        {"application/vnd.oci.image.layer.v1.tar", DECOMP_NONE},
        {"application/vnd.oci.image.layer.v1.tar+gzip", DECOMP_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+zstd", DECOMP_ZSTD},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar", DECOMP_NONE},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", DECOMP_GZIP},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", DECOMP_ZSTD},
        {"application/vnd.docker.image.rootfs.diff.tar", DECOMP_NONE},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", DECOMP_GZIP},
        {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", DECOMP_GZIP},
    };
    if (!mt) {
        *out = DECOMP_AUTO;
        return 0;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (!strcmp(mt, known[i].mt)) {
            *out = known[i].d;
            return 0;
        }
    }
    return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL, "unsupported layer media type '%s'", mt);
}

static int
run_extract(struct xctx *x, struct archive *a, struct sw_error **err)
{
    struct archive_entry *ae;
    for (;;) {
        int r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            break;
        /* ARCHIVE_WARN: e.g. a name not valid in UTF-8; the raw bytes are still there. */
        if (r < ARCHIVE_WARN) {
            const char *m = archive_error_string(a);
            if (x->res->entries)
                return sw_error_set(err, SW_EIO, archive_errno(a), NULL,
                                    "reading the layer after entry '%s': %s", x->entry,
                                    m ? m : "corrupt stream");
            return sw_error_set(err, SW_EIO, archive_errno(a), NULL, "reading the layer: %s",
                                m ? m : "corrupt stream");
        }
        const char *p = archive_entry_pathname(ae);
        if (!p)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "layer entry #%llu has no usable name",
                                (unsigned long long)x->res->entries + 1);
        x->res->entries++;
        sw_autofree char *name = strdup(p);
        if (!name)
            return sw_error_oom(err);
        x->entry = name;
        if ((r = apply_entry(x, a, ae, err)) < 0)
            return r;
        x->entry = "";
    }
    x->entry = "";
    if (x->ovl) {
        int r = write_overlay_markers(x, err);
        if (r < 0)
            return r;
        x->entry = "";
    }
    return apply_dirs(x, err);
}

int
layer_extract(int blob_fd, const char *media_type, const char *dest_dir,
              const struct layer_extract_opts *o, struct layer_extract_result *res,
              struct sw_error **err)
{
    enum decomp d = DECOMP_AUTO;
    int r = decomp_for(media_type, &d, err);
    if (r < 0)
        return r;
    struct layer_extract_result local = {0};
    struct xctx x = {
        .o = o ? *o : (struct layer_extract_opts){0},
        .res = res ? res : &local,
        .root = geteuid() == 0,
        .entry = "",
    };
    x.ovl = x.o.overlay_whiteouts;
    x.ovl_user = x.ovl && (x.o.overlay_userxattr || !x.root);
    memset(x.res, 0, sizeof *x.res);
    x.rootfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (x.rootfd < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "layer destination %s: %s", dest_dir,
                            strerror(errno));
    struct archive *a = archive_read_new();
    if (!a) {
        close(x.rootfd);
        return sw_error_oom(err);
    }
    archive_read_support_format_tar(a);
    if (d == DECOMP_AUTO || d == DECOMP_GZIP)
        archive_read_support_filter_gzip(a);
    if (d == DECOMP_AUTO || d == DECOMP_ZSTD)
        archive_read_support_filter_zstd(a);
    if (d == DECOMP_AUTO) {
        /* a detected (untyped) stream may also be an archive ADD unpacks: bzip2, xz, lzma */
        archive_read_support_filter_bzip2(a);
        archive_read_support_filter_xz(a);
        archive_read_support_filter_lzma(a);
    }
    /* Names travel as bytes: pin this thread's LC_CTYPE to C.UTF-8 while libarchive converts. */
    locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = loc ? uselocale(loc) : (locale_t)0;
    if (archive_read_open_fd(a, blob_fd, 1 << 16) != ARCHIVE_OK) {
        const char *m = archive_error_string(a);
        r = sw_error_set(err, SW_EIO, archive_errno(a), NULL, "reading the layer: %s",
                         m ? m : "cannot open");
    } else {
        r = run_extract(&x, a, err);
    }
    archive_read_free(a);
    if (loc) {
        uselocale(old);
        freelocale(loc);
    }
    for (size_t i = 0; i < x.ndirs; i++)
        free(x.dirs[i].path);
    free(x.dirs);
    strset_free(&x.written);
    strset_free(&x.ancestors);
    strset_free(&x.ovl_opaque);
    sw_strv_free(&x.ovl_wh);
    close(x.rootfd);
    return r;
}

int
layer_extract_file(const char *blob_path, const char *media_type, const char *dest_dir,
                   const struct layer_extract_opts *o, struct layer_extract_result *res,
                   struct sw_error **err)
{
    sw_autoclose int fd = open(blob_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "layer blob %s: %s", blob_path,
                            strerror(errno));
    return layer_extract(fd, media_type, dest_dir, o, res, err);
}
