/*
 * builder/image/json_internal.h: jansson helpers shared by the image-model sources (config.c,
 * manifest.c). Not a public API.
 *
 * Owns: typed field getters whose errors name the document and the field ("image manifest:
 * layers[1].size: expected a non-negative integer"), omitempty-style setters, the unknown-field
 * ("extra") bookkeeping, media type and base64 checks, and the canonical dump
 * (JSON_COMPACT | JSON_SORT_KEYS).
 *
 * Getter conventions: `what` names the document ("image config"), `path` the object holding the
 * key ("" for the top level, "config", "layers[2]"). A JSON null counts as absent, as in Go's
 * encoding/json. Errors are -SW_EINVAL (bad input) or -SW_ENOMEM.
 */
#ifndef SLIPWAY_IMAGE_JSON_INTERNAL_H
#define SLIPWAY_IMAGE_JSON_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/error.h"
#include "strmap.h"

/* "<what>: <path>.<key>: <message>"; key NULL: "<what>: <path>: ..."; both empty: "<what>: ...". */
int img_json_err(struct sw_error **err, const char *what, const char *path, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "parent.key" (or "key") into buf; "parent[i]" when key is NULL. Returns buf. */
char *img_json_path(char *buf, size_t n, const char *parent, const char *key, size_t index);

/* Parse bytes into an object; anything else (or a syntax error) is -SW_EINVAL. */
int img_json_load(json_t **out, const char *data, size_t len, const char *what,
                  struct sw_error **err);
/* Canonical bytes: compact, keys sorted. *out is owned by the caller; *len excludes the NUL. */
int img_json_dump(char **out, size_t *len, const json_t *j, struct sw_error **err);

/* obj[key] as an owned string; *out is NULL when absent. */
int img_json_str(char **out, const json_t *obj, const char *key, bool required, const char *what,
                 const char *path, struct sw_error **err);
/* obj[key] as an int64 (a JSON integer, not a real). *present says whether it was there. */
int img_json_int(int64_t *out, bool *present, const json_t *obj, const char *key, bool required,
                 const char *what, const char *path, struct sw_error **err);
/* obj[key] as an array of strings appended to out; *present as above (may be NULL). */
int img_json_strv(struct sw_strv *out, bool *present, const json_t *obj, const char *key,
                  const char *what, const char *path, struct sw_error **err);
/* obj[key] as an object of strings (Labels, annotations). */
int img_json_strmap(struct img_strmap *out, const json_t *obj, const char *key, const char *what,
                    const char *path, struct sw_error **err);
/* obj[key] as a set: an object whose values are objects ({"80/tcp": {}}); keys appended. */
int img_json_strset(struct sw_strv *out, const json_t *obj, const char *key, const char *what,
                    const char *path, struct sw_error **err);
/* obj[key] when it is an object or an array (per `type`); *out NULL when absent. Borrowed. */
int img_json_child(const json_t **out, const json_t *obj, const char *key, json_type type,
                   bool required, const char *what, const char *path, struct sw_error **err);

/* The members of obj whose keys are not in known (NULL-terminated), as a new object; *out is
 * NULL when there are none. */
int img_json_extra(json_t **out, const json_t *obj, const char *const *known);
/* Copy (deeply) the members of extra that obj does not have yet. extra may be NULL. */
int img_json_merge_extra(json_t *obj, const json_t *extra);

/* omitempty setters: nothing is written for NULL/"" strings, empty lists, maps and sets.
 * All return 0 or -SW_ENOMEM. */
int img_json_put_str(json_t *obj, const char *key, const char *s);
int img_json_put_int(json_t *obj, const char *key, int64_t v);
int img_json_put_strv(json_t *obj, const char *key, const struct sw_strv *v, bool omit_empty);
int img_json_put_strmap(json_t *obj, const char *key, const struct img_strmap *m);
int img_json_put_strset(json_t *obj, const char *key, const struct sw_strv *set);
/* json_object_set_new that reports a NULL value or a failure as -SW_ENOMEM. */
int img_json_set_new(json_t *obj, const char *key, json_t *v);

/* The RFC 6838 shape the OCI schema requires: type/subtype, each [A-Za-z0-9][...]{0,126}. */
bool img_media_type_valid(const char *s);
/* Standard, padded base64 (what Go's encoding/json accepts for []byte). */
bool img_base64_valid(const char *s);
/* Append s to the set unless it is already there (0, or -SW_ENOMEM). */
int img_strset_add(struct sw_strv *set, const char *s);

#endif
