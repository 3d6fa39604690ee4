/*
 * builder/layer/extract.h: applying one layer blob onto a directory.
 *
 * Owns: layer_extract, which unpacks a (possibly compressed) OCI/Docker layer tar onto a
 * snapshot directory, applying whiteouts and opaque directories against what lower layers left
 * there. Everything happens relative to a directory descriptor of the destination: the process
 * working directory is never used or changed, so several extractions can run in parallel.
 *
 * Safety: entry paths are cleaned (a leading '/' is dropped: absolute names are relative to the
 * layer root; any ".." component is an error); every parent component is resolved inside the
 * destination as if it were the root (a symlink is followed, but "/" and ".." in its target stop
 * at the destination, like a chroot); the last component is never followed (an existing file,
 * symlink or directory there is replaced, not written through); hardlink targets are resolved
 * the same way, so they always name something inside the destination.
 */
#ifndef SLIPWAY_LAYER_EXTRACT_H
#define SLIPWAY_LAYER_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

struct layer_extract_opts {
    bool no_chown;   /* never change owners, even as root */
    bool no_devices; /* never create device nodes, even as root */
    bool no_xattrs;  /* do not apply extended attributes */
    /* Write whiteout markers (.wh.NAME, .wh..wh..opq) as the empty files they are instead of
     * applying them: for a per-layer snapshot directory that a view stacks over lower ones
     * (builder/snapshot/view.h). Other .wh..wh.* (aufs metadata) entries are still dropped. */
    bool keep_whiteouts;
    /* Write whiteouts the way an overlayfs lowerdir holds them (see docs/snapshots.md), for a
     * per-layer snapshot directory that is mounted as an overlay lower layer. Takes precedence
     * over keep_whiteouts. Markers are collected while the layer is read and written once all
     * entries are in place (before directory modes and mtimes):
     *  - `.wh.NAME` becomes a 0/0 character device NAME; an entry of this layer at NAME wins
     *    (a directory there is marked opaque instead, since it replaces the lower one);
     *  - `.wh..wh..opq` in D becomes the xattr trusted.overlay.opaque="y" on D;
     *  - whiteouts inside a directory this layer marks opaque are dropped (pointless there);
     *  - the overlay's own xattrs (trusted.overlay.*, user.overlay.*) carried by entries are
     *    never applied (counted in xattrs_skipped): a layer must not steer the overlay.
     * With overlay_userxattr, or when not running as root (euid != 0), the format is the one an
     * overlay mounted with `userxattr` reads (kernel >= 6.7): `.wh.NAME` becomes an empty regular
     * file NAME (mode 0644) with the xattr user.overlay.whiteout (empty value) and its directory
     * gets user.overlay.opaque="x" (unless it is opaque); `.wh..wh..opq` becomes
     * user.overlay.opaque="y". Root inside a user namespace must ask for it explicitly. */
    bool overlay_whiteouts;
    bool overlay_userxattr;
};

struct layer_extract_result {
    uint64_t entries;         /* tar entries read */
    uint64_t whiteouts;       /* .wh.<name> entries applied (or kept, or converted) */
    uint64_t opaque_dirs;     /* .wh..wh..opq entries applied (or kept, or converted) */
    uint64_t devices_skipped; /* char/block devices not created (not root, or refused) */
    uint64_t owners_skipped;  /* entries whose owner was not applied (not root, or unmapped) */
    uint64_t xattrs_skipped;  /* xattrs the filesystem or our privileges refused */
};

/*
 * Apply the layer read from blob_fd (read sequentially from its current offset; not closed) onto
 * the existing directory dest_dir. media_type selects the decompressor: the OCI layer types
 * (tar, tar+gzip, tar+zstd, also "nondistributable") and Docker's rootfs.diff.tar.gzip; NULL
 * detects gzip, zstd or plain tar from the data. `o` and `res` may be NULL.
 *
 * Ownership is applied only when running as root (euid 0); otherwise, or when the kernel refuses
 * (unmapped ids in a user namespace), it is counted in res->owners_skipped. Device nodes follow
 * the same rule (res->devices_skipped). Modes and mtimes are always applied; directory modes and
 * mtimes are applied once all entries are in place.
 *
 * Errors: -SW_EINVAL for a hostile or malformed entry, -SW_EIO for a failed system call or a
 * corrupt stream, -SW_EUNSUPPORTED for an unknown media type; messages name the layer entry at
 * fault ("layer entry 'a/b': ..."). On failure the destination holds a partial layer.
 */
int layer_extract(int blob_fd, const char *media_type, const char *dest_dir,
                  const struct layer_extract_opts *o, struct layer_extract_result *res,
                  struct sw_error **err);

/* The same, reading the blob from a file. */
int layer_extract_file(const char *blob_path, const char *media_type, const char *dest_dir,
                       const struct layer_extract_opts *o, struct layer_extract_result *res,
                       struct sw_error **err);

#endif
