/* Test tool: reads each FITS file with FitsFlow's own tile decoders (on 1 and on 3 threads) and
 * with CFITSIO alone (ff_fits_opts.cfitsio_only), and says whether the results agree bit for bit.
 *
 *   ff_fits_compare FILE...
 *
 * One line per file on stdout:
 *   FILE same own=1 dtype=float32 n=4096          both read it, the same bytes (own=1: our decoder
 *                                                  read every tile; own=0: CFITSIO did)
 *   FILE refused: MESSAGE                          every reader refused it, with the same message
 *   FILE DIFFER: WHAT                              anything else
 * Exit status 0 when no file differs, 1 otherwise, 2 on usage errors. */
#include <stdio.h>
#include <string.h>

#include "core/fits/fits.h"

typedef struct result {
    int rc;
    ff_fits f;
    ff_err err;
} result;

static void read_one(const char *path, int nthreads, int cfitsio_only, result *r)
{
    ff_fits_opts o = {.nthreads = nthreads, .cfitsio_only = cfitsio_only};
    memset(&r->err, 0, sizeof r->err);
    r->rc = ff_fits_read(path, &o, &r->f, &r->err);
}

/* Empty when a and b agree, else what differs. */
static void compare(const result *a, const result *b, char *why, size_t n)
{
    why[0] = '\0';
    if (a->rc != b->rc) {
        snprintf(why, n, "one reads it, the other refuses: %s", a->rc ? a->err.msg : b->err.msg);
        return;
    }
    if (a->rc != 0) {
        if (strcmp(a->err.msg, b->err.msg) != 0)
            snprintf(why, n, "refused for different reasons: '%s' / '%s'", a->err.msg, b->err.msg);
        return;
    }
    const ff_image *x = &a->f.image, *y = &b->f.image;
    if (x->dtype != y->dtype || x->nelem != y->nelem || x->ndim != y->ndim) {
        snprintf(why, n, "dtype or shape differ (%s %zu / %s %zu)", ff_dtype_name(x->dtype), x->nelem,
                 ff_dtype_name(y->dtype), y->nelem);
        return;
    }
    size_t es = ff_dtype_size(x->dtype);
    const unsigned char *p = x->data, *q = y->data;
    for (size_t i = 0; i < x->nelem; i++)
        if (memcmp(p + i * es, q + i * es, es) != 0) {
            snprintf(why, n, "pixel %zu differs", i);
            return;
        }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ff_fits_compare FILE...\n");
        return 2;
    }
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        result ref, own1, own3;
        read_one(argv[i], 1, 1, &ref);
        read_one(argv[i], 1, 0, &own1);
        read_one(argv[i], 3, 0, &own3);
        char why[2 * FF_ERR_MAX + 128];
        compare(&ref, &own1, why, sizeof why);
        if (!why[0])
            compare(&ref, &own3, why, sizeof why);
        if (why[0]) {
            printf("%s DIFFER: %s\n", argv[i], why);
            bad = 1;
        } else if (ref.rc != 0) {
            printf("%s refused: %s\n", argv[i], ref.err.msg);
        } else {
            printf("%s same own=%d dtype=%s n=%zu\n", argv[i], own1.f.own_tiles && own3.f.own_tiles,
                   ff_dtype_name(ref.f.image.dtype), ref.f.image.nelem);
        }
        if (ref.rc == 0)
            ff_fits_free(&ref.f);
        if (own1.rc == 0)
            ff_fits_free(&own1.f);
        if (own3.rc == 0)
            ff_fits_free(&own3.f);
    }
    return bad;
}
