/*
 * builder/dockerfile/stages.h: the stage resolver (BuildKit's dockerfile2llb, minus LLB).
 *
 * Owns: splitting a parsed Dockerfile into global ARGs and stages; ARG scoping (global ARGs only
 * in FROM, `ARG name` importing a global default, --build-arg precedence, the automatic platform
 * ARGs, inheritance by stages built FROM a stage); expanding every instruction of the stages the
 * target needs with the right scope; stage references (FROM <stage>, COPY --from, RUN --mount
 * from=) by name or index, cycle detection and --target; ONBUILD triggers of a stage base; the
 * metadata a stage accumulates (ENV, LABEL, ...) as far as it is known without fetching images;
 * and the warnings BuildKit gives (unused build args, undefined ARGs in FROM, legacy ENV form).
 *
 * The result is the input of the build plan. It never touches the file system or the network.
 */
#ifndef SLIPWAY_DF_STAGES_H
#define SLIPWAY_DF_STAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "../image/platform.h"
#include "../util/buf.h"
#include "../util/error.h"
#include "instructions.h"
#include "parser.h"

struct df_build_opts {
    char *const *build_args; /* "KEY=VALUE" entries (--build-arg); later entries win */
    size_t nbuild_args;
    const char *target;          /* stage name (case-insensitive); NULL: the last stage */
    const char *target_platform; /* "os/arch[/variant]"; NULL: the build platform */
    const char *build_platform;  /* NULL: this machine's */
    /*
     * Base image metadata, optional. Called once for each needed stage built FROM an image (not
     * scratch, not a stage), before its instructions are expanded, as BuildKit loads the base
     * config: append the image's Env ("k=v") to *env and its OnBuild triggers to *onbuild.
     * The env seeds the stage's ENV (so `WORKDIR $GOPATH` sees the base's GOPATH); the
     * triggers run first in the stage. An error fails the build at the FROM line.
     */
    int (*image_config)(void *ctx, const char *ref, const struct img_platform *platform,
                        struct sw_strv *env, struct sw_strv *onbuild, struct sw_error **err);
    void *image_ctx;
};

/* A global ARG (declared before the first FROM), after build args were applied. */
struct df_meta_arg {
    char *key;
    char *value; /* NULL: declared without a default and not given */
    char *doc;
    struct sw_span span;
};

struct df_build_warning {
    char *rule; /* BuildKit's rule name: "UnusedBuildArg", "UndefinedArgInFrom", ... */
    char *msg;
    struct sw_span span; /* file NULL when the warning is not about one place */
};

enum df_ref_kind { DF_REF_STAGE, DF_REF_IMAGE, DF_REF_SCRATCH };

/* Where a stage reads from: its base, a COPY --from, or a RUN --mount from=. */
struct df_stage_ref {
    enum df_ref_kind kind;
    size_t stage; /* DF_REF_STAGE: the stage index */
    char *image;  /* DF_REF_IMAGE: the reference */
};

struct df_stage {
    size_t index;
    char *name;                   /* lower-cased AS name; NULL without one */
    char *doc;                    /* doc comment of the stage ("" when none) */
    struct df_instr *from;        /* the FROM instruction, expanded with the global ARGs */
    struct df_stage_ref base;     /* what FROM names */
    struct img_platform platform; /* --platform, else the target platform */
    bool platform_set;            /* FROM had --platform */
    /* The instructions of the stage after FROM, in order: the ONBUILD triggers of a stage base
     * first (their span is the ONBUILD line of the base), then the stage's own. Expanded when the
     * stage is needed; as parsed otherwise. */
    struct df_instr **instrs;
    size_t ninstrs;
    bool *from_onbuild; /* per instruction: a trigger of the base stage */
    size_t *deps;       /* indexes of the stages this one reads, sorted, unique */
    size_t ndeps;
    bool needed; /* the target depends on it (or is it) */
    bool expanded;
    /* What the stage's image config gets as far as the Dockerfile says (a base image adds its
     * own later): "k=v" lists in order of first definition. */
    struct sw_strv env, labels;
    struct sw_strv args;    /* ARGs in scope at the end of the stage, "k=v" */
    struct sw_strv onbuild; /* ONBUILD expressions of this stage */
};

struct df_build {
    struct df_ast *ast; /* borrowed: must outlive the build */
    struct df_meta_arg *meta;
    size_t nmeta;
    struct df_stage *stages;
    size_t nstages;
    size_t target; /* index of the target stage */
    struct img_platform target_platform, build_platform;
    struct df_build_warning *warnings;
    size_t nwarnings;
    /* The proxy build args given (HTTP_PROXY, https_proxy, ...; "k=v"): every RUN sees them,
     * declared or not, and they stay out of cache keys, history and the image. */
    struct sw_strv proxy_args;
};

/*
 * Resolve `ast` into stages. Errors carry the span of the instruction at fault and BuildKit's
 * texts ("no build stage in current context", "base name (${X}) should not be blank",
 * "circular dependency detected on stage: NAME", "target stage \"x\" could not be found", ...).
 * On success *out is owned by the caller (df_build_free); it borrows ast.
 */
int df_build_resolve(struct df_build **out, struct df_ast *ast, const struct df_build_opts *opts,
                     struct sw_error **err);
void df_build_free(struct df_build *b);

/* The stage a name or an index refers to, as COPY --from resolves it (-1 if none). */
long df_build_find_stage(const struct df_build *b, const char *name_or_index);

#endif
