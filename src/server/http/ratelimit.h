/* A per-client request rate limit (token bucket), in place of the original's WAF rate rule. Each
 * client key (an IP address; IPv6 by /64) has a bucket of `burst` tokens refilled at `rate` per
 * second; a request takes one. Memory is bounded: at most max_clients buckets, and when full the
 * least recently seen bucket in the probe window is reused (a long-idle bucket is full anyway). */
#ifndef FF_SERVER_HTTP_RATELIMIT_H
#define FF_SERVER_HTTP_RATELIMIT_H

#include <stddef.h>

typedef struct ff_ratelimit ff_ratelimit;

/* rate > 0 tokens per second, burst >= 1. NULL when out of memory. */
ff_ratelimit *ff_ratelimit_new(double rate, double burst, size_t max_clients);
void ff_ratelimit_free(ff_ratelimit *rl);

/* Takes a token for client at time now (seconds, monotonic). Returns 0 when allowed; otherwise 1
 * and *retry_after = whole seconds until a token is available (at least 1). Thread-safe. */
int ff_ratelimit_take(ff_ratelimit *rl, const char *client, double now, unsigned *retry_after);

/* The client key for an address: IPv4 as is; IPv6 reduced to its /64 network (one household or
 * host usually owns a whole /64, so rotating addresses inside it does not escape the limit);
 * IPv4-mapped IPv6 as IPv4. out needs 64 bytes. sa is a struct sockaddr *. */
void ff_ratelimit_client_key(const void *sa, char *out, size_t cap);

#endif
