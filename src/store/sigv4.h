/* AWS Signature Version 4 on OpenSSL's HMAC/SHA-256: the Authorization header for requests to
 * S3 and the Lambda Invoke API, and the pieces (URI encoding, canonical query strings, signing
 * key) that query-string presigning needs. Also where AWS credentials come from (the standard
 * environment variables, as Lambda sets them). */
#ifndef FF_STORE_SIGV4_H
#define FF_STORE_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "base/err.h"
#include "base/strbuf.h"

#define FF_AWS_KEY_MAX 128
#define FF_AWS_TOKEN_MAX 4096

typedef struct ff_aws_creds {
    char access_key_id[FF_AWS_KEY_MAX + 1];
    char secret_access_key[FF_AWS_KEY_MAX + 1];
    char session_token[FF_AWS_TOKEN_MAX + 1]; /* "" when none */
} ff_aws_creds;

/* Reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (optional) AWS_SESSION_TOKEN.
 * Returns 0, or -1 naming what is missing or too long. */
int ff_aws_creds_from_env(ff_aws_creds *c, ff_err *err);

/* Appends s percent-encoded as SigV4 asks (base/urlenc.h's ff_url_escape): A-Z a-z 0-9 - . _ ~
 * kept, every other byte as %XX (upper-case hex); '/' kept when keep_slash. */
void ff_sigv4_uri_encode(ff_strbuf *b, const char *s, int keep_slash);

/* One query parameter or header, unencoded. */
typedef struct ff_sigv4_pair {
    const char *name;
    const char *value;
} ff_sigv4_pair;

/* Appends the canonical query string of these parameters: each name and value URI-encoded,
 * sorted by name then value, joined with '&' (an empty value gives "name="). Returns 0, or -1
 * on out of memory (n at most 64). */
int ff_sigv4_canonical_query(ff_strbuf *b, const ff_sigv4_pair *params, size_t n);

/* "YYYYMMDDTHHMMSSZ" for t (UTC) into out[17]. */
void ff_sigv4_amz_date(time_t t, char out[17]);

/* Lower-case hex SHA-256 of data into out[65]. */
void ff_sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* What to sign. path is the canonical URI, already encoded as it goes on the wire; query is the
 * canonical query string ("" when none). headers are the headers to sign (names in any case;
 * values are trimmed and inner runs of spaces folded here); they must include host and, for
 * header signing, x-amz-date (and x-amz-content-sha256 for S3, x-amz-security-token when the
 * credentials have a token). payload_hash is the hex SHA-256 of the body or "UNSIGNED-PAYLOAD". */
typedef struct ff_sigv4_req {
    const char *method;
    const char *path;
    const char *query;
    const ff_sigv4_pair *headers;
    size_t n_headers; /* at most 32 */
    const char *payload_hash;
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ" */
    const char *region;
    const char *service;  /* "s3", "lambda" */
} ff_sigv4_req;

/* The hex signature (out[65]) and the ';'-joined lower-case signed header names (appended to
 * signed_headers, may be NULL). Returns 0, or -1 on a bad request description or no memory. */
int ff_sigv4_sign(const ff_aws_creds *c, const ff_sigv4_req *r, char out[65],
                  ff_strbuf *signed_headers, ff_err *err);

/* The whole Authorization header value: "AWS4-HMAC-SHA256 Credential=AK/date/region/service/
 * aws4_request, SignedHeaders=..., Signature=..." appended to out. */
int ff_sigv4_authorization(const ff_aws_creds *c, const ff_sigv4_req *r, ff_strbuf *out,
                           ff_err *err);

#endif
