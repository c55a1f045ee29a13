/* data/{base}_data.csv: what pandas.DataFrame(data).to_csv(index=False) writes, fast.
 * Rows are formatted in blocks by worker threads (several when asked) while the caller's thread
 * writes the formatted blocks to the sink in row order. */
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"
#include "core/out/writers.h"

#define VALUE_MAX 26            /* longest formatted value plus its comma */
_Static_assert(VALUE_MAX >= FF_NUMFMT_ROW_VALUE, "a float32 row fits the room of its values");
#define BLOCK_TARGET (4u << 20) /* bytes of output per block of rows */
#define MAX_THREADS 64

static const char D2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of v; the common small values (image pixels) take a branch or two. */
static inline char *put_u32(char *p, uint32_t v)
{
    if (v < 100) {
        if (v < 10) {
            *p = (char)('0' + v);
            return p + 1;
        }
        memcpy(p, D2 + 2 * v, 2);
        return p + 2;
    }
    if (v < 10000) {
        if (v < 1000) {
            *p = (char)('0' + v / 100);
            memcpy(p + 1, D2 + 2 * (v % 100), 2);
            return p + 3;
        }
        memcpy(p, D2 + 2 * (v / 100), 2);
        memcpy(p + 2, D2 + 2 * (v % 100), 2);
        return p + 4;
    }
    int n = 5;
    for (uint32_t t = v / 100000; t; t /= 10)
        n++;
    char *end = p + n, *q = end;
    while (v >= 100) {
        q -= 2;
        memcpy(q, D2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, D2 + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    return end;
}

static inline char *put_i32(char *p, int32_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u32(p, 0u - (uint32_t)v);
    }
    return put_u32(p, (uint32_t)v);
}

typedef struct block {
    const ff_image *img;
    size_t row0, row1, ncols;
    char *buf;
    size_t len;
} block;

/* One row's values, comma-separated; the caller guarantees ncols * VALUE_MAX bytes at p. */
#define ROW_LOOP(T, PUT)                                                                   \
    do {                                                                                   \
        const T *src = (const T *)b->img->data + r * b->ncols;                             \
        for (size_t c = 0; c < b->ncols; c++) {                                            \
            if (c)                                                                         \
                *p++ = ',';                                                                \
            PUT;                                                                           \
        }                                                                                  \
    } while (0)

/* A NaN in a one-column file: Python's csv module quotes the empty field so that the line is
 * not mistaken for a blank one. */
#define NAN_ONE_COL                                                                        \
    do {                                                                                   \
        if (b->ncols == 1) {                                                               \
            memcpy(p, "\"\"", 2);                                                           \
            p += 2;                                                                        \
        }                                                                                  \
    } while (0)

static void *format_block(void *arg)
{
    block *b = arg;
    char *p = b->buf;
    for (size_t r = b->row0; r < b->row1; r++) {
        switch (b->img->dtype) {
        case FF_U8: ROW_LOOP(uint8_t, p = put_u32(p, src[c])); break;
        case FF_I8: ROW_LOOP(int8_t, p = put_i32(p, src[c])); break;
        case FF_U16: ROW_LOOP(uint16_t, p = put_u32(p, src[c])); break;
        case FF_I16: ROW_LOOP(int16_t, p = put_i32(p, src[c])); break;
        case FF_U32: ROW_LOOP(uint32_t, p = put_u32(p, src[c])); break;
        case FF_I32: ROW_LOOP(int32_t, p = put_i32(p, src[c])); break;
        case FF_I64: ROW_LOOP(int64_t, p += ff_fmt_int64(src[c], p)); break;
        case FF_U64: ROW_LOOP(uint64_t, p += ff_fmt_uint64(src[c], p)); break;
        case FF_F32:
            if (b->ncols > 1)
                p += ff_fmt_float32_row((const float *)b->img->data + r * b->ncols, b->ncols, p);
            else
                ROW_LOOP(float, if (!isnan(src[c])) p += ff_fmt_float32(src[c], p); else NAN_ONE_COL);
            break;
        case FF_F64:
            ROW_LOOP(double, if (!isnan(src[c])) p += ff_fmt_double(src[c], p); else NAN_ONE_COL);
            break;
        }
        *p++ = '\n';
    }
    b->len = (size_t)(p - b->buf);
    return NULL;
}

/* The first line: the column numbers pandas gives a DataFrame made from the array. */
static int write_column_line(ff_sink *out, size_t ncols, ff_err *err)
{
    ff_bufw w;
    if (ff_bufw_init(&w, out, 1 << 16, err) != 0)
        return -1;
    for (size_t c = 0; c < ncols; c++) {
        char *p = ff_bufw_reserve(&w, 24);
        if (!p)
            break;
        char *q = p;
        if (c)
            *q++ = ',';
        q += ff_fmt_uint64(c, q);
        ff_bufw_commit(&w, (size_t)(q - p));
    }
    ff_bufw_put(&w, "\n", 1);
    int rc = ff_bufw_flush(&w, err);
    ff_bufw_free(&w);
    return rc;
}

/* Formatting and writing overlap: nthreads workers format blocks into 2 * nthreads buffers
 * (slot b % nslots for block b) while the caller's thread writes the formatted blocks in row
 * order (the sink hashes and stores them). Before this, rounds of formatting alternated with
 * writing and a core idled while a round was written: a fifth of a float image's CSV time. */
typedef struct pipeline {
    const ff_image *img;
    size_t ncols, nrows, rows_per_block, nblocks;
    int nslots;
    block slot[2 * MAX_THREADS];
    size_t holds[2 * MAX_THREADS]; /* block index + 1 a slot holds formatted, 0 none */
    size_t next;                   /* the next block to format */
    size_t written;                /* blocks written */
    int stop;                      /* the writer failed: no more formatting */
    pthread_mutex_t m;
    pthread_cond_t cv;
} pipeline;

static void set_block(const pipeline *pl, block *k, size_t b)
{
    size_t r0 = b * pl->rows_per_block;
    size_t r1 = pl->nrows - r0 > pl->rows_per_block ? r0 + pl->rows_per_block : pl->nrows;
    *k = (block){.img = pl->img, .row0 = r0, .row1 = r1, .ncols = pl->ncols, .buf = k->buf};
}

static void *format_worker(void *arg)
{
    pipeline *pl = arg;
    pthread_mutex_lock(&pl->m);
    for (;;) {
        /* block b may use its slot once block b - nslots, the slot's last, is written */
        while (!pl->stop && pl->next < pl->nblocks && pl->next >= pl->written + (size_t)pl->nslots)
            pthread_cond_wait(&pl->cv, &pl->m);
        if (pl->stop || pl->next >= pl->nblocks)
            break;
        size_t b = pl->next++;
        int s = (int)(b % (size_t)pl->nslots);
        assert(pl->holds[s] == 0); /* its last block was written */
        pthread_mutex_unlock(&pl->m);
        set_block(pl, &pl->slot[s], b);
        format_block(&pl->slot[s]);
        pthread_mutex_lock(&pl->m);
        pl->holds[s] = b + 1;
        pthread_cond_broadcast(&pl->cv);
    }
    pthread_mutex_unlock(&pl->m);
    return NULL;
}

static int run_pipeline(pipeline *pl, int nthreads, ff_sink *out, ff_err *err)
{
    pthread_mutex_init(&pl->m, NULL);
    pthread_cond_init(&pl->cv, NULL);
    pthread_t tid[MAX_THREADS];
    int started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&tid[started], NULL, format_worker, pl) != 0)
            break;
    int rc = 0;
    for (size_t b = 0; b < pl->nblocks && rc == 0; b++) {
        int s = (int)(b % (size_t)pl->nslots);
        if (started == 0) { /* no thread could start: format here */
            set_block(pl, &pl->slot[s], b);
            format_block(&pl->slot[s]);
        } else {
            pthread_mutex_lock(&pl->m);
            while (pl->holds[s] != b + 1)
                pthread_cond_wait(&pl->cv, &pl->m);
            pthread_mutex_unlock(&pl->m);
        }
        if (ff_sink_write(out, pl->slot[s].buf, pl->slot[s].len, err) != 0)
            rc = ff_err_prefix(err, "writing the CSV");
        pthread_mutex_lock(&pl->m);
        pl->holds[s] = 0;
        pl->written = b + 1;
        pl->stop = rc != 0;
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->m);
    }
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    pthread_cond_destroy(&pl->cv);
    pthread_mutex_destroy(&pl->m);
    return rc;
}

int ff_write_csv(const ff_image *img, ff_sink *out, int nthreads, ff_err *err)
{
    char shape[160];
    ff_image_shape_str(img, shape, sizeof shape);
    if (img->ndim != 1 && img->ndim != 2)
        return ff_err_set(err, "cannot write CSV for a %d-D image of shape %s: CSV holds 1-D or "
                               "2-D arrays only; use the NPY output for this data",
                          img->ndim, shape);
    size_t nrows = img->shape[0], ncols = img->ndim == 2 ? img->shape[1] : 1;
    if (ncols && nrows > SIZE_MAX / ncols)
        return ff_err_set(err, "cannot write CSV: image shape %s overflows", shape);
    if (nrows * ncols != img->nelem || (img->nelem && !img->data))
        return ff_err_set(err, "cannot write CSV: shape %s does not match %zu elements", shape,
                          img->nelem);
    if (ncols > (SIZE_MAX - 1) / VALUE_MAX)
        return ff_err_set(err, "cannot write CSV: rows of %zu values are too long", ncols);

    if (write_column_line(out, ncols, err) != 0)
        return ff_err_prefix(err, "writing the CSV");
    if (nrows == 0)
        return 0;

    size_t row_max = ncols * VALUE_MAX + 1;
    size_t rows_per_block = BLOCK_TARGET / row_max ? BLOCK_TARGET / row_max : 1;
    size_t nblocks = (nrows + rows_per_block - 1) / rows_per_block;
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > MAX_THREADS)
        nthreads = MAX_THREADS;
    if ((size_t)nthreads > nblocks)
        nthreads = (int)nblocks;
    if (rows_per_block > nrows)
        rows_per_block = nrows;

    pipeline pl = {.img = img, .ncols = ncols, .nrows = nrows, .rows_per_block = rows_per_block,
                   .nblocks = nblocks, .nslots = 2 * nthreads};
    if (nthreads == 1)
        pl.nslots = 1;
    int rc = 0;
    for (int k = 0; k < pl.nslots; k++) {
        /* + FF_NUMFMT_MAX: a float formatter stores whole words past the value it writes */
        pl.slot[k].buf = malloc(rows_per_block * row_max + FF_NUMFMT_MAX);
        if (!pl.slot[k].buf) {
            rc = ff_err_set(err, "out of memory for a %zu-byte CSV buffer",
                            rows_per_block * row_max);
            goto done;
        }
    }
    if (nthreads == 1) { /* format and write in turn on this thread */
        for (size_t b = 0; b < nblocks && rc == 0; b++) {
            set_block(&pl, &pl.slot[0], b);
            format_block(&pl.slot[0]);
            if (ff_sink_write(out, pl.slot[0].buf, pl.slot[0].len, err) != 0)
                rc = ff_err_prefix(err, "writing the CSV");
        }
        goto done;
    }
    rc = run_pipeline(&pl, nthreads, out, err);
done:
    for (int k = 0; k < pl.nslots; k++)
        free(pl.slot[k].buf);
    return rc;
}
