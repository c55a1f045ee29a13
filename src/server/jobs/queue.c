/* The durable job queue over SQLite (WAL). One row per session with a job: state "pending" or
 * "running", a rerun flag set when new work arrives while it runs, and the bookkeeping of
 * retries (failures, not_before) and crashes. A finished job's row is deleted, so the table
 * stays as small as the work outstanding. A second table holds the uploads being processed
 * now and those whose processing a crash cut short (kept so that a poison file is recognised
 * when its session is triggered again). One connection, one mutex. */
#include "server/jobs/queue.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A file row goes when the file ends; one whose processing never ended is kept this long. */
#define CRASH_MEMORY_S (30 * 86400)

struct ff_queue {
    sqlite3 *db;
    pthread_mutex_t lock;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  sid TEXT NOT NULL UNIQUE,"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'running')),"
    "  rerun INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  queued_at INTEGER NOT NULL,"
    "  started_at INTEGER"
    ");"
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, queued_at, id);"
    "CREATE TABLE IF NOT EXISTS files ("
    "  sid TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  running INTEGER NOT NULL DEFAULT 0,"
    "  crashes INTEGER NOT NULL DEFAULT 0,"  /* cut short while the only file in progress */
    "  suspects INTEGER NOT NULL DEFAULT 0," /* cut short while other files were in progress too */
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (sid, name)"
    ");";

/* Columns added after the first release: a queue.db from before gets them at open. */
static const struct {
    const char *name, *decl;
} added_columns[] = {
    {"failures", "failures INTEGER NOT NULL DEFAULT 0"},
    {"crashes", "crashes INTEGER NOT NULL DEFAULT 0"},
    {"not_before", "not_before INTEGER NOT NULL DEFAULT 0"}, /* ms since the epoch */
    {"last_error", "last_error TEXT"},
};

static int db_error(ff_queue *q, ff_err *err, const char *what)
{
    return ff_err_set(err, "job queue: %s failed: %s", what, sqlite3_errmsg(q->db));
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int has_column(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('jobs') WHERE name = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

ff_queue *ff_queue_open(const char *db_path, ff_err *err)
{
    ff_queue *q = calloc(1, sizeof *q);
    if (!q) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(db_path, &q->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ff_err_set(err, "cannot open the job queue '%s': %s", db_path,
                   q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        sqlite3_close(q->db);
        free(q);
        return NULL;
    }
    sqlite3_busy_timeout(q->db, 5000);
    char *msg = NULL;
    /* WAL: readers (fitsflow clean in another process) never block the server's writes.
     * synchronous=FULL: a job pushed is a job kept, even across a power cut. */
    rc = sqlite3_exec(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(q->db, schema, NULL, NULL, &msg);
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof added_columns / sizeof added_columns[0]; i++)
        if (!has_column(q->db, added_columns[i].name)) {
            char sql[160];
            snprintf(sql, sizeof sql, "ALTER TABLE jobs ADD COLUMN %s", added_columns[i].decl);
            rc = sqlite3_exec(q->db, sql, NULL, NULL, &msg);
            if (rc != SQLITE_OK && has_column(q->db, added_columns[i].name)) {
                /* another process (fitsflow clean) added it at the same moment */
                sqlite3_free(msg);
                msg = NULL;
                rc = SQLITE_OK;
            }
        }
    if (rc != SQLITE_OK) {
        ff_err_set(err, "cannot set up the job queue '%s': %s", db_path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close(q->db);
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->lock, NULL);
    return q;
}

void ff_queue_close(ff_queue *q)
{
    if (!q)
        return;
    sqlite3_close(q->db);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

/* Prepares sql and binds its parameters in order: types says each one's type, 's' a string
 * (const char *, NULL binds NULL) or 'i' an int64_t. NULL with err filled on failure. */
static sqlite3_stmt *prepare(ff_queue *q, const char *sql, const char *types, va_list ap,
                             ff_err *err, const char *what)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_error(q, err, what);
        return NULL;
    }
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's') {
            const char *s = va_arg(ap, const char *);
            if (s)
                sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i + 1);
        } else {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        }
    }
    return st;
}

/* Runs one statement that returns no rows. Call with the lock held. */
static int exec(ff_queue *q, ff_err *err, const char *what, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = prepare(q, sql, types, ap, err, what);
    va_end(ap);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_error(q, err, what);
}

/* Runs a statement whose first column of its first row is an integer: 0 with *out set, 1 when
 * there is no row, -1 on error. Call with the lock held. */
static int query_int(ff_queue *q, int64_t *out, ff_err *err, const char *what, const char *sql,
                     const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = prepare(q, sql, types, ap, err, what);
    va_end(ap);
    if (!st)
        return -1;
    int s = sqlite3_step(st), rc;
    if (s == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = s == SQLITE_DONE ? 1 : db_error(q, err, what);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Runs fn's statements in one transaction (one fsync). */
static int in_transaction(ff_queue *q, ff_err *err, const char *what,
                          int (*fn)(ff_queue *q, void *ctx, ff_err *err), void *ctx)
{
    if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(q, err, what);
    int rc = fn(q, ctx, err);
    if (rc >= 0 && sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_error(q, err, what);
    if (rc < 0)
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int ff_queue_push(ff_queue *q, const char *sid, ff_err *err)
{
    if (!sid || !*sid)
        return ff_err_set(err, "job queue: empty session id");
    if (strlen(sid) >= sizeof ((ff_queue_job *)0)->sid)
        return ff_err_set(err, "job queue: session id too long");
    pthread_mutex_lock(&q->lock);
    /* New job, or: already pending (nothing to do), or running (run once more afterwards). */
    int rc = exec(q, err, "queueing a session",
                  "INSERT INTO jobs (sid, state, queued_at) VALUES (?1, 'pending', ?2) "
                  "ON CONFLICT (sid) DO UPDATE SET rerun = (state = 'running')",
                  "si", sid, (int64_t)time(NULL));
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_claim_job(ff_queue *q, ff_queue_job *job, ff_err *err)
{
    memset(job, 0, sizeof *job);
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(q->db,
                           "UPDATE jobs SET state = 'running', rerun = 0, attempts = attempts + 1, "
                           "started_at = ?1 WHERE id = (SELECT id FROM jobs WHERE state = 'pending' "
                           "AND not_before <= ?2 ORDER BY queued_at, id LIMIT 1) "
                           "RETURNING id, sid, attempts, failures, crashes",
                           -1, &st, NULL) != SQLITE_OK) {
        db_error(q, err, "taking a job");
        goto out;
    }
    sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
    sqlite3_bind_int64(st, 2, now_ms());
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        job->id = sqlite3_column_int64(st, 0);
        const unsigned char *t = sqlite3_column_text(st, 1);
        snprintf(job->sid, sizeof job->sid, "%s", t ? (const char *)t : "");
        job->attempts = sqlite3_column_int(st, 2);
        job->failures = sqlite3_column_int(st, 3);
        job->crashes = sqlite3_column_int(st, 4);
        s = sqlite3_step(st);
        rc = s == SQLITE_DONE ? 0 : db_error(q, err, "taking a job");
    } else if (s == SQLITE_DONE) {
        rc = 1;
    } else {
        db_error(q, err, "taking a job");
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_claim(ff_queue *q, char *sid, size_t sidsize, int64_t *id, ff_err *err)
{
    ff_queue_job job;
    int rc = ff_queue_claim_job(q, &job, err);
    if (rc == 0) {
        snprintf(sid, sidsize, "%s", job.sid);
        *id = job.id;
    }
    return rc;
}

static int done_tx(ff_queue *q, void *ctx, ff_err *err)
{
    int64_t id = *(int64_t *)ctx;
    /* A rerun is a new job: its count of failures and crashes starts again. */
    if (exec(q, err, "finishing a job",
             "UPDATE jobs SET state = 'pending', rerun = 0, queued_at = ?1, failures = 0, "
             "crashes = 0, not_before = 0, last_error = NULL WHERE id = ?2 AND rerun = 1",
             "ii", (int64_t)time(NULL), id) != 0)
        return -1;
    return exec(q, err, "finishing a job", "DELETE FROM jobs WHERE id = ?1 AND state = 'running'",
                "i", id);
}

int ff_queue_done(ff_queue *q, int64_t id, ff_err *err)
{
    pthread_mutex_lock(&q->lock);
    int rc = in_transaction(q, err, "finishing a job", done_tx, &id);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_release(ff_queue *q, int64_t id, ff_err *err)
{
    pthread_mutex_lock(&q->lock);
    int rc = exec(q, err, "putting a job back",
                  "UPDATE jobs SET state = 'pending', rerun = 0 WHERE id = ?1", "i", id);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_retry(ff_queue *q, int64_t id, int64_t delay_ms, const char *reason, ff_err *err)
{
    if (delay_ms < 0)
        delay_ms = 0;
    pthread_mutex_lock(&q->lock);
    int rc = exec(q, err, "scheduling a retry",
                  "UPDATE jobs SET state = 'pending', rerun = 0, failures = failures + 1, "
                  "not_before = ?1, last_error = ?2 WHERE id = ?3",
                  "isi", now_ms() + delay_ms, reason, id);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_defer(ff_queue *q, int64_t id, int64_t delay_ms, const char *reason, ff_err *err)
{
    if (delay_ms < 0)
        delay_ms = 0;
    pthread_mutex_lock(&q->lock);
    int rc = exec(q, err, "putting a job off",
                  "UPDATE jobs SET state = 'pending', rerun = 0, not_before = ?1, last_error = ?2 "
                  "WHERE id = ?3",
                  "isi", now_ms() + delay_ms, reason, id);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static int recover_tx(ff_queue *q, void *ctx, ff_err *err)
{
    (void)ctx;
    const char *what = "recovering interrupted jobs";
    /* The file in progress is to blame when it was the only one; when several were (files of
     * one session at once, or several sessions), each is only suspected, and the sessions that
     * hold suspects are then processed one file at a time (ff_queue_needs_care) until it is
     * known which file it was. */
    int64_t running = 0;
    if (exec(q, err, what,
             "UPDATE jobs SET crashes = crashes + 1 WHERE state = 'running' AND NOT EXISTS "
             "(SELECT 1 FROM files WHERE files.sid = jobs.sid AND files.running = 1)", "") != 0 ||
        query_int(q, &running, err, what, "SELECT count(*) FROM files WHERE running = 1", "") < 0 ||
        exec(q, err, what,
             "UPDATE files SET crashes = crashes + (?1 = 1), suspects = suspects + (?1 > 1), "
             "running = 0, updated_at = ?2 WHERE running = 1", "ii", running,
             (int64_t)time(NULL)) != 0 ||
        exec(q, err, what, "DELETE FROM files WHERE running = 0 AND updated_at < ?1", "i",
             (int64_t)time(NULL) - CRASH_MEMORY_S) != 0 ||
        exec(q, err, what, "UPDATE jobs SET state = 'pending', rerun = 0 WHERE state = 'running'",
             "") != 0)
        return -1;
    return sqlite3_changes(q->db);
}

int ff_queue_recover(ff_queue *q, ff_err *err)
{
    pthread_mutex_lock(&q->lock);
    int rc = in_transaction(q, err, "recovering interrupted jobs", recover_tx, NULL);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_file_crashes(ff_queue *q, const char *sid, const char *name, uint64_t size,
                          int64_t mtime, ff_err *err)
{
    int64_t n = 0;
    pthread_mutex_lock(&q->lock);
    /* Suspected once and blamed once is twice: the second time it was alone. */
    int rc = query_int(q, &n, err, "reading a file's crashes",
                       "SELECT crashes + (CASE WHEN crashes > 0 THEN min(suspects, 1) ELSE 0 END) "
                       "FROM files WHERE sid = ?1 AND name = ?2 AND size = ?3 AND mtime = ?4",
                       "ssii", sid, name, (int64_t)size, mtime);
    pthread_mutex_unlock(&q->lock);
    if (rc < 0)
        return -1;
    return rc == 1 ? 0 : (int)(n > 1000 ? 1000 : n);
}

int ff_queue_file_begin(ff_queue *q, const char *sid, const char *name, uint64_t size,
                        int64_t mtime, ff_err *err)
{
    pthread_mutex_lock(&q->lock);
    /* Crashes of an earlier upload under the same name do not count against this one. */
    int rc = exec(q, err, "recording a file in progress",
                  "INSERT INTO files (sid, name, size, mtime, running, updated_at) "
                  "VALUES (?1, ?2, ?3, ?4, 1, ?5) ON CONFLICT (sid, name) DO UPDATE SET "
                  "running = 1, updated_at = excluded.updated_at, "
                  "crashes = CASE WHEN size = excluded.size AND mtime = excluded.mtime "
                  "THEN crashes ELSE 0 END, "
                  "suspects = CASE WHEN size = excluded.size AND mtime = excluded.mtime "
                  "THEN suspects ELSE 0 END, size = excluded.size, mtime = excluded.mtime",
                  "ssiii", sid, name, (int64_t)size, mtime, (int64_t)time(NULL));
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_file_end(ff_queue *q, const char *sid, const char *name, ff_err *err)
{
    pthread_mutex_lock(&q->lock);
    /* It ended: whatever crashed before, it was not this file (or not every time). */
    int rc = exec(q, err, "recording a file finished",
                  "DELETE FROM files WHERE sid = ?1 AND name = ?2", "ss", sid, name);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_needs_care(ff_queue *q)
{
    int64_t n = 0;
    pthread_mutex_lock(&q->lock);
    int rc = query_int(q, &n, NULL, "looking for suspects",
                       "SELECT 1 FROM files f JOIN jobs j ON j.sid = f.sid WHERE f.running = 0 "
                       "AND f.suspects > 0 AND f.crashes = 0 LIMIT 1", "");
    pthread_mutex_unlock(&q->lock);
    return rc != 1;
}

int ff_queue_counts(ff_queue *q, int *pending, int *running)
{
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    *pending = *running = 0;
    if (sqlite3_prepare_v2(q->db, "SELECT state, count(*) FROM jobs GROUP BY state", -1, &st,
                           NULL) == SQLITE_OK) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            const char *state = (const char *)sqlite3_column_text(st, 0);
            int n = sqlite3_column_int(st, 1);
            if (state && !strcmp(state, "pending"))
                *pending = n;
            else if (state && !strcmp(state, "running"))
                *running = n;
        }
        rc = s == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_is_active(ff_queue *q, const char *sid)
{
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = NULL;
    int active = 1; /* when the queue cannot be read, protect the session */
    if (sqlite3_prepare_v2(q->db, "SELECT 1 FROM jobs WHERE sid = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, sid, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        active = s != SQLITE_DONE;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&q->lock);
    return active;
}
