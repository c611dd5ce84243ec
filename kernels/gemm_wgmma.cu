// gemm_wgmma.cu: the large-M (prefill) GEMM on Hopper's warpgroup MMA (sm_90a), same contract as
// gemm.cu: D[M, N] = alpha * A[M, K] . W[N, K]^T, NVFP4 weights in gemm.cu's packed layout
// (pack.rs), bf16 activations, f32 accumulation, one rounding to bf16 (SPEC section 5).
//
// Entry points:
//   nvfp4_splitk_reduce adds the K parts of a split launch and rounds them (any sm_80+).
//   nvfp4_permute_k     activations [M, K] -> [M, roundup(K, 64)] with each 64-column chunk in
//                       the wgmma K order below (zero past K); any sm_80+.
//   nvfp4_gemm_wgmma_n{64,128,256}
//                       the GEMM on permuted activations, 64, 128 or 256 tokens per work item;
//                       sm_90a only (on other targets they compile to empty bodies and the
//                       runtime never launches them).
//
// Shape (the design of HOPPER_NOTES.md, after Machete / TRT-LLM's mixed-input Hopper kernels):
// wgmma takes A from registers and B from shared memory, so the weights are the A operand, each
// dequantized in registers exactly as in gemm.cu (one 16-byte fragment load per lane per chunk
// and tile: the per-warp layout of wgmma's register A fragment is mma.m16n8k16's), and the tokens
// are wgmma's N. A work item is 128 weight rows (two consumer warpgroups, one m64 block each) x
// kTokens (64, 128 or 256) tokens x a K part; K moves in 64-column chunks through a ring of
// kStages stages (nvfp4_tma.cuh) holding, per chunk, the kTokens x 64 bf16 activation box
// (128-byte swizzled, K-major: what a wgmma descriptor reads) and the 8 weight tiles' packed
// bytes, filled by one producer thread through the bulk tensor copy engine. The consumers only
// dequantize (the next chunk under the current chunk's MMAs) and issue MMAs; the epilogue rounds
// pairs of outputs with one cvt and stores them transposed into an output tile with stmatrix,
// while the producer already fetches the next item's chunks.
//
// K order. gemm.cu's packing hands lane t of a quad the column pairs 8t..8t+8 of a chunk (one
// scale block), step s the pairs 8t + 2s (fragment registers 0, 1) and 8t + 2s + 1 (registers 2, 3).
// wgmma's k16 step s reads its 8 column pairs p = 0..7 in memory order, and its register fragment
// gives thread t the pairs t and t + 4; so position (s, p) of the permuted chunk holds original
// pair 8 (p % 4) + 2s + p / 4. Every product is still one weight times the activation of the same
// column; only the order of the sum changes, which SPEC 5's bound allows.
#include "nvfp4_tma.cuh"

using namespace nvfp4;

namespace {

constexpr int kChunkK = 64;

}  // namespace

// A 256-thread CTA per 32 chunks of one row: each thread loads one 16-byte unit (4 column pairs)
// into shared memory, then stores one unit of the permuted order, so that both the loads and the
// stores of a warp are 512 contiguous bytes. Pairs past K are zero.
extern "C" __global__ void __launch_bounds__(256) nvfp4_permute_k(const u32* __restrict__ x, int rows, int k, u32* __restrict__ out) {
    __shared__ uint4_t tile[256];
    const int chunks = (k + kChunkK - 1) / kChunkK;
    const int groups = (chunks + 31) / 32;  // CTAs per row
    const long long r = blockIdx.x / groups;
    const int c0 = static_cast<int>(blockIdx.x % groups) * 32;
    if (r >= rows) return;
    const int pairs = k / 2;  // column pairs per input row (a multiple of 8: K % 16 == 0)
    const int i = threadIdx.x;
    const int pair0 = c0 * 32 + 4 * i;  // first pair of this thread's input unit
    tile[i] = pair0 < pairs ? *reinterpret_cast<const uint4_t*>(x + r * pairs + pair0) : uint4_t{0u, 0u, 0u, 0u};
    __syncthreads();
    // Output unit i: chunk i / 8, step s = (i % 8) / 2, half h = i % 2: positions (s, 4h..4h+3)
    // hold original pairs 8a + 2s + h, a = 0..3.
    const int chunk = i / 8, s = (i % 8) / 2, h = i % 2;
    if (c0 + chunk >= chunks) return;
    const u32* w = reinterpret_cast<const u32*>(tile) + chunk * 32 + 2 * s + h;
    const uint4_t v = {w[0], w[8], w[16], w[24]};
    reinterpret_cast<uint4_t*>(out + (r * chunks + c0 + chunk) * 32)[i % 8] = v;
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

namespace {

constexpr int kConsumers = 256;                  // two warpgroups: dequantization and MMAs
constexpr int kThreads = kConsumers + 128;       // and a producer warpgroup, one thread of which issues the copies
constexpr int kProducerRegs = 40, kConsumerRegs = 232;  // setmaxnreg: 128 x 40 + 256 x 232 <= 64 K registers
constexpr int kTiles = kTmaTiles;                // 16-row weight tiles per CTA: 128 rows, one m64 block per warpgroup
constexpr int kRows = kTiles * 16;
constexpr int kOutStride = kRows + 8;            // bf16 per output-tile row: conflict-free stmatrix rows

// The shared-memory plan of a kernel of kTokens tokens per item (wgmma's N) and a ring of kStages
// stages: 1024-byte aligned stages of the activation box (kTokens rows of 128 bytes) and the 8
// tiles' packed bytes, then the output tile [kTokens][kOutStride] bf16, then the mbarriers.
template <int kTokens, int kStages>
struct Plan {
    static constexpr int kBBytes = kTokens * kChunkK * 2;
    static constexpr int kStageBytes = (kBBytes + kTmaCodeBytes + kTmaScaleBytes + 1023) / 1024 * 1024;
    static constexpr int kOutBytes = kTokens * kOutStride * 2;
};

// The shared-memory descriptor of a K-major bf16 operand in the 128-byte swizzle: start address,
// stride 1024 bytes between 8-row groups, layout type 1 (128B swizzle); the leading offset is
// unused by this layout.
__device__ __forceinline__ unsigned long long smem_desc(u32 addr) {
    return static_cast<unsigned long long>((addr & 0x3FFFFu) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }

// The accumulator operands of a wgmma, 8 and 32 at a time, and their places in the instruction.
#define NVFP4_ACC8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
                      "+f"(d[i + 6]), "+f"(d[i + 7])
#define NVFP4_ACC32(i) NVFP4_ACC8(i), NVFP4_ACC8(i + 8), NVFP4_ACC8(i + 16), NVFP4_ACC8(i + 24)
#define NVFP4_REGS32_0 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
                       "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define NVFP4_REGS32_1 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
                       "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define NVFP4_REGS32_2 "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
                       "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"
#define NVFP4_REGS32_3 "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
                       "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
// One wgmma m64nNk16 (N = 2 x the accumulators): `regs` names the accumulators in the
// instruction, `a`.. the A registers, the descriptor and the accumulate predicate after them.
#define NVFP4_WGMMA(n, regs, a0, a1, a2, a3, desc, pred, ...)                                              \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " pred ", 0;\n"                                      \
                 "wgmma.mma_async.sync.aligned.m64n" #n "k16.f32.bf16.bf16 {" regs "}, {" a0 ", " a1 ", " a2 \
                 ", " a3 "}, " desc ", p, 1, 1, 0;\n}\n"                                                   \
                 : __VA_ARGS__                                                                            \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_value), "r"(1))

// D[64 x kTokens] += A[64 x 16] (registers) . B[16 x kTokens] (shared memory, K-major), f32
// accumulators, for kTokens of 64, 128 or 256.
template <int kTokens>
__device__ __forceinline__ void wgmma_k16(float (&d)[kTokens / 2], const u32 (&a)[4], unsigned long long desc_value) {
    static_assert(kTokens == 64 || kTokens == 128 || kTokens == 256, "the widths this file stamps");
    if constexpr (kTokens == 64) {
        NVFP4_WGMMA(64, NVFP4_REGS32_0, "%32", "%33", "%34", "%35", "%36", "%37", NVFP4_ACC32(0));
    } else if constexpr (kTokens == 128) {
        NVFP4_WGMMA(128, NVFP4_REGS32_0 ", " NVFP4_REGS32_1, "%64", "%65", "%66", "%67", "%68", "%69", NVFP4_ACC32(0),
                    NVFP4_ACC32(32));
    } else {
        NVFP4_WGMMA(256, NVFP4_REGS32_0 ", " NVFP4_REGS32_1 ", " NVFP4_REGS32_2 ", " NVFP4_REGS32_3, "%128", "%129",
                    "%130", "%131", "%132", "%133", NVFP4_ACC32(0), NVFP4_ACC32(32), NVFP4_ACC32(64), NVFP4_ACC32(96));
    }
}

// Two outputs of one weight row (tokens 2t, 2t + 1 of an mma C fragment) as a bf16 pair: each
// bf16(alpha * (sum * 2^7)) rounded to nearest even, NaN as 0x7FC0 (gemm_output's values, two
// at a time), or both NaN for a row with a NaN weight scale (nan_row all ones).
__device__ __forceinline__ u32 output_pair(float lo, float hi, float alpha, u32 nan_row) {
    const u32 r = f32x2_to_bf16x2(__fmul_rn(alpha, __fmul_rn(lo, 128.0f)), __fmul_rn(alpha, __fmul_rn(hi, 128.0f)));
    return (r & ~nan_row) | (0x7FC07FC0u & nan_row);
}

// Four 8 x 8 bf16 matrices (the mma C fragment layout) stored transposed: lane l gives the
// address of row l % 8 of matrix l / 8 of the transposed result.
__device__ __forceinline__ void stmatrix_x4_trans(u32 addr, u32 r0, u32 r1, u32 r2, u32 r3) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};"
                 ::"r"(addr), "r"(r0), "r"(r1), "r"(r2), "r"(r3) : "memory");
}

// A persistent grid: CTA b takes the work items b, b + gridDim.x, ... of the (x, y, z) space below,
// x fastest: weight rows 128 x onwards, tokens kTokens y onwards, K part z of `splits`. Threads:
// two consumer warpgroups (warp w of warpgroup G owns weight tile 4 G + w, the warpgroup's m64
// block) and a producer warpgroup (registers moved to the consumers by setmaxnreg), whose first
// thread runs the copies up to kStages chunks ahead, across work items, so that the next item's
// first chunks arrive during this one's last MMAs and epilogue.
template <int kTokens, int kStages>
__device__ __forceinline__ void gemm_wgmma(
    const TensorMap* a_map,              // permuted activations (nvfp4_permute_k), bf16
                                         //   [rows][roundup(K, 64)], box 64 x kTokens, 128B swizzle
    const TensorMap* codes_map,          // packed codes (pack.rs) as u32 [tiles][chunks][128], box 128 x 1 x 8
    const TensorMap* scales_map,         // packed scales as u32 [tiles][chunks][16], box 16 x 1 x 8
    const u32* __restrict__ w_nan_rows,  // [tile]: bit r set if row 16 tile + r has a NaN scale
    const float* __restrict__ w_dec,     // [1] weight decode scale
    const float* __restrict__ a_scale,   // W4A4: [1] activation decode scale, or encode scale if
    int a_scale_is_gs,                   //   a_scale_is_gs (then dec = 1 / gs); W4A16: null
    u16* __restrict__ d,                 // bf16 [M, N]
    int m_rows, int n, int k,
    int splits,                          // K parts; > 1: f32 sums into `partials`
    float* __restrict__ partials)        // splits > 1: [splits][M][N] f32, reduced by nvfp4_splitk_reduce
{
    using P = Plan<kTokens, kStages>;
    extern __shared__ uint4_t smem_raw[];
    // The 128-byte swizzle repeats every 1024 bytes: align the ring to that. After the ring: the
    // output tile, then the stages' mbarriers (full[st], then empty[st]).
    const u32 raw = shared_address(smem_raw);
    const u32 ring = (raw + 1023u) & ~1023u;
    u8* ring_ptr = reinterpret_cast<u8*>(smem_raw) + (ring - raw);
    u16* out_tile = reinterpret_cast<u16*>(ring_ptr + kStages * P::kStageBytes);
    const u32 out_addr = ring + kStages * P::kStageBytes;
    const u32 full = out_addr + P::kOutBytes, empty = full + 8 * kStages;

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int tiles = (n + 15) / 16;
    const WorkItems work(n, m_rows, k, kTokens, splits);
    if (tid == 0) ring_init<kStages>(full, kConsumers / 32);
    __syncthreads();

    if (warp >= kConsumers / 32) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kProducerRegs));
        if (warp == kConsumers / 32 && lane == 0)
            produce<kStages, P::kStageBytes, kTokens, P::kBBytes>(work, ring, full, a_map, codes_map, scales_map);
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kConsumerRegs));

    const int wg = warp / 4, wq = warp % 4, wtile = 4 * wg + wq;  // this warp's tile in the CTA
    const int g = lane / 4, t = lane % 4;
    const float alpha = gemm_alpha(a_scale, a_scale_is_gs, w_dec);
    float acc[kTokens / 2];
    // Waits until chunk j is in.
    auto landed = [&](int j) { mbar_wait(full + 8 * (j % kStages), (j / kStages) & 1); };
    // Releases chunk j's stage: this warp's MMAs and reads of it are done.
    auto release = [&](int j) {
        if (lane == 0) mbar_arrive(empty + 8 * (j % kStages));
    };
    // Chunk j's weights for this warp, from its stage: 4 k16 steps of the 4 A-fragment registers.
    auto dequant = [&](int j, u32 (&frag)[4][4]) {
        const u8* stage = ring_ptr + (j % kStages) * P::kStageBytes + P::kBBytes;
        u32 lo, hi;
        e4m3x2_unpack(*reinterpret_cast<const u16*>(stage + kTmaCodeBytes + wtile * 64 + 2 * lane), lo, hi);
        dequant_chunk(*reinterpret_cast<const uint4_t*>(stage + wtile * 512 + lane * 16), lo, hi, frag);
    };
    auto mma = [&](int j, const u32 (&frag)[4][4]) {
        const u32 stage = ring + (j % kStages) * P::kStageBytes;
        wgmma_fence();
#pragma unroll
        for (int s = 0; s < 4; ++s) {
            // k16 step s: 32 bytes into each 128-byte activation row (the swizzle applies on top).
            wgmma_k16<kTokens>(acc, frag[s], smem_desc(stage + s * 32));
        }
        wgmma_commit();
    };

    int j0 = 0;  // the CTA's chunk count before this item
    for (int item = blockIdx.x; item < work.count; item += gridDim.x) {
        int x, y, z, c0, len;
        work.locate(item, x, y, z, c0, len);
#pragma unroll
        for (int i = 0; i < kTokens / 2; ++i) acc[i] = 0.0f;
        u32 frag0[4][4], frag1[4][4];
        landed(j0);
        dequant(j0, frag0);
        // Chunk j's MMAs run while this warp releases chunk j - 1 and dequantizes chunk j + 1 into
        // the other fragment set.
        auto step = [&](int i, const u32 (&cur)[4][4], u32 (&nxt)[4][4]) {
            const int j = j0 + i;
            mma(j, cur);
            asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");  // chunk j - 1's MMAs are done
            if (i > 0) release(j - 1);
            if (i + 1 < len) {
                landed(j + 1);
                dequant(j + 1, nxt);
            }
        };
        int i = 0;
        for (; i + 1 < len; i += 2) {
            step(i, frag0, frag1);
            step(i + 1, frag1, frag0);
        }
        if (i < len) step(i, frag0, frag1);
        wgmma_wait0();
        release(j0 + len - 1);
        j0 += len;

        const int tile = x * kTiles + wtile, m0 = y * kTokens;
        if (splits > 1) {
            // This part's f32 sums, [token][row] of the output, for nvfp4_splitk_reduce.
            float* part = partials + static_cast<long long>(z) * m_rows * n;
#pragma unroll
            for (int q = 0; q < kTokens / 8; ++q) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int m = m0 + 8 * q + 2 * t + (e % 2), nn = tile * 16 + g + 8 * (e / 2);
                    if (m < m_rows && nn < n) part[static_cast<long long>(m) * n + nn] = acc[4 * q + e];
                }
            }
            continue;
        }

        // Epilogue, through the output tile: per 16 tokens, the warp's four 8 x 8 blocks (rows g
        // and g + 8 of its tile, two token groups) rounded to bf16 pairs and stored transposed
        // by stmatrix into [token][row]; then the consumers store the tile as 16-byte pieces of
        // output rows.
        const u32 nan_rows = tile < tiles ? w_nan_rows[tile] : 0u;
        const u32 nan_lo = (nan_rows >> g) & 1u ? ~0u : 0u, nan_hi = (nan_rows >> (g + 8)) & 1u ? ~0u : 0u;
        consumers_sync<kConsumers>();  // the previous item's tile has been stored
        // Lane l addresses row l % 8 of block l / 8: token 16 p + 8 (l / 16) + l % 8, rows
        // 16 wtile + 8 ((l / 8) % 2) onwards.
        const u32 lane_addr = out_addr + 2u * static_cast<u32>((8 * (lane / 16) + lane % 8) * kOutStride + 16 * wtile + 8 * ((lane / 8) % 2));
#pragma unroll
        for (int p = 0; p < kTokens / 16; ++p) {
            const float* a0 = acc + 8 * p;  // token group 2p: a0[0..3]; group 2p + 1: a0[4..7]
            stmatrix_x4_trans(lane_addr + 2u * 16 * kOutStride * p,
                              output_pair(a0[0], a0[1], alpha, nan_lo), output_pair(a0[2], a0[3], alpha, nan_hi),
                              output_pair(a0[4], a0[5], alpha, nan_lo), output_pair(a0[6], a0[7], alpha, nan_hi));
        }
        consumers_sync<kConsumers>();
        const int n0 = x * kRows;
        const bool vec = ((reinterpret_cast<unsigned long long>(d) | static_cast<unsigned long long>(n) * 2) & 15) == 0;
        for (int piece = tid; piece < kTokens * (kRows / 8); piece += kConsumers) {
            const int token = piece / (kRows / 8), col = (piece % (kRows / 8)) * 8;
            const int m = m0 + token, nn = n0 + col;
            if (m >= m_rows || nn >= n) continue;
            const u16* src = out_tile + token * kOutStride + col;
            u16* dst = d + static_cast<long long>(m) * n + nn;
            if (vec && nn + 8 <= n) {
                *reinterpret_cast<uint4_t*>(dst) = *reinterpret_cast<const uint4_t*>(src);
            } else {
                for (int e = 0; e < 8 && nn + e < n; ++e) dst[e] = src[e];
            }
        }
    }
}

}  // namespace

// Entry points: nvfp4_gemm_wgmma_n{64,128,256}, the host taking the narrowest that holds M (up to
// 256 tokens, larger M in blocks of 256): a narrower item does less tensor work for few tokens
// (the weights are dequantized once per item either way), and its smaller activation boxes leave
// room for a deeper ring (12 and 8 stages against 4), as few tokens are bound by the weights'
// DRAM reads rather than by the tensor cores.
#define NVFP4_WGMMA_ENTRY(tokens, stages)                                                                     \
    extern "C" __global__ void __launch_bounds__(kThreads, 1) nvfp4_gemm_wgmma_n##tokens(                    \
        const __grid_constant__ TensorMap a_map, const __grid_constant__ TensorMap codes_map,                \
        const __grid_constant__ TensorMap scales_map, const u32* w_nan_rows, const float* w_dec,             \
        const float* a_scale, int a_scale_is_gs, u16* d, int m_rows, int n, int k, int splits, float* partials) { \
        gemm_wgmma<tokens, stages>(&a_map, &codes_map, &scales_map, w_nan_rows, w_dec, a_scale, a_scale_is_gs, d, \
                                   m_rows, n, k, splits, partials);                                         \
    }
NVFP4_WGMMA_ENTRY(64, 12)
NVFP4_WGMMA_ENTRY(128, 8)
NVFP4_WGMMA_ENTRY(256, 4)

#else

// Not sm_90a: no wgmma. The runtime dispatches the large-M path here only on sm_90a.
#define NVFP4_WGMMA_STUB(tokens)                                                                               \
    extern "C" __global__ void nvfp4_gemm_wgmma_n##tokens(const __grid_constant__ TensorMap,                   \
                                                          const __grid_constant__ TensorMap,                   \
                                                          const __grid_constant__ TensorMap, const u32*,       \
                                                          const float*, const float*, int, u16*, int, int, int, \
                                                          int, float*) {}
NVFP4_WGMMA_STUB(64)
NVFP4_WGMMA_STUB(128)
NVFP4_WGMMA_STUB(256)

#endif

// Split-K epilogue of nvfp4_gemm_wgmma: out[m, n] = bf16(alpha * 2^7 * sum of the parts' sums, in
// part order), NaN for flagged rows; one thread per output element. Any sm_80+.
extern "C" __global__ void nvfp4_splitk_reduce(
    const float* __restrict__ partials, int splits, int m_rows, int n, const u32* __restrict__ w_nan_rows,
    const float* __restrict__ w_dec, const float* __restrict__ a_scale, int a_scale_is_gs, u16* __restrict__ d)
{
    const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const long long total = static_cast<long long>(m_rows) * n;
    if (i >= total) return;
    const int nn = static_cast<int>(i % n);
    float sum = 0.0f;
    for (int s = 0; s < splits; ++s) sum = __fadd_rn(sum, partials[s * total + i]);
    d[i] = gemm_output(sum, gemm_alpha(a_scale, a_scale_is_gs, w_dec), w_nan_rows[nn / 16], nn % 16);
}
