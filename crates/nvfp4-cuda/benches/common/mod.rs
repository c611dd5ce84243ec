//! Shared by the benches: the device's measured copy bandwidth and CUDA-event timing of a closure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cublas;
pub mod report;

use std::time::Duration;

use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
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

/// The mean GPU time of one run of `f` when `calls` runs are captured into a CUDA graph and the
/// graph is replayed `replays` times (after two eager warm-up runs and one replay), timed with
/// CUDA events: what the work costs without host launch overhead, as an engine replaying graphs
/// sees it.
pub fn time_graph(dev: &Device, calls: usize, replays: usize, mut f: impl FnMut()) -> Duration {
    f();
    f();
    let stream = dev.stream();
    stream
        .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
        .expect("begin capture");
    for _ in 0..calls {
        f();
    }
    let graph = stream
        .end_capture(CUgraphInstantiate_flags(0))
        .expect("end capture")
        .expect("a graph");
    graph.launch().expect("replay");
    let timer = GpuTimer::new(dev).expect("events");
    timer.start().expect("record");
    for _ in 0..replays {
        graph.launch().expect("replay");
    }
    timer.stop().expect("record");
    timer.elapsed().expect("elapsed") / (calls * replays) as u32
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
