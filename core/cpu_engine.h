// The CPU engine: Eigen GEMMs, preallocated buffers, both cores.
#pragma once
#include <memory>

#include "core/engine.h"

namespace fmp {

// Points a marginal field is computed from when the target is analytic (a fixed sample).
inline constexpr int k_marginal_reference_points = 2048;

class CpuEngine;
std::unique_ptr<Engine> make_cpu_engine();

}  // namespace fmp
