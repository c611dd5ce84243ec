// nvfp4_numerics.cuh: the SPEC numerics on the device, mirroring nvfp4-core name for name.
//
//   nvfp4-core (Rust)                      here
//   e2m1::encode, encode_abs / decode      e2m1_encode, e2m1_encode_abs (_mag) / e2m1_decode
//   e4m3::encode / decode                  e4m3_encode / e4m3_decode
//   float::RINT_MAGIC, pow2_normal         12582912.0f, pow2_normal
//   block::RCP6, scale_byte, output_scale  RCP6, scale_byte, output_scale
//   block::quantize_block                  quantize.cu quantize_one_block (per 16-element block)
//   layout::swizzled_offset                swizzled_offset
//   activation::exp_f32, silu, swiglu      exp_f32, silu, swiglu
//   element::bf16_from_f32, bf16 to_f32    f32_to_bf16, f32x2_to_bf16x2 / bf16_to_f32
//
// Every float operation that must match the simulator bit for bit is an explicit `_rn` intrinsic,
// and the sources are compiled with --fmad=false --ftz=false --prec-div=true, so nothing is
// contracted, flushed or approximated. Self-contained: no toolkit headers (NVRTC may run where no
// CUDA toolkit is installed).
#pragma once

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

namespace nvfp4 {

static_assert(sizeof(u8) == 1 && sizeof(u16) == 2 && sizeof(u32) == 4, "fixed-width types");

constexpr int kBlock = 16;                  // elements per scale block
constexpr float kE4m3Max = 448.0f;          // largest E4M3 value
constexpr u8 kE4m3Nan = 0x7F;               // E4M3 NaN byte
constexpr u8 kE4m3MaxByte = 0x7E;           // E4M3 448
constexpr float kFltMax = 3.40282347e+38f;  // FLT_MAX

// Device status bits (a u32 owned by each runner; the host reads it when it synchronises).
constexpr u32 kStatusBadScale = 1u << 0;    // a global scale is NaN, Inf, zero or negative
constexpr u32 kStatusBadExpertId = 1u << 1; // an expert id outside [-1, E)

// 16- and 8-byte vectors: one load or store each.
struct alignas(16) uint4_t { u32 x, y, z, w; };
struct alignas(8) uint2_t { u32 x, y; };
static_assert(sizeof(uint4_t) == 16 && alignof(uint4_t) == 16 && sizeof(uint2_t) == 8 && alignof(uint2_t) == 8,
              "vector types: one 16-byte (8-byte) load or store each");

__device__ __forceinline__ float bits_f32(u32 b) { return __uint_as_float(b); }
__device__ __forceinline__ u32 f32_bits(float f) { return __float_as_uint(f); }
__device__ __forceinline__ float abs_f32(float x) { return bits_f32(f32_bits(x) & 0x7FFFFFFFu); }
__device__ __forceinline__ bool is_nan(float x) { return (f32_bits(x) & 0x7FFFFFFFu) > 0x7F800000u; }

// f32(1/6), bits 0x3E2AAAAB.
#define RCP6 __uint_as_float(0x3E2AAAABu)

__device__ __forceinline__ float bf16_to_f32(u16 b) { return bits_f32(static_cast<u32>(b) << 16); }

// RNE to bf16; every NaN becomes the canonical 0x7FC0 (nvfp4-core element::bf16_from_f32).
__device__ __forceinline__ u16 f32_to_bf16(float v) {
    const u32 x = f32_bits(v);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0u;
    const u32 round_bit = 0x00008000u;
    if ((x & round_bit) != 0 && (x & (3u * round_bit - 1u)) != 0) return static_cast<u16>((x >> 16) + 1u);
    return static_cast<u16>(x >> 16);
}

// Two values at once, as f32_to_bf16 of each: lo in bits 0..15, hi in 16..31 (the hardware's RNE
// conversion; a NaN half, whatever payload the conversion gives it, made the canonical 0x7FC0).
__device__ __forceinline__ u32 f32x2_to_bf16x2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    u32 nan;  // 0xFFFF in each NaN half
    asm("set.nan.u32.bf16x2 %0, %1, %1;" : "=r"(nan) : "r"(r));
#else
    const u32 nan = ((r & 0x7FFFu) > 0x7F80u ? 0xFFFFu : 0u) | ((r & 0x7FFF0000u) > 0x7F800000u ? 0xFFFF0000u : 0u);
#endif
    return (r & ~nan) | (0x7FC07FC0u & nan);
}

// 2^k for -126 <= k <= 127.
__device__ __forceinline__ float pow2_normal(int k) { return bits_f32(static_cast<u32>(k + 127) << 23); }

// E2M1 magnitude code of a = |y| >= 0 (e2m1_encode_mag) or of y given as its bits u, the sign
// bit ignored (e2m1_encode_abs): 2k + rne(|y| * 2^(1-k)) with k = max(floor(log2 |y|), 0),
// saturated at 7 (derivation in nvfp4-core e2m1::encode_abs). The exponent of max(a, 1) is
// k + 127 (a NaN a gives 1, and then a NaN sum: code 7, as the simulator's); the product
// a * 2^(1-k) is exact, so the fma rounds once, as mul + add do.
__device__ __forceinline__ u32 e2m1_encode_mag(float a) {
    const u32 te = f32_bits(fmaxf(a, 1.0f)) & 0x7F800000u;                  // (k + 127) << 23
    const float p = __fmaf_rn(a, bits_f32(0x7F800000u - te), 12582912.0f);  // scale 2^(1-k)
    const u32 code = f32_bits(p) - 0x4B400000u + (te >> 22) - 254u;
    return code > 7u ? 7u : code;
}

__device__ __forceinline__ u32 e2m1_encode_abs(u32 u) { return e2m1_encode_mag(abs_f32(bits_f32(u))); }

// E2M1 encode, SPEC section 1: ties to even, saturating, sign from the sign bit.
__device__ __forceinline__ u8 e2m1_encode(float y) {
    const u32 bits = f32_bits(y);
    return static_cast<u8>(((bits >> 31) << 3) | e2m1_encode_abs(bits & 0x7FFFFFFFu));
}

// Codes 0..7 are +0, 0.5, 1, 1.5, 2, 3, 4, 6: exponent field e = (c >> 1) & 3, mantissa m = c & 1;
// subnormal (e == 0) is m / 2, normal is (1 + m / 2) * 2^(e - 1). Exact; no table in local memory.
__device__ __forceinline__ float e2m1_decode(u8 code) {
    const int e = (code >> 1) & 3;
    const float m = static_cast<float>(code & 1);
    const float v = e == 0 ? __fmul_rn(m, 0.5f) : __fmul_rn(__fadd_rn(1.0f, __fmul_rn(m, 0.5f)), pow2_normal(e - 1));
    return (code & 8) ? -v : v;
}

// E4M3FN encode, RNE with subnormals, saturating at 448, NaN -> 0x7F. With e = max(floor(log2
// |s|), -6) and n = rne(|s| * 2^(3-e)), the byte is ((e + 7) << 3) + n - 8 (see nvfp4-core).
__device__ __forceinline__ u8 e4m3_encode(float s) {
    if (is_nan(s)) return kE4m3Nan;
    const u8 sign = static_cast<u8>((f32_bits(s) >> 31) << 7);
    const float a = abs_f32(s);
    if (a >= kE4m3Max) return sign | kE4m3MaxByte;
    const int exp = static_cast<int>(f32_bits(a) >> 23) - 127;
    const int e = exp < -6 ? -6 : exp;
    // rne(a * 2^(3-e)) < 17 as the low bits of (x + 1.5*2^23) (float::RINT_MAGIC).
    const int n = static_cast<int>(f32_bits(__fadd_rn(__fmul_rn(a, pow2_normal(3 - e)), 12582912.0f)) - 0x4B400000u);
    return sign | static_cast<u8>(((e + 7) << 3) + n - 8);
}

// Exact by construction: a normal byte (e > 0) is the float with exponent e - 7 and the same 3
// mantissa bits; a subnormal one, m * 2^-9, is (1 + m/8) * 2^-6 - 2^-6 (an exact subtraction).
__device__ __forceinline__ float e4m3_decode(u8 byte) {
    const u32 mag = byte & 0x7Fu;
    if (mag == 0x7Fu) return bits_f32(0x7FC00000u);
    const u32 e = mag >> 3, m = mag & 7u;
    const float v = e == 0 ? __fsub_rn(bits_f32((121u << 23) | (m << 20)), pow2_normal(-6))
                           : bits_f32(((e + 120u) << 23) | (m << 20));
    return (byte & 0x80) ? -v : v;
}

// e4m3(min(gs * (vmax * RCP6), 448)) for a non-NaN vmax >= 0 and a valid gs: sf is then in
// [0, 448] and never NaN, so e4m3_encode reduces to its rounding formula (448 itself gives 0x7E:
// e = 8, n = 14), with no branch.
__device__ __forceinline__ u8 scale_byte(float vmax, float gs) {
    const float sf = fminf(__fmul_rn(gs, __fmul_rn(vmax, RCP6)), kE4m3Max);
    const int exp = static_cast<int>(f32_bits(sf) >> 23) - 127;
    const int e = exp < -6 ? -6 : exp;
    const int n = static_cast<int>(f32_bits(__fadd_rn(__fmul_rn(sf, pow2_normal(3 - e)), 12582912.0f)) - 0x4B400000u);
    return static_cast<u8>(((e + 7) << 3) + n - 8);
}

// 0 when sq == 0, else min(1 / (sq * rcp_gs), FLT_MAX), rcp_gs = 1 / gs. __frcp_rn is the IEEE
// round-to-nearest reciprocal: the same bits as __fdiv_rn(1, x), in fewer instructions.
__device__ __forceinline__ float output_scale(float sq, float rcp_gs) {
    if (sq == 0.0f) return 0.0f;
    const float os = __frcp_rn(__fmul_rn(sq, rcp_gs));  // correctly rounded, as 1 / x
    return os > kFltMax ? kFltMax : os;
}

// Dynamic encode scale 2688 / amax (SPEC section 2): 1 for amax == 0, capped at FLT_MAX; a
// non-finite amax is reported as false (the caller sets kStatusBadScale).
__device__ __forceinline__ bool gs_from_amax(float amax, float& gs) {
    if (!(amax < __uint_as_float(0x7F800000u))) return false;  // NaN or Inf
    if (amax == 0.0f) { gs = 1.0f; return true; }
    const float q = __fdiv_rn(2688.0f, amax);
    gs = q > kFltMax ? kFltMax : q;
    return true;
}

// A global scale is usable when finite and > 0.
__device__ __forceinline__ bool scale_ok(float s) { return s > 0.0f && s < __uint_as_float(0x7F800000u); }

// SPEC section 4, swizzled 128x4: kp is the scale-column count padded to 4.
__device__ __forceinline__ unsigned long long swizzled_offset(unsigned long long r, unsigned long long k, unsigned long long kp) {
    return ((r / 128) * (kp / 4) + k / 4) * 512 + (r % 32) * 16 + ((r % 128) / 32) * 4 + (k % 4);
}

// exp_f32 of nvfp4-core::activation, step for step.
__device__ __forceinline__ float exp_f32(float x) {
    if (is_nan(x)) return x;
    if (x > 89.0f) return __uint_as_float(0x7F800000u);
    if (x < -104.0f) return 0.0f;
    const float n = __fsub_rn(__fmaf_rn(x, __uint_as_float(0x3FB8AA3Bu), 12582912.0f), 12582912.0f);
    float r = __fmaf_rn(-n, __uint_as_float(0x3F317218u), x);
    r = __fmaf_rn(-n, __uint_as_float(0xB102E308u), r);
    float p = __uint_as_float(0x39500D01u);       // 1/7!
    p = __fmaf_rn(p, r, __uint_as_float(0x3AB60B61u));  // 1/6!
    p = __fmaf_rn(p, r, __uint_as_float(0x3C088889u));  // 1/5!
    p = __fmaf_rn(p, r, __uint_as_float(0x3D2AAAABu));  // 1/4!
    p = __fmaf_rn(p, r, __uint_as_float(0x3E2AAAABu));  // 1/3!
    p = __fmaf_rn(p, r, 0.5f);
    p = __fmaf_rn(p, r, 1.0f);
    p = __fmaf_rn(p, r, 1.0f);
    const int ni = static_cast<int>(n);
    const int n1 = ni / 2;
    return __fmul_rn(__fmul_rn(p, pow2_normal(n1)), pow2_normal(ni - n1));
}

// silu(v) = v / (1 + exp_f32(-v)).
__device__ __forceinline__ float silu(float v) { return __fdiv_rn(v, __fadd_rn(1.0f, exp_f32(-v))); }

// Plain SwiGLU when has_limit is false; clamped (NaN-propagating) otherwise.
__device__ __forceinline__ float swiglu(float g, float u, bool has_limit, float limit) {
    if (has_limit) {
        g = g > limit ? limit : g;
        u = u > limit ? limit : (u < -limit ? -limit : u);
    }
    return __fmul_rn(silu(g), u);
}

}  // namespace nvfp4
