/* Regressions of what the fuzz harnesses found outside the FITS reader (fuzz/README.md): each
 * test fails on the code before its fix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "remote/remote.h"
#include "store/store.h"

/* fuzz_http: the store key check quoted a key holding a newline in its message (two lines). */
static void key_error_is_one_line(void **state)
{
    (void)state;
    ff_err err = {0};
    assert_int_equal(ff_store_key_valid("/s=f-\"\n~de-1", &err), -1);
    assert_null(strchr(err.msg, '\n'));
    assert_non_null(strstr(err.msg, "control character"));
    assert_int_equal(ff_store_key_valid("/etc/passwd", &err), -1);
    assert_non_null(strstr(err.msg, "absolute"));
}

/* fuzz_jsoc: an href value holding a NUL byte came back cut short at the NUL. */
static void href_with_nul_is_skipped(void **state)
{
    (void)state;
    static const char page[] = "<a href=\"x\0y.jpg\">1</a><A HREF = b\0c.jpg>2</A><a href='ok.jpg'>";
    const char *p = page, *end = page + sizeof page - 1;
    char out[64];
    assert_int_equal(ff_html_next_href(&p, end, out, sizeof out), 1);
    assert_string_equal(out, "ok.jpg");
    assert_int_equal(ff_html_next_href(&p, end, out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_error_is_one_line),
        cmocka_unit_test(href_with_nul_is_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
