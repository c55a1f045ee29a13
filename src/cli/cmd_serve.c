/* `fitsflow serve`: the whole service in one process: HTTP API and static outputs, the durable
 * queue with its workers, and the nightly clean. Stops gracefully on SIGTERM and SIGINT; SIGUSR1
 * runs the clean now. One instance per data folder (a lock file says so); several instances
 * share an S3 bucket through leases kept in it (pipeline/lease.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "pipeline/keys.h"
#include "base/settings.h"
#include "remote/remote.h"
#include "base/log.h"
#include "pipeline/lease.h"
#include "pipeline/pipeline.h"
#include "server/config.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/presign.h"
#include "server/jobs/queue.h"
#include "server/jobs/scheduler.h"
#include "server/jobs/workers.h"

static const char usage[] =
    "usage: fitsflow serve [--listen HOST:PORT] [--data-dir DIR] [--public-url URL] [--workers N]\n"
    "                      [--offline]\n"
    "\n"
    "Runs FitsFlow as a web service: presigned uploads, processing in the background, outputs\n"
    "served over HTTP. Every setting also has a FITSFLOW_* environment variable (docs/serve.md).\n"
    "\n"
    "options:\n"
    "  -l, --listen HOST:PORT  address to listen on (FITSFLOW_LISTEN, default 127.0.0.1:8080;\n"
    "                          port 0 picks a free port)\n"
    "  -d, --data-dir DIR      uploads, outputs, queue and secret (FITSFLOW_DATA_DIR,\n"
    "                          default ./fitsflow-data); with FITSFLOW_STORE=s3 uploads and\n"
    "                          outputs go to the FITSFLOW_S3_BUCKET bucket instead\n"
    "      --public-url URL    base of the upload URLs handed out (FITSFLOW_PUBLIC_URL,\n"
    "                          default http://HOST:PORT)\n"
    "  -w, --workers N         sessions processed at once (FITSFLOW_WORKERS, default 2)\n"
    "      --offline           do not contact Helioviewer, JSOC or HEK (FITSFLOW_OFFLINE=1)\n"
    "  -h, --help              show this help\n";

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

static int parse_args(int argc, char **argv, ff_server_config *cfg, ff_settings *settings)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},   {"data-dir", required_argument, NULL, 'd'},
        {"public-url", required_argument, NULL, 'P'}, {"workers", required_argument, NULL, 'w'},
        {"offline", no_argument, NULL, 'O'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ff_err err = {0};
    ff_setting_value v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "l:d:w:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (ff_server_config_set_listen(cfg, optarg, &err) != 0) {
                fprintf(stderr, "fitsflow serve: %s\n", err.msg);
                return 2;
            }
            break;
        case 'd':
            if (strlen(optarg) >= sizeof cfg->data_dir) {
                fprintf(stderr, "fitsflow serve: --data-dir is too long\n");
                return 2;
            }
            strcpy(cfg->data_dir, optarg);
            break;
        case 'P':
            if (strlen(optarg) >= sizeof cfg->public_url) {
                fprintf(stderr, "fitsflow serve: --public-url is too long\n");
                return 2;
            }
            strcpy(cfg->public_url, optarg);
            break;
        case 'w':
            if (ff_setting_parse(FF_SET_WORKERS, "--workers", optarg, &v, &err) != 0) {
                fprintf(stderr, "fitsflow serve: %s\n", err.msg);
                return 2;
            }
            cfg->workers = (unsigned)v.u;
            break;
        case 'O':
            ff_setting_parse(FF_SET_OFFLINE, NULL, "1", &v, NULL);
            ff_settings_set(settings, FF_SET_OFFLINE, &v);
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fitsflow serve: unexpected argument '%s'\n\n%s", argv[optind], usage);
        return 2;
    }
    return -1;
}

int ff_cmd_serve(int argc, char **argv)
{
    ff_settings settings;
    ff_server_config cfg;
    ff_pipeline_config pcfg;
    ff_err err = {0};
    if (ff_settings_load(&settings, FF_USE_SERVE, &err) != 0 ||
        ff_server_config_from_settings(&cfg, &settings, &err) != 0) {
        fprintf(stderr, "fitsflow serve: %s\n", err.msg);
        return 2;
    }
    ff_log_set_level((ff_log_level)ff_settings_choice(&settings, FF_SET_LOG_LEVEL));
    int rc = parse_args(argc, argv, &cfg, &settings);
    if (rc >= 0)
        return rc;
    if (ff_pipeline_config_from_settings(&pcfg, &settings, &err) != 0) {
        fprintf(stderr, "fitsflow serve: %s\n", err.msg);
        return 2;
    }
    pcfg.session_limit_bytes = cfg.session_limit_bytes;

    if (mkdir(cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "fitsflow serve: cannot create data folder '%s': %s\n", cfg.data_dir, strerror(errno));
        return 1;
    }
    /* Signals are taken by sigwait below; every thread started from here inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    ff_presign_secret secret;
    ff_store *store = NULL;
    ff_queue *queue = NULL;
    ff_metrics *metrics = NULL;
    ff_workers *workers = NULL;
    ff_http *http = NULL;
    ff_scheduler *sched = NULL;
    ff_clean_job clean = {0};
    ff_remote *remote = NULL;
    ff_leases *leases = NULL;
    ff_lease_config lcfg;
    char dbpath[1200];
    int lock_fd = -1;
    if (ff_lease_config_from_settings(&lcfg, &settings, &err) != 0) {
        fprintf(stderr, "fitsflow serve: %s\n", err.msg);
        return 2;
    }
    if ((lock_fd = lock_data_dir(cfg.data_dir, &err)) < 0) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err.msg);
        goto out;
    }
    if (ff_presign_secret_load(&secret, cfg.secret, cfg.data_dir, &err) != 0) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err.msg);
        goto out;
    }
    /* Objects live where FITSFLOW_STORE says (the data folder, or S3); the queue and the secret
     * stay in the local data folder either way. */
    store = ff_store_open_configured(&settings, cfg.data_dir, &err);
    if (!store) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot open the store: %s", err.msg);
        goto out;
    }
    snprintf(dbpath, sizeof dbpath, "%s/queue.db", cfg.data_dir);
    queue = ff_queue_open(dbpath, &err);
    if (!queue) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot open the job queue %s: %s", dbpath, err.msg);
        goto out;
    }
    int recovered = ff_queue_recover(queue, &err);
    if (recovered < 0) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot recover the job queue: %s", err.msg);
        goto out;
    }
    if (recovered > 0)
        ff_log(FF_LOG_INFO, NULL, NULL, "%d interrupted session(s) back in the queue", recovered);
    /* Nothing writes yet: temporaries left now are from puts a crash interrupted. */
    for (int i = 0; i < 2; i++) {
        const char *prefix = i ? FF_KEY_DAILY_VIDEOS : FF_KEY_TEMP;
        int swept = ff_store_sweep_temporaries(store, prefix, &err);
        if (swept > 0)
            ff_log(FF_LOG_INFO, NULL, NULL, "removed %d temporaries of interrupted writes under %s",
                   swept, prefix);
    }
    metrics = ff_metrics_new();
    if (!metrics) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "out of memory");
        goto out;
    }
    /* One remote session (shared connections) for every worker and the nightly movie. */
    if (!pcfg.offline) {
        if (!(remote = ff_remote_open_configured(&settings, &err))) {
            ff_log(FF_LOG_ERROR, NULL, NULL, "remote services: %s", err.msg);
            goto out;
        }
        pcfg.remote = remote;
    }
    int shared = ff_settings_choice(&settings, FF_SET_STORE) == 1;
    if (shared) {
        /* A bucket may be shared by several instances: sessions, the clean and the movie are
         * taken under leases in it. (The fs store is one instance's: the lock above.) */
        char host[128] = "", owner[200];
        if (gethostname(host, sizeof host - 1) != 0)
            snprintf(host, sizeof host, "unknown host");
        snprintf(owner, sizeof owner, "%.120s pid %ld", host, (long)getpid());
        leases = ff_leases_new(store, &lcfg, owner, &err);
        if (!leases) {
            ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err.msg);
            goto out;
        }
    }
    workers = ff_workers_start_leased((int)cfg.workers, queue, store, &pcfg, &cfg.retry, metrics, leases, &err);
    if (!workers) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot start the workers: %s", err.msg);
        goto out;
    }
    ff_http_deps deps = {&cfg, store, queue, workers, metrics, &secret};
    http = ff_http_start(&deps, &err);
    if (!http) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "%s", err.msg);
        goto out;
    }
    ff_workers_on_log(workers, ff_http_logs_changed, http);
    /* The nightly clean (the original's EventBridge rule), in UTC. */
    clean.store = store;
    clean.queue = queue;
    clean.retention_hours = (int)cfg.retention_hours;
    clean.remote = remote;
    clean.leases = leases;
    sched = ff_scheduler_new(&err);
    /* Online, a new install gets the movie it lacks now, in the background, not after a night. */
    if (!sched || ff_scheduler_add(sched, "clean", cfg.clean_cron, ff_clean_job_run, &clean, &err) != 0 ||
        (remote && ff_scheduler_add_at_start(sched, "daily-video-at-start", ff_daily_video_start_job,
                                             &clean, &err) != 0) ||
        ff_scheduler_start(sched, &err) != 0) {
        ff_log(FF_LOG_ERROR, NULL, NULL, "cannot start the scheduler (FITSFLOW_CLEAN_CRON '%s'): %s",
               cfg.clean_cron, err.msg);
        goto out;
    }
    /* The address bound, and the public URL when it differs (behind a proxy or a load balancer,
     * several instances share one). */
    char addr[300], also[700] = "";
    snprintf(addr, sizeof addr, strchr(cfg.listen_host, ':') ? "http://[%s]:%u" : "http://%s:%u",
             cfg.listen_host, ff_http_port(http));
    if (strcmp(addr, ff_http_public_url(http)) != 0)
        snprintf(also, sizeof also, "public URL %.500s, ", ff_http_public_url(http));
    const char *bucket = ff_settings_text(&settings, FF_SET_S3_BUCKET);
    if (shared)
        ff_log(FF_LOG_INFO, NULL, NULL, "FitsFlow %s listening on %s (%sobjects in s3://%s, queue in %s, "
               "%u workers, %u HTTP threads; leases of %.0f s)", FF_VERSION, addr, also,
               bucket ? bucket : "", cfg.data_dir, cfg.workers, cfg.http_threads, lcfg.seconds);
    else
        ff_log(FF_LOG_INFO, NULL, NULL, "FitsFlow %s listening on %s (%sdata in %s, %u workers, %u HTTP threads)",
               FF_VERSION, addr, also, cfg.data_dir, cfg.workers, cfg.http_threads);

    int sig = 0;
    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig != SIGUSR1)
            break;
        ff_log(FF_LOG_INFO, NULL, NULL, "signal %d: running the clean now", sig);
        ff_scheduler_run_now(sched, "clean");
    }
    ff_log(FF_LOG_INFO, NULL, NULL, "signal %d: stopping (requests in flight get %u s, running sessions "
                                    "stop between files and go back to the queue)", sig, cfg.shutdown_timeout);
    status = 0;
out:
    /* Order: no new requests, then no new jobs, then running sessions stop between files and go
     * back to the queue. */
    if (workers)
        ff_workers_on_log(workers, NULL, NULL);
    ff_http_stop(http, cfg.shutdown_timeout);
    ff_scheduler_stop(sched);
    if (workers)
        ff_workers_stop(workers);
    ff_leases_free(leases); /* after everything that holds leases */
    if (queue)
        ff_queue_close(queue);
    if (remote)
        ff_remote_close(remote);
    ff_metrics_free(metrics);
    ff_store_close(store);
    if (lock_fd >= 0)
        close(lock_fd);
    if (status == 0)
        ff_log(FF_LOG_INFO, NULL, NULL, "stopped");
    return status;
}
