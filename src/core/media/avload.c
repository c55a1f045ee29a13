/* dlopen of libavformat, libavcodec and libavutil, the versions the headers were built with. */
#include "core/media/avload.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define SONAME(name, major) "lib" name ".so." AV_STRINGIFY(major)

const char *const ff_av_libraries[] = {
    SONAME("avutil", LIBAVUTIL_VERSION_MAJOR),
    SONAME("avcodec", LIBAVCODEC_VERSION_MAJOR),
    SONAME("avformat", LIBAVFORMAT_VERSION_MAJOR),
    NULL,
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static ff_av_api api;
static int loaded;
static char reason[FF_ERR_MAX];

static void load(void)
{
    void *h[3];
    for (int i = 0; i < 3; i++) {
        /* RTLD_GLOBAL: libavformat's own references to libavcodec/libavutil resolve to these. */
        h[i] = dlopen(ff_av_libraries[i], RTLD_NOW | RTLD_GLOBAL);
        if (!h[i]) {
            const char *e = dlerror();
            snprintf(reason, sizeof reason, "cannot load %s (FFmpeg, needed for the daily movie): %s",
                     ff_av_libraries[i], e ? e : "unknown error");
            return;
        }
    }
    void *util = h[0], *codec = h[1], *format = h[2];
#define GET(lib, fn)                                                                              \
    do {                                                                                          \
        void *p = dlsym(lib, #fn);                                                                \
        if (!p) {                                                                                 \
            snprintf(reason, sizeof reason, "FFmpeg's %s has no %s", #lib, #fn);                  \
            return;                                                                               \
        }                                                                                         \
        memcpy(&api.fn, &p, sizeof p);                                                            \
    } while (0)
    GET(format, avformat_open_input);
    GET(format, avformat_find_stream_info);
    GET(format, avformat_close_input);
    GET(format, avformat_alloc_output_context2);
    GET(format, avformat_new_stream);
    GET(format, avformat_write_header);
    GET(format, avformat_free_context);
    GET(format, av_read_frame);
    GET(format, av_interleaved_write_frame);
    GET(format, av_write_trailer);
    GET(format, avio_open);
    GET(format, avio_closep);
    GET(codec, avcodec_get_name);
    GET(codec, avcodec_parameters_alloc);
    GET(codec, avcodec_parameters_copy);
    GET(codec, avcodec_parameters_free);
    GET(codec, av_packet_alloc);
    GET(codec, av_packet_free);
    GET(codec, av_packet_unref);
    GET(codec, av_packet_rescale_ts);
    GET(util, av_rescale_q);
    GET(util, av_strerror);
#undef GET
    loaded = 1;
}

const ff_av_api *ff_av_load(ff_err *err)
{
    pthread_once(&once, load);
    if (!loaded) {
        ff_err_set(err, "%s", reason);
        return NULL;
    }
    return &api;
}
