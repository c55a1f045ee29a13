/* Unit tests of ff_fits_read on small files written here with CFITSIO's own writer: dtype, shape,
 * values, HDU choice, threads and the refusals of bad files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fits/fits.h"

static char tmpdir[256];

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static fitsfile *create(const char *name)
{
    fitsfile *fp = NULL;
    int st = 0;
    char p[600];
    snprintf(p, sizeof p, "!%s", tpath(name)); /* '!' overwrites */
    fits_create_file(&fp, p, &st);
    assert_int_equal(st, 0);
    return fp;
}

static void done(fitsfile *fp)
{
    int st = 0;
    fits_close_file(fp, &st);
    assert_int_equal(st, 0);
}

static void empty_primary(fitsfile *fp)
{
    int st = 0;
    fits_create_img(fp, SHORT_IMG, 0, NULL, &st);
    assert_int_equal(st, 0);
}

static void add_table(fitsfile *fp)
{
    int st = 0;
    char *tt[] = {"A"}, *tf[] = {"1J"};
    fits_create_tbl(fp, BINARY_TBL, 3, 1, tt, tf, NULL, "T", &st);
    int v[3] = {1, 2, 3};
    fits_write_col(fp, TINT, 1, 1, 1, 3, v, &st);
    assert_int_equal(st, 0);
}

static int16_t *pattern16(size_t n, int seed)
{
    int16_t *a = malloc(n * sizeof *a);
    assert_non_null(a);
    uint32_t x = (uint32_t)seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        a[i] = (int16_t)((int)(i % 3000) + (int)((x >> 16) % 64) - 500);
    }
    return a;
}

static void write_i16(fitsfile *fp, long nx, long ny, const int16_t *a)
{
    int st = 0;
    long ax[2] = {nx, ny};
    fits_create_img(fp, SHORT_IMG, 2, ax, &st);
    fits_write_img(fp, TSHORT, 1, (LONGLONG)nx * ny, (void *)a, &st);
    assert_int_equal(st, 0);
}

static int read_file(const char *name, int nthreads, ff_fits *f, ff_err *e)
{
    ff_fits_opts o = {.max_pixels = 0, .nthreads = nthreads};
    memset(e, 0, sizeof *e);
    return ff_fits_read(tpath(name), &o, f, e);
}

static void test_int16_primary(void **state)
{
    (void)state;
    int16_t *a = pattern16(30 * 20, 1);
    fitsfile *fp = create("p16.fits");
    write_i16(fp, 30, 20, a);
    done(fp);
    ff_fits f;
    ff_err e;
    assert_int_equal(read_file("p16.fits", 1, &f, &e), 0);
    assert_int_equal(f.hdu, 0);
    assert_int_equal(f.compressed, 0);
    assert_int_equal(f.bitpix, 16);
    assert_int_equal(f.image.dtype, FF_I16);
    assert_int_equal(f.image.ndim, 2);
    assert_int_equal(f.image.shape[0], 20); /* NAXIS2 first */
    assert_int_equal(f.image.shape[1], 30);
    assert_memory_equal(f.image.data, a, sizeof(int16_t) * 600);
    assert_non_null(ff_header_find(&f.header, "NAXIS1"));
    ff_fits_free(&f);
    free(a);
}

static void test_uint16_and_scaled(void **state)
{
    (void)state;
    /* unsigned 16-bit written by CFITSIO (BZERO = 32768) */
    uint16_t u[40];
    for (int i = 0; i < 40; i++)
        u[i] = (uint16_t)(i * 1600 + 7);
    fitsfile *fp = create("u16.fits");
    long ax[2] = {8, 5};
    int st = 0;
    fits_create_img(fp, USHORT_IMG, 2, ax, &st);
    fits_write_img(fp, TUSHORT, 1, 40, u, &st);
    assert_int_equal(st, 0);
    done(fp);
    ff_fits f;
    ff_err e;
    assert_int_equal(read_file("u16.fits", 1, &f, &e), 0);
    assert_int_equal(f.image.dtype, FF_U16);
    assert_memory_equal(f.image.data, u, sizeof u);
    ff_fits_free(&f);

    /* int16 with BSCALE/BZERO: float32, computed in float32 as numpy does */
    int16_t raw[12];
    for (int i = 0; i < 12; i++)
        raw[i] = (int16_t)(i * 1000 - 6000);
    fp = create("s16.fits");
    long ax2[1] = {12};
    fits_create_img(fp, SHORT_IMG, 1, ax2, &st);
    double bs = 0.1, bz = 100.3;
    fits_write_key(fp, TDOUBLE, "BSCALE", &bs, NULL, &st);
    fits_write_key(fp, TDOUBLE, "BZERO", &bz, NULL, &st);
    fits_set_bscale(fp, 1.0, 0.0, &st); /* store the raw integers */
    fits_write_img(fp, TSHORT, 1, 12, raw, &st);
    assert_int_equal(st, 0);
    done(fp);
    assert_int_equal(read_file("s16.fits", 1, &f, &e), 0);
    assert_int_equal(f.image.dtype, FF_F32);
    assert_int_equal(f.image.ndim, 1);
    const float *v = f.image.data;
    for (int i = 0; i < 12; i++) {
        float want = (float)raw[i] * (float)bs + (float)bz;
        assert_true(v[i] == want);
        /* and close to the exact value, so the test is not only echoing the reader */
        assert_true(fabs(v[i] - (raw[i] * bs + bz)) < 1e-2);
    }
    ff_fits_free(&f);
}

static void test_blank_becomes_nan(void **state)
{
    (void)state;
    int16_t raw[6] = {1, -32768, 3, 4, -32768, 6};
    fitsfile *fp = create("blank.fits");
    long ax[1] = {6};
    int st = 0, blank = -32768;
    fits_create_img(fp, SHORT_IMG, 1, ax, &st);
    fits_write_key(fp, TINT, "BLANK", &blank, NULL, &st);
    fits_set_imgnull(fp, 0, &st);
    fits_write_img(fp, TSHORT, 1, 6, raw, &st);
    assert_int_equal(st, 0);
    done(fp);
    ff_fits f;
    ff_err e;
    assert_int_equal(read_file("blank.fits", 1, &f, &e), 0);
    assert_int_equal(f.image.dtype, FF_F32);
    const float *v = f.image.data;
    assert_true(isnan(v[1]) && isnan(v[4]));
    assert_true(v[0] == 1.0f && v[5] == 6.0f);
    ff_fits_free(&f);
}

static void test_hdu_choice(void **state)
{
    (void)state;
    int16_t *a = pattern16(12, 2), *b = pattern16(20, 3);
    /* primary and HDU 1 both images: HDU 1 */
    fitsfile *fp = create("both.fits");
    write_i16(fp, 4, 3, a);
    write_i16(fp, 5, 4, b);
    done(fp);
    ff_fits f;
    ff_err e;
    assert_int_equal(read_file("both.fits", 1, &f, &e), 0);
    assert_int_equal(f.hdu, 1);
    assert_int_equal(f.image.shape[1], 5);
    assert_memory_equal(f.image.data, b, 40);
    ff_fits_free(&f);

    /* primary image, HDU 1 a table: primary */
    fp = create("ptab.fits");
    write_i16(fp, 4, 3, a);
    add_table(fp);
    done(fp);
    assert_int_equal(read_file("ptab.fits", 1, &f, &e), 0);
    assert_int_equal(f.hdu, 0);
    assert_memory_equal(f.image.data, a, 24);
    ff_fits_free(&f);

    /* empty primary, table, image in HDU 2 */
    fp = create("h2.fits");
    empty_primary(fp);
    add_table(fp);
    write_i16(fp, 5, 4, b);
    done(fp);
    assert_int_equal(read_file("h2.fits", 1, &f, &e), 0);
    assert_int_equal(f.hdu, 2);
    assert_memory_equal(f.image.data, b, 40);
    ff_fits_free(&f);
    free(a);
    free(b);
}

static void test_cube_shape(void **state)
{
    (void)state;
    int16_t *a = pattern16(2 * 3 * 4, 4);
    fitsfile *fp = create("cube.fits");
    long ax[3] = {4, 3, 2};
    int st = 0;
    fits_create_img(fp, SHORT_IMG, 3, ax, &st);
    fits_write_img(fp, TSHORT, 1, 24, a, &st);
    assert_int_equal(st, 0);
    done(fp);
    ff_fits f;
    ff_err e;
    assert_int_equal(read_file("cube.fits", 1, &f, &e), 0);
    assert_int_equal(f.image.ndim, 3);
    assert_int_equal(f.image.shape[0], 2);
    assert_int_equal(f.image.shape[1], 3);
    assert_int_equal(f.image.shape[2], 4);
    assert_memory_equal(f.image.data, a, 48);
    ff_fits_free(&f);
    free(a);
}

/* RICE_1 in HDU 1, large enough that two threads each take a band */
static void test_rice_threads(void **state)
{
    (void)state;
    const long nx = 1024, ny = 700;
    int16_t *a = pattern16((size_t)(nx * ny), 5);
    fitsfile *fp = create("rice.fits");
    empty_primary(fp);
    int st = 0;
    fits_set_compression_type(fp, RICE_1, &st);
    long tile[2] = {nx, 16};
    fits_set_tile_dim(fp, 2, tile, &st);
    write_i16(fp, nx, ny, a);
    done(fp);
    for (int nt = 1; nt <= 3; nt++) {
        ff_fits f;
        ff_err e;
        assert_int_equal(read_file("rice.fits", nt, &f, &e), 0);
        assert_int_equal(f.hdu, 1);
        assert_int_equal(f.compressed, 1);
        assert_string_equal(f.compression, "RICE_1");
        assert_int_equal(f.image.dtype, FF_I16);
        assert_memory_equal(f.image.data, a, sizeof(int16_t) * (size_t)(nx * ny));
        /* the header is the image's, not the table's */
        int64_t bitpix = 0;
        assert_int_equal(ff_header_get_int(&f.header, "BITPIX", &bitpix), 0);
        assert_int_equal(bitpix, 16);
        assert_null(ff_header_find(&f.header, "ZCMPTYPE"));
        ff_fits_free(&f);
    }
    free(a);
}

static void write_bytes(const char *name, const void *p, size_t n)
{
    FILE *f = fopen(tpath(name), "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void expect_error(const char *name, const char *words, uint64_t max_pixels)
{
    ff_fits f;
    ff_err e;
    memset(&e, 0, sizeof e);
    ff_fits_opts o = {.max_pixels = max_pixels, .nthreads = 2};
    int rc = ff_fits_read(tpath(name), &o, &f, &e);
    if (rc == 0 || !strstr(e.msg, words))
        fail_msg("%s: expected an error with \"%s\", got rc=%d \"%s\"", name, words, rc, e.msg);
    assert_null(f.image.data);
    assert_null(f.header.cards);
    assert_null(strchr(e.msg, '\n'));
}

static void test_bad_inputs(void **state)
{
    (void)state;
    write_bytes("empty.fits", "", 0);
    expect_error("empty.fits", "empty", 0);

    const char text[] = "hello, this is not a FITS file at all\n";
    write_bytes("text.fits", text, sizeof text - 1);
    expect_error("text.fits", "not a FITS file", 0);

    /* truncated: a 200x300 image cut after 10000 data bytes */
    int16_t *a = pattern16(60000, 6);
    fitsfile *fp = create("full.fits");
    write_i16(fp, 300, 200, a);
    done(fp);
    FILE *in = fopen(tpath("full.fits"), "rb");
    assert_non_null(in);
    char *buf = malloc(2880 + 10000);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, 2880 + 10000, in), 2880 + 10000);
    fclose(in);
    write_bytes("trunc.fits", buf, 2880 + 10000);
    expect_error("trunc.fits", "truncated: header says 120000 data bytes but only 10000 follow", 0);
    /* header cut in the middle: no END card */
    write_bytes("hcut.fits", buf, 400);
    expect_error("hcut.fits", "no END card", 0);
    free(buf);

    /* over the pixel limit, refused before reading */
    expect_error("full.fits", "60000 pixels, more than the limit of 1000", 1000);

    /* table only */
    fp = create("tab.fits");
    empty_primary(fp);
    add_table(fp);
    done(fp);
    expect_error("tab.fits", "table-only", 0);

    /* four axes */
    fp = create("n4.fits");
    long ax4[4] = {2, 2, 2, 2};
    int st = 0;
    fits_create_img(fp, BYTE_IMG, 4, ax4, &st);
    unsigned char z[16] = {0};
    fits_write_img(fp, TBYTE, 1, 16, z, &st);
    assert_int_equal(st, 0);
    done(fp);
    expect_error("n4.fits", "4 axes", 0);

    expect_error("does-not-exist.fits", "cannot open", 0);
    free(a);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/ff_fits_test_XXXXXX", base);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int16_primary),
        cmocka_unit_test(test_uint16_and_scaled),
        cmocka_unit_test(test_blank_becomes_nan),
        cmocka_unit_test(test_hdu_choice),
        cmocka_unit_test(test_cube_shape),
        cmocka_unit_test(test_rice_threads),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
