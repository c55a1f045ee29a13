/* Prometheus counters kept in atomics. Route labels are registered on first use (a mutex guards
 * only the registration); names that are not [a-z0-9_] or do not fit the table count as "other",
 * so a label can never break the text format or grow memory without bound. */
#include "server/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

#define MAX_ROUTES 24
#define ROUTE_NAME_MAX 24
#define STATUS_MIN 100
#define STATUS_MAX 599
#define NSTATUS (STATUS_MAX - STATUS_MIN + 1)
#define NSTEPS (FF_STEP_LAST - FF_STEP_HEADER + 1)

/* Upper bounds (seconds) of the step duration buckets; +Inf is implied. */
static const double bucket_le[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
#define NBUCKETS (sizeof bucket_le / sizeof bucket_le[0])

static const char *const step_names[NSTEPS] = {"header", "data", "helioviewer", "jsoc", "hek", "asdf", "prep"};
static const char *const file_statuses[] = {"processed", "skipped", "failed"};
#define NFILESTATUS 3

typedef struct route_counts {
    char name[ROUTE_NAME_MAX];
    atomic_uint_fast64_t by_status[NSTATUS];
} route_counts;

typedef struct step_hist {
    atomic_uint_fast64_t buckets[NBUCKETS + 1]; /* not cumulative; last is +Inf */
    atomic_uint_fast64_t sum_ns;
} step_hist;

struct ff_metrics {
    pthread_mutex_t lock;
    atomic_int nroutes;
    route_counts routes[MAX_ROUTES]; /* routes[0] is "other" */
    atomic_uint_fast64_t bytes_in, bytes_out;
    atomic_uint_fast64_t jobs_ok, jobs_failed;
    atomic_uint_fast64_t files[NFILESTATUS + 1]; /* last: any other status text */
    step_hist steps[NSTEPS];
};

ff_metrics *ff_metrics_new(void)
{
    ff_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    snprintf(m->routes[0].name, ROUTE_NAME_MAX, "other");
    atomic_store(&m->nroutes, 1);
    return m;
}

void ff_metrics_free(ff_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int label_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= ROUTE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static route_counts *route_for(ff_metrics *m, const char *route)
{
    if (!label_ok(route))
        return &m->routes[0];
    int n = atomic_load_explicit(&m->nroutes, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (!strcmp(m->routes[i].name, route))
            return &m->routes[i];
    pthread_mutex_lock(&m->lock);
    route_counts *r = &m->routes[0];
    n = atomic_load(&m->nroutes);
    int i;
    for (i = 0; i < n; i++)
        if (!strcmp(m->routes[i].name, route))
            break;
    if (i < n) {
        r = &m->routes[i];
    } else if (n < MAX_ROUTES) {
        snprintf(m->routes[n].name, ROUTE_NAME_MAX, "%s", route);
        atomic_store_explicit(&m->nroutes, n + 1, memory_order_release);
        r = &m->routes[n];
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

void ff_metrics_request(ff_metrics *m, const char *route, int status)
{
    if (!m || status < STATUS_MIN || status > STATUS_MAX)
        return;
    atomic_fetch_add_explicit(&route_for(m, route)->by_status[status - STATUS_MIN], 1,
                              memory_order_relaxed);
}

void ff_metrics_bytes(ff_metrics *m, uint64_t in, uint64_t out)
{
    if (!m)
        return;
    atomic_fetch_add_explicit(&m->bytes_in, in, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes_out, out, memory_order_relaxed);
}

void ff_metrics_job(ff_metrics *m, int ok)
{
    if (m)
        atomic_fetch_add_explicit(ok ? &m->jobs_ok : &m->jobs_failed, 1, memory_order_relaxed);
}

void ff_metrics_step(ff_metrics *m, int step, double seconds)
{
    if (!m || step < FF_STEP_HEADER || step > FF_STEP_LAST || !(seconds >= 0))
        return;
    step_hist *h = &m->steps[step - FF_STEP_HEADER];
    size_t b = 0;
    while (b < NBUCKETS && seconds > bucket_le[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    double ns = seconds * 1e9;
    atomic_fetch_add_explicit(&h->sum_ns, ns < 1.8e19 ? (uint_fast64_t)ns : 0, memory_order_relaxed);
}

void ff_metrics_file(ff_metrics *m, const char *status)
{
    if (!m)
        return;
    int i = 0;
    while (i < NFILESTATUS && !(status && !strcmp(status, file_statuses[i])))
        i++;
    atomic_fetch_add_explicit(&m->files[i], 1, memory_order_relaxed);
}

/* A growing text buffer; on allocation failure it stays failed and render returns NULL. */
typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
}

#define LOAD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

char *ff_metrics_render(ff_metrics *m, int queue_pending, int queue_running)
{
    text t = {.cap = 4096};
    t.s = malloc(t.cap);
    if (!t.s || !m) {
        free(t.s);
        return NULL;
    }
    t.s[0] = '\0';
    add(&t, "# HELP fitsflow_http_requests_total HTTP requests by route and status code.\n"
            "# TYPE fitsflow_http_requests_total counter\n");
    int nroutes = atomic_load_explicit(&m->nroutes, memory_order_acquire);
    for (int r = 0; r < nroutes; r++)
        for (int s = 0; s < NSTATUS; s++) {
            unsigned long long v = LOAD(m->routes[r].by_status[s]);
            if (v)
                add(&t, "fitsflow_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                    m->routes[r].name, s + STATUS_MIN, v);
        }
    add(&t, "# HELP fitsflow_http_bytes_in_total Request body bytes received.\n"
            "# TYPE fitsflow_http_bytes_in_total counter\n"
            "fitsflow_http_bytes_in_total %llu\n"
            "# HELP fitsflow_http_bytes_out_total Response body bytes sent.\n"
            "# TYPE fitsflow_http_bytes_out_total counter\n"
            "fitsflow_http_bytes_out_total %llu\n",
        LOAD(m->bytes_in), LOAD(m->bytes_out));
    add(&t, "# HELP fitsflow_jobs_total Session jobs finished, by result.\n"
            "# TYPE fitsflow_jobs_total counter\n"
            "fitsflow_jobs_total{result=\"ok\"} %llu\n"
            "fitsflow_jobs_total{result=\"failed\"} %llu\n",
        LOAD(m->jobs_ok), LOAD(m->jobs_failed));
    add(&t, "# HELP fitsflow_files_total Files processed by sessions, by outcome.\n"
            "# TYPE fitsflow_files_total counter\n");
    for (int i = 0; i < NFILESTATUS; i++)
        add(&t, "fitsflow_files_total{status=\"%s\"} %llu\n", file_statuses[i], LOAD(m->files[i]));
    if (LOAD(m->files[NFILESTATUS]))
        add(&t, "fitsflow_files_total{status=\"other\"} %llu\n", LOAD(m->files[NFILESTATUS]));
    add(&t, "# HELP fitsflow_step_seconds Time spent in each pipeline step of a file.\n"
            "# TYPE fitsflow_step_seconds histogram\n");
    for (int s = 0; s < NSTEPS; s++) {
        const step_hist *h = &m->steps[s];
        unsigned long long cum = 0;
        for (size_t b = 0; b <= NBUCKETS; b++) {
            cum += LOAD(h->buckets[b]);
            if (b < NBUCKETS)
                add(&t, "fitsflow_step_seconds_bucket{step=\"%s\",le=\"%g\"} %llu\n", step_names[s],
                    bucket_le[b], cum);
            else
                add(&t, "fitsflow_step_seconds_bucket{step=\"%s\",le=\"+Inf\"} %llu\n",
                    step_names[s], cum);
        }
        add(&t, "fitsflow_step_seconds_sum{step=\"%s\"} %.9f\n", step_names[s],
            (double)LOAD(h->sum_ns) / 1e9);
        /* The +Inf bucket is the count (read once, so the two always agree). */
        add(&t, "fitsflow_step_seconds_count{step=\"%s\"} %llu\n", step_names[s], cum);
    }
    add(&t, "# HELP fitsflow_queue_depth Session jobs in the queue, by state.\n"
            "# TYPE fitsflow_queue_depth gauge\n"
            "fitsflow_queue_depth{state=\"pending\"} %d\n"
            "fitsflow_queue_depth{state=\"running\"} %d\n",
        queue_pending, queue_running);
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    return t.s;
}
