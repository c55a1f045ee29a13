/* Percent-encoding (RFC 3986 unreserved characters kept). */
#include "base/urlenc.h"

#include <string.h>

static int unreserved(unsigned char c, unsigned flags)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || (c == '/' && (flags & FF_URL_KEEP_SLASH));
}

size_t ff_url_escape(char *dst, size_t cap, const char *s, size_t n, unsigned flags)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = 0, written = 0;
    int full = cap == 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t k = unreserved(c, flags) ? 1 : 3;
        if (!full && written + k < cap) {
            if (k == 1) {
                dst[written] = (char)c;
            } else {
                dst[written] = '%';
                dst[written + 1] = hex[c >> 4];
                dst[written + 2] = hex[c & 15];
            }
            written += k;
        } else {
            full = 1;
        }
        len += k;
    }
    if (cap > 0)
        dst[written] = '\0';
    return len;
}

int ff_url_append_escaped(char *buf, size_t size, const char *s)
{
    size_t used = strnlen(buf, size);
    if (used >= size)
        return -1;
    size_t n = strlen(s);
    if (ff_url_escape(NULL, 0, s, n, 0) >= size - used)
        return -1;
    ff_url_escape(buf + used, size - used, s, n, 0);
    return 0;
}
