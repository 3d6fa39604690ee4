#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../util/cleanup.h"
#include "json_internal.h"

#define WHAT "image config"

static const char *const known_top[] = {
    "created", "author", "architecture", "os",      "os.version", "os.features",
    "variant", "config", "rootfs",       "history", NULL};
static const char *const known_config[] = {
    "User",   "ExposedPorts", "Env",         "Entrypoint",  "Cmd",     "Volumes", "WorkingDir",
    "Labels", "StopSignal",   "ArgsEscaped", "Healthcheck", "OnBuild", "Shell",   NULL};
static const char *const known_rootfs[] = {"type", "diff_ids", NULL};
static const char *const known_history[] = {"created", "created_by",  "author",
                                            "comment", "empty_layer", NULL};
static const char *const known_health[] = {"Test",          "Interval", "Timeout", "StartPeriod",
                                           "StartInterval", "Retries",  NULL};

/* ---- small helpers --------------------------------------------------------------------------- */

static int
set_str(char **dst, const char *s)
{
    char *copy = NULL;
    if (s && !(copy = strdup(s)))
        return -SW_ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

static int
strv_copy(struct sw_strv *out, const struct sw_strv *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (sw_strv_push(out, src->v[i]) < 0)
            return -SW_ENOMEM;
    return 0;
}

static void
strv_ptr_free(struct sw_strv **p)
{
    if (*p) {
        sw_strv_free(*p);
        free(*p);
        *p = NULL;
    }
}

static int
strv_ptr_set(struct sw_strv **slot, const char *const *argv, size_t n)
{
    struct sw_strv *v = NULL;
    if (argv) {
        if (!(v = calloc(1, sizeof *v)))
            return -SW_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (sw_strv_push(v, argv[i]) < 0) {
                strv_ptr_free(&v);
                return -SW_ENOMEM;
            }
    }
    strv_ptr_free(slot);
    *slot = v;
    return 0;
}

/* *dst = a copy of src (NULL stays NULL; an empty list stays a present, empty list). */
static int
strv_ptr_copy(struct sw_strv **dst, const struct sw_strv *src)
{
    static const char *const none[] = {NULL};
    if (!src)
        return strv_ptr_set(dst, NULL, 0);
    return strv_ptr_set(dst, src->n ? (const char *const *)src->v : none, src->n);
}

static json_t *
json_copy_or_null(const struct json_t *j)
{
    return j ? json_deep_copy((json_t *)j) : NULL;
}

static void
health_free(struct img_health *h)
{
    if (!h)
        return;
    sw_strv_free(&h->test);
    json_decref(h->extra);
    free(h);
}

static int
health_copy(struct img_health **out, const struct img_health *src)
{
    struct img_health *h = calloc(1, sizeof *h);
    if (!h)
        return -SW_ENOMEM;
    h->interval = src->interval;
    h->timeout = src->timeout;
    h->start_period = src->start_period;
    h->start_interval = src->start_interval;
    h->retries = src->retries;
    if (strv_copy(&h->test, &src->test) < 0 ||
        (src->extra && !(h->extra = json_copy_or_null(src->extra)))) {
        health_free(h);
        return -SW_ENOMEM;
    }
    *out = h;
    return 0;
}

static void
history_clear(struct img_history *h)
{
    free(h->created);
    free(h->created_by);
    free(h->author);
    free(h->comment);
    json_decref(h->extra);
    memset(h, 0, sizeof *h);
}

static int
history_grow(struct img_config *c)
{
    if (c->nhistory < c->history_cap)
        return 0;
    size_t cap = c->history_cap ? c->history_cap * 2 : 8;
    struct img_history *v = realloc(c->history, cap * sizeof *v);
    if (!v)
        return -SW_ENOMEM;
    c->history = v;
    c->history_cap = cap;
    return 0;
}

static int
diff_id_push(struct img_config *c, const struct sw_digest *d)
{
    if (c->ndiff_ids == c->diff_ids_cap) {
        size_t cap = c->diff_ids_cap ? c->diff_ids_cap * 2 : 8;
        struct sw_digest *v = realloc(c->diff_ids, cap * sizeof *v);
        if (!v)
            return -SW_ENOMEM;
        c->diff_ids = v;
        c->diff_ids_cap = cap;
    }
    c->diff_ids[c->ndiff_ids++] = *d;
    return 0;
}

/* ^[^=]+=.*$ : what the OCI validator (and docker) accept as an Env entry. */
static bool
env_entry_valid(const char *e)
{
    const char *eq = strchr(e, '=');
    return eq && eq != e;
}

static int
env_error(struct sw_error **err, size_t i, const char *entry)
{
    char where[64];
    img_json_path(where, sizeof where, "config.Env", NULL, i);
    return img_json_err(err, WHAT, where, NULL, "\"%s\" is not KEY=value", entry);
}

/* ---- life cycle ------------------------------------------------------------------------------ */

int
img_config_new(struct img_config **out, const struct img_platform *p, struct sw_error **err)
{
    struct img_config *c = calloc(1, sizeof *c);
    if (!c)
        return sw_error_oom(err);
    if (set_str(&c->architecture, p->arch) < 0 || set_str(&c->os, p->os) < 0 ||
        (p->variant[0] && set_str(&c->variant, p->variant) < 0)) {
        img_config_free(c);
        return sw_error_oom(err);
    }
    *out = c;
    return 0;
}

void
img_config_drop_unknown(struct img_config *c)
{
    json_decref(c->extra);
    json_decref(c->config_extra);
    json_decref(c->rootfs_extra);
    c->extra = c->config_extra = c->rootfs_extra = NULL;
    if (c->healthcheck) {
        json_decref(c->healthcheck->extra);
        c->healthcheck->extra = NULL;
    }
    for (size_t i = 0; i < c->nhistory; i++) {
        json_decref(c->history[i].extra);
        c->history[i].extra = NULL;
    }
}

void
img_config_free(struct img_config *c)
{
    if (!c)
        return;
    img_config_drop_unknown(c);
    free(c->created);
    free(c->author);
    free(c->architecture);
    free(c->os);
    free(c->os_version);
    sw_strv_free(&c->os_features);
    free(c->variant);
    free(c->user);
    sw_strv_free(&c->exposed_ports);
    sw_strv_free(&c->env);
    strv_ptr_free(&c->entrypoint);
    strv_ptr_free(&c->cmd);
    sw_strv_free(&c->volumes);
    free(c->working_dir);
    img_strmap_free(&c->labels);
    free(c->stop_signal);
    health_free(c->healthcheck);
    sw_strv_free(&c->onbuild);
    sw_strv_free(&c->shell);
    free(c->diff_ids);
    for (size_t i = 0; i < c->nhistory; i++)
        history_clear(&c->history[i]);
    free(c->history);
    free(c);
}

static int
clone_into(struct img_config *d, const struct img_config *s)
{
    if (set_str(&d->created, s->created) < 0 || set_str(&d->author, s->author) < 0 ||
        set_str(&d->architecture, s->architecture) < 0 || set_str(&d->os, s->os) < 0 ||
        set_str(&d->os_version, s->os_version) < 0 ||
        strv_copy(&d->os_features, &s->os_features) < 0 || set_str(&d->variant, s->variant) < 0 ||
        set_str(&d->user, s->user) < 0 || strv_copy(&d->exposed_ports, &s->exposed_ports) < 0 ||
        strv_copy(&d->env, &s->env) < 0 || strv_ptr_copy(&d->entrypoint, s->entrypoint) < 0 ||
        strv_ptr_copy(&d->cmd, s->cmd) < 0 || strv_copy(&d->volumes, &s->volumes) < 0 ||
        set_str(&d->working_dir, s->working_dir) < 0 ||
        img_strmap_copy(&d->labels, &s->labels) < 0 ||
        set_str(&d->stop_signal, s->stop_signal) < 0 ||
        (s->healthcheck && health_copy(&d->healthcheck, s->healthcheck) < 0) ||
        strv_copy(&d->onbuild, &s->onbuild) < 0 || strv_copy(&d->shell, &s->shell) < 0)
        return -SW_ENOMEM;
    for (size_t i = 0; i < s->ndiff_ids; i++)
        if (diff_id_push(d, &s->diff_ids[i]) < 0)
            return -SW_ENOMEM;
    for (size_t i = 0; i < s->nhistory; i++) {
        const struct img_history *h = &s->history[i];
        if (history_grow(d) < 0)
            return -SW_ENOMEM;
        struct img_history *n = &d->history[d->nhistory++];
        memset(n, 0, sizeof *n);
        n->empty_layer = h->empty_layer;
        if (set_str(&n->created, h->created) < 0 || set_str(&n->created_by, h->created_by) < 0 ||
            set_str(&n->author, h->author) < 0 || set_str(&n->comment, h->comment) < 0 ||
            (h->extra && !(n->extra = json_copy_or_null(h->extra))))
            return -SW_ENOMEM;
    }
    if ((s->extra && !(d->extra = json_copy_or_null(s->extra))) ||
        (s->config_extra && !(d->config_extra = json_copy_or_null(s->config_extra))) ||
        (s->rootfs_extra && !(d->rootfs_extra = json_copy_or_null(s->rootfs_extra))))
        return -SW_ENOMEM;
    return 0;
}

int
img_config_clone(struct img_config **out, const struct img_config *c, struct sw_error **err)
{
    struct img_config *d = calloc(1, sizeof *d);
    if (!d || clone_into(d, c) < 0) {
        img_config_free(d);
        return sw_error_oom(err);
    }
    *out = d;
    return 0;
}

/* ---- parsing --------------------------------------------------------------------------------- */

static int
parse_time_field(char **out, const json_t *o, const char *key, const char *path,
                 struct sw_error **err)
{
    int r = img_json_str(out, o, key, false, WHAT, path, err);
    if (r == 0 && *out && !img_time_valid(*out))
        return img_json_err(err, WHAT, path, key, "\"%s\" is not an RFC 3339 time", *out);
    return r;
}

static int
parse_argv(struct sw_strv **slot, const json_t *o, const char *key, struct sw_error **err)
{
    struct sw_strv *v = calloc(1, sizeof *v);
    bool present = false;
    if (!v)
        return sw_error_oom(err);
    int r = img_json_strv(v, &present, o, key, WHAT, "config", err);
    if (r < 0 || !present) {
        sw_strv_free(v);
        free(v);
        return r;
    }
    *slot = v;
    return 0;
}

static int
parse_health(struct img_config *c, const json_t *cfg, struct sw_error **err)
{
    const json_t *ho = NULL;
    int r = img_json_child(&ho, cfg, "Healthcheck", JSON_OBJECT, false, WHAT, "config", err);
    if (r < 0 || !ho)
        return r;
    struct img_health *h = calloc(1, sizeof *h);
    if (!h)
        return sw_error_oom(err);
    c->healthcheck = h;
    const char *p = "config.Healthcheck";
    if ((r = img_json_strv(&h->test, NULL, ho, "Test", WHAT, p, err)) < 0 ||
        (r = img_json_int(&h->interval, NULL, ho, "Interval", false, WHAT, p, err)) < 0 ||
        (r = img_json_int(&h->timeout, NULL, ho, "Timeout", false, WHAT, p, err)) < 0 ||
        (r = img_json_int(&h->start_period, NULL, ho, "StartPeriod", false, WHAT, p, err)) < 0 ||
        (r = img_json_int(&h->start_interval, NULL, ho, "StartInterval", false, WHAT, p, err)) <
            0 ||
        (r = img_json_int(&h->retries, NULL, ho, "Retries", false, WHAT, p, err)) < 0)
        return r;
    if (img_json_extra(&h->extra, ho, known_health) < 0)
        return sw_error_oom(err);
    return 0;
}

static int
parse_config_object(struct img_config *c, const json_t *cfg, struct sw_error **err)
{
    const char *p = "config";
    int r;
    if ((r = img_json_str(&c->user, cfg, "User", false, WHAT, p, err)) < 0 ||
        (r = img_json_strset(&c->exposed_ports, cfg, "ExposedPorts", WHAT, p, err)) < 0 ||
        (r = img_json_strv(&c->env, NULL, cfg, "Env", WHAT, p, err)) < 0 ||
        (r = parse_argv(&c->entrypoint, cfg, "Entrypoint", err)) < 0 ||
        (r = parse_argv(&c->cmd, cfg, "Cmd", err)) < 0 ||
        (r = img_json_strset(&c->volumes, cfg, "Volumes", WHAT, p, err)) < 0 ||
        (r = img_json_str(&c->working_dir, cfg, "WorkingDir", false, WHAT, p, err)) < 0 ||
        (r = img_json_strmap(&c->labels, cfg, "Labels", WHAT, p, err)) < 0 ||
        (r = img_json_str(&c->stop_signal, cfg, "StopSignal", false, WHAT, p, err)) < 0 ||
        (r = parse_health(c, cfg, err)) < 0 ||
        (r = img_json_strv(&c->onbuild, NULL, cfg, "OnBuild", WHAT, p, err)) < 0 ||
        (r = img_json_strv(&c->shell, NULL, cfg, "Shell", WHAT, p, err)) < 0)
        return r;
    const json_t *ae = json_object_get(cfg, "ArgsEscaped");
    if (ae && !json_is_boolean(ae) && !json_is_null(ae))
        return img_json_err(err, WHAT, p, "ArgsEscaped", "expected a boolean");
    for (size_t i = 0; i < c->env.n; i++)
        if (!env_entry_valid(c->env.v[i]))
            return env_error(err, i, c->env.v[i]);
    if (img_json_extra(&c->config_extra, cfg, known_config) < 0)
        return sw_error_oom(err);
    return 0;
}

static int
parse_rootfs(struct img_config *c, const json_t *j, struct sw_error **err)
{
    const json_t *ro = NULL, *ids = NULL;
    sw_autofree char *type = NULL;
    int r;
    if ((r = img_json_child(&ro, j, "rootfs", JSON_OBJECT, true, WHAT, "", err)) < 0 ||
        (r = img_json_str(&type, ro, "type", true, WHAT, "rootfs", err)) < 0)
        return r;
    if (strcmp(type, "layers"))
        return img_json_err(err, WHAT, "rootfs", "type",
                            "\"%s\" is not supported (want \"layers\")", type);
    if ((r = img_json_child(&ids, ro, "diff_ids", JSON_ARRAY, true, WHAT, "rootfs", err)) < 0)
        return r;
    size_t i;
    const json_t *e;
    json_array_foreach(ids, i, e)
    {
        const char *s = json_string_value(e);
        if (!s || !sw_digest_valid(s)) {
            char where[64];
            img_json_path(where, sizeof where, "rootfs.diff_ids", NULL, i);
            return img_json_err(err, WHAT, where, NULL,
                                "not a sha256 digest (sha256: + 64 lower-case hex digits)");
        }
        struct sw_digest d;
        memcpy(d.str, s, sizeof d.str);
        if (diff_id_push(c, &d) < 0)
            return sw_error_oom(err);
    }
    if (img_json_extra(&c->rootfs_extra, ro, known_rootfs) < 0)
        return sw_error_oom(err);
    return 0;
}

static int
parse_history(struct img_config *c, const json_t *j, struct sw_error **err)
{
    const json_t *arr = NULL;
    int r = img_json_child(&arr, j, "history", JSON_ARRAY, false, WHAT, "", err);
    if (r < 0 || !arr)
        return r;
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
    {
        char where[64];
        img_json_path(where, sizeof where, "history", NULL, i);
        if (!json_is_object(e))
            return img_json_err(err, WHAT, where, NULL, "expected an object");
        if (history_grow(c) < 0)
            return sw_error_oom(err);
        struct img_history *h = &c->history[c->nhistory++];
        memset(h, 0, sizeof *h);
        if ((r = parse_time_field(&h->created, e, "created", where, err)) < 0 ||
            (r = img_json_str(&h->created_by, e, "created_by", false, WHAT, where, err)) < 0 ||
            (r = img_json_str(&h->author, e, "author", false, WHAT, where, err)) < 0 ||
            (r = img_json_str(&h->comment, e, "comment", false, WHAT, where, err)) < 0)
            return r;
        const json_t *el = json_object_get(e, "empty_layer");
        if (el && !json_is_boolean(el) && !json_is_null(el))
            return img_json_err(err, WHAT, where, "empty_layer", "expected a boolean");
        h->empty_layer = json_is_true(el);
        if (img_json_extra(&h->extra, e, known_history) < 0)
            return sw_error_oom(err);
    }
    return 0;
}

/* Go reads "" as the zero value, which is what absent means: keep one spelling (NULL). */
static void
empty_to_null(char **s)
{
    if (*s && !**s) {
        free(*s);
        *s = NULL;
    }
}

static void
normalize_empty(struct img_config *c)
{
    char **fields[] = {&c->created, &c->author,      &c->os_version, &c->variant,
                       &c->user,    &c->working_dir, &c->stop_signal};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        empty_to_null(fields[i]);
    for (size_t i = 0; i < c->nhistory; i++) {
        empty_to_null(&c->history[i].created);
        empty_to_null(&c->history[i].created_by);
        empty_to_null(&c->history[i].author);
        empty_to_null(&c->history[i].comment);
    }
}

static int
config_from_json(struct img_config *c, const json_t *j, struct sw_error **err)
{
    int r;
    const json_t *cfg = NULL;
    if ((r = parse_time_field(&c->created, j, "created", "", err)) < 0 ||
        (r = img_json_str(&c->author, j, "author", false, WHAT, "", err)) < 0 ||
        (r = img_json_str(&c->architecture, j, "architecture", true, WHAT, "", err)) < 0 ||
        (r = img_json_str(&c->os, j, "os", true, WHAT, "", err)) < 0 ||
        (r = img_json_str(&c->os_version, j, "os.version", false, WHAT, "", err)) < 0 ||
        (r = img_json_strv(&c->os_features, NULL, j, "os.features", WHAT, "", err)) < 0 ||
        (r = img_json_str(&c->variant, j, "variant", false, WHAT, "", err)) < 0 ||
        (r = img_json_child(&cfg, j, "config", JSON_OBJECT, false, WHAT, "", err)) < 0 ||
        (cfg && (r = parse_config_object(c, cfg, err)) < 0) || (r = parse_rootfs(c, j, err)) < 0 ||
        (r = parse_history(c, j, err)) < 0)
        return r;
    if (img_json_extra(&c->extra, j, known_top) < 0)
        return sw_error_oom(err);
    normalize_empty(c);
    return 0;
}

int
img_config_parse(struct img_config **out, const char *data, size_t len, struct sw_error **err)
{
    sw_cleanup(json_decrefp) json_t *j = NULL;
    int r = img_json_load(&j, data, len, WHAT, err);
    if (r < 0)
        return r;
    struct img_config *c = calloc(1, sizeof *c);
    if (!c)
        return sw_error_oom(err);
    if ((r = config_from_json(c, j, err)) < 0) {
        img_config_free(c);
        return r;
    }
    *out = c;
    return 0;
}

/* ---- output ---------------------------------------------------------------------------------- */

static int
health_to_json(json_t **out, const struct img_health *h)
{
    json_t *o = json_object();
    if (!o)
        return -SW_ENOMEM;
    int r = img_json_put_strv(o, "Test", &h->test, true);
    const struct {
        const char *k;
        int64_t v;
    } ints[] = {{"Interval", h->interval},
                {"Timeout", h->timeout},
                {"StartPeriod", h->start_period},
                {"StartInterval", h->start_interval},
                {"Retries", h->retries}};
    for (size_t i = 0; r == 0 && i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].v)
            r = img_json_put_int(o, ints[i].k, ints[i].v);
    if (r == 0)
        r = img_json_merge_extra(o, h->extra);
    if (r < 0) {
        json_decref(o);
        return r;
    }
    *out = o;
    return 0;
}

static int
config_object_to_json(json_t *top, const struct img_config *c)
{
    json_t *o = json_object();
    if (img_json_set_new(top, "config", o) < 0)
        return -SW_ENOMEM;
    if (img_json_put_str(o, "User", c->user) < 0 ||
        img_json_put_strset(o, "ExposedPorts", &c->exposed_ports) < 0 ||
        img_json_put_strv(o, "Env", &c->env, true) < 0 ||
        img_json_put_strv(o, "Entrypoint", c->entrypoint, true) < 0 ||
        img_json_put_strv(o, "Cmd", c->cmd, true) < 0 ||
        img_json_put_strset(o, "Volumes", &c->volumes) < 0 ||
        img_json_put_str(o, "WorkingDir", c->working_dir) < 0 ||
        img_json_put_strmap(o, "Labels", &c->labels) < 0 ||
        img_json_put_str(o, "StopSignal", c->stop_signal) < 0 ||
        img_json_put_strv(o, "OnBuild", &c->onbuild, true) < 0 ||
        img_json_put_strv(o, "Shell", &c->shell, true) < 0)
        return -SW_ENOMEM;
    if (c->healthcheck) {
        json_t *h = NULL;
        if (health_to_json(&h, c->healthcheck) < 0 || img_json_set_new(o, "Healthcheck", h) < 0)
            return -SW_ENOMEM;
    }
    return img_json_merge_extra(o, c->config_extra);
}

static int
rootfs_to_json(json_t *top, const struct img_config *c)
{
    json_t *o = json_object();
    json_t *ids = json_array();
    if (img_json_set_new(top, "rootfs", o) < 0) {
        json_decref(ids);
        return -SW_ENOMEM;
    }
    if (img_json_set_new(o, "diff_ids", ids) < 0 ||
        img_json_set_new(o, "type", json_string("layers")) < 0)
        return -SW_ENOMEM;
    for (size_t i = 0; i < c->ndiff_ids; i++)
        if (json_array_append_new(ids, json_string(c->diff_ids[i].str)) < 0)
            return -SW_ENOMEM;
    return img_json_merge_extra(o, c->rootfs_extra);
}

static int
history_to_json(json_t *top, const struct img_config *c)
{
    if (c->nhistory == 0)
        return 0;
    json_t *arr = json_array();
    if (img_json_set_new(top, "history", arr) < 0)
        return -SW_ENOMEM;
    for (size_t i = 0; i < c->nhistory; i++) {
        const struct img_history *h = &c->history[i];
        json_t *o = json_object();
        if (!o || json_array_append_new(arr, o) < 0)
            return -SW_ENOMEM;
        if (img_json_put_str(o, "created", h->created) < 0 ||
            img_json_put_str(o, "created_by", h->created_by) < 0 ||
            img_json_put_str(o, "author", h->author) < 0 ||
            img_json_put_str(o, "comment", h->comment) < 0 ||
            (h->empty_layer && img_json_set_new(o, "empty_layer", json_true()) < 0) ||
            img_json_merge_extra(o, h->extra) < 0)
            return -SW_ENOMEM;
    }
    return 0;
}

static int
check_for_output(const struct img_config *c, struct sw_error **err)
{
    if (!c->created || !c->created[0])
        return img_json_err(err, WHAT, "", "created", "not set (img_config_set_created)");
    if (!img_time_valid(c->created))
        return img_json_err(err, WHAT, "", "created", "\"%s\" is not an RFC 3339 time", c->created);
    if (!c->architecture || !c->architecture[0])
        return img_json_err(err, WHAT, "", "architecture", "not set");
    if (!c->os || !c->os[0])
        return img_json_err(err, WHAT, "", "os", "not set");
    for (size_t i = 0; i < c->env.n; i++)
        if (!env_entry_valid(c->env.v[i]))
            return env_error(err, i, c->env.v[i]);
    for (size_t i = 0; i < c->ndiff_ids; i++)
        if (!sw_digest_valid(c->diff_ids[i].str)) {
            char where[64];
            img_json_path(where, sizeof where, "rootfs.diff_ids", NULL, i);
            return img_json_err(err, WHAT, where, NULL, "not a sha256 digest");
        }
    for (size_t i = 0; i < c->nhistory; i++)
        if (c->history[i].created && !img_time_valid(c->history[i].created)) {
            char where[64];
            img_json_path(where, sizeof where, "history", NULL, i);
            return img_json_err(err, WHAT, where, "created", "\"%s\" is not an RFC 3339 time",
                                c->history[i].created);
        }
    return 0;
}

int
img_config_to_json(char **out, size_t *len, const struct img_config *c, struct sw_error **err)
{
    int r = check_for_output(c, err);
    if (r < 0)
        return r;
    sw_cleanup(json_decrefp) json_t *o = json_object();
    if (!o || img_json_put_str(o, "created", c->created) < 0 ||
        img_json_put_str(o, "author", c->author) < 0 ||
        img_json_set_new(o, "architecture", json_string(c->architecture)) < 0 ||
        img_json_set_new(o, "os", json_string(c->os)) < 0 ||
        img_json_put_str(o, "os.version", c->os_version) < 0 ||
        img_json_put_strv(o, "os.features", &c->os_features, true) < 0 ||
        img_json_put_str(o, "variant", c->variant) < 0 || config_object_to_json(o, c) < 0 ||
        rootfs_to_json(o, c) < 0 || history_to_json(o, c) < 0 ||
        img_json_merge_extra(o, c->extra) < 0)
        return sw_error_oom(err);
    return img_json_dump(out, len, o, err);
}

/* ---- edits ----------------------------------------------------------------------------------- */

static bool
env_key_match(const struct img_config *c, const char *entry, const char *key, size_t klen)
{
    const char *eq = strchr(entry, '=');
    size_t elen = eq ? (size_t)(eq - entry) : strlen(entry);
    if (elen != klen)
        return false;
    if (c->os && !strcmp(c->os, "windows"))
        return strncasecmp(entry, key, klen) == 0;
    return strncmp(entry, key, klen) == 0;
}

static long
env_find(const struct img_config *c, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < c->env.n; i++)
        if (env_key_match(c, c->env.v[i], key, klen))
            return (long)i;
    return -1;
}

int
img_config_env_set(struct img_config *c, const char *key, const char *value, struct sw_error **err)
{
    if (!key[0] || strchr(key, '='))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "image config: invalid environment variable name \"%s\"", key);
    long i = env_find(c, key);
    char *entry = NULL;
    if (i >= 0) {
        /* keep the spelling already there (only differs on Windows) */
        const char *old = c->env.v[i];
        if (asprintf(&entry, "%.*s=%s", (int)strlen(key), old, value) < 0)
            return sw_error_oom(err);
        free(c->env.v[i]);
        c->env.v[i] = entry;
        return 0;
    }
    if (asprintf(&entry, "%s=%s", key, value) < 0)
        return sw_error_oom(err);
    return sw_strv_push_owned(&c->env, entry) < 0 ? sw_error_oom(err) : 0;
}

const char *
img_config_env_get(const struct img_config *c, const char *key)
{
    long i = env_find(c, key);
    if (i < 0)
        return NULL;
    const char *eq = strchr(c->env.v[i], '=');
    return eq ? eq + 1 : "";
}

int
img_config_label_set(struct img_config *c, const char *key, const char *value,
                     struct sw_error **err)
{
    return img_strmap_set(&c->labels, key, value) < 0 ? sw_error_oom(err) : 0;
}

int
img_config_expose(struct img_config *c, const char *port_proto, struct sw_error **err)
{
    return img_strset_add(&c->exposed_ports, port_proto) < 0 ? sw_error_oom(err) : 0;
}

int
img_config_add_volume(struct img_config *c, const char *path, struct sw_error **err)
{
    if (!path[0])
        return sw_error_set(err, SW_EINVAL, 0, NULL, "VOLUME specified can not be an empty string");
    return img_strset_add(&c->volumes, path) < 0 ? sw_error_oom(err) : 0;
}

int
img_config_set_cmd(struct img_config *c, const char *const *argv, size_t n, struct sw_error **err)
{
    return strv_ptr_set(&c->cmd, argv, n) < 0 ? sw_error_oom(err) : 0;
}

int
img_config_set_entrypoint(struct img_config *c, const char *const *argv, size_t n,
                          struct sw_error **err)
{
    return strv_ptr_set(&c->entrypoint, argv, n) < 0 ? sw_error_oom(err) : 0;
}

int
img_config_set_healthcheck(struct img_config *c, const struct img_health *h, struct sw_error **err)
{
    struct img_health *copy = NULL;
    if (h && health_copy(&copy, h) < 0)
        return sw_error_oom(err);
    health_free(c->healthcheck);
    c->healthcheck = copy;
    return 0;
}

int
img_config_set_created(struct img_config *c, int64_t sec, int32_t nsec, struct sw_error **err)
{
    char buf[IMG_TIME_MAX];
    int r = img_time_format(buf, sizeof buf, sec, nsec, err);
    if (r < 0)
        return r;
    return set_str(&c->created, buf) < 0 ? sw_error_oom(err) : 0;
}

int
img_config_add_history(struct img_config *c, const char *created, const char *created_by,
                       const char *comment, bool empty_layer, struct sw_error **err)
{
    if (created && !img_time_valid(created))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "image config: history created \"%s\" is not an RFC 3339 time",
                            created);
    if (history_grow(c) < 0)
        return sw_error_oom(err);
    struct img_history h = {.empty_layer = empty_layer};
    if (set_str(&h.created, created) < 0 || set_str(&h.created_by, created_by) < 0 ||
        set_str(&h.comment, comment) < 0) {
        history_clear(&h);
        return sw_error_oom(err);
    }
    c->history[c->nhistory++] = h;
    return 0;
}

int
img_config_add_layer(struct img_config *c, const struct sw_digest *diff_id, const char *created,
                     const char *created_by, const char *comment, struct sw_error **err)
{
    if (!sw_digest_valid(diff_id->str))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "image config: invalid diff_id \"%.71s\"",
                            diff_id->str);
    int r = img_config_add_history(c, created, created_by, comment, false, err);
    if (r < 0)
        return r;
    if (diff_id_push(c, diff_id) < 0) {
        history_clear(&c->history[--c->nhistory]);
        return sw_error_oom(err);
    }
    return 0;
}

size_t
img_config_layer_history_count(const struct img_config *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nhistory; i++)
        n += !c->history[i].empty_layer;
    return n;
}

/* ---- times ----------------------------------------------------------------------------------- */

int
img_time_format(char *buf, size_t n, int64_t sec, int32_t nsec, struct sw_error **err)
{
    if (nsec < 0 || nsec > 999999999)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid nanoseconds %d", (int)nsec);
    time_t t = (time_t)sec;
    struct tm tm;
    if ((int64_t)t != sec || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 ||
        tm.tm_year + 1900 > 9999)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "time %lld is outside the years 0..9999 that RFC 3339 can hold",
                            (long long)sec);
    char frac[12] = "";
    if (nsec) {
        int ndigits = 9, f = (int)nsec; /* Go trims trailing zeros of the fraction */
        while (f % 10 == 0) {
            f /= 10;
            ndigits--;
        }
        snprintf(frac, sizeof frac, ".%0*d", ndigits, f);
    }
    int w = snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    if (w < 0 || (size_t)w >= n)
        return sw_error_set(err, SW_EINTERNAL, 0, NULL, "time buffer too small");
    return 0;
}

static bool
digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool
img_time_valid(const char *s)
{
    int y, mo, d, h, mi, se;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 59)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        const char *f = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return false;
    }
    if (*p == 'Z')
        return p[1] == '\0';
    int oh, om;
    if ((*p != '+' && *p != '-') || strlen(p) != 6 || !digits(p + 1, 2, &oh) || p[3] != ':' ||
        !digits(p + 4, 2, &om))
        return false;
    return oh <= 23 && om <= 59;
}
