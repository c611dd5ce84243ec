// nvfp4_gemm.cuh: the device pieces both GEMM kernels (gemm.cu, gemm_wgmma.cu) share: unpacking
// the packed weights (layout in nvfp4-cuda's pack.rs) into exact bf16 MMA fragments, the alpha of
// the epilogue, and cp.async.
//
// Exactness: the packer places each E2M1 code's sign at bf16 bit 15 and its magnitude bits
// (e1 e0 m) at bits 8..6 after one shift and mask (Marlin's trick, vLLM `marlin/dequant.h`: the
// exponent's two low bits and the mantissa's top bit), which reads as e2m1 * 2^-126 (code 1, 0.5,
// is the bf16 subnormal 2^-127). The E4M3 scale byte becomes sq * 2^-120 by a shift (bf16 and E4M3
// differ only in exponent width, subnormal scales included), then sq * 2^119 by two exact
// multiplies; one bf16x2 fma (with -0 as addend) gives e2m1 * sq * 2^-7 exactly, at most 6
// significant bits. The epilogue multiplies the f32 sum by 2^7 (exact) and alpha, rounding once.
#pragma once

#include "nvfp4_launch.cuh"
#include "nvfp4_numerics.cuh"

namespace nvfp4 {

// The 8 codes of a packed word as the 4 A-fragment registers, bf16 pairs of e2m1 * 2^-126:
// registers 0..2 take sign and magnitude together from one mask of the word rotated left by 0, 4
// and 10; register 3 from the word rotated by 6 (its m bits) and by 14 (the rest), 9 integer
// operations in all (pack.rs CODE_BITS: no four rotations of the mask tile the word).
__device__ __forceinline__ void e2m1x8_unpack(u32 w, u32 (&out)[4]) {
    constexpr u32 kMask = 0x81C081C0u;  // bf16 bits 15 and 8..6 of each half
    out[0] = w & kMask;
    out[1] = __funnelshift_l(w, w, 4) & kMask;
    out[2] = __funnelshift_l(w, w, 10) & kMask;
    out[3] = (__funnelshift_l(w, w, 6) & 0x00400040u) | (__funnelshift_l(w, w, 14) & 0x81808180u);
}

// a * b exactly (the products here have at most 6 significant bits): fma with -0 keeps signed zeros.
__device__ __forceinline__ u32 bf16x2_mul(u32 a, u32 b) {
    u32 d;
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(0x80008000u));
    return d;
}

// A lane's two scale bytes (row g in the low byte, row g + 8 in the next) as broadcast bf16
// pairs of sq * 2^119: the shift gives sq * 2^-120 (exact, subnormal sq too), then * 2^127 and
// * 2^112 (bf16 0x7F00, 0x7780) are exact, and sq * 2^119 <= 448 * 2^119 stays finite.
__device__ __forceinline__ void e4m3x2_unpack(u32 pair, u32& lo, u32& hi) {
    const u32 y = __byte_perm(pair, 0u, 0x4140);  // byte 0 -> half 0, byte 1 -> half 1
    const u32 h = ((y & 0x007F007Fu) << 4) | ((y & 0x00800080u) << 8);
    const u32 s = bf16x2_mul(bf16x2_mul(h, 0x7F007F00u), 0x77807780u);
    lo = __byte_perm(s, 0u, 0x1010);
    hi = __byte_perm(s, 0u, 0x3232);
}

// A lane's 16 weight codes of one chunk (one 16-byte word per k16 step) times their scales: the
// A-fragment registers of 4 k16 steps (rows g: registers 0, 2; rows g + 8: 1, 3).
__device__ __forceinline__ void dequant_chunk(const uint4_t& w, u32 sq_lo, u32 sq_hi, u32 (&frag)[4][4]) {
    const u32 words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int s = 0; s < 4; ++s) {
        e2m1x8_unpack(words[s], frag[s]);
#pragma unroll
        for (int r = 0; r < 4; ++r) frag[s][r] = bf16x2_mul(frag[s][r], r % 2 == 0 ? sq_lo : sq_hi);
    }
}

// alpha = dec_a * dec_w (W4A4; dec_a = 1 / gs when the scale word is an encode scale, as the
// simulator) or dec_w (W4A16, a_scale null).
__device__ __forceinline__ float gemm_alpha(const float* a_scale, int a_scale_is_gs, const float* w_dec) {
    return a_scale ? __fmul_rn(a_scale_is_gs ? __frcp_rn(*a_scale) : *a_scale, *w_dec) : *w_dec;
}

// One output: NaN for a row with a NaN weight scale, else bf16(alpha * (sum * 2^7)).
__device__ __forceinline__ u16 gemm_output(float sum, float alpha, u32 nan_rows, int row) {
    return (nan_rows >> row) & 1u ? 0x7FC0u : f32_to_bf16(__fmul_rn(alpha, __fmul_rn(sum, 128.0f)));
}

// The 32-bit shared-window address of a shared-memory pointer.
__device__ __forceinline__ u32 shared_address(const void* p) {
    u32 addr;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(addr) : "l"(p));
    return addr;
}

// cp.async (sm_80+), global -> shared (a shared-window address): 16 bytes bypassing L1, or 4
// bytes through it; of either, the first src_bytes are read and the rest zero-filled.
__device__ __forceinline__ void cp_async_16(u32 smem_addr, const void* gmem, u32 src_bytes = 16u) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_addr), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_4(u32 smem_addr, const void* gmem, u32 src_bytes = 4u) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(smem_addr), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(kPending)); }

}  // namespace nvfp4
