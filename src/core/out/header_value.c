/* Card values that need more than a number formatter to look like Python: integers beyond
 * int64 and complex numbers. */
#include "core/out/header_value.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"

int ff_header_big_int_text(const ff_card *c, char *out)
{
    if (c->kind != FF_CARD_FLOAT)
        return 0;
    const char *t = c->text;
    size_t n = strlen(t), i = 0;
    int neg = 0;
    if (n && (t[0] == '+' || t[0] == '-')) {
        neg = t[0] == '-';
        i = 1;
    }
    if (i == n || n - i > FF_HVAL_MAX - 2)
        return 0;
    for (size_t j = i; j < n; j++)
        if (!isdigit((unsigned char)t[j]))
            return 0;
    while (i + 1 < n && t[i] == '0')
        i++;
    size_t o = 0;
    if (neg && !(n - i == 1 && t[i] == '0'))
        out[o++] = '-';
    memcpy(out + o, t + i, n - i);
    out[o + n - i] = '\0';
    return 1;
}

/* One part of a complex value as Python's complex repr writes it: float repr without ".0". */
static size_t complex_part(double v, char *out)
{
    size_t n = ff_fmt_double(v, out);
    if (n >= 2 && out[n - 2] == '.' && out[n - 1] == '0') {
        n -= 2;
        out[n] = '\0';
    }
    return n;
}

static int parse_part(const char *s, size_t n, double *v)
{
    char tmp[80];
    while (n && *s == ' ') {
        s++;
        n--;
    }
    while (n && s[n - 1] == ' ')
        n--;
    if (n == 0 || n >= sizeof tmp)
        return -1;
    for (size_t i = 0; i < n; i++)
        tmp[i] = (s[i] == 'D' || s[i] == 'd') ? 'E' : s[i];
    tmp[n] = '\0';
    char *end;
    *v = strtod(tmp, &end);
    return *end == '\0' ? 0 : -1;
}

int ff_header_complex_text(const ff_card *c, char *out)
{
    if (c->kind != FF_CARD_COMPLEX)
        return 0;
    const char *t = c->text;
    size_t n = strlen(t);
    const char *comma = memchr(t, ',', n);
    if (n < 5 || t[0] != '(' || t[n - 1] != ')' || !comma)
        return 0;
    double re, im;
    if (parse_part(t + 1, (size_t)(comma - t) - 1, &re) != 0 ||
        parse_part(comma + 1, (size_t)(t + n - 1 - comma) - 1, &im) != 0)
        return 0;
    char rb[FF_NUMFMT_MAX], ib[FF_NUMFMT_MAX];
    complex_part(im, ib);
    if (re == 0 && !signbit(re)) { /* Python: complex(0, 2) -> "2j" */
        strcpy(out, ib);
        strcat(out, "j");
        return 1;
    }
    complex_part(re, rb);
    strcpy(out, "(");
    strcat(out, rb);
    if (ib[0] != '-')
        strcat(out, "+");
    strcat(out, ib);
    strcat(out, "j)");
    return 1;
}
