#include "ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/cleanup.h"
#include "../util/utf8.h"

#define BAD "invalid reference format: "

static bool
is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Go-quoted copy for messages; never NULL (falls back to a placeholder). */
static char *
quote(const char *s, size_t n)
{
    struct sw_buf b = {0};
    if (sw_go_quote(&b, s, n) < 0) {
        sw_buf_free(&b);
        return strdup("\"?\"");
    }
    return sw_buf_detach(&b);
}

/* path-component: [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )* */
static bool
path_component_valid(const char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < n && is_lower_alnum(s[i]))
            i++;
        if (i == start)
            return false;
        if (i == n)
            return true;
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i == n)
            return false;
    }
}

/* domain-component: [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9] */
static bool
domain_component_valid(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* host [":" port], host = domain-name | "[" [a-fA-F0-9:]+ "]" */
static bool
domain_valid(const char *d)
{
    size_t n = strlen(d);
    const char *port = NULL;
    size_t hostlen;
    if (d[0] == '[') {
        const char *close = strchr(d, ']');
        if (!close || close == d + 1)
            return false;
        for (const char *p = d + 1; p < close; p++)
            if (!is_hex(*p) && *p != ':')
                return false;
        hostlen = (size_t)(close + 1 - d);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return false;
    } else {
        const char *colon = strchr(d, ':');
        hostlen = colon ? (size_t)(colon - d) : n;
        if (colon)
            port = colon + 1;
        size_t start = 0;
        for (size_t i = 0; i <= hostlen; i++)
            if (i == hostlen || d[i] == '.') {
                if (!domain_component_valid(d + start, i - start))
                    return false;
                start = i + 1;
            }
    }
    if (port) {
        if (!*port)
            return false;
        for (const char *p = port; *p; p++)
            if (*p < '0' || *p > '9')
                return false;
    }
    return true;
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]* (the length is checked separately) */
static bool
tag_valid(const char *t)
{
    if (!is_alnum(t[0]) && t[0] != '_')
        return false;
    for (const char *p = t + 1; *p; p++)
        if (!is_alnum(*p) && *p != '_' && *p != '.' && *p != '-')
            return false;
    return true;
}

/* digest-algorithm: [A-Za-z][A-Za-z0-9]* ( [-_+.] [A-Za-z][A-Za-z0-9]* )* */
static bool
algorithm_valid(const char *s, size_t n)
{
    bool need_letter = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (need_letter) {
            if (!letter)
                return false;
            need_letter = false;
        } else if (strchr("-_+.", c)) {
            need_letter = true;
        } else if (!is_alnum(c)) {
            return false;
        }
    }
    return n > 0 && !need_letter;
}

static bool
is_64_hex(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!is_hex(*p))
            return false;
    return true;
}

static int
check_digest(struct img_ref *r, const char *dg, const char *qs, struct sw_error **err)
{
    sw_autofree char *qd = quote(dg, strlen(dg));
    const char *colon = strchr(dg, ':');
    if (!colon || !algorithm_valid(dg, (size_t)(colon - dg)) || !colon[1])
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            BAD "invalid digest %s in %s (want sha256:<64 hex digits>)", qd, qs);
    if ((size_t)(colon - dg) != 6 || strncmp(dg, "sha256", 6))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            BAD "unsupported digest algorithm \"%.*s\" in %s (only sha256)",
                            (int)(colon - dg), dg, qs);
    if (!sw_digest_valid(dg))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            BAD "invalid digest %s in %s (want sha256: and 64 lower-case hex "
                                "digits)",
                            qd, qs);
    memcpy(r->digest.str, dg, sizeof r->digest.str);
    r->has_digest = true;
    return 0;
}

static int
check_tag(const char *tag, const char *qs, struct sw_error **err)
{
    size_t n = strlen(tag);
    if (n == 0)
        return sw_error_set(err, SW_EINVAL, 0, NULL, BAD "empty tag in %s", qs);
    if (n > IMG_REF_TAG_MAX)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            BAD "tag in %s is %zu characters long (at most %d)", qs, n,
                            IMG_REF_TAG_MAX);
    if (!tag_valid(tag)) {
        sw_autofree char *qt = quote(tag, n);
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            BAD "invalid tag %s in %s (want [A-Za-z0-9_][A-Za-z0-9_.-]*)", qt, qs);
    }
    return 0;
}

static int
check_path(const char *path, const char *qs, struct sw_error **err)
{
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!path_component_valid(p, n)) {
            sw_autofree char *qc = quote(p, n);
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                BAD "repository name component %s in %s must be lower-case "
                                    "letters and digits, separated by '.', '_', '__' or '-'",
                                qc, qs);
        }
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

/* splitDockerDomain: is the text before the first '/' a registry host? */
static bool
looks_like_domain(const char *s, size_t n)
{
    if (n == 9 && !strncmp(s, "localhost", 9))
        return true;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || s[i] == ':' || (s[i] >= 'A' && s[i] <= 'Z'))
            return true;
    return false;
}

static int
parse(struct img_ref *r, const char *s, struct sw_error **err)
{
    sw_autofree char *qs = quote(s, strlen(s));
    if (!*s)
        return sw_error_set(err, SW_EINVAL, 0, NULL, BAD "empty reference");
    if (is_64_hex(s))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            BAD "invalid repository name (%s), cannot specify 64-byte "
                                "hexadecimal strings",
                            s);

    /* digest: everything after the first '@' */
    sw_autofree char *rest = NULL;
    const char *at = strchr(s, '@');
    if (!(rest = strndup(s, at ? (size_t)(at - s) : strlen(s))))
        return sw_error_oom(err);
    if (at) {
        int rc = check_digest(r, at + 1, qs, err);
        if (rc < 0)
            return rc;
    }

    /* tag: after the last ':' that follows the last '/' */
    char *slash = strrchr(rest, '/');
    char *colon = strrchr(slash ? slash : rest, ':');
    if (colon) {
        *colon = '\0';
        int rc = check_tag(colon + 1, qs, err);
        if (rc < 0)
            return rc;
        if (!(r->tag = strdup(colon + 1)))
            return sw_error_oom(err);
    }
    if (!rest[0])
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            BAD "repository name must have at least one component (in %s)", qs);

    /* domain */
    const char *first = strchr(rest, '/');
    const char *path = rest;
    if (first && looks_like_domain(rest, (size_t)(first - rest))) {
        r->domain = strndup(rest, (size_t)(first - rest));
        path = first + 1;
    } else {
        r->domain = strdup(IMG_REF_DEFAULT_DOMAIN);
    }
    if (!r->domain)
        return sw_error_oom(err);
    if (!strcmp(r->domain, "index.docker.io")) {
        free(r->domain);
        if (!(r->domain = strdup(IMG_REF_DEFAULT_DOMAIN)))
            return sw_error_oom(err);
    }
    if (!domain_valid(r->domain)) {
        sw_autofree char *qd = quote(r->domain, strlen(r->domain));
        return sw_error_set(err, SW_EINVAL, 0, NULL, BAD "invalid registry host %s in %s", qd, qs);
    }
    bool library = !strcmp(r->domain, IMG_REF_DEFAULT_DOMAIN) && !strchr(path, '/');
    if (asprintf(&r->path, "%s%s", library ? "library/" : "", path) < 0) {
        r->path = NULL;
        return sw_error_oom(err);
    }
    for (const char *p = r->path; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                BAD "repository name (%s) must be lowercase", r->path);
    int rc = check_path(r->path, qs, err);
    if (rc < 0)
        return rc;
    size_t namelen = strlen(r->domain) + 1 + strlen(r->path);
    if (namelen > IMG_REF_NAME_MAX)
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            BAD "repository name must not be more than %d characters (%s has "
                                "%zu)",
                            IMG_REF_NAME_MAX, qs, namelen);

    if (!r->tag && !r->has_digest) {
        if (!(r->tag = strdup(IMG_REF_DEFAULT_TAG)))
            return sw_error_oom(err);
        r->tag_defaulted = true;
    }
    return 0;
}

int
img_ref_parse(struct img_ref **out, const char *s, struct sw_error **err)
{
    struct img_ref *r = calloc(1, sizeof *r);
    if (!r)
        return sw_error_oom(err);
    int rc = parse(r, s, err);
    if (rc < 0) {
        img_ref_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static char *
format(const struct img_ref *r, const char *name, bool with_tag)
{
    char *out = NULL;
    if (asprintf(&out, "%s%s%s%s%s", name, with_tag && r->tag ? ":" : "",
                 with_tag && r->tag ? r->tag : "", with_tag && r->has_digest ? "@" : "",
                 with_tag && r->has_digest ? r->digest.str : "") < 0)
        return NULL;
    return out;
}

char *
img_ref_string_name(const struct img_ref *r)
{
    char *out = NULL;
    if (asprintf(&out, "%s/%s", r->domain, r->path) < 0)
        return NULL;
    return out;
}

char *
img_ref_string_full(const struct img_ref *r)
{
    sw_autofree char *name = img_ref_string_name(r);
    return name ? format(r, name, true) : NULL;
}

char *
img_ref_string_familiar(const struct img_ref *r)
{
    if (strcmp(r->domain, IMG_REF_DEFAULT_DOMAIN)) {
        sw_autofree char *name = img_ref_string_name(r);
        return name ? format(r, name, true) : NULL;
    }
    const char *name = r->path;
    if (!strncmp(name, "library/", 8) && !strchr(name + 8, '/'))
        name += 8;
    return format(r, name, true);
}

void
img_ref_free(struct img_ref *r)
{
    if (!r)
        return;
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r);
}
