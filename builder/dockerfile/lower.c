/*
 * Lowering a resolved Dockerfile (stages.h) into a build plan. See lower.h.
 */
#include "lower.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"

struct lower {
    struct plan *p;
    const struct df_build *b;
    size_t *stage_last; /* per df stage: its last op */
    bool *done;
    size_t context_op;
    const char *context_dir;
    const struct sw_strv *ignore;
};

static char *
xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int
set_inputs(struct plan_op *op, size_t a, size_t b, size_t n)
{
    op->inputs = calloc(n ? n : 1, sizeof *op->inputs);
    if (!op->inputs)
        return -SW_ENOMEM;
    op->ninputs = n;
    if (n > 0)
        op->inputs[0] = a;
    if (n > 1)
        op->inputs[1] = b;
    return 0;
}

static int
context_op(struct lower *L, size_t *id, struct sw_error **err)
{
    if (L->context_op != SIZE_MAX) {
        *id = L->context_op;
        return 0;
    }
    struct plan_op op = {.kind = PLAN_CONTEXT, .stage = SIZE_MAX};
    op.description = strdup("load build context");
    op.u.context.dir = xstrdup(L->context_dir ? L->context_dir : "");
    if (!op.description || !op.u.context.dir ||
        (L->ignore && sw_strv_append_all(&op.u.context.ignore, L->ignore) < 0)) {
        plan_op_clear(&op);
        return sw_error_oom(err);
    }
    int r = plan_add_op(L->p, &op, id, err);
    if (r == 0)
        L->context_op = *id;
    return r;
}

/* oci-layout://PATH[:TAG|@DIGEST] */
static int
parse_layout_ref(struct plan_op *op, const char *ref)
{
    const char *s = ref + strlen("oci-layout://");
    const char *at = strrchr(s, '@');
    const char *slash = strrchr(s, '/');
    const char *colon = strrchr(s, ':');
    if (at) {
        op->u.layout.path = strndup(s, (size_t)(at - s));
        op->u.layout.digest = strdup(at + 1);
        return op->u.layout.path && op->u.layout.digest ? 0 : -SW_ENOMEM;
    }
    if (colon && (!slash || colon > slash)) {
        op->u.layout.path = strndup(s, (size_t)(colon - s));
        op->u.layout.tag = strdup(colon + 1);
        return op->u.layout.path && op->u.layout.tag ? 0 : -SW_ENOMEM;
    }
    op->u.layout.path = strdup(s);
    return op->u.layout.path ? 0 : -SW_ENOMEM;
}

/* A source op for an image reference (FROM, COPY --from=image). */
static int
image_op(struct lower *L, const char *ref, const struct img_platform *platform, size_t stage,
         const struct sw_span *span, size_t *id, struct sw_error **err)
{
    /* one op per image and platform, however many stages use it */
    for (size_t i = 0; strcmp(ref, "scratch") != 0 && i < L->p->nops; i++) {
        const struct plan_op *o = &L->p->ops[i];
        if (o->kind == PLAN_IMAGE && !strcmp(o->u.image.ref, ref) &&
            !memcmp(&o->u.image.platform, platform, sizeof *platform)) {
            *id = i;
            return 0;
        }
    }
    struct plan_op op = {.stage = stage, .span = *span};
    int r = 0;
    if (!strcmp(ref, "scratch")) {
        op.kind = PLAN_SCRATCH;
    } else if (!strncmp(ref, "oci-layout://", 13)) {
        op.kind = PLAN_OCI_LAYOUT;
        op.u.layout.platform = *platform;
        r = parse_layout_ref(&op, ref);
    } else {
        op.kind = PLAN_IMAGE;
        op.u.image.platform = *platform;
        op.u.image.ref = strdup(ref);
        r = op.u.image.ref ? 0 : -SW_ENOMEM;
    }
    if (r == 0 && asprintf(&op.description, "load metadata for %s", ref) < 0)
        r = -SW_ENOMEM;
    if (r < 0) {
        plan_op_clear(&op);
        return sw_error_oom(err);
    }
    return plan_add_op(L->p, &op, id, err);
}

static int
config_pairs(struct plan_config_change *c, const struct df_kvps *kv)
{
    c->pairs = calloc(kv->n ? kv->n : 1, sizeof *c->pairs);
    if (!c->pairs)
        return -SW_ENOMEM;
    for (size_t i = 0; i < kv->n; i++) {
        c->pairs[i].key = xstrdup(kv->v[i].key);
        c->pairs[i].value = xstrdup(kv->v[i].value ? kv->v[i].value : "");
        c->npairs++;
        if (!c->pairs[i].key || !c->pairs[i].value)
            return -SW_ENOMEM;
    }
    return 0;
}

static int
lower_config(struct plan_op *op, const struct df_instr *in)
{
    struct plan_config_change *c = &op->u.config;
    op->kind = PLAN_CONFIG;
    switch (in->kind) {
    case DF_ENV:
        c->kind = PLAN_CFG_ENV;
        return config_pairs(c, &in->u.kvps);
    case DF_LABEL:
        c->kind = PLAN_CFG_LABEL;
        return config_pairs(c, &in->u.kvps);
    case DF_USER:
        c->kind = PLAN_CFG_USER;
        return (c->str = xstrdup(in->u.user)) ? 0 : -SW_ENOMEM;
    case DF_CMD:
    case DF_ENTRYPOINT:
        c->kind = in->kind == DF_CMD ? PLAN_CFG_CMD : PLAN_CFG_ENTRYPOINT;
        c->shell = in->u.cmd.prepend_shell;
        c->is_nil = in->u.cmd.is_nil;
        return sw_strv_append_all(&c->list, &in->u.cmd.cmdline);
    case DF_SHELL:
        c->kind = PLAN_CFG_SHELL;
        return sw_strv_append_all(&c->list, &in->u.shell);
    case DF_EXPOSE:
        c->kind = PLAN_CFG_EXPOSE;
        return sw_strv_append_all(&c->list, &in->u.expose.exposed);
    case DF_VOLUME:
        c->kind = PLAN_CFG_VOLUME;
        return sw_strv_append_all(&c->list, &in->u.volumes);
    case DF_STOPSIGNAL:
        c->kind = PLAN_CFG_STOPSIGNAL;
        return (c->str = xstrdup(in->u.signal)) ? 0 : -SW_ENOMEM;
    case DF_HEALTHCHECK:
        c->kind = PLAN_CFG_HEALTHCHECK;
        c->interval = in->u.health.interval;
        c->timeout = in->u.health.timeout;
        c->start_period = in->u.health.start_period;
        c->start_interval = in->u.health.start_interval;
        c->retries = in->u.health.retries;
        return sw_strv_append_all(&c->list, &in->u.health.test);
    case DF_ONBUILD:
        c->kind = PLAN_CFG_ONBUILD;
        return (c->str = xstrdup(in->u.onbuild.expression)) ? 0 : -SW_ENOMEM;
    case DF_MAINTAINER:
        c->kind = PLAN_CFG_MAINTAINER;
        return (c->str = xstrdup(in->u.maintainer)) ? 0 : -SW_ENOMEM;
    default:
        return -SW_EINTERNAL;
    }
}

static int
lower_copy(struct lower *L, struct plan_op *op, const struct df_instr *in, size_t *src,
           bool *src_is_context, struct sw_error **err)
{
    const struct df_copy *c = &in->u.copy;
    struct plan_copy *pc = &op->u.copy;
    op->kind = PLAN_COPY;
    pc->add = in->kind == DF_ADD;
    if (c->from) {
        long s = df_build_find_stage(L->b, c->from);
        if (s >= 0) {
            *src = L->stage_last[s];
        } else {
            int r = image_op(L, c->from, &L->b->target_platform, op->stage, &in->span, src, err);
            if (r < 0)
                return r;
        }
        *src_is_context = false;
    } else {
        int r = context_op(L, src, err);
        if (r < 0)
            return r;
        *src_is_context = true;
    }
    pc->src_op = *src;
    pc->src_is_context = *src_is_context;
    if (sw_strv_append_all(&pc->srcs, &c->src_paths) < 0 ||
        sw_strv_append_all(&pc->excludes, &c->excludes) < 0)
        return sw_error_oom(err);
    pc->inlines = calloc(c->ncontents ? c->ncontents : 1, sizeof *pc->inlines);
    if (!pc->inlines)
        return sw_error_oom(err);
    for (size_t i = 0; i < c->ncontents; i++) {
        pc->inlines[i].name = xstrdup(c->contents[i].path);
        pc->inlines[i].data = xstrdup(c->contents[i].data);
        pc->ninlines++;
        if (!pc->inlines[i].name || !pc->inlines[i].data)
            return sw_error_oom(err);
    }
    pc->dest = xstrdup(c->dest);
    pc->chown = xstrdup(c->chown);
    pc->chmod = xstrdup(c->chmod);
    pc->checksum = xstrdup(c->checksum);
    pc->link = c->link;
    pc->parents = c->parents;
    pc->unpack = c->unpack != 0; /* -1 (not given) and 1 both mean unpack */
    if (!pc->dest || (c->chown && !pc->chown) || (c->chmod && !pc->chmod) ||
        (c->checksum && !pc->checksum))
        return sw_error_oom(err);
    return 0;
}

/* The extra inputs of a RUN: the ops its mounts read. */
struct op_ids {
    size_t *v;
    size_t n;
};

static int
op_ids_push(struct op_ids *ids, size_t id)
{
    size_t *v = realloc(ids->v, (ids->n + 1) * sizeof *v);
    if (!v)
        return -SW_ENOMEM;
    v[ids->n++] = id;
    ids->v = v;
    return 0;
}

/* The op a mount's from= names (a stage, else an image), or the context when from is NULL. */
static int
mount_input(struct lower *L, const struct df_mount *dm, const struct plan_op *op,
            const struct df_instr *in, size_t *id, struct sw_error **err)
{
    if (!dm->from)
        return context_op(L, id, err);
    long s = df_build_find_stage(L->b, dm->from);
    if (s >= 0) {
        *id = L->stage_last[s];
        return 0;
    }
    return image_op(L, dm->from, &L->b->target_platform, op->stage, &in->span, id, err);
}

static int
lower_mount(struct lower *L, struct plan_op *op, const struct df_instr *in,
            const struct df_mount *dm, struct plan_mount *pm, struct op_ids *extra,
            struct sw_error **err)
{
    static const enum plan_mount_type types[] = {
        [DF_MOUNT_BIND] = PLAN_MOUNT_BIND,   [DF_MOUNT_CACHE] = PLAN_MOUNT_CACHE,
        [DF_MOUNT_TMPFS] = PLAN_MOUNT_TMPFS, [DF_MOUNT_SECRET] = PLAN_MOUNT_SECRET,
        [DF_MOUNT_SSH] = PLAN_MOUNT_SSH,
    };
    pm->type = types[dm->type];
    pm->readonly = dm->readonly;
    pm->required = dm->required;
    pm->sharing = dm->sharing == DF_SHARING_PRIVATE  ? PLAN_SHARING_PRIVATE
                  : dm->sharing == DF_SHARING_LOCKED ? PLAN_SHARING_LOCKED
                                                     : PLAN_SHARING_SHARED;
    pm->size = dm->size;
    pm->mode = dm->mode;
    pm->uid = dm->uid;
    pm->gid = dm->gid;
    pm->target = xstrdup(dm->target);
    pm->id = xstrdup(dm->id);
    pm->env = xstrdup(dm->env);
    if ((dm->target && !pm->target) || (dm->id && !pm->id) || (dm->env && !pm->env))
        return sw_error_oom(err);
    /* a bind reads the context unless from= says otherwise; a cache only with from= */
    bool sourced = pm->type == PLAN_MOUNT_BIND || (pm->type == PLAN_MOUNT_CACHE && dm->from);
    if (!sourced)
        return 0;
    size_t id;
    int r = mount_input(L, dm, op, in, &id, err);
    if (r < 0)
        return r;
    if (op_ids_push(extra, id) < 0 || !(pm->source = strdup(dm->source ? dm->source : "/")))
        return sw_error_oom(err);
    pm->input = extra->n; /* input 0 is the parent */
    pm->from_context = !dm->from;
    return 0;
}

static int
lower_exec(struct lower *L, struct plan_op *op, const struct df_instr *in,
           const struct sw_strv *args, struct op_ids *extra, struct sw_error **err)
{
    struct plan_exec *e = &op->u.exec;
    op->kind = PLAN_EXEC;
    e->shell = in->u.run.prepend_shell;
    if (sw_strv_append_all(&e->cmdline, &in->u.run.cmdline) < 0 ||
        sw_strv_append_all(&e->args, args) < 0)
        return sw_error_oom(err);
    e->network = in->u.run.network == DF_NETWORK_NONE   ? PLAN_NET_NONE
                 : in->u.run.network == DF_NETWORK_HOST ? PLAN_NET_HOST
                                                        : PLAN_NET_DEFAULT;
    e->mounts = calloc(in->u.run.nmounts ? in->u.run.nmounts : 1, sizeof *e->mounts);
    if (!e->mounts)
        return sw_error_oom(err);
    for (size_t i = 0; i < in->u.run.nmounts; i++) {
        e->nmounts++;
        int r = lower_mount(L, op, in, &in->u.run.mounts[i], &e->mounts[i], extra, err);
        if (r < 0)
            return r;
    }
    e->files = calloc(in->u.run.nfiles ? in->u.run.nfiles : 1, sizeof *e->files);
    e->chomp = calloc(in->u.run.nfiles ? in->u.run.nfiles : 1, sizeof *e->chomp);
    if (!e->files || !e->chomp)
        return sw_error_oom(err);
    for (size_t i = 0; i < in->u.run.nfiles; i++) {
        e->files[i].name = xstrdup(in->u.run.files[i].name);
        e->files[i].data = xstrdup(in->u.run.files[i].data);
        e->chomp[i] = in->u.run.files[i].chomp;
        e->nfiles++;
        if (!e->files[i].name || !e->files[i].data)
            return sw_error_oom(err);
    }
    return 0;
}

/* The history text BuildKit writes: the instruction as written, "# buildkit" for layer steps. */
static char *
created_by(const struct df_instr *in)
{
    char *s = NULL;
    bool layer =
        in->kind == DF_RUN || in->kind == DF_COPY || in->kind == DF_ADD || in->kind == DF_WORKDIR;
    if (asprintf(&s, "%s%s", in->code ? in->code : "", layer ? " # buildkit" : "") < 0)
        return NULL;
    return s;
}

static int
lower_instr(struct lower *L, size_t si, size_t k, size_t nsteps, size_t *cur, struct sw_strv *args,
            struct sw_error **err)
{
    const struct df_stage *st = &L->b->stages[si];
    const struct df_instr *in = st->instrs[k];
    if (in->kind == DF_ARG) {
        for (size_t i = 0; i < in->u.arg.n; i++)
            if (in->u.arg.v[i].value &&
                df_env_list_add(args, in->u.arg.v[i].key, in->u.arg.v[i].value) < 0)
                return sw_error_oom(err);
        return 0;
    }
    struct plan_op op = {.stage = si, .span = in->span};
    struct op_ids extra = {0};
    size_t src = 0;
    bool src_is_context = false;
    int r = 0;
    switch (in->kind) {
    case DF_COPY:
    case DF_ADD:
        r = lower_copy(L, &op, in, &src, &src_is_context, err);
        break;
    case DF_WORKDIR:
        op.kind = PLAN_MKDIR;
        r = (op.u.mkdir.path = xstrdup(in->u.path)) ? 0 : sw_error_oom(err);
        break;
    case DF_RUN:
        r = lower_exec(L, &op, in, args, &extra, err);
        break;
    default:
        r = lower_config(&op, in) < 0 ? sw_error_oom(err) : 0;
        break;
    }
    /* BuildKit's numbering: FROM is step 1 of ninstrs + 1 */
    char label[160];
    if (st->name)
        snprintf(label, sizeof label, "%s %zu/%zu", st->name, k + 2, nsteps + 1);
    else
        snprintf(label, sizeof label, "stage-%zu %zu/%zu", si, k + 2, nsteps + 1);
    if (r == 0 && (asprintf(&op.description, "[%s] %s", label, in->code ? in->code : "") < 0 ||
                   !(op.created_by = created_by(in))))
        r = sw_error_oom(err);
    if (r == 0 && set_inputs(&op, *cur, src, op.kind == PLAN_COPY ? 2 : 1 + extra.n) < 0)
        r = sw_error_oom(err);
    for (size_t i = 0; r == 0 && i < extra.n; i++)
        op.inputs[1 + i] = extra.v[i];
    free(extra.v);
    if (r < 0) {
        plan_op_clear(&op);
        return r;
    }
    return plan_add_op(L->p, &op, cur, err);
}

static int
lower_stage(struct lower *L, size_t si, struct sw_error **err)
{
    if (L->done[si])
        return 0;
    L->done[si] = true;
    const struct df_stage *st = &L->b->stages[si];
    for (size_t d = 0; d < st->ndeps; d++) {
        int r = lower_stage(L, st->deps[d], err);
        if (r < 0)
            return r;
    }
    size_t cur;
    struct sw_strv args = {0};
    int r = 0;
    if (st->base.kind == DF_REF_STAGE) {
        cur = L->stage_last[st->base.stage];
        r = sw_strv_append_all(&args, &L->b->stages[st->base.stage].args) < 0 ? sw_error_oom(err)
                                                                              : 0;
    } else {
        r = image_op(L, st->base.kind == DF_REF_SCRATCH ? "scratch" : st->base.image, &st->platform,
                     si, &st->from->span, &cur, err);
    }
    size_t base = cur;
    for (size_t k = 0; r == 0 && k < st->ninstrs; k++)
        r = lower_instr(L, si, k, st->ninstrs, &cur, &args, err);
    sw_strv_free(&args);
    if (r < 0)
        return r;
    L->stage_last[si] = cur;
    struct plan_stage *ps = &L->p->stages[si];
    ps->base_op = base;
    ps->last_op = cur;
    ps->platform = st->platform;
    ps->needed = true;
    return 0;
}

int
df_lower(struct plan **out, const struct df_build *b, const char *context_dir,
         const struct sw_strv *ignore, struct sw_error **err)
{
    struct plan *p = calloc(1, sizeof *p);
    struct lower L = {
        .p = p, .b = b, .context_op = SIZE_MAX, .context_dir = context_dir, .ignore = ignore};
    if (!p)
        return sw_error_oom(err);
    p->file = strdup(b->ast->file);
    p->stages = calloc(b->nstages, sizeof *p->stages);
    L.stage_last = calloc(b->nstages, sizeof *L.stage_last);
    L.done = calloc(b->nstages, sizeof *L.done);
    int r = 0;
    if (!p->file || !p->stages || !L.stage_last || !L.done ||
        sw_strv_append_all(&p->proxy_args, &b->proxy_args) < 0)
        r = sw_error_oom(err);
    p->nstages = b->nstages;
    for (size_t s = 0; r == 0 && s < b->nstages; s++)
        if (b->stages[s].name && !(p->stages[s].name = strdup(b->stages[s].name)))
            r = sw_error_oom(err);
    if (r == 0)
        r = lower_stage(&L, b->target, err);
    p->target = b->target;
    free(L.stage_last);
    free(L.done);
    if (r < 0) {
        plan_free(p);
        return r;
    }
    *out = p;
    return 0;
}
