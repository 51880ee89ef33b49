// Engine selection for headless commands.
#include "app/run/engine_choice.h"

#include "core/engine/gl/gl_context.h"
#include "core/engine/gl/gl_engine.h"

namespace fmp {

EngineHandle::EngineHandle() = default;
EngineHandle::EngineHandle(EngineHandle&&) noexcept = default;
EngineHandle& EngineHandle::operator=(EngineHandle&&) noexcept = default;
EngineHandle::~EngineHandle() {
    engine.reset();  // GL objects die while their context is still alive
    context.reset();
}

const std::vector<std::string>& engine_names() {
    static const std::vector<std::string> names = {"auto", "cpu", "gl"};
    return names;
}

EngineHandle make_headless_engine(const std::string& name) {
    if (name != "auto" && name != "cpu" && name != "gl")
        throw InputError("unknown engine '" + name + "': choose one of " + join_names(engine_names()));
    EngineHandle h;
    if (name == "cpu") {
        h.engine = make_cpu_engine();
        h.why = "requested";
        return h;
    }
    std::string error;
    h.context = HeadlessGlContext::create(&error);
    if (!h.context) {
        if (name == "gl") throw InputError("--engine gl: no OpenGL 4.3 context: " + error);
        h.engine = make_cpu_engine();
        h.why = "no GPU context (" + error + ")";
        return h;
    }
    if (name == "auto" && gl_renderer_is_software(h.context->renderer())) {
        h.context.reset();
        h.engine = make_cpu_engine();
        h.why = "the only GL renderer is software, slower than the CPU engine";
        return h;
    }
    h.engine = make_gl_engine();
    h.why = name == "gl" ? "requested" : "hardware GPU found";
    return h;
}

}  // namespace fmp
