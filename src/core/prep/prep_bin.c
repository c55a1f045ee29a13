/* The ML-size array of a level-1.5 image (ff_prep_ml in prep.h): the image on the common
 * 4096x4096 grid at 0.6"/px, Sun at the centre, averaged over blocks ignoring NaN, so that every
 * channel of a session lines up pixel for pixel (the SDO machine-learning data set's layout). */
#include "core/prep/prep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/prep/prep_internal.h"

int ff_prep_ml_size_ok(long n)
{
    return n >= 1 && n <= FF_PREP_GRID && FF_PREP_GRID % n == 0;
}

typedef struct mljob {
    const float *img;
    long w, h;      /* level-1.5 image */
    long k;         /* grid cells per image pixel along each axis */
    long ox, oy;    /* grid cell of the image's pixel (0, 0) corner */
    long size, blk; /* output side, grid cells per output pixel */
    long g0, g1;    /* grid columns the image covers */
    double *sum;    /* size per band */
    long *cnt;      /* size per band */
    float *out;
} mljob;

/* Python's floor division for the centring offset. */
static long floordiv(long a, long b)
{
    long q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Sums of block b of one grid row (image row `row`): each covered grid cell adds its image
 * pixel; a run of cells on one image pixel (k > 1) adds it once, times the run. NaN adds
 * nothing (branch-free for the usual k = 1). */
static void block_sum(const mljob *j, const float *row, long b, double *s, long *c)
{
    long a = b * j->blk > j->g0 ? b * j->blk : j->g0;
    long e = (b + 1) * j->blk < j->g1 ? (b + 1) * j->blk : j->g1;
    double sum = 0;
    long cnt = 0;
    if (j->k == 1) {
        const float *p = row + (a - j->ox);
        for (long g = 0; g < e - a; g++) {
            const float v = p[g];
            const int ok = v == v;
            sum += ok ? (double)v : 0.0;
            cnt += ok;
        }
    } else {
        for (long g = a; g < e;) {
            long ix = (g - j->ox) / j->k;
            long end = j->ox + (ix + 1) * j->k;
            long run = (end < e ? end : e) - g;
            const float v = row[ix];
            if (v == v) {
                sum += (double)v * (double)run;
                cnt += run;
            }
            g += run;
        }
    }
    *s = sum;
    *c = cnt;
}

static void ml_rows(void *ctx, int band, size_t lo, size_t hi)
{
    mljob *j = ctx;
    double *sum = j->sum + (size_t)band * (size_t)j->size;
    long *cnt = j->cnt + (size_t)band * (size_t)j->size;
    const long b0 = j->g0 / j->blk;
    for (size_t r = lo; r < hi; r++) {
        memset(sum, 0, (size_t)j->size * sizeof *sum);
        memset(cnt, 0, (size_t)j->size * sizeof *cnt);
        const long gend = ((long)r + 1) * j->blk;
        for (long gy = (long)r * j->blk; gy < gend;) {
            long iy = gy - j->oy;
            if (iy < 0) {
                gy = j->oy < gend ? j->oy : gend;
                continue;
            }
            if (iy >= j->h * j->k)
                break;
            /* Grid rows on the same image row add the same sums. */
            long end = j->oy + (iy / j->k + 1) * j->k;
            long rows = (end < gend ? end : gend) - gy;
            const float *row = j->img + (size_t)(iy / j->k) * (size_t)j->w;
            for (long b = b0; b < j->size && b * j->blk < j->g1; b++) {
                double s;
                long c;
                block_sum(j, row, b, &s, &c);
                sum[b] += s * (double)rows;
                cnt[b] += c * rows;
            }
            gy += rows;
        }
        float *o = j->out + r * (size_t)j->size;
        for (long c = 0; c < j->size; c++)
            o[c] = cnt[c] ? (float)(sum[c] / (double)cnt[c]) : NAN;
    }
}

int ff_prep_ml(const ff_prep *p, int size, int nthreads, ff_image *out, ff_err *err)
{
    memset(out, 0, sizeof *out);
    if (!ff_prep_ml_size_ok(size))
        return ff_err_set(err, "ML size %d does not divide %d", size, FF_PREP_GRID);
    if (p->image.dtype != FF_F32 || p->image.ndim != 2 || !p->image.data)
        return ff_err_set(err, "ML array: not a level-1.5 image");
    double kd = nearbyint(p->cdelt / 0.6);
    if (!(kd >= 1 && kd <= FF_PREP_GRID))
        return ff_err_set(err, "ML array: plate scale %.6g is not a multiple of 0.6 arcsec", p->cdelt);
    mljob j = {
        .img = p->image.data,
        .w = (long)p->image.shape[1],
        .h = (long)p->image.shape[0],
        .k = (long)kd,
        .size = size,
        .blk = FF_PREP_GRID / size,
    };
    j.ox = floordiv(FF_PREP_GRID - j.w * j.k, 2);
    j.oy = floordiv(FF_PREP_GRID - j.h * j.k, 2);
    size_t nn = (size_t)size * (size_t)size;
    int nth = ff_prep_nthreads(nthreads);
    j.out = malloc(nn * sizeof(float));
    j.sum = malloc((size_t)nth * (size_t)size * sizeof *j.sum);
    j.cnt = malloc((size_t)nth * (size_t)size * sizeof *j.cnt);
    if (!j.out || !j.sum || !j.cnt) {
        free(j.out);
        free(j.sum);
        free(j.cnt);
        return ff_err_set(err, "ML array: out of memory");
    }
    j.g0 = j.ox > 0 ? j.ox : 0;
    j.g1 = j.ox + j.w * j.k < FF_PREP_GRID ? j.ox + j.w * j.k : FF_PREP_GRID;
    ff_prep_parallel(nth, (size_t)size, ml_rows, &j);
    free(j.sum);
    free(j.cnt);
    out->dtype = FF_F32;
    out->ndim = 2;
    out->shape[0] = out->shape[1] = (size_t)size;
    out->nelem = nn;
    out->data = j.out;
    return 0;
}
