//! GPU-side timing with CUDA events, for benches.
//!
//! The two events are recorded on the device's stream around the timed work, so the time is what
//! the GPU spent, not host launch overhead. Criterion benches use it inside `iter_custom`.
//!
//! ```no_run
//! use nvfp4_cuda::{Device, GpuTimer};
//!
//! let gpu = Device::new(0)?;
//! let timer = GpuTimer::new(&gpu)?;
//! timer.start()?;
//! // ... queue work on gpu.stream() ...
//! timer.stop()?;
//! println!("{:.3} ms", timer.elapsed_ms()?);
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaEvent, CudaStream};

use crate::device::Device;
use crate::error::Result;

/// A pair of timing events on a device's stream.
#[derive(Debug)]
pub struct GpuTimer {
    start: CudaEvent,
    stop: CudaEvent,
    stream: Arc<CudaStream>,
}

impl GpuTimer {
    /// Two timing events on `device`'s stream.
    ///
    /// # Errors
    /// [`Error::Driver`](crate::Error::Driver) if the events cannot be created.
    pub fn new(device: &Device) -> Result<Self> {
        let ctx = device.context();
        // cudarc's default event flags disable timing; ask for timing events.
        let flags = Some(CUevent_flags::CU_EVENT_DEFAULT);
        Ok(Self {
            start: ctx.new_event(flags)?,
            stop: ctx.new_event(flags)?,
            stream: device.stream().clone(),
        })
    }

    /// Records the start event: the timed region begins after the work already queued.
    ///
    /// # Errors
    /// [`Error::Driver`](crate::Error::Driver) if recording fails.
    pub fn start(&self) -> Result<()> {
        Ok(self.start.record(&self.stream)?)
    }

    /// Records the stop event: the timed region ends after the work queued so far.
    ///
    /// # Errors
    /// [`Error::Driver`](crate::Error::Driver) if recording fails.
    pub fn stop(&self) -> Result<()> {
        Ok(self.stop.record(&self.stream)?)
    }

    /// Milliseconds between the start and stop events; blocks until the stop event completes.
    ///
    /// # Errors
    /// [`Error::Driver`](crate::Error::Driver), e.g. if an event was never recorded or queued work
    /// failed.
    pub fn elapsed_ms(&self) -> Result<f32> {
        Ok(self.start.elapsed_ms(&self.stop)?)
    }

    /// [`GpuTimer::elapsed_ms`] as a [`Duration`], the type criterion's `iter_custom` wants.
    ///
    /// # Errors
    /// As [`GpuTimer::elapsed_ms`].
    pub fn elapsed(&self) -> Result<Duration> {
        Ok(Duration::from_secs_f64(
            f64::from(self.elapsed_ms()?.max(0.0)) / 1e3,
        ))
    }
}
