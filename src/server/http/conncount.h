/* Open connections per client address, for the per-address connection limit. The server's front
 * door (front.c) counts a connection from accept until libmicrohttpd reports it closed, whichever
 * of the two daemons serves it, so the limit holds for the whole server and not per daemon.
 * Memory is fixed at creation: room for `capacity` distinct addresses. */
#ifndef FF_SERVER_HTTP_CONNCOUNT_H
#define FF_SERVER_HTTP_CONNCOUNT_H

#include <stddef.h>

typedef struct ff_conncount ff_conncount;

/* capacity: distinct addresses that can be open at once (>= 1). NULL when out of memory. */
ff_conncount *ff_conncount_new(size_t capacity);
void ff_conncount_free(ff_conncount *c);

/* Counts one more connection from sa (a struct sockaddr *: AF_INET, AF_INET6, IPv4-mapped IPv6
 * counted as IPv4). Returns 0, or -1 without counting when the address already has `limit`
 * connections (limit 0 = no per-address limit) or the table is full. Other address families are
 * always admitted and not counted. Thread-safe. */
int ff_conncount_add(ff_conncount *c, const void *sa, unsigned limit);

/* One connection from sa ended. A release without a matching add is ignored. Thread-safe. */
void ff_conncount_release(ff_conncount *c, const void *sa);

/* Connections counted for sa now. */
unsigned ff_conncount_get(ff_conncount *c, const void *sa);

/* Connections counted in all. */
size_t ff_conncount_total(ff_conncount *c);

#endif
