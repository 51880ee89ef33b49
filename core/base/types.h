// Shared numeric types (2D point sets, batch-major matrices) and the error type for bad input.
#pragma once
#include <Eigen/Core>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fmp {

// N points in the plane, one per row; row-major so the memory is the x,y,x,y,... layout that
// GPU buffers, CSV files and vertex arrays use.
using Points = Eigen::Matrix<float, Eigen::Dynamic, 2, Eigen::RowMajor>;
// A batch-major matrix: one sample per row.
using MatrixRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorF = Eigen::VectorXf;

// Bad user input (unknown name, malformed file, out-of-range size). The message is one line that
// says what is wrong and, for names, lists the valid choices. The CLI maps it to exit code 2.
class InputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// "a, b, c" for error messages that name the valid choices.
std::string join_names(const std::vector<std::string>& names);
// The position of `name` in `names`, or -1 when it is not there.
int name_index(const std::vector<std::string>& names, const std::string& name);

// User text to echo inside a one-line message: quoted, at most max_chars characters (then "..."),
// control characters and invalid UTF-8 shown as '?', so a file's content or a name can never
// break the line or send escape sequences to the terminal.
std::string quote_for_message(std::string_view text, std::size_t max_chars = 40);
// A message as one printable line of at most max_chars: line breaks become spaces, other control
// characters '?'. What the CLI prints after "fmplay: error:" and what the window shows.
std::string one_line_message(std::string_view message, std::size_t max_chars = 1000);

}  // namespace fmp
