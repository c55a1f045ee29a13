/* The S3 XML readers (src/store/s3_xml.c, libexpat) on answers as AWS documents them and as
 * s3rver and MinIO write them: listings with entities, namespaces, CDATA and odd layout,
 * continuation tokens, error bodies, multipart results, and documents built to hurt a parser
 * (DOCTYPE entity expansion, deep nesting, overlong text, truncation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_xml.h"

typedef struct got {
    char keys[8][256];
    uint64_t sizes[8];
    time_t mtimes[8];
    char etags[8][72];
    int n;
    int stop_at; /* return 7 at this item (1-based); 0 = never */
} got;

static int collect(const ff_s3_list_item *it, void *ctx)
{
    got *g = ctx;
    if (g->n < 8) {
        snprintf(g->keys[g->n], sizeof g->keys[g->n], "%s", it->key);
        g->sizes[g->n] = it->size;
        g->mtimes[g->n] = it->mtime;
        snprintf(g->etags[g->n], sizeof g->etags[g->n], "%s", it->etag);
    }
    g->n++;
    return g->stop_at && g->n == g->stop_at ? 7 : 0;
}

static const char *const LISTING =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bucket</Name><Prefix>temp/s/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&amp;x</NextContinuationToken>"
    "<Contents><Key>temp/s/fits/a&amp;b.fits</Key><LastModified>2024-05-06T07:08:09.000Z</LastModified>"
    "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>5760</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>\n  "
    "<Contents>\n <Size>0</Size>\n <Key><![CDATA[temp/s/logs/x_log_1.txt]]></Key>\n</Contents>"
    "<Contents><Key>temp/s/caf&#xE9;&#233;.txt</Key><Size>18446744073709551615</Size>"
    "<Owner><ID>x</ID><DisplayName>y</DisplayName></Owner></Contents>"
    "</ListBucketResult>";

static void test_listing(void **state)
{
    (void)state;
    got g = {0};
    ff_s3_list_page page;
    ff_err err = {0};
    assert_int_equal(ff_s3_xml_list(LISTING, strlen(LISTING), collect, &g, &page, &err), 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(page.items, 3);
    assert_true(page.truncated);
    assert_string_equal(page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&x");
    free(page.next_token);
    assert_string_equal(g.keys[0], "temp/s/fits/a&b.fits");
    assert_int_equal(g.sizes[0], 5760);
    assert_int_equal(g.mtimes[0], 1714979289);
    assert_string_equal(g.etags[0], "\"9b2cf535f27731c974343645a3985328\"");
    assert_string_equal(g.keys[1], "temp/s/logs/x_log_1.txt");
    assert_int_equal(g.sizes[1], 0);
    assert_int_equal(g.mtimes[1], 0);
    assert_string_equal(g.etags[1], "");
    assert_string_equal(g.keys[2], "temp/s/caf\xc3\xa9\xc3\xa9.txt");
    assert_true(g.sizes[2] == UINT64_MAX);

    /* The last page; an empty one. */
    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                       "<Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>";
    memset(&g, 0, sizeof g);
    assert_int_equal(ff_s3_xml_list(last, strlen(last), collect, &g, &page, &err), 0);
    assert_int_equal(g.n, 1);
    assert_false(page.truncated);
    assert_null(page.next_token);
    const char *empty = "  \r\n<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>";
    memset(&g, 0, sizeof g);
    assert_int_equal(ff_s3_xml_list(empty, strlen(empty), collect, &g, &page, &err), 0);
    assert_int_equal(g.n, 0);

    /* The callback stops the walk with its own value; no token is left to free. */
    memset(&g, 0, sizeof g);
    g.stop_at = 2;
    assert_int_equal(ff_s3_xml_list(LISTING, strlen(LISTING), collect, &g, &page, &err), 7);
    assert_int_equal(g.n, 2);
    assert_null(page.next_token);
}

static void bad_listing(const char *xml, const char *words)
{
    got g = {0};
    ff_s3_list_page page;
    ff_err err = {0};
    int rc = ff_s3_xml_list(xml, strlen(xml), collect, &g, &page, &err);
    if (rc != -1)
        fail_msg("'%s' gave %d, not -1", xml, rc);
    assert_null(page.next_token);
    if (!strstr(err.msg, words))
        fail_msg("'%s': message '%s' lacks '%s'", xml, err.msg, words);
}

static void test_bad_listings(void **state)
{
    (void)state;
    bad_listing("", "S3 answer is not well-formed XML");
    bad_listing("<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>", "not well-formed");
    bad_listing("<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>", "without a key or size");
    bad_listing("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", "without a key or size");
    bad_listing("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
                "not a number");
    bad_listing("<ListBucketResult><Contents><Key>a</Key><Size>18446744073709551616</Size></Contents>"
                "</ListBucketResult>", "not a number");
    bad_listing("<Error><Code>AccessDenied</Code></Error>", "not a ListBucketResult");
    bad_listing("just text", "not well-formed");
    /* Entity expansion needs a DOCTYPE: refused before any expansion. */
    bad_listing("<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;"
                "&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
                "<ListBucketResult><Contents><Key>&c;</Key><Size>1</Size></Contents></ListBucketResult>",
                "DOCTYPE");
    bad_listing("<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><ListBucketResult/>", "DOCTYPE");
    /* An undefined entity is an error, not an empty string. */
    bad_listing("<ListBucketResult><Contents><Key>&nope;</Key><Size>1</Size></Contents></ListBucketResult>",
                "not well-formed");

    /* Deep nesting stops at the bound. */
    char deep[2048] = "<ListBucketResult>";
    for (int i = 0; i < 40; i++)
        strcat(deep, "<a>");
    bad_listing(deep, "nested too deeply");

    /* A key longer than any the store writes. */
    size_t big = FF_S3_XML_TEXT_MAX + 100;
    char *xml = malloc(big + 200);
    assert_non_null(xml);
    strcpy(xml, "<ListBucketResult><Contents><Key>");
    size_t n = strlen(xml);
    memset(xml + n, 'k', big);
    strcpy(xml + n + big, "</Key><Size>1</Size></Contents></ListBucketResult>");
    bad_listing(xml, "longer than");
    free(xml);

    /* Cut short anywhere: never a crash, never a success with a half item. */
    size_t len = strlen(LISTING);
    for (size_t cut = 0; cut < len; cut++) {
        got g = {0};
        ff_s3_list_page page;
        ff_err err = {0};
        int rc = ff_s3_xml_list(LISTING, cut, collect, &g, &page, &err);
        assert_int_equal(rc, -1);
        assert_null(page.next_token);
    }
}

static void test_errors(void **state)
{
    (void)state;
    char code[64], msg[128];
    const char *e = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                    "<Message>The resource you requested &lt;does not&gt; exist</Message>"
                    "<Resource>/b/k</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>";
    assert_int_equal(ff_s3_xml_error(e, strlen(e), code, sizeof code, msg, sizeof msg), 1);
    assert_string_equal(code, "NoSuchKey");
    assert_string_equal(msg, "The resource you requested <does not> exist");
    /* Truncated into the buffers; control characters made printable. */
    const char *e2 = "<Error><Code>SlowDown</Code><Message>line1\nline2 and a long tail</Message></Error>";
    char small[10];
    assert_int_equal(ff_s3_xml_error(e2, strlen(e2), code, sizeof code, small, sizeof small), 1);
    assert_string_equal(code, "SlowDown");
    assert_string_equal(small, "line1 lin");
    /* Not an error document, or not XML: 0 and empty strings. */
    const char *nots[] = {"<ListBucketResult/>", "", "<html><body>502 Bad Gateway</body></html>",
                          "502 Bad Gateway", "<Error><Code>x</Code>"};
    for (size_t i = 0; i < sizeof nots / sizeof *nots; i++) {
        strcpy(code, "junk");
        assert_int_equal(ff_s3_xml_error(nots[i], strlen(nots[i]), code, sizeof code, msg, sizeof msg), 0);
        assert_string_equal(code, "");
    }
    assert_int_equal(ff_s3_xml_error(NULL, 0, code, sizeof code, NULL, 0), 0);
}

static void test_multipart(void **state)
{
    (void)state;
    ff_err err = {0};
    const char *init = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult "
                       "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>k</Key>"
                       "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
                       "</InitiateMultipartUploadResult>";
    char *id = ff_s3_xml_upload_id(init, strlen(init), &err);
    assert_non_null(id);
    assert_string_equal(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
    free(id);
    const char *noid = "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>";
    assert_null(ff_s3_xml_upload_id(noid, strlen(noid), &err));
    assert_non_null(strstr(err.msg, "no upload id"));
    const char *denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
    assert_null(ff_s3_xml_upload_id(denied, strlen(denied), &err));
    assert_non_null(strstr(err.msg, "AccessDenied: Access Denied"));
    assert_null(ff_s3_xml_upload_id(NULL, 0, &err));

    char etag[72];
    /* S3 keeps a slow completion alive with spaces before the document. */
    const char *done = "      \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>"
                       "<Location>http://b.s3.amazonaws.com/k</Location><Bucket>b</Bucket><Key>k</Key>"
                       "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
    assert_int_equal(ff_s3_xml_complete(done, strlen(done), etag, sizeof etag, &err), 0);
    assert_string_equal(etag, "\"3858f62230ac3c915f300c664312c11f-9\"");
    const char *failed = "     <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>"
                         "<Message>We encountered an internal error. Please try again.</Message></Error>";
    assert_int_equal(ff_s3_xml_complete(failed, strlen(failed), etag, sizeof etag, &err), -1);
    assert_non_null(strstr(err.msg, "InternalError"));
    assert_string_equal(etag, "");
    const char *cut = "<CompleteMultipartUploadResult><ETag>\"x\"</ETag>";
    assert_int_equal(ff_s3_xml_complete(cut, strlen(cut), etag, sizeof etag, &err), -1);
    assert_non_null(strstr(err.msg, "not well-formed"));
    const char *other = "<Something/>";
    assert_int_equal(ff_s3_xml_complete(other, strlen(other), etag, sizeof etag, &err), -1);
    assert_non_null(strstr(err.msg, "not a CompleteMultipartUploadResult"));
}

static void test_iso(void **state)
{
    (void)state;
    assert_int_equal(ff_s3_parse_iso("2024-05-06T07:08:09.000Z"), 1714979289);
    assert_int_equal(ff_s3_parse_iso("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(ff_s3_parse_iso("yesterday"), -1);
    assert_int_equal(ff_s3_parse_iso("2024-13-06T07:08:09Z"), -1);
    assert_int_equal(ff_s3_parse_iso(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_bad_listings),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_iso),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
