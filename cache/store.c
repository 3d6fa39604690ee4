/*
 * cache/store.c: opening the store, the blob writer, blob reads and JSON blobs.
 * Tags live in store_index.c, verification and garbage collection in store_gc.c.
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../builder/util/cleanup.h"
#include "../builder/util/fs.h"

#define LAYOUT_VERSION "1.0.0"
#define BLOB_TMP_PREFIX "blob-"
#define READ_CHUNK ((size_t)1 << 20)

/* ---- small helpers ----------------------------------------------------------------------------
 */

int
store__io_error(struct sw_error **err, int e, const char *fmt, ...)
{
    char *what = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&what, fmt, ap);
    va_end(ap);
    if (n < 0)
        return sw_error_oom(err);
    int r = sw_error_set(err, SW_EIO, e, NULL, "%s: %s", what, strerror(e));
    free(what);
    return r;
}

/* read(2) exactly len bytes; 0, an errno, or -1 when the file ended early. */
static int
read_all(int fd, void *data, size_t len)
{
    char *p = data;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
check_digest(const struct sw_digest *d, struct sw_error **err)
{
    if (!d || !sw_digest_valid(d->str))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid digest \"%s\"",
                            d ? d->str : "(null)");
    return 0;
}

static int
not_found(struct sw_error **err, const struct sw_digest *d)
{
    return sw_error_set(err, SW_ENOTFOUND, ENOENT, NULL, "blob %s not found in the store", d->str);
}

int
store__read_at(int dirfd, const char *name, const char *shown, size_t max, char **out,
               size_t *out_len, struct sw_error **err)
{
    sw_autoclose int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return sw_error_set(err, SW_ENOTFOUND, ENOENT, NULL, "%s: not found", shown);
        return store__io_error(err, errno, "opening %s", shown);
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return store__io_error(err, errno, "reading %s", shown);
    if (!S_ISREG(sb.st_mode))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s: not a regular file", shown);
    if ((uint64_t)sb.st_size > max)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s: %lld bytes, more than the %zu allowed",
                            shown, (long long)sb.st_size, max);
    size_t len = (size_t)sb.st_size;
    sw_autofree char *buf = malloc(len + 1);
    if (!buf)
        return sw_error_oom(err);
    int e = read_all(fd, buf, len);
    if (e > 0)
        return store__io_error(err, e, "reading %s", shown);
    if (e < 0)
        return sw_error_set(err, SW_EIO, EIO, NULL, "reading %s: file shrank while read", shown);
    buf[len] = '\0';
    *out = sw_steal(&buf);
    if (out_len)
        *out_len = len;
    return 0;
}

int
store__replace_file(struct store *st, const char *name, const void *data, size_t len,
                    struct sw_error **err)
{
    sw_autofree char *tmp = NULL;
    if (asprintf(&tmp, "%s/" STORE_ROOT_TMP_PREFIX "%s.XXXXXX", st->root, name) < 0)
        return sw_error_oom(err);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return store__io_error(err, errno, "writing %s/%s", st->root, name);
    int e = sw_write_all(fd, data, len);
    if (!e && fchmod(fd, 0644) < 0)
        e = errno;
    if (!e && fsync(fd) < 0)
        e = errno;
    if (close(fd) < 0 && !e)
        e = errno;
    if (!e && renameat(AT_FDCWD, tmp, st->rootfd, name) < 0)
        e = errno;
    if (e) {
        unlink(tmp);
        return store__io_error(err, e, "writing %s/%s", st->root, name);
    }
    if (fsync(st->rootfd) < 0)
        return store__io_error(err, errno, "writing %s/%s: syncing the directory", st->root, name);
    return 0;
}

int
store__lock(struct store *st, const char *name, int how, int *out_fd, struct sw_error **err)
{
    int fd = openat(st->locksfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return store__io_error(err, errno, "opening %s/locks/%s", st->root, name);
    while (flock(fd, how) < 0) {
        int e = errno;
        if (e == EINTR)
            continue;
        close(fd);
        if (e == EWOULDBLOCK && (how & LOCK_NB))
            return 1;
        return store__io_error(err, e, "locking %s/locks/%s", st->root, name);
    }
    *out_fd = fd;
    return 0;
}

/* ---- the default root -------------------------------------------------------------------------
 */

int
store_default_root(char **out, struct sw_error **err)
{
    char *s = NULL;
    const char *env = getenv("SLIPWAY_ROOT");
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;
    if (env && *env)
        n = asprintf(&s, "%s", env);
    else if (geteuid() == 0)
        n = asprintf(&s, "/var/lib/slipway");
    else if (xdg && xdg[0] == '/')
        n = asprintf(&s, "%s/slipway", xdg);
    else if (home && home[0] == '/')
        n = asprintf(&s, "%s/.local/share/slipway", home);
    else
        return sw_error_set(err, SW_ENOTFOUND, 0, NULL,
                            "cannot tell where the store is: set SLIPWAY_ROOT or HOME");
    if (n < 0)
        return sw_error_oom(err);
    *out = s;
    return 0;
}

/* ---- opening ----------------------------------------------------------------------------------
 */

/* mkdir -p: missing components are created with `mode`. */
static int
mkdir_p(const char *path, mode_t mode, struct sw_error **err)
{
    sw_autofree char *p = strdup(path);
    if (!p)
        return sw_error_oom(err);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return store__io_error(err, errno, "creating the store directory %s", p);
        *s = c;
        if (!c)
            break;
    }
    return 0;
}

/* Create dir `name` under dirfd if missing (with exactly `mode` when created) and open it. */
static int
ensure_dir(int dirfd, const char *name, mode_t mode, const char *shown, int *out_fd,
           struct sw_error **err)
{
    if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
        return store__io_error(err, errno, "creating %s", shown);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return store__io_error(err, errno, "opening %s", shown);
    *out_fd = fd;
    return 0;
}

static bool
exists_at(int dirfd, const char *name)
{
    struct stat sb;
    return fstatat(dirfd, name, &sb, 0) == 0;
}

static int
check_layout_file(struct store *st, struct sw_error **err)
{
    sw_autofree char *shown = NULL;
    if (asprintf(&shown, "%s/" STORE_LAYOUT_FILE, st->root) < 0)
        return sw_error_oom(err);
    sw_autofree char *text = NULL;
    size_t len = 0;
    int r = store__read_at(st->rootfd, STORE_LAYOUT_FILE, shown, 1 << 16, &text, &len, err);
    if (r < 0)
        return r;
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    if (!j)
        return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: invalid JSON: %s (line %d, column %d)",
                            shown, jerr.text, jerr.line, jerr.column);
    const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
    if (!v)
        r = sw_error_set(err, SW_EPARSE, 0, NULL, "%s: no imageLayoutVersion: not an OCI layout",
                         shown);
    else if (strcmp(v, LAYOUT_VERSION) != 0)
        r = sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                         "%s: unsupported imageLayoutVersion \"%s\" (slipway supports \"%s\")",
                         shown, v, LAYOUT_VERSION);
    json_decref(j);
    return r;
}

/* Write oci-layout and an empty index.json where missing, under the index lock. */
static int
create_layout(struct store *st, struct sw_error **err)
{
    sw_autoclose int lockfd = -1;
    int r = store__lock(st, "index.lock", LOCK_EX, &lockfd, err);
    if (r < 0)
        return r;
    if (!exists_at(st->rootfd, STORE_LAYOUT_FILE)) {
        static const char layout[] = "{\"imageLayoutVersion\":\"" LAYOUT_VERSION "\"}";
        r = store__replace_file(st, STORE_LAYOUT_FILE, layout, sizeof layout - 1, err);
        if (r < 0)
            return r;
    }
    if (!exists_at(st->rootfd, STORE_INDEX_FILE)) {
        static const char index[] =
            "{\n  \"manifests\": [],\n  \"mediaType\": \"" STORE_MT_OCI_INDEX
            "\",\n  \"schemaVersion\": 2\n}\n";
        r = store__replace_file(st, STORE_INDEX_FILE, index, sizeof index - 1, err);
    }
    return r;
}

/* Everything store_open does once st->root is set: see store.h. */
static int
open_layout(struct store *st, struct sw_error **err)
{
    int r = mkdir_p(st->root, 0700, err);
    if (r < 0)
        return r;
    st->rootfd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->rootfd < 0)
        return store__io_error(err, errno, "opening the store %s", st->root);

    /* Validate what is there before creating anything. */
    bool has_layout = exists_at(st->rootfd, STORE_LAYOUT_FILE);
    bool has_index = exists_at(st->rootfd, STORE_INDEX_FILE);
    if (!has_layout && has_index)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "%s/" STORE_LAYOUT_FILE ": missing, but %s/" STORE_INDEX_FILE
                            " exists: not an OCI image layout",
                            st->root, st->root);
    if (has_layout && (r = check_layout_file(st, err)) < 0)
        return r;

    sw_autofree char *locks = NULL, *blobs = NULL, *tmp = NULL;
    if (asprintf(&locks, "%s/locks", st->root) < 0 ||
        asprintf(&blobs, "%s/blobs/sha256", st->root) < 0 || asprintf(&tmp, "%s/tmp", st->root) < 0)
        return sw_error_oom(err);
    if ((r = ensure_dir(st->rootfd, "locks", 0700, locks, &st->locksfd, err)) < 0)
        return r;
    if (!has_layout || !has_index) {
        if ((r = create_layout(st, err)) < 0)
            return r;
        if (!has_layout && (r = check_layout_file(st, err)) < 0)
            return r;
    }
    json_t *idx = NULL;
    if ((r = store__index_load(st, &idx, err)) < 0)
        return r;
    json_decref(idx);

    sw_autoclose int blobsdir = -1;
    if ((r = ensure_dir(st->rootfd, "blobs", 0755, blobs, &blobsdir, err)) < 0 ||
        (r = ensure_dir(blobsdir, "sha256", 0755, blobs, &st->blobsfd, err)) < 0)
        return r;
    return ensure_dir(st->rootfd, "tmp", 0700, tmp, &st->tmpfd, err);
}

int
store_open(struct store **out, const char *root, struct sw_error **err)
{
    if (!root || !*root)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "the store root is empty");
    struct store *st = calloc(1, sizeof *st);
    if (!st)
        return sw_error_oom(err);
    st->rootfd = st->blobsfd = st->tmpfd = st->locksfd = -1;
    st->root = strdup(root);
    if (!st->root) {
        store_close(st);
        return sw_error_oom(err);
    }
    for (size_t n = strlen(st->root); n > 1 && st->root[n - 1] == '/'; n--)
        st->root[n - 1] = '\0';
    int r = open_layout(st, err);
    if (r < 0) {
        store_close(st);
        return r;
    }
    *out = st;
    return 0;
}

void
store_close(struct store *st)
{
    if (!st)
        return;
    int fds[] = {st->rootfd, st->blobsfd, st->tmpfd, st->locksfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(st->root);
    free(st);
}

const char *
store_root(const struct store *st)
{
    return st->root;
}

/* ---- the blob writer --------------------------------------------------------------------------
 */

struct store_writer {
    struct store *st; /* borrowed */
    int fd;
    char *path; /* the temporary file; NULL once removed */
    struct sw_hasher *h;
    uint64_t size;
    /* Set once a write failed: the temporary file is gone and every later call repeats this. */
    int failed_code, failed_errno;
    char *failed_msg;
};

static void
writer_drop_file(struct store_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->path)
        unlink(w->path);
    free(w->path);
    w->path = NULL;
}

static void
writer_free(struct store_writer *w)
{
    writer_drop_file(w);
    sw_hasher_free(w->h);
    free(w->failed_msg);
    free(w);
}

/* Spoil the writer with the error just set in *e (or an I/O error about errno `sys`). */
static int
writer_fail(struct store_writer *w, int sys, struct sw_error **err)
{
    writer_drop_file(w);
    if (!w->failed_code) {
        w->failed_code = SW_EIO;
        w->failed_errno = sys;
        if (asprintf(&w->failed_msg, "writing blob: %s", strerror(sys)) < 0)
            w->failed_msg = NULL;
    }
    return sw_error_set(err, w->failed_code, w->failed_errno, NULL, "%s",
                        w->failed_msg ? w->failed_msg : "writing blob failed");
}

int
store_writer_begin(struct store *st, struct store_writer **out, struct sw_error **err)
{
    struct store_writer *w = calloc(1, sizeof *w);
    if (!w)
        return sw_error_oom(err);
    w->st = st;
    w->fd = -1;
    int r = sw_hasher_new(&w->h, err);
    if (r < 0)
        goto fail;
    char *path = NULL;
    if (asprintf(&path, "%s/tmp/" BLOB_TMP_PREFIX "XXXXXX", st->root) < 0) {
        r = sw_error_oom(err);
        goto fail;
    }
    w->fd = mkostemp(path, O_CLOEXEC);
    if (w->fd < 0) {
        r = store__io_error(err, errno, "writing blob: creating a file in %s/tmp", st->root);
        free(path);
        goto fail;
    }
    w->path = path;
    *out = w;
    return 0;
fail:
    writer_free(w);
    return r;
}

int
store_writer_write(struct store_writer *w, const void *data, size_t len, struct sw_error **err)
{
    if (w->failed_code)
        return writer_fail(w, w->failed_errno, err);
    int e = sw_write_all(w->fd, data, len);
    if (e)
        return writer_fail(w, e, err);
    struct sw_error *herr = NULL;
    if (sw_hasher_update(w->h, data, len, &herr) < 0) {
        w->failed_code = herr->code;
        w->failed_msg = strdup(herr->msg ? herr->msg : "hashing failed");
        sw_error_free(herr);
        return writer_fail(w, 0, err);
    }
    w->size += len;
    return 0;
}

uint64_t
store_writer_size(const struct store_writer *w)
{
    return w->size;
}

int
store_writer_commit(struct store_writer *w, const struct sw_digest *expected,
                    struct sw_digest *out_digest, uint64_t *out_size, struct sw_error **err)
{
    struct store *st = w->st;
    int r = 0;
    if (w->failed_code) {
        r = writer_fail(w, w->failed_errno, err);
        goto done;
    }
    if (expected && (r = check_digest(expected, err)) < 0)
        goto done;
    /* Flush to disk first: on some file systems a full disk shows only here. */
    if (fchmod(w->fd, 0644) < 0 || fsync(w->fd) < 0) {
        r = writer_fail(w, errno, err);
        goto done;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) < 0) {
        r = writer_fail(w, errno, err);
        goto done;
    }
    struct sw_digest got;
    if ((r = sw_hasher_final(w->h, &got, err)) < 0)
        goto done;
    if (expected && strcmp(expected->str, got.str) != 0) {
        r = sw_error_set(err, SW_EINVAL, 0, NULL,
                         "blob digest mismatch: expected %s, got %s (%llu bytes)", expected->str,
                         got.str, (unsigned long long)w->size);
        goto done;
    }
    struct stat sb;
    if (fstatat(st->blobsfd, sw_digest_hex(&got), &sb, 0) == 0 && S_ISREG(sb.st_mode) &&
        (uint64_t)sb.st_size == w->size) {
        /* Already there (content-addressed, so the same bytes): drop ours. */
    } else {
        if (renameat(AT_FDCWD, w->path, st->blobsfd, sw_digest_hex(&got)) < 0) {
            r = store__io_error(err, errno, "storing blob %s", got.str);
            goto done;
        }
        free(w->path);
        w->path = NULL;
        if (fsync(st->blobsfd) < 0) {
            r = store__io_error(err, errno, "storing blob %s: syncing %s/blobs/sha256", got.str,
                                st->root);
            goto done;
        }
    }
    if (out_digest)
        *out_digest = got;
    if (out_size)
        *out_size = w->size;
done:
    writer_free(w);
    return r;
}

void
store_writer_abort(struct store_writer *w)
{
    if (w)
        writer_free(w);
}

/* ---- blobs ------------------------------------------------------------------------------------
 */

int
store_blob_put(struct store *st, const void *data, size_t len, struct sw_digest *out,
               struct sw_error **err)
{
    struct sw_digest d;
    int r = sw_digest_bytes(&d, data, len, err);
    if (r < 0)
        return r;
    if (!store_blob_exists(st, &d)) {
        struct store_writer *w = NULL;
        if ((r = store_writer_begin(st, &w, err)) < 0)
            return r;
        if ((r = store_writer_write(w, data, len, err)) < 0) {
            store_writer_abort(w);
            return r;
        }
        if ((r = store_writer_commit(w, &d, NULL, NULL, err)) < 0)
            return r;
    }
    if (out)
        *out = d;
    return 0;
}

bool
store_blob_exists(struct store *st, const struct sw_digest *d)
{
    struct stat sb;
    return d && sw_digest_valid(d->str) && fstatat(st->blobsfd, sw_digest_hex(d), &sb, 0) == 0 &&
           S_ISREG(sb.st_mode);
}

int
store_blob_path(struct store *st, const struct sw_digest *d, char **out, struct sw_error **err)
{
    int r = check_digest(d, err);
    if (r < 0)
        return r;
    if (asprintf(out, "%s/blobs/sha256/%s", st->root, sw_digest_hex(d)) < 0)
        return sw_error_oom(err);
    return 0;
}

int
store_blob_open(struct store *st, const struct sw_digest *d, int *out_fd, uint64_t *out_size,
                struct sw_error **err)
{
    int r = check_digest(d, err);
    if (r < 0)
        return r;
    int fd = openat(st->blobsfd, sw_digest_hex(d), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return not_found(err, d);
        return store__io_error(err, errno, "opening blob %s", d->str);
    }
    struct stat sb;
    int e = fstat(fd, &sb) < 0 ? errno : S_ISREG(sb.st_mode) ? 0 : EINVAL;
    if (e) {
        close(fd);
        return store__io_error(err, e, "opening blob %s", d->str);
    }
    if (out_size)
        *out_size = (uint64_t)sb.st_size;
    *out_fd = fd;
    return 0;
}

int
store_blob_size(struct store *st, const struct sw_digest *d, uint64_t *out, struct sw_error **err)
{
    int r = check_digest(d, err);
    if (r < 0)
        return r;
    struct stat sb;
    if (fstatat(st->blobsfd, sw_digest_hex(d), &sb, 0) < 0) {
        if (errno == ENOENT)
            return not_found(err, d);
        return store__io_error(err, errno, "blob %s", d->str);
    }
    *out = (uint64_t)sb.st_size;
    return 0;
}

int
store_blob_read(struct store *st, const struct sw_digest *d, size_t max_size, void **out,
                size_t *out_len, struct sw_error **err)
{
    int r = check_digest(d, err);
    if (r < 0)
        return r;
    sw_autofree char *shown = NULL;
    if (asprintf(&shown, "blob %s", d->str) < 0)
        return sw_error_oom(err);
    sw_autofree char *buf = NULL;
    size_t len = 0;
    struct sw_error *rerr = NULL;
    r = store__read_at(st->blobsfd, sw_digest_hex(d), shown, max_size, &buf, &len, &rerr);
    if (r < 0) {
        if (r == -SW_ENOTFOUND) {
            sw_error_free(rerr);
            return not_found(err, d);
        }
        if (err && !*err)
            *err = rerr;
        else
            sw_error_free(rerr);
        return r;
    }
    struct sw_digest got;
    if ((r = sw_digest_bytes(&got, buf, len, err)) < 0)
        return r;
    if (strcmp(got.str, d->str) != 0)
        return sw_error_set(err, SW_EIO, EBADMSG, NULL,
                            "blob %s is corrupt: its content hashes to %s", d->str, got.str);
    *out = sw_steal(&buf);
    if (out_len)
        *out_len = len;
    return 0;
}

/* ---- JSON blobs -------------------------------------------------------------------------------
 */

int
store_json_read(struct store *st, const struct sw_digest *d, size_t max_size, json_t **out,
                struct sw_error **err)
{
    sw_autofree void *buf = NULL;
    size_t len = 0;
    int r = store_blob_read(st, d, max_size, &buf, &len, err);
    if (r < 0)
        return r;
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, 0, &jerr);
    if (!j)
        return sw_error_set(err, SW_EPARSE, 0, NULL,
                            "blob %s: invalid JSON: %s (line %d, column %d)", d->str, jerr.text,
                            jerr.line, jerr.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return sw_error_set(err, SW_EPARSE, 0, NULL, "blob %s: not a JSON object", d->str);
    }
    *out = j;
    return 0;
}

int
store_json_put(struct store *st, const json_t *json, struct sw_digest *out_digest,
               uint64_t *out_size, struct sw_error **err)
{
    sw_autofree char *text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "cannot encode JSON blob (not an object or array, or invalid UTF-8)");
    size_t len = strlen(text);
    int r = store_blob_put(st, text, len, out_digest, err);
    if (r < 0)
        return r;
    if (out_size)
        *out_size = len;
    return 0;
}
