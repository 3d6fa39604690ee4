/*
 * builder/exec/exec.h: running one step in an ephemeral container.
 *
 * Owns: the executor interface (struct ctr_executor_ops, a vtable with one run function, so that
 * an OCI-runtime executor that hands a config.json to runc or crun can sit next to the native
 * one), the result of a run and the I/O hooks of a run. See docs/executor.md.
 *
 * An executor is immutable and may run any number of containers at once from several threads;
 * everything one run needs travels in its arguments.
 */
#ifndef SLIPWAY_EXEC_EXEC_H
#define SLIPWAY_EXEC_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "exec/spec.h"
#include "util/error.h"

enum ctr_stream {
    CTR_STDOUT = 1,
    CTR_STDERR = 2,
};

/* Called from the thread in ctr_run for each chunk of output, as it arrives. `data` is borrowed
 * for the call only and is not NUL-terminated. */
typedef void (*ctr_output_fn)(void *ctx, int stream, const char *data, size_t len);

struct ctr_io {
    ctr_output_fn output; /* may be NULL: output is read and dropped */
    void *ctx;
    /* -1 for none. When it becomes readable (an eventfd, a pipe, a timerfd for a timeout) the
     * container is killed and ctr_run fails with -SW_EINTERNAL "canceled". It is only polled,
     * never read. */
    int cancel_fd;
};

/* How the step's process ended. */
struct ctr_result {
    bool signaled;
    int exit_code; /* when !signaled */
    int signal;    /* when signaled */
};

struct ctr_executor;

struct ctr_executor_ops {
    const char *name;
    /* Run spec to completion. 0 when the process ran (whatever its exit status: see *out); a
     * negative -SW_E* code when the container could not be started (a failed mount, a missing
     * executable, a missing cwd: *err says which) or was canceled. */
    int (*run)(const struct ctr_executor *ex, struct ctr_result *out, const struct ctr_spec *spec,
               const struct ctr_io *io, struct sw_error **err);
};

/* Implementations embed this as their first member. */
struct ctr_executor {
    const struct ctr_executor_ops *ops;
};

/*
 * The native executor: namespaces, mounts and pivot_root done by slipway itself (no runtime
 * binary). Needs root, or a spec with CTR_NS_USER and id mappings (rootless). The returned
 * executor is static and immutable; never free it.
 */
const struct ctr_executor *ctr_native_executor(void);

/*
 * The OCI-runtime executor: writes a bundle (config.json from ctr_spec_to_json, with Docker's
 * default capabilities) in a private temporary directory ($TMPDIR or /tmp) and runs
 * `RUNTIME --root STATE_ROOT run --bundle DIR ID` with a unique id per run. `runtime` is "runc",
 * "crun" (looked up in PATH, then the standard directories) or a path; NULL means "runc".
 * `state_root` is the runtime's --root: a private directory, created (0700) if missing. Fails with
 * -SW_ENOTFOUND when the runtime is missing (the message names the Debian package). A runtime that
 * cannot start the container is an error quoting the runtime's message
 * ("runc: exec: \"foo\": executable file not found in $PATH"); a process killed by signal N is
 * reported as exit code 128+N (the runtime's own exit status). Needs root. See docs/executor.md.
 * The executor is immutable: many runs may use it at once. Free it with ctr_oci_executor_free.
 */
int ctr_oci_executor_new(struct ctr_executor **out, const char *runtime, const char *state_root,
                         struct sw_error **err);
/* Accepts NULL, and ignores an executor that is not an OCI one (the native executor). */
void ctr_oci_executor_free(struct ctr_executor *ex);

/* Run one container with ex (see struct ctr_executor_ops.run). Never leaves a child process, a
 * zombie or a mount behind in the caller, also on failure and on cancel. The caller must not reap
 * children it did not start (waitpid(-1)) while a run is in progress. */
int ctr_run(const struct ctr_executor *ex, struct ctr_result *out, const struct ctr_spec *spec,
            const struct ctr_io *io, struct sw_error **err);

/* "native" for the native executor. */
const char *ctr_executor_name(const struct ctr_executor *ex);

#endif
