// PNG decoding with libpng: header first, rows into memory sized from it, the zlib tail budgeted.
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <vector>

#include "core/data/image_decoders.h"

namespace fmp {
namespace {

// After the last row has been asked for, libpng inflates whatever is left of the zlib stream to
// check that it ends, however long that is (a zlib bomb gives about 1000 bytes per byte). So the
// file bytes libpng may read from then on are budgeted: the last row compressed (at most its raw
// size plus a little deflate overhead), a quarter more for IDAT chunk headers (chunks down to
// ~50 bytes; no encoder writes smaller ones on a wide row) and this much for a deflate block
// header, libpng's read-ahead (k_png_read_size) and the stream's end. A stream that goes on past
// that is refused within milliseconds.
constexpr std::size_t k_png_tail_slack = 8u << 10;
// libpng reads compressed data in pieces of this size (its default is 8 KiB); smaller pieces
// leave less already-read data to inflate after the last row. Costs nothing measurable.
constexpr std::size_t k_png_read_size = 1u << 10;

// Everything the libpng callbacks touch. libpng reports errors by longjmp, which must not cross a
// C++ object with a destructor: the two functions that call setjmp (png_read_header_guarded,
// png_read_pixels_guarded) and the code they call hold only this plain struct; the buffers are
// owned by their caller, which also turns the message into an InputError.
struct PngJob {
    std::jmp_buf jmp;
    png_structp png = nullptr;
    png_infop info = nullptr;
    const unsigned char* data = nullptr;
    std::size_t size = 0, pos = 0;
    bool tail_armed = false;      // the last row has been asked for
    std::size_t tail_budget = 0;  // compressed bytes libpng may still read after that
    bool tail_exceeded = false;
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    unsigned char* row = nullptr;  // one decoded row, width * 8 bytes (16-bit RGBA)
    unsigned char* out = nullptr;  // width * height (luminance, alpha) pairs
    char message[200] = {};
};

[[noreturn]] void png_on_error(png_structp png, png_const_charp msg) {
    auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
    std::snprintf(job->message, sizeof job->message, "%s", msg ? msg : "unknown error");
    std::longjmp(job->jmp, 1);
}

// Warnings are benign by libpng's own rules (a damaged ancillary chunk is dropped, a few extra
// bytes after the image are ignored): the picture decodes on, as it did with stb.
void png_on_warning(png_structp, png_const_charp) {}

void png_read_bytes(png_structp png, png_bytep out, std::size_t n) {
    auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
    if (job->tail_armed) {
        if (n > job->tail_budget) {
            job->tail_exceeded = true;
            png_error(png, "the image data goes on past the size in the header");
        }
        job->tail_budget -= n;
    }
    if (n > job->size - job->pos) png_error(png, "the file ends early");
    std::memcpy(out, job->data + job->pos, n);
    job->pos += n;
}

// Creates the reader with its limits and reads up to the first IDAT: the header, the palette and
// tRNS. 1 on success, 0 with job->message set.
int png_read_header_guarded(PngJob* job) {
    if (setjmp(job->jmp)) return 0;
    job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, png_on_error, png_on_warning);
    if (!job->png) {
        std::snprintf(job->message, sizeof job->message, "could not create the PNG reader");
        return 0;
    }
    job->info = png_create_info_struct(job->png);
    if (!job->info) png_error(job->png, "out of memory");
    png_set_read_fn(job->png, job, png_read_bytes);
    // libpng refuses a larger header by itself; the exact caps are checked by the caller.
    png_set_user_limits(job->png, k_max_image_side, k_max_image_side);
    // Metadata is never needed: skip every ancillary chunk but tRNS (no text or ICC profile is
    // inflated), and bound what a chunk may allocate anyway.
    png_set_keep_unknown_chunks(job->png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
    png_set_chunk_cache_max(job->png, 128);
    png_set_chunk_malloc_max(job->png, 8u << 20);
    png_set_compression_buffer_size(job->png, k_png_read_size);  // on a reader: the IDAT read size
    png_read_info(job->png, job->info);
    png_get_IHDR(job->png, job->info, &job->width, &job->height, &job->bit_depth, &job->color_type,
                 &job->interlace, nullptr, nullptr);
    return 1;
}

// The rows, into job->out. Runs inside png_read_pixels_guarded's setjmp: plain locals only.
void png_read_pixels_unguarded(PngJob* job) {
    png_structp png = job->png;
    // The last row's share of the stream: its bytes (before transforms) and its filter byte.
    const std::size_t raw_row = png_get_rowbytes(png, job->info) + 1;
    // To grey, grey+alpha, RGB or RGBA of 8 or 16 bits, as stb did: palettes expanded, grey
    // below 8 bits scaled to 0..255, tRNS turned into alpha (compared at the file's depth). No
    // gamma: stb applied none.
    png_set_expand(png);
    png_read_update_info(png, job->info);
    const int channels = png_get_channels(png, job->info);
    const int depth = png_get_bit_depth(png, job->info);
    const std::size_t w = job->width;
    if ((depth != 8 && depth != 16) || channels < 1 || channels > 4 ||
        png_get_rowbytes(png, job->info) != w * static_cast<std::size_t>(channels * depth / 8))
        png_error(png, "unexpected pixel layout after conversion");
    // Adam7 is undone here rather than by libpng, so memory stays one row plus the output: each
    // pass's rows arrive as narrow rows whose pixels land `col step` apart. libpng skips passes
    // with no rows or no columns.
    const bool adam7 = job->interlace == PNG_INTERLACE_ADAM7;
    const int passes = adam7 ? 7 : 1;
    int last_pass = 0;
    for (int p = 0; p < passes; ++p)
        if (!adam7 || (PNG_PASS_ROWS(job->height, p) > 0 && PNG_PASS_COLS(job->width, p) > 0))
            last_pass = p;
    for (int p = 0; p <= last_pass; ++p) {
        const png_uint_32 rows = adam7 ? PNG_PASS_ROWS(job->height, p) : job->height;
        const png_uint_32 cols = adam7 ? PNG_PASS_COLS(job->width, p) : job->width;
        if (rows == 0 || cols == 0) continue;
        const png_uint_32 row0 = adam7 ? PNG_PASS_START_ROW(p) : 0;
        const png_uint_32 col0 = adam7 ? PNG_PASS_START_COL(p) : 0;
        const int row_shift = adam7 ? PNG_PASS_ROW_SHIFT(p) : 0;
        const int col_step = adam7 ? 1 << PNG_PASS_COL_SHIFT(p) : 1;
        for (png_uint_32 i = 0; i < rows; ++i) {
            if (p == last_pass && i + 1 == rows) {
                job->tail_armed = true;
                job->tail_budget = raw_row + raw_row / 4 + k_png_tail_slack;
            }
            png_read_row(png, job->row, nullptr);
            const std::size_t y = row0 + (static_cast<std::size_t>(i) << row_shift);
            unsigned char* out = job->out + (y * w + col0) * 2;
            if (depth == 16)
                to_luma_alpha16(job->row, channels, static_cast<int>(cols), out, col_step);
            else
                to_luma_alpha(job->row, channels, static_cast<int>(cols), out, col_step);
        }
    }
    // Nothing after the pixels is needed: png_read_end would only read on through the file.
}

int png_read_pixels_guarded(PngJob* job) {
    if (setjmp(job->jmp)) return 0;
    png_read_pixels_unguarded(job);
    return 1;
}

// The width and height of a PNG's IHDR (always the first chunk), read before libpng so that an
// oversized header gets the same message as every other format.
void check_png_header_size(std::string_view b, const std::string& name) {
    if (b.size() < 24 || b.substr(12, 4) != "IHDR") return;  // libpng words this one
    auto be32 = [&](std::size_t at) {
        uint32_t v = 0;
        for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
        return static_cast<long long>(v);
    };
    check_image_size(name, be32(16), be32(20));
}

}  // namespace

LumaAlpha decode_png(std::string_view bytes, const std::string& name) {
    check_png_header_size(bytes, name);
    PngJob job{};
    job.data = reinterpret_cast<const unsigned char*>(bytes.data());
    job.size = bytes.size();
    struct Destroy {
        PngJob& job;
        ~Destroy() {
            if (job.png) png_destroy_read_struct(&job.png, job.info ? &job.info : nullptr, nullptr);
        }
    } destroy{job};
    if (!png_read_header_guarded(&job))
        throw InputError(corrupt(name, "PNG", "libpng", job.message));
    check_image_size(name, job.width, job.height);
    LumaAlpha img = blank_image(static_cast<int>(job.width), static_cast<int>(job.height));
    std::vector<unsigned char> row(static_cast<std::size_t>(job.width) * 8);
    job.row = row.data();
    job.out = img.px.data();
    if (!png_read_pixels_guarded(&job)) {
        if (job.tail_exceeded)
            throw InputError(name +
                             " is a corrupt PNG: its compressed data inflates far past the " +
                             std::to_string(job.width) + "x" + std::to_string(job.height) +
                             " pixels its header declares");
        throw InputError(corrupt(name, "PNG", "libpng", job.message));
    }
    return img;
}

}  // namespace fmp
