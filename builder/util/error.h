/*
 * builder/util/error.h: slipway's error value.
 *
 * Owns: struct sw_error (a code, an errno, a message and a source span) and the helpers that set,
 * wrap, format and free it. Every function that can fail takes `struct sw_error **err` as its last
 * parameter and returns 0 or a negative `-SW_E*` code; on failure `*err` is set (if err is not
 * NULL and *err is still NULL: the innermost message wins), on success it is untouched.
 * No thread-local state: errors travel by pointer, so parallel steps never share one.
 */
#ifndef SLIPWAY_UTIL_ERROR_H
#define SLIPWAY_UTIL_ERROR_H

#include <stdint.h>
#include <stdarg.h>

enum sw_code {
    SW_OK = 0,
    SW_EINVAL = 1, /* bad input from the user: a Dockerfile, a flag, a path */
    SW_EPARSE = 2, /* a syntax error in a file; span says where */
    SW_ENOTFOUND = 3,
    SW_ENOMEM = 4,
    SW_EIO = 5, /* a system call failed; sys_errno says why */
    SW_EUNSUPPORTED = 6,
    SW_EEXIST = 7,
    SW_EINTERNAL = 8,
};

/* Where in a source file something is. Lines and columns are 1-based; 0 means unknown. */
struct sw_span {
    const char *file; /* borrowed; an error copies it */
    uint32_t line, col, end_line, end_col;
};

struct sw_error {
    int code;
    int sys_errno;
    char *msg;
    struct sw_span span; /* span.file points into file_buf */
    char *file_buf;
};

/* Set *err (unless err is NULL or *err is already set) and return -code. `at` may be NULL. */
int sw_error_set(struct sw_error **err, int code, int sys_errno, const struct sw_span *at,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int sw_error_vset(struct sw_error **err, int code, int sys_errno, const struct sw_span *at,
                  const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* Shorthands. */
#define sw_error_oom(err) sw_error_set((err), SW_ENOMEM, 12, NULL, "out of memory")

/* Prefix "<context>: " to an existing message; returns -(*err)->code (or -SW_EINTERNAL). */
int sw_error_wrap(struct sw_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Attach a span to an error that has none yet. */
void sw_error_set_span(struct sw_error *err, const struct sw_span *at);

/* "FILE:LINE:COL: error: MSG" (or without the location parts that are unknown). Caller frees. */
char *sw_error_format(const struct sw_error *err);

void sw_error_free(struct sw_error *err);
void sw_error_freep(struct sw_error **err);

#endif
