/* Harness: level 1.5 (src/core/prep*.c) under hostile headers and data. Input: one selector
 * byte, then 80-character card images. The cards come first, then (unless the selector says
 * otherwise) a valid 64x64 binned AIA header, so the fuzzer's cards both add to and override it.
 * Selector bits: 0 missing = minimum, 1 two threads, 2 no base header, 3 NaN pixels, 4 an
 * infinity, 5 a 128x128 image (base header scaled), 6 HMI instead of AIA, 7 integer data.
 * Checks: ff_prep_run returns OK, SKIP with a one-line reason, or fails only for memory; on OK
 * the image fits the input size, every number of the level-1.5 header is finite, the FITS is
 * whole 2880-byte blocks and the ML array has its size. */
#include <math.h>

#include "core/prep/prep.h"
#include "core/out/sink.h"
#include "fuzz_util.h"

static size_t base_cards(char *out, int side, int hmi)
{
    char lines[24][81];
    int n = 0;
    double cdelt = 38.4 * 64 / side;
#define CARD(...) snprintf(lines[n++], 81, __VA_ARGS__)
    CARD("%-8s= %20s", "SIMPLE", "T");
    CARD("%-8s= %20d", "BITPIX", -32);
    CARD("%-8s= %20d", "NAXIS", 2);
    CARD("%-8s= %20d", "NAXIS1", side);
    CARD("%-8s= %20d", "NAXIS2", side);
    CARD("%-8s= %-20s", "TELESCOP", hmi ? "'SDO/HMI '" : "'SDO/AIA '");
    CARD("%-8s= %-20s", "INSTRUME", hmi ? "'HMI_FRONT2'" : "'AIA_3   '");
    CARD("%-8s= %-20s", "CTYPE1", "'HPLN-TAN'");
    CARD("%-8s= %-20s", "CTYPE2", "'HPLT-TAN'");
    CARD("%-8s= %-20s", "CUNIT1", "'arcsec  '");
    CARD("%-8s= %-20s", "CUNIT2", "'arcsec  '");
    CARD("%-8s= %20.10f", "CDELT1", cdelt);
    CARD("%-8s= %20.10f", "CDELT2", cdelt);
    CARD("%-8s= %20.1f", "CRPIX1", (side + 1) / 2.0);
    CARD("%-8s= %20.1f", "CRPIX2", (side + 1) / 2.0);
    CARD("%-8s= %20.1f", "CRVAL1", 0.0);
    CARD("%-8s= %20.1f", "CRVAL2", 0.0);
    CARD("%-8s= %20.3f", "CROTA2", 12.5);
    CARD("%-8s= %20.3f", "RSUN_OBS", 970.0);
    CARD("%-8s= %20.3f", "EXPTIME", 2.0);
#undef CARD
    for (int i = 0; i < n; i++) {
        size_t len = strlen(lines[i]);
        memset(out + (size_t)i * 80, ' ', 80);
        memcpy(out + (size_t)i * 80, lines[i], len < 80 ? len : 80);
    }
    return (size_t)n;
}

static int sink_count(void *ctx, const void *buf, size_t len, ff_err *err)
{
    (void)buf;
    (void)err;
    *(size_t *)ctx += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 + 80 * 400)
        return 0;
    const unsigned sel = data[0];
    data++;
    size--;
    const int side = (sel & 32) ? 128 : 64;
    size_t nfuzz = (size + 79) / 80;
    char *cards = malloc((nfuzz + 24) * 80 + 1);
    if (!cards)
        return 0;
    memset(cards, ' ', nfuzz * 80);
    if (size)
        memcpy(cards, data, size);
    size_t ncards = nfuzz;
    if (!(sel & 4))
        ncards += base_cards(cards + nfuzz * 80, side, (sel & 64) != 0);
    cards[ncards * 80] = '\0';

    ff_header h;
    ff_err err = {0};
    if (ff_header_parse(cards, ncards, &h, &err) != 0) {
        free(cards);
        return 0;
    }
    free(cards);

    ff_image img = {(sel & 128) ? FF_I16 : FF_F32, 2, {(size_t)side, (size_t)side, 0},
                    (size_t)side * side, NULL};
    img.data = malloc(img.nelem * 4);
    if (!img.data) {
        ff_header_free(&h);
        return 0;
    }
    for (size_t i = 0; i < img.nelem; i++) {
        double v = 100.0 + (double)((i * 2654435761u) % 1000);
        if (sel & 128)
            ((int16_t *)img.data)[i] = (int16_t)v;
        else
            ((float *)img.data)[i] = (float)v;
    }
    if (!(sel & 128)) {
        float *f = img.data;
        if (sel & 8)
            for (size_t i = 7; i < img.nelem; i += 97)
                f[i] = NAN;
        if (sel & 16)
            f[img.nelem / 2] = INFINITY;
    }

    /* One scratch for the whole run, as a worker keeps it from file to file. */
    static ff_prep_scratch scratch;
    ff_prep_opts o = {(sel & 2) ? 2 : 1, (int)(sel & 1), &scratch};
    ff_prep p;
    int rc = ff_prep_run(&h, &img, &o, &p, &err);
    if (rc == FF_PREP_SKIP) {
        if (!err.msg[0] || strchr(err.msg, '\n'))
            abort(); /* a reason, on one line */
    } else if (rc == FF_PREP_OK) {
        if (p.image.ndim != 2 || p.image.shape[0] > (size_t)side || p.image.shape[1] > (size_t)side ||
            p.image.dtype != FF_F32)
            abort();
        ff_header out;
        if (ff_prep_header(&p, &h, &out, &err) == 0) {
            for (size_t i = 0; i < out.ncards; i++)
                if ((out.cards[i].kind == FF_CARD_FLOAT || out.cards[i].kind == FF_CARD_INT) &&
                    !isfinite(out.cards[i].fval))
                    abort(); /* NaN or infinity written into the header */
            ff_header_free(&out);
        } else if (!err.msg[0]) {
            abort();
        }
        size_t bytes = 0;
        ff_sink s = {sink_count, &bytes};
        if (ff_prep_write_fits(&p, &h, &s, &err) == 0 && (bytes == 0 || bytes % 2880 != 0))
            abort();
        ff_image ml;
        if (ff_prep_ml(&p, 64, 1, &ml, &err) == 0) {
            if (ml.shape[0] != 64 || ml.shape[1] != 64)
                abort();
            ff_image_free(&ml);
        }
        ff_prep_release(&p, &scratch);
    } else if (rc != -1 || !err.msg[0]) {
        abort();
    }
    ff_image_free(&img);
    ff_header_free(&h);
    return 0;
}
