/*
 * `slipway build --secret` and `--ssh`: the values docker buildx accepts, turned into the
 * solver's secret and SSH agent lists. Nothing here reads a secret: the solver reads it when a
 * RUN mounts it.
 */
#include "build_secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/cleanup.h"

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* id=ID[,src=PATH|source=PATH][,env=VAR][,type=file|env] (docker buildx, podman) */
static int
parse_secret(struct solve_secret *out, const char *spec, struct sw_error **err)
{
    sw_autofree char *copy = strdup(spec);
    if (!copy)
        return sw_error_oom(err);
    const char *id = NULL, *src = NULL, *env = NULL, *type = NULL;
    char *save = NULL;
    for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(f, '=');
        if (!eq)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "--secret %s: \"%s\" is not KEY=VALUE (keys: id, src, env, type)",
                                spec, f);
        *eq = '\0';
        const char *v = eq + 1;
        if (!strcmp(f, "id"))
            id = v;
        else if (!strcmp(f, "src") || !strcmp(f, "source"))
            src = v;
        else if (!strcmp(f, "env"))
            env = v;
        else if (!strcmp(f, "type"))
            type = v;
        else
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "--secret %s: unknown key \"%s\" (keys: id, src, env, type)", spec,
                                f);
    }
    if (type && strcmp(type, "file") && strcmp(type, "env"))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "--secret %s: type must be file or env, not \"%s\"", spec, type);
    if (!id || !*id)
        id = src ? src : env;
    if (!id || !*id)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "--secret %s: no id", spec);
    if (type && !strcmp(type, "env") && !env) {
        env = src ? src : id;
        src = NULL;
    }
    if (src && env)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "--secret %s: give either src= (a file) or env= (a variable)", spec);
    if (!src && !env) {
        /* podman and buildx: a variable named like the id, else a file named like it */
        if ((!type || !strcmp(type, "env")) && getenv(id))
            env = id;
        else
            src = id;
    }
    out->id = strdup(id);
    out->file = dup_or_null(src);
    out->env = dup_or_null(env);
    if (!out->id || (src && !out->file) || (env && !out->env))
        return sw_error_oom(err);
    if (out->file) {
        struct stat st;
        if (stat(out->file, &st) < 0 || !S_ISREG(st.st_mode))
            return sw_error_set(err, SW_ENOTFOUND, 0, NULL,
                                "--secret %s: %s is not a readable file", spec, out->file);
    }
    return 0;
}

/* default | default=SOCKET | ID=SOCKET */
static int
parse_ssh(struct solve_ssh *out, const char *spec, struct sw_error **err)
{
    const char *eq = strchr(spec, '=');
    sw_autofree char *id = eq ? strndup(spec, (size_t)(eq - spec)) : strdup(spec);
    if (!id)
        return sw_error_oom(err);
    const char *sock = eq ? eq + 1 : NULL;
    if (!*id)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "--ssh %s: no id", spec);
    if (!sock || !*sock) {
        sock = getenv("SSH_AUTH_SOCK");
        if (!sock || !*sock)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "--ssh %s: no socket given and SSH_AUTH_SOCK is not set", spec);
    }
    if (strchr(sock, ','))
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                            "--ssh %s: one agent socket per id (load several keys into one agent "
                            "with ssh-add)",
                            spec);
    struct stat st;
    if (stat(sock, &st) < 0)
        return sw_error_set(err, SW_ENOTFOUND, 0, NULL, "--ssh %s: %s does not exist", spec, sock);
    if (!S_ISSOCK(st.st_mode))
        return sw_error_set(err, SW_EUNSUPPORTED, 0, NULL,
                            "--ssh %s: %s is not a socket (slipway forwards SSH agents; load key "
                            "files into one with ssh-add)",
                            spec, sock);
    out->id = sw_steal(&id);
    out->socket = strdup(sock);
    return out->socket ? 0 : sw_error_oom(err);
}

int
build_secrets_parse(struct build_secrets *out, const struct sw_strv *secrets,
                    const struct sw_strv *ssh, struct sw_error **err)
{
    out->secrets = calloc(secrets->n ? secrets->n : 1, sizeof *out->secrets);
    out->ssh = calloc(ssh->n ? ssh->n : 1, sizeof *out->ssh);
    if (!out->secrets || !out->ssh)
        return sw_error_oom(err);
    for (size_t i = 0; i < secrets->n; i++) {
        int r = parse_secret(&out->secrets[out->nsecrets++], secrets->v[i], err);
        if (r < 0)
            return r;
        for (size_t k = 0; k + 1 < out->nsecrets; k++)
            if (!strcmp(out->secrets[k].id, out->secrets[i].id))
                return sw_error_set(err, SW_EINVAL, 0, NULL, "--secret: id %s is given twice",
                                    out->secrets[i].id);
    }
    for (size_t i = 0; i < ssh->n; i++) {
        int r = parse_ssh(&out->ssh[out->nssh++], ssh->v[i], err);
        if (r < 0)
            return r;
        for (size_t k = 0; k + 1 < out->nssh; k++)
            if (!strcmp(out->ssh[k].id, out->ssh[i].id))
                return sw_error_set(err, SW_EINVAL, 0, NULL, "--ssh: id %s is given twice",
                                    out->ssh[i].id);
    }
    return 0;
}

void
build_secrets_clear(struct build_secrets *s)
{
    for (size_t i = 0; s->secrets && i < s->nsecrets; i++) {
        free((char *)s->secrets[i].id);
        free((char *)s->secrets[i].file);
        free((char *)s->secrets[i].env);
    }
    for (size_t i = 0; s->ssh && i < s->nssh; i++) {
        free((char *)s->ssh[i].id);
        free((char *)s->ssh[i].socket);
    }
    free(s->secrets);
    free(s->ssh);
    memset(s, 0, sizeof *s);
}
