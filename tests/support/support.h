/*
 * tests/support/support.h: small helpers the unit tests share.
 *
 * Owns: temporary directories, removing trees, writing and reading whole files. Each helper
 * fails the running cmocka test (an assertion) when the file system refuses, except ts_rmtree,
 * which cleans up on a best-effort basis (a teardown must not fail a test that passed).
 */
#ifndef SLIPWAY_TESTS_SUPPORT_H
#define SLIPWAY_TESTS_SUPPORT_H

#include <stddef.h>
#include <sys/types.h>

/* A new directory /tmp/sw-TAG-XXXXXX; the caller frees the path. */
char *ts_tmpdir(const char *tag);
/* Remove a tree (symlinks are not followed). */
void ts_rmtree(const char *path);
/* Write a whole file (created or truncated) with `mode`, creating its missing parents. */
void ts_write(const char *path, const void *data, size_t len, mode_t mode);
/* Write a string as a file with mode 0644. */
void ts_write_str(const char *path, const char *text);
/* A whole file, NUL-terminated; *len (when len is not NULL) gets its size. Caller frees. */
char *ts_read(const char *path, size_t *len);

#endif
