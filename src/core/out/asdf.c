/* Writes the ASDF bundle: the YAML tree through libyaml's emitter (so quoting and escaping are
 * libyaml's, not ours), then one binary block with the image, then the block index. */
#include "core/out/asdf.h"
#include "base/numfmt.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/out/asdf_block.h"

#define ASDF_TAG "tag:stsci.edu:asdf/"
#define MAX_STRING ((size_t)256 << 20)    /* libyaml takes int lengths; 3x this still fits */
#define MAX_HEK_JSON ((size_t)64 << 20)
#define MAX_HEK_DEPTH 64
#define BLOCK_HEADER_SIZE 48               /* after the magic and the size field */

typedef struct em {
    yaml_emitter_t y;
    ff_sink *sink;
    uint64_t written;      /* bytes that reached the sink: the next block's offset */
    int failed;
    ff_err err;            /* first failure */
    int sink_failed;
    ff_err sink_err;
    char *tmp;             /* UTF-8 repair buffer */
    size_t tmpcap;
} em;

static int out_handler(void *data, unsigned char *buf, size_t size)
{
    em *e = data;
    if (ff_sink_write(e->sink, buf, size, &e->sink_err) != 0) {
        e->sink_failed = 1;
        return 0;
    }
    e->written += size;
    return 1;
}

static int put(em *e, const void *buf, size_t len)
{
    if (e->failed)
        return -1;
    if (ff_sink_write(e->sink, buf, len, &e->err) != 0) {
        e->failed = 1;
        return -1;
    }
    e->written += len;
    return 0;
}

/* Hands an initialised event to the emitter (which then owns it); after an earlier failure the
 * event is only freed. */
static int emit(em *e, yaml_event_t *ev, int init_ok)
{
    if (e->failed) {
        if (init_ok)
            yaml_event_delete(ev);
        return -1;
    }
    if (!init_ok) {
        e->failed = 1;
        ff_err_set(&e->err, "cannot build a YAML event (out of memory)");
        return -1;
    }
    if (!yaml_emitter_emit(&e->y, ev)) {
        e->failed = 1;
        if (e->sink_failed)
            e->err = e->sink_err;
        else
            ff_err_set(&e->err, "YAML emitter failed: %s",
                       e->y.problem ? e->y.problem : "unknown problem");
        return -1;
    }
    return 0;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0 when it is not valid (overlong
 * forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    else if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Returns s itself when it is valid UTF-8, else a copy in e->tmp with every invalid byte
 * replaced by U+FFFD. NULL on allocation failure. */
static const char *utf8_clean(em *e, const char *s, size_t n, size_t *outlen)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            break;
        i += k;
    }
    if (i == n) {
        *outlen = n;
        return s;
    }
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    size_t need = n * 3 + 1;
    if (need > e->tmpcap) {
        char *p = realloc(e->tmp, need);
        if (!p)
            return NULL;
        e->tmp = p;
        e->tmpcap = need;
    }
    size_t o = 0;
    i = 0;
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (k) {
            memcpy(e->tmp + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(e->tmp + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *outlen = o;
    return e->tmp;
}

/* A string scalar, always quoted (or a literal block when literal is set and libyaml allows). */
static int str_n(em *e, const char *s, size_t n, int literal)
{
    if (e->failed)
        return -1;
    if (!s)
        s = "", n = 0;
    if (n > MAX_STRING) {
        e->failed = 1;
        return ff_err_set(&e->err, "a text field of %zu bytes is too long for the YAML tree", n);
    }
    size_t len;
    const char *v = utf8_clean(e, s, n, &len);
    if (!v) {
        e->failed = 1;
        return ff_err_set(&e->err, "out of memory cleaning a %zu-byte string", n);
    }
    yaml_event_t ev;
    int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)v, (int)len, 0, 1,
                                          literal ? YAML_LITERAL_SCALAR_STYLE
                                                  : YAML_ANY_SCALAR_STYLE);
    return emit(e, &ev, ok);
}

static int str(em *e, const char *s)
{
    return str_n(e, s, s ? strlen(s) : 0, 0);
}

/* A plain scalar whose text resolves to the intended type (numbers, booleans, null, our own
 * keys). */
static int plain(em *e, const char *s)
{
    yaml_event_t ev;
    int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)strlen(s),
                                          1, 0, YAML_PLAIN_SCALAR_STYLE);
    return emit(e, &ev, ok);
}

static int map_start(em *e, const char *tag, yaml_mapping_style_t style)
{
    yaml_event_t ev;
    int ok = yaml_mapping_start_event_initialize(&ev, NULL, (const yaml_char_t *)tag, tag == NULL,
                                                 style);
    return emit(e, &ev, ok);
}

static int map_end(em *e)
{
    yaml_event_t ev;
    int ok = yaml_mapping_end_event_initialize(&ev);
    return emit(e, &ev, ok);
}

static int seq_start(em *e, yaml_sequence_style_t style)
{
    yaml_event_t ev;
    int ok = yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, style);
    return emit(e, &ev, ok);
}

static int seq_end(em *e)
{
    yaml_event_t ev;
    int ok = yaml_sequence_end_event_initialize(&ev);
    return emit(e, &ev, ok);
}

/* Shortest text that reads back as the same double (base/numfmt.h: Python's repr), in a form
 * YAML 1.1 resolves as a float: it always has a '.' (repr's "1e-05" becomes "1.0e-05"), and
 * non-finite values are .nan/.inf/-.inf. */
static void fmt_float(double v, char out[FF_NUMFMT_MAX + 2])
{
    if (isnan(v)) {
        strcpy(out, ".nan");
        return;
    }
    if (isinf(v)) {
        strcpy(out, v > 0 ? ".inf" : "-.inf");
        return;
    }
    char t[FF_NUMFMT_MAX];
    size_t n = ff_fmt_double(v, t);
    const char *e = memchr(t, 'e', n);
    if (e && !memchr(t, '.', (size_t)(e - t))) {
        size_t m = (size_t)(e - t);
        memcpy(out, t, m);
        memcpy(out + m, ".0", 2);
        memcpy(out + m + 2, e, n - m + 1);
    } else {
        memcpy(out, t, n + 1);
    }
}

static int flt(em *e, double v)
{
    char b[FF_NUMFMT_MAX + 2];
    fmt_float(v, b);
    return plain(e, b);
}

static int i64(em *e, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return plain(e, b);
}

static int kv_str(em *e, const char *k, const char *v)
{
    plain(e, k);
    return str(e, v);
}

/* The string in a fixed char array that may lack its NUL. */
static int str_arr(em *e, const char *a, size_t size)
{
    return str_n(e, a, strnlen(a, size), 0);
}

/* ---- fits ---- */

static int is_list_key(const char *k)
{
    return k[0] == '\0' || strcmp(k, "COMMENT") == 0 || strcmp(k, "HISTORY") == 0;
}

static uint64_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

/* first[i] = 1 when card i is the first with its keyword (hash set over keywords). */
static unsigned char *first_cards(const ff_header *h)
{
    size_t n = h->ncards, cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    unsigned char *first = calloc(n ? n : 1, 1);
    size_t *slot = malloc(cap * sizeof *slot);
    if (!first || !slot) {
        free(first);
        free(slot);
        return NULL;
    }
    for (size_t i = 0; i < cap; i++)
        slot[i] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        const char *k = h->cards[i].key;
        size_t s = (size_t)key_hash(k) & (cap - 1);
        while (slot[s] != SIZE_MAX && strcmp(h->cards[slot[s]].key, k) != 0)
            s = (s + 1) & (cap - 1);
        if (slot[s] == SIZE_MAX) {
            slot[s] = i;
            first[i] = 1;
        }
    }
    free(slot);
    return first;
}

static int card_value(em *e, const ff_card *c)
{
    switch (c->kind) {
    case FF_CARD_UNDEFINED: return plain(e, "null");
    case FF_CARD_BOOL: return plain(e, c->bval ? "true" : "false");
    case FF_CARD_INT: return i64(e, (long long)c->ival);
    case FF_CARD_FLOAT: return flt(e, c->fval);
    case FF_CARD_STRING:
    case FF_CARD_COMPLEX:
    case FF_CARD_COMMENTARY: break;
    }
    return str(e, c->text);
}

static int host_little_endian(void);

/* "header" {KEY: typed value} and "comments" {KEY: text} of h, in the current mapping. */
static int write_header_maps(em *e, const ff_header *h)
{
    size_t n = h ? h->ncards : 0;
    unsigned char *first = NULL;
    if (n && !(first = first_cards(h))) {
        e->failed = 1;
        return ff_err_set(&e->err, "out of memory indexing %zu header cards", n);
    }
    plain(e, "header");
    map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
    for (size_t i = 0; i < n && !e->failed; i++) {
        if (!first[i])
            continue;
        const ff_card *c = &h->cards[i];
        str_arr(e, c->key, sizeof c->key);
        if (is_list_key(c->key)) {
            seq_start(e, YAML_BLOCK_SEQUENCE_STYLE);
            for (size_t j = i; j < n && !e->failed; j++)
                if (strcmp(h->cards[j].key, c->key) == 0)
                    str(e, h->cards[j].text);
            seq_end(e);
        } else {
            card_value(e, c);
        }
    }
    map_end(e);
    plain(e, "comments");
    map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
    for (size_t i = 0; i < n && !e->failed; i++) {
        const ff_card *c = &h->cards[i];
        if (first[i] && !is_list_key(c->key) && c->comment && c->comment[0]) {
            str_arr(e, c->key, sizeof c->key);
            str(e, c->comment);
        }
    }
    map_end(e);
    free(first);
    return e->failed ? -1 : 0;
}

static int write_fits(em *e, const ff_asdf_input *in)
{
    plain(e, "fits");
    map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
    kv_str(e, "source_name", in->source_name);
    plain(e, "header_text");
    const char *ht = in->header_text ? in->header_text : "";
    str_n(e, ht, strlen(ht), 1);
    write_header_maps(e, in->header);
    return map_end(e);
}

static int ndarray(em *e, int source, const ff_image *img)
{
    map_start(e, ASDF_TAG "core/ndarray-1.0.0", YAML_BLOCK_MAPPING_STYLE);
    plain(e, "source"), i64(e, source);
    plain(e, "datatype"), plain(e, ff_dtype_name(img->dtype));
    plain(e, "byteorder"), plain(e, host_little_endian() ? "little" : "big");
    plain(e, "shape");
    seq_start(e, YAML_FLOW_SEQUENCE_STYLE);
    for (int d = 0; d < img->ndim; d++)
        i64(e, (long long)img->shape[d]);
    seq_end(e);
    return map_end(e);
}

static void str_or_null(em *e, const char *s)
{
    if (s && *s)
        str(e, s);
    else
        plain(e, "null");
}

/* prep: the level-1.5 outcome; when registered, the ML array (block 1) and the level-1.5
 * header. */
static int write_prep(em *e, const ff_asdf_prep *p)
{
    plain(e, "prep");
    map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
    kv_str(e, "status", p->status);
    plain(e, "reason"), str_or_null(e, p->reason);
    if (p->ml) {
        plain(e, "normalised"), plain(e, p->normalised ? "true" : "false");
        plain(e, "normalise_reason"), str_or_null(e, p->normalised ? NULL : p->normalise_reason);
        plain(e, "exptime");
        if (isfinite(p->exptime))
            flt(e, p->exptime);
        else
            plain(e, "null");
        plain(e, "ml"), ndarray(e, 1, p->ml);
        plain(e, "ml_npy"), str_or_null(e, p->ml_path);
        plain(e, "lev15_fits"), str_or_null(e, p->lev15_path);
        write_header_maps(e, p->header);
    }
    return map_end(e);
}

/* ---- observation ---- */

static int write_observation(em *e, const ff_obsmeta *o)
{
    plain(e, "observation");
    map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
    if (!o) {
        const char *keys[] = {"observatory", "instrument", "detector", "measurement"};
        for (size_t i = 0; i < 4; i++)
            kv_str(e, keys[i], "");
        plain(e, "wavelength"), plain(e, "null");
        plain(e, "source_id"), i64(e, -1);
        plain(e, "exptime"), plain(e, "null");
        plain(e, "time"), plain(e, "null");
        kv_str(e, "time_reason", "no observation metadata was given");
        return map_end(e);
    }
    plain(e, "observatory"), str_arr(e, o->observatory, sizeof o->observatory);
    plain(e, "instrument"), str_arr(e, o->instrument, sizeof o->instrument);
    plain(e, "detector"), str_arr(e, o->detector, sizeof o->detector);
    plain(e, "measurement"), str_arr(e, o->measurement, sizeof o->measurement);
    plain(e, "wavelength");
    if (o->wavelength)
        i64(e, o->wavelength);
    else
        plain(e, "null");
    plain(e, "source_id"), i64(e, o->source_id);
    plain(e, "exptime");
    if (isfinite(o->exptime))
        flt(e, o->exptime);
    else
        plain(e, "null");
    plain(e, "time");
    if (o->has_time)
        str_arr(e, o->time_iso, sizeof o->time_iso);
    else
        plain(e, "null");
    plain(e, "time_reason");
    if (o->has_time)
        str(e, "");
    else
        str_arr(e, o->time_reason, sizeof o->time_reason);
    return map_end(e);
}

/* ---- hek ---- */

static int json_depth(const json_t *j, int depth)
{
    if (depth > MAX_HEK_DEPTH)
        return depth;
    int m = depth;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            int d = json_depth(v, depth + 1);
            if (d > m)
                m = d;
            if (m > MAX_HEK_DEPTH)
                break;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int d = json_depth(v, depth + 1);
            if (d > m)
                m = d;
            if (m > MAX_HEK_DEPTH)
                break;
        }
    }
    return m;
}

static int json_yaml(em *e, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
        json_object_foreach((json_t *)j, k, v) {
            str(e, k);
            json_yaml(e, v);
        }
        return map_end(e);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        seq_start(e, YAML_BLOCK_SEQUENCE_STYLE);
        json_array_foreach(j, i, v)
            json_yaml(e, v);
        return seq_end(e);
    }
    case JSON_STRING: return str_n(e, json_string_value(j), json_string_length(j), 0);
    case JSON_INTEGER: return i64(e, (long long)json_integer_value(j));
    case JSON_REAL: return flt(e, json_real_value(j));
    case JSON_TRUE: return plain(e, "true");
    case JSON_FALSE: return plain(e, "false");
    case JSON_NULL: return plain(e, "null");
    }
    return plain(e, "null");
}

static int write_hek(em *e, const char *text, size_t len)
{
    char note[300] = "";
    json_t *j = NULL;
    if (!text) {
        snprintf(note, sizeof note, "no HEK events were given");
    } else if (len > MAX_HEK_JSON) {
        snprintf(note, sizeof note, "HEK events JSON of %zu bytes is over the %zu-byte limit",
                 len, MAX_HEK_JSON);
    } else {
        json_error_t je;
        j = json_loadb(text, len, JSON_DECODE_ANY, &je);
        if (!j)
            snprintf(note, sizeof note, "HEK events JSON could not be parsed: %s (line %d)",
                     je.text, je.line);
        else if (json_depth(j, 0) > MAX_HEK_DEPTH) {
            snprintf(note, sizeof note, "HEK events JSON nests deeper than %d levels",
                     MAX_HEK_DEPTH);
            json_decref(j);
            j = NULL;
        }
    }
    plain(e, "hek");
    if (j) {
        json_yaml(e, j);
        json_decref(j);
    } else {
        map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
        map_end(e);
        kv_str(e, "hek_note", note);
    }
    return e->failed ? -1 : 0;
}

/* ---- the rest of the tree ---- */

static int write_meta(em *e, const ff_asdf_meta *m)
{
    static const ff_asdf_meta none;
    if (!m)
        m = &none;
    plain(e, "meta");
    map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
    kv_str(e, "creator", m->creator);
    kv_str(e, "institution", m->institution);
    kv_str(e, "award", m->award);
    kv_str(e, "description", m->description);
    plain(e, "pipeline");
    map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
    kv_str(e, "name", m->pipeline_name ? m->pipeline_name : "FitsFlow");
    kv_str(e, "version", m->pipeline_version ? m->pipeline_version : FF_VERSION);
    map_end(e);
    kv_str(e, "created", m->created_iso);
    return map_end(e);
}

static int host_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static int write_data(em *e, const ff_asdf_input *in)
{
    const ff_image *img = in->image;
    plain(e, "data");
    map_start(e, NULL, YAML_BLOCK_MAPPING_STYLE);
    plain(e, "image");
    ndarray(e, 0, img);
    plain(e, "csv");
    if (in->csv_path)
        str(e, in->csv_path);
    else
        plain(e, "null");
    kv_str(e, "npy", in->npy_path);
    return map_end(e);
}

static int write_tree(em *e, const ff_asdf_input *in)
{
    yaml_event_t ev;
    emit(e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    yaml_version_directive_t ver = {1, 1};
    yaml_tag_directive_t tags[1] = {{(yaml_char_t *)"!", (yaml_char_t *)ASDF_TAG}};
    emit(e, &ev, yaml_document_start_event_initialize(&ev, &ver, tags, tags + 1, 0));
    map_start(e, ASDF_TAG "core/asdf-1.1.0", YAML_BLOCK_MAPPING_STYLE);

    plain(e, "asdf_library");
    map_start(e, ASDF_TAG "core/software-1.0.0", YAML_FLOW_MAPPING_STYLE);
    kv_str(e, "name", "FitsFlow");
    const char *ver_s = in->meta && in->meta->pipeline_version ? in->meta->pipeline_version
                                                                : FF_VERSION;
    kv_str(e, "version", ver_s);
    map_end(e);

    write_meta(e, in->meta);
    write_fits(e, in);
    write_observation(e, in->obs);
    write_data(e, in);
    plain(e, "images");
    seq_start(e, YAML_BLOCK_SEQUENCE_STYLE);
    for (size_t i = 0; i < in->n_image_paths && in->image_paths; i++)
        str(e, in->image_paths[i]);
    seq_end(e);
    write_hek(e, in->hek_json, in->hek_json_len);
    if (in->prep)
        write_prep(e, in->prep);

    map_end(e);
    emit(e, &ev, yaml_document_end_event_initialize(&ev, 0));
    emit(e, &ev, yaml_stream_end_event_initialize(&ev));
    if (!e->failed && !yaml_emitter_flush(&e->y)) {
        e->failed = 1;
        if (e->sink_failed)
            e->err = e->sink_err;
        else
            ff_err_set(&e->err, "YAML emitter failed to flush");
    }
    return e->failed ? -1 : 0;
}

/* ---- block ---- */

static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static int write_block(em *e, const ff_image *img, size_t nbytes, int compressed,
                       const ff_asdf_block *z, const unsigned char md5[16])
{
    unsigned char h[6 + BLOCK_HEADER_SIZE];
    memset(h, 0, sizeof h);
    memcpy(h, "\323BLK", 4);
    h[4] = 0;
    h[5] = BLOCK_HEADER_SIZE;
    /* flags (4 bytes) stay 0 */
    if (compressed)
        memcpy(h + 10, "zlib", 4);
    uint64_t used = compressed ? z->total : nbytes;
    be64(h + 14, used);   /* allocated */
    be64(h + 22, used);   /* used */
    be64(h + 30, nbytes); /* data */
    memcpy(h + 38, md5, 16);
    if (put(e, h, sizeof h) != 0)
        return -1;
    if (compressed) {
        if (ff_asdf_block_write(z, e->sink, &e->err) != 0) {
            e->failed = 1;
            return -1;
        }
        e->written += z->total;
        return 0;
    }
    return put(e, img->data, nbytes);
}

static int check_image(const ff_image *img, size_t *nbytes, ff_err *err)
{
    if (!img)
        return ff_err_set(err, "no image was given for the ASDF file");
    if (img->ndim < 1 || img->ndim > FF_MAX_NDIM)
        return ff_err_set(err, "image has %d dimensions; ASDF output supports 1 to %d",
                          img->ndim, FF_MAX_NDIM);
    size_t es = ff_dtype_size(img->dtype);
    if (es == 0)
        return ff_err_set(err, "image has an unknown data type (%d)", (int)img->dtype);
    size_t n = 1;
    for (int d = 0; d < img->ndim; d++) {
        if (img->shape[d] && n > SIZE_MAX / img->shape[d])
            return ff_err_set(err, "image shape is too large to address");
        n *= img->shape[d];
    }
    if (n != img->nelem)
        return ff_err_set(err, "image says it has %zu elements but its shape holds %zu",
                          img->nelem, n);
    if (n > SIZE_MAX / es)
        return ff_err_set(err, "image is too large to address");
    if (n && !img->data)
        return ff_err_set(err, "image has %zu elements but no data", n);
    *nbytes = n * es;
    return 0;
}

int ff_asdf_write(const ff_asdf_input *in, ff_sink *out, ff_err *err)
{
    if (!in || !out)
        return ff_err_set(err, "ASDF writer called without input or output");
    size_t nbytes = 0, mlbytes = 0;
    if (check_image(in->image, &nbytes, err) != 0)
        return -1;
    const ff_image *ml = in->prep ? in->prep->ml : NULL;
    if (ml && check_image(ml, &mlbytes, err) != 0)
        return ff_err_prefix(err, "the ML array");
    /* The ML array is small (N x N float32): a raw block with its MD5. */
    unsigned char mlmd5[16];
    if (ml && ff_md5(ml->data, mlbytes, mlmd5, err) != 0)
        return -1;

    /* Compress (and hash) first: nothing reaches the sink unless the block is ready. */
    ff_asdf_block z;
    memset(&z, 0, sizeof z);
    unsigned char md5[16];
    if (in->compress) {
        if (ff_asdf_block_compress(in->image->data, nbytes, (unsigned)ff_dtype_size(in->image->dtype),
                             in->nthreads, &z, err) != 0)
            return ff_err_prefix(err, "compressing the image block");
        memcpy(md5, z.md5, 16);
    } else if (ff_md5(in->image->data, nbytes, md5, err) != 0) {
        return -1;
    }

    em e;
    memset(&e, 0, sizeof e);
    e.sink = out;
    int rc = -1;
    if (!yaml_emitter_initialize(&e.y)) {
        ff_err_set(err, "cannot initialise the YAML emitter (out of memory)");
        ff_asdf_block_free(&z);
        return -1;
    }
    yaml_emitter_set_output(&e.y, out_handler, &e);
    yaml_emitter_set_width(&e.y, -1);
    yaml_emitter_set_unicode(&e.y, 0);

    static const char head[] = "#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n";
    if (put(&e, head, sizeof head - 1) != 0 || write_tree(&e, in) != 0)
        goto done;
    uint64_t block_off = e.written;
    if (write_block(&e, in->image, nbytes, in->compress, &z, md5) != 0)
        goto done;
    uint64_t ml_off = e.written;
    if (ml && write_block(&e, ml, mlbytes, 0, NULL, mlmd5) != 0)
        goto done;
    char idx[128];
    int n = ml ? snprintf(idx, sizeof idx, "#ASDF BLOCK INDEX\n%%YAML 1.1\n---\n- %llu\n- %llu\n...\n",
                          (unsigned long long)block_off, (unsigned long long)ml_off)
               : snprintf(idx, sizeof idx, "#ASDF BLOCK INDEX\n%%YAML 1.1\n---\n- %llu\n...\n",
                          (unsigned long long)block_off);
    if (put(&e, idx, (size_t)n) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0 && err)
        *err = e.err;
    yaml_emitter_delete(&e.y);
    free(e.tmp);
    ff_asdf_block_free(&z);
    return rc;
}
