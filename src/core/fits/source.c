/* The file in memory: mapped, copied into whole 2880-byte blocks, or (gzip) inflated once. Every
 * CFITSIO handle is a memfile over this one buffer: CFITSIO shares one FITSfile between handles
 * opened by name, so per-thread handles must be memfiles to be independent. */
#include "core/fits/fits_impl.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define GZIP_SLACK ((uint64_t)256 << 20) /* inflated size allowed beyond the pixel limit */

void ff_fits_src_free(ff_fits_src *s)
{
    if (s->mapped)
        munmap(s->buf, s->cap);
    else
        free(s->buf);
    memset(s, 0, sizeof *s);
}

size_t ff_fits_round_block(size_t n)
{
    return n % FF_FITS_BLOCK ? n + (FF_FITS_BLOCK - n % FF_FITS_BLOCK) : n;
}

static int read_all(int fd, unsigned char *dst, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, dst + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* A gzip file inflating into memory. */
typedef struct inflater {
    z_stream z;
    const unsigned char *in;
    size_t fsize, fed;    /* input bytes, and those handed to zlib so far */
    unsigned char *out;
    size_t cap, used;
    uint64_t limit;       /* bytes the content may inflate to */
} inflater;

/* Room for more output: the buffer doubles, up to the limit (and a block). -1 with err. */
static int grow(inflater *f, ff_err *err)
{
    if (f->out && f->used < f->cap)
        return 0;
    if (f->out)
        f->cap *= 2;
    if (f->cap > f->limit + FF_FITS_BLOCK)
        f->cap = (size_t)f->limit + FF_FITS_BLOCK;
    if (f->out && f->used >= f->cap)
        return ff_err_set(err, "gzip content inflates to more than %llu bytes, over the size limit",
                          (unsigned long long)f->limit);
    unsigned char *n = realloc(f->out, f->cap);
    if (!n)
        return ff_err_set(err, "out of memory decompressing the gzip file");
    f->out = n;
    return 0;
}

/* Inflates to the end of the last gzip member (concatenated members continue the same stream).
 * -1 with err: not FITS inside, cut short, corrupt, or over the limit. */
static int inflate_all(inflater *f, ff_err *err)
{
    z_stream *z = &f->z;
    z->next_in = (unsigned char *)f->in;
    z->avail_in = (uInt)(f->fsize > UINT32_MAX ? UINT32_MAX : f->fsize);
    f->fed = z->avail_in;
    for (;;) {
        if (grow(f, err) != 0)
            return -1;
        size_t room = f->cap - f->used;
        z->next_out = f->out + f->used;
        z->avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
        uInt before = z->avail_out;
        if (z->avail_in == 0 && f->fed < f->fsize) {
            z->next_in = (unsigned char *)f->in + f->fed;
            z->avail_in = (uInt)(f->fsize - f->fed > UINT32_MAX ? UINT32_MAX : f->fsize - f->fed);
            f->fed += z->avail_in;
        }
        int rc = inflate(z, Z_NO_FLUSH);
        f->used += before - z->avail_out;
        if (f->used >= 9 && memcmp(f->out, "SIMPLE  =", 9) != 0)
            return ff_err_set(err, "not a FITS file (the gzip content does not start with a SIMPLE card)");
        int all_in = z->avail_in == 0 && f->fed == f->fsize;
        if (rc == Z_STREAM_END && (all_in || inflateReset(z) != Z_OK))
            break;
        if (rc == Z_BUF_ERROR && all_in)
            return ff_err_set(err, "gzip data are cut short (the file is truncated)");
        if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END)
            return ff_err_set(err, "gzip data are corrupt (%s)", z->msg ? z->msg : "inflate failed");
    }
    if (f->used == 0)
        return ff_err_set(err, "file is empty (the gzip stream holds no data)");
    return 0;
}

static int inflate_file(int fd, size_t fsize, uint64_t limit, ff_fits_src *s, ff_err *err)
{
    unsigned char *in = malloc(fsize);
    if (!in)
        return ff_err_set(err, "out of memory reading a %zu-byte gzip file", fsize);
    if (read_all(fd, in, fsize) != 0) {
        free(in);
        return ff_err_set(err, "could not read the file: %s", strerror(errno ? errno : EIO));
    }
    inflater f = {.in = in, .fsize = fsize, .limit = limit};
    f.cap = fsize * 4 < ((size_t)1 << 20) ? ((size_t)1 << 20) : fsize * 4;
    if (inflateInit2(&f.z, 15 + 32) != Z_OK) {
        free(in);
        return ff_err_set(err, "could not start gzip decompression");
    }
    int rc = inflate_all(&f, err);
    inflateEnd(&f.z);
    free(in);
    size_t padded = ff_fits_round_block(f.used);
    unsigned char *n = rc == 0 && padded > f.cap ? realloc(f.out, padded) : f.out;
    if (rc == 0 && !n)
        rc = ff_err_set(err, "out of memory decompressing the gzip file");
    if (rc != 0) {
        free(f.out);
        return -1;
    }
    memset(n + f.used, 0, padded - f.used);
    s->buf = n;
    s->size = f.used;
    s->cap = padded;
    return 0;
}

int ff_fits_src_load(const char *path, uint64_t max_pixels, ff_fits_src *s, ff_err *err)
{
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0)
        return ff_err_set(err, "cannot open the file: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ff_err_set(err, "not a regular file");
    }
    size_t fsize = (size_t)st.st_size;
    if (fsize == 0) {
        close(fd);
        return ff_err_set(err, "file is empty");
    }
    unsigned char magic[4] = {0};
    if (read_all(fd, magic, fsize < 4 ? fsize : 4) != 0) {
        close(fd);
        return ff_err_set(err, "could not read the file: %s", strerror(errno ? errno : EIO));
    }
    int rc = 0;
    if (fsize >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        rc = inflate_file(fd, fsize, max_pixels * 8 + GZIP_SLACK, s, err);
    } else if (fsize >= 2 && magic[0] == 0x1f && magic[1] == 0x9d) {
        rc = ff_err_set(err, "file is compressed with Unix compress (.Z), which is not supported; "
                             "decompress it or use gzip");
    } else if (fsize % FF_FITS_BLOCK == 0) {
        /* private writable mapping: CFITSIO never writes a READONLY memfile, but this way a stray
         * write could not reach the file */
        void *p = mmap(NULL, fsize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            rc = ff_err_set(err, "could not map the file into memory: %s", strerror(errno));
        } else {
            s->buf = p;
            s->size = s->cap = fsize;
            s->mapped = 1;
        }
    } else {
        /* not whole blocks: copy into a zero-padded buffer so CFITSIO can read full records */
        s->cap = ff_fits_round_block(fsize);
        s->buf = calloc(1, s->cap);
        s->size = fsize;
        if (!s->buf)
            rc = ff_err_set(err, "out of memory reading a %zu-byte file", fsize);
        else if (read_all(fd, s->buf, fsize) != 0)
            rc = ff_err_set(err, "could not read the file: %s", strerror(errno ? errno : EIO));
    }
    close(fd);
    if (rc != 0)
        ff_fits_src_free(s);
    return rc;
}

