/*
 * Base images: from the store (by name) or from an OCI layout directory (imported into the store
 * first, every blob verified against its digest), resolved to the manifest of the platform.
 */
#include "solve_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../image/ref.h"
#include "../util/cleanup.h"

#define MAX_DOC (4u << 20) /* manifests, indexes and configs larger than this are refused */

static bool
platform_matches(const struct img_desc_platform *dp, const struct img_platform *want)
{
    if (!dp || !dp->os || !dp->architecture)
        return false;
    if (strcmp(dp->os, want->os) || strcmp(dp->architecture, want->arch))
        return false;
    const char *v = dp->variant ? dp->variant : "";
    if (!strcmp(want->arch, "arm64") && (!strcmp(v, "v8") || !*v) && !*want->variant)
        return true;
    return !*want->variant || !strcmp(v, want->variant);
}

/* Read a document blob of the store. */
static int
read_doc(struct store *st, const struct sw_digest *d, char **data, size_t *len,
         struct sw_error **err)
{
    void *buf = NULL;
    int r = store_blob_read(st, d, MAX_DOC, &buf, len, err);
    *data = buf;
    return r;
}

/* From a manifest or index digest in the store to the image config and layers. */
static int
load_from_digest(struct store *store, const struct sw_digest *d, const char *name,
                 const struct img_platform *platform, struct op_state *out, struct sw_error **err)
{
    sw_autofree char *data = NULL;
    size_t len = 0;
    int r = read_doc(store, d, &data, &len, err);
    if (r < 0)
        return r;
    struct sw_digest manifest_digest = *d;
    if (img_doc_kind_detect(data, len) == IMG_DOC_INDEX) {
        struct img_index ix;
        r = img_index_parse(&ix, data, len, err);
        if (r < 0)
            return r;
        struct sw_buf have = {0};
        bool found = false;
        for (size_t i = 0; i < ix.nmanifests && !found; i++) {
            const struct img_desc_platform *dp = ix.manifests[i].platform;
            if (platform_matches(dp, platform)) {
                manifest_digest = ix.manifests[i].digest;
                found = true;
            } else if (dp && dp->os && dp->architecture) {
                sw_buf_printf(&have, "%s%s/%s%s%s", have.len ? ", " : "", dp->os, dp->architecture,
                              dp->variant ? "/" : "", dp->variant ? dp->variant : "");
            }
        }
        img_index_clear(&ix);
        if (!found) {
            char want[128];
            r = sw_error_set(err, SW_ENOTFOUND, 0, NULL,
                             "image %s has no manifest for platform %s (it has: %s)", name,
                             img_platform_format(want, sizeof want, platform),
                             have.len ? sw_buf_cstr(&have) : "none");
            sw_buf_free(&have);
            return r;
        }
        sw_buf_free(&have);
        free(data);
        data = NULL;
        r = read_doc(store, &manifest_digest, &data, &len, err);
        if (r < 0)
            return r;
    }
    struct img_manifest m;
    r = img_manifest_parse(&m, data, len, err);
    if (r < 0)
        return sw_error_wrap(err, "image %s", name);
    sw_autofree char *cdata = NULL;
    size_t clen = 0;
    r = read_doc(store, &m.config.digest, &cdata, &clen, err);
    if (r == 0)
        r = img_config_parse(&out->config, cdata, clen, err);
    if (r == 0 && out->config->ndiff_ids != m.nlayers)
        r = sw_error_set(err, SW_EINVAL, 0, NULL,
                         "image %s: its config lists %zu layers but its manifest %zu", name,
                         out->config->ndiff_ids, m.nlayers);
    if (r == 0) {
        out->layers = calloc(m.nlayers + 1, sizeof *out->layers);
        out->snapshots = calloc(m.nlayers + 1, sizeof *out->snapshots);
        if (!out->layers || !out->snapshots)
            r = sw_error_oom(err);
    }
    for (size_t i = 0; r == 0 && i < m.nlayers; i++) {
        r = img_descriptor_copy(&out->layers[i], &m.layers[i], err);
        if (r == 0) {
            out->nlayers++;
            if (!store_blob_exists(store, &m.layers[i].digest))
                r = sw_error_set(err, SW_ENOTFOUND, 0, NULL,
                                 "image %s: layer %s is missing from the store", name,
                                 m.layers[i].digest.str);
        }
    }
    img_manifest_clear(&m);
    out->key = manifest_digest; /* what the cache key of the image op is made of */
    if (r == 0 && out->config->created && img_time_valid(out->config->created))
        snprintf(out->time, sizeof out->time, "%s", out->config->created);
    return r;
}

static int
load_from_store(struct solver *S, const char *ref, const struct img_platform *platform,
                struct op_state *out, struct sw_error **err)
{
    struct img_ref *r = NULL;
    int rc = img_ref_parse(&r, ref, err);
    if (rc < 0)
        return rc;
    sw_autofree char *familiar = img_ref_string_familiar(r);
    sw_autofree char *full = img_ref_string_full(r);
    img_ref_free(r);
    if (!familiar || !full)
        return sw_error_oom(err);
    struct store_desc d = {0};
    struct sw_error *e1 = NULL;
    rc = store_tag_get(S->o->store, familiar, &d, &e1);
    if (rc == -SW_ENOTFOUND) {
        sw_error_freep(&e1);
        rc = store_tag_get(S->o->store, full, &d, &e1);
    }
    if (rc < 0) {
        if (rc == -SW_ENOTFOUND) {
            sw_error_free(e1);
            return sw_error_set(err, SW_ENOTFOUND, 0, NULL,
                                "base image %s is not in the store (load it with `slipway load`, "
                                "or use oci-layout://PATH); pulling from a registry is not "
                                "available in this build",
                                familiar);
        }
        if (err && !*err)
            *err = e1;
        else
            sw_error_free(e1);
        return rc;
    }
    rc = load_from_digest(S->o->store, &d.digest, familiar, platform, out, err);
    store_desc_clear(&d);
    return rc;
}

/* ---- OCI layouts ------------------------------------------------------------------------------
 */

static int
import_blob(struct store *st, const char *layout, const struct sw_digest *d, struct sw_error **err)
{
    if (store_blob_exists(st, d))
        return 0;
    char *path = NULL;
    if (asprintf(&path, "%s/blobs/sha256/%s", layout, sw_digest_hex(d)) < 0)
        return sw_error_oom(err);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int r = sw_error_set(err, SW_ENOTFOUND, errno, NULL, "%s: %s", path, strerror(errno));
        free(path);
        return r;
    }
    struct store_writer *w = NULL;
    int r = store_writer_begin(st, &w, err);
    char buf[1 << 16];
    ssize_t n;
    while (r == 0 && (n = read(fd, buf, sizeof buf)) > 0)
        r = store_writer_write(w, buf, (size_t)n, err);
    if (r == 0 && n < 0)
        r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", path, strerror(errno));
    close(fd);
    struct sw_digest got;
    uint64_t size;
    if (r == 0)
        r = store_writer_commit(w, d, &got, &size, err);
    else if (w)
        store_writer_abort(w);
    if (r < 0)
        sw_error_wrap(err, "importing %s", path);
    free(path);
    return r;
}

static int
read_layout_file(const char *layout, const char *rel, size_t max, char **data, size_t *len,
                 struct sw_error **err)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", layout, rel) < 0)
        return sw_error_oom(err);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int r = sw_error_set(err, SW_ENOTFOUND, errno, NULL, "%s: %s", path, strerror(errno));
        free(path);
        return r;
    }
    struct sw_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= max)
        sw_buf_append(&b, chunk, n);
    fclose(f);
    free(path);
    if (b.len > max) {
        sw_buf_free(&b);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s/%s is too large", layout, rel);
    }
    *len = b.len;
    *data = sw_buf_detach(&b);
    return *data ? 0 : sw_error_oom(err);
}

/* Import every blob an image needs: the document (manifest or index with the chosen manifest),
 * its config and its layers. */
static int
import_image(struct store *st, const char *layout, const struct sw_digest *d,
             const struct img_platform *platform, struct sw_error **err)
{
    int r = import_blob(st, layout, d, err);
    sw_autofree char *data = NULL;
    size_t len = 0;
    if (r == 0)
        r = read_doc(st, d, &data, &len, err);
    if (r < 0)
        return r;
    if (img_doc_kind_detect(data, len) == IMG_DOC_INDEX) {
        struct img_index ix;
        r = img_index_parse(&ix, data, len, err);
        for (size_t i = 0; r == 0 && i < ix.nmanifests; i++)
            if (platform_matches(ix.manifests[i].platform, platform))
                r = import_image(st, layout, &ix.manifests[i].digest, platform, err);
        if (r == 0)
            img_index_clear(&ix);
        return r;
    }
    struct img_manifest m;
    r = img_manifest_parse(&m, data, len, err);
    if (r < 0)
        return r;
    r = import_blob(st, layout, &m.config.digest, err);
    for (size_t i = 0; r == 0 && i < m.nlayers; i++)
        r = import_blob(st, layout, &m.layers[i].digest, err);
    img_manifest_clear(&m);
    return r;
}

/* Pick the entry of the layout's index.json: by digest, by tag (ref.name), or the only one. */
static int
layout_entry(const char *layout, const char *tag, const char *digest, struct sw_digest *out,
             struct sw_error **err)
{
    sw_autofree char *data = NULL;
    size_t len = 0;
    int r = read_layout_file(layout, "index.json", MAX_DOC, &data, &len, err);
    if (r < 0)
        return r;
    if (digest)
        return sw_digest_parse(out, digest, err);
    struct img_index ix;
    r = img_index_parse(&ix, data, len, err);
    if (r < 0)
        return sw_error_wrap(err, "%s/index.json", layout);
    int found = 0;
    for (size_t i = 0; i < ix.nmanifests; i++) {
        const char *name =
            img_strmap_get(&ix.manifests[i].annotations, "org.opencontainers.image.ref.name");
        if (tag ? name && !strcmp(name, tag) : true) {
            *out = ix.manifests[i].digest;
            found++;
        }
    }
    img_index_clear(&ix);
    if (found == 1 || (tag && found > 1))
        return 0;
    if (!tag && found > 1)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "%s holds %d images: name one with oci-layout://%s:TAG", layout, found,
                            layout);
    return sw_error_set(err, SW_ENOTFOUND, 0, NULL, "%s has no image%s%s", layout,
                        tag ? " tagged " : "", tag ? tag : "");
}

static int
load_from_layout(struct solver *S, const struct plan_op *op, struct op_state *out,
                 struct sw_error **err)
{
    const char *layout = op->u.layout.path;
    struct sw_digest d;
    int r = layout_entry(layout, op->u.layout.tag, op->u.layout.digest, &d, err);
    if (r == 0)
        r = import_image(S->o->store, layout, &d, &op->u.layout.platform, err);
    if (r == 0)
        r = load_from_digest(S->o->store, &d, layout, &op->u.layout.platform, out, err);
    return r;
}

int
solve_load_image(struct solver *S, const struct plan_op *op, struct op_state *out,
                 struct sw_error **err)
{
    int r = op->kind == PLAN_OCI_LAYOUT
                ? load_from_layout(S, op, out, err)
                : load_from_store(S, op->u.image.ref, &op->u.image.platform, out, err);
    if (r == 0) {
        /* the child ran the base's ONBUILD triggers (the frontend inserted them): they are not
         * inherited; and like BuildKit, fields slipway does not model are not carried over */
        sw_strv_free(&out->config->onbuild);
        img_config_drop_unknown(out->config);
    }
    return r;
}

int
solve_image_env(struct store *st, const char *ref, const struct img_platform *platform,
                struct sw_strv *env, struct sw_strv *onbuild, struct sw_error **err)
{
    struct solve_opts o = {.store = st};
    struct solver S = {.o = &o};
    struct op_state state = {0};
    struct plan_op op = {0};
    int r;
    if (!strncmp(ref, "oci-layout://", 13)) {
        /* reuse the lowering's parsing: PATH[:TAG|@DIGEST] */
        const char *s = ref + 13, *at = strrchr(s, '@'), *slash = strrchr(s, '/'),
                   *colon = strrchr(s, ':');
        op.kind = PLAN_OCI_LAYOUT;
        op.u.layout.platform = *platform;
        if (at) {
            op.u.layout.path = strndup(s, (size_t)(at - s));
            op.u.layout.digest = strdup(at + 1);
        } else if (colon && (!slash || colon > slash)) {
            op.u.layout.path = strndup(s, (size_t)(colon - s));
            op.u.layout.tag = strdup(colon + 1);
        } else {
            op.u.layout.path = strdup(s);
        }
        r = op.u.layout.path ? load_from_layout(&S, &op, &state, err) : sw_error_oom(err);
        plan_op_clear(&op);
    } else {
        r = load_from_store(&S, ref, platform, &state, err);
    }
    for (size_t i = 0; r == 0 && i < state.config->env.n; i++)
        r = sw_strv_push(env, state.config->env.v[i]) < 0 ? sw_error_oom(err) : 0;
    for (size_t i = 0; r == 0 && i < state.config->onbuild.n; i++)
        r = sw_strv_push(onbuild, state.config->onbuild.v[i]) < 0 ? sw_error_oom(err) : 0;
    solve_state_clear(&state);
    return r;
}
