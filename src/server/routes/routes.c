/* The route table of `fitsflow serve`: every path it answers, with the methods, the handler, the
 * metrics label and whether the per-client rate limit counts it. The engine (http/dispatch.c)
 * dispatches on this table and GET /api lists it; there is no other list of routes. Order
 * matters: the first pattern that matches a path decides (see req.h's ff_route). */
#include "server/routes/routes.h"

#define GET FF_M_GET
#define HEAD FF_M_HEAD

const ff_route ff_routes[] = {
    {"/FitsFlow-2-Trigger", GET, ff_api_trigger, "trigger", 0,
     "GET /FitsFlow-2-Trigger?session_id=S&filename=F&contentType=T (an upload URL) or "
     "?session_id=S (start processing)"},
    {"/api/sessions/?", FF_M_POST, ff_api_new_session, "api", 0, "POST /api/sessions"},
    {"/api/sessions/{sid}", GET, ff_api_session_status, "api", 0, "GET /api/sessions/S"},
    {"/api/sessions/{sid}/events", GET, ff_sse_events, "events", 0, "GET /api/sessions/S/events"},
    {"/api/sessions/{sid}/archive.zip", GET, ff_archive_zip, "archive", 0,
     "GET /api/sessions/S/archive.zip"},
    {"/api/sessions/*", 0, NULL, "api", 0, NULL},
    {"/api/daily-video/latest", GET, ff_api_daily_video_latest, "api", 0,
     "GET /api/daily-video/latest"},
    {"/api/config", GET, ff_api_config, "api", 0, "GET /api/config"},
    {"/healthz", GET | HEAD, ff_api_healthz, "health", FF_ROUTE_UNLIMITED, "GET|HEAD /healthz"},
    {"/metrics", GET, ff_api_metrics, "metrics", 0, "GET /metrics"},
    {"/temp/*", GET | HEAD, ff_static_object, "static", 0, "GET|HEAD /temp/..."},
    {"/temp/*", FF_M_PUT, ff_upload_put, "upload", 0,
     "PUT /temp/S/fits/F?" FF_PRESIGN_EXPIRES_ARG "=...&" FF_PRESIGN_SIGNATURE_ARG "=... (a presigned upload)"},
    {"/daily_videos/*", GET | HEAD, ff_static_object, "static", 0, "GET|HEAD /daily_videos/..."},
    {"/api/?", GET | HEAD, ff_api_index, "api", 0, "GET|HEAD /api"},
    {"/api/*", 0, NULL, "other", 0, NULL}, /* never the browser client */
    {"/*", GET | HEAD, ff_static_web, "web", 0, "GET|HEAD / (the browser client)"},
};

const size_t ff_routes_count = sizeof ff_routes / sizeof ff_routes[0];

enum MHD_Result ff_api_index(ff_req *r, void *app, const char *arg)
{
    (void)app;
    (void)arg;
    json_t *routes = json_array();
    for (size_t i = 0; i < ff_routes_count; i++)
        if (ff_routes[i].doc)
            json_array_append_new(routes, json_string(ff_routes[i].doc));
    return ff_req_send_json(r, 200, json_pack("{s:s,s:s,s:o}", "service", "FitsFlow", "version",
                                              FF_VERSION, "routes", routes));
}
