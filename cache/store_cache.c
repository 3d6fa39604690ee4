/*
 * cache/store_cache.c: the build cache's usage and pruning (`slipway cache ls|prune`): cache
 * records, their layers and snapshots, cache mounts, stat caches and selection memos, measured
 * and removed under the store's gc lock (see store_gc.c for the lock order).
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

/* ---- the build cache: usage and pruning -------------------------------------------------------
 */

void
store_cache_mount_list_free(struct store_cache_mount_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].id);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static bool
all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int
cmp_mount(const void *a, const void *b)
{
    const struct store_cache_mount *x = a, *y = b;
    if (x->used != y->used)
        return x->used > y->used ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* One cache mount: ROOT/mounts/cache/<name>, a directory (mfd is mounts/cache). */
static int
read_mount(int mfd, const char *name, struct store_cache_mount *m, struct sw_error **err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    sw_autoclose int base = openat(mfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (base < 0)
        return 0; /* gone meanwhile, or not a directory: an empty entry */
    sw_autoclose int idfd = openat(base, "id", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (idfd >= 0) {
        char buf[4097];
        ssize_t n = read(idfd, buf, sizeof buf - 1);
        if (n > 0 && !(m->id = strndup(buf, (size_t)n)))
            return sw_error_oom(err);
    }
    struct sw_strv names = {0};
    if (sw_dir_names(&names, base, false) == 0)
        for (size_t i = 0; i < names.n; i++) {
            struct stat sb;
            if (all_digits(names.v[i]) &&
                fstatat(base, names.v[i], &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode))
                m->ninstances++;
        }
    sw_strv_free(&names);
    m->size = store__tree_size(mfd, name, &m->used);
    return 0;
}

static int
list_mounts(struct store *st, struct store_cache_mount_list *out, struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    sw_autoclose int mfd = -1;
    sw_autofree char *shown = NULL;
    int r = store__open_subdir(st, "mounts/cache", &mfd, &shown, err);
    if (r < 0 || mfd < 0)
        return r;
    struct sw_strv names = {0};
    r = store__list_dir(mfd, shown, &names, err);
    if (r == 0 && names.n && !(out->v = calloc(names.n, sizeof *out->v)))
        r = sw_error_oom(err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        struct stat sb;
        if (!store__hex_name(names.v[i]) ||
            fstatat(mfd, names.v[i], &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
            continue;
        if ((r = read_mount(mfd, names.v[i], &out->v[out->n], err)) == 0)
            out->n++;
    }
    sw_strv_free(&names);
    if (r < 0)
        store_cache_mount_list_free(out);
    else if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_mount);
    return r;
}

/* A cache record, as much of it as usage and pruning need. */
struct crec {
    struct sw_digest key;
    char layer[SW_DIGEST_HEX_LEN + 1];
    char diff[SW_DIGEST_HEX_LEN + 1];
    uint64_t layer_size;
    int64_t used;
    char *kind, *description, *location;
};

/* The build cache as a whole: records, mounts, and what only the cache keeps. */
struct cview {
    struct store *st;
    json_t *tblobs, *tdiffs; /* hex -> true: blobs and diff_ids of tagged images */
    struct crec *recs;
    size_t nrecs, cap;
    struct store_cache_mount_list mounts;
    json_t *brefs, *drefs; /* layer / diff_id hex -> the number of records with it */
    json_t *bsize, *dsize; /* hex -> bytes only the cache keeps (0: a tagged image keeps them) */
    uint64_t layer_bytes;  /* distinct layer blobs of records, in the store */
    uint64_t own;          /* store_cache_usage.own_bytes */
};

static void
cview_free(struct cview *cv)
{
    for (size_t i = 0; i < cv->nrecs; i++) {
        free(cv->recs[i].kind);
        free(cv->recs[i].description);
        free(cv->recs[i].location);
    }
    free(cv->recs);
    store_cache_mount_list_free(&cv->mounts);
    json_decref(cv->tblobs);
    json_decref(cv->tdiffs);
    json_decref(cv->brefs);
    json_decref(cv->drefs);
    json_decref(cv->bsize);
    json_decref(cv->dsize);
    memset(cv, 0, sizeof *cv);
}

static int
collect_record(const struct cache_record *rec, void *ctx)
{
    struct cview *cv = ctx;
    if (cv->nrecs == cv->cap) {
        size_t cap = cv->cap ? cv->cap * 2 : 64;
        struct crec *v = realloc(cv->recs, cap * sizeof *v);
        if (!v)
            return -SW_ENOMEM;
        cv->recs = v;
        cv->cap = cap;
    }
    struct crec *c = &cv->recs[cv->nrecs];
    memset(c, 0, sizeof *c);
    c->key = rec->key;
    snprintf(c->layer, sizeof c->layer, "%s", sw_digest_hex(&rec->layer_digest));
    snprintf(c->diff, sizeof c->diff, "%s", sw_digest_hex(&rec->diff_id));
    c->layer_size = rec->layer_size;
    c->used = rec->used;
    c->kind = strdup(rec->kind ? rec->kind : "");
    c->description = rec->description ? strdup(rec->description) : NULL;
    c->location = rec->location ? strdup(rec->location) : NULL;
    cv->nrecs++;
    if (!c->kind || (rec->description && !c->description) || (rec->location && !c->location))
        return -SW_ENOMEM;
    return 0;
}

/* Add one reference to hex in refs. */
static int
ref_add(json_t *refs, const char *hex)
{
    json_t *n = json_object_get(refs, hex);
    if (n)
        return json_integer_set(n, json_integer_value(n) + 1);
    return json_object_set_new(refs, hex, json_integer(1));
}

/* Drop one reference; the bytes `sizes` has for hex when it was the last one (else 0). */
static uint64_t
ref_drop(json_t *refs, const json_t *sizes, const char *hex)
{
    json_t *n = json_object_get(refs, hex);
    if (!n || json_integer_value(n) <= 0)
        return 0;
    json_integer_set(n, json_integer_value(n) - 1);
    if (json_integer_value(n) > 0)
        return 0;
    return (uint64_t)json_integer_value(json_object_get(sizes, hex));
}

/* The size on disk of the snapshot directories of diff_id `hex` (every format). */
static uint64_t
snapshot_size(struct store *st, const char *hex)
{
    uint64_t n = 0;
    for (size_t k = 0; k < NSNAPSHOT_DIRS; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "%s/%s", store__snapshot_dirs[k], hex);
        n += store__tree_size(st->rootfd, rel, NULL);
    }
    return n;
}

static int
cview_load(struct store *st, struct cview *cv, struct sw_error **err)
{
    memset(cv, 0, sizeof *cv);
    cv->st = st;
    cv->tblobs = json_object();
    cv->tdiffs = json_object();
    cv->brefs = json_object();
    cv->drefs = json_object();
    cv->bsize = json_object();
    cv->dsize = json_object();
    if (!cv->tblobs || !cv->tdiffs || !cv->brefs || !cv->drefs || !cv->bsize || !cv->dsize)
        return sw_error_oom(err);

    json_auto_t *idx = NULL;
    struct walk w = {.st = st, .seen = cv->tblobs, .diffs = cv->tdiffs};
    int r = store__index_load(st, &idx, err);
    if (r == 0)
        r = store__walk_index(&w, idx, err);
    if (r == 0) {
        r = cache_record_each(st, collect_record, cv, err);
        if (r == -SW_ENOMEM)
            sw_error_oom(err);
    }
    if (r == 0)
        r = list_mounts(st, &cv->mounts, err);
    for (size_t i = 0; r == 0 && i < cv->nrecs; i++)
        if (ref_add(cv->brefs, cv->recs[i].layer) < 0 || ref_add(cv->drefs, cv->recs[i].diff) < 0)
            r = sw_error_oom(err);
    if (r < 0)
        return r;

    const char *hex;
    json_t *v;
    json_object_foreach(cv->brefs, hex, v)
    {
        struct stat sb;
        uint64_t size = 0;
        if (fstatat(st->blobsfd, hex, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
            size = (uint64_t)sb.st_size;
        cv->layer_bytes += size;
        if (json_object_get(cv->tblobs, hex))
            size = 0;
        cv->own += size;
        if (json_object_set_new(cv->bsize, hex, json_integer((json_int_t)size)) < 0)
            return sw_error_oom(err);
    }
    json_object_foreach(cv->drefs, hex, v)
    {
        uint64_t size = json_object_get(cv->tdiffs, hex) ? 0 : snapshot_size(st, hex);
        cv->own += size;
        if (json_object_set_new(cv->dsize, hex, json_integer((json_int_t)size)) < 0)
            return sw_error_oom(err);
    }
    for (size_t i = 0; i < cv->mounts.n; i++)
        cv->own += cv->mounts.v[i].size;
    return 0;
}

int
store_cache_usage(struct store *st, struct store_cache_usage *out,
                  struct store_cache_mount_list *mounts, struct sw_error **err)
{
    struct cview cv;
    int r = cview_load(st, &cv, err);
    if (r == 0) {
        memset(out, 0, sizeof *out);
        out->nrecords = cv.nrecs;
        out->layer_bytes = cv.layer_bytes;
        out->nmounts = cv.mounts.n;
        for (size_t i = 0; i < cv.mounts.n; i++)
            out->mount_bytes += cv.mounts.v[i].size;
        out->own_bytes = cv.own;
        if (mounts) {
            *mounts = cv.mounts;
            memset(&cv.mounts, 0, sizeof cv.mounts);
        }
    }
    cview_free(&cv);
    return r;
}

/*
 * Remove cache mount m (mfd is mounts/cache) unless a process holds a lock of one of its
 * instances: 1 when it is kept for that reason. Every <n>.lock is locked (LOCK_EX | LOCK_NB) and
 * held while the directory is renamed away and removed.
 */
static int
remove_mount(int mfd, const char *mshown, const struct store_cache_mount *m, struct sw_error **err)
{
    sw_autoclose int base = openat(mfd, m->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (base < 0)
        return errno == ENOENT ? 0 : store__io_error(err, errno, "%s/%s", mshown, m->name);
    struct sw_strv names = {0};
    int *locks = NULL;
    size_t nlocks = 0;
    int r = sw_dir_names(&names, base, true);
    if (r < 0)
        r = r == -SW_ENOMEM ? sw_error_oom(err)
                            : store__io_error(err, errno, "listing %s/%s", mshown, m->name);
    if (r == 0 && names.n && !(locks = calloc(names.n, sizeof *locks)))
        r = sw_error_oom(err);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        if (!ends_with(names.v[i], ".lock"))
            continue;
        int fd = openat(base, names.v[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        locks[nlocks++] = fd;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
            r = errno == EWOULDBLOCK
                    ? 1
                    : store__io_error(err, errno, "locking %s/%s/%s", mshown, m->name, names.v[i]);
    }
    if (r == 0) {
        struct sweep sw = {0};
        r = store__sweep_tree_renamed(mfd, m->name, mshown, &sw, err);
    }
    for (size_t i = 0; i < nlocks; i++)
        close(locks[i]);
    free(locks);
    sw_strv_free(&names);
    return r;
}

struct cand {
    bool mount;
    size_t i;
    int64_t used;
    const char *name;
};

static int
cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->used != y->used)
        return x->used < y->used ? -1 : 1;
    int c = strcmp(x->name, y->name);
    return c ? c : (int)x->mount - (int)y->mount;
}

/* Remove what the options select, least recently used first. */
static int
prune_items(struct cview *cv, const struct store_cache_prune_opts *o,
            struct store_cache_prune_result *res, struct sw_error **err)
{
    int64_t now = o->now ? o->now : (int64_t)time(NULL);
    size_t total = cv->nrecs + cv->mounts.n, n = 0;
    struct cand *c = calloc(total ? total : 1, sizeof *c);
    if (!c)
        return sw_error_oom(err);
    for (size_t i = 0; i < cv->nrecs; i++) {
        const struct crec *rec = &cv->recs[i];
        if (o->has_until && rec->used >= now - o->until)
            continue;
        /* a record whose layer blob and snapshot a tagged image keeps (or that are gone) holds
         * nothing of its own: removing it never brings the cache under keep_storage */
        if (o->has_keep_storage && !json_integer_value(json_object_get(cv->bsize, rec->layer)) &&
            !json_integer_value(json_object_get(cv->dsize, rec->diff)))
            continue;
        c[n++] = (struct cand){false, i, rec->used, sw_digest_hex(&rec->key)};
    }
    for (size_t i = 0; i < cv->mounts.n; i++)
        if (!o->has_until || cv->mounts.v[i].used < now - o->until)
            c[n++] = (struct cand){true, i, cv->mounts.v[i].used, cv->mounts.v[i].name};
    if (n > 1)
        qsort(c, n, sizeof *c, cmp_cand);

    sw_autoclose int mfd = -1;
    sw_autofree char *mshown = NULL;
    int r = store__open_subdir(cv->st, "mounts/cache", &mfd, &mshown, err);
    for (size_t k = 0; r == 0 && k < n; k++) {
        if (o->has_keep_storage && cv->own <= o->keep_storage)
            break;
        struct store_cache_item it = {.used = c[k].used};
        if (c[k].mount) {
            const struct store_cache_mount *m = &cv->mounts.v[c[k].i];
            r = mfd >= 0 ? remove_mount(mfd, mshown, m, err) : 0;
            if (r == 1) {
                res->mounts_busy++;
                r = 0;
                continue;
            }
            if (r < 0)
                break;
            res->mounts++;
            res->reclaimed += m->size;
            cv->own -= m->size < cv->own ? m->size : cv->own;
            it.mount = true;
            it.name = m->name;
            it.id = m->id;
            it.kind = "mount";
            it.size = m->size;
        } else {
            struct crec *rec = &cv->recs[c[k].i];
            if ((r = cache_record_remove(cv->st, &rec->key, err)) < 0)
                break;
            res->records++;
            uint64_t freed = ref_drop(cv->brefs, cv->bsize, rec->layer) +
                             ref_drop(cv->drefs, cv->dsize, rec->diff);
            cv->own -= freed < cv->own ? freed : cv->own;
            it.name = rec->key.str;
            it.kind = rec->kind;
            it.description = rec->description;
            it.location = rec->location;
            it.size = rec->layer_size;
        }
        if (o->removed)
            o->removed(&it, o->ctx);
    }
    free(c);
    return r;
}

/* Every regular file in ROOT/rel (a flat directory of the cache's metadata). */
static int
sweep_all_files(struct store *st, const char *rel, struct sweep *sw, struct sw_error **err)
{
    sw_autoclose int fd = -1;
    sw_autofree char *shown = NULL;
    int r = store__open_subdir(st, rel, &fd, &shown, err);
    if (r < 0 || fd < 0)
        return r;
    struct sw_strv names = {0};
    r = store__list_dir(fd, shown, &names, err);
    for (size_t i = 0; r == 0 && i < names.n; i++)
        r = store__sweep_file(fd, names.v[i], shown, sw, err);
    sw_strv_free(&names);
    return r;
}

int
store_cache_prune(struct store *st, const struct store_cache_prune_opts *o,
                  struct store_cache_prune_result *out, struct sw_error **err)
{
    struct store_cache_prune_result res = {0};
    struct store_lock *lock = NULL;
    int r = store_gc_lock(st, &lock, err);
    if (r < 0)
        return r;
    struct cview cv;
    r = cview_load(st, &cv, err);
    if (r == 0)
        r = prune_items(&cv, o, &res, err);
    cview_free(&cv);
    /* all build cache: the stat caches and the selection memos too (they only save reads) */
    struct sweep meta = {0};
    if (r == 0 && !o->has_until && !o->has_keep_storage)
        r = sweep_all_files(st, "cache/stat", &meta, err);
    if (r == 0 && !o->has_until && !o->has_keep_storage)
        r = sweep_all_files(st, "cache/sel", &meta, err);
    res.gc_count += meta.count;
    res.reclaimed += meta.bytes;
    if (r == 0) {
        size_t count = 0;
        uint64_t bytes = 0;
        r = store_gc_held(st, lock, &count, &bytes, err);
        res.gc_count += count;
        res.reclaimed += bytes;
    }
    store_build_unlock(lock);
    if (out)
        *out = res;
    return r;
}
