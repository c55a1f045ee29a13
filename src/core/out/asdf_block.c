/* The ASDF block's zlib stream and the MD5 of its uncompressed bytes, made side by side: the
 * stream by the fast encoder (deflate_fast.c) on the calling thread, the MD5 on a second thread
 * when two are allowed. Both read the same array, which stays in cache for the two. */
#include "core/out/asdf_block.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/hugepage.h"
#include "core/out/deflate_fast.h"

void ff_asdf_block_free(ff_asdf_block *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->npieces; i++)
        free(z->pieces[i].data);
    free(z->pieces);
    memset(z, 0, sizeof *z);
}

typedef struct md5_job {
    const void *src;
    size_t len;
    unsigned char md5[16];
    int rc;
    ff_err err;
} md5_job;

static void *md5_thread(void *arg)
{
    md5_job *m = arg;
    m->rc = ff_md5(m->src, m->len, m->md5, &m->err);
    return NULL;
}

int ff_asdf_block_compress(const void *src, size_t len, unsigned period, int nthreads, ff_asdf_block *out,
                     ff_err *err)
{
    memset(out, 0, sizeof *out);
    if (len && !src)
        return ff_err_set(err, "no data to compress");
    size_t cap = ff_deflate_fast_bound(len);
    unsigned char *buf = malloc(cap);
    ff_hugepage_advise(buf, cap);
    out->pieces = calloc(1, sizeof *out->pieces);
    if (!buf || !out->pieces) {
        free(buf);
        free(out->pieces);
        out->pieces = NULL;
        return ff_err_set(err, "out of memory allocating %zu bytes for compression", cap);
    }
    md5_job m = {.src = src, .len = len, .rc = -1};
    pthread_t tid;
    int threaded = nthreads >= 2 && pthread_create(&tid, NULL, md5_thread, &m) == 0;
    ff_err zerr = {0};
    size_t n = ff_deflate_fast(src, len, period, buf, cap, &zerr);
    if (threaded)
        pthread_join(tid, NULL);
    else
        md5_thread(&m);
    if (n == 0 || m.rc != 0) {
        free(buf);
        free(out->pieces);
        out->pieces = NULL;
        if (err)
            *err = n == 0 ? zerr : m.err;
        return -1;
    }
    unsigned char *fit = realloc(buf, n);
    out->pieces[0] = (ff_asdf_piece){fit ? fit : buf, n};
    out->npieces = 1;
    out->total = n;
    memcpy(out->md5, m.md5, 16);
    return 0;
}

int ff_asdf_block_write(const ff_asdf_block *z, ff_sink *out, ff_err *err)
{
    for (size_t i = 0; i < z->npieces; i++)
        if (ff_sink_write(out, z->pieces[i].data, z->pieces[i].len, err) != 0)
            return -1;
    return 0;
}

int ff_md5(const void *src, size_t len, unsigned char md5[16], ff_err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int mdlen = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_md5(), NULL) == 1 &&
             (len == 0 || EVP_DigestUpdate(md, src, len) == 1) &&
             EVP_DigestFinal_ex(md, md5, &mdlen) == 1 && mdlen == 16;
    EVP_MD_CTX_free(md);
    return ok ? 0 : ff_err_set(err, "MD5 computation failed (OpenSSL)");
}
