// The OpenGL 4.3 compute engine: trains and integrates on the GPU behind the Engine interface.
#pragma once
#include <memory>
#include <string>

#include "core/engine/engine.h"

namespace fmp {

// Needs a current OpenGL 4.3+ core context on the calling thread (a hidden GLFW window in the
// app, or HeadlessGlContext). Every later call must come from a thread where that context is
// current. Throws std::runtime_error if the context lacks compute shaders.
std::unique_ptr<Engine> make_gl_engine();

// The particle buffer of a GL engine (an SSBO of vec2, particle_count() entries) so the renderer
// can draw it without a copy; 0 if `engine` is not a GL engine.
unsigned gl_particle_buffer(const Engine& engine);

}  // namespace fmp
