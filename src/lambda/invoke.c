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
    if (ep && *ep)
        snprintf(endpoint, sizeof endpoint, "%s", ep);
    else
        snprintf(endpoint, sizeof endpoint, "https://lambda.%.64s.amazonaws.com", region);
    size_t el = strlen(endpoint);
    while (el && endpoint[el - 1] == '/')
        endpoint[--el] = '\0';
    const char *hoststart = strstr(endpoint, "://");
    if (!hoststart || strchr(hoststart + 3, '/'))
        return ff_err_set(err, "FITSFLOW_LAMBDA_ENDPOINT '%.100s' must be scheme://host[:port]", endpoint);
    const char *host = hoststart + 3;

    /* The path goes on the wire encoded once; the canonical URI of services other than S3 is
     * encoded again. */
    ff_strbuf wire = {0}, canon = {0}, auth = {0}, url = {0}, line = {0}, answer = {0};
    ff_strbuf_adds(&wire, "/2015-03-31/functions/");
    ff_sigv4_uri_encode(&wire, function, 0);
    ff_strbuf_adds(&wire, "/invocations");
    if (wire.p)
        ff_sigv4_uri_encode(&canon, wire.p, 1);
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
    int rc = -1;
    struct curl_slist *hl = NULL;
    CURL *h = NULL;
    if (wire.oom || canon.oom || !canon.p) {
        ff_err_set(err, "out of memory");
        goto out;
    }
    if (ff_sigv4_authorization(&creds, &r, &auth, err) != 0)
        goto out;
    for (size_t i = 0; i < nh; i++) {
        line.len = 0;
        ff_strbuf_addf(&line, "%s: %s", hs[i].name, hs[i].value);
        struct curl_slist *t = line.oom ? NULL : curl_slist_append(hl, line.p);
        if (!t) {
            ff_err_set(err, "out of memory");
            goto out;
        }
        hl = t;
    }
    line.len = 0;
    ff_strbuf_addf(&line, "Authorization: %s", auth.p);
    struct curl_slist *t = line.oom ? NULL : curl_slist_append(hl, line.p);
    if (!t || !(hl = t) || !(t = curl_slist_append(hl, "Expect:"))) {
        ff_err_set(err, "out of memory");
        goto out;
    }
    hl = t;
    /* Pass the X-Ray trace on, as the AWS SDKs do (not signed). */
    const char *trace = getenv("_X_AMZN_TRACE_ID");
    if (trace && *trace && strlen(trace) < 512 && !strpbrk(trace, "\r\n")) {
        line.len = 0;
        ff_strbuf_addf(&line, "X-Amzn-Trace-Id: %s", trace);
        if (line.oom || !(t = curl_slist_append(hl, line.p))) {
            ff_err_set(err, "out of memory");
            goto out;
        }
        hl = t;
    }
    ff_strbuf_addf(&url, "%s%s", endpoint, wire.p);
    if (url.oom || !(h = curl_easy_init())) {
        ff_err_set(err, "out of memory");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, url.p);
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
    if (cc != CURLE_OK)
        ff_err_set(err, "cannot reach the Lambda API at %s: %s", endpoint, curl_easy_strerror(cc));
    else if (status != 202)
        ff_err_set(err, "invoking %.100s failed: HTTP %ld %.300s", function, status,
                   answer.p ? answer.p : "");
    else
        rc = 0;
out:
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(hl);
    free(wire.p);
    free(canon.p);
    free(auth.p);
    free(url.p);
    free(line.p);
    free(answer.p);
    return rc;
}
