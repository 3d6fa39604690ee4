/*
 * cache/statcache.h: the persisted stat cache of a build context.
 *
 * Owns: the map (host path, device, inode, size, mtime_ns, ctime_ns) -> sha256 of the file's
 * bytes, kept per context directory in one file (see "Stat cache" in docs/cache.md), so that a
 * rebuild reads only the files whose metadata changed and a no-op rebuild reads none.
 *
 * Rules:
 *  - An entry answers only when device, inode, size, mtime and ctime all match the caller's
 *    stat, and only when it is not racy: its mtime and ctime must both be older than the moment
 *    the file was hashed minus STATCACHE_RACY_WINDOW_NS (git's racy-index rule; kernel
 *    timestamps are coarse, so a file changed just after we hashed it may keep its mtime/ctime);
 *    STATCACHE_COARSE_WINDOW_NS more when both are whole seconds (a file system with coarse
 *    timestamps). Racy entries are kept but re-read the next time they are asked for.
 *  - Loading never fails a build: a missing, unreadable, truncated or corrupt file (its trailing
 *    sha256 does not match, a record is out of bounds) is ignored as a whole and rebuilt.
 *  - statcache_save writes the file atomically (a temporary file in the same directory, renamed
 *    over it). Concurrent builds of the same context may overwrite each other's file: that only
 *    costs re-reads, never correctness. It writes every entry used or added in this run, then
 *    entries not used in this run but used in the last STATCACHE_KEEP_DAYS days, up to
 *    STATCACHE_MAX_ENTRIES entries and STATCACHE_MAX_FILE_SIZE bytes. When nothing changed
 *    (every entry hit, already used today, nothing to drop) it writes nothing.
 *
 * Threads: one struct statcache may be used by several threads at once (statcache_digest and
 * statcache_reads; a mutex guards the table, files are hashed outside it). statcache_save and
 * statcache_close must not run concurrently with other calls on the same cache.
 */
#ifndef SLIPWAY_CACHE_STATCACHE_H
#define SLIPWAY_CACHE_STATCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "../builder/util/digest.h"
#include "../builder/util/error.h"

/* An entry whose mtime or ctime is not older than (time it was hashed - this) is racy. */
#define STATCACHE_RACY_WINDOW_NS ((int64_t)100 * 1000 * 1000)
/* Added to the window when both mtime and ctime are whole seconds (a file system with coarse
 * timestamps: FAT keeps mtimes in 2 s steps). */
#define STATCACHE_COARSE_WINDOW_NS ((int64_t)2 * 1000 * 1000 * 1000)
/* Bounds of a saved file (a larger file is ignored when loaded). */
#define STATCACHE_MAX_ENTRIES ((size_t)1 << 20)
#define STATCACHE_MAX_FILE_SIZE ((size_t)256 << 20)
/* Entries not used in a run are kept this many days after their last use. */
#define STATCACHE_KEEP_DAYS 30

struct statcache; /* opaque */

/*
 * The file that holds the stat cache of directory `dir`:
 * STORE_ROOT/cache/stat/<hex of sha256 of dir's canonical absolute path (realpath)>.
 * *out is owned by the caller (free). -SW_EIO / -SW_ENOTFOUND when dir cannot be resolved.
 */
int statcache_file_path(char **out, const char *store_root, const char *dir, struct sw_error **err);

/*
 * Open the stat cache persisted in `file` (NULL: an in-memory cache that statcache_save does not
 * write). The file need not exist; its directory is created by statcache_save. A file that
 * cannot be used is ignored (see above): the only errors are -SW_ENOMEM and -SW_EINVAL.
 * *out is the caller's: statcache_close it.
 */
int statcache_open(struct statcache **out, const char *file, struct sw_error **err);

/*
 * The sha256 of the bytes of the regular file `host_path`, whose lstat the caller took in `st`.
 * From the cache when an entry for host_path matches st and is not racy; else the file is read
 * (opened with O_NOFOLLOW; counted by statcache_reads) and the entry replaced, unless the file
 * changed while it was read (then the digest of what was read is returned and nothing cached).
 * -SW_EINVAL when st or the opened file is not a regular file, -SW_ENOTFOUND when the file is
 * gone, -SW_EIO for other read failures; messages name host_path.
 */
int statcache_digest(struct statcache *sc, const char *host_path, const struct stat *st,
                     struct sw_digest *out, struct sw_error **err);

/*
 * Write the cache to its file (tmp + rename; the directory is created with mode 0700). Does
 * nothing for an in-memory cache or when nothing changed. -SW_EIO naming the file when it
 * cannot be written: callers may ignore it (the next build only re-reads more).
 */
int statcache_save(struct statcache *sc, struct sw_error **err);

/* How many files statcache_digest has read since statcache_open (for tests and statistics). */
uint64_t statcache_reads(const struct statcache *sc);

/* Free the cache without saving (NULL is fine). */
void statcache_close(struct statcache *sc);

#endif
