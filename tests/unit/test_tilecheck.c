/* Regression tests for the tile checks that guard CFITSIO's decoders (core/tilecheck.h): real
 * RICE_1 tiles written by CFITSIO itself must pass; the corruptions that made CFITSIO read past its
 * buffer (found by fuzz/fuzz_rice.c) must be refused. A tile CFITSIO wrote is fetched back raw
 * with fits_read_descriptll from a file compressed here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <fitsio.h>

#include "core/tilecheck.h"

/* RICE_1 tiles of a 64 x 50 int16 image (one row per tile), compressed by CFITSIO */
static unsigned char *rice_tiles(int bitpix, size_t *ntiles, size_t **lens, size_t *npix)
{
    int st = 0;
    fitsfile *fp;
    char path[] = "/tmp/ff-tilecheck-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char name[64];
    snprintf(name, sizeof name, "!%s", path);
    fits_create_file(&fp, name, &st);
    fits_create_img(fp, BYTE_IMG, 0, NULL, &st); /* a compressed image is an extension */
    fits_set_compression_type(fp, RICE_1, &st);
    long tdim[2] = {64, 1};
    fits_set_tile_dim(fp, 2, tdim, &st);
    long naxes[2] = {64, 50};
    fits_create_img(fp, bitpix, 2, naxes, &st);
    int32_t v[64 * 50];
    for (int i = 0; i < 64 * 50; i++)
        v[i] = bitpix == 8 ? (i * 7919) % 97 + i % 64 : (i * 7919) % 3000 - 1000 + (i % 64) * 3;
    int16_t v16[64 * 50];
    uint8_t v8[64 * 50];
    for (int i = 0; i < 64 * 50; i++) {
        v16[i] = (int16_t)v[i];
        v8[i] = (uint8_t)v[i];
    }
    if (bitpix == SHORT_IMG)
        fits_write_img(fp, TSHORT, 1, 64 * 50, v16, &st);
    else if (bitpix == BYTE_IMG)
        fits_write_img(fp, TBYTE, 1, 64 * 50, v8, &st);
    else
        fits_write_img(fp, TINT, 1, 64 * 50, v, &st);
    fits_close_file(fp, &st);
    if (st)
        fprintf(stderr, "bitpix %d: CFITSIO status %d\n", bitpix, st);
    assert_int_equal(st, 0);
    fits_open_file(&fp, path, READONLY, &st);
    fits_movabs_hdu(fp, 2, NULL, &st);
    /* read the raw table, not the image: open the HDU as a table */
    fits_set_hdustruc(fp, &st);
    long rows = 0;
    fits_get_num_rows(fp, &rows, &st);
    int col = 0;
    fits_get_colnum(fp, CASEINSEN, "COMPRESSED_DATA", &col, &st);
    assert_int_equal(st, 0);
    *ntiles = (size_t)rows;
    *lens = calloc((size_t)rows, sizeof **lens);
    unsigned char *all = NULL;
    size_t total = 0;
    for (long r = 1; r <= rows; r++) {
        long long len = 0, off = 0;
        fits_read_descriptll(fp, col, r, &len, &off, &st);
        all = realloc(all, total + (size_t)len);
        fits_read_col(fp, TBYTE, col, r, 1, len, NULL, all + total, NULL, &st);
        (*lens)[r - 1] = (size_t)len;
        total += (size_t)len;
    }
    assert_int_equal(st, 0);
    fits_close_file(fp, &st);
    remove(path);
    *npix = 64;
    return all;
}

static void check_real_tiles(int bitpix, int bytepix)
{
    size_t n, npix, *lens;
    unsigned char *all = rice_tiles(bitpix, &n, &lens, &npix);
    assert_int_equal(n, 50);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        ff_err err = {0};
        assert_int_equal(ff_tile_check_rice(all + off, lens[i], npix, bytepix, 32, &err), 0);
        /* one byte short is always caught: the decoder needs every byte of a valid tile */
        assert_int_equal(ff_tile_check_rice(all + off, lens[i] - 1, npix, bytepix, 32, &err), -1);
        assert_non_null(strstr(err.msg, "runs past"));
        off += lens[i];
    }
    free(all);
    free(lens);
}

static void test_real_tiles_pass(void **state)
{
    (void)state;
    check_real_tiles(SHORT_IMG, 2);
    check_real_tiles(LONG_IMG, 4);
    check_real_tiles(BYTE_IMG, 1);
}

/* the crash: first value, an FS code for Rice coding, then only zero bits. CFITSIO's
 * "count leading zeros" loop reads on past the tile until it meets a non-zero byte. */
static void test_zero_run_refused(void **state)
{
    (void)state;
    for (int bytepix = 1; bytepix <= 4; bytepix *= 2) {
        unsigned char t[4096];
        memset(t, 0, sizeof t);
        t[bytepix] = 0x20; /* FS code 1 for any bytepix: the Rice-coded branch */
        ff_err err = {0};
        assert_int_equal(ff_tile_check_rice(t, sizeof t, 64, bytepix, 32, &err), -1);
        assert_non_null(strstr(err.msg, "zero bits"));
    }
    /* the fuzzer's first find: 1 byte for a 2-byte first pixel */
    ff_err err = {0};
    unsigned char one = 0x0a;
    assert_int_equal(ff_tile_check_rice(&one, 1, 11, 1, 32, &err), -1);
}

static void test_block_size_and_empty(void **state)
{
    (void)state;
    unsigned char t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ff_err err = {0};
    assert_int_equal(ff_tile_check_rice(t, sizeof t, 10, 4, 0, &err), -1);
    assert_non_null(strstr(err.msg, "block size"));
    /* FS code 0 (all differences zero) for the whole tile needs only the header bytes */
    assert_int_equal(ff_tile_check_rice(t, 5, 32, 4, 32, &err), 0);
    assert_int_equal(ff_tile_check_rice(t, 5, 33, 4, 32, &err), -1);
}

static void test_hcompress_header(void **state)
{
    (void)state;
    unsigned char t[32] = {0xDD, 0x99, 0, 0, 0, 16, 0, 0, 0, 4};
    ff_err err = {0};
    assert_int_equal(ff_tile_check_hcompress(t, sizeof t, 64, &err), 0);
    assert_int_equal(ff_tile_check_hcompress(t, sizeof t, 65, &err), -1);
    t[2] = 0x7f; /* nx of two thousand million: CFITSIO would allocate gigabytes */
    assert_int_equal(ff_tile_check_hcompress(t, sizeof t, 64, &err), -1);
    t[0] = 0;
    assert_int_equal(ff_tile_check_hcompress(t, sizeof t, 64, &err), -1);
}

/* PLIO_1: the list length comes from the list's own header; CFITSIO's decoder trusted it */
static void test_plio_header(void **state)
{
    (void)state;
    /* header with word 2 = 5 (length), instructions from word 3: one "set value" (opcode 4)
     * taking two words, then a plain run */
    unsigned char t[10] = {0, 0, 0, 0, 0, 5, 0x40, 0x01, 0x00, 0x00};
    ff_err err = {0};
    assert_int_equal(ff_tile_check_plio(t, 5, &err), 0);
    assert_int_equal(ff_tile_check_plio(t, 4, &err), -1); /* length 5 > 4 words */
    t[5] = 4;                                             /* opcode 4 is now the last word */
    assert_int_equal(ff_tile_check_plio(t, 4, &err), -1);
    assert_non_null(strstr(err.msg, "inside an instruction"));
    assert_int_equal(ff_tile_check_plio(t, 2, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_tiles_pass),
        cmocka_unit_test(test_zero_run_refused),
        cmocka_unit_test(test_block_size_and_empty),
        cmocka_unit_test(test_hcompress_header),
        cmocka_unit_test(test_plio_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
