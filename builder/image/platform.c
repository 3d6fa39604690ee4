#include "platform.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static void
copy_lower(char *dst, size_t n, const char *src, size_t len)
{
    if (len >= n)
        len = n - 1;
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[len] = '\0';
}

static void
set(char *dst, size_t n, const char *v)
{
    snprintf(dst, n, "%s", v);
}

/* containerd's normalizeArch. */
static void
normalize_arch(struct img_platform *p)
{
    char *a = p->arch, *v = p->variant;
    if (!strcmp(a, "i386") || !strcmp(a, "i486") || !strcmp(a, "i586") || !strcmp(a, "i686")) {
        set(a, sizeof p->arch, "386");
        v[0] = '\0';
    } else if (!strcmp(a, "x86_64") || !strcmp(a, "x86-64") || !strcmp(a, "amd64")) {
        set(a, sizeof p->arch, "amd64");
        if (!strcmp(v, "v1"))
            v[0] = '\0';
    } else if (!strcmp(a, "aarch64") || !strcmp(a, "arm64")) {
        set(a, sizeof p->arch, "arm64");
        if (!strcmp(v, "8") || !strcmp(v, "v8") || !strcmp(v, "v8.0"))
            v[0] = '\0';
    } else if (!strcmp(a, "armhf")) {
        set(a, sizeof p->arch, "arm");
        set(v, sizeof p->variant, "v7");
    } else if (!strcmp(a, "armel")) {
        set(a, sizeof p->arch, "arm");
        set(v, sizeof p->variant, "v6");
    } else if (!strcmp(a, "arm")) {
        if (!v[0] || !strcmp(v, "7"))
            set(v, sizeof p->variant, "v7");
        else if (!strcmp(v, "5") || !strcmp(v, "6") || !strcmp(v, "8")) {
            char t[4] = {'v', v[0], 0, 0};
            set(v, sizeof p->variant, t);
        }
    }
}

static int
valid_part(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return 0;
    return 1;
}

static const char *const known_os[] = {
    "linux", "windows", "darwin",    "freebsd", "netbsd", "openbsd", "solaris", "illumos",
    "aix",   "android", "dragonfly", "plan9",   "js",     "wasip1",  "ios",     NULL};

static int
is_known_os(const char *os)
{
    for (size_t i = 0; known_os[i]; i++)
        if (!strcmp(os, known_os[i]))
            return 1;
    return 0;
}

int
img_platform_parse(struct img_platform *out, const char *s, struct sw_error **err)
{
    memset(out, 0, sizeof *out);
    const char *parts[4];
    size_t lens[4], n = 0;
    const char *p = s;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (n == 3)
            goto bad;
        parts[n] = p;
        lens[n] = slash ? (size_t)(slash - p) : strlen(p);
        if (lens[n] == 0 || lens[n] >= sizeof out->os)
            goto bad;
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (n == 1) {
        copy_lower(out->os, sizeof out->os, parts[0], lens[0]);
        if (!is_known_os(out->os)) { /* a bare architecture means linux/<arch> */
            copy_lower(out->arch, sizeof out->arch, parts[0], lens[0]);
            set(out->os, sizeof out->os, "linux");
        } else {
            struct img_platform host;
            img_platform_host(&host);
            set(out->arch, sizeof out->arch, host.arch);
            set(out->variant, sizeof out->variant, host.variant);
        }
    } else {
        copy_lower(out->os, sizeof out->os, parts[0], lens[0]);
        copy_lower(out->arch, sizeof out->arch, parts[1], lens[1]);
        if (n == 3)
            copy_lower(out->variant, sizeof out->variant, parts[2], lens[2]);
    }
    if (!valid_part(out->os) || !valid_part(out->arch) ||
        (out->variant[0] && !valid_part(out->variant)))
        goto bad;
    normalize_arch(out);
    return 0;
bad:
    return sw_error_set(err, SW_EINVAL, 0, NULL,
                        "invalid platform \"%s\": expected os[/arch[/variant]], e.g. linux/amd64",
                        s);
}

void
img_platform_host(struct img_platform *out)
{
    memset(out, 0, sizeof *out);
    set(out->os, sizeof out->os, "linux");
    struct utsname u;
    if (uname(&u) == 0)
        copy_lower(out->arch, sizeof out->arch, u.machine, strlen(u.machine));
    else
        set(out->arch, sizeof out->arch, "amd64");
    if (!strncmp(out->arch, "armv", 4)) { /* armv7l -> arm/v7 */
        char v[4] = {'v', out->arch[4], 0, 0};
        set(out->arch, sizeof out->arch, "arm");
        set(out->variant, sizeof out->variant, v);
    }
    normalize_arch(out);
}

char *
img_platform_format(char *buf, size_t n, const struct img_platform *p)
{
    if (p->variant[0])
        snprintf(buf, n, "%s/%s/%s", p->os, p->arch, p->variant);
    else
        snprintf(buf, n, "%s/%s", p->os, p->arch);
    return buf;
}
