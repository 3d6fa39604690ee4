/*
 * Unit tests for builder/layer/gzip.c: the parallel gzip compressor.
 *
 * Every output is read back member by member with libdeflate's decompressor (which checks each
 * member's CRC-32 and size), as one stream with libarchive (what the layer extractor uses), and
 * with gzip -t when it is installed.
 *
 * `test_layer_gzip --compress [-l LEVEL] [-t THREADS] [-b BLOCK] [--no-store]` compresses stdin
 * to stdout instead and prints MB/s to stderr (bench/compress.sh uses it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layer/gzip.h"
#include "util/buf.h"

/* ---- helpers ----------------------------------------------------------------------------------
 */

static int
mem_out(void *ctx, const void *buf, size_t n, struct sw_error **err)
{
    (void)err;
    return sw_buf_append(ctx, buf, n) < 0 ? -SW_ENOMEM : 0;
}

/* Deterministic pseudo-random bytes (xorshift64*), so that failures reproduce. */
static void
fill_random(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        p[i] = (unsigned char)((x * 2685821657736338717ull) >> 56);
    }
}

/* Text-like bytes: words from a small vocabulary, lines of varying length. */
static void
fill_text(unsigned char *p, size_t n, uint64_t seed)
{
    static const char *const words[] = {"layer",  "image",  "the",    "of",  "tar",  "gzip",
                                        "digest", "sha256", "config", "run", "copy", "from",
                                        "a",      "in",     "build",  "to"};
    uint64_t x = seed + 0x9e3779b97f4a7c15ull;
    size_t i = 0;
    while (i < n) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const char *w = words[(x >> 33) % 16];
        for (size_t k = 0; w[k] && i < n; k++)
            p[i++] = (unsigned char)w[k];
        if (i < n)
            p[i++] = (x >> 40) % 9 == 0 ? '\n' : ' ';
    }
}

/* Half random, half text, in stretches of 20-200 KiB, as a tar of mixed files would be. */
static unsigned char *
make_mixed(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint64_t x = seed | 1;
    for (size_t off = 0; off < n;) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = (20 << 10) + (size_t)((x >> 33) % (180 << 10));
        if (len > n - off)
            len = n - off;
        if ((x >> 62) & 1)
            fill_random(p + off, len, x);
        else
            fill_text(p + off, len, x);
        off += len;
    }
    return p;
}

static struct layer_gzip_opts
opts(int level, unsigned threads, size_t block)
{
    struct layer_gzip_opts o = layer_gzip_opts_default();
    o.level = level;
    o.threads = threads;
    o.block_size = block;
    return o;
}

/* Compress `in` with `o`, feeding it in pieces of `piece` bytes (0 = all at once). */
static void
compress(const struct layer_gzip_opts *o, const void *in, size_t n, size_t piece,
         struct sw_buf *out)
{
    struct layer_gzip *gz = NULL;
    struct sw_error *err = NULL;
    memset(out, 0, sizeof *out);
    assert_int_equal(layer_gzip_new(&gz, o, mem_out, out, &err), 0);
    const unsigned char *p = in;
    for (size_t off = 0; off < n;) {
        size_t k = piece && piece < n - off ? piece : n - off;
        if (layer_gzip_write(gz, p + off, k, &err) < 0)
            fail_msg("layer_gzip_write: %s", err->msg);
        off += k;
    }
    if (layer_gzip_finish(gz, &err) < 0)
        fail_msg("layer_gzip_finish: %s", err->msg);
    layer_gzip_free(gz);
}

/* Decompress member by member with libdeflate; returns the number of members. Every member must
 * have our fixed header: no name, no timestamp, OS 3 (Unix). */
static size_t
inflate_members(const struct sw_buf *gz, struct sw_buf *out)
{
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    assert_non_null(d);
    memset(out, 0, sizeof *out);
    size_t members = 0, cap = 1 << 16;
    unsigned char *tmp = malloc(cap);
    assert_non_null(tmp);
    const unsigned char *p = (const unsigned char *)gz->data;
    size_t left = gz->len;
    assert_true(left >= 18);
    while (left > 0) {
        assert_true(left >= 18);
        assert_int_equal(p[0], 0x1f);
        assert_int_equal(p[1], 0x8b);
        assert_int_equal(p[2], 8);
        assert_int_equal(p[3], 0);
        assert_int_equal(p[4] | p[5] | p[6] | p[7], 0);
        assert_int_equal(p[9], 3);
        size_t in_used = 0, got = 0;
        enum libdeflate_result r;
        while ((r = libdeflate_gzip_decompress_ex(d, p, left, tmp, cap, &in_used, &got)) ==
               LIBDEFLATE_INSUFFICIENT_SPACE) {
            cap *= 2;
            tmp = realloc(tmp, cap);
            assert_non_null(tmp);
        }
        assert_int_equal(r, LIBDEFLATE_SUCCESS);
        assert_int_equal(sw_buf_append(out, tmp, got), 0);
        p += in_used;
        left -= in_used;
        members++;
    }
    free(tmp);
    libdeflate_free_decompressor(d);
    return members;
}

/* Decompress the whole stream with libarchive's raw reader (what layer_extract uses). */
static void
inflate_libarchive(const struct sw_buf *gz, struct sw_buf *out)
{
    memset(out, 0, sizeof *out);
    struct archive *a = archive_read_new();
    archive_read_support_format_raw(a);
    archive_read_support_filter_gzip(a);
    assert_int_equal(archive_read_open_memory(a, gz->data, gz->len), ARCHIVE_OK);
    struct archive_entry *ae;
    assert_int_equal(archive_read_next_header(a, &ae), ARCHIVE_OK);
    char buf[65536];
    la_ssize_t k;
    while ((k = archive_read_data(a, buf, sizeof buf)) > 0)
        assert_int_equal(sw_buf_append(out, buf, (size_t)k), 0);
    assert_int_equal(k, 0);
    archive_read_free(a);
}

/* gzip -t and zcat | cmp, when gzip is installed. */
static void
gzip_tool_accepts(const struct sw_buf *gz, const void *want, size_t n)
{
    if (access("/usr/bin/gzip", X_OK) != 0) {
        print_message("gzip not installed: only libdeflate and libarchive read the stream\n");
        return;
    }
    char dir[] = "/tmp/sw-gzip-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char gzf[64], rawf[64], cmd[256];
    snprintf(gzf, sizeof gzf, "%s/blob.gz", dir);
    snprintf(rawf, sizeof rawf, "%s/want", dir);
    FILE *f = fopen(gzf, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(gz->data, 1, gz->len, f), gz->len);
    fclose(f);
    f = fopen(rawf, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(want, 1, n, f), n);
    fclose(f);
    snprintf(cmd, sizeof cmd, "gzip -t %s && zcat %s | cmp -s - %s", gzf, gzf, rawf);
    assert_int_equal(system(cmd), 0);
    unlink(gzf);
    unlink(rawf);
    rmdir(dir);
}

/* Compress and check that every reader gives `in` back; returns the member count. */
static size_t
roundtrip(const struct layer_gzip_opts *o, const void *in, size_t n, size_t piece,
          struct sw_buf *gz)
{
    compress(o, in, n, piece, gz);
    struct sw_buf a = {0}, b = {0};
    size_t members = inflate_members(gz, &a);
    assert_int_equal(a.len, n);
    if (n)
        assert_memory_equal(a.data, in, n);
    if (n) { /* libarchive's raw format does not open an empty stream, whatever the filter */
        inflate_libarchive(gz, &b);
        assert_int_equal(b.len, n);
        assert_memory_equal(b.data, in, n);
    }
    sw_buf_free(&a);
    sw_buf_free(&b);
    return members;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void
test_roundtrip_levels(void **state)
{
    (void)state;
    size_t n = (5 << 20) + 12345;
    unsigned char *in = make_mixed(n, 1);
    size_t prev = SIZE_MAX;
    for (int level = 1; level <= 9; level += 4) { /* 1, 5, 9 */
        struct layer_gzip_opts o = opts(level, 2, 0);
        struct sw_buf gz = {0};
        roundtrip(&o, in, n, 0, &gz);
        assert_true(gz.len < n);     /* the text half compresses */
        assert_true(gz.len > n / 2); /* the random half does not */
        assert_true(gz.len <= prev); /* higher levels are not larger */
        unsigned char xfl = ((const unsigned char *)gz.data)[8];
        assert_int_equal(xfl, level == 1 ? 4 : level == 9 ? 2 : 0);
        prev = gz.len;
        if (level == 5)
            gzip_tool_accepts(&gz, in, n);
        sw_buf_free(&gz);
    }
    /* Level 0 is the default (6). */
    struct sw_buf d0 = {0}, d6 = {0};
    struct layer_gzip_opts o0 = opts(0, 2, 0), o6 = opts(6, 2, 0);
    compress(&o0, in, n, 0, &d0);
    compress(&o6, in, n, 0, &d6);
    assert_int_equal(d0.len, d6.len);
    assert_memory_equal(d0.data, d6.data, d0.len);
    sw_buf_free(&d0);
    sw_buf_free(&d6);
    free(in);
}

static void
test_deterministic_across_threads(void **state)
{
    (void)state;
    size_t n = (9 << 20) + 777;
    unsigned char *in = make_mixed(n, 2);
    struct sw_buf ref = {0};
    struct layer_gzip_opts o = opts(6, 1, 0);
    roundtrip(&o, in, n, 0, &ref);
    const unsigned threads[] = {2, 4, 7};
    const size_t pieces[] = {0, 1000, 65536 + 3};
    for (size_t t = 0; t < 3; t++) {
        for (size_t k = 0; k < 3; k++) {
            struct sw_buf gz = {0};
            o.threads = threads[t];
            compress(&o, in, n, pieces[k], &gz);
            assert_int_equal(gz.len, ref.len);
            assert_memory_equal(gz.data, ref.data, ref.len);
            sw_buf_free(&gz);
        }
    }
    /* The block size does change the bytes (it is part of the format), not the content. */
    struct sw_buf small = {0};
    o = opts(6, 3, 64 << 10);
    roundtrip(&o, in, n, 0, &small);
    assert_false(small.len == ref.len && !memcmp(small.data, ref.data, ref.len));
    sw_buf_free(&small);
    sw_buf_free(&ref);
    free(in);
}

static void
test_empty(void **state)
{
    (void)state;
    for (unsigned t = 1; t <= 4; t *= 2) {
        struct layer_gzip_opts o = opts(6, t, 0);
        struct sw_buf gz = {0};
        assert_int_equal(roundtrip(&o, "", 0, 0, &gz), 1);
        assert_true(gz.len >= 20 && gz.len <= 32); /* header, an empty final block, trailer */
        gzip_tool_accepts(&gz, "", 0);
        sw_buf_free(&gz);
    }
    /* Zero-length writes change nothing. */
    struct layer_gzip *gz = NULL;
    struct sw_error *err = NULL;
    struct sw_buf out = {0};
    assert_int_equal(layer_gzip_new(&gz, NULL, mem_out, &out, &err), 0);
    assert_int_equal(layer_gzip_write(gz, NULL, 0, &err), 0);
    assert_int_equal(layer_gzip_finish(gz, &err), 0);
    layer_gzip_free(gz);
    assert_true(out.len >= 20 && out.len <= 32);
    sw_buf_free(&out);
}

static void
test_block_boundaries(void **state)
{
    (void)state;
    const size_t bs = 4096;
    size_t max = 5 * bs + 1;
    unsigned char *text = malloc(max);
    assert_non_null(text);
    fill_text(text, max, 3);
    const size_t sizes[] = {1, bs - 1, bs, bs + 1, 2 * bs - 1, 2 * bs, 3 * bs + 1, 5 * bs + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (unsigned t = 1; t <= 4; t *= 2) {
            struct layer_gzip_opts o = opts(6, t, bs);
            struct sw_buf gz = {0}, gz2 = {0};
            /* Text: one member per block, the last one partial. */
            size_t members = roundtrip(&o, text, n, 0, &gz);
            assert_int_equal(members, (n + bs - 1) / bs);
            /* Writes that straddle the block boundary give the same bytes. */
            roundtrip(&o, text, n, bs - 1, &gz2);
            assert_int_equal(gz.len, gz2.len);
            assert_memory_equal(gz.data, gz2.data, gz.len);
            sw_buf_free(&gz);
            sw_buf_free(&gz2);
        }
    }
    free(text);
}

static void
test_incompressible_stored(void **state)
{
    (void)state;
    size_t n = 4 << 20;
    unsigned char *rnd = malloc(n), *txt = malloc(n);
    assert_non_null(rnd);
    assert_non_null(txt);
    fill_random(rnd, n, 4);
    fill_text(txt, n, 4);

    /* Random data is stored: a few bytes per 64 KiB stored block and per member. */
    struct layer_gzip_opts o = opts(9, 2, 0);
    struct sw_buf gz = {0}, slow = {0};
    assert_int_equal(roundtrip(&o, rnd, n, 0, &gz), 4);
    assert_true(gz.len > n && gz.len < n + n / 1000);
    /* Without the fast path libdeflate also ends up storing it: about the same size. */
    o.store_incompressible = false;
    assert_int_equal(roundtrip(&o, rnd, n, 0, &slow), 4);
    assert_true(gz.len <= slow.len + 64 && slow.len <= gz.len + n / 1000);
    sw_buf_free(&gz);
    sw_buf_free(&slow);

    /* Text is never stored: the fast path does not change the bytes. */
    o.store_incompressible = true;
    struct sw_buf t1 = {0}, t2 = {0};
    roundtrip(&o, txt, n, 0, &t1);
    o.store_incompressible = false;
    roundtrip(&o, txt, n, 0, &t2);
    assert_true(t1.len < n / 3);
    assert_int_equal(t1.len, t2.len);
    assert_memory_equal(t1.data, t2.data, t1.len);
    sw_buf_free(&t1);
    sw_buf_free(&t2);

    /* A block with random, text, random stretches: three members, the text compressed. */
    unsigned char *mix = malloc(1 << 20);
    assert_non_null(mix);
    memcpy(mix, rnd, 256 << 10);
    memcpy(mix + (256 << 10), txt, 512 << 10);
    memcpy(mix + (768 << 10), rnd + (256 << 10), 256 << 10);
    o = opts(6, 2, 0);
    struct sw_buf m = {0};
    assert_int_equal(roundtrip(&o, mix, 1 << 20, 0, &m), 3);
    assert_true(m.len < (512 << 10) + (512 << 10) / 3);
    gzip_tool_accepts(&m, mix, 1 << 20);
    sw_buf_free(&m);
    free(mix);
    free(rnd);
    free(txt);
}

struct failing {
    struct sw_buf buf;
    int calls, fail_at; /* fail on call number fail_at (1-based) */
    bool set_err;
};

static int
failing_out(void *ctx, const void *buf, size_t n, struct sw_error **err)
{
    struct failing *f = ctx;
    if (++f->calls == f->fail_at) {
        if (f->set_err)
            return sw_error_set(err, SW_EIO, 28, NULL, "disk full (test output)");
        return -SW_EIO;
    }
    return sw_buf_append(&f->buf, buf, n) < 0 ? -SW_ENOMEM : 0;
}

static void
test_output_errors(void **state)
{
    (void)state;
    size_t n = 3 << 20;
    unsigned char *in = make_mixed(n, 5);
    const size_t bs = 64 << 10; /* 48 blocks */
    for (unsigned t = 1; t <= 4; t *= 2) {
        const int at[] = {1, 2, 17, 48};
        for (size_t i = 0; i < 4; i++) {
            struct failing f = {.fail_at = at[i], .set_err = i % 2 == 0};
            struct layer_gzip_opts o = opts(6, t, bs);
            struct layer_gzip *gz = NULL;
            struct sw_error *err = NULL;
            assert_int_equal(layer_gzip_new(&gz, &o, failing_out, &f, &err), 0);
            int r = 0;
            for (size_t off = 0; off < n && r == 0; off += 100000)
                r = layer_gzip_write(gz, in + off, n - off < 100000 ? n - off : 100000, &err);
            if (r == 0)
                r = layer_gzip_finish(gz, &err);
            assert_int_equal(r, -SW_EIO);
            assert_non_null(err);
            assert_int_equal(err->code, SW_EIO);
            assert_non_null(strstr(err->msg, f.set_err ? "disk full (test output)"
                                                       : "writing the compressed stream failed"));
            assert_int_equal(f.calls, at[i]); /* nothing is written after the failure */
            sw_error_free(err);
            err = NULL;
            /* The stream is dead. */
            assert_int_equal(layer_gzip_write(gz, "x", 1, &err), -SW_EINVAL);
            sw_error_free(err);
            err = NULL;
            assert_int_equal(layer_gzip_finish(gz, &err), -SW_EINVAL);
            sw_error_free(err);
            layer_gzip_free(gz); /* joins the workers, frees blocks still in flight */
            sw_buf_free(&f.buf);
        }
    }
    /* Free without finish, with blocks in flight. */
    struct sw_buf out = {0};
    struct layer_gzip_opts o = opts(9, 4, bs);
    struct layer_gzip *gz = NULL;
    struct sw_error *err = NULL;
    assert_int_equal(layer_gzip_new(&gz, &o, mem_out, &out, &err), 0);
    assert_int_equal(layer_gzip_write(gz, in, n, &err), 0);
    layer_gzip_free(gz);
    sw_buf_free(&out);
    free(in);
}

static void
test_bad_options(void **state)
{
    (void)state;
    struct layer_gzip *gz = NULL;
    struct sw_error *err = NULL;
    struct sw_buf out = {0};
    struct layer_gzip_opts bad[] = {opts(10, 1, 0), opts(-1, 1, 0), opts(6, 65, 0), opts(6, 1, 100),
                                    opts(6, 1, (size_t)65 << 20)};
    const char *what[] = {"level 10", "level -1", "65 threads", "block size 100",
                          "block size 68157440"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(layer_gzip_new(&gz, &bad[i], mem_out, &out, &err), -SW_EINVAL);
        assert_non_null(strstr(err->msg, what[i]));
        sw_error_free(err);
        err = NULL;
    }
    assert_int_equal(layer_gzip_new(&gz, NULL, NULL, NULL, &err), -SW_EINVAL);
    sw_error_free(err);
    layer_gzip_free(NULL);
}

/* ---- --compress: the benchmark driver ---------------------------------------------------------
 */

static int
fd_out(void *ctx, const void *buf, size_t n, struct sw_error **err)
{
    const char *p = buf;
    while (n) {
        ssize_t k = write(*(int *)ctx, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "write: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int
compress_stdio(int argc, char **argv)
{
    struct layer_gzip_opts o = layer_gzip_opts_default();
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-l") && i + 1 < argc)
            o.level = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            o.threads = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-b") && i + 1 < argc)
            o.block_size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--no-store"))
            o.store_incompressible = false;
        else {
            fprintf(stderr,
                    "usage: %s --compress [-l LEVEL] [-t THREADS] [-b BLOCK] [--no-store]\n",
                    argv[0]);
            return 2;
        }
    }
    int fd = 1;
    struct layer_gzip *gz = NULL;
    struct sw_error *err = NULL;
    static unsigned char buf[1 << 16];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t total = 0;
    int r = layer_gzip_new(&gz, &o, fd_out, &fd, &err);
    while (r == 0) {
        ssize_t k = read(0, buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            r = sw_error_set(&err, SW_EIO, errno, NULL, "read: %s", strerror(errno));
            break;
        }
        if (k == 0) {
            r = layer_gzip_finish(gz, &err);
            break;
        }
        total += (uint64_t)k;
        r = layer_gzip_write(gz, buf, (size_t)k, &err);
    }
    layer_gzip_free(gz);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (r < 0) {
        fprintf(stderr, "compress: %s\n", err && err->msg ? err->msg : "failed");
        sw_error_free(err);
        return 1;
    }
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "%llu bytes in %.3f s: %.1f MB/s\n", (unsigned long long)total, s,
            (double)total / s / 1e6);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--compress"))
        return compress_stdio(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_levels),
        cmocka_unit_test(test_deterministic_across_threads),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_block_boundaries),
        cmocka_unit_test(test_incompressible_stored),
        cmocka_unit_test(test_output_errors),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
