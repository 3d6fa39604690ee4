/*
 * RUN: the command runs in an ephemeral container (builder/exec) on an overlay of the parent's
 * layers (builder/snapshot/overlay.h); what it changed becomes the new layer, and the overlay's
 * upperdir becomes that layer's snapshot without a copy.
 */
#include "solve_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../snapshot/overlay.h"
#include "../snapshot/users.h"
#include "../util/cleanup.h"
#include "../util/fs.h"

#define HOSTNAME "slipway"

static const char *const default_shell[] = {"/bin/sh", "-c", NULL};

/* ---- the command line -------------------------------------------------------------------------
 */

static char *
chomp(const char *data)
{
    struct sw_buf b = {0};
    bool line_start = true;
    for (const char *p = data; *p; p++) {
        if (line_start && *p == '\t')
            continue;
        line_start = *p == '\n';
        sw_buf_putc(&b, *p);
    }
    return sw_buf_detach(&b);
}

/* Is the command line exactly one heredoc word ("<<EOF", "<<-'EOF'")? */
static bool
only_heredoc(const struct plan_exec *e)
{
    if (e->nfiles != 1 || e->cmdline.n != 1)
        return false;
    const char *c = e->cmdline.v[0];
    while (*c == ' ' || *c == '\t')
        c++;
    return !strncmp(c, "<<", 2) && !strpbrk(c + 2, " \t|;&");
}

/*
 * The argv BuildKit runs: exec form as is; shell form as SHELL + [line]. With heredocs: a lone
 * `RUN <<EOF` whose body starts with #! runs the body as a file (*script gets its content, mounted
 * at /dev/pipes/NAME); a lone one without #! runs SHELL + [body]; otherwise the shell gets the
 * line and every heredoc body followed by its terminator.
 */
static int
build_argv(const struct plan_exec *e, const struct img_config *cfg, struct sw_strv *argv,
           char **script, char **script_name)
{
    *script = *script_name = NULL;
    const char *const *sh = cfg->shell.n ? (const char *const *)cfg->shell.v : default_shell;
    size_t nsh = cfg->shell.n ? cfg->shell.n : 2;
    if (!e->shell)
        return sw_strv_append_all(argv, &e->cmdline);
    if (only_heredoc(e)) {
        sw_autofree char *body = e->chomp[0] ? chomp(e->files[0].data) : strdup(e->files[0].data);
        if (!body)
            return -SW_ENOMEM;
        if (!strncmp(body, "#!", 2)) {
            if (asprintf(script_name, "/dev/pipes/%s", e->files[0].name) < 0)
                return -SW_ENOMEM;
            *script = sw_steal(&body);
            return sw_strv_push(argv, *script_name);
        }
        for (size_t i = 0; i < nsh; i++)
            if (sw_strv_push(argv, sh[i]) < 0)
                return -SW_ENOMEM;
        return sw_strv_push(argv, body);
    }
    struct sw_buf line = {0};
    sw_buf_puts(&line, e->cmdline.n ? e->cmdline.v[0] : "");
    for (size_t i = 0; i < e->nfiles; i++) {
        sw_autofree char *body = e->chomp[i] ? chomp(e->files[i].data) : strdup(e->files[i].data);
        sw_buf_printf(&line, "\n%s%s", body ? body : "", e->files[i].name);
    }
    for (size_t i = 0; i < nsh; i++)
        if (sw_strv_push(argv, sh[i]) < 0) {
            sw_buf_free(&line);
            return -SW_ENOMEM;
        }
    char *l = sw_buf_detach(&line);
    return l ? sw_strv_push_owned(argv, l) : -SW_ENOMEM;
}

/* The environment: the config's ENV, then ARGs ENV does not set, then the proxy build args. */
static int
build_env(const struct plan *p, const struct plan_exec *e, const struct img_config *cfg,
          const char *home_dir, struct ctr_spec *spec, struct sw_error **err)
{
    int r = 0;
    bool has_path = false;
    for (size_t i = 0; r == 0 && i < cfg->env.n; i++) {
        has_path |= !strncmp(cfg->env.v[i], "PATH=", 5);
        r = ctr_spec_add_env(spec, cfg->env.v[i], err);
    }
    const struct sw_strv *extra[] = {&e->args, &p->proxy_args};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; r == 0 && i < extra[k]->n; i++) {
            const char *kv = extra[k]->v[i];
            size_t kl = strcspn(kv, "=");
            sw_autofree char *key = strndup(kv, kl);
            if (!key)
                return sw_error_oom(err);
            if (img_config_env_get(cfg, key))
                continue;
            r = ctr_spec_add_env(spec, kv, err);
        }
    }
    if (r == 0 && !has_path)
        r = ctr_spec_add_env(
            spec, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", err);
    /* like docker (and runc): HOME is the user's home from /etc/passwd unless ENV sets it */
    if (r == 0 && !img_config_env_get(cfg, "HOME")) {
        char *home = NULL;
        if (asprintf(&home, "HOME=%s", home_dir && *home_dir ? home_dir : "/") < 0)
            return sw_error_oom(err);
        r = ctr_spec_add_env(spec, home, err);
        free(home);
    }
    return r;
}

int
solve_spec_set_env(struct ctr_spec *spec, const char *kv, struct sw_error **err)
{
    size_t kl = strcspn(kv, "=");
    for (size_t i = 0; i < spec->process.env.n; i++) {
        if (!strncmp(spec->process.env.v[i], kv, kl) && spec->process.env.v[i][kl] == '=') {
            char *c = strdup(kv);
            if (!c)
                return sw_error_oom(err);
            free(spec->process.env.v[i]);
            spec->process.env.v[i] = c;
            return 0;
        }
    }
    return ctr_spec_add_env(spec, kv, err);
}

/* /etc/hosts, /etc/resolv.conf and /etc/hostname for the step, in its private directory. */
static int
etc_files(const char *dir, struct ctr_etc_files *etc, char **paths, struct sw_error **err)
{
    static const char hosts[] = "127.0.0.1\tlocalhost " HOSTNAME "\n"
                                "::1\tlocalhost ip6-localhost ip6-loopback\n";
    sw_autofree char *resolv = NULL;
    size_t rlen = 0;
    FILE *f = fopen("/etc/resolv.conf", "r");
    if (f) {
        struct sw_buf b = {0};
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
            sw_buf_append(&b, buf, n);
        fclose(f);
        rlen = b.len;
        resolv = sw_buf_detach(&b);
    }
    const char *names[] = {"hosts", "resolv.conf", "hostname"};
    const char *content[] = {hosts, resolv ? resolv : "", HOSTNAME "\n"};
    size_t lens[] = {sizeof hosts - 1, resolv ? rlen : 0, strlen(HOSTNAME) + 1};
    for (int i = 0; i < 3; i++) {
        if (asprintf(&paths[i], "%s/%s", dir, names[i]) < 0)
            return sw_error_oom(err);
        int fd = open(paths[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, content[i], lens[i]) != (ssize_t)lens[i]) {
            int r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", paths[i], strerror(errno));
            if (fd >= 0)
                close(fd);
            return r;
        }
        close(fd);
    }
    etc->hosts = paths[0];
    etc->resolv_conf = paths[1];
    etc->hostname = paths[2];
    return 0;
}

/* ---- output and errors ---------------------------------------------------------------------- */

struct out_ctx {
    struct progress *progress;
    unsigned id;
};

static void
on_output(void *ctx, int stream, const char *data, size_t len)
{
    struct out_ctx *o = ctx;
    if (o->progress)
        progress_step_log(o->progress, o->id, stream == CTR_STDERR ? "stderr" : "stdout", data,
                          len);
}

static char *
argv_text(const struct sw_strv *argv)
{
    struct sw_buf b = {0};
    for (size_t i = 0; i < argv->n; i++)
        sw_buf_printf(&b, "%s%s", i ? " " : "", argv->v[i]);
    return sw_buf_detach(&b);
}

static int
run_history(const struct plan_exec *e, const struct sw_strv *argv, char **out,
            struct sw_error **err)
{
    /* BuildKit: "RUN |N K=V ... argv # buildkit" with the build args in scope */
    const char **keys = calloc(e->args.n + 1, sizeof *keys);
    const char **values = calloc(e->args.n + 1, sizeof *values);
    char **owned = calloc(e->args.n + 1, sizeof *owned);
    int r = keys && values && owned ? 0 : sw_error_oom(err);
    for (size_t i = 0; r == 0 && i < e->args.n; i++) {
        size_t kl = strcspn(e->args.v[i], "=");
        owned[i] = strndup(e->args.v[i], kl);
        keys[i] = owned[i];
        values[i] = e->args.v[i][kl] ? e->args.v[i] + kl + 1 : NULL;
        if (!owned[i])
            r = sw_error_oom(err);
    }
    struct img_hist_step s = {.kind = IMG_HIST_RUN,
                              .keys = keys,
                              .values = values,
                              .npairs = e->args.n,
                              .words = (const char *const *)argv->v,
                              .nwords = argv->n};
    if (r == 0)
        r = img_history_created_by(out, &s, err);
    for (size_t i = 0; owned && i < e->args.n; i++)
        free(owned[i]);
    free(owned);
    free(keys);
    free(values);
    return r;
}

/* ---- the step ----------------------------------------------------------------------------------
 */

struct diff_ctx {
    struct snap_mount *m;
    const struct snap_diff_opts *opts;
};

static int
fill_diff(void *ctx, struct layer_writer *w, struct sw_error **err)
{
    struct diff_ctx *d = ctx;
    return snap_diff(d->m, w, d->opts, err);
}

static int
prepare_spec(struct solver *S, const struct plan_op *op, struct op_state *st, const char *root,
             const char *dir, const struct users_ids *ids, struct ctr_spec *spec,
             struct sw_strv *argv, char **etc_paths, char **script_path, struct sw_error **err)
{
    const struct plan_exec *e = &op->u.exec;
    sw_autofree char *script = NULL, *script_name = NULL;
    if (build_argv(e, st->config, argv, &script, &script_name) < 0)
        return sw_error_oom(err);
    if (argv->n == 0 || !*argv->v[0])
        return sw_error_set(err, SW_EINVAL, 0, &op->span, "RUN has no command");
    const char *cwd =
        st->config->working_dir && *st->config->working_dir ? st->config->working_dir : "/";
    /* docker creates a missing working directory */
    char *wd = NULL;
    if (asprintf(&wd, "%s%s", root, cwd) < 0)
        return sw_error_oom(err);
    int r = sw_mkdir_p(wd, 0755, err);
    free(wd);
    struct ctr_etc_files etc = {0};
    if (r == 0)
        r = etc_files(dir, &etc, etc_paths, err);
    enum plan_network net = e->network == PLAN_NET_DEFAULT ? S->o->network : e->network;
    spec->namespaces = CTR_NS_DEFAULT | (net == PLAN_NET_NONE ? CTR_NS_NET : 0);
    if (r == 0)
        r = ctr_spec_set_root(spec, root, false, err);
    if (r == 0)
        r = ctr_spec_set_hostname(spec, HOSTNAME, err);
    if (r == 0)
        r = ctr_spec_set_cwd(spec, cwd, err);
    if (r == 0)
        r = ctr_spec_set_args(spec, (const char *const *)argv->v, err);
    if (r == 0)
        r = build_env(S->p, e, st->config, ids->home, spec, err);
    spec->process.uid = ids->uid;
    spec->process.gid = ids->gid;
    if (r == 0 && ids->ngroups)
        r = ctr_spec_set_additional_gids(spec, ids->groups, ids->ngroups, err);
    if (r == 0)
        r = ctr_spec_add_default_mounts(spec, &etc, false, err);
    if (r == 0 && script) {
        /* a #! heredoc: mounted read-only and executed */
        if (asprintf(script_path, "%s/script", dir) < 0)
            return sw_error_oom(err);
        int fd = open(*script_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        size_t n = strlen(script);
        if (fd < 0 || write(fd, script, n) != (ssize_t)n) {
            r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", *script_path, strerror(errno));
        }
        if (fd >= 0)
            close(fd);
        if (r == 0)
            r = ctr_spec_add_mount(spec, script_name, "bind", *script_path, "bind,ro", err);
    }
    return r;
}

/*
 * The lowerdirs of the step: the state's snapshots, each directory once. Identical layers (two
 * `RUN true`, say) share one snapshot directory, which overlayfs refuses to stack twice; keeping
 * only the topmost occurrence changes nothing, since the upper copy applies the same entries
 * over everything the lower one touched.
 */
int
solve_unique_lowers(const struct op_state *st, struct sw_strv *out)
{
    for (size_t i = 0; i < st->nlayers; i++) {
        bool later = false;
        for (size_t k = i + 1; k < st->nlayers && !later; k++)
            later = !strcmp(st->snapshots[i], st->snapshots[k]);
        if (!later && sw_strv_push(out, st->snapshots[i]) < 0)
            return -SW_ENOMEM;
    }
    return 0;
}

int
solve_exec(struct solver *S, const struct plan_op *op, struct op_state *out, struct sw_error **err)
{
    const struct plan_exec *e = &op->u.exec;
    if (!S->o->executor)
        return sw_error_set(err, SW_EUNSUPPORTED, 0, &op->span,
                            "RUN needs a container executor: this build has none");
    int r = solve_state_snapshots(S, out, err);
    char *dir = NULL;
    if (r == 0 && asprintf(&dir, "%s/op-%zu", S->o->work_dir, op->id) < 0)
        r = sw_error_oom(err);
    if (r == 0)
        r = sw_mkdir_p(dir, 0700, err);
    /* the user, from the parent's /etc/passwd and /etc/group */
    struct users_ids ids = {0};
    struct view *v = NULL;
    if (r == 0)
        r = view_open(&v, out->snapshots, out->nlayers, err);
    if (r == 0)
        r = users_resolve(&ids, v, out->config->user, err);
    view_free(v);
    struct snap_mount *m = NULL;
    struct snap_mount_opts mo = {.force_copy = S->o->copy_snapshotter};
    struct sw_strv lowers = {0};
    if (r == 0 && solve_unique_lowers(out, &lowers) < 0)
        r = sw_error_oom(err);
    if (r == 0)
        r = snap_mount(&m, lowers.v, lowers.n, S->snap_root, &mo, err);
    sw_strv_free(&lowers);
    struct ctr_spec spec;
    ctr_spec_init(&spec);
    struct sw_strv argv = {0};
    char *etc_paths[3] = {NULL, NULL, NULL};
    char *script_path = NULL;
    if (r == 0)
        r = prepare_spec(S, op, out, snap_merged_path(m), dir, &ids, &spec, &argv, etc_paths,
                         &script_path, err);
    struct run_mounts rm = {0};
    if (r == 0)
        r = solve_mounts_prepare(S, op, dir, &spec, &rm, err);
    struct out_ctx oc = {.progress = S->o->progress, .id = (unsigned)op->id + 1};
    struct ctr_io io = {
        .output = on_output, .ctx = &oc, .cancel_fd = S->o->cancel_fd > 0 ? S->o->cancel_fd : -1};
    struct ctr_result res = {0};
    if (r == 0)
        r = ctr_run(S->o->executor, &res, &spec, &io, err);
    if (r == 0 && (res.signaled || res.exit_code != 0)) {
        sw_autofree char *text = argv_text(&argv);
        if (res.signaled)
            r = sw_error_set(err, SW_EINVAL, 0, &op->span,
                             "process \"%s\" did not complete successfully: killed by signal %d",
                             text ? text : "", res.signal);
        else
            r = sw_error_set(err, SW_EINVAL, 0, &op->span,
                             "process \"%s\" did not complete successfully: exit code: %d",
                             text ? text : "", res.exit_code);
    }
    solve_mounts_release(&rm);
    if (m && snap_unmount(m, r == 0 ? err : NULL) < 0 && r == 0)
        r = -SW_EIO;
    /* the mount points the executor made are not the step's changes (BuildKit drops its mount
     * stubs too) */
    static const char *const drops[] = {
        "etc/hosts", "etc/resolv.conf", "etc/hostname", "dev/pipes", "dev", "proc", "sys"};
    for (size_t i = 0; r == 0 && i < sizeof drops / sizeof drops[0]; i++)
        if (!sw_strv_contains(&rm.drops, drops[i]) && sw_strv_push(&rm.drops, drops[i]) < 0)
            r = sw_error_oom(err);
    struct snap_diff_opts dopts = {.drop_if_empty = (const char *const *)rm.drops.v,
                                   .ndrop = rm.drops.n};
    struct diff_ctx dc = {.m = m, .opts = &dopts};
    struct img_descriptor desc = {0};
    struct sw_digest diff_id;
    if (r == 0)
        r = solve_write_layer(S, fill_diff, &dc, &desc, &diff_id, err);
    char *snap = NULL;
    if (r == 0 && asprintf(&snap, "%s/%s", S->snap_root, sw_digest_hex(&diff_id)) < 0)
        r = sw_error_oom(err);
    if (r == 0)
        r = snap_commit(m, snap, err);
    sw_autofree char *created_by = NULL;
    if (r == 0)
        r = run_history(e, &argv, &created_by, err);
    if (r == 0)
        r = solve_state_add_layer(S, out, &desc, &diff_id, created_by, err);
    if (r == 0) {
        out->snapshots[out->nlayers - 1] = snap; /* the upperdir, committed: no extraction */
        snap = NULL;
    }
    free(snap);
    img_descriptor_clear(&desc);
    sw_strv_free(&rm.drops);
    snap_free(m);
    ctr_spec_clear(&spec);
    sw_strv_free(&argv);
    for (int i = 0; i < 3; i++)
        free(etc_paths[i]);
    free(script_path);
    users_ids_clear(&ids);
    if (dir)
        sw_rmtree(dir, NULL);
    free(dir);
    return r;
}
