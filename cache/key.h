/*
 * cache/key.h: cache keys of build steps.
 *
 * Owns: the canonical text a step's key is the sha256 of. A key is built from named fields, one
 * line each ("name value", the value escaped so a line is always one line), in the order the
 * caller adds them; the lines are kept so that a record can store them and `--explain-cache`
 * can show which one differs. The exact fields per step kind are the solver's
 * (builder/solve/solve_cache.c) and are listed in docs/cache.md.
 */
#ifndef SLIPWAY_CACHE_KEY_H
#define SLIPWAY_CACHE_KEY_H

#include "../builder/util/buf.h"
#include "../builder/util/digest.h"
#include "../builder/util/error.h"

/* The version line every key starts with: a change of the key format changes every key. */
#define CACHE_KEY_VERSION "slipway-cache-key 1"

struct cache_key {
    struct sw_strv lines; /* "name value", escaped */
};

/* Add a field; the value is formatted, then escaped (\ -> \\, newline -> \n, CR -> \r). */
int cache_key_add(struct cache_key *k, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Add a field per string of a list: "name[i] value". */
int cache_key_add_list(struct cache_key *k, const char *name, const struct sw_strv *values);
/* sha256 of CACHE_KEY_VERSION "\n" + every line + "\n". */
int cache_key_digest(const struct cache_key *k, struct sw_digest *out, struct sw_error **err);
void cache_key_clear(struct cache_key *k);

#endif
