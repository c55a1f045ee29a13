/* The clean job: one listing of temp/ gives each session's newest object time; sessions past the
 * retention that nobody is processing are deleted object by object. Just before deleting, the
 * session is listed again and spared if anything in it became recent (an upload racing the
 * clean), so a live session is never emptied under a user's feet. */
#include "pipeline/clean.h"
#include "pipeline/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "pipeline/lease.h"
#include "pipeline/session.h"

#define TEMP FF_KEY_TEMP

typedef struct session_age {
    char *sid;
    time_t newest;
    long objects;
} session_age;

typedef struct age_list {
    session_age *v;
    size_t n, cap;
    int oom;
} age_list;

static int collect_ages(const char *key, const ff_store_stat *st, void *ctx)
{
    age_list *l = ctx;
    const char *rest = key + strlen(TEMP);
    const char *slash = strchr(rest, '/');
    if (!slash) /* temp/.keep and other loose objects are not sessions */
        return 0;
    if (rest[0] == '.') /* hidden folders are the store's own (temp/.leases/): not sessions */
        return 0;
    size_t len = (size_t)(slash - rest);
    session_age *s = NULL;
    /* Listings come grouped by folder, so the last session seen is almost always the one. */
    if (l->n && strlen(l->v[l->n - 1].sid) == len && !memcmp(l->v[l->n - 1].sid, rest, len))
        s = &l->v[l->n - 1];
    for (size_t i = 0; !s && i < l->n; i++)
        if (strlen(l->v[i].sid) == len && !memcmp(l->v[i].sid, rest, len))
            s = &l->v[i];
    if (!s) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            session_age *p = realloc(l->v, cap * sizeof *p);
            if (!p)
                return (l->oom = 1), -1;
            l->v = p;
            l->cap = cap;
        }
        s = &l->v[l->n];
        s->sid = strndup(rest, len);
        if (!s->sid)
            return (l->oom = 1), -1;
        s->newest = st->mtime;
        s->objects = 0;
        l->n++;
    }
    if (st->mtime > s->newest)
        s->newest = st->mtime;
    s->objects++;
    return 0;
}

typedef struct key_list {
    char **v;
    size_t n, cap;
    time_t cutoff;
    int recent, oom;
} key_list;

static int collect_keys(const char *key, const ff_store_stat *st, void *ctx)
{
    key_list *l = ctx;
    if (st->mtime > l->cutoff) {
        l->recent = 1;
        return 1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return (l->oom = 1), -1;
        l->v = p;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(key)))
        return (l->oom = 1), -1;
    l->n++;
    return 0;
}

static void free_keys(key_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Deletes every object of sid. Returns objects deleted, -2 when the session turned out to be
 * recent after all, -1 on error. */
static long delete_session(ff_store *store, const char *sid, time_t cutoff, ff_err *err)
{
    char prefix[FF_STORE_KEY_MAX + 1];
    if ((size_t)snprintf(prefix, sizeof prefix, TEMP "%s/", sid) >= sizeof prefix)
        return ff_err_set(err, "session name too long");
    key_list l = {.cutoff = cutoff};
    int rc = ff_store_list(store, prefix, collect_keys, &l, err);
    if (l.oom) {
        free_keys(&l);
        return ff_err_set(err, "out of memory listing session %s", sid);
    }
    if (rc < 0) {
        free_keys(&l);
        return -1;
    }
    if (l.recent) {
        free_keys(&l);
        return -2;
    }
    long deleted = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (ff_store_delete(store, l.v[i], err) != 0) {
            free_keys(&l);
            return -1;
        }
        deleted++;
    }
    free_keys(&l);
    if (ff_store_remove_empty_folders(store, prefix, err) != 0)
        return -1;
    return deleted;
}

static void report(ff_clean_report *rep, const ff_clean_opts *o, const session_age *s,
                   ff_clean_action action, long objects)
{
    if (action == FF_CLEAN_DELETED) {
        rep->sessions_deleted++;
        rep->objects_deleted += objects;
    } else if (action == FF_CLEAN_KEPT) {
        rep->sessions_kept++;
    } else {
        rep->sessions_busy++;
    }
    if (o->on_session)
        o->on_session(o->ctx, s->sid, action, s->newest, objects);
}

/* Deletes s (its lease held, when there are leases): reports what was done; -1 on a store
 * error. */
static int clean_one(ff_store *store, const ff_clean_opts *o, session_age *s, time_t cutoff,
                     ff_clean_report *rep, ff_err *err)
{
    long n = delete_session(store, s->sid, cutoff, err);
    if (n == -1)
        return ff_err_prefix(err, "cleaning session %s", s->sid);
    if (n == 0) {
        /* Nothing left: another instance's clean deleted it meanwhile. Not ours to count. */
        ff_log(FF_LOG_DEBUG, s->sid, NULL, "clean: already gone");
        return 0;
    }
    if (n > 0)
        ff_log(FF_LOG_INFO, s->sid, NULL, "clean: deleted %ld objects (newest %lld s old)", n,
               (long long)(o->now - s->newest));
    report(rep, o, s, n == -2 ? FF_CLEAN_KEPT : FF_CLEAN_DELETED, n > 0 ? n : s->objects);
    return 0;
}

#define LEASE_BATCH 32

/* The sessions in v (old, not busy here) with leases: taken LEASE_BATCH at a time (one settle
 * wait per batch); a session whose lease is held elsewhere is being processed there: busy. */
static int clean_leased(ff_store *store, const ff_clean_opts *o, session_age **v, size_t n,
                        time_t cutoff, ff_clean_report *rep, ff_err *err)
{
    for (size_t at = 0; at < n; at += LEASE_BATCH) {
        size_t k = n - at < LEASE_BATCH ? n - at : LEASE_BATCH;
        char names[LEASE_BATCH][FF_LEASE_NAME_MAX + 1];
        const char *np[LEASE_BATCH];
        ff_lease *leases[LEASE_BATCH];
        int rcs[LEASE_BATCH];
        ff_err *errs = calloc(k, sizeof *errs);
        if (!errs)
            return ff_err_set(err, "out of memory");
        for (size_t i = 0; i < k; i++) {
            snprintf(names[i], sizeof names[i], "sessions/%s", v[at + i]->sid);
            np[i] = names[i];
        }
        ff_lease_acquire_many(o->leases, np, k, leases, rcs, errs);
        int rc = 0;
        for (size_t i = 0; i < k; i++) {
            session_age *s = v[at + i];
            if (rc == 0 && rcs[i] < 0) {
                *err = errs[i];
                rc = ff_err_prefix(err, "cleaning session %s", s->sid);
            } else if (rc == 0 && rcs[i] == 1) {
                ff_log(FF_LOG_INFO, s->sid, NULL, "clean: spared: %s", errs[i].msg);
                report(rep, o, s, FF_CLEAN_BUSY, s->objects);
            } else if (rc == 0 && !ff_lease_valid(leases[i])) {
                report(rep, o, s, FF_CLEAN_BUSY, s->objects);
            } else if (rc == 0) {
                rc = clean_one(store, o, s, cutoff, rep, err);
            }
            ff_lease_release(leases[i]);
        }
        free(errs);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int ff_clean_sessions_opts(ff_store *store, const ff_clean_opts *o, ff_clean_report *rep,
                           ff_err *err)
{
    memset(rep, 0, sizeof *rep);
    if (o->retention_hours < 0)
        return ff_err_set(err, "the retention must be 0 hours or more, not %d", o->retention_hours);
    age_list ages = {0};
    int rc = ff_store_list(store, TEMP, collect_ages, &ages, err);
    if (ages.oom)
        rc = ff_err_set(err, "out of memory listing temp/");
    const time_t cutoff = o->now - (time_t)o->retention_hours * 3600;
    session_age **leased = NULL;
    size_t nleased = 0;
    if (rc == 0 && o->leases && !o->dry_run && !(leased = calloc(ages.n ? ages.n : 1, sizeof *leased)))
        rc = ff_err_set(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < ages.n; i++) {
        session_age *s = &ages.v[i];
        if (s->newest > cutoff)
            report(rep, o, s, FF_CLEAN_KEPT, s->objects);
        else if (o->busy && o->busy(o->ctx, s->sid))
            report(rep, o, s, FF_CLEAN_BUSY, s->objects);
        else if (o->dry_run)
            report(rep, o, s, FF_CLEAN_DELETED, s->objects);
        else if (leased && ff_session_id_valid(s->sid)) /* other folders are never processed */
            leased[nleased++] = s;
        else if (clean_one(store, o, s, cutoff, rep, err) != 0)
            rc = -1;
    }
    if (rc == 0 && nleased)
        rc = clean_leased(store, o, leased, nleased, cutoff, rep, err);
    free(leased);
    for (size_t i = 0; i < ages.n; i++)
        free(ages.v[i].sid);
    free(ages.v);
    return rc < 0 ? -1 : 0;
}

int ff_clean_sessions_ex(ff_store *store, time_t now, int retention_hours, int dry_run,
                         int (*busy)(void *ctx, const char *sid), ff_clean_session_fn on_session,
                         void *ctx, ff_clean_report *rep, ff_err *err)
{
    ff_clean_opts o = {.now = now, .retention_hours = retention_hours, .dry_run = dry_run,
                       .busy = busy, .on_session = on_session, .ctx = ctx};
    return ff_clean_sessions_opts(store, &o, rep, err);
}

int ff_clean_sessions(ff_store *store, time_t now, int retention_hours,
                      int (*busy)(void *ctx, const char *sid), void *ctx, ff_clean_report *rep,
                      ff_err *err)
{
    return ff_clean_sessions_ex(store, now, retention_hours, 0, busy, NULL, ctx, rep, err);
}
