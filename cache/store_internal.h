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

#endif
