/* PNG in and out for the remote images: checking that an answer is a whole, decodable PNG, and
 * encoding decoded JPEG / JPEG 2000 rasters (gray or RGB, 8-bit) with core/png.h. */
#include <spng.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "core/media/jp2.h"
#include "core/out/png.h"
#include "core/media/jpeg.h"
#include "remote/remote_impl.h"

static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};

/* The rasters from Helioviewer and JSOC as PNG: zlib level 6 with the RLE strategy and the Up
 * filter, as small as libspng's default settings on solar images and 5x faster. */
static const ff_png_options remote_png = {.level = 6, .strategy = Z_RLE, .filters = SPNG_FILTER_CHOICE_UP};

static int encode(const ff_raster8 *img, unsigned char **png, size_t *len, ff_err *err)
{
    ff_membuf mb = {0};
    ff_sink sink = ff_membuf_sink(&mb);
    ff_png_image pi = {img->pixels, img->width, img->height, img->channels, NULL};
    if (ff_png_write(&pi, NULL, 0, &remote_png, &sink, err) != 0) {
        ff_membuf_free(&mb);
        return -1;
    }
    *png = mb.data;
    *len = mb.len;
    return 0;
}

/* Every chunk's length and CRC, IHDR first, IEND last. Decoders (libspng, Pillow) stop reading
 * once they have every row and so miss damage after that point; this does not. */
static int check_chunks(const unsigned char *buf, size_t len, ff_err *err)
{
    size_t pos = sizeof png_sig;
    int first = 1;
    while (pos + 12 <= len) {
        uint32_t n = (uint32_t)buf[pos] << 24 | (uint32_t)buf[pos + 1] << 16 | (uint32_t)buf[pos + 2] << 8 | buf[pos + 3];
        if (n > 0x7fffffffu || n > len - pos - 12)
            return ff_err_set(err, "broken PNG: a chunk at byte %zu runs past the end of the data", pos);
        const unsigned char *type = buf + pos + 4;
        uint32_t want = (uint32_t)type[n + 4] << 24 | (uint32_t)type[n + 5] << 16 | (uint32_t)type[n + 6] << 8 |
                        type[n + 7];
        if ((uint32_t)crc32(0, type, n + 4) != want)
            return ff_err_set(err, "broken PNG: chunk %.4s at byte %zu fails its CRC", (const char *)type, pos);
        if (first && memcmp(type, "IHDR", 4))
            return ff_err_set(err, "broken PNG: the first chunk is not IHDR");
        first = 0;
        pos += 12 + (size_t)n;
        if (!memcmp(type, "IEND", 4))
            return 0;
    }
    return ff_err_set(err, "broken PNG: it ends before its IEND chunk");
}

int ff_remote_png_check(const unsigned char *buf, size_t len, uint64_t max_pixels,
                        unsigned *width, unsigned *height, ff_err *err)
{
    if (len < sizeof png_sig || memcmp(buf, png_sig, sizeof png_sig))
        return ff_err_set(err, "not a PNG (no PNG signature)");
    if (check_chunks(buf, len, err) != 0)
        return -1;
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx)
        return ff_err_set(err, "out of memory starting the PNG decoder");
    spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
    spng_set_image_limits(ctx, 1u << 24, 1u << 24);
    spng_set_chunk_limits(ctx, 1u << 26, 1u << 28);
    struct spng_ihdr ihdr;
    size_t out_size = 0;
    unsigned char *row = NULL;
    int rc = spng_set_png_buffer(ctx, buf, len);
    if (!rc)
        rc = spng_get_ihdr(ctx, &ihdr);
    if (rc) {
        spng_ctx_free(ctx);
        return ff_err_set(err, "broken PNG: %s", spng_strerror(rc));
    }
    if ((uint64_t)ihdr.width * ihdr.height > max_pixels) {
        spng_ctx_free(ctx);
        return ff_err_set(err, "the PNG is %ux%u, more than the %llu-pixel limit", ihdr.width,
                          ihdr.height, (unsigned long long)max_pixels);
    }
    /* Decode row by row so that every IDAT byte and CRC is checked without holding the image. */
    rc = spng_decoded_image_size(ctx, SPNG_FMT_PNG, &out_size);
    size_t row_size = ihdr.height ? out_size / ihdr.height : 0;
    if (!rc && (row = malloc(row_size ? row_size : 1)) == NULL)
        rc = SPNG_EMEM;
    if (!rc)
        rc = spng_decode_image(ctx, NULL, 0, SPNG_FMT_PNG, SPNG_DECODE_PROGRESSIVE);
    while (!rc) {
        rc = spng_decode_row(ctx, row, row_size);
    }
    free(row);
    spng_ctx_free(ctx);
    if (rc != SPNG_EOI)
        return ff_err_set(err, "broken PNG: %s", spng_strerror(rc));
    *width = ihdr.width;
    *height = ihdr.height;
    return 0;
}

static void to_gray(ff_raster8 *r)
{
    if (r->channels != 3)
        return;
    size_t n = (size_t)r->width * r->height;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = r->pixels + 3 * i;
        /* ITU-R 601 luma, as Pillow's convert("L") computes it. */
        r->pixels[i] = (uint8_t)((p[0] * 299u + p[1] * 587u + p[2] * 114u + 500u) / 1000u);
    }
    r->channels = 1;
}

int ff_remote_to_png(const unsigned char *buf, size_t len, int gray_out, uint64_t max_pixels,
                     unsigned char **png, size_t *png_len, const char **what, ff_err *err)
{
    *png = NULL;
    *png_len = 0;
    ff_raster8 img;
    if (len >= sizeof png_sig && !memcmp(buf, png_sig, sizeof png_sig)) {
        *what = "PNG";
        unsigned w, h;
        if (ff_remote_png_check(buf, len, max_pixels, &w, &h, err) != 0)
            return -1;
        *png = malloc(len);
        if (!*png)
            return ff_err_set(err, "out of memory");
        memcpy(*png, buf, len);
        *png_len = len;
        return 0;
    } else if (ff_jpeg_sniff(buf, len)) {
        *what = "JPEG";
        if (ff_jpeg_decode(buf, len, gray_out, max_pixels, &img, err) != 0)
            return -1;
    } else if (ff_jp2_sniff(buf, len)) {
        *what = "JPEG 2000";
        if (ff_jp2_decode(buf, len, max_pixels, &img, err) != 0)
            return -1;
        if (gray_out)
            to_gray(&img);
    } else {
        *what = "unknown data";
        return ff_err_set(err, "the answer is not an image (neither PNG, JPEG nor JPEG 2000)");
    }
    int rc = encode(&img, png, png_len, err);
    ff_raster8_free(&img);
    return rc;
}
