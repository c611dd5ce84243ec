//! Launching: a kernel function with its dynamic shared memory set up, and checked launch
//! configurations.
//!
//! Above 48 KiB of dynamic shared memory a kernel must opt in
//! (`cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)`); [`Kernel`] does that once, when it is
//! made, so a forward call only builds a [`LaunchConfig`] and launches through cudarc's
//! `LaunchArgs`.
//!
//! ```no_run
//! use cudarc::driver::PushKernelArg;
//! use nvfp4_cuda::{Device, KernelRegistry};
//!
//! let gpu = Device::new(0)?;
//! let fill = KernelRegistry::new(&gpu).get("smoke.cu", &[])?.kernel("smoke_fill_u32", 0)?;
//! let mut out = gpu.stream().alloc_zeros::<u32>(1000)?;
//! let (value, n) = (7u32, 1000i32);
//! let cfg = fill.config((4, 1, 1), (256, 1, 1))?;
//! // SAFETY: smoke_fill_u32(unsigned*, unsigned, int) writes out[0..n) and `out` holds n words.
//! unsafe { fill.builder(gpu.stream()).arg(&mut out).arg(&value).arg(&n).launch(cfg) }?;
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```

use cudarc::driver::sys::{self, CUfunction_attribute};
use std::ffi::c_void;

use cudarc::driver::result;
use cudarc::driver::{CudaFunction, CudaStream, LaunchArgs, LaunchConfig};

use crate::device::Device;
use crate::error::{Error, Result};

/// Dynamic shared memory a kernel may use without opting in.
pub const DEFAULT_DYNAMIC_SHARED_LIMIT: u32 = 48 * 1024;

/// CUDA's limits on grid dimensions (x, y, z).
const MAX_GRID: (u32, u32, u32) = (i32::MAX as u32, 65_535, 65_535);

/// A kernel function ready to launch with a fixed amount of dynamic shared memory.
#[derive(Clone, Debug)]
pub struct Kernel {
    name: String,
    function: CudaFunction,
    dynamic_shared_bytes: u32,
    max_threads_per_block: u32,
}

/// A grid dimension from a block count: counts beyond `u32` become `u32::MAX`, which
/// [`Kernel::config`] then refuses with a clear error instead of launching a truncated grid.
pub fn grid_dim(blocks: usize) -> u32 {
    u32::try_from(blocks).unwrap_or(u32::MAX)
}

impl Kernel {
    pub(crate) fn new(
        name: &str,
        function: CudaFunction,
        dynamic_shared_bytes: u32,
        device: &Device,
    ) -> Result<Self> {
        let static_bytes = function.shared_size_bytes()?.max(0) as u32;
        let max = device
            .max_shared_bytes_per_block()?
            .saturating_sub(static_bytes);
        if dynamic_shared_bytes > max {
            return Err(Error::SharedMemory {
                kernel: name.to_owned(),
                requested: dynamic_shared_bytes,
                max,
            });
        }
        if dynamic_shared_bytes > DEFAULT_DYNAMIC_SHARED_LIMIT {
            function.set_attribute(
                CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                dynamic_shared_bytes as i32,
            )?;
        }
        let max_threads_per_block = function.max_threads_per_block()?.max(0) as u32;
        Ok(Self {
            name: name.to_owned(),
            function,
            dynamic_shared_bytes,
            max_threads_per_block,
        })
    }

    /// The entry function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cudarc function.
    pub fn function(&self) -> &CudaFunction {
        &self.function
    }

    /// Dynamic shared memory per block, in bytes, that every launch gets.
    pub fn dynamic_shared_bytes(&self) -> u32 {
        self.dynamic_shared_bytes
    }

    /// A launch configuration with this kernel's dynamic shared memory, checked against CUDA's
    /// limits and the kernel's maximum block size.
    ///
    /// # Errors
    /// [`Error::Launch`] for an empty or oversized grid or block.
    pub fn config(&self, grid: (u32, u32, u32), block: (u32, u32, u32)) -> Result<LaunchConfig> {
        let fail = |reason: String| Error::Launch {
            kernel: self.name.clone(),
            reason,
        };
        if [grid.0, grid.1, grid.2, block.0, block.1, block.2].contains(&0) {
            return Err(fail(format!("empty grid {grid:?} or block {block:?}")));
        }
        if grid.0 > MAX_GRID.0 || grid.1 > MAX_GRID.1 || grid.2 > MAX_GRID.2 {
            return Err(fail(format!("grid {grid:?} exceeds {MAX_GRID:?}")));
        }
        let threads = u64::from(block.0) * u64::from(block.1) * u64::from(block.2);
        if threads > u64::from(self.max_threads_per_block) {
            return Err(fail(format!(
                "block {block:?} has {threads} threads; at most {}",
                self.max_threads_per_block
            )));
        }
        Ok(LaunchConfig {
            grid_dim: grid,
            block_dim: block,
            shared_mem_bytes: self.dynamic_shared_bytes,
        })
    }

    /// How many clusters of `cluster_ctas` of this kernel's CTAs, `block` threads each with its
    /// dynamic shared memory, the device of `stream` holds at once
    /// (`cuOccupancyMaxActiveClusters`), for a kernel whose cluster shape is compiled in
    /// (`__cluster_dims__`, sm_90 and newer): a grid of at most that many clusters runs in one
    /// wave.
    ///
    /// # Errors
    /// [`Error::Driver`] if the query fails (below sm_90, where there are no clusters).
    pub fn max_active_clusters(
        &self,
        stream: &CudaStream,
        cluster_ctas: u32,
        block: (u32, u32, u32),
    ) -> Result<usize> {
        stream.context().bind_to_thread()?;
        let config = sys::CUlaunchConfig {
            gridDimX: cluster_ctas,
            gridDimY: 1,
            gridDimZ: 1,
            blockDimX: block.0,
            blockDimY: block.1,
            blockDimZ: block.2,
            sharedMemBytes: self.dynamic_shared_bytes,
            hStream: stream.cu_stream(),
            attrs: std::ptr::null_mut(),
            numAttrs: 0,
        };
        let mut clusters = 0i32;
        // SAFETY: `config` outlives the call and names no attributes; the function belongs to
        // the stream's context, bound above.
        unsafe {
            sys::cuOccupancyMaxActiveClusters(
                &raw mut clusters,
                self.function.cu_function(),
                &raw const config,
            )
        }
        .result()?;
        Ok(clusters.max(0) as usize)
    }

    /// cudarc's launch builder for this kernel on `stream`: push the arguments, then launch with a
    /// configuration from [`Kernel::config`]. It collects the arguments in a `Vec`; forward calls
    /// use [`Kernel::launch`] instead, which allocates nothing.
    pub fn builder<'a>(&'a self, stream: &'a CudaStream) -> LaunchArgs<'a> {
        stream.launch_builder(&self.function)
    }

    /// Launches on `stream` with the kernel parameters `args` (one pointer per parameter, to its
    /// value, as [`kernel_args!`](crate::kernel_args) builds them on the stack): no allocation, so
    /// that a forward call stays allocation-free.
    ///
    /// # Safety
    /// `args` must match the kernel's parameter list in count, order and types, and every pointer
    /// must point to a live value of that type (name the values: `kernel_args!(&(m as i32))`
    /// would point to a dropped temporary). `stream` must belong to the context the kernel was
    /// loaded in. `cfg` must come from [`Kernel::config`] (so that it carries the kernel's dynamic
    /// shared memory), and every device address among the values must be valid, in that context,
    /// for what the kernel reads and writes under `cfg`.
    ///
    /// # Errors
    /// [`Error::Driver`] if the launch fails.
    pub unsafe fn launch(
        &self,
        stream: &CudaStream,
        cfg: LaunchConfig,
        args: &mut [*mut c_void],
    ) -> Result<()> {
        stream.context().bind_to_thread()?;
        let (f, s) = (self.function.cu_function(), stream.cu_stream());
        // SAFETY: the caller guarantees that `args` matches the kernel's parameters, that `stream`
        // is of the kernel's context and that the device memory behind the arguments is valid;
        // `f` and `s` are live handles owned by `self` and `stream`.
        unsafe {
            result::launch_kernel(
                f,
                cfg.grid_dim,
                cfg.block_dim,
                cfg.shared_mem_bytes,
                s,
                args,
            )
        }?;
        Ok(())
    }

    /// [`Kernel::launch`] with programmatic dependent launch allowed (sm_90 and newer): the
    /// kernel may start while the work before it on `stream` still runs (once that work lets
    /// dependents start, or as it ends), so that its prologue overlaps that work's tail; inside a
    /// captured graph the launch becomes a programmatic edge.
    ///
    /// # Errors
    /// As [`Kernel::launch`]; a driver error where the device does not support the attribute.
    ///
    /// # Safety
    /// As [`Kernel::launch`], and the kernel reads or writes memory that earlier work on the stream
    /// may still use only after `griddepcontrol.wait` (`pdl_wait` in `kernels/nvfp4_launch.cuh`).
    pub unsafe fn launch_overlapping(
        &self,
        stream: &CudaStream,
        cfg: LaunchConfig,
        args: &mut [*mut c_void],
    ) -> Result<()> {
        stream.context().bind_to_thread()?;
        // SAFETY: an all-zero launch attribute value is a valid (empty) union value.
        let mut value: sys::CUlaunchAttributeValue = unsafe { std::mem::zeroed() };
        value.programmaticStreamSerializationAllowed = 1;
        let mut attr = sys::CUlaunchAttribute {
            id: sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION,
            pad: [0; 4],
            value,
        };
        let config = sys::CUlaunchConfig {
            gridDimX: cfg.grid_dim.0,
            gridDimY: cfg.grid_dim.1,
            gridDimZ: cfg.grid_dim.2,
            blockDimX: cfg.block_dim.0,
            blockDimY: cfg.block_dim.1,
            blockDimZ: cfg.block_dim.2,
            sharedMemBytes: cfg.shared_mem_bytes,
            hStream: stream.cu_stream(),
            attrs: &raw mut attr,
            numAttrs: 1,
        };
        // SAFETY: config and attr outlive the call; the function belongs to the stream's context
        // (bound above); the caller vouches for the arguments and the kernel's waits.
        unsafe {
            sys::cuLaunchKernelEx(
                &raw const config,
                self.function.cu_function(),
                args.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        }
        .result()?;
        Ok(())
    }
}

/// The parameter array of a kernel launch, on the stack: `kernel_args!(&a, &b)` is
/// `[&a as *const _ as *mut c_void, ...]`, for [`Kernel::launch`].
#[macro_export]
macro_rules! kernel_args {
    ($($arg:expr),* $(,)?) => {
        [$(::std::ptr::from_ref($arg).cast_mut().cast::<::std::ffi::c_void>()),*]
    };
}

#[cfg(test)]
mod tests {
    use super::{MAX_GRID, grid_dim};

    /// A block count too large for a grid never wraps into a small, valid-looking one.
    #[test]
    fn oversized_grids_saturate_beyond_the_limit() {
        assert_eq!(grid_dim(7), 7);
        assert_eq!(grid_dim(1 << 40), u32::MAX);
        assert_eq!(grid_dim((1 << 32) + 5), u32::MAX); // `as u32` would give 5
        assert!(grid_dim(1 << 40) > MAX_GRID.0);
    }
}
