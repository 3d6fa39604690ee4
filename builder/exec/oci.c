/*
 * builder/exec/oci.c: the OCI-runtime executor (runc or crun, given a bundle).
 *
 * One run (see docs/executor.md):
 *
 *   caller ──fork──> RUNTIME --root STATE --log LOG --log-format json run --bundle DIR ID
 *
 * The bundle is a private temporary directory holding config.json (ctr_spec_to_json, plus the
 * capabilities the spec has no field for) and the runtime's log; root.path stays the spec's root.
 * `run` without --detach and without a terminal hands its own stdin (/dev/null), stdout and
 * stderr (our two pipes) to the container's process and exits with that process's status. The
 * caller polls the pipes, the runtime's pidfd and the cancel fd; on cancel it runs
 * `RUNTIME kill ID KILL` until the runtime exits. Afterwards `RUNTIME delete -f ID` runs whenever
 * the runtime left state for ID behind, and the bundle is removed.
 *
 * A failure of the runtime itself (the container could not be started) is told apart from the
 * process's own exit status by the runtime's log: runc and crun both write their fatal error
 * there as a JSON line at level "error" (runc: "runc run failed: ...", crun: the bare message) and
 * exit 1. A process that exits non-zero leaves no error in the log. Only when the log file does
 * not exist at all (the runtime could not even open it) is the last line of its stderr read
 * instead, and then only a line starting with "runc run failed:", "runc: " or "crun: " counts.
 *
 * The executor is immutable after ctr_oci_executor_new; every run keeps its state on its stack.
 */
#include "exec/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"

struct oci_executor {
    struct ctr_executor base; /* first: a struct ctr_executor * points here */
    char *path;               /* absolute path of the runtime binary */
    char *name;               /* its base name, for messages: "runc" */
    char *state_root;         /* --root */
};

/* Docker's default capability set, what `docker build` gives a RUN step. */
static const char *const default_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

/* ---- creating the executor ------------------------------------------------------------------ */

static bool
is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Look name up in $PATH, then in the standard directories (runc lives in /usr/sbin, which a
 * user's PATH often lacks). */
static char *
find_in_path(const char *name)
{
    static const char std_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    const char *env = getenv("PATH");
    const char *lists[] = {env ? env : "", std_path};
    for (size_t l = 0; l < 2; l++) {
        for (const char *d = lists[l]; *d;) {
            const char *e = strchr(d, ':');
            size_t len = e ? (size_t)(e - d) : strlen(d);
            if (len > 0 && d[0] == '/') {
                char *p = NULL;
                if (asprintf(&p, "%.*s/%s", (int)len, d, name) < 0)
                    return NULL;
                if (is_executable_file(p))
                    return p;
                free(p);
            }
            d = e ? e + 1 : d + len;
        }
    }
    return NULL;
}

static void
oci_free(struct oci_executor *o)
{
    if (!o)
        return;
    free(o->path);
    free(o->name);
    free(o->state_root);
    free(o);
}

static int oci_run(const struct ctr_executor *ex, struct ctr_result *out,
                   const struct ctr_spec *spec, const struct ctr_io *io, struct sw_error **err);

static const struct ctr_executor_ops oci_ops = {
    .name = "oci",
    .run = oci_run,
};

int
ctr_oci_executor_new(struct ctr_executor **out, const char *runtime, const char *state_root,
                     struct sw_error **err)
{
    *out = NULL;
    if (!runtime || !*runtime)
        runtime = "runc";
    if (!state_root || !*state_root)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "OCI executor: no state directory");
    struct oci_executor *o = calloc(1, sizeof *o);
    if (!o)
        return sw_error_oom(err);
    o->base.ops = &oci_ops;
    const char *base = strrchr(runtime, '/');
    base = base ? base + 1 : runtime;
    if (!(o->name = strdup(base))) {
        oci_free(o);
        return sw_error_oom(err);
    }
    int r = 0;
    if (strchr(runtime, '/')) {
        if (!is_executable_file(runtime))
            r = sw_error_set(err, SW_ENOTFOUND, errno, NULL,
                             "OCI runtime %s: not an executable file", runtime);
        else if (!(o->path = strdup(runtime)))
            r = sw_error_oom(err);
    } else if (!(o->path = find_in_path(runtime))) {
        if (!strcmp(runtime, "runc") || !strcmp(runtime, "crun"))
            r = sw_error_set(err, SW_ENOTFOUND, 0, NULL,
                             "OCI runtime %s not found in PATH: install the Debian package %s",
                             runtime, runtime);
        else
            r = sw_error_set(err, SW_ENOTFOUND, 0, NULL, "OCI runtime %s not found in PATH",
                             runtime);
    }
    if (r == 0) {
        r = sw_mkdir_p(state_root, 0700, err);
        if (r == 0 && chmod(state_root, 0700) != 0)
            r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", state_root, strerror(errno));
        /* the runtime runs with the caller's cwd, but keep the path absolute anyway */
        if (r == 0 && !(o->state_root = realpath(state_root, NULL)))
            r = sw_error_set(err, SW_EIO, errno, NULL, "%s: %s", state_root, strerror(errno));
    }
    if (r != 0) {
        oci_free(o);
        return r;
    }
    *out = &o->base;
    return 0;
}

void
ctr_oci_executor_free(struct ctr_executor *ex)
{
    if (ex && ex->ops == &oci_ops)
        oci_free((struct oci_executor *)ex);
}

/* ---- the bundle ------------------------------------------------------------------------------ */

static json_t *
caps_array(bool full)
{
    json_t *a = json_array();
    for (size_t i = 0; a && full && i < sizeof default_caps / sizeof default_caps[0]; i++)
        if (json_array_append_new(a, json_string(default_caps[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* linux.resources.devices: allow each device of the spec in the device cgroup. runc does not
 * allow a device listed in linux.devices by itself, not even /dev/null ("error reopening
 * /dev/null inside container: operation not permitted"). */
static json_t *
device_rules(const struct ctr_spec *spec)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < spec->n_devices; i++) {
        const struct ctr_device *d = &spec->devices[i];
        char type[2] = {d->type, '\0'};
        json_t *e = json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", type, "major",
                              (json_int_t)d->major, "minor", (json_int_t)d->minor, "access", "rwm");
        if (!e || json_array_append_new(a, e) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* config.json: the spec's, plus process.capabilities (Docker's default set; a process that is not
 * root keeps only the bounding set, as with docker) and the device cgroup rules for its devices. */
static int
config_json(char **out, const struct ctr_spec *spec, struct sw_error **err)
{
    sw_autofree char *base = NULL;
    int r = ctr_spec_to_json(&base, spec, err);
    if (r != 0)
        return r;
    json_t *doc = json_loads(base, 0, NULL);
    json_t *proc = doc ? json_object_get(doc, "process") : NULL;
    json_t *lnx = doc ? json_object_get(doc, "linux") : NULL;
    json_t *caps = json_object();
    bool root = spec->process.uid == 0;
    int bad = !proc || !lnx || !caps;
    if (!bad) {
        const char *sets[] = {"bounding", "effective", "permitted"};
        for (size_t i = 0; i < 3; i++)
            bad |= json_object_set_new(caps, sets[i], caps_array(i == 0 || root)) != 0;
        bad |= json_object_set(proc, "capabilities", caps) != 0;
        json_t *rules = spec->n_devices > 0 ? device_rules(spec) : NULL;
        if (spec->n_devices > 0)
            bad |= !rules ||
                   json_object_set_new(lnx, "resources", json_pack("{s:o}", "devices", rules)) != 0;
    }
    json_decref(caps);
    char *s = bad ? NULL : json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    if (!s)
        return sw_error_oom(err);
    *out = s;
    return 0;
}

static int
write_all(const char *path, const char *data, struct sw_error **err)
{
    sw_autoclose int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "creating %s: %s", path, strerror(errno));
    int e = sw_write_all(fd, data, strlen(data));
    return e ? sw_error_set(err, SW_EIO, e, NULL, "writing %s: %s", path, strerror(e)) : 0;
}

/* ---- child processes ------------------------------------------------------------------------- */

/* fork + execv path with stdin/stdout/stderr; every other descriptor closed. *pid on success. */
static int
spawn(pid_t *pid, const char *path, char *const argv[], int in, int out, int errfd,
      struct sw_error **err)
{
    pid_t c = fork();
    if (c < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "fork: %s", strerror(errno));
    if (c == 0) {
        /* above 2 first, so that no dup2 below clobbers another of the three */
        int fds[3] = {in, out, errfd};
        for (int i = 0; i < 3; i++)
            if ((fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10)) < 0)
                _exit(127);
        for (int i = 0; i < 3; i++)
            if (dup2(fds[i], i) < 0)
                _exit(127);
        close_range(3, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        execv(path, argv);
        _exit(127);
    }
    *pid = c;
    return 0;
}

static int
wait_status(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return st;
}

/* RUNTIME --root STATE VERB... ID, output dropped; its wait status, or -1. */
static int
runtime_cmd(const struct oci_executor *o, const char *verb, const char *flag, const char *id,
            const char *sig)
{
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        return -1;
    sw_autofree char *root_opt = NULL;
    if (asprintf(&root_opt, "--root=%s", o->state_root) < 0) {
        close(devnull);
        return -1;
    }
    char *argv[8];
    size_t n = 0;
    argv[n++] = o->name;
    argv[n++] = root_opt;
    argv[n++] = (char *)verb;
    if (flag)
        argv[n++] = (char *)flag;
    argv[n++] = (char *)id;
    if (sig)
        argv[n++] = (char *)sig;
    argv[n] = NULL;
    pid_t pid;
    int r = spawn(&pid, o->path, argv, devnull, devnull, devnull, NULL);
    close(devnull);
    return r == 0 ? wait_status(pid) : -1;
}

/* Does the runtime still hold state for id (a directory STATE/ID, for runc and crun alike)? */
static bool
has_state(const struct oci_executor *o, const char *id)
{
    sw_autofree char *path = NULL;
    return asprintf(&path, "%s/%s", o->state_root, id) >= 0 && access(path, F_OK) == 0;
}

/* ---- supervising a run ----------------------------------------------------------------------- */

struct run_state {
    int status;      /* the runtime's wait status */
    bool exited;     /* status is set */
    bool canceled;   /* the cancel fd fired */
    char tail[2048]; /* the end of the container's stderr */
    size_t tail_len;
};

static void
keep_tail(struct run_state *st, const char *data, size_t len)
{
    size_t cap = sizeof st->tail - 1;
    if (len >= cap) {
        memcpy(st->tail, data + len - cap, cap);
        st->tail_len = cap;
    } else {
        if (st->tail_len + len > cap) {
            size_t drop = st->tail_len + len - cap;
            memmove(st->tail, st->tail + drop, st->tail_len - drop);
            st->tail_len -= drop;
        }
        memcpy(st->tail + st->tail_len, data, len);
        st->tail_len += len;
    }
    st->tail[st->tail_len] = '\0';
}

static long
ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void
after_ms(struct timespec *t, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000;
    if (t->tv_nsec >= 1000000000) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000;
    }
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Poll output, cancel and the runtime until the runtime has exited and both pipes are closed.
 * Always reaps the runtime. */
static int
supervise(struct run_state *st, const struct oci_executor *o, const char *id, pid_t rt, int *out_r,
          int *err_r, const struct ctr_io *io, struct sw_error **err)
{
    int pidfd = pidfd_open(rt, 0);
    if (pidfd < 0) {
        int e = errno;
        kill(rt, SIGKILL);
        st->status = wait_status(rt);
        st->exited = true;
        return sw_error_set(err, SW_EIO, e, NULL, "pidfd_open: %s", strerror(e));
    }
    int *fds[2] = {out_r, err_r}; /* the caller's: a pipe closed here is -1 there too */
    int cancel = io && io->cancel_fd >= 0 ? io->cancel_fd : -1;
    struct timespec drain = {0}, next_kill = {0}, give_up = {0};
    char buf[16384];
    while (!st->exited || *fds[0] >= 0 || *fds[1] >= 0) {
        struct pollfd pf[4] = {
            {.fd = *fds[0], .events = POLLIN},
            {.fd = *fds[1], .events = POLLIN},
            {.fd = st->exited ? -1 : pidfd, .events = POLLIN},
            {.fd = st->exited || st->canceled ? -1 : cancel, .events = POLLIN},
        };
        long timeout = -1;
        if (st->exited) {
            /* the runtime is gone and with it the container's pid namespace: the pipes close at
             * once, unless a descriptor escaped; don't hang on one */
            if ((timeout = ms_until(&drain)) <= 0)
                break;
        } else if (st->canceled) {
            timeout = ms_until(&next_kill);
            if (timeout <= 0) {
                /* the container may not exist yet when the cancel comes: kill until the runtime
                 * is gone, and kill the runtime itself if that takes too long */
                if (ms_until(&give_up) <= 0)
                    pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                else
                    runtime_cmd(o, "kill", NULL, id, "KILL");
                after_ms(&next_kill, 100);
                timeout = 100;
            }
        }
        int r = poll(pf, 4, (int)timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            if (!st->exited) {
                pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                st->status = wait_status(rt);
                st->exited = true;
            }
            close(pidfd);
            return sw_error_set(err, SW_EIO, e, NULL, "poll: %s", strerror(e));
        }
        for (int i = 0; i < 2; i++) {
            if (!pf[i].revents)
                continue;
            ssize_t got = read(*fds[i], buf, sizeof buf);
            if (got > 0) {
                if (i == 1)
                    keep_tail(st, buf, (size_t)got);
                if (io && io->output)
                    io->output(io->ctx, i == 0 ? CTR_STDOUT : CTR_STDERR, buf, (size_t)got);
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                close_fd(fds[i]);
            }
        }
        if (pf[3].revents) {
            st->canceled = true;
            runtime_cmd(o, "kill", NULL, id, "KILL");
            after_ms(&next_kill, 100);
            after_ms(&give_up, 10000);
        }
        if (pf[2].revents) {
            st->status = wait_status(rt);
            st->exited = true;
            after_ms(&drain, 5000);
        }
    }
    close(pidfd);
    return 0;
}

/* The last error-level message of the runtime's JSON log: 1 found, 0 none, -1 no log file. */
static int
log_error(char **msg, const char *log_path)
{
    *msg = NULL;
    sw_autofclose FILE *f = fopen(log_path, "re");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        const char *level = j ? json_string_value(json_object_get(j, "level")) : NULL;
        const char *text = j ? json_string_value(json_object_get(j, "msg")) : NULL;
        if (level && text && (!strcmp(level, "error") || !strcmp(level, "fatal"))) {
            char *c = strdup(text);
            if (c) {
                free(*msg);
                *msg = c;
            }
        }
        json_decref(j);
    }
    free(line);
    return *msg ? 1 : 0;
}

/* Without a log: the last line of stderr, if it is the runtime's error line. */
static char *
stderr_error(const struct run_state *st)
{
    size_t n = st->tail_len;
    while (n > 0 && st->tail[n - 1] == '\n')
        n--;
    size_t s = n;
    while (s > 0 && st->tail[s - 1] != '\n')
        s--;
    const char *line = st->tail + s;
    size_t len = n - s;
    static const char *const prefixes[] = {"runc run failed:", "runc: ", "crun: "};
    for (size_t i = 0; i < 3; i++)
        if (len >= strlen(prefixes[i]) && !strncmp(line, prefixes[i], strlen(prefixes[i])))
            return strndup(line, len);
    return NULL;
}

/* "runc run failed: unable to start container process: exec: ..." -> "exec: ...": the runtime's
 * own message without its generic prefixes, which the caller replaces with "runc: ". */
static const char *
strip_prefixes(const char *m)
{
    static const char *const prefixes[] = {
        "runc run failed: ", "crun: ", "unable to start container process: "};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(m, prefixes[i], strlen(prefixes[i])))
            m += strlen(prefixes[i]);
    return m;
}

/* A missing executable (runc: `exec: "x": executable file not found in $PATH`, `stat /x: no such
 * file or directory`; crun: `executable file `x` not found in $PATH`) is -SW_ENOTFOUND, as with
 * the native executor; any other failure is -SW_EIO. */
static int
runtime_error_code(const char *m)
{
    return strstr(m, "not found") || strcasestr(m, "no such file or directory") ? SW_ENOTFOUND
                                                                                : SW_EIO;
}

static int
oci_run(const struct ctr_executor *ex, struct ctr_result *out, const struct ctr_spec *spec,
        const struct ctr_io *io, struct sw_error **err)
{
    const struct oci_executor *o = (const struct oci_executor *)ex;
    memset(out, 0, sizeof *out);
    if (!spec->root.path || spec->root.path[0] != '/')
        return sw_error_set(err, SW_EINVAL, 0, NULL, "container spec: root path must be absolute");
    sw_autofree char *config = NULL;
    int r = config_json(&config, spec, err);
    if (r != 0)
        return r;
    uint8_t rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return sw_error_set(err, SW_EIO, errno, NULL, "getrandom: %s", strerror(errno));
    char id[32];
    snprintf(id, sizeof id, "slipway-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    const char *tmp = getenv("TMPDIR");
    char bundle[PATH_MAX];
    if (snprintf(bundle, sizeof bundle, "%s/slipway-oci-XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
        (int)sizeof bundle)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "TMPDIR is too long");
    if (!mkdtemp(bundle))
        return sw_error_set(err, SW_EIO, errno, NULL, "creating a bundle directory in %s: %s",
                            tmp && *tmp ? tmp : "/tmp", strerror(errno));
    sw_autofree char *config_path = NULL, *log_path = NULL, *root_opt = NULL, *log_opt = NULL;
    if (asprintf(&config_path, "%s/config.json", bundle) < 0 ||
        asprintf(&log_path, "%s/runtime-log.json", bundle) < 0 ||
        asprintf(&root_opt, "--root=%s", o->state_root) < 0 ||
        asprintf(&log_opt, "--log=%s", log_path) < 0) {
        rmdir(bundle);
        return sw_error_oom(err);
    }
    char *argv[] = {o->name, root_opt, log_opt, "--log-format=json", "run", "--bundle",
                    bundle,  id,       NULL};
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    int devnull = -1;
    pid_t rt = -1;
    struct run_state st = {0};
    r = write_all(config_path, config, err);
    if (r == 0 && (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0 ||
                   (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0))
        r = sw_error_set(err, SW_EIO, errno, NULL, "pipe: %s", strerror(errno));
    if (r == 0)
        r = spawn(&rt, o->path, argv, devnull, outp[1], errp[1], err);
    close_fd(&outp[1]);
    close_fd(&errp[1]);
    close_fd(&devnull);
    if (r == 0) {
        fcntl(outp[0], F_SETFL, fcntl(outp[0], F_GETFL) | O_NONBLOCK);
        fcntl(errp[0], F_SETFL, fcntl(errp[0], F_GETFL) | O_NONBLOCK);
        r = supervise(&st, o, id, rt, &outp[0], &errp[0], io, err);
    }
    close_fd(&outp[0]);
    close_fd(&errp[0]);
    /* `run` deletes its container when it returns; a runtime killed or failing midway may not */
    if (rt > 0 && has_state(o, id))
        runtime_cmd(o, "delete", "-f", id, NULL);
    sw_autofree char *msg = NULL;
    int logged = rt > 0 ? log_error(&msg, log_path) : 0;
    if (r == 0 && st.canceled) {
        r = sw_error_set(err, SW_EINTERNAL, ECANCELED, NULL, "canceled");
    } else if (r == 0 && st.status < 0) {
        r = sw_error_set(err, SW_EINTERNAL, 0, NULL, "%s: lost track of the runtime", o->name);
    } else if (r == 0 && WIFSIGNALED(st.status)) {
        r = sw_error_set(err, SW_EIO, 0, NULL, "%s was killed by signal %d", o->name,
                         WTERMSIG(st.status));
    } else if (r == 0 && WEXITSTATUS(st.status) != 0 &&
               (logged > 0 || (logged < 0 && (msg = stderr_error(&st))))) {
        r = sw_error_set(err, runtime_error_code(msg), 0, NULL, "%s: %s", o->name,
                         strip_prefixes(msg));
    } else if (r == 0) {
        /* the process's status; a process killed by signal N shows as 128+N (the runtime's
         * own exit status), as with docker */
        out->exit_code = WEXITSTATUS(st.status);
    }
    unlink(config_path);
    unlink(log_path);
    if (rmdir(bundle) != 0)
        sw_rmtree(bundle, NULL);
    return r;
}
