/* Presigned upload URLs, in place of S3's: a URL names one key, one method, one Content-Type and
 * an expiry, and carries an HMAC-SHA256 over them keyed by a server secret, so whoever holds the
 * URL may PUT exactly that object until it expires and nothing else. */
#ifndef FF_SERVER_ROUTES_PRESIGN_H
#define FF_SERVER_ROUTES_PRESIGN_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define FF_PRESIGN_SECRET_MAX 64
#define FF_PRESIGN_SIG_HEX 64
#define FF_PRESIGN_EXPIRES_ARG "X-FitsFlow-Expires"
#define FF_PRESIGN_SIGNATURE_ARG "X-FitsFlow-Signature"

typedef struct ff_presign_secret {
    unsigned char bytes[FF_PRESIGN_SECRET_MAX];
    size_t len;
} ff_presign_secret;

/* The secret: from text (FITSFLOW_SECRET) when not NULL, else from data_dir/secret, which is
 * created once with 32 random bytes (hex) and mode 0600. */
int ff_presign_secret_load(ff_presign_secret *s, const char *text, const char *data_dir, ff_err *err);

/* Lower-case hex HMAC-SHA256 over method, key, expires and content_type ("" = any type), written
 * to out (FF_PRESIGN_SIG_HEX + 1 bytes). */
void ff_presign_sign(const ff_presign_secret *s, const char *method, const char *key, int64_t expires,
                     const char *content_type, char *out);

/* Writes base_url + "/" + key + "?X-FitsFlow-Expires=E&X-FitsFlow-Signature=S" to out.
 * Returns 0, or -1 when it does not fit. key must already be URL-safe (validated names). */
int ff_presign_url(const ff_presign_secret *s, const char *base_url, const char *method,
                   const char *key, int64_t expires, const char *content_type, char *out, size_t cap);

typedef enum ff_presign_result {
    FF_PRESIGN_OK = 0,
    FF_PRESIGN_MISSING,   /* no expiry or signature in the URL */
    FF_PRESIGN_MALFORMED, /* they are there but are not a number / 64 hex digits */
    FF_PRESIGN_EXPIRED,
    FF_PRESIGN_MISMATCH,  /* altered, other key or method, or another Content-Type */
} ff_presign_result;

/* Checks a request against its URL's expires and signature arguments (either may be NULL). The
 * signature is accepted when it was made for content_type or for "" (any type). On failure err
 * says what is wrong in a sentence for the client. Constant-time comparison. */
ff_presign_result ff_presign_verify(const ff_presign_secret *s, const char *method, const char *key,
                                    const char *expires, const char *signature,
                                    const char *content_type, int64_t now, ff_err *err);

#endif
