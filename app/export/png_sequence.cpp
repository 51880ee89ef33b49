// PNG frame sequences: frame_00000.png, ... written into a temporary directory that is renamed
// into place at the end.
#include <stb/stb_image_write.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "app/export/frame_sink.h"

namespace fmp {
namespace fs = std::filesystem;

namespace {

class PngSequenceEncoder final : public FrameEncoder {
  public:
    PngSequenceEncoder(std::string out_dir, std::string tmp_dir, const VideoSettings& s)
        : m_out(std::move(out_dir)), m_tmp(std::move(tmp_dir)), m_w(s.width), m_h(s.height) {
        std::error_code ec;
        fs::create_directory(m_tmp, ec);
        if (ec)
            throw std::runtime_error("could not create the temporary directory '" + m_tmp +
                                     "': " + ec.message());
    }
    ~PngSequenceEncoder() override { discard(); }

    void write_frame(const std::uint8_t* rgba, std::ptrdiff_t stride) override {
        // Opaque frames are stored as RGB (a third smaller); translucent ones keep their alpha
        // so a transparent background survives into slides.
        bool translucent = false;
        for (int y = 0; y < m_h && !translucent; ++y) {
            const std::uint8_t* row = rgba + stride * y;
            for (int x = 0; x < m_w; ++x)
                if (row[4 * x + 3] != 255) {
                    translucent = true;
                    break;
                }
        }
        int comp = translucent ? 4 : 3;
        m_pixels.resize(static_cast<std::size_t>(m_w) * m_h * comp);
        for (int y = 0; y < m_h; ++y) {
            const std::uint8_t* src = rgba + stride * y;
            std::uint8_t* dst = m_pixels.data() + static_cast<std::size_t>(y) * m_w * comp;
            for (int x = 0; x < m_w; ++x)
                for (int c = 0; c < comp; ++c) dst[x * comp + c] = src[4 * x + c];
        }
        char name[32];
        std::snprintf(name, sizeof name, "frame_%05d.png", m_index);
        std::string file = (fs::path(m_tmp) / name).string();
        if (!stbi_write_png(file.c_str(), m_w, m_h, comp, m_pixels.data(), m_w * comp))
            throw std::runtime_error("could not write PNG frame '" + file + "' (disk full?)");
        ++m_index;
    }

    void commit() override {
        // A previous export in the target (checked by FrameSink::open to hold only frame_*.png)
        // is moved aside first, so the new frames never mix with old ones.
        std::error_code ec;
        std::string old;
        if (fs::exists(m_out, ec)) {
            old = temporary_path_for(m_out);
            fs::rename(m_out, old, ec);
            if (ec)
                throw std::runtime_error("could not move the previous '" + m_out +
                                         "' aside: " + ec.message());
        }
        fs::rename(m_tmp, m_out, ec);
        if (ec) {
            std::error_code ignored;
            if (!old.empty()) fs::rename(old, m_out, ignored);
            throw std::runtime_error("could not rename the PNG frames into '" + m_out +
                                     "': " + ec.message());
        }
        m_committed = true;
        if (!old.empty()) fs::remove_all(old, ec);
    }

    void discard() noexcept override {
        if (m_committed) return;
        std::error_code ec;
        fs::remove_all(m_tmp, ec);
    }

    std::string describe() const override { return "PNG frames (frame_00000.png, ...)"; }

  private:
    std::string m_out, m_tmp;
    int m_w, m_h;
    int m_index = 0;
    bool m_committed = false;
    std::vector<std::uint8_t> m_pixels;
};

}  // namespace

std::unique_ptr<FrameEncoder> make_png_sequence_encoder(const std::string& out_dir,
                                                        const std::string& tmp_dir,
                                                        const VideoSettings& s) {
    return std::make_unique<PngSequenceEncoder>(out_dir, tmp_dir, s);
}

}  // namespace fmp
