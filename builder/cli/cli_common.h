/*
 * builder/cli/cli_common.h: what the subcommands share: opening the store (--root), reading a
 * Dockerfile, and normalizing image names.
 */
#ifndef SLIPWAY_CLI_COMMON_H
#define SLIPWAY_CLI_COMMON_H

#include "../../cache/store.h"
#include "util/buf.h"
#include "util/error.h"

/* Open the store at root (NULL: $SLIPWAY_ROOT or the default root). */
int cli_store_open(struct store **out, const char *root, struct sw_error **err);
/* Without root, go on as root of a user namespace of our own (exec/userns.h; docs/executor.md,
 * "Rootless"): first, when *root is NULL, it is set to the user's default store (resolved while
 * still the user; *owned holds it, the caller frees it). Call it while the process has one
 * thread. As root: nothing. On failure the process must exit (the error says why). */
int cli_enter_rootless(const char **root, char **owned, struct sw_error **err);
/* Read a whole file ("-": standard input). */
int cli_read_file(char **out, size_t *len, const char *path, struct sw_error **err);
/* --build-arg: "K=V" as given; a bare "K" takes its value from the environment, or is dropped
 * when K is unset (docker build). 0 or -SW_ENOMEM. */
int cli_push_build_arg(struct sw_strv *args, const char *arg);
/* Normalize a name given by the user: *familiar ("app:latest") and *full
 * ("docker.io/library/app:latest"); both owned by the caller. */
int cli_image_name(char **familiar, char **full, const char *name, struct sw_error **err);

#endif
