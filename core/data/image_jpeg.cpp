// JPEG decoding with libjpeg-turbo: header first, scans bounded, stb_image's colour conversions.
#include "core/data/image_decoders.h"

// libjpeg's headers only work in this order (jpeglib.h uses FILE and size_t without including
// their headers; jerror.h needs jpeglib.h's types for ERREXIT).
// clang-format off
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <vector>

namespace fmp {
namespace {

// A progressive JPEG is decoded once per scan over the whole image. Encoders write 2 to about 20
// scans (libjpeg's default script has 10); a file of many tiny scans is a known way to make
// libjpeg spin: measured, 704 legitimate scans over 16 megapixels take 4 s, so 1000 over 40
// megapixels would take about 15 s, while 100 stay under 2 s.
constexpr int k_max_jpeg_scans = 100;
// The most libjpeg may hold at once (a progressive image keeps all its coefficients: 2 bytes per
// sample, 320 MB for 40 megapixels of CMYK); the size caps already bound it, this is a backstop.
constexpr long k_max_jpeg_memory = 512L << 20;
// Warnings libjpeg would decode on through (extraneous bytes, odd progression), at most this many.
constexpr int k_max_jpeg_warnings = 100;

// As PngJob: plain data the libjpeg callbacks touch, set up by a caller that owns the buffers.
struct JpegJob {
    std::jmp_buf jmp;
    jpeg_decompress_struct cinfo;
    jpeg_error_mgr err;
    jpeg_progress_mgr progress;
    int warnings = 0;
    bool file_ended = false;  // the data ran out (see jpeg_on_message)
    bool too_many_scans = false;
    bool too_much_memory = false;
    // stb's conversion to luminance, chosen from the header (see jpeg_choose_conversion).
    enum Conversion { Gray, Rgb, Cmyk, Ycck, FirstChannel } conversion = Gray;
    unsigned char* row = nullptr;  // one output row, width * 4 bytes
    unsigned char* out = nullptr;  // width * height (luminance, alpha) pairs
    char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void jpeg_on_error(j_common_ptr cinfo) {
    auto* job = static_cast<JpegJob*>(cinfo->client_data);
    if (cinfo->err->msg_code == JERR_NO_BACKING_STORE) job->too_much_memory = true;
    (*cinfo->err->format_message)(cinfo, job->message);
    std::longjmp(job->jmp, 1);
}

// libjpeg decodes on through missing or damaged entropy data, filling grey: that would turn a
// truncated file into a half-grey picture, so those warnings are errors here. The end of the file
// alone is not: the decoder reads ahead, so a file that lacks only its closing EOI marker warns
// too, with every bit present (missing bits warn "premature end of data segment" as well). It is
// judged once all rows are out (jpeg_read_pixels_unguarded).
void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  // trace output
    auto* job = static_cast<JpegJob*>(cinfo->client_data);
    const int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF) job->file_ended = true;
    if (code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_ARITH_BAD_CODE ||
        code == JWRN_MUST_RESYNC || ++job->warnings > k_max_jpeg_warnings)
        jpeg_on_error(cinfo);
}

void jpeg_on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > k_max_jpeg_scans) {
        auto* job = static_cast<JpegJob*>(cinfo->client_data);
        job->too_many_scans = true;
        std::snprintf(job->message, sizeof job->message, "more than %d scans", k_max_jpeg_scans);
        std::longjmp(job->jmp, 1);
    }
}

// Creates the decompressor with its limits and reads the markers up to the first scan.
int jpeg_read_header_guarded(JpegJob* job, const unsigned char* data, std::size_t size) {
    if (setjmp(job->jmp)) return 0;
    job->cinfo.err = jpeg_std_error(&job->err);
    job->err.error_exit = jpeg_on_error;
    job->err.emit_message = jpeg_on_message;
    jpeg_create_decompress(&job->cinfo);
    job->cinfo.client_data = job;
    job->cinfo.mem->max_memory_to_use = k_max_jpeg_memory;
    job->progress.progress_monitor = jpeg_on_progress;
    job->cinfo.progress = &job->progress;
    jpeg_mem_src(&job->cinfo, data, static_cast<unsigned long>(size));
    if (jpeg_read_header(&job->cinfo, TRUE) != JPEG_HEADER_OK) {
        std::snprintf(job->message, sizeof job->message, "it holds tables but no image");
        return 0;
    }
    return 1;
}

// Picks stb's conversion from what the header says. stb took a 3-channel JPEG as RGB when its
// components are named R, G, B or an Adobe marker says "no transform" without a JFIF marker, and
// otherwise used Y alone (libjpeg's grey output from YCbCr is that same Y, without decoding the
// chroma). 4 channels: Adobe transform 0 is CMYK, 2 is YCCK, anything else gave the first channel.
// Every case asks libjpeg for the raw channels (no colour conversion of its own) so the arithmetic
// is stb's. Returns false for a channel count stb refused too.
bool jpeg_choose_conversion(JpegJob* job) {
    jpeg_decompress_struct& c = job->cinfo;
    const bool adobe = c.saw_Adobe_marker != 0;
    if (c.num_components == 1) {
        c.out_color_space = JCS_GRAYSCALE;
        job->conversion = JpegJob::Gray;
    } else if (c.num_components == 3) {
        const bool named_rgb = c.comp_info[0].component_id == 'R' &&
                               c.comp_info[1].component_id == 'G' &&
                               c.comp_info[2].component_id == 'B';
        if (named_rgb || (adobe && c.Adobe_transform == 0 && !c.saw_JFIF_marker)) {
            c.jpeg_color_space = c.out_color_space = JCS_RGB;
            job->conversion = JpegJob::Rgb;
        } else {
            c.jpeg_color_space = JCS_YCbCr;
            c.out_color_space = JCS_GRAYSCALE;
            job->conversion = JpegJob::Gray;
        }
    } else if (c.num_components == 4) {
        c.jpeg_color_space = c.out_color_space = JCS_CMYK;
        job->conversion = !adobe                   ? JpegJob::FirstChannel
                          : c.Adobe_transform == 0 ? JpegJob::Cmyk
                          : c.Adobe_transform == 2 ? JpegJob::Ycck
                                                   : JpegJob::FirstChannel;
    } else {
        return false;
    }
    return true;
}

// stb's 8-bit product x * y / 255, rounded.
inline unsigned char blinn_8x8(unsigned x, unsigned y) {
    unsigned t = x * y + 128;
    return static_cast<unsigned char>((t + (t >> 8)) >> 8);
}

// Runs inside jpeg_read_pixels_guarded's setjmp: plain locals only.
void jpeg_read_pixels_unguarded(JpegJob* job) {
    jpeg_decompress_struct& c = job->cinfo;
    jpeg_start_decompress(&c);  // a progressive file is read through here, scan by scan
    const int n = static_cast<int>(c.output_width);
    if (c.output_width != c.image_width || c.output_height != c.image_height ||
        c.output_components < 1 || c.output_components > 4)
        ERREXIT(&c, JERR_NOTIMPL);
    while (c.output_scanline < c.output_height) {
        const std::size_t y = c.output_scanline;
        JSAMPROW rows[1] = {job->row};
        if (jpeg_read_scanlines(&c, rows, 1) != 1) ERREXIT(&c, JERR_INPUT_EMPTY);
        unsigned char* out = job->out + y * static_cast<std::size_t>(n) * 2;
        const unsigned char* in = job->row;
        switch (job->conversion) {
            case JpegJob::Gray:
                to_luma_alpha(in, 1, n, out, 1);
                break;
            case JpegJob::Rgb:
                to_luma_alpha(in, 3, n, out, 1);
                break;
            case JpegJob::Cmyk:
                for (int i = 0; i < n; ++i, in += 4, out += 2) {
                    out[0] = luma(blinn_8x8(in[0], in[3]), blinn_8x8(in[1], in[3]),
                                  blinn_8x8(in[2], in[3]));
                    out[1] = 255;
                }
                break;
            case JpegJob::Ycck:
                for (int i = 0; i < n; ++i, in += 4, out += 2) {
                    out[0] = blinn_8x8(255 - in[0], in[3]);
                    out[1] = 255;
                }
                break;
            case JpegJob::FirstChannel:
                for (int i = 0; i < n; ++i, in += 4, out += 2) {
                    out[0] = in[0];
                    out[1] = 255;
                }
                break;
        }
    }
    // A progressive (or other multi-scan) file that ran out may have lost whole scans, which
    // libjpeg does not notice: the picture would come out blurred. Refuse it as truncated.
    if (job->file_ended && jpeg_has_multiple_scans(&c)) ERREXIT(&c, JWRN_JPEG_EOF);
    // jpeg_finish_decompress would only read on to EOI: every pixel is here.
}

int jpeg_read_pixels_guarded(JpegJob* job) {
    if (setjmp(job->jmp)) return 0;
    jpeg_read_pixels_unguarded(job);
    return 1;
}

}  // namespace

LumaAlpha decode_jpeg(std::string_view bytes, const std::string& name) {
    JpegJob job{};  // zeroed: jpeg_destroy on a never-created struct is a no-op
    struct Destroy {
        JpegJob& job;
        ~Destroy() { jpeg_destroy_decompress(&job.cinfo); }
    } destroy{job};
    auto fail = [&]() -> InputError {
        if (job.too_many_scans)
            return InputError(name + " is a JPEG with more than " +
                              std::to_string(k_max_jpeg_scans) + " progressive scans");
        if (job.too_much_memory)
            return InputError(name + " is a JPEG that needs more than 512 MiB to decode");
        return InputError(corrupt(name, "JPEG", "libjpeg", job.message));
    };
    if (!jpeg_read_header_guarded(&job, reinterpret_cast<const unsigned char*>(bytes.data()),
                                  bytes.size()))
        throw fail();
    check_image_size(name, job.cinfo.image_width, job.cinfo.image_height);
    if (!jpeg_choose_conversion(&job))
        throw InputError(name + " is a JPEG with " + std::to_string(job.cinfo.num_components) +
                         " colour channels; only grey (1), colour (3) and CMYK (4) are supported");
    LumaAlpha img = blank_image(static_cast<int>(job.cinfo.image_width),
                                static_cast<int>(job.cinfo.image_height));
    std::vector<unsigned char> row(static_cast<std::size_t>(job.cinfo.image_width) * 4);
    job.row = row.data();
    job.out = img.px.data();
    if (!jpeg_read_pixels_guarded(&job)) throw fail();
    return img;
}

}  // namespace fmp
