/* The fs object store: key validation, atomic puts, get/stat/list/delete, reserved writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

static char root[256];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/ff-store-test-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static void test_key_validation(void **state)
{
    (void)state;
    ff_err err;
    assert_int_equal(ff_store_key_valid("temp/abc/fits/x.fits", &err), 0);
    assert_int_equal(ff_store_key_valid("temp/abc/", &err), 0);
    const char *bad[] = {"", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a\\b", "..",
                         "a/..", "tab\there", "nl\nx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        assert_int_equal(ff_store_key_valid(bad[i], &err), -1);
        assert_true(strlen(err.msg) > 0);
    }
    char longkey[FF_STORE_KEY_MAX + 10];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(ff_store_key_valid(longkey, &err), -1);
}

static int count_fn(const char *key, const ff_store_stat *st, void *ctx)
{
    (void)st;
    assert_null(strstr(key, ".ff-tmp-"));
    (*(int *)ctx)++;
    return 0;
}

static void test_put_get_list_delete(void **state)
{
    (void)state;
    ff_err err;
    ff_store *s = ff_store_open_fs(root, 0, &err);
    assert_non_null(s);
    assert_int_equal(ff_store_put(s, "temp/s1/a.txt", "hello", 5, &err), 0);
    assert_int_equal(ff_store_put(s, "temp/s1/sub/b.txt", "world!", 6, &err), 0);
    assert_int_equal(ff_store_put(s, "temp/s2/c.txt", "x", 1, &err), 0);

    char *buf;
    size_t len;
    assert_int_equal(ff_store_get(s, "temp/s1/a.txt", 100, &buf, &len, &err), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    free(buf);
    assert_int_equal(ff_store_get(s, "temp/s1/nope", 100, &buf, &len, &err), 1);
    assert_int_equal(ff_store_get(s, "temp/s1/sub/b.txt", 3, &buf, &len, &err), -1);

    ff_store_stat st;
    assert_int_equal(ff_store_stat_key(s, "temp/s1/sub/b.txt", &st, &err), 0);
    assert_int_equal(st.size, 6);
    assert_true(st.etag[0] == '"');
    assert_int_equal(ff_store_stat_key(s, "temp/s1/sub", &st, &err), 1);

    int n = 0;
    assert_int_equal(ff_store_list(s, "temp/s1/", count_fn, &n, &err), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(ff_store_list(s, "temp/", count_fn, &n, &err), 0);
    assert_int_equal(n, 3);
    n = 0;
    assert_int_equal(ff_store_list(s, "temp/s", count_fn, &n, &err), 0);
    assert_int_equal(n, 3);
    n = 0;
    assert_int_equal(ff_store_list(s, "temp/none/", count_fn, &n, &err), 0);
    assert_int_equal(n, 0);

    assert_int_equal(ff_store_delete(s, "temp/s1/a.txt", &err), 0);
    assert_int_equal(ff_store_delete(s, "temp/s1/a.txt", &err), 0);
    assert_int_equal(ff_store_stat_key(s, "temp/s1/a.txt", &st, &err), 1);
    assert_int_equal(ff_store_put(s, "../escape", "x", 1, &err), -1);
    ff_store_close(s);
}

static void test_abort_keeps_old_object(void **state)
{
    (void)state;
    ff_err err;
    ff_store *s = ff_store_open_fs(root, 0, &err);
    assert_int_equal(ff_store_put(s, "k/obj", "old", 3, &err), 0);
    ff_store_writer *w = ff_store_writer_open(s, "k/obj", &err);
    assert_non_null(w);
    assert_int_equal(ff_store_writer_write(w, "new-partial", 11, &err), 0);
    /* While writing, readers still see the old object whole. */
    char *buf;
    size_t len;
    assert_int_equal(ff_store_get(s, "k/obj", 100, &buf, &len, &err), 0);
    assert_int_equal(len, 3);
    free(buf);
    int n = 0;
    assert_int_equal(ff_store_list(s, "k/", count_fn, &n, &err), 0);
    assert_int_equal(n, 1);
    ff_store_writer_abort(w);
    assert_int_equal(ff_store_get(s, "k/obj", 100, &buf, &len, &err), 0);
    assert_memory_equal(buf, "old", 3);
    free(buf);
    /* No temporary file is left behind. */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s/k' | grep -v '^obj$')\"", root);
    assert_int_equal(system(cmd), 0);
    ff_store_close(s);
}

/* A reserved writer: the room is allocated at once (the temporary file holds the blocks before
 * any write), a body of the announced size commits whole, a shorter one at its real size, and a
 * reservation no disk can hold is refused as "no room" (1), leaving the writer usable. */
static void test_reserve(void **state)
{
    (void)state;
    ff_err err;
    ff_store *s = ff_store_open_fs(root, 0, &err);
    ff_store_writer *w = ff_store_writer_open(s, "r/full", &err);
    assert_non_null(w);
    assert_int_equal(ff_store_writer_reserve(w, 1 << 20, &err), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test \"$(du -k '%s/r' | tail -1 | cut -f1)\" -ge 1024", root);
    assert_int_equal(system(cmd), 0); /* the blocks are there before the data */
    static char block[1 << 16];
    memset(block, 'a', sizeof block);
    for (int i = 0; i < 16; i++)
        assert_int_equal(ff_store_writer_write(w, block, sizeof block, &err), 0);
    assert_int_equal(ff_store_writer_commit(w, &err), 0);
    ff_store_stat st;
    assert_int_equal(ff_store_stat_key(s, "r/full", &st, &err), 0);
    assert_int_equal(st.size, 1 << 20);

    w = ff_store_writer_open(s, "r/short", &err);
    assert_non_null(w);
    assert_int_equal(ff_store_writer_reserve(w, 100000, &err), 0);
    assert_int_equal(ff_store_writer_write(w, "short", 5, &err), 0);
    assert_int_equal(ff_store_writer_commit(w, &err), 0);
    char *buf;
    size_t len;
    assert_int_equal(ff_store_get(s, "r/short", 100, &buf, &len, &err), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "short", 5);
    free(buf);

    w = ff_store_writer_open(s, "r/huge", &err);
    assert_non_null(w);
    assert_int_equal(ff_store_writer_reserve(w, (uint64_t)1 << 62, &err), 1);
    assert_non_null(strstr(err.msg, "disk space"));
    assert_int_equal(ff_store_writer_write(w, "x", 1, &err), 0);
    assert_int_equal(ff_store_writer_commit(w, &err), 0);
    assert_int_equal(ff_store_stat_key(s, "r/huge", &st, &err), 0);
    assert_int_equal(st.size, 1);
    ff_store_close(s);
}

/* Small writes are gathered and large ones go straight through: whatever the mix, the object is
 * the bytes in the order they were written, and nothing is on disk under the key before the
 * commit. */
static void test_mixed_write_sizes(void **state)
{
    (void)state;
    ff_err err;
    ff_store *s = ff_store_open_fs(root, 0, &err);
    ff_store_writer *w = ff_store_writer_open(s, "m/obj", &err);
    assert_non_null(w);
    size_t sizes[] = {1, 7, 32768, 100000, 300000, 5, 262144, 262143, 1 << 20, 3, 65536};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        total += sizes[i];
    unsigned char *want = malloc(total);
    assert_non_null(want);
    for (size_t i = 0; i < total; i++)
        want[i] = (unsigned char)(i * 131 + (i >> 9));
    size_t at = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        assert_int_equal(ff_store_writer_write(w, want + at, sizes[i], &err), 0);
        at += sizes[i];
    }
    ff_store_stat st;
    assert_int_equal(ff_store_stat_key(s, "m/obj", &st, &err), 1);
    assert_int_equal(ff_store_writer_commit(w, &err), 0);
    char *buf;
    size_t len;
    assert_int_equal(ff_store_get(s, "m/obj", total + 1, &buf, &len, &err), 0);
    assert_int_equal(len, total);
    assert_memory_equal(buf, want, total);
    free(buf);
    free(want);
    ff_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_validation),
        cmocka_unit_test_setup_teardown(test_put_get_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_keeps_old_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mixed_write_sizes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
