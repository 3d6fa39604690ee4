/*
 * The stage resolver: global ARGs, stages, references, --target, scoped expansion.
 * See stages.h and docs/dockerfile-frontend.md.
 */
#include "stages.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"

/* ---- small helpers ------------------------------------------------------------------------- */

static char *
lower_dup(const char *s)
{
    char *o = strdup(s);
    for (char *p = o; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return o;
}

static int warn(struct df_build *b, const char *rule, const struct sw_span *at, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

static int
warn(struct df_build *b, const char *rule, const struct sw_span *at, const char *fmt, ...)
{
    struct df_build_warning *w = realloc(b->warnings, (b->nwarnings + 1) * sizeof *w);
    if (!w)
        return -SW_ENOMEM;
    b->warnings = w;
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    char *r = strdup(rule);
    if (n < 0 || !r) {
        free(r);
        return -SW_ENOMEM;
    }
    w[b->nwarnings++] =
        (struct df_build_warning){.rule = r, .msg = msg, .span = at ? *at : (struct sw_span){0}};
    if (at && at->file) /* every span of a build is in its Dockerfile, which outlives it */
        w[b->nwarnings - 1].span.file = b->ast->file;
    return 0;
}

static bool
is_proxy_arg(const char *key)
{
    static const char *const names[] = {"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY",
                                        "NO_PROXY",   "ALL_PROXY",   NULL};
    static const char *const lower_names[] = {"http_proxy", "https_proxy", "ftp_proxy",
                                              "no_proxy",   "all_proxy",   NULL};
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(key, names[i]) || !strcmp(key, lower_names[i]))
            return true;
    return false;
}

static bool
is_proxy_or_builtin_arg(const char *key)
{
    return is_proxy_arg(key) || !strncmp(key, "BUILDKIT_", 9) || !strcmp(key, "SOURCE_DATE_EPOCH");
}

/* ---- build args ------------------------------------------------------------------------------ */

struct build_args {
    struct sw_strv kv; /* "k=v", later wins */
    bool *used;
};

static const char *
build_arg(const struct build_args *ba, const char *key, bool mark)
{
    size_t kl = strlen(key);
    for (size_t i = ba->kv.n; i-- > 0;) {
        if (!strncmp(ba->kv.v[i], key, kl) && ba->kv.v[i][kl] == '=') {
            if (mark)
                for (size_t j = 0; j < ba->kv.n; j++)
                    if (!strncmp(ba->kv.v[j], key, kl) && ba->kv.v[j][kl] == '=')
                        ba->used[j] = true;
            return ba->kv.v[i] + kl + 1;
        }
    }
    return NULL;
}

/* ---- phase 1: instructions into global ARGs and stages ------------------------------------- */

static int
push_instr(struct df_stage *st, struct df_instr *in, bool from_onbuild)
{
    struct df_instr **v = realloc(st->instrs, (st->ninstrs + 1) * sizeof *v);
    if (!v)
        return -SW_ENOMEM;
    st->instrs = v;
    bool *f = realloc(st->from_onbuild, (st->ninstrs + 1) * sizeof *f);
    if (!f)
        return -SW_ENOMEM;
    st->from_onbuild = f;
    v[st->ninstrs] = in;
    f[st->ninstrs] = from_onbuild;
    st->ninstrs++;
    return 0;
}

static int
new_stage(struct df_build *b, struct df_instr *from)
{
    struct df_stage *v = realloc(b->stages, (b->nstages + 1) * sizeof *v);
    if (!v)
        return -SW_ENOMEM;
    b->stages = v;
    struct df_stage *st = &v[b->nstages];
    memset(st, 0, sizeof *st);
    st->index = b->nstages++;
    st->from = from;
    if (from->u.from.name && !(st->name = strdup(from->u.from.name)))
        return -SW_ENOMEM;
    st->doc = strdup(from->u.from.doc ? from->u.from.doc : "");
    return st->doc ? 0 : -SW_ENOMEM;
}

static int
split_stages(struct df_build *b, struct df_instr ***meta, size_t *nmeta, struct sw_error **err)
{
    for (size_t i = 0; i < b->ast->nnodes; i++) {
        struct df_instr *in = NULL;
        int r = df_instr_from_node(&in, &b->ast->nodes[i], err);
        if (r < 0)
            return r;
        if (in->kind == DF_FROM) {
            if (new_stage(b, in) < 0) {
                df_instr_free(in);
                return sw_error_oom(err);
            }
            continue;
        }
        if (b->nstages == 0) {
            if (in->kind != DF_ARG) {
                r = sw_error_set(err, SW_EINVAL, 0, &in->span, "no build stage in current context");
                df_instr_free(in);
                return r;
            }
            struct df_instr **v = realloc(*meta, (*nmeta + 1) * sizeof *v);
            if (!v) {
                df_instr_free(in);
                return sw_error_oom(err);
            }
            *meta = v;
            v[(*nmeta)++] = in;
            continue;
        }
        if (push_instr(&b->stages[b->nstages - 1], in, false) < 0) {
            df_instr_free(in);
            return sw_error_oom(err);
        }
    }
    if (b->nstages == 0) {
        struct sw_span at = {.file = b->ast->file, .line = b->ast->end_line};
        return sw_error_set(err, SW_EINVAL, 0, &at, "the Dockerfile has no FROM instruction");
    }
    return 0;
}

/* ---- phase 2: global ARGs -------------------------------------------------------------------- */

static int
add_meta(struct df_build *b, const char *key, const char *value, const char *doc,
         const struct sw_span *at)
{
    struct df_meta_arg *v = realloc(b->meta, (b->nmeta + 1) * sizeof *v);
    if (!v)
        return -SW_ENOMEM;
    b->meta = v;
    struct df_meta_arg *m = &v[b->nmeta];
    memset(m, 0, sizeof *m);
    m->key = strdup(key);
    m->value = value ? strdup(value) : NULL;
    m->doc = strdup(doc ? doc : "");
    if (at) {
        m->span = *at;
        m->span.file = b->ast->file; /* the ARG instruction does not outlive resolution */
    }
    b->nmeta++;
    return m->key && m->doc && (!value || m->value) ? 0 : -SW_ENOMEM;
}

/* The environment FROM lines see: the platform ARGs, then the global ARGs with a value. */
static int
meta_env(const struct df_build *b, struct df_env *env)
{
    for (size_t i = 0; i < b->nmeta; i++)
        if (b->meta[i].value && df_env_set(env, b->meta[i].key, b->meta[i].value) < 0)
            return -SW_ENOMEM;
    return 0;
}

static const char *
meta_value(const struct df_build *b, const char *key, bool *found)
{
    for (size_t i = b->nmeta; i-- > 0;)
        if (!strcmp(b->meta[i].key, key)) {
            *found = true;
            return b->meta[i].value;
        }
    *found = false;
    return NULL;
}

static int
platform_args(struct df_build *b)
{
    char buf[128];
    const struct {
        const char *prefix;
        const struct img_platform *p;
    } sets[] = {{"BUILD", &b->build_platform}, {"TARGET", &b->target_platform}};
    for (size_t i = 0; i < 2; i++) {
        char key[32];
        const struct img_platform *p = sets[i].p;
        snprintf(key, sizeof key, "%sPLATFORM", sets[i].prefix);
        if (add_meta(b, key, img_platform_format(buf, sizeof buf, p), NULL, NULL) < 0)
            return -SW_ENOMEM;
        snprintf(key, sizeof key, "%sOS", sets[i].prefix);
        if (add_meta(b, key, p->os, NULL, NULL) < 0)
            return -SW_ENOMEM;
        snprintf(key, sizeof key, "%sARCH", sets[i].prefix);
        if (add_meta(b, key, p->arch, NULL, NULL) < 0)
            return -SW_ENOMEM;
        snprintf(key, sizeof key, "%sVARIANT", sets[i].prefix);
        if (add_meta(b, key, p->variant, NULL, NULL) < 0)
            return -SW_ENOMEM;
    }
    return 0;
}

/*
 * The value an ARG takes (BuildKit's dispatchArg and its global twin): the --build-arg value,
 * else the default expanded in `scope`, else `fallback` (the global ARG's value for a stage ARG).
 * *out is NULL when the ARG stays without a value.
 */
static int
arg_value(char **out, const struct df_arg_pair *a, const struct build_args *ba,
          const struct df_env *scope, const char *fallback, const struct df_expand_opts *xo,
          const struct sw_span *at, struct sw_error **err)
{
    *out = NULL;
    const char *given = build_arg(ba, a->key, true);
    if (given || (!a->value && fallback)) {
        *out = strdup(given ? given : fallback);
        return *out ? 0 : sw_error_oom(err);
    }
    if (!a->value)
        return 0;
    int r = df_expand_word(out, a->value, scope, xo, NULL, NULL, err);
    if (r < 0 && err && *err)
        sw_error_set_span(*err, at);
    return r;
}

static int
eval_meta_args(struct df_build *b, struct df_instr **meta, size_t nmeta,
               const struct build_args *ba, const struct df_expand_opts *xo, struct sw_error **err)
{
    for (size_t i = 0; i < nmeta; i++) {
        struct df_instr *in = meta[i];
        for (size_t k = 0; k < in->u.arg.n; k++) {
            struct df_env scope = {0};
            sw_autofree char *value = NULL;
            int r = meta_env(b, &scope) < 0 ? sw_error_oom(err) : 0;
            if (r == 0)
                r = arg_value(&value, &in->u.arg.v[k], ba, &scope, NULL, xo, &in->span, err);
            df_env_free(&scope);
            if (r < 0)
                return r;
            if (add_meta(b, in->u.arg.v[k].key, value, in->u.arg.v[k].doc, &in->span) < 0)
                return sw_error_oom(err);
        }
    }
    return 0;
}

/* ---- phase 3: FROM lines and references -------------------------------------------------------
 */

long
df_build_find_stage(const struct df_build *b, const char *name_or_index)
{
    sw_autofree char *lower = lower_dup(name_or_index);
    if (!lower)
        return -1;
    for (size_t i = 0; i < b->nstages; i++)
        if (b->stages[i].name && !strcmp(b->stages[i].name, lower))
            return (long)i;
    const char *p = name_or_index;
    if (!*p)
        return -1;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    char *end;
    unsigned long idx = strtoul(name_or_index, &end, 10);
    return idx < b->nstages ? (long)idx : -1;
}

/* FROM names a stage only by exact (lower-case) name and only an earlier one; else an image. */
static long
find_base_stage(const struct df_build *b, size_t self, const char *base)
{
    for (size_t i = 0; i < self; i++)
        if (b->stages[i].name && !strcmp(b->stages[i].name, base))
            return (long)i;
    return -1;
}

static int
warn_undefined_from_args(struct df_build *b, const struct df_stage *st, const char *raw,
                         const struct df_expand_opts *xo)
{
    struct df_env env = {0};
    struct sw_strv unmatched = {0};
    char *out = NULL;
    struct sw_error *e = NULL;
    int r = meta_env(b, &env);
    if (r == 0 && df_expand_word(&out, raw, &env, xo, NULL, &unmatched, &e) == 0) {
        for (size_t i = 0; i < unmatched.n && r == 0; i++) {
            bool declared;
            meta_value(b, unmatched.v[i], &declared);
            if (!declared)
                r = warn(b, "UndefinedArgInFrom", &st->from->span,
                         "FROM argument '%s' is not declared", unmatched.v[i]);
        }
    }
    free(out);
    sw_error_free(e);
    sw_strv_free(&unmatched);
    df_env_free(&env);
    return r;
}

static int
resolve_from(struct df_build *b, struct df_stage *st, const struct df_expand_opts *xo,
             struct sw_error **err)
{
    sw_autofree char *raw_base = strdup(st->from->u.from.base ? st->from->u.from.base : "");
    if (!raw_base)
        return sw_error_oom(err);
    if (warn_undefined_from_args(b, st, raw_base, xo) < 0)
        return sw_error_oom(err);
    struct df_env env = {0};
    int r = meta_env(b, &env);
    if (r == 0)
        r = df_instr_expand(st->from, &env, xo, err);
    df_env_free(&env);
    if (r < 0)
        return r;
    const char *base = st->from->u.from.base;
    if (!base || !*base)
        return sw_error_set(err, SW_EINVAL, 0, &st->from->span,
                            "base name (%s) should not be blank", raw_base);
    long s = find_base_stage(b, st->index, base);
    if (s >= 0) {
        st->base = (struct df_stage_ref){.kind = DF_REF_STAGE, .stage = (size_t)s};
    } else if (!strcmp(base, "scratch")) {
        st->base = (struct df_stage_ref){.kind = DF_REF_SCRATCH};
    } else {
        st->base = (struct df_stage_ref){.kind = DF_REF_IMAGE, .image = strdup(base)};
        if (!st->base.image)
            return sw_error_oom(err);
    }
    st->platform = b->target_platform;
    if (st->from->u.from.platform && *st->from->u.from.platform) {
        struct sw_error *e = NULL;
        if (img_platform_parse(&st->platform, st->from->u.from.platform, &e) < 0) {
            sw_error_set_span(e, &st->from->span);
            if (err && !*err)
                *err = e;
            else
                sw_error_free(e);
            return -SW_EINVAL;
        }
        st->platform_set = true;
    }
    return 0;
}

/* A dependency edge, with the instruction that makes it (for error locations). */
struct edge {
    size_t to;
    const struct df_instr *via;
};

struct graph {
    struct edge **out; /* per stage */
    size_t *nout;
};

static int
add_edge(struct graph *g, size_t from, size_t to, const struct df_instr *via)
{
    struct edge *v = realloc(g->out[from], (g->nout[from] + 1) * sizeof *v);
    if (!v)
        return -SW_ENOMEM;
    g->out[from] = v;
    v[g->nout[from]++] = (struct edge){to, via};
    return 0;
}

static int
stage_edges(struct df_build *b, struct graph *g, size_t si, struct sw_error **err)
{
    struct df_stage *st = &b->stages[si];
    if (st->base.kind == DF_REF_STAGE && add_edge(g, si, st->base.stage, st->from) < 0)
        return sw_error_oom(err);
    for (size_t k = 0; k < st->ninstrs; k++) {
        const struct df_instr *in = st->instrs[k];
        if ((in->kind == DF_COPY || in->kind == DF_ADD) && in->u.copy.from) {
            long s = df_build_find_stage(b, in->u.copy.from);
            if (s >= 0 && add_edge(g, si, (size_t)s, in) < 0)
                return sw_error_oom(err);
        } else if (in->kind == DF_RUN) {
            for (size_t m = 0; m < in->u.run.mount_specs.n; m++) {
                struct df_mount mt = {0};
                struct sw_error *e = NULL;
                if (df_mount_parse(&mt, in->u.run.mount_specs.v[m], NULL, NULL, &e) == 0 &&
                    mt.from) {
                    long s = df_build_find_stage(b, mt.from);
                    if (s >= 0 && add_edge(g, si, (size_t)s, in) < 0) {
                        df_mount_clear(&mt);
                        return sw_error_oom(err);
                    }
                }
                df_mount_clear(&mt);
                sw_error_free(e);
            }
        }
    }
    return 0;
}

/* BuildKit's validateCircularDependency: the first stage (in order) from which a cycle is
 * reachable is named; the location is the first instruction on the path. */
static const struct df_instr *
visit(const struct graph *g, size_t s, bool *visited, bool *on_path, const struct df_instr *first)
{
    if (visited[s])
        return NULL;
    visited[s] = on_path[s] = true;
    for (size_t i = 0; i < g->nout[s]; i++) {
        const struct edge *e = &g->out[s][i];
        const struct df_instr *f = first ? first : e->via;
        if (on_path[e->to])
            return f;
        const struct df_instr *c = visit(g, e->to, visited, on_path, f);
        if (c)
            return c;
    }
    on_path[s] = false;
    return NULL;
}

static void
stage_display_name(const struct df_stage *st, char *buf, size_t n)
{
    if (st->name)
        snprintf(buf, n, "%s", st->name);
    else
        snprintf(buf, n, "stage-%zu", st->index);
}

static int
check_cycles(struct df_build *b, const struct graph *g, struct sw_error **err)
{
    bool *visited = calloc(b->nstages, sizeof *visited);
    bool *on_path = calloc(b->nstages, sizeof *on_path);
    int r = 0;
    if (!visited || !on_path)
        r = sw_error_oom(err);
    for (size_t s = 0; r == 0 && s < b->nstages; s++) {
        const struct df_instr *c = visit(g, s, visited, on_path, NULL);
        if (c) {
            char name[128];
            stage_display_name(&b->stages[s], name, sizeof name);
            r = sw_error_set(err, SW_EINVAL, 0, &c->span,
                             "circular dependency detected on stage: %s", name);
        }
    }
    free(visited);
    free(on_path);
    return r;
}

static void
mark_needed(struct df_build *b, const struct graph *g, size_t s)
{
    if (b->stages[s].needed)
        return;
    b->stages[s].needed = true;
    for (size_t i = 0; i < g->nout[s]; i++)
        mark_needed(b, g, g->out[s][i].to);
}

static int
record_deps(struct df_build *b, const struct graph *g)
{
    for (size_t s = 0; s < b->nstages; s++) {
        struct df_stage *st = &b->stages[s];
        bool *seen = calloc(b->nstages, sizeof *seen);
        if (!seen)
            return -SW_ENOMEM;
        for (size_t i = 0; i < g->nout[s]; i++)
            seen[g->out[s][i].to] = true;
        for (size_t t = 0; t < b->nstages; t++) {
            if (!seen[t])
                continue;
            size_t *v = realloc(st->deps, (st->ndeps + 1) * sizeof *v);
            if (!v) {
                free(seen);
                return -SW_ENOMEM;
            }
            st->deps = v;
            v[st->ndeps++] = t;
        }
        free(seen);
    }
    return 0;
}

/* ---- phase 4: expanding a stage ---------------------------------------------------------------
 */

/* The expansion scope inside a stage: ARGs first, ENV after (ENV wins over an ARG). */
static int
stage_env(const struct df_stage *st, struct df_env *env)
{
    for (size_t i = 0; i < st->args.n; i++)
        if (sw_strv_push(&env->kv, st->args.v[i]) < 0)
            return -SW_ENOMEM;
    for (size_t i = 0; i < st->env.n; i++)
        if (sw_strv_push(&env->kv, st->env.v[i]) < 0)
            return -SW_ENOMEM;
    return 0;
}

static int
set_kv(struct sw_strv *list, const char *key, const char *value)
{
    return df_env_list_add(list, key, value);
}

/* ARG in a stage: the value joins the stage scope (never the image config). */
static int
apply_arg(struct df_build *b, struct df_stage *st, struct df_instr *in, const struct build_args *ba,
          const struct df_expand_opts *xo, struct sw_error **err)
{
    for (size_t k = 0; k < in->u.arg.n; k++) {
        struct df_arg_pair *a = &in->u.arg.v[k];
        bool found;
        const char *global = meta_value(b, a->key, &found);
        struct df_env scope = {0};
        sw_autofree char *value = NULL;
        int r = stage_env(st, &scope) < 0 ? sw_error_oom(err) : 0;
        if (r == 0)
            r = arg_value(&value, a, ba, &scope, global, xo, &in->span, err);
        df_env_free(&scope);
        if (r < 0)
            return r;
        if (!value)
            continue; /* declared without a value: not in the scope */
        if (set_kv(&st->args, a->key, value) < 0)
            return sw_error_oom(err);
        /* the instruction shows the value in effect */
        free(a->value);
        a->value = strdup(value);
        if (!a->value)
            return sw_error_oom(err);
    }
    return 0;
}

static int
expand_instr(struct df_build *b, struct df_stage *st, struct df_instr *in,
             const struct build_args *ba, const struct df_expand_opts *xo, struct sw_error **err)
{
    if (in->kind == DF_ARG) {
        in->expanded = true;
        return apply_arg(b, st, in, ba, xo, err);
    }
    struct df_env env = {0};
    int r = stage_env(st, &env);
    if (r < 0) {
        df_env_free(&env);
        return sw_error_oom(err);
    }
    r = df_instr_expand(in, &env, xo, err);
    df_env_free(&env);
    if (r < 0)
        return r;
    switch (in->kind) {
    case DF_ENV:
        for (size_t i = 0; i < in->u.kvps.n; i++)
            if (set_kv(&st->env, in->u.kvps.v[i].key, in->u.kvps.v[i].value) < 0)
                return sw_error_oom(err);
        break;
    case DF_LABEL:
        for (size_t i = 0; i < in->u.kvps.n; i++)
            if (set_kv(&st->labels, in->u.kvps.v[i].key, in->u.kvps.v[i].value) < 0)
                return sw_error_oom(err);
        break;
    case DF_ONBUILD:
        if (sw_strv_push(&st->onbuild, in->u.onbuild.expression) < 0)
            return sw_error_oom(err);
        break;
    default:
        break;
    }
    if ((in->kind == DF_ENV || in->kind == DF_LABEL) && in->u.kvps.legacy &&
        warn(b, "LegacyKeyValueFormat", &in->span,
             "\"%s key=value\" should be used instead of legacy \"%s key value\" format",
             df_kind_name(in->kind), df_kind_name(in->kind)) < 0)
        return sw_error_oom(err);
    if (in->kind == DF_MAINTAINER &&
        warn(b, "MaintainerDeprecated", &in->span,
             "Maintainer instruction is deprecated in favor of using label") < 0)
        return sw_error_oom(err);
    return 0;
}

/* Triggers (ONBUILD expressions) run first in a stage: a stage base's, each with the span of its
 * ONBUILD line, or a base image's, with the span of the FROM line. */
static int
insert_triggers(struct df_stage *st, char *const *exprs, const struct sw_span *const *spans,
                size_t n, struct sw_error **err)
{
    struct df_instr **own = st->instrs;
    bool *own_flags = st->from_onbuild;
    size_t nown = st->ninstrs;
    st->instrs = NULL;
    st->from_onbuild = NULL;
    st->ninstrs = 0;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct df_ast *ast = NULL;
        r = df_parse(&ast, exprs[i], strlen(exprs[i]), spans[i]->file, err);
        for (size_t k = 0; r == 0 && k < ast->nnodes; k++) {
            struct df_node *node = &ast->nodes[k];
            node->span.line = spans[i]->line;
            node->span.col = spans[i]->col;
            node->span.end_line = spans[i]->end_line;
            struct df_instr *in = NULL;
            r = df_instr_from_node(&in, node, err);
            if (r == 0 && in->kind == DF_ONBUILD) {
                df_instr_free(in);
                r = sw_error_set(err, SW_EINVAL, 0, spans[i],
                                 "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
            } else if (r == 0 && push_instr(st, in, true) < 0) {
                df_instr_free(in);
                r = sw_error_oom(err);
            }
        }
        if (r < 0 && err && *err)
            sw_error_set_span(*err, spans[i]);
        df_ast_free(ast);
    }
    for (size_t i = 0; i < nown; i++) {
        if (r == 0 && push_instr(st, own[i], own_flags[i]) < 0)
            r = sw_error_oom(err);
        if (r < 0)
            df_instr_free(own[i]);
    }
    free(own);
    free(own_flags);
    return r;
}

static int
stage_base_triggers(struct df_stage *st, const struct df_stage *parent, struct sw_error **err)
{
    size_t n = 0;
    for (size_t i = 0; i < parent->ninstrs; i++)
        n += parent->instrs[i]->kind == DF_ONBUILD && !parent->from_onbuild[i];
    char **exprs = calloc(n + 1, sizeof *exprs);
    const struct sw_span **spans = calloc(n + 1, sizeof *spans);
    int r = exprs && spans ? 0 : sw_error_oom(err);
    for (size_t i = 0, k = 0; r == 0 && i < parent->ninstrs; i++) {
        const struct df_instr *ob = parent->instrs[i];
        if (ob->kind != DF_ONBUILD || parent->from_onbuild[i])
            continue;
        exprs[k] = ob->u.onbuild.expression;
        spans[k++] = &ob->span;
    }
    if (r == 0)
        r = insert_triggers(st, exprs, spans, n, err);
    free(exprs);
    free(spans);
    return r;
}

/* A stage built FROM an image: its ENV seeds the stage, its ONBUILD triggers run first. */
static int
image_base(struct df_build *b, struct df_stage *st, const struct df_build_opts *o,
           struct sw_error **err)
{
    if (!o->image_config || st->base.kind != DF_REF_IMAGE)
        return 0;
    struct sw_strv env = {0}, onbuild = {0};
    int r = o->image_config(o->image_ctx, st->base.image, &st->platform, &env, &onbuild, err);
    if (r < 0 && err && *err)
        sw_error_set_span(*err, &st->from->span);
    for (size_t i = 0; r == 0 && i < env.n; i++) {
        const char *eq = strchr(env.v[i], '=');
        sw_autofree char *key = eq ? strndup(env.v[i], (size_t)(eq - env.v[i])) : strdup(env.v[i]);
        if (!key || set_kv(&st->env, key, eq ? eq + 1 : "") < 0)
            r = sw_error_oom(err);
    }
    if (r == 0 && onbuild.n) {
        const struct sw_span **spans = calloc(onbuild.n, sizeof *spans);
        for (size_t i = 0; spans && i < onbuild.n; i++)
            spans[i] = &st->from->span;
        r = spans ? insert_triggers(st, onbuild.v, spans, onbuild.n, err) : sw_error_oom(err);
        free(spans);
    }
    (void)b;
    sw_strv_free(&env);
    sw_strv_free(&onbuild);
    return r;
}

static int
expand_stage(struct df_build *b, size_t si, const struct build_args *ba,
             const struct df_expand_opts *xo, const struct df_build_opts *o, struct sw_error **err)
{
    struct df_stage *st = &b->stages[si];
    if (st->expanded)
        return 0;
    st->expanded = true;
    if (st->base.kind == DF_REF_STAGE) {
        const struct df_stage *parent = &b->stages[st->base.stage];
        int r = expand_stage(b, st->base.stage, ba, xo, o, err);
        if (r < 0)
            return r;
        if (sw_strv_append_all(&st->env, &parent->env) < 0 ||
            sw_strv_append_all(&st->labels, &parent->labels) < 0 ||
            sw_strv_append_all(&st->args, &parent->args) < 0)
            return sw_error_oom(err);
        if (!st->platform_set)
            st->platform = parent->platform;
        r = stage_base_triggers(st, parent, err);
        if (r < 0)
            return r;
    } else {
        int r = image_base(b, st, o, err);
        if (r < 0)
            return r;
    }
    for (size_t k = 0; k < st->ninstrs; k++) {
        int r = expand_instr(b, st, st->instrs[k], ba, xo, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- the whole resolution ---------------------------------------------------------------------
 */

static int
init_platforms(struct df_build *b, const struct df_build_opts *o, struct sw_error **err)
{
    if (o->build_platform) {
        int r = img_platform_parse(&b->build_platform, o->build_platform, err);
        if (r < 0)
            return r;
    } else {
        img_platform_host(&b->build_platform);
    }
    if (o->target_platform)
        return img_platform_parse(&b->target_platform, o->target_platform, err);
    b->target_platform = b->build_platform;
    return 0;
}

static int
init_build_args(struct build_args *ba, const struct df_build_opts *o, struct sw_error **err)
{
    for (size_t i = 0; i < o->nbuild_args; i++) {
        const char *kv = o->build_args[i];
        if (!strchr(kv, '=') || kv[0] == '=')
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "invalid build arg \"%s\": expected KEY=VALUE", kv);
        if (sw_strv_push(&ba->kv, kv) < 0)
            return sw_error_oom(err);
    }
    ba->used = calloc(ba->kv.n + 1, sizeof *ba->used);
    return ba->used ? 0 : sw_error_oom(err);
}

/* The proxy build args, one entry per spelling given (the last value of each wins). */
static int
collect_proxy_args(struct df_build *b, const struct build_args *ba)
{
    for (size_t i = 0; i < ba->kv.n; i++) {
        size_t kl = strcspn(ba->kv.v[i], "=");
        sw_autofree char *key = strndup(ba->kv.v[i], kl);
        if (!key)
            return -SW_ENOMEM;
        if (is_proxy_arg(key) && df_env_list_add(&b->proxy_args, key, ba->kv.v[i] + kl + 1) < 0)
            return -SW_ENOMEM;
    }
    return 0;
}

static int
warn_unused_build_args(struct df_build *b, const struct build_args *ba)
{
    struct sw_buf names = {0};
    for (size_t i = 0; i < ba->kv.n; i++) {
        size_t kl = strcspn(ba->kv.v[i], "=");
        sw_autofree char *key = strndup(ba->kv.v[i], kl);
        if (!key)
            return -SW_ENOMEM;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strncmp(ba->kv.v[j], key, kl) && ba->kv.v[j][kl] == '=';
        if (ba->used[i] || seen || is_proxy_or_builtin_arg(key))
            continue;
        sw_buf_printf(&names, "%s%s", names.len ? " " : "", key);
    }
    int r = 0;
    if (names.len)
        r = warn(b, "UnusedBuildArg", NULL, "one or more build args were not consumed: [%s]",
                 sw_buf_cstr(&names));
    sw_buf_free(&names);
    return r;
}

static int
resolve(struct df_build *b, const struct df_build_opts *o, struct sw_error **err)
{
    struct df_expand_opts xo = {.escape = b->ast->escape};
    struct df_instr **meta = NULL;
    size_t nmeta = 0;
    struct build_args ba = {0};
    struct graph g = {0};
    int r = init_platforms(b, o, err);
    if (r == 0)
        r = init_build_args(&ba, o, err);
    if (r == 0 && collect_proxy_args(b, &ba) < 0)
        r = sw_error_oom(err);
    if (r == 0)
        r = split_stages(b, &meta, &nmeta, err);
    if (r == 0 && platform_args(b) < 0)
        r = sw_error_oom(err);
    if (r == 0)
        r = eval_meta_args(b, meta, nmeta, &ba, &xo, err);
    for (size_t s = 0; r == 0 && s < b->nstages; s++)
        r = resolve_from(b, &b->stages[s], &xo, err);
    if (r == 0) {
        g.out = calloc(b->nstages, sizeof *g.out);
        g.nout = calloc(b->nstages, sizeof *g.nout);
        if (!g.out || !g.nout)
            r = sw_error_oom(err);
    }
    for (size_t s = 0; r == 0 && s < b->nstages; s++)
        r = stage_edges(b, &g, s, err);
    if (r == 0)
        r = check_cycles(b, &g, err);
    if (r == 0 && record_deps(b, &g) < 0)
        r = sw_error_oom(err);
    if (r == 0) {
        b->target = b->nstages - 1;
        if (o->target && *o->target) {
            long t = -1;
            sw_autofree char *lower = lower_dup(o->target);
            for (size_t s = 0; lower && s < b->nstages; s++)
                if (b->stages[s].name && !strcmp(b->stages[s].name, lower))
                    t = (long)s;
            struct sw_span file_only = {.file = b->ast->file};
            if (t < 0)
                r = sw_error_set(err, SW_EINVAL, 0, &file_only,
                                 "target stage \"%s\" could not be found", o->target);
            else
                b->target = (size_t)t;
        }
    }
    if (r == 0)
        mark_needed(b, &g, b->target);
    for (size_t s = 0; r == 0 && s < b->nstages; s++)
        if (b->stages[s].needed)
            r = expand_stage(b, s, &ba, &xo, o, err);
    if (r == 0 && warn_unused_build_args(b, &ba) < 0)
        r = sw_error_oom(err);
    for (size_t i = 0; i < nmeta; i++)
        df_instr_free(meta[i]);
    free(meta);
    for (size_t s = 0; g.out && s < b->nstages; s++)
        free(g.out[s]);
    free(g.out);
    free(g.nout);
    sw_strv_free(&ba.kv);
    free(ba.used);
    return r;
}

int
df_build_resolve(struct df_build **out, struct df_ast *ast, const struct df_build_opts *opts,
                 struct sw_error **err)
{
    struct df_build_opts none = {0};
    struct df_build *b = calloc(1, sizeof *b);
    if (!b)
        return sw_error_oom(err);
    b->ast = ast;
    int r = resolve(b, opts ? opts : &none, err);
    if (r < 0) {
        df_build_free(b);
        return r;
    }
    *out = b;
    return 0;
}

void
df_build_free(struct df_build *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nmeta; i++) {
        free(b->meta[i].key);
        free(b->meta[i].value);
        free(b->meta[i].doc);
    }
    free(b->meta);
    for (size_t s = 0; s < b->nstages; s++) {
        struct df_stage *st = &b->stages[s];
        free(st->name);
        free(st->doc);
        df_instr_free(st->from);
        free(st->base.image);
        for (size_t k = 0; k < st->ninstrs; k++)
            df_instr_free(st->instrs[k]);
        free(st->instrs);
        free(st->from_onbuild);
        free(st->deps);
        sw_strv_free(&st->env);
        sw_strv_free(&st->labels);
        sw_strv_free(&st->args);
        sw_strv_free(&st->onbuild);
    }
    free(b->stages);
    for (size_t i = 0; i < b->nwarnings; i++) {
        free(b->warnings[i].rule);
        free(b->warnings[i].msg);
    }
    free(b->warnings);
    sw_strv_free(&b->proxy_args);
    free(b);
}
