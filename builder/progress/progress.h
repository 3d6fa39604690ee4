/*
 * builder/progress/progress.h: build progress events and their displays.
 *
 * Owns: the event stream a build emits (build start/end, step start/log/end with the source
 * span, warnings, errors) and its renderings: plain lines for CI logs, a live terminal view,
 * versioned JSON lines (docs/events.md: the protocol the Eclipse plugin reads), and quiet. One
 * progress object serves one build; it is safe to call from the solver's worker threads (an
 * internal mutex orders the output). No global state.
 */
#ifndef SLIPWAY_PROGRESS_H
#define SLIPWAY_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../util/error.h"

#define PROGRESS_PROTOCOL_VERSION 1

enum progress_mode {
    PROGRESS_PLAIN,
    PROGRESS_TTY,
    PROGRESS_JSON,
    PROGRESS_QUIET,
};

enum progress_status {
    PROGRESS_DONE,
    PROGRESS_CACHED,
    PROGRESS_ERROR,
    PROGRESS_CANCELED,
};

struct progress;

/* Parse "auto|tty|plain|json|quiet" (auto: tty when `out` is a terminal, else plain). */
int progress_mode_parse(enum progress_mode *mode, const char *s, FILE *out, struct sw_error **err);
/* Events go to `out` (borrowed; usually stderr). */
int progress_new(struct progress **out, enum progress_mode mode, FILE *stream,
                 struct sw_error **err);
void progress_free(struct progress *p);

void progress_build_start(struct progress *p, const char *file, const char *target, unsigned steps);
/* id: a stable step number (the plan op id); name: "[stage 1/3] COPY a /b". span may be NULL. */
void progress_step_start(struct progress *p, unsigned id, const char *name,
                         const struct sw_span *span);
void progress_step_log(struct progress *p, unsigned id, const char *stream, const char *data,
                       size_t len);
/* error: the message when status is PROGRESS_ERROR, else NULL. */
void progress_step_end(struct progress *p, unsigned id, enum progress_status status,
                       const char *error);
void progress_warning(struct progress *p, const char *rule, const char *message,
                      const struct sw_span *span);
void progress_error(struct progress *p, const struct sw_error *err);
/* image_digest/tags may be NULL/empty on failure. */
void progress_build_end(struct progress *p, bool success, const char *image_digest,
                        const char *const *tags, size_t ntags);

#endif
