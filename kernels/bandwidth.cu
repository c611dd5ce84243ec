// bandwidth.cu: measurement kernels for the benches, no numerics: the device's read bandwidth, the
// reference the decode rows are reported against (benches/common `read_bandwidth`).

// Reads the n 16-byte words of `p` once, four loads in flight per thread (grid-stride, streaming:
// ld.global.cs, no L1 allocation), and folds them into one word that is stored only if it equals
// `never`, so that no load is optimised away and (almost) nothing is written.
extern "C" __global__ void bandwidth_read(const uint4* p, long long n, unsigned never, unsigned* sink) {
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    unsigned x = 0u;
    for (; i + 3 * stride < n; i += 4 * stride) {
        uint4 v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j)
            asm volatile("ld.global.cs.v4.u32 {%0, %1, %2, %3}, [%4];"
                         : "=r"(v[j].x), "=r"(v[j].y), "=r"(v[j].z), "=r"(v[j].w)
                         : "l"(p + i + j * stride));
#pragma unroll
        for (int j = 0; j < 4; ++j) x ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
    }
    for (; i < n; i += stride) {
        const uint4 v = p[i];
        x ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (x == never) *sink = x;
}
