/* AWS Signature Version 4, written from the AWS documentation ("Create a signed AWS API
 * request"): canonical request -> string to sign -> HMAC chain of date/region/service key. */
#include "store/sigv4.h"
#include "base/hex.h"
#include "base/urlenc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define MAX_PAIRS 64

static int copy_env(const char *name, char *out, size_t cap, int required, ff_err *err)
{
    const char *v = getenv(name);
    out[0] = '\0';
    if (!v || !*v) {
        if (required)
            return ff_err_set(err, "%s is not set; AWS credentials come from the environment", name);
        return 0;
    }
    size_t n = strlen(v);
    if (n >= cap)
        return ff_err_set(err, "%s is longer than %zu characters", name, cap - 1);
    memcpy(out, v, n + 1);
    return 0;
}

int ff_aws_creds_from_env(ff_aws_creds *c, ff_err *err)
{
    if (copy_env("AWS_ACCESS_KEY_ID", c->access_key_id, sizeof c->access_key_id, 1, err) ||
        copy_env("AWS_SECRET_ACCESS_KEY", c->secret_access_key, sizeof c->secret_access_key, 1, err) ||
        copy_env("AWS_SESSION_TOKEN", c->session_token, sizeof c->session_token, 0, err))
        return -1;
    return 0;
}

void ff_sigv4_uri_encode(ff_strbuf *b, const char *s, int keep_slash)
{
    char chunk[3 * 256 + 1];
    unsigned flags = keep_slash ? FF_URL_KEEP_SLASH : 0;
    size_t len = strlen(s);
    for (size_t off = 0; off < len; off += 256) {
        size_t n = len - off < 256 ? len - off : 256;
        ff_strbuf_add(b, chunk, ff_url_escape(chunk, sizeof chunk, s + off, n, flags));
    }
}

typedef struct enc_pair {
    char *name, *value;
} enc_pair;

static int cmp_enc(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

int ff_sigv4_canonical_query(ff_strbuf *b, const ff_sigv4_pair *params, size_t n)
{
    if (n > MAX_PAIRS)
        return -1;
    enc_pair enc[MAX_PAIRS];
    int rc = 0;
    size_t made = 0;
    for (; made < n; made++) {
        ff_strbuf nb = {0}, vb = {0};
        ff_strbuf_adds(&nb, "");
        ff_strbuf_adds(&vb, "");
        ff_sigv4_uri_encode(&nb, params[made].name, 0);
        ff_sigv4_uri_encode(&vb, params[made].value ? params[made].value : "", 0);
        enc[made].name = nb.p;
        enc[made].value = vb.p;
        if (nb.oom || vb.oom) {
            made++;
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        qsort(enc, n, sizeof *enc, cmp_enc);
        for (size_t i = 0; i < n; i++) {
            if (i)
                ff_strbuf_add(b, "&", 1);
            ff_strbuf_adds(b, enc[i].name);
            ff_strbuf_add(b, "=", 1);
            ff_strbuf_adds(b, enc[i].value);
        }
        if (n == 0)
            ff_strbuf_adds(b, "");
        if (b->oom)
            rc = -1;
    }
    for (size_t i = 0; i < made; i++) {
        free(enc[i].name);
        free(enc[i].value);
    }
    return rc;
}

void ff_sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void ff_sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    ff_hex_encode(md, sizeof md, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &olen);
}

typedef struct canon_header {
    char name[64];
    const char *value;
} canon_header;

static int cmp_header(const void *a, const void *b)
{
    return strcmp(((const canon_header *)a)->name, ((const canon_header *)b)->name);
}

/* Appends value trimmed, with inner runs of spaces folded to one. */
static void add_trimmed(ff_strbuf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == ' ' || c == '\t') {
            space = 1;
            continue;
        }
        if (space)
            ff_strbuf_add(b, " ", 1);
        space = 0;
        ff_strbuf_add(b, &c, 1);
    }
}

static int scope_date_ok(const char *amz_date)
{
    if (!amz_date || strlen(amz_date) != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z')
        return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !isdigit((unsigned char)amz_date[i]))
            return 0;
    return 1;
}

int ff_sigv4_sign(const ff_aws_creds *c, const ff_sigv4_req *r, char out[65],
                  ff_strbuf *signed_headers, ff_err *err)
{
    if (!scope_date_ok(r->amz_date))
        return ff_err_set(err, "signing time '%s' is not YYYYMMDDTHHMMSSZ",
                          r->amz_date ? r->amz_date : "");
    if (!r->region || !*r->region || !r->service || !*r->service)
        return ff_err_set(err, "no AWS region or service to sign for");
    if (r->n_headers > 32)
        return ff_err_set(err, "too many headers to sign");
    canon_header hs[32];
    for (size_t i = 0; i < r->n_headers; i++) {
        size_t n = strlen(r->headers[i].name);
        if (n == 0 || n >= sizeof hs[i].name)
            return ff_err_set(err, "bad header name to sign");
        for (size_t k = 0; k <= n; k++)
            hs[i].name[k] = (char)tolower((unsigned char)r->headers[i].name[k]);
        hs[i].value = r->headers[i].value ? r->headers[i].value : "";
    }
    qsort(hs, r->n_headers, sizeof *hs, cmp_header);

    ff_strbuf sh = {0};
    for (size_t i = 0; i < r->n_headers; i++) {
        if (i)
            ff_strbuf_add(&sh, ";", 1);
        ff_strbuf_adds(&sh, hs[i].name);
    }
    ff_strbuf_adds(&sh, "");

    ff_strbuf cr = {0};
    ff_strbuf_addf(&cr, "%s\n%s\n%s\n", r->method, r->path && *r->path ? r->path : "/",
                   r->query ? r->query : "");
    for (size_t i = 0; i < r->n_headers; i++) {
        ff_strbuf_adds(&cr, hs[i].name);
        ff_strbuf_add(&cr, ":", 1);
        add_trimmed(&cr, hs[i].value);
        ff_strbuf_add(&cr, "\n", 1);
    }
    ff_strbuf_addf(&cr, "\n%s\n%s", sh.p ? sh.p : "", r->payload_hash);

    int rc = 0;
    if (cr.oom || sh.oom) {
        rc = ff_err_set(err, "out of memory signing a request");
        goto out;
    }
    char crhash[65];
    ff_sigv4_sha256_hex(cr.p, cr.len, crhash);
    char date[9];
    memcpy(date, r->amz_date, 8);
    date[8] = '\0';
    char sts[512];
    int n = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date,
                     date, r->region, r->service, crhash);
    if (n < 0 || (size_t)n >= sizeof sts) {
        rc = ff_err_set(err, "AWS region or service name too long");
        goto out;
    }
    char ksecret[FF_AWS_KEY_MAX + 8];
    snprintf(ksecret, sizeof ksecret, "AWS4%s", c->secret_access_key);
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    hmac(ksecret, strlen(ksecret), date, k1);
    hmac(k1, 32, r->region, k2);
    hmac(k2, 32, r->service, k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts, sig);
    ff_hex_encode(sig, 32, out);
    if (signed_headers)
        ff_strbuf_adds(signed_headers, sh.p);
out:
    free(cr.p);
    free(sh.p);
    return rc;
}

int ff_sigv4_authorization(const ff_aws_creds *c, const ff_sigv4_req *r, ff_strbuf *out,
                           ff_err *err)
{
    char sig[65];
    ff_strbuf sh = {0};
    if (ff_sigv4_sign(c, r, sig, &sh, err) != 0) {
        free(sh.p);
        return -1;
    }
    ff_strbuf_addf(out, "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                   c->access_key_id, r->amz_date, r->region, r->service, sh.p, sig);
    free(sh.p);
    if (out->oom)
        return ff_err_set(err, "out of memory signing a request");
    return 0;
}
