/* Strict parsing of the whole numbers people and clients write (settings, flags, Content-Length,
 * ports): decimal digits only, no sign, no blanks, no suffix. */
#ifndef FF_BASE_NUMBER_H
#define FF_BASE_NUMBER_H

#include <stdint.h>

/* 0 with *out set when s is a whole number in [min, max]; -1 otherwise (*out untouched). */
int ff_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
