// smoke.cu: the smallest kernels, used only to test the runtime (NVRTC, module load, launch,
// dynamic shared memory, CUDA-graph capture). No numerics live here.

#ifndef SMOKE_ADD
#define SMOKE_ADD 0u  // per-kernel define test: compile with -DSMOKE_ADD=<n> to change the output
#endif

// out[i] = value + i + SMOKE_ADD for i < n.
extern "C" __global__ void smoke_fill_u32(unsigned int* out, unsigned int value, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = value + static_cast<unsigned int>(i) + SMOKE_ADD;
}

// One block: stages `in` through dynamic shared memory (n words of it) and writes it back
// reversed. Launch with n * 4 bytes of dynamic shared memory; > 48 KiB needs the opt-in attribute.
extern "C" __global__ void smoke_reverse_u32(const unsigned int* in, unsigned int* out, int n) {
    extern __shared__ unsigned int stage[];
    for (int i = threadIdx.x; i < n; i += blockDim.x) stage[i] = in[i];
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = stage[n - 1 - i];
}
