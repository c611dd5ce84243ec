// stream_probe.cu: how fast the decode kernels' weight stream can be read with no math at all, a
// standalone diagnostic (not part of the crates; docs/BENCHMARKS.md, "What limits the H200 rows",
// quotes its output). On a machine with the CUDA toolkit:
//
//   nvcc -O3 -arch=sm_90a -std=c++17 -o stream_probe docs/bench/stream_probe.cu && ./stream_probe
//
// Prints the device-to-device copy bandwidth (bytes read plus written), a plain streaming read of
// 1 GiB over several grids (one or four 16-byte loads in flight per thread), and, for three bench
// shapes (16-row tiles x 64-column chunks of nvfp4-cuda's packed layout: 512 code bytes and 64
// scale bytes per tile and chunk), the time of reading the packed weights as gemm.cu's m1 kernel
// does (16 warps per CTA, 1, 2 or 4 tiles per CTA, each warp its slice of K in order): through a
// cp.async ring of 4 or 8 slots with or without the scales, into registers with plain loads, or
// through per-warp rings filled by cp.async.bulk. Launches run back to back over rotating copies
// of the weights in two 1 GiB buffers, so every launch reads from DRAM.
#include <cstdio>
#include <cstdint>
#include <cuda_runtime.h>
#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1);} } while (0)
typedef unsigned u32;

__global__ void read_ldg(const uint4* p, size_t n, u32* out) {
    u32 x = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint4 v = __ldcs(p + i); x ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (x == 0x12345678u) out[0] = x;
}
// unrolled: 4 loads in flight per thread
__global__ void read_ldg4(const uint4* p, size_t n, u32* out) {
    u32 x = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        uint4 a = __ldcs(p + i), b = __ldcs(p + i + stride), c = __ldcs(p + i + 2 * stride), d = __ldcs(p + i + 3 * stride);
        x ^= a.x ^ b.y ^ c.z ^ d.w ^ a.y ^ b.x ^ c.w ^ d.z;
    }
    if (x == 0x12345678u) out[0] = x;
}
__device__ __forceinline__ u32 saddr(const void* p) { return (u32)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void cp16(u32 s, const void* g) { asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(g)); }
__device__ __forceinline__ void cp4(u32 s, const void* g, u32 b) { asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(s), "l"(g), "r"(b)); }
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;"); }
template <int N> __device__ __forceinline__ void waitg() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

// Pattern: tiles of `chunks` chunks (512 B codes + 64 B scales each); CTA of 16 warps on
// `tpc` tiles; warp kw of its tile takes chunks [kw*chunks/wpt, (kw+1)*chunks/wpt).
template <int kStages, bool kScales>
__global__ void __launch_bounds__(512, 2) pattern_cp(const uint8_t* codes, const uint8_t* scales, int tiles, int chunks, int tpc, u32* out) {
    extern __shared__ uint4 smem[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int wpt = 16 / tpc, kw = warp % wpt, tile = blockIdx.x * tpc + warp / wpt;
    if (tile >= tiles) return;
    int cb = kw * chunks / wpt, ce = (kw + 1) * chunks / wpt;
    uint8_t* ring = (uint8_t*)smem + warp * kStages * 640;
    u32 r = saddr(ring);
    const uint8_t* w = codes + ((size_t)tile * chunks + cb) * 512 + lane * 16;
    const uint8_t* s = scales + ((size_t)tile * chunks + cb) * 64 + (lane % 16) * 4;
    auto issue = [&](int c) {
        if (c < ce) {
            u32 slot = (c % kStages) * 640;
            cp16(r + slot + lane * 16, w + (size_t)(c - cb) * 512);
            if (kScales) cp4(r + slot + 512 + lane * 4, s + (size_t)(c - cb) * 64, lane < 16 ? 4 : 0);
        }
        commit();
    };
    for (int i = 0; i < kStages - 1; ++i) issue(cb + i);
    u32 x = 0;
    for (int c = cb; c < ce; ++c) {
        waitg<kStages - 2>();
        __syncwarp();
        uint4 v = *(uint4*)(ring + (c % kStages) * 640 + lane * 16);
        x ^= v.x ^ v.w;
        __syncwarp();
        issue(c + kStages - 1);
    }
    if (x == 0x12345678u) out[0] = x;
}
// Same pattern, registers only: LDG.128 with kDepth chunks in flight per lane.
template <int kDepth>
__global__ void __launch_bounds__(512, 2) pattern_ldg(const uint8_t* codes, const uint8_t* scales, int tiles, int chunks, int tpc, u32* out) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int wpt = 16 / tpc, kw = warp % wpt, tile = blockIdx.x * tpc + warp / wpt;
    if (tile >= tiles) return;
    int cb = kw * chunks / wpt, ce = (kw + 1) * chunks / wpt;
    const uint4* w = (const uint4*)(codes + ((size_t)tile * chunks + cb) * 512) + lane;
    const u32* s = (const u32*)(scales + ((size_t)tile * chunks + cb) * 64) + (lane % 16);
    u32 x = 0;
    int n = ce - cb;
    for (int c = 0; c < n; c += kDepth) {
        uint4 v[kDepth]; u32 q[kDepth];
#pragma unroll
        for (int i = 0; i < kDepth; ++i) if (c + i < n) { v[i] = __ldcs(w + (size_t)(c + i) * 32); q[i] = __ldcs(s + (size_t)(c + i) * 16); }
#pragma unroll
        for (int i = 0; i < kDepth; ++i) if (c + i < n) x ^= v[i].x ^ v[i].w ^ q[i];
    }
    if (x == 0x12345678u) out[0] = x;
}


__device__ __forceinline__ void bulk(u32 dst, const void* src, u32 bytes, u32 bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(dst), "l"(src), "r"(bytes), "r"(bar) : "memory");
}
template <int kG, int kS>
__global__ void __launch_bounds__(512, 2) pattern_bulk(const uint8_t* codes, const uint8_t* scales, int tiles, int chunks, int tpc, u32* out) {
    extern __shared__ uint4 smem[];
    __shared__ alignas(8) unsigned long long bars[16 * kS];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int wpt = 16 / tpc, kw = warp % wpt, tile = blockIdx.x * tpc + warp / wpt;
    if (tile >= tiles) return;
    int cb = kw * chunks / wpt, ce = (kw + 1) * chunks / wpt;
    constexpr int kSlot = kG * 576;
    uint8_t* ring = (uint8_t*)smem + warp * kS * kSlot;
    u32 r = saddr(ring), b0 = saddr(&bars[warp * kS]);
    const uint8_t* w = codes + ((size_t)tile * chunks + cb) * 512;
    const uint8_t* s = scales + ((size_t)tile * chunks + cb) * 64;
    if (lane == 0) { for (int i = 0; i < kS; ++i) asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(b0 + 8 * i)); asm volatile("fence.mbarrier_init.release.cluster;"); }
    __syncwarp();
    int uses = (ce - cb + kG - 1) / kG;
    auto issue = [&](int j) {
        int cnt = min(kG, ce - cb - kG * j);
        u32 slot = r + (j % kS) * kSlot, bar = b0 + 8 * (j % kS);
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(cnt * 576) : "memory");
        bulk(slot, w + (size_t)j * kG * 512, cnt * 512, bar);
        bulk(slot + kG * 512, s + (size_t)j * kG * 64, cnt * 64, bar);
    };
    if (lane == 0) for (int j = 0; j < kS && j < uses; ++j) issue(j);
    u32 x = 0;
    for (int j = 0; j < uses; ++j) {
        u32 bar = b0 + 8 * (j % kS), par = (j / kS) & 1;
        asm volatile("{\n.reg .pred p;\nW%=:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n@!p bra W%=;\n}\n" ::"r"(bar), "r"(par) : "memory");
        uint4 v = *(uint4*)(ring + (j % kS) * kSlot + lane * 16);
        x ^= v.x ^ v.w;
        __syncwarp();
        if (lane == 0 && j + kS < uses) issue(j + kS);
    }
    if (x == 0x12345678u) out[0] = x;
}

int main() {
    int dev = 0; cudaDeviceProp pr; CK(cudaGetDeviceProperties(&pr, dev));
    printf("%s, %d SMs, L2 %d MiB\n", pr.name, pr.multiProcessorCount, pr.l2CacheSize >> 20);
    size_t big = 1ull << 30;
    uint8_t *a, *b; CK(cudaMalloc(&a, big)); CK(cudaMalloc(&b, big)); CK(cudaMemset(a, 1, big)); CK(cudaMemset(b, 2, big));
    u32* out; CK(cudaMalloc(&out, 4));
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    float ms;
    // copy
    for (int i = 0; i < 3; ++i) CK(cudaMemcpy(b, a, big, cudaMemcpyDeviceToDevice));
    cudaEventRecord(e0); for (int i = 0; i < 10; ++i) cudaMemcpy(b, a, big, cudaMemcpyDeviceToDevice); cudaEventRecord(e1); cudaEventSynchronize(e1);
    cudaEventElapsedTime(&ms, e0, e1); printf("copy (read+write counted): %.0f GB/s\n", 10 * 2.0 * big / (ms * 1e6));
    for (int bl : {264, 528, 1056, 2112}) for (int th : {512, 1024}) {
        read_ldg<<<bl, th>>>((uint4*)a, big / 16, out); cudaDeviceSynchronize();
        cudaEventRecord(e0); for (int i = 0; i < 10; ++i) read_ldg<<<bl, th>>>((uint4*)(i % 2 ? b : a), big / 16, out); cudaEventRecord(e1); cudaEventSynchronize(e1);
        cudaEventElapsedTime(&ms, e0, e1); printf("read_ldg  %4d x %4d: %.0f GB/s\n", bl, th, 10.0 * big / (ms * 1e6));
        read_ldg4<<<bl, th>>>((uint4*)a, big / 16, out); cudaDeviceSynchronize();
        cudaEventRecord(e0); for (int i = 0; i < 10; ++i) read_ldg4<<<bl, th>>>((uint4*)(i % 2 ? b : a), big / 16, out); cudaEventRecord(e1); cudaEventSynchronize(e1);
        cudaEventElapsedTime(&ms, e0, e1); printf("read_ldg4 %4d x %4d: %.0f GB/s\n", bl, th, 10.0 * big / (ms * 1e6));
    }
    // 7168x16384 pattern: 448 tiles x 256 chunks; copies rotated through the 1 GiB buffers (cold).
    struct Shape { const char* name; int tiles, chunks; };
    for (Shape sh : {Shape{"7168x16384", 448, 256}, Shape{"4096x7168", 256, 112}, Shape{"24576x1536", 1536, 24}}) {
        size_t cbytes = (size_t)sh.tiles * sh.chunks * 512, sbytes = (size_t)sh.tiles * sh.chunks * 64, tot = cbytes + sbytes;
        int copies = (int)(big / tot); if (copies > 12) copies = 12;
        auto run = [&](const char* what, auto kern, int tpc, int smem) {
            int grid = (sh.tiles + tpc - 1) / tpc;
            CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
            kern<<<grid, 512, smem>>>(a, a + cbytes, sh.tiles, sh.chunks, tpc, out); CK(cudaDeviceSynchronize());
            int reps = 40;
            cudaEventRecord(e0);
            for (int i = 0; i < reps; ++i) { uint8_t* base = (i % 2 ? b : a) + (size_t)((i / 2) % copies) * tot; kern<<<grid, 512, smem>>>(base, base + cbytes, sh.tiles, sh.chunks, tpc, out); }
            cudaEventRecord(e1); CK(cudaEventSynchronize(e1));
            cudaEventElapsedTime(&ms, e0, e1);
            double us = ms * 1e3 / reps;
            printf("%-11s %-22s t%d: %7.2f us  %5.0f GB/s\n", sh.name, what, tpc, us, tot / (us * 1e3));
        };
        for (int tpc : {1, 2, 4}) {
            run("cp ring4 +scales", pattern_cp<4, true>, tpc, 16 * 4 * 640);
            run("cp ring8 +scales", pattern_cp<8, true>, tpc, 16 * 8 * 640);
            run("cp ring4 codes", pattern_cp<4, false>, tpc, 16 * 4 * 640);
            run("ldg depth4", pattern_ldg<4>, tpc, 0);
            run("ldg depth8", pattern_ldg<8>, tpc, 0);
            run("bulk G2 S3", pattern_bulk<2, 3>, tpc, 16 * 3 * 2 * 576);
            run("bulk G4 S2", pattern_bulk<4, 2>, tpc, 16 * 2 * 4 * 576);
            run("bulk G4 S3", pattern_bulk<4, 3>, tpc, 16 * 3 * 4 * 576);
        }
    }
    return 0;
}
