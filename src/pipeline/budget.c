/* Estimates of what a file costs, and the session and memory budgets they are checked against
 * (see budget.h). The output estimate is an upper bound for the outputs made from the pixels:
 * the widest text each value can take in the CSV, and compressed formats at their worst
 * (deflate's stored blocks). */
#include "pipeline/budget.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/prep/prep.h"
#include "pipeline/pipeline.h"

#define MiB ((uint64_t)1 << 20)

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    uint64_t s;
    return __builtin_add_overflow(a, b, &s) ? UINT64_MAX : s;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    uint64_t p;
    return __builtin_mul_overflow(a, b, &p) ? UINT64_MAX : p;
}

/* The widest a value of this dtype is in the CSV, with its separator: "-32768," for int16, the
 * shortest round-trip text of a float ("-2.2250738585072014e-308," for float64). */
static uint64_t csv_width(const ff_fits_scan *s)
{
    if (s->is_float)
        return s->elem_bytes == 4 ? 16 : 25;
    switch (s->elem_bytes) {
    case 1: return s->is_signed ? 5 : 4;
    case 2: return s->is_signed ? 7 : 6;
    case 4: return s->is_signed ? 12 : 11;
    default: return 21;
    }
}

/* An 8-bit raster of px pixels in rows rows, deflated at worst (stored blocks). */
static uint64_t png_bound(uint64_t px, uint64_t rows)
{
    uint64_t raw = add_sat(px, rows); /* one filter byte per row */
    return add_sat(add_sat(raw, raw / 16000 * 5), 64 * 1024);
}

/* Level 1.5 of an n x n image holds, at its peak (registering): the spline coefficients
 * (float32, the image and a margin of a few pixels), the result (float32) and the NaN maps (a
 * byte each, two at once): 10 bytes a pixel, counted as 12 for the margins, 192 MiB for
 * 4096 x 4096. Afterwards the result alone is left (the FITS file is written from it). */
#define PREP_BYTES_PER_PIXEL 12

/* Pixels of the image level 1.5 would register: a square 2-D image of SDO's sizes (the header
 * decides the rest, once read); 0 when it cannot be one, or prep is not asked for. */
static uint64_t prep_pixels(const ff_fits_scan *s)
{
    if (s->naxis != 2 || s->width != s->height || s->width < FF_PREP_MIN_SIDE ||
        s->width > FF_PREP_MAX_SIDE)
        return 0;
    return s->pixels;
}

void ff_file_cost_estimate(const ff_fits_scan *s, const ff_pipeline_config *cfg, ff_file_cost *c)
{
    memset(c, 0, sizeof *c);
    uint64_t px = s->pixels, image = mul_sat(px, (uint64_t)s->elem_bytes);
    c->pixels = px > s->content_bytes / 8 ? px : s->content_bytes / 8;

    /* Header as text and JSON (a card at most 80 bytes of text, a few more escaped in JSON). */
    uint64_t header = add_sat(mul_sat(s->max_cards, 80 + 240), 4096);
    uint64_t out = header;
    unsigned want = cfg->outputs;
    if (want & FF_OUTPUT_NPY)
        out = add_sat(out, add_sat(image, 4096));
    if ((want & FF_OUTPUT_CSV) && s->naxis <= 2)
        out = add_sat(out, add_sat(mul_sat(px, csv_width(s)), mul_sat(s->width, 21)));
    if (want & FF_OUTPUT_PNG) {
        uint64_t w = s->width, h = s->height, longest = w > h ? w : h;
        if (cfg->png_max && longest > cfg->png_max) {
            w = w * cfg->png_max / longest + 1;
            h = h * cfg->png_max / longest + 1;
        }
        out = add_sat(out, mul_sat(png_bound(mul_sat(w, h), h), 2));
    }
    if (want & FF_OUTPUT_ASDF)
        out = add_sat(out, add_sat(add_sat(image, image / 16), add_sat(mul_sat(header, 2), 65536)));
    uint64_t prep_px = (want & FF_OUTPUT_PREP) ? prep_pixels(s) : 0;
    uint64_t ml = cfg->ml_size > 0 ? (uint64_t)cfg->ml_size * (uint64_t)cfg->ml_size * 4 : 0;
    if (prep_px) {
        /* prep/{base}_lev15.fits (float32, the input's shape at most, the header twice as many
         * cards), prep/{base}_ml.npy, and in the ASDF bundle the ML array and header again */
        out = add_sat(out, add_sat(add_sat(mul_sat(prep_px, 4), mul_sat(header, 2)), 65536));
        out = add_sat(out, add_sat(ml, 4096));
        if (want & FF_OUTPUT_ASDF)
            out = add_sat(out, add_sat(ml + ml / 16, mul_sat(header, 2)));
    }
    c->output_bytes = out;

    /* Reading holds the content (mapped or inflated) and the image; writing holds the image,
     * the ASDF block's compressed copy (as large as the image at worst), the 8-bit renders and
     * the CSV's buffers (measured: under 2 bytes a pixel together), and some fixed costs. */
    uint64_t reading = add_sat(add_sat(s->content_bytes, image), 16 * MiB);
    uint64_t writing = add_sat(image, add_sat(mul_sat(px, 2), 32 * MiB));
    if (want & FF_OUTPUT_ASDF)
        writing = add_sat(writing, image);
    if (!cfg->offline)
        writing = add_sat(writing, 64 * MiB); /* a JSOC JPEG 2000 image being decoded */
    if (prep_px) /* level 1.5 runs beside the other outputs */
        writing = add_sat(writing, add_sat(mul_sat(prep_px, PREP_BYTES_PER_PIXEL),
                                           add_sat(mul_sat(ml, 3), 16 * MiB)));
    c->memory_bytes = reading > writing ? reading : writing;
}

/* ---- session budget ---------------------------------------------------------------------- */

struct ff_session_budget {
    pthread_mutex_t lock;
    uint64_t max_pixels, max_output;
    uint64_t pixels_used, output_used;         /* files finished */
    uint64_t pixels_reserved, output_reserved; /* files running: their estimates */
    uint64_t written;                          /* output bytes stored now, running files' too */
};

ff_session_budget *ff_session_budget_new(uint64_t max_pixels, uint64_t max_output_bytes)
{
    ff_session_budget *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    b->max_pixels = max_pixels ? max_pixels : UINT64_MAX;
    b->max_output = max_output_bytes ? max_output_bytes : UINT64_MAX;
    return b;
}

void ff_session_budget_free(ff_session_budget *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void ff_session_budget_used(ff_session_budget *b, uint64_t pixels, uint64_t output_bytes)
{
    pthread_mutex_lock(&b->lock);
    b->pixels_used = add_sat(b->pixels_used, pixels);
    b->output_used = add_sat(b->output_used, output_bytes);
    b->written = add_sat(b->written, output_bytes);
    pthread_mutex_unlock(&b->lock);
}

uint64_t ff_session_budget_inflate_cap(ff_session_budget *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t taken = add_sat(b->pixels_used, b->pixels_reserved);
    uint64_t cap = b->max_pixels == UINT64_MAX ? UINT64_MAX
                   : taken >= b->max_pixels     ? 0
                                                : mul_sat(b->max_pixels - taken, 8);
    pthread_mutex_unlock(&b->lock);
    return cap;
}

static double mib(uint64_t n)
{
    return (double)n / (double)MiB;
}

static int fits_locked(ff_session_budget *b, const ff_file_cost *c, ff_err *err, int take)
{
    uint64_t px = add_sat(b->pixels_used, b->pixels_reserved);
    uint64_t out = add_sat(b->output_used, b->output_reserved);
    int rc = 0;
    if (b->max_pixels != UINT64_MAX && add_sat(px, c->pixels) > b->max_pixels) {
        rc = ff_err_set(err, "it has %llu pixels to decode and the session's pixel budget has %llu "
                        "left of %llu (FITSFLOW_SESSION_MAX_PIXELS)",
                        (unsigned long long)c->pixels,
                        (unsigned long long)(px < b->max_pixels ? b->max_pixels - px : 0),
                        (unsigned long long)b->max_pixels);
    } else if (b->max_output != UINT64_MAX && add_sat(out, c->output_bytes) > b->max_output) {
        rc = ff_err_set(err, "its outputs could take up to %.0f MiB and the session's output "
                        "budget has %.0f MiB left of %.0f MiB (FITSFLOW_SESSION_MAX_OUTPUT_MB)",
                        mib(c->output_bytes), mib(out < b->max_output ? b->max_output - out : 0),
                        mib(b->max_output));
    } else if (take) {
        b->pixels_reserved = add_sat(b->pixels_reserved, c->pixels);
        b->output_reserved = add_sat(b->output_reserved, c->output_bytes);
    }
    return rc;
}

int ff_session_budget_check(ff_session_budget *b, const ff_file_cost *c, ff_err *err)
{
    pthread_mutex_lock(&b->lock);
    int rc = fits_locked(b, c, err, 0);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

int ff_session_budget_reserve(ff_session_budget *b, const ff_file_cost *c, ff_err *err)
{
    pthread_mutex_lock(&b->lock);
    int rc = fits_locked(b, c, err, 1);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void ff_session_budget_finish(ff_session_budget *b, const ff_file_cost *c, uint64_t pixels,
                              uint64_t output_bytes)
{
    pthread_mutex_lock(&b->lock);
    b->pixels_reserved -= c->pixels <= b->pixels_reserved ? c->pixels : b->pixels_reserved;
    b->output_reserved -= c->output_bytes <= b->output_reserved ? c->output_bytes : b->output_reserved;
    b->pixels_used = add_sat(b->pixels_used, pixels);
    b->output_used = add_sat(b->output_used, output_bytes);
    pthread_mutex_unlock(&b->lock);
}

int ff_session_budget_write(ff_session_budget *b, uint64_t len, ff_err *err)
{
    pthread_mutex_lock(&b->lock);
    int rc = 0;
    if (b->max_output != UINT64_MAX && add_sat(b->written, len) > b->max_output)
        rc = ff_err_set(err, "the session's outputs would pass its output budget of %.0f MiB "
                        "(FITSFLOW_SESSION_MAX_OUTPUT_MB)", mib(b->max_output));
    else
        b->written = add_sat(b->written, len);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void ff_session_budget_unwrite(ff_session_budget *b, uint64_t len)
{
    pthread_mutex_lock(&b->lock);
    b->written -= len <= b->written ? len : b->written;
    pthread_mutex_unlock(&b->lock);
}

/* ---- memory budget ----------------------------------------------------------------------- */

struct ff_membudget {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t total, used;
    uint64_t next_ticket, serving; /* first come, first served */
};

ff_membudget *ff_membudget_new(uint64_t total)
{
    ff_membudget *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    m->total = total;
    return m;
}

void ff_membudget_free(ff_membudget *m)
{
    if (!m)
        return;
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

uint64_t ff_membudget_total(const ff_membudget *m)
{
    return m->total;
}

uint64_t ff_membudget_default_total(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0)
        return (uint64_t)4 << 30;
    return (uint64_t)pages * (uint64_t)size / 2;
}

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static ff_membudget *default_budget;

ff_membudget *ff_membudget_default(uint64_t total)
{
    pthread_mutex_lock(&default_lock);
    if (!default_budget)
        default_budget = ff_membudget_new(total);
    ff_membudget *m = default_budget;
    pthread_mutex_unlock(&default_lock);
    return m;
}

int ff_membudget_acquire(ff_membudget *m, uint64_t bytes, ff_err *err)
{
    if (!m->total)
        return 0;
    if (bytes > m->total)
        return ff_err_set(err, "processing it needs about %.0f MiB of memory, more than the whole "
                          "memory budget of %.0f MiB (FITSFLOW_MEMORY_MB)", mib(bytes),
                          mib(m->total));
    pthread_mutex_lock(&m->lock);
    uint64_t ticket = m->next_ticket++;
    int waited = 0;
    while (ticket != m->serving || m->used + bytes > m->total) {
        waited = 1;
        pthread_cond_wait(&m->cond, &m->lock);
    }
    m->used += bytes;
    m->serving++;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return waited;
}

void ff_membudget_release(ff_membudget *m, uint64_t bytes)
{
    if (!m->total)
        return;
    pthread_mutex_lock(&m->lock);
    m->used -= bytes <= m->used ? bytes : m->used;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

uint64_t ff_membudget_in_use(ff_membudget *m)
{
    pthread_mutex_lock(&m->lock);
    uint64_t u = m->used;
    pthread_mutex_unlock(&m->lock);
    return u;
}
