/*
 * builder/util/fs.h: small file-system helpers.
 *
 * Owns: removing a directory tree without following symlinks (sw_rmtree), making a directory
 * path (sw_mkdir_p) and listing a directory's names (sw_dir_names).
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

#endif
