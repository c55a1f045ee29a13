/* GET /api/sessions/S/archive.zip: every output under temp/S/processed/ plus a README.txt as one
 * ZIP (libarchive), streamed while it is built. A producer thread (pump.c) reads each object
 * through the store's streaming reader and writes the archive into a bounded ring (1 MiB) that
 * the HTTP side drains, so memory stays small whatever the size of the session, a slow client
 * only slows the producer down, and no HTTP thread waits while the producer compresses or reads
 * from the store. */
#include "server/http_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "pipeline/session.h"

#define RING (1u << 20)
#define CHUNK (256 * 1024)

typedef struct zip_stream {
    ff_pump *pump;
    ff_http *h;
    char sid[FF_SESSION_ID_MAX + 1];
    char **keys;
    size_t nkeys, capkeys;
} zip_stream;

static la_ssize_t zw_write(struct archive *a, void *cls, const void *buf, size_t n)
{
    (void)a;
    zip_stream *z = cls;
    if (ff_pump_write(z->pump, buf, n) == 0)
        return (la_ssize_t)n;
    /* Dropped, not refused, when the client is gone: libarchive's ZIP writer leaks its deflate
     * state when a write fails mid-entry, so the producer stops between files instead. */
    return ff_pump_cancelled(z->pump) ? (la_ssize_t)n : -1;
}

static int add_entry(struct archive *a, const char *name, uint64_t size, time_t mtime)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return -1;
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, mtime, 0);
    int rc = archive_write_header(a, e);
    archive_entry_free(e);
    return rc == ARCHIVE_OK ? 0 : -1;
}

static int add_readme(zip_stream *z, struct archive *a)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return -1;
    char when[40];
    ff_http_format_date(time(NULL), when, sizeof when);
    fprintf(f,
            "FitsFlow outputs of session %s\n"
            "Made %s by FitsFlow %s.\n\n"
            "manifest.json lists every input and every output with its size and sha256.\n"
            "header/  FITS header as text (KEY = value) and as typed JSON\n"
            "data/    the image as CSV (pandas) and NPY (numpy)\n"
            "images/  rendered PNGs (local/), Helioviewer (sdo/) and JSOC (jsoc/) images\n"
            "hek/     HEK events around the observation time\n"
            "asdf/    one ASDF bundle per file\n\n"
            "Files in this archive:\n",
            z->sid, when, FF_VERSION);
    for (size_t i = 0; i < z->nkeys; i++)
        fprintf(f, "  %s\n", z->keys[i]);
    if (fclose(f) != 0) {
        free(text);
        return -1;
    }
    int rc = add_entry(a, "README.txt", len, time(NULL));
    if (rc == 0 && archive_write_data(a, text, len) != (la_ssize_t)len)
        rc = -1;
    free(text);
    return rc;
}

static int add_file(zip_stream *z, struct archive *a, const char *rel, char *buf)
{
    char key[FF_STORE_KEY_MAX + 1];
    snprintf(key, sizeof key, "temp/%s/processed/%s", z->sid, rel);
    ff_store_stat st;
    ff_store_reader *rd = NULL;
    ff_err err = {0};
    int rc = ff_store_reader_open(z->h->d.store, key, 0, FF_STORE_TO_END, &st, &rd, &err);
    if (rc == 1)
        return 0; /* deleted meanwhile (a rerun): leave it out */
    if (rc != 0) {
        ff_log(FF_LOG_ERROR, z->sid, rel, "archive.zip: %s", err.msg);
        return -1;
    }
    rc = add_entry(a, rel, st.size, st.mtime);
    size_t got;
    while (rc == 0) {
        if (ff_store_reader_read(rd, buf, CHUNK, &got, &err) != 0) {
            ff_log(FF_LOG_ERROR, z->sid, rel, "archive.zip: %s", err.msg);
            rc = -1;
        } else if (!got) {
            break;
        } else if (archive_write_data(a, buf, got) != (la_ssize_t)got) {
            rc = -1;
        }
    }
    ff_store_reader_close(rd);
    return rc;
}

static int build(ff_pump *p, void *ctx)
{
    zip_stream *z = ctx;
    z->pump = p;
    int rc = -1;
    char *buf = malloc(CHUNK);
    struct archive *a = archive_write_new();
    if (buf && a && archive_write_set_format_zip(a) == ARCHIVE_OK) {
        archive_write_set_options(a, "zip:compression=deflate");
        archive_write_set_option(a, "zip", "compression-level", "1"); /* may be unsupported */
        archive_write_set_bytes_per_block(a, 0);
        if (archive_write_open2(a, z, NULL, zw_write, NULL, NULL) == ARCHIVE_OK) {
            rc = add_readme(z, a);
            for (size_t i = 0; rc == 0 && i < z->nkeys && !ff_pump_cancelled(z->pump); i++)
                rc = add_file(z, a, z->keys[i], buf);
            if (archive_write_close(a) != ARCHIVE_OK)
                rc = -1;
        }
    }
    if (rc != 0 && !ff_pump_cancelled(p))
        ff_log(FF_LOG_ERROR, z->sid, NULL, "building archive.zip failed: %s",
               a && archive_error_string(a) ? archive_error_string(a) : "out of memory");
    if (a)
        archive_write_free(a);
    free(buf);
    return rc;
}

static void zip_free(void *cls)
{
    zip_stream *z = cls;
    for (size_t i = 0; i < z->nkeys; i++)
        free(z->keys[i]);
    free(z->keys);
    free(z);
}

typedef struct collect {
    zip_stream *z;
    size_t prefix_len;
} collect;

static int on_key(const char *key, const ff_store_stat *st, void *ctx)
{
    (void)st;
    collect *c = ctx;
    zip_stream *z = c->z;
    const char *rel = key + c->prefix_len;
    for (const char *p = rel; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (*p == '.')
            return 0;
    }
    if (z->nkeys == z->capkeys) {
        size_t cap = z->capkeys ? z->capkeys * 2 : 32;
        char **k = realloc(z->keys, cap * sizeof *k);
        if (!k)
            return -1;
        z->keys = k;
        z->capkeys = cap;
    }
    z->keys[z->nkeys] = strdup(rel);
    if (!z->keys[z->nkeys])
        return -1;
    z->nkeys++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum MHD_Result ff_archive_zip(ff_req *r, const char *sid)
{
    zip_stream *z = calloc(1, sizeof *z);
    if (!z)
        return MHD_NO;
    z->h = r->h;
    snprintf(z->sid, sizeof z->sid, "%s", sid);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "temp/%s/processed/", sid);
    collect c = {z, strlen(prefix)};
    ff_err err = {0};
    if (ff_store_list(r->h->d.store, prefix, on_key, &c, &err) != 0) {
        zip_free(z);
        return ff_http_send_error(r, 500, "cannot list the session's outputs: %s", err.msg);
    }
    if (z->nkeys == 0) {
        zip_free(z);
        return ff_http_send_error(r, 404, "session %s has no outputs yet", sid);
    }
    qsort(z->keys, z->nkeys, sizeof *z->keys, cmp_str);
    struct MHD_Response *resp = ff_pump_response(r, MHD_SIZE_UNKNOWN, RING, build, z, zip_free);
    if (!resp)
        return ff_http_send_error(r, 503, "cannot start building the archive; try again");
    char cd[160];
    snprintf(cd, sizeof cd, "attachment; filename=\"fitsflow-%s.zip\"", sid);
    MHD_add_response_header(resp, "Content-Type", "application/zip");
    MHD_add_response_header(resp, "Content-Disposition", cd);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return ff_http_send(r, 200, resp);
}
