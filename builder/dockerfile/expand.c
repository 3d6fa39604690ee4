/*
 * builder/dockerfile/expand.c: Dockerfile word expansion, after BuildKit's shell lexer
 * (frontend/dockerfile/shell/lex.go).
 *
 * The lexer walks the word once. `$` starts an expansion; `'` and `"` quote (unless skip_quotes);
 * the escape token escapes the next character; `<<` keeps the blanks after it in its word (so
 * `<< EOF` stays one word, as BuildKit's processPossibleHeredoc does). Inside ${V...} the word
 * after the modifier is lexed recursively up to `}` (or `/` for a pattern of ${V/p/r}).
 *
 * Compatibility notes (all deliberate, to behave like BuildKit):
 * - Names are letters, digits and `_`. "Letter" is sw_unicode_is_letter: ASCII letters and every
 *   non-ASCII code point except spaces, controls and U+FFFD (an approximation of Go's
 *   unicode.IsLetter). Only ASCII digits start an all-digits positional name.
 * - Windows (case_insensitive) keys compare with ASCII case folding.
 * - Patterns: `*` and `?` never match a newline (Go's regexp `.`); #/% pick the shortest match,
 *   ##/%% and / // the longest, / // the leftmost. % and %% reverse the pattern and the value and
 *   trim a prefix, like BuildKit. ${V//p/r} expands `$0`, `${0}` and `$$` in r like Go's
 *   Regexp.ReplaceAllString (other `$name`s are empty), ${V/p/r} inserts r literally.
 * - With raw_escapes, an escape before an ordinary character inside "..." is kept twice (BuildKit
 *   writes it once raw and once as the unescaped character), so a pattern in ${V#"a\b"} is the
 *   literal a\b.
 * Differences from BuildKit: "${x" gives "syntax error: missing '}'" (BuildKit: "unsupported
 * modifier (\uFFFD)"); skip_unset keeps ${V//p/r} with both slashes (BuildKit writes one);
 * ProcessWords keeps the text before a ${V:-w} in its word (BuildKit's shared word buffer drops
 * it); invalid UTF-8 passes through unchanged.
 */
#include "expand.h"
#include "../util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- environment ----------------------------------------------------------------------------- */

static bool
key_equal(const char *a, size_t alen, const char *b, size_t blen, bool fold)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (fold) {
            x = (x >= 'a' && x <= 'z') ? (unsigned char)(x - 32) : x;
            y = (y >= 'a' && y <= 'z') ? (unsigned char)(y - 32) : y;
        }
        if (x != y)
            return false;
    }
    return true;
}

const char *
df_env_get(const struct df_env *env, const char *name, size_t name_len)
{
    if (!env)
        return NULL;
    for (size_t i = env->kv.n; i-- > 0;) {
        const char *e = env->kv.v[i];
        const char *eq = strchr(e, '=');
        size_t klen = eq ? (size_t)(eq - e) : strlen(e);
        if (key_equal(e, klen, name, name_len, env->case_insensitive))
            return eq ? eq + 1 : "";
    }
    return NULL;
}

int
df_env_set(struct df_env *env, const char *key, const char *value)
{
    struct sw_buf b = {0};
    if (sw_buf_puts(&b, key) < 0 || sw_buf_putc(&b, '=') < 0 || sw_buf_puts(&b, value) < 0) {
        sw_buf_free(&b);
        return -SW_ENOMEM;
    }
    return sw_strv_push_owned(&env->kv, sw_buf_detach(&b));
}

void
df_env_free(struct df_env *env)
{
    sw_strv_free(&env->kv);
}

/* ---- small helpers --------------------------------------------------------------------------- */

/* Width of the UTF-8 character at s[0] (1 for an invalid byte). */
static size_t
char_width(const char *s, size_t len)
{
    uint32_t cp;
    return sw_utf8_decode(s, len, &cp);
}

static bool
strv_has(const struct sw_strv *sv, const char *s, size_t n)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strlen(sv->v[i]) == n && memcmp(sv->v[i], s, n) == 0)
            return true;
    return false;
}

/* ---- words (ProcessWords) -------------------------------------------------------------------- */

struct words {
    struct sw_strv list;
    struct sw_buf cur;
};

static int
words_flush(struct words *w)
{
    if (w->cur.len == 0)
        return 0;
    int r = sw_strv_pushn(&w->list, w->cur.data, w->cur.len);
    sw_buf_clear(&w->cur);
    return r;
}

/* Text that never splits: quoted text, escaped characters, `<<` and its blanks. */
static int
words_raw(struct words *w, const char *s, size_t n)
{
    return w ? sw_buf_append(&w->cur, s, n) : 0;
}

/* Text that splits on (Unicode) whitespace: unquoted characters and unquoted expansions. */
static int
words_split(struct words *w, const char *s, size_t n)
{
    if (!w)
        return 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t cw = sw_utf8_decode(s + i, n - i, &cp);
        int r = sw_unicode_is_space(cp) ? words_flush(w) : sw_buf_append(&w->cur, s + i, cw);
        if (r < 0)
            return r;
        i += cw;
    }
    return 0;
}

/* ---- the lexer ------------------------------------------------------------------------------- */

struct lexer {
    const char *src;
    size_t len, pos;
    const struct df_env *env;
    const struct df_expand_opts *opts;
    char esc;
    bool raw_escapes; /* current: the pattern words of # % / are always lexed with raw escapes */
    struct sw_strv *matched, *unmatched;
    struct sw_error *e; /* the innermost error; the caller's gets a copy with context */
};

static int
lx_peek(const struct lexer *lx)
{
    return lx->pos < lx->len ? (unsigned char)lx->src[lx->pos] : -1;
}

static bool
lx_eof(const struct lexer *lx)
{
    return lx->pos >= lx->len;
}

static int
lx_oom(struct lexer *lx)
{
    return sw_error_oom(&lx->e);
}

static int lx_fail(struct lexer *lx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
lx_fail(struct lexer *lx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = sw_error_vset(&lx->e, SW_EINVAL, 0, NULL, fmt, ap);
    va_end(ap);
    return r;
}

/* BuildKit reports a missing delimiter instead of the inner error when the word ran out. */
static int
lx_fail_at_eof(struct lexer *lx, int r, const char *msg)
{
    if (!lx_eof(lx) || !lx->e || lx->e->code != SW_EINVAL)
        return r;
    sw_error_freep(&lx->e);
    return lx_fail(lx, "%s", msg);
}

/* Look name up; returns 1 (set, *value set), 0 (unset, *value = "") or -SW_ENOMEM. */
static int
lx_lookup(struct lexer *lx, const char *name, size_t n, const char **value)
{
    const char *v = df_env_get(lx->env, name, n);
    struct sw_strv *list = v ? lx->matched : lx->unmatched;
    if (list && !strv_has(list, name, n) && sw_strv_pushn(list, name, n) < 0)
        return lx_oom(lx);
    *value = v ? v : "";
    return v != NULL;
}

static int process_stop_on(struct lexer *lx, int stop, bool raw_escapes, struct sw_buf *out,
                           struct words *w);

static int
process_single_quote(struct lexer *lx, struct sw_buf *out)
{
    bool raw = lx->opts->raw_quotes;
    lx->pos++;
    if (raw && sw_buf_putc(out, '\'') < 0)
        return lx_oom(lx);
    for (;;) {
        if (lx_eof(lx))
            return lx_fail(lx,
                           "unexpected end of statement while looking for matching single-quote");
        char c = lx->src[lx->pos++];
        if (c == '\'')
            return raw && sw_buf_putc(out, c) < 0 ? lx_oom(lx) : 0;
        if (sw_buf_putc(out, c) < 0)
            return lx_oom(lx);
    }
}

static int process_dollar(struct lexer *lx, struct sw_buf *out);

/* One character inside "...": the escape token escapes only `"`, `$` and itself. */
static int
double_quote_char(struct lexer *lx, struct sw_buf *out)
{
    char c = lx->src[lx->pos++];
    if (c == lx->esc) {
        if (lx->raw_escapes && sw_buf_putc(out, c) < 0)
            return lx_oom(lx);
        if (lx_eof(lx))
            return 0; /* dropped; the missing quote is reported next */
        char n = lx->src[lx->pos];
        if (n == '"' || n == '$' || n == lx->esc) {
            c = n;
            lx->pos++;
        }
    }
    return sw_buf_putc(out, c) < 0 ? lx_oom(lx) : 0;
}

static int
process_double_quote(struct lexer *lx, struct sw_buf *out)
{
    bool raw = lx->opts->raw_quotes;
    lx->pos++;
    if (raw && sw_buf_putc(out, '"') < 0)
        return lx_oom(lx);
    for (;;) {
        int c = lx_peek(lx), r;
        if (c < 0)
            return lx_fail(lx,
                           "unexpected end of statement while looking for matching double-quote");
        if (c == '"') {
            lx->pos++;
            return raw && sw_buf_putc(out, '"') < 0 ? lx_oom(lx) : 0;
        }
        r = c == '$' ? process_dollar(lx, out) : double_quote_char(lx, out);
        if (r < 0)
            return r;
    }
}

/* `<` or `<<` plus the blanks after it (so that `<< EOF` lexes as one word). */
static int
process_possible_heredoc(struct lexer *lx, struct sw_buf *out)
{
    size_t start = lx->pos++;
    if (lx_peek(lx) == '<') {
        lx->pos++;
        while (lx_peek(lx) == ' ' || lx_peek(lx) == '\t' || lx_peek(lx) == '\r')
            lx->pos++;
    }
    return sw_buf_append(out, lx->src + start, lx->pos - start) < 0 ? lx_oom(lx) : 0;
}

/* ---- names and ${...} ------------------------------------------------------------------------ */

static bool
is_ascii_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool
is_special_param(int c)
{
    return c && strchr("@*#?-$!0", c) != NULL;
}

/* A name: all the digits of a leading digit run, one special parameter, or letters, digits and
 * `_`. Returns its start; its length is lx->pos - start. */
static size_t
process_name(struct lexer *lx)
{
    size_t start = lx->pos;
    int c = lx_peek(lx);
    if (is_ascii_digit(c)) {
        while (is_ascii_digit(lx_peek(lx)))
            lx->pos++;
        return start;
    }
    if (is_special_param(c)) {
        lx->pos++;
        return start;
    }
    while (!lx_eof(lx)) {
        uint32_t cp;
        size_t w = sw_utf8_decode(lx->src + lx->pos, lx->len - lx->pos, &cp);
        if (cp != '_' && !is_ascii_digit((int)cp) && !sw_unicode_is_letter(cp))
            break;
        lx->pos += w;
    }
    return start;
}

struct name {
    const char *s;
    size_t n;
};

/* skip_unset keeps an unset reference as written: "${" NAME OP A SEP B "}". */
struct reference {
    const char *op;
    size_t op_len;
    const struct sw_buf *a; /* may be NULL */
    const char *sep;
    const struct sw_buf *b; /* may be NULL */
};

static int
put_reference(struct lexer *lx, struct sw_buf *out, struct name nm, struct reference ref)
{
    if (sw_buf_puts(out, "${") < 0 || sw_buf_append(out, nm.s, nm.n) < 0 ||
        sw_buf_append(out, ref.op, ref.op_len) < 0 ||
        (ref.a && sw_buf_append(out, sw_buf_cstr(ref.a), ref.a->len) < 0) ||
        sw_buf_puts(out, ref.sep ? ref.sep : "") < 0 ||
        (ref.b && sw_buf_append(out, sw_buf_cstr(ref.b), ref.b->len) < 0) ||
        sw_buf_putc(out, '}') < 0)
        return lx_oom(lx);
    return 0;
}

static int
put(struct lexer *lx, struct sw_buf *out, const char *s, size_t n)
{
    return sw_buf_append(out, s, n) < 0 ? lx_oom(lx) : 0;
}

/* $NAME (the `$` is consumed). */
static int
dollar_simple(struct lexer *lx, struct sw_buf *out)
{
    size_t start = process_name(lx);
    size_t n = lx->pos - start;
    if (n == 0)
        return put(lx, out, "$", 1);
    const char *v;
    int set = lx_lookup(lx, lx->src + start, n, &v);
    if (set < 0)
        return set;
    if (!set && lx->opts->skip_unset)
        return put(lx, out, lx->src + start - 1, n + 1);
    return put(lx, out, v, strlen(v));
}

static int trim_prefix(struct lexer *lx, struct sw_buf *out, const char *pattern, size_t plen,
                       const char *value, bool longest);
static int trim_suffix(struct lexer *lx, struct sw_buf *out, const char *pattern, size_t plen,
                       const char *value, bool longest);
static int replace(struct lexer *lx, struct sw_buf *out, const char *pattern, size_t plen,
                   const char *rep, size_t rlen, const char *value, bool all);

/* ${V?word} / ${V:?word} when the check fails. */
static int
required_error(struct lexer *lx, struct name nm, bool set, const struct sw_buf *word)
{
    const char *msg = word->len ? sw_buf_cstr(word)
                      : set     ? "is not allowed to be empty"
                                : "is not allowed to be unset";
    return lx_fail(lx, "%.*s: %s", (int)nm.n, nm.s, msg);
}

/* Apply modifier `op` (one of - + ? # %) to V = value (set or not). */
static int
apply_modifier(struct lexer *lx, struct sw_buf *out, struct name nm, int op, bool colon,
               const struct sw_buf *word, bool set, const char *value)
{
    bool empty = !set || (colon && !*value);
    const char *w = sw_buf_cstr(word);
    switch (op) {
    case '-':
        return empty ? put(lx, out, w, word->len) : put(lx, out, value, strlen(value));
    case '+':
        return empty ? 0 : put(lx, out, w, word->len);
    case '?':
        return empty ? required_error(lx, nm, set, word) : put(lx, out, value, strlen(value));
    case '#':
    case '%': {
        bool longest = word->len > 0 && w[0] == op;
        size_t skip = longest ? 1 : 0;
        if (op == '#')
            return trim_prefix(lx, out, w + skip, word->len - skip, value, longest);
        return trim_suffix(lx, out, w + skip, word->len - skip, value, longest);
    }
    default:
        return -SW_EINTERNAL;
    }
}

/* ${V<op>word} and ${V:<op>word}; lx->pos is at the modifier (after the `:`). */
static int
dollar_modifier(struct lexer *lx, struct sw_buf *out, struct name nm, bool colon)
{
    if (lx_eof(lx))
        return lx_fail(lx, "syntax error: missing '}'");
    const char *chs = lx->src + lx->pos - (colon ? 1 : 0);
    int op = lx_peek(lx);
    lx->pos += char_width(lx->src + lx->pos, lx->len - lx->pos);
    int chs_len = (int)(lx->src + lx->pos - chs);
    bool pattern = op == '#' || op == '%';
    if (colon && pattern)
        return lx_fail(lx, "unsupported modifier (%.*s) in substitution", chs_len, chs);

    struct sw_buf word = {0};
    const char *value = "";
    int r = process_stop_on(lx, '}', pattern, &word, NULL);
    if (r < 0)
        r = lx_fail_at_eof(lx, r, "syntax error: missing '}'");
    int set = r < 0 ? r : lx_lookup(lx, nm.s, nm.n, &value);
    if (set < 0)
        r = set;
    else if (!set && lx->opts->skip_unset)
        r = put_reference(lx, out, nm, (struct reference){chs, (size_t)chs_len, &word, NULL, NULL});
    else if (op == '-' || op == '+' || op == '?' || pattern)
        r = apply_modifier(lx, out, nm, op, colon, &word, set, value);
    else
        r = lx_fail(lx, "unsupported modifier (%.*s) in substitution", chs_len, chs);
    sw_buf_free(&word);
    return r;
}

/* ${V/pattern/replacement} and ${V//pattern/replacement}; lx->pos is after the first `/`. */
static int
dollar_replace(struct lexer *lx, struct sw_buf *out, struct name nm)
{
    bool all = lx_peek(lx) == '/';
    if (all)
        lx->pos++;
    struct sw_buf pat = {0}, rep = {0};
    const char *value = "";
    int r = process_stop_on(lx, '/', true, &pat, NULL);
    if (r < 0)
        r = lx_fail_at_eof(lx, r, "syntax error: missing '/' in ${}");
    if (r >= 0 && (r = process_stop_on(lx, '}', true, &rep, NULL)) < 0)
        r = lx_fail_at_eof(lx, r, "syntax error: missing '}'");
    int set = r < 0 ? r : lx_lookup(lx, nm.s, nm.n, &value);
    if (set < 0)
        r = set;
    else if (!set && lx->opts->skip_unset)
        r = put_reference(lx, out, nm,
                          (struct reference){all ? "//" : "/", all ? 2 : 1, &pat, "/", &rep});
    else
        r = replace(lx, out, sw_buf_cstr(&pat), pat.len, sw_buf_cstr(&rep), rep.len, value, all);
    sw_buf_free(&pat);
    sw_buf_free(&rep);
    return r;
}

/* ${...}; lx->pos is after the `{`. */
static int
dollar_braced(struct lexer *lx, struct sw_buf *out)
{
    int c = lx_peek(lx);
    if (c < 0)
        return lx_fail(lx, "syntax error: missing '}'");
    if (c == '{' || c == '}' || c == ':')
        return lx_fail(lx, "syntax error: bad substitution");
    size_t start = process_name(lx);
    struct name nm = {lx->src + start, lx->pos - start};
    c = lx_peek(lx);
    if (c < 0)
        return lx_fail(lx, "syntax error: missing '}'");
    if (c == '}') {
        lx->pos++;
        const char *v;
        int set = lx_lookup(lx, nm.s, nm.n, &v);
        if (set < 0)
            return set;
        if (!set && lx->opts->skip_unset)
            return put_reference(lx, out, nm, (struct reference){"", 0, NULL, NULL, NULL});
        return put(lx, out, v, strlen(v));
    }
    if (c == ':') {
        lx->pos++;
        return dollar_modifier(lx, out, nm, true);
    }
    if (c == '/') {
        lx->pos++;
        return dollar_replace(lx, out, nm);
    }
    if (c == '+' || c == '-' || c == '?' || c == '#' || c == '%')
        return dollar_modifier(lx, out, nm, false);
    const char *chs = lx->src + lx->pos;
    lx->pos += char_width(chs, lx->len - lx->pos); /* consumed, as BuildKit does */
    return lx_fail(lx, "unsupported modifier (%.*s) in substitution",
                   (int)(lx->src + lx->pos - chs), chs);
}

static int
process_dollar(struct lexer *lx, struct sw_buf *out)
{
    lx->pos++;
    if (lx_peek(lx) != '{')
        return dollar_simple(lx, out);
    lx->pos++;
    return dollar_braced(lx, out);
}

/* ---- the word loop --------------------------------------------------------------------------- */

/* An ordinary character, or the escape token and the character it escapes. */
static int
plain_char(struct lexer *lx, struct sw_buf *out, struct words *w)
{
    bool escaped = lx->src[lx->pos] == lx->esc;
    if (escaped) {
        lx->pos++;
        if (lx->raw_escapes && (sw_buf_putc(out, lx->esc) < 0 || words_raw(w, &lx->esc, 1) < 0))
            return lx_oom(lx);
        if (lx_eof(lx))
            return 0; /* a trailing escape is dropped */
    }
    const char *s = lx->src + lx->pos;
    size_t n = char_width(s, lx->len - lx->pos);
    lx->pos += n;
    if (sw_buf_append(out, s, n) < 0 || (escaped ? words_raw(w, s, n) : words_split(w, s, n)) < 0)
        return lx_oom(lx);
    return 0;
}

/* Call a sub-lexer and feed what it appended to the words (split only for expansions). */
static int
special(struct lexer *lx, int (*fn)(struct lexer *, struct sw_buf *), bool split,
        struct sw_buf *out, struct words *w)
{
    size_t before = out->len;
    int r = fn(lx, out);
    if (r < 0 || !w)
        return r;
    const char *s = sw_buf_cstr(out) + before;
    r = split ? words_split(w, s, out->len - before) : words_raw(w, s, out->len - before);
    return r < 0 ? lx_oom(lx) : 0;
}

static int
stop_on_loop(struct lexer *lx, int stop, struct sw_buf *out, struct words *w)
{
    bool quotes = !lx->opts->skip_quotes;
    while (!lx_eof(lx)) {
        int c = lx_peek(lx), r;
        if (c == stop) {
            lx->pos++;
            return 0;
        }
        if (c == '$')
            r = special(lx, process_dollar, true, out, w);
        else if (c == '<')
            r = special(lx, process_possible_heredoc, false, out, w);
        else if (c == '\'' && quotes)
            r = special(lx, process_single_quote, false, out, w);
        else if (c == '"' && quotes)
            r = special(lx, process_double_quote, false, out, w);
        else
            r = plain_char(lx, out, w);
        if (r < 0)
            return r;
    }
    if (stop >= 0)
        return lx_fail(lx, "unexpected end of statement while looking for matching %c", stop);
    return 0;
}

/* Lex up to `stop` (-1: the end), which is consumed. */
static int
process_stop_on(struct lexer *lx, int stop, bool raw_escapes, struct sw_buf *out, struct words *w)
{
    bool saved = lx->raw_escapes;
    lx->raw_escapes = raw_escapes;
    int r = stop_on_loop(lx, stop, out, w);
    lx->raw_escapes = saved;
    return r;
}

/* ---- glob patterns --------------------------------------------------------------------------- */

void
df_glob_free(struct df_glob *g)
{
    free(g->tok);
    g->tok = NULL;
    g->n = 0;
}

static int
glob_push(struct df_glob *g, enum df_glob_op op, const char *s, size_t n)
{
    struct df_glob_tok *t = realloc(g->tok, (g->n + 1) * sizeof *t);
    if (!t)
        return -SW_ENOMEM;
    g->tok = t;
    t[g->n] = (struct df_glob_tok){.op = op, .len = (unsigned char)n};
    if (n)
        memcpy(t[g->n].ch, s, n);
    g->n++;
    return 0;
}

int
df_glob_compile(struct df_glob *g, const char *p, size_t len, struct sw_error **err)
{
    *g = (struct df_glob){0};
    for (size_t i = 0; i < len;) {
        size_t w = char_width(p + i, len - i);
        int r;
        if (p[i] == '*' || p[i] == '?') {
            r = glob_push(g, p[i] == '*' ? DF_GLOB_STAR : DF_GLOB_ANY, NULL, 0);
        } else if (p[i] == '\\' && i + 1 < len && (p[i + 1] == '}' || p[i + 1] == '/')) {
            i++; /* escaped delimiter: the backslash is not part of the pattern */
            continue;
        } else if (p[i] == '\\') {
            if (i + 1 >= len || !strchr("*?\\", p[i + 1])) {
                df_glob_free(g);
                if (i + 1 >= len)
                    return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid escape '\\' at end");
                w = char_width(p + i + 1, len - i - 1);
                return sw_error_set(err, SW_EINVAL, 0, NULL, "invalid escape '\\%.*s'", (int)w,
                                    p + i + 1);
            }
            r = glob_push(g, DF_GLOB_CHAR, p + i + 1, 1);
            w = 2;
        } else {
            r = glob_push(g, DF_GLOB_CHAR, p + i, w);
        }
        if (r < 0) {
            df_glob_free(g);
            return sw_error_oom(err);
        }
        i += w;
    }
    return 0;
}

/* Character boundaries of s: offsets of each character, plus len at the end. */
static size_t *
char_offsets(const char *s, size_t len, size_t *count)
{
    size_t *off = malloc((len + 1) * sizeof *off), n = 0;
    if (!off)
        return NULL;
    for (size_t i = 0; i < len; i += char_width(s + i, len - i))
        off[n++] = i;
    off[n] = len;
    *count = n;
    return off;
}

char *
df_utf8_reverse(const char *s)
{
    size_t len = strlen(s), n;
    size_t *off = char_offsets(s, len, &n);
    char *out = off ? malloc(len + 1) : NULL;
    if (!out) {
        free(off);
        return NULL;
    }
    char *q = out;
    for (size_t i = n; i-- > 0;) {
        memcpy(q, s + off[i], off[i + 1] - off[i]);
        q += off[i + 1] - off[i];
    }
    *q = '\0';
    free(off);
    return out;
}

char *
df_glob_reverse(const char *s)
{
    size_t len = strlen(s), n;
    size_t *off = char_offsets(s, len, &n);
    char *out = off ? malloc(len + 1) : NULL;
    if (!out) {
        free(off);
        return NULL;
    }
    char *q = out + len;
    *q = '\0';
    for (size_t i = 0; i < n;) {
        /* a `\x` pair (not a trailing `\`) moves as one unit */
        size_t units = (s[off[i]] == '\\' && i + 1 < n) ? 2 : 1;
        size_t bytes = off[i + units] - off[i];
        q -= bytes;
        memcpy(q, s + off[i], bytes);
        i += units;
    }
    free(off);
    return out;
}

/* NFA simulation: st[i] is the earliest start of a thread in state i (NO_THREAD: none). */
#define NO_THREAD SIZE_MAX

struct glob_run {
    const struct df_glob *g;
    size_t *st, *next;
};

static void
glob_close(struct glob_run *m)
{
    for (size_t i = 0; i < m->g->n; i++)
        if (m->g->tok[i].op == DF_GLOB_STAR && m->st[i] < m->st[i + 1])
            m->st[i + 1] = m->st[i];
}

static bool
glob_tok_matches(const struct df_glob_tok *t, const char *c, size_t w)
{
    if (t->op != DF_GLOB_CHAR)
        return !(w == 1 && *c == '\n');
    return t->len == w && memcmp(t->ch, c, w) == 0;
}

/* Consume the character c[0:w]; returns whether any thread is alive. */
static bool
glob_step(struct glob_run *m, const char *c, size_t w)
{
    size_t n = m->g->n;
    bool alive = false;
    for (size_t i = 0; i <= n; i++)
        m->next[i] = NO_THREAD;
    for (size_t i = 0; i < n; i++) {
        if (m->st[i] == NO_THREAD || !glob_tok_matches(&m->g->tok[i], c, w))
            continue;
        size_t to = m->g->tok[i].op == DF_GLOB_STAR ? i : i + 1;
        if (m->st[i] < m->next[to])
            m->next[to] = m->st[i];
        alive = true;
    }
    size_t *t = m->st;
    m->st = m->next;
    m->next = t;
    return alive;
}

struct match {
    bool found;
    size_t start, end;
};

/* Record an accepting thread; drop threads that start after the best match (they cannot win). */
static void
glob_accept(struct glob_run *m, size_t pos, struct match *best)
{
    size_t s = m->st[m->g->n];
    if (s != NO_THREAD &&
        (!best->found || s < best->start || (s == best->start && pos > best->end)))
        *best = (struct match){true, s, pos};
    if (best->found)
        for (size_t i = 0; i <= m->g->n; i++)
            if (m->st[i] != NO_THREAD && m->st[i] > best->start)
                m->st[i] = NO_THREAD;
}

/*
 * Find g in s[from:len]: anchored at `from` or leftmost; then the shortest or the longest match
 * at that start (equal to what Go's leftmost-first regexp picks for these globs).
 */
static int
glob_find(const struct df_glob *g, const char *s, size_t len, size_t from, bool anchored,
          bool longest, struct match *best)
{
    struct glob_run m = {g, malloc((g->n + 1) * sizeof(size_t)),
                         malloc((g->n + 1) * sizeof(size_t))};
    if (!m.st || !m.next) {
        free(m.st);
        free(m.next);
        return -SW_ENOMEM;
    }
    for (size_t i = 0; i <= g->n; i++)
        m.st[i] = NO_THREAD;
    *best = (struct match){0};
    for (size_t pos = from;;) {
        if (!best->found && (pos == from || !anchored) && pos < m.st[0])
            m.st[0] = pos;
        glob_close(&m);
        glob_accept(&m, pos, best);
        if (pos >= len || (best->found && !longest))
            break;
        size_t w = char_width(s + pos, len - pos);
        if (!glob_step(&m, s + pos, w) && (best->found || anchored))
            break;
        pos += w;
    }
    free(m.st);
    free(m.next);
    return 0;
}

static int
compile_for(struct lexer *lx, struct df_glob *g, const char *pattern, size_t plen,
            const char *shown)
{
    struct sw_error *e = NULL;
    int r = df_glob_compile(g, pattern, plen, &e);
    if (r == -SW_EINVAL)
        r = lx_fail(lx, "invalid pattern (%s) in substitution: %s", shown, e->msg);
    else if (r < 0)
        r = lx_oom(lx);
    sw_error_free(e);
    return r;
}

/* Remove the shortest (or longest) prefix of value matching pattern; append the rest. */
static int
trim_prefix(struct lexer *lx, struct sw_buf *out, const char *pattern, size_t plen,
            const char *value, bool longest)
{
    struct df_glob g;
    int r = compile_for(lx, &g, pattern, plen, pattern);
    if (r < 0)
        return r;
    struct match mt;
    size_t vlen = strlen(value);
    r = glob_find(&g, value, vlen, 0, true, longest, &mt);
    df_glob_free(&g);
    if (r < 0)
        return lx_oom(lx);
    size_t cut = mt.found ? mt.end : 0;
    return put(lx, out, value + cut, vlen - cut);
}

/* Suffixes are prefixes of the reversed value, matched by the reversed pattern (as BuildKit). */
static int
trim_suffix(struct lexer *lx, struct sw_buf *out, const char *pattern, size_t plen,
            const char *value, bool longest)
{
    char *pat = strndup(pattern, plen);
    char *rpat = pat ? df_glob_reverse(pat) : NULL;
    char *rval = df_utf8_reverse(value);
    int r = rpat && rval ? 0 : lx_oom(lx);
    struct df_glob g = {0};
    if (r >= 0)
        r = compile_for(lx, &g, rpat, plen, pat);
    if (r >= 0) {
        struct match mt;
        size_t vlen = strlen(rval);
        r = glob_find(&g, rval, vlen, 0, true, longest, &mt) < 0 ? lx_oom(lx) : 0;
        char *rest = r < 0 ? NULL : df_utf8_reverse(rval + (mt.found ? mt.end : 0));
        r = r < 0 ? r : rest ? put(lx, out, rest, strlen(rest)) : lx_oom(lx);
        free(rest);
    }
    df_glob_free(&g);
    free(pat);
    free(rpat);
    free(rval);
    return r;
}

/* Go's Regexp.Expand name rule: letters, digits, `_`; returns the name length. */
static size_t
template_name(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t w = sw_utf8_decode(s + i, len - i, &cp);
        if (cp != '_' && !is_ascii_digit((int)cp) && !sw_unicode_is_letter(cp))
            break;
        i += w;
    }
    return i;
}

/*
 * Expand a ${V//p/r} replacement like Go's ReplaceAllString: `$$` is `$`, `$0` / `${0}` is the
 * match, any other `$name` / `${name}` is empty (the pattern has no groups), and a `$` that starts
 * no reference is literal. Returns the bytes of template consumed after a `$` (0: literal `$`).
 */
static size_t
template_ref(const char *t, size_t len, const char *match, size_t mlen, struct sw_buf *out, int *r)
{
    if (len >= 2 && t[1] == '$') {
        *r = sw_buf_putc(out, '$');
        return 2;
    }
    bool brace = len >= 2 && t[1] == '{';
    size_t at = brace ? 2 : 1;
    size_t n = template_name(t + at, len - at);
    if (n == 0 || (brace && (at + n >= len || t[at + n] != '}')))
        return 0;
    if (n == 1 && t[at] == '0')
        *r = sw_buf_append(out, match, mlen);
    return at + n + (brace ? 1 : 0);
}

static int
expand_template(struct sw_buf *out, const char *t, size_t len, const char *match, size_t mlen)
{
    for (size_t i = 0; i < len;) {
        const char *d = memchr(t + i, '$', len - i);
        size_t lit = d ? (size_t)(d - (t + i)) : len - i;
        if (sw_buf_append(out, t + i, lit) < 0)
            return -SW_ENOMEM;
        i += lit;
        if (i >= len)
            break;
        int r = 0;
        size_t used = template_ref(t + i, len - i, match, mlen, out, &r);
        if (r < 0 || (used == 0 && sw_buf_putc(out, '$') < 0))
            return -SW_ENOMEM;
        i += used ? used : 1;
    }
    return 0;
}

/* Go's ReplaceAllString loop: an empty match right after a match is not replaced. */
static int
replace_all(const struct df_glob *g, const char *v, size_t vlen, const char *rep, size_t rlen,
            struct sw_buf *out)
{
    size_t search = 0, last = 0;
    while (search <= vlen) {
        struct match mt;
        if (glob_find(g, v, vlen, search, false, true, &mt) < 0)
            return -SW_ENOMEM;
        if (!mt.found)
            break;
        if (sw_buf_append(out, v + last, mt.start - last) < 0)
            return -SW_ENOMEM;
        if ((mt.end > last || mt.start == 0) &&
            expand_template(out, rep, rlen, v + mt.start, mt.end - mt.start) < 0)
            return -SW_ENOMEM;
        last = mt.end;
        size_t w = search < vlen ? char_width(v + search, vlen - search) : 0;
        if (search + w > mt.end)
            search += w;
        else if (search + 1 > mt.end)
            search++;
        else
            search = mt.end;
    }
    return sw_buf_append(out, v + last, vlen - last);
}

static int
replace(struct lexer *lx, struct sw_buf *out, const char *pattern, size_t plen, const char *rep,
        size_t rlen, const char *value, bool all)
{
    struct df_glob g;
    int r = compile_for(lx, &g, pattern, plen, pattern);
    if (r < 0)
        return r;
    size_t vlen = strlen(value);
    struct match mt;
    if (all)
        r = replace_all(&g, value, vlen, rep, rlen, out);
    else if ((r = glob_find(&g, value, vlen, 0, false, true, &mt)) >= 0 && mt.found)
        r = sw_buf_append(out, value, mt.start) < 0 || sw_buf_append(out, rep, rlen) < 0 ||
                    sw_buf_append(out, value + mt.end, vlen - mt.end) < 0
                ? -SW_ENOMEM
                : 0;
    else if (r >= 0)
        r = sw_buf_append(out, value, vlen);
    df_glob_free(&g);
    return r < 0 ? lx_oom(lx) : 0;
}

/* ---- entry points ---------------------------------------------------------------------------- */

static const struct df_expand_opts default_opts = {.escape = '\\'};

/* Hand the lexer's error to the caller as `failed to process "WORD": MSG` (BuildKit's text). */
static int
report(struct lexer *lx, const char *word, struct sw_error **err)
{
    int code = lx->e ? lx->e->code : SW_EINTERNAL;
    int r;
    struct sw_buf q = {0};
    if (code == SW_ENOMEM || sw_go_quote(&q, word, strlen(word)) < 0)
        r = sw_error_oom(err);
    else
        r = sw_error_set(err, code, 0, NULL, "failed to process %s: %s", sw_buf_cstr(&q),
                         lx->e ? lx->e->msg : "internal error");
    sw_buf_free(&q);
    sw_error_free(lx->e);
    lx->e = NULL;
    return r;
}

static int
expand(const char *word, const struct df_env *env, const struct df_expand_opts *opts,
       struct sw_buf *out, struct words *w, struct sw_strv *matched, struct sw_strv *unmatched,
       struct sw_error **err)
{
    opts = opts ? opts : &default_opts;
    struct lexer lx = {
        .src = word,
        .len = strlen(word),
        .env = env,
        .opts = opts,
        .esc = opts->escape ? opts->escape : '\\',
        .raw_escapes = opts->raw_escapes,
        .matched = matched,
        .unmatched = unmatched,
    };
    int r = process_stop_on(&lx, -1, opts->raw_escapes, out, w);
    if (r >= 0 && w && words_flush(w) < 0)
        r = lx_oom(&lx);
    return r < 0 ? report(&lx, word, err) : 0;
}

int
df_expand_word(char **out, const char *word, const struct df_env *env,
               const struct df_expand_opts *opts, struct sw_strv *matched,
               struct sw_strv *unmatched, struct sw_error **err)
{
    struct sw_buf b = {0};
    int r = expand(word, env, opts, &b, NULL, matched, unmatched, err);
    if (r < 0) {
        sw_buf_free(&b);
        return r;
    }
    *out = sw_buf_detach(&b);
    return *out ? 0 : sw_error_oom(err);
}

int
df_expand_words(struct sw_strv *out, const char *word, const struct df_env *env,
                const struct df_expand_opts *opts, struct sw_error **err)
{
    struct sw_buf b = {0};
    struct words w = {0};
    int r = expand(word, env, opts, &b, &w, NULL, NULL, err);
    for (size_t i = 0; r >= 0 && i < w.list.n; i++) {
        r = sw_strv_push_owned(out, w.list.v[i]);
        w.list.v[i] = NULL;
        if (r < 0)
            r = sw_error_oom(err);
    }
    for (size_t i = 0; i < w.list.n; i++)
        free(w.list.v[i]);
    free(w.list.v);
    sw_buf_free(&w.cur);
    sw_buf_free(&b);
    return r < 0 ? r : 0;
}
