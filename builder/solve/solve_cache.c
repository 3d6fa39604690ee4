/*
 * The layer cache in the solver: every op gets a key (cache/key.h) before it runs; a layer op
 * (COPY/ADD, WORKDIR, RUN) whose key has a record (cache/record.h) takes the recorded layer
 * instead of running, without extracting anything; a miss runs and records its result. With
 * --explain-cache a miss says what differs from the record an earlier build made at the same
 * step. The exact key fields are in docs/cache.md.
 */
#include "solve_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../cache/checksum.h"
#include "../../cache/key.h"
#include "../../cache/record.h"
#include "../../cache/statcache.h"
#include "../copy/copy.h"
#include "../util/cleanup.h"

/* ---- content checksums of what a step reads ------------------------------------------------- */

/* The stat cache of a directory (the context, or the snapshot root), opened once per build. */
static struct statcache *
statcache_for(struct solver *S, bool context, const char *dir)
{
    pthread_mutex_lock(&S->cache_lock);
    struct statcache **slot = context ? &S->ctx_sc : &S->snap_sc;
    if (!*slot) {
        sw_autofree char *file = NULL;
        if (statcache_file_path(&file, store_root(S->o->store), dir, NULL) == 0)
            (void)statcache_open(slot, file, NULL);
    }
    struct statcache *sc = *slot;
    pthread_mutex_unlock(&S->cache_lock);
    return sc;
}

/*
 * The checksum of the files a COPY or a bind mount selects from `src_state` (the context, or a
 * stage/image file system): the copy semantics list them (after .dockerignore and --exclude),
 * and every entry's path, type, mode, owner, link target, xattrs and bytes are hashed (never
 * mtime). *text gets the per-file list for the record.
 */
static int
source_checksum(struct solver *S, size_t src_op, bool is_context, const struct plan_copy *c,
                const char *workdir, struct sw_digest *out, char **text, struct sw_error **err)
{
    struct op_state *src_state = &S->states[src_op];
    struct plan_copy k = *c;
    k.chown = NULL; /* the --chown text is in the key; the listing is made before it applies */
    /* a stage whose layers (by diff_id: their exact content) were seen before: the same
     * selection of it has the same checksum */
    struct sw_digest memo = {0};
    if (!is_context) {
        struct cache_key mk = {0};
        int m = cache_key_add(&mk, "selection-of", "%zu layers", src_state->nlayers);
        for (size_t i = 0; m == 0 && i < src_state->nlayers; i++)
            m = cache_key_add(&mk, "diff-id", "%s", src_state->config->diff_ids[i].str);
        if (m == 0)
            m = cache_key_add_list(&mk, "src", &c->srcs);
        if (m == 0)
            m = cache_key_add_list(&mk, "exclude", &c->excludes);
        if (m == 0)
            m = cache_key_add(&mk, "how", "dest=%s workdir=%s parents=%d owners=%d perms=%d",
                              c->dest, workdir ? workdir : "", c->parents, c->keep_owner,
                              S->o->cache_normalize_perms);
        if (m == 0)
            m = cache_key_digest(&mk, &memo, NULL);
        cache_key_clear(&mk);
        if (m == 0 && cache_memo_get(S->o->store, &memo, out, text, NULL) == 0)
            return 0;
        if (m < 0)
            memo.str[0] = '\0';
    }
    struct copy_source src = {.is_context = is_context, .name = "build context"};
    struct view *v = NULL;
    int r = 0;
    const char *dir = NULL;
    if (is_context) {
        src.view = src_state->context;
        src.ignore = src_state->ignore;
        dir = S->p->ops[src_op].u.context.dir;
    } else {
        r = solve_state_view(S, src_state, &v, err);
        src.view = v;
        src.name = "a stage";
        dir = S->snap_root;
    }
    struct copy_target dst = {.workdir = workdir, .epoch = 0};
    struct copy_list items = {0};
    if (r == 0)
        r = copy_plan(&items, &k, &src, &dst, err);
    struct ck_file *files = calloc(items.n ? items.n : 1, sizeof *files);
    if (r == 0 && !files)
        r = sw_error_oom(err);
    for (size_t i = 0; r == 0 && i < items.n; i++) {
        const struct copy_item *it = &items.v[i];
        files[i] = (struct ck_file){.path = it->path,
                                    .mode = it->mode,
                                    .uid = it->uid,
                                    .gid = it->gid,
                                    .link = it->link,
                                    .source = it->source,
                                    .data = it->data,
                                    .data_len = it->data ? strlen(it->data) : 0};
    }
    struct ck_list list = {0};
    struct ck_opts co = {.normalize_perms = S->o->cache_normalize_perms, .with_xattrs = true};
    if (r == 0)
        r = ck_checksum(out, &list, files, items.n, &co,
                        dir ? statcache_for(S, is_context, dir) : NULL, err);
    struct sw_buf b = {0};
    if (r == 0 && text && ck_list_format(&list, &b, err) == 0)
        *text = sw_buf_detach(&b);
    sw_buf_free(&b);
    if (r == 0 && memo.str[0])
        (void)cache_memo_put(S->o->store, &memo, out, text ? *text : NULL, NULL);
    ck_list_free(&list);
    free(files);
    copy_list_free(&items);
    view_free(v);
    return r;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static const char *const kind_names[] = {
    [PLAN_SCRATCH] = "scratch", [PLAN_IMAGE] = "image",   [PLAN_OCI_LAYOUT] = "oci-layout",
    [PLAN_CONTEXT] = "context", [PLAN_COPY] = "copy",     [PLAN_MKDIR] = "workdir",
    [PLAN_EXEC] = "run",        [PLAN_CONFIG] = "config",
};

static int
key_config(struct cache_key *k, const struct plan_config_change *c)
{
    int r = cache_key_add(k, "change", "%d", (int)c->kind);
    for (size_t i = 0; r == 0 && i < c->npairs; i++)
        r = cache_key_add(k, "pair", "%s=%s", c->pairs[i].key, c->pairs[i].value);
    if (r == 0 && c->str)
        r = cache_key_add(k, "value", "%s", c->str);
    if (r == 0)
        r = cache_key_add_list(k, "list", &c->list);
    if (r == 0)
        r = cache_key_add(k, "form", "shell=%d nil=%d", c->shell, c->is_nil);
    if (r == 0 && c->kind == PLAN_CFG_HEALTHCHECK)
        r = cache_key_add(k, "health", "%lld %lld %lld %lld %d", (long long)c->interval,
                          (long long)c->timeout, (long long)c->start_period,
                          (long long)c->start_interval, c->retries);
    return r;
}

static int
key_copy(struct solver *S, const struct plan_op *op, struct op_state *out, struct cache_key *k,
         char **files, struct sw_error **err)
{
    const struct plan_copy *c = &op->u.copy;
    int r = cache_key_add(k, "instruction", "%s", c->add ? "ADD" : "COPY");
    if (r == 0)
        r = cache_key_add_list(k, "src", &c->srcs);
    for (size_t i = 0; r == 0 && i < c->ninlines; i++)
        r = cache_key_add(k, "heredoc", "%s %s", c->inlines[i].name, c->inlines[i].data);
    if (r == 0)
        r = cache_key_add(k, "dest", "%s (workdir %s)", c->dest,
                          out->config->working_dir ? out->config->working_dir : "");
    if (r == 0)
        r = cache_key_add(k, "options",
                          "chown=%s chmod=%s link=%d parents=%d unpack=%d checksum=%s",
                          c->chown ? c->chown : "", c->chmod ? c->chmod : "", c->link, c->parents,
                          c->unpack, c->checksum ? c->checksum : "");
    if (r == 0)
        r = cache_key_add_list(k, "exclude", &c->excludes);
    if (r < 0)
        return sw_error_oom(err);
    struct sw_digest sum;
    r = source_checksum(S, c->src_op, c->src_is_context, c, out->config->working_dir, &sum, files,
                        err);
    if (r == 0)
        r = cache_key_add(k, "from", "%s", c->src_is_context ? "context" : "stage") < 0 ||
                    cache_key_add(k, "files", "%s", sum.str) < 0
                ? sw_error_oom(err)
                : 0;
    return r;
}

static const char *const mount_types[] = {"bind", "cache", "tmpfs", "secret", "ssh"};

static int
key_exec(struct solver *S, const struct plan_op *op, const struct op_state *out,
         struct cache_key *k, char **files, struct sw_error **err)
{
    const struct plan_exec *e = &op->u.exec;
    enum plan_network net = e->network == PLAN_NET_DEFAULT ? S->o->network : e->network;
    /* what the command sees of the config in effect (also in the parent's key; here so that
     * --explain-cache can name it) */
    const struct img_config *cfg = out->config;
    int r = cache_key_add_list(k, "env", &cfg->env);
    if (r == 0)
        r = cache_key_add(k, "user", "%s", cfg->user ? cfg->user : "");
    if (r == 0)
        r = cache_key_add(k, "workdir", "%s", cfg->working_dir ? cfg->working_dir : "");
    if (r == 0)
        r = cache_key_add_list(k, "shell-form", &cfg->shell);
    if (r == 0)
        r = cache_key_add_list(k, "cmd", &e->cmdline);
    if (r == 0)
        r = cache_key_add(k, "shell", "%d", e->shell);
    /* the ARGs in scope reach the command as env (proxy args never enter a key) */
    if (r == 0)
        r = cache_key_add_list(k, "arg", &e->args);
    for (size_t i = 0; r == 0 && i < e->nfiles; i++)
        r = cache_key_add(k, "heredoc", "%s chomp=%d %s", e->files[i].name, e->chomp[i],
                          e->files[i].data);
    if (r == 0)
        r = cache_key_add(k, "network", "%s", net == PLAN_NET_NONE ? "none" : "host");
    if (r < 0)
        return sw_error_oom(err);
    /* mounts: what they are, never what a cache or a secret holds; a bind's files by content */
    struct sw_buf all = {0};
    for (size_t i = 0; r == 0 && i < e->nmounts; i++) {
        const struct plan_mount *m = &e->mounts[i];
        r = cache_key_add(k, "mount",
                          "type=%s target=%s ro=%d id=%s env=%s sharing=%d size=%lld mode=%o "
                          "uid=%u gid=%u required=%d",
                          mount_types[m->type], m->target ? m->target : "", m->readonly,
                          m->id ? m->id : "", m->env ? m->env : "", (int)m->sharing,
                          (long long)m->size, m->mode, m->uid, m->gid, m->required) < 0
                ? sw_error_oom(err)
                : 0;
        if (r < 0 || m->type != PLAN_MOUNT_BIND)
            continue;
        char *srcs[] = {m->source};
        /* the command sees the files' real owners */
        struct plan_copy c = {.dest = (char *)"/", .srcs = {.v = srcs, .n = 1}, .keep_owner = true};
        struct sw_digest sum;
        sw_autofree char *text = NULL;
        r = source_checksum(S, op->inputs[m->input], m->from_context, &c, "/", &sum, &text, err);
        if (r == 0 && (cache_key_add(k, "mount-files", "%s %s", m->source, sum.str) < 0 ||
                       sw_buf_printf(&all, "%s", text ? text : "") < 0))
            r = sw_error_oom(err);
    }
    if (r == 0 && all.len)
        *files = sw_buf_detach(&all);
    sw_buf_free(&all);
    return r;
}

/* Where an op is in its build file: the file, its stage and its position in the stage. */
static int
site_of(struct solver *S, const struct plan_op *op, struct sw_digest *out, struct sw_error **err)
{
    size_t pos = 0;
    for (const struct plan_op *o = op; o->ninputs && S->p->ops[o->inputs[0]].stage == op->stage;
         o = &S->p->ops[o->inputs[0]])
        pos++;
    const struct plan_stage *st = &S->p->stages[op->stage];
    char *text = NULL;
    if (asprintf(&text, "%s\n%s\n%zu\n%zu", S->p->file ? S->p->file : "", st->name ? st->name : "",
                 op->stage, pos) < 0)
        return sw_error_oom(err);
    int r = sw_digest_bytes(out, text, strlen(text), err);
    free(text);
    return r;
}

int
solve_cache_key(struct solver *S, const struct plan_op *op, struct op_state *out,
                struct solve_cache_step *cs, struct sw_error **err)
{
    struct cache_key *k = &cs->key;
    int r = cache_key_add(k, "kind", "%s", kind_names[op->kind]);
    if (r == 0 && op->ninputs) {
        const struct op_state *parent = &S->states[op->inputs[0]];
        r = cache_key_add(k, "parent", "%s", parent->keyed ? parent->key.str : "-");
    }
    bool layer = op->kind == PLAN_COPY || op->kind == PLAN_MKDIR || op->kind == PLAN_EXEC;
    if (r == 0 && layer)
        r = cache_key_add(k, "layer", "compression=%d level=%d epoch=%lld", (int)S->o->compression,
                          S->o->compression_level, (long long)S->o->source_date_epoch);
    if (r < 0)
        return sw_error_oom(err);
    switch (op->kind) {
    case PLAN_SCRATCH: {
        const struct img_platform *pl = &S->p->stages[op->stage].platform;
        r = cache_key_add(k, "platform", "%s/%s/%s", pl->os, pl->arch, pl->variant) < 0
                ? sw_error_oom(err)
                : 0;
        break;
    }
    case PLAN_IMAGE:
    case PLAN_OCI_LAYOUT:
        r = cache_key_add(k, "manifest", "%s", out->key.str) < 0 ? sw_error_oom(err) : 0;
        break;
    case PLAN_CONTEXT:
        return 0; /* not keyed: what a step reads from it is */
    case PLAN_COPY:
        r = key_copy(S, op, out, k, &cs->files, err);
        break;
    case PLAN_MKDIR:
        r = cache_key_add(k, "path", "%s (workdir %s, user %s)", op->u.mkdir.path,
                          out->config->working_dir ? out->config->working_dir : "",
                          out->config->user ? out->config->user : "") < 0
                ? sw_error_oom(err)
                : 0;
        break;
    case PLAN_EXEC:
        r = key_exec(S, op, out, k, &cs->files, err);
        break;
    case PLAN_CONFIG:
        r = key_config(k, &op->u.config) < 0 ? sw_error_oom(err) : 0;
        break;
    }
    if (r == 0)
        r = cache_key_digest(k, &out->key, err);
    if (r == 0)
        out->keyed = true;
    if (r == 0 && layer)
        r = site_of(S, op, &cs->site, err);
    return r;
}

/* ---- explain --------------------------------------------------------------------------------- */

static void say(struct solver *S, const struct plan_op *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(struct solver *S, const struct plan_op *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n >= 0 && S->o->progress)
        progress_step_log(S->o->progress, (unsigned)op->id + 1, "cache", text, (size_t)n);
    free(text);
}

struct diff_say {
    struct solver *S;
    const struct plan_op *op;
    unsigned n;
};

static int
say_file(const char *path, unsigned changes, const struct ck_entry *o, const struct ck_entry *n,
         void *payload)
{
    struct diff_say *d = payload;
    if (++d->n > 20) {
        if (d->n == 21)
            say(d->S, d->op, "cache miss:   ... (more files differ)\n");
        return 0;
    }
    if (changes & (CK_MODE | CK_OWNER) && o && n && !(changes & ~(CK_MODE | CK_OWNER)))
        say(d->S, d->op, "cache miss:   %s: %s (%04o %u:%u -> %04o %u:%u)\n", path,
            ck_change_name(changes), (unsigned)(o->mode & 07777), o->uid, o->gid,
            (unsigned)(n->mode & 07777), n->uid, n->gid);
    else
        say(d->S, d->op, "cache miss:   %s: %s\n", path, ck_change_name(changes));
    return 0;
}

static void
explain(struct solver *S, const struct plan_op *op, const struct solve_cache_step *cs)
{
    struct sw_digest prev;
    struct cache_record rec;
    if (cache_site_get(S->o->store, &cs->site, &prev, NULL) < 0 ||
        cache_record_get(S->o->store, &prev, &rec, NULL) < 0) {
        say(S, op, "cache miss: no earlier build recorded this step\n");
        return;
    }
    /* the key's lines that differ, except the files (listed below) and the parent */
    bool parent_changed = false, files_changed = false;
    unsigned shown = 0;
    for (size_t i = 0; i < cs->key.lines.n; i++) {
        const char *l = cs->key.lines.v[i];
        if (sw_strv_contains(&rec.def, l))
            continue;
        if (!strncmp(l, "parent ", 7)) {
            parent_changed = true;
        } else if (!strncmp(l, "files ", 6) || !strncmp(l, "mount-files ", 12)) {
            files_changed = true;
        } else {
            shown++;
            say(S, op, "cache miss: now     %s\n", l);
        }
    }
    for (size_t i = 0; i < rec.def.n; i++) {
        const char *l = rec.def.v[i];
        if (!sw_strv_contains(&cs->key.lines, l) && strncmp(l, "parent ", 7) &&
            strncmp(l, "files ", 6) && strncmp(l, "mount-files ", 12)) {
            shown++;
            say(S, op, "cache miss: before  %s\n", l);
        }
    }
    if (files_changed) {
        say(S, op, "cache miss: the files it reads changed:\n");
        sw_autofree char *old_text = NULL;
        struct ck_list ol = {0}, nl = {0};
        if (cache_record_files(S->o->store, &prev, &old_text, NULL) == 0 && old_text &&
            ck_list_parse(&ol, old_text, strlen(old_text), NULL) == 0 && cs->files &&
            ck_list_parse(&nl, cs->files, strlen(cs->files), NULL) == 0) {
            struct diff_say d = {.S = S, .op = op};
            ck_diff(&ol, &nl, say_file, &d, NULL);
        }
        ck_list_free(&ol);
        ck_list_free(&nl);
    }
    if (parent_changed && !shown && !files_changed)
        say(S, op, "cache miss: a step before it changed\n");
    else if (parent_changed)
        say(S, op, "cache miss: (a step before it changed too)\n");
    cache_record_clear(&rec);
}

/* ---- lookup and record ----------------------------------------------------------------------- */

int
solve_cache_lookup(struct solver *S, const struct plan_op *op, struct op_state *out,
                   struct solve_cache_step *cs, bool *hit, struct sw_error **err)
{
    *hit = false;
    bool filtered = false;
    for (size_t i = 0; i < S->o->nno_cache_filter && !filtered; i++) {
        const char *f = S->o->no_cache_filter[i];
        const struct plan_stage *st = &S->p->stages[op->stage];
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", op->stage);
        filtered = (st->name && !strcmp(st->name, f)) || !strcmp(idx, f);
    }
    if (S->o->no_cache || filtered)
        return 0;
    struct cache_record rec;
    if (cache_record_get(S->o->store, &out->key, &rec, NULL) < 0) {
        if (S->o->explain_cache)
            explain(S, op, cs);
        return 0;
    }
    /* a layer must still be in the store (a prune may have removed it) */
    uint64_t size = 0;
    if (!rec.empty_layer && (store_blob_size(S->o->store, &rec.layer_digest, &size, NULL) < 0 ||
                             size != rec.layer_size)) {
        if (S->o->explain_cache)
            say(S, op, "cache miss: the recorded layer %s is gone from the store\n",
                rec.layer_digest.str);
        cache_record_clear(&rec);
        return 0;
    }
    /* the time of the step when it was made (older records have only their own creation) */
    char made[64] = "";
    if (rec.history_created && img_time_valid(rec.history_created))
        snprintf(made, sizeof made, "%s", rec.history_created);
    else if (rec.created > 0)
        (void)img_time_format(made, sizeof made, rec.created, 0, NULL);
    int r;
    if (rec.empty_layer) {
        /* a WORKDIR that existed: no layer, a history entry */
        if (S->o->source_date_epoch < 0 && made[0])
            snprintf(out->time, sizeof out->time, "%s", made);
        r = img_config_add_history(out->config, solve_state_time(S, out, false), rec.created_by,
                                   IMG_HISTORY_COMMENT, true, err);
    } else {
        struct img_descriptor d = {.media_type = rec.layer_media_type,
                                   .digest = rec.layer_digest,
                                   .size = (int64_t)rec.layer_size};
        r = solve_state_add_layer_at(S, out, &d, &rec.diff_id, made, rec.created_by, err);
    }
    if (r == 0) {
        *hit = true;
        out->cached = true;
        cache_record_touch(S->o->store, &out->key);
    }
    cache_record_clear(&rec);
    return r;
}

int
solve_cache_record(struct solver *S, const struct plan_op *op, struct op_state *out,
                   struct solve_cache_step *cs, bool added_layer, struct sw_error **err)
{
    const struct img_config *cfg = out->config;
    if (!out->keyed || !cfg->nhistory || (added_layer && !out->nlayers))
        return 0;
    static const struct sw_digest none_digest;
    struct sw_digest none = none_digest;
    /* the op's own history entry is the last one */
    const char *created_by = cfg->history[cfg->nhistory - 1].created_by;
    const char *created = cfg->history[cfg->nhistory - 1].created;
    const struct img_descriptor *l = added_layer ? &out->layers[out->nlayers - 1] : NULL;
    char loc[4200] = "";
    if (op->span.file)
        snprintf(loc, sizeof loc, "%s:%u", op->span.file, op->span.line);
    struct cache_record rec = {
        .key = out->key,
        .kind = (char *)kind_names[op->kind],
        .description = op->description,
        .location = loc[0] ? loc : NULL,
        .created_by = (char *)created_by,
        .history_created = (char *)created,
        .empty_layer = !added_layer,
        .layer_media_type = l ? l->media_type : NULL,
        .layer_digest = l ? l->digest : none,
        .layer_size = l ? (uint64_t)l->size : 0,
        .diff_id = l ? cfg->diff_ids[cfg->ndiff_ids - 1] : none,
        .def = cs->key.lines,
        .created = (int64_t)time(NULL),
    };
    if (op->ninputs && S->states[op->inputs[0]].keyed)
        rec.parent = S->states[op->inputs[0]].key;
    return cache_record_put(S->o->store, &rec, cs->files, &cs->site, err);
}

void
solve_cache_step_clear(struct solve_cache_step *cs)
{
    cache_key_clear(&cs->key);
    free(cs->files);
    memset(cs, 0, sizeof *cs);
}

void
solve_cache_finish(struct solver *S)
{
    if (S->ctx_sc) {
        (void)statcache_save(S->ctx_sc, NULL);
        statcache_close(S->ctx_sc);
    }
    if (S->snap_sc) {
        (void)statcache_save(S->snap_sc, NULL);
        statcache_close(S->snap_sc);
    }
    S->ctx_sc = S->snap_sc = NULL;
}
