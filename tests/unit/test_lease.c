/* Leases (pipeline/lease.h) on a real fs store, with two or more lease managers standing for
 * instances that share it: one holder at a time, also when many race for a free lease; a held
 * lease is renewed and never taken while its holder lives; a dead holder's lease is taken over
 * only after the observer saw it unchanged for the lease time; a holder notices when its object
 * is no longer its own; abandoned leases are reported to a watcher; the clean spares a session
 * whose lease is held elsewhere, deletes the others, and never takes temp/.leases/ for a
 * session. Times are short (fractions of a second) and every wait has a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/clean.h"
#include "base/settings.h"
#include "base/clock.h"
#include "pipeline/lease.h"

static char root[256];
static ff_store *store;

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/ff-lease-test-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    ff_err err;
    store = ff_store_open_fs(root, 0, &err);
    return store ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ff_store_close(store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static ff_leases *manager(const char *owner, double seconds, double settle)
{
    ff_lease_config c = {.seconds = seconds, .settle = settle};
    ff_err err = {0};
    ff_leases *ls = ff_leases_new(store, &c, owner, &err);
    assert_non_null(ls);
    return ls;
}

static int exists(const char *key)
{
    char path[1500];
    snprintf(path, sizeof path, "%s/%s", root, key);
    struct stat st;
    return stat(path, &st) == 0;
}

static double now(void)
{
    return ff_clock_now();
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_one_holder_and_release(void **state)
{
    (void)state;
    ff_leases *a = manager("instance-a", 30, 0.05), *b = manager("instance-b", 30, 0.05);
    ff_lease *la = NULL, *lb = NULL;
    ff_err err = {0};
    assert_int_equal(ff_lease_acquire(a, "sessions/abcdefgh1", &la, &err), 0);
    assert_non_null(la);
    assert_true(ff_lease_valid(la));
    assert_string_equal(ff_lease_name(la), "sessions/abcdefgh1");
    assert_true(exists(FF_LEASE_PREFIX "sessions/abcdefgh1"));
    assert_int_equal(ff_lease_acquire(b, "sessions/abcdefgh1", &lb, &err), 1);
    assert_null(lb);
    assert_non_null(strstr(err.msg, "held by instance-a"));
    assert_int_equal(ff_lease_acquire(a, "sessions/abcdefgh1", &lb, &err), 1);
    assert_non_null(strstr(err.msg, "held by this process"));
    /* another name is independent */
    assert_int_equal(ff_lease_acquire(b, "sessions/other-session", &lb, &err), 0);
    ff_lease_release(lb);
    ff_lease_release(la);
    assert_false(exists(FF_LEASE_PREFIX "sessions/abcdefgh1"));
    assert_int_equal(ff_lease_acquire(b, "sessions/abcdefgh1", &lb, &err), 0);
    ff_lease_release(lb);
    /* bad names are refused before any store call */
    assert_int_equal(ff_lease_acquire(a, "../x", &la, &err), -1);
    assert_int_equal(ff_lease_acquire(a, "Sessions/X", &la, &err), -1);
    assert_int_equal(ff_lease_acquire(a, "", &la, &err), -1);
    ff_leases_free(a);
    ff_leases_free(b);
}

/* Held for several lease times: renewed, so never judged abandoned, never taken. */
static void test_renewed_lease_is_never_taken(void **state)
{
    (void)state;
    const double L = 3;
    ff_leases *a = manager("instance-a", L, 0.02), *b = manager("instance-b", L, 0.02);
    ff_lease *la = NULL, *lb = NULL;
    ff_err err = {0};
    assert_int_equal(ff_lease_acquire(a, "sessions/renewed-1", &la, &err), 0);
    double start = now();
    int tries = 0;
    while (now() - start < 2 * L) {
        assert_int_equal(ff_lease_acquire(b, "sessions/renewed-1", &lb, &err), 1);
        tries++;
        pause_ms(100);
    }
    assert_true(tries > 10);
    assert_true(ff_lease_valid(la));
    ff_lease_release(la);
    ff_leases_free(a);
    ff_leases_free(b);
}

/* A holder that died left its object: taken over only once this observer has seen it unchanged
 * for the lease time. */
static void test_dead_holders_lease_is_taken_after_the_lease_time(void **state)
{
    (void)state;
    const double L = 0.8;
    ff_leases *b = manager("instance-b", L, 0.02);
    const char *ghost = "{\"token\":\"0123\",\"seq\":7,\"owner\":\"ghost pid 1\"}";
    ff_err err = {0};
    assert_int_equal(ff_store_put(store, FF_LEASE_PREFIX "sessions/dead-holder", ghost,
                                  strlen(ghost), &err), 0);
    ff_lease *lb = NULL;
    double first = now();
    int rc;
    while ((rc = ff_lease_acquire(b, "sessions/dead-holder", &lb, &err)) == 1) {
        assert_non_null(strstr(err.msg, "ghost pid 1"));
        assert_true(now() - first < 20 * L);
        pause_ms(50);
    }
    assert_int_equal(rc, 0);
    assert_true(now() - first >= L);
    assert_true(ff_lease_valid(lb));
    ff_lease_release(lb);
    assert_false(exists(FF_LEASE_PREFIX "sessions/dead-holder"));
    ff_leases_free(b);
}

/* The object no longer holds the holder's token (someone wrote over it): the holder sees it at
 * its next renewal and stops counting the lease as its own; releasing it deletes nothing. */
static void test_holder_notices_a_lost_lease(void **state)
{
    (void)state;
    const double L = 1.2;
    ff_leases *a = manager("instance-a", L, 0.02);
    ff_lease *la = NULL;
    ff_err err = {0};
    assert_int_equal(ff_lease_acquire(a, "sessions/stolen-1", &la, &err), 0);
    const char *other = "{\"token\":\"ffff\",\"seq\":0,\"owner\":\"instance-z\"}";
    assert_int_equal(ff_store_put(store, FF_LEASE_PREFIX "sessions/stolen-1", other,
                                  strlen(other), &err), 0);
    double start = now();
    while (ff_lease_valid(la))
        assert_true(now() - start < 10 * L), pause_ms(20);
    ff_lease_release(la);
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(ff_store_get(store, FF_LEASE_PREFIX "sessions/stolen-1", 4096, &body, &len,
                                  &err), 0);
    assert_string_equal(body, other);
    free(body);
    ff_leases_free(a);
}

/* An attempt whose read and write took longer than half the settle time does not claim the
 * lease, and takes its token away again: nobody waits for it to be judged abandoned. */
static void test_too_slow_attempt_claims_nothing_and_leaves_nothing(void **state)
{
    (void)state;
    ff_leases *a = manager("instance-a", 30, 1e-6); /* every store call is slower than this */
    ff_lease *la = NULL;
    ff_err err = {0};
    assert_int_equal(ff_lease_acquire(a, "sessions/slow-store", &la, &err), 1);
    assert_null(la);
    assert_non_null(strstr(err.msg, "to read and write lease sessions/slow-store"));
    assert_false(exists(FF_LEASE_PREFIX "sessions/slow-store"));
    ff_leases_free(a);
}

/* Many instances race for one free lease at the same moment: exactly one gets it, each round. */
typedef struct racer {
    ff_leases *ls;
    pthread_barrier_t *go;
    const char *name;
    int rc;
    ff_lease *l;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    ff_err err = {0};
    pthread_barrier_wait(r->go);
    r->rc = ff_lease_acquire(r->ls, r->name, &r->l, &err);
    return NULL;
}

static void test_racing_instances_get_one_holder(void **state)
{
    (void)state;
    enum { N = 6, ROUNDS = 15 };
    ff_leases *ls[N];
    for (int i = 0; i < N; i++) {
        char owner[32];
        snprintf(owner, sizeof owner, "racer-%d", i);
        ls[i] = manager(owner, 30, 0.2);
    }
    int rounds_with_one = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char name[64];
        snprintf(name, sizeof name, "sessions/race-round-%02d", round);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, N);
        racer r[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
            r[i] = (racer){.ls = ls[i], .go = &go, .name = name};
            pthread_create(&t[i], NULL, race, &r[i]);
        }
        int winners = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(t[i], NULL);
            assert_true(r[i].rc == 0 || r[i].rc == 1);
            winners += r[i].rc == 0;
        }
        assert_true(winners <= 1); /* safety, whatever the timing */
        rounds_with_one += winners == 1;
        for (int i = 0; i < N; i++)
            ff_lease_release(r[i].l);
        pthread_barrier_destroy(&go);
    }
    /* Liveness: an attempt that was too slow to be safe gives up, so a loaded machine may lose a
     * round; most rounds have their holder. */
    assert_true(rounds_with_one >= ROUNDS / 2);
    for (int i = 0; i < N; i++)
        ff_leases_free(ls[i]);
}

static void test_many_at_once(void **state)
{
    (void)state;
    ff_leases *a = manager("instance-a", 30, 0.05), *b = manager("instance-b", 30, 0.05);
    ff_lease *held = NULL;
    ff_err err = {0};
    assert_int_equal(ff_lease_acquire(a, "sessions/busy-one", &held, &err), 0);
    const char *names[] = {"sessions/free-one", "sessions/busy-one", "sessions/free-two", "x//y"};
    ff_lease *out[4];
    int rc[4];
    ff_err errs[4];
    double t0 = now();
    ff_lease_acquire_many(b, names, 4, out, rc, errs);
    assert_true(now() - t0 < 5); /* one settle wait, not one per name */
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], 1);
    assert_non_null(strstr(errs[1].msg, "instance-a"));
    assert_int_equal(rc[2], 0);
    assert_int_equal(rc[3], -1);
    assert_null(out[1]);
    assert_null(out[3]);
    for (int i = 0; i < 4; i++)
        ff_lease_release(out[i]);
    ff_lease_release(held);
    ff_leases_free(a);
    ff_leases_free(b);
}

typedef struct orphans {
    pthread_mutex_t lock;
    char names[8][128];
    int n;
} orphans;

static void on_orphan(void *ctx, const char *name)
{
    orphans *o = ctx;
    pthread_mutex_lock(&o->lock);
    if (o->n < 8)
        snprintf(o->names[o->n++], sizeof o->names[0], "%s", name);
    pthread_mutex_unlock(&o->lock);
}

/* Abandoned leases under the watched prefix are reported; live ones and others are not. */
static void test_watch_reports_abandoned_leases(void **state)
{
    (void)state;
    const double L = 0.6;
    ff_leases *a = manager("instance-a", L, 0.02), *b = manager("instance-b", L, 0.02);
    ff_lease *live = NULL;
    ff_err err = {0};
    assert_int_equal(ff_lease_acquire(a, "sessions/alive-one", &live, &err), 0);
    const char *ghost = "{\"token\":\"dead\",\"seq\":1,\"owner\":\"ghost\"}";
    assert_int_equal(ff_store_put(store, FF_LEASE_PREFIX "sessions/dead-one", ghost, strlen(ghost),
                                  &err), 0);
    assert_int_equal(ff_store_put(store, FF_LEASE_PREFIX "daily_videos/20240101", ghost,
                                  strlen(ghost), &err), 0);
    orphans o = {.n = 0};
    pthread_mutex_init(&o.lock, NULL);
    ff_leases_watch(b, "sessions/", on_orphan, &o);
    double start = now();
    for (;;) {
        pthread_mutex_lock(&o.lock);
        int n = o.n;
        pthread_mutex_unlock(&o.lock);
        if (n)
            break;
        assert_true(now() - start < 30 * L);
        pause_ms(20);
    }
    ff_leases_watch(b, NULL, NULL, NULL);
    assert_true(now() - start >= L);
    for (int i = 0; i < o.n; i++)
        assert_string_equal(o.names[i], "sessions/dead-one");
    assert_true(ff_lease_valid(live));
    ff_lease_release(live);
    pthread_mutex_destroy(&o.lock);
    ff_leases_free(a);
    ff_leases_free(b);
}

static void age(const char *key, double hours_old)
{
    char path[1500];
    snprintf(path, sizeof path, "%s/%s", root, key);
    time_t t = time(NULL) - (time_t)(hours_old * 3600);
    struct timeval tv[2] = {{.tv_sec = t}, {.tv_sec = t}};
    assert_int_equal(utimes(path, tv), 0);
}

static void put_aged(const char *key, double hours_old)
{
    ff_err err = {0};
    assert_int_equal(ff_store_put(store, key, "x", 1, &err), 0);
    char path[1500];
    snprintf(path, sizeof path, "%s/%s", root, key);
    time_t t = time(NULL) - (time_t)(hours_old * 3600);
    struct timeval tv[2] = {{.tv_sec = t}, {.tv_sec = t}};
    assert_int_equal(utimes(path, tv), 0);
}

/* Two instances' cleans: a session leased by one is spared by the other's clean, old sessions
 * go, temp/.leases/ is not a session. */
static void test_clean_respects_leases(void **state)
{
    (void)state;
    ff_leases *a = manager("instance-a", 30, 0.05), *b = manager("instance-b", 30, 0.05);
    put_aged("temp/old-session-1/fits/a.fits", 30);
    put_aged("temp/old-session-2/logs/a_log_1.txt", 30);
    put_aged("temp/leased-session/fits/b.fits", 30);
    put_aged("temp/young-session/fits/c.fits", 1);
    ff_lease *held = NULL;
    ff_err err = {0};
    assert_int_equal(ff_lease_acquire(a, "sessions/leased-session", &held, &err), 0);
    age(FF_LEASE_PREFIX "sessions/leased-session", 30); /* its age must not matter */
    ff_clean_report rep;
    ff_clean_opts o = {.now = time(NULL), .retention_hours = 24, .leases = b};
    assert_int_equal(ff_clean_sessions_opts(store, &o, &rep, &err), 0);
    assert_int_equal(rep.sessions_deleted, 2);
    assert_int_equal(rep.sessions_busy, 1);
    assert_int_equal(rep.sessions_kept, 1);
    assert_false(exists("temp/old-session-1"));
    assert_false(exists("temp/old-session-2"));
    assert_true(exists("temp/leased-session/fits/b.fits"));
    assert_true(exists("temp/young-session/fits/c.fits"));
    assert_true(exists(FF_LEASE_PREFIX "sessions/leased-session"));
    /* the clean's own leases are given up */
    assert_false(exists(FF_LEASE_PREFIX "sessions/old-session-1"));
    ff_lease_release(held);
    ff_leases_free(a);
    ff_leases_free(b);
}

/* The lease settings as the environment gives them (base/settings.h). */
static int config_from_env(ff_lease_config *c, ff_err *err)
{
    ff_settings s;
    if (ff_settings_load(&s, FF_USE_SERVE, err) != 0)
        return -1;
    return ff_lease_config_from_settings(c, &s, err);
}

static void test_config_from_env(void **state)
{
    (void)state;
    ff_lease_config c;
    ff_err err = {0};
    ff_lease_config_defaults(&c);
    unsetenv("FITSFLOW_LEASE_SECONDS");
    unsetenv("FITSFLOW_LEASE_SETTLE_MS");
    assert_int_equal(config_from_env(&c, &err), 0);
    assert_true(c.seconds == 60 && c.settle == 1.0);
    setenv("FITSFLOW_LEASE_SECONDS", "8", 1);
    setenv("FITSFLOW_LEASE_SETTLE_MS", "500", 1);
    assert_int_equal(config_from_env(&c, &err), 0);
    assert_true(c.seconds == 8 && c.settle == 0.5);
    setenv("FITSFLOW_LEASE_SECONDS", "1", 1);
    assert_int_equal(config_from_env(&c, &err), -1);
    assert_non_null(strstr(err.msg, "FITSFLOW_LEASE_SECONDS"));
    setenv("FITSFLOW_LEASE_SECONDS", "4", 1);
    setenv("FITSFLOW_LEASE_SETTLE_MS", "2000", 1);
    ff_lease_config_defaults(&c);
    assert_int_equal(config_from_env(&c, &err), -1);
    assert_non_null(strstr(err.msg, "quarter"));
    setenv("FITSFLOW_LEASE_SETTLE_MS", "abc", 1);
    assert_int_equal(config_from_env(&c, &err), -1);
    unsetenv("FITSFLOW_LEASE_SECONDS");
    unsetenv("FITSFLOW_LEASE_SETTLE_MS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_holder_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewed_lease_is_never_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_holders_lease_is_taken_after_the_lease_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holder_notices_a_lost_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_slow_attempt_claims_nothing_and_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_racing_instances_get_one_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_reports_abandoned_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_respects_leases, setup, teardown),
        cmocka_unit_test(test_config_from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
