/* numpy.nanmedian of an image, exactly, in a few parallel passes (ff_prep_nanmedian in
 * prep_internal.h). sunpy replaces NaNs by it before interpolating, and the spline spreads that
 * value a few pixels into the image, so it must be the same number numpy finds.
 *
 * Radix selection: each value becomes an unsigned key with the same order (16, 32 or 64 bits by
 * dtype); one pass per 16 bits counts the keys under the prefix found so far, and the bucket
 * holding the wanted rank extends the prefix. 16-bit data take one pass, float32 two, the rest
 * four, against a sort's many. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/prep/prep_internal.h"

typedef struct med {
    const ff_image *img;
    size_t rows, cols;
    int bits;           /* key width: 16, 32 or 64 */
    uint64_t prefix, mask;
    int shift;
    uint32_t *hist;     /* 65536 per band */
} med;

static uint32_t f32key(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    return (u >> 31) ? ~u : (u | 0x80000000u);
}

static float f32val(uint32_t k)
{
    uint32_t u = (k >> 31) ? (k & 0x7fffffffu) : ~k;
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static uint64_t f64key(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return (u >> 63) ? ~u : (u | 0x8000000000000000ull);
}

static double f64val(uint64_t k)
{
    uint64_t u = (k >> 63) ? (k & 0x7fffffffffffffffull) : ~k;
    double v;
    memcpy(&v, &u, 8);
    return v;
}

static int key_bits(ff_dtype t)
{
    switch (t) {
    case FF_U8: case FF_I8: case FF_I16: case FF_U16: return 16;
    case FF_F32: return 32;
    default: return 64;
    }
}

/* Key of a value (never NaN) in the image's key space. */
static uint64_t key_of(ff_dtype t, double v)
{
    switch (t) {
    case FF_U8: case FF_U16: return (uint64_t)v;
    case FF_I8: return (uint64_t)(v + 128);
    case FF_I16: return (uint64_t)(v + 32768);
    case FF_F32: return f32key((float)v);
    default: return f64key(v);
    }
}

static double value_of(ff_dtype t, uint64_t k)
{
    switch (t) {
    case FF_U8: case FF_U16: return (double)k;
    case FF_I8: return (double)k - 128;
    case FF_I16: return (double)k - 32768;
    case FF_F32: return f32val((uint32_t)k);
    default: return f64val(k);
    }
}

#define COUNT(k)                                                          \
    do {                                                                  \
        uint64_t k_ = (k);                                                \
        if ((k_ & m->mask) == m->prefix)                                  \
            h[(k_ >> m->shift) & 0xffff]++;                               \
    } while (0)

static void hist_band(void *ctx, int band, size_t lo, size_t hi)
{
    med *m = ctx;
    uint32_t *h = m->hist + (size_t)band * 65536;
    memset(h, 0, 65536 * sizeof *h);
    const size_t a = lo * m->cols, b = hi * m->cols;
    const void *d = m->img->data;
    switch (m->img->dtype) {
    case FF_U8:
        for (size_t i = a; i < b; i++)
            h[((const uint8_t *)d)[i]]++;
        break;
    case FF_I8:
        for (size_t i = a; i < b; i++)
            h[((const int8_t *)d)[i] + 128]++;
        break;
    case FF_U16:
        for (size_t i = a; i < b; i++)
            h[((const uint16_t *)d)[i]]++;
        break;
    case FF_I16:
        for (size_t i = a; i < b; i++)
            h[((const int16_t *)d)[i] + 32768]++;
        break;
    case FF_F32:
        for (size_t i = a; i < b; i++) {
            float v = ((const float *)d)[i];
            if (v == v)
                COUNT(f32key(v));
        }
        break;
    case FF_F64:
        for (size_t i = a; i < b; i++) {
            double v = ((const double *)d)[i];
            if (v == v)
                COUNT(f64key(v));
        }
        break;
    default:
        for (size_t i = a; i < b; i++) {
            double v = ff_image_get(m->img, i);
            if (v == v)
                COUNT(f64key(v));
        }
        break;
    }
}

/* Counts per bucket of the current level, summed over bands, with the extra copies. */
static void level(med *m, int nth, uint64_t extra, uint64_t ekey, uint64_t *cnt)
{
    ff_prep_parallel(nth, m->rows, hist_band, m);
    for (size_t b = 0; b < 65536; b++) {
        uint64_t c = 0;
        for (int t = 0; t < nth; t++)
            c += m->hist[(size_t)t * 65536 + b];
        cnt[b] = c;
    }
    if (extra && (ekey & m->mask) == m->prefix)
        cnt[(ekey >> m->shift) & 0xffff] += extra;
}

/* The rank-th key; *next gets the (rank+1)-th when the last level shows it, else UINT64_MAX. */
static uint64_t select_rank(med *m, int nth, uint64_t rank, uint64_t extra, uint64_t ekey,
                            uint64_t *cnt, uint64_t *next)
{
    m->prefix = 0;
    m->mask = 0;
    *next = UINT64_MAX;
    for (m->shift = m->bits - 16; m->shift >= 0; m->shift -= 16) {
        level(m, nth, extra, ekey, cnt);
        size_t b = 0;
        while (b < 65535 && rank >= cnt[b]) {
            rank -= cnt[b];
            b++;
        }
        m->prefix |= (uint64_t)b << m->shift;
        m->mask |= (uint64_t)0xffff << m->shift;
        if (m->shift == 0) {
            if (rank + 1 < cnt[b])
                *next = m->prefix;
            else
                for (size_t c = b + 1; c < 65536; c++)
                    if (cnt[c]) {
                        *next = (m->prefix & ~(uint64_t)0xffff) | c;
                        break;
                    }
        }
        if (m->shift == 0)
            break;
    }
    return m->prefix;
}

int ff_prep_nanmedian(const ff_image *img, size_t finite, int nthreads, uint64_t extra,
                      double extra_value, double *out)
{
    uint64_t total = (uint64_t)finite + extra;
    if (img->ndim != 2 || total == 0)
        return -1;
    int nth = ff_prep_nthreads(nthreads);
    med m = {.img = img, .rows = img->shape[0], .cols = img->shape[1],
             .bits = key_bits(img->dtype)};
    if ((size_t)nth > m.rows)
        nth = (int)m.rows;
    m.hist = malloc((size_t)nth * 65536 * sizeof *m.hist);
    uint64_t *cnt = malloc(65536 * sizeof *cnt);
    if (!m.hist || !cnt) {
        free(m.hist);
        free(cnt);
        return -1;
    }
    const uint64_t ekey = extra ? key_of(img->dtype, extra_value) : 0;
    uint64_t next, k1 = select_rank(&m, nth, (total - 1) / 2, extra, ekey, cnt, &next);
    double a = value_of(img->dtype, k1), r = a;
    if (total % 2 == 0) {
        if (next == UINT64_MAX) {
            uint64_t unused;
            next = select_rank(&m, nth, total / 2, extra, ekey, cnt, &unused);
        }
        double b = value_of(img->dtype, next);
        /* numpy takes the mean of the two middle values in the data's own precision. */
        if (img->dtype == FF_F32)
            r = (double)(((float)a + (float)b) / 2.0f);
        else {
            r = (a + b) / 2;
            if (!isfinite(r))
                r = a / 2 + b / 2;
        }
    }
    free(m.hist);
    free(cnt);
    *out = r;
    return 0;
}
