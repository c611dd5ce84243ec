//! Shared by the benches: the device's measured copy and read bandwidths and CUDA-event timing of
//! a closure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cublas;
pub mod report;

use std::time::Duration;

use cudarc::driver::PushKernelArg;
use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
use nvfp4_cuda::{Device, GpuTimer, KernelRegistry};

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

/// The device's read bandwidth in bytes per second: `bandwidth.cu`'s streaming read of a 1 GiB
/// buffer (far beyond L2), the best of grids of 4, 8 and 16 CTAs of 1024 threads per SM, with
/// the name of that grid.
pub fn read_bandwidth(dev: &Device, reg: &KernelRegistry) -> (f64, String) {
    let kernel = reg
        .get("bandwidth.cu", &[])
        .and_then(|m| m.kernel("bandwidth_read", 0))
        .expect("bandwidth kernel");
    let s = dev.stream();
    let bytes = 1usize << 30;
    let src = s.alloc_zeros::<u8>(bytes).expect("alloc");
    let mut sink = s.alloc_zeros::<u32>(1).expect("alloc");
    let (words, never) = ((bytes / 16) as i64, 1u32);
    let sms = dev.sm_count().expect("SM count");
    [4, 8, 16]
        .into_iter()
        .map(|per_sm| {
            let cfg = kernel
                .config((per_sm * sms, 1, 1), (1024, 1, 1))
                .expect("config");
            let t = time_gpu(dev, 3, 20, || {
                // SAFETY: bandwidth_read(const uint4*, long long n, unsigned, unsigned*) reads
                // p[0..n) (`src` holds n 16-byte words) and writes at most sink[0].
                unsafe {
                    kernel
                        .builder(s)
                        .arg(&src)
                        .arg(&words)
                        .arg(&never)
                        .arg(&mut sink)
                        .launch(cfg)
                }
                .expect("launch");
            });
            (
                bytes as f64 / t.as_secs_f64(),
                format!("{per_sm} x {sms} CTAs of 1024 threads"),
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .expect("three grids")
}
