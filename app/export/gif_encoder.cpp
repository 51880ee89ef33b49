// GIF export: one global 256-colour palette for the whole clip, ordered dithering, infinite loop;
// LZW and frame-difference cropping by libavcodec's "gif" encoder, container by its gif muxer.
//
// A global palette needs every frame before the first can be written, yet holding 150 frames of
// 720p RGBA would take 550 MB. So the work is split in two passes with bounded memory:
//   1. add_frame(): each pixel goes into a 32768-bin colour histogram (5 bits per channel, with
//      exact per-bin sums so no precision is lost), and the frame is run-length encoded (rendered
//      plots are mostly flat background) and spilled to a temporary file next to the output.
//   2. finish(): median cut, then k-means, over the histogram in Oklab (a perceptual space where
//      distances match seen differences) makes the palette; each spilled frame is read back,
//      mapped to palette indices (nearest in Oklab, cached per 6-bit colour) and encoded.
// Bins are weighted by sqrt(pixel count): with plain counts the background would win nearly all
// 256 entries and a few hundred coloured particles would lose theirs.
// Alpha is ignored (GIF has only 1-bit transparency; exported frames are opaque).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include "app/export/av_error.h"
#include "app/export/av_mux.h"
#include "app/export/frame_sink.h"

namespace fmp {
namespace fs = std::filesystem;

namespace {

// ---- colour science: sRGB (0..255) -> Oklab (Ottosson 2020)
struct Lab {
    float l, a, b;
};

float srgb_to_linear(float c) {
    c /= 255.0f;
    return c <= 0.04045f ? c / 12.92f : std::pow((c + 0.055f) / 1.055f, 2.4f);
}

Lab to_oklab(float r8, float g8, float b8) {
    float r = srgb_to_linear(r8), g = srgb_to_linear(g8), b = srgb_to_linear(b8);
    float l = std::cbrt(0.4122214708f * r + 0.5363325363f * g + 0.0514459929f * b);
    float m = std::cbrt(0.2119034982f * r + 0.6806995451f * g + 0.1073969566f * b);
    float s = std::cbrt(0.0883024619f * r + 0.2817188376f * g + 0.6299787005f * b);
    return {0.2104542553f * l + 0.7936177850f * m - 0.0040720468f * s,
            1.9779984951f * l - 2.4285922050f * m + 0.4505937099f * s,
            0.0259040371f * l + 0.7827717662f * m - 0.8086757660f * s};
}

float dist2(const Lab& p, const Lab& q) {
    float dl = p.l - q.l, da = p.a - q.a, db = p.b - q.b;
    return dl * dl + da * da + db * db;
}

// ---- palette construction
struct ColourBin {
    Lab lab;
    float rgb[3];
    double weight;  // sqrt(pixel count)
};

struct Rgb {
    std::uint8_t r, g, b;
};

// Median cut: split the box with the largest weighted squared error along its widest Oklab axis
// at the weighted median, until there are `k` boxes; returns the box means.
std::vector<Lab> median_cut(std::vector<ColourBin>& bins, int k) {
    struct Box {
        std::size_t begin, end;
        double sse;
        int axis;
    };
    auto coord = [](const ColourBin& c, int axis) {
        return axis == 0 ? c.lab.l : axis == 1 ? c.lab.a : c.lab.b;
    };
    auto measure = [&](std::size_t begin, std::size_t end) {
        double w = 0, mean[3] = {0, 0, 0};
        for (std::size_t i = begin; i < end; ++i) {
            w += bins[i].weight;
            for (int a = 0; a < 3; ++a) mean[a] += bins[i].weight * coord(bins[i], a);
        }
        double var[3] = {0, 0, 0};
        for (int a = 0; a < 3; ++a) mean[a] /= w;
        for (std::size_t i = begin; i < end; ++i)
            for (int a = 0; a < 3; ++a) {
                double d = coord(bins[i], a) - mean[a];
                var[a] += bins[i].weight * d * d;
            }
        int axis = static_cast<int>(std::max_element(var, var + 3) - var);
        return Box{begin, end, end - begin > 1 ? var[0] + var[1] + var[2] : -1.0, axis};
    };
    std::vector<Box> boxes = {measure(0, bins.size())};
    while (static_cast<int>(boxes.size()) < k) {
        auto worst = std::max_element(boxes.begin(), boxes.end(),
                                      [](const Box& x, const Box& y) { return x.sse < y.sse; });
        if (worst->sse <= 0) break;  // every box is a single colour
        Box box = *worst;
        std::sort(bins.begin() + box.begin, bins.begin() + box.end,
                  [&](const ColourBin& x, const ColourBin& y) {
                      return coord(x, box.axis) < coord(y, box.axis);
                  });
        double total = 0;
        for (std::size_t i = box.begin; i < box.end; ++i) total += bins[i].weight;
        double acc = 0;
        std::size_t cut = box.begin + 1;
        for (std::size_t i = box.begin; i < box.end - 1; ++i) {
            acc += bins[i].weight;
            cut = i + 1;
            if (acc >= total / 2) break;
        }
        *worst = measure(box.begin, cut);
        boxes.push_back(measure(cut, box.end));
    }
    std::vector<Lab> centres;
    for (const Box& b : boxes) {
        double w = 0, m[3] = {0, 0, 0};
        for (std::size_t i = b.begin; i < b.end; ++i) {
            w += bins[i].weight;
            m[0] += bins[i].weight * bins[i].lab.l;
            m[1] += bins[i].weight * bins[i].lab.a;
            m[2] += bins[i].weight * bins[i].lab.b;
        }
        centres.push_back({float(m[0] / w), float(m[1] / w), float(m[2] / w)});
    }
    return centres;
}

// Median cut's boxes are axis-aligned; a few weighted k-means (Lloyd) steps move the centres to
// where the colours are. Returns the palette in sRGB: each entry is the weighted mean of the
// bins nearest to it.
std::vector<Rgb> build_palette(std::vector<ColourBin> bins, int k) {
    std::vector<Lab> centres = median_cut(bins, k);
    const std::size_t n = centres.size();
    std::vector<int> owner(bins.size(), 0);
    std::vector<double> acc(n * 7);  // weight, l, a, b, r, g, b
    for (int iter = 0; iter < 8; ++iter) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (std::size_t i = 0; i < bins.size(); ++i) {
            int best = 0;
            float best_d = dist2(bins[i].lab, centres[0]);
            for (std::size_t c = 1; c < n; ++c) {
                float d = dist2(bins[i].lab, centres[c]);
                if (d < best_d) best_d = d, best = static_cast<int>(c);
            }
            owner[i] = best;
            double w = bins[i].weight;
            double* a = &acc[7 * best];
            a[0] += w;
            a[1] += w * bins[i].lab.l, a[2] += w * bins[i].lab.a, a[3] += w * bins[i].lab.b;
            a[4] += w * bins[i].rgb[0], a[5] += w * bins[i].rgb[1], a[6] += w * bins[i].rgb[2];
        }
        for (std::size_t c = 0; c < n; ++c)
            if (acc[7 * c] > 0)
                centres[c] = {float(acc[7 * c + 1] / acc[7 * c]),
                              float(acc[7 * c + 2] / acc[7 * c]),
                              float(acc[7 * c + 3] / acc[7 * c])};
    }
    std::vector<Rgb> palette;
    for (std::size_t c = 0; c < n; ++c) {
        if (acc[7 * c] <= 0) continue;  // a centre that lost all its colours
        auto channel = [&](int j) {
            return static_cast<std::uint8_t>(
                std::clamp(std::lround(acc[7 * c + 4 + j] / acc[7 * c]), 0L, 255L));
        };
        palette.push_back({channel(0), channel(1), channel(2)});
    }
    return palette;
}

// 8x8 Bayer matrix: thresholds 0..63 spread so that any window holds every level.
constexpr std::array<std::uint8_t, 64> kBayer8 = {
    0,  32, 8,  40, 2,  34, 10, 42, 48, 16, 56, 24, 50, 18, 58, 26, 12, 44, 4,  36, 14, 46,
    6,  38, 60, 28, 52, 20, 62, 30, 54, 22, 3,  35, 11, 43, 1,  33, 9,  41, 51, 19, 59, 27,
    49, 17, 57, 25, 15, 47, 7,  39, 13, 45, 5,  37, 63, 31, 55, 23, 61, 29, 53, 21};

// Maps colours to palette indices. Ordered dithering by colour pairs: each colour is seen as a
// mix of its nearest palette entry p and a partner q along which the mix p + t (q - p) comes
// closest to it (in Oklab); a pixel shows q where the Bayer threshold is below t. Unlike adding
// the same offset to r, g and b, this dithers across hue as well as lightness, colours that are
// in the palette (backgrounds, solid fills) come out clean (t = 0), and the pattern is fixed in
// screen space, so it does not crawl from frame to frame (error diffusion would).
// The pair is cached per 6-bit-per-channel colour; t is computed per pixel in sRGB.
class PaletteMapper {
  public:
    PaletteMapper(const std::vector<Rgb>& palette, bool dither)
        : m_palette(palette), m_dither(dither && palette.size() > 1) {
        for (const Rgb& p : palette) m_lab.push_back(to_oklab(p.r, p.g, p.b));
        m_cache.assign(1 << 18, Pair{});
    }

    std::uint8_t map(int r, int g, int b, int x, int y) {
        const Pair& pair = lookup(r, g, b);
        if (pair.p == pair.q) return pair.p;
        const Rgb& p = m_palette[pair.p];
        const Rgb& q = m_palette[pair.q];
        float dr = float(q.r) - p.r, dg = float(q.g) - p.g, db = float(q.b) - p.b;
        float t = ((r - p.r) * dr + (g - p.g) * dg + (b - p.b) * db) * pair.inv_len2;
        float threshold = (kBayer8[(y & 7) * 8 + (x & 7)] + 0.5f) / 64.0f;
        return t > threshold ? pair.q : pair.p;
    }

  private:
    struct Pair {
        std::uint8_t p = 0, q = 0;
        bool known = false;
        float inv_len2 = 0;  // 1 / |q - p|^2 in sRGB
    };

    const Pair& lookup(int r, int g, int b) {
        Pair& pair = m_cache[(r >> 2) << 12 | (g >> 2) << 6 | (b >> 2)];
        if (pair.known) return pair;
        pair.known = true;
        Lab c = to_oklab(float((r & ~3) + 2), float((g & ~3) + 2), float((b & ~3) + 2));
        std::size_t best = 0;
        for (std::size_t i = 1; i < m_lab.size(); ++i)
            if (dist2(c, m_lab[i]) < dist2(c, m_lab[best])) best = i;
        pair.p = pair.q = static_cast<std::uint8_t>(best);
        if (!m_dither) return pair;
        // The partner minimises the error of the mix plus a penalty on mixing far-apart colours,
        // which reads as noise (lambda = 0.5: a 50/50 mix of two colours must beat the nearest
        // colour alone by more than an eighth of their squared distance).
        const Lab& p = m_lab[best];
        float best_cost = dist2(c, p);
        for (std::size_t i = 0; i < m_lab.size(); ++i) {
            if (i == best) continue;
            Lab d{m_lab[i].l - p.l, m_lab[i].a - p.a, m_lab[i].b - p.b};
            float len2 = d.l * d.l + d.a * d.a + d.b * d.b;
            if (len2 <= 0) continue;
            float t = ((c.l - p.l) * d.l + (c.a - p.a) * d.a + (c.b - p.b) * d.b) / len2;
            if (t <= 0) continue;
            t = std::min(t, 1.0f);
            Lab mix{p.l + t * d.l, p.a + t * d.a, p.b + t * d.b};
            float cost = dist2(c, mix) + 0.5f * t * (1 - t) * len2;
            if (cost < best_cost) best_cost = cost, pair.q = static_cast<std::uint8_t>(i);
        }
        const Rgb& pr = m_palette[pair.p];
        const Rgb& qr = m_palette[pair.q];
        float dr = float(qr.r) - pr.r, dg = float(qr.g) - pr.g, db = float(qr.b) - pr.b;
        float len2 = dr * dr + dg * dg + db * db;
        if (len2 <= 0)
            pair.q = pair.p;
        else
            pair.inv_len2 = 1.0f / len2;
        return pair;
    }

    std::vector<Rgb> m_palette;
    std::vector<Lab> m_lab;
    std::vector<Pair> m_cache;
    bool m_dither;
};

// ---- frame spill: PackBits-style run-length coding of RGB pixels.
// A control byte c < 128 is followed by c+1 literal pixels; c >= 128 by one pixel repeated
// c-126 times (2..129).
void rle_encode_row(const std::uint8_t* rgba, int w, std::vector<std::uint8_t>& out) {
    auto same = [&](int i, int j) {
        return rgba[4 * i] == rgba[4 * j] && rgba[4 * i + 1] == rgba[4 * j + 1] &&
               rgba[4 * i + 2] == rgba[4 * j + 2];
    };
    auto put = [&](int i) {
        out.push_back(rgba[4 * i]);
        out.push_back(rgba[4 * i + 1]);
        out.push_back(rgba[4 * i + 2]);
    };
    int i = 0;
    while (i < w) {
        int run = 1;
        while (i + run < w && run < 129 && same(i, i + run)) ++run;
        if (run >= 2) {
            out.push_back(static_cast<std::uint8_t>(run + 126));
            put(i);
            i += run;
            continue;
        }
        int start = i, n = 0;
        while (i < w && n < 128 && !(i + 1 < w && same(i, i + 1))) ++i, ++n;
        out.push_back(static_cast<std::uint8_t>(n - 1));
        for (int j = start; j < start + n; ++j) put(j);
    }
}

void rle_decode(const std::uint8_t* in, std::size_t size, std::uint8_t* rgb, std::size_t pixels) {
    std::size_t pos = 0, px = 0;
    while (pos < size && px < pixels) {
        int c = in[pos++];
        if (c < 128) {
            std::size_t n = std::min<std::size_t>(c + 1, pixels - px);
            if (pos + 3 * n > size) break;
            std::copy(in + pos, in + pos + 3 * n, rgb + 3 * px);
            pos += 3 * n, px += n;
        } else {
            std::size_t n = std::min<std::size_t>(c - 126, pixels - px);
            if (pos + 3 > size) break;
            for (std::size_t j = 0; j < n; ++j)
                std::copy(in + pos, in + pos + 3, rgb + 3 * (px + j));
            pos += 3, px += n;
        }
    }
    if (px != pixels) throw std::runtime_error("GIF export: the temporary frame file is corrupt");
}

class GifEncoder final : public FrameEncoder {
  public:
    GifEncoder(std::string out, std::string tmp, const VideoSettings& s)
        : m_out(std::move(out)),
          m_tmp(std::move(tmp)),
          m_spill_path(m_tmp + ".frames"),
          m_settings(s) {
        m_count.assign(1 << 15, 0);
        m_sum.assign(3 << 15, 0);
        m_spill = std::fopen(m_spill_path.c_str(), "w+b");
        if (!m_spill) throw std::runtime_error("GIF export: cannot create '" + m_spill_path + "'");
    }
    ~GifEncoder() override { discard(); }

    void write_frame(const std::uint8_t* rgba, std::ptrdiff_t stride) override {
        const int w = m_settings.width, h = m_settings.height;
        m_rle.clear();
        for (int y = 0; y < h; ++y) {
            const std::uint8_t* row = rgba + stride * y;
            for (int x = 0; x < w; ++x) {
                const std::uint8_t* p = row + 4 * x;
                int bin = (p[0] >> 3) << 10 | (p[1] >> 3) << 5 | (p[2] >> 3);
                ++m_count[bin];
                m_sum[3 * bin] += p[0], m_sum[3 * bin + 1] += p[1], m_sum[3 * bin + 2] += p[2];
            }
            rle_encode_row(row, w, m_rle);
        }
        std::uint64_t size = m_rle.size();
        if (std::fwrite(&size, sizeof size, 1, m_spill) != 1 ||
            std::fwrite(m_rle.data(), 1, m_rle.size(), m_spill) != m_rle.size())
            throw std::runtime_error("GIF export: cannot write '" + m_spill_path +
                                     "' (disk full?)");
        ++m_frames;
    }

    void commit() override {
        std::vector<ColourBin> bins;
        for (int i = 0; i < (1 << 15); ++i) {
            if (!m_count[i]) continue;
            double n = static_cast<double>(m_count[i]);
            float rgb[3] = {float(m_sum[3 * i] / n), float(m_sum[3 * i + 1] / n),
                            float(m_sum[3 * i + 2] / n)};
            bins.push_back(
                {to_oklab(rgb[0], rgb[1], rgb[2]), {rgb[0], rgb[1], rgb[2]}, std::sqrt(n)});
        }
        m_palette = build_palette(std::move(bins), 256);
        open_output();
        PaletteMapper mapper(m_palette, m_settings.gif_dither);

        const int w = m_settings.width, h = m_settings.height;
        std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
        if (std::fflush(m_spill) != 0 || std::fseek(m_spill, 0, SEEK_SET) != 0)
            throw std::runtime_error("GIF export: cannot read back '" + m_spill_path + "'");
        for (int f = 0; f < m_frames; ++f) {
            std::uint64_t size = 0;
            if (std::fread(&size, sizeof size, 1, m_spill) != 1 || size > rgb.size() * 2)
                throw std::runtime_error("GIF export: the temporary frame file is truncated");
            m_rle.resize(size);
            if (std::fread(m_rle.data(), 1, size, m_spill) != size)
                throw std::runtime_error("GIF export: the temporary frame file is truncated");
            rle_decode(m_rle.data(), size, rgb.data(), rgb.size() / 3);

            int err = av_frame_make_writable(m_frame);
            if (err < 0) throw std::runtime_error("GIF export: out of memory");
            for (int y = 0; y < h; ++y) {
                std::uint8_t* dst =
                    m_frame->data[0] + static_cast<std::ptrdiff_t>(y) * m_frame->linesize[0];
                const std::uint8_t* src = rgb.data() + static_cast<std::size_t>(y) * w * 3;
                for (int x = 0; x < w; ++x)
                    dst[x] = mapper.map(src[3 * x], src[3 * x + 1], src[3 * x + 2], x, y);
            }
            auto* pal = reinterpret_cast<std::uint32_t*>(m_frame->data[1]);
            for (int i = 0; i < 256; ++i) {
                Rgb c = i < static_cast<int>(m_palette.size()) ? m_palette[i] : Rgb{0, 0, 0};
                pal[i] = 0xFF000000u | std::uint32_t(c.r) << 16 | std::uint32_t(c.g) << 8 | c.b;
            }
            m_frame->pts = f;
            send(m_frame);
        }
        send(nullptr);
        int err = av_write_trailer(m_fmt);
        if (err < 0)
            throw std::runtime_error("GIF export: could not finish '" + m_out +
                                     "': " + av_error(err));
        err = avio_closep(&m_fmt->pb);
        if (err < 0)
            throw std::runtime_error("GIF export: could not write '" + m_out +
                                     "': " + av_error(err));
        release();
        std::error_code ec;
        fs::rename(m_tmp, m_out, ec);
        if (ec)
            throw std::runtime_error("GIF export: could not rename into '" + m_out +
                                     "': " + ec.message());
        m_committed = true;
        fs::remove(m_spill_path, ec);
    }

    void discard() noexcept override {
        release();
        std::error_code ec;
        fs::remove(m_spill_path, ec);
        if (!m_committed) fs::remove(m_tmp, ec);
    }

    std::string describe() const override {
        return std::string("GIF (global 256-colour palette") +
               (m_settings.gif_dither ? ", ordered dithering" : "") + ", loops forever)";
    }

  private:
    void open_output() {
        const VideoSettings& s = m_settings;
        int err = avformat_alloc_output_context2(&m_fmt, nullptr, "gif", m_tmp.c_str());
        if (err < 0 || !m_fmt) throw std::runtime_error("GIF export: libavformat has no gif muxer");
        const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_GIF);
        if (!codec) throw std::runtime_error("GIF export: libavcodec has no gif encoder");
        m_ctx = avcodec_alloc_context3(codec);
        if (!m_ctx) throw std::runtime_error("GIF export: out of memory");
        m_ctx->width = s.width;
        m_ctx->height = s.height;
        m_ctx->pix_fmt = AV_PIX_FMT_PAL8;
        m_ctx->time_base = AVRational{1, s.fps};
        m_ctx->framerate = AVRational{s.fps, 1};
        err = avcodec_open2(m_ctx, codec, nullptr);
        if (err < 0)
            throw std::runtime_error("GIF export: cannot open the gif encoder: " + av_error(err));
        m_stream = avformat_new_stream(m_fmt, nullptr);
        if (!m_stream) throw std::runtime_error("GIF export: out of memory");
        m_stream->time_base = m_ctx->time_base;
        err = avcodec_parameters_from_context(m_stream->codecpar, m_ctx);
        if (err < 0) throw std::runtime_error("GIF export: " + av_error(err));
        err = avio_open(&m_fmt->pb, m_tmp.c_str(), AVIO_FLAG_WRITE);
        if (err < 0)
            throw std::runtime_error("GIF export: cannot create '" + m_tmp + "': " + av_error(err));
        AVDictionary* mux = nullptr;
        av_dict_set(&mux, "loop", "0", 0);  // NETSCAPE2.0 loop count 0: repeat forever
        err = avformat_write_header(m_fmt, &mux);
        av_dict_free(&mux);
        if (err < 0)
            throw std::runtime_error("GIF export: cannot write the header: " + av_error(err));
        m_frame = av_frame_alloc();
        m_packet = av_packet_alloc();
        if (!m_frame || !m_packet) throw std::runtime_error("GIF export: out of memory");
        m_frame->format = AV_PIX_FMT_PAL8;
        m_frame->width = s.width;
        m_frame->height = s.height;
        err = av_frame_get_buffer(m_frame, 0);
        if (err < 0) throw std::runtime_error("GIF export: out of memory");
    }

    void send(const AVFrame* frame) {
        encode_and_write(m_ctx, m_fmt, m_stream, m_packet, frame, "GIF", m_out);
    }

    void release() noexcept {
        close_muxer(m_fmt);  // an abandoned file is closed as it is; discard() deletes it
        avcodec_free_context(&m_ctx);
        av_frame_free(&m_frame);
        av_packet_free(&m_packet);
        if (m_spill) {
            std::fclose(m_spill);
            m_spill = nullptr;
        }
    }

    std::string m_out, m_tmp, m_spill_path;
    VideoSettings m_settings;
    std::vector<std::uint64_t> m_count;  // pixels per 5-bit colour bin
    std::vector<std::uint64_t> m_sum;    // their r, g, b sums
    std::vector<std::uint8_t> m_rle;
    std::vector<Rgb> m_palette;
    std::FILE* m_spill = nullptr;
    int m_frames = 0;
    AVFormatContext* m_fmt = nullptr;
    AVCodecContext* m_ctx = nullptr;
    AVStream* m_stream = nullptr;
    AVFrame* m_frame = nullptr;
    AVPacket* m_packet = nullptr;
    bool m_committed = false;
};

}  // namespace

std::unique_ptr<FrameEncoder> make_gif_encoder(const std::string& out_path,
                                               const std::string& tmp_path,
                                               const VideoSettings& s) {
    return std::make_unique<GifEncoder>(out_path, tmp_path, s);
}

}  // namespace fmp
