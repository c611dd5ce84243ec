//! A compiled, loaded kernel source: its functions and what ptxas reported for them.
//!
//! Modules come from [`KernelRegistry::get`](crate::KernelRegistry::get) and are shared as
//! `Arc<Module>`; a runner looks its kernels up once, at construction.
//!
//! ```no_run
//! use nvfp4_cuda::{Device, KernelRegistry};
//!
//! let registry = KernelRegistry::new(&Device::new(0)?);
//! let module = registry.get("smoke.cu", &[])?;
//! let fill = module.kernel("smoke_fill_u32", 0)?;
//! for k in module.resources() {
//!     println!("{}: {} registers", k.function, k.registers);
//! }
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```

use std::sync::Arc;

use cudarc::driver::sys::CUresult;
use cudarc::driver::{CudaFunction, CudaModule, DriverError};

use crate::arch::Arch;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::launch::Kernel;
use crate::ptxas::KernelResources;

/// A kernel source compiled for one device and set of defines, loaded into the device's context.
#[derive(Debug)]
pub struct Module {
    pub(crate) source: &'static str,
    pub(crate) options: Vec<String>,
    pub(crate) log: String,
    pub(crate) resources: Vec<KernelResources>,
    pub(crate) cuda: Arc<CudaModule>,
    pub(crate) device: Device,
}

impl Module {
    /// The kernel source's name, e.g. `smoke.cu`.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The architecture the module was compiled for.
    pub fn arch(&self) -> Arch {
        self.device.arch()
    }

    /// Every option NVRTC was given.
    pub fn options(&self) -> &[String] {
        &self.options
    }

    /// NVRTC's program log (warnings and the ptxas report).
    pub fn log(&self) -> &str {
        &self.log
    }

    /// Registers, shared memory and spills of every entry function.
    pub fn resources(&self) -> &[KernelResources] {
        &self.resources
    }

    /// The cudarc module.
    pub fn cuda_module(&self) -> &Arc<CudaModule> {
        &self.cuda
    }

    /// The entry function `name` (an `extern "C"` name, or a mangled one).
    ///
    /// # Errors
    /// [`Error::FunctionNotFound`] if the module has no such function.
    pub fn function(&self, name: &str) -> Result<CudaFunction> {
        let not_found = || Error::FunctionNotFound {
            source_name: self.source.to_owned(),
            function: name.to_owned(),
        };
        if name.contains('\0') {
            return Err(not_found()); // cudarc would panic building the C string
        }
        match self.cuda.load_function(name) {
            Ok(function) => Ok(function),
            Err(DriverError(CUresult::CUDA_ERROR_NOT_FOUND)) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }

    /// The entry function `name`, set up to launch with `dynamic_shared_bytes` of dynamic shared
    /// memory (opting in above 48 KiB). See [`Kernel`].
    ///
    /// # Errors
    /// [`Error::FunctionNotFound`], or [`Error::SharedMemory`] if the block would need more shared
    /// memory than the device allows.
    pub fn kernel(&self, name: &str, dynamic_shared_bytes: u32) -> Result<Kernel> {
        Kernel::new(
            name,
            self.function(name)?,
            dynamic_shared_bytes,
            &self.device,
        )
    }
}
