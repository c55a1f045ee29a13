/* HMAC-SHA256 presigned URLs (OpenSSL) and the server secret kept in the data folder. */
#include "server/presign.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int ff_presign_secret_load(ff_presign_secret *s, const char *text, const char *data_dir, ff_err *err)
{
    if (text) {
        size_t n = strlen(text);
        if (n > FF_PRESIGN_SECRET_MAX)
            n = FF_PRESIGN_SECRET_MAX; /* longer secrets: the first 64 bytes carry the entropy */
        memcpy(s->bytes, text, n);
        s->len = n;
        return 0;
    }
    char path[1200];
    if ((size_t)snprintf(path, sizeof path, "%s/secret", data_dir) >= sizeof path)
        return ff_err_set(err, "data folder path is too long");
    char hex[2 * 32 + 2];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        unsigned char raw[32];
        if (RAND_bytes(raw, sizeof raw) != 1)
            return ff_err_set(err, "cannot get random bytes for the server secret");
        to_hex(raw, sizeof raw, hex);
        hex[64] = '\n';
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            ssize_t w = write(fd, hex, 65);
            if (w != 65 || fsync(fd) != 0) {
                close(fd);
                unlink(path);
                return ff_err_set(err, "cannot write the server secret to %s", path);
            }
            close(fd);
        } else if (errno != EEXIST) {
            return ff_err_set(err, "cannot create the server secret %s: %s", path, strerror(errno));
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return ff_err_set(err, "cannot read the server secret %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        close(fd);
        return ff_err_set(err, "the server secret %s must be a regular file readable only by its owner "
                               "(chmod 600 %s)", path, path);
    }
    ssize_t n = read(fd, hex, 64);
    close(fd);
    if (n != 64)
        return ff_err_set(err, "the server secret %s is damaged; delete it to make a new one "
                               "(outstanding upload URLs stop working)", path);
    for (int i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ff_err_set(err, "the server secret %s is not 64 hex digits; delete it to make a new one", path);
        s->bytes[i] = (unsigned char)(hi << 4 | lo);
    }
    s->len = 32;
    return 0;
}

/* Returns 0, or -1 (out zeroed) when the message does not fit: callers never accept that. */
static int mac(const ff_presign_secret *s, const char *method, const char *key, int64_t expires,
               const char *content_type, unsigned char out[32])
{
    /* Fields are separated by '\n', which none of them may contain (keys and types are checked). */
    char msg[2048];
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%" PRId64 "\n%s", method, key, expires, content_type);
    unsigned int len = 32;
    if (n < 0 || (size_t)n >= sizeof msg ||
        !HMAC(EVP_sha256(), s->bytes, (int)s->len, (const unsigned char *)msg, (size_t)n, out, &len)) {
        memset(out, 0, 32);
        return -1;
    }
    return 0;
}

void ff_presign_sign(const ff_presign_secret *s, const char *method, const char *key, int64_t expires,
                     const char *content_type, char *out)
{
    unsigned char m[32];
    mac(s, method, key, expires, content_type ? content_type : "", m);
    to_hex(m, 32, out);
}

int ff_presign_url(const ff_presign_secret *s, const char *base_url, const char *method,
                   const char *key, int64_t expires, const char *content_type, char *out, size_t cap)
{
    char sig[FF_PRESIGN_SIG_HEX + 1];
    ff_presign_sign(s, method, key, expires, content_type, sig);
    int n = snprintf(out, cap, "%s/%s?" FF_PRESIGN_EXPIRES_ARG "=%" PRId64 "&" FF_PRESIGN_SIGNATURE_ARG "=%s",
                     base_url, key, expires, sig);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

ff_presign_result ff_presign_verify(const ff_presign_secret *s, const char *method, const char *key,
                                    const char *expires, const char *signature,
                                    const char *content_type, int64_t now, ff_err *err)
{
    if (!expires || !signature || !*expires || !*signature) {
        ff_err_set(err, "this upload has no signature: ask GET /FitsFlow-2-Trigger?session_id=S&filename=F "
                        "for an upload URL and PUT to that URL");
        return FF_PRESIGN_MISSING;
    }
    int64_t e = 0;
    size_t el = strlen(expires);
    if (el > 12)
        goto malformed;
    for (const char *p = expires; *p; p++) {
        if (*p < '0' || *p > '9')
            goto malformed;
        e = e * 10 + (*p - '0');
    }
    if (strlen(signature) != FF_PRESIGN_SIG_HEX)
        goto malformed;
    unsigned char given[32];
    for (int i = 0; i < 32; i++) {
        int hi = hexval(signature[2 * i]), lo = hexval(signature[2 * i + 1]);
        if (hi < 0 || lo < 0)
            goto malformed;
        given[i] = (unsigned char)(hi << 4 | lo);
    }
    unsigned char want[32];
    int ok = mac(s, method, key, e, content_type ? content_type : "", want) == 0 &&
             CRYPTO_memcmp(want, given, 32) == 0;
    if (!ok && content_type && *content_type)
        ok = mac(s, method, key, e, "", want) == 0 && CRYPTO_memcmp(want, given, 32) == 0;
    if (!ok) {
        ff_err_set(err, "the upload URL's signature does not match this request: the URL was altered, is "
                        "used for another file or method, or the Content-Type header differs from the one "
                        "the URL was made for");
        return FF_PRESIGN_MISMATCH;
    }
    /* Checked after the signature so that an altered expiry reads as altered, not as expired. */
    if (e < now) {
        ff_err_set(err, "the upload URL expired %" PRId64 " s ago; ask /FitsFlow-2-Trigger for a new one", now - e);
        return FF_PRESIGN_EXPIRED;
    }
    return FF_PRESIGN_OK;
malformed:
    ff_err_set(err, "the upload URL's " FF_PRESIGN_EXPIRES_ARG " or " FF_PRESIGN_SIGNATURE_ARG
                    " is malformed; use the URL exactly as /FitsFlow-2-Trigger returned it");
    return FF_PRESIGN_MALFORMED;
}
