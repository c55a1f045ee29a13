/* Walks a FITS file's HDU headers with constant memory (see fits_scan.h). Hand-written because
 * the library that reads FITS here, CFITSIO, needs the whole content in memory first (it
 * inflates a .gz file completely), which is the very cost this walk must bound. It reads only
 * what a FITS header needs (SIMPLE/XTENSION, BITPIX, NAXISn, PCOUNT, GCOUNT, BSCALE, BZERO,
 * ZIMAGE, ZBITPIX, ZNAXISn, END), stops at the first thing it does not understand, and leaves
 * the judgement of the file to ff_fits_read. Fuzzed by fuzz/fuzz_fits_scan.c. */
#include "core/fits/fits_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK 2880
#define CARD 80
#define WIN (1u << 16)
#define MAX_HDUS 1000
#define MAX_AXES 999
#define MAX_HEADER_BYTES ((uint64_t)64 << 20) /* a longer header: stop walking */

typedef struct rd {
    int fd;                     /* -1: read from mem */
    const unsigned char *mem;
    uint64_t size;              /* of the file or buffer */
    uint64_t raw_pos;
    int gz, z_ready, z_ended;
    z_stream z;
    unsigned char *in, *out;    /* WIN bytes each (gzip only) */
    size_t out_pos, out_len;
    uint64_t pos;               /* content bytes consumed */
    uint64_t cap;
    int eof, over, ioerr;
    ff_fits_scan_stop_fn stop;
    void *stop_ctx;
} rd;

static size_t raw_read(rd *r, unsigned char *dst, size_t n)
{
    if (r->raw_pos >= r->size)
        return 0;
    if (n > r->size - r->raw_pos)
        n = (size_t)(r->size - r->raw_pos);
    if (r->fd < 0) {
        memcpy(dst, r->mem + r->raw_pos, n);
        r->raw_pos += n;
        return n;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(r->fd, dst + got, n - got, (off_t)(r->raw_pos + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            r->ioerr = errno ? errno : EIO;
            break;
        }
        got += (size_t)k;
    }
    r->raw_pos += got;
    return got;
}

/* Inflates the next piece of content into out. 1 when there is some, 0 at the end. */
static int gz_fill(rd *r)
{
    while (!r->eof) {
        if (r->z_ended)
            return r->eof = 1, 0;
        if (r->z.avail_in == 0) {
            size_t n = raw_read(r, r->in, WIN);
            r->z.next_in = r->in;
            r->z.avail_in = (uInt)n;
            if (n == 0) /* cut short (or an I/O error): the content ends here */
                return r->eof = 1, 0;
        }
        r->z.next_out = r->out;
        r->z.avail_out = WIN;
        int rc = inflate(&r->z, Z_NO_FLUSH);
        size_t got = WIN - r->z.avail_out;
        if (rc == Z_STREAM_END) {
            /* concatenated gzip members continue the same stream (as ff_fits_read reads them) */
            if (r->z.avail_in == 0 && r->raw_pos >= r->size)
                r->z_ended = 1;
            else if (inflateReset(&r->z) != Z_OK)
                r->z_ended = 1;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            r->z_ended = 1; /* corrupt: what came before is all there is */
        }
        if (got) {
            r->out_pos = 0;
            r->out_len = got;
            return 1;
        }
    }
    return 0;
}

/* Copies (dst) or discards (dst NULL) up to n content bytes; returns how many. */
static uint64_t take_some(rd *r, unsigned char *dst, uint64_t n);

/* take_some within the cap (gzip content only: a plain file is what it is): over is set only
 * when there is content beyond it. */
static uint64_t take(rd *r, unsigned char *dst, uint64_t n)
{
    uint64_t room = !r->gz ? UINT64_MAX : r->cap > r->pos ? r->cap - r->pos : 0;
    if (n <= room)
        return take_some(r, dst, n);
    uint64_t done = take_some(r, dst, room);
    if (done == room && !r->eof)
        r->over = r->gz ? r->out_pos < r->out_len || gz_fill(r) : r->raw_pos < r->size;
    return done;
}

static uint64_t take_some(rd *r, unsigned char *dst, uint64_t n)
{
    uint64_t done = 0;
    if (!r->gz) {
        if (dst) {
            while (done < n) {
                size_t want = n - done > WIN ? WIN : (size_t)(n - done);
                size_t got = raw_read(r, dst + done, want);
                done += got;
                if (got < want)
                    break;
            }
        } else {
            uint64_t left = r->size > r->raw_pos ? r->size - r->raw_pos : 0;
            done = n < left ? n : left;
            r->raw_pos += done;
        }
        if (done < n)
            r->eof = 1;
        r->pos += done;
        return done;
    }
    while (done < n) {
        if (r->out_pos == r->out_len && !gz_fill(r))
            break;
        size_t k = r->out_len - r->out_pos;
        if (k > n - done)
            k = (size_t)(n - done);
        if (dst)
            memcpy(dst + done, r->out + r->out_pos, k);
        r->out_pos += k;
        done += k;
    }
    r->pos += done;
    return done;
}

/* ---- cards ---------------------------------------------------------------------------- */

/* Keywords are matched without regard to case, as CFITSIO reads them. */
static int key_is(const unsigned char *c, const char *key)
{
    size_t n = strlen(key);
    if (strncasecmp((const char *)c, key, n) != 0)
        return 0;
    for (size_t k = n; k < 8; k++)
        if (c[k] != ' ')
            return 0;
    return 1;
}

/* The index of prefix + digits (1..999) in the keyword, or 0. */
static int key_index(const unsigned char *c, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncasecmp((const char *)c, prefix, n) != 0 || c[n] < '1' || c[n] > '9')
        return 0;
    int v = 0;
    size_t k = n;
    while (k < 8 && c[k] >= '0' && c[k] <= '9')
        v = v * 10 + (c[k++] - '0');
    while (k < 8 && c[k] == ' ')
        k++;
    return k == 8 && v <= MAX_AXES ? v : 0;
}

/* The value of a card as a number: 1 with *v set, or 0 (no value, or not a number). */
static int card_number(const unsigned char *c, double *v)
{
    if (c[8] != '=' || c[9] != ' ')
        return 0;
    char s[72];
    int n = 0;
    for (int k = 10; k < CARD && c[k] != '/'; k++)
        s[n++] = c[k] == 'D' || c[k] == 'd' ? 'E' : (char)c[k];
    while (n > 0 && s[n - 1] == ' ')
        n--;
    s[n] = '\0';
    char *p = s, *end;
    while (*p == ' ')
        p++;
    if (!*p)
        return 0;
    errno = 0;
    double d = strtod(p, &end);
    if (end == p || *end || !isfinite(d))
        return 0;
    *v = d;
    return 1;
}

/* A whole number in [lo, hi]: 1 with *v set, else 0. */
static int card_int(const unsigned char *c, double lo, double hi, long long *v)
{
    double d;
    if (!card_number(c, &d) || d != floor(d) || d < lo || d > hi)
        return 0;
    *v = (long long)d;
    return 1;
}

static int card_true(const unsigned char *c)
{
    if (c[8] != '=')
        return 0;
    for (int k = 9; k < CARD; k++)
        if (c[k] != ' ')
            return c[k] == 'T' || c[k] == 't';
    return 0;
}

/* What one header says. */
typedef struct hdr {
    int primary, image_ext, bintable, zimage;
    int have_bitpix, have_naxis, have_zbitpix, have_znaxis;
    long long bitpix, naxis, zbitpix, znaxis, pcount, gcount;
    uint64_t naxes[MAX_AXES + 1], znaxes[MAX_AXES + 1];
    int have_bscale, have_bzero, have_blank, have_zblank;
    double bscale, bzero;
    uint64_t cards;
} hdr;

static void parse_card(hdr *h, const unsigned char *c)
{
    long long v;
    int i;
    if (key_is(c, "BITPIX") && card_int(c, -64, 64, &v)) {
        h->bitpix = v;
        h->have_bitpix = 1;
    } else if (key_is(c, "NAXIS") && card_int(c, 0, MAX_AXES, &v)) {
        h->naxis = v;
        h->have_naxis = 1;
    } else if ((i = key_index(c, "NAXIS")) && card_int(c, 0, 9.2e18, &v)) {
        h->naxes[i] = (uint64_t)v;
    } else if (key_is(c, "PCOUNT") && card_int(c, 0, 9.2e18, &v)) {
        h->pcount = v;
    } else if (key_is(c, "GCOUNT") && card_int(c, 0, 9.2e18, &v)) {
        h->gcount = v;
    } else if (key_is(c, "BSCALE") && card_number(c, &h->bscale)) {
        h->have_bscale = 1;
    } else if (key_is(c, "BZERO") && card_number(c, &h->bzero)) {
        h->have_bzero = 1;
    } else if (key_is(c, "BLANK") && card_int(c, -9.3e18, 9.3e18, &v)) {
        h->have_blank = 1;
    } else if (key_is(c, "ZBLANK") && card_int(c, -9.3e18, 9.3e18, &v)) {
        h->have_zblank = 1;
    } else if (key_is(c, "ZIMAGE")) {
        h->zimage = card_true(c);
    } else if (key_is(c, "ZBITPIX") && card_int(c, -64, 64, &v)) {
        h->zbitpix = v;
        h->have_zbitpix = 1;
    } else if (key_is(c, "ZNAXIS") && card_int(c, 0, MAX_AXES, &v)) {
        h->znaxis = v;
        h->have_znaxis = 1;
    } else if ((i = key_index(c, "ZNAXIS")) && card_int(c, 0, 9.2e18, &v)) {
        h->znaxes[i] = (uint64_t)v;
    }
}

static int bitpix_ok(long long b)
{
    return b == 8 || b == 16 || b == 32 || b == 64 || b == -32 || b == -64;
}

/* Bytes per element of the data as ff_fits_read gives it (astropy's dtype), and its kind: the
 * rules of fits.c's plan_image and plan_compressed. */
static void out_type(const hdr *h, long long bitpix, int compressed, int *bytes, int *is_float,
                     int *is_signed)
{
    double s = h->have_bscale ? h->bscale : 1, z = h->have_bzero ? h->bzero : 0;
    int scaled = !(s == 1 && z == 0);
    /* An integer BLANK makes plain integer data float (NaN for blanks), scaled or not. */
    int blank = !compressed && h->have_blank;
    *is_float = 0;
    *is_signed = 1;
    if (bitpix < 0) {
        *bytes = (int)(-bitpix / 8);
        *is_float = 1;
    } else if (!scaled && !blank) {
        *bytes = (int)(bitpix / 8);
        *is_signed = bitpix != 8;
    } else if (scaled && s == 1 &&
               ((bitpix == 16 && z == 32768.0) || (bitpix == 32 && z == 2147483648.0) ||
                (bitpix == 64 && z == 9223372036854775808.0))) {
        *is_signed = 0;
        *bytes = (int)(bitpix / 8);
        if (compressed && (h->have_zblank || h->have_blank)) {
            *bytes = 8; /* NaN for blanks makes it float64 */
            *is_float = *is_signed = 1;
        }
    } else if (scaled && !compressed && s == 1 && bitpix == 8 && z == -128.0) {
        *bytes = 1;
    } else {
        *bytes = bitpix <= 16 ? 4 : 8;
        *is_float = 1;
    }
}

/* prod(axes[1..n]) without overflow: 1 with *out, 0 when it passes 2^63. */
static int axes_product(const uint64_t *axes, long long n, uint64_t *out)
{
    uint64_t p = 1;
    for (long long i = 1; i <= n; i++)
        if (__builtin_mul_overflow(p, axes[i], &p) || p > ((uint64_t)1 << 62))
            return 0;
    *out = p;
    return 1;
}

/* Takes the header's image as the costliest so far when it is one. */
static void consider_image(const hdr *h, ff_fits_scan *out)
{
    const uint64_t *axes;
    long long n, bitpix;
    if ((h->primary || h->image_ext) && h->have_naxis) {
        axes = h->naxes;
        n = h->naxis;
        bitpix = h->bitpix;
    } else if (h->bintable && h->zimage && h->have_znaxis && h->have_zbitpix) {
        axes = h->znaxes;
        n = h->znaxis;
        bitpix = h->zbitpix;
    } else {
        return;
    }
    if (n < 1 || n > 3 || !bitpix_ok(bitpix))
        return;
    uint64_t pixels;
    if (!axes_product(axes, n, &pixels) || pixels == 0)
        return;
    int bytes, is_float, is_signed;
    out_type(h, bitpix, axes == h->znaxes, &bytes, &is_float, &is_signed);
    unsigned __int128 cost = (unsigned __int128)pixels * (unsigned)bytes;
    unsigned __int128 best = (unsigned __int128)out->pixels * (unsigned)out->elem_bytes;
    if (out->pixels && (cost < best || (cost == best && pixels <= out->pixels)))
        return;
    out->pixels = pixels;
    out->naxis = (int)n;
    out->width = axes[1];
    out->height = pixels / axes[1];
    out->elem_bytes = bytes;
    out->is_float = is_float;
    out->is_signed = is_signed;
}

/* Reads one header (its first block already in blk). 1 when it ended at END, 0 when the content
 * ended or the header is malformed or too long. */
static int read_header(rd *r, unsigned char *blk, hdr *h)
{
    for (uint64_t bytes = BLOCK;; bytes += BLOCK) {
        for (int off = 0; off < BLOCK; off += CARD) {
            const unsigned char *c = blk + off;
            h->cards++;
            if (key_is(c, "END"))
                return 1;
            parse_card(h, c);
        }
        if (bytes >= MAX_HEADER_BYTES || take(r, blk, BLOCK) != BLOCK)
            return 0;
    }
}

static void walk(rd *r, ff_fits_scan *out)
{
    unsigned char blk[BLOCK];
    hdr *h = malloc(sizeof *h);
    if (!h)
        return;
    for (int n = 0; n < MAX_HDUS; n++) {
        uint64_t got = take(r, blk, BLOCK);
        if (got == 0 && n > 0) {
            out->complete = !r->over;
            break;
        }
        if (got != BLOCK)
            break; /* cut short */
        memset(h, 0, sizeof *h);
        h->gcount = 1;
        if (n == 0) {
            if (memcmp(blk, "SIMPLE  =", 9) != 0)
                break; /* not FITS */
            h->primary = 1;
        } else if (strncasecmp((const char *)blk, "XTENSION=", 9) == 0) {
            const unsigned char *v = blk + 9;
            while (v < blk + CARD && *v == ' ')
                v++;
            h->image_ext = blk + CARD - v >= 7 && !strncasecmp((const char *)v, "'IMAGE", 6);
            h->bintable = blk + CARD - v >= 10 && !strncasecmp((const char *)v, "'BINTABLE'", 10);
        } else {
            out->complete = 1; /* something after the last HDU: not a header */
            break;
        }
        if (!read_header(r, blk, h))
            break;
        out->hdus++;
        if (h->cards > out->max_cards)
            out->max_cards = h->cards;
        if (!h->have_bitpix || !bitpix_ok(h->bitpix) || !h->have_naxis)
            break;
        consider_image(h, out);
        /* The data: |BITPIX|/8 * GCOUNT * (PCOUNT + NAXIS1 * ... * NAXISn), whole blocks. */
        uint64_t elems = 0, data;
        if (h->naxis > 0) {
            if (!axes_product(h->naxes, h->naxis, &elems) ||
                __builtin_add_overflow(elems, (uint64_t)h->pcount, &elems) ||
                __builtin_mul_overflow(elems, (uint64_t)h->gcount, &elems))
                break;
        }
        if (__builtin_mul_overflow(elems, (uint64_t)(h->bitpix < 0 ? -h->bitpix : h->bitpix) / 8, &data) ||
            data > ((uint64_t)1 << 62))
            break;
        data = (data + BLOCK - 1) / BLOCK * BLOCK;
        if (r->stop) {
            out->content_bytes = r->gz ? r->pos + data : r->size; /* at least */
            if (r->stop(r->stop_ctx, out)) {
                out->stopped = 1;
                break;
            }
        }
        if (take(r, NULL, data) != data)
            break;
        if (n == MAX_HDUS - 1)
            out->complete = 1;
    }
    free(h);
}

static int scan(rd *r, ff_fits_scan *out, ff_err *err)
{
    memset(out, 0, sizeof *out);
    out->file_bytes = r->size;
    unsigned char magic[2] = {0, 0};
    size_t m = raw_read(r, magic, 2);
    r->raw_pos = 0;
    if (r->ioerr)
        return ff_err_set(err, "could not read the file: %s", strerror(r->ioerr));
    if (m == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        r->gz = out->gzip = 1;
        r->in = malloc(WIN);
        r->out = malloc(WIN);
        if (!r->in || !r->out || inflateInit2(&r->z, 15 + 32) != Z_OK) {
            free(r->in);
            free(r->out);
            return ff_err_set(err, "out of memory");
        }
        r->z_ready = 1;
    }
    walk(r, out);
    /* The rest of the content counts too: ff_fits_read holds all of it in memory. */
    if (r->gz && !out->stopped)
        while (!r->eof && !r->over && take(r, NULL, (uint64_t)1 << 30) > 0)
            ;
    if (!out->stopped || !r->gz)
        out->content_bytes = r->gz ? r->pos : r->size;
    out->over_cap = r->over;
    if (r->z_ready)
        inflateEnd(&r->z);
    free(r->in);
    free(r->out);
    if (r->ioerr)
        return ff_err_set(err, "could not read the file: %s", strerror(r->ioerr));
    return 0;
}

int ff_fits_scan_file(const char *path, uint64_t cap, ff_fits_scan *out, ff_err *err)
{
    return ff_fits_scan_file_until(path, cap, NULL, NULL, out, err);
}

int ff_fits_scan_file_until(const char *path, uint64_t cap, ff_fits_scan_stop_fn stop, void *ctx,
                            ff_fits_scan *out, ff_err *err)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return ff_err_set(err, "cannot open the file: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ff_err_set(err, "not a regular file");
    }
    rd r = {.fd = fd, .size = (uint64_t)st.st_size, .cap = cap, .stop = stop, .stop_ctx = ctx};
    int rc = scan(&r, out, err);
    close(fd);
    return rc;
}

int ff_fits_scan_buffer(const void *buf, uint64_t len, uint64_t cap, ff_fits_scan *out, ff_err *err)
{
    rd r = {.fd = -1, .mem = buf, .size = len, .cap = cap};
    return scan(&r, out, err);
}
