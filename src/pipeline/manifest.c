/* manifest.json: for every input its status, reason, metadata and outputs (path, bytes, sha256,
 * media type), plus the program's version and the creation time. */
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline.h"
#include "pipeline/result_json.h"

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

int ff_pipeline_write_manifest(ff_store *store, const char *prefix, const char *session_id,
                               const ff_file_result *results, size_t n,
                               const ff_session_stacks *stacks, ff_err *err)
{
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);

    json_t *root = json_object();
    json_object_set_new(root, "generator", json_string("FitsFlow"));
    json_object_set_new(root, "version", json_string(FF_VERSION));
    json_object_set_new(root, "created", json_string(created));
    json_object_set_new(root, "session_id", str_or_null(session_id));
    size_t counts[3] = {0, 0, 0};
    json_t *files = json_array();
    for (size_t i = 0; i < n; i++) {
        counts[results[i].status]++;
        json_array_append_new(files, ff_file_result_to_json(&results[i]));
    }
    json_t *summary = json_object();
    json_object_set_new(summary, "processed", json_integer((json_int_t)counts[FF_FILE_PROCESSED]));
    json_object_set_new(summary, "skipped", json_integer((json_int_t)counts[FF_FILE_SKIPPED]));
    json_object_set_new(summary, "failed", json_integer((json_int_t)counts[FF_FILE_FAILED]));
    json_object_set_new(root, "summary", summary);
    json_object_set_new(root, "files", files);
    /* "session_outputs": the stacks as outputs (path, bytes, sha256, media_type); "stacks":
     * null, or {"slices", "ml_size", "channels": {name: count}, "note"}. */
    json_t *souts = json_array();
    json_t *sj = json_null();
    if (stacks && stacks->noutputs) {
        for (size_t i = 0; i < stacks->noutputs; i++) {
            const ff_output *o = &stacks->outputs[i];
            json_t *oj = json_object();
            json_object_set_new(oj, "path", json_string(o->path));
            json_object_set_new(oj, "bytes", json_integer((json_int_t)o->bytes));
            json_object_set_new(oj, "sha256", json_string(o->sha256));
            json_object_set_new(oj, "media_type", json_string(o->media_type));
            json_array_append_new(souts, oj);
        }
    }
    if (stacks && (stacks->noutputs || stacks->note[0])) {
        json_decref(sj);
        sj = json_object();
        json_object_set_new(sj, "slices", json_integer((json_int_t)stacks->slices));
        json_object_set_new(sj, "ml_size", json_integer(stacks->ml_size));
        json_t *ch = json_object();
        for (size_t i = 0; i < stacks->nchannels; i++)
            json_object_set_new(ch, stacks->channels[i].name,
                                json_integer((json_int_t)stacks->channels[i].count));
        json_object_set_new(sj, "channels", ch);
        json_object_set_new(sj, "note", str_or_null(stacks->note));
    }
    json_object_set_new(root, "session_outputs", souts);
    json_object_set_new(root, "stacks", sj);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return ff_err_set(err, "out of memory writing the manifest");
    char key[FF_STORE_KEY_MAX + 1];
    snprintf(key, sizeof key, "%smanifest.json", prefix ? prefix : "");
    size_t len = strlen(text);
    text[len] = '\0';
    int rc = ff_store_put(store, key, text, len, err);
    free(text);
    return rc;
}
