/* HMAC-SHA256 presigned URLs (OpenSSL) and the server secret kept in the data folder. */
#include "server/routes/presign.h"
#include "base/hex.h"

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
#include <pthread.h>

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
        ff_hex_encode(raw, sizeof raw, hex);
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
    if (ff_hex_decode(hex, 32, s->bytes) != 0)
        return ff_err_set(err, "the server secret %s is not 64 hex digits; delete it to make a new one", path);
    s->len = 32;
    return 0;
}

/* HMAC-SHA256 with the key's padded blocks hashed once per thread and secret, then copied for
 * each message: OpenSSL 3's one-shot HMAC() looks the digest up and keys it on every call, about
 * 2.9 us against 0.35 us, which showed at tens of thousands of presigns per second. */
typedef struct mac_cache {
    unsigned char key[FF_PRESIGN_SECRET_MAX];
    size_t len; /* > FF_PRESIGN_SECRET_MAX: not keyed */
    EVP_MD_CTX *inner, *outer, *work;
} mac_cache;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_ready;

static void cache_free(void *p)
{
    mac_cache *c = p;
    if (!c)
        return;
    EVP_MD_CTX_free(c->inner);
    EVP_MD_CTX_free(c->outer);
    EVP_MD_CTX_free(c->work);
    OPENSSL_cleanse(c->key, sizeof c->key);
    free(c);
}

static void cache_init(void)
{
    cache_ready = pthread_key_create(&cache_key, cache_free) == 0;
}

/* This thread's contexts keyed with s, or NULL (the caller then uses one-shot HMAC). */
static mac_cache *cache_for(const ff_presign_secret *s)
{
    if (s->len > FF_PRESIGN_SECRET_MAX || pthread_once(&cache_once, cache_init) != 0 || !cache_ready)
        return NULL;
    mac_cache *c = pthread_getspecific(cache_key);
    if (c && c->len == s->len && CRYPTO_memcmp(c->key, s->bytes, s->len) == 0)
        return c;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        c->inner = EVP_MD_CTX_new();
        c->outer = EVP_MD_CTX_new();
        c->work = EVP_MD_CTX_new();
        if (!c->inner || !c->outer || !c->work || pthread_setspecific(cache_key, c) != 0) {
            cache_free(c);
            return NULL;
        }
    }
    c->len = FF_PRESIGN_SECRET_MAX + 1;
    unsigned char ipad[64], opad[64]; /* SHA-256's block; keys are at most 64 bytes */
    for (size_t i = 0; i < 64; i++) {
        unsigned char k = i < s->len ? s->bytes[i] : 0;
        ipad[i] = k ^ 0x36;
        opad[i] = k ^ 0x5c;
    }
    int ok = EVP_DigestInit_ex(c->inner, EVP_sha256(), NULL) && EVP_DigestUpdate(c->inner, ipad, 64) &&
             EVP_DigestInit_ex(c->outer, EVP_sha256(), NULL) && EVP_DigestUpdate(c->outer, opad, 64);
    OPENSSL_cleanse(ipad, sizeof ipad);
    OPENSSL_cleanse(opad, sizeof opad);
    if (!ok)
        return NULL;
    memcpy(c->key, s->bytes, s->len);
    c->len = s->len;
    return c;
}

static int hmac_sha256(const ff_presign_secret *s, const unsigned char *msg, size_t n, unsigned char out[32])
{
    mac_cache *c = cache_for(s);
    if (c) {
        unsigned char h[32];
        return EVP_MD_CTX_copy_ex(c->work, c->inner) && EVP_DigestUpdate(c->work, msg, n) &&
               EVP_DigestFinal_ex(c->work, h, NULL) && EVP_MD_CTX_copy_ex(c->work, c->outer) &&
               EVP_DigestUpdate(c->work, h, 32) && EVP_DigestFinal_ex(c->work, out, NULL);
    }
    unsigned int len = 32;
    return HMAC(EVP_sha256(), s->bytes, (int)s->len, msg, n, out, &len) != NULL;
}

/* Returns 0, or -1 (out zeroed) when the message does not fit: callers never accept that. */
static int mac(const ff_presign_secret *s, const char *method, const char *key, int64_t expires,
               const char *content_type, unsigned char out[32])
{
    /* Fields are separated by '\n', which none of them may contain (keys and types are checked). */
    char msg[2048];
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%" PRId64 "\n%s", method, key, expires, content_type);
    if (n < 0 || (size_t)n >= sizeof msg || !hmac_sha256(s, (const unsigned char *)msg, (size_t)n, out)) {
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
    ff_hex_encode(m, 32, out);
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
    if (ff_hex_decode(signature, sizeof given, given) != 0)
        goto malformed;
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
