/*
 * builder/dockerfile/outline.h: the outline of a resolved build, as JSON and as text.
 *
 * Owns: the documented, versioned JSON form of a struct df_build (docs/outline.md) that
 * `slipway outline --format json`, the Eclipse plugin and the tests read, and its text rendering.
 */
#ifndef SLIPWAY_DF_OUTLINE_H
#define SLIPWAY_DF_OUTLINE_H

#include <jansson.h>

#include "../util/buf.h"
#include "stages.h"

#define DF_OUTLINE_VERSION 1

/* The JSON outline (a new reference; NULL on OOM). */
json_t *df_outline_json(const struct df_build *b);
/* One instruction's JSON object (a new reference). */
json_t *df_outline_instr_json(const struct df_instr *in);
/* The text outline appended to out. */
int df_outline_text(struct sw_buf *out, const struct df_build *b);

#endif
