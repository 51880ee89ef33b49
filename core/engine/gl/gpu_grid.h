// How many workgroups the compute engine launches: the GPU's shape (SMs, warps, shared memory)
// and the occupancy arithmetic that turns it into a persistent training grid.
#pragma once
#include <cstddef>
#include <string>

namespace fmp {

// What the driver says about the GPU. sm_count is 0 where the driver does not tell
// (GL_NV_shader_thread_group is NVIDIA's; Mesa and AMD do not expose a count).
struct GpuShape {
    int sm_count = 0;
    int warps_per_sm = 0;
    int warp_size = 32;
    int max_shared_bytes = 32768;  // per workgroup (GL_MAX_COMPUTE_SHARED_MEMORY_SIZE)
    // Per SM: GL does not report it, so it comes from the GPU's name (sm_shared_bytes_for).
    int sm_shared_bytes = 65536;
    int subgroup_size = 0;         // GL_KHR_shader_subgroup's, 0 without the extension
    bool subgroup_arithmetic = false;
    bool subgroup_compute = false;  // the compute stage has subgroups (GL_SUBGROUP_SUPPORTED_STAGES_KHR)
};

// Queries the current context.
GpuShape query_gpu_shape();

// Whether the shaders reduce with subgroupAdd (GL_KHR_shader_subgroup arithmetic in compute
// shaders, subgroups of at least 4); else they reduce through shared memory.
bool gpu_subgroup_reductions(const GpuShape& gpu);

// Shared memory per SM by the GL_RENDERER name: Hopper (H100, H200, GH200) 228 KiB, A100 164 KiB,
// Ampere and Ada workstation and consumer parts 100 KiB, else 64 KiB (every NVIDIA SM since
// Volta has at least that).
int sm_shared_bytes_for(const std::string& renderer);

// The training pass's grid for one network and batch.
struct TrainGrid {
    int groups = 1;             // workgroups launched; each loops over tiles g, g + groups, ...
    int groups_per_sm = 0;      // resident at once on one SM (0: SM count unknown)
    double occupancy = 0.0;     // resident warps / the SM's warp slots (0: unknown)
    std::size_t partial_floats = 0;  // the per-group gradient slices reduce_adam sums
    std::string reason;         // one line: what bounded the grid
};

// Invocations per workgroup `wg`, rows per tile `tile`, `params` floats per gradient slice,
// `shared_bytes` of shared memory per workgroup. On a GPU whose SM count is known every SM gets
// as many groups as fit at once (its warp slots and its shared memory): a persistent grid, no
// tail of a second wave. Without it, the old
// rule: as many groups as tiles, bounded by the memory for gradient slices. Either way
// groups * params <= partials_budget floats and groups <= tiles.
TrainGrid choose_train_grid(const GpuShape& gpu, int batch, int tile, int wg, std::size_t params,
                            std::size_t shared_bytes, std::size_t partials_budget);

// "132 SMs x 64 warps of 32, 48 KiB shared per group and 228 per SM, subgroups of 32 (reductions
// use subgroupAdd)", or with "SM count not reported by the driver".
std::string describe_gpu_shape(const GpuShape& gpu);

}  // namespace fmp
