//! The simulated MoE layer end to end (SPEC section 6): accuracy against an unquantized f64
//! reference, and bit-for-bit equality with the composition of the individual ops.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;

use common::Rng;
use nvfp4_core::activation::silu;
use nvfp4_core::bf16;
use nvfp4_core::block::BLOCK;
use nvfp4_core::global_scale::{amax_f32, dec_from_gs, gs_from_amax, gs_from_dec};
use nvfp4_core::layout::ScaleLayout;
use nvfp4_core::plan::{GemmMode, MoeShape};
use nvfp4_core::tensor::QuantizedRef;
use nvfp4_cpu::combine::combine;
use nvfp4_cpu::experts::QuantizedExperts;
use nvfp4_cpu::gemm::{Activations, ColumnAlpha, gemm};
use nvfp4_cpu::moe::{ActScale, MoeConfig, MoeSimulator, MoeWeights};
use nvfp4_cpu::quantize::{amax, quantize};
use nvfp4_cpu::route::Routing;
use nvfp4_cpu::swiglu::swiglu;

/// A random layer: f32 weights, their quantized form, and inputs.
struct Case {
    shape: MoeShape,
    limit: Option<f32>,
    w13: Vec<f32>,
    w2: Vec<f32>,
    q13: QuantizedExperts,
    q2: QuantizedExperts,
    x: Vec<bf16>,
    ids: Vec<i32>,
    weights: Vec<f32>,
    shared: Option<Vec<bf16>>,
    tokens: usize,
}

impl Case {
    fn new(
        seed: u64,
        mode: GemmMode,
        (t, h, i, e, k): (usize, usize, usize, usize, usize),
        ids: impl Fn(&mut Rng, usize, usize) -> i32,
    ) -> Self {
        let mut rng = Rng(seed);
        let w13 = rng.vec(e * 2 * i * h, 1.0 / (h as f32).sqrt());
        // Make the up half of one expert larger so that gate and up decode scales differ.
        let mut w13 = w13;
        for v in &mut w13[i * h..2 * i * h] {
            *v *= 3.0;
        }
        let w2 = rng.vec(e * h * i, 1.0 / (i as f32).sqrt());
        let x = rng.vec_bf16(t * h, 1.0);
        let mut idv = vec![0i32; t * k];
        for tt in 0..t {
            for j in 0..k {
                idv[tt * k + j] = ids(&mut rng, tt, j);
            }
        }
        let weights = (0..t * k)
            .map(|_| 0.5 + 0.5 * rng.uniform().abs())
            .collect();
        Case {
            shape: MoeShape::new(t, h, i, e, k, mode).unwrap(),
            limit: None,
            q13: QuantizedExperts::from_f32(&w13, e, 2 * i, h, 2).unwrap(),
            q2: QuantizedExperts::from_f32(&w2, e, h, i, 1).unwrap(),
            w13,
            w2,
            x,
            ids: idv,
            weights,
            shared: None,
            tokens: t,
        }
    }

    fn run(&self, l1: ActScale<'_>, l2: ActScale<'_>) -> (Vec<bf16>, MoeSimulator) {
        let mut sim = MoeSimulator::new(MoeConfig {
            swiglu_limit: self.limit,
            ..MoeConfig::new(self.shape)
        })
        .unwrap();
        let (gate, up, d2) = (
            self.q13.part_dec(0),
            self.q13.part_dec(1),
            self.q2.part_dec(0),
        );
        let w = MoeWeights {
            w13: self.q13.weights().unwrap(),
            w13_dec_gate: &gate,
            w13_dec_up: &up,
            w2: self.q2.weights().unwrap(),
            w2_dec: &d2,
            l1_input: l1,
            l2_input: l2,
        };
        let mut out = vec![bf16::ZERO; self.tokens * self.shape.hidden];
        sim.forward(
            &w,
            &self.x,
            self.tokens,
            &self.ids,
            &self.weights,
            self.shared.as_deref(),
            &mut out,
        )
        .unwrap();
        (out, sim)
    }

    /// The unquantized layer in f64.
    fn reference(&self) -> Vec<f64> {
        let (h, i, k) = (self.shape.hidden, self.shape.intermediate, self.shape.top_k);
        let mut out = vec![0f64; self.tokens * h];
        for t in 0..self.tokens {
            let x = &self.x[t * h..(t + 1) * h];
            for j in 0..k {
                let Ok(e) = usize::try_from(self.ids[t * k + j]) else {
                    continue;
                };
                let w13 = &self.w13[e * 2 * i * h..(e + 1) * 2 * i * h];
                let dot = |row: &[f32]| {
                    row.iter()
                        .zip(x)
                        .map(|(&w, &v)| w as f64 * v.to_f64())
                        .sum::<f64>()
                };
                let a: Vec<f64> = (0..i)
                    .map(|r| {
                        let g = dot(&w13[r * h..(r + 1) * h]);
                        let u = dot(&w13[(i + r) * h..(i + r + 1) * h]);
                        g / (1.0 + (-g).exp()) * u
                    })
                    .collect();
                let w2 = &self.w2[e * h * i..(e + 1) * h * i];
                for c in 0..h {
                    let y: f64 = w2[c * i..(c + 1) * i]
                        .iter()
                        .zip(&a)
                        .map(|(&w, &v)| w as f64 * v)
                        .sum();
                    out[t * h + c] += self.weights[t * k + j] as f64 * y;
                }
            }
            if let Some(s) = &self.shared {
                for c in 0..h {
                    out[t * h + c] += s[t * h + c].to_f64();
                }
            }
        }
        out
    }

    /// The layer written out as a composition of the public ops, without the grouped buffers or
    /// the fused activation: route, per expert gather + quantize + GEMM, SwiGLU then quantize,
    /// GEMM, combine.
    fn composed(&self, static_l1: Option<&[f32]>, static_l2: Option<&[f32]>) -> Vec<bf16> {
        let s = self.shape;
        let (h, i, k) = (s.hidden, s.intermediate, s.top_k);
        let mut routing = Routing::new(s.max_tokens, k, s.experts).unwrap();
        routing
            .route(&self.ids, self.tokens, s.experts, 0..s.experts)
            .unwrap();
        let off = routing.offsets().to_vec();
        let mut y = vec![bf16::ZERO; routing.rows() * h];
        let (gate, up, d2) = (
            self.q13.part_dec(0),
            self.q13.part_dec(1),
            self.q2.part_dec(0),
        );
        for e in 0..s.experts {
            let rows = off[e + 1] - off[e];
            if rows == 0 {
                continue;
            }
            let xe: Vec<bf16> = (off[e]..off[e + 1])
                .flat_map(|r| {
                    let t = routing.row_slots()[r] as usize / k;
                    self.x[t * h..(t + 1) * h].to_vec()
                })
                .collect();
            let w13 = self.q13.weights().unwrap().expert(e).unwrap();
            let w2 = self.q2.weights().unwrap().expert(e).unwrap();
            let mut he = vec![bf16::ZERO; rows * 2 * i];
            let mut ae = vec![bf16::ZERO; rows * i];
            let ye = &mut y[off[e] * h..off[e + 1] * h];
            match s.mode {
                GemmMode::W4A4 => {
                    let gs1 = match static_l1 {
                        Some(d) => gs_from_dec(d[e]).unwrap(),
                        None => gs_from_amax(amax(&xe)).unwrap(),
                    };
                    let (mut c, mut sc) = (
                        vec![0u8; rows * h / 2],
                        vec![0u8; ScaleLayout::Swizzled.len(rows, h / BLOCK).unwrap()],
                    );
                    quantize(&xe, rows, h, gs1, ScaleLayout::Swizzled, &mut c, &mut sc).unwrap();
                    let a = QuantizedRef::new(&c, &sc, ScaleLayout::Swizzled, rows, h).unwrap();
                    let dec_a = 1.0 / gs1;
                    let alpha = ColumnAlpha {
                        split: i,
                        lo: dec_a * gate[e],
                        hi: dec_a * up[e],
                    };
                    gemm(&Activations::Nvfp4(a), &w13, alpha, &mut he, None).unwrap();
                    swiglu(&he, rows, i, self.limit, &mut ae).unwrap();
                    let gs2 = match static_l2 {
                        Some(d) => gs_from_dec(d[e]).unwrap(),
                        None => gs_from_amax(amax(&ae)).unwrap(),
                    };
                    let (mut c, mut sc) = (
                        vec![0u8; rows * i / 2],
                        vec![0u8; ScaleLayout::Swizzled.len(rows, i / BLOCK).unwrap()],
                    );
                    quantize(&ae, rows, i, gs2, ScaleLayout::Swizzled, &mut c, &mut sc).unwrap();
                    let a = QuantizedRef::new(&c, &sc, ScaleLayout::Swizzled, rows, i).unwrap();
                    gemm(
                        &Activations::Nvfp4(a),
                        &w2,
                        ColumnAlpha::uniform((1.0 / gs2) * d2[e]),
                        ye,
                        None,
                    )
                    .unwrap();
                }
                GemmMode::W4A16 => {
                    let alpha = ColumnAlpha {
                        split: i,
                        lo: gate[e],
                        hi: up[e],
                    };
                    gemm(
                        &Activations::Bf16 { data: &xe, rows },
                        &w13,
                        alpha,
                        &mut he,
                        None,
                    )
                    .unwrap();
                    swiglu(&he, rows, i, self.limit, &mut ae).unwrap();
                    gemm(
                        &Activations::Bf16 { data: &ae, rows },
                        &w2,
                        ColumnAlpha::uniform(d2[e]),
                        ye,
                        None,
                    )
                    .unwrap();
                }
            }
        }
        let mut out = vec![bf16::ZERO; self.tokens * h];
        combine(
            &y,
            &routing,
            &self.weights,
            self.shared.as_deref(),
            h,
            &mut out,
        )
        .unwrap();
        out
    }
}

fn accuracy(got: &[bf16], want: &[f64]) -> (f64, f64) {
    let (mut dot, mut gg, mut ww, mut diff) = (0f64, 0f64, 0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        let g = g.to_f64();
        dot += g * w;
        gg += g * g;
        ww += w * w;
        diff += (g - w) * (g - w);
    }
    (dot / (gg.sqrt() * ww.sqrt()), (diff / ww).sqrt())
}

fn assert_bits_equal(got: &[bf16], want: &[bf16]) {
    assert_eq!(got.len(), want.len());
    if let Some(i) = got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits())
    {
        panic!(
            "first mismatch at {i}: {:#06x} vs {:#06x}",
            got[i].to_bits(),
            want[i].to_bits()
        );
    }
}

const SMALL: (usize, usize, usize, usize, usize) = (37, 256, 128, 8, 2);

fn distinct_random(rng: &mut Rng, _t: usize, j: usize) -> i32 {
    // Slot j picks from its own half of the experts, so a token's two ids differ.
    (j * 4 + rng.below(4)) as i32
}

#[test]
fn w4a4_against_f64_and_composition() {
    let case = Case::new(7, GemmMode::W4A4, SMALL, distinct_random);
    let (out, _) = case.run(ActScale::Dynamic, ActScale::Dynamic);
    let (cos, rel) = accuracy(&out, &case.reference());
    println!("W4A4 dynamic: cosine {cos:.5}, relative error {rel:.4}");
    // Four NVFP4 roundings (x, w13, activation, w2) at about 10% RMS each compound to about 23%;
    // a wrong scale, layout or routing gives a cosine far below these floors.
    assert!(cos > 0.96, "cosine {cos}");
    assert!(rel < 0.3, "relative error {rel}");
    assert_bits_equal(&out, &case.composed(None, None));
}

#[test]
fn w4a4_static_scales_and_shared_expert() {
    let mut case = Case::new(8, GemmMode::W4A4, SMALL, distinct_random);
    case.shared = Some(Rng(99).vec_bf16(case.tokens * case.shape.hidden, 0.5));
    // Calibrate: L1 from the amax of x, L2 from a dynamic run's scales.
    let l1 = vec![dec_from_gs(gs_from_amax(amax(&case.x)).unwrap()).unwrap(); 8];
    let (_, sim) = case.run(ActScale::Dynamic, ActScale::Dynamic);
    let l2: Vec<f32> = sim
        .input_scales()
        .1
        .iter()
        .map(|&g| if g > 0.0 { 1.0 / g } else { 1.0 })
        .collect();
    let (out, _) = case.run(ActScale::Static(&l1), ActScale::Static(&l2));
    let (cos, rel) = accuracy(&out, &case.reference());
    println!("W4A4 static + shared: cosine {cos:.5}, relative error {rel:.4}");
    assert!(cos > 0.96, "cosine {cos}");
    assert_bits_equal(&out, &case.composed(Some(&l1), Some(&l2)));
}

#[test]
fn w4a16_against_f64_and_composition() {
    let case = Case::new(9, GemmMode::W4A16, SMALL, distinct_random);
    let (out, _) = case.run(ActScale::Dynamic, ActScale::Dynamic);
    let (cos, rel) = accuracy(&out, &case.reference());
    println!("W4A16: cosine {cos:.5}, relative error {rel:.4}");
    // Only the two weight roundings remain.
    assert!(cos > 0.98, "cosine {cos}");
    assert!(rel < 0.2, "relative error {rel}");
    assert_bits_equal(&out, &case.composed(None, None));
}

#[test]
fn clamped_swiglu_empty_experts_and_skipped_slots() {
    // Only experts 2 and 5 fire, slot 1 of every third token is -1: six experts stay empty.
    let pick = |rng: &mut Rng, t: usize, j: usize| {
        if j == 1 && t.is_multiple_of(3) {
            -1
        } else {
            [2, 5][(j + rng.below(2)) % 2]
        }
    };
    let mut case = Case::new(10, GemmMode::W4A4, SMALL, pick);
    case.limit = Some(0.25);
    let (out, sim) = case.run(ActScale::Dynamic, ActScale::Dynamic);
    let counts: Vec<usize> = sim
        .routing()
        .offsets()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    assert_eq!(counts.iter().filter(|&&c| c == 0).count(), 6);
    assert_bits_equal(&out, &case.composed(None, None));
}

#[test]
fn all_tokens_on_one_expert() {
    for mode in [GemmMode::W4A4, GemmMode::W4A16] {
        let case = Case::new(11, mode, (129, 64, 32, 4, 1), |_, _, _| 3);
        let (out, sim) = case.run(ActScale::Dynamic, ActScale::Dynamic);
        assert_eq!(sim.routing().offsets(), &[0, 0, 0, 0, 129]);
        assert_bits_equal(&out, &case.composed(None, None));
        let (cos, _) = accuracy(&out, &case.reference());
        assert!(cos > 0.96, "{mode:?} cosine {cos}");
    }
}

#[test]
fn bad_ids_and_too_many_tokens_are_errors() {
    let case = Case::new(12, GemmMode::W4A4, (4, 32, 16, 4, 2), |_, t, j| {
        if t == 2 && j == 1 { 4 } else { j as i32 }
    });
    let mut sim = MoeSimulator::new(MoeConfig::new(case.shape)).unwrap();
    let (gate, up, d2) = (
        case.q13.part_dec(0),
        case.q13.part_dec(1),
        case.q2.part_dec(0),
    );
    let w = MoeWeights {
        w13: case.q13.weights().unwrap(),
        w13_dec_gate: &gate,
        w13_dec_up: &up,
        w2: case.q2.weights().unwrap(),
        w2_dec: &d2,
        l1_input: ActScale::Dynamic,
        l2_input: ActScale::Dynamic,
    };
    let mut out = vec![bf16::ZERO; 4 * 32];
    let err = sim
        .forward(&w, &case.x, 4, &case.ids, &case.weights, None, &mut out)
        .unwrap_err();
    assert_eq!(
        err,
        nvfp4_core::Error::BadExpertId {
            token: 2,
            slot: 1,
            id: 4
        }
    );
    let x5 = vec![bf16::ZERO; 5 * 32];
    assert!(
        sim.forward(
            &w,
            &x5,
            5,
            &[0; 10],
            &[1.0; 10],
            None,
            &mut vec![bf16::ZERO; 5 * 32]
        )
        .is_err()
    );
    let bad_dec = vec![f32::NAN; 4];
    let w_bad = MoeWeights {
        w2_dec: &bad_dec,
        ..w
    };
    assert!(
        sim.forward(&w_bad, &case.x, 4, &[0; 8], &case.weights, None, &mut out)
            .is_err()
    );
    let _ = (silu(0.0), amax_f32([0.0]));
}
