/*
 * builder/layer/writer.c: the layer tar writer.
 *
 * Pipeline at layer_writer_finish:
 *
 *   entries --(libarchive pax)--> tar bytes --sha256--> diff_id
 *                                    |
 *                                    +--(gzip: layer/gzip.h, libdeflate on worker threads)--+
 *                                    +--(zstd: libarchive "raw" + zstd filter)--------------+
 *                                    +--(none)----------------------------------------------+
 *                                                                                           |
 *                                          digest, size, sink <--sha256-- blob bytes <------+
 *
 * The tar writer's output goes through a callback so that the uncompressed stream can be hashed;
 * the compressor sees one continuous stream (no per-entry flushes). The libarchive writers use a
 * block size of 0, so nothing is padded beyond the tar's own two end-of-archive records. The gzip
 * compressor calls back with compressed bytes on this thread only, in order.
 */
#include "layer/writer.h"

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

#include "layer/gzip.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define CHUNK_SIZE (1u << 20) /* file contents are read and written in 1 MiB pieces */
#define WHITEOUT_PREFIX ".wh."
#define OPAQUE_NAME ".wh..wh..opq"

static const char *const default_xattrs[] = {"security.capability", "user.*", NULL};

struct wxattr {
    char *name;
    void *value;
    size_t len;
};

/* One buffered entry: metadata only, content is read at finish. */
struct wentry {
    char *path;                 /* the path in the tar, without a trailing '/' */
    enum layer_entry_type type; /* never WHITEOUT/OPAQUE/SOCKET: markers are stored as REG */
    uint32_t mode, uid, gid;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint64_t size;
    char *link; /* symlink target (verbatim) or hardlink target (tar path) */
    uint32_t rdev_major, rdev_minor;
    enum layer_source_kind src_kind;
    char *src_path;
    int src_fd;
    void *src_data;
    uint64_t src_dev, src_ino;
    struct wxattr *xattrs;
    size_t nxattrs;
    size_t seq;              /* add order, so that the last add of a path wins */
    const char *hardlink_to; /* at finish: tar path of the first entry with the same identity */
};

/*
 * A layer format: how layer paths map to tar paths and which platform records an entry carries.
 * Linux is the identity; Windows will prefix "Files/", write the Files/ and Hives/ directories
 * and add MSWINDOWS.* PAX records.
 */
struct format_ops {
    const char *name;
    int (*map_path)(const char *layer_path, char **out, struct sw_error **err);
    int (*prologue)(struct archive *tar, struct sw_error **err); /* may be NULL */
    int (*decorate)(struct archive_entry *ae, const struct wentry *e,
                    struct sw_error **err); /* may be NULL */
};

static int
linux_map_path(const char *layer_path, char **out, struct sw_error **err)
{
    *out = strdup(layer_path);
    return *out ? 0 : sw_error_oom(err);
}

static const struct format_ops linux_format = {
    .name = "linux",
    .map_path = linux_map_path,
};

static const struct format_ops *const formats[] = {
    [LAYER_FORMAT_LINUX] = &linux_format,
};

struct layer_writer {
    struct layer_writer_opts opts;
    const struct format_ops *fmt;
    struct layer_sink sink;
    struct wentry **v;
    size_t n, cap;
    size_t seq;
    bool finished;
};

/* ---- small helpers --------------------------------------------------------------------------- */

const char *
layer_media_type(enum layer_compression c)
{
    switch (c) {
    case LAYER_COMPRESSION_ZSTD:
        return LAYER_MEDIA_TYPE_TAR_ZSTD;
    case LAYER_COMPRESSION_NONE:
        return LAYER_MEDIA_TYPE_TAR;
    case LAYER_COMPRESSION_GZIP:
    default:
        return LAYER_MEDIA_TYPE_TAR_GZIP;
    }
}

struct layer_writer_opts
layer_writer_opts_default(void)
{
    struct layer_writer_opts o = {
        .format = LAYER_FORMAT_LINUX,
        .compression = LAYER_COMPRESSION_GZIP,
        .level = 0,
        .source_date_epoch = -1,
        .keep_mtime_nsec = false,
        .xattrs = NULL,
    };
    return o;
}

static void
wentry_free(struct wentry *e)
{
    if (!e)
        return;
    free(e->path);
    free(e->link);
    free(e->src_path);
    free(e->src_data);
    for (size_t i = 0; i < e->nxattrs; i++) {
        free(e->xattrs[i].name);
        free(e->xattrs[i].value);
    }
    free(e->xattrs);
    free(e);
}

static const char *
type_name(enum layer_entry_type t)
{
    switch (t) {
    case LAYER_ENTRY_REG:
        return "regular file";
    case LAYER_ENTRY_DIR:
        return "directory";
    case LAYER_ENTRY_SYMLINK:
        return "symlink";
    case LAYER_ENTRY_HARDLINK:
        return "hardlink";
    case LAYER_ENTRY_CHAR:
        return "character device";
    case LAYER_ENTRY_BLOCK:
        return "block device";
    case LAYER_ENTRY_FIFO:
        return "fifo";
    case LAYER_ENTRY_SOCKET:
        return "socket";
    case LAYER_ENTRY_WHITEOUT:
        return "whiteout";
    case LAYER_ENTRY_OPAQUE:
        return "opaque marker";
    }
    return "unknown";
}

/*
 * Clean a layer path: drop empty and "." components and a trailing '/'. Rejects NUL bytes, an
 * empty input, absolute paths, ".." components and components starting with ".wh." (reserved
 * for whiteouts). The layer root ("" after cleaning) is only accepted with allow_root.
 */
static int
clean_path(const char *in, size_t len, bool allow_root, char **out, struct sw_error **err)
{
    if (!in)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path is missing");
    if (memchr(in, '\0', len))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path '%s' contains a NUL byte", in);
    if (len == 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path is empty");
    if (in[0] == '/')
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "layer path '%.*s' is absolute: layer paths are relative to the root",
                            (int)len, in);
    struct sw_buf b = {0};
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && in[j] != '/')
            j++;
        size_t cl = j - i;
        const char *c = in + i;
        i = j + 1;
        if (cl == 0 || (cl == 1 && c[0] == '.'))
            continue;
        if (cl == 2 && c[0] == '.' && c[1] == '.') {
            sw_buf_free(&b);
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "layer path '%.*s' contains '..': it could leave the layer root",
                                (int)len, in);
        }
        if (cl >= strlen(WHITEOUT_PREFIX) && !memcmp(c, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX))) {
            sw_buf_free(&b);
            return sw_error_set(
                err, SW_EINVAL, 0, NULL,
                "layer path '%.*s': names starting with '.wh.' are reserved for whiteouts",
                (int)len, in);
        }
        if ((b.len && sw_buf_putc(&b, '/') < 0) || sw_buf_append(&b, c, cl) < 0) {
            sw_buf_free(&b);
            return sw_error_oom(err);
        }
    }
    if (b.len == 0 && !allow_root)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path '%.*s' names the layer root",
                            (int)len, in);
    char *s = sw_buf_detach(&b);
    if (!s)
        return sw_error_oom(err);
    *out = s;
    return 0;
}

/* Does an xattr name match the keep list (exact names, or prefixes written "prefix*")? */
static bool
xattr_kept(const char *const *keep, const char *name)
{
    for (; *keep; keep++) {
        size_t n = strlen(*keep);
        if (n && (*keep)[n - 1] == '*') {
            if (!strncmp(name, *keep, n - 1))
                return true;
        } else if (!strcmp(name, *keep)) {
            return true;
        }
    }
    return false;
}

static int
cmp_xattr(const void *a, const void *b)
{
    return strcmp(((const struct wxattr *)a)->name, ((const struct wxattr *)b)->name);
}

/* Copy the kept xattrs of e into we, sorted by name; for a repeated name the last one wins. */
static int
copy_xattrs(struct layer_writer *w, struct wentry *we, const struct layer_entry *e,
            struct sw_error **err)
{
    if (!e->nxattrs)
        return 0;
    if (!e->xattrs)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path '%s': nxattrs without xattrs",
                            we->path);
    we->xattrs = calloc(e->nxattrs, sizeof *we->xattrs);
    if (!we->xattrs)
        return sw_error_oom(err);
    const char *const *keep = w->opts.xattrs ? w->opts.xattrs : default_xattrs;
    for (size_t i = 0; i < e->nxattrs; i++) {
        const struct layer_xattr *x = &e->xattrs[e->nxattrs - 1 - i]; /* last first */
        if (!x->name || !*x->name)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path '%s': xattr without a name",
                                we->path);
        if (!xattr_kept(keep, x->name))
            continue;
        bool dup = false;
        for (size_t k = 0; k < we->nxattrs && !dup; k++)
            dup = !strcmp(we->xattrs[k].name, x->name);
        if (dup)
            continue;
        struct wxattr *d = &we->xattrs[we->nxattrs];
        d->name = strdup(x->name);
        d->value = malloc(x->len ? x->len : 1);
        if (!d->name || !d->value) {
            free(d->name);
            free(d->value);
            return sw_error_oom(err);
        }
        if (x->len)
            memcpy(d->value, x->value, x->len);
        d->len = x->len;
        we->nxattrs++;
    }
    qsort(we->xattrs, we->nxattrs, sizeof *we->xattrs, cmp_xattr);
    return 0;
}

/* ---- building the entry list ----------------------------------------------------------------- */

int
layer_writer_new(struct layer_writer **out, const struct layer_writer_opts *o,
                 const struct layer_sink *sink, struct sw_error **err)
{
    struct layer_writer_opts opts = o ? *o : layer_writer_opts_default();
    if ((size_t)opts.format >= sizeof formats / sizeof formats[0] || !formats[opts.format])
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL, "unknown layer format %d",
                            (int)opts.format);
    switch (opts.compression) {
    case LAYER_COMPRESSION_GZIP:
        if (opts.level < 0 || opts.level > 9)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "gzip compression level %d is out of range (1-9)", opts.level);
        break;
    case LAYER_COMPRESSION_ZSTD:
        if (opts.level < 0 || opts.level > 22)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "zstd compression level %d is out of range (1-22)", opts.level);
        break;
    case LAYER_COMPRESSION_NONE:
        break;
    default:
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL, "unknown layer compression %d",
                            (int)opts.compression);
    }
    if (opts.source_date_epoch < -1)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "SOURCE_DATE_EPOCH %lld is negative",
                            (long long)opts.source_date_epoch);
    if (!sink || !sink->write)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer writer needs a sink");
    struct layer_writer *w = calloc(1, sizeof *w);
    if (!w)
        return sw_error_oom(err);
    w->opts = opts;
    w->fmt = formats[opts.format];
    w->sink = *sink;
    *out = w;
    return 0;
}

void
layer_writer_free(struct layer_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        wentry_free(w->v[i]);
    free(w->v);
    free(w);
}

/* The tar path of an entry before the format maps it: whiteouts and opaque markers get their
 * marker names. */
static int
marker_path(const struct layer_entry *e, const char *clean, char **out, struct sw_error **err)
{
    struct sw_buf b = {0};
    int r = 0;
    if (e->type == LAYER_ENTRY_WHITEOUT) {
        const char *slash = strrchr(clean, '/');
        const char *base = slash ? slash + 1 : clean;
        if (slash)
            r |= sw_buf_append(&b, clean, (size_t)(slash - clean) + 1);
        r |= sw_buf_puts(&b, WHITEOUT_PREFIX);
        r |= sw_buf_puts(&b, base);
    } else if (e->type == LAYER_ENTRY_OPAQUE) {
        if (*clean) {
            r |= sw_buf_puts(&b, clean);
            r |= sw_buf_putc(&b, '/');
        }
        r |= sw_buf_puts(&b, OPAQUE_NAME);
    } else {
        r |= sw_buf_puts(&b, clean);
    }
    char *s = r ? NULL : sw_buf_detach(&b);
    if (!s) {
        sw_buf_free(&b);
        return sw_error_oom(err);
    }
    *out = s;
    return 0;
}

static int
push_entry(struct layer_writer *w, struct wentry *we, struct sw_error **err)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct wentry **v = realloc(w->v, cap * sizeof *v);
        if (!v)
            return sw_error_oom(err);
        w->v = v;
        w->cap = cap;
    }
    we->seq = w->seq++;
    w->v[w->n++] = we;
    return 0;
}

/* Fill we from e (after the path is known); on error the caller frees we. */
static int
fill_entry(struct layer_writer *w, struct wentry *we, const struct layer_entry *e,
           struct sw_error **err)
{
    we->mode = e->mode & 07777;
    we->uid = e->uid;
    we->gid = e->gid;
    we->mtime_sec = e->mtime_sec;
    we->mtime_nsec = e->mtime_nsec;
    we->src_fd = -1;
    if (e->mtime_nsec >= 1000000000u)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "layer path '%s': mtime nanoseconds %u out of range", we->path,
                            e->mtime_nsec);
    switch (e->type) {
    case LAYER_ENTRY_WHITEOUT:
    case LAYER_ENTRY_OPAQUE:
        we->type = LAYER_ENTRY_REG; /* an empty regular file with a marker name */
        return 0;
    case LAYER_ENTRY_DIR:
    case LAYER_ENTRY_FIFO:
        we->type = e->type;
        break;
    case LAYER_ENTRY_CHAR:
    case LAYER_ENTRY_BLOCK:
        we->type = e->type;
        we->rdev_major = e->rdev_major;
        we->rdev_minor = e->rdev_minor;
        break;
    case LAYER_ENTRY_SYMLINK:
        we->type = e->type;
        if (!e->link_target || !*e->link_target)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "layer path '%s': symlink without a target", we->path);
        we->mode = 0777; /* Linux symlinks have no mode of their own */
        if (!(we->link = strdup(e->link_target)))
            return sw_error_oom(err);
        break;
    case LAYER_ENTRY_HARDLINK: {
        we->type = e->type;
        if (!e->link_target)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "layer path '%s': hardlink without a target", we->path);
        sw_autofree char *clean = NULL;
        int r = clean_path(e->link_target, strlen(e->link_target), false, &clean, err);
        if (r < 0)
            return sw_error_wrap(err, "hardlink '%s'", we->path);
        if ((r = w->fmt->map_path(clean, &we->link, err)) < 0)
            return r;
        if (!strcmp(we->link, we->path))
            return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path '%s': hardlink to itself",
                                we->path);
        break;
    }
    case LAYER_ENTRY_REG:
        we->type = e->type;
        if (e->size > (uint64_t)INT64_MAX)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path '%s': size too large",
                                we->path);
        we->size = e->size;
        we->src_kind = e->source.kind;
        we->src_dev = e->src_dev;
        we->src_ino = e->src_ino;
        switch (e->source.kind) {
        case LAYER_SOURCE_NONE:
            if (e->size)
                return sw_error_set(err, SW_EINVAL, 0, NULL,
                                    "layer path '%s': %llu bytes but no content source", we->path,
                                    (unsigned long long)e->size);
            break;
        case LAYER_SOURCE_PATH:
            if (!e->source.path || !*e->source.path)
                return sw_error_set(err, SW_EINVAL, 0, NULL,
                                    "layer path '%s': source path is missing", we->path);
            if (!(we->src_path = strdup(e->source.path)))
                return sw_error_oom(err);
            break;
        case LAYER_SOURCE_FD:
            if (e->source.fd < 0)
                return sw_error_set(err, SW_EINVAL, 0, NULL,
                                    "layer path '%s': source fd %d is invalid", we->path,
                                    e->source.fd);
            we->src_fd = e->source.fd;
            break;
        case LAYER_SOURCE_BUF:
            if (e->size && !e->source.data)
                return sw_error_set(err, SW_EINVAL, 0, NULL,
                                    "layer path '%s': source buffer is missing", we->path);
            if (e->size > SIZE_MAX - 1)
                return sw_error_oom(err);
            if (!(we->src_data = malloc(e->size ? (size_t)e->size : 1)))
                return sw_error_oom(err);
            if (e->size)
                memcpy(we->src_data, e->source.data, (size_t)e->size);
            break;
        default:
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "layer path '%s': unknown content source %d", we->path,
                                (int)e->source.kind);
        }
        break;
    default:
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path '%s': unknown entry type %d",
                            we->path, (int)e->type);
    }
    return copy_xattrs(w, we, e, err);
}

int
layer_writer_add(struct layer_writer *w, const struct layer_entry *e, struct sw_error **err)
{
    if (w->finished)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer writer already finished");
    if (e->type == LAYER_ENTRY_SOCKET)
        return 0; /* tar cannot represent sockets; they are runtime objects anyway */
    if ((unsigned)e->type > LAYER_ENTRY_OPAQUE)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path '%s': unknown entry type %d",
                            e->path ? e->path : "", (int)e->type);
    size_t len = e->path ? (e->path_len ? e->path_len : strlen(e->path)) : 0;
    sw_autofree char *clean = NULL, *marked = NULL;
    int r = clean_path(e->path, len, e->type == LAYER_ENTRY_OPAQUE, &clean, err);
    if (r < 0)
        return r;
    if ((r = marker_path(e, clean, &marked, err)) < 0)
        return r;
    struct wentry *we = calloc(1, sizeof *we);
    if (!we)
        return sw_error_oom(err);
    if ((r = w->fmt->map_path(marked, &we->path, err)) < 0 || (r = fill_entry(w, we, e, err)) < 0 ||
        (r = push_entry(w, we, err)) < 0) {
        wentry_free(we);
        return r;
    }
    return 0;
}

int
layer_writer_add_whiteout(struct layer_writer *w, const char *path, struct sw_error **err)
{
    struct layer_entry e = {.path = path, .type = LAYER_ENTRY_WHITEOUT};
    return layer_writer_add(w, &e, err);
}

int
layer_writer_add_opaque(struct layer_writer *w, const char *dir, struct sw_error **err)
{
    struct layer_entry e = {.path = dir && *dir ? dir : ".", .type = LAYER_ENTRY_OPAQUE};
    return layer_writer_add(w, &e, err);
}

/* ---- walking a directory --------------------------------------------------------------------- */

struct tree_walk {
    struct layer_writer *w;
    const struct layer_tree_opts *o;
    const char *prefix; /* cleaned, "" = root */
    struct sw_buf src;  /* source path of the current directory */
    struct sw_buf rel;  /* path relative to the walked directory */
};

/* Read a symlink's target (whatever its length). */
static int
read_link(int dirfd, const char *name, const char *what, char **out, struct sw_error **err)
{
    size_t cap = 256;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf)
            return sw_error_oom(err);
        ssize_t n = readlinkat(dirfd, name, buf, cap);
        if (n < 0) {
            int e = errno;
            free(buf);
            return sw_error_set(err, SW_EIO, e, NULL, "%s: readlink: %s", what, strerror(e));
        }
        if ((size_t)n < cap) {
            buf[n] = '\0';
            *out = buf;
            return 0;
        }
        free(buf);
        cap *= 2;
    }
}

struct xattr_list {
    struct layer_xattr *v;
    size_t n;
    char *names;
};

static void
xattr_list_free(struct xattr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((void *)l->v[i].value);
    free(l->v);
    free(l->names);
    memset(l, 0, sizeof *l);
}

/* Read the xattrs of `path` (not following a final symlink) that the writer keeps. */
static int
read_xattrs(struct layer_writer *w, const char *path, struct xattr_list *l, struct sw_error **err)
{
    const char *const *keep = w->opts.xattrs ? w->opts.xattrs : default_xattrs;
    if (!*keep)
        return 0;
    ssize_t n;
    for (;;) {
        n = llistxattr(path, NULL, 0);
        if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
            return 0;
        if (n < 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "%s: listxattr: %s", path,
                                strerror(errno));
        if (n == 0)
            return 0;
        l->names = malloc((size_t)n);
        if (!l->names)
            return sw_error_oom(err);
        ssize_t m = llistxattr(path, l->names, (size_t)n);
        if (m >= 0) {
            n = m;
            break;
        }
        free(l->names);
        l->names = NULL;
        if (errno != ERANGE)
            return sw_error_set(err, SW_EIO, errno, NULL, "%s: listxattr: %s", path,
                                strerror(errno));
    }
    size_t count = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(l->names + i) + 1)
        count++;
    l->v = calloc(count ? count : 1, sizeof *l->v);
    if (!l->v)
        return sw_error_oom(err);
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(l->names + i) + 1) {
        const char *name = l->names + i;
        if (!xattr_kept(keep, name))
            continue;
        void *val = NULL;
        ssize_t vl;
        for (;;) {
            vl = lgetxattr(path, name, NULL, 0);
            if (vl < 0)
                break;
            free(val);
            val = malloc(vl ? (size_t)vl : 1);
            if (!val)
                return sw_error_oom(err);
            ssize_t got = lgetxattr(path, name, val, (size_t)vl);
            if (got >= 0) {
                vl = got;
                break;
            }
            if (errno != ERANGE) {
                vl = -1;
                break;
            }
        }
        if (vl < 0) {
            int e = errno;
            free(val);
            if (e == ENODATA) /* removed meanwhile */
                continue;
            return sw_error_set(err, SW_EIO, e, NULL, "%s: getxattr %s: %s", path, name,
                                strerror(e));
        }
        l->v[l->n++] = (struct layer_xattr){.name = name, .value = val, .len = (size_t)vl};
    }
    return 0;
}

/* The layer path of the current entry: prefix + "/" + rel. */
static char *
tree_layer_path(const struct tree_walk *t)
{
    struct sw_buf b = {0};
    int r = 0;
    if (*t->prefix) {
        r |= sw_buf_puts(&b, t->prefix);
        if (t->rel.len)
            r |= sw_buf_putc(&b, '/');
    }
    r |= sw_buf_puts(&b, sw_buf_cstr(&t->rel));
    if (r) {
        sw_buf_free(&b);
        return NULL;
    }
    return sw_buf_detach(&b);
}

/* Add the entry whose lstat is st (source path in t->src, relative path in t->rel). */
static int
tree_add_one(struct tree_walk *t, int dirfd, const char *name, const struct stat *st,
             struct sw_error **err)
{
    const struct layer_tree_opts *o = t->o;
    sw_autofree char *path = tree_layer_path(t);
    sw_autofree char *target = NULL;
    if (!path)
        return sw_error_oom(err);
    struct layer_entry e = {
        .path = path,
        .mode = st->st_mode & 07777,
        .uid = st->st_uid,
        .gid = st->st_gid,
        .mtime_sec = st->st_mtim.tv_sec,
        .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
    };
    const char *src = sw_buf_cstr(&t->src);
    switch (st->st_mode & S_IFMT) {
    case S_IFREG:
        e.type = LAYER_ENTRY_REG;
        e.size = (uint64_t)st->st_size;
        e.source.kind = e.size ? LAYER_SOURCE_PATH : LAYER_SOURCE_NONE;
        e.source.path = src;
        if (st->st_nlink > 1) {
            e.src_dev = st->st_dev;
            e.src_ino = st->st_ino;
        }
        break;
    case S_IFDIR:
        e.type = LAYER_ENTRY_DIR;
        break;
    case S_IFLNK: {
        e.type = LAYER_ENTRY_SYMLINK;
        int r = read_link(dirfd, name, src, &target, err);
        if (r < 0)
            return r;
        e.link_target = target;
        break;
    }
    case S_IFCHR:
    case S_IFBLK:
        e.type = S_ISCHR(st->st_mode) ? LAYER_ENTRY_CHAR : LAYER_ENTRY_BLOCK;
        e.rdev_major = major(st->st_rdev);
        e.rdev_minor = minor(st->st_rdev);
        break;
    case S_IFIFO:
        e.type = LAYER_ENTRY_FIFO;
        break;
    case S_IFSOCK:
        return 0;
    default:
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL, "%s: unsupported file type 0%o", src,
                            (unsigned)(st->st_mode & S_IFMT));
    }
    if (o) {
        if (o->set_uid)
            e.uid = o->uid;
        if (o->set_gid)
            e.gid = o->gid;
        if (o->set_mode && e.type != LAYER_ENTRY_SYMLINK)
            e.mode = o->mode & 07777;
    }
    struct xattr_list xl = {0};
    int r = read_xattrs(t->w, src, &xl, err);
    if (r == 0) {
        e.xattrs = xl.v;
        e.nxattrs = xl.n;
        r = layer_writer_add(t->w, &e, err);
    }
    xattr_list_free(&xl);
    return r;
}

static int
tree_walk_dir(struct tree_walk *t, int dirfd, struct sw_error **err)
{
    struct sw_strv names = {0};
    int r = sw_dir_names(&names, dirfd, true);
    if (r < 0) {
        int e = errno;
        sw_strv_free(&names);
        if (r == -SW_ENOMEM)
            return sw_error_oom(err);
        return sw_error_set(err, SW_EIO, e, NULL, "%s: %s", sw_buf_cstr(&t->src), strerror(e));
    }

    size_t src_len = t->src.len, rel_len = t->rel.len;
    for (size_t i = 0; i < names.n && r == 0; i++) {
        const char *name = names.v[i];
        t->src.len = src_len;
        t->rel.len = rel_len;
        if (sw_buf_putc(&t->src, '/') < 0 || sw_buf_puts(&t->src, name) < 0 ||
            (rel_len && sw_buf_putc(&t->rel, '/') < 0) || sw_buf_puts(&t->rel, name) < 0) {
            r = sw_error_oom(err);
            break;
        }
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", t->src.data, strerror(errno));
            break;
        }
        enum layer_tree_verdict v = LAYER_TREE_INCLUDE;
        if (t->o && t->o->filter)
            v = t->o->filter(t->o->filter_ctx, t->rel.data, &st);
        if (v == LAYER_TREE_EXCLUDE || (v == LAYER_TREE_DESCEND && !S_ISDIR(st.st_mode)))
            continue;
        if (v == LAYER_TREE_INCLUDE && (r = tree_add_one(t, dirfd, name, &st, err)) < 0)
            break;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", t->src.data, strerror(errno));
                break;
            }
            r = tree_walk_dir(t, sub, err);
            close(sub);
        }
    }
    t->src.len = src_len;
    t->rel.len = rel_len;
    if (t->src.data)
        t->src.data[src_len] = '\0';
    if (t->rel.data)
        t->rel.data[rel_len] = '\0';
    sw_strv_free(&names);
    return r;
}

int
layer_writer_add_tree(struct layer_writer *w, const char *dir, const char *prefix,
                      const struct layer_tree_opts *o, struct sw_error **err)
{
    if (w->finished)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer writer already finished");
    if (!dir || !*dir)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "add_tree: no source directory");
    sw_autofree char *clean = NULL;
    const char *p = prefix && *prefix ? prefix : ".";
    int r = clean_path(p, strlen(p), true, &clean, err);
    if (r < 0)
        return r;
    sw_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", dir, strerror(errno));
    struct tree_walk t = {.w = w, .o = o, .prefix = clean};
    if (sw_buf_puts(&t.src, dir) < 0)
        return sw_error_oom(err);
    while (t.src.len > 1 && t.src.data[t.src.len - 1] == '/')
        t.src.data[--t.src.len] = '\0';
    if (o && o->include_root && *clean) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", dir, strerror(errno));
        else
            r = tree_add_one(&t, fd, ".", &st, err);
    }
    if (r == 0) {
        if (t.src.len == 1 && t.src.data[0] == '/')
            t.src.len = 0; /* "/" + "/" + name */
        r = tree_walk_dir(&t, fd, err);
    }
    sw_buf_free(&t.src);
    sw_buf_free(&t.rel);
    return r;
}

/* ---- finishing: sorting, checking, streaming ------------------------------------------------- */

/* Bytewise order of the full tar path; equal paths by add order (so the last add sorts last). */
static int
cmp_entry(const void *a, const void *b)
{
    const struct wentry *x = *(struct wentry *const *)a, *y = *(struct wentry *const *)b;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static ssize_t
find_entry(struct wentry *const *v, size_t n, const char *path, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *p = v[mid]->path;
        int c = strncmp(p, path, len);
        if (c == 0)
            c = p[len] ? 1 : 0;
        if (c == 0)
            return (ssize_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int
cmp_identity(const void *a, const void *b)
{
    const struct wentry *x = *(struct wentry *const *)a, *y = *(struct wentry *const *)b;
    if (x->src_dev != y->src_dev)
        return x->src_dev < y->src_dev ? -1 : 1;
    if (x->src_ino != y->src_ino)
        return x->src_ino < y->src_ino ? -1 : 1;
    int c = strcmp(x->path, y->path);
    return c;
}

/* Sort, drop replaced duplicates, check parents and hardlinks, derive hardlinks from source
 * identities. */
static int
prepare_entries(struct layer_writer *w, struct sw_error **err)
{
    if (w->n > 1)
        qsort(w->v, w->n, sizeof *w->v, cmp_entry);
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (i + 1 < w->n && !strcmp(w->v[i]->path, w->v[i + 1]->path)) {
            wentry_free(w->v[i]); /* a later add of the same path replaces this one */
            continue;
        }
        w->v[k++] = w->v[i];
    }
    w->n = k;

    size_t nid = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct wentry *e = w->v[i];
        for (const char *s = strchr(e->path, '/'); s; s = strchr(s + 1, '/')) {
            ssize_t p = find_entry(w->v, w->n, e->path, (size_t)(s - e->path));
            if (p >= 0 && w->v[p]->type != LAYER_ENTRY_DIR)
                return sw_error_set(err, SW_EINVAL, 0, NULL,
                                    "layer path '%s': its parent '%s' is a %s in this layer",
                                    e->path, w->v[p]->path, type_name(w->v[p]->type));
        }
        if (e->type == LAYER_ENTRY_HARDLINK) {
            ssize_t t = find_entry(w->v, w->n, e->link, strlen(e->link));
            if (t >= 0 && w->v[t]->type == LAYER_ENTRY_DIR)
                return sw_error_set(err, SW_EINVAL, 0, NULL,
                                    "layer path '%s': hardlink to directory '%s'", e->path,
                                    e->link);
            if (t > (ssize_t)i)
                return sw_error_set(err, SW_EINVAL, 0, NULL,
                                    "layer path '%s': hardlink target '%s' comes after the link in "
                                    "the layer; link the other way round",
                                    e->path, e->link);
        }
        if (e->type == LAYER_ENTRY_REG && e->src_ino)
            nid++;
    }

    if (nid > 1) {
        struct wentry **ids = malloc(nid * sizeof *ids);
        if (!ids)
            return sw_error_oom(err);
        size_t j = 0;
        for (size_t i = 0; i < w->n; i++)
            if (w->v[i]->type == LAYER_ENTRY_REG && w->v[i]->src_ino)
                ids[j++] = w->v[i];
        qsort(ids, nid, sizeof *ids, cmp_identity);
        for (size_t i = 1; i < nid; i++) {
            struct wentry *first = ids[i - 1]->hardlink_to ? NULL : ids[i - 1];
            if (ids[i]->src_dev == ids[i - 1]->src_dev && ids[i]->src_ino == ids[i - 1]->src_ino)
                ids[i]->hardlink_to = first ? first->path : ids[i - 1]->hardlink_to;
        }
        free(ids);
    }
    return 0;
}

struct pipeline {
    struct layer_writer *w;
    struct archive *tar;   /* pax writer; its output goes to tar_out */
    struct archive *comp;  /* zstd: raw writer with the compression filter, or NULL */
    struct layer_gzip *gz; /* gzip: the parallel compressor, or NULL */
    struct sw_hasher *tar_hash, *blob_hash;
    uint64_t size;
    struct sw_error *cb_err; /* set by a callback that failed */
    bool dead;               /* failed: libarchive's cleanup must not reach the sink */
};

/* Compressed bytes: hash them, count them, hand them to the sink. */
static int
blob_bytes(struct pipeline *p, const void *buf, size_t n, struct sw_error **err)
{
    if (p->dead)
        return sw_error_set(err, SW_EIO, 0, NULL, "layer writer already failed");
    int r;
    if ((r = sw_hasher_update(p->blob_hash, buf, n, err)) < 0)
        return r;
    if ((r = p->w->sink.write(p->w->sink.ctx, buf, n, err)) < 0) {
        sw_error_set(err, SW_EIO, 0, NULL, "layer sink failed"); /* unless the sink said why */
        return r;
    }
    p->size += n;
    return 0;
}

static la_ssize_t
comp_out(struct archive *a, void *ctx, const void *buf, size_t n)
{
    (void)a;
    struct pipeline *p = ctx;
    return blob_bytes(p, buf, n, &p->cb_err) < 0 ? -1 : (la_ssize_t)n;
}

/* layer_gzip_out_fn: called from inside layer_gzip_write/finish, on this thread. */
static int
gz_out(void *ctx, const void *buf, size_t n, struct sw_error **err)
{
    return blob_bytes(ctx, buf, n, err);
}

static la_ssize_t
tar_out(struct archive *a, void *ctx, const void *buf, size_t n)
{
    (void)a;
    struct pipeline *p = ctx;
    if (p->dead)
        return -1;
    if (sw_hasher_update(p->tar_hash, buf, n, &p->cb_err) < 0)
        return -1;
    if (p->gz)
        return layer_gzip_write(p->gz, buf, n, &p->cb_err) < 0 ? -1 : (la_ssize_t)n;
    if (!p->comp)
        return blob_bytes(p, buf, n, &p->cb_err) < 0 ? -1 : (la_ssize_t)n;
    const char *b = buf;
    size_t left = n;
    while (left) {
        la_ssize_t r = archive_write_data(p->comp, b, left);
        if (r <= 0) {
            if (!p->cb_err)
                sw_error_set(&p->cb_err, SW_EIO, 0, NULL, "compressing the layer: %s",
                             archive_error_string(p->comp) ? archive_error_string(p->comp)
                                                           : "unknown error");
            return -1;
        }
        b += r;
        left -= (size_t)r;
    }
    return (la_ssize_t)n;
}

/* Report a libarchive failure, in the context of layer path `path` (or of `what` when path is
 * NULL): a callback's own error wins over libarchive's message. */
static int
archive_fail(struct pipeline *p, struct archive *a, struct sw_error **err, const char *what,
             const char *path)
{
    if (p->cb_err) {
        if (err && !*err)
            *err = sw_steal(&p->cb_err);
    } else {
        const char *m = archive_error_string(a);
        sw_error_set(err, SW_EIO, archive_errno(a), NULL, "%s", m ? m : "libarchive error");
    }
    if (path)
        return sw_error_wrap(err, "layer path '%s'", path);
    return sw_error_wrap(err, "%s", what ? what : "writing the layer");
}

static int
setup_compressor(struct pipeline *p, struct sw_error **err)
{
    const struct layer_writer_opts *o = &p->w->opts;
    if (o->compression == LAYER_COMPRESSION_NONE)
        return 0;
    if (o->compression == LAYER_COMPRESSION_GZIP) {
        /* Parallel, libdeflate; level 0 = its default (6). Threads: the online CPUs. */
        struct layer_gzip_opts go = layer_gzip_opts_default();
        go.level = o->level;
        return layer_gzip_new(&p->gz, &go, gz_out, p, err);
    }
    p->comp = archive_write_new();
    if (!p->comp)
        return sw_error_oom(err);
    const char *filter = "zstd";
    /* In-process compression only: ARCHIVE_WARN would mean an external program. */
    int r = archive_write_add_filter_zstd(p->comp);
    if (r != ARCHIVE_OK)
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL, "libarchive has no built-in %s: %s",
                            filter, archive_error_string(p->comp));
    char level[16];
    snprintf(level, sizeof level, "%d", o->level);
    if (archive_write_set_format_raw(p->comp) != ARCHIVE_OK ||
        (o->level && archive_write_set_filter_option(p->comp, filter, "compression-level", level) !=
                         ARCHIVE_OK) ||
        archive_write_set_bytes_per_block(p->comp, 0) != ARCHIVE_OK ||
        archive_write_open(p->comp, p, NULL, comp_out, NULL) != ARCHIVE_OK)
        return archive_fail(p, p->comp, err, "setting up compression", NULL);
    /* The raw format carries exactly one "file": the tar stream. */
    struct archive_entry *ae = archive_entry_new();
    if (!ae)
        return sw_error_oom(err);
    archive_entry_copy_pathname(ae, "layer.tar");
    archive_entry_set_filetype(ae, AE_IFREG);
    r = archive_write_header(p->comp, ae);
    archive_entry_free(ae);
    if (r != ARCHIVE_OK)
        return archive_fail(p, p->comp, err, "setting up compression", NULL);
    return 0;
}

static int
setup_tar(struct pipeline *p, struct sw_error **err)
{
    p->tar = archive_write_new();
    if (!p->tar)
        return sw_error_oom(err);
    if (archive_write_set_format_pax(p->tar) != ARCHIVE_OK ||
        archive_write_set_format_option(p->tar, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
        archive_write_add_filter_none(p->tar) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(p->tar, 0) != ARCHIVE_OK ||
        archive_write_open(p->tar, p, NULL, tar_out, NULL) != ARCHIVE_OK)
        return archive_fail(p, p->tar, err, "setting up the tar writer", NULL);
    return 0;
}

static void
clamp_mtime(const struct layer_writer_opts *o, const struct wentry *e, int64_t *sec, long *nsec)
{
    *sec = e->mtime_sec;
    *nsec = o->keep_mtime_nsec ? (long)e->mtime_nsec : 0;
    if (o->source_date_epoch >= 0 &&
        (*sec > o->source_date_epoch || (*sec == o->source_date_epoch && *nsec > 0))) {
        *sec = o->source_date_epoch;
        *nsec = 0;
    }
}

/* Stream a regular file's content into the tar in CHUNK_SIZE pieces. */
static int
write_content(struct pipeline *p, const struct wentry *e, unsigned char *chunk,
              struct sw_error **err)
{
    if (e->src_kind == LAYER_SOURCE_BUF) {
        const unsigned char *b = e->src_data;
        for (uint64_t off = 0; off < e->size;) {
            size_t n = e->size - off < CHUNK_SIZE ? (size_t)(e->size - off) : CHUNK_SIZE;
            if (archive_write_data(p->tar, b + off, n) != (la_ssize_t)n)
                return archive_fail(p, p->tar, err, NULL, e->path);
            off += n;
        }
        return 0;
    }
    sw_autoclose int own = -1;
    int fd = e->src_fd;
    const char *what = e->src_path ? e->src_path : "source fd";
    if (e->src_kind == LAYER_SOURCE_PATH) {
        own = open(e->src_path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (own < 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "layer path '%s': cannot open %s: %s",
                                e->path, e->src_path, strerror(errno));
        fd = own;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "layer path '%s': %s: %s", e->path, what,
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer path '%s': %s is not a regular file",
                            e->path, what);
    if ((uint64_t)st.st_size != e->size)
        return sw_error_set(err, SW_EIO, 0, NULL,
                            "layer path '%s': %s is %lld bytes, but was %llu when added", e->path,
                            what, (long long)st.st_size, (unsigned long long)e->size);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (uint64_t off = 0; off < e->size;) {
        size_t want = e->size - off < CHUNK_SIZE ? (size_t)(e->size - off) : CHUNK_SIZE;
        ssize_t n = pread(fd, chunk, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "layer path '%s': reading %s: %s",
                                e->path, what, strerror(errno));
        if (n == 0)
            return sw_error_set(err, SW_EIO, 0, NULL,
                                "layer path '%s': %s shrank to %llu bytes while being written",
                                e->path, what, (unsigned long long)off);
        if (archive_write_data(p->tar, chunk, (size_t)n) != n)
            return archive_fail(p, p->tar, err, NULL, e->path);
        off += (uint64_t)n;
    }
    return 0;
}

static int
write_entry(struct pipeline *p, struct archive_entry *ae, const struct wentry *e,
            unsigned char *chunk, struct sw_error **err)
{
    const struct layer_writer_opts *o = &p->w->opts;
    archive_entry_clear(ae);
    archive_entry_copy_pathname(ae, e->path);
    archive_entry_set_perm(ae, e->mode);
    archive_entry_set_uid(ae, e->uid);
    archive_entry_set_gid(ae, e->gid);
    int64_t sec;
    long nsec;
    clamp_mtime(o, e, &sec, &nsec);
    archive_entry_set_mtime(ae, (time_t)sec, nsec);
    bool content = false;
    switch (e->type) {
    case LAYER_ENTRY_REG:
        archive_entry_set_filetype(ae, AE_IFREG);
        if (e->hardlink_to) {
            archive_entry_copy_hardlink(ae, e->hardlink_to);
            archive_entry_set_size(ae, 0);
        } else {
            archive_entry_set_size(ae, (la_int64_t)e->size);
            content = e->size > 0;
        }
        break;
    case LAYER_ENTRY_HARDLINK:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_copy_hardlink(ae, e->link);
        archive_entry_set_size(ae, 0);
        break;
    case LAYER_ENTRY_DIR:
        archive_entry_set_filetype(ae, AE_IFDIR);
        break;
    case LAYER_ENTRY_SYMLINK:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_copy_symlink(ae, e->link);
        break;
    case LAYER_ENTRY_CHAR:
    case LAYER_ENTRY_BLOCK:
        archive_entry_set_filetype(ae, e->type == LAYER_ENTRY_CHAR ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_rdevmajor(ae, e->rdev_major);
        archive_entry_set_rdevminor(ae, e->rdev_minor);
        break;
    case LAYER_ENTRY_FIFO:
        archive_entry_set_filetype(ae, AE_IFIFO);
        break;
    default:
        return sw_error_set(err, SW_EINTERNAL, 0, NULL, "layer path '%s': unexpected type",
                            e->path);
    }
    for (size_t i = 0; i < e->nxattrs; i++)
        archive_entry_xattr_add_entry(ae, e->xattrs[i].name, e->xattrs[i].value, e->xattrs[i].len);
    int r;
    if (p->w->fmt->decorate && (r = p->w->fmt->decorate(ae, e, err)) < 0)
        return r;
    /* ARCHIVE_WARN: a name that is not valid UTF-8 was stored as raw bytes (hdrcharset=BINARY). */
    if (archive_write_header(p->tar, ae) < ARCHIVE_WARN)
        return archive_fail(p, p->tar, err, NULL, e->path);
    if (content && (r = write_content(p, e, chunk, err)) < 0)
        return r;
    if (archive_write_finish_entry(p->tar) < ARCHIVE_WARN)
        return archive_fail(p, p->tar, err, NULL, e->path);
    return 0;
}

static int
run_pipeline(struct pipeline *p, struct layer_result *res, struct sw_error **err)
{
    struct layer_writer *w = p->w;
    int r;
    if ((r = sw_hasher_new(&p->tar_hash, err)) < 0 || (r = sw_hasher_new(&p->blob_hash, err)) < 0)
        return r;
    if ((r = setup_compressor(p, err)) < 0 || (r = setup_tar(p, err)) < 0)
        return r;
    if (w->fmt->prologue && (r = w->fmt->prologue(p->tar, err)) < 0)
        return r;
    struct archive_entry *ae = archive_entry_new();
    unsigned char *chunk = malloc(CHUNK_SIZE);
    if (!ae || !chunk) {
        archive_entry_free(ae);
        free(chunk);
        return sw_error_oom(err);
    }
    for (size_t i = 0; i < w->n && r == 0; i++)
        r = write_entry(p, ae, w->v[i], chunk, err);
    archive_entry_free(ae);
    free(chunk);
    if (r < 0)
        return r;
    if (archive_write_close(p->tar) != ARCHIVE_OK)
        return archive_fail(p, p->tar, err, "finishing the tar", NULL);
    if (p->comp && archive_write_close(p->comp) != ARCHIVE_OK)
        return archive_fail(p, p->comp, err, "finishing the compressed stream", NULL);
    if (p->gz && layer_gzip_finish(p->gz, err) < 0)
        return sw_error_wrap(err, "finishing the compressed stream");
    if ((r = sw_hasher_final(p->tar_hash, &res->diff_id, err)) < 0 ||
        (r = sw_hasher_final(p->blob_hash, &res->digest, err)) < 0)
        return r;
    res->size = p->size;
    res->media_type = layer_media_type(w->opts.compression);
    res->entries = w->n;
    return 0;
}

int
layer_writer_finish(struct layer_writer *w, struct layer_result *result, struct sw_error **err)
{
    if (w->finished)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "layer writer already finished");
    w->finished = true;
    struct layer_result res = {0};
    int r = prepare_entries(w, err);
    if (r < 0)
        return r;
    /*
     * libarchive converts names between the thread's locale and UTF-8 (PAX records). Pin
     * LC_CTYPE to C.UTF-8 for this thread so that the tar bytes do not depend on the process
     * locale: UTF-8 names are stored as they are, other bytes with hdrcharset=BINARY.
     */
    locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = loc ? uselocale(loc) : (locale_t)0;
    struct pipeline p = {.w = w};
    r = run_pipeline(&p, &res, err);
    p.dead = r < 0;
    if (p.tar)
        archive_write_free(p.tar);
    if (p.comp)
        archive_write_free(p.comp);
    layer_gzip_free(p.gz); /* joins its threads, on every path */
    sw_hasher_free(p.tar_hash);
    sw_hasher_free(p.blob_hash);
    sw_error_free(p.cb_err);
    if (loc) {
        uselocale(old);
        freelocale(loc);
    }
    if (r == 0 && result)
        *result = res;
    return r;
}

enum layer_entry_type
layer_entry_type_from_mode(mode_t m)
{
    if (S_ISDIR(m))
        return LAYER_ENTRY_DIR;
    if (S_ISLNK(m))
        return LAYER_ENTRY_SYMLINK;
    if (S_ISCHR(m))
        return LAYER_ENTRY_CHAR;
    if (S_ISBLK(m))
        return LAYER_ENTRY_BLOCK;
    if (S_ISFIFO(m))
        return LAYER_ENTRY_FIFO;
    if (S_ISSOCK(m))
        return LAYER_ENTRY_SOCKET;
    return LAYER_ENTRY_REG;
}
