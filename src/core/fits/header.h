/* A FITS header as parsed cards, with typed values the way astropy reads them.
 * Parsing is done here (not by CFITSIO's keyword readers) so that header text, JSON and lookups
 * all agree with astropy.io.fits.Header. */
#ifndef FF_CORE_FITS_HEADER_H
#define FF_CORE_FITS_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum ff_card_kind {
    FF_CARD_UNDEFINED,   /* "KEY =" with no value: astropy gives an Undefined value */
    FF_CARD_BOOL,
    FF_CARD_INT,
    FF_CARD_FLOAT,
    FF_CARD_STRING,
    FF_CARD_COMPLEX,     /* "(re, im)"; text holds the raw value */
    FF_CARD_COMMENTARY,  /* COMMENT, HISTORY, blank keyword, or any card without "= " */
} ff_card_kind;

typedef struct ff_card {
    char key[72];        /* keyword; HIERARCH keys without the "HIERARCH " prefix */
    ff_card_kind kind;
    const char *text;    /* string value (quotes removed, '' -> ', trailing blanks removed, CONTINUE
                            cards joined), commentary text, or the raw value text; never NULL */
    int64_t ival;        /* FF_CARD_INT (when it fits; otherwise the card is FF_CARD_FLOAT) */
    double fval;         /* FF_CARD_FLOAT, and FF_CARD_INT as a double */
    int bval;            /* FF_CARD_BOOL */
    const char *comment; /* card comment after '/', trimmed; "" when none; never NULL */
    char raw[81];        /* the 80-character card image, NUL-terminated */
} ff_card;

typedef struct ff_header {
    ff_card *cards;      /* owned */
    size_t ncards;       /* END and CONTINUE cards not included (CONTINUE joins its string) */
    char *strings;       /* owned storage behind text and comment; NULL for hand-built headers */
} ff_header;

/* Parses ncards 80-character card images laid end to end (as fits_convert_hdr2str returns them).
 * Stops at END. Fails only on allocation failure or a count over 100000 cards. */
int ff_header_parse(const char *cards, size_t ncards, ff_header *out, ff_err *err);

/* First card with this keyword (case-sensitive, keywords are upper case), or NULL. */
const ff_card *ff_header_find(const ff_header *h, const char *key);

/* Convenience lookups: return 0 and fill *out when the key exists with a usable value of that
 * kind (numbers accept INT or FLOAT; strings are trimmed of trailing blanks), else -1. */
int ff_header_get_double(const ff_header *h, const char *key, double *out);
int ff_header_get_int(const ff_header *h, const char *key, int64_t *out);
int ff_header_get_string(const ff_header *h, const char *key, char *out, size_t outsize);

void ff_header_free(ff_header *h);

#endif
