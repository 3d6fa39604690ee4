/*
 * builder/exec/userns.h: a rootless build runs as root of its own user namespace.
 *
 * Owns: ctr_userns_enter, which `slipway build` calls once when it is not root, before it starts
 * any thread. The process itself moves into a new user namespace in which it is uid and gid 0
 * (docs/executor.md, "Rootless"); everything after that (overlay mounts, the executor's
 * namespaces, extraction of layers with their owners) happens in it, the way it happens for the
 * real root, and sw_in_user_namespace() (util/userns.h) tells the modules that care. The ids:
 *
 *   - with ranges for the user in /etc/subuid and /etc/subgid, and newuidmap and newgidmap
 *     installed (Debian's uidmap): 0 -> the user, 1..N -> the ranges. A short-lived helper
 *     process, forked before the unshare (so that it is still outside and can run the setuid
 *     tools on us), writes the maps and exits; it dies with us (PR_SET_PDEATHSIG).
 *   - otherwise a single-id map, written by the process itself: setgroups denied, 0 -> the user,
 *     0 -> the user's group. No other id exists: chown to another id fails (EINVAL).
 *
 * No process stays behind: the build is the process the user started, so signals reach it
 * directly and its own handling (docs/cli.md, "Interrupting a build") applies unchanged.
 */
#ifndef SLIPWAY_EXEC_USERNS_H
#define SLIPWAY_EXEC_USERNS_H

#include "util/error.h"

enum ctr_userns_kind {
    CTR_USERNS_NONE = 0, /* nothing done: already root, or user namespaces are not available */
    CTR_USERNS_SUBID,    /* 0 is the user, 1..N the user's subordinate ids */
    CTR_USERNS_SINGLE,   /* 0 is the user, and no other id exists */
};

/*
 * Unless the process runs as root (euid 0), move it into a new user namespace as uid and gid 0.
 * Must be called while the process has a single thread. `etc_dir` holds subuid and subgid
 * (normally "/etc"; newuidmap itself always reads the system's). *out (may be NULL) says what was
 * done. When the kernel refuses a user namespace (unprivileged user namespaces disabled, the
 * limit reached), nothing changes and 0 is returned with CTR_USERNS_NONE: work that needs no
 * privileges goes on. Errors (-SW_EIO): the maps could not be written (newuidmap failed, with its
 * message); the process is then in a namespace without ids and must exit.
 */
int ctr_userns_enter(enum ctr_userns_kind *out, const char *etc_dir, struct sw_error **err);

#endif
