/* JPEG 2000 -> 8-bit raster with OpenJPEG, reading from memory (JSOC's AIA images and
 * Helioviewer's JP2s arrive as HTTP bodies, never as files). */
#include "core/media/jp2.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openjpeg-2.5/openjpeg.h>

static const unsigned char jp2_magic[12] = {0, 0, 0, 0x0c, 'j', 'P', ' ', ' ', 0x0d, 0x0a, 0x87, 0x0a};
static const unsigned char j2k_magic[4] = {0xff, 0x4f, 0xff, 0x51};

static int is_jp2(const unsigned char *b, size_t len)
{
    return len >= sizeof jp2_magic && !memcmp(b, jp2_magic, sizeof jp2_magic);
}

static int is_j2k(const unsigned char *b, size_t len)
{
    return len >= sizeof j2k_magic && !memcmp(b, j2k_magic, sizeof j2k_magic);
}

int ff_jp2_sniff(const void *buf, size_t len)
{
    return is_jp2(buf, len) || is_j2k(buf, len);
}

typedef struct mem_stream {
    const unsigned char *data;
    size_t len, pos;
} mem_stream;

static OPJ_SIZE_T mem_read(void *out, OPJ_SIZE_T n, void *ctx)
{
    mem_stream *m = ctx;
    if (m->pos >= m->len)
        return (OPJ_SIZE_T)-1;
    size_t k = m->len - m->pos < n ? m->len - m->pos : n;
    memcpy(out, m->data + m->pos, k);
    m->pos += k;
    return k;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *ctx)
{
    mem_stream *m = ctx;
    if (n < 0) {
        if ((size_t)(-n) > m->pos)
            n = -(OPJ_OFF_T)m->pos;
    } else if ((size_t)n > m->len - m->pos) {
        n = (OPJ_OFF_T)(m->len - m->pos);
    }
    m->pos = (size_t)((OPJ_OFF_T)m->pos + n);
    return n;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T to, void *ctx)
{
    mem_stream *m = ctx;
    if (to < 0 || (size_t)to > m->len)
        return OPJ_FALSE;
    m->pos = (size_t)to;
    return OPJ_TRUE;
}

static void on_error(const char *msg, void *ctx)
{
    char *dst = ctx;
    if (dst[0])
        return; /* keep the first message: later ones are consequences */
    snprintf(dst, FF_ERR_MAX / 2, "%s", msg);
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
        dst[--n] = '\0';
}

static void on_quiet(const char *msg, void *ctx)
{
    (void)msg;
    (void)ctx;
}

static uint8_t to8(OPJ_INT32 v, unsigned prec, int sgnd)
{
    int64_t x = v;
    if (sgnd)
        x += (int64_t)1 << (prec - 1);
    if (prec > 8)
        x >>= prec - 8;
    else if (prec < 8)
        x = x * 255 / (((int64_t)1 << prec) - 1);
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
}

int ff_jp2_decode(const void *buf, size_t len, uint64_t max_pixels, ff_raster8 *out, ff_err *err)
{
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    OPJ_CODEC_FORMAT fmt;
    if (is_jp2(b, len))
        fmt = OPJ_CODEC_JP2;
    else if (is_j2k(b, len))
        fmt = OPJ_CODEC_J2K;
    else
        return ff_err_set(err, "not a JPEG 2000 image (no JP2 signature or J2K codestream marker)");
    if (!max_pixels)
        max_pixels = (uint64_t)1 << 28;

    mem_stream m = {.data = b, .len = len};
    char msg[FF_ERR_MAX / 2] = "";
    opj_image_t *img = NULL;
    int rc = -1;
    opj_stream_t *s = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_codec_t *codec = opj_create_decompress(fmt);
    if (!s || !codec) {
        ff_err_set(err, "out of memory starting the JPEG 2000 decoder");
        goto done;
    }
    opj_stream_set_read_function(s, mem_read);
    opj_stream_set_skip_function(s, mem_skip);
    opj_stream_set_seek_function(s, mem_seek);
    opj_stream_set_user_data(s, &m, NULL);
    opj_stream_set_user_data_length(s, len);
    opj_set_error_handler(codec, on_error, msg);
    opj_set_warning_handler(codec, on_quiet, NULL);
    opj_set_info_handler(codec, on_quiet, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu > 1 && opj_has_thread_support())
        opj_codec_set_threads(codec, ncpu > 8 ? 8 : (int)ncpu);
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(codec, &params) || !opj_read_header(s, codec, &img) || !img) {
        ff_err_set(err, "cannot read the JPEG 2000 header: %s", msg[0] ? msg : "invalid data");
        goto done;
    }
    uint64_t w = img->x1 > img->x0 ? img->x1 - img->x0 : 0;
    uint64_t h = img->y1 > img->y0 ? img->y1 - img->y0 : 0;
    if (w == 0 || h == 0 || img->numcomps == 0) {
        ff_err_set(err, "the JPEG 2000 image is empty (%llux%llu, %u components)",
                   (unsigned long long)w, (unsigned long long)h, img->numcomps);
        goto done;
    }
    if (w * h > max_pixels || w > UINT32_MAX || h > UINT32_MAX) {
        ff_err_set(err, "the JPEG 2000 image is %llux%llu, more than the %llu-pixel limit",
                   (unsigned long long)w, (unsigned long long)h, (unsigned long long)max_pixels);
        goto done;
    }
    if (!opj_decode(codec, s, img) || !opj_end_decompress(codec, s)) {
        ff_err_set(err, "cannot decode the JPEG 2000 image: %s", msg[0] ? msg : "corrupt or truncated data");
        goto done;
    }
    int channels = img->numcomps >= 3 ? 3 : 1;
    opj_image_comp_t *c0 = &img->comps[0];
    for (int i = 0; i < channels; i++) {
        opj_image_comp_t *c = &img->comps[i];
        if (!c->data || c->w != c0->w || c->h != c0->h || c->prec < 1 || c->prec > 31) {
            ff_err_set(err, "unsupported JPEG 2000 layout (component %d is %ux%u, %u bits; "
                       "subsampled colour is not supported)", i, c->w, c->h, c->prec);
            goto done;
        }
    }
    if ((uint64_t)c0->w * c0->h > max_pixels || c0->w == 0 || c0->h == 0) {
        ff_err_set(err, "the JPEG 2000 image decoded to an unexpected size %ux%u", c0->w, c0->h);
        goto done;
    }
    size_t npix = (size_t)c0->w * c0->h;
    out->pixels = malloc(npix * (size_t)channels);
    if (!out->pixels) {
        ff_err_set(err, "out of memory for a %ux%u image", c0->w, c0->h);
        goto done;
    }
    for (int ch = 0; ch < channels; ch++) {
        opj_image_comp_t *c = &img->comps[ch];
        for (size_t i = 0; i < npix; i++)
            out->pixels[i * channels + ch] = to8(c->data[i], c->prec, c->sgnd);
    }
    out->width = c0->w;
    out->height = c0->h;
    out->channels = channels;
    rc = 0;
done:
    if (img)
        opj_image_destroy(img);
    if (codec)
        opj_destroy_codec(codec);
    if (s)
        opj_stream_destroy(s);
    return rc;
}
