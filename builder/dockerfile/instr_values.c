/*
 * Value parsers of the instruction layer: Go durations (HEALTHCHECK), the HEALTHCHECK history
 * text, EXPOSE port specs (dockerfile2llb convert_expose.go), --chmod validation, URL sources and
 * handleJSONArgs.
 */
#include "instructions.h"
#include "instr_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"

/* ---- handleJSONArgs -------------------------------------------------------------------------- */

int
df_handle_json_args(struct sw_strv *out, char *const *args, size_t n, bool json)
{
    if (n == 0)
        return 0;
    if (json) {
        for (size_t i = 0; i < n; i++)
            if (sw_strv_push(out, args[i]) < 0)
                return -SW_ENOMEM;
        return 0;
    }
    struct sw_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        if ((i && sw_buf_putc(&b, ' ') < 0) || sw_buf_puts(&b, args[i]) < 0) {
            sw_buf_free(&b);
            return -SW_ENOMEM;
        }
    }
    char *s = sw_buf_detach(&b);
    return s && sw_strv_push_owned(out, s) == 0 ? 0 : -SW_ENOMEM;
}

/* ---- Go time.ParseDuration ------------------------------------------------------------------- */

#define DUR_LIMIT (UINT64_C(1) << 63)

static int
dur_invalid(const char *orig, struct sw_error **err)
{
    return sw_error_set(err, SW_EINVAL, 0, NULL, "time: invalid duration \"%s\"", orig);
}

static uint64_t
unit_ns(const char *u, size_t n)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 */
        {"\xce\xbcs", 1000}, /* U+03BC */
        {"ms", 1000000},
        {"s", 1000000000},
        {"m", UINT64_C(60000000000)},
        {"h", UINT64_C(3600000000000)},
    };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strlen(units[i].name) == n && !memcmp(units[i].name, u, n))
            return units[i].ns;
    return 0;
}

/* leadingInt: -1 on overflow. */
static int
leading_int(const char **s, uint64_t *x)
{
    *x = 0;
    for (; **s >= '0' && **s <= '9'; (*s)++) {
        if (*x > DUR_LIMIT / 10)
            return -1;
        *x = *x * 10 + (uint64_t)(**s - '0');
        if (*x > DUR_LIMIT)
            return -1;
    }
    return 0;
}

static void
leading_fraction(const char **s, uint64_t *x, double *scale)
{
    bool overflow = false;
    *x = 0;
    *scale = 1;
    for (; **s >= '0' && **s <= '9'; (*s)++) {
        if (overflow)
            continue;
        if (*x > (DUR_LIMIT - 1) / 10) {
            overflow = true;
            continue;
        }
        uint64_t y = *x * 10 + (uint64_t)(**s - '0');
        if (y > DUR_LIMIT) {
            overflow = true;
            continue;
        }
        *x = y;
        *scale *= 10;
    }
}

/* One "<number><unit>" element; adds to *d. */
static int
dur_element(const char **sp, uint64_t *d, const char *orig, struct sw_error **err)
{
    const char *s = *sp;
    if (!(*s == '.' || (*s >= '0' && *s <= '9')))
        return dur_invalid(orig, err);
    const char *p0 = s;
    uint64_t v, f = 0;
    double scale = 1;
    if (leading_int(&s, &v) < 0)
        return dur_invalid(orig, err);
    bool pre = s != p0, post = false;
    if (*s == '.') {
        s++;
        const char *p1 = s;
        leading_fraction(&s, &f, &scale);
        post = s != p1;
    }
    if (!pre && !post)
        return dur_invalid(orig, err);
    size_t i = 0;
    while (s[i] && s[i] != '.' && !(s[i] >= '0' && s[i] <= '9'))
        i++;
    if (i == 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "time: missing unit in duration \"%s\"", orig);
    uint64_t unit = unit_ns(s, i);
    if (!unit)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "time: unknown unit \"%.*s\" in duration \"%s\"", (int)i, s, orig);
    s += i;
    if (v > DUR_LIMIT / unit)
        return dur_invalid(orig, err);
    v *= unit;
    if (f > 0) {
        v += (uint64_t)((double)f * ((double)unit / scale));
        if (v > DUR_LIMIT)
            return dur_invalid(orig, err);
    }
    *d += v;
    if (*d > DUR_LIMIT)
        return dur_invalid(orig, err);
    *sp = s;
    return 0;
}

int
df_parse_duration(int64_t *ns, const char *orig, struct sw_error **err)
{
    const char *s = orig;
    bool neg = false;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (!strcmp(s, "0")) {
        *ns = 0;
        return 0;
    }
    if (!*s)
        return dur_invalid(orig, err);
    uint64_t d = 0;
    while (*s) {
        int r = dur_element(&s, &d, orig, err);
        if (r < 0)
            return r;
    }
    if (neg) {
        *ns = d == DUR_LIMIT ? INT64_MIN : -(int64_t)d;
        return 0;
    }
    if (d > DUR_LIMIT - 1)
        return dur_invalid(orig, err);
    *ns = (int64_t)d;
    return 0;
}

/* ---- Go time.Duration.String ----------------------------------------------------------------- */

/* Writes the fraction of v with prec digits (no trailing zeros) before buf[*w]; returns v/10^prec
 */
static uint64_t
fmt_frac(char *buf, size_t *w, uint64_t v, int prec)
{
    bool print = false;
    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(v % 10);
        print = print || digit != 0;
        if (print)
            buf[--*w] = (char)('0' + digit);
        v /= 10;
    }
    if (print)
        buf[--*w] = '.';
    return v;
}

static void
fmt_int(char *buf, size_t *w, uint64_t v)
{
    if (v == 0) {
        buf[--*w] = '0';
        return;
    }
    for (; v > 0; v /= 10)
        buf[--*w] = (char)('0' + v % 10);
}

int
df_format_duration(struct sw_buf *out, int64_t ns)
{
    char buf[40];
    size_t w = sizeof buf;
    uint64_t u = (uint64_t)ns;
    bool neg = ns < 0;
    if (neg)
        u = 0 - u;
    if (u < 1000000000) {
        int prec = 0;
        buf[--w] = 's';
        if (u == 0)
            return sw_buf_puts(out, "0s");
        if (u < 1000) {
            buf[--w] = 'n';
        } else if (u < 1000000) {
            prec = 3;
            buf[--w] = '\xb5'; /* "µ" in UTF-8 */
            buf[--w] = '\xc2';
        } else {
            prec = 6;
            buf[--w] = 'm';
        }
        u = fmt_frac(buf, &w, u, prec);
        fmt_int(buf, &w, u);
    } else {
        buf[--w] = 's';
        u = fmt_frac(buf, &w, u, 9);
        fmt_int(buf, &w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            fmt_int(buf, &w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                fmt_int(buf, &w, u);
            }
        }
    }
    if (neg)
        buf[--w] = '-';
    return sw_buf_append(out, buf + w, sizeof buf - w);
}

int
df_parse_opt_interval(int64_t *ns, const char *flag, const char *value, struct sw_error **err)
{
    *ns = 0;
    if (!value || !*value)
        return 0;
    int64_t d;
    int r = df_parse_duration(&d, value, err);
    if (r < 0)
        return r;
    if (d != 0 && d < 1000000)
        return sw_error_set(err, SW_EINVAL, 0, NULL, "Interval \"%s\" cannot be less than 1ms",
                            flag);
    *ns = d;
    return 0;
}

char *
df_health_history(const struct df_health *h)
{
    struct sw_buf b = {0};
    int r = sw_buf_puts(&b, "HEALTHCHECK {Test:[");
    for (size_t i = 0; r == 0 && i < h->test.n; i++)
        r = sw_buf_printf(&b, "%s%s", i ? " " : "", h->test.v[i]);
    const struct {
        const char *name;
        int64_t v;
    } durs[] = {{"] Interval:", h->interval},
                {" Timeout:", h->timeout},
                {" StartPeriod:", h->start_period},
                {" StartInterval:", h->start_interval}};
    for (size_t i = 0; r == 0 && i < 4; i++) {
        r = sw_buf_puts(&b, durs[i].name);
        if (r == 0)
            r = df_format_duration(&b, durs[i].v);
    }
    if (r == 0)
        r = sw_buf_printf(&b, " Retries:%d}", h->retries);
    if (r < 0) {
        sw_buf_free(&b);
        return NULL;
    }
    return sw_buf_detach(&b);
}

/* ---- EXPOSE port specs ----------------------------------------------------------------------- */

/* parsePortRange: 0 or -1. */
static int
port_range(const char *s, uint64_t *start, uint64_t *end)
{
    const char *dash = strchr(s, '-');
    if (!*s)
        return -1;
    if (!dash) {
        if (df_go_parse_uint(start, s, 10, 16) != DF_NUM_OK)
            return -1;
        *end = *start;
        return 0;
    }
    if (strchr(dash + 1, '-'))
        return -1;
    sw_autofree char *first = strndup(s, (size_t)(dash - s));
    if (!first || df_go_parse_uint(start, first, 10, 16) != DF_NUM_OK ||
        df_go_parse_uint(end, dash + 1, 10, 16) != DF_NUM_OK)
        return -1;
    return *end < *start ? -1 : 0;
}

/* net.ParseIP, with [] around IPv6 stripped first (net.SplitHostPort(ip + ":")). */
static bool
valid_ip(const char *ip)
{
    sw_autofree char *host = NULL;
    if (ip[0] == '[') {
        size_t n = strlen(ip);
        if (n < 2 || ip[n - 1] != ']' || strchr(ip + 1, '[') || strchr(ip, ']') != ip + n - 1)
            return false;
        host = strndup(ip + 1, n - 2);
        if (!host)
            return false;
        ip = host;
    }
    unsigned char addr[16];
    return inet_pton(AF_INET, ip, addr) == 1 || inet_pton(AF_INET6, ip, addr) == 1;
}

struct port_parts {
    char *ip, *host_port, *container_port, *proto;
};

static void
port_parts_free(struct port_parts *p)
{
    free(p->ip);
    free(p->host_port);
    free(p->container_port);
    free(p->proto);
}

/* splitParts then splitProtoPort. */
static int
split_port_spec(struct port_parts *p, const char *spec, struct sw_error **err)
{
    const char *last = strrchr(spec, ':');
    const char *prev = NULL;
    for (const char *c = spec; last && c < last; c++)
        if (*c == ':')
            prev = c;
    const char *cp = last ? last + 1 : spec;
    if (prev) {
        p->ip = strndup(spec, (size_t)(prev - spec));
        p->host_port = strndup(prev + 1, (size_t)(last - prev - 1));
    } else if (last) {
        p->ip = strdup("");
        p->host_port = strndup(spec, (size_t)(last - spec));
    } else {
        p->ip = strdup("");
        p->host_port = strdup("");
    }
    const char *slash = strchr(cp, '/');
    p->container_port = strndup(cp, slash ? (size_t)(slash - cp) : strlen(cp));
    p->proto = df_lower_dup(slash ? slash + 1 : "");
    if (!p->ip || !p->host_port || !p->container_port || !p->proto)
        return sw_error_oom(err);
    struct sw_buf q = {0};
    int r = 0;
    if (!*p->container_port) {
        sw_go_quote(&q, spec, strlen(spec));
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "invalid port: %s: no port specified",
                         sw_buf_cstr(&q));
    } else if (!*p->proto) {
        free(p->proto);
        p->proto = strdup("tcp");
        r = p->proto ? 0 : sw_error_oom(err);
    } else if (strcmp(p->proto, "tcp") && strcmp(p->proto, "udp") && strcmp(p->proto, "sctp")) {
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "invalid proto: %s", p->proto);
    }
    sw_buf_free(&q);
    return r;
}

int
df_parse_port_spec(struct sw_strv *out, const char *spec, struct sw_error **err)
{
    struct port_parts p = {0};
    uint64_t start = 0, end = 0, hstart = 0, hend = 0;
    int r = split_port_spec(&p, spec, err);
    if (r == 0 && *p.ip && !valid_ip(p.ip))
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "invalid IP address: %s", p.ip);
    if (r == 0 && port_range(p.container_port, &start, &end) < 0)
        r = sw_error_set(err, SW_EINVAL, 0, NULL, "invalid containerPort: %s", p.container_port);
    if (r == 0 && *p.host_port) {
        if (port_range(p.host_port, &hstart, &hend) < 0)
            r = sw_error_set(err, SW_EINVAL, 0, NULL, "invalid hostPort: %s", p.host_port);
        else if (end - start != hend - hstart && end != start)
            r = sw_error_set(err, SW_EINVAL, 0, NULL,
                             "invalid ranges specified for container and host Ports: %s and %s",
                             p.container_port, p.host_port);
    }
    for (uint64_t port = start; r == 0 && port <= end; port++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%llu/%s", (unsigned long long)port, p.proto);
        if (sw_strv_push(out, buf) < 0)
            r = sw_error_oom(err);
    }
    port_parts_free(&p);
    return r;
}

int
df_parse_port_specs(struct sw_strv *out, char *const *specs, size_t n, struct sw_error **err)
{
    for (size_t i = 0; i < n; i++) {
        int r = df_parse_port_spec(out, specs[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- --chmod, URLs --------------------------------------------------------------------------- */

long
df_chmod_octal(const char *s)
{
    uint64_t v;
    if (df_go_parse_uint(&v, s, 8, 32) != DF_NUM_OK || v > 07777)
        return -1;
    return (long)v;
}

/* One clause of a symbolic mode: [ugoa]*([-+=]([rwxXst]*|[ugo]))+ */
static bool
symbolic_clause(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && strchr("ugoa", s[i]))
        i++;
    if (i == n)
        return false;
    while (i < n) {
        if (!strchr("-+=", s[i]))
            return false;
        i++;
        if (i < n && strchr("ugo", s[i])) {
            i++;
            continue;
        }
        while (i < n && strchr("rwxXst", s[i]))
            i++;
    }
    return true;
}

int
df_chmod_validate(const char *s, struct sw_error **err)
{
    bool ok = *s != '\0';
    if (ok && df_chmod_octal(s) < 0) {
        bool numeric = strspn(s, "0123456789") == strlen(s);
        for (const char *c = s; ok && !numeric;) {
            size_t n = strcspn(c, ",");
            ok = symbolic_clause(c, n);
            c += n;
            if (!*c)
                break;
            c++;
        }
        ok = ok && !numeric;
    }
    if (!ok)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "invalid chmod parameter: '%s'. it should be octal string and between "
                            "0 and 07777",
                            s);
    return 0;
}

bool
df_is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}
