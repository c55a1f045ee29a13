/* MP4 concatenation by remuxing with libavformat: no decoding, no encoding, no ffmpeg process. */
#include "core/media/mp4concat.h"

#include <stdio.h>
#include <string.h>

#include "core/media/avload.h"

/* Every FFmpeg call goes through the table loaded on first use (core/avload.h). */
static const ff_av_api *av;

static void av_reason(int code, char *buf, size_t size)
{
    if (av->av_strerror(code, buf, size) < 0)
        snprintf(buf, size, "libav error %d", code);
}

static void add_reason(ff_mp4concat_stats *st, size_t part, const char *fmt, const char *detail)
{
    size_t n = strlen(st->reasons);
    if (n + 8 >= sizeof st->reasons)
        return;
    char what[256];
    snprintf(what, sizeof what, fmt, detail);
    snprintf(st->reasons + n, sizeof st->reasons - n, "%spart %zu: %s", n ? "; " : "", part + 1, what);
}

static int open_input(const char *path, AVFormatContext **ic, char *why, size_t whysize)
{
    *ic = NULL;
    int rc = av->avformat_open_input(ic, path, NULL, NULL);
    if (rc >= 0)
        rc = av->avformat_find_stream_info(*ic, NULL);
    if (rc < 0) {
        av_reason(rc, why, whysize);
        av->avformat_close_input(ic);
        return -1;
    }
    return 0;
}

static int same_params(const AVCodecParameters *a, const AVCodecParameters *b, char *why, size_t size)
{
    if (a->codec_type != b->codec_type || a->codec_id != b->codec_id) {
        snprintf(why, size, "codec %s instead of %s", av->avcodec_get_name(b->codec_id), av->avcodec_get_name(a->codec_id));
        return 0;
    }
    if (a->codec_type == AVMEDIA_TYPE_VIDEO &&
        (a->width != b->width || a->height != b->height || a->format != b->format)) {
        snprintf(why, size, "video %dx%d (format %d) instead of %dx%d (format %d)", b->width, b->height,
                 b->format, a->width, a->height, a->format);
        return 0;
    }
    if (a->codec_type == AVMEDIA_TYPE_AUDIO && (a->sample_rate != b->sample_rate || a->format != b->format)) {
        snprintf(why, size, "audio %d Hz instead of %d Hz", b->sample_rate, a->sample_rate);
        return 0;
    }
    if (a->extradata_size != b->extradata_size ||
        (a->extradata_size > 0 && memcmp(a->extradata, b->extradata, (size_t)a->extradata_size))) {
        snprintf(why, size, "encoded with different codec settings (extradata differs)");
        return 0;
    }
    return 1;
}

int ff_mp4_concat(const char *const *inputs, size_t n, const char *out_path,
                  ff_mp4concat_stats *st, ff_err *err)
{
    memset(st, 0, sizeof *st);
    if (n == 0 || n > FF_MP4CONCAT_MAX_PARTS)
        return ff_err_set(err, "between 1 and %d parts can be joined, not %zu", FF_MP4CONCAT_MAX_PARTS, n);
    if (!(av = ff_av_load(err)))
        return -1;
    char why[256];
    AVFormatContext *oc = NULL, *ic = NULL;
    AVCodecParameters *ref[16] = {0};
    int nstreams = 0, rc = -1;
    int64_t last_dts[16];
    int64_t offset = 0; /* where the next part starts, in out stream 0's time base */
    AVPacket *pkt = av->av_packet_alloc();
    if (!pkt)
        return ff_err_set(err, "out of memory");

    for (size_t part = 0; part < n; part++) {
        if (open_input(inputs[part], &ic, why, sizeof why) != 0) {
            st->skipped[part] = 1;
            add_reason(st, part, "cannot be read (%s)", why);
            continue;
        }
        if (!oc) {
            /* The first readable part decides the output's streams. */
            int r = av->avformat_alloc_output_context2(&oc, NULL, "mp4", out_path);
            if (r < 0 || !oc) {
                av_reason(r, why, sizeof why);
                ff_err_set(err, "cannot set up the MP4 output: %s", why);
                goto done;
            }
            for (unsigned s = 0; s < ic->nb_streams && nstreams < 16; s++) {
                AVStream *is = ic->streams[s];
                AVStream *os = av->avformat_new_stream(oc, NULL);
                if (!os || av->avcodec_parameters_copy(os->codecpar, is->codecpar) < 0 ||
                    !(ref[nstreams] = av->avcodec_parameters_alloc()) ||
                    av->avcodec_parameters_copy(ref[nstreams], is->codecpar) < 0) {
                    ff_err_set(err, "out of memory setting up the output streams");
                    goto done;
                }
                os->codecpar->codec_tag = 0;
                os->time_base = is->time_base;
                last_dts[nstreams] = INT64_MIN;
                nstreams++;
            }
            if (nstreams == 0 || ic->nb_streams > 16) {
                ff_err_set(err, "%s has %u streams; 1 to 16 are supported", inputs[part], ic->nb_streams);
                goto done;
            }
            int r2 = av->avio_open(&oc->pb, out_path, AVIO_FLAG_WRITE);
            if (r2 >= 0)
                r2 = av->avformat_write_header(oc, NULL);
            if (r2 < 0) {
                av_reason(r2, why, sizeof why);
                ff_err_set(err, "cannot start writing %s: %s", out_path, why);
                goto done;
            }
        } else {
            int ok = (int)ic->nb_streams == nstreams;
            if (!ok)
                snprintf(why, sizeof why, "%u streams instead of %d", ic->nb_streams, nstreams);
            for (int s = 0; ok && s < nstreams; s++)
                ok = same_params(ref[s], ic->streams[s]->codecpar, why, sizeof why);
            if (!ok) {
                st->skipped[part] = 1;
                add_reason(st, part, "%s", why);
                av->avformat_close_input(&ic);
                continue;
            }
        }
        AVRational ref_tb = oc->streams[0]->time_base;
        int64_t start = ic->start_time != AV_NOPTS_VALUE ? ic->start_time : 0; /* AV_TIME_BASE */
        int64_t part_len = 0; /* in ref_tb */
        int64_t written = 0;
        int r;
        while ((r = av->av_read_frame(ic, pkt)) >= 0) {
            int s = pkt->stream_index;
            if (s < 0 || s >= nstreams) {
                av->av_packet_unref(pkt);
                continue;
            }
            AVStream *is = ic->streams[s], *os = oc->streams[s];
            int64_t shift = av->av_rescale_q(offset, ref_tb, os->time_base) -
                            av->av_rescale_q(start, AV_TIME_BASE_Q, os->time_base);
            if (pkt->pts == AV_NOPTS_VALUE)
                pkt->pts = pkt->dts;
            if (pkt->dts == AV_NOPTS_VALUE)
                pkt->dts = pkt->pts;
            if (pkt->pts != AV_NOPTS_VALUE) {
                int64_t end = av->av_rescale_q(pkt->pts + pkt->duration, is->time_base, ref_tb) -
                              av->av_rescale_q(start, AV_TIME_BASE_Q, ref_tb);
                if (end > part_len)
                    part_len = end;
            }
            av->av_packet_rescale_ts(pkt, is->time_base, os->time_base);
            if (pkt->pts != AV_NOPTS_VALUE) {
                pkt->pts += shift;
                pkt->dts += shift;
                if (last_dts[s] != INT64_MIN && pkt->dts <= last_dts[s]) {
                    /* Keep decoding order strictly increasing across a join. */
                    pkt->dts = last_dts[s] + 1;
                    if (pkt->pts < pkt->dts)
                        pkt->pts = pkt->dts;
                }
                last_dts[s] = pkt->dts;
            }
            pkt->pos = -1;
            int w = av->av_interleaved_write_frame(oc, pkt);
            av->av_packet_unref(pkt);
            if (w < 0) {
                av_reason(w, why, sizeof why);
                ff_err_set(err, "cannot write %s: %s", out_path, why);
                goto done;
            }
            written++;
        }
        if (r != AVERROR_EOF) {
            av_reason(r, why, sizeof why);
            add_reason(st, part, "ended early (%s); what was read is kept", why);
        }
        av->avformat_close_input(&ic);
        if (written == 0) {
            st->skipped[part] = 1;
            add_reason(st, part, "%s", "has no packets");
            continue;
        }
        st->packets += written;
        st->parts_used++;
        offset += part_len;
    }
    if (!oc || st->parts_used == 0) {
        ff_err_set(err, "none of the %zu parts could be used (%s)", n, st->reasons[0] ? st->reasons : "empty");
        goto done;
    }
    int t = av->av_write_trailer(oc);
    if (t < 0) {
        av_reason(t, why, sizeof why);
        ff_err_set(err, "cannot finish %s: %s", out_path, why);
        goto done;
    }
    st->duration_s = offset * av_q2d(oc->streams[0]->time_base);
    rc = 0;
done:
    if (ic)
        av->avformat_close_input(&ic);
    if (oc) {
        if (oc->pb)
            av->avio_closep(&oc->pb);
        av->avformat_free_context(oc);
    }
    for (int s = 0; s < 16; s++)
        av->avcodec_parameters_free(&ref[s]);
    av->av_packet_free(&pkt);
    return rc;
}
