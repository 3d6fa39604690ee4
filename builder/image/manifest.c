#include "manifest.h"

#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"
#include "json_internal.h"

#define WHAT_MANIFEST "image manifest"
#define WHAT_INDEX "image index"
#define WHAT_DESC "descriptor"

/* ---- media types ----------------------------------------------------------------------------- */

static const struct {
    const char *docker, *oci;
} docker_map[] = {
    {IMG_MT_DOCKER_MANIFEST, IMG_MT_OCI_MANIFEST},
    {IMG_MT_DOCKER_LIST, IMG_MT_OCI_INDEX},
    {IMG_MT_DOCKER_CONFIG, IMG_MT_OCI_CONFIG},
    {IMG_MT_DOCKER_LAYER, IMG_MT_OCI_LAYER},
    {IMG_MT_DOCKER_LAYER_GZIP, IMG_MT_OCI_LAYER_GZIP},
    {IMG_MT_DOCKER_LAYER_ZSTD, IMG_MT_OCI_LAYER_ZSTD},
    {IMG_MT_DOCKER_FOREIGN, IMG_MT_OCI_LAYER_ND},
    {IMG_MT_DOCKER_FOREIGN_GZIP, IMG_MT_OCI_LAYER_ND_GZIP},
};

const char *
img_media_type_to_oci(const char *mt)
{
    for (size_t i = 0; mt && i < sizeof docker_map / sizeof docker_map[0]; i++)
        if (!strcmp(mt, docker_map[i].docker))
            return docker_map[i].oci;
    return mt;
}

bool
img_media_type_is_docker(const char *mt)
{
    return mt && img_media_type_to_oci(mt) != mt;
}

enum img_doc_kind
img_doc_kind_detect(const char *data, size_t len)
{
    sw_cleanup(json_decrefp) json_t *j = json_loadb(data, len, 0, NULL);
    if (!json_is_object(j))
        return IMG_DOC_UNKNOWN;
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    if (mt) {
        mt = img_media_type_to_oci(mt);
        if (!strcmp(mt, IMG_MT_OCI_MANIFEST))
            return IMG_DOC_MANIFEST;
        if (!strcmp(mt, IMG_MT_OCI_INDEX))
            return IMG_DOC_INDEX;
        return IMG_DOC_UNKNOWN;
    }
    bool manifests = json_object_get(j, "manifests") != NULL;
    bool image = json_object_get(j, "config") || json_object_get(j, "layers");
    if (manifests == image)
        return IMG_DOC_UNKNOWN;
    return manifests ? IMG_DOC_INDEX : IMG_DOC_MANIFEST;
}

/* ---- platform -------------------------------------------------------------------------------- */

static int
dup_opt(char **dst, const char *s)
{
    *dst = NULL;
    if (!s || !*s)
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : -SW_ENOMEM;
}

int
img_desc_platform_from(struct img_desc_platform *out, const struct img_platform *p,
                       struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    if (dup_opt(&out->architecture, p->arch) < 0 || dup_opt(&out->os, p->os) < 0 ||
        dup_opt(&out->variant, p->variant) < 0) {
        img_desc_platform_clear(out);
        return sw_error_oom(err);
    }
    return 0;
}

int
img_desc_platform_copy(struct img_desc_platform *out, const struct img_desc_platform *src)
{
    memset(out, 0, sizeof *out);
    int r = 0;
    if (dup_opt(&out->architecture, src->architecture) < 0 || dup_opt(&out->os, src->os) < 0 ||
        dup_opt(&out->os_version, src->os_version) < 0 || dup_opt(&out->variant, src->variant) < 0)
        r = -SW_ENOMEM;
    for (size_t i = 0; r == 0 && i < src->os_features.n; i++)
        r = sw_strv_push(&out->os_features, src->os_features.v[i]);
    if (r < 0)
        img_desc_platform_clear(out);
    return r;
}

void
img_desc_platform_clear(struct img_desc_platform *p)
{
    if (!p)
        return;
    free(p->architecture);
    free(p->os);
    free(p->os_version);
    free(p->variant);
    sw_strv_free(&p->os_features);
    memset(p, 0, sizeof *p);
}

static int
platform_from_json(struct img_desc_platform *p, const json_t *o, const char *what, const char *path,
                   struct sw_error **err)
{
    int r;
    memset(p, 0, sizeof *p);
    if ((r = img_json_str(&p->architecture, o, "architecture", true, what, path, err)) < 0 ||
        (r = img_json_str(&p->os, o, "os", true, what, path, err)) < 0 ||
        (r = img_json_str(&p->os_version, o, "os.version", false, what, path, err)) < 0 ||
        (r = img_json_strv(&p->os_features, NULL, o, "os.features", what, path, err)) < 0 ||
        (r = img_json_str(&p->variant, o, "variant", false, what, path, err)) < 0)
        return r;
    if (!p->architecture[0])
        return img_json_err(err, what, path, "architecture", "must not be empty");
    if (!p->os[0])
        return img_json_err(err, what, path, "os", "must not be empty");
    /* "" means absent for the optional ones (omitempty on output) */
    if (p->os_version && !p->os_version[0]) {
        free(p->os_version);
        p->os_version = NULL;
    }
    if (p->variant && !p->variant[0]) {
        free(p->variant);
        p->variant = NULL;
    }
    return 0;
}

static json_t *
platform_to_json(const struct img_desc_platform *p)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (img_json_set_new(o, "architecture", json_string(p->architecture ? p->architecture : "")) <
            0 ||
        img_json_set_new(o, "os", json_string(p->os ? p->os : "")) < 0 ||
        img_json_put_str(o, "os.version", p->os_version) < 0 ||
        img_json_put_strv(o, "os.features", &p->os_features, true) < 0 ||
        img_json_put_str(o, "variant", p->variant) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- descriptor ------------------------------------------------------------------------------ */

int
img_descriptor_init(struct img_descriptor *d, const char *media_type,
                    const struct sw_digest *digest, int64_t size, struct sw_error **err)
{
    memset(d, 0, sizeof *d);
    if (!media_type || !img_media_type_valid(media_type))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "descriptor: invalid media type \"%s\"",
                            media_type ? media_type : "");
    if (!sw_digest_valid(digest->str))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "descriptor: invalid digest \"%s\"",
                            digest->str);
    if (size < 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "descriptor: negative size %lld",
                            (long long)size);
    if (!(d->media_type = strdup(media_type)))
        return sw_error_oom(err);
    d->digest = *digest;
    d->size = size;
    return 0;
}

int
img_descriptor_copy(struct img_descriptor *out, const struct img_descriptor *src,
                    struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    out->digest = src->digest;
    out->size = src->size;
    int r = dup_opt(&out->media_type, src->media_type);
    if (r == 0)
        r = dup_opt(&out->artifact_type, src->artifact_type);
    if (r == 0)
        r = dup_opt(&out->data, src->data);
    if (r == 0)
        r = img_strmap_copy(&out->annotations, &src->annotations);
    for (size_t i = 0; r == 0 && i < src->urls.n; i++)
        r = sw_strv_push(&out->urls, src->urls.v[i]);
    if (r == 0 && src->platform) {
        out->platform = malloc(sizeof *out->platform);
        r = out->platform ? img_desc_platform_copy(out->platform, src->platform) : -SW_ENOMEM;
        if (r < 0) {
            free(out->platform);
            out->platform = NULL;
        }
    }
    if (r < 0) {
        img_descriptor_clear(out);
        return sw_error_oom(err);
    }
    return 0;
}

void
img_descriptor_clear(struct img_descriptor *d)
{
    if (!d)
        return;
    free(d->media_type);
    free(d->artifact_type);
    free(d->data);
    img_strmap_free(&d->annotations);
    sw_strv_free(&d->urls);
    if (d->platform) {
        img_desc_platform_clear(d->platform);
        free(d->platform);
    }
    memset(d, 0, sizeof *d);
}

/* Map a Docker media type in place; returns 1 if it was one. */
static int
map_media_type(char **mt)
{
    const char *oci = img_media_type_to_oci(*mt);
    if (oci == *mt)
        return 0;
    char *copy = strdup(oci);
    if (!copy)
        return -SW_ENOMEM;
    free(*mt);
    *mt = copy;
    return 1;
}

/* Parse one descriptor object; *docker is set when a Docker media type was mapped. */
static int
desc_from_json(struct img_descriptor *d, bool *docker, const json_t *o, const char *what,
               const char *path, struct sw_error **err)
{
    int r;
    memset(d, 0, sizeof *d);
    sw_autofree char *digest = NULL;
    int64_t size;
    if ((r = img_json_str(&d->media_type, o, "mediaType", true, what, path, err)) < 0)
        return r;
    if (!img_media_type_valid(d->media_type))
        return img_json_err(err, what, path, "mediaType",
                            "\"%s\" is not a valid media type (type/subtype)", d->media_type);
    if ((r = img_json_str(&digest, o, "digest", true, what, path, err)) < 0)
        return r;
    if (!sw_digest_valid(digest))
        return img_json_err(err, what, path, "digest",
                            "\"%s\" is not a sha256 digest (sha256: + 64 lower-case hex digits)",
                            digest);
    memcpy(d->digest.str, digest, sizeof d->digest.str);
    if ((r = img_json_int(&size, NULL, o, "size", true, what, path, err)) < 0)
        return r;
    if (size < 0)
        return img_json_err(err, what, path, "size", "must not be negative (%lld)",
                            (long long)size);
    d->size = size;
    if ((r = img_json_strv(&d->urls, NULL, o, "urls", what, path, err)) < 0 ||
        (r = img_json_strmap(&d->annotations, o, "annotations", what, path, err)) < 0 ||
        (r = img_json_str(&d->artifact_type, o, "artifactType", false, what, path, err)) < 0 ||
        (r = img_json_str(&d->data, o, "data", false, what, path, err)) < 0)
        return r;
    if (d->artifact_type && !img_media_type_valid(d->artifact_type))
        return img_json_err(err, what, path, "artifactType",
                            "\"%s\" is not a valid media type (type/subtype)", d->artifact_type);
    if (d->data && !img_base64_valid(d->data))
        return img_json_err(err, what, path, "data", "not valid padded base64");
    const json_t *po = NULL;
    if ((r = img_json_child(&po, o, "platform", JSON_OBJECT, false, what, path, err)) < 0)
        return r;
    if (po) {
        char where[256];
        img_json_path(where, sizeof where, path, "platform", 0);
        if (!(d->platform = calloc(1, sizeof *d->platform)))
            return sw_error_oom(err);
        if ((r = platform_from_json(d->platform, po, what, where, err)) < 0)
            return r;
    }
    if ((r = map_media_type(&d->media_type)) < 0)
        return sw_error_oom(err);
    if (r > 0 && docker)
        *docker = true;
    return 0;
}

static int
desc_check(const struct img_descriptor *d, const char *what, const char *path,
           struct sw_error **err)
{
    if (!d->media_type || !img_media_type_valid(d->media_type))
        return img_json_err(err, what, path, "mediaType", "invalid media type \"%s\"",
                            d->media_type ? d->media_type : "");
    if (!sw_digest_valid(d->digest.str))
        return img_json_err(err, what, path, "digest", "invalid digest \"%.71s\"", d->digest.str);
    if (d->size < 0)
        return img_json_err(err, what, path, "size", "must not be negative (%lld)",
                            (long long)d->size);
    if (d->platform && (!d->platform->architecture || !d->platform->architecture[0] ||
                        !d->platform->os || !d->platform->os[0]))
        return img_json_err(err, what, path, "platform", "architecture and os are required");
    return 0;
}

static int
desc_to_json(json_t **out, const struct img_descriptor *d, const char *what, const char *path,
             struct sw_error **err)
{
    int r = desc_check(d, what, path, err);
    if (r < 0)
        return r;
    json_t *o = json_object();
    if (!o)
        return sw_error_oom(err);
    if (img_json_set_new(o, "mediaType", json_string(d->media_type)) < 0 ||
        img_json_set_new(o, "digest", json_string(d->digest.str)) < 0 ||
        img_json_put_int(o, "size", d->size) < 0 ||
        img_json_put_strv(o, "urls", &d->urls, true) < 0 ||
        img_json_put_strmap(o, "annotations", &d->annotations) < 0 ||
        img_json_put_str(o, "artifactType", d->artifact_type) < 0 ||
        img_json_put_str(o, "data", d->data) < 0 ||
        (d->platform && img_json_set_new(o, "platform", platform_to_json(d->platform)) < 0)) {
        json_decref(o);
        return sw_error_oom(err);
    }
    *out = o;
    return 0;
}

int
img_descriptor_parse(struct img_descriptor *out, const char *data, size_t len,
                     struct sw_error **err)
{
    sw_cleanup(json_decrefp) json_t *j = NULL;
    int r = img_json_load(&j, data, len, WHAT_DESC, err);
    if (r == 0)
        r = desc_from_json(out, NULL, j, WHAT_DESC, "", err);
    if (r < 0)
        img_descriptor_clear(out);
    return r;
}

int
img_descriptor_to_json(char **out, size_t *len, const struct img_descriptor *d,
                       struct sw_error **err)
{
    sw_cleanup(json_decrefp) json_t *j = NULL;
    int r = desc_to_json(&j, d, WHAT_DESC, "", err);
    return r < 0 ? r : img_json_dump(out, len, j, err);
}

/* ---- shared by manifest and index ------------------------------------------------------------ */

static int
desc_array_push(struct img_descriptor **v, size_t *n, size_t *cap, const struct img_descriptor *d,
                struct sw_error **err)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        struct img_descriptor *nv = realloc(*v, c * sizeof *nv);
        if (!nv)
            return sw_error_oom(err);
        *v = nv;
        *cap = c;
    }
    int r = img_descriptor_copy(&(*v)[*n], d, err);
    if (r == 0)
        (*n)++;
    return r;
}

static int
check_schema_version(const json_t *j, const char *what, struct sw_error **err)
{
    int64_t v;
    int r = img_json_int(&v, NULL, j, "schemaVersion", true, what, "", err);
    if (r < 0)
        return r;
    if (v != 2)
        return img_json_err(err, what, "", "schemaVersion", "%lld is not supported (want 2)",
                            (long long)v);
    return 0;
}

/* The parts manifests and indexes share: subject, annotations, artifactType. */
static int
common_from_json(struct img_descriptor **subject, struct img_strmap *annotations,
                 char **artifact_type, bool *docker, const json_t *j, const char *what,
                 struct sw_error **err)
{
    int r;
    const json_t *so = NULL;
    if ((r = img_json_strmap(annotations, j, "annotations", what, "", err)) < 0 ||
        (r = img_json_str(artifact_type, j, "artifactType", false, what, "", err)) < 0 ||
        (r = img_json_child(&so, j, "subject", JSON_OBJECT, false, what, "", err)) < 0)
        return r;
    if (*artifact_type && !img_media_type_valid(*artifact_type))
        return img_json_err(err, what, "", "artifactType",
                            "\"%s\" is not a valid media type (type/subtype)", *artifact_type);
    if (so) {
        if (!(*subject = calloc(1, sizeof **subject)))
            return sw_error_oom(err);
        if ((r = desc_from_json(*subject, docker, so, what, "subject", err)) < 0)
            return r;
    }
    return 0;
}

static int
common_to_json(json_t *o, const char *schema_mt, const char *mt, const char *artifact_type,
               const struct img_descriptor *subject, const struct img_strmap *annotations,
               const char *what, struct sw_error **err)
{
    if (img_json_put_int(o, "schemaVersion", 2) < 0 ||
        img_json_set_new(o, "mediaType", json_string(mt ? mt : schema_mt)) < 0 ||
        img_json_put_str(o, "artifactType", artifact_type) < 0 ||
        img_json_put_strmap(o, "annotations", annotations) < 0)
        return sw_error_oom(err);
    if (subject) {
        json_t *s = NULL;
        int r = desc_to_json(&s, subject, what, "subject", err);
        if (r < 0)
            return r;
        if (img_json_set_new(o, "subject", s) < 0)
            return sw_error_oom(err);
    }
    return 0;
}

/* Read the document's mediaType, check it is one of `want` (OCI or Docker) and map it. */
static int
doc_media_type(char **out, bool *docker, const json_t *j, const char *oci, const char *dock,
               const char *other, const char *other_name, const char *what, struct sw_error **err)
{
    int r = img_json_str(out, j, "mediaType", false, what, "", err);
    if (r < 0)
        return r;
    if (!*out) {
        *out = strdup(oci);
        return *out ? 0 : sw_error_oom(err);
    }
    const char *mt = *out;
    if (!strcmp(mt, IMG_MT_DOCKER_SCHEMA1) || !strcmp(mt, IMG_MT_DOCKER_SCHEMA1_SIGNED))
        return img_json_err(err, what, "", "mediaType",
                            "Docker schema 1 manifests (%s) are not supported", mt);
    if (!strcmp(img_media_type_to_oci(mt), other))
        return img_json_err(err, what, "", "mediaType", "\"%s\" is an %s, not an %s", mt,
                            other_name, what);
    if (strcmp(mt, oci) && strcmp(mt, dock))
        return img_json_err(err, what, "", "mediaType", "unexpected media type \"%s\" (want %s)",
                            mt, oci);
    if ((r = map_media_type(out)) < 0)
        return sw_error_oom(err);
    if (r > 0)
        *docker = true;
    return 0;
}

/* ---- image manifest -------------------------------------------------------------------------- */

int
img_manifest_init(struct img_manifest *m, const struct img_descriptor *config,
                  struct sw_error **err)
{
    memset(m, 0, sizeof *m);
    if (!(m->media_type = strdup(IMG_MT_OCI_MANIFEST)))
        return sw_error_oom(err);
    int r = img_descriptor_copy(&m->config, config, err);
    if (r < 0)
        img_manifest_clear(m);
    return r;
}

int
img_manifest_add_layer(struct img_manifest *m, const struct img_descriptor *layer,
                       struct sw_error **err)
{
    return desc_array_push(&m->layers, &m->nlayers, &m->layers_cap, layer, err);
}

int
img_manifest_to_json(char **out, size_t *len, const struct img_manifest *m, struct sw_error **err)
{
    sw_cleanup(json_decrefp) json_t *o = json_object();
    json_t *layers = json_array();
    if (!o || img_json_set_new(o, "layers", layers) < 0)
        return sw_error_oom(err);
    int r = common_to_json(o, IMG_MT_OCI_MANIFEST, m->media_type, m->artifact_type, m->subject,
                           &m->annotations, WHAT_MANIFEST, err);
    if (r < 0)
        return r;
    json_t *c = NULL;
    if ((r = desc_to_json(&c, &m->config, WHAT_MANIFEST, "config", err)) < 0)
        return r;
    if (img_json_set_new(o, "config", c) < 0)
        return sw_error_oom(err);
    for (size_t i = 0; i < m->nlayers; i++) {
        char where[64];
        json_t *l = NULL;
        img_json_path(where, sizeof where, "layers", NULL, i);
        if ((r = desc_to_json(&l, &m->layers[i], WHAT_MANIFEST, where, err)) < 0)
            return r;
        if (json_array_append_new(layers, l) < 0)
            return sw_error_oom(err);
    }
    return img_json_dump(out, len, o, err);
}

static int
manifest_from_json(struct img_manifest *m, const json_t *j, struct sw_error **err)
{
    int r;
    if ((r = check_schema_version(j, WHAT_MANIFEST, err)) < 0 ||
        (r = doc_media_type(&m->media_type, &m->from_docker, j, IMG_MT_OCI_MANIFEST,
                            IMG_MT_DOCKER_MANIFEST, IMG_MT_OCI_INDEX, "image index", WHAT_MANIFEST,
                            err)) < 0)
        return r;
    if (json_object_get(j, "manifests"))
        return img_json_err(err, WHAT_MANIFEST, "", "manifests",
                            "not allowed in an image manifest (ambiguous document)");
    const json_t *co = NULL, *lo = NULL;
    if ((r = img_json_child(&co, j, "config", JSON_OBJECT, true, WHAT_MANIFEST, "", err)) < 0 ||
        (r = desc_from_json(&m->config, &m->from_docker, co, WHAT_MANIFEST, "config", err)) < 0 ||
        (r = img_json_child(&lo, j, "layers", JSON_ARRAY, true, WHAT_MANIFEST, "", err)) < 0)
        return r;
    size_t n = json_array_size(lo);
    if (n && !(m->layers = calloc(n, sizeof *m->layers)))
        return sw_error_oom(err);
    m->layers_cap = n;
    for (size_t i = 0; i < n; i++) {
        char where[64];
        img_json_path(where, sizeof where, "layers", NULL, i);
        const json_t *e = json_array_get(lo, i);
        if (!json_is_object(e))
            return img_json_err(err, WHAT_MANIFEST, where, NULL, "expected an object");
        r = desc_from_json(&m->layers[i], &m->from_docker, e, WHAT_MANIFEST, where, err);
        m->nlayers = i + 1; /* the failed one is cleared by img_manifest_clear too */
        if (r < 0)
            return r;
    }
    return common_from_json(&m->subject, &m->annotations, &m->artifact_type, &m->from_docker, j,
                            WHAT_MANIFEST, err);
}

int
img_manifest_parse(struct img_manifest *out, const char *data, size_t len, struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    sw_cleanup(json_decrefp) json_t *j = NULL;
    int r = img_json_load(&j, data, len, WHAT_MANIFEST, err);
    if (r == 0)
        r = manifest_from_json(out, j, err);
    if (r < 0)
        img_manifest_clear(out);
    return r;
}

void
img_manifest_clear(struct img_manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    free(m->artifact_type);
    img_descriptor_clear(&m->config);
    for (size_t i = 0; i < m->nlayers; i++)
        img_descriptor_clear(&m->layers[i]);
    free(m->layers);
    if (m->subject) {
        img_descriptor_clear(m->subject);
        free(m->subject);
    }
    img_strmap_free(&m->annotations);
    memset(m, 0, sizeof *m);
}

/* ---- image index ----------------------------------------------------------------------------- */

int
img_index_init(struct img_index *ix, struct sw_error **err)
{
    memset(ix, 0, sizeof *ix);
    if (!(ix->media_type = strdup(IMG_MT_OCI_INDEX)))
        return sw_error_oom(err);
    return 0;
}

int
img_index_add(struct img_index *ix, const struct img_descriptor *entry, struct sw_error **err)
{
    return desc_array_push(&ix->manifests, &ix->nmanifests, &ix->manifests_cap, entry, err);
}

int
img_index_to_json(char **out, size_t *len, const struct img_index *ix, struct sw_error **err)
{
    sw_cleanup(json_decrefp) json_t *o = json_object();
    json_t *arr = json_array();
    if (!o || img_json_set_new(o, "manifests", arr) < 0)
        return sw_error_oom(err);
    int r = common_to_json(o, IMG_MT_OCI_INDEX, ix->media_type, ix->artifact_type, ix->subject,
                           &ix->annotations, WHAT_INDEX, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ix->nmanifests; i++) {
        char where[64];
        json_t *e = NULL;
        img_json_path(where, sizeof where, "manifests", NULL, i);
        if ((r = desc_to_json(&e, &ix->manifests[i], WHAT_INDEX, where, err)) < 0)
            return r;
        if (json_array_append_new(arr, e) < 0)
            return sw_error_oom(err);
    }
    return img_json_dump(out, len, o, err);
}

static int
index_from_json(struct img_index *ix, const json_t *j, struct sw_error **err)
{
    int r;
    if ((r = check_schema_version(j, WHAT_INDEX, err)) < 0 ||
        (r = doc_media_type(&ix->media_type, &ix->from_docker, j, IMG_MT_OCI_INDEX,
                            IMG_MT_DOCKER_LIST, IMG_MT_OCI_MANIFEST, "image manifest", WHAT_INDEX,
                            err)) < 0)
        return r;
    if (json_object_get(j, "config") || json_object_get(j, "layers"))
        return img_json_err(err, WHAT_INDEX, "", json_object_get(j, "config") ? "config" : "layers",
                            "not allowed in an image index (ambiguous document)");
    const json_t *mo = NULL;
    if ((r = img_json_child(&mo, j, "manifests", JSON_ARRAY, true, WHAT_INDEX, "", err)) < 0)
        return r;
    size_t n = json_array_size(mo);
    if (n && !(ix->manifests = calloc(n, sizeof *ix->manifests)))
        return sw_error_oom(err);
    ix->manifests_cap = n;
    for (size_t i = 0; i < n; i++) {
        char where[64];
        img_json_path(where, sizeof where, "manifests", NULL, i);
        const json_t *e = json_array_get(mo, i);
        if (!json_is_object(e))
            return img_json_err(err, WHAT_INDEX, where, NULL, "expected an object");
        r = desc_from_json(&ix->manifests[i], &ix->from_docker, e, WHAT_INDEX, where, err);
        ix->nmanifests = i + 1;
        if (r < 0)
            return r;
    }
    return common_from_json(&ix->subject, &ix->annotations, &ix->artifact_type, &ix->from_docker, j,
                            WHAT_INDEX, err);
}

int
img_index_parse(struct img_index *out, const char *data, size_t len, struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    sw_cleanup(json_decrefp) json_t *j = NULL;
    int r = img_json_load(&j, data, len, WHAT_INDEX, err);
    if (r == 0)
        r = index_from_json(out, j, err);
    if (r < 0)
        img_index_clear(out);
    return r;
}

void
img_index_clear(struct img_index *ix)
{
    if (!ix)
        return;
    free(ix->media_type);
    free(ix->artifact_type);
    for (size_t i = 0; i < ix->nmanifests; i++)
        img_descriptor_clear(&ix->manifests[i]);
    free(ix->manifests);
    if (ix->subject) {
        img_descriptor_clear(ix->subject);
        free(ix->subject);
    }
    img_strmap_free(&ix->annotations);
    memset(ix, 0, sizeof *ix);
}
