/* Starting another Lambda function asynchronously: the Invoke API (POST
 * /2015-03-31/functions/NAME/invocations, X-Amz-Invocation-Type: Event) signed with SigV4. */
#include "lambda/lambda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/cabundle.h"
#include "store/sigv4.h"

static size_t keep_cb(char *data, size_t size, size_t n, void *p)
{
    ff_strbuf *b = p;
    size_t len = size * n;
    if (b->len + len > 65536)
        return 0;
    ff_strbuf_add(b, data, len);
    return b->oom ? 0 : len;
}

/* The Invoke API's base URL (scheme://host[:port], no trailing slash) into out, and where its
 * host starts; -1 with err when the endpoint has a path. */
static int lambda_endpoint(const char *ep, const char *region, char out[300], const char **host,
                           ff_err *err)
{
    if (ep && *ep)
        snprintf(out, 300, "%s", ep);
    else
        snprintf(out, 300, "https://lambda.%.64s.amazonaws.com", region);
    size_t el = strlen(out);
    while (el && out[el - 1] == '/')
        out[--el] = '\0';
    const char *hoststart = strstr(out, "://");
    if (!hoststart || strchr(hoststart + 3, '/'))
        return ff_err_set(err, "FITSFLOW_LAMBDA_ENDPOINT '%.100s' must be scheme://host[:port]", out);
    *host = hoststart + 3;
    return 0;
}

/* Appends "name: value" to the curl header list; -1 when out of memory. */
static int add_header(struct curl_slist **hl, const char *name, const char *value)
{
    ff_strbuf line = {0};
    ff_strbuf_addf(&line, "%s: %s", name, value);
    struct curl_slist *t = line.oom ? NULL : curl_slist_append(*hl, line.p);
    free(line.p);
    if (!t)
        return -1;
    *hl = t;
    return 0;
}

/* The request's headers: those signed, the Authorization, no Expect, and the X-Ray trace passed
 * on as the AWS SDKs do (not signed). -1 with err. */
static int request_headers(const ff_aws_creds *creds, const ff_sigv4_req *r, struct curl_slist **hl,
                           ff_err *err)
{
    ff_strbuf auth = {0};
    if (ff_sigv4_authorization(creds, r, &auth, err) != 0) {
        free(auth.p);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->n_headers; i++)
        rc = add_header(hl, r->headers[i].name, r->headers[i].value);
    if (rc == 0)
        rc = add_header(hl, "Authorization", auth.p);
    free(auth.p);
    struct curl_slist *t = rc == 0 ? curl_slist_append(*hl, "Expect:") : NULL;
    if (t)
        *hl = t;
    const char *trace = getenv("_X_AMZN_TRACE_ID");
    if (t && trace && *trace && strlen(trace) < 512 && !strpbrk(trace, "\r\n") &&
        add_header(hl, "X-Amzn-Trace-Id", trace) != 0)
        t = NULL;
    return t ? 0 : ff_err_set(err, "out of memory");
}

/* POSTs payload to url with the headers: 0 when the API answered 202 (queued). */
static int post_event(const char *url, const char *endpoint, const char *function,
                      struct curl_slist *hl, const char *payload, ff_err *err)
{
    CURL *h = curl_easy_init();
    if (!h)
        return ff_err_set(err, "out of memory");
    ff_strbuf answer = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    const char *ca = ff_ca_bundle();
    if (ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int rc = -1;
    if (cc != CURLE_OK)
        ff_err_set(err, "cannot reach the Lambda API at %s: %s", endpoint, curl_easy_strerror(cc));
    else if (status != 202)
        ff_err_set(err, "invoking %.100s failed: HTTP %ld %.300s", function, status,
                   answer.p ? answer.p : "");
    else
        rc = 0;
    curl_easy_cleanup(h);
    free(answer.p);
    return rc;
}

int ff_lambda_invoke_async(const char *ep, const char *function, const char *payload, ff_err *err)
{
    if (!function || !*function)
        return ff_err_set(err, "no function to invoke (set FITSFLOW_MAIN_FUNCTION)");
    ff_aws_creds creds;
    if (ff_aws_creds_from_env(&creds, err) != 0)
        return -1;
    const char *region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    if (!region || !*region)
        return ff_err_set(err, "AWS_REGION is not set; it names the region of the function to invoke");
    char endpoint[300];
    const char *host = NULL;
    if (lambda_endpoint(ep, region, endpoint, &host, err) != 0)
        return -1;
    /* The path goes on the wire encoded once; the canonical URI of services other than S3 is
     * encoded again. */
    ff_strbuf wire = {0}, canon = {0}, url = {0};
    ff_strbuf_adds(&wire, "/2015-03-31/functions/");
    ff_sigv4_uri_encode(&wire, function, 0);
    ff_strbuf_adds(&wire, "/invocations");
    if (wire.p)
        ff_sigv4_uri_encode(&canon, wire.p, 1);
    ff_strbuf_addf(&url, "%s%s", endpoint, wire.p ? wire.p : "");
    char amz_date[17], hash[65];
    ff_sigv4_amz_date(time(NULL), amz_date);
    ff_sigv4_sha256_hex(payload, strlen(payload), hash);
    ff_sigv4_pair hs[6];
    size_t nh = 0;
    hs[nh++] = (ff_sigv4_pair){"host", host};
    hs[nh++] = (ff_sigv4_pair){"x-amz-date", amz_date};
    hs[nh++] = (ff_sigv4_pair){"x-amz-invocation-type", "Event"};
    hs[nh++] = (ff_sigv4_pair){"content-type", "application/json"};
    if (creds.session_token[0])
        hs[nh++] = (ff_sigv4_pair){"x-amz-security-token", creds.session_token};
    ff_sigv4_req r = {.method = "POST", .path = canon.p, .query = "", .headers = hs,
                      .n_headers = nh, .payload_hash = hash, .amz_date = amz_date,
                      .region = region, .service = "lambda"};
    struct curl_slist *hl = NULL;
    int rc = -1;
    if (wire.oom || canon.oom || !canon.p || url.oom)
        ff_err_set(err, "out of memory");
    else if (request_headers(&creds, &r, &hl, err) == 0)
        rc = post_event(url.p, endpoint, function, hl, payload, err);
    curl_slist_free_all(hl);
    free(wire.p);
    free(canon.p);
    free(url.p);
    return rc;
}
