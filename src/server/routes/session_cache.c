/* The session views (pipeline/session_view.h) this server keeps warm, so that pollers of a
 * session's status and its event streams share one incrementally refreshed picture of it. A view
 * is refreshed when this process wrote to its session since the last refresh (a log, an upload)
 * or when it is older than a second (writes by other processes: the workers of another instance,
 * the clean). Views nobody holds are dropped least recently used first once there are more than
 * CACHE_MAX of them or they hold more than CACHE_BYTES. */
#include "server/routes/routes.h"
#include "base/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/session.h"
#include "pipeline/session_view.h"

#define CACHE_MAX 64
#define CACHE_BYTES (256u << 20)

typedef struct entry {
    struct entry *next;
    ff_session_view *v;
    int refs;
    int dirty;          /* written by this process since the last refresh began */
    int refreshing;     /* a background refresh is queued or running */
    double last_used;
} entry;

struct ff_session_cache {
    pthread_mutex_t lock;
    entry *head;
    size_t n;
};

ff_session_cache *ff_session_cache_new(void)
{
    ff_session_cache *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->lock, NULL);
    return c;
}

void ff_session_cache_free(ff_session_cache *c)
{
    if (!c)
        return;
    while (c->head) {
        entry *e = c->head;
        c->head = e->next;
        ff_session_view_free(e->v);
        free(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static entry *find(ff_session_cache *c, const char *sid)
{
    for (entry *e = c->head; e; e = e->next)
        if (!strcmp(ff_session_view_sid(e->v), sid))
            return e;
    return NULL;
}

/* Drops unheld views, least recently used first, while over the bounds. Under the lock. */
static void evict(ff_session_cache *c)
{
    for (;;) {
        size_t bytes = 0;
        entry *victim = NULL, **victim_pp = NULL;
        for (entry **pp = &c->head; *pp; pp = &(*pp)->next) {
            entry *e = *pp;
            bytes += ff_session_view_bytes(e->v);
            if (!e->refs && !e->refreshing && (!victim || e->last_used < victim->last_used)) {
                victim = e;
                victim_pp = pp;
            }
        }
        if ((c->n <= CACHE_MAX && bytes <= CACHE_BYTES) || !victim)
            return;
        *victim_pp = victim->next;
        c->n--;
        ff_session_view_free(victim->v);
        free(victim);
    }
}

ff_session_view *ff_session_cache_get(ff_session_cache *c, const char *sid)
{
    pthread_mutex_lock(&c->lock);
    entry *e = find(c, sid);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->v = ff_session_view_new(sid))) {
            free(e);
            pthread_mutex_unlock(&c->lock);
            return NULL;
        }
        e->next = c->head;
        c->head = e;
        c->n++;
        e->dirty = 1;
    }
    e->refs++;
    e->last_used = ff_clock_now();
    ff_session_view *v = e->v;
    evict(c);
    pthread_mutex_unlock(&c->lock);
    return v;
}

void ff_session_cache_release(ff_session_cache *c, ff_session_view *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&c->lock);
    entry *e = find(c, ff_session_view_sid(v));
    if (e && e->v == v) {
        e->refs--;
        e->last_used = ff_clock_now();
    }
    evict(c);
    pthread_mutex_unlock(&c->lock);
}

void ff_session_cache_touch(ff_session_cache *c, const char *sid)
{
    if (!c || !sid)
        return;
    pthread_mutex_lock(&c->lock);
    entry *e = find(c, sid);
    if (e)
        e->dirty = 1;
    pthread_mutex_unlock(&c->lock);
}

int ff_session_cache_claim(ff_session_cache *c, ff_session_view *v, double min_age, double max_age)
{
    double now = ff_clock_now();
    double at = ff_session_view_refreshed_at(v);
    pthread_mutex_lock(&c->lock);
    entry *e = find(c, ff_session_view_sid(v));
    int need = 0;
    if (e && e->v == v) {
        double age = at > 0 ? now - at : 1e9;
        need = at <= 0 || age >= max_age || (e->dirty && age >= min_age);
        if (need)
            e->dirty = 0; /* a write from now on makes the next reader refresh again */
    }
    pthread_mutex_unlock(&c->lock);
    return need;
}

int ff_session_cache_background(ff_session_cache *c, ff_session_view *v, int start)
{
    pthread_mutex_lock(&c->lock);
    entry *e = find(c, ff_session_view_sid(v));
    int ok = 0;
    if (e && e->v == v) {
        if (start && !e->refreshing) {
            e->refreshing = 1;
            ok = 1;
        } else if (!start) {
            e->refreshing = 0;
            ok = 1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return ok;
}
