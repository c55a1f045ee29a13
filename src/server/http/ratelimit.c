/* Token buckets in a sharded open-addressing table (one mutex per shard). */
#include "server/http/ratelimit.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SHARDS 16
#define PROBE 16
#define KEY_MAX 48

typedef struct bucket {
    char key[KEY_MAX]; /* "" = free slot */
    double tokens;
    double last;
} bucket;

typedef struct shard {
    pthread_mutex_t lock;
    bucket *slots;
    size_t n;
} shard;

struct ff_ratelimit {
    double rate, burst;
    shard shards[SHARDS];
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

ff_ratelimit *ff_ratelimit_new(double rate, double burst, size_t max_clients)
{
    if (!(rate > 0) || burst < 1)
        return NULL;
    ff_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->rate = rate;
    rl->burst = burst;
    size_t per = max_clients / SHARDS;
    if (per < PROBE)
        per = PROBE;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&rl->shards[i].lock, NULL);
        rl->shards[i].n = per;
        rl->shards[i].slots = calloc(per, sizeof(bucket));
        if (!rl->shards[i].slots) {
            ff_ratelimit_free(rl);
            return NULL;
        }
    }
    return rl;
}

void ff_ratelimit_free(ff_ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < SHARDS; i++) {
        free(rl->shards[i].slots);
        pthread_mutex_destroy(&rl->shards[i].lock);
    }
    free(rl);
}

int ff_ratelimit_take(ff_ratelimit *rl, const char *client, double now, unsigned *retry_after)
{
    char key[KEY_MAX];
    snprintf(key, sizeof key, "%s", client && *client ? client : "?");
    uint64_t h = hash(key);
    shard *sh = &rl->shards[h % SHARDS];
    pthread_mutex_lock(&sh->lock);
    size_t start = (size_t)(h / SHARDS) % sh->n;
    bucket *b = NULL, *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        bucket *s = &sh->slots[(start + i) % sh->n];
        if (!strcmp(s->key, key)) {
            b = s;
            break;
        }
        if (!s->key[0]) {
            if (!victim || victim->key[0])
                victim = s;
        } else if (!victim || (victim->key[0] && s->last < victim->last)) {
            victim = s;
        }
    }
    if (!b) {
        b = victim;
        memcpy(b->key, key, sizeof key);
        b->tokens = rl->burst;
        b->last = now;
    }
    if (now > b->last) {
        b->tokens += (now - b->last) * rl->rate;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->last = now;
    }
    int limited = 0;
    if (b->tokens >= 1) {
        b->tokens -= 1;
    } else {
        limited = 1;
        double wait = (1 - b->tokens) / rl->rate;
        if (retry_after)
            *retry_after = wait < 1 ? 1 : (unsigned)ceil(wait);
    }
    pthread_mutex_unlock(&sh->lock);
    return limited;
}

void ff_ratelimit_client_key(const void *sa, char *out, size_t cap)
{
    const struct sockaddr *a = sa;
    if (!a || !cap) {
        if (cap)
            snprintf(out, cap, "?");
        return;
    }
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *in = sa;
        inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)cap);
    } else if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], out, (socklen_t)cap);
        } else {
            struct in6_addr net = in6->sin6_addr;
            memset(&net.s6_addr[8], 0, 8);
            char buf[INET6_ADDRSTRLEN];
            inet_ntop(AF_INET6, &net, buf, sizeof buf);
            snprintf(out, cap, "%s/64", buf);
        }
    } else {
        snprintf(out, cap, "?");
    }
}
