/* Leases in the bucket (lease.h says why and how): taking them with Fischer's timed mutual
 * exclusion, one thread renewing those held and, when asked, finding abandoned ones, and what
 * this process has seen of the others' (the same object for how long, by its own clock). */
#include "pipeline/lease.h"
#include "base/clock.h"
#include "base/settings.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "pipeline/pipeline.h"

#define BODY_MAX 4096
#define SEEN_MAX 65536      /* objects of other holders remembered at once */
#define SCAN_MAX 100000     /* leases looked at per scan */

/* What this process has seen at one lease key: the same bytes since first_seen. */
typedef struct seen {
    struct seen *next;
    char *name;
    char *body;
    double first_seen, last_seen;
} seen;

struct ff_lease {
    ff_leases *ls;
    ff_lease *next;
    char name[FF_LEASE_NAME_MAX + 1];
    char key[FF_LEASE_NAME_MAX + 32];
    char token[33];
    long seq;
    char *body;             /* what the object holds while it is ours */
    char *maybe;            /* a renewal whose write failed: it may have landed all the same */
    double valid_until;     /* ff_clock_now(): ours until then unless renewed */
    double next_renew;
    int lost;
    int busy;               /* the thread is renewing it (under ls->lock) */
};

struct ff_leases {
    ff_store *store;
    ff_lease_config c;
    char owner[160];
    pthread_mutex_t lock;   /* held, seen, stop, the leases' times and flags */
    pthread_cond_t cond;
    ff_lease *held;
    seen *seen;
    size_t nseen;
    int stop;
    pthread_t thread;
    int started;
    pthread_mutex_t watch_lock; /* held while fn runs, so that unwatching waits for it */
    char watch_prefix[64];
    ff_lease_orphan_fn watch_fn;
    void *watch_ctx;
    double next_scan;
};

void ff_lease_config_defaults(ff_lease_config *c)
{
    ff_settings s;
    ff_settings_defaults(&s);
    ff_lease_config_from_settings(c, &s, NULL);
}

int ff_lease_config_from_settings(ff_lease_config *c, const ff_settings *s, ff_err *err)
{
    c->seconds = (double)ff_settings_uint(s, FF_SET_LEASE_SECONDS);
    c->settle = (double)ff_settings_uint(s, FF_SET_LEASE_SETTLE_MS) / 1000;
    if (c->settle > c->seconds / 4)
        return ff_err_set(err, "FITSFLOW_LEASE_SETTLE_MS (%.0f) must be at most a quarter of "
                          "FITSFLOW_LEASE_SECONDS (%.0f s)", c->settle * 1000, c->seconds);
    return 0;
}

static int name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (!n || n > FF_LEASE_NAME_MAX || name[0] == '/' || name[n - 1] == '/' || strstr(name, "//"))
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_/-") == n;
}

static void sleep_until(double t)
{
    for (;;) {
        double left = t - ff_clock_now();
        if (left <= 0)
            return;
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* {"token", "seq", "owner", "written"}: the token and count first, so that every write differs
 * within its first bytes. NULL when out of memory. */
static char *make_body(const ff_leases *ls, const char *token, long seq)
{
    char since[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *j = json_pack("{s:s,s:I,s:s,s:s}", "token", token, "seq", (json_int_t)seq, "owner",
                          ls->owner, "written", since);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return s;
}

/* Who an object says holds it, for messages. */
static void owner_of(const char *body, char *out, size_t cap)
{
    json_t *j = json_loads(body, 0, NULL);
    const char *o = json_string_value(json_object_get(j, "owner"));
    snprintf(out, cap, "%.100s", o ? o : "an unknown holder");
    json_decref(j);
}

/* 0 with *body (malloc'd), 1 absent, -1 error. */
static int read_lease(ff_leases *ls, const char *key, char **body, ff_err *err)
{
    size_t len = 0;
    *body = NULL;
    int rc = ff_store_get(ls->store, key, BODY_MAX, body, &len, err);
    if (rc != 0) {
        free(*body);
        *body = NULL;
    }
    return rc;
}

/* Under ls->lock: seconds this process has seen exactly body at name (0 the first time). */
static double observe(ff_leases *ls, const char *name, const char *body, double now)
{
    for (seen *s = ls->seen; s; s = s->next)
        if (!strcmp(s->name, name)) {
            s->last_seen = now;
            if (strcmp(s->body, body)) {
                char *b = strdup(body);
                if (!b)
                    return 0;
                free(s->body);
                s->body = b;
                s->first_seen = now;
            }
            return now - s->first_seen;
        }
    if (ls->nseen >= SEEN_MAX)
        return 0; /* never judged abandoned here: safe */
    seen *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name)) || !(s->body = strdup(body))) {
        if (s)
            free(s->name);
        free(s);
        return 0;
    }
    s->first_seen = s->last_seen = now;
    s->next = ls->seen;
    ls->seen = s;
    ls->nseen++;
    return 0;
}

static void seen_free(seen *s)
{
    free(s->name);
    free(s->body);
    free(s);
}

/* Under ls->lock: forgets what is not looked at any more. */
static void prune_seen(ff_leases *ls, double now)
{
    for (seen **pp = &ls->seen; *pp;) {
        seen *s = *pp;
        if (now - s->last_seen > 4 * ls->c.seconds) {
            *pp = s->next;
            seen_free(s);
            ls->nseen--;
        } else {
            pp = &s->next;
        }
    }
}

static void forget(ff_leases *ls, const char *name)
{
    for (seen **pp = &ls->seen; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->name, name)) {
            seen *s = *pp;
            *pp = s->next;
            seen_free(s);
            ls->nseen--;
            return;
        }
}

static int held_here(ff_leases *ls, const char *name)
{
    for (ff_lease *l = ls->held; l; l = l->next)
        if (!strcmp(l->name, name))
            return 1;
    return 0;
}

/* ---- taking ---------------------------------------------------------------------------- */

typedef struct attempt {
    const char *name;
    char key[FF_LEASE_NAME_MAX + 32];
    int wrote;          /* our token went out: read back after the settle time */
    int slow;           /* ... too late to claim it: only take it away again if still there */
    int rc;
    ff_err err;
    char token[33];
    char *body;
    double t0, written;
    ff_lease *lease;
} attempt;

/* Read, judge, write our token: a->wrote, or a->rc final. */
static void attempt_begin(ff_leases *ls, attempt *a)
{
    double limit = ls->c.settle / 2; /* the read-to-write step every writer keeps under */
    if (!name_valid(a->name)) {
        a->rc = ff_err_set(&a->err, "'%.130s' is not a lease name", a->name ? a->name : "");
        return;
    }
    snprintf(a->key, sizeof a->key, FF_LEASE_PREFIX "%s", a->name);
    pthread_mutex_lock(&ls->lock);
    int here = held_here(ls, a->name);
    pthread_mutex_unlock(&ls->lock);
    if (here) {
        a->rc = 1;
        ff_err_set(&a->err, "lease %s is held by this process", a->name);
        return;
    }
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        a->rc = ff_err_set(&a->err, "no random bytes for a lease token");
        return;
    }
    for (int i = 0; i < 16; i++)
        snprintf(a->token + 2 * i, 3, "%02x", raw[i]);
    double saved = ff_store_get_deadline();
    a->t0 = ff_clock_now();
    ff_store_set_deadline(a->t0 + limit);
    char *cur = NULL;
    int rc = read_lease(ls, a->key, &cur, &a->err);
    if (rc < 0) {
        if (ff_store_last_fault() == FF_STORE_FAULT_TIMEOUT) {
            a->rc = 1;
            ff_err_set(&a->err, "the store did not answer within %.0f ms: too slow to take lease "
                       "%s safely now", limit * 1000, a->name);
        } else {
            a->rc = ff_err_prefix(&a->err, "cannot read lease %s", a->name);
        }
        goto out;
    }
    pthread_mutex_lock(&ls->lock);
    double age = 0;
    if (rc == 0)
        age = observe(ls, a->name, cur, ff_clock_now());
    else
        forget(ls, a->name);
    pthread_mutex_unlock(&ls->lock);
    if (rc == 0) {
        char who[128];
        owner_of(cur, who, sizeof who);
        if (age < ls->c.seconds) {
            a->rc = 1;
            ff_err_set(&a->err, "lease %s is held by %s (unchanged for %.0f s here; abandoned "
                       "after %.0f s)", a->name, who, age, ls->c.seconds);
            goto out;
        }
        ff_log(FF_LOG_INFO, NULL, NULL, "lease %s of %s unchanged for %.0f s: abandoned, taking it "
               "over", a->name, who, age);
    }
    a->body = make_body(ls, a->token, 0);
    if (!a->body) {
        a->rc = ff_err_set(&a->err, "out of memory");
        goto out;
    }
    rc = ff_store_put(ls->store, a->key, a->body, strlen(a->body), &a->err);
    double took = ff_clock_now() - a->t0;
    if (rc != 0 && ff_store_last_fault() != FF_STORE_FAULT_TIMEOUT) {
        a->rc = ff_err_prefix(&a->err, "cannot write lease %s", a->name);
    } else if (rc != 0 || took > limit) {
        /* Our write may have landed after someone else read the lease free: not safe to claim.
         * After the settle time it is taken away again if it is still there (then nobody else
         * wrote since); otherwise it is left to be judged abandoned like any other. */
        a->rc = 1;
        ff_err_set(&a->err, "the store took %.0f ms to read and write lease %s, more than the "
                   "%.0f ms that keep it safe (FITSFLOW_LEASE_SETTLE_MS / 2); trying later",
                   took * 1000, a->name, limit * 1000);
        a->wrote = a->slow = 1;
        a->written = ff_clock_now();
    } else {
        a->wrote = 1;
        a->written = ff_clock_now();
    }
out:
    free(cur);
    ff_store_set_deadline(saved);
}

/* After the settle time: our token still there = ours. */
static void attempt_finish(ff_leases *ls, attempt *a)
{
    double saved = ff_store_get_deadline();
    ff_store_set_deadline(ff_clock_now() + ls->c.seconds / 2);
    char *cur = NULL;
    if (a->slow) {
        /* Still ours after the settle time: no other write is on its way, so nobody holds it;
         * deleting it spares everyone the wait for an abandoned lease. (When another attempt
         * claimed it before our late write landed, that holder has lost it either way: its
         * renewal finds our token, or nothing.) */
        ff_err e = {0};
        if (read_lease(ls, a->key, &cur, &e) == 0 && !strcmp(cur, a->body))
            ff_store_delete(ls->store, a->key, &e);
        free(cur);
        ff_store_set_deadline(saved);
        return; /* a->rc and a->err stay as attempt_begin set them */
    }
    int rc = read_lease(ls, a->key, &cur, &a->err);
    ff_store_set_deadline(saved);
    if (rc < 0) {
        a->rc = ff_err_prefix(&a->err, "cannot read back lease %s", a->name);
        return;
    }
    if (rc == 1 || strcmp(cur, a->body) != 0) {
        char who[128] = "another instance";
        pthread_mutex_lock(&ls->lock);
        if (rc == 0)
            observe(ls, a->name, cur, ff_clock_now());
        pthread_mutex_unlock(&ls->lock);
        if (rc == 0)
            owner_of(cur, who, sizeof who);
        a->rc = 1;
        ff_err_set(&a->err, "lease %s was taken by %s at the same time", a->name, who);
        free(cur);
        return;
    }
    free(cur);
    ff_lease *l = calloc(1, sizeof *l);
    if (!l) {
        a->rc = ff_err_set(&a->err, "out of memory");
        return;
    }
    l->ls = ls;
    snprintf(l->name, sizeof l->name, "%s", a->name);
    snprintf(l->key, sizeof l->key, "%s", a->key);
    memcpy(l->token, a->token, sizeof l->token);
    l->body = a->body;
    a->body = NULL;
    /* Others start counting no earlier than our write began, so t0 is a safe origin. */
    l->valid_until = a->t0 + ls->c.seconds / 2;
    l->next_renew = a->t0 + ls->c.seconds / 6;
    pthread_mutex_lock(&ls->lock);
    forget(ls, a->name);
    l->next = ls->held;
    ls->held = l;
    pthread_cond_broadcast(&ls->cond);
    pthread_mutex_unlock(&ls->lock);
    a->lease = l;
    a->rc = 0;
}

void ff_lease_acquire_many(ff_leases *ls, const char *const *names, size_t n, ff_lease **out,
                           int *rc, ff_err *errs)
{
    attempt *a = calloc(n ? n : 1, sizeof *a);
    if (!a) {
        for (size_t i = 0; i < n; i++) {
            out[i] = NULL;
            rc[i] = -1;
            if (errs)
                ff_err_set(&errs[i], "out of memory");
        }
        return;
    }
    double last = 0;
    for (size_t i = 0; i < n; i++) {
        a[i].name = names[i];
        attempt_begin(ls, &a[i]);
        if (a[i].wrote && a[i].written > last)
            last = a[i].written;
    }
    if (last)
        sleep_until(last + ls->c.settle);
    for (size_t i = 0; i < n; i++) {
        if (a[i].wrote)
            attempt_finish(ls, &a[i]);
        out[i] = a[i].lease;
        rc[i] = a[i].rc;
        if (errs)
            errs[i] = a[i].err;
        free(a[i].body);
    }
    free(a);
}

int ff_lease_acquire(ff_leases *ls, const char *name, ff_lease **out, ff_err *err)
{
    int rc;
    ff_err e = {0};
    ff_lease_acquire_many(ls, &name, 1, out, &rc, &e);
    if (rc != 0 && err)
        *err = e;
    return rc;
}

/* ---- holding ---------------------------------------------------------------------------- */

int ff_lease_valid(ff_lease *l)
{
    ff_leases *ls = l->ls;
    pthread_mutex_lock(&ls->lock);
    int v = !l->lost && ff_clock_now() < l->valid_until;
    pthread_mutex_unlock(&ls->lock);
    return v;
}

const char *ff_lease_name(const ff_lease *l)
{
    return l->name;
}

static void mark_lost(ff_leases *ls, ff_lease *l, const char *why)
{
    pthread_mutex_lock(&ls->lock);
    int was = l->lost;
    l->lost = 1;
    pthread_mutex_unlock(&ls->lock);
    if (!was)
        ff_log(FF_LOG_WARN, NULL, NULL, "lease %s lost: %s", l->name, why);
}

/* On the lease thread, l->busy set: read, check it is still ours, write the next count. */
static void renew(ff_leases *ls, ff_lease *l)
{
    double t = ff_clock_now();
    pthread_mutex_lock(&ls->lock);
    double until = l->valid_until;
    pthread_mutex_unlock(&ls->lock);
    if (t >= until) {
        mark_lost(ls, l, "it could not be renewed in time");
        return;
    }
    double retry = ls->c.seconds / 12;
    ff_store_set_deadline(until);
    ff_err err = {0};
    char *cur = NULL;
    int rc = read_lease(ls, l->key, &cur, &err);
    if (rc < 0) {
        ff_log(FF_LOG_WARN, NULL, NULL, "lease %s: cannot renew it: %s", l->name, err.msg);
        pthread_mutex_lock(&ls->lock);
        l->next_renew = t + retry;
        pthread_mutex_unlock(&ls->lock);
        ff_store_set_deadline(0);
        return;
    }
    if (rc == 0 && l->maybe && !strcmp(cur, l->maybe)) {
        free(l->body);
        l->body = l->maybe;
        l->maybe = NULL;
        l->seq++;
    }
    if (rc == 1 || strcmp(cur, l->body) != 0) {
        char why[200], who[128];
        if (rc == 0)
            owner_of(cur, who, sizeof who);
        snprintf(why, sizeof why, rc == 1 ? "its object was deleted" : "its object now says %s",
                 rc == 1 ? "" : who);
        free(cur);
        mark_lost(ls, l, why);
        ff_store_set_deadline(0);
        return;
    }
    free(cur);
    char *next = make_body(ls, l->token, l->seq + 1);
    if (next && ff_store_put(ls->store, l->key, next, strlen(next), &err) == 0) {
        free(l->body);
        l->body = next;
        free(l->maybe);
        l->maybe = NULL;
        l->seq++;
        pthread_mutex_lock(&ls->lock);
        l->valid_until = t + ls->c.seconds / 2;
        l->next_renew = t + ls->c.seconds / 6;
        pthread_mutex_unlock(&ls->lock);
    } else {
        if (next)
            ff_log(FF_LOG_WARN, NULL, NULL, "lease %s: cannot renew it: %s", l->name, err.msg);
        free(l->maybe);
        l->maybe = next; /* it may have landed */
        pthread_mutex_lock(&ls->lock);
        l->next_renew = t + retry;
        pthread_mutex_unlock(&ls->lock);
    }
    ff_store_set_deadline(0);
}

void ff_lease_release(ff_lease *l)
{
    if (!l)
        return;
    ff_leases *ls = l->ls;
    pthread_mutex_lock(&ls->lock);
    while (l->busy)
        pthread_cond_wait(&ls->cond, &ls->lock);
    for (ff_lease **pp = &ls->held; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    int ours = !l->lost && ff_clock_now() < l->valid_until;
    double until = l->valid_until;
    pthread_mutex_unlock(&ls->lock);
    if (ours) {
        /* Still ours: nobody takes a lease before it is abandoned, so the delete cannot remove
         * another holder's. */
        double saved = ff_store_get_deadline();
        ff_store_set_deadline(until);
        ff_err err = {0};
        if (ff_store_delete(ls->store, l->key, &err) != 0)
            ff_log(FF_LOG_WARN, NULL, NULL, "lease %s: cannot delete it (%s); others take it once "
                   "it is seen unchanged for %.0f s", l->name, err.msg, ls->c.seconds);
        ff_store_set_deadline(saved);
    }
    free(l->body);
    free(l->maybe);
    free(l);
}

/* ---- the thread ---------------------------------------------------------------------------- */

typedef struct key_list {
    char **v;
    size_t n, cap;
    int oom;
} key_list;

static int collect(const char *key, const ff_store_stat *st, void *ctx)
{
    (void)st;
    key_list *k = ctx;
    if (k->n >= SCAN_MAX)
        return 1;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        char **p = realloc(k->v, cap * sizeof *p);
        if (!p)
            return (k->oom = 1), -1;
        k->v = p;
        k->cap = cap;
    }
    if (!(k->v[k->n] = strdup(key)))
        return (k->oom = 1), -1;
    k->n++;
    return 0;
}

/* One look at the leases under the watched prefix: each is read, and those seen unchanged for
 * the lease time (and not ours) go to the watcher. */
static void scan(ff_leases *ls)
{
    char prefix[128];
    pthread_mutex_lock(&ls->watch_lock);
    snprintf(prefix, sizeof prefix, FF_LEASE_PREFIX "%s", ls->watch_prefix);
    pthread_mutex_unlock(&ls->watch_lock);
    key_list k = {0};
    ff_err err = {0};
    ff_store_set_deadline(ff_clock_now() + ls->c.seconds / 2);
    if (ff_store_list(ls->store, prefix, collect, &k, &err) < 0 && !k.oom)
        ff_log(FF_LOG_WARN, NULL, NULL, "leases: cannot list %s: %s", prefix, err.msg);
    size_t plen = strlen(FF_LEASE_PREFIX);
    for (size_t i = 0; i < k.n; i++) {
        const char *name = k.v[i] + plen;
        char *cur = NULL;
        if (!name_valid(name) || read_lease(ls, k.v[i], &cur, &err) != 0)
            continue;
        pthread_mutex_lock(&ls->lock);
        int mine = held_here(ls, name);
        double age = mine ? 0 : observe(ls, name, cur, ff_clock_now());
        pthread_mutex_unlock(&ls->lock);
        free(cur);
        if (age >= ls->c.seconds) {
            pthread_mutex_lock(&ls->watch_lock);
            if (ls->watch_fn)
                ls->watch_fn(ls->watch_ctx, name);
            pthread_mutex_unlock(&ls->watch_lock);
        }
    }
    ff_store_set_deadline(0);
    for (size_t i = 0; i < k.n; i++)
        free(k.v[i]);
    free(k.v);
}

static void *lease_thread(void *arg)
{
    ff_leases *ls = arg;
    pthread_mutex_lock(&ls->lock);
    while (!ls->stop) {
        double now = ff_clock_now();
        ff_lease *due = NULL;
        double wake = now + 1.0;
        for (ff_lease *l = ls->held; l; l = l->next) {
            if (l->lost || l->busy)
                continue;
            if (l->next_renew <= now) {
                due = l;
                break;
            }
            if (l->next_renew < wake)
                wake = l->next_renew;
        }
        if (due) {
            due->busy = 1;
            pthread_mutex_unlock(&ls->lock);
            renew(ls, due);
            pthread_mutex_lock(&ls->lock);
            due->busy = 0;
            pthread_cond_broadcast(&ls->cond);
            continue;
        }
        pthread_mutex_lock(&ls->watch_lock);
        int watching = ls->watch_fn != NULL;
        pthread_mutex_unlock(&ls->watch_lock);
        if (watching && now >= ls->next_scan) {
            ls->next_scan = now + ls->c.seconds / 2;
            pthread_mutex_unlock(&ls->lock);
            scan(ls);
            pthread_mutex_lock(&ls->lock);
            prune_seen(ls, ff_clock_now());
            continue;
        }
        if (watching && ls->next_scan < wake)
            wake = ls->next_scan;
        double left = wake - now;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)((left - (double)(long)left) * 1e9);
        ts.tv_sec += (time_t)left + ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&ls->cond, &ls->lock, &ts);
    }
    pthread_mutex_unlock(&ls->lock);
    return NULL;
}

ff_leases *ff_leases_new(ff_store *store, const ff_lease_config *c, const char *owner, ff_err *err)
{
    ff_leases *ls = calloc(1, sizeof *ls);
    if (!ls) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    ls->store = store;
    if (c)
        ls->c = *c;
    else
        ff_lease_config_defaults(&ls->c);
    snprintf(ls->owner, sizeof ls->owner, "%s", owner ? owner : "fitsflow");
    pthread_mutex_init(&ls->lock, NULL);
    pthread_mutex_init(&ls->watch_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ls->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&ls->thread, NULL, lease_thread, ls);
    if (rc != 0) {
        ff_err_set(err, "cannot start the lease thread: %s", strerror(rc));
        ff_leases_free(ls);
        return NULL;
    }
    ls->started = 1;
    return ls;
}

void ff_leases_free(ff_leases *ls)
{
    if (!ls)
        return;
    pthread_mutex_lock(&ls->lock);
    ls->stop = 1;
    pthread_cond_broadcast(&ls->cond);
    pthread_mutex_unlock(&ls->lock);
    if (ls->started)
        pthread_join(ls->thread, NULL);
    while (ls->held)
        ff_lease_release(ls->held);
    while (ls->seen) {
        seen *s = ls->seen;
        ls->seen = s->next;
        seen_free(s);
    }
    pthread_cond_destroy(&ls->cond);
    pthread_mutex_destroy(&ls->watch_lock);
    pthread_mutex_destroy(&ls->lock);
    free(ls);
}

const ff_lease_config *ff_leases_config(const ff_leases *ls)
{
    return &ls->c;
}

void ff_leases_watch(ff_leases *ls, const char *prefix, ff_lease_orphan_fn fn, void *ctx)
{
    pthread_mutex_lock(&ls->watch_lock);
    snprintf(ls->watch_prefix, sizeof ls->watch_prefix, "%s", fn && prefix ? prefix : "");
    ls->watch_fn = fn;
    ls->watch_ctx = fn ? ctx : NULL;
    pthread_mutex_unlock(&ls->watch_lock);
    pthread_mutex_lock(&ls->lock);
    ls->next_scan = ff_clock_now() + ls->c.seconds / 2;
    pthread_cond_broadcast(&ls->cond);
    pthread_mutex_unlock(&ls->lock);
}

long ff_leases_wait_ms(const ff_leases *ls)
{
    long ms = (long)(ls->c.seconds * 250);
    return ms < 100 ? 100 : ms;
}
