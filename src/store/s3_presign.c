/* Presigned S3 PUT URLs (query-string SigV4), laid out exactly as botocore's presigner lays them
 * out: the auth parameters in its order (Algorithm, Credential, Date, Expires, SignedHeaders,
 * Security-Token), then X-Amz-Signature last; the signature covers the canonical (sorted) form. */
#include "store/s3_target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *ff_s3_presign_put(const ff_s3_target *t, const char *key, const char *content_type,
                        int expires, time_t now, ff_err *err)
{
    if (ff_store_key_valid(key, err) != 0)
        return NULL;
    if (expires < 1 || expires > 604800) {
        ff_err_set(err, "presigned URL lifetime must be 1 s to 7 days");
        return NULL;
    }
    char amz_date[17], exp[16], credential[256];
    ff_sigv4_amz_date(now, amz_date);
    snprintf(exp, sizeof exp, "%d", expires);
    snprintf(credential, sizeof credential, "%s/%.8s/%s/s3/aws4_request", t->creds.access_key_id,
             amz_date, t->region);

    ff_sigv4_pair hdrs[3];
    size_t nh = 0;
    if (content_type && *content_type)
        hdrs[nh++] = (ff_sigv4_pair){"content-type", content_type};
    hdrs[nh++] = (ff_sigv4_pair){"host", t->sign_host};
    if (t->sse[0])
        hdrs[nh++] = (ff_sigv4_pair){"x-amz-server-side-encryption", t->sse};
    /* SignedHeaders is in sorted order already: content-type < host < x-amz-... */
    char signed_headers[96];
    snprintf(signed_headers, sizeof signed_headers, "%s%s%s",
             content_type && *content_type ? "content-type;" : "", "host",
             t->sse[0] ? ";x-amz-server-side-encryption" : "");

    int token = t->creds.session_token[0] != '\0';
    ff_sigv4_pair q[6] = {
        {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
        {"X-Amz-Credential", credential},
        {"X-Amz-Date", amz_date},
        {"X-Amz-Expires", exp},
        {"X-Amz-SignedHeaders", signed_headers},
        {"X-Amz-Security-Token", t->creds.session_token},
    };
    size_t nq = token ? 6 : 5;

    ff_strbuf path = {0}, cq = {0}, url = {0};
    char *out = NULL;
    ff_s3_target_path(t, key, &path);
    if (ff_sigv4_canonical_query(&cq, q, nq) != 0 || path.oom) {
        ff_err_set(err, "out of memory presigning a URL");
        goto done;
    }
    ff_sigv4_req r = {
        .method = "PUT", .path = path.p, .query = cq.p, .headers = hdrs, .n_headers = nh,
        .payload_hash = "UNSIGNED-PAYLOAD", .amz_date = amz_date, .region = t->region,
        .service = "s3",
    };
    char sig[65];
    ff_strbuf sh = {0};
    int rc = ff_sigv4_sign(&t->creds, &r, sig, &sh, err);
    free(sh.p);
    if (rc != 0)
        goto done;
    ff_strbuf_addf(&url, "%s://%s%s?", t->scheme, t->url_host, path.p);
    for (size_t i = 0; i < nq; i++) {
        if (i)
            ff_strbuf_add(&url, "&", 1);
        ff_strbuf_adds(&url, q[i].name);
        ff_strbuf_add(&url, "=", 1);
        ff_sigv4_uri_encode(&url, q[i].value, 0);
    }
    ff_strbuf_addf(&url, "&X-Amz-Signature=%s", sig);
    if (url.oom) {
        ff_err_set(err, "out of memory presigning a URL");
        goto done;
    }
    out = url.p;
    url.p = NULL;
done:
    free(path.p);
    free(cq.p);
    free(url.p);
    return out;
}

char *ff_store_presign_put(ff_store *s, const char *key, const char *content_type, int expires,
                           time_t now, ff_err *err)
{
    const ff_s3_target *t = s ? ff_s3_store_target(s) : NULL;
    if (!t) {
        ff_err_set(err, "presigned S3 URLs need the s3 store (FITSFLOW_STORE=s3)");
        return NULL;
    }
    return ff_s3_presign_put(t, key, content_type, expires, now, err);
}
