/* The per-client token bucket: burst, refill, Retry-After, independence of clients, bounded
 * memory under many clients, and client keys (IPv6 by /64, IPv4-mapped as IPv4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "server/http/ratelimit.h"

static void test_burst_and_refill(void **state)
{
    (void)state;
    ff_ratelimit *rl = ff_ratelimit_new(2.0, 5, 1000);
    assert_non_null(rl);
    unsigned retry = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(ff_ratelimit_take(rl, "1.2.3.4", 100.0, &retry), 0);
    assert_int_equal(ff_ratelimit_take(rl, "1.2.3.4", 100.0, &retry), 1);
    assert_int_equal(retry, 1); /* one token at 2/s: 0.5 s, rounded up */
    /* another client is unaffected */
    assert_int_equal(ff_ratelimit_take(rl, "5.6.7.8", 100.0, &retry), 0);
    /* 0.5 s later one token is back, not two */
    assert_int_equal(ff_ratelimit_take(rl, "1.2.3.4", 100.5, &retry), 0);
    assert_int_equal(ff_ratelimit_take(rl, "1.2.3.4", 100.5, &retry), 1);
    /* a long pause refills to the burst only */
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += ff_ratelimit_take(rl, "1.2.3.4", 1000.0, &retry) == 0;
    assert_int_equal(ok, 5);
    ff_ratelimit_free(rl);
}

static void test_retry_after_slow_rate(void **state)
{
    (void)state;
    ff_ratelimit *rl = ff_ratelimit_new(0.1, 1, 100); /* one request per 10 s */
    unsigned retry = 0;
    assert_int_equal(ff_ratelimit_take(rl, "c", 0, &retry), 0);
    assert_int_equal(ff_ratelimit_take(rl, "c", 1, &retry), 1);
    assert_int_equal(retry, 9);
    assert_int_equal(ff_ratelimit_take(rl, "c", 10.0, &retry), 0);
    ff_ratelimit_free(rl);
}

static void test_many_clients_bounded(void **state)
{
    (void)state;
    ff_ratelimit *rl = ff_ratelimit_new(1, 3, 256);
    unsigned retry;
    char key[32];
    /* far more clients than slots: every new client still starts with a full bucket */
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        assert_int_equal(ff_ratelimit_take(rl, key, (double)i * 1e-3, &retry), 0);
    }
    /* a client hammering stays limited while others come and go */
    for (int i = 0; i < 3; i++)
        ff_ratelimit_take(rl, "hammer", 200.0, &retry);
    assert_int_equal(ff_ratelimit_take(rl, "hammer", 200.0, &retry), 1);
    assert_int_equal(ff_ratelimit_take(rl, NULL, 200.0, &retry), 0);
    ff_ratelimit_free(rl);
    assert_null(ff_ratelimit_new(0, 5, 10));
    assert_null(ff_ratelimit_new(1, 0, 10));
}

static void test_client_keys(void **state)
{
    (void)state;
    char out[64];
    struct sockaddr_in in4 = {0};
    in4.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &in4.sin_addr);
    ff_ratelimit_client_key(&in4, out, sizeof out);
    assert_string_equal(out, "192.0.2.7");
    struct sockaddr_in6 in6 = {0};
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &in6.sin6_addr);
    ff_ratelimit_client_key(&in6, out, sizeof out);
    assert_string_equal(out, "2001:db8:1:2::/64");
    inet_pton(AF_INET6, "::ffff:198.51.100.9", &in6.sin6_addr);
    ff_ratelimit_client_key(&in6, out, sizeof out);
    assert_string_equal(out, "198.51.100.9");
    ff_ratelimit_client_key(NULL, out, sizeof out);
    assert_string_equal(out, "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_and_refill),
        cmocka_unit_test(test_retry_after_slow_rate),
        cmocka_unit_test(test_many_clients_bounded),
        cmocka_unit_test(test_client_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
