/* FFmpeg's libraries, loaded when the daily movie is built rather than when fitsflow starts:
 * libavformat alone pulls in about 130 shared libraries, and loading them cost every command
 * (and every Lambda cold start) tens of milliseconds. Only mp4concat.c uses this. */
#ifndef FF_CORE_MEDIA_AVLOAD_H
#define FF_CORE_MEDIA_AVLOAD_H

#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>

#include "base/err.h"

typedef struct ff_av_api {
    __typeof__(&avformat_open_input) avformat_open_input;
    __typeof__(&avformat_find_stream_info) avformat_find_stream_info;
    __typeof__(&avformat_close_input) avformat_close_input;
    __typeof__(&avformat_alloc_output_context2) avformat_alloc_output_context2;
    __typeof__(&avformat_new_stream) avformat_new_stream;
    __typeof__(&avformat_write_header) avformat_write_header;
    __typeof__(&avformat_free_context) avformat_free_context;
    __typeof__(&av_read_frame) av_read_frame;
    __typeof__(&av_interleaved_write_frame) av_interleaved_write_frame;
    __typeof__(&av_write_trailer) av_write_trailer;
    __typeof__(&avio_open) avio_open;
    __typeof__(&avio_closep) avio_closep;
    __typeof__(&avcodec_get_name) avcodec_get_name;
    __typeof__(&avcodec_parameters_alloc) avcodec_parameters_alloc;
    __typeof__(&avcodec_parameters_copy) avcodec_parameters_copy;
    __typeof__(&avcodec_parameters_free) avcodec_parameters_free;
    __typeof__(&av_packet_alloc) av_packet_alloc;
    __typeof__(&av_packet_free) av_packet_free;
    __typeof__(&av_packet_unref) av_packet_unref;
    __typeof__(&av_packet_rescale_ts) av_packet_rescale_ts;
    __typeof__(&av_rescale_q) av_rescale_q;
    __typeof__(&av_strerror) av_strerror;
} ff_av_api;

/* The loaded API (the same table on every call), or NULL with a reason naming the library that
 * could not be loaded. Thread-safe. */
const ff_av_api *ff_av_load(ff_err *err);

/* The library names (SONAMEs) loaded, NULL-terminated: what a packager must bundle. */
extern const char *const ff_av_libraries[];

#endif
