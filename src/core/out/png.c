/* 8-bit PNG encoding, streamed straight into an ff_sink (no whole-file buffer): through libspng
 * (ff_png_write), and for one-channel images (ff_png_write8: the renders) written here, see
 * below. Default settings, measured on 4096x4096 solar renders (CPU ms per image / MB): zlib level 1
 * with the RLE strategy and the UP filter on every row. Against libspng's defaults (level 6,
 * adaptive choice of all five filters: ~1800 ms) and level 1 with adaptive filters (~500 ms),
 * it takes ~150-230 ms and gives the smallest files of the fast settings: for noise-dominated
 * EUV images LZ matches are rare, and for flat areas (off-disk, magnetogram) runs are enough. */
#include "core/out/png.h"

#include <libdeflate.h>

#include "core/out/deflate_fast.h"

#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stream {
    ff_sink *out;
    ff_err err;
    int failed;
};

static int stream_write(spng_ctx *ctx, void *user, void *src, size_t len)
{
    (void)ctx;
    struct stream *s = user;
    if (ff_sink_write(s->out, src, len, &s->err) != 0) {
        s->failed = 1;
        return SPNG_IO_ERROR;
    }
    return 0;
}

/* A tEXt value holds Latin-1 without NUL; keep it to printable ASCII and newline. */
static char *clean_text(const char *s, size_t *len)
{
    size_t n = s ? strlen(s) : 0;
    char *t = malloc(n + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        t[i] = (c == '\n' || (c >= 0x20 && c < 0x7f)) ? (char)c : '?';
    }
    t[n] = 0;
    *len = n;
    return t;
}

static int key_ok(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n < 1 || n > 79 || k[0] == ' ' || k[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c < 0x20 || c > 0x7e || (c == ' ' && k[i + 1] == ' '))
            return 0;
    }
    return 1;
}

const ff_png_options ff_png_default_options = {
    .level = 1,
    .strategy = 3, /* Z_RLE */
    .filters = SPNG_FILTER_CHOICE_UP,
    .mem_level = 9, /* zlib's largest hash table: fewer collisions, a faster deflate at a level */
};

static int check_image(const ff_png_image *img, size_t ntext, ff_err *err)
{
    if (!img->pixels || img->width == 0 || img->height == 0 || img->width > 0x7fffffffu ||
        img->height > 0x7fffffffu)
        return ff_err_set(err, "cannot write a %ux%u PNG: width and height must be 1..2^31-1",
                          img->width, img->height);
    if (img->channels != 1 && img->channels != 3)
        return ff_err_set(err, "cannot write a PNG of %d channels (1 or 3)", img->channels);
    const ff_png_palette *pal = img->pal;
    if (pal && (img->channels != 1 || pal->n < 1 || pal->n > 256 || pal->ntrans > pal->n))
        return ff_err_set(err, "PNG palette of %u entries (%u transparent) is not valid", pal->n,
                          pal->ntrans);
    if (ntext > 64)
        return ff_err_set(err, "too many PNG text chunks (%zu, at most 64)", ntext);
    return 0;
}

/* libspng's copies of the tEXt chunks (freed with free_texts); NULL with err when one is not
 * acceptable or memory runs out. */
static struct spng_text *make_texts(const ff_png_text *text, size_t ntext, ff_err *err)
{
    struct spng_text *tx = calloc(ntext, sizeof *tx);
    if (!tx) {
        ff_err_set(err, "out of memory copying PNG text");
        return NULL;
    }
    for (size_t i = 0; i < ntext; i++) {
        if (!key_ok(text[i].key)) {
            ff_err_set(err, "PNG text keyword \"%.80s\" is not 1-79 printable characters",
                       text[i].key ? text[i].key : "(null)");
            goto fail;
        }
        snprintf(tx[i].keyword, sizeof tx[i].keyword, "%s", text[i].key);
        tx[i].type = SPNG_TEXT;
        tx[i].text = clean_text(text[i].text, &tx[i].length);
        if (!tx[i].text) {
            ff_err_set(err, "out of memory copying PNG text");
            goto fail;
        }
    }
    return tx;
fail:
    for (size_t i = 0; i < ntext; i++)
        free(tx[i].text);
    free(tx);
    return NULL;
}

static void free_texts(struct spng_text *tx, size_t ntext)
{
    for (size_t i = 0; tx && i < ntext; i++)
        free(tx[i].text);
    free(tx);
}

/* PLTE, and tRNS when some entries are transparent. A libspng status. */
static int set_palette(spng_ctx *ctx, const ff_png_palette *pal)
{
    struct spng_plte plte = {.n_entries = pal->n};
    for (unsigned i = 0; i < pal->n; i++) {
        plte.entries[i].red = pal->rgb[i][0];
        plte.entries[i].green = pal->rgb[i][1];
        plte.entries[i].blue = pal->rgb[i][2];
        plte.entries[i].alpha = 255;
    }
    int ret = spng_set_plte(ctx, &plte);
    if (ret || !pal->ntrans)
        return ret;
    struct spng_trns trns = {.n_type3_entries = pal->ntrans};
    memcpy(trns.type3_alpha, pal->alpha, pal->ntrans);
    return spng_set_trns(ctx, &trns);
}

/* The header, the compression settings and the chunks before the image data. A libspng status. */
static int set_up(spng_ctx *ctx, const ff_png_image *img, const ff_png_options *opt,
                  struct spng_text *tx, size_t ntext)
{
    struct spng_ihdr ihdr = {
        .width = img->width,
        .height = img->height,
        .bit_depth = 8,
        .color_type = img->pal             ? SPNG_COLOR_TYPE_INDEXED
                      : img->channels == 3 ? SPNG_COLOR_TYPE_TRUECOLOR
                                           : SPNG_COLOR_TYPE_GRAYSCALE,
    };
    int ret;
    if ((ret = spng_set_ihdr(ctx, &ihdr)) ||
        (ret = spng_set_option(ctx, SPNG_IMG_COMPRESSION_LEVEL, opt->level)) ||
        (ret = spng_set_option(ctx, SPNG_IMG_COMPRESSION_STRATEGY, opt->strategy)) ||
        (ret = spng_set_option(ctx, SPNG_FILTER_CHOICE, opt->filters)) ||
        (opt->mem_level && (ret = spng_set_option(ctx, SPNG_IMG_MEM_LEVEL, opt->mem_level))))
        return ret;
    if (img->pal && (ret = set_palette(ctx, img->pal)))
        return ret;
    return ntext ? spng_set_text(ctx, tx, (uint32_t)ntext) : 0;
}

int ff_png_write(const ff_png_image *img, const ff_png_text *text, size_t ntext,
                 const ff_png_options *opt, ff_sink *out, ff_err *err)
{
    if (!opt)
        opt = &ff_png_default_options;
    if (check_image(img, ntext, err) != 0)
        return -1;
    if (!out)
        return ff_err_set(err, "cannot write a PNG to nowhere");
    struct spng_text *tx = NULL;
    if (ntext && !(tx = make_texts(text, ntext, err)))
        return -1;
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx) {
        free_texts(tx, ntext);
        return ff_err_set(err, "out of memory starting a PNG encoder");
    }
    struct stream st = {.out = out};
    size_t size = (size_t)img->width * img->height * (size_t)img->channels;
    int ret = spng_set_png_stream(ctx, stream_write, &st);
    if (!ret)
        ret = set_up(ctx, img, opt, tx, ntext);
    if (!ret)
        ret = spng_encode_image(ctx, img->pixels, size, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    spng_ctx_free(ctx);
    free_texts(tx, ntext);
    if (!ret)
        return 0;
    if (!st.failed)
        return ff_err_set(err, "PNG encoder failed: %s", spng_strerror(ret));
    if (err)
        *err = st.err;
    return ff_err_prefix(err, "writing PNG");
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes one chunk (length, type, data, CRC over type and data). */
static int put_chunk(ff_sink *out, const char type[4], const uint8_t *data, uint32_t len, ff_err *err)
{
    uint8_t head[8], tail[4];
    put_be32(head, len);
    memcpy(head + 4, type, 4);
    uint32_t crc = libdeflate_crc32(0, type, 4); /* PCLMUL: twice zlib's speed here */
    if (len)
        crc = libdeflate_crc32(crc, data, len);
    put_be32(tail, (uint32_t)crc);
    if (ff_sink_write(out, head, 8, err) != 0 || ff_sink_write(out, data, len, err) != 0 ||
        ff_sink_write(out, tail, 4, err) != 0)
        return -1;
    return 0;
}

int ff_png_gray_from_indexed(const uint8_t *png, size_t len, const char *table_key,
                             const char *table_value, ff_sink *out, ff_err *err)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len < 8 || memcmp(png, sig, 8) != 0)
        return ff_err_set(err, "not a PNG");
    if (ff_sink_write(out, sig, 8, err) != 0)
        return -1;
    size_t pos = 8;
    size_t klen = strlen(table_key);
    while (pos < len) {
        if (len - pos < 12)
            return ff_err_set(err, "PNG chunk header cut short");
        uint32_t n = get_be32(png + pos);
        const uint8_t *type = png + pos + 4, *data = png + pos + 8;
        if (n > len - pos - 12)
            return ff_err_set(err, "PNG chunk runs past the end");
        size_t whole = (size_t)n + 12;
        if (!memcmp(type, "IHDR", 4)) {
            if (n != 13 || data[8] != 8 || data[9] != 3)
                return ff_err_set(err, "not an 8-bit indexed PNG");
            uint8_t ihdr[13];
            memcpy(ihdr, data, 13);
            ihdr[9] = 0; /* gray */
            if (put_chunk(out, "IHDR", ihdr, 13, err) != 0)
                return -1;
        } else if (!memcmp(type, "PLTE", 4) || !memcmp(type, "tRNS", 4)) {
            /* a gray image has neither */
        } else if (!memcmp(type, "tEXt", 4) && n > klen && !memcmp(data, table_key, klen) &&
                   data[klen] == 0) {
            size_t vlen = strlen(table_value);
            uint8_t text[160];
            if (klen + 1 + vlen > sizeof text)
                return ff_err_set(err, "PNG text too long");
            memcpy(text, table_key, klen + 1);
            memcpy(text + klen + 1, table_value, vlen);
            if (put_chunk(out, "tEXt", text, (uint32_t)(klen + 1 + vlen), err) != 0)
                return -1;
        } else if (ff_sink_write(out, png + pos, whole, err) != 0) {
            return -1;
        }
        pos += whole;
    }
    return 0;
}

/* ---- one-channel images, written here ----------------------------------------------------
 * The renders of a 4096x4096 image spent most of their time in libspng's zlib deflate (level 1,
 * RLE: about 130 ms for a noisy AIA image, on one core). Their pixel data are compressed here
 * instead by deflate_fast.c with runs of period 1 -- the same kind of match Z_RLE looks for --
 * in about 20 ms, the files slightly smaller; libspng offers no way to hand it compressed data, so the
 * chunks (PNG 1.2: signature, IHDR, PLTE, tRNS, tEXt, IDAT, IEND, each with its CRC-32) are
 * written here too. Every row is UP-filtered, as the libspng settings above did (the first row
 * unfiltered: its prior row is zero). Rows go through a few at a time: one IDAT chunk each. */

#define PIECE_BYTES ((size_t)256 * 1024)

typedef uint8_t v16u8 __attribute__((vector_size(16)));

/* Filter type and bytes of one row: UP against prev, or NONE for the first. */
static void filter_row(const uint8_t *row, const uint8_t *prev, uint32_t width, uint8_t *out)
{
    out[0] = prev ? 2 : 0;
    out++;
    if (!prev) {
        memcpy(out, row, width);
        return;
    }
    size_t x = 0;
    for (; x + 16 <= width; x += 16) {
        v16u8 a, b;
        memcpy(&a, row + x, 16);
        memcpy(&b, prev + x, 16);
        a -= b;
        memcpy(out + x, &a, 16);
    }
    for (; x < width; x++)
        out[x] = (uint8_t)(row[x] - prev[x]);
}

static void put_be32(uint8_t *p, uint32_t v);
static int put_chunk(ff_sink *out, const char type[4], const uint8_t *data, uint32_t len, ff_err *err);

static int write_ihdr_plte(const ff_png_image *img, ff_sink *out, ff_err *err)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, img->width);
    put_be32(ihdr + 4, img->height);
    ihdr[8] = 8;                /* bit depth */
    ihdr[9] = img->pal ? 3 : 0; /* indexed or gray; compression, filter, interlace: 0 */
    if (ff_sink_write(out, sig, 8, err) != 0 || put_chunk(out, "IHDR", ihdr, 13, err) != 0)
        return -1;
    const ff_png_palette *pal = img->pal;
    if (!pal)
        return 0;
    if (put_chunk(out, "PLTE", &pal->rgb[0][0], 3 * pal->n, err) != 0)
        return -1;
    return pal->ntrans ? put_chunk(out, "tRNS", pal->alpha, pal->ntrans, err) : 0;
}

static int write_texts(const ff_png_text *text, size_t ntext, ff_sink *out, ff_err *err)
{
    for (size_t i = 0; i < ntext; i++) {
        if (!key_ok(text[i].key))
            return ff_err_set(err, "PNG text keyword \"%.80s\" is not 1-79 printable characters",
                              text[i].key ? text[i].key : "(null)");
        size_t klen = strlen(text[i].key), vlen = 0;
        char *v = clean_text(text[i].text, &vlen);
        uint8_t *chunk = v && vlen < 0x7fffff00u ? malloc(klen + 1 + vlen) : NULL;
        if (!chunk) {
            free(v);
            return ff_err_set(err, "out of memory writing PNG text");
        }
        memcpy(chunk, text[i].key, klen + 1);
        memcpy(chunk + klen + 1, v, vlen);
        int rc = put_chunk(out, "tEXt", chunk, (uint32_t)(klen + 1 + vlen), err);
        free(chunk);
        free(v);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The pixel data: IDAT chunks of a few filtered rows each, one zlib stream over them all. */
static int write_idat(const ff_png_image *img, ff_sink *out, ff_err *err)
{
    const size_t stride = (size_t)img->width + 1;
    size_t rows = PIECE_BYTES / stride ? PIECE_BYTES / stride : 1;
    if (rows > img->height)
        rows = img->height;
    uint8_t *filt = malloc(rows * stride);
    size_t cap = ff_deflate_piece_bound(rows * stride);
    uint8_t *z = malloc(cap);
    ff_deflate_stream *ds = filt && z ? ff_deflate_stream_new(1, err) : NULL;
    int rc = ds ? 0 : -1;
    if (!filt || !z)
        ff_err_set(err, "out of memory writing a PNG");
    for (uint32_t y = 0; rc == 0 && y < img->height;) {
        size_t n = img->height - y < rows ? img->height - y : rows;
        for (size_t r = 0; r < n; r++) {
            const uint8_t *row = img->pixels + (size_t)(y + r) * img->width;
            filter_row(row, y + r ? row - img->width : NULL, img->width, filt + r * stride);
        }
        y += (uint32_t)n;
        size_t zn = ff_deflate_stream_piece(ds, filt, n * stride, y == img->height, z, cap, err);
        if (zn == 0 || zn > 0x7fffffffu || put_chunk(out, "IDAT", z, (uint32_t)zn, err) != 0)
            rc = -1;
    }
    ff_deflate_stream_free(ds);
    free(z);
    free(filt);
    return rc;
}

int ff_png_write8(const uint8_t *pixels, uint32_t width, uint32_t height, const ff_png_palette *pal,
                  const ff_png_text *text, size_t ntext, ff_sink *out, ff_err *err)
{
    ff_png_image img = {pixels, width, height, 1, pal};
    if (check_image(&img, ntext, err) != 0)
        return -1;
    if (!out)
        return ff_err_set(err, "cannot write a PNG to nowhere");
    for (size_t i = 0; i < ntext; i++) /* before anything is written */
        if (!key_ok(text[i].key))
            return ff_err_set(err, "PNG text keyword \"%.80s\" is not 1-79 printable characters",
                              text[i].key ? text[i].key : "(null)");
    if (write_ihdr_plte(&img, out, err) != 0 || write_texts(text, ntext, out, err) != 0 ||
        write_idat(&img, out, err) != 0 || put_chunk(out, "IEND", (const uint8_t *)"", 0, err) != 0)
        return ff_err_prefix(err, "writing PNG");
    return 0;
}
