/*
 * builder/image/manifest.h: OCI descriptors, image manifests and image indexes.
 *
 * Owns: the media type names (OCI and Docker schema 2) and the Docker -> OCI mapping applied on
 * read; struct img_descriptor (mediaType, digest, size, platform, annotations, urls,
 * artifactType, data); struct img_manifest (application/vnd.oci.image.manifest.v1+json) and
 * struct img_index (application/vnd.oci.image.index.v1+json): building, canonical JSON output
 * (compact, keys sorted: the same value always gives the same bytes, hence the same digest),
 * and validated parsing.
 *
 * Reading: Docker schema 2 documents (manifest.v2+json, manifest.list.v2+json) are accepted and
 * every Docker media type in them (the document's, config's, layers', entries') is mapped to its
 * OCI equivalent (img_media_type_to_oci); `from_docker` records that it happened. Digests must
 * be sha256 ("sha256:" + 64 lower-case hex: slipway names every blob that way), sizes must be
 * non-negative integers, required fields must be present, and a document that is both a
 * manifest and an index (config/layers next to manifests) is rejected. Errors are -SW_EINVAL
 * with a message naming the document and the field: `image manifest: layers[1].digest:
 * "sha256:AB.." is not a sha256 digest (sha256: + 64 lower-case hex digits)`.
 *
 * Writing always produces OCI media types unless the caller put other ones in the structs.
 * Empty optional fields are omitted (no "annotations": {} ), layers is always written.
 *
 * Ownership: every string in these structs is owned by it; *_free accept NULL / zeroed structs.
 */
#ifndef SLIPWAY_IMAGE_MANIFEST_H
#define SLIPWAY_IMAGE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/digest.h"
#include "../util/error.h"
#include "platform.h"
#include "strmap.h"

/* ---- media types ----------------------------------------------------------------------------- */

#define IMG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMG_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define IMG_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMG_MT_OCI_LAYER_ND "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define IMG_MT_OCI_LAYER_ND_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define IMG_MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"

#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define IMG_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define IMG_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define IMG_MT_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"
#define IMG_MT_DOCKER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar"
#define IMG_MT_DOCKER_FOREIGN_GZIP "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define IMG_MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define IMG_MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/*
 * The OCI equivalent of a Docker schema 2 media type (manifest, manifest list, config, layer
 * diff tar / tar.gzip / tar.zstd, foreign layer tar / tar.gzip -> nondistributable), or mt
 * itself for anything else (OCI types, unknown types). Never NULL for a non-NULL mt.
 */
const char *img_media_type_to_oci(const char *mt);
/* True for the Docker schema 2 media types img_media_type_to_oci maps. */
bool img_media_type_is_docker(const char *mt);

/* What a registry document is, from its mediaType (and, when that is absent, its fields). */
enum img_doc_kind {
    IMG_DOC_UNKNOWN,
    IMG_DOC_MANIFEST, /* OCI image manifest or Docker schema 2 manifest */
    IMG_DOC_INDEX,    /* OCI image index or Docker manifest list */
};
/* Sniff without validating. Never fails: unparseable input is IMG_DOC_UNKNOWN. */
enum img_doc_kind img_doc_kind_detect(const char *data, size_t len);

/* ---- platform (descriptor / index entry) ----------------------------------------------------- */

/* The OCI platform object: all strings owned; "" is never stored (NULL means absent). */
struct img_desc_platform {
    char *architecture; /* required */
    char *os;           /* required */
    char *os_version;   /* "os.version" (Windows build, e.g. 10.0.20348.2113) */
    struct sw_strv os_features;
    char *variant;
};

/* Fill from a parsed platform (platform.h). os_version / os_features are left empty. */
int img_desc_platform_from(struct img_desc_platform *out, const struct img_platform *p,
                           struct sw_error **err);
int img_desc_platform_copy(struct img_desc_platform *out, const struct img_desc_platform *src);
void img_desc_platform_clear(struct img_desc_platform *p);

/* ---- descriptor ------------------------------------------------------------------------------ */

struct img_descriptor {
    char *media_type; /* required */
    struct sw_digest digest;
    int64_t size;                       /* >= 0 */
    struct img_desc_platform *platform; /* NULL when none (index entries usually have one) */
    struct img_strmap annotations;
    struct sw_strv urls;
    char *artifact_type; /* NULL when none */
    char *data;          /* base64 embedded content; NULL when none */
};

/* A descriptor with media_type, digest and size set (everything else empty). */
int img_descriptor_init(struct img_descriptor *d, const char *media_type,
                        const struct sw_digest *digest, int64_t size, struct sw_error **err);
int img_descriptor_copy(struct img_descriptor *out, const struct img_descriptor *src,
                        struct sw_error **err);
void img_descriptor_clear(struct img_descriptor *d);

/* A lone descriptor (application/vnd.oci.descriptor.v1+json), e.g. from an OCI layout's
 * index.json entries or a referrers response. Media types are mapped like everything else. */
int img_descriptor_parse(struct img_descriptor *out, const char *data, size_t len,
                         struct sw_error **err);
int img_descriptor_to_json(char **out, size_t *len, const struct img_descriptor *d,
                           struct sw_error **err);

/* ---- image manifest -------------------------------------------------------------------------- */

struct img_manifest {
    char *media_type;    /* IMG_MT_OCI_MANIFEST after parsing (mapped, or defaulted if absent) */
    char *artifact_type; /* NULL when none */
    struct img_descriptor config;
    struct img_descriptor *layers; /* in order, base layer first */
    size_t nlayers, layers_cap;
    struct img_descriptor *subject; /* NULL when none */
    struct img_strmap annotations;
    bool from_docker; /* parsed from a Docker schema 2 document (media types were mapped) */
};

/* An empty OCI manifest (media type set) whose config descriptor is given (copied). */
int img_manifest_init(struct img_manifest *m, const struct img_descriptor *config,
                      struct sw_error **err);
/* Append a copy of a layer descriptor. */
int img_manifest_add_layer(struct img_manifest *m, const struct img_descriptor *layer,
                           struct sw_error **err);
/* Canonical JSON: {"schemaVersion":2,"mediaType":...,"config":...,"layers":[...],...}. */
int img_manifest_to_json(char **out, size_t *len, const struct img_manifest *m,
                         struct sw_error **err);
/* Parse and validate (see the top of this header). On failure *out is left zeroed. */
int img_manifest_parse(struct img_manifest *out, const char *data, size_t len,
                       struct sw_error **err);
void img_manifest_clear(struct img_manifest *m);

/* ---- image index ----------------------------------------------------------------------------- */

struct img_index {
    char *media_type; /* IMG_MT_OCI_INDEX after parsing */
    char *artifact_type;
    struct img_descriptor *manifests;
    size_t nmanifests, manifests_cap;
    struct img_descriptor *subject;
    struct img_strmap annotations;
    bool from_docker;
};

int img_index_init(struct img_index *ix, struct sw_error **err);
/* Append a copy of an entry (normally a manifest descriptor with a platform). */
int img_index_add(struct img_index *ix, const struct img_descriptor *entry, struct sw_error **err);
int img_index_to_json(char **out, size_t *len, const struct img_index *ix, struct sw_error **err);
int img_index_parse(struct img_index *out, const char *data, size_t len, struct sw_error **err);
void img_index_clear(struct img_index *ix);

#endif
