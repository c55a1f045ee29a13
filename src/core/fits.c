/* Reads one image from a FITS file so that dtype and values equal astropy.io.fits's hdul[k].data.
 *
 * The file is mapped (or, when gzip-compressed, inflated once) into memory and every CFITSIO
 * handle is a memfile over that one buffer: CFITSIO shares one FITSfile between handles opened by
 * name, so per-thread handles must be memfiles to be independent. CFITSIO only decodes raw values
 * (scaling disabled); the BSCALE/BZERO/BLANK arithmetic is done here the way astropy 5.2 does it
 * (hdu/image.py and hdu/compressed.py), including its float32 arithmetic for 8/16-bit data.
 * CFITSIO does not survive every hostile file: before it opens one, every header is judged on its
 * raw bytes (prescan.h), and before it decodes a tile, every tile is checked (tilecheck.h). */
#include "core/fits.h"
#include "core/gzip_tile.h"
#include "core/prescan.h"
#include "core/quantize.h"
#include "core/rice.h"
#include "core/tilecheck.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK 2880
#define MAX_HDUS 1000               /* HDUs searched for an image */
#define MAX_THREADS 16
#define MIN_PIXELS_PER_THREAD (1u << 18)
#define GZIP_SLACK ((uint64_t)256 << 20) /* inflated size allowed beyond the pixel limit */

/* ---- the file in memory ---------------------------------------------------------------- */

typedef struct src {
    unsigned char *buf; /* at least `cap` bytes, zero padding after `size` */
    size_t size;        /* bytes of FITS content (the file, or the inflated gzip stream) */
    size_t cap;         /* size rounded up to whole 2880-byte blocks */
    int mapped;         /* buf is an mmap of length cap */
} src;

static void src_free(src *s)
{
    if (s->mapped)
        munmap(s->buf, s->cap);
    else
        free(s->buf);
    memset(s, 0, sizeof *s);
}

static size_t round_block(size_t n)
{
    return n % BLOCK ? n + (BLOCK - n % BLOCK) : n;
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

static int inflate_file(int fd, size_t fsize, uint64_t limit, src *s, ff_err *err)
{
    unsigned char *in = malloc(fsize);
    if (!in)
        return ff_err_set(err, "out of memory reading a %zu-byte gzip file", fsize);
    if (read_all(fd, in, fsize) != 0) {
        free(in);
        return ff_err_set(err, "could not read the file: %s", strerror(errno ? errno : EIO));
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) {
        free(in);
        return ff_err_set(err, "could not start gzip decompression");
    }
    size_t cap = fsize * 4 < ((size_t)1 << 20) ? ((size_t)1 << 20) : fsize * 4;
    unsigned char *out = NULL;
    size_t used = 0;
    int rc = Z_OK, ok = 0;
    z.next_in = in;
    z.avail_in = (uInt)(fsize > UINT32_MAX ? UINT32_MAX : fsize);
    size_t fed = z.avail_in;
    for (;;) {
        if (!out || used == cap) {
            if (out)
                cap *= 2;
            if (cap > limit + BLOCK)
                cap = (size_t)limit + BLOCK;
            if (out && used >= cap) {
                ff_err_set(err, "gzip content inflates to more than %llu bytes, over the size limit",
                           (unsigned long long)limit);
                goto done;
            }
            unsigned char *n = realloc(out, cap);
            if (!n) {
                ff_err_set(err, "out of memory decompressing the gzip file");
                goto done;
            }
            out = n;
        }
        size_t room = cap - used;
        z.next_out = out + used;
        z.avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
        uInt before = z.avail_out;
        if (z.avail_in == 0 && fed < fsize) {
            z.next_in = in + fed;
            z.avail_in = (uInt)(fsize - fed > UINT32_MAX ? UINT32_MAX : fsize - fed);
            fed += z.avail_in;
        }
        rc = inflate(&z, Z_NO_FLUSH);
        used += before - z.avail_out;
        if (used >= 9 && memcmp(out, "SIMPLE  =", 9) != 0) {
            ff_err_set(err, "not a FITS file (the gzip content does not start with a SIMPLE card)");
            goto done;
        }
        if (rc == Z_STREAM_END) {
            /* concatenated gzip members continue the same stream */
            if (z.avail_in == 0 && fed == fsize)
                break;
            if (inflateReset(&z) != Z_OK)
                break;
            continue;
        }
        if (rc == Z_BUF_ERROR && z.avail_in == 0 && fed == fsize) {
            ff_err_set(err, "gzip data are cut short (the file is truncated)");
            goto done;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            ff_err_set(err, "gzip data are corrupt (%s)", z.msg ? z.msg : "inflate failed");
            goto done;
        }
    }
    if (used == 0) {
        ff_err_set(err, "file is empty (the gzip stream holds no data)");
        goto done;
    }
    ok = 1;
done:
    inflateEnd(&z);
    free(in);
    if (!ok) {
        free(out);
        return -1;
    }
    size_t padded = round_block(used);
    if (padded > cap) {
        unsigned char *n = realloc(out, padded);
        if (!n) {
            free(out);
            return ff_err_set(err, "out of memory decompressing the gzip file");
        }
        out = n;
    }
    memset(out + used, 0, padded - used);
    s->buf = out;
    s->size = used;
    s->cap = padded;
    return 0;
}

static int load_file(const char *path, uint64_t max_pixels, src *s, ff_err *err)
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
    } else if (fsize % BLOCK == 0) {
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
        s->cap = round_block(fsize);
        s->buf = calloc(1, s->cap);
        s->size = fsize;
        if (!s->buf)
            rc = ff_err_set(err, "out of memory reading a %zu-byte file", fsize);
        else if (read_all(fd, s->buf, fsize) != 0)
            rc = ff_err_set(err, "could not read the file: %s", strerror(errno ? errno : EIO));
    }
    close(fd);
    if (rc != 0)
        src_free(s);
    return rc;
}

/* ---- CFITSIO helpers -------------------------------------------------------------------- */

typedef struct handle {
    fitsfile *fp;
    void *buf;   /* CFITSIO keeps pointers to these two, so they live with the handle */
    size_t size;
} handle;

static int handle_open(handle *h, const src *s, int *status)
{
    h->fp = NULL;
    h->buf = s->buf;
    h->size = s->cap;
    return fits_open_memfile(&h->fp, "fitsflow.fits", READONLY, &h->buf, &h->size, 0, NULL, status);
}

static void handle_close(handle *h)
{
    int st = 0;
    if (h->fp)
        fits_close_file(h->fp, &st);
    h->fp = NULL;
}

static void cfitsio_text(int status, char *buf, size_t n)
{
    char t[FLEN_STATUS] = "";
    fits_get_errstatus(status, t);
    snprintf(buf, n, "%s", t);
    fits_clear_errmsg();
}

/* ---- compressed-image header fallback ---------------------------------------------------- */

/* CFITSIO 4.2's fits_convert_hdr2str fails when a keyword such as BSCALE sits before ZIMAGE in the
 * table header (astropy writes unsigned images that way). Then the image header is rebuilt here
 * the way CFITSIO and astropy do: Z-keywords renamed to their image names, table and compression
 * keywords dropped, the other cards kept in order. */
static int keep_table_card(const char *key)
{
    static const char *drop[] = {"XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT",
                                 "GCOUNT", "TFIELDS", "THEAP", "ZIMAGE", "ZCMPTYPE", "ZQUANTIZ",
                                 "ZMASKCMP", "ZSIMPLE", "ZTENSION", "ZEXTEND",
                                 "ZBLOCKED", "ZPCOUNT", "ZGCOUNT", "ZBITPIX", "ZNAXIS", "ZBLANK",
                                 "CHECKSUM", "DATASUM", "END"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strcmp(key, drop[i]) == 0)
            return 0;
    static const char *prefix[] = {"TTYPE", "TFORM", "TUNIT", "TDIM", "TSCAL", "TZERO", "TNULL",
                                   "TDISP", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL"};
    for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++) {
        size_t n = strlen(prefix[i]);
        if (strncmp(key, prefix[i], n) == 0 && key[n] >= '0' && key[n] <= '9')
            return 0;
    }
    return 1;
}

static void card_key(const char *card, char key[9])
{
    memcpy(key, card, 8);
    key[8] = '\0';
    for (int k = 7; k >= 0 && key[k] == ' '; k--)
        key[k] = '\0';
}

static void put_card(char *dst, const char *src, const char *newkey)
{
    memcpy(dst, src, 80);
    if (newkey) {
        memset(dst, ' ', 8);
        memcpy(dst, newkey, strlen(newkey));
    }
}

/* Writes "KEY     = value / comment" where the comment is taken from the table card from (when it
 * has one) or is fallback. value is the 20-character value field. */
static void value_card(char *dst, const char *key, const char *value, const char *from,
                       const char *fallback)
{
    char comment[81] = "";
    if (from) {
        const char *slash = memchr(from + 10, '/', 70);
        if (slash) {
            size_t off = (size_t)(slash - from) + 1;
            while (off < 80 && from[off] == ' ')
                off++;
            size_t len = 80 - off;
            while (len && from[off + len - 1] == ' ')
                len--;
            memcpy(comment, from + off, len);
            comment[len] = '\0';
        }
    } else {
        snprintf(comment, sizeof comment, "%s", fallback);
    }
    char card[160];
    int len = snprintf(card, sizeof card, "%-8s= %s%s%s", key, value, comment[0] ? " / " : "", comment);
    if (len < 80)
        memset(card + len, ' ', (size_t)(80 - len));
    memcpy(dst, card, 80);
}

static int compressed_header(fitsfile *fp, ff_header *out, ff_err *err)
{
    char *raw = NULL;
    int n = 0, st = 0;
    if (fits_hdr2str(fp, 0, NULL, 0, &raw, &n, &st)) {
        char t[FLEN_STATUS];
        cfitsio_text(st, t, sizeof t);
        return ff_err_set(err, "the compressed image's header could not be read (CFITSIO: %s)", t);
    }
    char *cards = malloc(((size_t)n + 8) * 80);
    if (!cards) {
        fits_free_memory(raw, &st);
        return ff_err_set(err, "out of memory for a %d-card header", n);
    }
    size_t m = 0;
    const char *first[] = {"ZBITPIX", "ZNAXIS", "ZNAXIS1", "ZNAXIS2", "ZNAXIS3"};
    const char *names[] = {"BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3"};
    char key[9];
    int simple = 0;
    for (int i = 0; i < n; i++) {
        card_key(raw + 80 * i, key);
        if (strcmp(key, "ZSIMPLE") == 0)
            simple = 1;
    }
    /* astropy keeps the table's own cards for XTENSION, PCOUNT and GCOUNT (their comments
     * included) and gives them the image's values. */
    const char *tab_xt = NULL, *tab_pc = NULL, *tab_gc = NULL;
    for (int i = 0; i < n; i++) {
        card_key(raw + 80 * i, key);
        if (!strcmp(key, "XTENSION"))
            tab_xt = raw + 80 * i;
        else if (!strcmp(key, "PCOUNT"))
            tab_pc = raw + 80 * i;
        else if (!strcmp(key, "GCOUNT"))
            tab_gc = raw + 80 * i;
    }
    if (simple)
        put_card(cards + 80 * m++, "SIMPLE  =                    T / conforms to FITS standard"
                                   "                      ", NULL);
    else
        value_card(cards + 80 * m++, "XTENSION", "'IMAGE   '          ", tab_xt, "Image extension");
    for (size_t f = 0; f < sizeof first / sizeof first[0]; f++)
        for (int i = 0; i < n; i++) {
            card_key(raw + 80 * i, key);
            if (strcmp(key, first[f]) == 0) {
                put_card(cards + 80 * m++, raw + 80 * i, names[f]);
                break;
            }
        }
    if (!simple) {
        value_card(cards + 80 * m++, "PCOUNT", "                   0", tab_pc, "number of parameters");
        value_card(cards + 80 * m++, "GCOUNT", "                   1", tab_gc, "number of groups");
    }
    for (int i = 0; i < n && m < (size_t)n + 8; i++) {
        const char *c = raw + 80 * i;
        card_key(c, key);
        if (strcmp(key, "EXTNAME") == 0 && strstr(c, "'COMPRESSED_IMAGE'"))
            continue;
        if (strcmp(key, "ZHECKSUM") == 0)
            put_card(cards + 80 * m++, c, "CHECKSUM");
        else if (strcmp(key, "ZDATASUM") == 0)
            put_card(cards + 80 * m++, c, "DATASUM");
        else if (keep_table_card(key))
            put_card(cards + 80 * m++, c, NULL);
    }
    fits_free_memory(raw, &st);
    int rc = ff_header_parse(cards, m, out, err);
    free(cards);
    return rc;
}

/* ---- HDU choice ------------------------------------------------------------------------- */

typedef enum probe_kind {
    P_IMAGE,
    P_EMPTY,       /* image HDU with NAXIS = 0 */
    P_TABLE,
    P_GROUPS,
    P_TOO_MANY,
    P_ZERO_AXIS,
    P_BAD,         /* CFITSIO could not read its parameters */
} probe_kind;

typedef struct probe {
    probe_kind kind;
    int compressed;
    int bitpix;
    int naxis;
    long long naxes[FF_MAX_NDIM];
    int zero_axis; /* 1-based axis number for P_ZERO_AXIS */
} probe;

static void probe_hdu(fitsfile *fp, int hdu, probe *p)
{
    memset(p, 0, sizeof *p);
    int st = 0, type = 0;
    fits_get_hdu_type(fp, &type, &st);
    p->compressed = fits_is_compressed_image(fp, &st);
    if (st) {
        fits_clear_errmsg();
        p->kind = P_BAD;
        return;
    }
    if (type != IMAGE_HDU && !p->compressed) {
        p->kind = P_TABLE;
        return;
    }
    long long ax[FF_MAX_NDIM] = {0};
    fits_get_img_paramll(fp, FF_MAX_NDIM, &p->bitpix, &p->naxis, ax, &st);
    if (st) {
        fits_clear_errmsg();
        p->kind = P_BAD;
        return;
    }
    if (p->naxis < 0) {
        p->kind = P_BAD; /* e.g. ZNAXIS = -1, which CFITSIO lets through */
        return;
    }
    if (p->naxis == 0) {
        p->kind = P_EMPTY;
        return;
    }
    if (p->bitpix != 8 && p->bitpix != 16 && p->bitpix != 32 && p->bitpix != 64 &&
        p->bitpix != -32 && p->bitpix != -64) {
        p->kind = P_BAD; /* e.g. ZBITPIX = 12, which CFITSIO lets through */
        return;
    }
    if (hdu == 0 && ax[0] == 0) {
        int groups = 0;
        if (fits_read_key(fp, TLOGICAL, "GROUPS", &groups, NULL, &st) == 0 && groups) {
            p->kind = P_GROUPS;
            return;
        }
        st = 0;
        fits_clear_errmsg();
    }
    if (p->naxis > FF_MAX_NDIM) {
        p->kind = P_TOO_MANY;
        return;
    }
    for (int i = 0; i < p->naxis; i++) {
        p->naxes[i] = ax[i];
        if (ax[i] <= 0 && !p->zero_axis)
            p->zero_axis = i + 1;
    }
    p->kind = p->zero_axis ? P_ZERO_AXIS : P_IMAGE;
}

/* Moves fp to the chosen HDU and fills *chosen and *p; on failure explains why no HDU fits. */
static int choose_hdu(fitsfile *fp, int *chosen, probe *p, ff_err *err)
{
    probe first_bad = {.kind = P_EMPTY};
    int first_bad_hdu = -1, saw_table = 0;
    char damaged[FLEN_STATUS + 64] = "";
    int order[MAX_HDUS];
    int n = 0;
    order[n++] = 1;
    order[n++] = 0;
    for (int k = 2; k < MAX_HDUS; k++)
        order[n++] = k;
    for (int i = 0; i < n; i++) {
        int k = order[i], st = 0;
        if (fits_movabs_hdu(fp, k + 1, NULL, &st)) {
            if (st != END_OF_FILE && !damaged[0] && k >= 1) {
                char t[FLEN_STATUS];
                cfitsio_text(st, t, sizeof t);
                snprintf(damaged, sizeof damaged, "HDU %d could not be read (%s)", k, t);
            }
            fits_clear_errmsg();
            if (k >= 2)
                break;
            continue;
        }
        probe_hdu(fp, k, p);
        if (p->kind == P_IMAGE) {
            *chosen = k;
            return 0;
        }
        if (p->kind == P_TABLE)
            saw_table = 1;
        if (first_bad_hdu < 0 && p->kind != P_TABLE && p->kind != P_EMPTY) {
            first_bad = *p;
            first_bad_hdu = k;
        }
    }
    switch (first_bad.kind) {
    case P_GROUPS:
        return ff_err_set(err, "the file holds random-groups data, not an image");
    case P_TOO_MANY:
        return ff_err_set(err, "the image in HDU %d has %d axes; only 1 to 3 are supported",
                          first_bad_hdu, first_bad.naxis);
    case P_ZERO_AXIS:
        return ff_err_set(err, "the image in HDU %d has a zero-length axis (NAXIS%d = 0)",
                          first_bad_hdu, first_bad.zero_axis);
    case P_BAD:
        return ff_err_set(err, "the image parameters of HDU %d could not be read", first_bad_hdu);
    default:
        break;
    }
    if (damaged[0])
        return ff_err_set(err, "no image found: %s", damaged);
    if (saw_table)
        return ff_err_set(err, "no image HDU (table-only file)");
    return ff_err_set(err, "no image HDU (the file holds only an empty primary header)");
}

/* Data bytes the chosen HDU needs, against what the file holds after its header. */
static int check_size(fitsfile *fp, const src *s, const probe *p, ff_err *err)
{
    int st = 0;
    long long head = 0, data = 0, end = 0;
    if (fits_get_hduaddrll(fp, &head, &data, &end, &st)) {
        fits_clear_errmsg();
        return ff_err_set(err, "could not locate the image data in the file");
    }
    unsigned long long need;
    if (p->compressed) {
        long long rowlen = 0, rows = 0, pcount = 0;
        fits_read_key(fp, TLONGLONG, "NAXIS1", &rowlen, NULL, &st);
        fits_read_key(fp, TLONGLONG, "NAXIS2", &rows, NULL, &st);
        fits_read_key(fp, TLONGLONG, "PCOUNT", &pcount, NULL, &st);
        if (st || rowlen < 0 || rows < 0 || pcount < 0 || (rows && rowlen > LLONG_MAX / rows) ||
            rowlen * rows > LLONG_MAX - pcount) {
            fits_clear_errmsg();
            return ff_err_set(err, "the compressed image's table header is invalid");
        }
        need = (unsigned long long)(rowlen * rows + pcount);
    } else {
        /* axes were checked against the pixel limit before this, so no overflow */
        need = (unsigned long long)(p->bitpix < 0 ? -p->bitpix : p->bitpix) / 8;
        for (int i = 0; i < p->naxis; i++)
            need *= (unsigned long long)p->naxes[i];
    }
    unsigned long long have = (unsigned long long)data < s->size ? s->size - (unsigned long long)data : 0;
    if (need > have)
        return ff_err_set(err, "file is truncated: header says %llu data bytes but only %llu follow",
                          need, have);
    /* CFITSIO sizes the data unit from the header alone (|BITPIX|/8 * GCOUNT * (PCOUNT + pixels))
     * and, when that runs past the end of a memfile, enlarges the file size it believes in; its
     * memory driver then copies whole 2880-byte records from beyond the buffer we gave it (a
     * malformed XTENSION value turns a compressed image's table into an "image" whose PCOUNT
     * heap is counted as pixel data). The data unit must lie inside the buffer. */
    if (data < 0 || end < data || (unsigned long long)end > s->cap)
        return ff_err_set(err, "file is truncated or its header is damaged: HDU data end at byte "
                               "%lld but the file has %zu bytes", end, s->size);
    return 0;
}

/* Corrupted tiles CFITSIO does not survive are refused here first (tilecheck.h): every RICE_1
 * tile is walked with bounds checks, with the parameters CFITSIO will use (ZVAL1 the block size,
 * default 32; ZVAL2 the bytes per pixel, default 4; swapped when written the other way round), and
 * every GZIP_1/GZIP_2 tile is inflated once to check its size, and every HCOMPRESS_1 tile's
 * header must match its size, and every PLIO_1 line list must lie inside its tile. Each tile's pixel count comes from
 * ZNAXISn/ZTILEn, edge tiles clipped. */
typedef struct tile_ref {
    const unsigned char *c;
    size_t len, nwords, npix;
    int present;
    const unsigned char *alt; /* the tile's GZIP_COMPRESSED_DATA stream when COMPRESSED_DATA is empty */
    size_t alt_len;
} tile_ref;

struct tile_job;
typedef struct tile_part {
    struct tile_job *job;
    long long from, to;
    long long failed_tile; /* -1 when every tile of the range is sound */
    ff_err err;
} tile_part;

typedef struct tile_job {
    int rice, gzip, plio, bytepix, blocksize;
    unsigned widths;
    long long total;
    tile_ref *tiles;
    tile_part part[16];
} tile_job;

/* The tiles of an image this reader decodes itself (whole-row tiles: RICE_1 integers, or GZIP_1
 * and GZIP_2 as gzip_tile.h takes them). */
typedef struct tile_list {
    int usable;
    tile_ref *tiles;
    long long total;
    size_t tile_pix;      /* pixels in a full tile; tile t starts at element t * tile_pix */
    int bytepix, blocksize;
    int gzip;             /* GZIP tiles, decoded from gz */
    ff_gzip_image gz;
    unsigned widths, alt_widths; /* what ff_tile_check_gzip allows when a band goes to CFITSIO */
} tile_list;

static void *check_tile_range(void *arg)
{
    tile_part *pt = arg;
    const tile_job *j = pt->job;
    pt->failed_tile = -1;
    for (long long t = pt->from; t < pt->to; t++) {
        const tile_ref *r = &j->tiles[t];
        if (!r->present)
            continue;
        int bad = j->rice   ? ff_tile_check_rice(r->c, r->len, r->npix, j->bytepix, j->blocksize, &pt->err)
                  : j->gzip ? ff_tile_check_gzip(r->c, r->len, r->npix, j->widths, &pt->err)
                  : j->plio ? ff_tile_check_plio(r->c, r->nwords, &pt->err)
                            : ff_tile_check_hcompress(r->c, r->len, r->npix, &pt->err);
        if (bad) {
            pt->failed_tile = t;
            break;
        }
    }
    return NULL;
}

/* A tile whose COMPRESSED_DATA is empty is read by CFITSIO from one of these columns: each of
 * their descriptors for the tile must lie inside the file, as COMPRESSED_DATA's must; a gzip tile
 * there must inflate to whole pixels as GZIP_1 tiles must, and an uncompressed one must hold
 * exactly the tile's pixels (CFITSIO reads as many values as the descriptor says into a buffer of
 * the tile's size). */
static int check_alt_tile_columns(fitsfile *fp, const src *s, long long row, long long data,
                                  long long theap, size_t npix, unsigned widths, tile_ref *ref,
                                  ff_err *err)
{
    static const char *names[] = {"GZIP_COMPRESSED_DATA", "UNCOMPRESSED_DATA"};
    for (int k = 0; k < 2; k++) {
        int st = 0, col = 0, type = 0;
        long repeat = 0, width = 0;
        if (fits_get_colnum(fp, CASEINSEN, (char *)names[k], &col, &st) != 0) {
            fits_clear_errmsg();
            continue;
        }
        fits_get_coltype(fp, col, &type, &repeat, &width, &st);
        long long len = 0, off = 0;
        if (st == 0 && type < 0)
            fits_read_descriptll(fp, col, row, &len, &off, &st);
        if (st != 0 || type >= 0) {
            fits_clear_errmsg();
            return ff_err_set(err, "the compressed image's %s column is not a readable "
                                   "variable-length array", names[k]);
        }
        long long esize = width >= 1 && width <= 16 ? width : 8;
        unsigned long long room = (unsigned long long)data <= s->size &&
                                          theap >= 0 && (unsigned long long)theap <= s->size - (unsigned long long)data
                                      ? s->size - (unsigned long long)(data + theap)
                                      : 0;
        if (len < 0 || off < 0 || (unsigned long long)off > room ||
            (unsigned long long)len > (room - (unsigned long long)off) / (unsigned long long)esize)
            return ff_err_set(err, "the compressed image's tile %lld (%s) lies beyond the end of the "
                                   "file (it is truncated or damaged)", row, names[k]);
        if (len == 0)
            continue;
        if (k == 0) {
            if (type != -TBYTE)
                return ff_err_set(err, "the compressed image's %s column is not a byte array", names[k]);
            if (ff_tile_check_gzip(s->buf + data + theap + off, (size_t)len, npix, widths, err) != 0)
                return ff_err_prefix(err, "the compressed image data are damaged: tile %lld (%s)", row,
                                     names[k]);
            ref->alt = s->buf + data + theap + off;
            ref->alt_len = (size_t)len;
        } else if ((unsigned long long)len != npix) {
            return ff_err_set(err, "the compressed image data are damaged: tile %lld (%s) holds %lld "
                                   "values for %zu pixels", row, names[k], len, npix);
        }
    }
    return 0;
}

/* Tiles that each cover whole rows, so that tile t holds elements t * tile_pix onwards. */
static int whole_rows(const probe *p, const long long *tile)
{
    return tile[0] == p->naxes[0] && (p->naxis <= 2 || (tile[2] == 1 && p->naxes[1] % tile[1] == 0));
}

/* GZIP_1/GZIP_2 images of whole-row tiles that gzip_tile.c reproduces (every tile in
 * COMPRESSED_DATA, or for floats in GZIP_COMPRESSED_DATA): sets keep->gzip and its plan.
 * Returns 0 (decided either way) or -1 with err. */
static int gzip_plan(fitsfile *fp, const probe *p, const char *ztype, const ff_quant *q,
                     const tile_job *job, long long total, tile_list *keep, ff_err *err)
{
    for (long long t = 0; t < total; t++)
        if (!job->tiles[t].present && !(p->bitpix < 0 && job->tiles[t].alt))
            return 0;
    int rc = ff_gzip_plan(fp, p->bitpix, strcmp(ztype, "GZIP_2") == 0, total, q, &keep->gz, err);
    if (rc <= 0)
        return rc;
    for (long long t = 0; t < total; t++) {
        const tile_ref *r = &job->tiles[t];
        ff_gzip_tile *g = &keep->gz.tiles[t];
        g->c = r->present ? r->c : r->alt;
        g->len = r->present ? r->len : r->alt_len;
        g->npix = r->npix;
        g->lossless = !r->present;
    }
    keep->gzip = 1;
    return 0;
}

static int check_tiles(fitsfile *fp, const src *s, const probe *p, uint64_t max_pixels, int nthreads,
                       tile_list *keep, ff_err *err)
{
    char ztype[FLEN_VALUE] = "";
    int st = 0;
    if (fits_read_key(fp, TSTRING, "ZCMPTYPE", ztype, NULL, &st) != 0)
        ztype[0] = '\0';
    fits_clear_errmsg();
    int rice = strcmp(ztype, "RICE_1") == 0 || strcmp(ztype, "RICE_ONE") == 0;
    int gzip = strcmp(ztype, "GZIP_1") == 0 || strcmp(ztype, "GZIP_2") == 0;
    int hcomp = strcmp(ztype, "HCOMPRESS_1") == 0;
    int plio = strcmp(ztype, "PLIO_1") == 0;
    /* Other types (NOCOMPRESS, BZIP2_1, anything else) CFITSIO 4.2 refuses tile by tile, and
     * leaks a tile buffer each time */
    if (!rice && !gzip && !hcomp && !plio) {
        char shown[FLEN_VALUE];
        size_t n = 0;
        for (; ztype[n] && n + 1 < sizeof shown; n++)
            shown[n] = ztype[n] > 0x20 && ztype[n] < 0x7f ? ztype[n] : '?';
        shown[n] = '\0';
        return ff_err_set(err, "the image is compressed with ZCMPTYPE '%s', which is not supported "
                               "(RICE_1, GZIP_1, GZIP_2, HCOMPRESS_1 and PLIO_1 are)", shown);
    }
    int blocksize = 32, bytepix = 4;
    st = 0;
    if (fits_read_key(fp, TINT, "ZVAL1", &blocksize, NULL, &st) != 0)
        blocksize = 32;
    st = 0;
    if (fits_read_key(fp, TINT, "ZVAL2", &bytepix, NULL, &st) != 0)
        bytepix = 4;
    if (blocksize < 16 && bytepix > 8) {
        int t = blocksize;
        blocksize = bytepix;
        bytepix = t;
    }
    ff_quant quant;
    if (ff_quant_read(fp, p->bitpix, &quant, err) != 0)
        return -1;
    /* What a GZIP tile may inflate to (bit i: 2^i bytes per pixel): losslessly compressed floats
     * (no ZSCALE column, or ZQUANTIZ = 'NONE') 4 or 8 bytes, and exactly the float's size from
     * GZIP_COMPRESSED_DATA (CFITSIO dereferences a null buffer for 4-byte tiles of a 64-bit image);
     * integers and quantised floats 1, 2 or 4 (CFITSIO leaves 8-byte tiles of those unconverted
     * and returns whatever its buffer held); 64-bit integers 1, 2, 4 or 8. */
    unsigned widths = p->bitpix == 64 ? 0xF : 0x7, alt_widths = widths;
    if (p->bitpix < 0) {
        if (quant.method == FF_QUANT_LOSSLESS || !quant.scale_column)
            widths = (1u << 2) | (1u << 3);
        alt_widths = p->bitpix == -32 ? 1u << 2 : 1u << 3;
    }
    fits_clear_errmsg();
    long long tile[FF_MAX_NDIM], ntiles[FF_MAX_NDIM], total = 1;
    uint64_t tile_pix = 1;
    for (int i = 0; i < p->naxis; i++) {
        char key[16];
        snprintf(key, sizeof key, "ZTILE%d", i + 1);
        st = 0;
        if (fits_read_key(fp, TLONGLONG, key, &tile[i], NULL, &st) != 0)
            tile[i] = i == 0 ? p->naxes[0] : 1;
        if (tile[i] <= 0) {
            fits_clear_errmsg();
            return ff_err_set(err, "the compressed image's %s is %lld; tile sizes must be positive",
                              key, tile[i]);
        }
        /* CFITSIO allocates whole (unclipped) tiles */
        if ((uint64_t)tile[i] > max_pixels || (tile_pix *= (uint64_t)tile[i]) > max_pixels) {
            fits_clear_errmsg();
            return ff_err_set(err, "the compressed image's tiles (ZTILEn) hold more than the limit "
                                   "of %llu pixels", (unsigned long long)max_pixels);
        }
        if (p->naxes[i] <= 0) /* choose_hdu takes only axes > 0; no tile count may be 0 */
            return ff_err_set(err, "the compressed image's axis %d is empty", i + 1);
        ntiles[i] = (p->naxes[i] + tile[i] - 1) / tile[i];
        total *= ntiles[i]; /* at most the pixel count, which is bounded */
    }
    long long rows = 0;
    int col = 0, type = 0;
    long long data = 0, head = 0, end = 0, theap = 0, naxis1 = 0;
    long repeat = 0, width = 0;
    st = 0;
    fits_read_key(fp, TLONGLONG, "NAXIS2", &rows, NULL, &st);
    fits_read_key(fp, TLONGLONG, "NAXIS1", &naxis1, NULL, &st);
    fits_get_colnum(fp, CASEINSEN, "COMPRESSED_DATA", &col, &st);
    fits_get_coltype(fp, col, &type, &repeat, &width, &st);
    fits_get_hduaddrll(fp, &head, &data, &end, &st);
    if (st) {
        fits_clear_errmsg();
        return ff_err_set(err, "the compressed image's table has no readable COMPRESSED_DATA column");
    }
    if (type != (plio ? -TSHORT : -TBYTE)) {
        fits_clear_errmsg();
        return ff_err_set(err, "the compressed image's COMPRESSED_DATA column is not a "
                               "variable-length %s array", plio ? "16-bit integer" : "byte");
    }
    if (rows < total)
        return ff_err_set(err, "the compressed image has %lld tiles but its table only %lld rows",
                          total, rows);
    if (fits_read_key(fp, TLONGLONG, "THEAP", &theap, NULL, &st) != 0) {
        st = 0;
        theap = naxis1 * rows; /* check_size bounded both */
    }
    fits_clear_errmsg();
    /* Locate every tile first (CFITSIO's handle is not shared between threads), then check them
     * on nthreads threads: the check walks every compressed bit, as costly as decoding. */
    tile_job job = {.rice = rice, .gzip = gzip, .plio = plio, .bytepix = bytepix,
                    .blocksize = blocksize, .widths = widths, .total = total};
    job.tiles = calloc((size_t)(total ? total : 1), sizeof *job.tiles);
    if (!job.tiles)
        return ff_err_set(err, "out of memory checking %lld tiles", total);
    for (long long t = 0; t < total; t++) {
        long long len = 0, off = 0, idx = t;
        size_t npix = 1;
        for (int i = 0; i < p->naxis; i++) {
            long long k = idx % ntiles[i], left = p->naxes[i] - k * tile[i];
            idx /= ntiles[i];
            npix *= (size_t)(left < tile[i] ? left : tile[i]);
        }
        if (fits_read_descriptll(fp, col, t + 1, &len, &off, &st) != 0) {
            fits_clear_errmsg();
            free(job.tiles);
            return ff_err_set(err, "the compressed image's tile %lld has an unreadable descriptor",
                              t + 1);
        }
        if (len == 0) {
            /* CFITSIO then takes the tile from GZIP_COMPRESSED_DATA or UNCOMPRESSED_DATA and
             * allocates what their descriptors claim (fuzz_fits_core: a 4 GB malloc) */
            if (check_alt_tile_columns(fp, s, t + 1, data, theap, npix, alt_widths, &job.tiles[t],
                                       err) != 0) {
                free(job.tiles);
                return -1;
            }
            job.tiles[t].npix = npix;
            continue;
        }
        long long nwords = len;
        if (plio) {
            if (len > LLONG_MAX / 2) {
                free(job.tiles);
                return ff_err_set(err, "the compressed image's tile %lld lies beyond the end of the "
                                       "file (it is truncated or damaged)", t + 1);
            }
            len *= 2; /* bytes */
        }
        if (len < 0 || off < 0 || theap < 0 || (unsigned long long)data > s->size ||
            (unsigned long long)theap > s->size - (unsigned long long)data ||
            (unsigned long long)off > s->size - (unsigned long long)(data + theap) ||
            (unsigned long long)len > s->size - (unsigned long long)(data + theap + off)) {
            free(job.tiles);
            return ff_err_set(err, "the compressed image's tile %lld lies beyond the end of the "
                                   "file (it is truncated or damaged)", t + 1);
        }
        job.tiles[t] = (tile_ref){.c = s->buf + data + theap + off, .len = (size_t)len,
                                  .nwords = (size_t)nwords, .npix = npix, .present = 1};
    }
    /* RICE_1 integer tiles that span whole rows, with no tile scaling or per-tile blanks, are
     * decoded by ff_rice_decode straight into the image (see read_band), which checks every
     * read itself: no separate walk is needed for them. */
    int fast = keep && rice && (p->bitpix == 8 || p->bitpix == 16 || p->bitpix == 32) &&
               bytepix == p->bitpix / 8 && whole_rows(p, tile);
    for (long long t = 0; fast && t < total; t++)
        fast = job.tiles[t].present;
    if (fast) {
        int c2 = 0;
        double v;
        const char *cols[] = {"ZSCALE", "ZZERO", "ZBLANK", "UNCOMPRESSED_DATA", "GZIP_COMPRESSED_DATA"};
        for (size_t i = 0; fast && i < sizeof cols / sizeof cols[0]; i++) {
            st = 0;
            if (fits_get_colnum(fp, CASEINSEN, (char *)cols[i], &c2, &st) == 0)
                fast = 0;
        }
        st = 0;
        if (fits_read_key(fp, TDOUBLE, "ZSCALE", &v, NULL, &st) == 0)
            fast = 0;
        st = 0;
        if (fits_read_key(fp, TDOUBLE, "ZZERO", &v, NULL, &st) == 0)
            fast = 0;
        fits_clear_errmsg();
    }
    int fast_gzip = keep && gzip && whole_rows(p, tile) && tile_pix <= FF_GZIP_MAX_TILE_PIX;
    if (fast_gzip && gzip_plan(fp, p, ztype, &quant, &job, total, keep, err) < 0) {
        free(job.tiles);
        return -1;
    }
    fast_gzip = keep && keep->gzip;
    int n = nthreads < 1 ? 1 : nthreads > 16 ? 16 : nthreads;
    if (total < 64)
        n = 1;
    if (fast || fast_gzip)
        n = 0;
    pthread_t th[16];
    int created[16] = {0};
    for (int i = 0; i < n; i++)
        job.part[i] = (tile_part){.job = &job, .from = total * i / n, .to = total * (i + 1) / n,
                                  .failed_tile = -1};
    for (int i = 1; i < n; i++)
        created[i] = pthread_create(&th[i], NULL, check_tile_range, &job.part[i]) == 0;
    if (n > 0)
        check_tile_range(&job.part[0]);
    for (int i = 1; i < n; i++) {
        if (created[i])
            pthread_join(th[i], NULL);
        else
            check_tile_range(&job.part[i]); /* no thread to be had: check it here */
    }
    /* Report the first damaged tile in file order. */
    int rc = 0;
    long long bad = -1;
    ff_err first_err = {0};
    for (int i = 0; i < n; i++)
        if (job.part[i].failed_tile >= 0 && (bad < 0 || job.part[i].failed_tile < bad)) {
            bad = job.part[i].failed_tile;
            first_err = job.part[i].err;
        }
    if (fast || fast_gzip) {
        keep->widths = widths;
        keep->alt_widths = alt_widths;
        keep->usable = 1;
        keep->tiles = job.tiles;
        keep->total = total;
        keep->tile_pix = (size_t)tile[0] * (size_t)(p->naxis >= 2 ? tile[1] : 1);
        keep->bytepix = bytepix;
        keep->blocksize = blocksize;
        job.tiles = NULL;
    }
    free(job.tiles);
    if (bad >= 0) {
        *err = first_err;
        rc = ff_err_prefix(err, "the compressed image data are damaged: tile %lld of %lld", bad + 1,
                           total);
    }
    return rc;
}

/* ---- astropy's scaling ------------------------------------------------------------------ */

/* A header number as Python holds it: an int (exact) or a float. */
typedef struct num {
    int present, is_int;
    int64_t i;
    double d;
} num;

static num num_from_card(const ff_card *c)
{
    num n = {0};
    if (!c)
        return n;
    if (c->kind == FF_CARD_INT) {
        n.present = n.is_int = 1;
        n.i = c->ival;
        n.d = (double)c->ival;
    } else if (c->kind == FF_CARD_FLOAT) {
        n.present = 1;
        n.d = c->fval;
    }
    return n;
}

static int num_eq(num n, double v) /* v is a small integer or a power of two */
{
    return n.is_int ? (double)n.i == v && (int64_t)v == n.i : n.d == v;
}

typedef struct scaling {
    ff_dtype raw;     /* dtype CFITSIO delivers */
    ff_dtype out;     /* dtype astropy returns */
    int do_scale;     /* apply multiply/add */
    int flip_sign;    /* unsigned convention: flip the top bit (equals adding BZERO with wrap) */
    int int8_shift;   /* BITPIX 8, BZERO -128: uint8 -> int8 minus 128 */
    double bscale, bzero;
    int mul, add;     /* bscale != 1, bzero != 0 */
    int f32_mul, f32_add; /* float32 arithmetic uses the scalar rounded to float32 */
    int blank_on;     /* NaN where the raw (or converted) value equals blank */
    int64_t blank;
    int blank_on_converted; /* compressed: compare after the dtype conversion, before scaling */
    int nan_blanks;   /* compressed floats: CFITSIO gives NaN for ZBLANK (ff_quant_nulls) */
} scaling;

static ff_dtype raw_dtype(int bitpix)
{
    switch (bitpix) {
    case 8: return FF_U8;
    case 16: return FF_I16;
    case 32: return FF_I32;
    case 64: return FF_I64;
    case -32: return FF_F32;
    default: return FF_F64;
    }
}

static int cfitsio_type(ff_dtype t)
{
    switch (t) {
    case FF_U8: return TBYTE;
    case FF_I16: return TSHORT;
    case FF_I32: return TINT;
    case FF_I64: return TLONGLONG;
    case FF_F32: return TFLOAT;
    default: return TDOUBLE;
    }
}

/* numpy's value-based casting: a Python float outside float32's range forces float64 math */
static int fits_f32(double v)
{
    return !(isfinite(v) && fabs(v) > FLT_MAX);
}

static ff_dtype unsigned_dtype(int bitpix, num bscale, num bzero, int allow_int8)
{
    if (!num_eq(bscale, 1.0))
        return (ff_dtype)-1;
    if (allow_int8 && bitpix == 8 && num_eq(bzero, -128.0))
        return FF_I8;
    if (bitpix == 16 && num_eq(bzero, 32768.0))
        return FF_U16;
    if (bitpix == 32 && num_eq(bzero, 2147483648.0))
        return FF_U32;
    if (bitpix == 64 && num_eq(bzero, 9223372036854775808.0))
        return FF_U64;
    return (ff_dtype)-1;
}

static void set_arith(scaling *sc, num bscale, num bzero)
{
    sc->bscale = bscale.present ? bscale.d : 1.0;
    sc->bzero = bzero.present ? bzero.d : 0.0;
    sc->mul = sc->bscale != 1.0;
    sc->add = sc->bzero != 0.0;
    sc->f32_mul = bscale.is_int || fits_f32(sc->bscale);
    sc->f32_add = bzero.is_int || fits_f32(sc->bzero);
}

/* ImageHDU._get_scaled_image_data */
static void plan_image(scaling *sc, int bitpix, const ff_header *h)
{
    memset(sc, 0, sizeof *sc);
    sc->raw = sc->out = raw_dtype(bitpix);
    num bscale = num_from_card(ff_header_find(h, "BSCALE"));
    num bzero = num_from_card(ff_header_find(h, "BZERO"));
    if (!bscale.present)
        bscale = (num){1, 1, 1, 1.0};
    if (!bzero.present)
        bzero = (num){1, 1, 0, 0.0};
    const ff_card *bc = ff_header_find(h, "BLANK");
    int has_blank = bc && bc->kind == FF_CARD_INT && bitpix > 0;
    int unscaled = num_eq(bzero, 0.0) && num_eq(bscale, 1.0);
    if (unscaled && !has_blank)
        return;
    ff_dtype u = unscaled ? (ff_dtype)-1 : unsigned_dtype(bitpix, bscale, bzero, 1);
    if (u == FF_U16 || u == FF_U32 || u == FF_U64) {
        sc->out = u;
        sc->flip_sign = 1;
        return;
    }
    if (u == FF_I8) {
        sc->out = FF_I8;
        sc->int8_shift = 1;
        return;
    }
    if (bitpix > 16)
        sc->out = FF_F64;
    else if (bitpix > 0)
        sc->out = FF_F32;
    sc->do_scale = 1;
    set_arith(sc, bscale, bzero);
    if (has_blank && bc->ival != 0) { /* astropy tests `if self._blank:` so BLANK = 0 is inert */
        sc->blank_on = 1;
        sc->blank = bc->ival;
    }
}

/* CompImageHDU.data: scaling keywords come from the table header */
static void plan_compressed(scaling *sc, fitsfile *fp, int zbitpix)
{
    memset(sc, 0, sizeof *sc);
    sc->raw = sc->out = raw_dtype(zbitpix);
    int st = 0;
    double v;
    num bscale = {1, 1, 1, 1.0}, bzero = {1, 1, 0, 0.0};
    if (fits_read_key(fp, TDOUBLE, "BSCALE", &v, NULL, &st) == 0)
        bscale = (num){1, v == floor(v) && fabs(v) < 9e18, (int64_t)v, v};
    st = 0;
    if (fits_read_key(fp, TDOUBLE, "BZERO", &v, NULL, &st) == 0)
        bzero = (num){1, v == floor(v) && fabs(v) < 9e18, (int64_t)v, v};
    st = 0;
    ff_quant q;
    if (zbitpix < 0 && ff_quant_read(fp, zbitpix, &q, NULL) == 0)
        sc->nan_blanks = ff_quant_nulls(&q, zbitpix);
    fits_clear_errmsg();
    if (num_eq(bzero, 0.0) && num_eq(bscale, 1.0))
        return;
    ff_dtype u = unsigned_dtype(zbitpix, bscale, bzero, 0);
    if (u == FF_U16 || u == FF_U32 || u == FF_U64) {
        sc->out = u;
        sc->flip_sign = 1;
    } else {
        sc->out = zbitpix > 16 ? FF_F64 : zbitpix > 0 ? FF_F32 : sc->raw;
        sc->do_scale = 1;
        set_arith(sc, bscale, bzero);
    }
    long long zb = 0;
    int col = 0;
    if (fits_get_colnum(fp, CASEINSEN, "ZBLANK", &col, &st) == 0) {
        st = 0; /* a per-tile ZBLANK column: astropy's comparison with it does not apply per
                   pixel; leave blanks alone */
    } else {
        st = 0;
        if (fits_read_key(fp, TLONGLONG, "ZBLANK", &zb, NULL, &st) == 0 ||
            (st = 0, fits_read_key(fp, TLONGLONG, "BLANK", &zb, NULL, &st) == 0)) {
            sc->blank_on = 1;
            sc->blank_on_converted = 1;
            sc->blank = zb;
            /* np.where(blanks, nan, data) promotes unsigned data to float64 */
            if (sc->out == FF_U16 || sc->out == FF_U32 || sc->out == FF_U64)
                sc->out = FF_F64;
        }
    }
    fits_clear_errmsg();
}

/* Converts n values in place: raw values sit at the start of buf, output fills buf. The output
 * element is never smaller than the raw one, so walking backwards never overwrites unread input. */
#define EXPAND(RT, OT, EXPR)                                                                      \
    do {                                                                                          \
        const RT *in = (const RT *)buf;                                                           \
        OT *o = (OT *)buf;                                                                        \
        for (size_t j = n; j-- > 0;) {                                                            \
            RT r = in[j];                                                                         \
            o[j] = (EXPR);                                                                        \
        }                                                                                         \
    } while (0)

static float f32_scale(float x, const scaling *sc)
{
    if (sc->mul)
        x = sc->f32_mul ? x * (float)sc->bscale : (float)((double)x * sc->bscale);
    if (sc->add)
        x = sc->f32_add ? x + (float)sc->bzero : (float)((double)x + sc->bzero);
    return x;
}

static double f64_scale(double x, const scaling *sc)
{
    if (sc->mul)
        x = x * sc->bscale;
    if (sc->add)
        x = x + sc->bzero;
    return x;
}

static int is_blank_raw(int64_t r, const scaling *sc)
{
    return sc->blank_on && r == sc->blank;
}

static void convert(void *buf, size_t n, const scaling *sc)
{
    if (sc->flip_sign) {
        switch (sc->out) {
        case FF_U16: { uint16_t *p = buf; for (size_t j = 0; j < n; j++) p[j] ^= 0x8000u; } break;
        case FF_U32: { uint32_t *p = buf; for (size_t j = 0; j < n; j++) p[j] ^= 0x80000000u; } break;
        default: { uint64_t *p = buf; for (size_t j = 0; j < n; j++) p[j] ^= (uint64_t)1 << 63; } break;
        }
        return;
    }
    if (sc->int8_shift) {
        uint8_t *p = buf;
        for (size_t j = 0; j < n; j++)
            p[j] ^= 0x80u; /* (int8)(u - 128) */
        return;
    }
    if (!sc->do_scale && !sc->blank_on)
        return;
    /* astropy converts, multiplies, adds, then sets NaN at blanks. For compressed data with an
     * unsigned convention the blank test sees the converted (sign-flipped) value. */
    const double nan = NAN;
    if (sc->out == FF_F32) {
        switch (sc->raw) {
        case FF_U8: EXPAND(uint8_t, float, is_blank_raw(r, sc) ? (float)nan : f32_scale((float)r, sc)); break;
        case FF_I16: EXPAND(int16_t, float, is_blank_raw(r, sc) ? (float)nan : f32_scale((float)r, sc)); break;
        case FF_F32: {
            float *p = buf;
            for (size_t j = 0; j < n; j++) {
                int b = sc->blank_on && (double)p[j] == (double)sc->blank;
                p[j] = b ? (float)nan : f32_scale(p[j], sc);
            }
        } break;
        default: break;
        }
        return;
    }
    if (sc->out == FF_F64) {
        switch (sc->raw) {
        case FF_I32: EXPAND(int32_t, double, is_blank_raw(r, sc) ? nan : f64_scale((double)r, sc)); break;
        case FF_I64: EXPAND(int64_t, double, is_blank_raw(r, sc) ? nan : f64_scale((double)r, sc)); break;
        case FF_F64: {
            double *p = buf;
            for (size_t j = 0; j < n; j++) {
                int b = sc->blank_on && p[j] == (double)sc->blank;
                p[j] = b ? nan : f64_scale(p[j], sc);
            }
        } break;
        default: break;
        }
    }
}

/* Compressed unsigned convention with a blank keyword: astropy flips to unsigned, marks blanks on
 * the unsigned value before adding BZERO (a wrap-around add), then np.where makes it float. */
static void convert_unsigned_blank(void *buf, size_t n, const scaling *sc)
{
    const double nan = NAN;
    int64_t zb = sc->blank;
    if (sc->raw == FF_I16) {
        EXPAND(int16_t, double,
               ((int64_t)(uint16_t)r == zb) ? nan : (double)(uint16_t)((uint16_t)r ^ 0x8000u));
    } else if (sc->raw == FF_I32) {
        EXPAND(int32_t, double,
               ((int64_t)(uint32_t)r == zb) ? nan : (double)(uint32_t)((uint32_t)r ^ 0x80000000u));
    } else if (sc->raw == FF_I64) {
        uint64_t *p = buf;
        double *o = buf;
        for (size_t j = 0; j < n; j++) {
            uint64_t u = p[j];
            int b = zb >= 0 && u == (uint64_t)zb;
            o[j] = b ? nan : (double)(u ^ ((uint64_t)1 << 63));
        }
    }
}

/* ---- reading, optionally in bands on several threads ------------------------------------ */

typedef struct band {
    const src *s;
    int hdu;
    int compressed;
    const scaling *sc;
    int unsigned_blank;
    size_t first, count;   /* element range */
    unsigned char *out;    /* output base of the whole image */
    fitsfile *fp;          /* already open handle (band 0), or NULL to open one */
    const tile_list *tl;   /* usable: decode the band's tiles here, without CFITSIO */
    int status;
    int own_err;           /* err says what failed (else status is CFITSIO's) */
    int deferred;          /* tl was usable but the band went to CFITSIO */
    ff_err err;
} band;

/* The band's RICE_1 tiles decoded by ff_rice_decode: 0, or -1 with b->err. */
static int rice_band(band *b, unsigned char *dst, long long t0, long long t1)
{
    const tile_list *tl = b->tl;
    size_t rsize = ff_dtype_size(b->sc->raw);
    for (long long t = t0; t < t1; t++) {
        const tile_ref *r = &tl->tiles[t];
        size_t off = (size_t)t * tl->tile_pix - b->first;
        if (ff_rice_decode(r->c, r->len, dst + off * rsize, r->npix, tl->bytepix, tl->blocksize,
                           &b->err) != 0)
            return ff_err_prefix(&b->err, "tile %lld of %lld", t + 1, tl->total);
    }
    return 0;
}

/* The band's GZIP tiles decoded by gzip_tile.c: 0; or, when it defers a tile, the band's tiles
 * judged by zlib as check_tiles judges those CFITSIO decodes: -1 with b->err for the first bad
 * one, else FF_GZIP_DEFER (the band goes to CFITSIO). */
static int gzip_band(band *b, unsigned char *dst, long long t0, long long t1)
{
    const tile_list *tl = b->tl;
    size_t rsize = ff_dtype_size(b->sc->raw);
    ff_gzip_decoder *d = ff_gzip_decoder_new(tl->tile_pix);
    int rc = d ? 0 : FF_GZIP_DEFER;
    for (long long t = t0; t < t1 && rc == 0; t++)
        rc = ff_gzip_decode_tile(d, &tl->gz, t, dst + ((size_t)t * tl->tile_pix - b->first) * rsize);
    ff_gzip_decoder_free(d);
    if (rc == 0)
        return 0;
    for (long long t = t0; t < t1; t++) {
        const ff_gzip_tile *g = &tl->gz.tiles[t];
        if (ff_tile_check_gzip(g->c, g->len, g->npix, g->lossless ? tl->alt_widths : tl->widths,
                               &b->err) != 0)
            return ff_err_prefix(&b->err, "tile %lld of %lld", t + 1, tl->total);
    }
    return FF_GZIP_DEFER;
}

static void *read_band(void *arg)
{
    band *b = arg;
    if (b->tl && b->tl->usable) {
        const tile_list *tl = b->tl;
        unsigned char *dst = b->out + b->first * ff_dtype_size(b->sc->out);
        /* Raw values go to the start of the band's output, as CFITSIO would put them. */
        long long t0 = (long long)(b->first / tl->tile_pix);
        long long t1 = (long long)((b->first + b->count + tl->tile_pix - 1) / tl->tile_pix);
        if (t1 > tl->total)
            t1 = tl->total;
        int rc = tl->gzip ? gzip_band(b, dst, t0, t1) : rice_band(b, dst, t0, t1);
        if (rc < 0) {
            b->own_err = 1;
            b->status = DATA_DECOMPRESSION_ERR;
            return NULL;
        }
        if (rc == 0) {
            if (b->unsigned_blank)
                convert_unsigned_blank(dst, b->count, b->sc);
            else
                convert(dst, b->count, b->sc);
            b->status = 0;
            return NULL;
        }
        b->deferred = 1;
    }
    handle h = {0};
    fitsfile *fp = b->fp;
    int st = 0;
    if (!fp) {
        if (handle_open(&h, b->s, &st) == 0)
            fits_movabs_hdu(h.fp, b->hdu + 1, NULL, &st);
        fp = h.fp;
    }
    if (st == 0) {
        double z1 = 1.0, z0 = 0.0;
        if (b->compressed) {
            /* astropy hands CFITSIO ZSCALE/ZZERO keywords (not columns) as the tile scaling */
            int s2 = 0, col = 0;
            if (fits_get_colnum(fp, CASEINSEN, "ZSCALE", &col, &s2) != 0) {
                s2 = 0;
                if (fits_read_key(fp, TDOUBLE, "ZSCALE", &z1, NULL, &s2))
                    z1 = 1.0;
            }
            s2 = 0;
            if (fits_get_colnum(fp, CASEINSEN, "ZZERO", &col, &s2) != 0) {
                s2 = 0;
                if (fits_read_key(fp, TDOUBLE, "ZZERO", &z0, NULL, &s2))
                    z0 = 0.0;
            }
        }
        fits_set_bscale(fp, z1, z0, &st);
    }
    size_t osize = ff_dtype_size(b->sc->out);
    void *dst = b->out + b->first * osize;
    if (st == 0 && b->count) {
        /* NaN for undefined pixels of quantised floats (ff_quant_nulls); else no null check */
        float fnan = NAN;
        double dnan = NAN;
        void *nulval = !b->sc->nan_blanks ? NULL : b->sc->raw == FF_F32 ? (void *)&fnan : (void *)&dnan;
        int anynul = 0;
        fits_read_img(fp, cfitsio_type(b->sc->raw), (LONGLONG)b->first + 1, (LONGLONG)b->count,
                      nulval, dst, &anynul, &st);
    }
    if (st == 0) {
        if (b->unsigned_blank)
            convert_unsigned_blank(dst, b->count, b->sc);
        else
            convert(dst, b->count, b->sc);
    }
    b->status = st;
    if (h.fp)
        handle_close(&h);
    return NULL;
}

static long long tile_rows(fitsfile *fp, const probe *p)
{
    if (!p->compressed)
        return 1;
    int st = 0;
    long long t2 = 1, t3 = 1;
    fits_read_key(fp, TLONGLONG, "ZTILE2", &t2, NULL, &st);
    st = 0;
    fits_read_key(fp, TLONGLONG, "ZTILE3", &t3, NULL, &st);
    fits_clear_errmsg();
    if (p->naxis == 2)
        return t2 > 0 ? t2 : 1;
    if (p->naxis == 3 && t3 == 1)
        return (t2 > 0 && p->naxes[1] % t2 == 0) ? t2 : p->naxes[1];
    return 0; /* no useful band split */
}

static int read_data(fitsfile *fp, const src *s, int hdu, const probe *p, const scaling *sc,
                     const tile_list *tl, int nthreads, ff_image *img, int *own, ff_err *err)
{
    size_t osize = ff_dtype_size(sc->out);
    img->data = malloc(img->nelem * osize);
    if (!img->data)
        return ff_err_set(err, "out of memory for a %zu-pixel image", img->nelem);
    int unsigned_blank = sc->blank_on_converted && !sc->do_scale;

    size_t rowlen = p->naxis >= 1 && p->naxes[0] > 0 ? (size_t)p->naxes[0] : 0;
    if (rowlen == 0 || img->nelem % rowlen != 0) { /* choose_hdu takes only axes > 0 */
        free(img->data);
        img->data = NULL;
        return ff_err_set(err, "the image's first axis is empty");
    }
    size_t nrows = img->nelem / rowlen;
    long long unit = p->naxis >= 2 ? tile_rows(fp, p) : 0;
    if (nthreads > MAX_THREADS)
        nthreads = MAX_THREADS;
    if (unit <= 0 || !fits_is_reentrant())
        nthreads = 1;
    if (nthreads > 1 && img->nelem / (size_t)nthreads < MIN_PIXELS_PER_THREAD)
        nthreads = img->nelem >= 2 * MIN_PIXELS_PER_THREAD ? (int)(img->nelem / MIN_PIXELS_PER_THREAD) : 1;
    size_t units = unit > 0 ? (nrows + (size_t)unit - 1) / (size_t)unit : 1;
    if (nthreads > (int)units)
        nthreads = (int)units;
    if (nthreads < 1)
        nthreads = 1;

    band b[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    size_t row = 0;
    for (int t = 0; t < nthreads; t++) {
        size_t u_end = units * (size_t)(t + 1) / (size_t)nthreads;
        size_t row_end = nthreads == 1 ? nrows : u_end * (size_t)unit;
        if (row_end > nrows || t == nthreads - 1)
            row_end = nrows;
        b[t] = (band){.s = s, .hdu = hdu, .compressed = p->compressed, .sc = sc,
                      .unsigned_blank = unsigned_blank, .first = row * rowlen,
                      .count = (row_end - row) * rowlen, .out = img->data, .fp = t == 0 ? fp : NULL,
                      .tl = tl};
        row = row_end;
    }
    for (int t = 1; t < nthreads; t++)
        started[t] = pthread_create(&tid[t], NULL, read_band, &b[t]) == 0;
    read_band(&b[0]);
    for (int t = 1; t < nthreads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            read_band(&b[t]); /* no thread available: do it here */
    }
    for (int t = 0; t < nthreads; t++) {
        if (b[t].status) {
            char txt[FLEN_STATUS];
            cfitsio_text(b[t].status, txt, sizeof txt);
            free(img->data);
            img->data = NULL;
            if (b[t].own_err)
                return ff_err_set(err, "the compressed image data are damaged: %s", b[t].err.msg);
            if (p->compressed)
                return ff_err_set(err, "the compressed image data are damaged and could not be "
                                       "decoded (CFITSIO: %s)", txt);
            return ff_err_set(err, "the image data could not be read (CFITSIO: %s)", txt);
        }
    }
    *own = tl->usable;
    for (int t = 0; t < nthreads; t++)
        *own &= !b[t].deferred;
    return 0;
}

/* ---- entry points ----------------------------------------------------------------------- */

/* CFITSIO fills its driver table lazily on the first open; two threads opening their first file
 * at once race on it. Fill it once, before any open. */
static pthread_once_t cfitsio_once = PTHREAD_ONCE_INIT;
static void cfitsio_init(void)
{
    fits_init_cfitsio();
}

/* Everything ff_fits_read checks before it decodes a pixel: the header pre-scan, CFITSIO's open,
 * the HDU choice, the pixel limit, the data size and the tile table with every tile. On success
 * h is open on the chosen HDU, *p and *hdu describe it, *npix is its pixel count and tl holds its
 * RICE_1 tiles when read_band decodes them itself. */
static int open_checked(const src *s, const ff_fits_opts *opts, handle *h, probe *p, int *hdu,
                        uint64_t *npix, tile_list *tl, ff_err *err)
{
    uint64_t max_pixels = opts && opts->max_pixels ? opts->max_pixels : FF_FITS_DEFAULT_MAX_PIXELS;
    if (ff_fits_prescan(s->buf, s->size, NULL, err) != 0)
        return -1;
    int st = 0;
    if (handle_open(h, s, &st)) {
        char t[FLEN_STATUS];
        cfitsio_text(st, t, sizeof t);
        return ff_err_set(err, "the primary header is not valid FITS (CFITSIO: %s)", t);
    }
    if (choose_hdu(h->fp, hdu, p, err) != 0)
        return -1;
    *npix = 1;
    for (int i = 0; i < p->naxis; i++) {
        if ((uint64_t)p->naxes[i] > max_pixels || *npix * (uint64_t)p->naxes[i] > max_pixels) {
            uint64_t shown = 1;
            int over = 0;
            for (int k = 0; k < p->naxis; k++)
                over |= __builtin_mul_overflow(shown, (uint64_t)p->naxes[k], &shown);
            if (over)
                return ff_err_set(err, "the image in HDU %d is too large to address (axes multiply "
                                       "past 2^64 pixels)", *hdu);
            return ff_err_set(err, "the image in HDU %d has %llu pixels, more than the limit of %llu",
                              *hdu, (unsigned long long)shown, (unsigned long long)max_pixels);
        }
        *npix *= (uint64_t)p->naxes[i];
    }
    if (check_size(h->fp, s, p, err) != 0)
        return -1;
    if (p->compressed &&
        check_tiles(h->fp, s, p, max_pixels, opts ? opts->nthreads : 1,
                    opts && opts->cfitsio_only ? NULL : tl, err) != 0)
        return -1;
    return 0;
}

int ff_fits_check_mem(const void *buf, size_t size, const ff_fits_opts *opts, ff_err *err)
{
    pthread_once(&cfitsio_once, cfitsio_init);
    if (size == 0)
        return ff_err_set(err, "file is empty");
    src s = {.size = size, .cap = round_block(size)};
    s.buf = malloc(s.cap);
    if (!s.buf)
        return ff_err_set(err, "out of memory reading a %zu-byte file", size);
    memcpy(s.buf, buf, size);
    memset(s.buf + size, 0, s.cap - size);
    handle h = {0};
    probe p;
    int hdu = -1;
    uint64_t npix = 0;
    tile_list tl = {0};
    int rc = open_checked(&s, opts, &h, &p, &hdu, &npix, &tl, err);
    free(tl.tiles);
    ff_gzip_image_free(&tl.gz);
    handle_close(&h);
    src_free(&s);
    fits_clear_errmsg();
    return rc;
}

int ff_fits_read(const char *path, const ff_fits_opts *opts, ff_fits *out, ff_err *err)
{
    pthread_once(&cfitsio_once, cfitsio_init);
    memset(out, 0, sizeof *out);
    uint64_t max_pixels = opts && opts->max_pixels ? opts->max_pixels : FF_FITS_DEFAULT_MAX_PIXELS;
    int nthreads = opts ? opts->nthreads : 1;

    src s;
    if (load_file(path, max_pixels, &s, err) != 0)
        return -1;
    handle h = {0};
    int st = 0, rc = -1;
    char *hdr = NULL;
    tile_list tl = {0};
    probe p;
    int hdu = -1;
    uint64_t npix = 0;
    if (open_checked(&s, opts, &h, &p, &hdu, &npix, &tl, err) != 0)
        goto done;

    int nkeys = 0;
    if (p.compressed) {
        /* Build the image header as astropy shows it (CFITSIO's conversion gives a primary-style
         * header with SIMPLE, EXTEND and its own COMMENT cards). */
        if (compressed_header(h.fp, &out->header, err) != 0)
            goto done;
    } else if (fits_convert_hdr2str(h.fp, 0, NULL, 0, &hdr, &nkeys, &st)) {
        char t[FLEN_STATUS];
        cfitsio_text(st, t, sizeof t);
        if (hdr) { /* CFITSIO may fail after allocating the string */
            int s2 = 0;
            fits_free_memory(hdr, &s2);
        }
        hdr = NULL;
        st = 0;
        if (!p.compressed) {
            ff_err_set(err, "the header of HDU %d could not be read (CFITSIO: %s)", hdu, t);
            goto done;
        }
        if (compressed_header(h.fp, &out->header, err) != 0)
            goto done;
    } else if (nkeys < 0 || ff_header_parse(hdr, (size_t)nkeys, &out->header, err) != 0) {
        goto done;
    }

    scaling sc;
    if (p.compressed)
        plan_compressed(&sc, h.fp, p.bitpix);
    else
        plan_image(&sc, p.bitpix, &out->header);

    out->hdu = hdu;
    out->compressed = p.compressed;
    out->bitpix = p.bitpix;
    if (p.compressed) {
        char ztype[FLEN_VALUE] = "";
        int s2 = 0;
        if (fits_read_key(h.fp, TSTRING, "ZCMPTYPE", ztype, NULL, &s2) == 0 &&
            strlen(ztype) < sizeof out->compression)
            memcpy(out->compression, ztype, strlen(ztype) + 1);
        fits_clear_errmsg();
    }
    out->image.dtype = sc.out;
    out->image.ndim = p.naxis;
    out->image.nelem = (size_t)npix;
    for (int i = 0; i < p.naxis; i++)
        out->image.shape[p.naxis - 1 - i] = (size_t)p.naxes[i];
    if (read_data(h.fp, &s, hdu, &p, &sc, &tl, nthreads, &out->image, &out->own_tiles, err) != 0)
        goto done;
    rc = 0;
done:
    free(tl.tiles);
    ff_gzip_image_free(&tl.gz);
    if (hdr) {
        int s2 = 0;
        fits_free_memory(hdr, &s2);
    }
    handle_close(&h);
    src_free(&s);
    fits_clear_errmsg();
    if (rc != 0)
        ff_fits_free(out);
    return rc;
}

void ff_fits_free(ff_fits *f)
{
    if (!f)
        return;
    ff_header_free(&f->header);
    ff_image_free(&f->image);
    memset(f, 0, sizeof *f);
}
