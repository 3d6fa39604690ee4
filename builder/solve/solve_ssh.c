/*
 * RUN --mount=type=ssh: a proxy in front of the host's SSH agent, so that the socket the step sees
 * has the mount's owner and mode (uid=, gid=, mode=; 0:0 0600 by default) whatever the host
 * socket's are. One thread per mount accepts connections on a socket in the step's private
 * directory and copies bytes between each one and a new connection to the agent. It stops (and
 * closes every connection) when the step ends.
 */
#include "solve_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNS 16

struct conn {
    int client, agent;
};

struct ssh_proxy {
    int listen_fd, stop_fd;
    char agent[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct conn conns[MAX_CONNS];
    size_t nconns;
    pthread_t thread;
    bool started;
};

static int
unix_addr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path)
        return -1;
    memcpy(a->sun_path, path, strlen(path));
    return 0;
}

static void
drop_conn(struct ssh_proxy *p, size_t i)
{
    close(p->conns[i].client);
    close(p->conns[i].agent);
    p->conns[i] = p->conns[--p->nconns];
}

/* Copy what is readable on `from` to `to`; false when the connection is over. */
static bool
pump(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0)
        return n < 0 && (errno == EINTR || errno == EAGAIN);
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

static void *
proxy_main(void *arg)
{
    struct ssh_proxy *p = arg;
    for (;;) {
        struct pollfd pf[2 + 2 * MAX_CONNS];
        size_t n = 0;
        pf[n++] = (struct pollfd){.fd = p->stop_fd, .events = POLLIN};
        pf[n++] =
            (struct pollfd){.fd = p->nconns < MAX_CONNS ? p->listen_fd : -1, .events = POLLIN};
        for (size_t i = 0; i < p->nconns; i++) {
            pf[n++] = (struct pollfd){.fd = p->conns[i].client, .events = POLLIN};
            pf[n++] = (struct pollfd){.fd = p->conns[i].agent, .events = POLLIN};
        }
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[0].revents)
            break;
        /* connections first (their slots are pf[2..]), then new ones */
        for (size_t i = p->nconns; i-- > 0;) {
            short rc = pf[2 + 2 * i].revents, ra = pf[3 + 2 * i].revents;
            bool ok = true;
            if (rc)
                ok = pump(p->conns[i].client, p->conns[i].agent);
            if (ok && ra)
                ok = pump(p->conns[i].agent, p->conns[i].client);
            if (!ok)
                drop_conn(p, i);
        }
        if (pf[1].revents & POLLIN) {
            int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            struct sockaddr_un a;
            int ag = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (ag < 0 || unix_addr(&a, p->agent) < 0 ||
                connect(ag, (struct sockaddr *)&a, sizeof a) < 0) {
                close(c); /* the agent is gone: the client sees the connection close */
                if (ag >= 0)
                    close(ag);
                continue;
            }
            p->conns[p->nconns++] = (struct conn){.client = c, .agent = ag};
        }
    }
    while (p->nconns)
        drop_conn(p, 0);
    return NULL;
}

int
solve_ssh_proxy_start(struct ssh_proxy **out, const char *agent, const char *path, uid_t uid,
                      gid_t gid, mode_t mode, struct sw_error **err)
{
    struct ssh_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return sw_error_oom(err);
    p->listen_fd = p->stop_fd = -1;
    struct sockaddr_un a;
    int r = 0;
    if (strlen(agent) >= sizeof p->agent || unix_addr(&a, path) < 0)
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "ssh: socket path too long: %s",
                         strlen(agent) >= sizeof p->agent ? agent : path);
    else
        memcpy(p->agent, agent, strlen(agent) + 1);
    if (r == 0 && ((p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
                   bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 ||
                   chown(path, uid, gid) < 0 || chmod(path, mode & 07777) < 0 ||
                   listen(p->listen_fd, 16) < 0 || (p->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0))
        r = sw_error_set(err, SW_EIO, errno, NULL, "ssh: the agent proxy at %s: %s", path,
                         strerror(errno));
    if (r == 0) {
        int e = pthread_create(&p->thread, NULL, proxy_main, p);
        if (e)
            r = sw_error_set(err, SW_EIO, e, NULL, "ssh: starting the agent proxy: %s",
                             strerror(e));
        p->started = e == 0;
    }
    if (r < 0) {
        solve_ssh_proxy_stop(p);
        return r;
    }
    *out = p;
    return 0;
}

void
solve_ssh_proxy_stop(struct ssh_proxy *p)
{
    if (!p)
        return;
    if (p->started) {
        uint64_t one = 1;
        if (write(p->stop_fd, &one, sizeof one) < 0) {
            /* an eventfd write cannot fail here; the join below would wait forever if it did */
        }
        pthread_join(p->thread, NULL);
    }
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    if (p->stop_fd >= 0)
        close(p->stop_fd);
    free(p);
}
