// Image and text imports: the file corpus, every decoder against stb_image's reading, hostile
// files (Huffman overflow, zlib bomb, scan flood, truncation), fuzzing, and density statistics.
#include <doctest/doctest.h>
// jpeglib.h uses FILE and size_t without including their headers.
// clang-format off
#include <cstdio>
#include <jpeglib.h>
// clang-format on
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/data/point_import.h"
#include "core/data/point_io.h"

using namespace fmp;

namespace {

const std::string k_dir = std::string(FMP_TEST_DATA_DIR) + "/import/";

void append_bytes(void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data),
                                           static_cast<std::size_t>(size));
}

enum class Fmt { Png, Jpg, Bmp };

// Encodes 8-bit pixels (comp channels) with stb_image_write into memory.
std::string encode(Fmt f, int w, int h, int comp, const std::vector<unsigned char>& px) {
    std::string out;
    int ok = 0;
    switch (f) {
        case Fmt::Png: ok = stbi_write_png_to_func(append_bytes, &out, w, h, comp, px.data(), w * comp); break;
        case Fmt::Jpg: ok = stbi_write_jpg_to_func(append_bytes, &out, w, h, comp, px.data(), 95); break;
        case Fmt::Bmp: ok = stbi_write_bmp_to_func(append_bytes, &out, w, h, comp, px.data()); break;
    }
    REQUIRE(ok);
    return out;
}

// A grey image from a function of (column, row), row 0 the top.
template <class F>
std::string gray_png(int w, int h, F value) {
    std::vector<unsigned char> px(static_cast<std::size_t>(w * h));
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) px[static_cast<std::size_t>(y * w + x)] = value(x, y);
    return encode(Fmt::Png, w, h, 1, px);
}

double fraction(const Points& p, bool (*pred)(float, float)) {
    int k = 0;
    for (Eigen::Index i = 0; i < p.rows(); ++i) k += pred(p(i, 0), p(i, 1)) ? 1 : 0;
    return static_cast<double>(k) / static_cast<double>(p.rows());
}

// Plain loops rather than Eigen's minCoeff: GCC 12 warns inside its AVX-512 reduction.
float col_min(const Points& p, int c) {
    float m = INFINITY;
    for (Eigen::Index i = 0; i < p.rows(); ++i) m = std::min(m, p(i, c));
    return m;
}
float col_max(const Points& p, int c) {
    float m = -INFINITY;
    for (Eigen::Index i = 0; i < p.rows(); ++i) m = std::max(m, p(i, c));
    return m;
}

bool inside_box(const Points& p, float lo, float hi) {
    return col_min(p, 0) >= lo && col_min(p, 1) >= lo && col_max(p, 0) <= hi && col_max(p, 1) <= hi;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// [SECTION] References and generators for the decoder tests

// What stb_image made of `bytes` (the decoder this import used before): its 2-channel
// (luminance, alpha) reading, stored losslessly as a grey+alpha PNG. Importing that PNG samples
// the very grid stb produced, so equal points mean an equal grid. Only for files known to be
// harmless: stb must never see the hostile ones.
std::string stb_reading_as_png(const std::string& bytes) {
    int w = 0, h = 0, comp = 0;
    stbi_set_flip_vertically_on_load_thread(0);
    std::unique_ptr<unsigned char, void (*)(void*)> px(
        stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                              static_cast<int>(bytes.size()), &w, &h, &comp, 2),
        stbi_image_free);
    REQUIRE(px);
    return encode(
        Fmt::Png, w, h, 2,
        std::vector<unsigned char>(px.get(), px.get() + static_cast<std::size_t>(w) * h * 2));
}

// Every option that reads luminance or alpha differently.
std::vector<ImageImportOptions> option_sets() {
    std::vector<ImageImportOptions> sets;
    for (int k = 0; k < 6; ++k) {
        ImageImportOptions o;
        o.points = 3000;
        o.seed = 7 + static_cast<uint64_t>(k);
        o.invert = k % 2 == 1;
        o.use_alpha = k >= 2 && k < 4;
        if (k >= 4) o.threshold = 0.2f, o.contrast = 2.5f;
        sets.push_back(o);
    }
    return sets;
}

// The new decoders give exactly the points stb's reading gave, for every option set (or both
// find no mass).
void check_same_as_stb(const std::string& bytes, const std::string& what) {
    CAPTURE(what);
    const std::string reference = stb_reading_as_png(bytes);
    for (const ImageImportOptions& o : option_sets()) {
        CAPTURE(o.invert);
        CAPTURE(o.use_alpha);
        CAPTURE(o.threshold);
        Points expected;
        try {
            expected = image_bytes_to_points(reference, o, "stb reading");
        } catch (const InputError&) {
            CHECK_THROWS_AS(image_bytes_to_points(bytes, o, what), InputError);
            continue;
        }
        const bool same = image_bytes_to_points(bytes, o, what) == expected;
        CHECK(same);
    }
}

enum class JpegKind { Baseline, Progressive, Gray, GrayProgressive, AdobeRgb, Cmyk, Ycck };

// A JPEG written by libjpeg from a pattern: pixel(x, y, channel) for the kind's input channels
// (grey: 1, colour: RGB, CMYK and YCCK: CMYK). `scans`, when given, replaces the scan script.
std::string make_jpeg(JpegKind kind, int w, int h,
                      const std::function<unsigned char(int, int, int)>& pixel,
                      const std::vector<jpeg_scan_info>* scans = nullptr, int quality = 92) {
    jpeg_compress_struct c{};
    jpeg_error_mgr err{};
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &buf, &size);
    const bool gray = kind == JpegKind::Gray || kind == JpegKind::GrayProgressive;
    const bool four = kind == JpegKind::Cmyk || kind == JpegKind::Ycck;
    c.image_width = static_cast<JDIMENSION>(w);
    c.image_height = static_cast<JDIMENSION>(h);
    c.input_components = gray ? 1 : four ? 4 : 3;
    c.in_color_space = gray ? JCS_GRAYSCALE : four ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (kind == JpegKind::AdobeRgb) jpeg_set_colorspace(&c, JCS_RGB);
    if (kind == JpegKind::Ycck) jpeg_set_colorspace(&c, JCS_YCCK);
    if (kind == JpegKind::Progressive || kind == JpegKind::GrayProgressive)
        jpeg_simple_progression(&c);
    if (scans) {
        c.scan_info = scans->data();
        c.num_scans = static_cast<int>(scans->size());
    }
    jpeg_start_compress(&c, TRUE);
    std::vector<unsigned char> row(static_cast<std::size_t>(w * c.input_components));
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < c.input_components; ++k)
                row[static_cast<std::size_t>(x * c.input_components + k)] = pixel(x, y, k);
        JSAMPROW r = row.data();
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    std::string out(reinterpret_cast<const char*>(buf), size);
    jpeg_destroy_compress(&c);
    std::free(buf);
    return out;
}

// A textured pattern, dark (0..49) for x < 24 and light (180..254) from there, in every channel.
unsigned char dark_left(int x, int y, int k) {
    int v = (x * (37 + 11 * k) + y * (13 + 7 * k)) % 200;
    return static_cast<unsigned char>(x < 24 ? v / 4 : 180 + v * 3 / 8);
}

// stb_image's colour conversions, restated as the reference the JPEG decoder must match.
unsigned char stb_luma(int r, int g, int b) {
    return static_cast<unsigned char>((r * 77 + g * 150 + b * 29) >> 8);
}
unsigned char stb_blinn(int x, int y) {
    unsigned t = static_cast<unsigned>(x * y + 128);
    return static_cast<unsigned char>((t + (t >> 8)) >> 8);
}

// A JPEG decoded by libjpeg straight from the raw channels, converted to (luminance, alpha) by
// stb's rules (Y of YCbCr, luma of RGB, blinn of CMYK and YCCK): the decoder's exact expected
// reading, as a grey+alpha PNG (see stb_reading_as_png).
std::vector<unsigned char> libjpeg_reading(const std::string& bytes, int& w, int& h) {
    jpeg_decompress_struct d{};
    jpeg_error_mgr err{};
    d.err = jpeg_std_error(&err);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    REQUIRE(jpeg_read_header(&d, TRUE) == JPEG_HEADER_OK);
    enum { Gray, Rgb, Cmyk, Ycck } kind = Gray;
    if (d.num_components == 3) {
        bool rgb = d.comp_info[0].component_id == 'R' && d.comp_info[1].component_id == 'G' &&
                   d.comp_info[2].component_id == 'B';
        rgb = rgb || (d.saw_Adobe_marker && d.Adobe_transform == 0 && !d.saw_JFIF_marker);
        d.jpeg_color_space = rgb ? JCS_RGB : JCS_YCbCr;
        d.out_color_space = rgb ? JCS_RGB : JCS_YCbCr;
        kind = rgb ? Rgb : Gray;
    } else if (d.num_components == 4) {
        REQUIRE(d.saw_Adobe_marker);
        d.jpeg_color_space = d.out_color_space = JCS_CMYK;
        kind = d.Adobe_transform == 2 ? Ycck : Cmyk;
    }
    jpeg_start_decompress(&d);
    w = static_cast<int>(d.output_width), h = static_cast<int>(d.output_height);
    const int n = d.output_components;
    std::vector<unsigned char> row(static_cast<std::size_t>(w * n)), ga;
    while (d.output_scanline < d.output_height) {
        JSAMPROW r = row.data();
        jpeg_read_scanlines(&d, &r, 1);
        for (int x = 0; x < w; ++x) {
            const unsigned char* p = &row[static_cast<std::size_t>(x * n)];
            switch (kind) {
                case Gray:
                    ga.push_back(p[0]);
                    break;  // Y alone, as stb
                case Rgb:
                    ga.push_back(stb_luma(p[0], p[1], p[2]));
                    break;
                case Cmyk:
                    ga.push_back(stb_luma(stb_blinn(p[0], p[3]), stb_blinn(p[1], p[3]),
                                          stb_blinn(p[2], p[3])));
                    break;
                case Ycck:
                    ga.push_back(stb_blinn(255 - p[0], p[3]));
                    break;
            }
            ga.push_back(255);
        }
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return ga;
}

// stb's own (luminance, alpha) reading of a harmless file.
std::vector<unsigned char> stb_reading(const std::string& bytes, int& w, int& h) {
    int comp = 0;
    stbi_set_flip_vertically_on_load_thread(0);
    unsigned char* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                              static_cast<int>(bytes.size()), &w, &h, &comp, 2);
    REQUIRE(px);
    std::vector<unsigned char> v(px, px + static_cast<std::size_t>(w) * h * 2);
    stbi_image_free(px);
    return v;
}

uint32_t crc_of(const std::string& kind_and_data) {
    return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(kind_and_data.data()),
                                       static_cast<uInt>(kind_and_data.size())));
}

std::string be32(uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
}

std::string png_chunk(const std::string& kind, const std::string& data) {
    return be32(static_cast<uint32_t>(data.size())) + kind + data + be32(crc_of(kind + data));
}

// Raw deflate blocks for `n` zero bytes. All-zero data is made of literals and distance-1 matches
// only, so one compressed MiB is valid anywhere in an all-zero stream and is simply repeated.
std::string deflate_zeros(std::size_t n) {
    auto raw = [](std::size_t len) {
        z_stream z{};
        REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
        std::vector<unsigned char> in(len, 0), out(len / 500 + 4096);
        z.next_in = in.data();
        z.avail_in = static_cast<uInt>(len);
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        REQUIRE(deflate(&z, Z_FULL_FLUSH) == Z_OK);  // non-final blocks, byte aligned
        REQUIRE(z.avail_in == 0);
        std::string s(reinterpret_cast<const char*>(out.data()), out.size() - z.avail_out);
        deflateEnd(&z);
        return s;
    };
    const std::size_t mib = 1u << 20;
    const std::string block = raw(mib);
    std::string s;
    for (std::size_t k = 0; k < n / mib; ++k) s += block;
    if (n % mib) s += raw(n % mib);
    return s;
}

// A w x h black 8-bit grey PNG whose single zlib stream carries `extra` zero bytes past the
// h * (1 + w) the header implies: a valid-looking file that inflates to whatever `extra` says.
std::string png_with_long_idat(int w, int h, std::size_t extra) {
    const std::size_t n = static_cast<std::size_t>(h) * static_cast<std::size_t>(w + 1) + extra;
    const uint32_t adler = (static_cast<uint32_t>(n % 65521) << 16) | 1u;  // of n zero bytes
    std::string z = std::string("\x78\x01", 2) + deflate_zeros(n) + std::string("\x03\x00", 2) +
                    be32(adler);  // 03 00: an empty final block
    std::string ihdr = be32(static_cast<uint32_t>(w)) + be32(static_cast<uint32_t>(h)) +
                       std::string("\x08\x00\x00\x00\x00", 5);
    return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", z) +
           png_chunk("IEND", "");
}

// The same PNG with its zlib stream re-cut into IDAT chunks of `size` bytes.
std::string rechunk_idat(const std::string& png, std::size_t size) {
    std::string head, stream, tail;
    for (std::size_t p = 8; p + 12 <= png.size();) {
        const std::size_t len =
            (static_cast<std::size_t>(static_cast<unsigned char>(png[p])) << 24) |
            (static_cast<std::size_t>(static_cast<unsigned char>(png[p + 1])) << 16) |
            (static_cast<std::size_t>(static_cast<unsigned char>(png[p + 2])) << 8) |
            static_cast<std::size_t>(static_cast<unsigned char>(png[p + 3]));
        const std::string kind = png.substr(p + 4, 4);
        if (kind == "IDAT")
            stream += png.substr(p + 8, len);
        else
            (stream.empty() ? head : tail) += png.substr(p, 12 + len);
        p += 12 + len;
    }
    std::string out = png.substr(0, 8) + head;
    for (std::size_t i = 0; i < stream.size(); i += size)
        out += png_chunk("IDAT", stream.substr(i, size));
    return out + tail;
}

// How many bytes a zlib stream inflates to, counted in a small buffer.
std::size_t inflated_size(const std::string& zlib_stream) {
    z_stream z{};
    REQUIRE(inflateInit(&z) == Z_OK);
    std::vector<unsigned char> out(1 << 16);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zlib_stream.data()));
    z.avail_in = static_cast<uInt>(zlib_stream.size());
    std::size_t total = 0;
    int ret = Z_OK;
    while (ret == Z_OK) {
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        ret = inflate(&z, Z_NO_FLUSH);
        total += out.size() - z.avail_out;
    }
    CHECK(ret == Z_STREAM_END);
    inflateEnd(&z);
    return total;
}

// Peak resident memory in KiB since the last reset_peak_memory(), or -1 where Linux's
// /proc/self/clear_refs cannot reset it (then memory is not checked).
bool reset_peak_memory() {
    std::ofstream f("/proc/self/clear_refs");
    f << "5";
    f.flush();
    return static_cast<bool>(f);
}
long peak_memory_kib() {
    std::ifstream f("/proc/self/status");
    std::string key;
    while (f >> key) {
        long v = 0;
        if (key == "VmHWM:" && (f >> v)) return v;
    }
    return -1;
}
long current_memory_kib() {
    std::ifstream f("/proc/self/status");
    std::string key;
    while (f >> key) {
        long v = 0;
        if (key == "VmRSS:" && (f >> v)) return v;
    }
    return -1;
}

// Where a GIF's first frame ends (after its image data's closing empty block), walking the
// blocks of a well-formed file.
std::size_t gif_first_frame_end(const std::string& b) {
    auto at = [&](std::size_t i) {
        return static_cast<std::size_t>(static_cast<unsigned char>(b.at(i)));
    };
    auto skip_blocks = [&](std::size_t p) {
        while (at(p) != 0) p += 1 + at(p);
        return p + 1;
    };
    std::size_t p = 13;
    if (at(10) & 0x80) p += 3 * (std::size_t(2) << (at(10) & 7));
    for (;;) {
        if (at(p) == 0x21) {
            p = skip_blocks(p + 2);
        } else {
            REQUIRE(at(p) == 0x2C);
            const std::size_t flags = at(p + 9);
            p += 10;
            if (flags & 0x80) p += 3 * (std::size_t(2) << (flags & 7));
            return skip_blocks(p + 1);  // after the LZW code size
        }
    }
}

std::string error_of(const std::string& bytes, const std::string& name = "x") {
    ImageImportOptions opt;
    opt.points = 100;
    try {
        image_bytes_to_points(bytes, opt, name);
    } catch (const InputError& e) {
        return e.what();
    }
    return {};
}
}  // namespace

TEST_CASE("valid corpus images load, black left half gives points on the left") {
    for (const char* name : {"valid_gray.png", "valid.jpg", "valid.bmp", "valid.gif"}) {
        const std::string file = name;
        CAPTURE(file);
        ImageImportOptions opt;
        opt.points = 4000;
        Points p = image_to_points(k_dir + name, opt);
        REQUIRE(p.rows() == 4000);
        CHECK(inside_box(p, -3.0f, 3.0f));
        // JPEG ringing puts a little mass right of the edge; the others are exact.
        double left = fraction(p, [](float x, float) { return x < 0.0f; });
        CHECK(left > (std::string(name) == "valid.jpg" ? 0.97 : 0.9999));
    }
}

TEST_CASE("transparent PNG: composited over white by default, alpha as probability on request") {
    // valid_rgba.png: opaque black top-left quadrant; the rest is transparent *black* RGB.
    ImageImportOptions opt;
    opt.points = 3000;
    auto top_left = [](float x, float y) { return x < 0.0f && y > 0.0f; };
    CHECK(fraction(image_to_points(k_dir + "valid_rgba.png", opt), top_left) == 1.0);
    opt.use_alpha = true;
    CHECK(fraction(image_to_points(k_dir + "valid_rgba.png", opt), top_left) == 1.0);
    opt.invert = true;  // transparency carries the mass: the other three quadrants
    CHECK(fraction(image_to_points(k_dir + "valid_rgba.png", opt), top_left) == 0.0);
    opt.use_alpha = false;  // inverted colours over a black page: black on black, no mass
    CHECK_THROWS_AS(image_to_points(k_dir + "valid_rgba.png", opt), InputError);
}

TEST_CASE("malformed corpus files give InputError, never a crash") {
    ImageImportOptions opt;
    opt.points = 100;
    for (const char* name : {"truncated.png", "garbage.png", "garbage.bin", "text_named.png",
                             "empty.png", "signature_only.png", "huge_header.png", "zero_size.png",
                             "truncated.bmp", "huge_header.bmp", "truncated.jpg", "all_white.png",
                             "truncated.gif", "bad_dht.jpg", "no_such_file.png"}) {
        const std::string file = name;
        CAPTURE(file);
        CHECK_THROWS_AS(image_to_points(k_dir + name, opt), InputError);
        try {
            image_to_points(k_dir + name, opt);
        } catch (const InputError& e) {
            CHECK(std::string(e.what()).find('\n') == std::string::npos);  // one line
        }
    }
    // The messages say what is wrong and name the file.
    auto message = [&](const char* name) {
        try {
            image_to_points(k_dir + name, opt);
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(message("all_white.png").find("no dark pixels") != std::string::npos);
    CHECK(message("all_white.png").find("try invert") != std::string::npos);
    CHECK(message("huge_header.png").find("30000x30000") != std::string::npos);
    CHECK(message("huge_header.png").find("8192") != std::string::npos);
    CHECK(message("text_named.png").find("text_named.png") != std::string::npos);
    CHECK(message("text_named.png").find("PNG, JPEG, BMP or GIF") != std::string::npos);
    CHECK(message("truncated.png").find("truncated.png") != std::string::npos);
}

TEST_CASE("an oversized header is refused before decoding") {
    std::string bytes = read_file(k_dir + "huge_header.png", 1 << 20);
    ImageImportOptions opt;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) CHECK_THROWS_AS(image_bytes_to_points(bytes, opt, "h"), InputError);
    CHECK(seconds_since(t0) < 0.5);
    // 8192 x 8192 passes the side limit but not the 40-megapixel one.
    std::string png = read_file(k_dir + "valid_gray.png", 1 << 20);
    png[16] = 0, png[17] = 0, png[18] = 0x20, png[19] = 0x00;  // width 8192
    png[20] = 0, png[21] = 0, png[22] = 0x20, png[23] = 0x00;  // height 8192
    CHECK_THROWS_WITH_AS(image_bytes_to_points(png, opt, "big"),
                         doctest::Contains("40 megapixels"), InputError);
}

TEST_CASE("fuzz: mutated PNG, JPEG, BMP and GIF bytes load or throw InputError") {
    std::vector<unsigned char> px(24 * 16 * 3);
    Rng pattern(3);
    for (auto& v : px) v = static_cast<unsigned char>(pattern.below(256));
    const std::vector<std::string> seeds = {encode(Fmt::Png, 24, 16, 3, px),
                                            encode(Fmt::Jpg, 24, 16, 3, px),
                                            encode(Fmt::Bmp, 24, 16, 3, px),
                                            read_file(k_dir + "valid.gif", 1 << 20),
                                            read_file(k_dir + "valid_rgba.png", 1 << 20),
                                            read_file(k_dir + "png_palette4_adam7.png", 1 << 20),
                                            read_file(k_dir + "gif_interlaced_offset.gif", 1 << 20),
                                            make_jpeg(JpegKind::Progressive, 24, 16, dark_left)};
    ImageImportOptions opt;
    opt.points = 32;
    Rng rng(2024);
    int loaded = 0, refused = 0;
    auto t0 = std::chrono::steady_clock::now();
    const int iterations = 3000;
    for (int it = 0; it < iterations; ++it) {
        std::string b = seeds[static_cast<std::size_t>(it) % seeds.size()];
        int edits = 1 + static_cast<int>(rng.below(4));
        for (int e = 0; e < edits && !b.empty(); ++e) {
            auto pos = static_cast<std::size_t>(rng.below(static_cast<uint32_t>(b.size())));
            switch (rng.below(5)) {
                case 0: b[pos] = static_cast<char>(b[pos] ^ (1 << rng.below(8))); break;
                case 1: b[pos] = static_cast<char>(rng.below(256)); break;
                case 2: b.insert(pos, 1 + rng.below(8), static_cast<char>(rng.below(256))); break;
                case 3: b.resize(pos); break;
                default: b.erase(pos, 1 + rng.below(16)); break;
            }
        }
        try {
            Points p = image_bytes_to_points(b, opt, "mutant");
            CHECK(p.rows() == 32);
            CHECK(p.allFinite());
            ++loaded;
        } catch (const InputError&) {
            ++refused;
        }
    }
    MESSAGE("fuzz: ", loaded, " loaded, ", refused, " refused in ", seconds_since(t0), " s");
    CHECK(loaded + refused == iterations);
    CHECK(loaded > 100);   // the mutations are not all fatal: decoding paths are exercised
    CHECK(refused > 100);
}

TEST_CASE("every PNG layout decodes to the luminance and alpha stb_image read") {
    // Grey 1/2/4/8/16 bits, grey+alpha 8/16, RGB (+tRNS), RGBA 8/16, palettes (+tRNS, 4-bit),
    // Adam7 (including images so small that passes are empty), all five row filters.
    for (const char* name :
         {"valid_gray.png", "valid_rgba.png", "all_white.png", "png_palette_trns.png",
          "png_gray1.png", "png_gray2.png", "png_gray4.png", "png_palette4_adam7.png",
          "png_gray16_trns.png", "png_rgba16.png", "png_gray_alpha16_adam7.png", "png_rgb_trns.png",
          "png_gray_alpha.png", "png_rgb_adam7.png", "png_tiny_adam7_1x1.png",
          "png_tiny_adam7_3x2.png", "png_tiny_adam7_2x5.png"})
        check_same_as_stb(read_file(k_dir + name, 1 << 20), name);
    // stb_image_write's own PNGs, 1 to 4 channels.
    std::vector<unsigned char> px(40 * 30 * 4);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((i * 97) % 251);
    for (int comp = 1; comp <= 4; ++comp)
        check_same_as_stb(encode(Fmt::Png, 40, 30, comp, px), "stbi png " + std::to_string(comp));
}

TEST_CASE("GIF: first frame, transparency, interlace and offset frames as stb_image read them") {
    for (const char* name :
         {"valid.gif", "gif_transparent.gif", "gif_interlaced_offset.gif", "gif_256.gif"})
        check_same_as_stb(read_file(k_dir + name, 1 << 20), name);
    // The transparent index (black in the palette too) carries no mass: only the black left half.
    const std::string gif = read_file(k_dir + "gif_transparent.gif", 1 << 20);
    ImageImportOptions opt;
    opt.points = 2000;
    CHECK(col_max(image_bytes_to_points(gif, opt, "t"), 0) < 0.0f);
    opt.use_alpha = true;
    opt.invert = true;  // transparency as the mass: only the right half
    CHECK(col_min(image_bytes_to_points(gif, opt, "t"), 0) > 0.0f);
}

TEST_CASE("BMP still decodes through stb_image, unchanged") {
    check_same_as_stb(read_file(k_dir + "valid.bmp", 1 << 20), "valid.bmp");
    std::vector<unsigned char> px(21 * 13 * 4);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((i * 53) % 256);
    for (int comp : {1, 3, 4})
        check_same_as_stb(encode(Fmt::Bmp, 21, 13, comp, px), "stbi bmp " + std::to_string(comp));
}

TEST_CASE("JPEG: baseline, progressive, grey, RGB and CMYK give stb_image's luminance") {
    // The colour rules are stb's to the byte: the points equal those of libjpeg's raw channels
    // put through stb's formulas. The IDCTs differ in rounding (libjpeg's accurate integer one,
    // stb's SIMD one), so against stb's own reading the luminance agrees within a level or two.
    std::vector<std::pair<std::string, std::string>> files = {
        {"valid.jpg", read_file(k_dir + "valid.jpg", 1 << 20)}};
    const char* names[] = {"baseline 4:2:0", "progressive", "grey",      "grey progressive",
                           "Adobe RGB",      "Adobe CMYK",  "Adobe YCCK"};
    for (JpegKind kind :
         {JpegKind::Baseline, JpegKind::Progressive, JpegKind::Gray, JpegKind::GrayProgressive,
          JpegKind::AdobeRgb, JpegKind::Cmyk, JpegKind::Ycck})
        files.emplace_back(names[static_cast<int>(kind)], make_jpeg(kind, 48, 40, dark_left));
    for (const auto& file : files) {
        const std::string& what = file.first;  // not a structured binding: CAPTURE is a lambda
        const std::string& jpg = file.second;
        CAPTURE(what);
        int w = 0, h = 0, sw = 0, sh = 0;
        const std::vector<unsigned char> expected = libjpeg_reading(jpg, w, h);
        const std::string reference = encode(Fmt::Png, w, h, 2, expected);
        for (const ImageImportOptions& o : option_sets()) {
            Points want;
            try {
                want = image_bytes_to_points(reference, o, "reference");
            } catch (const InputError&) {
                CHECK_THROWS_AS(image_bytes_to_points(jpg, o, what), InputError);
                continue;
            }
            const bool same = image_bytes_to_points(jpg, o, what) == want;
            CHECK(same);
        }
        const std::vector<unsigned char> stb = stb_reading(jpg, sw, sh);
        REQUIRE(sw == w);
        REQUIRE(sh == h);
        int worst = 0;
        double total = 0.0;
        for (std::size_t i = 0; i < stb.size(); i += 2) {
            int d = std::abs(static_cast<int>(stb[i]) - static_cast<int>(expected[i]));
            worst = std::max(worst, d);
            total += d;
        }
        MESSAGE(what, ": luminance vs stb_image: max difference ", worst, ", mean ",
                total / (static_cast<double>(stb.size()) / 2));
        CHECK(worst <= 2);
        // The dark left half holds nearly all the mass.
        ImageImportOptions opt;
        opt.points = 4000;
        opt.threshold = 0.5f;
        if (what != "valid.jpg")
            CHECK(fraction(image_bytes_to_points(jpg, opt, "j"),
                           [](float x, float) { return x < 0.0f; }) > 0.99);
    }
}

TEST_CASE("a JPEG Huffman table with more than 256 codes is refused, not overflowed") {
    // bad_dht.jpg (make_corpus.py): valid.jpg with a DHT segment whose 16 counts are all 255.
    const std::string jpg = read_file(k_dir + "bad_dht.jpg", 1 << 20);
    const std::size_t dht = jpg.find("\xFF\xC4");
    REQUIRE(dht == 2);
    int codes = 0;
    for (std::size_t i = 0; i < 16; ++i) codes += static_cast<unsigned char>(jpg[dht + 5 + i]);
    REQUIRE(codes == 4080);  // stb_image wrote ~4 KB past its 256-entry table for this
    CHECK_THROWS_WITH_AS(image_bytes_to_points(jpg, ImageImportOptions(), "bad_dht.jpg"),
                         doctest::Contains("Huffman"), InputError);
    // Every count sum from 257 up, in the first table of a real file, the lengths kept consistent.
    const std::string good = make_jpeg(JpegKind::Baseline, 16, 16, dark_left);
    const std::size_t at = good.find("\xFF\xC4");
    REQUIRE(at != std::string::npos);
    for (int sum : {257, 300, 1000, 4080}) {
        CAPTURE(sum);
        std::string body(1, '\0');
        int left = sum;
        for (int i = 0; i < 16; ++i) {
            int c = std::min(left, 255);
            body += static_cast<char>(c);
            left -= c;
        }
        for (int i = 0; i < sum; ++i) body += static_cast<char>(i % 256);
        const std::size_t len = 2 + body.size();
        std::string seg = std::string("\xFF\xC4", 2) + static_cast<char>(len >> 8) +
                          static_cast<char>(len & 0xFF) + body;
        CHECK_THROWS_AS(image_bytes_to_points(good.substr(0, at) + seg + good.substr(at),
                                              ImageImportOptions(), "dht"),
                        InputError);
    }
}

TEST_CASE(
    "a PNG whose zlib stream inflates far past its header is refused fast, in bounded memory") {
    // 64 x 64 in the header (4160 bytes of rows) but 256 MiB in the zlib stream, ~0.26 MB of file.
    // stb_image inflated all of it into one growing buffer.
    const std::size_t extra = std::size_t(256) << 20;
    const std::string bomb = png_with_long_idat(64, 64, extra);
    const std::size_t idat = bomb.find("IDAT");
    REQUIRE(idat != std::string::npos);
    const uint32_t idat_len =
        (static_cast<uint32_t>(static_cast<unsigned char>(bomb[idat - 4])) << 24) |
        (static_cast<uint32_t>(static_cast<unsigned char>(bomb[idat - 3])) << 16) |
        (static_cast<uint32_t>(static_cast<unsigned char>(bomb[idat - 2])) << 8) |
        static_cast<uint32_t>(static_cast<unsigned char>(bomb[idat - 1]));
    // The test file really is what it claims: a valid stream of 256 MiB + the image.
    CHECK(inflated_size(bomb.substr(idat + 4, idat_len)) == 64 * 65 + extra);
    MESSAGE("inflate bomb: ", bomb.size(), " bytes of file inflate to ", 64 * 65 + extra, " bytes");

    const bool can_measure = reset_peak_memory() && peak_memory_kib() > 0;
    const long rss_before = current_memory_kib();
    auto t0 = std::chrono::steady_clock::now();
    std::string message;
    try {
        image_bytes_to_points(bomb, ImageImportOptions(), "bomb.png");
    } catch (const InputError& e) {
        message = e.what();
    }
    const double seconds = seconds_since(t0);
    MESSAGE("inflate bomb refused in ", seconds * 1000.0, " ms: ", message);
    CHECK(message.find("bomb.png") != std::string::npos);
    CHECK(message.find("64x64") != std::string::npos);
    CHECK(seconds < 0.5);
    if (can_measure) {
        const long grew = peak_memory_kib() - rss_before;
        MESSAGE("inflate bomb: peak resident memory grew by ", grew, " KiB");
        CHECK(grew < 32 * 1024);  // the 256 MiB never exist
    } else {
        MESSAGE("inflate bomb: peak memory not measurable here (no /proc/self/clear_refs)");
    }
    // Legitimate layouts stay inside the budget: the stream cut into 1-byte IDAT chunks (as in
    // PngSuite's oi9 files) and a wide incompressible last row in 64-byte chunks.
    std::vector<unsigned char> noise(2000 * 3 * 4), small(32 * 32 * 3);
    Rng rng(5);
    for (auto& v : noise) v = static_cast<unsigned char>(rng.below(256));
    for (auto& v : small) v = static_cast<unsigned char>(rng.below(256));
    check_same_as_stb(rechunk_idat(encode(Fmt::Png, 32, 32, 3, small), 1), "1-byte IDATs");
    check_same_as_stb(rechunk_idat(encode(Fmt::Png, 2000, 3, 4, noise), 64),
                      "64-byte IDATs, 8000-byte rows");
    // A few kilobytes of slack after the image is tolerated, as libpng and stb do.
    ImageImportOptions opt;
    opt.points = 100;
    CHECK(image_bytes_to_points(png_with_long_idat(64, 64, 10000), opt, "slack").rows() == 100);
    CHECK(image_bytes_to_points(png_with_long_idat(64, 64, 0), opt, "exact").rows() == 100);
}

TEST_CASE("a progressive JPEG with more than 100 scans is refused before it costs seconds") {
    // A legitimate script: every coefficient of each of 3 components refined bit by bit, 2112
    // scans in all; libjpeg would decode it (slowly), the import stops at scan 101.
    std::vector<jpeg_scan_info> scans;
    auto add = [&](int comp, int ss, int se, int ah, int al) {
        jpeg_scan_info s{};
        s.comps_in_scan = 1;
        s.component_index[0] = comp;
        s.Ss = ss, s.Se = se, s.Ah = ah, s.Al = al;
        scans.push_back(s);
    };
    for (int comp = 0; comp < 3; ++comp) {
        for (int k = 0; k < 64; ++k) {
            add(comp, k, k, 0, 10);
            for (int a = 9; a >= 0; --a) add(comp, k, k, a + 1, a);
        }
    }
    REQUIRE(scans.size() == 2112);
    const std::string jpg = make_jpeg(JpegKind::Progressive, 64, 48, dark_left, &scans);
    auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS(image_bytes_to_points(jpg, ImageImportOptions(), "scans.jpg"),
                         doctest::Contains("more than 100 progressive scans"), InputError);
    CHECK(seconds_since(t0) < 0.5);
    // 99 of those scans (DC and the first coefficients of component 0 only) are not too many.
    scans.resize(99);
    ImageImportOptions opt;
    opt.points = 100;
    CHECK(image_bytes_to_points(make_jpeg(JpegKind::GrayProgressive, 64, 48, dark_left, &scans),
                                opt, "ok")
              .rows() == 100);
}

TEST_CASE("truncated PNG, JPEG, GIF and BMP files give InputError at every length") {
    struct Case {
        std::string name, bytes;
        std::size_t unneeded;  // trailing bytes a decoder never reads (IEND, EOI, GIF trailer)
    };
    std::vector<Case> cases = {
        {"png_rgb_adam7.png", read_file(k_dir + "png_rgb_adam7.png", 1 << 20), 12},
        {"png_palette_trns.png", read_file(k_dir + "png_palette_trns.png", 1 << 20), 12},
        {"png_rgba16.png", read_file(k_dir + "png_rgba16.png", 1 << 20), 12},
        {"valid.jpg", read_file(k_dir + "valid.jpg", 1 << 20), 2},
        {"baseline.jpg", make_jpeg(JpegKind::Baseline, 40, 24, dark_left), 2},
        {"progressive.jpg", make_jpeg(JpegKind::Progressive, 40, 24, dark_left), 2},
        {"gif_256.gif", read_file(k_dir + "gif_256.gif", 1 << 20), 1},
        {"gif_transparent.gif", read_file(k_dir + "gif_transparent.gif", 1 << 20), 1},
        {"valid.bmp", read_file(k_dir + "valid.bmp", 1 << 20), 0},
    };
    // A GIF's later frames are never read: only a cut inside the first one is an error.
    const std::string anim = read_file(k_dir + "gif_interlaced_offset.gif", 1 << 20);
    cases.push_back({"gif_interlaced_offset.gif", anim, anim.size() - gif_first_frame_end(anim)});
    ImageImportOptions opt;
    opt.points = 50;
    for (const Case& c : cases) {
        CAPTURE(c.name);
        int loaded = 0;
        for (std::size_t len = 0; len < c.bytes.size(); ++len) {
            CAPTURE(len);
            const std::string cut = c.bytes.substr(0, len);
            if (len + c.unneeded < c.bytes.size()) {
                CHECK_THROWS_AS(image_bytes_to_points(cut, opt, c.name), InputError);
            } else {
                try {
                    loaded += image_bytes_to_points(cut, opt, c.name).rows() == 50 ? 1 : 0;
                } catch (const InputError&) {
                    // also fine: a progressive JPEG without its EOI may have lost scans
                }
            }
        }
        CHECK(loaded <= static_cast<int>(c.unneeded));
    }
    // The corpus's truncated files name their file and say what happened.
    for (const char* name : {"truncated.png", "truncated.jpg", "truncated.gif", "truncated.bmp"}) {
        const std::string file = name;
        CAPTURE(file);
        const std::string msg = error_of(read_file(k_dir + name, 1 << 20), name);
        CHECK(msg.find(name) != std::string::npos);
        CHECK(msg.find("truncated") != std::string::npos);
    }
}

TEST_CASE("oversized headers of every format are refused before any pixel memory") {
    // JPEG: SOF0 rewritten to 9000 x 100 (over the side limit) and 8000 x 8000 (over 40 MP).
    std::string jpg = make_jpeg(JpegKind::Baseline, 16, 16, dark_left);
    const std::size_t sof = jpg.find("\xFF\xC0");
    REQUIRE(sof != std::string::npos);
    auto with_size = [&](int w, int h) {
        std::string j = jpg;
        j[sof + 5] = static_cast<char>(h >> 8), j[sof + 6] = static_cast<char>(h & 0xFF);
        j[sof + 7] = static_cast<char>(w >> 8), j[sof + 8] = static_cast<char>(w & 0xFF);
        return j;
    };
    CHECK(error_of(with_size(9000, 100)).find("9000x100 pixels") != std::string::npos);
    CHECK(error_of(with_size(8000, 8000)).find("40 megapixels") != std::string::npos);
    // GIF: a 9000 x 9000 logical screen.
    std::string gif = read_file(k_dir + "valid.gif", 1 << 20);
    gif[6] = gif[8] = static_cast<char>(9000 & 0xFF);
    gif[7] = gif[9] = static_cast<char>(9000 >> 8);
    CHECK(error_of(gif).find("9000x9000 pixels") != std::string::npos);
    // PNG: over libpng's own limit too, checked first from IHDR.
    CHECK(error_of(read_file(k_dir + "huge_header.png", 1 << 20)).find("30000x30000") !=
          std::string::npos);
    CHECK(error_of(read_file(k_dir + "huge_header.bmp", 1 << 20)).find("100000x100000") !=
          std::string::npos);
}

TEST_CASE("points follow darkness: black left half, 2:1 darkness ratio, contrast, invert") {
    const int w = 64, h = 48;
    ImageImportOptions opt;
    opt.points = 100000;

    SUBCASE("black left half puts every point on the left") {
        Points p = image_bytes_to_points(gray_png(w, h, [](int x, int) { return x < 32 ? 0 : 255; }),
                                         opt, "half");
        CHECK(col_max(p, 0) < 0.0f);
        opt.invert = true;
        p = image_bytes_to_points(gray_png(w, h, [](int x, int) { return x < 32 ? 0 : 255; }), opt,
                                  "half");
        CHECK(col_min(p, 0) > 0.0f);
    }
    // Left: grey 0 (darkness 1); right: grey 128 (darkness 127/255).
    const std::string two = gray_png(w, h, [](int x, int) { return x < 32 ? 0 : 128; });
    const double d_right = 127.0 / 255.0;
    auto left_fraction = [&](const ImageImportOptions& o) {
        return fraction(image_bytes_to_points(two, o, "two"), [](float x, float) { return x < 0.0f; });
    };
    auto expect = [&](double m_left, double m_right, const ImageImportOptions& o) {
        double p = m_left / (m_left + m_right);
        double sd = std::sqrt(p * (1 - p) / o.points);
        CHECK(std::abs(left_fraction(o) - p) < 5 * sd);
    };
    SUBCASE("mass proportional to darkness") { expect(1.0, d_right, opt); }
    SUBCASE("contrast is an exponent") {
        opt.contrast = 2.0f;
        expect(1.0, d_right * d_right, opt);
        opt.contrast = 0.5f;
        expect(1.0, std::sqrt(d_right), opt);
    }
    SUBCASE("threshold subtracts and cuts") {
        opt.threshold = 0.25f;
        expect(0.75, d_right - 0.25, opt);
        opt.threshold = 0.6f;
        CHECK(left_fraction(opt) == 1.0);
    }
    SUBCASE("invert: lightness carries the mass") {
        opt.invert = true;
        CHECK(left_fraction(opt) == 0.0);
    }
}

TEST_CASE("the image keeps its aspect ratio, is centred in the box, and y points up") {
    ImageImportOptions opt;
    opt.points = 20000;
    opt.box_lo = -2.0f;
    opt.box_hi = 4.0f;  // centre 1, side 6
    Points wide = image_bytes_to_points(gray_png(64, 32, [](int, int) { return 0; }), opt, "wide");
    CHECK(inside_box(wide, -2.0f, 4.0f));
    CHECK(col_min(wide, 0) == doctest::Approx(-2.0).epsilon(0.01));
    CHECK(col_max(wide, 0) == doctest::Approx(4.0).epsilon(0.01));
    CHECK(col_min(wide, 1) == doctest::Approx(-0.5).epsilon(0.02));
    CHECK(col_max(wide, 1) == doctest::Approx(2.5).epsilon(0.02));
    Points tall = image_bytes_to_points(gray_png(16, 32, [](int, int) { return 0; }), opt, "tall");
    CHECK(col_min(tall, 0) == doctest::Approx(-0.5).epsilon(0.02));
    CHECK(col_max(tall, 0) == doctest::Approx(2.5).epsilon(0.02));
    CHECK(col_min(tall, 1) == doctest::Approx(-2.0).epsilon(0.01));
    CHECK(col_max(tall, 1) == doctest::Approx(4.0).epsilon(0.01));
    // Black top rows: the points are above the centre.
    Points top = image_bytes_to_points(gray_png(32, 32, [](int, int y) { return y < 16 ? 0 : 255; }),
                                       opt, "top");
    CHECK(col_min(top, 1) > 1.0f);
}

TEST_CASE("image import is deterministic for its seed and checks its options") {
    const std::string img = gray_png(20, 20, [](int x, int y) { return (x * 13 + y * 7) % 256; });
    ImageImportOptions opt;
    opt.points = 500;
    Points a = image_bytes_to_points(img, opt, "a");
    CHECK(a == image_bytes_to_points(img, opt, "a"));
    opt.seed = 2;
    CHECK(a != image_bytes_to_points(img, opt, "a"));

    auto bad = [&](auto tweak) {
        ImageImportOptions o;
        tweak(o);
        CHECK_THROWS_AS(image_bytes_to_points(img, o, "a"), InputError);
    };
    bad([](ImageImportOptions& o) { o.points = 0; });
    bad([](ImageImportOptions& o) { o.points = 2'000'001; });
    bad([](ImageImportOptions& o) { o.contrast = 0.05f; });
    bad([](ImageImportOptions& o) { o.contrast = 11.0f; });
    bad([](ImageImportOptions& o) { o.threshold = 1.0f; });
    bad([](ImageImportOptions& o) { o.threshold = -0.1f; });
    bad([](ImageImportOptions& o) { o.threshold = NAN; });
    bad([](ImageImportOptions& o) { o.box_lo = 3.0f; });
    bad([](ImageImportOptions& o) { o.box_hi = INFINITY; });
}

TEST_CASE("text FLOW becomes four letter blobs filling the box width") {
    TextImportOptions opt;
    Points p = text_to_points("FLOW", opt);
    REQUIRE(p.rows() == 20000);
    CHECK(inside_box(p, -3.0f, 3.0f));
    float w = col_max(p, 0) - col_min(p, 0);
    float h = col_max(p, 1) - col_min(p, 1);
    CHECK(w > 5.9f);          // cropped to the ink, so the word spans the box
    CHECK(h < 0.4f * w);      // a word is wide
    CHECK(std::abs(p.col(1).mean()) < 0.3f);  // centred vertically
    // Occupied bins of the x projection form exactly four runs: F, L, O, W with gaps between.
    const int bins = 300;
    std::vector<int> hist(bins, 0);
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        int b = static_cast<int>((p(i, 0) + 3.0f) / 6.0f * bins);
        ++hist[static_cast<std::size_t>(std::clamp(b, 0, bins - 1))];
    }
    int runs = 0;
    std::vector<int> mass;
    for (int b = 0; b < bins; ++b) {
        if (hist[static_cast<std::size_t>(b)] > 0 && (b == 0 || hist[static_cast<std::size_t>(b - 1)] == 0)) {
            ++runs;
            mass.push_back(0);
        }
        if (hist[static_cast<std::size_t>(b)] > 0) mass.back() += hist[static_cast<std::size_t>(b)];
    }
    CHECK(runs == 4);
    for (int m : mass) CHECK(m > 2000);  // every letter carries a real share
    CHECK(p == text_to_points("FLOW", opt));
}

TEST_CASE("text import refuses empty, long and malformed text") {
    TextImportOptions opt;
    opt.points = 100;
    CHECK_THROWS_AS(text_to_points("", opt), InputError);
    CHECK_THROWS_AS(text_to_points("   ", opt), InputError);
    CHECK_THROWS_AS(text_to_points("\xc2\xa0\xe3\x80\x80", opt), InputError);  // nbsp, ideographic space
    CHECK_THROWS_AS(text_to_points(std::string(65, 'a'), opt), InputError);
    CHECK(text_to_points(std::string(64, 'a'), opt).rows() == 100);
    CHECK_THROWS_AS(text_to_points("A\nB", opt), InputError);
    CHECK_THROWS_AS(text_to_points("\xff", opt), InputError);
    CHECK_THROWS_AS(text_to_points("\xc3", opt), InputError);       // truncated sequence
    CHECK_THROWS_AS(text_to_points("\xc0\xaf", opt), InputError);   // overlong
    CHECK(text_to_points("\xce\xa9 = 1", opt).rows() == 100);        // non-ASCII
    opt.pixel_height = 4;
    CHECK_THROWS_AS(text_to_points("FLOW", opt), InputError);
    opt.pixel_height = 160;
    opt.points = 0;
    CHECK_THROWS_AS(text_to_points("FLOW", opt), InputError);
}
