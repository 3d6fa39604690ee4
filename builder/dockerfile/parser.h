/*
 * builder/dockerfile/parser.h: the Dockerfile parser (text -> AST).
 *
 * Owns: line joining (BOM, CRLF, continuations with the escape token, comments inside
 * continuations, empty-continuation warnings), parser directives (syntax, escape, check),
 * splitting each instruction's rest into argument nodes the way BuildKit's parser does
 * (JSON exec form, whitespace split, name/value triples, parseWords, raw strings), leading
 * --flags, heredocs (RUN/COPY/ADD and ONBUILD of those), and source spans.
 *
 * It does not expand variables or validate instructions/flags: that is instructions.h.
 * The AST keeps quotes and backslashes exactly as written.
 */
#ifndef SLIPWAY_DF_PARSER_H
#define SLIPWAY_DF_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/error.h"

#define DF_MAX_LINE 65535

struct df_heredoc {
    char *name;    /* quotes removed */
    unsigned fd;   /* 0 unless written as N<<NAME */
    bool expand;   /* false if any part of the name was quoted */
    bool chomp;    /* <<- : strip leading TABs (applied by the consumer, not here) */
    char *content; /* the body lines, byte-exact, each with its LF */
};

struct df_node {
    char *keyword;  /* lower-cased: "run", "from", "foo" for unknown */
    char *original; /* the joined instruction text as written (keyword included) */
    /* Argument nodes as BuildKit's AST has them. args.v[i] is NUL-terminated; arg_len[i] is the
     * real length (JSON strings may contain NUL bytes). */
    struct sw_strv args;
    size_t *arg_len;
    bool json;               /* exec (JSON array) form */
    struct sw_strv flags;    /* leading --flags, quotes removed, e.g. "--from=build" */
    struct df_node *onbuild; /* for ONBUILD: the wrapped instruction (args is empty) */
    struct df_heredoc *heredocs;
    size_t nheredocs;
    struct sw_strv comments; /* the comment lines directly above, '#' and one space stripped */
    struct sw_span span;     /* line/col of the keyword, end_line = last physical line */
};

struct df_warning {
    char *msg;          /* e.g. "Empty continuation line found in: RUN ..." */
    char *rule;         /* "NoEmptyContinuation", ... */
    const char *detail; /* static text: why it matters */
    struct sw_span span;
};

struct df_directive {
    char *name; /* lower-cased */
    char *value;
    uint32_t line;
};

struct df_ast {
    char *file;            /* the name used in spans (owned) */
    struct df_node *nodes; /* top-level instructions, in order */
    size_t nnodes;
    struct df_directive *directives;
    size_t ndirectives;
    char escape; /* '\\' or '`' */
    struct df_warning *warnings;
    size_t nwarnings;
    uint32_t start_line, end_line; /* span of all instructions */
};

/*
 * Parse a whole Dockerfile. `file` names it in spans and errors. On success *out is owned by the
 * caller (df_ast_free). Errors carry a span; messages follow BuildKit's texts where it has one
 * ("file with no instructions", "unterminated heredoc", ...).
 */
int df_parse(struct df_ast **out, const char *src, size_t len, const char *file,
             struct sw_error **err);

/* BuildKit's AST dump: one "(keyword [flags] args...)" line per instruction, Go-quoted. */
char *df_ast_dump(const struct df_ast *ast);
/* The dump of one node (without parentheses around it for the top level: "(run \"x\")"). */
int df_node_dump(struct sw_buf *out, const struct df_node *n);

/* parseWords: BuildKit's shell-like word split used for ARG/ENV/LABEL (quotes kept). */
int df_parse_words(struct sw_strv *out, const char *rest, char escape);

/*
 * The JSON-array detector: 1 = a JSON array of strings (out/lens filled), 0 = not JSON (shell
 * form), negative = a JSON array with a non-string element (hard error).
 */
int df_parse_json_array(struct sw_strv *out, size_t **lens, const char *rest, size_t len,
                        struct sw_error **err);

/* Heredoc helpers (exposed for the tests and the instructions layer). */
/* Classify one word: 1 = heredoc (*out filled, content NULL), 0 = not a heredoc, <0 = error. */
int df_heredoc_parse_word(struct df_heredoc *out, const char *word, struct sw_error **err);
/* Strip leading TABs from every line of `data`; caller frees. */
char *df_heredoc_chomp(const char *data);
void df_heredoc_clear(struct df_heredoc *h);

/* The leading directive block of src (DirectiveParser.ParseAll: lines are not trimmed). On
 * success *out (n entries) is owned by the caller: df_directives_free. */
int df_directives_scan(struct df_directive **out, size_t *n, const char *src, size_t len,
                       struct sw_error **err);
void df_directives_free(struct df_directive *d, size_t n);

/* ParseDirective(key): the `#key=value` directive of the leading block. For key "syntax" also
 * DetectSyntax's fallbacks: a whole-file JSON object {"syntax": ...} and a first `//syntax=` line
 * (after an optional #! line). ref is the value up to the first space, cmdline the whole value.
 * Returns 1 if found (ref/cmdline owned by the caller), 0 if not. */
int df_parse_directive(char **ref, char **cmdline, uint32_t *line, const char *key, const char *src,
                       size_t len);

void df_ast_free(struct df_ast *ast);
void df_node_clear(struct df_node *n);

#endif
