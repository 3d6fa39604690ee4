/*
 * builder/dockerfile/ignore.h: .dockerignore files and the patterns that exclude context files.
 *
 * Owns: the ignore-file reader (df_ignore_read, as moby/patternmatcher/ignorefile.ReadAll), the
 * pattern matcher behind .dockerignore, <Dockerfile>.dockerignore and COPY/ADD --exclude
 * (struct df_pm, as moby/patternmatcher.PatternMatcher), Go's filepath.Match (df_filepath_match)
 * and Go's filepath.Clean (df_ignore_clean).
 *
 * Paths given to the matcher are slash-separated and relative to the context root, without a
 * leading "./" (e.g. "src/main.c"); they are matched as given (not cleaned). "Matched" means
 * "ignored": the last pattern that matches decides, and a `!pattern` (an exception) re-includes.
 *
 * Patterns behave like patternmatcher's: `*` and `?` never match `/`, `**` matches any number of
 * directories, `[...]` classes, `\c` escapes. Like upstream, a pattern is translated to a Go
 * regexp text and run by a small Go-RE2-compatible matcher (linear time, no recursion), so the
 * upstream quirks are kept: a pattern whose regexp does not compile (e.g. "[Local-Only]", an
 * inverted range) is accepted by df_pm_new but fails every match that evaluates it, and escapes
 * such as `\d` or `\b` mean what they mean in Go regexps. Unicode classes (`\pL`, `\p{Greek}`)
 * are not supported: such a pattern fails when evaluated.
 *
 * Nothing here touches the file system; all functions are thread-safe on distinct or const data.
 */
#ifndef SLIPWAY_DF_IGNORE_H
#define SLIPWAY_DF_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/buf.h"
#include "../util/error.h"

/* ---- ignore files ---------------------------------------------------------------------------- */

/*
 * Read an ignore file (data[0..len), NULL allowed when len is 0) and append its patterns to *out,
 * like ignorefile.ReadAll: a UTF-8 BOM is stripped, lines end at LF (a CR before it is dropped), a
 * line is a comment only if its first byte is '#', lines are trimmed (Go strings.TrimSpace) and
 * empty ones dropped, a leading '!' is split off and the rest trimmed again, the path is cleaned
 * (filepath.Clean) and one leading '/' removed, and the '!' put back. A lone "!" is kept (df_pm_new
 * rejects it). Errors (nothing appended): a line of 65536 bytes or more (Go's bufio.Scanner limit)
 * and a NUL byte in a non-comment line.
 */
int df_ignore_read(struct sw_strv *out, const char *data, size_t len, struct sw_error **err);

/* Go filepath.Clean on a slash-separated path ("" gives "."). Returns an owned string, or NULL on
 * allocation failure. */
char *df_ignore_clean(const char *path);

/*
 * Go filepath.Match (Unix): `*` any run of non-'/' bytes, `?` one non-'/' character, `[...]` and
 * `[^...]` classes with ranges, `\` escapes (also inside classes). The whole name must match.
 * A malformed pattern ("[", "[]a]", "[a-b-c]", "[-]", a trailing '\'...) is an error (SW_EINVAL,
 * "syntax error in pattern") whatever the name.
 */
int df_filepath_match(bool *matched, const char *pattern, const char *name, struct sw_error **err);

/* ---- the pattern matcher -----------------------------------------------------------------------
 */

struct df_pm;

/* How a pattern is matched (patternmatcher's matchType). */
enum df_pm_type {
    DF_PM_EXACT,  /* the path equals the pattern */
    DF_PM_PREFIX, /* "dir/" + "**": the path starts with "dir/" */
    DF_PM_SUFFIX, /* "**..." without other wildcards: the path ends with the rest */
    DF_PM_REGEXP, /* anything else: the translated Go regexp */
    DF_PM_BAD,    /* the regexp does not compile: every evaluation fails */
};

/*
 * Build a matcher, like patternmatcher.New: each pattern is trimmed (empty ones skipped) and
 * cleaned; a leading '!' makes an exception (a lone "!" is an error); the rest must be a valid
 * filepath.Match pattern (else an error naming it). `patterns` may be NULL when n is 0.
 */
int df_pm_new(struct df_pm **out, const char *const *patterns, size_t n, struct sw_error **err);
void df_pm_free(struct df_pm *pm);

/* Number of patterns kept (after skipping empty ones): the size of a per-pattern state array. */
size_t df_pm_count(const struct df_pm *pm);
/* Whether any pattern is an exception ("!..."). */
bool df_pm_has_exclusions(const struct df_pm *pm);
/* Pattern i (0 <= i < count) as cleaned, without its '!'; *exclusion (if not NULL) tells. */
const char *df_pm_pattern(const struct df_pm *pm, size_t i, bool *exclusion);
enum df_pm_type df_pm_pattern_type(const struct df_pm *pm, size_t i);
/* The Go regexp text of pattern i ("^...$"), or NULL for exact/prefix/suffix patterns. */
const char *df_pm_pattern_regexp(const struct df_pm *pm, size_t i);

/*
 * MatchesOrParentMatches: whether `path` is ignored. A pattern matches if it matches the path or
 * any of its parent directories ("a", "a/b" for "a/b/c"). Patterns are evaluated in order and
 * the last match decides; an exception is only evaluated while the path is matched, an ordinary
 * pattern only while it is not. Fails (SW_EINVAL) when an evaluated pattern is DF_PM_BAD.
 */
int df_pm_match(const struct df_pm *pm, const char *path, bool *matched, struct sw_error **err);

/* df_pm_match for callers that cannot report errors: a failure counts as "not matched". */
bool df_pm_matches_or_parent_matches(const struct df_pm *pm, const char *path);

/* MatchesExact: like df_pm_match but without looking at parent directories. */
int df_pm_matches_exact(const struct df_pm *pm, const char *path, bool *matched,
                        struct sw_error **err);

/*
 * MatchesUsingParentResults, for walking a tree top-down without re-matching parents. The state
 * of a path is an array of df_pm_count() bools (which patterns matched it or one of its parents).
 * Call it for each entry with the state its parent directory got (`parent` NULL for entries at the
 * root of the walk: then parents are checked like df_pm_match does) and keep the entry's own
 * state (`state`, may be NULL, may be the same array as `parent`) for its children:
 *
 *     bool *st = calloc(n, 1) per depth;
 *     df_pm_match_walk(pm, "a", NULL, st0, &m, &err);      // top-level entry
 *     df_pm_match_walk(pm, "a/b", st0, st1, &m, &err);     // its child
 */
int df_pm_match_walk(const struct df_pm *pm, const char *path, const bool *parent, bool *state,
                     bool *matched, struct sw_error **err);

/*
 * For a directory `dir` that df_pm_match_walk reported with state `dir_state`: true when `dir` is
 * matched and nothing below it can be matched differently, i.e. no exception that `dir` did not
 * already match could match a path "dir/...". The walk may then skip the whole directory.
 * Conservative: false whenever it cannot tell.
 */
bool df_pm_can_skip_dir(const struct df_pm *pm, const char *dir, const bool *dir_state);

/* ---- deprecated upstream APIs (kept for conformance with upstream's tests) ------------------- */

/* MatchesUsingParentResult (deprecated upstream): the ordered evaluation on `path` alone, starting
 * from `parent_matched`. */
int df_pm_match_parent_result(const struct df_pm *pm, const char *path, bool parent_matched,
                              bool *matched, struct sw_error **err);

/* PatternMatcher.Matches (deprecated upstream): like df_pm_match but only the one parent directory
 * with as many elements as the pattern has is tried. */
int df_pm_match_one_parent(const struct df_pm *pm, const char *path, bool *matched,
                           struct sw_error **err);

/* Package-level Matches(path, patterns) (deprecated upstream): df_pm_new, then the path is cleaned;
 * "." never matches; else df_pm_match_one_parent. */
int df_pm_legacy_matches(bool *matched, const char *path, const char *const *patterns, size_t n,
                         struct sw_error **err);

#endif
