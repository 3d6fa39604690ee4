/*
 * Helpers the unit tests share (see support.h).
 */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/fs.h"

char *
ts_tmpdir(const char *tag)
{
    char *path = NULL;
    assert_true(asprintf(&path, "/tmp/sw-%s-XXXXXX", tag) > 0);
    if (!mkdtemp(path))
        fail_msg("mkdtemp %s: %s", path, strerror(errno));
    return path;
}

void
ts_rmtree(const char *path)
{
    if (path)
        (void)sw_rmtree(path, NULL);
}

void
ts_write(const char *path, const void *data, size_t len, mode_t mode)
{
    char *dir = strdup(path);
    assert_non_null(dir);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        assert_int_equal(sw_mkdir_p(dir, 0755, NULL), 0);
    }
    free(dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

void
ts_write_str(const char *path, const char *text)
{
    ts_write(path, text, strlen(text), 0644);
}

char *
ts_read(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("open %s: %s", path, strerror(errno));
    struct sw_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        assert_int_equal(sw_buf_append(&b, chunk, n), 0);
    fclose(fp);
    if (len)
        *len = b.len;
    char *out = b.len ? sw_buf_detach(&b) : strdup("");
    assert_non_null(out);
    return out;
}
