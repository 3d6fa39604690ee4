#include "buf.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
sw_buf_grow(struct sw_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    if (extra > (size_t)-1 / 2 - b->len)
        return -SW_ENOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -SW_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int
sw_buf_append(struct sw_buf *b, const void *p, size_t n)
{
    if (sw_buf_grow(b, n) < 0)
        return -SW_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
sw_buf_puts(struct sw_buf *b, const char *s)
{
    return sw_buf_append(b, s, strlen(s));
}

int
sw_buf_putc(struct sw_buf *b, char c)
{
    return sw_buf_append(b, &c, 1);
}

int
sw_buf_printf(struct sw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sw_buf_grow(b, (size_t)n) < 0)
        return -SW_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *
sw_buf_detach(struct sw_buf *b)
{
    char *p = b->data;
    if (!p)
        p = strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void
sw_buf_clear(struct sw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void
sw_buf_free(struct sw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int
sw_strv_push_owned(struct sw_strv *sv, char *s)
{
    if (!s)
        return -SW_ENOMEM;
    if (sv->n + 2 > sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 8;
        char **v = realloc(sv->v, cap * sizeof *v);
        if (!v) {
            free(s);
            return -SW_ENOMEM;
        }
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
    return 0;
}

int
sw_strv_push(struct sw_strv *sv, const char *s)
{
    return sw_strv_push_owned(sv, strdup(s));
}

int
sw_strv_pushn(struct sw_strv *sv, const char *s, size_t n)
{
    return sw_strv_push_owned(sv, strndup(s, n));
}

int
sw_strv_append_all(struct sw_strv *sv, const struct sw_strv *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (sw_strv_push(sv, src->v[i]) < 0)
            return -SW_ENOMEM;
    return 0;
}

bool
sw_strv_contains(const struct sw_strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (!strcmp(sv->v[i], s))
            return true;
    return false;
}

void
sw_strv_free(struct sw_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}
