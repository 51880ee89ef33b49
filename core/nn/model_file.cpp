// Reads and writes the JSON model file; every field is checked so a bad file is one clear error.
#include "core/nn/model_file.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/data/point_io.h"

namespace fmp {
namespace {

using nlohmann::json;

constexpr int k_format_version = 1;
constexpr std::size_t k_max_model_bytes = 512u << 20;

json dataset_to_json(const Dataset& d) {
    json j;
    j["name"] = d.name();
    if (d.kind() == DatasetKind::PointSet) {
        json pts = json::array();
        const Points& p = d.points();
        for (Eigen::Index i = 0; i < p.rows(); ++i) pts.push_back({p(i, 0), p(i, 1)});
        j["points"] = std::move(pts);
        if (!d.point_classes().empty()) j["classes"] = d.point_classes();
    }
    return j;
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
    throw InputError(one_line_message(where, 200) + ": " + what);
}

const json& field(const json& obj, const char* key, const std::string& where) {
    if (!obj.is_object() || !obj.contains(key)) fail(where, std::string("missing field '") + key + "'");
    return obj.at(key);
}

double number(const json& obj, const char* key, const std::string& where) {
    const json& v = field(obj, key, where);
    if (!v.is_number()) fail(where, std::string("field '") + key + "' must be a number");
    double d = v.get<double>();
    if (!std::isfinite(d)) fail(where, std::string("field '") + key + "' is not finite");
    return d;
}

// Floats go through double so that a value beyond the float range is refused, not converted.
float single(const json& obj, const char* key, const std::string& where) {
    double d = number(obj, key, where);
    if (std::fabs(d) > std::numeric_limits<float>::max())
        fail(where, std::string("field '") + key + "' is beyond the 32-bit float range");
    return static_cast<float>(d);
}

// An integer within [lo, hi], checked before any conversion (4294967297 is not 1).
int64_t integer_in(const json& v, int64_t lo, int64_t hi, const std::string& what,
                   const std::string& where) {
    bool ok = false;
    int64_t i = 0;
    if (v.is_number_unsigned()) {
        uint64_t u = v.get<uint64_t>();
        ok = u <= static_cast<uint64_t>(hi);
        i = static_cast<int64_t>(std::min<uint64_t>(u, static_cast<uint64_t>(hi)));
    } else if (v.is_number_integer()) {
        i = v.get<int64_t>();
        ok = i >= lo && i <= hi;
    } else {
        fail(where, what + " must be an integer");
    }
    if (!ok) fail(where, what + " must be in " + std::to_string(lo) + ".." + std::to_string(hi));
    return i;
}

int integer(const json& obj, const char* key, const std::string& where) {
    const json& v = field(obj, key, where);
    return static_cast<int>(integer_in(v, std::numeric_limits<int>::min(),
                                       std::numeric_limits<int>::max(),
                                       std::string("field '") + key + "'", where));
}

std::string text(const json& obj, const char* key, const std::string& where) {
    const json& v = field(obj, key, where);
    if (!v.is_string()) fail(where, std::string("field '") + key + "' must be a string");
    return v.get<std::string>();
}

Dataset dataset_from_json(const json& j, const std::string& where) {
    std::string name = text(j, "name", where);
    if (j.contains("points")) {
        const json& pts = j.at("points");
        if (!pts.is_array() || pts.empty()) fail(where, "'points' must be a non-empty array");
        if (pts.size() > k_max_points) fail(where, "too many points");
        Points p(static_cast<Eigen::Index>(pts.size()), 2);
        for (std::size_t i = 0; i < pts.size(); ++i) {
            const json& q = pts[i];
            if (!q.is_array() || q.size() != 2 || !q[0].is_number() || !q[1].is_number())
                fail(where, "point " + std::to_string(i) + " must be [x, y]");
            for (int c = 0; c < 2; ++c) {
                double v = q[c].get<double>();
                if (!std::isfinite(v)) fail(where, "point " + std::to_string(i) + " is not finite");
                if (!(std::fabs(v) <= k_max_coordinate))
                    fail(where, coordinate_range_error("point " + std::to_string(i)));
                p(i, c) = static_cast<float>(v);
            }
        }
        std::vector<uint8_t> classes;
        if (j.contains("classes")) {
            const json& cs = j.at("classes");
            if (!cs.is_array() || cs.size() != pts.size())
                fail(where, "'classes' must be an array with one class per point");
            classes.reserve(cs.size());
            for (std::size_t i = 0; i < cs.size(); ++i) {
                if (!cs[i].is_number_integer() || cs[i].get<int64_t>() < 0 || cs[i].get<int64_t>() >= k_max_classes)
                    fail(where, "classes[" + std::to_string(i) + "] must be an integer 0..7");
                classes.push_back(static_cast<uint8_t>(cs[i].get<int64_t>()));
            }
        }
        try {
            return Dataset::from_points(std::move(p), name, std::move(classes));
        } catch (const InputError& e) {
            fail(where, e.what());
        }
    }
    auto kind = dataset_kind_from_name(name);
    if (!kind || *kind == DatasetKind::PointSet)
        fail(where, "unknown dataset " + quote_for_message(name) + " (a point set must carry 'points')");
    return Dataset(*kind);
}

}  // namespace

std::string model_to_json(const ModelFile& m) {
    json j;
    j["format"] = "fmplay-model";
    j["version"] = k_format_version;
    j["mlp"] = {{"depth", m.mlp.depth},
                {"width", m.mlp.width},
                {"activation", activation_name(m.mlp.activation)},
                {"time_encoding", time_encoding_name(m.mlp.time_encoding)},
                {"fourier_frequencies", m.mlp.fourier_frequencies},
                {"prediction", prediction_name(m.mlp.prediction)},
                {"classes", m.mlp.classes}};
    const PathParams& pp = m.path.params();
    j["path"] = {{"name", path_name(m.path.kind())}, {"sigma_min", pp.sigma_min},
                 {"beta_min", pp.beta_min},          {"beta_max", pp.beta_max},
                 {"poly_n", pp.poly_n},              {"ve_sigma_max", pp.ve_sigma_max}};
    j["coupling"] = coupling_name(m.coupling);
    j["coupling_options"] = {{"ot_batch", m.coupling_options.ot_batch},
                             {"ot_reg", m.coupling_options.ot_reg},
                             {"sb_sigma", m.coupling_options.sb_sigma}};
    j["reflow"] = m.reflow;
    j["steps_trained"] = m.steps_trained;
    j["loss"] = std::isfinite(m.loss) ? m.loss : 0.0f;
    j["source"] = dataset_to_json(m.source);
    j["target"] = dataset_to_json(m.target);
    j["params"] = m.params;
    return j.dump(1) + "\n";
}

ModelFile model_from_json(const std::string& text_in, const std::string& where) {
    json j = json::parse(text_in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) fail(where, "not valid JSON");
    if (!j.is_object() || !j.contains("format") || j["format"] != "fmplay-model")
        fail(where, "not an fmplay model file (missing \"format\": \"fmplay-model\")");
    int64_t version = integer_in(field(j, "version", where), 0, std::numeric_limits<int64_t>::max(),
                                 "field 'version'", where);
    if (version != k_format_version)
        fail(where, "unsupported model version " + std::to_string(version) + " (this fmplay reads 1)");
    ModelFile m;
    const json& mlp = field(j, "mlp", where);
    m.mlp.depth = integer(mlp, "depth", where);
    m.mlp.width = integer(mlp, "width", where);
    m.mlp.activation = make_activation(text(mlp, "activation", where));
    m.mlp.time_encoding = make_time_encoding(text(mlp, "time_encoding", where));
    m.mlp.fourier_frequencies = integer(mlp, "fourier_frequencies", where);
    // Older files predate the other predictions: their networks predict the velocity.
    if (mlp.contains("prediction")) m.mlp.prediction = make_prediction(text(mlp, "prediction", where));
    // Older files have no classes: unconditional.
    if (mlp.contains("classes"))
        m.mlp.classes = static_cast<int>(integer_in(mlp["classes"], 0, 8, "field 'mlp.classes'", where));
    m.mlp.validate();
    const json& path = field(j, "path", where);
    PathParams pp;
    pp.sigma_min = single(path, "sigma_min", where);
    pp.beta_min = single(path, "beta_min", where);
    pp.beta_max = single(path, "beta_max", where);
    pp.poly_n = single(path, "poly_n", where);
    pp.ve_sigma_max = single(path, "ve_sigma_max", where);
    m.path = make_path(text(path, "name", where), pp);
    m.mlp.path = m.path;  // a prediction converts to the velocity along the training path
    m.coupling = make_coupling(text(j, "coupling", where));
    if (m.mlp.prediction != Prediction::Velocity && m.coupling == CouplingKind::SchrodingerBridge)
        fail(where, "a " + prediction_name(m.mlp.prediction) +
                        "-predicting network cannot have the sb coupling (velocity only)");
    if (j.contains("coupling_options")) {
        const json& co = j["coupling_options"];
        m.coupling_options.ot_batch = static_cast<int>(integer_in(field(co, "ot_batch", where), 0, 65536,
                                                                  "field 'ot_batch'", where));
        m.coupling_options.ot_reg = single(co, "ot_reg", where);
        m.coupling_options.sb_sigma = single(co, "sb_sigma", where);
        m.coupling_options.validate();
    }
    if (j.contains("reflow"))
        m.reflow = static_cast<int>(integer_in(j["reflow"], 0, 1000, "field 'reflow'", where));
    m.steps_trained = integer_in(field(j, "steps_trained", where), 0,
                                 std::numeric_limits<int64_t>::max(), "field 'steps_trained'", where);
    m.loss = single(j, "loss", where);
    m.source = dataset_from_json(field(j, "source", where), where + " (source)");
    m.target = dataset_from_json(field(j, "target", where), where + " (target)");
    const json& params = field(j, "params", where);
    if (!params.is_array()) fail(where, "'params' must be an array of numbers");
    if (params.size() != m.mlp.parameter_count())
        fail(where, "'params' has " + std::to_string(params.size()) + " values; the network needs " +
                        std::to_string(m.mlp.parameter_count()));
    m.params.resize(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (!params[i].is_number()) fail(where, "params[" + std::to_string(i) + "] is not a number");
        double v = params[i].get<double>();
        if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max())
            fail(where, "params[" + std::to_string(i) + "] is not a finite 32-bit float");
        m.params[i] = static_cast<float>(v);
    }
    return m;
}

void save_model(const std::string& path, const ModelFile& model) {
    write_file_atomic(path, model_to_json(model));
}

ModelFile load_model(const std::string& path) {
    return model_from_json(read_file(path, k_max_model_bytes), path);
}

}  // namespace fmp
