/* Harness 5: the server's own request handling, called directly (libmicrohttpd only splits the
 * request line and headers; everything after that is ours). The input is read four ways:
 *   - as a query string, split on '&' and '=' the way libmicrohttpd does, each part percent-decoded
 *     by ff_http_unescape; session_id, filename and contentType are validated as the Trigger route
 *     does, and a presigned upload URL is made and verified for them (and with the input's own
 *     X-FitsFlow-Expires / X-FitsFlow-Signature values);
 *   - as a path: unescaped, then checked as a store key and as an upload key (ff_key_split_upload);
 *   - as Range, If-None-Match and HTTP-date header values;
 *   - as the first bytes of a connection, raw, by the front door's header scan (ff_http_head_scan).
 * Invariants: a URL we sign verifies (and an altered one does not), a range is inside the object,
 * a parsed date formats and parses back to itself, decoding never grows a string nor leaves a
 * control character the input did not have. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/session.h"
#include "pipeline/keys.h"
#include "base/mediatype.h"
#include "server/http/protocol.h"
#include "server/routes/presign.h"
#include "store/store.h"
#include "fuzz_util.h"

#define NOW ((int64_t)1700000000)

static ff_presign_secret secret = {.bytes = "fuzz-secret-0123456789", .len = 22};

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != 0x01)
            return 1;
    return 0;
}

/* ff_http_unescape on a copy of s, with its invariants. */
static char *unescaped(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (!c)
        abort();
    memcpy(c, s, n);
    c[n] = '\0';
    size_t before = strlen(c);
    int ctl_before = has_ctl(c);
    size_t after = ff_http_unescape(c);
    if (after != strlen(c) || after > before || (!ctl_before && has_ctl(c)))
        abort();
    return c;
}

static void one_line(const ff_err *err)
{
    if (!err->msg[0] || strchr(err->msg, '\n'))
        abort();
}

static void query(const char *q)
{
    char *sid = NULL, *name = NULL, *ctype = NULL, *expires = NULL, *sig = NULL;
    const char *p = q;
    int nargs = 0;
    while (*p && nargs++ < 64) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        char *k = unescaped(p, eq ? (size_t)(eq - p) : n);
        char *v = eq ? unescaped(eq + 1, n - (size_t)(eq - p) - 1) : NULL;
        char **slot = !strcmp(k, "session_id") ? &sid : !strcmp(k, "filename") ? &name
                    : !strcmp(k, "contentType") ? &ctype : !strcmp(k, FF_PRESIGN_EXPIRES_ARG) ? &expires
                    : !strcmp(k, FF_PRESIGN_SIGNATURE_ARG) ? &sig : NULL;
        if (slot && !*slot && v) /* the first value wins, as MHD_lookup_connection_value */
            *slot = v;
        else
            free(v);
        free(k);
        p += n;
        if (*p == '&')
            p++;
    }
    ff_err err = {0};
    int sid_ok = sid && ff_session_id_valid(sid);
    if (sid_ok && (strlen(sid) < FF_SESSION_ID_MIN || strlen(sid) > FF_SESSION_ID_MAX))
        abort();
    int name_ok = name && ff_upload_name_valid(name, &err);
    if (name && !name_ok)
        one_line(&err);
    const char *ct = ctype ? ctype : "";
    int ct_ok = ff_http_content_type_ok(ct);
    if (sid_ok && name_ok && ct_ok) {
        char key[FF_STORE_KEY_MAX + 1], url[FF_STORE_KEY_MAX + 1024];
        snprintf(key, sizeof key, "temp/%s/fits/%s", sid, name);
        char got_sid[FF_SESSION_ID_MAX + 1];
        const char *got_name = NULL;
        /* what the Trigger route signs must be accepted as an upload path */
        if (ff_key_split_upload(key, got_sid, sizeof got_sid, &got_name, &err) != 0 ||
            strcmp(got_sid, sid) || strcmp(got_name, name))
            abort();
        if (ff_presign_url(&secret, "http://127.0.0.1:8080", "PUT", key, NOW + 300, ct, url, sizeof url) == 0) {
            char *e = strstr(url, FF_PRESIGN_EXPIRES_ARG "="), *s = strstr(url, FF_PRESIGN_SIGNATURE_ARG "=");
            if (!e || !s)
                abort();
            char exp_s[32];
            e += strlen(FF_PRESIGN_EXPIRES_ARG "=");
            snprintf(exp_s, sizeof exp_s, "%.*s", (int)strcspn(e, "&"), e);
            const char *sig_s = s + strlen(FF_PRESIGN_SIGNATURE_ARG "=");
            if (ff_presign_verify(&secret, "PUT", key, exp_s, sig_s, ct, NOW, &err) != FF_PRESIGN_OK)
                abort();
            if (ff_presign_verify(&secret, "PUT", key, exp_s, sig_s, ct, NOW + 301, &err) != FF_PRESIGN_EXPIRED)
                abort();
            if (ff_presign_verify(&secret, "GET", key, exp_s, sig_s, ct, NOW, &err) != FF_PRESIGN_MISMATCH)
                abort();
            if (*ct && ff_presign_verify(&secret, "PUT", key, exp_s, sig_s, "x/other", NOW, &err) != FF_PRESIGN_MISMATCH)
                abort();
        }
        ff_presign_result r = ff_presign_verify(&secret, "PUT", key, expires, sig, ct, NOW, &err);
        if (r != FF_PRESIGN_OK)
            one_line(&err);
    }
    free(sid);
    free(name);
    free(ctype);
    free(expires);
    free(sig);
}

static void path(const char *s, size_t n)
{
    char *key = unescaped(s, n);
    ff_err err = {0};
    if (ff_store_key_valid(key, &err) != 0)
        one_line(&err);
    char sid[FF_SESSION_ID_MAX + 1];
    const char *name = NULL;
    if (ff_key_split_upload(key, sid, sizeof sid, &name, &err) == 0) {
        if (!ff_session_id_valid(sid) || !name || name < key || name > key + strlen(key))
            abort();
        if (!ff_upload_name_valid(name, &err))
            one_line(&err);
    } else {
        one_line(&err);
    }
    (void)ff_media_type(key);
    free(key);
}

static void headers(const char *s, uint64_t size)
{
    ff_range r = {0, 0};
    int rc = ff_http_parse_range(s, size, &r);
    if (rc < 0 || rc > 2 || (rc == 0 && (r.len == 0 || r.start >= size || r.len > size - r.start)))
        abort();
    time_t t = ff_http_parse_date(s);
    if (t >= 0) {
        char buf[64];
        ff_http_format_date(t, buf, sizeof buf);
        if (ff_http_parse_date(buf) != t)
            abort();
    }
    /* first line: If-None-Match; second: the ETag */
    const char *nl = strchr(s, '\n');
    char *inm = strndup(s, nl ? (size_t)(nl - s) : strlen(s));
    if (!inm)
        abort();
    const char *etag = nl ? nl + 1 : "\"abc\"";
    int m = ff_http_etag_match(inm, etag);
    if (m != 0 && m != 1)
        abort();
    size_t el = strlen(etag);
    if (el >= 2 && etag[0] == '"' && strchr(etag + 1, '"') == etag + el - 1 && ff_http_etag_match(etag, etag) != 1)
        abort(); /* a quoted tag matches itself */
    free(inm);
}

/* The front door's scan of a connection's first bytes (raw bytes, NULs included). An end is where a
 * line feed ends an empty line, the same for every longer input (more bytes never move it), and
 * one byte less is not yet a whole header; a refusal is 400 or 501 with a one-line reason fit for
 * a JSON string. */
static void head(const uint8_t *data, size_t size)
{
    size_t end = 0;
    unsigned status = 0;
    const char *why = NULL;
    int r = ff_http_head_scan((const char *)data, size, &end, &status, &why);
    if (r == FF_HEAD_MORE)
        return;
    if (r == FF_HEAD_BAD) {
        if ((status != 400 && status != 501) || !why || !*why || strpbrk(why, "\"\\\n"))
            abort();
        return;
    }
    if (r != FF_HEAD_DONE || status || end < 2 || end > size || data[end - 1] != '\n')
        abort();
    size_t end2 = 0;
    if (ff_http_head_scan((const char *)data, end, &end2, &status, &why) != FF_HEAD_DONE || end2 != end)
        abort();
    if (ff_http_head_scan((const char *)data, end - 1, &end2, &status, &why) != FF_HEAD_MORE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    head(data, size);
    uint64_t osize = 0;
    for (size_t i = 0; i < 3 && i < size; i++)
        osize = osize << 8 | data[i];
    char *s = fuzz_cstr(data, size);
    query(s);
    path(s, strlen(s));
    headers(s, osize);
    headers(s, UINT64_MAX / 2);
    free(s);
    return 0;
}
