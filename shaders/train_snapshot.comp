#version 430
// Copies the weights and both Adam moments into one of two rollback slots, and tags the slot
// with its step, while the run is healthy. After reduce_adam.comp has raised the divergence flag
// the copy is skipped, so a slot never holds a state from after the bad step, however far the
// CPU has queued ahead.
layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer Params { float params[]; };
layout(std430, binding = 1) readonly buffer Moments { float moments[]; };  // m | v
layout(std430, binding = 2) writeonly buffer Slots { float slots[]; };     // 2 x (theta | m | v)
layout(std430, binding = 3) buffer Ring { uint ring[]; };                 // loss ring, health
const uint HEALTH = uint(RING) * 22u;  // the flag, then the slots' tags at HEALTH + 4

uniform uint u_slot;  // 0 or 1
uniform uint u_step;  // the step the weights are at

void main() {
    if (ring[HEALTH] != 0u) return;
    uint i = gl_GlobalInvocationID.x;
    if (i == 0u) ring[HEALTH + 4u + u_slot] = u_step + 1u;  // 0: empty
    if (i >= PCOUNT) return;
    uint base = u_slot * 3u * PCOUNT;
    slots[base + i] = params[i];
    slots[base + PCOUNT + i] = moments[i];
    slots[base + 2u * PCOUNT + i] = moments[PCOUNT + i];
}
