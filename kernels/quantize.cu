// quantize.cu: bf16 [rows, K] <-> NVFP4 (packed E2M1 codes [rows, K/2] + E4M3 scales), SPEC
// sections 2-4, bit-exact with nvfp4-cpu's quantize / dequantize.
//
// Entry points (stamped at the bottom):
//   nvfp4_amax_bf16                          amax of |x| as float bits, atomicMax into *amax
//   nvfp4_quantize_bf16_{linear,swizzled}_{static,dynamic}
//   nvfp4_dequantize_bf16_{linear,swizzled}
//
// Quantize work split: a CUDA block walks whole rows (grid-stride over rows); in a row, lane i of a
// warp owns the 8-element chunk base + i, so a warp reads 512 contiguous bytes per load and writes
// 128 contiguous bytes of codes; lanes 2j and 2j+1 share a scale block (one shuffle for its max).
// In the swizzled layout the 4 scale columns 4g..4g+3 of a row are 4 consecutive bytes (offset
// ... + (k % 4)), held by 8 consecutive lanes: one of them writes them as one aligned 32-bit word.
// The dequantizer gives one thread 4 consecutive blocks.
//
// NOTES: in the swizzled layout the grid also covers the padding (rows up to roundup(rows, 128),
// scale columns up to roundup(K/16, 4)) and writes zeros there, so no separate memset is needed
// and padding can never hold stale bytes. A bad global scale (NaN, Inf, <= 0; or a non-finite
// dynamic amax) sets kStatusBadScale and makes every scale byte 0x7F (NaN) and every code 0: the
// tensor then dequantizes to NaN instead of to silently wrong numbers.
#include "nvfp4_numerics.cuh"

using namespace nvfp4;

namespace {

constexpr int kBlocksPerThread = 4;

enum Layout { kLinear = 0, kSwizzled = 1 };

struct uint4_t { u32 x, y, z, w; };
struct uint2_t { u32 x, y; };
static_assert(sizeof(uint4_t) == 16 && sizeof(uint2_t) == 8, "vector types");

// Rows of the scale grid this layout covers (padding rows included when swizzled).
template <int kLayout>
__device__ __forceinline__ long long grid_rows(int rows) {
    return kLayout == kSwizzled ? (static_cast<long long>(rows) + 127) / 128 * 128 : rows;
}

// The encode scale every thread uses, and whether it is valid (phase 1 of the quantizer).
template <bool kDynamic>
__device__ __forceinline__ bool global_scale(const float* gs_in, const u32* amax, float* gs_out, u32* status, float& gs) {
    bool ok;
    if (kDynamic) {
        ok = gs_from_amax(bits_f32(*amax), gs);
    } else {
        gs = *gs_in;
        ok = scale_ok(gs);
    }
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        if (kDynamic) *gs_out = ok ? gs : bits_f32(0x7FC00000u);
        if (!ok) atomicOr(status, kStatusBadScale);
    }
    return ok;
}

// One 8-element chunk (16 bytes of bf16) per lane; lanes 2j and 2j+1 share a scale block.
// Quantizes the lane's half block and stores its codes word and (via the pair / the 8-lane
// group) the scale bytes. `c` is the chunk index in the row, `chunks` the valid count, and
// `grid_chunks` the count including the padding groups of the swizzled layout.
template <int kLayout>
__device__ __forceinline__ void quantize_chunk(
    const uint4_t raw, int c, int chunks, int grid_chunks, long long r, int k, long long kp,
    float gs, float rcp_gs, bool ok, u8* __restrict__ codes, u8* __restrict__ scales)
{
    const int lane = threadIdx.x & 31;
    float v[8];
    const u32 w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        v[2 * i] = bf16_to_f32(static_cast<u16>(w[i] & 0xFFFFu));
        v[2 * i + 1] = bf16_to_f32(static_cast<u16>(w[i] >> 16));
    }
    // Block maximum and NaN flag over the lane pair (max is order-independent for non-NaN values,
    // so this equals the simulator's sequential scan).
    float vmax = 0.0f;
    bool nan = false;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        nan |= is_nan(v[i]);
        const float a = abs_f32(v[i]);
        vmax = a > vmax ? a : vmax;
    }
    const float other = __shfl_xor_sync(0xFFFFFFFFu, vmax, 1);
    vmax = other > vmax ? other : vmax;
    nan = __shfl_xor_sync(0xFFFFFFFFu, static_cast<int>(nan), 1) != 0 || nan;

    u8 s8 = kE4m3Nan;
    u32 packed = 0;
    if (!nan && ok) {
        s8 = scale_byte(vmax, gs);
        const float os = output_scale(e4m3_decode(s8), rcp_gs);
#pragma unroll
        for (int i = 0; i < 8; ++i) packed |= static_cast<u32>(e2m1_encode(__fmul_rn(v[i], os))) << (4 * i);
    } else if (!ok) {
        s8 = kE4m3Nan;
    }
    if (c >= chunks) s8 = 0;  // padding scale columns of the swizzled layout
    if (c < chunks) *reinterpret_cast<u32*>(codes + r * (k / 2) + static_cast<long long>(c) * 4) = packed;

    if (kLayout == kSwizzled) {
        // Lanes 8q..8q+7 hold blocks 4g..4g+3: one aligned 32-bit word of scales.
        const u32 b = s8;
        const u32 word = b | (__shfl_down_sync(0xFFFFFFFFu, b, 2) << 8) | (__shfl_down_sync(0xFFFFFFFFu, b, 4) << 16) |
                         (__shfl_down_sync(0xFFFFFFFFu, b, 6) << 24);
        if ((lane & 7) == 0 && c < grid_chunks) *reinterpret_cast<u32*>(scales + swizzled_offset(r, c / 2, kp)) = word;
    } else {
        if ((lane & 1) == 0 && c < chunks) scales[r * (k / kBlock) + c / 2] = s8;
    }
}

template <int kLayout, bool kDynamic>
__device__ __forceinline__ void quantize_bf16(
    const u16* __restrict__ x,       // [rows, k] bf16
    int rows, int k,
    const float* __restrict__ gs_in, // static: [1] encode scale
    const u32* __restrict__ amax,    // dynamic: [1] amax as float bits (from nvfp4_amax_bf16)
    float* __restrict__ gs_out,      // dynamic: [1] receives the encode scale used (NaN if bad)
    u8* __restrict__ codes,          // [rows, k / 2]
    u8* __restrict__ scales,         // linear [rows, k/16] or swizzled [roundup(rows,128), roundup(k/16,4)]
    u32* __restrict__ status)        // [1] status bits
{
    float gs;
    const bool ok = global_scale<kDynamic>(gs_in, amax, gs_out, status, gs);
    const float rcp_gs = __fdiv_rn(1.0f, gs);
    const int groups = (k / kBlock + 3) / 4;
    const long long kp = static_cast<long long>(groups) * 4;
    const int chunks = k / 8;
    const int grid_chunks = kLayout == kSwizzled ? groups * 8 : chunks;
    const int warp_base = threadIdx.x & ~31;
    const int step = 2 * blockDim.x;
    for (long long r = blockIdx.x; r < grid_rows<kLayout>(rows); r += gridDim.x) {
        if (r >= rows) {  // swizzled padding row: zero scale words only
            for (int g = threadIdx.x; g < groups; g += blockDim.x)
                *reinterpret_cast<u32*>(scales + swizzled_offset(r, 4 * g, kp)) = 0u;
            continue;
        }
        const uint4_t* row = reinterpret_cast<const uint4_t*>(x + r * k);
        // Two chunks per lane per step: both 16-byte loads are issued before any arithmetic.
        for (int base = warp_base; base < grid_chunks; base += step) {
            const int c0 = base + (threadIdx.x & 31);
            const int c1 = c0 + blockDim.x;
            const uint4_t zero = {0u, 0u, 0u, 0u};
            const uint4_t a = c0 < chunks ? row[c0] : zero;
            const uint4_t b = c1 < chunks ? row[c1] : zero;
            quantize_chunk<kLayout>(a, c0, chunks, grid_chunks, r, k, kp, gs, rcp_gs, ok, codes, scales);
            if (base + blockDim.x < grid_chunks)  // warp-uniform
                quantize_chunk<kLayout>(b, c1, chunks, grid_chunks, r, k, kp, gs, rcp_gs, ok, codes, scales);
        }
    }
}

template <int kLayout>
__device__ __forceinline__ void dequantize_bf16(
    const u8* __restrict__ codes,   // [rows, k / 2]
    const u8* __restrict__ scales,  // linear or swizzled, as written by quantize
    int rows, int k,
    const float* __restrict__ dec_in, // [1] decode scale
    u16* __restrict__ out,            // [rows, k] bf16
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
#pragma unroll
    for (int j = 0; j < kBlocksPerThread; ++j) {
        const int b = g * kBlocksPerThread + j;
        if (b >= ks) break;
        const uint2_t c = *reinterpret_cast<const uint2_t*>(codes + r * (k / 2) + b * (kBlock / 2));
        const u8 s8 = kLayout == kSwizzled ? scales[swizzled_offset(r, b, kp)] : scales[r * ks + b];
        const float sq = e4m3_decode(s8);
        u32 words[kBlock / 2];
#pragma unroll
        for (int i = 0; i < kBlock / 2; ++i) {
            const u32 byte = ((i < 4 ? c.x : c.y) >> (8 * (i % 4))) & 0xFFu;
            const u16 lo = ok ? f32_to_bf16(__fmul_rn(__fmul_rn(e2m1_decode(byte & 0xF), sq), dec)) : 0x7FC0;
            const u16 hi = ok ? f32_to_bf16(__fmul_rn(__fmul_rn(e2m1_decode(byte >> 4), sq), dec)) : 0x7FC0;
            words[i] = static_cast<u32>(lo) | (static_cast<u32>(hi) << 16);
        }
        uint4_t* dst = reinterpret_cast<uint4_t*>(out + r * k + b * kBlock);
        dst[0] = {words[0], words[1], words[2], words[3]};
        dst[1] = {words[4], words[5], words[6], words[7]};
    }
}

}  // namespace

// amax of |x| over n bf16 values (n a multiple of 8), NaN ignored, as float bits: each warp
// reduces, then one atomicMax per warp (max is order-independent, so the result is deterministic).
// *amax must be zero before the launch. Grid-stride: any grid size works.
extern "C" __global__ void nvfp4_amax_bf16(const u16* __restrict__ x, long long n, u32* __restrict__ amax) {
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    u32 m = 0;
    for (long long v = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; v < n / 8; v += stride) {
        const uint4_t q = reinterpret_cast<const uint4_t*>(x)[v];
        const u32 w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const u32 a = (w[i] >> (16 * h)) & 0x7FFFu;  // |x| bits; > 0x7F80 is NaN
                m = (a <= 0x7F80u && a > m) ? a : m;
            }
        }
    }
    m = __reduce_max_sync(0xFFFFFFFFu, m);
    if ((threadIdx.x & 31) == 0 && m != 0) atomicMax(amax, m << 16);
}

#define NVFP4_QUANTIZE_ENTRY(layout_name, layout, mode_name, dynamic)                               \
    extern "C" __global__ void nvfp4_quantize_bf16_##layout_name##_##mode_name(                   \
        const u16* x, int rows, int k, const float* gs_in, const u32* amax, float* gs_out,        \
        u8* codes, u8* scales, u32* status) {                                                     \
        quantize_bf16<layout, dynamic>(x, rows, k, gs_in, amax, gs_out, codes, scales, status);   \
    }

NVFP4_QUANTIZE_ENTRY(linear, kLinear, static, false)
NVFP4_QUANTIZE_ENTRY(linear, kLinear, dynamic, true)
NVFP4_QUANTIZE_ENTRY(swizzled, kSwizzled, static, false)
NVFP4_QUANTIZE_ENTRY(swizzled, kSwizzled, dynamic, true)

#define NVFP4_DEQUANTIZE_ENTRY(layout_name, layout)                                                 \
    extern "C" __global__ void nvfp4_dequantize_bf16_##layout_name(                               \
        const u8* codes, const u8* scales, int rows, int k, const float* dec, u16* out,           \
        u32* status) {                                                                            \
        dequantize_bf16<layout>(codes, scales, rows, k, dec, out, status);                        \
    }

NVFP4_DEQUANTIZE_ENTRY(linear, kLinear)
NVFP4_DEQUANTIZE_ENTRY(swizzled, kSwizzled)
