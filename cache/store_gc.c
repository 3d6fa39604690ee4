/*
 * cache/store_gc.c: walking what index.json reaches, verification, garbage collection and the
 * build lock (the build cache's usage and pruning are in store_cache.c) (a shared flock on
 * locks/gc.lock; gc takes it exclusively).
 *
 * Lock order: gc.lock before index.lock. Builds hold gc.lock shared for their whole duration
 * (cmd_build.c takes it right after opening the store, before reading base images, and releases
 * it after tagging and exporting) and take index.lock only while tagging; store_gc and
 * store_cache_prune hold gc.lock exclusively, and index.lock for the mark and the sweep. So gc
 * never runs while a build runs, and everything a build uses (blobs it has not tagged yet, its
 * work directory, snapshots, cache mounts, records it is writing) is safe from it.
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
#include "record.h"
#include "statcache.h"

#define GC_TMP_MAX_AGE 3600 /* seconds: older temporary files are stale */
#define GC_LOCK_TRIES 5
#define GC_LOCK_PAUSE_NS 100000000L /* between tries: 5 x 100 ms */
#define WALK_MAX_DEPTH 16
#define GC_COUNT_MAX_DEPTH 128 /* trees: bytes below this depth are not counted */
/* A tree being removed: renamed first, so it is never half there under its real name. */
#define GC_TMP_PREFIX ".tmp-gc-"
#define DAY_SECONDS 86400
#define VERIFY_SHOWN_PROBLEMS 5

/* ---- the build lock ---------------------------------------------------------------------------
 */

struct store_lock {
    int fd;
    bool exclusive; /* gc (store_gc_lock); else a build lock */
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

/* gc.lock, exclusively: a few non-blocking tries, never waiting for a build to end. */
static int
gc_lock_exclusive(struct store *st, int *fd, struct sw_error **err)
{
    for (int i = 0;; i++) {
        int r = store__lock(st, "gc.lock", LOCK_EX | LOCK_NB, fd, err);
        if (r <= 0)
            return r;
        if (i + 1 == GC_LOCK_TRIES)
            return sw_error_set(err, SW_EIO, EWOULDBLOCK, NULL,
                                "the store is in use by a running build (%s/locks/gc.lock is "
                                "held): try again when it has finished",
                                st->root);
        struct timespec pause = {0, GC_LOCK_PAUSE_NS};
        nanosleep(&pause, NULL);
    }
}

int
store_gc_lock(struct store *st, struct store_lock **out, struct sw_error **err)
{
    struct store_lock *l = calloc(1, sizeof *l);
    if (!l)
        return sw_error_oom(err);
    l->exclusive = true;
    int r = gc_lock_exclusive(st, &l->fd, err);
    if (r < 0) {
        free(l);
        return r;
    }
    *out = l;
    return 0;
}

/* ---- directory helpers ------------------------------------------------------------------------
 */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory (without . and ..), sorted. */
int
store__list_dir(int dirfd, const char *shown, struct sw_strv *out, struct sw_error **err)
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

bool
store__hex_name(const char *s)
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

/* Add the diff_ids of an image config (a manifest's config descriptor) to w->diffs. A config
 * that cannot be read only marks the set incomplete: its blob is kept either way. */
static int
walk_diff_ids(struct walk *w, const json_t *config, struct sw_error **err)
{
    struct sw_digest d;
    const char *dg = json_string_value(json_object_get(config, "digest"));
    json_auto_t *j = NULL;
    if (!sw_digest_valid(dg)) {
        w->diffs_incomplete = true;
        return 0;
    }
    memcpy(d.str, dg, sizeof d.str);
    if (store_json_read(w->st, &d, STORE_WALK_MAX_SIZE, &j, NULL) < 0) {
        w->diffs_incomplete = true;
        return 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(j, "rootfs"), "diff_ids"), i, e)
    {
        const char *s = json_string_value(e);
        if (sw_digest_valid(s) && json_object_set_new(w->diffs, s + 7, json_true()) < 0)
            return sw_error_oom(err);
    }
    return 0;
}

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
        if (r == 0 && w->diffs)
            r = walk_diff_ids(w, config, err);
        if (r == 0)
            r = walk_array(w, json_object_get(j, "layers"), "layers", self, depth + 1, err);
    }
    free(self);
    return r;
}

/* Walk everything index.json reaches into w->seen. */
int
store__walk_index(struct walk *w, const json_t *idx, struct sw_error **err)
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
    int r = store__list_dir(st->blobsfd, shown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        const char *name = names.v[i];
        struct stat sb;
        if (fstatat(st->blobsfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT) /* removed meanwhile: fine */
                r = store__io_error(err, errno, "%s/%s", shown, name);
            continue;
        }
        if (!store__hex_name(name) || !S_ISREG(sb.st_mode)) {
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
    int r = store__list_dir(st->tmpfd, shown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        r = push_fmt(temps, err, "tmp/%s", names.v[i]);
    sw_strv_free(&names);
    if (r == 0)
        r = store__list_dir(st->rootfd, st->root, &names, err);
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
        r = store__walk_index(&w, idx, err);
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

/* Remove dirfd/name (a regular file), counting it; a file already gone is fine. */
int
store__sweep_file(int dirfd, const char *name, const char *shown, struct sweep *sw,
                  struct sw_error **err)
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

/* Disk usage of a tree, like du: every entry's blocks, a file with several links once. */
struct du {
    json_t *inodes; /* "dev:ino" -> true (NULL: out of memory; such files may count twice) */
    int64_t newest; /* the newest mtime or ctime seen, unix seconds */
};

static uint64_t
du_tree(int parent, const char *name, int depth, struct du *u)
{
    struct stat sb;
    if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if ((int64_t)sb.st_mtime > u->newest)
        u->newest = (int64_t)sb.st_mtime;
    if ((int64_t)sb.st_ctime > u->newest)
        u->newest = (int64_t)sb.st_ctime;
    if (!S_ISDIR(sb.st_mode) && sb.st_nlink > 1 && u->inodes) {
        char k[64];
        snprintf(k, sizeof k, "%ju:%ju", (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino);
        if (json_object_get(u->inodes, k))
            return 0;
        (void)json_object_set_new(u->inodes, k, json_true());
    }
    uint64_t n = (uint64_t)sb.st_blocks * 512;
    if (!S_ISDIR(sb.st_mode) || depth >= GC_COUNT_MAX_DEPTH)
        return n;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        return n;
    }
    for (struct dirent *de; (de = readdir(dir));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n += du_tree(dirfd(dir), de->d_name, depth + 1, u);
    closedir(dir);
    return n;
}

/* The size on disk of parent/name and everything below it (0 when it does not exist); *newest
 * (may be NULL) gets the newest mtime or ctime in it. Best effort: unreadable parts count 0. */
uint64_t
store__tree_size(int parent, const char *name, int64_t *newest)
{
    struct du u = {.inodes = json_object()};
    uint64_t n = du_tree(parent, name, 0, &u);
    json_decref(u.inodes);
    if (newest)
        *newest = u.newest;
    return n;
}

/* Remove the directory dirfd/name (shown: the path of dirfd) and everything below it, counting it
 * as one entry with its size on disk. Symlinks are never followed and mount points never
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
    uint64_t bytes = store__tree_size(dirfd, name, NULL);
    int r = sw_rmtree(path, err);
    if (r < 0)
        return r;
    sw->count++;
    sw->bytes += bytes;
    return 0;
}

/* Remove the directory dirfd/name after renaming it to .tmp-gc-<name>: a removal that fails
 * halfway leaves a name nothing uses (gc removes it next time), never a partial tree under the
 * name a build would trust (a snapshot, a cache mount). */
int
store__sweep_tree_renamed(int dirfd, const char *name, const char *shown, struct sweep *sw,
                          struct sw_error **err)
{
    sw_autofree char *tmp = NULL;
    if (asprintf(&tmp, GC_TMP_PREFIX "%s", name) < 0)
        return sw_error_oom(err);
    if (renameat(dirfd, name, dirfd, tmp) < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno != EEXIST && errno != ENOTEMPTY)
            return store__io_error(err, errno, "renaming %s/%s", shown, name);
        /* what an earlier removal left: not counted again */
        struct sweep old = {0};
        int r = sweep_tree(dirfd, tmp, shown, &old, err);
        if (r < 0)
            return r;
        if (renameat(dirfd, name, dirfd, tmp) < 0)
            return errno == ENOENT ? 0 : store__io_error(err, errno, "renaming %s/%s", shown, name);
    }
    return sweep_tree(dirfd, tmp, shown, sw, err);
}

/* Open ROOT/rel as a directory: 0 with *fd = -1 when it does not exist. *shown (the caller
 * frees) is its path for messages. */
int
store__open_subdir(struct store *st, const char *rel, int *fd, char **shown, struct sw_error **err)
{
    *fd = -1;
    if (asprintf(shown, "%s/%s", st->root, rel) < 0) {
        *shown = NULL;
        return sw_error_oom(err);
    }
    *fd = openat(st->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0 && errno != ENOENT)
        return store__io_error(err, errno, "%s", *shown);
    return 0;
}

static bool
has_prefix(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* The snapshot directories, one per format (builder/snapshot/overlay.h, snap_format_name). */
const char *const store__snapshot_dirs[NSNAPSHOT_DIRS] = {
    "snapshots/overlay", "snapshots/overlay-user", "snapshots/markers"};

/*
 * What a build that died (SIGKILL, a crash, a power cut) leaves behind: its work directory
 * tmp/build-XXXXXX; in each snapshot directory, RUN snapshots in progress (snap-XXXXXX) and
 * layers being extracted (.tmp-*; also .tmp-gc-* trees an earlier gc failed to remove); in the
 * cache mounts, instances being created (mounts/cache/<hex>/<n>.tmp-XXXXXX) and mounts an earlier
 * prune failed to remove (mounts/cache/.tmp-gc-*). Committed snapshots are named by their 64-hex
 * diff_id. gc runs only while no build holds the build lock, so every one of these is stale,
 * whatever its age.
 */
static int
sweep_build_leftovers(struct store *st, struct sweep *sw, struct sw_error **err)
{
    sw_autofree char *tmp = NULL;
    if (asprintf(&tmp, "%s/tmp", st->root) < 0)
        return sw_error_oom(err);
    struct sw_strv names = {0};
    int r = store__list_dir(st->tmpfd, tmp, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (has_prefix(names.v[i], "build-"))
            r = sweep_tree(st->tmpfd, names.v[i], tmp, sw, err);
    sw_strv_free(&names);

    for (size_t k = 0; r == 0 && k < NSNAPSHOT_DIRS; k++) {
        sw_autoclose int fd = -1;
        sw_autofree char *shown = NULL;
        r = store__open_subdir(st, store__snapshot_dirs[k], &fd, &shown, err);
        if (r < 0 || fd < 0)
            continue;
        r = store__list_dir(fd, shown, &names, err);
        for (size_t i = 0; r == 0 && i < names.n; i++)
            if (has_prefix(names.v[i], "snap-") || has_prefix(names.v[i], ".tmp-"))
                r = sweep_tree(fd, names.v[i], shown, sw, err);
        sw_strv_free(&names);
    }

    sw_autoclose int mfd = -1;
    sw_autofree char *mshown = NULL;
    if (r == 0)
        r = store__open_subdir(st, "mounts/cache", &mfd, &mshown, err);
    if (r < 0 || mfd < 0)
        return r;
    r = store__list_dir(mfd, mshown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        if (has_prefix(names.v[i], ".tmp-")) {
            r = sweep_tree(mfd, names.v[i], mshown, sw, err);
            continue;
        }
        if (!store__hex_name(names.v[i]))
            continue;
        sw_autoclose int base =
            openat(mfd, names.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (base < 0)
            continue;
        sw_autofree char *bshown = NULL;
        if (asprintf(&bshown, "%s/%s", mshown, names.v[i]) < 0) {
            r = sw_error_oom(err);
            break;
        }
        struct sw_strv inner = {0};
        r = store__list_dir(base, bshown, &inner, err);
        for (size_t j = 0; r == 0 && j < inner.n; j++)
            if (strstr(inner.v[j], ".tmp-"))
                r = sweep_tree(base, inner.v[j], bshown, sw, err);
        sw_strv_free(&inner);
    }
    sw_strv_free(&names);
    return r;
}

/* Snapshot directories of layers that neither a tagged image nor a cache record has. */
static int
sweep_snapshots(struct store *st, const json_t *diffs, struct sweep *sw, struct sw_error **err)
{
    int r = 0;
    for (size_t k = 0; r == 0 && k < NSNAPSHOT_DIRS; k++) {
        sw_autoclose int fd = -1;
        sw_autofree char *shown = NULL;
        r = store__open_subdir(st, store__snapshot_dirs[k], &fd, &shown, err);
        if (r < 0 || fd < 0)
            continue;
        struct sw_strv names = {0};
        r = store__list_dir(fd, shown, &names, err);
        for (size_t i = 0; r == 0 && i < names.n; i++)
            if (store__hex_name(names.v[i]) && !json_object_get(diffs, names.v[i]))
                r = store__sweep_tree_renamed(fd, names.v[i], shown, sw, err);
        sw_strv_free(&names);
    }
    return r;
}

static uint32_t
le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Is the stat cache cache/stat/<name> of no more use? When it was not written for
 * STATCACHE_KEEP_DAYS days (a build that uses it rewrites it at least once a day, and drops
 * entries that old anyway), or when its context directory is gone. The context is found from the
 * file's first entry, a host path below it: the ancestor whose sha256 is the file's name (the
 * file is named after the context's realpath, statcache_file_path). A file whose context cannot
 * be told (relative paths, no entry, another format) is judged by its age alone.
 */
static bool
stat_cache_stale(int dirfd, const char *name, time_t now)
{
    struct stat sb;
    if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
        return false;
    if (now - sb.st_mtime > (time_t)STATCACHE_KEEP_DAYS * DAY_SECONDS)
        return true;
    enum { HEADER = 16, FIXED = 88, MAX_PATH = 4096 };
    unsigned char buf[HEADER + FIXED + MAX_PATH + 1];
    sw_autoclose int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    if (n < HEADER + FIXED || memcmp(buf, "SWSTATC\001", 8) != 0 || le32(buf + 8) == 0)
        return false;
    uint32_t len = le32(buf + HEADER + 52);
    if (len == 0 || len > MAX_PATH || (size_t)n < HEADER + FIXED + (size_t)len + 1)
        return false;
    char path[MAX_PATH + 1];
    memcpy(path, buf + HEADER + FIXED, len);
    path[len] = '\0';
    if (path[0] != '/' || strlen(path) != len)
        return false;
    for (char *slash = strrchr(path, '/'); slash; slash = strrchr(path, '/')) {
        if (slash == path)
            slash[1] = '\0'; /* "/" itself */
        else
            *slash = '\0';
        struct sw_digest d;
        if (sw_digest_bytes(&d, path, strlen(path), NULL) < 0)
            return false;
        if (!strcmp(sw_digest_hex(&d), name)) {
            struct stat cs;
            return stat(path, &cs) < 0 ? (errno == ENOENT || errno == ENOTDIR)
                                       : !S_ISDIR(cs.st_mode);
        }
        if (slash == path)
            break;
    }
    return false;
}

/* Does cache/sites/<name> name a record that still exists? */
static bool
site_live(int sitesfd, int recordsfd, const char *name)
{
    char buf[SW_DIGEST_STR_LEN + 2];
    sw_autoclose int fd = openat(sitesfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return true; /* unreadable: leave it */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0)
        return true;
    buf[n] = '\0';
    if (!sw_digest_valid(buf) || recordsfd < 0)
        return false;
    char json[SW_DIGEST_HEX_LEN + 8];
    snprintf(json, sizeof json, "%s.json", buf + 7);
    return faccessat(recordsfd, json, F_OK, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* The cache's metadata (cache/records, cache/sites, cache/stat, cache/sel) that no longer
 * serves. Selection memos (cache/sel) are valid forever (keyed by content) and only lose their
 * temporary files here; `cache prune` without options removes them. */
static int
sweep_cache_meta(struct store *st, struct sweep *sw, struct sw_error **err)
{
    sw_autoclose int rfd = -1, sfd = -1, tfd = -1, mfd = -1;
    sw_autofree char *rshown = NULL, *sshown = NULL, *tshown = NULL, *mshown = NULL;
    int r = store__open_subdir(st, "cache/records", &rfd, &rshown, err);
    if (r == 0)
        r = store__open_subdir(st, "cache/sites", &sfd, &sshown, err);
    if (r == 0)
        r = store__open_subdir(st, "cache/stat", &tfd, &tshown, err);
    if (r == 0)
        r = store__open_subdir(st, "cache/sel", &mfd, &mshown, err);
    struct sw_strv names = {0};
    if (r == 0 && mfd >= 0)
        r = store__list_dir(mfd, mshown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (has_prefix(names.v[i], ".tmp-"))
            r = store__sweep_file(mfd, names.v[i], mshown, sw, err);
    sw_strv_free(&names);
    if (r == 0 && rfd >= 0)
        r = store__list_dir(rfd, rshown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        const char *n = names.v[i];
        size_t len = strlen(n);
        if (has_prefix(n, ".tmp-")) {
            r = store__sweep_file(rfd, n, rshown, sw, err);
        } else if (len == SW_DIGEST_HEX_LEN + 6 && !strcmp(n + SW_DIGEST_HEX_LEN, ".files")) {
            char json[SW_DIGEST_HEX_LEN + 8];
            snprintf(json, sizeof json, "%.*s.json", SW_DIGEST_HEX_LEN, n);
            if (faccessat(rfd, json, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
                r = store__sweep_file(rfd, n, rshown, sw, err);
        }
    }
    sw_strv_free(&names);
    if (r == 0 && sfd >= 0)
        r = store__list_dir(sfd, sshown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (has_prefix(names.v[i], ".tmp-") ||
            (store__hex_name(names.v[i]) && !site_live(sfd, rfd, names.v[i])))
            r = store__sweep_file(sfd, names.v[i], sshown, sw, err);
    sw_strv_free(&names);
    time_t now = time(NULL);
    if (r == 0 && tfd >= 0)
        r = store__list_dir(tfd, tshown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (strstr(names.v[i], ".tmp-") ||
            (store__hex_name(names.v[i]) && stat_cache_stale(tfd, names.v[i], now)))
            r = store__sweep_file(tfd, names.v[i], tshown, sw, err);
    sw_strv_free(&names);
    return r;
}

static int
gc_sweep(struct store *st, const struct walk *w, struct sweep *sw, struct sw_error **err)
{
    sw_autofree char *blobs = NULL, *tmp = NULL;
    if (asprintf(&blobs, "%s/blobs/sha256", st->root) < 0 || asprintf(&tmp, "%s/tmp", st->root) < 0)
        return sw_error_oom(err);

    struct sw_strv names = {0};
    size_t before = sw->count;
    int r = store__list_dir(st->blobsfd, blobs, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (store__hex_name(names.v[i]) && !json_object_get(w->seen, names.v[i]))
            r = store__sweep_file(st->blobsfd, names.v[i], blobs, sw, err);
    sw_strv_free(&names);
    if (r == 0 && sw->count != before && fsync(st->blobsfd) < 0)
        r = store__io_error(err, errno, "syncing %s", blobs);

    /* Writers keep touching their temporary file; one untouched for an hour is abandoned. */
    time_t now = time(NULL);
    if (r == 0)
        r = store__list_dir(st->tmpfd, tmp, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        struct stat sb;
        if (fstatat(st->tmpfd, names.v[i], &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            now - sb.st_mtime > GC_TMP_MAX_AGE)
            r = store__sweep_file(st->tmpfd, names.v[i], tmp, sw, err);
    }
    sw_strv_free(&names);

    if (r == 0)
        r = sweep_build_leftovers(st, sw, err);
    /* with a config unread, a tagged image's snapshots could look unused: keep them all */
    if (r == 0 && !w->diffs_incomplete)
        r = sweep_snapshots(st, w->diffs, sw, err);
    if (r == 0)
        r = sweep_cache_meta(st, sw, err);

    /* Temporary files in the root are only written under index.lock, which we hold. */
    if (r == 0)
        r = store__list_dir(st->rootfd, st->root, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        if (has_prefix(names.v[i], STORE_ROOT_TMP_PREFIX))
            r = store__sweep_file(st->rootfd, names.v[i], st->root, sw, err);
    sw_strv_free(&names);
    return r;
}

/* Cache records are roots: their layer blobs and the snapshots of their diff_ids. */
static int
mark_record(const struct cache_record *rec, void *ctx)
{
    struct walk *w = ctx;
    if (json_object_set_new(w->seen, sw_digest_hex(&rec->layer_digest), json_true()) < 0 ||
        json_object_set_new(w->diffs, sw_digest_hex(&rec->diff_id), json_true()) < 0)
        return -SW_ENOMEM;
    return 0;
}

static int
mark_records(struct store *st, struct walk *w, struct sw_error **err)
{
    int r = cache_record_each(st, mark_record, w, err);
    if (r == -SW_ENOMEM)
        sw_error_oom(err);
    return r;
}

/* The collection itself; the caller holds gc.lock exclusively. */
static int
gc_run(struct store *st, size_t *removed_count, uint64_t *removed_bytes, struct sw_error **err)
{
    sw_autoclose int indexfd = -1;
    int r = store__lock(st, "index.lock", LOCK_EX, &indexfd, err);
    if (r < 0)
        return r;

    json_auto_t *idx = NULL;
    json_auto_t *seen = json_object();
    json_auto_t *diffs = json_object();
    if (!seen || !diffs)
        return sw_error_oom(err);
    struct walk w = {.st = st, .seen = seen, .diffs = diffs};
    if ((r = store__index_load(st, &idx, err)) < 0 || (r = store__walk_index(&w, idx, err)) < 0 ||
        (r = mark_records(st, &w, err)) < 0) {
        if (err && *err)
            sw_error_wrap(err, "garbage collection stopped, nothing was removed");
        return r;
    }
    struct sweep sw = {0};
    r = gc_sweep(st, &w, &sw, err);
    if (removed_count)
        *removed_count = sw.count;
    if (removed_bytes)
        *removed_bytes = sw.bytes;
    return r;
}

int
store_gc_held(struct store *st, const struct store_lock *held, size_t *removed_count,
              uint64_t *removed_bytes, struct sw_error **err)
{
    if (!held || !held->exclusive)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "garbage collection needs gc.lock held exclusively");
    return gc_run(st, removed_count, removed_bytes, err);
}

int
store_gc(struct store *st, size_t *removed_count, uint64_t *removed_bytes, struct sw_error **err)
{
    sw_autoclose int gcfd = -1;
    int r = gc_lock_exclusive(st, &gcfd, err);
    if (r < 0)
        return r;
    return gc_run(st, removed_count, removed_bytes, err);
}
