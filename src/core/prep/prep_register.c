/* Level-1.5 registration (ff_prep_run in prep.h): sunpy 4.1's GenericMap.rotate(recenter=True,
 * scale=s, order=3, missing=m) with method 'scipy', then aiapy's crop back to the input shape.
 *
 * What sunpy does, and this file reproduces step for step:
 *  - pad the image with `missing` so the rotated and scaled image fits (ceil of half the growth
 *    of the rotated corners' extent), or note how much to cut off afterwards when it shrinks;
 *  - if the padded image holds any NaN (NaN pixels, or a NaN `missing` used as padding), replace
 *    them by the padded image's nanmedian, interpolate, and afterwards set to NaN every output
 *    pixel whose bilinear sample of the 5x5-dilated NaN mask is > 0;
 *  - scipy.ndimage.affine_transform(order=3, mode='constant', cval=missing): cubic B-spline on
 *    coefficients prefiltered with a mirror boundary, cval wherever the sample point lies outside
 *    [0, len-1] on either axis;
 *  - clip to the input's [nanmin, nanmax]; move the reference pixel to the array centre; crop to
 *    the input's size about floor(CRPIX1) (sunpy's submap rounding and clipping).
 * Only the pixels that survive the crop are computed. Spline coefficients are stored for the
 * image plus a 40-pixel margin of padding: further out the padding is constant and so are its
 * coefficients (the filter's influence has fallen below 1e-22 by then). */
#include "core/prep/prep.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/hugepage.h"
#include "core/prep/prep_internal.h"
#include "core/prep/prep_simd.h"
#include "core/prep/prep_spline.h"

#define MARGIN 40     /* padding kept around the image in the coefficient array */
#define NAN_REACH 2   /* sunpy dilates NaNs with a 5x5 box for order 3 */
#define MASK_OFF (NAN_REACH + 1) /* image pixel 0 sits at mask pixel MASK_OFF */
#define NEAR_5x5 1    /* mask bit: the 5x5-dilated NaN map is set here */
#define NEAR_QUAD 2   /* mask bit: set at any of (x, y), (x+1, y), (x, y+1), (x+1, y+1) */
#define MAX_THREADS FF_PREP_MAX_THREADS

int ff_prep_nthreads(int requested)
{
    long n = requested > 0 ? requested : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

typedef struct band {
    void (*fn)(void *, int, size_t, size_t);
    void *ctx;
    int index;
    size_t lo, hi;
} band;

static void *band_main(void *arg)
{
    band *b = arg;
    b->fn(b->ctx, b->index, b->lo, b->hi);
    return NULL;
}

void ff_prep_parallel(int nthreads, size_t total, void (*fn)(void *, int, size_t, size_t),
                      void *ctx)
{
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > MAX_THREADS)
        nthreads = MAX_THREADS;
    if ((size_t)nthreads > total)
        nthreads = total ? (int)total : 1;
    band b[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < nthreads; t++) {
        b[t] = (band){fn, ctx, t, total * (size_t)t / (size_t)nthreads,
                      total * (size_t)(t + 1) / (size_t)nthreads};
        if (t > 0)
            started[t] = pthread_create(&tid[t], NULL, band_main, &b[t]) == 0;
    }
    fn(ctx, 0, b[0].lo, b[0].hi);
    for (int t = 1; t < nthreads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            fn(ctx, t, b[t].lo, b[t].hi);
    }
}

void ff_prep_scratch_free(ff_prep_scratch *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s->out);
    memset(s, 0, sizeof *s);
}

/* Fresh memory, faulted in ahead by the kernel in one call per band of pages
 * (MADV_POPULATE_WRITE, Linux 5.14) rather than one trap per page on first touch: on the machine
 * this was measured on, a third less time for the 200 MiB a 4096x4096 registration uses, and the
 * bands run on all cores. Older kernels refuse the advice and the pages fault in as usual.
 * The buffers also ask for transparent huge pages (base/hugepage.h): 2 MiB pages take 1/512 of the faults
 * and spare the interpolation's scattered reads most TLB misses. Measured on a 4096x4096 AIA
 * registration, cold: median 0.064 s against 0.087 s; the slowest of 24 runs 0.097 s (the kernel
 * compacting memory to find huge pages), as slow as the usual 4 KiB run. */
typedef struct prefault_job {
    char *base;
    size_t bytes;
} prefault_job;

static void prefault_band(void *ctx, int band, size_t lo, size_t hi)
{
    (void)band;
#ifdef MADV_POPULATE_WRITE
    const prefault_job *f = ctx;
    const size_t page = 4096, chunk = (size_t)1 << 21;
    uintptr_t a = (uintptr_t)f->base + lo * chunk, b = (uintptr_t)f->base + hi * chunk;
    if (b > (uintptr_t)f->base + f->bytes)
        b = (uintptr_t)f->base + f->bytes;
    a = (a + page - 1) & ~(uintptr_t)(page - 1);
    b &= ~(uintptr_t)(page - 1);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
    (void)ctx;
    (void)lo;
    (void)hi;
#endif
}

static void prefault(void *p, size_t bytes, int nthreads)
{
    ff_hugepage_advise(p, bytes);
    prefault_job f = {p, bytes};
    ff_prep_parallel(nthreads, (bytes + ((size_t)1 << 21) - 1) >> 21, prefault_band, &f);
}

/* sunpy's arithmetic for one registration, in its order of operations (x = axis 0 here). */
typedef struct plan {
    long n;             /* input side */
    long pad[2];        /* padding per axis (x, y) */
    long unpad[2];      /* cut off after rotation per axis */
    long P[2];          /* padded size */
    double m[2][2];     /* output pixel -> input pixel (scipy's matrix, x/y order) */
    double shift[2];    /* scipy's offset */
    long off[2];        /* output pixel j sits at rotated-array pixel j + off */
    long out[2];        /* output width, height */
    double crpix[2];    /* output CRPIX (1-based) */
} plan;

static int make_plan(const ff_prep_geom *g, plan *p, ff_err *err)
{
    memset(p, 0, sizeof *p);
    const double (*R)[2] = (const double (*)[2])g->rot;
    const double s = g->scale;
    const long n = (long)g->n;
    p->n = n;
    /* Extent of the rotated and scaled image's corners. */
    const double cx[2] = {-0.5, (double)n - 0.5}, cy[2] = {-0.5, (double)n - 0.5};
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            double v[2] = {(R[0][0] * cx[a] + R[0][1] * cy[b]) * s,
                           (R[1][0] * cx[a] + R[1][1] * cy[b]) * s};
            for (int k = 0; k < 2; k++) {
                lo[k] = fmin(lo[k], v[k]);
                hi[k] = fmax(hi[k], v[k]);
            }
        }
    for (int k = 0; k < 2; k++) {
        double diff = ceil(((hi[k] - lo[k]) - (double)n) / 2.0);
        if (!isfinite(diff) || fabs(diff) > 4.0 * (double)n)
            return ff_err_set(err, "level 1.5: rotated extent out of range");
        long d = (long)diff;
        p->pad[k] = d > 0 ? d : 0;
        p->unpad[k] = d < 0 ? -d : 0;
        p->P[k] = n + 2 * p->pad[k];
    }
    /* Inverse of sunpy's rotation matrix, divided by the scale: output -> input. */
    double det = R[0][0] * R[1][1] - R[0][1] * R[1][0];
    double inv[2][2] = {{R[1][1] / det, -R[0][1] / det}, {-R[1][0] / det, R[0][0] / det}};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            p->m[i][j] = inv[i][j] / s;
    const double ac[2] = {((double)p->P[0] - 1) / 2.0, ((double)p->P[1] - 1) / 2.0};
    const double ref[2] = {(g->crpix[0] - 1) + (double)p->pad[0],
                           (g->crpix[1] - 1) + (double)p->pad[1]};
    for (int i = 0; i < 2; i++)
        p->shift[i] = ref[i] - (p->m[i][0] * ac[0] + p->m[i][1] * ac[1]);

    /* The reference pixel moves to the array centre; the cut; then aiapy's submap about
     * floor(CRPIX1) of the rotated map, clipped to the array as sunpy's submap clips. */
    double crpix_t[2];
    long Pc[2];
    for (int k = 0; k < 2; k++) {
        crpix_t[k] = (ac[k] + 1) - (double)p->unpad[k];
        Pc[k] = p->P[k] - 2 * p->unpad[k];
    }
    double center = floor(crpix_t[0]);
    double r0 = center - (double)n / 2.0, r1 = center + (double)n / 2.0 - 1.0;
    double bl = floor(r0 + 0.5), tr = ceil(r1 - 0.5) + 1;
    long start[2], end[2];
    for (int k = 0; k < 2; k++) {
        double a = fmin(fmax(bl, 0), (double)Pc[k]), b = fmin(fmax(tr, 0), (double)Pc[k]);
        start[k] = (long)a;
        end[k] = (long)b;
        p->out[k] = end[k] - start[k];
        p->off[k] = start[k] + p->unpad[k];
        p->crpix[k] = ((crpix_t[k] - 1) + 1) - (double)start[k];
    }
    if (p->out[0] <= 0 || p->out[1] <= 0)
        return ff_err_set(err, "level 1.5: the crop is empty");
    return 0;
}

typedef struct job {
    const ff_image *img;
    const plan *pl;
    float *W;           /* coefficient window, Wn[1] rows of Wn[0] (float32: see
                           prep_spline.h; computed in double) */
    long Wn[2], woff[2];/* window size; padded index of window index 0 */
    long n;
    int path_nan;       /* sunpy's NaN handling is on */
    int missing_min;
    double fill;        /* padding value (and NaN substitute when path_nan) */
    double nanfill;     /* what input NaNs become */
    double lo, hi;      /* clip range */
    double cval;        /* value outside the padded array */
    double div;         /* exposure divisor (1 when not normalising) */
    uint8_t *nanmask;   /* (n + 2*MASK_OFF)^2 centred on the image, or NULL: bits NEAR_5x5
                           (input NaNs dilated by NAN_REACH) and NEAR_QUAD */
    int pad_nan;        /* the padding itself counts as NaN (missing NaN with padding) */
    float *out;
    double *coords;     /* per band: the sample points of one output row (x then y) */
    /* scan results per thread */
    struct scan { size_t nan, inf, finite, big; double mn, mx; } sc[MAX_THREADS];
    int nth;
} job;

/* One image row into the coefficient window as doubles, with its minimum, maximum and count
 * of values that are not finite. float32 and int16 (the usual SDO data) go four at a time. */
typedef short v4s __attribute__((vector_size(8)));
typedef float v4fs __attribute__((vector_size(16)));
typedef double v4dd __attribute__((vector_size(32)));
typedef long long v4ll __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) void row_in_body(const ff_image *img, size_t base,
                                                               long n, float *row, double *mn,
                                                               double *mx, size_t *bad,
                                                               size_t *big)
{
    long x = 0;
    v4dd vmn = {*mn, *mn, *mn, *mn}, vmx = {*mx, *mx, *mx, *mx};
    v4ll fin = {0, 0, 0, 0};
    const v4dd dmax = {DBL_MAX, DBL_MAX, DBL_MAX, DBL_MAX};
    const v4ll absmask = {0x7fffffffffffffffLL, 0x7fffffffffffffffLL, 0x7fffffffffffffffLL,
                          0x7fffffffffffffffLL};
    if (img->dtype == FF_F32 || img->dtype == FF_I16) {
        for (; x + 4 <= n; x += 4) {
            v4dd v;
            v4fs f;
            if (img->dtype == FF_F32) {
                memcpy(&f, (const float *)img->data + base + (size_t)x, sizeof f);
                v = __builtin_convertvector(f, v4dd);
            } else {
                v4s h;
                memcpy(&h, (const int16_t *)img->data + base + (size_t)x, sizeof h);
                v = __builtin_convertvector(h, v4dd);
                f = __builtin_convertvector(h, v4fs);
            }
            memcpy(row + x, &f, sizeof f);
            const v4ll lt = v < vmn, gt = v > vmx; /* false for NaN */
            vmn = (v4dd)(((v4ll)v & lt) | ((v4ll)vmn & ~lt));
            vmx = (v4dd)(((v4ll)v & gt) | ((v4ll)vmx & ~gt));
            fin -= (v4dd)((v4ll)v & absmask) <= dmax;
        }
    }
    double m0 = *mn, m1 = *mx;
    size_t nf = 0;
    for (int q = 0; q < 4; q++) {
        m0 = vmn[q] < m0 ? vmn[q] : m0;
        m1 = vmx[q] > m1 ? vmx[q] : m1;
        nf += (size_t)fin[q];
    }
    for (; x < n; x++) {
        const double v = img->dtype == FF_F64 ? ((const double *)img->data)[base + (size_t)x]
                                              : ff_image_get(img, base + (size_t)x);
        row[x] = (float)v;
        nf += fabs(v) <= DBL_MAX;
        *big += fabs(v) > FLT_MAX && fabs(v) <= DBL_MAX; /* float64 data only */
        m0 = v < m0 ? v : m0;
        m1 = v > m1 ? v : m1;
    }
    *mn = m0;
    *mx = m1;
    *bad += (size_t)n - nf;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) static void row_in_avx2(const ff_image *img, size_t base, long n,
                                                          float *row, double *mn, double *mx,
                                                          size_t *bad, size_t *big)
{
    row_in_body(img, base, n, row, mn, mx, bad, big);
}
#endif

static void row_in_base(const ff_image *img, size_t base, long n, float *row, double *mn,
                        double *mx, size_t *bad, size_t *big)
{
    row_in_body(img, base, n, row, mn, mx, bad, big);
}

/* Copies the image rows [lo, hi) into the window's data region, tallying NaN/inf/min/max. */
static void scan_rows(void *ctx, int band, size_t lo, size_t hi)
{
    job *j = ctx;
    struct scan s = {0, 0, 0, 0, INFINITY, -INFINITY};
    const long n = j->n;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    const int avx2 = __builtin_cpu_supports("avx2");
#endif
    for (size_t y = lo; y < hi; y++) {
        float *row = j->W + (size_t)(y + j->pl->pad[1] - j->woff[1]) * (size_t)j->Wn[0] +
                     (size_t)(j->pl->pad[0] - j->woff[0]);
        size_t bad = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (avx2)
            row_in_avx2(j->img, y * (size_t)n, n, row, &s.mn, &s.mx, &bad, &s.big);
        else
#endif
            row_in_base(j->img, y * (size_t)n, n, row, &s.mn, &s.mx, &bad, &s.big);
        if (bad)
            for (long x = 0; x < n; x++)
                s.nan += isnan(row[x]) != 0;
        s.inf += bad;
    }
    s.inf -= s.nan;
    s.finite = (hi - lo) * (size_t)n - s.nan - s.inf;
    j->sc[band] = s;
}

static float *data_row(const job *j, long y)
{
    return j->W + (size_t)(y + j->pl->pad[1] - j->woff[1]) * (size_t)j->Wn[0] +
           (size_t)(j->pl->pad[0] - j->woff[0]);
}

/* Replaces NaN data by nanfill and fills the window's padding. */
static void fill_rows(void *ctx, int band, size_t lo, size_t hi)
{
    (void)band;
    job *j = ctx;
    const long Wx = j->Wn[0];
    for (size_t r = lo; r < hi; r++) {
        float *row = j->W + r * (size_t)Wx;
        long py = (long)r + j->woff[1];
        long y = py - j->pl->pad[1];
        if (y < 0 || y >= j->n) {
            for (long c = 0; c < Wx; c++)
                row[c] = (float)j->fill;
            continue;
        }
        long x0 = j->pl->pad[0] - j->woff[0];
        for (long c = 0; c < x0; c++)
            row[c] = (float)j->fill;
        for (long c = x0 + j->n; c < Wx; c++)
            row[c] = (float)j->fill;
        if (j->path_nan)
            for (long c = x0; c < x0 + j->n; c++)
                if (isnan(row[c]))
                    row[c] = (float)j->nanfill;
    }
}

static void prefilter_rows(void *ctx, int band, size_t lo, size_t hi)
{
    (void)band;
    job *j = ctx;
    for (size_t r = lo; r < hi; r += 8)
        ff_spline_prefilter_rows(j->W + r * (size_t)j->Wn[0], (size_t)j->Wn[0], (size_t)j->Wn[0],
                                 hi - r < 8 ? hi - r : 8);
}

static void prefilter_cols(void *ctx, int band, size_t lo, size_t hi)
{
    (void)band;
    job *j = ctx;
    /* Blocks of 128 columns: 512 bytes of each row per visit (the rows are pages apart). */
    for (size_t c = lo; c < hi; c += 128) {
        size_t cnt = hi - c < 128 ? hi - c : 128;
        ff_spline_prefilter_lines(j->W + c, (size_t)j->Wn[1], (size_t)j->Wn[0], cnt);
    }
}

/* Is the 5x5-dilated NaN mask > 0 at padded pixel (px, py)? */
static int nan_near(const job *j, long px, long py)
{
    const plan *p = j->pl;
    if (j->pad_nan) {
        if (p->pad[0] > 0 && (px < p->pad[0] + NAN_REACH || px >= p->pad[0] + j->n - NAN_REACH))
            return 1;
        if (p->pad[1] > 0 && (py < p->pad[1] + NAN_REACH || py >= p->pad[1] + j->n - NAN_REACH))
            return 1;
    }
    if (j->nanmask) {
        const long nm = j->n + 2 * MASK_OFF;
        long x = px - p->pad[0] + MASK_OFF, y = py - p->pad[1] + MASK_OFF;
        if (x >= 0 && x < nm && y >= 0 && y < nm)
            return j->nanmask[(size_t)y * (size_t)nm + (size_t)x] & NEAR_5x5;
    }
    return 0;
}

/* The NaN map's bits at the floor of (xi, yi), xi and yi >= 0 (0 off the map). */
static inline unsigned mask_bits(const job *j, double xi, double yi)
{
    const long nm = j->n + 2 * MASK_OFF;
    long x = (long)xi - j->pl->pad[0] + MASK_OFF, y = (long)yi - j->pl->pad[1] + MASK_OFF;
    if (x < 0 || x >= nm || y < 0 || y >= nm)
        return 0;
    return j->nanmask[(size_t)y * (size_t)nm + (size_t)x];
}

/* Is masked() surely true at (xi, yi): the 5x5-dilated map set at its first tap (masked()
 * returns 1 on that tap whatever the weights). */
static inline int surely_masked(const job *j, double xi, double yi)
{
    return (mask_bits(j, xi, yi) & NEAR_5x5) != 0;
}

/* Could masked() be true at (xi, yi), clear of NaN padding? 0 means surely not; 1 (almost always
 * a NaN, unless a coordinate is a whole number) asks masked(). One load in place of masked()'s
 * four. */
static inline int maybe_masked(const job *j, double xi, double yi)
{
    return (mask_bits(j, xi, yi) & NEAR_QUAD) != 0;
}

/* sunpy's NaN rule: the order-1 sample of the dilated mask at (xi, yi) is > 0. */
static int masked(const job *j, double xi, double yi)
{
    double fx = floor(xi), fy = floor(yi);
    double wx0 = 1.0 - (xi - fx), wy0 = 1.0 - (yi - fy);
    double wx1 = 1.0 - wx0, wy1 = 1.0 - wy0;
    long x = (long)fx, y = (long)fy;
    if (nan_near(j, x, y))
        return 1;
    if (wx1 > 0 && nan_near(j, x + 1, y))
        return 1;
    if (wy1 > 0 && nan_near(j, x, y + 1))
        return 1;
    if (wx1 > 0 && wy1 > 0 && nan_near(j, x + 1, y + 1))
        return 1;
    return 0;
}

/* The cubic B-spline weights of ff_spline_weights, with 1/6 as a product (a division per
 * weight would dominate the interpolation; the results differ in the last bit at most). */
static inline void weights(double t, double w[4])
{
    const double u = 1.0 - t, sixth = 1.0 / 6.0;
    w[1] = (t * t * (t - 2.0) * 3.0 + 4.0) * sixth;
    w[2] = (u * u * (u - 2.0) * 3.0 + 4.0) * sixth;
    w[0] = u * u * u * sixth;
    w[3] = 1.0 - w[0] - w[1] - w[2];
}

/* Coefficient at padded index (px, py) after scipy's mirror rule; the constant padding beyond
 * the stored window. */
static double coef_edge(const job *j, long px, long py)
{
    px = ff_spline_mirror(px, j->pl->P[0]);
    py = ff_spline_mirror(py, j->pl->P[1]);
    long wx = px - j->woff[0], wy = py - j->woff[1];
    if (wx < 0 || wx >= j->Wn[0] || wy < 0 || wy >= j->Wn[1])
        return j->fill;
    return j->W[(size_t)wy * (size_t)j->Wn[0] + (size_t)wx];
}

/* One output pixel the general way: outside the padded array, sunpy's NaN rule, coefficients
 * beyond the stored window. */
static double sample_slow(const job *j, double xi, double yi)
{
    const plan *p = j->pl;
    if (!(xi >= 0 && xi <= (double)(p->P[0] - 1) && yi >= 0 && yi <= (double)(p->P[1] - 1)))
        return j->cval;
    if (j->path_nan && masked(j, xi, yi))
        return NAN;
    const double fx = floor(xi), fy = floor(yi);
    double wx[4], wy[4];
    weights(xi - fx, wx);
    weights(yi - fy, wy);
    const long sx = (long)fx - 1, sy = (long)fy - 1;
    double v = 0;
    for (int b = 0; b < 4; b++) {
        double r = 0;
        for (int a = 0; a < 4; a++)
            r += wx[a] * coef_edge(j, sx + a, sy + b);
        v += wy[b] * r;
    }
    return v < j->lo ? j->lo : v > j->hi ? j->hi : v;
}

/* Four doubles: one row of the 4x4 coefficient block, or the four weights along x. GCC and
 * clang lower it to whatever vector unit the function is compiled for (SSE2 pairs by default,
 * one AVX register in the AVX2 build of interp_rows below). */
typedef double v4d __attribute__((vector_size(32)));
typedef long long v4l __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

/* Cubic B-spline weights as polynomials in t, one lane per weight. (Results are passed by
 * pointer: returning a vector type by value changes the ABI between the two builds.) */
static inline __attribute__((always_inline)) void weights4(double t, v4d *w)
{
    const v4d A = {-1.0 / 6, 3.0 / 6, -3.0 / 6, 1.0 / 6}, B = {3.0 / 6, -6.0 / 6, 3.0 / 6, 0};
    const v4d C = {-3.0 / 6, 0, 3.0 / 6, 0}, D = {1.0 / 6, 4.0 / 6, 1.0 / 6, 0};
    const v4d tv = {t, t, t, t};
    *w = ((A * tv + B) * tv + C) * tv + D;
}

/* Sample points of output row jy: scipy's arithmetic in scipy's order, ((x*m00) + y*m01) +
 * shift, so that floor() and the edge tests decide alike. Kept out of line: the AVX2 build of
 * the interpolation may fuse multiply-adds, and these must not be. */
static inline __attribute__((always_inline)) void row_coords_body(const plan *p, size_t jy,
                                                                   double *xs, double *ys)
{
    const double m00 = p->m[0][0], m01 = p->m[0][1], m10 = p->m[1][0], m11 = p->m[1][1];
    const double oy = (double)((long)jy + p->off[1]);
    const double ry0 = oy * m01, ry1 = oy * m11, s0 = p->shift[0], s1 = p->shift[1];
    const long w = p->out[0];
    long jx = 0;
    /* Four at a time, each lane the scalar formula (whole numbers are exact in a double) */
    const v4d vm00 = {m00, m00, m00, m00}, vm10 = {m10, m10, m10, m10};
    const v4d vr0 = {ry0, ry0, ry0, ry0}, vr1 = {ry1, ry1, ry1, ry1};
    const v4d vs0 = {s0, s0, s0, s0}, vs1 = {s1, s1, s1, s1}, four = {4, 4, 4, 4};
    const double o = (double)p->off[0];
    v4d ox = {o, o + 1, o + 2, o + 3};
    for (; jx + 4 <= w; jx += 4, ox += four) {
        const v4d x = ((ox * vm00) + vr0) + vs0, y = ((ox * vm10) + vr1) + vs1;
        memcpy(xs + jx, &x, sizeof x);
        memcpy(ys + jx, &y, sizeof y);
    }
    for (; jx < w; jx++) {
        const double sx = (double)(jx + p->off[0]);
        xs[jx] = ((sx * m00) + ry0) + s0;
        ys[jx] = ((sx * m10) + ry1) + s1;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* AVX2 without FMA: nothing here may fuse. */
__attribute__((target("avx2"), noinline)) static void row_coords_avx2(const plan *p, size_t jy,
                                                                      double *xs, double *ys)
{
    row_coords_body(p, jy, xs, ys);
}
#endif

__attribute__((noinline)) static void row_coords(const plan *p, size_t jy, double *xs, double *ys)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx2")) {
        row_coords_avx2(p, jy, xs, ys);
        return;
    }
#endif
    row_coords_body(p, jy, xs, ys);
}

static inline __attribute__((always_inline)) void interp_body(job *j, size_t lo, size_t hi,
                                                               double *xs, double *ys,
                                                               ff_widen4_fn widen)
{
    const plan *p = j->pl;
    const long Wx = j->Wn[0];
    const long w = p->out[0];
    const double vlo = j->lo, vhi = j->hi, rdiv = 1.0 / j->div;
    /* The fast region: all 16 coefficients inside the stored window (so inside the padded
     * array too) and, with NaN padding, both bilinear taps clear of the dilated padding. */
    double xl = (double)(j->woff[0] + 1), xh = (double)(j->woff[0] + Wx - 2);
    double yl = (double)(j->woff[1] + 1), yh = (double)(j->woff[1] + j->Wn[1] - 2);
    if (j->pad_nan) {
        if (p->pad[0] > 0) {
            xl = fmax(xl, (double)(p->pad[0] + NAN_REACH));
            xh = fmin(xh, (double)(p->pad[0] + j->n - NAN_REACH - 1));
        }
        if (p->pad[1] > 0) {
            yl = fmax(yl, (double)(p->pad[1] + NAN_REACH));
            yh = fmin(yh, (double)(p->pad[1] + j->n - NAN_REACH - 1));
        }
    }
    const float *W = j->W;
    const long wx0 = j->woff[0], wy0 = j->woff[1];
    const int check_nans = j->nanmask != NULL;
    for (size_t jy = lo; jy < hi; jy++) {
        row_coords(p, jy, xs, ys);
        float *out = j->out + jy * (size_t)w;
        long jx = 0;
        /* Four pixels at a time when all four are in the fast region: their sums, clipping,
         * scaling and conversion to float go through vectors together. */
        for (; jx + 4 <= w; jx += 4) {
            const double *xi = xs + jx, *yi = ys + jx;
            int inside[4], fast = 1;
            for (int q = 0; q < 4; q++) {
                inside[q] = xi[q] >= xl && xi[q] < xh && yi[q] >= yl && yi[q] < yh;
                fast &= inside[q];
            }
            if (fast && check_nans)
                for (int q = 0; q < 4; q++)
                    fast &= !maybe_masked(j, xi[q], yi[q]);
            if (!fast) {
                /* Inside, with the NaN map set at the first bilinear tap, masked() holds: NaN
                 * straight away (an HMI image's whole off-disk area) */
                for (int q = 0; q < 4; q++)
                    out[jx + q] = inside[q] && check_nans && surely_masked(j, xi[q], yi[q])
                                      ? NAN
                                      : (float)(sample_slow(j, xi[q], yi[q]) * rdiv);
                continue;
            }
            v4d r[4];
            for (int q = 0; q < 4; q++) {
                const long fx = (long)xi[q], fy = (long)yi[q]; /* >= 1: truncation is floor */
                v4d wx, wy, c0, c1, c2, c3;
                weights4(xi[q] - (double)fx, &wx);
                weights4(yi[q] - (double)fy, &wy);
                const float *c = W + (size_t)(fy - 1 - wy0) * (size_t)Wx + (size_t)(fx - 1 - wx0);
                widen(c, &c0);
                widen(c + Wx, &c1);
                widen(c + 2 * Wx, &c2);
                widen(c + 3 * Wx, &c3);
                r[q] = ((wy[0] * c0 + wy[1] * c1) + (wy[2] * c2 + wy[3] * c3)) * wx;
            }
            /* Lane q of v: the sum of r[q]'s lanes. */
            const v4d a = __builtin_shufflevector(r[0], r[1], 0, 4, 2, 6) +
                          __builtin_shufflevector(r[0], r[1], 1, 5, 3, 7);
            const v4d b = __builtin_shufflevector(r[2], r[3], 0, 4, 2, 6) +
                          __builtin_shufflevector(r[2], r[3], 1, 5, 3, 7);
            v4d v = __builtin_shufflevector(a, b, 0, 1, 4, 5) + __builtin_shufflevector(a, b, 2, 3, 6, 7);
            const v4d lo4 = {vlo, vlo, vlo, vlo}, hi4 = {vhi, vhi, vhi, vhi};
            const v4l below = v < lo4, above = v > hi4;
            v = (v4d)(((v4l)v & ~below) | ((v4l)lo4 & below));
            v = (v4d)(((v4l)v & ~above) | ((v4l)hi4 & above));
            v *= rdiv;
            const v4f f = __builtin_convertvector(v, v4f);
            memcpy(out + jx, &f, sizeof f);
        }
        for (; jx < w; jx++)
            out[jx] = (float)(sample_slow(j, xs[jx], ys[jx]) * rdiv);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The AVX2 build, with fused multiply-adds where GCC may contract (clang keeps them apart). */
#if defined(__clang__)
#define FF_AVX2_FMA __attribute__((target("avx2,fma")))
#else
#define FF_AVX2_FMA __attribute__((target("avx2,fma"), optimize("fp-contract=fast")))
#endif
FF_AVX2_FMA static void interp_avx2(job *j, size_t lo, size_t hi, double *xs, double *ys)
{
    interp_body(j, lo, hi, xs, ys, ff_widen4_avx2);
}
#endif

static void interp_base(job *j, size_t lo, size_t hi, double *xs, double *ys)
{
    interp_body(j, lo, hi, xs, ys, ff_widen4_generic);
}

static void interp_rows(void *ctx, int band, size_t lo, size_t hi)
{
    job *j = ctx;
    double *xs = j->coords + (size_t)band * 2 * (size_t)j->pl->out[0];
    double *ys = xs + j->pl->out[0];
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        interp_avx2(j, lo, hi, xs, ys);
        return;
    }
#endif
    interp_base(j, lo, hi, xs, ys);
}

void ff_prep_free(ff_prep *p)
{
    if (!p)
        return;
    ff_image_free(&p->image);
    memset(p, 0, sizeof *p);
}

void ff_prep_release(ff_prep *p, ff_prep_scratch *s)
{
    if (!p)
        return;
    if (s && p->image.data) {
        free(s->out);
        s->out = p->image.data;
        s->out_size = p->image.nelem * sizeof(float);
        p->image.data = NULL;
    }
    ff_prep_free(p);
}

static int skip_with(ff_err *err, const char *msg)
{
    ff_err_set(err, "%s", msg);
    return FF_PREP_SKIP;
}

/* The coefficient window j->W (the scratch's, grown when too small, else fresh) and the result
 * buffer (*outbuf: the scratch's spare when large enough, else fresh); fresh ones are faulted in
 * ahead. -1 when out of memory. */
static int alloc_buffers(job *j, const plan *pl, ff_prep_scratch *scratch, float **outbuf)
{
    size_t wbytes = (size_t)j->Wn[0] * (size_t)j->Wn[1] * sizeof(float);
    int fresh_w = 0, fresh_out = 0;
    if (scratch && scratch->size < wbytes) {
        free(scratch->buf);
        scratch->size = 0;
        if ((scratch->buf = malloc(wbytes))) {
            scratch->size = wbytes;
            fresh_w = 1;
        }
    }
    if (!scratch) {
        j->W = malloc(wbytes);
        fresh_w = 1;
    } else {
        j->W = scratch->buf;
    }
    size_t obytes = (size_t)pl->out[0] * (size_t)pl->out[1] * sizeof(float);
    if (scratch && scratch->out && scratch->out_size >= obytes) {
        *outbuf = scratch->out; /* the result owns it from here */
        scratch->out = NULL;
        scratch->out_size = 0;
    } else {
        *outbuf = malloc(obytes);
        fresh_out = 1;
    }
    if (!j->W || !*outbuf)
        return -1;
    if (fresh_w)
        prefault(j->W, wbytes, j->nth);
    if (fresh_out)
        prefault(*outbuf, obytes, j->nth);
    return 0;
}

typedef struct value_stats {
    size_t nan, inf, finite, big; /* big: finite but beyond float32 (float64 data) */
    double mn, mx;
} value_stats;

/* The image's NaNs, infinities, finite values and range, scanned on the job's threads. */
static value_stats scan_values(job *j)
{
    ff_prep_parallel(j->nth, (size_t)j->n, scan_rows, j);
    value_stats v = {0, 0, 0, 0, INFINITY, -INFINITY};
    for (int t = 0; t < j->nth; t++) {
        v.big += j->sc[t].big;
        v.nan += j->sc[t].nan;
        v.inf += j->sc[t].inf;
        v.finite += j->sc[t].finite;
        v.mn = fmin(v.mn, j->sc[t].mn);
        v.mx = fmax(v.mx, j->sc[t].mx);
    }
    return v;
}

/* The NaN map (job.nanmask), built in two passes over rows on every core. Row pass: each
 * mask row's NaNs ORed over x-2..x+2 (bit NEAR_5x5) and x-2..x+3 (NEAR_QUAD) into rows; column
 * pass: rows y-2..y+2 and y-2..y+3 likewise into the mask. Outside the image the map is 0, as
 * scipy's convolve2d(mode='same') pads. Eight bytes at a time: the bits never carry. */
typedef struct mask_job {
    job *j;
    uint8_t *rows, *zero; /* the row pass's output; a row of zeros */
    uint8_t *raw;         /* per band: one row's NaNs */
    long nm;
} mask_job;

static inline uint64_t load8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void mask_row_pass(void *ctx, int band, size_t lo, size_t hi)
{
    (void)band;
    mask_job *m = ctx;
    const long nm = m->nm, n = m->j->n;
    /* raw[k] = NaN at mask pixel k - NAN_REACH, zero padded: NAN_REACH before, NAN_REACH+1
     * after, and 8 more so that the word loads below stay inside */
    const size_t nraw = (size_t)nm + 2 * NAN_REACH + 1 + 8;
    uint8_t *raw = m->raw + (size_t)band * nraw;
    for (size_t y = lo; y < hi; y++) {
        uint8_t *out = m->rows + y * (size_t)nm;
        long iy = (long)y - MASK_OFF;
        if (iy < 0 || iy >= n) {
            memset(out, 0, (size_t)nm);
            continue;
        }
        memset(raw, 0, nraw);
        const float *row = data_row(m->j, iy);
        uint8_t *r = raw + NAN_REACH + MASK_OFF;
        for (long x = 0; x < n; x++)
            r[x] = isnan(row[x]) != 0;
        long x = 0;
        for (; x + 8 <= nm; x += 8) {
            const uint64_t a = load8(raw + x) | load8(raw + x + 1) | load8(raw + x + 2) |
                               load8(raw + x + 3) | load8(raw + x + 4);
            const uint64_t q = a | load8(raw + x + 5);
            const uint64_t v = a | (q << 1); /* bytes 0 or 1: the shift stays in its byte */
            memcpy(out + x, &v, sizeof v);
        }
        for (; x < nm; x++) {
            const uint8_t a = raw[x] | raw[x + 1] | raw[x + 2] | raw[x + 3] | raw[x + 4];
            out[x] = (uint8_t)(a | ((a | raw[x + 5]) << 1));
        }
    }
}

static void mask_col_pass(void *ctx, int band, size_t lo, size_t hi)
{
    (void)band;
    mask_job *m = ctx;
    const long nm = m->nm;
    const uint64_t b5 = 0x0101010101010101ULL * NEAR_5x5, bq = 0x0101010101010101ULL * NEAR_QUAD;
    for (size_t y = lo; y < hi; y++) {
        const uint8_t *r[6];
        for (int k = 0; k < 6; k++) {
            long yy = (long)y - NAN_REACH + k;
            r[k] = yy >= 0 && yy < nm ? m->rows + (size_t)yy * (size_t)nm : m->zero;
        }
        uint8_t *out = m->j->nanmask + y * (size_t)nm;
        long x = 0;
        for (; x + 8 <= nm; x += 8) {
            const uint64_t a = load8(r[0] + x) | load8(r[1] + x) | load8(r[2] + x) |
                               load8(r[3] + x) | load8(r[4] + x);
            const uint64_t v = (a & b5) | ((a | load8(r[5] + x)) & bq);
            memcpy(out + x, &v, sizeof v);
        }
        for (; x < nm; x++) {
            const uint8_t a = r[0][x] | r[1][x] | r[2][x] | r[3][x] | r[4][x];
            out[x] = (uint8_t)((a & NEAR_5x5) | ((a | r[5][x]) & NEAR_QUAD));
        }
    }
}

/* -1 when out of memory. */
static int build_nanmask(job *j)
{
    const long nm = j->n + 2 * MASK_OFF;
    size_t nn = (size_t)nm * (size_t)nm;
    mask_job m = {j, malloc(nn), calloc((size_t)nm, 1),
                  malloc((size_t)MAX_THREADS * ((size_t)nm + 2 * NAN_REACH + 1 + 8)), nm};
    j->nanmask = malloc(nn);
    int rc = m.rows && m.zero && m.raw && j->nanmask ? 0 : -1;
    if (rc == 0) {
        prefault(m.rows, nn, j->nth);
        prefault(j->nanmask, nn, j->nth);
        ff_prep_parallel(j->nth, (size_t)nm, mask_row_pass, &m);
        ff_prep_parallel(j->nth, (size_t)nm, mask_col_pass, &m);
    }
    free(m.rows);
    free(m.zero);
    free(m.raw);
    return rc;
}

/* sunpy's handling of missing values: what the padding and input NaNs become (the median of the
 * finite values, as numpy substitutes it in the image's own dtype, when NaNs are in play), the
 * clip range, and the NaN map. -1 when out of memory. */
static int plan_missing(job *j, const plan *pl, const value_stats *v)
{
    const int padded = pl->pad[0] > 0 || pl->pad[1] > 0;
    const double missing = j->missing_min ? v->mn : NAN;
    j->pad_nan = !j->missing_min && padded;
    j->path_nan = v->nan > 0 || j->pad_nan;
    j->cval = missing;
    j->lo = v->mn;
    j->hi = v->mx;
    j->fill = missing;
    j->nanfill = NAN;
    if (!j->path_nan)
        return 0;
    uint64_t extra = 0;
    if (j->missing_min && padded)
        extra = (uint64_t)pl->P[0] * (uint64_t)pl->P[1] - (uint64_t)pl->n * (uint64_t)pl->n;
    double med;
    if (ff_prep_nanmedian(j->img, v->finite, j->nth, extra, v->mn, &med) != 0)
        return -1;
    if (j->img->dtype == FF_F32)
        med = (float)med;
    j->nanfill = med;
    if (j->pad_nan)
        j->fill = med;
    return v->nan ? build_nanmask(j) : 0;
}

/* Exposure normalisation: AIA only, EXPTIME > 0 and plausible; otherwise why not. */
static void plan_normalisation(job *j, const ff_prep_geom *g, ff_prep *out)
{
    j->div = 1.0;
    if (g->inst != FF_PREP_AIA) {
        snprintf(out->norm_reason, sizeof out->norm_reason, "HMI images are not normalised");
    } else if (!isfinite(g->exptime)) {
        snprintf(out->norm_reason, sizeof out->norm_reason, "EXPTIME missing or not a number");
    } else if (!(g->exptime > 0)) {
        snprintf(out->norm_reason, sizeof out->norm_reason, "EXPTIME is %.6g s (not positive)",
                 g->exptime);
    } else if (!(g->exptime >= 1e-6 && g->exptime <= 1e5)) {
        /* AIA exposes for milliseconds to seconds; dividing by 1e-300 would overflow. */
        snprintf(out->norm_reason, sizeof out->norm_reason, "EXPTIME %.6g s is implausible",
                 g->exptime);
    } else {
        j->div = g->exptime;
        out->normalised = 1;
    }
}

/* The result: the registered image (outbuf, taken) and where it sits. */
static void fill_result(ff_prep *out, const ff_prep_geom *g, const plan *pl, float *outbuf)
{
    out->geom = *g;
    out->image.dtype = FF_F32;
    out->image.ndim = 2;
    out->image.shape[0] = (size_t)pl->out[1];
    out->image.shape[1] = (size_t)pl->out[0];
    out->image.nelem = (size_t)pl->out[0] * (size_t)pl->out[1];
    out->image.data = outbuf;
    out->crpix[0] = pl->crpix[0];
    out->crpix[1] = pl->crpix[1];
    out->crval[0] = g->crval[0];
    out->crval[1] = g->crval[1];
    out->cdelt = g->target;
    out->rsun_px = g->rsun_arcsec / g->target;
}

/* After the checks: scan, plan what missing values become, fill and prefilter the window, then
 * interpolate every output row. */
static int register_image(job *j, const plan *pl, const ff_prep_geom *g, ff_prep_scratch *scratch,
                          ff_prep *out, ff_err *err)
{
    float *outbuf = NULL;
    if (alloc_buffers(j, pl, scratch, &outbuf) != 0) {
        free(outbuf);
        return ff_err_set(err, "level 1.5: out of memory for a %ldx%ld image", pl->P[0], pl->P[1]);
    }
    value_stats v = scan_values(j);
    int rc = FF_PREP_OK;
    if (v.inf)
        rc = skip_with(err, "the image holds infinite values");
    else if (v.big)
        rc = skip_with(err, "the image holds values beyond float32's range (level 1.5 is float32)");
    else if (!v.finite)
        rc = skip_with(err, "the image has no finite pixel (all NaN)");
    else if (plan_missing(j, pl, &v) != 0)
        rc = ff_err_set(err, "level 1.5: out of memory");
    if (rc != FF_PREP_OK) {
        free(outbuf);
        return rc;
    }
    ff_prep_parallel(j->nth, (size_t)j->Wn[1], fill_rows, j);
    ff_prep_parallel(j->nth, (size_t)j->Wn[1], prefilter_rows, j);
    ff_prep_parallel(j->nth, (size_t)j->Wn[0], prefilter_cols, j);
    plan_normalisation(j, g, out);
    j->out = outbuf;
    j->coords = malloc((size_t)j->nth * 2 * (size_t)pl->out[0] * sizeof(double));
    if (!j->coords) {
        free(outbuf);
        return ff_err_set(err, "level 1.5: out of memory");
    }
    ff_prep_parallel(j->nth, (size_t)pl->out[1], interp_rows, j);
    fill_result(out, g, pl, outbuf);
    return FF_PREP_OK;
}

int ff_prep_run(const ff_header *h, const ff_image *img, const ff_prep_opts *opts, ff_prep *out,
                ff_err *err)
{
    memset(out, 0, sizeof *out);
    ff_prep_opts o = opts ? *opts : (ff_prep_opts){0, 0, NULL};
    ff_prep_geom g;
    int rc = ff_prep_check(h, img, &g, err);
    if (rc != FF_PREP_OK)
        return rc;
    plan pl;
    if (make_plan(&g, &pl, err) != 0)
        return -1;
    job *j = calloc(1, sizeof *j);
    if (!j)
        return ff_err_set(err, "level 1.5: out of memory");
    j->img = img;
    j->pl = &pl;
    j->n = pl.n;
    j->nth = ff_prep_nthreads(o.nthreads);
    j->missing_min = o.missing_min != 0;
    for (int k = 0; k < 2; k++) {
        long mk = pl.pad[k] < MARGIN ? pl.pad[k] : MARGIN;
        j->Wn[k] = pl.n + 2 * mk;
        j->woff[k] = pl.pad[k] - mk;
    }
    rc = register_image(j, &pl, &g, o.scratch, out, err);
    if (rc != FF_PREP_OK)
        memset(out, 0, sizeof *out);
    if (!o.scratch)
        free(j->W);
    free(j->nanmask);
    free(j->coords);
    free(j);
    return rc;
}
