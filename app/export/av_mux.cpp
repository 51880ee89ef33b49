// The encode-and-mux steps the MP4 and GIF encoders share.
#include "app/export/av_mux.h"

#include <stdexcept>

#include "app/export/av_error.h"

namespace fmp {

void encode_and_write(AVCodecContext* ctx, AVFormatContext* fmt, AVStream* stream, AVPacket* packet,
                      const AVFrame* frame, const std::string& format, const std::string& out) {
    int err = avcodec_send_frame(ctx, frame);
    if (err < 0) throw std::runtime_error(format + " export: encoder error: " + av_error(err));
    for (;;) {
        err = avcodec_receive_packet(ctx, packet);
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
        if (err < 0) throw std::runtime_error(format + " export: encoder error: " + av_error(err));
        if (packet->duration <= 0) packet->duration = 1;
        av_packet_rescale_ts(packet, ctx->time_base, stream->time_base);
        packet->stream_index = stream->index;
        err = av_interleaved_write_frame(fmt, packet);  // takes the packet's data
        if (err < 0)
            throw std::runtime_error(format + " export: cannot write '" + out + "': " + av_error(err) +
                                     " (disk full?)");
    }
}

void close_muxer(AVFormatContext*& fmt) noexcept {
    if (!fmt) return;
    if (fmt->pb) avio_closep(&fmt->pb);
    avformat_free_context(fmt);
    fmt = nullptr;
}

}  // namespace fmp
