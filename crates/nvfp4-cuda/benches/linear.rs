//! The NVFP4 linear layer against cuBLAS BF16 and the roofline, on DeepSeek-V3 projection shapes
//! (N x K) at M in {1, 4, 8, 16, 32, 64, 128, 256, 1024, 4096}, in both modes. One run measures
//! everything:
//! the device's copy and read bandwidths, our `Linear::forward` (W4A4 includes quantizing its input), and
//! cuBLASLt's BF16 GEMM on the same shape, both timed the same way: by CUDA-graph replay up to
//! M = 64 (as an engine replays its decode step: no host launch overhead), by back-to-back calls
//! above; the header line gives the launch floor, an empty kernel timed by graph replay. The
//! graph-timed rows are also timed with cold weights (see [`cold_copies`]): the calls of a graph
//! cycle through copies of the weights that together hold four times the L2, as the layers of an
//! engine's decode step do, so that no call finds its weights in L2. Prints a table and writes
//! `linear.csv` (the `cargo xtask plot` format) to the bench output folder. Run on a GPU machine:
//! `cargo bench -p nvfp4-cuda --bench linear`, or the bundle's `run.sh --bench`.
//! `NVFP4_LINEAR_ONLY="7168x16384 1"` restricts the run to shapes whose name contains the first
//! word and, if given, to the M of the second, or its comma-separated list of M ("x 1,8,24": every
//! shape at those M, which need not be in the table's list, up to its largest); one M profiles
//! one launch with ncu.

mod common;

use common::cublas::{BaselineGemm, tflops};
use common::report::{Csv, PLOT_HEADER};
use common::{copy_bandwidth, read_bandwidth, time_gpu, time_graph};
use cudarc::driver::PushKernelArg;
use cudarc::driver::sys::CUdevice_attribute;
use nvfp4_core::bf16;
use nvfp4_core::plan::GemmMode;
use nvfp4_cpu::synth::Rng;
use nvfp4_cuda::linear::{ActivationScale, Linear, LinearWeights};
use nvfp4_cuda::pack::PackedShape;
use nvfp4_cuda::{Device, KernelRegistry};

/// DeepSeek-V3 projections (N, K, name).
const SHAPES: [(usize, usize, &str); 5] = [
    (2048, 7168, "2048x7168"),
    (7168, 2048, "7168x2048"),
    (4096, 7168, "4096x7168 (gate/up)"),
    (24576, 1536, "24576x1536"),
    (7168, 16384, "7168x16384"),
];
const MS: [usize; 10] = [1, 4, 8, 16, 32, 64, 128, 256, 1024, 4096];
/// H100 SXM dense BF16 tensor-core peak (NVIDIA's datasheet figure), for the roofline.
const PEAK_BF16_FLOPS: f64 = 989.4e12;

/// Mean time of one call of `f` in µs, for about 20 ms of GPU time. `graph`: 20 calls captured
/// into a CUDA graph and the graph replayed, which takes the host's launch overhead out, as in an
/// engine that replays its decode step; else back-to-back calls (where a call runs far longer
/// than its launch).
fn time_us(dev: &Device, graph: bool, mut f: impl FnMut()) -> f64 {
    const CALLS: usize = GRAPH_CALLS;
    if graph {
        let probe = time_graph(dev, CALLS, 1, &mut f).as_secs_f64() * CALLS as f64;
        let replays = ((0.02 / probe.max(1e-7)) as usize).clamp(3, 200);
        time_graph(dev, CALLS, replays, f).as_secs_f64() * 1e6
    } else {
        let probe = time_gpu(dev, 2, 3, &mut f).as_secs_f64();
        let iters = ((0.02 / probe.max(1e-7)) as usize).clamp(5, 500);
        time_gpu(dev, 3, iters, f).as_secs_f64() * 1e6
    }
}

/// The largest M timed by graph replay (the decode sizes; a larger M's call runs far longer than
/// its launch).
const GRAPH_MAX_M: usize = 64;

/// Calls captured into one graph by [`time_us`].
const GRAPH_CALLS: usize = 20;

/// How many copies of a layer's weights (`weight_bytes` each) the cold-weight rows cycle
/// through: enough to hold four times the L2 (`l2_bytes`), so that a call's weights have been
/// evicted since their last use, at most the calls of one graph. Without them, a layer replayed
/// alone whose weights fit in L2 (every shape here but 7168x16384 in NVFP4, on a 50 MB L2) reads
/// them from L2, not DRAM, from its second call on.
fn cold_copies(weight_bytes: usize, l2_bytes: usize) -> usize {
    (4 * l2_bytes)
        .div_ceil(weight_bytes.max(1))
        .clamp(1, GRAPH_CALLS)
}

/// The time of an empty launch shaped like the small-M kernels' (two CTAs of 512 threads per SM),
/// timed as the rows are: what a kernel costs before any byte moves.
fn launch_floor_us(dev: &Device, reg: &KernelRegistry) -> f64 {
    let kernel = reg
        .get("smoke.cu", &[])
        .and_then(|m| m.kernel("smoke_fill_u32", 0))
        .expect("smoke kernel");
    let sms = dev.sm_count().expect("SM count");
    let cfg = kernel.config((2 * sms, 1, 1), (512, 1, 1)).expect("config");
    let mut out = dev.stream().alloc_zeros::<u32>(1).expect("alloc");
    let (value, n) = (0u32, 0i32);
    time_us(dev, true, || {
        // SAFETY: smoke_fill_u32(unsigned*, unsigned, int) writes out[0..n), n = 0.
        unsafe {
            kernel
                .builder(dev.stream())
                .arg(&mut out)
                .arg(&value)
                .arg(&n)
                .launch(cfg)
        }
        .expect("launch");
    })
}

fn main() {
    let dev = match Device::new(0) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("linear bench skipped: {e}");
            return;
        }
    };
    let reg = KernelRegistry::new(&dev);
    let s = dev.stream().clone();
    if let Err(e) = BaselineGemm::self_test(&dev) {
        eprintln!("cuBLAS baseline failed its correctness check, not timing it: {e}");
        return;
    }
    let bw = copy_bandwidth(&dev);
    let (read_bw, read_grid) = read_bandwidth(&dev, &reg);
    let l2 = dev
        .context()
        .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)
        .expect("L2 size")
        .max(0) as usize;
    println!(
        "device: {} | copy bandwidth {:.0} GB/s | read bandwidth {:.0} GB/s ({read_grid}) | L2 {} MiB | BF16 peak (datasheet) {:.0} TFLOP/s | launch floor {:.2} us",
        dev.name().unwrap_or_default(),
        bw / 1e9,
        read_bw / 1e9,
        l2 >> 20,
        PEAK_BF16_FLOPS / 1e12,
        launch_floor_us(&dev, &reg)
    );
    let mut csv = Csv::create(
        "linear.csv",
        &[
            &PLOT_HEADER[..],
            &["tflops", "weight_gbs", "of_copy", "vs_cublas", "of_read"],
        ]
        .concat(),
    )
    .expect("csv");
    println!(
        "{:<20} {:>5} {:>6} {:>10} {:>10} {:>10} {:>8} {:>9} {:>8} {:>8} {:>9} {:>10} {:>11} {:>12} {:>12} {:>9}",
        "N x K",
        "M",
        "mode",
        "ours (us)",
        "cuBLAS",
        "roofline",
        "TFLOP/s",
        "W GB/s",
        "of copy",
        "of read",
        "vs cuBLAS",
        "cold (us)",
        "cuBLAS cold",
        "cold of copy",
        "cold of read",
        "cold vs"
    );
    let only = std::env::var("NVFP4_LINEAR_ONLY").unwrap_or_default();
    let mut only = only.split_whitespace();
    let (only_shape, only_m) = (
        only.next().unwrap_or(""),
        only.next().map(|ms| {
            ms.split(',')
                .filter_map(|m| m.parse::<usize>().ok())
                .collect::<Vec<_>>()
        }),
    );
    for (n, k, name) in SHAPES.into_iter().filter(|s| s.2.contains(only_shape)) {
        let mut rng = Rng::new((n * k) as u64);
        let codes: Vec<u8> = (0..n * k / 2).map(|_| rng.next_u64() as u8).collect();
        let scales: Vec<u8> = (0..n * k / 16)
            .map(|_| 0x30 + (rng.next_u64() % 16) as u8)
            .collect();
        let w = LinearWeights {
            codes: &codes,
            scales: &scales,
            dec: 1e-3,
            n,
            k,
        };
        let max_m = *MS.last().unwrap_or(&1);
        let x = s
            .clone_htod(&Rng::new(1).vec_bf16(max_m * k, 1.0))
            .expect("upload");
        let mut out = s.alloc_zeros::<bf16>(max_m * n).expect("alloc");
        let new_layer = |mode, max_m| {
            Linear::new(&reg, &w, mode, ActivationScale::Dynamic, max_m).expect("layer")
        };
        // Per mode: the layer, and the copies the cold-weight rows cycle through.
        let packed = PackedShape::new(n, k).expect("shape");
        let cold_n = cold_copies(packed.codes_len() + packed.scales_len(), l2);
        let mut layers: Vec<(GemmMode, Linear, Vec<Linear>)> = [GemmMode::W4A16, GemmMode::W4A4]
            .into_iter()
            .map(|mode| {
                let copies = (0..cold_n).map(|_| new_layer(mode, GRAPH_MAX_M)).collect();
                (mode, new_layer(mode, max_m), copies)
            })
            .collect();
        let ms = only_m.clone().unwrap_or_else(|| MS.to_vec());
        for m in ms.into_iter().filter(|&m| (1..=max_m).contains(&m)) {
            let graph = m <= GRAPH_MAX_M;
            let copies = if graph { cold_copies(2 * n * k, l2) } else { 1 };
            let (cublas_us, cublas_cold_us) = match (0..copies)
                .map(|_| BaselineGemm::new(&dev, m, n, k))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(mut bases) => {
                    let hot = time_us(&dev, graph, || bases[0].run());
                    let cold = if graph {
                        time_us(&dev, true, in_turn(&mut bases, BaselineGemm::run))
                    } else {
                        f64::NAN
                    };
                    (hot, cold)
                }
                Err(e) => {
                    eprintln!("cuBLAS baseline unavailable for M={m} {name}: {e}");
                    (f64::NAN, f64::NAN)
                }
            };
            for (mode, layer, copies) in &mut layers {
                let us = time_us(&dev, graph, || {
                    layer.forward(&x, m, &mut out).expect("forward")
                });
                let cold_us = if graph {
                    let forward = |l: &mut Linear| l.forward(&x, m, &mut out).expect("forward");
                    time_us(&dev, true, in_turn(copies, forward))
                } else {
                    f64::NAN
                };
                let a_bytes = match mode {
                    GemmMode::W4A16 => 2.0,
                    GemmMode::W4A4 => 2.0 + 2.0 * 0.5625, // bf16 read by the quantizer, NVFP4 written and read
                } * (m * k) as f64;
                let w_bytes = 0.5625 * (n * k) as f64;
                let bytes = w_bytes + a_bytes + 2.0 * (m * n) as f64;
                let roof_us = (bytes / bw).max(2.0 * (m * n * k) as f64 / PEAK_BF16_FLOPS) * 1e6;
                let mode_name = format!("{mode:?}");
                // (TFLOP/s, weight GB/s, fraction of copy bandwidth, cuBLAS time / ours, fraction
                // of read bandwidth).
                let figures = |us: f64, cublas_us: f64| {
                    let w_gbs = w_bytes / (us * 1e-6) / 1e9;
                    (
                        tflops(m, n, k, us * 1e-6),
                        w_gbs,
                        w_gbs * 1e9 / bw,
                        cublas_us / us,
                        w_gbs * 1e9 / read_bw,
                    )
                };
                let hot = figures(us, cublas_us);
                let cold = figures(cold_us, cublas_cold_us);
                let cold_cols = if graph {
                    format!(
                        "{cold_us:>10.2} {cublas_cold_us:>11.2} {:>11.0}% {:>11.0}% {:>8.2}x",
                        100.0 * cold.2,
                        100.0 * cold.4,
                        cold.3
                    )
                } else {
                    format!("{:>10} {:>11} {:>12} {:>12} {:>9}", "-", "-", "-", "-", "-")
                };
                println!(
                    "{name:<20} {m:>5} {mode_name:>6} {us:>10.2} {cublas_us:>10.2} {roof_us:>10.2} {:>8.1} {:>9.0} {:>7.0}% {:>7.0}% {:>8.2}x {cold_cols}",
                    hot.0,
                    hot.1,
                    100.0 * hot.2,
                    100.0 * hot.4,
                    hot.3
                );
                let none = (f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN);
                let mut rows = vec![
                    ("nvfp4", us, hot),
                    ("cublas_bf16", cublas_us, none),
                    ("roofline", roof_us, none),
                ];
                if graph {
                    rows.push(("nvfp4_cold_l2", cold_us, cold));
                    rows.push(("cublas_bf16_cold_l2", cublas_cold_us, none));
                }
                for (imp, t, extra) in rows {
                    csv.row(&[
                        &name,
                        &mode_name,
                        &m,
                        &imp,
                        &format!("{t:.3}"),
                        &format!("{:.2}", extra.0),
                        &format!("{:.1}", extra.1),
                        &format!("{:.3}", extra.2),
                        &format!("{:.3}", extra.3),
                        &format!("{:.3}", extra.4),
                    ])
                    .expect("csv row");
                }
            }
        }
    }
    println!("wrote {}", csv.path().display());
}

/// A closure that runs `f` on the next of `items` at each call, in turn (the cold-weight rows'
/// calls, each on other weights than the call before).
fn in_turn<'a, T>(items: &'a mut [T], mut f: impl FnMut(&mut T) + 'a) -> impl FnMut() + 'a {
    let mut next = 0;
    move || {
        let len = items.len();
        f(&mut items[next % len]);
        next += 1;
    }
}
