/* The streaming, ranged reader on the fs backend: every range of an object read back in chunks of
 * several sizes equals the bytes written; clamping at the end; absent keys; the validators agree
 * with ff_store_stat_key; a read started before a put replaces the object still sees the old
 * object whole. (The s3 backend's reader is checked against a real S3 peer in
 * tests/e2e/test_s3_reader.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static char root[256];
static ff_store *store;
static unsigned char *obj;
#define OBJ_SIZE (300 * 1024 + 17)

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/ff-reader-test-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    ff_err err;
    store = ff_store_open_fs(root, 0, &err);
    obj = malloc(OBJ_SIZE);
    if (!store || !obj)
        return -1;
    uint32_t x = 12345;
    for (size_t i = 0; i < OBJ_SIZE; i++) {
        x = x * 1103515245u + 12345u;
        obj[i] = (unsigned char)(x >> 16);
    }
    return ff_store_put(store, "temp/s/processed/data/x_data.npy", obj, OBJ_SIZE, &err);
}

static int teardown(void **state)
{
    (void)state;
    ff_store_close(store);
    free(obj);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

/* Reads the whole reader in chunks of chunk bytes into a malloc'd buffer. */
static unsigned char *read_all(ff_store_reader *r, size_t chunk, size_t *n)
{
    unsigned char *out = malloc(OBJ_SIZE + 1);
    unsigned char *buf = malloc(chunk);
    assert_non_null(out);
    assert_non_null(buf);
    ff_err err;
    size_t got, total = 0;
    for (;;) {
        assert_int_equal(ff_store_reader_read(r, buf, chunk, &got, &err), 0);
        if (!got)
            break;
        assert_true(got <= chunk);
        assert_true(total + got <= OBJ_SIZE);
        memcpy(out + total, buf, got);
        total += got;
    }
    free(buf);
    *n = total;
    return out;
}

static void test_ranges(void **state)
{
    (void)state;
    const struct {
        uint64_t off, len;
    } cases[] = {
        {0, FF_STORE_TO_END}, {0, OBJ_SIZE}, {1, 1}, {100, 1000}, {OBJ_SIZE - 5, FF_STORE_TO_END},
        {OBJ_SIZE - 5, 100}, {65536, 65536}, {OBJ_SIZE - 1, 1}, {0, 0},
    };
    const size_t chunks[] = {1, 7, 4096, 65536, OBJ_SIZE + 100};
    ff_store_stat want;
    ff_err err;
    assert_int_equal(ff_store_stat_key(store, "temp/s/processed/data/x_data.npy", &want, &err), 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
            if (chunks[c] == 1 && cases[i].len > 100000)
                continue; /* byte by byte over the whole object is slow under ASan */
            ff_store_reader *r = NULL;
            ff_store_stat st;
            assert_int_equal(ff_store_reader_open(store, "temp/s/processed/data/x_data.npy",
                                                  cases[i].off, cases[i].len, &st, &r, &err), 0);
            assert_non_null(r);
            assert_int_equal(st.size, OBJ_SIZE);
            assert_string_equal(st.etag, want.etag);
            assert_int_equal(st.mtime, want.mtime);
            uint64_t expect = cases[i].len;
            if (expect > OBJ_SIZE - cases[i].off)
                expect = OBJ_SIZE - cases[i].off;
            assert_int_equal(ff_store_reader_left(r), expect);
            size_t n;
            unsigned char *got = read_all(r, chunks[c], &n);
            assert_int_equal(n, expect);
            assert_memory_equal(got, obj + cases[i].off, n);
            assert_int_equal(ff_store_reader_left(r), 0);
            free(got);
            ff_store_reader_close(r);
        }
    }
}

static void test_past_the_end_and_absent(void **state)
{
    (void)state;
    ff_err err;
    ff_store_reader *r = NULL;
    ff_store_stat st;
    assert_int_equal(ff_store_reader_open(store, "temp/s/processed/data/x_data.npy", OBJ_SIZE,
                                          FF_STORE_TO_END, &st, &r, &err), 0);
    assert_int_equal(ff_store_reader_left(r), 0);
    size_t got = 99;
    char b[8];
    assert_int_equal(ff_store_reader_read(r, b, sizeof b, &got, &err), 0);
    assert_int_equal(got, 0);
    ff_store_reader_close(r);
    assert_int_equal(ff_store_reader_open(store, "temp/s/processed/data/x_data.npy",
                                          UINT64_MAX - 1, 10, &st, &r, &err), 0);
    assert_int_equal(ff_store_reader_left(r), 0);
    ff_store_reader_close(r);

    r = (ff_store_reader *)&r;
    err.msg[0] = '\0';
    assert_int_equal(ff_store_reader_open(store, "temp/s/none.txt", 0, FF_STORE_TO_END, &st, &r, &err), 1);
    assert_null(r);
    assert_non_null(strstr(err.msg, "no object"));
    assert_int_equal(ff_store_reader_open(store, "temp/s/processed", 0, 10, &st, &r, &err), 1);
    assert_int_equal(ff_store_reader_open(store, "../etc/passwd", 0, 10, &st, &r, &err), -1);
    assert_null(r);
    ff_store_reader_close(NULL);
}

static void test_empty_object(void **state)
{
    (void)state;
    ff_err err;
    assert_int_equal(ff_store_put(store, "temp/s/logs/empty.txt", "", 0, &err), 0);
    ff_store_reader *r = NULL;
    ff_store_stat st;
    assert_int_equal(ff_store_reader_open(store, "temp/s/logs/empty.txt", 0, FF_STORE_TO_END, &st, &r, &err), 0);
    assert_int_equal(st.size, 0);
    assert_int_equal(ff_store_reader_left(r), 0);
    ff_store_reader_close(r);
}

static void test_replaced_while_reading(void **state)
{
    (void)state;
    ff_err err;
    const char *key = "temp/s/processed/header/x_header.txt";
    assert_int_equal(ff_store_put(store, key, obj, 100000, &err), 0);
    ff_store_reader *r = NULL;
    ff_store_stat st;
    assert_int_equal(ff_store_reader_open(store, key, 0, FF_STORE_TO_END, &st, &r, &err), 0);
    unsigned char first[1000];
    size_t got;
    assert_int_equal(ff_store_reader_read(r, first, sizeof first, &got, &err), 0);
    assert_int_equal(got, sizeof first);
    /* A new object at the key (shorter, other bytes) while the read goes on. */
    assert_int_equal(ff_store_put(store, key, obj + 5, 500, &err), 0);
    size_t n;
    unsigned char *rest = read_all(r, 4096, &n);
    assert_int_equal(n, 100000 - sizeof first);
    assert_memory_equal(first, obj, sizeof first);
    assert_memory_equal(rest, obj + sizeof first, n);
    free(rest);
    ff_store_reader_close(r);
    ff_store_stat now;
    assert_int_equal(ff_store_stat_key(store, key, &now, &err), 0);
    assert_int_equal(now.size, 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_past_the_end_and_absent),
        cmocka_unit_test(test_empty_object),
        cmocka_unit_test(test_replaced_while_reading),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
