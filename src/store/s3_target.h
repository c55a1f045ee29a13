/* What the s3 backend and the presigner share: an ff_s3_config resolved into the URL pieces and
 * credentials every request needs (addressing as botocore does it, checked by test_sigv4). */
#ifndef FF_STORE_S3_TARGET_H
#define FF_STORE_S3_TARGET_H

#include "store/sigv4.h"
#include "store/store.h"

typedef struct ff_s3_target {
    char scheme[8];        /* "http" or "https" */
    char url_host[320];    /* host[:port] as it goes in URLs */
    char sign_host[320];   /* the Host header: url_host without a default port */
    char path_prefix[80];  /* "/BUCKET" (path style) or "" (virtual host) */
    char bucket[64];
    char region[64];
    char sse[32];          /* "" = none */
    size_t part_size;
    ff_aws_creds creds;
} ff_s3_target;

/* Validates cfg and resolves it (credentials from the environment when cfg->creds is NULL). */
int ff_s3_target_init(ff_s3_target *t, const ff_s3_config *cfg, ff_err *err);

/* Appends the encoded path of key (or of the bucket when key is NULL): path_prefix + "/" + key. */
void ff_s3_target_path(const ff_s3_target *t, const char *key, ff_strbuf *b);

/* The presigned PUT URL (see ff_store_presign_put); malloc'd, or NULL with err. */
char *ff_s3_presign_put(const ff_s3_target *t, const char *key, const char *content_type,
                        int expires, time_t now, ff_err *err);

/* The s3 store's target, or NULL when s is not an s3 store. */
const ff_s3_target *ff_s3_store_target(ff_store *s);

#endif
