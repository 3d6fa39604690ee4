/* Unit tests for builder/export/: OCI layout, docker archive, local and rootfs-tar outputs and
 * `slipway load` (export_import), plus real consumers (skopeo, umoci). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/support.h"

#include <archive.h>
#include <archive_entry.h>
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
#include "export/export.h"
#include "image/config.h"
#include "image/manifest.h"
#include "layer/writer.h"
#include "util/digest.h"

#define EPOCH 1700000000

/* ---- fixture ----------------------------------------------------------------------------------
 */

struct image {
    struct img_descriptor manifest; /* with platform */
    struct sw_digest config;
    struct sw_digest diff_ids[2];
};

struct fx {
    char *dir;
    char *mnt; /* a read-only tmpfs mounted by a test, or NULL */
    struct store *st, *st2;
    struct image im;
};

static char *
path_in(const struct fx *f, const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
    return p;
}

static void
ok(int r, struct sw_error *err, const char *what)
{
    if (r < 0)
        fail_msg("%s: %s", what, err && err->msg ? err->msg : "(no message)");
}

/* Assert a failure whose message contains `want`; frees the error. */
static void
expect_err(int r, struct sw_error **err, const char *want)
{
    if (r == 0)
        fail_msg("expected a failure containing \"%s\"", want);
    assert_non_null(*err);
    if (!strstr((*err)->msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", (*err)->msg, want);
    sw_error_freep(err);
}

/* ---- building an image directly in the store --------------------------------------------------
 */

static int
store_sink(void *ctx, const void *buf, size_t n, struct sw_error **err)
{
    return store_writer_write(ctx, buf, n, err);
}

static void
add_file(struct layer_writer *w, const char *path, const char *content, uint32_t mode)
{
    struct sw_error *err = NULL;
    struct layer_entry e = {.path = path,
                            .type = LAYER_ENTRY_REG,
                            .mode = mode,
                            .mtime_sec = EPOCH - 100,
                            .size = strlen(content),
                            .source = {.kind = LAYER_SOURCE_BUF, .data = content}};
    ok(layer_writer_add(w, &e, &err), err, path);
}

static void
add_dir(struct layer_writer *w, const char *path)
{
    struct sw_error *err = NULL;
    struct layer_entry e = {
        .path = path, .type = LAYER_ENTRY_DIR, .mode = 0755, .mtime_sec = EPOCH - 100};
    ok(layer_writer_add(w, &e, &err), err, path);
}

static void
fill_base(struct layer_writer *w, const char *variant)
{
    struct sw_error *err = NULL;
    add_dir(w, "etc");
    add_dir(w, "bin");
    add_file(w, "etc/keep", variant, 0644);
    add_file(w, "etc/gone", "bye\n", 0600);
    add_file(w, "bin/tool", "#!/bin/sh\necho tool\n", 0755);
    struct layer_entry l = {.path = "bin/link",
                            .type = LAYER_ENTRY_SYMLINK,
                            .mode = 0777,
                            .mtime_sec = EPOCH - 100,
                            .link_target = "tool"};
    ok(layer_writer_add(w, &l, &err), err, "bin/link");
}

static void
fill_top(struct layer_writer *w)
{
    struct sw_error *err = NULL;
    ok(layer_writer_add_whiteout(w, "etc/gone", &err), err, "whiteout");
    add_file(w, "etc/new", "new\n", 0640);
}

static struct img_descriptor
make_layer(struct store *st, enum layer_compression comp, bool top, const char *variant,
           struct sw_digest *diff_id)
{
    struct sw_error *err = NULL;
    struct store_writer *sw = NULL;
    ok(store_writer_begin(st, &sw, &err), err, "store_writer_begin");
    struct layer_writer_opts o = layer_writer_opts_default();
    o.compression = comp;
    struct layer_sink sink = {.write = store_sink, .ctx = sw};
    struct layer_writer *w = NULL;
    ok(layer_writer_new(&w, &o, &sink, &err), err, "layer_writer_new");
    if (top)
        fill_top(w);
    else
        fill_base(w, variant);
    struct layer_result res;
    ok(layer_writer_finish(w, &res, &err), err, "layer_writer_finish");
    layer_writer_free(w);
    ok(store_writer_commit(sw, &res.digest, NULL, NULL, &err), err, "commit layer");
    *diff_id = res.diff_id;
    struct img_descriptor d;
    ok(img_descriptor_init(&d, res.media_type, &res.digest, (int64_t)res.size, &err), err,
       "layer descriptor");
    return d;
}

/* Two layers (gzip, then `top` (zstd unless said otherwise) with a whiteout of etc/gone), a
 * config and a manifest, tagged app:latest. */
static struct image
make_image(struct store *st, const char *variant, enum layer_compression top)
{
    struct sw_error *err = NULL;
    struct image im = {0};
    struct img_descriptor l1 =
        make_layer(st, LAYER_COMPRESSION_GZIP, false, variant, &im.diff_ids[0]);
    struct img_descriptor l2 = make_layer(st, top, true, NULL, &im.diff_ids[1]);

    struct img_platform p;
    ok(img_platform_parse(&p, "linux/amd64", &err), err, "platform");
    struct img_config *c = NULL;
    ok(img_config_new(&c, &p, &err), err, "img_config_new");
    ok(img_config_set_created(c, EPOCH, 0, &err), err, "created");
    ok(img_config_add_layer(c, &im.diff_ids[0], c->created, "COPY . / # buildkit",
                            IMG_HISTORY_COMMENT, &err),
       err, "layer 1");
    ok(img_config_add_layer(c, &im.diff_ids[1], c->created, "RUN rm /etc/gone # buildkit",
                            IMG_HISTORY_COMMENT, &err),
       err, "layer 2");
    char *cj = NULL;
    size_t clen = 0;
    ok(img_config_to_json(&cj, &clen, c, &err), err, "config json");
    ok(store_blob_put(st, cj, clen, &im.config, &err), err, "config blob");
    img_config_free(c);
    free(cj);

    struct img_descriptor cd;
    ok(img_descriptor_init(&cd, IMG_MT_OCI_CONFIG, &im.config, (int64_t)clen, &err), err, "cd");
    struct img_manifest m;
    ok(img_manifest_init(&m, &cd, &err), err, "manifest init");
    ok(img_manifest_add_layer(&m, &l1, &err), err, "add l1");
    ok(img_manifest_add_layer(&m, &l2, &err), err, "add l2");
    char *mj = NULL;
    size_t mlen = 0;
    ok(img_manifest_to_json(&mj, &mlen, &m, &err), err, "manifest json");
    struct sw_digest md;
    ok(store_blob_put(st, mj, mlen, &md, &err), err, "manifest blob");
    free(mj);
    img_manifest_clear(&m);
    img_descriptor_clear(&cd);
    img_descriptor_clear(&l1);
    img_descriptor_clear(&l2);

    ok(img_descriptor_init(&im.manifest, IMG_MT_OCI_MANIFEST, &md, (int64_t)mlen, &err), err,
       "manifest descriptor");
    im.manifest.platform = calloc(1, sizeof *im.manifest.platform);
    assert_non_null(im.manifest.platform);
    ok(img_desc_platform_from(im.manifest.platform, &p, &err), err, "platform");

    struct store_desc sd = {.media_type = IMG_MT_OCI_MANIFEST,
                            .digest = md,
                            .size = mlen,
                            .has_platform = true,
                            .platform = {.os = "linux", .architecture = "amd64"}};
    ok(store_tag_set(st, "app:latest", "docker.io/library/app:latest", &sd, &err), err, "tag");
    return im;
}

static const char *const two_names[] = {"app:latest", "reg.example.com/x:1"};

static struct export_image
img_of(struct fx *f, const char *const *names, size_t n, int64_t epoch)
{
    struct export_image img = {.store = f->st,
                               .manifest = f->im.manifest,
                               .names = names,
                               .nnames = n,
                               .source_date_epoch = epoch};
    return img;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char tmpl[] = "/tmp/sw-export-test-XXXXXX";
    if (!f || !mkdtemp(tmpl))
        return -1;
    f->dir = strdup(tmpl);
    struct sw_error *err = NULL;
    char *r1 = path_in(f, "store"), *r2 = path_in(f, "store2");
    if (store_open(&f->st, r1, &err) < 0 || store_open(&f->st2, r2, &err) < 0)
        return -1;
    free(r1);
    free(r2);
    f->im = make_image(f->st, "keep\n", LAYER_COMPRESSION_ZSTD);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    store_close(f->st2);
    img_descriptor_clear(&f->im.manifest);
    if (f->mnt) {
        if (umount(f->mnt) < 0)
            umount2(f->mnt, MNT_DETACH);
        free(f->mnt);
    }
    ts_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ----------------------------------------------------------------------------------
 */

static bool
exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Entries in dir, without . and .. */
static size_t
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("opendir %s: %s", dir, strerror(errno));
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

struct tar_item {
    char *name;
    mode_t type, perm;
    int64_t uid, gid, mtime, size;
    char *data; /* content of regular files up to 1 MiB */
};

struct tar_list {
    struct tar_item *v;
    size_t n;
};

static struct tar_list
read_tar(const char *path)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK)
        fail_msg("%s: %s", path, archive_error_string(a));
    struct tar_list l = {0};
    struct archive_entry *ae;
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        l.v = realloc(l.v, (l.n + 1) * sizeof *l.v);
        struct tar_item *it = &l.v[l.n++];
        memset(it, 0, sizeof *it);
        it->name = strdup(archive_entry_pathname(ae));
        it->type = archive_entry_filetype(ae);
        it->perm = archive_entry_perm(ae);
        it->uid = archive_entry_uid(ae);
        it->gid = archive_entry_gid(ae);
        it->mtime = archive_entry_mtime(ae);
        it->size = archive_entry_size(ae);
        if (it->type == AE_IFREG && it->size <= (1 << 20)) {
            it->data = calloc(1, (size_t)it->size + 1);
            assert_int_equal(archive_read_data(a, it->data, (size_t)it->size), it->size);
        }
    }
    archive_read_free(a);
    return l;
}

static void
tar_list_free(struct tar_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].data);
    }
    free(l->v);
}

static const struct tar_item *
tar_find(const struct tar_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *n = l->v[i].name;
        size_t len = strlen(name);
        if (!strncmp(n, name, len) && (!n[len] || (n[len] == '/' && !n[len + 1])))
            return &l->v[i];
    }
    return NULL;
}

static void
assert_sorted(const struct tar_list *l)
{
    for (size_t i = 1; i < l->n; i++) {
        char a[4096], b[4096];
        snprintf(a, sizeof a, "%s", l->v[i - 1].name);
        snprintf(b, sizeof b, "%s", l->v[i].name);
        size_t la = strlen(a), lb = strlen(b);
        if (la && a[la - 1] == '/')
            a[la - 1] = '\0';
        if (lb && b[lb - 1] == '/')
            b[lb - 1] = '\0';
        if (strcmp(a, b) >= 0)
            fail_msg("tar entries not sorted: \"%s\" before \"%s\"", a, b);
    }
}

/* A tar made by hand, for hostile and legacy archives. */
struct craft {
    const char *name;
    const char *data;    /* regular file content (NULL with link) */
    const char *symlink; /* symlink target */
    size_t len;          /* 0: strlen(data) */
};

static void
write_craft(const char *path, const struct craft *c, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK)
        fail_msg("%s: %s", path, archive_error_string(a));
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, c[i].name);
        archive_entry_set_perm(ae, 0644);
        if (c[i].symlink) {
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, c[i].symlink);
        } else {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_size(ae, (la_int64_t)(c[i].len ? c[i].len : strlen(c[i].data)));
        }
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        if (!c[i].symlink)
            archive_write_data(a, c[i].data, c[i].len ? c[i].len : strlen(c[i].data));
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
}

/* The blob's content, read from the store. */
static char *
blob_text(struct store *st, const struct sw_digest *d, size_t *len)
{
    void *data = NULL;
    struct sw_error *err = NULL;
    ok(store_blob_read(st, d, 64 << 20, &data, len, &err), err, "store_blob_read");
    return data;
}

static bool
strv_has(const struct sw_strv *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->v[i], s))
            return true;
    return false;
}

/* Import into the second store and check names and the manifest digest. */
static void
import_check(struct fx *f, const char *src, bool same_manifest)
{
    struct sw_error *err = NULL;
    struct sw_strv names = {0};
    ok(export_import(f->st2, src, &names, &err), err, "export_import");
    assert_int_equal(names.n, 2);
    assert_true(strv_has(&names, "app:latest"));
    assert_true(strv_has(&names, "reg.example.com/x:1"));
    sw_strv_free(&names);
    for (int i = 0; i < 2; i++) {
        struct store_desc d = {0};
        ok(store_tag_get(f->st2, two_names[i], &d, &err), err, "store_tag_get");
        if (same_manifest)
            assert_string_equal(d.digest.str, f->im.manifest.digest.str);
        assert_true(d.has_platform);
        assert_string_equal(d.platform.os, "linux");
        assert_string_equal(d.platform.architecture, "amd64");
        /* The image is complete in the second store. */
        json_t *m = NULL;
        ok(store_json_read(f->st2, &d.digest, 4 << 20, &m, &err), err, "manifest");
        const char *cfg =
            json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
        assert_string_equal(cfg, f->im.config.str);
        json_t *layers = json_object_get(m, "layers");
        assert_int_equal(json_array_size(layers), 2);
        for (size_t k = 0; k < 2; k++) {
            struct sw_digest ld;
            ok(sw_digest_parse(
                   &ld, json_string_value(json_object_get(json_array_get(layers, k), "digest")),
                   &err),
               err, "layer digest");
            assert_true(store_blob_exists(f->st2, &ld));
        }
        json_decref(m);
        store_desc_clear(&d);
    }
    ok(store_verify(f->st2, NULL, &err), err, "store_verify");
}

/* ---- OCI layout -------------------------------------------------------------------------------
 */

static void
test_oci_dir(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct export_image img = img_of(f, two_names, 2, -1);
    char *dest = path_in(f, "layout");
    ok(export_oci(&img, dest, false, &err), err, "export_oci");

    char *p = NULL;
    assert_true(asprintf(&p, "%s/oci-layout", dest) > 0);
    char *text = ts_read(p, NULL);
    assert_string_equal(text, "{\"imageLayoutVersion\":\"1.0.0\"}");
    free(text);
    free(p);

    assert_true(asprintf(&p, "%s/index.json", dest) > 0);
    json_error_t je;
    json_t *ix = json_load_file(p, 0, &je);
    free(p);
    assert_non_null(ix);
    json_t *list = json_object_get(ix, "manifests");
    assert_int_equal(json_array_size(list), 2);
    const char *want_full[2] = {"docker.io/library/app:latest", "reg.example.com/x:1"};
    const char *want_tag[2] = {"latest", "1"};
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(list, i);
        json_t *ann = json_object_get(e, "annotations");
        assert_string_equal(json_string_value(json_object_get(ann, "io.containerd.image.name")),
                            want_full[i]);
        assert_string_equal(
            json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name")),
            want_tag[i]);
        assert_string_equal(json_string_value(json_object_get(e, "digest")),
                            f->im.manifest.digest.str);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(e, "platform"), "architecture")),
            "amd64");
    }
    json_decref(ix);

    /* manifest + config + 2 layers; no temporary directory left next to it. */
    assert_true(asprintf(&p, "%s/blobs/sha256", dest) > 0);
    assert_int_equal(count_entries(p), 4);
    free(p);
    /* Same file system as the store: the blobs are hard links to the store's files. */
    char *sp = NULL;
    struct sw_error *e2 = NULL;
    ok(store_blob_path(f->st, &f->im.config, &sp, &e2), e2, "store_blob_path");
    assert_true(asprintf(&p, "%s/blobs/sha256/%s", dest, sw_digest_hex(&f->im.config)) > 0);
    struct stat s1, s2;
    assert_int_equal(stat(sp, &s1), 0);
    assert_int_equal(stat(p, &s2), 0);
    assert_int_equal(s1.st_ino, s2.st_ino);
    assert_int_equal(s2.st_mode & 07777, s1.st_mode & 07777);
    free(sp);
    free(p);
    assert_int_equal(count_entries(f->dir), 3); /* store, store2, layout */

    import_check(f, dest, true);

    /* A non-empty directory that is not a layout is refused. */
    char *other = path_in(f, "other");
    assert_int_equal(mkdir(other, 0755), 0);
    char *junk = NULL;
    assert_true(asprintf(&junk, "%s/junk", other) > 0);
    fclose(fopen(junk, "w"));
    expect_err(export_oci(&img, other, false, &err), &err, "neither empty nor an OCI image layout");
    assert_int_equal(count_entries(other), 1);
    free(junk);
    free(other);

    /* An empty directory is filled. */
    char *empty = path_in(f, "empty");
    assert_int_equal(mkdir(empty, 0755), 0);
    ok(export_oci(&img, empty, false, &err), err, "export into an empty directory");
    assert_int_equal(count_entries(empty), 3);
    free(empty);

    /* Another file system: the blobs are copied. */
    char *other_fs = path_in(f, "tmpfs");
    assert_int_equal(mkdir(other_fs, 0755), 0);
    if (geteuid() == 0) {
        if (mount("tmpfs", other_fs, "tmpfs", 0, "size=16m") < 0)
            fail_msg("mount tmpfs on %s: %s", other_fs, strerror(errno));
        f->mnt = strdup(other_fs);
    } else {
        free(other_fs);
        char tmpl[] = "/dev/shm/sw-export-test-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        other_fs = strdup(tmpl);
    }
    char *copy = NULL;
    assert_true(asprintf(&copy, "%s/layout", other_fs) > 0);
    ok(export_oci(&img, copy, false, &err), err, "export to another file system");
    char *sp2 = NULL, *cp = NULL;
    ok(store_blob_path(f->st, &f->im.config, &sp2, &err), err, "store_blob_path");
    assert_true(asprintf(&cp, "%s/blobs/sha256/%s", copy, sw_digest_hex(&f->im.config)) > 0);
    struct stat t1, t2;
    assert_int_equal(stat(sp2, &t1), 0);
    assert_int_equal(stat(cp, &t2), 0);
    assert_true(t1.st_dev != t2.st_dev);
    assert_int_equal(t2.st_mode & 07777, 0644);
    size_t l1 = 0, l2 = 0;
    char *d1 = ts_read(sp2, &l1), *d2 = ts_read(cp, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(d1, d2, l1);
    free(d1);
    free(d2);
    free(sp2);
    free(cp);
    if (geteuid() != 0)
        ts_rmtree(other_fs);
    free(copy);
    free(other_fs);
    free(dest);
}

static void
test_oci_merge(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    char *dest = path_in(f, "layout");
    const char *n1[] = {"app:latest"};
    struct export_image img = img_of(f, n1, 1, -1);
    ok(export_oci(&img, dest, false, &err), err, "first export");

    /* A second image under another name and under the same name. */
    struct image im2 = make_image(f->st, "other\n", LAYER_COMPRESSION_ZSTD);
    const char *n2[] = {"other:2", "app:latest"};
    struct export_image img2 = {.store = f->st,
                                .manifest = im2.manifest,
                                .names = n2,
                                .nnames = 2,
                                .source_date_epoch = -1};
    ok(export_oci(&img2, dest, false, &err), err, "merge export");

    char *p = NULL;
    assert_true(asprintf(&p, "%s/index.json", dest) > 0);
    json_t *ix = json_load_file(p, 0, NULL);
    free(p);
    json_t *list = json_object_get(ix, "manifests");
    assert_int_equal(json_array_size(list), 2); /* app:latest replaced, other:2 added */
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "digest")),
                            im2.manifest.digest.str);
    json_decref(ix);
    assert_true(asprintf(&p, "%s/blobs/sha256", dest) > 0);
    /* image 1: manifest, config, 2 layers; image 2: manifest, config, its own base layer (the
     * top layer is the same blob in both). Blobs are merged, not duplicated. */
    assert_int_equal(count_entries(p), 7);
    free(p);

    struct sw_strv names = {0};
    ok(export_import(f->st2, dest, &names, &err), err, "import merged layout");
    assert_true(strv_has(&names, "other:2"));
    assert_true(strv_has(&names, "app:latest"));
    sw_strv_free(&names);
    struct store_desc d = {0};
    ok(store_tag_get(f->st2, "app:latest", &d, &err), err, "tag");
    assert_string_equal(d.digest.str, im2.manifest.digest.str);
    store_desc_clear(&d);
    img_descriptor_clear(&im2.manifest);
    free(dest);
}

static void
test_oci_tar(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct export_image img = img_of(f, two_names, 2, -1);
    char *a = path_in(f, "a.tar"), *b = path_in(f, "b.oci");
    ok(export_oci(&img, a, false, &err), err, "export_oci .tar"); /* .tar implies a tar */
    sleep(1);
    ok(export_oci(&img, b, true, &err), err, "export_oci as_tar");
    size_t la = 0, lb = 0;
    char *da = ts_read(a, &la), *db = ts_read(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);

    struct tar_list l = read_tar(a);
    assert_sorted(&l);
    assert_non_null(tar_find(&l, "oci-layout"));
    assert_non_null(tar_find(&l, "index.json"));
    const struct tar_item *blobs = tar_find(&l, "blobs");
    assert_non_null(blobs);
    assert_int_equal(blobs->type, AE_IFDIR);
    assert_int_equal(blobs->perm, 0755);
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.v[i].uid, 0);
        assert_int_equal(l.v[i].gid, 0);
        assert_int_equal(l.v[i].mtime, 0);
        if (l.v[i].type == AE_IFREG)
            assert_int_equal(l.v[i].perm, 0644);
    }
    assert_int_equal(l.n, 2 + 2 + 4); /* oci-layout, index.json, blobs/, sha256/, 4 blobs */
    tar_list_free(&l);

    /* SOURCE_DATE_EPOCH sets the mtimes. */
    struct export_image ie = img_of(f, two_names, 2, EPOCH);
    char *c = path_in(f, "c.tar");
    ok(export_oci(&ie, c, true, &err), err, "export with epoch");
    l = read_tar(c);
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(l.v[i].mtime, EPOCH);
    tar_list_free(&l);

    import_check(f, a, true);
    free(a);
    free(b);
    free(c);
}

/* ---- docker archive ---------------------------------------------------------------------------
 */

static void
test_docker_archive(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct export_image img = img_of(f, two_names, 2, -1);
    char *a = path_in(f, "d1.tar"), *b = path_in(f, "d2.tar");
    ok(export_docker_archive(&img, a, &err), err, "export_docker_archive");
    sleep(1);
    ok(export_docker_archive(&img, b, &err), err, "export_docker_archive again");
    size_t la = 0, lb = 0;
    char *da = ts_read(a, &la), *db = ts_read(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);

    struct tar_list l = read_tar(a);
    assert_sorted(&l);
    const struct tar_item *mj = tar_find(&l, "manifest.json");
    assert_non_null(mj);
    json_t *doc = json_loads(mj->data, 0, NULL);
    assert_true(json_is_array(doc));
    assert_int_equal(json_array_size(doc), 1);
    json_t *e = json_array_get(doc, 0);
    char want[128];
    snprintf(want, sizeof want, "blobs/sha256/%s", sw_digest_hex(&f->im.config));
    assert_string_equal(json_string_value(json_object_get(e, "Config")), want);
    json_t *tags = json_object_get(e, "RepoTags");
    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(json_string_value(json_array_get(tags, 0)), "app:latest");
    assert_string_equal(json_string_value(json_array_get(tags, 1)), "reg.example.com/x:1");
    json_t *layers = json_object_get(e, "Layers");
    assert_int_equal(json_array_size(layers), 2);
    /* The zstd layer was decompressed: it is named by its diff_id and is a plain tar. */
    snprintf(want, sizeof want, "blobs/sha256/%s", sw_digest_hex(&f->im.diff_ids[1]));
    assert_string_equal(json_string_value(json_array_get(layers, 1)), want);
    for (size_t i = 0; i < 2; i++) {
        const struct tar_item *it = tar_find(&l, json_string_value(json_array_get(layers, i)));
        assert_non_null(it);
    }
    const struct tar_item *plain = tar_find(&l, want);
    struct sw_digest got;
    ok(sw_digest_bytes(&got, plain->data, (size_t)plain->size, &err), err, "digest");
    assert_string_equal(got.str, f->im.diff_ids[1].str);
    json_decref(doc);
    assert_non_null(tar_find(&l, "oci-layout"));
    const struct tar_item *ix = tar_find(&l, "index.json");
    assert_non_null(ix);
    json_t *ixj = json_loads(ix->data, 0, NULL);
    json_t *list = json_object_get(ixj, "manifests");
    assert_int_equal(json_array_size(list), 2);
    /* index.json points to a manifest in the archive. */
    const char *md = json_string_value(json_object_get(json_array_get(list, 0), "digest"));
    snprintf(want, sizeof want, "blobs/sha256/%s", md + 7);
    assert_non_null(tar_find(&l, want));
    json_decref(ixj);
    tar_list_free(&l);

    import_check(f, a, false);

    /* The same archive without index.json / oci-layout (older docker save): a manifest is
     * written for the image, with the same layers. */
    struct tar_list full = read_tar(a);
    struct craft *c = calloc(full.n, sizeof *c);
    size_t n = 0;
    for (size_t i = 0; i < full.n; i++)
        if (full.v[i].type == AE_IFREG && strcmp(full.v[i].name, "index.json") &&
            strcmp(full.v[i].name, "oci-layout"))
            c[n++] = (struct craft){
                .name = full.v[i].name, .data = full.v[i].data, .len = (size_t)full.v[i].size};
    char *old = path_in(f, "old.tar");
    write_craft(old, c, n);
    store_close(f->st2);
    char *r2 = path_in(f, "store3");
    ok(store_open(&f->st2, r2, &err), err, "store_open");
    free(r2);
    import_check(f, old, false);
    struct store_desc d = {0};
    ok(store_tag_get(f->st2, "app:latest", &d, &err), err, "tag");
    size_t mlen = 0;
    char *m = blob_text(f->st2, &d.digest, &mlen);
    struct img_manifest pm = {0};
    ok(img_manifest_parse(&pm, m, mlen, &err), err, "written manifest");
    assert_string_equal(pm.layers[0].media_type, IMG_MT_OCI_LAYER_GZIP);
    assert_string_equal(pm.layers[1].media_type, IMG_MT_OCI_LAYER);
    img_manifest_clear(&pm);
    free(m);
    store_desc_clear(&d);
    free(c);
    tar_list_free(&full);
    free(old);
    free(a);
    free(b);
}

/* A Docker < 25 `docker save` layout: <id>/layer.tar (plain), a symlinked duplicate layer,
 * <hex>.json config, manifest.json. */
static void
test_docker_legacy(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    const char *layer = "not really a tar, but diff_ids only hash it";
    struct sw_digest diff;
    ok(sw_digest_bytes(&diff, layer, strlen(layer), &err), err, "digest");
    char *config = NULL;
    assert_true(asprintf(&config,
                         "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\","
                         "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
                         diff.str, diff.str) > 0);
    struct sw_digest cd;
    ok(sw_digest_bytes(&cd, config, strlen(config), &err), err, "digest");
    char cname[128];
    snprintf(cname, sizeof cname, "%s.json", sw_digest_hex(&cd));
    char *manifest = NULL;
    assert_true(asprintf(&manifest,
                         "[{\"Config\":\"%s\",\"RepoTags\":[\"legacy:v1\"],\"Layers\":"
                         "[\"aaa/layer.tar\",\"./bbb/layer.tar\"]}]",
                         cname) > 0);
    struct craft c[] = {
        {.name = "aaa/layer.tar", .data = layer},
        {.name = "aaa/VERSION", .data = "1.0"},
        {.name = "bbb/layer.tar", .symlink = "../aaa/layer.tar"},
        {.name = cname, .data = config},
        {.name = "manifest.json", .data = manifest},
        {.name = "repositories", .data = "{\"legacy\":{\"v1\":\"bbb\"}}"},
    };
    char *tar = path_in(f, "legacy.tar");
    write_craft(tar, c, sizeof c / sizeof c[0]);
    struct sw_strv names = {0};
    ok(export_import(f->st2, tar, &names, &err), err, "import legacy archive");
    assert_int_equal(names.n, 1);
    assert_string_equal(names.v[0], "legacy:v1");
    sw_strv_free(&names);
    struct store_desc d = {0};
    ok(store_tag_get(f->st2, "legacy:v1", &d, &err), err, "tag");
    assert_string_equal(d.media_type, IMG_MT_OCI_MANIFEST);
    assert_string_equal(d.platform.architecture, "arm64");
    assert_string_equal(d.platform.variant, "v8");
    size_t len = 0;
    char *m = blob_text(f->st2, &d.digest, &len);
    struct img_manifest pm = {0};
    ok(img_manifest_parse(&pm, m, len, &err), err, "written manifest");
    assert_int_equal(pm.nlayers, 2);
    assert_string_equal(pm.layers[0].media_type, IMG_MT_OCI_LAYER);
    assert_string_equal(pm.layers[1].digest.str, diff.str);
    assert_string_equal(pm.config.digest.str, cd.str);
    img_manifest_clear(&pm);
    free(m);
    store_desc_clear(&d);

    /* A layer that does not match its diff_id. */
    char *bad = NULL;
    assert_true(asprintf(&bad,
                         "{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                         "\"layers\",\"diff_ids\":[\"%s\"]}}",
                         f->im.diff_ids[0].str) > 0);
    struct craft c2[] = {
        {.name = "aaa/layer.tar", .data = layer},
        {.name = "cfg.json", .data = bad},
        {.name = "manifest.json",
         .data =
             "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"bad:1\"],\"Layers\":[\"aaa/layer.tar\"]}]"},
    };
    write_craft(tar, c2, sizeof c2 / sizeof c2[0]);
    expect_err(export_import(f->st2, tar, NULL, &err), &err, "diff_id");
    assert_int_equal(store_tag_get(f->st2, "bad:1", &d, &err), -SW_ENOTFOUND);
    sw_error_freep(&err);

    /* Layer count and diff_ids disagree. */
    struct craft c3[] = {
        {.name = "aaa/layer.tar", .data = layer},
        {.name = "cfg.json", .data = config},
        {.name = "manifest.json",
         .data = "[{\"Config\":\"cfg.json\",\"RepoTags\":null,\"Layers\":[\"aaa/layer.tar\"]}]"},
    };
    write_craft(tar, c3, sizeof c3 / sizeof c3[0]);
    expect_err(export_import(f->st2, tar, NULL, &err), &err, "2 diff_ids");

    /* An untagged image is reported by its manifest digest. */
    struct craft c4[] = {
        {.name = "aaa/layer.tar", .data = layer},
        {.name = "cfg.json", .data = config},
        {.name = "manifest.json",
         .data = "[{\"Config\":\"cfg.json\",\"RepoTags\":null,\"Layers\":[\"aaa/layer.tar\","
                 "\"aaa/layer.tar\"]}]"},
    };
    write_craft(tar, c4, sizeof c4 / sizeof c4[0]);
    ok(export_import(f->st2, tar, &names, &err), err, "untagged");
    assert_int_equal(names.n, 1);
    assert_true(sw_digest_valid(names.v[0]));
    sw_strv_free(&names);
    free(bad);
    free(tar);
    free(config);
    free(manifest);
}

static void
test_import_hostile(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    char *tar = path_in(f, "evil.tar");
    const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                      "\"layers\",\"diff_ids\":[]}}";

    /* "../evil" in manifest.json. */
    struct craft c1[] = {
        {.name = "cfg.json", .data = cfg},
        {.name = "manifest.json",
         .data = "[{\"Config\":\"../evil\",\"RepoTags\":[\"evil:1\"],\"Layers\":[]}]"},
    };
    write_craft(tar, c1, 2);
    expect_err(export_import(f->st2, tar, NULL, &err), &err, "\"..\"");

    /* An absolute path names a member, not a host file. */
    struct craft c2[] = {
        {.name = "cfg.json", .data = cfg},
        {.name = "manifest.json",
         .data = "[{\"Config\":\"/etc/passwd\",\"RepoTags\":[\"evil:1\"],\"Layers\":[]}]"},
    };
    write_craft(tar, c2, 2);
    expect_err(export_import(f->st2, tar, NULL, &err), &err,
               "no file \"etc/passwd\" in the archive");

    /* A symlink that leaves the archive. */
    struct craft c3[] = {
        {.name = "cfg.json", .symlink = "../../../etc/passwd"},
        {.name = "manifest.json",
         .data = "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"evil:1\"],\"Layers\":[]}]"},
    };
    write_craft(tar, c3, 2);
    expect_err(export_import(f->st2, tar, NULL, &err), &err, "points outside the archive");

    /* A tar member named with "..". */
    struct craft c4[] = {{.name = "../evil", .data = "x"}, {.name = "index.json", .data = "{}"}};
    write_craft(tar, c4, 2);
    expect_err(export_import(f->st2, tar, NULL, &err), &err, "\"..\"");

    /* A blob that is not what its name says. */
    struct craft c5[] = {
        {.name = "blobs/sha256/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
         .data = "not hello"},
        {.name = "index.json", .data = "{\"schemaVersion\":2,\"manifests\":[]}"},
    };
    write_craft(tar, c5, 2);
    expect_err(export_import(f->st2, tar, NULL, &err), &err, "digest mismatch");

    /* An absurdly large manifest.json. */
    size_t big = (4u << 20) + 10;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '[';
    huge[big - 1] = ']';
    huge[big] = '\0';
    struct craft c6[] = {{.name = "manifest.json", .data = huge}};
    write_craft(tar, c6, 1);
    expect_err(export_import(f->st2, tar, NULL, &err), &err, "larger than 4 MiB");
    free(huge);

    /* Neither format. */
    struct craft c7[] = {{.name = "hello.txt", .data = "hi"}};
    write_craft(tar, c7, 1);
    expect_err(export_import(f->st2, tar, NULL, &err), &err,
               "neither an OCI image layout (no index.json)");

    /* A directory layout whose blob is a symlink out of it. */
    char *dir = path_in(f, "evil-layout");
    char *p = NULL;
    assert_true(asprintf(&p, "%s/blobs/sha256", dir) > 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *b = NULL;
    assert_true(asprintf(&b, "%s/blobs", dir) > 0);
    assert_int_equal(mkdir(b, 0755), 0);
    assert_int_equal(mkdir(p, 0755), 0);
    free(b);
    const char *hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    char *outside = path_in(f, "hello-outside");
    FILE *fp = fopen(outside, "w");
    fputs("hello", fp);
    fclose(fp);
    assert_true(asprintf(&b, "%s/%s", p, hex) > 0);
    assert_int_equal(symlink(outside, b), 0);
    free(b);
    assert_true(asprintf(&b, "%s/index.json", dir) > 0);
    fp = fopen(b, "w");
    fprintf(fp,
            "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\","
            "\"size\":5}]}",
            IMG_MT_OCI_MANIFEST, hex);
    fclose(fp);
    free(b);
    expect_err(export_import(f->st2, dir, NULL, &err), &err, "outside the directory");
    free(outside);
    free(p);
    free(dir);

    struct store_tag_list tl = {0};
    ok(store_tag_list(f->st2, &tl, &err), err, "tags");
    assert_int_equal(tl.n, 0);
    store_tag_list_free(&tl);
    free(tar);
}

/* ---- file system outputs ----------------------------------------------------------------------
 */

static void
check_tree(const char *root)
{
    char *p = NULL;
    struct stat st;
    assert_true(asprintf(&p, "%s/etc/gone", root) > 0);
    assert_false(exists(p));
    free(p);
    assert_true(asprintf(&p, "%s/etc/.wh.gone", root) > 0);
    assert_false(exists(p));
    free(p);
    assert_true(asprintf(&p, "%s/etc/keep", root) > 0);
    char *t = ts_read(p, NULL);
    assert_string_equal(t, "keep\n");
    free(t);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_mtime, EPOCH - 100);
    free(p);
    assert_true(asprintf(&p, "%s/etc/new", root) > 0);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    free(p);
    assert_true(asprintf(&p, "%s/bin/tool", root) > 0);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    free(p);
    assert_true(asprintf(&p, "%s/bin/link", root) > 0);
    char target[64] = {0};
    assert_int_equal(readlink(p, target, sizeof target - 1), 4);
    assert_string_equal(target, "tool");
    free(p);
}

static void
test_local(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct export_image img = img_of(f, NULL, 0, -1);
    char *dest = path_in(f, "rootfs");
    ok(export_local(&img, dest, &err), err, "export_local");
    check_tree(dest);
    struct stat st;
    assert_int_equal(stat(dest, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(count_entries(f->dir), 3); /* no temporary directory left */

    /* Existing and not empty: refused. */
    expect_err(export_local(&img, dest, &err), &err, "not an empty directory");

    /* An existing empty directory is filled in place. */
    char *empty = path_in(f, "empty");
    assert_int_equal(mkdir(empty, 0700), 0);
    ok(export_local(&img, empty, &err), err, "export_local into an empty directory");
    check_tree(empty);
    free(empty);

    /* A multi-platform index cannot be exported as one file system. */
    struct export_image bad = img;
    bad.manifest.media_type = IMG_MT_OCI_INDEX;
    expect_err(export_local(&bad, dest, &err), &err, "pick a platform");
    free(dest);
}

static void
test_rootfs_tar(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct export_image img = img_of(f, NULL, 0, -1);
    char *a = path_in(f, "rootfs.tar"), *b = path_in(f, "rootfs2.tar");
    ok(export_rootfs_tar(&img, a, &err), err, "export_rootfs_tar");
    sleep(1);
    ok(export_rootfs_tar(&img, b, &err), err, "export_rootfs_tar again");
    size_t la = 0, lb = 0;
    char *da = ts_read(a, &la), *db = ts_read(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);
    assert_int_equal(count_entries(f->dir), 4); /* stores and the two tars only */

    struct tar_list l = read_tar(a);
    assert_sorted(&l);
    assert_null(tar_find(&l, "etc/gone"));
    for (size_t i = 0; i < l.n; i++) {
        if (strstr(l.v[i].name, ".wh."))
            fail_msg("whiteout %s in the rootfs tar", l.v[i].name);
        assert_true(l.v[i].mtime <= EPOCH); /* clamped to the config's created time */
    }
    const struct tar_item *keep = tar_find(&l, "etc/keep");
    assert_non_null(keep);
    assert_string_equal(keep->data, "keep\n");
    assert_int_equal(keep->perm, 0644);
    assert_int_equal(keep->mtime, EPOCH - 100);
    const struct tar_item *nw = tar_find(&l, "etc/new");
    assert_non_null(nw);
    assert_int_equal(nw->perm, 0640);
    const struct tar_item *tool = tar_find(&l, "bin/tool");
    assert_non_null(tool);
    assert_int_equal(tool->perm, 0755);
    const struct tar_item *link = tar_find(&l, "bin/link");
    assert_non_null(link);
    assert_int_equal(link->type, AE_IFLNK);
    assert_non_null(tar_find(&l, "etc"));
    tar_list_free(&l);

    /* With SOURCE_DATE_EPOCH everything later is clamped to it. */
    struct export_image ie = img_of(f, NULL, 0, EPOCH - 200);
    ok(export_rootfs_tar(&ie, a, &err), err, "export_rootfs_tar with epoch");
    l = read_tar(a);
    for (size_t i = 0; i < l.n; i++)
        assert_true(l.v[i].mtime <= EPOCH - 200);
    tar_list_free(&l);
    free(a);
    free(b);
}

/* ---- failure atomicity ------------------------------------------------------------------------
 */

static void
test_atomic_failures(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct export_image img = img_of(f, two_names, 2, -1);
    char *missing = path_in(f, "no/such/dir/out.tar");
    expect_err(export_oci(&img, missing, true, &err), &err, "cannot create a file in");
    expect_err(export_docker_archive(&img, missing, &err), &err, "cannot create a file in");
    expect_err(export_rootfs_tar(&img, missing, &err), &err, "cannot create a directory in");
    expect_err(export_local(&img, missing, &err), &err, "cannot create a directory in");
    free(missing);
    char *nodir = path_in(f, "no");
    assert_false(exists(nodir));
    free(nodir);

    /* A read-only parent: a read-only tmpfs as root (root ignores modes), chmod otherwise. */
    char *ro = path_in(f, "ro");
    assert_int_equal(mkdir(ro, 0755), 0);
    if (geteuid() == 0) {
        if (mount("tmpfs", ro, "tmpfs", MS_RDONLY, "size=1m") < 0)
            fail_msg("mount tmpfs on %s: %s", ro, strerror(errno));
        f->mnt = strdup(ro);
    } else {
        assert_int_equal(chmod(ro, 0555), 0);
    }
    const char *dests[] = {"out.tar", "layout", "docker.tar", "fs", "fs.tar"};
    for (size_t i = 0; i < 5; i++) {
        char *d = NULL;
        assert_true(asprintf(&d, "%s/%s", ro, dests[i]) > 0);
        int r = i == 0   ? export_oci(&img, d, true, &err)
                : i == 1 ? export_oci(&img, d, false, &err)
                : i == 2 ? export_docker_archive(&img, d, &err)
                : i == 3 ? export_local(&img, d, &err)
                         : export_rootfs_tar(&img, d, &err);
        expect_err(r, &err, "cannot create");
        free(d);
    }
    assert_int_equal(count_entries(ro), 0);
    free(ro);

    /* A failure midway (a layer missing from the store) leaves nothing either. */
    struct image im2 = make_image(f->st, "broken\n", LAYER_COMPRESSION_ZSTD);
    size_t mlen = 0;
    char *m = blob_text(f->st, &im2.manifest.digest, &mlen);
    struct img_manifest pm = {0};
    ok(img_manifest_parse(&pm, m, mlen, &err), err, "parse");
    char *lp = NULL;
    ok(store_blob_path(f->st, &pm.layers[0].digest, &lp, &err), err, "path");
    assert_int_equal(unlink(lp), 0);
    free(lp);
    img_manifest_clear(&pm);
    free(m);
    struct export_image broken = {
        .store = f->st, .manifest = im2.manifest, .source_date_epoch = -1};
    size_t before = count_entries(f->dir);
    char *d = path_in(f, "broken.tar");
    expect_err(export_oci(&broken, d, true, &err), &err, "not found");
    expect_err(export_docker_archive(&broken, d, &err), &err, "not found");
    free(d);
    d = path_in(f, "broken-dir");
    expect_err(export_oci(&broken, d, false, &err), &err, "not found");
    expect_err(export_local(&broken, d, &err), &err, "not found");
    expect_err(export_rootfs_tar(&broken, d, &err), &err, "not found");
    free(d);
    assert_int_equal(count_entries(f->dir), before);
    img_descriptor_clear(&im2.manifest);

    /* Names must be references with a tag. */
    const char *badname[] = {
        "app@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"};
    struct export_image bn = img_of(f, badname, 1, -1);
    d = path_in(f, "x.tar");
    expect_err(export_oci(&bn, d, true, &err), &err, "needs a tag and no digest");
    assert_false(exists(d));
    free(d);
}

/* ---- real consumers ---------------------------------------------------------------------------
 */

static bool
in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/bin:/bin");
    bool found = false;
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", d, prog) > 0);
        found = access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

static void
need(const char *prog)
{
    if (!in_path(prog))
        fail_msg("%s is not installed: the export tests check their output with it. Install the "
                 "Debian package %s (scripts/setup-deps --test)",
                 prog, prog);
}

/* Run a shell command; its output goes to `log`. Fails the test with the output on error. */
static void run(const char *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
run(const char *log, const char *fmt, ...)
{
    char *cmd = NULL, *full = NULL;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    assert_true(asprintf(&full, "%s >%s 2>&1", cmd, log) > 0);
    int st = system(full);
    if (st != 0) {
        char *out = ts_read(log, NULL);
        fail_msg("`%s` failed (status %d):\n%s", cmd, st, out);
    }
    free(cmd);
    free(full);
}

static void
test_consumers(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    need("skopeo");
    need("umoci");
    /* Debian 12's umoci (0.4.7) cannot read zstd layers: this image is gzip only. */
    struct image gz = make_image(f->st, "keep\n", LAYER_COMPRESSION_GZIP);
    img_descriptor_clear(&f->im.manifest);
    f->im = gz;
    const char *one[] = {"app:latest"};
    struct export_image img = img_of(f, one, 1, -1);
    char *dir = path_in(f, "layout"), *tar = path_in(f, "app.tar"), *log = path_in(f, "log");
    char *bundle = path_in(f, "bundle");
    ok(export_oci(&img, dir, false, &err), err, "export_oci dir");
    ok(export_oci(&img, tar, true, &err), err, "export_oci tar");

    run(log, "skopeo inspect oci:%s", dir);
    char *out = ts_read(log, NULL);
    json_t *j = json_loads(out, 0, NULL);
    if (!j)
        fail_msg("skopeo inspect printed no JSON: %s", out);
    assert_string_equal(json_string_value(json_object_get(j, "Digest")), f->im.manifest.digest.str);
    assert_string_equal(json_string_value(json_object_get(j, "Architecture")), "amd64");
    assert_int_equal(json_array_size(json_object_get(j, "Layers")), 2);
    json_decref(j);
    free(out);

    run(log, "skopeo inspect oci-archive:%s", tar);
    out = ts_read(log, NULL);
    j = json_loads(out, 0, NULL);
    if (!j)
        fail_msg("skopeo inspect printed no JSON: %s", out);
    assert_string_equal(json_string_value(json_object_get(j, "Digest")), f->im.manifest.digest.str);
    json_decref(j);
    free(out);

    /* By tag, as the ref.name convention promises. */
    run(log, "skopeo inspect oci:%s:latest", dir);
    run(log, "umoci unpack %s--image %s:latest %s", geteuid() ? "--rootless " : "", dir, bundle);
    char *p = NULL;
    assert_true(asprintf(&p, "%s/rootfs", bundle) > 0);
    check_tree(p);
    free(p);

    /* skopeo writes a layout, slipway loads it. */
    char *copy = path_in(f, "copied");
    run(log, "skopeo copy --insecure-policy oci-archive:%s oci:%s:copied", tar, copy);
    struct sw_strv names = {0};
    ok(export_import(f->st2, copy, &names, &err), err, "import skopeo's layout");
    /* ref.name "copied" is a bare tag: the image has no name and is reported by digest. */
    assert_int_equal(names.n, 1);
    assert_string_equal(names.v[0], f->im.manifest.digest.str);
    sw_strv_free(&names);
    free(copy);
    free(dir);
    free(tar);
    free(log);
    free(bundle);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oci_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oci_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oci_tar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docker_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docker_legacy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rootfs_tar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
