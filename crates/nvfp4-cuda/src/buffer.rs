//! Checked raw pointers for kernel arguments: a device buffer's address after checking that it
//! belongs to the launching stream's context, holds enough elements and starts at the alignment
//! the kernel's vector loads and stores need.
//!
//! Kernels take plain device addresses so that any cudarc buffer (a `CudaSlice`, a view of part of
//! one) can be passed. The returned `SyncOnDrop` must live until the launch is enqueued.

use std::sync::Arc;

use cudarc::driver::{CudaStream, DevicePtr, DevicePtrMut, SyncOnDrop};

use crate::error::{Error, Result};

/// A buffer of another context (another device) cannot be dereferenced by this one's kernels.
fn check_context(what: &'static str, buf: &Arc<CudaStream>, stream: &CudaStream) -> Result<()> {
    if Arc::ptr_eq(buf.context(), stream.context()) {
        Ok(())
    } else {
        Err(Error::WrongContext { what })
    }
}

fn check(what: &'static str, ptr: u64, len: usize, need: usize, align: u64) -> Result<()> {
    if len < need {
        return Err(Error::BufferTooSmall {
            what,
            need,
            got: len,
        });
    }
    if !ptr.is_multiple_of(align) {
        return Err(Error::Misaligned { what, ptr, align });
    }
    Ok(())
}

/// The address of `buf` for reading, after checking `len >= need` and `align`.
pub fn input<'a, T>(
    what: &'static str,
    buf: &'a impl DevicePtr<T>,
    stream: &'a CudaStream,
    need: usize,
    align: u64,
) -> Result<(u64, SyncOnDrop<'a>)> {
    check_context(what, buf.stream(), stream)?;
    let (ptr, sync) = buf.device_ptr(stream);
    check(what, ptr, buf.len(), need, align)?;
    Ok((ptr, sync))
}

/// The address of `buf` for writing, after checking `len >= need` and `align`.
pub fn output<'a, T>(
    what: &'static str,
    buf: &'a mut impl DevicePtrMut<T>,
    stream: &'a CudaStream,
    need: usize,
    align: u64,
) -> Result<(u64, SyncOnDrop<'a>)> {
    check_context(what, buf.stream(), stream)?;
    let len = buf.len();
    let (ptr, sync) = buf.device_ptr_mut(stream);
    check(what, ptr, len, need, align)?;
    Ok((ptr, sync))
}
