#include "json_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"

int
img_json_err(struct sw_error **err, const char *what, const char *path, const char *key,
             const char *fmt, ...)
{
    char where[256];
    if (key)
        img_json_path(where, sizeof where, path ? path : "", key, 0);
    else
        snprintf(where, sizeof where, "%s", path ? path : "");
    sw_autofree char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return sw_error_oom(err);
    if (where[0])
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s: %s: %s", what, where, msg);
    return sw_error_set(err, SW_EINVAL, 0, NULL, "%s: %s", what, msg);
}

char *
img_json_path(char *buf, size_t n, const char *parent, const char *key, size_t index)
{
    if (!key)
        snprintf(buf, n, "%s[%zu]", parent, index);
    else if (parent[0])
        snprintf(buf, n, "%s.%s", parent, key);
    else
        snprintf(buf, n, "%s", key);
    return buf;
}

static const char *
type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

int
img_json_load(json_t **out, const char *data, size_t len, const char *what, struct sw_error **err)
{
    json_error_t je;
    /* Duplicate keys are rejected: two readers must never see two different documents. */
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "%s: invalid JSON at line %d column %d: %s",
                            what, je.line, je.column, je.text);
    if (!json_is_object(j)) {
        int r = sw_error_set(err, SW_EINVAL, 0, NULL, "%s: expected a JSON object, got %s", what,
                             type_name(j));
        json_decref(j);
        return r;
    }
    *out = j;
    return 0;
}

int
img_json_dump(char **out, size_t *len, const json_t *j, struct sw_error **err)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        return sw_error_oom(err);
    *out = s;
    if (len)
        *len = strlen(s);
    return 0;
}

/* obj[key], NULL when absent or null; the "required" error when needed. */
static int
member(const json_t **out, const json_t *obj, const char *key, bool required, const char *what,
       const char *path, struct sw_error **err)
{
    const json_t *v = json_object_get(obj, key);
    if (v && json_is_null(v))
        v = NULL;
    if (!v && required)
        return img_json_err(err, what, path, key, "required field is missing");
    *out = v;
    return 0;
}

int
img_json_str(char **out, const json_t *obj, const char *key, bool required, const char *what,
             const char *path, struct sw_error **err)
{
    const json_t *v = NULL;
    *out = NULL;
    int r = member(&v, obj, key, required, what, path, err);
    if (r < 0 || !v)
        return r;
    if (!json_is_string(v))
        return img_json_err(err, what, path, key, "expected a string, got %s", type_name(v));
    *out = strdup(json_string_value(v));
    return *out ? 0 : sw_error_oom(err);
}

int
img_json_int(int64_t *out, bool *present, const json_t *obj, const char *key, bool required,
             const char *what, const char *path, struct sw_error **err)
{
    const json_t *v = NULL;
    *out = 0;
    if (present)
        *present = false;
    int r = member(&v, obj, key, required, what, path, err);
    if (r < 0 || !v)
        return r;
    if (!json_is_integer(v))
        return img_json_err(err, what, path, key, "expected an integer, got %s", type_name(v));
    *out = (int64_t)json_integer_value(v);
    if (present)
        *present = true;
    return 0;
}

int
img_json_strv(struct sw_strv *out, bool *present, const json_t *obj, const char *key,
              const char *what, const char *path, struct sw_error **err)
{
    const json_t *v = NULL;
    if (present)
        *present = false;
    int r = member(&v, obj, key, false, what, path, err);
    if (r < 0 || !v)
        return r;
    if (!json_is_array(v))
        return img_json_err(err, what, path, key, "expected an array of strings, got %s",
                            type_name(v));
    char where[256];
    img_json_path(where, sizeof where, path, key, 0);
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            char elem[280];
            img_json_path(elem, sizeof elem, where, NULL, i);
            return img_json_err(err, what, elem, NULL, "expected a string, got %s", type_name(e));
        }
        if (sw_strv_push(out, json_string_value(e)) < 0)
            return sw_error_oom(err);
    }
    if (present)
        *present = true;
    return 0;
}

int
img_json_strmap(struct img_strmap *out, const json_t *obj, const char *key, const char *what,
                const char *path, struct sw_error **err)
{
    const json_t *v = NULL;
    int r = member(&v, obj, key, false, what, path, err);
    if (r < 0 || !v)
        return r;
    if (!json_is_object(v))
        return img_json_err(err, what, path, key, "expected an object of strings, got %s",
                            type_name(v));
    char where[256];
    img_json_path(where, sizeof where, path, key, 0);
    const char *k;
    const json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        if (!json_is_string(e))
            return img_json_err(err, what, where, k, "expected a string, got %s", type_name(e));
        if (img_strmap_set(out, k, json_string_value(e)) < 0)
            return sw_error_oom(err);
    }
    return 0;
}

int
img_json_strset(struct sw_strv *out, const json_t *obj, const char *key, const char *what,
                const char *path, struct sw_error **err)
{
    const json_t *v = NULL;
    int r = member(&v, obj, key, false, what, path, err);
    if (r < 0 || !v)
        return r;
    if (!json_is_object(v))
        return img_json_err(err, what, path, key, "expected an object, got %s", type_name(v));
    char where[256];
    img_json_path(where, sizeof where, path, key, 0);
    const char *k;
    const json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        if (!json_is_object(e) && !json_is_null(e))
            return img_json_err(err, what, where, k, "expected {}, got %s", type_name(e));
        if (img_strset_add(out, k) < 0)
            return sw_error_oom(err);
    }
    return 0;
}

int
img_json_child(const json_t **out, const json_t *obj, const char *key, json_type type,
               bool required, const char *what, const char *path, struct sw_error **err)
{
    const json_t *v = NULL;
    *out = NULL;
    int r = member(&v, obj, key, required, what, path, err);
    if (r < 0 || !v)
        return r;
    if (json_typeof(v) != type)
        return img_json_err(err, what, path, key, "expected %s, got %s",
                            type == JSON_OBJECT ? "an object" : "an array", type_name(v));
    *out = v;
    return 0;
}

static bool
is_known(const char *key, const char *const *known)
{
    for (size_t i = 0; known[i]; i++)
        if (!strcmp(key, known[i]))
            return true;
    return false;
}

int
img_json_extra(json_t **out, const json_t *obj, const char *const *known)
{
    *out = NULL;
    if (!obj)
        return 0;
    json_t *extra = NULL;
    const char *k;
    const json_t *v = NULL;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (is_known(k, known))
            continue;
        if (!extra && !(extra = json_object()))
            return -SW_ENOMEM;
        if (json_object_set_new(extra, k, json_deep_copy(v)) < 0) {
            json_decref(extra);
            return -SW_ENOMEM;
        }
    }
    *out = extra;
    return 0;
}

int
img_json_merge_extra(json_t *obj, const json_t *extra)
{
    if (!extra)
        return 0;
    const char *k;
    const json_t *v = NULL;
    json_object_foreach((json_t *)extra, k, v)
    {
        if (json_object_get(obj, k))
            continue;
        if (json_object_set_new(obj, k, json_deep_copy(v)) < 0)
            return -SW_ENOMEM;
    }
    return 0;
}

int
img_json_set_new(json_t *obj, const char *key, json_t *v)
{
    /* json_object_set_new steals v (and frees it on failure, NULL included). */
    return v && json_object_set_new(obj, key, v) == 0 ? 0 : -SW_ENOMEM;
}

int
img_json_put_str(json_t *obj, const char *key, const char *s)
{
    if (!s || !*s)
        return 0;
    return img_json_set_new(obj, key, json_string(s));
}

int
img_json_put_int(json_t *obj, const char *key, int64_t v)
{
    return img_json_set_new(obj, key, json_integer((json_int_t)v));
}

int
img_json_put_strv(json_t *obj, const char *key, const struct sw_strv *v, bool omit_empty)
{
    if (omit_empty && (!v || v->n == 0))
        return 0;
    json_t *a = json_array();
    if (!a)
        return -SW_ENOMEM;
    for (size_t i = 0; v && i < v->n; i++)
        if (json_array_append_new(a, json_string(v->v[i])) < 0) {
            json_decref(a);
            return -SW_ENOMEM;
        }
    return img_json_set_new(obj, key, a);
}

int
img_json_put_strmap(json_t *obj, const char *key, const struct img_strmap *m)
{
    if (m->n == 0)
        return 0;
    json_t *o = json_object();
    if (!o)
        return -SW_ENOMEM;
    for (size_t i = 0; i < m->n; i++)
        if (json_object_set_new(o, m->keys[i], json_string(m->values[i])) < 0) {
            json_decref(o);
            return -SW_ENOMEM;
        }
    return img_json_set_new(obj, key, o);
}

int
img_json_put_strset(json_t *obj, const char *key, const struct sw_strv *set)
{
    if (set->n == 0)
        return 0;
    json_t *o = json_object();
    if (!o)
        return -SW_ENOMEM;
    for (size_t i = 0; i < set->n; i++)
        if (json_object_set_new(o, set->v[i], json_object()) < 0) {
            json_decref(o);
            return -SW_ENOMEM;
        }
    return img_json_set_new(obj, key, o);
}

static bool
media_type_part(const char *s, size_t n)
{
    if (n < 1 || n > 127)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (i == 0 ? !alnum : !alnum && !strchr("!#$&^_.+-", c))
            return false;
    }
    return true;
}

bool
img_media_type_valid(const char *s)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || strchr(slash + 1, '/'))
        return false;
    return media_type_part(s, (size_t)(slash - s)) && media_type_part(slash + 1, strlen(slash + 1));
}

bool
img_base64_valid(const char *s)
{
    size_t n = strlen(s);
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '+' || c == '/')
            continue;
        /* '=' only as the last one or two characters */
        if (c == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '='))
            continue;
        return false;
    }
    return true;
}

int
img_strset_add(struct sw_strv *set, const char *s)
{
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->v[i], s))
            return 0;
    return sw_strv_push(set, s);
}
