/* Harness 1: the whole per-file core. Bytes -> a file -> ff_fits_read -> obsmeta -> every writer
 * (header text and JSON, NPY, CSV, both PNG renders, ASDF) into memory sinks. Any crash, sanitizer
 * report or leak is a bug; refusals with a reason are the expected outcome for most inputs. */
#include <math.h>
#include <stdlib.h>

#include "core/out/asdf.h"
#include "core/fits/fits.h"
#include "core/fits/obsmeta.h"
#include "core/out/render.h"
#include "core/out/sink.h"
#include "core/out/writers.h"
#include "fuzz_util.h"

#define SINK_MAX ((size_t)256 << 20)

static void check_err(const ff_err *err)
{
    /* a refusal must say something, in one line */
    if (!err->msg[0] || strchr(err->msg, '\n'))
        abort();
}

static void run_writers(ff_fits *f)
{
    ff_err err = {0};
    ff_obsmeta meta;
    ff_obsmeta_from_header(&f->header, &meta);

    ff_membuf txt = {.max = SINK_MAX}, json = {.max = SINK_MAX}, npy = {.max = SINK_MAX},
              csv = {.max = SINK_MAX}, gray = {.max = SINK_MAX}, color = {.max = SINK_MAX},
              asdf = {.max = SINK_MAX};
    ff_sink s_txt = ff_membuf_sink(&txt), s_json = ff_membuf_sink(&json),
            s_npy = ff_membuf_sink(&npy), s_csv = ff_membuf_sink(&csv),
            s_gray = ff_membuf_sink(&gray), s_color = ff_membuf_sink(&color),
            s_asdf = ff_membuf_sink(&asdf);

    if (ff_write_header_txt(&f->header, &s_txt, &err) != 0 || ff_sink_write(&s_txt, "", 1, &err) != 0)
        check_err(&err);
    if (ff_write_header_json(&f->header, &s_json, &err) != 0)
        check_err(&err);
    if (ff_write_npy(&f->image, &s_npy, &err) != 0)
        check_err(&err);
    if (ff_write_csv(&f->image, &s_csv, 1, &err) != 0)
        check_err(&err);

    ff_render_params rp = {.instrument = meta.instrument, .measurement = meta.measurement,
                           .wavelength = meta.wavelength, .exptime = meta.exptime,
                           .png_max = 128, .time_iso = meta.time_iso, .nthreads = 1};
    double crota2;
    if (ff_header_get_double(&f->header, "CROTA2", &crota2) == 0)
        rp.crota2 = crota2;
    int64_t blank;
    if (!ff_dtype_is_float(f->image.dtype) && ff_header_get_int(&f->header, "BLANK", &blank) == 0) {
        rp.has_blank = 1;
        rp.blank = blank;
    }
    char scaling[512];
    if (ff_render_pngs(&f->image, &rp, &s_gray, &s_color, scaling, sizeof scaling, &err) != 0)
        check_err(&err);

    ff_asdf_meta am = {.creator = "fuzz", .institution = "", .award = "", .description = "",
                       .pipeline_name = "FitsFlow", .pipeline_version = "fuzz",
                       .created_iso = "2026-01-01T00:00:00Z"};
    const char *images[2] = {"images/local/x_gray.png", "images/local/x_color.png"};
    /* the header text doubles as HEK JSON: never valid JSON, so the "unreadable" path runs too */
    ff_asdf_input in = {.meta = &am, .source_name = "fuzz.fits", .header = &f->header,
                        .header_text = txt.data ? (const char *)txt.data : "", .obs = &meta,
                        .image = &f->image, .csv_path = "data/x_data.csv",
                        .npy_path = "data/x_data.npy", .image_paths = images, .n_image_paths = 2,
                        .hek_json = json.data ? (const char *)json.data : NULL,
                        .hek_json_len = json.len, .compress = (int)(f->image.nelem & 1),
                        .nthreads = 1};
    if (ff_asdf_write(&in, &s_asdf, &err) != 0)
        check_err(&err);

    ff_membuf_free(&txt);
    ff_membuf_free(&json);
    ff_membuf_free(&npy);
    ff_membuf_free(&csv);
    ff_membuf_free(&gray);
    ff_membuf_free(&color);
    ff_membuf_free(&asdf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(data, size);
    if (!path)
        return 0;
    /* a small pixel limit keeps each run fast; the limit check itself is exercised too */
    ff_fits_opts opts = {.max_pixels = (uint64_t)1 << 20, .nthreads = 1};
    ff_fits f;
    ff_err err = {0};
    if (ff_fits_read(path, &opts, &f, &err) != 0) {
        check_err(&err);
        return 0;
    }
    run_writers(&f);
    ff_fits_free(&f);
    return 0;
}
