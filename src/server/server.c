/* The service's start and stop (server.h), step by step: the data folder, the store and the queue;
 * the job side; the HTTP side; the scheduler; then signals; then everything in the reverse order
 * that keeps work safe. Each step logs why it failed. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/settings.h"
#include "pipeline/keys.h"
#include "remote/remote.h"
#include "server/http/httpd.h"
#include "server/jobs/queue.h"
#include "server/jobs/scheduler.h"
#include "server/jobs/workers.h"
#include "server/metrics.h"
#include "server/routes/app.h"

typedef struct server {
    const ff_server_options *o;
    ff_server_config cfg;      /* o->cfg, completed with the bound port */
    ff_pipeline_config pcfg;
    int lock_fd;
    ff_presign_secret secret;
    ff_store *store;
    ff_queue *queue;
    ff_metrics *metrics;
    ff_remote *remote;
    ff_leases *leases;         /* when the store is shared */
    ff_workers *workers;
    ff_offload *offload;
    ff_app *app;
    ff_httpd *httpd;
    ff_scheduler *sched;
    ff_clean_job clean;
} server;

/* The data folder belongs to one `fitsflow serve` at a time: its queue is recovered and its
 * store's temporaries swept at start as if nothing else ran there. An flock on DATA_DIR/serve.lock
 * (released by the kernel however the process ends) makes a second instance refuse to start.
 * Returns the descriptor to keep open, or -1 with err. */
static int lock_data_dir(const char *dir, ff_err *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/serve.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return ff_err_set(err, "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[24] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return ff_err_set(err, "another fitsflow serve (pid %s) uses the data folder %s: every "
                              "instance needs its own (FITSFLOW_DATA_DIR); several instances share "
                              "objects only through FITSFLOW_STORE=s3", pid[0] ? pid : "unknown",
                              dir);
        return ff_err_set(err, "cannot lock %s: %s", path, strerror(e));
    }
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n)
        ff_log(FF_LOG_WARN, NULL, NULL, "cannot write the pid into %s", path);
    return fd;
}

/* The queue, with jobs a previous process left running back to pending. */
static int open_queue(server *s, ff_err *err)
{
    char dbpath[1200];
    snprintf(dbpath, sizeof dbpath, "%s/queue.db", s->cfg.data_dir);
    s->queue = ff_queue_open(dbpath, err);
    if (!s->queue) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot open the job queue %s: %s", dbpath, err->msg);
        return -1;
    }
    int recovered = ff_queue_recover(s->queue, err);
    if (recovered < 0) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot recover the job queue: %s", err->msg);
        return -1;
    }
    if (recovered > 0)
        ff_log(FF_LOG_INFO, NULL, NULL, "%d interrupted session(s) back in the queue", recovered);
    return 0;
}

/* The data folder's lock and secret, the store (where FITSFLOW_STORE says: the data folder or
 * S3; the queue and the secret stay in the local folder either way) and the queue. */
static int open_storage(server *s, ff_err *err)
{
    if ((s->lock_fd = lock_data_dir(s->cfg.data_dir, err)) < 0 ||
        ff_presign_secret_load(&s->secret, s->cfg.secret, s->cfg.data_dir, err) != 0) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err->msg);
        return -1;
    }
    s->store = ff_store_open_configured(s->o->settings, s->cfg.data_dir, err);
    if (!s->store) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot open the store: %s", err->msg);
        return -1;
    }
    if (open_queue(s, err) != 0)
        return -1;
    /* Nothing writes yet: temporaries left now are from puts a crash interrupted. */
    for (int i = 0; i < 2; i++) {
        const char *prefix = i ? FF_KEY_DAILY_VIDEOS : FF_KEY_TEMP;
        int swept = ff_store_sweep_temporaries(s->store, prefix, err);
        if (swept > 0)
            ff_log(FF_LOG_INFO, NULL, NULL, "removed %d temporaries of interrupted writes under %s",
                   swept, prefix);
    }
    return 0;
}

/* 1 when other instances may share the store: sessions, the clean and the movie are then taken
 * under leases in it (the fs store is one instance's: the lock). */
static int shared_store(const server *s)
{
    return ff_settings_choice(s->o->settings, FF_SET_STORE) == 1;
}

static int start_leases(server *s, ff_err *err)
{
    char host[128] = "", owner[200];
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "unknown host");
    snprintf(owner, sizeof owner, "%.120s pid %ld", host, (long)getpid());
    s->leases = ff_leases_new(s->store, &s->o->leases, owner, err);
    if (!s->leases) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err->msg);
        return -1;
    }
    return 0;
}

/* Metrics, the remote session (one for every worker and the nightly movie), the leases, the
 * workers. */
static int start_jobs(server *s, ff_err *err)
{
    s->metrics = ff_metrics_new();
    if (!s->metrics) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "out of memory");
        return -1;
    }
    if (!s->pcfg.offline) {
        if (!(s->remote = ff_remote_open_configured(s->o->settings, err))) {
            ff_log(FF_LOG_ERROR, NULL, NULL, "remote services: %s", err->msg);
            return -1;
        }
        s->pcfg.remote = s->remote;
    }
    if (shared_store(s) && start_leases(s, err) != 0)
        return -1;
    s->workers = ff_workers_start_leased((int)s->cfg.workers, s->queue, s->store, &s->pcfg,
                                         &s->cfg.retry, s->metrics, s->leases, err);
    if (!s->workers) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot start the workers: %s", err->msg);
        return -1;
    }
    return 0;
}

/* The listening socket (its port completes the public URL), the store threads, the services the
 * routes share, the engine; then the workers tell the event streams about new logs. */
static int start_http(server *s, ff_err *err)
{
    unsigned port = 0;
    int fd = ff_httpd_listen(&s->cfg, &port, err);
    if (fd < 0) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err->msg);
        return -1;
    }
    ff_server_config_finish(&s->cfg, port);
    s->offload = ff_offload_new(s->cfg.store_threads, s->cfg.store_timeout_ms / 1000.0, err);
    ff_app deps = {.cfg = &s->cfg, .store = s->store, .queue = s->queue, .workers = s->workers,
                   .metrics = s->metrics, .secret = &s->secret, .offload = s->offload};
    if (s->offload)
        s->app = ff_app_new(&deps, err);
    if (!s->app) {
        close(fd);
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err->msg);
        return -1;
    }
    ff_httpd_deps hd = {&s->cfg, ff_routes, ff_routes_count, s->app, s->offload, s->metrics};
    s->httpd = ff_httpd_start(&hd, fd, err);
    if (!s->httpd) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err->msg);
        return -1;
    }
    ff_workers_on_log(s->workers, ff_app_logs_changed, s->app);
    return 0;
}

/* The nightly clean (the original's EventBridge rule), in UTC; online, a new install also gets
 * the movie it lacks now, in the background, not after a night. */
static int start_scheduler(server *s, ff_err *err)
{
    s->clean = (ff_clean_job){.store = s->store, .queue = s->queue, .retention_hours = (int)s->cfg.retention_hours,
                              .remote = s->remote, .leases = s->leases};
    s->sched = ff_scheduler_new(err);
    if (!s->sched || ff_scheduler_add(s->sched, "clean", s->cfg.clean_cron, ff_clean_job_run, &s->clean, err) != 0 ||
        (s->remote && ff_scheduler_add_at_start(s->sched, "daily-video-at-start", ff_daily_video_start_job,
                                                &s->clean, err) != 0) ||
        ff_scheduler_start(s->sched, err) != 0) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot start the scheduler (FITSFLOW_CLEAN_CRON '%s'): %s",
               s->cfg.clean_cron, err->msg);
        return -1;
    }
    return 0;
}

/* The address bound, and the public URL when it differs (behind a proxy or a load balancer,
 * several instances share one). */
static void log_ready(const server *s)
{
    const ff_server_config *c = &s->cfg;
    char addr[300], also[700] = "";
    snprintf(addr, sizeof addr, strchr(c->listen_host, ':') ? "http://[%s]:%u" : "http://%s:%u",
             c->listen_host, c->port);
    if (strcmp(addr, c->public_url) != 0)
        snprintf(also, sizeof also, "public URL %.500s, ", c->public_url);
    const char *bucket = ff_settings_text(s->o->settings, FF_SET_S3_BUCKET);
    if (shared_store(s))
        ff_log(FF_LOG_INFO, NULL, NULL, "FitsFlow %s listening on %s (%sobjects in s3://%s, queue in %s, "
               "%u workers, %u HTTP threads; leases of %.0f s)", FF_VERSION, addr, also,
               bucket ? bucket : "", c->data_dir, c->workers, c->http_threads, s->o->leases.seconds);
    else
        ff_log(FF_LOG_INFO, NULL, NULL, "FitsFlow %s listening on %s (%sdata in %s, %u workers, %u HTTP threads)",
               FF_VERSION, addr, also, c->data_dir, c->workers, c->http_threads);
}

/* Until a stop signal: SIGUSR1 runs the clean now. Returns the signal. */
static int wait_for_stop(server *s, const sigset_t *sigs)
{
    int sig = 0;
    for (;;) {
        if (sigwait(sigs, &sig) != 0)
            continue;
        if (sig != SIGUSR1)
            return sig;
        ff_log(FF_LOG_INFO, NULL, NULL, "signal %d: running the clean now", sig);
        ff_scheduler_run_now(s->sched, "clean");
    }
}

/* No new requests (event streams ended, requests in flight given the shutdown timeout), then no
 * new jobs, then running sessions stop between files and go back to the queue. */
static void stop_all(server *s)
{
    if (s->workers)
        ff_workers_on_log(s->workers, NULL, NULL);
    ff_httpd_close(s->httpd);
    ff_app_stop_streams(s->app);
    ff_httpd_drain(s->httpd, s->cfg.shutdown_timeout);
    ff_app_stop_probe(s->app);
    ff_offload_stop(s->offload); /* queued store work is answered 503; running work ends by its deadline */
    ff_httpd_free(s->httpd);
    ff_app_free(s->app);
    ff_offload_free(s->offload);
    ff_scheduler_stop(s->sched);
    if (s->workers)
        ff_workers_stop(s->workers);
    ff_leases_free(s->leases); /* after everything that holds leases */
    if (s->queue)
        ff_queue_close(s->queue);
    if (s->remote)
        ff_remote_close(s->remote);
    ff_metrics_free(s->metrics);
    ff_store_close(s->store);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
}

int ff_server_run(const ff_server_options *o)
{
    server s = {.o = o, .cfg = o->cfg, .pcfg = o->pipeline, .lock_fd = -1};
    ff_err err = {0};
    if (mkdir(s.cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "fitsflow serve: cannot create data folder '%s': %s\n", s.cfg.data_dir,
                strerror(errno));
        return 1;
    }
    /* Signals are taken by sigwait; every thread started from here inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    int status = 1;
    if (open_storage(&s, &err) == 0 && start_jobs(&s, &err) == 0 && start_http(&s, &err) == 0 &&
        start_scheduler(&s, &err) == 0) {
        log_ready(&s);
        int sig = wait_for_stop(&s, &sigs);
        ff_log(FF_LOG_INFO, NULL, NULL, "signal %d: stopping (requests in flight get %u s, running "
               "sessions stop between files and go back to the queue)", sig, s.cfg.shutdown_timeout);
        status = 0;
    }
    stop_all(&s);
    if (status == 0)
        ff_log(FF_LOG_INFO, NULL, NULL, "stopped");
    return status;
}
