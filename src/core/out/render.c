/* Scaling, orientation and downsampling of one image plane into 8-bit levels, and the two PNG
 * encodes. The shape of the code follows from speed on 4096x4096 images:
 *  - pixels are read a row at a time into doubles (NaN = missing), so each dtype has one loop;
 *  - percentiles come from a regular subsample by selection, not a sort of every pixel;
 *  - the stretch is a 65536-entry table over the linear position between lo and hi, so asinh
 *    is evaluated 65536 times rather than once per pixel;
 *  - gray and colour share one level buffer (0 = missing): the colour PNG is the same bytes with
 *    a palette, so both compress alike and can be encoded in parallel. */
#include "core/out/render.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/out/colormap.h"
#include "core/out/png.h"

#define SAMPLE_TARGET ((size_t)1 << 20)
#define LUT_BITS 16
#define LUT_SIZE ((size_t)1 << LUT_BITS)
#define ASINH_A 0.01
#define MAG_CLIP 1500.0
#define MAX_SIDE 0x7fffffffu

/* One 2-D plane of the input (or of the downsampled image, as F64). */
typedef struct plane {
    ff_dtype dtype;
    const void *data;
    size_t w, h;
    int use_blank;
    int64_t blank;
} plane;

static int blank_fits(ff_dtype t, int64_t b)
{
    switch (t) {
    case FF_U8: return b >= 0 && b <= UINT8_MAX;
    case FF_I8: return b >= INT8_MIN && b <= INT8_MAX;
    case FF_I16: return b >= INT16_MIN && b <= INT16_MAX;
    case FF_U16: return b >= 0 && b <= UINT16_MAX;
    case FF_I32: return b >= INT32_MIN && b <= INT32_MAX;
    case FF_U32: return b >= 0 && b <= (int64_t)UINT32_MAX;
    case FF_I64: return 1;
    case FF_U64: return b >= 0;
    case FF_F32: case FF_F64: return 0; /* BLANK applies to integer data only */
    }
    return 0;
}

#define LOAD_INT(T)                                                                              \
    do {                                                                                         \
        const T *s = (const T *)pl->data + r * w;                                                \
        if (pl->use_blank) {                                                                     \
            const T b = (T)pl->blank;                                                            \
            for (size_t i = 0; i < w; i++)                                                       \
                out[i] = s[i] == b ? NAN : (double)s[i];                                         \
        } else {                                                                                 \
            for (size_t i = 0; i < w; i++)                                                       \
                out[i] = (double)s[i];                                                           \
        }                                                                                        \
    } while (0)

#define LOAD_FLOAT(T)                                                                            \
    do {                                                                                         \
        const T *s = (const T *)pl->data + r * w;                                                \
        for (size_t i = 0; i < w; i++) {                                                         \
            double v = s[i];                                                                     \
            out[i] = isfinite(v) ? v : NAN;                                                      \
        }                                                                                        \
    } while (0)

/* Row r of the plane as doubles, NaN where the pixel is missing. */
static void load_row(const plane *pl, size_t r, double *out)
{
    const size_t w = pl->w;
    switch (pl->dtype) {
    case FF_U8: LOAD_INT(uint8_t); break;
    case FF_I8: LOAD_INT(int8_t); break;
    case FF_I16: LOAD_INT(int16_t); break;
    case FF_U16: LOAD_INT(uint16_t); break;
    case FF_I32: LOAD_INT(int32_t); break;
    case FF_U32: LOAD_INT(uint32_t); break;
    case FF_I64: LOAD_INT(int64_t); break;
    case FF_U64: LOAD_INT(uint64_t); break;
    case FF_F32: LOAD_FLOAT(float); break;
    case FF_F64: LOAD_FLOAT(double); break;
    }
}

/* Every step'th value of row r from column x0 on, as doubles (NaN = missing), into out; returns
 * how many were written. Only the sampled pixels are converted. */
#define SAMPLE_INT(T)                                                                            \
    do {                                                                                         \
        const T *s = (const T *)pl->data + r * pl->w;                                            \
        for (size_t c = x0; c < pl->w; c += step)                                                \
            out[m++] = pl->use_blank && s[c] == (T)pl->blank ? NAN : (double)s[c];              \
    } while (0)
#define SAMPLE_FLOAT(T)                                                                          \
    do {                                                                                         \
        const T *s = (const T *)pl->data + r * pl->w;                                            \
        for (size_t c = x0; c < pl->w; c += step) {                                              \
            double v = s[c];                                                                     \
            out[m++] = isfinite(v) ? v : NAN;                                                    \
        }                                                                                        \
    } while (0)

static size_t load_strided(const plane *pl, size_t r, size_t x0, size_t step, double *out)
{
    size_t m = 0;
    switch (pl->dtype) {
    case FF_U8: SAMPLE_INT(uint8_t); break;
    case FF_I8: SAMPLE_INT(int8_t); break;
    case FF_I16: SAMPLE_INT(int16_t); break;
    case FF_U16: SAMPLE_INT(uint16_t); break;
    case FF_I32: SAMPLE_INT(int32_t); break;
    case FF_U32: SAMPLE_INT(uint32_t); break;
    case FF_I64: SAMPLE_INT(int64_t); break;
    case FF_U64: SAMPLE_INT(uint64_t); break;
    case FF_F32: SAMPLE_FLOAT(float); break;
    case FF_F64: SAMPLE_FLOAT(double); break;
    }
    return m;
}

/* Runs fn(arg, part, nparts) for part 0..nparts-1 on nparts threads (the caller's among them);
 * a part whose thread cannot be started runs on the caller's. */
typedef struct part_run {
    void (*fn)(void *arg, int part, int nparts);
    void *arg;
    int part, nparts;
} part_run;

static void *part_main(void *a)
{
    part_run *r = a;
    r->fn(r->arg, r->part, r->nparts);
    return NULL;
}

#define MAX_PARTS 16
static void run_parts(void (*fn)(void *, int, int), void *arg, int nparts)
{
    if (nparts > MAX_PARTS)
        nparts = MAX_PARTS;
    if (nparts < 1)
        nparts = 1;
    pthread_t th[MAX_PARTS];
    part_run runs[MAX_PARTS];
    int started[MAX_PARTS] = {0};
    for (int i = 1; i < nparts; i++) {
        runs[i] = (part_run){fn, arg, i, nparts};
        started[i] = pthread_create(&th[i], NULL, part_main, &runs[i]) == 0;
    }
    fn(arg, 0, nparts);
    for (int i = 1; i < nparts; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            fn(arg, i, nparts);
    }
}

/* ---- percentiles ---------------------------------------------------------------------------- */

static inline void swapd(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* The k-th smallest of a[0..n) (0-based). Afterwards a[i] <= a[k] for i < k and a[i] >= a[k]
 * for i > k. Three-way partitions (many equal values are common: zeros off the disk) around the
 * median of three pseudo-randomly chosen elements. */
static double select_k(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    while (hi - lo > 1) {
        size_t len = hi - lo;
        double c[3];
        for (int t = 0; t < 3; t++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            c[t] = a[lo + (size_t)(rng % len)];
        }
        double piv = c[0] < c[1] ? (c[1] < c[2] ? c[1] : (c[0] < c[2] ? c[2] : c[0]))
                                 : (c[0] < c[2] ? c[0] : (c[1] < c[2] ? c[2] : c[1]));
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (a[i] < piv)
                swapd(&a[lt++], &a[i++]);
            else if (a[i] > piv)
                swapd(&a[i], &a[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else {
            a[k] = piv;
            return piv;
        }
    }
    return a[k];
}

static double percentile_at(double *a, size_t n, size_t from, double p)
{
    double pos = p / 100.0 * (double)(n - 1);
    size_t k = (size_t)pos;
    if (k >= n)
        k = n - 1;
    if (k < from)
        k = from;
    double frac = pos - (double)k;
    select_k(a + from, n - from, k - from);
    double v = a[k];
    if (frac > 0 && k + 1 < n) {
        double next = a[k + 1];
        for (size_t i = k + 2; i < n; i++)
            if (a[i] < next)
                next = a[i];
        v = v * (1.0 - frac) + next * frac; /* no overflow for values of opposite sign */
    }
    return v;
}

typedef struct pct_job {
    double *a;
    size_t n;
    double p, v;
} pct_job;

static void pct_part(void *arg, int part, int nparts)
{
    (void)nparts;
    pct_job *j = (pct_job *)arg + part;
    j->v = percentile_at(j->a, j->n, 0, j->p);
}

/* ff_percentiles with the two selections on two threads, the second on a copy of the values. */
static void percentiles_2(double *vals, size_t n, double plo, double phi, double *lo, double *hi)
{
    double *copy = n >= 65536 ? malloc(n * sizeof *copy) : NULL;
    if (!copy) {
        ff_percentiles(vals, n, plo, phi, lo, hi);
        return;
    }
    memcpy(copy, vals, n * sizeof *copy);
    pct_job j[2] = {{vals, n, plo, 0}, {copy, n, phi, 0}};
    run_parts(pct_part, j, 2);
    *lo = j[0].v;
    *hi = j[1].v;
    free(copy);
}

int ff_percentiles(double *vals, size_t n, double plo, double phi, double *lo, double *hi)
{
    if (n == 0 || !(plo >= 0) || !(phi <= 100) || !(plo <= phi))
        return -1;
    *lo = percentile_at(vals, n, 0, plo);
    size_t klo = (size_t)(plo / 100.0 * (double)(n - 1));
    *hi = percentile_at(vals, n, klo < n ? klo : n - 1, phi);
    return 0;
}

/* ---- sampling ------------------------------------------------------------------------------- */

/* The sampled rows of one part: row i (0-based among the sampled ones) gives cols values at
 * v + i * cols; the part keeps its valid ones, packed from its first slot, and counts them. */
typedef struct sample_job {
    const plane *pl;
    size_t y0, sy, x0, sx, rows, cols;
    double *v;
    size_t count[MAX_PARTS], first[MAX_PARTS];
} sample_job;

static void sample_part(void *arg, int part, int nparts)
{
    sample_job *j = arg;
    size_t i0 = j->rows * (size_t)part / (size_t)nparts, i1 = j->rows * (size_t)(part + 1) / (size_t)nparts;
    double *base = j->v + i0 * j->cols;
    size_t m = 0;
    for (size_t i = i0; i < i1; i++) {
        double *out = j->v + i * j->cols;
        size_t got = load_strided(j->pl, j->y0 + i * j->sy, j->x0, j->sx, out);
        for (size_t c = 0; c < got; c++)
            if (out[c] == out[c])
                base[m++] = out[c];
    }
    j->first[part] = i0 * j->cols;
    j->count[part] = m;
}

/* Valid values of a regular subsample of about SAMPLE_TARGET pixels (every pixel of a smaller
 * image), gathered on nthreads threads. When the grid misses nearly everything (sparse valid
 * pixels), falls back to the first SAMPLE_TARGET valid pixels in row order. *vals is malloc'd. */
static int collect_sample(const plane *pl, double *row, int nthreads, double **vals, size_t *n,
                          ff_err *err)
{
    size_t w = pl->w, h = pl->h, total = w * h;
    size_t sy = 1, sx = 1;
    if (total > SAMPLE_TARGET) {
        size_t s = (size_t)ceil(sqrt((double)total / (double)SAMPLE_TARGET));
        sy = s < h ? s : h;
        size_t rows = (h + sy - 1) / sy;
        sx = (w * rows + SAMPLE_TARGET - 1) / SAMPLE_TARGET;
        if (sx > w)
            sx = w;
        if (sx < 1)
            sx = 1;
    }
    size_t y0 = sy / 2, x0 = sx / 2;
    size_t rows = (h - y0 + sy - 1) / sy, cols = (w - x0 + sx - 1) / sx;
    size_t cap = rows * cols;
    if (cap < SAMPLE_TARGET && total > cap)
        cap = total < SAMPLE_TARGET ? total : SAMPLE_TARGET;
    double *v = malloc(cap * sizeof *v);
    if (!v)
        return ff_err_set(err, "out of memory for a %zu-value percentile sample", cap);
    sample_job sj = {.pl = pl, .y0 = y0, .sy = sy, .x0 = x0, .sx = sx, .rows = rows, .cols = cols, .v = v};
    int parts = rows >= 256 ? nthreads : 1;
    if (parts > MAX_PARTS)
        parts = MAX_PARTS;
    run_parts(sample_part, &sj, parts);
    size_t m = 0;
    for (int t = 0; t < (parts < 1 ? 1 : parts); t++) {
        memmove(v + m, v + sj.first[t], sj.count[t] * sizeof *v);
        m += sj.count[t];
    }
    if (m < 1000 && (sx > 1 || sy > 1)) {
        m = 0;
        for (size_t r = 0; r < h && m < cap; r++) {
            load_row(pl, r, row);
            for (size_t c = 0; c < w && m < cap; c++)
                if (row[c] == row[c])
                    v[m++] = row[c];
        }
    }
    *vals = v;
    *n = m;
    return 0;
}

/* ---- the stretch ---------------------------------------------------------------------------- */

typedef enum { ST_LINEAR, ST_ASINH } stretch_kind;

typedef struct scaler {
    int constant;     /* every valid pixel equals c (or the sample said so) */
    double c;
    double half_lo;   /* lo / 2 */
    double inv;       /* 1 / (hi/2 - lo/2); halves keep hi - lo finite for any finite lo, hi */
    uint8_t lut[LUT_SIZE];
} scaler;

static void scaler_init(scaler *sc, stretch_kind kind, double lo, double hi)
{
    double span = hi * 0.5 - lo * 0.5;
    sc->constant = 0;
    sc->half_lo = lo * 0.5;
    sc->inv = span > 0 ? 1.0 / span : 0;
    if (!(span > 0) || !isfinite(sc->inv)) {
        sc->constant = 1;
        sc->c = lo;
    }
    double norm = asinh(1.0 / ASINH_A);
    for (size_t i = 0; i < LUT_SIZE; i++) {
        double x = (double)i / (double)(LUT_SIZE - 1);
        double y = kind == ST_ASINH ? asinh(x / ASINH_A) / norm : x;
        if (y > 1)
            y = 1;
        if (!(y > 0))
            y = 0;
        sc->lut[i] = (uint8_t)(1 + lround(254.0 * y));
    }
}

/* Levels of n values (NaN -> 0); returns how many were missing. */
static size_t map_row(const scaler *sc, const double *v, size_t n, uint8_t *out)
{
    size_t missing = 0;
    if (sc->constant) {
        for (size_t i = 0; i < n; i++) {
            double x = v[i];
            if (x != x) {
                out[i] = 0;
                missing++;
            } else {
                out[i] = x < sc->c ? 1 : x > sc->c ? 255 : 128;
            }
        }
        return missing;
    }
    const double hl = sc->half_lo, inv = sc->inv, scale = (double)(LUT_SIZE - 1);
    for (size_t i = 0; i < n; i++) { /* branch-free: NaN gives a valid index, then level 0 */
        double x = v[i];
        double t = (x * 0.5 - hl) * inv;
        t = t < 1 ? t : 1;
        t = t > 0 ? t : 0;
        uint8_t l = sc->lut[(size_t)(t * scale + 0.5)];
        int ok = x == x;
        out[i] = ok ? l : 0;
        missing += (size_t)!ok;
    }
    return missing;
}

/* For 8- and 16-bit integer data: the level of every possible stored value (BLANK -> 0), indexed
 * by the value's bit pattern, so a pixel costs one table load. */
static int small_int(ff_dtype t)
{
    return t == FF_U8 || t == FF_I8 || t == FF_I16 || t == FF_U16;
}

static int build_int_lut(const plane *pl, const scaler *sc, uint8_t *lut, ff_err *err)
{
    double *v = malloc(65536 * sizeof *v);
    if (!v)
        return ff_err_set(err, "out of memory for a level table");
    for (uint32_t bits = 0; bits < 65536; bits++) {
        int64_t x;
        switch (pl->dtype) {
        case FF_U8: x = (uint8_t)bits; break;
        case FF_I8: x = (int8_t)(uint8_t)bits; break;
        case FF_I16: x = (int16_t)(uint16_t)bits; break;
        default: x = (uint16_t)bits; break;
        }
        v[bits] = pl->use_blank && x == pl->blank ? NAN : (double)x;
    }
    map_row(sc, v, 65536, lut);
    free(v);
    return 0;
}

/* Levels of row r of pl into out; returns how many pixels were missing. */
static size_t map_plane_row(const plane *pl, size_t r, const scaler *sc, const uint8_t *ilut,
                            double *row, uint8_t *out)
{
    size_t w = pl->w, missing = 0;
    if (!ilut) {
        load_row(pl, r, row);
        return map_row(sc, row, w, out);
    }
    switch (pl->dtype) {
    case FF_U8: case FF_I8: {
        const uint8_t *s = (const uint8_t *)pl->data + r * w;
        for (size_t i = 0; i < w; i++)
            out[i] = ilut[s[i]];
        break;
    }
    default: {
        const uint16_t *s = (const uint16_t *)pl->data + r * w;
        for (size_t i = 0; i < w; i++)
            out[i] = ilut[s[i]];
        break;
    }
    }
    for (size_t i = 0; i < w; i++)
        missing += out[i] == 0;
    return missing;
}

/* The levels of rows [r0, r1) of the plane, in the orientation of quarter turn k (0 and 2 into
 * out directly, 1 and 3 into lev for orient_turn); one part per thread. */
typedef struct map_job {
    const plane *pl;
    const scaler *sc;
    const uint8_t *ilut;
    int k;
    uint8_t *out, *lev;
    size_t missing[MAX_PARTS];
    int failed[MAX_PARTS];
} map_job;

static void map_part(void *arg, int part, int nparts)
{
    map_job *j = arg;
    const plane *pl = j->pl;
    size_t ow = pl->w, oh = pl->h;
    size_t r0 = oh * (size_t)part / (size_t)nparts, r1 = oh * (size_t)(part + 1) / (size_t)nparts;
    double *row = j->ilut ? NULL : malloc(ow * sizeof *row);
    if (!j->ilut && !row) {
        j->failed[part] = 1;
        return;
    }
    size_t missing = 0;
    for (size_t r = r0; r < r1; r++) {
        if (j->k == 0) {
            missing += map_plane_row(pl, r, j->sc, j->ilut, row, j->out + (oh - 1 - r) * ow);
        } else if (j->k == 2) { /* dst row r = src row r reversed */
            uint8_t *d = j->out + r * ow;
            missing += map_plane_row(pl, r, j->sc, j->ilut, row, d);
            for (size_t a = 0, b = ow - 1; a < b; a++, b--) {
                uint8_t t = d[a];
                d[a] = d[b];
                d[b] = t;
            }
        } else {
            missing += map_plane_row(pl, r, j->sc, j->ilut, row, j->lev + r * ow);
        }
    }
    free(row);
    j->missing[part] = missing;
}

/* ---- downsampling --------------------------------------------------------------------------- */

/* For each of n input cells, the first of the (at most two) output cells of the m < n it
 * overlaps and the overlap with it, in units where an input cell is m long and an output cell n
 * long (exact integers). */
static void box_weights(size_t n, size_t m, size_t *first, double *w0)
{
    for (size_t x = 0; x < n; x++) {
        size_t a = x * m, j = a / n, end0 = (j + 1) * n;
        size_t ov = (end0 < a + m ? end0 : a + m) - a;
        first[x] = j;
        w0[x] = (double)ov;
    }
}

/* Area average of pl into an ow x oh F64 plane (NaN where no valid pixel contributes). */
static int downsample(const plane *pl, size_t ow, size_t oh, double *row, double **outp,
                      ff_err *err)
{
    size_t w = pl->w, h = pl->h;
    double *sum = calloc(ow * oh, sizeof *sum);
    double *wsum = calloc(ow * oh, sizeof *wsum);
    double *rs = malloc(2 * ow * sizeof *rs);
    size_t *fx = malloc(w * sizeof *fx), *fy = malloc(h * sizeof *fy);
    double *wx = malloc(w * sizeof *wx), *wy = malloc(h * sizeof *wy);
    int rc = -1;
    if (!sum || !wsum || !rs || !fx || !fy || !wx || !wy) {
        ff_err_set(err, "out of memory downsampling to %zux%zu", ow, oh);
        goto done;
    }
    box_weights(w, ow, fx, wx);
    box_weights(h, oh, fy, wy);
    double *rw = rs + ow;
    for (size_t r = 0; r < h; r++) {
        load_row(pl, r, row);
        memset(rs, 0, 2 * ow * sizeof *rs);
        for (size_t x = 0; x < w; x++) {
            double v = row[x];
            if (v != v)
                continue;
            size_t j = fx[x];
            double a = wx[x], b = (double)ow - a;
            rs[j] += a * v;
            rw[j] += a;
            if (b > 0) {
                rs[j + 1] += b * v;
                rw[j + 1] += b;
            }
        }
        size_t i = fy[r];
        double a = wy[r], b = (double)oh - a;
        for (size_t j = 0; j < ow; j++) {
            sum[i * ow + j] += a * rs[j];
            wsum[i * ow + j] += a * rw[j];
        }
        if (b > 0)
            for (size_t j = 0; j < ow; j++) {
                sum[(i + 1) * ow + j] += b * rs[j];
                wsum[(i + 1) * ow + j] += b * rw[j];
            }
    }
    for (size_t k = 0; k < ow * oh; k++) {
        double v = wsum[k] > 0 ? sum[k] / wsum[k] : NAN;
        sum[k] = isfinite(v) ? v : NAN;
    }
    *outp = sum;
    sum = NULL;
    rc = 0;
done:
    free(sum);
    free(wsum);
    free(rs);
    free(fx);
    free(fy);
    free(wx);
    free(wy);
    return rc;
}

/* ---- the description ------------------------------------------------------------------------ */

static int eq(const char *s, const char *want)
{
    return strcasecmp(s, want) == 0;
}

typedef struct plan {
    stretch_kind kind;
    int fixed;             /* fixed range (magnetogram) instead of percentiles */
    double plo, phi;       /* percentiles */
    double lo, hi;         /* the range used */
    int aia, mag;
} plan;

static void make_plan(const char *inst, const char *meas, plan *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->aia = eq(inst, "AIA");
    pl->mag = strcasestr(meas, "magnetogram") != NULL;
    if (pl->mag) {
        pl->kind = ST_LINEAR;
        pl->fixed = 1;
        pl->lo = -MAG_CLIP;
        pl->hi = MAG_CLIP;
    } else if (pl->aia || eq(inst, "EIT") || eq(inst, "EUVI") || eq(inst, "SWAP") ||
               eq(inst, "SUVI")) {
        pl->kind = ST_ASINH;
        pl->plo = 0.5;
        pl->phi = 99.9;
    } else if (eq(inst, "HMI")) {
        pl->kind = ST_LINEAR;
        pl->plo = 0.5;
        pl->phi = 99.9;
    } else {
        pl->kind = ST_LINEAR;
        pl->plo = 1;
        pl->phi = 99;
    }
}

/* Appends printf-style text to buf (of size n, holding a string). */
__attribute__((format(printf, 3, 4))) static void append(char *buf, size_t n, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

/* ---- orientation ---------------------------------------------------------------------------- */

/* Quarter turns (counter-clockwise, as the image is seen with row 0 at the bottom) that put
 * solar north up: the image's +y axis is CROTA2 degrees from north. */
static int quarter_turns(double crota2, double *residual)
{
    if (!isfinite(crota2)) {
        *residual = 0;
        return 0;
    }
    double a = fmod(crota2, 360.0);
    if (a < 0)
        a += 360.0;
    double q = floor(a / 90.0 + 0.5);
    *residual = a - q * 90.0;
    return (int)q % 4;
}

/* dst (rows top first) from src (w x h, row 0 at the bottom) turned k quarter turns. For k = 1
 * and 3 the result is h wide and w high. Tiled so both sides stay in cache. */
static void orient_turn(const uint8_t *src, size_t w, size_t h, int k, uint8_t *dst)
{
    const size_t T = 64, dw = h, dh = w;
    for (size_t i0 = 0; i0 < dh; i0 += T)
        for (size_t j0 = 0; j0 < dw; j0 += T) {
            size_t i1 = i0 + T < dh ? i0 + T : dh, j1 = j0 + T < dw ? j0 + T : dw;
            for (size_t i = i0; i < i1; i++) {
                uint8_t *d = dst + i * dw;
                if (k == 1) /* dst(i, j) = src(row h-1-j, col w-1-i) */
                    for (size_t j = j0; j < j1; j++)
                        d[j] = src[(h - 1 - j) * w + (w - 1 - i)];
                else /* k == 3: dst(i, j) = src(row j, col i) */
                    for (size_t j = j0; j < j1; j++)
                        d[j] = src[j * w + i];
            }
        }
}

/* ---- levels --------------------------------------------------------------------------------- */

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* The wavelength to use: the parameter, else a measurement that is a number ("171"). */
static int effective_wavelength(const ff_render_params *p)
{
    if (p->wavelength > 0)
        return p->wavelength;
    const char *m = nz(p->measurement);
    size_t n = strlen(m);
    if (n >= 1 && n <= 5 && strspn(m, "0123456789") == n)
        return atoi(m);
    return 0;
}

static void make_label(const ff_render_params *p, int wl, char *buf, size_t n)
{
    const char *inst = nz(p->instrument), *meas = nz(p->measurement);
    if (!*inst)
        inst = "image";
    if (*meas)
        snprintf(buf, n, "%s %s", inst, meas);
    else if (wl > 0)
        snprintf(buf, n, "%s %d", inst, wl);
    else if (eq(inst, "AIA"))
        snprintf(buf, n, "%s (wavelength unknown)", inst);
    else
        snprintf(buf, n, "%s", inst);
}

static void fmt_pct(char *buf, size_t n, double p)
{
    snprintf(buf, n, "%g", p);
}

/* The image's rendered plane: w x h pixels (the first of `planes` planes); -1 with err when it
 * cannot be rendered. */
static int render_extent(const ff_image *img, const ff_render_params *p, size_t *w, size_t *h,
                         size_t *planes, ff_err *err)
{
    if (!img || !p || !img->data)
        return ff_err_set(err, "no image to render");
    if (img->ndim < 1 || img->ndim > 3)
        return ff_err_set(err, "cannot render a %d-dimensional array (1 to 3 dimensions only)",
                          img->ndim);
    if ((unsigned)img->dtype > FF_F64)
        return ff_err_set(err, "cannot render an array of unknown data type");
    *planes = img->ndim == 3 ? img->shape[0] : 1;
    *h = img->ndim == 1 ? 1 : img->shape[img->ndim - 2];
    *w = img->shape[img->ndim - 1];
    if (*planes == 0 || *w == 0 || *h == 0)
        return ff_err_set(err, "the image has no pixels to render");
    if (*w > MAX_SIDE || *h > MAX_SIDE || *w > SIZE_MAX / *h || *w * *h > img->nelem)
        return ff_err_set(err, "a %zux%zu image is too large to render as PNG", *w, *h);
    return 0;
}

/* The render's size: the long side at most png_max (0: full size), the aspect kept. */
static void render_size(size_t w, size_t h, unsigned pm, size_t *ow, size_t *oh)
{
    *ow = w;
    *oh = h;
    if (pm == 0 || (w <= pm && h <= pm))
        return;
    size_t lng = w > h ? w : h;
    *ow = w == lng ? pm : (size_t)(((uint64_t)w * pm + lng / 2) / lng);
    *oh = h == lng ? pm : (size_t)(((uint64_t)h * pm + lng / 2) / lng);
    if (*ow < 1)
        *ow = 1;
    if (*oh < 1)
        *oh = 1;
}

/* The range from the sample's percentiles (or, when they coincide, its extremes), the scaler set
 * to it and the words for it in desc. */
static void percentile_range(double *sample, size_t ns, const plan *pn,
                             const ff_render_params *p, const char *label, scaler *sc, char *desc,
                             size_t dsize)
{
    double lo, hi;
    int nthreads = p->nthreads > 1 ? p->nthreads : 1;
    if (nthreads > 1)
        percentiles_2(sample, ns, pn->plo, pn->phi, &lo, &hi);
    else
        ff_percentiles(sample, ns, pn->plo, pn->phi, &lo, &hi);
    char what[64], plo[16], phi[16];
    fmt_pct(plo, sizeof plo, pn->plo);
    fmt_pct(phi, sizeof phi, pn->phi);
    snprintf(what, sizeof what, "the %s and %s percentiles", plo, phi);
    if (!(hi > lo)) { /* mostly one value: use the sample's extremes */
        lo = hi = sample[0];
        for (size_t i = 1; i < ns; i++) {
            lo = sample[i] < lo ? sample[i] : lo;
            hi = sample[i] > hi ? sample[i] : hi;
        }
        snprintf(what, sizeof what, "the minimum and maximum (the percentiles coincide)");
    }
    scaler_init(sc, pn->kind, lo, hi);
    const char *kind = pn->kind == ST_ASINH ? "asinh stretch" : "linear";
    if (sc->constant) {
        snprintf(desc, dsize, "%s: constant image (value %.6g), shown mid-gray", label, lo);
    } else if (pn->aia) {
        int norm = isfinite(p->exptime) && p->exptime > 0;
        double e = norm ? p->exptime : 1.0;
        char how_norm[64];
        if (norm)
            snprintf(how_norm, sizeof how_norm, "exposure-normalised (%.4g s)", e);
        else
            snprintf(how_norm, sizeof how_norm, "not exposure-normalised (no positive EXPTIME)");
        snprintf(desc, dsize, "%s: %s, %s between %s (%.4g to %.4g %s)", label, how_norm, kind,
                 what, lo / e, hi / e, norm ? "DN/s" : "DN");
    } else {
        snprintf(desc, dsize, "%s: %s between %s (%.4g to %.4g)", label, kind, what, lo, hi);
    }
}

/* The stretch's range over what is shown, and its description: nothing finite, a magnetogram's
 * fixed range, or percentile_range. *ns: finite pixels sampled. */
static int choose_range(const plane *pl, double *row, const plan *pn, const ff_render_params *p,
                        const char *label, scaler *sc, char *desc, size_t dsize, size_t *ns,
                        ff_err *err)
{
    double *sample = NULL;
    if (collect_sample(pl, row, p->nthreads > 1 ? p->nthreads : 1, &sample, ns, err) != 0)
        return -1;
    if (*ns == 0) {
        snprintf(desc, dsize, "%s: no finite pixels, the image is all missing", label);
        scaler_init(sc, pn->kind, 0, 1);
    } else if (pn->fixed) {
        snprintf(desc, dsize, "%s: linear, symmetric about 0 G, clipped at -%g and +%g G", label,
                 MAG_CLIP, MAG_CLIP);
        scaler_init(sc, pn->kind, pn->lo, pn->hi);
    } else {
        percentile_range(sample, *ns, pn, p, label, sc, desc, dsize);
    }
    free(sample);
    return 0;
}

/* The levels of pl, turned k quarter turns so that north is up and the top row is first, into
 * out (ow * oh). Returns the missing pixels, or -1 with err. */
static long map_levels(const plane *pl, const scaler *sc, int k, int nthreads, uint8_t *out,
                       ff_err *err)
{
    size_t ow = pl->w, oh = pl->h, missing = 0;
    uint8_t *lev = NULL, *ilut = NULL;
    if ((k == 1 || k == 3) && !(lev = malloc(ow * oh)))
        return ff_err_set(err, "out of memory for a %zux%zu render", ow, oh);
    if (small_int(pl->dtype) && (!(ilut = malloc(65536)) || build_int_lut(pl, sc, ilut, err) != 0)) {
        free(lev);
        free(ilut);
        return ff_err_set(err, "out of memory for a level table");
    }
    map_job mj = {.pl = pl, .sc = sc, .ilut = ilut, .k = k, .out = out, .lev = lev};
    run_parts(map_part, &mj, oh >= 256 ? nthreads : 1);
    int failed = 0;
    for (int t = 0; t < MAX_PARTS; t++) {
        missing += mj.missing[t];
        failed |= mj.failed[t];
    }
    if (!failed && (k == 1 || k == 3))
        orient_turn(lev, ow, oh, k, out);
    free(lev);
    free(ilut);
    if (failed)
        return ff_err_set(err, "out of memory for a %zux%zu render", ow, oh);
    return (long)missing;
}

int ff_render_levels(const ff_image *img, const ff_render_params *p, uint8_t **pix,
                     uint32_t *width, uint32_t *height, char *scaling, size_t scaling_size,
                     ff_err *err)
{
    *pix = NULL;
    *width = *height = 0;
    if (scaling && scaling_size)
        scaling[0] = 0;
    size_t w = 0, h = 0, planes = 0, ow, oh;
    if (render_extent(img, p, &w, &h, &planes, err) != 0)
        return -1;
    char desc[1024] = "", label[96];
    make_label(p, effective_wavelength(p), label, sizeof label);
    plan pn;
    make_plan(nz(p->instrument), nz(p->measurement), &pn);
    plane src = {.dtype = img->dtype, .data = img->data, .w = w, .h = h};
    src.use_blank = p->has_blank && blank_fits(img->dtype, p->blank);
    src.blank = p->blank;
    /* Downsample first when asked: the stretch is then taken over what is shown. */
    render_size(w, h, p->png_max, &ow, &oh);
    double *row = malloc(w * sizeof *row), *small = NULL;
    scaler *sc = malloc(sizeof *sc);
    uint8_t *out = malloc(ow * oh);
    plane pl = src;
    int rc = -1;
    size_t ns = 0;
    double residual;
    int k = quarter_turns(p->crota2, &residual);
    long missing = 0;
    if (!row || !sc || !out)
        ff_err_set(err, "out of memory rendering a %zux%zu image", w, h);
    else if ((ow == w && oh == h) || downsample(&src, ow, oh, row, &small, err) == 0) {
        if (small)
            pl = (plane){.dtype = FF_F64, .data = small, .w = ow, .h = oh};
        if (choose_range(&pl, row, &pn, p, label, sc, desc, sizeof desc, &ns, err) == 0 &&
            (missing = map_levels(&pl, sc, k, p->nthreads > 1 ? p->nthreads : 1, out, err)) >= 0)
            rc = 0;
    }
    if (rc == 0) {
        if (ns > 0 && missing > 0)
            append(desc, sizeof desc, "; %ld of %zu pixels missing (NaN%s), black in gray and "
                   "transparent in colour", missing, ow * oh, src.use_blank ? " or BLANK" : "");
        if (k)
            append(desc, sizeof desc, "; turned %d degrees counter-clockwise for solar north up "
                   "(CROTA2 %.4g)", 90 * k, p->crota2);
        if (fabs(residual) > 1.0)
            append(desc, sizeof desc, "; a further %.3g degree rotation is not corrected", residual);
        if (ow != w || oh != h)
            append(desc, sizeof desc, "; area-averaged from %zux%zu to %zux%zu", w, h, ow, oh);
        if (planes > 1)
            append(desc, sizeof desc, "; first of %zu planes", planes);
        *pix = out;
        out = NULL;
        *width = (uint32_t)(k == 1 || k == 3 ? oh : ow);
        *height = (uint32_t)(k == 1 || k == 3 ? ow : oh);
        if (scaling && scaling_size)
            snprintf(scaling, scaling_size, "%s", desc);
    }
    free(row);
    free(small);
    free(out);
    free(sc);
    return rc;
}

/* ---- PNGs ----------------------------------------------------------------------------------- */

typedef struct encode_job {
    const uint8_t *pix;
    uint32_t w, h;
    const ff_png_palette *pal;
    const ff_png_text *text;
    size_t ntext;
    ff_sink *out;
    ff_err err;
    int rc;
} encode_job;

static void *encode_run(void *arg)
{
    encode_job *j = arg;
    j->rc = ff_png_write8(j->pix, j->w, j->h, j->pal, j->text, j->ntext, j->out, &j->err);
    return NULL;
}

int ff_render_pngs(const ff_image *img, const ff_render_params *p, ff_sink *gray, ff_sink *color,
                   char *scaling, size_t scaling_size, ff_err *err)
{
    char desc[1024];
    uint8_t *pix;
    uint32_t w, h;
    if (ff_render_levels(img, p, &pix, &w, &h, desc, sizeof desc, err) != 0)
        return -1;
    if (scaling && scaling_size)
        snprintf(scaling, scaling_size, "%s", desc);

    int wl = effective_wavelength(p);
    ff_colormap cm;
    ff_colormap_for(nz(p->instrument), nz(p->measurement), wl, &cm);
    ff_png_palette *pal = malloc(sizeof *pal);
    if (!pal) {
        free(pix);
        return ff_err_set(err, "out of memory for a PNG palette");
    }
    /* Index 0 is missing (transparent); level k = 1..255 takes the table's colour at the same
     * relative position, (k - 1) * 255 / 254. */
    pal->n = 256;
    pal->ntrans = 1;
    pal->alpha[0] = 0;
    memset(pal->rgb[0], 0, 3);
    for (int k = 1; k < 256; k++)
        memcpy(pal->rgb[k], cm.rgb[((k - 1) * 255 + 127) / 254], 3);

    char inst[96], wls[16], soft[32];
    snprintf(inst, sizeof inst, "%s%s%s", *nz(p->instrument) ? p->instrument : "unknown",
             *nz(p->measurement) ? " " : "", nz(p->measurement));
    if (wl > 0)
        snprintf(wls, sizeof wls, "%d", wl);
    else
        snprintf(wls, sizeof wls, "unknown");
#ifdef FF_VERSION
    snprintf(soft, sizeof soft, "FitsFlow %s", FF_VERSION);
#else
    snprintf(soft, sizeof soft, "FitsFlow");
#endif
    ff_png_text text[6] = {
        {"Instrument", inst},
        {"Wavelength", wls},
        {"Observation Time", *nz(p->time_iso) ? p->time_iso : "unknown"},
        {"Scaling", desc},
        {"Software", soft},
        {"Colour Table", "gray"},
    };
    encode_job jg = {pix, w, h, NULL, text, 6, gray, {{0}, FF_ERR_OTHER}, 0};
    ff_png_text ctext[6];
    memcpy(ctext, text, sizeof ctext);
    ctext[5].text = cm.name;
    encode_job jc = {pix, w, h, pal, ctext, 6, color, {{0}, FF_ERR_OTHER}, 0};

    int rc = 0;
    if (gray && color) {
        /* One deflate pass for both: the colour PNG's indices are the gray levels, so the gray
         * PNG is the same compressed data under a gray IHDR (ff_png_gray_from_indexed). */
        ff_membuf mb = {0};
        ff_sink ms = ff_membuf_sink(&mb);
        jc.out = &ms;
        encode_run(&jc);
        if (jc.rc == 0 &&
            ff_png_gray_from_indexed(mb.data, mb.len, "Colour Table", "gray", gray, &jg.err) != 0)
            jg.rc = -1;
        if (jc.rc == 0 && jg.rc == 0 && ff_sink_write(color, mb.data, mb.len, &jc.err) != 0)
            jc.rc = -1;
        ff_membuf_free(&mb);
    } else if (gray) {
        encode_run(&jg);
    } else if (color) {
        encode_run(&jc);
    }

    if (gray && jg.rc != 0) {
        if (err)
            *err = jg.err;
        ff_err_prefix(err, "gray PNG");
        rc = -1;
    } else if (color && jc.rc != 0) {
        if (err)
            *err = jc.err;
        ff_err_prefix(err, "colour PNG");
        rc = -1;
    }
    free(pal);
    free(pix);
    return rc;
}
