/*
 * Env helpers of dockerfile2llb that the stage resolver uses: addEnv, parseKeyValue, toEnvMap,
 * proxyEnvFromBuildArgs and the syntax part of resolveSourceDateEpochValue.
 */
#include "instructions.h"
#include "instr_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

int
df_parse_key_value(char **key, char **value, const char *kv)
{
    const char *eq = strchr(kv, '=');
    *key = strndup(kv, eq ? (size_t)(eq - kv) : strlen(kv));
    *value = strdup(eq ? eq + 1 : "");
    if (!*key || !*value) {
        free(*key);
        free(*value);
        *key = *value = NULL;
        return -SW_ENOMEM;
    }
    return 0;
}

static bool
entry_has_key(const char *entry, const char *key)
{
    size_t n = strlen(key);
    return strncmp(entry, key, n) == 0 && (entry[n] == '=' || entry[n] == '\0');
}

int
df_env_list_add(struct sw_strv *env, const char *key, const char *value)
{
    char *kv = NULL;
    if (asprintf(&kv, "%s=%s", key, value) < 0)
        return -SW_ENOMEM;
    for (size_t i = 0; i < env->n; i++) {
        if (entry_has_key(env->v[i], key)) {
            free(env->v[i]);
            env->v[i] = kv;
            return 0;
        }
    }
    return sw_strv_push_owned(env, kv) < 0 ? -SW_ENOMEM : 0;
}

static ssize_t
map_find(const struct sw_strv *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (entry_has_key(m->v[i], key))
            return (ssize_t)i;
    return -1;
}

/* Set key in the "k=v" map: replace in place or append. */
static int
map_set(struct sw_strv *m, const char *key, const char *value)
{
    return df_env_list_add(m, key, value);
}

int
df_env_to_map(struct sw_strv *out, const struct df_arg_pair *args, size_t nargs, char *const *env,
              size_t nenv)
{
    for (size_t i = 0; i < nenv; i++) {
        char *k, *v;
        if (df_parse_key_value(&k, &v, env[i]) < 0)
            return -SW_ENOMEM;
        int r = map_set(out, k, v);
        free(k);
        free(v);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < nargs; i++) {
        if (!args[i].value || map_find(out, args[i].key) >= 0)
            continue;
        if (map_set(out, args[i].key, args[i].value) < 0)
            return -SW_ENOMEM;
    }
    return 0;
}

void
df_proxy_env_clear(struct df_proxy_env *p)
{
    free(p->http_proxy);
    free(p->https_proxy);
    free(p->ftp_proxy);
    free(p->no_proxy);
    free(p->all_proxy);
    memset(p, 0, sizeof *p);
}

/* Returns the slot for a proxy key (any case), or NULL. */
static char **
proxy_slot(struct df_proxy_env *p, const char *key, size_t klen)
{
    static const char *const names[] = {"http_proxy", "https_proxy", "ftp_proxy", "no_proxy",
                                        "all_proxy"};
    char **slots[] = {&p->http_proxy, &p->https_proxy, &p->ftp_proxy, &p->no_proxy, &p->all_proxy};
    for (size_t i = 0; i < 5; i++)
        if (strlen(names[i]) == klen && strncasecmp(names[i], key, klen) == 0)
            return slots[i];
    return NULL;
}

int
df_proxy_env_from_build_args(struct df_proxy_env *out, char *const *build_args, size_t n)
{
    bool lower_set[5] = {false};
    bool any = false;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const char *kv = build_args[i];
        const char *eq = strchr(kv, '=');
        size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
        char **slot = proxy_slot(out, kv, klen);
        if (!slot)
            continue;
        size_t idx = (size_t)(slot - &out->http_proxy);
        bool lower = true;
        for (size_t k = 0; k < klen; k++)
            lower = lower && !(kv[k] >= 'A' && kv[k] <= 'Z');
        any = true;
        if (lower_set[idx] && !lower)
            continue;
        char *v = strdup(eq ? eq + 1 : "");
        if (!v) {
            df_proxy_env_clear(out);
            return -SW_ENOMEM;
        }
        free(*slot);
        *slot = v;
        lower_set[idx] = lower_set[idx] || lower;
    }
    return any ? 1 : 0;
}

int
df_source_date_epoch(enum df_sde_kind *kind, int64_t *epoch, size_t *stage, const char *v,
                     char *const *stage_names, size_t nstages, struct sw_error **err)
{
    *kind = DF_SDE_UNSET;
    if (!v || !*v)
        return 0;
    int64_t t;
    if (df_go_parse_int(&t, v, 64) == DF_NUM_OK) {
        *kind = DF_SDE_TIME;
        *epoch = t;
        return 0;
    }
    if (!strcmp(v, "context")) {
        *kind = DF_SDE_CONTEXT;
        return 0;
    }
    for (size_t i = 0; i < nstages; i++) {
        if (stage_names[i] && df_str_ieq(stage_names[i], v)) {
            *kind = DF_SDE_STAGE;
            if (stage)
                *stage = i;
            return 0;
        }
    }
    return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid SOURCE_DATE_EPOCH: %s", v);
}
