/*
 * builder/dockerfile/instr_internal.h: helpers shared by the instruction-layer sources
 * (instructions.c, instr_flags.c, instr_mount.c, instr_values.c, instr_env.c). Not a public API.
 *
 * Owns: Go strconv-compatible number/bool parsing and the "did you mean" suggestion.
 */
#ifndef SLIPWAY_DF_INSTR_INTERNAL_H
#define SLIPWAY_DF_INSTR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/utf8.h"

/* strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False. Returns 0 or -1. */
int df_go_parse_bool(const char *s, bool *out);

enum { DF_NUM_OK = 0, DF_NUM_SYNTAX = -1, DF_NUM_RANGE = -2 };
/* strconv.ParseUint(s, base, bits) for base 8 or 10: digits only, no sign, no prefix. */
int df_go_parse_uint(uint64_t *out, const char *s, int base, int bits);
/* strconv.ParseInt(s, 10, bits): optional sign. */
int df_go_parse_int(int64_t *out, const char *s, int bits);
/* Go's message for a failed strconv call: `strconv.ParseInt: parsing "x": invalid syntax`. */
int df_go_num_error(struct sw_buf *out, const char *fn, const char *s, int code);

/* suggest.WrapErrorMaybe: the closest option (Levenshtein distance <= 2), case-matched like
 * BuildKit, or NULL (also when val equals an option). Caller frees. */
char *df_suggest(const char *val, const char *const *options, size_t n, bool case_sensitive);

/* ASCII lower-cased copy; NULL on OOM. */
char *df_lower_dup(const char *s);
bool df_str_ieq(const char *a, const char *b);

#endif
