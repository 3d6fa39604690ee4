#include "plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *
plan_op_kind_name(enum plan_op_kind k)
{
    static const char *const names[] = {"scratch", "image", "oci-layout", "context",
                                        "copy",    "mkdir", "exec",       "config"};
    return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

int
plan_add_op(struct plan *p, struct plan_op *op, size_t *id, struct sw_error **err)
{
    struct plan_op *v = realloc(p->ops, (p->nops + 1) * sizeof *v);
    if (!v) {
        plan_op_clear(op);
        return sw_error_oom(err);
    }
    p->ops = v;
    op->id = p->nops;
    if (op->span.file)
        op->span.file = p->file;
    v[p->nops++] = *op;
    if (id)
        *id = op->id;
    return 0;
}

static void
free_inlines(struct plan_inline *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].data);
    }
    free(v);
}

void
plan_op_clear(struct plan_op *op)
{
    free(op->inputs);
    free(op->description);
    free(op->created_by);
    switch (op->kind) {
    case PLAN_IMAGE:
        free(op->u.image.ref);
        break;
    case PLAN_OCI_LAYOUT:
        free(op->u.layout.path);
        free(op->u.layout.tag);
        free(op->u.layout.digest);
        break;
    case PLAN_CONTEXT:
        free(op->u.context.dir);
        sw_strv_free(&op->u.context.ignore);
        break;
    case PLAN_COPY:
        sw_strv_free(&op->u.copy.srcs);
        free_inlines(op->u.copy.inlines, op->u.copy.ninlines);
        free(op->u.copy.dest);
        free(op->u.copy.chown);
        free(op->u.copy.chmod);
        sw_strv_free(&op->u.copy.excludes);
        free(op->u.copy.checksum);
        break;
    case PLAN_MKDIR:
        free(op->u.mkdir.path);
        break;
    case PLAN_EXEC:
        sw_strv_free(&op->u.exec.cmdline);
        sw_strv_free(&op->u.exec.args);
        free_inlines(op->u.exec.files, op->u.exec.nfiles);
        free(op->u.exec.chomp);
        for (size_t i = 0; i < op->u.exec.nmounts; i++) {
            struct plan_mount *m = &op->u.exec.mounts[i];
            free(m->source);
            free(m->target);
            free(m->id);
            free(m->env);
        }
        free(op->u.exec.mounts);
        break;
    case PLAN_CONFIG:
        for (size_t i = 0; i < op->u.config.npairs; i++) {
            free(op->u.config.pairs[i].key);
            free(op->u.config.pairs[i].value);
        }
        free(op->u.config.pairs);
        free(op->u.config.str);
        sw_strv_free(&op->u.config.list);
        break;
    case PLAN_SCRATCH:
        break;
    }
    memset(op, 0, sizeof *op);
}

void
plan_free(struct plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nops; i++)
        plan_op_clear(&p->ops[i]);
    free(p->ops);
    for (size_t i = 0; i < p->nstages; i++)
        free(p->stages[i].name);
    free(p->stages);
    free(p->file);
    free(p);
}
