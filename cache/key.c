/*
 * Cache keys: named, escaped lines, hashed with a version line in front.
 */
#include "key.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cache_key_add(struct cache_key *k, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *value = NULL;
    int n = vasprintf(&value, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -SW_ENOMEM;
    struct sw_buf b = {0};
    int r = sw_buf_printf(&b, "%s ", name);
    for (const char *p = value; r == 0 && *p; p++) {
        switch (*p) {
        case '\\':
            r = sw_buf_puts(&b, "\\\\");
            break;
        case '\n':
            r = sw_buf_puts(&b, "\\n");
            break;
        case '\r':
            r = sw_buf_puts(&b, "\\r");
            break;
        default:
            r = sw_buf_putc(&b, *p);
        }
    }
    free(value);
    char *line = r == 0 ? sw_buf_detach(&b) : NULL;
    sw_buf_free(&b);
    if (!line)
        return -SW_ENOMEM;
    return sw_strv_push_owned(&k->lines, line);
}

int
cache_key_add_list(struct cache_key *k, const char *name, const struct sw_strv *values)
{
    for (size_t i = 0; i < values->n; i++)
        if (cache_key_add(k, name, "[%zu] %s", i, values->v[i]) < 0)
            return -SW_ENOMEM;
    return 0;
}

int
cache_key_digest(const struct cache_key *k, struct sw_digest *out, struct sw_error **err)
{
    struct sw_hasher *h = NULL;
    int r = sw_hasher_new(&h, err);
    if (r == 0)
        r = sw_hasher_update(h, CACHE_KEY_VERSION "\n", strlen(CACHE_KEY_VERSION) + 1, err);
    for (size_t i = 0; r == 0 && i < k->lines.n; i++) {
        r = sw_hasher_update(h, k->lines.v[i], strlen(k->lines.v[i]), err);
        if (r == 0)
            r = sw_hasher_update(h, "\n", 1, err);
    }
    if (r == 0)
        r = sw_hasher_final(h, out, err);
    sw_hasher_free(h);
    return r;
}

void
cache_key_clear(struct cache_key *k)
{
    sw_strv_free(&k->lines);
}
