#include "strmap.h"

#include <stdlib.h>
#include <string.h>

static long
find(const struct img_strmap *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], key))
            return (long)i;
    return -1;
}

int
img_strmap_set(struct img_strmap *m, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return -SW_ENOMEM;
    long i = find(m, key);
    if (i >= 0) {
        free(m->values[i]);
        m->values[i] = v;
        return 0;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        char **k = realloc(m->keys, cap * sizeof *k);
        if (!k)
            goto oom;
        m->keys = k;
        char **vs = realloc(m->values, cap * sizeof *vs);
        if (!vs)
            goto oom;
        m->values = vs;
        m->cap = cap;
    }
    char *k = strdup(key);
    if (!k)
        goto oom;
    m->keys[m->n] = k;
    m->values[m->n] = v;
    m->n++;
    return 0;
oom:
    free(v);
    return -SW_ENOMEM;
}

const char *
img_strmap_get(const struct img_strmap *m, const char *key)
{
    long i = find(m, key);
    return i >= 0 ? m->values[i] : NULL;
}

int
img_strmap_del(struct img_strmap *m, const char *key)
{
    long i = find(m, key);
    if (i < 0)
        return 0;
    free(m->keys[i]);
    free(m->values[i]);
    size_t rest = m->n - (size_t)i - 1;
    memmove(&m->keys[i], &m->keys[i + 1], rest * sizeof *m->keys);
    memmove(&m->values[i], &m->values[i + 1], rest * sizeof *m->values);
    m->n--;
    return 1;
}

int
img_strmap_copy(struct img_strmap *out, const struct img_strmap *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (img_strmap_set(out, src->keys[i], src->values[i]) < 0) {
            img_strmap_free(out);
            return -SW_ENOMEM;
        }
    return 0;
}

void
img_strmap_free(struct img_strmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    m->keys = m->values = NULL;
    m->n = m->cap = 0;
}
