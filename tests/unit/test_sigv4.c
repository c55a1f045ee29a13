/* SigV4 against the worked examples in AWS's documentation (S3 "Signature Calculations for the
 * Authorization Header" and "Query String Auth", and the general IAM ListUsers example), plus
 * URI encoding, canonical query order and the s3 addressing rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/s3_target.h"
#include "store/sigv4.h"

static const char *AK = "AKIAIOSFODNN7EXAMPLE";
static const char *SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
static const char *EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static ff_aws_creds creds(const char *ak, const char *sk)
{
    ff_aws_creds c;
    memset(&c, 0, sizeof c);
    strcpy(c.access_key_id, ak);
    strcpy(c.secret_access_key, sk);
    return c;
}

static void s3_get_object_example(void **state)
{
    (void)state;
    ff_aws_creds c = creds(AK, SK);
    ff_sigv4_pair h[] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"Range", "bytes=0-9"},
        {"x-amz-content-sha256", EMPTY_SHA},
        {"x-amz-date", "20130524T000000Z"},
    };
    ff_sigv4_req r = {.method = "GET", .path = "/test.txt", .query = "", .headers = h,
                      .n_headers = 4, .payload_hash = EMPTY_SHA, .amz_date = "20130524T000000Z",
                      .region = "us-east-1", .service = "s3"};
    ff_strbuf auth = {0};
    ff_err err;
    assert_int_equal(ff_sigv4_authorization(&c, &r, &auth, &err), 0);
    assert_string_equal(auth.p,
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                        "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    free(auth.p);
}

static void s3_put_object_example(void **state)
{
    (void)state;
    ff_aws_creds c = creds(AK, SK);
    const char *body = "Welcome to Amazon S3.";
    char hash[65];
    ff_sigv4_sha256_hex(body, strlen(body), hash);
    assert_string_equal(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    ff_sigv4_pair h[] = {
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-date", "20130524T000000Z"},
        {"x-amz-content-sha256", hash},
    };
    ff_strbuf path = {0};
    ff_sigv4_uri_encode(&path, "/test$file.text", 1);
    assert_string_equal(path.p, "/test%24file.text");
    ff_sigv4_req r = {.method = "PUT", .path = path.p, .query = "", .headers = h, .n_headers = 5,
                      .payload_hash = hash, .amz_date = "20130524T000000Z", .region = "us-east-1",
                      .service = "s3"};
    char sig[65];
    ff_strbuf sh = {0};
    ff_err err;
    assert_int_equal(ff_sigv4_sign(&c, &r, sig, &sh, &err), 0);
    assert_string_equal(sh.p, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
    assert_string_equal(sig, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    free(sh.p);
    free(path.p);
}

static void s3_list_objects_example(void **state)
{
    (void)state;
    ff_aws_creds c = creds(AK, SK);
    ff_sigv4_pair q[] = {{"prefix", "J"}, {"max-keys", "2"}};
    ff_strbuf cq = {0};
    assert_int_equal(ff_sigv4_canonical_query(&cq, q, 2), 0);
    assert_string_equal(cq.p, "max-keys=2&prefix=J");
    ff_sigv4_pair h[] = {
        {"host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-content-sha256", EMPTY_SHA},
        {"x-amz-date", "20130524T000000Z"},
    };
    ff_sigv4_req r = {.method = "GET", .path = "/", .query = cq.p, .headers = h, .n_headers = 3,
                      .payload_hash = EMPTY_SHA, .amz_date = "20130524T000000Z",
                      .region = "us-east-1", .service = "s3"};
    char sig[65];
    ff_err err;
    assert_int_equal(ff_sigv4_sign(&c, &r, sig, NULL, &err), 0);
    assert_string_equal(sig, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    free(cq.p);
}

/* The general example: IAM ListUsers, a header with inner spaces to fold. */
static void iam_list_users_example(void **state)
{
    (void)state;
    ff_aws_creds c = creds(AK, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    ff_sigv4_pair h[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"Host", "iam.amazonaws.com"},
        {"X-Amz-Date", "20150830T123600Z"},
    };
    ff_sigv4_req r = {.method = "GET", .path = "/", .query = "Action=ListUsers&Version=2010-05-08",
                      .headers = h, .n_headers = 3, .payload_hash = EMPTY_SHA,
                      .amz_date = "20150830T123600Z", .region = "us-east-1", .service = "iam"};
    char sig[65];
    ff_err err;
    assert_int_equal(ff_sigv4_sign(&c, &r, sig, NULL, &err), 0);
    assert_string_equal(sig, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

/* The S3 documentation's presigned GET (test.txt, 86400 s). */
static void s3_presigned_get_example(void **state)
{
    (void)state;
    ff_aws_creds c = creds(AK, SK);
    ff_sigv4_pair q[] = {
        {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
        {"X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
        {"X-Amz-Date", "20130524T000000Z"},
        {"X-Amz-Expires", "86400"},
        {"X-Amz-SignedHeaders", "host"},
    };
    ff_strbuf cq = {0};
    assert_int_equal(ff_sigv4_canonical_query(&cq, q, 5), 0);
    ff_sigv4_pair h[] = {{"host", "examplebucket.s3.amazonaws.com"}};
    ff_sigv4_req r = {.method = "GET", .path = "/test.txt", .query = cq.p, .headers = h,
                      .n_headers = 1, .payload_hash = "UNSIGNED-PAYLOAD",
                      .amz_date = "20130524T000000Z", .region = "us-east-1", .service = "s3"};
    char sig[65];
    ff_err err;
    assert_int_equal(ff_sigv4_sign(&c, &r, sig, NULL, &err), 0);
    assert_string_equal(sig, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free(cq.p);
}

static void uri_encoding(void **state)
{
    (void)state;
    ff_strbuf b = {0};
    ff_sigv4_uri_encode(&b, "a b+c/d~e_f.g-h*\xc3\xbc=&", 0);
    assert_string_equal(b.p, "a%20b%2Bc%2Fd~e_f.g-h%2A%C3%BC%3D%26");
    b.len = 0;
    ff_sigv4_uri_encode(&b, "temp/s 1/x.fits", 1);
    assert_string_equal(b.p, "temp/s%201/x.fits");
    free(b.p);
    /* sorted by encoded name, then value; empty value keeps its '=' */
    ff_sigv4_pair q[] = {{"uploads", ""}, {"b", "2"}, {"a", "z"}, {"a", "y"}, {"A", "1"}};
    ff_strbuf cq = {0};
    assert_int_equal(ff_sigv4_canonical_query(&cq, q, 5), 0);
    assert_string_equal(cq.p, "A=1&a=y&a=z&b=2&uploads=");
    free(cq.p);
}

static void bad_inputs(void **state)
{
    (void)state;
    ff_aws_creds c = creds(AK, SK);
    ff_sigv4_pair h[] = {{"host", "x"}};
    ff_sigv4_req r = {.method = "GET", .path = "/", .query = "", .headers = h, .n_headers = 1,
                      .payload_hash = EMPTY_SHA, .amz_date = "2013-05-24", .region = "us-east-1",
                      .service = "s3"};
    char sig[65];
    ff_err err;
    assert_int_equal(ff_sigv4_sign(&c, &r, sig, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "YYYYMMDD"));
    r.amz_date = "20130524T000000Z";
    r.region = "";
    assert_int_equal(ff_sigv4_sign(&c, &r, sig, NULL, &err), -1);
}

static void addressing(void **state)
{
    (void)state;
    ff_aws_creds c = creds(AK, SK);
    ff_s3_target t;
    ff_err err;
    struct {
        const char *endpoint, *region;
        int path_style;
        const char *host, *prefix, *sign_host;
    } cases[] = {
        {NULL, "eu-west-2", 0, "my-bucket.s3.amazonaws.com", "", "my-bucket.s3.amazonaws.com"},
        {NULL, "eu-west-2", 1, "s3.eu-west-2.amazonaws.com", "/my-bucket", "s3.eu-west-2.amazonaws.com"},
        {NULL, "us-east-1", 1, "s3.amazonaws.com", "/my-bucket", "s3.amazonaws.com"},
        {"http://127.0.0.1:4568", "us-east-1", 0, "127.0.0.1:4568", "/my-bucket", "127.0.0.1:4568"},
        {"https://minio.example.org:443/", "us-east-1", 0, "my-bucket.minio.example.org:443", "",
         "my-bucket.minio.example.org"},
        {"https://s3.eu-west-2.amazonaws.com", "eu-west-2", 1, "s3.eu-west-2.amazonaws.com",
         "/my-bucket", "s3.eu-west-2.amazonaws.com"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ff_s3_config cfg = {.bucket = "my-bucket", .region = cases[i].region,
                            .endpoint = cases[i].endpoint, .path_style = cases[i].path_style,
                            .creds = &c};
        assert_int_equal(ff_s3_target_init(&t, &cfg, &err), 0);
        assert_string_equal(t.url_host, cases[i].host);
        assert_string_equal(t.path_prefix, cases[i].prefix);
        assert_string_equal(t.sign_host, cases[i].sign_host);
    }
    ff_s3_config bad[] = {
        {.bucket = "My_Bucket", .creds = &c},
        {.bucket = "ok-bucket", .endpoint = "ftp://x", .creds = &c},
        {.bucket = "ok-bucket", .endpoint = "http://x/path", .creds = &c},
        {.bucket = "ok-bucket", .region = "EU WEST", .creds = &c},
        {.bucket = "ok-bucket", .part_size = 1024, .creds = &c},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ff_s3_target_init(&t, &bad[i], &err), -1);
}

static void creds_from_env(void **state)
{
    (void)state;
    ff_aws_creds c;
    ff_err err;
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
    assert_int_equal(ff_aws_creds_from_env(&c, &err), -1);
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SESSION_TOKEN", "tok", 1);
    assert_int_equal(ff_aws_creds_from_env(&c, &err), 0);
    assert_string_equal(c.session_token, "tok");
    unsetenv("AWS_SESSION_TOKEN");
    assert_int_equal(ff_aws_creds_from_env(&c, &err), 0);
    assert_string_equal(c.session_token, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s3_get_object_example),   cmocka_unit_test(s3_put_object_example),
        cmocka_unit_test(s3_list_objects_example), cmocka_unit_test(iam_list_users_example),
        cmocka_unit_test(s3_presigned_get_example), cmocka_unit_test(uri_encoding),
        cmocka_unit_test(bad_inputs),              cmocka_unit_test(addressing),
        cmocka_unit_test(creds_from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
