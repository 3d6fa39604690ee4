/*
 * builder/exec/spec.h: the description of one ephemeral container (a RUN step).
 *
 * Owns: struct ctr_spec, a C mirror of the parts of the OCI runtime-spec config.json that a build
 * step needs (process, root, hostname, mounts, Linux namespaces, id mappings, devices), the
 * helpers that fill in the default mounts and devices and the rootless id mappings, and the
 * serialization to a runtime-spec config.json (for an OCI-runtime executor such as runc or crun).
 *
 * The semantics are those of the runtime spec: root.path is a directory that already holds the
 * container's root file system (the caller mounts the overlay there); mount destinations are
 * absolute paths inside the container; mounts are made in order. Every string in a spec is owned
 * by the spec; a zero-initialized spec (or one from ctr_spec_init) is empty and valid to clear.
 */
#ifndef SLIPWAY_EXEC_SPEC_H
#define SLIPWAY_EXEC_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"
#include "util/error.h"

/* Linux namespaces (runtime-spec linux.namespaces[].type). */
enum ctr_ns {
    CTR_NS_MOUNT = 1 << 0,
    CTR_NS_PID = 1 << 1,
    CTR_NS_IPC = 1 << 2,
    CTR_NS_UTS = 1 << 3,
    CTR_NS_NET = 1 << 4,  /* only for --network=none: the new netns has just "lo" (down) */
    CTR_NS_USER = 1 << 5, /* rootless: needs uid_mappings and gid_mappings */
};
/* What every step gets: a private mount table, pid 1 of its own, its own IPC and hostname. */
#define CTR_NS_DEFAULT (CTR_NS_MOUNT | CTR_NS_PID | CTR_NS_IPC | CTR_NS_UTS)

struct ctr_rlimit {
    int resource; /* RLIMIT_NOFILE, ...: serialized as "RLIMIT_NOFILE" */
    uint64_t soft, hard;
};

struct ctr_process {
    struct sw_strv args; /* args.v[0] without '/' is looked up in the PATH of env */
    struct sw_strv env;  /* "KEY=value" */
    char *cwd;           /* absolute; it must exist in the root (the caller creates it) */
    uid_t uid;
    gid_t gid;
    gid_t *additional_gids;
    size_t n_additional_gids;
    bool no_new_privileges;
    struct ctr_rlimit *rlimits; /* optional */
    size_t n_rlimits;
};

struct ctr_mount {
    char *destination;      /* absolute path in the container */
    char *type;             /* "proc", "tmpfs", "bind", ... */
    char *source;           /* a host path for binds; a name for the others */
    struct sw_strv options; /* "nosuid", "ro", "rbind", "mode=755", ... */
};

/* A device node (runtime-spec linux.devices). An executor that may not create nodes (in a user
 * namespace) bind-mounts the host's node of the same path instead. */
struct ctr_device {
    char *path; /* absolute path in the container: "/dev/null" */
    char type;  /* 'c' or 'b' */
    int64_t major, minor;
    uint32_t file_mode; /* permission bits: 0666 */
    uid_t uid;
    gid_t gid;
};

struct ctr_id_map {
    uint32_t container_id, host_id, size;
};

struct ctr_spec {
    struct ctr_process process;
    struct {
        char *path; /* absolute host path of the root directory */
        bool readonly;
    } root;
    char *hostname; /* NULL: leave the (new) UTS namespace's name as inherited */
    struct ctr_mount *mounts;
    size_t n_mounts;
    struct ctr_device *devices;
    size_t n_devices;
    unsigned namespaces; /* enum ctr_ns bits */
    struct ctr_id_map *uid_mappings, *gid_mappings;
    size_t n_uid_mappings, n_gid_mappings;
};

void ctr_spec_init(struct ctr_spec *spec);
/* Free everything the spec owns and leave it empty. Accepts NULL. */
void ctr_spec_clear(struct ctr_spec *spec);

/* Small setters; each copies its strings. Return 0 or -SW_ENOMEM (with *err set). */
int ctr_spec_set_root(struct ctr_spec *spec, const char *path, bool readonly,
                      struct sw_error **err);
int ctr_spec_set_hostname(struct ctr_spec *spec, const char *hostname, struct sw_error **err);
int ctr_spec_set_cwd(struct ctr_spec *spec, const char *cwd, struct sw_error **err);
/* args: a NULL-terminated array. */
int ctr_spec_set_args(struct ctr_spec *spec, const char *const *args, struct sw_error **err);
int ctr_spec_add_env(struct ctr_spec *spec, const char *kv, struct sw_error **err);
int ctr_spec_set_additional_gids(struct ctr_spec *spec, const gid_t *gids, size_t n,
                                 struct sw_error **err);
int ctr_spec_add_rlimit(struct ctr_spec *spec, int resource, uint64_t soft, uint64_t hard,
                        struct sw_error **err);
/* options: comma-separated ("nosuid,noexec,mode=755"), or NULL for none. */
int ctr_spec_add_mount(struct ctr_spec *spec, const char *destination, const char *type,
                       const char *source, const char *options, struct sw_error **err);
int ctr_spec_add_device(struct ctr_spec *spec, const char *path, char type, int64_t major,
                        int64_t minor, uint32_t mode, struct sw_error **err);
int ctr_spec_add_uid_mapping(struct ctr_spec *spec, uint32_t container_id, uint32_t host_id,
                             uint32_t size, struct sw_error **err);
int ctr_spec_add_gid_mapping(struct ctr_spec *spec, uint32_t container_id, uint32_t host_id,
                             uint32_t size, struct sw_error **err);

/* Host files bind-mounted read-only over /etc/hosts, /etc/resolv.conf and /etc/hostname. Each may
 * be NULL (that file is left as the image has it). They are borrowed for the call only. */
struct ctr_etc_files {
    const char *hosts;
    const char *resolv_conf;
    const char *hostname;
};

/*
 * Append the default mounts and devices, for the namespaces already set in spec->namespaces:
 *   /proc proc; /dev tmpfs (mode=755,nosuid); the devices null zero full random urandom tty;
 *   /dev/pts devpts (newinstance,ptmxmode=0666); /dev/shm tmpfs; /dev/mqueue mqueue (if
 *   `mqueue`); /sys sysfs read-only, or a read-only recursive bind of the host's /sys when sysfs
 *   cannot be mounted (a user namespace without its own network namespace); the files of `etc`.
 * In a user namespace, devpts gets no gid=5 (that group is usually not mapped). "A user
 * namespace" is CTR_NS_USER in spec->namespaces, or the caller already running in one (a rootless
 * build, builder/exec/userns.h).
 */
int ctr_spec_add_default_mounts(struct ctr_spec *spec, const struct ctr_etc_files *etc, bool mqueue,
                                struct sw_error **err);

/*
 * Rootless id mappings for a process whose host ids are (uid, gid): if `subid_files` and the user
 * (by name or number) has a range in /etc/subuid (and /etc/subgid), container 0 maps to the user
 * and container 1..N to the range (the executor then needs newuidmap/newgidmap); otherwise a
 * single-id map, container 0 -> uid (and 0 -> gid). Sets CTR_NS_USER; the process should run as
 * 0:0 (the only ids a single-id map has). `etc_dir` is normally "/etc".
 */
int ctr_spec_set_rootless(struct ctr_spec *spec, uid_t uid, gid_t gid, bool subid_files,
                          const char *etc_dir, struct sw_error **err);

/* Serialize to a runtime-spec (1.0.2) config.json, keys sorted, as an owned NUL-terminated string
 * in *out. Fails with -SW_EINVAL on a spec an OCI runtime could not run (no args, no root). */
int ctr_spec_to_json(char **out, const struct ctr_spec *spec, struct sw_error **err);

/* "RLIMIT_NOFILE" for RLIMIT_NOFILE; NULL for an unknown resource. */
const char *ctr_rlimit_name(int resource);

#endif
