// Picks and creates the engine for a headless command: "cpu", "gl", or "auto".
#pragma once
#include <memory>
#include <string>

#include "core/engine/engine.h"

namespace fmp {

class HeadlessGlContext;

// Owns the engine and, for the GL engine, the headless context it runs in.
struct EngineHandle {
    std::unique_ptr<HeadlessGlContext> context;
    std::unique_ptr<Engine> engine;
    std::string why;  // why this engine was picked, for the CLI's first line
    EngineHandle();
    EngineHandle(EngineHandle&&) noexcept;
    EngineHandle& operator=(EngineHandle&&) noexcept;
    ~EngineHandle();
};

// "auto": the GL engine when a hardware GPU is found, else the CPU engine (Mesa's llvmpipe is far
// slower than the CPU engine for this work). "gl" fails with InputError if no GL 4.3 context.
EngineHandle make_headless_engine(const std::string& name);

const std::vector<std::string>& engine_names();  // "auto", "cpu", "gl"

}  // namespace fmp
