/* Per-address connection counts: one linear-probing table under a mutex, sized at creation to at
 * most half full, with backward-shift deletion so that no tombstones pile up. */
#include "server/http/conncount.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct slot {
    unsigned char key[16]; /* IPv6 address, or ::ffff:a.b.c.d for IPv4 */
    unsigned count;        /* 0 = free */
} slot;

struct ff_conncount {
    pthread_mutex_t lock;
    slot *slots;
    size_t mask;     /* slots - 1 (a power of two) */
    size_t capacity; /* addresses at most */
    size_t used;     /* addresses now */
    size_t total;    /* connections now */
};

ff_conncount *ff_conncount_new(size_t capacity)
{
    if (capacity < 1 || capacity > ((size_t)1 << 24))
        return NULL;
    ff_conncount *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t n = 16;
    while (n < capacity * 2)
        n <<= 1;
    c->slots = calloc(n, sizeof(slot));
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->mask = n - 1;
    c->capacity = capacity;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void ff_conncount_free(ff_conncount *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

/* 0 with the 16-byte key, or -1 for an address family that is not counted. */
static int key_of(const void *sa, unsigned char key[16])
{
    const struct sockaddr *s = sa;
    if (!s)
        return -1;
    if (s->sa_family == AF_INET) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(key, mapped, 12);
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (s->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

static size_t hash(const unsigned char key[16])
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

/* The slot holding key, or the free slot where it would go. Called with the lock held; the table
 * is never more than half full, so a free slot is always found. */
static size_t find(const ff_conncount *c, const unsigned char key[16])
{
    size_t i = hash(key) & c->mask;
    while (c->slots[i].count && memcmp(c->slots[i].key, key, 16) != 0)
        i = (i + 1) & c->mask;
    return i;
}

/* Empties slot i and moves later members of its probe run back, so lookups stay correct. */
static void remove_at(ff_conncount *c, size_t i)
{
    size_t j = i;
    for (;;) {
        c->slots[i].count = 0;
        for (;;) {
            j = (j + 1) & c->mask;
            if (!c->slots[j].count)
                return;
            size_t home = hash(c->slots[j].key) & c->mask;
            /* j's entry may fill the hole at i unless its home lies cyclically in (i, j] */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        c->slots[i] = c->slots[j];
        i = j;
    }
}

int ff_conncount_add(ff_conncount *c, const void *sa, unsigned limit)
{
    unsigned char key[16];
    if (key_of(sa, key) != 0)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    size_t i = find(c, key);
    if (c->slots[i].count) {
        if (limit && c->slots[i].count >= limit)
            rc = -1;
        else
            c->slots[i].count++;
    } else if (c->used >= c->capacity) {
        rc = -1;
    } else {
        memcpy(c->slots[i].key, key, 16);
        c->slots[i].count = 1;
        c->used++;
    }
    if (rc == 0)
        c->total++;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void ff_conncount_release(ff_conncount *c, const void *sa)
{
    unsigned char key[16];
    if (key_of(sa, key) != 0)
        return;
    pthread_mutex_lock(&c->lock);
    size_t i = find(c, key);
    if (c->slots[i].count) {
        c->total--;
        if (--c->slots[i].count == 0) {
            c->used--;
            remove_at(c, i);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

unsigned ff_conncount_get(ff_conncount *c, const void *sa)
{
    unsigned char key[16];
    if (key_of(sa, key) != 0)
        return 0;
    pthread_mutex_lock(&c->lock);
    unsigned n = c->slots[find(c, key)].count;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t ff_conncount_total(ff_conncount *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->total;
    pthread_mutex_unlock(&c->lock);
    return n;
}
