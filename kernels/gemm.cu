// gemm.cu: D[M, N] = alpha * A[M, K] . W[N, K]^T with NVFP4 weights and bf16 activations, SPEC
// section 5, on mma.sync.m16n8k16 bf16 tensor cores (sm_80 and newer: the portable path, and the
// small-M path). W4A4 runs here too: its activations arrive dequantized to bf16 (e2m1 * sq, exact
// in bf16; quantize.cu), so the products are the SPEC's, and alpha = dec_a * dec_w.
//
// Entry points (stamped at the bottom): nvfp4_gemm_{m1,m4,m8,m16,m16r1,m16r2,m24}_t{1,2,4}, 1 or
// up to 4, 8, 16 or 24 tokens and 1, 2 or 4 units of weight tiles per CTA. m1 loads the weights
// straight into registers and reads its token's row from shared memory (kDirect), m8 loads them
// the same way and its tokens' activations from global memory one chunk ahead (kDirect with
// kPrefetch); m4, m16r1 and m16r2 copy their tokens' activations through a shared-memory ring with
// the weights, m24 loads theirs from global memory one chunk ahead, m16 right before each chunk's
// math (see kPrefetch). nvfp4_gemm_m1q_t{1,2,4} (W4A4 at M = 1) is m1 quantizing its input row itself
// (kQuantize). nvfp4_gemm_m4_c2 (sm_90 and newer) is m4 in clusters of two CTAs of 32 warps, one
// per SM, each tile's K split over warps of both CTAs (kCluster).
//
// Operand swap (Marlin's small-M recipe): the weights take the MMA's 16-row "A" slot and the
// tokens its 8-column "B" slot, so D^T[n, m] is what one mma produces. A warp owns a unit of one
// 16-row tile of W (two for m16r2, which then reuse each activation fragment twice) and a slice
// of K; the 16, 8 or 4 warps on a unit split K, and reduce their partial sums through shared
// memory in a fixed order (deterministic: no atomics).
//
// Weights are repacked once at load time (nvfp4-cuda `pack.rs` documents the layout) so that each
// lane reads its fragments for four k16 steps with one 16-byte load, a warp 512 contiguous bytes,
// and its two scale bytes (rows g and g + 8 of its block) as one 16-bit word. The K order inside a
// 64-column chunk is permuted, identically for the activations: lane t feeds the mma the column
// pairs 8t..8t+8 of the chunk (one scale block), step s the pairs 8t + 2s and 8t + 2s + 1. The sum
// is the same set of exact products; SPEC 5's bound holds for any order.
//
// Dequantization (nvfp4_gemm.cuh) is exact: each weight becomes e2m1 * sq * 2^-7 in bf16, the MMA
// sums exact products in f32, and the epilogue multiplies by 2^7 (exact) and alpha, rounding once
// to bf16. NaN scale bytes are zeroed by the packer and their rows flagged: such a row's outputs
// are NaN, as the SPEC's sum is.
#include "nvfp4_gemm.cuh"
#include "nvfp4_quantize.cuh"

using namespace nvfp4;

namespace {

constexpr int kWarps = 16;        // warps per CTA, all on one 16-row W tile, splitting K
constexpr int kThreads = kWarps * 32;
constexpr int kMTile = 8;         // tokens per mma (the n8 of m16n8k16)
constexpr int kSmallMTiles = 2;   // the small-M (decode) kernels: up to 16 tokens per CTA
constexpr int kLargeMTiles = 3;   // the general kernels: up to 24 tokens per CTA (4 would spill)
constexpr int kChunkK = 64;       // K per 16-byte fragment load (4 mma steps)
constexpr int kStages = 8;        // weight chunks in flight per warp (cp.async ring in shared memory)
// m24's ring depth: kStages, or 4 where the host compiles for a device whose blocks get less
// shared memory than its 8-slot ring and partial sums take (104 KB; sm_86, sm_89, sm_120: 99 KB).
#ifndef NVFP4_M24_STAGES
#define NVFP4_M24_STAGES kStages
#endif
constexpr int kClusterCtaWarps = 32;  // warps per CTA of the cluster kernels (one CTA per SM)
constexpr int kRingStages = 4;    // m4 and m16r* (activations in the ring): 4 slots (m4's 1152-byte
                                  // ones fit no more at two CTAs per SM)
constexpr int kDirectDepth = 4;   // m1 (kDirect): chunks loaded ahead of the math, per lane

// The lane index, read once: a value the compiler keeps in a register rather than recomputing
// from the thread index inside the loop when registers run short (it did, at 64 registers).
__device__ __forceinline__ int lane_id() {
    int lane;
    asm volatile("mov.u32 %0, %%laneid;" : "=r"(lane));
    return lane;
}

// Thread-block clusters (sm_90 and newer; the cluster kernels are compiled only there): this
// CTA's rank in its cluster, a barrier of all the cluster's threads (release / acquire: the
// shared-memory writes before it are seen by the cluster's other CTAs after it), and a load from
// the shared memory of the cluster's CTA `rank` at the address `p` has in this CTA.
__device__ __forceinline__ int cluster_rank() {
    u32 r = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
#endif
    return static_cast<int>(r);
}
__device__ __forceinline__ void cluster_sync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ float ld_shared_cluster(const float* p, int rank) {
    float v = 0.0f;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    u32 remote;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(shared_address(p)), "r"(rank));
    asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(remote) : "memory");
#endif
    return v;
}

// Loads of the weight stream (read once: no L1 allocation), 16 bytes or one 16-bit word. Not
// ld.global.nc: ptxas (13.0) places non-coherent loads after griddepcontrol.wait (pdl_wait),
// which would hold the first chunks' loads back until the previous kernel ends.
__device__ __forceinline__ uint4_t ld_stream(const uint4_t* p) {
    uint4_t v;
    asm("ld.global.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}
__device__ __forceinline__ u32 ld_stream_u16(const u16* p) {
    unsigned short v;
    asm("ld.global.L1::no_allocate.u16 %0, [%1];" : "=h"(v) : "l"(p));
    return v;
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const u32 (&a)[4], u32 b0, u32 b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// One warp's ring slot: for each of its kRowTiles tiles a chunk's fragment bytes (512), its 16 x
// 4 scale bytes (64), and 64 bytes that lanes 16..31 zero-fill, so that all lanes run the same
// copy instructions; the kernels with kRingTokens add the tokens' 64 activations of the chunk
// (128 bytes each), copied with the weights, so that no activation load waits on L2 in the loop.
template <int kRingTokens, int kRowTiles>
constexpr int slot_bytes() { return 640 * kRowTiles + 128 * kRingTokens; }

// kRingTokens (4 or 16): the kernels of up to that many tokens copy their activations through
// the ring. kDirect (m1, m8): no ring; the weights go straight into registers, and the token's row
// is in shared memory (m1) or, with kPrefetch (m8), each lane's activations are loaded one chunk
// ahead (see there). Otherwise kPrefetch loads a lane's activations one chunk ahead
// into a second set of registers (hiding the L2 latency in one warp), or, where those registers
// would keep two CTAs from sharing an SM (m16), right before the chunk's math, leaving the
// latency to the twice as many warps. kQuantize (W4A4 at M = 1: m1q, a kDirect kernel): the CTA
// first quantizes the one input row itself, into shared memory, with the quantizer's own
// functions (nvfp4_quantize.cuh), and the warps take their activations from there: no quantizer
// launch before the GEMM.
template <int kMTiles, int kRowTiles, int kStages, int kTilesPerCta, int kRingTokens, bool kPrefetch,
          bool kDirect = false, bool kQuantize = false, int kCluster = 1>
__device__ __forceinline__ void gemm(
    const uint4_t* __restrict__ w_codes, // repacked, see the file comment
    const u8* __restrict__ w_scales,     // repacked, [tile][chunk][lane 32][row g, g + 8]
    const u32* __restrict__ w_nan_rows,  // [tile]: bit r set if row 16 tile + r has a NaN scale
    const float* __restrict__ w_dec,     // [1] weight decode scale
    const u16* __restrict__ a,           // bf16 [M, K] (kQuantize: the input row, not yet quantized)
    const float* __restrict__ a_scale,   // W4A4: [1] activation decode scale, or encode scale if
    int a_scale_is_gs,                   //   a_scale_is_gs (then dec = 1 / gs, as the simulator);
                                         //   W4A16: null. kQuantize: a_scale_is_gs selects the
                                         //   dynamic scale (gs from the row's amax; a_scale unused)
    u16* __restrict__ d,                 // bf16 [M, N]
    int m_rows, int n, int k,
    const float* __restrict__ gs_in = nullptr,  // kQuantize, static scale: [1] encode scale
    float* __restrict__ gs_out = nullptr,       // kQuantize, dynamic: [1] receives the gs used (CTA 0)
    u32* __restrict__ status = nullptr,         // kQuantize: [1] status bits (a bad scale)
    int warps_per_tile = 0)                     // kCluster > 1: the cluster's warps on each tile
{
    static_assert((kStages & (kStages - 1)) == 0 && kStages >= 4, "a power of two: slot = chunk % kStages; two chunks taken per wait");
    constexpr bool kActsInRing = kRingTokens > 0;
    static_assert(kRingTokens <= kMTile * kMTiles, "activations in the ring: at most the CTA's tokens");
    static_assert(kRingTokens <= 4 || kRingTokens % 4 == 0, "32 lanes copy 8 pieces of each token");
    static_assert(!(kActsInRing && kPrefetch), "no activation registers to prefetch into");
    static_assert(!kDirect || (kMTiles == 1 && kRowTiles == 1 && kRingTokens == 0),
                  "kDirect: one mma tile of tokens, one tile of weights, no ring");
    // kDirect without kPrefetch (m1): one token, its row in shared memory.
    constexpr bool kRowInShared = kDirect && !kPrefetch;
    static_assert(!kQuantize || kRowInShared, "kQuantize: the direct loop reads the quantized row");
    static_assert(kCluster == 1 || (kTilesPerCta == 1 && kRowTiles == 1 && !kDirect),
                  "a cluster's tiles follow warps_per_tile");
    // Warps per CTA: kWarps, or kClusterCtaWarps in the cluster kernels (one CTA per SM).
    constexpr int kCtaWarps = kCluster == 1 ? kWarps : kClusterCtaWarps;
    constexpr int kCtaThreads = kCtaWarps * 32;
    constexpr int kM = kMTile * kMTiles;  // tokens per CTA
    constexpr int kSlotBytes = slot_bytes<kRingTokens, kRowTiles>();
    constexpr int kActsOffset = 640 * kRowTiles;  // the activations' place in a slot
    // Tokens whose partial sums are kept: kDirect computes one (its other mma columns repeat it).
    constexpr int kSumTokens = kRowInShared ? 1 : kM;
    // Shared memory: each warp's ring of kStages slots (kRowTiles weight pieces, then any
    // activations; none in kDirect), then the split-K partial sums [kCtaWarps][kRowTiles][kSumTokens
    // tokens][16 rows] (f32), or, where both would not fit an SM's 227 KB (m16r2), the partial sums
    // in the rings' bytes after the loop; then, in kDirect, the token's row (see there).
    extern __shared__ uint4_t smem[];
    const int warp = threadIdx.x / 32, lane = lane_id();
    u8* ring = reinterpret_cast<u8*>(smem) + warp * kStages * kSlotBytes;
    constexpr int kRingBytes = kDirect ? 0 : kCtaWarps * kStages * kSlotBytes;
    constexpr int kPartialBytes = kCtaWarps * kRowTiles * kSumTokens * 16 * 4;
    constexpr bool kPartialsInRings = kRingBytes + kPartialBytes > 227 * 1024;
    float* partial = reinterpret_cast<float*>(reinterpret_cast<u8*>(smem) + (kPartialsInRings ? 0 : kRingBytes));
    u8* after_partials = reinterpret_cast<u8*>(smem) + kRingBytes + kPartialBytes;
    const int g = lane / 4, t = lane % 4;
    // kTilesPerCta units of kRowTiles 16-row tiles per CTA, kWarpsPerTile warps on each (warp kw
    // of a unit takes its K slice kw for all the unit's tiles, so the tiles share the warp's
    // activation registers). kCluster > 1: the cluster's kCluster x kCtaWarps warps take its
    // cluster_tiles tiles warps_per_tile at a time, in order (a tile's warps may lie in two CTAs;
    // the warps past the last whole group take none).
    constexpr int kWarpsPerTile = kCtaWarps / kTilesPerCta;
    const int tile_warps = kCluster > 1 ? warps_per_tile : kWarpsPerTile;
    const int cluster_warp = kCluster > 1 ? cluster_rank() * kCtaWarps + warp : 0;
    const int cluster_tiles = kCluster > 1 ? kCluster * kCtaWarps / warps_per_tile : 0;
    const int kw = (kCluster > 1 ? cluster_warp : warp) % tile_warps;
    const int unit = [&]() -> int {
        if constexpr (kCluster > 1)
            return cluster_warp < cluster_tiles * warps_per_tile
                       ? static_cast<int>(blockIdx.x) / kCluster * cluster_tiles + cluster_warp / warps_per_tile
                       : 0x7FFFFFFF;
        else
            return blockIdx.x * kTilesPerCta + warp / kWarpsPerTile;
    }();
    const int tile = unit * kRowTiles;  // the unit's first 16-row tile
    const int tiles = (n + 15) / 16;
    const int m0 = blockIdx.y * kM;
    const int m_tiles = min(kMTiles, (m_rows - m0 + kMTile - 1) / kMTile);
    const int chunks = (k + kChunkK - 1) / kChunkK;
    // A tile past N (in the last CTA) has no chunks: its warps add zeros.
    const int c_begin = tile < tiles ? kw * chunks / tile_warps : 0;
    const int c_end = tile < tiles ? (kw + 1) * chunks / tile_warps : 0;

    float acc[kRowTiles][kMTiles][4];
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r)
#pragma unroll
        for (int i = 0; i < kMTiles; ++i) acc[r][i][0] = acc[r][i][1] = acc[r][i][2] = acc[r][i][3] = 0.0f;

    // The unit's first chunk: piece [tile][chunk] of the packed weights (pack.rs).
    const long long piece = static_cast<long long>(tile) * chunks + c_begin;
    // A chunk's weights of the unit's tiles: codes and the two unpacked scale pairs per tile.
    struct Weights {
        uint4_t w[kRowTiles];
        u32 sq_lo[kRowTiles], sq_hi[kRowTiles];
    };
    auto math = [&](const Weights& x, const u32 (&b)[kMTiles][8]) {
#pragma unroll
        for (int r = 0; r < kRowTiles; ++r) {
            u32 frag[4][4];
            dequant_chunk(x.w[r], x.sq_lo[r], x.sq_hi[r], frag);
#pragma unroll
            for (int s = 0; s < 4; ++s)
#pragma unroll
                for (int mt = 0; mt < kMTiles; ++mt)
                    if (kMTiles == 1 || mt < m_tiles) mma_bf16(acc[r][mt], frag[s], b[mt][2 * s], b[mt][2 * s + 1]);
        }
    };
    __shared__ float q_alpha;  // kQuantize: kept in shared memory, not in a register through the loop
    if constexpr (kDirect) {
        // kDirect (m1, m1q, m8): each lane loads its 16 code bytes and its two scale bytes of
        // every chunk straight from global memory into registers, kStages (kDirectDepth) chunks
        // ahead of the math. m1 reads the token's columns from shared memory: this warp's slice
        // of the row, copied once after pdl_wait (or kQuantize: the whole row, quantized by the
        // CTA). No ring, so no slot addresses, copy groups or warp barriers per chunk: 75.5
        // instructions per chunk on sm_90a against the ring's 117. In m1 every lane reads the
        // token's columns, so all 8 mma columns hold token 0's sums (only column 0 is kept); m8
        // (kPrefetch) loads each lane's own token, see below.
        constexpr int kDepth = kStages;
        const int n_chunks = c_end - c_begin;
        const uint4_t* w_src = w_codes + piece * 32 + lane;  // 32 lanes x 16 bytes per chunk
        const u16* s_src = reinterpret_cast<const u16*>(w_scales) + piece * 32 + lane;
        uint4_t wq[kDepth];
        u32 sq[kDepth];
        pdl_launch_dependents();
#pragma unroll
        for (int j = 0; j < kDepth; ++j)
            if (j < n_chunks) {
                wq[j] = ld_stream(w_src + 32 * j);
                sq[j] = ld_stream_u16(s_src + 32 * j);
            }
        pdl_wait();
        const u16* row = nullptr;  // m1: the token's columns of chunk c at row + 64 (c - c_begin)
        // kPrefetch (m8): lane (g, t) loads token m0 + g's 16 columns of each chunk from global
        // memory (L1-cached: the warps on this K slice of the SM's other tiles read them too) one
        // chunk ahead of its math, from a running pointer; a lane of a token past M loads nothing
        // (its B words stay zero), and a_stop, the row's end, bounds the last, partial chunk of K,
        // whose columns past it read as zero.
        const u16* a_lane = a;
        const u16* a_stop = a;
        const long long a_tile_step = static_cast<long long>(kMTile) * k;  // token m to m + 8
        bool a_has_row[kMTiles];
        u32 b_next[kMTiles][8];
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
            a_has_row[mt] = kPrefetch && m0 + kMTile * mt + g < m_rows;
#pragma unroll
            for (int i = 0; i < 8; ++i) b_next[mt][i] = 0u;
        }
        auto load_b = [&](const u16* p, bool check) {
            const bool in_k = !check || p < a_stop;
#pragma unroll
            for (int mt = 0; mt < kMTiles; ++mt)
                if (a_has_row[mt] && in_k) {
                    const uint4_t lo = *reinterpret_cast<const uint4_t*>(p + mt * a_tile_step);
                    const uint4_t hi = *reinterpret_cast<const uint4_t*>(p + mt * a_tile_step + 8);
                    b_next[mt][0] = lo.x; b_next[mt][1] = lo.y; b_next[mt][2] = lo.z; b_next[mt][3] = lo.w;
                    b_next[mt][4] = hi.x; b_next[mt][5] = hi.y; b_next[mt][6] = hi.z; b_next[mt][7] = hi.w;
                } else if (a_has_row[mt]) {
                    // Columns past K: zero, not the previous chunk's values (whose Inf times the
                    // zero padding weights would make the sums NaN).
#pragma unroll
                    for (int i = 0; i < 8; ++i) b_next[mt][i] = 0u;
                }
        };
        if constexpr (kPrefetch) {
            // Token m0 + g's row (of tile 0, which always has it where a later tile does).
            const long long row_start = static_cast<long long>(a_has_row[0] ? m0 + g : 0) * k;
            a_lane = a + row_start + c_begin * kChunkK + 16 * t;
            a_stop = a + row_start + k;
            if (n_chunks > 0) load_b(a_lane, true);
        } else if constexpr (kQuantize) {
            // The input row quantized by the whole CTA while the first weight chunks land, as
            // quantize.cu's one-CTA kernel does it (the same amax, encode scale, table of output
            // scales and blocks, so the same bits), into q_row ([roundup(K, 64)] bf16, zero past
            // K), and alpha from the CTA's own encode scale (CTA 0 also writes it to gs_out, and
            // the status bit of a bad scale, as the quantizer).
            u16* q_row = reinterpret_cast<u16*>(after_partials);
            __shared__ u32 q_amax;
            __shared__ float os_table[128];
            const bool dynamic = a_scale_is_gs != 0;
            const int ks = k / kBlock;
            const uint4_t* x_row = reinterpret_cast<const uint4_t*>(a);
            // Rows of at most one scale block per thread (K <= 8192, every row the host sends here):
            // each thread reads its block once, for the amax and the quantization; longer rows are
            // read twice, in grid-stride shares for the amax, then block by block.
            const bool one_each = ks <= kCtaThreads;
            uint4_t p0 = {0u, 0u, 0u, 0u}, p1 = {0u, 0u, 0u, 0u};
            if (one_each && static_cast<int>(threadIdx.x) < ks) {
                p0 = x_row[2 * threadIdx.x];
                p1 = x_row[2 * threadIdx.x + 1];
            }
            float gs;
            bool ok;
            if (dynamic) {
                if (threadIdx.x == 0) q_amax = 0u;
                __syncthreads();
                const u32 mine = one_each ? amax_of_block(p0, p1) : amax_share(a, k, threadIdx.x, kCtaThreads);
                const u32 mx = __reduce_max_sync(0xFFFFFFFFu, mine);
                if (lane == 0 && mx != 0) atomicMax(&q_amax, mx << 16);
                __syncthreads();
                ok = quantizer_setup<true>(nullptr, &q_amax, gs_out, status, gs, os_table);
            } else {
                ok = quantizer_setup<false>(gs_in, nullptr, nullptr, status, gs, os_table);
            }
            if (one_each) {
                if (static_cast<int>(threadIdx.x) < ks)
                    quantize_one_block<kLinear, kExact>(p0, p1, threadIdx.x, ks, ks, 0, nullptr, nullptr, nullptr, q_row, os_table,
                                                        gs, ok);
            } else {
                for (int b = threadIdx.x; b < ks; b += kCtaThreads)
                    quantize_one_block<kLinear, kExact>(x_row[2 * b], x_row[2 * b + 1], b, ks, ks, 0, nullptr, nullptr, nullptr, q_row,
                                                        os_table, gs, ok);
            }
            for (int i = k + 8 * threadIdx.x; i < chunks * kChunkK; i += 8 * kCtaThreads)
                *reinterpret_cast<uint4_t*>(q_row + i) = uint4_t{0u, 0u, 0u, 0u};
            // alpha as gemm_alpha computes it from the quantizer's gs word (NaN when the scale is bad)
            // or from the decode scale.
            if (threadIdx.x == 0)
                q_alpha = dynamic ? __fmul_rn(__frcp_rn(ok ? gs : bits_f32(0x7FC00000u)), *w_dec) : gemm_alpha(a_scale, 0, w_dec);
            __syncthreads();
            row = q_row + c_begin * kChunkK;
        } else {
            // This warp's slice of token m0's row (at most ceil(chunks / tile_warps) chunks of 128
            // bytes per warp), zero past K (a multiple of 16: 8-column pieces are in or out).
            const int slice_chunks = (chunks + tile_warps - 1) / tile_warps;
            u16* slice = reinterpret_cast<u16*>(after_partials) + warp * slice_chunks * kChunkK;
            const u16* src = a + static_cast<long long>(m0) * k + c_begin * kChunkK;
            for (int i = lane; i < 8 * n_chunks; i += 32) {
                const bool in = c_begin * kChunkK + 8 * i < k;
                cp_async_16(shared_address(slice + 8 * i), in ? src + 8 * i : a, in ? 16u : 0u);
            }
            cp_async_commit();
            cp_async_wait<0>();
            __syncwarp();
            row = slice;
        }
        if constexpr (kRowInShared) row += 16 * t;  // lane t's 16 columns of each chunk (one scale block)
        // Chunk j of a round of kDepth: its math on the registers loaded a round before, then the
        // same registers reloaded with chunk j of the next round (where `reload`), from running
        // pointers that move a round on at a time.
        const uint4_t* w_next = w_src + 32 * kDepth;
        const u16* s_next = s_src + 32 * kDepth;
        // next (kPrefetch): load chunk j + 1's activations, checked against a_stop where
        // `check` (only the tail holds K's last chunk).
        auto chunk = [&](int j, bool reload, bool next, bool check) {
            Weights x;
            x.w[0] = wq[j % kDepth];
            e4m3x2_unpack(sq[j % kDepth], x.sq_lo[0], x.sq_hi[0]);
            if (reload) {
                wq[j % kDepth] = ld_stream(w_next + 32 * j);
                sq[j % kDepth] = ld_stream_u16(s_next + 32 * j);
            }
            u32 b[kMTiles][8];
            if constexpr (kPrefetch) {
#pragma unroll
                for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
                    for (int i = 0; i < 8; ++i) b[mt][i] = b_next[mt][i];
                if (next) load_b(a_lane + (j + 1) * kChunkK, check);
            } else {
                const uint4_t lo = *reinterpret_cast<const uint4_t*>(row + j * kChunkK);
                const uint4_t hi = *reinterpret_cast<const uint4_t*>(row + j * kChunkK + 8);
                b[0][0] = lo.x; b[0][1] = lo.y; b[0][2] = lo.z; b[0][3] = lo.w;
                b[0][4] = hi.x; b[0][5] = hi.y; b[0][6] = hi.z; b[0][7] = hi.w;
            }
            math(x, b);
        };
        // Rounds whose reloads all lie inside the slice (two rounds of chunks left at each).
        for (int rounds = n_chunks / kDepth - 1; rounds > 0; --rounds) {
#pragma unroll
            for (int j = 0; j < kDepth; ++j) chunk(j, true, true, false);
            w_next += 32 * kDepth;
            s_next += 32 * kDepth;
            if constexpr (kRowInShared) row += kDepth * kChunkK;
            if constexpr (kPrefetch) a_lane += kDepth * kChunkK;
        }
        // The last kDepth .. 2 kDepth - 1 chunks (or all, fewer than kDepth), the first kDepth of
        // them loaded.
        const int left = n_chunks < 2 * kDepth ? n_chunks : n_chunks - kDepth * (n_chunks / kDepth - 1);
#pragma unroll
        for (int j = 0; j < 2 * kDepth - 1; ++j)
            if (j < left) chunk(j, j + 1 < kDepth && kDepth + j < left, j + 1 < left, true);
    } else {
        // Weights go through the ring in chunk order: every lane copies its 16 fragment bytes, and 4 of
        // the chunk's 64 scale bytes (lanes 0..15; lanes 16..31 zero-fill the slot's spare bytes).
        // Running source pointers (of the unit's first tile; its next tiles lie tile_step pieces on,
        // or, past the last tile of N, on the first one again: read, never stored), 32-bit ring
        // addresses.
        const long long tile_step = kRowTiles > 1 && tile + 1 < tiles ? static_cast<long long>(chunks) : 0LL;
        const u8* w_src = reinterpret_cast<const u8*>(w_codes) + piece * 512 + lane * 16;
        const u8* s_src = w_scales + piece * 64 + (lane % 16) * 4;
        const u32 ring_w = shared_address(ring) + lane * 16, ring_s = shared_address(ring) + 512 + lane * 4;
        const u32 s_bytes = lane < 16 ? 4u : 0u;
        // kActsInRing: lane l copies piece j = l % 8 (columns 8 j .. 8 j + 7) of the chunk for the
        // tokens m0 + l / 8 + 4 i (i < kActCopies) below kRingTokens, zero past K and past M, from a
        // running pointer (token m0 + l / 8) at chunk next_issue. A token r's 128 bytes lie in the
        // slot with piece j at 16 (j ^ r % 8) where more than 4 tokens travel (kSwizzle), so that
        // the 8 lanes of a shared-memory phase in `take` (two tokens, four pieces each) hit distinct
        // banks; up to 4 tokens keep piece j at 16 j (the m4 kernels, at 64 registers, have none
        // to spare for the arithmetic).
        constexpr int kActCopies = kRingTokens > 4 ? kRingTokens / 4 : 1;
        constexpr int kSwizzle = kRingTokens > 4 ? 7 : 0;  // piece j of token r at j ^ (r & kSwizzle)
        const int a_piece = (lane % 8) ^ (lane / 8 & kSwizzle);  // of token l / 8 (i = 0)
        const u32 ring_a = shared_address(ring) + kActsOffset + (kSwizzle ? 128 * (lane / 8) + 16 * a_piece : 16 * lane);
        // Tokens l / 8 + 4 i of odd i (l / 8 < 4): piece j ^ (l / 8) ^ 4, 64 bytes on or back.
        const int a_odd = kSwizzle ? (a_piece & 4 ? -64 : 64) : 0;
        const int a_col = 8 * (lane % 8), a_token = m0 + lane / 8;
        const bool a_copies = lane < 8 * kRingTokens && a_token < m_rows;
        const u16* a_src = a + (a_copies ? static_cast<long long>(a_token) * k : 0LL) + static_cast<long long>(c_begin) * kChunkK + a_col;
        const int a_chunks = a_copies ? (k - a_col + kChunkK - 1) / kChunkK : 0;  // chunks whose lane columns are inside K
        const long long a_step = 4LL * k;  // token a_token + 4 i to a_token + 4 (i + 1)
        // Chunk c's weight copies, and (kActsInRing) its activation copies, into slot c % kStages;
        // each call moves its running pointers one chunk on.
        auto issue_weights = [&](int c) {
            if (c < c_end) {
                const u32 slot = (static_cast<unsigned>(c) % kStages) * kSlotBytes;
#pragma unroll
                for (int r = 0; r < kRowTiles; ++r) {
                    cp_async_16(ring_w + slot + 640 * r, w_src + r * tile_step * 512);
                    cp_async_4(ring_s + slot + 640 * r, s_src + r * tile_step * 64, s_bytes);
                }
                w_src += 512;
                s_src += 64;
            }
        };
        auto issue_acts = [&](int c) {
            if (kActsInRing && c < c_end) {
                if (lane < 8 * kRingTokens) {
                    const u32 slot = (static_cast<unsigned>(c) % kStages) * kSlotBytes;
#pragma unroll
                    for (int i = 0; i < kActCopies; ++i) {
                        // Else zero-fill, from a valid address.
                        const bool in = c < a_chunks && (i == 0 || a_token + 4 * i < m_rows);
                        cp_async_16(ring_a + slot + 512 * i + (i % 2 ? a_odd : 0), in ? a_src + i * a_step : a, in ? 16u : 0u);
                    }
                }
                a_src += kChunkK;
            }
        };
        int next_issue = c_begin + kStages - 1;  // after the prologue below
        auto issue = [&]() {
            issue_weights(next_issue);
            issue_acts(next_issue);
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
                if (kMTiles > 1 && mt >= m_tiles) break;
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
        auto take = [&](int c, Weights& x, u32 (&b)[kMTiles][8]) {
            const u8* slot = ring + (static_cast<unsigned>(c) % kStages) * kSlotBytes;
#pragma unroll
            for (int r = 0; r < kRowTiles; ++r) {
                x.w[r] = *reinterpret_cast<const uint4_t*>(slot + 640 * r + lane * 16);
                e4m3x2_unpack(*reinterpret_cast<const u16*>(slot + 640 * r + 512 + 2 * lane), x.sq_lo[r], x.sq_hi[r]);
            }
#pragma unroll
            for (int mt = 0; mt < kMTiles; ++mt) {
                if (kActsInRing && kMTile * mt + g < kRingTokens) {
                    // Token 8 mt + g's columns 16 t .. 16 t + 15 (lanes of tokens past kRingTokens
                    // keep their zero words).
                    const u8* row = slot + kActsOffset + 1024 * mt;
                    const int lo_at = kSwizzle ? 128 * g + 16 * ((2 * t) ^ g) : 32 * lane;  // 32 lane = 128 g + 32 t
                    const int hi_at = kSwizzle ? 128 * g + 16 * ((2 * t + 1) ^ g) : 32 * lane + 16;
                    const uint4_t lo = *reinterpret_cast<const uint4_t*>(row + lo_at);
                    const uint4_t hi = *reinterpret_cast<const uint4_t*>(row + hi_at);
                    b[mt][0] = lo.x; b[mt][1] = lo.y; b[mt][2] = lo.z; b[mt][3] = lo.w;
                    b[mt][4] = hi.x; b[mt][5] = hi.y; b[mt][6] = hi.z; b[mt][7] = hi.w;
                }
            }
        };

        // Prologue: the first kStages - 1 chunks' weights, which no earlier kernel writes, are copied
        // before waiting for the kernel this launch depends on (programmatic dependent launch: this
        // one may start while that one still runs; see pdl_wait), the activations after. The weight
        // copies join the first chunk's group, so the group counts stay one per chunk.
        pdl_launch_dependents();
#pragma unroll
        for (int i = 0; i < kStages - 1; ++i) issue_weights(c_begin + i);
        pdl_wait();
#pragma unroll
        for (int i = 0; i < kStages - 1; ++i) {
            issue_acts(c_begin + i);
            cp_async_commit();
        }
        u32 b0[kMTiles][8], b1[kMTiles][8];
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
            for (int i = 0; i < 8; ++i) b0[mt][i] = b1[mt][i] = 0u;
        if (kPrefetch && c_begin < c_end) load_acts(c_begin, b0);
        // Two chunks per iteration: their weights were issued kStages - 1 chunks ahead; activations
        // are loaded one chunk ahead (kPrefetch), into the buffer the previous chunk's math has
        // released, or just before the math, or (kActsInRing) read from the slots with the weights.
        for (int c = c_begin; c < c_end; c += 2) {
            const bool two = c + 1 < c_end;
            cp_async_wait<kStages - 3>();  // chunks c and c + 1 have landed (this lane's copies)
            __syncwarp();                  // and the other lanes' (the scale bytes)
            Weights x0, x1 = {};
            take(c, x0, b0);
            if (two) take(c + 1, x1, b1);
            __syncwarp();  // every lane has read both slots before they are refilled
            issue();       // chunk c + kStages - 1, into the slot of chunk c - 1
            issue();       // chunk c + kStages, into the slot of chunk c
            if (kPrefetch) {
                if (two) load_acts(c + 1, b1);
                math(x0, b0);
                if (c + 2 < c_end) load_acts(c + 2, b0);
                if (two) math(x1, b1);
            } else {
                if (!kActsInRing) load_acts(c, b0);
                math(x0, b0);
                if (two) {
                    if (!kActsInRing) load_acts(c + 1, b0);
                    math(x1, kActsInRing ? b1 : b0);
                }
            }
        }
        cp_async_wait<0>();
        if (kPartialsInRings) __syncthreads();  // every warp is done with its ring
    }

    // Split-K reduction: partial[warp][row tile][token][row], summed over each unit's warps in
    // order (kDirect: token 0's column only, from the lanes of t = 0).
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r)
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
            if (mt >= m_tiles) break;
            float* p = partial + ((warp * kRowTiles + r) * kSumTokens + mt * kMTile + 2 * t) * 16;
            if (kRowInShared) {
                if (t == 0) {
                    p[g] = acc[r][mt][0];
                    p[g + 8] = acc[r][mt][2];
                }
            } else {
                p[g] = acc[r][mt][0];
                p[16 + g] = acc[r][mt][1];
                p[g + 8] = acc[r][mt][2];
                p[16 + g + 8] = acc[r][mt][3];
            }
        }
    if constexpr (kCluster > 1) {
        // The cluster's tiles j = rank, rank + kCluster, ... are summed by its CTA `rank`, over
        // their warps in order, the partial sums of warps in the other CTA read from its shared
        // memory; no CTA leaves while another may still read its partial sums.
        cluster_sync();
        const float alpha = gemm_alpha(a_scale, a_scale_is_gs, w_dec);
        const int rank = cluster_rank();
        const int mine = (cluster_tiles - rank + kCluster - 1) / kCluster;
        const int tile_outputs = min(kSumTokens, m_rows - m0) * 16;  // the tokens below M only
        for (int i = threadIdx.x; i < mine * tile_outputs; i += kCtaThreads) {
            const int j = rank + kCluster * (i / tile_outputs), o = i % tile_outputs;
            // The warps' sums loaded 8 at a time before they are added (in warp order): the
            // loads of a batch are in flight together rather than one DSMEM latency each.
            float sum = 0.0f;
            const int w_end = (j + 1) * warps_per_tile;
            for (int w0 = j * warps_per_tile; w0 < w_end; w0 += 8) {
                float v[8];
#pragma unroll
                for (int b = 0; b < 8; ++b) {
                    const int w = min(w0 + b, w_end - 1);
                    v[b] = ld_shared_cluster(partial + (w % kCtaWarps) * kSumTokens * 16 + o, w / kCtaWarps);
                }
#pragma unroll
                for (int b = 0; b < 8; ++b)
                    if (w0 + b < w_end) sum = __fadd_rn(sum, v[b]);
            }
            const int out_tile = static_cast<int>(blockIdx.x) / kCluster * cluster_tiles + j;
            const int m = m0 + o / 16, nn = out_tile * 16 + o % 16;
            if (m < m_rows && nn < n) d[static_cast<long long>(m) * n + nn] = gemm_output(sum, alpha, w_nan_rows[out_tile], o % 16);
        }
        cluster_sync();
        return;
    }
    __syncthreads();
    const int outputs = (kRowInShared ? 1 : kMTiles == 1 ? kMTile : m_tiles * kMTile) * 16;  // (token, row) pairs of a tile
    const float alpha = kQuantize ? q_alpha : gemm_alpha(a_scale, a_scale_is_gs, w_dec);
    for (int i = threadIdx.x; i < kTilesPerCta * kRowTiles * outputs; i += kCtaThreads) {
        const int tl = i / outputs, o = i % outputs;  // tl: the CTA's tile (unit tl / kRowTiles)
        const int u = tl / kRowTiles, r = tl % kRowTiles;
        float sum = 0.0f;
        for (int w = u * kWarpsPerTile; w < (u + 1) * kWarpsPerTile; ++w)
            sum = __fadd_rn(sum, partial[((w * kRowTiles + r) * kSumTokens) * 16 + o]);
        const int token = o / 16, row = o % 16, out_tile = blockIdx.x * kTilesPerCta * kRowTiles + tl;
        const int m = m0 + token, nn = out_tile * 16 + row;
        if (m < m_rows && nn < n) d[static_cast<long long>(m) * n + nn] = gemm_output(sum, alpha, w_nan_rows[out_tile < tiles ? out_tile : 0], row);
    }
}

}  // namespace

// CTAs per SM that the two-CTA kernels ask their registers for (__launch_bounds__): 2, or 1 on the
// devices whose SMs have 100 KB of shared memory (sm_86, sm_87, sm_89, sm_120, sm_121), where the
// ring kernels' rings and partial sums (52 KB and up) leave room for only one CTA anyway, so a
// 64-register cap would cost them spills for no occupancy (the direct kernels take the same
// bound there: one CTA per SM, up to 128 registers).
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 860 || __CUDA_ARCH__ == 870 || __CUDA_ARCH__ == 890 || __CUDA_ARCH__ >= 1200)
#define NVFP4_TWO_CTAS 1
#else
#define NVFP4_TWO_CTAS 2
#endif

// Entry points: nvfp4_gemm_{m1,m4,m8,m16,m16r1,m16r2,m24}_t{1,2,4} take 1 or up to 4
// (activations through the ring), 8, 16 or 24 tokens and 1, 2 or 4 units per CTA (more units per
// CTA for short K, so that each warp still gets a run of chunks). The m1, m4, m8 (but on sm_100)
// and (on sm_90) m16 kernels fit 64 registers (two CTAs, 32 warps, per SM; m4 with 4-slot rings); m24
// runs one CTA per SM, and so do m16r1 and m16r2 (16 tokens' activations through 4-slot rings:
// 213 KB of shared memory; for long K, where the host picks them, linear.rs m16_ring).
#define NVFP4_GEMM_ENTRY(suffix, m_tiles, row_tiles, ring_tokens, stages, tiles_per_cta, min_blocks)            \
    extern "C" __global__ void __launch_bounds__(kThreads, min_blocks) nvfp4_gemm_##suffix##_t##tiles_per_cta(   \
        const uint4_t* w_codes, const u8* w_scales, const u32* w_nan_rows, const float* w_dec, const u16* a,     \
        const float* a_scale, int a_scale_is_gs, u16* d, int m, int n, int k) {                                   \
        gemm<m_tiles, row_tiles, stages, tiles_per_cta, ring_tokens,                                            \
             ring_tokens == 0 && min_blocks == 1>(                                                                \
            w_codes, w_scales, w_nan_rows, w_dec, a, a_scale, a_scale_is_gs, d, m, n, k);                          \
    }

// The direct kernels (kDirect: the weights loaded straight into registers, kDirectDepth chunks
// ahead). m1 (host: linear/plan.rs `direct_shared_bytes`): one token, its row in shared memory,
// each warp its slice; M must be 1 (one token block in the grid: the slices are copied from row 0).
#define NVFP4_GEMM_DIRECT_ENTRY(suffix, prefetch, tiles_per_cta, min_blocks)                                  \
    extern "C" __global__ void __launch_bounds__(kThreads, min_blocks) nvfp4_gemm_##suffix##_t##tiles_per_cta(   \
        const uint4_t* w_codes, const u8* w_scales, const u32* w_nan_rows, const float* w_dec, const u16* a,     \
        const float* a_scale, int a_scale_is_gs, u16* d, int m, int n, int k) {                                   \
        gemm<1, 1, kDirectDepth, tiles_per_cta, 0, prefetch, true>(w_codes, w_scales, w_nan_rows, w_dec, a,      \
                                                                  a_scale, a_scale_is_gs, d, m, n, k);           \
    }

NVFP4_GEMM_DIRECT_ENTRY(m1, false, 1, NVFP4_TWO_CTAS)
NVFP4_GEMM_DIRECT_ENTRY(m1, false, 2, NVFP4_TWO_CTAS)
NVFP4_GEMM_DIRECT_ENTRY(m1, false, 4, NVFP4_TWO_CTAS)
// m8 (host: linear/plan.rs `DIRECT_STAGES`): up to 8 tokens, the weights loaded straight
// into registers as in m1, each lane's activations from global memory one chunk ahead (kDirect
// with kPrefetch). Two CTAs per SM where it fits 64 registers without spilling: on sm_100a it
// spills at 64 (68 bytes), so there it keeps one CTA per SM (NVFP4_M8_CTAS).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 1000
#define NVFP4_M8_CTAS 1
#else
#define NVFP4_M8_CTAS NVFP4_TWO_CTAS
#endif
NVFP4_GEMM_DIRECT_ENTRY(m8, true, 1, NVFP4_M8_CTAS)
NVFP4_GEMM_DIRECT_ENTRY(m8, true, 2, NVFP4_M8_CTAS)
NVFP4_GEMM_DIRECT_ENTRY(m8, true, 4, NVFP4_M8_CTAS)
// W4A4 at M = 1 (host: linear/plan.rs `quantizing_m1`): m1 with its input row quantized by each
// CTA into shared memory (roundup(K, 64) bf16 after the partial sums) instead of by a quantizer
// launch before it; a_scale_is_gs selects the dynamic scale. M must be 1.
#define NVFP4_GEMM_QUANTIZING_ENTRY(tiles_per_cta)                                                               \
    extern "C" __global__ void __launch_bounds__(kThreads, NVFP4_TWO_CTAS) nvfp4_gemm_m1q_t##tiles_per_cta(      \
        const uint4_t* w_codes, const u8* w_scales, const u32* w_nan_rows, const float* w_dec, const u16* x,     \
        const float* a_scale, int a_scale_is_gs, const float* gs_in, float* gs_out, u32* status, u16* d, int m,   \
        int n, int k) {                                                                                           \
        gemm<1, 1, kDirectDepth, tiles_per_cta, 0, false, true, true>(w_codes, w_scales, w_nan_rows, w_dec, x,     \
                                                                     a_scale, a_scale_is_gs, d, m, n, k, gs_in,  \
                                                                     gs_out, status);                           \
    }

NVFP4_GEMM_QUANTIZING_ENTRY(1)
NVFP4_GEMM_QUANTIZING_ENTRY(2)
NVFP4_GEMM_QUANTIZING_ENTRY(4)
NVFP4_GEMM_ENTRY(m4, 1, 1, 4, kRingStages, 1, NVFP4_TWO_CTAS)
NVFP4_GEMM_ENTRY(m4, 1, 1, 4, kRingStages, 2, NVFP4_TWO_CTAS)
NVFP4_GEMM_ENTRY(m4, 1, 1, 4, kRingStages, 4, NVFP4_TWO_CTAS)
// m4 in clusters of two CTAs of 32 warps, one CTA per SM (sm_90 and newer; host:
// linear/plan.rs `cluster_split`): the cluster's 64 warps split each of its tiles' K warps_per_tile
// ways, a tile's warps possibly in both CTAs (and SMs), so that the grid's work per SM evens out
// where whole tiles per SM would not (448 tiles on 132 SMs: 4 on some, 3 on others; in clusters,
// 7 per pair of SMs). The partial sums are read across the cluster's shared memory in a fixed
// order: deterministic, no workspace, no atomics.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define NVFP4_GEMM_CLUSTER_ENTRY(suffix, ring_tokens)                                                               \
    extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(kClusterCtaWarps * 32, 1)               \
        nvfp4_gemm_##suffix##_c2(const uint4_t* w_codes, const u8* w_scales, const u32* w_nan_rows,                  \
                                 const float* w_dec, const u16* a, const float* a_scale, int a_scale_is_gs, u16* d,  \
                                 int m, int n, int k, int warps_per_tile) {                                          \
        gemm<1, 1, kRingStages, 1, ring_tokens, false, false, false, 2>(w_codes, w_scales, w_nan_rows, w_dec, a,    \
                                                                        a_scale, a_scale_is_gs, d, m, n, k,         \
                                                                        nullptr, nullptr, nullptr, warps_per_tile); \
    }
NVFP4_GEMM_CLUSTER_ENTRY(m4, 4)
#endif
// m16 fits two CTAs per SM on sm_90 (64 registers, no spill); the sm_100 compiler spills at 64,
// so there it keeps one CTA per SM and prefetches, as on the 100 KB-per-SM devices
// (NVFP4_TWO_CTAS), where one CTA is all that fits.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 1000
#define NVFP4_M16_CTAS 1
#else
#define NVFP4_M16_CTAS NVFP4_TWO_CTAS
#endif
NVFP4_GEMM_ENTRY(m16, kSmallMTiles, 1, 0, kStages, 1, NVFP4_M16_CTAS)
NVFP4_GEMM_ENTRY(m16, kSmallMTiles, 1, 0, kStages, 2, NVFP4_M16_CTAS)
NVFP4_GEMM_ENTRY(m16, kSmallMTiles, 1, 0, kStages, 4, NVFP4_M16_CTAS)
NVFP4_GEMM_ENTRY(m16r2, kSmallMTiles, 2, 16, kRingStages, 1, 1)
NVFP4_GEMM_ENTRY(m16r2, kSmallMTiles, 2, 16, kRingStages, 2, 1)
NVFP4_GEMM_ENTRY(m16r2, kSmallMTiles, 2, 16, kRingStages, 4, 1)
NVFP4_GEMM_ENTRY(m16r1, kSmallMTiles, 1, 16, kRingStages, 1, 1)
NVFP4_GEMM_ENTRY(m16r1, kSmallMTiles, 1, 16, kRingStages, 2, 1)
NVFP4_GEMM_ENTRY(m16r1, kSmallMTiles, 1, 16, kRingStages, 4, 1)
NVFP4_GEMM_ENTRY(m24, kLargeMTiles, 1, 0, NVFP4_M24_STAGES, 1, 1)
NVFP4_GEMM_ENTRY(m24, kLargeMTiles, 1, 0, NVFP4_M24_STAGES, 2, 1)
NVFP4_GEMM_ENTRY(m24, kLargeMTiles, 1, 0, NVFP4_M24_STAGES, 4, 1)
