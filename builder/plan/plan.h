/*
 * builder/plan/plan.h: the build plan, what every frontend produces and the solver runs.
 *
 * Owns: a DAG of typed operations with explicit inputs. A stage is a chain: its first op is a
 * source (scratch, an image, an OCI layout) and every later op extends the previous one (input
 * 0). COPY reads a second input: the build context or the last op of another stage. Each op keeps
 * its source span and a description for progress output. Ops are plain data: no file system, no
 * network. Frontends build it: the Dockerfile's lowering is builder/dockerfile/lower.h; the Lua
 * frontend will build the same structures.
 */
#ifndef SLIPWAY_PLAN_H
#define SLIPWAY_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../image/platform.h"
#include "../util/buf.h"
#include "../util/error.h"

enum plan_op_kind {
    PLAN_SCRATCH,    /* the empty base */
    PLAN_IMAGE,      /* a base image by reference: the store first, then a registry */
    PLAN_OCI_LAYOUT, /* a base image from an OCI layout directory: oci-layout://PATH[:TAG|@DIGEST]
                      */
    PLAN_CONTEXT,    /* the local build context (a directory), with its ignore patterns */
    PLAN_COPY,       /* COPY / ADD: files into the file system, a new layer */
    PLAN_MKDIR,      /* WORKDIR's directory: created (owned by the user) when missing */
    PLAN_EXEC,       /* RUN: a command in a container; inputs 1.. are its mounts' sources */
    PLAN_CONFIG,     /* a change of the image config only (ENV, LABEL, CMD, ...): no layer */
};

/* What a PLAN_CONFIG op changes. */
enum plan_config_kind {
    PLAN_CFG_ENV,         /* pairs */
    PLAN_CFG_LABEL,       /* pairs */
    PLAN_CFG_USER,        /* str */
    PLAN_CFG_WORKDIR,     /* str (absolute, cleaned) */
    PLAN_CFG_CMD,         /* list (+ shell) */
    PLAN_CFG_ENTRYPOINT,  /* list (+ shell, is_nil) */
    PLAN_CFG_SHELL,       /* list */
    PLAN_CFG_EXPOSE,      /* list of "port/proto" */
    PLAN_CFG_VOLUME,      /* list */
    PLAN_CFG_STOPSIGNAL,  /* str */
    PLAN_CFG_HEALTHCHECK, /* list (test) + durations */
    PLAN_CFG_ONBUILD,     /* str (the trigger expression) */
    PLAN_CFG_MAINTAINER,  /* str */
    PLAN_CFG_ARG,         /* pairs: recorded for history/cache, never in the config */
};

struct plan_kv {
    char *key, *value;
};

struct plan_config_change {
    enum plan_config_kind kind;
    struct plan_kv *pairs;
    size_t npairs;
    char *str;
    struct sw_strv list;
    bool shell;  /* CMD/ENTRYPOINT shell form: list is [cmdline], run through SHELL */
    bool is_nil; /* ENTRYPOINT []: reset */
    int64_t interval, timeout, start_period, start_interval; /* HEALTHCHECK, ns */
    int retries;
};

/* A heredoc source of COPY/ADD: a file named `name` with `data`. */
struct plan_inline {
    char *name;
    char *data;
};

struct plan_copy {
    bool add;                    /* ADD semantics (auto-extract local archives, URLs) */
    size_t src_op;               /* the op the sources are read from (context or a stage) */
    bool src_is_context;         /* sources are relative to the build context */
    struct sw_strv srcs;         /* source paths or globs */
    struct plan_inline *inlines; /* heredoc sources */
    size_t ninlines;
    char *dest;  /* as written; a relative dest is resolved at solve time
                    against the WorkingDir of the config in effect */
    char *chown; /* NULL: 0:0 */
    char *chmod; /* NULL: keep modes */
    bool link, parents;
    struct sw_strv excludes;
    char *checksum;  /* ADD --checksum */
    bool unpack;     /* ADD: extract local archives (default true) */
    bool keep_owner; /* entries keep their source's owner (not a Dockerfile form: the cache's
                        checksums of what a RUN bind mount shows) */
};

/* WORKDIR: sets WorkingDir (a relative path is resolved against the one in effect at solve
 * time) and creates the directory, owned by the USER in effect, when it is missing. */
struct plan_mkdir {
    char *path;
};

/* RUN: the user, workdir and ENV come from the config in effect at solve time. */
enum plan_network {
    PLAN_NET_DEFAULT, /* the build's --network (host networking unless it says otherwise) */
    PLAN_NET_NONE,
    PLAN_NET_HOST,
};

/* RUN --mount (BuildKit semantics; docs/run-mounts.md). */
enum plan_mount_type {
    PLAN_MOUNT_BIND,   /* a directory or file of the context, a stage or an image */
    PLAN_MOUNT_CACHE,  /* a persistent directory kept in the store per id */
    PLAN_MOUNT_TMPFS,  /* an empty tmpfs */
    PLAN_MOUNT_SECRET, /* a build secret as a file (or an env variable) */
    PLAN_MOUNT_SSH,    /* an SSH agent socket */
};
enum plan_mount_sharing { PLAN_SHARING_SHARED, PLAN_SHARING_PRIVATE, PLAN_SHARING_LOCKED };

struct plan_mount {
    enum plan_mount_type type;
    size_t input;      /* bind/cache with a source: index into the op's inputs; 0: none (cache) */
    bool from_context; /* the input is the build context (bind without from=) */
    char *source;      /* path in the input ("/" when not given); NULL for tmpfs/secret/ssh */
    char *target;      /* absolute path in the container; NULL for a secret with only env= */
    char *id;          /* cache, secret and ssh id */
    char *env;         /* secret: the environment variable to set, or NULL */
    bool readonly;     /* bind/secret/ssh default true; cache/tmpfs false */
    bool required;     /* secret/ssh: a missing one fails the step */
    enum plan_mount_sharing sharing;
    int64_t size;            /* tmpfs size in bytes (0: the kernel's default) */
    uint32_t mode, uid, gid; /* cache/secret/ssh */
};

struct plan_exec {
    struct sw_strv cmdline;    /* exec form argv, or [shell command line] */
    bool shell;                /* run cmdline[0] through SHELL */
    struct sw_strv args;       /* "k=v": the ARGs in scope (ENV wins over them) */
    struct plan_inline *files; /* heredocs */
    bool *chomp;               /* per heredoc: <<- (strip leading TABs) */
    size_t nfiles;
    enum plan_network network;
    struct plan_mount *mounts; /* RUN --mount, in the order written */
    size_t nmounts;
};

struct plan_op {
    size_t id;
    enum plan_op_kind kind;
    size_t stage;   /* the stage it belongs to (SIZE_MAX for the context) */
    size_t *inputs; /* input 0 is the parent for non-source ops */
    size_t ninputs;
    struct sw_span span; /* where it comes from (file owned by the plan) */
    char *description;   /* "[stage 1/3] COPY a /b" style text for progress */
    char *created_by;    /* the history text */
    union {
        struct {
            char *ref; /* image reference as written */
            struct img_platform platform;
        } image;
        struct {
            char *path;
            char *tag;    /* NULL when none */
            char *digest; /* NULL when none */
            struct img_platform platform;
        } layout;
        struct {
            char *dir;
            struct sw_strv ignore; /* .dockerignore patterns */
        } context;
        struct plan_copy copy;
        struct plan_mkdir mkdir;
        struct plan_exec exec;
        struct plan_config_change config;
    } u;
};

struct plan_stage {
    char *name;     /* NULL when unnamed */
    size_t base_op; /* its source op */
    size_t last_op; /* its last op (the stage's result) */
    struct img_platform platform;
    bool needed;
};

struct plan {
    struct plan_op *ops;
    size_t nops;
    struct plan_stage *stages;
    size_t nstages;
    size_t target;             /* stage index */
    char *file;                /* spans point here */
    struct sw_strv proxy_args; /* "k=v" proxy build args: every RUN sees them, no key does */
};

/* Append an op (the plan takes over everything it points to); its id goes to *id. Its span is
 * re-pointed at the plan's file. On failure the op's contents are freed. */
int plan_add_op(struct plan *p, struct plan_op *op, size_t *id, struct sw_error **err);
/* Free what an op points to (for ops not added to a plan). */
void plan_op_clear(struct plan_op *op);
const char *plan_op_kind_name(enum plan_op_kind k);
void plan_free(struct plan *p);

#endif
