/* Bytes as hexadecimal text and back (digests, signatures, secrets, session ids, %XX escapes). */
#ifndef FF_BASE_HEX_H
#define FF_BASE_HEX_H

#include <stddef.h>

/* Writes the n bytes at data as 2n lower-case hex digits and a NUL into out (2n + 1 bytes). */
void ff_hex_encode(const void *data, size_t n, char *out);

/* The value of one hex digit (either case), or -1 when c is not one. */
int ff_hex_digit(int c);

/* Reads exactly 2n hex digits (either case) at hex into n bytes at out: 0, or -1 when one of
 * them is not a hex digit (out is then partly written). */
int ff_hex_decode(const char *hex, size_t n, unsigned char *out);

#endif
