/* header/{base}_header.txt: the lines the original Python FitsFlow wrote with
 * `for k, v in header.items(): f.write(f"{k} = {v}\n")` over an astropy header. */
#include <string.h>

#include "core/out/header_value.h"
#include "base/numfmt.h"
#include "core/out/writers.h"

/* The card's value as Python's str() shows what astropy returns for it. */
static const char *value_text(const ff_card *c, char *buf)
{
    switch (c->kind) {
    case FF_CARD_UNDEFINED:
        return "None"; /* header.items() turns astropy's Undefined into None */
    case FF_CARD_BOOL:
        return c->bval ? "True" : "False";
    case FF_CARD_INT:
        ff_fmt_int64(c->ival, buf);
        return buf;
    case FF_CARD_FLOAT:
        if (!ff_header_big_int_text(c, buf))
            ff_fmt_double(c->fval, buf);
        return buf;
    case FF_CARD_COMPLEX:
        return ff_header_complex_text(c, buf) ? buf : c->text;
    case FF_CARD_STRING:
    case FF_CARD_COMMENTARY:
        return c->text;
    }
    return c->text;
}

int ff_write_header_txt(const ff_header *h, ff_sink *out, ff_err *err)
{
    ff_bufw w;
    if (ff_bufw_init(&w, out, 1 << 16, err) != 0)
        return -1;
    char buf[FF_HVAL_MAX];
    for (size_t i = 0; i < h->ncards; i++) {
        const ff_card *c = &h->cards[i];
        ff_bufw_puts(&w, c->key);
        ff_bufw_put(&w, " = ", 3);
        ff_bufw_puts(&w, value_text(c, buf));
        ff_bufw_put(&w, "\n", 1);
    }
    int rc = ff_bufw_flush(&w, err);
    ff_bufw_free(&w);
    if (rc != 0)
        ff_err_prefix(err, "writing the header text");
    return rc;
}
