/*
 * cache/record.h: cache records, what a build step produced under a key.
 *
 * Owns: the records kept in the store (ROOT/cache/records/<key hex>.json, plus <key hex>.files
 * with the content checksums of the files the step read, for --explain-cache), the "site" index
 * that finds the record an earlier build made at the same place of the same build file
 * (ROOT/cache/sites/<site hex>), listing and removing records. A record's last use is the mtime
 * of its .json file (touched on every hit). Writes are atomic (temporary file + rename): a
 * record is either whole or absent, and concurrent builds writing the same key write the same
 * content. See docs/cache.md ("Records").
 */
#ifndef SLIPWAY_CACHE_RECORD_H
#define SLIPWAY_CACHE_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "../builder/util/buf.h"
#include "../builder/util/digest.h"
#include "../builder/util/error.h"
#include "store.h"

struct cache_record {
    struct sw_digest key;
    struct sw_digest parent; /* the key of the step this one extends (str[0] == 0: none) */
    char *kind;              /* "copy", "add", "run", "workdir" */
    char *description;       /* "[stage-1 3/5] COPY . /ctx" */
    char *location;          /* "Dockerfile:3" (may be NULL) */
    char *created_by;        /* the history entry */
    char *history_created;   /* its time (RFC 3339): a hit keeps it (may be NULL) */
    bool empty_layer;        /* the step added no layer (a WORKDIR that existed): no layer_* */
    char *layer_media_type;
    struct sw_digest layer_digest;
    uint64_t layer_size;
    struct sw_digest diff_id;
    struct sw_strv def; /* the key's lines */
    int64_t created;    /* unix seconds */
    int64_t used;       /* unix seconds (the .json file's mtime) */
};

void cache_record_clear(struct cache_record *r);

/* Write a record (and the checksum list `files`, may be NULL) and point `site` (may be NULL) at
 * it. */
int cache_record_put(struct store *st, const struct cache_record *r, const char *files,
                     const struct sw_digest *site, struct sw_error **err);
/* Read the record of `key`: -SW_ENOTFOUND when there is none (a damaged one counts as none). */
int cache_record_get(struct store *st, const struct sw_digest *key, struct cache_record *out,
                     struct sw_error **err);
/* The checksum list stored with a record (*files NULL when it has none). */
int cache_record_files(struct store *st, const struct sw_digest *key, char **files,
                       struct sw_error **err);
/* Mark a record used now. */
void cache_record_touch(struct store *st, const struct sw_digest *key);
/* The key an earlier build recorded at `site`: -SW_ENOTFOUND when none. */
int cache_site_get(struct store *st, const struct sw_digest *site, struct sw_digest *key,
                   struct sw_error **err);
/* Call fn for every record (in no order); fn returning non-zero stops and is returned. */
int cache_record_each(struct store *st, int (*fn)(const struct cache_record *r, void *ctx),
                      void *ctx, struct sw_error **err);
/*
 * Memos of derived checksums (ROOT/cache/sel/<key hex>): the content checksum of files selected
 * from a stage whose key is known, so that a step reading an unchanged stage does not have to
 * extract and read it again. cache_memo_get: -SW_ENOTFOUND when absent or damaged.
 */
int cache_memo_put(struct store *st, const struct sw_digest *key, const struct sw_digest *sum,
                   const char *files, struct sw_error **err);
int cache_memo_get(struct store *st, const struct sw_digest *key, struct sw_digest *sum,
                   char **files, struct sw_error **err);

/* Remove a record (its .json and .files). */
int cache_record_remove(struct store *st, const struct sw_digest *key, struct sw_error **err);

#endif
