//! The `gemm.cu` kernels of a layer: for each token-count variant its entry point, the 16-row
//! weight tiles each warp takes and the units of them per CTA, its dynamic shared memory, and
//! whether one CTA fills its SM. Chosen once per layer from the weight shape and the device (SM
//! count, architecture, shared memory per block and per SM) as plain data, so that every choice is
//! unit-tested without a GPU; `Linear::new` turns it into kernels.

use crate::pack::PackedShape;

/// The kernel variants of `gemm.cu`, smallest first: tokens per CTA and the entry-point suffix. A
/// call takes the first that holds its M. The m1 kernel loads the weights straight into registers
/// and keeps its token's row in shared memory (see [`direct_shared_bytes`]; where that does not
/// fit a block, M = 1 takes the m4 kernel); m4 copies its tokens' activations with the weights
/// into the shared-memory ring; m8 loads the weights as m1 does and each lane's activations from
/// global memory (no ring: its shared memory is the partial sums, see [`DIRECT_STAGES`]); the m1,
/// m4, m8 (but on sm_100, where m8 takes the registers of one CTA per SM) and (on sm_90) m16
/// kernels fit 64 registers, so two CTAs (32 warps) share an SM (m16 then loads its activations
/// right before their math instead of a chunk ahead), except on the 100 KB-per-SM devices, where
/// one CTA is all their shared memory leaves room for and they take the registers of one; m24
/// runs one CTA per SM. Where [`m16_ring`] says so, the 16-token variant is `m16r2` or `m16r1` instead
/// (activations in the ring, one CTA per SM).
pub(super) const VARIANTS: [(usize, &str); 5] =
    [(1, "m1"), (4, "m4"), (8, "m8"), (16, "m16"), (24, "m24")];

/// Slots of a warp's ring (`gemm.cu` `kStages`, `kRingStages`): 8 for the kernels that load their
/// activations from global memory, 4 for those whose activations travel in the ring.
const STAGES: usize = 8;
const RING_STAGES: usize = 4;
/// The direct m8 kernel's ring (`gemm.cu` kDirect with kPrefetch: `nvfp4_gemm_m8_t*`): none; its
/// weights go straight into registers, so its shared memory is the 16 warps' partial sums
/// (8 tokens x 16 rows of f32 each, 8 KB). Measured on the H200 against the m8 it replaced
/// (weights through an 8-slot cp.async ring, activations loaded from L2: 88 KB), W4A16 at M = 8,
/// two runs each: 7168x16384 27.81-27.85 -> 20.38-20.39 µs, 4096x7168 7.88 -> 6.25-6.26,
/// 24576x1536 10.50-10.51 -> 8.62, 2048x7168 5.23 -> 4.06, 7168x2048 4.95-4.96 -> 4.46-4.47.
const DIRECT_STAGES: usize = 0;
/// m24's ring where 8 slots and its partial sums do not fit a block's shared memory (104 KB
/// against 99 KB on sm_86, sm_89 and sm_120): `gemm.cu` compiled with [`SMALL_SHARED_GEMM_DEFINES`].
const SMALL_M24_STAGES: usize = 4;

/// The defines `gemm.cu` is compiled with for devices whose blocks get less shared memory than
/// m24's 8-slot ring takes (sm_86, sm_89, sm_120: 99 KB per block): m24 with 4 slots. Public for
/// `cargo xtask kernels`, which compiles this variant too.
pub const SMALL_SHARED_GEMM_DEFINES: &[(&str, &str)] = &[("NVFP4_M24_STAGES", "4")];

/// Shared memory reserved by a two-CTA-per-SM kernel whose grid has at most one CTA per SM, on
/// sm_90 and newer: more than half of an H100's 228 KB per SM, so that one CTA fills its SM and
/// its launch can overlap the previous one (see [`KernelChoice::fills_sm`]). Only where it is
/// more than half the SM's and fits a block.
pub(super) const EXCLUSIVE_SHARED_BYTES: u32 = 120 * 1024;

/// What the choice needs to know of the device.
#[derive(Clone, Copy, Debug)]
pub(super) struct GemmDevice {
    /// Streaming multiprocessors.
    pub sms: usize,
    /// Compute capability major: 9 and newer have programmatic dependent launch.
    pub major: u32,
    /// The most shared memory one block may use after opting in, in bytes.
    pub shared_per_block: u32,
    /// One SM's shared memory, in bytes.
    pub shared_per_sm: u32,
    /// Clusters of the cluster kernels (two CTAs of [`CLUSTER_CTA_WARPS`] warps) that the device
    /// holds at once: half the SMs on sm_90 and newer until the driver says otherwise
    /// (`Kernel::max_active_clusters`), 0 below.
    pub pair_clusters: usize,
}

/// Warps per CTA of the cluster kernels (`gemm.cu` `kClusterCtaWarps`: one CTA per SM) and CTAs
/// per cluster (`__cluster_dims__(2, 1, 1)`).
pub(super) const CLUSTER_CTA_WARPS: usize = 32;
pub(super) const CLUSTER_CTAS: usize = 2;

/// How the cluster kernel (`nvfp4_gemm_m4_c2`) splits the layer: the cluster's
/// `CLUSTER_CTAS * CLUSTER_CTA_WARPS` warps take its `64 / warps_per_tile` tiles in order,
/// `warps_per_tile` warps on each (one slice of K each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ClusterSplit {
    /// Warps on each 16-row tile.
    pub warps_per_tile: usize,
    /// Clusters in the grid: the tiles over `64 / warps_per_tile` per cluster.
    pub clusters: usize,
}

/// One variant's kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KernelChoice {
    /// The entry point, e.g. `nvfp4_gemm_m16r2_t1`.
    pub name: String,
    /// Tokens per CTA (the grid's y covers M in blocks of this many).
    pub tokens: usize,
    /// 16-row weight tiles each warp takes (2 for `m16r2`).
    pub row_tiles: usize,
    /// Units of `row_tiles` tiles per CTA (1, 2 or 4).
    pub units_per_cta: usize,
    /// Dynamic shared memory per CTA, in bytes.
    pub shared_bytes: u32,
    /// Set where one CTA fills its SM (its shared memory or registers leave no room for a
    /// second): the launch may then overlap the previous one even with fewer CTAs than SMs, as the
    /// next launch's CTAs start only on idle SMs or in place of finished CTAs, never beside a
    /// running one.
    pub fills_sm: bool,
    /// The cluster kernels' split (then the grid is `CLUSTER_CTAS` CTAs of `CLUSTER_CTA_WARPS`
    /// warps per cluster, and `units_per_cta` is unused).
    pub cluster: Option<ClusterSplit>,
}

impl KernelChoice {
    /// Threads per CTA: 512 (16 warps), or the cluster kernels' 1024.
    pub fn threads(&self) -> u32 {
        if self.cluster.is_some() {
            (CLUSTER_CTA_WARPS * 32) as u32
        } else {
            512
        }
    }
}

/// A layer's `gemm.cu` kernels, in the order of [`VARIANTS`], and the defines the source is
/// compiled with for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct GemmChoice {
    /// One kernel per variant.
    pub kernels: [KernelChoice; 5],
    /// W4A4 at M = 1: `nvfp4_gemm_m1q`, the `m1` kernel quantizing its input row itself, where
    /// it fits (see [`quantizing_m1`]).
    pub quantizing_m1: Option<KernelChoice>,
    /// Preprocessor defines for `gemm.cu` (none on sm_80, sm_90 and sm_100).
    pub defines: &'static [(&'static str, &'static str)],
}

/// The kernels of a layer of `shape` on `dev`.
pub(super) fn choose(shape: &PackedShape, dev: &GemmDevice) -> GemmChoice {
    let per_cta = tiles_per_cta(shape, dev.sms);
    // Overlapping launches (programmatic dependent launch): sm_90 and newer.
    let overlaps = dev.major >= 9;
    // The ring kernels' 208 KB (`m16r2`; `m16r1` takes less): sm_90 and newer, where it fits.
    let ring = (overlaps && shared_bytes(16, 2, 16, RING_STAGES) <= dev.shared_per_block)
        .then(|| m16_ring(shape, dev.sms))
        .flatten();
    let exclusive_fits = 2 * EXCLUSIVE_SHARED_BYTES > dev.shared_per_sm
        && EXCLUSIVE_SHARED_BYTES <= dev.shared_per_block;
    let m24_stages = if shared_bytes(24, 1, 0, STAGES) <= dev.shared_per_block {
        STAGES
    } else {
        SMALL_M24_STAGES
    };
    let direct_smem = direct_shared_bytes(shape, 16, 16 / per_cta);
    let direct_fits = direct_smem <= dev.shared_per_block;
    let kernel = |(tokens, suffix): (usize, &str)| {
        // M = 1 in the m4 kernel where the direct m1's row slices do not fit.
        let (tokens, suffix) = if tokens == 1 && !direct_fits {
            VARIANTS[1]
        } else {
            (tokens, suffix)
        };
        let (name, row_tiles, ring_tokens, units_per_cta) = match ring {
            Some((r, t)) if tokens == 16 => (format!("nvfp4_gemm_m16r{r}_t{t}"), r, 16, t),
            _ => (
                format!("nvfp4_gemm_{suffix}_t{per_cta}"),
                1,
                if tokens == 4 { tokens } else { 0 },
                per_cta,
            ),
        };
        let stages = match (ring_tokens, tokens) {
            (1.., _) => RING_STAGES,
            (_, 8) => DIRECT_STAGES,
            (_, 24) => m24_stages,
            _ => STAGES,
        };
        // m24 (about 120 registers per thread at 512 threads) and the ring kernels of 16 tokens.
        let one_per_sm = ring_tokens == 16 || tokens == 24;
        // The two-CTA kernels' grid here is one token block of at most one CTA per SM.
        let exclusive = !one_per_sm
            && overlaps
            && exclusive_fits
            && shape.tiles.div_ceil(units_per_cta) <= dev.sms;
        let smem = if tokens == 1 {
            direct_smem
        } else {
            shared_bytes(tokens, row_tiles, ring_tokens, stages)
        };
        KernelChoice {
            name,
            tokens,
            row_tiles,
            units_per_cta,
            shared_bytes: if exclusive {
                smem.max(EXCLUSIVE_SHARED_BYTES)
            } else {
                smem
            },
            fills_sm: one_per_sm || exclusive,
            cluster: None,
        }
    };
    let mut kernels = VARIANTS.map(kernel);
    let quantizing = (kernels[0].tokens == 1)
        .then(|| quantizing_m1(shape, dev, &kernels[0]))
        .flatten();
    if let Some(split) = cluster_split(shape, dev, per_cta) {
        for k in kernels.iter_mut().filter(|k| k.tokens == 4) {
            let smem = cluster_shared_bytes(k.tokens);
            if smem <= dev.shared_per_block {
                *k = KernelChoice {
                    name: format!("nvfp4_gemm_{}_c2", VARIANTS[variant_index(k.tokens)].1),
                    units_per_cta: 1,
                    shared_bytes: smem,
                    fills_sm: true,
                    cluster: Some(split),
                    ..k.clone()
                };
            }
        }
    }
    GemmChoice {
        quantizing_m1: quantizing,
        kernels,
        defines: if m24_stages == STAGES {
            &[]
        } else {
            SMALL_SHARED_GEMM_DEFINES
        },
    }
}

/// The index in [`VARIANTS`] of the kernel for `m` rows: the first that holds them, else the
/// last (its grid covers M in blocks).
pub(super) fn variant_index(m: usize) -> usize {
    VARIANTS
        .iter()
        .position(|&(tokens, _)| m <= tokens)
        .unwrap_or(VARIANTS.len() - 1)
}

/// Weight tiles per CTA of the `gemm.cu` kernels (1, 2 or 4; the CTA's 16 warps split K 16, 8 or
/// 4 ways per tile): doubled from 1 as long as the grid keeps at least one CTA per SM, while a
/// warp's slice of K stays under 6 chunks (so that short K still gives each warp a run of chunks
/// to stream: K = 1536 gives 1.5 chunks per warp with one tile, 6 with four) or while the CTAs
/// would not all fit on the SMs at once (two per SM: fewer, longer CTAs in one wave instead of a
/// second, partial one; measured on 7168x16384, 448 tiles: 6% faster at M = 1, 12% at M = 16).
fn tiles_per_cta(shape: &PackedShape, sms: usize) -> usize {
    let mut per_cta = 1;
    while per_cta < 4
        && shape.tiles.div_ceil(2 * per_cta) >= sms
        && (shape.chunks * per_cta < 16 * 6 || shape.tiles.div_ceil(per_cta) > 2 * sms)
    {
        per_cta *= 2;
    }
    per_cta
}

/// The fewest chunks each warp of a cluster kernel takes (its slice of a tile's K). Measured on
/// the H200 at M = 1, W4A16, against the tile kernels in the same runs: 7168x16384 (28 chunks
/// per warp) 24.04-24.05 -> 22.99-23.01 µs, 7168x2048 (3.6 per warp) 4.58 -> 5.91 µs: a cluster
/// kernel's fixed costs (a 1024-thread CTA's start, two cluster barriers, the partial sums read
/// across the pair) need a long run of chunks per warp to pay off.
const CLUSTER_MIN_CHUNKS_PER_WARP: usize = 16;

/// The split of the cluster kernel for the m4 variant, where they even out the work per
/// SM better than whole tiles per CTA: sm_90 and newer, each cluster's tiles as few as fit the
/// co-resident clusters, at least [`CLUSTER_MIN_CHUNKS_PER_WARP`] chunks per warp, and the
/// busiest SM's share (a CTA's 32 warps, a `1 / warps_per_tile` tile each) at least 5% under
/// the tile kernels' (`per_cta` tiles per CTA, the CTAs spread evenly over the SMs). On the bench
/// shapes: 7168x16384 (448 tiles: 4 on the busiest SM in CTAs of 2, 3.6 in 64 clusters of 7
/// tiles, 9 warps each); not 7168x2048 (the same split, 3.6 chunks per warp), 4096x7168 and
/// 2048x7168 (at most 2 tiles per SM either way) or 24576x1536 (24 tiles per cluster would take
/// 2 warps each: 16 per SM against 12).
fn cluster_split(shape: &PackedShape, dev: &GemmDevice, per_cta: usize) -> Option<ClusterSplit> {
    let warps = CLUSTER_CTAS * CLUSTER_CTA_WARPS;
    if dev.major < 9 || dev.pair_clusters == 0 {
        return None;
    }
    let per_cluster = shape.tiles.div_ceil(dev.pair_clusters);
    if per_cluster > warps {
        return None;
    }
    let warps_per_tile = warps / per_cluster;
    let clusters = shape.tiles.div_ceil(warps / warps_per_tile);
    let tile_load = per_cta * shape.tiles.div_ceil(per_cta).div_ceil(dev.sms.max(1));
    // The busiest SM: CLUSTER_CTA_WARPS / warps_per_tile tiles, against tile_load.
    (20 * CLUSTER_CTA_WARPS < 19 * tile_load * warps_per_tile
        && shape.chunks >= CLUSTER_MIN_CHUNKS_PER_WARP * warps_per_tile)
        .then_some(ClusterSplit {
            warps_per_tile,
            clusters,
        })
}

/// Dynamic shared memory of a cluster kernel of `tokens` ring tokens (m4's 4): the 32 warps'
/// 4-slot rings, then their partial sums (8 tokens x 16 rows of f32 each).
fn cluster_shared_bytes(tokens: usize) -> u32 {
    (CLUSTER_CTA_WARPS * RING_STAGES * (640 + 128 * tokens) + CLUSTER_CTA_WARPS * 8 * 16 * 4) as u32
}

/// Dynamic shared memory of the direct m1 kernels (`gemm.cu` kDirect: `nvfp4_gemm_m1_t*`) of
/// `warps` warps per CTA, `warps_per_tile` of them splitting each tile's K: their
/// partial sums (one token's 16 rows of f32 per warp), then each warp's slice of the token's row
/// (`ceil(chunks / warps_per_tile)` chunks of 64 bf16, 128 bytes). 7168x16384 in CTAs of two
/// tiles: 1 KB + 16 x 32 x 128 B = 65 KB.
fn direct_shared_bytes(shape: &PackedShape, warps: usize, warps_per_tile: usize) -> u32 {
    (warps * 16 * 4 + warps * shape.chunks.div_ceil(warps_per_tile) * 128) as u32
}

/// The `gemm.cu` kernels for 9 to 16 tokens that copy the activations through the ring
/// (`m16r2`, `m16r1`: one CTA per SM, each warp on 2 or 1 tiles at its slice of K), as (row
/// tiles per warp, units per CTA), where they beat `m16` (two CTAs per SM, activations loaded
/// from L2 right before their math). Measured on the H100 at M = 16: they need long rows (K of
/// at least 64 chunks: each warp's run of chunks fills their 4-slot ring; at K = 1536 and 2048
/// they were 13-15% slower) and a grid that fills at least 80% of the SMs in one wave (1, 2 or
/// 4 units per CTA): 7168x16384 `m16r2_t2` 38.6 -> 31.1 µs, 4096x7168 `m16r2_t1` 10.6 -> 9.8,
/// 2048x7168 `m16r1_t1` 8.0 -> 6.9. Two tiles per warp are preferred: the warp's activations
/// then serve twice the weights.
fn m16_ring(shape: &PackedShape, sms: usize) -> Option<(usize, usize)> {
    if shape.chunks < 64 {
        return None;
    }
    [2, 1].into_iter().find_map(|row_tiles| {
        let units = shape.tiles.div_ceil(row_tiles);
        let per_cta = [1, 2, 4].into_iter().find(|&t| units.div_ceil(t) <= sms)?;
        (5 * units.div_ceil(per_cta) >= 4 * sms).then_some((row_tiles, per_cta))
    })
}

/// Static shared memory of `nvfp4_gemm_m1q` (the quantizer's table of 128 output scales, its
/// amax word and alpha: 528 bytes in the ptxas report), rounded up, plus the 1 KB the driver
/// reserves per block.
const QUANTIZING_OVERHEAD_BYTES: u32 = 2 * 1024;

/// The most input elements each SM quantizes for `nvfp4_gemm_m1q` (K times its CTAs per SM):
/// every CTA repeats the row's quantization before its loop, which on busy SMs costs more than
/// the quantizer launch it saves. Measured on the H200 at M = 1 with a dynamic scale, against the
/// quantizer launch: 2048x7168 (128 CTAs: 7168 per SM) 9.30 -> 8.02 µs, 7168x2048 (224 CTAs:
/// 4096) 7.59 -> 7.12; slower at 4096x7168 (256 CTAs: 14336) 11.47 -> 12.88, 7168x16384 (224:
/// 32768) 31.3 -> 34.2, and 24576x1536 (384 CTAs, more than fit at once) 12.12 -> 13.12.
const QUANTIZING_MAX_ELEMENTS_PER_SM: usize = 8192;

/// `nvfp4_gemm_m1q` (W4A4 at M = 1): the `m1` kernel (same tiles per CTA, same reserved
/// shared memory where it fills its SM), with the input row's exact quantized values in shared
/// memory after the partial sums (`roundup(K, 64)` bf16) instead of each warp's slice of it;
/// each CTA quantizes the row itself, so no quantizer launch precedes it. Where the row
/// fits as many CTAs on an SM as `m1` (at most the two its launch bounds ask for), all CTAs are
/// resident at once, and each SM quantizes at most [`QUANTIZING_MAX_ELEMENTS_PER_SM`]; else none
/// (the quantizer then runs before `m1`).
pub(super) fn quantizing_m1(
    shape: &PackedShape,
    dev: &GemmDevice,
    m1: &KernelChoice,
) -> Option<KernelChoice> {
    let smem = (16 * 16 * 4 + shape.chunks * 64 * 2) as u32;
    let per_sm = |bytes: u32| dev.shared_per_sm / (bytes + QUANTIZING_OVERHEAD_BYTES);
    let m1_smem = direct_shared_bytes(shape, 16, 16 / m1.units_per_cta);
    let ctas = shape.tiles.div_ceil(m1.units_per_cta);
    let resident = per_sm(smem).min(2) as usize * dev.sms;
    (smem + QUANTIZING_OVERHEAD_BYTES <= dev.shared_per_block
        && per_sm(smem) >= per_sm(m1_smem).min(2)
        && ctas <= resident
        && shape.k * ctas.div_ceil(dev.sms.max(1)) <= QUANTIZING_MAX_ELEMENTS_PER_SM)
        .then(|| KernelChoice {
            name: format!("nvfp4_gemm_m1q_t{}", m1.units_per_cta),
            tokens: 1,
            row_tiles: 1,
            units_per_cta: m1.units_per_cta,
            shared_bytes: if m1.fills_sm {
                smem.max(EXCLUSIVE_SHARED_BYTES)
            } else {
                smem
            },
            fills_sm: m1.fills_sm,
            cluster: None,
        })
}

/// Dynamic shared memory of a `gemm.cu` kernel of `tokens` tokens, `row_tiles` tiles per warp
/// and rings of `stages` slots (none in the direct m8): the 16 warps' rings of `row_tiles` x (512
/// code bytes, 64 scale bytes, 64 spare bytes) plus 128 activation bytes per ring token (`ring_tokens` of them travel
/// with the weights), then the partial sums (16 warps x `row_tiles` x the mma's tokens, at least
/// 8, x 16 rows of f32), which take the rings' bytes after the loop where both would not fit in
/// 227 KB (as the kernel decides).
fn shared_bytes(tokens: usize, row_tiles: usize, ring_tokens: usize, stages: usize) -> u32 {
    let rings = 16 * stages * (640 * row_tiles + 128 * ring_tokens);
    let partials = 16 * row_tiles * tokens.max(8) * 16 * 4;
    if rings + partials > 227 * 1024 {
        rings.max(partials) as u32
    } else {
        (rings + partials) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::{
        EXCLUSIVE_SHARED_BYTES, GemmDevice, KernelChoice, PackedShape, choose, m16_ring,
        tiles_per_cta,
    };

    const KIB: u32 = 1024;
    /// The H100 and H200 (132 SMs, 227 KB per block of 228 KB per SM; 66 clusters of two
    /// one-per-SM CTAs, as `cuOccupancyMaxActiveClusters` gives on the H200).
    const H100: GemmDevice = GemmDevice {
        sms: 132,
        major: 9,
        shared_per_block: 227 * KIB,
        shared_per_sm: 228 * KIB,
        pair_clusters: 66,
    };
    /// An A100 (108 SMs, 163 KB per block of 164 KB per SM; no programmatic dependent launch).
    const A100: GemmDevice = GemmDevice {
        sms: 108,
        major: 8,
        shared_per_block: 163 * KIB,
        shared_per_sm: 164 * KIB,
        pair_clusters: 0,
    };
    /// An L40S (sm_89, 142 SMs, 99 KB per block of 100 KB per SM).
    const L40S: GemmDevice = GemmDevice {
        sms: 142,
        major: 8,
        shared_per_block: 99 * KIB,
        shared_per_sm: 100 * KIB,
        pair_clusters: 0,
    };
    /// An RTX Blackwell (sm_120, 170 SMs, 99 KB per block of 100 KB per SM).
    const SM120: GemmDevice = GemmDevice {
        sms: 170,
        major: 12,
        shared_per_block: 99 * KIB,
        shared_per_sm: 100 * KIB,
        pair_clusters: 85,
    };
    /// The DeepSeek-V3 shapes of the bench, and ragged ones.
    const SHAPES: [(usize, usize); 8] = [
        (2048, 7168),
        (7168, 2048),
        (4096, 7168),
        (24576, 1536),
        (7168, 16384),
        (1, 16),
        (130, 1040),
        (8456, 256),
    ];

    fn shape(n: usize, k: usize) -> PackedShape {
        PackedShape::new(n, k).unwrap()
    }

    fn names(kernels: &[KernelChoice]) -> Vec<&str> {
        kernels.iter().map(|k| k.name.as_str()).collect()
    }

    /// Short K, or more CTAs than fit at once, gets more tiles per CTA, as long as the SMs stay
    /// filled.
    #[test]
    fn tiles_per_cta_for_short_k_or_one_wave() {
        assert_eq!(tiles_per_cta(&shape(24576, 1536), 132), 4); // 24 chunks: 6 per warp
        assert_eq!(tiles_per_cta(&shape(7168, 2048), 132), 2); // 4 tiles would leave 20 SMs idle
        assert_eq!(tiles_per_cta(&shape(2048, 7168), 132), 1); // 112 chunks: 7 per warp
        assert_eq!(tiles_per_cta(&shape(7168, 16384), 132), 2); // 448 CTAs would take two waves
        assert_eq!(tiles_per_cta(&shape(4096, 7168), 132), 1); // 256 CTAs: one wave
        assert_eq!(tiles_per_cta(&shape(128, 256), 132), 1); // 8 tiles: not enough CTAs
    }

    /// The ring kernels for 9..=16 tokens: long K and a grid of 80-100% of the SMs, two tiles
    /// per warp where that fills them.
    #[test]
    fn m16_ring_kernels_for_long_k_and_one_full_wave() {
        assert_eq!(m16_ring(&shape(7168, 16384), 132), Some((2, 2))); // 224 units: 112 CTAs
        assert_eq!(m16_ring(&shape(4096, 7168), 132), Some((2, 1))); // 128 CTAs
        assert_eq!(m16_ring(&shape(2048, 7168), 132), Some((1, 1))); // 2 tiles: 64 CTAs, 1: 128
        assert_eq!(m16_ring(&shape(7168, 2048), 132), None); // 32 chunks
        assert_eq!(m16_ring(&shape(24576, 1536), 132), None); // 24 chunks
        assert_eq!(m16_ring(&shape(32768, 7168), 132), None); // 4 units per CTA: two waves
        assert_eq!(m16_ring(&shape(1024, 7168), 132), None); // 64 tiles: half the SMs
    }

    /// On the H100: 7168x16384 takes two tiles per CTA, the cluster kernel for 4 tokens and
    /// `m16r2_t2`; its 224 CTAs exceed the SMs, so `m1` (16 warps' partial sums, 1 KB, and their
    /// slices of the row, 32 chunks of 128 B each) and `m8` (8 KB of partial sums, no ring)
    /// keep their own shared memory, and the cluster kernel (32 warps x 4 slots x 1152 B +
    /// 16 KB of partial sums), `m16r2` (its rings, 208 KB, hold the partial sums after the loop)
    /// and `m24` (8 slots + 24 tokens' partials) fill their SM.
    #[test]
    fn hopper_long_k_takes_the_ring_kernel() {
        let c = choose(&shape(7168, 16384), &H100);
        assert!(c.defines.is_empty());
        assert_eq!(
            names(&c.kernels),
            [
                "nvfp4_gemm_m1_t2",
                "nvfp4_gemm_m4_c2",
                "nvfp4_gemm_m8_t2",
                "nvfp4_gemm_m16r2_t2",
                "nvfp4_gemm_m24_t2"
            ]
        );
        let smem: Vec<u32> = c.kernels.iter().map(|k| k.shared_bytes).collect();
        assert_eq!(smem, [65 * KIB, 160 * KIB, 8 * KIB, 208 * KIB, 104 * KIB]);
        let fills: Vec<bool> = c.kernels.iter().map(|k| k.fills_sm).collect();
        assert_eq!(fills, [false, true, false, true, true]);
        let split = super::ClusterSplit {
            warps_per_tile: 9,
            clusters: 64,
        };
        assert_eq!(c.kernels[0].cluster, None);
        assert_eq!(c.kernels[1].cluster, Some(split));
        assert_eq!(c.kernels[0].threads(), 512);
        assert_eq!(c.kernels[1].threads(), 1024);
        assert_eq!((c.kernels[3].row_tiles, c.kernels[3].units_per_cta), (2, 2));
        // 224 CTAs of K = 16384: each SM would quantize 32768 elements, so W4A4 at M = 1 keeps
        // the quantizer launch and m1.
        assert_eq!(c.quantizing_m1, None);
    }

    /// W4A4 at M = 1 quantizes in the GEMM where each SM quantizes at most 8192 elements (K
    /// times its CTAs), all CTAs are resident at once and the row fits at m1's CTAs per SM; the
    /// same tiles per CTA and reserved shared memory as m1.
    #[test]
    fn quantizing_m1_where_the_row_is_cheap_per_sm() {
        for dev in [H100, A100, L40S, SM120] {
            for (n, k) in SHAPES {
                let c = choose(&shape(n, k), &dev);
                if let Some(q) = c.quantizing_m1 {
                    assert_eq!(q.units_per_cta, c.kernels[0].units_per_cta);
                    assert_eq!(q.fills_sm, c.kernels[0].fills_sm);
                    assert!(
                        q.shared_bytes + super::QUANTIZING_OVERHEAD_BYTES <= dev.shared_per_block
                    );
                }
            }
        }
        let on = |dev, n, k| choose(&shape(n, k), &dev).quantizing_m1;
        // The bench shapes on the H100: 2048x7168 (128 CTAs) reserves 120 KB, as m1 does;
        // 7168x2048 (224 CTAs, 2 per SM: 4096 elements each; 1 KB of partial sums and the row's
        // 4 KB); not 4096x7168 (256 CTAs: 14336), 7168x16384 (32768), 24576x1536 (384 CTAs: more
        // than fit at once).
        let q = on(H100, 2048, 7168).unwrap();
        assert_eq!(
            (q.name.as_str(), q.shared_bytes, q.fills_sm),
            ("nvfp4_gemm_m1q_t1", EXCLUSIVE_SHARED_BYTES, true)
        );
        let q = on(H100, 7168, 2048).unwrap();
        assert_eq!(
            (q.name.as_str(), q.shared_bytes, q.fills_sm),
            ("nvfp4_gemm_m1q_t2", 5 * KIB, false)
        );
        for (n, k) in [(4096, 7168), (7168, 16384), (24576, 1536)] {
            assert_eq!(on(H100, n, k), None, "{n}x{k}");
        }
        // The GPU test's shapes beyond the bench's: 152 CTAs (two on some SMs, 5 KiB each, no
        // reservation) and 132 CTAs of two units, the last one's second past N.
        let q = on(H100, 16 * 152, 2048).unwrap();
        assert_eq!(
            (q.name.as_str(), q.shared_bytes, q.fills_sm),
            ("nvfp4_gemm_m1q_t1", 5 * KIB, false)
        );
        let q = on(H100, 16 * 263 - 3, 1040).unwrap();
        assert_eq!((q.name.as_str(), q.fills_sm), ("nvfp4_gemm_m1q_t2", true));
        // One CTA per SM: up to K = 8192.
        assert!(on(H100, 1024, 8192).is_some());
        assert!(on(H100, 1024, 8208).is_none());
        assert!(on(A100, 1024, 8192).is_some());
        // 100 KB-per-SM devices (m1 runs one CTA per SM there): 17 KB at K = 8192.
        assert!(on(L40S, 1024, 8192).is_some());
        assert!(on(SM120, 2048, 7168).is_some());
    }

    /// On the H100: 2048x7168 has 128 tiles, one CTA each, fewer than the SMs: the two-CTA
    /// kernels reserve 120 KB so that one fills its SM; 16 tokens take `m16r1_t1` (168 KiB of
    /// rings, 16 warps x 4 slots x 2688 B, + 16 KiB of partial sums).
    #[test]
    fn hopper_grids_under_the_sm_count_fill_their_sms() {
        let c = choose(&shape(2048, 7168), &H100);
        let smem: Vec<u32> = c.kernels.iter().map(|k| k.shared_bytes).collect();
        assert_eq!(
            smem,
            [
                EXCLUSIVE_SHARED_BYTES,
                EXCLUSIVE_SHARED_BYTES,
                EXCLUSIVE_SHARED_BYTES,
                184 * KIB,
                104 * KIB
            ]
        );
        assert!(c.kernels.iter().all(|k| k.fills_sm));
        assert_eq!(c.kernels[3].name, "nvfp4_gemm_m16r1_t1");
    }

    /// The cluster kernel takes m4 (never m1) where whole tiles per CTA leave the busiest SM with
    /// 5% more than clusters would and each warp gets 16 chunks: on the H100 7168x16384, not the
    /// other bench shapes; never below sm_90, nor where the driver fits no cluster, nor where its
    /// shared memory (160 KB) exceeds a block's (sm_120: the split is there, the kernel is not).
    #[test]
    fn cluster_kernels_where_tiles_per_sm_are_uneven() {
        let split = |dev, n, k| {
            let c = choose(&shape(n, k), &dev);
            assert_eq!(c.kernels[0].cluster, None);
            c.kernels[1].cluster
        };
        // The GPU test's shapes: 436 tiles of 145 chunks (7 per cluster, 9 warps each: 16.1
        // chunks per warp), 334 tiles of 257 chunks (6 per cluster, 10 warps each).
        let nine = Some(super::ClusterSplit {
            warps_per_tile: 9,
            clusters: 63,
        });
        assert_eq!(split(H100, 16 * 436 - 3, 9232), nine);
        let ten = Some(super::ClusterSplit {
            warps_per_tile: 10,
            clusters: 56,
        });
        assert_eq!(split(H100, 16 * 334 - 5, 16400), ten);
        // 7168x2048: the same split as 7168x16384, but 3.6 chunks per warp; 9 warps on 143
        // chunks are 15.9.
        assert_eq!(split(H100, 7168, 2048), None);
        assert_eq!(split(H100, 7168, 143 * 64), None);
        assert!(split(H100, 7168, 144 * 64).is_some());
        for (n, k) in [
            (2048, 7168),
            (4096, 7168),
            (24576, 1536),
            (130, 1040),
            (600, 16400),
        ] {
            assert_eq!(split(H100, n, k), None, "{n}x{k}");
        }
        // Where only 60 clusters fit, 448 tiles take 8 per cluster (8 warps each): 4 tiles on
        // the busiest SM, as with whole tiles.
        let few = GemmDevice {
            pair_clusters: 60,
            ..H100
        };
        assert_eq!(split(few, 7168, 16384), None);
        let none = GemmDevice {
            pair_clusters: 0,
            ..H100
        };
        assert_eq!(split(none, 7168, 16384), None);
        for dev in [A100, L40S, SM120] {
            for (n, k) in SHAPES {
                assert_eq!(split(dev, n, k), None, "{n}x{k}");
            }
        }
    }

    /// M = 1 takes m4's kernel where the direct m1's row slices exceed a block's shared memory:
    /// on the H100 at K = 115712 (1808 chunks, 113 per warp: 1 KB + 226 KB) and below, not from
    /// 1809 chunks on (114 per warp: 229 KB); the quantizing m1 is then not taken either.
    #[test]
    fn m1_falls_back_to_m4_where_its_row_does_not_fit() {
        let c = choose(&shape(1024, 1808 * 64), &H100);
        assert_eq!(c.kernels[0].name, "nvfp4_gemm_m1_t1");
        assert_eq!(c.kernels[0].shared_bytes, 227 * KIB);
        let c = choose(&shape(1024, 1809 * 64), &H100);
        // (Here the cluster kernel: 64 tiles of 1809 chunks.)
        assert_eq!(
            (c.kernels[0].name.as_str(), c.kernels[0].tokens),
            ("nvfp4_gemm_m4_c2", 4)
        );
        assert_eq!(c.kernels[0], c.kernels[1]);
        assert_eq!(c.quantizing_m1, None);
    }

    /// sm_80: no ring kernels and no reserved shared memory (no programmatic dependent launch);
    /// m24's 8-slot ring fits the A100's 163 KB.
    #[test]
    fn ampere_keeps_the_plain_kernels() {
        for (n, k) in SHAPES {
            let c = choose(&shape(n, k), &A100);
            assert!(c.defines.is_empty(), "{n}x{k}");
            assert!(c.kernels[3].name.starts_with("nvfp4_gemm_m16_t"), "{n}x{k}");
            assert!(c.kernels.iter().all(|k| k.row_tiles == 1), "{n}x{k}");
            assert_eq!(c.kernels[4].shared_bytes, 104 * KIB, "{n}x{k}");
            let fills: Vec<bool> = c.kernels.iter().map(|k| k.fills_sm).collect();
            assert_eq!(fills, [false, false, false, false, true], "{n}x{k}");
        }
    }

    /// Devices with 99 KB per block (sm_89, sm_120): no ring kernels (208 KB), no 120 KB
    /// reservation, and m24 with 4 slots (64 KB) from a `gemm.cu` compiled with
    /// `NVFP4_M24_STAGES=4`; m16 (96 KB) still fits.
    #[test]
    fn small_shared_memory_devices_get_kernels_that_fit() {
        for dev in [L40S, SM120] {
            for (n, k) in SHAPES {
                let c = choose(&shape(n, k), &dev);
                assert_eq!(c.defines, [("NVFP4_M24_STAGES", "4")], "{n}x{k}");
                assert!(!c.kernels[3].name.contains("m16r"), "{n}x{k}");
                assert_eq!(c.kernels[3].shared_bytes, 96 * KIB, "{n}x{k}");
                assert_eq!(c.kernels[4].shared_bytes, 64 * KIB, "{n}x{k}");
                assert!(!c.kernels[..4].iter().any(|k| k.fills_sm), "{n}x{k}");
            }
        }
    }

    /// Whatever the device, every kernel fits a block's shared memory, and a variant holds its
    /// tokens.
    #[test]
    fn every_choice_fits_its_device() {
        for dev in [H100, A100, L40S, SM120] {
            for (n, k) in SHAPES {
                let c = choose(&shape(n, k), &dev);
                for (kernel, (tokens, _)) in c.kernels.iter().zip(super::VARIANTS) {
                    assert!(
                        kernel.shared_bytes <= dev.shared_per_block,
                        "{dev:?} {n}x{k}: {kernel:?}"
                    );
                    assert!(kernel.tokens >= tokens);
                }
            }
        }
    }
}
