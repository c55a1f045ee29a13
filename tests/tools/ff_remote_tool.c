/* Test and benchmark driver for the remote module, used by tests/e2e/test_remote_*.py and
 * bench/remote/run.sh (it links the libraries directly, so it works without a full binary):
 *   fetch   --time ISO [--observatory O --instrument I --measurement M --wavelength W] --out DIR --base B
 *   session --time ISO --files N --jobs J [--sequential] [--no-reuse] [--out DIR]
 *   decode  IN OUT.png [--gray]
 *   concat  OUT IN...
 *   latest  DIR
 * Every subcommand prints one JSON object on stdout. Settings come from FITSFLOW_* as usual. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/media/mp4concat.h"
#include "base/settings.h"
#include "core/fits/obsmeta.h"
#include "pipeline/daily_video.h"
#include "remote/answers.h"

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return def;
}

static int flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int make_meta(int argc, char **argv, ff_obsmeta *m, double shift_s)
{
    memset(m, 0, sizeof *m);
    snprintf(m->observatory, sizeof m->observatory, "%s", opt(argc, argv, "--observatory", "SDO"));
    snprintf(m->instrument, sizeof m->instrument, "%s", opt(argc, argv, "--instrument", "AIA"));
    snprintf(m->detector, sizeof m->detector, "%s", m->instrument);
    snprintf(m->measurement, sizeof m->measurement, "%s", opt(argc, argv, "--measurement", "193"));
    m->wavelength = atoi(opt(argc, argv, "--wavelength", "193"));
    m->source_id = ff_obsmeta_source_id(m->observatory, m->instrument, m->detector, m->measurement);
    const char *t = opt(argc, argv, "--time", NULL);
    if (!t)
        return 0;
    ff_err err = {0};
    if (ff_time_parse(t, FF_TS_UTC, &m->time, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (shift_s != 0) {
        time_t u = (time_t)(ff_time_unix(&m->time) + (int64_t)shift_s);
        struct tm tm;
        gmtime_r(&u, &tm);
        m->time.year = tm.tm_year + 1900;
        m->time.month = tm.tm_mon + 1;
        m->time.day = tm.tm_mday;
        m->time.hour = tm.tm_hour;
        m->time.minute = tm.tm_min;
        m->time.second = tm.tm_sec;
    }
    m->has_time = 1;
    ff_time_format_iso(&m->time, m->time_iso, sizeof m->time_iso);
    return 0;
}

static json_t *result_json(const ff_remote_result *r)
{
    return json_pack("{s:b, s:s, s:I, s:f, s:i}", "ok", r->ok, "message", r->message, "bytes",
                     (json_int_t)r->len, "seconds", r->seconds, "requests", r->requests);
}

static int mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static void save(const char *dir, const char *sub, const char *base, const char *suffix,
                 const ff_remote_result *r)
{
    if (!dir || !r->ok)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/%s/%s%s", dir, sub, base, suffix);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(r->data, 1, r->len, f);
        fclose(f);
    }
}

static ff_remote *open_remote(int argc, char **argv)
{
    ff_remote_config cfg;
    ff_settings settings;
    ff_err err = {0};
    if (ff_settings_load(&settings, FF_USE_PROCESS, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    ff_remote_config_from_settings(&cfg, &settings);
    cfg.sequential = flag(argc, argv, "--sequential");
    if (flag(argc, argv, "--no-reuse"))
        cfg.reuse_connections = 0;
    ff_remote *r = ff_remote_open(&cfg, &err);
    if (!r)
        fprintf(stderr, "%s\n", err.msg);
    return r;
}

static int cmd_fetch(int argc, char **argv)
{
    ff_obsmeta m;
    if (make_meta(argc, argv, &m, 0) != 0)
        return 2;
    ff_remote *r = open_remote(argc, argv);
    if (!r)
        return 2;
    ff_remote_outputs out;
    double t0 = now();
    int n = ff_remote_fetch_for_file(r, &m, &out);
    double wall = now() - t0;
    const char *dir = opt(argc, argv, "--out", NULL), *base = opt(argc, argv, "--base", "file");
    save(dir, "images/sdo", base, "_sdo.png", &out.helioviewer);
    save(dir, "images/jsoc", base, "_jsoc.png", &out.jsoc);
    save(dir, "hek", base, "_hek.json", &out.hek);
    json_t *o = json_pack("{s:i, s:f, s:o, s:o, s:o}", "ok", n, "wall", wall, "helioviewer",
                          result_json(&out.helioviewer), "jsoc", result_json(&out.jsoc), "hek",
                          result_json(&out.hek));
    char *s = json_dumps(o, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(o);
    ff_remote_outputs_free(&out);
    ff_remote_close(r);
    return 0;
}

typedef struct sess {
    ff_remote *r;
    int argc;
    char **argv;
    int files, next, ok[3], sequential;
    pthread_mutex_t lock;
} sess;

static void *session_worker(void *arg)
{
    sess *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int i = s->next < s->files ? s->next++ : -1;
        pthread_mutex_unlock(&s->lock);
        if (i < 0)
            return NULL;
        ff_obsmeta m;
        make_meta(s->argc, s->argv, &m, 12.0 * i);
        ff_remote_outputs out;
        ff_remote_fetch_for_file(s->r, &m, &out);
        pthread_mutex_lock(&s->lock);
        s->ok[0] += out.helioviewer.ok;
        s->ok[1] += out.jsoc.ok;
        s->ok[2] += out.hek.ok;
        pthread_mutex_unlock(&s->lock);
        ff_remote_outputs_free(&out);
    }
}

static int cmd_session(int argc, char **argv)
{
    ff_obsmeta m;
    if (make_meta(argc, argv, &m, 0) != 0)
        return 2;
    ff_remote *r = open_remote(argc, argv);
    if (!r)
        return 2;
    sess s = {.r = r, .argc = argc, .argv = argv, .files = atoi(opt(argc, argv, "--files", "10"))};
    pthread_mutex_init(&s.lock, NULL);
    int jobs = atoi(opt(argc, argv, "--jobs", "1"));
    if (jobs < 1 || jobs > 64)
        jobs = 1;
    pthread_t th[64];
    double t0 = now();
    for (int i = 0; i < jobs; i++)
        pthread_create(&th[i], NULL, session_worker, &s);
    for (int i = 0; i < jobs; i++)
        pthread_join(th[i], NULL);
    double wall = now() - t0;
    printf("{\"files\": %d, \"jobs\": %d, \"sequential\": %s, \"wall\": %.3f, \"ok\": [%d, %d, %d]}\n",
           s.files, jobs, ff_remote_get_config(r)->sequential ? "true" : "false", wall, s.ok[0], s.ok[1],
           s.ok[2]);
    ff_remote_close(r);
    return 0;
}

static int read_file(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = n > 0 && *buf ? fread(*buf, 1, (size_t)n, f) : 0;
    fclose(f);
    return *buf ? 0 : -1;
}

static int cmd_decode(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    unsigned char *buf, *png;
    size_t len, plen;
    const char *what;
    ff_err err = {0};
    if (read_file(argv[1], &buf, &len) != 0)
        return 2;
    int rc = ff_remote_to_png(buf, len, flag(argc, argv, "--gray"), (uint64_t)1 << 28, &png, &plen, &what, &err);
    free(buf);
    if (rc != 0) {
        json_t *o = json_pack("{s:b, s:s, s:s}", "ok", 0, "what", what, "error", err.msg);
        char *s = json_dumps(o, JSON_COMPACT);
        puts(s ? s : "{\"ok\": false, \"error\": \"?\"}");
        free(s);
        json_decref(o);
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    fwrite(png, 1, plen, f);
    fclose(f);
    free(png);
    printf("{\"ok\": true, \"what\": \"%s\"}\n", what);
    return 0;
}

static int cmd_concat(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    ff_mp4concat_stats st;
    ff_err err = {0};
    int rc = ff_mp4_concat((const char *const *)argv + 2, (size_t)argc - 2, argv[1], &st, &err);
    json_t *skipped = json_array();
    for (int i = 0; i < argc - 2; i++)
        json_array_append_new(skipped, json_boolean(st.skipped[i]));
    json_t *o = json_pack("{s:b, s:s, s:I, s:I, s:f, s:o, s:s}", "ok", rc == 0, "error", rc ? err.msg : "",
                          "parts_used", (json_int_t)st.parts_used, "packets", (json_int_t)st.packets,
                          "duration", st.duration_s, "skipped", skipped, "reasons", st.reasons);
    char *s = json_dumps(o, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(o);
    return rc ? 1 : 0;
}

static int cmd_latest(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    ff_err err = {0};
    ff_store *st = ff_store_open_fs(argv[1], 0, &err);
    if (!st)
        return 2;
    char *json = NULL;
    int rc = ff_daily_video_latest(st, &json, &err);
    if (rc == 0)
        puts(json);
    else
        printf("{\"none\": %s, \"error\": \"%s\"}\n", rc == 1 ? "true" : "false", rc == 1 ? "" : err.msg);
    free(json);
    ff_store_close(st);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ff_remote_tool fetch|session|decode|concat|latest ...\n");
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "fetch"))
        return cmd_fetch(argc - 1, argv + 1);
    if (!strcmp(c, "session"))
        return cmd_session(argc - 1, argv + 1);
    if (!strcmp(c, "decode"))
        return cmd_decode(argc - 1, argv + 1);
    if (!strcmp(c, "concat"))
        return cmd_concat(argc - 1, argv + 1);
    if (!strcmp(c, "latest"))
        return cmd_latest(argc - 1, argv + 1);
    fprintf(stderr, "unknown subcommand %s\n", c);
    return 2;
}
