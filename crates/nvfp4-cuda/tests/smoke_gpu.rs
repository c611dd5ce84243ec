//! The runtime end to end on the smoke kernels: compile, load, launch, dynamic shared memory, the
//! disk cache, CUDA-graph capture and event timing. Run with `--ignored` where a GPU is.

use std::sync::Arc;

use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{CudaSlice, PushKernelArg};
use nvfp4_cuda::{Device, Error, GpuTimer, Kernel, KernelRegistry};

const SENTINEL: u32 = 0xDEAD_BEEF;

fn gpu() -> Device {
    Device::new(0).unwrap_or_else(|e| panic!("this test needs a CUDA GPU: {e}"))
}

/// `smoke_fill_u32` from a fresh registry, compiled with no defines.
fn fill_kernel(gpu: &Device) -> Kernel {
    KernelRegistry::new(gpu)
        .get("smoke.cu", &[])
        .expect("compile")
        .kernel("smoke_fill_u32", 0)
        .expect("kernel")
}

/// Launches `smoke_fill_u32(out, value, n)` over the first `n` words of `out`.
fn fill(gpu: &Device, kernel: &Kernel, out: &mut CudaSlice<u32>, value: u32, n: i32) {
    let blocks = (n as u32).div_ceil(128);
    let cfg = kernel
        .config((blocks, 1, 1), (128, 1, 1))
        .expect("valid config");
    assert!(out.len() >= n as usize);
    // SAFETY: smoke_fill_u32(unsigned*, unsigned, int) writes out[0..n), and out holds >= n words.
    unsafe {
        kernel
            .builder(gpu.stream())
            .arg(out)
            .arg(&value)
            .arg(&n)
            .launch(cfg)
    }
    .expect("launch");
}

/// `value + i + add` for i < n, then the untouched sentinels.
fn expected(value: u32, add: u32, n: usize, len: usize) -> Vec<u32> {
    (0..len)
        .map(|i| {
            if i < n {
                value + i as u32 + add
            } else {
                SENTINEL
            }
        })
        .collect()
}

/// Without a GPU (or with no device 9999), opening a device is a typed error, not a panic.
#[test]
fn missing_device_is_an_error() {
    match Device::new(9999) {
        Err(Error::NoDriver) => {}
        Err(Error::NoDevice { ordinal: 9999, .. }) => {}
        other => panic!("expected NoDriver or NoDevice, got {other:?}"),
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn fill_with_defines() {
    let gpu = gpu();
    let registry = KernelRegistry::new(&gpu);
    for (add, define) in [(0, None), (5, Some("5u"))] {
        let defines: Vec<(&str, &str)> = define.map(|v| ("SMOKE_ADD", v)).into_iter().collect();
        let kernel = registry
            .get("smoke.cu", &defines)
            .expect("compile")
            .kernel("smoke_fill_u32", 0)
            .expect("kernel");
        let (n, len) = (1000, 1024);
        let mut out = gpu
            .stream()
            .clone_htod(&vec![SENTINEL; len])
            .expect("upload");
        fill(&gpu, &kernel, &mut out, 7, n as i32);
        assert_eq!(
            gpu.stream().clone_dtoh(&out).expect("download"),
            expected(7, add, n, len),
            "SMOKE_ADD={add}"
        );
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn registry_compiles_once_per_defines() {
    let gpu = gpu();
    let registry = KernelRegistry::new(&gpu);
    let a = registry.get("smoke.cu", &[]).expect("compile");
    assert!(Arc::ptr_eq(
        &a,
        &registry.get("smoke.cu", &[]).expect("cached")
    ));
    assert!(!Arc::ptr_eq(
        &a,
        &registry
            .get("smoke.cu", &[("SMOKE_ADD", "1u")])
            .expect("compile")
    ));
    assert_eq!(a.arch(), gpu.arch());
    // The ptxas report depends on the NVRTC build (the pinned 13.0.88 writes it into the program
    // log; some system NVRTC 13.0 builds leave the log empty): where there is one, it parses.
    if !a.log().trim().is_empty() {
        let fill = a
            .resources()
            .iter()
            .find(|k| k.function == "smoke_fill_u32")
            .unwrap_or_else(|| panic!("no ptxas report for smoke_fill_u32 in:\n{}", a.log()));
        assert!(
            fill.registers > 0 && fill.spill_store_bytes == 0,
            "{fill:?}"
        );
    }
    assert!(matches!(
        registry.get("nope.cu", &[]),
        Err(Error::UnknownSource(_))
    ));
    assert!(matches!(
        a.function("nope"),
        Err(Error::FunctionNotFound { .. })
    ));
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn disk_cache_round_trip() {
    let gpu = gpu();
    let dir = std::env::temp_dir().join(format!("nvfp4-gpu-cache-{}", std::process::id()));
    let cubins = || {
        std::fs::read_dir(&dir).map_or(0, |d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "cubin"))
            })
            .count()
        })
    };
    let first = KernelRegistry::new(&gpu)
        .with_cache_dir(&dir)
        .get("smoke.cu", &[])
        .expect("compile");
    assert_eq!(cubins(), 1);
    // A fresh registry finds the CUBIN on disk, with the same ptxas report.
    let second = KernelRegistry::new(&gpu)
        .with_cache_dir(&dir)
        .get("smoke.cu", &[])
        .expect("load");
    assert_eq!(cubins(), 1);
    assert_eq!(first.resources(), second.resources());
    let kernel = second.kernel("smoke_fill_u32", 0).expect("kernel");
    let mut out = gpu.stream().clone_htod(&[SENTINEL; 300]).expect("upload");
    fill(&gpu, &kernel, &mut out, 1, 256);
    assert_eq!(
        gpu.stream().clone_dtoh(&out).expect("download"),
        expected(1, 0, 256, 300)
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn dynamic_shared_memory_above_48k() {
    let gpu = gpu();
    let module = KernelRegistry::new(&gpu)
        .get("smoke.cu", &[])
        .expect("compile");
    let n: i32 = 16 * 1024; // 64 KiB of u32: needs the opt-in attribute
    let reverse = module
        .kernel("smoke_reverse_u32", n as u32 * 4)
        .expect("64 KiB fits on sm_80+");
    let input: Vec<u32> = (0..n as u32).collect();
    let src = gpu.stream().clone_htod(&input).expect("upload");
    let mut dst = gpu.stream().alloc_zeros::<u32>(n as usize).expect("alloc");
    let cfg = reverse
        .config((1, 1, 1), (256, 1, 1))
        .expect("valid config");
    // SAFETY: smoke_reverse_u32(const unsigned*, unsigned*, int) reads in[0..n) and writes out[0..n);
    // both hold n words and the block has n * 4 bytes of dynamic shared memory.
    unsafe {
        reverse
            .builder(gpu.stream())
            .arg(&src)
            .arg(&mut dst)
            .arg(&n)
            .launch(cfg)
    }
    .expect("launch");
    let want: Vec<u32> = input.iter().rev().copied().collect();
    assert_eq!(gpu.stream().clone_dtoh(&dst).expect("download"), want);

    let too_much = gpu.max_shared_bytes_per_block().expect("attribute") + 1;
    assert!(matches!(
        module.kernel("smoke_reverse_u32", too_much),
        Err(Error::SharedMemory { .. })
    ));
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn bad_launch_configs_are_errors() {
    let gpu = gpu();
    let kernel = fill_kernel(&gpu);
    for (grid, block) in [
        ((0, 1, 1), (128, 1, 1)),
        ((1, 1, 1), (0, 1, 1)),
        ((1, 1, 1), (2048, 1, 1)),
        ((1, 70_000, 1), (32, 1, 1)),
    ] {
        assert!(
            matches!(kernel.config(grid, block), Err(Error::Launch { .. })),
            "{grid:?} {block:?}"
        );
    }
}

/// A launch captured into a CUDA graph and replayed gives the eager result, and replays again
/// after the buffer is overwritten.
#[test]
#[ignore = "needs a CUDA GPU"]
fn graph_replay_matches_eager() {
    let gpu = gpu();
    let kernel = fill_kernel(&gpu);
    let (n, len) = (777, 800);
    let stream = gpu.stream();

    let mut eager = stream.clone_htod(&vec![SENTINEL; len]).expect("upload");
    fill(&gpu, &kernel, &mut eager, 42, n as i32);
    let eager = stream.clone_dtoh(&eager).expect("download");
    assert_eq!(eager, expected(42, 0, n, len));

    let mut out = stream.clone_htod(&vec![SENTINEL; len]).expect("upload");
    gpu.synchronize().expect("sync");
    stream
        .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
        .expect("begin capture");
    fill(&gpu, &kernel, &mut out, 42, n as i32);
    let graph = stream
        .end_capture(CUgraphInstantiate_flags(0))
        .expect("end capture")
        .expect("a graph");
    // Capturing ran nothing.
    assert_eq!(
        stream.clone_dtoh(&out).expect("download"),
        vec![SENTINEL; len]
    );

    graph.launch().expect("replay");
    assert_eq!(stream.clone_dtoh(&out).expect("download"), eager);
    stream
        .memcpy_htod(&vec![0u32; len], &mut out)
        .expect("overwrite");
    graph.launch().expect("replay");
    let replayed = stream.clone_dtoh(&out).expect("download");
    assert_eq!(&replayed[..n], &eager[..n]);
    assert!(replayed[n..].iter().all(|&x| x == 0));
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn timer_measures_queued_work() {
    let gpu = gpu();
    let kernel = fill_kernel(&gpu);
    let n = 1 << 24;
    let mut out = gpu.stream().alloc_zeros::<u32>(n).expect("alloc");
    let timer = GpuTimer::new(&gpu).expect("events");
    timer.start().expect("record");
    for _ in 0..10 {
        fill(&gpu, &kernel, &mut out, 3, n as i32);
    }
    timer.stop().expect("record");
    let ms = timer.elapsed_ms().expect("elapsed");
    // 10 x 64 MiB of writes take a positive, finite time (no upper bound: speed is for benches,
    // and the sanitizers slow this down a thousandfold).
    assert!(ms > 0.0 && ms.is_finite(), "{ms} ms");
    let elapsed_ms = timer.elapsed().expect("elapsed").as_secs_f64() * 1e3;
    assert!(
        (elapsed_ms - f64::from(ms)).abs() < 1e-3,
        "{elapsed_ms} vs {ms}"
    );
}
