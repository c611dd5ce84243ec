//! The crate's one error type.
//!
//! Every failure is a value: a machine without a driver, a GPU or NVRTC gets a variant saying so,
//! never a panic, so callers can skip GPU work cleanly.
//!
//! ```
//! use nvfp4_cuda::{Arch, Error};
//!
//! let err = Arch::from_compute_capability(7, 5).unwrap_err();
//! assert!(matches!(err, Error::UnsupportedArch { major: 7, minor: 5 }));
//! assert_eq!(err.to_string(), "compute capability 7.5 is not supported (need sm_80 or newer)");
//! ```

use std::path::PathBuf;

pub use cudarc::driver::DriverError;
pub use cudarc::nvrtc::result::NvrtcError;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the CUDA runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CUDA driver library (`libcuda.so`) could not be loaded: no NVIDIA driver is installed.
    #[error("the CUDA driver library (libcuda) was not found: no NVIDIA driver is installed")]
    NoDriver,

    /// The driver loaded but there is no device with this ordinal.
    #[error("no CUDA device with ordinal {ordinal} ({count} visible)")]
    NoDevice {
        /// The ordinal asked for.
        ordinal: usize,
        /// How many devices the driver reports.
        count: usize,
    },

    /// A CUDA driver call failed.
    #[error("CUDA driver error: {0}")]
    Driver(#[from] DriverError),

    /// The NVRTC library (`libnvrtc.so.13` or a name cudarc also tries) could not be loaded.
    #[error(
        "the NVRTC library (libnvrtc) was not found by the dynamic loader; install the CUDA 13 \
         NVRTC or put its directory on LD_LIBRARY_PATH (`cargo xtask kernels` fetches one)"
    )]
    NvrtcUnavailable,

    /// The NVRTC library found is older than this crate supports (12.0).
    #[error("NVRTC {major}.{minor} is too old: need 12.0 or newer (13.0 is the pinned version)")]
    NvrtcTooOld {
        /// NVRTC major version.
        major: u32,
        /// NVRTC minor version.
        minor: u32,
    },

    /// An NVRTC call other than the compilation itself failed.
    #[error("NVRTC {call} failed: {source}")]
    Nvrtc {
        /// The NVRTC function that failed.
        call: &'static str,
        /// Its status.
        source: NvrtcError,
    },

    /// NVRTC rejected a kernel source; `log` is its program log.
    #[error("compiling {kernel} for {arch} failed\noptions: {options:?}\n{log}")]
    Compile {
        /// The kernel source's name, e.g. `smoke.cu`.
        kernel: String,
        /// The `--gpu-architecture` value, e.g. `sm_90a`.
        arch: &'static str,
        /// Every option passed to NVRTC.
        options: Vec<String>,
        /// The NVRTC program log (compiler and ptxas messages).
        log: String,
    },

    /// The device's compute capability is older than sm_80 or unknown to this crate.
    #[error("compute capability {major}.{minor} is not supported (need sm_80 or newer)")]
    UnsupportedArch {
        /// Compute capability major version.
        major: u32,
        /// Compute capability minor version.
        minor: u32,
    },

    /// A shape, scale or buffer-length problem found before launching (from nvfp4-core's checks).
    #[error(transparent)]
    Shape(#[from] nvfp4_core::Error),

    /// A device buffer is too short for the operation.
    #[error("device buffer {what} holds {got} elements, the operation needs {need}")]
    BufferTooSmall {
        /// Which buffer.
        what: &'static str,
        /// Elements needed.
        need: usize,
        /// Elements it holds.
        got: usize,
    },

    /// A device buffer belongs to another CUDA context (another device) than the runner.
    #[error("device buffer {what} belongs to another CUDA context than the runner")]
    WrongContext {
        /// Which buffer.
        what: &'static str,
    },

    /// A device buffer does not start at the alignment its kernel's vector accesses need.
    #[error("device buffer {what} starts at {ptr:#x}, which is not {align}-byte aligned")]
    Misaligned {
        /// Which buffer.
        what: &'static str,
        /// Its device address.
        ptr: u64,
        /// The alignment needed.
        align: u64,
    },

    /// No embedded kernel source has this name.
    #[error("no embedded kernel source is named `{0}`")]
    UnknownSource(String),

    /// A `-D` define given by the caller is not a valid preprocessor definition.
    #[error("invalid define `{name}`: {reason}")]
    InvalidDefine {
        /// The macro name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A loaded module has no function of this name.
    #[error("kernel source `{source_name}` has no function `{function}`")]
    FunctionNotFound {
        /// The kernel source the module was compiled from.
        source_name: String,
        /// The function asked for.
        function: String,
    },

    /// A kernel asks for more dynamic shared memory than the device allows per block.
    #[error(
        "{kernel} asks for {requested} bytes of dynamic shared memory; the device allows {max}"
    )]
    SharedMemory {
        /// The kernel function.
        kernel: String,
        /// Bytes asked for.
        requested: u32,
        /// The device's opt-in maximum per block.
        max: u32,
    },

    /// A launch configuration the hardware cannot run (zero-sized or too large a grid or block).
    #[error("invalid launch of {kernel}: {reason}")]
    Launch {
        /// The kernel function.
        kernel: String,
        /// What is wrong with the configuration.
        reason: String,
    },

    /// A tensor map (the bulk tensor copy engine's descriptor) for a shape the engine cannot copy.
    #[error("tensor map refused: {why}")]
    TensorMap {
        /// The rule the shape breaks.
        why: &'static str,
    },

    /// Reading or writing the on-disk kernel cache failed.
    #[error("kernel cache {path}: {source}")]
    Cache {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
