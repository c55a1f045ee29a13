/* The nightly movie: which day, which channels, fetching them side by side, joining them with
 * libavformat and storing the result atomically; and the newest movie for the API. */
#include "pipeline/daily_video.h"
#include "pipeline/keys.h"
#include "base/clock.h"
#include "base/tmpdir.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "core/media/mp4concat.h"

#define FETCH_THREADS 4

void ff_daily_video_date(time_t now, char date[9])
{
    time_t t = now - 2 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(date, 9, "%Y%m%d", &tm) != 8)
        date[0] = '\0';
}

int ff_daily_video_date_valid(const char *date)
{
    if (!date || strlen(date) != 8 || strspn(date, "0123456789") != 8)
        return 0;
    int y = (date[0] - '0') * 1000 + (date[1] - '0') * 100 + (date[2] - '0') * 10 + (date[3] - '0');
    int m = (date[4] - '0') * 10 + (date[5] - '0');
    int d = (date[6] - '0') * 10 + (date[7] - '0');
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 2010 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

typedef struct part {
    const char *channel;
    char path[300];
    int ok;
    char reason[256];
} part;

typedef struct fetch_ctx {
    ff_remote *r;
    const char *date;
    part *parts;
    int next;
    pthread_mutex_t lock;
} fetch_ctx;

static void fetch_part(ff_remote *r, const char *date, part *p)
{
    char url[FF_REMOTE_URL_MAX + 128];
    ff_err err = {0};
    if (ff_remote_sdo_movie_url(r, date, p->channel, url, sizeof url, &err) != 0) {
        snprintf(p->reason, sizeof p->reason, "%.250s", err.msg);
        return;
    }
    FILE *f = fopen(p->path, "w+b");
    if (!f) {
        snprintf(p->reason, sizeof p->reason, "cannot create %.120s: %.100s", p->path, strerror(errno));
        return;
    }
    ff_http_response resp;
    int rc = ff_remote_http_get(r, url, ff_remote_get_config(r)->video_max_bytes, f, &resp, &err);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(p->reason, sizeof p->reason, "cannot write %.200s", p->path);
        return;
    }
    if (rc != 0) {
        if (resp.status == 404)
            snprintf(p->reason, sizeof p->reason, "not published (HTTP 404)");
        else
            snprintf(p->reason, sizeof p->reason, "%.250s", err.msg);
        return;
    }
    p->ok = 1;
}

static void *fetch_worker(void *arg)
{
    fetch_ctx *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        int i = c->next < FF_SDO_NCHANNELS ? c->next++ : -1;
        pthread_mutex_unlock(&c->lock);
        if (i < 0)
            return NULL;
        fetch_part(c->r, c->date, &c->parts[i]);
    }
}

static void append(char *buf, size_t size, const char *sep, const char *text)
{
    size_t n = strlen(buf);
    if (n + 1 < size)
        snprintf(buf + n, size - n, "%s%s", n ? sep : "", text);
}

static int store_file(ff_store *store, const char *key, const char *path, uint64_t *bytes, ff_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ff_err_set(err, "cannot read the joined movie %s: %s", path, strerror(errno));
    ff_store_writer *w = ff_store_writer_open(store, key, err);
    if (!w) {
        fclose(f);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (ff_store_writer_write(w, buf, n, err) != 0) {
            ff_store_writer_abort(w);
            fclose(f);
            return -1;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        ff_store_writer_abort(w);
        return ff_err_set(err, "cannot read the joined movie %s", path);
    }
    *bytes = ff_store_writer_bytes(w);
    return ff_store_writer_commit(w, err);
}

int ff_daily_video_build(ff_remote *r, ff_store *store, const char *date, int force,
                         ff_daily_video_report *rep, ff_err *err)
{
    memset(rep, 0, sizeof *rep);
    double t0 = ff_clock_now();
    if (!ff_daily_video_date_valid(date))
        return ff_err_set(err, "the date must be a real day written YYYYMMDD (2010 or later), not '%.20s'",
                          date ? date : "");
    snprintf(rep->date, sizeof rep->date, "%s", date);
    ff_key_daily_video(rep->key, sizeof rep->key, date);
    ff_store_stat st;
    int s = ff_store_stat_key(store, rep->key, &st, err);
    if (s < 0)
        return -1;
    if (s == 0 && !force) {
        rep->already_built = 1;
        rep->bytes = st.size;
        rep->seconds = ff_clock_now() - t0;
        return 0;
    }
    if (ff_remote_get_config(r)->offline)
        return ff_err_set(err, "offline (FITSFLOW_OFFLINE=1 or --offline): the SDO movies of %s were not fetched",
                          date);

    const char *tmp = ff_tmp_dir();
    char dir[256];
    if (strlen(tmp) > 200)
        return ff_err_set(err, "TMPDIR is longer than 200 bytes");
    snprintf(dir, sizeof dir, "%s/fitsflow-daily-XXXXXX", tmp);
    if (!mkdtemp(dir))
        return ff_err_set(err, "cannot create a temporary folder in %s: %s", tmp,
                          strerror(errno));
    part parts[FF_SDO_NCHANNELS];
    memset(parts, 0, sizeof parts);
    for (int i = 0; i < FF_SDO_NCHANNELS; i++) {
        parts[i].channel = ff_sdo_channels[i];
        snprintf(parts[i].path, sizeof parts[i].path, "%s/%s.mp4", dir, ff_sdo_channels[i]);
    }
    fetch_ctx c = {.r = r, .date = date, .parts = parts};
    pthread_mutex_init(&c.lock, NULL);
    pthread_t th[FETCH_THREADS];
    int started = 0;
    for (int i = 0; i < FETCH_THREADS; i++)
        if (pthread_create(&th[started], NULL, fetch_worker, &c) == 0)
            started++;
    if (started == 0)
        fetch_worker(&c);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&c.lock);

    const char *inputs[FF_SDO_NCHANNELS];
    int idx[FF_SDO_NCHANNELS];
    size_t n = 0;
    char line[320];
    for (int i = 0; i < FF_SDO_NCHANNELS; i++) {
        if (parts[i].ok) {
            idx[n] = i;
            inputs[n++] = parts[i].path;
        } else {
            snprintf(line, sizeof line, "%s: %s", parts[i].channel, parts[i].reason);
            append(rep->missing, sizeof rep->missing, "; ", line);
        }
    }
    int rc = -1;
    char out[300];
    snprintf(out, sizeof out, "%s/stitched.mp4", dir);
    if (n == 0) {
        ff_err_set(err, "no SDO movie of %s could be fetched (%.400s)", date, rep->missing);
    } else {
        ff_mp4concat_stats cs;
        if (ff_mp4_concat(inputs, n, out, &cs, err) == 0) {
            for (size_t k = 0; k < n; k++) {
                if (cs.skipped[k]) {
                    snprintf(line, sizeof line, "%s: left out", parts[idx[k]].channel);
                    append(rep->missing, sizeof rep->missing, "; ", line);
                } else {
                    append(rep->used, sizeof rep->used, " ", parts[idx[k]].channel);
                    rep->channels_used++;
                }
            }
            if (cs.reasons[0])
                ff_log(FF_LOG_WARN, NULL, NULL, "daily video %s: %s", date, cs.reasons);
            rep->duration_s = cs.duration_s;
            rep->packets = cs.packets;
            rc = store_file(store, rep->key, out, &rep->bytes, err);
        }
    }
    for (int i = 0; i < FF_SDO_NCHANNELS; i++)
        unlink(parts[i].path);
    unlink(out);
    rmdir(dir);
    rep->seconds = ff_clock_now() - t0;
    return rc;
}

typedef struct latest_ctx {
    char date[9];
    uint64_t bytes;
} latest_ctx;

static int on_key(const char *key, const ff_store_stat *st, void *ctx)
{
    latest_ctx *l = ctx;
    const char *name = key + strlen(FF_KEY_DAILY_VIDEOS);
    if (strncmp(key, FF_KEY_DAILY_VIDEOS, strlen(FF_KEY_DAILY_VIDEOS)) || strlen(name) != 21 ||
        strcmp(name + 8, "_stitched.mp4"))
        return 0;
    char date[9];
    memcpy(date, name, 8);
    date[8] = '\0';
    if (!ff_daily_video_date_valid(date))
        return 0;
    if (strcmp(date, l->date) > 0) {
        memcpy(l->date, date, sizeof date);
        l->bytes = st->size;
    }
    return 0;
}

int ff_daily_video_latest(ff_store *store, char **json, ff_err *err)
{
    *json = NULL;
    latest_ctx l;
    memset(&l, 0, sizeof l);
    if (ff_store_list(store, FF_KEY_DAILY_VIDEOS, on_key, &l, err) != 0)
        return -1;
    if (!l.date[0])
        return 1;
    char key[64], path[80], iso[11];
    ff_key_daily_video(key, sizeof key, l.date);
    snprintf(path, sizeof path, "/%s", key);
    snprintf(iso, sizeof iso, "%.4s-%.2s-%.2s", l.date, l.date + 4, l.date + 6);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "date", iso, "key", key, "url_path", path, "bytes",
                          (json_int_t)l.bytes);
    if (o)
        *json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!*json)
        return ff_err_set(err, "out of memory");
    return 0;
}
