/* FITS file name endings (endings.h). */
#include "base/endings.h"

#include <string.h>
#include <strings.h>

/* In the order people know them; matching takes the longest. */
const char *const ff_fits_endings[] = {".fits", ".fit", ".fts", ".fits.gz"};
const size_t ff_fits_endings_count = sizeof ff_fits_endings / sizeof ff_fits_endings[0];

/* The longest of the n endings that name ends with (and is longer than), or 0. */
static size_t longest(const char *name, const char *const *endings, size_t n)
{
    size_t len = strlen(name), best = 0;
    for (size_t i = 0; i < n; i++) {
        size_t el = strlen(endings[i]);
        if (len > el && el > best && strcasecmp(name + len - el, endings[i]) == 0)
            best = el;
    }
    return best;
}

size_t ff_fits_ending_len(const char *name)
{
    return longest(name, ff_fits_endings, ff_fits_endings_count);
}

size_t ff_fits_base_ending_len(const char *name)
{
    static const char *const gz_too[] = {".fit.gz", ".fts.gz"};
    size_t e = ff_fits_ending_len(name), g = longest(name, gz_too, 2);
    return g > e ? g : e;
}
