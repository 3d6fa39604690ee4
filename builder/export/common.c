/*
 * builder/export/common.c: destinations, files, layer decompression, the deterministic tar
 * writer and name forms shared by the exporters and the importer (export_internal.h).
 */
#include "export/export_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/ref.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define CHUNK (1u << 20)

/* ---- destinations ------------------------------------------------------------------------------
 */

int
exp_split_dest(const char *dest, char **dir, char **base, struct sw_error **err)
{
    size_t n = dest ? strlen(dest) : 0;
    while (n > 1 && dest[n - 1] == '/')
        n--;
    if (n == 0 || (n == 1 && dest[0] == '/'))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "\"%s\" is not a valid destination",
                            dest ? dest : "");
    size_t slash = n;
    while (slash > 0 && dest[slash - 1] != '/')
        slash--;
    const char *b = dest + slash;
    size_t blen = n - slash;
    if ((blen == 1 && b[0] == '.') || (blen == 2 && b[0] == '.' && b[1] == '.'))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "\"%s\" is not a valid destination: name a new file or directory",
                            dest);
    char *d = slash == 0 ? strdup(".") : slash == 1 ? strdup("/") : strndup(dest, slash - 1);
    char *bs = strndup(b, blen);
    if (!d || !bs) {
        free(d);
        free(bs);
        return sw_error_oom(err);
    }
    *dir = d;
    *base = bs;
    return 0;
}

int
exp_temp_file(const char *dir, const char *base, char **path, int *fd, struct sw_error **err)
{
    char *p = NULL;
    if (asprintf(&p, "%s/.%s.tmp-XXXXXX", dir, base) < 0)
        return sw_error_oom(err);
    int f = mkostemp(p, O_CLOEXEC);
    if (f < 0) {
        int e = errno;
        free(p);
        return sw_error_set(err, SW_EIO, e, NULL, "cannot create a file in %s: %s", dir,
                            strerror(e));
    }
    *path = p;
    *fd = f;
    return 0;
}

int
exp_temp_dir(const char *dir, const char *base, char **path, struct sw_error **err)
{
    char *p = NULL;
    if (asprintf(&p, "%s/.%s.tmp-XXXXXX", dir, base) < 0)
        return sw_error_oom(err);
    if (!mkdtemp(p)) {
        int e = errno;
        free(p);
        return sw_error_set(err, SW_EIO, e, NULL, "cannot create a directory in %s: %s", dir,
                            strerror(e));
    }
    *path = p;
    return 0;
}

int
exp_fsync_dir(const char *dir, struct sw_error **err)
{
    sw_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", dir, strerror(errno));
    if (fsync(fd) < 0 && errno != EINVAL)
        return sw_error_set(err, SW_EIO, errno, NULL, "fsync %s: %s", dir, strerror(errno));
    return 0;
}

int
exp_commit_file(int fd, const char *tmp, const char *dest, const char *dir, struct sw_error **err)
{
    int r = 0;
    if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
        r = sw_error_set(err, SW_EIO, errno, NULL, "writing %s: %s", dest, strerror(errno));
    if (close(fd) < 0 && r == 0)
        r = sw_error_set(err, SW_EIO, errno, NULL, "writing %s: %s", dest, strerror(errno));
    if (r == 0 && rename(tmp, dest) < 0)
        r = sw_error_set(err, SW_EIO, errno, NULL, "cannot create %s: %s", dest, strerror(errno));
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    return exp_fsync_dir(dir, err);
}

int
exp_path_state(const char *path, enum exp_path_state *out, struct sw_error **err)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) {
            *out = EXP_PATH_ABSENT;
            return 0;
        }
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        *out = EXP_PATH_OTHER;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", path, strerror(errno));
    *out = EXP_PATH_EMPTY_DIR;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            *out = EXP_PATH_DIR;
            break;
        }
    }
    closedir(d);
    return 0;
}

/* ---- files
 * ---------------------------------------------------------------------------------------
 */

int
exp_link_or_copy(const char *src, const char *dest, struct sw_error **err)
{
    if (link(src, dest) == 0 || errno == EEXIST)
        return 0;
    sw_autofree char *dir = NULL, *base = NULL, *tmp = NULL;
    int r = exp_split_dest(dest, &dir, &base, err);
    if (r < 0)
        return r;
    sw_autoclose int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", src, strerror(errno));
    int fd = -1;
    if ((r = exp_temp_file(dir, base, &tmp, &fd, err)) < 0)
        return r;
    if ((r = sw_copy_fd(in, fd, src, err)) < 0) {
        close(fd);
        unlink(tmp);
        return r;
    }
    return exp_commit_file(fd, tmp, dest, dir, err);
}

int
exp_write_file(const char *path, const void *data, size_t len, struct sw_error **err)
{
    sw_autofree char *dir = NULL, *base = NULL, *tmp = NULL;
    int r = exp_split_dest(path, &dir, &base, err);
    if (r < 0)
        return r;
    int fd = -1;
    if ((r = exp_temp_file(dir, base, &tmp, &fd, err)) < 0)
        return r;
    int e = sw_write_all(fd, data, len);
    if (e) {
        r = sw_error_set(err, SW_EIO, e, NULL, "writing %s: %s", path, strerror(e));
        close(fd);
        unlink(tmp);
        return r;
    }
    return exp_commit_file(fd, tmp, path, dir, err);
}

/* ---- layers
 * ---------------------------------------------------------------------------------------
 */

static int
decompress_run(struct archive *a, int out_fd, struct sw_hasher *h, uint64_t *size,
               enum exp_comp *comp, struct sw_error **err)
{
    struct archive_entry *ae;
    int r = archive_read_next_header(a, &ae);
    if (r == ARCHIVE_EOF) { /* an empty stream */
        *comp = EXP_COMP_NONE;
        return 0;
    }
    if (r < ARCHIVE_WARN)
        return sw_error_set(err, SW_EIO, archive_errno(a), NULL, "reading the layer: %s",
                            archive_error_string(a) ? archive_error_string(a) : "corrupt stream");
    switch (archive_filter_code(a, 0)) {
    case ARCHIVE_FILTER_GZIP:
        *comp = EXP_COMP_GZIP;
        break;
    case ARCHIVE_FILTER_ZSTD:
        *comp = EXP_COMP_ZSTD;
        break;
    default:
        *comp = EXP_COMP_NONE;
        break;
    }
    sw_autofree char *buf = malloc(CHUNK);
    if (!buf)
        return sw_error_oom(err);
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, CHUNK);
        if (n == 0)
            return 0;
        if (n < 0)
            return sw_error_set(err, SW_EIO, archive_errno(a), NULL, "decompressing the layer: %s",
                                archive_error_string(a) ? archive_error_string(a)
                                                        : "corrupt stream");
        if ((r = sw_hasher_update(h, buf, (size_t)n, err)) < 0)
            return r;
        int e = out_fd >= 0 ? sw_write_all(out_fd, buf, (size_t)n) : 0;
        if (e)
            return sw_error_set(err, SW_EIO, e, NULL, "writing the decompressed layer: %s",
                                strerror(e));
        *size += (uint64_t)n;
    }
}

int
exp_decompress(int in_fd, int out_fd, struct sw_digest *diff_id, uint64_t *size,
               enum exp_comp *comp, struct sw_error **err)
{
    struct sw_hasher *h = NULL;
    int r = sw_hasher_new(&h, err);
    if (r < 0)
        return r;
    struct archive *a = archive_read_new();
    if (!a) {
        sw_hasher_free(h);
        return sw_error_oom(err);
    }
    /* Only the built-in decompressors: libarchive's external-program fallbacks are not wanted. */
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_format_raw(a);
    uint64_t total = 0;
    enum exp_comp c = EXP_COMP_NONE;
    if (archive_read_open_fd(a, in_fd, 1 << 16) != ARCHIVE_OK)
        r = sw_error_set(err, SW_EIO, archive_errno(a), NULL, "reading the layer: %s",
                         archive_error_string(a) ? archive_error_string(a) : "cannot open");
    else
        r = decompress_run(a, out_fd, h, &total, &c, err);
    archive_read_free(a);
    if (r == 0)
        r = sw_hasher_final(h, diff_id, err);
    sw_hasher_free(h);
    if (r == 0) {
        if (size)
            *size = total;
        if (comp)
            *comp = c;
    }
    return r;
}

/* ---- the deterministic tar
 * -------------------------------------------------------------------------
 */

static int
tar_push(struct exp_tar *t, struct exp_tar_entry *e, struct sw_error **err)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct exp_tar_entry *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return sw_error_oom(err);
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = *e;
    return 0;
}

static bool
tar_has(const struct exp_tar *t, const char *path)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].path, path))
            return true;
    return false;
}

int
exp_tar_add_data(struct exp_tar *t, const char *path, const void *data, size_t len,
                 struct sw_error **err)
{
    struct exp_tar_entry e = {.path = strdup(path), .data = malloc(len ? len : 1), .len = len};
    if (!e.path || !e.data) {
        free(e.path);
        free(e.data);
        return sw_error_oom(err);
    }
    if (len)
        memcpy(e.data, data, len);
    int r = tar_push(t, &e, err);
    if (r < 0) {
        free(e.path);
        free(e.data);
    }
    return r;
}

int
exp_tar_add_file(struct exp_tar *t, const char *path, const char *src, uint64_t size,
                 struct sw_error **err)
{
    if (tar_has(t, path))
        return 0;
    struct exp_tar_entry e = {.path = strdup(path), .src = strdup(src), .size = size};
    if (!e.path || !e.src) {
        free(e.path);
        free(e.src);
        return sw_error_oom(err);
    }
    int r = tar_push(t, &e, err);
    if (r < 0) {
        free(e.path);
        free(e.src);
    }
    return r;
}

static int
cmp_tar_entry(const void *a, const void *b)
{
    return strcmp(((const struct exp_tar_entry *)a)->path, ((const struct exp_tar_entry *)b)->path);
}

/* Add a directory entry for every missing parent. */
static int
tar_add_parents(struct exp_tar *t, struct sw_error **err)
{
    size_t n = t->n;
    for (size_t i = 0; i < n; i++) {
        const char *p = t->v[i].path;
        for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
            sw_autofree char *parent = strndup(p, (size_t)(s - p));
            if (!parent)
                return sw_error_oom(err);
            if (tar_has(t, parent))
                continue;
            struct exp_tar_entry e = {.path = sw_steal(&parent), .dir = true};
            int r = tar_push(t, &e, err);
            if (r < 0) {
                free(e.path);
                return r;
            }
        }
    }
    return 0;
}

static int
tar_fail(struct archive *a, const char *path, struct sw_error **err)
{
    const char *m = archive_error_string(a);
    return sw_error_set(err, SW_EIO, archive_errno(a), NULL, "writing the tar entry %s: %s", path,
                        m ? m : "libarchive error");
}

static int
tar_write_content(struct archive *a, const struct exp_tar_entry *e, char *buf,
                  struct sw_error **err)
{
    if (!e->src)
        return e->len && archive_write_data(a, e->data, e->len) != (la_ssize_t)e->len
                   ? tar_fail(a, e->path, err)
                   : 0;
    sw_autoclose int fd = open(e->src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", e->src, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", e->src, strerror(errno));
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size)
        return sw_error_set(err, SW_EIO, 0, NULL,
                            "%s: expected a regular file of %llu bytes (the descriptor's size)",
                            e->src, (unsigned long long)e->size);
    for (uint64_t off = 0; off < e->size;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "reading %s: %s", e->src,
                                strerror(errno));
        if (n == 0)
            return sw_error_set(err, SW_EIO, 0, NULL, "%s shrank while being read", e->src);
        if (archive_write_data(a, buf, (size_t)n) != n)
            return tar_fail(a, e->path, err);
        off += (uint64_t)n;
    }
    return 0;
}

static int
tar_write_entries(struct archive *a, const struct exp_tar *t, int64_t mtime, struct sw_error **err)
{
    struct archive_entry *ae = archive_entry_new();
    char *buf = malloc(CHUNK);
    int r = 0;
    if (!ae || !buf)
        r = sw_error_oom(err);
    for (size_t i = 0; r == 0 && i < t->n; i++) {
        const struct exp_tar_entry *e = &t->v[i];
        archive_entry_clear(ae);
        archive_entry_copy_pathname(ae, e->path);
        archive_entry_set_filetype(ae, e->dir ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(ae, e->dir ? 0755 : 0644);
        archive_entry_set_uid(ae, 0);
        archive_entry_set_gid(ae, 0);
        archive_entry_set_mtime(ae, (time_t)mtime, 0);
        archive_entry_set_size(ae, e->dir ? 0 : e->src ? (la_int64_t)e->size : (la_int64_t)e->len);
        if (archive_write_header(a, ae) != ARCHIVE_OK)
            r = tar_fail(a, e->path, err);
        if (r == 0 && !e->dir)
            r = tar_write_content(a, e, buf, err);
        if (r == 0 && archive_write_finish_entry(a) != ARCHIVE_OK)
            r = tar_fail(a, e->path, err);
    }
    archive_entry_free(ae);
    free(buf);
    return r;
}

int
exp_tar_write(struct exp_tar *t, int fd, int64_t mtime, struct sw_error **err)
{
    int r = tar_add_parents(t, err);
    if (r < 0)
        return r;
    if (t->n > 1)
        qsort(t->v, t->n, sizeof *t->v, cmp_tar_entry);
    for (size_t i = 1; i < t->n; i++)
        if (!strcmp(t->v[i - 1].path, t->v[i].path))
            return sw_error_set(err, SW_EINTERNAL, 0, NULL, "tar entry %s added twice",
                                t->v[i].path);
    struct archive *a = archive_write_new();
    if (!a)
        return sw_error_oom(err);
    /* ustar headers, PAX records only where ustar cannot express something (huge files). */
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_add_filter_none(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK)
        r = tar_fail(a, "(start)", err);
    if (r == 0)
        r = tar_write_entries(a, t, mtime < 0 ? 0 : mtime, err);
    if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
        r = tar_fail(a, "(end)", err);
    archive_write_free(a);
    return r;
}

void
exp_tar_free(struct exp_tar *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].path);
        free(t->v[i].data);
        free(t->v[i].src);
    }
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* ---- names
 * -------------------------------------------------------------------------------------------
 */

int
exp_name_forms(const char *name, char **full, char **tag, char **familiar, struct sw_error **err)
{
    struct img_ref *ref = NULL;
    int r = img_ref_parse(&ref, name, err);
    if (r < 0)
        return sw_error_wrap(err, "image name \"%s\"", name);
    if (ref->has_digest || !ref->tag) {
        img_ref_free(ref);
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "image name \"%s\": a name given to an exported or loaded image needs "
                            "a tag and no digest",
                            name);
    }
    char *f = full ? img_ref_string_full(ref) : NULL;
    char *t = tag ? strdup(ref->tag) : NULL;
    char *fam = familiar ? img_ref_string_familiar(ref) : NULL;
    img_ref_free(ref);
    if ((full && !f) || (tag && !t) || (familiar && !fam)) {
        free(f);
        free(t);
        free(fam);
        return sw_error_oom(err);
    }
    if (full)
        *full = f;
    if (tag)
        *tag = t;
    if (familiar)
        *familiar = fam;
    return 0;
}

static bool
digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int
exp_parse_time(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec;
    if (!s || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return -SW_EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -SW_EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
            return -SW_EINVAL;
        offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -SW_EINVAL;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -SW_EINVAL;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    *out = (int64_t)timegm(&tm) - offset;
    return 0;
}
