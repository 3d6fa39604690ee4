/*
 * builder/image/strmap.h: ordered string maps for image metadata.
 *
 * Owns: struct img_strmap, a small map from string to string with unique keys that keeps the
 * order in which keys were first set (config Labels, descriptor/manifest/index annotations).
 * JSON output sorts keys anyway; the order only matters to callers that iterate. Setters copy
 * their arguments and return 0 or -SW_ENOMEM (no error object: callers decide). A
 * zero-initialized struct is an empty, valid map.
 */
#ifndef SLIPWAY_IMAGE_STRMAP_H
#define SLIPWAY_IMAGE_STRMAP_H

#include <stddef.h>

#include "../util/error.h"

struct img_strmap {
    char **keys;
    char **values;
    size_t n, cap;
};

/* Set key to value (replacing an existing value in place, else appending). */
int img_strmap_set(struct img_strmap *m, const char *key, const char *value);
/* The value for key (borrowed, valid until the map changes), or NULL. */
const char *img_strmap_get(const struct img_strmap *m, const char *key);
/* Remove key; returns 1 if it was present, 0 if not. */
int img_strmap_del(struct img_strmap *m, const char *key);
/* Deep copy into *out (which must be empty). On failure *out is left empty. */
int img_strmap_copy(struct img_strmap *out, const struct img_strmap *src);
void img_strmap_free(struct img_strmap *m);

#endif
