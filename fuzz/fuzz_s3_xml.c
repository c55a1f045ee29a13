/* Harness 9: S3's XML answers as FitsFlow reads them with libexpat (src/store/s3_xml.c). The
 * first byte picks the reader (listing, error, multipart start, multipart completion); the rest
 * is the body. A listing must end in success or a one-line refusal, hand out only keys that fit
 * the text bound and are NUL-terminated, leave no token behind on failure, and stop when the
 * callback asks; the other readers must keep their outputs NUL-terminated within their buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_xml.h"

typedef struct seen {
    size_t n;
    size_t stop_at;
} seen;

static int on_item(const ff_s3_list_item *it, void *ctx)
{
    seen *s = ctx;
    size_t kl = strlen(it->key);
    if (kl > FF_S3_XML_TEXT_MAX || strnlen(it->etag, sizeof it->etag) >= sizeof it->etag)
        abort();
    s->n++;
    return s->stop_at && s->n == s->stop_at ? 42 : 0;
}

static void one_line(const ff_err *err)
{
    if (!err->msg[0] || strchr(err->msg, '\n'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *xml = (const char *)data + 1;
    size_t n = size - 1;
    ff_err err = {0};
    switch (data[0] % 4) {
    case 0: {
        seen s = {0, (data[0] >> 2) % 4};
        ff_s3_list_page page;
        int rc = ff_s3_xml_list(xml, n, on_item, &s, &page, &err);
        if (rc == 42) {
            if (s.n != s.stop_at || page.next_token)
                abort();
        } else if (rc == 0) {
            if (page.items != s.n || (page.next_token && strlen(page.next_token) > FF_S3_XML_TEXT_MAX))
                abort();
        } else if (rc == -1) {
            one_line(&err);
            if (page.next_token)
                abort();
        } else {
            abort();
        }
        free(page.next_token);
        break;
    }
    case 1: {
        char code[16], msg[32];
        int rc = ff_s3_xml_error(xml, n, code, sizeof code, msg, sizeof msg);
        if ((rc != 0 && rc != 1) || strnlen(code, sizeof code) == sizeof code ||
            strnlen(msg, sizeof msg) == sizeof msg || strchr(msg, '\n'))
            abort();
        if (!rc && (code[0] || msg[0]))
            abort();
        break;
    }
    case 2: {
        char *id = ff_s3_xml_upload_id(xml, n, &err);
        if (id) {
            if (!id[0] || strlen(id) > FF_S3_XML_TEXT_MAX)
                abort();
            free(id);
        } else {
            one_line(&err);
        }
        break;
    }
    default: {
        char etag[72];
        int rc = ff_s3_xml_complete(xml, n, etag, sizeof etag, &err);
        if (strnlen(etag, sizeof etag) == sizeof etag)
            abort();
        if (rc != 0) {
            one_line(&err);
            if (etag[0])
                abort();
        }
        break;
    }
    }
    return 0;
}
