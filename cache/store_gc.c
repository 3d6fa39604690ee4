/*
 * cache/store_gc.c: walking what index.json reaches, verification, garbage collection and the
 * build lock (a shared flock on locks/gc.lock; gc takes it exclusively).
 *
 * Lock order: gc.lock before index.lock. Builds hold gc.lock shared and take index.lock only
 * while tagging; store_gc holds gc.lock exclusively and index.lock for the mark and the sweep.
 */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../builder/util/cleanup.h"
#include "../builder/util/fs.h"

#define GC_TMP_MAX_AGE 3600 /* seconds: older temporary files are stale */
#define GC_LOCK_TRIES 5
#define GC_LOCK_PAUSE_NS 100000000L /* between tries: 5 x 100 ms */
#define WALK_MAX_DEPTH 16
#define GC_COUNT_MAX_DEPTH 64 /* stale trees: bytes below this depth are removed, not counted */
#define VERIFY_SHOWN_PROBLEMS 5

/* ---- the build lock ---------------------------------------------------------------------------
 */

struct store_lock {
    int fd;
};

int
store_build_lock(struct store *st, struct store_lock **out, struct sw_error **err)
{
    struct store_lock *l = calloc(1, sizeof *l);
    if (!l)
        return sw_error_oom(err);
    int r = store__lock(st, "gc.lock", LOCK_SH, &l->fd, err);
    if (r < 0) {
        free(l);
        return r;
    }
    *out = l;
    return 0;
}

void
store_build_unlock(struct store_lock *l)
{
    if (!l)
        return;
    close(l->fd);
    free(l);
}

/* ---- directory helpers ------------------------------------------------------------------------
 */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory (without . and ..), sorted. */
static int
list_dir(int dirfd, const char *shown, struct sw_strv *out, struct sw_error **err)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return store__io_error(err, e, "listing %s", shown);
    }
    int r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (!de) {
            if (errno)
                r = store__io_error(err, errno, "listing %s", shown);
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (sw_strv_push(out, de->d_name) < 0) {
            r = sw_error_oom(err);
            break;
        }
    }
    closedir(dir);
    if (r == 0 && out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return r;
}

static bool
hex_name(const char *s)
{
    struct sw_digest d;
    if (strlen(s) != SW_DIGEST_HEX_LEN)
        return false;
    snprintf(d.str, sizeof d.str, "sha256:%s", s);
    return sw_digest_valid(d.str);
}

/* Hash the file blobs/sha256/<name>. */
static int
hash_blob(struct store *st, const char *name, struct sw_digest *out, struct sw_error **err)
{
    sw_autoclose int fd = openat(st->blobsfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return store__io_error(err, errno, "reading %s/blobs/sha256/%s", st->root, name);
    sw_autofree char *buf = malloc(1 << 20);
    struct sw_hasher *h = NULL;
    if (!buf)
        return sw_error_oom(err);
    int r = sw_hasher_new(&h, err);
    while (r == 0) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = store__io_error(err, errno, "reading %s/blobs/sha256/%s", st->root, name);
        else if (n == 0)
            break;
        else
            r = sw_hasher_update(h, buf, (size_t)n, err);
    }
    if (r == 0)
        r = sw_hasher_final(h, out, err);
    sw_hasher_free(h);
    return r;
}

/* ---- walking what index.json reaches ----------------------------------------------------------
 */

struct walk {
    struct store *st;
    json_t *seen;             /* hex -> true: every digest reached */
    json_t *bad;              /* hex -> true: blobs known corrupt (verify), not read again */
    struct sw_strv *problems; /* verify: collect problems; NULL (gc): fail on an unreadable
                                 manifest or index, ignore everything else */
};

/* Record a problem (verify) or fail with it (gc). */
__attribute__((format(printf, 3, 4))) static int
problem(struct walk *w, struct sw_error **err, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return sw_error_oom(err);
    if (w->problems)
        return sw_strv_push_owned(w->problems, msg) < 0 ? sw_error_oom(err) : 0;
    int r = sw_error_set(err, SW_EIO, EBADMSG, NULL, "%s", msg);
    free(msg);
    return r;
}

static bool
is_index_type(const char *mt)
{
    return mt && (!strcmp(mt, STORE_MT_OCI_INDEX) || !strcmp(mt, STORE_MT_DOCKER_LIST));
}

static bool
is_manifest_type(const char *mt)
{
    return mt && (!strcmp(mt, STORE_MT_OCI_MANIFEST) || !strcmp(mt, STORE_MT_DOCKER_MANIFEST));
}

static int walk_desc(struct walk *w, const json_t *desc, const char *from, int depth,
                     struct sw_error **err);

static int
walk_array(struct walk *w, const json_t *arr, const char *key, const char *from, int depth,
           struct sw_error **err)
{
    if (!json_is_array(arr))
        return problem(w, err, "%s: no %s array", from, key);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        char *where = NULL;
        if (asprintf(&where, "%s %s[%zu]", from, key, i) < 0)
            return sw_error_oom(err);
        int r = walk_desc(w, e, where, depth, err);
        free(where);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
walk_desc(struct walk *w, const json_t *desc, const char *from, int depth, struct sw_error **err)
{
    const char *dg = json_string_value(json_object_get(desc, "digest"));
    const char *mt = json_string_value(json_object_get(desc, "mediaType"));
    json_t *jsize = json_object_get(desc, "size");
    if (!json_is_object(desc) || !sw_digest_valid(dg) || !json_is_integer(jsize))
        return w->problems ? problem(w, err, "%s: not a sha256 descriptor", from) : 0;
    bool nested = is_index_type(mt) || is_manifest_type(mt);
    const char *hex = dg + 7;
    if (json_object_get(w->seen, hex))
        return 0;
    if (json_object_set_new(w->seen, hex, json_true()) < 0)
        return sw_error_oom(err);

    struct stat sb;
    if (fstatat(w->st->blobsfd, hex, &sb, 0) < 0 || !S_ISREG(sb.st_mode)) {
        /* Foreign / non-distributable layers may live only at their urls. */
        if (json_array_size(json_object_get(desc, "urls")) > 0)
            return 0;
        if (!w->problems && !nested)
            return 0;
        return problem(w, err, "blob %s (%s, referenced by %s) is missing", dg, mt ? mt : "?",
                       from);
    }
    if ((json_int_t)sb.st_size != json_integer_value(jsize) && w->problems)
        return problem(w, err, "blob %s (referenced by %s) is %lld bytes, the descriptor says %lld",
                       dg, from, (long long)sb.st_size, (long long)json_integer_value(jsize));
    if (!nested || json_object_get(w->bad, hex))
        return 0;
    if (depth >= WALK_MAX_DEPTH)
        return problem(w, err, "%s: indexes nested more than %d deep", from, WALK_MAX_DEPTH);

    struct sw_digest d;
    memcpy(d.str, dg, sizeof d.str);
    struct sw_error *rerr = NULL;
    json_auto_t *j = NULL;
    if (store_json_read(w->st, &d, STORE_WALK_MAX_SIZE, &j, &rerr) < 0) {
        int r = problem(w, err, "cannot read %s (referenced by %s): %s", dg, from,
                        rerr && rerr->msg ? rerr->msg : "failed");
        sw_error_free(rerr);
        return r;
    }
    char *self = NULL;
    if (asprintf(&self, "%s %s", is_index_type(mt) ? "index" : "manifest", dg) < 0)
        return sw_error_oom(err);
    int r;
    if (is_index_type(mt)) {
        r = walk_array(w, json_object_get(j, "manifests"), "manifests", self, depth + 1, err);
    } else {
        json_t *config = json_object_get(j, "config");
        r = config ? walk_desc(w, config, self, depth + 1, err)
                   : problem(w, err, "%s: no config", self);
        if (r == 0)
            r = walk_array(w, json_object_get(j, "layers"), "layers", self, depth + 1, err);
    }
    free(self);
    return r;
}

/* Walk everything index.json reaches into w->seen. */
static int
walk_index(struct walk *w, const json_t *idx, struct sw_error **err)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(idx, "manifests"), i, e)
    {
        const char *name = store__json_ref_name(e);
        char *from = NULL;
        int n = name ? asprintf(&from, "index.json manifests[%zu] (%s)", i, name)
                     : asprintf(&from, "index.json manifests[%zu]", i);
        if (n < 0)
            return sw_error_oom(err);
        int r = walk_desc(w, e, from, 0, err);
        free(from);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- verification -----------------------------------------------------------------------------
 */

void
store_verify_report_free(struct store_verify_report *r)
{
    if (!r)
        return;
    sw_strv_free(&r->problems);
    sw_strv_free(&r->temps);
    memset(r, 0, sizeof *r);
}

__attribute__((format(printf, 3, 4))) static int
push_fmt(struct sw_strv *v, struct sw_error **err, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0 || sw_strv_push_owned(v, msg) < 0)
        return sw_error_oom(err);
    return 0;
}

/* Hash every blob; corrupt ones go to rep->problems and to `bad`. */
static int
verify_blobs(struct store *st, struct store_verify_report *rep, json_t *bad, struct sw_error **err)
{
    sw_autofree char *shown = NULL;
    if (asprintf(&shown, "%s/blobs/sha256", st->root) < 0)
        return sw_error_oom(err);
    struct sw_strv names = {0};
    int r = list_dir(st->blobsfd, shown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        const char *name = names.v[i];
        struct stat sb;
        if (fstatat(st->blobsfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT) /* removed meanwhile: fine */
                r = store__io_error(err, errno, "%s/%s", shown, name);
            continue;
        }
        if (!hex_name(name) || !S_ISREG(sb.st_mode)) {
            r = push_fmt(&rep->problems, err, "blobs/sha256/%s: not a blob (%s)", name,
                         S_ISREG(sb.st_mode) ? "name is not a sha256 hex digest"
                                             : "not a regular file");
            continue;
        }
        struct sw_digest got;
        if ((r = hash_blob(st, name, &got, err)) < 0)
            break;
        rep->nblobs++;
        rep->nbytes += (uint64_t)sb.st_size;
        if (strcmp(sw_digest_hex(&got), name) != 0) {
            if (json_object_set_new(bad, name, json_true()) < 0)
                r = sw_error_oom(err);
            else
                r = push_fmt(&rep->problems, err,
                             "blob sha256:%s is corrupt: its content hashes to %s", name, got.str);
        }
    }
    sw_strv_free(&names);
    return r;
}

/* Leftover temporary files: everything in tmp/ and ROOT/.tmp-*. */
static int
list_temps(struct store *st, struct sw_strv *temps, struct sw_error **err)
{
    sw_autofree char *shown = NULL;
    if (asprintf(&shown, "%s/tmp", st->root) < 0)
        return sw_error_oom(err);
    struct sw_strv names = {0};
    int r = list_dir(st->tmpfd, shown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        r = push_fmt(temps, err, "tmp/%s", names.v[i]);
    sw_strv_free(&names);
    if (r == 0)
        r = list_dir(st->rootfd, st->root, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (!strncmp(names.v[i], STORE_ROOT_TMP_PREFIX, strlen(STORE_ROOT_TMP_PREFIX)))
            r = push_fmt(temps, err, "%s", names.v[i]);
    sw_strv_free(&names);
    return r;
}

static int
verify_error(struct store *st, const struct sw_strv *problems, struct sw_error **err)
{
    struct sw_buf b = {0};
    int bad = sw_buf_printf(&b, "store %s failed verification: %zu problem%s: ", st->root,
                            problems->n, problems->n == 1 ? "" : "s");
    for (size_t i = 0; i < problems->n && i < VERIFY_SHOWN_PROBLEMS; i++)
        bad |= sw_buf_printf(&b, "%s%s", i ? "; " : "", problems->v[i]);
    if (problems->n > VERIFY_SHOWN_PROBLEMS)
        bad |= sw_buf_printf(&b, "; and %zu more", problems->n - VERIFY_SHOWN_PROBLEMS);
    if (bad) {
        sw_buf_free(&b);
        return sw_error_oom(err);
    }
    int r = sw_error_set(err, SW_EIO, EBADMSG, NULL, "%s", sw_buf_cstr(&b));
    sw_buf_free(&b);
    return r;
}

int
store_verify(struct store *st, struct store_verify_report *report, struct sw_error **err)
{
    struct store_verify_report rep = {0};
    json_auto_t *seen = json_object();
    json_auto_t *bad = json_object();
    json_auto_t *idx = NULL;
    int r = seen && bad ? 0 : sw_error_oom(err);
    if (r == 0)
        r = verify_blobs(st, &rep, bad, err);
    if (r == 0) {
        struct sw_error *ierr = NULL;
        if (store__index_load(st, &idx, &ierr) < 0)
            r = push_fmt(&rep.problems, err, "%s", ierr && ierr->msg ? ierr->msg : "index.json");
        sw_error_free(ierr);
    }
    if (r == 0 && idx) {
        struct walk w = {.st = st, .seen = seen, .bad = bad, .problems = &rep.problems};
        r = walk_index(&w, idx, err);
        rep.nreachable = json_object_size(seen);
    }
    if (r == 0)
        r = list_temps(st, &rep.temps, err);
    if (r == 0 && rep.problems.n)
        r = verify_error(st, &rep.problems, err);
    if (report)
        *report = rep;
    else
        store_verify_report_free(&rep);
    return r;
}

/* ---- garbage collection -----------------------------------------------------------------------
 */

struct sweep {
    size_t count;
    uint64_t bytes;
};

/* Remove dirfd/name (a regular file), counting it; a file already gone is fine. */
static int
sweep_file(int dirfd, const char *name, const char *shown, struct sweep *sw, struct sw_error **err)
{
    struct stat sb;
    if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : store__io_error(err, errno, "%s/%s", shown, name);
    if (!S_ISREG(sb.st_mode))
        return 0;
    if (unlinkat(dirfd, name, 0) < 0)
        return errno == ENOENT ? 0 : store__io_error(err, errno, "removing %s/%s", shown, name);
    sw->count++;
    sw->bytes += (uint64_t)sb.st_size;
    return 0;
}

/* The size of the regular files below parent/name (best effort: for the report only). */
static uint64_t
tree_bytes(int parent, const char *name, int depth)
{
    struct stat sb;
    if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if (S_ISREG(sb.st_mode))
        return (uint64_t)sb.st_size;
    if (!S_ISDIR(sb.st_mode) || depth >= GC_COUNT_MAX_DEPTH)
        return 0;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    uint64_t n = 0;
    for (struct dirent *de; (de = readdir(dir));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n += tree_bytes(dirfd(dir), de->d_name, depth + 1);
    closedir(dir);
    return n;
}

/* Remove the directory dirfd/name (shown: the path of dirfd) and everything below it, counting it
 * as one entry with the size of its files. Symlinks are never followed and mount points never
 * crossed (a tree with one fails to go). A tree already gone, or not a directory, is left. */
static int
sweep_tree(int dirfd, const char *name, const char *shown, struct sweep *sw, struct sw_error **err)
{
    struct stat sb;
    if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : store__io_error(err, errno, "%s/%s", shown, name);
    if (!S_ISDIR(sb.st_mode))
        return 0;
    sw_autofree char *path = NULL;
    if (asprintf(&path, "%s/%s", shown, name) < 0)
        return sw_error_oom(err);
    uint64_t bytes = tree_bytes(dirfd, name, 0);
    int r = sw_rmtree(path, err);
    if (r < 0)
        return r;
    sw->count++;
    sw->bytes += bytes;
    return 0;
}

/*
 * What a build that died (SIGKILL, a crash, a power cut) leaves behind: its work directory
 * tmp/build-XXXXXX and, in each snapshot directory, RUN snapshots in progress (snap-XXXXXX) and
 * layers being extracted (.tmp-*). Committed snapshots are named by their 64-hex diff_id. gc runs
 * only while no build holds the build lock, so every one of these is stale, whatever its age.
 */
static int
sweep_build_leftovers(struct store *st, struct sweep *sw, struct sw_error **err)
{
    sw_autofree char *tmp = NULL;
    if (asprintf(&tmp, "%s/tmp", st->root) < 0)
        return sw_error_oom(err);
    struct sw_strv names = {0};
    int r = list_dir(st->tmpfd, tmp, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (!strncmp(names.v[i], "build-", 6))
            r = sweep_tree(st->tmpfd, names.v[i], tmp, sw, err);
    sw_strv_free(&names);

    static const char *const snapshot_dirs[] = {"snapshots/overlay", "snapshots/markers"};
    for (size_t k = 0; r == 0 && k < sizeof snapshot_dirs / sizeof snapshot_dirs[0]; k++) {
        sw_autoclose int fd =
            openat(st->rootfd, snapshot_dirs[k], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT)
                r = store__io_error(err, errno, "%s/%s", st->root, snapshot_dirs[k]);
            continue;
        }
        sw_autofree char *shown = NULL;
        if (asprintf(&shown, "%s/%s", st->root, snapshot_dirs[k]) < 0)
            return sw_error_oom(err);
        r = list_dir(fd, shown, &names, err);
        for (size_t i = 0; r == 0 && i < names.n; i++)
            if (!strncmp(names.v[i], "snap-", 5) || !strncmp(names.v[i], ".tmp-", 5))
                r = sweep_tree(fd, names.v[i], shown, sw, err);
        sw_strv_free(&names);
    }
    return r;
}

static int
gc_sweep(struct store *st, json_t *seen, struct sweep *sw, struct sw_error **err)
{
    sw_autofree char *blobs = NULL, *tmp = NULL;
    if (asprintf(&blobs, "%s/blobs/sha256", st->root) < 0 || asprintf(&tmp, "%s/tmp", st->root) < 0)
        return sw_error_oom(err);

    struct sw_strv names = {0};
    size_t before = sw->count;
    int r = list_dir(st->blobsfd, blobs, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (hex_name(names.v[i]) && !json_object_get(seen, names.v[i]))
            r = sweep_file(st->blobsfd, names.v[i], blobs, sw, err);
    sw_strv_free(&names);
    if (r == 0 && sw->count != before && fsync(st->blobsfd) < 0)
        r = store__io_error(err, errno, "syncing %s", blobs);

    /* Writers keep touching their temporary file; one untouched for an hour is abandoned. */
    time_t now = time(NULL);
    if (r == 0)
        r = list_dir(st->tmpfd, tmp, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        struct stat sb;
        if (fstatat(st->tmpfd, names.v[i], &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            now - sb.st_mtime > GC_TMP_MAX_AGE)
            r = sweep_file(st->tmpfd, names.v[i], tmp, sw, err);
    }
    sw_strv_free(&names);

    if (r == 0)
        r = sweep_build_leftovers(st, sw, err);

    /* Temporary files in the root are only written under index.lock, which we hold. */
    if (r == 0)
        r = list_dir(st->rootfd, st->root, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (!strncmp(names.v[i], STORE_ROOT_TMP_PREFIX, strlen(STORE_ROOT_TMP_PREFIX)))
            r = sweep_file(st->rootfd, names.v[i], st->root, sw, err);
    sw_strv_free(&names);
    return r;
}

int
store_gc(struct store *st, size_t *removed_count, uint64_t *removed_bytes, struct sw_error **err)
{
    sw_autoclose int gcfd = -1;
    for (int i = 0;; i++) {
        int r = store__lock(st, "gc.lock", LOCK_EX | LOCK_NB, &gcfd, err);
        if (r < 0)
            return r;
        if (r == 0)
            break;
        if (i + 1 == GC_LOCK_TRIES)
            return sw_error_set(err, SW_EIO, EWOULDBLOCK, NULL,
                                "the store is in use by a running build (%s/locks/gc.lock is "
                                "held): try again when it has finished",
                                st->root);
        struct timespec pause = {0, GC_LOCK_PAUSE_NS};
        nanosleep(&pause, NULL);
    }
    sw_autoclose int indexfd = -1;
    int r = store__lock(st, "index.lock", LOCK_EX, &indexfd, err);
    if (r < 0)
        return r;

    json_auto_t *idx = NULL;
    json_auto_t *seen = json_object();
    if (!seen)
        return sw_error_oom(err);
    struct walk w = {.st = st, .seen = seen};
    if ((r = store__index_load(st, &idx, err)) < 0 || (r = walk_index(&w, idx, err)) < 0) {
        if (err && *err)
            sw_error_wrap(err, "garbage collection stopped, nothing was removed");
        return r;
    }
    struct sweep sw = {0};
    r = gc_sweep(st, seen, &sw, err);
    if (removed_count)
        *removed_count = sw.count;
    if (removed_bytes)
        *removed_bytes = sw.bytes;
    return r;
}
