#include "json_out.h"

/* Length of the valid UTF-8 sequence at p (0 if invalid): shortest forms
 * only, no surrogates, nothing above U+10FFFF. */
static size_t utf8_sequence(const uint8_t *p, size_t left)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t min, cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, min = 0x80, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, min = 0x800, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void pkcli_json_string(FILE *out, const uint8_t *data, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        uint8_t c = data[i];
        if (c < 0x80) {
            switch (c) {
            case '"': fputs("\\\"", out); break;
            case '\\': fputs("\\\\", out); break;
            case '\n': fputs("\\n", out); break;
            case '\r': fputs("\\r", out); break;
            case '\t': fputs("\\t", out); break;
            case '\b': fputs("\\b", out); break;
            case '\f': fputs("\\f", out); break;
            default:
                if (c < 0x20 || c == 0x7f)
                    fprintf(out, "\\u%04x", c);
                else
                    fputc(c, out);
            }
            i++;
            continue;
        }
        size_t n = utf8_sequence(data + i, len - i);
        if (n) {
            fwrite(data + i, 1, n, out);
            i += n;
        } else {
            fprintf(out, "\\udc%02x", c);
            i++;
        }
    }
    fputc('"', out);
}
