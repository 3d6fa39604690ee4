/*
 * cache/store_internal.h: what the store's sources share (store.c, store_index.c,
 * store_gc.c). Not a public API.
 *
 * Owns: the definition of struct store, file helpers over the store's directory fds
 * (whole-file reads, atomic replacement of a file in the root), flock helpers, reading and
 * validating index.json, and descriptor <-> JSON conversion.
 */
#ifndef SLIPWAY_CACHE_STORE_INTERNAL_H
#define SLIPWAY_CACHE_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

struct store {
    char *root;  /* as given to store_open */
    int rootfd;  /* O_DIRECTORY fds, opened once */
    int blobsfd; /* blobs/sha256 */
    int tmpfd;   /* tmp */
    int locksfd; /* locks */
};

#define STORE_INDEX_FILE "index.json"
#define STORE_LAYOUT_FILE "oci-layout"
/* Temporary files in the root (ROOT/.tmp-index.json.XXXXXX) start with this. */
#define STORE_ROOT_TMP_PREFIX ".tmp-"
#define STORE_INDEX_MAX_SIZE ((size_t)64 << 20)
/* Manifests and indexes the verifier and the collector walk through. */
#define STORE_WALK_MAX_SIZE ((size_t)16 << 20)

/* Set an -SW_EIO error "<what>: <strerror(e)>" with sys_errno e. */
int store__io_error(struct sw_error **err, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Read the whole file name (relative to dirfd) into a NUL-terminated *out (caller frees).
 * -SW_ENOTFOUND if missing, -SW_EINVAL if bigger than max. `shown` names it in errors. */
int store__read_at(int dirfd, const char *name, const char *shown, size_t max, char **out,
                   size_t *out_len, struct sw_error **err);

/* Replace ROOT/<name> atomically with data: a temporary ROOT/.<name>.XXXXXX, fsync, rename,
 * fsync of the root. The caller holds locks/index.lock when it matters. */
int store__replace_file(struct store *st, const char *name, const void *data, size_t len,
                        struct sw_error **err);

/* flock locks/<name> (created 0600): how is LOCK_SH or LOCK_EX, optionally | LOCK_NB.
 * *out_fd is the caller's; closing it releases the lock. Returns 0 when locked, 1 (err untouched,
 * *out_fd not set) when LOCK_NB was asked and someone else holds the lock, or -SW_EIO. */
int store__lock(struct store *st, const char *name, int how, int *out_fd, struct sw_error **err);

/* Read and validate index.json (object, schemaVersion 2, index mediaType if present, a
 * manifests array of objects with valid digests). *out is a new reference. Errors name
 * the file. */
int store__index_load(struct store *st, json_t **out, struct sw_error **err);
/* Validate an index.json already parsed; `shown` names the file in errors. */
int store__index_check(const json_t *idx, const char *shown, struct sw_error **err);

/* Fill *out (owned strings) from a descriptor object; errors say `where`. */
int store__desc_from_json(struct store_desc *out, const json_t *j, const char *where,
                          struct sw_error **err);
/* A new descriptor object from d (borrowed). NULL on OOM. */
json_t *store__desc_to_json(const struct store_desc *d);

/* A descriptor object's ref.name annotation, or NULL. */
const char *store__json_ref_name(const json_t *desc);

/* ---- gc internals shared by store_gc.c and store_cache.c ------------------------------------ */

/* What a walk of index.json reached. */
struct walk {
    struct store *st;
    json_t *seen;             /* hex -> true: every digest reached */
    json_t *bad;              /* hex -> true: blobs known corrupt (verify), not read again */
    struct sw_strv *problems; /* verify: collect problems; NULL (gc): fail on an unreadable
                                 manifest or index, ignore everything else */
    json_t *diffs;            /* gc (may be NULL): hex -> true, the diff_ids of the images'
                                 layers (their configs' rootfs.diff_ids) */
    bool diffs_incomplete;    /* a config could not be read: `diffs` may miss some */
};

/* What a sweep removed. */
struct sweep {
    size_t count;
    uint64_t bytes;
};

/* The snapshot directories, one per snapshot format. */
#define NSNAPSHOT_DIRS 3
extern const char *const store__snapshot_dirs[NSNAPSHOT_DIRS];

/* Is s 64 lowercase hex digits? */
bool store__hex_name(const char *s);
/* The names in dirfd, sorted; `shown` names the directory in errors. */
int store__list_dir(int dirfd, const char *shown, struct sw_strv *out, struct sw_error **err);
/* Open ROOT/rel as a directory (*fd -1 when it does not exist); *shown for messages. */
int store__open_subdir(struct store *st, const char *rel, int *fd, char **shown,
                       struct sw_error **err);
/* Remove dirfd/name (a regular file), counting it; a file already gone is fine. */
int store__sweep_file(int dirfd, const char *name, const char *shown, struct sweep *sw,
                      struct sw_error **err);
/* Remove a tree: renamed away first, so it is never half there under its real name. */
int store__sweep_tree_renamed(int dirfd, const char *name, const char *shown, struct sweep *sw,
                              struct sw_error **err);
/* Bytes below parent/name; *newest (may be NULL) gets the newest mtime or ctime seen. */
uint64_t store__tree_size(int parent, const char *name, int64_t *newest);
/* Mark everything index.json reaches. */
int store__walk_index(struct walk *w, const json_t *idx, struct sw_error **err);

#endif
