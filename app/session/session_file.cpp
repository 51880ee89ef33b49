// Session files: the window's settings, network, optimizer, batch stream, drawn sets and view as
// one JSON object, written atomically and read strictly.
#include "app/session/session_file.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/base/file_io.h"
#include "core/data/point_io.h"

namespace fmp {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
    throw InputError(where + ": " + what);
}

const json& member(const json& j, const char* key, const std::string& where) {
    if (!j.is_object()) fail(where, "expected a JSON object");
    auto it = j.find(key);
    if (it == j.end()) fail(where, std::string("missing field '") + key + "'");
    return *it;
}

double number(const json& j, const char* key, const std::string& where) {
    const json& v = member(j, key, where);
    if (!v.is_number()) fail(where, std::string("field '") + key + "' must be a number");
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(where, std::string("field '") + key + "' must be finite");
    return d;
}

float finite_float(const json& j, const char* key, const std::string& where) {
    const double d = number(j, key, where);
    if (std::fabs(d) > std::numeric_limits<float>::max())
        fail(where, std::string("field '") + key + "' is beyond the float range");
    return static_cast<float>(d);
}

bool boolean(const json& j, const char* key, const std::string& where) {
    const json& v = member(j, key, where);
    if (!v.is_boolean()) fail(where, std::string("field '") + key + "' must be true or false");
    return v.get<bool>();
}

int64_t integer(const json& j, const char* key, int64_t lo, int64_t hi, const std::string& where) {
    const json& v = member(j, key, where);
    if (!v.is_number_integer()) fail(where, std::string("field '") + key + "' must be an integer");
    const int64_t i = v.get<int64_t>();
    if (i < lo || i > hi)
        fail(where, std::string("field '") + key + "' must be in " + std::to_string(lo) + ".." + std::to_string(hi));
    return i;
}

// 64-bit words as 16 hex digits: JSON numbers keep only 53 bits.
std::string hex64(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
    return buf;
}

uint64_t parse_hex64(const json& j, const char* key, const std::string& where) {
    const json& v = member(j, key, where);
    if (!v.is_string()) fail(where, std::string("field '") + key + "' must be a string of 16 hex digits");
    const std::string s = v.get<std::string>();
    if (s.size() != 16 || s.find_first_not_of("0123456789abcdef") != std::string::npos)
        fail(where, std::string("field '") + key + "' must be 16 lowercase hex digits");
    return std::strtoull(s.c_str(), nullptr, 16);
}

json float_array(const std::vector<float>& v) {
    json a = json::array();
    for (float x : v) a.push_back(x);
    return a;
}

std::vector<float> read_floats(const json& j, const char* key, std::size_t count, const std::string& where) {
    const json& a = member(j, key, where);
    if (!a.is_array()) fail(where, std::string("field '") + key + "' must be an array of numbers");
    if (a.size() != count)
        fail(where, std::string("field '") + key + "' has " + std::to_string(a.size()) + " entries; the network needs " +
                        std::to_string(count));
    std::vector<float> out(count);
    for (std::size_t i = 0; i < count; ++i) {
        if (!a[i].is_number()) fail(where, std::string("field '") + key + "' holds a non-number");
        const double d = a[i].get<double>();
        if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max())
            fail(where, std::string("field '") + key + "' holds a non-finite value");
        out[i] = static_cast<float>(d);
    }
    return out;
}

json drawn_to_json(const DrawnSet& d) {
    json pts = json::array();
    for (Eigen::Index i = 0; i < d.points.rows(); ++i) pts.push_back({d.points(i, 0), d.points(i, 1)});
    json j = {{"points", pts}};
    if (!d.classes.empty()) j["classes"] = d.classes;
    return j;
}

DrawnSet drawn_from_json(const json& j, const std::string& where) {
    DrawnSet d;
    const json& pts = member(j, "points", where);
    if (!pts.is_array()) fail(where, "field 'points' must be an array of [x, y]");
    if (pts.size() > k_max_points) fail(where, "too many points");
    d.points.resize(static_cast<Eigen::Index>(pts.size()), 2);
    for (std::size_t i = 0; i < pts.size(); ++i) {
        const json& p = pts[i];
        if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number())
            fail(where, "point " + std::to_string(i) + " is not [x, y]");
        for (int c = 0; c < 2; ++c) {
            const double v = p[static_cast<std::size_t>(c)].get<double>();
            if (!(std::fabs(v) <= k_max_coordinate))
                fail(where, "point " + std::to_string(i) + " is beyond the coordinate range |x|, |y| <= 1e6");
            d.points(static_cast<Eigen::Index>(i), c) = static_cast<float>(v);
        }
    }
    if (auto it = j.find("classes"); it != j.end()) {
        if (!it->is_array() || it->size() != pts.size())
            fail(where, "field 'classes' must hold one class 0..7 per point");
        for (const json& c : *it) {
            if (!c.is_number_integer() || c.get<int64_t>() < 0 || c.get<int64_t>() >= k_max_classes)
                fail(where, "field 'classes' must hold one class 0..7 per point");
            d.classes.push_back(static_cast<uint8_t>(c.get<int64_t>()));
        }
    }
    return d;
}

}  // namespace

std::string session_to_json(const Session& s) {
    json j;
    j["format"] = "fmplay-session";
    j["version"] = k_session_version;
    j["scene"] = json::parse(export_settings_to_json(s.scene));
    ModelFile model = s.model;
    model.params = s.training.params;
    model.steps_trained = s.training.step;
    j["model"] = json::parse(model_to_json(model));
    json losses = json::array();
    for (const LossRecord& r : s.losses) losses.push_back({r.step, r.loss});
    j["training"] = {{"step", s.training.step},
                     {"adam_m", float_array(s.training.adam_m)},
                     {"adam_v", float_array(s.training.adam_v)},
                     {"batch_rng",
                      {{"state", hex64(s.training.batch_rng.state)},
                       {"inc", hex64(s.training.batch_rng.inc)},
                       {"spare", s.training.batch_rng.spare},
                       {"has_spare", s.training.batch_rng.has_spare}}},
                     {"losses", losses},
                     {"running", s.running}};
    j["window"] = {{"t", s.t},
                   {"playing", s.playing},
                   {"camera", {{"center", {s.center_x, s.center_y}}, {"pixels_per_unit", s.pixels_per_unit}}},
                   {"drawn", {{"target", drawn_to_json(s.drawn_target)}, {"source", drawn_to_json(s.drawn_source)}}},
                   {"target_drawn", s.target_drawn},
                   {"source_drawn", s.source_drawn},
                   {"compare",
                    {{"on", s.compare.on},
                     {"path", s.compare.path},
                     {"coupling", s.compare.coupling},
                     {"prediction", s.compare.prediction},
                     {"solver", s.compare.solver},
                     {"steps", s.compare.steps}}}};
    return j.dump();
}

Session session_from_json(const std::string& text, const std::string& where) {
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) fail(where, "not valid JSON (a truncated or damaged file?)");
    if (!j.is_object() || !j.contains("format") || j["format"] != "fmplay-session")
        fail(where, "not an fmplay session (missing \"format\": \"fmplay-session\")");
    const int64_t version = integer(j, "version", 0, std::numeric_limits<int32_t>::max(), where);
    if (version > k_session_version)
        fail(where, "session version " + std::to_string(version) + " is newer than this fmplay reads (" +
                        std::to_string(k_session_version) + "): update fmplay");
    if (version < 1) fail(where, "unknown session version " + std::to_string(version));
    Session s;
    // The embedded parts are read by their own strict readers, named in their messages.
    s.scene = export_settings_from_json(member(j, "scene", where).dump(), where + ": scene");
    s.model = model_from_json(member(j, "model", where).dump(), where + ": model");
    const std::size_t p = s.model.mlp.parameter_count();
    const json& tr = member(j, "training", where);
    const std::string twhere = where + ": training";
    s.training.params = s.model.params;
    s.training.step = integer(tr, "step", 0, std::numeric_limits<int64_t>::max() / 2, twhere);
    s.training.adam_m = read_floats(tr, "adam_m", p, twhere);
    s.training.adam_v = read_floats(tr, "adam_v", p, twhere);
    const json& rng = member(tr, "batch_rng", twhere);
    s.training.batch_rng.state = parse_hex64(rng, "state", twhere + ".batch_rng");
    s.training.batch_rng.inc = parse_hex64(rng, "inc", twhere + ".batch_rng");
    if ((s.training.batch_rng.inc & 1u) == 0) fail(twhere + ".batch_rng", "field 'inc' must be odd");
    s.training.batch_rng.spare = finite_float(rng, "spare", twhere + ".batch_rng");
    s.training.batch_rng.has_spare = boolean(rng, "has_spare", twhere + ".batch_rng");
    try {
        validate_training_state(s.training, p);
    } catch (const InputError& e) {
        fail(where, e.what());
    }
    const json& losses = member(tr, "losses", twhere);
    if (!losses.is_array()) fail(twhere, "field 'losses' must be an array of [step, loss]");
    if (losses.size() > k_max_session_losses) fail(twhere, "too many losses");
    for (const json& r : losses) {
        if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number())
            fail(twhere, "field 'losses' must hold [step, loss] pairs");
        const double loss = r[1].get<double>();
        if (!std::isfinite(loss) || loss < 0.0 || loss > std::numeric_limits<float>::max())
            fail(twhere, "field 'losses' holds a negative or non-finite loss");
        s.losses.push_back({r[0].get<int64_t>(), static_cast<float>(loss)});
    }
    s.running = boolean(tr, "running", twhere);
    const json& w = member(j, "window", where);
    const std::string wwhere = where + ": window";
    s.t = finite_float(w, "t", wwhere);
    if (s.t < 0.0f || s.t > 1.0f) fail(wwhere, "field 't' must be in [0, 1]");
    s.playing = boolean(w, "playing", wwhere);
    const json& cam = member(w, "camera", wwhere);
    const json& c = member(cam, "center", wwhere + ".camera");
    if (!c.is_array() || c.size() != 2 || !c[0].is_number() || !c[1].is_number())
        fail(wwhere, "field 'camera.center' must be [x, y]");
    const double cx = c[0].get<double>(), cy = c[1].get<double>();
    if (!(std::fabs(cx) <= k_max_coordinate) || !(std::fabs(cy) <= k_max_coordinate))
        fail(wwhere, "field 'camera.center' is beyond the coordinate range");
    s.center_x = static_cast<float>(cx);
    s.center_y = static_cast<float>(cy);
    s.pixels_per_unit = finite_float(cam, "pixels_per_unit", wwhere + ".camera");
    if (!(s.pixels_per_unit > 1e-6f && s.pixels_per_unit < 1e9f))
        fail(wwhere, "field 'camera.pixels_per_unit' must be in (1e-6, 1e9)");
    const json& drawn = member(w, "drawn", wwhere);
    s.drawn_target = drawn_from_json(member(drawn, "target", wwhere + ".drawn"), wwhere + ".drawn.target");
    s.drawn_source = drawn_from_json(member(drawn, "source", wwhere + ".drawn"), wwhere + ".drawn.source");
    s.target_drawn = boolean(w, "target_drawn", wwhere);
    s.source_drawn = boolean(w, "source_drawn", wwhere);
    if ((s.target_drawn && s.drawn_target.points.rows() == 0) || (s.source_drawn && s.drawn_source.points.rows() == 0))
        fail(wwhere, "a side marked drawn has no drawn points");
    if (version >= 2) {
        const json& c = member(w, "compare", wwhere);
        const std::string cwhere = wwhere + ".compare";
        s.compare.on = boolean(c, "on", cwhere);
        auto name = [&](const char* key, const std::vector<std::string>& names) {
            const json& v = member(c, key, cwhere);
            if (!v.is_string() || (v.get<std::string>() != "same" && name_index(names, v.get<std::string>()) < 0))
                fail(cwhere, std::string("field '") + key + "' must be same or one of " + join_names(names));
            return v.get<std::string>();
        };
        s.compare.path = name("path", path_names());
        s.compare.coupling = name("coupling", coupling_names());
        s.compare.prediction = name("prediction", prediction_names());
        s.compare.solver = name("solver", solver_names());
        s.compare.steps = static_cast<int>(integer(c, "steps", 0, 1000, cwhere));
    }
    return s;
}

void save_session(const std::string& path, const Session& session) {
    write_file_atomic(path, session_to_json(session));
}

Session load_session(const std::string& path) {
    return session_from_json(read_file(path, k_max_session_bytes), path);
}

}  // namespace fmp
