/* astropy 5.2's arithmetic on the raw values CFITSIO delivers (scaling disabled there): BSCALE,
 * BZERO, BLANK and the unsigned conventions, the way hdu/image.py and hdu/compressed.py do them,
 * float32 arithmetic for 8/16-bit data included, so that dtype and values equal hdul[k].data. */
#include "core/fits/fits_impl.h"
#include "core/fits/quantize.h"
#include <float.h>
#include <math.h>
#include <string.h>

/* A header number as Python holds it: an int (exact) or a float. */
typedef struct num {
    int present, is_int;
    int64_t i;
    double d;
} num;

static num num_from_card(const ff_card *c)
{
    num n = {0};
    if (!c)
        return n;
    if (c->kind == FF_CARD_INT) {
        n.present = n.is_int = 1;
        n.i = c->ival;
        n.d = (double)c->ival;
    } else if (c->kind == FF_CARD_FLOAT) {
        n.present = 1;
        n.d = c->fval;
    }
    return n;
}

static int num_eq(num n, double v) /* v is a small integer or a power of two */
{
    return n.is_int ? (double)n.i == v && (int64_t)v == n.i : n.d == v;
}

static ff_dtype raw_dtype(int bitpix)
{
    switch (bitpix) {
    case 8: return FF_U8;
    case 16: return FF_I16;
    case 32: return FF_I32;
    case 64: return FF_I64;
    case -32: return FF_F32;
    default: return FF_F64;
    }
}

int ff_fits_cfitsio_type(ff_dtype t)
{
    switch (t) {
    case FF_U8: return TBYTE;
    case FF_I16: return TSHORT;
    case FF_I32: return TINT;
    case FF_I64: return TLONGLONG;
    case FF_F32: return TFLOAT;
    default: return TDOUBLE;
    }
}

/* numpy's value-based casting: a Python float outside float32's range forces float64 math */
static int fits_f32(double v)
{
    return !(isfinite(v) && fabs(v) > FLT_MAX);
}

static ff_dtype unsigned_dtype(int bitpix, num bscale, num bzero, int allow_int8)
{
    if (!num_eq(bscale, 1.0))
        return (ff_dtype)-1;
    if (allow_int8 && bitpix == 8 && num_eq(bzero, -128.0))
        return FF_I8;
    if (bitpix == 16 && num_eq(bzero, 32768.0))
        return FF_U16;
    if (bitpix == 32 && num_eq(bzero, 2147483648.0))
        return FF_U32;
    if (bitpix == 64 && num_eq(bzero, 9223372036854775808.0))
        return FF_U64;
    return (ff_dtype)-1;
}

static void set_arith(ff_fits_scaling *sc, num bscale, num bzero)
{
    sc->bscale = bscale.present ? bscale.d : 1.0;
    sc->bzero = bzero.present ? bzero.d : 0.0;
    sc->mul = sc->bscale != 1.0;
    sc->add = sc->bzero != 0.0;
    sc->f32_mul = bscale.is_int || fits_f32(sc->bscale);
    sc->f32_add = bzero.is_int || fits_f32(sc->bzero);
}

/* ImageHDU._get_scaled_image_data */
void ff_fits_plan_image(ff_fits_scaling *sc, int bitpix, const ff_header *h)
{
    memset(sc, 0, sizeof *sc);
    sc->raw = sc->out = raw_dtype(bitpix);
    num bscale = num_from_card(ff_header_find(h, "BSCALE"));
    num bzero = num_from_card(ff_header_find(h, "BZERO"));
    if (!bscale.present)
        bscale = (num){1, 1, 1, 1.0};
    if (!bzero.present)
        bzero = (num){1, 1, 0, 0.0};
    const ff_card *bc = ff_header_find(h, "BLANK");
    int has_blank = bc && bc->kind == FF_CARD_INT && bitpix > 0;
    int unscaled = num_eq(bzero, 0.0) && num_eq(bscale, 1.0);
    if (unscaled && !has_blank)
        return;
    ff_dtype u = unscaled ? (ff_dtype)-1 : unsigned_dtype(bitpix, bscale, bzero, 1);
    if (u == FF_U16 || u == FF_U32 || u == FF_U64) {
        sc->out = u;
        sc->flip_sign = 1;
        return;
    }
    if (u == FF_I8) {
        sc->out = FF_I8;
        sc->int8_shift = 1;
        return;
    }
    if (bitpix > 16)
        sc->out = FF_F64;
    else if (bitpix > 0)
        sc->out = FF_F32;
    sc->do_scale = 1;
    set_arith(sc, bscale, bzero);
    if (has_blank && bc->ival != 0) { /* astropy tests `if self._blank:` so BLANK = 0 is inert */
        sc->blank_on = 1;
        sc->blank = bc->ival;
    }
}

/* CompImageHDU.data: scaling keywords come from the table header */
void ff_fits_plan_compressed(ff_fits_scaling *sc, fitsfile *fp, int zbitpix)
{
    memset(sc, 0, sizeof *sc);
    sc->raw = sc->out = raw_dtype(zbitpix);
    int st = 0;
    double v;
    num bscale = {1, 1, 1, 1.0}, bzero = {1, 1, 0, 0.0};
    if (fits_read_key(fp, TDOUBLE, "BSCALE", &v, NULL, &st) == 0)
        bscale = (num){1, v == floor(v) && fabs(v) < 9e18, (int64_t)v, v};
    st = 0;
    if (fits_read_key(fp, TDOUBLE, "BZERO", &v, NULL, &st) == 0)
        bzero = (num){1, v == floor(v) && fabs(v) < 9e18, (int64_t)v, v};
    st = 0;
    ff_quant q;
    if (zbitpix < 0 && ff_quant_read(fp, zbitpix, &q, NULL) == 0)
        sc->nan_blanks = ff_quant_nulls(&q, zbitpix);
    fits_clear_errmsg();
    if (num_eq(bzero, 0.0) && num_eq(bscale, 1.0))
        return;
    ff_dtype u = unsigned_dtype(zbitpix, bscale, bzero, 0);
    if (u == FF_U16 || u == FF_U32 || u == FF_U64) {
        sc->out = u;
        sc->flip_sign = 1;
    } else {
        sc->out = zbitpix > 16 ? FF_F64 : zbitpix > 0 ? FF_F32 : sc->raw;
        sc->do_scale = 1;
        set_arith(sc, bscale, bzero);
    }
    long long zb = 0;
    int col = 0;
    if (fits_get_colnum(fp, CASEINSEN, "ZBLANK", &col, &st) == 0) {
        st = 0; /* a per-tile ZBLANK column: astropy's comparison with it does not apply per
                   pixel; leave blanks alone */
    } else {
        st = 0;
        if (fits_read_key(fp, TLONGLONG, "ZBLANK", &zb, NULL, &st) == 0 ||
            (st = 0, fits_read_key(fp, TLONGLONG, "BLANK", &zb, NULL, &st) == 0)) {
            sc->blank_on = 1;
            sc->blank_on_converted = 1;
            sc->blank = zb;
            /* np.where(blanks, nan, data) promotes unsigned data to float64 */
            if (sc->out == FF_U16 || sc->out == FF_U32 || sc->out == FF_U64)
                sc->out = FF_F64;
        }
    }
    fits_clear_errmsg();
}

/* Converts n values in place: raw values sit at the start of buf, output fills buf. The output
 * element is never smaller than the raw one, so walking backwards never overwrites unread input. */
#define EXPAND(RT, OT, EXPR)                                                                      \
    do {                                                                                          \
        const RT *in = (const RT *)buf;                                                           \
        OT *o = (OT *)buf;                                                                        \
        for (size_t j = n; j-- > 0;) {                                                            \
            RT r = in[j];                                                                         \
            o[j] = (EXPR);                                                                        \
        }                                                                                         \
    } while (0)

static float f32_scale(float x, const ff_fits_scaling *sc)
{
    if (sc->mul)
        x = sc->f32_mul ? x * (float)sc->bscale : (float)((double)x * sc->bscale);
    if (sc->add)
        x = sc->f32_add ? x + (float)sc->bzero : (float)((double)x + sc->bzero);
    return x;
}

static double f64_scale(double x, const ff_fits_scaling *sc)
{
    if (sc->mul)
        x = x * sc->bscale;
    if (sc->add)
        x = x + sc->bzero;
    return x;
}

static int is_blank_raw(int64_t r, const ff_fits_scaling *sc)
{
    return sc->blank_on && r == sc->blank;
}

void ff_fits_convert(void *buf, size_t n, const ff_fits_scaling *sc)
{
    if (sc->flip_sign) {
        switch (sc->out) {
        case FF_U16: { uint16_t *p = buf; for (size_t j = 0; j < n; j++) p[j] ^= 0x8000u; } break;
        case FF_U32: { uint32_t *p = buf; for (size_t j = 0; j < n; j++) p[j] ^= 0x80000000u; } break;
        default: { uint64_t *p = buf; for (size_t j = 0; j < n; j++) p[j] ^= (uint64_t)1 << 63; } break;
        }
        return;
    }
    if (sc->int8_shift) {
        uint8_t *p = buf;
        for (size_t j = 0; j < n; j++)
            p[j] ^= 0x80u; /* (int8)(u - 128) */
        return;
    }
    if (!sc->do_scale && !sc->blank_on)
        return;
    /* astropy converts, multiplies, adds, then sets NaN at blanks. For compressed data with an
     * unsigned convention the blank test sees the converted (sign-flipped) value. */
    const double nan = NAN;
    if (sc->out == FF_F32) {
        switch (sc->raw) {
        case FF_U8: EXPAND(uint8_t, float, is_blank_raw(r, sc) ? (float)nan : f32_scale((float)r, sc)); break;
        case FF_I16: EXPAND(int16_t, float, is_blank_raw(r, sc) ? (float)nan : f32_scale((float)r, sc)); break;
        case FF_F32: {
            float *p = buf;
            for (size_t j = 0; j < n; j++) {
                int b = sc->blank_on && (double)p[j] == (double)sc->blank;
                p[j] = b ? (float)nan : f32_scale(p[j], sc);
            }
        } break;
        default: break;
        }
        return;
    }
    if (sc->out == FF_F64) {
        switch (sc->raw) {
        case FF_I32: EXPAND(int32_t, double, is_blank_raw(r, sc) ? nan : f64_scale((double)r, sc)); break;
        case FF_I64: EXPAND(int64_t, double, is_blank_raw(r, sc) ? nan : f64_scale((double)r, sc)); break;
        case FF_F64: {
            double *p = buf;
            for (size_t j = 0; j < n; j++) {
                int b = sc->blank_on && p[j] == (double)sc->blank;
                p[j] = b ? nan : f64_scale(p[j], sc);
            }
        } break;
        default: break;
        }
    }
}

/* Compressed unsigned convention with a blank keyword: astropy flips to unsigned, marks blanks on
 * the unsigned value before adding BZERO (a wrap-around add), then np.where makes it float. */
void ff_fits_convert_unsigned_blank(void *buf, size_t n, const ff_fits_scaling *sc)
{
    const double nan = NAN;
    int64_t zb = sc->blank;
    if (sc->raw == FF_I16) {
        EXPAND(int16_t, double,
               ((int64_t)(uint16_t)r == zb) ? nan : (double)(uint16_t)((uint16_t)r ^ 0x8000u));
    } else if (sc->raw == FF_I32) {
        EXPAND(int32_t, double,
               ((int64_t)(uint32_t)r == zb) ? nan : (double)(uint32_t)((uint32_t)r ^ 0x80000000u));
    } else if (sc->raw == FF_I64) {
        uint64_t *p = buf;
        double *o = buf;
        for (size_t j = 0; j < n; j++) {
            uint64_t u = p[j];
            int b = zb >= 0 && u == (uint64_t)zb;
            o[j] = b ? nan : (double)(u ^ ((uint64_t)1 << 63));
        }
    }
}

