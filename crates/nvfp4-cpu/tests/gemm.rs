//! The GEMM of SPEC section 5: the bound holds for f32 sums in any order, NaN and zero scales
//! behave, and the exact value matches an independent f64 computation.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use nvfp4_core::block::BLOCK;
use nvfp4_core::layout::ScaleLayout;
use nvfp4_core::tensor::QuantizedRef;
use nvfp4_core::{bf16, e4m3};
use nvfp4_cpu::gemm::{Activations, ColumnAlpha, Exact, gemm, within_bound};
use nvfp4_cpu::quantize::quantize;
use nvfp4_cpu::synth::Rng;
use proptest::prelude::*;

struct Quantized {
    codes: Vec<u8>,
    scales: Vec<u8>,
    rows: usize,
    k: usize,
    layout: ScaleLayout,
}

impl Quantized {
    fn new(x: &[f32], rows: usize, k: usize, gs: f32, layout: ScaleLayout) -> Self {
        let mut codes = vec![0; rows * k / 2];
        let mut scales = vec![0; layout.len(rows, k / BLOCK).unwrap()];
        quantize(x, rows, k, gs, layout, &mut codes, &mut scales).unwrap();
        Quantized {
            codes,
            scales,
            rows,
            k,
            layout,
        }
    }
    fn view(&self) -> QuantizedRef<'_> {
        QuantizedRef::new(&self.codes, &self.scales, self.layout, self.rows, self.k).unwrap()
    }
}

/// A kernel of our own imagination: the same exact terms summed in f32 in a shuffled order.
fn shuffled_sum(terms: &mut [f32], rng: &mut Rng) -> f32 {
    for i in (1..terms.len()).rev() {
        terms.swap(i, rng.below(i + 1));
    }
    terms.iter().fold(0f32, |s, &t| s + t)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn bound_holds_for_random_order_f32_sums(seed in any::<u64>(), m in 1usize..4, n in 1usize..5, kb in 1usize..40, mag in -8i32..8, w4a16 in any::<bool>()) {
        let mut rng = Rng::new(seed | 1);
        let k = kb * BLOCK;
        let s = 2f32.powi(mag);
        let xa = rng.vec(m * k, s);
        let xw = rng.vec(n * k, 1.0);
        let qa = Quantized::new(&xa, m, k, 2688.0 / (4.0 * s), ScaleLayout::Swizzled);
        let qw = Quantized::new(&xw, n, k, 2688.0 / 4.0, ScaleLayout::Linear);
        let abf: Vec<bf16> = xa.iter().map(|&v| bf16::from_f32(v)).collect();
        let (w, a) = (qw.view(), qa.view());
        let alpha = 0.37f32 * s;
        let act = if w4a16 { Activations::Bf16 { data: &abf, rows: m } } else { Activations::Nvfp4(a) };
        let mut d = vec![bf16::ZERO; m * n];
        let mut ex = vec![Exact::default(); m * n];
        gemm(&act, &w, ColumnAlpha::uniform(alpha), &mut d, Some(&mut ex)).unwrap();
        for mm in 0..m {
            for nn in 0..n {
                let e = &ex[mm * n + nn];
                // The simulator's own k-order sum passes.
                prop_assert!(within_bound(d[mm * n + nn], e), "sim d = {} z = {} bound = {}", d[mm * n + nn], e.z, e.bound);
                // So do sums in random orders.
                let mut terms: Vec<f32> = (0..k).map(|kk| {
                    let av = if w4a16 { abf[mm * k + kk].to_f32() } else { a.value(mm, kk) };
                    av * w.value(nn, kk)
                }).collect();
                for _ in 0..4 {
                    let dk = bf16::from_f32(alpha * shuffled_sum(&mut terms, &mut rng));
                    prop_assert!(within_bound(dk, e), "d = {} z = {} bound = {}", dk, e.z, e.bound);
                }
                // And the exact value matches an independent f64 dot product to f64 rounding.
                let f64_dot: f64 = terms.iter().map(|&t| t as f64).sum::<f64>() * alpha as f64;
                prop_assert!((f64_dot - e.z).abs() <= 1e-12 * e.bound.max(f64::MIN_POSITIVE) + 1e-9 * e.z.abs());
            }
        }
    }
}

#[test]
fn nan_scale_propagates_and_zero_scale_gives_zero() {
    let k = 32;
    let w_codes = vec![0x77u8; 2 * k / 2];
    // Row 0: first block NaN scale; row 1: zero scales.
    let w_scales = vec![e4m3::NAN, 0x38, 0x00, 0x00];
    let w = QuantizedRef::new(&w_codes, &w_scales, ScaleLayout::Linear, 2, k).unwrap();
    let a: Vec<bf16> = vec![bf16::ONE; k];
    let mut d = vec![bf16::ZERO; 2];
    let mut ex = vec![Exact::default(); 2];
    {
        let act = Activations::Bf16 { data: &a, rows: 1 };
        gemm(&act, &w, ColumnAlpha::uniform(1.0), &mut d, Some(&mut ex)).unwrap();
        assert!(d[0].is_nan() && ex[0].z.is_nan());
        assert_eq!(d[1].to_f32(), 0.0);
        assert_eq!(ex[1].z, 0.0);
        assert!(within_bound(d[0], &ex[0]) && within_bound(d[1], &ex[1]));
        // A non-NaN output for a NaN exact value fails the check.
        assert!(!within_bound(bf16::ONE, &ex[0]));
    }
    // W4A4 with a NaN activation block.
    let qa_codes = vec![0x22u8; k / 2];
    let mut qa_scales = vec![0u8; 128 * 4];
    qa_scales[ScaleLayout::Swizzled.offset(0, 1, 2)] = e4m3::NAN;
    qa_scales[ScaleLayout::Swizzled.offset(0, 0, 2)] = 0x38;
    let qa = QuantizedRef::new(&qa_codes, &qa_scales, ScaleLayout::Swizzled, 1, k).unwrap();
    let w_ok =
        QuantizedRef::new(&w_codes[..k / 2], &[0x38, 0x38], ScaleLayout::Linear, 1, k).unwrap();
    gemm(
        &Activations::Nvfp4(qa),
        &w_ok,
        ColumnAlpha::uniform(1.0),
        &mut d[..1],
        Some(&mut ex[..1]),
    )
    .unwrap();
    assert!(d[0].is_nan() && ex[0].z.is_nan());
}

#[test]
fn exact_value_of_a_hand_computed_product() {
    // A = one row of 16 codes 0x3 (1.5) with scale 2^-9 (0x01); W = codes 0x7 (6) with scale 448.
    // Each term: (1.5 * 2^-9) * (6 * 448) = 7.875; S = 16 * 7.875 = 126; alpha 0.5 -> z = 63.
    let mut a_scales = vec![0u8; 512];
    a_scales[0] = 0x01;
    let a = QuantizedRef::new(&[0x33; 8], &a_scales, ScaleLayout::Swizzled, 1, 16).unwrap();
    let w = QuantizedRef::new(&[0x77; 8], &[0x7E], ScaleLayout::Linear, 1, 16).unwrap();
    let mut d = [bf16::ZERO];
    let mut ex = [Exact::default()];
    gemm(
        &Activations::Nvfp4(a),
        &w,
        ColumnAlpha::uniform(0.5),
        &mut d,
        Some(&mut ex),
    )
    .unwrap();
    assert_eq!(ex[0].z, 63.0);
    assert_eq!(d[0].to_f32(), 63.0);
    // T = 126 as well; bound = 16 * 2^-23 * 0.5 * 126 + ulp_bf16(63 + that) = 1.2e-4 + 0.25.
    assert!((ex[0].bound - (16.0 * 2f64.powi(-23) * 63.0 + 0.25)).abs() < 1e-12);
    // A result one bf16 step off (63.5 - 63 = 0.5 > bound) fails.
    assert!(!within_bound(bf16::from_f32(63.5), &ex[0]));
}

#[test]
fn column_alpha_splits_columns() {
    let k = 16;
    let w = QuantizedRef::new(&[0x22; 16], &[0x38, 0x38], ScaleLayout::Linear, 2, k).unwrap();
    let a = vec![bf16::ONE; k];
    let mut d = vec![bf16::ZERO; 2];
    gemm(
        &Activations::Bf16 { data: &a, rows: 1 },
        &w,
        ColumnAlpha {
            split: 1,
            lo: 2.0,
            hi: 3.0,
        },
        &mut d,
        None,
    )
    .unwrap();
    assert_eq!([d[0].to_f32(), d[1].to_f32()], [32.0, 48.0]);
}

#[test]
fn shape_errors() {
    let w = QuantizedRef::new(&[0; 8], &[0], ScaleLayout::Linear, 1, 16).unwrap();
    let a = vec![bf16::ONE; 15];
    let mut d = vec![bf16::ZERO; 1];
    assert!(
        gemm(
            &Activations::Bf16 { data: &a, rows: 1 },
            &w,
            ColumnAlpha::uniform(1.0),
            &mut d,
            None
        )
        .is_err()
    );
    let a = vec![bf16::ONE; 16];
    let mut d2 = vec![bf16::ZERO; 2];
    assert!(
        gemm(
            &Activations::Bf16 { data: &a, rows: 1 },
            &w,
            ColumnAlpha::uniform(1.0),
            &mut d2,
            None
        )
        .is_err()
    );
    assert!(QuantizedRef::new(&[0; 8], &[0], ScaleLayout::Linear, 1, 24).is_err());
}

#[test]
fn w4a16_overflowing_products_and_sums() {
    // |a| * 6 * 448 overflows binary32: the term is Inf (SPEC 5's product is a binary32 one), so
    // z is Inf and the simulator's Inf output passes.
    let k = 16;
    let w = QuantizedRef::new(&[0x77; 8], &[0x7E], ScaleLayout::Linear, 1, k).unwrap();
    let mut a = vec![bf16::ZERO; k];
    a[0] = bf16::MAX;
    let (mut d, mut ex) = (vec![bf16::ZERO; 1], vec![Exact::default(); 1]);
    gemm(
        &Activations::Bf16 { data: &a, rows: 1 },
        &w,
        ColumnAlpha::uniform(1e-10),
        &mut d,
        Some(&mut ex),
    )
    .unwrap();
    assert!(ex[0].z.is_infinite() && d[0].to_f32().is_infinite());
    assert!(within_bound(d[0], &ex[0]));
    // Finite terms whose binary32 partial sums can overflow: +big, +big, -big... S is finite,
    // but an Inf from some summation order is accepted (Exact::f32_overflow).
    let big = bf16::from_f32(1e35);
    let mut a = vec![bf16::ZERO; k];
    a[0] = big;
    a[1] = big;
    a[2] = -big;
    let (mut d, mut ex) = (vec![bf16::ZERO; 1], vec![Exact::default(); 1]);
    gemm(
        &Activations::Bf16 { data: &a, rows: 1 },
        &w,
        ColumnAlpha::uniform(1e-30),
        &mut d,
        Some(&mut ex),
    )
    .unwrap();
    assert!(ex[0].z.is_finite() && ex[0].f32_overflow);
    assert!(within_bound(bf16::INFINITY, &ex[0]));
    assert!(!within_bound(bf16::NAN, &ex[0]));
}
