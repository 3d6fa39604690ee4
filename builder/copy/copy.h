/*
 * builder/copy/copy.h: what a COPY or ADD puts into its layer.
 *
 * Owns: the docker/BuildKit copy semantics, turned into a list of layer entries: source
 * resolution (paths and globs, scoped to the source root so nothing outside the build context or
 * the source stage can be read; .dockerignore for the context; --exclude), the destination rules
 * (a trailing slash or an existing directory means "into", WORKDIR-relative destinations,
 * symlinked destinations followed inside the target file system, parents created), --parents
 * (with the /./ pivot), --chown/--chmod applied to every copied entry, heredoc sources, and ADD's
 * local archive extraction. It reads file systems only through views and writes nothing: the
 * solver streams the listed entries into a layer.
 */
#ifndef SLIPWAY_COPY_H
#define SLIPWAY_COPY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "../dockerfile/ignore.h"
#include "../plan/plan.h"
#include "../snapshot/view.h"

struct copy_item {
    char *path;  /* in the layer: relative, no leading '/', cleaned */
    mode_t mode; /* file type and permission bits */
    uid_t uid;
    gid_t gid;
    struct timespec mtime;
    uint64_t size; /* regular files */
    char *source;  /* host path of a regular file's content, or NULL */
    char *data;    /* inline content (heredocs), or NULL */
    char *link;    /* symlink target */
    dev_t dev;     /* source identity, for hardlinks (0/0: none) */
    ino_t ino;
    nlink_t nlink;
};

struct copy_list {
    struct copy_item *v;
    size_t n;
    /* the destination path the copy resolved to (for messages and history) */
    char *dest;
};

struct copy_source {
    struct view *view;          /* the context (a one-layer view) or a stage/image file system */
    const struct df_pm *ignore; /* .dockerignore of the context, or NULL */
    bool is_context;
    const char *name; /* for messages: "build context", "stage build", "image x" */
};

struct copy_target {
    struct view *view;   /* the file system copied into (NULL or empty with --link) */
    const char *workdir; /* the WorkingDir in effect ("" = "/") */
    uid_t uid;           /* --chown, resolved */
    gid_t gid;
    int64_t epoch;      /* mtime for entries slipway creates (parents, heredocs) */
    const char *tmpdir; /* where ADD may unpack local archives (NULL: ADD does not unpack) */
};

/* List the entries of one COPY/ADD. Errors name the source or destination at fault. */
int copy_plan(struct copy_list *out, const struct plan_copy *c, const struct copy_source *src,
              const struct copy_target *dst, struct sw_error **err);
void copy_list_free(struct copy_list *l);

/* Apply a --chmod value (octal, or symbolic like "u+x,go-w") to a mode. Returns the new
 * permission bits (the file type bits of `mode` are kept). */
mode_t copy_chmod_apply(const char *spec, mode_t mode);

#endif
