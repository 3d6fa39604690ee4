#include "outline.h"

#include <string.h>

static json_t *
strv_json(const struct sw_strv *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < v->n; i++)
        json_array_append_new(a, json_string(v->v[i]));
    return a;
}

static json_t *
str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *
span_json(const struct sw_span *s)
{
    return json_pack("{s:o, s:i, s:i, s:i}", "file", str_or_null(s->file), "line", (int)s->line,
                     "col", (int)s->col, "end_line", (int)s->end_line);
}

static json_t *
kv_json(const struct df_kvps *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s}", "key", p->v[i].key, "value",
                                           p->v[i].value ? p->v[i].value : ""));
    return a;
}

/* "k=v" list as an object, in order. */
static json_t *
kvlist_json(const struct sw_strv *v)
{
    json_t *o = json_object();
    for (size_t i = 0; i < v->n; i++) {
        const char *eq = strchr(v->v[i], '=');
        char *k = eq ? strndup(v->v[i], (size_t)(eq - v->v[i])) : strdup(v->v[i]);
        if (k)
            json_object_set_new(o, k, json_string(eq ? eq + 1 : ""));
        free(k);
    }
    return o;
}

static const char *
network_name(enum df_network n)
{
    return n == DF_NETWORK_NONE ? "none" : n == DF_NETWORK_HOST ? "host" : "default";
}

static const char *
sharing_name(enum df_mount_sharing s)
{
    return s == DF_SHARING_PRIVATE ? "private" : s == DF_SHARING_LOCKED ? "locked" : "shared";
}

static json_t *
mount_json(const struct df_mount *m)
{
    json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:b}", "type", df_mount_type_name(m->type),
                          "target", str_or_null(m->target), "source", str_or_null(m->source),
                          "from", str_or_null(m->from), "readonly", m->readonly);
    if (m->id)
        json_object_set_new(o, "id", json_string(m->id));
    if (m->type == DF_MOUNT_CACHE)
        json_object_set_new(o, "sharing", json_string(sharing_name(m->sharing)));
    if (m->type == DF_MOUNT_CACHE || m->type == DF_MOUNT_SECRET || m->type == DF_MOUNT_SSH) {
        char mode[16];
        snprintf(mode, sizeof mode, "%04o", m->mode);
        json_object_set_new(o, "mode", json_string(mode));
        json_object_set_new(o, "uid", json_integer(m->uid));
        json_object_set_new(o, "gid", json_integer(m->gid));
    }
    if (m->type == DF_MOUNT_SECRET || m->type == DF_MOUNT_SSH)
        json_object_set_new(o, "required", json_boolean(m->required));
    if (m->env)
        json_object_set_new(o, "env", json_string(m->env));
    if (m->type == DF_MOUNT_TMPFS && m->size)
        json_object_set_new(o, "size", json_integer(m->size));
    return o;
}

static json_t *
run_json(const struct df_run *r)
{
    json_t *files = json_array(), *mounts = json_array();
    for (size_t i = 0; i < r->nfiles; i++)
        json_array_append_new(files, json_pack("{s:s, s:s, s:b}", "name", r->files[i].name, "data",
                                               r->files[i].data, "chomp", r->files[i].chomp));
    if (r->mounts_parsed)
        for (size_t i = 0; i < r->nmounts; i++)
            json_array_append_new(mounts, mount_json(&r->mounts[i]));
    else
        for (size_t i = 0; i < r->mount_specs.n; i++)
            json_array_append_new(mounts, json_pack("{s:s}", "spec", r->mount_specs.v[i]));
    return json_pack("{s:o, s:b, s:o, s:o, s:s, s:s}", "cmd", strv_json(&r->cmdline), "shell",
                     r->prepend_shell, "files", files, "mounts", mounts, "network",
                     network_name(r->network), "security",
                     r->security == DF_SECURITY_INSECURE ? "insecure" : "sandbox");
}

static json_t *
copy_json(const struct df_instr *in)
{
    const struct df_copy *c = &in->u.copy;
    json_t *contents = json_array();
    for (size_t i = 0; i < c->ncontents; i++)
        json_array_append_new(contents,
                              json_pack("{s:s, s:s, s:b}", "path", c->contents[i].path, "data",
                                        c->contents[i].data, "expand", c->contents[i].expand));
    json_t *o =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "sources", strv_json(&c->src_paths),
                  "contents", contents, "dest", str_or_null(c->dest), "from", str_or_null(c->from),
                  "chown", str_or_null(c->chown), "chmod", str_or_null(c->chmod), "link", c->link,
                  "exclude", strv_json(&c->excludes));
    if (in->kind == DF_COPY) {
        json_object_set_new(o, "parents", json_boolean(c->parents));
    } else {
        json_object_set_new(o, "checksum", str_or_null(c->checksum));
        json_object_set_new(o, "keep_git_dir",
                            c->keep_git_dir < 0 ? json_null() : json_boolean(c->keep_git_dir));
        json_object_set_new(o, "unpack", c->unpack < 0 ? json_null() : json_boolean(c->unpack));
    }
    return o;
}

static json_t *
health_json(const struct df_health *h)
{
    return json_pack("{s:o, s:I, s:I, s:I, s:I, s:i}", "test", strv_json(&h->test), "interval_ns",
                     (json_int_t)h->interval, "timeout_ns", (json_int_t)h->timeout,
                     "start_period_ns", (json_int_t)h->start_period, "start_interval_ns",
                     (json_int_t)h->start_interval, "retries", h->retries);
}

static json_t *
args_json(const struct df_instr *in)
{
    switch (in->kind) {
    case DF_FROM:
        return json_pack("{s:o, s:o, s:o}", "base", str_or_null(in->u.from.base), "name",
                         str_or_null(in->u.from.name), "platform",
                         str_or_null(in->u.from.platform));
    case DF_RUN:
        return run_json(&in->u.run);
    case DF_CMD:
    case DF_ENTRYPOINT:
        return json_pack("{s:o, s:b}", "cmd", strv_json(&in->u.cmd.cmdline), "shell",
                         in->u.cmd.prepend_shell);
    case DF_SHELL:
        return json_pack("{s:o}", "shell", strv_json(&in->u.shell));
    case DF_ENV:
    case DF_LABEL:
        return json_pack("{s:o}", "pairs", kv_json(&in->u.kvps));
    case DF_ARG: {
        json_t *a = json_array();
        for (size_t i = 0; i < in->u.arg.n; i++)
            json_array_append_new(a, json_pack("{s:s, s:o}", "key", in->u.arg.v[i].key, "value",
                                               str_or_null(in->u.arg.v[i].value)));
        return json_pack("{s:o}", "args", a);
    }
    case DF_COPY:
    case DF_ADD:
        return copy_json(in);
    case DF_WORKDIR:
        return json_pack("{s:o}", "path", str_or_null(in->u.path));
    case DF_USER:
        return json_pack("{s:o}", "user", str_or_null(in->u.user));
    case DF_VOLUME:
        return json_pack("{s:o}", "volumes", strv_json(&in->u.volumes));
    case DF_EXPOSE:
        return json_pack("{s:o}", "ports",
                         strv_json(in->expanded ? &in->u.expose.exposed : &in->u.expose.ports));
    case DF_STOPSIGNAL:
        return json_pack("{s:o}", "signal", str_or_null(in->u.signal));
    case DF_HEALTHCHECK:
        return health_json(&in->u.health);
    case DF_ONBUILD:
        return json_pack("{s:o, s:o}", "trigger", str_or_null(in->u.onbuild.trigger), "expression",
                         str_or_null(in->u.onbuild.expression));
    case DF_MAINTAINER:
        return json_pack("{s:o}", "maintainer", str_or_null(in->u.maintainer));
    }
    return json_object();
}

json_t *
df_outline_instr_json(const struct df_instr *in)
{
    return json_pack("{s:s, s:o, s:s, s:o, s:b, s:o}", "kind", df_kind_name(in->kind), "span",
                     span_json(&in->span), "original", in->code ? in->code : "", "flags",
                     strv_json(&in->flags), "expanded", in->expanded, "args", args_json(in));
}

static json_t *
ref_json(const struct df_build *b, const struct df_stage_ref *r)
{
    switch (r->kind) {
    case DF_REF_STAGE:
        return json_pack("{s:s, s:i, s:o}", "kind", "stage", "stage", (int)r->stage, "name",
                         str_or_null(b->stages[r->stage].name));
    case DF_REF_SCRATCH:
        return json_pack("{s:s}", "kind", "scratch");
    case DF_REF_IMAGE:
        return json_pack("{s:s, s:s}", "kind", "image", "image", r->image);
    }
    return json_null();
}

static json_t *
stage_json(const struct df_build *b, const struct df_stage *st)
{
    char plat[128];
    json_t *deps = json_array(), *instrs = json_array();
    for (size_t i = 0; i < st->ndeps; i++)
        json_array_append_new(deps, json_integer((json_int_t)st->deps[i]));
    for (size_t i = 0; i < st->ninstrs; i++) {
        json_t *j = df_outline_instr_json(st->instrs[i]);
        json_object_set_new(j, "from_onbuild", json_boolean(st->from_onbuild[i]));
        json_array_append_new(instrs, j);
    }
    return json_pack("{s:i, s:o, s:s, s:o, s:o, s:s, s:b, s:b, s:o, s:o, s:o, s:o, s:o}", "index",
                     (int)st->index, "name", str_or_null(st->name), "doc", st->doc ? st->doc : "",
                     "from", df_outline_instr_json(st->from), "base", ref_json(b, &st->base),
                     "platform", img_platform_format(plat, sizeof plat, &st->platform),
                     "platform_set", st->platform_set, "needed", st->needed, "depends_on", deps,
                     "instructions", instrs, "env", kvlist_json(&st->env), "labels",
                     kvlist_json(&st->labels), "args", kvlist_json(&st->args));
}

json_t *
df_outline_json(const struct df_build *b)
{
    char tp[128], bp[128];
    json_t *dirs = json_object(), *meta = json_array(), *stages = json_array(),
           *warnings = json_array();
    for (size_t i = 0; i < b->ast->ndirectives; i++)
        json_object_set_new(dirs, b->ast->directives[i].name,
                            json_string(b->ast->directives[i].value));
    for (size_t i = 0; i < b->nmeta; i++) {
        const struct df_meta_arg *m = &b->meta[i];
        if (!m->span.file)
            continue; /* the automatic platform ARGs are listed under "platforms" */
        json_array_append_new(meta, json_pack("{s:s, s:o, s:s, s:o}", "key", m->key, "value",
                                              str_or_null(m->value), "doc", m->doc, "span",
                                              span_json(&m->span)));
    }
    for (size_t s = 0; s < b->nstages; s++)
        json_array_append_new(stages, stage_json(b, &b->stages[s]));
    for (size_t i = 0; i < b->nwarnings; i++) {
        const struct df_build_warning *w = &b->warnings[i];
        json_array_append_new(warnings,
                              json_pack("{s:s, s:s, s:o}", "rule", w->rule, "message", w->msg,
                                        "span", w->span.file ? span_json(&w->span) : json_null()));
    }
    for (size_t i = 0; i < b->ast->nwarnings; i++) {
        const struct df_warning *w = &b->ast->warnings[i];
        json_array_append_new(warnings, json_pack("{s:s, s:s, s:o}", "rule", w->rule, "message",
                                                  w->msg, "span", span_json(&w->span)));
    }
    return json_pack("{s:i, s:s, s:o, s:s, s:{s:s, s:s}, s:o, s:i, s:o, s:o}", "version",
                     DF_OUTLINE_VERSION, "file", b->ast->file, "directives", dirs, "escape",
                     b->ast->escape == '`' ? "`" : "\\", "platforms", "build",
                     img_platform_format(bp, sizeof bp, &b->build_platform), "target",
                     img_platform_format(tp, sizeof tp, &b->target_platform), "args", meta,
                     "target", (int)b->target, "stages", stages, "warnings", warnings);
}

/* ---- text ------------------------------------------------------------------------------------ */

static void
text_span(struct sw_buf *out, const struct sw_span *s)
{
    if (s->end_line > s->line)
        sw_buf_printf(out, "%u:%u-%u", s->line, s->col, s->end_line);
    else
        sw_buf_printf(out, "%u:%u", s->line, s->col);
}

int
df_outline_text(struct sw_buf *out, const struct df_build *b)
{
    char plat[128];
    sw_buf_printf(out, "%s: %zu stage%s, target ", b->ast->file, b->nstages,
                  b->nstages == 1 ? "" : "s");
    const struct df_stage *t = &b->stages[b->target];
    if (t->name)
        sw_buf_printf(out, "\"%s\" ", t->name);
    sw_buf_printf(out, "(stage %zu), platform %s\n", t->index,
                  img_platform_format(plat, sizeof plat, &b->target_platform));
    for (size_t i = 0; i < b->nmeta; i++) {
        const struct df_meta_arg *m = &b->meta[i];
        if (!m->span.file)
            continue;
        sw_buf_printf(out, "  ARG %s%s%s  (line %u)\n", m->key, m->value ? "=" : "",
                      m->value ? m->value : "", m->span.line);
    }
    for (size_t s = 0; s < b->nstages; s++) {
        const struct df_stage *st = &b->stages[s];
        sw_buf_printf(out, "\nstage %zu", st->index);
        if (st->name)
            sw_buf_printf(out, " \"%s\"", st->name);
        sw_buf_printf(out, ": FROM %s", st->from->u.from.base ? st->from->u.from.base : "");
        if (st->platform_set)
            sw_buf_printf(out, " (platform %s)",
                          img_platform_format(plat, sizeof plat, &st->platform));
        sw_buf_printf(out, "%s  [", st->needed ? "" : "  (not needed by the target)");
        text_span(out, &st->from->span);
        sw_buf_puts(out, "]\n");
        for (size_t k = 0; k < st->ninstrs; k++) {
            const struct df_instr *in = st->instrs[k];
            json_t *args = args_json(in);
            char *s2 = json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
            sw_buf_puts(out, "  ");
            size_t before = out->len;
            text_span(out, &in->span);
            while (out->len - before < 9)
                sw_buf_putc(out, ' ');
            sw_buf_printf(out, " %-11s %s%s\n", df_kind_name(in->kind), s2 ? s2 : "",
                          st->from_onbuild[k] ? "  (ONBUILD of the base stage)" : "");
            free(s2);
            json_decref(args);
        }
    }
    for (size_t i = 0; i < b->ast->nwarnings; i++)
        sw_buf_printf(out, "\n%s:%u: warning: %s (%s)", b->ast->file, b->ast->warnings[i].span.line,
                      b->ast->warnings[i].msg, b->ast->warnings[i].rule);
    for (size_t i = 0; i < b->nwarnings; i++) {
        const struct df_build_warning *w = &b->warnings[i];
        if (w->span.file)
            sw_buf_printf(out, "\n%s:%u:%u: warning: %s (%s)", w->span.file, w->span.line,
                          w->span.col, w->msg, w->rule);
        else
            sw_buf_printf(out, "\nwarning: %s (%s)", w->msg, w->rule);
    }
    if (b->nwarnings || b->ast->nwarnings)
        sw_buf_putc(out, '\n');
    return out->data ? 0 : -SW_ENOMEM;
}
