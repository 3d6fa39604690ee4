/*
 * builder/util/userns.h: is this process root of the machine, or of a user namespace?
 *
 * Owns: sw_in_user_namespace, which the executor, the snapshots and the solver ask to tell a
 * rootless build (running as uid 0 of its own user namespace, docs/executor.md "Rootless") from
 * one run by the real root: in a user namespace, trusted.* xattrs, mknod of devices and sysfs of
 * the host's network namespace are not available.
 */
#ifndef SLIPWAY_UTIL_USERNS_H
#define SLIPWAY_UTIL_USERNS_H

#include <stdbool.h>

/* True when the process is not in the initial user namespace: /proc/self/uid_map is anything
 * but the identity map "0 0 4294967295". False when it cannot be read (no /proc). Reads the file
 * on every call (no state is kept); a process does not change its user namespace once threads
 * exist. */
bool sw_in_user_namespace(void);

#endif
