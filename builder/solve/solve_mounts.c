/*
 * RUN --mount: what each mount of a step needs on the host, turned into the spec's mounts.
 *
 *   bind    the context (through .dockerignore), a stage or an image, read-only unless rw; writes
 *           to an rw bind land in a throwaway overlay upperdir and are discarded
 *   cache   a directory kept in the store (ROOT/mounts/cache/<sha256(id)>/<instance>), locked
 *           per sharing mode; created with mode/uid/gid and seeded from from=/source= once
 *   tmpfs   a fresh tmpfs (size=)
 *   secret  a file in a private tmpfs (never on disk, never in a layer), or an env variable
 *   ssh     a proxy of the agent's socket (solve_ssh.c) with the mount's owner and mode;
 *           SSH_AUTH_SOCK names the first one
 *
 * The mount points the executor creates are left out of the step's layer (snap_diff's drops).
 * See docs/run-mounts.md.
 */
#include "solve_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../copy/copy.h"
#include "../snapshot/overlay.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"

static int
sys_error(struct sw_error **err, const char *what, const char *path)
{
    return sw_error_set(err, SW_EIO, errno, NULL, "%s %s: %s", what, path, strerror(errno));
}

static int
add_drop(struct run_mounts *rm, const char *target)
{
    /* the target and every directory above it: each is dropped only if it is an empty stub */
    sw_autofree char *p = strdup(target);
    if (!p)
        return -SW_ENOMEM;
    for (;;) {
        size_t l = strlen(p);
        while (l > 1 && p[l - 1] == '/')
            p[--l] = '\0';
        if (l <= 1)
            return 0;
        if (!sw_strv_contains(&rm->drops, p + 1) && sw_strv_push(&rm->drops, p + 1) < 0)
            return -SW_ENOMEM;
        char *slash = strrchr(p, '/');
        if (!slash || slash == p)
            return 0;
        *slash = '\0';
    }
}

/* ---- copying a listed tree (a filtered context, a cache's seed) ------------------------------ */

/* Write the entries of a copy list below `dir` (which exists). */
static int
materialize_items(const struct copy_list *l, const char *dir, struct sw_error **err)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < l->n; i++) {
        const struct copy_item *it = &l->v[i];
        sw_autofree char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, it->path) < 0)
            return sw_error_oom(err);
        char *slash = strrchr(p, '/');
        *slash = '\0';
        r = sw_mkdir_p(p, 0755, err);
        *slash = '/';
        if (r < 0)
            break;
        if (S_ISDIR(it->mode)) {
            if (mkdir(p, it->mode & 07777) < 0 && errno != EEXIST)
                r = sys_error(err, "cannot create", p);
        } else if (S_ISLNK(it->mode)) {
            if (symlink(it->link ? it->link : "", p) < 0)
                r = sys_error(err, "cannot create", p);
        } else if (S_ISREG(it->mode) && it->source) {
            r = sw_copy_file(it->source, p, it->mode, err);
        } else if (S_ISREG(it->mode)) {
            int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, it->mode & 07777);
            int e = fd < 0 ? errno : sw_write_all(fd, it->data, it->data ? strlen(it->data) : 0);
            if (fd >= 0 && close(fd) < 0 && !e)
                e = errno;
            if (e)
                r = sw_error_set(err, SW_EIO, e, NULL, "cannot write %s: %s", p, strerror(e));
        } else {
            continue; /* devices and fifos are not copied into mounts */
        }
        if (r == 0 && lchown(p, it->uid, it->gid) < 0 && errno != EPERM && errno != EINVAL)
            r = sys_error(err, "cannot chown", p);
        if (r == 0 && !S_ISLNK(it->mode) && chmod(p, it->mode & 07777) < 0)
            r = sys_error(err, "cannot chmod", p);
    }
    return r;
}

/* Copy `source` of a file system (a view) into `dir`: a directory's contents, or a file as
 * dir/<its name> (its name goes to *name). */
static int
copy_tree(const struct copy_source *src, const char *source, const char *dir, int64_t epoch,
          struct sw_error **err)
{
    struct plan_copy c = {.dest = (char *)"/", .unpack = false};
    char *srcs[] = {(char *)source};
    c.srcs.v = srcs;
    c.srcs.n = 1;
    struct copy_target dst = {.workdir = "/", .epoch = epoch};
    struct copy_list items = {0};
    int r = copy_plan(&items, &c, src, &dst, err);
    if (r == 0)
        r = materialize_items(&items, dir, err);
    copy_list_free(&items);
    return r;
}

/* ---- bind ------------------------------------------------------------------------------------ */

static int
overlay_of(struct solver *S, struct run_mounts *rm, char *const *lowers, size_t n,
           const char **merged, struct sw_error **err)
{
    struct snap_mount **v = realloc(rm->overlays, (rm->noverlays + 1) * sizeof *v);
    if (!v)
        return sw_error_oom(err);
    rm->overlays = v;
    struct snap_mount_opts mo = {.force_copy = S->o->copy_snapshotter};
    int r = snap_mount(&v[rm->noverlays], lowers, n, S->snap_root, &mo, err);
    if (r < 0)
        return r;
    *merged = snap_merged_path(v[rm->noverlays++]);
    return 0;
}

/* The host path a bind mount of the context shows: the path itself, or a filtered copy when
 * .dockerignore patterns apply (the container must not see ignored files). */
static int
bind_context(struct solver *S, struct op_state *in, const struct plan_mount *m, const char *dir,
             size_t idx, char **host, bool *is_dir, struct sw_error **err)
{
    struct view_entry ent = {0};
    int r = view_resolve(in->context, m->source, true, &ent, err);
    if (r < 0)
        return r;
    *is_dir = S_ISDIR(ent.st.st_mode);
    if (!in->ignore || df_pm_count(in->ignore) == 0) {
        *host = ent.host_path;
        ent.host_path = NULL;
        view_entry_clear(&ent);
        return 0;
    }
    view_entry_clear(&ent);
    sw_autofree char *copy = NULL;
    if (asprintf(&copy, "%s/mount-%zu", dir, idx) < 0)
        return sw_error_oom(err);
    if (mkdir(copy, 0755) < 0)
        return sys_error(err, "cannot create", copy);
    struct copy_source src = {
        .view = in->context, .ignore = in->ignore, .is_context = true, .name = "build context"};
    r = copy_tree(&src, m->source, copy, S->created_sec, err);
    if (r < 0)
        return r;
    if (*is_dir) {
        *host = sw_steal(&copy);
        return 0;
    }
    const char *base = strrchr(m->source, '/');
    base = base ? base + 1 : m->source;
    return asprintf(host, "%s/%s", copy, base) < 0 ? sw_error_oom(err) : 0;
}

static int
prepare_bind(struct solver *S, const struct plan_op *op, const struct plan_mount *m,
             const char *dir, size_t idx, struct run_mounts *rm, struct ctr_spec *spec,
             struct sw_error **err)
{
    struct op_state *in = &S->states[op->inputs[m->input]];
    sw_autofree char *host = NULL;
    bool is_dir = false;
    int r;
    if (m->from_context) {
        r = bind_context(S, in, m, dir, idx, &host, &is_dir, err);
        if (r == 0 && !m->readonly && is_dir) {
            /* writes go to an overlay's upperdir and are thrown away */
            char *lowers[] = {host};
            const char *merged = NULL;
            r = overlay_of(S, rm, lowers, 1, &merged, err);
            if (r == 0) {
                free(host);
                host = strdup(merged);
                r = host ? 0 : sw_error_oom(err);
            }
        } else if (r == 0 && !m->readonly) {
            sw_autofree char *copy = NULL;
            if (asprintf(&copy, "%s/mount-%zu.file", dir, idx) < 0)
                return sw_error_oom(err);
            struct stat st;
            r = stat(host, &st) < 0 ? sys_error(err, "cannot stat", host)
                                    : sw_copy_file(host, copy, st.st_mode, err);
            if (r == 0) {
                free(host);
                host = sw_steal(&copy);
            }
        }
    } else {
        /* a stage or an image: its layers as a (throwaway) overlay */
        r = solve_state_snapshots(S, in, err);
        const char *merged = NULL;
        struct sw_strv lowers = {0};
        if (r == 0 && solve_unique_lowers(in, &lowers) < 0)
            r = sw_error_oom(err);
        if (r == 0)
            r = overlay_of(S, rm, lowers.v, lowers.n, &merged, err);
        sw_strv_free(&lowers);
        struct view *v = NULL;
        struct view_entry ent = {0};
        if (r == 0)
            r = view_open(&v, in->snapshots, in->nlayers, err);
        if (r == 0)
            r = view_resolve(v, m->source, true, &ent, err);
        if (r == 0 && asprintf(&host, "%s%s", merged, strcmp(ent.path, "/") ? ent.path : "") < 0)
            r = sw_error_oom(err);
        view_entry_clear(&ent);
        view_free(v);
    }
    if (r < 0) {
        char buf[256];
        return sw_error_wrap(
            err, "RUN --mount: source %s in %s", m->source,
            solve_source_name(S, op->inputs[m->input], m->from_context, buf, sizeof buf));
    }
    return ctr_spec_add_mount(spec, m->target, "bind", host, m->readonly ? "rbind,ro" : "rbind",
                              err);
}

/* ---- cache ----------------------------------------------------------------------------------- */

/* Take flock `how` on fd, giving up when the build is canceled. */
static int
lock_wait(struct solver *S, int fd, int how, struct sw_error **err)
{
    for (;;) {
        if (flock(fd, how | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return sw_error_set(err, SW_EIO, errno, NULL, "cannot lock a cache mount: %s",
                                strerror(errno));
        struct pollfd p = {.fd = S->o->cancel_fd > 0 ? S->o->cancel_fd : -1, .events = POLLIN};
        if (poll(&p, 1, 50) > 0)
            return sw_error_set(err, SW_EINTERNAL, 0, NULL, "canceled");
    }
}

static int
push_lock(struct run_mounts *rm, int fd)
{
    int *v = realloc(rm->locks, (rm->nlocks + 1) * sizeof *v);
    if (!v)
        return -SW_ENOMEM;
    v[rm->nlocks++] = fd;
    rm->locks = v;
    return 0;
}

/* Create instance directory `data` (absent) with the mount's owner and mode, seeded from its
 * source when it has one. */
static int
create_cache_dir(struct solver *S, const struct plan_op *op, const struct plan_mount *m,
                 const char *data, struct sw_error **err)
{
    sw_autofree char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-XXXXXX", data) < 0)
        return sw_error_oom(err);
    if (!mkdtemp(tmp))
        return sys_error(err, "cannot create", tmp);
    int r = 0;
    if (m->input) {
        struct op_state *in = &S->states[op->inputs[m->input]];
        struct view *v = NULL;
        struct copy_source src = {.is_context = m->from_context, .name = "cache source"};
        if (m->from_context) {
            src.view = in->context;
            src.ignore = in->ignore;
        } else {
            r = solve_state_view(S, in, &v, err);
            src.view = v;
        }
        if (r == 0)
            r = copy_tree(&src, m->source, tmp, S->created_sec, err);
        view_free(v);
    }
    if (r == 0 && (chown(tmp, m->uid, m->gid) < 0 || chmod(tmp, m->mode & 07777) < 0))
        r = sys_error(err, "cannot set the owner and mode of", tmp);
    if (r == 0 && rename(tmp, data) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY)
            r = sys_error(err, "cannot create", data);
    }
    if (access(tmp, F_OK) == 0)
        sw_rmtree(tmp, NULL);
    return r;
}

static int
prepare_cache(struct solver *S, const struct plan_op *op, const struct plan_mount *m,
              struct run_mounts *rm, struct ctr_spec *spec, struct sw_error **err)
{
    struct sw_digest d;
    int r = sw_digest_bytes(&d, m->id, strlen(m->id), err);
    sw_autofree char *base = NULL;
    if (r == 0 &&
        asprintf(&base, "%s/mounts/cache/%s", store_root(S->o->store), sw_digest_hex(&d)) < 0)
        r = sw_error_oom(err);
    if (r == 0)
        r = sw_mkdir_p(base, 0700, err);
    if (r < 0)
        return r;
    /* the id, for `slipway cache ls` */
    sw_autofree char *idfile = NULL;
    if (asprintf(&idfile, "%s/id", base) < 0)
        return sw_error_oom(err);
    if (access(idfile, F_OK) < 0) {
        int fd = open(idfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (write(fd, m->id, strlen(m->id)) < 0) {
                /* only informational */
            }
            close(fd);
        }
    }
    /* shared: a shared lock on instance 0; locked: an exclusive one (waiting); private: the
     * first instance nobody holds */
    unsigned inst = 0;
    int fd = -1;
    for (;; inst++) {
        char lockpath[4200];
        snprintf(lockpath, sizeof lockpath, "%s/%u.lock", base, inst);
        fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return sys_error(err, "cannot open", lockpath);
        if (m->sharing == PLAN_SHARING_SHARED) {
            r = lock_wait(S, fd, LOCK_SH, err);
            break;
        }
        if (m->sharing == PLAN_SHARING_LOCKED) {
            r = lock_wait(S, fd, LOCK_EX, err);
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (r < 0 || push_lock(rm, fd) < 0) {
        close(fd);
        return r < 0 ? r : sw_error_oom(err);
    }
    (void)futimens(fd, NULL); /* the instance's last use, for `slipway cache prune` */
    sw_autofree char *data = NULL;
    if (asprintf(&data, "%s/%u", base, inst) < 0)
        return sw_error_oom(err);
    if (access(data, F_OK) < 0 && (r = create_cache_dir(S, op, m, data, err)) < 0)
        return sw_error_wrap(err, "RUN --mount=type=cache,id=%s", m->id);
    return ctr_spec_add_mount(spec, m->target, "bind", data, "rbind", err);
}

/* ---- secrets and ssh ------------------------------------------------------------------------- */

static const struct solve_secret *
find_secret(struct solver *S, const char *id)
{
    for (size_t i = 0; i < S->o->nsecrets; i++)
        if (!strcmp(S->o->secrets[i].id, id))
            return &S->o->secrets[i];
    return NULL;
}

/* The secret's value (file content or the host variable). */
static int
read_secret(const struct solve_secret *s, char **data, size_t *len, struct sw_error **err)
{
    if (s->env) {
        const char *v = getenv(s->env);
        if (!v)
            return sw_error_set(err, SW_ENOTFOUND, 0, NULL,
                                "secret %s: environment variable %s is not set", s->id, s->env);
        *len = strlen(v);
        return (*data = strdup(v)) ? 0 : sw_error_oom(err);
    }
    int fd = open(s->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sw_error_set(err, SW_ENOTFOUND, errno, NULL, "secret %s: %s: %s", s->id, s->file,
                            strerror(errno));
    struct sw_buf b = {0};
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (b.len + (size_t)n > (500u << 10) || sw_buf_append(&b, buf, (size_t)n) < 0) {
            n = -2;
            break;
        }
    int e = errno;
    close(fd);
    if (n < 0) {
        sw_buf_free(&b);
        return n == -2 ? sw_error_set(err, SW_EINVAL, 0, NULL,
                                      "secret %s: %s is larger than 500 KiB", s->id, s->file)
                       : sw_error_set(err, SW_EIO, e, NULL, "secret %s: %s: %s", s->id, s->file,
                                      strerror(e));
    }
    *len = b.len;
    *data = b.len ? sw_buf_detach(&b) : strdup("");
    return *data ? 0 : sw_error_oom(err);
}

/* A private tmpfs for the step's secret files: their content never touches a disk. */
static int
secrets_dir(struct run_mounts *rm, const char *dir, struct sw_error **err)
{
    if (rm->secrets_dir)
        return 0;
    if (asprintf(&rm->secrets_dir, "%s/secrets", dir) < 0)
        return sw_error_oom(err);
    if (mkdir(rm->secrets_dir, 0700) < 0)
        return sys_error(err, "cannot create", rm->secrets_dir);
    if (mount("slipway-secrets", rm->secrets_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=0700,size=16m") < 0)
        return sys_error(err, "cannot mount a tmpfs for secrets on", rm->secrets_dir);
    rm->secrets_mounted = true;
    return 0;
}

static void
wipe(char *data, size_t len)
{
    if (data)
        explicit_bzero(data, len);
    free(data);
}

static int
prepare_secret(struct solver *S, const struct plan_mount *m, const char *dir, size_t idx,
               struct run_mounts *rm, struct ctr_spec *spec, struct sw_error **err)
{
    const struct solve_secret *s = find_secret(S, m->id);
    if (!s) {
        if (!m->required)
            return 0;
        return sw_error_set(err, SW_ENOTFOUND, 0, NULL,
                            "secret %s: not provided (pass --secret id=%s,src=FILE or "
                            "id=%s,env=VAR)",
                            m->id, m->id, m->id);
    }
    char *data = NULL;
    size_t len = 0;
    int r = read_secret(s, &data, &len, err);
    if (r < 0)
        return r;
    if (m->env) {
        char *kv = malloc(strlen(m->env) + len + 2);
        if (!kv) {
            wipe(data, len);
            return sw_error_oom(err);
        }
        sprintf(kv, "%s=", m->env);
        memcpy(kv + strlen(m->env) + 1, data, len);
        kv[strlen(m->env) + 1 + len] = '\0';
        r = solve_spec_set_env(spec, kv, err);
        wipe(kv, strlen(m->env) + len + 2);
    }
    if (r == 0 && m->target) {
        r = secrets_dir(rm, dir, err);
        char path[4200];
        snprintf(path, sizeof path, "%s/%zu", rm->secrets_dir ? rm->secrets_dir : "", idx);
        int fd = r == 0 ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
        if (r == 0 && (fd < 0 || sw_write_all(fd, data, len) != 0 ||
                       fchown(fd, m->uid, m->gid) < 0 || fchmod(fd, m->mode & 07777) < 0))
            r = sys_error(err, "cannot write the secret file", path);
        if (fd >= 0)
            close(fd);
        if (r == 0)
            r = ctr_spec_add_mount(spec, m->target, "bind", path, "bind,ro,nosuid,nodev,noexec",
                                   err);
    }
    wipe(data, len);
    return r;
}

static int
prepare_ssh(struct solver *S, const struct plan_mount *m, const char *dir, size_t idx,
            struct run_mounts *rm, struct ctr_spec *spec, struct sw_error **err)
{
    const struct solve_ssh *s = NULL;
    for (size_t i = 0; i < S->o->nssh && !s; i++)
        if (!strcmp(S->o->ssh[i].id, m->id))
            s = &S->o->ssh[i];
    if (!s) {
        if (!m->required)
            return 0;
        return sw_error_set(err, SW_ENOTFOUND, 0, NULL,
                            "ssh %s: no agent given (pass --ssh %s=SOCKET, or --ssh default with "
                            "SSH_AUTH_SOCK set)",
                            m->id, m->id);
    }
    struct stat st;
    if (stat(s->socket, &st) < 0 || !S_ISSOCK(st.st_mode))
        return sw_error_set(err, SW_ENOTFOUND, errno, NULL, "ssh %s: %s is not a socket", m->id,
                            s->socket);
    /* the step sees a proxy's socket with the mount's owner and mode, not the host's socket */
    struct ssh_proxy **v = realloc(rm->proxies, (rm->nproxies + 1) * sizeof *v);
    if (!v)
        return sw_error_oom(err);
    rm->proxies = v;
    char path[4200];
    snprintf(path, sizeof path, "%s/ssh-%zu.sock", dir, idx);
    int r = solve_ssh_proxy_start(&v[rm->nproxies], s->socket, path, m->uid, m->gid, m->mode, err);
    if (r < 0)
        return r;
    rm->nproxies++;
    r = ctr_spec_add_mount(spec, m->target, "bind", path, "bind,nosuid,nodev,noexec", err);
    /* like BuildKit: SSH_AUTH_SOCK points at the first agent unless the step sets it */
    if (r == 0 && !rm->ssh_env_set) {
        rm->ssh_env_set = true;
        bool set = false;
        for (size_t i = 0; i < spec->process.env.n && !set; i++)
            set = !strncmp(spec->process.env.v[i], "SSH_AUTH_SOCK=", 14);
        sw_autofree char *kv = NULL;
        if (!set && asprintf(&kv, "SSH_AUTH_SOCK=%s", m->target) < 0)
            return sw_error_oom(err);
        if (!set)
            r = ctr_spec_add_env(spec, kv, err);
    }
    return r;
}

/* ---- the step's mounts ----------------------------------------------------------------------- */

static size_t
depth(const char *path)
{
    size_t n = 0;
    for (const char *p = path; p && *p; p++)
        n += *p == '/' && p[1] && p[1] != '/';
    return n;
}

int
solve_mounts_prepare(struct solver *S, const struct plan_op *op, const char *dir,
                     struct ctr_spec *spec, struct run_mounts *rm, struct sw_error **err)
{
    const struct plan_exec *e = &op->u.exec;
    /* shallow targets first, so that a mount inside another one is not hidden by it */
    size_t *order = calloc(e->nmounts ? e->nmounts : 1, sizeof *order);
    if (!order)
        return sw_error_oom(err);
    size_t n = 0;
    for (size_t d = 0; n < e->nmounts; d++)
        for (size_t i = 0; i < e->nmounts; i++)
            if (depth(e->mounts[i].target) == d)
                order[n++] = i;
    int r = 0;
    for (size_t k = 0; r == 0 && k < e->nmounts; k++) {
        const struct plan_mount *m = &e->mounts[order[k]];
        switch (m->type) {
        case PLAN_MOUNT_BIND:
            r = prepare_bind(S, op, m, dir, order[k], rm, spec, err);
            break;
        case PLAN_MOUNT_CACHE:
            r = prepare_cache(S, op, m, rm, spec, err);
            break;
        case PLAN_MOUNT_TMPFS: {
            char opts[96] = "nosuid,nodev";
            if (m->size > 0)
                snprintf(opts, sizeof opts, "nosuid,nodev,size=%lld", (long long)m->size);
            r = ctr_spec_add_mount(spec, m->target, "tmpfs", "tmpfs", opts, err);
            break;
        }
        case PLAN_MOUNT_SECRET:
            r = prepare_secret(S, m, dir, order[k], rm, spec, err);
            break;
        case PLAN_MOUNT_SSH:
            r = prepare_ssh(S, m, dir, order[k], rm, spec, err);
            break;
        }
        if (r == 0 && m->target && add_drop(rm, m->target) < 0)
            r = sw_error_oom(err);
    }
    free(order);
    if (r < 0 && *err)
        sw_error_set_span(*err, &op->span);
    return r;
}

void
solve_mounts_release(struct run_mounts *rm)
{
    for (size_t i = 0; i < rm->noverlays; i++)
        snap_free(rm->overlays[i]);
    free(rm->overlays);
    for (size_t i = 0; i < rm->nproxies; i++)
        solve_ssh_proxy_stop(rm->proxies[i]);
    free(rm->proxies);
    for (size_t i = 0; i < rm->nlocks; i++)
        close(rm->locks[i]); /* releases the flock */
    free(rm->locks);
    if (rm->secrets_mounted)
        (void)umount2(rm->secrets_dir, MNT_DETACH);
    if (rm->secrets_dir)
        (void)rmdir(rm->secrets_dir);
    free(rm->secrets_dir);
    struct sw_strv drops = rm->drops;
    memset(rm, 0, sizeof *rm);
    rm->drops = drops;
}
