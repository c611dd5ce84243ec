//! Quantize throughput (bf16 [M, 7168] to NVFP4, swizzled scales, static and dynamic `gs`) as a
//! fraction of the device's device-to-device copy bandwidth measured in the same run. Bytes are
//! counted as 2 read + 0.5625 written per element. Run on a GPU machine: `cargo bench -p
//! nvfp4-cuda --bench quantize` (or the bundle's `run.sh --bench`).

#![allow(missing_docs)] // criterion_group! generates an undocumented function

mod common;

use common::{copy_bandwidth, time_gpu};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nvfp4_core::layout::ScaleLayout;
use nvfp4_cpu::synth::Rng;
use nvfp4_cuda::quantize::{Quantizer, ScaleSource};
use nvfp4_cuda::{Device, GpuTimer, KernelRegistry};

const K: usize = 7168;
const ROWS: [usize; 3] = [1, 128, 8192];

fn bytes(rows: usize) -> f64 {
    rows as f64 * K as f64 * (2.0 + 0.5625)
}

fn bench(c: &mut Criterion) {
    let dev = match Device::new(0) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("quantize bench skipped: {e}");
            return;
        }
    };
    let registry = KernelRegistry::new(&dev);
    let s = dev.stream().clone();
    let copy = copy_bandwidth(&dev);
    println!(
        "device: {} | device-to-device copy: {:.0} GB/s (read + write)",
        dev.name().unwrap_or_default(),
        copy / 1e9
    );
    println!(
        "{:>6} {:>8} {:>10} {:>9} {:>8}",
        "M", "gs", "time (us)", "GB/s", "of copy"
    );
    let mut group = c.benchmark_group("quantize_bf16_k7168");
    group
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    for rows in ROWS {
        let mut q = Quantizer::new(&registry, K, rows, ScaleLayout::Swizzled).expect("quantizer");
        let x = s
            .clone_htod(&Rng::new(rows as u64).vec_bf16(rows * K, 1.0))
            .expect("upload");
        let mut codes = s.alloc_zeros::<u8>(q.codes_len(rows)).expect("alloc");
        let mut scales = s
            .alloc_zeros::<u8>(q.scales_len(rows).expect("len"))
            .expect("alloc");
        let gs = s.clone_htod(&[2688.0f32 / 4.0]).expect("upload");
        let mut gs_out = s.alloc_zeros::<f32>(1).expect("alloc");
        for dynamic in [false, true] {
            let mut run = || {
                let source = if dynamic {
                    ScaleSource::Dynamic(&mut gs_out)
                } else {
                    ScaleSource::Static(&gs)
                };
                q.quantize(&x, rows, source, &mut codes, &mut scales)
                    .expect("quantize");
            };
            let t = time_gpu(&dev, 10, 200, &mut run);
            let bw = bytes(rows) / t.as_secs_f64();
            let mode = if dynamic { "dynamic" } else { "static" };
            println!(
                "{rows:>6} {mode:>8} {:>10.2} {:>9.0} {:>7.1}%",
                t.as_secs_f64() * 1e6,
                bw / 1e9,
                100.0 * bw / copy
            );
            group.throughput(Throughput::Bytes(bytes(rows) as u64));
            group.bench_function(format!("{mode}/M={rows}"), |b| {
                b.iter_custom(|iters| {
                    let timer = GpuTimer::new(&dev).expect("events");
                    timer.start().expect("record");
                    for _ in 0..iters {
                        run();
                    }
                    timer.stop().expect("record");
                    timer.elapsed().expect("elapsed")
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
