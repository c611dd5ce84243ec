//! The NVFP4 linear layer on the GPU: `D[M, N] = alpha * A[M, K] . W[N, K]^T` (SPEC section 5),
//! with the weights prepared once from checkpoint form and the activations bf16 (W4A16) or NVFP4
//! (W4A4: quantized on the fly by the [`Quantizer`], or passed in already quantized).
//! W4A4 activations are dequantized into a bf16 workspace before the GEMM (`e2m1 * sq` is exact
//! in bf16, and the decode scale goes into alpha), so both modes run the same GEMM kernels on the
//! same exact products; at M = 1 the GEMM kernel quantizes the row itself instead, into shared
//! memory, with the quantizer's device functions (`nvfp4_gemm_m1q`), which saves the quantizer's
//! launch and the wait for it, where each CTA's repeat of the quantization costs less than that:
//! few CTAs per SM and short rows (`linear/plan.rs` `quantizing_m1`).
//!
//! Kernels: M ≤ 24 runs `kernels/gemm.cu` (`mma.sync`, any sm_80+: the decode path); on sm_90a a
//! larger M runs `kernels/gemm_wgmma.cu` (`wgmma`, a persistent grid fed by the bulk tensor copy
//! engine, 64, 128 or 256 tokens per work item: the narrowest that holds M), which first copies
//! the activations into the K order of its register fragments and splits K into parts, summed in
//! a fixed order, when its work items alone would leave SMs idle (`linear/wgmma.rs`;
//! [`LargeM::Portable`] keeps `gemm.cu` for every M, in blocks of 24 tokens). Short K, or more
//! tiles than fit on the SMs in one wave, puts 2 or 4 weight tiles in each CTA of the `gemm.cu`
//! kernels. Which `gemm.cu` kernels a layer runs also follows the device's shared memory per block
//! and per SM (`linear/plan.rs`): the 16-token ring kernels and the reserved shared memory of
//! overlapping launches only where they fit, and `m24` with a 4-slot ring on devices of 99 KB per
//! block (sm_86, sm_89, sm_120), so that every kernel fits from sm_80 to sm_120. Device memory
//! besides the packed weights (0.5625 bytes per weight): for the wgmma path a bf16 copy of
//! `[max M, roundup(K, 64)]` activations and the split sums (at most a few tiles per SM of f32);
//! in W4A4 the quantized activations and a bf16 buffer of the rows the mma.sync path takes
//! (`[max M, K]` where there is no wgmma path).
//!
//! [`Linear::new`] repacks and uploads the weights (layout in [`crate::pack`]), compiles the
//! kernels and allocates the workspace for a stated maximum M. [`Linear::forward`] then only
//! enqueues kernels: no allocation, no host-device copy, no synchronisation, so it can be captured
//! in a CUDA graph. Every output element is checked in the tests against the simulator's exact
//! value and the SPEC bound.
//!
//! ```no_run
//! use nvfp4_core::{bf16, plan::GemmMode};
//! use nvfp4_cuda::linear::{ActivationScale, Linear, LinearWeights};
//! use nvfp4_cuda::{Device, KernelRegistry};
//!
//! let gpu = Device::new(0)?;
//! let (n, k) = (2048, 7168);
//! let (codes, scales) = (vec![0x22u8; n * k / 2], vec![0x38u8; n * k / 16]); // all 1.0
//! let w = LinearWeights { codes: &codes, scales: &scales, dec: 0.01, n, k };
//! let mut layer = Linear::new(&KernelRegistry::new(&gpu), &w, GemmMode::W4A16, ActivationScale::Dynamic, 64)?;
//! let x = gpu.stream().clone_htod(&vec![bf16::ONE; 4 * k])?;
//! let mut y = gpu.stream().alloc_zeros::<bf16>(4 * n)?;
//! layer.forward(&x, 4, &mut y)?; // y = 0.01 * 7168 = 71.5 (bf16)
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut, LaunchConfig, SyncOnDrop};
use half::bf16;
use nvfp4_core::Error as ShapeError;
use nvfp4_core::global_scale::{check_scale, gs_from_dec};
use nvfp4_core::layout::ScaleLayout;
use nvfp4_core::plan::GemmMode;

use crate::arch::Arch;
use crate::buffer::{input, output};
use crate::device::Device;
use crate::error::Result;
use crate::kernel_args;
use crate::launch::Kernel;
use crate::pack::{PackedShape, pack_weights};
use crate::quantize::{Quantizer, ScaleSource};
use crate::registry::KernelRegistry;
use crate::status::DeviceStatus;
pub use plan::SMALL_SHARED_GEMM_DEFINES;
use plan::{CLUSTER_CTAS, GemmDevice, KernelChoice, VARIANTS, variant_index};
use wgmma::{MIN_M as WGMMA_MIN_M, TILES as WGMMA_TILES, WgmmaPath, tile_index};

mod plan;
mod wgmma;

/// The largest M, N and K a layer accepts.
const MAX_DIM: usize = 1 << 30;

/// One `gemm.cu` kernel of a layer, and what [`plan::choose`] chose for it.
#[derive(Debug)]
struct GemmKernel {
    kernel: Kernel,
    choice: KernelChoice,
}

/// Weights in checkpoint form (ModelOpt): codes `[N, K/2]`, linear E4M3 scales `[N, K/16]`, and
/// the decode scale `weight_scale_2`.
#[derive(Clone, Copy, Debug)]
pub struct LinearWeights<'a> {
    /// Packed E2M1 codes, `[N, K/2]`.
    pub codes: &'a [u8],
    /// Linear block scales, `[N, K/16]`.
    pub scales: &'a [u8],
    /// Decode scale (`weight_scale_2`), finite and positive.
    pub dec: f32,
    /// Output features N.
    pub n: usize,
    /// Input features K, a multiple of 16.
    pub k: usize,
}

/// The activation global scale of a W4A4 layer quantizing its own input (ignored in W4A16).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationScale {
    /// `gs = 2688 / amax(x)` per call, computed on the device; the epilogue uses `1 / gs`.
    Dynamic,
    /// A calibrated decode scale (`input_scale`): quantize with `1 / input_scale`, and the
    /// epilogue uses `input_scale` itself.
    Static(f32),
}

/// Which kernels run M of 25 and more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LargeM {
    /// The fastest the device has: the `wgmma` kernel on sm_90a, the `mma.sync` kernels
    /// elsewhere.
    #[default]
    Fastest,
    /// The portable `mma.sync` kernels (`gemm.cu`) at every M, in blocks of 24 tokens, as on a
    /// GPU without `wgmma`: to compare the paths, or to test the portable one on sm_90a.
    Portable,
}

/// How the GEMM reads the activation scale word: a decode scale, or an encode scale to invert.
#[derive(Clone, Copy)]
#[repr(i32)]
enum ScaleKind {
    Decode = 0,
    Encode = 1,
}

/// A linear layer with NVFP4 weights on one device.
#[derive(Debug)]
pub struct Linear {
    mode: GemmMode,
    max_m: usize,
    gemm: WeightGemm,
    act: Option<ActivationWorkspace>,
}

/// The packed weights on the device and the GEMM kernels that read them.
#[derive(Debug)]
struct WeightGemm {
    device: Device,
    weights: PackedWeights,
    /// The kernel variants, in the order of [`VARIANTS`].
    kernels: [GemmKernel; 5],
    /// W4A4 layers: `m1` quantizing its input row itself (`plan::quantizing_m1`), where it fits.
    quantizing: Option<GemmKernel>,
    /// The SMs of the device (see [`WeightGemm::launch`]).
    sms: usize,
    /// The large-M path, where the device has wgmma (sm_90a) and `max M` reaches it.
    wgmma: Option<WgmmaPath>,
}

/// The packed weights on the device (layout in [`crate::pack`]).
#[derive(Debug)]
struct PackedWeights {
    shape: PackedShape,
    codes: CudaSlice<u8>,
    scales: CudaSlice<u8>,
    nan_rows: CudaSlice<u32>,
    dec: CudaSlice<f32>,
}

/// The weight-side kernel arguments of a GEMM launch (every GEMM kernel takes them in this order,
/// then the activations), with the guards that keep them valid until it is enqueued.
struct WeightArgs<'a> {
    codes: u64,
    scales: u64,
    nan_rows: u64,
    dec: u64,
    /// The activation scale word, or 0 (null) in W4A16.
    a_scale: u64,
    /// [`ScaleKind`] as the kernels' `a_scale_is_gs`.
    kind: i32,
    _guards: [SyncOnDrop<'a>; 4],
    _scale_guard: Option<SyncOnDrop<'a>>,
}

impl PackedWeights {
    fn args<'a>(
        &'a self,
        stream: &'a CudaStream,
        a_scale: Option<(&'a CudaSlice<f32>, ScaleKind)>,
    ) -> Result<WeightArgs<'a>> {
        let (codes, g0) = input("packed codes", &self.codes, stream, 0, 16)?;
        let (scales, g1) = input("packed scales", &self.scales, stream, 0, 16)?;
        let (nan_rows, g2) = input("NaN rows", &self.nan_rows, stream, self.shape.tiles, 4)?;
        let (dec, g3) = input("weight dec", &self.dec, stream, 1, 4)?;
        let (a_scale, scale_guard, kind) = match a_scale {
            Some((d, kind)) => {
                let (p, g) = input("activation scale", d, stream, 1, 4)?;
                (p, Some(g), kind as i32)
            }
            None => (0, None, 0),
        };
        Ok(WeightArgs {
            codes,
            scales,
            nan_rows,
            dec,
            a_scale,
            kind,
            _guards: [g0, g1, g2, g3],
            _scale_guard: scale_guard,
        })
    }
}

/// W4A4 only: the quantizer and its buffers.
#[derive(Debug)]
struct ActivationWorkspace {
    quantizer: Quantizer,
    scale: ActivationScale,
    /// The quantized activations dequantized without their decode scale, `[max M, K]` bf16.
    exact: CudaSlice<bf16>,
    /// `[1.0]`: the decode scale for that dequantization.
    one: CudaSlice<f32>,
    /// Dynamic: the encode scale the quantizer used. Static: `[gs]` for the quantizer.
    gs: CudaSlice<f32>,
    /// Static: `[input_scale]` for the epilogue.
    dec: CudaSlice<f32>,
}

impl Linear {
    /// Repacks and uploads `w`, compiles the kernels and allocates the workspace for up to `max_m`
    /// rows. `act` is used in W4A4 (quantizing the input on the fly in [`Linear::forward`]). The
    /// fastest kernels of the device take each M ([`LargeM::Fastest`]).
    ///
    /// # Errors
    /// Bad shapes (`K % 16`, zero sizes), buffer lengths or scales; compile and driver errors.
    pub fn new(
        registry: &KernelRegistry,
        w: &LinearWeights<'_>,
        mode: GemmMode,
        act: ActivationScale,
        max_m: usize,
    ) -> Result<Self> {
        Self::with_large_m(registry, w, mode, act, max_m, LargeM::Fastest)
    }

    /// [`Linear::new`], with `large_m` choosing the kernels of M ≥ 25.
    ///
    /// # Errors
    /// As [`Linear::new`].
    pub fn with_large_m(
        registry: &KernelRegistry,
        w: &LinearWeights<'_>,
        mode: GemmMode,
        act: ActivationScale,
        max_m: usize,
        large_m: LargeM,
    ) -> Result<Self> {
        let shape = PackedShape::new(w.n, w.k)?;
        nvfp4_core::plan::GemmShape::new(max_m, w.n, w.k)?;
        // The kernels index with 32-bit ints below these limits (K up to 2^30, so that rounding K
        // up to a chunk cannot overflow), and CUDA's grid y allows 65535 token blocks.
        if w.n > MAX_DIM || w.k > MAX_DIM || max_m > MAX_DIM {
            return Err(ShapeError::InvalidParam {
                what: "M, N or K (beyond 2^30)",
                value: w.n.max(w.k).max(max_m),
            }
            .into());
        }
        if max_m.div_ceil(VARIANTS[VARIANTS.len() - 1].0) > 65_535 {
            return Err(ShapeError::InvalidParam {
                what: "max M (beyond 65535 token blocks of 24)",
                value: max_m,
            }
            .into());
        }
        check_scale("weight decode scale", w.dec)?;
        let (mut codes, mut scales) = (vec![0u8; shape.codes_len()], vec![0u8; shape.scales_len()]);
        let mut nan_rows = vec![0u32; shape.tiles];
        pack_weights(
            w.codes,
            w.scales,
            w.n,
            w.k,
            &mut codes,
            &mut scales,
            &mut nan_rows,
        )?;
        let device = registry.device().clone();
        let stream = device.stream().clone();
        let has_wgmma =
            large_m == LargeM::Fastest && device.arch() == Arch::SM90A && max_m >= WGMMA_MIN_M;
        let act = match mode {
            GemmMode::W4A16 => None,
            GemmMode::W4A4 => {
                let (gs, dec) = match act {
                    ActivationScale::Dynamic => (0.0, 0.0),
                    ActivationScale::Static(d) => (gs_from_dec(d)?, d),
                };
                let quantizer = Quantizer::new(registry, w.k, max_m, ScaleLayout::Swizzled)?;
                Some(ActivationWorkspace {
                    // Only the mma.sync kernels read it when the wgmma kernel takes the large M.
                    exact: stream.alloc_zeros(
                        if has_wgmma {
                            max_m.min(WGMMA_MIN_M - 1)
                        } else {
                            max_m
                        } * w.k,
                    )?,
                    one: stream.clone_htod(&[1.0f32])?,
                    gs: stream.clone_htod(&[gs])?,
                    dec: stream.clone_htod(&[dec])?,
                    scale: act,
                    quantizer,
                })
            }
        };
        let sms = device.sm_count()? as usize;
        let major = device.arch().major();
        let mut dev = GemmDevice {
            sms,
            major,
            shared_per_block: device.max_shared_bytes_per_block()?,
            shared_per_sm: device.max_shared_bytes_per_sm()?,
            pair_clusters: if major >= 9 { sms / CLUSTER_CTAS } else { 0 },
        };
        let mut choice = plan::choose(&shape, &dev);
        let module = registry.get("gemm.cu", choice.defines)?;
        // The cluster kernels' grid counts on half the SMs' worth of clusters at once; where the
        // driver fits fewer (SMs that do not pair up), choose again with its count.
        let mut fit = dev.pair_clusters;
        for k in choice.kernels.iter().filter(|k| k.cluster.is_some()) {
            let kernel = module.kernel(&k.name, k.shared_bytes)?;
            fit = fit.min(kernel.max_active_clusters(
                &stream,
                CLUSTER_CTAS as u32,
                (k.threads(), 1, 1),
            )?);
        }
        if fit < dev.pair_clusters {
            dev.pair_clusters = fit;
            choice = plan::choose(&shape, &dev);
        }
        let quantizing = choice.quantizing_m1.filter(|_| mode == GemmMode::W4A4);
        let [k0, k1, k2, k3, k4] = choice.kernels;
        let kernel = |choice: KernelChoice| -> Result<GemmKernel> {
            Ok(GemmKernel {
                kernel: module.kernel(&choice.name, choice.shared_bytes)?,
                choice,
            })
        };
        let weights = PackedWeights {
            codes: stream.clone_htod(&codes)?,
            scales: stream.clone_htod(&scales)?,
            nan_rows: stream.clone_htod(&nan_rows)?,
            dec: stream.clone_htod(&[w.dec])?,
            shape,
        };
        let wgmma = if has_wgmma {
            Some(WgmmaPath::new(registry, &weights, max_m)?)
        } else {
            None
        };
        let gemm = WeightGemm {
            wgmma,
            quantizing: quantizing.map(kernel).transpose()?,
            kernels: [
                kernel(k0)?,
                kernel(k1)?,
                kernel(k2)?,
                kernel(k3)?,
                kernel(k4)?,
            ],
            sms,
            weights,
            device,
        };
        Ok(Linear {
            mode,
            max_m,
            gemm,
            act,
        })
    }

    /// The GEMM mode.
    pub fn mode(&self) -> GemmMode {
        self.mode
    }

    /// Output features N.
    pub fn n(&self) -> usize {
        self.gemm.weights.shape.n
    }

    /// Input features K.
    pub fn k(&self) -> usize {
        self.gemm.weights.shape.k
    }

    /// The GEMM entry point a forward call of `m` rows launches (`nvfp4_gemm_wgmma_n64`, `_n128`
    /// or `_n256`, or a `gemm.cu` kernel such as `nvfp4_gemm_m16r2_t1`), for profiling; the W4A4
    /// quantizer runs before it, except at M = 1 where the kernel may be `nvfp4_gemm_m1q_t*`,
    /// which quantizes the row itself ([`Linear::forward`]; [`Linear::forward_quantized`] runs
    /// `nvfp4_gemm_m1_t*` there).
    pub fn kernel_name(&self, m: usize) -> &str {
        if let Some(q) = self.gemm.quantizing.as_ref().filter(|_| m == 1) {
            &q.choice.name
        } else if self.gemm.wgmma.is_some() && m >= WGMMA_MIN_M {
            WGMMA_TILES[tile_index(m)].name
        } else {
            &self.gemm.kernels[variant_index(m)].choice.name
        }
    }

    /// The status word of the W4A4 input quantizer (bad activation scales), if there is one.
    pub fn status(&self) -> Option<&DeviceStatus> {
        self.act.as_ref().map(|a| a.quantizer.status())
    }

    fn check_m(&self, m: usize) -> Result<()> {
        if m == 0 {
            return Err(ShapeError::ZeroDim { dim: "M" }.into());
        }
        if m > self.max_m {
            return Err(ShapeError::TooManyRows {
                rows: m,
                max: self.max_m,
            }
            .into());
        }
        Ok(())
    }

    /// `out[M, N] = alpha * x[M, K] . W^T` for bf16 `x` (at least `M * K` elements, 16-byte
    /// aligned); `out` holds at least `M * N` bf16. In W4A4 the input is first quantized with the
    /// layer's [`ActivationScale`] into the layer's workspace (at M = 1, by the GEMM kernel
    /// itself where it can: [`Linear::kernel_name`]).
    ///
    /// # Errors
    /// Zero or too many rows, short or misaligned buffers, launch failures.
    pub fn forward(
        &mut self,
        x: &impl DevicePtr<bf16>,
        m: usize,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        self.check_m(m)?;
        match self.act.as_mut() {
            None => self.gemm.launch(x, m, None, out),
            Some(act) => {
                if m == 1
                    && let Some(kernel) = self.gemm.quantizing.as_ref()
                {
                    return self.gemm.launch_quantizing(kernel, x, act, out);
                }
                // The output is checked before the quantizer runs, so a bad call changes nothing.
                self.gemm.check_out(out, m)?;
                let source = match act.scale {
                    ActivationScale::Dynamic => ScaleSource::Dynamic(&mut act.gs),
                    ActivationScale::Static(_) => ScaleSource::Static(&act.gs),
                };
                // One pass: the quantized activations' exact bf16 values, in the layout the GEMM
                // kernel for this M reads.
                let permuted = match self.gemm.permuted_input(m) {
                    Some(buf) => {
                        act.quantizer.quantize_exact_permuted(x, m, source, buf)?;
                        true
                    }
                    None => {
                        act.quantizer.quantize_exact(x, m, source, &mut act.exact)?;
                        false
                    }
                };
                let scale = match act.scale {
                    ActivationScale::Dynamic => (&act.gs, ScaleKind::Encode),
                    ActivationScale::Static(_) => (&act.dec, ScaleKind::Decode),
                };
                if permuted {
                    self.gemm.launch_permuted(m, scale, out)
                } else {
                    self.gemm.launch(&act.exact, m, Some(scale), out)
                }
            }
        }
    }

    /// W4A4 with activations already quantized: `codes` `[M, K/2]`, swizzled `scales`
    /// (`ScaleLayout::Swizzled.len(M, K/16)` bytes), and their decode scale `dec` (one f32 in
    /// device memory, finite and positive: it is read on the device, and a bad value makes the
    /// output NaN or zero rather than an error). Errors in W4A16 mode.
    ///
    /// # Errors
    /// Zero or too many rows, a W4A16 layer, short or misaligned buffers, launch failures.
    pub fn forward_quantized(
        &mut self,
        codes: &impl DevicePtr<u8>,
        scales: &impl DevicePtr<u8>,
        dec: &CudaSlice<f32>,
        m: usize,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        self.check_m(m)?;
        let Some(act) = self.act.as_mut() else {
            return Err(ShapeError::InvalidParam {
                what: "forward_quantized on a W4A16 layer",
                value: m,
            }
            .into());
        };
        self.gemm.check_out(out, m)?;
        let scale = (dec, ScaleKind::Decode);
        match self.gemm.permuted_input(m) {
            Some(buf) => {
                act.quantizer
                    .dequantize_permuted(codes, scales, m, &act.one, buf)?;
                self.gemm.launch_permuted(m, scale, out)
            }
            None => {
                act.quantizer
                    .dequantize(codes, scales, m, &act.one, &mut act.exact)?;
                self.gemm.launch(&act.exact, m, Some(scale), out)
            }
        }
    }
}

impl WeightGemm {
    /// The kernel variant for `m` rows and its launch configuration: one CTA per units of
    /// 16-row weight tiles (see [`GemmKernel`]) and per 1, 4, 8, 16 or 24 tokens.
    fn variant(&self, m: usize) -> Result<(usize, LaunchConfig)> {
        let v = variant_index(m);
        let k = &self.kernels[v];
        Ok((
            v,
            k.kernel
                .config(self.grid(&k.choice, m), (k.choice.threads(), 1, 1))?,
        ))
    }

    /// The grid of a `gemm.cu` kernel over `m` rows: one CTA per units of 16-row weight tiles
    /// and per block of its tokens.
    fn grid(&self, choice: &KernelChoice, m: usize) -> (u32, u32, u32) {
        if let Some(split) = choice.cluster {
            return (
                (split.clusters * CLUSTER_CTAS) as u32,
                m.div_ceil(choice.tokens) as u32,
                1,
            );
        }
        (
            self.weights
                .shape
                .tiles
                .div_ceil(choice.row_tiles)
                .div_ceil(choice.units_per_cta) as u32,
            m.div_ceil(choice.tokens) as u32,
            1,
        )
    }

    /// `out = alpha * x . W^T` for bf16 `x` (`M * K`, 16-byte aligned): alpha is the weight decode
    /// scale, times the activation scale `a_scale` when there is one (W4A4). M from
    /// [`WGMMA_MIN_M`] on takes the wgmma kernel where there is one.
    fn launch(
        &mut self,
        x: &impl DevicePtr<bf16>,
        m: usize,
        a_scale: Option<(&CudaSlice<f32>, ScaleKind)>,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        let stream = self.device.stream().clone();
        let (n, k) = (self.weights.shape.n, self.weights.shape.k);
        let (x_ptr, _x) = input("x", x, &stream, m * k, 16)?;
        let (out_ptr, _o) = output("out", out, &stream, m * n, 2)?;
        if let Some(path) = self.wgmma.as_mut().filter(|_| m >= WGMMA_MIN_M) {
            return path.launch(&stream, &self.weights, Some(x_ptr), m, a_scale, out_ptr);
        }
        let (v, cfg) = self.variant(m)?;
        let w = self.weights.args(&stream, a_scale)?;
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        let kernel = &self.kernels[v];
        let per_tile = kernel.choice.cluster.map_or(0, |s| s.warps_per_tile as i32);
        let mut args = kernel_args!(
            &w.codes,
            &w.scales,
            &w.nan_rows,
            &w.dec,
            &x_ptr,
            &w.a_scale,
            &w.kind,
            &out_ptr,
            &mi,
            &ni,
            &ki,
            &per_tile
        );
        // The tile kernels take all but the last argument; the cluster kernels also the warps
        // per tile.
        let count = if kernel.choice.cluster.is_some() {
            12
        } else {
            11
        };
        // nvfp4_gemm_*(const uint4*, const u8*, const u32*, const float*, const u16*, const
        // float*, int, u16*, int, int, int): the packed weights and NaN-row words were sized by
        // PackedShape for (N, K) and uploaded whole; x holds M*K bf16 (16-byte aligned), out M*N
        // bf16; the activation scale is one f32 or null; the grid is (ceil(ceil(tiles / row
        // tiles) / units per CTA), ceil(M / tokens per CTA)) and the kernel guards rows >= M and
        // columns >= N, gives the last CTA's units past N no chunks to read, and has a unit's
        // second tile past N read its first tile's pieces again (never stored); the dynamic
        // shared memory set in Linear::new covers the kernel's rings (m1: its warps' slices of the
        // row) and partial sums.
        // nvfp4_gemm_m4_c2(..., int warps_per_tile): the same, then the warps per tile that
        // the grid of plan::ClusterSplit::clusters clusters was sized for (its clusters' tiles
        // cover N; tiles past N get no chunks and store nothing).
        // SAFETY: the arguments as above.
        unsafe { self.enqueue(kernel, &stream, cfg, &mut args[..count]) }
    }

    /// W4A4 at M = 1 on `kernel`, the layer's `nvfp4_gemm_m1q`: it quantizes `x`'s one row with
    /// the layer's activation scale (writing the dynamic encode scale and the status bit of a bad
    /// scale as the quantizer does), then runs the GEMM on it.
    fn launch_quantizing(
        &self,
        kernel: &GemmKernel,
        x: &impl DevicePtr<bf16>,
        act: &mut ActivationWorkspace,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        let stream = self.device.stream().clone();
        let (n, k) = (self.weights.shape.n, self.weights.shape.k);
        let (x_ptr, _x) = input("x", x, &stream, k, 16)?;
        let (out_ptr, _o) = output("out", out, &stream, n, 2)?;
        let w = self.weights.args(&stream, None)?;
        let (dec_ptr, _d) = input("activation decode scale", &act.dec, &stream, 1, 4)?;
        let (gs_ptr, _g) = output("gs", &mut act.gs, &stream, 1, 4)?;
        let (status_ptr, _s) = output(
            "status",
            act.quantizer.status_mut().word_mut(),
            &stream,
            1,
            4,
        )?;
        let dynamic = i32::from(matches!(act.scale, ActivationScale::Dynamic));
        // The encode scale word: read when static, written when dynamic; null in the other role
        // (the kernel's two pointers are __restrict__).
        let (gs_in, gs_out) = if dynamic == 1 {
            (0u64, gs_ptr)
        } else {
            (gs_ptr, 0u64)
        };
        let cfg = kernel.kernel.config(
            self.grid(&kernel.choice, 1),
            (kernel.choice.threads(), 1, 1),
        )?;
        let (mi, ni, ki) = (1i32, n as i32, k as i32);
        let mut args = kernel_args!(
            &w.codes,
            &w.scales,
            &w.nan_rows,
            &w.dec,
            &x_ptr,
            &dec_ptr,
            &dynamic,
            &gs_in,
            &gs_out,
            &status_ptr,
            &out_ptr,
            &mi,
            &ni,
            &ki
        );
        // SAFETY: nvfp4_gemm_m1q_t*(const uint4*, const u8*, const u32*, const float*, const u16*,
        // const float*, int, const float*, float*, u32*, u16*, int, int, int): the weights as in
        // `launch`; x holds one row of K bf16 (16-byte aligned), out N bf16; the decode scale,
        // the encode scale (gs_in when static, gs_out, written by CTA 0, when dynamic; the other
        // null) and the status are one word each; the grid covers the tiles as `m1`'s, and the
        // dynamic shared memory set in Linear::new (plan::quantizing_m1) covers the partial sums
        // and the row rounded up to 64 columns.
        unsafe { self.enqueue(kernel, &stream, cfg, &mut args) }
    }

    /// Launches one of the `gemm.cu` kernels, overlapping the previous work on the stream where
    /// the grid gives every SM a CTA (measured: 3-13% faster on the four such bench shapes), or
    /// where a CTA fills its SM, so that the next launch's CTAs start only on idle SMs or in place
    /// of finished CTAs (measured: the 16-token ring kernels at M = 16, 2048x7168 6.5 -> 5.8 µs,
    /// 4096x7168 9.8 -> 9.0, 7168x16384 30.5 -> 29.4; `m1` and `m4` on 2048x7168, 128 CTAs
    /// reserving plan::EXCLUSIVE_SHARED_BYTES, 4.9 -> 4.2 and 5.0 -> 4.3 µs, where the same
    /// overlap with room for the next launch's CTAs beside every running one had been up to 20%
    /// slower).
    ///
    /// # Safety
    /// `args` are valid arguments of `kernel` for `cfg`, as [`Kernel::launch`] requires.
    unsafe fn enqueue(
        &self,
        kernel: &GemmKernel,
        stream: &CudaStream,
        cfg: LaunchConfig,
        args: &mut [*mut std::ffi::c_void],
    ) -> Result<()> {
        let ctas = cfg.grid_dim.0 as usize * cfg.grid_dim.1 as usize;
        if self.device.arch().major() >= 9 && (ctas >= self.sms || kernel.choice.fills_sm) {
            // SAFETY: the caller's arguments. The launch may overlap the previous work on the
            // stream: the kernels copy their first chunks of weights (written by no kernel, only
            // uploaded in Linear::new), then wait for that work (`pdl_wait`) before they read the
            // activations or the activation scale or write the output, the encode scale or the
            // status.
            unsafe { kernel.kernel.launch_overlapping(stream, cfg, args) }
        } else {
            // SAFETY: the caller's arguments.
            unsafe { kernel.kernel.launch(stream, cfg, args) }
        }
    }

    /// Checks `out` for `m` output rows before anything is enqueued.
    fn check_out(&self, out: &mut impl DevicePtrMut<bf16>, m: usize) -> Result<()> {
        let stream = self.device.stream().clone();
        drop(output("out", out, &stream, m * self.weights.shape.n, 2)?);
        Ok(())
    }

    /// Where the wgmma path wants its activations for `m` rows (in its K order), if it takes them.
    fn permuted_input(&mut self, m: usize) -> Option<&mut CudaSlice<bf16>> {
        self.wgmma
            .as_mut()
            .filter(|_| m >= WGMMA_MIN_M)
            .map(|path| &mut path.permuted)
    }

    /// The wgmma path on activations already written into [`WeightGemm::permuted_input`].
    fn launch_permuted(
        &mut self,
        m: usize,
        scale: (&CudaSlice<f32>, ScaleKind),
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        let stream = self.device.stream().clone();
        let (out_ptr, _o) = output("out", out, &stream, m * self.weights.shape.n, 2)?;
        let Some(path) = self.wgmma.as_mut() else {
            return Err(ShapeError::InvalidParam {
                what: "M for a layer without the wgmma path",
                value: m,
            }
            .into());
        };
        path.launch(&stream, &self.weights, None, m, Some(scale), out_ptr)
    }
}
