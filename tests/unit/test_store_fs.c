/* The fs object store: key validation, atomic puts, get/stat/list/delete. */
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
    ff_store *s = ff_store_open_fs(root, &err);
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
    ff_store *s = ff_store_open_fs(root, &err);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_validation),
        cmocka_unit_test_setup_teardown(test_put_get_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_keeps_old_object, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
