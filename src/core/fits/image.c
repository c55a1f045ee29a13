/* dtype facts and small helpers over ff_image. */
#include "core/fits/image.h"

#include <stdio.h>
#include <stdlib.h>

size_t ff_dtype_size(ff_dtype t)
{
    switch (t) {
    case FF_U8: case FF_I8: return 1;
    case FF_I16: case FF_U16: return 2;
    case FF_I32: case FF_U32: case FF_F32: return 4;
    case FF_I64: case FF_U64: case FF_F64: return 8;
    }
    return 0;
}

int ff_dtype_is_float(ff_dtype t)
{
    return t == FF_F32 || t == FF_F64;
}

const char *ff_dtype_name(ff_dtype t)
{
    static const char *names[] = {"uint8", "int8", "int16", "uint16", "int32",
                                  "uint32", "int64", "uint64", "float32", "float64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

const char *ff_dtype_npy_descr(ff_dtype t)
{
    static const char *d[] = {"|u1", "|i1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f4", "<f8"};
    return (unsigned)t < sizeof d / sizeof d[0] ? d[t] : "?";
}

double ff_image_get(const ff_image *img, size_t i)
{
    switch (img->dtype) {
    case FF_U8: return ((const uint8_t *)img->data)[i];
    case FF_I8: return ((const int8_t *)img->data)[i];
    case FF_I16: return ((const int16_t *)img->data)[i];
    case FF_U16: return ((const uint16_t *)img->data)[i];
    case FF_I32: return ((const int32_t *)img->data)[i];
    case FF_U32: return ((const uint32_t *)img->data)[i];
    case FF_I64: return (double)((const int64_t *)img->data)[i];
    case FF_U64: return (double)((const uint64_t *)img->data)[i];
    case FF_F32: return ((const float *)img->data)[i];
    case FF_F64: return ((const double *)img->data)[i];
    }
    return 0;
}

void ff_image_shape_str(const ff_image *img, char *buf, size_t bufsize)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, bufsize - off, "(");
    for (int d = 0; d < img->ndim && off < bufsize; d++)
        off += (size_t)snprintf(buf + off, bufsize - off, d ? ", %zu" : "%zu", img->shape[d]);
    if (off < bufsize)
        snprintf(buf + off, bufsize - off, img->ndim == 1 ? ",)" : ")");
}

void ff_image_free(ff_image *img)
{
    if (!img)
        return;
    free(img->data);
    img->data = NULL;
    img->nelem = 0;
}
