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
