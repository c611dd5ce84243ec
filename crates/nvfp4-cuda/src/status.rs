//! The device status word (SPEC section 7): bad data found on the device sets bits here instead of
//! failing a launch; the host reads the word when it chooses to synchronise.
//!
//! The bit values are those of `kernels/nvfp4_numerics.cuh` (`kStatusBadScale`, ...).

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream};

use crate::error::Result;

/// A global scale (static `gs`, a decode scale, or a dynamic amax) was NaN, infinite or not
/// positive. The tensor it scaled was written as NaN (scale bytes `0x7F`).
pub const BAD_SCALE: u32 = 1 << 0;
/// An expert id outside `[-1, E)` was skipped.
pub const BAD_EXPERT_ID: u32 = 1 << 1;

/// One `u32` of device memory that kernels `atomicOr` status bits into.
#[derive(Debug)]
pub struct DeviceStatus {
    word: CudaSlice<u32>,
}

impl DeviceStatus {
    /// Allocates a cleared status word on `stream`.
    pub fn new(stream: &Arc<CudaStream>) -> Result<Self> {
        Ok(DeviceStatus {
            word: stream.alloc_zeros(1)?,
        })
    }

    /// The word, for passing to kernels.
    pub fn word(&self) -> &CudaSlice<u32> {
        &self.word
    }

    /// The word, mutably, for passing to kernels.
    pub fn word_mut(&mut self) -> &mut CudaSlice<u32> {
        &mut self.word
    }

    /// Waits for the stream and reads the bits set since the last [`DeviceStatus::clear`].
    pub fn read(&self, stream: &Arc<CudaStream>) -> Result<u32> {
        Ok(stream.clone_dtoh(&self.word)?[0])
    }

    /// Clears the word (enqueued on `stream`; capturable in a graph).
    pub fn clear(&mut self, stream: &Arc<CudaStream>) -> Result<()> {
        Ok(stream.memset_zeros(&mut self.word)?)
    }
}
