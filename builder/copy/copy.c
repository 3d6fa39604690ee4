/*
 * COPY/ADD semantics: sources and destinations into a list of layer entries. See copy.h.
 */
#include "copy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "../layer/extract.h"
#include "../util/cleanup.h"
#include "../util/fs.h"

#define MULTI_SOURCE_MSG                                                                           \
    "When using COPY with more than one source file, the destination must be a directory and "     \
    "end with a /"

struct match {
    char *named;         /* the path as matched (rooted, cleaned): names the entry */
    char *keep;          /* --parents: the part of the path kept under the destination */
    struct view_entry e; /* the resolved entry (the final symlink followed) */
};

struct ctx {
    const struct plan_copy *c;
    const struct copy_source *src;
    const struct copy_target *dst;
    struct copy_list *out;
    struct df_pm *excludes;
    struct sw_strv created; /* destination directories already listed */
    bool keep_owner;        /* entries keep their own owner (ADD's archives without --chown) */
    unsigned archives;      /* archives unpacked so far (names their directories) */
};

/* ---- small helpers ----------------------------------------------------------------------------
 */

static bool
has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Does a relative path climb above its root ("../x", "a/../../x")? */
static bool
escapes_root(const char *p)
{
    long depth = 0;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return true;
        } else if (!(n == 1 && p[0] == '.')) {
            depth++;
        }
        p += n;
    }
    return false;
}

static char *
path_join(const char *a, const char *b)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s", a, b) < 0)
        return NULL;
    char *c = view_clean_path(s);
    free(s);
    return c;
}

static const char *
base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void
match_clear(struct match *m)
{
    free(m->named);
    free(m->keep);
    view_entry_clear(&m->e);
}

static int
push_item(struct ctx *x, struct copy_item *it, struct sw_error **err)
{
    struct copy_item *v = realloc(x->out->v, (x->out->n + 1) * sizeof *v);
    if (!v) {
        free(it->path);
        free(it->source);
        free(it->data);
        free(it->link);
        return sw_error_oom(err);
    }
    x->out->v = v;
    v[x->out->n++] = *it;
    return 0;
}

/* ---- --chmod ----------------------------------------------------------------------------------
 */

static mode_t
who_mask(const char *who, size_t n)
{
    mode_t m = 0;
    if (n == 0)
        return 07777;
    for (size_t i = 0; i < n; i++) {
        if (who[i] == 'u' || who[i] == 'a')
            m |= S_ISUID | S_IRWXU;
        if (who[i] == 'g' || who[i] == 'a')
            m |= S_ISGID | S_IRWXG;
        if (who[i] == 'o' || who[i] == 'a')
            m |= S_IRWXO;
    }
    return m;
}

/* An octal --chmod ("755", "0644"), or -1. */
static long
octal_mode(const char *s)
{
    if (!*s || strspn(s, "01234567") != strlen(s))
        return -1;
    long v = strtol(s, NULL, 8);
    return v <= 07777 ? v : -1;
}

mode_t
copy_chmod_apply(const char *spec, mode_t mode)
{
    mode_t type = mode & S_IFMT, perm = mode & 07777;
    long oct = octal_mode(spec);
    if (oct >= 0)
        return type | (mode_t)oct;
    const char *p = spec;
    while (*p) {
        size_t wl = strspn(p, "ugoa");
        const char *who = p;
        p += wl;
        mode_t mask = who_mask(who, wl);
        while (*p == '+' || *p == '-' || *p == '=') {
            char op = *p++;
            mode_t bits = 0;
            for (; *p && strchr("rwxXst", *p); p++) {
                switch (*p) {
                case 'r':
                    bits |= S_IRUSR | S_IRGRP | S_IROTH;
                    break;
                case 'w':
                    bits |= S_IWUSR | S_IWGRP | S_IWOTH;
                    break;
                case 'x':
                    bits |= S_IXUSR | S_IXGRP | S_IXOTH;
                    break;
                case 'X':
                    if (S_ISDIR(type) || (perm & (S_IXUSR | S_IXGRP | S_IXOTH)))
                        bits |= S_IXUSR | S_IXGRP | S_IXOTH;
                    break;
                case 's':
                    bits |= S_ISUID | S_ISGID;
                    break;
                case 't':
                    bits |= S_ISVTX;
                    break;
                }
            }
            bits &= mask | (wl == 0 ? 07777 : (strchr(who, 'o') || strchr(who, 'a') ? S_ISVTX : 0));
            if (op == '+')
                perm |= bits;
            else if (op == '-')
                perm &= ~bits;
            else
                perm = (perm & ~mask) | bits;
        }
        if (*p == ',')
            p++;
        else if (*p)
            break; /* validated earlier: cannot happen */
    }
    return type | perm;
}

/* ---- the destination ------------------------------------------------------------------------ */

/* Resolve dest inside the target: follow symlinks of the existing prefix. *exists_dir tells
 * whether the result is an existing directory; *exists whether anything is there. */
static int
resolve_dest(struct ctx *x, const char *dest, char **canon, bool *exists, bool *exists_dir,
             struct sw_error **err)
{
    *exists = *exists_dir = false;
    struct view *v = x->dst->view;
    if (!v) {
        *canon = view_clean_path(dest);
        return *canon ? 0 : sw_error_oom(err);
    }
    struct view_entry e;
    struct sw_error *ignored = NULL;
    if (view_resolve(v, dest, true, &e, &ignored) == 0) {
        *exists = true;
        *exists_dir = S_ISDIR(e.st.st_mode);
        *canon = e.path;
        e.path = NULL;
        view_entry_clear(&e);
        return 0;
    }
    sw_error_freep(&ignored);
    /* not there: resolve the parent, then append the last component */
    sw_autofree char *clean = view_clean_path(dest);
    if (!clean)
        return sw_error_oom(err);
    if (!strcmp(clean, "/")) {
        *canon = strdup("/");
        return *canon ? 0 : sw_error_oom(err);
    }
    char *slash = strrchr(clean, '/');
    sw_autofree char *parent =
        slash == clean ? strdup("/") : strndup(clean, (size_t)(slash - clean));
    if (!parent)
        return sw_error_oom(err);
    char *pcanon = NULL;
    bool pe, pd;
    int r = resolve_dest(x, parent, &pcanon, &pe, &pd, err);
    if (r < 0)
        return r;
    if (pe && !pd) {
        r = sw_error_set(err, SW_EINVAL, ENOTDIR, NULL, "cannot copy to %s: %s is not a directory",
                         dest, pcanon);
        free(pcanon);
        return r;
    }
    *canon = path_join(pcanon, slash + 1);
    free(pcanon);
    return *canon ? 0 : sw_error_oom(err);
}

/* List every missing ancestor of `path` (and path itself when self) as a created directory. */
static int
create_parents(struct ctx *x, const char *path, bool self, mode_t self_mode,
               const struct timespec *self_mtime, struct sw_error **err)
{
    sw_autofree char *p = strdup(path);
    if (!p)
        return sw_error_oom(err);
    char *cut = p + 1;
    for (;;) {
        char *slash = strchr(cut, '/');
        bool last = !slash;
        if (slash)
            *slash = '\0';
        if (*p && strcmp(p, "/") != 0 && (!last || self) && !sw_strv_contains(&x->created, p)) {
            bool exists = false;
            if (x->dst->view) {
                struct view_entry e;
                struct sw_error *ignored = NULL;
                exists = view_resolve(x->dst->view, p, true, &e, &ignored) == 0;
                if (exists)
                    view_entry_clear(&e);
                sw_error_free(ignored);
            }
            if (sw_strv_push(&x->created, p) < 0)
                return sw_error_oom(err);
            if (!exists) {
                struct copy_item it = {
                    .path = strdup(p + 1),
                    .mode = S_IFDIR | (last && self ? self_mode : 0755),
                    .uid = x->dst->uid,
                    .gid = x->dst->gid,
                    .mtime = last && self && self_mtime ? *self_mtime
                                                        : (struct timespec){x->dst->epoch, 0},
                };
                if (!it.path)
                    return sw_error_oom(err);
                int r = push_item(x, &it, err);
                if (r < 0)
                    return r;
            }
        }
        if (last)
            break;
        *slash = '/';
        cut = slash + 1;
    }
    return 0;
}

/* ---- sources ----------------------------------------------------------------------------------
 */

static bool
ignored(struct ctx *x, const char *canon)
{
    if (!x->src->ignore || !strcmp(canon, "/"))
        return false;
    bool m = false;
    struct sw_error *e = NULL;
    if (df_pm_match(x->src->ignore, canon + 1, &m, &e) < 0)
        m = false;
    sw_error_free(e);
    return m;
}

static int
add_match(struct ctx *x, struct match **ms, size_t *n, const char *named, const char *keep,
          struct sw_error **err)
{
    struct view_entry e;
    int r = view_resolve(x->src->view, named, true, &e, err);
    if (r < 0)
        return r;
    if (ignored(x, e.path)) {
        view_entry_clear(&e);
        return 0; /* not part of the context as sent */
    }
    struct match *v = realloc(*ms, (*n + 1) * sizeof *v);
    if (!v) {
        view_entry_clear(&e);
        return sw_error_oom(err);
    }
    *ms = v;
    v[*n] = (struct match){.named = strdup(named), .keep = keep ? strdup(keep) : NULL, .e = e};
    (*n)++;
    if (!v[*n - 1].named || (keep && !v[*n - 1].keep))
        return sw_error_oom(err);
    return 0;
}

/* The --parents part of a match: after the "/./" pivot of the source, else the whole path. */
static char *
parents_keep(const char *raw, const char *named)
{
    const char *pivot = strstr(raw, "/./");
    if (!pivot)
        return strdup(named + 1);
    /* the pivot's directory depth in the cleaned path */
    sw_autofree char *prefix = strndup(raw, (size_t)(pivot - raw));
    sw_autofree char *cp = prefix ? view_clean_path(prefix) : NULL;
    if (!cp)
        return NULL;
    size_t l = strlen(cp);
    if (!strcmp(cp, "/"))
        return strdup(named + 1);
    if (!strncmp(named, cp, l) && named[l] == '/')
        return strdup(named + l + 1);
    return strdup(named + 1);
}

/* Expand one source (path or glob) into matches, in sorted order. */
static int
expand_source(struct ctx *x, const char *raw, struct match **ms, size_t *n, struct sw_error **err)
{
    const char *rel = raw;
    while (*rel == '/')
        rel++;
    if (escapes_root(rel))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "COPY source \"%s\" is outside the %s: sources must stay inside it",
                            raw, x->src->name);
    sw_autofree char *clean = view_clean_path(rel);
    if (!clean)
        return sw_error_oom(err);
    if (!has_glob(clean)) {
        sw_autofree char *keep = x->c->parents ? parents_keep(raw, clean) : NULL;
        struct sw_error *e = NULL;
        size_t before = *n;
        int r = add_match(x, ms, n, clean, keep, &e);
        if (r == -SW_ENOTFOUND || (r == 0 && *n == before)) {
            sw_error_free(e);
            return sw_error_set(err, SW_ENOTFOUND, ENOENT, NULL, "%s: \"%s\" not found%s",
                                x->src->name, raw,
                                r == 0 ? " (it is excluded by .dockerignore)" : "");
        }
        if (r < 0) {
            if (err && !*err)
                *err = e;
            else
                sw_error_free(e);
        }
        return r;
    }
    /* a glob: walk component by component from the root */
    struct sw_strv cur = {0}, next = {0};
    int r = sw_strv_push(&cur, "/") < 0 ? sw_error_oom(err) : 0;
    char *comp = clean + 1;
    while (r == 0 && *comp) {
        char *slash = strchr(comp, '/');
        if (slash)
            *slash = '\0';
        for (size_t i = 0; r == 0 && i < cur.n; i++) {
            if (!has_glob(comp)) {
                sw_autofree char *p = path_join(cur.v[i], comp);
                struct view_entry e;
                struct sw_error *ignored_err = NULL;
                if (p && view_resolve(x->src->view, p, false, &e, &ignored_err) == 0) {
                    view_entry_clear(&e);
                    r = sw_strv_push(&next, p) < 0 ? sw_error_oom(err) : 0;
                }
                sw_error_free(ignored_err);
                continue;
            }
            struct view_entry d;
            struct sw_error *e2 = NULL;
            if (view_resolve(x->src->view, cur.v[i], true, &d, &e2) < 0 || !S_ISDIR(d.st.st_mode)) {
                if (!e2)
                    view_entry_clear(&d);
                sw_error_free(e2);
                continue;
            }
            struct sw_strv names = {0};
            r = view_readdir(x->src->view, d.path, &names, err);
            for (size_t k = 0; r == 0 && k < names.n; k++) {
                bool m = false;
                struct sw_error *pe = NULL;
                if (df_filepath_match(&m, comp, names.v[k], &pe) < 0) {
                    r = sw_error_set(err, SW_EINVAL, 0, NULL, "bad pattern in COPY source \"%s\"",
                                     raw);
                    sw_error_free(pe);
                    break;
                }
                if (m) {
                    sw_autofree char *p = path_join(cur.v[i], names.v[k]);
                    r = !p || sw_strv_push(&next, p) < 0 ? sw_error_oom(err) : 0;
                }
            }
            sw_strv_free(&names);
            view_entry_clear(&d);
        }
        sw_strv_free(&cur);
        cur = next;
        next = (struct sw_strv){0};
        if (!slash)
            break;
        comp = slash + 1;
    }
    /* an all-miss glob copies nothing, as in BuildKit */
    for (size_t i = 0; r == 0 && i < cur.n; i++) {
        sw_autofree char *keep = x->c->parents ? parents_keep(raw, cur.v[i]) : NULL;
        r = add_match(x, ms, n, cur.v[i], keep, err);
    }
    sw_strv_free(&cur);
    sw_strv_free(&next);
    return r;
}

/* ---- items ------------------------------------------------------------------------------------
 */

static int
item_from_entry(struct ctx *x, const struct view_entry *e, const char *target, bool chmod_it,
                struct sw_error **err)
{
    const struct stat *st = &e->st;
    struct copy_item it = {
        .path = strdup(target + 1),
        .mode = st->st_mode,
        .uid = x->keep_owner ? st->st_uid : x->dst->uid,
        .gid = x->keep_owner ? st->st_gid : x->dst->gid,
        .mtime = st->st_mtim,
        .dev = st->st_dev,
        .ino = st->st_ino,
        .nlink = st->st_nlink,
    };
    if (!it.path)
        return sw_error_oom(err);
    if (x->c->chmod && chmod_it && !S_ISLNK(st->st_mode))
        it.mode = copy_chmod_apply(x->c->chmod, st->st_mode);
    if (S_ISREG(st->st_mode)) {
        it.size = (uint64_t)st->st_size;
        it.source = e->host_path ? strdup(e->host_path) : NULL;
        if (!it.source) {
            free(it.path);
            return sw_error_oom(err);
        }
    } else if (S_ISLNK(st->st_mode)) {
        char buf[4096];
        ssize_t n = e->host_path ? readlink(e->host_path, buf, sizeof buf - 1) : -1;
        if (n < 0) {
            free(it.path);
            return sw_error_set(err, SW_EIO, errno, NULL, "%s: cannot read symlink", e->path);
        }
        buf[n] = '\0';
        it.link = strdup(buf);
        if (!it.link) {
            free(it.path);
            return sw_error_oom(err);
        }
    } else if (S_ISSOCK(st->st_mode)) {
        free(it.path);
        return 0; /* sockets are never copied */
    }
    return push_item(x, &it, err);
}

static bool
excluded(struct ctx *x, const char *rel)
{
    if (!x->excludes)
        return false;
    bool m = false;
    struct sw_error *e = NULL;
    if (df_pm_match(x->excludes, rel, &m, &e) < 0)
        m = false;
    sw_error_free(e);
    return m;
}

/* Copy the contents of source directory `dir` (a canonical path of the source view) to `target`;
 * rel is the path below the copied source root (for --exclude). */
static int
copy_tree(struct ctx *x, const char *dir, const char *target, const char *rel,
          struct sw_error **err)
{
    struct sw_strv names = {0};
    int r = view_readdir(x->src->view, dir, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        sw_autofree char *child = path_join(dir, names.v[i]);
        sw_autofree char *to = path_join(target, names.v[i]);
        char *crel = NULL;
        if (asprintf(&crel, "%s%s%s", rel, *rel ? "/" : "", names.v[i]) < 0)
            crel = NULL;
        if (!child || !to || !crel) {
            free(crel);
            r = sw_error_oom(err);
            break;
        }
        if (ignored(x, child) || excluded(x, crel)) {
            free(crel);
            continue;
        }
        struct view_entry e;
        r = view_resolve(x->src->view, child, false, &e, err);
        if (r == 0) {
            r = item_from_entry(x, &e, to, true, err);
            if (r == 0 && S_ISDIR(e.st.st_mode))
                r = copy_tree(x, e.path, to, crel, err);
            view_entry_clear(&e);
        }
        free(crel);
    }
    sw_strv_free(&names);
    return r;
}

/* ADD: is this regular file a tar archive (plain, gzip, bzip2, xz, zstd, ...)? */
static bool
is_archive(const char *path)
{
    struct archive *a = archive_read_new();
    if (!a)
        return false;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    struct archive_entry *e;
    bool yes = archive_read_open_filename(a, path, 1 << 16) == ARCHIVE_OK &&
               archive_read_next_header(a, &e) == ARCHIVE_OK;
    archive_read_free(a);
    return yes;
}

/* ADD of a local archive: unpack it (safely: layer_extract keeps every entry inside the
 * directory) and copy its contents into dest, keeping the archive's owners unless --chown. */
static int
add_archive(struct ctx *x, const struct match *m, const char *dest, struct sw_error **err)
{
    char *dir = NULL;
    if (asprintf(&dir, "%s/add-%u", x->dst->tmpdir, x->archives++) < 0)
        return sw_error_oom(err);
    int r = sw_mkdir_p(dir, 0700, err);
    struct layer_extract_opts xo = {.no_devices = true};
    if (r == 0)
        r = layer_extract_file(m->e.host_path, NULL, dir, &xo, NULL, err);
    if (r < 0)
        sw_error_wrap(err, "ADD %s: unpacking the archive", m->named);
    struct view *v = NULL;
    char *dirs[] = {dir};
    if (r == 0)
        r = view_open(&v, dirs, 1, err);
    if (r == 0)
        r = create_parents(x, dest, true, 0755, NULL, err);
    if (r == 0) {
        const struct copy_source *saved = x->src;
        struct copy_source archive = {.view = v, .name = m->named};
        bool saved_keep = x->keep_owner;
        x->src = &archive;
        x->keep_owner = !x->c->chown;
        r = copy_tree(x, "/", dest, "", err);
        x->src = saved;
        x->keep_owner = saved_keep;
    }
    view_free(v);
    free(dir);
    return r;
}

static int
copy_match(struct ctx *x, const struct match *m, const char *dest, bool into_dir,
           struct sw_error **err)
{
    const struct view_entry *e = &m->e;
    if (x->c->add && x->c->unpack && x->dst->tmpdir && S_ISREG(e->st.st_mode) && e->host_path &&
        is_archive(e->host_path))
        return add_archive(x, m, dest, err);
    if (S_ISDIR(e->st.st_mode)) {
        /* a directory: its contents go to dest (or dest/<kept path> with --parents) */
        sw_autofree char *target = m->keep ? path_join(dest, m->keep) : strdup(dest);
        if (!target)
            return sw_error_oom(err);
        mode_t mode = e->st.st_mode & 07777;
        if (x->c->chmod)
            mode = copy_chmod_apply(x->c->chmod, e->st.st_mode) & 07777;
        int r = create_parents(x, target, true, mode, &e->st.st_mtim, err);
        if (r == 0)
            r = copy_tree(x, e->path, target, "", err);
        return r;
    }
    if (excluded(x, base_name(m->named)))
        return 0;
    sw_autofree char *target = NULL;
    if (m->keep)
        target = path_join(dest, m->keep);
    else if (into_dir)
        target = path_join(dest, base_name(m->named));
    else
        target = strdup(dest);
    if (!target)
        return sw_error_oom(err);
    int r = create_parents(x, target, false, 0, NULL, err);
    if (r == 0)
        r = item_from_entry(x, e, target, true, err);
    return r;
}

static int
copy_inline(struct ctx *x, const struct plan_inline *in, const char *dest, bool into_dir,
            struct sw_error **err)
{
    sw_autofree char *target = into_dir ? path_join(dest, in->name) : strdup(dest);
    if (!target)
        return sw_error_oom(err);
    int r = create_parents(x, target, false, 0, NULL, err);
    if (r < 0)
        return r;
    struct copy_item it = {
        .path = strdup(target + 1),
        .mode =
            S_IFREG | (x->c->chmod ? copy_chmod_apply(x->c->chmod, S_IFREG | 0644) & 07777 : 0644),
        .uid = x->dst->uid,
        .gid = x->dst->gid,
        .mtime = {x->dst->epoch, 0},
        .size = strlen(in->data),
        .data = strdup(in->data),
    };
    if (!it.path || !it.data) {
        free(it.path);
        free(it.data);
        return sw_error_oom(err);
    }
    return push_item(x, &it, err);
}

static bool
dir_syntax(const char *dest)
{
    size_t n = strlen(dest);
    if (n && dest[n - 1] == '/')
        return true;
    const char *b = base_name(dest);
    return !strcmp(b, ".") || !strcmp(b, "..");
}

int
copy_plan(struct copy_list *out, const struct plan_copy *c, const struct copy_source *src,
          const struct copy_target *dst, struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    struct ctx x = {.c = c, .src = src, .dst = dst, .out = out, .keep_owner = c->keep_owner};
    struct match *ms = NULL;
    size_t nms = 0;
    int r = 0;
    if (c->excludes.n)
        r = df_pm_new(&x.excludes, (const char *const *)c->excludes.v, c->excludes.n, err);
    for (size_t i = 0; r == 0 && i < c->srcs.n; i++) {
        if (!strncmp(c->srcs.v[i], "http://", 7) || !strncmp(c->srcs.v[i], "https://", 8))
            r = sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                             "ADD from a URL (%s) needs the HTTP source, which this build of "
                             "slipway does not have yet",
                             c->srcs.v[i]);
        else
            r = expand_source(&x, c->srcs.v[i], &ms, &nms, err);
    }
    /* the destination */
    sw_autofree char *dest_abs = NULL;
    if (r == 0) {
        const char *wd = dst->workdir && *dst->workdir ? dst->workdir : "/";
        dest_abs = c->dest[0] == '/' ? view_clean_path(c->dest) : path_join(wd, c->dest);
        if (!dest_abs)
            r = sw_error_oom(err);
    }
    bool exists = false, exists_dir = false;
    if (r == 0)
        r = resolve_dest(&x, dest_abs, &out->dest, &exists, &exists_dir, err);
    size_t count = nms + c->ninlines;
    bool into_dir = r == 0 && (dir_syntax(c->dest) || exists_dir);
    if (r == 0 && (c->srcs.n + c->ninlines > 1 || count > 1) && !into_dir)
        r = sw_error_set(err, SW_EINVAL, 0, NULL, MULTI_SOURCE_MSG);
    if (r == 0 && into_dir)
        r = create_parents(&x, out->dest, true, 0755, NULL, err);
    for (size_t i = 0; r == 0 && i < nms; i++) {
        if (exists && !exists_dir && S_ISDIR(ms[i].e.st.st_mode) && !ms[i].keep)
            r = sw_error_set(err, SW_EINVAL, ENOTDIR, NULL,
                             "cannot copy directory %s to %s: it is not a directory", ms[i].named,
                             out->dest);
        else
            r = copy_match(&x, &ms[i], out->dest, into_dir, err);
    }
    for (size_t i = 0; r == 0 && i < c->ninlines; i++)
        r = copy_inline(&x, &c->inlines[i], out->dest, into_dir, err);
    for (size_t i = 0; i < nms; i++)
        match_clear(&ms[i]);
    free(ms);
    df_pm_free(x.excludes);
    sw_strv_free(&x.created);
    if (r < 0)
        copy_list_free(out);
    return r;
}

void
copy_list_free(struct copy_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].source);
        free(l->v[i].data);
        free(l->v[i].link);
    }
    free(l->v);
    free(l->dest);
    memset(l, 0, sizeof *l);
}
