/* Unit tests for cache/store.c, store_index.c, store_gc.c: the embedded OCI-layout store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/support.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../cache/store.h"

#define HELLO_SHA256 "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

/* ---- fixture: a fresh directory under /tmp, removed (and unmounted) in teardown ------------- */

struct fx {
    char *dir;        /* mkdtemp */
    char *root;       /* the store root, dir/store unless a test changes it */
    char *mnt;        /* a tmpfs mounted by the test, or NULL */
    struct store *st; /* closed in teardown */
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char tmpl[] = "/tmp/sw-store-test-XXXXXX";
    if (!f || !mkdtemp(tmpl))
        return -1;
    f->dir = strdup(tmpl);
    if (asprintf(&f->root, "%s/store", f->dir) < 0)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    if (f->mnt) {
        if (umount(f->mnt) < 0)
            umount2(f->mnt, MNT_DETACH);
        free(f->mnt);
    }
    ts_rmtree(f->dir);
    free(f->dir);
    free(f->root);
    free(f);
    return 0;
}

/* ---- helpers ----------------------------------------------------------------------------------
 */

static struct store *
open_ok(const char *root)
{
    struct store *st = NULL;
    struct sw_error *err = NULL;
    if (store_open(&st, root, &err) < 0)
        fail_msg("store_open(%s): %s", root, err->msg);
    return st;
}

/* Assert a failure with this code whose message contains `want`; frees the error. */
static void
expect_err(int r, int code, struct sw_error **err, const char *want)
{
    assert_int_equal(r, -code);
    assert_non_null(*err);
    assert_int_equal((*err)->code, code);
    if (!strstr((*err)->msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", (*err)->msg, want);
    sw_error_freep(err);
}

/* Entries in dir/sub, without . and .. */
static size_t
count_entries(const char *dir, const char *sub)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, sub) > 0);
    DIR *d = opendir(path);
    if (!d)
        fail_msg("opendir %s: %s", path, strerror(errno));
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    free(path);
    return n;
}

static char *
blob_file(const struct fx *f, const struct sw_digest *d)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/blobs/sha256/%s", f->root, sw_digest_hex(d)) > 0);
    return p;
}

static struct sw_digest
put_ok(struct store *st, const char *data)
{
    struct sw_digest d;
    struct sw_error *err = NULL;
    if (store_blob_put(st, data, strlen(data), &d, &err) < 0)
        fail_msg("store_blob_put: %s", err->msg);
    return d;
}

static json_t *
load_json_file(const char *dir, const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    json_error_t jerr;
    json_t *j = json_load_file(p, 0, &jerr);
    if (!j)
        fail_msg("%s: %s", p, jerr.text);
    free(p);
    return j;
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    free(p);
}

/* An image: a layer, a config, a manifest and (optionally) an index over the manifest. */
struct image {
    struct sw_digest layer, config, manifest, index;
    uint64_t layer_size, config_size, manifest_size, index_size;
};

static struct image
make_image(struct store *st, const char *layer_text, bool with_index)
{
    struct image im = {0};
    struct sw_error *err = NULL;
    im.layer = put_ok(st, layer_text);
    im.layer_size = strlen(layer_text);
    json_t *config = json_pack("{s:s, s:s, s:{s:s, s:[s]}}", "architecture", "amd64", "os", "linux",
                               "rootfs", "type", "layers", "diff_ids", im.layer.str);
    assert_int_equal(store_json_put(st, config, &im.config, &im.config_size, &err), 0);
    json_t *manifest =
        json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2,
                  "mediaType", STORE_MT_OCI_MANIFEST, "config", "mediaType", STORE_MT_OCI_CONFIG,
                  "digest", im.config.str, "size", (json_int_t)im.config_size, "layers",
                  "mediaType", "application/vnd.oci.image.layer.v1.tar", "digest", im.layer.str,
                  "size", (json_int_t)im.layer_size);
    assert_int_equal(store_json_put(st, manifest, &im.manifest, &im.manifest_size, &err), 0);
    if (with_index) {
        json_t *index = json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s, s:s}}]}", "schemaVersion",
                                  2, "mediaType", STORE_MT_OCI_INDEX, "manifests", "mediaType",
                                  STORE_MT_OCI_MANIFEST, "digest", im.manifest.str, "size",
                                  (json_int_t)im.manifest_size, "platform", "os", "linux",
                                  "architecture", "amd64");
        assert_int_equal(store_json_put(st, index, &im.index, &im.index_size, &err), 0);
        json_decref(index);
    }
    json_decref(config);
    json_decref(manifest);
    return im;
}

static struct store_desc
manifest_desc(const struct image *im)
{
    struct store_desc d = {
        .media_type = STORE_MT_OCI_MANIFEST, .digest = im->manifest, .size = im->manifest_size};
    return d;
}

static void
tag_ok(struct store *st, const char *name, const char *full, const struct store_desc *d)
{
    struct sw_error *err = NULL;
    if (store_tag_set(st, name, full, d, &err) < 0)
        fail_msg("store_tag_set(%s): %s", name, err->msg);
}

/* ---- opening ----------------------------------------------------------------------------------
 */

static void
test_default_root(void **state)
{
    (void)state;
    char *saved[3] = {NULL, NULL, NULL};
    const char *vars[3] = {"SLIPWAY_ROOT", "XDG_DATA_HOME", "HOME"};
    for (int i = 0; i < 3; i++)
        if (getenv(vars[i]))
            saved[i] = strdup(getenv(vars[i]));

    char *root = NULL;
    struct sw_error *err = NULL;
    setenv("SLIPWAY_ROOT", "/srv/slipway-store", 1);
    assert_int_equal(store_default_root(&root, &err), 0);
    assert_string_equal(root, "/srv/slipway-store");
    free(root);
    unsetenv("SLIPWAY_ROOT");
    if (geteuid() == 0) {
        assert_int_equal(store_default_root(&root, &err), 0);
        assert_string_equal(root, "/var/lib/slipway");
        free(root);

        /* The non-root rules, in a child that drops its effective uid. */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int code = 0;
            char *r = NULL;
            if (seteuid(65534) < 0)
                _exit(10);
            setenv("XDG_DATA_HOME", "/xdg/data", 1);
            setenv("HOME", "/home/u", 1);
            if (store_default_root(&r, NULL) < 0 || strcmp(r, "/xdg/data/slipway"))
                code = 11;
            free(r);
            setenv("XDG_DATA_HOME", "relative/ignored", 1);
            if (!code &&
                (store_default_root(&r, NULL) < 0 || strcmp(r, "/home/u/.local/share/slipway")))
                code = 12;
            free(r);
            unsetenv("XDG_DATA_HOME");
            unsetenv("HOME");
            if (!code && store_default_root(&r, NULL) != -SW_ENOTFOUND)
                code = 13;
            _exit(code);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    for (int i = 0; i < 3; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        else
            unsetenv(vars[i]);
        free(saved[i]);
    }
}

static void
test_open_create_reopen(void **state)
{
    struct fx *f = *state;
    free(f->root);
    assert_true(asprintf(&f->root, "%s/a/b/store/", f->dir) > 0); /* nested, trailing slash */
    f->st = open_ok(f->root);
    f->root[strlen(f->root) - 1] = '\0';
    assert_string_equal(store_root(f->st), f->root);

    json_t *layout = load_json_file(f->root, "oci-layout");
    assert_string_equal(json_string_value(json_object_get(layout, "imageLayoutVersion")), "1.0.0");
    json_decref(layout);
    json_t *idx = load_json_file(f->root, "index.json");
    assert_int_equal(json_integer_value(json_object_get(idx, "schemaVersion")), 2);
    assert_string_equal(json_string_value(json_object_get(idx, "mediaType")), STORE_MT_OCI_INDEX);
    assert_true(json_is_array(json_object_get(idx, "manifests")));
    assert_int_equal(json_array_size(json_object_get(idx, "manifests")), 0);
    json_decref(idx);

    struct stat sb;
    char *p = NULL;
    const char *dirs[] = {"blobs/sha256", "tmp", "locks"};
    const unsigned modes[] = {0755, 0700, 0700};
    for (int i = 0; i < 3; i++) {
        assert_true(asprintf(&p, "%s/%s", f->root, dirs[i]) > 0);
        assert_int_equal(stat(p, &sb), 0);
        assert_true(S_ISDIR(sb.st_mode));
        if (i > 0)
            assert_int_equal(sb.st_mode & 0777, modes[i]);
        free(p);
    }

    struct sw_digest d = put_ok(f->st, "hello");
    store_close(f->st);
    f->st = open_ok(f->root); /* reopen: validates, keeps the content */
    assert_true(store_blob_exists(f->st, &d));
    struct store_tag_list l;
    struct sw_error *err = NULL;
    assert_int_equal(store_tag_list(f->st, &l, &err), 0);
    assert_int_equal(l.n, 0);
    store_tag_list_free(&l);
}

static void
test_open_errors(void **state)
{
    struct fx *f = *state;
    struct store *st = NULL;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    store_close(f->st);
    f->st = NULL;

    write_file(f->root, "oci-layout", "{\"imageLayoutVersion\":\"2.0.0\"}");
    expect_err(store_open(&st, f->root, &err), SW_EUNSUPPORTED, &err, "oci-layout");
    assert_null(st);
    write_file(f->root, "oci-layout", "{\"imageLayoutVersion\":\"2.0.0\"}");
    assert_int_equal(store_open(&st, f->root, &err), -SW_EUNSUPPORTED);
    assert_non_null(strstr(err->msg, "2.0.0"));
    sw_error_freep(&err);
    write_file(f->root, "oci-layout", "not json");
    expect_err(store_open(&st, f->root, &err), SW_EPARSE, &err, "/oci-layout: invalid JSON");
    write_file(f->root, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");

    write_file(f->root, "index.json", "{\"schemaVersion\": 2, \"manifests\": [");
    expect_err(store_open(&st, f->root, &err), SW_EPARSE, &err, "/index.json: corrupt");
    write_file(f->root, "index.json", "{\"schemaVersion\": 1, \"manifests\": []}");
    expect_err(store_open(&st, f->root, &err), SW_EPARSE, &err, "index.json");
    write_file(f->root, "index.json", "{\"schemaVersion\": 2, \"manifests\": [{\"digest\": 1}]}");
    expect_err(store_open(&st, f->root, &err), SW_EPARSE, &err, "manifests[0]");
    /* Another tool's minimal index (no mediaType) is fine. */
    write_file(f->root, "index.json", "{\"schemaVersion\": 2, \"manifests\": []}");
    f->st = open_ok(f->root);
    store_close(f->st);
    f->st = NULL;

    char *p = NULL;
    assert_true(asprintf(&p, "%s/oci-layout", f->root) > 0);
    unlink(p);
    free(p);
    expect_err(store_open(&st, f->root, &err), SW_EINVAL, &err, "oci-layout: missing");
    expect_err(store_open(&st, "", &err), SW_EINVAL, &err, "empty");
}

/* ---- blobs ------------------------------------------------------------------------------------
 */

static void
test_blob_put_get(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    struct sw_digest d = put_ok(f->st, "hello");
    assert_string_equal(d.str, HELLO_SHA256);
    assert_true(store_blob_exists(f->st, &d));
    uint64_t size = 0;
    assert_int_equal(store_blob_size(f->st, &d, &size, &err), 0);
    assert_int_equal(size, 5);

    void *data = NULL;
    size_t len = 0;
    assert_int_equal(store_blob_read(f->st, &d, 1024, &data, &len, &err), 0);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello"); /* NUL-terminated */
    free(data);
    expect_err(store_blob_read(f->st, &d, 4, &data, &len, &err), SW_EINVAL, &err, "more than");

    char *path = NULL;
    assert_int_equal(store_blob_path(f->st, &d, &path, &err), 0);
    char *want = blob_file(f, &d);
    assert_string_equal(path, want);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 5);
    free(path);
    free(want);

    int fd = -1;
    assert_int_equal(store_blob_open(f->st, &d, &fd, &size, &err), 0);
    char buf[16] = {0};
    assert_int_equal(read(fd, buf, sizeof buf), 5);
    assert_string_equal(buf, "hello");
    close(fd);

    /* idempotent: the same content, the same single file */
    struct sw_digest again = put_ok(f->st, "hello");
    assert_string_equal(again.str, d.str);
    assert_int_equal(count_entries(f->root, "blobs/sha256"), 1);
    assert_int_equal(count_entries(f->root, "tmp"), 0);

    struct sw_digest missing;
    assert_int_equal(sw_digest_bytes(&missing, "nope", 4, &err), 0);
    assert_false(store_blob_exists(f->st, &missing));
    expect_err(store_blob_size(f->st, &missing, &size, &err), SW_ENOTFOUND, &err,
               "not found in the store");
    expect_err(store_blob_read(f->st, &missing, 100, &data, &len, &err), SW_ENOTFOUND, &err,
               missing.str);
    expect_err(store_blob_open(f->st, &missing, &fd, NULL, &err), SW_ENOTFOUND, &err, "not found");
    struct sw_digest bogus = {.str = "sha256:../../etc/passwd"};
    assert_false(store_blob_exists(f->st, &bogus));
    expect_err(store_blob_path(f->st, &bogus, &path, &err), SW_EINVAL, &err, "invalid digest");

    /* an empty blob is a blob too */
    struct sw_digest empty;
    assert_int_equal(store_blob_put(f->st, "", 0, &empty, &err), 0);
    assert_true(store_blob_exists(f->st, &empty));
}

static void
test_writer_mismatch_and_abort(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    struct sw_digest other;
    assert_int_equal(sw_digest_bytes(&other, "xyz", 3, &err), 0);

    struct store_writer *w = NULL;
    assert_int_equal(store_writer_begin(f->st, &w, &err), 0);
    assert_int_equal(count_entries(f->root, "tmp"), 1); /* the data goes to tmp/ */
    assert_int_equal(store_writer_write(w, "ab", 2, &err), 0);
    assert_int_equal(store_writer_write(w, "c", 1, &err), 0);
    assert_int_equal(store_writer_size(w), 3);
    expect_err(store_writer_commit(w, &other, NULL, NULL, &err), SW_EINVAL, &err,
               "blob digest mismatch: expected sha256:");
    assert_int_equal(count_entries(f->root, "tmp"), 0);
    assert_int_equal(count_entries(f->root, "blobs/sha256"), 0);

    assert_int_equal(store_writer_begin(f->st, &w, &err), 0);
    assert_int_equal(store_writer_write(w, "abc", 3, &err), 0);
    store_writer_abort(w);
    assert_int_equal(count_entries(f->root, "tmp"), 0);
    assert_int_equal(count_entries(f->root, "blobs/sha256"), 0);

    /* the right expectation commits; committing the same blob again is a cheap success */
    struct sw_digest abc, got;
    uint64_t size = 0;
    assert_int_equal(sw_digest_bytes(&abc, "abc", 3, &err), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(store_writer_begin(f->st, &w, &err), 0);
        assert_int_equal(store_writer_write(w, "abc", 3, &err), 0);
        assert_int_equal(store_writer_commit(w, i ? NULL : &abc, &got, &size, &err), 0);
        assert_string_equal(got.str, abc.str);
        assert_int_equal(size, 3);
        assert_int_equal(count_entries(f->root, "tmp"), 0);
        assert_int_equal(count_entries(f->root, "blobs/sha256"), 1);
    }
    char *p = blob_file(f, &abc);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    free(p);
}

static void
test_writer_64mib(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    const size_t chunk = 1 << 20, nchunks = 64;
    unsigned char *buf = malloc(chunk);
    assert_non_null(buf);
    struct sw_hasher *h = NULL;
    assert_int_equal(sw_hasher_new(&h, &err), 0);
    struct store_writer *w = NULL;
    assert_int_equal(store_writer_begin(f->st, &w, &err), 0);
    for (size_t i = 0; i < nchunks; i++) {
        for (size_t j = 0; j < chunk; j++)
            buf[j] = (unsigned char)(i * 31 + j * 7 + (j >> 9));
        /* uneven pieces, to exercise the chunking */
        size_t a = chunk / 3;
        assert_int_equal(store_writer_write(w, buf, a, &err), 0);
        assert_int_equal(store_writer_write(w, buf + a, chunk - a, &err), 0);
        assert_int_equal(sw_hasher_update(h, buf, chunk, &err), 0);
    }
    struct sw_digest want, got;
    uint64_t size = 0;
    assert_int_equal(sw_hasher_final(h, &want, &err), 0);
    sw_hasher_free(h);
    assert_int_equal(store_writer_commit(w, NULL, &got, &size, &err), 0);
    assert_string_equal(got.str, want.str);
    assert_int_equal(size, (uint64_t)chunk * nchunks);
    assert_int_equal(count_entries(f->root, "tmp"), 0);
    uint64_t bs = 0;
    assert_int_equal(store_blob_size(f->st, &got, &bs, &err), 0);
    assert_int_equal(bs, size);

    /* a huge blob is not slurped */
    void *data = NULL;
    size_t len = 0;
    expect_err(store_blob_read(f->st, &got, chunk, &data, &len, &err), SW_EINVAL, &err,
               "more than");
    assert_null(data);

    /* streaming it back gives the same digest */
    int fd = -1;
    assert_int_equal(store_blob_open(f->st, &got, &fd, &bs, &err), 0);
    assert_int_equal(sw_hasher_new(&h, &err), 0);
    ssize_t n;
    while ((n = read(fd, buf, chunk)) > 0)
        assert_int_equal(sw_hasher_update(h, buf, (size_t)n, &err), 0);
    close(fd);
    struct sw_digest back;
    assert_int_equal(sw_hasher_final(h, &back, &err), 0);
    assert_string_equal(back.str, want.str);
    sw_hasher_free(h);
    free(buf);
}

/* ---- JSON blobs -------------------------------------------------------------------------------
 */

static void
test_json_blobs(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    json_t *a = json_pack("{s:i, s:[i,i], s:s}", "b", 1, "a", 1, 2, "c", "x/y");
    json_t *b = json_pack("{s:s, s:[i,i], s:i}", "c", "x/y", "a", 1, 2, "b", 1);
    struct sw_digest da, db;
    uint64_t sa = 0, sb = 0;
    assert_int_equal(store_json_put(f->st, a, &da, &sa, &err), 0);
    assert_int_equal(store_json_put(f->st, b, &db, &sb, &err), 0);
    assert_string_equal(da.str, db.str);
    assert_int_equal(sa, sb);
    void *raw = NULL;
    size_t len = 0;
    assert_int_equal(store_blob_read(f->st, &da, 1024, &raw, &len, &err), 0);
    assert_string_equal(raw, "{\"a\":[1,2],\"b\":1,\"c\":\"x/y\"}");
    assert_int_equal(len, sa);
    free(raw);

    json_t *back = NULL;
    assert_int_equal(store_json_read(f->st, &da, STORE_MANIFEST_MAX_SIZE, &back, &err), 0);
    assert_true(json_equal(back, a));
    json_decref(back);
    json_decref(a);
    json_decref(b);

    struct sw_digest notjson = put_ok(f->st, "{oops");
    expect_err(store_json_read(f->st, &notjson, 1024, &back, &err), SW_EPARSE, &err,
               "invalid JSON");
    struct sw_digest array = put_ok(f->st, "[1,2]");
    expect_err(store_json_read(f->st, &array, 1024, &back, &err), SW_EPARSE, &err,
               "not a JSON object");
    expect_err(store_json_read(f->st, &da, 4, &back, &err), SW_EINVAL, &err, "more than");
}

/* ---- tags -------------------------------------------------------------------------------------
 */

static void
test_tags(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    struct image one = make_image(f->st, "layer one", false);
    struct image two = make_image(f->st, "layer two", true);

    struct store_annotation ann[] = {{"org.opencontainers.image.created", "2024-01-01T00:00:00Z"},
                                     {STORE_ANN_REF_NAME, "overridden"}};
    struct store_desc d1 = manifest_desc(&one);
    d1.has_platform = true;
    d1.platform = (struct store_platform){.os = "linux", .architecture = "arm64", .variant = "v8"};
    d1.annotations = ann;
    d1.nannotations = 2;
    tag_ok(f->st, "registry.example.com/team/app:1.2", NULL, &d1);
    tag_ok(f->st, "myimage:latest", "docker.io/library/myimage:latest", &d1);

    struct store_desc got = {0};
    assert_int_equal(store_tag_get(f->st, "myimage:latest", &got, &err), 0);
    assert_string_equal(got.media_type, STORE_MT_OCI_MANIFEST);
    assert_string_equal(got.digest.str, one.manifest.str);
    assert_int_equal(got.size, one.manifest_size);
    assert_true(got.has_platform);
    assert_string_equal(got.platform.os, "linux");
    assert_string_equal(got.platform.architecture, "arm64");
    assert_string_equal(got.platform.variant, "v8");
    assert_null(got.platform.os_version);
    assert_string_equal(store_desc_annotation(&got, STORE_ANN_REF_NAME), "myimage:latest");
    assert_string_equal(store_desc_annotation(&got, STORE_ANN_CONTAINERD_NAME),
                        "docker.io/library/myimage:latest");
    assert_string_equal(store_desc_annotation(&got, "org.opencontainers.image.created"),
                        "2024-01-01T00:00:00Z");
    store_desc_clear(&got);

    /* replace: same name, another image (an index this time), no full name any more */
    struct store_desc d2 = {
        .media_type = STORE_MT_OCI_INDEX,
        .digest = two.index,
        .size = two.index_size,
        .has_platform = true,
        .platform = {.os = "windows", .architecture = "amd64", .os_version = "10.0.17763.1234"}};
    tag_ok(f->st, "myimage:latest", NULL, &d2);
    assert_int_equal(store_tag_get(f->st, "myimage:latest", &got, &err), 0);
    assert_string_equal(got.digest.str, two.index.str);
    assert_string_equal(got.media_type, STORE_MT_OCI_INDEX);
    assert_string_equal(got.platform.os_version, "10.0.17763.1234");
    assert_null(store_desc_annotation(&got, STORE_ANN_CONTAINERD_NAME));
    store_desc_clear(&got);

    struct store_tag_list l;
    assert_int_equal(store_tag_list(f->st, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.tags[0].name, "myimage:latest");
    assert_string_equal(l.tags[1].name, "registry.example.com/team/app:1.2");
    assert_string_equal(l.tags[1].desc.digest.str, one.manifest.str);
    store_tag_list_free(&l);

    assert_int_equal(store_tag_remove(f->st, "registry.example.com/team/app:1.2", &err), 0);
    expect_err(store_tag_get(f->st, "registry.example.com/team/app:1.2", &got, &err), SW_ENOTFOUND,
               &err, "image \"registry.example.com/team/app:1.2\" not found in the store");
    expect_err(store_tag_remove(f->st, "registry.example.com/team/app:1.2", &err), SW_ENOTFOUND,
               &err, "not found in the store");
    assert_true(store_blob_exists(f->st, &one.manifest)); /* untagging keeps the blobs */

    /* bad input changes nothing */
    expect_err(store_tag_set(f->st, "Bad Name", NULL, &d1, &err), SW_EINVAL, &err,
               "invalid image name");
    expect_err(store_tag_set(f->st, "a//b", NULL, &d1, &err), SW_EINVAL, &err, "invalid");
    expect_err(store_tag_set(f->st, "app:", NULL, &d1, &err), SW_EINVAL, &err, "invalid");
    expect_err(store_tag_set(f->st, "x:1", "bad\xff-utf8", &d1, &err), SW_EINVAL, &err,
               "not UTF-8");
    struct store_desc nomt = d1;
    nomt.media_type = NULL;
    expect_err(store_tag_set(f->st, "x:1", NULL, &nomt, &err), SW_EINVAL, &err, "mediaType");
    struct store_desc missing = d1;
    assert_int_equal(sw_digest_bytes(&missing.digest, "absent", 6, &err), 0);
    expect_err(store_tag_set(f->st, "x:1", NULL, &missing, &err), SW_ENOTFOUND, &err,
               "not found in the store");
    struct store_desc wrong = d1;
    wrong.size++;
    expect_err(store_tag_set(f->st, "x:1", NULL, &wrong, &err), SW_EINVAL, &err, "bytes");
    assert_int_equal(store_tag_list(f->st, &l, &err), 0);
    assert_int_equal(l.n, 1);
    store_tag_list_free(&l);
}

static void
test_index_json_format(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    struct image im = make_image(f->st, "layer", false);
    struct store_desc d = manifest_desc(&im);

    /* An untagged entry written by another tool, kept (and sorted last) across our updates. */
    char *text = NULL;
    assert_true(asprintf(&text,
                         "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":"
                         "\"%s\",\"size\":%llu,\"annotations\":{\"x\":\"y\"}}]}",
                         STORE_MT_OCI_CONFIG, im.config.str,
                         (unsigned long long)im.config_size) > 0);
    write_file(f->root, "index.json", text);
    free(text);

    tag_ok(f->st, "zeta:1", NULL, &d);
    tag_ok(f->st, "alpha:1", "example.com/alpha:1", &d);
    tag_ok(f->st, "mid/dle:2", NULL, &d);

    json_t *idx = load_json_file(f->root, "index.json");
    assert_int_equal(json_integer_value(json_object_get(idx, "schemaVersion")), 2);
    assert_string_equal(json_string_value(json_object_get(idx, "mediaType")), STORE_MT_OCI_INDEX);
    json_t *m = json_object_get(idx, "manifests");
    assert_int_equal(json_array_size(m), 4);
    const char *order[] = {"alpha:1", "mid/dle:2", "zeta:1"};
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(m, i);
        json_t *ann = json_object_get(e, "annotations");
        assert_string_equal(json_string_value(json_object_get(ann, STORE_ANN_REF_NAME)), order[i]);
        assert_string_equal(json_string_value(json_object_get(e, "mediaType")),
                            STORE_MT_OCI_MANIFEST);
        assert_string_equal(json_string_value(json_object_get(e, "digest")), im.manifest.str);
        assert_int_equal(json_integer_value(json_object_get(e, "size")), im.manifest_size);
        assert_int_equal(json_object_get(ann, STORE_ANN_CONTAINERD_NAME) != NULL, i == 0);
    }
    json_t *alpha_ann = json_object_get(json_array_get(m, 0), "annotations");
    assert_string_equal(json_string_value(json_object_get(alpha_ann, STORE_ANN_CONTAINERD_NAME)),
                        "example.com/alpha:1");
    json_t *last = json_array_get(m, 3);
    assert_string_equal(json_string_value(json_object_get(last, "digest")), im.config.str);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(last, "annotations"), "x")), "y");
    json_decref(idx);

    /* the list skips the untagged entry; nothing is left in the root but the layout */
    struct store_tag_list l;
    assert_int_equal(store_tag_list(f->st, &l, &err), 0);
    assert_int_equal(l.n, 3);
    store_tag_list_free(&l);
    assert_int_equal(count_entries(f->root, "."), 5); /* oci-layout index.json blobs tmp locks */
}

static void
test_concurrent_tags(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    struct image im = make_image(f->st, "shared layer", false);
    enum { CHILDREN = 8, TAGS = 20 };
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            struct store *st = NULL;
            if (store_open(&st, f->root, NULL) < 0)
                _exit(2);
            struct store_desc d = manifest_desc(&im);
            for (int t = 0; t < TAGS; t++) {
                char name[64];
                snprintf(name, sizeof name, "child%d/img:t%d", c, t);
                if (store_tag_set(st, name, NULL, &d, NULL) < 0)
                    _exit(3);
            }
            store_close(st);
            _exit(0);
        }
    }
    for (int c = 0; c < CHILDREN; c++) {
        int status = 0;
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    struct store_tag_list l;
    assert_int_equal(store_tag_list(f->st, &l, &err), 0);
    assert_int_equal(l.n, CHILDREN * TAGS);
    for (int c = 0; c < CHILDREN; c++)
        for (int t = 0; t < TAGS; t++) {
            char name[64];
            snprintf(name, sizeof name, "child%d/img:t%d", c, t);
            bool found = false;
            for (size_t i = 0; i < l.n && !found; i++)
                found = !strcmp(l.tags[i].name, name);
            if (!found)
                fail_msg("tag %s was lost", name);
        }
    store_tag_list_free(&l);
    assert_int_equal(count_entries(f->root, "."), 5); /* no temporary index left behind */
    assert_int_equal(store_verify(f->st, NULL, &err), 0);
}

/* ---- verify -----------------------------------------------------------------------------------
 */

static void
flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static void
test_verify(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    struct image im = make_image(f->st, "layer content", true);
    struct store_desc d = {
        .media_type = STORE_MT_OCI_INDEX, .digest = im.index, .size = im.index_size};
    tag_ok(f->st, "app:1", NULL, &d);
    put_ok(f->st, "unreferenced blobs are not corruption");

    struct store_verify_report rep;
    assert_int_equal(store_verify(f->st, &rep, &err), 0);
    assert_int_equal(rep.nblobs, 5);
    assert_int_equal(rep.nreachable, 4); /* index, manifest, config, layer */
    assert_int_equal(rep.problems.n, 0);
    assert_int_equal(rep.temps.n, 0);
    store_verify_report_free(&rep);

    /* a flipped byte in a layer */
    char *layer = blob_file(f, &im.layer);
    flip_byte(layer, 3);
    assert_int_equal(store_verify(f->st, &rep, &err), -SW_EIO);
    assert_non_null(strstr(err->msg, "failed verification"));
    assert_non_null(strstr(err->msg, "corrupt"));
    assert_non_null(strstr(err->msg, im.layer.str));
    sw_error_freep(&err);
    assert_int_equal(rep.problems.n, 1);
    store_verify_report_free(&rep);
    void *data = NULL;
    size_t len = 0;
    expect_err(store_blob_read(f->st, &im.layer, 1024, &data, &len, &err), SW_EIO, &err, "corrupt");
    flip_byte(layer, 3);
    assert_int_equal(store_verify(f->st, NULL, &err), 0);
    free(layer);

    /* a missing referenced blob (the config) */
    char *config = blob_file(f, &im.config);
    assert_int_equal(unlink(config), 0);
    free(config);
    assert_int_equal(store_verify(f->st, &rep, &err), -SW_EIO);
    assert_non_null(strstr(err->msg, "missing"));
    assert_non_null(strstr(err->msg, im.config.str));
    assert_non_null(strstr(err->msg, im.manifest.str)); /* says who references it */
    sw_error_freep(&err);
    assert_int_equal(rep.problems.n, 1);
    store_verify_report_free(&rep);
    assert_int_equal(store_verify(f->st, NULL, &err), -SW_EIO); /* report is optional */
    sw_error_freep(&err);

    /* a corrupt manifest: can't be walked, reported */
    json_t *c = json_pack("{s:s}", "os", "linux");
    struct sw_digest cd;
    uint64_t cs;
    assert_int_equal(store_json_put(f->st, c, &cd, &cs, &err), 0); /* not the same config */
    json_decref(c);
    char *manifest = blob_file(f, &im.manifest);
    flip_byte(manifest, 0);
    assert_int_equal(store_verify(f->st, &rep, &err), -SW_EIO);
    sw_error_freep(&err);
    assert_true(rep.problems.n >= 1);
    store_verify_report_free(&rep);
    free(manifest);

    /* stray temporary files are listed separately and are no corruption */
    assert_int_equal(store_tag_remove(f->st, "app:1", &err), 0);
    write_file(f->root, "tmp/blob-stray", "partial");
    write_file(f->root, ".tmp-index.json.abcdef", "{");
    assert_int_equal(store_verify(f->st, &rep, &err), -SW_EIO); /* the flipped manifest blob */
    sw_error_freep(&err);
    assert_int_equal(rep.temps.n, 2);
    store_verify_report_free(&rep);
    char *p = blob_file(f, &im.manifest);
    flip_byte(p, 0);
    free(p);
    assert_int_equal(store_verify(f->st, &rep, &err), 0);
    assert_int_equal(rep.temps.n, 2);
    assert_string_equal(rep.temps.v[0], "tmp/blob-stray");
    assert_string_equal(rep.temps.v[1], ".tmp-index.json.abcdef");
    store_verify_report_free(&rep);

    /* a broken index.json */
    write_file(f->root, "index.json", "{\"schemaVersion\": 2, \"manifests\": ");
    assert_int_equal(store_verify(f->st, &rep, &err), -SW_EIO);
    assert_non_null(strstr(err->msg, "index.json"));
    sw_error_freep(&err);
    store_verify_report_free(&rep);
}

/* ---- gc ---------------------------------------------------------------------------------------
 */

static void
test_gc(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    struct image kept = make_image(f->st, "kept layer", true);
    struct image dropped = make_image(f->st, "dropped layer", false);
    struct store_desc d = {
        .media_type = STORE_MT_OCI_INDEX, .digest = kept.index, .size = kept.index_size};
    tag_ok(f->st, "kept:1", NULL, &d);
    struct store_desc dd = manifest_desc(&dropped);
    tag_ok(f->st, "dropped:1", NULL, &dd);
    struct sw_digest loose = put_ok(f->st, "loose");

    write_file(f->root, "tmp/blob-stale", "12345678");
    write_file(f->root, "tmp/blob-fresh", "1234");
    char *stale = NULL;
    assert_true(asprintf(&stale, "%s/tmp/blob-stale", f->root) > 0);
    struct timespec old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    assert_int_equal(utimensat(AT_FDCWD, stale, old, 0), 0);
    free(stale);

    size_t count = 99;
    uint64_t bytes = 99;
    assert_int_equal(store_gc(f->st, &count, &bytes, &err), 0);
    assert_int_equal(count, 2); /* "loose" and the stale temporary file */
    assert_int_equal(bytes, 5 + 8);
    assert_false(store_blob_exists(f->st, &loose));
    assert_int_equal(count_entries(f->root, "tmp"), 1); /* the fresh one stays */
    struct sw_digest keep[] = {kept.index,       kept.manifest,  kept.config,  kept.layer,
                               dropped.manifest, dropped.config, dropped.layer};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        assert_true(store_blob_exists(f->st, &keep[i]));

    /* untag one image: gc removes exactly its three blobs */
    assert_int_equal(store_tag_remove(f->st, "dropped:1", &err), 0);
    assert_int_equal(store_gc(f->st, &count, &bytes, &err), 0);
    assert_int_equal(count, 3);
    assert_int_equal(bytes, dropped.manifest_size + dropped.config_size + dropped.layer_size);
    for (size_t i = 0; i < 4; i++)
        assert_true(store_blob_exists(f->st, &keep[i]));
    for (size_t i = 4; i < 7; i++)
        assert_false(store_blob_exists(f->st, &keep[i]));
    assert_int_equal(store_verify(f->st, NULL, &err), 0);

    /* nothing left to collect */
    assert_int_equal(store_gc(f->st, &count, &bytes, &err), 0);
    assert_int_equal(count, 0);
    assert_int_equal(bytes, 0);

    /* a tagged manifest that is gone stops the collection before it removes anything */
    put_ok(f->st, "loose again");
    char *p = blob_file(f, &kept.manifest);
    assert_int_equal(unlink(p), 0);
    free(p);
    assert_int_equal(store_gc(f->st, &count, &bytes, &err), -SW_EIO);
    assert_non_null(strstr(err->msg, "nothing was removed"));
    assert_non_null(strstr(err->msg, kept.manifest.str));
    sw_error_freep(&err);
    assert_true(store_blob_exists(f->st, &kept.layer));
    assert_int_equal(count_entries(f->root, "blobs/sha256"), 4);
}

static void
test_gc_build_lock(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    f->st = open_ok(f->root);
    struct sw_digest loose = put_ok(f->st, "loose");

    /* in this process */
    struct store_lock *a = NULL, *b = NULL;
    assert_int_equal(store_build_lock(f->st, &a, &err), 0);
    assert_int_equal(store_build_lock(f->st, &b, &err), 0); /* builds share it */
    size_t count = 0;
    uint64_t bytes = 0;
    expect_err(store_gc(f->st, &count, &bytes, &err), SW_EIO, &err,
               "the store is in use by a running build");
    store_build_unlock(a);
    expect_err(store_gc(f->st, &count, &bytes, &err), SW_EIO, &err, "in use by a running build");
    store_build_unlock(b);
    assert_true(store_blob_exists(f->st, &loose));

    /* in another process */
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *st = NULL;
        struct store_lock *l = NULL;
        char c = 'x';
        if (store_open(&st, f->root, NULL) < 0 || store_build_lock(st, &l, NULL) < 0)
            _exit(2);
        if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(3);
        store_build_unlock(l);
        store_close(st);
        _exit(0);
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    expect_err(store_gc(f->st, &count, &bytes, &err), SW_EIO, &err,
               "the store is in use by a running build");
    assert_true(store_blob_exists(f->st, &loose));
    assert_int_equal(write(go[1], "g", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);

    assert_int_equal(store_gc(f->st, &count, &bytes, &err), 0);
    assert_int_equal(count, 1);
    assert_false(store_blob_exists(f->st, &loose));
}

/* ---- a full disk ------------------------------------------------------------------------------
 */

static void
test_enospc(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    assert_true(asprintf(&f->mnt, "%s/mnt", f->dir) > 0);
    assert_int_equal(mkdir(f->mnt, 0700), 0);
    if (mount("tmpfs", f->mnt, "tmpfs", 0, "size=512k") < 0) {
        int e = errno;
        free(f->mnt);
        f->mnt = NULL;
        fail_msg("mounting a 512k tmpfs on %s/mnt failed: %s (this test needs root)", f->dir,
                 strerror(e));
    }
    free(f->root);
    assert_true(asprintf(&f->root, "%s/store", f->mnt) > 0);
    f->st = open_ok(f->root);
    struct sw_digest small = put_ok(f->st, "small blob before");

    const size_t chunk = 64 << 10, total = 1 << 20; /* 1 MiB into 512 KiB */
    char *buf = malloc(chunk);
    assert_non_null(buf);
    memset(buf, 'z', chunk);

    /* streaming: a write (or at the latest the commit) fails with ENOSPC */
    struct store_writer *w = NULL;
    assert_int_equal(store_writer_begin(f->st, &w, &err), 0);
    int r = 0;
    for (size_t off = 0; off < total && r == 0; off += chunk)
        r = store_writer_write(w, buf, chunk, &err);
    if (r < 0) {
        assert_int_equal(err->sys_errno, ENOSPC);
        expect_err(r, SW_EIO, &err, "writing blob: No space left on device");
        assert_int_equal(count_entries(f->root, "tmp"), 0); /* removed at once */
    }
    r = store_writer_commit(w, NULL, NULL, NULL, &err);
    assert_int_equal(err->sys_errno, ENOSPC);
    expect_err(r, SW_EIO, &err, "writing blob: No space left on device");
    assert_int_equal(count_entries(f->root, "tmp"), 0);
    assert_int_equal(count_entries(f->root, "blobs/sha256"), 1);

    /* one shot */
    char *big = malloc(total);
    assert_non_null(big);
    memset(big, 'y', total);
    struct sw_digest d;
    expect_err(store_blob_put(f->st, big, total, &d, &err), SW_EIO, &err,
               "No space left on device");
    free(big);
    free(buf);
    assert_int_equal(count_entries(f->root, "tmp"), 0);
    assert_int_equal(count_entries(f->root, "blobs/sha256"), 1);

    /* the store is intact and usable */
    struct store_verify_report rep;
    assert_int_equal(store_verify(f->st, &rep, &err), 0);
    assert_int_equal(rep.nblobs, 1);
    assert_int_equal(rep.temps.n, 0);
    store_verify_report_free(&rep);
    assert_true(store_blob_exists(f->st, &small));
    put_ok(f->st, "small blob after");
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(umount(f->mnt), 0);
    free(f->mnt);
    f->mnt = NULL;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_root),
        cmocka_unit_test_setup_teardown(test_open_create_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_mismatch_and_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_64mib, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_json_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_build_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
