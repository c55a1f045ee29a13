/* GET /api/sessions/S/archive.zip: every output under temp/S/processed/ plus a README.txt as one
 * ZIP (libarchive), streamed while it is built. A producer thread writes the archive into a
 * bounded ring buffer (1 MiB) that the HTTP side drains, so memory stays small whatever the size
 * of the session, and a slow client only slows the producer down. */
#include "server/http_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "pipeline/session.h"

#define RING (1u << 20)
#define CHUNK (256 * 1024)

typedef struct zip_stream {
    pthread_mutex_t lock;
    pthread_cond_t can_read, can_write;
    char *ring;
    size_t head, len; /* bytes waiting start at head */
    int done, failed, cancelled, thread_started;
    pthread_t thread;
    ff_http *h;
    ff_req *r;
    char sid[FF_SESSION_ID_MAX + 1];
    char **keys;
    size_t nkeys, capkeys;
} zip_stream;

static la_ssize_t zw_write(struct archive *a, void *cls, const void *buf, size_t n)
{
    (void)a;
    zip_stream *z = cls;
    const char *p = buf;
    size_t left = n;
    pthread_mutex_lock(&z->lock);
    while (left) {
        while (z->len == RING && !z->cancelled)
            pthread_cond_wait(&z->can_write, &z->lock);
        if (z->cancelled) {
            /* Dropped, not refused: libarchive's ZIP writer leaks its deflate state when a write
             * fails mid-entry, so the producer stops between files instead (see producer). */
            pthread_mutex_unlock(&z->lock);
            return (la_ssize_t)n;
        }
        size_t tail = (z->head + z->len) % RING;
        size_t room = RING - z->len;
        size_t run = RING - tail < room ? RING - tail : room;
        if (run > left)
            run = left;
        memcpy(z->ring + tail, p, run);
        z->len += run;
        p += run;
        left -= run;
        pthread_cond_signal(&z->can_read);
    }
    pthread_mutex_unlock(&z->lock);
    return (la_ssize_t)n;
}

static int add_entry(struct archive *a, const char *name, const struct stat *st)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return -1;
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, st->st_size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
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
    struct stat st = {0};
    st.st_size = (off_t)len;
    st.st_mtim.tv_sec = time(NULL);
    int rc = add_entry(a, "README.txt", &st);
    if (rc == 0 && archive_write_data(a, text, len) != (la_ssize_t)len)
        rc = -1;
    free(text);
    return rc;
}

static int add_file(zip_stream *z, struct archive *a, const char *rel, char *buf)
{
    char key[FF_STORE_KEY_MAX + 1];
    snprintf(key, sizeof key, "temp/%s/processed/%s", z->sid, rel);
    char *path = ff_store_local_path(z->h->d.store, key);
    if (!path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    struct stat st;
    if (fd < 0)
        return 0; /* deleted meanwhile (a rerun): leave it out */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    int rc = add_entry(a, rel, &st);
    off_t left = st.st_size;
    while (rc == 0 && left > 0) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n <= 0) {
            rc = -1;
            break;
        }
        if (n > left)
            n = (ssize_t)left;
        if (archive_write_data(a, buf, (size_t)n) != n)
            rc = -1;
        left -= n;
    }
    close(fd);
    return rc;
}

static int is_cancelled(zip_stream *z)
{
    pthread_mutex_lock(&z->lock);
    int c = z->cancelled;
    pthread_mutex_unlock(&z->lock);
    return c;
}

static void *producer(void *arg)
{
    zip_stream *z = arg;
    int rc = -1;
    char *buf = malloc(CHUNK);
    struct archive *a = archive_write_new();
    if (buf && a && archive_write_set_format_zip(a) == ARCHIVE_OK) {
        archive_write_set_options(a, "zip:compression=deflate");
        archive_write_set_option(a, "zip", "compression-level", "1"); /* may be unsupported */
        archive_write_set_bytes_per_block(a, 0);
        if (archive_write_open2(a, z, NULL, zw_write, NULL, NULL) == ARCHIVE_OK) {
            rc = add_readme(z, a);
            for (size_t i = 0; rc == 0 && i < z->nkeys && !is_cancelled(z); i++)
                rc = add_file(z, a, z->keys[i], buf);
            if (archive_write_close(a) != ARCHIVE_OK)
                rc = -1;
        }
    }
    if (rc != 0 && !z->cancelled)
        ff_log(FF_LOG_ERROR, z->sid, NULL, "building archive.zip failed: %s",
               a && archive_error_string(a) ? archive_error_string(a) : "out of memory");
    if (a)
        archive_write_free(a);
    free(buf);
    pthread_mutex_lock(&z->lock);
    z->done = 1;
    z->failed = rc != 0;
    pthread_cond_signal(&z->can_read);
    pthread_mutex_unlock(&z->lock);
    return NULL;
}

static ssize_t zip_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    zip_stream *z = cls;
    pthread_mutex_lock(&z->lock);
    /* Waits only while the producer is compressing: it never waits on the network. */
    while (z->len == 0 && !z->done)
        pthread_cond_wait(&z->can_read, &z->lock);
    if (z->len == 0) {
        int failed = z->failed;
        pthread_mutex_unlock(&z->lock);
        return failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = 0;
    while (n < max && z->len) {
        size_t run = RING - z->head < z->len ? RING - z->head : z->len;
        if (run > max - n)
            run = max - n;
        memcpy(out + n, z->ring + z->head, run);
        z->head = (z->head + run) % RING;
        z->len -= run;
        n += run;
    }
    pthread_cond_signal(&z->can_write);
    pthread_mutex_unlock(&z->lock);
    atomic_fetch_add(&z->r->bytes_out, n);
    return (ssize_t)n;
}

static void zip_free(void *cls)
{
    zip_stream *z = cls;
    if (z->thread_started) {
        pthread_mutex_lock(&z->lock);
        z->cancelled = 1;
        pthread_cond_broadcast(&z->can_write);
        pthread_mutex_unlock(&z->lock);
        pthread_join(z->thread, NULL);
    }
    for (size_t i = 0; i < z->nkeys; i++)
        free(z->keys[i]);
    free(z->keys);
    free(z->ring);
    pthread_mutex_destroy(&z->lock);
    pthread_cond_destroy(&z->can_read);
    pthread_cond_destroy(&z->can_write);
    if (z->r)
        ff_req_unref(z->r);
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
    pthread_mutex_init(&z->lock, NULL);
    pthread_cond_init(&z->can_read, NULL);
    pthread_cond_init(&z->can_write, NULL);
    z->h = r->h;
    snprintf(z->sid, sizeof z->sid, "%s", sid);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "temp/%s/processed/", sid);
    collect c = {z, strlen(prefix)};
    ff_err err = {{0}};
    if (ff_store_list(r->h->d.store, prefix, on_key, &c, &err) != 0) {
        zip_free(z);
        return ff_http_send_error(r, 500, "cannot list the session's outputs: %s", err.msg);
    }
    if (z->nkeys == 0) {
        zip_free(z);
        return ff_http_send_error(r, 404, "session %s has no outputs yet", sid);
    }
    qsort(z->keys, z->nkeys, sizeof *z->keys, cmp_str);
    z->ring = malloc(RING);
    if (!z->ring) {
        zip_free(z);
        return ff_http_send_error(r, 503, "out of memory");
    }
    if (pthread_create(&z->thread, NULL, producer, z) != 0) {
        zip_free(z);
        return ff_http_send_error(r, 503, "cannot start building the archive; try again");
    }
    z->thread_started = 1;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, zip_read, z, zip_free);
    if (!resp) {
        zip_free(z);
        return MHD_NO;
    }
    ff_req_ref(r);
    z->r = r;
    char cd[160];
    snprintf(cd, sizeof cd, "attachment; filename=\"fitsflow-%s.zip\"", sid);
    MHD_add_response_header(resp, "Content-Type", "application/zip");
    MHD_add_response_header(resp, "Content-Disposition", cd);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return ff_http_send(r, 200, resp);
}
