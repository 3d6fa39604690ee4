/*
 * cache/store_index.c: index.json: reading and validating it, descriptors, and the tags kept in
 * its `manifests` array. Every change runs under an exclusive flock on locks/index.lock, re-reads
 * the file, and replaces it atomically (store__replace_file).
 */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../builder/util/cleanup.h"

/* ---- index.json -------------------------------------------------------------------------------
 */

int
store__index_check(const json_t *idx, const char *shown, struct sw_error **err)
{
    if (!json_is_object(idx))
        return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: corrupt: not a JSON object", shown);
    json_t *v = json_object_get(idx, "schemaVersion");
    if (!json_is_integer(v) || json_integer_value(v) != 2)
        return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: corrupt: schemaVersion is not 2", shown);
    v = json_object_get(idx, "mediaType");
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), STORE_MT_OCI_INDEX) != 0))
        return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: corrupt: mediaType is not %s", shown,
                            STORE_MT_OCI_INDEX);
    json_t *m = json_object_get(idx, "manifests");
    if (!json_is_array(m))
        return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: corrupt: no manifests array", shown);
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e)
    {
        json_t *size = json_object_get(e, "size");
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "mediaType")) ||
            !json_is_string(json_object_get(e, "digest")) || !json_is_integer(size) ||
            json_integer_value(size) < 0)
            return sw_error_set(err, SW_EPARSE, 0, NULL,
                                "%s: corrupt: manifests[%zu] is not a descriptor (mediaType, "
                                "digest, size)",
                                shown, i);
    }
    return 0;
}

int
store__index_load(struct store *st, json_t **out, struct sw_error **err)
{
    sw_autofree char *shown = NULL;
    if (asprintf(&shown, "%s/" STORE_INDEX_FILE, st->root) < 0)
        return sw_error_oom(err);
    sw_autofree char *text = NULL;
    size_t len = 0;
    int r =
        store__read_at(st->rootfd, STORE_INDEX_FILE, shown, STORE_INDEX_MAX_SIZE, &text, &len, err);
    if (r < 0)
        return r;
    json_error_t jerr;
    json_auto_t *idx = json_loadb(text, len, 0, &jerr);
    if (!idx)
        return sw_error_set(err, SW_EPARSE, 0, NULL,
                            "%s: corrupt: invalid JSON: %s (line %d, column %d)", shown, jerr.text,
                            jerr.line, jerr.column);
    if ((r = store__index_check(idx, shown, err)) < 0)
        return r;
    *out = sw_steal(&idx);
    return 0;
}

/* ---- descriptors ------------------------------------------------------------------------------
 */

void
store_desc_clear(struct store_desc *d)
{
    if (!d)
        return;
    free(d->media_type);
    free(d->platform.os);
    free(d->platform.architecture);
    free(d->platform.variant);
    free(d->platform.os_version);
    for (size_t i = 0; i < d->nannotations; i++) {
        free(d->annotations[i].key);
        free(d->annotations[i].value);
    }
    free(d->annotations);
    memset(d, 0, sizeof *d);
}

const char *
store_desc_annotation(const struct store_desc *d, const char *key)
{
    for (size_t i = 0; i < d->nannotations; i++)
        if (!strcmp(d->annotations[i].key, key))
            return d->annotations[i].value;
    return NULL;
}

/* Copy an optional string member; -1 on OOM, 1 if present but not a string. */
static int
dup_member(char **out, const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return 1;
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

static int
desc_fill(struct store_desc *d, const json_t *j, const char *where, struct sw_error **err)
{
    if (!json_is_object(j))
        return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: a descriptor must be an object", where);
    int c = dup_member(&d->media_type, j, "mediaType");
    if (c < 0)
        return sw_error_oom(err);
    if (c > 0 || !d->media_type)
        return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: descriptor without a mediaType", where);
    const char *dg = json_string_value(json_object_get(j, "digest"));
    if (!sw_digest_valid(dg))
        return sw_error_set(err, SW_EPARSE, 0, NULL,
                            "%s: descriptor digest \"%s\" is not a sha256 digest", where,
                            dg ? dg : "");
    memcpy(d->digest.str, dg, SW_DIGEST_STR_LEN + 1);
    json_t *size = json_object_get(j, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: descriptor without a valid size", where);
    d->size = (uint64_t)json_integer_value(size);

    json_t *p = json_object_get(j, "platform");
    if (p) {
        struct store_platform *pl = &d->platform;
        if (!json_is_object(p))
            return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: platform is not an object", where);
        int c1 = dup_member(&pl->os, p, "os"),
            c2 = dup_member(&pl->architecture, p, "architecture");
        int c3 = dup_member(&pl->variant, p, "variant"),
            c4 = dup_member(&pl->os_version, p, "os.version");
        if (c1 < 0 || c2 < 0 || c3 < 0 || c4 < 0)
            return sw_error_oom(err);
        if (c1 || c2 || c3 || c4 || !pl->os || !pl->architecture)
            return sw_error_set(err, SW_EPARSE, 0, NULL,
                                "%s: platform needs string os and architecture", where);
        d->has_platform = true;
    }

    json_t *ann = json_object_get(j, "annotations");
    if (ann) {
        if (!json_is_object(ann))
            return sw_error_set(err, SW_EPARSE, 0, NULL, "%s: annotations is not an object", where);
        d->annotations = calloc(json_object_size(ann) + 1, sizeof *d->annotations);
        if (!d->annotations)
            return sw_error_oom(err);
        const char *k;
        json_t *v;
        json_object_foreach(ann, k, v)
        {
            if (!json_is_string(v))
                return sw_error_set(err, SW_EPARSE, 0, NULL,
                                    "%s: annotation \"%s\" is not a string", where, k);
            struct store_annotation *a = &d->annotations[d->nannotations];
            a->key = strdup(k);
            a->value = strdup(json_string_value(v));
            d->nannotations++;
            if (!a->key || !a->value)
                return sw_error_oom(err);
        }
    }
    return 0;
}

int
store__desc_from_json(struct store_desc *out, const json_t *j, const char *where,
                      struct sw_error **err)
{
    struct store_desc d = {0};
    int r = desc_fill(&d, j, where, err);
    if (r < 0) {
        store_desc_clear(&d);
        return r;
    }
    *out = d;
    return 0;
}

json_t *
store__desc_to_json(const struct store_desc *d)
{
    json_t *j = json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest.str,
                          "size", (json_int_t)d->size);
    if (!j)
        return NULL;
    int bad = 0;
    if (d->has_platform) {
        const struct store_platform *pl = &d->platform;
        json_t *p = json_pack("{s:s, s:s}", "os", pl->os, "architecture", pl->architecture);
        bad |= !p;
        if (p && pl->variant && *pl->variant)
            bad |= json_object_set_new(p, "variant", json_string(pl->variant));
        if (p && pl->os_version && *pl->os_version)
            bad |= json_object_set_new(p, "os.version", json_string(pl->os_version));
        bad |= json_object_set_new(j, "platform", p);
    }
    if (d->nannotations) {
        json_t *a = json_object();
        bad |= !a;
        for (size_t i = 0; a && i < d->nannotations; i++)
            bad |=
                json_object_set_new(a, d->annotations[i].key, json_string(d->annotations[i].value));
        bad |= json_object_set_new(j, "annotations", a);
    }
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

const char *
store__json_ref_name(const json_t *desc)
{
    return json_string_value(
        json_object_get(json_object_get(desc, "annotations"), STORE_ANN_REF_NAME));
}

/* ---- updating index.json ----------------------------------------------------------------------
 */

/* Tagged entries by name, then untagged ones by digest. */
static int
cmp_entries(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *nx = store__json_ref_name(x), *ny = store__json_ref_name(y);
    if (nx && ny) {
        int c = strcmp(nx, ny);
        if (c)
            return c;
    } else if (nx || ny) {
        return nx ? -1 : 1;
    }
    const char *dx = json_string_value(json_object_get(x, "digest"));
    const char *dy = json_string_value(json_object_get(y, "digest"));
    return strcmp(dx ? dx : "", dy ? dy : "");
}

static int
sort_manifests(json_t *m)
{
    size_t n = json_array_size(m);
    if (n < 2)
        return 0;
    json_t **v = calloc(n, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(m, i));
    qsort(v, n, sizeof *v, cmp_entries);
    json_array_clear(m);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= json_array_append_new(m, v[i]);
    free(v);
    return bad ? -1 : 0;
}

typedef int (*index_edit_fn)(json_t *manifests, void *ctx, struct sw_error **err);

/* Lock, re-read, edit, sort, write, unlock. An edit that fails leaves index.json as it was. */
static int
index_update(struct store *st, index_edit_fn edit, void *ctx, struct sw_error **err)
{
    sw_autoclose int lockfd = -1;
    int r = store__lock(st, "index.lock", LOCK_EX, &lockfd, err);
    if (r < 0)
        return r;
    json_auto_t *idx = NULL;
    if ((r = store__index_load(st, &idx, err)) < 0)
        return r;
    json_auto_t *before = json_deep_copy(idx);
    json_t *m = json_object_get(idx, "manifests");
    if ((r = edit(m, ctx, err)) < 0)
        return r;
    if (sort_manifests(m) < 0 ||
        json_object_set_new(idx, "mediaType", json_string(STORE_MT_OCI_INDEX)) < 0)
        return sw_error_oom(err);
    /* nothing changed (a rebuild tagging the same image again): no write, no fsync */
    if (before && json_equal(before, idx))
        return 0;
    sw_autofree char *text = json_dumps(idx, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return sw_error_oom(err);
    size_t len = strlen(text);
    sw_autofree char *withnl = malloc(len + 2);
    if (!withnl)
        return sw_error_oom(err);
    memcpy(withnl, text, len);
    withnl[len] = '\n';
    withnl[len + 1] = '\0';
    return store__replace_file(st, STORE_INDEX_FILE, withnl, len + 1, err);
}

/* Remove entries tagged `name`; the number removed. */
static size_t
remove_tag(json_t *m, const char *name)
{
    size_t removed = 0;
    for (size_t i = json_array_size(m); i-- > 0;) {
        const char *n = store__json_ref_name(json_array_get(m, i));
        if (n && !strcmp(n, name)) {
            json_array_remove(m, i);
            removed++;
        }
    }
    return removed;
}

static bool
is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The OCI ref.name grammar (image-layout.md):
 *   ref ::= component ("/" component)*   component ::= alphanum (separator alphanum)*
 *   alphanum ::= [A-Za-z0-9]+            separator ::= [-._:@+] | "--"          */
static bool
ref_name_valid(const char *s)
{
    const char *p = s;
    if (!s || strlen(s) > 4096)
        return false;
    for (;;) {
        if (!is_alnum(*p))
            return false;
        while (is_alnum(*p))
            p++;
        for (;;) {
            if (p[0] == '-' && p[1] == '-')
                p += 2;
            else if (*p && strchr("-._:@+", *p))
                p++;
            else
                break;
            if (!is_alnum(*p))
                return false;
            while (is_alnum(*p))
                p++;
        }
        if (*p != '/')
            return *p == '\0';
        p++;
    }
}

static int
check_name(const char *name, struct sw_error **err)
{
    if (!ref_name_valid(name))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "invalid image name \"%s\" for the store (want the OCI ref.name form, "
                            "e.g. \"app:latest\" or \"registry.example.com/team/app:1.2\")",
                            name ? name : "");
    return 0;
}

static int
image_not_found(struct sw_error **err, const char *name)
{
    return sw_error_set(err, SW_ENOTFOUND, 0, NULL, "image \"%s\" not found in the store", name);
}

struct tag_set_ctx {
    const char *name;
    json_t *entry;
};

static int
edit_tag_set(json_t *m, void *vctx, struct sw_error **err)
{
    struct tag_set_ctx *ctx = vctx;
    remove_tag(m, ctx->name);
    if (json_array_append(m, ctx->entry) < 0)
        return sw_error_oom(err);
    return 0;
}

int
store_tag_set(struct store *st, const char *name, const char *full_name,
              const struct store_desc *desc, struct sw_error **err)
{
    int r = check_name(name, err);
    if (r < 0)
        return r;
    if (full_name && (!*full_name || strpbrk(full_name, " \t\r\n")))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid full image name \"%s\"", full_name);
    if (!desc->media_type || !*desc->media_type)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "tagging %s: the descriptor has no mediaType",
                            name);
    if (desc->has_platform && (!desc->platform.os || !desc->platform.architecture))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "tagging %s: the platform needs an os and an architecture", name);
    uint64_t size = 0;
    if ((r = store_blob_size(st, &desc->digest, &size, err)) < 0) {
        if (err && *err)
            sw_error_wrap(err, "tagging %s", name);
        return r;
    }
    if (size != desc->size)
        return sw_error_set(
            err, SW_EINVAL, 0, NULL, "tagging %s: blob %s is %llu bytes, the descriptor says %llu",
            name, desc->digest.str, (unsigned long long)size, (unsigned long long)desc->size);

    for (size_t i = 0; i < desc->nannotations; i++)
        if (!desc->annotations[i].key || !desc->annotations[i].value)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "tagging %s: annotation %zu is empty",
                                name, i);
    json_auto_t *entry = store__desc_to_json(desc);
    if (!entry)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "tagging %s: cannot encode the descriptor (strings must be UTF-8)",
                            name);
    json_t *ann = json_object_get(entry, "annotations");
    if (!ann) {
        ann = json_object();
        if (json_object_set_new(entry, "annotations", ann) < 0)
            return sw_error_oom(err);
    }
    if (json_object_set_new(ann, STORE_ANN_REF_NAME, json_string(name)) < 0)
        return sw_error_oom(err);
    if (full_name &&
        json_object_set_new(ann, STORE_ANN_CONTAINERD_NAME, json_string(full_name)) < 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid full image name \"%s\" (not UTF-8)",
                            full_name);
    if (!full_name)
        json_object_del(ann, STORE_ANN_CONTAINERD_NAME);
    struct tag_set_ctx ctx = {.name = name, .entry = entry};
    return index_update(st, edit_tag_set, &ctx, err);
}

int
store_tag_get(struct store *st, const char *name, struct store_desc *out, struct sw_error **err)
{
    json_auto_t *idx = NULL;
    int r = store__index_load(st, &idx, err);
    if (r < 0)
        return r;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(idx, "manifests"), i, e)
    {
        const char *n = store__json_ref_name(e);
        if (n && name && !strcmp(n, name)) {
            char where[64];
            snprintf(where, sizeof where, "index.json manifests[%zu]", i);
            return store__desc_from_json(out, e, where, err);
        }
    }
    return image_not_found(err, name ? name : "");
}

static int
edit_tag_remove(json_t *m, void *ctx, struct sw_error **err)
{
    if (!remove_tag(m, ctx))
        return image_not_found(err, ctx);
    return 0;
}

int
store_tag_remove(struct store *st, const char *name, struct sw_error **err)
{
    if (!name)
        return image_not_found(err, "");
    return index_update(st, edit_tag_remove, (void *)name, err);
}

static int
cmp_tags(const void *a, const void *b)
{
    return strcmp(((const struct store_tag *)a)->name, ((const struct store_tag *)b)->name);
}

int
store_tag_list(struct store *st, struct store_tag_list *out, struct sw_error **err)
{
    json_auto_t *idx = NULL;
    int r = store__index_load(st, &idx, err);
    if (r < 0)
        return r;
    json_t *m = json_object_get(idx, "manifests");
    struct store_tag_list l = {0};
    l.tags = calloc(json_array_size(m) + 1, sizeof *l.tags);
    if (!l.tags)
        return sw_error_oom(err);
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e)
    {
        const char *n = store__json_ref_name(e);
        if (!n)
            continue;
        struct store_tag *t = &l.tags[l.n];
        char where[64];
        snprintf(where, sizeof where, "index.json manifests[%zu]", i);
        if ((r = store__desc_from_json(&t->desc, e, where, err)) < 0)
            break;
        t->name = strdup(n);
        l.n++;
        if (!t->name) {
            r = sw_error_oom(err);
            break;
        }
    }
    if (r < 0) {
        store_tag_list_free(&l);
        return r;
    }
    qsort(l.tags, l.n, sizeof *l.tags, cmp_tags);
    *out = l;
    return 0;
}

void
store_tag_list_free(struct store_tag_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->tags[i].name);
        store_desc_clear(&l->tags[i].desc);
    }
    free(l->tags);
    l->tags = NULL;
    l->n = 0;
}
