/* The durable job queue over SQLite (WAL). One row per session with a job: state "pending" or
 * "running", plus a rerun flag set when new work arrives while it runs. A finished job's row is
 * deleted, so the table stays as small as the work outstanding. One connection, one mutex. */
#include "server/queue.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, queued_at, id);";

static int db_error(ff_queue *q, ff_err *err, const char *what)
{
    return ff_err_set(err, "job queue: %s failed: %s", what, sqlite3_errmsg(q->db));
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

/* Runs one statement with optional text and integer parameters; no result rows. */
static int exec1(ff_queue *q, const char *sql, const char *text, int64_t num, int64_t num2,
                 ff_err *err, const char *what)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, what);
    int idx = 1;
    if (text)
        sqlite3_bind_text(st, idx++, text, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_count(st) >= idx)
        sqlite3_bind_int64(st, idx++, num);
    if (sqlite3_bind_parameter_count(st) >= idx)
        sqlite3_bind_int64(st, idx++, num2);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_error(q, err, what);
    return 0;
}

int ff_queue_push(ff_queue *q, const char *sid, ff_err *err)
{
    if (!sid || !*sid)
        return ff_err_set(err, "job queue: empty session id");
    pthread_mutex_lock(&q->lock);
    /* New job, or: already pending (nothing to do), or running (run once more afterwards). */
    int rc = exec1(q,
                   "INSERT INTO jobs (sid, state, queued_at) VALUES (?1, 'pending', ?2) "
                   "ON CONFLICT (sid) DO UPDATE SET rerun = (state = 'running')",
                   sid, (int64_t)time(NULL), 0, err, "queueing a session");
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_claim(ff_queue *q, char *sid, size_t sidsize, int64_t *id, ff_err *err)
{
    pthread_mutex_lock(&q->lock);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(q->db,
                           "UPDATE jobs SET state = 'running', rerun = 0, attempts = attempts + 1, "
                           "started_at = ?1 WHERE id = (SELECT id FROM jobs WHERE state = 'pending' "
                           "ORDER BY queued_at, id LIMIT 1) RETURNING id, sid",
                           -1, &st, NULL) != SQLITE_OK) {
        db_error(q, err, "taking a job");
        goto out;
    }
    sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        const unsigned char *t = sqlite3_column_text(st, 1);
        snprintf(sid, sidsize, "%s", t ? (const char *)t : "");
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

int ff_queue_done(ff_queue *q, int64_t id, ff_err *err)
{
    pthread_mutex_lock(&q->lock);
    int rc = exec1(q, "UPDATE jobs SET state = 'pending', rerun = 0, queued_at = ?1 "
                      "WHERE id = ?2 AND rerun = 1",
                   NULL, (int64_t)time(NULL), id, err, "finishing a job");
    if (rc == 0)
        rc = exec1(q, "DELETE FROM jobs WHERE id = ?1 AND state = 'running'", NULL, id, 0, err,
                   "finishing a job");
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_release(ff_queue *q, int64_t id, ff_err *err)
{
    pthread_mutex_lock(&q->lock);
    int rc = exec1(q, "UPDATE jobs SET state = 'pending', rerun = 0 WHERE id = ?1", NULL, id, 0,
                   err, "putting a job back");
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int ff_queue_recover(ff_queue *q, ff_err *err)
{
    pthread_mutex_lock(&q->lock);
    int rc = exec1(q, "UPDATE jobs SET state = 'pending', rerun = 0 WHERE state = 'running'", NULL,
                   0, 0, err, "recovering interrupted jobs");
    if (rc == 0)
        rc = sqlite3_changes(q->db);
    pthread_mutex_unlock(&q->lock);
    return rc;
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
