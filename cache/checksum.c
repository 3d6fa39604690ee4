/*
 * cache/checksum.c: content checksums of a set of files (see checksum.h and "Content checksums"
 * in docs/cache.md for the encodings).
 */
#include "checksum.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "../builder/util/cleanup.h"

#define LIST_HEADER "slipway-checksums 1\n"

/* ---- small helpers ---------------------------------------------------------------------------
 */

static char
type_char(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return 'f';
    case S_IFDIR:
        return 'd';
    case S_IFLNK:
        return 'l';
    case S_IFCHR:
        return 'c';
    case S_IFBLK:
        return 'b';
    case S_IFIFO:
        return 'p';
    case S_IFSOCK:
        return 's';
    default:
        return 0;
    }
}

static mode_t
type_from_char(char c)
{
    switch (c) {
    case 'f':
        return S_IFREG;
    case 'd':
        return S_IFDIR;
    case 'l':
        return S_IFLNK;
    case 'c':
        return S_IFCHR;
    case 'b':
        return S_IFBLK;
    case 'p':
        return S_IFIFO;
    case 's':
        return S_IFSOCK;
    default:
        return 0;
    }
}

static const char *
type_word(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR:
        return "dir ";
    case S_IFLNK:
        return "symlink ";
    case S_IFCHR:
        return "char ";
    case S_IFBLK:
        return "block ";
    case S_IFIFO:
        return "fifo ";
    case S_IFSOCK:
        return "socket ";
    default:
        return ""; /* regular files: "mode 0644 uid 0 gid 0 sha256:..." */
    }
}

/* Relative, no leading or trailing '/', no empty, "." or ".." component. */
static bool
path_clean(const char *p)
{
    if (!p || !*p)
        return false;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

static bool
has_digest(const struct sw_digest *d)
{
    return d->str[0] != '\0';
}

/* Bytes outside '!'..'~' and '%' itself become %XX (upper-case hex). */
static int
put_escaped(struct sw_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int r;
        if (c < 0x21 || c > 0x7e || c == '%') {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            r = sw_buf_append(b, e, 3);
        } else {
            r = sw_buf_putc(b, (char)c);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int
hexdigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Undo put_escaped; NULL for a malformed field or an encoded NUL (*oom set on OOM). */
static char *
unescape(const char *s, size_t len, bool *oom)
{
    char *out = malloc(len + 1), *o = out;
    if (!out) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            goto bad;
        if (c == '%') {
            if (i + 2 >= len)
                goto bad;
            int hi = hexdigit(s[i + 1]), lo = hexdigit(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                goto bad;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        *o++ = (char)c;
    }
    *o = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* ---- one entry: canonical record, digest, text -------------------------------------------------
 */

/*
 * Put e's canonical record in `rec` (cleared first) and set e->digest and e->text from it.
 * e's path, mode, uid, gid, link, content and xattrs must be set.
 */
static int
entry_finish(struct ck_entry *e, struct sw_buf *rec, struct sw_error **err)
{
    unsigned perm = (unsigned)(e->mode & 07777);
    sw_buf_clear(rec);
    size_t plen = strlen(e->path);
    int r = sw_buf_printf(rec, "path %zu:", plen);
    r = r ? r : sw_buf_append(rec, e->path, plen);
    r = r ? r
          : sw_buf_printf(rec, "\ntype %c\nmode %04o\nuid %u\ngid %u\n", type_char(e->mode), perm,
                          (unsigned)e->uid, (unsigned)e->gid);
    if (!r && e->link) {
        size_t llen = strlen(e->link);
        r = sw_buf_printf(rec, "link %zu:", llen);
        r = r ? r : sw_buf_append(rec, e->link, llen);
        r = r ? r : sw_buf_putc(rec, '\n');
    }
    if (!r && has_digest(&e->content))
        r = sw_buf_printf(rec, "content %s\n", e->content.str);
    if (!r && has_digest(&e->xattrs))
        r = sw_buf_printf(rec, "xattrs %s\n", e->xattrs.str);
    r = r ? r : sw_buf_puts(rec, "end\n");
    if (r < 0)
        return sw_error_oom(err);
    r = sw_digest_bytes(&e->digest, rec->data, rec->len, err);
    if (r < 0)
        return r;

    struct sw_buf t = {0};
    r = sw_buf_printf(&t, "%smode %04o uid %u gid %u", type_word(e->mode), perm, (unsigned)e->uid,
                      (unsigned)e->gid);
    if (!r && has_digest(&e->content))
        r = sw_buf_printf(&t, " %s", e->content.str);
    if (!r && e->link) {
        r = sw_buf_puts(&t, " -> ");
        r = r ? r : put_escaped(&t, e->link, strlen(e->link));
    }
    if (!r && has_digest(&e->xattrs))
        r = sw_buf_printf(&t, " xattrs %s", e->xattrs.str);
    char *text = r ? NULL : sw_buf_detach(&t);
    sw_buf_free(&t);
    if (!text)
        return sw_error_oom(err);
    free(e->text);
    e->text = text;
    return 0;
}

static void
entry_clear(struct ck_entry *e)
{
    free(e->path);
    free(e->link);
    free(e->text);
    memset(e, 0, sizeof *e);
}

void
ck_list_free(struct ck_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        entry_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ---- xattrs ----------------------------------------------------------------------------------
 */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
xattr_error(struct sw_error **err, const char *src, const char *what)
{
    return sw_error_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, errno, NULL,
                        "cannot %s xattrs of %s: %s", what, src, strerror(errno));
}

/* The digest of the xattrs of src (not following a symlink); none when it has none or the file
 * system has no xattrs. Encoding: per name, sorted bytewise, "<len>:<name> <len>:<value>\n". */
static int
xattrs_digest(struct sw_digest *out, const char *src, struct sw_error **err)
{
    out->str[0] = '\0';
    sw_autofree char *names = NULL;
    ssize_t len;
    for (;;) {
        len = llistxattr(src, NULL, 0);
        if (len < 0 && (errno == ENOTSUP || errno == ENOSYS))
            return 0;
        if (len < 0)
            return xattr_error(err, src, "list");
        if (len == 0)
            return 0;
        free(names);
        if (!(names = malloc((size_t)len)))
            return sw_error_oom(err);
        ssize_t got = llistxattr(src, names, (size_t)len);
        if (got >= 0) {
            len = got;
            break;
        }
        if (errno != ERANGE)
            return xattr_error(err, src, "list");
    }
    size_t count = 0;
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
        count++;
    sw_autofree const char **v = calloc(count ? count : 1, sizeof *v);
    if (!v)
        return sw_error_oom(err);
    count = 0;
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
        v[count++] = names + i;
    qsort(v, count, sizeof *v, cmp_str);

    struct sw_buf enc = {0};
    sw_autofree char *val = NULL;
    size_t kept = 0;
    int r = 0;
    for (size_t i = 0; i < count && r == 0; i++) {
        ssize_t vl = lgetxattr(src, v[i], NULL, 0);
        while (vl >= 0) {
            free(val);
            if (!(val = malloc(vl ? (size_t)vl : 1))) {
                r = sw_error_oom(err);
                break;
            }
            ssize_t g = lgetxattr(src, v[i], val, (size_t)vl);
            if (g >= 0) {
                vl = g;
                break;
            }
            vl = errno == ERANGE ? lgetxattr(src, v[i], NULL, 0) : -1;
        }
        if (r)
            break;
        if (vl < 0) {
            if (errno == ENODATA)
                continue; /* removed since listed */
            r = xattr_error(err, src, "read");
            break;
        }
        size_t nl = strlen(v[i]);
        if (sw_buf_printf(&enc, "%zu:", nl) < 0 || sw_buf_append(&enc, v[i], nl) < 0 ||
            sw_buf_printf(&enc, " %zd:", vl) < 0 || sw_buf_append(&enc, val, (size_t)vl) < 0 ||
            sw_buf_putc(&enc, '\n') < 0)
            r = sw_error_oom(err);
        kept++;
    }
    if (r == 0 && kept)
        r = sw_digest_bytes(out, enc.data, enc.len, err);
    sw_buf_free(&enc);
    return r;
}

/* ---- the checksum ----------------------------------------------------------------------------
 */

struct item {
    const char *path;
    size_t idx;
};

static int
cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int
fill_entry(struct ck_entry *e, const struct ck_file *f, const struct ck_opts *o,
           struct statcache *sc, struct sw_error **err)
{
    mode_t perm = f->mode & 07777;
    if (o->normalize_perms)
        perm = (perm & 07700) | (perm & 0500) >> 3 | (perm & 0500) >> 6;
    e->mode = (f->mode & S_IFMT) | perm;
    e->uid = f->uid;
    e->gid = f->gid;
    if (!(e->path = strdup(f->path)))
        return sw_error_oom(err);
    if (S_ISLNK(f->mode) && !(e->link = strdup(f->link)))
        return sw_error_oom(err);
    int r = 0;
    if (S_ISREG(f->mode)) {
        if (f->source) {
            struct stat st;
            if (lstat(f->source, &st) < 0)
                return sw_error_set(err, errno == ENOENT ? SW_ENOTFOUND : SW_EIO, errno, NULL,
                                    "cannot read %s: %s", f->source, strerror(errno));
            r = statcache_digest(sc, f->source, &st, &e->content, err);
        } else {
            r = sw_digest_bytes(&e->content, f->data ? f->data : "", f->data ? f->data_len : 0,
                                err);
        }
    }
    if (r == 0 && o->with_xattrs && f->source)
        r = xattrs_digest(&e->xattrs, f->source, err);
    return r;
}

int
ck_checksum(struct sw_digest *out, struct ck_list *list, const struct ck_file *files, size_t n,
            const struct ck_opts *opts, struct statcache *sc, struct sw_error **err)
{
    static const struct ck_opts none = {0};
    const struct ck_opts *o = opts ? opts : &none;
    for (size_t i = 0; i < n; i++) {
        const struct ck_file *f = &files[i];
        if (!path_clean(f->path))
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "content checksum: path \"%s\" is not relative and clean",
                                f->path ? f->path : "");
        if (!type_char(f->mode))
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "content checksum: %s: unknown file type (mode 0%o)", f->path,
                                (unsigned)f->mode);
        if (S_ISLNK(f->mode) && !f->link)
            return sw_error_set(err, SW_EINVAL, 0, NULL,
                                "content checksum: %s: a symlink without a target", f->path);
    }

    sw_autofree struct item *items = calloc(n ? n : 1, sizeof *items);
    if (!items)
        return sw_error_oom(err);
    for (size_t i = 0; i < n; i++)
        items[i] = (struct item){files[i].path, i};
    qsort(items, n, sizeof *items, cmp_item);

    struct statcache *own_sc = NULL;
    struct sw_hasher *total = NULL;
    struct sw_buf rec = {0};
    struct ck_list l = {0};
    int r = 0;
    if (!sc && (r = statcache_open(&own_sc, NULL, err)) < 0)
        return r;
    if (list && !(l.v = calloc(n ? n : 1, sizeof *l.v))) {
        r = sw_error_oom(err);
        goto done;
    }
    if ((r = sw_hasher_new(&total, err)) < 0)
        goto done;
    char header[80];
    int hl = snprintf(header, sizeof header, "slipway checksum 1 perms=%s xattrs=%s\n",
                      o->normalize_perms ? "normalized" : "exact", o->with_xattrs ? "on" : "off");
    if ((r = sw_hasher_update(total, header, (size_t)hl, err)) < 0)
        goto done;

    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && strcmp(items[i].path, items[i + 1].path) == 0)
            continue; /* a later entry of the same path replaces this one */
        struct ck_entry e = {0};
        r = fill_entry(&e, &files[items[i].idx], o, sc ? sc : own_sc, err);
        if (r == 0)
            r = entry_finish(&e, &rec, err);
        if (r == 0)
            r = sw_hasher_update(total, rec.data, rec.len, err);
        if (r < 0) {
            entry_clear(&e);
            goto done;
        }
        if (list)
            l.v[l.n++] = e;
        else
            entry_clear(&e);
    }
    struct sw_digest d;
    if ((r = sw_hasher_final(total, &d, err)) < 0)
        goto done;
    *out = d;
    if (list) {
        *list = l;
        l = (struct ck_list){0};
    }
done:
    ck_list_free(&l);
    sw_buf_free(&rec);
    sw_hasher_free(total);
    statcache_close(own_sc);
    return r;
}

/* ---- diff ------------------------------------------------------------------------------------
 */

const char *
ck_change_name(unsigned change)
{
    switch (change) {
    case CK_ADDED:
        return "added";
    case CK_REMOVED:
        return "removed";
    case CK_TYPE:
        return "type changed";
    case CK_CONTENT:
        return "content changed";
    case CK_MODE:
        return "mode changed";
    case CK_OWNER:
        return "owner changed";
    case CK_LINK:
        return "link changed";
    case CK_XATTRS:
        return "xattrs changed";
    default:
        return "?";
    }
}

static bool
sorted_unique(const struct ck_list *l)
{
    for (size_t i = 1; i < l->n; i++)
        if (strcmp(l->v[i - 1].path, l->v[i].path) >= 0)
            return false;
    return true;
}

static unsigned
changes_of(const struct ck_entry *a, const struct ck_entry *b)
{
    unsigned c = 0;
    if ((a->mode & S_IFMT) != (b->mode & S_IFMT))
        c |= CK_TYPE;
    if ((a->mode & 07777) != (b->mode & 07777))
        c |= CK_MODE;
    if (a->uid != b->uid || a->gid != b->gid)
        c |= CK_OWNER;
    if (!(c & CK_TYPE)) {
        if (strcmp(a->content.str, b->content.str) != 0)
            c |= CK_CONTENT;
        if ((a->link || b->link) && (!a->link || !b->link || strcmp(a->link, b->link) != 0))
            c |= CK_LINK;
    }
    if (strcmp(a->xattrs.str, b->xattrs.str) != 0)
        c |= CK_XATTRS;
    return c;
}

int
ck_diff(const struct ck_list *old_list, const struct ck_list *new_list, ck_diff_fn fn,
        void *payload, struct sw_error **err)
{
    if (!sorted_unique(old_list) || !sorted_unique(new_list))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "checksum diff: a list is not sorted by path with unique paths");
    size_t i = 0, j = 0;
    while (i < old_list->n || j < new_list->n) {
        const struct ck_entry *a = i < old_list->n ? &old_list->v[i] : NULL;
        const struct ck_entry *b = j < new_list->n ? &new_list->v[j] : NULL;
        int c = !a ? 1 : !b ? -1 : strcmp(a->path, b->path);
        int r = 0;
        if (c < 0) {
            r = fn(a->path, CK_REMOVED, a, NULL, payload);
            i++;
        } else if (c > 0) {
            r = fn(b->path, CK_ADDED, NULL, b, payload);
            j++;
        } else {
            unsigned ch = changes_of(a, b);
            if (ch)
                r = fn(a->path, ch, a, b, payload);
            i++;
            j++;
        }
        if (r)
            return r;
    }
    return 0;
}

/* ---- text form -------------------------------------------------------------------------------
 */

int
ck_list_format(const struct ck_list *l, struct sw_buf *out, struct sw_error **err)
{
    int r = sw_buf_puts(out, LIST_HEADER);
    for (size_t i = 0; i < l->n && r == 0; i++) {
        const struct ck_entry *e = &l->v[i];
        r = sw_buf_printf(out, "%c %04o %u %u %s %s ", type_char(e->mode),
                          (unsigned)(e->mode & 07777), (unsigned)e->uid, (unsigned)e->gid,
                          has_digest(&e->content) ? sw_digest_hex(&e->content) : "-",
                          has_digest(&e->xattrs) ? sw_digest_hex(&e->xattrs) : "-");
        if (!r && e->link) {
            r = sw_buf_putc(out, '@');
            r = r ? r : put_escaped(out, e->link, strlen(e->link));
        } else if (!r) {
            r = sw_buf_putc(out, '-');
        }
        r = r ? r : sw_buf_putc(out, ' ');
        r = r ? r : put_escaped(out, e->path, strlen(e->path));
        r = r ? r : sw_buf_putc(out, '\n');
    }
    return r < 0 ? sw_error_oom(err) : 0;
}

/* A field of the form "-" (none: *out untouched) or 64 lower-case hex digits. */
static bool
parse_hex_field(const char *s, size_t len, struct sw_digest *out)
{
    if (len == 1 && s[0] == '-')
        return true;
    char buf[SW_DIGEST_STR_LEN + 1];
    if (len != SW_DIGEST_HEX_LEN)
        return false;
    memcpy(buf, "sha256:", 7);
    memcpy(buf + 7, s, len);
    buf[SW_DIGEST_STR_LEN] = '\0';
    if (!sw_digest_valid(buf))
        return false;
    memcpy(out->str, buf, sizeof buf);
    return true;
}

/* Decimal 0..UINT32_MAX without sign or leading zeros. */
static bool
parse_u32(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Parse one line (without its '\n') into e (zeroed by the caller). 0, or a reason. */
static const char *
parse_line(const char *s, size_t len, struct ck_entry *e, bool *oom)
{
    const char *f[8];
    size_t fl[8], nf = 0;
    for (size_t i = 0, start = 0; i <= len; i++) {
        if (i < len && s[i] != ' ')
            continue;
        if (nf == 8)
            return "too many fields";
        f[nf] = s + start;
        fl[nf++] = i - start;
        start = i + 1;
    }
    if (nf != 8)
        return "want 8 fields";
    mode_t type = fl[0] == 1 ? type_from_char(f[0][0]) : 0;
    if (!type)
        return "bad file type";
    if (fl[1] != 4)
        return "bad mode";
    unsigned perm = 0;
    for (size_t i = 0; i < 4; i++) {
        if (f[1][i] < '0' || f[1][i] > '7')
            return "bad mode";
        perm = perm * 8 + (unsigned)(f[1][i] - '0');
    }
    e->mode = type | (mode_t)perm;
    uint32_t uid, gid;
    if (!parse_u32(f[2], fl[2], &uid) || !parse_u32(f[3], fl[3], &gid))
        return "bad uid or gid";
    e->uid = (uid_t)uid;
    e->gid = (gid_t)gid;
    if (!parse_hex_field(f[4], fl[4], &e->content) || !parse_hex_field(f[5], fl[5], &e->xattrs))
        return "bad digest";
    if (has_digest(&e->content) != S_ISREG(e->mode))
        return "a content digest is for regular files, which need one";
    bool is_link = fl[6] >= 1 && f[6][0] == '@';
    if (is_link != S_ISLNK(e->mode) || (!is_link && !(fl[6] == 1 && f[6][0] == '-')))
        return "a link target is for symlinks, which need one";
    if (is_link && !(e->link = unescape(f[6] + 1, fl[6] - 1, oom)))
        return "bad link target";
    if (!(e->path = unescape(f[7], fl[7], oom)))
        return "bad path";
    if (!path_clean(e->path))
        return "path not relative and clean";
    return NULL;
}

int
ck_list_parse(struct ck_list *out, const char *text, size_t len, struct sw_error **err)
{
    size_t hl = strlen(LIST_HEADER);
    if (len < hl || memcmp(text, LIST_HEADER, hl) != 0)
        return sw_error_set(err, SW_EPARSE, 0, NULL,
                            "checksum list: line 1: want \"slipway-checksums 1\"");
    size_t lines = 0;
    for (size_t i = hl; i < len; i++)
        lines += text[i] == '\n';
    struct ck_list l = {0};
    struct sw_buf rec = {0};
    int r = 0;
    if (!(l.v = calloc(lines ? lines : 1, sizeof *l.v)))
        return sw_error_oom(err);
    size_t off = hl, lineno = 1;
    while (off < len && r == 0) {
        lineno++;
        const char *nl = memchr(text + off, '\n', len - off);
        if (!nl) {
            r = sw_error_set(err, SW_EPARSE, 0, NULL, "checksum list: line %zu: no newline",
                             lineno);
            break;
        }
        struct ck_entry *e = &l.v[l.n++];
        bool oom = false;
        const char *why = parse_line(text + off, (size_t)(nl - text) - off, e, &oom);
        if (oom)
            r = sw_error_oom(err);
        else if (why)
            r = sw_error_set(err, SW_EPARSE, 0, NULL, "checksum list: line %zu: %s", lineno, why);
        else if (l.n > 1 && strcmp(l.v[l.n - 2].path, e->path) >= 0)
            r = sw_error_set(err, SW_EPARSE, 0, NULL,
                             "checksum list: line %zu: paths not sorted or repeated", lineno);
        else
            r = entry_finish(e, &rec, err);
        off = (size_t)(nl - text) + 1;
    }
    sw_buf_free(&rec);
    if (r < 0) {
        ck_list_free(&l);
        return r;
    }
    *out = l;
    return 0;
}
