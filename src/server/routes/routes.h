/* What the files of src/server/routes/ share: the handlers the route table lists (routes.c) and
 * the services they use from each other. Not for use outside this folder (app.h is). Handlers
 * take (r, app, arg) as req.h's ff_route_fn says; `sid` handlers get a validated session id. */
#ifndef FF_SERVER_ROUTES_ROUTES_H
#define FF_SERVER_ROUTES_ROUTES_H

#include <jansson.h>

#include "server/routes/app.h"

struct ff_session_view;

/* api.c */
enum MHD_Result ff_api_trigger(ff_req *r, void *app, const char *arg);
enum MHD_Result ff_api_new_session(ff_req *r, void *app, const char *arg);
enum MHD_Result ff_api_session_status(ff_req *r, void *app, const char *sid);
enum MHD_Result ff_api_config(ff_req *r, void *app, const char *arg);
/* GET /api/daily-video/latest: the newest stitched movie, or 404 when there is none yet. */
enum MHD_Result ff_api_daily_video_latest(ff_req *r, void *app, const char *arg);
enum MHD_Result ff_api_metrics(ff_req *r, void *app, const char *arg);

/* routes.c: GET /api, the table as a list. */
enum MHD_Result ff_api_index(ff_req *r, void *app, const char *arg);

/* health.c: GET /healthz, and the store's reachability probed in the background for it. */
enum MHD_Result ff_api_healthz(ff_req *r, void *app, const char *arg);
ff_store_probe *ff_store_probe_start(ff_store *store, double timeout_s, ff_err *err);
void ff_store_probe_stop(ff_store_probe *p); /* and frees it; NULL is allowed */

/* upload.c: PUT to a presigned URL (key = the path without its '/'). */
enum MHD_Result ff_upload_put(ff_req *r, void *app, const char *key);
ff_upload_table *ff_upload_table_new(void);
void ff_upload_table_free(ff_upload_table *t);
/* For a presign: -1 with a reason when this server already knows that session sid holds
 * FITSFLOW_SESSION_MAX_FILES files and name is not one of them; 0 otherwise (also when it does
 * not know: the PUT checks). Never calls the store. */
int ff_upload_presign_check(ff_app *a, const char *sid, const char *name, ff_err *err);

/* static.c: GET/HEAD of stored objects (key = the path without its '/') and of the browser
 * client (rel = the path under the web folder; "" = index.html). */
enum MHD_Result ff_static_object(ff_req *r, void *app, const char *key);
enum MHD_Result ff_static_web(ff_req *r, void *app, const char *rel);

/* sse.c: GET /api/sessions/S/events, and the hub that resumes idle streams. */
enum MHD_Result ff_sse_events(ff_req *r, void *app, const char *sid);
ff_sse_hub *ff_sse_hub_start(ff_app *a, ff_err *err);
void ff_sse_hub_stop(ff_sse_hub *hub); /* ends every stream; before the engine drains */
void ff_sse_hub_free(ff_sse_hub *hub); /* after the engine stopped; NULL is allowed */
void ff_sse_hub_wake(ff_sse_hub *hub); /* news: resume the streams now */

/* archive.c: GET /api/sessions/S/archive.zip. */
enum MHD_Result ff_archive_zip(ff_req *r, void *app, const char *sid);

/* session_cache.c: shared, incrementally refreshed session views (pipeline/session_view.h). */
ff_session_cache *ff_session_cache_new(void);
void ff_session_cache_free(ff_session_cache *c);
/* The view of sid (made when missing), held until ff_session_cache_release. NULL: no memory. */
struct ff_session_view *ff_session_cache_get(ff_session_cache *c, const char *sid);
void ff_session_cache_release(ff_session_cache *c, struct ff_session_view *v);
/* This process wrote to session sid (a log, an upload): its next reader refreshes. */
void ff_session_cache_touch(ff_session_cache *c, const char *sid);
/* 1 when the caller should refresh v now: never refreshed, older than max_age seconds, or
 * written to since and at least min_age old. Claims the write (the next caller sees none). */
int ff_session_cache_claim(ff_session_cache *c, struct ff_session_view *v, double min_age,
                           double max_age);
/* Marks a background refresh of v as queued (start 1: 1 when it was not already) or over. */
int ff_session_cache_background(ff_session_cache *c, struct ff_session_view *v, int start);

/* health.c: adds {"store": {...}} to a health answer, without any store call. Returns 1 when the
 * store is reachable (or never failed), 0 when its last exchange failed. */
int ff_store_probe_json(ff_store *store, json_t *out);

#endif
