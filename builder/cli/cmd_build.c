/*
 * slipway build: docker build's command line, daemonless. Dockerfile -> plan -> solver -> image
 * in the embedded store -> tags and outputs.
 */
#include "cli.h"
#include "build_secrets.h"
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dockerfile/ignore.h"
#include "dockerfile/lower.h"
#include "dockerfile/stages.h"
#include "export/export.h"
#include "plan/plan.h"
#include "progress/progress.h"
#include "solve/solve.h"
#include "util/cleanup.h"
#include "util/fs.h"

static const char usage_text[] =
    "Usage: slipway build [OPTIONS] PATH | -\n"
    "\n"
    "Build an image from a Dockerfile, without a daemon. PATH is the build context; '-' reads\n"
    "the Dockerfile from standard input (no context).\n"
    "\n"
    "Options:\n"
    "  -f, --file FILE            the Dockerfile (default PATH/Dockerfile)\n"
    "  -t, --tag NAME             name the image in the store (repeatable)\n"
    "      --build-arg K=V        set a build-time variable (K alone: from the environment)\n"
    "      --target STAGE         build this stage\n"
    "      --platform P           target platform os/arch[/variant] (default: this machine)\n"
    "      --label K=V            set a label on the image (repeatable)\n"
    "  -o, --output SPEC          type=oci|docker|local|tar,dest=PATH, or a directory (local)\n"
    "      --iidfile FILE         write the image ID (the config digest) to FILE\n"
    "      --metadata-file FILE   write build results (containerimage.digest, ...) as JSON\n"
    "      --progress MODE        auto, tty, plain, json or quiet (default auto)\n"
    "  -q, --quiet                print only the image ID\n"
    "      --no-cache             do not use cached steps (results are still recorded)\n"
    "      --no-cache-filter S    no cached steps for stage S (name or index; repeatable)\n"
    "      --explain-cache        say for each step that misses the cache what changed\n"
    "      --normalize-perms      group/other permission bits do not change cache keys\n"
    "      --network MODE         default, none or host: the network of RUN steps\n"
    "      --executor E           how RUN steps run: native (default) or oci (an OCI runtime)\n"
    "      --runtime NAME|PATH    the OCI runtime of --executor oci: runc (default) or crun\n"
    "      --secret SPEC          id=ID,src=FILE or id=ID,env=VAR for RUN --mount=type=secret\n"
    "      --ssh SPEC             default|ID[=SOCKET] for RUN --mount=type=ssh\n"
    "      --root DIR             the store (default $SLIPWAY_ROOT, /var/lib/slipway as root)\n"
    "      --jobs N               stages built in parallel (default: the number of CPUs)\n"
    "      --compression C        layer compression: gzip (default), zstd or none\n"
    "  -h, --help                 show this help\n"
    "\n"
    "Not available yet: --pull, --push, --cache-from, --cache-to (they fail with a message).\n"
    "Without root, the build runs as root of its own user namespace (docs/executor.md);\n"
    "SLIPWAY_SNAPSHOTTER=copy replaces overlayfs with copies.\n";

struct build_opts {
    const char *context, *file, *target, *platform, *iidfile, *metadata_file, *root;
    const char *progress, *network, *compression;
    const char *executor, *runtime; /* --executor, --runtime */
    struct sw_strv tags, build_args, labels, outputs, secrets, ssh;
    bool quiet, no_cache, explain_cache, normalize_perms;
    struct sw_strv no_cache_filter;
    unsigned jobs;
};

static void
build_opts_free(struct build_opts *o)
{
    sw_strv_free(&o->tags);
    sw_strv_free(&o->build_args);
    sw_strv_free(&o->labels);
    sw_strv_free(&o->outputs);
    sw_strv_free(&o->secrets);
    sw_strv_free(&o->no_cache_filter);
    sw_strv_free(&o->ssh);
}

static int
not_yet(const char *flag, const char *what)
{
    fprintf(stderr, "slipway build: %s is not available yet: %s\n", flag, what);
    return -1;
}

static int
parse_args(struct build_opts *o, int argc, char **argv)
{
    enum {
        O_BUILD_ARG = 256,
        O_TARGET,
        O_PLATFORM,
        O_LABEL,
        O_IIDFILE,
        O_METADATA,
        O_PROGRESS,
        O_NO_CACHE,
        O_NO_CACHE_FILTER,
        O_EXPLAIN_CACHE,
        O_NORMALIZE_PERMS,
        O_NETWORK,
        O_SECRET,
        O_SSH,
        O_ROOT,
        O_JOBS,
        O_COMPRESSION,
        O_PULL,
        O_PUSH,
        O_CACHE_FROM,
        O_CACHE_TO,
        O_EXECUTOR,
        O_RUNTIME,
    };
    static const struct option longopts[] = {
        {"file", required_argument, NULL, 'f'},
        {"tag", required_argument, NULL, 't'},
        {"build-arg", required_argument, NULL, O_BUILD_ARG},
        {"target", required_argument, NULL, O_TARGET},
        {"platform", required_argument, NULL, O_PLATFORM},
        {"label", required_argument, NULL, O_LABEL},
        {"output", required_argument, NULL, 'o'},
        {"iidfile", required_argument, NULL, O_IIDFILE},
        {"metadata-file", required_argument, NULL, O_METADATA},
        {"progress", required_argument, NULL, O_PROGRESS},
        {"quiet", no_argument, NULL, 'q'},
        {"no-cache", no_argument, NULL, O_NO_CACHE},
        {"no-cache-filter", required_argument, NULL, O_NO_CACHE_FILTER},
        {"explain-cache", no_argument, NULL, O_EXPLAIN_CACHE},
        {"normalize-perms", no_argument, NULL, O_NORMALIZE_PERMS},
        {"network", required_argument, NULL, O_NETWORK},
        {"secret", required_argument, NULL, O_SECRET},
        {"ssh", required_argument, NULL, O_SSH},
        {"root", required_argument, NULL, O_ROOT},
        {"jobs", required_argument, NULL, O_JOBS},
        {"compression", required_argument, NULL, O_COMPRESSION},
        {"pull", no_argument, NULL, O_PULL},
        {"push", no_argument, NULL, O_PUSH},
        {"cache-from", required_argument, NULL, O_CACHE_FROM},
        {"cache-to", required_argument, NULL, O_CACHE_TO},
        {"executor", required_argument, NULL, O_EXECUTOR},
        {"runtime", required_argument, NULL, O_RUNTIME},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "f:t:o:qh", longopts, NULL)) != -1) {
        int r = 0;
        switch (c) {
        case 'f':
            o->file = optarg;
            break;
        case 't':
            r = sw_strv_push(&o->tags, optarg);
            break;
        case O_BUILD_ARG:
            r = cli_push_build_arg(&o->build_args, optarg);
            break;
        case O_TARGET:
            o->target = optarg;
            break;
        case O_PLATFORM:
            o->platform = optarg;
            break;
        case O_LABEL:
            r = sw_strv_push(&o->labels, optarg);
            break;
        case 'o':
            r = sw_strv_push(&o->outputs, optarg);
            break;
        case O_IIDFILE:
            o->iidfile = optarg;
            break;
        case O_METADATA:
            o->metadata_file = optarg;
            break;
        case O_PROGRESS:
            o->progress = optarg;
            break;
        case 'q':
            o->quiet = true;
            break;
        case O_NO_CACHE:
            o->no_cache = true;
            break;
        case O_NO_CACHE_FILTER: {
            /* docker buildx also takes a comma list */
            char *save = NULL, *copy = strdup(optarg);
            for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
                 t = strtok_r(NULL, ",", &save))
                if (sw_strv_push(&o->no_cache_filter, t) < 0) {
                    free(copy);
                    return -1;
                }
            free(copy);
            break;
        }
        case O_EXPLAIN_CACHE:
            o->explain_cache = true;
            break;
        case O_NORMALIZE_PERMS:
            o->normalize_perms = true;
            break;
        case O_NETWORK:
            if (strcmp(optarg, "default") && strcmp(optarg, "none") && strcmp(optarg, "host")) {
                fprintf(stderr, "slipway build: --network must be default, none or host\n");
                return -1;
            }
            o->network = optarg;
            break;
        case O_SECRET:
            r = sw_strv_push(&o->secrets, optarg);
            break;
        case O_SSH:
            r = sw_strv_push(&o->ssh, optarg);
            break;
        case O_ROOT:
            o->root = optarg;
            break;
        case O_JOBS: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "slipway build: --jobs must be a number from 1 to 256\n");
                return -1;
            }
            o->jobs = (unsigned)n;
            break;
        }
        case O_COMPRESSION:
            o->compression = optarg;
            break;
        case O_PULL:
            return not_yet("--pull", "slipway has no registry client yet");
        case O_PUSH:
            return not_yet("--push", "slipway has no registry client yet");
        case O_CACHE_FROM:
            return not_yet("--cache-from", "the remote cache is not built yet");
        case O_CACHE_TO:
            return not_yet("--cache-to", "the remote cache is not built yet");
        case O_EXECUTOR:
            if (strcmp(optarg, "native") && strcmp(optarg, "oci")) {
                fprintf(stderr, "slipway build: --executor must be native or oci\n");
                return -1;
            }
            o->executor = optarg;
            break;
        case O_RUNTIME:
            o->runtime = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        default:
            fputs("Run 'slipway build --help' for the options.\n", stderr);
            return -1;
        }
        if (r < 0)
            return -1;
    }
    if (o->runtime && (!o->executor || strcmp(o->executor, "oci"))) {
        fprintf(stderr, "slipway build: --runtime needs --executor oci\n");
        return -1;
    }
    if (optind >= argc) {
        fprintf(stderr, "slipway build: a build context (PATH, or - for a Dockerfile on standard "
                        "input) is required\n");
        return -1;
    }
    o->context = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "slipway build: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- pieces of the build ----------------------------------------------------------------------
 */

static int
image_config_hook(void *ctx, const char *ref, const struct img_platform *platform,
                  struct sw_strv *env, struct sw_strv *onbuild, struct sw_error **err)
{
    return solve_image_env(ctx, ref, platform, env, onbuild, err);
}

/* <Dockerfile>.dockerignore beats <context>/.dockerignore. */
static int
read_ignore(struct sw_strv *out, const char *dockerfile, const char *context, struct sw_error **err)
{
    char *paths[2] = {NULL, NULL};
    if (dockerfile && strcmp(dockerfile, "-") &&
        asprintf(&paths[0], "%s.dockerignore", dockerfile) < 0)
        return sw_error_oom(err);
    if (context && asprintf(&paths[1], "%s/.dockerignore", context) < 0) {
        free(paths[0]);
        return sw_error_oom(err);
    }
    int r = 0;
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (!paths[i] || stat(paths[i], &st) != 0)
            continue;
        char *data = NULL;
        size_t len = 0;
        r = cli_read_file(&data, &len, paths[i], err);
        if (r == 0)
            r = df_ignore_read(out, data, len, err);
        if (r < 0)
            sw_error_wrap(err, "%s", paths[i]);
        free(data);
        break;
    }
    free(paths[0]);
    free(paths[1]);
    return r;
}

static int64_t
source_date_epoch(const struct sw_strv *build_args)
{
    const char *v = getenv("SOURCE_DATE_EPOCH");
    for (size_t i = 0; i < build_args->n; i++)
        if (!strncmp(build_args->v[i], "SOURCE_DATE_EPOCH=", 18))
            v = build_args->v[i] + 18;
    if (!v || !*v)
        return -1;
    char *end;
    long long n = strtoll(v, &end, 10);
    return *end || n < 0 ? -1 : (int64_t)n;
}

/* RUN needs root, real or of the build's user namespace (not root here: the system refused one):
 * fail before any work, at the first RUN. */
static int
check_exec(const struct plan *p, struct sw_error **err)
{
    if (geteuid() == 0)
        return 0;
    for (size_t i = 0; i < p->nops; i++)
        if (p->ops[i].kind == PLAN_EXEC)
            return sw_error_set(err, SW_EUNSUPPORTED, 0, &p->ops[i].span,
                                "RUN without root needs an unprivileged user namespace, which "
                                "this system refuses (see \"Rootless\" in docs/executor.md)");
    return 0;
}

/* Every mount a build makes (overlays for RUN) lives in a private mount namespace: a build that
 * dies, even by SIGKILL, leaves none behind. Called while the process has one thread. */
static int
private_mounts(struct sw_error **err)
{
    if (geteuid() != 0)
        return 0;
    if (unshare(CLONE_NEWNS) != 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "unshare(CLONE_NEWNS): %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "making the mounts private: %s",
                            strerror(errno));
    return 0;
}

/* ---- interrupting a build ---------------------------------------------------------------------
 *
 * SIGINT, SIGTERM and SIGHUP are blocked in every thread (the mask is set before the first thread
 * starts, and threads inherit it) and read from a signalfd by a watcher thread; no handler runs
 * and nothing global is touched. Before the build has made anything that needs cleaning up (the
 * work directory), a signal ends the process at once. Once armed, the first signal writes the
 * cancel eventfd: the executor kills running RUN steps (their init, so every process of the step)
 * and the solver starts no further op; the build then fails, unwinds normally (unmounts, removes
 * its snapshot directories and the work directory) and exits 128 + the signal. A second signal
 * while it cleans up ends the process at once: the mounts go with its private mount namespace,
 * the steps with their init (PR_SET_PDEATHSIG), and `slipway prune` removes what is left on disk.
 * A signal the parent set to be ignored (nohup, a background job of a script) stays ignored.
 */

struct interrupt {
    sigset_t set;  /* the signals we take over */
    int sigfd;     /* signalfd for `set` */
    int cancel_fd; /* eventfd: written on the first signal, polled by the solver and executor */
    int stop_fd;   /* eventfd: ends the watcher */
    pthread_t watcher;
    bool running;
    pthread_mutex_t lock; /* guards armed and signo */
    bool armed;           /* the build has work to clean up: a signal cancels it */
    int signo;            /* the first signal received while armed; 0: none */
};

static const char *
signal_name(int sig)
{
    switch (sig) {
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "a signal";
    }
}

static void *
interrupt_watch(void *arg)
{
    struct interrupt *in = arg;
    for (;;) {
        struct pollfd pf[2] = {{.fd = in->sigfd, .events = POLLIN},
                               {.fd = in->stop_fd, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (pf[1].revents)
            return NULL;
        struct signalfd_siginfo si;
        if (!(pf[0].revents & POLLIN) || read(in->sigfd, &si, sizeof si) != (ssize_t)sizeof si)
            continue;
        int sig = (int)si.ssi_signo;
        pthread_mutex_lock(&in->lock);
        if (!in->armed || in->signo) {
            /* nothing to clean up yet, or asked twice: stop now (no stdio: another thread may
             * hold stderr's lock) */
            if (in->armed)
                dprintf(STDERR_FILENO,
                        "slipway: build interrupted again (%s): exiting without cleaning up; "
                        "`slipway prune` removes what is left\n",
                        signal_name(sig));
            else
                dprintf(STDERR_FILENO, "slipway: build interrupted (%s)\n", signal_name(sig));
            _exit(128 + sig);
        }
        in->signo = sig;
        uint64_t one = 1;
        if (write(in->cancel_fd, &one, sizeof one) < 0) {
            /* an eventfd write only fails on overflow, which one write cannot reach */
        }
        pthread_mutex_unlock(&in->lock);
    }
}

/* A descriptor above stdio, so that a cancel_fd is never 0 (solve_opts ignores 0). */
static int
above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

/* Take over the signals and start the watcher. Called while the process has one thread. */
static int
interrupt_start(struct interrupt *in, struct sw_error **err)
{
    *in = (struct interrupt){.sigfd = -1, .cancel_fd = -1, .stop_fd = -1};
    pthread_mutex_init(&in->lock, NULL);
    sigemptyset(&in->set);
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
            sigaddset(&in->set, sigs[i]);
    }
    int e = pthread_sigmask(SIG_BLOCK, &in->set, NULL);
    if (e != 0)
        return sw_error_set(err, SW_EIO, e, NULL, "blocking signals: %s", strerror(e));
    in->sigfd = above_stdio(signalfd(-1, &in->set, SFD_CLOEXEC));
    in->cancel_fd = above_stdio(eventfd(0, EFD_CLOEXEC));
    in->stop_fd = above_stdio(eventfd(0, EFD_CLOEXEC));
    if (in->sigfd < 0 || in->cancel_fd < 0 || in->stop_fd < 0)
        return sw_error_set(err, SW_EIO, errno, NULL, "setting up signal handling: %s",
                            strerror(errno));
    e = pthread_create(&in->watcher, NULL, interrupt_watch, in);
    if (e != 0)
        return sw_error_set(err, SW_EIO, e, NULL, "starting the signal watcher: %s", strerror(e));
    in->running = true;
    return 0;
}

/* From now on a signal cancels the build rather than ending the process. */
static void
interrupt_arm(struct interrupt *in)
{
    pthread_mutex_lock(&in->lock);
    in->armed = true;
    pthread_mutex_unlock(&in->lock);
}

/* The signal that canceled the build, 0 if none. */
static int
interrupt_signal(struct interrupt *in)
{
    pthread_mutex_lock(&in->lock);
    int sig = in->signo;
    pthread_mutex_unlock(&in->lock);
    return sig;
}

/* Stop the watcher and close the descriptors. The signals stay blocked: a signal that arrives
 * from now on is pending when the process exits, which it is about to do. */
static void
interrupt_stop(struct interrupt *in)
{
    if (in->running) {
        uint64_t one = 1;
        if (write(in->stop_fd, &one, sizeof one) != (ssize_t)sizeof one)
            return; /* cannot happen (an eventfd at 0); the process exits next anyway */
        pthread_join(in->watcher, NULL);
    }
    if (in->sigfd >= 0)
        close(in->sigfd);
    if (in->cancel_fd >= 0)
        close(in->cancel_fd);
    if (in->stop_fd >= 0)
        close(in->stop_fd);
    pthread_mutex_destroy(&in->lock);
}

static int
write_text_file(const char *path, const char *text, struct sw_error **err)
{
    return sw_write_file_atomic(path, text, strlen(text), 0600, err);
}

/* "type=oci,dest=x.tar" or a bare directory (local). */
static int
run_output(const char *spec, const struct export_image *img, struct sw_error **err)
{
    sw_autofree char *copy = strdup(spec);
    if (!copy)
        return sw_error_oom(err);
    const char *type = NULL, *dest = NULL;
    if (!strchr(copy, '=')) {
        type = "local";
        dest = copy;
    } else {
        for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv;
             kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq)
                return sw_error_set(err, SW_EINVAL, 0, NULL, "--output %s: \"%s\" is not key=value",
                                    spec, kv);
            *eq = '\0';
            if (!strcmp(kv, "type"))
                type = eq + 1;
            else if (!strcmp(kv, "dest"))
                dest = eq + 1;
            else
                return sw_error_set(err, SW_EINVAL, 0, NULL, "--output %s: unknown key \"%s\"",
                                    spec, kv);
        }
    }
    if (!type)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "--output %s: type= is required", spec);
    if (!strcmp(type, "image"))
        return 0; /* the store: done by tagging */
    if (!dest || !*dest || !strcmp(dest, "-"))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "--output %s: dest=PATH is required", spec);
    if (!strcmp(type, "oci")) {
        size_t n = strlen(dest);
        return export_oci(img, dest, n > 4 && !strcmp(dest + n - 4, ".tar"), err);
    }
    if (!strcmp(type, "docker"))
        return export_docker_archive(img, dest, err);
    if (!strcmp(type, "local"))
        return export_local(img, dest, err);
    if (!strcmp(type, "tar"))
        return export_rootfs_tar(img, dest, err);
    return sw_error_set(err, SW_EINVAL, 0, NULL,
                        "--output %s: unknown type \"%s\" (oci, docker, local, tar or image)", spec,
                        type);
}

static int
metadata_json(char **out, const struct solve_result *res, const struct sw_strv *names)
{
    json_t *o = json_pack("{s:s, s:s}", "containerimage.digest", res->manifest_desc.digest.str,
                          "containerimage.config.digest", res->config_desc.digest.str);
    if (!o)
        return -SW_ENOMEM;
    json_t *desc =
        json_pack("{s:s, s:s, s:I}", "mediaType", res->manifest_desc.media_type, "digest",
                  res->manifest_desc.digest.str, "size", (json_int_t)res->manifest_desc.size);
    json_object_set_new(o, "containerimage.descriptor", desc);
    if (names->n) {
        struct sw_buf b = {0};
        for (size_t i = 0; i < names->n; i++)
            sw_buf_printf(&b, "%s%s", i ? "," : "", names->v[i]);
        json_object_set_new(o, "image.name", json_string(sw_buf_cstr(&b)));
        sw_buf_free(&b);
    }
    *out = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    return *out ? 0 : -SW_ENOMEM;
}

/* ---- the build --------------------------------------------------------------------------------
 */

struct build_run {
    struct interrupt *intr;
    struct store *store;
    struct store_lock *lock;
    struct progress *progress;
    char *src, *dockerfile, *work;
    struct df_ast *ast;
    struct df_build *build;
    struct plan *plan;
    struct sw_strv ignore, full_names;
    struct build_secrets secrets;
    struct solve_result res;
};

static void
build_run_free(struct build_run *b)
{
    solve_result_clear(&b->res);
    plan_free(b->plan);
    df_build_free(b->build);
    df_ast_free(b->ast);
    sw_strv_free(&b->ignore);
    sw_strv_free(&b->full_names);
    build_secrets_clear(&b->secrets);
    if (b->work)
        sw_rmtree(b->work, NULL);
    free(b->work);
    free(b->src);
    free(b->dockerfile);
    store_build_unlock(b->lock);
    store_close(b->store);
    progress_free(b->progress);
}

static int
do_build(struct build_run *b, const struct build_opts *o, struct sw_error **err)
{
    bool stdin_df = !strcmp(o->context, "-");
    const char *context = stdin_df ? NULL : o->context;
    if (o->file)
        b->dockerfile = strdup(o->file);
    else if (stdin_df)
        b->dockerfile = strdup("-");
    else if (asprintf(&b->dockerfile, "%s/Dockerfile", context) < 0)
        b->dockerfile = NULL;
    if (!b->dockerfile)
        return sw_error_oom(err);
    if (context) {
        struct stat st;
        if (stat(context, &st) != 0 || !S_ISDIR(st.st_mode))
            return sw_error_set(err, SW_ENOTFOUND, errno, NULL,
                                "build context %s is not a directory", context);
    }
    size_t len = 0;
    const char *name = strcmp(b->dockerfile, "-") ? b->dockerfile : "<stdin>";
    int r = build_secrets_parse(&b->secrets, &o->secrets, &o->ssh, err);
    if (r == 0)
        r = cli_read_file(&b->src, &len, b->dockerfile, err);
    if (r == 0)
        r = df_parse(&b->ast, b->src, len, name, err);
    if (r == 0)
        r = read_ignore(&b->ignore, stdin_df ? NULL : b->dockerfile, context, err);
    if (r == 0)
        r = cli_store_open(&b->store, o->root, err);
    if (r == 0)
        r = store_build_lock(b->store, &b->lock, err);
    struct df_build_opts bo = {.build_args = o->build_args.v,
                               .nbuild_args = o->build_args.n,
                               .target = o->target,
                               .target_platform = o->platform,
                               .image_config = image_config_hook,
                               .image_ctx = b->store};
    if (r == 0)
        r = df_build_resolve(&b->build, b->ast, &bo, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < b->ast->nwarnings; i++)
        progress_warning(b->progress, b->ast->warnings[i].rule, b->ast->warnings[i].msg,
                         &b->ast->warnings[i].span);
    for (size_t i = 0; i < b->build->nwarnings; i++)
        progress_warning(b->progress, b->build->warnings[i].rule, b->build->warnings[i].msg,
                         &b->build->warnings[i].span);
    r = df_lower(&b->plan, b->build, context, &b->ignore, err);
    if (r == 0)
        r = check_exec(b->plan, err);
    /* names are checked before any work is done */
    for (size_t i = 0; r == 0 && i < o->tags.n; i++) {
        char *fam = NULL, *full = NULL;
        r = cli_image_name(&fam, &full, o->tags.v[i], err);
        if (r == 0) {
            free(o->tags.v[i]);
            o->tags.v[i] = fam;
            r = sw_strv_push_owned(&b->full_names, full) < 0 ? sw_error_oom(err) : 0;
        }
    }
    if (r < 0)
        return r;
    interrupt_arm(b->intr); /* from here on, a signal cancels and the work dir is cleaned up */
    if (asprintf(&b->work, "%s/tmp/build-XXXXXX", store_root(b->store)) < 0 || !mkdtemp(b->work))
        return sw_error_set(err, SW_EIO, errno, NULL, "creating a work directory: %s",
                            strerror(errno));
    enum layer_compression comp = LAYER_COMPRESSION_GZIP;
    if (o->compression && !strcmp(o->compression, "zstd"))
        comp = LAYER_COMPRESSION_ZSTD;
    else if (o->compression && !strcmp(o->compression, "none"))
        comp = LAYER_COMPRESSION_NONE;
    else if (o->compression && strcmp(o->compression, "gzip"))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "--compression must be gzip, zstd or none, not \"%s\"", o->compression);
    /* --executor oci: the runtime keeps its state in the build's work directory */
    struct ctr_executor *oci = NULL;
    if (o->executor && !strcmp(o->executor, "oci")) {
        sw_autofree char *state = NULL;
        if (asprintf(&state, "%s/oci-state", b->work) < 0)
            return sw_error_oom(err);
        r = ctr_oci_executor_new(&oci, o->runtime ? o->runtime : "runc", state, err);
        if (r < 0)
            return r;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct solve_opts so = {.store = b->store,
                            .work_dir = b->work,
                            .jobs = o->jobs ? o->jobs : (unsigned)(cpus > 0 ? cpus : 1),
                            .source_date_epoch = source_date_epoch(&o->build_args),
                            .compression = comp,
                            .progress = b->progress,
                            .labels = o->labels.v,
                            .nlabels = o->labels.n,
                            .executor = oci ? oci : ctr_native_executor(),
                            .network = !o->network || !strcmp(o->network, "default") ? PLAN_NET_HOST
                                       : !strcmp(o->network, "none")                 ? PLAN_NET_NONE
                                                                     : PLAN_NET_HOST,
                            .copy_snapshotter = getenv("SLIPWAY_SNAPSHOTTER") &&
                                                !strcmp(getenv("SLIPWAY_SNAPSHOTTER"), "copy"),
                            .no_cache = o->no_cache,
                            .no_cache_filter = o->no_cache_filter.v,
                            .nno_cache_filter = o->no_cache_filter.n,
                            .explain_cache = o->explain_cache,
                            .cache_normalize_perms = o->normalize_perms,
                            .secrets = b->secrets.secrets,
                            .nsecrets = b->secrets.nsecrets,
                            .ssh = b->secrets.ssh,
                            .nssh = b->secrets.nssh,
                            .cancel_fd = b->intr->cancel_fd};
    unsigned steps = 0;
    for (size_t i = 0; i < b->plan->nops; i++)
        steps += b->plan->ops[i].kind != PLAN_SCRATCH;
    progress_build_start(b->progress, name, o->target, steps);
    r = solve_build(&b->res, b->plan, &so, err);
    if (r == 0 && interrupt_signal(b->intr)) /* canceled after the last op: no tags, no outputs */
        r = sw_error_set(err, SW_EINTERNAL, ECANCELED, NULL, "build canceled");
    ctr_oci_executor_free(oci);
    for (size_t i = 0; r == 0 && i < o->tags.n; i++) {
        struct store_desc d = {
            .media_type = b->res.manifest_desc.media_type,
            .digest = b->res.manifest_desc.digest,
            .size = (uint64_t)b->res.manifest_desc.size,
            .has_platform = true,
            .platform = {.os = b->res.platform.os,
                         .architecture = b->res.platform.arch,
                         .variant = b->res.platform.variant[0] ? b->res.platform.variant : NULL}};
        r = store_tag_set(b->store, o->tags.v[i], b->full_names.v[i], &d, err);
    }
    struct export_image img = {.store = b->store,
                               .manifest = b->res.manifest_desc,
                               .names = (const char *const *)o->tags.v,
                               .nnames = o->tags.n,
                               .source_date_epoch = so.source_date_epoch};
    for (size_t i = 0; r == 0 && i < o->outputs.n; i++)
        r = run_output(o->outputs.v[i], &img, err);
    if (r == 0 && o->iidfile) {
        char line[128];
        snprintf(line, sizeof line, "%s", b->res.config_desc.digest.str);
        r = write_text_file(o->iidfile, line, err);
    }
    if (r == 0 && o->metadata_file) {
        char *json = NULL;
        r = metadata_json(&json, &b->res, &o->tags) < 0 ? sw_error_oom(err) : 0;
        if (r == 0)
            r = write_text_file(o->metadata_file, json, err);
        free(json);
    }
    return r;
}

int
cli_cmd_build(int argc, char **argv)
{
    struct build_opts o = {0};
    int pr = parse_args(&o, argc, argv);
    if (pr != 0) {
        build_opts_free(&o);
        return pr > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    struct sw_error *err = NULL;
    /* first, while the process has one thread: without root, the build goes on as root of its
     * own user namespace, in the user's store */
    sw_autofree char *user_root = NULL;
    if (cli_enter_rootless(&o.root, &user_root, &err) < 0) {
        build_opts_free(&o);
        return cli_report(err);
    }
    struct interrupt intr;
    struct build_run b = {.intr = &intr};
    enum progress_mode mode;
    int r = interrupt_start(&intr, &err);
    if (r == 0)
        r = private_mounts(&err);
    if (r == 0)
        r = progress_mode_parse(&mode, o.quiet ? "quiet" : o.progress, stderr, &err);
    if (r == 0)
        r = progress_new(&b.progress, mode, stderr, &err);
    if (r == 0)
        r = do_build(&b, &o, &err);
    int status = CLI_EXIT_OK;
    int sig = r < 0 ? interrupt_signal(&intr) : 0;
    if (sig) {
        /* whatever failed, it failed because we canceled it: say so, with the signal */
        sw_error_free(err);
        err = NULL;
        sw_error_set(&err, SW_EINTERNAL, ECANCELED, NULL, "build interrupted (%s)",
                     signal_name(sig));
        if (b.progress) {
            progress_error(b.progress, err);
            progress_build_end(b.progress, false, NULL, NULL, 0);
        }
        if (!b.progress || mode != PROGRESS_JSON)
            fprintf(stderr, "slipway: %s\n", err ? err->msg : "build interrupted");
        sw_error_free(err);
        status = 128 + sig;
    } else if (r < 0) {
        if (b.progress) {
            progress_error(b.progress, err);
            progress_build_end(b.progress, false, NULL, NULL, 0);
        }
        if (b.progress && mode == PROGRESS_JSON) {
            sw_error_free(err); /* the error event carries it: stderr stays JSON lines */
            status = CLI_EXIT_FAIL;
        } else {
            status = cli_report(err);
        }
    } else {
        progress_build_end(b.progress, true, b.res.manifest_desc.digest.str,
                           (const char *const *)o.tags.v, o.tags.n);
        if (o.quiet)
            printf("%s\n", b.res.config_desc.digest.str);
    }
    build_run_free(&b); /* removes the work dir */
    interrupt_stop(&intr);
    build_opts_free(&o);
    return status;
}
