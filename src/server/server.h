/* `fitsflow serve`: the whole service in one process, started and stopped in one place. The HTTP
 * side (http/: the engine; routes/: what it answers) and the job side (jobs/: the durable queue,
 * the workers, the nightly scheduler) meet here and nowhere else. */
#ifndef FF_SERVER_SERVER_H
#define FF_SERVER_SERVER_H

#include "pipeline/lease.h"
#include "pipeline/pipeline.h"
#include "server/config.h"

struct ff_settings;

typedef struct ff_server_options {
    const struct ff_settings *settings; /* loaded for FF_USE_SERVE: the store's and the remote
                                           services' settings are taken from here */
    ff_server_config cfg;               /* the server's, after the command line */
    ff_pipeline_config pipeline;        /* the workers' (no remote session yet) */
    ff_lease_config leases;             /* used when the store is shared (s3) */
} ff_server_options;

/* Runs until SIGTERM or SIGINT (SIGUSR1 runs the clean now): locks the data folder, opens the
 * store and the queue, starts the workers, the HTTP side and the scheduler; at a stop signal no
 * new requests, then no new jobs, and running sessions stop between files and go back to the
 * queue. Returns the exit status: 0 after a stop signal, 1 when the service could not start. */
int ff_server_run(const ff_server_options *o);

#endif
