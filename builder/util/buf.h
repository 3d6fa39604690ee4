/*
 * builder/util/buf.h: growable byte buffers and string vectors.
 *
 * Owns: struct sw_buf (bytes, always NUL-terminated after any append) and struct sw_strv (a
 * NULL-terminated vector of owned C strings). Appends return 0 or -SW_ENOMEM; they never set an
 * error object, callers decide. A zero-initialized struct is an empty, valid value.
 */
#ifndef SLIPWAY_UTIL_BUF_H
#define SLIPWAY_UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct sw_buf {
    char *data; /* NULL while empty and never appended to */
    size_t len, cap;
};

int sw_buf_grow(struct sw_buf *b, size_t extra);
int sw_buf_append(struct sw_buf *b, const void *p, size_t n);
int sw_buf_puts(struct sw_buf *b, const char *s);
int sw_buf_putc(struct sw_buf *b, char c);
int sw_buf_printf(struct sw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Return the contents as an owned NUL-terminated string ("" if empty) and reset b; NULL on OOM. */
char *sw_buf_detach(struct sw_buf *b);
void sw_buf_clear(struct sw_buf *b); /* len = 0, keeps memory */
void sw_buf_free(struct sw_buf *b);  /* frees memory, b becomes empty */
static inline const char *
sw_buf_cstr(const struct sw_buf *b)
{
    return b->data ? b->data : "";
}

struct sw_strv {
    char **v; /* v[n] == NULL when n > 0 */
    size_t n, cap;
};

int sw_strv_push(struct sw_strv *sv, const char *s); /* copies s */
int sw_strv_pushn(struct sw_strv *sv, const char *s, size_t n);
int sw_strv_push_owned(struct sw_strv *sv, char *s); /* takes s; frees it on failure */
/* Append copies of every string of src (0 or -SW_ENOMEM). */
int sw_strv_append_all(struct sw_strv *sv, const struct sw_strv *src);
/* Is s one of the strings? */
bool sw_strv_contains(const struct sw_strv *sv, const char *s);
void sw_strv_free(struct sw_strv *sv);

#endif
