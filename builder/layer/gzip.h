/*
 * builder/layer/gzip.h: a parallel gzip compressor for layer streams.
 *
 * Owns: struct layer_gzip, which turns a byte stream fed in pieces of any size into standard
 * gzip (RFC 1952) using libdeflate on worker threads, the mapping of gzip levels onto libdeflate
 * levels and the incompressible-data fast path. The format choices are in docs/layers.md
 * ("Compression").
 *
 * The stream is cut into fixed-size blocks (1 MiB by default) that are compressed independently,
 * each as one or more complete gzip members; the members are written to the output callback in
 * stream order. Any gzip reader that follows RFC 1952 (a file is a series of members) reads the
 * result as one stream: gzip, zcat, pigz, zlib's gzread, Go's compress/gzip (docker, containerd,
 * skopeo, umoci), libarchive, Python's gzip.
 *
 * The bytes depend only on the input, the block size, the level and the libdeflate version: not
 * on the number of threads, nor on how the input was split into write calls.
 *
 * Memory is bounded: at most 2 * threads blocks are in flight, each with an input buffer of
 * block_size bytes and an output buffer of about the same size. Worker threads are started as
 * blocks arrive (a stream of one block uses one thread) and are always joined by
 * layer_gzip_finish or layer_gzip_free, on success and on failure.
 *
 * A compressor is used by one thread at a time (the output callback runs on that thread, inside
 * layer_gzip_write and layer_gzip_finish); separate compressors are independent.
 */
#ifndef SLIPWAY_LAYER_GZIP_H
#define SLIPWAY_LAYER_GZIP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

#define LAYER_GZIP_DEFAULT_LEVEL 6
#define LAYER_GZIP_DEFAULT_BLOCK_SIZE ((size_t)1 << 20)
#define LAYER_GZIP_MAX_THREADS 64
/* The default thread count is the number of online CPUs, but not more than this. */
#define LAYER_GZIP_DEFAULT_MAX_THREADS 16

struct layer_gzip_opts {
    /* 1 (fastest) .. 9 (smallest), as gzip's -1..-9; 0 = LAYER_GZIP_DEFAULT_LEVEL. Passed to
     * libdeflate unchanged (its levels 1-9 are zlib-like; 10-12 are not offered). */
    int level;
    /* Worker threads, 1..LAYER_GZIP_MAX_THREADS; 0 = the number of online CPUs, at most
     * LAYER_GZIP_DEFAULT_MAX_THREADS. Does not change the output. */
    unsigned threads;
    /* Bytes of input per independently compressed block, 4 KiB .. 64 MiB; 0 =
     * LAYER_GZIP_DEFAULT_BLOCK_SIZE. Changes the output. */
    size_t block_size;
    /* Store stretches of a block that look incompressible (16 KiB segments whose byte histogram
     * is nearly flat) without trying to compress them. On by default (see
     * layer_gzip_opts_default); changes the output. */
    bool store_incompressible;
};

/* Level 6, threads and block size 0 (defaults), store_incompressible on. */
struct layer_gzip_opts layer_gzip_opts_default(void);

/* Receives the compressed bytes, in order. Must consume all n bytes or fail (return -SW_E* and
 * set *err). */
typedef int (*layer_gzip_out_fn)(void *ctx, const void *buf, size_t n, struct sw_error **err);

struct layer_gzip;

/* Create a compressor. `o` may be NULL (layer_gzip_opts_default()). Errors: -SW_EINVAL for
 * options out of range, -SW_ENOMEM. No thread is started yet. */
int layer_gzip_new(struct layer_gzip **out, const struct layer_gzip_opts *o,
                   layer_gzip_out_fn out_fn, void *ctx, struct sw_error **err);

/* Feed n bytes (n may be 0). May call the output callback for blocks that are done, and waits
 * for the oldest block when 2 * threads blocks are in flight. On failure (the callback's error, a
 * thread that cannot be started, out of memory) the error is returned and the compressor is dead:
 * later calls fail with -SW_EINVAL. */
int layer_gzip_write(struct layer_gzip *gz, const void *buf, size_t n, struct sw_error **err);

/* Compress what is left, write every remaining member and join the workers. An empty stream
 * gives one member holding nothing, so the output is always a valid gzip file. Call once. */
int layer_gzip_finish(struct layer_gzip *gz, struct sw_error **err);

/* Stop and join the workers (blocks not yet written are dropped) and free. Accepts NULL. */
void layer_gzip_free(struct layer_gzip *gz);

#endif
