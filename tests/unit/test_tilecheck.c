/* Regression tests for the tile checks that guard CFITSIO's decoders (core/tilecheck.h): real
 * RICE_1, HCOMPRESS_1 and PLIO_1 tiles written by CFITSIO itself must pass; the corruptions that
 * made CFITSIO read past its buffer (found by fuzz/fuzz_rice.c, fuzz_fits_core and by hand) must be
 * refused. A tile CFITSIO wrote is fetched back raw
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
#include <fitsio2.h>

#include "core/fits/rice.h"
#include "core/fits/tilecheck.h"

/* The tiles of a 64 x 50 image compressed by CFITSIO itself with ctype (RICE_1: one row per tile;
 * HCOMPRESS_1: 16 x 10 blocks; PLIO_1: rows), each as it lies in the file (PLIO_1's 16-bit words
 * big-endian). */
static unsigned char *cfitsio_tiles(int ctype, int bitpix, size_t *ntiles, size_t **lens, size_t **npix)
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
    fits_set_compression_type(fp, ctype, &st);
    long tdim[2] = {64, 1};
    if (ctype == HCOMPRESS_1)
        tdim[0] = 16, tdim[1] = 10;
    fits_set_tile_dim(fp, 2, tdim, &st);
    long naxes[2] = {64, 50};
    fits_create_img(fp, bitpix, 2, naxes, &st);
    int32_t v[64 * 50];
    for (int i = 0; i < 64 * 50; i++)
        v[i] = bitpix == 8 ? (i * 7919) % 97 + i % 64 : (i * 7919) % 3000 - 1000 + (i % 64) * 3;
    if (ctype == PLIO_1) /* a mask: runs of small non-negative values */
        for (int i = 0; i < 64 * 50; i++)
            v[i] = (i / 7) % 5 == 0 ? 0 : (i / 50) % 9 + (i % 64 > 40 ? 300 : 0);
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
    *npix = calloc((size_t)rows, sizeof **npix);
    unsigned char *all = NULL;
    size_t total = 0;
    for (long r = 1; r <= rows; r++) {
        long long len = 0, off = 0;
        fits_read_descriptll(fp, col, r, &len, &off, &st);
        size_t bytes = (size_t)len * (ctype == PLIO_1 ? 2 : 1);
        all = realloc(all, total + bytes);
        if (ctype == PLIO_1) {
            int16_t w[4096];
            assert_true(len <= 4096);
            fits_read_col(fp, TSHORT, col, r, 1, len, NULL, w, NULL, &st);
            for (long long k = 0; k < len; k++) {
                all[total + 2 * (size_t)k] = (unsigned char)((uint16_t)w[k] >> 8);
                all[total + 2 * (size_t)k + 1] = (unsigned char)(w[k] & 0xff);
            }
        } else {
            fits_read_col(fp, TBYTE, col, r, 1, len, NULL, all + total, NULL, &st);
        }
        (*lens)[r - 1] = bytes;
        (*npix)[r - 1] = ctype == HCOMPRESS_1 ? 160 : 64;
        total += bytes;
    }
    assert_int_equal(st, 0);
    fits_close_file(fp, &st);
    remove(path);
    return all;
}

static void check_real_tiles(int bitpix, int bytepix)
{
    size_t n, *npix, *lens;
    unsigned char *all = cfitsio_tiles(RICE_1, bitpix, &n, &lens, &npix);
    assert_int_equal(n, 50);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        ff_err err = {0};
        assert_int_equal(ff_tile_check_rice(all + off, lens[i], npix[i], bytepix, 32, &err), 0);
        /* one byte short is always caught: the decoder needs every byte of a valid tile */
        assert_int_equal(ff_tile_check_rice(all + off, lens[i] - 1, npix[i], bytepix, 32, &err), -1);
        assert_non_null(strstr(err.msg, "runs past"));
        off += lens[i];
    }
    free(all);
    free(lens);
    free(npix);
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

/* Found by fuzz_rice: our RICE decoder (rice.c) masked a Rice-coded difference to the pixel's 16
 * bits before folding its sign, where CFITSIO folds all 32: a difference of 65536 (65536 zero
 * bits, then the 1 ending the run; FS 0) decodes to 0x8000 in CFITSIO and gave 0 in ours. */
static void test_rice_wide_difference(void **state)
{
    (void)state;
    static unsigned char t[2 + 1 + 8191 + 1];
    memset(t, 0, sizeof t);
    t[2] = 0x10;             /* FS code 1 (FS 0), then four zero bits */
    t[sizeof t - 1] = 0x08;  /* four more zero bits, then the 1 */
    ff_err err = {0};
    assert_int_equal(ff_tile_check_rice(t, sizeof t, 1, 2, 32, &err), 0);
    uint16_t ours = 1, theirs = 2;
    assert_int_equal(ff_rice_decode(t, sizeof t, &ours, 1, 2, 32, &err), 0);
    assert_int_equal(fits_rdecomp_short(t, (int)sizeof t, &theirs, 1, 32), 0);
    assert_int_equal(theirs, 0x8000);
    assert_int_equal(ours, theirs);
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

/* HCOMPRESS_1 tiles written by CFITSIO pass the walk, and CFITSIO decodes each of them; cut
 * short they are refused: CFITSIO's decoder would read past them. */
static void test_real_hcompress_tiles(void **state)
{
    (void)state;
    for (int bitpix = 8; bitpix <= 32; bitpix *= 2) {
        size_t n, *npix, *lens;
        unsigned char *all = cfitsio_tiles(HCOMPRESS_1, bitpix, &n, &lens, &npix);
        assert_int_equal(n, 20);
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            ff_err err = {0};
            if (ff_tile_check_hcompress(all + off, lens[i], npix[i], &err) != 0)
                fail_msg("bitpix %d tile %zu: %s", bitpix, i, err.msg);
            assert_int_equal(ff_tile_check_hcompress(all + off, lens[i] / 2, npix[i], &err), -1);
            assert_non_null(strstr(err.msg, "runs past"));
            int a[160], nx = 0, ny = 0, scale = 0, st = 0;
            unsigned char copy[4096];
            assert_true(lens[i] <= sizeof copy);
            memcpy(copy, all + off, lens[i]);
            fits_hdecompress(copy, 0, a, &nx, &ny, &scale, &st);
            assert_int_equal(st, 0);
            assert_int_equal(nx * ny, 160);
            off += lens[i];
        }
        free(all);
        free(lens);
        free(npix);
    }
}

/* Streams CFITSIO's decoder does not survive, made by hand: the header (2 + 3 * 4 + 8 bytes) and
 * the bit-plane counts, then the bit stream. */
static void test_hcompress_damaged(void **state)
{
    (void)state;
    ff_err err = {0};
    /* 1 x 2 pixels: the quadrant of nx/2 = 0 rows shares its plane count with a real one; a
     * quadtree-coded plane there makes CFITSIO store a code in a 0-byte array */
    unsigned char empty[27] = {0xDD, 0x99, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0};
    empty[23] = 1;          /* planes of quadrants 1 and 2 */
    empty[25] = 0x08;       /* quadrant 1: direct (0), value 8 */
    empty[26] = 0xF0;       /* quadrant 2: quadtree (15) */
    assert_int_equal(ff_tile_check_hcompress(empty, sizeof empty, 2, &err), -1);
    assert_non_null(strstr(err.msg, "empty quadrant"));
    empty[26] = 0x00;       /* quadrant 2 direct: nothing to read; then the 0 end code */
    assert_int_equal(ff_tile_check_hcompress(empty, sizeof empty, 2, &err), -1);
    assert_non_null(strstr(err.msg, "runs past")); /* the sign bit of pixel 1 is missing */
    unsigned char ok[28];
    memcpy(ok, empty, sizeof empty);
    ok[27] = 0x80;
    assert_int_equal(ff_tile_check_hcompress(ok, sizeof ok, 2, &err), 0);
    int a[2], nx, ny, scale, st = 0;
    fits_hdecompress(ok, 0, a, &nx, &ny, &scale, &st);
    assert_int_equal(st, 0);
    /* a bit-plane code other than 0 or 15 */
    unsigned char bad[64] = {0xDD, 0x99, 0, 0, 0, 4, 0, 0, 0, 4};
    bad[22] = 3;
    bad[25] = 0x50;
    assert_int_equal(ff_tile_check_hcompress(bad, sizeof bad, 16, &err), -1);
    assert_non_null(strstr(err.msg, "neither 0 nor 15"));
    /* many planes of quadtree codes whose blocks are all set: far more bits than the tile has */
    unsigned char big[40] = {0xDD, 0x99, 0, 0, 0, 16, 0, 0, 0, 10};
    big[22] = big[23] = big[24] = 30;
    memset(big + 25, 0xFF, sizeof big - 25);
    assert_int_equal(ff_tile_check_hcompress(big, sizeof big, 160, &err), -1);
    assert_non_null(strstr(err.msg, "runs past"));
}

/* PLIO_1: the list length and start come from the list's own header; CFITSIO's decoder (pl_l2pi)
 * trusted them and read as far as they said. */
static void test_plio(void **state)
{
    (void)state;
    size_t n, *npix, *lens;
    unsigned char *all = cfitsio_tiles(PLIO_1, SHORT_IMG, &n, &lens, &npix);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        ff_err err = {0};
        if (ff_tile_check_plio(all + off, lens[i] / 2, &err) != 0)
            fail_msg("tile %zu: %s", i, err.msg);
        off += lens[i];
    }
    free(all);
    free(lens);
    free(npix);

    /* old-style header: word 2 = 5 (length), instructions from word 3: "set high value"
     * (opcode 1) taking the next word too, then a run (opcode 4) */
    unsigned char t[10] = {0, 0, 0, 0, 0, 5, 0x10, 0x01, 0x00, 0x02};
    ff_err err = {0};
    assert_int_equal(ff_tile_check_plio(t, 5, &err), 0);
    assert_int_equal(ff_tile_check_plio(t, 4, &err), -1); /* length 5 > 4 words */
    t[5] = 4; /* the list now ends at the opcode 1: its second word lies past a 4-word tile */
    assert_int_equal(ff_tile_check_plio(t, 4, &err), -1);
    assert_non_null(strstr(err.msg, "inside an instruction"));
    assert_int_equal(ff_tile_check_plio(t, 5, &err), 0); /* the tile holds that word */
    t[6] = 0x40; /* opcode 4 takes one word */
    assert_int_equal(ff_tile_check_plio(t, 4, &err), 0);
    assert_int_equal(ff_tile_check_plio(t, 2, &err), -1);
    /* new-style header (word 2 <= 0): length from words 3-4, start from word 1 */
    unsigned char u[14] = {0, 0, 0, 7, 0xff, 0x9c, 0, 7, 0, 0, 0, 0, 0x40, 0x05};
    assert_int_equal(ff_tile_check_plio(u, 7, &err), 0);
    u[2] = 0xFF, u[3] = 0xF0; /* start at word -16 */
    assert_int_equal(ff_tile_check_plio(u, 7, &err), -1);
    assert_non_null(strstr(err.msg, "before its own beginning"));
    u[2] = 0, u[3] = 7;
    u[7] = 0; /* length 0: the decoder returns without writing a pixel */
    assert_int_equal(ff_tile_check_plio(u, 7, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));
    u[7] = 7;
    u[8] = 0xff; /* length -32768 * ... : negative */
    assert_int_equal(ff_tile_check_plio(u, 7, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_tiles_pass),
        cmocka_unit_test(test_zero_run_refused),
        cmocka_unit_test(test_block_size_and_empty),
        cmocka_unit_test(test_rice_wide_difference),
        cmocka_unit_test(test_hcompress_header),
        cmocka_unit_test(test_real_hcompress_tiles),
        cmocka_unit_test(test_hcompress_damaged),
        cmocka_unit_test(test_plio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
