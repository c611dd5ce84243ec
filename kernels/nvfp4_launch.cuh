// nvfp4_launch.cuh: programmatic dependent launch (PDL) inside the kernels, for launches made with
// nvfp4-cuda's `Kernel::launch_overlapping` (sm_90 and newer; no-ops below, and in a launch that
// did not ask for it). pdl_launch_dependents lets the next overlapping launch on the stream start
// while this kernel runs; pdl_wait blocks until the work this kernel depends on has finished and
// its writes are visible. A kernel launched overlapping reads (or writes) anything earlier work
// may still use only after pdl_wait.
#pragma once

namespace nvfp4 {

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

}  // namespace nvfp4
