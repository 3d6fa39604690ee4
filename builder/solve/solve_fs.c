/*
 * The solver's file-system ops: views over layers (snapshots materialized on first use), COPY/ADD
 * layers streamed from their sources into the store, and WORKDIR's directory.
 */
#include "solve_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../copy/copy.h"
#include "../layer/extract.h"
#include "../snapshot/overlay.h"
#include "../snapshot/users.h"
#include "../util/cleanup.h"
#include "../util/fs.h"

/* ---- snapshots ---------------------------------------------------------------------------------
 */

/* The directory of a layer's snapshot: extracted once per diff_id, shared by every build. The
 * extraction goes to a temporary directory renamed into place, so a half-extracted snapshot is
 * never visible; two builds racing both extract and one rename wins. */
static int
materialize(struct solver *S, const struct img_descriptor *layer, const struct sw_digest *diff_id,
            char **out, struct sw_error **err)
{
    char *dir = NULL;
    if (asprintf(&dir, "%s/%s", S->snap_root, sw_digest_hex(diff_id)) < 0)
        return sw_error_oom(err);
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        *out = dir;
        return 0;
    }
    char *tmp = NULL, *blob = NULL;
    int r = 0;
    if (asprintf(&tmp, "%s/.tmp-%.12s-XXXXXX", S->snap_root, sw_digest_hex(diff_id)) < 0 ||
        !mkdtemp(tmp))
        r = sw_error_set(err, SW_EIO, errno, NULL, "creating a snapshot directory: %s",
                         strerror(errno));
    if (r == 0)
        r = store_blob_path(S->o->store, &layer->digest, &blob, err);
    /* as root (real or rootless), whiteouts the way overlayfs lowerdirs hold them (RUN mounts
     * these directories); otherwise .wh. markers (views read every format). Rootless with a
     * single-id map, owners other than 0 cannot be set: extraction skips them (files are 0's) */
    enum snap_format fmt = snap_format_current();
    struct layer_extract_opts xo = {.overlay_whiteouts = fmt != SNAP_FORMAT_MARKERS,
                                    .overlay_userxattr = fmt == SNAP_FORMAT_OVERLAY_USER,
                                    .keep_whiteouts = fmt == SNAP_FORMAT_MARKERS};
    struct layer_extract_result res;
    if (r == 0)
        r = layer_extract_file(blob, layer->media_type, tmp, &xo, &res, err);
    if (r == 0 && rename(tmp, dir) != 0) {
        if (errno == EEXIST || errno == ENOTEMPTY)
            sw_rmtree(tmp, NULL); /* another build made it first */
        else
            r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", dir, strerror(errno));
    }
    if (r < 0 && tmp)
        sw_rmtree(tmp, NULL);
    free(tmp);
    free(blob);
    if (r < 0) {
        free(dir);
        return sw_error_wrap(err, "unpacking layer %s", layer->digest.str);
    }
    *out = dir;
    return 0;
}

int
solve_state_snapshots(struct solver *S, struct op_state *st, struct sw_error **err)
{
    int r = 0;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; r == 0 && i < st->nlayers; i++)
        if (!st->snapshots[i])
            r = materialize(S, &st->layers[i], &st->config->diff_ids[i], &st->snapshots[i], err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int
solve_state_view(struct solver *S, struct op_state *st, struct view **out, struct sw_error **err)
{
    int r = solve_state_snapshots(S, st, err);
    if (r == 0)
        r = view_open(out, st->snapshots, st->nlayers, err);
    return r;
}

/* ---- writing a layer from copy items -------------------------------------------------------- */

static int
store_sink(void *ctx, const void *buf, size_t n, struct sw_error **err)
{
    return store_writer_write(ctx, buf, n, err);
}

int
solve_write_layer(struct solver *S,
                  int (*fill)(void *ctx, struct layer_writer *w, struct sw_error **err), void *ctx,
                  struct img_descriptor *desc, struct sw_digest *diff_id, struct sw_error **err)
{
    struct store_writer *sw = NULL;
    int r = store_writer_begin(S->o->store, &sw, err);
    if (r < 0)
        return r;
    struct layer_writer_opts lo = layer_writer_opts_default();
    lo.compression = S->o->compression;
    lo.level = S->o->compression_level;
    lo.source_date_epoch = S->o->source_date_epoch;
    struct layer_sink sink = {.write = store_sink, .ctx = sw};
    struct layer_writer *lw = NULL;
    r = layer_writer_new(&lw, &lo, &sink, err);
    if (r == 0)
        r = fill(ctx, lw, err);
    struct layer_result res;
    if (r == 0)
        r = layer_writer_finish(lw, &res, err);
    layer_writer_free(lw);
    struct sw_digest got;
    uint64_t size;
    if (r == 0)
        r = store_writer_commit(sw, &res.digest, &got, &size, err);
    else
        store_writer_abort(sw);
    if (r == 0) {
        *diff_id = res.diff_id;
        r = img_descriptor_init(desc, res.media_type, &res.digest, (int64_t)res.size, err);
    }
    return r;
}

/* The copy items as layer entries. */
static int
fill_items(void *ctx, struct layer_writer *lw, struct sw_error **err)
{
    const struct copy_list *items = ctx;
    int r = 0;
    for (size_t i = 0; r == 0 && i < items->n; i++) {
        const struct copy_item *it = &items->v[i];
        struct layer_entry e = {
            .path = it->path,
            .type = layer_entry_type_from_mode(it->mode),
            .mode = it->mode & 07777,
            .uid = it->uid,
            .gid = it->gid,
            .mtime_sec = it->mtime.tv_sec,
            .mtime_nsec = (uint32_t)it->mtime.tv_nsec,
            .size = it->size,
            .link_target = it->link,
            .src_dev = it->dev,
            .src_ino = it->nlink > 1 ? it->ino : 0,
        };
        if (it->data)
            e.source = (struct layer_source){.kind = LAYER_SOURCE_BUF, .data = it->data};
        else if (it->source && it->size)
            e.source = (struct layer_source){.kind = LAYER_SOURCE_PATH, .path = it->source};
        r = layer_writer_add(lw, &e, err);
    }
    return r;
}

static int
write_layer(struct solver *S, const struct copy_list *items, struct img_descriptor *desc,
            struct sw_digest *diff_id, struct sw_error **err)
{
    return solve_write_layer(S, fill_items, (void *)items, desc, diff_id, err);
}

/* ---- COPY / ADD -------------------------------------------------------------------------------
 */

static int
copy_history(const struct plan_op *op, char **out, struct sw_error **err)
{
    const struct plan_copy *c = &op->u.copy;
    const char **heredocs = calloc(c->ninlines + 1, sizeof *heredocs);
    if (!heredocs)
        return sw_error_oom(err);
    for (size_t i = 0; i < c->ninlines; i++)
        heredocs[i] = c->inlines[i].name;
    struct img_hist_step s = {
        .kind = c->add ? IMG_HIST_ADD : IMG_HIST_COPY,
        .words = (const char *const *)c->srcs.v,
        .nwords = c->srcs.n,
        .value = c->dest,
        .parents = c->parents,
        .chown = c->chown,
        .chmod = c->chmod,
        .heredocs = heredocs,
        .nheredocs = c->ninlines,
    };
    int r = img_history_created_by(out, &s, err);
    free(heredocs);
    return r;
}

const char *
solve_source_name(struct solver *S, size_t src_op, bool is_context, char *buf, size_t n)
{
    if (is_context)
        return "build context";
    const struct plan_op *src = &S->p->ops[src_op];
    if (src->stage < S->p->nstages && S->p->stages[src->stage].name &&
        S->p->stages[src->stage].last_op == src_op)
        snprintf(buf, n, "stage %s", S->p->stages[src->stage].name);
    else if (src->kind == PLAN_IMAGE)
        snprintf(buf, n, "image %s", src->u.image.ref);
    else
        snprintf(buf, n, "stage %zu", src->stage);
    return buf;
}

int
solve_copy(struct solver *S, const struct plan_op *op, struct op_state *out, struct sw_error **err)
{
    const struct plan_copy *c = &op->u.copy;
    struct op_state *src_state = &S->states[c->src_op];
    struct view *src_view = NULL, *dst_view = NULL;
    char namebuf[256];
    struct copy_source src = {
        .is_context = c->src_is_context,
        .name = solve_source_name(S, c->src_op, c->src_is_context, namebuf, sizeof namebuf)};
    int r = 0;
    if (c->src_is_context) {
        src.view = src_state->context;
        src.ignore = src_state->ignore;
    } else {
        r = solve_state_view(S, src_state, &src_view, err);
        src.view = src_view;
    }
    if (r == 0)
        r = solve_state_view(S, out, &dst_view, err);
    struct users_ids ids = {0};
    if (r == 0 && c->chown)
        r = users_resolve(&ids, dst_view, c->chown, err);
    sw_autofree char *tmpdir = NULL;
    if (r == 0 && asprintf(&tmpdir, "%s/op-%zu", S->o->work_dir, op->id) < 0)
        r = sw_error_oom(err);
    struct copy_target dst = {
        .view = c->link ? NULL : dst_view,
        .workdir = out->config->working_dir,
        .uid = ids.uid,
        .gid = ids.gid,
        .epoch = S->o->source_date_epoch >= 0 ? S->o->source_date_epoch : S->created_sec,
        .tmpdir = tmpdir,
    };
    struct copy_list items = {0};
    if (r == 0)
        r = copy_plan(&items, c, &src, &dst, err);
    struct img_descriptor desc = {0};
    struct sw_digest diff_id;
    sw_autofree char *created_by = NULL;
    if (r == 0)
        r = write_layer(S, &items, &desc, &diff_id, err);
    if (r == 0)
        r = copy_history(op, &created_by, err);
    if (r == 0)
        r = solve_state_add_layer(S, out, &desc, &diff_id, created_by, err);
    img_descriptor_clear(&desc);
    copy_list_free(&items);
    users_ids_clear(&ids);
    view_free(src_view);
    view_free(dst_view);
    return r;
}

/* ---- WORKDIR ----------------------------------------------------------------------------------
 */

int
solve_workdir_set(struct solver *S, const struct plan_op *op, struct op_state *out,
                  struct sw_error **err)
{
    (void)S;
    const char *wd =
        out->config->working_dir && *out->config->working_dir ? out->config->working_dir : "/";
    char *joined = NULL;
    if (asprintf(&joined, "%s/%s", op->u.mkdir.path[0] == '/' ? "" : wd, op->u.mkdir.path) < 0)
        return sw_error_oom(err);
    char *path = view_clean_path(joined);
    free(joined);
    if (!path)
        return sw_error_oom(err);
    free(out->config->working_dir);
    out->config->working_dir = path;
    return 0;
}

int
solve_mkdir(struct solver *S, const struct plan_op *op, struct op_state *out, struct sw_error **err)
{
    const char *path = out->config->working_dir; /* solve_workdir_set made it absolute */
    struct img_hist_step hs = {.kind = IMG_HIST_WORKDIR, .value = path};
    sw_autofree char *created_by = NULL;
    int r = img_history_created_by(&created_by, &hs, err);
    struct view *v = NULL;
    if (r == 0)
        r = solve_state_view(S, out, &v, err);
    struct view_entry e;
    struct sw_error *missing = NULL;
    bool exists = r == 0 && view_resolve(v, path, true, &e, &missing) == 0;
    sw_error_free(missing);
    if (exists) {
        bool dir = S_ISDIR(e.st.st_mode);
        view_entry_clear(&e);
        view_free(v);
        if (!dir)
            return sw_error_set(err, SW_EINVAL, ENOTDIR, &op->span,
                                "WORKDIR %s: the path exists and is not a directory", path);
        return img_config_add_history(out->config, solve_state_time(S, out, false), created_by,
                                      IMG_HISTORY_COMMENT, true, err);
    }
    /* create it (through symlinks, owned by the USER in effect): an empty COPY into "path/" */
    struct users_ids ids = {0};
    if (r == 0)
        r = users_resolve(&ids, v, out->config->user, err);
    char *dest = NULL;
    if (r == 0 && asprintf(&dest, "%s/", path) < 0)
        r = sw_error_oom(err);
    struct plan_copy c = {.dest = dest};
    struct copy_source src = {.view = v, .name = "WORKDIR"};
    struct copy_target dst = {.view = v,
                              .uid = ids.uid,
                              .gid = ids.gid,
                              .epoch = S->o->source_date_epoch >= 0 ? S->o->source_date_epoch
                                                                    : S->created_sec};
    struct copy_list items = {0};
    if (r == 0)
        r = copy_plan(&items, &c, &src, &dst, err);
    struct img_descriptor desc = {0};
    struct sw_digest diff_id;
    if (r == 0)
        r = write_layer(S, &items, &desc, &diff_id, err);
    if (r == 0)
        r = solve_state_add_layer(S, out, &desc, &diff_id, created_by, err);
    img_descriptor_clear(&desc);
    copy_list_free(&items);
    users_ids_clear(&ids);
    free(dest);
    view_free(v);
    return r;
}
