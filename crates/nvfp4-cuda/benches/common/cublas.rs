//! The cuBLASLt BF16 baseline the benches compare against: `D = X · Wᵀ` with bf16 inputs and
//! output, f32 accumulation, on the device's stream.
//!
//! cuBLASLt is loaded at run time like the rest of cudarc (`libcublasLt.so`, then
//! `libcublasLt.so.13`, ...: the names `cudarc::get_lib_name_candidates("cublasLt")` lists, through
//! the dynamic loader's search path), so the benches build everywhere and [`BaselineGemm::new`]
//! returns an error, not a panic, where the library cannot be found.
//!
//! ```ignore
//! let dev = nvfp4_cuda::Device::new(0)?;
//! BaselineGemm::self_test(&dev)?; // transposes right: every output of a small non-square case
//! let mut gemm = BaselineGemm::new(&dev, 128, 7168, 2048)?;
//! gemm.check()?; // sampled outputs of this shape against f64 dot products
//! let t = time_gpu(&dev, 10, 100, || gemm.run());
//! println!("{:.0} TFLOPS", tflops(128, 7168, 2048, t.as_secs_f64()));
//! ```
//!
//! # Layout
//!
//! Our matrices are row-major and cuBLAS's are column-major; a row-major `R×C` matrix with row
//! stride `C` is the column-major `C×R` matrix (its transpose) with leading dimension `C`. So
//!
//! * `X [M,K]` row-major is `Xᵀ`, `K×M` column-major, `ld = K`;
//! * `W [N,K]` row-major (a PyTorch `Linear` weight) is `Wᵀ`, `K×N` column-major, `ld = K`;
//! * `D [M,N]` row-major is `Dᵀ`, `N×M` column-major, `ld = N`.
//!
//! We want `D = X·Wᵀ`, i.e. `Dᵀ = W·Xᵀ`: cuBLAS's `C (m×n) = op(A)·op(B)` with `m = N`, `n = M`,
//! `k = K`, `A` = the `W` buffer (stored `K×N`, `transa = T` makes it `W`, `N×K`), `B` = the `X`
//! buffer (stored `K×M` = `Xᵀ`, `transb = N`), `C = D` (stored `N×M`, `ld = N`). This is the "TN"
//! layout, the one cuBLASLt's fastest Hopper/Blackwell kernels (and all its FP8 ones) take.

use std::ffi::c_void;
use std::mem::size_of;
use std::sync::Arc;

use cudarc::cublaslt::{result, sys};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use half::bf16;
use nvfp4_cuda::Device;

/// The cuBLASLt workspace: NVIDIA's recommendation for Hopper and Blackwell is 32 MiB.
pub const WORKSPACE_BYTES: usize = 32 << 20;

/// `cublasOperation_t` values (`cublas_api.h`), which cudarc's cuBLASLt bindings do not carry.
const CUBLAS_OP_N: i32 = 0;
const CUBLAS_OP_T: i32 = 1;

/// Seeds of the generated inputs (see [`input_value`]).
const SEED_X: u64 = 1;
const SEED_W: u64 = 2;

/// A cuBLASLt BF16 GEMM `D [M,N] = X [M,K] · W [N,K]ᵀ`, all row-major, with its inputs, output,
/// workspace and heuristic-chosen algorithm set up once, so that [`BaselineGemm::run`] only
/// enqueues the `cublasLtMatmul` call.
pub struct BaselineGemm {
    m: usize,
    n: usize,
    k: usize,
    // Drop order is declaration order: the descriptors go before the handle.
    desc: MatmulDesc,
    w_layout: Layout,
    x_layout: Layout,
    d_layout: Layout,
    algo: sys::cublasLtMatmulAlgo_t,
    handle: Handle,
    x: CudaSlice<bf16>,
    w: CudaSlice<bf16>,
    d: CudaSlice<bf16>,
    workspace: CudaSlice<u8>,
    stream: Arc<CudaStream>,
}

impl BaselineGemm {
    /// Sets up `D = X · Wᵀ` for `X [m,k]`, `W [n,k]`, `D [m,n]` on `dev`: uploads generated inputs
    /// (uniform in [-1, 1), a fixed function of the element index; see [`BaselineGemm::check`]),
    /// and asks cuBLASLt's heuristic for its best algorithm with a [`WORKSPACE_BYTES`] workspace.
    ///
    /// # Errors
    /// A message if a size is zero, libcublasLt cannot be loaded, or a driver or cuBLASLt call
    /// fails (including no algorithm for this shape).
    pub fn new(dev: &Device, m: usize, n: usize, k: usize) -> Result<Self, String> {
        if m == 0 || n == 0 || k == 0 {
            return Err(format!("BaselineGemm: empty shape M={m} N={n} K={k}"));
        }
        // SAFETY: dlopen of libcublasLt runs only its initialisers; the probe tries the names that
        // the first cuBLASLt call would (which panics where none loads) in the same order.
        if !unsafe { sys::is_culib_present() } {
            return Err(format!(
                "cuBLASLt not found: none of {:?} loads; put the CUDA toolkit's lib64 (e.g. \
                 /usr/local/cuda/lib64) on LD_LIBRARY_PATH",
                cudarc::get_lib_name_candidates("cublasLt")
            ));
        }
        let stream = dev.stream().clone();
        let drv = |e: cudarc::driver::DriverError| format!("BaselineGemm: driver: {e}");
        dev.context().bind_to_thread().map_err(drv)?;

        let x = stream.clone_htod(&inputs(SEED_X, m * k)).map_err(drv)?;
        let w = stream.clone_htod(&inputs(SEED_W, n * k)).map_err(drv)?;
        let d = stream.alloc_zeros::<bf16>(m * n).map_err(drv)?;
        let workspace = stream.alloc_zeros::<u8>(WORKSPACE_BYTES).map_err(drv)?;

        let handle = Handle(result::create_handle().map_err(blas("cublasLtCreate"))?);
        let bf = sys::cudaDataType_t::CUDA_R_16BF;
        let (m64, n64, k64) = (m as u64, n as u64, k as u64);
        // Stored shapes (rows × cols, column-major) and leading dimensions: see the module docs.
        let layout = |rows: u64, cols: u64, ld: u64| {
            result::create_matrix_layout(bf, rows, cols, ld as i64)
                .map(Layout)
                .map_err(blas("cublasLtMatrixLayoutCreate"))
        };
        let w_layout = layout(k64, n64, k64)?; // A: W buffer, K×N, op T
        let x_layout = layout(k64, m64, k64)?; // B: X buffer, K×M, op N
        let d_layout = layout(n64, m64, n64)?; // C = D: N×M
        let desc = MatmulDesc(
            result::create_matmul_desc(
                sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                sys::cudaDataType_t::CUDA_R_32F, // alpha, beta
            )
            .map_err(blas("cublasLtMatmulDescCreate"))?,
        );
        for (attr, op) in [
            (
                sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                CUBLAS_OP_T,
            ),
            (
                sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSB,
                CUBLAS_OP_N,
            ),
        ] {
            // SAFETY: `desc` is live; TRANSA/TRANSB take an int32 cublasOperation_t, which `op`
            // is, read from the pointer during the call.
            unsafe {
                result::set_matmul_desc_attribute(
                    desc.0,
                    attr,
                    (&raw const op).cast(),
                    size_of::<i32>(),
                )
            }
            .map_err(blas("cublasLtMatmulDescSetAttribute"))?;
        }
        let pref = Preference(
            result::create_matmul_pref().map_err(blas("cublasLtMatmulPreferenceCreate"))?,
        );
        let max_workspace = WORKSPACE_BYTES;
        // SAFETY: `pref` is live; MAX_WORKSPACE_BYTES takes a uint64 (usize here, 64-bit).
        unsafe {
            result::set_matmul_pref_attribute(
                pref.0,
                sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                (&raw const max_workspace).cast(),
                size_of::<usize>(),
            )
        }
        .map_err(blas("cublasLtMatmulPreferenceSetAttribute"))?;
        // SAFETY: the handle, descriptor, layouts and preference are live; C and D share a layout.
        let heuristic = unsafe {
            result::get_matmul_algo_heuristic(
                handle.0, desc.0, w_layout.0, x_layout.0, d_layout.0, d_layout.0, pref.0,
            )
        }
        .map_err(blas(&format!(
            "no cuBLASLt algorithm for bf16 M={m} N={n} K={k}"
        )))?;
        if heuristic.workspaceSize > WORKSPACE_BYTES {
            return Err(format!(
                "BaselineGemm: the algorithm wants {} workspace bytes, over {WORKSPACE_BYTES}",
                heuristic.workspaceSize
            ));
        }
        stream.synchronize().map_err(drv)?; // the uploads are done before anyone times `run`
        Ok(Self {
            m,
            n,
            k,
            desc,
            w_layout,
            x_layout,
            d_layout,
            algo: heuristic.algo,
            handle,
            x,
            w,
            d,
            workspace,
            stream,
        })
    }

    /// `(M, N, K)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.m, self.n, self.k)
    }

    /// The output `D [M,N]`, row-major, on the device.
    pub fn output(&self) -> &CudaSlice<bf16> {
        &self.d
    }

    /// Enqueues `D = X · Wᵀ` on the device's stream and returns without waiting.
    ///
    /// # Panics
    /// If cuBLASLt rejects the call (see [`BaselineGemm::try_run`]).
    pub fn run(&mut self) {
        if let Err(e) = self.try_run() {
            panic!("{e}");
        }
    }

    /// [`BaselineGemm::run`], returning cuBLASLt's error instead of panicking.
    ///
    /// # Errors
    /// A message with cuBLASLt's status if the launch fails.
    pub fn try_run(&mut self) -> Result<(), String> {
        let (alpha, beta) = (1.0f32, 0.0f32);
        let s = &self.stream;
        // cuBLASLt runs in the calling thread's current context (a no-op when already bound).
        s.context()
            .bind_to_thread()
            .map_err(|e| format!("BaselineGemm: driver: {e}"))?;
        let (w, _w) = self.w.device_ptr(s);
        let (x, _x) = self.x.device_ptr(s);
        let (d, _d) = self.d.device_ptr_mut(s);
        let (ws, _ws) = self.workspace.device_ptr_mut(s);
        // SAFETY: all descriptors and the handle live as long as `self`; the layouts describe the
        // buffers exactly (W n·k, X m·k, D m·n elements, allocated in `new` with those sizes and
        // never resized); alpha and beta are f32 host values (the descriptor's scale type, default
        // host pointer mode) read during the call; the workspace holds WORKSPACE_BYTES bytes; the
        // algorithm came from the heuristic for these very descriptors.
        unsafe {
            result::matmul(
                self.handle.0,
                self.desc.0,
                (&raw const alpha).cast(),
                (&raw const beta).cast(),
                w as *const c_void,
                self.w_layout.0,
                x as *const c_void,
                self.x_layout.0,
                d as *const c_void,
                self.d_layout.0,
                d as *mut c_void,
                self.d_layout.0,
                &raw const self.algo,
                ws as *mut c_void,
                WORKSPACE_BYTES,
                s.cu_stream() as sys::cudaStream_t,
            )
        }
        .map_err(|e| {
            let (m, n, k) = (self.m, self.n, self.k);
            format!("cublasLtMatmul bf16 M={m} N={n} K={k}: {e}")
        })
    }

    /// Runs once and compares outputs against f64 dot products of the same bf16 inputs on the
    /// CPU: all of them when `M·N ≤ 4096`, else 32 (the four corners and 28 spread ones). The
    /// tolerance is bf16 output rounding (2⁻⁸ relative) plus the worst-case f32 accumulation
    /// error (`K·2⁻²⁴·Σ|x·w|`), far below what a wrong transpose or stride gives.
    ///
    /// # Errors
    /// The first mismatching coordinate with both values, or a driver/cuBLASLt error.
    pub fn check(&mut self) -> Result<(), String> {
        let (m, n, k) = (self.m, self.n, self.k);
        self.try_run()?;
        self.stream
            .synchronize()
            .map_err(|e| format!("BaselineGemm::check: {e}"))?;
        let coords: Vec<(usize, usize)> = if m * n <= 4096 {
            (0..m).flat_map(|i| (0..n).map(move |j| (i, j))).collect()
        } else {
            let mut c = vec![(0, 0), (0, n - 1), (m - 1, 0), (m - 1, n - 1)];
            c.extend((0..28u64).map(|t| {
                let h = splitmix64(0xC0FFEE ^ t);
                ((h % m as u64) as usize, ((h >> 32) % n as u64) as usize)
            }));
            c
        };
        let whole = if m * n <= 4096 {
            Some(
                self.stream
                    .clone_dtoh(&self.d)
                    .map_err(|e| format!("BaselineGemm::check: {e}"))?,
            )
        } else {
            None
        };
        for (i, j) in coords {
            let got = match &whole {
                Some(d) => d[i * n + j],
                None => {
                    let one = self.d.slice(i * n + j..i * n + j + 1);
                    self.stream
                        .clone_dtoh(&one)
                        .map_err(|e| format!("BaselineGemm::check: {e}"))?[0]
                }
            };
            let (mut dot, mut abs) = (0.0f64, 0.0f64);
            for kk in 0..k {
                let p = f64::from(input_value(SEED_X, i * k + kk).to_f32())
                    * f64::from(input_value(SEED_W, j * k + kk).to_f32());
                dot += p;
                abs += p.abs();
            }
            let got = f64::from(got.to_f32());
            let tol = dot.abs() / 256.0 + k as f64 * abs / f64::from(1u32 << 24) + 1e-6;
            if (got - dot).abs() > tol || !got.is_finite() {
                return Err(format!(
                    "cuBLASLt bf16 M={m} N={n} K={k}: D[{i},{j}] = {got}, CPU f64 says {dot} \
                     (tolerance {tol:.3e})"
                ));
            }
        }
        Ok(())
    }

    /// [`BaselineGemm::check`] on a small non-square case (`M=5, N=24, K=40`, every output), so a
    /// transposed operand or a wrong leading dimension cannot pass.
    ///
    /// # Errors
    /// As [`BaselineGemm::new`] and [`BaselineGemm::check`].
    pub fn self_test(dev: &Device) -> Result<(), String> {
        Self::new(dev, 5, 24, 40)?.check()
    }
}

/// Dense-GEMM throughput in TFLOPS: `2·M·N·K` flops in `seconds`.
pub fn tflops(m: usize, n: usize, k: usize, seconds: f64) -> f64 {
    2.0 * m as f64 * n as f64 * k as f64 / seconds / 1e12
}

/// Element `idx` of the input with `seed`: uniform in [-1, 1), rounded to bf16, a pure function
/// so that [`BaselineGemm::check`] recomputes inputs without keeping host copies.
pub fn input_value(seed: u64, idx: usize) -> bf16 {
    let h = splitmix64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ idx as u64);
    // 24 random bits to [-1, 1), exact in f32.
    bf16::from_f32((h >> 40) as f32 / (1u32 << 23) as f32 - 1.0)
}

/// Formats a cuBLASLt error of the call `what`.
fn blas(what: &str) -> impl FnOnce(result::CublasError) -> String + '_ {
    move |e| format!("BaselineGemm: {what}: {e}")
}

fn inputs(seed: u64, len: usize) -> Vec<bf16> {
    (0..len).map(|i| input_value(seed, i)).collect()
}

/// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// RAII owners of the cuBLASLt objects. A failed destroy in `drop` is ignored: the process is a
// bench and nothing could act on it.

struct Handle(sys::cublasLtHandle_t);
struct Layout(sys::cublasLtMatrixLayout_t);
struct MatmulDesc(sys::cublasLtMatmulDesc_t);
struct Preference(sys::cublasLtMatmulPreference_t);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by cublasLtCreate in `new`, destroyed once, after the descriptors.
        let _ = unsafe { result::destroy_handle(self.0) };
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        // SAFETY: created by cublasLtMatrixLayoutCreate and owned by this wrapper alone.
        let _ = unsafe { result::destroy_matrix_layout(self.0) };
    }
}

impl Drop for MatmulDesc {
    fn drop(&mut self) {
        // SAFETY: created by cublasLtMatmulDescCreate and owned by this wrapper alone.
        let _ = unsafe { result::destroy_matmul_desc(self.0) };
    }
}

impl Drop for Preference {
    fn drop(&mut self) {
        // SAFETY: created by cublasLtMatmulPreferenceCreate and owned by this wrapper alone.
        let _ = unsafe { result::destroy_matmul_pref(self.0) };
    }
}
