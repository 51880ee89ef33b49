// MP4 export: H.264 in yuv420p through libavcodec/libavformat, muxed with +faststart.
//
// Why the libraries and not the ffmpeg program through a pipe: the app then has no runtime
// dependency on an ffmpeg binary being on PATH (only on the shared libraries it links, which
// the package manager guarantees), errors come back as return codes we turn into one-line
// messages instead of a child's stderr to parse, cancelling is just closing our own file (no
// child process to kill, no broken pipe or zombie on failure), and progress is exact because
// every frame is handed over synchronously.
//
// Encoder choice: "libx264" (Debian's FFmpeg has it) with preset VideoSettings::mp4_preset,
// "veryfast" by default -- on a 2-core machine it keeps up with 720p at 30 fps, which the export
// budget needs, while CRF keeps the quality; profile High, so browsers, PowerPoint, Keynote and
// phones all play it. Without libx264 the first software H.264 encoder that opens is used, and
// failing that MPEG-4 Part 2 ("mpeg4", always built into libavcodec), so an export never fails
// for want of a codec.
#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "app/export/av_error.h"
#include "app/export/av_mux.h"
#include "app/export/frame_sink.h"
#include "core/base/parallel.h"

namespace fmp {
namespace fs = std::filesystem;

namespace {

class Mp4Encoder final : public FrameEncoder {
  public:
    Mp4Encoder(std::string out, std::string tmp, const VideoSettings& s)
        : m_out(std::move(out)), m_tmp(std::move(tmp)), m_settings(s) {
        // libx264 prints its statistics at AV_LOG_INFO; errors reach the user as exceptions.
        av_log_set_level(AV_LOG_ERROR);
        try {
            open();
        } catch (...) {
            discard();
            throw;
        }
    }
    ~Mp4Encoder() override { discard(); }

    void write_frame(const std::uint8_t* rgba, std::ptrdiff_t stride) override {
        int err = av_frame_make_writable(m_frame);
        if (err < 0) throw std::runtime_error("MP4 export: out of memory (" + av_error(err) + ")");
        const std::uint8_t* src[1] = {rgba};
        const int src_stride[1] = {static_cast<int>(stride)};  // negative for bottom-up frames
        sws_scale(m_sws, src, src_stride, 0, m_settings.height, m_frame->data, m_frame->linesize);
        m_frame->pts = m_next_pts++;
        send(m_frame);
    }

    void commit() override {
        send(nullptr);  // drain the frames the encoder holds back for B-frames and lookahead
        int err = av_write_trailer(m_fmt);  // with +faststart this moves the index to the front
        if (err < 0)
            throw std::runtime_error("MP4 export: could not finish '" + m_out +
                                     "': " + av_error(err));
        err = avio_closep(&m_fmt->pb);
        if (err < 0)
            throw std::runtime_error("MP4 export: could not write '" + m_out +
                                     "': " + av_error(err));
        release();
        std::error_code ec;
        fs::rename(m_tmp, m_out, ec);
        if (ec)
            throw std::runtime_error("MP4 export: could not rename into '" + m_out +
                                     "': " + ec.message());
        m_committed = true;
    }

    void discard() noexcept override {
        release();
        if (m_committed) return;
        std::error_code ec;
        fs::remove(m_tmp, ec);
    }

    std::string describe() const override {
        std::string name = m_codec_name;
        if (name == "libx264") name += " " + m_settings.mp4_preset;
        return std::string(m_is_h264 ? "H.264" : "MPEG-4 Part 2") + " (" + name + ", yuv420p, " +
               (m_crf_used ? "crf " + std::to_string(m_settings.crf) : "fixed quality") + ")";
    }

  private:
    void open() {
        const VideoSettings& s = m_settings;
        int err = avformat_alloc_output_context2(&m_fmt, nullptr, "mp4", m_tmp.c_str());
        if (err < 0 || !m_fmt)
            throw std::runtime_error("MP4 export: libavformat has no mp4 muxer (" + av_error(err) +
                                     ")");
        open_codec();

        m_stream = avformat_new_stream(m_fmt, nullptr);
        if (!m_stream) throw std::runtime_error("MP4 export: out of memory");
        m_stream->time_base = m_ctx->time_base;
        m_stream->avg_frame_rate = m_ctx->framerate;
        err = avcodec_parameters_from_context(m_stream->codecpar, m_ctx);
        if (err < 0) throw std::runtime_error("MP4 export: " + av_error(err));

        err = avio_open(&m_fmt->pb, m_tmp.c_str(), AVIO_FLAG_WRITE);
        if (err < 0)
            throw std::runtime_error("MP4 export: cannot create '" + m_tmp + "': " + av_error(err));
        AVDictionary* mux = nullptr;
        // The index (moov) goes before the data so browsers start playing before the download ends.
        av_dict_set(&mux, "movflags", "+faststart", 0);
        err = avformat_write_header(m_fmt, &mux);
        av_dict_free(&mux);
        if (err < 0)
            throw std::runtime_error("MP4 export: cannot write the header: " + av_error(err));

        m_frame = av_frame_alloc();
        m_packet = av_packet_alloc();
        if (!m_frame || !m_packet) throw std::runtime_error("MP4 export: out of memory");
        m_frame->format = AV_PIX_FMT_YUV420P;
        m_frame->width = s.width;
        m_frame->height = s.height;
        err = av_frame_get_buffer(m_frame, 0);
        if (err < 0) throw std::runtime_error("MP4 export: out of memory (" + av_error(err) + ")");

        // Same size in and out, so this is only the colour conversion and 2x2 chroma averaging.
        m_sws = sws_getContext(s.width, s.height, AV_PIX_FMT_RGBA, s.width, s.height,
                               AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr, nullptr, nullptr);
        if (!m_sws) throw std::runtime_error("MP4 export: no RGBA -> yuv420p conversion");
        // BT.709 limited range, matching the tags on the stream: what players assume for HD.
        sws_setColorspaceDetails(m_sws, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 sws_getCoefficients(SWS_CS_ITU709), 0, 0, 1 << 16, 1 << 16);
    }

    // Tries libx264, then the other H.264 encoders, then mpeg4; the first that opens wins.
    void open_codec() {
        std::vector<const AVCodec*> candidates;
        if (const AVCodec* x264 = avcodec_find_encoder_by_name("libx264"))
            candidates.push_back(x264);
        void* it = nullptr;
        while (const AVCodec* c = av_codec_iterate(&it)) {
            // Hardware encoders need devices and hardware frames; skip them.
            if (av_codec_is_encoder(c) && c->id == AV_CODEC_ID_H264 &&
                std::string(c->name) != "libx264" && !(c->capabilities & AV_CODEC_CAP_HARDWARE))
                candidates.push_back(c);
        }
        if (const AVCodec* mpeg4 = avcodec_find_encoder(AV_CODEC_ID_MPEG4))
            candidates.push_back(mpeg4);

        std::string failures;
        for (const AVCodec* codec : candidates) {
            int err = try_open(codec);
            if (err >= 0) {
                m_codec_name = codec->name;
                m_is_h264 = codec->id == AV_CODEC_ID_H264;
                return;
            }
            failures +=
                std::string(failures.empty() ? "" : ", ") + codec->name + ": " + av_error(err);
            avcodec_free_context(&m_ctx);
        }
        throw std::runtime_error("MP4 export: no H.264 or MPEG-4 encoder could be opened (" +
                                 (failures.empty() ? std::string("none built in") : failures) +
                                 ")");
    }

    int try_open(const AVCodec* codec) {
        const VideoSettings& s = m_settings;
        m_ctx = avcodec_alloc_context3(codec);
        if (!m_ctx) return AVERROR(ENOMEM);
        m_ctx->width = s.width;
        m_ctx->height = s.height;
        m_ctx->pix_fmt = AV_PIX_FMT_YUV420P;
        m_ctx->time_base = AVRational{1, s.fps};  // one tick per frame: pts = frame index
        m_ctx->framerate = AVRational{s.fps, 1};
        m_ctx->gop_size = 2 * s.fps;  // a keyframe every 2 s keeps scrubbing in slides snappy
        m_ctx->thread_count = thread_count();
        m_ctx->color_range = AVCOL_RANGE_MPEG;
        m_ctx->colorspace = AVCOL_SPC_BT709;
        m_ctx->color_primaries = AVCOL_PRI_BT709;
        m_ctx->color_trc = AVCOL_TRC_BT709;
        if (m_fmt->oformat->flags & AVFMT_GLOBALHEADER) m_ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;

        AVDictionary* opts = nullptr;
        std::string name = codec->name;
        m_crf_used = false;
        if (name == "libx264") {
            av_dict_set(&opts, "preset", s.mp4_preset.c_str(), 0);
            av_dict_set(&opts, "crf", std::to_string(s.crf).c_str(), 0);
            // crf 0 is lossless, which needs the High 4:4:4 Predictive profile; x264 picks it.
            if (s.crf > 0) av_dict_set(&opts, "profile", "high", 0);
            m_crf_used = true;
        } else if (codec->id == AV_CODEC_ID_MPEG4) {
            // Constant quantizer 2 (best) .. 31; crf 20 maps to 5, a clean picture.
            m_ctx->flags |= AV_CODEC_FLAG_QSCALE;
            m_ctx->global_quality = FF_QP2LAMBDA * std::clamp(1 + s.crf / 5, 2, 31);
        } else {
            // Other H.264 encoders: a bitrate of ~0.1 bit per pixel, plenty for flat-shaded plots.
            m_ctx->bit_rate = static_cast<std::int64_t>(0.1 * s.width * s.height * s.fps);
        }
        int err = avcodec_open2(m_ctx, codec, &opts);
        av_dict_free(&opts);
        return err;
    }

    void send(const AVFrame* frame) {
        encode_and_write(m_ctx, m_fmt, m_stream, m_packet, frame, "MP4", m_out);
    }

    void release() noexcept {
        close_muxer(m_fmt);  // an abandoned file is closed as it is; discard() deletes it
        avcodec_free_context(&m_ctx);
        av_frame_free(&m_frame);
        av_packet_free(&m_packet);
        sws_freeContext(m_sws);
        m_sws = nullptr;
    }

    std::string m_out, m_tmp;
    VideoSettings m_settings;
    AVFormatContext* m_fmt = nullptr;
    AVCodecContext* m_ctx = nullptr;
    AVStream* m_stream = nullptr;
    AVFrame* m_frame = nullptr;
    AVPacket* m_packet = nullptr;
    SwsContext* m_sws = nullptr;
    std::int64_t m_next_pts = 0;
    std::string m_codec_name;
    bool m_is_h264 = false;
    bool m_crf_used = false;
    bool m_committed = false;
};

}  // namespace

std::unique_ptr<FrameEncoder> make_mp4_encoder(const std::string& out_path,
                                               const std::string& tmp_path,
                                               const VideoSettings& s) {
    return std::make_unique<Mp4Encoder>(out_path, tmp_path, s);
}

}  // namespace fmp
