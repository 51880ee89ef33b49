// Helpers for the shared types.
#include "core/base/types.h"

namespace fmp {

std::string join_names(const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i) s += ", ";
        s += names[i];
    }
    return s;
}

}  // namespace fmp
