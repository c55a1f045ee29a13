/* Test-only driver for the e2e render test: renders a raw little-endian array to the two PNGs,
 * or prints a colour table, so Python can check the results with Pillow and sunpy.
 *
 *   ff_render_dump RAW DTYPE SHAPE GRAY.png COLOR.png [--instrument S] [--measurement S]
 *       [--wavelength N] [--exptime X] [--crota2 X] [--blank N] [--png-max N] [--time S]
 *       [--threads N] [--repeat N]
 *     DTYPE is a numpy name (uint8 ... float64), SHAPE like 128,128. Prints the scaling line on
 *     stdout and "render_ms=<best of --repeat runs>" on stderr.
 *   ff_render_dump --colormap NAME      prints 256 lines "r g b" (NAME: sdoaia171, heat, gray)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/out/colormap.h"
#include "core/fits/image.h"
#include "core/out/render.h"
#include "core/out/sink.h"

static int parse_dtype(const char *s, ff_dtype *t)
{
    for (int i = FF_U8; i <= FF_F64; i++)
        if (strcmp(s, ff_dtype_name((ff_dtype)i)) == 0) {
            *t = (ff_dtype)i;
            return 0;
        }
    return -1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--colormap") == 0) {
        ff_colormap cm;
        if (ff_colormap_by_name(argv[2], &cm) != 0) {
            fprintf(stderr, "unknown colour table %s\n", argv[2]);
            return 2;
        }
        for (int i = 0; i < 256; i++)
            printf("%d %d %d\n", cm.rgb[i][0], cm.rgb[i][1], cm.rgb[i][2]);
        return 0;
    }
    if (argc < 6) {
        fprintf(stderr, "usage: ff_render_dump RAW DTYPE SHAPE GRAY.png COLOR.png [options]\n");
        return 2;
    }
    ff_image img = {0};
    if (parse_dtype(argv[2], &img.dtype) != 0) {
        fprintf(stderr, "unknown dtype %s\n", argv[2]);
        return 2;
    }
    img.nelem = 1;
    for (char *s = argv[3], *end; *s && img.ndim < FF_MAX_NDIM; s = *end ? end + 1 : end) {
        img.shape[img.ndim++] = strtoull(s, &end, 10);
        img.nelem *= img.shape[img.ndim - 1];
    }
    ff_render_params p = {.instrument = "", .measurement = "", .exptime = NAN, .time_iso = ""};
    int repeat = 1;
    for (int i = 6; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--instrument")) p.instrument = v;
        else if (!strcmp(k, "--measurement")) p.measurement = v;
        else if (!strcmp(k, "--wavelength")) p.wavelength = atoi(v);
        else if (!strcmp(k, "--exptime")) p.exptime = strtod(v, NULL);
        else if (!strcmp(k, "--crota2")) p.crota2 = strtod(v, NULL);
        else if (!strcmp(k, "--blank")) { p.has_blank = 1; p.blank = strtoll(v, NULL, 10); }
        else if (!strcmp(k, "--png-max")) p.png_max = (unsigned)atoi(v);
        else if (!strcmp(k, "--time")) p.time_iso = v;
        else if (!strcmp(k, "--threads")) p.nthreads = atoi(v);
        else if (!strcmp(k, "--repeat")) repeat = atoi(v);
        else { fprintf(stderr, "unknown option %s\n", k); return 2; }
    }
    size_t es = ff_dtype_size(img.dtype), bytes = img.nelem * es;
    FILE *f = fopen(argv[1], "rb");
    img.data = malloc(bytes ? bytes : 1);
    if (!f || !img.data || fread(img.data, 1, bytes, f) != bytes) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", bytes, argv[1]);
        return 1;
    }
    fclose(f);
    const unsigned one = 1;
    if (*(const unsigned char *)&one == 0) /* big-endian host: the file is little-endian */
        for (size_t i = 0; i < img.nelem; i++) {
            unsigned char *b = (unsigned char *)img.data + i * es;
            for (size_t a = 0, z = es - 1; a < z; a++, z--) {
                unsigned char t = b[a];
                b[a] = b[z];
                b[z] = t;
            }
        }

    char scaling[1024];
    double best = 1e30;
    ff_membuf g = {0}, c = {0};
    for (int r = 0; r < (repeat > 0 ? repeat : 1); r++) {
        ff_membuf_free(&g);
        ff_membuf_free(&c);
        ff_sink gs = ff_membuf_sink(&g), cs = ff_membuf_sink(&c);
        ff_err err;
        double t0 = now_ms();
        if (ff_render_pngs(&img, &p, &gs, &cs, scaling, sizeof scaling, &err) != 0) {
            fprintf(stderr, "render failed: %s\n", err.msg);
            return 1;
        }
        double dt = now_ms() - t0;
        best = dt < best ? dt : best;
    }
    FILE *fg = fopen(argv[4], "wb"), *fc = fopen(argv[5], "wb");
    if (!fg || !fc || fwrite(g.data, 1, g.len, fg) != g.len || fwrite(c.data, 1, c.len, fc) != c.len) {
        fprintf(stderr, "cannot write the PNGs\n");
        return 1;
    }
    fclose(fg);
    fclose(fc);
    printf("%s\n", scaling);
    fprintf(stderr, "render_ms=%.1f gray_bytes=%zu color_bytes=%zu\n", best, g.len, c.len);
    ff_membuf_free(&g);
    ff_membuf_free(&c);
    ff_image_free(&img);
    return 0;
}
