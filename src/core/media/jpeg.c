/* JPEG -> 8-bit raster with libjpeg-turbo (JSOC's HMI images, Helioviewer answers in JPEG). */
#include "core/media/jpeg.h"

#include <stdio.h>
#include <string.h>

#include <turbojpeg.h>

int ff_jpeg_sniff(const void *buf, size_t len)
{
    const unsigned char *b = buf;
    return len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

int ff_jpeg_decode(const void *buf, size_t len, int want_gray, uint64_t max_pixels,
                   ff_raster8 *out, ff_err *err)
{
    memset(out, 0, sizeof *out);
    if (!ff_jpeg_sniff(buf, len))
        return ff_err_set(err, "not a JPEG image (no start-of-image marker)");
    if (len > (size_t)0x7fffffff)
        return ff_err_set(err, "the JPEG data is larger than 2 GiB");
    if (!max_pixels)
        max_pixels = (uint64_t)1 << 28;
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return ff_err_set(err, "cannot start the JPEG decoder: %s", tjGetErrorStr2(NULL));
    int rc = -1, w = 0, h = 0, subsamp = 0, cs = 0;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
        ff_err_set(err, "cannot read the JPEG header: %s", tjGetErrorStr2(tj));
        goto done;
    }
    if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > max_pixels) {
        ff_err_set(err, "the JPEG image is %dx%d, outside 1 to %llu pixels", w, h,
                   (unsigned long long)max_pixels);
        goto done;
    }
    int channels = (want_gray || cs == TJCS_GRAY) ? 1 : 3;
    out->pixels = malloc((size_t)w * (size_t)h * (size_t)channels);
    if (!out->pixels) {
        ff_err_set(err, "out of memory for a %dx%d image", w, h);
        goto done;
    }
    if (tjDecompress2(tj, buf, (unsigned long)len, out->pixels, w, 0, h,
                      channels == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_STOPONWARNING) != 0) {
        ff_err_set(err, "cannot decode the JPEG image: %s", tjGetErrorStr2(tj));
        ff_raster8_free(out);
        goto done;
    }
    out->width = (uint32_t)w;
    out->height = (uint32_t)h;
    out->channels = channels;
    rc = 0;
done:
    tjDestroy(tj);
    return rc;
}
