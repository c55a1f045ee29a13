/* data/{base}_data.csv: what pandas.DataFrame(data).to_csv(index=False) writes, fast.
 * Rows are formatted in blocks into per-thread buffers (several threads when asked) and the
 * blocks are written to the sink in row order. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"
#include "core/out/writers.h"

#define VALUE_MAX 26            /* longest formatted value plus its comma */
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

    block blocks[MAX_THREADS];
    memset(blocks, 0, sizeof blocks);
    int rc = 0;
    for (int t = 0; t < nthreads; t++) {
        /* + FF_NUMFMT_MAX: a float formatter stores whole words past the value it writes */
        blocks[t].buf = malloc(rows_per_block * row_max + FF_NUMFMT_MAX);
        if (!blocks[t].buf) {
            rc = ff_err_set(err, "out of memory for a %zu-byte CSV buffer",
                            rows_per_block * row_max);
            goto done;
        }
    }
    /* Rounds: each of nthreads blocks is formatted at once (the caller's thread takes the
     * first), then the round's blocks are written in order. */
    for (size_t row = 0; row < nrows && rc == 0;) {
        pthread_t tid[MAX_THREADS];
        int started[MAX_THREADS] = {0};
        int used = 0;
        for (int t = 0; t < nthreads && row < nrows; t++, used++) {
            blocks[t] = (block){.img = img, .row0 = row, .ncols = ncols, .buf = blocks[t].buf};
            row = nrows - row > rows_per_block ? row + rows_per_block : nrows;
            blocks[t].row1 = row;
            if (t > 0)
                started[t] = pthread_create(&tid[t], NULL, format_block, &blocks[t]) == 0;
        }
        format_block(&blocks[0]);
        for (int t = 1; t < used; t++) {
            if (started[t])
                pthread_join(tid[t], NULL);
            else
                format_block(&blocks[t]); /* no thread available: do it here */
        }
        for (int t = 0; t < used && rc == 0; t++)
            if (ff_sink_write(out, blocks[t].buf, blocks[t].len, err) != 0)
                rc = ff_err_prefix(err, "writing the CSV");
    }
done:
    for (int t = 0; t < nthreads; t++)
        free(blocks[t].buf);
    return rc;
}
