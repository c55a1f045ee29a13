/* The one URL escaper (base/urlenc.h): every byte against RFC 3986's unreserved set, the
 * snprintf-style bounds, appending, and SigV4's wrapper across its 256-byte chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/urlenc.h"
#include "store/sigv4.h"

static const char UNRESERVED[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

static void test_every_byte(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char in[1] = {(char)c}, out[8], want[8];
        for (unsigned flags = 0; flags <= FF_URL_KEEP_SLASH; flags++) {
            int keep = (c != 0 && strchr(UNRESERVED, c)) || (c == '/' && flags);
            if (keep)
                snprintf(want, sizeof want, "%c", c);
            else
                snprintf(want, sizeof want, "%%%02X", c);
            assert_int_equal(ff_url_escape(out, sizeof out, in, 1, flags), strlen(want));
            assert_string_equal(out, want);
        }
    }
}

static void test_bounds(void **state)
{
    (void)state;
    const char *s = "a b/c";
    char out[16];
    assert_int_equal(ff_url_escape(NULL, 0, s, strlen(s), 0), 9); /* a%20b%2Fc */
    assert_int_equal(ff_url_escape(out, sizeof out, s, strlen(s), 0), 9);
    assert_string_equal(out, "a%20b%2Fc");
    assert_int_equal(ff_url_escape(out, sizeof out, s, strlen(s), FF_URL_KEEP_SLASH), 7);
    assert_string_equal(out, "a%20b/c");
    /* Cut short: never half an escape, always terminated. */
    for (size_t cap = 1; cap <= 10; cap++) {
        memset(out, 'X', sizeof out);
        assert_int_equal(ff_url_escape(out, cap, s, strlen(s), 0), 9);
        size_t got = strlen(out);
        assert_true(got < cap);
        assert_true(got == 0 || got == 1 || got == 4 || got == 5 || got == 8 || got == 9);
        assert_memory_equal(out, "a%20b%2Fc", got);
    }
    /* Bytes, not C strings: an embedded NUL is encoded. */
    assert_int_equal(ff_url_escape(out, sizeof out, "a\0b", 3, 0), 5);
    assert_string_equal(out, "a%00b");
}

static void test_append(void **state)
{
    (void)state;
    char buf[32] = "q=";
    assert_int_equal(ff_url_append_escaped(buf, sizeof buf, "2013-06-24T17:31:31Z"), 0);
    assert_string_equal(buf, "q=2013-06-24T17%3A31%3A31Z");
    char exact[8] = "x=";
    assert_int_equal(ff_url_append_escaped(exact, sizeof exact, "a:b"), 0); /* x=a%3Ab + NUL */
    assert_string_equal(exact, "x=a%3Ab");
    char small[7] = "x=";
    assert_int_equal(ff_url_append_escaped(small, sizeof small, "a:b"), -1);
    assert_string_equal(small, "x="); /* unchanged */
    char unterminated[4] = {'a', 'b', 'c', 'd'};
    assert_int_equal(ff_url_append_escaped(unterminated, sizeof unterminated, ""), -1);
}

static void test_sigv4_wrapper_across_chunks(void **state)
{
    (void)state;
    char in[700];
    for (size_t i = 0; i < sizeof in - 1; i++)
        in[i] = "a/ b~%\xc3\xbc"[i % 8];
    in[sizeof in - 1] = '\0';
    for (int keep = 0; keep <= 1; keep++) {
        ff_strbuf b = {0};
        ff_sigv4_uri_encode(&b, in, keep);
        assert_false(b.oom);
        size_t need = ff_url_escape(NULL, 0, in, strlen(in), keep ? FF_URL_KEEP_SLASH : 0);
        char *want = malloc(need + 1);
        assert_non_null(want);
        ff_url_escape(want, need + 1, in, strlen(in), keep ? FF_URL_KEEP_SLASH : 0);
        assert_int_equal(b.len, need);
        assert_string_equal(b.p, want);
        free(want);
        free(b.p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_sigv4_wrapper_across_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
