/*
 * cache/statcache.c: the persisted stat cache (see statcache.h and "Stat cache" in
 * docs/cache.md for the file format).
 *
 * In memory: an array of entries and an open-addressing hash table (linear probing, power-of-two
 * size, at most half full) of indices into it, keyed by the host path. Entries loaded from the
 * file point into the file's bytes, which stay loaded until statcache_close: a load is one read,
 * one sha256 over the file and no allocation per entry.
 */
#include "statcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../builder/util/cleanup.h"
#include "../builder/util/fs.h"

#define FILE_MAGIC "SWSTATC\001" /* 8 bytes; the last one is the format version */
#define HEADER_SIZE 16           /* magic, u32 count, u32 reserved (0) */
#define RECORD_FIXED 88          /* a record without its path */
#define TRAILER_SIZE SW_DIGEST_HEX_LEN
#define MAX_PATH_LEN 4096
#define READ_CHUNK ((size_t)128 << 10)

struct entry {
    const char *path; /* NUL-terminated; owned when `owned`, else inside sc->loaded */
    uint32_t path_len;
    uint32_t used_day; /* days since the epoch of its last use */
    uint64_t hash;     /* of the path */
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns, hashed_ns;
    unsigned char digest[32];
    bool owned;
    bool seen; /* used (hit or hashed) in this run */
};

struct statcache {
    char *file; /* NULL: in memory only */
    pthread_mutex_t mu;
    char *loaded; /* the file as read; loaded entries' paths point into it */
    struct entry *v;
    size_t n, cap;
    uint32_t *slots; /* 0: empty; else index + 1 into v */
    size_t nslots;   /* 0 or a power of two */
    uint32_t today;
    bool dirty; /* something to write */
    _Atomic uint64_t reads;
};

/* ---- little helpers --------------------------------------------------------------------------
 */

static uint64_t
path_hash(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: a table hash, not a content digest */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void
put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t
get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A hex digit of a valid digest string (lower case). */
static unsigned
hexval(char c)
{
    return c >= 'a' ? (unsigned)(c - 'a' + 10) & 15 : (unsigned)(c - '0') & 15;
}

static void
digest_to_raw(unsigned char raw[32], const struct sw_digest *d)
{
    const char *h = sw_digest_hex(d);
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
}

static void
raw_to_digest(struct sw_digest *d, const unsigned char raw[32])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(d->str, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        d->str[7 + 2 * i] = hex[raw[i] >> 4];
        d->str[7 + 2 * i + 1] = hex[raw[i] & 15];
    }
    d->str[SW_DIGEST_STR_LEN] = '\0';
}

static int64_t
ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t
now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return ts_ns(&t);
}

static bool
meta_equal(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           ts_ns(&a->st_mtim) == ts_ns(&b->st_mtim) && ts_ns(&a->st_ctim) == ts_ns(&b->st_ctim);
}

/* ---- the table (callers hold sc->mu, or own sc alone) ------------------------------------------
 */

static size_t
find(const struct statcache *sc, const char *path, size_t len, uint64_t h)
{
    if (!sc->nslots)
        return SIZE_MAX;
    size_t mask = sc->nslots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t s = sc->slots[i];
        if (!s)
            return SIZE_MAX;
        const struct entry *e = &sc->v[s - 1];
        if (e->hash == h && e->path_len == len && memcmp(e->path, path, len) == 0)
            return s - 1;
    }
}

static void
slot_put(uint32_t *slots, size_t nslots, uint64_t h, uint32_t idx1)
{
    size_t mask = nslots - 1, i = (size_t)h & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = idx1;
}

/* Room for `want` entries in total: the array and a table at most half full. */
static int
reserve(struct statcache *sc, size_t want)
{
    if (want > UINT32_MAX / 2)
        return -1;
    if (want > sc->cap) {
        size_t cap = sc->cap ? sc->cap : 64;
        while (cap < want)
            cap *= 2;
        struct entry *v = realloc(sc->v, cap * sizeof *v);
        if (!v)
            return -1;
        sc->v = v;
        sc->cap = cap;
    }
    if (want * 2 > sc->nslots) {
        size_t ns = sc->nslots ? sc->nslots : 128;
        while (ns < want * 2)
            ns *= 2;
        uint32_t *slots = calloc(ns, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < sc->n; i++)
            slot_put(slots, ns, sc->v[i].hash, (uint32_t)i + 1);
        free(sc->slots);
        sc->slots = slots;
        sc->nslots = ns;
    }
    return 0;
}

/* The entry for path (found or appended with its path set, everything else zero); NULL on OOM.
 * A new entry borrows `path` when `borrow`, else copies it. */
static struct entry *
upsert(struct statcache *sc, const char *path, size_t len, uint64_t h, bool borrow)
{
    size_t i = find(sc, path, len, h);
    if (i != SIZE_MAX)
        return &sc->v[i];
    if (reserve(sc, sc->n + 1) < 0)
        return NULL;
    const char *p = path;
    if (!borrow && !(p = strndup(path, len)))
        return NULL;
    struct entry *e = &sc->v[sc->n];
    *e = (struct entry){.path = p, .path_len = (uint32_t)len, .hash = h, .owned = !borrow};
    slot_put(sc->slots, sc->nslots, h, (uint32_t)++sc->n);
    return e;
}

static void
clear_entries(struct statcache *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        if (sc->v[i].owned)
            free((char *)sc->v[i].path);
    free(sc->v);
    free(sc->slots);
    free(sc->loaded);
    sc->v = NULL;
    sc->slots = NULL;
    sc->loaded = NULL;
    sc->n = sc->cap = sc->nslots = 0;
}

/* ---- loading ---------------------------------------------------------------------------------
 */

static int
read_all(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Parse sc->loaded (len bytes) into the table. False when anything is wrong with it. */
static bool
parse_loaded(struct statcache *sc, size_t len)
{
    const unsigned char *b = (const unsigned char *)sc->loaded;
    if (len < HEADER_SIZE + TRAILER_SIZE || memcmp(b, FILE_MAGIC, 8) != 0)
        return false;
    struct sw_digest d;
    struct sw_error *e = NULL;
    if (sw_digest_bytes(&d, b, len - TRAILER_SIZE, &e) < 0) {
        sw_error_free(e);
        return false;
    }
    if (memcmp(sw_digest_hex(&d), b + len - TRAILER_SIZE, TRAILER_SIZE) != 0)
        return false;
    size_t count = get_u32(b + 8), end = len - TRAILER_SIZE;
    if (get_u32(b + 12) != 0 || count > STATCACHE_MAX_ENTRIES ||
        count > (end - HEADER_SIZE) / (RECORD_FIXED + 2) || reserve(sc, count) < 0)
        return false;
    size_t off = HEADER_SIZE;
    for (size_t i = 0; i < count; i++) {
        if (end - off < RECORD_FIXED)
            return false;
        const unsigned char *r = b + off;
        uint32_t plen = get_u32(r + 52);
        if (plen == 0 || plen > MAX_PATH_LEN || end - off - RECORD_FIXED < (size_t)plen + 1)
            return false;
        const char *path = (const char *)r + RECORD_FIXED;
        if (path[plen] != '\0' || memchr(path, '\0', plen))
            return false;
        struct entry *en = upsert(sc, path, plen, path_hash(path, plen), true);
        if (!en)
            return false;
        en->dev = get_u64(r);
        en->ino = get_u64(r + 8);
        en->size = get_u64(r + 16);
        en->mtime_ns = (int64_t)get_u64(r + 24);
        en->ctime_ns = (int64_t)get_u64(r + 32);
        en->hashed_ns = (int64_t)get_u64(r + 40);
        en->used_day = get_u32(r + 48);
        memcpy(en->digest, r + 56, 32);
        en->seen = false;
        off += RECORD_FIXED + plen + 1;
    }
    return off == end;
}

static void
load(struct statcache *sc)
{
    sw_autoclose int fd = open(sc->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        sc->dirty = errno != ENOENT; /* replace whatever is there */
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (uint64_t)st.st_size > STATCACHE_MAX_FILE_SIZE) {
        sc->dirty = true;
        return;
    }
    size_t len = (size_t)st.st_size;
    sc->loaded = malloc(len + 1);
    if (!sc->loaded || read_all(fd, sc->loaded, len) < 0 || !parse_loaded(sc, len)) {
        clear_entries(sc); /* a corrupt or truncated file: start over */
        sc->dirty = true;
    }
}

/* ---- the API ---------------------------------------------------------------------------------
 */

int
statcache_file_path(char **out, const char *store_root, const char *dir, struct sw_error **err)
{
    if (!store_root || !*store_root || !dir || !*dir)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "stat cache: empty store root or directory");
    sw_autofree char *abs = realpath(dir, NULL);
    if (!abs)
        return sw_error_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, errno, NULL,
                            "stat cache: cannot resolve directory %s: %s", dir, strerror(errno));
    struct sw_digest d;
    int r = sw_digest_bytes(&d, abs, strlen(abs), err);
    if (r < 0)
        return r;
    if (asprintf(out, "%s/cache/stat/%s", store_root, sw_digest_hex(&d)) < 0)
        return sw_error_oom(err);
    return 0;
}

int
statcache_open(struct statcache **out, const char *file, struct sw_error **err)
{
    if (file && !*file)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "stat cache: empty file name");
    struct statcache *sc = calloc(1, sizeof *sc);
    if (!sc)
        return sw_error_oom(err);
    if (file && !(sc->file = strdup(file))) {
        free(sc);
        return sw_error_oom(err);
    }
    int e = pthread_mutex_init(&sc->mu, NULL);
    if (e) {
        free(sc->file);
        free(sc);
        return sw_error_set(err, SW_ENOMEM, e, NULL, "stat cache: cannot create a mutex");
    }
    atomic_init(&sc->reads, 0);
    sc->today = (uint32_t)(now_ns() / 1000000000 / 86400);
    if (sc->file)
        load(sc);
    *out = sc;
    return 0;
}

void
statcache_close(struct statcache *sc)
{
    if (!sc)
        return;
    clear_entries(sc);
    pthread_mutex_destroy(&sc->mu);
    free(sc->file);
    free(sc);
}

uint64_t
statcache_reads(const struct statcache *sc)
{
    return atomic_load(&sc->reads);
}

/* Hash the file: *meta gets its fstat before the read, *t0 the time just before it, *stable
 * whether its metadata was the same after the read. */
static int
hash_file(const char *path, struct sw_digest *out, struct stat *meta, int64_t *t0, bool *stable,
          struct sw_error **err)
{
    *t0 = now_ns();
    sw_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ELOOP)
            return sw_error_set(err, SW_EINVAL, ELOOP, NULL, "%s: not a regular file", path);
        return sw_error_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, errno, NULL,
                            "cannot read %s: %s", path, strerror(errno));
    }
    if (fstat(fd, meta) < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "cannot read %s: %s", path, strerror(errno));
    if (!S_ISREG(meta->st_mode))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s: not a regular file", path);
    sw_autofree char *buf = malloc(READ_CHUNK);
    if (!buf)
        return sw_error_oom(err);
    struct sw_hasher *h = NULL;
    int r = sw_hasher_new(&h, err);
    while (r == 0) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = sw_error_set(err, SW_EIO, errno, NULL, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        r = sw_hasher_update(h, buf, (size_t)n, err);
    }
    if (r == 0)
        r = sw_hasher_final(h, out, err);
    sw_hasher_free(h);
    if (r < 0)
        return r;
    struct stat after;
    *stable = fstat(fd, &after) == 0 && meta_equal(meta, &after);
    return 0;
}

static bool
entry_trusted(const struct entry *e, const struct stat *st)
{
    /* Whole-second mtime and ctime: a file system with coarse timestamps (FAT keeps 2 s), whose
     * granularity the window must cover. */
    int64_t window = STATCACHE_RACY_WINDOW_NS;
    if (e->mtime_ns % 1000000000 == 0 && e->ctime_ns % 1000000000 == 0)
        window += STATCACHE_COARSE_WINDOW_NS;
    int64_t limit = e->hashed_ns - window;
    return e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino &&
           e->size == (uint64_t)st->st_size && e->mtime_ns == ts_ns(&st->st_mtim) &&
           e->ctime_ns == ts_ns(&st->st_ctim) && e->mtime_ns < limit && e->ctime_ns < limit;
}

int
statcache_digest(struct statcache *sc, const char *host_path, const struct stat *st,
                 struct sw_digest *out, struct sw_error **err)
{
    if (!S_ISREG(st->st_mode))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s: not a regular file", host_path);
    size_t len = strlen(host_path);
    if (len == 0 || len > MAX_PATH_LEN)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "stat cache: bad path \"%s\"", host_path);
    uint64_t h = path_hash(host_path, len);

    pthread_mutex_lock(&sc->mu);
    size_t i = find(sc, host_path, len, h);
    if (i != SIZE_MAX && entry_trusted(&sc->v[i], st)) {
        struct entry *e = &sc->v[i];
        raw_to_digest(out, e->digest);
        e->seen = true;
        if (e->used_day != sc->today) {
            e->used_day = sc->today;
            sc->dirty = true;
        }
        pthread_mutex_unlock(&sc->mu);
        return 0;
    }
    pthread_mutex_unlock(&sc->mu);

    /* Read outside the lock: other threads keep hashing other files meanwhile. */
    struct stat meta;
    int64_t t0;
    bool stable = false;
    atomic_fetch_add(&sc->reads, 1);
    int r = hash_file(host_path, out, &meta, &t0, &stable, err);
    if (r < 0 || !stable)
        return r;

    pthread_mutex_lock(&sc->mu);
    struct entry *e = upsert(sc, host_path, len, h, false);
    if (e) { /* on OOM the digest is still right; it is just not remembered */
        e->dev = (uint64_t)meta.st_dev;
        e->ino = (uint64_t)meta.st_ino;
        e->size = (uint64_t)meta.st_size;
        e->mtime_ns = ts_ns(&meta.st_mtim);
        e->ctime_ns = ts_ns(&meta.st_ctim);
        e->hashed_ns = t0;
        e->used_day = sc->today;
        digest_to_raw(e->digest, out);
        e->seen = true;
        sc->dirty = true;
    }
    pthread_mutex_unlock(&sc->mu);
    return 0;
}

/* ---- saving ----------------------------------------------------------------------------------
 */

static bool
keep_unseen(const struct statcache *sc, const struct entry *e)
{
    return e->used_day >= sc->today || sc->today - e->used_day <= STATCACHE_KEEP_DAYS;
}

/* Append the records of the entries to keep (seen ones first) to b at *off. With b NULL, only
 * count: *off becomes the end offset and *count the number of entries. */
static void
emit(const struct statcache *sc, unsigned char *b, size_t *off, size_t *count)
{
    size_t n = 0, limit = STATCACHE_MAX_FILE_SIZE - TRAILER_SIZE;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sc->n && n < STATCACHE_MAX_ENTRIES; i++) {
            const struct entry *e = &sc->v[i];
            if (pass == 0 ? !e->seen : (e->seen || !keep_unseen(sc, e)))
                continue;
            size_t sz = RECORD_FIXED + e->path_len + 1;
            if (limit - *off < sz)
                continue;
            if (b) {
                unsigned char *r = b + *off;
                put_u64(r, e->dev);
                put_u64(r + 8, e->ino);
                put_u64(r + 16, e->size);
                put_u64(r + 24, (uint64_t)e->mtime_ns);
                put_u64(r + 32, (uint64_t)e->ctime_ns);
                put_u64(r + 40, (uint64_t)e->hashed_ns);
                put_u32(r + 48, e->used_day);
                put_u32(r + 52, e->path_len);
                memcpy(r + 56, e->digest, 32);
                memcpy(r + RECORD_FIXED, e->path, e->path_len + 1);
            }
            *off += sz;
            n++;
        }
    }
    *count = n;
}

static int
save_io_error(struct sw_error **err, int e, const char *file, const char *what)
{
    return sw_error_set(err, SW_EIO, e, NULL, "stat cache %s: %s: %s", file, what, strerror(e));
}

int
statcache_save(struct statcache *sc, struct sw_error **err)
{
    if (!sc->file)
        return 0;
    pthread_mutex_lock(&sc->mu);
    size_t end = HEADER_SIZE, count = 0;
    emit(sc, NULL, &end, &count);
    if (!sc->dirty && count == sc->n) { /* every entry hit, none dropped: the file is current */
        pthread_mutex_unlock(&sc->mu);
        return 0;
    }
    size_t len = end + TRAILER_SIZE;
    sw_autofree unsigned char *b = malloc(len);
    if (!b) {
        pthread_mutex_unlock(&sc->mu);
        return sw_error_oom(err);
    }
    memcpy(b, FILE_MAGIC, 8);
    put_u32(b + 8, (uint32_t)count);
    put_u32(b + 12, 0);
    size_t off = HEADER_SIZE;
    emit(sc, b, &off, &count);
    pthread_mutex_unlock(&sc->mu);

    struct sw_digest d;
    int r = sw_digest_bytes(&d, b, end, err);
    if (r < 0)
        return r;
    memcpy(b + end, sw_digest_hex(&d), TRAILER_SIZE);

    sw_autofree char *dir = strdup(sc->file);
    if (!dir)
        return sw_error_oom(err);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        struct stat st;
        if (stat(dir, &st) < 0 && (r = sw_mkdir_p(dir, 0700, err)) < 0) {
            sw_error_wrap(err, "stat cache %s", sc->file);
            return r;
        }
    }
    sw_autofree char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-XXXXXX", sc->file) < 0)
        return sw_error_oom(err);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return save_io_error(err, errno, sc->file, "cannot create a temporary file");
    /* No fsync: after a crash a torn file fails its checksum and is ignored, which is safe. */
    int e = sw_write_all(fd, b, len);
    if (close(fd) < 0 && !e)
        e = errno;
    if (!e && rename(tmp, sc->file) < 0)
        e = errno;
    if (e) {
        unlink(tmp);
        return save_io_error(err, e, sc->file, "cannot write");
    }
    pthread_mutex_lock(&sc->mu);
    sc->dirty = false;
    pthread_mutex_unlock(&sc->mu);
    return 0;
}
