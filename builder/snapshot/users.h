/*
 * builder/snapshot/users.h: users and groups of an image's file system.
 *
 * Owns: resolving "user[:group]" (names or numeric ids) through the /etc/passwd and /etc/group of
 * a view, as docker does for COPY --chown, WORKDIR ownership and RUN's USER: a numeric user needs
 * no passwd entry; a user without a group takes the primary group of its passwd entry (or gid =
 * uid for a numeric user without one); a group given explicitly drops supplementary groups.
 */
#ifndef SLIPWAY_SNAPSHOT_USERS_H
#define SLIPWAY_SNAPSHOT_USERS_H

#include <stdint.h>
#include <sys/types.h>

#include "view.h"

struct users_ids {
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups (only when no group was given) */
    size_t ngroups;
    char *home; /* the passwd home directory, or NULL */
};

/* Resolve spec ("", "0", "app", "1000:1000", "app:staff"). "" is root. Errors name the user or
 * group that is missing: `unable to find user app: no matching entries in passwd file`. */
int users_resolve(struct users_ids *out, struct view *v, const char *spec, struct sw_error **err);
void users_ids_clear(struct users_ids *ids);

#endif
