/*
 * builder/util/cleanup.h: scope-bound cleanup for function-local resources.
 *
 * Owns: the sw_cleanup attribute, sw_autofree/sw_autoclose/sw_autofclose, SW_DEFINE_CLEANUP to make
 * `<fn>p` helpers for library handles, and sw_steal() to hand a value to the caller.
 */
#ifndef SLIPWAY_UTIL_CLEANUP_H
#define SLIPWAY_UTIL_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define sw_cleanup(fn) __attribute__((cleanup(fn)))

#define SW_DEFINE_CLEANUP(type, fn)                                                                \
    static inline void fn##p(type *p)                                                              \
    {                                                                                              \
        if (*p)                                                                                    \
            fn(*p);                                                                                \
    }

static inline void
sw_freep(void *p)
{
    free(*(void **)p);
}
static inline void
sw_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
static inline void
sw_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define sw_autofree sw_cleanup(sw_freep)
#define sw_autoclose sw_cleanup(sw_closep)
#define sw_autofclose sw_cleanup(sw_fclosep)

/* Take the value out of *pp, leaving NULL behind: `*out = sw_steal(&local);` */
#define sw_steal(pp)                                                                               \
    __extension__({                                                                                \
        __typeof__(*(pp)) sw_tmp_ = *(pp);                                                         \
        *(pp) = NULL;                                                                              \
        sw_tmp_;                                                                                   \
    })

#endif
