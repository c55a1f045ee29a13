/* An image array as astropy.io.fits gives it: numpy dtype, shape in numpy (C) order, values in
 * native byte order, row-major. */
#ifndef FF_CORE_FITS_IMAGE_H
#define FF_CORE_FITS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum ff_dtype {
    FF_U8,
    FF_I8,
    FF_I16,
    FF_U16,
    FF_I32,
    FF_U32,
    FF_I64,
    FF_U64,
    FF_F32,
    FF_F64,
} ff_dtype;

#define FF_MAX_NDIM 3

typedef struct ff_image {
    ff_dtype dtype;
    int ndim;                    /* 1..3 */
    size_t shape[FF_MAX_NDIM];   /* numpy order: shape[0] is NAXISn, shape[ndim-1] is NAXIS1 */
    size_t nelem;                /* product of shape */
    void *data;                  /* nelem values of dtype; owned, free with ff_image_free */
} ff_image;

size_t ff_dtype_size(ff_dtype t);
int ff_dtype_is_float(ff_dtype t);
/* numpy names: "uint8", "int16", "float32", ... */
const char *ff_dtype_name(ff_dtype t);
/* .npy descr strings for little-endian output: "|u1", "<i2", "<f4", ... */
const char *ff_dtype_npy_descr(ff_dtype t);

/* Value of element i as a double (NaN stays NaN; 64-bit integers may round). */
double ff_image_get(const ff_image *img, size_t i);

/* Shape as numpy prints it, e.g. "(4096, 4096)" or "(3,)". */
void ff_image_shape_str(const ff_image *img, char *buf, size_t bufsize);

void ff_image_free(ff_image *img);

#endif
