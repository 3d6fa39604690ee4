/*
 * builder/image/ref.h: image references ("busybox", "ghcr.io/o/r:tag@sha256:...").
 *
 * Owns: parsing and normalizing references with the grammar and rules of
 * github.com/distribution/reference (ParseNormalizedNamed followed by TagNameOnly), and
 * printing them in the fully-qualified and the familiar (docker CLI) forms:
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path          (at most 255 characters, domain included)
 *   domain    := host [ ":" port ]             host: DNS-ish components ([A-Za-z0-9] with inner
 *                                              '-'), dotted, or "[" IPv6 "]"; port: digits
 *   path      := component { "/" component }  component: [a-z0-9]+ joined by '.', '_', '__'
 *                                              or runs of '-'
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 lower-case hex  (other algorithms are refused: slipway stores
 *                                              everything by sha256)
 *
 * Normalization: the first path component is a domain only if it contains '.' or ':', is
 * "localhost", or has upper-case letters; otherwise the domain is "docker.io" (and
 * "index.docker.io" becomes "docker.io"); a docker.io path with one component gets "library/";
 * with neither tag nor digest the tag is "latest". A 64-hex-digit name is refused (it would be
 * an image ID).
 *
 * Errors are -SW_EINVAL and start like distribution's, "invalid reference format", then say what
 * is wrong and quote the input: `invalid reference format: repository name (library/Busybox)
 * must be lowercase`.
 */
#ifndef SLIPWAY_IMAGE_REF_H
#define SLIPWAY_IMAGE_REF_H

#include <stdbool.h>

#include "../util/digest.h"
#include "../util/error.h"

#define IMG_REF_DEFAULT_DOMAIN "docker.io"
#define IMG_REF_DEFAULT_TAG "latest"
#define IMG_REF_NAME_MAX 255
#define IMG_REF_TAG_MAX 128

struct img_ref {
    char *domain;       /* "docker.io", "ghcr.io", "localhost:5000" */
    char *path;         /* "library/busybox", "team/app" */
    char *tag;          /* NULL only when a digest is given without a tag */
    bool tag_defaulted; /* tag is the implied "latest" */
    bool has_digest;
    struct sw_digest digest;
};

/* Parse and normalize s. On success *out is owned by the caller (img_ref_free). */
int img_ref_parse(struct img_ref **out, const char *s, struct sw_error **err);
/* "docker.io/library/busybox:latest", "ghcr.io/o/r:v1@sha256:...". NULL on OOM; caller frees. */
char *img_ref_string_full(const struct img_ref *r);
/* What docker prints: "busybox:latest", "team/app:v1" (docker.io), "localhost:5000/team/app:v1"
 * (other domains are kept), "busybox@sha256:...". NULL on OOM; caller frees. */
char *img_ref_string_familiar(const struct img_ref *r);
/* The repository without tag or digest: "docker.io/library/busybox". NULL on OOM. */
char *img_ref_string_name(const struct img_ref *r);
void img_ref_free(struct img_ref *r);

#endif
