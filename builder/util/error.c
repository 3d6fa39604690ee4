#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
copy_span(struct sw_error *e, const struct sw_span *at)
{
    e->span = *at;
    e->span.file = NULL;
    free(e->file_buf);
    e->file_buf = NULL;
    if (at->file) {
        e->file_buf = strdup(at->file);
        e->span.file = e->file_buf;
    }
}

int
sw_error_vset(struct sw_error **err, int code, int sys_errno, const struct sw_span *at,
              const char *fmt, va_list ap)
{
    if (code <= 0)
        code = SW_EINTERNAL;
    if (!err || *err)
        return -code;
    struct sw_error *e = calloc(1, sizeof *e);
    if (!e)
        return -code;
    e->code = code;
    e->sys_errno = sys_errno;
    if (vasprintf(&e->msg, fmt, ap) < 0)
        e->msg = NULL;
    if (at)
        copy_span(e, at);
    *err = e;
    return -code;
}

int
sw_error_set(struct sw_error **err, int code, int sys_errno, const struct sw_span *at,
             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = sw_error_vset(err, code, sys_errno, at, fmt, ap);
    va_end(ap);
    return r;
}

int
sw_error_wrap(struct sw_error **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -SW_EINTERNAL;
    struct sw_error *e = *err;
    char *prefix = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&prefix, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        char *joined = NULL;
        if (asprintf(&joined, "%s: %s", prefix, e->msg ? e->msg : "") >= 0) {
            free(e->msg);
            e->msg = joined;
        }
        free(prefix);
    }
    return -e->code;
}

void
sw_error_set_span(struct sw_error *err, const struct sw_span *at)
{
    if (err && at && !err->span.line && !err->span.file)
        copy_span(err, at);
}

char *
sw_error_format(const struct sw_error *e)
{
    char *out = NULL;
    const char *msg = e && e->msg ? e->msg : "unknown error";
    int r;
    if (e && e->span.file && e->span.line && e->span.col)
        r = asprintf(&out, "%s:%u:%u: error: %s", e->span.file, e->span.line, e->span.col, msg);
    else if (e && e->span.file && e->span.line)
        r = asprintf(&out, "%s:%u: error: %s", e->span.file, e->span.line, msg);
    else if (e && e->span.file)
        r = asprintf(&out, "%s: error: %s", e->span.file, msg);
    else
        r = asprintf(&out, "error: %s", msg);
    return r < 0 ? NULL : out;
}

void
sw_error_free(struct sw_error *e)
{
    if (!e)
        return;
    free(e->msg);
    free(e->file_buf);
    free(e);
}

void
sw_error_freep(struct sw_error **e)
{
    if (e) {
        sw_error_free(*e);
        *e = NULL;
    }
}
