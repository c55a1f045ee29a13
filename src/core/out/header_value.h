/* Shared by the header text and JSON writers: a card's value as Python prints it. Internal to
 * core (not part of the writers interface). */
#ifndef FF_CORE_OUT_HEADER_VALUE_H
#define FF_CORE_OUT_HEADER_VALUE_H

#include <stddef.h>

#include "core/fits/header.h"

/* Longest text ff_header_int_text or ff_header_complex_text writes, NUL included. */
#define FF_HVAL_MAX 96

/* For an FF_CARD_FLOAT card whose text is an integer literal too large for int64 (astropy gives
 * a Python int), writes the integer as Python prints it and returns 1; else returns 0. */
int ff_header_big_int_text(const ff_card *c, char *out);

/* For an FF_CARD_COMPLEX card, writes Python's repr of the complex value, e.g. "(1.5-2j)", and
 * returns 1; returns 0 when the text is not a "(re, im)" pair of numbers. */
int ff_header_complex_text(const ff_card *c, char *out);

#endif
