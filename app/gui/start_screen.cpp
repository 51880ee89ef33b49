// The start screen's gallery: cards for the lessons and the example scenes (assets/scenes), their
// thumbnails trained on a worker thread and rendered by the export's renderer, cached on disk.
#include "app/gui/start_screen.h"

#include <glad/gl.h>
#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "app/gui/main_window.h"
#include "app/gui/theme.h"
#include "app/gui/widgets.h"
#include "app/lesson/lesson.h"
#include "app/run/training_run.h"
#include "core/base/file_io.h"
#include "core/base/resources.h"

namespace fmp {
namespace {

constexpr int k_thumb_w = 256, k_thumb_h = 144;
constexpr int k_thumb_steps = 600;  // enough for the shape, a fraction of a second each

std::string hex_hash(const std::string& text) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

// The thumbnail cache: "FMPTHUMB1 W H\n" and W x H RGBA bytes.
bool read_thumbnail(const std::string& path, std::vector<uint8_t>& rgba) {
    try {
        if (!std::filesystem::exists(path)) return false;
        const std::string bytes = read_file(path, 1 << 20);
        const std::string header = "FMPTHUMB1 " + std::to_string(k_thumb_w) + " " + std::to_string(k_thumb_h) + "\n";
        const std::size_t n = static_cast<std::size_t>(k_thumb_w) * k_thumb_h * 4;
        if (bytes.size() != header.size() + n || bytes.compare(0, header.size(), header) != 0) return false;
        rgba.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header.size()), bytes.end());
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

void write_thumbnail(const std::string& path, const std::vector<uint8_t>& rgba) {
    std::string bytes = "FMPTHUMB1 " + std::to_string(k_thumb_w) + " " + std::to_string(k_thumb_h) + "\n";
    bytes.append(rgba.begin(), rgba.end());
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    try {
        write_file_atomic(path, bytes);
    } catch (const std::exception&) {
        // A cache that cannot be written is rendered again next time.
    }
}

}  // namespace

StartScreen::~StartScreen() { stop_worker(); }

void StartScreen::set_settings_dir(const std::string& dir) { m_dir = dir; }

void StartScreen::build_cards(GuiApp& app) {
    if (m_built) return;
    m_built = true;
    app.m_lessons->load_list();
    for (const Lesson& l : app.m_lessons->lessons()) {
        Card c;
        c.lesson = true;
        c.name = l.name;
        c.title = l.title;
        c.summary = l.summary;
        c.scene = l.steps.back().scene;  // where the lesson arrives
        m_cards.push_back(std::move(c));
    }
    for (const std::string& file : embedded_file_names()) {
        if (file.rfind("scenes/", 0) != 0) continue;
        try {
            Card c;
            c.scene = export_settings_from_json(std::string(*embedded_file(file)), file);
            c.name = std::filesystem::path(file).stem().string();
            c.title = c.scene.title.empty() ? c.name : c.scene.title;
            c.summary = c.scene.train.source + " → " + c.scene.train.target + ", " + c.scene.train.path + " path, " +
                        c.scene.train.coupling + " coupling";
            m_cards.push_back(std::move(c));
        } catch (const InputError& e) {
            m_error = e.what();
        }
    }
    for (Card& c : m_cards) {
        ExportSettings& s = c.scene;
        s.video.width = k_thumb_w;
        s.video.height = k_thumb_h;
        s.title.clear();
        s.show_t = false;
        s.show_path = false;
        s.particles = std::min(s.particles, 4000);
        s.layers.ui_scale = 0.0f;
        s.layers.trails = false;
        s.instruments = InstrumentSettings();
        s.train.width = 64;
        s.train.steps = k_thumb_steps;
        c.t = 1.0f;
        s.figure_t = c.t;
        if (!m_dir.empty())
            c.cache = (std::filesystem::path(m_dir) / "thumbnails" /
                       (c.name + "-" + hex_hash(export_settings_to_json(s)) + ".thumb"))
                          .string();
        if (!c.cache.empty()) read_thumbnail(c.cache, c.rgba);
    }
}

void StartScreen::start_worker() {
    if (m_worker.joinable()) return;
    std::vector<std::pair<int, TrainOptions>> todo;
    for (std::size_t i = 0; i < m_cards.size(); ++i)
        if (m_cards[i].rgba.empty() && m_cards[i].texture == 0) todo.emplace_back(static_cast<int>(i), m_cards[i].scene.train);
    m_pending = static_cast<int>(todo.size());
    if (todo.empty()) return;
    m_stop = false;
    m_worker = std::thread([this, todo] {
        for (const auto& [index, options] : todo) {
            if (m_stop) return;
            ExportModel m;
            try {
                const TrainSetup setup = resolve_train_options(options);
                auto engine = make_cpu_engine();
                TrainResult r = train_with_progress(*engine, setup, options.steps, /*quiet=*/true);
                m.mlp = r.model.mlp;
                m.params = r.model.params;
                m.step = r.model.steps_trained;
            } catch (const std::exception& e) {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_failures.emplace_back(index, one_line_message(e.what(), 200));
                continue;
            }
            std::lock_guard<std::mutex> lock(m_mutex);
            m_trained.emplace_back(index, std::move(m));
        }
    });
}

void StartScreen::stop_worker() {
    m_stop = true;
    if (m_worker.joinable()) m_worker.join();
}

void StartScreen::open(GuiApp& app) {
    build_cards(app);
    m_visible = true;
    start_worker();
}

void StartScreen::upload(Card& c) {
    if (c.rgba.empty() || c.texture != 0) return;
    GLuint tex = 0;
    glGenTextures(1, &tex);
    glBindTexture(GL_TEXTURE_2D, tex);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
    glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, k_thumb_w, k_thumb_h, 0, GL_RGBA, GL_UNSIGNED_BYTE, c.rgba.data());
    glBindTexture(GL_TEXTURE_2D, 0);
    c.texture = tex;
    c.rgba.clear();
    c.rgba.shrink_to_fit();
}

void StartScreen::update(GuiApp& app) {
    if (!m_built) return;
    // While the gallery covers the window, its thumbnails get the cores the window's training
    // would take; training goes on as it was when the gallery closes.
    if (m_visible != m_paused_training) {
        m_paused_training = m_visible;
        if (app.m_steps_per_frame == 0 && !app.m_divergence_open)
            app.m_trainer->set_running(!m_visible && app.m_training);
    }
    for (Card& c : m_cards) upload(c);  // cached ones
    std::pair<int, ExportModel> item;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        for (auto& [index, why] : m_failures) {
            m_cards[index].failed = std::move(why);
            --m_pending;
        }
        m_failures.clear();
        if (m_trained.empty()) return;
        item = std::move(m_trained.front());
        m_trained.pop_front();
    }
    Card& c = m_cards[item.first];
    try {
        ExportJob job(c.scene, nullptr, std::move(item.second), nullptr, false, app.m_renderer.get());
        c.rgba = job.render_still(c.t);
        if (!c.cache.empty()) write_thumbnail(c.cache, c.rgba);
        upload(c);
    } catch (const std::exception& e) {
        c.failed = one_line_message(e.what(), 200);
    }
    --m_pending;
}

int StartScreen::thumbnails_ready() const {
    return static_cast<int>(std::count_if(m_cards.begin(), m_cards.end(), [](const Card& c) { return c.texture != 0; }));
}

void StartScreen::pick(GuiApp& app, int index) {
    const Card& c = m_cards[index];
    try {
        if (c.lesson) {
            app.m_lessons->open(app, c.name);
        } else {
            ExportSettings s = export_settings_from_json(std::string(*embedded_file("scenes/" + c.name + ".json")), c.name);
            app.show_scene(s, "scene " + c.name + ":");
            app.m_fit_pending = true;
            app.m_training = true;
            app.m_trainer->set_running(app.m_steps_per_frame == 0);
        }
        m_visible = false;
    } catch (const InputError& e) {
        m_error = one_line_message(e.what());
    }
}

void StartScreen::draw(GuiApp& app) {
    if (!m_visible) return;
    const ImGuiIO& io = ImGui::GetIO();
    const float s = app.m_scale;
    const UiFonts& f = ui_fonts();
    ImGui::SetNextWindowPos(ImVec2(0, 0), ImGuiCond_Always);
    ImGui::SetNextWindowSize(io.DisplaySize, ImGuiCond_Always);
    ImGui::SetNextWindowBgAlpha(1.0f);
    if (!ImGui::Begin("##start", nullptr,
                      ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings)) {
        ImGui::End();
        return;
    }
    const float pad = 28 * s;
    ImGui::SetCursorPos(ImVec2(pad, pad * 0.8f));
    ImGui::BeginGroup();
    ImGui::PushFont(f.large_heading);
    ImGui::TextUnformatted("Flow Matching Playground");
    ImGui::PopFont();
    ImGui::TextDisabled("Watch a velocity network learn to carry noise into data. Pick a lesson, open an example, or go "
                        "on where you left off.");
    ImGui::Spacing();
    const std::string autosave = app.m_session->autosave_path();
    const bool can_continue = !autosave.empty() && std::filesystem::exists(autosave);
    ImGui::BeginDisabled(!can_continue);
    if (ImGui::Button("Continue last session", ImVec2(220 * s, 0))) {
        if (app.m_session->open(app, autosave)) m_visible = false;
    }
    ImGui::EndDisabled();
    tip(can_continue ? "Reopens the work as the window left it: data, settings, the network and its training, the view."
                     : "No session saved yet: the window saves one every minute while you work, and when it closes.");
    const auto& recent = app.m_session->recent();
    for (std::size_t i = 0; i < recent.size() && i < 3; ++i) {
        ImGui::SameLine();
        const std::string label = std::filesystem::path(recent[i]).filename().string() + "##recent" + std::to_string(i);
        if (ImGui::Button(label.c_str())) {
            if (app.m_session->open(app, recent[i])) m_visible = false;
        }
        tip(recent[i]);
    }
    ImGui::SameLine();
    if (ImGui::Button("Empty canvas", ImVec2(160 * s, 0))) m_visible = false;
    tip("Close the gallery: moons from a normal, training live. The gallery comes back from Lessons → Gallery.");
    if (!m_error.empty()) ImGui::TextColored(ImVec4(1.0f, 0.5f, 0.47f, 1.0f), "%s", m_error.c_str());
    ImGui::EndGroup();

    const float card_w = k_thumb_w * s, thumb_h = k_thumb_h * s;
    const float gap = 18 * s;
    const float avail = io.DisplaySize.x - 2 * pad;
    const int per_row = std::max(1, static_cast<int>((avail + gap) / (card_w + gap)));
    ImGui::SetCursorPosX(pad);
    ImGui::BeginChild("##cards", ImVec2(avail, 0), false);
    for (int pass = 0; pass < 2; ++pass) {
        ImGui::PushFont(f.heading);
        ImGui::TextUnformatted(pass == 0 ? "Lessons" : "Example scenes");
        ImGui::PopFont();
        int col = 0, number = 0;
        for (std::size_t i = 0; i < m_cards.size(); ++i) {
            Card& c = m_cards[i];
            if (c.lesson != (pass == 0)) continue;
            if (col > 0) ImGui::SameLine(0, gap);
            ImGui::BeginGroup();
            ImGui::PushID(static_cast<int>(i));
            const ImVec2 p = ImGui::GetCursorScreenPos();
            bool clicked = ImGui::InvisibleButton("##card", ImVec2(card_w, thumb_h));
            if (!c.failed.empty()) tip("No preview: " + c.failed + ". It opens all the same.");
            ImDrawList* dl = ImGui::GetWindowDrawList();
            if (c.texture)
                dl->AddImageRounded(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(c.texture)), p,
                                    ImVec2(p.x + card_w, p.y + thumb_h), ImVec2(0, 0), ImVec2(1, 1), IM_COL32_WHITE, 6 * s);
            else {
                dl->AddRectFilled(p, ImVec2(p.x + card_w, p.y + thumb_h), IM_COL32(255, 255, 255, 14), 6 * s);
                const char* wait = c.failed.empty() ? "rendering…" : "no preview";
                const ImVec2 ts = ImGui::CalcTextSize(wait);
                dl->AddText(ImVec2(p.x + (card_w - ts.x) / 2, p.y + (thumb_h - ts.y) / 2), IM_COL32(150, 158, 175, 255), wait);
            }
            if (ImGui::IsItemHovered())
                dl->AddRect(p, ImVec2(p.x + card_w, p.y + thumb_h), IM_COL32(110, 168, 254, 255), 6 * s, 0, 2.0f);
            ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + card_w);
            ImGui::PushFont(f.bold);
            ImGui::TextUnformatted(((c.lesson ? std::to_string(++number) + ". " : std::string()) + c.title).c_str());
            ImGui::PopFont();
            ImGui::TextDisabled("%s", c.summary.c_str());
            ImGui::PopTextWrapPos();
            ImGui::PopID();
            ImGui::EndGroup();
            if (clicked || ImGui::IsItemClicked()) pick(app, static_cast<int>(i));
            if (!m_visible) break;
            col = (col + 1) % per_row;
        }
        if (!m_visible) break;
        ImGui::Dummy(ImVec2(1, gap));
    }
    ImGui::EndChild();
    ImGui::End();
}

// ---------------------------------------------------------------------------------------------
// [SECTION] Scripts and report

const std::vector<std::string>& StartScreen::script_keys() {
    static const std::vector<std::string> keys = {"start", "start_pick"};
    return keys;
}

void StartScreen::check_script(const std::string& key, const std::string& value) {
    if (key == "start" && value != "open" && value != "close" && value != "wait")
        throw InputError("--script start takes open, close or wait");
    if (key == "start_pick" && value.empty()) throw InputError("--script start_pick takes a card's name");
}

bool StartScreen::apply_script(GuiApp& app, const std::string& key, const std::string& value) {
    if (key == "start") {
        if (value == "open") open(app);
        else if (value == "close") close();
        else {
            // Every thumbnail rendered (tests): waits for the worker and renders on this thread.
            open(app);
            for (int i = 0; i < 6000 && m_pending > 0; ++i) {
                update(app);
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        return true;
    }
    if (key == "start_pick") {
        build_cards(app);
        for (std::size_t i = 0; i < m_cards.size(); ++i)
            if (m_cards[i].name == value) {
                pick(app, static_cast<int>(i));
                return true;
            }
        throw InputError("--script start_pick: no card " + quote_for_message(value));
    }
    return false;
}

void StartScreen::print_report() const {
    if (!m_built) return;
    std::printf("start screen: %s\nstart cards: %d\nstart thumbnails: %d\n", m_visible ? "open" : "closed", cards(),
                thumbnails_ready());
    for (const Card& c : m_cards)
        if (!c.failed.empty()) std::printf("start error: %s: %s\n", c.name.c_str(), c.failed.c_str());
    if (!m_error.empty()) std::printf("start error: %s\n", m_error.c_str());
}

}  // namespace fmp
