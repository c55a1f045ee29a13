/* Parallel zlib (pigz-style chunks behind one header and one Adler-32) with the input's MD5
 * taken chunk by chunk, in order, by whichever worker finds the next chunk ready: the data is
 * read while it is still in cache and no thread sits idle waiting to hash.
 * With one or two threads, libdeflate is used instead: at level 1 it writes one zlib stream about
 * twice as fast as zlib (and a little smaller), so on two cores one libdeflate thread plus one
 * MD5 thread beats two zlib threads and leaves more CPU to the rest of the pipeline. */
#include "core/zlib_par.h"

#include <libdeflate.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CHUNK ((size_t)256 * 1024)
#define DICT ((size_t)32 * 1024)
#define MAX_THREADS 64

typedef struct job {
    const unsigned char *src;
    size_t len, nchunks;
    int level;
    ff_zpiece *pieces;
    unsigned long *adlers;
    unsigned char *done;       /* chunk compressed */
    pthread_mutex_t mu;
    size_t next_chunk;         /* next chunk to claim */
    size_t next_hash;          /* next chunk to feed to MD5 */
    int hashing;               /* a thread holds the hasher role */
    int failed;
    ff_err err;
    EVP_MD_CTX *md;
} job;

static size_t chunk_len(const job *j, size_t i)
{
    size_t off = i * CHUNK;
    return j->len - off < CHUNK ? j->len - off : CHUNK;
}

static void fail(job *j, const char *what)
{
    pthread_mutex_lock(&j->mu);
    if (!j->failed) {
        j->failed = 1;
        ff_err_set(&j->err, "%s", what);
    }
    pthread_mutex_unlock(&j->mu);
}

static int deflate_chunk(job *j, z_stream *zs, size_t i)
{
    const unsigned char *in = j->src + i * CHUNK;
    size_t n = chunk_len(j, i);
    int last = i + 1 == j->nchunks;
    if (deflateReset(zs) != Z_OK)
        return -1;
    if (i > 0 && deflateSetDictionary(zs, in - DICT, (uInt)DICT) != Z_OK)
        return -1;
    size_t cap = deflateBound(zs, (uLong)n) + 64;
    unsigned char *out = malloc(cap);
    if (!out)
        return -1;
    zs->next_in = (Bytef *)in;
    zs->avail_in = (uInt)n;
    size_t used = 0;
    for (;;) {
        zs->next_out = out + used;
        zs->avail_out = (uInt)(cap - used);
        int rc = deflate(zs, last ? Z_FINISH : Z_SYNC_FLUSH);
        used = cap - zs->avail_out;
        if (rc == Z_STREAM_ERROR) {
            free(out);
            return -1;
        }
        if (last ? rc == Z_STREAM_END : (zs->avail_in == 0 && zs->avail_out > 0))
            break;
        unsigned char *bigger = realloc(out, cap * 2); /* bound was not enough: cannot normally happen */
        if (!bigger) {
            free(out);
            return -1;
        }
        out = bigger;
        cap *= 2;
    }
    j->pieces[i + 1].data = out;
    j->pieces[i + 1].len = used;
    j->adlers[i] = adler32(1L, in, (uInt)n);
    return 0;
}

/* Marks chunk i done and, unless another thread is hashing, feeds every ready chunk to MD5. */
static void chunk_done(job *j, size_t i)
{
    pthread_mutex_lock(&j->mu);
    j->done[i] = 1;
    if (!j->hashing) {
        j->hashing = 1;
        while (!j->failed && j->next_hash < j->nchunks && j->done[j->next_hash]) {
            size_t h = j->next_hash;
            pthread_mutex_unlock(&j->mu);
            int ok = EVP_DigestUpdate(j->md, j->src + h * CHUNK, chunk_len(j, h)) == 1;
            pthread_mutex_lock(&j->mu);
            if (!ok && !j->failed) {
                j->failed = 1;
                ff_err_set(&j->err, "MD5 update failed");
            }
            j->next_hash++;
        }
        j->hashing = 0;
    }
    pthread_mutex_unlock(&j->mu);
}

static void *worker(void *arg)
{
    job *j = arg;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, j->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        fail(j, "cannot initialise zlib (out of memory)");
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next_chunk;
        int stop = j->failed || i >= j->nchunks;
        if (!stop)
            j->next_chunk++;
        pthread_mutex_unlock(&j->mu);
        if (stop)
            break;
        if (deflate_chunk(j, &zs, i) != 0) {
            fail(j, "zlib compression failed (out of memory)");
            break;
        }
        chunk_done(j, i);
    }
    deflateEnd(&zs);
    return NULL;
}

void ff_zpar_free(ff_zpar *z)
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

/* One libdeflate zlib stream on the calling thread; MD5 on a second thread when two are allowed. */
static int deflate_whole(const void *src, size_t len, int level, int nthreads, ff_zpar *out,
                         ff_err *err)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    if (!c)
        return ff_err_set(err, "cannot create a libdeflate compressor (out of memory)");
    size_t cap = libdeflate_zlib_compress_bound(c, len);
    unsigned char *buf = malloc(cap);
    out->pieces = calloc(1, sizeof *out->pieces);
    if (!buf || !out->pieces) {
        libdeflate_free_compressor(c);
        free(buf);
        free(out->pieces);
        out->pieces = NULL;
        return ff_err_set(err, "out of memory allocating %zu bytes for compression", cap);
    }
    md5_job m = {.src = src, .len = len, .rc = -1};
    pthread_t tid;
    int threaded = nthreads >= 2 && pthread_create(&tid, NULL, md5_thread, &m) == 0;
    size_t n = libdeflate_zlib_compress(c, src, len, buf, cap);
    libdeflate_free_compressor(c);
    if (threaded)
        pthread_join(tid, NULL);
    else
        md5_thread(&m);
    if (n == 0 || m.rc != 0) {
        free(buf);
        free(out->pieces);
        out->pieces = NULL;
        if (n == 0)
            return ff_err_set(err, "libdeflate could not compress %zu bytes", len);
        if (err)
            *err = m.err;
        return -1;
    }
    unsigned char *fit = realloc(buf, n);
    out->pieces[0] = (ff_zpiece){fit ? fit : buf, n};
    out->npieces = 1;
    out->total = n;
    memcpy(out->md5, m.md5, 16);
    return 0;
}

int ff_zpar_compress(const void *src, size_t len, int level, int nthreads, ff_zpar *out,
                     ff_err *err)
{
    memset(out, 0, sizeof *out);
    if (level < 0 || level > 9)
        return ff_err_set(err, "zlib level %d is outside 0..9", level);
    if (len && !src)
        return ff_err_set(err, "no data to compress");
    if (nthreads <= 2)
        return deflate_whole(src, len, level, nthreads, out, err);
    job j;
    memset(&j, 0, sizeof j);
    j.src = src;
    j.len = len;
    j.level = level;
    j.nchunks = len ? (len + CHUNK - 1) / CHUNK : 1;
    /* pieces: zlib header, one per chunk, Adler-32 trailer */
    j.pieces = calloc(j.nchunks + 2, sizeof *j.pieces);
    j.adlers = calloc(j.nchunks, sizeof *j.adlers);
    j.done = calloc(j.nchunks, 1);
    j.md = EVP_MD_CTX_new();
    out->pieces = j.pieces;
    out->npieces = j.nchunks + 2;
    int rc = -1;
    if (!j.pieces || !j.adlers || !j.done || !j.md) {
        ff_err_set(err, "out of memory preparing compression of %zu bytes", len);
        goto done;
    }
    if (EVP_DigestInit_ex(j.md, EVP_md5(), NULL) != 1) {
        ff_err_set(err, "cannot initialise MD5 (OpenSSL)");
        goto done;
    }
    if (pthread_mutex_init(&j.mu, NULL) != 0) {
        ff_err_set(err, "cannot create a mutex");
        goto done;
    }

    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > MAX_THREADS)
        nthreads = MAX_THREADS;
    if ((size_t)nthreads > j.nchunks)
        nthreads = (int)j.nchunks;
    pthread_t tids[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < nthreads; t++) {
        if (pthread_create(&tids[started], NULL, worker, &j) != 0)
            break; /* fewer threads is still correct */
        started++;
    }
    worker(&j);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.failed) {
        if (err)
            *err = j.err;
        goto done;
    }

    unsigned char *hdr = malloc(2), *trl = malloc(4);
    if (!hdr || !trl) {
        free(hdr);
        free(trl);
        ff_err_set(err, "out of memory");
        goto done;
    }
    int flevel = level < 2 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;
    unsigned cmf = 0x78, flg = (unsigned)flevel << 6;
    flg += 31 - (cmf * 256 + flg) % 31;
    hdr[0] = (unsigned char)cmf;
    hdr[1] = (unsigned char)flg;
    unsigned long adler = 1L;
    for (size_t i = 0; i < j.nchunks; i++)
        adler = adler32_combine(adler, j.adlers[i], (z_off_t)chunk_len(&j, i));
    trl[0] = (unsigned char)(adler >> 24);
    trl[1] = (unsigned char)(adler >> 16);
    trl[2] = (unsigned char)(adler >> 8);
    trl[3] = (unsigned char)adler;
    j.pieces[0] = (ff_zpiece){hdr, 2};
    j.pieces[j.nchunks + 1] = (ff_zpiece){trl, 4};
    for (size_t i = 0; i < out->npieces; i++)
        out->total += j.pieces[i].len;
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(j.md, out->md5, &mdlen) != 1 || mdlen != 16) {
        ff_err_set(err, "MD5 finalisation failed (OpenSSL)");
        goto done;
    }
    rc = 0;
done:
    EVP_MD_CTX_free(j.md);
    free(j.adlers);
    free(j.done);
    if (rc != 0) {
        if (!j.pieces)
            out->npieces = 0;
        ff_zpar_free(out);
    }
    return rc;
}

int ff_zpar_write(const ff_zpar *z, ff_sink *out, ff_err *err)
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
