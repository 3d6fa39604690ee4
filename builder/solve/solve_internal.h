/*
 * builder/solve/solve_internal.h: what the solver's files share (not a public interface).
 */
#ifndef SLIPWAY_SOLVE_INTERNAL_H
#define SLIPWAY_SOLVE_INTERNAL_H

#include <pthread.h>

struct statcache;

#include "../dockerfile/ignore.h"
#include "../../cache/key.h"
#include "../exec/spec.h"
#include "../snapshot/view.h"
#include "solve.h"

/* The result of one op: an image in progress. Immutable once the op is done, except the lazily
 * materialized snapshots, which `lock` guards. */
struct op_state {
    struct img_config *config;
    struct img_descriptor *layers; /* compressed blobs in the store, base layer first */
    size_t nlayers;
    char **snapshots; /* per layer: its extracted directory, NULL until needed */
    bool cmd_set;     /* CMD set in this stage: ENTRYPOINT keeps it */
    /* the cache key (solve_cache.c): every op but the context has one */
    struct sw_digest key;
    bool keyed;
    bool cached; /* the layer came from a cache record */
    /* when its latest step was made (RFC 3339; "" unknown): a cached step keeps the time of the
     * build that made it, so a fully cached rebuild gives the same image */
    char time[64];
    /* PLAN_CONTEXT */
    struct view *context;
    struct df_pm *ignore;
    pthread_mutex_t lock;
};

struct solver {
    const struct plan *p;
    const struct solve_opts *o;
    struct op_state *states;
    char *snap_root;  /* store root/snapshots: one directory per layer diff_id */
    char created[64]; /* the timestamp of every history entry and the config */
    int64_t created_sec;
    pthread_mutex_t cache_lock; /* guards the two stat caches' opening */
    struct statcache *ctx_sc;   /* the context's persisted stat cache */
    struct statcache *snap_sc;  /* the snapshot directories' */
};

/* solve_cache.c: one layer op's key, its lines, and the checksum list of what it read. */
struct solve_cache_step {
    struct cache_key key;
    char *files;
    struct sw_digest site; /* where it is in its build file (for --explain-cache) */
};
/* Compute op's key into out->key (out: the op's state, derived from its parent; for an image,
 * out->key already holds the manifest digest). */
int solve_cache_key(struct solver *S, const struct plan_op *op, struct op_state *out,
                    struct solve_cache_step *cs, struct sw_error **err);
/* A layer op: take the recorded layer if the key has a record (and its blob is in the store);
 * *hit says so. Explains a miss when asked to. */
int solve_cache_lookup(struct solver *S, const struct plan_op *op, struct op_state *out,
                       struct solve_cache_step *cs, bool *hit, struct sw_error **err);
/* Record what a layer op produced under its key: its layer (the state's last), or, when
 * !added_layer, only its (empty-layer) history entry. */
int solve_cache_record(struct solver *S, const struct plan_op *op, struct op_state *out,
                       struct solve_cache_step *cs, bool added_layer, struct sw_error **err);
void solve_cache_step_clear(struct solve_cache_step *cs);
/* Save and close the stat caches. */
void solve_cache_finish(struct solver *S);

/* solve_image.c: a base image (store or OCI layout) into a fresh state. */
int solve_load_image(struct solver *S, const struct plan_op *op, struct op_state *out,
                     struct sw_error **err);
/* solve_fs.c: a view over a state's layers (materializing snapshots). */
int solve_state_view(struct solver *S, struct op_state *st, struct view **out,
                     struct sw_error **err);
/* solve_fs.c: how messages name what a COPY or a mount reads: "build context", "stage NAME",
 * "image REF" (buf holds it when it is not the context). */
const char *solve_source_name(struct solver *S, size_t src_op, bool is_context, char *buf,
                              size_t n);
/* solve_fs.c: COPY/ADD and WORKDIR's directory. */
int solve_copy(struct solver *S, const struct plan_op *op, struct op_state *out,
               struct sw_error **err);
int solve_mkdir(struct solver *S, const struct plan_op *op, struct op_state *out,
                struct sw_error **err);
/* solve_fs.c: WORKDIR's config part (WorkingDir, made absolute); solve_mkdir then makes the
 * directory. Separate so that a cache hit, which skips solve_mkdir, still sets it. */
int solve_workdir_set(struct solver *S, const struct plan_op *op, struct op_state *out,
                      struct sw_error **err);
/* solve_exec.c: RUN in an ephemeral container on an overlay of the parent's layers. */
int solve_exec(struct solver *S, const struct plan_op *op, struct op_state *out,
               struct sw_error **err);
/* solve_fs.c: every layer of a state as a snapshot directory (materialized on first use). */
int solve_state_snapshots(struct solver *S, struct op_state *st, struct sw_error **err);
/* solve_fs.c: a layer blob in the store from a writer fed by `fill`. */
int solve_write_layer(struct solver *S,
                      int (*fill)(void *ctx, struct layer_writer *w, struct sw_error **err),
                      void *ctx, struct img_descriptor *desc, struct sw_digest *diff_id,
                      struct sw_error **err);

/* solve_exec.c: the lowerdirs of a state's overlay, each snapshot directory once. */
int solve_unique_lowers(const struct op_state *st, struct sw_strv *out);
/* solve_exec.c: set "KEY=value" in the spec's environment, replacing an earlier KEY. */
int solve_spec_set_env(struct ctr_spec *spec, const char *kv, struct sw_error **err);

/* solve_mounts.c: what RUN --mount needs on the host while the step runs. */
struct run_mounts {
    struct snap_mount **overlays; /* throwaway overlays (binds of stages, rw binds) */
    size_t noverlays;
    int *locks; /* flock'd cache mount instances */
    size_t nlocks;
    char *secrets_dir; /* a private tmpfs with the secret files, or NULL */
    bool secrets_mounted;
    bool ssh_env_set;
    struct ssh_proxy **proxies; /* one per ssh mount (solve_ssh.c) */
    size_t nproxies;
    struct sw_strv drops; /* mount points to leave out of the layer ("run/secrets/x") */
};
/* Add the mounts of a RUN op to spec (after its default mounts); `dir` is the step's private
 * directory. Errors carry the op's span. Call solve_mounts_release once the container has ended,
 * whatever happened: it unmounts, unlocks and wipes everything but `drops` (free it with
 * sw_strv_free after the diff). */
int solve_mounts_prepare(struct solver *S, const struct plan_op *op, const char *dir,
                         struct ctr_spec *spec, struct run_mounts *rm, struct sw_error **err);
void solve_mounts_release(struct run_mounts *rm);

/* solve_ssh.c: a proxy listening at `path` (owned uid:gid, `mode`) that forwards every connection
 * to the agent socket `agent`, until solve_ssh_proxy_stop (which accepts NULL). */
struct ssh_proxy;
int solve_ssh_proxy_start(struct ssh_proxy **out, const char *agent, const char *path, uid_t uid,
                          gid_t gid, mode_t mode, struct sw_error **err);
void solve_ssh_proxy_stop(struct ssh_proxy *p);

/* solve_config.c: a metadata change. */
int solve_config_change(struct solver *S, const struct plan_op *op, struct op_state *out,
                        struct sw_error **err);

/* solve.c: a state derived from its parent (config cloned, layers copied, snapshots shared). */
int solve_state_derive(struct op_state *out, const struct op_state *parent, struct sw_error **err);
void solve_state_clear(struct op_state *st);
/* Append a layer (its descriptor) to a state; the config gets diff_id and history, made now. */
int solve_state_add_layer(struct solver *S, struct op_state *st, const struct img_descriptor *d,
                          const struct sw_digest *diff_id, const char *created_by,
                          struct sw_error **err);
/* The same for a layer made at `created` (a cache hit). */
int solve_state_add_layer_at(struct solver *S, struct op_state *st, const struct img_descriptor *d,
                             const struct sw_digest *diff_id, const char *created,
                             const char *created_by, struct sw_error **err);
/* The history time of a step on st: with SOURCE_DATE_EPOCH always that; else now for new work
 * (a layer made in this build), and the time of st's latest step for a metadata change (now when
 * unknown). st->time becomes it. */
const char *solve_state_time(struct solver *S, struct op_state *st, bool new_work);

#endif
