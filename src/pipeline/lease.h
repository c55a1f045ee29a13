/* Leases: mutual exclusion between several `fitsflow serve` instances that share one bucket, kept
 * in the bucket itself (no other shared service). A lease is an object temp/.leases/{name}
 * ("sessions/{sid}", "daily_videos/{date}") holding its holder's random token, a renewal count
 * and who holds it. It is never served (a hidden name), never in a session's listings, ZIP or
 * status, and the clean does not take .leases for a session.
 *
 * Taking a lease needs no conditional write (s3rver and many S3-compatible stores have none):
 * Fischer's timed mutual exclusion over a store with read-after-write consistency (S3 since
 * 2020): read the object (absent, or abandoned), write our token, wait `settle`, read it back:
 * still ours means ours. It is safe when every writer's read-to-write step takes less than the
 * wait: each attempt measures its own and gives up (the lease is then not taken) when it took
 * more than settle / 2, so that any competing write has landed before anyone reads back.
 *
 * Abandonment is judged without comparing clocks: a lease is abandoned when this process has seen
 * the same object (the same token and renewal count) for `seconds` of its own monotonic clock.
 * A holder renews every seconds / 6 and counts its lease as lost when no renewal has succeeded
 * for seconds / 2, or when the object no longer holds its token; from then on it must stop
 * (between files). So a holder that dies (kill -9, power cut) frees its leases after `seconds`,
 * and a live holder's lease is never taken from it. A holder paused for longer than seconds / 2
 * (SIGSTOP, a swap storm) can overlap with its successor until its next check; everything it
 * writes is written atomically. */
#ifndef FF_PIPELINE_LEASE_H
#define FF_PIPELINE_LEASE_H

#include <stddef.h>

#include "pipeline/keys.h"
#include "store/store.h"

#define FF_LEASE_PREFIX FF_KEY_LEASES
#define FF_LEASE_NAME_MAX 120

typedef struct ff_lease_config {
    double seconds; /* FITSFLOW_LEASE_SECONDS (60): unchanged this long = abandoned */
    double settle;  /* FITSFLOW_LEASE_SETTLE_MS (1000) / 1000: the wait before reading back */
} ff_lease_config;

/* From loaded settings (base/settings.h): -1 when the settle time is more than a quarter of the
 * lease. The defaults: the same from the settings' defaults. */
struct ff_settings;
int ff_lease_config_from_settings(ff_lease_config *c, const struct ff_settings *s, ff_err *err);
void ff_lease_config_defaults(ff_lease_config *c);

typedef struct ff_leases ff_leases;
typedef struct ff_lease ff_lease;

/* The leases of this process over store: a thread renews those held (and looks for abandoned ones
 * when ff_leases_watch asks). owner says who holds them in the object ("host pid 123"), for the
 * messages of other instances. c is copied; NULL: defaults. */
ff_leases *ff_leases_new(ff_store *store, const ff_lease_config *c, const char *owner, ff_err *err);
/* Stops the thread and releases every lease still held. NULL is allowed. */
void ff_leases_free(ff_leases *ls);
const ff_lease_config *ff_leases_config(const ff_leases *ls);

/* Takes the lease `name` ([a-z0-9_/-], at most FF_LEASE_NAME_MAX bytes). Blocks for the settle
 * time. 0: taken (*out; renewed until ff_lease_release). 1: not taken: held by another instance,
 * by this process already, or the attempt was too slow to be safe (err says which; try again
 * later). -1: the store failed (err, with the store's kind). */
int ff_lease_acquire(ff_leases *ls, const char *name, ff_lease **out, ff_err *err);
/* ff_lease_acquire for n names at once with a single settle wait: out[i], rc[i] and errs[i]
 * (may be NULL) as ff_lease_acquire gives them. */
void ff_lease_acquire_many(ff_leases *ls, const char *const *names, size_t n, ff_lease **out,
                           int *rc, ff_err *errs);
/* 1 while the lease is still ours (renewed in time, the object holds our token), else 0: the
 * holder must stop working under it. */
int ff_lease_valid(ff_lease *l);
const char *ff_lease_name(const ff_lease *l);
/* Gives the lease up: its object is deleted when it is still ours. Frees l; NULL is allowed. */
void ff_lease_release(ff_lease *l);

/* Calls fn(ctx, name) from the lease thread, about every seconds / 2, for each lease under
 * FF_LEASE_PREFIX + prefix that this process has seen abandoned (and does not hold): its holder
 * stopped without giving it up. fn NULL stops watching; when this returns, fn is not running and
 * will not be called again. */
typedef void (*ff_lease_orphan_fn)(void *ctx, const char *name);
void ff_leases_watch(ff_leases *ls, const char *prefix, ff_lease_orphan_fn fn, void *ctx);

/* Milliseconds a job that found its lease held waits before looking again (seconds / 4). */
long ff_leases_wait_ms(const ff_leases *ls);

#endif
