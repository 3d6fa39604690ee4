/*
 * The typed-instruction layer: one AST node -> one validated struct df_instr (BuildKit's
 * instructions/parse.go), the expansion step (the Expand methods of instructions/commands.go plus
 * the expansion dockerfile2llb does itself for EXPOSE and FROM), and freeing.
 * Flags, mounts, values and env helpers live in instr_flags.c, instr_mount.c, instr_values.c and
 * instr_env.c.
 */
#include "instructions.h"
#include "instr_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/cleanup.h"

/* ---- kinds ----------------------------------------------------------------------------------- */

static const char *const kind_names[DF_KIND_COUNT] = {
    [DF_FROM] = "FROM",
    [DF_RUN] = "RUN",
    [DF_CMD] = "CMD",
    [DF_ENTRYPOINT] = "ENTRYPOINT",
    [DF_SHELL] = "SHELL",
    [DF_ENV] = "ENV",
    [DF_LABEL] = "LABEL",
    [DF_ARG] = "ARG",
    [DF_COPY] = "COPY",
    [DF_ADD] = "ADD",
    [DF_WORKDIR] = "WORKDIR",
    [DF_USER] = "USER",
    [DF_VOLUME] = "VOLUME",
    [DF_EXPOSE] = "EXPOSE",
    [DF_STOPSIGNAL] = "STOPSIGNAL",
    [DF_HEALTHCHECK] = "HEALTHCHECK",
    [DF_ONBUILD] = "ONBUILD",
    [DF_MAINTAINER] = "MAINTAINER",
};

const char *
df_kind_name(enum df_kind k)
{
    return (unsigned)k < DF_KIND_COUNT ? kind_names[k] : "?";
}

int
df_kind_from_keyword(const char *keyword)
{
    for (int k = 0; k < DF_KIND_COUNT; k++)
        if (df_str_ieq(keyword, kind_names[k]))
            return k;
    return -1;
}

/* ---- the parse request (BuildKit's parseRequest) --------------------------------------------- */

struct req {
    const struct df_node *node;
    struct df_instr *in;
    struct df_bflags bf;
    const char *name; /* "RUN" */
};

static int
err_exactly_one(const struct req *rq, struct sw_error **err)
{
    return sw_error_set(err, SW_EINVAL, 0, NULL, "%s requires exactly one argument", rq->name);
}

static int
err_at_least_one(const struct req *rq, struct sw_error **err)
{
    return sw_error_set(err, SW_EINVAL, 0, NULL, "%s requires at least one argument", rq->name);
}

static int
err_oom_if(int r, struct sw_error **err)
{
    return r < 0 ? sw_error_oom(err) : 0;
}

/* Parse the node's flags against the definitions made so far; record the names used. */
static int
flags_parse(struct req *rq, struct sw_error **err)
{
    int r = df_bflags_parse(&rq->bf, rq->node->flags.v, rq->node->flags.n, err);
    for (size_t i = 0; r == 0 && i < rq->bf.used.n; i++)
        r = err_oom_if(sw_strv_push(&rq->in->flags_used, rq->bf.used.v[i]), err);
    return r;
}

static int
def_flag(struct req *rq, const char *name, enum df_flag_type t, const char *def,
         struct sw_error **err)
{
    return df_bflags_add(&rq->bf, name, t, def, err);
}

/* A string flag's value, NULL when empty (BuildKit compares with ""). Owned copy. */
static int
flag_str(char **out, const struct req *rq, const char *name, struct sw_error **err)
{
    const struct df_flag *f = df_bflags_get(&rq->bf, name);
    *out = NULL;
    if (!f || !f->value || !*f->value)
        return 0;
    *out = strdup(f->value);
    return *out ? 0 : sw_error_oom(err);
}

static bool
flag_true(const struct req *rq, const char *name)
{
    const struct df_flag *f = df_bflags_get(&rq->bf, name);
    return f && f->value && !strcmp(f->value, "true");
}

/* -1 when not given, else 0/1. */
static int
flag_tristate(const struct req *rq, const char *name)
{
    const struct df_flag *f = df_bflags_get(&rq->bf, name);
    return f && f->used ? flag_true(rq, name) : -1;
}

static int
copy_strv(struct sw_strv *dst, const struct sw_strv *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (sw_strv_push(dst, src->v[i]) < 0)
            return -SW_ENOMEM;
    return 0;
}

/* getComment: the text after "<name> " in the first comment line that starts with it. */
static char *
doc_comment(const struct df_node *n, const char *name)
{
    size_t nl = name ? strlen(name) : 0;
    for (size_t i = 0; nl && i < n->comments.n; i++) {
        const char *c = n->comments.v[i];
        if (!strncmp(c, name, nl) && c[nl] == ' ')
            return strdup(c + nl + 1);
    }
    return strdup("");
}

/* ---- ENV, LABEL, MAINTAINER, ARG ------------------------------------------------------------- */

static int
parse_kvps(struct req *rq, struct sw_error **err)
{
    struct sw_strv *a = &rq->in->args;
    struct df_kvps *kv = &rq->in->u.kvps;
    int r = flags_parse(rq, err);
    if (r < 0)
        return r;
    if (a->n == 0)
        return err_at_least_one(rq, err);
    if (a->n % 3 != 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "Bad input to %s, too many arguments",
                            rq->name);
    kv->v = calloc(a->n / 3, sizeof *kv->v);
    if (!kv->v)
        return sw_error_oom(err);
    for (size_t j = 0; j < a->n; j += 3) {
        if (!*a->v[j])
            return sw_error_set(err, SW_EINVAL, 0, NULL, "%s names can not be blank", rq->name);
        struct df_kvp *p = &kv->v[kv->n++];
        p->key = strdup(a->v[j]);
        p->value = strdup(a->v[j + 1]);
        p->no_delim = !*a->v[j + 2];
        kv->legacy = kv->legacy || p->no_delim;
        if (!p->key || !p->value)
            return sw_error_oom(err);
    }
    return 0;
}

static int
parse_single(struct req *rq, char **slot, bool flags, struct sw_error **err)
{
    if (rq->in->args.n != 1)
        return err_exactly_one(rq, err);
    int r = flags ? flags_parse(rq, err) : 0;
    if (r < 0)
        return r;
    *slot = strdup(rq->in->args.v[0]);
    return *slot ? 0 : sw_error_oom(err);
}

static int
parse_arg(struct req *rq, struct sw_error **err)
{
    struct sw_strv *a = &rq->in->args;
    struct df_args *args = &rq->in->u.arg;
    if (a->n < 1)
        return err_at_least_one(rq, err);
    args->v = calloc(a->n, sizeof *args->v);
    if (!args->v)
        return sw_error_oom(err);
    for (size_t i = 0; i < a->n; i++) {
        struct df_arg_pair *p = &args->v[args->n++];
        const char *eq = strchr(a->v[i], '=');
        if (eq == a->v[i])
            return sw_error_set(err, SW_EINVAL, 0, NULL, "ARG names can not be blank");
        p->key = eq ? strndup(a->v[i], (size_t)(eq - a->v[i])) : strdup(a->v[i]);
        if (!p->key || (eq && !(p->value = strdup(eq + 1))))
            return sw_error_oom(err);
        if (!(p->doc = doc_comment(rq->node, p->key)))
            return sw_error_oom(err);
    }
    return 0;
}

/* ---- FROM, ONBUILD --------------------------------------------------------------------------- */

static bool
valid_stage_name(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("-_.", *s)))
            return false;
    return true;
}

static int
parse_from(struct req *rq, struct sw_error **err)
{
    struct sw_strv *a = &rq->in->args;
    struct df_from *f = &rq->in->u.from;
    if (a->n == 3 && df_str_ieq(a->v[1], "as")) {
        f->name = df_lower_dup(a->v[2]);
        if (!f->name)
            return sw_error_oom(err);
        if (!valid_stage_name(f->name)) {
            struct sw_buf q = {0};
            sw_go_quote(&q, a->v[2], strlen(a->v[2]));
            int r = sw_error_set(err, SW_EINVAL, 0, NULL,
                                 "invalid name for build stage: %s, name can't start with a "
                                 "number or contain symbols",
                                 sw_buf_cstr(&q));
            sw_buf_free(&q);
            return r;
        }
    } else if (a->n != 1) {
        return sw_error_set(err, SW_EINVAL, 0, NULL, "FROM requires either one or three arguments");
    }
    int r = def_flag(rq, "platform", DF_FLAG_STRING, "", err);
    if (r == 0)
        r = flags_parse(rq, err);
    if (r == 0)
        r = flag_str(&f->platform, rq, "platform", err);
    if (r < 0)
        return r;
    f->base = strdup(a->v[0]);
    f->doc = doc_comment(rq->node, f->name);
    return f->base && f->doc ? 0 : sw_error_oom(err);
}

/* `(?i)^\s*ONBUILD\s*` removed from the original text. */
static const char *
strip_onbuild(const char *s)
{
    const char *p = s;
    while (*p && strchr(" \t\n\f\r", *p))
        p++;
    if (strncasecmp(p, "onbuild", 7) != 0)
        return s;
    p += 7;
    while (*p && strchr(" \t\n\f\r", *p))
        p++;
    return p;
}

static int
parse_onbuild(struct req *rq, struct sw_error **err)
{
    struct df_onbuild *o = &rq->in->u.onbuild;
    if (rq->in->args.n == 0)
        return err_at_least_one(rq, err);
    int r = flags_parse(rq, err);
    if (r < 0)
        return r;
    const char *t = rq->in->args.v[0];
    while (isspace((unsigned char)*t))
        t++;
    o->trigger = strdup(t);
    if (!o->trigger)
        return sw_error_oom(err);
    for (char *p = o->trigger; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    for (size_t n = strlen(o->trigger); n && isspace((unsigned char)o->trigger[n - 1]); n--)
        o->trigger[n - 1] = '\0';
    if (!strcmp(o->trigger, "ONBUILD"))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (!strcmp(o->trigger, "MAINTAINER") || !strcmp(o->trigger, "FROM"))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s isn't allowed as an ONBUILD trigger",
                            o->trigger);
    struct sw_buf b = {0};
    r = sw_buf_puts(&b, strip_onbuild(rq->node->original ? rq->node->original : ""));
    for (size_t i = 0; r == 0 && i < rq->node->nheredocs; i++)
        r = sw_buf_printf(&b, "\n%s%s",
                          rq->node->heredocs[i].content ? rq->node->heredocs[i].content : "",
                          rq->node->heredocs[i].name);
    o->expression = r == 0 ? sw_buf_detach(&b) : NULL;
    sw_buf_free(&b);
    return o->expression ? 0 : sw_error_oom(err);
}

/* ---- RUN, CMD, ENTRYPOINT, SHELL ------------------------------------------------------------- */

static int
run_files(struct df_run *run, const struct df_node *n, struct sw_error **err)
{
    if (n->nheredocs == 0)
        return 0;
    run->files = calloc(n->nheredocs, sizeof *run->files);
    if (!run->files)
        return sw_error_oom(err);
    for (size_t i = 0; i < n->nheredocs; i++) {
        struct df_inline_file *f = &run->files[run->nfiles++];
        f->name = strdup(n->heredocs[i].name);
        f->data = strdup(n->heredocs[i].content ? n->heredocs[i].content : "");
        f->chomp = n->heredocs[i].chomp;
        if (!f->name || !f->data)
            return sw_error_oom(err);
    }
    return 0;
}

static int
run_network_security(struct req *rq, struct sw_error **err)
{
    struct df_run *run = &rq->in->u.run;
    static const char *const nets[] = {"default", "none", "host"};
    static const char *const secs[] = {"sandbox", "insecure"};
    const char *net = df_bflags_get(&rq->bf, "network")->value;
    const char *sec = df_bflags_get(&rq->bf, "security")->value;
    int ni = -1, si = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(net, nets[i]))
            ni = i;
    for (int i = 0; i < 2; i++)
        if (!strcmp(sec, secs[i]))
            si = i;
    struct sw_buf q = {0};
    int r = 0;
    if (ni < 0) {
        sw_go_quote(&q, net, strlen(net));
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "invalid network mode %s", sw_buf_cstr(&q));
    } else if (si < 0) {
        sw_go_quote(&q, sec, strlen(sec));
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "security %s is not valid", sw_buf_cstr(&q));
    }
    sw_buf_free(&q);
    run->network = ni < 0 ? DF_NETWORK_DEFAULT : (enum df_network)ni;
    run->security = si < 0 ? DF_SECURITY_SANDBOX : (enum df_security)si;
    return r;
}

/* The post-parse hooks, in BuildKit's order: devices, mounts, network, security. */
static int
run_post_hooks(struct req *rq, struct sw_error **err)
{
    struct df_run *run = &rq->in->u.run;
    const struct df_flag *dev = df_bflags_get(&rq->bf, "device");
    const struct df_flag *mnt = df_bflags_get(&rq->bf, "mount");
    if (dev->values.n && !(run->devices = calloc(dev->values.n, sizeof *run->devices)))
        return sw_error_oom(err);
    for (size_t i = 0; i < dev->values.n; i++) {
        int r = df_device_parse(&run->devices[i], dev->values.v[i], err);
        if (r < 0)
            return r;
        run->ndevices++;
    }
    for (size_t i = 0; i < mnt->values.n; i++) {
        int r = df_mount_precheck(mnt->values.v[i], err);
        if (r < 0)
            return r;
    }
    if (copy_strv(&run->mount_specs, &mnt->values) < 0)
        return sw_error_oom(err);
    return run_network_security(rq, err);
}

static int
parse_run(struct req *rq, struct sw_error **err)
{
    struct df_run *run = &rq->in->u.run;
    int r = def_flag(rq, "device", DF_FLAG_STRINGS, NULL, err);
    if (r == 0)
        r = def_flag(rq, "mount", DF_FLAG_STRINGS, NULL, err);
    if (r == 0)
        r = def_flag(rq, "network", DF_FLAG_STRING, "default", err);
    if (r == 0)
        r = def_flag(rq, "security", DF_FLAG_STRING, "sandbox", err);
    if (r == 0)
        r = flags_parse(rq, err);
    if (r < 0)
        return r;
    r = err_oom_if(df_handle_json_args(&run->cmdline, rq->in->args.v, rq->in->args.n, rq->in->json),
                   err);
    run->prepend_shell = !rq->in->json;
    if (r == 0)
        r = run_files(run, rq->node, err);
    return r < 0 ? r : run_post_hooks(rq, err);
}

static int
parse_cmd(struct req *rq, bool empty_as_nil, struct sw_error **err)
{
    struct df_cmdline *c = &rq->in->u.cmd;
    int r = flags_parse(rq, err);
    if (r < 0)
        return r;
    r = err_oom_if(df_handle_json_args(&c->cmdline, rq->in->args.v, rq->in->args.n, rq->in->json),
                   err);
    c->prepend_shell = !rq->in->json;
    c->is_nil = empty_as_nil && c->cmdline.n == 0;
    return r;
}

static int
parse_shell(struct req *rq, struct sw_error **err)
{
    int r = flags_parse(rq, err);
    if (r < 0)
        return r;
    r = err_oom_if(
        df_handle_json_args(&rq->in->u.shell, rq->in->args.v, rq->in->args.n, rq->in->json), err);
    if (r < 0)
        return r;
    if (rq->in->u.shell.n == 0)
        return err_at_least_one(rq, err);
    if (!rq->in->json)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "SHELL requires the arguments to be in JSON form");
    return 0;
}

/* ---- COPY, ADD ------------------------------------------------------------------------------- */

/* MustParseHeredoc: 1 and *h filled when word is a heredoc, else 0 (errors mean "not one"). */
static int
must_parse_heredoc(struct df_heredoc *h, const char *word)
{
    struct sw_error *ignored = NULL;
    int r = df_heredoc_parse_word(h, word, &ignored);
    sw_error_free(ignored);
    if (r != 1)
        df_heredoc_clear(h);
    return r == 1;
}

static int
heredoc_source(struct df_source_content *sc, const struct df_node *n, struct df_heredoc *h,
               struct sw_error **err)
{
    const char *content = "";
    for (size_t i = 0; i < n->nheredocs; i++)
        if (!strcmp(n->heredocs[i].name, h->name) && n->heredocs[i].content)
            content = n->heredocs[i].content;
    sc->data = h->chomp ? df_heredoc_chomp(content) : strdup(content);
    sc->path = h->name;
    h->name = NULL;
    sc->expand = h->expand;
    return sc->data ? 0 : sw_error_oom(err);
}

static int
sources_and_dest(struct req *rq, struct sw_error **err)
{
    struct df_copy *c = &rq->in->u.copy;
    struct sw_strv *a = &rq->in->args;
    struct df_heredoc h = {0};
    if (must_parse_heredoc(&h, a->v[a->n - 1])) {
        df_heredoc_clear(&h);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s cannot accept a heredoc as a destination",
                            rq->name);
    }
    if (!(c->dest = strdup(a->v[a->n - 1])))
        return sw_error_oom(err);
    c->contents = calloc(a->n, sizeof *c->contents);
    if (!c->contents)
        return sw_error_oom(err);
    for (size_t i = 0; i + 1 < a->n; i++) {
        int r;
        if (must_parse_heredoc(&h, a->v[i])) {
            r = heredoc_source(&c->contents[c->ncontents++], rq->node, &h, err);
            df_heredoc_clear(&h);
        } else {
            r = err_oom_if(sw_strv_push(&c->src_paths, a->v[i]), err);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int
parse_copy(struct req *rq, bool add, struct sw_error **err)
{
    struct df_copy *c = &rq->in->u.copy;
    c->keep_git_dir = c->unpack = -1;
    if (rq->in->args.n < 2)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "%s requires at least two arguments, but only one was provided. "
                            "Destination could not be determined",
                            rq->name);
    static const struct {
        const char *name;
        enum df_flag_type type;
        bool copy, add;
    } defs[] = {
        {"exclude", DF_FLAG_STRINGS, true, true},    {"chown", DF_FLAG_STRING, true, true},
        {"from", DF_FLAG_STRING, true, false},       {"chmod", DF_FLAG_STRING, true, true},
        {"link", DF_FLAG_BOOL, true, true},          {"parents", DF_FLAG_BOOL, true, false},
        {"keep-git-dir", DF_FLAG_BOOL, false, true}, {"checksum", DF_FLAG_STRING, false, true},
        {"unpack", DF_FLAG_BOOL, false, true},
    };
    int r = 0;
    for (size_t i = 0; r == 0 && i < sizeof defs / sizeof *defs; i++)
        if (add ? defs[i].add : defs[i].copy)
            r = def_flag(rq, defs[i].name, defs[i].type, NULL, err);
    if (r == 0)
        r = flags_parse(rq, err);
    if (r == 0)
        r = sources_and_dest(rq, err);
    if (r == 0)
        r = flag_str(&c->chown, rq, "chown", err);
    if (r == 0)
        r = flag_str(&c->chmod, rq, "chmod", err);
    if (r == 0 && !add)
        r = flag_str(&c->from, rq, "from", err);
    if (r == 0 && add)
        r = flag_str(&c->checksum, rq, "checksum", err);
    if (r == 0)
        r = err_oom_if(copy_strv(&c->excludes, &df_bflags_get(&rq->bf, "exclude")->values), err);
    c->link = flag_true(rq, "link");
    c->parents = !add && flag_true(rq, "parents");
    if (add) {
        c->keep_git_dir = flag_tristate(rq, "keep-git-dir");
        c->unpack = flag_tristate(rq, "unpack");
    }
    return r;
}

/* ---- HEALTHCHECK, EXPOSE, VOLUME ------------------------------------------------------------- */

static int
health_cmd(struct req *rq, const char *typ, struct sw_error **err)
{
    struct df_health *h = &rq->in->u.health;
    struct sw_strv cmd = {0};
    int r = err_oom_if(
        df_handle_json_args(&cmd, rq->in->args.v + 1, rq->in->args.n - 1, rq->in->json), err);
    if (r == 0 && cmd.n == 0)
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "Missing command after HEALTHCHECK CMD");
    if (r == 0)
        r = err_oom_if(sw_strv_push(&h->test, rq->in->json ? typ : "CMD-SHELL"), err);
    if (r == 0)
        r = err_oom_if(copy_strv(&h->test, &cmd), err);
    sw_strv_free(&cmd);
    return r;
}

static int
health_options(struct req *rq, struct sw_error **err)
{
    struct df_health *h = &rq->in->u.health;
    const struct {
        const char *flag;
        int64_t *slot;
    } ivals[] = {{"interval", &h->interval},
                 {"timeout", &h->timeout},
                 {"start-period", &h->start_period},
                 {"start-interval", &h->start_interval}};
    for (size_t i = 0; i < 4; i++) {
        const struct df_flag *f = df_bflags_get(&rq->bf, ivals[i].flag);
        int r = df_parse_opt_interval(ivals[i].slot, ivals[i].flag, f->value, err);
        if (r < 0)
            return r;
    }
    const char *retries = df_bflags_get(&rq->bf, "retries")->value;
    if (!*retries)
        return 0;
    int64_t v;
    int nr = df_go_parse_int(&v, retries, 32);
    if (nr != DF_NUM_OK) {
        struct sw_buf m = {0};
        df_go_num_error(&m, "ParseInt", retries, nr);
        int r = sw_error_set(err, SW_EINVAL, 0, NULL, "%s", sw_buf_cstr(&m));
        sw_buf_free(&m);
        return r;
    }
    if (v < 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "--retries cannot be negative (%lld)",
                            (long long)v);
    h->retries = (int)v;
    return 0;
}

static int
parse_healthcheck(struct req *rq, struct sw_error **err)
{
    struct sw_strv *a = &rq->in->args;
    if (a->n == 0)
        return err_at_least_one(rq, err);
    sw_autofree char *typ = strdup(a->v[0]);
    if (!typ)
        return sw_error_oom(err);
    for (char *p = typ; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (!strcmp(typ, "NONE")) {
        if (a->n != 1)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "HEALTHCHECK NONE takes no arguments");
        return err_oom_if(sw_strv_push(&rq->in->u.health.test, typ), err);
    }
    static const char *const flags[] = {"interval", "timeout", "start-period", "start-interval",
                                        "retries"};
    int r = 0;
    for (size_t i = 0; r == 0 && i < 5; i++)
        r = def_flag(rq, flags[i], DF_FLAG_STRING, "", err);
    if (r == 0)
        r = flags_parse(rq, err);
    if (r < 0)
        return r;
    if (strcmp(typ, "CMD") != 0) {
        struct sw_buf q = {0};
        sw_go_quote(&q, typ, strlen(typ));
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "Unknown type %s in HEALTHCHECK (try CMD)",
                         sw_buf_cstr(&q));
        sw_buf_free(&q);
        return r;
    }
    r = health_cmd(rq, typ, err);
    return r < 0 ? r : health_options(rq, err);
}

static int
cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
parse_expose(struct req *rq, struct sw_error **err)
{
    struct df_expose *e = &rq->in->u.expose;
    if (rq->in->args.n == 0)
        return err_at_least_one(rq, err);
    int r = flags_parse(rq, err);
    if (r < 0)
        return r;
    if (copy_strv(&e->ports, &rq->in->args) < 0)
        return sw_error_oom(err);
    qsort(e->ports.v, e->ports.n, sizeof *e->ports.v, cmp_strp);
    return 0;
}

/* Go strings.TrimSpace (ASCII and the common Unicode spaces are both whitespace to it). */
static char *
trim_dup(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

static int
parse_volume(struct req *rq, struct sw_error **err)
{
    if (rq->in->args.n == 0)
        return err_at_least_one(rq, err);
    int r = flags_parse(rq, err);
    for (size_t i = 0; r == 0 && i < rq->in->args.n; i++) {
        char *v = trim_dup(rq->in->args.v[i]);
        if (!v)
            return sw_error_oom(err);
        if (!*v) {
            free(v);
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "VOLUME specified can not be an empty string");
        }
        r = err_oom_if(sw_strv_push_owned(&rq->in->u.volumes, v), err);
    }
    return r;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static int
parse_kind(struct req *rq, struct sw_error **err)
{
    struct df_instr *in = rq->in;
    switch (in->kind) {
    case DF_ENV:
    case DF_LABEL:
        return parse_kvps(rq, err);
    case DF_MAINTAINER:
        return parse_single(rq, &in->u.maintainer, true, err);
    case DF_ADD:
    case DF_COPY:
        return parse_copy(rq, in->kind == DF_ADD, err);
    case DF_FROM:
        return parse_from(rq, err);
    case DF_ONBUILD:
        return parse_onbuild(rq, err);
    case DF_WORKDIR:
        return parse_single(rq, &in->u.path, true, err);
    case DF_RUN:
        return parse_run(rq, err);
    case DF_CMD:
    case DF_ENTRYPOINT:
        return parse_cmd(rq, in->kind == DF_ENTRYPOINT, err);
    case DF_HEALTHCHECK:
        return parse_healthcheck(rq, err);
    case DF_EXPOSE:
        return parse_expose(rq, err);
    case DF_USER:
        return parse_single(rq, &in->u.user, true, err);
    case DF_VOLUME:
        return parse_volume(rq, err);
    case DF_STOPSIGNAL:
        return parse_single(rq, &in->u.signal, false, err);
    case DF_ARG:
        return parse_arg(rq, err);
    case DF_SHELL:
        return parse_shell(rq, err);
    }
    return sw_error_set(err, SW_EINTERNAL, 0, NULL, "bad instruction kind");
}

/* BuildKit's nodeArgs: the argument values, a sub-command (ONBUILD) as its keyword + its args. */
static int
node_args(struct sw_strv *out, const struct df_node *n)
{
    if (n->onbuild) {
        if (sw_strv_push(out, n->onbuild->keyword) < 0)
            return -SW_ENOMEM;
        return node_args(out, n->onbuild);
    }
    return copy_strv(out, &n->args);
}

/* The keyword as written: the first word of the original text. */
static char *
keyword_as_written(const struct df_node *n)
{
    const char *s = n->original;
    if (!s)
        return strdup(n->keyword ? n->keyword : "");
    while (isspace((unsigned char)*s))
        s++;
    size_t len = 0;
    while (s[len] && !isspace((unsigned char)s[len]))
        len++;
    return len ? strndup(s, len) : strdup(n->keyword ? n->keyword : "");
}

static int
unknown_instruction(const char *kw, struct sw_error **err)
{
    char *s = df_suggest(kw, kind_names, DF_KIND_COUNT, false);
    int r = s ? sw_error_set(err, SW_EINVAL, 0, NULL, "unknown instruction: %s (did you mean %s?)",
                             kw, s)
              : sw_error_set(err, SW_EINVAL, 0, NULL, "unknown instruction: %s", kw);
    free(s);
    return r;
}

static int
fill_common(struct df_instr *in, const struct df_node *node, struct sw_error **err)
{
    in->span = node->span;
    in->span.file = NULL;
    if (node->span.file && !(in->file_buf = strdup(node->span.file)))
        return sw_error_oom(err);
    in->span.file = in->file_buf;
    in->code = trim_dup(node->original ? node->original : "");
    in->keyword = keyword_as_written(node);
    in->json = node->json;
    if (!in->code || !in->keyword || node_args(&in->args, node) < 0 ||
        copy_strv(&in->flags, &node->flags) < 0)
        return sw_error_oom(err);
    return 0;
}

int
df_instr_from_node(struct df_instr **out, const struct df_node *node, struct sw_error **err)
{
    struct df_instr *in = calloc(1, sizeof *in);
    if (!in)
        return sw_error_oom(err);
    struct req rq = {.node = node, .in = in};
    int r = fill_common(in, node, err);
    int kind = node->keyword ? df_kind_from_keyword(node->keyword) : -1;
    if (r == 0 && kind < 0) {
        r = unknown_instruction(in->keyword, err);
    } else if (r == 0) {
        in->kind = (enum df_kind)kind;
        rq.name = kind_names[kind];
        r = parse_kind(&rq, err);
    }
    df_bflags_free(&rq.bf);
    if (r < 0) {
        if (err && *err)
            sw_error_set_span(*err, &node->span);
        df_instr_free(in);
        return r;
    }
    *out = in;
    return 0;
}

/* ---- expansion ------------------------------------------------------------------------------- */

struct xp {
    const struct df_env *env;
    const struct df_expand_opts *opts;
};

static int
xword(char **slot, const struct xp *x, struct sw_error **err)
{
    if (!*slot)
        return 0;
    char *v = NULL;
    int r = df_expand_word(&v, *slot, x->env, x->opts, NULL, NULL, err);
    if (r < 0)
        return r;
    free(*slot);
    *slot = v;
    return 0;
}

static int
xstrv(struct sw_strv *sv, const struct xp *x, struct sw_error **err)
{
    for (size_t i = 0; i < sv->n; i++) {
        int r = xword(&sv->v[i], x, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
expand_from(struct df_from *f, const struct xp *x, struct sw_error **err)
{
    sw_autofree char *raw = strdup(f->base);
    if (!raw)
        return sw_error_oom(err);
    int r = xword(&f->base, x, err);
    if (r == 0 && !*f->base)
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "base name (%s) should not be blank", raw);
    if (r == 0)
        r = xword(&f->platform, x, err);
    if (r == 0 && f->platform && !*f->platform) {
        free(f->platform);
        f->platform = NULL;
    }
    return r;
}

static int
expand_run(struct df_run *run, const struct xp *x, struct sw_error **err)
{
    if (run->mount_specs.n && !(run->mounts = calloc(run->mount_specs.n, sizeof *run->mounts)))
        return sw_error_oom(err);
    for (size_t i = 0; i < run->mount_specs.n; i++) {
        int r = df_mount_parse(&run->mounts[i], run->mount_specs.v[i], x->env, x->opts, err);
        if (r < 0)
            return r;
        run->nmounts++;
    }
    run->mounts_parsed = true;
    return df_run_mounts_finish(run->mounts, run->nmounts, err);
}

static int
expand_kvps(struct df_kvps *kv, const struct xp *x, struct sw_error **err)
{
    for (size_t i = 0; i < kv->n; i++) {
        int r = xword(&kv->v[i].key, x, err);
        if (r == 0)
            r = xword(&kv->v[i].value, x, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
expand_args(struct df_args *a, const struct xp *x, struct sw_error **err)
{
    for (size_t i = 0; i < a->n; i++) {
        int r = xword(&a->v[i].key, x, err);
        if (r == 0)
            r = xword(&a->v[i].value, x, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* COPY --from cannot hold a variable: its expansion must be itself. */
static int
check_copy_from(const char *from, const struct xp *x, struct sw_error **err)
{
    if (!from || !strchr(from, '$'))
        return 0;
    char *v = NULL;
    struct sw_error *ignored = NULL;
    int r = df_expand_word(&v, from, x->env, x->opts, NULL, NULL, &ignored);
    bool same = r == 0 && !strcmp(v, from);
    free(v);
    sw_error_free(ignored);
    if (same)
        return 0;
    return sw_error_set(err, SW_EINVAL, 0, NULL,
                        "variable expansion is not supported for --from, define a new stage with "
                        "FROM using ARG from global scope as a workaround");
}

static int
expand_copy(struct df_copy *c, bool add, const struct xp *x, struct sw_error **err)
{
    struct df_expand_opts raw = {.escape = '\\', .raw_quotes = true};
    struct xp xr = {.env = x->env, .opts = &raw};
    int r = add ? 0 : check_copy_from(c->from, x, err);
    if (r == 0)
        r = xword(&c->chown, x, err);
    if (r == 0)
        r = xword(&c->chmod, x, err);
    if (r == 0 && c->chmod)
        r = df_chmod_validate(c->chmod, err);
    if (r == 0 && add)
        r = xword(&c->checksum, x, err);
    for (size_t i = 0; r == 0 && i < c->ncontents; i++)
        if (c->contents[i].expand)
            r = xword(&c->contents[i].data, &xr, err);
    if (r == 0)
        r = xstrv(&c->src_paths, x, err);
    if (r == 0)
        r = xword(&c->dest, x, err);
    for (size_t i = 0; r == 0 && !add && i < c->src_paths.n; i++)
        if (df_is_url(c->src_paths.v[i]))
            r = sw_error_set(err, SW_EINVAL, 0, NULL, "source can't be a URL for COPY");
    return r;
}

static int
expand_volumes(struct sw_strv *v, const struct xp *x, struct sw_error **err)
{
    int r = xstrv(v, x, err);
    for (size_t i = 0; r == 0 && i < v->n; i++)
        if (!*v->v[i])
            r = sw_error_set(err, SW_EINVAL, 0, NULL,
                             "VOLUME specified can not be an empty string");
    return r;
}

static int
expand_expose(struct df_expose *e, const struct xp *x, struct sw_error **err)
{
    struct sw_strv words = {0};
    int r = 0;
    for (size_t i = 0; r == 0 && i < e->ports.n; i++)
        r = df_expand_words(&words, e->ports.v[i], x->env, x->opts, err);
    if (r == 0) {
        sw_strv_free(&e->ports);
        e->ports = words;
        words = (struct sw_strv){0};
        r = df_parse_port_specs(&e->exposed, e->ports.v, e->ports.n, err);
    }
    sw_strv_free(&words);
    return r;
}

static int
expand_kind(struct df_instr *in, const struct xp *x, struct sw_error **err)
{
    switch (in->kind) {
    case DF_FROM:
        return expand_from(&in->u.from, x, err);
    case DF_RUN:
        return expand_run(&in->u.run, x, err);
    case DF_ENV:
    case DF_LABEL:
        return expand_kvps(&in->u.kvps, x, err);
    case DF_ARG:
        return expand_args(&in->u.arg, x, err);
    case DF_COPY:
    case DF_ADD:
        return expand_copy(&in->u.copy, in->kind == DF_ADD, x, err);
    case DF_WORKDIR:
        return xword(&in->u.path, x, err);
    case DF_USER:
        return xword(&in->u.user, x, err);
    case DF_STOPSIGNAL:
        return xword(&in->u.signal, x, err);
    case DF_VOLUME:
        return expand_volumes(&in->u.volumes, x, err);
    case DF_EXPOSE:
        return expand_expose(&in->u.expose, x, err);
    default: /* CMD ENTRYPOINT SHELL HEALTHCHECK ONBUILD MAINTAINER: not expanded */
        return 0;
    }
}

int
df_instr_expand(struct df_instr *in, const struct df_env *env, const struct df_expand_opts *opts,
                struct sw_error **err)
{
    static const struct df_env empty_env;
    static const struct df_expand_opts default_opts = {.escape = '\\'};
    if (in->expanded)
        return sw_error_set(err, SW_EINTERNAL, 0, &in->span, "%s was already expanded",
                            df_kind_name(in->kind));
    struct xp x = {.env = env ? env : &empty_env, .opts = opts ? opts : &default_opts};
    in->expanded = true;
    int r = expand_kind(in, &x, err);
    if (r < 0 && err && *err)
        sw_error_set_span(*err, &in->span);
    return r;
}

/* ---- freeing --------------------------------------------------------------------------------- */

static void
free_run(struct df_run *run)
{
    sw_strv_free(&run->cmdline);
    for (size_t i = 0; i < run->nfiles; i++) {
        free(run->files[i].name);
        free(run->files[i].data);
    }
    free(run->files);
    sw_strv_free(&run->mount_specs);
    for (size_t i = 0; i < run->nmounts; i++)
        df_mount_clear(&run->mounts[i]);
    free(run->mounts);
    for (size_t i = 0; i < run->ndevices; i++)
        df_device_clear(&run->devices[i]);
    free(run->devices);
}

static void
free_copy(struct df_copy *c)
{
    sw_strv_free(&c->src_paths);
    for (size_t i = 0; i < c->ncontents; i++) {
        free(c->contents[i].path);
        free(c->contents[i].data);
    }
    free(c->contents);
    free(c->dest);
    free(c->from);
    free(c->chown);
    free(c->chmod);
    sw_strv_free(&c->excludes);
    free(c->checksum);
}

static void
free_kvps(struct df_kvps *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->v[i].key);
        free(kv->v[i].value);
    }
    free(kv->v);
}

static void
free_args(struct df_args *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].key);
        free(a->v[i].value);
        free(a->v[i].doc);
    }
    free(a->v);
}

static void
free_payload(struct df_instr *in)
{
    switch (in->kind) {
    case DF_FROM:
        free(in->u.from.base);
        free(in->u.from.name);
        free(in->u.from.platform);
        free(in->u.from.doc);
        break;
    case DF_RUN:
        free_run(&in->u.run);
        break;
    case DF_CMD:
    case DF_ENTRYPOINT:
        sw_strv_free(&in->u.cmd.cmdline);
        break;
    case DF_SHELL:
    case DF_VOLUME:
        sw_strv_free(in->kind == DF_SHELL ? &in->u.shell : &in->u.volumes);
        break;
    case DF_ENV:
    case DF_LABEL:
        free_kvps(&in->u.kvps);
        break;
    case DF_ARG:
        free_args(&in->u.arg);
        break;
    case DF_COPY:
    case DF_ADD:
        free_copy(&in->u.copy);
        break;
    case DF_EXPOSE:
        sw_strv_free(&in->u.expose.ports);
        sw_strv_free(&in->u.expose.exposed);
        break;
    case DF_HEALTHCHECK:
        sw_strv_free(&in->u.health.test);
        break;
    case DF_ONBUILD:
        free(in->u.onbuild.trigger);
        free(in->u.onbuild.expression);
        break;
    case DF_WORKDIR:
    case DF_USER:
    case DF_STOPSIGNAL:
    case DF_MAINTAINER:
        free(in->u.path); /* all four are one char * in the union */
        break;
    }
}

void
df_instr_free(struct df_instr *in)
{
    if (!in)
        return;
    free_payload(in);
    free(in->file_buf);
    free(in->code);
    free(in->keyword);
    sw_strv_free(&in->args);
    sw_strv_free(&in->flags);
    sw_strv_free(&in->flags_used);
    free(in);
}
