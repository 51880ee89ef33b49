// Frame sinks: take rendered RGBA8 frames and write an MP4, a GIF or a PNG sequence, atomically.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace fmp {

enum class ExportFormat { Mp4, Gif, PngSequence };

// The format an output path asks for: "*.mp4" -> Mp4, "*.gif" -> Gif (case-insensitive); a path
// ending in '/', an existing directory, or a last component with no extension -> PngSequence.
// Any other extension throws InputError naming the choices.
ExportFormat export_format_for_path(const std::string& out_path);
const char* export_format_name(ExportFormat f);  // "mp4", "gif", "png"

struct VideoSettings {
    int width = 1280;  // frame size in pixels, 2..8192; MP4 needs both even (yuv420p)
    int height = 720;
    int fps = 30;  // 1..120; GIF stores delays in 1/100 s, so its timing is rounded
    int crf = 20;  // MP4 quality, 0 (lossless) .. 51 (worst); 18-23 looks clean
    // x264 speed/size trade-off, ultrafast .. veryslow. veryfast encodes 720p faster than real
    // time on 2 cores; ultrafast is ~3x cheaper again but ~1.6x larger (no B-frames, CAVLC).
    std::string mp4_preset = "veryfast";
    bool gif_dither = true;  // GIF: 8x8 ordered dithering between palette colours (less banding)
};

// What each format implements (one file each); FrameSink owns one and keeps the bookkeeping.
class FrameEncoder {
  public:
    virtual ~FrameEncoder() = default;
    // rgba is top row first; stride_bytes is negative for a bottom-up frame read from its last
    // row, so implementations address rows only as rgba + y * stride_bytes.
    virtual void write_frame(const std::uint8_t* rgba, std::ptrdiff_t stride_bytes) = 0;
    virtual void commit() = 0;            // flush, close, rename into place
    virtual void discard() noexcept = 0;  // close and remove temporaries
    virtual std::string describe() const = 0;
};

// One export in progress. Frames go to a temporary name next to the target; finish() renames it
// into place, so a cancelled or failed export never leaves anything under the final name.
// Not thread-safe: drive one sink from one thread (the encoders use their own threads).
// Any error in add_frame() or finish() removes the temporaries before it propagates; the sink is
// then closed and further calls throw std::logic_error.
class FrameSink {
  public:
    // Validates the path and settings and opens the temporary output. Throws InputError with one
    // line for: an unknown extension, a missing or unwritable parent directory, a .mp4/.gif path
    // that is a directory, a PNG target that is a non-empty directory not made by a previous
    // export, and out-of-range settings. Odd sizes for MP4 are rejected (not silently cropped) so
    // the video is exactly the size asked for; the message names the nearest even size.
    static std::unique_ptr<FrameSink> open(const std::string& out_path, const VideoSettings& s);

    FrameSink(std::string path, ExportFormat format, const VideoSettings& s,
              std::unique_ptr<FrameEncoder> encoder);
    FrameSink(const FrameSink&) = delete;
    FrameSink& operator=(const FrameSink&) = delete;
    ~FrameSink();  // cancel() if neither finish() nor cancel() was called

    // One frame of settings().width x height RGBA8 pixels, rows stride_bytes apart (>= 4*width).
    // top_row_first = false for OpenGL read-backs (glReadPixels returns the bottom row first).
    void add_frame(const std::uint8_t* rgba, int stride_bytes, bool top_row_first);
    // Flushes the encoder, closes the file and renames it to the final name. Throws InputError if
    // no frame was added (an empty video is not a valid file).
    void finish();
    // Removes the temporaries; nothing appears under the final name. Safe to call twice.
    void cancel();

    int frame_count() const { return m_frames; }
    const VideoSettings& settings() const { return m_settings; }
    const std::string& path() const { return m_path; }  // the final name
    ExportFormat format() const { return m_format; }
    // What is written, for logs and the GUI, e.g. "H.264 (libx264, yuv420p, crf 20)".
    std::string describe() const { return m_encoder->describe(); }

  private:
    enum class State { Open, Finished, Cancelled };
    void require_open(const char* what) const;
    std::string m_path;
    ExportFormat m_format;
    VideoSettings m_settings;
    std::unique_ptr<FrameEncoder> m_encoder;
    int m_frames = 0;
    State m_state = State::Open;
};

// Writes one image (e.g. a figure of the current view) through a temporary name and a rename.
// The format follows the extension: .png (RGBA if any pixel is translucent, else RGB) or .jpg.
void write_image(const std::string& out_path, const std::uint8_t* rgba, int width, int height,
                 int stride_bytes, bool top_row_first);

// ---- the encoders, one file each; FrameSink::open() picks by export_format_for_path().
// Each gets a final path already checked by open() and the temporary name to write to.
std::unique_ptr<FrameEncoder> make_mp4_encoder(const std::string& out_path,
                                               const std::string& tmp_path,
                                               const VideoSettings& s);  // video_encoder_mp4.cpp
std::unique_ptr<FrameEncoder> make_gif_encoder(const std::string& out_path,
                                               const std::string& tmp_path,
                                               const VideoSettings& s);  // gif_encoder.cpp
std::unique_ptr<FrameEncoder> make_png_sequence_encoder(
    const std::string& out_dir, const std::string& tmp_dir,
    const VideoSettings& s);  // png_sequence.cpp

// A fresh temporary name next to final_path: "<dir>/.<name>.part-<pid>-<n>".
std::string temporary_path_for(const std::string& final_path);

}  // namespace fmp
