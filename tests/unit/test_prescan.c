/* Unit tests of the header pre-scan (core/prescan.h): cards must be read the way CFITSIO reads
 * them (each variant's ZTILE2 compared with what CFITSIO itself reads from the same bytes), and
 * the values CFITSIO crashed or divided by zero on must be refused before it opens the file. Also
 * ff_fits_check_mem, which runs every check of the reader on a file in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fits/fits.h"
#include "core/fits/prescan.h"

#define BLOCK 2880

typedef struct buf {
    unsigned char b[BLOCK * 8];
    size_t n;    /* bytes of headers written */
    size_t card; /* cards in the open header */
} buf;

static void add(buf *f, const char *text)
{
    unsigned char *c = f->b + f->n + 80 * f->card++;
    memset(c, ' ', 80);
    memcpy(c, text, strlen(text) < 80 ? strlen(text) : 80);
}

/* ends the open header with END and pads it to a block */
static void end(buf *f)
{
    add(f, "END");
    size_t used = 80 * f->card;
    size_t blocks = (used + BLOCK - 1) / BLOCK;
    memset(f->b + f->n + used, ' ', blocks * BLOCK - used);
    f->n += blocks * BLOCK;
    f->card = 0;
}

/* an empty primary HDU, then a tile-compressed image's table header with extra cards, no heap */
static void compressed(buf *f, const char *const *extra)
{
    memset(f, 0, sizeof *f);
    add(f, "SIMPLE  =                    T");
    add(f, "BITPIX  =                    8");
    add(f, "NAXIS   =                    0");
    add(f, "EXTEND  =                    T");
    end(f);
    add(f, "XTENSION= 'BINTABLE'");
    add(f, "BITPIX  =                    8");
    add(f, "NAXIS   =                    2");
    add(f, "NAXIS1  =                    8");
    add(f, "NAXIS2  =                   14");
    add(f, "PCOUNT  =                    0");
    add(f, "GCOUNT  =                    1");
    add(f, "TFIELDS =                    1");
    add(f, "TTYPE1  = 'COMPRESSED_DATA'");
    add(f, "TFORM1  = '1PB(0)  '");
    add(f, "ZIMAGE  =                    T");
    add(f, "ZCMPTYPE= 'RICE_1  '");
    add(f, "ZBITPIX =                   16");
    add(f, "ZNAXIS  =                    2");
    add(f, "ZNAXIS1 =                   10");
    add(f, "ZNAXIS2 =                   14");
    add(f, "ZTILE1  =                   10");
    for (; extra && *extra; extra++)
        add(f, *extra);
    end(f);
    memset(f->b + f->n, 0, BLOCK); /* the table's rows: empty descriptors */
    f->n += BLOCK;
}

/* what CFITSIO reads as ZTILE2 in HDU 2 (1 when it finds no value, as the reader defaults) */
static long long cfitsio_ztile2(buf *f)
{
    fitsfile *fp = NULL;
    int st = 0;
    void *p = f->b;
    size_t n = f->n;
    fits_open_memfile(&fp, "t.fits", READONLY, &p, &n, 0, NULL, &st);
    assert_int_equal(st, 0);
    fits_movabs_hdu(fp, 2, NULL, &st);
    assert_int_equal(st, 0);
    long long t = 0;
    int s2 = 0;
    if (fits_read_key(fp, TLONGLONG, "ZTILE2", &t, NULL, &s2) != 0)
        t = 1;
    fits_close_file(fp, &st);
    fits_clear_errmsg();
    return t;
}

static void test_cards_read_as_cfitsio(void **state)
{
    (void)state;
    static const char *const variants[] = {
        "ZTILE2  =                    7", "ZTILE2= 7", "ZTILE2 X= 7", "ztile2  = 7", "HIERARCH ZTILE2 = 7",
        "ZTILE2    = 7", "ZTILE2=7", "ZTILE2  = 7.9", "ZTILE2 =5 = 0", "ZTILE2  = 7 / tile", "ZTILE2  = 7D0",
        "ZTILE2  =7", "ZTILE2\t= 0", "ZTILE2X = 0", "COMMENT ZTILE2 = 0",
    };
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        const char *extra[] = {variants[i], NULL};
        buf f;
        compressed(&f, extra);
        ff_prescan ps;
        ff_err err = {0};
        if (ff_fits_prescan(f.b, f.n, &ps, &err) != 0)
            fail_msg("'%s' refused: %s", variants[i], err.msg);
        assert_int_equal(ps.nhdus, 2);
        assert_int_equal(ps.hdu[1].offset, BLOCK);
        assert_true(ps.hdu[1].zimage);
        long long cf = cfitsio_ztile2(&f);
        if (cf != ps.hdu[1].ztile[1])
            fail_msg("'%s': CFITSIO reads ZTILE2 = %lld, the pre-scan %lld", variants[i], cf,
                     ps.hdu[1].ztile[1]);
    }
}

static void expect_refused(const buf *f, const char *words)
{
    ff_err err = {0};
    assert_int_equal(ff_fits_prescan(f->b, f->n, NULL, &err), -1);
    if (!strstr(err.msg, words))
        fail_msg("'%s' missing from '%s'", words, err.msg);
    assert_null(strchr(err.msg, '\n'));
}

/* Every way of writing a zero tile side CFITSIO divides by, and the ZNAXIS values it passed on */
static void test_compressed_refusals(void **state)
{
    (void)state;
    struct {
        const char *card, *words;
    } cases[] = {
        {"ZTILE2= 0", "ZTILE2 is not a positive number"},
        {"ZTILE2    = 0", "ZTILE2 is not a positive number"},
        {"ztile2 x= 0", "ZTILE2 is not a positive number"},
        {"ZTILE2  = ''", "ZTILE2 holds text where a number belongs"}, /* CFITSIO reads 0 */
        {"ZTILE2  = T", "ZTILE2 holds text where a number belongs"},  /* CFITSIO reads 1 */
        {"ZTILE1  =                   10", "two ZTILE1 cards"},
        {"HIERARCH ZTILE1 = 10", "two ZTILE1 cards"},
        {"NAXIS2  =                   14", "two NAXIS2 cards"},
        {"ZVAL1   =                    0", "block size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *extra[] = {cases[i].card, NULL};
        buf f;
        compressed(&f, extra);
        expect_refused(&f, cases[i].words);
    }
    buf f;
    compressed(&f, NULL);
    memcpy(f.b + BLOCK + 80 * 13, "ZNAXIS  =                   -1", 30);
    expect_refused(&f, "ZNAXIS = -1");
    memcpy(f.b + BLOCK + 80 * 13, "ZNAXIS  =                    4", 30);
    expect_refused(&f, "ZNAXIS = 4");
    memcpy(f.b + BLOCK + 80 * 13, "ZNAXIS  =                    2", 30);
    memcpy(f.b + BLOCK + 80 * 15, "ZNAXIS2 =                    0", 30);
    expect_refused(&f, "ZNAXIS2 is 0");
    /* a card after the END CFITSIO sees ("END" then anything after a blank) is not judged */
    compressed(&f, (const char *const[]){"END   x", "ZTILE2  =                    0", NULL});
    ff_err err = {0};
    assert_int_equal(ff_fits_prescan(f.b, f.n, NULL, &err), 0);
    assert_int_equal(cfitsio_ztile2(&f), 1);
}

static void image(buf *f, const char *naxis, int naxes)
{
    memset(f, 0, sizeof *f);
    add(f, "SIMPLE  =                    T");
    add(f, "BITPIX  =                    8");
    add(f, naxis);
    for (int i = 1; i <= naxes; i++) {
        char c[81];
        snprintf(c, sizeof c, "NAXIS%-3d=                    1", i);
        add(f, c);
    }
    end(f);
    memset(f->b + f->n, 0, BLOCK);
    f->n += BLOCK;
}

static void test_naxis(void **state)
{
    (void)state;
    buf f;
    image(&f, "NAXIS   =                  104", 104); /* CFITSIO 4.2 crashed opening this */
    expect_refused(&f, "104 axes");
    image(&f, "NAXIS   = '104'", 104);
    expect_refused(&f, "104 axes");
    image(&f, "NAXIS   =                1.04E2", 104);
    expect_refused(&f, "104 axes");
    image(&f, "NAXIS   =                    4", 4);
    expect_refused(&f, "4 axes");
    image(&f, "NAXIS   =                   -1", 1);
    expect_refused(&f, "NAXIS = -1");
    image(&f, "NAXIS   = 'two'", 2);
    expect_refused(&f, "not a number");
    image(&f, "NAXIS   =                    2", 2);
    ff_prescan ps;
    ff_err err = {0};
    assert_int_equal(ff_fits_prescan(f.b, f.n, &ps, &err), 0);
    assert_int_equal(ps.hdu[0].naxis, 2);
    /* the data unit of axes multiplying past 2^62 bytes */
    memset(&f, 0, sizeof f);
    add(&f, "SIMPLE  =                    T");
    add(&f, "BITPIX  =                  -64");
    add(&f, "NAXIS   =                    3");
    add(&f, "NAXIS1  =        1099511627776");
    add(&f, "NAXIS2  =        1099511627776");
    add(&f, "NAXIS3  =                    2");
    end(&f);
    expect_refused(&f, "too large");
    /* no END in the primary header */
    memset(&f, 0, sizeof f);
    add(&f, "SIMPLE  =                    T");
    f.n = BLOCK;
    memset(f.b + 80, ' ', BLOCK - 80);
    expect_refused(&f, "no END card");
}

/* ff_fits_check_mem: a tile-compressed file written by CFITSIO passes every check; the crashing
 * files are refused with their reason */
static void test_check_mem(void **state)
{
    (void)state;
    char path[] = "/tmp/ff-prescan-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char name[64];
    snprintf(name, sizeof name, "!%s", path);
    fitsfile *fp;
    int st = 0;
    fits_create_file(&fp, name, &st);
    fits_create_img(fp, BYTE_IMG, 0, NULL, &st);
    fits_set_compression_type(fp, PLIO_1, &st);
    long naxes[2] = {40, 30};
    fits_create_img(fp, SHORT_IMG, 2, naxes, &st);
    short v[1200];
    for (int i = 0; i < 1200; i++)
        v[i] = (short)((i / 9) % 4 * 100);
    fits_write_img(fp, TSHORT, 1, 1200, v, &st);
    fits_close_file(fp, &st);
    assert_int_equal(st, 0);
    FILE *in = fopen(path, "rb");
    static unsigned char data[1 << 16];
    size_t n = fread(data, 1, sizeof data, in);
    fclose(in);
    remove(path);
    ff_fits_opts opts = {.max_pixels = 1 << 20, .nthreads = 1};
    ff_err err = {0};
    if (ff_fits_check_mem(data, n, &opts, &err) != 0)
        fail_msg("%s", err.msg);
    buf f;
    image(&f, "NAXIS   =                  104", 104);
    assert_int_equal(ff_fits_check_mem(f.b, f.n, &opts, &err), -1);
    assert_non_null(strstr(err.msg, "104 axes"));
    assert_int_equal(ff_fits_check_mem(data, 0, &opts, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cards_read_as_cfitsio),
        cmocka_unit_test(test_compressed_refusals),
        cmocka_unit_test(test_naxis),
        cmocka_unit_test(test_check_mem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
