/* GET /api/sessions/S/archive.zip: every output under temp/S/processed/ plus a README.txt as one
 * ZIP (libarchive), streamed while it is built. The listing runs on a store thread (offload.c); a
 * producer thread (pump.c) then reads each object through the store's streaming reader and writes
 * the archive into a bounded ring (1 MiB) that the HTTP side drains, so memory stays small
 * whatever the size of the session, a slow client only slows the producer down, and no HTTP
 * thread waits while the producer compresses or reads from the store.
 * A failure is never delivered as a valid archive: when a member cannot be read in full (the
 * store fails, stalls past FITSFLOW_STORE_TIMEOUT_MS or sends fewer bytes than it announced) the
 * archive is abandoned without its central directory and the connection is reset, so the
 * transfer fails. A member up to MEMBER_BUFFER bytes is read whole and checked before any of it
 * is written; a larger one streams, and its failure cuts the transfer. An object deleted between
 * the listing and its read is left out and README.txt (the last member) names it as missing. */
#include "server/routes/routes.h"
#include "server/http/protocol.h"
#include "pipeline/keys.h"
#include "base/clock.h"

#include <assert.h>
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "pipeline/session.h"

#define RING (1u << 20)
#define CHUNK (256 * 1024)
#define MEMBER_BUFFER (4u << 20)

typedef struct zip_stream {
    ff_pump *pump;
    ff_app *a;
    char sid[FF_SESSION_ID_MAX + 1];
    char **keys;
    size_t nkeys, capkeys;
    unsigned char *missing;     /* per key: deleted before it could be read */
    int failed;                 /* nothing more reaches the client */
    /* the listing's outcome (store thread) */
    int list_rc;
    ff_err list_err;
    ff_store_fault list_fault;
} zip_stream;

static la_ssize_t zw_write(struct archive *a, void *cls, const void *buf, size_t n)
{
    (void)a;
    zip_stream *z = cls;
    /* After a failure nothing more goes out: libarchive writes its central directory when it is
     * freed, and that must never follow a broken member. */
    if (z->failed)
        return (la_ssize_t)n;
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

/* Writes buf as the data of the entry just started; 0, or -1 with why. */
static int write_data(zip_stream *z, struct archive *a, const char *buf, size_t n, char *why, size_t cap)
{
    if (n && archive_write_data(a, buf, n) != (la_ssize_t)n) {
        if (!ff_pump_cancelled(z->pump))
            snprintf(why, cap, "writing the archive failed: %s",
                     archive_error_string(a) ? archive_error_string(a) : "libarchive gave no reason");
        return -1;
    }
    return 0;
}

static int add_readme(zip_stream *z, struct archive *a, char *why, size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        snprintf(why, cap, "out of memory writing README.txt");
        return -1;
    }
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
    size_t nmissing = 0;
    for (size_t i = 0; i < z->nkeys; i++) {
        if (z->missing[i])
            nmissing++;
        else
            fprintf(f, "  %s\n", z->keys[i]);
    }
    if (nmissing) {
        fprintf(f, "\nMissing (deleted while the archive was made, e.g. by a new run of the "
                   "session; download the archive again once it is done):\n");
        for (size_t i = 0; i < z->nkeys; i++)
            if (z->missing[i])
                fprintf(f, "  %s\n", z->keys[i]);
    }
    if (fclose(f) != 0) {
        free(text);
        snprintf(why, cap, "out of memory writing README.txt");
        return -1;
    }
    int rc = add_entry(a, "README.txt", len, time(NULL));
    if (rc != 0)
        snprintf(why, cap, "writing the archive failed: %s",
                 archive_error_string(a) ? archive_error_string(a) : "libarchive gave no reason");
    if (rc == 0)
        rc = write_data(z, a, text, len, why, cap);
    free(text);
    return rc;
}

/* Adds member i. 0 added (or missing: noted for README.txt), -1 failed with why. */
static int add_file(zip_stream *z, struct archive *a, size_t i, char *buf, char *why, size_t cap)
{
    const char *rel = z->keys[i];
    char key[FF_STORE_KEY_MAX + 1];
    ff_key_processed(key, sizeof key, z->sid, rel);
    ff_store_stat st;
    ff_store_reader *rd = NULL;
    ff_err err = {0};
    double timeout = ff_offload_timeout(z->a->offload);
    ff_store_set_deadline(ff_clock_now() + timeout);
    ff_store_set_stall(timeout);
    int rc = ff_store_reader_open(z->a->store, key, 0, FF_STORE_TO_END, &st, &rd, &err);
    ff_store_set_deadline(0);
    ff_store_set_stall(0);
    if (rc == 1) {
        z->missing[i] = 1; /* deleted meanwhile (a rerun): named in README.txt */
        return 0;
    }
    if (rc != 0) {
        snprintf(why, cap, "cannot read %s: %s", rel, err.msg);
        return -1;
    }
    uint64_t size = ff_store_reader_left(rd);
    if (size <= MEMBER_BUFFER) {
        /* Small: read it whole and check it before a byte of it is written. */
        char *whole = malloc(size ? size : 1);
        size_t have = 0, got;
        if (!whole) {
            snprintf(why, cap, "out of memory reading %s", rel);
            rc = -1;
        }
        while (rc == 0 && have < size) {
            if (ff_store_reader_read(rd, whole + have, size - have, &got, &err) != 0) {
                snprintf(why, cap, "cannot read %s: %s", rel, err.msg);
                rc = -1;
            } else {
                have += got;
            }
        }
        ff_store_reader_close(rd);
        if (rc == 0 && have != size) {
            snprintf(why, cap, "%s ended after %zu of its %llu bytes", rel, have,
                     (unsigned long long)size);
            rc = -1;
        }
        if (rc == 0 && add_entry(a, rel, size, st.mtime) != 0) {
            snprintf(why, cap, "writing the archive failed: %s",
                     archive_error_string(a) ? archive_error_string(a) : "libarchive gave no reason");
            rc = -1;
        }
        if (rc == 0)
            rc = write_data(z, a, whole, have, why, cap);
        free(whole);
        return rc;
    }
    /* Large: streamed; a failure part way cuts the whole transfer. */
    if (add_entry(a, rel, size, st.mtime) != 0) {
        snprintf(why, cap, "writing the archive failed: %s",
                 archive_error_string(a) ? archive_error_string(a) : "libarchive gave no reason");
        rc = -1;
    }
    uint64_t sent = 0;
    size_t got;
    while (rc == 0 && sent < size) {
        if (ff_store_reader_read(rd, buf, CHUNK, &got, &err) != 0) {
            snprintf(why, cap, "cannot read %s after %llu of its %llu bytes: %s", rel,
                     (unsigned long long)sent, (unsigned long long)size, err.msg);
            rc = -1;
        } else {
            sent += got;
            rc = write_data(z, a, buf, got, why, cap);
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
    char why[FF_ERR_MAX + 256] = "";
    char *buf = malloc(CHUNK);
    struct archive *a = archive_write_new();
    if (!buf || !a) {
        snprintf(why, sizeof why, "out of memory");
    } else if (archive_write_set_format_zip(a) != ARCHIVE_OK) {
        snprintf(why, sizeof why, "libarchive cannot write ZIP: %s", archive_error_string(a));
    } else {
        archive_write_set_options(a, "zip:compression=deflate");
        archive_write_set_option(a, "zip", "compression-level", "1"); /* may be unsupported */
        archive_write_set_bytes_per_block(a, 0);
        if (archive_write_open2(a, z, NULL, zw_write, NULL, NULL) != ARCHIVE_OK) {
            snprintf(why, sizeof why, "libarchive cannot start the archive: %s", archive_error_string(a));
        } else {
            rc = 0;
            for (size_t i = 0; rc == 0 && i < z->nkeys && !ff_pump_cancelled(z->pump); i++)
                rc = add_file(z, a, i, buf, why, sizeof why);
            if (rc == 0 && !ff_pump_cancelled(z->pump))
                rc = add_readme(z, a, why, sizeof why);
            if (rc == 0 && !ff_pump_cancelled(z->pump) && archive_write_close(a) != ARCHIVE_OK) {
                snprintf(why, sizeof why, "finishing the archive failed: %s",
                         archive_error_string(a) ? archive_error_string(a) : "libarchive gave no reason");
                rc = -1;
            }
        }
    }
    if (ff_pump_cancelled(p)) {
        rc = -1; /* the client went away or the server stops: nothing to report */
    } else if (rc != 0) {
        ff_log(FF_LOG_ERROR, z->sid, NULL, "archive.zip abandoned (the client's transfer is cut, "
               "not finished): %s", why[0] ? why : "unknown failure");
    }
    if (rc != 0)
        z->failed = 1; /* archive_write_free would write a central directory: it goes nowhere */
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
    free(z->missing);
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

/* Store thread: the listing of the session's outputs. */
static void list_work(void *ctx)
{
    zip_stream *z = ctx;
    char prefix[128];
    ff_key_processed(prefix, sizeof prefix, z->sid, "");
    collect c = {z, strlen(prefix)};
    z->list_rc = ff_store_list(z->a->store, prefix, on_key, &c, &z->list_err);
    z->list_fault = z->list_rc ? ff_store_last_fault() : FF_STORE_FAULT_NONE;
    if (z->list_rc && z->list_fault == FF_STORE_FAULT_NONE) { /* on_key ran out of memory */
        z->list_fault = FF_STORE_FAULT_LOCAL;
        ff_err_set(&z->list_err, "out of memory");
    }
    if (z->list_rc == 0 && z->nkeys) {
        qsort(z->keys, z->nkeys, sizeof *z->keys, cmp_str);
        z->missing = calloc(z->nkeys, 1);
        if (!z->missing) {
            z->list_rc = -1;
            z->list_fault = FF_STORE_FAULT_LOCAL;
            ff_err_set(&z->list_err, "out of memory");
        }
    }
}

/* HTTP thread: starts the producer, or answers why not. The zip_stream goes to the pump. */
static enum MHD_Result list_done(ff_req *r, void *ctx)
{
    zip_stream *z = *(zip_stream **)ctx;
    if (z->list_rc != 0)
        return ff_req_send_store_error(r, "cannot list the session's outputs", z->list_fault,
                                        &z->list_err);
    if (z->nkeys == 0)
        return ff_req_send_error(r, 404, "session %s has no outputs yet", z->sid);
    *(zip_stream **)ctx = NULL; /* owned by the pump from here, whatever happens */
    struct MHD_Response *resp = ff_pump_response(r, MHD_SIZE_UNKNOWN, RING, build, z, zip_free);
    if (!resp)
        return ff_req_send_error(r, 503, "cannot start building the archive; try again");
    char cd[160];
    snprintf(cd, sizeof cd, "attachment; filename=\"fitsflow-%s.zip\"", z->sid);
    MHD_add_response_header(resp, "Content-Type", "application/zip");
    MHD_add_response_header(resp, "Content-Disposition", cd);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return ff_req_send(r, 200, resp);
}

static void list_work_slot(void *ctx)
{
    list_work(*(zip_stream **)ctx);
}

static void slot_free(void *ctx)
{
    zip_stream **slot = ctx;
    if (*slot)
        zip_free(*slot);
    free(slot);
}

enum MHD_Result ff_archive_zip(ff_req *r, void *app, const char *sid)
{
    assert(ff_session_id_valid(sid)); /* the route's {sid}: the engine checked it */
    zip_stream *z = calloc(1, sizeof *z);
    zip_stream **slot = malloc(sizeof *slot);
    if (!z || !slot) {
        free(z);
        free(slot);
        return MHD_NO;
    }
    z->a = app;
    snprintf(z->sid, sizeof z->sid, "%s", sid);
    *slot = z;
    return ff_req_offload(r, list_work_slot, list_done, slot, slot_free);
}
