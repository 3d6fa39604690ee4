/*
 * History `created_by` texts, following BuildKit's frontend/dockerfile/dockerfile2llb
 * (convert.go dispatch* -> commitToHistory, convert_copy.go, convert_expose.go). The Go format
 * verbs are reproduced: %v of a []string is "[a b]", %q of a []string is `["a" "b"]`
 * (strconv.Quote per element), %+v of the healthcheck struct names its fields.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../util/utf8.h"

/* ---- Go time.Duration.String ----------------------------------------------------------------- */

/* Write the fraction of *v with prec digits (trailing zeros and a lone '.' omitted) right to
 * left ending at buf[w]; *v becomes the integer part. Returns the new start. */
static int
fmt_frac(char *buf, int w, uint64_t *v, int prec)
{
    bool print = false;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(*v % 10);
        print = print || digit != 0;
        if (print)
            buf[--w] = (char)('0' + digit);
        *v /= 10;
    }
    if (print)
        buf[--w] = '.';
    return w;
}

static int
fmt_int(char *buf, int w, uint64_t v)
{
    if (v == 0)
        buf[--w] = '0';
    for (; v > 0; v /= 10)
        buf[--w] = (char)('0' + v % 10);
    return w;
}

int
img_go_duration(struct sw_buf *out, int64_t ns)
{
    char buf[40];
    int w = (int)sizeof buf;
    bool neg = ns < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (u == 0)
        return sw_buf_puts(out, "0s");
    if (u < 1000000000u) {
        int prec;
        buf[--w] = 's';
        if (u < 1000u) {
            prec = 0;
            buf[--w] = 'n';
        } else if (u < 1000000u) {
            prec = 3;
            w -= 2;
            memcpy(buf + w, "\xc2\xb5", 2); /* U+00B5 MICRO SIGN, as Go prints it */
        } else {
            prec = 6;
            buf[--w] = 'm';
        }
        w = fmt_frac(buf, w, &u, prec);
        w = fmt_int(buf, w, u);
    } else {
        buf[--w] = 's';
        w = fmt_frac(buf, w, &u, 9);
        w = fmt_int(buf, w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            w = fmt_int(buf, w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                w = fmt_int(buf, w, u);
            }
        }
    }
    if (neg)
        buf[--w] = '-';
    return sw_buf_append(out, buf + w, sizeof buf - (size_t)w);
}

/* ---- Go fmt of string slices ----------------------------------------------------------------- */

/* %v: "[a b c]" */
static int
put_slice_v(struct sw_buf *b, const char *const *v, size_t n)
{
    int r = sw_buf_putc(b, '[');
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (i)
            r = sw_buf_putc(b, ' ');
        if (r == 0)
            r = sw_buf_puts(b, v[i]);
    }
    return r ? r : sw_buf_putc(b, ']');
}

/* %q: `["a" "b c"]` */
static int
put_slice_q(struct sw_buf *b, const char *const *v, size_t n)
{
    int r = sw_buf_putc(b, '[');
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (i)
            r = sw_buf_putc(b, ' ');
        if (r == 0)
            r = sw_go_quote(b, v[i], strlen(v[i]));
    }
    return r ? r : sw_buf_putc(b, ']');
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* %v of a map[string]struct{}: "map[a:{} b:{}]", keys sorted, duplicates merged. */
static int
put_set_map(struct sw_buf *b, const char *const *v, size_t n)
{
    const char **sorted = NULL;
    if (n && !(sorted = malloc(n * sizeof *sorted)))
        return -SW_ENOMEM;
    if (n)
        memcpy(sorted, v, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    int r = sw_buf_puts(b, "map[");
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (i && !strcmp(sorted[i], sorted[i - 1]))
            continue;
        r = sw_buf_printf(b, "%s%s:{}", i ? " " : "", sorted[i]);
    }
    free(sorted);
    return r ? r : sw_buf_putc(b, ']');
}

/* ---- per kind -------------------------------------------------------------------------------- */

static int
put_pairs(struct sw_buf *b, const struct img_hist_step *s)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < s->npairs; i++)
        r = sw_buf_printf(b, " %s=%s", s->keys[i], s->values[i] ? s->values[i] : "");
    return r;
}

static int
put_arg(struct sw_buf *b, const struct img_hist_step *s)
{
    int r = sw_buf_puts(b, "ARG ");
    for (size_t i = 0; r == 0 && i < s->npairs; i++) {
        r = sw_buf_printf(b, "%s%s", i ? " " : "", s->keys[i]);
        if (r == 0 && s->values[i])
            r = sw_buf_printf(b, "=%s", s->values[i]);
    }
    return r;
}

static int
put_health(struct sw_buf *b, const struct img_health *h)
{
    int r = sw_buf_puts(b, "HEALTHCHECK {Test:");
    if (r == 0)
        r = put_slice_v(b, (const char *const *)h->test.v, h->test.n);
    const struct {
        const char *name;
        int64_t v;
    } durs[] = {{" Interval:", h->interval},
                {" Timeout:", h->timeout},
                {" StartPeriod:", h->start_period},
                {" StartInterval:", h->start_interval}};
    for (size_t i = 0; r == 0 && i < sizeof durs / sizeof durs[0]; i++) {
        r = sw_buf_puts(b, durs[i].name);
        if (r == 0)
            r = img_go_duration(b, durs[i].v);
    }
    return r ? r : sw_buf_printf(b, " Retries:%lld}", (long long)h->retries);
}

/* runCommandString: "|N k=v ... " before the argv when the stage has build args. */
static int
put_run(struct sw_buf *b, const struct img_hist_step *s)
{
    size_t n = 0;
    size_t *first = NULL; /* index into keys of the first occurrence, per unique key */
    const char **vals = NULL;
    int r = 0;
    if (s->npairs) {
        first = malloc(s->npairs * sizeof *first);
        vals = malloc(s->npairs * sizeof *vals);
        if (!first || !vals)
            r = -SW_ENOMEM;
    }
    for (size_t i = 0; r == 0 && i < s->npairs; i++) {
        const char *v = s->values[i] ? s->values[i] : "";
        size_t j = 0;
        while (j < n && strcmp(s->keys[first[j]], s->keys[i]))
            j++;
        if (j == n)
            first[n++] = i;
        vals[j] = v;
    }
    if (r == 0)
        r = sw_buf_puts(b, "RUN ");
    bool sep = false;
    if (r == 0 && n) {
        r = sw_buf_printf(b, "|%zu", n);
        sep = true;
    }
    for (size_t j = 0; r == 0 && j < n; j++)
        r = sw_buf_printf(b, " %s=%s", s->keys[first[j]], vals[j]);
    for (size_t i = 0; r == 0 && i < s->nwords; i++) {
        r = sw_buf_printf(b, "%s%s", sep ? " " : "", s->words[i]);
        sep = true;
    }
    free(first);
    free(vals);
    return r ? r : sw_buf_puts(b, " # buildkit");
}

static int
put_copy(struct sw_buf *b, const struct img_hist_step *s)
{
    int r = sw_buf_puts(b, s->kind == IMG_HIST_ADD ? "ADD" : "COPY");
    if (r == 0 && s->parents)
        r = sw_buf_puts(b, " --parents");
    if (r == 0 && s->chown && s->chown[0])
        r = sw_buf_printf(b, " --chown=%s", s->chown);
    if (r == 0 && s->chmod && s->chmod[0])
        r = sw_buf_printf(b, " --chmod=%s", s->chmod);
    for (size_t i = 0; r == 0 && i < s->nwords; i++)
        r = sw_buf_printf(b, " %s", s->words[i]);
    for (size_t i = 0; r == 0 && i < s->nheredocs; i++)
        r = sw_buf_printf(b, " <<%s", s->heredocs[i]);
    if (r == 0)
        r = sw_buf_printf(b, " %s", s->value ? s->value : "");
    return r ? r : sw_buf_puts(b, " # buildkit");
}

int
img_history_created_by(char **out, const struct img_hist_step *s, struct sw_error **err)
{
    struct sw_buf b = {0};
    int r = 0;
    const char *const *w = s->words;
    size_t nw = w ? s->nwords : 0;
    if (s->npairs && (!s->keys || !s->values))
        return sw_error_set(err, SW_EINVAL, 0, NULL, "history: pairs without keys/values");
    switch (s->kind) {
    case IMG_HIST_ENV:
    case IMG_HIST_LABEL:
        r = sw_buf_puts(&b, s->kind == IMG_HIST_ENV ? "ENV" : "LABEL");
        if (r == 0)
            r = put_pairs(&b, s);
        break;
    case IMG_HIST_ARG:
        r = put_arg(&b, s);
        break;
    case IMG_HIST_USER:
    case IMG_HIST_WORKDIR:
    case IMG_HIST_STOPSIGNAL:
    case IMG_HIST_MAINTAINER: {
        static const char *const kw[] = {[IMG_HIST_USER] = "USER",
                                         [IMG_HIST_WORKDIR] = "WORKDIR",
                                         [IMG_HIST_STOPSIGNAL] = "STOPSIGNAL",
                                         [IMG_HIST_MAINTAINER] = "MAINTAINER"};
        r = sw_buf_printf(&b, "%s %s", kw[s->kind], s->value ? s->value : "");
        break;
    }
    case IMG_HIST_CMD:
    case IMG_HIST_ENTRYPOINT:
        r = sw_buf_puts(&b, s->kind == IMG_HIST_CMD ? "CMD " : "ENTRYPOINT ");
        if (r == 0)
            r = put_slice_q(&b, w, nw);
        break;
    case IMG_HIST_SHELL:
    case IMG_HIST_VOLUME:
        r = sw_buf_puts(&b, s->kind == IMG_HIST_SHELL ? "SHELL " : "VOLUME ");
        if (r == 0)
            r = put_slice_v(&b, w, nw);
        break;
    case IMG_HIST_EXPOSE:
        r = sw_buf_puts(&b, "EXPOSE ");
        if (r == 0)
            r = s->expose_legacy_map ? put_set_map(&b, w, nw) : put_slice_v(&b, w, nw);
        break;
    case IMG_HIST_HEALTHCHECK:
        if (!s->health)
            return sw_error_set(err, SW_EINVAL, 0, NULL, "history: HEALTHCHECK without a config");
        r = put_health(&b, s->health);
        break;
    case IMG_HIST_RUN:
        r = put_run(&b, s);
        break;
    case IMG_HIST_COPY:
    case IMG_HIST_ADD:
        r = put_copy(&b, s);
        break;
    default:
        return sw_error_set(err, SW_EINVAL, 0, NULL, "history: unknown step kind %d", (int)s->kind);
    }
    if (r < 0 || !(*out = sw_buf_detach(&b))) {
        sw_buf_free(&b);
        return sw_error_oom(err);
    }
    return 0;
}
