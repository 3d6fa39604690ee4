/*
 * builder/export/export.h: images out of the store and back in.
 *
 * Owns: the outputs of `slipway build -o` and `slipway save` (an OCI image layout as a directory
 * or a tar, a docker-archive tar, the image's file system as a directory or as one tar) and the
 * reader behind `slipway load` (OCI layout directory, OCI layout tar, docker-archive tar). The
 * formats and naming conventions are documented in docs/outputs.md; in short:
 *
 *   * index.json has one entry per name, annotated like BuildKit, containerd and Docker 25 do:
 *     io.containerd.image.name = the full name ("docker.io/library/app:latest") and
 *     org.opencontainers.image.ref.name = its tag ("latest"). An image without names gets one
 *     entry without annotations.
 *   * Tars are deterministic: entries sorted bytewise, owner 0:0 (numeric, no user names), mode
 *     0644 for files and 0755 for directories, mtime = source_date_epoch or 0.
 *   * Every output is atomic: it is written to a temporary file or directory next to the
 *     destination (".NAME.tmp-XXXXXX") and renamed into place, so a failure leaves nothing
 *     half-written. The exceptions are spelled out per function.
 *
 * Exports hold the store's build lock (store_build_lock) while they read blobs, so a concurrent
 * `slipway prune` cannot remove them midway; so does export_import until its images are tagged.
 *
 * No global state: several exports and imports may run at once, from several threads, as long as
 * they write to different destinations.
 */
#ifndef SLIPWAY_EXPORT_EXPORT_H
#define SLIPWAY_EXPORT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../cache/store.h"
#include "image/manifest.h"
#include "util/buf.h"
#include "util/error.h"

/* An image in the store, as the exporters see it. Everything is borrowed. */
struct export_image {
    struct store *store;
    /* The image manifest's descriptor (media type, digest, size; platform when known). For
     * export_oci it may also be an image index (every platform is exported); the other exporters
     * need a single-platform manifest. */
    struct img_descriptor manifest;
    /* Normalized names ("app:latest", "reg.example.com/x:1"), as the store tags them; each must
     * carry a tag and no digest. May be NULL with nnames 0. */
    const char *const *names;
    size_t nnames;
    /* SOURCE_DATE_EPOCH, -1 when unset: the mtime of every entry of the OCI and docker tars (0
     * when unset) and the clamp for file mtimes in export_rootfs_tar. */
    int64_t source_date_epoch;
};

/*
 * An OCI image layout (oci-layout, index.json, blobs/sha256/...) holding the image: the manifest
 * (or index and its manifests), configs and layers. With as_tar, or when `dest` ends in ".tar",
 * the layout is written as one deterministic tar file (skopeo's oci-archive); otherwise `dest` is a
 * directory whose blobs are hard links to the store's files when both are on the same file system
 * (copies otherwise).
 *
 * A directory `dest` must not exist or be empty; a non-empty `dest` is an error (-SW_EEXIST)
 * unless it already is an OCI layout (it has an oci-layout file), in which case the image is
 * added to it: missing blobs are added (each atomically) and index.json is rewritten atomically
 * with this image's entries added, replacing entries of the same full name (or, for entries
 * without io.containerd.image.name, of the same ref.name); other entries and fields are kept.
 */
int export_oci(const struct export_image *img, const char *dest, bool as_tar,
               struct sw_error **err);

/*
 * A tar for `docker load` (Docker 20.10 and later) and for tools reading Docker 25's save format:
 * manifest.json ([{"Config":"blobs/sha256/<hex>","RepoTags":[...],"Layers":[...]}]), oci-layout,
 * index.json (as export_oci writes it) and the blobs. Layers are stored as they are in the store
 * (plain tar or gzip) except zstd layers, which Docker 20.10 cannot read: they are decompressed
 * into plain tars (named by their diff_id, which is checked) and index.json then points to an
 * OCI manifest written for the archive. Deterministic and atomic like export_oci's tar.
 */
int export_docker_archive(const struct export_image *img, const char *dest_tar,
                          struct sw_error **err);

/*
 * The image's file system in directory `dest_dir`: every layer applied in order with
 * layer_extract (whiteouts and opaque directories applied). Owners and device nodes are only
 * applied when running as root. When dest_dir does not exist the tree is built in a temporary
 * directory next to it and renamed into place; an existing empty directory is filled directly
 * (a failure then leaves a partial tree); anything else existing there is -SW_EEXIST.
 */
int export_local(const struct export_image *img, const char *dest_dir, struct sw_error **err);

/*
 * The image's merged file system as one uncompressed tar `dest_tar`, written by the layer writer
 * (the same entry rules as a layer: sorted, PAX, numeric owners). File mtimes are the image's,
 * clamped to source_date_epoch, or when it is unset to the config's `created` time (so that
 * directories the extraction touched come out the same every time). Owners are the image's when
 * running as root, 0:0 otherwise. The file system is first extracted to a temporary directory
 * next to dest_tar (removed afterwards); the tar is written atomically.
 */
int export_rootfs_tar(const struct export_image *img, const char *dest_tar, struct sw_error **err);

/*
 * `slipway load`: import the images of `src` into the store and tag them. `src` is an OCI image
 * layout directory, or a tar file (optionally gzip/zstd/xz/bzip2-compressed) holding an OCI
 * layout or a docker archive (manifest.json; layers as plain tar, gzip or zstd; Docker's older
 * "<id>/layer.tar" layout with its symlinks included).
 *
 * Every blob is verified: files under blobs/sha256/ must hash to their name and OCI descriptors'
 * sizes must match; docker-archive layers are decompressed and checked against the config's
 * diff_ids. Docker-archive images whose manifest is not in the archive get an OCI manifest
 * written for them. Names come from io.containerd.image.name, else from a ref.name that is a
 * full reference (it contains ':' or '/'; a bare tag like "latest" names nothing), and for docker
 * archives from RepoTags. Each name is appended to loaded_names in its normalized form
 * ("app:latest"); an image without a name is not tagged and is reported by its digest
 * ("sha256:..."). loaded_names (may be NULL) is appended to even on failure; names in it were
 * tagged.
 *
 * Hostile input: JSON documents (index.json, manifest.json, manifests, configs) are capped at
 * 4 MiB; paths in manifest.json are cleaned and must name regular files inside the archive
 * (symlinks are followed only inside the archive); nothing is ever extracted to disk. On
 * failure blobs imported so far stay untagged in the store until `slipway prune`.
 */
int export_import(struct store *st, const char *src, struct sw_strv *loaded_names,
                  struct sw_error **err);

#endif
