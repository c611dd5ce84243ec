// nvfp4_tma.cuh: the copy pipeline of the sm_90 GEMM (gemm_wgmma.cu), kept apart from its math:
// the bulk tensor copy engine (TMA) fills a ring of shared-memory stages guarded by mbarriers, and
// a persistent grid steps through work items.
//
// A work item is (x, y, z): weight rows 128 x onwards (8 packed 16-row tiles), tokens
// kTokens y onwards, K part z of `splits` (chunks c0 .. c0 + len). A CTA takes the items
// blockIdx.x, blockIdx.x + gridDim.x, ... in that order (x fastest), so the CTAs running at once
// share their activations in L2. Stage j % kStages of the ring holds the CTA's j-th chunk
// (counting over all its items): the activation box of the chunk, then the 8 tiles' packed codes
// of the chunk (4096 bytes, pack.rs), then their packed scales (512 bytes).
//
// sm_90 only (TMA, mbarrier parity waits); the including file guards its use.
#pragma once

#include "nvfp4_gemm.cuh"

namespace nvfp4 {

// A CUtensorMap (the driver's opaque 128-byte tensor descriptor), passed by value as a
// __grid_constant__ kernel parameter.
struct alignas(64) TensorMap { unsigned long long opaque[16]; };

constexpr int kTmaTiles = 8;                      // 16-row weight tiles per work item
constexpr int kTmaCodeBytes = kTmaTiles * 512;    // their packed codes of one chunk
constexpr int kTmaScaleBytes = kTmaTiles * 64;    // and their packed scales

// mbarriers: per stage, "full" completes when the producer has armed it and the stage's copies have
// delivered their bytes, "empty" when every consumer warp is done with the stage.
__device__ __forceinline__ void mbar_init(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_wait(u32 bar, u32 parity) {
    asm volatile(
        "{\n"
        ".reg .pred done;\n"
        "wait_%=:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra wait_%=;\n"
        "}\n" ::"r"(bar), "r"(parity) : "memory");
}

// Tensor-map copies into shared memory, completing on an mbarrier.
__device__ __forceinline__ void tma_load_2d(u32 dst, const TensorMap* map, int x, int y, u32 bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];"
        ::"r"(dst), "l"(map), "r"(x), "r"(y), "r"(bar) : "memory");
}
__device__ __forceinline__ void tma_load_3d(u32 dst, const TensorMap* map, int x, int y, int z, u32 bar) {
    asm volatile(
        "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];"
        ::"r"(dst), "l"(map), "r"(x), "r"(y), "r"(z), "r"(bar) : "memory");
}

// A named barrier of the first kThreadCount threads (the consumers; the producer takes no part).
template <int kThreadCount>
__device__ __forceinline__ void consumers_sync() { asm volatile("bar.sync 1, %0;" ::"n"(kThreadCount) : "memory"); }

// The work items of a launch (see the file comment).
struct WorkItems {
    int blocks_x, blocks_y, splits, chunks, count;

    __device__ __forceinline__ WorkItems(int n, int m_rows, int k, int tokens, int k_parts)
        : blocks_x((n + 16 * kTmaTiles - 1) / (16 * kTmaTiles)),
          blocks_y((m_rows + tokens - 1) / tokens),
          splits(k_parts),
          chunks((k + 63) / 64),
          count(blocks_x * blocks_y * k_parts) {}

    // Item -> (weight block x, token block y, K part z, first chunk c0, chunk count len).
    __device__ __forceinline__ void locate(int item, int& x, int& y, int& z, int& c0, int& len) const {
        x = item % blocks_x;
        y = (item / blocks_x) % blocks_y;
        z = item / (blocks_x * blocks_y);
        c0 = z * chunks / splits;
        len = (z + 1) * chunks / splits - c0;
    }
};

// The mbarriers of a ring of kStages stages at `full` (full[st], then empty[st]): full takes the
// producer's arrival, empty one arrival from each of `consumer_warps`. One thread calls this, then
// the CTA synchronises.
template <int kStages>
__device__ __forceinline__ void ring_init(u32 full, u32 consumer_warps) {
    for (int st = 0; st < kStages; ++st) {
        mbar_init(full + 8 * st, 1);
        mbar_init(full + 8 * (kStages + st), consumer_warps);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

// The producer (one thread): every chunk of the CTA's items, in order, into the ring, up to
// kStages chunks ahead of the consumers. Stage st of the ring starts at ring + st * kStageBytes:
// the activation box (kABytes; coordinates (64 c, kTokens y) in a_map), then the 8 tiles' packed
// codes and scales (boxes of one chunk of tiles 8 x .. 8 x + 7 in codes_map and scales_map, u32
// views [tile][chunk][128 or 16 words] of pack.rs's layout; tiles past N read as zero).
template <int kStages, int kStageBytes, int kTokens, int kABytes>
__device__ __forceinline__ void produce(const WorkItems& work, u32 ring, u32 full, const TensorMap* a_map,
                                        const TensorMap* codes_map, const TensorMap* scales_map) {
    constexpr u32 kTx = kABytes + kTmaCodeBytes + kTmaScaleBytes;
    static_assert(kTx <= kStageBytes, "a stage holds its copies");
    const u32 empty = full + 8 * kStages;
    int j = 0;
    for (int item = blockIdx.x; item < work.count; item += gridDim.x) {
        int x, y, z, c0, len;
        work.locate(item, x, y, z, c0, len);
        for (int c = c0; c < c0 + len; ++c, ++j) {
            const int st = j % kStages;
            if (j >= kStages) mbar_wait(empty + 8 * st, ((j / kStages) - 1) & 1);
            const u32 stage = ring + st * kStageBytes, bar = full + 8 * st;
            mbar_arrive_expect_tx(bar, kTx);
            tma_load_2d(stage, a_map, c * 64, y * kTokens, bar);
            tma_load_3d(stage + kABytes, codes_map, 0, c, x * kTmaTiles, bar);
            tma_load_3d(stage + kABytes + kTmaCodeBytes, scales_map, 0, c, x * kTmaTiles, bar);
        }
    }
}

}  // namespace nvfp4
