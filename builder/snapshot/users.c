#include "users.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"

#define MAX_DB (4u << 20) /* passwd/group files larger than this are not plausible */

static bool
parse_id(const char *s, uint32_t *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v > UINT32_MAX - 1 || s[0] == '-' || s[0] == '+')
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Field i (0-based) of a ':' separated line; returns its length and start. */
static const char *
field(const char *line, size_t len, int i, size_t *flen)
{
    const char *p = line, *end = line + len;
    for (int k = 0; k < i; k++) {
        const char *c = memchr(p, ':', (size_t)(end - p));
        if (!c)
            return NULL;
        p = c + 1;
    }
    const char *c = memchr(p, ':', (size_t)(end - p));
    *flen = c ? (size_t)(c - p) : (size_t)(end - p);
    return p;
}

/* Iterate lines; fn returns true to stop. */
static void
each_line(const char *data, size_t len, bool (*fn)(const char *line, size_t n, void *ctx),
          void *ctx)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n && p[0] != '#' && fn(p, n, ctx))
            return;
        p += n + 1;
    }
}

struct pw_query {
    const char *name; /* match by name, or */
    uint32_t uid;     /* by uid when name is NULL */
    bool found;
    uint32_t out_uid, out_gid;
    char *home;
};

static bool
pw_match(const char *line, size_t n, void *ctx)
{
    struct pw_query *q = ctx;
    size_t l0 = 0, l2 = 0, l3 = 0, l5 = 0;
    const char *name = field(line, n, 0, &l0);
    const char *uid = field(line, n, 2, &l2);
    const char *gid = field(line, n, 3, &l3);
    const char *home = field(line, n, 5, &l5);
    if (!name || !uid || !gid)
        return false;
    char ubuf[16], gbuf[16];
    if (l2 >= sizeof ubuf || l3 >= sizeof gbuf)
        return false;
    memcpy(ubuf, uid, l2);
    ubuf[l2] = '\0';
    memcpy(gbuf, gid, l3);
    gbuf[l3] = '\0';
    uint32_t u, g;
    if (!parse_id(ubuf, &u) || !parse_id(gbuf, &g))
        return false;
    bool hit = q->name ? (strlen(q->name) == l0 && !memcmp(q->name, name, l0)) : u == q->uid;
    if (!hit)
        return false;
    q->found = true;
    q->out_uid = u;
    q->out_gid = g;
    q->home = home ? strndup(home, l5) : NULL;
    return true;
}

struct gr_query {
    const char *name;   /* the group to find by name, or */
    const char *member; /* collect the groups listing this user */
    bool found;
    uint32_t gid;
    gid_t *groups;
    size_t ngroups;
};

static bool
gr_match(const char *line, size_t n, void *ctx)
{
    struct gr_query *q = ctx;
    size_t l0 = 0, l2 = 0, l3 = 0;
    const char *name = field(line, n, 0, &l0);
    const char *gid = field(line, n, 2, &l2);
    const char *members = field(line, n, 3, &l3);
    char gbuf[16];
    uint32_t g;
    if (!name || !gid || l2 >= sizeof gbuf)
        return false;
    memcpy(gbuf, gid, l2);
    gbuf[l2] = '\0';
    if (!parse_id(gbuf, &g))
        return false;
    if (q->name) {
        if (strlen(q->name) == l0 && !memcmp(q->name, name, l0)) {
            q->found = true;
            q->gid = g;
            return true;
        }
        return false;
    }
    /* membership: a comma-separated list */
    size_t ml = strlen(q->member);
    for (const char *p = members; p && p < members + l3;) {
        const char *c = memchr(p, ',', (size_t)(members + l3 - p));
        size_t len = c ? (size_t)(c - p) : (size_t)(members + l3 - p);
        if (len == ml && !memcmp(p, q->member, ml)) {
            gid_t *v = realloc(q->groups, (q->ngroups + 1) * sizeof *v);
            if (v) {
                q->groups = v;
                v[q->ngroups++] = g;
            }
            break;
        }
        p = c ? c + 1 : NULL;
    }
    return false;
}

static int
read_db(struct view *v, const char *path, char **data, size_t *len)
{
    struct sw_error *e = NULL;
    int r = view_read_file(v, path, MAX_DB, data, len, &e);
    sw_error_free(e);
    if (r < 0) {
        *data = NULL;
        *len = 0;
    }
    return r;
}

int
users_resolve(struct users_ids *out, struct view *v, const char *spec, struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        return 0;
    sw_autofree char *user = strdup(spec);
    if (!user)
        return sw_error_oom(err);
    char *group = strchr(user, ':');
    if (group)
        *group++ = '\0';
    sw_autofree char *passwd = NULL, *groups = NULL;
    size_t plen = 0, glen = 0;
    read_db(v, "/etc/passwd", &passwd, &plen);
    read_db(v, "/etc/group", &groups, &glen);

    uint32_t id;
    struct pw_query pq = {0};
    if (parse_id(user, &id)) {
        pq.uid = id;
        if (passwd)
            each_line(passwd, plen, pw_match, &pq);
        out->uid = id;
        out->gid = pq.found ? pq.out_gid : id;
    } else {
        pq.name = user;
        if (passwd)
            each_line(passwd, plen, pw_match, &pq);
        if (!pq.found)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "unable to find user %s: no matching entries in passwd file", user);
        out->uid = pq.out_uid;
        out->gid = pq.out_gid;
    }
    out->home = pq.home;
    if (group) {
        if (parse_id(group, &id)) {
            out->gid = id;
        } else {
            struct gr_query gq = {.name = group};
            if (groups)
                each_line(groups, glen, gr_match, &gq);
            if (!gq.found) {
                users_ids_clear(out);
                return sw_error_set(err, SW_EINVAL, 0, NULL,
                                    "unable to find group %s: no matching entries in group file",
                                    group);
            }
            out->gid = gq.gid;
        }
    } else if (groups && pq.found && !parse_id(user, &id)) {
        struct gr_query gq = {.member = user};
        each_line(groups, glen, gr_match, &gq);
        out->groups = gq.groups;
        out->ngroups = gq.ngroups;
    }
    return 0;
}

void
users_ids_clear(struct users_ids *ids)
{
    free(ids->groups);
    free(ids->home);
    memset(ids, 0, sizeof *ids);
}
