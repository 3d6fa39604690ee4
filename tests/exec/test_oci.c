/*
 * Differential tests for builder/exec/oci.c: every case runs with the native executor and with
 * the OCI executor (runc) on two copies of the same busybox root file system, and the results
 * (error, exit status, stdout, stderr, and what each run left in its root) must agree. Documented
 * divergences are checked as such: a process killed by signal N is exit code 128+N with runc, and
 * a runtime failure is prefixed with "runc: ".
 *
 * Needs root and runc (Debian package runc): a missing runc fails the suite, it never skips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/exec.h"
#include "exec/spec.h"
#include "util/buf.h"

enum { NATIVE, OCI, N_EXEC };

struct fixture {
    char dir[64];
    char roots[N_EXEC][128]; /* one busybox root per executor */
    char state[128];         /* runc's --root */
    char hosts[128], resolv[128], hostname[128];
    struct ctr_executor *oci;
    const struct ctr_executor *ex[N_EXEC];
};

static struct fixture fx;

static const char *const exec_names[N_EXEC] = {"native", "runc"};

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *
read_text(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    struct sw_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assert_int_equal(sw_buf_append(&b, chunk, n), 0);
    fclose(f);
    return sw_buf_detach(&b);
}

static int
make_busybox_root(const char *r)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "set -e; r=%s; bb=/bin/busybox; ldd $bb >/dev/null 2>&1 && exit 1; "
             "mkdir -p $r/bin $r/etc $r/tmp $r/home/app $r/root $r/data; "
             "cp $bb $r/bin/busybox; "
             "for a in $($bb --list); do [ $a = busybox ] || ln -s busybox $r/bin/$a; done; "
             "printf 'root:x:0:0:root:/root:/bin/sh\\napp:x:1000:1000::/home/app:/bin/sh\\n' "
             "> $r/etc/passwd; printf 'root:x:0:\\napp:x:1000:\\n' > $r/etc/group; "
             "echo original > $r/data/keep; echo doomed > $r/data/gone; chmod 1777 $r/tmp",
             r);
    return system(cmd) == 0 ? 0 : -1;
}

static int
group_setup(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_exec_oci: these tests need root\n");
        return -1;
    }
    strcpy(fx.dir, "/tmp/sw-oci-XXXXXX");
    if (!mkdtemp(fx.dir) || chmod(fx.dir, 0755) != 0)
        return -1;
    /* the bundles go to $TMPDIR: keep them where the test can check they are removed */
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/tmp", fx.dir);
    if (mkdir(tmp, 0700) != 0 || setenv("TMPDIR", tmp, 1) != 0)
        return -1;
    for (int i = 0; i < N_EXEC; i++) {
        snprintf(fx.roots[i], sizeof fx.roots[i], "%s/rootfs-%s", fx.dir, exec_names[i]);
        if (make_busybox_root(fx.roots[i]) != 0) {
            fprintf(stderr, "test_exec_oci: cannot make the busybox root (is busybox-static "
                            "installed?)\n");
            return -1;
        }
    }
    snprintf(fx.hosts, sizeof fx.hosts, "%s/hosts", fx.dir);
    snprintf(fx.resolv, sizeof fx.resolv, "%s/resolv.conf", fx.dir);
    snprintf(fx.hostname, sizeof fx.hostname, "%s/hostname", fx.dir);
    write_text(fx.hosts, "127.0.0.1 localhost sw-test\n");
    write_text(fx.resolv, "nameserver 192.0.2.53\n");
    write_text(fx.hostname, "sw-test\n");
    snprintf(fx.state, sizeof fx.state, "%s/runc-state", fx.dir);
    struct sw_error *err = NULL;
    if (ctr_oci_executor_new(&fx.oci, "runc", fx.state, &err) != 0) {
        fprintf(stderr, "test_exec_oci: FAILED: %s (the OCI executor tests need runc)\n",
                err && err->msg ? err->msg : "?");
        sw_error_free(err);
        return -1;
    }
    fx.ex[NATIVE] = ctr_native_executor();
    fx.ex[OCI] = fx.oci;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    ctr_oci_executor_free(fx.oci);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx.dir);
    return system(cmd) == 0 ? 0 : -1;
}

struct outcome {
    int r; /* ctr_run's return */
    char *msg;
    struct ctr_result res;
    struct sw_buf out, err;
};

static void
outcome_free(struct outcome *o)
{
    free(o->msg);
    sw_buf_free(&o->out);
    sw_buf_free(&o->err);
}

static void
on_output(void *ctx, int stream, const char *data, size_t len)
{
    struct outcome *o = ctx;
    assert_int_equal(sw_buf_append(stream == CTR_STDOUT ? &o->out : &o->err, data, len), 0);
}

typedef void (*tweak_fn)(struct ctr_spec *);

/* Run argv with executor i on its root, with the defaults (PATH, /, hostname, default mounts). */
static void
run_one(struct outcome *o, int i, const char *const *argv, tweak_fn tweak)
{
    struct ctr_spec spec;
    ctr_spec_init(&spec);
    spec.namespaces = CTR_NS_DEFAULT;
    assert_int_equal(ctr_spec_set_root(&spec, fx.roots[i], false, NULL), 0);
    assert_int_equal(ctr_spec_set_args(&spec, argv, NULL), 0);
    assert_int_equal(ctr_spec_set_cwd(&spec, "/", NULL), 0);
    assert_int_equal(ctr_spec_add_env(&spec, "PATH=/usr/bin:/bin", NULL), 0);
    assert_int_equal(ctr_spec_set_hostname(&spec, "sw-test", NULL), 0);
    if (tweak)
        tweak(&spec);
    struct ctr_etc_files etc = {fx.hosts, fx.resolv, fx.hostname};
    assert_int_equal(ctr_spec_add_default_mounts(&spec, &etc, true, NULL), 0);
    memset(o, 0, sizeof *o);
    struct ctr_io io = {on_output, o, -1};
    struct sw_error *err = NULL;
    o->r = ctr_run(fx.ex[i], &o->res, &spec, &io, &err);
    if (o->r != 0) {
        assert_non_null(err);
        o->msg = strdup(err->msg);
    }
    sw_error_free(err);
    ctr_spec_clear(&spec);
}

static void
assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* Nothing left behind: no child, no runc state, no bundle. */
static void
assert_clean(void)
{
    assert_no_children();
    const char *dirs[] = {fx.state, NULL};
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/tmp", fx.dir);
    dirs[1] = tmp;
    for (int k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                fail_msg("%s/%s was left behind", dirs[k], e->d_name);
        closedir(d);
    }
}

/* Run with both executors and require the same outcome. */
static void
same(const char *const *argv, tweak_fn tweak, struct outcome *keep_native)
{
    struct outcome o[N_EXEC];
    for (int i = 0; i < N_EXEC; i++)
        run_one(&o[i], i, argv, tweak);
    const char *what = argv[argv[1] ? 2 : 0] ? argv[argv[1] ? 2 : 0] : argv[0];
    if (o[NATIVE].r != o[OCI].r)
        fail_msg("%s: native returned %d (%s), runc %d (%s)", what, o[NATIVE].r,
                 o[NATIVE].msg ? o[NATIVE].msg : "", o[OCI].r, o[OCI].msg ? o[OCI].msg : "");
    if (o[NATIVE].r == 0) {
        if (o[NATIVE].res.signaled != o[OCI].res.signaled ||
            o[NATIVE].res.exit_code != o[OCI].res.exit_code)
            fail_msg("%s: native exit %d, runc exit %d", what, o[NATIVE].res.exit_code,
                     o[OCI].res.exit_code);
        if (strcmp(sw_buf_cstr(&o[NATIVE].out), sw_buf_cstr(&o[OCI].out)))
            fail_msg("%s: stdout differs:\nnative: %s\nrunc:   %s", what,
                     sw_buf_cstr(&o[NATIVE].out), sw_buf_cstr(&o[OCI].out));
        if (strcmp(sw_buf_cstr(&o[NATIVE].err), sw_buf_cstr(&o[OCI].err)))
            fail_msg("%s: stderr differs:\nnative: %s\nrunc:   %s", what,
                     sw_buf_cstr(&o[NATIVE].err), sw_buf_cstr(&o[OCI].err));
    } else {
        /* the same message, runc's prefixed with "runc: " */
        assert_non_null(o[OCI].msg);
        if (strncmp(o[OCI].msg, "runc: ", 6) || strcmp(o[OCI].msg + 6, o[NATIVE].msg))
            fail_msg("%s: native error \"%s\", runc error \"%s\"", what, o[NATIVE].msg, o[OCI].msg);
    }
    if (keep_native)
        *keep_native = o[NATIVE];
    else
        outcome_free(&o[NATIVE]);
    outcome_free(&o[OCI]);
    assert_clean();
}

static void
same_sh(const char *script, tweak_fn tweak, const char *want_stdout)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    struct outcome n;
    same(argv, tweak, &n);
    assert_int_equal(n.r, 0);
    if (want_stdout)
        assert_string_equal(sw_buf_cstr(&n.out), want_stdout);
    outcome_free(&n);
}

static void
test_output_streams(void **state)
{
    (void)state;
    same_sh("echo hello; echo oops >&2; echo world", NULL, "hello\nworld\n");
    same_sh("i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done | tail -n 2", NULL,
            "line 1998\nline 1999\n");
    /* a background process dies with the step and does not hold the output open */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    same_sh("sleep 1000 & echo started", NULL, "started\n");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 4);
}

static void
test_exit_codes(void **state)
{
    (void)state;
    const char *scripts[] = {"exit 0",   "exit 1",        "echo before; exit 42",
                             "exit 255", "nosuchcmd-xyz", "false"};
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++)
        same_sh(scripts[i], NULL, NULL);
}

static void
env_cwd(struct ctr_spec *spec)
{
    assert_int_equal(ctr_spec_add_env(spec, "GREETING=hi there", NULL), 0);
    assert_int_equal(ctr_spec_set_cwd(spec, "/home/app", NULL), 0);
}

static void
test_env_and_cwd(void **state)
{
    (void)state;
    same_sh("echo \"$GREETING\"; pwd; echo \"$PATH\"", env_cwd,
            "hi there\n/home/app\n/usr/bin:/bin\n");
}

static void
as_app(struct ctr_spec *spec)
{
    spec->process.uid = 1000;
    spec->process.gid = 1000;
    gid_t groups[] = {10, 20};
    assert_int_equal(ctr_spec_set_additional_gids(spec, groups, 2, NULL), 0);
    spec->process.no_new_privileges = true;
}

static void
test_user_and_groups(void **state)
{
    (void)state;
    same_sh("id -u; id -g; id -G; grep NoNewPrivs /proc/self/status; touch /root/x 2>&1; "
            "echo mine > /tmp/app-file",
            as_app, "1000\n1000\n1000 10 20\nNoNewPrivs:\t1\ntouch: /root/x: Permission denied\n");
    same_sh("id -u; id -g", NULL, "0\n0\n");
}

static void
test_hostname_and_etc(void **state)
{
    (void)state;
    same_sh("hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf; "
            "echo x > /etc/hosts 2>/dev/null && echo writable || echo ro",
            NULL, "sw-test\nsw-test\n127.0.0.1 localhost sw-test\nnameserver 192.0.2.53\nro\n");
}

static void
net_none(struct ctr_spec *spec)
{
    spec->namespaces |= CTR_NS_NET;
}

static void
test_network_none(void **state)
{
    (void)state;
    same_sh("grep ':' /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/flags",
            net_none, "lo\n0x9\n");
}

static void
test_namespaces_and_dev(void **state)
{
    (void)state;
    /* pid 1 differs by design (native: its own init, runc: the process itself): see
     * test_pid1_divergence */
    same_sh("for d in null zero full random urandom tty; do test -c /dev/$d && echo $d; done; "
            "head -c 5 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; "
            "test -L /dev/fd && echo fd; grep -c ' /dev/pts devpts' /proc/mounts; "
            "grep -c ' /dev/mqueue mqueue' /proc/mounts; "
            "awk '$2 == \"/sys\" { print $3, substr($4, 1, 3) }' /proc/mounts",
            NULL, "null\nzero\nfull\nrandom\nurandom\ntty\n5\nnull-ok\nfd\n1\n1\nsysfs ro,\n");
}

static void
test_missing_command(void **state)
{
    (void)state;
    const char *argv1[] = {"nosuchcmd", "arg", NULL};
    struct outcome n;
    same(argv1, NULL, &n);
    assert_int_equal(n.r, -SW_ENOTFOUND);
    assert_string_equal(n.msg, "exec: \"nosuchcmd\": executable file not found in $PATH");
    outcome_free(&n);
    /* an absolute path: runc's words differ from the native executor's, the code does not */
    const char *argv2[] = {"/bin/nosuchcmd", NULL};
    struct outcome o;
    run_one(&o, OCI, argv2, NULL);
    assert_int_equal(o.r, -SW_ENOTFOUND);
    assert_non_null(strstr(o.msg, "runc: "));
    assert_non_null(strstr(o.msg, "/bin/nosuchcmd"));
    outcome_free(&o);
    /* a process of its own that exits 127 is an exit status, not a runtime failure */
    const char *argv3[] = {"sh", "-c", "echo 'runc run failed: not really' >&2; exit 127", NULL};
    same(argv3, NULL, &n);
    assert_int_equal(n.r, 0);
    assert_int_equal(n.res.exit_code, 127);
    outcome_free(&n);
    assert_clean();
}

/* What each run left in its root: the same files, contents, modes and owners. */
static void
test_root_changes(void **state)
{
    (void)state;
    same_sh("echo data > /data/new; mkdir -p /data/deep/er; chmod 640 /data/new; "
            "chown 1000:1000 /data/deep; rm /data/gone; ln -s new /data/link; "
            "echo appended >> /data/keep; mkfifo /data/fifo",
            NULL, "");
    const char *names[] = {"data/new",  "data/deep", "data/deep/er", "data/keep",
                           "data/link", "data/fifo", "data/gone",    "tmp/app-file"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        struct stat st[N_EXEC];
        int rs[N_EXEC];
        char *content[N_EXEC];
        for (int i = 0; i < N_EXEC; i++) {
            char path[256];
            snprintf(path, sizeof path, "%s/%s", fx.roots[i], names[k]);
            rs[i] = lstat(path, &st[i]);
            content[i] = rs[i] == 0 && S_ISREG(st[i].st_mode) ? read_text(path) : NULL;
        }
        if (rs[NATIVE] != rs[OCI])
            fail_msg("%s: exists with one executor only", names[k]);
        if (rs[NATIVE] == 0) {
            if (st[NATIVE].st_mode != st[OCI].st_mode || st[NATIVE].st_uid != st[OCI].st_uid ||
                st[NATIVE].st_gid != st[OCI].st_gid)
                fail_msg("%s: native mode %o %u:%u, runc %o %u:%u", names[k], st[NATIVE].st_mode,
                         st[NATIVE].st_uid, st[NATIVE].st_gid, st[OCI].st_mode, st[OCI].st_uid,
                         st[OCI].st_gid);
            if (content[NATIVE] || content[OCI])
                assert_string_equal(content[NATIVE], content[OCI]);
        }
        free(content[NATIVE]);
        free(content[OCI]);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/data/keep", fx.roots[OCI]);
    char *keep = read_text(path);
    assert_string_equal(keep, "original\nappended\n");
    free(keep);
}

/* Documented divergences. The native executor's init is pid 1 and the step's process pid 2; with
 * runc the process itself is pid 1, which ignores a signal it has no handler for (as in docker
 * build). A signal sent to a child is the same with both. */
static void
test_pid1_divergence(void **state)
{
    (void)state;
    same_sh("sh -c 'kill -TERM $$'; echo $?", NULL, "143\n");
    const char *argv[] = {"sh", "-c", "kill -TERM $$; sleep 0.2; echo $$", NULL};
    struct outcome o[N_EXEC];
    for (int i = 0; i < N_EXEC; i++)
        run_one(&o[i], i, argv, NULL);
    assert_int_equal(o[NATIVE].r, 0);
    assert_true(o[NATIVE].res.signaled);
    assert_int_equal(o[NATIVE].res.signal, SIGTERM);
    assert_int_equal(o[OCI].r, 0);
    assert_false(o[OCI].res.signaled);
    assert_int_equal(o[OCI].res.exit_code, 0);
    assert_string_equal(sw_buf_cstr(&o[OCI].out), "1\n");
    outcome_free(&o[NATIVE]);
    outcome_free(&o[OCI]);
    assert_clean();
}

static void
test_cancel(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo started; sleep 100", NULL};
    struct ctr_spec spec;
    ctr_spec_init(&spec);
    spec.namespaces = CTR_NS_DEFAULT;
    assert_int_equal(ctr_spec_set_root(&spec, fx.roots[OCI], false, NULL), 0);
    assert_int_equal(ctr_spec_set_args(&spec, argv, NULL), 0);
    assert_int_equal(ctr_spec_set_cwd(&spec, "/", NULL), 0);
    assert_int_equal(ctr_spec_add_env(&spec, "PATH=/bin", NULL), 0);
    assert_int_equal(ctr_spec_add_default_mounts(&spec, NULL, false, NULL), 0);
    /* early (the container may not exist yet) and late */
    const long delays_ms[] = {1, 500};
    for (size_t k = 0; k < 2; k++) {
        int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        assert_true(tfd >= 0);
        struct itimerspec its = {.it_value = {.tv_nsec = delays_ms[k] * 1000 * 1000}};
        assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
        struct outcome o = {0};
        struct ctr_io io = {on_output, &o, tfd};
        struct sw_error *err = NULL;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(ctr_run(fx.oci, &o.res, &spec, &io, &err), -SW_EINTERNAL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_string_equal(err->msg, "canceled");
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(secs < 5.0);
        if (k == 1)
            assert_string_equal(sw_buf_cstr(&o.out), "started\n");
        sw_error_free(err);
        close(tfd);
        outcome_free(&o);
        assert_clean();
    }
    ctr_spec_clear(&spec);
}

struct par_run {
    const char *script;
    char *out;
    double secs;
};

static void *
par_thread(void *arg)
{
    struct par_run *pr = arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *argv[] = {"sh", "-c", pr->script, NULL};
    struct outcome o;
    run_one(&o, OCI, argv, NULL);
    if (o.r == 0 && o.res.exit_code == 0)
        pr->out = sw_buf_detach(&o.out);
    outcome_free(&o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pr->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return NULL;
}

/* Two runc runs at once on one executor: distinct ids, and no descriptor of one holds the
 * other's pipes open. */
static void
test_parallel_runs(void **state)
{
    (void)state;
    struct par_run slow = {"sleep 2; echo slow", NULL, 0}, quick = {"echo quick", NULL, 0};
    pthread_t ts, tq;
    assert_int_equal(pthread_create(&ts, NULL, par_thread, &slow), 0);
    assert_int_equal(pthread_create(&tq, NULL, par_thread, &quick), 0);
    assert_int_equal(pthread_join(tq, NULL), 0);
    assert_int_equal(pthread_join(ts, NULL), 0);
    assert_non_null(slow.out);
    assert_non_null(quick.out);
    assert_string_equal(slow.out, "slow\n");
    assert_string_equal(quick.out, "quick\n");
    assert_true(quick.secs < 1.5);
    free(slow.out);
    free(quick.out);
    assert_clean();
}

static void
test_runtime_lookup(void **state)
{
    (void)state;
    struct ctr_executor *ex = NULL;
    struct sw_error *err = NULL;
    assert_int_equal(ctr_oci_executor_new(&ex, "no-such-runtime-xyz", fx.state, &err),
                     -SW_ENOTFOUND);
    assert_null(ex);
    assert_string_equal(err->msg, "OCI runtime no-such-runtime-xyz not found in PATH");
    sw_error_free(err);
    err = NULL;
    assert_int_equal(ctr_oci_executor_new(&ex, "/no/such/runc", fx.state, &err), -SW_ENOTFOUND);
    assert_non_null(strstr(err->msg, "/no/such/runc"));
    sw_error_free(err);
    err = NULL;
    /* the Debian package is named when runc or crun is missing */
    const char *path = getenv("PATH");
    char *saved = path ? strdup(path) : NULL;
    char empty_bin[512];
    snprintf(empty_bin, sizeof empty_bin, "%s/empty-bin", fx.dir);
    assert_int_equal(mkdir(empty_bin, 0755), 0);
    setenv("PATH", empty_bin, 1);
    int r = ctr_oci_executor_new(&ex, "runc", fx.state, &err);
    if (saved)
        setenv("PATH", saved, 1);
    free(saved);
    if (r == 0) {
        /* runc is also found in the standard directories, whatever PATH says */
        assert_string_equal(ctr_executor_name(ex), "oci");
        ctr_oci_executor_free(ex);
    } else {
        fail_msg("runc was not found in the standard directories: %s", err->msg);
    }
    ctr_oci_executor_free(NULL);
    ctr_oci_executor_free((struct ctr_executor *)ctr_native_executor()); /* ignored */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_lookup),  cmocka_unit_test(test_output_streams),
        cmocka_unit_test(test_exit_codes),      cmocka_unit_test(test_env_and_cwd),
        cmocka_unit_test(test_user_and_groups), cmocka_unit_test(test_hostname_and_etc),
        cmocka_unit_test(test_network_none),    cmocka_unit_test(test_namespaces_and_dev),
        cmocka_unit_test(test_missing_command), cmocka_unit_test(test_root_changes),
        cmocka_unit_test(test_pid1_divergence), cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_parallel_runs),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
