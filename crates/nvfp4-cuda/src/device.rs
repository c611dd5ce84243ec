//! One GPU: its CUDA context, the stream all work goes on, and its architecture.
//!
//! ```no_run
//! use nvfp4_cuda::{Device, Error};
//!
//! match Device::new(0) {
//!     Ok(gpu) => println!("{} ({})", gpu.name()?, gpu.arch()),
//!     Err(Error::NoDriver | Error::NoDevice { .. }) => println!("no GPU here; skipping"),
//!     Err(e) => return Err(e),
//! }
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```

use std::sync::Arc;

use cudarc::driver::sys::{CUdevice_attribute, CUresult};
use cudarc::driver::{CudaContext, CudaStream, DriverError};

use crate::arch::Arch;
use crate::error::{Error, Result};

/// A CUDA device, ready for work: context, stream and architecture.
///
/// All work goes on [`Device::stream`], one non-blocking stream created here (not the legacy
/// NULL stream, which cannot be captured into a CUDA graph). cudarc's per-buffer event tracking is
/// turned off for this context before the stream is made: with a single stream there is nothing
/// to track, and events recorded outside a capture would break graph capture. Buffers allocated
/// through this context therefore carry no events; using one on another stream needs your own
/// synchronisation.
#[derive(Clone, Debug)]
pub struct Device {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    arch: Arch,
}

impl Device {
    /// Opens device `ordinal`.
    ///
    /// # Errors
    /// [`Error::NoDriver`] without an NVIDIA driver, [`Error::NoDevice`] if there is no such
    /// device, [`Error::UnsupportedArch`] before sm_80, [`Error::Driver`] for other driver
    /// failures.
    pub fn new(ordinal: usize) -> Result<Self> {
        let count = Self::count()?;
        if ordinal >= count {
            return Err(Error::NoDevice { ordinal, count });
        }
        let ctx = CudaContext::new(ordinal)?;
        let (major, minor) = ctx.compute_capability()?;
        let arch = Arch::from_compute_capability(major.max(0) as u32, minor.max(0) as u32)?;
        // SAFETY: no buffer exists yet in this context wrapper, and every buffer made through it
        // is used on the one stream below (the contract stated on `Device`).
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream()?;
        Ok(Self { ctx, stream, arch })
    }

    /// How many CUDA devices the driver sees (0 when the driver reports none).
    ///
    /// # Errors
    /// [`Error::NoDriver`] without an NVIDIA driver; [`Error::Driver`] if it fails to start.
    pub fn count() -> Result<usize> {
        // SAFETY: loading libcuda runs only the driver's initialisers; the probe tries the same
        // names, in the same order, that cudarc's loader uses for every later call, so it cannot
        // panic afterwards.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(Error::NoDriver);
        }
        match CudaContext::device_count() {
            Ok(n) => Ok(n.max(0) as usize),
            Err(DriverError(CUresult::CUDA_ERROR_NO_DEVICE)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.ctx.ordinal()
    }

    /// The device's architecture (compute capability), which picks the NVRTC target.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The device's marketing name, e.g. `NVIDIA H100 80GB HBM3`.
    ///
    /// # Errors
    /// [`Error::Driver`] if the driver call fails.
    pub fn name(&self) -> Result<String> {
        Ok(self.ctx.name()?)
    }

    /// The number of streaming multiprocessors (the grid size of a persistent kernel).
    ///
    /// # Errors
    /// [`Error::Driver`] if the driver call fails.
    pub fn sm_count(&self) -> Result<u32> {
        self.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
    }

    /// The most shared memory one block may use after opting in (dynamic plus static), in bytes.
    ///
    /// # Errors
    /// [`Error::Driver`] if the driver call fails.
    pub fn max_shared_bytes_per_block(&self) -> Result<u32> {
        self.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
    }

    /// One SM's shared memory, in bytes (what the blocks resident on it share).
    ///
    /// # Errors
    /// [`Error::Driver`] if the driver call fails.
    pub fn max_shared_bytes_per_sm(&self) -> Result<u32> {
        self.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR)
    }

    /// The cudarc context.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The stream all of this crate's work goes on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Blocks the host until all work queued on [`Device::stream`] has finished.
    ///
    /// # Errors
    /// [`Error::Driver`] with the first error of the queued work, if any.
    pub fn synchronize(&self) -> Result<()> {
        Ok(self.stream.synchronize()?)
    }

    fn attribute(&self, attribute: CUdevice_attribute) -> Result<u32> {
        Ok(self.ctx.attribute(attribute)?.max(0) as u32)
    }
}
