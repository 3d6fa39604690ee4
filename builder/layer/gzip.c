/*
 * builder/layer/gzip.c: parallel gzip with libdeflate.
 *
 * The producer (the thread calling layer_gzip_write) copies the stream into a ring of slots,
 * one block per slot. A full slot is queued; worker threads take queued slots in ring order,
 * compress them into gzip members and mark them done; the producer writes done slots to the
 * output callback in ring order, which is stream order, and reuses them. When every slot is in
 * flight the producer waits for the oldest one: that is the memory bound.
 *
 *   producer: fill slot[fill] -> QUEUED -> ... -> (DONE) write out, FREE
 *   worker:   QUEUED slot[take] -> BUSY -> compress -> DONE
 *
 * libdeflate compresses whole buffers and always ends its output with a final deflate block, so
 * independently compressed blocks cannot be joined into one deflate stream: each block becomes
 * one or more complete gzip members (RFC 1952, section 2.2: a file is a series of members).
 *
 * A block is cut into 16 KiB segments and each is classified by its byte histogram. Runs of
 * segments that look incompressible (nearly flat histogram: random or already compressed data)
 * become members of stored deflate blocks, without running the match finder over them; other
 * runs are compressed at the chosen level. The classification uses integers only, so the output
 * is the same on every machine.
 */
#include "layer/gzip.h"

#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

#define MIN_BLOCK_SIZE ((size_t)4 << 10)
#define MAX_BLOCK_SIZE ((size_t)64 << 20)
#define SEGMENT ((size_t)16 << 10)    /* classification granularity */
#define MIN_SEGMENT ((size_t)4 << 10) /* a shorter tail segment is always compressed */
/* A segment is "flat" when its collision probability sum(p_i^2) is at most 1/FLAT_INVERSE, i.e.
 * its Renyi entropy of order 2 is at least log2(181) = 7.4998 bits per byte. Random bytes give
 * about 1/256; a tar header in a 16 KiB segment of random data about 1/209; text, code,
 * executables, base64 and UTF-16 give far more than 1/181. */
#define FLAT_INVERSE 181u

#define GZIP_HEADER_LEN 10
#define GZIP_TRAILER_LEN 8
#define GZIP_OS_UNIX 3

enum slot_state {
    SLOT_FREE = 0, /* owned by the producer: being filled or empty */
    SLOT_QUEUED,   /* waiting for a worker */
    SLOT_BUSY,     /* owned by a worker */
    SLOT_DONE,     /* compressed (or failed): waiting to be written out */
};

struct slot {
    enum slot_state state;
    unsigned char *in;
    size_t in_len;
    unsigned char *out;
    size_t out_len, out_cap;
    int code;             /* a worker's failure: -SW_E*, 0 = ok */
    struct sw_error *err; /* its message (may be NULL when even that allocation failed) */
};

struct worker {
    struct layer_gzip *gz;
    pthread_t thread;
    struct libdeflate_compressor *c;      /* at the stream's level */
    struct libdeflate_compressor *stored; /* level 0: stored blocks only */
};

struct layer_gzip {
    struct layer_gzip_opts opts;
    layer_gzip_out_fn out_fn;
    void *ctx;
    unsigned char header[GZIP_HEADER_LEN];

    pthread_mutex_t mu;
    pthread_cond_t work; /* workers: a slot was queued, or stop */
    pthread_cond_t done; /* producer: a slot is done */
    bool stop;

    struct slot *slots;
    size_t nslots;
    size_t head;    /* oldest slot in flight (next to write out) */
    size_t fill;    /* slot being filled: (head + pending) % nslots */
    size_t take;    /* next slot a worker takes */
    size_t pending; /* slots in flight: queued, busy or done */
    size_t queued;  /* slots waiting for a worker */
    uint64_t submitted;

    struct worker *workers;
    unsigned nworkers; /* started (and not yet joined) */
    bool failed, finished;
};

/* ---- options ----------------------------------------------------------------------------------
 */

struct layer_gzip_opts
layer_gzip_opts_default(void)
{
    struct layer_gzip_opts o = {
        .level = LAYER_GZIP_DEFAULT_LEVEL,
        .threads = 0,
        .block_size = 0,
        .store_incompressible = true,
    };
    return o;
}

static unsigned
online_cpus(void)
{
    cpu_set_t set;
    long n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    return n > LAYER_GZIP_DEFAULT_MAX_THREADS ? LAYER_GZIP_DEFAULT_MAX_THREADS : (unsigned)n;
}

/* gzip's XFL byte: 2 = slowest algorithm, 4 = fastest, as zlib writes it. */
static unsigned char
xfl_for_level(int level)
{
    return level >= 9 ? 2 : level == 1 ? 4 : 0;
}

/* ---- compressing one block (worker side) ------------------------------------------------------
 */

/* Is this segment's byte histogram nearly flat (see FLAT_INVERSE)? Integers only. */
static bool
segment_flat(const unsigned char *p, size_t n)
{
    if (n < MIN_SEGMENT)
        return false;
    uint32_t h[4][256];
    memset(h, 0, sizeof h);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        h[0][p[i]]++;
        h[1][p[i + 1]]++;
        h[2][p[i + 2]]++;
        h[3][p[i + 3]]++;
    }
    for (; i < n; i++)
        h[0][p[i]]++;
    uint64_t sumsq = 0;
    for (size_t b = 0; b < 256; b++) {
        uint64_t c = (uint64_t)h[0][b] + h[1][b] + h[2][b] + h[3][b];
        sumsq += c * c;
    }
    return sumsq * FLAT_INVERSE <= (uint64_t)n * n;
}

struct run {
    size_t off, len;
    bool stored;
};

/* Split a block into runs of segments of the same class; returns the number of runs (at least
 * one, also for an empty block). `runs` has room for one per segment. */
static size_t
split_runs(const struct layer_gzip *gz, const unsigned char *in, size_t n, struct run *runs)
{
    size_t nr = 0;
    if (!gz->opts.store_incompressible || n == 0) {
        runs[0] = (struct run){.off = 0, .len = n, .stored = false};
        return 1;
    }
    for (size_t off = 0; off < n; off += SEGMENT) {
        size_t len = n - off < SEGMENT ? n - off : SEGMENT;
        bool stored = segment_flat(in + off, len);
        if (nr && runs[nr - 1].stored == stored)
            runs[nr - 1].len += len;
        else
            runs[nr++] = (struct run){.off = off, .len = len, .stored = stored};
    }
    return nr;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static int
compress_slot(struct worker *wk, struct slot *s)
{
    struct layer_gzip *gz = wk->gz;
    size_t maxruns = gz->opts.block_size / SEGMENT + 1;
    sw_autofree struct run *runs = malloc(maxruns * sizeof *runs);
    if (!runs)
        return sw_error_oom(&s->err);
    static const unsigned char none[1];
    const unsigned char *in = s->in ? s->in : none; /* an empty stream never allocated one */
    size_t nr = split_runs(gz, in, s->in_len, runs);

    size_t need = 0;
    for (size_t i = 0; i < nr; i++) {
        struct libdeflate_compressor *c = runs[i].stored ? wk->stored : wk->c;
        need +=
            GZIP_HEADER_LEN + GZIP_TRAILER_LEN + libdeflate_deflate_compress_bound(c, runs[i].len);
    }
    if (need > s->out_cap) {
        unsigned char *o = realloc(s->out, need);
        if (!o)
            return sw_error_oom(&s->err);
        s->out = o;
        s->out_cap = need;
    }

    size_t pos = 0;
    for (size_t i = 0; i < nr; i++) {
        const unsigned char *p = in + runs[i].off;
        size_t len = runs[i].len;
        struct libdeflate_compressor *c = runs[i].stored ? wk->stored : wk->c;
        memcpy(s->out + pos, gz->header, GZIP_HEADER_LEN);
        pos += GZIP_HEADER_LEN;
        size_t z = libdeflate_deflate_compress(c, p, len, s->out + pos, s->out_cap - pos);
        if (z == 0)
            return sw_error_set(&s->err, SW_EINTERNAL, 0, NULL,
                                "libdeflate: %zu bytes did not fit in their bound", len);
        pos += z;
        put_le32(s->out + pos, libdeflate_crc32(0, p, len));
        put_le32(s->out + pos + 4, (uint32_t)len); /* ISIZE: the length modulo 2^32 */
        pos += GZIP_TRAILER_LEN;
    }
    s->out_len = pos;
    return 0;
}

static void *
worker_main(void *arg)
{
    struct worker *wk = arg;
    struct layer_gzip *gz = wk->gz;
    pthread_mutex_lock(&gz->mu);
    for (;;) {
        while (!gz->stop && gz->queued == 0)
            pthread_cond_wait(&gz->work, &gz->mu);
        if (gz->stop)
            break;
        struct slot *s = &gz->slots[gz->take];
        gz->take = (gz->take + 1) % gz->nslots;
        gz->queued--;
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&gz->mu);

        s->code = compress_slot(wk, s);

        pthread_mutex_lock(&gz->mu);
        s->state = SLOT_DONE;
        pthread_cond_signal(&gz->done);
    }
    pthread_mutex_unlock(&gz->mu);
    return NULL;
}

/* ---- the producer -----------------------------------------------------------------------------
 */

int
layer_gzip_new(struct layer_gzip **out, const struct layer_gzip_opts *o, layer_gzip_out_fn out_fn,
               void *ctx, struct sw_error **err)
{
    struct layer_gzip_opts opts = o ? *o : layer_gzip_opts_default();
    if (opts.level == 0)
        opts.level = LAYER_GZIP_DEFAULT_LEVEL;
    if (opts.level < 1 || opts.level > 9)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "gzip compression level %d is out of range (1-9)", opts.level);
    if (opts.threads == 0)
        opts.threads = online_cpus();
    if (opts.threads > LAYER_GZIP_MAX_THREADS)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "gzip: %u threads is too many (at most %d)",
                            opts.threads, LAYER_GZIP_MAX_THREADS);
    if (opts.block_size == 0)
        opts.block_size = LAYER_GZIP_DEFAULT_BLOCK_SIZE;
    if (opts.block_size < MIN_BLOCK_SIZE || opts.block_size > MAX_BLOCK_SIZE)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "gzip block size %zu is out of range (%zu-%zu)", opts.block_size,
                            MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
    if (!out_fn)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "gzip compressor needs an output");

    struct layer_gzip *gz = calloc(1, sizeof *gz);
    if (!gz)
        return sw_error_oom(err);
    gz->opts = opts;
    gz->out_fn = out_fn;
    gz->ctx = ctx;
    gz->nslots = 2 * (size_t)opts.threads;
    gz->slots = calloc(gz->nslots, sizeof *gz->slots);
    gz->workers = calloc(opts.threads, sizeof *gz->workers);
    if (!gz->slots || !gz->workers) {
        free(gz->slots);
        free(gz->workers);
        free(gz);
        return sw_error_oom(err);
    }
    /* ID1 ID2 CM=deflate FLG=0 MTIME=0 (none) XFL OS: no name, no comment, no timestamp. */
    const unsigned char h[GZIP_HEADER_LEN] = {
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl_for_level(opts.level), GZIP_OS_UNIX};
    memcpy(gz->header, h, sizeof h);
    pthread_mutex_init(&gz->mu, NULL);
    pthread_cond_init(&gz->work, NULL);
    pthread_cond_init(&gz->done, NULL);
    *out = gz;
    return 0;
}

static void
stop_workers(struct layer_gzip *gz)
{
    pthread_mutex_lock(&gz->mu);
    gz->stop = true;
    pthread_cond_broadcast(&gz->work);
    pthread_mutex_unlock(&gz->mu);
    for (unsigned i = 0; i < gz->nworkers; i++) {
        pthread_join(gz->workers[i].thread, NULL);
        libdeflate_free_compressor(gz->workers[i].c);
        libdeflate_free_compressor(gz->workers[i].stored);
    }
    gz->nworkers = 0;
}

void
layer_gzip_free(struct layer_gzip *gz)
{
    if (!gz)
        return;
    stop_workers(gz);
    for (size_t i = 0; i < gz->nslots; i++) {
        free(gz->slots[i].in);
        free(gz->slots[i].out);
        sw_error_free(gz->slots[i].err);
    }
    free(gz->slots);
    free(gz->workers);
    pthread_cond_destroy(&gz->done);
    pthread_cond_destroy(&gz->work);
    pthread_mutex_destroy(&gz->mu);
    free(gz);
}

static int
fail(struct layer_gzip *gz, int r)
{
    gz->failed = true;
    return r;
}

/* Start one more worker. Only the first one is required: with fewer threads than asked for the
 * output is the same, only slower. */
static int
start_worker(struct layer_gzip *gz, struct sw_error **err)
{
    struct worker *wk = &gz->workers[gz->nworkers];
    *wk = (struct worker){.gz = gz};
    wk->c = libdeflate_alloc_compressor(gz->opts.level);
    wk->stored = libdeflate_alloc_compressor(0);
    int e = 0;
    if (wk->c && wk->stored && (e = pthread_create(&wk->thread, NULL, worker_main, wk)) == 0) {
        gz->nworkers++;
        return 0;
    }
    libdeflate_free_compressor(wk->c);
    libdeflate_free_compressor(wk->stored);
    if (gz->nworkers > 0) {
        gz->opts.threads = gz->nworkers; /* make do with what runs */
        return 0;
    }
    if (e)
        return sw_error_set(err, SW_EIO, e, NULL, "gzip: cannot start a compression thread: %s",
                            strerror(e));
    return sw_error_oom(err);
}

/* Write out done slots in order. With `all`, wait until every slot in flight is written; else
 * wait only when the ring is full (the slot to fill next is the oldest one in flight). */
static int
drain(struct layer_gzip *gz, bool all, struct sw_error **err)
{
    for (;;) {
        pthread_mutex_lock(&gz->mu);
        while (gz->pending > 0 && gz->slots[gz->head].state != SLOT_DONE &&
               (all || gz->pending == gz->nslots))
            pthread_cond_wait(&gz->done, &gz->mu);
        bool ready = gz->pending > 0 && gz->slots[gz->head].state == SLOT_DONE;
        pthread_mutex_unlock(&gz->mu);
        if (!ready)
            return 0;

        struct slot *s = &gz->slots[gz->head]; /* DONE: no worker touches it */
        int r = 0;
        if (s->code < 0) {
            r = s->code;
            if (s->err && err && !*err)
                *err = sw_steal(&s->err);
            else
                sw_error_set(err, -r, 0, NULL, "gzip: compressing a block failed");
        } else {
            r = gz->out_fn(gz->ctx, s->out, s->out_len, err);
            if (r < 0)
                sw_error_set(err, -r, 0, NULL, "gzip: writing the compressed stream failed");
        }
        if (r < 0)
            return r;

        pthread_mutex_lock(&gz->mu);
        s->state = SLOT_FREE;
        s->in_len = 0;
        s->out_len = 0;
        gz->head = (gz->head + 1) % gz->nslots;
        gz->pending--;
        pthread_mutex_unlock(&gz->mu);
    }
}

/* Queue the slot being filled, start a worker if fewer run than blocks were queued, and make
 * room for the next block. */
static int
submit(struct layer_gzip *gz, struct sw_error **err)
{
    int r;
    if (gz->nworkers < gz->opts.threads && gz->nworkers <= gz->submitted &&
        (r = start_worker(gz, err)) < 0)
        return r;
    pthread_mutex_lock(&gz->mu);
    gz->slots[gz->fill].state = SLOT_QUEUED;
    gz->fill = (gz->fill + 1) % gz->nslots;
    gz->pending++;
    gz->queued++;
    gz->submitted++;
    pthread_cond_signal(&gz->work);
    pthread_mutex_unlock(&gz->mu);
    return drain(gz, false, err);
}

int
layer_gzip_write(struct layer_gzip *gz, const void *buf, size_t n, struct sw_error **err)
{
    if (gz->failed || gz->finished)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "gzip: the stream is already finished or failed");
    const unsigned char *p = buf;
    size_t bs = gz->opts.block_size;
    while (n) {
        struct slot *s = &gz->slots[gz->fill]; /* FREE: drain made sure of it */
        if (!s->in && !(s->in = malloc(bs)))
            return fail(gz, sw_error_oom(err));
        size_t k = bs - s->in_len < n ? bs - s->in_len : n;
        memcpy(s->in + s->in_len, p, k);
        s->in_len += k;
        p += k;
        n -= k;
        int r;
        if (s->in_len == bs && (r = submit(gz, err)) < 0)
            return fail(gz, r);
    }
    return 0;
}

int
layer_gzip_finish(struct layer_gzip *gz, struct sw_error **err)
{
    if (gz->failed || gz->finished)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "gzip: the stream is already finished or failed");
    gz->finished = true;
    int r = 0;
    /* The partial last block, or one empty member for an empty stream. */
    if (gz->slots[gz->fill].in_len > 0 || gz->submitted == 0)
        r = submit(gz, err);
    if (r == 0)
        r = drain(gz, true, err);
    stop_workers(gz);
    if (r < 0)
        return fail(gz, r);
    return 0;
}
