/*
 * cache/store.h: the embedded store, a directory that is itself an OCI image layout.
 *
 * Owns: the store directory and everything in it (see docs/store.md):
 *   ROOT/oci-layout          {"imageLayoutVersion":"1.0.0"}
 *   ROOT/index.json          an OCI image index; its `manifests` are the tags
 *   ROOT/blobs/sha256/<hex>  content-addressed blobs
 *   ROOT/tmp/                private: blobs being written (mkstemp files)
 *   ROOT/locks/              private: flock files (index.lock, gc.lock)
 * and the operations on it: the streaming blob writer, blob reads, tags (descriptors in
 * index.json), JSON blobs, verification, garbage collection and the build lock that protects
 * a running build from garbage collection. The build cache's directories (ROOT/cache/ with its
 * records, cache/record.h; ROOT/snapshots/; ROOT/mounts/cache/) are written by the solver; the
 * garbage collection here is what removes from them (store_gc, store_cache_prune).
 *
 * Conventions: functions that can fail return 0 or -SW_E* and set `*err` (builder/util/error.h).
 * Blob and index updates are crash-safe: data is written to a temporary file, fsync'd, renamed
 * into place and the directory fsync'd. Every index.json update holds an exclusive flock on
 * locks/index.lock and re-reads the file, so concurrent processes never lose each other's tags.
 *
 * Threads: a struct store holds only the root path and directory fds; it is never modified after
 * store_open, so one store may be used from several threads at once. A writer or a lock is used
 * by one thread at a time. Everything borrowed from a store must be finished before store_close.
 */
#ifndef SLIPWAY_CACHE_STORE_H
#define SLIPWAY_CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../builder/util/buf.h"
#include "../builder/util/digest.h"
#include "../builder/util/error.h"

#define STORE_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define STORE_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define STORE_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define STORE_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define STORE_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* The annotations a tag carries in index.json. */
#define STORE_ANN_REF_NAME "org.opencontainers.image.ref.name"
#define STORE_ANN_CONTAINERD_NAME "io.containerd.image.name"

/* A sensible cap for store_json_read of manifests and indexes (the OCI distribution limit). */
#define STORE_MANIFEST_MAX_SIZE ((size_t)4 << 20)

struct store; /* opaque: an open store */

/* ---- opening ----------------------------------------------------------------------------------
 */

/*
 * Where the store lives: $SLIPWAY_ROOT if set and non-empty; else /var/lib/slipway when the
 * effective uid is 0; else $XDG_DATA_HOME/slipway (when XDG_DATA_HOME is an absolute path); else
 * $HOME/.local/share/slipway. *out is owned by the caller (free). -SW_ENOTFOUND when none of
 * these can be determined (no HOME).
 */
int store_default_root(char **out, struct sw_error **err);

/*
 * Open the store at `root`, creating it if missing: the root and missing parents (0700), blobs/
 * (0755), tmp/ and locks/ (0700), oci-layout and an empty index.json. An existing layout is
 * validated: an oci-layout with another imageLayoutVersion, a corrupt index.json, or an
 * index.json without an oci-layout is an error whose message names the file. On success *out
 * is owned by the caller: store_close it.
 */
int store_open(struct store **out, const char *root, struct sw_error **err);
/* Close the store (NULL is fine). Writers and locks taken from it must be finished first. */
void store_close(struct store *st);
/* The root path as given to store_open; valid until store_close. */
const char *store_root(const struct store *st);

/* ---- blobs ------------------------------------------------------------------------------------
 */

struct store_writer; /* opaque: a blob being written */

/*
 * Start a blob: data goes to a new temporary file under ROOT/tmp/ and is hashed as it is written.
 * *out belongs to the caller and must be ended by exactly one store_writer_commit or
 * store_writer_abort (both free it).
 */
int store_writer_begin(struct store *st, struct store_writer **out, struct sw_error **err);
/*
 * Append len bytes. On failure (e.g. "writing blob: No space left on device") the temporary file
 * is removed at once and the writer is spoiled: later writes and the commit fail with the same
 * message; the caller still ends it with commit or abort.
 */
int store_writer_write(struct store_writer *w, const void *data, size_t len, struct sw_error **err);
/* Bytes written so far. */
uint64_t store_writer_size(const struct store_writer *w);
/*
 * Finish the blob and free the writer, whatever the outcome. The data is fsync'd, checked against
 * `expected` (NULL: no check), renamed to blobs/sha256/<hex> and the directory fsync'd. A blob
 * that already exists is a cheap success (the temporary file is dropped). On any failure nothing
 * is left behind: a digest mismatch is -SW_EINVAL ("blob digest mismatch: expected X, got Y"),
 * an I/O failure -SW_EIO naming the errno. out_digest and out_size may be NULL.
 */
int store_writer_commit(struct store_writer *w, const struct sw_digest *expected,
                        struct sw_digest *out_digest, uint64_t *out_size, struct sw_error **err);
/* Drop the blob: remove the temporary file and free the writer (NULL is fine). */
void store_writer_abort(struct store_writer *w);

/* Store len bytes as a blob (a no-op if it already exists); its digest goes to *out (may be NULL).
 */
int store_blob_put(struct store *st, const void *data, size_t len, struct sw_digest *out,
                   struct sw_error **err);
/* True if blobs/sha256/<hex> exists as a regular file. */
bool store_blob_exists(struct store *st, const struct sw_digest *d);
/* The path of the blob's file (whether or not it exists), for readers that open it. Caller frees
 * *out. Blob files are never modified in place, only created whole or removed by store_gc. */
int store_blob_path(struct store *st, const struct sw_digest *d, char **out, struct sw_error **err);
/* The blob's size; -SW_ENOTFOUND ("blob X not found in the store") when missing. */
int store_blob_size(struct store *st, const struct sw_digest *d, uint64_t *out,
                    struct sw_error **err);
/*
 * Read a whole blob into memory and check that it hashes to d. -SW_EINVAL if it is larger than
 * max_size (nothing is read), -SW_ENOTFOUND if missing, -SW_EIO if corrupt. *out is owned by the
 * caller (free) and NUL-terminated (the NUL is not counted in *out_len).
 */
int store_blob_read(struct store *st, const struct sw_digest *d, size_t max_size, void **out,
                    size_t *out_len, struct sw_error **err);
/* Open the blob for streaming reads: *out_fd (O_RDONLY|O_CLOEXEC) is the caller's to close;
 * out_size (may be NULL) gets its size. -SW_ENOTFOUND when missing. */
int store_blob_open(struct store *st, const struct sw_digest *d, int *out_fd, uint64_t *out_size,
                    struct sw_error **err);

/* ---- JSON blobs -------------------------------------------------------------------------------
 */

/*
 * Read a JSON blob (a manifest, an index, a config) of at most max_size bytes; it must hash to d
 * and be a JSON object. *out is a new reference owned by the caller (json_decref). Invalid JSON is
 * -SW_EPARSE naming the blob.
 */
int store_json_read(struct store *st, const struct sw_digest *d, size_t max_size, json_t **out,
                    struct sw_error **err);
/*
 * Store `json` canonically (JSON_COMPACT | JSON_SORT_KEYS, no trailing newline), so the same
 * content always gives the same digest. `json` is borrowed. out_digest/out_size may be NULL.
 */
int store_json_put(struct store *st, const json_t *json, struct sw_digest *out_digest,
                   uint64_t *out_size, struct sw_error **err);

/* ---- descriptors and tags ---------------------------------------------------------------------
 */

struct store_platform {
    char *os;
    char *architecture;
    char *variant;    /* NULL: none */
    char *os_version; /* "os.version"; NULL: none */
};

struct store_annotation {
    char *key;
    char *value;
};

/*
 * An OCI descriptor. When passed in (store_tag_set) every pointer is borrowed; when filled in by
 * the store (store_tag_get, store_tag_list) every string is owned by the struct: release it with
 * store_desc_clear. A zero-initialized struct is an empty value.
 */
struct store_desc {
    char *media_type;
    struct sw_digest digest;
    uint64_t size;
    bool has_platform; /* platform.os and platform.architecture are set */
    struct store_platform platform;
    struct store_annotation *annotations;
    size_t nannotations;
};

/* Free the strings a store-filled desc owns and zero it (NULL is fine). */
void store_desc_clear(struct store_desc *d);
/* The value of annotation `key`, or NULL; borrowed from d. */
const char *store_desc_annotation(const struct store_desc *d, const char *key);

/*
 * Tag: put a descriptor for `name` in index.json, replacing any entry of that name. `name` is the
 * already-normalized reference (e.g. "myimage:latest", "registry.example.com/team/app:1.2"); it
 * must match the OCI ref.name grammar (-SW_EINVAL otherwise) and is stored as annotation
 * org.opencontainers.image.ref.name. `full_name` (NULL: none) is a fully-qualified name stored as
 * io.containerd.image.name. desc's own annotations are kept (these two keys are overridden).
 * The blob must exist in the store with desc->size bytes (-SW_ENOTFOUND / -SW_EINVAL otherwise).
 */
int store_tag_set(struct store *st, const char *name, const char *full_name,
                  const struct store_desc *desc, struct sw_error **err);
/* Look up a tag: *out is filled (the caller store_desc_clear's it); -SW_ENOTFOUND with
 * `image "NAME" not found in the store` when there is no such tag. */
int store_tag_get(struct store *st, const char *name, struct store_desc *out,
                  struct sw_error **err);
/* Remove a tag (its blobs stay until store_gc); -SW_ENOTFOUND as for store_tag_get. */
int store_tag_remove(struct store *st, const char *name, struct sw_error **err);

struct store_tag {
    char *name; /* the ref.name */
    struct store_desc desc;
};
struct store_tag_list {
    struct store_tag *tags; /* sorted by name */
    size_t n;
};
/* Every tagged entry of index.json (untagged entries are skipped). Free with
 * store_tag_list_free. */
int store_tag_list(struct store *st, struct store_tag_list *out, struct sw_error **err);
void store_tag_list_free(struct store_tag_list *l);

/* ---- verification -----------------------------------------------------------------------------
 */

struct store_verify_report {
    size_t nblobs;           /* files checked under blobs/sha256 */
    uint64_t nbytes;         /* their total size */
    size_t nreachable;       /* distinct descriptors reachable from index.json */
    struct sw_strv problems; /* one line per corruption found */
    struct sw_strv temps;    /* leftover temporary files (relative to the root): not corruption */
};

/*
 * Check the whole store: every blob under blobs/sha256 hashes to its name, index.json parses, and
 * every descriptor reachable from index.json (index -> manifests -> config and layers; nested
 * indexes -> their manifests) exists with the right size. Stray temporary files are listed in
 * report->temps and are not corruption. Returns 0 when there is no problem; otherwise -SW_EIO
 * (sys_errno EBADMSG) with a message listing the first problems. `report` may be NULL; when given
 * it is filled in either way and the caller frees it with store_verify_report_free.
 */
int store_verify(struct store *st, struct store_verify_report *report, struct sw_error **err);
void store_verify_report_free(struct store_verify_report *r);

/* ---- garbage collection and the build lock ----------------------------------------------------
 */

struct store_lock; /* opaque: a held flock */

/*
 * Take the build lock: a shared flock on locks/gc.lock, held for the whole duration of a build
 * (and by anything else that writes blobs it has not tagged yet). Any number of builds hold it
 * at once; it waits while store_gc runs. *out belongs to the caller: store_build_unlock it.
 */
int store_build_lock(struct store *st, struct store_lock **out, struct sw_error **err);
/* Release the lock and free it (NULL is fine). */
void store_build_unlock(struct store_lock *lock);

/*
 * Garbage collection (`slipway prune`). Roots: every blob reachable from index.json (index ->
 * manifests -> config and layers) and the layer blob of every cache record (cache/record.h), so
 * the cache keeps the layers it can still hit. Removes:
 *   - every other blob;
 *   - snapshot directories snapshots/{overlay,overlay-user,markers}/<diff_id hex> whose diff_id is
 *     neither a layer of a tagged image (its config's rootfs.diff_ids) nor the diff_id of a cache
 *     record (builds extract them again from the layer blob); a directory is renamed to
 *     .tmp-gc-<hex> before it is removed, so a removal that fails halfway never leaves a partial
 *     snapshot under its real name. Skipped when a tagged image's config cannot be read;
 *   - cache metadata that no longer serves: record .files without their .json, site files
 *     (cache/sites/) naming a record that is gone, stat caches (cache/stat/) unused for
 *     STATCACHE_KEEP_DAYS days or whose context directory no longer exists, and the temporary
 *     files of killed writers there and in cache/sel/ (selection memos themselves stay);
 *   - temporary files in tmp/ older than an hour, leftover ROOT/.tmp-* files, and what killed
 *     builds left: tmp/build-* work directories, uncommitted snapshot trees (snap-* and .tmp-* in
 *     each snapshots/FORMAT/) and half-made cache mount instances (mounts/cache/HEX/N.tmp-*).
 * gc only runs while no build holds the build lock, so none of these can be in use. Takes the
 * exclusive gc.lock with a short non-blocking try (store_gc_lock). Holds locks/index.lock while it
 * marks and sweeps, so tags cannot change underneath. A reachable manifest or index that is
 * missing or unreadable, or a records directory that cannot be listed, aborts the collection
 * (nothing is removed) rather than freeing what it references. removed_count/removed_bytes (may
 * be NULL) count what was removed: files by their size, directory trees as one entry each with
 * their size on disk.
 */
int store_gc(struct store *st, size_t *removed_count, uint64_t *removed_bytes,
             struct sw_error **err);

/*
 * Take gc.lock exclusively, as store_gc does: a short non-blocking try (5 tries, 100 ms apart),
 * never waiting for builds to end. While any build lock is held it fails with -SW_EIO (sys_errno
 * EWOULDBLOCK) and "the store is in use by a running build (ROOT/locks/gc.lock is held): try
 * again when it has finished". While it is held no build can start (store_build_lock waits).
 * *out is the caller's: release it with store_build_unlock.
 */
int store_gc_lock(struct store *st, struct store_lock **out, struct sw_error **err);
/* store_gc for a caller that already holds gc.lock exclusively (`held`, from store_gc_lock):
 * -SW_EINVAL when `held` is a shared (build) lock. */
int store_gc_held(struct store *st, const struct store_lock *held, size_t *removed_count,
                  uint64_t *removed_bytes, struct sw_error **err);

/* ---- the build cache: usage and pruning (`slipway cache ls|prune`) ----------------------------
 */

/* A cache mount of RUN --mount=type=cache: ROOT/mounts/cache/<name>/{id, <n>/, <n>.lock}. */
struct store_cache_mount {
    char name[SW_DIGEST_HEX_LEN + 1]; /* the directory: the sha256 hex of the id */
    char *id;                         /* the id, from its id file (NULL: unknown) */
    size_t ninstances;                /* instance directories <n>/ */
    uint64_t size;                    /* bytes on disk of everything below the directory */
    int64_t used; /* last use (unix seconds): the newest mtime or ctime of anything below it */
};
struct store_cache_mount_list {
    struct store_cache_mount *v; /* most recently used first, then by name */
    size_t n;
};
void store_cache_mount_list_free(struct store_cache_mount_list *l);

/* What the build cache holds. Blobs count by their size, directories by their size on disk. */
struct store_cache_usage {
    size_t nrecords;      /* readable cache records */
    uint64_t layer_bytes; /* the distinct layer blobs they reference that are in the store */
    size_t nmounts;       /* cache mounts */
    uint64_t mount_bytes; /* their size on disk */
    /* What only the cache keeps, so what removing every record and cache mount frees: the layer
     * blobs of records that no tagged image uses, the snapshot directories of their diff_ids
     * (those no tagged image uses), and the cache mounts. */
    uint64_t own_bytes;
};

/*
 * Measure the build cache: *out, and the cache mounts in *mounts (may be NULL; the caller frees
 * it with store_cache_mount_list_free). Takes no lock: callers that want a view no gc changes
 * underneath hold the build lock. Unreadable records count as absent (cache/record.h).
 */
int store_cache_usage(struct store *st, struct store_cache_usage *out,
                      struct store_cache_mount_list *mounts, struct sw_error **err);

/* One removed record or cache mount, for store_cache_prune_opts.removed. Borrowed for the
 * duration of the call. */
struct store_cache_item {
    bool mount;              /* a cache mount; else a record */
    const char *name;        /* record: its key ("sha256:..."); mount: its directory name */
    const char *id;          /* mount: its id (may be NULL); record: NULL */
    const char *kind;        /* record: "copy", "add", "run", "workdir"; mount: "mount" */
    const char *description; /* record (may be NULL) */
    const char *location;    /* record (may be NULL) */
    uint64_t size;           /* record: its layer's size; mount: its size on disk */
    int64_t used;            /* last use, unix seconds */
};

struct store_cache_prune_opts {
    int64_t now; /* unix seconds; 0: the current time */
    /* has_until: only what was last used more than `until` seconds before `now` */
    bool has_until;
    int64_t until;
    /* has_keep_storage: least recently used first, only until what only the cache keeps
     * (store_cache_usage.own_bytes) is at most keep_storage bytes */
    bool has_keep_storage;
    uint64_t keep_storage;
    /* called once per removed record or cache mount (may be NULL) */
    void (*removed)(const struct store_cache_item *it, void *ctx);
    void *ctx;
};

struct store_cache_prune_result {
    size_t records;     /* records removed */
    size_t mounts;      /* cache mounts removed */
    size_t mounts_busy; /* cache mounts kept because a process holds one of their locks */
    size_t gc_count;    /* other files and trees removed: stat caches and memos (with neither
                           option), then what the gc removed (as store_gc counts) */
    uint64_t reclaimed; /* bytes: the cache mounts, stat caches and memos removed, plus what the
                           gc removed */
};

/*
 * `slipway cache prune`: remove cache records and cache mounts, then garbage-collect the store
 * (store_gc_held), which frees the layer blobs and snapshot directories only the removed records
 * kept. Which ones: all of them, narrowed by the options (both may be given; an item must pass
 * both): has_until keeps what was used within `until` seconds; has_keep_storage removes in
 * least-recently-used order (records and cache mounts mixed; ties by name) and stops as soon as
 * what only the cache keeps is at most keep_storage bytes (nothing at all when it already is);
 * it skips records that keep nothing of their own (their layer blob and snapshot belong to a
 * tagged image too, or are gone), since removing those never brings the total down.
 * With neither option, the stat caches (cache/stat) and the selection memos (cache/sel) go too:
 * all build cache. A cache mount is removed only when every one of its <n>.lock files can be locked
 * (LOCK_EX | LOCK_NB), which a running build prevents; the locks are held while it goes.
 * Everything runs under the exclusive gc.lock taken as store_gc_lock does: while a build runs,
 * it fails at once (-SW_EIO, EWOULDBLOCK, "the store is in use by a running build ...") and
 * removes nothing; a build started meanwhile waits until it ends. `out` may be NULL.
 */
int store_cache_prune(struct store *st, const struct store_cache_prune_opts *o,
                      struct store_cache_prune_result *out, struct sw_error **err);

#endif
