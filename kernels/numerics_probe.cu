// numerics_probe.cu: evaluates every function of nvfp4_numerics.cuh on given inputs, so that a
// GPU test can compare each one bit for bit with its nvfp4-core twin, including the functions no
// production kernel calls yet (exp_f32, silu, swiglu). No numerics live here.
#include "nvfp4_numerics.cuh"

using namespace nvfp4;

// For input i (x = bits_f32(x_bits[i]), u = the input at (i * 40503) % n), out[i * 10 + j] is:
//   0 e2m1_encode(x)          1 e4m3_encode(x)          2 bits of e4m3_decode(i & 0xFF)
//   3 bits of e2m1_decode(i & 0xF)                      4 bits of exp_f32(x)
//   5 bits of silu(x)         6 bits of swiglu(x, u, limit = 7 when i is odd)
//   7 swizzled_offset(i % 1000, i % 23, 24)
//   8 f32_to_bf16(x)          9 f32x2_to_bf16x2(x, u)
extern "C" __global__ void nvfp4_numerics_probe(const u32* __restrict__ x_bits, int n, u32* __restrict__ out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float x = bits_f32(x_bits[i]);
    const float u = bits_f32(x_bits[static_cast<int>((static_cast<long long>(i) * 40503) % n)]);
    u32* o = out + static_cast<long long>(i) * 10;
    o[0] = e2m1_encode(x);
    o[1] = e4m3_encode(x);
    o[2] = f32_bits(e4m3_decode(static_cast<u8>(i & 0xFF)));
    o[3] = f32_bits(e2m1_decode(static_cast<u8>(i & 0xF)));
    o[4] = f32_bits(exp_f32(x));
    o[5] = f32_bits(silu(x));
    o[6] = f32_bits(swiglu(x, u, (i & 1) != 0, 7.0f));
    o[7] = static_cast<u32>(swizzled_offset(i % 1000, i % 23, 24));
    o[8] = f32_to_bf16(x);
    o[9] = f32x2_to_bf16x2(x, u);
}
