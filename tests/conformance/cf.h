/*
 * tests/conformance/cf.h: the conformance runner's shared helpers.
 *
 * Owns: per-data-set counting (pass / fail / diverged), the divergence list
 * (tests/conformance/divergences.txt), and small readers for the corpus formats (JSONL lines,
 * TSV rows, whole files). Each data-set module (cf_*.c) exposes `void cf_run_<name>(struct cf_ctx
 * *)` and is listed in runner.c.
 */
#ifndef SLIPWAY_TESTS_CF_H
#define SLIPWAY_TESTS_CF_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "util/buf.h"

struct cf_div {
    char *set, *record, *reason;
};

struct cf_ctx {
    const char *root;    /* $SLIPWAY_CONFORMANCE_DIR */
    struct cf_div *divs; /* from divergences.txt */
    size_t ndivs;
    bool verbose;
    /* the current data set */
    const char *set;
    int passed, failed, diverged;
    /* totals */
    int total_passed, total_failed, total_diverged;
    int io_errors; /* a data set that could not be read counts as a failure */
};

/* Start / finish a data set: prints "NAME: N passed, N failed" (and ", N diverged"). */
void cf_begin(struct cf_ctx *c, const char *set);
void cf_end(struct cf_ctx *c);

/* Record one result. `record` identifies it (e.g. "file.jsonl:12"). A failing record listed in
 * divergences.txt for this set is counted as diverged; a passing one listed there is a failure
 * (the divergence is stale). `why` explains a failure (printf format). */
void cf_result(struct cf_ctx *c, const char *record, bool ok, const char *why, ...)
    __attribute__((format(printf, 4, 5)));

/* Path under the corpus root; caller frees. */
char *cf_path(const struct cf_ctx *c, const char *rel);
/* Read a whole file (binary-safe); NULL + a counted failure when unreadable. */
char *cf_read(struct cf_ctx *c, const char *rel, size_t *len);
/* Iterate JSONL records: calls fn(c, record_id, obj, payload) per line. Unreadable file or bad
 * JSON is a counted failure. */
void cf_jsonl(struct cf_ctx *c, const char *rel,
              void (*fn)(struct cf_ctx *c, const char *id, json_t *rec, void *payload),
              void *payload);
/* Iterate TSV rows (header line starting "# " skipped): fn gets the fields. */
void cf_tsv(struct cf_ctx *c, const char *rel,
            void (*fn)(struct cf_ctx *c, const char *id, char **fields, size_t nfields,
                       void *payload),
            void *payload);

/* A string list equals a JSON array of strings (lens: real lengths, or NULL for C strings);
 * a JSON null or a missing array equals the empty list. */
bool cf_strv_equals_json(char *const *v, const size_t *lens, size_t n, json_t *arr);
/* Append the strings of a JSON array. */
void cf_strv_from_json(struct sw_strv *out, json_t *arr);

/* Go strconv.Quote-ish rendering for messages (caller frees). */
char *cf_quote(const char *s, size_t len);

/* Data-set modules. */
void cf_run_parser(struct cf_ctx *c);
void cf_run_shell_lexer(struct cf_ctx *c);
void cf_run_dockerignore(struct cf_ctx *c);
void cf_run_instructions(struct cf_ctx *c);
void cf_run_dockerfile2llb(struct cf_ctx *c);
void cf_run_moby(struct cf_ctx *c);

#endif
