/*
 * Unit tests for builder/exec: the container spec, its config.json and the native executor.
 * They run as root (the rootless test drops to nobody in a forked child) on a busybox root file
 * system made in a temporary directory from Debian's busybox-static.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/exec.h"
#include "exec/spec.h"
#include "exec/userns.h"
#include "util/userns.h"
#include "util/buf.h"

struct fixture {
    char dir[64];
    char root[128];
    char hosts[128], resolv[128], hostname[128];
};

static struct fixture fx;

static char *
read_file(const char *path)
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

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
group_setup(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_exec: these tests need root\n");
        return -1;
    }
    strcpy(fx.dir, "/tmp/sw-exec-XXXXXX");
    if (!mkdtemp(fx.dir) || chmod(fx.dir, 0755) != 0)
        return -1;
    snprintf(fx.root, sizeof fx.root, "%s/rootfs", fx.dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "set -e; r=%s; bb=/bin/busybox; ldd $bb >/dev/null 2>&1 && exit 1; "
             "mkdir -p $r/bin $r/etc $r/tmp $r/home/app $r/root; cp $bb $r/bin/busybox; "
             "for a in $($bb --list); do [ $a = busybox ] || ln -s busybox $r/bin/$a; done; "
             "printf 'root:x:0:0:root:/root:/bin/sh\\napp:x:1000:1000::/home/app:/bin/sh\\n' "
             "> $r/etc/passwd; printf 'root:x:0:\\napp:x:1000:\\n' > $r/etc/group; "
             "chmod 1777 $r/tmp",
             fx.root);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_exec: cannot make the busybox root (is busybox-static installed?)\n");
        return -1;
    }
    snprintf(fx.hosts, sizeof fx.hosts, "%s/hosts", fx.dir);
    snprintf(fx.resolv, sizeof fx.resolv, "%s/resolv.conf", fx.dir);
    snprintf(fx.hostname, sizeof fx.hostname, "%s/hostname", fx.dir);
    write_text(fx.hosts, "127.0.0.1 localhost sw-test\n");
    write_text(fx.resolv, "nameserver 192.0.2.53\n");
    write_text(fx.hostname, "sw-test\n");
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A spec for argv with the defaults: root, /, PATH, default mounts, hostname sw-test. */
static void
make_spec(struct ctr_spec *spec, const char *const *argv)
{
    ctr_spec_init(spec);
    spec->namespaces = CTR_NS_DEFAULT;
    assert_int_equal(ctr_spec_set_root(spec, fx.root, false, NULL), 0);
    assert_int_equal(ctr_spec_set_args(spec, argv, NULL), 0);
    assert_int_equal(ctr_spec_set_cwd(spec, "/", NULL), 0);
    assert_int_equal(ctr_spec_add_env(spec, "PATH=/usr/bin:/bin", NULL), 0);
    assert_int_equal(ctr_spec_set_hostname(spec, "sw-test", NULL), 0);
}

static void
add_defaults(struct ctr_spec *spec)
{
    struct ctr_etc_files etc = {fx.hosts, fx.resolv, fx.hostname};
    assert_int_equal(ctr_spec_add_default_mounts(spec, &etc, true, NULL), 0);
}

struct capture {
    struct sw_buf out, err;
};

static void
on_output(void *ctx, int stream, const char *data, size_t len)
{
    struct capture *c = ctx;
    assert_int_equal(sw_buf_append(stream == CTR_STDOUT ? &c->out : &c->err, data, len), 0);
}

static void
capture_free(struct capture *c)
{
    sw_buf_free(&c->out);
    sw_buf_free(&c->err);
}

/* Run spec, expecting no error; returns the result, output in *c. */
static struct ctr_result
run_ok(const struct ctr_spec *spec, struct capture *c)
{
    struct ctr_io io = {on_output, c, -1};
    struct ctr_result res;
    struct sw_error *err = NULL;
    int r = ctr_run(ctr_native_executor(), &res, spec, &io, &err);
    if (r != 0)
        fail_msg("ctr_run: %s", err && err->msg ? err->msg : "?");
    return res;
}

/* Run `sh -c script` with the defaults; returns stdout (owned), asserts exit 0. */
static char *
sh(const char *script, void (*tweak)(struct ctr_spec *))
{
    const char *argv[] = {"sh", "-c", script, NULL};
    struct ctr_spec spec;
    make_spec(&spec, argv);
    if (tweak)
        tweak(&spec);
    add_defaults(&spec);
    struct capture c = {0};
    struct ctr_result res = run_ok(&spec, &c);
    if (res.signaled || res.exit_code != 0)
        fail_msg("%s: exit %d signal %d, stderr: %s", script, res.exit_code, res.signal,
                 sw_buf_cstr(&c.err));
    ctr_spec_clear(&spec);
    sw_buf_free(&c.err);
    return sw_buf_detach(&c.out);
}

/* Other programs may mount and unmount on this machine meanwhile: look only at our directory. */
static void
assert_no_mounts_below_dir(void)
{
    char *now = read_file("/proc/self/mountinfo");
    assert_non_null(now);
    if (strstr(now, fx.dir))
        fail_msg("a mount was left behind below %s:\n%s", fx.dir, now);
    free(now);
}

static void
assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void
test_output_streams(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo hello; echo oops >&2; echo world", NULL};
    struct ctr_spec spec;
    make_spec(&spec, argv);
    add_defaults(&spec);
    struct capture c = {0};
    struct ctr_result res = run_ok(&spec, &c);
    assert_false(res.signaled);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(sw_buf_cstr(&c.out), "hello\nworld\n");
    assert_string_equal(sw_buf_cstr(&c.err), "oops\n");
    capture_free(&c);
    ctr_spec_clear(&spec);
    assert_no_children();
}

static void
test_exit_codes_and_signal(void **state)
{
    (void)state;
    const int codes[] = {0, 1, 42};
    for (size_t i = 0; i < 3; i++) {
        char script[32];
        snprintf(script, sizeof script, "exit %d", codes[i]);
        const char *argv[] = {"sh", "-c", script, NULL};
        struct ctr_spec spec;
        make_spec(&spec, argv);
        add_defaults(&spec);
        struct capture c = {0};
        struct ctr_result res = run_ok(&spec, &c);
        assert_false(res.signaled);
        assert_int_equal(res.exit_code, codes[i]);
        capture_free(&c);
        ctr_spec_clear(&spec);
    }
    const char *argv[] = {"sh", "-c", "kill -TERM $$; sleep 5", NULL};
    struct ctr_spec spec;
    make_spec(&spec, argv);
    add_defaults(&spec);
    struct capture c = {0};
    struct ctr_result res = run_ok(&spec, &c);
    assert_true(res.signaled);
    assert_int_equal(res.signal, SIGTERM);
    capture_free(&c);
    ctr_spec_clear(&spec);
    assert_no_children();
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
    char *out = sh("echo \"$GREETING\"; pwd; echo \"$PATH\"", env_cwd);
    assert_string_equal(out, "hi there\n/home/app\n/usr/bin:/bin\n");
    free(out);
    assert_int_equal(ctr_spec_add_env(&(struct ctr_spec){0}, "novalue", NULL), -SW_EINVAL);
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
    char *out = sh("id -u; id -g; id -G; grep NoNewPrivs /proc/self/status", as_app);
    assert_string_equal(out, "1000\n1000\n1000 10 20\nNoNewPrivs:\t1\n");
    free(out);
}

static void
test_hostname_and_etc(void **state)
{
    (void)state;
    char *out = sh("hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf; "
                   "echo x > /etc/hosts 2>/dev/null && echo writable || echo ro",
                   NULL);
    assert_string_equal(out, "sw-test\nsw-test\n127.0.0.1 localhost sw-test\n"
                             "nameserver 192.0.2.53\nro\n");
    free(out);
}

static void
test_pid_namespace(void **state)
{
    (void)state;
    char *out = sh("echo $$; ls /proc | grep -c '^[0-9]'", NULL);
    int self = -1, count = -1;
    assert_int_equal(sscanf(out, "%d\n%d", &self, &count), 2);
    assert_int_equal(self, 2); /* pid 1 is the executor's init */
    assert_true(count >= 2 && count <= 4);
    free(out);
}

static void
test_dev(void **state)
{
    (void)state;
    char *out = sh("for d in null zero full random urandom tty; do test -c /dev/$d && echo $d; "
                   "done; head -c 5 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; "
                   "test -L /dev/fd && echo fd; grep -c ' /dev/pts devpts' /proc/mounts; "
                   "grep -c ' /dev/shm tmpfs' /proc/mounts",
                   NULL);
    assert_string_equal(out, "null\nzero\nfull\nrandom\nurandom\ntty\n5\nnull-ok\nfd\n1\n1\n");
    free(out);
}

static void
test_sys_readonly(void **state)
{
    (void)state;
    char *out = sh("awk '$2 == \"/sys\" { print $3, substr($4, 1, 3) }' /proc/mounts; "
                   "touch /sys/sw-test 2>&1; echo 1 > /sys/kernel/uevent_helper 2>&1 || true",
                   NULL);
    assert_non_null(strstr(out, "sysfs ro,"));
    assert_non_null(strstr(out, "Read-only file system"));
    free(out);
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
    char *out = sh("grep ':' /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/flags",
                   net_none);
    assert_string_equal(out, "lo\n0x9\n"); /* IFF_UP | IFF_LOOPBACK */
    free(out);
}

static void
limits_ro(struct ctr_spec *spec)
{
    assert_int_equal(ctr_spec_add_rlimit(spec, RLIMIT_NOFILE, 100, 200, NULL), 0);
    spec->root.readonly = true;
}

static void
test_rlimits_and_readonly_root(void **state)
{
    (void)state;
    char *out = sh("ulimit -n; touch /x 2>/dev/null && echo rw || echo ro; "
                   "touch /tmp/x 2>/dev/null && echo rw || echo ro",
                   limits_ro);
    assert_string_equal(out, "100\nro\nro\n");
    free(out);
}

/* Is there a process on the host whose command line has marker? */
static bool
process_with_marker(const char *marker)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
            buf[n] = '\0';
            if (strcmp(buf + i, marker) == 0)
                found = true;
        }
    }
    closedir(d);
    return found;
}

static void
test_background_process_killed(void **state)
{
    (void)state;
    char marker[64], script[256];
    snprintf(marker, sizeof marker, "sw-exec-marker-%d", (int)getpid());
    snprintf(script, sizeof script, "sh -c 'sleep 1000; true' %s & sleep 0.2; echo started",
             marker);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *out = sh(script, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_string_equal(out, "started\n");
    free(out);
    assert_true(t1.tv_sec - t0.tv_sec < 10);
    assert_false(process_with_marker(marker));
    assert_no_children();
}

static void
test_missing_command(void **state)
{
    (void)state;
    const char *argv[] = {"nosuchcmd", "arg", NULL};
    struct ctr_spec spec;
    make_spec(&spec, argv);
    add_defaults(&spec);
    struct ctr_result res;
    struct sw_error *err = NULL;
    assert_int_equal(ctr_run(ctr_native_executor(), &res, &spec, NULL, &err), -SW_ENOTFOUND);
    assert_non_null(err);
    assert_string_equal(err->msg, "exec: \"nosuchcmd\": executable file not found in $PATH");
    sw_error_free(err);
    err = NULL;

    const char *argv2[] = {"/bin/nosuchcmd", NULL};
    assert_int_equal(ctr_spec_set_args(&spec, argv2, NULL), 0);
    assert_int_equal(ctr_run(ctr_native_executor(), &res, &spec, NULL, &err), -SW_ENOTFOUND);
    assert_string_equal(err->msg, "exec: \"/bin/nosuchcmd\": No such file or directory");
    sw_error_free(err);
    err = NULL;

    const char *argv3[] = {"true", NULL};
    assert_int_equal(ctr_spec_set_args(&spec, argv3, NULL), 0);
    assert_int_equal(ctr_spec_set_cwd(&spec, "/no/such/dir", NULL), 0);
    assert_int_equal(ctr_run(ctr_native_executor(), &res, &spec, NULL, &err), -SW_ENOTFOUND);
    assert_string_equal(err->msg, "chdir to cwd (\"/no/such/dir\") set in config.json failed: "
                                  "No such file or directory");
    sw_error_free(err);
    err = NULL;

    /* a mount that cannot be made is a clean error too */
    assert_int_equal(ctr_spec_set_cwd(&spec, "/", NULL), 0);
    assert_int_equal(ctr_spec_add_mount(&spec, "/mnt", "bind", "/no/such/source", "rbind", NULL),
                     0);
    assert_int_equal(ctr_run(ctr_native_executor(), &res, &spec, NULL, &err), -SW_EIO);
    assert_non_null(strstr(err->msg, "/no/such/source"));
    sw_error_free(err);
    ctr_spec_clear(&spec);
    assert_no_children();
}

static void
test_cancel(void **state)
{
    (void)state;
    const char *argv[] = {"sleep", "100", NULL};
    struct ctr_spec spec;
    make_spec(&spec, argv);
    add_defaults(&spec);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    assert_true(tfd >= 0);
    struct itimerspec its = {.it_value = {.tv_nsec = 300 * 1000 * 1000}};
    assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
    struct capture c = {0};
    struct ctr_io io = {on_output, &c, tfd};
    struct ctr_result res;
    struct sw_error *err = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(ctr_run(ctr_native_executor(), &res, &spec, &io, &err), -SW_EINTERNAL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_string_equal(err->msg, "canceled");
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 5.0);
    sw_error_free(err);
    close(tfd);
    capture_free(&c);
    ctr_spec_clear(&spec);
    assert_no_children();
}

static void
test_no_leaks(void **state)
{
    (void)state;
    char *out = sh("true", NULL);
    free(out);
    assert_no_mounts_below_dir();
    assert_no_children();
    /* nothing mounted inside the root directory on the host either */
    char proc[256];
    snprintf(proc, sizeof proc, "%s/proc/self", fx.root);
    assert_int_equal(access(proc, F_OK), -1);
}

/* The runtime-spec schemas: $SLIPWAY_CONFORMANCE_DIR, or ../shared/conformance next to the repo. */
static void
schema_dir(char *buf, size_t n)
{
    const char *env = getenv("SLIPWAY_CONFORMANCE_DIR");
    int len;
    if (env && *env) {
        len = snprintf(buf, n, "%s/oci-schemas/runtime-spec/schema", env);
    } else {
        char src[512];
        snprintf(src, sizeof src, "%s", __FILE__);
        char *t = strstr(src, "/tests/exec/test_exec.c");
        if (!t)
            fail_msg("cannot locate the runtime-spec schemas: set SLIPWAY_CONFORMANCE_DIR");
        *t = '\0';
        len = snprintf(buf, n, "%s/../shared/conformance/oci-schemas/runtime-spec/schema", src);
    }
    char file[1024];
    if (len < 0 || (size_t)len >= n ||
        snprintf(file, sizeof file, "%s/config-schema.json", buf) >= (int)sizeof file)
        fail_msg("the runtime-spec schema path is too long");
    if (access(file, R_OK) != 0)
        fail_msg("runtime-spec schema %s is missing: set SLIPWAY_CONFORMANCE_DIR", file);
}

static const char validate_py[] =
    "import json, os, sys, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "try:\n"
    "    import jsonschema\n"
    "except ImportError:\n"
    "    sys.stderr.write('test_exec: the jsonschema module is missing: install '\n"
    "                     'python3-jsonschema\\n')\n"
    "    sys.exit(2)\n"
    "d = os.path.abspath(sys.argv[1])\n"
    "store = {}\n"
    "for n in os.listdir(d):\n"
    "    if n.endswith('.json'):\n"
    "        with open(os.path.join(d, n)) as f:\n"
    "            store['file://' + os.path.join(d, n)] = json.load(f)\n"
    "base = 'file://' + os.path.join(d, 'config-schema.json')\n"
    "schema = store[base]\n"
    "def offline(uri):\n"
    "    raise Exception('unknown schema reference ' + uri)\n"
    "resolver = jsonschema.RefResolver(base, schema, store=store,\n"
    "                                  handlers={'http': offline, 'https': offline})\n"
    "v = jsonschema.Draft4Validator(schema, resolver=resolver)\n"
    "bad = 0\n"
    "for p in sys.argv[2:]:\n"
    "    with open(p) as f:\n"
    "        doc = json.load(f)\n"
    "    for e in v.iter_errors(doc):\n"
    "        bad += 1\n"
    "        print('%s: %s: %s' % (p, '/'.join(map(str, e.absolute_path)), e.message))\n"
    "sys.exit(1 if bad else 0)\n";

/* Validate the JSON files; returns python's exit status. */
static int
validate(const char *const *files, size_t n)
{
    char dir[512];
    schema_dir(dir, sizeof dir);
    char script[256];
    snprintf(script, sizeof script, "%s/validate.py", fx.dir);
    write_text(script, validate_py);
    struct sw_buf cmd = {0};
    assert_int_equal(sw_buf_printf(&cmd, "python3 %s %s", script, dir), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sw_buf_printf(&cmd, " %s", files[i]), 0);
    int st = system(sw_buf_cstr(&cmd));
    sw_buf_free(&cmd);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 2 || WEXITSTATUS(st) == 127)
        fail_msg("python3 with the jsonschema module is needed (apt-get install "
                 "python3-jsonschema); it is missing");
    return WEXITSTATUS(st);
}

static void
test_config_json_schema(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo hi", NULL};
    struct ctr_spec spec;
    make_spec(&spec, argv);
    spec.namespaces |= CTR_NS_NET;
    as_app(&spec);
    assert_int_equal(ctr_spec_add_rlimit(&spec, RLIMIT_NOFILE, 1024, 4096, NULL), 0);
    add_defaults(&spec);
    char *json = NULL;
    assert_int_equal(ctr_spec_to_json(&json, &spec, NULL), 0);
    assert_non_null(strstr(json, "\"ociVersion\": \"1.0.2\""));
    assert_non_null(strstr(json, "\"type\": \"RLIMIT_NOFILE\""));
    assert_non_null(strstr(json, "\"type\": \"network\""));
    assert_non_null(strstr(json, "\"destination\": \"/etc/resolv.conf\""));
    char f1[128], f2[128], f3[128];
    snprintf(f1, sizeof f1, "%s/config-root.json", fx.dir);
    write_text(f1, json);
    free(json);
    ctr_spec_clear(&spec);

    make_spec(&spec, argv);
    assert_int_equal(ctr_spec_set_rootless(&spec, 1000, 1000, false, "/etc", NULL), 0);
    add_defaults(&spec);
    assert_int_equal(ctr_spec_to_json(&json, &spec, NULL), 0);
    assert_non_null(strstr(json, "\"uidMappings\""));
    assert_non_null(strstr(json, "\"type\": \"user\""));
    snprintf(f2, sizeof f2, "%s/config-rootless.json", fx.dir);
    write_text(f2, json);
    free(json);
    ctr_spec_clear(&spec);

    const char *good[] = {f1, f2};
    assert_int_equal(validate(good, 2), 0);
    /* and the validator does reject a broken document */
    snprintf(f3, sizeof f3, "%s/config-bad.json", fx.dir);
    write_text(f3, "{\"ociVersion\": \"1.0.2\", \"process\": {\"args\": 5, \"cwd\": \"/\"}}");
    const char *bad[] = {f3};
    assert_int_equal(validate(bad, 1), 1);

    struct sw_error *err = NULL;
    ctr_spec_init(&spec);
    assert_int_equal(ctr_spec_to_json(&json, &spec, &err), -SW_EINVAL);
    sw_error_free(err);
}

static void
test_rootless_subid(void **state)
{
    (void)state;
    char etc[128];
    snprintf(etc, sizeof etc, "%s/subids", fx.dir);
    assert_int_equal(mkdir(etc, 0755), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/subuid", etc);
    write_text(path, "someone:100000:65536\n4242:200000:65536\n");
    snprintf(path, sizeof path, "%s/subgid", etc);
    write_text(path, "4242:300000:1000\n");
    struct ctr_spec spec;
    ctr_spec_init(&spec);
    assert_int_equal(ctr_spec_set_rootless(&spec, 4242, 4343, true, etc, NULL), 0);
    assert_int_equal(spec.n_uid_mappings, 2);
    assert_int_equal(spec.uid_mappings[0].host_id, 4242);
    assert_int_equal(spec.uid_mappings[1].container_id, 1);
    assert_int_equal(spec.uid_mappings[1].host_id, 200000);
    assert_int_equal(spec.uid_mappings[1].size, 65536);
    assert_int_equal(spec.gid_mappings[0].host_id, 4343);
    assert_int_equal(spec.gid_mappings[1].host_id, 300000);
    assert_true(spec.namespaces & CTR_NS_USER);
    /* no range: a single-id map */
    assert_int_equal(ctr_spec_set_rootless(&spec, 5000, 5000, true, etc, NULL), 0);
    assert_int_equal(spec.n_uid_mappings, 1);
    assert_int_equal(spec.n_gid_mappings, 1);
    ctr_spec_clear(&spec);
}

static long
read_long(const char *path)
{
    char *s = read_file(path);
    if (!s)
        return -1;
    long v = strtol(s, NULL, 10);
    free(s);
    return v;
}

/* In a forked child as nobody: a container with a user namespace and a single-id map. */
static int
rootless_child(void)
{
    if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
        fprintf(stderr, "rootless: cannot become nobody: %s\n", strerror(errno));
        return 1;
    }
    const char *argv[] = {"sh", "-c",
                          "id -u; id -g; cat /proc/self/uid_map | tr -s ' '; echo $$; "
                          "test -c /dev/null && echo dev-null; hostname; "
                          "awk '$2 == \"/sys\" { print substr($4, 1, 3) }' /proc/mounts | head -1",
                          NULL};
    struct ctr_spec spec;
    make_spec(&spec, argv);
    if (ctr_spec_set_rootless(&spec, 65534, 65534, false, "/etc", NULL) != 0)
        return 1;
    add_defaults(&spec);
    struct capture c = {0};
    struct ctr_io io = {on_output, &c, -1};
    struct ctr_result res;
    struct sw_error *err = NULL;
    int r = ctr_run(ctr_native_executor(), &res, &spec, &io, &err);
    if (r != 0) {
        fprintf(stderr, "rootless: ctr_run: %s\n", err->msg);
        return 1;
    }
    const char *want = "0\n0\n 0 65534 1\n2\ndev-null\nsw-test\nro,\n";
    if (res.signaled || res.exit_code != 0 || strcmp(sw_buf_cstr(&c.out), want) != 0) {
        fprintf(stderr, "rootless: exit %d, stdout:\n%s\nstderr:\n%s\n", res.exit_code,
                sw_buf_cstr(&c.out), sw_buf_cstr(&c.err));
        return 1;
    }
    errno = 0;
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
        fprintf(stderr, "rootless: a child was left behind\n");
        return 1;
    }
    capture_free(&c);
    ctr_spec_clear(&spec);
    return 0;
}

static void
test_rootless(void **state)
{
    (void)state;
    long clone_ok = read_long("/proc/sys/kernel/unprivileged_userns_clone");
    if (clone_ok == 0)
        fail_msg("unprivileged user namespaces are disabled "
                 "(/proc/sys/kernel/unprivileged_userns_clone = 0): rootless mode cannot work");
    if (read_long("/proc/sys/user/max_user_namespaces") == 0)
        fail_msg("user namespaces are disabled (/proc/sys/user/max_user_namespaces = 0): "
                 "rootless mode cannot work");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(rootless_child());
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_no_mounts_below_dir();
}

/* As root, ctr_userns_enter does nothing. */
static void
test_userns_enter_as_root(void **state)
{
    (void)state;
    assert_false(sw_in_user_namespace());
    enum ctr_userns_kind kind = CTR_USERNS_SUBID;
    assert_int_equal(ctr_userns_enter(&kind, "/etc", NULL), 0);
    assert_int_equal(kind, CTR_USERNS_NONE);
    assert_false(sw_in_user_namespace());
    assert_int_equal(geteuid(), 0);
}

/* In a forked child as nobody: the rootless build's user namespace (a single-id map: fx.dir has
 * no subuid file), then a step run from it with the default spec (no CTR_NS_USER of its own). */
static int
build_userns_child(void)
{
    if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
        fprintf(stderr, "build userns: cannot become nobody: %s\n", strerror(errno));
        return 1;
    }
    enum ctr_userns_kind kind = CTR_USERNS_NONE;
    struct sw_error *err = NULL;
    if (ctr_userns_enter(&kind, fx.dir, &err) != 0 || kind != CTR_USERNS_SINGLE) {
        fprintf(stderr, "build userns: ctr_userns_enter: %d %s\n", (int)kind, err ? err->msg : "");
        return 1;
    }
    char *map = read_file("/proc/self/uid_map");
    bool mapped = map && strstr(map, " 0 ") && strstr(map, " 65534 ") && strstr(map, " 1\n");
    free(map);
    if (geteuid() != 0 || getegid() != 0 || !sw_in_user_namespace() || !mapped) {
        fprintf(stderr, "build userns: not 0:0 of a single-id user namespace\n");
        return 1;
    }
    const char *argv[] = {"sh", "-c",
                          "id -u; id -g; test -c /dev/null && echo dev-null; "
                          "awk '$2 == \"/sys\" { print substr($4, 1, 3) }' /proc/mounts | head -1; "
                          "touch /tmp/rl-chown && { chown 1000 /tmp/rl-chown 2>/dev/null || "
                          "echo no-chown; }; rm -f /tmp/rl-chown",
                          NULL};
    struct ctr_spec spec;
    make_spec(&spec, argv);
    add_defaults(&spec);
    /* the defaults know they are in a user namespace: no gid=5 for devpts, /sys bound */
    for (size_t i = 0; i < spec.n_mounts; i++) {
        const struct ctr_mount *m = &spec.mounts[i];
        if ((!strcmp(m->destination, "/dev/pts") && sw_strv_contains(&m->options, "gid=5")) ||
            (!strcmp(m->destination, "/sys") && strcmp(m->type, "bind"))) {
            fprintf(stderr, "build userns: mount %s is not for a user namespace\n", m->destination);
            return 1;
        }
    }
    struct capture c = {0};
    struct ctr_io io = {on_output, &c, -1};
    struct ctr_result res;
    if (ctr_run(ctr_native_executor(), &res, &spec, &io, &err) != 0) {
        fprintf(stderr, "build userns: ctr_run: %s\n", err->msg);
        return 1;
    }
    const char *want = "0\n0\ndev-null\nro,\nno-chown\n";
    if (res.signaled || res.exit_code != 0 || strcmp(sw_buf_cstr(&c.out), want) != 0) {
        fprintf(stderr, "build userns: exit %d, stdout:\n%s\nstderr:\n%s\n", res.exit_code,
                sw_buf_cstr(&c.out), sw_buf_cstr(&c.err));
        return 1;
    }
    /* USER 1000 does not exist in a single-id map: a clear error, not a mystery exit code */
    spec.process.uid = spec.process.gid = 1000;
    int r = ctr_run(ctr_native_executor(), &res, &spec, &io, &err);
    if (r != -SW_EINVAL || !strstr(err->msg, "setgid 1000: Invalid argument (not mapped in the "
                                             "user namespace")) {
        fprintf(stderr, "build userns: USER 1000: %d %s\n", r, err ? err->msg : "");
        return 1;
    }
    sw_error_free(err);
    capture_free(&c);
    ctr_spec_clear(&spec);
    return 0;
}

static void
test_build_userns(void **state)
{
    (void)state;
    if (read_long("/proc/sys/user/max_user_namespaces") == 0)
        fail_msg("user namespaces are disabled (/proc/sys/user/max_user_namespaces = 0): "
                 "rootless mode cannot work");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(build_userns_child());
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_no_mounts_below_dir();
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
    struct ctr_spec spec;
    make_spec(&spec, argv);
    add_defaults(&spec);
    struct capture c = {0};
    struct ctr_io io = {on_output, &c, -1};
    struct ctr_result res;
    if (ctr_run(ctr_native_executor(), &res, &spec, &io, NULL) == 0 && !res.signaled &&
        res.exit_code == 0)
        pr->out = sw_buf_detach(&c.out);
    capture_free(&c);
    ctr_spec_clear(&spec);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pr->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return NULL;
}

/* Two steps at once from two threads: a quick one must not wait for a slow one (no descriptor of
 * one run may leak into the other's container and hold its pipes open). */
static void
test_parallel_runs(void **state)
{
    (void)state;
    struct par_run slow = {"sleep 2; echo slow", NULL, 0},
                   quick = {"sleep 0.3; echo quick", NULL, 0};
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
    assert_no_children();
}

static void
test_spec_validation(void **state)
{
    (void)state;
    struct ctr_spec spec;
    const char *argv[] = {"true", NULL};
    make_spec(&spec, argv);
    struct ctr_result res;
    struct sw_error *err = NULL;
    spec.namespaces = CTR_NS_MOUNT; /* the native executor needs its own pid 1 */
    assert_int_equal(ctr_run(ctr_native_executor(), &res, &spec, NULL, &err), -SW_EUNSUPPORTED);
    sw_error_free(err);
    err = NULL;
    assert_int_equal(ctr_spec_add_mount(&spec, "relative", "tmpfs", NULL, NULL, &err), -SW_EINVAL);
    sw_error_free(err);
    assert_string_equal(ctr_executor_name(ctr_native_executor()), "native");
    ctr_spec_clear(&spec);
    ctr_spec_clear(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_validation),
        cmocka_unit_test(test_config_json_schema),
        cmocka_unit_test(test_rootless_subid),
        cmocka_unit_test(test_output_streams),
        cmocka_unit_test(test_exit_codes_and_signal),
        cmocka_unit_test(test_env_and_cwd),
        cmocka_unit_test(test_user_and_groups),
        cmocka_unit_test(test_hostname_and_etc),
        cmocka_unit_test(test_pid_namespace),
        cmocka_unit_test(test_dev),
        cmocka_unit_test(test_sys_readonly),
        cmocka_unit_test(test_network_none),
        cmocka_unit_test(test_rlimits_and_readonly_root),
        cmocka_unit_test(test_background_process_killed),
        cmocka_unit_test(test_missing_command),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_parallel_runs),
        cmocka_unit_test(test_no_leaks),
        cmocka_unit_test(test_rootless),
        cmocka_unit_test(test_userns_enter_as_root),
        cmocka_unit_test(test_build_userns),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
