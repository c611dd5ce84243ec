// quantize.cu: bf16 [rows, K] <-> NVFP4 (packed E2M1 codes [rows, K/2] + E4M3 scales), SPEC
// sections 2-4, bit-exact with nvfp4-cpu's quantize / dequantize.
//
// Entry points (stamped at the bottom):
//   nvfp4_amax_bf16                          amax of |x| as float bits, atomicMax into *amax
//   nvfp4_quantize_exact_rows_fused          small inputs: amax and the dynamic exact quantizer, one CTA
//   nvfp4_quantize_bf16_{linear,swizzled}_{static,dynamic}
//   nvfp4_quantize_exact_{rows,permuted}_{static,dynamic}   the exact bf16 values instead
//   nvfp4_dequantize_bf16_{linear,swizzled}
//   nvfp4_dequantize_bf16_swizzled_permuted   into gemm_wgmma.cu's K order (rows padded to 64)
//
// Quantize work split: a CUDA block walks whole rows (grid-stride over rows); in a row, lane i of a
// warp owns scale block base + i (two 16-byte loads, one 8-byte store of codes), so a warp reads
// 1 KiB and writes 256 bytes of codes, contiguous. In the swizzled layout the 4 scale columns
// 4g..4g+3 of a row are 4 consecutive bytes (offset ... + (k % 4)), held by 4 consecutive lanes:
// one of them writes them as one aligned 32-bit word.
// The dequantizer gives one thread 4 consecutive blocks (64 columns).
//
// NOTES: in the swizzled layout the grid also covers the padding (rows up to roundup(rows, 128),
// scale columns up to roundup(K/16, 4)) and writes zeros there, so no separate memset is needed
// and padding can never hold stale bytes. A bad global scale (NaN, Inf, <= 0; or a non-finite
// dynamic amax) sets kStatusBadScale and makes every scale byte 0x7F (NaN) and every code 0: the
// tensor then dequantizes to NaN instead of to silently wrong numbers.
#include "nvfp4_launch.cuh"
#include "nvfp4_quantize.cuh"

using namespace nvfp4;

namespace {

constexpr int kBlocksPerThread = 4;

// Resident 256-thread quantizer blocks per SM to aim for: 6 caps registers at 40 on sm_90a with no
// spills (48 otherwise, 5 blocks); sm_100a would spill at 40, so it keeps 5.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 1000
constexpr int kQuantizeMinBlocks = 5;
#else
constexpr int kQuantizeMinBlocks = 6;
#endif

// Rows of the scale grid this layout covers (padding rows included when swizzled).
template <int kLayout>
__device__ __forceinline__ long long grid_rows(int rows) {
    return kLayout == kSwizzled ? (static_cast<long long>(rows) + 127) / 128 * 128 : rows;
}

template <int kLayout, bool kDynamic, int kOut>
__device__ __forceinline__ void quantize_bf16(
    const u16* __restrict__ x,       // [rows, k] bf16
    int rows, int k,
    const float* __restrict__ gs_in, // static: [1] encode scale
    const u32* __restrict__ amax,    // dynamic: [1] amax as float bits (from nvfp4_amax_bf16)
    float* __restrict__ gs_out,      // dynamic: [1] receives the encode scale used (NaN if bad)
    u8* __restrict__ codes,          // [rows, k / 2]
    u8* __restrict__ scales,         // linear [rows, k/16] or swizzled [roundup(rows,128), roundup(k/16,4)]
    u16* __restrict__ exact,         // kOut != kCodes: the exact bf16 values instead of codes/scales
    u32* __restrict__ status)        // [1] status bits
{
    float gs;
    __shared__ float os_table[128];
    const bool ok = quantizer_setup<kDynamic>(gs_in, amax, gs_out, status, gs, os_table);
    const int ks = k / kBlock;
    const int groups = (ks + 3) / 4;
    const long long kp = static_cast<long long>(groups) * 4;
    const int grid_blocks = kLayout == kSwizzled ? groups * 4 : ks;
    const int warp_base = threadIdx.x & ~31;
    const int lane = threadIdx.x & 31;
    const int step = 2 * blockDim.x;
    for (long long r = blockIdx.x; r < grid_rows<kLayout>(rows); r += gridDim.x) {
        // swizzled_offset(r, 4g, kp) = scale_row_base + g * 512
        const long long scale_row_base = swizzled_offset(r, 0, kp);
        if (r >= rows) {  // swizzled padding row: zero scale words only (none when writing values)
            if (kOut == kCodes)
                for (int g = threadIdx.x; g < groups; g += blockDim.x)
                    *reinterpret_cast<u32*>(scales + scale_row_base + static_cast<long long>(g) * 512) = 0u;
            continue;
        }
        const uint4_t* row = reinterpret_cast<const uint4_t*>(x + r * k);
        u8* codes_row = codes + r * (k / 2);
        u8* scales_row = scales + r * ks;
        u16* exact_row = exact + r * (kOut == kExactPermuted ? static_cast<long long>(groups) * 64 : k);
        // Two blocks per lane per step: all four 16-byte loads are issued before any arithmetic.
        for (int base = warp_base; base < grid_blocks; base += step) {  // warp-uniform
            const int b0 = base + lane;
            const int b1 = b0 + blockDim.x;
            const uint4_t zero = {0u, 0u, 0u, 0u};
            const uint4_t p0 = b0 < ks ? row[2 * b0] : zero, q0 = b0 < ks ? row[2 * b0 + 1] : zero;
            const uint4_t p1 = b1 < ks ? row[2 * b1] : zero, q1 = b1 < ks ? row[2 * b1 + 1] : zero;
            quantize_one_block<kLayout, kOut>(p0, q0, b0, ks, grid_blocks, scale_row_base, codes_row, scales_row, scales, exact_row, os_table, gs, ok);
            if (base + static_cast<int>(blockDim.x) < grid_blocks)
                quantize_one_block<kLayout, kOut>(p1, q1, b1, ks, grid_blocks, scale_row_base, codes_row, scales_row, scales, exact_row, os_table, gs, ok);
        }
    }
}

// kPermuted: the output rows are roundup(K, 64) wide, each 64-column chunk in gemm_wgmma.cu's K
// order (position (s, p) holds column pair 8 (p % 4) + 2s + p / 4), zero past K; one thread's 4
// blocks are exactly one chunk.
template <int kLayout, bool kPermuted>
__device__ __forceinline__ void dequantize_bf16(
    const u8* __restrict__ codes,   // [rows, k / 2]
    const u8* __restrict__ scales,  // linear or swizzled, as written by quantize
    int rows, int k,
    const float* __restrict__ dec_in, // [1] decode scale
    u16* __restrict__ out,            // [rows, k] bf16 (kPermuted: [rows, roundup(k, 64)])
    u32* __restrict__ status)
{
    const int ks = k / kBlock;
    const int groups = (ks + kBlocksPerThread - 1) / kBlocksPerThread;
    const long long kp = static_cast<long long>(groups) * kBlocksPerThread;
    const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (tid >= static_cast<long long>(rows) * groups) return;
    const long long r = tid / groups;
    const int g = static_cast<int>(tid % groups);
    const float dec = *dec_in;
    const bool ok = scale_ok(dec);
    if (!ok && tid == 0) atomicOr(status, kStatusBadScale);
    u32 pairs[kBlocksPerThread * kBlock / 2];  // the thread's column pairs, in order
#pragma unroll
    for (int j = 0; j < kBlocksPerThread; ++j) {
        const int b = g * kBlocksPerThread + j;
        u32* words = pairs + j * (kBlock / 2);
        if (b >= ks) {
#pragma unroll
            for (int i = 0; i < kBlock / 2; ++i) words[i] = 0u;
            continue;
        }
        const uint2_t c = *reinterpret_cast<const uint2_t*>(codes + r * (k / 2) + b * (kBlock / 2));
        const u8 s8 = kLayout == kSwizzled ? scales[swizzled_offset(r, b, kp)] : scales[r * ks + b];
        const float sq = e4m3_decode(s8);
#pragma unroll
        for (int i = 0; i < kBlock / 2; ++i) {
            const u32 byte = ((i < 4 ? c.x : c.y) >> (8 * (i % 4))) & 0xFFu;
            const u16 lo = ok ? f32_to_bf16(__fmul_rn(__fmul_rn(e2m1_decode(byte & 0xF), sq), dec)) : 0x7FC0;
            const u16 hi = ok ? f32_to_bf16(__fmul_rn(__fmul_rn(e2m1_decode(byte >> 4), sq), dec)) : 0x7FC0;
            words[i] = static_cast<u32>(lo) | (static_cast<u32>(hi) << 16);
        }
    }
    if (kPermuted) {
        uint4_t* dst = reinterpret_cast<uint4_t*>(out + (r * groups + g) * (kBlocksPerThread * kBlock));
#pragma unroll
        for (int s = 0; s < 4; ++s) {
            dst[2 * s] = {pairs[2 * s], pairs[8 + 2 * s], pairs[16 + 2 * s], pairs[24 + 2 * s]};
            dst[2 * s + 1] = {pairs[2 * s + 1], pairs[9 + 2 * s], pairs[17 + 2 * s], pairs[25 + 2 * s]};
        }
    } else {
#pragma unroll
        for (int j = 0; j < kBlocksPerThread; ++j) {
            const int b = g * kBlocksPerThread + j;
            if (b >= ks) break;
            const u32* words = pairs + j * (kBlock / 2);
            uint4_t* dst = reinterpret_cast<uint4_t*>(out + r * k + b * kBlock);
            dst[0] = {words[0], words[1], words[2], words[3]};
            dst[1] = {words[4], words[5], words[6], words[7]};
        }
    }
}

}  // namespace

// amax of |x| over n bf16 values (n a multiple of 8), NaN ignored, as float bits: each warp
// reduces, then one atomicMax per warp (max is order-independent, so the result is deterministic).
// *amax must be zero before the launch. Grid-stride: any grid size works.
extern "C" __global__ void nvfp4_amax_bf16(const u16* __restrict__ x, long long n, u32* __restrict__ amax) {
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    const u32 m = __reduce_max_sync(0xFFFFFFFFu, amax_share(x, n, static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x, stride));
    if ((threadIdx.x & 31) == 0 && m != 0) atomicMax(amax, m << 16);
}

// Small inputs (decode): the dynamic-scale exact quantizer (row-major) in one launch of one CTA,
// which takes the amax itself (in shared memory, the same maximum as nvfp4_amax_bf16) before
// quantizing, instead of a memset, the amax kernel and the quantizer. Launch with gridDim.x = 1.
extern "C" __global__ void __launch_bounds__(1024, 1) nvfp4_quantize_exact_rows_fused(
    const u16* x, int rows, int k, float* gs_out, u16* exact, u32* status) {
    pdl_launch_dependents();  // the GEMM after it may start copying its weights meanwhile
    __shared__ u32 block_amax;
    if (threadIdx.x == 0) block_amax = 0u;
    // One scale block per thread at a time, over all rows at once (a row of K = 7168 has only 448).
    // Where the blocks are at most the threads (a row of K <= 16384), each thread reads its block
    // once, for the amax and the quantization; else the input is read twice, in grid-stride
    // shares for the amax, then block by block.
    const int ks = k / kBlock;
    const long long blocks = static_cast<long long>(rows) * ks;
    const bool one_each = blocks <= blockDim.x;
    uint4_t p0 = {0u, 0u, 0u, 0u}, p1 = {0u, 0u, 0u, 0u};
    if (one_each && threadIdx.x < blocks) {
        const uint4_t* block = reinterpret_cast<const uint4_t*>(x + (threadIdx.x / ks) * static_cast<long long>(k)) + 2 * (threadIdx.x % ks);
        p0 = block[0];
        p1 = block[1];
    }
    __syncthreads();
    const u32 mine = one_each ? amax_of_block(p0, p1) : amax_share(x, blocks * kBlock, threadIdx.x, blockDim.x);
    const u32 m = __reduce_max_sync(0xFFFFFFFFu, mine);
    if ((threadIdx.x & 31) == 0 && m != 0) atomicMax(&block_amax, m << 16);
    __syncthreads();
    float gs;
    __shared__ float os_table[128];
    const bool ok = quantizer_setup<true>(nullptr, &block_amax, gs_out, status, gs, os_table);
    for (long long i = threadIdx.x; i < blocks; i += blockDim.x) {
        const long long r = i / ks;
        const int b = static_cast<int>(i % ks);
        const uint4_t* block = reinterpret_cast<const uint4_t*>(x + r * k) + 2 * b;
        quantize_one_block<kLinear, kExact>(one_each ? p0 : block[0], one_each ? p1 : block[1], b, ks, ks, 0, nullptr, nullptr,
                                            nullptr, exact + r * k, os_table, gs, ok);
    }
}

#define NVFP4_QUANTIZE_ENTRY(layout_name, layout, mode_name, dynamic)                               \
    extern "C" __global__ void __launch_bounds__(256, kQuantizeMinBlocks) nvfp4_quantize_bf16_##layout_name##_##mode_name( \
        const u16* x, int rows, int k, const float* gs_in, const u32* amax, float* gs_out,        \
        u8* codes, u8* scales, u32* status) {                                                     \
        quantize_bf16<layout, dynamic, kCodes>(x, rows, k, gs_in, amax, gs_out, codes, scales, nullptr, status); \
    }

NVFP4_QUANTIZE_ENTRY(linear, kLinear, static, false)
NVFP4_QUANTIZE_ENTRY(linear, kLinear, dynamic, true)
NVFP4_QUANTIZE_ENTRY(swizzled, kSwizzled, static, false)
NVFP4_QUANTIZE_ENTRY(swizzled, kSwizzled, dynamic, true)

// Quantize and write the exact bf16 values (row-major, or permuted for gemm_wgmma.cu): one pass
// instead of quantize then dequantize.
#define NVFP4_QUANTIZE_EXACT_ENTRY(out_name, layout, out, mode_name, dynamic)                       \
    extern "C" __global__ void __launch_bounds__(256, kQuantizeMinBlocks) nvfp4_quantize_exact_##out_name##_##mode_name( \
        const u16* x, int rows, int k, const float* gs_in, const u32* amax, float* gs_out,        \
        u16* exact, u32* status) {                                                                \
        quantize_bf16<layout, dynamic, out>(x, rows, k, gs_in, amax, gs_out, nullptr, nullptr, exact, status); \
    }

NVFP4_QUANTIZE_EXACT_ENTRY(rows, kLinear, kExact, static, false)
NVFP4_QUANTIZE_EXACT_ENTRY(rows, kLinear, kExact, dynamic, true)
NVFP4_QUANTIZE_EXACT_ENTRY(permuted, kSwizzled, kExactPermuted, static, false)
NVFP4_QUANTIZE_EXACT_ENTRY(permuted, kSwizzled, kExactPermuted, dynamic, true)

#define NVFP4_DEQUANTIZE_ENTRY(name, layout, permuted)                                             \
    extern "C" __global__ void nvfp4_dequantize_bf16_##name(                                      \
        const u8* codes, const u8* scales, int rows, int k, const float* dec, u16* out,           \
        u32* status) {                                                                            \
        dequantize_bf16<layout, permuted>(codes, scales, rows, k, dec, out, status);              \
    }

NVFP4_DEQUANTIZE_ENTRY(linear, kLinear, false)
NVFP4_DEQUANTIZE_ENTRY(swizzled, kSwizzled, false)
NVFP4_DEQUANTIZE_ENTRY(swizzled_permuted, kSwizzled, true)
