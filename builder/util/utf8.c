#include "utf8.h"
#include "error.h"

size_t
sw_utf8_decode(const char *str, size_t len, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (len < n) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return n;
}

bool
sw_unicode_is_space(uint32_t cp)
{
    switch (cp) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

bool
sw_unicode_is_letter(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    return cp != 0xFFFD && cp >= 0xA0 && !sw_unicode_is_space(cp);
}

/* Go's strconv.IsPrint, approximated for the ranges Dockerfiles meet. */
static bool
go_is_print(uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
        return false;
    if (cp == 0xAD || cp == 0xFEFF || (cp >= 0x2028 && cp <= 0x202E) ||
        (cp >= 0x2060 && cp <= 0x206F))
        return false;
    if (cp >= 0xE000 && cp <= 0xF8FF) /* private use */
        return false;
    if ((cp & 0xFFFE) == 0xFFFE)
        return false;
    return !sw_unicode_is_space(cp) || cp == ' ';
}

int
sw_go_quote(struct sw_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (sw_buf_putc(out, '"') < 0)
        return -SW_ENOMEM;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t w = sw_utf8_decode(s + i, len - i, &cp);
        int r = 0;
        if (w == 1 && cp == 0xFFFD) { /* invalid byte */
            char e[5] = {'\\', 'x', hex[(unsigned char)s[i] >> 4], hex[(unsigned char)s[i] & 15],
                         0};
            r = sw_buf_puts(out, e);
        } else if (cp == '"' || cp == '\\') {
            char e[3] = {'\\', (char)cp, 0};
            r = sw_buf_puts(out, e);
        } else if (go_is_print(cp)) {
            r = sw_buf_append(out, s + i, w);
        } else {
            switch (cp) {
            case '\a':
                r = sw_buf_puts(out, "\\a");
                break;
            case '\b':
                r = sw_buf_puts(out, "\\b");
                break;
            case '\f':
                r = sw_buf_puts(out, "\\f");
                break;
            case '\n':
                r = sw_buf_puts(out, "\\n");
                break;
            case '\r':
                r = sw_buf_puts(out, "\\r");
                break;
            case '\t':
                r = sw_buf_puts(out, "\\t");
                break;
            case '\v':
                r = sw_buf_puts(out, "\\v");
                break;
            default:
                if (cp < 0x20 || cp == 0x7F)
                    r = sw_buf_printf(out, "\\x%02x", cp);
                else if (cp < 0x10000)
                    r = sw_buf_printf(out, "\\u%04x", cp);
                else
                    r = sw_buf_printf(out, "\\U%08x", cp);
            }
        }
        if (r < 0)
            return -SW_ENOMEM;
        i += w;
    }
    return sw_buf_putc(out, '"');
}
