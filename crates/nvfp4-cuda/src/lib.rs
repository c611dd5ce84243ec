//! CUDA runtime for the NVFP4 kernels: devices, NVRTC compilation to CUBIN, a per-device module
//! registry, launching and timing.
//!
//! Built on [cudarc] with dynamic loading: the crate builds and links on machines with no CUDA at
//! all, and a missing driver, GPU or NVRTC is an [`Error`] at run time, never a panic or a build
//! failure, so callers carry no `#[cfg]`.
//!
//! # Layers
//!
//! | module       | what it holds                                                                |
//! |--------------|------------------------------------------------------------------------------|
//! | [`error`]    | [`Error`], the one error enum, and [`Result`]                                 |
//! | [`arch`]     | [`Arch`]: compute capability to NVRTC target (`sm_90a`, `sm_100a`, ...)      |
//! | [`device`]   | [`Device`]: context, the stream all work goes on, architecture              |
//! | [`sources`]  | [`KERNEL_SOURCES`] and [`HEADERS`]: `kernels/*.cu` / `*.cuh`, embedded        |
//! | [`compile`](mod@compile) | [`compile()`]: NVRTC to CUBIN with in-memory headers; the options |
//! | [`ptxas`]    | [`parse_ptxas_log`]: registers, shared memory and spills per kernel          |
//! | [`cache`]    | the on-disk CUBIN cache key (FNV-1a of source, headers, options, NVRTC)      |
//! | [`registry`] | [`KernelRegistry`]: compile once per (source, arch, defines), load, keep     |
//! | [`module`]   | [`Module`]: a loaded CUBIN, its functions and their resources               |
//! | [`launch`]   | [`Kernel`]: a function with its dynamic shared memory; checked configs       |
//! | [`timer`]    | [`GpuTimer`]: CUDA-event timing for benches                                  |
//! | [`buffer`]   | checked device addresses (length, alignment) for kernel arguments            |
//! | [`status`]   | [`status::DeviceStatus`]: the device status word and its bits (SPEC 7)       |
//! | [`quantize`] | [`quantize::Quantizer`]: bf16 <-> NVFP4 on the GPU, static or dynamic `gs`   |
//!
//! Below these sit cudarc's own layers (`sys` bindings, `result` status checks, `safe` RAII
//! handles); this crate uses the safe layer except for NVRTC program creation and CUBIN
//! extraction, which live in [`compile`](mod@compile) alone.
//!
//! # Walk-through
//!
//! ```no_run
//! use cudarc::driver::PushKernelArg;
//! use nvfp4_cuda::{Device, KernelRegistry};
//!
//! let gpu = Device::new(0)?; // Error::NoDriver / NoDevice on machines without one
//! let registry = KernelRegistry::new(&gpu); // per device; compile at construction time
//! let fill = registry.get("smoke.cu", &[("SMOKE_ADD", "1u")])?.kernel("smoke_fill_u32", 0)?;
//!
//! let n = 1024i32;
//! let mut out = gpu.stream().alloc_zeros::<u32>(n as usize)?;
//! let cfg = fill.config((4, 1, 1), (256, 1, 1))?;
//! // SAFETY: smoke_fill_u32(unsigned*, unsigned, int) writes out[0..n); `out` holds n words.
//! unsafe { fill.builder(gpu.stream()).arg(&mut out).arg(&10u32).arg(&n).launch(cfg) }?;
//! let host = gpu.stream().clone_dtoh(&out)?; // synchronises
//! assert_eq!(host[3], 10 + 3 + 1);
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```
//!
//! GPU tests are `#[ignore = "needs a CUDA GPU"]`; `cargo xtask gpu-bundle` packages them for a
//! GPU machine, and `cargo xtask kernels` compiles every source with a pinned NVRTC where there is
//! no GPU.

#![warn(missing_docs)]

pub mod arch;
pub mod buffer;
pub mod cache;
pub mod compile;
pub mod device;
pub mod error;
pub mod launch;
pub mod linear;
pub mod module;
pub mod pack;
pub mod ptxas;
pub mod quantize;
pub mod registry;
pub mod sources;
pub mod status;
pub mod tensor_map;
pub mod timer;

pub use arch::Arch;
pub use cache::KERNEL_CACHE_ENV;
pub use compile::{
    BASE_OPTIONS, Cubin, NVRTC_MIN, NVRTC_PINNED, compile, compile_options, nvrtc_version,
};
pub use device::Device;
pub use error::{Error, Result};
pub use launch::Kernel;
pub use module::Module;
pub use ptxas::{KernelResources, parse_ptxas_log};
pub use registry::KernelRegistry;
pub use sources::{HEADERS, KERNEL_SOURCES, KernelSource, kernel_source};
pub use timer::GpuTimer;

/// cudarc, re-exported so that callers use the same version.
pub use cudarc;
