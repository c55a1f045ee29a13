/* data/{base}_data.npy: NumPy's .npy format as numpy.save writes it (header byte for byte),
 * so that numpy.load gives the image back with its dtype and shape. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/out/writers.h"

#define NPY_ALIGN 64
#define CHUNK (8u << 20) /* bytes per sink write when the data has to be byte-swapped */

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Byte-swaps n elements of size sz in place. */
static void swap_bytes(unsigned char *p, size_t n, size_t sz)
{
    for (size_t i = 0; i < n; i++, p += sz)
        for (size_t a = 0, b = sz - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* The header numpy.save writes for img's dtype and shape. */
static int write_header(const ff_image *img, ff_sink *out, ff_err *err)
{
    /* The dict numpy writes: keys sorted, Python reprs, a trailing ", " before "}". */
    char shape[160], dict[256];
    ff_image_shape_str(img, shape, sizeof shape);
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                      ff_dtype_npy_descr(img->dtype), shape);
    if (dl < 0 || (size_t)dl >= sizeof dict)
        return ff_err_set(err, "cannot write NPY: header too long");

    /* Version 1.0 has a 2-byte header length, 2.0 a 4-byte one. numpy pads with spaces and a
     * final '\n' so that the data starts on a 64-byte boundary (always at least one space). */
    size_t hlen = (size_t)dl + 1;
    int v2 = 0;
    size_t prefix = 10;
    size_t pad = NPY_ALIGN - ((prefix + hlen) % NPY_ALIGN);
    if (hlen + pad > 65535) {
        v2 = 1;
        prefix = 12;
        pad = NPY_ALIGN - ((prefix + hlen) % NPY_ALIGN);
    }
    size_t total = prefix + hlen + pad;
    unsigned char hdr[512];
    memcpy(hdr, "\x93NUMPY", 6);
    hdr[6] = v2 ? 2 : 1;
    hdr[7] = 0;
    uint32_t hl = (uint32_t)(hlen + pad);
    for (int i = 0; i < (v2 ? 4 : 2); i++)
        hdr[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(hdr + prefix, dict, (size_t)dl);
    memset(hdr + prefix + dl, ' ', pad);
    hdr[total - 1] = '\n';
    if (ff_sink_write(out, hdr, total, err) != 0)
        return ff_err_prefix(err, "writing the NPY header");
    return 0;
}

int ff_write_npy_header(ff_dtype dtype, int ndim, const size_t *shape, ff_sink *out, ff_err *err)
{
    if (ff_dtype_size(dtype) == 0 || ndim < 1 || ndim > FF_MAX_NDIM)
        return ff_err_set(err, "cannot write NPY: unsupported dtype or %d dimensions", ndim);
    ff_image desc = {.dtype = dtype, .ndim = ndim};
    for (int d = 0; d < ndim; d++)
        desc.shape[d] = shape[d];
    return write_header(&desc, out, err);
}

int ff_write_npy(const ff_image *img, ff_sink *out, ff_err *err)
{
    size_t esz = ff_dtype_size(img->dtype);
    if (esz == 0 || img->ndim < 1 || img->ndim > FF_MAX_NDIM)
        return ff_err_set(err, "cannot write NPY: unsupported dtype or %d dimensions", img->ndim);
    size_t n = 1;
    for (int d = 0; d < img->ndim; d++) {
        if (img->shape[d] && n > SIZE_MAX / img->shape[d])
            return ff_err_set(err, "cannot write NPY: the image shape overflows");
        n *= img->shape[d];
    }
    if (n != img->nelem || (n && !img->data))
        return ff_err_set(err, "cannot write NPY: image shape and element count disagree");
    if (n > SIZE_MAX / esz)
        return ff_err_set(err, "cannot write NPY: the image is too large");

    if (write_header(img, out, err) != 0)
        return -1;

    size_t bytes = n * esz;
    if (esz == 1 || host_is_little_endian()) {
        /* Already in the file's byte order: hand the data over in large pieces. */
        const unsigned char *p = img->data;
        for (size_t off = 0; off < bytes; off += CHUNK * 4) {
            size_t len = bytes - off < CHUNK * 4 ? bytes - off : CHUNK * 4;
            if (ff_sink_write(out, p + off, len, err) != 0)
                return ff_err_prefix(err, "writing the NPY data");
        }
        return 0;
    }
    unsigned char *buf = malloc(CHUNK);
    if (!buf)
        return ff_err_set(err, "out of memory writing NPY data");
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t len = bytes - off < CHUNK ? bytes - off : CHUNK;
        memcpy(buf, (const unsigned char *)img->data + off, len);
        swap_bytes(buf, len / esz, esz);
        if (ff_sink_write(out, buf, len, err) != 0) {
            free(buf);
            return ff_err_prefix(err, "writing the NPY data");
        }
    }
    free(buf);
    return 0;
}
