/* Corrupted tiles CFITSIO does not survive are refused here first (tilecheck.h): every RICE_1
 * tile is walked with bounds checks, with the parameters CFITSIO will use (ZVAL1 the block size,
 * default 32; ZVAL2 the bytes per pixel, default 4; swapped when written the other way round), and
 * every GZIP_1/GZIP_2 tile is inflated once to check its size, and every HCOMPRESS_1 tile's
 * header must match its size, and every PLIO_1 line list must lie inside its tile. Each tile's
 * pixel count comes from ZNAXISn/ZTILEn, edge tiles clipped. */
#include "core/fits/fits_impl.h"
#include "core/fits/quantize.h"
#include "core/fits/tilecheck.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tile_job;
typedef struct tile_part {
    struct tile_job *job;
    long long from, to;
    long long failed_tile; /* -1 when every tile of the range is sound */
    ff_err err;
} tile_part;

typedef struct tile_job {
    int rice, gzip, gzip2, plio, bytepix, blocksize;
    unsigned widths, alt_widths; /* what a gzip tile may inflate to: in COMPRESSED_DATA, in
                                    GZIP_COMPRESSED_DATA */
    ff_quant quant;
    long long total;
    ff_fits_tile *tiles;
    tile_part part[FF_FITS_MAX_THREADS];
} tile_job;

static void *check_tile_range(void *arg)
{
    tile_part *pt = arg;
    const tile_job *j = pt->job;
    pt->failed_tile = -1;
    for (long long t = pt->from; t < pt->to; t++) {
        const ff_fits_tile *r = &j->tiles[t];
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
static int check_alt_tile_columns(fitsfile *fp, const ff_fits_src *s, long long row, long long data,
                                  long long theap, size_t npix, unsigned widths, ff_fits_tile *ref,
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

/* The compression type: RICE_1, GZIP_1/2, HCOMPRESS_1 or PLIO_1 into job; any other is refused
 * (CFITSIO 4.2 refuses NOCOMPRESS, BZIP2_1 and the rest tile by tile, and leaks a tile buffer each
 * time). 1 for HCOMPRESS_1, 0 for the others, -1 with err. */
static int compression_kind(fitsfile *fp, tile_job *job, ff_err *err)
{
    char ztype[FLEN_VALUE] = "";
    int st = 0;
    if (fits_read_key(fp, TSTRING, "ZCMPTYPE", ztype, NULL, &st) != 0)
        ztype[0] = '\0';
    fits_clear_errmsg();
    job->rice = strcmp(ztype, "RICE_1") == 0 || strcmp(ztype, "RICE_ONE") == 0;
    job->gzip2 = strcmp(ztype, "GZIP_2") == 0;
    job->gzip = strcmp(ztype, "GZIP_1") == 0 || job->gzip2;
    job->plio = strcmp(ztype, "PLIO_1") == 0;
    if (strcmp(ztype, "HCOMPRESS_1") == 0)
        return 1;
    if (job->rice || job->gzip || job->plio)
        return 0;
    char shown[FLEN_VALUE];
    size_t n = 0;
    for (; ztype[n] && n + 1 < sizeof shown; n++)
        shown[n] = ztype[n] > 0x20 && ztype[n] < 0x7f ? ztype[n] : '?';
    shown[n] = '\0';
    return ff_err_set(err, "the image is compressed with ZCMPTYPE '%s', which is not supported "
                           "(RICE_1, GZIP_1, GZIP_2, HCOMPRESS_1 and PLIO_1 are)", shown);
}

/* RICE_1's block size (ZVAL1, 32) and bytes per pixel (ZVAL2, 4), swapped when written the other
 * way round; the quantisation (quantize.h: a bad ZQUANTIZ or ZDITHER0 is refused, -1 with err);
 * and the widths a gzip tile may inflate to (bit i: 2^i bytes per pixel): losslessly compressed
 * floats (no ZSCALE column, or ZQUANTIZ = 'NONE') 4 or 8 bytes, and exactly the float's size from
 * GZIP_COMPRESSED_DATA (CFITSIO dereferences a null buffer for 4-byte tiles of a 64-bit image);
 * integers and quantised floats 1, 2 or 4 (CFITSIO leaves 8-byte tiles of those unconverted and
 * returns whatever its buffer held); 64-bit integers 1, 2, 4 or 8. */
static int tile_params(fitsfile *fp, const ff_fits_probe *p, tile_job *job, ff_err *err)
{
    int st = 0;
    job->blocksize = 32;
    job->bytepix = 4;
    if (fits_read_key(fp, TINT, "ZVAL1", &job->blocksize, NULL, &st) != 0)
        job->blocksize = 32;
    st = 0;
    if (fits_read_key(fp, TINT, "ZVAL2", &job->bytepix, NULL, &st) != 0)
        job->bytepix = 4;
    if (job->blocksize < 16 && job->bytepix > 8) {
        int t = job->blocksize;
        job->blocksize = job->bytepix;
        job->bytepix = t;
    }
    fits_clear_errmsg();
    if (ff_quant_read(fp, p->bitpix, &job->quant, err) != 0)
        return -1;
    job->widths = job->alt_widths = p->bitpix == 64 ? 0xF : 0x7;
    if (p->bitpix < 0) {
        if (job->quant.method == FF_QUANT_LOSSLESS || !job->quant.scale_column)
            job->widths = (1u << 2) | (1u << 3);
        job->alt_widths = p->bitpix == -32 ? 1u << 2 : 1u << 3;
    }
    return 0;
}

/* The tile grid: tile[i] pixels along axis i (ZTILEn), ntiles[i] tiles, job->total in all. */
static int tile_grid(fitsfile *fp, const ff_fits_probe *p, uint64_t max_pixels, long long *tile,
                     long long *ntiles, tile_job *job, ff_err *err)
{
    uint64_t tile_pix = 1;
    job->total = 1;
    for (int i = 0; i < p->naxis; i++) {
        char key[16];
        snprintf(key, sizeof key, "ZTILE%d", i + 1);
        int st = 0;
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
        job->total *= ntiles[i]; /* at most the pixel count, which is bounded */
    }
    fits_clear_errmsg();
    return 0;
}

/* Where the tiles are: the COMPRESSED_DATA column, the data unit's start and the heap's offset in
 * it (THEAP, by default after the table). */
typedef struct tile_table {
    int col;
    long long data, theap;
} tile_table;

static int tile_table_of(fitsfile *fp, const tile_job *job, tile_table *tt, ff_err *err)
{
    long long rows = 0, head = 0, end = 0, naxis1 = 0;
    int type = 0, st = 0;
    long repeat = 0, width = 0;
    fits_read_key(fp, TLONGLONG, "NAXIS2", &rows, NULL, &st);
    fits_read_key(fp, TLONGLONG, "NAXIS1", &naxis1, NULL, &st);
    fits_get_colnum(fp, CASEINSEN, "COMPRESSED_DATA", &tt->col, &st);
    fits_get_coltype(fp, tt->col, &type, &repeat, &width, &st);
    fits_get_hduaddrll(fp, &head, &tt->data, &end, &st);
    if (st) {
        fits_clear_errmsg();
        return ff_err_set(err, "the compressed image's table has no readable COMPRESSED_DATA column");
    }
    if (type != (job->plio ? -TSHORT : -TBYTE)) {
        fits_clear_errmsg();
        return ff_err_set(err, "the compressed image's COMPRESSED_DATA column is not a "
                               "variable-length %s array", job->plio ? "16-bit integer" : "byte");
    }
    if (rows < job->total)
        return ff_err_set(err, "the compressed image has %lld tiles but its table only %lld rows",
                          job->total, rows);
    if (fits_read_key(fp, TLONGLONG, "THEAP", &tt->theap, NULL, &st) != 0)
        tt->theap = naxis1 * rows; /* check_size bounded both */
    fits_clear_errmsg();
    return 0;
}

/* Tile t (0-based): its pixels (edge tiles clipped) and where its bytes are; a tile stored in
 * another column is checked there. -1 with err. */
static int locate_tile(fitsfile *fp, const ff_fits_src *s, const ff_fits_probe *p,
                       const long long *tile, const long long *ntiles, const tile_table *tt,
                       tile_job *job, long long t, ff_err *err)
{
    long long len = 0, off = 0, idx = t;
    size_t npix = 1;
    int st = 0;
    for (int i = 0; i < p->naxis; i++) {
        long long k = idx % ntiles[i], left = p->naxes[i] - k * tile[i];
        idx /= ntiles[i];
        npix *= (size_t)(left < tile[i] ? left : tile[i]);
    }
    if (fits_read_descriptll(fp, tt->col, t + 1, &len, &off, &st) != 0) {
        fits_clear_errmsg();
        return ff_err_set(err, "the compressed image's tile %lld has an unreadable descriptor", t + 1);
    }
    if (len == 0) { /* CFITSIO then takes the tile from GZIP_COMPRESSED_DATA or UNCOMPRESSED_DATA
                       and allocates what their descriptors claim (fuzz_fits_core: a 4 GB malloc) */
        job->tiles[t].npix = npix;
        return check_alt_tile_columns(fp, s, t + 1, tt->data, tt->theap, npix, job->alt_widths,
                                      &job->tiles[t], err);
    }
    long long nwords = len;
    int beyond = job->plio && len > LLONG_MAX / 2;
    if (job->plio && !beyond)
        len *= 2; /* bytes */
    unsigned long long data = (unsigned long long)tt->data, theap = (unsigned long long)tt->theap;
    if (beyond || len < 0 || off < 0 || tt->theap < 0 || data > s->size || theap > s->size - data ||
        (unsigned long long)off > s->size - (data + theap) ||
        (unsigned long long)len > s->size - (data + theap + (unsigned long long)off))
        return ff_err_set(err, "the compressed image's tile %lld lies beyond the end of the file "
                               "(it is truncated or damaged)", t + 1);
    job->tiles[t] = (ff_fits_tile){.c = s->buf + tt->data + tt->theap + off, .len = (size_t)len,
                                   .nwords = (size_t)nwords, .npix = npix, .present = 1};
    return 0;
}

/* Tiles that each cover whole rows, so that tile t holds elements t * tile_pix onwards. */
static int whole_rows(const ff_fits_probe *p, const long long *tile)
{
    return tile[0] == p->naxes[0] &&
           (p->naxis <= 2 || (tile[2] == 1 && p->naxes[1] % tile[1] == 0));
}

/* GZIP_1/GZIP_2 images of whole-row tiles that gzip_tile.c reproduces (every tile in
 * COMPRESSED_DATA, or for floats in GZIP_COMPRESSED_DATA): sets keep->gzip and its plan.
 * Returns 0 (decided either way) or -1 with err. */
static int gzip_plan(fitsfile *fp, const ff_fits_probe *p, const tile_job *job,
                     ff_fits_tiles *keep, ff_err *err)
{
    for (long long t = 0; t < job->total; t++)
        if (!job->tiles[t].present && !(p->bitpix < 0 && job->tiles[t].alt))
            return 0;
    int rc = ff_gzip_plan(fp, p->bitpix, job->gzip2, job->total, &job->quant, &keep->gz, err);
    if (rc <= 0)
        return rc;
    for (long long t = 0; t < job->total; t++) {
        const ff_fits_tile *r = &job->tiles[t];
        ff_gzip_tile *g = &keep->gz.tiles[t];
        g->c = r->present ? r->c : r->alt;
        g->len = r->present ? r->len : r->alt_len;
        g->npix = r->npix;
        g->lossless = !r->present;
    }
    keep->gzip = 1;
    return 0;
}

/* RICE_1 integer tiles that span whole rows, with no tile scaling or per-tile blanks, are decoded
 * by ff_rice_decode straight into the image (bands.c), which checks every read itself: no
 * separate walk is needed for them. */
static int decoded_here(fitsfile *fp, const ff_fits_probe *p, const tile_job *job,
                        const long long *tile)
{
    int fast = job->rice && (p->bitpix == 8 || p->bitpix == 16 || p->bitpix == 32) &&
               job->bytepix == p->bitpix / 8 && whole_rows(p, tile);
    for (long long t = 0; fast && t < job->total; t++)
        fast = job->tiles[t].present;
    if (!fast)
        return 0;
    int c2 = 0, st = 0;
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
    return fast;
}

/* Checks the tiles on n threads (the caller's among them): the check walks every compressed bit,
 * as costly as decoding. Returns the first damaged tile in file order (its error in err), or -1. */
static long long check_all(tile_job *job, int n, ff_err *err)
{
    pthread_t th[FF_FITS_MAX_THREADS];
    int created[FF_FITS_MAX_THREADS] = {0};
    for (int i = 0; i < n; i++)
        job->part[i] = (tile_part){.job = job, .from = job->total * i / n,
                                   .to = job->total * (i + 1) / n, .failed_tile = -1};
    for (int i = 1; i < n; i++)
        created[i] = pthread_create(&th[i], NULL, check_tile_range, &job->part[i]) == 0;
    if (n > 0)
        check_tile_range(&job->part[0]);
    for (int i = 1; i < n; i++) {
        if (created[i])
            pthread_join(th[i], NULL);
        else
            check_tile_range(&job->part[i]); /* no thread to be had: check it here */
    }
    long long bad = -1;
    for (int i = 0; i < n; i++)
        if (job->part[i].failed_tile >= 0 && (bad < 0 || job->part[i].failed_tile < bad)) {
            bad = job->part[i].failed_tile;
            *err = job->part[i].err;
        }
    return bad;
}

int ff_fits_check_tiles(fitsfile *fp, const ff_fits_src *s, const ff_fits_probe *p,
                        uint64_t max_pixels, int nthreads, ff_fits_tiles *keep, ff_err *err)
{
    tile_job job = {0};
    long long tile[FF_MAX_NDIM], ntiles[FF_MAX_NDIM];
    tile_table tt = {0};
    if (compression_kind(fp, &job, err) < 0)
        return -1;
    if (tile_params(fp, p, &job, err) != 0)
        return -1;
    if (tile_grid(fp, p, max_pixels, tile, ntiles, &job, err) != 0 ||
        tile_table_of(fp, &job, &tt, err) != 0)
        return -1;
    /* Locate every tile first (CFITSIO's handle is not shared between threads), then check. */
    job.tiles = calloc((size_t)(job.total ? job.total : 1), sizeof *job.tiles);
    if (!job.tiles)
        return ff_err_set(err, "out of memory checking %lld tiles", job.total);
    for (long long t = 0; t < job.total; t++)
        if (locate_tile(fp, s, p, tile, ntiles, &tt, &job, t, err) != 0) {
            free(job.tiles);
            return -1;
        }
    int fast = keep && decoded_here(fp, p, &job, tile);
    size_t tile_pix = (size_t)tile[0] * (size_t)(p->naxis >= 2 ? tile[1] : 1);
    /* GZIP tiles our decoder takes are checked as they are decoded (bands.c), and by zlib when
     * it hands one back */
    if (keep && !fast && job.gzip && whole_rows(p, tile) && tile_pix <= FF_GZIP_MAX_TILE_PIX &&
        gzip_plan(fp, p, &job, keep, err) < 0) {
        free(job.tiles);
        return -1;
    }
    fast = fast || (keep && keep->gzip);
    int n = nthreads < 1 ? 1 : nthreads > FF_FITS_MAX_THREADS ? FF_FITS_MAX_THREADS : nthreads;
    if (job.total < 64)
        n = 1;
    ff_err first_err = {0};
    long long bad = check_all(&job, fast ? 0 : n, &first_err);
    if (fast) {
        keep->usable = 1;
        keep->tiles = job.tiles;
        keep->total = job.total;
        keep->tile_pix = tile_pix;
        keep->bytepix = job.bytepix;
        keep->blocksize = job.blocksize;
        keep->widths = job.widths;
        keep->alt_widths = job.alt_widths;
        job.tiles = NULL;
    }
    free(job.tiles);
    if (bad < 0)
        return 0;
    *err = first_err;
    return ff_err_prefix(err, "the compressed image data are damaged: tile %lld of %lld", bad + 1,
                         job.total);
}

void ff_fits_tiles_free(ff_fits_tiles *tl)
{
    free(tl->tiles);
    tl->tiles = NULL;
    ff_gzip_image_free(&tl->gz);
}
