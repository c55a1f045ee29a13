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
                               const ff_file_result *results, size_t n, ff_err *err)
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
