// The "Classes & guidance" section: class-conditional training on a labelled target, which class
// the particles follow and the guidance scale w of classifier-free guidance, and how far the
// guided samples land from their class's data (the overshoot past the support as w grows).
#pragma once
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/types.h"

namespace fmp {

class GuiApp;
struct FlowReference;
struct Trajectory;

// Where the particles that follow a class end (t = 1), measured against the target's reference
// points of each class. A class's support is where its points are: within r_k of one of them, r_k
// the 99th percentile of the distances from each of its points to its nearest other one (so about
// 1 % of fresh target samples fall outside too). `outside` is the share of particles beyond their
// class's support (the overshoot), `elsewhere` the share nearer to another class's points than to
// their own (the wrong class), `own` the mean distance to the own class's nearest point. The
// data_ fields are the same for fresh samples of the target itself: what a perfect model at w = 1
// gives.
struct ClassSpread {
    float outside = std::numeric_limits<float>::quiet_NaN();
    float elsewhere = std::numeric_limits<float>::quiet_NaN();
    float own = std::numeric_limits<float>::quiet_NaN();
    // Per class, averaged over the classes: how far the samples' mean moved from the class's mean,
    // and their RMS spread about their own mean, both in units of the class's RMS spread (data:
    // shift 0, spread 1). Guidance pushes the classes apart (shift) and narrows them (spread).
    float shift = std::numeric_limits<float>::quiet_NaN();
    float spread = std::numeric_limits<float>::quiet_NaN();
    float data_outside = std::numeric_limits<float>::quiet_NaN();
    float data_own = std::numeric_limits<float>::quiet_NaN();
    int particles = 0;  // measured (a subsample of the trajectory)
};
// The spread of a trajectory's classed particles (nothing when it or the reference has no
// classes); at most max_particles of them, evenly strided.
ClassSpread measure_class_spread(const Trajectory& trajectory, const FlowReference& reference,
                                 int max_particles = 2000);

// The guidance scales a sweep measures, 0..8.
const std::vector<float>& guidance_sweep_scales();

class ClassesPanel {
  public:
    ClassesPanel() = default;
    ~ClassesPanel();
    ClassesPanel(const ClassesPanel&) = delete;
    ClassesPanel& operator=(const ClassesPanel&) = delete;

    void draw_section(GuiApp& app);
    // The last spread of the window's particles (updated as trajectories arrive).
    const ClassSpread& spread() const { return m_spread; }
    // Called every frame: measures a new trajectory.
    void sync(GuiApp& app);

    // --script keys: classes=on|off, p_uncond=P (0..1), follow=all|none|K (a class 0..7),
    // guidance=W (0..10), guidance_sweep=run|wait (the spread for every w of the sweep).
    static const std::vector<std::string>& script_keys();
    static void check_script(const std::string& key, const std::string& value);  // InputError
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

    // The last sweep: the spread at each of guidance_sweep_scales() (empty before one ran).
    std::vector<ClassSpread> sweep() const;

  private:
    // Turns conditioning on or off: fresh weights (the network's input changes).
    void set_conditioning(GuiApp& app, bool on);
    // Starts the sweep on a thread with the current weights (false: no weights yet).
    bool start_sweep(GuiApp& app);
    void join();
    void draw_sweep(GuiApp& app);

    std::thread m_thread;
    std::atomic<bool> m_running{false};
    mutable std::mutex m_mutex;
    std::vector<ClassSpread> m_sweep;  // guarded by m_mutex
    int64_t m_sweep_step = -1;

    ClassSpread m_spread;
    uint64_t m_spread_spec = ~uint64_t(0), m_spread_version = ~uint64_t(0);
    const void* m_data_reference = nullptr;  // the reference the data_ figures were measured on
    ClassSpread m_data;  // fresh target samples' spread (its outside and own)
};

}  // namespace fmp
