/* The session runner on a temporary fs store with real SDO files from sunpy's test data and a
 * non-FITS upload: the log protocol's exact texts, a manifest whose outputs hash to what it says,
 * resuming without redoing finished files, should_stop, the status JSON, and a store without
 * local paths (the upload is fetched to a temporary file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "pipeline/session.h"
#include "store/backend.h"

#define SUNPY "/usr/lib/python3/dist-packages/sunpy/data/test/"
#define SID "testsession-01"
#define T "temp/" SID "/"

static char root[256];
static ff_store *store;

/* What the hooks saw. */
typedef struct seen {
    pthread_mutex_t lock;
    char names[256][64];
    char texts[256][1100];
    int nlogs;
    int step_times;
    int files;
    int stop_after; /* should_stop: nonzero once this many polls happened (0 = never) */
    int polls;
} seen;

static void on_log(void *ctx, const char *sid, const char *name, const char *text)
{
    seen *s = ctx;
    assert_string_equal(sid, SID);
    assert_non_null(text);
    pthread_mutex_lock(&s->lock);
    if (s->nlogs < 256) {
        snprintf(s->texts[s->nlogs], sizeof s->texts[0], "%s", text);
        snprintf(s->names[s->nlogs++], sizeof s->names[0], "%s", name);
    }
    pthread_mutex_unlock(&s->lock);
}

static void on_step_time(void *ctx, int step, double seconds)
{
    seen *s = ctx;
    assert_true(step >= 2 && step <= FF_STEP_LAST);
    assert_true(seconds >= 0);
    s->step_times++;
}

static void on_file(void *ctx, const ff_file_result *r)
{
    (void)r;
    ((seen *)ctx)->files++;
}

static int should_stop(void *ctx)
{
    seen *s = ctx;
    s->polls++;
    return s->stop_after && s->polls > s->stop_after;
}

static int saw(const seen *s, const char *name)
{
    for (int i = 0; i < s->nlogs; i++)
        if (!strcmp(s->names[i], name))
            return 1;
    return 0;
}

static int saw_prefix(const seen *s, const char *prefix)
{
    for (int i = 0; i < s->nlogs; i++)
        if (!strncmp(s->names[i], prefix, strlen(prefix)))
            return 1;
    return 0;
}

static void reset(seen *s)
{
    s->nlogs = s->step_times = s->files = s->polls = 0;
}

static ff_session_hooks hooks_for(seen *s)
{
    return (ff_session_hooks){.on_log = on_log, .on_step_time = on_step_time,
                              .should_stop = should_stop, .ctx = s, .on_file = on_file};
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/ff-session-test-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    ff_err err;
    store = ff_store_open_fs(root, 0, &err);
    return store ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ff_store_close(store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static void upload_file(const char *src, const char *name)
{
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    char key[512];
    snprintf(key, sizeof key, T "fits/%s", name);
    ff_err err;
    assert_int_equal(ff_store_put(store, key, buf, (size_t)n, &err), 0);
    free(buf);
}

static void upload_file_key(const char *src, const char *key)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s/%s')\" && cp '%s' '%s/%s'", root, key, src,
             root, key);
    assert_int_equal(system(cmd), 0);
}

static void upload_text(const char *name, const char *text)
{
    char key[512];
    snprintf(key, sizeof key, T "fits/%s", name);
    ff_err err;
    assert_int_equal(ff_store_put(store, key, text, strlen(text), &err), 0);
}

static void upload_all(void)
{
    upload_file(SUNPY "aia_171_level1.fits", "aia_171_level1.fits");
    upload_file(SUNPY "resampled_hmi.fits", "resampled_hmi.fits");
    upload_text("notes.fits", "These are my observing notes, not a FITS file.\n");
}

/* The object's text, or NULL. */
static char *get(const char *key)
{
    char *buf = NULL;
    size_t len;
    ff_err err;
    if (ff_store_get(store, key, 1 << 24, &buf, &len, &err) != 0)
        return NULL;
    return buf;
}

static void expect_text(const char *key, const char *want)
{
    char *t = get(key);
    if (!t)
        fail_msg("%s is missing", key);
    if (strcmp(t, want) != 0)
        fail_msg("%s is '%s', expected '%s'", key, t, want);
    free(t);
}

static int exists(const char *key)
{
    ff_store_stat st;
    ff_err err;
    return ff_store_stat_key(store, key, &st, &err) == 0;
}

static ff_pipeline_config config(void)
{
    ff_pipeline_config cfg;
    ff_pipeline_config_defaults(&cfg);
    cfg.offline = 1;
    cfg.threads = 2;
    cfg.png_max = 256;
    return cfg;
}

static void sha256_hex(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(md, buf, n);
    fclose(f);
    unsigned char h[32];
    unsigned int hl;
    EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

/* The manifest lists the three uploads with the expected statuses, and every output listed
 * exists with the recorded size and sha256 (hashed here, independently of the writer). */
static void check_manifest(void)
{
    char *t = get(T "processed/manifest.json");
    assert_non_null(t);
    json_error_t je;
    json_t *m = json_loads(t, 0, &je);
    free(t);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "session_id")), SID);
    json_t *files = json_object_get(m, "files");
    assert_int_equal(json_array_size(files), 3);
    int processed = 0, skipped = 0;
    for (size_t i = 0; i < json_array_size(files); i++) {
        json_t *f = json_array_get(files, i);
        const char *input = json_string_value(json_object_get(f, "input"));
        const char *status = json_string_value(json_object_get(f, "status"));
        if (!strcmp(input, "notes.fits")) {
            assert_string_equal(status, "skipped");
            assert_true(strlen(json_string_value(json_object_get(f, "reason"))) > 0);
            skipped++;
        } else {
            assert_string_equal(status, "processed");
            processed++;
            json_t *outs = json_object_get(f, "outputs");
            assert_true(json_array_size(outs) >= 3);
            for (size_t k = 0; k < json_array_size(outs); k++) {
                json_t *o = json_array_get(outs, k);
                char path[1024], hex[65];
                snprintf(path, sizeof path, "%s/" T "processed/%s", root,
                         json_string_value(json_object_get(o, "path")));
                struct stat st;
                if (stat(path, &st) != 0)
                    fail_msg("manifest lists %s but it does not exist", path);
                assert_int_equal((json_int_t)st.st_size, json_integer_value(json_object_get(o, "bytes")));
                sha256_hex(path, hex);
                assert_string_equal(hex, json_string_value(json_object_get(o, "sha256")));
            }
        }
    }
    assert_int_equal(processed, 2);
    assert_int_equal(skipped, 1);
    json_t *summary = json_object_get(m, "summary");
    assert_int_equal(json_integer_value(json_object_get(summary, "processed")), 2);
    assert_int_equal(json_integer_value(json_object_get(summary, "skipped")), 1);
    json_decref(m);
}

static void check_file_logs(const char *base)
{
    char key[512], want[512];
    snprintf(key, sizeof key, T "logs/%s_log_1.txt", base);
    snprintf(want, sizeof want, "Processing: %s", base);
    expect_text(key, want);
    for (int s = 2; s <= FF_STEP_LAST; s++) {
        snprintf(key, sizeof key, T "logs/%s_log_%d.txt", base, s);
        char *t = get(key);
        if (!t)
            fail_msg("%s is missing", key);
        /* Every step's message names the file. */
        assert_non_null(strstr(t, base));
        free(t);
    }
    snprintf(key, sizeof key, T "logs/%s_log_2.txt", base);
    char *t = get(key);
    assert_int_equal(strncmp(t, "Skipping:", 9) != 0, 1);
    free(t);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(ff_session_id_valid("abcdefgh"));
    assert_true(ff_session_id_valid("0123-4567-89ab-cdef"));
    const char *bad_ids[] = {NULL, "", "abcdefg", "ABCDEFGH", "abcd/efgh", "../../etc", "abcdefgh ",
                             "abcd_efgh", "0123456789012345678901234567890123456789012345678901234567890123x"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++)
        assert_false(ff_session_id_valid(bad_ids[i]));
    char max_id[FF_SESSION_ID_MAX + 1];
    memset(max_id, 'a', FF_SESSION_ID_MAX);
    max_id[FF_SESSION_ID_MAX] = '\0';
    assert_true(ff_session_id_valid(max_id));

    ff_err err;
    const char *good[] = {"a.fits", "AIA_171.FITS", "x-1.fit", "y.fts", "z.fits.gz", "z.FITS.GZ",
                          "summary2.fits", "my.summary.fits"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!ff_upload_name_valid(good[i], &err))
            fail_msg("'%s' refused: %s", good[i], err.msg);
    const char *bad[] = {"", ".fits", ".hidden.fits", "a.txt", "a.fits.bz2", "a b.fits",
                         "../a.fits", "a/b.fits", "a\\b.fits", "ä.fits", "a.fit.gz", "fits",
                         "summary.fits", "skipped.fit", "download_summary.fits"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        if (ff_upload_name_valid(bad[i], &err))
            fail_msg("'%s' accepted", bad[i]);
        assert_true(strlen(err.msg) > 0);
    }
    char longname[300];
    memset(longname, 'a', 196);
    strcpy(longname + 196, ".fits");
    assert_false(ff_upload_name_valid(longname, &err)); /* 201 bytes */
    longname[195] = '\0';
    strcat(longname, ".fits");
    assert_true(ff_upload_name_valid(longname, &err)); /* 200 bytes */
}

static void test_process_and_resume(void **state)
{
    (void)state;
    seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    ff_session_hooks hooks = hooks_for(&s);
    ff_pipeline_config cfg = config();
    ff_err err = {0};
    char *json = NULL;

    assert_int_equal(ff_session_status_json(store, SID, &json, &err), 1);
    upload_all();
    assert_int_equal(ff_session_status_json(store, SID, &json, &err), 0);
    assert_non_null(strstr(json, "\"state\":\"uploaded\""));
    free(json);

    assert_int_equal(ff_session_process(&cfg, store, SID, 2, &hooks, &err), 0);
    expect_text(T "logs/download_summary_log_1.txt", "Downloaded 3 FITS files");
    check_file_logs("aia_171_level1");
    check_file_logs("resampled_hmi");
    expect_text(T "logs/notes_log_1.txt", "Processing: notes");
    char *t = get(T "logs/notes_log_2.txt");
    assert_non_null(t);
    assert_int_equal(strncmp(t, "Skipping: notes \xe2\x80\x94 ", 19), 0);
    free(t);
    for (int k = 3; k <= FF_STEP_LAST; k++) {
        char key[128];
        snprintf(key, sizeof key, T "logs/notes_log_%d.txt", k);
        assert_false(exists(key));
    }
    t = get(T "logs/skipped_log_1.txt");
    assert_non_null(t);
    assert_non_null(strstr(t, "notes.fits"));
    assert_null(strstr(t, "aia_171"));
    free(t);
    t = get(T "logs/summary_log_2.txt");
    assert_non_null(t);
    assert_non_null(strstr(t, "ALL FILES PROCESSED SUCCESSFULLY"));
    assert_non_null(strstr(t, "2 processed, 1 skipped, 0 failed"));
    free(t);
    check_manifest();
    /* Hooks: the download summary, 8 + 8 + 2 file logs, the skipped and summary logs. */
    assert_int_equal(s.nlogs, 21);
    /* What on_log reported is exactly what was stored. */
    for (int i = 0; i < s.nlogs; i++) {
        char key[256];
        snprintf(key, sizeof key, T "logs/%s", s.names[i]);
        expect_text(key, s.texts[i]);
    }
    assert_int_equal(s.step_times, 15);
    assert_int_equal(s.files, 3);

    /* Status JSON. */
    assert_int_equal(ff_session_status_json(store, SID, &json, &err), 0);
    json_t *st = json_loads(json, 0, NULL);
    free(json);
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "done");
    assert_int_equal(json_array_size(json_object_get(st, "uploads")), 3);
    json_t *files = json_object_get(st, "files");
    assert_int_equal(json_array_size(files), 3);
    json_t *aia = json_array_get(files, 0); /* sorted by name */
    assert_string_equal(json_string_value(json_object_get(aia, "base")), "aia_171_level1");
    assert_string_equal(json_string_value(json_object_get(aia, "status")), "processed");
    json_t *steps = json_object_get(aia, "steps");
    assert_int_equal(json_object_size(steps), FF_STEP_LAST);
    assert_true(json_is_true(json_object_get(json_object_get(steps, "2"), "ok")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(steps, "1"), "message")),
                        "Processing: aia_171_level1");
    assert_true(json_array_size(json_object_get(aia, "outputs")) >= 3);
    json_t *notes = json_array_get(files, 1);
    assert_string_equal(json_string_value(json_object_get(notes, "status")), "skipped");
    assert_false(json_is_true(json_object_get(json_object_get(json_object_get(notes, "steps"), "2"), "ok")));
    assert_true(json_is_object(json_object_get(st, "manifest")));
    assert_non_null(strstr(json_string_value(json_object_get(st, "summary")),
                           "ALL FILES PROCESSED SUCCESSFULLY"));
    json_decref(st);

    /* Rerun with nothing to do: no file is redone; the summary and manifest are rewritten. */
    reset(&s);
    assert_int_equal(ff_session_process(&cfg, store, SID, 2, &hooks, &err), 0);
    assert_int_equal(s.files, 0);
    assert_false(saw_prefix(&s, "aia_171_level1_log_"));
    assert_true(saw(&s, "summary_log_2.txt"));
    check_manifest();

    /* A crash after step 6 of one file: its _log_7 is missing. Only that file is redone. */
    assert_int_equal(ff_store_delete(store, T "logs/resampled_hmi_log_7.txt", &err), 0);
    reset(&s);
    assert_int_equal(ff_session_process(&cfg, store, SID, 2, &hooks, &err), 0);
    assert_int_equal(s.files, 1);
    assert_true(saw(&s, "resampled_hmi_log_1.txt"));
    assert_true(saw(&s, "resampled_hmi_log_7.txt"));
    assert_false(saw_prefix(&s, "aia_171_level1_log_"));
    assert_false(saw_prefix(&s, "notes_log_"));
    check_file_logs("resampled_hmi");
    check_manifest();

    /* A new upload under the same name (newer, different bytes) is processed again. */
    upload_file(SUNPY "aia_171_level1.fits", "aia_171_level1.fits");
    char path[512];
    snprintf(path, sizeof path, "%s/" T "fits/aia_171_level1.fits", root);
    struct timeval tv[2];
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec += 5;
    tv[1] = tv[0];
    assert_int_equal(utimes(path, tv), 0);
    reset(&s);
    assert_int_equal(ff_session_process(&cfg, store, SID, 1, &hooks, &err), 0);
    assert_int_equal(s.files, 1);
    assert_true(saw(&s, "aia_171_level1_log_7.txt"));
    assert_false(saw_prefix(&s, "resampled_hmi_log_"));
    check_manifest();
}

static void test_should_stop(void **state)
{
    (void)state;
    seen s = {.lock = PTHREAD_MUTEX_INITIALIZER, .stop_after = 1};
    ff_session_hooks hooks = hooks_for(&s);
    ff_pipeline_config cfg = config();
    ff_err err = {0};
    upload_all();
    /* One file at a time; the stop request comes after the first file started. */
    assert_int_equal(ff_session_process(&cfg, store, SID, 1, &hooks, &err), 1);
    assert_int_equal(s.files, 1);
    assert_true(exists(T "logs/aia_171_level1_log_7.txt"));
    assert_false(exists(T "logs/resampled_hmi_log_1.txt"));
    assert_false(exists(T "logs/summary_log_2.txt"));
    assert_false(exists(T "processed/manifest.json"));
    char *json = NULL;
    assert_int_equal(ff_session_status_json(store, SID, &json, &err), 0);
    assert_non_null(strstr(json, "\"state\":\"processing\""));
    free(json);

    /* Resumed without a stop: the first file is not redone. */
    reset(&s);
    s.stop_after = 0;
    assert_int_equal(ff_session_process(&cfg, store, SID, 1, &hooks, &err), 0);
    assert_int_equal(s.files, 2);
    assert_false(saw_prefix(&s, "aia_171_level1_log_"));
    check_manifest();
    expect_text(T "logs/download_summary_log_1.txt", "Downloaded 3 FITS files");
}

static void test_empty_and_bad_sessions(void **state)
{
    (void)state;
    ff_pipeline_config cfg = config();
    ff_err err = {0};
    /* No uploads: nothing to process and nothing stored (no logs, manifest or summary). */
    assert_int_equal(ff_session_has_uploads(store, "emptysession", &err), 0);
    assert_int_equal(ff_session_process(&cfg, store, "emptysession", 2, NULL, &err), 0);
    char *json = NULL;
    assert_int_equal(ff_session_status_json(store, "emptysession", &json, &err), 1);
    assert_null(json);
    char *t;

    err.msg[0] = '\0';
    assert_int_equal(ff_session_process(&cfg, store, "../../etc", 1, NULL, &err), -1);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(ff_session_status_json(store, "Bad/Id", &json, &err), -1);
    assert_null(json);

    /* Uploads whose names the API would refuse are listed as skipped, never processed; two
     * names with the same base: the second is skipped instead of overwriting the first. */
    ff_store_put(store, "temp/oddsession/fits/readme.txt", "hello", 5, &err);
    ff_store_put(store, "temp/oddsession/fits/summary.fits", "SIMPLE", 6, &err);
    ff_store_put(store, "temp/oddsession/fits/sub/deep.fits", "SIMPLE", 6, &err);
    upload_file_key(SUNPY "resampled_hmi.fits", "temp/oddsession/fits/hmi.fits");
    upload_file_key(SUNPY "resampled_hmi.fits", "temp/oddsession/fits/hmi.fts");
    assert_int_equal(ff_session_has_uploads(store, "oddsession", &err), 1);
    assert_int_equal(ff_session_process(&cfg, store, "oddsession", 2, NULL, &err), 0);
    expect_text("temp/oddsession/logs/download_summary_log_1.txt", "Downloaded 2 FITS files");
    assert_false(exists("temp/oddsession/logs/readme.txt_log_1.txt"));
    assert_false(exists("temp/oddsession/logs/summary_log_1.txt"));
    t = get("temp/oddsession/logs/skipped_log_1.txt");
    assert_non_null(t);
    assert_non_null(strstr(t, "readme.txt"));
    assert_non_null(strstr(t, "summary.fits"));
    assert_non_null(strstr(t, "hmi.fts"));
    assert_null(strstr(t, "deep.fits"));
    free(t);
    /* hmi.fits was processed; hmi.fts, same base, was not (and did not touch hmi's logs). */
    t = get("temp/oddsession/logs/hmi_log_2.txt");
    assert_non_null(t);
    assert_int_equal(strncmp(t, "Skipping:", 9) != 0, 1);
    free(t);
    assert_true(exists("temp/oddsession/logs/hmi_log_7.txt"));
    assert_int_equal(ff_session_status_json(store, "oddsession", &json, &err), 0);
    json_t *sj = json_loads(json, 0, NULL);
    free(json);
    assert_int_equal(json_array_size(json_object_get(sj, "uploads")), 4);
    assert_int_equal(json_array_size(json_object_get(sj, "files")), 1);
    json_decref(sj);
    t = get("temp/oddsession/processed/manifest.json");
    assert_non_null(t);
    json_t *m = json_loads(t, 0, NULL);
    free(t);
    json_t *sum = json_object_get(m, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "processed")), 1);
    assert_int_equal(json_integer_value(json_object_get(sum, "skipped")), 3);
    json_decref(m);
}

/* A store that forwards to the fs store but has no local paths, like an S3 backend. */
static ff_store *inner;
static ff_store_writer *w_open(ff_store *s, const char *key, ff_err *err)
{
    (void)s;
    return inner->ops->writer_open(inner, key, err);
}
static int w_get(ff_store *s, const char *key, size_t max, char **buf, size_t *len, ff_err *err)
{
    (void)s;
    return inner->ops->get(inner, key, max, buf, len, err);
}
static int w_stat(ff_store *s, const char *key, ff_store_stat *st, ff_err *err)
{
    (void)s;
    return inner->ops->stat(inner, key, st, err);
}
static int w_list(ff_store *s, const char *prefix, ff_store_list_fn fn, void *ctx, ff_err *err)
{
    (void)s;
    return inner->ops->list(inner, prefix, fn, ctx, err);
}
static int w_del(ff_store *s, const char *key, ff_err *err)
{
    (void)s;
    return inner->ops->del(inner, key, err);
}
static void w_close(ff_store *s)
{
    (void)s;
}

static void test_store_without_local_paths(void **state)
{
    (void)state;
    upload_all();
    inner = store;
    ff_store_ops ops = {.get = w_get, .stat = w_stat, .list = w_list, .del = w_del,
                        .close = w_close, .local_path = NULL};
    ops.writer_open = w_open;
    ops.writer_write = store->ops->writer_write;
    ops.writer_commit = store->ops->writer_commit;
    ops.writer_abort = store->ops->writer_abort;
    ff_store remote = {.ops = &ops};
    char key[] = T "fits/aia_171_level1.fits";
    assert_null(ff_store_local_path(&remote, key));

    seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    ff_session_hooks hooks = hooks_for(&s);
    ff_pipeline_config cfg = config();
    ff_err err = {0};
    assert_int_equal(ff_session_process(&cfg, &remote, SID, 2, &hooks, &err), 0);
    check_manifest();
    check_file_logs("aia_171_level1");

    /* Over the session limit (put there behind the API's back): skipped, never fetched. */
    size_t big = (3u << 20) / 2;
    char *zeros = calloc(1, big);
    assert_non_null(zeros);
    assert_int_equal(ff_store_put(store, T "fits/big.fits", zeros, big, &err), 0);
    free(zeros);
    cfg.session_limit_bytes = 1u << 20;
    reset(&s);
    assert_int_equal(ff_session_process(&cfg, &remote, SID, 2, &hooks, &err), 0);
    assert_int_equal(s.files, 1);
    char *t = get(T "logs/big_log_2.txt");
    assert_non_null(t);
    if (strncmp(t, "Skipping: big \xe2\x80\x94 the upload is 1572864 bytes", 40) != 0 ||
        !strstr(t, "1048576"))
        fail_msg("log 2 is '%s'", t);
    free(t);
    expect_text(T "logs/download_summary_log_1.txt", "Downloaded 4 FITS files");
}

/* ----- failures of the store, crashes, giving up ----------------------------------------- */

/* A forwarding store whose reads of keys containing fail_get and writes of keys containing
 * fail_put fail with fail_kind, as S3 does when it is unreachable (transient) or refuses
 * (permanent). */
static const char *fail_get, *fail_put;
static ff_err_kind fail_kind;
static int f_get(ff_store *s, const char *key, size_t max, char **buf, size_t *len, ff_err *err)
{
    (void)s;
    if (fail_get && strstr(key, fail_get)) {
        ff_err_set(err, "cannot reach S3 at http://127.0.0.1:9: Couldn't connect to server");
        return ff_err_set_kind(err, fail_kind);
    }
    return inner->ops->get(inner, key, max, buf, len, err);
}
static ff_store_writer *f_open(ff_store *s, const char *key, ff_err *err)
{
    (void)s;
    if (fail_put && strstr(key, fail_put)) {
        ff_err_set(err, "S3 PUT '%s' failed: HTTP 503 SlowDown", key);
        ff_err_set_kind(err, fail_kind);
        return NULL;
    }
    return inner->ops->writer_open(inner, key, err);
}

static ff_store_ops failing_ops(void)
{
    ff_store_ops ops = {.get = f_get, .stat = w_stat, .list = w_list, .del = w_del,
                        .close = w_close, .local_path = NULL};
    ops.writer_open = f_open;
    ops.writer_write = store->ops->writer_write;
    ops.writer_commit = store->ops->writer_commit;
    ops.writer_abort = store->ops->writer_abort;
    return ops;
}

static void expect_prefix(const char *key, const char *prefix)
{
    char *t = get(key);
    if (!t)
        fail_msg("%s is missing", key);
    if (strncmp(t, prefix, strlen(prefix)) != 0)
        fail_msg("%s is '%s', expected it to start with '%s'", key, t, prefix);
    free(t);
}

static const char *manifest_status(const char *input, char *reason, size_t n)
{
    static char status[32];
    char *t = get(T "processed/manifest.json");
    assert_non_null(t);
    json_t *m = json_loads(t, 0, NULL);
    free(t);
    status[0] = '\0';
    json_t *files = json_object_get(m, "files");
    for (size_t i = 0; i < json_array_size(files); i++) {
        json_t *f = json_array_get(files, i);
        if (strcmp(json_string_value(json_object_get(f, "input")), input))
            continue;
        snprintf(status, sizeof status, "%s", json_string_value(json_object_get(f, "status")));
        const char *r = json_string_value(json_object_get(f, "reason"));
        if (reason)
            snprintf(reason, n, "%s", r ? r : "");
    }
    json_decref(m);
    return status;
}

/* An upload the store cannot read is failed with the store's reason, not skipped; while the
 * failure may pass, the session stays unfinished and the run says so; the next run finishes it
 * without redoing the file that was done. On the last attempt the failure is final. */
static void test_store_failures_are_failures(void **state)
{
    (void)state;
    upload_file(SUNPY "aia_171_level1.fits", "aia_171_level1.fits");
    upload_file(SUNPY "resampled_hmi.fits", "resampled_hmi.fits");
    inner = store;
    ff_store_ops ops = failing_ops();
    ff_store failing = {.ops = &ops};
    seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    ff_session_hooks hooks = hooks_for(&s);
    ff_pipeline_config cfg = config();
    ff_err err = {0};

    fail_get = "fits/aia_171";
    fail_kind = FF_ERR_TRANSIENT;
    ff_session_opts opts = {.final = 0};
    assert_int_equal(ff_session_process_opts(&cfg, &failing, SID, 2, &hooks, &opts, &err), -1);
    assert_int_equal(err.kind, FF_ERR_TRANSIENT);
    assert_non_null(strstr(err.msg, "cannot reach S3"));
    assert_false(exists(T "logs/summary_log_2.txt"));
    assert_false(exists(T "processed/manifest.json"));
    expect_prefix(T "logs/aia_171_level1_log_2.txt",
                  "Failed: aia_171_level1 \xe2\x80\x94 cannot read the upload: cannot reach S3");
    for (int step = 3; step <= FF_STEP_LAST; step++) {
        char key[200];
        snprintf(key, sizeof key, T "logs/aia_171_level1_log_%d.txt", step);
        expect_prefix(key, "Not run: aia_171_level1 \xe2\x80\x94 cannot read the upload");
    }
    check_file_logs("resampled_hmi");

    /* The store is back: only the failed file is done again, and the session is finished. */
    fail_get = NULL;
    reset(&s);
    assert_int_equal(ff_session_process_opts(&cfg, &failing, SID, 2, &hooks, &opts, &err), 0);
    assert_int_equal(s.files, 1);
    check_file_logs("aia_171_level1");
    expect_text(T "logs/summary_log_2.txt",
                "ALL FILES PROCESSED SUCCESSFULLY\n2 files: 2 processed, 0 skipped, 0 failed\n");

    /* An output that cannot be written fails the file; on the last attempt that is final. */
    upload_file(SUNPY "aia_171_level1.fits", "again.fits");
    fail_put = "data/again_data.npy";
    opts.final = 1;
    reset(&s);
    assert_int_equal(ff_session_process_opts(&cfg, &failing, SID, 2, &hooks, &opts, &err), 0);
    fail_put = NULL;
    expect_prefix(T "logs/again_log_3.txt", "Data failed: again \xe2\x80\x94 S3 PUT");
    expect_prefix(T "logs/again_log_7.txt", "Not run: again");
    char reason[600];
    assert_string_equal(manifest_status("again.fits", reason, sizeof reason), "failed");
    assert_non_null(strstr(reason, "HTTP 503"));
    assert_string_equal(manifest_status("aia_171_level1.fits", NULL, 0), "processed");
    expect_text(T "logs/summary_log_2.txt",
                "NOT ALL FILES PROCESSED SUCCESSFULLY: 1 of 3 failed, 0 skipped\n"
                "3 files: 2 processed, 0 skipped, 1 failed\n"
                "1 failed: each file's logs say why; start the session again to retry them\n");
    assert_false(exists(T "processed/data/again_data.csv")); /* a failed file leaves no output */

    /* A permanent refusal is not worth retrying: even a run that is not the last finishes. */
    fail_put = "data/again_data.npy";
    fail_kind = FF_ERR_PERMANENT;
    opts.final = 0;
    assert_int_equal(ff_session_process_opts(&cfg, &failing, SID, 2, &hooks, &opts, &err), 0);
    fail_put = NULL;
    assert_string_equal(manifest_status("again.fits", NULL, 0), "failed");
    expect_prefix(T "logs/summary_log_2.txt", "NOT ALL FILES PROCESSED SUCCESSFULLY: 1 of 3 failed");
}

/* The crash guard: a file whose processing was cut short twice fails without being read; the
 * others are bracketed by begin and end. Giving up fails every unfinished file. */
typedef struct guard {
    pthread_mutex_t lock;
    char begun[8][64], ended[8][64];
    int nbegun, nended;
} guard;

static int g_crashes(void *ctx, const char *sid, const char *name, const ff_store_stat *st)
{
    (void)ctx;
    assert_string_equal(sid, SID);
    assert_true(st->size > 0);
    return !strcmp(name, "aia_171_level1.fits") ? 2 : !strcmp(name, "resampled_hmi.fits") ? 1 : 0;
}
static void g_begin(void *ctx, const char *sid, const char *name, const ff_store_stat *st)
{
    guard *g = ctx;
    (void)sid;
    (void)st;
    pthread_mutex_lock(&g->lock);
    snprintf(g->begun[g->nbegun++ % 8], 64, "%s", name);
    pthread_mutex_unlock(&g->lock);
}
static void g_end(void *ctx, const char *sid, const char *name)
{
    guard *g = ctx;
    (void)sid;
    pthread_mutex_lock(&g->lock);
    snprintf(g->ended[g->nended++ % 8], 64, "%s", name);
    pthread_mutex_unlock(&g->lock);
}

static void test_crash_guard_and_give_up(void **state)
{
    (void)state;
    upload_all();
    guard g = {.lock = PTHREAD_MUTEX_INITIALIZER};
    ff_session_hooks hooks = {.file_crashes = g_crashes, .file_begin = g_begin, .file_end = g_end,
                              .ctx = &g};
    ff_pipeline_config cfg = config();
    ff_err err = {0};
    ff_session_opts opts = {.final = 0};
    assert_int_equal(ff_session_process_opts(&cfg, store, SID, 2, &hooks, &opts, &err), 0);
    /* hmi (1 crash) and notes were processed, each bracketed; aia (2 crashes) never began. */
    assert_int_equal(g.nbegun, 2);
    assert_int_equal(g.nended, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_not_equal(g.begun[i], "aia_171_level1.fits");
        assert_string_not_equal(g.ended[i], "aia_171_level1.fits");
    }
    expect_prefix(T "logs/aia_171_level1_log_2.txt",
                  "Failed: aia_171_level1 \xe2\x80\x94 processing this file was cut short 2 times");
    expect_prefix(T "logs/aia_171_level1_log_7.txt", "Not run: aia_171_level1");
    assert_false(exists(T "processed/data/aia_171_level1_data.npy"));
    char reason[600];
    assert_string_equal(manifest_status("aia_171_level1.fits", reason, sizeof reason), "failed");
    assert_non_null(strstr(reason, "not tried again"));
    assert_string_equal(manifest_status("resampled_hmi.fits", NULL, 0), "processed");
    expect_prefix(T "logs/summary_log_2.txt",
                  "NOT ALL FILES PROCESSED SUCCESSFULLY: 1 of 3 failed, 1 skipped\n");

    /* Giving up: the failed file fails again with the reason given; finished files stay. */
    opts.give_up = "processing of this session was cut short 2 times";
    g.nbegun = g.nended = 0;
    assert_int_equal(ff_session_process_opts(&cfg, store, SID, 2, &hooks, &opts, &err), 0);
    assert_int_equal(g.nbegun, 0);
    expect_prefix(T "logs/aia_171_level1_log_2.txt",
                  "Failed: aia_171_level1 \xe2\x80\x94 processing of this session was cut short 2");
    assert_string_equal(manifest_status("resampled_hmi.fits", NULL, 0), "processed");
    expect_prefix(T "logs/summary_log_2.txt", "NOT ALL FILES PROCESSED SUCCESSFULLY: 1 of 3 failed");
}

static void test_summary_text(void **state)
{
    (void)state;
    char buf[800];
    size_t all[3] = {[FF_FILE_PROCESSED] = 12};
    assert_string_equal(ff_session_summary_text(all, buf, sizeof buf),
                        "ALL FILES PROCESSED SUCCESSFULLY\n12 files: 12 processed, 0 skipped, 0 failed\n");
    size_t mixed[3] = {[FF_FILE_PROCESSED] = 1, [FF_FILE_SKIPPED] = 2, [FF_FILE_FAILED] = 3};
    ff_session_summary_text(mixed, buf, sizeof buf);
    assert_int_equal(strncmp(buf, "NOT ALL FILES PROCESSED SUCCESSFULLY: 3 of 6 failed, 2 skipped\n",
                             63), 0);
    /* The original client stops polling once the summary holds these words. */
    assert_non_null(strstr(buf, "ALL FILES PROCESSED SUCCESSFULLY"));
    assert_non_null(strstr(buf, "3 failed: each file's logs say why"));
    assert_non_null(strstr(buf, "2 skipped: "));
    char tiny[10];
    ff_session_summary_text(mixed, tiny, sizeof tiny); /* cut short, never overrun */
    assert_int_equal(strlen(tiny), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_process_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_should_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_bad_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_without_local_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failures_are_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_guard_and_give_up, setup, teardown),
        cmocka_unit_test(test_summary_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
