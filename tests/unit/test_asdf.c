/* Unit tests of the ASDF writer's binary layer: block header fields, block index offset, raw and
 * zlib blocks (inflated back with zlib itself), the block compressor against zlib's inflate,
 * MD5 against the RFC 1321 test vectors, and refusal of bad inputs. The YAML tree is checked by
 * python-asdf in tests/e2e/test_asdf_interop.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/out/asdf.h"
#include "core/out/asdf_block.h"

typedef struct parsed {
    size_t tree_end;    /* offset just after "\n...\n" */
    size_t block_off;
    unsigned header_size;
    uint32_t flags;
    char comp[5];
    uint64_t allocated, used, data_size;
    unsigned char md5[16];
    const unsigned char *data;
    size_t index_off;   /* offset of "#ASDF BLOCK INDEX" */
    unsigned long long index_value;
} parsed;

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void parse_file(const ff_membuf *mb, parsed *p)
{
    memset(p, 0, sizeof *p);
    const unsigned char *d = mb->data;
    assert_true(mb->len > 64);
    assert_memory_equal(d, "#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n", 43);
    const unsigned char *end = NULL;
    for (size_t i = 0; i + 5 <= mb->len; i++)
        if (memcmp(d + i, "\n...\n", 5) == 0) {
            end = d + i + 5;
            break;
        }
    assert_non_null(end);
    p->tree_end = (size_t)(end - d);
    p->block_off = p->tree_end;
    const unsigned char *b = d + p->block_off;
    assert_memory_equal(b, "\323BLK", 4);
    p->header_size = (unsigned)(b[4] << 8 | b[5]);
    p->flags = (uint32_t)b[6] << 24 | (uint32_t)b[7] << 16 | (uint32_t)b[8] << 8 | b[9];
    memcpy(p->comp, b + 10, 4);
    p->allocated = rd64(b + 14);
    p->used = rd64(b + 22);
    p->data_size = rd64(b + 30);
    memcpy(p->md5, b + 38, 16);
    p->data = b + 6 + p->header_size;
    p->index_off = p->block_off + 6 + p->header_size + p->allocated;
    assert_true(p->index_off < mb->len);
    const char *idx = (const char *)d + p->index_off;
    size_t rest = mb->len - p->index_off;
    char tail[128];
    assert_true(rest < sizeof tail);
    memcpy(tail, idx, rest);
    tail[rest] = '\0';
    assert_int_equal(sscanf(tail, "#ASDF BLOCK INDEX\n%%YAML 1.1\n---\n- %llu\n...\n",
                            &p->index_value), 1);
    assert_string_equal(tail + rest - 4, "...\n");
}

static int write_asdf(const ff_image *img, int compress, int nthreads, const char *hek,
                      const char *header_text, ff_membuf *mb, ff_err *err)
{
    ff_asdf_meta meta = {"me", "inst", "", "desc", "FitsFlow", "0.1.0", "2026-01-01T00:00:00Z"};
    ff_asdf_input in;
    memset(&in, 0, sizeof in);
    in.meta = &meta;
    in.source_name = "x.fits";
    in.header_text = header_text;
    in.image = img;
    in.npy_path = "data/x_data.npy";
    in.hek_json = hek;
    in.hek_json_len = hek ? strlen(hek) : 0;
    in.compress = compress;
    in.nthreads = nthreads;
    ff_sink s = ff_membuf_sink(mb);
    return ff_asdf_write(&in, &s, err);
}

static void hex16(const unsigned char *m, char *out)
{
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", m[i]);
}

/* A uint8 array "abc" stored raw: the checksum must be RFC 1321's MD5("abc"). */
static void test_raw_block_layout(void **state)
{
    (void)state;
    unsigned char abc[3] = {'a', 'b', 'c'};
    ff_image img = {.dtype = FF_U8, .ndim = 1, .shape = {3}, .nelem = 3, .data = abc};
    ff_membuf mb = {0};
    ff_err err = {0};
    assert_int_equal(write_asdf(&img, 0, 1, NULL, "A = 1", &mb, &err), 0);
    parsed p;
    parse_file(&mb, &p);
    assert_int_equal(p.header_size, 48);
    assert_int_equal(p.flags, 0);
    assert_memory_equal(p.comp, "\0\0\0\0", 4);
    assert_int_equal(p.allocated, 3);
    assert_int_equal(p.used, 3);
    assert_int_equal(p.data_size, 3);
    char hex[33];
    hex16(p.md5, hex);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
    assert_memory_equal(p.data, "abc", 3);
    assert_int_equal(p.index_value, p.block_off);
    /* the ndarray node names block 0 and the shape */
    mb.data[p.tree_end - 1] = '\0';
    assert_non_null(strstr((char *)mb.data, "!core/ndarray-1.0.0"));
    assert_non_null(strstr((char *)mb.data, "source: 0"));
    assert_non_null(strstr((char *)mb.data, "shape: [3]"));
    assert_non_null(strstr((char *)mb.data, "datatype: uint8"));
    ff_membuf_free(&mb);
}

/* A float32 2-D array with NaN, zlib-compressed: inflate gives back the bytes; the checksum is
 * the MD5 of the uncompressed bytes (what python-asdf 2.14 verifies). */
static void test_compressed_block(void **state)
{
    (void)state;
    float v[2][3] = {{1.5f, -2.0f, 0.0f}, {0.0f / 0.0f, 3e38f, -1e-30f}};
    ff_image img = {.dtype = FF_F32, .ndim = 2, .shape = {2, 3}, .nelem = 6, .data = v};
    ff_membuf mb = {0};
    ff_err err = {0};
    assert_int_equal(write_asdf(&img, 1, 2, NULL, NULL, &mb, &err), 0);
    parsed p;
    parse_file(&mb, &p);
    assert_memory_equal(p.comp, "zlib", 4);
    assert_int_equal(p.data_size, sizeof v);
    assert_int_equal(p.allocated, p.used);
    unsigned char back[64];
    uLongf blen = sizeof back;
    assert_int_equal(uncompress(back, &blen, p.data, (uLong)p.used), Z_OK);
    assert_int_equal(blen, sizeof v);
    assert_memory_equal(back, v, sizeof v);
    unsigned char md5[16];
    assert_int_equal(ff_md5(v, sizeof v, md5, &err), 0);
    assert_memory_equal(p.md5, md5, 16);
    assert_int_equal(p.index_value, p.block_off);
    ff_membuf_free(&mb);
}

static void test_md5_vectors(void **state)
{
    (void)state;
    unsigned char m[16];
    char hex[33];
    ff_err err = {0};
    assert_int_equal(ff_md5("", 0, m, &err), 0);
    hex16(m, hex);
    assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
    const char *s = "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
    assert_int_equal(ff_md5(s, strlen(s), m, &err), 0);
    hex16(m, hex);
    assert_string_equal(hex, "57edf4a22be3c955ac49da2e2107b67a"); /* RFC 1321 A.5 */
}

static void concat(const ff_asdf_block *z, unsigned char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < z->npieces; i++) {
        memcpy(dst + o, z->pieces[i].data, z->pieces[i].len);
        o += z->pieces[i].len;
    }
    assert_int_equal(o, z->total);
}

/* With the MD5 on the calling thread or beside it: zlib's inflate (which checks the Adler-32)
 * gives back the input, the MD5 matches a one-shot MD5, and the stream does not depend on the
 * thread count. */
static void test_zpar_threads(void **state)
{
    (void)state;
    size_t n = 3 * 1024 * 1024 + 12345; /* several chunks and a short last one */
    unsigned char *src = malloc(n), *back = malloc(n);
    assert_non_null(src);
    assert_non_null(back);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        /* like big-endian 16-bit detector counts: a steady high byte, a noisy low one */
        src[i] = (unsigned char)(i & 1 ? (x >> 24) & 0x3F : 3 + (i >> 20));
    }
    ff_err err = {0};
    unsigned char md5[16];
    assert_int_equal(ff_md5(src, n, md5, &err), 0);
    unsigned char *prev = NULL;
    size_t prev_len = 0;
    for (int t = 1; t <= 4; t++) {
        ff_asdf_block z;
        assert_int_equal(ff_asdf_block_compress(src, n, 2, t, &z, &err), 0);
        assert_true(z.total < n);
        unsigned char *c = malloc(z.total);
        assert_non_null(c);
        concat(&z, c);
        uLongf blen = (uLongf)n;
        assert_int_equal(uncompress(back, &blen, c, (uLong)z.total), Z_OK);
        assert_int_equal(blen, n);
        assert_memory_equal(back, src, n);
        assert_memory_equal(z.md5, md5, 16);
        if (prev) {
            assert_int_equal(z.total, prev_len);
            assert_memory_equal(c, prev, prev_len);
        }
        free(prev);
        prev = c;
        prev_len = z.total;
        ff_asdf_block_free(&z);
    }
    free(prev);
    free(back);
    free(src);
}

static void test_zpar_empty(void **state)
{
    (void)state;
    ff_err err = {0};
    for (int t = 1; t <= 3; t += 2) {
        ff_asdf_block z;
        assert_int_equal(ff_asdf_block_compress(NULL, 0, 1, t, &z, &err), 0);
        unsigned char c[64], back[4];
        assert_true(z.total <= sizeof c);
        concat(&z, c);
        uLongf blen = sizeof back;
        assert_int_equal(uncompress(back, &blen, c, (uLong)z.total), Z_OK);
        assert_int_equal(blen, 0);
        char hex[33];
        hex16(z.md5, hex);
        assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
        ff_asdf_block_free(&z);
    }
}

static void test_empty_and_tiny(void **state)
{
    (void)state;
    ff_err err = {0};
    for (int c = 0; c <= 1; c++) {
        ff_image empty = {.dtype = FF_F64, .ndim = 2, .shape = {0, 5}, .nelem = 0, .data = NULL};
        ff_membuf mb = {0};
        assert_int_equal(write_asdf(&empty, c, 2, NULL, "", &mb, &err), 0);
        parsed p;
        parse_file(&mb, &p);
        assert_int_equal(p.data_size, 0);
        ff_membuf_free(&mb);

        int16_t one = -7;
        ff_image tiny = {.dtype = FF_I16, .ndim = 2, .shape = {1, 1}, .nelem = 1, .data = &one};
        assert_int_equal(write_asdf(&tiny, c, 1, NULL, "", &mb, &err), 0);
        parse_file(&mb, &p);
        assert_int_equal(p.data_size, 2);
        ff_membuf_free(&mb);
    }
}

static void test_bad_images(void **state)
{
    (void)state;
    ff_err err = {0};
    ff_membuf mb = {0};
    int16_t v[4] = {0};
    ff_image zero_dim = {.dtype = FF_I16, .ndim = 0, .nelem = 1, .data = v};
    assert_int_equal(write_asdf(&zero_dim, 1, 1, NULL, "", &mb, &err), -1);
    assert_non_null(strstr(err.msg, "dimensions"));
    ff_image mismatch = {.dtype = FF_I16, .ndim = 1, .shape = {5}, .nelem = 4, .data = v};
    assert_int_equal(write_asdf(&mismatch, 1, 1, NULL, "", &mb, &err), -1);
    ff_image nodata = {.dtype = FF_I16, .ndim = 1, .shape = {4}, .nelem = 4, .data = NULL};
    assert_int_equal(write_asdf(&nodata, 0, 1, NULL, "", &mb, &err), -1);
    ff_image huge = {.dtype = FF_F64, .ndim = 3, .shape = {SIZE_MAX / 2, 4, 4}, .nelem = 0,
                     .data = v};
    assert_int_equal(write_asdf(&huge, 1, 1, NULL, "", &mb, &err), -1);
    assert_int_equal(mb.len, 0); /* nothing written on refusal */
    ff_membuf_free(&mb);
}

/* A sink that refuses to grow past a limit makes the writer fail with the sink's reason. */
static void test_sink_failure(void **state)
{
    (void)state;
    int16_t v[100] = {0};
    ff_image img = {.dtype = FF_I16, .ndim = 1, .shape = {100}, .nelem = 100, .data = v};
    /* a long header text makes libyaml flush (and meet the failing sink) in mid-tree */
    char *text = malloc(60001);
    assert_non_null(text);
    for (size_t i = 0; i < 60000; i++)
        text[i] = i % 81 == 80 ? '\n' : (char)('A' + i % 26);
    text[60000] = '\0';
    ff_membuf full = {0};
    ff_err err = {0};
    assert_int_equal(write_asdf(&img, 0, 1, "{\"a\": [1, 2]}", text, &full, &err), 0);
    for (size_t max = 10; max < full.len; max += full.len / 13) {
        ff_membuf mb = {.max = max};
        assert_int_equal(write_asdf(&img, 0, 1, "{\"a\": [1, 2]}", text, &mb, &err), -1);
        assert_non_null(strstr(err.msg, "limit"));
        ff_membuf_free(&mb);
    }
    ff_membuf_free(&full);
    free(text);
}

static int valid_utf8_ascii(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80)
            return 0;
    return 1;
}

/* Invalid UTF-8 in header text and invalid HEK JSON: still a file; the tree stays ASCII (libyaml
 * escapes U+FFFD) and hek_note explains. */
static void test_bad_text_and_hek(void **state)
{
    (void)state;
    uint8_t v[2] = {1, 2};
    ff_image img = {.dtype = FF_U8, .ndim = 1, .shape = {2}, .nelem = 2, .data = v};
    ff_membuf mb = {0};
    ff_err err = {0};
    const char *text = "OBSERVER = M\xfcller\nBAD = \xc0\xaf\xed\xa0\x80\xff\nCUT = \xe2\x82";
    assert_int_equal(write_asdf(&img, 1, 1, "{\"result\": [1, 2,", text, &mb, &err), 0);
    parsed p;
    parse_file(&mb, &p);
    assert_true(valid_utf8_ascii(mb.data, p.tree_end));
    mb.data[p.tree_end - 1] = '\0';
    assert_non_null(strstr((char *)mb.data, "\\uFFFD"));
    assert_non_null(strstr((char *)mb.data, "hek_note: 'HEK events JSON could not be parsed"));
    ff_membuf_free(&mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_block_layout),
        cmocka_unit_test(test_compressed_block),
        cmocka_unit_test(test_md5_vectors),
        cmocka_unit_test(test_zpar_threads),
        cmocka_unit_test(test_zpar_empty),
        cmocka_unit_test(test_empty_and_tiny),
        cmocka_unit_test(test_bad_images),
        cmocka_unit_test(test_sink_failure),
        cmocka_unit_test(test_bad_text_and_hek),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
