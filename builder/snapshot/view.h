/*
 * builder/snapshot/view.h: a read-only union view of a stack of layer directories.
 *
 * Owns: path lookup and directory listing across snapshot directories (one per layer, bottom
 * first), the way overlayfs or a tar-applying runtime would see them: an upper entry hides lower
 * ones; whiteouts (`.wh.NAME` files, 0/0 character devices as overlayfs writes them, or the
 * xattr whiteouts of rootless snapshots: an empty file with overlay.whiteout in a directory whose
 * overlay.opaque is "x") delete a lower entry; an opaque directory (`.wh..wh..opq`, or the
 * trusted.overlay.opaque / user.overlay.opaque xattr set to "y") hides everything below it.
 * Symlinks are resolved inside the view's root: an absolute target restarts at the root and ".."
 * never climbs above it, so no lookup can leave the view. COPY --from, /etc/passwd lookups and
 * destination checks read through it.
 */
#ifndef SLIPWAY_SNAPSHOT_VIEW_H
#define SLIPWAY_SNAPSHOT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "../util/buf.h"
#include "../util/error.h"

struct view;

/* A view over `dirs` (bottom layer first); the strings are copied. n == 0 is an empty file
 * system (scratch). */
int view_open(struct view **out, char *const *dirs, size_t n, struct sw_error **err);
void view_free(struct view *v);

struct view_entry {
    char *path;      /* canonical absolute path in the view ("/" for the root) */
    size_t layer;    /* index of the layer that provides it */
    struct stat st;  /* lstat of that entry */
    char *host_path; /* the entry's path on the host (for opening content); owned */
};
void view_entry_clear(struct view_entry *e);

/*
 * Resolve `path` (absolute or relative to "/") inside the view. Intermediate symlinks are always
 * followed (scoped to the root); the final one only when follow_final. Returns 0 with *out
 * filled, -SW_ENOTFOUND when nothing is there (err set with "PATH: no such file or directory"),
 * -SW_EINVAL for a symlink loop.
 */
int view_resolve(struct view *v, const char *path, bool follow_final, struct view_entry *out,
                 struct sw_error **err);

/* The names in a directory of the view (a canonical path from view_resolve), sorted, without
 * whiteouts and markers. */
int view_readdir(struct view *v, const char *dir, struct sw_strv *names, struct sw_error **err);

/* Read a whole regular file of the view (after resolving symlinks), at most max bytes. */
int view_read_file(struct view *v, const char *path, size_t max, char **data, size_t *len,
                   struct sw_error **err);

/* Clean a path like Go's path.Clean, rooted: "a/../b/" -> "/b". Caller frees. */
char *view_clean_path(const char *path);

#endif
