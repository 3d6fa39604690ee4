/*
 * Metadata steps (ENV, LABEL, USER, CMD, ENTRYPOINT, SHELL, EXPOSE, VOLUME, STOPSIGNAL,
 * HEALTHCHECK, ONBUILD, MAINTAINER): a config change and a history entry, no layer.
 */
#include "solve_internal.h"

#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"

static const char *const default_shell[] = {"/bin/sh", "-c"};
static const char *const default_windows_shell[] = {"cmd", "/S", "/C"};

/* The argv of a CMD/ENTRYPOINT: exec form as is, shell form prefixed with the SHELL. */
static int
full_argv(const struct img_config *cfg, const struct plan_config_change *c, struct sw_strv *out)
{
    if (c->shell) {
        const char *const *sh = default_shell;
        size_t n = 2;
        if (cfg->shell.n) {
            sh = (const char *const *)cfg->shell.v;
            n = cfg->shell.n;
        } else if (cfg->os && !strcmp(cfg->os, "windows")) {
            sh = default_windows_shell;
            n = 3;
        }
        for (size_t i = 0; i < n; i++)
            if (sw_strv_push(out, sh[i]) < 0)
                return -SW_ENOMEM;
    }
    for (size_t i = 0; i < c->list.n; i++)
        if (sw_strv_push(out, c->list.v[i]) < 0)
            return -SW_ENOMEM;
    return 0;
}

static int
apply(struct op_state *st, const struct plan_config_change *c, struct img_hist_step *h,
      struct sw_strv *argv, const char ***keys, const char ***values, struct sw_error **err)
{
    struct img_config *cfg = st->config;
    int r = 0;
    switch (c->kind) {
    case PLAN_CFG_ENV:
    case PLAN_CFG_LABEL:
    case PLAN_CFG_ARG:
        *keys = calloc(c->npairs + 1, sizeof **keys);
        *values = calloc(c->npairs + 1, sizeof **values);
        if (!*keys || !*values)
            return sw_error_oom(err);
        for (size_t i = 0; r == 0 && i < c->npairs; i++) {
            (*keys)[i] = c->pairs[i].key;
            (*values)[i] = c->pairs[i].value;
            if (c->kind == PLAN_CFG_ENV)
                r = img_config_env_set(cfg, c->pairs[i].key, c->pairs[i].value, err);
            else if (c->kind == PLAN_CFG_LABEL)
                r = img_config_label_set(cfg, c->pairs[i].key, c->pairs[i].value, err);
        }
        h->kind = c->kind == PLAN_CFG_ENV     ? IMG_HIST_ENV
                  : c->kind == PLAN_CFG_LABEL ? IMG_HIST_LABEL
                                              : IMG_HIST_ARG;
        h->keys = *keys;
        h->values = *values;
        h->npairs = c->npairs;
        return r;
    case PLAN_CFG_USER:
        free(cfg->user);
        cfg->user = strdup(c->str);
        h->kind = IMG_HIST_USER;
        h->value = c->str;
        return cfg->user ? 0 : sw_error_oom(err);
    case PLAN_CFG_WORKDIR:
        free(cfg->working_dir);
        cfg->working_dir = strdup(c->str);
        h->kind = IMG_HIST_WORKDIR;
        h->value = c->str;
        return cfg->working_dir ? 0 : sw_error_oom(err);
    case PLAN_CFG_CMD:
    case PLAN_CFG_ENTRYPOINT:
        if (full_argv(cfg, c, argv) < 0)
            return sw_error_oom(err);
        h->words = (const char *const *)argv->v;
        h->nwords = argv->n;
        if (c->kind == PLAN_CFG_CMD) {
            h->kind = IMG_HIST_CMD;
            st->cmd_set = true;
            return img_config_set_cmd(cfg, (const char *const *)argv->v, argv->n, err);
        }
        h->kind = IMG_HIST_ENTRYPOINT;
        r = img_config_set_entrypoint(cfg, c->is_nil ? NULL : (const char *const *)argv->v, argv->n,
                                      err);
        /* docker: an ENTRYPOINT resets a CMD inherited from the base image */
        if (r == 0 && !st->cmd_set)
            r = img_config_set_cmd(cfg, NULL, 0, err);
        return r;
    case PLAN_CFG_SHELL:
        sw_strv_free(&cfg->shell);
        for (size_t i = 0; i < c->list.n; i++)
            if (sw_strv_push(&cfg->shell, c->list.v[i]) < 0)
                return sw_error_oom(err);
        h->kind = IMG_HIST_SHELL;
        h->words = (const char *const *)c->list.v;
        h->nwords = c->list.n;
        return 0;
    case PLAN_CFG_EXPOSE:
    case PLAN_CFG_VOLUME:
        for (size_t i = 0; r == 0 && i < c->list.n; i++)
            r = c->kind == PLAN_CFG_EXPOSE ? img_config_expose(cfg, c->list.v[i], err)
                                           : img_config_add_volume(cfg, c->list.v[i], err);
        h->kind = c->kind == PLAN_CFG_EXPOSE ? IMG_HIST_EXPOSE : IMG_HIST_VOLUME;
        h->words = (const char *const *)c->list.v;
        h->nwords = c->list.n;
        return r;
    case PLAN_CFG_STOPSIGNAL:
        free(cfg->stop_signal);
        cfg->stop_signal = strdup(c->str);
        h->kind = IMG_HIST_STOPSIGNAL;
        h->value = c->str;
        return cfg->stop_signal ? 0 : sw_error_oom(err);
    case PLAN_CFG_HEALTHCHECK: {
        struct img_health hc = {.interval = c->interval,
                                .timeout = c->timeout,
                                .start_period = c->start_period,
                                .start_interval = c->start_interval,
                                .retries = c->retries};
        hc.test = c->list;
        r = img_config_set_healthcheck(cfg, &hc, err);
        h->kind = IMG_HIST_HEALTHCHECK;
        h->health = cfg->healthcheck;
        return r;
    }
    case PLAN_CFG_ONBUILD:
        if (sw_strv_push(&cfg->onbuild, c->str) < 0)
            return sw_error_oom(err);
        h->kind = -1; /* ONBUILD records no history entry text of its own */
        h->value = c->str;
        return 0;
    case PLAN_CFG_MAINTAINER:
        free(cfg->author);
        cfg->author = strdup(c->str);
        h->kind = IMG_HIST_MAINTAINER;
        h->value = c->str;
        return cfg->author ? 0 : sw_error_oom(err);
    }
    return sw_error_set(err, SW_EINTERNAL, 0, NULL, "unknown config change");
}

int
solve_config_change(struct solver *S, const struct plan_op *op, struct op_state *out,
                    struct sw_error **err)
{
    struct img_hist_step h = {0};
    struct sw_strv argv = {0};
    const char **keys = NULL, **values = NULL;
    int r = apply(out, &op->u.config, &h, &argv, &keys, &values, err);
    sw_autofree char *created_by = NULL;
    if (r == 0) {
        if ((int)h.kind == -1) {
            /* BuildKit's history text for ONBUILD is the instruction itself */
            if (asprintf(&created_by, "ONBUILD %s", h.value) < 0)
                r = sw_error_oom(err);
        } else {
            r = img_history_created_by(&created_by, &h, err);
        }
    }
    if (r == 0)
        r = img_config_add_history(out->config, solve_state_time(S, out, false), created_by,
                                   IMG_HISTORY_COMMENT, true, err);
    sw_strv_free(&argv);
    free(keys);
    free(values);
    return r;
}
