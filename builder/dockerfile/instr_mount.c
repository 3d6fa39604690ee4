/*
 * RUN --mount and --device: CSV splitting, option parsing and validation (BuildKit's
 * instructions/commands_runmount.go and commands_rundevice.go), plus the conversion-time defaults
 * of dockerfile2llb (convert_runmount.go, convert_secrets.go, convert_ssh.go).
 */
#include "instructions.h"
#include "instr_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/cleanup.h"

/* ---- CSV (Go encoding/csv, one record) ------------------------------------------------------- */

static int
csv_error(size_t col, const char *what, struct sw_error **err)
{
    return sw_error_set(err, SW_EINVAL, 0, NULL, "parse error on line 1, column %zu: %s", col,
                        what);
}

/* A quoted field starting at s[*i] == '"'; leaves *i after the closing quote. */
static int
csv_quoted(struct sw_buf *field, const char *s, size_t *i, struct sw_error **err)
{
    size_t p = *i + 1;
    for (;;) {
        if (!s[p])
            return csv_error(p + 1, "extraneous or missing \" in quoted-field", err);
        if (s[p] == '"') {
            if (s[p + 1] == '"') {
                if (sw_buf_putc(field, '"') < 0)
                    return sw_error_oom(err);
                p += 2;
                continue;
            }
            p++;
            break;
        }
        if (sw_buf_putc(field, s[p++]) < 0)
            return sw_error_oom(err);
    }
    if (s[p] && s[p] != ',')
        return csv_error(p + 1, "extraneous or missing \" in quoted-field", err);
    *i = p;
    return 0;
}

int
df_csv_fields(struct sw_strv *out, const char *s, struct sw_error **err)
{
    size_t i = 0;
    for (;;) {
        struct sw_buf field = {0};
        int r = 0;
        if (s[i] == '"') {
            r = csv_quoted(&field, s, &i, err);
        } else {
            size_t start = i;
            while (s[i] && s[i] != ',') {
                if (s[i] == '"') {
                    r = csv_error(i + 1, "bare \" in non-quoted-field", err);
                    break;
                }
                i++;
            }
            if (r == 0 && sw_buf_append(&field, s + start, i - start) < 0)
                r = sw_error_oom(err);
        }
        if (r == 0 && sw_strv_pushn(out, sw_buf_cstr(&field), field.len) < 0)
            r = sw_error_oom(err);
        sw_buf_free(&field);
        if (r < 0)
            return r;
        if (s[i] != ',')
            return 0;
        i++;
    }
}

/* ---- small parsers --------------------------------------------------------------------------- */

/* A Go float literal as go-units accepts it: [+-]digits[.digits][e[+-]digits]. */
static bool
parse_float(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    size_t digits = 0;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return false;
    errno = 0;
    *out = strtod(s, NULL);
    return errno == 0 && isfinite(*out);
}

/* go-units RAMInBytes: a number, an optional space, an optional k/m/g/t/p (1024-based) with an
 * optional "b" or "ib"; a bare "b" is bytes. */
static int
ram_in_bytes(const char *s, int64_t *out)
{
    const char *sep = NULL;
    for (const char *p = s; *p; p++)
        if (strchr("0123456789. ", *p))
            sep = p;
    if (!sep)
        return -1;
    sw_autofree char *num = strndup(s, (size_t)(sep - s) + (*sep != ' '));
    sw_autofree char *sfx = df_lower_dup(sep + 1);
    double size;
    if (!num || !sfx || !parse_float(num, &size) || size < 0)
        return -1;
    size_t n = strlen(sfx);
    if (n == 0 || (sfx[0] == 'b' && n == 1)) {
        *out = (int64_t)size;
        return 0;
    }
    const char *units = "kmgtp";
    const char *u = strchr(units, sfx[0]);
    if (n > 3 || !u || !sfx[0] || (n == 2 && sfx[1] != 'b') || (n == 3 && strcmp(sfx + 1, "ib")))
        return -1;
    for (const char *k = units; k <= u; k++)
        size *= 1024.0;
    if (size >= 9223372036854775807.0)
        return -1;
    *out = (int64_t)size;
    return 0;
}

/* ---- --mount --------------------------------------------------------------------------------- */

const char *
df_mount_type_name(enum df_mount_type t)
{
    static const char *const names[] = {"bind", "cache", "tmpfs", "secret", "ssh"};
    return (unsigned)t < 5 ? names[t] : "?";
}

void
df_mount_clear(struct df_mount *m)
{
    free(m->from);
    free(m->source);
    free(m->target);
    free(m->id);
    free(m->env);
    memset(m, 0, sizeof *m);
}

static bool
secretish(const struct df_mount *m)
{
    return m->type == DF_MOUNT_SECRET || m->type == DF_MOUNT_SSH;
}

/* ro/readonly -> 1, rw/readwrite -> 0, anything else -> -1 */
static int
ro_key(const char *key)
{
    if (!strcmp(key, "readonly") || !strcmp(key, "ro"))
        return 1;
    if (!strcmp(key, "readwrite") || !strcmp(key, "rw"))
        return 0;
    return -1;
}

static int
unexpected_key(const char *key, const struct df_mount *m, struct sw_error **err)
{
    return sw_error_set(err, SW_EINVAL, 0, NULL, "unexpected key '%s' for mount type '%s'", key,
                        df_mount_type_name(m->type));
}

/* A key given without "=value". */
static int
mount_bare_key(struct df_mount *m, bool *ro_auto, const char *key, const char *field,
               struct sw_error **err)
{
    if (ro_key(key) >= 0) {
        m->readonly = ro_key(key) == 1;
        *ro_auto = false;
        return 0;
    }
    if (!strcmp(key, "required")) {
        if (!secretish(m))
            return unexpected_key(key, m, err);
        m->required = true;
        return 0;
    }
    return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid field '%s' must be a key=value pair",
                        field);
}

static int
set_str(char **slot, const char *v, struct sw_error **err)
{
    free(*slot);
    *slot = NULL;
    if (!*v)
        return 0;
    *slot = strdup(v);
    return *slot ? 0 : sw_error_oom(err);
}

static int
mount_enum(struct df_mount *m, const char *key, const char *value, struct sw_error **err)
{
    static const char *const types[] = {"bind", "cache", "tmpfs", "secret", "ssh"};
    static const char *const sharings[] = {"shared", "private", "locked"};
    bool is_type = !strcmp(key, "type");
    const char *const *opts = is_type ? types : sharings;
    size_t n = is_type ? 5 : 3;
    for (size_t i = 0; i < n; i++) {
        if (df_str_ieq(value, opts[i])) {
            if (is_type) {
                m->type = (enum df_mount_type)i;
            } else {
                m->sharing = (enum df_mount_sharing)i;
                m->sharing_set = true;
            }
            return 0;
        }
    }
    struct sw_buf q = {0};
    sw_go_quote(&q, value, strlen(value));
    char *s = df_suggest(value, opts, n, true);
    int r = sw_error_set(err, SW_EINVAL, 0, NULL, "unsupported %s %s%s%s%s",
                         is_type ? "mount type" : "sharing value", sw_buf_cstr(&q),
                         s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
    free(s);
    sw_buf_free(&q);
    return r;
}

static int
mount_bool(bool *out, const char *key, const char *value, struct sw_error **err)
{
    if (df_go_parse_bool(value, out) < 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid value for %s: %s", key, value);
    return 0;
}

static int
mount_number(struct df_mount *m, const char *key, const char *value, struct sw_error **err)
{
    bool is_mode = !strcmp(key, "mode");
    uint64_t v;
    if (df_go_parse_uint(&v, value, is_mode ? 8 : 10, 32) != DF_NUM_OK)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid value %s for %s", value, key);
    if (is_mode) {
        m->mode = (uint32_t)v;
        m->has_mode = true;
    } else if (key[0] == 'u') {
        m->uid = (uint32_t)v;
        m->has_uid = true;
    } else {
        m->gid = (uint32_t)v;
        m->has_gid = true;
    }
    return 0;
}

static int
mount_unknown_key(const char *key, const char *field, struct sw_error **err)
{
    static const char *const keys[] = {"type", "from",    "source",    "target", "readonly",
                                       "id",   "sharing", "required",  "size",   "mode",
                                       "uid",  "gid",     "src",       "dst",    "destination",
                                       "ro",   "rw",      "readwrite", "env"};
    char *s = df_suggest(key, keys, sizeof keys / sizeof *keys, true);
    int r = sw_error_set(err, SW_EINVAL, 0, NULL, "unexpected key '%s' in '%s'%s%s%s", key, field,
                         s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
    free(s);
    return r;
}

static int
mount_key(struct df_mount *m, bool *ro_auto, const char *key, const char *value, const char *field,
          struct sw_error **err)
{
    if (!strcmp(key, "type") || !strcmp(key, "sharing"))
        return mount_enum(m, key, value, err);
    if (!strcmp(key, "from"))
        return set_str(&m->from, value, err);
    if (!strcmp(key, "source") || !strcmp(key, "src"))
        return set_str(&m->source, value, err);
    if (!strcmp(key, "target") || !strcmp(key, "dst") || !strcmp(key, "destination"))
        return set_str(&m->target, value, err);
    if (!strcmp(key, "id"))
        return set_str(&m->id, value, err);
    if (ro_key(key) >= 0) {
        bool b = false;
        int r = mount_bool(&b, key, value, err);
        m->readonly = ro_key(key) == 1 ? b : !b;
        *ro_auto = false;
        return r;
    }
    if (!strcmp(key, "required"))
        return secretish(m) ? mount_bool(&m->required, key, value, err)
                            : unexpected_key(key, m, err);
    if (!strcmp(key, "size")) {
        if (m->type != DF_MOUNT_TMPFS)
            return unexpected_key(key, m, err);
        if (ram_in_bytes(value, &m->size) < 0)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid value for %s: %s", key, value);
        return 0;
    }
    if (!strcmp(key, "mode") || !strcmp(key, "uid") || !strcmp(key, "gid"))
        return mount_number(m, key, value, err);
    if (!strcmp(key, "env")) {
        free(m->env);
        m->env = strdup(value);
        return m->env ? 0 : sw_error_oom(err);
    }
    return mount_unknown_key(key, field, err);
}

static int
mount_validate(struct df_mount *m, bool ro_auto, struct sw_error **err)
{
    bool file_info =
        m->type == DF_MOUNT_SECRET || m->type == DF_MOUNT_SSH || m->type == DF_MOUNT_CACHE;
    const char *tn = df_mount_type_name(m->type);
    if (!file_info && m->has_mode)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "mode not allowed for \"%s\" type mounts", tn);
    if (!file_info && m->has_uid)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "uid not allowed for \"%s\" type mounts", tn);
    if (!file_info && m->has_gid)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "gid not allowed for \"%s\" type mounts", tn);
    if (ro_auto)
        m->readonly = !(m->type == DF_MOUNT_CACHE || m->type == DF_MOUNT_TMPFS);
    if (m->type == DF_MOUNT_SECRET) {
        if (m->from)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "secret mount should not have a from");
        if (m->sharing_set)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "secret mount should not define sharing");
        if (!m->source && !m->target && !m->id)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "invalid secret mount. one of source, target required");
        if (m->source && m->id)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "both source and id can't be set");
    }
    if (m->sharing_set && m->type != DF_MOUNT_CACHE)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid cache sharing set for %s mount", tn);
    return 0;
}

static int
mount_field(struct df_mount *m, bool *ro_auto, const char *field, const struct df_env *env,
            const struct df_expand_opts *opts, struct sw_error **err)
{
    const char *eq = strchr(field, '=');
    sw_autofree char *key = df_lower_dup(field);
    if (!key)
        return sw_error_oom(err);
    if (eq)
        key[eq - field] = '\0';
    if (!eq)
        return mount_bare_key(m, ro_auto, key, field, err);
    static const struct df_expand_opts default_opts = {.escape = '\\'};
    sw_autofree char *value = NULL;
    if (env) {
        int r = df_expand_word(&value, eq + 1, env, opts ? opts : &default_opts, NULL, NULL, err);
        if (r < 0)
            return r;
    } else {
        value = strdup(eq + 1);
        if (!value)
            return sw_error_oom(err);
    }
    return mount_key(m, ro_auto, key, value, field, err);
}

int
df_mount_parse(struct df_mount *out, const char *csv, const struct df_env *env,
               const struct df_expand_opts *opts, struct sw_error **err)
{
    struct sw_strv fields = {0};
    struct df_mount m = {.type = DF_MOUNT_BIND};
    bool ro_auto = true;
    int r = df_csv_fields(&fields, csv, err);
    if (r < 0)
        sw_error_wrap(err, "failed to parse csv mounts");
    for (size_t i = 0; r == 0 && i < fields.n; i++)
        r = mount_field(&m, &ro_auto, fields.v[i], env, opts, err);
    if (r == 0)
        r = mount_validate(&m, ro_auto, err);
    sw_strv_free(&fields);
    if (r < 0) {
        df_mount_clear(&m);
        return r;
    }
    *out = m;
    return 0;
}

int
df_mount_precheck(const char *csv, struct sw_error **err)
{
    struct sw_strv fields = {0};
    int r = df_csv_fields(&fields, csv, err);
    if (r < 0)
        sw_error_wrap(err, "failed to parse csv mounts");
    for (size_t i = 0; r == 0 && i < fields.n; i++) {
        const char *f = fields.v[i];
        const char *eq = strchr(f, '=');
        if (!eq || (size_t)(eq - f) != 4 || strncasecmp(f, "from", 4) != 0)
            continue;
        const char *dollar = strchr(eq + 1, '$');
        if (dollar && dollar[1])
            r = sw_error_set(err, SW_EINVAL, 0, NULL,
                             "'from' doesn't support variable expansion, define alias stage "
                             "instead");
    }
    sw_strv_free(&fields);
    return r;
}

static const char *
base_name(const char *p, size_t *len)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && p[start - 1] != '/')
        start--;
    if (start == n) { /* "" or "/" */
        *len = 1;
        return n == 0 ? "." : "/";
    }
    *len = n - start;
    return p + start;
}

static int
secret_defaults(struct df_mount *m, struct sw_error **err)
{
    if (m->source) {
        free(m->id);
        m->id = strdup(m->source);
    } else if (!m->id) {
        if (!m->target)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "one of source, target required");
        size_t n;
        const char *b = base_name(m->target, &n);
        m->id = strndup(b, n);
    }
    if (!m->id)
        return sw_error_oom(err);
    if (!m->target && !m->env) {
        size_t n;
        const char *b = base_name(m->id, &n);
        if (asprintf(&m->target, "/run/secrets/%.*s", (int)n, b) < 0) {
            m->target = NULL;
            return sw_error_oom(err);
        }
    }
    if (!m->has_mode)
        m->mode = 0400;
    return 0;
}

static int
ssh_defaults(struct df_mount *m, size_t index, struct sw_error **err)
{
    if (m->source)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "ssh does not support source");
    if (!m->id && !(m->id = strdup("default")))
        return sw_error_oom(err);
    if (!m->target && asprintf(&m->target, "/run/buildkit/ssh_agent.%zu", index) < 0) {
        m->target = NULL;
        return sw_error_oom(err);
    }
    if (!m->has_mode)
        m->mode = 0600;
    return 0;
}

int
df_run_mounts_finish(struct df_mount *mounts, size_t n, struct sw_error **err)
{
    size_t nssh = 0;
    for (size_t i = 0; i < n; i++) {
        struct df_mount *m = &mounts[i];
        m->id_set = m->id != NULL;
        m->target_set = m->target != NULL;
        int r = 0;
        if (m->type == DF_MOUNT_SECRET) {
            r = secret_defaults(m, err);
        } else if (m->type == DF_MOUNT_SSH) {
            r = ssh_defaults(m, nssh++, err);
        } else if (m->type == DF_MOUNT_CACHE) {
            if (!m->id && m->target && !(m->id = strdup(m->target)))
                r = sw_error_oom(err);
            if (!m->has_mode)
                m->mode = 0755;
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- --device -------------------------------------------------------------------------------- */

void
df_device_clear(struct df_device *d)
{
    free(d->name);
    memset(d, 0, sizeof *d);
}

static int
device_field(struct df_device *d, const char *field, struct sw_error **err)
{
    const char *eq = strchr(field, '=');
    sw_autofree char *key = df_lower_dup(field);
    if (!key)
        return sw_error_oom(err);
    if (eq)
        key[eq - field] = '\0';
    if (!eq && !strcmp(key, "required")) {
        d->required = true;
        return 0;
    }
    if (eq && !strcmp(key, "name")) {
        if (d->name)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "device name already set to %s", d->name);
        d->name = strdup(eq + 1);
        return d->name ? 0 : sw_error_oom(err);
    }
    if (eq && !strcmp(key, "required")) {
        if (df_go_parse_bool(eq + 1, &d->required) < 0)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid value for %s: %s", key, eq + 1);
        return 0;
    }
    if (!d->name || !*d->name) {
        free(d->name);
        d->name = strdup(field);
        return d->name ? 0 : sw_error_oom(err);
    }
    if (!eq)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid field '%s' must be a key=value pair",
                            field);
    static const char *const keys[] = {"name", "required"};
    char *s = df_suggest(key, keys, 2, true);
    int r = sw_error_set(err, SW_EINVAL, 0, NULL, "unexpected key '%s' in '%s'%s%s%s", key, field,
                         s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
    free(s);
    return r;
}

int
df_device_parse(struct df_device *out, const char *csv, struct sw_error **err)
{
    struct sw_strv fields = {0};
    struct df_device d = {0};
    int r = df_csv_fields(&fields, csv, err);
    if (r < 0)
        sw_error_wrap(err, "failed to parse csv devices");
    for (size_t i = 0; r == 0 && i < fields.n; i++)
        r = device_field(&d, fields.v[i], err);
    sw_strv_free(&fields);
    if (r < 0) {
        df_device_clear(&d);
        return r;
    }
    *out = d;
    return 0;
}
