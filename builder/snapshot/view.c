#include "view.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../util/cleanup.h"

#define MAX_SYMLINKS 40

struct view {
    char **dirs; /* bottom first */
    size_t n;
};

int
view_open(struct view **out, char *const *dirs, size_t n, struct sw_error **err)
{
    struct view *v = calloc(1, sizeof *v);
    if (!v)
        return sw_error_oom(err);
    v->dirs = calloc(n + 1, sizeof *v->dirs);
    if (!v->dirs) {
        free(v);
        return sw_error_oom(err);
    }
    for (size_t i = 0; i < n; i++) {
        v->dirs[i] = strdup(dirs[i]);
        if (!v->dirs[i]) {
            view_free(v);
            return sw_error_oom(err);
        }
        v->n++;
    }
    *out = v;
    return 0;
}

void
view_free(struct view *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        free(v->dirs[i]);
    free(v->dirs);
    free(v);
}

void
view_entry_clear(struct view_entry *e)
{
    free(e->path);
    free(e->host_path);
    memset(e, 0, sizeof *e);
}

char *
view_clean_path(const char *path)
{
    /* split into components, apply "." and "..", rooted */
    size_t len = strlen(path);
    char *out = malloc(len + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '/';
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 1 && out[o - 1] != '/')
                o--; /* drop the last component... */
            if (o > 1)
                o--; /* ...and its separator, but never the root */
        } else {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    out[o] = '\0';
    return out;
}

/* ---- one layer ------------------------------------------------------------------------------- */

static char *
join(const char *dir, const char *rel)
{
    char *s = NULL;
    if (asprintf(&s, "%s%s%s", dir, *rel == '/' ? "" : "/", rel) < 0)
        return NULL;
    return s;
}

static bool
is_whiteout_dev(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && major(st->st_rdev) == 0 && minor(st->st_rdev) == 0;
}

/* An xattr whiteout (overlayfs >= 6.7; what rootless snapshots hold): an empty regular file with
 * the overlay.whiteout xattr, in a directory whose overlay.opaque xattr of the same namespace is
 * "x" (has such whiteouts) or "y", as the kernel requires. */
static bool
is_xattr_whiteout(const char *path, const struct stat *st)
{
    if (!S_ISREG(st->st_mode) || st->st_size != 0)
        return false;
    static const char *const ns[] = {"user.overlay.", "trusted.overlay."};
    for (size_t i = 0; i < 2; i++) {
        char name[64];
        snprintf(name, sizeof name, "%swhiteout", ns[i]);
        if (lgetxattr(path, name, NULL, 0) < 0)
            continue;
        const char *slash = strrchr(path, '/');
        sw_autofree char *parent = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        char val[4];
        snprintf(name, sizeof name, "%sopaque", ns[i]);
        ssize_t n = parent ? lgetxattr(*parent ? parent : "/", name, val, sizeof val) : -1;
        if (n == 1 && (val[0] == 'x' || val[0] == 'y'))
            return true;
    }
    return false;
}

/* Can directory `path` hold xattr whiteouts (its overlay.opaque xattr is "x" or "y")? */
static bool
dir_has_xattr_whiteouts(const char *path)
{
    static const char *const names[] = {"user.overlay.opaque", "trusted.overlay.opaque"};
    for (size_t i = 0; i < 2; i++) {
        char val[4];
        ssize_t n = lgetxattr(path, names[i], val, sizeof val);
        if (n == 1 && (val[0] == 'x' || val[0] == 'y'))
            return true;
    }
    return false;
}

/* A whiteout in overlayfs form: a 0/0 character device or an xattr whiteout. */
static bool
is_whiteout(const char *path, const struct stat *st)
{
    return is_whiteout_dev(st) || is_xattr_whiteout(path, st);
}

static bool
has_opaque_xattr(const char *path)
{
    char val[4];
    ssize_t n = lgetxattr(path, "trusted.overlay.opaque", val, sizeof val);
    if (n == 1 && val[0] == 'y')
        return true;
    n = lgetxattr(path, "user.overlay.opaque", val, sizeof val);
    return n == 1 && val[0] == 'y';
}

/* Is directory `rel` of layer `dir` opaque (hides lower layers)? */
static bool
layer_dir_opaque(const char *dir, const char *rel)
{
    sw_autofree char *d = join(dir, rel);
    if (!d)
        return false;
    sw_autofree char *marker = join(d, ".wh..wh..opq");
    struct stat st;
    if (marker && lstat(marker, &st) == 0)
        return true;
    return has_opaque_xattr(d);
}

/* Does layer `dir` hold a whiteout for the entry `name` in directory `parent`? */
static bool
layer_whiteout(const char *dir, const char *parent, const char *name)
{
    char *rel = NULL;
    if (asprintf(&rel, "%s/.wh.%s", !strcmp(parent, "/") ? "" : parent, name) < 0)
        return false;
    sw_autofree char *p = join(dir, rel);
    free(rel);
    struct stat st;
    return p && lstat(p, &st) == 0;
}

/*
 * Find the canonical, symlink-free path `path` in the view: which layer provides it. The walk
 * goes top down; at each layer it checks every prefix: a whiteout or a non-directory at a prefix
 * hides everything below; an opaque directory at a prefix hides the lower layers.
 */
static int
lookup_exact(const struct view *v, const char *path, bool prefixes_are_dirs, size_t *layer,
             struct stat *out)
{
    if (!strcmp(path, "/")) {
        for (size_t l = v->n; l-- > 0;) {
            if (lstat(v->dirs[l], out) == 0) {
                *layer = l;
                return 0;
            }
        }
        memset(out, 0, sizeof *out);
        out->st_mode = S_IFDIR | 0755;
        *layer = SIZE_MAX;
        return 0;
    }
    if (v->n == 1 && prefixes_are_dirs) {
        /* one layer (a build context, a --link copy) and every prefix of the path already
         * resolved to a real directory of it (view_resolve's walk): nothing below for a whiteout
         * or an opaque directory to hide, and no symlink on the way, so the entry itself is all
         * there is to check (a whiteout in a lone layer hides nothing and is no entry) */
        sw_autofree char *hp = join(v->dirs[0], path);
        struct stat st;
        if (!hp)
            return -SW_ENOMEM;
        if (lstat(hp, &st) != 0 || is_whiteout(hp, &st))
            return -SW_ENOTFOUND;
        const char *slash = strrchr(path, '/');
        if (!strncmp(slash + 1, ".wh.", 4))
            return -SW_ENOTFOUND; /* a whiteout marker is not an entry */
        *out = st;
        *layer = 0;
        return 0;
    }
    sw_autofree char *work = strdup(path);
    if (!work)
        return -SW_ENOMEM;
    for (size_t l = v->n; l-- > 0;) {
        /* check each prefix component in this layer */
        bool hidden_below = false;
        char *p = work + 1;
        for (;;) {
            char *slash = strchr(p, '/');
            if (slash)
                *slash = '\0';
            /* prefix = work[0 .. end of this component] */
            char *last = strrchr(work, '/');
            char saved = 0;
            char *parent;
            if (last == work) {
                parent = "/";
            } else {
                saved = *last;
                *last = '\0';
                parent = work;
            }
            const char *name = last + 1;
            bool wh = layer_whiteout(v->dirs[l], parent, name);
            bool opaque_parent = layer_dir_opaque(v->dirs[l], parent);
            if (saved)
                *last = saved;
            struct stat st;
            sw_autofree char *hp = join(v->dirs[l], work);
            int have = hp && lstat(hp, &st) == 0;
            if (slash)
                *slash = '/';
            if (wh)
                return -SW_ENOTFOUND;
            if (have && is_whiteout(hp, &st))
                return -SW_ENOTFOUND;
            if (!have) {
                if (opaque_parent)
                    return -SW_ENOTFOUND;
                break; /* not in this layer: try the one below */
            }
            if (!slash) {
                *out = st;
                *layer = l;
                return 0;
            }
            if (!S_ISDIR(st.st_mode)) {
                hidden_below = true; /* a non-directory prefix: nothing below it exists */
                break;
            }
            p = slash + 1;
        }
        if (hidden_below)
            return -SW_ENOTFOUND;
    }
    return -SW_ENOTFOUND;
}

/* ---- resolution --------------------------------------------------------------------------------
 */

static int
read_link(const struct view *v, size_t layer, const char *path, char **target)
{
    sw_autofree char *hp = join(v->dirs[layer], path);
    if (!hp)
        return -SW_ENOMEM;
    char buf[4096];
    ssize_t n = readlink(hp, buf, sizeof buf - 1);
    if (n < 0)
        return -SW_EIO;
    buf[n] = '\0';
    *target = strdup(buf);
    return *target ? 0 : -SW_ENOMEM;
}

int
view_resolve(struct view *v, const char *path, bool follow_final, struct view_entry *out,
             struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    /* pending: the components left; done: the resolved prefix */
    sw_autofree char *pending = view_clean_path(path);
    struct sw_buf done = {0};
    int hops = 0, r = 0;
    if (!pending)
        return sw_error_oom(err);
    char *rest = pending + 1;
    size_t layer = SIZE_MAX;
    struct stat st = {0};
    st.st_mode = S_IFDIR | 0755;
    if (sw_buf_puts(&done, "/") < 0)
        return sw_error_oom(err);
    lookup_exact(v, "/", true, &layer, &st);
    while (*rest) {
        char *slash = strchr(rest, '/');
        size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
        size_t mark = done.len;
        if (done.len > 1)
            sw_buf_putc(&done, '/');
        sw_buf_append(&done, rest, n);
        rest += n;
        while (*rest == '/')
            rest++;
        r = lookup_exact(v, sw_buf_cstr(&done), true, &layer, &st);
        if (r < 0) {
            if (r == -SW_ENOTFOUND)
                sw_error_set(err, SW_ENOTFOUND, ENOENT, NULL, "%s: no such file or directory",
                             path);
            else
                sw_error_oom(err);
            goto out;
        }
        bool last = *rest == '\0';
        if (S_ISLNK(st.st_mode) && (!last || follow_final)) {
            if (++hops > MAX_SYMLINKS) {
                r = sw_error_set(err, SW_EINVAL, ELOOP, NULL,
                                 "%s: too many levels of symbolic links", path);
                goto out;
            }
            char *target = NULL;
            if (read_link(v, layer, sw_buf_cstr(&done), &target) < 0) {
                r = sw_error_set(err, SW_EIO, errno, NULL, "%s: cannot read symlink", path);
                goto out;
            }
            /* the target replaces this component: relative to its directory, or the root */
            done.len = mark;
            done.data[done.len] = '\0';
            char *joined = NULL;
            if (asprintf(&joined, "%s/%s/%s", target[0] == '/' ? "" : sw_buf_cstr(&done), target,
                         rest) < 0) {
                free(target);
                r = sw_error_oom(err);
                goto out;
            }
            free(target);
            char *clean = view_clean_path(joined);
            free(joined);
            if (!clean) {
                r = sw_error_oom(err);
                goto out;
            }
            free(pending);
            pending = clean;
            rest = pending + 1;
            sw_buf_clear(&done);
            sw_buf_puts(&done, "/");
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            r = sw_error_set(err, SW_ENOTFOUND, ENOTDIR, NULL, "%s: not a directory", path);
            goto out;
        }
    }
    out->path = sw_buf_detach(&done);
    out->layer = layer;
    out->st = st;
    out->host_path = layer == SIZE_MAX ? NULL : join(v->dirs[layer], out->path);
    if (!out->path || (layer != SIZE_MAX && !out->host_path)) {
        view_entry_clear(out);
        return sw_error_oom(err);
    }
    return 0;
out:
    sw_buf_free(&done);
    return r;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
view_readdir(struct view *v, const char *dir, struct sw_strv *names, struct sw_error **err)
{
    struct sw_strv hidden = {0};
    int r = 0;
    for (size_t l = v->n; l-- > 0 && r == 0;) {
        sw_autofree char *hp = join(v->dirs[l], dir);
        if (!hp) {
            r = sw_error_oom(err);
            break;
        }
        /* the directory must be visible from this layer: stop at whiteouts and non-dirs */
        size_t provider;
        struct stat st;
        if (strcmp(dir, "/") != 0) {
            struct view sub = {.dirs = v->dirs, .n = l + 1};
            if (lookup_exact(&sub, dir, false, &provider, &st) < 0 || provider != l) {
                /* this layer does not hold the directory itself; lower ones may, unless hidden */
                if (lookup_exact(&sub, dir, false, &provider, &st) < 0 || !S_ISDIR(st.st_mode))
                    break;
                continue;
            }
            if (!S_ISDIR(st.st_mode))
                break;
        }
        DIR *d = opendir(hp);
        if (!d)
            continue;
        bool xattr_wh_dir = dir_has_xattr_whiteouts(hp);
        struct dirent *e;
        while ((e = readdir(d)) && r == 0) {
            const char *name = e->d_name;
            if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, ".wh..wh..opq"))
                continue;
            if (!strncmp(name, ".wh.", 4)) {
                if (!sw_strv_contains(&hidden, name + 4) && sw_strv_push(&hidden, name + 4) < 0)
                    r = sw_error_oom(err);
                continue;
            }
            /* a whiteout is a character device, or (xattr whiteouts) an empty regular file in a
             * directory marked for them: other entries need no lstat */
            bool maybe_wh = e->d_type == DT_UNKNOWN || e->d_type == DT_CHR ||
                            (e->d_type == DT_REG && xattr_wh_dir);
            if (maybe_wh) {
                sw_autofree char *ep = join(hp, name);
                struct stat est;
                if (ep && lstat(ep, &est) == 0 && is_whiteout(ep, &est)) {
                    if (!sw_strv_contains(&hidden, name) && sw_strv_push(&hidden, name) < 0)
                        r = sw_error_oom(err);
                    continue;
                }
            }
            /* a lone layer lists each name once and has nothing to hide */
            if (v->n > 1 && (sw_strv_contains(&hidden, name) || sw_strv_contains(names, name)))
                continue;
            if (sw_strv_push(names, name) < 0)
                r = sw_error_oom(err);
            /* names from this layer hide the same names below */
            if (r == 0 && v->n > 1 && sw_strv_push(&hidden, name) < 0)
                r = sw_error_oom(err);
        }
        closedir(d);
        if (layer_dir_opaque(v->dirs[l], dir))
            break;
    }
    sw_strv_free(&hidden);
    if (r == 0 && names->n)
        qsort(names->v, names->n, sizeof *names->v, cmp_str);
    return r;
}

int
view_read_file(struct view *v, const char *path, size_t max, char **data, size_t *len,
               struct sw_error **err)
{
    struct view_entry e;
    int r = view_resolve(v, path, true, &e, err);
    if (r < 0)
        return r;
    if (!S_ISREG(e.st.st_mode)) {
        view_entry_clear(&e);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s: not a regular file", path);
    }
    if ((size_t)e.st.st_size > max) {
        view_entry_clear(&e);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s: larger than %zu bytes", path, max);
    }
    int fd = open(e.host_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", path, strerror(errno));
        view_entry_clear(&e);
        return r;
    }
    struct sw_buf b = {0};
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0 && b.len <= max)
        if (sw_buf_append(&b, chunk, (size_t)n) < 0) {
            n = -1;
            break;
        }
    close(fd);
    view_entry_clear(&e);
    if (n < 0) {
        sw_buf_free(&b);
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: read failed", path);
    }
    *len = b.len;
    *data = sw_buf_detach(&b);
    return *data ? 0 : sw_error_oom(err);
}
