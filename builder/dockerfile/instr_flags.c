/*
 * The instruction flag parser (BuildKit's BFlags) and the small Go-compatible parsers the
 * instruction layer shares (strconv bool/uint/int, the "did you mean" suggestion).
 */
#include "instructions.h"
#include "instr_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Go strconv ------------------------------------------------------------------------------ */

int
df_go_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (!strcmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int
df_go_parse_uint(uint64_t *out, const char *s, int base, int bits)
{
    uint64_t max = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    uint64_t v = 0;
    bool range = false;
    if (!*s)
        return DF_NUM_SYNTAX;
    for (const char *p = s; *p; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : 99;
        if (d >= base)
            return DF_NUM_SYNTAX;
        if (v > (max - (uint64_t)d) / (uint64_t)base)
            range = true;
        else
            v = v * (uint64_t)base + (uint64_t)d;
    }
    if (range) {
        *out = max;
        return DF_NUM_RANGE;
    }
    *out = v;
    return DF_NUM_OK;
}

int
df_go_parse_int(int64_t *out, const char *s, int bits)
{
    bool neg = false;
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    uint64_t u;
    int r = df_go_parse_uint(&u, s, 10, 64);
    if (r == DF_NUM_SYNTAX)
        return r;
    uint64_t cutoff = UINT64_C(1) << (bits - 1);
    if (r == DF_NUM_RANGE || (!neg && u >= cutoff) || (neg && u > cutoff)) {
        *out = neg ? -(int64_t)(cutoff - 1) - 1 : (int64_t)(cutoff - 1);
        return DF_NUM_RANGE;
    }
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return DF_NUM_OK;
}

int
df_go_num_error(struct sw_buf *out, const char *fn, const char *s, int code)
{
    if (sw_buf_printf(out, "strconv.%s: parsing ", fn) < 0 || sw_go_quote(out, s, strlen(s)) < 0)
        return -1;
    return sw_buf_puts(out, code == DF_NUM_RANGE ? ": value out of range" : ": invalid syntax");
}

/* ---- suggestions ----------------------------------------------------------------------------- */

static size_t
levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = malloc((lb + 1) * sizeof *row);
    if (!row)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

char *
df_lower_dup(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

bool
df_str_ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static bool
all_case(const char *s, int (*conv)(int))
{
    for (; *s; s++)
        if (conv((unsigned char)*s) != (unsigned char)*s)
            return false;
    return true;
}

static char *
match_case(const char *opt, const char *orig)
{
    char *m = strdup(opt);
    int (*conv)(int) = NULL;
    if (all_case(orig, tolower))
        conv = tolower;
    else if (all_case(orig, toupper))
        conv = toupper;
    for (char *p = m; m && conv && *p; p++)
        *p = (char)conv((unsigned char)*p);
    return m;
}

char *
df_suggest(const char *val, const char *const *options, size_t n, bool case_sensitive)
{
    char *v = case_sensitive ? strdup(val) : df_lower_dup(val);
    if (!v)
        return NULL;
    size_t best = 3;
    const char *match = NULL;
    for (size_t i = 0; i < n; i++) {
        char *o = case_sensitive ? strdup(options[i]) : df_lower_dup(options[i]);
        if (!o)
            break;
        bool exact = !strcmp(o, v);
        size_t d = exact ? 0 : levenshtein(v, o);
        free(o);
        if (exact) {
            match = NULL;
            break;
        }
        if (d < best) {
            best = d;
            match = options[i];
        }
    }
    free(v);
    if (!match)
        return NULL;
    if (case_sensitive)
        return strdup(match);
    char *lo = df_lower_dup(match);
    char *r = lo ? match_case(lo, val) : NULL;
    free(lo);
    return r;
}

/* ---- BFlags ---------------------------------------------------------------------------------- */

int
df_bflags_add(struct df_bflags *bf, const char *name, enum df_flag_type type, const char *def,
              struct sw_error **err)
{
    if (df_bflags_get(bf, name))
        return sw_error_set(err, SW_EINTERNAL, 0, NULL, "duplicate flag defined: %s", name);
    if (bf->n == DF_BFLAGS_MAX)
        return sw_error_set(err, SW_EINTERNAL, 0, NULL, "too many flags defined");
    struct df_flag *f = &bf->flags[bf->n];
    memset(f, 0, sizeof *f);
    f->type = type;
    f->name = strdup(name);
    if (type == DF_FLAG_BOOL)
        f->value = strdup(def && !strcmp(def, "true") ? "true" : "false");
    else if (type == DF_FLAG_STRING)
        f->value = strdup(def ? def : "");
    if (!f->name || (type != DF_FLAG_STRINGS && !f->value)) {
        free(f->name);
        free(f->value);
        return sw_error_oom(err);
    }
    bf->n++;
    return 0;
}

const struct df_flag *
df_bflags_get(const struct df_bflags *bf, const char *name)
{
    for (size_t i = 0; i < bf->n; i++)
        if (!strcmp(bf->flags[i].name, name))
            return &bf->flags[i];
    return NULL;
}

static int
unknown_flag(const struct df_bflags *bf, const char *name, struct sw_error **err)
{
    const char *opts[DF_BFLAGS_MAX];
    for (size_t i = 0; i < bf->n; i++)
        opts[i] = bf->flags[i].name;
    char *s = df_suggest(name, opts, bf->n, true);
    int r =
        s ? sw_error_set(err, SW_EINVAL, 0, NULL, "unknown flag: --%s (did you mean %s?)", name, s)
          : sw_error_set(err, SW_EINVAL, 0, NULL, "unknown flag: --%s", name);
    free(s);
    return r;
}

static int
set_value(char **slot, const char *v, size_t n, struct sw_error **err)
{
    char *d = strndup(v, n);
    if (!d)
        return sw_error_oom(err);
    free(*slot);
    *slot = d;
    return 0;
}

static int
parse_bool_flag(struct df_flag *f, const char *value, bool has_value, struct sw_error **err)
{
    if (has_value && !*value)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "missing a value on flag: --%s", f->name);
    if (!has_value || !strcasecmp(value, "true"))
        return set_value(&f->value, "true", 4, err);
    if (!strcasecmp(value, "false"))
        return set_value(&f->value, "false", 5, err);
    return sw_error_set(err, SW_EINVAL, 0, NULL, "expecting boolean value for flag --%s, not: %s",
                        f->name, value);
}

static int
parse_one_flag(struct df_bflags *bf, const char *arg, struct sw_error **err)
{
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    char *fname = strndup(name, nlen);
    if (!fname)
        return sw_error_oom(err);
    struct df_flag *f = (struct df_flag *)df_bflags_get(bf, fname);
    int r = 0;
    if (!f)
        r = unknown_flag(bf, fname, err);
    else if (f->used && f->type != DF_FLAG_STRINGS)
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "duplicate flag specified: --%s", fname);
    free(fname);
    if (r < 0)
        return r;
    if (!f->used && sw_strv_push(&bf->used, f->name) < 0)
        return sw_error_oom(err);
    f->used = true;
    const char *value = eq ? eq + 1 : "";
    if (f->type == DF_FLAG_BOOL)
        return parse_bool_flag(f, value, eq != NULL, err);
    if (!eq)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "missing a value on flag: --%s", f->name);
    if (f->type == DF_FLAG_STRING)
        return set_value(&f->value, value, strlen(value), err);
    return sw_strv_push(&f->values, value) < 0 ? sw_error_oom(err) : 0;
}

int
df_bflags_parse(struct df_bflags *bf, char *const *args, size_t nargs, struct sw_error **err)
{
    for (size_t i = 0; i < nargs; i++) {
        const char *a = args[i];
        if (strncmp(a, "--", 2) != 0)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "arg should start with -- : %s", a);
        if (!strcmp(a, "--"))
            return 0;
        int r = parse_one_flag(bf, a, err);
        if (r < 0)
            return r;
    }
    return 0;
}

void
df_bflags_free(struct df_bflags *bf)
{
    for (size_t i = 0; i < bf->n; i++) {
        free(bf->flags[i].name);
        free(bf->flags[i].value);
        sw_strv_free(&bf->flags[i].values);
    }
    sw_strv_free(&bf->used);
    memset(bf, 0, sizeof *bf);
}
