/* Quantised floating-point tiles: the keywords, the standard's random sequence and the
 * arithmetic CFITSIO uses to restore the floats (quantize.h). The formulas are those of the FITS
 * standard 4.0, section 10.2; where CFITSIO's reader makes choices of its own (the float rounding
 * of the sequence index, the "underflow" of lossless tiles), they are followed so that values are
 * bit for bit what CFITSIO gives, which tests and fuzz/fuzz_gzip_image.c check. */
#include "core/fits/quantize.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define N_RANDOM 10000
#define ZERO_VALUE (-2147483646) /* SUBTRACTIVE_DITHER_2: a pixel that was exactly 0.0 */

static float g_random[N_RANDOM];
static pthread_once_t g_random_once = PTHREAD_ONCE_INIT;

/* The standard's sequence: the multiplicative congruential generator of Park and Miller
 * (a = 16807, m = 2^31 - 1) started at 1, computed in doubles as the standard gives it. */
static void init_random(void)
{
    const double a = 16807.0, m = 2147483647.0;
    double seed = 1;
    for (int i = 0; i < N_RANDOM; i++) {
        double t = a * seed;
        seed = t - m * (double)(int)(t / m);
        g_random[i] = (float)(seed / m);
    }
}

float ff_quant_random(int i)
{
    pthread_once(&g_random_once, init_random);
    return i >= 0 && i < N_RANDOM ? g_random[i] : 0.0f;
}

static int read_method(fitsfile *fp, int zbitpix, ff_quant *q, ff_err *err)
{
    char v[FLEN_VALUE] = "";
    int st = 0;
    if (fits_read_key(fp, TSTRING, "ZQUANTIZ", v, NULL, &st) != 0)
        return 0; /* files from before 2009: no dithering */
    if (strcmp(v, "NONE") == 0)
        q->method = FF_QUANT_LOSSLESS;
    else if (strcmp(v, "SUBTRACTIVE_DITHER_1") == 0)
        q->method = FF_QUANT_DITHER1;
    else if (strcmp(v, "SUBTRACTIVE_DITHER_2") == 0)
        q->method = FF_QUANT_DITHER2;
    else if (strcmp(v, "NO_DITHER") == 0 || zbitpix > 0)
        q->method = FF_QUANT_PLAIN; /* integer images are never quantised: ZQUANTIZ is inert */
    else {
        char shown[FLEN_VALUE];
        size_t n = 0;
        for (; v[n] && n + 1 < sizeof shown; n++)
            shown[n] = v[n] > 0x20 && v[n] < 0x7f ? v[n] : '?';
        shown[n] = '\0';
        return ff_err_set(err, "the compressed image's ZQUANTIZ '%s' names no quantisation method "
                               "(NONE, NO_DITHER, SUBTRACTIVE_DITHER_1 or SUBTRACTIVE_DITHER_2)",
                          shown);
    }
    return 0;
}

static int read_dither0(fitsfile *fp, int zbitpix, ff_quant *q, ff_err *err)
{
    double d = 0;
    int st = 0;
    if (fits_read_key(fp, TDOUBLE, "ZDITHER0", &d, NULL, &st) != 0)
        return 0; /* the sequence starts at its first element */
    int dithered = q->method == FF_QUANT_DITHER1 || q->method == FF_QUANT_DITHER2;
    if (zbitpix < 0 && dithered && !(d >= 1 && d <= N_RANDOM && d == floor(d)))
        return ff_err_set(err, "the compressed image's ZDITHER0 is %.17g; the dither seed must be "
                               "a whole number from 1 to %d", d, N_RANDOM);
    if (d >= 1 && d <= N_RANDOM)
        q->dither0 = (int)d;
    return 0;
}

int ff_quant_read(fitsfile *fp, int zbitpix, ff_quant *q, ff_err *err)
{
    memset(q, 0, sizeof *q);
    q->dither0 = 1;
    int rc = read_method(fp, zbitpix, q, err);
    if (rc == 0)
        rc = read_dither0(fp, zbitpix, q, err);
    int st = 0, col = 0, blank = 0;
    double v;
    q->scale_column = fits_get_colnum(fp, CASEINSEN, "ZSCALE", &col, &st) == 0;
    st = 0;
    q->zero_column = fits_get_colnum(fp, CASEINSEN, "ZZERO", &col, &st) == 0;
    st = 0;
    q->scale_keyword = fits_read_key(fp, TDOUBLE, "ZSCALE", &v, NULL, &st) == 0;
    st = 0;
    q->zero_keyword = fits_read_key(fp, TDOUBLE, "ZZERO", &v, NULL, &st) == 0;
    st = 0;
    if (fits_get_colnum(fp, CASEINSEN, "ZBLANK", &col, &st) == 0) {
        q->has_blank = q->blank_column = 1;
    } else {
        st = 0;
        if (fits_read_key(fp, TINT, "ZBLANK", &blank, NULL, &st) == 0 ||
            (st = 0, fits_read_key(fp, TINT, "BLANK", &blank, NULL, &st) == 0)) {
            q->has_blank = 1;
            q->blank = blank;
        }
    }
    fits_clear_errmsg();
    return rc;
}

int ff_quant_nulls(const ff_quant *q, int zbitpix)
{
    return zbitpix < 0 && (q->scale_column || q->scale_keyword) && q->method != FF_QUANT_LOSSLESS &&
           q->has_blank;
}

/* The sequence position of a tile's first pixel, and the step to the next pixel, as CFITSIO's
 * reader takes them: index (tile + ZDITHER0 - 1) mod 10000 picks a start, and the start is that
 * element times 500 (in float arithmetic), moving to the next index after each 10000 pixels. */
typedef struct seq {
    int iseed, next;
} seq;

static inline seq seq_start(const ff_quant *q, long long tile)
{
    pthread_once(&g_random_once, init_random);
    seq s;
    s.iseed = (int)((tile + q->dither0 - 1) % N_RANDOM);
    s.next = (int)(g_random[s.iseed] * 500);
    return s;
}

static inline void seq_step(seq *s)
{
    if (++s->next == N_RANDOM) {
        if (++s->iseed == N_RANDOM)
            s->iseed = 0;
        s->next = (int)(g_random[s->iseed] * 500);
    }
}

/* float32 output with dithering, four at a time while the sequence runs on without wrapping:
 * each lane CFITSIO's arithmetic in double, rounded once to float (no fused multiply-add: the
 * baseline instruction set has none). Returns how many of the n it wrote (a multiple of 4). */
typedef double v4q __attribute__((vector_size(32)));
typedef float v4qf __attribute__((vector_size(16)));
typedef int32_t v4qi __attribute__((vector_size(16)));
typedef int64_t v4ql __attribute__((vector_size(32)));

static size_t dither4_f32(const int32_t *in, size_t n, const float *r, int nulls, int32_t blank,
                          int zv, double scale, double zero, float *out)
{
    const v4q vs = {scale, scale, scale, scale}, vz = {zero, zero, zero, zero};
    const v4q half = {0.5, 0.5, 0.5, 0.5};
    const v4qi vb = {blank, blank, blank, blank};
    const v4qi v0 = {ZERO_VALUE, ZERO_VALUE, ZERO_VALUE, ZERO_VALUE};
    const v4qf vnan = {NAN, NAN, NAN, NAN}, vzero = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4qi v;
        v4qf rf;
        memcpy(&v, in + i, sizeof v);
        memcpy(&rf, r + i, sizeof rf);
        const v4q x = ((__builtin_convertvector(v, v4q) - __builtin_convertvector(rf, v4q)) + half) * vs + vz;
        v4qf f = __builtin_convertvector(x, v4qf);
        const v4qi is_zero = zv ? v == v0 : (v4qi){0, 0, 0, 0};
        const v4qi is_null = nulls ? v == vb : (v4qi){0, 0, 0, 0};
        f = (v4qf)(((v4qi)f & ~is_zero) | ((v4qi)vzero & is_zero));
        f = (v4qf)(((v4qi)f & ~is_null) | ((v4qi)vnan & is_null));
        memcpy(out + i, &f, sizeof f);
    }
    return i;
}

#define DEQUANT(OT, FAST4)                                                                         \
    do {                                                                                           \
        const OT nan_v = (OT)NAN;                                                                  \
        if (q->method == FF_QUANT_DITHER1 || q->method == FF_QUANT_DITHER2) {                      \
            int zv = q->method == FF_QUANT_DITHER2;                                                \
            seq s = seq_start(q, tile);                                                            \
            size_t i = 0;                                                                          \
            while (i < n) {                                                                        \
                size_t run = (size_t)(N_RANDOM - s.next); /* to the sequence's wrap */             \
                if (run > n - i)                                                                   \
                    run = n - i;                                                                   \
                size_t done = FAST4 ? dither4_f32(in + i, run, g_random + s.next, nulls, blank,    \
                                                  zv, scale, zero, (float *)(void *)(out + i))     \
                                    : 0;                                                           \
                s.next += (int)done;                                                               \
                for (i += done; done < run; done++, i++, seq_step(&s)) {                           \
                    int32_t v = in[i];                                                             \
                    if (nulls && v == blank)                                                       \
                        out[i] = nan_v;                                                            \
                    else if (zv && v == ZERO_VALUE)                                                \
                        out[i] = 0;                                                                \
                    else                                                                           \
                        out[i] = (OT)(((double)v - g_random[s.next] + 0.5) * scale + zero);        \
                }                                                                                  \
                if (s.next == N_RANDOM) { /* the vector part ended exactly at the wrap */          \
                    s.next = N_RANDOM - 1;                                                         \
                    seq_step(&s);                                                                  \
                }                                                                                  \
            }                                                                                      \
        } else if (scale == 1.0 && zero == 0.0) {                                                  \
            for (size_t i = 0; i < n; i++)                                                         \
                out[i] = nulls && in[i] == blank ? nan_v : (OT)in[i];                              \
        } else {                                                                                   \
            for (size_t i = 0; i < n; i++)                                                         \
                out[i] = nulls && in[i] == blank ? nan_v : (OT)((double)in[i] * scale + zero);     \
        }                                                                                          \
    } while (0)

void ff_quant_to_f32(const int32_t *in, size_t n, const ff_quant *q, long long tile, double scale,
                     double zero, int nulls, int32_t blank, float *out)
{
    DEQUANT(float, 1);
}

void ff_quant_to_f64(const int32_t *in, size_t n, const ff_quant *q, long long tile, double scale,
                     double zero, int nulls, int32_t blank, double *out)
{
    DEQUANT(double, 0);
}

void ff_quant_lossless_f32(const float *in, size_t n, int nulls, float *out)
{
    if (!nulls) {
        if (in != out)
            memmove(out, in, n * sizeof *out);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &in[i], 4);
        uint32_t e = b & 0x7f800000u;
        out[i] = e == 0x7f800000u ? NAN : e == 0 ? 0.0f : in[i];
    }
}

void ff_quant_lossless_f64(const double *in, size_t n, int nulls, double *out)
{
    if (!nulls) {
        if (in != out)
            memmove(out, in, n * sizeof *out);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &in[i], 8);
        uint64_t e = b & UINT64_C(0x7ff0000000000000);
        out[i] = e == UINT64_C(0x7ff0000000000000) ? (double)NAN : e == 0 ? 0.0 : in[i];
    }
}
