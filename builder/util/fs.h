/*
 * builder/util/fs.h: small file-system helpers.
 *
 * Owns: removing a directory tree without following symlinks (sw_rmtree), making a directory
 * path (sw_mkdir_p), listing a directory's names (sw_dir_names), and whole-file I/O: writing all
 * of a buffer, copying a file's content (copy_file_range, else read and write), and replacing a
 * file atomically (a temporary file beside it, renamed).
 */
#ifndef SLIPWAY_UTIL_FS_H
#define SLIPWAY_UTIL_FS_H

#include <stdbool.h>
#include <sys/types.h>

#include "buf.h"

#include "error.h"

/* Remove path and everything below it (symlinks are removed, never followed). A missing path is
 * not an error. */
int sw_rmtree(const char *path, struct sw_error **err);
/* mkdir -p with mode for the directories it creates. */
int sw_mkdir_p(const char *path, mode_t mode, struct sw_error **err);

/* Append the names in directory dirfd (left open), without "." and "..", to out, in bytewise
 * order when `sorted`. Returns 0, -SW_ENOMEM, or -SW_EIO with errno telling why (the caller
 * words the error: it knows which directory it was). */
int sw_dir_names(struct sw_strv *out, int dirfd, bool sorted);

/* write(2) until all of data is written (EINTR retried). 0, or the errno that stopped it. */
int sw_write_all(int fd, const void *data, size_t len);
/* Copy all of in_fd, from offset 0 (its file offset is not used), to out_fd at its offset:
 * copy_file_range where the kernel can, else pread and write. `what` names the source in
 * errors (-SW_EIO). */
int sw_copy_fd(int in_fd, int out_fd, const char *what, struct sw_error **err);
/* Copy regular file src to a new file dst (which must not exist) with `mode`; neither path's
 * last component is followed if it is a symlink. */
int sw_copy_file(const char *src, const char *dst, mode_t mode, struct sw_error **err);
/* Replace (or create) path with data, mode `mode`: written to PATH.tmp-XXXXXX in the same
 * directory, then renamed over it, so readers see the old or the new file, never a part. No
 * fsync: callers that need durability (the store's index) do their own. */
int sw_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct sw_error **err);

#endif
