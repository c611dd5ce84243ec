//! The large-M path of a layer on sm_90a: `kernels/gemm_wgmma.cu`'s kernels, the permuted copy of
//! the activations they read, their tensor maps and the split-K sums. A launch of `m` tokens takes
//! the narrowest of the kernel's three widths that holds them ([`TILES`]: 64, 128 or 256 tokens
//! per work item, larger M in blocks of 256), and splits K into parts, summed in a fixed order,
//! where its work items alone would leave SMs idle ([`splits`]).

use cudarc::driver::sys::CUtensorMap;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use half::bf16;

use super::{PackedWeights, ScaleKind};
use crate::buffer::output;
use crate::error::Result;
use crate::kernel_args;
use crate::launch::{Kernel, grid_dim};
use crate::pack::{CHUNK_K, PackedShape};
use crate::registry::KernelRegistry;
use crate::tensor_map::{self, Element};

/// The smallest M that takes the wgmma path where there is one: above the largest mma.sync
/// variant, whose CTAs stream the weights once per 24 tokens.
pub(super) const MIN_M: usize = 25;

/// One width of the wgmma kernel: tokens per work item (wgmma's N) and the stages of its ring
/// (`gemm_wgmma.cu` `NVFP4_WGMMA_ENTRY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tile {
    /// Tokens per work item.
    pub tokens: usize,
    /// Chunks in flight in the CTA's ring.
    pub stages: u32,
    /// The entry point.
    pub name: &'static str,
}

/// The kernel's widths, narrowest first. A narrower item does less tensor work for few tokens
/// (M = 64 on the 256-token item did the tensor work of 256 tokens: 87 µs on 7168x16384 on the
/// H200, 49 µs on the 64-token item; docs/BENCHMARKS.md), and its smaller activation boxes leave
/// room for a deeper ring, as few tokens are bound by the weights' DRAM reads.
pub(super) const TILES: [Tile; 3] = [
    Tile {
        tokens: 64,
        stages: 12,
        name: "nvfp4_gemm_wgmma_n64",
    },
    Tile {
        tokens: 128,
        stages: 8,
        name: "nvfp4_gemm_wgmma_n128",
    },
    Tile {
        tokens: 256,
        stages: 4,
        name: "nvfp4_gemm_wgmma_n256",
    },
];

/// The index in [`TILES`] of the width for `m` tokens: the narrowest that holds them, else the
/// widest (its grid covers M in blocks).
pub(super) fn tile_index(m: usize) -> usize {
    TILES
        .iter()
        .position(|t| m <= t.tokens)
        .unwrap_or(TILES.len() - 1)
}

/// Weight rows per work item, threads per CTA (two consumer warpgroups and a producer warpgroup).
const ROWS: usize = 128;
const THREADS: u32 = 384;

/// Dynamic shared memory of a width: 1 KiB to align the ring for the 128-byte swizzle, the
/// stages of (`tokens` x 64 bf16 activations + 8 tiles x 576 packed weight bytes, rounded up to 1
/// KiB), the output tile (`tokens` x 136 bf16) and the stages' two mbarriers each.
fn shared_bytes(tile: &Tile) -> u32 {
    let tokens = tile.tokens as u32;
    1024 + tile.stages * (tokens * 64 * 2 + 8 * 576).next_multiple_of(1024)
        + tokens * 136 * 2
        + tile.stages * 2 * 8
}

/// The most K parts of a split launch.
const MAX_SPLITS: usize = 8;

/// The K parts of a launch over `m` tokens: enough to give each of `sms` SMs a CTA when the (N,
/// M) work items alone leave SMs idle, at most [`MAX_SPLITS`], and every part at least 4 chunks
/// of K. The parts are summed in a fixed order (deterministic).
fn splits(m: usize, shape: &PackedShape, sms: usize) -> usize {
    let ctas = shape.n.div_ceil(ROWS) * m.div_ceil(TILES[tile_index(m)].tokens);
    (sms / ctas).clamp(1, MAX_SPLITS.min((shape.chunks / 4).max(1)))
}

/// The f32 elements of split sums a layer of up to `max_m` tokens needs: the most that any M
/// from [`MIN_M`] to `max_m` takes. Within a width and a count of its token blocks the parts do
/// not change, and the sums grow with M, so the largest M of each such class is enough.
fn partials_len(max_m: usize, shape: &PackedShape, sms: usize) -> usize {
    let narrow = TILES[..TILES.len() - 1].iter().map(|t| t.tokens);
    let wide = TILES[TILES.len() - 1].tokens;
    narrow
        .chain((1..=max_m.div_ceil(wide)).map(|blocks| blocks * wide))
        .map(|m| m.min(max_m))
        .filter(|&m| m >= MIN_M)
        .map(|m| match splits(m, shape, sms) {
            1 => 0,
            s => s * m * shape.n,
        })
        .max()
        .unwrap_or(0)
}

/// `gemm_wgmma.cu`: its kernels, the permuted copy of the activations and the split-K sums.
#[derive(Debug)]
pub(super) struct WgmmaPath {
    permute: Kernel,
    /// One GEMM kernel per width of [`TILES`].
    gemm: [Kernel; 3],
    reduce: Kernel,
    /// `[max M, roundup(K, 64)]` bf16: the activations in the wgmma K order.
    pub permuted: CudaSlice<bf16>,
    /// Tensor maps of `permuted`, one per width (boxes of 64 columns x its tokens, 128-byte
    /// swizzle).
    a_maps: [CUtensorMap; 3],
    /// Tensor maps of the packed codes and of the packed scales (u32 views `[tile][chunk][128 or
    /// 16]`, boxes of one chunk of 8 tiles, zero past the last tile), for the kernels' copies.
    w_maps: [CUtensorMap; 2],
    /// The SMs of the device: the persistent grid's size, and a launch with fewer work items
    /// than SMs splits K (see [`splits`]).
    sms: usize,
    /// f32 sums of the K parts of a split launch, as many as the largest split needs.
    partials: CudaSlice<f32>,
}

impl WgmmaPath {
    /// Compiles the kernels, allocates the permuted activations and split sums for up to `max_m`
    /// rows, and builds the tensor maps of those activations and of `weights`.
    pub fn new(registry: &KernelRegistry, weights: &PackedWeights, max_m: usize) -> Result<Self> {
        let device = registry.device();
        let stream = device.stream().clone();
        let module = registry.get("gemm_wgmma.cu", &[])?;
        let shape = &weights.shape;
        let sms = device.sm_count()? as usize;
        let partials = partials_len(max_m, shape, sms);
        let permuted = stream.alloc_zeros::<bf16>(max_m * shape.chunks * CHUNK_K)?;
        let (chunks, tiles) = (shape.chunks as u64, shape.tiles as u64);
        let a_maps = {
            let (a, _a) = permuted.device_ptr(&stream);
            let cols = chunks * CHUNK_K as u64;
            let map = |tile: &Tile| {
                tensor_map::tiled(
                    Element::Bf16,
                    a,
                    &[cols, max_m as u64],
                    &[2 * cols],
                    &[CHUNK_K as u32, tile.tokens as u32],
                    true,
                )
            };
            [map(&TILES[0])?, map(&TILES[1])?, map(&TILES[2])?]
        };
        let w_maps = {
            let (codes, _c) = weights.codes.device_ptr(&stream);
            let (scales, _s) = weights.scales.device_ptr(&stream);
            let packed = |address, words: u64| {
                tensor_map::tiled(
                    Element::U32,
                    address,
                    &[words, chunks, tiles],
                    &[4 * words, 4 * words * chunks],
                    &[words as u32, 1, (ROWS / 16) as u32],
                    false,
                )
            };
            [packed(codes, 128)?, packed(scales, 16)?]
        };
        let gemm = |tile: &Tile| module.kernel(tile.name, shared_bytes(tile));
        Ok(WgmmaPath {
            permute: module.kernel("nvfp4_permute_k", 0)?,
            gemm: [gemm(&TILES[0])?, gemm(&TILES[1])?, gemm(&TILES[2])?],
            reduce: module.kernel("nvfp4_splitk_reduce", 0)?,
            permuted,
            a_maps,
            w_maps,
            partials: stream.alloc_zeros(partials.max(1))?,
            sms,
        })
    }

    /// The large-M path: the activations (`x_ptr`, checked for `M * K`) permuted into the wgmma K
    /// order, or with `None` already there (`permuted`), then `gemm_wgmma.cu` into `out_ptr`
    /// (checked for `M * N`).
    pub fn launch(
        &mut self,
        stream: &CudaStream,
        weights: &PackedWeights,
        x_ptr: Option<u64>,
        m: usize,
        a_scale: Option<(&CudaSlice<f32>, ScaleKind)>,
        out_ptr: u64,
    ) -> Result<()> {
        let (n, k, chunks) = (weights.shape.n, weights.shape.k, weights.shape.chunks);
        let (xp, _xp) = output(
            "permuted x",
            &mut self.permuted,
            stream,
            m * chunks * CHUNK_K,
            16,
        )?;
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        if let Some(x_ptr) = x_ptr {
            let cfg = self
                .permute
                .config((grid_dim(m * chunks.div_ceil(32)), 1, 1), (256, 1, 1))?;
            let mut args = kernel_args!(&x_ptr, &mi, &ki, &xp);
            // SAFETY: nvfp4_permute_k(const u32*, int, int, u32*): one CTA per 32 chunks of each of
            // the M rows, reading x's M*K bf16 (K/2 words per row, 16-byte aligned) and writing
            // M * chunks * 64 bf16, the length checked above; CTAs past the rows return.
            unsafe { self.permute.launch(stream, cfg, &mut args) }?;
        }
        let w = weights.args(stream, a_scale)?;
        let splits = splits(m, &weights.shape, self.sms);
        let (partials, _p) = output(
            "split sums",
            &mut self.partials,
            stream,
            if splits > 1 { splits * m * n } else { 0 },
            4,
        )?;
        let t = tile_index(m);
        // The persistent grid: one CTA per SM, or one per work item where there are fewer.
        let items = n.div_ceil(ROWS) * m.div_ceil(TILES[t].tokens) * splits;
        let cfg = self.gemm[t].config((grid_dim(items.min(self.sms)), 1, 1), (THREADS, 1, 1))?;
        let splits_i = splits as i32;
        let [codes_map, scales_map] = &self.w_maps;
        let mut args = kernel_args!(
            &self.a_maps[t],
            codes_map,
            scales_map,
            &w.nan_rows,
            &w.dec,
            &w.a_scale,
            &w.kind,
            &out_ptr,
            &mi,
            &ni,
            &ki,
            &splits_i,
            &partials
        );
        // SAFETY: nvfp4_gemm_wgmma_n{64,128,256}(TensorMap x3 by value, const u32*, const float*,
        // const float*, int, u16*, int, int, int, int, float*): the activation map of this width
        // describes `permuted` (max M rows, of which the M written above on the same stream are
        // used; the copy engine zero-fills past max M) and the weight maps the packed codes and
        // scales (tiles x chunks, zero past them), all owned by this layer; out M*N bf16; with
        // splits > 1 partials holds splits * M * N f32 (checked above) and out is written by the
        // reduction below instead; the grid strides over the ceil(N / 128) x ceil(M / tokens) x
        // splits work items, and the kernel guards rows >= M and columns >= N; the dynamic shared
        // memory set in `new` is this width's `shared_bytes`.
        unsafe { self.gemm[t].launch(stream, cfg, &mut args) }?;
        if splits > 1 {
            let cfg = self
                .reduce
                .config((grid_dim((m * n).div_ceil(256)), 1, 1), (256, 1, 1))?;
            let mut args = kernel_args!(
                &partials,
                &splits_i,
                &mi,
                &ni,
                &w.nan_rows,
                &w.dec,
                &w.a_scale,
                &w.kind,
                &out_ptr
            );
            // SAFETY: nvfp4_splitk_reduce(const float*, int, int, int, const u32*, const float*,
            // const float*, int, u16*): one thread per output element (M*N, bounds-checked),
            // reading splits * M * N f32 written by the launch above on the same stream, the
            // NaN-row words and scales as above, writing out's M*N bf16.
            unsafe { self.reduce.launch(stream, cfg, &mut args) }?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{PackedShape, TILES, partials_len, shared_bytes, splits, tile_index};

    fn shape(n: usize, k: usize) -> PackedShape {
        PackedShape::new(n, k).unwrap()
    }

    #[test]
    fn the_narrowest_width_that_holds_m() {
        let tokens = |m| TILES[tile_index(m)].tokens;
        assert_eq!(tokens(25), 64);
        assert_eq!(tokens(64), 64);
        assert_eq!(tokens(65), 128);
        assert_eq!(tokens(128), 128);
        assert_eq!(tokens(129), 256);
        assert_eq!(tokens(4096), 256);
    }

    #[test]
    fn every_width_fits_an_h100_block() {
        // The H100's 227 KB per block; the 256-token width is the 4-stage kernel measured since
        // the first wgmma round (221 KB).
        for tile in &TILES {
            assert!(shared_bytes(tile) <= 227 * 1024, "{tile:?}");
        }
        assert_eq!(
            shared_bytes(&TILES[2]),
            1024 + 4 * 37888 + 256 * 136 * 2 + 64
        );
    }

    #[test]
    fn splits_fill_the_sms_and_keep_parts_long() {
        // 2048 x 7168 at M = 256: 16 CTAs on 132 SMs, 112 chunks: 8 parts of 14 chunks.
        assert_eq!(splits(256, &shape(2048, 7168), 132), 8);
        // 7168 x 16384 at M = 256: 56 CTAs: 2 parts; at M = 64 (one 64-token item per weight
        // block) the same.
        assert_eq!(splits(256, &shape(7168, 16384), 132), 2);
        assert_eq!(splits(64, &shape(7168, 16384), 132), 2);
        // 24576 x 1536 at M = 64: 192 items, no split.
        assert_eq!(splits(64, &shape(24576, 1536), 132), 1);
        // Enough CTAs: no split.
        assert_eq!(splits(4096, &shape(2048, 7168), 132), 1);
        // Short K: parts of at least 4 chunks.
        assert_eq!(splits(256, &shape(128, 512), 132), 2);
        assert_eq!(splits(256, &shape(128, 128), 132), 1);
    }

    #[test]
    fn split_sums_cover_every_m() {
        for (n, k) in [(2048, 7168), (7168, 16384), (128, 512), (24576, 1536)] {
            let s = shape(n, k);
            for max_m in [25, 64, 100, 128, 200, 256, 300, 1000, 4096] {
                let need = (25..=max_m)
                    .map(|m| match splits(m, &s, 132) {
                        1 => 0,
                        p => p * m * n,
                    })
                    .max()
                    .unwrap();
                assert_eq!(partials_len(max_m, &s, 132), need, "{n}x{k} max M {max_m}");
            }
        }
    }
}
