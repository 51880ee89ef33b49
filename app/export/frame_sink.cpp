// Output-path checks, temporary names and the bookkeeping shared by every frame sink.
#include "app/export/frame_sink.h"

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "core/base/file_io.h"
#include "core/base/types.h"

namespace fmp {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

const char* const kFormatChoices =
    "use a name ending in .mp4 (H.264 video), .gif (looping GIF), or a directory such as frames/ "
    "(PNG frames)";

// The directory the output goes into; "" means the current one.
fs::path parent_of(const fs::path& p) {
    fs::path parent = p.parent_path();
    return parent.empty() ? fs::path(".") : parent;
}

void check_writable_parent(const fs::path& target) {
    fs::path parent = parent_of(target);
    std::error_code ec;
    if (!fs::exists(parent, ec))
        throw InputError("cannot write '" + target.string() + "': directory '" + parent.string() +
                         "' does not exist");
    if (!fs::is_directory(parent, ec))
        throw InputError("cannot write '" + target.string() + "': '" + parent.string() +
                         "' is not a directory");
    if (::access(parent.c_str(), W_OK | X_OK) != 0)
        throw InputError("cannot write '" + target.string() + "': no permission to write in '" +
                         parent.string() + "'");
}

// A directory that a previous PNG export made (only frame_NNNNN.png files) may be replaced.
bool is_previous_png_export(const fs::path& dir) {
    static const std::regex frame_name(R"(frame_\d{5,}\.png)");
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
        if (!e.is_regular_file(ec)) return false;
        if (!std::regex_match(e.path().filename().string(), frame_name)) return false;
    }
    return !ec;
}

void check_settings(ExportFormat f, const VideoSettings& s) {
    if (s.width < 2 || s.width > 8192 || s.height < 2 || s.height > 8192)
        throw InputError("video size " + std::to_string(s.width) + "x" + std::to_string(s.height) +
                         " is out of range: width and height must be 2..8192");
    if (s.fps < 1 || s.fps > 120)
        throw InputError("fps " + std::to_string(s.fps) + " is out of range: use 1..120");
    if (s.crf < 0 || s.crf > 51)
        throw InputError("crf " + std::to_string(s.crf) + " is out of range: use 0..51");
    static const std::vector<std::string> presets = {"ultrafast", "superfast", "veryfast",
                                                     "faster",    "fast",      "medium",
                                                     "slow",      "slower",    "veryslow"};
    if (std::find(presets.begin(), presets.end(), s.mp4_preset) == presets.end())
        throw InputError("unknown MP4 preset '" + s.mp4_preset + "': use " + join_names(presets));
    if (f == ExportFormat::Mp4 && (s.width % 2 != 0 || s.height % 2 != 0))
        throw InputError("MP4 (yuv420p) needs an even width and height; got " +
                         std::to_string(s.width) + "x" + std::to_string(s.height) + ", use " +
                         std::to_string(s.width + s.width % 2) + "x" +
                         std::to_string(s.height + s.height % 2));
}

}  // namespace

ExportFormat export_format_for_path(const std::string& out_path) {
    if (out_path.empty()) throw InputError(std::string("no output path given: ") + kFormatChoices);
    if (out_path.back() == '/') return ExportFormat::PngSequence;
    fs::path p(out_path);
    std::string ext = lower(p.extension().string());
    if (ext == ".mp4") return ExportFormat::Mp4;
    if (ext == ".gif") return ExportFormat::Gif;
    std::error_code ec;
    if (ext.empty() || fs::is_directory(p, ec)) return ExportFormat::PngSequence;
    throw InputError("unknown output format '" + p.extension().string() + "' in '" + out_path +
                     "': " + kFormatChoices);
}

const char* export_format_name(ExportFormat f) {
    switch (f) {
        case ExportFormat::Mp4:
            return "mp4";
        case ExportFormat::Gif:
            return "gif";
        case ExportFormat::PngSequence:
            return "png";
    }
    return "?";
}

// The encoders write under a hidden temporary name beside the output; what a killed export left
// there before is removed first.
std::string temporary_path_for(const std::string& final_path) {
    fs::path parent = fs::path(final_path).parent_path();
    remove_stale_temporaries(parent.empty() ? "." : parent.string());
    return temporary_sibling(final_path);
}

std::unique_ptr<FrameSink> FrameSink::open(const std::string& out_path, const VideoSettings& s) {
    ExportFormat f = export_format_for_path(out_path);
    check_settings(f, s);
    std::error_code ec;
    if (f == ExportFormat::PngSequence) {
        std::string dir = out_path;
        while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
        fs::path p(dir);
        std::string name = p.filename().string();
        if (name.empty() || name == "." || name == "..")
            throw InputError("'" + out_path +
                             "' cannot hold PNG frames: give a new directory "
                             "name such as frames/");
        check_writable_parent(p);
        if (fs::exists(p, ec)) {
            if (!fs::is_directory(p, ec))
                throw InputError("'" + dir + "' exists and is not a directory: " + kFormatChoices);
            if (!is_previous_png_export(p))
                throw InputError("directory '" + dir +
                                 "' holds files other than frame_*.png; "
                                 "choose a new directory for PNG frames");
        }
        std::string tmp = temporary_path_for(dir);
        return std::make_unique<FrameSink>(dir, f, s, make_png_sequence_encoder(dir, tmp, s));
    }
    fs::path p(out_path);
    if (fs::is_directory(p, ec))
        throw InputError("'" + out_path + "' is a directory; give a file name ending in ." +
                         export_format_name(f));
    check_writable_parent(p);
    std::string tmp = temporary_path_for(out_path);
    std::unique_ptr<FrameEncoder> enc = f == ExportFormat::Mp4 ? make_mp4_encoder(out_path, tmp, s)
                                                               : make_gif_encoder(out_path, tmp, s);
    return std::make_unique<FrameSink>(out_path, f, s, std::move(enc));
}

FrameSink::FrameSink(std::string path, ExportFormat format, const VideoSettings& s,
                     std::unique_ptr<FrameEncoder> encoder)
    : m_path(std::move(path)), m_format(format), m_settings(s), m_encoder(std::move(encoder)) {}

FrameSink::~FrameSink() {
    cancel();
}

void FrameSink::require_open(const char* what) const {
    if (m_state != State::Open)
        throw std::logic_error(std::string("FrameSink::") + what + ": the export of '" + m_path +
                               "' is already " +
                               (m_state == State::Finished ? "finished" : "cancelled"));
}

void FrameSink::add_frame(const std::uint8_t* rgba, int stride_bytes, bool top_row_first) {
    require_open("add_frame");
    if (!rgba || stride_bytes < 4 * m_settings.width)
        throw std::invalid_argument("FrameSink::add_frame: null frame or stride below 4*width");
    // A bottom-up frame is a top-down one that starts at its last row with a negative stride.
    std::ptrdiff_t stride = stride_bytes;
    const std::uint8_t* first = rgba;
    if (!top_row_first) {
        first = rgba + stride * (m_settings.height - 1);
        stride = -stride;
    }
    try {
        m_encoder->write_frame(first, stride);
    } catch (...) {
        m_encoder->discard();
        m_state = State::Cancelled;
        throw;
    }
    ++m_frames;
}

void FrameSink::finish() {
    require_open("finish");
    if (m_frames == 0) {
        cancel();
        throw InputError("nothing to export to '" + m_path + "': no frames were rendered");
    }
    try {
        m_encoder->commit();
    } catch (...) {
        m_encoder->discard();
        m_state = State::Cancelled;
        throw;
    }
    m_state = State::Finished;
}

void FrameSink::cancel() {
    if (m_state != State::Open) return;
    m_encoder->discard();
    m_state = State::Cancelled;
}

void write_image(const std::string& out_path, const std::uint8_t* rgba, int width, int height,
                 int stride_bytes, bool top_row_first) {
    fs::path p(out_path);
    std::string ext = lower(p.extension().string());
    if (ext != ".png" && ext != ".jpg" && ext != ".jpeg")
        throw InputError("unknown image format '" + p.extension().string() + "' in '" + out_path +
                         "': use a name ending in .png or .jpg");
    std::error_code ec;
    if (fs::is_directory(p, ec))
        throw InputError("'" + out_path + "' is a directory; give a file name ending in .png");
    if (width < 1 || height < 1 || !rgba || stride_bytes < 4 * width)
        throw std::invalid_argument("write_image: empty image or stride below 4*width");
    check_writable_parent(p);

    // Opaque images are written as RGB: a third smaller, and JPEG has no alpha anyway.
    bool translucent = false;
    for (int y = 0; y < height && !translucent; ++y) {
        const std::uint8_t* row = rgba + static_cast<std::ptrdiff_t>(y) * stride_bytes;
        for (int x = 0; x < width; ++x)
            if (row[4 * x + 3] != 255) {
                translucent = true;
                break;
            }
    }
    int comp = (translucent && ext == ".png") ? 4 : 3;
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width) * height * comp);
    for (int y = 0; y < height; ++y) {
        int src_y = top_row_first ? y : height - 1 - y;
        const std::uint8_t* src = rgba + static_cast<std::ptrdiff_t>(src_y) * stride_bytes;
        std::uint8_t* dst = pixels.data() + static_cast<std::size_t>(y) * width * comp;
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < comp; ++c) dst[x * comp + c] = src[4 * x + c];
    }
    std::string tmp = temporary_path_for(out_path);
    int ok = ext == ".png"
                 ? stbi_write_png(tmp.c_str(), width, height, comp, pixels.data(), width * comp)
                 : stbi_write_jpg(tmp.c_str(), width, height, comp, pixels.data(), 95);
    if (!ok) {
        fs::remove(tmp, ec);
        throw std::runtime_error("could not write '" + out_path + "' (disk full?)");
    }
    fs::rename(tmp, p, ec);
    if (ec) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw std::runtime_error("could not rename the image into '" + out_path +
                                 "': " + ec.message());
    }
}

}  // namespace fmp
