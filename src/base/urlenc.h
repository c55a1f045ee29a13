/* Percent-encoding for URLs (RFC 3986): the project's one escaper, shared by the remote clients
 * (Helioviewer and HEK query values) and the store (S3 keys, SigV4's canonical strings), which
 * must agree byte for byte with what AWS signs. Depends on nothing. */
#ifndef FF_BASE_URLENC_H
#define FF_BASE_URLENC_H

#include <stddef.h>

#define FF_URL_KEEP_SLASH 1u /* '/' as it is (S3 key paths) */

/* Writes the n bytes at s percent-encoded into dst: A-Z a-z 0-9 - . _ ~ as they are (and '/' with
 * FF_URL_KEEP_SLASH), every other byte as %XX in upper-case hex, as RFC 3986 and SigV4 ask.
 * Writes at most cap bytes, NUL included, never half an escape, and nothing when cap is 0 (dst
 * may then be NULL). Returns the length of the whole encoding without the NUL, as snprintf does:
 * the text is complete when that is less than cap. */
size_t ff_url_escape(char *dst, size_t cap, const char *s, size_t n, unsigned flags);

/* Appends s, encoded as ff_url_escape does (no flags), to the NUL-terminated text in buf of size
 * bytes. Returns 0, or -1 with buf unchanged when the result would not fit. */
int ff_url_append_escaped(char *buf, size_t size, const char *s);

#endif
