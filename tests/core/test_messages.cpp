// User text inside error messages: one printable line, bounded, whatever the text holds.
#include <doctest/doctest.h>

#include <string>

#include "core/base/types.h"
#include "core/data/dataset.h"
#include "core/flow/probability_path.h"

using fmp::one_line_message;
using fmp::quote_for_message;

TEST_CASE("quoted echoes keep printable text and UTF-8, and nothing else") {
    CHECK(quote_for_message("moons") == "'moons'");
    CHECK(quote_for_message("Größe σ_t") == "'Größe σ_t'");
    CHECK(quote_for_message("a\x1b[2Jb") == "'a?[2Jb'");           // a terminal escape
    CHECK(quote_for_message("a\nb\tc") == "'a?b?c'");
    CHECK(quote_for_message("\xc2\x9b" "31m") == "'?" "?31m'");     // a C1 control (CSI) in UTF-8
    CHECK(quote_for_message("\xff\xfe") == "'?" "?'");               // not UTF-8
    CHECK(quote_for_message("\xc0\xaf") == "'?" "?'");               // an overlong '/'
    CHECK(quote_for_message(std::string(100000, 'x')).size() < 60);  // 40 characters and "..."
    CHECK(quote_for_message(std::string(100000, 'x')).find("...") != std::string::npos);
}

TEST_CASE("a message becomes one bounded line") {
    CHECK(one_line_message("first line\nsecond line") == "first line second line");
    CHECK(one_line_message("bell\a") == "bell?");
    CHECK(one_line_message(std::string(5000, 'y')).size() <= 1003);
}

TEST_CASE("names echoed by the makers are sanitised") {
    const std::string evil = "\x1b]0;pwned\x07" + std::string(100000, 'A');
    try {
        (void)fmp::make_dataset(evil);
        FAIL("an unknown dataset was accepted");
    } catch (const fmp::InputError& e) {
        std::string what = e.what();
        CHECK(what.find('\x1b') == std::string::npos);
        CHECK(what.find('\x07') == std::string::npos);
        CHECK(what.size() < 400);
    }
    try {
        (void)fmp::make_path(evil);
        FAIL("an unknown path was accepted");
    } catch (const fmp::InputError& e) {
        CHECK(std::string(e.what()).find('\x1b') == std::string::npos);
        CHECK(std::string(e.what()).size() < 400);
    }
}
