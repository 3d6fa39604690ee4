/*
 * builder/util/utf8.h: the little Unicode that Dockerfile syntax needs.
 *
 * Owns: decoding one UTF-8 sequence (invalid bytes decode as U+FFFD, width 1, as Go does),
 * Go's unicode.IsSpace, and Go's strconv.Quote rendering (used by AST dumps and messages).
 */
#ifndef SLIPWAY_UTIL_UTF8_H
#define SLIPWAY_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Decode the sequence at s (len > 0 bytes available). Returns its width (>= 1). */
size_t sw_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Go unicode.IsSpace. */
bool sw_unicode_is_space(uint32_t cp);
/* Go unicode.IsLetter, approximated: ASCII letters, and every non-ASCII code point that is not
 * a space, a control, or U+FFFD (Dockerfile names only need "letters" to mean "not syntax"). */
bool sw_unicode_is_letter(uint32_t cp);
/* Append Go strconv.Quote(s[:len]) to out. */
int sw_go_quote(struct sw_buf *out, const char *s, size_t len);

#endif
