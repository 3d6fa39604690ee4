/*
 * builder/export/export.c: the exporters (export.h): OCI layout directory and tar, docker
 * archive, local directory, root file system tar.
 */
#include "export/export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "export/export_internal.h"
#include "layer/extract.h"
#include "layer/writer.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define MAX_INDEX_DEPTH 4

/* ---- the blobs of an image ----------------------------------------------------------------------
 */

struct blob {
    struct sw_digest digest;
    uint64_t size;
};

struct blobset {
    struct blob *v;
    size_t n, cap;
};

static bool
blobset_has(const struct blobset *s, const struct sw_digest *d)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].digest.str, d->str))
            return true;
    return false;
}

static int
blobset_add(struct blobset *s, const struct sw_digest *d, uint64_t size, struct sw_error **err)
{
    if (blobset_has(s, d))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct blob *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return sw_error_oom(err);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (struct blob){*d, size};
    return 0;
}

static bool
is_index_type(const char *mt)
{
    const char *o = img_media_type_to_oci(mt);
    return !strcmp(o, IMG_MT_OCI_INDEX);
}

static bool
is_manifest_type(const char *mt)
{
    const char *o = img_media_type_to_oci(mt);
    return !strcmp(o, IMG_MT_OCI_MANIFEST);
}

/* The blob must be in the store with the descriptor's size. */
static int
check_blob(struct store *st, const struct sw_digest *d, int64_t size, const char *what,
           struct sw_error **err)
{
    uint64_t have = 0;
    int r = store_blob_size(st, d, &have, err);
    if (r < 0)
        return sw_error_wrap(err, "%s", what);
    if (size < 0 || have != (uint64_t)size)
        return sw_error_set(err, SW_EIO, 0, NULL,
                            "%s %s: the store has %llu bytes, the descriptor says %lld", what,
                            d->str, (unsigned long long)have, (long long)size);
    return 0;
}

/* Read and parse the manifest of a descriptor (which must be an image manifest). */
static int
load_manifest(struct store *st, const struct img_descriptor *desc, struct img_manifest *out,
              struct sw_error **err)
{
    if (!desc->media_type || !is_manifest_type(desc->media_type))
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                            "image %s (%s) is not a single-platform image manifest: pick a "
                            "platform to export",
                            desc->digest.str, desc->media_type ? desc->media_type : "blob");
    int r = check_blob(st, &desc->digest, desc->size, "image manifest", err);
    if (r < 0)
        return r;
    sw_autofree void *data = NULL;
    size_t len = 0;
    if ((r = store_blob_read(st, &desc->digest, EXP_DOC_MAX, &data, &len, err)) < 0)
        return r;
    if ((r = img_manifest_parse(out, data, len, err)) < 0)
        return sw_error_wrap(err, "image manifest %s", desc->digest.str);
    return 0;
}

static int collect(struct store *st, const char *media_type, const struct sw_digest *d,
                   int64_t size, struct blobset *out, int depth, struct sw_error **err);

static int
collect_manifest(struct store *st, const struct img_manifest *m, struct blobset *out,
                 struct sw_error **err)
{
    int r = check_blob(st, &m->config.digest, m->config.size, "image config", err);
    if (r < 0 || (r = blobset_add(out, &m->config.digest, (uint64_t)m->config.size, err)) < 0)
        return r;
    for (size_t i = 0; i < m->nlayers; i++) {
        const struct img_descriptor *l = &m->layers[i];
        /* Foreign (non-distributable) layers live at their URLs, not in the store. */
        if (l->urls.n && !store_blob_exists(st, &l->digest))
            continue;
        if ((r = check_blob(st, &l->digest, l->size, "layer", err)) < 0 ||
            (r = blobset_add(out, &l->digest, (uint64_t)l->size, err)) < 0)
            return r;
    }
    return 0;
}

static int
collect(struct store *st, const char *media_type, const struct sw_digest *d, int64_t size,
        struct blobset *out, int depth, struct sw_error **err)
{
    if (depth > MAX_INDEX_DEPTH)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "image index %s: indexes nested too deeply",
                            d->str);
    bool index = media_type && is_index_type(media_type);
    if (!index && (!media_type || !is_manifest_type(media_type)))
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                            "%s: cannot export a %s (an image manifest or index is needed)", d->str,
                            media_type ? media_type : "blob without media type");
    int r = check_blob(st, d, size, index ? "image index" : "image manifest", err);
    if (r < 0 || (r = blobset_add(out, d, (uint64_t)size, err)) < 0)
        return r;
    sw_autofree void *data = NULL;
    size_t len = 0;
    if ((r = store_blob_read(st, d, EXP_DOC_MAX, &data, &len, err)) < 0)
        return r;
    if (!index) {
        struct img_manifest m = {0};
        if ((r = img_manifest_parse(&m, data, len, err)) < 0)
            return sw_error_wrap(err, "image manifest %s", d->str);
        r = collect_manifest(st, &m, out, err);
        img_manifest_clear(&m);
        return r;
    }
    struct img_index ix = {0};
    if ((r = img_index_parse(&ix, data, len, err)) < 0)
        return sw_error_wrap(err, "image index %s", d->str);
    for (size_t i = 0; r == 0 && i < ix.nmanifests; i++)
        r = collect(st, ix.manifests[i].media_type, &ix.manifests[i].digest, ix.manifests[i].size,
                    out, depth + 1, err);
    img_index_clear(&ix);
    return r;
}

/* ---- index.json ---------------------------------------------------------------------------------
 */

struct entries {
    struct img_descriptor *v;
    size_t n;
};

static void
entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++)
        img_descriptor_clear(&e->v[i]);
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

/* One index.json entry per distinct name (see export.h), or one without names. */
static int
make_entries(const struct export_image *img, const struct img_descriptor *desc, struct entries *out,
             struct sw_error **err)
{
    size_t cap = img->nnames ? img->nnames : 1;
    out->v = calloc(cap, sizeof *out->v);
    if (!out->v)
        return sw_error_oom(err);
    int r = 0;
    for (size_t i = 0; r == 0 && i < cap; i++) {
        sw_autofree char *full = NULL, *tag = NULL;
        if (img->nnames && (r = exp_name_forms(img->names[i], &full, &tag, NULL, err)) < 0)
            break;
        bool dup = false;
        for (size_t j = 0; full && j < out->n; j++) {
            const char *o = img_strmap_get(&out->v[j].annotations, STORE_ANN_CONTAINERD_NAME);
            dup = dup || (o && !strcmp(o, full));
        }
        if (dup)
            continue;
        struct img_descriptor *e = &out->v[out->n];
        if ((r = img_descriptor_copy(e, desc, err)) < 0)
            break;
        out->n++;
        img_strmap_del(&e->annotations, STORE_ANN_CONTAINERD_NAME);
        img_strmap_del(&e->annotations, STORE_ANN_REF_NAME);
        if (full && (img_strmap_set(&e->annotations, STORE_ANN_CONTAINERD_NAME, full) < 0 ||
                     img_strmap_set(&e->annotations, STORE_ANN_REF_NAME, tag) < 0))
            r = sw_error_oom(err);
    }
    if (r < 0)
        entries_free(out);
    return r;
}

static int
index_json(const struct entries *en, char **out, size_t *len, struct sw_error **err)
{
    struct img_index ix = {0};
    int r = img_index_init(&ix, err);
    for (size_t i = 0; r == 0 && i < en->n; i++)
        r = img_index_add(&ix, &en->v[i], err);
    if (r == 0)
        r = img_index_to_json(out, len, &ix, err);
    img_index_clear(&ix);
    return r;
}

/* ---- common checks ------------------------------------------------------------------------------
 */

static int
check_image(const struct export_image *img, struct sw_error **err)
{
    if (!img || !img->store || !img->manifest.media_type ||
        !sw_digest_valid(img->manifest.digest.str) || img->manifest.size < 0 ||
        (img->nnames && !img->names))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "export: incomplete image description");
    for (size_t i = 0; i < img->nnames; i++) {
        int r = exp_name_forms(img->names[i], NULL, NULL, NULL, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static char *
blob_tar_path(const struct sw_digest *d)
{
    char *p = NULL;
    return asprintf(&p, "blobs/sha256/%s", sw_digest_hex(d)) < 0 ? NULL : p;
}

/* Write the tar atomically: a temporary file next to dest, renamed when complete. */
static int
write_tar_file(struct exp_tar *t, const char *dest, int64_t mtime, struct sw_error **err)
{
    sw_autofree char *dir = NULL, *base = NULL, *tmp = NULL;
    int r = exp_split_dest(dest, &dir, &base, err);
    if (r < 0)
        return r;
    int fd = -1;
    if ((r = exp_temp_file(dir, base, &tmp, &fd, err)) < 0)
        return sw_error_wrap(err, "writing %s", dest);
    if ((r = exp_tar_write(t, fd, mtime, err)) < 0) {
        close(fd);
        unlink(tmp);
        return sw_error_wrap(err, "writing %s", dest);
    }
    return exp_commit_file(fd, tmp, dest, dir, err);
}

/* Add every blob of the set to the tar, read from the store's files. */
static int
tar_add_blobs(struct exp_tar *t, struct store *st, const struct blobset *bs, struct sw_error **err)
{
    for (size_t i = 0; i < bs->n; i++) {
        sw_autofree char *src = NULL;
        sw_autofree char *path = blob_tar_path(&bs->v[i].digest);
        if (!path)
            return sw_error_oom(err);
        int r = store_blob_path(st, &bs->v[i].digest, &src, err);
        if (r < 0 || (r = exp_tar_add_file(t, path, src, bs->v[i].size, err)) < 0)
            return r;
    }
    return 0;
}

/* ---- OCI layout
 * -----------------------------------------------------------------------------------
 */

static int
put_blobs_dir(struct store *st, const struct blobset *bs, const char *layout, struct sw_error **err)
{
    sw_autofree char *blobdir = NULL;
    if (asprintf(&blobdir, "%s/blobs/sha256", layout) < 0)
        return sw_error_oom(err);
    int r = sw_mkdir_p(blobdir, 0755, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < bs->n; i++) {
        sw_autofree char *src = NULL, *dst = NULL;
        if (asprintf(&dst, "%s/%s", blobdir, sw_digest_hex(&bs->v[i].digest)) < 0)
            return sw_error_oom(err);
        if ((r = store_blob_path(st, &bs->v[i].digest, &src, err)) < 0)
            return r;
        struct stat sb;
        if (lstat(dst, &sb) == 0) {
            if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != bs->v[i].size)
                return sw_error_set(err, SW_EIO, 0, NULL,
                                    "%s exists but is not the blob it names (%llu bytes expected)",
                                    dst, (unsigned long long)bs->v[i].size);
            continue;
        }
        if ((r = exp_link_or_copy(src, dst, err)) < 0)
            return r;
    }
    return 0;
}

static int
write_layout_text(const char *layout, const char *name, const char *data, size_t len,
                  struct sw_error **err)
{
    sw_autofree char *p = NULL;
    if (asprintf(&p, "%s/%s", layout, name) < 0)
        return sw_error_oom(err);
    return exp_write_file(p, data, len, err);
}

/* Does an existing index.json entry give way to a new one? */
static bool
entry_replaced(json_t *old, const struct img_descriptor *e)
{
    json_t *ann = json_object_get(old, "annotations");
    const char *oc = json_string_value(json_object_get(ann, STORE_ANN_CONTAINERD_NAME));
    const char *orf = json_string_value(json_object_get(ann, STORE_ANN_REF_NAME));
    const char *nc = img_strmap_get(&e->annotations, STORE_ANN_CONTAINERD_NAME);
    const char *nrf = img_strmap_get(&e->annotations, STORE_ANN_REF_NAME);
    if (oc)
        return nc && !strcmp(oc, nc);
    if (orf)
        return nrf && !strcmp(orf, nrf);
    /* An unnamed entry: replaced by an unnamed entry for the same digest. */
    const char *od = json_string_value(json_object_get(old, "digest"));
    return !nc && !nrf && od && !strcmp(od, e->digest.str);
}

static int
merge_index(const char *layout, const struct entries *en, struct sw_error **err)
{
    sw_autofree char *path = NULL;
    if (asprintf(&path, "%s/index.json", layout) < 0)
        return sw_error_oom(err);
    json_t *ix = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if ((uint64_t)sb.st_size > EXP_DOC_MAX)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "%s is larger than 4 MiB", path);
        json_error_t je;
        ix = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!ix)
            return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: %s (line %d)", path, je.text,
                                je.line);
    } else if (errno == ENOENT) {
        ix = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", IMG_MT_OCI_INDEX,
                       "manifests");
        if (!ix)
            return sw_error_oom(err);
    } else {
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", path, strerror(errno));
    }
    json_t *list = json_object_get(ix, "manifests");
    int r = 0;
    if (!json_is_object(ix) || (list && !json_is_array(list))) {
        r = sw_error_set(err, SW_EPARSE, 0, NULL, "%s: not an OCI image index", path);
    } else if (!list) {
        list = json_array();
        if (!list || json_object_set_new(ix, "manifests", list) < 0)
            r = sw_error_oom(err);
    }
    for (size_t i = 0; r == 0 && i < en->n; i++) {
        for (size_t j = json_array_size(list); j-- > 0;)
            if (entry_replaced(json_array_get(list, j), &en->v[i]))
                json_array_remove(list, j);
    }
    for (size_t i = 0; r == 0 && i < en->n; i++) {
        sw_autofree char *s = NULL;
        size_t len = 0;
        if ((r = img_descriptor_to_json(&s, &len, &en->v[i], err)) < 0)
            break;
        json_t *d = json_loadb(s, len, 0, NULL);
        if (!d || json_array_append_new(list, d) < 0)
            r = sw_error_oom(err);
    }
    char *text = r == 0 ? json_dumps(ix, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(ix);
    if (r == 0 && !text)
        r = sw_error_oom(err);
    if (r == 0)
        r = exp_write_file(path, text, strlen(text), err);
    free(text);
    return r;
}

/* Add the image to an existing OCI layout. */
static int
oci_merge(struct store *st, const char *dest, const struct blobset *bs, const struct entries *en,
          struct sw_error **err)
{
    sw_autofree char *lp = NULL;
    if (asprintf(&lp, "%s/oci-layout", dest) < 0)
        return sw_error_oom(err);
    json_error_t je;
    json_t *layout = json_load_file(lp, 0, &je);
    const char *ver = json_string_value(json_object_get(layout, "imageLayoutVersion"));
    bool ok = ver && !strncmp(ver, "1.", 2);
    json_decref(layout);
    if (!ok)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "%s: not an OCI image layout with imageLayoutVersion 1.x", lp);
    int r = put_blobs_dir(st, bs, dest, err);
    if (r == 0)
        r = merge_index(dest, en, err);
    return r;
}

static int
oci_fresh_dir(struct store *st, const char *dest, const struct blobset *bs, const char *index,
              size_t index_len, struct sw_error **err)
{
    sw_autofree char *dir = NULL, *base = NULL, *tmp = NULL;
    int r = exp_split_dest(dest, &dir, &base, err);
    if (r < 0 || (r = exp_temp_dir(dir, base, &tmp, err)) < 0)
        return r;
    if (chmod(tmp, 0755) < 0)
        r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", tmp, strerror(errno));
    if (r == 0)
        r = put_blobs_dir(st, bs, tmp, err);
    if (r == 0)
        r = write_layout_text(tmp, "oci-layout", EXP_OCI_LAYOUT, strlen(EXP_OCI_LAYOUT), err);
    if (r == 0)
        r = write_layout_text(tmp, "index.json", index, index_len, err);
    /* rename(2) replaces an empty directory, so an existing empty dest is fine. */
    if (r == 0 && rename(tmp, dest) < 0)
        r = sw_error_set(err, SW_EIO, errno, NULL, "cannot create %s: %s", dest, strerror(errno));
    if (r == 0)
        return exp_fsync_dir(dir, err);
    sw_rmtree(tmp, NULL);
    return r;
}

static int
do_export_oci(const struct export_image *img, const char *dest, bool as_tar, struct sw_error **err)
{
    struct blobset bs = {0};
    struct entries en = {0};
    struct exp_tar t = {0};
    sw_autofree char *index = NULL;
    size_t index_len = 0;
    const struct img_descriptor *m = &img->manifest;
    int r = collect(img->store, m->media_type, &m->digest, m->size, &bs, 0, err);
    if (r == 0)
        r = make_entries(img, m, &en, err);
    if (r == 0)
        r = index_json(&en, &index, &index_len, err);
    if (r == 0 && as_tar) {
        if ((r = exp_tar_add_data(&t, "oci-layout", EXP_OCI_LAYOUT, strlen(EXP_OCI_LAYOUT), err)) ==
                0 &&
            (r = exp_tar_add_data(&t, "index.json", index, index_len, err)) == 0 &&
            (r = tar_add_blobs(&t, img->store, &bs, err)) == 0)
            r = write_tar_file(&t, dest, img->source_date_epoch, err);
    } else if (r == 0) {
        enum exp_path_state state;
        if ((r = exp_path_state(dest, &state, err)) < 0) {
        } else if (state == EXP_PATH_ABSENT || state == EXP_PATH_EMPTY_DIR) {
            r = oci_fresh_dir(img->store, dest, &bs, index, index_len, err);
        } else if (state == EXP_PATH_DIR) {
            sw_autofree char *lp = NULL;
            if (asprintf(&lp, "%s/oci-layout", dest) < 0)
                r = sw_error_oom(err);
            else if (access(lp, F_OK) == 0)
                r = oci_merge(img->store, dest, &bs, &en, err);
            else
                r = sw_error_set(err, SW_EEXIST, EEXIST, NULL,
                                 "%s exists and is neither empty nor an OCI image layout", dest);
        } else {
            r = sw_error_set(err, SW_EEXIST, EEXIST, NULL, "%s exists and is not a directory",
                             dest);
        }
    }
    exp_tar_free(&t);
    entries_free(&en);
    free(bs.v);
    return r;
}

int
export_oci(const struct export_image *img, const char *dest, bool as_tar, struct sw_error **err)
{
    int r = check_image(img, err);
    if (r < 0)
        return r;
    size_t n = dest ? strlen(dest) : 0;
    if (n > 4 && !strcmp(dest + n - 4, ".tar"))
        as_tar = true;
    struct store_lock *lock = NULL;
    if ((r = store_build_lock(img->store, &lock, err)) < 0)
        return r;
    r = do_export_oci(img, dest, as_tar, err);
    store_build_unlock(lock);
    if (r < 0)
        return sw_error_wrap(err, "exporting the OCI layout %s", dest ? dest : "");
    return 0;
}

/* ---- docker archive
 * -------------------------------------------------------------------------------
 */

/* The config's rootfs.diff_ids, which must be one per layer. */
static int
read_diff_ids(struct store *st, const struct img_manifest *m, struct sw_digest **out,
              struct sw_error **err)
{
    json_t *cfg = NULL;
    int r = store_json_read(st, &m->config.digest, EXP_DOC_MAX, &cfg, err);
    if (r < 0)
        return r;
    json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_array(ids) || json_array_size(ids) != m->nlayers) {
        json_decref(cfg);
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "image config %s: rootfs.diff_ids does not list one diff_id per layer "
                            "(%zu layers)",
                            m->config.digest.str, m->nlayers);
    }
    struct sw_digest *v = calloc(m->nlayers ? m->nlayers : 1, sizeof *v);
    if (!v) {
        json_decref(cfg);
        return sw_error_oom(err);
    }
    for (size_t i = 0; r == 0 && i < m->nlayers; i++) {
        const char *s = json_string_value(json_array_get(ids, i));
        if ((r = sw_digest_parse(&v[i], s ? s : "", err)) < 0)
            sw_error_wrap(err, "image config %s: rootfs.diff_ids[%zu]", m->config.digest.str, i);
    }
    json_decref(cfg);
    if (r < 0) {
        free(v);
        return r;
    }
    *out = v;
    return 0;
}

struct docker_job {
    const struct export_image *img;
    char *dir, *base;
    struct sw_strv temps; /* decompressed layers, removed at the end */
    struct exp_tar tar;
    json_t *layers; /* manifest.json Layers */
    struct img_manifest m;
    struct sw_digest *diff_ids;
    bool converted;
};

/* A zstd layer: decompress it into a temporary file and check its diff_id. */
static int
docker_unzstd(struct docker_job *j, size_t i, struct sw_error **err)
{
    struct img_descriptor *l = &j->m.layers[i];
    sw_autoclose int in = -1;
    int r = store_blob_open(j->img->store, &l->digest, &in, NULL, err);
    if (r < 0)
        return r;
    char *tmp = NULL;
    int fd = -1;
    if ((r = exp_temp_file(j->dir, j->base, &tmp, &fd, err)) < 0)
        return r;
    if (sw_strv_push_owned(&j->temps, tmp) < 0) {
        close(fd);
        unlink(tmp);
        return sw_error_oom(err);
    }
    struct sw_digest diff;
    uint64_t size = 0;
    r = exp_decompress(in, fd, &diff, &size, NULL, err);
    if (close(fd) < 0 && r == 0)
        r = sw_error_set(err, SW_EIO, errno, NULL, "writing %s: %s", tmp, strerror(errno));
    if (r < 0)
        return sw_error_wrap(err, "layer %s", l->digest.str);
    if (strcmp(diff.str, j->diff_ids[i].str))
        return sw_error_set(err, SW_EIO, 0, NULL,
                            "layer %s decompresses to %s, but the config's diff_id is %s",
                            l->digest.str, diff.str, j->diff_ids[i].str);
    sw_autofree char *path = blob_tar_path(&diff);
    if (!path)
        return sw_error_oom(err);
    if ((r = exp_tar_add_file(&j->tar, path, tmp, size, err)) < 0)
        return r;
    if (json_array_append_new(j->layers, json_string(path)) < 0)
        return sw_error_oom(err);
    /* The archive's own manifest now names the plain tar. */
    free(l->media_type);
    l->media_type = strdup(IMG_MT_OCI_LAYER);
    l->digest = diff;
    l->size = (int64_t)size;
    img_strmap_free(&l->annotations);
    j->converted = true;
    return l->media_type ? 0 : sw_error_oom(err);
}

static int
docker_layers(struct docker_job *j, struct sw_error **err)
{
    struct store *st = j->img->store;
    int r = 0;
    for (size_t i = 0; r == 0 && i < j->m.nlayers; i++) {
        struct img_descriptor *l = &j->m.layers[i];
        const char *mt = img_media_type_to_oci(l->media_type);
        if ((r = check_blob(st, &l->digest, l->size, "layer", err)) < 0)
            return r;
        if (!strcmp(mt, IMG_MT_OCI_LAYER_ZSTD)) {
            r = docker_unzstd(j, i, err);
            continue;
        }
        if (strcmp(mt, IMG_MT_OCI_LAYER) && strcmp(mt, IMG_MT_OCI_LAYER_GZIP) &&
            strcmp(mt, IMG_MT_OCI_LAYER_ND) && strcmp(mt, IMG_MT_OCI_LAYER_ND_GZIP))
            return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                                "layer %s has media type %s, which docker load cannot read",
                                l->digest.str, l->media_type);
        sw_autofree char *path = blob_tar_path(&l->digest);
        sw_autofree char *src = NULL;
        if (!path)
            return sw_error_oom(err);
        if ((r = store_blob_path(st, &l->digest, &src, err)) < 0 ||
            (r = exp_tar_add_file(&j->tar, path, src, (uint64_t)l->size, err)) < 0)
            return r;
        if (json_array_append_new(j->layers, json_string(path)) < 0)
            return sw_error_oom(err);
    }
    return r;
}

/* index.json's descriptor: the store's manifest, or one written for the archive. */
static int
docker_manifest_desc(struct docker_job *j, struct img_descriptor *out, struct sw_error **err)
{
    struct store *st = j->img->store;
    const struct img_descriptor *orig = &j->img->manifest;
    int r;
    if (!j->converted) {
        sw_autofree char *path = blob_tar_path(&orig->digest);
        sw_autofree char *src = NULL;
        if (!path)
            return sw_error_oom(err);
        if ((r = store_blob_path(st, &orig->digest, &src, err)) < 0 ||
            (r = exp_tar_add_file(&j->tar, path, src, (uint64_t)orig->size, err)) < 0)
            return r;
        return img_descriptor_copy(out, orig, err);
    }
    free(j->m.media_type);
    j->m.media_type = strdup(IMG_MT_OCI_MANIFEST);
    if (!j->m.media_type)
        return sw_error_oom(err);
    sw_autofree char *json = NULL;
    size_t len = 0;
    struct sw_digest d;
    if ((r = img_manifest_to_json(&json, &len, &j->m, err)) < 0 ||
        (r = sw_digest_bytes(&d, json, len, err)) < 0)
        return r;
    sw_autofree char *path = blob_tar_path(&d);
    if (!path)
        return sw_error_oom(err);
    if ((r = exp_tar_add_data(&j->tar, path, json, len, err)) < 0 ||
        (r = img_descriptor_init(out, IMG_MT_OCI_MANIFEST, &d, (int64_t)len, err)) < 0)
        return r;
    if (orig->platform) {
        out->platform = calloc(1, sizeof *out->platform);
        if (!out->platform || img_desc_platform_copy(out->platform, orig->platform) < 0)
            return sw_error_oom(err);
    }
    return 0;
}

static int
docker_build(struct docker_job *j, const char *dest, struct sw_error **err)
{
    const struct export_image *img = j->img;
    struct store *st = img->store;
    int r = load_manifest(st, &img->manifest, &j->m, err);
    if (r < 0 ||
        (r = check_blob(st, &j->m.config.digest, j->m.config.size, "image config", err)) < 0 ||
        (r = read_diff_ids(st, &j->m, &j->diff_ids, err)) < 0)
        return r;
    sw_autofree char *cpath = blob_tar_path(&j->m.config.digest);
    sw_autofree char *csrc = NULL;
    if (!cpath)
        return sw_error_oom(err);
    if ((r = store_blob_path(st, &j->m.config.digest, &csrc, err)) < 0 ||
        (r = exp_tar_add_file(&j->tar, cpath, csrc, (uint64_t)j->m.config.size, err)) < 0)
        return r;
    j->layers = json_array();
    json_t *tags = json_array();
    json_t *doc = json_array();
    json_t *entry = json_object();
    if (!j->layers || !tags || !doc || !entry) {
        json_decref(tags);
        json_decref(doc);
        json_decref(entry);
        return sw_error_oom(err);
    }
    json_array_append_new(doc, entry);
    json_object_set_new(entry, "Config", json_string(cpath));
    json_object_set_new(entry, "RepoTags", tags);
    json_object_set(entry, "Layers", j->layers);
    for (size_t i = 0; r == 0 && i < img->nnames; i++) {
        sw_autofree char *familiar = NULL;
        if ((r = exp_name_forms(img->names[i], NULL, NULL, &familiar, err)) < 0)
            break;
        bool dup = false;
        for (size_t k = 0; k < json_array_size(tags); k++)
            dup = dup || !strcmp(json_string_value(json_array_get(tags, k)), familiar);
        if (!dup && json_array_append_new(tags, json_string(familiar)) < 0)
            r = sw_error_oom(err);
    }
    if (r == 0)
        r = docker_layers(j, err);
    struct img_descriptor desc = {0};
    struct entries en = {0};
    sw_autofree char *index = NULL, *manifest_json = NULL;
    size_t index_len = 0;
    if (r == 0)
        r = docker_manifest_desc(j, &desc, err);
    if (r == 0)
        r = make_entries(img, &desc, &en, err);
    if (r == 0)
        r = index_json(&en, &index, &index_len, err);
    if (r == 0 && !(manifest_json = json_dumps(doc, JSON_COMPACT)))
        r = sw_error_oom(err);
    if (r == 0 &&
        (r = exp_tar_add_data(&j->tar, "manifest.json", manifest_json, strlen(manifest_json),
                              err)) == 0 &&
        (r = exp_tar_add_data(&j->tar, "index.json", index, index_len, err)) == 0 &&
        (r = exp_tar_add_data(&j->tar, "oci-layout", EXP_OCI_LAYOUT, strlen(EXP_OCI_LAYOUT),
                              err)) == 0)
        r = write_tar_file(&j->tar, dest, img->source_date_epoch, err);
    entries_free(&en);
    img_descriptor_clear(&desc);
    json_decref(doc);
    return r;
}

int
export_docker_archive(const struct export_image *img, const char *dest_tar, struct sw_error **err)
{
    int r = check_image(img, err);
    if (r < 0)
        return r;
    struct docker_job j = {.img = img};
    if ((r = exp_split_dest(dest_tar, &j.dir, &j.base, err)) < 0)
        return r;
    struct store_lock *lock = NULL;
    if ((r = store_build_lock(img->store, &lock, err)) == 0) {
        r = docker_build(&j, dest_tar, err);
        store_build_unlock(lock);
    }
    for (size_t i = 0; i < j.temps.n; i++)
        unlink(j.temps.v[i]);
    sw_strv_free(&j.temps);
    exp_tar_free(&j.tar);
    json_decref(j.layers);
    img_manifest_clear(&j.m);
    free(j.diff_ids);
    free(j.dir);
    free(j.base);
    if (r < 0)
        return sw_error_wrap(err, "exporting the docker archive %s", dest_tar);
    return 0;
}

/* ---- file system
 * ----------------------------------------------------------------------------------
 */

/* Apply every layer of the image onto the existing directory dir. */
static int
extract_layers(struct store *st, const struct img_manifest *m, const char *dir,
               struct sw_error **err)
{
    for (size_t i = 0; i < m->nlayers; i++) {
        const struct img_descriptor *l = &m->layers[i];
        sw_autofree char *path = NULL;
        int r = check_blob(st, &l->digest, l->size, "layer", err);
        if (r < 0 || (r = store_blob_path(st, &l->digest, &path, err)) < 0)
            return r;
        struct layer_extract_result res;
        if ((r = layer_extract_file(path, img_media_type_to_oci(l->media_type), dir, NULL, &res,
                                    err)) < 0)
            return sw_error_wrap(err, "layer %zu (%s)", i + 1, l->digest.str);
    }
    return 0;
}

static int
do_export_local(const struct export_image *img, const char *dest, struct sw_error **err)
{
    struct img_manifest m = {0};
    int r = load_manifest(img->store, &img->manifest, &m, err);
    enum exp_path_state state = EXP_PATH_ABSENT;
    if (r == 0)
        r = exp_path_state(dest, &state, err);
    if (r == 0 && state == EXP_PATH_EMPTY_DIR) {
        r = extract_layers(img->store, &m, dest, err);
    } else if (r == 0 && state == EXP_PATH_ABSENT) {
        sw_autofree char *dir = NULL, *base = NULL, *tmp = NULL;
        if ((r = exp_split_dest(dest, &dir, &base, err)) == 0 &&
            (r = exp_temp_dir(dir, base, &tmp, err)) == 0) {
            if (chmod(tmp, 0755) < 0)
                r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", tmp, strerror(errno));
            if (r == 0)
                r = extract_layers(img->store, &m, tmp, err);
            if (r == 0 && rename(tmp, dest) < 0)
                r = sw_error_set(err, SW_EIO, errno, NULL, "cannot create %s: %s", dest,
                                 strerror(errno));
            if (r == 0)
                r = exp_fsync_dir(dir, err);
            else
                sw_rmtree(tmp, NULL);
        }
    } else if (r == 0) {
        r = sw_error_set(err, SW_EEXIST, EEXIST, NULL, "%s exists and is not an empty directory",
                         dest);
    }
    img_manifest_clear(&m);
    return r;
}

int
export_local(const struct export_image *img, const char *dest_dir, struct sw_error **err)
{
    int r = check_image(img, err);
    if (r < 0)
        return r;
    struct store_lock *lock = NULL;
    if ((r = store_build_lock(img->store, &lock, err)) < 0)
        return r;
    r = do_export_local(img, dest_dir, err);
    store_build_unlock(lock);
    if (r < 0)
        return sw_error_wrap(err, "exporting the file system to %s", dest_dir);
    return 0;
}

static int
fd_sink(void *ctx, const void *buf, size_t n, struct sw_error **err)
{
    int fd = *(int *)ctx;
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "writing the tar: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The clamp for file mtimes: SOURCE_DATE_EPOCH, else the config's created time, else 0. */
static int64_t
rootfs_clamp(const struct export_image *img, const struct img_manifest *m)
{
    if (img->source_date_epoch >= 0)
        return img->source_date_epoch;
    json_t *cfg = NULL;
    int64_t t = 0;
    if (store_json_read(img->store, &m->config.digest, EXP_DOC_MAX, &cfg, NULL) == 0 &&
        (exp_parse_time(json_string_value(json_object_get(cfg, "created")), &t) < 0 || t < 0))
        t = 0;
    json_decref(cfg);
    return t;
}

static int
write_rootfs(const struct export_image *img, const struct img_manifest *m, const char *tree, int fd,
             struct sw_error **err)
{
    struct layer_writer_opts o = layer_writer_opts_default();
    o.compression = LAYER_COMPRESSION_NONE;
    o.source_date_epoch = rootfs_clamp(img, m);
    struct layer_sink sink = {.write = fd_sink, .ctx = &fd};
    struct layer_writer *w = NULL;
    int r = layer_writer_new(&w, &o, &sink, err);
    if (r < 0)
        return r;
    /* Without root the extracted files belong to us, not to the image: record 0:0. */
    bool root = geteuid() == 0;
    struct layer_tree_opts to = {.set_uid = !root, .set_gid = !root};
    struct layer_result res;
    if ((r = layer_writer_add_tree(w, tree, "", &to, err)) == 0)
        r = layer_writer_finish(w, &res, err);
    layer_writer_free(w);
    return r;
}

static int
do_export_rootfs(const struct export_image *img, const char *dest, struct sw_error **err)
{
    struct img_manifest m = {0};
    sw_autofree char *dir = NULL, *base = NULL, *tree = NULL, *tmp = NULL;
    int r = load_manifest(img->store, &img->manifest, &m, err);
    if (r == 0)
        r = exp_split_dest(dest, &dir, &base, err);
    if (r == 0)
        r = exp_temp_dir(dir, base, &tree, err);
    if (r == 0)
        r = extract_layers(img->store, &m, tree, err);
    int fd = -1;
    if (r == 0 && (r = exp_temp_file(dir, base, &tmp, &fd, err)) == 0) {
        if ((r = write_rootfs(img, &m, tree, fd, err)) < 0) {
            close(fd);
            unlink(tmp);
        } else {
            r = exp_commit_file(fd, tmp, dest, dir, err);
        }
    }
    if (tree)
        sw_rmtree(tree, NULL);
    img_manifest_clear(&m);
    return r;
}

int
export_rootfs_tar(const struct export_image *img, const char *dest_tar, struct sw_error **err)
{
    int r = check_image(img, err);
    if (r < 0)
        return r;
    struct store_lock *lock = NULL;
    if ((r = store_build_lock(img->store, &lock, err)) < 0)
        return r;
    r = do_export_rootfs(img, dest_tar, err);
    store_build_unlock(lock);
    if (r < 0)
        return sw_error_wrap(err, "exporting the file system tar %s", dest_tar);
    return 0;
}
