/*
 * builder/util/digest.h: content digests ("sha256:<64 lower-case hex>").
 *
 * Owns: streaming SHA-256 through OpenSSL's EVP interface, formatting and validating digest
 * strings. Every blob, layer, config and cache key in slipway is named by one of these.
 */
#ifndef SLIPWAY_UTIL_DIGEST_H
#define SLIPWAY_UTIL_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define SW_DIGEST_HEX_LEN 64
#define SW_DIGEST_STR_LEN (7 + SW_DIGEST_HEX_LEN) /* "sha256:" + hex */

/* "sha256:" + 64 hex + NUL */
struct sw_digest {
    char str[SW_DIGEST_STR_LEN + 1];
};

struct sw_hasher; /* opaque streaming SHA-256 */

int sw_hasher_new(struct sw_hasher **out, struct sw_error **err);
int sw_hasher_update(struct sw_hasher *h, const void *data, size_t len, struct sw_error **err);
/* Finish into *out; the hasher can be reused after sw_hasher_reset. */
int sw_hasher_final(struct sw_hasher *h, struct sw_digest *out, struct sw_error **err);
int sw_hasher_reset(struct sw_hasher *h, struct sw_error **err);
void sw_hasher_free(struct sw_hasher *h);

/* One-shot digest of a buffer. */
int sw_digest_bytes(struct sw_digest *out, const void *data, size_t len, struct sw_error **err);

/* True for "sha256:" followed by exactly 64 lower-case hex digits. */
bool sw_digest_valid(const char *s);
/* Parse and validate; -SW_EINVAL with a message naming s otherwise. */
int sw_digest_parse(struct sw_digest *out, const char *s, struct sw_error **err);
/* The hex part of a valid digest string. */
static inline const char *
sw_digest_hex(const struct sw_digest *d)
{
    return d->str + 7;
}

#endif
