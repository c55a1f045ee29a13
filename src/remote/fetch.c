/* The remote steps of one file, run at the same time so that a slow service does not add its
 * delay to the others: Helioviewer, JSOC and HEK each on their own thread. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "remote/remote_impl.h"

typedef struct job {
    int (*fn)(ff_remote *, const ff_obsmeta *, ff_remote_result *);
    ff_remote *r;
    const ff_obsmeta *meta;
    ff_remote_result *res;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    j->fn(j->r, j->meta, j->res);
    return NULL;
}

int ff_remote_fetch_for_file(ff_remote *r, const ff_obsmeta *meta, ff_remote_outputs *out)
{
    memset(out, 0, sizeof *out);
    job jobs[3] = {
        {ff_remote_helioviewer, r, meta, &out->helioviewer},
        {ff_remote_jsoc, r, meta, &out->jsoc},
        {ff_remote_hek, r, meta, &out->hek},
    };
    if (r->cfg.offline)
        ff_log(FF_LOG_INFO, NULL, NULL, "remote steps skipped: offline (FITSFLOW_OFFLINE=1 or --offline)");
    pthread_t th[3];
    int started[3] = {0};
    if (!r->cfg.sequential && !r->cfg.offline)
        for (int i = 0; i < 3; i++)
            started[i] = pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0;
    for (int i = 0; i < 3; i++)
        if (!started[i])
            run_job(&jobs[i]);
    for (int i = 0; i < 3; i++)
        if (started[i])
            pthread_join(th[i], NULL);
    return out->helioviewer.ok + out->jsoc.ok + out->hek.ok;
}

void ff_remote_outputs_free(ff_remote_outputs *out)
{
    ff_remote_result_free(&out->helioviewer);
    ff_remote_result_free(&out->jsoc);
    ff_remote_result_free(&out->hek);
}
