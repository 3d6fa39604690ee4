/*
 * The Dockerfile parser: physical lines -> instructions -> argument nodes.
 * It follows BuildKit's frontend/dockerfile/parser rules; see parser.h and
 * docs/dockerfile-frontend.md for the semantics.
 */
#include "parser.h"
#include "expand.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../util/cleanup.h"
#include "../util/utf8.h"

/* ---- small string helpers ------------------------------------------------------------------ */

static bool
is_ascii_blank(char c) /* the [\t\v\f\r ] class of BuildKit's reWhitespace */
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* Width of the Unicode space at s (0 if none). */
static size_t
space_at(const char *s, size_t len)
{
    uint32_t cp;
    size_t w = sw_utf8_decode(s, len, &cp);
    return sw_unicode_is_space(cp) ? w : 0;
}

static size_t
skip_unicode_spaces(const char *s, size_t len)
{
    size_t i = 0, w;
    while (i < len && (w = space_at(s + i, len - i)))
        i += w;
    return i;
}

/* strings.TrimSpace: both ends. */
static void
trim_space(const char **s, size_t *len)
{
    size_t lead = skip_unicode_spaces(*s, *len);
    *s += lead;
    *len -= lead;
    /* trailing: scan forward remembering the end of the last non-space */
    size_t end = 0, i = 0;
    while (i < *len) {
        size_t w = space_at(*s + i, *len - i);
        if (w) {
            i += w;
        } else {
            uint32_t cp;
            i += sw_utf8_decode(*s + i, *len - i, &cp);
            end = i;
        }
    }
    *len = end;
}

static char *
lower_dup(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++)
        o[i] = (char)tolower((unsigned char)s[i]);
    o[n] = '\0';
    return o;
}

/* ---- argument nodes ------------------------------------------------------------------------- */

static int
push_arg(struct df_node *n, const char *s, size_t len)
{
    size_t *lens = realloc(n->arg_len, (n->args.n + 1) * sizeof *lens);
    if (!lens)
        return -SW_ENOMEM;
    n->arg_len = lens;
    char *copy = malloc(len + 1);
    if (!copy)
        return -SW_ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    lens[n->args.n] = len;
    return sw_strv_push_owned(&n->args, copy);
}

static int
push_arg_str(struct df_node *n, const char *s)
{
    return push_arg(n, s, strlen(s));
}

/* Split on runs of [\t\v\f\r ] (rest is already trimmed). */
static int
split_blank(struct df_node *n, const char *rest, size_t len)
{
    if (len == 0)
        return 0;
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < len && !is_ascii_blank(rest[i]))
            i++;
        if (push_arg(n, rest + start, i - start) < 0)
            return -SW_ENOMEM;
        if (i == len)
            return 0;
        while (i < len && is_ascii_blank(rest[i]))
            i++;
        if (i == len) /* trailing blanks give one empty field, as regexp.Split does */
            return push_arg(n, "", 0);
    }
}

int
df_parse_json_array(struct sw_strv *out, size_t **lens, const char *rest, size_t len,
                    struct sw_error **err)
{
    size_t lead = skip_unicode_spaces(rest, len);
    if (lead == len || rest[lead] != '[')
        return 0;
    json_error_t je;
    json_t *root = json_loadb(rest + lead, len - lead, JSON_ALLOW_NUL, &je);
    if (!root || !json_is_array(root)) {
        json_decref(root);
        return 0; /* not JSON: shell form */
    }
    size_t count = json_array_size(root);
    for (size_t i = 0; i < count; i++) {
        if (!json_is_string(json_array_get(root, i))) {
            json_decref(root);
            return sw_error_set(err, SW_EPARSE, 0, NULL,
                                "when using JSON array syntax, arrays must be comprised of "
                                "strings only");
        }
    }
    size_t *l = calloc(count + 1, sizeof *l);
    if (!l) {
        json_decref(root);
        return sw_error_oom(err);
    }
    for (size_t i = 0; i < count; i++) {
        json_t *s = json_array_get(root, i);
        l[i] = json_string_length(s);
        if (sw_strv_pushn(out, json_string_value(s), l[i]) < 0) {
            /* strndup stops at NUL: copy by hand to keep embedded NULs */
            free(l);
            json_decref(root);
            return sw_error_oom(err);
        }
        if (memchr(json_string_value(s), '\0', l[i])) {
            char *copy = malloc(l[i] + 1);
            if (!copy) {
                free(l);
                json_decref(root);
                return sw_error_oom(err);
            }
            memcpy(copy, json_string_value(s), l[i] + 1);
            free(out->v[out->n - 1]);
            out->v[out->n - 1] = copy;
        }
    }
    json_decref(root);
    *lens = l;
    return 1;
}

/* JSON form into the node (1), shell form (0), or an error. */
static int
maybe_json(struct df_node *n, const char *rest, size_t len, struct sw_error **err)
{
    size_t *lens = NULL;
    struct sw_strv v = {0};
    int r = df_parse_json_array(&v, &lens, rest, len, err);
    if (r <= 0) {
        sw_strv_free(&v);
        return r;
    }
    n->json = true;
    sw_strv_free(&n->args);
    free(n->arg_len);
    n->args = v;
    n->arg_len = lens;
    return 1;
}

/* parseMaybeJSON: RUN, CMD, ENTRYPOINT, SHELL. */
static int
parse_maybe_json(struct df_node *n, const char *rest, size_t len, struct sw_error **err)
{
    if (len == 0)
        return 0;
    int r = maybe_json(n, rest, len, err);
    if (r != 0)
        return r < 0 ? r : 0;
    return push_arg(n, rest, len) < 0 ? sw_error_oom(err) : 0;
}

/* parseMaybeJSONToList: ADD, COPY, VOLUME. */
static int
parse_maybe_json_list(struct df_node *n, const char *rest, size_t len, struct sw_error **err)
{
    int r = maybe_json(n, rest, len, err);
    if (r != 0)
        return r < 0 ? r : 0;
    return split_blank(n, rest, len) < 0 ? sw_error_oom(err) : 0;
}

int
df_parse_words(struct sw_strv *out, const char *rest, char escape)
{
    enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
    struct sw_buf word = {0};
    bool blank_ok = false;
    char quote = 0;
    size_t len = strlen(rest);
    int r = 0;
    for (size_t pos = 0; pos <= len && r == 0;) {
        uint32_t ch = 0;
        size_t w = 0;
        if (pos < len)
            w = sw_utf8_decode(rest + pos, len - pos, &ch);
        if (phase == IN_SPACES) {
            if (pos == len)
                break;
            if (sw_unicode_is_space(ch)) {
                pos += w;
                continue;
            }
            phase = IN_WORD;
        }
        if (pos == len) {
            if (blank_ok || word.len > 0)
                r = sw_strv_pushn(out, sw_buf_cstr(&word), word.len);
            break;
        }
        if (phase == IN_WORD) {
            if (sw_unicode_is_space(ch)) {
                phase = IN_SPACES;
                if (blank_ok || word.len > 0)
                    r = sw_strv_pushn(out, sw_buf_cstr(&word), word.len);
                sw_buf_clear(&word);
                blank_ok = false;
                pos += w;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = (char)ch;
                blank_ok = true;
                phase = IN_QUOTE;
            }
            if (ch == (uint32_t)escape) {
                if (pos + w == len) {
                    pos += w;
                    continue; /* an escape token at the end is dropped */
                }
                r = sw_buf_append(&word, rest + pos, w);
                pos += w;
                w = sw_utf8_decode(rest + pos, len - pos, &ch);
            }
            if (r == 0)
                r = sw_buf_append(&word, rest + pos, w);
            pos += w;
            continue;
        }
        /* IN_QUOTE */
        if (ch == (uint32_t)quote)
            phase = IN_WORD;
        if (ch == (uint32_t)escape && quote != '\'') {
            if (pos + w == len) {
                phase = IN_WORD;
                pos += w;
                continue;
            }
            r = sw_buf_append(&word, rest + pos, w);
            pos += w;
            w = sw_utf8_decode(rest + pos, len - pos, &ch);
        }
        if (r == 0)
            r = sw_buf_append(&word, rest + pos, w);
        pos += w;
    }
    sw_buf_free(&word);
    return r < 0 ? -SW_ENOMEM : 0;
}

/* ENV and LABEL: (key, value, delimiter) triples. */
static int
parse_name_val(struct df_node *n, const char *rest, size_t len, const char *key, char escape,
               struct sw_error **err)
{
    sw_autofree char *copy = strndup(rest, len);
    struct sw_strv words = {0};
    if (!copy || df_parse_words(&words, copy, escape) < 0) {
        sw_strv_free(&words);
        return sw_error_oom(err);
    }
    int r = 0;
    if (words.n == 0)
        goto out;
    if (!strchr(words.v[0], '=')) { /* legacy "KEY name value" */
        size_t i = 0;
        while (i < len && !is_ascii_blank(rest[i]))
            i++;
        size_t j = i;
        while (j < len && is_ascii_blank(rest[j]))
            j++;
        if (i == len) {
            r = sw_error_set(err, SW_EPARSE, 0, NULL, "%s must have two arguments", key);
            goto out;
        }
        if (push_arg(n, rest, i) < 0 || push_arg(n, rest + j, len - j) < 0 ||
            push_arg_str(n, "") < 0)
            r = sw_error_oom(err);
        goto out;
    }
    for (size_t i = 0; i < words.n && r == 0; i++) {
        char *eq = strchr(words.v[i], '=');
        if (!eq) {
            struct sw_buf q = {0};
            sw_go_quote(&q, words.v[i], strlen(words.v[i]));
            r = sw_error_set(err, SW_EPARSE, 0, NULL,
                             "Syntax error - can't find = in %s. Must be of the form: name=value",
                             sw_buf_cstr(&q));
            sw_buf_free(&q);
            break;
        }
        if (push_arg(n, words.v[i], (size_t)(eq - words.v[i])) < 0 || push_arg_str(n, eq + 1) < 0 ||
            push_arg_str(n, "=") < 0)
            r = sw_error_oom(err);
    }
out:
    sw_strv_free(&words);
    return r;
}

/* HEALTHCHECK: the type word, then the rest as for RUN. */
static int
parse_health(struct df_node *n, const char *rest, size_t len, struct sw_error **err)
{
    size_t sep = 0;
    while (sep < len && !space_at(rest + sep, len - sep))
        sep++;
    if (sep == 0)
        return 0;
    size_t next = sep + skip_unicode_spaces(rest + sep, len - sep);
    if (push_arg(n, rest, sep) < 0)
        return sw_error_oom(err);
    size_t before = n->args.n;
    int r = maybe_json(n, rest + next, len - next, err);
    if (r < 0)
        return r;
    if (r == 1) {
        /* maybe_json replaced args: put the type word back in front */
        size_t cnt = n->args.n;
        char **v = n->args.v;
        size_t *l = n->arg_len;
        n->args = (struct sw_strv){0};
        n->arg_len = NULL;
        int e = push_arg(n, rest, sep);
        for (size_t i = 0; i < cnt && e == 0; i++)
            e = push_arg(n, v[i], l[i]);
        for (size_t i = 0; i < cnt; i++)
            free(v[i]);
        free(v);
        free(l);
        return e < 0 ? sw_error_oom(err) : 0;
    }
    (void)before;
    if (next < len && push_arg(n, rest + next, len - next) < 0)
        return sw_error_oom(err);
    return 0;
}

/* ---- flags: leading --words ------------------------------------------------------------------ */

/* extractBuilderFlags: returns the offset of the rest after the flags. */
static int
extract_flags(struct sw_strv *flags, const char *line, size_t len, size_t *rest_off)
{
    enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
    struct sw_buf word = {0};
    bool blank_ok = false;
    char quote = 0;
    int r = 0;
    *rest_off = len;
    for (size_t pos = 0; pos <= len && r == 0; pos++) {
        char ch = pos < len ? line[pos] : 0;
        if (phase == IN_SPACES) {
            if (pos == len)
                break;
            if (isspace((unsigned char)ch))
                continue;
            if (ch != '-' || pos + 1 == len || line[pos + 1] != '-') {
                *rest_off = pos;
                break;
            }
            phase = IN_WORD;
        }
        if (pos == len) {
            if (strcmp(sw_buf_cstr(&word), "--") != 0 && (blank_ok || word.len > 0))
                r = sw_strv_pushn(flags, sw_buf_cstr(&word), word.len);
            break;
        }
        if (phase == IN_WORD) {
            if (isspace((unsigned char)ch)) {
                phase = IN_SPACES;
                if (strcmp(sw_buf_cstr(&word), "--") == 0) {
                    *rest_off = pos;
                    break;
                }
                if (blank_ok || word.len > 0)
                    r = sw_strv_pushn(flags, sw_buf_cstr(&word), word.len);
                sw_buf_clear(&word);
                blank_ok = false;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
                blank_ok = true;
                phase = IN_QUOTE;
                continue;
            }
            if (ch == '\\') {
                if (pos + 1 == len)
                    continue;
                ch = line[++pos];
            }
            r = sw_buf_putc(&word, ch);
            continue;
        }
        if (ch == quote) {
            phase = IN_WORD;
            continue;
        }
        if (ch == '\\') {
            if (pos + 1 == len) {
                phase = IN_WORD;
                continue;
            }
            ch = line[++pos];
        }
        r = sw_buf_putc(&word, ch);
    }
    sw_buf_free(&word);
    return r < 0 ? -SW_ENOMEM : 0;
}

/* ---- one instruction from its joined line -----------------------------------------------------
 */

static int node_from_line(struct df_node *n, const char *line, size_t len, char escape,
                          struct sw_error **err);

static int
dispatch_args(struct df_node *n, const char *rest, size_t len, char escape, struct sw_error **err)
{
    const char *k = n->keyword;
    if (!strcmp(k, "add") || !strcmp(k, "copy") || !strcmp(k, "volume"))
        return parse_maybe_json_list(n, rest, len, err);
    if (!strcmp(k, "run") || !strcmp(k, "cmd") || !strcmp(k, "entrypoint") || !strcmp(k, "shell"))
        return parse_maybe_json(n, rest, len, err);
    if (!strcmp(k, "from") || !strcmp(k, "expose"))
        return split_blank(n, rest, len) < 0 ? sw_error_oom(err) : 0;
    if (!strcmp(k, "env") || !strcmp(k, "label"))
        return parse_name_val(n, rest, len, !strcmp(k, "env") ? "ENV" : "LABEL", escape, err);
    if (!strcmp(k, "arg")) {
        sw_autofree char *copy = strndup(rest, len);
        struct sw_strv words = {0};
        int r = copy ? df_parse_words(&words, copy, escape) : -SW_ENOMEM;
        for (size_t i = 0; i < words.n && r == 0; i++)
            r = push_arg_str(n, words.v[i]);
        sw_strv_free(&words);
        return r < 0 ? sw_error_oom(err) : 0;
    }
    if (!strcmp(k, "maintainer") || !strcmp(k, "user") || !strcmp(k, "workdir") ||
        !strcmp(k, "stopsignal"))
        return len && push_arg(n, rest, len) < 0 ? sw_error_oom(err) : 0;
    if (!strcmp(k, "healthcheck"))
        return parse_health(n, rest, len, err);
    if (!strcmp(k, "onbuild")) {
        if (len == 0)
            return 0;
        n->onbuild = calloc(1, sizeof *n->onbuild);
        if (!n->onbuild)
            return sw_error_oom(err);
        return node_from_line(n->onbuild, rest, len, escape, err);
    }
    /* unknown instruction: one empty argument, rejected later by the instruction layer */
    return push_arg_str(n, "") < 0 ? sw_error_oom(err) : 0;
}

static int
node_from_line(struct df_node *n, const char *line, size_t len, char escape, struct sw_error **err)
{
    n->original = strndup(line, len);
    if (!n->original)
        return sw_error_oom(err);
    const char *s = line;
    size_t slen = len;
    trim_space(&s, &slen);
    size_t kw = 0;
    while (kw < slen && !is_ascii_blank(s[kw]))
        kw++;
    n->keyword = lower_dup(s, kw);
    if (!n->keyword)
        return sw_error_oom(err);
    const char *rest = s + kw;
    size_t rlen = 0;
    if (kw < slen) {
        while (kw < slen && is_ascii_blank(s[kw]))
            kw++;
        rest = s + kw;
        rlen = slen - kw;
        size_t off;
        if (extract_flags(&n->flags, rest, rlen, &off) < 0)
            return sw_error_oom(err);
        rest += off;
        rlen -= off;
        trim_space(&rest, &rlen);
    }
    return dispatch_args(n, rest, rlen, escape, err);
}

/* ---- heredocs -------------------------------------------------------------------------------- */

void
df_heredoc_clear(struct df_heredoc *h)
{
    free(h->name);
    free(h->content);
    memset(h, 0, sizeof *h);
}

static size_t
count_quotes(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\'' || *s == '"';
    return n;
}

int
df_heredoc_parse_word(struct df_heredoc *out, const char *word, struct sw_error **err)
{
    /* ^(\d*)<<(-?)\s*([^<]*)$ */
    const char *p = word;
    unsigned long fd = 0;
    bool overflow = false;
    while (*p >= '0' && *p <= '9') {
        if (fd > 0xFFFFFFFFul / 10)
            overflow = true;
        fd = fd * 10 + (unsigned long)(*p - '0');
        p++;
    }
    if (p[0] != '<' || p[1] != '<')
        return 0;
    p += 2;
    bool chomp = false;
    if (*p == '-') {
        chomp = true;
        p++;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r')
        p++;
    if (strchr(p, '<') || !*p)
        return 0;

    struct df_env env = {0};
    struct df_expand_opts opts = {.escape = '\\', .skip_unset = true};
    struct sw_strv words = {0}, raw = {0};
    int r = df_expand_words(&words, p, &env, &opts, err);
    if (r < 0)
        goto out;
    if (words.n != 1) {
        r = 0;
        goto out;
    }
    opts.raw_quotes = true;
    r = df_expand_words(&raw, p, &env, &opts, err);
    if (r < 0)
        goto out;
    if (raw.n != 1) {
        r = sw_error_set(err, SW_EPARSE, 0, NULL,
                         "internal lexing of heredoc produced inconsistent results: %s", p);
        goto out;
    }
    out->name = strdup(words.v[0]);
    if (!out->name) {
        r = sw_error_oom(err);
        goto out;
    }
    out->fd = overflow ? 0 : (unsigned)fd;
    out->chomp = chomp;
    out->expand = count_quotes(words.v[0]) == count_quotes(raw.v[0]);
    r = 1;
out:
    sw_strv_free(&words);
    sw_strv_free(&raw);
    return r;
}

char *
df_heredoc_chomp(const char *data)
{
    struct sw_buf b = {0};
    bool line_start = true;
    for (const char *p = data; *p; p++) {
        if (line_start && *p == '\t')
            continue;
        line_start = *p == '\n';
        if (sw_buf_putc(&b, *p) < 0) {
            sw_buf_free(&b);
            return NULL;
        }
    }
    return sw_buf_detach(&b);
}

static bool
can_contain_heredoc(const struct df_node *n)
{
    if (!strcmp(n->keyword, "onbuild") && n->onbuild)
        n = n->onbuild;
    if (strcmp(n->keyword, "run") && strcmp(n->keyword, "copy") && strcmp(n->keyword, "add"))
        return false;
    return !n->json;
}

/* Heredoc words of a joined line, in order (content not yet read). */
static int
heredocs_from_line(struct df_node *n, const char *line, struct sw_error **err)
{
    struct df_env env = {0};
    struct df_expand_opts opts = {
        .escape = '\\', .raw_quotes = true, .raw_escapes = true, .skip_unset = true};
    struct sw_strv words = {0};
    struct sw_error *ignored = NULL;
    if (df_expand_words(&words, line, &env, &opts, &ignored) < 0) {
        /* BuildKit ignores lexing errors here: no heredocs */
        sw_error_free(ignored);
        sw_strv_free(&words);
        return 0;
    }
    int r = 0;
    for (size_t i = 0; i < words.n && r >= 0; i++) {
        struct df_heredoc h = {0};
        r = df_heredoc_parse_word(&h, words.v[i], err);
        if (r == 1) {
            struct df_heredoc *hs = realloc(n->heredocs, (n->nheredocs + 1) * sizeof *hs);
            if (!hs) {
                df_heredoc_clear(&h);
                r = sw_error_oom(err);
                break;
            }
            n->heredocs = hs;
            hs[n->nheredocs++] = h;
        }
    }
    sw_strv_free(&words);
    return r < 0 ? r : 0;
}

/* ---- physical lines and directives ----------------------------------------------------------- */

struct scanner {
    const char *src;
    size_t len, pos;
    uint32_t line;   /* number of the line last returned */
    const char *cur; /* the line last returned, with its newline */
    size_t cur_len;
};

/* Next physical line (with its LF). Returns 1, 0 at EOF, or an error for an over-long line. */
static int
scan_line(struct scanner *sc, const char *file, struct sw_error **err)
{
    if (sc->pos >= sc->len)
        return 0;
    const char *start = sc->src + sc->pos;
    const char *nl = memchr(start, '\n', sc->len - sc->pos);
    size_t n = nl ? (size_t)(nl - start) + 1 : sc->len - sc->pos;
    sc->line++;
    if (n - (nl ? 1 : 0) > DF_MAX_LINE) {
        struct sw_span at = {.file = file, .line = sc->line, .col = 1, .end_line = sc->line};
        return sw_error_set(err, SW_EPARSE, 0, &at,
                            "dockerfile line greater than max allowed size of %d", DF_MAX_LINE);
    }
    sc->cur = start;
    sc->cur_len = n;
    sc->pos += n;
    return 1;
}

/* trimNewline: drop trailing CR and LF characters. */
static size_t
trim_newline(const char *s, size_t n)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return n;
}

static bool
is_comment(const char *s, size_t n)
{
    n = trim_newline(s, n);
    size_t i = skip_unicode_spaces(s, n);
    return i < n && s[i] == '#';
}

static bool
is_blank_line(const char *s, size_t n)
{
    n = trim_newline(s, n);
    return skip_unicode_spaces(s, n) == n;
}

struct directive_parser {
    bool done;
    uint32_t line;
    bool seen_syntax, seen_escape, seen_check;
};

/* Match ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$ ; prefix is "#" or "//". */
static bool
match_directive(const char *s, size_t n, const char *prefix, char **name, char **value)
{
    size_t pl = strlen(prefix);
    if (n < pl || memcmp(s, prefix, pl) != 0)
        return false;
    size_t i = pl;
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    size_t ns = i;
    if (i >= n || !isalpha((unsigned char)s[i]))
        return false;
    while (i < n && isalnum((unsigned char)s[i]))
        i++;
    size_t ne = i;
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    if (i >= n || s[i] != '=')
        return false;
    i++;
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    size_t vs = i, ve = n;
    while (ve > vs && isspace((unsigned char)s[ve - 1]))
        ve--;
    if (ve == vs)
        return false;
    *name = lower_dup(s + ns, ne - ns);
    *value = strndup(s + vs, ve - vs);
    return *name && *value;
}

/* Feed one line (newline trimmed, left-trimmed for first lines). Returns 1 if it was a known
 * directive (name/value set), 0 if not, <0 on error. */
static int
directive_line(struct directive_parser *dp, const char *s, size_t n, char **name, char **value,
               struct sw_error **err)
{
    dp->line++;
    if (dp->done)
        return 0;
    if (dp->line == 1 && n >= 2 && s[0] == '#' && s[1] == '!')
        return 0; /* a shebang first line is skipped, not the end of the block */
    char *k = NULL, *v = NULL;
    if (!match_directive(s, n, "#", &k, &v)) {
        free(k);
        free(v);
        dp->done = true;
        return 0;
    }
    bool *seen = !strcmp(k, "syntax")   ? &dp->seen_syntax
                 : !strcmp(k, "escape") ? &dp->seen_escape
                 : !strcmp(k, "check")  ? &dp->seen_check
                                        : NULL;
    if (!seen) {
        free(k);
        free(v);
        dp->done = true;
        return 0;
    }
    if (*seen) {
        int r =
            sw_error_set(err, SW_EPARSE, 0, NULL, "only one %s parser directive can be used", k);
        free(k);
        free(v);
        return r;
    }
    *seen = true;
    *name = k;
    *value = v;
    return 1;
}

/* Join continuation: returns the length without the escape token and trailing blanks, and
 * whether the line continues. */
static size_t
trim_continuation(const char *s, size_t n, char escape, bool *continues)
{
    size_t e = n;
    while (e && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    if (e >= 1 && s[e - 1] == escape && (e == 1 || s[e - 2] != escape)) {
        *continues = true;
        return e - 1;
    }
    *continues = false;
    return n;
}

/* ---- the whole file ------------------------------------------------------------------------- */

struct parse_state {
    struct df_ast *ast;
    struct scanner sc;
    struct directive_parser dp;
    struct sw_strv comments;
};

static int
add_warning(struct df_ast *ast, const char *rule, const char *detail, char *msg, uint32_t line)
{
    struct df_warning *w = realloc(ast->warnings, (ast->nwarnings + 1) * sizeof *w);
    char *r = strdup(rule);
    if (!w || !msg || !r) {
        free(msg);
        free(r);
        if (w)
            ast->warnings = w;
        return -SW_ENOMEM;
    }
    ast->warnings = w;
    w[ast->nwarnings++] =
        (struct df_warning){.msg = msg,
                            .rule = r,
                            .detail = detail,
                            .span = {.file = ast->file, .line = line, .end_line = line}};
    return 0;
}

/* Process the line as a possible directive (first lines only see it left-trimmed). */
static int
handle_directive(struct parse_state *ps, const char *s, size_t n, struct sw_error **err)
{
    char *name = NULL, *value = NULL;
    int r = directive_line(&ps->dp, s, n, &name, &value, err);
    if (r <= 0)
        return r;
    struct df_ast *ast = ps->ast;
    if (!strcmp(name, "escape")) {
        if (strcmp(value, "`") && strcmp(value, "\\")) {
            r = sw_error_set(err, SW_EPARSE, 0, NULL,
                             "invalid escape token '%s' does not match ` or \\", value);
            free(name);
            free(value);
            return r;
        }
        ast->escape = value[0];
    }
    struct df_directive *d = realloc(ast->directives, (ast->ndirectives + 1) * sizeof *d);
    if (!d) {
        free(name);
        free(value);
        return sw_error_oom(err);
    }
    ast->directives = d;
    d[ast->ndirectives++] = (struct df_directive){name, value, ps->sc.line};
    return 0;
}

static int
read_heredoc_bodies(struct parse_state *ps, struct df_node *n, struct sw_error **err)
{
    for (size_t i = 0; i < n->nheredocs; i++) {
        struct df_heredoc *h = &n->heredocs[i];
        struct sw_buf body = {0};
        bool terminated = false;
        int r;
        while ((r = scan_line(&ps->sc, ps->ast->file, err)) == 1) {
            const char *s = ps->sc.cur;
            size_t len = trim_newline(s, ps->sc.cur_len);
            if (h->chomp)
                while (len && *s == '\t')
                    s++, len--;
            if (len == strlen(h->name) && memcmp(s, h->name, len) == 0) {
                terminated = true;
                break;
            }
            if (sw_buf_append(&body, ps->sc.cur, ps->sc.cur_len) < 0) {
                sw_buf_free(&body);
                return sw_error_oom(err);
            }
        }
        if (r < 0) {
            sw_buf_free(&body);
            return r;
        }
        if (!terminated) {
            sw_buf_free(&body);
            struct sw_span at = {.file = ps->ast->file,
                                 .line = n->span.line,
                                 .col = n->span.col,
                                 .end_line = ps->sc.line};
            return sw_error_set(err, SW_EPARSE, 0, &at, "unterminated heredoc");
        }
        h->content = sw_buf_detach(&body);
        if (!h->content)
            return sw_error_oom(err);
    }
    return 0;
}

static int
push_node(struct df_ast *ast, struct df_node *n)
{
    struct df_node *v = realloc(ast->nodes, (ast->nnodes + 1) * sizeof *v);
    if (!v)
        return -SW_ENOMEM;
    ast->nodes = v;
    v[ast->nnodes++] = *n;
    return 0;
}

static void
collect_comment(struct parse_state *ps, const char *s, size_t n)
{
    n = trim_newline(s, n);
    size_t i = skip_unicode_spaces(s, n) + 1; /* past '#' */
    const char *c = s + i;
    size_t cl = n - i;
    trim_space(&c, &cl);
    if (cl == 0)
        sw_strv_free(&ps->comments);
    else
        sw_strv_pushn(&ps->comments, c, cl);
}

/* One instruction starting at the current physical line. */
static int
parse_instruction(struct parse_state *ps, const char *first, size_t first_len, uint32_t col,
                  struct sw_error **err)
{
    struct df_ast *ast = ps->ast;
    uint32_t start_line = ps->sc.line;
    bool continues;
    size_t n = trim_continuation(first, first_len, ast->escape, &continues);
    struct sw_buf line = {0};
    int r = sw_buf_append(&line, first, n) < 0 ? sw_error_oom(err) : 0;
    bool empty_continuation = false;
    while (r == 0 && continues) {
        int s = scan_line(&ps->sc, ast->file, err);
        if (s < 0) {
            r = s;
            break;
        }
        if (s == 0)
            break; /* a continuation at EOF ends the instruction */
        const char *p = ps->sc.cur;
        size_t plen = trim_newline(p, ps->sc.cur_len);
        struct sw_error *derr = NULL;
        char *dn = NULL, *dv = NULL;
        /* continuation lines still advance the directive parser (they end its block) */
        if (directive_line(&ps->dp, p, plen, &dn, &dv, &derr) != 0) {
            free(dn);
            free(dv);
            sw_error_free(derr);
        }
        if (is_comment(p, plen))
            continue;
        if (is_blank_line(p, plen)) {
            empty_continuation = true;
            continue;
        }
        size_t cl = trim_continuation(p, plen, ast->escape, &continues);
        if (sw_buf_append(&line, p, cl) < 0)
            r = sw_error_oom(err);
    }
    struct df_node node = {0};
    node.span = (struct sw_span){
        .file = ast->file, .line = start_line, .col = col, .end_line = ps->sc.line};
    if (r == 0 && empty_continuation) {
        char *msg = NULL;
        if (asprintf(&msg, "Empty continuation line found in: %s", sw_buf_cstr(&line)) < 0)
            msg = NULL;
        if (add_warning(ast, "NoEmptyContinuation",
                        "Empty continuation lines will become errors in a future release", msg,
                        ps->sc.line) < 0)
            r = sw_error_oom(err);
    }
    if (r == 0)
        r = node_from_line(&node, sw_buf_cstr(&line), line.len, ast->escape, err);
    if (r == 0 && can_contain_heredoc(&node) && strstr(sw_buf_cstr(&line), "<<")) {
        r = heredocs_from_line(&node, sw_buf_cstr(&line), err);
        if (r == 0)
            r = read_heredoc_bodies(ps, &node, err);
    }
    sw_buf_free(&line);
    if (r < 0) {
        struct sw_span at = {
            .file = ast->file, .line = start_line, .col = col, .end_line = ps->sc.line};
        if (err && *err)
            sw_error_set_span(*err, &at);
        df_node_clear(&node);
        return r;
    }
    node.span.end_line = ps->sc.line;
    node.comments = ps->comments;
    ps->comments = (struct sw_strv){0};
    if (push_node(ast, &node) < 0) {
        df_node_clear(&node);
        return sw_error_oom(err);
    }
    if (!ast->start_line)
        ast->start_line = start_line;
    ast->end_line = ps->sc.line;
    return 0;
}

int
df_parse(struct df_ast **out, const char *src, size_t len, const char *file, struct sw_error **err)
{
    struct df_ast *ast = calloc(1, sizeof *ast);
    if (!ast)
        return sw_error_oom(err);
    ast->escape = '\\';
    ast->file = strdup(file ? file : "Dockerfile");
    if (!ast->file) {
        free(ast);
        return sw_error_oom(err);
    }
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0) {
        src += 3;
        len -= 3;
    }
    struct parse_state ps = {.ast = ast, .sc = {.src = src, .len = len}};
    int r;
    while ((r = scan_line(&ps.sc, ast->file, err)) == 1) {
        const char *p = ps.sc.cur;
        size_t plen = trim_newline(p, ps.sc.cur_len);
        if (is_comment(p, plen))
            collect_comment(&ps, p, plen);
        size_t lead = skip_unicode_spaces(p, plen);
        struct sw_span here = {
            .file = ast->file, .line = ps.sc.line, .col = 1, .end_line = ps.sc.line};
        r = handle_directive(&ps, p + lead, plen - lead, err);
        if (r < 0) {
            if (err && *err)
                sw_error_set_span(*err, &here);
            break;
        }
        if (is_comment(p, plen))
            continue;
        bool continues;
        size_t n = trim_continuation(p + lead, plen - lead, ast->escape, &continues);
        if (!continues && n == 0)
            continue; /* blank line */
        r = parse_instruction(&ps, p + lead, plen - lead, (uint32_t)lead + 1, err);
        if (r < 0)
            break;
    }
    sw_strv_free(&ps.comments);
    if (r == 0 && ast->nnodes == 0) {
        struct sw_span at = {.file = ast->file, .line = ps.sc.line};
        r = sw_error_set(err, SW_EPARSE, 0, &at, "file with no instructions");
    }
    if (r < 0) {
        df_ast_free(ast);
        return r;
    }
    *out = ast;
    return 0;
}

/* ---- directive-only scans -------------------------------------------------------------------- */

void
df_directives_free(struct df_directive *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].name);
        free(d[i].value);
    }
    free(d);
}

int
df_directives_scan(struct df_directive **out, size_t *count, const char *src, size_t len,
                   struct sw_error **err)
{
    *out = NULL;
    *count = 0;
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0)
        src += 3, len -= 3;
    struct directive_parser dp = {0};
    const char *p = src, *end = src + len;
    while (p < end && !dp.done) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = trim_newline(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
        char *k = NULL, *v = NULL;
        int r = directive_line(&dp, p, n, &k, &v, err);
        if (r < 0) {
            df_directives_free(*out, *count);
            *out = NULL;
            *count = 0;
            return r;
        }
        if (r == 1) {
            struct df_directive *d = realloc(*out, (*count + 1) * sizeof *d);
            if (!d) {
                free(k);
                free(v);
                df_directives_free(*out, *count);
                *out = NULL;
                *count = 0;
                return sw_error_oom(err);
            }
            *out = d;
            d[(*count)++] = (struct df_directive){k, v, dp.line};
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

static int
found_value(char **ref, char **cmdline, const char *v)
{
    *cmdline = strdup(v);
    *ref = strndup(v, strcspn(v, " "));
    return *ref && *cmdline ? 1 : 0;
}

int
df_parse_directive(char **ref, char **cmdline, uint32_t *line, const char *key, const char *src,
                   size_t len)
{
    *ref = *cmdline = NULL;
    *line = 0;
    struct df_directive *d = NULL;
    size_t n = 0;
    if (df_directives_scan(&d, &n, src, len, NULL) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(d[i].name, key)) {
            *line = d[i].line;
            int r = found_value(ref, cmdline, d[i].value);
            df_directives_free(d, n);
            return r;
        }
    }
    df_directives_free(d, n);
    if (strcmp(key, "syntax") != 0)
        return 0;
    /* DetectSyntax fallbacks: a whole-file JSON object, or a first "//syntax=" line */
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0)
        src += 3, len -= 3;
    uint32_t lineno = 1;
    if (len >= 2 && src[0] == '#' && src[1] == '!') {
        const char *nl = memchr(src, '\n', len);
        size_t skip = nl ? (size_t)(nl - src) + 1 : len;
        src += skip, len -= skip;
        lineno++;
    }
    json_t *obj = json_loadb(src, len, 0, NULL);
    if (obj) {
        json_t *s = json_is_object(obj) ? json_object_get(obj, key) : NULL;
        int found = json_is_string(s) ? found_value(ref, cmdline, json_string_value(s)) : 0;
        json_decref(obj);
        return found;
    }
    const char *nl = memchr(src, '\n', len);
    size_t ln = trim_newline(src, nl ? (size_t)(nl - src) : len);
    char *k = NULL, *v = NULL;
    int found = 0;
    if (match_directive(src, ln, "//", &k, &v) && !strcmp(k, key)) {
        found = found_value(ref, cmdline, v);
        *line = lineno;
    }
    free(k);
    free(v);
    return found;
}

/* ---- dump and free --------------------------------------------------------------------------- */

int
df_node_dump(struct sw_buf *out, const struct df_node *n)
{
    int r = sw_buf_puts(out, n->keyword);
    if (r == 0 && n->flags.n) {
        r = sw_buf_puts(out, " [");
        for (size_t i = 0; i < n->flags.n && r == 0; i++) {
            if (i)
                r = sw_buf_putc(out, ' ');
            if (r == 0)
                r = sw_go_quote(out, n->flags.v[i], strlen(n->flags.v[i]));
        }
        if (r == 0)
            r = sw_buf_putc(out, ']');
    }
    if (r == 0 && n->onbuild) {
        r = sw_buf_puts(out, " (");
        if (r == 0)
            r = df_node_dump(out, n->onbuild);
        if (r == 0)
            r = sw_buf_putc(out, ')');
    }
    for (size_t i = 0; i < n->args.n && r == 0; i++) {
        r = sw_buf_putc(out, ' ');
        if (r == 0)
            r = sw_go_quote(out, n->args.v[i], n->arg_len ? n->arg_len[i] : strlen(n->args.v[i]));
    }
    return r;
}

char *
df_ast_dump(const struct df_ast *ast)
{
    struct sw_buf b = {0};
    for (size_t i = 0; i < ast->nnodes; i++) {
        if (sw_buf_putc(&b, '(') < 0 || df_node_dump(&b, &ast->nodes[i]) < 0 ||
            sw_buf_puts(&b, ")\n") < 0) {
            sw_buf_free(&b);
            return NULL;
        }
    }
    return sw_buf_detach(&b);
}

void
df_node_clear(struct df_node *n)
{
    free(n->keyword);
    free(n->original);
    sw_strv_free(&n->args);
    free(n->arg_len);
    sw_strv_free(&n->flags);
    if (n->onbuild) {
        df_node_clear(n->onbuild);
        free(n->onbuild);
    }
    for (size_t i = 0; i < n->nheredocs; i++)
        df_heredoc_clear(&n->heredocs[i]);
    free(n->heredocs);
    sw_strv_free(&n->comments);
    memset(n, 0, sizeof *n);
}

void
df_ast_free(struct df_ast *ast)
{
    if (!ast)
        return;
    for (size_t i = 0; i < ast->nnodes; i++)
        df_node_clear(&ast->nodes[i]);
    free(ast->nodes);
    for (size_t i = 0; i < ast->ndirectives; i++) {
        free(ast->directives[i].name);
        free(ast->directives[i].value);
    }
    free(ast->directives);
    for (size_t i = 0; i < ast->nwarnings; i++) {
        free(ast->warnings[i].msg);
        free(ast->warnings[i].rule);
    }
    free(ast->warnings);
    free(ast->file);
    free(ast);
}
