/*
 * builder/exec/native.c: the native executor (namespaces, mounts and pivot_root by hand).
 *
 * Processes of one run (see docs/executor.md):
 *
 *   caller ──fork──> setup ──clone3(CLONE_PARENT)──> init (pid 1) ──fork──> process ──execve
 *
 * "setup" unshares the user namespace (the caller then writes its id maps), then the mount, pid,
 * ipc, uts (and network) namespaces, starts "init" as a sibling (so the caller is init's parent
 * and can wait for it through a pidfd without racing pid reuse), reports init's pid and exits.
 * "init" is pid 1 of the new pid namespace: it mounts everything below the root, pivots into it,
 * forks the process, reaps zombies until the process exits, reports its status and exits, upon
 * which the kernel kills whatever else the step left running. Every stage reports a failure as a
 * message on one CLOEXEC pipe ("info"); an exec that succeeds closes the process's copy.
 *
 * Children of a possibly multithreaded caller: "setup" is a plain fork() (glibc resets its locks),
 * and everything after it is single-threaded. Nothing uses CLONE_VM (ASan does not support it).
 */
#include "exec/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <linux/sched.h>

#include "util/cleanup.h"
#include "util/userns.h"

enum msg_type {
    MSG_USERNS = 1, /* setup: the user namespace exists, write its maps */
    MSG_PID,        /* setup: a = init's pid */
    MSG_ERROR,      /* any stage: a = sw code, err = errno, text */
    MSG_STATUS,     /* init: a = 1 if signaled, b = exit code or signal */
};

/* One record, written with one write(2): below PIPE_BUF, so records never interleave. */
struct msg {
    int32_t type, err, a, b;
    char text[496];
};

/* A mount of the spec, parsed in the caller before any fork. */
struct pmount {
    const struct ctr_mount *m;
    char *rel; /* destination relative to the root, no leading '/' */
    char *data;
    unsigned long flags; /* MS_* except propagation */
    unsigned long prop;  /* MS_PRIVATE, MS_SLAVE, ... (| MS_REC) or 0 */
    bool bind, rec;
};

struct plan {
    const struct ctr_spec *spec;
    struct pmount *mounts;
    size_t n_mounts;
    bool dev_tmpfs; /* the spec mounts a tmpfs on /dev: add the standard symlinks */
    bool userns;    /* the step runs in a user namespace: its own, or the rootless build's */
    int out_w, err_w, info_w, sync_r;
};

static void
plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n_mounts; i++) {
        free(p->mounts[i].rel);
        free(p->mounts[i].data);
    }
    free(p->mounts);
}

/* Strip leading slashes, trailing slashes and "./"; "" for the root itself. */
static char *
rel_path(const char *abs)
{
    while (*abs == '/')
        abs++;
    char *r = strdup(abs);
    if (!r)
        return NULL;
    size_t n = strlen(r);
    while (n > 0 && r[n - 1] == '/')
        r[--n] = '\0';
    return r;
}

static const struct {
    const char *name;
    bool clear;
    unsigned long flag;
} mount_flags[] = {
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"noatime", false, MS_NOATIME},
    {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"diratime", true, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"dirsync", false, MS_DIRSYNC},
};

static const struct {
    const char *name;
    unsigned long flag;
} prop_flags[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static int
parse_mount(struct pmount *pm, const struct ctr_mount *m, struct sw_error **err)
{
    pm->m = m;
    if (!(pm->rel = rel_path(m->destination)))
        return sw_error_oom(err);
    if (!pm->rel[0])
        return sw_error_set(err, SW_EINVAL, 0, NULL, "mount destination \"%s\": not over the root",
                            m->destination);
    pm->bind = strcmp(m->type, "bind") == 0;
    struct sw_buf data = {0};
    for (size_t i = 0; i < m->options.n; i++) {
        const char *o = m->options.v[i];
        bool known = false;
        if (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0) {
            pm->bind = true;
            pm->rec = pm->rec || o[0] == 'r';
            continue;
        }
        for (size_t k = 0; !known && k < sizeof mount_flags / sizeof mount_flags[0]; k++) {
            if (strcmp(o, mount_flags[k].name) == 0) {
                known = true;
                if (mount_flags[k].clear)
                    pm->flags &= ~mount_flags[k].flag;
                else
                    pm->flags |= mount_flags[k].flag;
            }
        }
        for (size_t k = 0; !known && k < sizeof prop_flags / sizeof prop_flags[0]; k++) {
            if (strcmp(o, prop_flags[k].name) == 0) {
                known = true;
                pm->prop = prop_flags[k].flag;
            }
        }
        if (!known &&
            ((data.len > 0 && sw_buf_putc(&data, ',') != 0) || sw_buf_puts(&data, o) != 0)) {
            sw_buf_free(&data);
            return sw_error_oom(err);
        }
    }
    pm->data = data.len > 0 ? sw_buf_detach(&data) : NULL;
    if (data.len > 0 && !pm->data)
        return sw_error_oom(err);
    return 0;
}

static int
plan_make(struct plan *p, const struct ctr_spec *spec, struct sw_error **err)
{
    memset(p, 0, sizeof *p);
    p->spec = spec;
    p->out_w = p->err_w = p->info_w = p->sync_r = -1;
    if (spec->process.args.n == 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "container spec: no process args");
    if (!spec->root.path || spec->root.path[0] != '/')
        return sw_error_set(err, SW_EINVAL, 0, NULL, "container spec: root path must be absolute");
    if (!spec->process.cwd || spec->process.cwd[0] != '/')
        return sw_error_set(err, SW_EINVAL, 0, NULL, "container spec: cwd must be absolute");
    if ((spec->namespaces & (CTR_NS_MOUNT | CTR_NS_PID)) != (CTR_NS_MOUNT | CTR_NS_PID))
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                            "native executor: the mount and pid namespaces are required");
    if ((spec->namespaces & CTR_NS_USER) && (!spec->n_uid_mappings || !spec->n_gid_mappings))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "container spec: a user namespace needs uid and gid mappings");
    /* in a rootless build the caller is root of a user namespace already: mknod is refused (the
     * host's nodes are bound instead) and only the ids of its maps exist */
    p->userns = (spec->namespaces & CTR_NS_USER) || sw_in_user_namespace();
    p->mounts = calloc(spec->n_mounts ? spec->n_mounts : 1, sizeof *p->mounts);
    if (!p->mounts)
        return sw_error_oom(err);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        p->n_mounts = i + 1;
        int r = parse_mount(&p->mounts[i], &spec->mounts[i], err);
        if (r != 0)
            return r;
        if (strcmp(p->mounts[i].rel, "dev") == 0 && strcmp(spec->mounts[i].type, "tmpfs") == 0)
            p->dev_tmpfs = true;
    }
    return 0;
}

/* ---- in the children: only system calls and stack buffers from here on ------------------ */

static void
send_msg(int fd, int type, int code, int sys_errno, int b, const char *text)
{
    struct msg m = {.type = type, .err = sys_errno, .a = code, .b = b};
    if (text)
        snprintf(m.text, sizeof m.text, "%s", text);
    ssize_t w;
    do
        w = write(fd, &m, sizeof m);
    while (w < 0 && errno == EINTR);
}

/* Report a failure of a child stage and exit. */
__attribute__((noreturn, format(printf, 4, 5))) static void
child_fail(const struct plan *p, int code, int sys_errno, const char *fmt, ...)
{
    char text[sizeof(((struct msg *)0)->text)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    send_msg(p->info_w, MSG_ERROR, code, sys_errno, 0, text);
    _exit(127);
}

/* Close every descriptor but keep[0..n) (which may hold -1s). */
static void
close_all_except(int *keep, size_t n)
{
    /* sort the few fds to keep, then close the gaps between them */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned int from = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < 0)
            continue;
        if ((unsigned int)keep[i] > from)
            close_range(from, (unsigned int)keep[i] - 1, 0);
        from = (unsigned int)keep[i] + 1;
    }
    close_range(from, ~0U, 0);
}

/* Open path (relative) below rootfd, resolving symlinks and ".." as if rootfd were "/". */
static int
open_in_root(int rootfd, const char *rel)
{
    struct open_how how = {
        .flags = O_PATH | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, rel[0] ? rel : ".", &how, sizeof how);
}

/* Open rel below rootfd, creating missing directories (and the last component as an empty file if
 * `file`) without ever leaving the root. Returns an O_PATH fd or -1 with errno. */
static int
ensure_in_root(int rootfd, char *rel, bool file)
{
    int fd = open_in_root(rootfd, rel);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    char *slash = strrchr(rel, '/');
    int pfd = rootfd;
    const char *name = rel;
    if (slash) {
        *slash = '\0';
        pfd = ensure_in_root(rootfd, rel, false);
        *slash = '/';
        if (pfd < 0)
            return -1;
        name = slash + 1;
    }
    int r;
    if (file) {
        r = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (r >= 0)
            close(r);
    } else {
        r = mkdirat(pfd, name, 0755);
    }
    int e = errno;
    if (slash)
        close(pfd);
    if (r < 0 && e != EEXIST) {
        errno = e;
        return -1;
    }
    return open_in_root(rootfd, rel);
}

static void
fd_path(char *buf, size_t n, int fd)
{
    snprintf(buf, n, "/proc/self/fd/%d", fd);
}

static int
set_attrs(int fd, unsigned long flags, bool recursive)
{
    struct mount_attr attr = {0};
    if (flags & MS_RDONLY)
        attr.attr_set |= MOUNT_ATTR_RDONLY;
    if (flags & MS_NOSUID)
        attr.attr_set |= MOUNT_ATTR_NOSUID;
    if (flags & MS_NODEV)
        attr.attr_set |= MOUNT_ATTR_NODEV;
    if (flags & MS_NOEXEC)
        attr.attr_set |= MOUNT_ATTR_NOEXEC;
    if (!attr.attr_set)
        return 0;
    return mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
                         sizeof attr);
}

static void
do_mount(const struct plan *p, int rootfd, const struct pmount *pm)
{
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, "%s", pm->rel);
    bool file = false;
    if (pm->bind) {
        struct stat st;
        if (stat(pm->m->source, &st) != 0)
            child_fail(p, SW_EIO, errno, "mount %s: bind source %s: %s", pm->m->destination,
                       pm->m->source, strerror(errno));
        file = !S_ISDIR(st.st_mode);
    }
    int fd = ensure_in_root(rootfd, rel, file);
    if (fd < 0)
        child_fail(p, SW_EIO, errno, "mount %s: creating the mount point: %s", pm->m->destination,
                   strerror(errno));
    char target[64];
    fd_path(target, sizeof target, fd);
    int r;
    if (pm->bind)
        r = mount(pm->m->source, target, NULL, MS_BIND | (pm->rec ? MS_REC : 0), NULL);
    else
        r = mount(pm->m->source, target, pm->m->type, pm->flags, pm->data);
    if (r != 0)
        child_fail(p, SW_EIO, errno, "mount %s (%s %s): %s", pm->m->destination, pm->m->type,
                   pm->m->source, strerror(errno));
    close(fd);
    if (!pm->bind && !pm->prop)
        return;
    /* the mount point fd names the covered directory: reopen to get the new mount */
    if ((fd = open_in_root(rootfd, rel)) < 0)
        child_fail(p, SW_EIO, errno, "mount %s: %s", pm->m->destination, strerror(errno));
    if (pm->bind && set_attrs(fd, pm->flags, pm->rec) != 0)
        child_fail(p, SW_EIO, errno, "mount %s: setting bind mount flags: %s", pm->m->destination,
                   strerror(errno));
    fd_path(target, sizeof target, fd);
    if (pm->prop && mount(NULL, target, NULL, pm->prop, NULL) != 0)
        child_fail(p, SW_EIO, errno, "mount %s: propagation: %s", pm->m->destination,
                   strerror(errno));
    close(fd);
}

static void
make_device(const struct plan *p, int rootfd, const struct ctr_device *d)
{
    char rel[PATH_MAX];
    const char *s = d->path;
    while (*s == '/')
        s++;
    snprintf(rel, sizeof rel, "%s", s);
    char *slash = strrchr(rel, '/');
    const char *name = rel;
    int pfd = rootfd;
    if (slash) {
        *slash = '\0';
        if ((pfd = ensure_in_root(rootfd, rel, false)) < 0)
            child_fail(p, SW_EIO, errno, "device %s: %s", d->path, strerror(errno));
        *slash = '/';
        name = slash + 1;
    }
    unlinkat(pfd, name, 0);
    mode_t type = d->type == 'b' ? S_IFBLK : S_IFCHR;
    if (mknodat(pfd, name, type | (d->file_mode & 0777),
                makedev((unsigned)d->major, (unsigned)d->minor)) == 0) {
        if (fchmodat(pfd, name, d->file_mode & 07777, 0) != 0 ||
            fchownat(pfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) != 0)
            child_fail(p, SW_EIO, errno, "device %s: %s", d->path, strerror(errno));
    } else if (errno == EPERM) {
        /* no mknod here (a user namespace): bind the host's node of the same path */
        int fd = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            child_fail(p, SW_EIO, errno, "device %s: %s", d->path, strerror(errno));
        close(fd);
        if ((fd = open_in_root(rootfd, rel)) < 0)
            child_fail(p, SW_EIO, errno, "device %s: %s", d->path, strerror(errno));
        char target[64];
        fd_path(target, sizeof target, fd);
        if (mount(d->path, target, NULL, MS_BIND, NULL) != 0)
            child_fail(p, SW_EIO, errno, "device %s: binding the host's node: %s", d->path,
                       strerror(errno));
        close(fd);
    } else {
        child_fail(p, SW_EIO, errno, "device %s: mknod: %s", d->path, strerror(errno));
    }
    if (slash)
        close(pfd);
}

/* A new network namespace has "lo", down: bring it up, as runc does (127.0.0.1 works). */
static int
loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (r == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        r = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/* In init: the root, its mounts and devices, the pivot, the hostname. */
static void
setup_root(const struct plan *p)
{
    const struct ctr_spec *spec = p->spec;
    /* nothing done here may reach the caller's mount namespace */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        child_fail(p, SW_EIO, errno, "making mounts private: %s", strerror(errno));
    /* pivot_root needs the new root to be a mount point */
    if (mount(spec->root.path, spec->root.path, NULL, MS_BIND | MS_REC, NULL) != 0)
        child_fail(p, SW_EIO, errno, "bind-mounting the root %s: %s", spec->root.path,
                   strerror(errno));
    int rootfd = open(spec->root.path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        child_fail(p, SW_EIO, errno, "root %s: %s", spec->root.path, strerror(errno));
    for (size_t i = 0; i < p->n_mounts; i++)
        do_mount(p, rootfd, &p->mounts[i]);
    for (size_t i = 0; i < spec->n_devices; i++)
        make_device(p, rootfd, &spec->devices[i]);
    if (p->dev_tmpfs) {
        int devfd = open_in_root(rootfd, "dev");
        static const char *const links[][2] = {
            {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
            {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
            {"pts/ptmx", "ptmx"},
        };
        for (size_t i = 0; devfd >= 0 && i < sizeof links / sizeof links[0]; i++)
            if (symlinkat(links[i][0], devfd, links[i][1]) != 0 && errno != EEXIST)
                child_fail(p, SW_EIO, errno, "/dev/%s: %s", links[i][1], strerror(errno));
        if (devfd >= 0)
            close(devfd);
    }
    if (fchdir(rootfd) != 0)
        child_fail(p, SW_EIO, errno, "root %s: %s", spec->root.path, strerror(errno));
    close(rootfd);
    /* stack the old root under the new one, then detach it: no directory needed */
    if (syscall(SYS_pivot_root, ".", ".") != 0)
        child_fail(p, SW_EIO, errno, "pivot_root to %s: %s", spec->root.path, strerror(errno));
    if (umount2(".", MNT_DETACH) != 0)
        child_fail(p, SW_EIO, errno, "detaching the old root: %s", strerror(errno));
    if (chdir("/") != 0)
        child_fail(p, SW_EIO, errno, "chdir /: %s", strerror(errno));
    if (spec->root.readonly && set_attrs(AT_FDCWD, MS_RDONLY, false) != 0) {
        /* mount_setattr on AT_FDCWD with AT_EMPTY_PATH: the cwd, which is the new root */
        child_fail(p, SW_EIO, errno, "making the root read-only: %s", strerror(errno));
    }
    if ((spec->namespaces & CTR_NS_NET) && loopback_up() != 0)
        child_fail(p, SW_EIO, errno, "bringing up lo: %s", strerror(errno));
    if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) != 0)
        child_fail(p, SW_EIO, errno, "sethostname: %s", strerror(errno));
}

/* Look name up like execvp, but in the PATH of the spec's env; result in buf. */
static bool
lookup_path(char *buf, size_t n, const struct ctr_spec *spec, const char *name)
{
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (size_t i = 0; i < spec->process.env.n; i++)
        if (strncmp(spec->process.env.v[i], "PATH=", 5) == 0)
            path = spec->process.env.v[i] + 5;
    for (const char *d = path;;) {
        const char *e = strchr(d, ':');
        size_t len = e ? (size_t)(e - d) : strlen(d);
        if (len == 0)
            snprintf(buf, n, "%s", name);
        else
            snprintf(buf, n, "%.*s/%s", (int)len, d, name);
        struct stat st;
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
            return true;
        if (!e)
            return false;
        d = e + 1;
    }
}

#define UNMAPPED_HINT                                                                              \
    " (not mapped in the user namespace: without ranges in /etc/subuid and /etc/subgid there is "  \
    "only 0; see \"Rootless\" in docs/executor.md)"

/* The step's process: drop to its user, enter cwd, exec. Never returns. */
__attribute__((noreturn)) static void
process_stage(const struct plan *p)
{
    const struct ctr_spec *spec = p->spec;
    const struct ctr_process *proc = &spec->process;
    /* the caller's signal mask and ignored signals must not leak into the step */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    setsid();
    for (size_t i = 0; i < proc->n_rlimits; i++) {
        struct rlimit rl = {.rlim_cur = proc->rlimits[i].soft, .rlim_max = proc->rlimits[i].hard};
        if (setrlimit(proc->rlimits[i].resource, &rl) != 0)
            child_fail(p, SW_EIO, errno, "setrlimit %s: %s",
                       ctr_rlimit_name(proc->rlimits[i].resource), strerror(errno));
    }
    /* a single-id map denies setgroups: with no groups asked for, the step keeps the list it
     * has (the user's own groups, unmapped); ids outside the maps do not exist */
    int ge = 0;
    if (setgroups(proc->n_additional_gids, proc->additional_gids) != 0 &&
        !((ge = errno) == EPERM && proc->n_additional_gids == 0 && p->userns))
        child_fail(p, ge == EPERM && p->userns ? SW_EINVAL : SW_EIO, ge, "setgroups: %s%s",
                   strerror(ge), ge == EPERM && p->userns ? UNMAPPED_HINT : "");
    if (setresgid(proc->gid, proc->gid, proc->gid) != 0) {
        ge = errno;
        child_fail(p, ge == EINVAL && p->userns ? SW_EINVAL : SW_EIO, ge, "setgid %u: %s%s",
                   (unsigned)proc->gid, strerror(ge),
                   ge == EINVAL && p->userns ? UNMAPPED_HINT : "");
    }
    if (setresuid(proc->uid, proc->uid, proc->uid) != 0) {
        ge = errno;
        child_fail(p, ge == EINVAL && p->userns ? SW_EINVAL : SW_EIO, ge, "setuid %u: %s%s",
                   (unsigned)proc->uid, strerror(ge),
                   ge == EINVAL && p->userns ? UNMAPPED_HINT : "");
    }
    if (proc->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        child_fail(p, SW_EIO, errno, "no_new_privs: %s", strerror(errno));
    if (chdir(proc->cwd) != 0)
        child_fail(p, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, errno,
                   "chdir to cwd (\"%s\") set in config.json failed: %s", proc->cwd,
                   strerror(errno));
    /* stdio: fds above 10 first, so that no dup2 clobbers another pipe */
    int o = fcntl(p->out_w, F_DUPFD_CLOEXEC, 10);
    int e = fcntl(p->err_w, F_DUPFD_CLOEXEC, 10);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        int pp[2];
        if (pipe2(pp, O_CLOEXEC) == 0) {
            close(pp[1]);
            in = pp[0];
        }
    }
    if (o < 0 || e < 0 || in < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
        child_fail(p, SW_EIO, errno, "setting up stdio: %s", strerror(errno));
    int keep[] = {0, 1, 2, p->info_w};
    close_all_except(keep, 4);

    const char *argv0 = proc->args.v[0];
    char path[PATH_MAX];
    if (strchr(argv0, '/'))
        snprintf(path, sizeof path, "%s", argv0);
    else if (!lookup_path(path, sizeof path, spec, argv0))
        child_fail(p, SW_ENOTFOUND, ENOENT, "exec: \"%s\": executable file not found in $PATH",
                   argv0);
    static char *const no_env[] = {NULL};
    execve(path, proc->args.v, proc->env.v ? proc->env.v : no_env);
    child_fail(p, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, errno, "exec: \"%s\": %s", path,
               strerror(errno));
}

/* pid 1 of the new pid namespace. Never returns. */
__attribute__((noreturn)) static void
init_stage(const struct plan *p)
{
    /* the caller's thread that started us is our parent: if it goes, so do we */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setup_root(p);
    pid_t child = fork();
    if (child < 0)
        child_fail(p, SW_EIO, errno, "fork: %s", strerror(errno));
    if (child == 0)
        process_stage(p);
    int keep[] = {p->info_w};
    close_all_except(keep, 1);
    int status = 0;
    for (;;) {
        pid_t w = waitpid(-1, &status, 0);
        if (w == child)
            break;
        if (w < 0 && errno != EINTR)
            _exit(127);
    }
    if (WIFSIGNALED(status))
        send_msg(p->info_w, MSG_STATUS, 1, 0, WTERMSIG(status), NULL);
    else
        send_msg(p->info_w, MSG_STATUS, 0, 0, WEXITSTATUS(status), NULL);
    /* exiting kills every other process of the namespace */
    _exit(0);
}

/* The first child: namespaces, then init as our sibling. Never returns. */
__attribute__((noreturn)) static void
setup_stage(const struct plan *p)
{
    const struct ctr_spec *spec = p->spec;
    int keep[] = {p->out_w, p->err_w, p->info_w, p->sync_r};
    close_all_except(keep, 4);
    if (spec->namespaces & CTR_NS_USER) {
        if (unshare(CLONE_NEWUSER) != 0)
            child_fail(p, SW_EIO, errno, "creating a user namespace: %s", strerror(errno));
        /* a caller that changed its ids is not dumpable, which makes /proc/<us>/uid_map root's:
         * let the caller write our maps, then restore the flag */
        int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
        if (dumpable != 1)
            prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        send_msg(p->info_w, MSG_USERNS, 0, 0, 0, NULL);
        char c;
        ssize_t r;
        do
            r = read(p->sync_r, &c, 1);
        while (r < 0 && errno == EINTR);
        if (r != 1)
            _exit(127); /* the caller failed to write the maps and says why */
        if (dumpable == 0)
            prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    int flags = CLONE_NEWNS | CLONE_NEWPID;
    if (spec->namespaces & CTR_NS_IPC)
        flags |= CLONE_NEWIPC;
    if (spec->namespaces & CTR_NS_UTS)
        flags |= CLONE_NEWUTS;
    if (spec->namespaces & CTR_NS_NET)
        flags |= CLONE_NEWNET;
    if (unshare(flags) != 0)
        child_fail(p, SW_EIO, errno, "creating namespaces: %s", strerror(errno));
    /* CLONE_PARENT: init becomes the caller's child, so the caller can hold a pidfd on it */
    struct clone_args ca = {.flags = CLONE_PARENT};
    long pid = syscall(SYS_clone3, &ca, sizeof ca);
    if (pid < 0)
        child_fail(p, SW_EIO, errno, "starting the container's init: %s", strerror(errno));
    if (pid == 0)
        init_stage(p);
    send_msg(p->info_w, MSG_PID, (int)pid, 0, 0, NULL);
    _exit(0);
}

/* ---- in the caller ------------------------------------------------------------------------- */

static int
write_file(const char *path, const char *data, struct sw_error **err)
{
    sw_autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
        return sw_error_set(err, SW_EIO, errno, NULL, "writing %s: %s", path, strerror(errno));
    return 0;
}

/* Run newuidmap/newgidmap PID C H S... */
static int
run_idmap_tool(const char *tool, pid_t pid, const struct ctr_id_map *m, size_t n,
               struct sw_error **err)
{
    struct sw_strv args = {0};
    char num[32];
    int r = sw_strv_push(&args, tool);
    snprintf(num, sizeof num, "%d", (int)pid);
    r = r ? r : sw_strv_push(&args, num);
    for (size_t i = 0; r == 0 && i < n; i++) {
        uint32_t v[3] = {m[i].container_id, m[i].host_id, m[i].size};
        for (int k = 0; r == 0 && k < 3; k++) {
            snprintf(num, sizeof num, "%u", v[k]);
            r = sw_strv_push(&args, num);
        }
    }
    if (r != 0) {
        sw_strv_free(&args);
        return sw_error_oom(err);
    }
    pid_t c = fork();
    if (c == 0) {
        execvp(tool, args.v);
        _exit(127);
    }
    sw_strv_free(&args);
    if (c < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "fork: %s", strerror(errno));
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return sw_error_set(err, SW_EIO, 0, NULL,
                            WIFEXITED(st) && WEXITSTATUS(st) == 127
                                ? "%s not found: install uidmap for subordinate id ranges"
                                : "%s failed",
                            tool);
    return 0;
}

static int
write_map(pid_t pid, bool gid, const struct ctr_id_map *m, size_t n, struct sw_error **err)
{
    uint32_t self = gid ? (uint32_t)getegid() : (uint32_t)geteuid();
    bool direct = geteuid() == 0 || (n == 1 && m[0].size == 1 && m[0].host_id == self);
    char path[64];
    if (!direct)
        return run_idmap_tool(gid ? "newgidmap" : "newuidmap", pid, m, n, err);
    if (gid && geteuid() != 0) {
        /* an unprivileged gid map needs setgroups denied first */
        snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
        int r = write_file(path, "deny", err);
        if (r != 0)
            return r;
    }
    struct sw_buf b = {0};
    for (size_t i = 0; i < n; i++)
        if (sw_buf_printf(&b, "%u %u %u\n", m[i].container_id, m[i].host_id, m[i].size) != 0) {
            sw_buf_free(&b);
            return sw_error_oom(err);
        }
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, gid ? "gid_map" : "uid_map");
    int r = write_file(path, sw_buf_cstr(&b), err);
    sw_buf_free(&b);
    return r;
}

static ssize_t
read_msg(int fd, struct msg *m)
{
    ssize_t r;
    do
        r = read(fd, m, sizeof *m);
    while (r < 0 && errno == EINTR);
    if (r > 0 && r != (ssize_t)sizeof *m)
        return -1;
    return r;
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void
reap(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

struct run_state {
    struct msg error; /* the first MSG_ERROR, type 0 if none */
    struct msg status;
    bool canceled;
};

static void
note_msg(struct run_state *st, const struct msg *m)
{
    if (m->type == MSG_ERROR && st->error.type == 0)
        st->error = *m;
    else if (m->type == MSG_STATUS)
        st->status = *m;
}

/* Poll output, messages, cancel and init until init is gone and every pipe is closed. The
 * pipes are the caller's: each one closed here is set to -1 there too (a second close of the same
 * number could hit a descriptor another thread has opened since). */
static int
supervise(struct run_state *st, pid_t init, int *out_r, int *err_r, int *info_r,
          const struct ctr_io *io, struct sw_error **err)
{
    int pidfd = pidfd_open(init, 0);
    if (pidfd < 0) {
        int e = errno;
        kill(init, SIGKILL);
        reap(init);
        return sw_error_set(err, SW_EIO, e, NULL, "pidfd_open: %s", strerror(e));
    }
    int *fds[3] = {out_r, err_r, info_r};
    bool init_done = false;
    int cancel = io && io->cancel_fd >= 0 ? io->cancel_fd : -1;
    char buf[16384];
    struct timespec deadline = {0};
    while (!init_done || *fds[0] >= 0 || *fds[1] >= 0 || *fds[2] >= 0) {
        struct pollfd pf[5];
        int n = 0;
        for (int i = 0; i < 3; i++)
            pf[n++] = (struct pollfd){.fd = *fds[i], .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = init_done ? -1 : pidfd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = init_done ? -1 : cancel, .events = POLLIN};
        int timeout = -1;
        if (init_done) {
            /* every process of the namespace is gone: the pipes close at once; don't hang if
             * a descriptor escaped anyway */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long ms =
                (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
            if (ms <= 0)
                break;
            timeout = (int)ms;
        }
        int r = poll(pf, (nfds_t)n, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            if (!init_done) {
                pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                reap(init);
            }
            close(pidfd);
            return sw_error_set(err, SW_EIO, e, NULL, "poll: %s", strerror(e));
        }
        for (int i = 0; i < 2; i++) {
            if (!pf[i].revents)
                continue;
            ssize_t got = read(*fds[i], buf, sizeof buf);
            if (got > 0 && io && io->output)
                io->output(io->ctx, i == 0 ? CTR_STDOUT : CTR_STDERR, buf, (size_t)got);
            else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
                close_fd(fds[i]);
        }
        if (pf[2].revents) {
            struct msg m;
            ssize_t got = read_msg(*fds[2], &m);
            if (got > 0)
                note_msg(st, &m);
            else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
                close_fd(fds[2]);
        }
        if (pf[4].revents && !st->canceled) {
            st->canceled = true;
            cancel = -1;
            pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
        }
        if (pf[3].revents) {
            siginfo_t si;
            if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) == 0 || errno == ECHILD) {
                init_done = true;
                clock_gettime(CLOCK_MONOTONIC, &deadline);
                deadline.tv_sec += 5;
            }
        }
    }
    close(pidfd);
    return 0;
}

static int
native_run(const struct ctr_executor *ex, struct ctr_result *out, const struct ctr_spec *spec,
           const struct ctr_io *io, struct sw_error **err)
{
    (void)ex;
    memset(out, 0, sizeof *out);
    struct plan p;
    int r = plan_make(&p, spec, err);
    if (r != 0) {
        plan_free(&p);
        return r;
    }
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, info[2] = {-1, -1}, sync[2] = {-1, -1};
    bool userns = spec->namespaces & CTR_NS_USER;
    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0 || pipe2(info, O_CLOEXEC) != 0 ||
        (userns && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) != 0)) {
        r = sw_error_set(err, SW_EIO, errno, NULL, "pipe: %s", strerror(errno));
        goto done;
    }
    p.out_w = outp[1];
    p.err_w = errp[1];
    p.info_w = info[1];
    p.sync_r = sync[0];
    pid_t setup = fork();
    if (setup < 0) {
        r = sw_error_set(err, SW_EIO, errno, NULL, "fork: %s", strerror(errno));
        goto done;
    }
    if (setup == 0)
        setup_stage(&p);
    close_fd(&outp[1]);
    close_fd(&errp[1]);
    close_fd(&info[1]);
    close_fd(&sync[0]);

    struct run_state st = {0};
    struct msg m;
    if (userns) {
        ssize_t got = read_msg(info[0], &m);
        if (got > 0 && m.type == MSG_USERNS) {
            r = write_map(setup, false, spec->uid_mappings, spec->n_uid_mappings, err);
            r = r ? r : write_map(setup, true, spec->gid_mappings, spec->n_gid_mappings, err);
            if (r == 0 && send(sync[1], "1", 1, MSG_NOSIGNAL) != 1)
                r = sw_error_set(err, SW_EIO, errno, NULL, "user namespace sync: %s",
                                 strerror(errno));
        } else if (got > 0) {
            note_msg(&st, &m);
        }
        close_fd(&sync[1]);
        if (r != 0) {
            kill(setup, SIGKILL);
            reap(setup);
            goto done;
        }
    }
    int setup_status = 0;
    while (waitpid(setup, &setup_status, 0) < 0 && errno == EINTR)
        ;
    /* A setup that exited 0 wrote init's pid before exiting (init's own errors may come first):
     * init exists and is our child until we reap it. Otherwise there is no init. */
    pid_t init = 0;
    bool has_init = WIFEXITED(setup_status) && WEXITSTATUS(setup_status) == 0;
    while (has_init ? init == 0 : st.error.type == 0) {
        ssize_t got = read_msg(info[0], &m);
        if (got <= 0)
            break;
        if (m.type == MSG_PID)
            init = m.a;
        else
            note_msg(&st, &m);
    }
    if (!has_init && st.error.type == 0) {
        r = sw_error_set(err, SW_EINTERNAL, 0, NULL, "container setup failed (wait status %d)",
                         setup_status);
        goto done;
    }
    if (init > 0) {
        int fl = fcntl(outp[0], F_GETFL);
        fcntl(outp[0], F_SETFL, fl | O_NONBLOCK);
        fl = fcntl(errp[0], F_GETFL);
        fcntl(errp[0], F_SETFL, fl | O_NONBLOCK);
        r = supervise(&st, init, &outp[0], &errp[0], &info[0], io, err);
        if (r != 0)
            goto done;
    }
    if (st.canceled) {
        r = sw_error_set(err, SW_EINTERNAL, ECANCELED, NULL, "canceled");
    } else if (st.error.type) {
        r = sw_error_set(err, st.error.a > 0 ? st.error.a : SW_EIO, st.error.err, NULL, "%s",
                         st.error.text);
    } else if (st.status.type) {
        out->signaled = st.status.a != 0;
        if (out->signaled)
            out->signal = st.status.b;
        else
            out->exit_code = st.status.b;
    } else {
        r = sw_error_set(err, SW_EINTERNAL, 0, NULL, "the container's init died unexpectedly");
    }
done:
    for (int i = 0; i < 2; i++) {
        close_fd(&outp[i]);
        close_fd(&errp[i]);
        close_fd(&info[i]);
        close_fd(&sync[i]);
    }
    plan_free(&p);
    return r;
}

static const struct ctr_executor_ops native_ops = {
    .name = "native",
    .run = native_run,
};

static const struct ctr_executor native_executor = {.ops = &native_ops};

const struct ctr_executor *
ctr_native_executor(void)
{
    return &native_executor;
}

int
ctr_run(const struct ctr_executor *ex, struct ctr_result *out, const struct ctr_spec *spec,
        const struct ctr_io *io, struct sw_error **err)
{
    return ex->ops->run(ex, out, spec, io, err);
}

const char *
ctr_executor_name(const struct ctr_executor *ex)
{
    return ex->ops->name;
}
