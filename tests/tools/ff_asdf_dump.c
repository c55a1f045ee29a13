/* Test-only driver for ff_asdf_write: builds an ASDF file from a raw little-endian array, a file
 * of 80-character FITS cards, header text and optional HEK JSON, so that the e2e script can check
 * the result with python-asdf. Also times the writer (--time, --repeat) for the benchmark.
 *
 * ff_asdf_dump --data F --dtype int16 --shape 4096,4096 --out X.asdf
 *              [--cards F] [--header-text F] [--hek F] [--raw] [--threads N]
 *              [--source NAME] [--csv P] [--npy P] [--image P]... [--obs key=value]...
 *              [--meta key=value]... [--time] [--repeat N] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/out/asdf.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        char *p = realloc(buf, cap * 2 + 1);
        if (!p) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = p;
        cap *= 2;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static int parse_dtype(const char *s, ff_dtype *t)
{
    for (int i = FF_U8; i <= FF_F64; i++)
        if (strcmp(s, ff_dtype_name((ff_dtype)i)) == 0) {
            *t = (ff_dtype)i;
            return 0;
        }
    return -1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void copy_field(char *dst, size_t size, const char *v)
{
    snprintf(dst, size, "%s", v);
}

static int set_obs(ff_obsmeta *o, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return -1;
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
#define IS(k) (kl == strlen(k) && strncmp(kv, k, kl) == 0)
    if (IS("observatory"))
        copy_field(o->observatory, sizeof o->observatory, v);
    else if (IS("instrument"))
        copy_field(o->instrument, sizeof o->instrument, v);
    else if (IS("detector"))
        copy_field(o->detector, sizeof o->detector, v);
    else if (IS("measurement"))
        copy_field(o->measurement, sizeof o->measurement, v);
    else if (IS("wavelength"))
        o->wavelength = atoi(v);
    else if (IS("source_id"))
        o->source_id = atoi(v);
    else if (IS("exptime"))
        o->exptime = strtod(v, NULL);
    else if (IS("time")) {
        copy_field(o->time_iso, sizeof o->time_iso, v);
        o->has_time = 1;
    } else if (IS("time_reason"))
        copy_field(o->time_reason, sizeof o->time_reason, v);
    else
        return -1;
    return 0;
}

static int set_meta(ff_asdf_meta *m, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return -1;
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
    if (IS("creator"))
        m->creator = v;
    else if (IS("institution"))
        m->institution = v;
    else if (IS("award"))
        m->award = v;
    else if (IS("description"))
        m->description = v;
    else if (IS("created"))
        m->created_iso = v;
    else
        return -1;
    return 0;
#undef IS
}

int main(int argc, char **argv)
{
    const char *data_path = NULL, *dtype_s = NULL, *shape_s = NULL, *out_path = NULL;
    const char *cards_path = NULL, *text_path = NULL, *hek_path = NULL;
    const char *images[64];
    size_t nimages = 0;
    int repeat = 1, show_time = 0;
    ff_obsmeta obs;
    memset(&obs, 0, sizeof obs);
    obs.source_id = -1;
    obs.exptime = 0.0 / 0.0;
    snprintf(obs.time_reason, sizeof obs.time_reason, "no time given");
    ff_asdf_meta meta = {"", "", "", "", "FitsFlow", FF_VERSION, "2026-01-01T00:00:00.000Z"};
    ff_asdf_input in;
    memset(&in, 0, sizeof in);
    in.meta = &meta;
    in.obs = &obs;
    in.compress = 1;
    in.nthreads = 1;
    in.source_name = "";
    in.npy_path = "";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (strcmp(a, "--raw") == 0) {
            in.compress = 0;
            used = 0;
        } else if (strcmp(a, "--time") == 0) {
            show_time = 1;
            used = 0;
        } else if (!v) {
            fprintf(stderr, "%s needs a value\n", a);
            return 2;
        } else if (strcmp(a, "--data") == 0) data_path = v;
        else if (strcmp(a, "--dtype") == 0) dtype_s = v;
        else if (strcmp(a, "--shape") == 0) shape_s = v;
        else if (strcmp(a, "--out") == 0) out_path = v;
        else if (strcmp(a, "--cards") == 0) cards_path = v;
        else if (strcmp(a, "--header-text") == 0) text_path = v;
        else if (strcmp(a, "--hek") == 0) hek_path = v;
        else if (strcmp(a, "--threads") == 0) in.nthreads = atoi(v);
        else if (strcmp(a, "--repeat") == 0) repeat = atoi(v) > 0 ? atoi(v) : 1;
        else if (strcmp(a, "--source") == 0) in.source_name = v;
        else if (strcmp(a, "--csv") == 0) in.csv_path = v;
        else if (strcmp(a, "--npy") == 0) in.npy_path = v;
        else if (strcmp(a, "--image") == 0 && nimages < 64) images[nimages++] = v;
        else if (strcmp(a, "--obs") == 0) {
            if (set_obs(&obs, v) != 0) {
                fprintf(stderr, "bad --obs %s\n", v);
                return 2;
            }
        } else if (strcmp(a, "--meta") == 0) {
            if (set_meta(&meta, v) != 0) {
                fprintf(stderr, "bad --meta %s\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i += used;
    }
    if (!data_path || !dtype_s || !shape_s || !out_path) {
        fprintf(stderr, "usage: ff_asdf_dump --data F --dtype T --shape A[,B[,C]] --out F ...\n");
        return 2;
    }

    ff_image img;
    memset(&img, 0, sizeof img);
    if (parse_dtype(dtype_s, &img.dtype) != 0) {
        fprintf(stderr, "unknown dtype %s\n", dtype_s);
        return 2;
    }
    img.nelem = 1;
    for (const char *p = shape_s; *p && img.ndim < FF_MAX_NDIM;) {
        char *end;
        img.shape[img.ndim] = strtoull(p, &end, 10);
        img.nelem *= img.shape[img.ndim++];
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            break;
    }
    size_t dlen = 0;
    char *raw = slurp(data_path, &dlen);
    if (!raw)
        return 1;
    size_t es = ff_dtype_size(img.dtype);
    if (dlen != img.nelem * es) {
        fprintf(stderr, "data file has %zu bytes, shape needs %zu\n", dlen, img.nelem * es);
        return 1;
    }
    const unsigned short one = 1;
    if (*(const unsigned char *)&one == 0) /* big-endian host: the file is little-endian */
        for (size_t i = 0; i < img.nelem; i++)
            for (size_t b = 0; b < es / 2; b++) {
                char t = raw[i * es + b];
                raw[i * es + b] = raw[i * es + es - 1 - b];
                raw[i * es + es - 1 - b] = t;
            }
    img.data = raw;
    in.image = &img;
    in.image_paths = images;
    in.n_image_paths = nimages;

    ff_header hdr;
    memset(&hdr, 0, sizeof hdr);
    ff_err err = {0};
    char *cards = NULL, *text = NULL, *hek = NULL;
    size_t len;
    if (cards_path) {
        if (!(cards = slurp(cards_path, &len)))
            return 1;
        if (ff_header_parse(cards, len / 80, &hdr, &err) != 0) {
            fprintf(stderr, "header: %s\n", err.msg);
            return 1;
        }
        in.header = &hdr;
    }
    if (text_path) {
        if (!(text = slurp(text_path, &len)))
            return 1;
        in.header_text = text;
    }
    if (hek_path) {
        if (!(hek = slurp(hek_path, &len)))
            return 1;
        in.hek_json = hek;
        in.hek_json_len = len;
    }

    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < repeat; r++) {
        FILE *f = fopen(out_path, "wb");
        if (!f) {
            fprintf(stderr, "cannot create %s: %s\n", out_path, strerror(errno));
            return 1;
        }
        ff_sink sink = ff_file_sink(f);
        double t0 = now();
        clock_t c0 = clock();
        int rc = ff_asdf_write(&in, &sink, &err);
        if (fflush(f) != 0)
            rc = -1;
        double dt = now() - t0, dc = (double)(clock() - c0) / CLOCKS_PER_SEC;
        fclose(f);
        if (rc != 0) {
            fprintf(stderr, "ff_asdf_write: %s\n", err.msg);
            return 1;
        }
        if (dt < best)
            best = dt;
        if (dc < best_cpu)
            best_cpu = dc;
    }
    if (show_time)
        fprintf(stderr, "ff_asdf_write: %.3f s wall, %.3f s CPU (best of %d, %d thread(s), %s)\n",
                best, best_cpu, repeat, in.nthreads, in.compress ? "zlib" : "raw");
    ff_header_free(&hdr);
    free(raw);
    free(cards);
    free(text);
    free(hek);
    return 0;
}
