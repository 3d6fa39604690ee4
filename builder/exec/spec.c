/* builder/exec/spec.c: the container description, its defaults and its config.json form. */
#include "spec.h"

#include <errno.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "util/cleanup.h"
#include "util/userns.h"

void
ctr_spec_init(struct ctr_spec *spec)
{
    memset(spec, 0, sizeof *spec);
}

static void
mount_clear(struct ctr_mount *m)
{
    free(m->destination);
    free(m->type);
    free(m->source);
    sw_strv_free(&m->options);
}

void
ctr_spec_clear(struct ctr_spec *spec)
{
    if (!spec)
        return;
    sw_strv_free(&spec->process.args);
    sw_strv_free(&spec->process.env);
    free(spec->process.cwd);
    free(spec->process.additional_gids);
    free(spec->process.rlimits);
    free(spec->root.path);
    free(spec->hostname);
    for (size_t i = 0; i < spec->n_mounts; i++)
        mount_clear(&spec->mounts[i]);
    free(spec->mounts);
    for (size_t i = 0; i < spec->n_devices; i++)
        free(spec->devices[i].path);
    free(spec->devices);
    free(spec->uid_mappings);
    free(spec->gid_mappings);
    memset(spec, 0, sizeof *spec);
}

static int
set_str(char **dst, const char *s, struct sw_error **err)
{
    char *c = NULL;
    if (s && !(c = strdup(s)))
        return sw_error_oom(err);
    free(*dst);
    *dst = c;
    return 0;
}

int
ctr_spec_set_root(struct ctr_spec *spec, const char *path, bool readonly, struct sw_error **err)
{
    spec->root.readonly = readonly;
    return set_str(&spec->root.path, path, err);
}

int
ctr_spec_set_hostname(struct ctr_spec *spec, const char *hostname, struct sw_error **err)
{
    return set_str(&spec->hostname, hostname, err);
}

int
ctr_spec_set_cwd(struct ctr_spec *spec, const char *cwd, struct sw_error **err)
{
    return set_str(&spec->process.cwd, cwd, err);
}

int
ctr_spec_set_args(struct ctr_spec *spec, const char *const *args, struct sw_error **err)
{
    struct sw_strv v = {0};
    for (size_t i = 0; args && args[i]; i++) {
        if (sw_strv_push(&v, args[i]) != 0) {
            sw_strv_free(&v);
            return sw_error_oom(err);
        }
    }
    sw_strv_free(&spec->process.args);
    spec->process.args = v;
    return 0;
}

int
ctr_spec_add_env(struct ctr_spec *spec, const char *kv, struct sw_error **err)
{
    if (!strchr(kv, '=') || kv[0] == '=')
        return sw_error_set(err, SW_EINVAL, 0, NULL, "environment entry \"%s\" is not KEY=value",
                            kv);
    return sw_strv_push(&spec->process.env, kv) != 0 ? sw_error_oom(err) : 0;
}

int
ctr_spec_set_additional_gids(struct ctr_spec *spec, const gid_t *gids, size_t n,
                             struct sw_error **err)
{
    gid_t *c = NULL;
    if (n > 0) {
        c = calloc(n, sizeof *c);
        if (!c)
            return sw_error_oom(err);
        memcpy(c, gids, n * sizeof *c);
    }
    free(spec->process.additional_gids);
    spec->process.additional_gids = c;
    spec->process.n_additional_gids = n;
    return 0;
}

/* Grow *arr (of elem bytes, *n used) by one zeroed element; return it or NULL. */
static void *
grow_one(void *arr_p, size_t *n, size_t elem)
{
    void **arr = arr_p;
    void *p = realloc(*arr, (*n + 1) * elem);
    if (!p)
        return NULL;
    *arr = p;
    void *e = (char *)p + *n * elem;
    memset(e, 0, elem);
    (*n)++;
    return e;
}

int
ctr_spec_add_rlimit(struct ctr_spec *spec, int resource, uint64_t soft, uint64_t hard,
                    struct sw_error **err)
{
    if (!ctr_rlimit_name(resource))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "unknown rlimit resource %d", resource);
    if (soft > hard)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "rlimit %s: soft limit above hard limit",
                            ctr_rlimit_name(resource));
    struct ctr_rlimit *r = grow_one(&spec->process.rlimits, &spec->process.n_rlimits, sizeof *r);
    if (!r)
        return sw_error_oom(err);
    r->resource = resource;
    r->soft = soft;
    r->hard = hard;
    return 0;
}

static int
split_options(struct sw_strv *out, const char *options)
{
    for (const char *p = options; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0 && sw_strv_pushn(out, p, n) != 0)
            return -SW_ENOMEM;
        p = e ? e + 1 : p + n;
    }
    return 0;
}

int
ctr_spec_add_mount(struct ctr_spec *spec, const char *destination, const char *type,
                   const char *source, const char *options, struct sw_error **err)
{
    if (!destination || destination[0] != '/')
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "mount destination \"%s\" is not an absolute path",
                            destination ? destination : "");
    struct ctr_mount m = {0};
    if (!(m.destination = strdup(destination)) || !(m.type = strdup(type ? type : "none")) ||
        !(m.source = strdup(source ? source : (type ? type : "none"))) ||
        split_options(&m.options, options) != 0) {
        mount_clear(&m);
        return sw_error_oom(err);
    }
    struct ctr_mount *slot = grow_one(&spec->mounts, &spec->n_mounts, sizeof *slot);
    if (!slot) {
        mount_clear(&m);
        return sw_error_oom(err);
    }
    *slot = m;
    return 0;
}

int
ctr_spec_add_device(struct ctr_spec *spec, const char *path, char type, int64_t major,
                    int64_t minor, uint32_t mode, struct sw_error **err)
{
    if (!path || path[0] != '/' || (type != 'c' && type != 'b'))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "bad device \"%s\"", path ? path : "");
    char *p = strdup(path);
    if (!p)
        return sw_error_oom(err);
    struct ctr_device *d = grow_one(&spec->devices, &spec->n_devices, sizeof *d);
    if (!d) {
        free(p);
        return sw_error_oom(err);
    }
    d->path = p;
    d->type = type;
    d->major = major;
    d->minor = minor;
    d->file_mode = mode & 07777;
    return 0;
}

static int
add_mapping(struct ctr_id_map **arr, size_t *n, uint32_t c, uint32_t h, uint32_t size,
            struct sw_error **err)
{
    if (size == 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "an id mapping needs a size");
    struct ctr_id_map *m = grow_one(arr, n, sizeof *m);
    if (!m)
        return sw_error_oom(err);
    *m = (struct ctr_id_map){c, h, size};
    return 0;
}

int
ctr_spec_add_uid_mapping(struct ctr_spec *spec, uint32_t container_id, uint32_t host_id,
                         uint32_t size, struct sw_error **err)
{
    return add_mapping(&spec->uid_mappings, &spec->n_uid_mappings, container_id, host_id, size,
                       err);
}

int
ctr_spec_add_gid_mapping(struct ctr_spec *spec, uint32_t container_id, uint32_t host_id,
                         uint32_t size, struct sw_error **err)
{
    return add_mapping(&spec->gid_mappings, &spec->n_gid_mappings, container_id, host_id, size,
                       err);
}

int
ctr_spec_add_default_mounts(struct ctr_spec *spec, const struct ctr_etc_files *etc, bool mqueue,
                            struct sw_error **err)
{
    /* a user namespace of the step's own, or the rootless build's (util/userns.h) */
    bool userns = (spec->namespaces & CTR_NS_USER) || sw_in_user_namespace();
    bool netns = spec->namespaces & CTR_NS_NET;
    int r = 0;
    r = r ? r : ctr_spec_add_mount(spec, "/proc", "proc", "proc", "nosuid,noexec,nodev", err);
    r = r ? r
          : ctr_spec_add_mount(spec, "/dev", "tmpfs", "tmpfs",
                               "nosuid,strictatime,mode=755,size=65536k", err);
    r = r ? r
          : ctr_spec_add_mount(spec, "/dev/pts", "devpts", "devpts",
                               userns ? "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"
                                      : "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5",
                               err);
    r = r ? r
          : ctr_spec_add_mount(spec, "/dev/shm", "tmpfs", "shm",
                               "nosuid,noexec,nodev,mode=1777,size=65536k", err);
    if (mqueue)
        r = r ? r
              : ctr_spec_add_mount(spec, "/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev",
                                   err);
    /* sysfs belongs to a network namespace: a user namespace may mount it only over a network
     * namespace it owns, so without one, show the host's /sys read-only (what rootless runc
     * does). */
    if (userns && !netns)
        r = r ? r
              : ctr_spec_add_mount(spec, "/sys", "bind", "/sys", "rbind,nosuid,noexec,nodev,ro",
                                   err);
    else
        r = r ? r
              : ctr_spec_add_mount(spec, "/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro", err);
    static const struct {
        const char *name;
        int64_t major, minor;
    } devs[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};
    for (size_t i = 0; r == 0 && i < sizeof devs / sizeof devs[0]; i++)
        r = ctr_spec_add_device(spec, devs[i].name, 'c', devs[i].major, devs[i].minor, 0666, err);
    if (etc) {
        const char *files[][2] = {{"/etc/hosts", etc->hosts},
                                  {"/etc/resolv.conf", etc->resolv_conf},
                                  {"/etc/hostname", etc->hostname}};
        for (size_t i = 0; r == 0 && i < 3; i++)
            if (files[i][1])
                r = ctr_spec_add_mount(spec, files[i][0], "bind", files[i][1],
                                       "rbind,rprivate,nosuid,nodev,noexec,ro", err);
    }
    return r;
}

/* Find "name:start:count" or "uid:start:count" in an /etc/subuid-style file. */
static bool
find_subid(const char *file, const char *name, unsigned long id, uint32_t *start, uint32_t *count)
{
    sw_autofclose FILE *f = fopen(file, "re");
    if (!f)
        return false;
    char line[512];
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "%lu", id);
    while (fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':');
        if (!c1)
            continue;
        *c1 = '\0';
        if (strcmp(line, idbuf) != 0 && (!name || strcmp(line, name) != 0))
            continue;
        char *end;
        errno = 0;
        unsigned long long s = strtoull(c1 + 1, &end, 10);
        if (errno || *end != ':')
            continue;
        unsigned long long n = strtoull(end + 1, &end, 10);
        if (errno || n == 0 || s > UINT32_MAX || n > UINT32_MAX - s)
            continue;
        *start = (uint32_t)s;
        *count = (uint32_t)n;
        return true;
    }
    return false;
}

int
ctr_spec_set_rootless(struct ctr_spec *spec, uid_t uid, gid_t gid, bool subid_files,
                      const char *etc_dir, struct sw_error **err)
{
    free(spec->uid_mappings);
    free(spec->gid_mappings);
    spec->uid_mappings = spec->gid_mappings = NULL;
    spec->n_uid_mappings = spec->n_gid_mappings = 0;
    spec->namespaces |= CTR_NS_USER;
    uint32_t us = 0, un = 0, gs = 0, gn = 0;
    bool ranges = false;
    if (subid_files) {
        char name[256] = "";
        struct passwd pw, *pwp = NULL;
        char buf[1024];
        if (getpwuid_r(uid, &pw, buf, sizeof buf, &pwp) == 0 && pwp)
            snprintf(name, sizeof name, "%s", pw.pw_name);
        char path[4096];
        snprintf(path, sizeof path, "%s/subuid", etc_dir ? etc_dir : "/etc");
        bool u = find_subid(path, name[0] ? name : NULL, uid, &us, &un);
        snprintf(path, sizeof path, "%s/subgid", etc_dir ? etc_dir : "/etc");
        bool g = find_subid(path, name[0] ? name : NULL, uid, &gs, &gn);
        ranges = u && g && un < UINT32_MAX && gn < UINT32_MAX;
    }
    int r = ctr_spec_add_uid_mapping(spec, 0, uid, 1, err);
    r = r ? r : ctr_spec_add_gid_mapping(spec, 0, gid, 1, err);
    if (ranges) {
        r = r ? r : ctr_spec_add_uid_mapping(spec, 1, us, un, err);
        r = r ? r : ctr_spec_add_gid_mapping(spec, 1, gs, gn, err);
    }
    return r;
}

static const struct {
    int resource;
    const char *name;
} rlimit_names[] = {
    {RLIMIT_AS, "RLIMIT_AS"},
    {RLIMIT_CORE, "RLIMIT_CORE"},
    {RLIMIT_CPU, "RLIMIT_CPU"},
    {RLIMIT_DATA, "RLIMIT_DATA"},
    {RLIMIT_FSIZE, "RLIMIT_FSIZE"},
    {RLIMIT_LOCKS, "RLIMIT_LOCKS"},
    {RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"},
    {RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"},
    {RLIMIT_NICE, "RLIMIT_NICE"},
    {RLIMIT_NOFILE, "RLIMIT_NOFILE"},
    {RLIMIT_NPROC, "RLIMIT_NPROC"},
    {RLIMIT_RSS, "RLIMIT_RSS"},
    {RLIMIT_RTPRIO, "RLIMIT_RTPRIO"},
    {RLIMIT_RTTIME, "RLIMIT_RTTIME"},
    {RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"},
    {RLIMIT_STACK, "RLIMIT_STACK"},
};

const char *
ctr_rlimit_name(int resource)
{
    for (size_t i = 0; i < sizeof rlimit_names / sizeof rlimit_names[0]; i++)
        if (rlimit_names[i].resource == resource)
            return rlimit_names[i].name;
    return NULL;
}

/* json_*_set_new / json_array_append_new steal their value even on failure; count failures. */
static void
put(json_t *obj, const char *key, json_t *v, int *bad)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        (*bad)++;
}

static void
append(json_t *arr, json_t *v, int *bad)
{
    if (!v || json_array_append_new(arr, v) != 0)
        (*bad)++;
}

static json_t *
strv_json(const struct sw_strv *sv, int *bad)
{
    json_t *a = json_array();
    if (!a) {
        (*bad)++;
        return NULL;
    }
    for (size_t i = 0; i < sv->n; i++)
        append(a, json_string(sv->v[i]), bad);
    return a;
}

static json_t *
maps_json(const struct ctr_id_map *m, size_t n, int *bad)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = json_object();
        if (o) {
            put(o, "containerID", json_integer(m[i].container_id), bad);
            put(o, "hostID", json_integer(m[i].host_id), bad);
            put(o, "size", json_integer(m[i].size), bad);
        }
        append(a, o, bad);
    }
    if (!a)
        (*bad)++;
    return a;
}

static json_t *
process_json(const struct ctr_process *p, int *bad)
{
    json_t *o = json_object();
    if (!o) {
        (*bad)++;
        return NULL;
    }
    put(o, "terminal", json_false(), bad);
    json_t *user = json_object();
    if (user) {
        put(user, "uid", json_integer(p->uid), bad);
        put(user, "gid", json_integer(p->gid), bad);
        if (p->n_additional_gids > 0) {
            json_t *g = json_array();
            for (size_t i = 0; g && i < p->n_additional_gids; i++)
                append(g, json_integer(p->additional_gids[i]), bad);
            put(user, "additionalGids", g, bad);
        }
    }
    put(o, "user", user, bad);
    put(o, "args", strv_json(&p->args, bad), bad);
    put(o, "env", strv_json(&p->env, bad), bad);
    put(o, "cwd", json_string(p->cwd ? p->cwd : "/"), bad);
    put(o, "noNewPrivileges", json_boolean(p->no_new_privileges), bad);
    if (p->n_rlimits > 0) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < p->n_rlimits; i++) {
            json_t *r = json_object();
            if (r) {
                put(r, "type", json_string(ctr_rlimit_name(p->rlimits[i].resource)), bad);
                put(r, "soft", json_integer((json_int_t)p->rlimits[i].soft), bad);
                put(r, "hard", json_integer((json_int_t)p->rlimits[i].hard), bad);
            }
            append(a, r, bad);
        }
        put(o, "rlimits", a, bad);
    }
    return o;
}

static json_t *
linux_json(const struct ctr_spec *spec, int *bad)
{
    json_t *o = json_object();
    if (!o) {
        (*bad)++;
        return NULL;
    }
    static const struct {
        unsigned bit;
        const char *type;
    } ns[] = {{CTR_NS_PID, "pid"}, {CTR_NS_NET, "network"}, {CTR_NS_IPC, "ipc"},
              {CTR_NS_UTS, "uts"}, {CTR_NS_MOUNT, "mount"}, {CTR_NS_USER, "user"}};
    json_t *a = json_array();
    for (size_t i = 0; a && i < sizeof ns / sizeof ns[0]; i++) {
        if (!(spec->namespaces & ns[i].bit))
            continue;
        json_t *e = json_object();
        if (e)
            put(e, "type", json_string(ns[i].type), bad);
        append(a, e, bad);
    }
    put(o, "namespaces", a, bad);
    if (spec->namespaces & CTR_NS_USER) {
        put(o, "uidMappings", maps_json(spec->uid_mappings, spec->n_uid_mappings, bad), bad);
        put(o, "gidMappings", maps_json(spec->gid_mappings, spec->n_gid_mappings, bad), bad);
    }
    if (spec->n_devices > 0) {
        json_t *d = json_array();
        for (size_t i = 0; d && i < spec->n_devices; i++) {
            const struct ctr_device *dv = &spec->devices[i];
            json_t *e = json_object();
            if (e) {
                char t[2] = {dv->type, '\0'};
                put(e, "path", json_string(dv->path), bad);
                put(e, "type", json_string(t), bad);
                put(e, "major", json_integer(dv->major), bad);
                put(e, "minor", json_integer(dv->minor), bad);
                put(e, "fileMode", json_integer(dv->file_mode), bad);
                put(e, "uid", json_integer(dv->uid), bad);
                put(e, "gid", json_integer(dv->gid), bad);
            }
            append(d, e, bad);
        }
        put(o, "devices", d, bad);
    }
    return o;
}

int
ctr_spec_to_json(char **out, const struct ctr_spec *spec, struct sw_error **err)
{
    *out = NULL;
    if (spec->process.args.n == 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "container spec: no process args");
    if (!spec->root.path)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "container spec: no root path");
    int bad = 0;
    json_t *doc = json_object();
    if (!doc)
        return sw_error_oom(err);
    put(doc, "ociVersion", json_string("1.0.2"), &bad);
    put(doc, "process", process_json(&spec->process, &bad), &bad);
    json_t *root = json_object();
    if (root) {
        put(root, "path", json_string(spec->root.path), &bad);
        put(root, "readonly", json_boolean(spec->root.readonly), &bad);
    }
    put(doc, "root", root, &bad);
    if (spec->hostname)
        put(doc, "hostname", json_string(spec->hostname), &bad);
    json_t *mounts = json_array();
    for (size_t i = 0; mounts && i < spec->n_mounts; i++) {
        const struct ctr_mount *m = &spec->mounts[i];
        json_t *e = json_object();
        if (e) {
            put(e, "destination", json_string(m->destination), &bad);
            put(e, "type", json_string(m->type), &bad);
            put(e, "source", json_string(m->source), &bad);
            if (m->options.n > 0)
                put(e, "options", strv_json(&m->options, &bad), &bad);
        }
        append(mounts, e, &bad);
    }
    put(doc, "mounts", mounts, &bad);
    put(doc, "linux", linux_json(spec, &bad), &bad);
    char *s = bad ? NULL : json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    if (!s)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "container spec: cannot encode as JSON (a string that is not UTF-8, "
                            "or out of memory)");
    *out = s;
    return 0;
}
