// The encode-and-mux steps the MP4 and GIF encoders share: packets out of an encoder into a file.
#pragma once
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

namespace fmp {

// Sends `frame` (nullptr: flush) to the encoder and writes every packet it gives back to the
// muxer. Each frame lasts one tick: the muxer needs that for the last frame, so a file lasts
// exactly frames / fps. Throws std::runtime_error("<format> export: ...") naming `out`.
void encode_and_write(AVCodecContext* ctx, AVFormatContext* fmt, AVStream* stream, AVPacket* packet,
                      const AVFrame* frame, const std::string& format, const std::string& out);

// Closes the muxer's file as it is (an abandoned one has no trailer; the caller deletes it) and
// frees the muxer.
void close_muxer(AVFormatContext*& fmt) noexcept;

}  // namespace fmp
