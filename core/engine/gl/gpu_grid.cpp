// The GPU's shape from the driver and the training grid chosen from it.
#include "core/engine/gl/gpu_grid.h"

#include <glad/gl.h>

#include <algorithm>

namespace fmp {

GpuShape query_gpu_shape() {
    GpuShape g;
    GLint v = 0;
    glGetIntegerv(GL_MAX_COMPUTE_SHARED_MEMORY_SIZE, &v);
    if (v > 0) g.max_shared_bytes = v;
    if (GLAD_GL_NV_shader_thread_group) {
        GLint sms = 0, warps = 0, warp = 0;
        glGetIntegerv(GL_SM_COUNT_NV, &sms);
        glGetIntegerv(GL_WARPS_PER_SM_NV, &warps);
        glGetIntegerv(GL_WARP_SIZE_NV, &warp);
        g.sm_count = std::max(sms, 0);
        g.warps_per_sm = std::max(warps, 0);
        if (warp > 0) g.warp_size = warp;
    }
    if (GLAD_GL_KHR_shader_subgroup) {
        GLint size = 0, features = 0, stages = 0;
        glGetIntegerv(GL_SUBGROUP_SIZE_KHR, &size);
        glGetIntegerv(GL_SUBGROUP_SUPPORTED_FEATURES_KHR, &features);
        glGetIntegerv(GL_SUBGROUP_SUPPORTED_STAGES_KHR, &stages);
        g.subgroup_size = std::max(size, 0);
        g.subgroup_arithmetic = (features & GL_SUBGROUP_FEATURE_ARITHMETIC_BIT_KHR) != 0;
        g.subgroup_compute = (stages & GL_COMPUTE_SHADER_BIT) != 0;
    }
    const GLubyte* renderer = glGetString(GL_RENDERER);
    if (renderer) g.sm_shared_bytes = sm_shared_bytes_for(reinterpret_cast<const char*>(renderer));
    // Clear anything a query the driver refused left behind.
    while (glGetError() != GL_NO_ERROR) {
    }
    return g;
}

int sm_shared_bytes_for(const std::string& renderer) {
    auto has = [&](const char* name) { return renderer.find(name) != std::string::npos; };
    if (has("H100") || has("H200") || has("H800") || has("GH200")) return 228 * 1024;
    if (has("A100") || has("A800") || has("A30")) return 164 * 1024;
    for (const char* name : {"RTX 30", "RTX 40", "RTX A", "L40", "L4", "A10", "A40", "A16", "A2"})
        if (has(name)) return 100 * 1024;
    return 64 * 1024;
}

TrainGrid choose_train_grid(const GpuShape& gpu, int batch, int tile, int wg, std::size_t params,
                            std::size_t shared_bytes, std::size_t partials_budget) {
    TrainGrid grid;
    const int tiles = std::max(1, (batch + tile - 1) / std::max(tile, 1));
    const int by_memory = static_cast<int>(std::clamp<std::size_t>(
        partials_budget / std::max<std::size_t>(params, 1), 1, std::size_t(1) << 30));
    int groups = 0;
    if (gpu.sm_count > 0 && gpu.warps_per_sm > 0) {
        const int warps_per_group = std::max(1, wg / std::max(gpu.warp_size, 1));
        const int by_warps = std::max(1, gpu.warps_per_sm / warps_per_group);
        const int by_shared =
            std::max(1, static_cast<int>(std::size_t(gpu.sm_shared_bytes) / std::max<std::size_t>(shared_bytes, 1)));
        grid.groups_per_sm = std::min(by_warps, by_shared);
        grid.occupancy = double(grid.groups_per_sm * warps_per_group) / double(gpu.warps_per_sm);
        groups = gpu.sm_count * grid.groups_per_sm;
        grid.reason = groups >= tiles ? "one tile per group (the batch has fewer tiles than resident groups)"
                                      : std::string("persistent: ") + std::to_string(grid.groups_per_sm) +
                                            " resident groups per SM (bound by " +
                                            (by_warps <= by_shared ? "warp slots" : "shared memory") + ")";
    } else {
        groups = by_memory;
        grid.reason = "SM count unknown: one group per tile up to the gradient-slice memory";
    }
    if (groups > by_memory) {
        groups = by_memory;
        grid.reason = "bounded by the gradient-slice memory";
    }
    grid.groups = std::clamp(groups, 1, tiles);
    grid.partial_floats = std::size_t(grid.groups) * params;
    return grid;
}

bool gpu_subgroup_reductions(const GpuShape& gpu) {
    return gpu.subgroup_size >= 4 && gpu.subgroup_arithmetic && gpu.subgroup_compute;
}

std::string describe_gpu_shape(const GpuShape& gpu) {
    std::string s = gpu.sm_count > 0 ? std::to_string(gpu.sm_count) + " SMs x " +
                                           std::to_string(gpu.warps_per_sm) + " warps of " +
                                           std::to_string(gpu.warp_size)
                                     : std::string("SM count not reported by the driver");
    s += ", " + std::to_string(gpu.max_shared_bytes / 1024) + " KiB shared per group";
    if (gpu.sm_count > 0) s += " and " + std::to_string(gpu.sm_shared_bytes / 1024) + " per SM";
    if (gpu.subgroup_size > 0)
        s += ", subgroups of " + std::to_string(gpu.subgroup_size) +
             (gpu_subgroup_reductions(gpu) ? " (reductions use subgroupAdd)"
                                           : " (no compute arithmetic: shared-memory reductions)");
    else
        s += ", no KHR subgroups";
    return s;
}

}  // namespace fmp
