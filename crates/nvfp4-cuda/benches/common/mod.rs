//! Shared by the benches: the device's measured copy bandwidth and CUDA-event timing of a closure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cublas;
pub mod report;

use std::time::Duration;

use nvfp4_cuda::{Device, GpuTimer};

/// The mean GPU time of `iters` runs of `f`, after `warmup` runs, timed with CUDA events.
pub fn time_gpu(dev: &Device, warmup: usize, iters: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..warmup {
        f();
    }
    let timer = GpuTimer::new(dev).expect("events");
    timer.start().expect("record");
    for _ in 0..iters {
        f();
    }
    timer.stop().expect("record");
    timer.elapsed().expect("elapsed") / iters as u32
}

/// Device-to-device copy bandwidth in bytes per second, counting bytes read plus written, over a
/// 1 GiB buffer (far beyond L2).
pub fn copy_bandwidth(dev: &Device) -> f64 {
    let s = dev.stream();
    let n = 1usize << 30;
    let src = s.alloc_zeros::<u8>(n).expect("alloc");
    let mut dst = s.alloc_zeros::<u8>(n).expect("alloc");
    let t = time_gpu(dev, 3, 20, || s.memcpy_dtod(&src, &mut dst).expect("copy"));
    2.0 * n as f64 / t.as_secs_f64()
}
