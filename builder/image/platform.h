/*
 * builder/image/platform.h: OCI platforms (os/arch/variant).
 *
 * Owns: parsing and normalizing platform strings the way containerd's platforms package does
 * ("linux/x86_64" -> linux/amd64, "arm" -> arm/v7, "aarch64" -> arm64), formatting them, and the
 * host's platform. Used by the frontend (FROM --platform, TARGETPLATFORM/BUILDPLATFORM args) and
 * by the image model.
 */
#ifndef SLIPWAY_IMAGE_PLATFORM_H
#define SLIPWAY_IMAGE_PLATFORM_H

#include <stddef.h>

#include "../util/error.h"

struct img_platform {
    char os[32];
    char arch[32];
    char variant[32]; /* "" when none */
};

/* Parse "os[/arch[/variant]]" (or a bare arch, meaning linux/arch). Errors name the string. */
int img_platform_parse(struct img_platform *out, const char *s, struct sw_error **err);
/* The platform of this machine (linux and the kernel's architecture, normalized). */
void img_platform_host(struct img_platform *out);
/* "os/arch[/variant]" into buf; returns buf. */
char *img_platform_format(char *buf, size_t n, const struct img_platform *p);

#endif
