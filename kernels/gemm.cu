// gemm.cu: D[M, N] = alpha * A[M, K] . W[N, K]^T with NVFP4 weights and bf16 activations, SPEC
// section 5, on mma.sync.m16n8k16 bf16 tensor cores (sm_80 and newer: the portable path, and the
// small-M path). W4A4 runs here too: its activations arrive dequantized to bf16 (e2m1 * sq, exact
// in bf16; quantize.cu), so the products are the SPEC's, and alpha = dec_a * dec_w.
//
// Entry points (stamped at the bottom): nvfp4_gemm_{m8,m16,m24}, up to 8, 16 or 24 tokens per CTA.
//
// Operand swap (Marlin's small-M recipe): the weights take the MMA's 16-row "A" slot and the
// tokens its 8-column "B" slot, so D^T[n, m] is what one mma produces. A warp owns a 16-row tile
// of W and a slice of K; the 16 warps of a CTA split K, and reduce their partial sums through
// shared memory in a fixed order (deterministic: no atomics).
//
// Weights are repacked once at load time (nvfp4-cuda `pack.rs` documents the layout) so that each
// lane reads its fragments for four k16 steps with one 16-byte load, a warp 512 contiguous bytes,
// and its two scale bytes (rows g and g + 8 of its block) as one 16-bit word. The K order inside a
// 64-column chunk is permuted, identically for the activations: lane t feeds the mma the column
// pairs 8t..8t+8 of the chunk (one scale block), step s the pairs 8t + 2s and 8t + 2s + 1. The sum
// is the same set of exact products; SPEC 5's bound holds for any order.
//
// Dequantization is exact in bf16 (E2M1 times E4M3 has at most 6 significant bits) and costs
// about 3 integer operations per bf16 pair: the packer places each code's sign at bf16 bit 15 and
// its 3 magnitude bits (e1 e0 m) at bits 8..6 after one shift and mask (Marlin's trick, vLLM
// `marlin/dequant.h`: the exponent's two low bits and the mantissa's top bit), which reads as
// e2m1 * 2^-126 (code 1, 0.5, is the bf16 subnormal 2^-127). The scale byte becomes sq * 2^-120 by
// a shift (bf16 and E4M3 differ only in exponent width, subnormal scales included), then
// sq * 2^119 by two exact multiplies; one bf16x2 fma (with -0 as addend) per pair then gives
// e2m1 * sq * 2^-7 exactly. The MMA sums exact products in f32; the epilogue multiplies by 2^7
// (exact) and alpha, and rounds once to bf16. NaN scale bytes are zeroed by the packer and their
// rows flagged: such a row's outputs are NaN, as the SPEC's sum is.
#include "nvfp4_numerics.cuh"

using namespace nvfp4;

namespace {

constexpr int kWarps = 16;        // warps per CTA, all on one 16-row W tile, splitting K
constexpr int kThreads = kWarps * 32;
constexpr int kMTile = 8;         // tokens per mma (the n8 of m16n8k16)
constexpr int kSmallMTiles = 2;   // the small-M (decode) kernels: up to 16 tokens per CTA
constexpr int kLargeMTiles = 3;   // the general kernels: up to 24 tokens per CTA (4 would spill)
constexpr int kChunkK = 64;       // K per 16-byte fragment load (4 mma steps)
constexpr int kStages = 8;        // weight chunks in flight per warp (cp.async ring in shared memory)

struct alignas(16) uint4_t { u32 x, y, z, w; };
static_assert((kStages & (kStages - 1)) == 0 && kStages >= 4, "a power of two: slot = chunk % kStages; two chunks taken per wait");
static_assert(sizeof(uint4_t) == 16 && alignof(uint4_t) == 16, "one 16-byte load");

// The 8 codes of a packed word as the 4 A-fragment registers, bf16 pairs of e2m1 * 2^-126 (see
// the file comment; pack.rs places the bits): registers 0..2 take sign and magnitude together
// from one mask of the word shifted by 0, 3 and 6; register 3 takes its sign, low magnitude pair
// and top magnitude bit from the 4 bits left per half.
__device__ __forceinline__ void e2m1x8_unpack(u32 w, u32 (&out)[4]) {
    constexpr u32 kMask = 0x81C081C0u;  // bf16 bits 15 and 8..6 of each half
    out[0] = w & kMask;
    out[1] = (w << 3) & kMask;
    out[2] = (w << 6) & kMask;
    out[3] = ((w << 1) & 0x80008000u) | ((w >> 4) & 0x00C000C0u) | ((w >> 5) & 0x01000100u);
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

__device__ __forceinline__ void mma_bf16(float (&c)[4], const u32 (&a)[4], u32 b0, u32 b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The 32-bit shared-window address of a shared-memory pointer.
__device__ __forceinline__ u32 shared_address(const void* p) {
    u32 addr;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(addr) : "l"(p));
    return addr;
}

// cp.async (sm_80+): 16 bytes global -> shared (at a shared-window address), bypassing registers;
// or 4 bytes of which the first src_bytes are read and the rest are zero-filled.
__device__ __forceinline__ void cp_async_16(u32 smem_addr, const void* gmem) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_addr), "l"(gmem));
}
__device__ __forceinline__ void cp_async_4_fill(u32 smem_addr, const void* gmem, u32 src_bytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(smem_addr), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(kPending)); }

// One warp's ring slot: a chunk's fragment bytes (512), its 16 x 4 scale bytes (64), and 64 bytes
// that lanes 16..31 zero-fill, so that all lanes run the same copy instructions.
constexpr int kSlotBytes = 512 + 128;

template <int kMTiles, int kStages>
__device__ __forceinline__ void gemm(
    const uint4_t* __restrict__ w_codes, // repacked, see the file comment
    const u8* __restrict__ w_scales,     // repacked, [tile][chunk][lane 32][row g, g + 8]
    const u32* __restrict__ w_nan_rows,  // [tile]: bit r set if row 16 tile + r has a NaN scale
    const float* __restrict__ w_dec,     // [1] weight decode scale
    const u16* __restrict__ a,           // bf16 [M, K]
    const float* __restrict__ a_scale,   // W4A4: [1] activation decode scale, or encode scale if
    int a_scale_is_gs,                   //   a_scale_is_gs (then dec = 1 / gs, as the simulator);
                                         //   W4A16: null
    u16* __restrict__ d,                 // bf16 [M, N]
    int m_rows, int n, int k)
{
    constexpr int kM = kMTile * kMTiles;  // tokens per CTA
    // Shared memory: each warp's ring of kStages weight slots, then the split-K partial sums
    // [kWarps][kM tokens][16 rows] (f32).
    extern __shared__ uint4_t smem[];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    u8* ring = reinterpret_cast<u8*>(smem) + warp * kStages * kSlotBytes;
    float* partial = reinterpret_cast<float*>(reinterpret_cast<u8*>(smem) + kWarps * kStages * kSlotBytes);
    const int g = lane / 4, t = lane % 4;
    const int tile = blockIdx.x;
    const int m0 = blockIdx.y * kM;
    const int m_tiles = min(kMTiles, (m_rows - m0 + kMTile - 1) / kMTile);
    const int chunks = (k + kChunkK - 1) / kChunkK;
    const int c_begin = warp * chunks / kWarps, c_end = (warp + 1) * chunks / kWarps;

    float acc[kMTiles][4];
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;

    // Weights go through the ring in chunk order: every lane copies its 16 fragment bytes, and 4 of
    // the chunk's 64 scale bytes (lanes 0..15; lanes 16..31 zero-fill the slot's spare bytes).
    // Running source pointers, 32-bit ring addresses.
    const u8* w_src = reinterpret_cast<const u8*>(w_codes) + (static_cast<long long>(tile) * chunks + c_begin) * 512 + lane * 16;
    const u8* s_src = w_scales + (static_cast<long long>(tile) * chunks + c_begin) * 64 + (lane % 16) * 4;
    const u32 ring_w = shared_address(ring) + lane * 16, ring_s = shared_address(ring) + 512 + lane * 4;
    const u32 s_bytes = lane < 16 ? 4u : 0u;
    int next_issue = c_begin;
    auto issue = [&]() {
        if (next_issue < c_end) {
            const u32 slot = (static_cast<unsigned>(next_issue) % kStages) * kSlotBytes;
            cp_async_16(ring_w + slot, w_src);
            cp_async_4_fill(ring_s + slot, s_src, s_bytes);
            w_src += 512;
            s_src += 64;
        }
        cp_async_commit();  // one group per chunk, empty past the end, so the counts stay uniform
        ++next_issue;
    };
    // The lane's activation rows (token m0 + 8 mt + g), or null past M: such a lane's B words
    // stay zero (set once below), and its mma column is never stored anyway.
    const u16* a_row[kMTiles];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
        const int m = m0 + mt * kMTile + g;
        a_row[mt] = m < m_rows ? a + static_cast<long long>(m) * k + 16 * t : nullptr;
    }
    const int full_chunks = k / kChunkK;  // chunks with no column past K
    // The lane's 16 activation columns of chunk c (one scale block, see the file comment) as 8
    // bf16x2 words: b0, b1 of steps 0..3, in order. Columns past K (only in a last, partial chunk)
    // read as zero.
    auto load_acts = [&](int c, u32 (&b)[kMTiles][8]) {
        const bool in_k = c < full_chunks || c * kChunkK + 16 * t < k;
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
            if (kMTiles > 1 && mt >= m_tiles) break;  // m8: always one tile
            if (a_row[mt] == nullptr) continue;
            uint4_t lo = {0u, 0u, 0u, 0u}, hi = {0u, 0u, 0u, 0u};
            if (in_k) {
                const uint4_t* p = reinterpret_cast<const uint4_t*>(a_row[mt] + c * kChunkK);
                lo = p[0];
                hi = p[1];
            }
            b[mt][0] = lo.x; b[mt][1] = lo.y; b[mt][2] = lo.z; b[mt][3] = lo.w;
            b[mt][4] = hi.x; b[mt][5] = hi.y; b[mt][6] = hi.z; b[mt][7] = hi.w;
        }
    };
    auto math = [&](const uint4_t& w, u32 sq_lo, u32 sq_hi, const u32 (&b)[kMTiles][8]) {
        const u32 words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int s = 0; s < 4; ++s) {
            u32 frag[4];
            e2m1x8_unpack(words[s], frag);
#pragma unroll
            for (int r = 0; r < 4; ++r) frag[r] = bf16x2_mul(frag[r], r % 2 == 0 ? sq_lo : sq_hi);
#pragma unroll
            for (int mt = 0; mt < kMTiles; ++mt)
                if (kMTiles == 1 || mt < m_tiles) mma_bf16(acc[mt], frag, b[mt][2 * s], b[mt][2 * s + 1]);
        }
    };
    auto take = [&](int c, uint4_t& w, u32& sq_lo, u32& sq_hi) {
        const u8* slot = ring + (static_cast<unsigned>(c) % kStages) * kSlotBytes;
        w = *reinterpret_cast<const uint4_t*>(slot + lane * 16);
        e4m3x2_unpack(*reinterpret_cast<const u16*>(slot + 512 + 2 * lane), sq_lo, sq_hi);
    };

#pragma unroll
    for (int i = 0; i < kStages - 1; ++i) issue();
    u32 b0[kMTiles][8], b1[kMTiles][8];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
        for (int i = 0; i < 8; ++i) b0[mt][i] = b1[mt][i] = 0u;
    if (c_begin < c_end) load_acts(c_begin, b0);
    // Two chunks per iteration: their weights were issued kStages - 1 chunks ahead; activations
    // are loaded one chunk ahead, into the buffer the previous chunk's math has released.
    for (int c = c_begin; c < c_end; c += 2) {
        const bool two = c + 1 < c_end;
        cp_async_wait<kStages - 3>();  // chunks c and c + 1 have landed (this lane's copies)
        __syncwarp();                  // and the other lanes' (the scale bytes)
        uint4_t w0, w1 = {0u, 0u, 0u, 0u};
        u32 lo0, hi0, lo1 = 0u, hi1 = 0u;
        take(c, w0, lo0, hi0);
        if (two) take(c + 1, w1, lo1, hi1);
        __syncwarp();  // every lane has read both slots before they are refilled
        issue();       // chunk c + kStages - 1, into the slot of chunk c - 1
        issue();       // chunk c + kStages, into the slot of chunk c
        if (two) load_acts(c + 1, b1);
        math(w0, lo0, hi0, b0);
        if (c + 2 < c_end) load_acts(c + 2, b0);
        if (two) math(w1, lo1, hi1, b1);
    }
    cp_async_wait<0>();

    // Split-K reduction: partial[warp][token][row], summed over warps 0..15 in order.
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
        if (mt >= m_tiles) break;
        float* p = partial + (warp * kM + mt * kMTile + 2 * t) * 16;
        p[g] = acc[mt][0];
        p[16 + g] = acc[mt][1];
        p[g + 8] = acc[mt][2];
        p[16 + g + 8] = acc[mt][3];
    }
    __syncthreads();
    const int outputs = m_tiles * kMTile * 16;  // (token, row) pairs of this CTA, < kThreads
    const int i = threadIdx.x;
    float sum = 0.0f;
    if (i < outputs)
        for (int w = 0; w < kWarps; ++w) sum = __fadd_rn(sum, partial[(w * kM) * 16 + i]);
    if (i >= outputs) return;
    const float alpha = a_scale ? __fmul_rn(a_scale_is_gs ? __frcp_rn(*a_scale) : *a_scale, *w_dec) : *w_dec;
    const int token = i / 16, row = i % 16;
    const int m = m0 + token, nn = tile * 16 + row;
    // sum * 2^7 undoes the weights' 2^-7 exactly; alpha then rounds once.
    const u16 out = (w_nan_rows[tile] >> row) & 1u ? 0x7FC0u : f32_to_bf16(__fmul_rn(alpha, __fmul_rn(sum, 128.0f)));
    if (m < m_rows && nn < n) d[static_cast<long long>(m) * n + nn] = out;
}

}  // namespace

// Entry points: nvfp4_gemm_{m8,m16,m24} take up to 8, 16 or 24 tokens per CTA. The m8 kernel fits
// 64 registers (two CTAs, 32 warps, per SM); the others run one CTA per SM.
#define NVFP4_GEMM_ENTRY(suffix, m_tiles, stages, min_blocks)                                               \
    extern "C" __global__ void __launch_bounds__(kThreads, min_blocks) nvfp4_gemm_##suffix(                  \
        const uint4_t* w_codes, const u8* w_scales, const u32* w_nan_rows, const float* w_dec, const u16* a, \
        const float* a_scale, int a_scale_is_gs, u16* d, int m, int n, int k) {                               \
        gemm<m_tiles, stages>(w_codes, w_scales, w_nan_rows, w_dec, a, a_scale, a_scale_is_gs, d, m, n, k);   \
    }

NVFP4_GEMM_ENTRY(m8, 1, kStages, 2)
NVFP4_GEMM_ENTRY(m16, kSmallMTiles, kStages, 1)
NVFP4_GEMM_ENTRY(m24, kLargeMTiles, kStages, 1)
