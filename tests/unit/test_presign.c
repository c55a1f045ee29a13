/* Presigned upload URLs: signing and checking (expiry, alteration, other key, method or type,
 * malformed and missing arguments) and the secret kept in the data folder. The HMAC itself is
 * cross-checked with Python's hmac module in tests/e2e/test_serve_bad_input.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/routes/presign.h"

static const char *KEY = "temp/abcdefgh/fits/x.fits";

static void secret(ff_presign_secret *s)
{
    ff_err err;
    assert_int_equal(ff_presign_secret_load(s, "unit-test-secret-0123456789", NULL, &err), 0);
}

static void test_roundtrip_and_alterations(void **state)
{
    (void)state;
    ff_presign_secret s;
    secret(&s);
    ff_err err;
    char sig[FF_PRESIGN_SIG_HEX + 1], exp[32];
    ff_presign_sign(&s, "PUT", KEY, 2000000000, "application/fits", sig);
    assert_int_equal(strlen(sig), 64);
    snprintf(exp, sizeof exp, "%d", 2000000000);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, exp, sig, "application/fits", 1900000000, &err), FF_PRESIGN_OK);
    /* expired: one second after */
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, exp, sig, "application/fits", 2000000001, &err), FF_PRESIGN_EXPIRED);
    assert_non_null(strstr(err.msg, "expired"));
    /* another key, method, content type, expiry, secret */
    assert_int_equal(ff_presign_verify(&s, "PUT", "temp/abcdefgh/fits/y.fits", exp, sig, "application/fits", 0, &err), FF_PRESIGN_MISMATCH);
    assert_int_equal(ff_presign_verify(&s, "GET", KEY, exp, sig, "application/fits", 0, &err), FF_PRESIGN_MISMATCH);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, exp, sig, "text/html", 0, &err), FF_PRESIGN_MISMATCH);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, exp, sig, "", 0, &err), FF_PRESIGN_MISMATCH);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "2000000001", sig, "application/fits", 0, &err), FF_PRESIGN_MISMATCH);
    ff_presign_secret other;
    assert_int_equal(ff_presign_secret_load(&other, "another-secret-0123456789", NULL, &err), 0);
    assert_int_equal(ff_presign_verify(&other, "PUT", KEY, exp, sig, "application/fits", 0, &err), FF_PRESIGN_MISMATCH);
    /* every single flipped hex digit is caught */
    for (int i = 0; i < 64; i++) {
        char bad[65];
        memcpy(bad, sig, 65);
        bad[i] = bad[i] == '0' ? '1' : '0';
        assert_int_equal(ff_presign_verify(&s, "PUT", KEY, exp, bad, "application/fits", 0, &err), FF_PRESIGN_MISMATCH);
    }
}

static void test_any_type_and_malformed(void **state)
{
    (void)state;
    ff_presign_secret s;
    secret(&s);
    ff_err err;
    char sig[FF_PRESIGN_SIG_HEX + 1];
    ff_presign_sign(&s, "PUT", KEY, 2000000000, "", sig);
    /* signed for no particular type: any Content-Type, or none */
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "2000000000", sig, "image/fits", 0, &err), FF_PRESIGN_OK);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "2000000000", sig, NULL, 0, &err), FF_PRESIGN_OK);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, NULL, sig, "", 0, &err), FF_PRESIGN_MISSING);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "2000000000", NULL, "", 0, &err), FF_PRESIGN_MISSING);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "", "", "", 0, &err), FF_PRESIGN_MISSING);
    assert_non_null(strstr(err.msg, "no signature"));
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "-5", sig, "", 0, &err), FF_PRESIGN_MALFORMED);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "12x", sig, "", 0, &err), FF_PRESIGN_MALFORMED);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "99999999999999999999", sig, "", 0, &err), FF_PRESIGN_MALFORMED);
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "2000000000", "abc", "", 0, &err), FF_PRESIGN_MALFORMED);
    char zz[65];
    memset(zz, 'z', 64);
    zz[64] = 0;
    assert_int_equal(ff_presign_verify(&s, "PUT", KEY, "2000000000", zz, "", 0, &err), FF_PRESIGN_MALFORMED);
    /* an over-long message never verifies, even against an all-zero signature */
    char longkey[4000], zeros[65];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    memset(zeros, '0', 64);
    zeros[64] = 0;
    assert_int_equal(ff_presign_verify(&s, "PUT", longkey, "2000000000", zeros, "", 0, &err), FF_PRESIGN_MISMATCH);
}

static void test_url(void **state)
{
    (void)state;
    ff_presign_secret s;
    secret(&s);
    char url[2048], sig[65];
    assert_int_equal(ff_presign_url(&s, "http://127.0.0.1:8080", "PUT", KEY, 1234567890, "a/b", url, sizeof url), 0);
    ff_presign_sign(&s, "PUT", KEY, 1234567890, "a/b", sig);
    char want[2048];
    snprintf(want, sizeof want, "http://127.0.0.1:8080/%s?X-FitsFlow-Expires=1234567890&X-FitsFlow-Signature=%s", KEY, sig);
    assert_string_equal(url, want);
    assert_int_equal(ff_presign_url(&s, "http://127.0.0.1:8080", "PUT", KEY, 1, "", url, 40), -1);
}

static void test_secret_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ff-presign-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[300];
    snprintf(path, sizeof path, "%s/secret", dir);
    ff_presign_secret a, b;
    ff_err err;
    assert_int_equal(ff_presign_secret_load(&a, NULL, dir, &err), 0);
    assert_int_equal(a.len, 32);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ff_presign_secret_load(&b, NULL, dir, &err), 0); /* kept, not regenerated */
    assert_memory_equal(a.bytes, b.bytes, 32);
    chmod(path, 0644);
    assert_int_equal(ff_presign_secret_load(&b, NULL, dir, &err), -1);
    assert_non_null(strstr(err.msg, "chmod 600"));
    chmod(path, 0600);
    FILE *f = fopen(path, "w");
    fputs("short\n", f);
    fclose(f);
    assert_int_equal(ff_presign_secret_load(&b, NULL, dir, &err), -1);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_alterations),
        cmocka_unit_test(test_any_type_and_malformed),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_secret_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
