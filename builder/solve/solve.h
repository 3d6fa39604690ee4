/*
 * builder/solve/solve.h: the solver: runs a build plan into an image in the store.
 *
 * Owns: scheduling the plan's ops (only those the target needs; independent ones in parallel on
 * `jobs` worker threads), each op's result state (image config, layers, lazily materialized
 * snapshots), the base image sources (the store, OCI layouts), COPY/WORKDIR layers streamed into
 * the store, config changes with BuildKit's history texts, progress events, and writing the
 * target's config and manifest. RUN is handed to an executor (issue 4); until one exists an exec
 * op fails with the RUN's location.
 */
#ifndef SLIPWAY_SOLVE_H
#define SLIPWAY_SOLVE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../cache/store.h"
#include "../exec/exec.h"
#include "../image/config.h"
#include "../image/manifest.h"
#include "../layer/writer.h"
#include "../plan/plan.h"
#include "../progress/progress.h"

/* A build secret (--secret): read when a RUN mounts it, never stored, keyed or logged. */
struct solve_secret {
    const char *id;
    const char *file; /* a host file, or NULL */
    const char *env;  /* a host environment variable, or NULL */
};

/* An SSH agent (--ssh): a socket forwarded into RUN --mount=type=ssh. */
struct solve_ssh {
    const char *id;     /* "default" unless named */
    const char *socket; /* the host's agent socket */
};

struct solve_opts {
    struct store *store;
    const char *work_dir;      /* private scratch space for this build (removed by the caller) */
    unsigned jobs;             /* worker threads, >= 1 */
    int64_t source_date_epoch; /* -1: unset (timestamps are the build time) */
    enum layer_compression compression;
    int compression_level;     /* 0: default */
    struct progress *progress; /* NULL: silent */
    char *const *labels;       /* --label "k=v" entries set on the target's config */
    size_t nlabels;
    /* RUN steps */
    const struct ctr_executor *executor; /* NULL: RUN fails with its location */
    enum plan_network network;           /* --network: what RUN's "default" means */
    bool copy_snapshotter;               /* no overlayfs: copy-based snapshots */
    /* the layer cache (docs/cache.md) */
    bool no_cache;                /* --no-cache: no lookups (records are still written) */
    char *const *no_cache_filter; /* --no-cache-filter: stage names or indexes */
    size_t nno_cache_filter;
    bool explain_cache;         /* --explain-cache: say why each step missed */
    bool cache_normalize_perms; /* group/other permission bits out of content checksums */
    const struct solve_secret *secrets;
    size_t nsecrets;
    const struct solve_ssh *ssh;
    size_t nssh;
    /* cancel: once this descriptor is readable (an eventfd the caller writes on SIGINT, say),
     * running RUN steps are killed and no further op starts; the build fails. It is polled, never
     * read. Only values > 0 count: 0 (zero-initialized opts) is standard input, not a cancel. */
    int cancel_fd;
};

/* The built target: its config and manifest, both stored as blobs. */
struct solve_result {
    struct img_config *config;
    struct img_descriptor config_desc;
    struct img_descriptor manifest_desc; /* with the platform set */
    struct img_platform platform;
};

int solve_build(struct solve_result *out, const struct plan *p, const struct solve_opts *o,
                struct sw_error **err);
void solve_result_clear(struct solve_result *r);

/*
 * Load an image's config from the store or an OCI layout, for the frontend's image_config hook
 * (base image ENV and ONBUILD triggers): ref is a name in the store or oci-layout://PATH[:TAG].
 */
int solve_image_env(struct store *st, const char *ref, const struct img_platform *platform,
                    struct sw_strv *env, struct sw_strv *onbuild, struct sw_error **err);

#endif
