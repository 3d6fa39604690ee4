#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (r != 0 && errno == EACCES && flag == FTW_DP) {
        chmod(path, 0700);
        r = rmdir(path);
    }
    return r != 0 && errno != ENOENT ? -1 : 0;
}

int
sw_rmtree(const char *path, struct sw_error **err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT
                   ? 0
                   : sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "removing %s: %s", path, strerror(errno));
        return 0;
    }
    if (nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "removing %s: %s", path, strerror(errno));
    return 0;
}

int
sw_mkdir_p(const char *path, mode_t mode, struct sw_error **err)
{
    char *p = strdup(path);
    if (!p)
        return sw_error_oom(err);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = '\0';
            if (mkdir(p, mode) != 0 && errno != EEXIST) {
                int r =
                    sw_error_set(err, SW_EIO, errno, NULL, "creating %s: %s", p, strerror(errno));
                free(p);
                return r;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    return 0;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
sw_dir_names(struct sw_strv *out, int dirfd, bool sorted)
{
    int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
    if (!d) {
        int e = errno;
        if (dup >= 0)
            close(dup);
        errno = e;
        return -SW_EIO;
    }
    size_t first = out->n;
    int r = 0, e = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (sw_strv_push(out, de->d_name) < 0) {
            r = -SW_ENOMEM;
            break;
        }
        errno = 0;
    }
    if (r == 0 && errno) {
        e = errno;
        r = -SW_EIO;
    }
    closedir(d);
    if (r == 0 && sorted && out->n - first > 1)
        qsort(out->v + first, out->n - first, sizeof *out->v, cmp_names);
    errno = e;
    return r;
}

int
sw_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
sw_copy_fd(int in_fd, int out_fd, const char *what, struct sw_error **err)
{
    loff_t off = 0;
    for (;;) {
        ssize_t n = copy_file_range(in_fd, &off, out_fd, NULL, (size_t)1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
            errno == EBADF)
            break; /* no in-kernel copy between these: read and write */
        return sw_error_set(err, SW_EIO, errno, NULL, "copying %s: %s", what, strerror(errno));
    }
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    if (!buf)
        return sw_error_oom(err);
    int r = 0;
    for (;;) {
        ssize_t n = pread(in_fd, buf, CHUNK, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                r = sw_error_set(err, SW_EIO, errno, NULL, "reading %s: %s", what, strerror(errno));
            break;
        }
        int e = sw_write_all(out_fd, buf, (size_t)n);
        if (e) {
            r = sw_error_set(err, SW_EIO, e, NULL, "copying %s: %s", what, strerror(e));
            break;
        }
        off += n;
    }
    free(buf);
    return r;
}

int
sw_copy_file(const char *src, const char *dst, mode_t mode, struct sw_error **err)
{
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "cannot open %s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
    if (out < 0) {
        int e = errno;
        close(in);
        return sw_error_set(err, SW_EIO, e, NULL, "cannot create %s: %s", dst, strerror(e));
    }
    int r = sw_copy_fd(in, out, src, err);
    close(in);
    if (close(out) < 0 && r == 0)
        r = sw_error_set(err, SW_EIO, errno, NULL, "cannot write %s: %s", dst, strerror(errno));
    return r;
}

int
sw_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                     struct sw_error **err)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
        return sw_error_oom(err);
    int fd = mkostemp(tmp, O_CLOEXEC);
    int e = fd < 0 ? errno : sw_write_all(fd, data, len);
    if (fd >= 0 && !e && fchmod(fd, mode & 07777) < 0)
        e = errno;
    if (fd >= 0 && close(fd) < 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) < 0)
        e = errno;
    if (e && fd >= 0)
        unlink(tmp);
    free(tmp);
    return e ? sw_error_set(err, SW_EIO, e, NULL, "writing %s: %s", path, strerror(e)) : 0;
}
