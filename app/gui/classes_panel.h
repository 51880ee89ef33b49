// The "Classes & guidance" section: class-conditional training on a labelled target, which class
// the particles follow and the guidance scale w of classifier-free guidance, and how far the
// guided samples land from their class's data (the overshoot past the support as w grows).
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/base/types.h"

namespace fmp {

class GuiApp;
struct FlowReference;
struct Trajectory;

// Where the particles that follow a class end (t = 1), measured against the target's points of
// each class: `own` is the mean distance to the nearest point of the particle's own class,
// `elsewhere` the share that ends nearer to another class's points than to its own. `data_own`
// is `own` for fresh samples of the target itself: the floor a perfect model reaches at w = 1.
struct ClassSpread {
    float own = std::numeric_limits<float>::quiet_NaN();
    float elsewhere = std::numeric_limits<float>::quiet_NaN();
    float data_own = std::numeric_limits<float>::quiet_NaN();
    int particles = 0;  // measured (a subsample of the trajectory)
};
// The spread of a trajectory's classed particles (nothing when it or the reference has no
// classes); at most max_particles of them, evenly strided.
ClassSpread measure_class_spread(const Trajectory& trajectory, const FlowReference& reference,
                                 int max_particles = 2000);

class ClassesPanel {
  public:
    void draw_section(GuiApp& app);
    // The last spread of the window's particles (updated as trajectories arrive).
    const ClassSpread& spread() const { return m_spread; }
    // Called every frame: measures a new trajectory.
    void sync(GuiApp& app);

    // --script keys: classes=on|off, p_uncond=P (0..1), follow=all|none|K (a class 0..7),
    // guidance=W (0..10).
    static const std::vector<std::string>& script_keys();
    static void check_script(const std::string& key, const std::string& value);  // InputError
    bool apply_script(GuiApp& app, const std::string& key, const std::string& value);

  private:
    // Turns conditioning on or off: fresh weights (the network's input changes).
    void set_conditioning(GuiApp& app, bool on);

    ClassSpread m_spread;
    uint64_t m_spread_spec = ~uint64_t(0), m_spread_version = ~uint64_t(0);
    const void* m_data_reference = nullptr;  // the reference data_own was measured on
    float m_data_own = std::numeric_limits<float>::quiet_NaN();
};

}  // namespace fmp
