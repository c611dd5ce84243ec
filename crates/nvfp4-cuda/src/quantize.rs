//! The quantizer runner: bf16 `[rows, K]` to NVFP4 codes and scales on the GPU, and back, bit for
//! bit as `nvfp4-cpu`'s `quantize` and `dequantize` (kernels in `kernels/quantize.cu`).
//!
//! Built once per `(K, max_rows, layout)`: the kernels are compiled and the small device buffers
//! (the amax word, the status word) allocated in [`Quantizer::new`]. [`Quantizer::quantize`] then
//! only enqueues work on the device's stream: no allocation, no host-device copy, no
//! synchronisation, so a call can be captured in a CUDA graph and replayed. The global scale lives
//! in device memory in both modes, so a replayed graph picks up a new static value or a new
//! tensor's amax.
//!
//! ```no_run
//! use nvfp4_core::{bf16, layout::ScaleLayout};
//! use nvfp4_cuda::{Device, KernelRegistry, quantize::{Quantizer, ScaleSource}};
//!
//! let gpu = Device::new(0)?;
//! let mut q = Quantizer::new(&KernelRegistry::new(&gpu), 7168, 128, ScaleLayout::Swizzled)?;
//! let s = gpu.stream();
//! let x = s.clone_htod(&vec![bf16::from_f32(0.5); 4 * 7168])?;
//! let (mut codes, mut scales) = (s.alloc_zeros::<u8>(q.codes_len(4))?, s.alloc_zeros::<u8>(q.scales_len(4)?)?);
//! let mut gs = s.alloc_zeros::<f32>(1)?;
//! q.quantize(&x, 4, ScaleSource::Dynamic(&mut gs), &mut codes, &mut scales)?; // gs = 2688 / 0.5
//! assert_eq!(q.status().read(s)?, 0);
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```

use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};
use half::bf16;
use nvfp4_core::Error as ShapeError;
use nvfp4_core::block::BLOCK;
use nvfp4_core::layout::ScaleLayout;

use crate::buffer::{input, output};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernel_args;
use crate::launch::{Kernel, grid_dim};
use crate::registry::KernelRegistry;
use crate::status::DeviceStatus;

/// Scale blocks per thread of the dequantizer in `quantize.cu` (`kBlocksPerThread`).
const BLOCKS_PER_THREAD: usize = 4;
/// Threads per CUDA block.
const THREADS: u32 = 256;
/// Inputs up to this many elements (32 KiB of bf16: one token of K = 16384) take the one-CTA
/// fused quantizer when the scale is dynamic and the output is exact values, row-major: one launch
/// instead of a memset, the amax kernel and the quantizer. Measured on the H100 (W4A4 forward,
/// against the three launches): 2.5-3.5 µs faster at 7-16 Ki elements, 2-5 µs slower at 25-32 Ki
/// (one SM's arithmetic then outweighs the two launches saved).
const FUSED_MAX_ELEMENTS: usize = 16 * 1024;
/// Threads of the fused quantizer's one CTA.
const FUSED_THREADS: u32 = 1024;

/// Where the encode scale `gs` comes from.
#[derive(Debug)]
pub enum ScaleSource<'a> {
    /// A calibrated `gs` (one f32 in device memory), read when the kernel runs.
    Static(&'a CudaSlice<f32>),
    /// `gs = 2688 / amax(x)` computed on the device; the value used is written here (NaN if the
    /// amax was not finite, with [`crate::status::BAD_SCALE`] set).
    Dynamic(&'a mut CudaSlice<f32>),
}

/// Where the quantizer writes: codes and scales, or exact bf16 values (row-major or permuted).
#[derive(Clone, Copy)]
enum Target {
    Codes(u64, u64),
    Exact(u64, bool),
}

/// Quantize and dequantize kernels for one `K` and layout, with their device buffers.
#[derive(Debug)]
pub struct Quantizer {
    device: Device,
    k: usize,
    max_rows: usize,
    layout: ScaleLayout,
    /// Into codes and scales: static, dynamic `gs`.
    quantize: [Kernel; 2],
    /// Into exact bf16 values: `[row-major, wgmma K order][static, dynamic]`.
    quantize_exact: [[Kernel; 2]; 2],
    dequantize: Kernel,
    /// Swizzled layout only: the dequantizer into `gemm_wgmma.cu`'s K order.
    dequantize_permuted: Option<Kernel>,
    amax: Kernel,
    /// Small inputs, dynamic `gs`, exact values row-major: amax and quantizer in one CTA.
    quantize_exact_fused: Kernel,
    amax_grid: u32,
    row_grid: usize,
    amax_word: CudaSlice<u32>,
    status: DeviceStatus,
}

impl Quantizer {
    /// Compiles the kernels for `K` columns (a positive multiple of 16) and up to `max_rows` rows.
    ///
    /// # Errors
    /// [`Error::Shape`] for a bad `K` or sizes beyond `i32`; compile and driver errors.
    pub fn new(
        registry: &KernelRegistry,
        k: usize,
        max_rows: usize,
        layout: ScaleLayout,
    ) -> Result<Self> {
        nvfp4_core::plan::GemmShape::new(max_rows.max(1), 1, k)?;
        let too_big = |what, value| Error::Shape(ShapeError::InvalidParam { what, value });
        let elements = max_rows
            .checked_mul(k)
            .ok_or(too_big("rows * K", max_rows))?;
        if k > 1 << 30 || i32::try_from(max_rows).is_err() || i64::try_from(elements).is_err() {
            return Err(too_big(
                "rows (beyond i32) or K (beyond 2^30)",
                max_rows.max(k),
            ));
        }
        let device = registry.device().clone();
        let module = registry.get("quantize.cu", &[])?;
        let name = |op: &str| match layout {
            ScaleLayout::Linear => format!("nvfp4_{op}_bf16_linear"),
            ScaleLayout::Swizzled => format!("nvfp4_{op}_bf16_swizzled"),
        };
        let stream = device.stream().clone();
        Ok(Quantizer {
            quantize: [
                module.kernel(&(name("quantize") + "_static"), 0)?,
                module.kernel(&(name("quantize") + "_dynamic"), 0)?,
            ],
            quantize_exact: [
                [
                    module.kernel("nvfp4_quantize_exact_rows_static", 0)?,
                    module.kernel("nvfp4_quantize_exact_rows_dynamic", 0)?,
                ],
                [
                    module.kernel("nvfp4_quantize_exact_permuted_static", 0)?,
                    module.kernel("nvfp4_quantize_exact_permuted_dynamic", 0)?,
                ],
            ],
            dequantize: module.kernel(&name("dequantize"), 0)?,
            dequantize_permuted: match layout {
                ScaleLayout::Swizzled => {
                    Some(module.kernel("nvfp4_dequantize_bf16_swizzled_permuted", 0)?)
                }
                ScaleLayout::Linear => None,
            },
            amax: module.kernel("nvfp4_amax_bf16", 0)?,
            quantize_exact_fused: module.kernel("nvfp4_quantize_exact_rows_fused", 0)?,
            amax_grid: device.sm_count()? * 8,
            row_grid: device.sm_count()? as usize * 16,
            amax_word: stream.alloc_zeros(1)?,
            status: DeviceStatus::new(&stream)?,
            device,
            k,
            max_rows,
            layout,
        })
    }

    /// Columns K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The scale layout written and read.
    pub fn layout(&self) -> ScaleLayout {
        self.layout
    }

    /// Bytes of codes for `rows` rows.
    pub fn codes_len(&self, rows: usize) -> usize {
        rows * self.k / 2
    }

    /// Bytes of scales for `rows` rows, padding included.
    pub fn scales_len(&self, rows: usize) -> Result<usize> {
        Ok(self.layout.len(rows, self.k / BLOCK)?)
    }

    /// The status word that the kernels report bad scales into.
    pub fn status(&self) -> &DeviceStatus {
        &self.status
    }

    /// The status word, mutably (to clear it).
    pub fn status_mut(&mut self) -> &mut DeviceStatus {
        &mut self.status
    }

    fn check_rows(&self, rows: usize) -> Result<()> {
        if rows == 0 {
            return Err(ShapeError::ZeroDim { dim: "rows" }.into());
        }
        if rows > self.max_rows {
            return Err(ShapeError::TooManyRows {
                rows,
                max: self.max_rows,
            }
            .into());
        }
        Ok(())
    }

    /// The quantizer's grid: 256-thread blocks that walk whole (padded, when swizzled) rows.
    fn quantize_grid(&self, kernel: &Kernel, rows: usize) -> Result<cudarc::driver::LaunchConfig> {
        let grid_rows = match self.layout {
            ScaleLayout::Swizzled => rows.div_ceil(128) * 128,
            ScaleLayout::Linear => rows,
        };
        kernel.config((grid_rows.min(self.row_grid) as u32, 1, 1), (THREADS, 1, 1))
    }

    /// The dequantizer's grid: one thread per 4 scale blocks of a row.
    fn dequantize_grid(
        &self,
        kernel: &Kernel,
        rows: usize,
    ) -> Result<cudarc::driver::LaunchConfig> {
        let threads = rows * (self.k / BLOCK).div_ceil(BLOCKS_PER_THREAD);
        kernel.config(
            (grid_dim(threads.div_ceil(THREADS as usize)), 1, 1),
            (THREADS, 1, 1),
        )
    }

    /// Quantizes `x` (`[rows, K]`, at least `rows * K` elements, 16-byte aligned) into `codes`
    /// (`codes_len(rows)` bytes, 8-byte aligned) and `scales` (`scales_len(rows)` bytes, 4-byte
    /// aligned), padding zeroed. Enqueued on the device's stream; nothing is synchronised.
    ///
    /// # Errors
    /// Zero or too many rows, short or misaligned buffers, launch failures.
    pub fn quantize(
        &mut self,
        x: &impl DevicePtr<bf16>,
        rows: usize,
        gs: ScaleSource<'_>,
        codes: &mut impl DevicePtrMut<u8>,
        scales: &mut impl DevicePtrMut<u8>,
    ) -> Result<()> {
        self.check_rows(rows)?;
        let stream = self.device.stream().clone();
        let scales_len = self.scales_len(rows)?;
        let (codes_ptr, _c) = output("codes", codes, &stream, rows * self.k / 2, 8)?;
        let (scales_ptr, _s) = output("scales", scales, &stream, scales_len, 4)?;
        self.run(x, rows, gs, Target::Codes(codes_ptr, scales_ptr))
    }

    /// Quantizes `x` as [`Quantizer::quantize`] does, but writes the quantized tensor's exact
    /// values `e2m1 · sq` (without the decode scale, so exact in bf16) into `out` (`[rows, K]`
    /// bf16, 16-byte aligned) instead of codes and scales: one pass, bit for bit what
    /// [`Quantizer::dequantize`] with decode scale 1 gives for the codes of `quantize`. A bad `gs`
    /// writes NaN and sets [`crate::status::BAD_SCALE`]. With a dynamic `gs`, inputs up to 16 Ki
    /// elements (decode-sized) take one launch instead of three.
    ///
    /// # Errors
    /// Zero or too many rows, short or misaligned buffers, launch failures.
    pub fn quantize_exact(
        &mut self,
        x: &impl DevicePtr<bf16>,
        rows: usize,
        gs: ScaleSource<'_>,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        self.quantize_exact_into(false, x, rows, gs, out)
    }

    /// As [`Quantizer::quantize_exact`], with each output row `roundup(K, 64)` wide, every
    /// 64-column chunk in the K order of `gemm_wgmma.cu` and zero past K: the large-M GEMM's
    /// activation operand, in one pass.
    pub(crate) fn quantize_exact_permuted(
        &mut self,
        x: &impl DevicePtr<bf16>,
        rows: usize,
        gs: ScaleSource<'_>,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        self.quantize_exact_into(true, x, rows, gs, out)
    }

    fn quantize_exact_into(
        &mut self,
        permuted: bool,
        x: &impl DevicePtr<bf16>,
        rows: usize,
        gs: ScaleSource<'_>,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        self.check_rows(rows)?;
        let stream = self.device.stream().clone();
        let width = if permuted {
            self.k.div_ceil(64) * 64
        } else {
            self.k
        };
        let (out_ptr, _o) = output("out", out, &stream, rows * width, 16)?;
        self.run(x, rows, gs, Target::Exact(out_ptr, permuted))
    }

    /// Enqueues the quantizer (and, for a dynamic `gs`, the memset and amax before it) for `x`
    /// into `target`, whose buffers the caller checked; a small input with a dynamic `gs` and
    /// exact values row-major takes the one-CTA kernel that does all three.
    fn run(
        &mut self,
        x: &impl DevicePtr<bf16>,
        rows: usize,
        mut gs: ScaleSource<'_>,
        target: Target,
    ) -> Result<()> {
        let stream = self.device.stream().clone();
        let k = self.k;
        let (x_ptr, _x) = input("x", x, &stream, rows * k, 16)?;
        if let (ScaleSource::Dynamic(gs_out), Target::Exact(out_ptr, false)) = (&mut gs, target)
            && rows * k <= FUSED_MAX_ELEMENTS
        {
            let cfg = self
                .quantize_exact_fused
                .config((1, 1, 1), (FUSED_THREADS, 1, 1))?;
            let (status_ptr, _st) = output("status", self.status.word_mut(), &stream, 1, 4)?;
            let (gs_ptr, _g) = output("gs", &mut **gs_out, &stream, 1, 4)?;
            let (rows_i, k_i) = (rows as i32, k as i32);
            let mut args = kernel_args!(&x_ptr, &rows_i, &k_i, &gs_ptr, &out_ptr, &status_ptr);
            // SAFETY: nvfp4_quantize_exact_rows_fused(const u16*, int, int, float*, u16*, u32*):
            // one CTA reads x's rows*K bf16 (16-byte aligned), writes out's rows*K bf16 (checked
            // by the caller) and one word each of gs and status.
            unsafe { self.quantize_exact_fused.launch(&stream, cfg, &mut args) }?;
            return Ok(());
        }
        let dynamic = matches!(gs, ScaleSource::Dynamic(_));
        let kernel = match target {
            Target::Codes(..) => &self.quantize[usize::from(dynamic)],
            Target::Exact(_, permuted) => {
                &self.quantize_exact[usize::from(permuted)][usize::from(dynamic)]
            }
        };
        let cfg = self.quantize_grid(kernel, rows)?;
        let (status_ptr, _st) = output("status", self.status.word_mut(), &stream, 1, 4)?;
        let null = 0u64;
        let (gs_in, amax_ptr, gs_out, _g, _a) = match gs {
            ScaleSource::Static(gs) => {
                let (gs_ptr, g) = input("gs", gs, &stream, 1, 4)?;
                (gs_ptr, null, null, Some(g), None)
            }
            ScaleSource::Dynamic(gs_out) => {
                let (gs_ptr, g) = output("gs", gs_out, &stream, 1, 4)?;
                stream.memset_zeros(&mut self.amax_word)?;
                let (amax_ptr, a) = output("amax", &mut self.amax_word, &stream, 1, 4)?;
                let n = (rows * k) as i64;
                let blocks = (rows * k / 8)
                    .div_ceil(THREADS as usize)
                    .min(self.amax_grid as usize) as u32;
                let cfg = self.amax.config((blocks, 1, 1), (THREADS, 1, 1))?;
                let mut args = kernel_args!(&x_ptr, &n, &amax_ptr);
                // SAFETY: nvfp4_amax_bf16(const u16*, long long, u32*) reads x[0..n) (n a multiple
                // of 16, x 16-byte aligned and long enough) with a grid-stride loop and writes one
                // word of amax.
                unsafe { self.amax.launch(&stream, cfg, &mut args) }?;
                (null, amax_ptr, gs_ptr, Some(g), Some(a))
            }
        };
        let (rows_i, k_i) = (rows as i32, k as i32);
        match target {
            Target::Codes(codes_ptr, scales_ptr) => {
                let mut args = kernel_args!(
                    &x_ptr,
                    &rows_i,
                    &k_i,
                    &gs_in,
                    &amax_ptr,
                    &gs_out,
                    &codes_ptr,
                    &scales_ptr,
                    &status_ptr
                );
                // SAFETY: nvfp4_quantize_bf16_*(const u16*, int, int, const float*, const u32*,
                // float*, u8*, u8*, u32*): x holds rows*K bf16 (16-byte aligned), codes rows*K/2
                // bytes (8-byte aligned), scales the layout's padded length (4-byte aligned), gs,
                // amax and status one word each (null where the entry does not read them); the
                // kernel walks rows < the (padded) row count with a grid-stride loop.
                unsafe { kernel.launch(&stream, cfg, &mut args) }?;
            }
            Target::Exact(out_ptr, _) => {
                let mut args = kernel_args!(
                    &x_ptr,
                    &rows_i,
                    &k_i,
                    &gs_in,
                    &amax_ptr,
                    &gs_out,
                    &out_ptr,
                    &status_ptr
                );
                // SAFETY: nvfp4_quantize_exact_*(const u16*, int, int, const float*, const u32*,
                // float*, u16*, u32*): as above, with out holding rows*K bf16 (permuted: rows *
                // roundup(K, 64)), 16-byte aligned, checked by the caller.
                unsafe { kernel.launch(&stream, cfg, &mut args) }?;
            }
        }
        Ok(())
    }

    /// Dequantizes `codes` and `scales` of `rows` rows with decode scale `dec` (one f32 in device
    /// memory) into `out` (`[rows, K]` bf16, 16-byte aligned), rounding once, as
    /// `nvfp4_cpu::dequantize::dequantize`. A bad `dec` sets [`crate::status::BAD_SCALE`] and
    /// writes NaN.
    ///
    /// # Errors
    /// Zero or too many rows, short or misaligned buffers, launch failures.
    pub fn dequantize(
        &mut self,
        codes: &impl DevicePtr<u8>,
        scales: &impl DevicePtr<u8>,
        rows: usize,
        dec: &CudaSlice<f32>,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        self.dequantize_into(false, codes, scales, rows, dec, out)
    }

    /// As [`Quantizer::dequantize`] (swizzled layout only), but each output row is
    /// `roundup(K, 64)` wide, every 64-column chunk in the K order of `gemm_wgmma.cu` and zero
    /// past K: the large-M GEMM's activation operand, written in one pass.
    pub(crate) fn dequantize_permuted(
        &mut self,
        codes: &impl DevicePtr<u8>,
        scales: &impl DevicePtr<u8>,
        rows: usize,
        dec: &CudaSlice<f32>,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        self.dequantize_into(true, codes, scales, rows, dec, out)
    }

    fn dequantize_into(
        &mut self,
        permuted: bool,
        codes: &impl DevicePtr<u8>,
        scales: &impl DevicePtr<u8>,
        rows: usize,
        dec: &CudaSlice<f32>,
        out: &mut impl DevicePtrMut<bf16>,
    ) -> Result<()> {
        self.check_rows(rows)?;
        let stream = self.device.stream().clone();
        let k = self.k;
        let (kernel, out_len) = match (permuted, &self.dequantize_permuted) {
            (false, _) => (&self.dequantize, rows * k),
            (true, Some(kernel)) => (kernel, rows * k.div_ceil(64) * 64),
            (true, None) => {
                return Err(Error::Shape(ShapeError::InvalidParam {
                    what: "permuted dequantization of a linear-layout quantizer",
                    value: rows,
                }));
            }
        };
        let (codes_ptr, _c) = input("codes", codes, &stream, rows * k / 2, 8)?;
        let (scales_ptr, _s) = input("scales", scales, &stream, self.scales_len(rows)?, 1)?;
        let (dec_ptr, _d) = input("dec", dec, &stream, 1, 4)?;
        let (out_ptr, _o) = output("out", out, &stream, out_len, 16)?;
        let cfg = self.dequantize_grid(kernel, rows)?;
        let (status_ptr, _st) = output("status", self.status.word_mut(), &stream, 1, 4)?;
        let (rows_i, k_i) = (rows as i32, k as i32);
        let mut args = kernel_args!(
            &codes_ptr,
            &scales_ptr,
            &rows_i,
            &k_i,
            &dec_ptr,
            &out_ptr,
            &status_ptr
        );
        // SAFETY: nvfp4_dequantize_bf16_*(const u8*, const u8*, int, int, const float*, u16*, u32*)
        // reads rows*K/2 code bytes (8-byte aligned) and the layout's scales, writes rows*K bf16
        // (permuted: rows * roundup(K, 64)) 16-byte aligned; all lengths were checked above and
        // the kernel bounds-checks its index.
        unsafe { kernel.launch(&stream, cfg, &mut args) }?;
        Ok(())
    }
}
