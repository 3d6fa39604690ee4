/*
 * builder/layer/writer.h: writing one image layer (a tar changeset) as a compressed blob.
 *
 * Owns: struct layer_writer, the entry-based API that COPY, RUN diffs and heredocs feed, the
 * layer formats (Linux today; Windows plugs in behind enum layer_format), the compression choice
 * and the layer media types. The exact tar rules (ordering, PAX, owners, timestamps, xattrs,
 * hardlinks, whiteouts) are in docs/layers.md.
 *
 * Entries are buffered as metadata only; file contents are read in fixed-size chunks at
 * layer_writer_finish, which streams the tar through the compressor into a caller-supplied sink
 * while computing both digests, so memory does not grow with file sizes.
 *
 * A writer is used by one thread at a time; separate writers are independent.
 */
#ifndef SLIPWAY_LAYER_WRITER_H
#define SLIPWAY_LAYER_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util/digest.h"
#include "util/error.h"

/* The tar dialect of the layer. Only Linux exists today; a Windows writer (Files/, Hives/,
 * MSWINDOWS.* PAX records) is a second entry in writer.c's format table. */
enum layer_format {
    LAYER_FORMAT_LINUX = 0,
};

enum layer_compression {
    LAYER_COMPRESSION_GZIP = 0, /* default: application/vnd.oci.image.layer.v1.tar+gzip */
    LAYER_COMPRESSION_ZSTD,     /* application/vnd.oci.image.layer.v1.tar+zstd */
    LAYER_COMPRESSION_NONE,     /* application/vnd.oci.image.layer.v1.tar */
};

#define LAYER_MEDIA_TYPE_TAR "application/vnd.oci.image.layer.v1.tar"
#define LAYER_MEDIA_TYPE_TAR_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define LAYER_MEDIA_TYPE_TAR_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

/* The OCI media type for a compression (a static string). */
const char *layer_media_type(enum layer_compression c);

/* Where the compressed bytes go. `write` must consume all n bytes or fail (return -SW_E* and set
 * *err). It is only called from inside layer_writer_finish. */
struct layer_sink {
    int (*write)(void *ctx, const void *buf, size_t n, struct sw_error **err);
    void *ctx;
};

struct layer_writer_opts {
    enum layer_format format;
    enum layer_compression compression;
    /* 0 = the compressor's default (gzip 6, zstd 3); gzip 1..9, zstd 1..22. */
    int level;
    /* SOURCE_DATE_EPOCH: entry mtimes later than this are clamped to it. -1 = unset. Note that a
     * zero-filled struct means epoch 0; start from layer_writer_opts_default(). */
    int64_t source_date_epoch;
    /* Keep sub-second mtimes (as PAX mtime records). Off by default: mtimes are truncated to
     * whole seconds, so ordinary entries need no PAX header. */
    bool keep_mtime_nsec;
    /* xattr names to keep, NULL-terminated; an entry ending in '*' matches by prefix ("user.*").
     * NULL = the default {"security.capability", "user.*"}; an empty list keeps none.
     * Borrowed until layer_writer_free. */
    const char *const *xattrs;
};

/* gzip, default level, no SOURCE_DATE_EPOCH, whole-second mtimes, default xattrs. */
struct layer_writer_opts layer_writer_opts_default(void);

enum layer_entry_type {
    LAYER_ENTRY_REG = 0,
    LAYER_ENTRY_DIR,
    LAYER_ENTRY_SYMLINK,
    LAYER_ENTRY_HARDLINK, /* link_target: a path inside this layer (or a lower one) */
    LAYER_ENTRY_CHAR,
    LAYER_ENTRY_BLOCK,
    LAYER_ENTRY_FIFO,
    LAYER_ENTRY_SOCKET,   /* tar cannot hold sockets: skipped silently */
    LAYER_ENTRY_WHITEOUT, /* path P is deleted: written as the empty file dirname(P)/.wh.basename(P)
                           */
    LAYER_ENTRY_OPAQUE,   /* path D is an opaque directory: written as D/.wh..wh..opq */
};

/* Where a regular file's content comes from (only read at layer_writer_finish). */
enum layer_source_kind {
    LAYER_SOURCE_NONE = 0, /* empty file: size must be 0 */
    LAYER_SOURCE_PATH,     /* open `path` (O_NOFOLLOW) at finish; the path string is copied */
    LAYER_SOURCE_FD,       /* read `fd` with pread from offset 0; borrowed, must stay open */
    LAYER_SOURCE_BUF,      /* `data`, `size` bytes; copied by layer_writer_add (heredocs) */
};

struct layer_source {
    enum layer_source_kind kind;
    const char *path;
    int fd;
    const void *data;
};

struct layer_xattr {
    const char *name;
    const void *value;
    size_t len;
};

/* One entry. Every pointer is borrowed for the duration of layer_writer_add only, except a
 * LAYER_SOURCE_FD descriptor, which must stay open and unchanged until finish returns. */
struct layer_entry {
    /* Relative, '/'-separated; cleaned on add ("./a//b/" -> "a/b"). Rejected: empty, absolute,
     * any ".." component, NUL bytes (use `path_len`), a component starting with ".wh." */
    const char *path;
    size_t path_len; /* 0 = strlen(path) */
    enum layer_entry_type type;
    uint32_t mode; /* permission bits incl. setuid/setgid/sticky; file-type bits are ignored */
    uint32_t uid, gid;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint64_t size;           /* regular files only */
    const char *link_target; /* symlinks (kept verbatim) and hardlinks */
    uint32_t rdev_major, rdev_minor;
    struct layer_source source;
    /* Source identity for hardlink detection: regular files with the same non-zero src_ino and
     * the same src_dev become hardlinks to the first of them in tar order. */
    uint64_t src_dev, src_ino;
    const struct layer_xattr *xattrs; /* filtered through opts.xattrs; others are dropped */
    size_t nxattrs;
};

struct layer_writer;

/* The entry type of a file mode (st_mode): regular, dir, symlink, char, block, fifo, socket. */
enum layer_entry_type layer_entry_type_from_mode(mode_t mode);

struct layer_result {
    struct sw_digest diff_id; /* sha256 of the uncompressed tar */
    struct sw_digest digest;  /* sha256 of the bytes given to the sink */
    uint64_t size;            /* number of bytes given to the sink */
    const char *media_type;   /* static string */
    uint64_t entries;         /* tar entries written */
};

/* Create a writer. `o` may be NULL (layer_writer_opts_default()); the sink is copied. */
int layer_writer_new(struct layer_writer **out, const struct layer_writer_opts *o,
                     const struct layer_sink *sink, struct sw_error **err);

/* Add (or replace: the last add of a tar path wins) one entry. Errors: -SW_EINVAL naming the
 * path for a bad path, type, size or source. Sockets return 0 and are not recorded. */
int layer_writer_add(struct layer_writer *w, const struct layer_entry *e, struct sw_error **err);

/* A whiteout for `path` (dir/.wh.name) and an opaque marker for directory `dir`
 * (dir/.wh..wh..opq; "." or "" is the layer root). mtime 0, mode 0, owner 0:0. */
int layer_writer_add_whiteout(struct layer_writer *w, const char *path, struct sw_error **err);
int layer_writer_add_opaque(struct layer_writer *w, const char *dir, struct sw_error **err);

enum layer_tree_verdict {
    LAYER_TREE_INCLUDE = 0, /* add the entry (and walk a directory's children) */
    LAYER_TREE_EXCLUDE,     /* leave it out; a directory's children are not visited */
    LAYER_TREE_DESCEND,     /* leave a directory entry out but visit its children */
};

struct layer_tree_opts {
    /* Overrides for COPY --chown / --chmod (mode: permission bits, applied to every entry
     * except symlinks). */
    bool set_uid, set_gid, set_mode;
    uint32_t uid, gid, mode;
    /* Also add an entry for `prefix` itself, from the stat of `dir`. */
    bool include_root;
    /* Called for every entry below `dir` with its path relative to `dir` and its lstat. NULL
     * includes everything. */
    enum layer_tree_verdict (*filter)(void *ctx, const char *rel_path, const struct stat *st);
    void *filter_ctx;
};

/* Walk directory `dir` (lstat, symlinks never followed, names in bytewise order) and add every
 * entry below it under `prefix` ("" or "." = the layer root): regular files (by path, read at
 * finish), directories, symlinks, devices, fifos, xattrs (filtered), hardlink identity. Sockets
 * are skipped. `o` may be NULL. */
int layer_writer_add_tree(struct layer_writer *w, const char *dir, const char *prefix,
                          const struct layer_tree_opts *o, struct sw_error **err);

/* Write the tar (sorted, see docs/layers.md) through the compressor into the sink and fill
 * *result. Errors name the entry at fault. The writer accepts no more entries afterwards,
 * whether it succeeded or not; free it with layer_writer_free. */
int layer_writer_finish(struct layer_writer *w, struct layer_result *result, struct sw_error **err);

/* Accepts NULL. Does not close LAYER_SOURCE_FD descriptors. */
void layer_writer_free(struct layer_writer *w);

#endif
