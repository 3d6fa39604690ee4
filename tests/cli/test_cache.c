/*
 * Unit tests for `slipway cache` (builder/cli/cmd_cache.c): its size and duration parsers and
 * human forms, and the store calls behind it (cache/store_gc.c): gc roots (tagged images and
 * cache records), orphan snapshots and cache metadata, store_cache_usage and store_cache_prune
 * (--filter until, --keep-storage, busy cache mounts, a running build).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "support/support.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../builder/cli/cli.h"
#include "../../cache/record.h"
#include "../../cache/store.h"
#include "util/fs.h"

/* cmd_cache.c reports errors through cli_report (main.c, not linked into this test) */
int
cli_report(struct sw_error *err)
{
    sw_error_free(err);
    return CLI_EXIT_FAIL;
}

/* ---- parsing and formatting -------------------------------------------------------------------
 */

static void
size_ok(const char *s, uint64_t want)
{
    struct sw_error *err = NULL;
    uint64_t got = 12345;
    if (cli_parse_size(&got, "--keep-storage", s, &err) < 0)
        fail_msg("\"%s\": %s", s, err ? err->msg : "?");
    if (got != want)
        fail_msg("\"%s\": got %llu, want %llu", s, (unsigned long long)got,
                 (unsigned long long)want);
}

static void
size_bad(const char *s, const char *msg)
{
    struct sw_error *err = NULL;
    uint64_t got = 7;
    assert_int_equal(cli_parse_size(&got, "--keep-storage", s, &err), -SW_EINVAL);
    assert_non_null(err);
    char want[256];
    snprintf(want, sizeof want, "--keep-storage \"%s\": %s", s, msg);
    if (strncmp(err->msg, want, strlen(want)))
        fail_msg("\"%s\": message \"%s\", want a start \"%s\"", s, err->msg, want);
    assert_int_equal(got, 7); /* untouched */
    sw_error_free(err);
}

static void
test_parse_size(void **state)
{
    (void)state;
    size_ok("0", 0);
    size_ok("1", 1);
    size_ok("1024", 1024);
    size_ok("100b", 100);
    size_ok("100B", 100);
    size_ok("1k", 1024);
    size_ok("1K", 1024);
    size_ok("1kb", 1024);
    size_ok("1KiB", 1024);
    size_ok("500MB", 500ull << 20);
    size_ok("500 MB", 500ull << 20);
    size_ok("10GB", 10ull << 30);
    size_ok("10g", 10ull << 30);
    size_ok("1.5GiB", 3ull << 29);
    size_ok("0.5k", 512);
    size_ok("1.0009k", 1024); /* rounded down to a byte */
    size_ok("2TB", 2ull << 40);
    size_ok("3PB", 3ull << 50);
    size_ok("18446744073709551615", UINT64_MAX);
    size_ok("15PiB", 15ull << 50);

    const char *not_size = "not a size";
    size_bad("", not_size);
    size_bad("MB", not_size);
    size_bad("-1", not_size);
    size_bad("+1", not_size);
    size_bad(" 1", not_size);
    size_bad("1  MB", not_size);
    size_bad("10XB", not_size);
    size_bad("1.", not_size);
    size_bad(".5", not_size);
    size_bad("1.2.3", not_size);
    size_bad("1i", not_size);
    size_bad("1MBB", not_size);
    size_bad("1e6", not_size);
    size_bad("1 000", not_size);
    size_bad("18446744073709551616", "too large");
    size_bad("16384PB", "too large");
}

static void
dur_ok(const char *s, int64_t want_ns)
{
    struct sw_error *err = NULL;
    int64_t got = -5;
    if (cli_parse_duration(&got, "--filter until", s, &err) < 0)
        fail_msg("\"%s\": %s", s, err ? err->msg : "?");
    if (got != want_ns)
        fail_msg("\"%s\": got %lld ns, want %lld", s, (long long)got, (long long)want_ns);
}

static void
dur_bad(const char *s, const char *msg)
{
    struct sw_error *err = NULL;
    int64_t got = -5;
    assert_int_equal(cli_parse_duration(&got, "--filter until", s, &err), -SW_EINVAL);
    assert_non_null(err);
    char want[256];
    snprintf(want, sizeof want, "--filter until \"%s\": %s", s, msg);
    if (strncmp(err->msg, want, strlen(want)))
        fail_msg("\"%s\": message \"%s\", want a start \"%s\"", s, err->msg, want);
    assert_int_equal(got, -5);
    sw_error_free(err);
}

#define SEC 1000000000LL

static void
test_parse_duration(void **state)
{
    (void)state;
    dur_ok("0", 0);
    dur_ok("+0", 0);
    dur_ok("-0", 0);
    dur_ok("0s", 0);
    dur_ok("24h", 24 * 3600 * SEC);
    dur_ok("30m", 30 * 60 * SEC);
    dur_ok("1h30m", 90 * 60 * SEC);
    dur_ok("1h30m15s", (90 * 60 + 15) * SEC);
    dur_ok("90s", 90 * SEC);
    dur_ok("1.5h", 90 * 60 * SEC);
    dur_ok(".5s", SEC / 2);
    dur_ok("1.s", SEC);
    dur_ok("+2h", 2 * 3600 * SEC);
    dur_ok("100ms", SEC / 10);
    dur_ok("1500us", 1500000);
    dur_ok("1500\xc2\xb5s", 1500000);
    dur_ok("1500\xce\xbcs", 1500000);
    dur_ok("7ns", 7);
    dur_ok("1h1h", 2 * 3600 * SEC); /* Go adds repeated units */
    dur_ok("2562047h", 2562047LL * 3600 * SEC);
    dur_ok("9223372036854775807ns", INT64_MAX);

    const char *not_dur = "not a duration";
    dur_bad("", not_dur);
    dur_bad("-", not_dur);
    dur_bad("24", not_dur); /* a unit is required (except for "0") */
    dur_bad("2d", not_dur); /* Go has no days */
    dur_bad("1w", not_dur);
    dur_bad("h", not_dur);
    dur_bad(".h", not_dur);
    dur_bad("1 h", not_dur);
    dur_bad("1h ", not_dur);
    dur_bad("1H", not_dur);
    dur_bad("1hour", not_dur);
    dur_bad("-1h", "a duration cannot be negative");
    dur_bad("9223372036854775808ns", "too large");
    dur_bad("2562048h", "too large");
    dur_bad("99999999999999999999s", "too large");
}

static void
test_format(void **state)
{
    (void)state;
    static const struct {
        uint64_t bytes;
        const char *want;
    } sizes[] = {
        {0, "0B"},
        {999, "999B"},
        {1000, "1kB"},
        {1024, "1.024kB"},
        {12300000, "12.3MB"},
        {4268000000ull, "4.268GB"},
        {999999, "1000kB"},
        {1500000000000ull, "1.5TB"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cli_format_size(buf, sizeof buf, sizes[i].bytes);
        assert_string_equal(buf, sizes[i].want);
    }
    static const struct {
        int64_t s;
        const char *want;
    } ages[] = {
        {-3, "Less than a second ago"}, {0, "Less than a second ago"}, {1, "1 second ago"},
        {59, "59 seconds ago"},         {60, "About a minute ago"},    {119, "About a minute ago"},
        {120, "2 minutes ago"},         {3599, "59 minutes ago"},      {3600, "About an hour ago"},
        {5399, "About an hour ago"},    {5400, "2 hours ago"},         {47 * 3600, "47 hours ago"},
        {48 * 3600, "2 days ago"},      {13 * 86400, "13 days ago"},   {14 * 86400, "2 weeks ago"},
        {60 * 86400, "2 months ago"},   {800 * 86400, "2 years ago"},
    };
    for (size_t i = 0; i < sizeof ages / sizeof ages[0]; i++) {
        cli_format_ago(buf, sizeof buf, ages[i].s);
        assert_string_equal(buf, ages[i].want);
    }
}

/* ---- a store with a tagged image, cache records, snapshots and cache mounts ------------------
 */

struct fx {
    char *dir;  /* mkdtemp */
    char *root; /* dir/store */
    struct store *st;
    time_t now;
    /* layer blobs: A is a layer of the tagged image and of record 1; B of record 2; C of record
     * 3; D of nothing */
    struct sw_digest a, b, c, d;
    uint64_t asize, bsize, csize;
    /* diff_ids (made up: nothing checks them against the blobs) */
    struct sw_digest da, db, dc, dorphan;
    struct sw_digest k1, k2, k3;       /* record keys */
    char mount[SW_DIGEST_HEX_LEN + 1]; /* the cache mount's directory name */
    char paths[8][4096];               /* pathf's results */
    unsigned npaths;
};

/* ROOT/<fmt...>, in one of the fixture's buffers (valid for the next 7 calls). */
static char *pathf(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *
pathf(struct fx *f, const char *fmt, ...)
{
    char *b = f->paths[f->npaths++ % 8];
    int n = snprintf(b, sizeof f->paths[0], "%s/", f->root);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, sizeof f->paths[0] - (size_t)n, fmt, ap);
    va_end(ap);
    return b;
}

static bool
exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static void
set_mtime(const char *path, time_t t)
{
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static struct sw_digest
digest_of(const char *s)
{
    struct sw_digest d;
    assert_int_equal(sw_digest_bytes(&d, s, strlen(s), NULL), 0);
    return d;
}

static struct sw_digest
put_blob(struct fx *f, size_t len, char fill, uint64_t *size)
{
    char *data = malloc(len);
    memset(data, fill, len);
    struct sw_digest d;
    assert_int_equal(store_blob_put(f->st, data, len, &d, NULL), 0);
    free(data);
    if (size)
        *size = len;
    return d;
}

static void
put_record(struct fx *f, const struct sw_digest *key, const struct sw_digest *layer, uint64_t size,
           const struct sw_digest *diff, const char *desc, time_t used)
{
    struct cache_record r = {.key = *key,
                             .kind = "run",
                             .description = (char *)desc,
                             .location = "Dockerfile:2",
                             .created_by = "RUN x",
                             .layer_media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
                             .layer_digest = *layer,
                             .layer_size = size,
                             .diff_id = *diff,
                             .created = (int64_t)used};
    struct sw_digest site = digest_of(desc);
    struct sw_error *err = NULL;
    assert_int_equal(cache_record_put(f->st, &r, "slipway-checksums 1\n", &site, &err), 0);
    set_mtime(pathf(f, "cache/records/%s.json", sw_digest_hex(key)), used);
}

/* A snapshot directory with a 10 kB file. */
static void
put_snapshot(struct fx *f, const char *format, const struct sw_digest *diff)
{
    char data[10000];
    memset(data, 's', sizeof data);
    ts_write(pathf(f, "snapshots/%s/%s/etc/file", format, sw_digest_hex(diff)), data, sizeof data,
             0600);
}

/* A stat cache file for context directory `ctx` whose first entry is ctx/file. */
static void
put_stat_cache(struct fx *f, const char *ctx, time_t mtime)
{
    char path[512];
    snprintf(path, sizeof path, "%s/file", ctx);
    size_t plen = strlen(path);
    unsigned char buf[16 + 88 + 512 + 64] = {0};
    memcpy(buf, "SWSTATC\001", 8);
    buf[8] = 1; /* count */
    buf[16 + 52] = (unsigned char)plen;
    memcpy(buf + 16 + 88, path, plen + 1);
    size_t len = 16 + 88 + plen + 1 + 64;
    memset(buf + len - 64, 'a', 64);
    struct sw_digest d = digest_of(ctx);
    char *file = pathf(f, "cache/stat/%s", sw_digest_hex(&d));
    ts_write(file, buf, len, 0600);
    set_mtime(file, mtime);
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char tmpl[] = "/tmp/sw-cache-cli-XXXXXX";
    if (!f || !mkdtemp(tmpl))
        return -1;
    f->dir = strdup(tmpl);
    if (asprintf(&f->root, "%s/store", f->dir) < 0 || store_open(&f->st, f->root, NULL) < 0)
        return -1;
    f->now = time(NULL);
    *state = f;

    f->a = put_blob(f, 3000, 'a', &f->asize);
    f->b = put_blob(f, 5000, 'b', &f->bsize);
    f->c = put_blob(f, 7000, 'c', &f->csize);
    f->d = put_blob(f, 100, 'd', NULL);
    f->da = digest_of("diff a");
    f->db = digest_of("diff b");
    f->dc = digest_of("diff c");
    f->dorphan = digest_of("diff orphan");
    f->k1 = digest_of("key 1");
    f->k2 = digest_of("key 2");
    f->k3 = digest_of("key 3");

    /* the tagged image: one layer, A */
    json_t *config = json_pack("{s:s, s:s, s:{s:s, s:[s]}}", "architecture", "amd64", "os", "linux",
                               "rootfs", "type", "layers", "diff_ids", f->da.str);
    struct sw_digest cd, md;
    uint64_t csz, msz;
    if (store_json_put(f->st, config, &cd, &csz, NULL) < 0)
        return -1;
    json_decref(config);
    json_t *manifest = json_pack(
        "{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "mediaType",
        STORE_MT_OCI_MANIFEST, "config", "mediaType", STORE_MT_OCI_CONFIG, "digest", cd.str, "size",
        (json_int_t)csz, "layers", "mediaType", "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest", f->a.str, "size", (json_int_t)f->asize);
    if (store_json_put(f->st, manifest, &md, &msz, NULL) < 0)
        return -1;
    json_decref(manifest);
    struct store_desc desc = {.media_type = STORE_MT_OCI_MANIFEST, .digest = md, .size = msz};
    if (store_tag_set(f->st, "img:latest", NULL, &desc, NULL) < 0)
        return -1;

    /* records: 1 shares the image's layer (used 3 days ago), 2 used 2 days ago, 3 just now */
    put_record(f, &f->k1, &f->a, f->asize, &f->da, "[stage-0 2/4] RUN one", f->now - 3 * 86400);
    put_record(f, &f->k2, &f->b, f->bsize, &f->db, "[stage-0 3/4] RUN two", f->now - 2 * 86400);
    put_record(f, &f->k3, &f->c, f->csize, &f->dc, "[stage-0 4/4] RUN three", f->now);
    put_snapshot(f, "overlay", &f->da);
    put_snapshot(f, "overlay", &f->db);
    put_snapshot(f, "markers", &f->dc);
    put_snapshot(f, "overlay-user", &f->dorphan);

    /* a cache mount with one instance (its ctime is now, so it counts as just used) */
    struct sw_digest m = digest_of("apt");
    snprintf(f->mount, sizeof f->mount, "%s", sw_digest_hex(&m));
    ts_write(pathf(f, "mounts/cache/%s/id", f->mount), "apt", 3, 0600);
    ts_write(pathf(f, "mounts/cache/%s/0/archives/pkg.deb", f->mount), "deb", 3, 0600);
    ts_write(pathf(f, "mounts/cache/%s/0.lock", f->mount), "", 0, 0600);
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    ts_rmtree(f->dir);
    free(f->dir);
    free(f->root);
    free(f);
    return 0;
}

static bool
blob_there(struct fx *f, const struct sw_digest *d)
{
    return store_blob_exists(f->st, d);
}

static bool
record_there(struct fx *f, const struct sw_digest *k)
{
    struct cache_record r;
    int rc = cache_record_get(f->st, k, &r, NULL);
    cache_record_clear(&r);
    return rc == 0;
}

static void
verify_ok(struct fx *f)
{
    struct sw_error *err = NULL;
    if (store_verify(f->st, NULL, &err) < 0)
        fail_msg("verify: %s", err->msg);
}

/* ---- gc ---------------------------------------------------------------------------------------
 */

static void
test_gc_roots(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    /* cache metadata: a site naming a record that is gone, a .files without its .json, stat
     * caches (a context that is gone, one that exists, one unused for 40 days), leftovers */
    struct sw_digest gone = digest_of("gone"), site = digest_of("site of gone");
    ts_write(pathf(f, "cache/sites/%s", sw_digest_hex(&site)), gone.str, strlen(gone.str), 0600);
    ts_write(pathf(f, "cache/records/%s.files", sw_digest_hex(&gone)), "x", 1, 0600);
    char ctx_gone[600], ctx_here[600];
    snprintf(ctx_gone, sizeof ctx_gone, "%s/ctx-gone", f->dir);
    snprintf(ctx_here, sizeof ctx_here, "%s/ctx-here", f->dir);
    assert_int_equal(mkdir(ctx_here, 0700), 0);
    put_stat_cache(f, ctx_gone, f->now);
    put_stat_cache(f, ctx_here, f->now);
    struct sw_digest stat_gone = digest_of(ctx_gone), stat_here = digest_of(ctx_here);
    struct sw_digest stat_old = digest_of("/old");
    ts_write(pathf(f, "cache/stat/%s", sw_digest_hex(&stat_old)), "x", 1, 0600);
    set_mtime(pathf(f, "cache/stat/%s", sw_digest_hex(&stat_old)), f->now - 40 * 86400);
    ts_write(pathf(f, "cache/stat/%s.tmp-abc123", sw_digest_hex(&stat_here)), "x", 1, 0600);
    ts_write(pathf(f, "mounts/cache/%s/1.tmp-abc123/x", f->mount), "x", 1, 0600);
    ts_write(pathf(f, "snapshots/overlay/.tmp-gc-%s/x", sw_digest_hex(&f->db)), "x", 1, 0600);

    size_t count = 0;
    uint64_t bytes = 0;
    if (store_gc(f->st, &count, &bytes, &err) < 0)
        fail_msg("gc: %s", err->msg);
    /* blobs: the image's and the records' stay, D goes */
    assert_true(blob_there(f, &f->a));
    assert_true(blob_there(f, &f->b));
    assert_true(blob_there(f, &f->c));
    assert_false(blob_there(f, &f->d));
    /* snapshots: the image's and the records' stay (any format), the orphan goes */
    assert_true(exists(pathf(f, "snapshots/overlay/%s/etc/file", sw_digest_hex(&f->da))));
    assert_true(exists(pathf(f, "snapshots/overlay/%s", sw_digest_hex(&f->db))));
    assert_true(exists(pathf(f, "snapshots/markers/%s", sw_digest_hex(&f->dc))));
    assert_false(exists(pathf(f, "snapshots/overlay-user/%s", sw_digest_hex(&f->dorphan))));
    assert_false(exists(pathf(f, "snapshots/overlay-user/.tmp-gc-%s", sw_digest_hex(&f->dorphan))));
    assert_false(exists(pathf(f, "snapshots/overlay/.tmp-gc-%s", sw_digest_hex(&f->db))));
    /* records, mounts stay */
    assert_true(record_there(f, &f->k1) && record_there(f, &f->k2) && record_there(f, &f->k3));
    assert_true(exists(pathf(f, "mounts/cache/%s/0/archives/pkg.deb", f->mount)));
    assert_false(exists(pathf(f, "mounts/cache/%s/1.tmp-abc123", f->mount)));
    /* metadata */
    assert_false(exists(pathf(f, "cache/sites/%s", sw_digest_hex(&site))));
    struct sw_digest live_site = digest_of("[stage-0 3/4] RUN two");
    assert_true(exists(pathf(f, "cache/sites/%s", sw_digest_hex(&live_site))));
    assert_false(exists(pathf(f, "cache/records/%s.files", sw_digest_hex(&gone))));
    assert_true(exists(pathf(f, "cache/records/%s.files", sw_digest_hex(&f->k2))));
    assert_false(exists(pathf(f, "cache/stat/%s", sw_digest_hex(&stat_gone))));
    assert_true(exists(pathf(f, "cache/stat/%s", sw_digest_hex(&stat_here))));
    assert_false(exists(pathf(f, "cache/stat/%s", sw_digest_hex(&stat_old))));
    assert_false(exists(pathf(f, "cache/stat/%s.tmp-abc123", sw_digest_hex(&stat_here))));
    /* D (100 B), the orphan snapshot (10 kB of data), the leftovers and the metadata */
    assert_true(count >= 9);
    assert_true(bytes >= 100 + 10000);
    verify_ok(f);

    /* a second run has nothing left to do */
    assert_int_equal(store_gc(f->st, &count, &bytes, &err), 0);
    assert_int_equal(count, 0);

    /* without the records, their blobs and snapshots go; the image's stay */
    assert_int_equal(cache_record_remove(f->st, &f->k1, &err), 0);
    assert_int_equal(cache_record_remove(f->st, &f->k2, &err), 0);
    assert_int_equal(cache_record_remove(f->st, &f->k3, &err), 0);
    assert_int_equal(store_gc(f->st, &count, &bytes, &err), 0);
    assert_true(blob_there(f, &f->a));
    assert_false(blob_there(f, &f->b));
    assert_false(blob_there(f, &f->c));
    assert_true(exists(pathf(f, "snapshots/overlay/%s", sw_digest_hex(&f->da))));
    assert_false(exists(pathf(f, "snapshots/overlay/%s", sw_digest_hex(&f->db))));
    assert_false(exists(pathf(f, "snapshots/markers/%s", sw_digest_hex(&f->dc))));
    assert_false(exists(pathf(f, "cache/sites/%s", sw_digest_hex(&live_site))));
    verify_ok(f);
}

static void
test_gc_held(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct store_lock *build = NULL, *gc = NULL;
    assert_int_equal(store_build_lock(f->st, &build, &err), 0);
    assert_int_equal(store_gc_held(f->st, build, NULL, NULL, &err), -SW_EINVAL);
    sw_error_free(err);
    err = NULL;
    assert_int_equal(store_gc_lock(f->st, &gc, &err), -SW_EIO);
    assert_int_equal(err->sys_errno, EWOULDBLOCK);
    assert_non_null(strstr(err->msg, "in use by a running build"));
    sw_error_free(err);
    err = NULL;
    store_build_unlock(build);
    assert_int_equal(store_gc_lock(f->st, &gc, &err), 0);
    size_t count = 0;
    assert_int_equal(store_gc_held(f->st, gc, &count, NULL, &err), 0);
    assert_false(blob_there(f, &f->d));
    store_build_unlock(gc);
}

/* ---- usage and prune --------------------------------------------------------------------------
 */

struct seen {
    char names[8][80];
    size_t n;
};

static void
on_removed(const struct store_cache_item *it, void *ctx)
{
    struct seen *s = ctx;
    assert_true(s->n < 8);
    snprintf(s->names[s->n++], sizeof s->names[0], "%s", it->mount ? it->id : it->description);
}

static void
test_usage(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct store_cache_usage u;
    struct store_cache_mount_list ml = {0};
    if (store_cache_usage(f->st, &u, &ml, &err) < 0)
        fail_msg("usage: %s", err->msg);
    assert_int_equal(u.nrecords, 3);
    assert_int_equal(u.layer_bytes, f->asize + f->bsize + f->csize);
    assert_int_equal(u.nmounts, 1);
    assert_int_equal(ml.n, 1);
    assert_string_equal(ml.v[0].id, "apt");
    assert_string_equal(ml.v[0].name, f->mount);
    assert_int_equal(ml.v[0].ninstances, 1);
    assert_true(ml.v[0].size > 0);
    assert_int_equal(u.mount_bytes, ml.v[0].size);
    assert_true(ml.v[0].used >= f->now - 5);
    /* own: B, C, their two snapshots (>= 10 kB each) and the mount; not A nor its snapshot */
    assert_true(u.own_bytes >= f->bsize + f->csize + 20000 + u.mount_bytes);
    assert_true(u.own_bytes < f->bsize + f->csize + 2 * 40960 + u.mount_bytes);
    store_cache_mount_list_free(&ml);
}

static void
test_prune_until(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct seen seen = {0};
    struct store_cache_prune_opts o = {
        .has_until = true, .until = 36 * 3600, .removed = on_removed, .ctx = &seen};
    struct store_cache_prune_result res;
    if (store_cache_prune(f->st, &o, &res, &err) < 0)
        fail_msg("prune: %s", err->msg);
    /* not used for 36 hours: records 1 and 2, oldest first; 3 and the mount were just used */
    assert_int_equal(res.records, 2);
    assert_int_equal(res.mounts, 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.names[0], "[stage-0 2/4] RUN one");
    assert_string_equal(seen.names[1], "[stage-0 3/4] RUN two");
    assert_false(record_there(f, &f->k1));
    assert_false(record_there(f, &f->k2));
    assert_true(record_there(f, &f->k3));
    /* the gc that followed: B and its snapshot go, A stays for the image, D goes too */
    assert_true(blob_there(f, &f->a));
    assert_false(blob_there(f, &f->b));
    assert_true(blob_there(f, &f->c));
    assert_false(blob_there(f, &f->d));
    assert_false(exists(pathf(f, "snapshots/overlay/%s", sw_digest_hex(&f->db))));
    assert_true(exists(pathf(f, "snapshots/overlay/%s", sw_digest_hex(&f->da))));
    assert_true(res.reclaimed >= f->bsize + 10000 + 100);
    assert_true(exists(pathf(f, "mounts/cache/%s", f->mount)));
    verify_ok(f);

    /* nothing is old enough now */
    memset(&seen, 0, sizeof seen);
    o.until = 3600;
    assert_int_equal(store_cache_prune(f->st, &o, &res, &err), 0);
    assert_int_equal(res.records + res.mounts, 0);
}

static void
test_prune_keep_storage(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct store_cache_usage u;
    assert_int_equal(store_cache_usage(f->st, &u, NULL, &err), 0);

    /* at or above the total: nothing goes */
    struct seen seen = {0};
    struct store_cache_prune_opts o = {
        .has_keep_storage = true, .keep_storage = u.own_bytes, .removed = on_removed, .ctx = &seen};
    struct store_cache_prune_result res;
    assert_int_equal(store_cache_prune(f->st, &o, &res, &err), 0);
    assert_int_equal(res.records + res.mounts, 0);
    assert_true(record_there(f, &f->k1));

    /* one byte less: the least recently used item that holds storage of its own goes (record 2;
     * record 1 is older but its layer is the image's: removing it would free nothing) */
    o.keep_storage = u.own_bytes - 1;
    assert_int_equal(store_cache_prune(f->st, &o, &res, &err), 0);
    assert_int_equal(res.records, 1);
    assert_int_equal(res.mounts, 0);
    assert_string_equal(seen.names[0], "[stage-0 3/4] RUN two");
    assert_true(record_there(f, &f->k1));
    assert_false(record_there(f, &f->k2));
    assert_false(blob_there(f, &f->b));

    /* 0: everything that holds storage, records and mounts by last use */
    memset(&seen, 0, sizeof seen);
    o.keep_storage = 0;
    assert_int_equal(store_cache_prune(f->st, &o, &res, &err), 0);
    assert_int_equal(res.records, 1);
    assert_int_equal(res.mounts, 1);
    assert_true(record_there(f, &f->k1));
    assert_false(record_there(f, &f->k3));
    assert_false(exists(pathf(f, "mounts/cache/%s", f->mount)));
    assert_false(blob_there(f, &f->c));
    assert_true(blob_there(f, &f->a));
    assert_int_equal(store_cache_usage(f->st, &u, NULL, &err), 0);
    assert_int_equal(u.own_bytes, 0);
    assert_int_equal(u.nrecords, 1);
    verify_ok(f);
}

static void
test_prune_all_busy_mount(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    /* a "build" holds the cache mount's instance lock (shared sharing mode) */
    int lock = open(pathf(f, "mounts/cache/%s/0.lock", f->mount), O_RDONLY | O_CLOEXEC);
    assert_true(lock >= 0);
    assert_int_equal(flock(lock, LOCK_SH), 0);
    struct store_cache_prune_opts o = {0};
    struct store_cache_prune_result res;
    if (store_cache_prune(f->st, &o, &res, &err) < 0)
        fail_msg("prune: %s", err->msg);
    assert_int_equal(res.records, 3);
    assert_int_equal(res.mounts, 0);
    assert_int_equal(res.mounts_busy, 1);
    assert_true(exists(pathf(f, "mounts/cache/%s/0/archives/pkg.deb", f->mount)));
    assert_false(blob_there(f, &f->b));
    assert_false(blob_there(f, &f->c));
    assert_true(blob_there(f, &f->a));
    close(lock);

    /* released: it goes */
    assert_int_equal(store_cache_prune(f->st, &o, &res, &err), 0);
    assert_int_equal(res.mounts, 1);
    assert_int_equal(res.mounts_busy, 0);
    assert_false(exists(pathf(f, "mounts/cache/%s", f->mount)));
    assert_false(exists(pathf(f,
                              "mounts/cache/"
                              ".tmp-gc-%s",
                              f->mount)));
    struct store_cache_usage u;
    assert_int_equal(store_cache_usage(f->st, &u, NULL, &err), 0);
    assert_int_equal(u.nrecords + u.nmounts, 0);
    assert_int_equal(u.own_bytes, 0);
    verify_ok(f);
}

static void
test_prune_while_build(void **state)
{
    struct fx *f = *state;
    struct sw_error *err = NULL;
    struct store_lock *build = NULL;
    assert_int_equal(store_build_lock(f->st, &build, &err), 0);
    struct store_cache_prune_opts o = {0};
    struct store_cache_prune_result res = {.records = 99};
    assert_int_equal(store_cache_prune(f->st, &o, &res, &err), -SW_EIO);
    assert_int_equal(err->sys_errno, EWOULDBLOCK);
    assert_non_null(strstr(err->msg, "the store is in use by a running build"));
    sw_error_free(err);
    assert_int_equal(res.records, 99); /* untouched on failure */
    /* nothing was removed */
    assert_true(record_there(f, &f->k1) && record_there(f, &f->k2) && record_there(f, &f->k3));
    assert_true(blob_there(f, &f->d));
    assert_true(exists(pathf(f, "mounts/cache/%s", f->mount)));
    store_build_unlock(build);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_format),
        cmocka_unit_test_setup_teardown(test_gc_roots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_until, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_keep_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_all_busy_mount, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_while_build, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
