/*
 * The solver: schedules a plan's ops on worker threads and writes the target image.
 */
#include "solve_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../snapshot/overlay.h"
#include "../util/cleanup.h"
#include "../util/fs.h"

/* ---- states -----------------------------------------------------------------------------------
 */

void
solve_state_clear(struct op_state *st)
{
    img_config_free(st->config);
    for (size_t i = 0; i < st->nlayers; i++) {
        img_descriptor_clear(&st->layers[i]);
        if (st->snapshots)
            free(st->snapshots[i]);
    }
    free(st->layers);
    free(st->snapshots);
    view_free(st->context);
    df_pm_free(st->ignore);
    st->config = NULL;
    st->layers = NULL;
    st->snapshots = NULL;
    st->nlayers = 0;
    st->context = NULL;
    st->ignore = NULL;
}

int
solve_state_derive(struct op_state *out, const struct op_state *parent, struct sw_error **err)
{
    int r = img_config_clone(&out->config, parent->config, err);
    if (r < 0)
        return r;
    out->cmd_set = parent->cmd_set;
    memcpy(out->time, parent->time, sizeof out->time);
    out->layers = calloc(parent->nlayers + 1, sizeof *out->layers);
    out->snapshots = calloc(parent->nlayers + 1, sizeof *out->snapshots);
    if (!out->layers || !out->snapshots)
        return sw_error_oom(err);
    for (size_t i = 0; i < parent->nlayers; i++) {
        r = img_descriptor_copy(&out->layers[i], &parent->layers[i], err);
        if (r < 0)
            return r;
        out->nlayers++;
        /* snapshots are directories named by diff_id: sharing the path is safe */
        if (parent->snapshots && parent->snapshots[i] &&
            !(out->snapshots[i] = strdup(parent->snapshots[i])))
            return sw_error_oom(err);
    }
    return 0;
}

const char *
solve_state_time(struct solver *S, struct op_state *st, bool new_work)
{
    if (S->o->source_date_epoch >= 0 || new_work || !st->time[0])
        snprintf(st->time, sizeof st->time, "%s", S->created);
    return st->time;
}

int
solve_state_add_layer(struct solver *S, struct op_state *st, const struct img_descriptor *d,
                      const struct sw_digest *diff_id, const char *created_by,
                      struct sw_error **err)
{
    return solve_state_add_layer_at(S, st, d, diff_id, solve_state_time(S, st, true), created_by,
                                    err);
}

int
solve_state_add_layer_at(struct solver *S, struct op_state *st, const struct img_descriptor *d,
                         const struct sw_digest *diff_id, const char *created,
                         const char *created_by, struct sw_error **err)
{
    struct img_descriptor *v = realloc(st->layers, (st->nlayers + 1) * sizeof *v);
    if (!v)
        return sw_error_oom(err);
    st->layers = v;
    char **s = realloc(st->snapshots, (st->nlayers + 1) * sizeof *s);
    if (!s)
        return sw_error_oom(err);
    st->snapshots = s;
    s[st->nlayers] = NULL;
    int r = img_descriptor_copy(&v[st->nlayers], d, err);
    if (r < 0)
        return r;
    st->nlayers++;
    if (S->o->source_date_epoch >= 0 || !img_time_valid(created))
        created = S->created;
    if (created != st->time)
        snprintf(st->time, sizeof st->time, "%s", created);
    return img_config_add_layer(st->config, diff_id, created, created_by, IMG_HISTORY_COMMENT, err);
}

/* ---- one op ------------------------------------------------------------------------------------
 */

static int
scratch_state(const struct plan *p, const struct plan_op *op, struct op_state *out,
              struct sw_error **err)
{
    const struct img_platform *pl = &p->stages[op->stage].platform;
    int r = img_config_new(&out->config, pl, err);
    out->layers = calloc(1, sizeof *out->layers);
    out->snapshots = calloc(1, sizeof *out->snapshots);
    if (r == 0 && (!out->layers || !out->snapshots))
        r = sw_error_oom(err);
    /* BuildKit's empty image has the default PATH on Linux */
    if (r == 0 && strcmp(pl->os, "windows") != 0)
        r = img_config_env_set(out->config, "PATH",
                               "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", err);
    return r;
}

static int
context_state(const struct plan_op *op, struct op_state *out, struct sw_error **err)
{
    const char *dir = op->u.context.dir;
    struct stat st;
    if (!*dir)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "this build has no context (the Dockerfile came from standard "
                            "input): COPY and ADD need one");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return sw_error_set(err, SW_ENOTFOUND, errno, NULL, "build context %s is not a directory",
                            dir);
    char *dirs[] = {(char *)dir};
    int r = view_open(&out->context, dirs, 1, err);
    if (r == 0 && op->u.context.ignore.n)
        r = df_pm_new(&out->ignore, (const char *const *)op->u.context.ignore.v,
                      op->u.context.ignore.n, err);
    return r;
}

/* The state an op extends: its parent's. A stage built FROM another stage ran the base's
 * ONBUILD triggers (the frontend inserted them), so they are not inherited further. */
static int
derive(struct solver *S, const struct plan_op *op, struct op_state *out, struct sw_error **err)
{
    const struct plan_op *parent = &S->p->ops[op->inputs[0]];
    int r = solve_state_derive(out, &S->states[parent->id], err);
    if (r == 0 && parent->stage != op->stage) {
        sw_strv_free(&out->config->onbuild);
        out->cmd_set = false;
    }
    return r;
}

/* A layer op through the cache: its key, then the recorded layer or the work and a record. */
static int
run_layer_op(struct solver *S, const struct plan_op *op, struct op_state *out,
             int (*work)(struct solver *, const struct plan_op *, struct op_state *,
                         struct sw_error **),
             struct sw_error **err)
{
    struct solve_cache_step cs = {0};
    bool hit = false;
    int r = solve_cache_key(S, op, out, &cs, err);
    if (r == 0)
        r = solve_cache_lookup(S, op, out, &cs, &hit, err);
    if (r == 0 && !hit) {
        size_t nlayers = out->nlayers; /* a WORKDIR that exists adds no layer */
        r = work(S, op, out, err);
        /* a record that cannot be written costs the next build time, never this one */
        if (r == 0)
            (void)solve_cache_record(S, op, out, &cs, out->nlayers > nlayers, NULL);
    }
    solve_cache_step_clear(&cs);
    return r;
}

static int
run_op(struct solver *S, size_t id, struct sw_error **err)
{
    const struct plan_op *op = &S->p->ops[id];
    struct op_state *out = &S->states[id];
    struct solve_cache_step cs = {0};
    int r;
    switch (op->kind) {
    case PLAN_SCRATCH:
        r = scratch_state(S->p, op, out, err);
        break;
    case PLAN_IMAGE:
    case PLAN_OCI_LAYOUT:
        r = solve_load_image(S, op, out, err);
        break;
    case PLAN_CONTEXT:
        return context_state(op, out, err);
    case PLAN_COPY:
        r = derive(S, op, out, err);
        return r < 0 ? r : run_layer_op(S, op, out, solve_copy, err);
    case PLAN_MKDIR:
        r = derive(S, op, out, err);
        if (r == 0)
            r = solve_workdir_set(S, op, out, err);
        return r < 0 ? r : run_layer_op(S, op, out, solve_mkdir, err);
    case PLAN_EXEC:
        r = derive(S, op, out, err);
        return r < 0 ? r : run_layer_op(S, op, out, solve_exec, err);
    case PLAN_CONFIG:
        r = derive(S, op, out, err);
        if (r == 0)
            r = solve_config_change(S, op, out, err);
        break;
    default:
        return sw_error_set(err, SW_EINTERNAL, 0, NULL, "unknown plan op %d", (int)op->kind);
    }
    /* sources and config changes are keyed too: later steps chain on their keys */
    if (r == 0)
        r = solve_cache_key(S, op, out, &cs, err);
    solve_cache_step_clear(&cs);
    return r;
}

/* ---- the scheduler -----------------------------------------------------------------------------
 */

struct sched {
    struct solver *S;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool *needed, *done, *running;
    size_t remaining; /* needed ops not yet done */
    unsigned active;  /* ops being run */
    bool failed;
    struct sw_error *err;
};

static void
mark_needed(const struct plan *p, bool *needed, size_t id)
{
    if (needed[id])
        return;
    needed[id] = true;
    for (size_t i = 0; i < p->ops[id].ninputs; i++)
        mark_needed(p, needed, p->ops[id].inputs[i]);
}

/* The next op whose inputs are all done (lowest id first, so output order is stable). */
static bool
next_ready(struct sched *q, size_t *id)
{
    const struct plan *p = q->S->p;
    for (size_t i = 0; i < p->nops; i++) {
        if (!q->needed[i] || q->done[i] || q->running[i])
            continue;
        bool ready = true;
        for (size_t k = 0; k < p->ops[i].ninputs && ready; k++)
            ready = q->done[p->ops[i].inputs[k]];
        if (ready) {
            *id = i;
            return true;
        }
    }
    return false;
}

/* Has the caller canceled the build (solve_opts.cancel_fd readable)? */
static bool
canceled(const struct solve_opts *o)
{
    if (o->cancel_fd <= 0)
        return false;
    struct pollfd pf = {.fd = o->cancel_fd, .events = POLLIN};
    return poll(&pf, 1, 0) > 0 && (pf.revents & POLLIN);
}

static bool
shows_progress(const struct plan_op *op)
{
    return op->kind != PLAN_SCRATCH;
}

static void *
worker(void *arg)
{
    struct sched *q = arg;
    struct solver *S = q->S;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        size_t id;
        while (!q->failed && q->remaining && !next_ready(q, &id))
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->failed || !q->remaining)
            break;
        if (canceled(S->o)) { /* no new op starts; running ones see the cancel themselves */
            q->failed = true;
            sw_error_set(&q->err, SW_EINTERNAL, ECANCELED, NULL, "build canceled");
            break;
        }
        q->running[id] = true;
        q->active++;
        pthread_mutex_unlock(&q->lock);

        const struct plan_op *op = &S->p->ops[id];
        struct progress *pg = S->o->progress;
        if (pg && shows_progress(op))
            progress_step_start(pg, (unsigned)id + 1, op->description,
                                op->span.file ? &op->span : NULL);
        struct sw_error *e = NULL;
        int r = run_op(S, id, &e);
        if (r < 0 && e && !e->span.file && op->span.file)
            sw_error_set_span(e, &op->span);
        if (pg && shows_progress(op))
            progress_step_end(pg, (unsigned)id + 1,
                              r < 0                  ? PROGRESS_ERROR
                              : S->states[id].cached ? PROGRESS_CACHED
                                                     : PROGRESS_DONE,
                              r < 0 && e ? e->msg : NULL);

        pthread_mutex_lock(&q->lock);
        q->active--;
        q->running[id] = false;
        if (r < 0) {
            if (!q->failed) {
                q->failed = true;
                q->err = e;
                if (!q->err)
                    sw_error_set(&q->err, -r, 0, &op->span, "step failed");
            } else {
                sw_error_free(e);
            }
        } else {
            q->done[id] = true;
            q->remaining--;
        }
        pthread_cond_broadcast(&q->cond);
    }
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static int
schedule(struct solver *S, size_t target_op, struct sw_error **err)
{
    const struct plan *p = S->p;
    struct sched q = {.S = S};
    q.needed = calloc(p->nops, sizeof *q.needed);
    q.done = calloc(p->nops, sizeof *q.done);
    q.running = calloc(p->nops, sizeof *q.running);
    if (!q.needed || !q.done || !q.running) {
        free(q.needed);
        free(q.done);
        free(q.running);
        return sw_error_oom(err);
    }
    mark_needed(p, q.needed, target_op);
    for (size_t i = 0; i < p->nops; i++)
        q.remaining += q.needed[i];
    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.cond, NULL);
    unsigned n = S->o->jobs ? S->o->jobs : 1;
    pthread_t *threads = calloc(n, sizeof *threads);
    unsigned started = 0;
    for (unsigned i = 0; threads && i < n; i++)
        if (pthread_create(&threads[i], NULL, worker, &q) == 0)
            started++;
    if (started == 0)
        worker(&q); /* no threads could start: run inline */
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    pthread_mutex_destroy(&q.lock);
    pthread_cond_destroy(&q.cond);
    int r = 0;
    if (q.failed) {
        r = -(q.err ? q.err->code : SW_EINTERNAL);
        if (err && !*err)
            *err = q.err;
        else
            sw_error_free(q.err);
    }
    free(q.needed);
    free(q.done);
    free(q.running);
    return r;
}

/* ---- the image ------------------------------------------------------------------------------- */

static int
put_json(struct store *st, const char *json, size_t len, const char *media_type,
         struct img_descriptor *out, struct sw_error **err)
{
    struct sw_digest d;
    int r = store_blob_put(st, json, len, &d, err);
    if (r == 0)
        r = img_descriptor_init(out, media_type, &d, (int64_t)len, err);
    return r;
}

static int
write_image(struct solver *S, struct op_state *st, const struct img_platform *platform,
            struct solve_result *out, struct sw_error **err)
{
    /* the time of the latest step: a fully cached rebuild gives the same config */
    int r = 0;
    if (S->o->source_date_epoch < 0 && st->time[0] && img_time_valid(st->time)) {
        free(st->config->created);
        st->config->created = strdup(st->time);
        if (!st->config->created)
            r = sw_error_oom(err);
    } else {
        r = img_config_set_created(st->config, S->created_sec, 0, err);
    }
    for (size_t i = 0; r == 0 && i < S->o->nlabels; i++) {
        const char *kv = S->o->labels[i], *eq = strchr(kv, '=');
        sw_autofree char *key = eq ? strndup(kv, (size_t)(eq - kv)) : strdup(kv);
        r = key ? img_config_label_set(st->config, key, eq ? eq + 1 : "", err) : sw_error_oom(err);
    }
    sw_autofree char *cjson = NULL, *mjson = NULL;
    size_t clen = 0, mlen = 0;
    if (r == 0)
        r = img_config_to_json(&cjson, &clen, st->config, err);
    if (r == 0)
        r = put_json(S->o->store, cjson, clen, IMG_MT_OCI_CONFIG, &out->config_desc, err);
    struct img_manifest m = {0};
    if (r == 0)
        r = img_manifest_init(&m, &out->config_desc, err);
    for (size_t i = 0; r == 0 && i < st->nlayers; i++)
        r = img_manifest_add_layer(&m, &st->layers[i], err);
    if (r == 0)
        r = img_manifest_to_json(&mjson, &mlen, &m, err);
    img_manifest_clear(&m);
    if (r == 0)
        r = put_json(S->o->store, mjson, mlen, IMG_MT_OCI_MANIFEST, &out->manifest_desc, err);
    if (r == 0) {
        out->manifest_desc.platform = calloc(1, sizeof *out->manifest_desc.platform);
        r = out->manifest_desc.platform
                ? img_desc_platform_from(out->manifest_desc.platform, platform, err)
                : sw_error_oom(err);
        if (r == 0 && st->config->os_version &&
            !(out->manifest_desc.platform->os_version = strdup(st->config->os_version)))
            r = sw_error_oom(err);
    }
    if (r == 0) {
        out->config = st->config;
        st->config = NULL;
        out->platform = *platform;
    }
    return r;
}

int
solve_build(struct solve_result *out, const struct plan *p, const struct solve_opts *o,
            struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    struct solver S = {.p = p, .o = o};
    S.created_sec = o->source_date_epoch >= 0 ? o->source_date_epoch : (int64_t)time(NULL);
    int r = img_time_format(S.created, sizeof S.created, S.created_sec, 0, err);
    if (r < 0)
        return r;
    /* one directory per snapshot format (root, rootless, no root): they never mix */
    if (asprintf(&S.snap_root, "%s/snapshots/%s", store_root(o->store),
                 snap_format_name(snap_format_current())) < 0)
        return sw_error_oom(err);
    if (sw_mkdir_p(S.snap_root, 0700, NULL) < 0) {
        r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", S.snap_root, strerror(errno));
        free(S.snap_root);
        return r;
    }
    S.states = calloc(p->nops + 1, sizeof *S.states);
    if (!S.states) {
        free(S.snap_root);
        return sw_error_oom(err);
    }
    for (size_t i = 0; i < p->nops; i++)
        pthread_mutex_init(&S.states[i].lock, NULL);
    pthread_mutex_init(&S.cache_lock, NULL);
    const struct plan_stage *target = &p->stages[p->target];
    r = schedule(&S, target->last_op, err);
    if (r == 0)
        r = write_image(&S, &S.states[target->last_op], &target->platform, out, err);
    for (size_t i = 0; i < p->nops; i++) {
        solve_state_clear(&S.states[i]);
        pthread_mutex_destroy(&S.states[i].lock);
    }
    free(S.states);
    solve_cache_finish(&S);
    pthread_mutex_destroy(&S.cache_lock);
    free(S.snap_root);
    if (r < 0)
        solve_result_clear(out);
    return r;
}

void
solve_result_clear(struct solve_result *r)
{
    img_config_free(r->config);
    img_descriptor_clear(&r->config_desc);
    img_descriptor_clear(&r->manifest_desc);
    memset(r, 0, sizeof *r);
}
