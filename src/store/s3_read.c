/* The s3 backend's streaming reader: one GET with a Range header, driven through a libcurl multi
 * handle by the reader's own calls. curl's write callback fills a bounded buffer and pauses the
 * transfer when it is full; a read drains the buffer and lets the transfer go on. So memory stays
 * at one buffer whatever the object's size, no thread is needed, and a slow consumer simply
 * leaves the data in the TCP window. */
#include "store/s3_http.h"
#include "base/clock.h"
#include "store/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define BUF_CAP (256u * 1024)
#define ERROR_BODY_MAX (64u * 1024)
#define OPEN_TRIES 3

typedef struct s3_reader {
    ff_store_reader base;
    ff_s3_http *http;
    const ff_s3_target *t;
    char *key;
    CURLM *multi;
    CURL *curl;
    struct curl_slist *hl;
    char *buf;
    size_t cap, off, len;   /* unread bytes: buf[off .. off+len) */
    uint64_t skip;          /* bytes to drop first (a server that ignored the Range) */
    int paused, finished, headers_done;
    CURLcode result;
    /* the answer, as its headers arrive */
    long status;
    char etag[72];
    time_t mtime;
    uint64_t clen, range_start, total;
    int have_clen, have_range, have_total;
    ff_strbuf errbody;      /* body of an error answer, bounded */
    double deadline;        /* the thread's store deadline at the open (0 = none) */
    double stall;           /* the thread's stall limit at the open: longest wait for more bytes
                               in a later read, seconds (0 = curl's own 60 s without progress) */
} s3_reader;

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

/* "bytes START-END/TOTAL" (or "bytes *\/TOTAL", which leaves the start unknown). */
static void parse_content_range(s3_reader *r, const char *v, size_t n)
{
    if (n < 6 || strncasecmp(v, "bytes ", 6))
        return;
    const char *p = v + 6, *end = v + n;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash)
        return;
    if (parse_u64(slash + 1, (size_t)(end - slash - 1), &r->total) == 0)
        r->have_total = 1;
    const char *dash = memchr(p, '-', (size_t)(slash - p));
    if (dash && parse_u64(p, (size_t)(dash - p), &r->range_start) == 0)
        r->have_range = 1;
}

static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
    s3_reader *r = ctx;
    size_t len = size * n, vl;
    const char *v;
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
        /* A new answer (after 100 Continue): forget the last one. */
        const char *sp = memchr(line, ' ', len);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        r->etag[0] = '\0';
        r->mtime = 0;
        r->have_clen = r->have_range = r->have_total = 0;
        r->headers_done = 0;
    } else if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
        if (r->status >= 200)
            r->headers_done = 1;
    } else if ((v = ff_s3_header_value(line, len, "ETag", &vl))) {
        if (vl < sizeof r->etag) {
            memcpy(r->etag, v, vl);
            r->etag[vl] = '\0';
        }
    } else if ((v = ff_s3_header_value(line, len, "Content-Length", &vl))) {
        r->have_clen = parse_u64(v, vl, &r->clen) == 0;
    } else if ((v = ff_s3_header_value(line, len, "Content-Range", &vl))) {
        parse_content_range(r, v, vl);
    } else if ((v = ff_s3_header_value(line, len, "Last-Modified", &vl))) {
        char tmp[64];
        if (vl < sizeof tmp) {
            memcpy(tmp, v, vl);
            tmp[vl] = '\0';
            time_t t = curl_getdate(tmp, NULL);
            if (t > 0)
                r->mtime = t;
        }
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    s3_reader *r = ctx;
    size_t len = size * n;
    if (r->status < 200 || r->status > 299) {
        if (r->errbody.len + len <= ERROR_BODY_MAX)
            ff_strbuf_add(&r->errbody, data, len);
        return len;
    }
    if (r->skip) {
        size_t k = r->skip < len ? (size_t)r->skip : len;
        r->skip -= k;
        data += k;
        len -= k;
        if (!len)
            return size * n;
    }
    if (r->off + r->len + len > r->cap) {
        memmove(r->buf, r->buf + r->off, r->len);
        r->off = 0;
    }
    if (r->len + len > r->cap) {
        if (r->len) {
            r->paused = 1;
            return CURL_WRITEFUNC_PAUSE; /* curl hands the same bytes again after unpausing */
        }
        /* One chunk larger than the buffer (curl's chunks are far smaller): make room. */
        char *b = realloc(r->buf, len);
        if (!b)
            return 0;
        r->buf = b;
        r->cap = len;
    }
    memcpy(r->buf + r->off + r->len, data, len);
    r->len += len;
    return size * n;
}

/* One non-blocking round of the transfer. Returns 0, or -1 when curl itself fails. */
static int step(s3_reader *r, ff_err *err)
{
    int running = 0;
    CURLMcode mc = curl_multi_perform(r->multi, &running);
    if (mc != CURLM_OK)
        return ff_store_fault_set(FF_STORE_FAULT_UNAVAILABLE),
               ff_err_set(err, "S3 read of '%.200s': %s", r->key, curl_multi_strerror(mc));
    CURLMsg *m;
    int q;
    while ((m = curl_multi_info_read(r->multi, &q)))
        if (m->msg == CURLMSG_DONE) {
            r->finished = 1;
            r->result = m->data.result;
        }
    return 0;
}

/* Runs the transfer until the headers are in (want_headers) or there is data to read, or it ends.
 * The headers must come by the open's deadline, and later bytes within r->stall seconds of each
 * wait. Returns 0, or -1 when curl itself fails or the time is up (fault TIMEOUT). */
static int drive(s3_reader *r, int want_headers, ff_err *err)
{
    double until = want_headers ? r->deadline : r->stall > 0 ? ff_clock_now() + r->stall : 0;
    for (;;) {
        if (r->finished || (want_headers ? r->headers_done : r->len > 0))
            return 0;
        if (step(r, err) != 0) {
            ff_store_fault_set(FF_STORE_FAULT_LOCAL);
            return -1;
        }
        if (r->finished || (want_headers ? r->headers_done : r->len > 0))
            return 0;
        if (r->paused) /* only with data buffered; never wait on a paused transfer */
            return 0;
        int wait_ms = 1000;
        if (until > 0) {
            double left = until - ff_clock_now();
            if (left <= 0) {
                ff_store_fault_set(FF_STORE_FAULT_TIMEOUT);
                if (want_headers)
                    return ff_err_set(err, "S3 at %s://%s did not answer for '%.200s' in time",
                                      r->t->scheme, r->t->url_host, r->key);
                return ff_err_set(err, "S3 at %s://%s sent nothing for %.1f s while '%.200s' was read",
                                  r->t->scheme, r->t->url_host, r->stall, r->key);
            }
            if (left * 1000 < wait_ms)
                wait_ms = (int)(left * 1000) + 1;
        }
        CURLMcode mc = curl_multi_poll(r->multi, NULL, 0, wait_ms, NULL);
        if (mc != CURLM_OK) {
            ff_store_fault_set(FF_STORE_FAULT_LOCAL);
            return ff_err_set(err, "S3 read of '%.200s': %s", r->key, curl_multi_strerror(mc));
        }
    }
}

static void end_transfer(s3_reader *r)
{
    if (r->curl) {
        if (r->multi)
            curl_multi_remove_handle(r->multi, r->curl);
        curl_easy_cleanup(r->curl);
    }
    curl_multi_cleanup(r->multi);
    curl_slist_free_all(r->hl);
    r->curl = NULL;
    r->multi = NULL;
    r->hl = NULL;
    free(r->errbody.p);
    r->errbody = (ff_strbuf){0};
}

/* Starts the GET and waits for its headers. 0: headers in (or the transfer ended); -1 with err
 * when no answer came (*retry says whether trying again may help). */
static int start(s3_reader *r, const char *range, int *retry, ff_err *err)
{
    *retry = 0;
    r->paused = r->finished = r->headers_done = 0;
    r->status = 0;
    r->off = r->len = 0;
    ff_sigv4_pair h[] = {{"range", range}};
    ff_s3_call c = {.method = "GET", .key = r->key, .headers = h, .n_headers = range ? 1 : 0};
    if (!(r->multi = curl_multi_init()) || !(r->curl = curl_easy_init()))
        return ff_err_set(err, "out of memory");
    if (r->deadline > 0 && r->deadline <= ff_clock_now()) {
        ff_store_fault_set(FF_STORE_FAULT_TIMEOUT);
        return ff_err_set(err, "the store did not answer in time (deadline passed)");
    }
    if (ff_s3_http_setup(r->http, r->t, &c, r->curl, &r->hl, err) != 0)
        return -1;
    curl_easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r->curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
    if (curl_multi_add_handle(r->multi, r->curl) != CURLM_OK)
        return ff_err_set(err, "out of memory");
    if (drive(r, 1, err) != 0)
        return -1;
    if (r->finished && r->result != CURLE_OK && !r->headers_done) {
        *retry = 1;
        return ff_s3_curl_fail(err, r->t, r->result);
    }
    if (ff_s3_status_transient(r->status))
        *retry = 1;
    return 0;
}

/* Reads the rest of an error answer and reports it like every other S3 failure. */
static int fail_answer(s3_reader *r, const char *what, ff_err *err)
{
    r->len = 0;
    while (!r->finished && drive(r, 0, err) == 0 && !r->finished)
        ;
    ff_s3_resp resp = {.status = r->status, .body = r->errbody.p, .body_len = r->errbody.len};
    return ff_s3_fail(err, what, r->key, &resp);
}

static void reader_free(s3_reader *r)
{
    end_transfer(r);
    free(r->buf);
    free(r->key);
    free(r);
}

/* For a range past the end (416): what a HEAD says about the object. 0, 1 absent, -1 error. */
static int head(s3_reader *r, ff_store_stat *st, ff_err *err)
{
    ff_s3_call c = {.method = "HEAD", .key = r->key};
    ff_s3_resp resp;
    if (ff_s3_http_call(r->http, r->t, &c, &resp, err) != 0)
        return -1;
    int rc = 0;
    if (resp.status == 200) {
        st->size = resp.have_length ? resp.content_length : 0;
        st->mtime = resp.last_modified;
        memcpy(st->etag, resp.etag, sizeof st->etag);
    } else if (resp.status == 404) {
        ff_err_set(err, "no object at '%s'", r->key);
        rc = 1;
    } else {
        rc = ff_s3_fail(err, "HEAD", r->key, &resp);
    }
    ff_s3_resp_free(&resp);
    return rc;
}

int ff_s3_reader_open(ff_store *s, ff_s3_http *http, const ff_s3_target *t, const char *key,
                      uint64_t offset, uint64_t len, ff_store_stat *st, ff_store_reader **out,
                      ff_err *err)
{
    s3_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->key = strdup(key)) || !(r->buf = malloc(BUF_CAP))) {
        if (r)
            free(r->key);
        free(r);
        return ff_err_set(err, "out of memory");
    }
    r->base.store = s;
    r->http = http;
    r->t = t;
    r->cap = BUF_CAP;
    r->deadline = ff_store_get_deadline();
    r->stall = ff_store_get_stall();
    /* No Range for a whole object: an empty object would otherwise answer 416. */
    char range[64] = "";
    uint64_t want = len ? len : 1; /* an empty read still learns whether the object exists */
    if (offset || len != FF_STORE_TO_END) {
        if (want != FF_STORE_TO_END && want - 1 <= UINT64_MAX - offset)
            snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)offset,
                     (unsigned long long)(offset + want - 1));
        else
            snprintf(range, sizeof range, "bytes=%llu-", (unsigned long long)offset);
    }
    unsigned delay_ms = 100;
    for (int attempt = 1;; attempt++) {
        int retry = 0;
        int rc = start(r, range[0] ? range : NULL, &retry, err);
        int in_time = r->deadline <= 0 || ff_clock_now() + delay_ms / 1000.0 + 0.05 < r->deadline;
        if (!retry || attempt == OPEN_TRIES || !in_time) {
            if (rc != 0) {
                reader_free(r);
                return -1;
            }
            break;
        }
        end_transfer(r);
        usleep((useconds_t)delay_ms * 1000);
        delay_ms *= 4;
    }
    memset(st, 0, sizeof *st);
    int rc;
    if (r->status == 200 || r->status == 206) {
        uint64_t size;
        if (r->status == 206) {
            if (!r->have_total || !r->have_range || r->range_start != offset) {
                reader_free(r);
                ff_store_fault_set(FF_STORE_FAULT_UNAVAILABLE);
                return ff_err_set(err, "S3 answered a range of '%.200s' without a usable "
                                  "Content-Range", key);
            }
            size = r->total;
        } else {
            if (!r->have_clen) {
                reader_free(r);
                ff_store_fault_set(FF_STORE_FAULT_UNAVAILABLE);
                return ff_err_set(err, "S3 answered '%.200s' without a Content-Length", key);
            }
            size = r->clen;
            r->skip = offset < size ? offset : size; /* the server ignored the Range */
        }
        st->size = size;
        st->mtime = r->mtime;
        memcpy(st->etag, r->etag, sizeof st->etag);
        r->base.left = ff_store_clamp(size, offset, len);
        *out = &r->base;
        return 0;
    }
    if (r->status == 416) {
        /* The object exists but the range starts at or past its end: an empty read. */
        end_transfer(r);
        rc = head(r, st, err);
        if (rc != 0) {
            reader_free(r);
            return rc;
        }
        r->base.left = ff_store_clamp(st->size, offset, len);
        *out = &r->base;
        return 0;
    }
    if (r->status == 404) {
        fail_answer(r, "GET", err);
        char code[64];
        ff_s3_xml_error(r->errbody.p, r->errbody.p ? r->errbody.len : 0, code, sizeof code, NULL, 0);
        int bucket = !strcmp(code, "NoSuchBucket");
        if (!bucket) {
            ff_store_fault_set(FF_STORE_FAULT_NONE);
            ff_err_set(err, "no object at '%s'", key);
        }
        reader_free(r);
        return bucket ? -1 : 1;
    }
    fail_answer(r, "GET", err);
    reader_free(r);
    return -1;
}

int ff_s3_reader_read(ff_store_reader *br, void *buf, size_t cap, size_t *got, ff_err *err)
{
    s3_reader *r = (s3_reader *)br;
    *got = 0;
    if (!r->curl)
        return 0;
    /* Half the buffer free: let the transfer go on and take what has already arrived. */
    if (!r->finished && r->len <= r->cap / 2) {
        if (r->paused) {
            r->paused = 0;
            CURLcode cc = curl_easy_pause(r->curl, CURLPAUSE_CONT); /* may call on_body at once */
            if (cc != CURLE_OK)
                return ff_store_fault_set(FF_STORE_FAULT_UNAVAILABLE),
                       ff_err_set(err, "S3 read of '%.200s': %s", r->key, curl_easy_strerror(cc));
        }
        if (!r->paused && step(r, err) != 0)
            return -1;
    }
    if (r->len == 0 && drive(r, 0, err) != 0)
        return -1;
    if (r->len == 0) {
        if (r->finished && r->result != CURLE_OK) {
            ff_store_fault_set(r->result == CURLE_OPERATION_TIMEDOUT ? FF_STORE_FAULT_TIMEOUT
                                                                    : FF_STORE_FAULT_UNAVAILABLE);
            return ff_err_set(err, "S3 read of '%.200s' broke off: %s", r->key,
                              curl_easy_strerror(r->result));
        }
        return 0; /* ended early: the caller reports it */
    }
    size_t n = r->len < cap ? r->len : cap;
    memcpy(buf, r->buf + r->off, n);
    r->off += n;
    r->len -= n;
    if (!r->len)
        r->off = 0;
    *got = n;
    return 0;
}

void ff_s3_reader_close(ff_store_reader *br)
{
    reader_free((s3_reader *)br);
}
