// FFmpeg's error codes as text, for the encoders' one-line errors.
#pragma once
#include <string>

extern "C" {
#include <libavutil/error.h>
}

namespace fmp {

inline std::string av_error(int err) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(err, buf, sizeof buf);
    return buf;
}

}  // namespace fmp
