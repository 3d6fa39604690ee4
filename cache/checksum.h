/*
 * cache/checksum.h: content checksums of the files a build step reads.
 *
 * Owns: the canonical encoding and digest of a set of files (what a COPY/ADD takes from the
 * context or another stage after .dockerignore and --exclude, a RUN bind mount): per entry its
 * path, type, permission bits, owner (after --chown), symlink target, xattrs and the sha256 of its
 * bytes, never its times. Also the per-entry list that --explain-cache diffs between two builds,
 * and that list's text form for cache records. The exact encodings are in docs/cache.md,
 * "Content checksums".
 */
#ifndef SLIPWAY_CACHE_CHECKSUM_H
#define SLIPWAY_CACHE_CHECKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../builder/util/buf.h"
#include "../builder/util/digest.h"
#include "../builder/util/error.h"
#include "statcache.h"

/* One file of the set. Every pointer is borrowed for the duration of the call. */
struct ck_file {
    const char *path; /* in the result: relative, cleaned (no leading or trailing '/', no empty,
                         "." or ".." component) */
    mode_t mode;      /* file type and permission bits (after --chmod) */
    uid_t uid;        /* after --chown */
    gid_t gid;
    const char *link;   /* symlink target (symlinks only; required for them) */
    const char *source; /* host path of the entry: a regular file's content (read through the stat
                           cache) and, with with_xattrs, whose xattrs are read (any type); NULL */
    const char *data;   /* a regular file's inline content when source is NULL (heredocs) */
    size_t data_len;
};

struct ck_opts {
    /* Group and other permission bits become copies of the owner's read and execute bits, write
     * bits cleared: perm = (perm & 07700) | (perm & 0500) >> 3 | (perm & 0500) >> 6. So 0644,
     * 0664 and 0600 all count as 0644; 0755, 0775 and 0700 as 0755. setuid/setgid/sticky and the
     * owner bits are kept. For contexts checked out under different umasks. */
    bool normalize_perms;
    /* Cover the xattrs of each entry's `source` (all of them, sorted by name, none skipped). */
    bool with_xattrs;
};

/* One entry as it was hashed. A digest whose str[0] is '\0' means "none". */
struct ck_entry {
    char *path;
    mode_t mode; /* type and permission bits, after normalize_perms */
    uid_t uid;
    gid_t gid;
    char *link;               /* symlinks: the target; else NULL */
    struct sw_digest content; /* regular files: sha256 of the bytes; else none */
    struct sw_digest xattrs;  /* sha256 of the xattr encoding; none without xattrs */
    struct sw_digest digest;  /* sha256 of the entry's canonical record */
    char *text;               /* for people: "mode 0644 uid 0 gid 0 sha256:..." */
};

/* Entries sorted by path (bytewise), each path once. A zero-initialized list is empty. */
struct ck_list {
    struct ck_entry *v;
    size_t n;
};

/*
 * The content checksum of files[0..n): sha256 over a header naming the options and the canonical
 * records of the entries sorted by path. When a path occurs more than once, the last one given
 * wins (as in the layer writer). Regular files' bytes come from `sc` (NULL: every file is read).
 * `opts` may be NULL (all false). `list` (may be NULL) receives the per-entry list; the caller
 * frees it with ck_list_free. -SW_EINVAL for an unclean path, an unknown file type or a symlink
 * without a target; the stat cache's errors for unreadable sources; -SW_EIO when xattrs cannot
 * be listed. On failure *out and *list are untouched.
 */
int ck_checksum(struct sw_digest *out, struct ck_list *list, const struct ck_file *files, size_t n,
                const struct ck_opts *opts, struct statcache *sc, struct sw_error **err);

void ck_list_free(struct ck_list *l);

/* What changed for one path (bits of the `changes` argument of a ck_diff_fn). */
enum ck_change {
    CK_ADDED = 1 << 0,
    CK_REMOVED = 1 << 1,
    CK_TYPE = 1 << 2,    /* file type; content and link changes are then implied, not reported */
    CK_CONTENT = 1 << 3, /* the bytes */
    CK_MODE = 1 << 4,    /* permission bits */
    CK_OWNER = 1 << 5,   /* uid or gid */
    CK_LINK = 1 << 6,    /* symlink target */
    CK_XATTRS = 1 << 7,
};

/* "added", "removed", "type changed", "content changed", "mode changed", "owner changed",
 * "link changed", "xattrs changed" for one bit; "?" otherwise. */
const char *ck_change_name(unsigned change);

/* Called once per path that differs, in path order. old_e is NULL for CK_ADDED, new_e for
 * CK_REMOVED. A non-zero return stops ck_diff, which returns that value. */
typedef int (*ck_diff_fn)(const char *path, unsigned changes, const struct ck_entry *old_e,
                          const struct ck_entry *new_e, void *payload);

/*
 * Compare two lists (as made by ck_checksum or ck_list_parse) path by path. Returns 0, the first
 * non-zero value fn returned, or -SW_EINVAL when a list is not sorted with unique paths.
 */
int ck_diff(const struct ck_list *old_list, const struct ck_list *new_list, ck_diff_fn fn,
            void *payload, struct sw_error **err);

/* Append the text form of the list to `out` (a header line, then one line per entry). */
int ck_list_format(const struct ck_list *l, struct sw_buf *out, struct sw_error **err);

/*
 * Parse the text form back (entry digests and texts are recomputed). Anything malformed,
 * unsorted or duplicated is -SW_EPARSE naming the line. *out is untouched on failure; on success
 * the caller frees it with ck_list_free.
 */
int ck_list_parse(struct ck_list *out, const char *text, size_t len, struct sw_error **err);

#endif
