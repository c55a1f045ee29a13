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

/* What joining several parts carries from one part to the next. */
typedef struct joiner {
    const char *out_path;
    AVFormatContext *oc;
    AVCodecParameters *ref[16]; /* the first part's streams: the others must match them */
    int nstreams;
    int64_t last_dts[16];
    int64_t offset;             /* where the next part starts, in out stream 0's time base */
    AVPacket *pkt;
    char why[256];
} joiner;

/* The first readable part decides the output's streams; the output is opened and its header
 * written. -1 with err. */
static int start_output(joiner *j, AVFormatContext *ic, const char *input, ff_err *err)
{
    int r = av->avformat_alloc_output_context2(&j->oc, NULL, "mp4", j->out_path);
    if (r < 0 || !j->oc) {
        av_reason(r, j->why, sizeof j->why);
        return ff_err_set(err, "cannot set up the MP4 output: %s", j->why);
    }
    for (unsigned s = 0; s < ic->nb_streams && j->nstreams < 16; s++) {
        AVStream *is = ic->streams[s];
        AVStream *os = av->avformat_new_stream(j->oc, NULL);
        if (!os || av->avcodec_parameters_copy(os->codecpar, is->codecpar) < 0 ||
            !(j->ref[j->nstreams] = av->avcodec_parameters_alloc()) ||
            av->avcodec_parameters_copy(j->ref[j->nstreams], is->codecpar) < 0)
            return ff_err_set(err, "out of memory setting up the output streams");
        os->codecpar->codec_tag = 0;
        os->time_base = is->time_base;
        j->last_dts[j->nstreams] = INT64_MIN;
        j->nstreams++;
    }
    if (j->nstreams == 0 || ic->nb_streams > 16)
        return ff_err_set(err, "%s has %u streams; 1 to 16 are supported", input, ic->nb_streams);
    r = av->avio_open(&j->oc->pb, j->out_path, AVIO_FLAG_WRITE);
    if (r >= 0)
        r = av->avformat_write_header(j->oc, NULL);
    if (r < 0) {
        av_reason(r, j->why, sizeof j->why);
        return ff_err_set(err, "cannot start writing %s: %s", j->out_path, j->why);
    }
    return 0;
}

/* 1 when a later part has the first part's streams (why says otherwise). */
static int matches_output(joiner *j, AVFormatContext *ic)
{
    int ok = (int)ic->nb_streams == j->nstreams;
    if (!ok)
        snprintf(j->why, sizeof j->why, "%u streams instead of %d", ic->nb_streams, j->nstreams);
    for (int s = 0; ok && s < j->nstreams; s++)
        ok = same_params(j->ref[s], ic->streams[s]->codecpar, j->why, sizeof j->why);
    return ok;
}

/* A packet's times moved to where this part starts in the output, decoding order kept strictly
 * increasing across a join; *part_len grows to the part's end (in stream 0's time base). */
static void retime(joiner *j, AVFormatContext *ic, int64_t start, int64_t *part_len)
{
    AVPacket *pkt = j->pkt;
    int s = pkt->stream_index;
    AVRational ref_tb = j->oc->streams[0]->time_base;
    AVStream *is = ic->streams[s], *os = j->oc->streams[s];
    int64_t shift = av->av_rescale_q(j->offset, ref_tb, os->time_base) -
                    av->av_rescale_q(start, AV_TIME_BASE_Q, os->time_base);
    if (pkt->pts == AV_NOPTS_VALUE)
        pkt->pts = pkt->dts;
    if (pkt->dts == AV_NOPTS_VALUE)
        pkt->dts = pkt->pts;
    if (pkt->pts != AV_NOPTS_VALUE) {
        int64_t end = av->av_rescale_q(pkt->pts + pkt->duration, is->time_base, ref_tb) -
                      av->av_rescale_q(start, AV_TIME_BASE_Q, ref_tb);
        if (end > *part_len)
            *part_len = end;
    }
    av->av_packet_rescale_ts(pkt, is->time_base, os->time_base);
    if (pkt->pts != AV_NOPTS_VALUE) {
        pkt->pts += shift;
        pkt->dts += shift;
        if (j->last_dts[s] != INT64_MIN && pkt->dts <= j->last_dts[s]) {
            pkt->dts = j->last_dts[s] + 1;
            if (pkt->pts < pkt->dts)
                pkt->pts = pkt->dts;
        }
        j->last_dts[s] = pkt->dts;
    }
    pkt->pos = -1;
}

/* Copies the part's packets into the output: the packets written, or -1 with err when the
 * output could not take one. A part that ends early keeps what was read (its reason noted). */
static int64_t copy_part(joiner *j, AVFormatContext *ic, size_t part, ff_mp4concat_stats *st,
                         int64_t *part_len, ff_err *err)
{
    int64_t start = ic->start_time != AV_NOPTS_VALUE ? ic->start_time : 0; /* AV_TIME_BASE */
    int64_t written = 0;
    int r;
    while ((r = av->av_read_frame(ic, j->pkt)) >= 0) {
        int s = j->pkt->stream_index;
        if (s < 0 || s >= j->nstreams) {
            av->av_packet_unref(j->pkt);
            continue;
        }
        retime(j, ic, start, part_len);
        int w = av->av_interleaved_write_frame(j->oc, j->pkt);
        av->av_packet_unref(j->pkt);
        if (w < 0) {
            av_reason(w, j->why, sizeof j->why);
            return ff_err_set(err, "cannot write %s: %s", j->out_path, j->why);
        }
        written++;
    }
    if (r != AVERROR_EOF) {
        av_reason(r, j->why, sizeof j->why);
        add_reason(st, part, "ended early (%s); what was read is kept", j->why);
    }
    return written;
}

/* One part: opened, checked against the output (or starting it), copied. -1 with err only when
 * the output failed; a part that cannot be used is skipped with its reason. */
static int join_part(joiner *j, const char *input, size_t part, ff_mp4concat_stats *st, ff_err *err)
{
    AVFormatContext *ic = NULL;
    if (open_input(input, &ic, j->why, sizeof j->why) != 0) {
        st->skipped[part] = 1;
        add_reason(st, part, "cannot be read (%s)", j->why);
        return 0;
    }
    int rc = 0;
    int64_t part_len = 0, written = 0;
    if (!j->oc) {
        rc = start_output(j, ic, input, err);
    } else if (!matches_output(j, ic)) {
        st->skipped[part] = 1;
        add_reason(st, part, "%s", j->why);
        av->avformat_close_input(&ic);
        return 0;
    }
    if (rc == 0)
        written = copy_part(j, ic, part, st, &part_len, err);
    av->avformat_close_input(&ic);
    if (rc != 0 || written < 0)
        return -1;
    if (written == 0) {
        st->skipped[part] = 1;
        add_reason(st, part, "%s", "has no packets");
        return 0;
    }
    st->packets += written;
    st->parts_used++;
    j->offset += part_len;
    return 0;
}

int ff_mp4_concat(const char *const *inputs, size_t n, const char *out_path,
                  ff_mp4concat_stats *st, ff_err *err)
{
    memset(st, 0, sizeof *st);
    if (n == 0 || n > FF_MP4CONCAT_MAX_PARTS)
        return ff_err_set(err, "between 1 and %d parts can be joined, not %zu", FF_MP4CONCAT_MAX_PARTS, n);
    if (!(av = ff_av_load(err)))
        return -1;
    joiner j = {.out_path = out_path};
    if (!(j.pkt = av->av_packet_alloc()))
        return ff_err_set(err, "out of memory");
    int rc = 0;
    for (size_t part = 0; rc == 0 && part < n; part++)
        rc = join_part(&j, inputs[part], part, st, err);
    if (rc == 0 && (!j.oc || st->parts_used == 0))
        rc = ff_err_set(err, "none of the %zu parts could be used (%s)", n,
                        st->reasons[0] ? st->reasons : "empty");
    int t = rc == 0 ? av->av_write_trailer(j.oc) : 0;
    if (t < 0) {
        av_reason(t, j.why, sizeof j.why);
        rc = ff_err_set(err, "cannot finish %s: %s", out_path, j.why);
    }
    if (rc == 0)
        st->duration_s = j.offset * av_q2d(j.oc->streams[0]->time_base);
    if (j.oc) {
        if (j.oc->pb)
            av->avio_closep(&j.oc->pb);
        av->avformat_free_context(j.oc);
    }
    for (int s = 0; s < 16; s++)
        av->avcodec_parameters_free(&j.ref[s]);
    av->av_packet_free(&j.pkt);
    return rc;
}
