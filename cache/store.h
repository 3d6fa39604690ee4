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
 * a running build from garbage collection.
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
 * Garbage collection (`slipway prune`): remove every blob not reachable from index.json,
 * temporary files in tmp/ older than an hour, and what killed builds left: their tmp/build-* work
 * directories and uncommitted snapshot trees (snapshots/{overlay,markers}/snap-*, .tmp-*); gc
 * only runs when no build holds the build lock, so none of these can be in use. Takes the exclusive
 * gc.lock with a short non-blocking try (about half a second, no waiting for builds to finish):
 * while any build lock is held it fails with -SW_EIO (sys_errno EWOULDBLOCK) and the message "the
 * store is in use by a running build". Holds locks/index.lock while it marks and sweeps, so tags
 * cannot change underneath. A reachable manifest or index that is missing or unreadable aborts the
 * collection (nothing is removed) rather than freeing what it references.
 * removed_count/removed_bytes (may be NULL) count removed blobs and temporary files.
 */
int store_gc(struct store *st, size_t *removed_count, uint64_t *removed_bytes,
             struct sw_error **err);

#endif
