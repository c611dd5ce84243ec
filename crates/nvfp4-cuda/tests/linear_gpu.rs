//! The GEMM kernels (`kernels/gemm.cu`) through `Linear`, element by element against the
//! simulator's exact value and the SPEC section 5 bound: ragged shapes, both modes, static and
//! dynamic activation scales, pre-quantized input, zero, subnormal and NaN scales, NaN inputs,
//! run-to-run bits and graph replay, and the portable path at large M. Run with `--ignored` where a
//! GPU is.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
use nvfp4_core::bf16;
use nvfp4_core::block::BLOCK;
use nvfp4_core::global_scale::{dec_from_gs, gs_from_amax, gs_from_dec};
use nvfp4_core::layout::ScaleLayout;
use nvfp4_core::plan::GemmMode;
use nvfp4_core::tensor::QuantizedRef;
use nvfp4_cpu::gemm::{Activations, ColumnAlpha, Exact, gemm, within_bound};
use nvfp4_cpu::quantize::{amax, quantize};
use nvfp4_cpu::synth::Rng;
use nvfp4_cuda::linear::{ActivationScale, LargeM, Linear, LinearWeights};
use nvfp4_cuda::{Device, KernelRegistry};

fn gpu() -> Device {
    Device::new(0).unwrap_or_else(|e| panic!("this test needs a CUDA GPU: {e}"))
}

/// Checkpoint-form weights from random f32, with optional special scale bytes planted.
struct Weights {
    codes: Vec<u8>,
    scales: Vec<u8>,
    dec: f32,
    n: usize,
    k: usize,
}

impl Weights {
    fn random(n: usize, k: usize, seed: u64) -> Self {
        let w = Rng::new(seed).vec(n * k, 0.05);
        let gs = gs_from_amax(amax(&w)).unwrap();
        let (mut codes, mut scales) = (vec![0; n * k / 2], vec![0; n * k / BLOCK]);
        quantize(&w, n, k, gs, ScaleLayout::Linear, &mut codes, &mut scales).unwrap();
        Weights {
            codes,
            scales,
            dec: dec_from_gs(gs).unwrap(),
            n,
            k,
        }
    }
    fn view(&self) -> QuantizedRef<'_> {
        QuantizedRef::new(
            &self.codes,
            &self.scales,
            ScaleLayout::Linear,
            self.n,
            self.k,
        )
        .unwrap()
    }
    fn linear(&self) -> LinearWeights<'_> {
        LinearWeights {
            codes: &self.codes,
            scales: &self.scales,
            dec: self.dec,
            n: self.n,
            k: self.k,
        }
    }
}

/// Panics at the first element outside the SPEC bound, with its coordinates.
fn assert_within_bound(what: &str, d: &[bf16], exact: &[Exact], n: usize) {
    for (i, (&di, e)) in d.iter().zip(exact).enumerate() {
        assert!(
            within_bound(di, e),
            "{what}: D[{}, {}] = {} but exact {} (bound {})",
            i / n,
            i % n,
            di,
            e.z,
            e.bound
        );
    }
}

/// The bit patterns of `v`, to compare outputs exactly (NaN included).
fn bits(v: &[bf16]) -> Vec<u16> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Runs `layer` on `m` random rows (seed `seeds.0`) four times, asserting the same bits each
/// time, then captures `calls` forward calls in a graph, replays it on new rows (seed `seeds.1`)
/// and asserts the eager call's bits on those rows, which differ from the first rows'.
fn assert_repeatable(
    layer: &mut Linear,
    s: &std::sync::Arc<cudarc::driver::CudaStream>,
    m: usize,
    seeds: (u64, u64),
    calls: usize,
    what: &str,
) {
    let (n, k) = (layer.n(), layer.k());
    let mut x = s
        .clone_htod(&Rng::new(seeds.0).vec_bf16(m * k, 1.0))
        .unwrap();
    let mut out = s.alloc_zeros::<bf16>(m * n).unwrap();
    layer.forward(&x, m, &mut out).unwrap();
    let first = bits(&s.clone_dtoh(&out).unwrap());
    for _ in 0..3 {
        layer.forward(&x, m, &mut out).unwrap();
        assert_eq!(
            bits(&s.clone_dtoh(&out).unwrap()),
            first,
            "{what}: run to run"
        );
    }
    s.begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
        .unwrap();
    for _ in 0..calls {
        layer.forward(&x, m, &mut out).unwrap();
    }
    let graph = s
        .end_capture(CUgraphInstantiate_flags(0))
        .unwrap()
        .expect("a graph");
    s.memcpy_htod(&Rng::new(seeds.1).vec_bf16(m * k, 3.0), &mut x)
        .unwrap();
    graph.launch().unwrap();
    let replayed = bits(&s.clone_dtoh(&out).unwrap());
    layer.forward(&x, m, &mut out).unwrap();
    assert_eq!(
        replayed,
        bits(&s.clone_dtoh(&out).unwrap()),
        "{what}: replay with new data"
    );
    assert_ne!(replayed, first, "{what}: new data, new output");
}

/// Runs one layer on the GPU and checks it against the simulator.
fn check(
    reg: &KernelRegistry,
    w: &Weights,
    x: &[bf16],
    m: usize,
    mode: GemmMode,
    act: ActivationScale,
) -> Vec<bf16> {
    check_with(reg, w, x, m, mode, act, LargeM::Fastest)
}

/// [`check`] on a layer built with `large_m`.
fn check_with(
    reg: &KernelRegistry,
    w: &Weights,
    x: &[bf16],
    m: usize,
    mode: GemmMode,
    act: ActivationScale,
    large_m: LargeM,
) -> Vec<bf16> {
    let dev = reg.device();
    let s = dev.stream();
    let (n, k) = (w.n, w.k);
    let mut layer = Linear::with_large_m(reg, &w.linear(), mode, act, m, large_m).unwrap();
    let xd = s.clone_htod(x).unwrap();
    let mut out = s.clone_htod(&vec![bf16::from_f32(-777.0); m * n]).unwrap();
    layer.forward(&xd, m, &mut out).unwrap();
    let got = s.clone_dtoh(&out).unwrap();
    // The simulator's exact value for the same quantized operands and alpha.
    let mut exact = vec![Exact::default(); m * n];
    let mut d = vec![bf16::ZERO; m * n];
    match mode {
        GemmMode::W4A16 => {
            gemm(
                &Activations::Bf16 { data: x, rows: m },
                &w.view(),
                ColumnAlpha::uniform(w.dec),
                &mut d,
                Some(&mut exact),
            )
            .unwrap();
        }
        GemmMode::W4A4 => {
            let (gs, dec_a) = match act {
                ActivationScale::Dynamic => {
                    let gs = gs_from_amax(amax(x)).unwrap();
                    (gs, 1.0 / gs)
                }
                ActivationScale::Static(d) => (gs_from_dec(d).unwrap(), d),
            };
            let (mut c, mut sc) = (
                vec![0; m * k / 2],
                vec![0; ScaleLayout::Swizzled.len(m, k / BLOCK).unwrap()],
            );
            quantize(x, m, k, gs, ScaleLayout::Swizzled, &mut c, &mut sc).unwrap();
            let a = QuantizedRef::new(&c, &sc, ScaleLayout::Swizzled, m, k).unwrap();
            gemm(
                &Activations::Nvfp4(a),
                &w.view(),
                ColumnAlpha::uniform(dec_a * w.dec),
                &mut d,
                Some(&mut exact),
            )
            .unwrap();
        }
    }
    assert_within_bound(
        &format!("{mode:?} {act:?} M={m} N={n} K={k}"),
        &got,
        &exact,
        n,
    );
    got
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn both_modes_on_ragged_shapes() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    for (n, k) in [(1, 16), (72, 48), (200, 272), (130, 1040)] {
        let w = Weights::random(n, k, (n * k) as u64);
        for m in [1, 2, 7, 16, 33, 64, 65, 128, 1000] {
            let x = Rng::new(m as u64).vec_bf16(m * k, 1.0);
            check(&reg, &w, &x, m, GemmMode::W4A16, ActivationScale::Dynamic);
            check(&reg, &w, &x, m, GemmMode::W4A4, ActivationScale::Dynamic);
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn large_m_and_deepseek_k() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let w = Weights::random(72, 272, 5);
    let x = Rng::new(6).vec_bf16(4096 * 272, 1.0);
    check(
        &reg,
        &w,
        &x,
        4096,
        GemmMode::W4A16,
        ActivationScale::Dynamic,
    );
    check(&reg, &w, &x, 4096, GemmMode::W4A4, ActivationScale::Dynamic);
    let w = Weights::random(256, 7168, 7);
    let x = Rng::new(8).vec_bf16(16 * 7168, 1.0);
    check(&reg, &w, &x, 16, GemmMode::W4A16, ActivationScale::Dynamic);
    check(&reg, &w, &x, 16, GemmMode::W4A4, ActivationScale::Dynamic);
}

/// Many tiles with short K put 2 or 4 weight tiles in each CTA of the small-M kernels (on a GPU
/// of about 132 SMs, as the H100: N = 4232 with 17 chunks, 265 tiles, gives 2; N = 8456 with 4
/// chunks, 529 tiles, 4), for each kernel (M = 1: m1; 3 and 4: m4, one token of its ring
/// zero-filled at 3; 13: m16; 24: m24). N is ragged (not a multiple of 16) and so is the tile
/// count: the last CTA has tiles past N, which store nothing.
#[test]
#[ignore = "needs a CUDA GPU"]
fn several_tiles_per_cta_for_short_k() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    for (n, k) in [(4232, 1040), (8456, 256)] {
        let w = Weights::random(n, k, (n + k) as u64);
        for m in [1, 3, 4, 13, 24] {
            let x = Rng::new(m as u64 + 3).vec_bf16(m * k, 1.0);
            check(&reg, &w, &x, m, GemmMode::W4A16, ActivationScale::Dynamic);
            check(&reg, &w, &x, m, GemmMode::W4A4, ActivationScale::Dynamic);
        }
    }
}

/// The 16-token ring kernels (`m16r2`, two tiles per warp, and `m16r1`; one CTA per SM, chosen
/// for K of at least 64 chunks and a grid of 80-100% of the SMs): shapes built from the device's
/// SM count so that each one's choice is known, with K = 4112 (a partial last chunk) and ragged
/// N (an odd tile count leaves `m16r2`'s last warp a tile past N), at 9, 13 and 16 tokens (the
/// ring zero-fills tokens past M).
#[test]
#[ignore = "needs a CUDA GPU"]
fn ring_kernels_for_sixteen_tokens() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let sms = dev.sm_count().unwrap() as usize;
    let k = 4112;
    for (n, kernel) in [
        (16 * (2 * sms - 1) - 5, "nvfp4_gemm_m16r2_t1"),
        (16 * (4 * sms - 1) - 5, "nvfp4_gemm_m16r2_t2"),
        (16 * sms - 5, "nvfp4_gemm_m16r1_t1"),
    ] {
        let w = Weights::random(n, k, n as u64);
        if dev.arch().major() >= 9 {
            let layer = Linear::new(
                &reg,
                &w.linear(),
                GemmMode::W4A16,
                ActivationScale::Dynamic,
                16,
            )
            .unwrap();
            assert_eq!(layer.kernel_name(16), kernel, "N = {n}");
        }
        for m in [9, 13, 16] {
            let x = Rng::new(m as u64 + 11).vec_bf16(m * k, 1.0);
            check(&reg, &w, &x, m, GemmMode::W4A16, ActivationScale::Dynamic);
        }
        let x = Rng::new(99).vec_bf16(13 * k, 1.0);
        check(&reg, &w, &x, 13, GemmMode::W4A4, ActivationScale::Dynamic);
    }
}

/// The portable path (`LargeM::Portable`: the mma.sync kernels at every M, as on a GPU without
/// wgmma) at the sizes the wgmma kernel takes on sm_90a: `m24` in blocks of 24 tokens, the last
/// one partial (M = 25, 33, 65, 1000), on ragged N and K, with 2 tiles per CTA for N = 4232
/// (short K), in both modes.
#[test]
#[ignore = "needs a CUDA GPU"]
fn portable_path_at_large_m() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    for (n, k, ms) in [
        (72, 48, &[25, 33, 64, 65, 128, 1000][..]),
        (200, 272, &[25, 65, 1000][..]),
        (4232, 1040, &[33, 128][..]),
    ] {
        let w = Weights::random(n, k, (n * k + 1) as u64);
        let layer = Linear::with_large_m(
            &reg,
            &w.linear(),
            GemmMode::W4A16,
            ActivationScale::Dynamic,
            1000,
            LargeM::Portable,
        )
        .unwrap();
        assert!(
            layer.kernel_name(1000).starts_with("nvfp4_gemm_m24_t"),
            "{}",
            layer.kernel_name(1000)
        );
        for &m in ms {
            let x = Rng::new(m as u64 + 40).vec_bf16(m * k, 1.0);
            for mode in [GemmMode::W4A16, GemmMode::W4A4] {
                check_with(
                    &reg,
                    &w,
                    &x,
                    m,
                    mode,
                    ActivationScale::Dynamic,
                    LargeM::Portable,
                );
            }
        }
    }
}

/// Every width of the wgmma kernel (sm_90a: 64, 128 or 256 tokens per work item, the narrowest
/// that holds M) at its edges, M = 25 to 257, on weight blocks of 128 rows with a partial last
/// one and K split into parts (N = 600, K = 2064: 5 blocks, 8 parts of 4 or 5 chunks; N = 4232,
/// K = 1040: 34 blocks, 3 parts), in both modes; one layer of max M 300 then gives the same bits
/// at each M as the layer made for that M alone (the rows between M and max M that its copies
/// also read do not reach the output).
#[test]
#[ignore = "needs a CUDA GPU"]
fn every_wgmma_width() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let s = dev.stream();
    let wgmma = dev.arch() == nvfp4_cuda::Arch::SM90A;
    for (n, k) in [(600, 2064), (4232, 1040)] {
        let w = Weights::random(n, k, (n + k) as u64);
        for mode in [GemmMode::W4A16, GemmMode::W4A4] {
            let mut shared =
                Linear::new(&reg, &w.linear(), mode, ActivationScale::Dynamic, 300).unwrap();
            for (m, width) in [
                (25, 64),
                (64, 64),
                (65, 128),
                (128, 128),
                (129, 256),
                (257, 256),
            ] {
                if wgmma {
                    assert_eq!(shared.kernel_name(m), format!("nvfp4_gemm_wgmma_n{width}"));
                }
                let x = Rng::new((m * 7 + n) as u64).vec_bf16(m * k, 1.0);
                let want = check(&reg, &w, &x, m, mode, ActivationScale::Dynamic);
                let xd = s.clone_htod(&x).unwrap();
                let mut out = s.alloc_zeros::<bf16>(m * n).unwrap();
                shared.forward(&xd, m, &mut out).unwrap();
                let got = s.clone_dtoh(&out).unwrap();
                assert_eq!(bits(&got), bits(&want), "{mode:?} {n}x{k} M={m}");
            }
        }
    }
}

/// Long rows (K = 16400, the last chunk partial) at decode sizes (16 warps of 16 or 17 chunks) and
/// at sizes where the wgmma kernel splits K into parts (summed in a fixed order), with repeated
/// calls on one layer giving the same bits as a fresh one.
#[test]
#[ignore = "needs a CUDA GPU"]
fn long_rows_and_repeated_calls() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let (n, k) = (40, 16384 + 16);
    let w = Weights::random(n, k, 21);
    for (m, seed) in [(1, 22), (7, 23), (16, 24), (64, 25), (300, 26)] {
        let x = Rng::new(seed).vec_bf16(m * k, 1.0);
        for mode in [GemmMode::W4A16, GemmMode::W4A4] {
            let want = check(&reg, &w, &x, m, mode, ActivationScale::Dynamic);
            // One layer, three calls.
            let s = dev.stream();
            let mut layer =
                Linear::new(&reg, &w.linear(), mode, ActivationScale::Dynamic, m).unwrap();
            let xd = s.clone_htod(&x).unwrap();
            let mut out = s.alloc_zeros::<bf16>(m * n).unwrap();
            for call in 0..3 {
                layer.forward(&xd, m, &mut out).unwrap();
                let got = s.clone_dtoh(&out).unwrap();
                assert_eq!(bits(&got), bits(&want), "{mode:?} M={m} call {call}");
            }
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn static_scale_and_prequantized_input() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let s = dev.stream();
    let (m, n, k) = (33, 72, 272);
    let w = Weights::random(n, k, 9);
    let x = Rng::new(10).vec_bf16(m * k, 1.0);
    // A calibrated scale from a smaller amax: large inputs saturate, as SPEC 3 says.
    let input_scale = amax(&x) / 2688.0 * 0.5;
    let eager = check(
        &reg,
        &w,
        &x,
        m,
        GemmMode::W4A4,
        ActivationScale::Static(input_scale),
    );
    // The same input quantized on the CPU and passed in: the same bits.
    let gs = gs_from_dec(input_scale).unwrap();
    let (mut c, mut sc) = (
        vec![0; m * k / 2],
        vec![0; ScaleLayout::Swizzled.len(m, k / BLOCK).unwrap()],
    );
    quantize(&x, m, k, gs, ScaleLayout::Swizzled, &mut c, &mut sc).unwrap();
    let mut layer = Linear::new(
        &reg,
        &w.linear(),
        GemmMode::W4A4,
        ActivationScale::Static(input_scale),
        m,
    )
    .unwrap();
    let (cd, scd, dec) = (
        s.clone_htod(&c).unwrap(),
        s.clone_htod(&sc).unwrap(),
        s.clone_htod(&[input_scale]).unwrap(),
    );
    let mut out = s.alloc_zeros::<bf16>(m * n).unwrap();
    layer
        .forward_quantized(&cd, &scd, &dec, m, &mut out)
        .unwrap();
    assert_eq!(s.clone_dtoh(&out).unwrap(), eager);
}

/// W4A4 at M = 1 quantizes the row inside the GEMM kernel (`nvfp4_gemm_m1q`) where each SM's
/// share of that is small: within the bound of the simulator, and the bits of the
/// quantizer-then-GEMM path, which M = 2 takes (both rows the same, so the dynamic amax is too),
/// with the same status: on a random row, a row with a NaN (its block's scale is NaN: NaN
/// output), a row with an all-zero block, an all-zero row (amax 0: gs = 1, zero output) and a row
/// with an Inf (a dynamic amax of Inf is a bad scale: NaN output and the status bit). Ragged N,
/// 1, 2 and 4 tiles per CTA (N from the SM count: one CTA per SM, reserving 120 KB; 2 CTAs on
/// some SMs, with their own shared memory; a last CTA whose second unit is past N), K up to
/// 8192; K = 16400 keeps the quantizer launch (`m1`).
#[test]
#[ignore = "needs a CUDA GPU"]
fn w4a4_at_one_row_quantizes_in_the_gemm() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let s = dev.stream();
    let sms = dev.sm_count().unwrap() as usize;
    for (n, k, fused) in [
        (130, 48, "nvfp4_gemm_m1q_t1"),
        (16 * sms - 8, 1040, "nvfp4_gemm_m1q_t1"),
        (32 * sms - 8, 1040, "nvfp4_gemm_m1q_t2"),
        (64 * sms - 8, 1040, "nvfp4_gemm_m1q_t4"),
        (16 * sms - 5, 4112, "nvfp4_gemm_m1q_t1"),
        (16 * (sms + 20), 2048, "nvfp4_gemm_m1q_t1"),
        (16 * (2 * sms - 1) - 3, 1040, "nvfp4_gemm_m1q_t2"),
        (600, 8192, "nvfp4_gemm_m1q_t1"),
        (600, 16400, "nvfp4_gemm_m1_t1"),
    ] {
        let w = Weights::random(n, k, (n + k) as u64);
        let mut rows = vec![Rng::new(n as u64).vec_bf16(k, 1.0); 5];
        rows[1][k / 2 + 3] = bf16::NAN;
        rows[2][16..32].fill(bf16::ZERO);
        rows[3].fill(bf16::ZERO);
        rows[4][k - 1] = bf16::INFINITY;
        let input_scale = amax(&rows[0]) / 2688.0;
        for act in [
            ActivationScale::Dynamic,
            ActivationScale::Static(input_scale),
        ] {
            for (i, x) in rows.iter().enumerate() {
                let what = format!("{n}x{k} {act:?} row {i}");
                let layer =
                    |max_m| Linear::new(&reg, &w.linear(), GemmMode::W4A4, act, max_m).unwrap();
                let (mut one, mut two) = (layer(1), layer(2));
                assert_eq!(one.kernel_name(1), fused, "{what}");
                let x1 = s.clone_htod(x).unwrap();
                let x2 = s
                    .clone_htod(&[x.as_slice(), x.as_slice()].concat())
                    .unwrap();
                let (mut y1, mut y2) = (
                    s.alloc_zeros::<bf16>(n).unwrap(),
                    s.alloc_zeros::<bf16>(2 * n).unwrap(),
                );
                one.forward(&x1, 1, &mut y1).unwrap();
                two.forward(&x2, 2, &mut y2).unwrap();
                let (y1, y2) = (s.clone_dtoh(&y1).unwrap(), s.clone_dtoh(&y2).unwrap());
                assert_eq!(bits(&y1), bits(&y2[..n]), "{what}: the quantizer's path");
                let status = |l: &Linear| l.status().unwrap().read(s).unwrap();
                assert_eq!(status(&one), status(&two), "{what}: status");
                let bad_scale = i == 4 && matches!(act, ActivationScale::Dynamic);
                assert_eq!(
                    status(&one) != 0,
                    bad_scale,
                    "{what}: a bad scale only for amax Inf"
                );
                if bad_scale || i == 1 {
                    assert!(y1.iter().all(|v| v.is_nan()), "{what}: NaN output");
                } else {
                    check(&reg, &w, x, 1, GemmMode::W4A4, act);
                }
            }
        }
    }
}

/// The cluster decode kernel (`nvfp4_gemm_m4_c2`: two CTAs of 32 warps per cluster, each tile's
/// K split over warps that may lie in both CTAs), on shapes built from the SM count so that whole
/// tiles per CTA would leave some SMs 4 tiles and others 3 or fewer: K = 9232 (145 chunks, a
/// partial last one) with ragged N, 7 tiles per cluster (a tile's 9 warps in both CTAs for
/// some), and K = 16400 (257 chunks), 6 tiles per cluster, the last cluster's past N. M = 2 to 4
/// (m4 zero-fills the ring's tokens past M), and M = 1 on the same shapes (the direct `m1`, not a
/// cluster kernel), both modes, zero, subnormal and NaN scales, and the same bits on a second
/// call and on graph replay.
#[test]
#[ignore = "needs a CUDA GPU"]
fn cluster_decode_kernels() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let s = dev.stream();
    let sms = dev.sm_count().unwrap() as usize;
    let hopper = dev.arch().major() >= 9;
    for (n, k) in [
        (16 * (3 * sms + 40) - 3, 9232),
        (16 * (2 * sms + 70) - 5, 16400),
    ] {
        let mut w = Weights::random(n, k, (n ^ k) as u64);
        let ks = k / BLOCK;
        // Rows every 37 tiles: a zero block, a subnormal scale, and one NaN scale (row 16 * 37 + 5).
        for r in (0..n).step_by(16 * 37) {
            w.scales[r * ks + 1] = 0x00;
            w.scales[(r + 1).min(n - 1) * ks + ks - 1] = 0x03;
        }
        let nan_row = 16 * 37 + 5;
        w.scales[nan_row * ks + ks / 2] = 0x7F;
        for m in 1..=4 {
            let x = Rng::new((m * k) as u64).vec_bf16(m * k, 1.0);
            for mode in [GemmMode::W4A16, GemmMode::W4A4] {
                let layer =
                    Linear::new(&reg, &w.linear(), mode, ActivationScale::Dynamic, m).unwrap();
                let name = layer.kernel_name(m);
                if m == 1 {
                    assert!(
                        name.starts_with("nvfp4_gemm_m1"),
                        "{n}x{k} {mode:?}: {name}"
                    );
                } else if hopper {
                    assert_eq!(name, "nvfp4_gemm_m4_c2", "{n}x{k} M={m} {mode:?}");
                }
                let got = check(&reg, &w, &x, m, mode, ActivationScale::Dynamic);
                for t in 0..m {
                    assert!(
                        got[t * n + nan_row].is_nan(),
                        "{n}x{k} M={m} {mode:?}: the NaN row"
                    );
                }
            }
        }
        for m in [1, 4] {
            let mut layer = Linear::new(
                &reg,
                &w.linear(),
                GemmMode::W4A16,
                ActivationScale::Dynamic,
                m,
            )
            .unwrap();
            assert_repeatable(&mut layer, s, m, (21, 22), 2, &format!("{n}x{k} M={m}"));
        }
    }
}

/// The direct kernels (weights loaded 4 chunks ahead into registers): `nvfp4_gemm_m1_t*` (the
/// row in shared memory) and `nvfp4_gemm_m8_t*` (5 to 8 tokens, each lane's activations from
/// global memory a chunk ahead), on slices of K of 0, 1, 3, 4, 6, 7, 11 and 12 chunks per warp
/// (16 warps on a tile: K of 1, 54, 105 and 180 chunks; all but 105 end in a partial chunk),
/// either side of the 4 and 8 chunks where the loop's rounds begin, with ragged N, M = 1, 5 and 8
/// (the mma's columns past M zero), both modes (W4A4 at M = 1 quantizing in the GEMM,
/// `m1q`, up to K = 6720), zero, subnormal and NaN scales, a NaN input, which makes its token's
/// whole row NaN and no other, and an infinite input in the columns that the last, partial chunk
/// lacks, one chunk before it, in the first and the last token: that token's outputs are infinite
/// where its weight is not zero (the columns past K read as zero, not as the previous chunk's
/// infinity times a zero weight, NaN).
#[test]
#[ignore = "needs a CUDA GPU"]
fn direct_kernels_on_slices_of_every_length() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    for k in [48, 64 * 53 + 16, 64 * 105, 64 * 179 + 32] {
        for n in [40, 600] {
            let mut w = Weights::random(n, k, (n + 3 * k) as u64);
            let ks = k / BLOCK;
            w.scales[ks - 1] = 0x00; // row 0: a zero block
            w.scales[2 * ks] = 0x02; // row 2: a subnormal scale
            w.scales[5 * ks + ks / 2] = 0x7F; // row 5: a NaN scale
            for m in [1, 5, 8] {
                let mut x = Rng::new((k + m) as u64).vec_bf16(m * k, 1.0);
                for mode in [GemmMode::W4A16, GemmMode::W4A4] {
                    let layer =
                        Linear::new(&reg, &w.linear(), mode, ActivationScale::Dynamic, m).unwrap();
                    let name = layer.kernel_name(m);
                    let expected = match (m, mode) {
                        (1, GemmMode::W4A4) if k <= 6720 => "nvfp4_gemm_m1q_t",
                        (1, _) => "nvfp4_gemm_m1_t",
                        _ => "nvfp4_gemm_m8_t",
                    };
                    assert!(name.starts_with(expected), "{n}x{k} M={m} {mode:?}: {name}");
                    let got = check(&reg, &w, &x, m, mode, ActivationScale::Dynamic);
                    for t in 0..m {
                        assert!(
                            got[t * n + 5].is_nan() && !got[t * n + 4].is_nan(),
                            "{n}x{k} M={m} {mode:?} token {t}"
                        );
                    }
                }
                // A NaN in the last token's last column.
                x[m * k - 1] = bf16::NAN;
                let got = check(&reg, &w, &x, m, GemmMode::W4A16, ActivationScale::Dynamic);
                assert!(
                    got[(m - 1) * n..].iter().all(|v| v.is_nan()),
                    "{n}x{k} M={m}: a NaN input"
                );
                for (i, v) in got[..(m - 1) * n].iter().enumerate() {
                    assert_eq!(v.is_nan(), i % n == 5, "{n}x{k} M={m}: output {i}");
                }
                // An infinity in columns 48..63 (which the last, partial chunk lacks) of the
                // chunk before the last, in the first token and in the last.
                let tokens: &[usize] = if m == 1 { &[0] } else { &[0, m - 1] };
                for &token in tokens.iter().filter(|_| k % 64 != 0 && k > 64) {
                    let mut x = Rng::new((k + m) as u64).vec_bf16(m * k, 1.0);
                    x[token * k + (k / 64 - 1) * 64 + 48] = bf16::INFINITY;
                    let got = check(&reg, &w, &x, m, GemmMode::W4A16, ActivationScale::Dynamic);
                    let row = &got[token * n..(token + 1) * n];
                    assert!(
                        row.iter().filter(|v| v.is_infinite()).count() > n / 2,
                        "{n}x{k} M={m}: an infinite input in token {token}"
                    );
                }
            }
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn zero_subnormal_and_nan_scales_and_nan_inputs() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let (m, n, k) = (9, 40, 96);
    let mut w = Weights::random(n, k, 11);
    let ks = k / BLOCK;
    for r in 0..n {
        match r % 5 {
            0 => w.scales[r * ks] = 0x00,                     // a zero block
            1 => w.scales[r * ks + 1] = 0x01 + (r % 7) as u8, // a subnormal scale
            2 if r == 7 => w.scales[r * ks + 2] = 0x7F,       // a NaN scale: column 7 is NaN
            _ => {}
        }
    }
    let mut x = Rng::new(12).vec_bf16(m * k, 1.0);
    x[3 * k + 5] = bf16::NAN; // row 3 is NaN (W4A16); its block's scale is NaN (W4A4)
    for mode in [GemmMode::W4A16, GemmMode::W4A4] {
        let got = check(&reg, &w, &x, m, mode, ActivationScale::Dynamic);
        assert!(
            got[7].is_nan() && got[3 * n].is_nan(),
            "{mode:?}: NaN column and row"
        );
        assert!(!got[0].is_nan(), "{mode:?}: other elements stay finite");
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn same_bits_run_to_run_and_graph_replay() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let s = dev.stream();
    let (n, k) = (256, 2048);
    let w = Weights::random(n, k, 13);
    // M = 3: the m4 kernel (mma.sync); M = 64: the wgmma kernel where there is one.
    for (m, mode) in [3, 64]
        .into_iter()
        .flat_map(|m| [(m, GemmMode::W4A16), (m, GemmMode::W4A4)])
    {
        let mut layer = Linear::new(&reg, &w.linear(), mode, ActivationScale::Dynamic, m).unwrap();
        assert_repeatable(&mut layer, s, m, (14, 15), 1, &format!("{mode:?} M={m}"));
    }
}

/// Two layers in a row, the second reading the first's output, as a decode step runs them: the
/// small-M launches may overlap the previous launch on the stream (programmatic dependent launch,
/// used where the grid gives every SM a CTA: 132 CTAs of 2 tiles here, on an H100), so the second
/// must wait for the first's output. A captured graph of the pair, replayed on new input, gives
/// the bits of the eager pair, and each layer's output is checked against the simulator.
#[test]
#[ignore = "needs a CUDA GPU"]
fn chained_layers_overlapping_launches() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let s = dev.stream();
    let (k1, n) = (1024, 4224);
    let (w1, w2) = (Weights::random(n, k1, 31), Weights::random(n, n, 32));
    for m in [1, 4, 16] {
        let mode = GemmMode::W4A16;
        let act = ActivationScale::Dynamic;
        let mut l1 = Linear::new(&reg, &w1.linear(), mode, act, m).unwrap();
        let mut l2 = Linear::new(&reg, &w2.linear(), mode, act, m).unwrap();
        let mut x = s
            .clone_htod(&Rng::new(33 + m as u64).vec_bf16(m * k1, 1.0))
            .unwrap();
        let (mut y, mut z) = (
            s.alloc_zeros::<bf16>(m * n).unwrap(),
            s.alloc_zeros::<bf16>(m * n).unwrap(),
        );
        s.begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .unwrap();
        l1.forward(&x, m, &mut y).unwrap();
        l2.forward(&y, m, &mut z).unwrap();
        let graph = s
            .end_capture(CUgraphInstantiate_flags(0))
            .unwrap()
            .expect("a graph");
        for round in 0..2 {
            let xs = Rng::new(40 + round + 10 * m as u64).vec_bf16(m * k1, 1.0);
            s.memcpy_htod(&xs, &mut x).unwrap();
            graph.launch().unwrap();
            let (gy, gz) = (s.clone_dtoh(&y).unwrap(), s.clone_dtoh(&z).unwrap());
            // Each output against the simulator (the second on the first's GPU output).
            let want_y = check(&reg, &w1, &xs, m, mode, act);
            let want_z = check(&reg, &w2, &gy, m, mode, act);
            assert_eq!(bits(&gy), bits(&want_y), "M={m} round {round}: first layer");
            assert_eq!(
                bits(&gz),
                bits(&want_z),
                "M={m} round {round}: second layer"
            );
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn errors_before_launch() {
    let dev = gpu();
    let reg = KernelRegistry::new(&dev);
    let s = dev.stream();
    let w = Weights::random(32, 64, 1);
    let new = |lw: LinearWeights<'_>, mode, act, max_m| Linear::new(&reg, &lw, mode, act, max_m);
    let dynamic = ActivationScale::Dynamic;
    assert!(
        new(
            LinearWeights {
                k: 48,
                ..w.linear()
            },
            GemmMode::W4A16,
            dynamic,
            4
        )
        .is_err(),
        "buffers sized for another K"
    );
    assert!(
        new(
            LinearWeights {
                dec: f32::NAN,
                ..w.linear()
            },
            GemmMode::W4A16,
            dynamic,
            4
        )
        .is_err(),
        "NaN dec"
    );
    assert!(
        new(w.linear(), GemmMode::W4A4, ActivationScale::Static(-1.0), 4).is_err(),
        "negative input scale"
    );
    let too_many_blocks = new(w.linear(), GemmMode::W4A16, dynamic, 2_000_000);
    assert!(
        too_many_blocks.is_err(),
        "more token blocks than a grid holds"
    );
    let mut layer = Linear::new(
        &reg,
        &w.linear(),
        GemmMode::W4A16,
        ActivationScale::Dynamic,
        4,
    )
    .unwrap();
    let x = s.alloc_zeros::<bf16>(5 * 64).unwrap();
    let mut out = s.alloc_zeros::<bf16>(5 * 32).unwrap();
    assert!(
        layer.forward(&x, 5, &mut out).is_err(),
        "more rows than max_m"
    );
    assert!(layer.forward(&x, 0, &mut out).is_err(), "zero rows");
    let mut short = s.alloc_zeros::<bf16>(10).unwrap();
    assert!(layer.forward(&x, 4, &mut short).is_err(), "short output");
    let (codes, dec) = (
        s.alloc_zeros::<u8>(32).unwrap(),
        s.clone_htod(&[1.0f32]).unwrap(),
    );
    assert!(
        layer
            .forward_quantized(&codes, &codes, &dec, 1, &mut out)
            .is_err(),
        "W4A16 layer"
    );
}
