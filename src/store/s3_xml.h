/* The XML documents S3 answers with, read with libexpat: ListObjectsV2 pages, <Error> bodies, and
 * the results of starting and completing a multipart upload. Every reader takes the whole body
 * (bounded by the caller), refuses a DOCTYPE (S3 never sends one; entity tricks need it) and
 * bounds each text it keeps. Private to src/store/. */
#ifndef FF_STORE_S3_XML_H
#define FF_STORE_S3_XML_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"

#define FF_S3_XML_TEXT_MAX 4096 /* longest text kept from one element (keys are at most 1024) */

/* One <Contents> of a listing. key is NUL-terminated and valid during the call only. */
typedef struct ff_s3_list_item {
    const char *key;
    uint64_t size;
    time_t mtime;     /* 0 when absent or unreadable */
    char etag[72];    /* as S3 gives it, quotes included; "" when absent */
} ff_s3_list_item;

typedef int (*ff_s3_list_item_fn)(const ff_s3_list_item *it, void *ctx);

/* What a listing page says beyond its items. */
typedef struct ff_s3_list_page {
    int truncated;            /* <IsTruncated>true</IsTruncated> */
    char *next_token;         /* <NextContinuationToken>, malloc'd; NULL when absent */
    size_t items;             /* <Contents> seen */
} ff_s3_list_page;

/* Parses one ListObjectsV2 page (root ListBucketResult) and calls fn for each <Contents>, in
 * document order. fn returning nonzero stops the parse: that value is returned (page->next_token
 * is then freed and NULL). Returns 0, or -1 with err when the document is not a listing or is
 * malformed (a <Contents> without Key or Size, a Size that is not a number). */
int ff_s3_xml_list(const char *xml, size_t n, ff_s3_list_item_fn fn, void *ctx,
                   ff_s3_list_page *page, ff_err *err);

/* When xml is an <Error> document: 1 with its Code and Message copied (truncated to fit, "" when
 * absent). 0 when it is another document or not XML at all. */
int ff_s3_xml_error(const char *xml, size_t n, char *code, size_t code_cap, char *msg,
                    size_t msg_cap);

/* The UploadId of an InitiateMultipartUploadResult: malloc'd, or NULL with err (an <Error>
 * document gives its code and message). */
char *ff_s3_xml_upload_id(const char *xml, size_t n, ff_err *err);

/* A CompleteMultipartUploadResult (S3 may answer 200 and still send an <Error>, also after
 * whitespace sent to keep the connection alive): 0 with its ETag copied into etag (etag_cap bytes;
 * "" when absent), or -1 with err for an <Error> document or anything else. */
int ff_s3_xml_complete(const char *xml, size_t n, char *etag, size_t etag_cap, ff_err *err);

/* "2024-05-06T07:08:09.000Z" to time_t; -1 when unreadable. */
time_t ff_s3_parse_iso(const char *s);

#endif
