// nvfp4_quantize.cuh: the device pieces of the activation quantizer (SPEC sections 3-4) that
// quantize.cu's kernels and gemm.cu's quantizing decode kernel share: the encode scale, the
// per-launch table of output scales, one scale block's quantization, and a thread's share of the
// amax. The same functions in both places give the same bits (see quantize.cu for the work splits).
#pragma once

#include "nvfp4_numerics.cuh"

namespace nvfp4 {

// Where a quantizer writes: the scale layout, and codes and scales or the exact bf16 values
// (e2m1 * sq, no decode scale: exact in bf16), row-major [rows, K] or in gemm_wgmma.cu's K order
// ([rows, roundup(K, 64)], each 64-column chunk permuted, zero past K).
enum Layout { kLinear = 0, kSwizzled = 1 };

enum Output { kCodes = 0, kExact = 1, kExactPermuted = 2 };

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

// Phase 1 of every quantizer block: the encode scale (and whether it is valid), and os_table
// (shared, 128 floats): os depends only on the scale byte (and gs), one entry per finite byte.
template <bool kDynamic>
__device__ __forceinline__ bool quantizer_setup(const float* gs_in, const u32* amax, float* gs_out, u32* status, float& gs,
                                                float* os_table) {
    const bool ok = global_scale<kDynamic>(gs_in, amax, gs_out, status, gs);
    if (threadIdx.x < 128) os_table[threadIdx.x] = output_scale(e4m3_decode(static_cast<u8>(threadIdx.x)), __frcp_rn(gs));
    __syncthreads();
    return ok;
}

// One scale block (16 bf16 = two 16-byte words) per lane. The block maximum is taken on the
// |x| bit patterns two at a time (__vmaxu2: 16-bit lanes; for non-negative floats the bit order is
// the numeric order, and a pattern above +Inf's is a NaN); each element is then |x| * os, encoded
// by magnitude, with the sign bit of x (os >= 0, so y = x * os has the sign of x).
template <int kLayout, int kOut>
__device__ __forceinline__ void quantize_one_block(
    const uint4_t p, const uint4_t q, int b, int ks, int grid_blocks, long long scale_row_base,
    u8* __restrict__ codes_row, u8* __restrict__ scales_row_linear, u8* __restrict__ scales,
    u16* __restrict__ exact_row, const float* __restrict__ os_table, float gs, bool ok)
{
    const u32 w[8] = {p.x, p.y, p.z, p.w, q.x, q.y, q.z, q.w};
    u32 m2 = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) m2 = __vmaxu2(m2, w[i] & 0x7FFF7FFFu);
    const u32 lo = m2 & 0xFFFFu, hi = m2 >> 16;
    const u32 max_bits = (lo > hi ? lo : hi) << 16;
    // A NaN block (max above +Inf's bits) gets 0x7F and zero codes; otherwise os comes from the
    // per-launch table of output_scale(e4m3_decode(s8), rcp_gs).
    u8 s8 = max_bits > 0x7F800000u ? kE4m3Nan : scale_byte(bits_f32(max_bits), gs);
    u32 packed[2] = {0u, 0u};
    if (s8 != kE4m3Nan && ok) {
        const float os = os_table[s8];
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const u32 c_lo = e2m1_encode_mag(__fmul_rn(bits_f32((w[i] & 0x7FFFu) << 16), os));
            const u32 c_hi = e2m1_encode_mag(__fmul_rn(bits_f32(w[i] & 0x7FFF0000u), os));
            packed[i / 4] |= (c_lo | (c_hi << 4)) << (8 * (i % 4));
        }
        // Sign bits: element 2i's is bit 7 of byte 1 of w[i], element 2i+1's bit 7 of byte 3. Gather
        // those bytes of 4 words with byte permutes and move the bits to 3 and 7 of code byte i.
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const u32* q4 = w + 4 * h;
            const u32 lo = __byte_perm(__byte_perm(q4[0], q4[1], 0x5151), __byte_perm(q4[2], q4[3], 0x5151), 0x5410);
            const u32 hi = __byte_perm(__byte_perm(q4[0], q4[1], 0x7373), __byte_perm(q4[2], q4[3], 0x7373), 0x5410);
            packed[h] |= ((lo >> 4) & 0x08080808u) | (hi & 0x80808080u);
        }
    }
    if (!ok) s8 = kE4m3Nan;
    if (b >= ks) s8 = 0;  // padding scale column of the swizzled layout
    if (kOut != kCodes) {
        // The block's values e2m1 * sq, rounded to bf16 exactly as the dequantizer with decode
        // scale 1 does (the products are exact). Word j holds columns 2j, 2j + 1 of the block.
        const float sq = e4m3_decode(s8);
        u32 words[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const u32 byte = (packed[j / 4] >> (8 * (j % 4))) & 0xFFu;
            words[j] = static_cast<u32>(f32_to_bf16(__fmul_rn(e2m1_decode(byte & 0xFu), sq))) |
                       (static_cast<u32>(f32_to_bf16(__fmul_rn(e2m1_decode(byte >> 4), sq))) << 16);
        }
        if (kOut == kExact) {
            if (b < ks) {
                uint4_t* dst = reinterpret_cast<uint4_t*>(exact_row + static_cast<long long>(b) * kBlock);
                dst[0] = {words[0], words[1], words[2], words[3]};
                dst[1] = {words[4], words[5], words[6], words[7]};
            }
        } else if (b < grid_blocks) {
            // Block t = b % 4 of chunk b / 4: its word j (pair 8t + j of the chunk) goes to pair
            // 8 (j / 2) + 4 (j % 2) + t of the permuted chunk (gemm_wgmma.cu's K order).
            u32* chunk = reinterpret_cast<u32*>(exact_row) + static_cast<long long>(b / 4) * 32;
#pragma unroll
            for (int j = 0; j < 8; ++j) chunk[8 * (j / 2) + 4 * (j % 2) + b % 4] = words[j];
        }
        return;
    }
    if (b < ks) {
        const uint2_t out = {packed[0], packed[1]};
        *reinterpret_cast<uint2_t*>(codes_row + static_cast<long long>(b) * 8) = out;
    }
    if (kLayout == kSwizzled) {
        // Lanes 4q..4q+3 hold blocks 4g..4g+3: one aligned 32-bit word of scales.
        const u32 v = s8;
        const u32 word = v | (__shfl_down_sync(0xFFFFFFFFu, v, 1) << 8) | (__shfl_down_sync(0xFFFFFFFFu, v, 2) << 16) |
                         (__shfl_down_sync(0xFFFFFFFFu, v, 3) << 24);
        if ((threadIdx.x & 3) == 0 && b < grid_blocks) *reinterpret_cast<u32*>(scales + scale_row_base + static_cast<long long>(b / 4) * 512) = word;
    } else if (b < ks) {
        scales_row_linear[b] = s8;
    }
}

// m2 (two 16-bit lanes of |x| bit patterns, NaN ignored: the running amax) with the 8 bf16 values
// of q folded in; amax_bits(m2) is its larger lane.
__device__ __forceinline__ u32 amax_fold(u32 m2, const uint4_t& q) {
    const u32 w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        // NaN halves (|x| bits above 0x7F80) are dropped before the max.
        const u32 a = w[i] & 0x7FFF7FFFu;
        const u32 keep = (((a & 0xFFFFu) <= 0x7F80u) ? 0xFFFFu : 0u) | (((a >> 16) <= 0x7F80u) ? 0xFFFF0000u : 0u);
        m2 = __vmaxu2(m2, a & keep);
    }
    return m2;
}
__device__ __forceinline__ u32 amax_bits(u32 m2) {
    const u32 lo = m2 & 0xFFFFu, hi = m2 >> 16;
    return lo > hi ? lo : hi;
}
// The largest |x| bit pattern (NaN ignored) of one scale block held as two 16-byte words.
__device__ __forceinline__ u32 amax_of_block(const uint4_t& p0, const uint4_t& p1) { return amax_bits(amax_fold(amax_fold(0u, p0), p1)); }

// The largest |x| bit pattern (NaN ignored) of this thread's grid-stride share of n bf16 values (n
// a multiple of 8): vectors first, first + stride, ... of 8 values.
__device__ __forceinline__ u32 amax_share(const u16* __restrict__ x, long long n, long long first, long long stride) {
    constexpr int kUnroll = 4;  // 16-byte loads in flight per thread
    const long long vectors = n / 8;
    const uint4_t* v = reinterpret_cast<const uint4_t*>(x);
    u32 m2 = 0;  // two 16-bit lanes of |x| bits
    for (long long base = first; base < vectors; base += kUnroll * stride) {
        uint4_t q[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const long long i = base + u * stride;
            q[u] = i < vectors ? v[i] : uint4_t{0u, 0u, 0u, 0u};
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) m2 = amax_fold(m2, q[u]);
    }
    return amax_bits(m2);
}

}  // namespace nvfp4
