/* The budgets: a session's pixels and outputs (reserve, finish, counting writes), the memory
 * budget (first come first served, waiting, never-fits), the cost estimate's arithmetic, and the
 * header scan over buffers (gzip bombs walked with constant memory, stop early, caps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/fits/fits_scan.h"
#include "pipeline/budget.h"
#include "pipeline/pipeline.h"

#define MiB ((uint64_t)1 << 20)

static void test_session_budget(void **state)
{
    (void)state;
    ff_session_budget *b = ff_session_budget_new(1000, 10 * MiB);
    assert_non_null(b);
    ff_err err = {0};
    ff_session_budget_used(b, 100, 1 * MiB); /* files finished in an earlier run */
    ff_file_cost c = {.pixels = 500, .output_bytes = 4 * MiB};
    assert_int_equal(ff_session_budget_check(b, &c, &err), 0);
    assert_int_equal(ff_session_budget_reserve(b, &c, &err), 0);
    /* A second one beside it: 100 + 500 + 500 > 1000 pixels. */
    assert_int_equal(ff_session_budget_reserve(b, &c, &err), -1);
    assert_non_null(strstr(err.msg, "FITSFLOW_SESSION_MAX_PIXELS"));
    assert_non_null(strstr(err.msg, "400 left of 1000"));
    /* Outputs: 1 + 4 + 6 > 10 MiB. */
    ff_file_cost big_out = {.pixels = 10, .output_bytes = 6 * MiB};
    assert_int_equal(ff_session_budget_reserve(b, &big_out, &err), -1);
    assert_non_null(strstr(err.msg, "FITSFLOW_SESSION_MAX_OUTPUT_MB"));
    /* The first file finished storing less than its estimate: room again. */
    ff_session_budget_finish(b, &c, 500, 2 * MiB);
    assert_int_equal(ff_session_budget_reserve(b, &big_out, &err), 0);
    ff_session_budget_finish(b, &big_out, 10, 0);

    /* Writes are counted as they happen, against what is stored: the earlier run's 1 MiB (the
     * files above wrote nothing here), so 9 MiB of room. */
    assert_int_equal(ff_session_budget_write(b, 9 * MiB, &err), 0);
    assert_int_equal(ff_session_budget_write(b, 1, &err), -1);
    ff_session_budget_unwrite(b, 9 * MiB);
    assert_int_equal(ff_session_budget_write(b, 1, &err), 0);
    ff_session_budget_free(b);

    b = ff_session_budget_new(0, 10 * MiB);
    assert_int_equal(ff_session_budget_write(b, 8 * MiB, &err), 0);
    assert_int_equal(ff_session_budget_write(b, 3 * MiB, &err), -1);
    assert_non_null(strstr(err.msg, "output budget of 10 MiB"));
    ff_session_budget_unwrite(b, 8 * MiB); /* an output aborted */
    assert_int_equal(ff_session_budget_write(b, 10 * MiB, &err), 0);
    assert_int_equal(ff_session_budget_inflate_cap(b), UINT64_MAX); /* pixels unlimited */
    ff_session_budget_free(b);

    b = ff_session_budget_new(1000, 0);
    ff_session_budget_used(b, 900, 0);
    assert_int_equal(ff_session_budget_inflate_cap(b), 800);
    ff_file_cost huge = {.pixels = 1, .output_bytes = UINT64_MAX};
    assert_int_equal(ff_session_budget_reserve(b, &huge, &err), 0); /* outputs unlimited */
    ff_session_budget_free(b);
}

/* ---- memory ------------------------------------------------------------------------------ */

typedef struct taker {
    ff_membudget *m;
    uint64_t bytes;
    int rc;
    int done;
    pthread_mutex_t *lock;
} taker;

static void *take_it(void *arg)
{
    taker *t = arg;
    ff_err err = {0};
    t->rc = ff_membudget_acquire(t->m, t->bytes, &err);
    pthread_mutex_lock(t->lock);
    t->done = 1;
    pthread_mutex_unlock(t->lock);
    return NULL;
}

static int is_done(taker *t)
{
    pthread_mutex_lock(t->lock);
    int d = t->done;
    pthread_mutex_unlock(t->lock);
    return d;
}

/* Waits (bounded) until the budget has `n` bytes in use. */
static void wait_in_use(ff_membudget *m, uint64_t n)
{
    for (int i = 0; i < 2000 && ff_membudget_in_use(m) != n; i++)
        usleep(5000);
    assert_int_equal(ff_membudget_in_use(m), n);
}

static void test_memory_budget(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_membudget *m = ff_membudget_new(100);
    assert_non_null(m);
    assert_int_equal(ff_membudget_acquire(m, 101, &err), -1); /* never fits: at once */
    assert_non_null(strstr(err.msg, "FITSFLOW_MEMORY_MB"));
    assert_int_equal(ff_membudget_acquire(m, 60, &err), 0);
    /* 50 must wait for the 60; a 10 that comes after it waits its turn too (first come, first
     * served), although it would fit now. */
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    taker a = {m, 50, -9, 0, &lock}, b = {m, 10, -9, 0, &lock};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, take_it, &a), 0);
    for (int i = 0; i < 200 && !is_done(&a); i++)
        usleep(1000); /* give it the time to queue; it must not get through */
    assert_false(is_done(&a));
    assert_int_equal(pthread_create(&tb, NULL, take_it, &b), 0);
    usleep(20000);
    assert_false(is_done(&b));
    wait_in_use(m, 60);
    ff_membudget_release(m, 60);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.rc, 1); /* taken after waiting */
    assert_int_equal(b.rc, 1);
    wait_in_use(m, 60);
    ff_membudget_release(m, 50);
    ff_membudget_release(m, 10);
    wait_in_use(m, 0);
    ff_membudget_free(m);

    m = ff_membudget_new(0); /* not limited */
    assert_int_equal(ff_membudget_acquire(m, UINT64_MAX, &err), 0);
    ff_membudget_release(m, UINT64_MAX);
    ff_membudget_free(m);
    assert_true(ff_membudget_default_total() > 0);
    assert_non_null(ff_membudget_default(ff_membudget_default_total()));
}

/* ---- the scan and the estimate ------------------------------------------------------------- */

/* A FITS header of these cards, padded to a block. */
static size_t header(unsigned char *buf, const char *const *cards)
{
    size_t n = 0;
    for (; *cards; cards++) {
        memset(buf + n, ' ', 80);
        memcpy(buf + n, *cards, strlen(*cards));
        n += 80;
    }
    memset(buf + n, ' ', 80);
    memcpy(buf + n, "END", 3);
    n += 80;
    size_t padded = (n + 2879) / 2880 * 2880;
    memset(buf + n, ' ', padded - n);
    return padded;
}

/* gzip of `hdr` followed by `zeros` zero bytes, as mkbomb.py writes it. */
static unsigned char *gzip_bomb(const unsigned char *hdr, size_t hlen, uint64_t zeros, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = (size_t)(zeros / 500) + (1 << 20);
    unsigned char *out = malloc(cap);
    static unsigned char zero[1 << 20];
    assert_non_null(out);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    z.next_in = (unsigned char *)hdr;
    z.avail_in = (uInt)hlen;
    assert_int_equal(deflate(&z, Z_NO_FLUSH), Z_OK);
    while (zeros) {
        size_t k = zeros > sizeof zero ? sizeof zero : (size_t)zeros;
        z.next_in = zero;
        z.avail_in = (uInt)k;
        assert_int_equal(deflate(&z, Z_NO_FLUSH), Z_OK);
        zeros -= k;
    }
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

typedef struct stops {
    int calls;
    uint64_t stop_above; /* pixels */
} stops;

static void test_scan_and_estimate(void **state)
{
    (void)state;
    static unsigned char hdr[2880 * 2];
    const char *const f64[] = {"SIMPLE  =                    T", "BITPIX  =                  -64",
                               "NAXIS   =                    2", "NAXIS1  =                 2048",
                               "NAXIS2  =                 1024", NULL};
    size_t hl = header(hdr, f64);
    uint64_t data = ((uint64_t)2048 * 1024 * 8 + 2879) / 2880 * 2880;
    size_t glen;
    unsigned char *gz = gzip_bomb(hdr, hl, data, &glen);
    assert_true(glen < data / 100); /* a bomb: 16 MiB of content in a few KiB */

    ff_fits_scan s;
    ff_err err = {0};
    assert_int_equal(ff_fits_scan_buffer(gz, glen, UINT64_MAX, &s, &err), 0);
    assert_true(s.gzip && s.complete && !s.over_cap && !s.stopped);
    assert_int_equal(s.content_bytes, hl + data);
    assert_int_equal(s.pixels, 2048 * 1024);
    assert_int_equal(s.width, 2048);
    assert_int_equal(s.height, 1024);
    assert_int_equal(s.elem_bytes, 8);
    assert_true(s.is_float);

    /* Capped: stops at the cap and says so. */
    assert_int_equal(ff_fits_scan_buffer(gz, glen, 1 << 20, &s, &err), 0);
    assert_true(s.over_cap && !s.complete);
    assert_int_equal(s.content_bytes, 1 << 20);
    assert_int_equal(s.pixels, 2048 * 1024); /* the header was read all the same */
    free(gz);

    /* The estimate: float64 values are at most 25 characters in the CSV, NPY is the raw size,
     * memory holds content and image when reading. */
    ff_pipeline_config cfg;
    ff_pipeline_config_defaults(&cfg);
    cfg.offline = 1;
    cfg.outputs = FF_OUTPUT_NPY | FF_OUTPUT_CSV;
    ff_fits_scan_buffer(hdr, hl, UINT64_MAX, &s, &err); /* truncated: header only */
    assert_false(s.complete);
    assert_int_equal(s.pixels, 2048 * 1024);
    s.content_bytes = hl + data;
    ff_file_cost c;
    ff_file_cost_estimate(&s, &cfg, &c);
    assert_int_equal(c.pixels, (hl + data) / 8); /* a gzip file costs at least its content / 8 */
    assert_true(c.output_bytes >= data + data / 8 * 25);
    assert_true(c.output_bytes < data + data / 8 * 25 + 2 * MiB);
    assert_true(c.memory_bytes >= hl + 2 * data);

    /* Scaled 16-bit integers become float32; the unsigned convention keeps 2 bytes. */
    const char *scaled[] = {"SIMPLE  =                    T", "BITPIX  =                   16",
                            "NAXIS   =                    1", "NAXIS1  =                  100",
                            "BSCALE  =                  0.5", NULL};
    hl = header(hdr, scaled);
    memset(hdr + hl, 0, 2880);
    assert_int_equal(ff_fits_scan_buffer(hdr, hl + 2880, UINT64_MAX, &s, &err), 0);
    assert_true(s.complete);
    assert_int_equal(s.elem_bytes, 4);
    assert_true(s.is_float);
    const char *uns[] = {"SIMPLE  =                    T", "bitpix  =                   16",
                         "NAXIS   =                    1", "naxis1  =                  100",
                         "BZERO   =                32768", NULL};
    hl = header(hdr, uns);
    memset(hdr + hl, 0, 2880);
    assert_int_equal(ff_fits_scan_buffer(hdr, hl + 2880, UINT64_MAX, &s, &err), 0);
    assert_int_equal(s.pixels, 100); /* keywords in any case, as CFITSIO reads them */
    assert_int_equal(s.elem_bytes, 2);
    assert_false(s.is_signed);

    /* A tile-compressed image counts its ZNAXISn, not its table's bytes. */
    const char *comp_primary[] = {"SIMPLE  =                    T", "BITPIX  =                    8",
                                  "NAXIS   =                    0", NULL};
    const char *comp[] = {"XTENSION= 'BINTABLE'", "BITPIX  =                    8",
                          "NAXIS   =                    2", "NAXIS1  =                    8",
                          "NAXIS2  =                    1", "PCOUNT  =                    0",
                          "GCOUNT  =                    1", "ZIMAGE  =                    T",
                          "ZBITPIX =                   32", "ZNAXIS  =                    2",
                          "ZNAXIS1 =                40000", "ZNAXIS2 =                30000", NULL};
    static unsigned char two[2880 * 4];
    size_t n1 = header(two, comp_primary);
    size_t n2 = header(two + n1, comp);
    memset(two + n1 + n2, 0, 2880);
    assert_int_equal(ff_fits_scan_buffer(two, n1 + n2 + 2880, UINT64_MAX, &s, &err), 0);
    assert_true(s.complete);
    assert_int_equal(s.hdus, 2);
    assert_int_equal(s.pixels, (uint64_t)40000 * 30000);
    assert_int_equal(s.elem_bytes, 4);

    /* Not FITS, empty, garbage: nothing found, never an error. */
    assert_int_equal(ff_fits_scan_buffer("hello", 5, UINT64_MAX, &s, &err), 0);
    assert_false(s.complete);
    assert_int_equal(s.pixels, 0);
    assert_int_equal(ff_fits_scan_buffer("", 0, UINT64_MAX, &s, &err), 0);
    assert_int_equal(s.pixels, 0);
}

static int stop_when_big(void *ctx, const ff_fits_scan *so_far)
{
    stops *s = ctx;
    s->calls++;
    return so_far->pixels > s->stop_above;
}

/* The stop function ends the walk before the data are inflated: a bomb is judged by its header
 * in about no time. */
static void test_scan_stops_early(void **state)
{
    (void)state;
    static unsigned char hdr[2880];
    const char *f64[] = {"SIMPLE  =                    T", "BITPIX  =                  -64",
                         "NAXIS   =                    2", "NAXIS1  =                 4096",
                         "NAXIS2  =                 4096", NULL};
    size_t hl = header(hdr, f64);
    uint64_t data = ((uint64_t)4096 * 4096 * 8 + 2879) / 2880 * 2880;
    size_t glen;
    unsigned char *gz = gzip_bomb(hdr, hl, data, &glen);
    char path[] = "/tmp/ff-budget-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, gz, glen), (ssize_t)glen);
    close(fd);
    free(gz);

    ff_fits_scan s;
    ff_err err = {0};
    stops st = {0, 1000};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(ff_fits_scan_file_until(path, UINT64_MAX, stop_when_big, &st, &s, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(st.calls, 1);
    assert_true(s.stopped);
    assert_int_equal(s.pixels, 4096 * 4096);
    assert_int_equal(s.content_bytes, hl + data); /* at least: this header's data */
    st = (stops){0, UINT64_MAX};
    assert_int_equal(ff_fits_scan_file_until(path, UINT64_MAX, stop_when_big, &st, &s, &err), 0);
    assert_false(s.stopped);
    assert_true(s.complete);
    assert_int_equal(s.content_bytes, hl + data);
    unlink(path);
    assert_int_equal(ff_fits_scan_file("/nonexistent-ff/x.fits", 1, &s, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_budget),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_scan_and_estimate),
        cmocka_unit_test(test_scan_stops_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
