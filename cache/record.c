/*
 * Cache records: one JSON file per key (jansson), a checksum list beside it, a site index.
 */
#include "record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../builder/util/cleanup.h"
#include "../builder/util/fs.h"

#define MAX_RECORD (16u << 20)

void
cache_record_clear(struct cache_record *r)
{
    if (!r)
        return;
    free(r->kind);
    free(r->description);
    free(r->location);
    free(r->created_by);
    free(r->history_created);
    free(r->layer_media_type);
    sw_strv_free(&r->def);
    memset(r, 0, sizeof *r);
}

static char *
path_of(struct store *st, const char *dir, const struct sw_digest *d, const char *ext)
{
    char *p = NULL;
    if (asprintf(&p, "%s/cache/%s/%s%s", store_root(st), dir, sw_digest_hex(d), ext) < 0)
        return NULL;
    return p;
}

/* Write data to path atomically (a temporary file in the same directory, renamed). */
static int
write_atomic(const char *path, const char *data, size_t len, struct sw_error **err)
{
    sw_autofree char *dir = strdup(path);
    if (!dir)
        return sw_error_oom(err);
    *strrchr(dir, '/') = '\0';
    int r = sw_mkdir_p(dir, 0700, err);
    if (r < 0)
        return r;
    sw_autofree char *tmp = NULL;
    if (asprintf(&tmp, "%s/.tmp-XXXXXX", dir) < 0)
        return sw_error_oom(err);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", tmp, strerror(errno));
    int e = sw_write_all(fd, data, len);
    if (!e && fchmod(fd, 0600) < 0)
        e = errno;
    if (e) {
        r = sw_error_set(err, SW_EIO, e, NULL, "writing %s: %s", tmp, strerror(e));
        close(fd);
        unlink(tmp);
        return r;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return r;
}

static int
read_all(const char *path, char **out, size_t *len, struct sw_error **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? -SW_ENOTFOUND
                   : sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", path, strerror(errno));
    struct sw_buf b = {0};
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 && b.len < MAX_RECORD)
        if (sw_buf_append(&b, buf, (size_t)n) < 0) {
            close(fd);
            sw_buf_free(&b);
            return sw_error_oom(err);
        }
    close(fd);
    *len = b.len;
    *out = b.len ? sw_buf_detach(&b) : strdup("");
    return *out ? 0 : sw_error_oom(err);
}

int
cache_record_put(struct store *st, const struct cache_record *r, const char *files,
                 const struct sw_digest *site, struct sw_error **err)
{
    json_t *def = json_array();
    for (size_t i = 0; def && i < r->def.n; i++)
        json_array_append_new(def, json_string(r->def.v[i]));
    /* a step that added no layer (a WORKDIR that existed) has "layer": null */
    json_t *layer = r->empty_layer
                        ? json_null()
                        : json_pack("{s:s, s:s, s:I}", "mediaType", r->layer_media_type, "digest",
                                    r->layer_digest.str, "size", (json_int_t)r->layer_size);
    json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s*, s:s*, s:s, s:s*, s:o*, s:s, s:o, s:I}",
                          "version", 1, "key", r->key.str, "parent", r->parent.str, "kind", r->kind,
                          "description", r->description, "location", r->location, "created_by",
                          r->created_by ? r->created_by : "", "history_created", r->history_created,
                          "layer", layer, "diffID", r->empty_layer ? "" : r->diff_id.str, "def",
                          def, "created", (json_int_t)r->created);
    if (!j)
        return sw_error_oom(err);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    if (!text)
        return sw_error_oom(err);
    sw_autofree char *jp = path_of(st, "records", &r->key, ".json");
    sw_autofree char *fp = path_of(st, "records", &r->key, ".files");
    int rc = jp && fp ? 0 : sw_error_oom(err);
    if (rc == 0 && files)
        rc = write_atomic(fp, files, strlen(files), err);
    if (rc == 0)
        rc = write_atomic(jp, text, strlen(text), err);
    free(text);
    if (rc == 0 && site) {
        sw_autofree char *sp = path_of(st, "sites", site, "");
        rc = sp ? write_atomic(sp, r->key.str, strlen(r->key.str), err) : sw_error_oom(err);
    }
    return rc;
}

static int
digest_field(json_t *j, const char *name, struct sw_digest *out, bool optional)
{
    const char *s = json_string_value(json_object_get(j, name));
    if (optional && (!s || !*s)) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    return s && sw_digest_parse(out, s, NULL) == 0 ? 0 : -SW_EPARSE;
}

static char *
string_field(json_t *j, const char *name)
{
    const char *s = json_string_value(json_object_get(j, name));
    return s ? strdup(s) : NULL;
}

int
cache_record_get(struct store *st, const struct sw_digest *key, struct cache_record *out,
                 struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    sw_autofree char *jp = path_of(st, "records", key, ".json");
    if (!jp)
        return sw_error_oom(err);
    sw_autofree char *text = NULL;
    size_t len = 0;
    int r = read_all(jp, &text, &len, err);
    if (r < 0)
        return r;
    struct stat sb;
    json_t *j = json_loadb(text, len, 0, NULL);
    json_t *layer = json_object_get(j, "layer");
    json_t *def = json_object_get(j, "def");
    out->empty_layer = json_is_null(layer);
    if (!j || json_integer_value(json_object_get(j, "version")) != 1 ||
        digest_field(j, "key", &out->key, false) < 0 || strcmp(out->key.str, key->str) != 0 ||
        digest_field(j, "parent", &out->parent, true) < 0 || !json_is_array(def) ||
        !(out->kind = string_field(j, "kind")) ||
        (!out->empty_layer && (digest_field(j, "diffID", &out->diff_id, false) < 0 ||
                               digest_field(layer, "digest", &out->layer_digest, false) < 0 ||
                               !(out->layer_media_type = string_field(layer, "mediaType"))))) {
        json_decref(j);
        cache_record_clear(out);
        return -SW_ENOTFOUND; /* damaged: as if absent (a rebuild writes it again) */
    }
    out->description = string_field(j, "description");
    out->location = string_field(j, "location");
    out->created_by = string_field(j, "created_by");
    out->history_created = string_field(j, "history_created");
    out->layer_size = (uint64_t)json_integer_value(json_object_get(layer, "size"));
    out->created = (int64_t)json_integer_value(json_object_get(j, "created"));
    out->used = stat(jp, &sb) == 0 ? (int64_t)sb.st_mtime : out->created;
    for (size_t i = 0; i < json_array_size(def); i++) {
        const char *s = json_string_value(json_array_get(def, i));
        if (s && sw_strv_push(&out->def, s) < 0) {
            json_decref(j);
            cache_record_clear(out);
            return sw_error_oom(err);
        }
    }
    json_decref(j);
    return 0;
}

int
cache_record_files(struct store *st, const struct sw_digest *key, char **files,
                   struct sw_error **err)
{
    *files = NULL;
    sw_autofree char *fp = path_of(st, "records", key, ".files");
    if (!fp)
        return sw_error_oom(err);
    size_t len;
    int r = read_all(fp, files, &len, err);
    return r == -SW_ENOTFOUND ? 0 : r;
}

void
cache_record_touch(struct store *st, const struct sw_digest *key)
{
    sw_autofree char *jp = path_of(st, "records", key, ".json");
    if (jp)
        (void)utimensat(AT_FDCWD, jp, NULL, 0);
}

int
cache_site_get(struct store *st, const struct sw_digest *site, struct sw_digest *key,
               struct sw_error **err)
{
    sw_autofree char *sp = path_of(st, "sites", site, "");
    if (!sp)
        return sw_error_oom(err);
    sw_autofree char *text = NULL;
    size_t len = 0;
    int r = read_all(sp, &text, &len, err);
    if (r < 0)
        return r;
    return sw_digest_parse(key, text, NULL) == 0 ? 0 : -SW_ENOTFOUND;
}

int
cache_record_each(struct store *st, int (*fn)(const struct cache_record *r, void *ctx), void *ctx,
                  struct sw_error **err)
{
    sw_autofree char *dir = NULL;
    if (asprintf(&dir, "%s/cache/records", store_root(st)) < 0)
        return sw_error_oom(err);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT
                   ? 0
                   : sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", dir, strerror(errno));
    struct sw_strv keys = {0};
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n == 64 + 5 && !strcmp(de->d_name + 64, ".json")) {
            char s[80];
            snprintf(s, sizeof s, "sha256:%.64s", de->d_name);
            r = sw_strv_push(&keys, s) < 0 ? sw_error_oom(err) : 0;
        }
    }
    closedir(d);
    for (size_t i = 0; r == 0 && i < keys.n; i++) {
        struct sw_digest k;
        struct cache_record rec;
        if (sw_digest_parse(&k, keys.v[i], NULL) < 0 || cache_record_get(st, &k, &rec, NULL) < 0)
            continue;
        r = fn(&rec, ctx);
        cache_record_clear(&rec);
    }
    sw_strv_free(&keys);
    return r;
}

int
cache_record_remove(struct store *st, const struct sw_digest *key, struct sw_error **err)
{
    sw_autofree char *jp = path_of(st, "records", key, ".json");
    sw_autofree char *fp = path_of(st, "records", key, ".files");
    if (!jp || !fp)
        return sw_error_oom(err);
    if (unlink(jp) < 0 && errno != ENOENT)
        return sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", jp, strerror(errno));
    (void)unlink(fp);
    return 0;
}

int
cache_memo_put(struct store *st, const struct sw_digest *key, const struct sw_digest *sum,
               const char *files, struct sw_error **err)
{
    sw_autofree char *p = path_of(st, "sel", key, "");
    sw_autofree char *text = NULL;
    if (!p || asprintf(&text, "%s\n%s", sum->str, files ? files : "") < 0)
        return sw_error_oom(err);
    return write_atomic(p, text, strlen(text), err);
}

int
cache_memo_get(struct store *st, const struct sw_digest *key, struct sw_digest *sum, char **files,
               struct sw_error **err)
{
    sw_autofree char *p = path_of(st, "sel", key, "");
    if (!p)
        return sw_error_oom(err);
    sw_autofree char *text = NULL;
    size_t len = 0;
    int r = read_all(p, &text, &len, err);
    if (r < 0)
        return r;
    char *nl = strchr(text, '\n');
    if (!nl)
        return -SW_ENOTFOUND;
    (void)utimensat(AT_FDCWD, p, NULL, 0); /* its last use, for gc */
    *nl = '\0';
    if (sw_digest_parse(sum, text, NULL) < 0)
        return -SW_ENOTFOUND;
    if (files && !(*files = strdup(nl + 1)))
        return sw_error_oom(err);
    return 0;
}
