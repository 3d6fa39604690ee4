/*
 * builder/export/export_internal.h: helpers shared by export.c and import.c (common.c).
 *
 * Owns: destination paths and their temporary siblings, the deterministic tar writer used for
 * OCI and docker archives, copying and hard-linking files, decompressing a layer while hashing
 * it, and the naming convention of index.json entries.
 */
#ifndef SLIPWAY_EXPORT_INTERNAL_H
#define SLIPWAY_EXPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/manifest.h"
#include "util/digest.h"
#include "util/error.h"

/* The cap on JSON documents read from archives and the store (manifests, indexes, configs). */
#define EXP_DOC_MAX ((size_t)4 << 20)
#define EXP_OCI_LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"

/* ---- destinations ------------------------------------------------------------------------------
 */

/* Split dest (trailing slashes ignored) into its directory ("." when none) and last component.
 * -SW_EINVAL for "", "/", "." or "..". Both are owned by the caller. */
int exp_split_dest(const char *dest, char **dir, char **base, struct sw_error **err);
/* A new temporary file DIR/.BASE.tmp-XXXXXX (O_RDWR|O_CLOEXEC, mode 0600). */
int exp_temp_file(const char *dir, const char *base, char **path, int *fd, struct sw_error **err);
/* A new temporary directory DIR/.BASE.tmp-XXXXXX (mode 0700). */
int exp_temp_dir(const char *dir, const char *base, char **path, struct sw_error **err);
/* fsync the directory (errors other than EINVAL are reported). */
int exp_fsync_dir(const char *dir, struct sw_error **err);
/* Finish a temporary file: fchmod 0644, fsync, close (always) and rename it to dest, then fsync
 * dir. On failure the temporary file is removed. */
int exp_commit_file(int fd, const char *tmp, const char *dest, const char *dir,
                    struct sw_error **err);
enum exp_path_state {
    EXP_PATH_ABSENT = 0,
    EXP_PATH_EMPTY_DIR,
    EXP_PATH_DIR,   /* a directory with entries */
    EXP_PATH_OTHER, /* a file, a symlink, ... */
};
/* What is at path (not following a final symlink). */
int exp_path_state(const char *path, enum exp_path_state *out, struct sw_error **err);

/* ---- files
 * ---------------------------------------------------------------------------------------
 */

/* Make dest (which must not exist) a hard link to src, or if that is impossible a copy (mode
 * 0644) written to a temporary file and renamed. An existing dest is left alone. */
int exp_link_or_copy(const char *src, const char *dest, struct sw_error **err);
/* Write a whole buffer to a new file (mode 0644), atomically (temporary + rename). */
int exp_write_file(const char *path, const void *data, size_t len, struct sw_error **err);

/* ---- layers
 * ---------------------------------------------------------------------------------------
 */

enum exp_comp {
    EXP_COMP_NONE = 0,
    EXP_COMP_GZIP,
    EXP_COMP_ZSTD,
};

/*
 * Read the (gzip, zstd or uncompressed) stream in_fd from its current offset, hash the
 * decompressed bytes into *diff_id and, when out_fd >= 0, write them there. *comp (may be NULL)
 * says which compression the stream had, *size (may be NULL) the decompressed size.
 */
int exp_decompress(int in_fd, int out_fd, struct sw_digest *diff_id, uint64_t *size,
                   enum exp_comp *comp, struct sw_error **err);

/* ---- the deterministic tar
 * -------------------------------------------------------------------------
 */

struct exp_tar_entry {
    char *path; /* relative, no trailing '/' */
    bool dir;
    void *data; /* owned copy of the content, or NULL when src is set */
    size_t len;
    char *src;     /* a file to copy the content from, or NULL */
    uint64_t size; /* the size src must have */
};

struct exp_tar {
    struct exp_tar_entry *v;
    size_t n, cap;
};

/* Add a file with the given content (copied). */
int exp_tar_add_data(struct exp_tar *t, const char *path, const void *data, size_t len,
                     struct sw_error **err);
/* Add a file whose content is read from src at write time; it must be `size` bytes long. A path
 * already added is not added again. */
int exp_tar_add_file(struct exp_tar *t, const char *path, const char *src, uint64_t size,
                     struct sw_error **err);
/* Write the tar to fd: missing parent directories are added, entries sorted bytewise by path,
 * owners 0:0 without names, mode 0644 (files) / 0755 (directories), every mtime `mtime`. */
int exp_tar_write(struct exp_tar *t, int fd, int64_t mtime, struct sw_error **err);
void exp_tar_free(struct exp_tar *t);

/* ---- names
 * -------------------------------------------------------------------------------------------
 */

/*
 * The index.json annotations for a normalized name: *full = "docker.io/library/app:latest"
 * (io.containerd.image.name), *tag = "latest" (org.opencontainers.image.ref.name), *familiar =
 * "app:latest" (docker's RepoTags); any of them may be NULL when not wanted. Names without a
 * tag, or with a digest, are -SW_EINVAL.
 */
int exp_name_forms(const char *name, char **full, char **tag, char **familiar,
                   struct sw_error **err);

/* An RFC 3339 time ("2024-01-02T03:04:05.5Z", "...+01:00") to seconds since the epoch. */
int exp_parse_time(const char *s, int64_t *out);

#endif
