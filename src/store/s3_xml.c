/* S3's XML answers through libexpat (see s3_xml.h). One small driver walks a document and hands
 * each element's start and end (with the text it held) to a reader for that kind of answer. */
#include "store/s3_xml.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#define MAX_DEPTH 16
#define NAME_MAX_LEN 64
#define BAD INT_MIN /* a reader refused the document: its message is in the reader's context */

typedef struct xml_walk xml_walk;
struct xml_walk {
    XML_Parser p;
    int depth;                       /* of the element now open; the root is 1 */
    char names[MAX_DEPTH + 1][NAME_MAX_LEN];
    char text[FF_S3_XML_TEXT_MAX + 1];
    size_t text_len;
    int text_over;                   /* the current text passed FF_S3_XML_TEXT_MAX */
    /* readers: start of an element, end with its text (NULL when longer than the bound) */
    int (*on_start)(xml_walk *w, const char *name);
    int (*on_end)(xml_walk *w, const char *name, const char *text, size_t len);
    void *ctx;
    int rc;                          /* nonzero: stopped, by a reader (its value) or a limit (-1) */
    int limited;                     /* stopped by a limit: why says which */
    char why[160];
};

static void stop(xml_walk *w, int rc, const char *why)
{
    if (w->rc)
        return;
    w->rc = rc;
    if (why) {
        w->limited = 1;
        snprintf(w->why, sizeof w->why, "%s", why);
    }
    XML_StopParser(w->p, XML_FALSE);
}

static void XMLCALL start_el(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)atts;
    xml_walk *w = ud;
    if (w->rc)
        return;
    if (w->depth >= MAX_DEPTH) {
        stop(w, -1, "elements nested too deeply");
        return;
    }
    w->depth++;
    snprintf(w->names[w->depth], NAME_MAX_LEN, "%s", name);
    w->text_len = 0;
    w->text_over = 0;
    if (w->on_start) {
        int rc = w->on_start(w, name);
        if (rc)
            stop(w, rc, NULL);
    }
}

static void XMLCALL end_el(void *ud, const XML_Char *name)
{
    xml_walk *w = ud;
    if (w->rc)
        return;
    w->text[w->text_len] = '\0';
    int rc = w->on_end ? w->on_end(w, name, w->text_over ? NULL : w->text, w->text_len) : 0;
    w->depth--;
    w->text_len = 0;
    w->text_over = 0;
    if (rc)
        stop(w, rc, NULL);
}

static void XMLCALL chars(void *ud, const XML_Char *s, int len)
{
    xml_walk *w = ud;
    if (w->rc || len <= 0 || w->text_over)
        return;
    if (w->text_len + (size_t)len > FF_S3_XML_TEXT_MAX) {
        w->text_over = 1;
        return;
    }
    memcpy(w->text + w->text_len, s, (size_t)len);
    w->text_len += (size_t)len;
}

static void XMLCALL doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                            const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    stop(ud, -1, "a DOCTYPE (S3 never sends one)");
}

/* Runs the walk over xml[0..n). Returns 0 when the whole document was read, the reader's value
 * when one stopped it, or -1 with err when the document is not well-formed XML. */
static int walk(xml_walk *w, const char *xml, size_t n, ff_err *err)
{
    /* S3 may send spaces to keep a slow answer alive before the document starts. */
    while (n && (*xml == ' ' || *xml == '\n' || *xml == '\r' || *xml == '\t')) {
        xml++;
        n--;
    }
    if (n > INT_MAX)
        return ff_err_set(err, "S3 answer of %zu bytes is too large to read", n);
    w->p = XML_ParserCreate("UTF-8");
    if (!w->p)
        return ff_err_set(err, "out of memory reading an S3 answer");
    XML_SetUserData(w->p, w);
    XML_SetElementHandler(w->p, start_el, end_el);
    XML_SetCharacterDataHandler(w->p, chars);
    XML_SetStartDoctypeDeclHandler(w->p, doctype);
    XML_SetParamEntityParsing(w->p, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status st = XML_Parse(w->p, xml, (int)n, XML_TRUE);
    int rc = 0;
    if (w->rc) {
        rc = w->rc;
        if (w->limited)
            ff_err_set(err, "S3 answer refused: %s", w->why);
    } else if (st != XML_STATUS_OK) {
        rc = ff_err_set(err, "S3 answer is not well-formed XML (line %lu: %s)",
                        (unsigned long)XML_GetCurrentLineNumber(w->p),
                        XML_ErrorString(XML_GetErrorCode(w->p)));
    }
    XML_ParserFree(w->p);
    w->p = NULL;
    return rc;
}

/* The name of the element at depth d (1 = root); "" past the open ones. */
static const char *at(const xml_walk *w, int d)
{
    return d >= 1 && d <= w->depth ? w->names[d] : "";
}

time_t ff_s3_parse_iso(const char *s)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || h < 0 ||
        mi < 0 || sec < 0)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return timegm(&tm);
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (!n || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ---- ListObjectsV2 ---- */

typedef struct list_ctx {
    ff_s3_list_item_fn fn;
    void *fctx;
    ff_s3_list_page *page;
    char key[FF_S3_XML_TEXT_MAX + 1];
    int have_key, have_size;
    ff_s3_list_item item;
    int root_ok;
    char bad[160];
} list_ctx;

static int list_start(xml_walk *w, const char *name)
{
    list_ctx *c = w->ctx;
    if (w->depth == 1) {
        c->root_ok = !strcmp(name, "ListBucketResult");
        if (!c->root_ok) {
            snprintf(c->bad, sizeof c->bad, "S3 listing answer is a <%.64s>, not a ListBucketResult", name);
            return BAD;
        }
    } else if (w->depth == 2 && !strcmp(name, "Contents")) {
        c->have_key = c->have_size = 0;
        memset(&c->item, 0, sizeof c->item);
    }
    return 0;
}

static int list_end(xml_walk *w, const char *name, const char *text, size_t len)
{
    list_ctx *c = w->ctx;
    if (w->depth == 3 && !strcmp(at(w, 2), "Contents")) {
        if (!strcmp(name, "Key")) {
            if (!text) {
                snprintf(c->bad, sizeof c->bad, "S3 listing has a key longer than %d bytes",
                         FF_S3_XML_TEXT_MAX);
                return BAD;
            }
            memcpy(c->key, text, len + 1);
            c->have_key = 1;
        } else if (!strcmp(name, "Size")) {
            if (!text || parse_u64(text, len, &c->item.size) != 0) {
                snprintf(c->bad, sizeof c->bad, "S3 listing has a Size that is not a number");
                return BAD;
            }
            c->have_size = 1;
        } else if (!strcmp(name, "LastModified") && text) {
            time_t t = ff_s3_parse_iso(text);
            c->item.mtime = t > 0 ? t : 0;
        } else if (!strcmp(name, "ETag") && text && len < sizeof c->item.etag) {
            memcpy(c->item.etag, text, len + 1);
        }
    } else if (w->depth == 2) {
        if (!strcmp(name, "Contents")) {
            if (!c->have_key || !c->have_size) {
                snprintf(c->bad, sizeof c->bad, "S3 listing entry without a key or size");
                return BAD;
            }
            c->page->items++;
            c->item.key = c->key;
            int rc = c->fn ? c->fn(&c->item, c->fctx) : 0;
            if (rc)
                return rc;
        } else if (!strcmp(name, "IsTruncated")) {
            c->page->truncated = text && len == 4 && !memcmp(text, "true", 4);
        } else if (!strcmp(name, "NextContinuationToken")) {
            if (!text) {
                snprintf(c->bad, sizeof c->bad, "S3 listing's continuation token is too long");
                return BAD;
            }
            free(c->page->next_token);
            c->page->next_token = strdup(text);
            if (!c->page->next_token) {
                snprintf(c->bad, sizeof c->bad, "out of memory");
                return BAD;
            }
        }
    }
    return 0;
}

int ff_s3_xml_list(const char *xml, size_t n, ff_s3_list_item_fn fn, void *ctx,
                   ff_s3_list_page *page, ff_err *err)
{
    memset(page, 0, sizeof *page);
    list_ctx *c = calloc(1, sizeof *c);
    xml_walk *w = calloc(1, sizeof *w);
    if (!c || !w) {
        free(c);
        free(w);
        return ff_err_set(err, "out of memory reading an S3 listing");
    }
    c->fn = fn;
    c->fctx = ctx;
    c->page = page;
    w->on_start = list_start;
    w->on_end = list_end;
    w->ctx = c;
    int rc = walk(w, xml, n, err);
    if (rc == 0 && !c->root_ok)
        rc = ff_err_set(err, "S3 listing answer is empty");
    if (rc == BAD)
        rc = ff_err_set(err, "%s", c->bad);
    if (rc) {
        free(page->next_token);
        page->next_token = NULL;
    }
    free(c);
    free(w);
    return rc;
}

/* ---- <Error> ---- */

typedef struct error_ctx {
    int is_error;
    char code[128];
    char msg[512];
} error_ctx;

static int error_start(xml_walk *w, const char *name)
{
    error_ctx *c = w->ctx;
    if (w->depth == 1)
        c->is_error = !strcmp(name, "Error");
    return 0;
}

static int error_end(xml_walk *w, const char *name, const char *text, size_t len)
{
    (void)len;
    error_ctx *c = w->ctx;
    if (w->depth == 2 && c->is_error && text) {
        if (!strcmp(name, "Code"))
            snprintf(c->code, sizeof c->code, "%s", text);
        else if (!strcmp(name, "Message"))
            snprintf(c->msg, sizeof c->msg, "%s", text);
    }
    return 0;
}

/* Reads an <Error> document into c; 1 when it is one. */
static int read_error(const char *xml, size_t n, error_ctx *c)
{
    xml_walk *w = calloc(1, sizeof *w);
    if (!w)
        return 0;
    w->on_start = error_start;
    w->on_end = error_end;
    w->ctx = c;
    ff_err ignored;
    int rc = walk(w, xml, n, &ignored);
    free(w);
    return rc == 0 && c->is_error;
}

/* Bytes of s that print safely on one line (an error message quotes them). */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

int ff_s3_xml_error(const char *xml, size_t n, char *code, size_t code_cap, char *msg,
                    size_t msg_cap)
{
    if (code_cap)
        code[0] = '\0';
    if (msg_cap)
        msg[0] = '\0';
    if (!xml || !n)
        return 0;
    error_ctx c = {0};
    if (!read_error(xml, n, &c))
        return 0;
    printable(c.code);
    printable(c.msg);
    if (code_cap)
        snprintf(code, code_cap, "%s", c.code);
    if (msg_cap)
        snprintf(msg, msg_cap, "%s", c.msg);
    return 1;
}

/* ---- multipart ---- */

typedef struct result_ctx {
    const char *root;   /* expected root element */
    const char *field;  /* the child wanted */
    int root_ok;
    char root_seen[NAME_MAX_LEN];
    char value[FF_S3_XML_TEXT_MAX + 1];
    int have;
} result_ctx;

static int result_start(xml_walk *w, const char *name)
{
    result_ctx *c = w->ctx;
    if (w->depth == 1) {
        snprintf(c->root_seen, sizeof c->root_seen, "%s", name);
        c->root_ok = !strcmp(name, c->root);
    }
    return 0;
}

static int result_end(xml_walk *w, const char *name, const char *text, size_t len)
{
    result_ctx *c = w->ctx;
    if (w->depth == 2 && c->root_ok && !strcmp(name, c->field) && text) {
        memcpy(c->value, text, len + 1);
        c->have = 1;
    }
    return 0;
}

/* Reads the root's child c->field. 0 when the root is c->root; -1 with err otherwise (an <Error>
 * named by its code and message). */
static int read_result(const char *xml, size_t n, result_ctx *c, const char *what, ff_err *err)
{
    xml_walk *w = calloc(1, sizeof *w);
    if (!w)
        return ff_err_set(err, "out of memory reading an S3 answer");
    w->on_start = result_start;
    w->on_end = result_end;
    w->ctx = c;
    int rc = walk(w, xml ? xml : "", xml ? n : 0, err);
    free(w);
    if (rc == 0 && c->root_ok)
        return 0;
    char code[128], msg[256];
    if (xml && ff_s3_xml_error(xml, n, code, sizeof code, msg, sizeof msg))
        return ff_err_set(err, "S3 %s failed: %s%s%s", what, code, msg[0] ? ": " : "", msg);
    if (rc == 0)
        return ff_err_set(err, "S3 %s answered a <%s>, not a %s", what, c->root_seen[0] ? c->root_seen : "nothing",
                          c->root);
    return ff_err_prefix(err, "S3 %s", what);
}

char *ff_s3_xml_upload_id(const char *xml, size_t n, ff_err *err)
{
    result_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        ff_err_set(err, "out of memory reading an S3 answer");
        return NULL;
    }
    c->root = "InitiateMultipartUploadResult";
    c->field = "UploadId";
    char *id = NULL;
    if (read_result(xml, n, c, "multipart start", err) == 0) {
        if (!c->have || !c->value[0])
            ff_err_set(err, "S3 gave no upload id");
        else if (!(id = strdup(c->value)))
            ff_err_set(err, "out of memory");
    }
    free(c);
    return id;
}

int ff_s3_xml_complete(const char *xml, size_t n, char *etag, size_t etag_cap, ff_err *err)
{
    if (etag_cap)
        etag[0] = '\0';
    result_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return ff_err_set(err, "out of memory reading an S3 answer");
    c->root = "CompleteMultipartUploadResult";
    c->field = "ETag";
    int rc = read_result(xml, n, c, "multipart completion", err);
    if (rc == 0 && c->have && strlen(c->value) < etag_cap)
        snprintf(etag, etag_cap, "%s", c->value);
    free(c);
    return rc;
}
