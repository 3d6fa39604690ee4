/*
 * builder/util/fs.h: small file-system helpers.
 *
 * Owns: removing a directory tree without following symlinks (sw_rmtree) and making a
 * directory path (sw_mkdir_p).
 */
#ifndef SLIPWAY_UTIL_FS_H
#define SLIPWAY_UTIL_FS_H

#include <sys/types.h>

#include "error.h"

/* Remove path and everything below it (symlinks are removed, never followed). A missing path is
 * not an error. */
int sw_rmtree(const char *path, struct sw_error **err);
/* mkdir -p with mode for the directories it creates. */
int sw_mkdir_p(const char *path, mode_t mode, struct sw_error **err);

#endif
