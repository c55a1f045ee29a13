/* The object store: one interface over a local directory (fs) or S3. Keys are '/'-separated
 * relative names such as "temp/S/processed/data/x_data.npy"; they are validated (no "..", no
 * absolute paths, no backslash, no NUL or control characters, at most FF_STORE_KEY_MAX bytes).
 * Every put is atomic: a reader sees the whole object or nothing. */
#ifndef FF_STORE_STORE_H
#define FF_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "base/clock.h"

#define FF_STORE_KEY_MAX 1024

typedef struct ff_store ff_store;
typedef struct ff_store_writer ff_store_writer;
typedef struct ff_store_reader ff_store_reader;

typedef struct ff_store_stat {
    uint64_t size;
    time_t mtime;
    char etag[72];     /* quoted strong validator, e.g. "\"5f3a-64b0c1\"" */
} ff_store_stat;

/* Opens the fs backend rooted at dir (created when missing). fsync 1: every put is flushed to
 * disk before the object appears (FITSFLOW_FSYNC). */
ff_store *ff_store_open_fs(const char *dir, int fsync, ff_err *err);

struct ff_aws_creds; /* store/sigv4.h */

/* Where the s3 backend keeps objects. Addressing follows botocore's, so that presigned URLs are
 * byte-identical to boto3's for the same settings:
 *   endpoint set, path_style 1 (or the host is an IP address): ENDPOINT/BUCKET/KEY
 *   endpoint set, path_style 0:  SCHEME://BUCKET.HOST/KEY
 *   no endpoint, path_style 0:   https://BUCKET.s3.amazonaws.com/KEY
 *   no endpoint, path_style 1:   https://s3.REGION.amazonaws.com/BUCKET/KEY
 *                                (https://s3.amazonaws.com/BUCKET/KEY in us-east-1) */
typedef struct ff_s3_config {
    const char *bucket;     /* required */
    const char *region;     /* NULL: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1 */
    const char *endpoint;   /* NULL: AWS; else "http[s]://host[:port]" (S3-compatible servers) */
    int path_style;         /* see above */
    const char *sse;        /* server-side encryption header on puts: NULL = "AES256"; "" = none */
    size_t part_size;       /* multipart part size: 0 = 8 MiB; at least 5 MiB */
    const struct ff_aws_creds *creds; /* NULL: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
                                         AWS_SESSION_TOKEN from the environment */
} ff_s3_config;

/* Opens the s3 backend (GET, PUT, HEAD, DELETE, ListObjectsV2; multipart past one part),
 * every request signed with SigV4. Checks the settings, not the bucket (no request is made).
 * Puts set Content-Type from the key's ending (.png image/png, .json, .txt, .csv, .mp4, ...).
 * ff_store_local_path returns NULL for it. */
ff_store *ff_store_open_s3(const ff_s3_config *cfg, ff_err *err);

/* Opens the store the settings name (base/settings.h, loaded by a front end):
 *   FITSFLOW_STORE          fs (default) or s3
 *   fs: the folder fs_dir (the caller's data folder), FITSFLOW_FSYNC
 *   s3: FITSFLOW_S3_BUCKET (required), FITSFLOW_S3_REGION, FITSFLOW_S3_ENDPOINT,
 *       FITSFLOW_S3_PATH_STYLE, FITSFLOW_S3_SSE ("none": no header); credentials from
 *       AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
 * Returns NULL with a reason naming the variable at fault. */
struct ff_settings;
ff_store *ff_store_open_configured(const struct ff_settings *s, const char *fs_dir, ff_err *err);

/* A presigned S3 PUT URL for key (query-string SigV4, valid expires seconds from now, signing
 * content_type and the backend's server-side encryption, which the uploader must then send as
 * the Content-Type and x-amz-server-side-encryption headers). Byte-identical to botocore's
 * generate_presigned_url('put_object', Params={Bucket, Key, ContentType, ServerSideEncryption},
 * ExpiresIn=expires) with signature_version s3v4 and the same addressing. Returns a malloc'd
 * URL, or NULL with err filled (also for a store that is not s3). */
char *ff_store_presign_put(ff_store *s, const char *key, const char *content_type, int expires,
                           time_t now, ff_err *err);
void ff_store_close(ff_store *s);

/* Copies the object at key (at most max bytes) into a new temporary file in TMPDIR (or /tmp);
 * its name goes to path (cap bytes). The caller unlinks it. 0, or -1 with err (the store's fault
 * recorded when the store failed). */
int ff_store_get_to_tmpfile(ff_store *s, const char *key, size_t max, char *path, size_t cap,
                            ff_err *err);

/* Returns 0 when key is acceptable, else -1 with a reason. */
int ff_store_key_valid(const char *key, ff_err *err);

/* Streaming atomic put: open, write any number of times then commit (the object
 * appears) or abort (nothing appears, any earlier object at that key is untouched). commit and
 * abort free the writer. */
ff_store_writer *ff_store_writer_open(ff_store *s, const char *key, ff_err *err);
int ff_store_writer_write(ff_store_writer *w, const void *buf, size_t len, ff_err *err);
uint64_t ff_store_writer_bytes(const ff_store_writer *w);
/* Tells the writer how many bytes will follow, before they do. A backend that can set the room
 * aside does (fs: the blocks are allocated at once, which also makes the writes cheaper); a
 * shorter object is still committed at its real size. 0 done, 1 no room (ENOSPC; err says so),
 * -1 another error. The writer stays open either way. */
int ff_store_writer_reserve(ff_store_writer *w, uint64_t size, ff_err *err);
int ff_store_writer_commit(ff_store_writer *w, ff_err *err);
/* As ff_store_writer_commit, and on success fills *st (may be NULL) with what the store now says
 * of the object: size, and the etag a later stat or read gives (s3: the ETag of the PUT or of the
 * completed multipart upload; mtime may be 0 there), without another request. */
int ff_store_writer_commit_stat(ff_store_writer *w, ff_store_stat *st, ff_err *err);
void ff_store_writer_abort(ff_store_writer *w);

/* Whole-object put of a buffer (atomic). */
int ff_store_put(ff_store *s, const char *key, const void *buf, size_t len, ff_err *err);

/* Reads a whole object of at most max bytes into a malloc'd buffer (NUL-terminated for
 * convenience; *len excludes the NUL). Returns 1 when the key does not exist (err filled). */
int ff_store_get(ff_store *s, const char *key, size_t max, char **buf, size_t *len, ff_err *err);

/* Streaming, ranged read: the bytes of key from offset, at most len of them (FF_STORE_TO_END: to
 * the end), clamped to the object (an offset at or past the end gives an empty read). Memory
 * stays bounded whatever the size (fs: pread; s3: one GET with a Range header, pulled through
 * libcurl as the caller reads). On 0, *out is the reader and st (may be NULL) describes the object
 * being read (size, mtime and etag as ff_store_stat_key gives them, taken from the same open or
 * response so that they describe these bytes). Returns 1 when the key does not exist, -1 on error
 * (err filled). A reader is used by one thread at a time. */
#define FF_STORE_TO_END UINT64_MAX
int ff_store_reader_open(ff_store *s, const char *key, uint64_t offset, uint64_t len,
                         ff_store_stat *st, ff_store_reader **out, ff_err *err);
/* Reads up to cap bytes into buf: 0 with *got > 0, or *got == 0 once the range is done; -1 on
 * error (the object ended early, changed, or the connection failed). May block on the backend. */
int ff_store_reader_read(ff_store_reader *r, void *buf, size_t cap, size_t *got, ff_err *err);
/* Bytes the reader has yet to deliver. */
uint64_t ff_store_reader_left(const ff_store_reader *r);
/* Ends the read (also before its end) and frees the reader; NULL is allowed. */
void ff_store_reader_close(ff_store_reader *r);

/* 0 and *st filled; 1 when absent; -1 on error. */
int ff_store_stat_key(ff_store *s, const char *key, ff_store_stat *st, ff_err *err);

/* Calls fn for every key under prefix (prefix "temp/S/" lists that session), in no set order
 * (s3: one paged ListObjectsV2 walk). fn returning nonzero stops the walk with that value. */
typedef int (*ff_store_list_fn)(const char *key, const ff_store_stat *st, void *ctx);
int ff_store_list(ff_store *s, const char *prefix, ff_store_list_fn fn, void *ctx, ff_err *err);

/* Deletes one key (absent is not an error). */
int ff_store_delete(ff_store *s, const char *key, ff_err *err);

/* Removes the folders left empty under prefix (a folder prefix such as "temp/S/"), that folder
 * itself included, for backends that have folders (fs; a no-op elsewhere). Stray temporaries of
 * puts interrupted more than an hour ago are removed with them. Returns 0, or -1 on error. */
int ff_store_remove_empty_folders(ff_store *s, const char *prefix, ff_err *err);

/* Removes every temporary of an interrupted put under prefix, whatever its age. Only for when no
 * put can be running (a server starting on its own data folder after a crash). A no-op for
 * backends without such temporaries. Returns the number removed, or -1 on error. */
int ff_store_sweep_temporaries(ff_store *s, const char *prefix, ff_err *err);

/* A local filesystem path for reading key, when the backend has one (fs), else NULL.
 * Returned string is malloc'd. */
char *ff_store_local_path(ff_store *s, const char *key);

/* ---- Why a call failed, deadlines, reachability ----
 * Every call records on its own thread what kind of failure it ended with, so that a caller can
 * answer 503 for an unreachable store and 507 for a full one, and retry only what may pass later. */
typedef enum ff_store_fault {
    FF_STORE_FAULT_NONE = 0,     /* the last call did not fail */
    FF_STORE_FAULT_LOCAL,        /* the local store failed (I/O error, permissions, memory) */
    FF_STORE_FAULT_REMOTE,       /* the remote store refused (an error answer other than absent,
                                    an answer that cannot be read): trying again will not help */
    FF_STORE_FAULT_UNAVAILABLE,  /* unreachable, connection broke, 5xx, throttled: transient */
    FF_STORE_FAULT_TIMEOUT,      /* no whole answer before the deadline: transient */
    FF_STORE_FAULT_FULL,         /* no room (ENOSPC, EDQUOT) */
} ff_store_fault;

/* The kind of failure of this thread's last store call that failed since it started (calls
 * that succeed or report absence set FF_STORE_FAULT_NONE). */
ff_store_fault ff_store_last_fault(void);
/* Sets this thread's last fault: backends before they fail, and code that fails on behalf of a
 * store call (a caller combining several calls) so that its own caller can judge it the same way. */
void ff_store_fault_set(ff_store_fault f);
/* 1 for UNAVAILABLE and TIMEOUT: the same call may pass later. */
int ff_store_fault_transient(ff_store_fault f);
/* "unavailable", "timeout", ... for logs and JSON. */
const char *ff_store_fault_name(ff_store_fault f);

/* Deadlines and ff_store_health times are on the monotonic clock of base/clock.h (ff_clock_now). */
/* Store calls this thread makes from now on give up at time t (ff_clock_now()), failing with
 * FF_STORE_FAULT_TIMEOUT; retries stop in time to meet it. 0 (the default) removes it: calls then
 * use the backend's own long timeouts and retries (s3: 10 s to connect, 60 s without progress,
 * 4 attempts). Backends without a network ignore it. */
void ff_store_set_deadline(double t);
double ff_store_get_deadline(void);
/* A streaming reader opened by this thread from now on gives up (FF_STORE_FAULT_TIMEOUT) when a
 * read, on whatever thread, waits longer than this many seconds for more bytes; 0 (the default):
 * the backend's own limit. */
void ff_store_set_stall(double seconds);
double ff_store_get_stall(void);

/* Reachability of the store as every thread's calls (and ff_store_ping) found it, read without
 * any request. */
typedef struct ff_store_health {
    int remote;          /* the backend talks to a server (s3) */
    int reachable;       /* the last call that ended reached the store (1 before any call) */
    double last_ok;      /* ff_clock_now() of the last call that reached it; 0 = none yet */
    double last_fail;    /* of the last transient failure; 0 = none */
    char reason[256];    /* that failure */
} ff_store_health;
void ff_store_health_get(ff_store *s, ff_store_health *out);
/* The cheapest request that shows the store answers (s3: a listing of at most one key under
 * prefix, which the caller may list; fs: the folder is there). 0, or -1 with err (and the fault
 * recorded). */
int ff_store_ping(ff_store *s, const char *prefix, ff_err *err);

#endif
