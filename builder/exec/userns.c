/*
 * builder/exec/userns.c: entering the rootless build's user namespace (see userns.h).
 *
 *   slipway ──fork──> helper (still outside: may run the setuid newuidmap/newgidmap on us)
 *   slipway: unshare(CLONE_NEWUSER), "go" ──> helper: newuidmap PID ..., newgidmap PID ...
 *   slipway <── result ── helper, which exits; slipway reaps it and goes on as 0:0
 *
 * With a single-id map there is no helper: the process writes its own maps (an unprivileged
 * process may map exactly its own ids, once setgroups is denied).
 */
#include "exec/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/spec.h"
#include "util/cleanup.h"

/* The helper's answer: ok = 1, or the failure in text. */
struct helper_msg {
    int32_t ok;
    char text[500];
};

/* An executable `name` in PATH or the standard directories, into buf. */
static bool
find_tool(const char *name, char *buf, size_t n)
{
    const char *env = getenv("PATH");
    const char *dirs[] = {env ? env : "", "/usr/bin:/bin:/usr/sbin:/sbin"};
    for (size_t k = 0; k < 2; k++) {
        for (const char *d = dirs[k]; *d;) {
            const char *e = strchr(d, ':');
            size_t len = e ? (size_t)(e - d) : strlen(d);
            if (len > 0 && d[0] == '/') {
                snprintf(buf, n, "%.*s/%s", (int)len, d, name);
                if (access(buf, X_OK) == 0)
                    return true;
            }
            d += len + (e ? 1 : 0);
        }
    }
    return false;
}

static void
append_maps(struct sw_strv *argv, const struct ctr_id_map *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t v[3] = {m[i].container_id, m[i].host_id, m[i].size};
        for (int k = 0; k < 3; k++) {
            char num[16];
            snprintf(num, sizeof num, "%u", v[k]);
            sw_strv_push(argv, num);
        }
    }
}

/* In the helper: run `tool pid maps...`, its output captured; 0 or -1 with msg->text set. */
static int
run_tool(const char *tool, pid_t pid, const struct ctr_id_map *m, size_t n, struct helper_msg *msg)
{
    struct sw_strv argv = {0};
    char num[16];
    snprintf(num, sizeof num, "%d", (int)pid);
    sw_strv_push(&argv, tool);
    sw_strv_push(&argv, num);
    append_maps(&argv, m, n);
    if (argv.n != 2 + 3 * n) {
        sw_strv_free(&argv);
        snprintf(msg->text, sizeof msg->text, "%s: out of memory", tool);
        return -1;
    }
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        sw_strv_free(&argv);
        snprintf(msg->text, sizeof msg->text, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t c = fork();
    if (c == 0) {
        if (dup2(out[1], 1) >= 0 && dup2(out[1], 2) >= 0)
            execv(tool, argv.v);
        _exit(127);
    }
    int fork_errno = errno;
    close(out[1]);
    /* what the tool says (newuidmap explains a refused range): the last line, trimmed */
    char said[300] = "";
    size_t len = 0;
    ssize_t got;
    char chunk[256];
    while ((got = read(out[0], chunk, sizeof chunk)) > 0 || (got < 0 && errno == EINTR))
        for (ssize_t i = 0; i < got && len < sizeof said - 1; i++)
            said[len++] = chunk[i];
    said[len] = '\0';
    close(out[0]);
    while (len > 0 && (said[len - 1] == '\n' || said[len - 1] == ' '))
        said[--len] = '\0';
    /* the command line, for the message */
    char cmd[200] = "";
    size_t cl = 0;
    for (size_t i = 0; i < argv.n && cl < sizeof cmd; i++)
        cl += (size_t)snprintf(cmd + cl, sizeof cmd - cl, "%s%s", i ? " " : "", argv.v[i]);
    sw_strv_free(&argv);
    if (c < 0) {
        snprintf(msg->text, sizeof msg->text, "fork: %s", strerror(fork_errno));
        return -1;
    }
    int st = 0;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    snprintf(msg->text, sizeof msg->text, "%s failed (%s %d)%s%s", cmd,
             WIFEXITED(st) ? "exit status" : "signal",
             WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), len ? ": " : "", said);
    return -1;
}

/* The helper: wait for the go, write the parent's maps, answer, exit. Never returns. */
__attribute__((noreturn)) static void
helper_main(int fd, pid_t parent, const char *newuidmap, const char *newgidmap,
            const struct ctr_spec *maps)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    char c;
    ssize_t r;
    do
        r = read(fd, &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        _exit(0); /* the parent did not get a user namespace: nothing to map */
    struct helper_msg msg = {.ok = 1};
    if (run_tool(newuidmap, parent, maps->uid_mappings, maps->n_uid_mappings, &msg) < 0 ||
        run_tool(newgidmap, parent, maps->gid_mappings, maps->n_gid_mappings, &msg) < 0)
        msg.ok = 0;
    ssize_t w;
    do
        w = write(fd, &msg, sizeof msg);
    while (w < 0 && errno == EINTR);
    _exit(msg.ok ? 0 : 1);
}

static int
write_self(const char *path, const char *text, struct sw_error **err)
{
    sw_autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
    size_t n = strlen(text);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n)
        return sw_error_set(err, SW_EIO, errno, NULL, "rootless: writing \"%.*s\" to %s: %s",
                            (int)strcspn(text, "\n"), text, path, strerror(errno));
    return 0;
}

static void
reap(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

int
ctr_userns_enter(enum ctr_userns_kind *out, const char *etc_dir, struct sw_error **err)
{
    if (out)
        *out = CTR_USERNS_NONE;
    if (geteuid() == 0)
        return 0;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    struct ctr_spec maps;
    ctr_spec_init(&maps);
    int r = ctr_spec_set_rootless(&maps, uid, gid, true, etc_dir, err);
    if (r < 0) {
        ctr_spec_clear(&maps);
        return r;
    }
    /* subordinate ranges need both setuid helpers; without them, a single-id map */
    char newuidmap[4096], newgidmap[4096];
    bool subid = maps.n_uid_mappings > 1 && maps.n_gid_mappings > 1 &&
                 find_tool("newuidmap", newuidmap, sizeof newuidmap) &&
                 find_tool("newgidmap", newgidmap, sizeof newgidmap);
    int sv[2] = {-1, -1};
    pid_t helper = -1;
    if (subid) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            ctr_spec_clear(&maps);
            return sw_error_set(err, SW_EIO, errno, NULL, "rootless: socketpair: %s",
                                strerror(errno));
        }
        pid_t self = getpid();
        helper = fork();
        if (helper == 0) {
            close(sv[0]);
            helper_main(sv[1], self, newuidmap, newgidmap, &maps);
        }
        close(sv[1]);
        if (helper < 0) {
            int e = errno;
            close(sv[0]);
            ctr_spec_clear(&maps);
            return sw_error_set(err, SW_EIO, e, NULL, "rootless: fork: %s", strerror(e));
        }
    }
    /* a process that changed its ids (setuid from root, say) is not dumpable, which makes its
     * /proc files root's: neither it nor newuidmap could write its maps. Dumpable until then. */
    int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    if (dumpable != 1)
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (unshare(CLONE_NEWUSER) != 0) {
        /* no user namespace for us (disabled, or the limit reached): go on unprivileged */
        if (helper > 0) {
            close(sv[0]); /* the helper reads EOF and exits */
            reap(helper);
        }
        ctr_spec_clear(&maps);
        if (dumpable == 0)
            prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        return 0;
    }
    if (subid) {
        struct helper_msg msg = {0};
        ssize_t got = send(sv[0], "1", 1, MSG_NOSIGNAL);
        if (got == 1) {
            do
                got = recv(sv[0], &msg, sizeof msg, MSG_WAITALL);
            while (got < 0 && errno == EINTR);
        }
        close(sv[0]);
        reap(helper);
        if (got != (ssize_t)sizeof msg || !msg.ok) {
            msg.text[sizeof msg.text - 1] = '\0';
            r = sw_error_set(err, SW_EIO, 0, NULL,
                             "rootless: mapping the subordinate ids of /etc/subuid and "
                             "/etc/subgid: %s",
                             got == (ssize_t)sizeof msg ? msg.text : "the helper died");
        }
    } else {
        char line[64];
        r = write_self("/proc/self/setgroups", "deny", err);
        snprintf(line, sizeof line, "0 %u 1\n", (unsigned)uid);
        r = r ? r : write_self("/proc/self/uid_map", line, err);
        snprintf(line, sizeof line, "0 %u 1\n", (unsigned)gid);
        r = r ? r : write_self("/proc/self/gid_map", line, err);
    }
    ctr_spec_clear(&maps);
    if (dumpable == 0)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (r < 0)
        return r;
    if (out)
        *out = subid ? CTR_USERNS_SUBID : CTR_USERNS_SINGLE;
    return 0;
}
