/* Media types by name (mediatype.h). */
#include "base/mediatype.h"

#include <string.h>
#include <strings.h>

const char *ff_media_type(const char *key)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".txt", "text/plain; charset=utf-8"},
        {".json", "application/json"},
        {".csv", "text/csv; charset=utf-8"},
        {".npy", "application/octet-stream"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".asdf", "application/asdf"},
        {".fits", "application/fits"},
        {".fit", "application/fits"},
        {".fts", "application/fits"},
        {".gz", "application/gzip"},
        {".mp4", "video/mp4"},
        {".zip", "application/zip"},
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".mjs", "text/javascript; charset=utf-8"},
    };
    const char *slash = strrchr(key, '/');
    const char *dot = strrchr(slash ? slash : key, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot, types[i].ext))
                return types[i].type;
    return "application/octet-stream";
}
