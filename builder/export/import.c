/*
 * builder/export/import.c: `slipway load` (export_import in export.h).
 *
 * A source is a directory or a tar file. A tar is read once, front to back: every regular file
 * is streamed into the store as a blob (files under blobs/sha256/ are checked against their
 * name), the top-level documents (index.json, manifest.json, oci-layout, repositories) are kept
 * in memory, symlinks and hard links are recorded. Nothing is written to disk outside the store,
 * and a path in a document only ever names a member of that table. A directory is read with
 * openat2(RESOLVE_BENEATH), so no path or symlink can leave it.
 *
 * Then the format decides: with manifest.json it is a docker archive (Docker 25's index.json, if
 * any, is only searched for the images' own manifests), otherwise an OCI layout (index.json).
 */
#include "export/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>

#include "export/export_internal.h"
#include "util/cleanup.h"

#define MAX_MEMBERS 200000 /* tar members */
#define MAX_IMAGES 10000   /* manifest.json / index.json entries */
#define MAX_HOPS 40        /* symlinks and hard links followed per lookup */
#define MAX_DEPTH 4        /* nested indexes */
#define CHUNK (1u << 20)

/* ---- paths
 * ---------------------------------------------------------------------------------------
 */

/*
 * Clean a path from an archive or a document: leading '/' and "." components dropped, ".."
 * refused (-SW_EINVAL). *out is "" for the root.
 */
static int
clean_path(const char *in, char **out, struct sw_error **err)
{
    struct sw_buf b = {0};
    const char *p = in;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            sw_buf_free(&b);
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "path \"%s\" contains \"..\": it could name something outside the "
                                "archive",
                                in);
        }
        if (n && !(n == 1 && p[0] == '.')) {
            if ((b.len && sw_buf_putc(&b, '/') < 0) || sw_buf_append(&b, p, n) < 0) {
                sw_buf_free(&b);
                return sw_error_oom(err);
            }
        }
        p += n;
        if (*p == '/')
            p++;
    }
    *out = sw_buf_detach(&b);
    return *out ? 0 : sw_error_oom(err);
}

/* "blobs/sha256/<64 hex>": the digest it names. */
static bool
blob_path_digest(const char *path, struct sw_digest *out)
{
    static const char prefix[] = "blobs/sha256/";
    if (strncmp(path, prefix, sizeof prefix - 1))
        return false;
    char s[SW_DIGEST_STR_LEN + 1];
    if (snprintf(s, sizeof s, "sha256:%s", path + sizeof prefix - 1) >= (int)sizeof s ||
        !sw_digest_valid(s))
        return false;
    memcpy(out->str, s, sizeof s);
    return true;
}

static bool
is_top_doc(const char *path)
{
    return !strcmp(path, "index.json") || !strcmp(path, "manifest.json") ||
           !strcmp(path, "oci-layout") || !strcmp(path, "repositories");
}

/* ---- the source
 * -----------------------------------------------------------------------------------
 */

enum member_kind { M_FILE, M_SYMLINK, M_HARDLINK };

struct member {
    char *path; /* cleaned */
    size_t seq;
    enum member_kind kind;
    char *link;    /* symlink target as written / hard link target cleaned */
    bool in_store; /* the content is the blob `digest` */
    struct sw_digest digest;
    uint64_t size;
    char *data; /* a top-level document, in memory */
    size_t len;
};

struct source {
    struct store *st;
    const char *name; /* as given, for messages */
    int dirfd;        /* a directory source, else -1 */
    struct member *m; /* a tar source: sorted by path, unique */
    size_t n, cap;
};

static void
source_free(struct source *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->m[i].path);
        free(s->m[i].link);
        free(s->m[i].data);
    }
    free(s->m);
    if (s->dirfd >= 0)
        close(s->dirfd);
}

static int
cmp_member(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const struct member *
find_member(const struct source *s, const char *path)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->m[mid].path, path);
        if (c == 0)
            return &s->m[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The target of symlink `from` -> `target`, inside the archive. */
static int
symlink_resolve(const char *from, const char *target, char **out, struct sw_error **err)
{
    struct sw_buf b = {0};
    if (target[0] != '/') {
        const char *slash = strrchr(from, '/');
        if (slash && sw_buf_append(&b, from, (size_t)(slash - from)) < 0)
            return sw_error_oom(err);
    }
    const char *p = target;
    int r = 0;
    while (*p && r == 0) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (!b.len) {
                r = sw_error_set(err, SW_EINVAL, 0, NULL,
                                 "symlink \"%s\" -> \"%s\" points outside the archive", from,
                                 target);
                break;
            }
            char *slash = memrchr(b.data, '/', b.len);
            b.len = slash ? (size_t)(slash - b.data) : 0;
            b.data[b.len] = '\0';
        } else if (n && !(n == 1 && p[0] == '.')) {
            if ((b.len && sw_buf_putc(&b, '/') < 0) || sw_buf_append(&b, p, n) < 0)
                r = sw_error_oom(err);
        }
        p += n;
        if (*p == '/')
            p++;
    }
    if (r < 0) {
        sw_buf_free(&b);
        return r;
    }
    *out = sw_buf_detach(&b);
    return *out ? 0 : sw_error_oom(err);
}

/* The regular member a path names, following symlinks and hard links inside the archive. */
static int
resolve_member(const struct source *s, const char *path, const struct member **out,
               struct sw_error **err)
{
    sw_autofree char *cur = strdup(path);
    if (!cur)
        return sw_error_oom(err);
    for (int hop = 0; hop <= MAX_HOPS; hop++) {
        const struct member *m = find_member(s, cur);
        if (!m)
            return sw_error_set(err, SW_ENOTFOUND, ENOENT, NULL, "no file \"%s\" in the archive",
                                path);
        if (m->kind == M_FILE) {
            *out = m;
            return 0;
        }
        char *next = NULL;
        int r = m->kind == M_HARDLINK ? ((next = strdup(m->link)) ? 0 : sw_error_oom(err))
                                      : symlink_resolve(m->path, m->link, &next, err);
        if (r < 0)
            return r;
        free(cur);
        cur = next;
    }
    return sw_error_set(err, SW_EINVAL, ELOOP, NULL, "\"%s\": too many levels of links", path);
}

/* Open a regular file of a directory source, never leaving the directory. */
static int
dir_open(const struct source *s, const char *path, int *out, struct sw_error **err)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, s->dirfd, path, &how, sizeof how);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        /* No openat2: walk the components and refuse every symlink. */
        int cur = s->dirfd;
        sw_autofree char *copy = strdup(path);
        if (!copy)
            return sw_error_oom(err);
        char *save = NULL;
        char *c = strtok_r(copy, "/", &save);
        fd = -1;
        while (c) {
            char *next = strtok_r(NULL, "/", &save);
            int f = openat(cur, c,
                           O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW |
                               (next ? O_DIRECTORY : O_NONBLOCK));
            int e = errno;
            if (cur != s->dirfd)
                close(cur);
            if (f < 0) {
                errno = e;
                break;
            }
            cur = f;
            c = next;
            if (!c)
                fd = f;
        }
    }
    if (fd < 0) {
        int e = errno;
        if (e == EXDEV || e == ELOOP)
            return sw_error_set(err, SW_EINVAL, e, NULL,
                                "%s: a symlink on the way leads outside the directory", path);
        return sw_error_set(err, e == ENOENT ? SW_ENOTFOUND : SW_EIO, e, NULL, "%s: %s", path,
                            strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s is not a regular file", path);
    }
    *out = fd;
    return 0;
}

static bool
src_exists(const struct source *s, const char *path)
{
    if (s->dirfd >= 0) {
        int fd = -1;
        if (dir_open(s, path, &fd, NULL) < 0)
            return false;
        close(fd);
        return true;
    }
    const struct member *m = NULL;
    return resolve_member(s, path, &m, NULL) == 0;
}

/* Read a (cleaned) document of at most EXP_DOC_MAX bytes. *data is NUL-terminated. */
static int
src_read(const struct source *s, const char *path, char **data, size_t *len, struct sw_error **err)
{
    if (s->dirfd >= 0) {
        sw_autoclose int fd = -1;
        int r = dir_open(s, path, &fd, err);
        if (r < 0)
            return r;
        struct stat st;
        if (fstat(fd, &st) < 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", path, strerror(errno));
        if ((uint64_t)st.st_size > EXP_DOC_MAX)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "%s is larger than 4 MiB", path);
        char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
            return sw_error_oom(err);
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                free(buf);
                return sw_error_set(err, SW_EIO, n < 0 ? errno : 0, NULL, "reading %s: %s", path,
                                    n < 0 ? strerror(errno) : "file shrank");
            }
            got += (size_t)n;
        }
        buf[got] = '\0';
        *data = buf;
        *len = got;
        return 0;
    }
    const struct member *m = NULL;
    int r = resolve_member(s, path, &m, err);
    if (r < 0)
        return r;
    if (!m->in_store) {
        char *buf = malloc(m->len + 1);
        if (!buf)
            return sw_error_oom(err);
        memcpy(buf, m->data, m->len);
        buf[m->len] = '\0';
        *data = buf;
        *len = m->len;
        return 0;
    }
    void *buf = NULL;
    if ((r = store_blob_read(s->st, &m->digest, EXP_DOC_MAX, &buf, len, err)) < 0)
        return sw_error_wrap(err, "%s", path);
    *data = buf;
    return 0;
}

/* Put a file of the source into the store; with `expected` it must hash to it. */
static int
src_import(const struct source *s, const char *path, const struct sw_digest *expected,
           struct sw_digest *out, uint64_t *size, struct sw_error **err)
{
    int r;
    if (s->dirfd >= 0) {
        sw_autoclose int fd = -1;
        if ((r = dir_open(s, path, &fd, err)) < 0)
            return r;
        struct store_writer *w = NULL;
        if ((r = store_writer_begin(s->st, &w, err)) < 0)
            return r;
        sw_autofree char *buf = malloc(CHUNK);
        if (!buf) {
            store_writer_abort(w);
            return sw_error_oom(err);
        }
        for (;;) {
            ssize_t n = read(fd, buf, CHUNK);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                store_writer_abort(w);
                return sw_error_set(err, SW_EIO, errno, NULL, "reading %s: %s", path,
                                    strerror(errno));
            }
            if (n == 0)
                break;
            if ((r = store_writer_write(w, buf, (size_t)n, err)) < 0) {
                store_writer_abort(w);
                return r;
            }
        }
        if ((r = store_writer_commit(w, expected, out, size, err)) < 0)
            return sw_error_wrap(err, "%s", path);
        return 0;
    }
    const struct member *m = NULL;
    if ((r = resolve_member(s, path, &m, err)) < 0)
        return r;
    struct sw_digest d = m->digest;
    uint64_t sz = m->size;
    if (!m->in_store) {
        if ((r = store_blob_put(s->st, m->data, m->len, &d, err)) < 0)
            return r;
        sz = m->len;
    }
    if (expected && strcmp(expected->str, d.str))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "%s: blob digest mismatch: expected %s, got %s", path, expected->str,
                            d.str);
    *out = d;
    if (size)
        *size = sz;
    return 0;
}

/* ---- reading a tar
 * ---------------------------------------------------------------------------------
 */

static int
push_member(struct source *s, struct member *m, struct sw_error **err)
{
    if (s->n >= MAX_MEMBERS)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "more than %d files", MAX_MEMBERS);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct member *v = realloc(s->m, cap * sizeof *v);
        if (!v)
            return sw_error_oom(err);
        s->m = v;
        s->cap = cap;
    }
    m->seq = s->n;
    s->m[s->n++] = *m;
    return 0;
}

static int
archive_fail(struct archive *a, const struct source *s, const char *after, struct sw_error **err)
{
    const char *msg = archive_error_string(a);
    if (after)
        return sw_error_set(err, SW_EIO, archive_errno(a), NULL, "reading after \"%s\": %s", after,
                            msg ? msg : "corrupt archive");
    return sw_error_set(err, SW_EIO, archive_errno(a), NULL, "%s",
                        msg ? msg : "not a readable tar archive");
}

/* A regular member's content: into memory (top-level documents) or into the store. */
static int
read_member_data(struct archive *a, struct source *s, struct member *m, int64_t size,
                 struct sw_error **err)
{
    if (is_top_doc(m->path)) {
        if (size < 0 || (uint64_t)size > EXP_DOC_MAX)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "%s is larger than 4 MiB", m->path);
        m->data = malloc((size_t)size + 1);
        if (!m->data)
            return sw_error_oom(err);
        la_ssize_t n = size ? archive_read_data(a, m->data, (size_t)size) : 0;
        if (n != size)
            return archive_fail(a, s, m->path, err);
        m->data[size] = '\0';
        m->len = (size_t)size;
        return 0;
    }
    struct sw_digest expected;
    bool named = blob_path_digest(m->path, &expected);
    struct store_writer *w = NULL;
    int r = store_writer_begin(s->st, &w, err);
    if (r < 0)
        return r;
    sw_autofree char *buf = malloc(CHUNK);
    if (!buf) {
        store_writer_abort(w);
        return sw_error_oom(err);
    }
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            store_writer_abort(w);
            return archive_fail(a, s, m->path, err);
        }
        if ((r = store_writer_write(w, buf, (size_t)n, err)) < 0) {
            store_writer_abort(w);
            return r;
        }
    }
    if ((r = store_writer_commit(w, named ? &expected : NULL, &m->digest, &m->size, err)) < 0)
        return sw_error_wrap(err, "%s", m->path);
    m->in_store = true;
    return 0;
}

static int
scan_entry(struct archive *a, struct archive_entry *ae, struct source *s, struct sw_error **err)
{
    const char *name = archive_entry_pathname(ae);
    if (!name)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "an entry has no usable name");
    struct member m = {0};
    int r = clean_path(name, &m.path, err);
    if (r < 0)
        return sw_error_wrap(err, "entry \"%s\"", name);
    const char *hard = archive_entry_hardlink(ae);
    mode_t type = archive_entry_filetype(ae);
    if (hard) {
        m.kind = M_HARDLINK;
        if ((r = clean_path(hard, &m.link, err)) < 0)
            sw_error_wrap(err, "hard link \"%s\"", name);
    } else if (type == AE_IFLNK) {
        m.kind = M_SYMLINK;
        const char *t = archive_entry_symlink(ae);
        if (!(m.link = strdup(t ? t : "")))
            r = sw_error_oom(err);
    } else if (type == AE_IFREG && *m.path) {
        struct sw_digest ignored;
        /* Blobs of other algorithms cannot be referenced (slipway names blobs by sha256). */
        if (!strncmp(m.path, "blobs/", 6) && !blob_path_digest(m.path, &ignored)) {
            free(m.path);
            return 0;
        }
        m.kind = M_FILE;
        r = read_member_data(a, s, &m, archive_entry_size(ae), err);
    } else { /* directories, devices, fifos: nothing to import */
        free(m.path);
        return 0;
    }
    if (r == 0)
        r = push_member(s, &m, err);
    if (r < 0) {
        free(m.path);
        free(m.link);
        free(m.data);
    }
    return r;
}

static int
scan_tar(struct source *s, struct sw_error **err)
{
    struct archive *a = archive_read_new();
    if (!a)
        return sw_error_oom(err);
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_bzip2(a);
    locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = loc ? uselocale(loc) : (locale_t)0;
    int r = 0;
    if (archive_read_open_filename(a, s->name, 1 << 16) != ARCHIVE_OK)
        r = archive_fail(a, s, NULL, err);
    while (r == 0) {
        struct archive_entry *ae;
        int ar = archive_read_next_header(a, &ae);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN)
            r = archive_fail(a, s, s->n ? s->m[s->n - 1].path : NULL, err);
        else
            r = scan_entry(a, ae, s, err);
    }
    archive_read_free(a);
    if (loc) {
        uselocale(old);
        freelocale(loc);
    }
    if (r < 0)
        return r;
    /* Sort; a later member of the same name replaces an earlier one (tar semantics). */
    qsort(s->m, s->n, sizeof *s->m, cmp_member);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i + 1 < s->n && !strcmp(s->m[i].path, s->m[i + 1].path)) {
            free(s->m[i].path);
            free(s->m[i].link);
            free(s->m[i].data);
            continue;
        }
        s->m[k++] = s->m[i];
    }
    s->n = k;
    return 0;
}

/* ---- the import
 * -------------------------------------------------------------------------------------
 */

struct importer {
    struct source src;
    struct store *st;
    struct sw_strv *loaded;
    struct sw_strv done; /* digests already imported (with their sizes checked) */
};

static bool
done_has(const struct importer *im, const struct sw_digest *d)
{
    for (size_t i = 0; i < im->done.n; i++)
        if (!strcmp(im->done.v[i], d->str))
            return true;
    return false;
}

/* Import blobs/sha256/<hex> for a descriptor and check its size. */
static int
import_blob(struct importer *im, const struct sw_digest *d, int64_t size, const char *what,
            struct sw_error **err)
{
    if (done_has(im, d))
        return 0;
    char path[sizeof "blobs/sha256/" + SW_DIGEST_HEX_LEN];
    snprintf(path, sizeof path, "blobs/sha256/%s", sw_digest_hex(d));
    struct sw_digest got;
    uint64_t have = 0;
    int r = src_import(&im->src, path, d, &got, &have, err);
    if (r < 0)
        return sw_error_wrap(err, "%s %s", what, d->str);
    if (size < 0 || have != (uint64_t)size)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "%s %s is %llu bytes, but its descriptor says %lld", what, d->str,
                            (unsigned long long)have, (long long)size);
    return sw_strv_push(&im->done, d->str) < 0 ? sw_error_oom(err) : 0;
}

static bool
mt_is(const char *mt, const char *oci)
{
    return mt && !strcmp(img_media_type_to_oci(mt), oci);
}

static int
read_store_doc(struct importer *im, const struct sw_digest *d, char **data, size_t *len,
               struct sw_error **err)
{
    void *buf = NULL;
    int r = store_blob_read(im->st, d, EXP_DOC_MAX, &buf, len, err);
    if (r < 0)
        return r;
    *data = buf;
    return 0;
}

/* An OCI descriptor's tree: an index and its manifests, or a manifest, its config and layers. */
static int
import_tree(struct importer *im, const char *mt, const struct sw_digest *d, int64_t size, int depth,
            struct sw_error **err)
{
    bool index = mt_is(mt, IMG_MT_OCI_INDEX);
    if (!index && !mt_is(mt, IMG_MT_OCI_MANIFEST))
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                            "%s has media type %s: only image manifests and indexes can be loaded",
                            d->str, mt ? mt : "(none)");
    if (depth > MAX_DEPTH)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "indexes nested too deeply at %s", d->str);
    bool seen = done_has(im, d);
    int r = import_blob(im, d, size, index ? "image index" : "image manifest", err);
    if (r < 0 || seen)
        return r;
    sw_autofree char *data = NULL;
    size_t len = 0;
    if ((r = read_store_doc(im, d, &data, &len, err)) < 0)
        return r;
    if (index) {
        struct img_index ix = {0};
        if ((r = img_index_parse(&ix, data, len, err)) < 0)
            return sw_error_wrap(err, "image index %s", d->str);
        for (size_t i = 0; r == 0 && i < ix.nmanifests; i++)
            r = import_tree(im, ix.manifests[i].media_type, &ix.manifests[i].digest,
                            ix.manifests[i].size, depth + 1, err);
        img_index_clear(&ix);
        return r;
    }
    struct img_manifest m = {0};
    if ((r = img_manifest_parse(&m, data, len, err)) < 0)
        return sw_error_wrap(err, "image manifest %s", d->str);
    r = import_blob(im, &m.config.digest, m.config.size, "config", err);
    for (size_t i = 0; r == 0 && i < m.nlayers; i++) {
        const struct img_descriptor *l = &m.layers[i];
        char path[sizeof "blobs/sha256/" + SW_DIGEST_HEX_LEN];
        snprintf(path, sizeof path, "blobs/sha256/%s", sw_digest_hex(&l->digest));
        /* A foreign layer lives at its URLs: fine to be absent. */
        if (l->urls.n && !src_exists(&im->src, path) && !store_blob_exists(im->st, &l->digest))
            continue;
        r = import_blob(im, &l->digest, l->size, "layer", err);
    }
    img_manifest_clear(&m);
    return r;
}

/* A descriptor to tag, with a platform. Strings are owned. */
struct loaded_image {
    char *media_type;
    struct sw_digest digest;
    uint64_t size;
    char *os, *arch, *variant;
};

static void
loaded_image_clear(struct loaded_image *li)
{
    free(li->media_type);
    free(li->os);
    free(li->arch);
    free(li->variant);
    memset(li, 0, sizeof *li);
}

/* os/architecture/variant from a config in the store (best effort). */
static void
platform_from_config(struct importer *im, const struct sw_digest *config, struct loaded_image *li)
{
    json_t *cfg = NULL;
    if (store_json_read(im->st, config, EXP_DOC_MAX, &cfg, NULL) < 0)
        return;
    const char *os = json_string_value(json_object_get(cfg, "os"));
    const char *arch = json_string_value(json_object_get(cfg, "architecture"));
    const char *variant = json_string_value(json_object_get(cfg, "variant"));
    if (os && *os && arch && *arch) {
        li->os = strdup(os);
        li->arch = strdup(arch);
        li->variant = variant && *variant ? strdup(variant) : NULL;
    }
    json_decref(cfg);
}

/* Tag the image under `name` (NULL: unnamed) and report it. */
static int
tag_image(struct importer *im, const struct loaded_image *li, const char *name,
          struct sw_error **err)
{
    sw_autofree char *full = NULL, *familiar = NULL;
    const char *report = li->digest.str;
    if (name) {
        int r = exp_name_forms(name, &full, NULL, &familiar, err);
        if (r < 0)
            return r;
        struct store_desc d = {
            .media_type = li->media_type,
            .digest = li->digest,
            .size = li->size,
            .has_platform = li->os && li->arch,
            .platform = {.os = li->os, .architecture = li->arch, .variant = li->variant},
        };
        if ((r = store_tag_set(im->st, familiar, full, &d, err)) < 0)
            return r;
        report = familiar;
    }
    if (!im->loaded)
        return 0;
    for (size_t i = 0; i < im->loaded->n; i++)
        if (!strcmp(im->loaded->v[i], report))
            return 0;
    return sw_strv_push(im->loaded, report) < 0 ? sw_error_oom(err) : 0;
}

/* The name an OCI index.json entry gives its image, or NULL (see export.h). */
static const char *
oci_entry_name(json_t *ann)
{
    const char *c = json_string_value(json_object_get(ann, STORE_ANN_CONTAINERD_NAME));
    if (c && exp_name_forms(c, NULL, NULL, NULL, NULL) == 0)
        return c;
    const char *rn = json_string_value(json_object_get(ann, STORE_ANN_REF_NAME));
    if (rn && (strchr(rn, ':') || strchr(rn, '/')) &&
        exp_name_forms(rn, NULL, NULL, NULL, NULL) == 0)
        return rn;
    return NULL;
}

/* One index.json entry, validated: its raw media type and the parsed descriptor. */
static int
parse_entry(struct importer *im, json_t *e, size_t i, struct img_descriptor *out,
            const char **raw_mt, struct sw_error **err)
{
    *raw_mt = json_string_value(json_object_get(e, "mediaType"));
    if (!json_is_object(e) || !*raw_mt)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "index.json: manifests[%zu] is not a descriptor with a mediaType", i);
    char *s = json_dumps(e, JSON_COMPACT);
    if (!s)
        return sw_error_oom(err);
    int r = img_descriptor_parse(out, s, strlen(s), err);
    free(s);
    if (r < 0)
        return sw_error_wrap(err, "index.json: manifests[%zu]", i);
    return 0;
}

static int
load_index_json(struct importer *im, json_t **out, struct sw_error **err)
{
    sw_autofree char *data = NULL;
    size_t len = 0;
    int r = src_read(&im->src, "index.json", &data, &len, err);
    if (r < 0)
        return r;
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    json_t *list = json_object_get(j, "manifests");
    if (!json_is_object(j) || !json_is_array(list)) {
        json_decref(j);
        return sw_error_set(err, SW_EPARSE, 0, NULL, "index.json is not an OCI image index%s%s",
                            j ? "" : ": ", j ? "" : je.text);
    }
    if (json_array_size(list) > MAX_IMAGES) {
        json_decref(j);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "index.json lists more than %d images",
                            MAX_IMAGES);
    }
    *out = j;
    return 0;
}

static int
check_oci_layout(struct importer *im, struct sw_error **err)
{
    if (!src_exists(&im->src, "oci-layout"))
        return 0;
    sw_autofree char *data = NULL;
    size_t len = 0;
    int r = src_read(&im->src, "oci-layout", &data, &len, err);
    if (r < 0)
        return r;
    json_t *j = json_loadb(data, len, 0, NULL);
    const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
    bool ok = v && !strncmp(v, "1.", 2);
    json_decref(j);
    if (!ok)
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                            "oci-layout is not an OCI image layout version 1.x");
    return 0;
}

static int
import_oci(struct importer *im, struct sw_error **err)
{
    int r = check_oci_layout(im, err);
    json_t *ix = NULL;
    if (r < 0 || (r = load_index_json(im, &ix, err)) < 0)
        return r;
    json_t *list = json_object_get(ix, "manifests");
    /* First every blob, then the tags: a failure tags nothing. */
    for (size_t i = 0; r == 0 && i < json_array_size(list); i++) {
        struct img_descriptor d = {0};
        const char *mt = NULL;
        if ((r = parse_entry(im, json_array_get(list, i), i, &d, &mt, err)) == 0)
            r = import_tree(im, mt, &d.digest, d.size, 0, err);
        img_descriptor_clear(&d);
    }
    for (size_t i = 0; r == 0 && i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        struct img_descriptor d = {0};
        const char *mt = NULL;
        if ((r = parse_entry(im, e, i, &d, &mt, err)) < 0)
            break;
        struct loaded_image li = {
            .media_type = strdup(mt), .digest = d.digest, .size = (uint64_t)d.size};
        if (!li.media_type)
            r = sw_error_oom(err);
        if (r == 0 && d.platform && d.platform->os && d.platform->architecture) {
            li.os = strdup(d.platform->os);
            li.arch = strdup(d.platform->architecture);
            li.variant = d.platform->variant ? strdup(d.platform->variant) : NULL;
        } else if (r == 0 && mt_is(mt, IMG_MT_OCI_MANIFEST)) {
            sw_autofree char *data = NULL;
            size_t len = 0;
            struct img_manifest m = {0};
            if (read_store_doc(im, &d.digest, &data, &len, NULL) == 0 &&
                img_manifest_parse(&m, data, len, NULL) == 0)
                platform_from_config(im, &m.config.digest, &li);
            img_manifest_clear(&m);
        }
        if (r == 0)
            r = tag_image(im, &li, oci_entry_name(json_object_get(e, "annotations")), err);
        loaded_image_clear(&li);
        img_descriptor_clear(&d);
    }
    json_decref(ix);
    return r;
}

/* ---- docker archives
 * ------------------------------------------------------------------------------
 */

/* A manifest found in a docker archive's index.json (Docker 25). */
struct known_manifest {
    char *media_type;
    struct sw_digest digest;
    uint64_t size;
    struct img_manifest m;
};

struct known {
    struct known_manifest *v;
    size_t n, cap;
};

static void
known_free(struct known *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].media_type);
        img_manifest_clear(&k->v[i].m);
    }
    free(k->v);
}

/* Collect the image manifests index.json reaches that are in the archive (best effort: missing
 * or unreadable documents are skipped; the image then gets a manifest written for it). */
static void
known_walk(struct importer *im, const char *mt, const struct sw_digest *d, int64_t size, int depth,
           struct known *k)
{
    bool index = mt_is(mt, IMG_MT_OCI_INDEX);
    if (depth > MAX_DEPTH || (!index && !mt_is(mt, IMG_MT_OCI_MANIFEST)))
        return;
    char path[sizeof "blobs/sha256/" + SW_DIGEST_HEX_LEN];
    snprintf(path, sizeof path, "blobs/sha256/%s", sw_digest_hex(d));
    if (!src_exists(&im->src, path) || import_blob(im, d, size, "manifest", NULL) < 0)
        return;
    sw_autofree char *data = NULL;
    size_t len = 0;
    if (read_store_doc(im, d, &data, &len, NULL) < 0)
        return;
    if (index) {
        struct img_index ix = {0};
        if (img_index_parse(&ix, data, len, NULL) < 0)
            return;
        for (size_t i = 0; i < ix.nmanifests; i++)
            known_walk(im, ix.manifests[i].media_type, &ix.manifests[i].digest,
                       ix.manifests[i].size, depth + 1, k);
        img_index_clear(&ix);
        return;
    }
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 8;
        struct known_manifest *v = realloc(k->v, cap * sizeof *v);
        if (!v)
            return;
        k->v = v;
        k->cap = cap;
    }
    struct known_manifest *km = &k->v[k->n];
    memset(km, 0, sizeof *km);
    if (img_manifest_parse(&km->m, data, len, NULL) < 0 || !(km->media_type = strdup(mt))) {
        img_manifest_clear(&km->m);
        return;
    }
    km->digest = *d;
    km->size = (uint64_t)size;
    k->n++;
}

static void
known_collect(struct importer *im, struct known *k)
{
    if (!src_exists(&im->src, "index.json"))
        return;
    json_t *ix = NULL;
    if (load_index_json(im, &ix, NULL) < 0)
        return;
    json_t *list = json_object_get(ix, "manifests");
    for (size_t i = 0; i < json_array_size(list); i++) {
        struct img_descriptor d = {0};
        const char *mt = NULL;
        if (parse_entry(im, json_array_get(list, i), i, &d, &mt, NULL) == 0)
            known_walk(im, mt, &d.digest, d.size, 0, k);
        img_descriptor_clear(&d);
    }
    json_decref(ix);
}

/* One manifest.json image. */
struct docker_image {
    struct sw_digest config;
    uint64_t config_size;
    struct img_descriptor *layers;
    size_t nlayers;
    struct sw_digest *diff_ids;
    size_t ndiff_ids;
};

static void
docker_image_clear(struct docker_image *di)
{
    for (size_t i = 0; i < di->nlayers; i++)
        img_descriptor_clear(&di->layers[i]);
    free(di->layers);
    free(di->diff_ids);
    memset(di, 0, sizeof *di);
}

/* Import a file named by manifest.json: the path is cleaned and must be inside the archive. */
static int
docker_file(struct importer *im, json_t *v, const char *what, struct sw_digest *out, uint64_t *size,
            struct sw_error **err)
{
    const char *raw = json_string_value(v);
    if (!raw || !*raw)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "manifest.json: %s is not a path", what);
    sw_autofree char *path = NULL;
    int r = clean_path(raw, &path, err);
    if (r < 0 || !*path)
        return r < 0 ? sw_error_wrap(err, "manifest.json: %s", what)
                     : sw_error_set(err, SW_EINVAL, 0, NULL, "manifest.json: %s is \"%s\"", what,
                                    raw);
    struct sw_digest named;
    bool by_name = blob_path_digest(path, &named);
    if ((r = src_import(&im->src, path, by_name ? &named : NULL, out, size, err)) < 0)
        return sw_error_wrap(err, "manifest.json: %s", what);
    return 0;
}

static int
docker_diff_ids(struct importer *im, struct docker_image *di, struct loaded_image *li,
                struct sw_error **err)
{
    json_t *cfg = NULL;
    int r = store_json_read(im->st, &di->config, EXP_DOC_MAX, &cfg, err);
    if (r < 0)
        return sw_error_wrap(err, "image config");
    json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_array(ids)) {
        json_decref(cfg);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "image config %s has no rootfs.diff_ids",
                            di->config.str);
    }
    di->ndiff_ids = json_array_size(ids);
    di->diff_ids = calloc(di->ndiff_ids ? di->ndiff_ids : 1, sizeof *di->diff_ids);
    if (!di->diff_ids)
        r = sw_error_oom(err);
    for (size_t i = 0; r == 0 && i < di->ndiff_ids; i++) {
        const char *s = json_string_value(json_array_get(ids, i));
        if ((r = sw_digest_parse(&di->diff_ids[i], s ? s : "", err)) < 0)
            sw_error_wrap(err, "image config %s: rootfs.diff_ids[%zu]", di->config.str, i);
    }
    json_decref(cfg);
    if (r == 0)
        platform_from_config(im, &di->config, li);
    return r;
}

/* Check a layer against its diff_id; its media type follows from its compression. */
static int
docker_check_layer(struct importer *im, struct docker_image *di, size_t i, const char *shown,
                   struct sw_error **err)
{
    struct img_descriptor *l = &di->layers[i];
    const char *mt = IMG_MT_OCI_LAYER;
    if (strcmp(l->digest.str, di->diff_ids[i].str)) {
        sw_autoclose int fd = -1;
        int r = store_blob_open(im->st, &l->digest, &fd, NULL, err);
        struct sw_digest diff;
        enum exp_comp comp = EXP_COMP_NONE;
        if (r < 0 || (r = exp_decompress(fd, -1, &diff, NULL, &comp, err)) < 0)
            return sw_error_wrap(err, "layer %s", shown);
        if (strcmp(diff.str, di->diff_ids[i].str))
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "layer %s: its content has diff_id %s, but the config says %s",
                                shown, diff.str, di->diff_ids[i].str);
        mt = comp == EXP_COMP_ZSTD ? IMG_MT_OCI_LAYER_ZSTD : IMG_MT_OCI_LAYER_GZIP;
    }
    struct sw_digest d = l->digest;
    int64_t size = l->size;
    return img_descriptor_init(l, mt, &d, size, err);
}

static int
docker_layers(struct importer *im, json_t *layers, struct docker_image *di, struct sw_error **err)
{
    size_t n = json_array_size(layers);
    if (n != di->ndiff_ids)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "manifest.json lists %zu layers, but the config has %zu diff_ids", n,
                            di->ndiff_ids);
    di->layers = calloc(n ? n : 1, sizeof *di->layers);
    if (!di->layers)
        return sw_error_oom(err);
    di->nlayers = n;
    for (size_t i = 0; i < di->nlayers; i++) {
        char what[48];
        snprintf(what, sizeof what, "Layers[%zu]", i);
        uint64_t size = 0;
        struct img_descriptor *l = &di->layers[i];
        int r = docker_file(im, json_array_get(layers, i), what, &l->digest, &size, err);
        if (r < 0)
            return r;
        l->size = (int64_t)size;
        if ((r = docker_check_layer(im, di, i, json_string_value(json_array_get(layers, i)), err)) <
            0)
            return r;
    }
    return 0;
}

static bool
known_matches(const struct known_manifest *km, const struct docker_image *di)
{
    if (strcmp(km->m.config.digest.str, di->config.str) || km->m.nlayers != di->nlayers)
        return false;
    for (size_t i = 0; i < di->nlayers; i++)
        if (strcmp(km->m.layers[i].digest.str, di->layers[i].digest.str))
            return false;
    return true;
}

/* The image's manifest: the archive's own when index.json has it, else one written for it. */
static int
docker_manifest(struct importer *im, const struct known *k, struct docker_image *di,
                struct loaded_image *li, struct sw_error **err)
{
    for (size_t i = 0; i < k->n; i++) {
        if (known_matches(&k->v[i], di)) {
            li->media_type = strdup(k->v[i].media_type);
            li->digest = k->v[i].digest;
            li->size = k->v[i].size;
            return li->media_type ? 0 : sw_error_oom(err);
        }
    }
    struct img_descriptor cfg = {0};
    struct img_manifest m = {0};
    int r =
        img_descriptor_init(&cfg, IMG_MT_OCI_CONFIG, &di->config, (int64_t)di->config_size, err);
    if (r == 0)
        r = img_manifest_init(&m, &cfg, err);
    for (size_t i = 0; r == 0 && i < di->nlayers; i++)
        r = img_manifest_add_layer(&m, &di->layers[i], err);
    sw_autofree char *json = NULL;
    size_t len = 0;
    if (r == 0)
        r = img_manifest_to_json(&json, &len, &m, err);
    if (r == 0)
        r = store_blob_put(im->st, json, len, &li->digest, err);
    img_manifest_clear(&m);
    img_descriptor_clear(&cfg);
    if (r < 0)
        return r;
    li->size = len;
    li->media_type = strdup(IMG_MT_OCI_MANIFEST);
    return li->media_type ? 0 : sw_error_oom(err);
}

struct docker_plan {
    struct loaded_image li;
    json_t *tags; /* borrowed from manifest.json */
};

static int
docker_one(struct importer *im, json_t *e, size_t idx, const struct known *k,
           struct docker_plan *out, struct sw_error **err)
{
    if (!json_is_object(e))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "manifest.json[%zu] is not an object", idx);
    json_t *layers = json_object_get(e, "Layers");
    json_t *tags = json_object_get(e, "RepoTags");
    if (!json_is_array(layers) || (tags && !json_is_array(tags) && !json_is_null(tags)))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "manifest.json[%zu]: Layers must be an array of paths and "
                            "RepoTags an array of names",
                            idx);
    for (size_t i = 0; i < json_array_size(tags); i++)
        if (!json_is_string(json_array_get(tags, i)))
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "manifest.json[%zu]: RepoTags[%zu] is not a string", idx, i);
    struct docker_image di = {0};
    int r =
        docker_file(im, json_object_get(e, "Config"), "Config", &di.config, &di.config_size, err);
    if (r == 0)
        r = docker_diff_ids(im, &di, &out->li, err);
    if (r == 0)
        r = docker_layers(im, layers, &di, err);
    if (r == 0)
        r = docker_manifest(im, k, &di, &out->li, err);
    docker_image_clear(&di);
    out->tags = tags;
    return r;
}

static int
import_docker(struct importer *im, struct sw_error **err)
{
    sw_autofree char *data = NULL;
    size_t len = 0;
    int r = src_read(&im->src, "manifest.json", &data, &len, err);
    if (r < 0)
        return r;
    json_error_t je;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_array(doc)) {
        json_decref(doc);
        return sw_error_set(err, SW_EPARSE, 0, NULL, "manifest.json is not a JSON array%s%s",
                            doc ? "" : ": ", doc ? "" : je.text);
    }
    size_t n = json_array_size(doc);
    if (n > MAX_IMAGES) {
        json_decref(doc);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "manifest.json lists more than %d images",
                            MAX_IMAGES);
    }
    struct known k = {0};
    known_collect(im, &k);
    struct docker_plan *plan = calloc(n ? n : 1, sizeof *plan);
    if (!plan)
        r = sw_error_oom(err);
    /* First every image's blobs, then the tags: a failure tags nothing. */
    for (size_t i = 0; r == 0 && i < n; i++)
        r = docker_one(im, json_array_get(doc, i), i, &k, &plan[i], err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        json_t *tags = plan[i].tags;
        if (!json_array_size(tags))
            r = tag_image(im, &plan[i].li, NULL, err);
        for (size_t t = 0; r == 0 && t < json_array_size(tags); t++)
            r = tag_image(im, &plan[i].li, json_string_value(json_array_get(tags, t)), err);
    }
    for (size_t i = 0; plan && i < n; i++)
        loaded_image_clear(&plan[i].li);
    free(plan);
    known_free(&k);
    json_decref(doc);
    return r;
}

/* ---- entry point
 * ------------------------------------------------------------------------------------
 */

static int
do_import(struct importer *im, const char *src, struct sw_error **err)
{
    struct stat st;
    if (stat(src, &st) < 0)
        return sw_error_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, errno, NULL, "%s",
                            strerror(errno));
    int r;
    if (S_ISDIR(st.st_mode)) {
        im->src.dirfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (im->src.dirfd < 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "%s", strerror(errno));
    } else if ((r = scan_tar(&im->src, err)) < 0) {
        return r;
    }
    if (src_exists(&im->src, "manifest.json"))
        return import_docker(im, err);
    if (src_exists(&im->src, "index.json"))
        return import_oci(im, err);
    return sw_error_set(err, SW_EINVAL, 0, NULL,
                        "neither an OCI image layout (no index.json) nor a docker archive (no "
                        "manifest.json)");
}

int
export_import(struct store *st, const char *src, struct sw_strv *loaded_names,
              struct sw_error **err)
{
    if (!st || !src || !*src)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "load: no source given");
    struct importer im = {
        .src = {.st = st, .name = src, .dirfd = -1},
        .st = st,
        .loaded = loaded_names,
    };
    struct store_lock *lock = NULL;
    int r = store_build_lock(st, &lock, err);
    if (r == 0) {
        r = do_import(&im, src, err);
        store_build_unlock(lock);
    }
    source_free(&im.src);
    sw_strv_free(&im.done);
    if (r < 0)
        return sw_error_wrap(err, "loading %s", src);
    return 0;
}
