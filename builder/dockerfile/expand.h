/*
 * builder/dockerfile/expand.h: Dockerfile word expansion (BuildKit's shell lexer).
 *
 * Owns: the environment list used for expansion (struct df_env: "k=v" entries, last one wins, a
 * bare "k" is set-but-empty), and ProcessWord / ProcessWords: $V ${V} and the modifiers
 * :- - :+ + :? ? # ## % %% / //, single and double quotes, the escape token (\ or `), and word
 * splitting for ProcessWords. It never runs a shell.
 */
#ifndef SLIPWAY_DF_EXPAND_H
#define SLIPWAY_DF_EXPAND_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/buf.h"
#include "../util/error.h"

/* An ordered list of "k=v" (or bare "k") entries. The last entry with a key wins. */
struct df_env {
    struct sw_strv kv;
    bool case_insensitive; /* Windows: keys compare case-insensitively */
};

/* Lookup: returns the value (borrowed, "" for a bare key) or NULL when unset. */
const char *df_env_get(const struct df_env *env, const char *name, size_t name_len);
/* Append "k=v" (later wins on lookup). */
int df_env_set(struct df_env *env, const char *key, const char *value);
void df_env_free(struct df_env *env);

struct df_expand_opts {
    char escape;      /* '\\' (default when 0) or '`' */
    bool raw_quotes;  /* keep quote characters in the result */
    bool raw_escapes; /* keep escape tokens in the result */
    bool skip_unset;  /* leave references to unset variables as written */
    bool skip_quotes; /* quotes are ordinary characters (BuildKit SkipProcessQuotes: COPY/ADD
                         heredoc bodies are expanded this way) */
};

/*
 * ProcessWord: expand and unquote `word`, no word splitting. On success *out is owned by the
 * caller. matched/unmatched (either may be NULL) receive the names looked up that were set /
 * unset (each name once, in lookup order). Errors (bad syntax, ${V:?msg}) are -SW_EINVAL with a
 * message like BuildKit's ("VAR: msg", "bad substitution", "missing ':' in substitution", ...).
 */
int df_expand_word(char **out, const char *word, const struct df_env *env,
                   const struct df_expand_opts *opts, struct sw_strv *matched,
                   struct sw_strv *unmatched, struct sw_error **err);

/* ProcessWords: expand, unquote, and split on unquoted whitespace (also inside unquoted values).
 * Empty words are dropped. Words are appended to *out. */
int df_expand_words(struct sw_strv *out, const char *word, const struct df_env *env,
                    const struct df_expand_opts *opts, struct sw_error **err);

/*
 * The glob patterns of ${V#p} ${V%p} ${V/p/r} (BuildKit's convertShellPatternToRegex,
 * reversePattern and reverseString), exposed for the conformance runner. A pattern is `*`, `?`
 * and literal characters; `\*` `\?` `\\` are literals, `\}` and `\/` drop the backslash, any
 * other `\x` (or a trailing `\`) is an error. The escape is always `\`, whatever the Dockerfile's
 * escape token.
 */
enum df_glob_op { DF_GLOB_CHAR, DF_GLOB_ANY, DF_GLOB_STAR };
struct df_glob_tok {
    enum df_glob_op op;
    unsigned char len; /* DF_GLOB_CHAR: one UTF-8 character (or one invalid byte) in ch */
    char ch[4];
};
struct df_glob {
    struct df_glob_tok *tok;
    size_t n;
};
/* Compile pattern[0:len] into *g (freed with df_glob_free). -SW_EINVAL on a bad escape. */
int df_glob_compile(struct df_glob *g, const char *pattern, size_t len, struct sw_error **err);
void df_glob_free(struct df_glob *g);
/* Reverse a pattern by characters, keeping each `\x` pair in order ("a\*c" -> "c\*a").
 * NULL on OOM. */
char *df_glob_reverse(const char *pattern);
/* Reverse a string by UTF-8 characters (an invalid byte is one character). NULL on OOM. */
char *df_utf8_reverse(const char *s);

#endif
