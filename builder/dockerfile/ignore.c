/*
 * builder/dockerfile/ignore.c: .dockerignore reading and moby/patternmatcher-compatible matching.
 *
 * Layout: Go string helpers (TrimSpace, filepath.Clean, Dir); the ignore-file reader; Go's
 * filepath.Match (used to validate patterns, like upstream); the translation of a pattern into
 * patternmatcher's regexp text and match type; a Go-RE2-compatible regexp subset (parser +
 * Thompson NFA run as a Pike VM: time O(len(path) * len(pattern)), no recursion, no
 * backtracking); and the PatternMatcher APIs on top.
 *
 * Compatibility notes (deliberate, to behave like patternmatcher@5a6d842 on Unix):
 * - Patterns are compiled eagerly, but a regexp that does not compile only fails the matches
 *   that evaluate the pattern (upstream compiles lazily and keeps failing).
 * - The regexp text is upstream's, byte for byte (text/scanner quirks included: a leading BOM is
 *   skipped, invalid UTF-8 becomes U+FFFD). The regexp subset covers everything that text can
 *   contain: literals, `.` (not '\n'), `^` `$` `\A` `\z` `\b` `\B`, groups, `*` `+` `?` (and
 *   their lazy forms), classes with ranges, negation, `[:name:]` and `\d\s\w` (ASCII, as in Go),
 *   escapes `\a\f\n\r\t\v`, octal, `\xHH`, `\x{H...}` and `\Q...\E`.
 * - Not supported: Unicode classes `\p..`/`\P..` (a pattern using one fails when evaluated).
 */
#include "ignore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"
#include "../util/utf8.h"

#define RUNE_ERROR 0xFFFDu
#define MAX_RUNE 0x10FFFFu
/* bufio.Scanner's default maximum token size: longer lines fail ignorefile.ReadAll. */
#define IGNORE_MAX_LINE 65536u
/* Go's regexp parser refuses deeper nesting. */
#define RE_MAX_DEPTH 1000u
/* Keeps instruction indexes and patch-list slots within uint32_t. */
#define RE_MAX_LEN (1u << 26)

struct span {
    const char *p;
    size_t n;
};

static void
span_skip(struct span *s, size_t k)
{
    s->p += k;
    s->n -= k;
}

/* Decode one rune like Go (invalid UTF-8: U+FFFD, width 1). */
static size_t
decode(const char *s, size_t n, uint32_t *r)
{
    return sw_utf8_decode(s, n, r);
}

static bool
decode_invalid(uint32_t r, size_t w)
{
    return r == RUNE_ERROR && w == 1;
}

static char *
quote(const char *s)
{
    struct sw_buf b = {0};
    if (sw_go_quote(&b, s, strlen(s)) < 0) {
        sw_buf_free(&b);
        return NULL;
    }
    return sw_buf_detach(&b);
}

/* ---- Go string helpers ----------------------------------------------------------------------- */

/* strings.TrimSpace on s[0..n): narrow *s to the part without leading/trailing Unicode spaces. */
static void
go_trim_space(struct span *s)
{
    size_t i = 0, start = 0, end = 0;
    bool seen = false;
    while (i < s->n) {
        uint32_t r;
        size_t w = decode(s->p + i, s->n - i, &r);
        if (!sw_unicode_is_space(r)) {
            if (!seen)
                start = i;
            seen = true;
            end = i + w;
        }
        i += w;
    }
    if (!seen) {
        s->n = 0;
        return;
    }
    s->p += start;
    s->n = end - start;
}

static bool
is_dot_elem(const char *p, size_t n, size_t r)
{
    return p[r] == '.' && (r + 1 == n || p[r + 1] == '/');
}

static bool
is_dotdot_elem(const char *p, size_t n, size_t r)
{
    return p[r] == '.' && r + 1 < n && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/');
}

/* filepath.Clean on p[0..n): an owned string or NULL on allocation failure. */
static char *
go_clean(const char *p, size_t n)
{
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    bool rooted = n > 0 && p[0] == '/';
    size_t w = 0, r = 0, dotdot = 0;
    if (rooted) {
        out[w++] = '/';
        r = dotdot = 1;
    }
    while (r < n) {
        if (p[r] == '/' || is_dot_elem(p, n, r)) {
            r++;
        } else if (is_dotdot_elem(p, n, r)) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if (w != (rooted ? 1u : 0u))
                out[w++] = '/';
            while (r < n && p[r] != '/')
                out[w++] = p[r++];
        }
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    return out;
}

char *
df_ignore_clean(const char *path)
{
    return go_clean(path, strlen(path));
}

/* filepath.Dir: Clean of everything up to the last '/' ("." when there is none). */
static char *
go_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    return go_clean(path, slash ? (size_t)(slash - path) + 1 : 0);
}

/* ---- the ignore-file reader ------------------------------------------------------------------ */

/* Turn one non-comment line into a pattern (NULL *out when the line is blank). */
static int
ignore_line(char **out, struct span line)
{
    *out = NULL;
    go_trim_space(&line);
    if (line.n == 0)
        return 0;
    bool invert = line.p[0] == '!';
    if (invert) {
        span_skip(&line, 1);
        go_trim_space(&line);
    }
    struct sw_buf b = {0};
    if (invert && sw_buf_putc(&b, '!') < 0)
        return -SW_ENOMEM;
    if (line.n > 0) {
        sw_autofree char *clean = go_clean(line.p, line.n);
        if (!clean) {
            sw_buf_free(&b);
            return -SW_ENOMEM;
        }
        const char *c = clean[0] == '/' && clean[1] != '\0' ? clean + 1 : clean;
        if (sw_buf_puts(&b, c) < 0) {
            sw_buf_free(&b);
            return -SW_ENOMEM;
        }
    }
    *out = sw_buf_detach(&b);
    return *out ? 0 : -SW_ENOMEM;
}

static int
ignore_read_lines(struct sw_strv *res, const char *data, size_t len, struct sw_error **err)
{
    size_t pos = 0;
    unsigned lineno = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        struct span line = {data + pos, nl ? (size_t)(nl - (data + pos)) : len - pos};
        pos += line.n + 1;
        lineno++;
        if (line.n >= IGNORE_MAX_LINE)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "reading ignore file: line %u is longer than %u bytes", lineno,
                                IGNORE_MAX_LINE - 1);
        if (line.n > 0 && line.p[line.n - 1] == '\r')
            line.n--;
        if (lineno == 1 && line.n >= 3 && memcmp(line.p, "\xEF\xBB\xBF", 3) == 0)
            span_skip(&line, 3);
        if (line.n > 0 && line.p[0] == '#')
            continue;
        if (memchr(line.p, '\0', line.n))
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "reading ignore file: line %u contains a NUL byte", lineno);
        char *pattern;
        if (ignore_line(&pattern, line) < 0)
            return sw_error_oom(err);
        if (pattern && sw_strv_push_owned(res, pattern) < 0)
            return sw_error_oom(err);
    }
    return 0;
}

int
df_ignore_read(struct sw_strv *out, const char *data, size_t len, struct sw_error **err)
{
    struct sw_strv res = {0};
    int rc = ignore_read_lines(&res, data, len, err);
    for (size_t i = 0; rc == 0 && i < res.n; i++) {
        if (sw_strv_push_owned(out, res.v[i]) < 0) {
            res.v[i] = NULL;
            rc = sw_error_oom(err);
            for (size_t j = i + 1; j < res.n; j++)
                free(res.v[j]);
            res.n = 0;
            break;
        }
        res.v[i] = NULL;
    }
    if (rc == 0) {
        free(res.v);
        return 0;
    }
    sw_strv_free(&res);
    return rc;
}

/* ---- Go filepath.Match ----------------------------------------------------------------------- */

/* scanChunk: split off leading stars and the chunk up to the next star outside a class. */
static void
fm_scan_chunk(struct span *pat, bool *star, struct span *chunk)
{
    *star = false;
    while (pat->n > 0 && pat->p[0] == '*') {
        span_skip(pat, 1);
        *star = true;
    }
    bool inrange = false;
    size_t i;
    for (i = 0; i < pat->n; i++) {
        char c = pat->p[i];
        if (c == '\\') {
            if (i + 1 < pat->n)
                i++;
        } else if (c == '[') {
            inrange = true;
        } else if (c == ']') {
            inrange = false;
        } else if (c == '*' && !inrange) {
            break;
        }
    }
    *chunk = (struct span){pat->p, i};
    span_skip(pat, i);
}

/* getEsc: one possibly escaped character of a class; -1 for a malformed class. */
static int
fm_get_esc(struct span *chunk, uint32_t *r)
{
    if (chunk->n == 0 || chunk->p[0] == '-' || chunk->p[0] == ']')
        return -1;
    if (chunk->p[0] == '\\') {
        span_skip(chunk, 1);
        if (chunk->n == 0)
            return -1;
    }
    size_t w = decode(chunk->p, chunk->n, r);
    if (decode_invalid(*r, w))
        return -1;
    span_skip(chunk, w);
    return chunk->n == 0 ? -1 : 0;
}

/* The class at chunk (just after '['): sets *hit for rune r; -1 for a malformed class. */
static int
fm_class(struct span *chunk, uint32_t r, bool *hit)
{
    bool negated = false, match = false;
    if (chunk->n > 0 && chunk->p[0] == '^') {
        negated = true;
        span_skip(chunk, 1);
    }
    for (int nrange = 0;; nrange++) {
        if (chunk->n > 0 && chunk->p[0] == ']' && nrange > 0) {
            span_skip(chunk, 1);
            break;
        }
        uint32_t lo, hi;
        if (fm_get_esc(chunk, &lo) < 0)
            return -1;
        hi = lo;
        if (chunk->p[0] == '-') {
            span_skip(chunk, 1);
            if (fm_get_esc(chunk, &hi) < 0)
                return -1;
        }
        if (lo <= r && r <= hi)
            match = true;
    }
    *hit = match != negated;
    return 0;
}

/* matchChunk: 1 and *s advanced when chunk matches the start of *s, 0 if not, -1 if malformed.
 * The whole chunk is always parsed, so a malformed one is reported whatever s is. */
static int
fm_match_chunk(struct span chunk, struct span *s)
{
    struct span t = *s;
    bool failed = false;
    while (chunk.n > 0) {
        if (!failed && t.n == 0)
            failed = true;
        char c = chunk.p[0];
        if (c == '[') {
            uint32_t r = 0;
            if (!failed)
                span_skip(&t, decode(t.p, t.n, &r));
            span_skip(&chunk, 1);
            bool hit;
            if (fm_class(&chunk, r, &hit) < 0)
                return -1;
            if (!hit)
                failed = true;
        } else if (c == '?') {
            if (!failed) {
                uint32_t r;
                if (t.p[0] == '/')
                    failed = true;
                span_skip(&t, decode(t.p, t.n, &r));
            }
            span_skip(&chunk, 1);
        } else {
            if (c == '\\') {
                span_skip(&chunk, 1);
                if (chunk.n == 0)
                    return -1;
            }
            if (!failed) {
                if (chunk.p[0] != t.p[0])
                    failed = true;
                span_skip(&t, 1);
            }
            span_skip(&chunk, 1);
        }
    }
    if (failed)
        return 0;
    *s = t;
    return 1;
}

/* After a mismatch: -1 if the rest of the pattern is malformed, else 0. */
static int
fm_check_rest(struct span pat)
{
    while (pat.n > 0) {
        bool star;
        struct span chunk, empty = {"", 0};
        fm_scan_chunk(&pat, &star, &chunk);
        if (fm_match_chunk(chunk, &empty) < 0)
            return -1;
    }
    return 0;
}

/* A star chunk at a later position: 1 matched (name advanced), 0 not, -1 malformed. */
static int
fm_star_retry(struct span chunk, bool last, struct span *name)
{
    for (size_t i = 0; i < name->n && name->p[i] != '/'; i++) {
        struct span u = {name->p + i + 1, name->n - i - 1};
        int ok = fm_match_chunk(chunk, &u);
        if (ok < 0)
            return -1;
        if (ok == 1 && !(last && u.n > 0)) {
            *name = u;
            return 1;
        }
    }
    return 0;
}

/* filepath.Match: 1 match, 0 no match, -1 malformed pattern. */
static int
fm_match(struct span pat, struct span name)
{
    while (pat.n > 0) {
        bool star;
        struct span chunk;
        fm_scan_chunk(&pat, &star, &chunk);
        if (star && chunk.n == 0)
            return memchr(name.p, '/', name.n) ? 0 : 1;
        struct span t = name;
        int ok = fm_match_chunk(chunk, &t);
        if (ok == 1 && (t.n == 0 || pat.n > 0)) {
            name = t;
            continue;
        }
        if (ok < 0)
            return -1;
        if (star) {
            ok = fm_star_retry(chunk, pat.n == 0, &name);
            if (ok < 0)
                return -1;
            if (ok == 1)
                continue;
        }
        return fm_check_rest(pat);
    }
    return name.n == 0;
}

int
df_filepath_match(bool *matched, const char *pattern, const char *name, struct sw_error **err)
{
    *matched = false;
    int rc = fm_match((struct span){pattern, strlen(pattern)}, (struct span){name, strlen(name)});
    if (rc < 0) {
        sw_autofree char *q = quote(pattern);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid pattern %s: syntax error in pattern",
                            q ? q : pattern);
    }
    *matched = rc == 1;
    return 0;
}

/* ---- pattern -> regexp text (patternmatcher's Pattern.compile) ------------------------------- */

static int
put_rune(struct sw_buf *b, const char *p, uint32_t r, size_t w)
{
    if (decode_invalid(r, w))
        return sw_buf_puts(b, "\xEF\xBF\xBD");
    return sw_buf_append(b, p, w);
}

/* `**`: i points after the first '*' and at the second one. */
static int
translate_stars(struct sw_buf *re, const char *pat, size_t n, size_t *i, enum df_pm_type *type)
{
    (*i)++;
    if (*i < n && pat[*i] == '/')
        (*i)++;
    if (*i < n) {
        *type = DF_PM_REGEXP;
        return sw_buf_puts(re, "(.*/)?");
    }
    if (*type == DF_PM_EXACT) {
        *type = DF_PM_PREFIX;
        return 0;
    }
    *type = DF_PM_REGEXP;
    return sw_buf_puts(re, ".*");
}

/* Translate the source character at pat[*i]; *i moves past what it used. */
static int
translate_one(struct sw_buf *re, const char *pat, size_t n, size_t *i, bool first,
              enum df_pm_type *type)
{
    uint32_t ch;
    size_t w = decode(pat + *i, n - *i, &ch);
    const char *at = pat + *i;
    *i += w;
    if (ch == '*' && *i < n && pat[*i] == '*') {
        int rc = translate_stars(re, pat, n, i, type);
        if (first)
            *type = DF_PM_SUFFIX;
        return rc;
    }
    if (ch == '*' || ch == '?') {
        *type = DF_PM_REGEXP;
        return sw_buf_puts(re, ch == '*' ? "[^/]*" : "[^/]");
    }
    if (ch != 0 && ch < 0x80 && strchr(".+()|{}$", (int)ch))
        return sw_buf_putc(re, '\\') < 0 ? -SW_ENOMEM : sw_buf_putc(re, (char)ch);
    if (ch == '\\') {
        if (*i == n)
            return sw_buf_putc(re, '\\');
        uint32_t next;
        size_t nw = decode(pat + *i, n - *i, &next);
        const char *nat = pat + *i;
        *i += nw;
        *type = DF_PM_REGEXP;
        return sw_buf_putc(re, '\\') < 0 ? -SW_ENOMEM : put_rune(re, nat, next, nw);
    }
    if (ch == '[' || ch == ']')
        *type = DF_PM_REGEXP;
    return put_rune(re, at, ch, w);
}

/* Build the regexp text ("^...$", kept even for exact/prefix/suffix) and the match type. */
static int
translate(const char *pat, struct sw_buf *re, enum df_pm_type *type)
{
    size_t n = strlen(pat), i = 0;
    if (n >= 3 && memcmp(pat, "\xEF\xBB\xBF", 3) == 0)
        i = 3; /* text/scanner skips a BOM at the start */
    *type = DF_PM_EXACT;
    if (sw_buf_putc(re, '^') < 0)
        return -SW_ENOMEM;
    for (bool first = true; i < n; first = false)
        if (translate_one(re, pat, n, &i, first, type) < 0)
            return -SW_ENOMEM;
    if (*type == DF_PM_REGEXP && sw_buf_putc(re, '$') < 0)
        return -SW_ENOMEM;
    return 0;
}

/* ---- a Go RE2 subset: program ---------------------------------------------------------------- */

enum re_op { RE_MATCH, RE_RUNE, RE_CLASS, RE_ANY_NOT_NL, RE_SPLIT, RE_NOP, RE_ASSERT };
enum re_assert { RA_BEGIN_TEXT, RA_END_TEXT, RA_WORD, RA_NOT_WORD };

#define RE_NIL UINT32_MAX

struct re_inst {
    uint8_t op;
    uint8_t arg8;     /* assertion kind; class negation */
    uint32_t out;     /* next instruction (while compiling: a patch-list link) */
    uint32_t out1;    /* RE_SPLIT's second branch */
    uint32_t arg;     /* RE_RUNE: the rune; RE_CLASS: first range pair */
    uint32_t nranges; /* RE_CLASS: number of range pairs */
};

struct re_prog {
    struct re_inst *inst;
    size_t n, cap;
    uint32_t *ranges; /* lo, hi pairs */
    size_t nranges, rcap;
    uint32_t start;
    bool anchored; /* starts with ^: only a thread started at 0 can match */
    uint8_t *live; /* live[pc]: RE_MATCH is reachable from pc */
};

static void
re_prog_free(struct re_prog *p)
{
    if (!p)
        return;
    free(p->inst);
    free(p->ranges);
    free(p->live);
    free(p);
}

static int
re_emit(struct re_prog *p, uint8_t op, uint32_t *idx)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct re_inst *v = realloc(p->inst, cap * sizeof *v);
        if (!v)
            return -SW_ENOMEM;
        p->inst = v;
        p->cap = cap;
    }
    *idx = (uint32_t)p->n;
    p->inst[p->n++] = (struct re_inst){.op = op, .out = RE_NIL, .out1 = RE_NIL};
    return 0;
}

static int
re_add_range(struct re_prog *p, uint32_t lo, uint32_t hi)
{
    if (p->nranges + 2 > p->rcap) {
        size_t cap = p->rcap ? p->rcap * 2 : 32;
        uint32_t *v = realloc(p->ranges, cap * sizeof *v);
        if (!v)
            return -SW_ENOMEM;
        p->ranges = v;
        p->rcap = cap;
    }
    p->ranges[p->nranges++] = lo;
    p->ranges[p->nranges++] = hi;
    return 0;
}

/* ---- a Go RE2 subset: Thompson fragments --------------------------------------------------------
 * A fragment's dangling exits form a list threaded through the unpatched out fields: a slot is
 * pc * 2 (out) or pc * 2 + 1 (out1), and an unpatched field holds the next slot (RE_NIL ends). */

struct re_frag {
    uint32_t start, outs;
};

static uint32_t *
re_slot(struct re_prog *p, uint32_t slot)
{
    struct re_inst *in = &p->inst[slot >> 1];
    return (slot & 1) ? &in->out1 : &in->out;
}

static void
re_patch(struct re_prog *p, uint32_t list, uint32_t target)
{
    while (list != RE_NIL) {
        uint32_t *f = re_slot(p, list);
        list = *f;
        *f = target;
    }
}

static uint32_t
re_append(struct re_prog *p, uint32_t l1, uint32_t l2)
{
    if (l1 == RE_NIL)
        return l2;
    uint32_t s = l1;
    while (*re_slot(p, s) != RE_NIL)
        s = *re_slot(p, s);
    *re_slot(p, s) = l2;
    return l1;
}

static struct re_frag
re_cat(struct re_prog *p, struct re_frag a, struct re_frag b)
{
    re_patch(p, a.outs, b.start);
    return (struct re_frag){a.start, b.outs};
}

/* Wrap e in `*` (kind '*'), `+` or `?`. */
static int
re_repeat(struct re_prog *p, struct re_frag *e, char kind)
{
    uint32_t s;
    if (re_emit(p, RE_SPLIT, &s) < 0)
        return -SW_ENOMEM;
    p->inst[s].out = e->start;
    uint32_t exit = s * 2 + 1;
    if (kind == '?') {
        *e = (struct re_frag){s, re_append(p, e->outs, exit)};
    } else {
        re_patch(p, e->outs, s);
        *e = (struct re_frag){kind == '*' ? s : e->start, exit};
    }
    return 0;
}

/* ---- a Go RE2 subset: parser ----------------------------------------------------------------- */

struct re_level {
    struct re_frag seq, last;
    bool has_seq, has_last;
};

struct re_parser {
    const char *s;
    size_t n, pos;
    struct re_prog *prog;
    struct re_level *lv;
    size_t nlv, lvcap;
    bool last_repeat;
    const char *why; /* static text of a syntax error */
};

static int
re_fail(struct re_parser *ps, const char *why)
{
    if (!ps->why)
        ps->why = why;
    return -SW_EINVAL;
}

static struct re_level *
re_top(struct re_parser *ps)
{
    return &ps->lv[ps->nlv - 1];
}

static void
re_add_atom(struct re_parser *ps, struct re_frag f)
{
    struct re_level *l = re_top(ps);
    if (l->has_last) {
        l->seq = l->has_seq ? re_cat(ps->prog, l->seq, l->last) : l->last;
        l->has_seq = true;
    }
    l->last = f;
    l->has_last = true;
}

static int
re_atom(struct re_parser *ps, uint8_t op, uint8_t arg8, uint32_t arg)
{
    uint32_t pc;
    if (re_emit(ps->prog, op, &pc) < 0)
        return -SW_ENOMEM;
    ps->prog->inst[pc].arg8 = arg8;
    ps->prog->inst[pc].arg = arg;
    re_add_atom(ps, (struct re_frag){pc, pc * 2});
    return 0;
}

static int
re_level_end(struct re_parser *ps, struct re_frag *out)
{
    struct re_level *l = re_top(ps);
    if (l->has_last) {
        *out = l->has_seq ? re_cat(ps->prog, l->seq, l->last) : l->last;
        return 0;
    }
    if (l->has_seq) {
        *out = l->seq;
        return 0;
    }
    uint32_t pc;
    if (re_emit(ps->prog, RE_NOP, &pc) < 0)
        return -SW_ENOMEM;
    *out = (struct re_frag){pc, pc * 2};
    return 0;
}

static int
re_push_level(struct re_parser *ps)
{
    if (ps->nlv > RE_MAX_DEPTH)
        return re_fail(ps, "expression nests too deeply");
    if (ps->nlv == ps->lvcap) {
        size_t cap = ps->lvcap ? ps->lvcap * 2 : 4;
        struct re_level *v = realloc(ps->lv, cap * sizeof *v);
        if (!v)
            return -SW_ENOMEM;
        ps->lv = v;
        ps->lvcap = cap;
    }
    ps->lv[ps->nlv++] = (struct re_level){0};
    return 0;
}

static int
re_next_rune(struct re_parser *ps, uint32_t *r)
{
    size_t w = decode(ps->s + ps->pos, ps->n - ps->pos, r);
    if (decode_invalid(*r, w))
        return re_fail(ps, "invalid UTF-8");
    ps->pos += w;
    return 0;
}

static int
unhex(uint32_t c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

static bool
is_octal(const struct re_parser *ps)
{
    return ps->pos < ps->n && ps->s[ps->pos] >= '0' && ps->s[ps->pos] <= '7';
}

/* After "\x": two hex digits or {hex...}. */
static int
re_hex_escape(struct re_parser *ps, uint32_t *r)
{
    uint32_t c;
    if (ps->pos >= ps->n)
        return re_fail(ps, "invalid escape sequence");
    if (re_next_rune(ps, &c) < 0)
        return -SW_EINVAL;
    if (c == '{') {
        uint32_t v = 0;
        int nhex = 0;
        for (;;) {
            if (ps->pos >= ps->n || re_next_rune(ps, &c) < 0)
                return re_fail(ps, "invalid escape sequence");
            if (c == '}')
                break;
            int x = unhex(c);
            if (x < 0 || (v = v * 16 + (uint32_t)x) > MAX_RUNE)
                return re_fail(ps, "invalid escape sequence");
            nhex++;
        }
        if (nhex == 0)
            return re_fail(ps, "invalid escape sequence");
        *r = v;
        return 0;
    }
    int x = unhex(c), y = -1;
    if (ps->pos < ps->n) {
        if (re_next_rune(ps, &c) < 0)
            return -SW_EINVAL;
        y = unhex(c);
    }
    if (x < 0 || y < 0)
        return re_fail(ps, "invalid escape sequence");
    *r = (uint32_t)(x * 16 + y);
    return 0;
}

static bool
is_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Go's parseEscape at ps->s[pos] == '\\': a single (possibly octal/hex/C) escaped rune. */
static int
re_escape(struct re_parser *ps, uint32_t *r)
{
    ps->pos++;
    if (ps->pos >= ps->n)
        return re_fail(ps, "trailing backslash at end of expression");
    uint32_t c;
    if (re_next_rune(ps, &c) < 0)
        return -SW_EINVAL;
    if (c < 0x80 && !is_alnum(c)) {
        *r = c;
        return 0;
    }
    static const char cesc[] = "a\af\fn\nr\rt\tv\v";
    for (size_t i = 0; i < sizeof cesc - 1; i += 2) {
        if (c == (uint32_t)cesc[i]) {
            *r = (uint32_t)cesc[i + 1];
            return 0;
        }
    }
    if (c == 'x')
        return re_hex_escape(ps, r);
    if (c == '0' || (c >= '1' && c <= '7' && is_octal(ps))) {
        uint32_t v = c - '0';
        for (int i = 1; i < 3 && is_octal(ps); i++)
            v = v * 8 + (uint32_t)(ps->s[ps->pos++] - '0');
        *r = v;
        return 0;
    }
    return re_fail(ps, "invalid escape sequence");
}

/* ---- a Go RE2 subset: character classes ------------------------------------------------------ */

struct re_group {
    const char *name;
    const char *ranges; /* lo, hi byte pairs, ASCII only */
};

/* Go's POSIX classes. Ranges are NUL-terminated strings, so "ascii" and "cntrl" start at 1 and
 * re_add_group adds NUL for them. */
static const struct re_group posix_groups[] = {
    {"alnum", "09AZaz"},
    {"alpha", "AZaz"},
    {"ascii", "\x01\x7f"},
    {"blank", "\t\t  "},
    {"cntrl", "\x01\x1f\x7f\x7f"},
    {"digit", "09"},
    {"graph", "!~"},
    {"lower", "az"},
    {"print", " ~"},
    {"punct", "!/:@[`{~"},
    {"space", "\t\r  "},
    {"upper", "AZ"},
    {"word", "09AZ__az"},
    {"xdigit", "09AFaf"},
};

static const struct re_group perl_groups[] = {
    {"d", "09"},
    {"s", "\t\n\f\r  "},
    {"w", "09AZ__az"},
};

/* Append a group's ranges (or their complement over all runes) to the class being built. */
static int
re_add_group(struct re_prog *p, const struct re_group *g, bool with_nul, bool negate)
{
    uint32_t lo = 0;
    if (with_nul && !negate && re_add_range(p, 0, 0) < 0)
        return -SW_ENOMEM;
    if (with_nul)
        lo = 1;
    for (const char *r = g->ranges; *r; r += 2) {
        uint32_t a = (unsigned char)r[0], b = (unsigned char)r[1];
        if (!negate) {
            if (re_add_range(p, a, b) < 0)
                return -SW_ENOMEM;
        } else {
            if (a > lo && re_add_range(p, lo, a - 1) < 0)
                return -SW_ENOMEM;
            lo = b + 1;
        }
    }
    if (negate && re_add_range(p, lo, MAX_RUNE) < 0)
        return -SW_ENOMEM;
    return 0;
}

/* "[:name:]" or "[:^name:]" at pos; 1 when consumed, 0 when it is not a named class. */
static int
re_named_class(struct re_parser *ps)
{
    const char *t = ps->s + ps->pos;
    size_t left = ps->n - ps->pos;
    if (left <= 2 || t[0] != '[' || t[1] != ':')
        return 0;
    const char *end = memmem(t + 2, left - 2, ":]", 2);
    if (!end)
        return 0;
    const char *name = t + 2;
    size_t nlen = (size_t)(end - name);
    bool negate = nlen > 0 && name[0] == '^';
    if (negate) {
        name++;
        nlen--;
    }
    for (size_t i = 0; i < sizeof posix_groups / sizeof posix_groups[0]; i++) {
        const struct re_group *g = &posix_groups[i];
        if (strlen(g->name) == nlen && memcmp(g->name, name, nlen) == 0) {
            bool nul = strcmp(g->name, "ascii") == 0 || strcmp(g->name, "cntrl") == 0;
            ps->pos += (size_t)(end + 2 - t);
            return re_add_group(ps->prog, g, nul, negate) < 0 ? -SW_ENOMEM : 1;
        }
    }
    return re_fail(ps, "invalid character class range");
}

/* "\d" "\D" "\s" "\S" "\w" "\W" at pos; 1 when consumed. */
static int
re_perl_class(struct re_parser *ps)
{
    if (ps->n - ps->pos < 2 || ps->s[ps->pos] != '\\')
        return 0;
    char c = ps->s[ps->pos + 1];
    bool negate = c == 'D' || c == 'S' || c == 'W';
    char lower = negate ? (char)(c + 32) : c;
    for (size_t i = 0; i < sizeof perl_groups / sizeof perl_groups[0]; i++) {
        if (perl_groups[i].name[0] == lower) {
            ps->pos += 2;
            return re_add_group(ps->prog, &perl_groups[i], false, negate) < 0 ? -SW_ENOMEM : 1;
        }
    }
    return 0;
}

static bool
re_unicode_class_at(const struct re_parser *ps)
{
    return ps->n - ps->pos >= 2 && ps->s[ps->pos] == '\\' &&
           (ps->s[ps->pos + 1] == 'p' || ps->s[ps->pos + 1] == 'P');
}

static int
re_class_char(struct re_parser *ps, uint32_t *r)
{
    if (ps->pos >= ps->n)
        return re_fail(ps, "missing closing ]");
    if (ps->s[ps->pos] == '\\')
        return re_escape(ps, r);
    return re_next_rune(ps, r);
}

/* One item of a class: a named class, a Perl class, a character or a range. */
static int
re_class_item(struct re_parser *ps)
{
    int rc = re_named_class(ps);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (re_unicode_class_at(ps))
        return re_fail(ps, "Unicode classes (\\p, \\P) are not supported");
    rc = re_perl_class(ps);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    uint32_t lo, hi;
    if (re_class_char(ps, &lo) < 0)
        return -SW_EINVAL;
    hi = lo;
    if (ps->n - ps->pos >= 2 && ps->s[ps->pos] == '-' && ps->s[ps->pos + 1] != ']') {
        ps->pos++;
        if (re_class_char(ps, &hi) < 0)
            return -SW_EINVAL;
        if (hi < lo)
            return re_fail(ps, "invalid character class range");
    }
    return re_add_range(ps->prog, lo, hi);
}

/* A class at ps->s[pos] == '['. */
static int
re_class(struct re_parser *ps)
{
    ps->pos++;
    bool negate = ps->pos < ps->n && ps->s[ps->pos] == '^';
    if (negate)
        ps->pos++;
    size_t first_range = ps->prog->nranges;
    for (bool first = true; ps->pos >= ps->n || ps->s[ps->pos] != ']' || first; first = false) {
        int rc = re_class_item(ps);
        if (rc < 0)
            return rc;
    }
    ps->pos++;
    uint32_t pc;
    if (re_emit(ps->prog, RE_CLASS, &pc) < 0)
        return -SW_ENOMEM;
    struct re_inst *in = &ps->prog->inst[pc];
    in->arg8 = negate;
    in->arg = (uint32_t)(first_range / 2);
    in->nranges = (uint32_t)((ps->prog->nranges - first_range) / 2);
    re_add_atom(ps, (struct re_frag){pc, pc * 2});
    return 0;
}

/* ---- a Go RE2 subset: the top-level syntax --------------------------------------------------- */

static int
re_quantifier(struct re_parser *ps)
{
    char kind = ps->s[ps->pos++];
    if (ps->pos < ps->n && ps->s[ps->pos] == '?')
        ps->pos++; /* lazy: the same language */
    if (ps->last_repeat)
        return re_fail(ps, "invalid nested repetition operator");
    struct re_level *l = re_top(ps);
    if (!l->has_last)
        return re_fail(ps, "missing argument to repetition operator");
    return re_repeat(ps->prog, &l->last, kind);
}

static int
re_close_group(struct re_parser *ps)
{
    if (ps->nlv < 2)
        return re_fail(ps, "unexpected )");
    struct re_frag f;
    if (re_level_end(ps, &f) < 0)
        return -SW_ENOMEM;
    ps->nlv--;
    re_add_atom(ps, f);
    ps->pos++;
    return 0;
}

/* "\Q...\E": literal text up to \E or the end. */
static int
re_quoted(struct re_parser *ps)
{
    ps->pos += 2;
    const char *start = ps->s + ps->pos;
    const char *end = memmem(start, ps->n - ps->pos, "\\E", 2);
    size_t stop = end ? (size_t)(end - ps->s) : ps->n;
    while (ps->pos < stop) {
        uint32_t r;
        size_t save = ps->n;
        ps->n = stop;
        int rc = re_next_rune(ps, &r);
        ps->n = save;
        if (rc < 0 || re_atom(ps, RE_RUNE, 0, r) < 0)
            return rc < 0 ? rc : -SW_ENOMEM;
    }
    ps->pos = end ? stop + 2 : ps->n;
    return 0;
}

/* A backslash sequence outside a class. */
static int
re_backslash(struct re_parser *ps)
{
    char c = ps->pos + 1 < ps->n ? ps->s[ps->pos + 1] : '\0';
    static const char asserts[] = "AzbB";
    static const uint8_t kinds[] = {RA_BEGIN_TEXT, RA_END_TEXT, RA_WORD, RA_NOT_WORD};
    const char *a = c ? strchr(asserts, c) : NULL;
    if (a) {
        ps->pos += 2;
        return re_atom(ps, RE_ASSERT, kinds[a - asserts], 0);
    }
    if (c == 'C')
        return re_fail(ps, "invalid escape sequence");
    if (c == 'Q')
        return re_quoted(ps);
    if (re_unicode_class_at(ps))
        return re_fail(ps, "Unicode classes (\\p, \\P) are not supported");
    size_t first_range = ps->prog->nranges;
    int rc = re_perl_class(ps);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        uint32_t pc;
        if (re_emit(ps->prog, RE_CLASS, &pc) < 0)
            return -SW_ENOMEM;
        ps->prog->inst[pc].arg = (uint32_t)(first_range / 2);
        ps->prog->inst[pc].nranges = (uint32_t)((ps->prog->nranges - first_range) / 2);
        re_add_atom(ps, (struct re_frag){pc, pc * 2});
        return 0;
    }
    uint32_t r;
    if (re_escape(ps, &r) < 0)
        return -SW_EINVAL;
    return re_atom(ps, RE_RUNE, 0, r);
}

static int
re_token(struct re_parser *ps, bool *repeat)
{
    *repeat = false;
    switch (ps->s[ps->pos]) {
    case '(':
        if (ps->pos + 1 < ps->n && ps->s[ps->pos + 1] == '?')
            return re_fail(ps, "group flags are not supported");
        ps->pos++;
        return re_push_level(ps);
    case ')':
        return re_close_group(ps);
    case '|':
        return re_fail(ps, "alternation is not supported");
    case '{':
        return re_fail(ps, "counted repetition is not supported");
    case '^':
    case '$':
        return re_atom(ps, RE_ASSERT, ps->s[ps->pos++] == '^' ? RA_BEGIN_TEXT : RA_END_TEXT, 0);
    case '.':
        ps->pos++;
        return re_atom(ps, RE_ANY_NOT_NL, 0, 0);
    case '[':
        return re_class(ps);
    case '*':
    case '+':
    case '?':
        *repeat = true;
        return re_quantifier(ps);
    case '\\':
        return re_backslash(ps);
    default: {
        uint32_t r;
        if (re_next_rune(ps, &r) < 0)
            return -SW_EINVAL;
        return re_atom(ps, RE_RUNE, 0, r);
    }
    }
}

/* live[pc]: can pc reach RE_MATCH (ignoring what the instructions consume)? */
static int
re_compute_live(struct re_prog *p, uint32_t match)
{
    size_t n = p->n;
    sw_autofree uint32_t *cnt = calloc(n + 1, sizeof *cnt);
    sw_autofree uint32_t *preds = calloc(2 * n + 1, sizeof *preds);
    sw_autofree uint32_t *queue = calloc(n + 1, sizeof *queue);
    p->live = calloc(n + 1, 1);
    if (!cnt || !preds || !queue || !p->live)
        return -SW_ENOMEM;
    for (size_t pc = 0; pc < n; pc++) {
        const struct re_inst *in = &p->inst[pc];
        if (in->op != RE_MATCH)
            cnt[in->out + 1]++;
        if (in->op == RE_SPLIT)
            cnt[in->out1 + 1]++;
    }
    for (size_t i = 1; i <= n; i++)
        cnt[i] += cnt[i - 1];
    sw_autofree uint32_t *fill = malloc((n + 1) * sizeof *fill);
    if (!fill)
        return -SW_ENOMEM;
    memcpy(fill, cnt, (n + 1) * sizeof *fill);
    for (size_t pc = 0; pc < n; pc++) {
        const struct re_inst *in = &p->inst[pc];
        if (in->op != RE_MATCH)
            preds[fill[in->out]++] = (uint32_t)pc;
        if (in->op == RE_SPLIT)
            preds[fill[in->out1]++] = (uint32_t)pc;
    }
    size_t head = 0, tail = 0;
    queue[tail++] = match;
    p->live[match] = 1;
    while (head < tail) {
        uint32_t pc = queue[head++];
        for (uint32_t k = cnt[pc]; k < cnt[pc + 1]; k++) {
            if (!p->live[preds[k]]) {
                p->live[preds[k]] = 1;
                queue[tail++] = preds[k];
            }
        }
    }
    return 0;
}

static int
re_finish(struct re_parser *ps)
{
    if (ps->nlv != 1)
        return re_fail(ps, "missing closing )");
    struct re_frag f;
    uint32_t match;
    if (re_level_end(ps, &f) < 0 || re_emit(ps->prog, RE_MATCH, &match) < 0)
        return -SW_ENOMEM;
    re_patch(ps->prog, f.outs, match);
    struct re_prog *p = ps->prog;
    p->start = f.start;
    p->anchored = p->inst[f.start].op == RE_ASSERT && p->inst[f.start].arg8 == RA_BEGIN_TEXT;
    return re_compute_live(p, match);
}

/* Compile Go regexp text; on a syntax error returns -SW_EINVAL with *why set. */
static int
re_compile(struct re_prog **out, const char *s, const char **why)
{
    *out = NULL;
    *why = NULL;
    size_t n = strlen(s);
    if (n > RE_MAX_LEN) {
        *why = "expression too large";
        return -SW_EINVAL;
    }
    struct re_parser ps = {.s = s, .n = n};
    ps.prog = calloc(1, sizeof *ps.prog);
    int rc = ps.prog ? re_push_level(&ps) : -SW_ENOMEM;
    while (rc == 0 && ps.pos < ps.n) {
        bool repeat;
        rc = re_token(&ps, &repeat);
        ps.last_repeat = repeat;
    }
    if (rc == 0)
        rc = re_finish(&ps);
    free(ps.lv);
    if (rc < 0) {
        *why = ps.why;
        re_prog_free(ps.prog);
        return rc;
    }
    *out = ps.prog;
    return 0;
}

/* ---- a Go RE2 subset: the Pike VM ------------------------------------------------------------ */

#define VM_INLINE 64
#define VM_WORDS(n) (6 * (n) + 2)

/* Per-call scratch: inline for small programs, heap beyond. */
struct vm_scratch {
    uint32_t small[VM_WORDS(VM_INLINE)];
    uint32_t *heap;
    size_t heap_cap;
};

struct vm {
    const struct re_prog *p;
    uint32_t *stamp; /* generation that last visited each pc */
    uint32_t *cur;   /* consuming pcs alive at the current position */
    uint32_t *next;  /* the list being built for the next position */
    uint32_t *arr;   /* pcs entered at the current position, before their closure */
    uint32_t *stack;
    size_t ncur, nnext, narr;
    uint32_t gen;
    bool matched;
};

/* The context of a position for assertions: the runes before and after it (-1: none), and
 * whether the input may go on after its end (then $ fails and \b, \B are assumed to hold). */
struct vm_ctx {
    int32_t prev, next;
    bool open_end;
};

static void
vm_scratch_free(struct vm_scratch *s)
{
    free(s->heap);
    s->heap = NULL;
    s->heap_cap = 0;
}

static int
vm_init(struct vm *vm, const struct re_prog *p, struct vm_scratch *s)
{
    size_t n = p->n;
    uint32_t *mem = s->small;
    if (n > VM_INLINE) {
        if (s->heap_cap < VM_WORDS(n)) {
            uint32_t *h = realloc(s->heap, VM_WORDS(n) * sizeof *h);
            if (!h)
                return -SW_ENOMEM;
            s->heap = h;
            s->heap_cap = VM_WORDS(n);
        }
        mem = s->heap;
    }
    memset(mem, 0, n * sizeof *mem);
    *vm = (struct vm){.p = p,
                      .stamp = mem,
                      .cur = mem + n,
                      .next = mem + 2 * n,
                      .arr = mem + 3 * n,
                      .stack = mem + 4 * n + 1};
    return 0;
}

static bool
is_word(int32_t r)
{
    return r >= 0 && (is_alnum((uint32_t)r) || r == '_');
}

static bool
vm_assert(uint8_t kind, struct vm_ctx c)
{
    bool unknown = c.open_end && c.next < 0;
    switch (kind) {
    case RA_BEGIN_TEXT:
        return c.prev < 0;
    case RA_END_TEXT:
        return c.next < 0 && !unknown;
    case RA_WORD:
        return unknown || is_word(c.prev) != is_word(c.next);
    default:
        return unknown || is_word(c.prev) == is_word(c.next);
    }
}

/* Add pc and its epsilon closure to vm->next; reaching RE_MATCH sets vm->matched. */
static void
vm_add(struct vm *vm, uint32_t pc, struct vm_ctx c)
{
    size_t sp = 0;
    vm->stack[sp++] = pc;
    while (sp > 0) {
        pc = vm->stack[--sp];
        if (vm->stamp[pc] == vm->gen)
            continue;
        vm->stamp[pc] = vm->gen;
        const struct re_inst *in = &vm->p->inst[pc];
        switch (in->op) {
        case RE_MATCH:
            vm->matched = true;
            break;
        case RE_NOP:
            vm->stack[sp++] = in->out;
            break;
        case RE_SPLIT:
            vm->stack[sp++] = in->out1;
            vm->stack[sp++] = in->out;
            break;
        case RE_ASSERT:
            if (vm_assert(in->arg8, c))
                vm->stack[sp++] = in->out;
            break;
        default:
            vm->next[vm->nnext++] = pc;
            break;
        }
    }
}

static bool
vm_class_has(const struct re_prog *p, const struct re_inst *in, uint32_t r)
{
    const uint32_t *rg = p->ranges + (size_t)in->arg * 2;
    bool in_class = false;
    for (uint32_t k = 0; k < in->nranges && !in_class; k++)
        in_class = rg[2 * k] <= r && r <= rg[2 * k + 1];
    return in_class != (in->arg8 != 0);
}

static bool
vm_consumes(const struct re_prog *p, const struct re_inst *in, uint32_t r)
{
    switch (in->op) {
    case RE_RUNE:
        return in->arg == r;
    case RE_ANY_NOT_NL:
        return r != '\n';
    case RE_CLASS:
        return vm_class_has(p, in, r);
    default:
        return false;
    }
}

/* Build the current list from the recorded entries (vm->arr) under context c. */
static void
vm_settle(struct vm *vm, struct vm_ctx c)
{
    vm->gen++;
    vm->nnext = 0;
    for (size_t k = 0; k < vm->narr; k++)
        vm_add(vm, vm->arr[k], c);
    uint32_t *t = vm->cur;
    vm->cur = vm->next;
    vm->next = t;
    vm->ncur = vm->nnext;
}

/* Record the entries of the next position: what the current list does with rune r, plus a new
 * thread when the program is not anchored. */
static void
vm_step(struct vm *vm, uint32_t r)
{
    const struct re_prog *p = vm->p;
    vm->narr = 0;
    for (size_t k = 0; k < vm->ncur; k++) {
        const struct re_inst *in = &p->inst[vm->cur[k]];
        if (vm_consumes(p, in, r))
            vm->arr[vm->narr++] = in->out;
    }
    if (!p->anchored)
        vm->arr[vm->narr++] = p->start;
}

/* Would the input end right here give a match? (The current list is left alone.) */
static bool
vm_match_if_end(struct vm *vm, int32_t prev)
{
    bool saved = vm->matched;
    vm->matched = false;
    vm->gen++;
    vm->nnext = 0;
    for (size_t k = 0; k < vm->narr; k++)
        vm_add(vm, vm->arr[k], (struct vm_ctx){prev, -1, false});
    bool hit = vm->matched;
    vm->matched = saved;
    return hit;
}

/* A walk over the input rune by rune. */
struct vm_cursor {
    const char *s;
    size_t n, pos, w;
    uint32_t r;   /* the rune at pos (when pos < n) */
    int32_t prev; /* the rune before pos, -1 at 0 */
};

static void
cursor_init(struct vm_cursor *cu, const char *s, size_t n)
{
    *cu = (struct vm_cursor){.s = s, .n = n, .prev = -1};
    if (n > 0)
        cu->w = decode(s, n, &cu->r);
}

static struct vm_ctx
cursor_ctx(const struct vm_cursor *cu, bool open_end)
{
    return (struct vm_ctx){cu->prev, cu->pos < cu->n ? (int32_t)cu->r : -1, open_end};
}

static void
cursor_next(struct vm_cursor *cu)
{
    cu->prev = (int32_t)cu->r;
    cu->pos += cu->w;
    cu->w = cu->pos < cu->n ? decode(cu->s + cu->pos, cu->n - cu->pos, &cu->r) : 0;
}

static void
vm_start(struct vm *vm, struct vm_cursor *cu, const char *s, size_t n, bool open_end)
{
    cursor_init(cu, s, n);
    vm->narr = 0;
    vm->arr[vm->narr++] = vm->p->start;
    vm_settle(vm, cursor_ctx(cu, open_end));
}

/* Go's Regexp.MatchString(s[0..n)). */
static bool
vm_match(struct vm *vm, const char *s, size_t n)
{
    struct vm_cursor cu;
    vm_start(vm, &cu, s, n, false);
    while (cu.pos < n && !vm->matched) {
        if (vm->ncur == 0 && vm->p->anchored)
            return false;
        vm_step(vm, cu.r);
        cursor_next(&cu);
        vm_settle(vm, cursor_ctx(&cu, false));
    }
    return vm->matched;
}

/* Does MatchString hold for some s[0..k) where k == n or s[k] == '/'? One pass for all of them:
 * a match found inside s[0..k) holds for every longer prefix, and at each '/' the entries are
 * also settled as if the input ended there. */
static bool
vm_match_dir_prefixes(struct vm *vm, const char *s, size_t n)
{
    struct vm_cursor cu;
    vm_start(vm, &cu, s, n, false);
    for (;;) {
        if (cu.pos == n || vm->matched)
            return vm->matched;
        if (s[cu.pos] == '/' && vm_match_if_end(vm, cu.prev))
            return true;
        if (vm->ncur == 0 && vm->p->anchored)
            return false;
        vm_step(vm, cu.r);
        cursor_next(&cu);
        vm_settle(vm, cursor_ctx(&cu, false));
    }
}

/* Could some input that starts with s[0..n) and goes on match? (Conservative: true when unsure.) */
static bool
vm_could_match_longer(struct vm *vm, const char *s, size_t n)
{
    const struct re_prog *p = vm->p;
    if (!p->anchored)
        return true;
    struct vm_cursor cu;
    vm_start(vm, &cu, s, n, true);
    while (cu.pos < n && !vm->matched) {
        if (vm->ncur == 0)
            return false;
        vm_step(vm, cu.r);
        cursor_next(&cu);
        vm_settle(vm, cursor_ctx(&cu, true));
    }
    if (vm->matched)
        return true;
    for (size_t k = 0; k < vm->ncur; k++)
        if (p->live[vm->cur[k]])
            return true;
    return false;
}

/* ---- the pattern matcher --------------------------------------------------------------------- */

struct pm_pattern {
    char *text; /* cleaned, without the '!' */
    size_t len;
    bool exclusion;
    size_t ndirs; /* elements of text split at '/' */
    enum df_pm_type type;
    char *regexp; /* the Go regexp text */
    struct re_prog *prog;
    const char *why; /* DF_PM_BAD: why the regexp does not compile */
};

struct df_pm {
    struct pm_pattern *p;
    size_t n;
    bool exclusions;
};

void
df_pm_free(struct df_pm *pm)
{
    if (!pm)
        return;
    for (size_t i = 0; i < pm->n; i++) {
        free(pm->p[i].text);
        free(pm->p[i].regexp);
        re_prog_free(pm->p[i].prog);
    }
    free(pm->p);
    free(pm);
}

static int
pm_bad_pattern(const char *raw, struct sw_error **err)
{
    sw_autofree char *q = quote(raw);
    return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid pattern %s: syntax error in pattern",
                        q ? q : raw);
}

/* Translate and compile pattern text (cleaned, without '!') into pt. */
static int
pm_compile(struct pm_pattern *pt, const char *body, struct sw_error **err)
{
    pt->text = strdup(body);
    if (!pt->text)
        return sw_error_oom(err);
    pt->len = strlen(body);
    pt->ndirs = 1;
    for (const char *c = body; *c; c++)
        pt->ndirs += *c == '/';
    struct sw_buf re = {0};
    if (translate(body, &re, &pt->type) < 0 || !(pt->regexp = sw_buf_detach(&re))) {
        sw_buf_free(&re);
        return sw_error_oom(err);
    }
    if (pt->type != DF_PM_REGEXP)
        return 0;
    int rc = re_compile(&pt->prog, pt->regexp, &pt->why);
    if (rc == -SW_ENOMEM)
        return sw_error_oom(err);
    if (rc < 0)
        pt->type = DF_PM_BAD; /* reported by every match that evaluates it, like upstream */
    return 0;
}

static int
pm_add(struct df_pm *pm, const char *raw, struct sw_error **err)
{
    if (!raw)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "pattern list contains NULL");
    struct span s = {raw, strlen(raw)};
    go_trim_space(&s);
    if (s.n == 0)
        return 0;
    sw_autofree char *clean = go_clean(s.p, s.n);
    if (!clean)
        return sw_error_oom(err);
    bool exclusion = clean[0] == '!';
    const char *body = clean + exclusion;
    if (exclusion && !*body)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "illegal exclusion pattern: \"!\"");
    if (fm_match((struct span){body, strlen(body)}, (struct span){".", 1}) < 0)
        return pm_bad_pattern(raw, err);
    struct pm_pattern *pt = &pm->p[pm->n++];
    *pt = (struct pm_pattern){.exclusion = exclusion};
    pm->exclusions |= exclusion;
    return pm_compile(pt, body, err);
}

int
df_pm_new(struct df_pm **out, const char *const *patterns, size_t n, struct sw_error **err)
{
    *out = NULL;
    struct df_pm *pm = calloc(1, sizeof *pm);
    if (!pm || (n > 0 && !(pm->p = calloc(n, sizeof *pm->p)))) {
        free(pm);
        return sw_error_oom(err);
    }
    for (size_t i = 0; i < n; i++) {
        int rc = pm_add(pm, patterns[i], err);
        if (rc < 0) {
            df_pm_free(pm);
            return rc;
        }
    }
    *out = pm;
    return 0;
}

size_t
df_pm_count(const struct df_pm *pm)
{
    return pm ? pm->n : 0;
}

bool
df_pm_has_exclusions(const struct df_pm *pm)
{
    return pm && pm->exclusions;
}

const char *
df_pm_pattern(const struct df_pm *pm, size_t i, bool *exclusion)
{
    if (exclusion)
        *exclusion = pm->p[i].exclusion;
    return pm->p[i].text;
}

enum df_pm_type
df_pm_pattern_type(const struct df_pm *pm, size_t i)
{
    return pm->p[i].type;
}

const char *
df_pm_pattern_regexp(const struct df_pm *pm, size_t i)
{
    enum df_pm_type t = pm->p[i].type;
    return t == DF_PM_REGEXP || t == DF_PM_BAD ? pm->p[i].regexp : NULL;
}

/* ---- matching one pattern -------------------------------------------------------------------- */

static bool
pm_suffix_match(const struct pm_pattern *pt, const char *path, size_t n)
{
    const char *suffix = pt->text + 2;
    size_t slen = pt->len - 2;
    if (n >= slen && memcmp(path + n - slen, suffix, slen) == 0)
        return true;
    /* "**" + "/foo" also matches "foo" itself */
    return slen > 0 && suffix[0] == '/' && n == slen - 1 && memcmp(path, suffix + 1, n) == 0;
}

/* Pattern.match on path[0..n): 1 or 0; a DF_PM_BAD pattern fails with -SW_EINVAL (err set when
 * err is not NULL), allocation with -SW_ENOMEM. */
static int
pm_pattern_match(const struct pm_pattern *pt, const char *path, size_t n, struct vm_scratch *scr,
                 struct sw_error **err)
{
    switch (pt->type) {
    case DF_PM_EXACT:
        return n == pt->len && memcmp(path, pt->text, n) == 0;
    case DF_PM_PREFIX:
        return n >= pt->len - 2 && memcmp(path, pt->text, pt->len - 2) == 0;
    case DF_PM_SUFFIX:
        return pm_suffix_match(pt, path, n);
    case DF_PM_REGEXP: {
        struct vm vm;
        if (vm_init(&vm, pt->prog, scr) < 0)
            return sw_error_oom(err);
        return vm_match(&vm, path, n);
    }
    default: {
        sw_autofree char *q = quote(pt->text);
        return sw_error_set(err, SW_EINVAL, 0, NULL, "pattern %s: syntax error in pattern (%s)",
                            q ? q : pt->text, pt->why ? pt->why : "bad regexp");
    }
    }
}

/* Does pt match one of the leading element runs of dir ("a", "a/b" for "a/b")? Errors of a bad
 * pattern count as no match, like upstream; allocation failures are returned. */
static int
pm_match_any_parent(const struct pm_pattern *pt, const char *dir, struct vm_scratch *scr,
                    struct sw_error **err)
{
    size_t n = strlen(dir);
    if (pt->type == DF_PM_BAD)
        return 0;
    if (pt->type == DF_PM_REGEXP) {
        struct vm vm;
        if (vm_init(&vm, pt->prog, scr) < 0)
            return sw_error_oom(err);
        return vm_match_dir_prefixes(&vm, dir, n);
    }
    for (size_t i = 0; i <= n; i++)
        if ((i == n || dir[i] == '/') && pm_pattern_match(pt, dir, i, scr, NULL) == 1)
            return 1;
    return 0;
}

/* Does pt match the run of the first `elems` elements of dir (elems <= elements of dir)? */
static int
pm_match_parent_elems(const struct pm_pattern *pt, const char *dir, size_t elems,
                      struct vm_scratch *scr, struct sw_error **err)
{
    size_t i = 0, seen = 0;
    for (; dir[i]; i++)
        if (dir[i] == '/' && ++seen == elems)
            break;
    int rc = pm_pattern_match(pt, dir, i, scr, NULL);
    if (rc == -SW_ENOMEM)
        return sw_error_oom(err);
    return rc == 1;
}

/* State shared by one evaluation of a path: the path, its parent directory (computed when first
 * needed) and the VM scratch memory. */
struct pm_eval {
    const char *path;
    size_t n;
    char *dir;
    struct vm_scratch scr;
};

static void
pm_eval_init(struct pm_eval *ev, const char *path)
{
    ev->path = path;
    ev->n = strlen(path);
    ev->dir = NULL;
    ev->scr.heap = NULL;
    ev->scr.heap_cap = 0;
}

static void
pm_eval_done(struct pm_eval *ev)
{
    free(ev->dir);
    vm_scratch_free(&ev->scr);
}

/* The parent directory (filepath.Dir), or NULL when it is "." (no parents). */
static int
pm_eval_dir(struct pm_eval *ev, const char **dir, struct sw_error **err)
{
    if (!ev->dir && !(ev->dir = go_dir(ev->path)))
        return sw_error_oom(err);
    *dir = strcmp(ev->dir, ".") == 0 ? NULL : ev->dir;
    return 0;
}

/* The path or any parent directory. */
static int
pm_match_or_parents(const struct pm_pattern *pt, struct pm_eval *ev, struct sw_error **err)
{
    int rc = pm_pattern_match(pt, ev->path, ev->n, &ev->scr, err);
    if (rc != 0)
        return rc;
    const char *dir = NULL;
    if (pm_eval_dir(ev, &dir, err) < 0)
        return -SW_ENOMEM;
    return dir ? pm_match_any_parent(pt, dir, &ev->scr, err) : 0;
}

/* ---- the PatternMatcher APIs ----------------------------------------------------------------- */

int
df_pm_match(const struct df_pm *pm, const char *path, bool *matched, struct sw_error **err)
{
    struct pm_eval ev;
    pm_eval_init(&ev, path);
    bool m = false;
    int rc = 0;
    for (size_t i = 0; i < pm->n && rc >= 0; i++) {
        const struct pm_pattern *pt = &pm->p[i];
        if (pt->exclusion != m)
            continue;
        rc = pm_match_or_parents(pt, &ev, err);
        if (rc == 1)
            m = !pt->exclusion;
    }
    pm_eval_done(&ev);
    *matched = rc >= 0 && m;
    return rc < 0 ? rc : 0;
}

bool
df_pm_matches_or_parent_matches(const struct df_pm *pm, const char *path)
{
    struct sw_error *err = NULL;
    bool m = false;
    if (df_pm_match(pm, path, &m, &err) < 0)
        m = false;
    sw_error_free(err);
    return m;
}

/* The ordered evaluation on the path alone, from an initial state. */
static int
pm_eval_plain(const struct df_pm *pm, const char *path, bool initial, bool *matched,
              struct sw_error **err)
{
    struct pm_eval ev;
    pm_eval_init(&ev, path);
    bool m = initial;
    int rc = 0;
    for (size_t i = 0; i < pm->n && rc >= 0; i++) {
        const struct pm_pattern *pt = &pm->p[i];
        if (pt->exclusion != m)
            continue;
        rc = pm_pattern_match(pt, ev.path, ev.n, &ev.scr, err);
        if (rc == 1)
            m = !pt->exclusion;
    }
    pm_eval_done(&ev);
    *matched = rc >= 0 && m;
    return rc < 0 ? rc : 0;
}

int
df_pm_matches_exact(const struct df_pm *pm, const char *path, bool *matched, struct sw_error **err)
{
    return pm_eval_plain(pm, path, false, matched, err);
}

int
df_pm_match_parent_result(const struct df_pm *pm, const char *path, bool parent_matched,
                          bool *matched, struct sw_error **err)
{
    return pm_eval_plain(pm, path, parent_matched, matched, err);
}

/* One pattern of df_pm_match_walk: 1 when it matches the path (or, per parent, a parent). */
static int
pm_walk_one(const struct pm_pattern *pt, struct pm_eval *ev, bool with_parent,
            struct sw_error **err)
{
    if (with_parent)
        return pm_pattern_match(pt, ev->path, ev->n, &ev->scr, err);
    return pm_match_or_parents(pt, ev, err);
}

int
df_pm_match_walk(const struct df_pm *pm, const char *path, const bool *parent, bool *state,
                 bool *matched, struct sw_error **err)
{
    struct pm_eval ev;
    pm_eval_init(&ev, path);
    bool m = false;
    int rc = 0;
    for (size_t i = 0; i < pm->n && rc >= 0; i++) {
        const struct pm_pattern *pt = &pm->p[i];
        bool hit = parent && parent[i];
        if (!hit && pt->exclusion == m) {
            rc = pm_walk_one(pt, &ev, parent != NULL, err);
            hit = rc == 1;
        }
        if (state)
            state[i] = hit;
        if (hit)
            m = !pt->exclusion;
    }
    pm_eval_done(&ev);
    *matched = rc >= 0 && m;
    return rc < 0 ? rc : 0;
}

int
df_pm_match_one_parent(const struct df_pm *pm, const char *path, bool *matched,
                       struct sw_error **err)
{
    struct pm_eval ev;
    pm_eval_init(&ev, path);
    const char *dir = NULL;
    int rc = pm_eval_dir(&ev, &dir, err);
    size_t nparent = 1;
    for (const char *c = dir; c && *c; c++)
        nparent += *c == '/';
    bool m = false;
    for (size_t i = 0; i < pm->n && rc >= 0; i++) {
        const struct pm_pattern *pt = &pm->p[i];
        if (pt->exclusion != m)
            continue;
        rc = pm_pattern_match(pt, ev.path, ev.n, &ev.scr, err);
        if (rc == 0 && dir && pt->ndirs <= nparent)
            rc = pm_match_parent_elems(pt, dir, pt->ndirs, &ev.scr, err);
        if (rc == 1)
            m = !pt->exclusion;
    }
    pm_eval_done(&ev);
    *matched = rc >= 0 && m;
    return rc < 0 ? rc : 0;
}

int
df_pm_legacy_matches(bool *matched, const char *path, const char *const *patterns, size_t n,
                     struct sw_error **err)
{
    *matched = false;
    struct df_pm *pm = NULL;
    int rc = df_pm_new(&pm, patterns, n, err);
    if (rc < 0)
        return rc;
    char *clean = df_ignore_clean(path);
    if (!clean)
        rc = sw_error_oom(err);
    else if (strcmp(clean, ".") != 0)
        rc = df_pm_match_one_parent(pm, clean, matched, err);
    free(clean);
    df_pm_free(pm);
    return rc;
}

/* ---- skipping directories -------------------------------------------------------------------- */

/* Could pt match some path that starts with prefix[0..plen) ("dir/") and is longer? */
static bool
pm_could_match_below(const struct pm_pattern *pt, const char *prefix, size_t plen,
                     struct vm_scratch *scr)
{
    switch (pt->type) {
    case DF_PM_EXACT:
        return pt->len > plen && memcmp(pt->text, prefix, plen) == 0;
    case DF_PM_PREFIX: {
        size_t k = pt->len - 2;
        return memcmp(pt->text, prefix, k < plen ? k : plen) == 0;
    }
    case DF_PM_REGEXP: {
        struct vm vm;
        if (vm_init(&vm, pt->prog, scr) < 0)
            return true;
        return vm_could_match_longer(&vm, prefix, plen);
    }
    default: /* suffixes can match anywhere; a bad pattern must get its chance to fail */
        return true;
    }
}

bool
df_pm_can_skip_dir(const struct df_pm *pm, const char *dir, const bool *dir_state)
{
    if (!pm || !dir || !dir_state)
        return false;
    bool m = false;
    for (size_t i = 0; i < pm->n; i++)
        if (dir_state[i])
            m = !pm->p[i].exclusion;
    if (!m)
        return false;
    struct sw_buf prefix = {0};
    if (sw_buf_puts(&prefix, dir) < 0 || sw_buf_putc(&prefix, '/') < 0) {
        sw_buf_free(&prefix);
        return false;
    }
    struct vm_scratch scr = {.heap = NULL};
    bool skip = true;
    for (size_t i = 0; i < pm->n && skip; i++) {
        const struct pm_pattern *pt = &pm->p[i];
        if (pt->exclusion && !dir_state[i] &&
            pm_could_match_below(pt, prefix.data, prefix.len, &scr))
            skip = false;
    }
    vm_scratch_free(&scr);
    sw_buf_free(&prefix);
    return skip;
}
