/* Turning an ff_s3_config into scheme, host and path prefix the way botocore addresses buckets,
 * so that our requests and presigned URLs go where boto3's would. */
#include "store/s3_target.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PART (8u << 20)
#define MIN_PART (5u << 20)
#define MAX_PART (512u << 20)

static int bucket_valid(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '.'))
            return 0;
    }
    return isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[n - 1]);
}

static int region_valid(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 40)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)r[i]) || isdigit((unsigned char)r[i]) || r[i] == '-'))
            return 0;
    return 1;
}

/* 1 when host (without port) is an IPv4 address or a bracketed IPv6 one. */
static int host_is_ip(const char *host, size_t n)
{
    if (n && host[0] == '[')
        return 1;
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (host[i] == '.')
            dots++;
        else if (!isdigit((unsigned char)host[i]))
            return 0;
    }
    return dots == 3;
}

int ff_s3_target_init(ff_s3_target *t, const ff_s3_config *cfg, ff_err *err)
{
    memset(t, 0, sizeof *t);
    if (!cfg->bucket || !bucket_valid(cfg->bucket))
        return ff_err_set(err, "S3 bucket name '%s' is not valid (3 to 63 characters of a-z, 0-9, "
                          "'-' and '.')", cfg->bucket ? cfg->bucket : "");
    snprintf(t->bucket, sizeof t->bucket, "%s", cfg->bucket);

    const char *region = cfg->region && *cfg->region ? cfg->region : getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    if (!region || !*region)
        region = "us-east-1";
    if (!region_valid(region))
        return ff_err_set(err, "AWS region '%.64s' is not valid (e.g. eu-west-2)", region);
    snprintf(t->region, sizeof t->region, "%s", region);

    const char *sse = cfg->sse ? cfg->sse : "AES256";
    if (strcmp(sse, "AES256") && strcmp(sse, "aws:kms") && *sse)
        return ff_err_set(err, "S3 server-side encryption '%.32s' is not AES256, aws:kms or none", sse);
    snprintf(t->sse, sizeof t->sse, "%s", sse);

    t->part_size = cfg->part_size ? cfg->part_size : DEFAULT_PART;
    if (t->part_size < MIN_PART || t->part_size > MAX_PART)
        return ff_err_set(err, "S3 part size must be 5 to 512 MiB");

    if (cfg->creds)
        t->creds = *cfg->creds;
    else if (ff_aws_creds_from_env(&t->creds, err) != 0)
        return -1;

    int dns_bucket = strchr(t->bucket, '.') == NULL;
    if (cfg->endpoint && *cfg->endpoint) {
        const char *e = cfg->endpoint;
        const char *rest;
        if (!strncmp(e, "http://", 7)) {
            strcpy(t->scheme, "http");
            rest = e + 7;
        } else if (!strncmp(e, "https://", 8)) {
            strcpy(t->scheme, "https");
            rest = e + 8;
        } else {
            return ff_err_set(err, "S3 endpoint '%.200s' must start with http:// or https://", e);
        }
        size_t hn = strcspn(rest, "/?#");
        if (hn == 0 || hn >= 256 || (rest[hn] && strcmp(rest + hn, "/")))
            return ff_err_set(err, "S3 endpoint '%.200s' must be scheme://host[:port] with no path", e);
        for (size_t i = 0; i < hn; i++)
            if ((unsigned char)rest[i] <= ' ' || rest[i] == '@')
                return ff_err_set(err, "S3 endpoint '%.200s' has a bad host", e);
        /* host without port, for the IP test */
        size_t bare = hn;
        if (rest[0] == '[') {
            const char *close = memchr(rest, ']', hn);
            bare = close ? (size_t)(close - rest) + 1 : hn;
        } else {
            const char *colon = memchr(rest, ':', hn);
            if (colon)
                bare = (size_t)(colon - rest);
        }
        if (cfg->path_style || host_is_ip(rest, bare) || !dns_bucket) {
            snprintf(t->url_host, sizeof t->url_host, "%.*s", (int)hn, rest);
            snprintf(t->path_prefix, sizeof t->path_prefix, "/%s", t->bucket);
        } else {
            snprintf(t->url_host, sizeof t->url_host, "%s.%.*s", t->bucket, (int)hn, rest);
        }
    } else {
        strcpy(t->scheme, "https");
        if (cfg->path_style || !dns_bucket) {
            if (!strcmp(t->region, "us-east-1"))
                strcpy(t->url_host, "s3.amazonaws.com");
            else
                snprintf(t->url_host, sizeof t->url_host, "s3.%s.amazonaws.com", t->region);
            snprintf(t->path_prefix, sizeof t->path_prefix, "/%s", t->bucket);
        } else {
            snprintf(t->url_host, sizeof t->url_host, "%s.s3.amazonaws.com", t->bucket);
        }
    }
    /* The signed Host drops a port that is the scheme's default. */
    strcpy(t->sign_host, t->url_host);
    size_t hl = strlen(t->sign_host);
    const char *dflt = !strcmp(t->scheme, "https") ? ":443" : ":80";
    size_t dl = strlen(dflt);
    if (hl > dl && !strcmp(t->sign_host + hl - dl, dflt))
        t->sign_host[hl - dl] = '\0';
    return 0;
}

void ff_s3_target_path(const ff_s3_target *t, const char *key, ff_strbuf *b)
{
    ff_strbuf_adds(b, t->path_prefix);
    ff_strbuf_add(b, "/", 1);
    if (key)
        ff_sigv4_uri_encode(b, key, 1);
}
