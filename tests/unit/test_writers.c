/* Writers: NPY header bytes as numpy.save writes them, CSV as pandas to_csv writes it, header
 * text as the original astropy loop writes it (expected bytes produced with /usr/bin/python3),
 * header JSON checked by parsing it back with jansson. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/out/writers.h"

static char *run_csv(const ff_image *img, int nthreads)
{
    ff_membuf mb = {0};
    ff_sink s = ff_membuf_sink(&mb);
    ff_err err;
    if (ff_write_csv(img, &s, nthreads, &err) != 0)
        fail_msg("ff_write_csv: %s", err.msg);
    char *out = malloc(mb.len + 1);
    assert_non_null(out);
    memcpy(out, mb.data, mb.len);
    out[mb.len] = '\0';
    ff_membuf_free(&mb);
    return out;
}

static void test_npy_header(void **state)
{
    (void)state;
    float data[6] = {0, 1, 2, 3, NAN, -INFINITY};
    ff_image img = {.dtype = FF_F32, .ndim = 2, .shape = {2, 3}, .nelem = 6, .data = data};
    ff_membuf mb = {0};
    ff_sink s = ff_membuf_sink(&mb);
    ff_err err;
    assert_int_equal(ff_write_npy(&img, &s, &err), 0);
    /* np.save(b, np.zeros((2, 3), np.float32)): a 128-byte header */
    const char want[] = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (2, 3), }";
    assert_int_equal(mb.len, 128 + sizeof data);
    assert_memory_equal(mb.data, want, sizeof want - 1);
    for (size_t i = sizeof want - 1; i < 127; i++)
        assert_int_equal(mb.data[i], ' ');
    assert_int_equal(mb.data[127], '\n');
    assert_memory_equal(mb.data + 128, data, sizeof data); /* little-endian host */
    ff_membuf_free(&mb);

    uint8_t bytes[3] = {1, 2, 255};
    ff_image one = {.dtype = FF_U8, .ndim = 1, .shape = {3}, .nelem = 3, .data = bytes};
    s = ff_membuf_sink(&mb);
    assert_int_equal(ff_write_npy(&one, &s, &err), 0);
    const char want1[] = "\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, "
                         "'shape': (3,), }";
    assert_memory_equal(mb.data, want1, sizeof want1 - 1);
    assert_int_equal(mb.len, 131);
    ff_membuf_free(&mb);

    ff_image bad = img;
    bad.nelem = 5;
    s = ff_membuf_sink(&mb);
    assert_int_equal(ff_write_npy(&bad, &s, &err), -1);
    assert_true(strlen(err.msg) > 0);
    ff_membuf_free(&mb);
}

static void test_csv_float64_with_nan(void **state)
{
    (void)state;
    double d[6] = {1.5, NAN, -0.0, 1e-05, INFINITY, 123456789.0};
    ff_image img = {.dtype = FF_F64, .ndim = 2, .shape = {2, 3}, .nelem = 6, .data = d};
    for (int t = 1; t <= 3; t++) {
        char *out = run_csv(&img, t);
        assert_string_equal(out, "0,1,2\n1.5,,-0.0\n1e-05,inf,123456789.0\n");
        free(out);
    }
    float f[6];
    for (int i = 0; i < 6; i++)
        f[i] = (float)d[i];
    img.dtype = FF_F32;
    img.data = f;
    char *out = run_csv(&img, 1);
    assert_string_equal(out, "0,1,2\n1.5,,-0.0\n1e-05,inf,123456790.0\n");
    free(out);
}

static void test_csv_integers(void **state)
{
    (void)state;
    int16_t a[3] = {-32768, 0, 32767};
    ff_image img = {.dtype = FF_I16, .ndim = 1, .shape = {3}, .nelem = 3, .data = a};
    char *out = run_csv(&img, 1);
    assert_string_equal(out, "0\n-32768\n0\n32767\n");
    free(out);
    uint64_t u[2] = {0, UINT64_MAX};
    img = (ff_image){.dtype = FF_U64, .ndim = 2, .shape = {1, 2}, .nelem = 2, .data = u};
    out = run_csv(&img, 1);
    assert_string_equal(out, "0,1\n0,18446744073709551615\n");
    free(out);
    int64_t s[2] = {INT64_MIN, INT64_MAX};
    img = (ff_image){.dtype = FF_I64, .ndim = 2, .shape = {1, 2}, .nelem = 2, .data = s};
    out = run_csv(&img, 1);
    assert_string_equal(out, "0,1\n-9223372036854775808,9223372036854775807\n");
    free(out);
}

static void test_csv_threads_agree(void **state)
{
    (void)state;
    /* Wide enough rows that the image spans several blocks: every thread count gives the
     * same bytes as one thread. */
    size_t rows = 700, cols = 1000;
    int32_t *v = malloc(rows * cols * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < rows * cols; i++)
        v[i] = (int32_t)(i * 2654435761u);
    ff_image img = {.dtype = FF_I32, .ndim = 2, .shape = {rows, cols}, .nelem = rows * cols,
                    .data = v};
    char *one = run_csv(&img, 1);
    for (int t = 2; t <= 5; t++) {
        char *many = run_csv(&img, t);
        assert_string_equal(one, many);
        free(many);
    }
    /* spot check a value */
    char want[32];
    snprintf(want, sizeof want, "\n%d,", v[cols]);
    assert_non_null(strstr(one, want));
    free(one);
    free(v);
}

static void test_csv_shapes(void **state)
{
    (void)state;
    ff_image empty_rows = {.dtype = FF_F64, .ndim = 2, .shape = {0, 3}, .nelem = 0};
    char *out = run_csv(&empty_rows, 2);
    assert_string_equal(out, "0,1,2\n"); /* pandas: DataFrame(np.zeros((0, 3))) */
    free(out);
    ff_image no_cols = {.dtype = FF_F64, .ndim = 2, .shape = {2, 0}, .nelem = 0};
    out = run_csv(&no_cols, 1);
    assert_string_equal(out, "\n\n\n");
    free(out);
    ff_image cube = {.dtype = FF_U8, .ndim = 3, .shape = {2, 2, 2}, .nelem = 8};
    uint8_t d[8] = {0};
    cube.data = d;
    ff_membuf mb = {0};
    ff_sink s = ff_membuf_sink(&mb);
    ff_err err;
    assert_int_equal(ff_write_csv(&cube, &s, 1, &err), -1);
    assert_non_null(strstr(err.msg, "(2, 2, 2)"));
    assert_int_equal(mb.len, 0);
    ff_membuf_free(&mb);
}

static const char *CARDS[] = {
    "SIMPLE  =                    T / conforms",
    "BITPIX  =                  -32",
    "EXPTIME =             2.000191 / [s] exposure",
    "DSUN    =       147724815128.0",
    "F3      =              0.00001",
    "TELESCOP= 'SDO/AIA '           / telescope",
    "QUOTE   = 'it''s'",
    "UNDEF   =",
    "COMMENT first comment",
    "HISTORY some history",
    "COMMENT second comment",
    "        blank text",
    "BITPIX  =                   16 / repeated",
    "BIG     = 123456789012345678901234",
    "CPX     = (1.5, -2)",
};

#define NCARDS (sizeof CARDS / sizeof CARDS[0])

static void parse_cards(ff_header *h, size_t n)
{
    char *buf = malloc(80 * n);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        memset(buf + 80 * i, ' ', 80);
        memcpy(buf + 80 * i, CARDS[i], strlen(CARDS[i]));
    }
    ff_err err;
    assert_int_equal(ff_header_parse(buf, n, h, &err), 0);
    free(buf);
}

static void test_header_txt(void **state)
{
    (void)state;
    ff_header h;
    parse_cards(&h, NCARDS);
    ff_membuf mb = {0};
    ff_sink s = ff_membuf_sink(&mb);
    ff_err err;
    assert_int_equal(ff_write_header_txt(&h, &s, &err), 0);
    /* ''.join(f'{k} = {v}\n' for k, v in astropy Header.fromstring(cards).items()) */
    const char *want =
        "SIMPLE = True\nBITPIX = -32\nEXPTIME = 2.000191\nDSUN = 147724815128.0\nF3 = 1e-05\n"
        "TELESCOP = SDO/AIA\nQUOTE = it's\nUNDEF = None\nCOMMENT = first comment\n"
        "HISTORY = some history\nCOMMENT = second comment\n = blank text\nBITPIX = 16\n"
        "BIG = 123456789012345678901234\nCPX = (1.5-2j)\n";
    assert_int_equal(mb.len, strlen(want));
    assert_memory_equal(mb.data, want, mb.len);
    ff_membuf_free(&mb);
    ff_header_free(&h);
}

static void test_header_json(void **state)
{
    (void)state;
    ff_header h;
    parse_cards(&h, NCARDS - 2); /* BIG is checked by the e2e test: jansson has no big ints */
    ff_membuf mb = {0};
    ff_sink s = ff_membuf_sink(&mb);
    ff_err err;
    assert_int_equal(ff_write_header_json(&h, &s, &err), 0);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)mb.data, mb.len, 0, &jerr);
    if (!root)
        fail_msg("JSON does not parse: %s (line %d)", jerr.text, jerr.line);
    json_t *hd = json_object_get(root, "header"), *cm = json_object_get(root, "comments");
    assert_true(json_is_object(hd) && json_is_object(cm));
    assert_true(json_is_true(json_object_get(hd, "SIMPLE")));
    assert_int_equal(json_integer_value(json_object_get(hd, "BITPIX")), -32); /* first wins */
    assert_true(json_is_real(json_object_get(hd, "EXPTIME")));
    assert_true(json_real_value(json_object_get(hd, "EXPTIME")) == 2.000191);
    assert_true(json_real_value(json_object_get(hd, "F3")) == 1e-05);
    assert_string_equal(json_string_value(json_object_get(hd, "TELESCOP")), "SDO/AIA");
    assert_string_equal(json_string_value(json_object_get(hd, "QUOTE")), "it's");
    assert_true(json_is_null(json_object_get(hd, "UNDEF")));
    json_t *c = json_object_get(hd, "COMMENT");
    assert_int_equal(json_array_size(c), 2);
    assert_string_equal(json_string_value(json_array_get(c, 1)), "second comment");
    assert_string_equal(json_string_value(json_array_get(json_object_get(hd, ""), 0)),
                        "blank text");
    assert_string_equal(json_string_value(json_object_get(cm, "EXPTIME")), "[s] exposure");
    assert_null(json_object_get(cm, "BITPIX")); /* the first BITPIX card has no comment */
    assert_null(json_object_get(cm, "DSUN"));
    /* key order follows the header: SIMPLE, BITPIX, EXPTIME, ... */
    const char *first = strstr((const char *)mb.data, "\"SIMPLE\"");
    const char *second = strstr((const char *)mb.data, "\"BITPIX\"");
    assert_true(first && second && first < second);
    json_decref(root);
    ff_membuf_free(&mb);
    ff_header_free(&h);
}

static void test_sink_failure(void **state)
{
    (void)state;
    ff_header h;
    parse_cards(&h, NCARDS);
    ff_membuf mb = {.max = 10};
    ff_sink s = ff_membuf_sink(&mb);
    ff_err err;
    assert_int_equal(ff_write_header_txt(&h, &s, &err), -1);
    assert_non_null(strstr(err.msg, "limit"));
    ff_membuf_free(&mb);
    ff_header_free(&h);
    double d[4] = {1, 2, 3, 4};
    ff_image img = {.dtype = FF_F64, .ndim = 2, .shape = {2, 2}, .nelem = 4, .data = d};
    mb = (ff_membuf){.max = 6};
    s = ff_membuf_sink(&mb);
    assert_int_equal(ff_write_csv(&img, &s, 2, &err), -1);
    ff_membuf_free(&mb);
    mb = (ff_membuf){.max = 100};
    s = ff_membuf_sink(&mb);
    assert_int_equal(ff_write_npy(&img, &s, &err), -1);
    ff_membuf_free(&mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_header),        cmocka_unit_test(test_csv_float64_with_nan),
        cmocka_unit_test(test_csv_integers),      cmocka_unit_test(test_csv_threads_agree),
        cmocka_unit_test(test_csv_shapes),        cmocka_unit_test(test_header_txt),
        cmocka_unit_test(test_header_json),       cmocka_unit_test(test_sink_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
