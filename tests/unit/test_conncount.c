/* Per-address connection counts: the limit, IPv4-mapped IPv6 counted as IPv4, releases without an
 * add, a full table, and a long random run of adds and releases checked against a plain array
 * (which exercises the table's backward-shift deletion across wrapped probe runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "server/http/conncount.h"

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return a;
}

static void test_limit_per_address(void **state)
{
    (void)state;
    ff_conncount *c = ff_conncount_new(8);
    assert_non_null(c);
    struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");
    for (int i = 0; i < 3; i++)
        assert_int_equal(ff_conncount_add(c, &a, 3), 0);
    assert_int_equal(ff_conncount_add(c, &a, 3), -1);
    assert_int_equal(ff_conncount_get(c, &a), 3);
    assert_int_equal(ff_conncount_add(c, &b, 3), 0); /* another address is unaffected */
    assert_int_equal(ff_conncount_total(c), 4);
    ff_conncount_release(c, &a);
    assert_int_equal(ff_conncount_add(c, &a, 3), 0);
    assert_int_equal(ff_conncount_add(c, &a, 0), 0); /* 0 = no per-address limit */
    assert_int_equal(ff_conncount_get(c, &a), 4);
    ff_conncount_free(c);
}

static void test_mapped_and_other_families(void **state)
{
    (void)state;
    ff_conncount *c = ff_conncount_new(4);
    struct sockaddr_in a = v4("192.0.2.7");
    struct sockaddr_in6 m = v6("::ffff:192.0.2.7"), o = v6("2001:db8::7");
    assert_int_equal(ff_conncount_add(c, &a, 2), 0);
    assert_int_equal(ff_conncount_add(c, &m, 2), 0);
    assert_int_equal(ff_conncount_add(c, &a, 2), -1); /* the same client either way */
    assert_int_equal(ff_conncount_add(c, &o, 2), 0);
    struct sockaddr_un u;
    memset(&u, 0, sizeof u);
    u.sun_family = AF_UNIX;
    for (int i = 0; i < 10; i++)
        assert_int_equal(ff_conncount_add(c, &u, 1), 0); /* not counted */
    assert_int_equal(ff_conncount_total(c), 3);
    ff_conncount_release(c, &u);
    ff_conncount_release(c, &m);
    assert_int_equal(ff_conncount_get(c, &a), 1);
    ff_conncount_free(c);
}

static void test_release_without_add_and_full_table(void **state)
{
    (void)state;
    ff_conncount *c = ff_conncount_new(2);
    struct sockaddr_in a = v4("10.1.1.1"), b = v4("10.1.1.2"), d = v4("10.1.1.3");
    ff_conncount_release(c, &a); /* nothing to release: ignored */
    assert_int_equal(ff_conncount_total(c), 0);
    assert_int_equal(ff_conncount_add(c, &a, 0), 0);
    assert_int_equal(ff_conncount_add(c, &b, 0), 0);
    assert_int_equal(ff_conncount_add(c, &d, 0), -1); /* room for two addresses only */
    assert_int_equal(ff_conncount_add(c, &a, 0), 0);  /* a known address still counts up */
    ff_conncount_release(c, &b);
    assert_int_equal(ff_conncount_add(c, &d, 0), 0);
    assert_int_equal(ff_conncount_total(c), 3);
    ff_conncount_free(c);
}

static void test_random_against_model(void **state)
{
    (void)state;
    enum { ADDRS = 300, CAP = 256 };
    ff_conncount *c = ff_conncount_new(CAP);
    unsigned model[ADDRS] = {0};
    size_t used = 0, total = 0;
    srand(12345);
    for (int step = 0; step < 200000; step++) {
        int k = rand() % ADDRS;
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)k * 7919u);
        if (rand() % 2) {
            int expect = model[k] >= 5 || (!model[k] && used >= CAP) ? -1 : 0;
            assert_int_equal(ff_conncount_add(c, &a, 5), expect);
            if (expect == 0) {
                used += model[k] == 0;
                model[k]++;
                total++;
            }
        } else {
            ff_conncount_release(c, &a);
            if (model[k]) {
                model[k]--;
                used -= model[k] == 0;
                total--;
            }
        }
        if (step % 997 == 0)
            for (int j = 0; j < ADDRS; j++) {
                a.sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)j * 7919u);
                assert_int_equal(ff_conncount_get(c, &a), model[j]);
            }
        assert_int_equal(ff_conncount_total(c), total);
    }
    ff_conncount_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_per_address),
        cmocka_unit_test(test_mapped_and_other_families),
        cmocka_unit_test(test_release_without_add_and_full_table),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
