/*
 * builder/snapshot/overlay.h: writable snapshots for RUN steps and their diffs.
 *
 * Owns: struct snap_mount, a writable file system over a stack of per-layer snapshot
 * directories that a container runs on, the diff of what the container changed (fed to a layer
 * writer) and the commit of those changes as the next per-layer snapshot directory. Two
 * snapshotters sit behind the same calls (docs/snapshots.md):
 *
 *  - overlay: an overlayfs mount (lowerdir = the layers, a fresh upperdir and workdir). The
 *    layers are passed one by one with fsconfig(2) "lowerdir+" (kernel >= 6.8), so their number
 *    and path lengths are not limited by the page-sized mount option string; older kernels fall
 *    back to mount(2), naming the directories as /proc/self/fd/N of O_PATH descriptors when the
 *    plain option string would not fit. The diff walks the upperdir; the commit renames it.
 *  - copy: where overlayfs is unavailable (the caller decides, e.g. from SLIPWAY_SNAPSHOTTER):
 *    the layers are merged into a fresh directory by copying, every entry's metadata is recorded,
 *    and the diff compares the tree with the record.
 *
 * The overlay snapshotter mounts: the caller runs inside a private mount namespace (the solver
 * does unshare(CLONE_NEWNS) and makes "/" MS_PRIVATE for the whole build). Nothing here changes
 * the process working directory or keeps global state; separate mounts are independent, one
 * mount is used by one thread at a time.
 */
#ifndef SLIPWAY_SNAPSHOT_OVERLAY_H
#define SLIPWAY_SNAPSHOT_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "../layer/writer.h"
#include "../util/error.h"

enum snap_kind {
    SNAP_OVERLAY = 0,
    SNAP_COPY,
};

struct snap_mount_opts {
    /* Use the copy-based snapshotter instead of overlayfs. */
    bool force_copy;
    /* Mount the overlay with `userxattr` (rootless, in a user namespace): lower layers then
     * carry user.overlay.* markers (layer_extract_opts.overlay_userxattr). Implied when the
     * process runs in a user namespace (util/userns.h), where trusted.* is not available. */
    bool userxattr;
    /* Skip fsconfig(2) and mount with mount(2) and an option string (tests; older kernels are
     * detected without it). */
    bool legacy_mount;
};

struct snap_mount;

/*
 * The format of the per-layer snapshot directories this process reads and writes. It is part of
 * a snapshot's identity (the solver keeps them in ROOT/snapshots/<snap_format_name()>/<diff_id>),
 * so a store used by root and by a rootless user never stacks one kind under the other.
 */
enum snap_format {
    SNAP_FORMAT_OVERLAY = 0,  /* root: trusted.overlay.* xattrs, 0/0 device whiteouts */
    SNAP_FORMAT_OVERLAY_USER, /* root of a user namespace (rootless): user.overlay.* xattrs,
                               * xattr whiteouts (and the 0/0 devices overlayfs itself makes) */
    SNAP_FORMAT_MARKERS,      /* no root at all: .wh. marker files, read by views only (no RUN) */
};
/* From the process's credentials: euid != 0 is MARKERS; euid 0 in a user namespace other than
 * the initial one is OVERLAY_USER; otherwise OVERLAY. */
enum snap_format snap_format_current(void);
/* "overlay", "overlay-user", "markers". */
const char *snap_format_name(enum snap_format f);

/*
 * A writable snapshot over `lowerdirs` (n directories, bottom first; n == 0 is an empty file
 * system), with its private state in a new directory under `work_root`, which must be on the
 * same file system as the directory snap_commit later renames the changes to. `o` may be NULL.
 * The directory to run the container on is snap_merged_path(). Errors: -SW_EIO (the mount or
 * a copy failed; the kernel's own message is included when it gave one), -SW_EINVAL (more than
 * 500 layers for overlayfs), -SW_EUNSUPPORTED (a kernel before 6.8 and too many layers for one
 * page of mount options, even as /proc/self/fd names).
 */
int snap_mount(struct snap_mount **out, char *const *lowerdirs, size_t n, const char *work_root,
               const struct snap_mount_opts *o, struct sw_error **err);

enum snap_kind snap_mount_kind(const struct snap_mount *m);
/* The container's root directory (the overlay mount point, or the copy). */
const char *snap_merged_path(const struct snap_mount *m);
/* Where the changes are: the overlay upperdir (after snap_unmount, a valid lowerdir), or NULL
 * for the copy snapshotter. */
const char *snap_upper_path(const struct snap_mount *m);

/* Unmount the overlay (the upperdir stays for snap_diff and snap_commit). Idempotent; a no-op
 * for the copy snapshotter. -SW_EIO when the mount is still busy. */
int snap_unmount(struct snap_mount *m, struct sw_error **err);

struct snap_diff_opts {
    /* Paths (relative to the root, "run/secrets/x") the caller created only as mount points:
     * each is left out of the diff when it is an empty regular file, or a directory that is
     * empty once listed paths below it are left out. snap_commit removes them too. */
    const char *const *drop_if_empty;
    size_t ndrop;
};

/*
 * Add what the container changed to layer writer `w` (SOURCE_DATE_EPOCH and xattr filtering are
 * the writer's): new and changed regular files (read at layer_writer_finish, so the upperdir or
 * copy must stay until then), directories, symlinks, hardlinks (by inode identity), devices and
 * fifos with their mode, owner, mtime and xattrs (except the overlay's own trusted.overlay.* /
 * user.overlay.*); deletions as whiteouts, replaced directories as opaque. Directories above a
 * change are included with their current metadata (overlayfs copies them up; BuildKit does the
 * same). The layer root's own metadata is not part of a diff. Call it once the container has
 * exited, normally after snap_unmount. `o` may be NULL.
 */
int snap_diff(struct snap_mount *m, struct layer_writer *w, const struct snap_diff_opts *o,
              struct sw_error **err);

/*
 * Turn the changes into the per-layer snapshot directory `dest_dir`, with overlayfs whiteouts
 * (what a lowerdir needs): the overlay upperdir is renamed there (no copy; its paths dropped by
 * snap_diff are removed first); the copy snapshotter writes the changed entries and whiteouts
 * into a new directory and renames it. The rename is atomic: when dest_dir already exists
 * (another build made the same snapshot), ours is removed and 0 is returned. Unmounts first if
 * needed; the mount's other state is removed. The mount is only good for snap_free afterwards.
 * When snap_diff was not called, the changes are computed without drops.
 */
int snap_commit(struct snap_mount *m, const char *dest_dir, struct sw_error **err);

/* Unmount (lazily, if still busy) and remove everything the mount still owns under work_root,
 * including an uncommitted upperdir. Accepts NULL. */
void snap_free(struct snap_mount *m);

#endif
