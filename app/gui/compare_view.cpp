// Side by side: lane B's settings (A's with B's differences), its trainer and view worker, the
// split canvas, and the metrics of both lanes.
#include "app/gui/compare_view.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <thread>

#include "app/gui/main_window.h"
#include "app/gui/theme.h"
#include "app/gui/widgets.h"
#include "core/metrics/metrics.h"

namespace fmp {
namespace {

// B's settings: A's with B's differences.
UiSettings lane_b_settings(const UiSettings& a, const CompareOverrides& o) {
    UiSettings b = a;
    if (o.path >= 0) b.path = o.path;
    if (o.coupling >= 0) b.coupling = o.coupling;
    if (o.prediction >= 0) b.prediction = o.prediction;
    if (o.solver >= 0) b.solver = o.solver;
    if (o.steps > 0) b.solver_steps = o.steps;
    return b;
}

std::string lane_label(const UiSettings& s) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s path · %s coupling · %s %d steps", path_names()[s.path].c_str(),
                  coupling_names()[s.coupling].c_str(), solver_names()[s.solver].c_str(), s.solver_steps);
    std::string label = buf;
    if (s.prediction != 0) label += " · predicts " + prediction_names()[s.prediction];
    return label;
}

int pick_index(const std::vector<std::string>& names, const std::string& value, const char* key) {
    if (value == "same") return -1;
    const int i = name_index(names, value);
    if (i < 0)
        throw InputError(std::string("--script ") + key + "=" + quote_for_message(value) + ": valid: same, " +
                         join_names(names));
    return i;
}

}  // namespace

CompareView::CompareView() = default;
CompareView::~CompareView() = default;

void CompareView::set_on(GuiApp& app, bool on) {
    if (on == m_on) return;
    m_on = on;
    if (on) {
        m_trainer = std::make_unique<Trainer>(make_cpu_engine(), true);
        m_worker = std::make_unique<FlowWorker>();
        m_key.clear();
        m_spec_key.clear();
        update(app);
    } else {
        m_trainer.reset();
        m_worker.reset();
        if (app.m_steps_per_frame == 0 && !app.m_divergence_open) app.m_trainer->set_running(app.m_training);
        m_keep_a.reset();
        m_keep_b.reset();
    }
    app.m_fit_pending = true;
    app.fit_view();
}

void CompareView::set_overrides(GuiApp& app, const CompareOverrides& o) {
    m_over = o;
    if (m_on) update(app);
}

std::string CompareView::training_key(const GuiApp& app) const {
    const UiSettings b = lane_b_settings(app.m_settings, m_over);
    char buf[400];
    std::snprintf(buf, sizeof buf, "%d %d %d %d %d %g %g %d %d %d %d %d %g %d %d %g %s %s %llu %d", b.target, b.source,
                  b.path, b.coupling, b.ot_batch, b.ot_reg, b.sb_sigma, b.prediction, b.width, b.depth, b.activation,
                  b.seed, b.lr, b.batch, b.classes ? 1 : 0, b.p_uncond, app.m_spec.source.name().c_str(),
                  app.m_spec.target.name().c_str(), static_cast<unsigned long long>(app.m_trainer->snapshot().generation),
                  app.m_draw->swaps());
    return buf;
}

void CompareView::restart(GuiApp& app) {
    const UiSettings b = lane_b_settings(app.m_settings, m_over);
    TrainConfig config = app.train_config_for(b);
    config.mlp.classes = b.classes && app.m_spec.target.class_count() >= 2 ? app.m_spec.target.class_count() : 0;
    config.validate();
    m_trainer->reset(config, app.m_spec.source, app.m_spec.target);
    m_trainer->set_running(app.m_training);
    m_sent_params = 0;
    m_loss_ema = m_loss_weight = 0.0;
    m_metrics_b = LaneMetrics();
    m_keep_b.reset();
    m_metrics_traj_b = nullptr;
}

void CompareView::update(GuiApp& app) {
    if (!m_on) return;
    // B trains again from fresh weights when its training would differ; A's new generations too
    // (new data, a reset), so both lanes start together.
    const std::string key = training_key(app);
    if (key != m_key) {
        try {
            restart(app);
            m_key = key;
        } catch (const InputError& e) {
            app.m_message = "B: " + one_line_message(e.what(), 200);
            app.m_message_until = app.m_now + 8.0;
            m_over = CompareOverrides();
            m_key.clear();
            return;
        }
    }
    const UiSettings b = lane_b_settings(app.m_settings, m_over);
    FlowSpec spec = app.m_spec;  // the same data, particles (count and seed) and view options
    spec.path = ProbabilityPath(*path_kind_from_name(path_names()[b.path]));
    spec.coupling = *coupling_kind_from_name(coupling_names()[b.coupling]);
    spec.solver = *solver_kind_from_name(solver_names()[b.solver]);
    spec.steps = b.solver_steps;
    spec.particles = std::min(spec.particles, 20000);  // the CPU worker integrates B
    char sk[200];
    std::snprintf(sk, sizeof sk, "%s|%d|%d|%d|%d|%g|%g|%d|%g", m_key.c_str(), static_cast<int>(spec.solver), spec.steps,
                  spec.particles, static_cast<int>(spec.path.kind()), spec.tolerance, spec.sde_gamma, spec.follow_class,
                  spec.guidance);
    if (sk != m_spec_key) {
        m_spec = spec;
        m_worker->set_spec(m_spec);
        m_spec_key = sk;
    }
    if (shares_network(app)) {
        // Only the solver differs: B draws A's own network, so the halves differ by the solver alone.
        m_trainer->set_running(false);
        const TrainingSnapshot& a = app.m_snapshot;
        if (a.params && a.params_version != m_sent_params) {
            m_worker->set_params(a.params, a.mlp, a.params_version);
            m_sent_params = a.params_version;
        }
        m_metrics_b.step = a.step;
        if (!app.m_loss_smooth.empty()) m_metrics_b.loss = app.m_loss_smooth.back();
        refresh_metrics_b();
        return;
    }
    // The lanes train in step: B catches up with A (A waits while B is more than a few chunks
    // behind), then both go on together, so the halves compare networks trained as long.
    const TrainingSnapshot snap = m_trainer->snapshot();
    const int64_t a_step = app.m_trainer->snapshot().step;
    const bool b_behind = snap.step + 256 < a_step;
    m_trainer->set_running(snap.step < a_step || (app.m_training && snap.step <= a_step + 64));
    if (app.m_steps_per_frame == 0 && !app.m_divergence_open)
        app.m_trainer->set_running(app.m_training && !b_behind);
    if (snap.params && snap.params_version != m_sent_params) {
        m_worker->set_params(snap.params, snap.mlp, snap.params_version);
        m_sent_params = snap.params_version;
    }
    for (const LossRecord& r : m_trainer->take_losses()) {
        if (!std::isfinite(r.loss)) continue;
        m_loss_ema = 0.98 * m_loss_ema + 0.02 * r.loss;
        m_loss_weight = 0.98 * m_loss_weight + 0.02;
    }
    m_metrics_b.step = snap.step;
    if (m_loss_weight > 0) m_metrics_b.loss = m_loss_ema / m_loss_weight;
    refresh_metrics_b();
}

void CompareView::refresh_metrics_b() {
    auto traj = m_worker->trajectory();
    auto ref = m_worker->reference();
    if (traj && ref && traj.get() != m_metrics_traj_b && traj->spec_id == ref->spec_id) {
        update_metrics(*traj, *ref, m_metrics_b);
        m_metrics_traj_b = traj.get();
        m_keep_b = traj;
    }
}

void CompareView::update_metrics(const Trajectory& traj, const FlowReference& ref, LaneMetrics& m) const {
    if (traj.frames.empty() || !traj.error.empty()) return;
    const Points& last = traj.frames.back();
    const Eigen::Index n = std::min<Eigen::Index>(last.rows(), 2048);
    m.w2 = sliced_wasserstein2(last.topRows(n), ref.target, 64, 7);
    // Straightness over a subset of the paths: the frames of the first 2048 particles.
    std::vector<Points> frames;
    frames.reserve(traj.frames.size());
    for (const Points& f : traj.frames) frames.push_back(f.topRows(n));
    m.straightness = straightness(frames);
    m.nfe = traj.stats.evaluations;
}

LaneMetrics CompareView::metrics_a(GuiApp& app) {
    m_metrics_a.step = app.m_snapshot.step;
    if (!app.m_loss_smooth.empty()) m_metrics_a.loss = app.m_loss_smooth.back();
    auto traj = app.m_worker->trajectory();
    auto ref = app.m_worker->reference();
    if (traj && ref && traj.get() != m_metrics_traj_a && traj->spec_id == ref->spec_id) {
        update_metrics(*traj, *ref, m_metrics_a);
        m_metrics_traj_a = traj.get();
        m_keep_a = traj;
    }
    return m_metrics_a;
}

void CompareView::wait_ready(double timeout_seconds) {
    if (!m_on) return;
    m_worker->wait_for_trajectory(std::max<uint64_t>(1, m_sent_params), timeout_seconds);
}

std::shared_ptr<const Trajectory> CompareView::trajectory_b() const {
    return m_worker ? m_worker->trajectory() : nullptr;
}

std::string CompareView::label_a(const GuiApp& app) const { return lane_label(app.m_settings); }
std::string CompareView::label_b(const GuiApp& app) const { return lane_label(lane_b_settings(app.m_settings, m_over)); }

bool CompareView::shares_network(const GuiApp& app) const {
    const UiSettings& a = app.m_settings;
    return (m_over.path < 0 || m_over.path == a.path) && (m_over.coupling < 0 || m_over.coupling == a.coupling) &&
           (m_over.prediction < 0 || m_over.prediction == a.prediction);
}

int64_t CompareView::b_step(const GuiApp& app) const {
    if (!m_on) return 0;
    return shares_network(app) ? app.m_snapshot.step : m_trainer->snapshot().step;
}

bool CompareView::has_model() const { return m_on && m_trainer && (m_trainer->snapshot().params != nullptr || m_sent_params > 0); }

void CompareView::b_model(const GuiApp& app, ExportSettings& scene, ExportModel& model) const {
    const UiSettings b = lane_b_settings(app.m_settings, m_over);
    scene.train.path = path_names()[b.path];
    scene.train.coupling = coupling_names()[b.coupling];
    scene.train.prediction = prediction_names()[b.prediction];
    scene.solver = solver_names()[b.solver];
    scene.solver_steps = b.solver_steps;
    const TrainingSnapshot snap = shares_network(app) ? app.m_snapshot : m_trainer->snapshot();
    if (!snap.params) throw InputError("nothing to export yet: B has no weights");
    model.mlp = snap.mlp;
    model.params = *snap.params;
    model.step = snap.step;
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Drawing

void CompareView::render(GuiApp& app, SceneRenderer& renderer, const View2D& view, const int clip[4]) {
    auto traj = m_worker->trajectory();
    auto ref = m_worker->reference();
    if (app.m_scene_options.arrows) m_worker->request_arrows(arrow_request_for(view, app.m_scene_options, app.m_t));
    auto arrows = m_worker->arrows();
    if (traj && app.m_scene_options.paths && m_pairs.spec_id != traj->spec_id)
        m_pairs = make_conditional_pairs(*traj, m_spec, app.m_scene_options.path_count);
    SceneInputs in;
    in.trajectory = traj.get();
    in.arrows = app.m_scene_options.arrows ? arrows.get() : nullptr;
    in.reference = ref.get();
    in.pairs = &m_pairs;
    in.path = &m_spec.path;
    in.t = app.m_t;
    build_scene(in, app.m_scene_options, view, m_scene);
    for (int i = 0; i < 4; ++i) m_scene.clip[i] = clip[i];
    m_scene.clear_outside_clip = false;
    renderer.render(m_scene, view);
}

void CompareView::draw_overlay(GuiApp& app, float split_x, float top, float bottom) {
    ImDrawList* dl = ImGui::GetBackgroundDrawList();
    const ImGuiIO& io = ImGui::GetIO();
    const float x = split_x / io.DisplayFramebufferScale.x;
    dl->AddLine(ImVec2(x, top), ImVec2(x, bottom), IM_COL32(200, 206, 220, 170), 2.0f);
    const LaneMetrics a = metrics_a(app), b = m_metrics_b;
    auto lines = [](const char* lane, const std::string& label, const LaneMetrics& m) {
        char buf[300];
        std::snprintf(buf, sizeof buf, "%s  %s\nloss %.3f · W2 %s · straightness %s · NFE %lld · step %lld", lane,
                      label.c_str(), m.loss, m.w2 < 0 ? "…" : std::to_string(m.w2).substr(0, 5).c_str(),
                      m.straightness < 0 ? "…" : std::to_string(m.straightness).substr(0, 5).c_str(),
                      static_cast<long long>(m.nfe), static_cast<long long>(m.step));
        return std::string(buf);
    };
    const float left = (app.m_panels ? app.m_left_w : 0.0f) / io.DisplayFramebufferScale.x;
    const float pad = 10 * app.m_scale;
    ImFont* font = ui_fonts().regular;
    for (int lane = 0; lane < 2; ++lane) {
        std::string text = lane == 0 ? lines("A", label_a(app), a) : lines("B", label_b(app), b);
        if (lane == 1 && b.step + 256 < a.step) text += "\ncatching up with A (A waits)";
        const ImVec2 p(lane == 0 ? left + pad : x + pad, top + pad);
        const ImVec2 size = font->CalcTextSizeA(font->FontSize, 1e9f, 0.0f, text.c_str());
        dl->AddRectFilled(ImVec2(p.x - 6, p.y - 4), ImVec2(p.x + size.x + 6, p.y + size.y + 4), IM_COL32(15, 17, 22, 200),
                          5.0f);
        dl->AddText(font, font->FontSize, p, lane == 0 ? IM_COL32(120, 200, 255, 255) : IM_COL32(255, 190, 110, 255),
                    text.c_str());
    }
}

void CompareView::draw_section(GuiApp& app) {
    bool on = m_on;
    if (ImGui::Checkbox("compare A | B", &on)) set_on(app, on);
    tip("Splits the canvas: A (left) is this window's flow, B (right) the same data, source particles and t "
        "with the differences chosen below, trained side by side on its own. Under each: loss, sliced W2 of "
        "the samples to the target, straightness E∫|(x₁ − x₀) − ẋ|² dt (0: straight paths at constant "
        "speed) and NFE, the network evaluations per sample.");
    ImGui::BeginDisabled(!m_on);
    CompareOverrides o = m_over;
    auto pick = [&](const char* label, int& slot, const std::vector<std::string>& names, const char* what) {
        std::vector<std::string> items = {"same"};
        std::vector<std::string> labels = {std::string("as A")};
        for (const auto& n : names) items.push_back(n), labels.push_back(n);
        int index = slot + 1;
        ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.55f);
        if (combo(label, index, items, &labels)) slot = index - 1;
        tip(what);
    };
    pick("B path", o.path, path_names(), "B's probability path (α_t, σ_t): e.g. condot vs vp from the same noise.");
    pick("B coupling", o.coupling, coupling_names(), "B's coupling: independent vs minibatch OT shows the crossings go.");
    pick("B predicts", o.prediction, prediction_names(), "What B's network predicts (velocity, data or noise).");
    pick("B solver", o.solver, solver_names(), "B's ODE solver: e.g. Euler vs RK4 on the same field.");
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.55f);
    int steps = o.steps;
    if (ImGui::SliderInt("B steps", &steps, 0, 100, steps == 0 ? "as A" : "%d")) o.steps = steps;
    tip("B's solver steps (0: as A): 3 vs 30 Euler steps from identical noise.");
    ImGui::EndDisabled();
    if (o.path != m_over.path || o.coupling != m_over.coupling || o.prediction != m_over.prediction ||
        o.solver != m_over.solver || o.steps != m_over.steps)
        set_overrides(app, o);
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Scripts and report

const std::vector<std::string>& CompareView::script_keys() {
    static const std::vector<std::string> keys = {"compare", "compare_path", "compare_coupling", "compare_prediction",
                                                  "compare_solver", "compare_steps"};
    return keys;
}

void CompareView::check_script(const std::string& key, const std::string& value) {
    if (key == "compare" && value != "on" && value != "off" && value != "wait")
        throw InputError("--script compare takes on, off or wait (until B has trained as long as A)");
    if (key == "compare_path") (void)pick_index(path_names(), value, key.c_str());
    if (key == "compare_coupling") (void)pick_index(coupling_names(), value, key.c_str());
    if (key == "compare_prediction") (void)pick_index(prediction_names(), value, key.c_str());
    if (key == "compare_solver") (void)pick_index(solver_names(), value, key.c_str());
    if (key == "compare_steps") {
        char* end = nullptr;
        const long n = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || n < 0 || n > 1000)
            throw InputError("--script compare_steps takes 0 (as A) .. 1000");
    }
}

bool CompareView::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    if (name_index(script_keys(), key) < 0) return false;
    check_script(key, value);
    CompareOverrides o = m_over;
    if (key == "compare" && value == "wait") {
        if (!m_on) set_on(app, true);
        app.m_trainer->set_running(false);  // A waits for B
        for (int i = 0; i < 12000; ++i) {
            update(app);
            app.m_trainer->set_running(false);
            if (b_step(app) >= app.m_trainer->snapshot().step || !m_trainer->error().empty()) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        app.m_trainer->set_running(app.m_training && app.m_steps_per_frame == 0);
    } else if (key == "compare") set_on(app, value == "on");
    else if (key == "compare_path") o.path = pick_index(path_names(), value, key.c_str());
    else if (key == "compare_coupling") o.coupling = pick_index(coupling_names(), value, key.c_str());
    else if (key == "compare_prediction") o.prediction = pick_index(prediction_names(), value, key.c_str());
    else if (key == "compare_solver") o.solver = pick_index(solver_names(), value, key.c_str());
    else if (key == "compare_steps") o.steps = std::atoi(value.c_str());
    if (key != "compare") set_overrides(app, o);
    return true;
}

void CompareView::print_report(GuiApp& app) {
    if (!m_on) return;
    // Both lanes' particles at t = 0: the same source samples.
    double diff = -1.0;
    auto ta = app.m_worker->trajectory();
    auto tb = m_worker->trajectory();
    if (ta && tb && !ta->frames.empty() && !tb->frames.empty()) {
        const Eigen::Index n = std::min(ta->frames[0].rows(), tb->frames[0].rows());
        diff = n > 0 ? static_cast<double>((ta->frames[0].topRows(n) - tb->frames[0].topRows(n)).cwiseAbs().maxCoeff()) : -1.0;
    }
    refresh_metrics_b();
    const LaneMetrics a = metrics_a(app), b = m_metrics_b;
    std::printf("compare: on\ncompare b: %s\ncompare x0 difference: %g\n", label_b(app).c_str(), diff);
    std::printf("compare a metrics: loss %.4f w2 %.4f straightness %.4f nfe %lld step %lld\n", a.loss, a.w2,
                a.straightness, static_cast<long long>(a.nfe), static_cast<long long>(a.step));
    std::printf("compare b metrics: loss %.4f w2 %.4f straightness %.4f nfe %lld step %lld\n", b.loss, b.w2,
                b.straightness, static_cast<long long>(b.nfe), static_cast<long long>(b.step));
    std::printf("compare b training steps: %lld\ncompare b shares a's network: %s\n", static_cast<long long>(b_step(app)),
                shares_network(app) ? "yes" : "no");
}

}  // namespace fmp
